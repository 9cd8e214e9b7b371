/*
 * cmd_demo.c: repnet demo: the whole pipeline on real data, live. This
 * file is the command and its repnetd; the traffic is in demo_replay.c and
 * what is printed in demo_show.c (demo.h).
 *
 * Design notes: the demo starts repnetd (the binary beside this one) on
 * its built-in defaults with lab overrides (the data's addresses are
 * loopback and documentation ranges, which a deployment never lists,
 * ticks are short so that a few seconds show something, and no sync
 * role), subscribes to its feed like any member would (verifying every
 * message), and replays the real Postfix and Exim logs to its syslog
 * listener and the real softflowd NetFlow v9 export to its flow listener,
 * with timestamps moved to now and the original pacing divided by
 * --speed. It prints listings as the feed announces them, a real dig
 * answer, the feed's sequence and digest, and a summary read from the
 * daemon's own metrics. SIGINT and SIGTERM are blocked in every thread
 * and taken only by demo_nap(), so either stops the replay and the daemon
 * cleanly; the daemon dies with the demo however it ends
 * (PR_SET_PDEATHSIG). Each run starts from an empty data directory
 * (DATA_DIR/demo): replaying the same traffic into yesterday's state would
 * count every sender twice. --resume keeps it and replays nothing: the
 * daemon comes back on the state the last run left, and the feed, dig and
 * summary show it. The lab settings are written to
 * DATA_DIR/demo/repnet-demo.conf, which the daemon reads and the printed
 * commands name, so that what they print agrees with the daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "demo.h"
#include "util.h"

bool demo_nap(struct demo *d, int64_t ms)
{
	if (d->stop)
		return false;
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
	int sig = sigtimedwait(&d->sigs, NULL, &ts);
	if (sig == SIGINT || sig == SIGTERM) {
		printf("\n%s: stopping the demo and repnetd\n",
		       sig == SIGINT ? "SIGINT" : "SIGTERM");
		d->stop = true;
		return false;
	}
	return true;
}

/* ---- the daemon ------------------------------------------------------ */

static int sibling(const char *name, char *out, size_t len)
{
	int rc = rn_path_beside_self(name, out, len);
	if (rc != RN_OK)
		return rc;
	return access(out, X_OK) == 0 ? RN_OK : -errno;
}

static int unlink_fn(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

/* Empties the demo's own data directory: every run starts from nothing. */
static int demo_dir_reset(const char *dir)
{
	if (access(dir, F_OK) != 0)
		return errno == ENOENT ? RN_OK : -errno;
	if (nftw(dir, unlink_fn, 16, FTW_DEPTH | FTW_PHYS) != 0)
		return -errno;
	return RN_OK;
}

/* repnetd: beside this program (a build tree), else in the installed sbin. */
static int find_repnetd(char *out, size_t len)
{
	int rc = sibling("repnetd", out, len);
	if (rc != RN_OK && rn_path_installed(RN_INSTDIR_SBIN, "repnetd", out, len) == RN_OK)
		rc = RN_OK;
	return rc;
}

/* The demo data: installed (<datadir>/repnet/demo), else the source tree's. */
static const char *demo_data(char *buf, size_t len)
{
	if (rn_path_installed(RN_INSTDIR_DATA, "repnet/demo", buf, len) == RN_OK)
		return buf;
	return REPNET_DEMO_DATA;
}

void cmd_demo_help(FILE *f)
{
	char data[PATH_MAX], bin[PATH_MAX];
	fprintf(f, "\nDemo data (--data): %s\n", demo_data(data, sizeof(data)));
	if (find_repnetd(bin, sizeof(bin)) == RN_OK)
		fprintf(f, "repnetd: %s\n", bin);
	else
		fprintf(f,
		        "repnetd: not found beside repnet nor in the installed sbin directory\n");
}

/*
 * The lab settings, as a configuration file in the demo's data directory:
 * the daemon reads it (when the user names no -c file of their own), and
 * the printed `repnet explain -c` reads the same, so both score alike.
 */
static const char *const demo_lab[] = {"scoring.default_never_block=false",
                                       "scoring.tick=2s",
                                       "scoring.lateness=1s",
                                       "feeds.bus.heartbeat=1s",
                                       "core.roles=collect,score,publish,serve",
                                       "collector.journal.mode=off"};

static int demo_conf_write(const char *path, const char *ddir)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -errno;
	fprintf(f,
	        "# Written by repnet demo: its repnetd's lab settings (the data's addresses\n"
	        "# are documentation ranges, which a deployment never lists; short ticks).\n"
	        "core: { data_dir = \"%s\"; roles = [\"collect\", \"score\", \"publish\", "
	        "\"serve\"]; };\n"
	        "scoring: { default_never_block = false; tick = \"2s\"; lateness = \"1s\"; };\n"
	        "feeds: { bus: { heartbeat = \"1s\"; }; };\n"
	        "# It replays its own logs: the host's journal stays out.\n"
	        "collector: { journal: { mode = \"off\"; }; };\n",
	        ddir);
	return fclose(f) == 0 ? RN_OK : -errno;
}

static int start_daemon(struct demo *d, const char *conf, const char **ov, size_t nov,
                        const char *datadir_ov, const char *logpath)
{
	char bin[PATH_MAX];
	int rc = find_repnetd(bin, sizeof(bin));
	if (rc != RN_OK) {
		fprintf(stderr, "repnet demo: no repnetd beside this program nor installed: %s\n",
		        rn_strerror(rc));
		return rc;
	}
	const char *args[64];
	size_t n = 0;
	args[n++] = bin;
	args[n++] = "-f";
	if (conf != NULL) {
		args[n++] = "-c";
		args[n++] = conf;
	}
	/*
	 * The lab settings (in the demo's file, or as overrides after the
	 * user's own file), then the user's overrides. The demo leaves the
	 * host's firewall alone: no sync role unless the user's own -o
	 * core.roles asks for it.
	 */
	if (conf == NULL) {
		args[n++] = "-c";
		args[n++] = d->conf;
	} else {
		for (size_t i = 0; i < RN_ARRAY_LEN(demo_lab); i++) {
			args[n++] = "-o";
			args[n++] = demo_lab[i];
		}
	}
	for (size_t i = 0; i < nov && n < RN_ARRAY_LEN(args) - 5; i++) {
		args[n++] = "-o";
		args[n++] = ov[i];
	}
	args[n++] = "-o";
	args[n++] = datadir_ov;
	args[n] = NULL;
	int lfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (lfd < 0) {
		fprintf(stderr, "repnet demo: %s: %s\n", logpath, strerror(errno));
		return -errno;
	}
	fflush(stdout);
	d->pid = fork();
	if (d->pid < 0) {
		close(lfd);
		return -errno;
	}
	if (d->pid == 0) {
		/* The daemon must not outlive the demo, however the demo ends. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		sigset_t none;
		sigemptyset(&none);
		pthread_sigmask(SIG_SETMASK, &none, NULL);
		dup2(lfd, STDOUT_FILENO);
		dup2(lfd, STDERR_FILENO);
		execv(bin, (char *const *)args);
		_exit(127);
	}
	close(lfd);
	/* Ready when /status answers (bounded: 30 s). */
	for (int i = 0; i < 300; i++) {
		char *body = NULL;
		int st = 0;
		if (cli_http_get(d->http, "/status", 1000, 1 << 20, &body, &st) == RN_OK &&
		    st == 200) {
			free(body);
			return RN_OK;
		}
		free(body);
		int status;
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			fprintf(stderr, "repnet demo: repnetd exited at start; its log, %s:\n",
			        logpath);
			char cmd[PATH_MAX + 32];
			snprintf(cmd, sizeof(cmd), "tail -n 15 '%s' >&2", logpath);
			if (system(cmd) != 0) {
			}
			d->pid = 0;
			return RN_ESTATE;
		}
		if (!demo_nap(d, 100))
			return RN_ESTATE;
	}
	fprintf(stderr, "repnet demo: repnetd did not answer on %s\n", d->http);
	return -ETIMEDOUT;
}

static int stop_daemon(struct demo *d)
{
	if (d->pid <= 0)
		return 0;
	kill(d->pid, SIGTERM);
	int status = 0;
	for (int i = 0; i < 600; i++) {
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		struct timespec ts = {.tv_nsec = 100000000};
		nanosleep(&ts, NULL);
	}
	kill(d->pid, SIGKILL);
	waitpid(d->pid, &status, 0);
	d->pid = 0;
	return 137;
}

int cmd_demo(int argc, char **argv)
{
	static const struct option lopts[] = {
	        {"speed", required_argument, NULL, 's'},  {"data", required_argument, NULL, 'd'},
	        {"config", required_argument, NULL, 'c'}, {"keep-running", no_argument, NULL, 'k'},
	        {"resume", no_argument, NULL, 'r'},       {NULL, 0, NULL, 0}};
	char data[PATH_MAX];
	struct demo d = {.speed = 20,
	                 .data = demo_data(data, sizeof(data)),
	                 .mu = PTHREAD_MUTEX_INITIALIZER};
	struct conf_args ca;
	bool keep = false, resume = false;
	int ch, code = 1, rc;
	if (conf_args_init(&ca, argc) != RN_OK)
		return 1;
	while ((ch = conf_args_getopt(&ca, argc, argv, "c:o:", lopts)) != -1) {
		switch (ch) {
		case 's':
			d.speed = strtod(optarg, NULL);
			break;
		case 'd':
			d.data = optarg;
			break;
		case 'k':
			keep = true;
			break;
		case 'r':
			resume = true;
			break;
		default:
			conf_args_free(&ca);
			return 2;
		}
	}
	if (optind != argc || d.speed < 0) {
		conf_args_free(&ca);
		return 2;
	}
	if (conf_args_load(&ca, "repnet demo", &d.c) != RN_OK) {
		conf_args_free(&ca);
		return 1;
	}
	d.tty = isatty(STDOUT_FILENO);
	snprintf(d.http, sizeof(d.http), "%s", d.c.core.http_listen ? d.c.core.http_listen : "");
	sigemptyset(&d.sigs);
	sigaddset(&d.sigs, SIGINT);
	sigaddset(&d.sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &d.sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	/*
	 * The demo's daemon keeps its state in DATA_DIR/demo, emptied at each
	 * run (unless --resume): replaying the same traffic into yesterday's
	 * state would count every sender twice.
	 */
	char ddir[PATH_MAX - 64], ddir_ov[PATH_MAX];
	snprintf(ddir, sizeof(ddir), "%s/demo", d.c.core.data_dir);
	snprintf(ddir_ov, sizeof(ddir_ov), "core.data_dir=%s", ddir);
	char logpath[PATH_MAX], plog[PATH_MAX], elog[PATH_MAX], pcap[PATH_MAX], pub[PATH_MAX];
	snprintf(logpath, sizeof(logpath), "%s/repnetd-demo.log", d.c.core.data_dir);
	snprintf(plog, sizeof(plog), "%s/mail/postfix-maillog_file.log", d.data);
	snprintf(elog, sizeof(elog), "%s/mail/exim-mainlog.log", d.data);
	snprintf(pcap, sizeof(pcap), "%s/netflow/export-softflowd-v9.pcap", d.data);
	snprintf(pub, sizeof(pub), "%s/keys/publisher.pub", ddir);
	struct demo_log pf = {0}, ef = {0};
	if ((rc = demo_log_read(plog, &pf)) != RN_OK || (rc = demo_log_read(elog, &ef)) != RN_OK) {
		fprintf(stderr, "repnet demo: demo data in %s: %s (use --data DIR)\n", d.data,
		        rn_strerror(rc));
		goto out;
	}
	d.lines_total = pf.n + ef.n;
	d.flows_total = demo_flows_count(pcap);
	if (resume && access(pub, R_OK) != 0) {
		fprintf(stderr,
		        "repnet demo: --resume: no earlier demo in %s (%s: %s); run repnet demo "
		        "first\n",
		        ddir, pub, strerror(errno));
		goto out;
	}
	snprintf(d.conf, sizeof(d.conf), "%s/repnet-demo.conf", ddir);
	d.user_conf = ca.path;
	if ((rc = rn_mkdirs(d.c.core.data_dir, 0750)) != RN_OK ||
	    (!resume && (rc = demo_dir_reset(ddir)) != RN_OK) ||
	    (rc = rn_mkdirs(ddir, 0750)) != RN_OK ||
	    (rc = demo_conf_write(d.conf, ddir)) != RN_OK) {
		fprintf(stderr, "repnet demo: %s: %s\n", ddir, rn_strerror(rc));
		goto out;
	}

	if (resume)
		printf("repnet demo --resume: repnetd on the state the last demo left in %s;\n"
		       "  nothing is replayed (the same traffic again would count every sender "
		       "twice)\n",
		       ddir);
	else
		printf("repnet demo: the whole pipeline, live, on real data from %s\n", d.data);
	printf("  repnetd runs on its built-in defaults (loopback listeners, data in %s),\n"
	       "  with the lab's test ranges allowed to be listed (%s); its log: %s\n\n",
	       ddir, d.user_conf != NULL ? d.user_conf : d.conf, logpath);
	if (start_daemon(&d, ca.path, ca.ov, ca.nov, ddir_ov, logpath) != RN_OK)
		goto out;

	/* Subscribe to its feed as a member would: verified, with its public key. */
	uint8_t *key = NULL;
	size_t klen = 0;
	if ((rc = rn_file_read(pub, 256, &key, &klen)) != RN_OK) {
		fprintf(stderr, "repnet demo: %s: %s\n", pub, rn_strerror(rc));
		goto out;
	}
	char *keys = strndup((char *)key, klen);
	free(key);
	char pname[64];
	snprintf(pname, sizeof(pname), "%s",
	         d.c.feeds.bus.publisher ? d.c.feeds.bus.publisher : d.c.core.instance);
	rc = feeds_keyring_alloc(&d.ring);
	if (rc == RN_OK)
		rc = feeds_keyring_add(d.ring, pname, keys, false);
	free(keys);
	struct feeds_sub_opts so = {.keyring = d.ring,
	                            .ephemeral = true,
	                            .data_dir = d.c.core.data_dir,
	                            .on_change = demo_on_change,
	                            .on_message = demo_on_message,
	                            .arg = &d};
	so.limits.max_listings = (uint64_t)d.c.feeds.bus.max_listings;
	char rurl[600];
	snprintf(rurl, sizeof(rurl), "%s", d.c.feeds.bus.resync_listen);
	if (rc == RN_OK)
		rc = feeds_sub_start(&d.sub, &d.c.feeds.bus, pname, d.c.feeds.bus.pub_listen, rurl,
		                     &so);
	if (rc != RN_OK) {
		fprintf(stderr, "repnet demo: subscribing to the feed: %s\n", rn_strerror(rc));
		goto out;
	}
	printf("subscribed to feed \"%s\" at %s; listings appear as the feed announces them:\n",
	       pname, d.c.feeds.bus.pub_listen);

	struct demo_log *logs[] = {&pf, &ef};
	if (resume) {
		/* The feed's first message brings the state back (bounded: 20 s). */
		for (int i = 0; i < 200 && !d.stop && demo_seq(&d) == 0; i++)
			if (!demo_nap(&d, 100))
				break;
	} else {
		if (demo_replay_logs(&d, d.c.collector.smtp.syslog_tcp, logs, RN_ARRAY_LEN(logs)) !=
		    RN_OK)
			goto out;
		if (!d.stop && d.flows_total > 0 && d.c.collector.flow.netflow_listen != NULL)
			demo_replay_flows(&d, pcap, d.c.collector.flow.netflow_listen);
		demo_progress(&d);

		/* Let the scorer tick on what arrived (two ticks of 2 s, bounded). */
		for (int i = 0; i < 80 && !d.stop; i++) {
			if (!demo_nap(&d, 100))
				break;
			if (i % (d.tty ? 10 : 40) == 0)
				demo_progress(&d);
		}
	}
	demo_show_more(&d);
	printf("\n");
	if (!d.stop) {
		demo_show_end(&d, pname, ddir, pub);
	}
	if (keep && !d.stop) {
		printf("\nrepnetd keeps running (--keep-running); Ctrl-C stops it.\n");
		/* Into a pipe or a file too, now: the reader should not wait for the end. */
		fflush(stdout);
		while (demo_nap(&d, 1000)) {
		}
	}
	code = 0;
out:
	feeds_sub_stop(d.sub);
	feeds_keyring_free(d.ring);
	if (d.pid > 0) {
		int st = stop_daemon(&d);
		printf("\nrepnetd stopped (exit status %d)\n", st);
		if (st != 0)
			code = 1;
	}
	demo_log_free(&pf);
	demo_log_free(&ef);
	daemon_conf_release(&d.c);
	conf_args_free(&ca);
	return code;
}
