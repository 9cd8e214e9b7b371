/*
 * cmd_demo.c: repnet demo: the whole pipeline on real data, live.
 *
 * Design notes: the demo starts repnetd (the binary beside this one) on
 * its built-in defaults with three lab overrides (the data's addresses are
 * loopback and documentation ranges, which a deployment never lists, and
 * ticks are short so that a few seconds show something), subscribes to
 * its feed like any member would (verifying every message), and replays
 * the real Postfix and Exim logs to its syslog listener and the real
 * softflowd NetFlow v9 export to its flow listener, with timestamps moved
 * to now and the original pacing divided by --speed. It prints listings
 * as the feed announces them, a real dig answer, the feed's sequence and
 * digest, and a summary read from the daemon's own metrics. SIGINT or
 * SIGTERM stops the replay and the daemon cleanly; the data directory
 * persists, so the next run continues from the saved state.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmds.h"
#include "util.h"

extern char **environ;

#define SHOW_MAX 40

struct demo {
	struct daemon_conf c;
	char http[64];
	double speed;
	const char *data;
	pid_t pid;
	sigset_t sigs;
	bool stop;
	/* what the feed said */
	pthread_mutex_t mu;
	uint64_t shown, listed_events, seq;
	uint8_t digest[32];
	struct rn_addr sample;
	bool have_sample;
	struct feeds_sub *sub;
	struct feeds_keyring *ring;
	/* progress */
	bool tty;
	uint64_t lines_sent, lines_total, flows_sent, flows_total;
};

/* Sleeps up to ms, waking for SIGINT or SIGTERM. */
static bool nap(struct demo *d, int64_t ms)
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

static void on_change(void *arg, struct feeds_sub *s, const struct scoring_table *old_t,
                      const struct scoring_table *new_t, const struct scoring_delta *dl)
{
	struct demo *d = arg;
	(void)s;
	(void)old_t;
	pthread_mutex_lock(&d->mu);
	struct scoring_iter it;
	struct scoring_entry e;
	/* Print what this change listed that the old state did not. */
	scoring_iter_init(&it, new_t);
	while (scoring_iter_next(&it, &e)) {
		struct scoring_entry x;
		if (old_t != NULL && scoring_table_find(old_t, &e.prefix, &x) && x.cats == e.cats)
			continue;
		d->listed_events++;
		if (!d->have_sample && e.prefix.addr.family == RN_AF_INET && e.prefix.len == 32) {
			d->sample = e.prefix.addr;
			d->have_sample = true;
		}
		if (d->shown++ >= SHOW_MAX)
			continue;
		char p[RN_PREFIX_STRLEN], cats[160] = "";
		size_t o = 0;
		rn_prefix_format(&e.prefix, p, sizeof(p));
		for (unsigned c = 1; c < RN_CAT_COUNT; c++)
			if (e.cats & (1u << c))
				o += (size_t)snprintf(cats + o, sizeof(cats) - o, "%s%s",
				                      o ? "," : "", rn_category_name(c));
		printf("%s  listed  %-20s %s\n", d->tty ? "\r\033[K" : "", p, cats);
	}
	(void)dl;
	pthread_mutex_unlock(&d->mu);
	fflush(stdout);
}

static void on_message(void *arg, struct feeds_sub *s, const struct feeds_msg_info *m)
{
	struct demo *d = arg;
	(void)s;
	if (m->result != RN_OK)
		return;
	pthread_mutex_lock(&d->mu);
	d->seq = m->seq;
	memcpy(d->digest, m->digest, 32);
	pthread_mutex_unlock(&d->mu);
}

static void progress(struct demo *d)
{
	pthread_mutex_lock(&d->mu);
	printf("%s[replay] %llu/%llu log lines, %llu/%llu flow datagrams, %llu listed, "
	       "feed seq %llu%s",
	       d->tty ? "\r\033[K" : "", (unsigned long long)d->lines_sent,
	       (unsigned long long)d->lines_total, (unsigned long long)d->flows_sent,
	       (unsigned long long)d->flows_total, (unsigned long long)d->listed_events,
	       (unsigned long long)d->seq, d->tty ? "" : "\n");
	pthread_mutex_unlock(&d->mu);
	fflush(stdout);
}

/* ---- the daemon ------------------------------------------------------ */

static int sibling(const char *name, char *out, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return -errno;
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	if (slash == NULL)
		return RN_ENOTFOUND;
	*slash = '\0';
	if ((size_t)snprintf(out, len, "%.*s/%s", (int)(len - strlen(name) - 2), self, name) >= len)
		return -ENAMETOOLONG;
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
	/* The lab overrides, then the user's own. */
	/*
	 * The demo leaves the host's firewall alone: no sync role unless the
	 * user's own -o core.roles asks for it.
	 */
	static const char *const lab[] = {"scoring.default_never_block=false", "scoring.tick=2s",
	                                  "scoring.lateness=1s", "feeds.bus.heartbeat=1s",
	                                  "core.roles=collect,score,publish,serve"};
	for (size_t i = 0; i < RN_ARRAY_LEN(lab); i++) {
		args[n++] = "-o";
		args[n++] = lab[i];
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
		if (!nap(d, 100))
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

/* ---- replay ------------------------------------------------------------ */

struct line {
	char *app;
	char *procid;
	char *msg;
	int64_t t; /* seconds into the log, for pacing */
};

/* "Nov 29 02:25:30 mx postfix/smtpd[4547]: msg" or "2026-11-29 02:31:40 msg" (Exim). */
static bool split_line(char *s, struct line *l)
{
	unsigned h, m, sec;
	char *p;
	if (strlen(s) > 20 && s[4] == '-' && s[7] == '-' && s[10] == ' ') {
		if (sscanf(s + 11, "%u:%u:%u", &h, &m, &sec) != 3)
			return false;
		l->t = (int64_t)h * 3600 + m * 60 + sec;
		l->app = "exim";
		l->procid = "-";
		l->msg = s + 20;
		return true;
	}
	if (strlen(s) < 17 || sscanf(s + 7, "%u:%u:%u", &h, &m, &sec) != 3)
		return false;
	l->t = (int64_t)h * 3600 + m * 60 + sec;
	p = strchr(s + 16, ' '); /* after the host */
	if (p == NULL)
		return false;
	char *tag = p + 1;
	char *colon = strstr(tag, ": ");
	if (colon == NULL)
		return false;
	*colon = '\0';
	l->msg = colon + 2;
	char *br = strchr(tag, '[');
	if (br != NULL) {
		*br = '\0';
		l->procid = br + 1;
		char *e = strchr(l->procid, ']');
		if (e != NULL)
			*e = '\0';
	} else {
		l->procid = "-";
	}
	l->app = tag;
	return true;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return RN_OK;
}

static int syslog_connect(const char *hostport)
{
	struct sockaddr_storage ss;
	unsigned sl;
	if (rn_hostport_parse(hostport, &ss, &sl) != RN_OK)
		return -EINVAL;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, sl) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

struct log_file {
	char **lines;
	size_t n;
};

static int read_lines(const char *path, struct log_file *f)
{
	uint8_t *buf;
	size_t len;
	int rc = rn_file_read(path, 64u << 20, &buf, &len);
	if (rc != RN_OK)
		return rc;
	char *s = (char *)buf;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '\n')
			f->n++;
	f->lines = calloc(f->n + 1, sizeof(*f->lines));
	size_t k = 0;
	char *save = NULL;
	for (char *t = strtok_r(s, "\n", &save); t != NULL && k < f->n;
	     t = strtok_r(NULL, "\n", &save))
		f->lines[k++] = strdup(t);
	f->n = k;
	free(buf);
	return RN_OK;
}

static void free_lines(struct log_file *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->lines[i]);
	free(f->lines);
}

/* Sends the log over TCP, RFC 5424 with octet counting, stamped now. */
static int replay_log(struct demo *d, int fd, struct log_file *f)
{
	int64_t t0 = -1;
	int64_t start = rn_time_mono_ms();
	char frame[8192], ts[RN_TIME_STRLEN];
	for (size_t i = 0; i < f->n && !d->stop; i++) {
		char *copy = strdup(f->lines[i]);
		struct line l;
		if (copy == NULL || !split_line(copy, &l)) {
			free(copy);
			continue;
		}
		if (t0 < 0)
			t0 = l.t;
		if (d->speed > 0) {
			int64_t due = start + (int64_t)((double)(l.t - t0) * 1000.0 / d->speed);
			int64_t wait = due - rn_time_mono_ms();
			if (wait > 0 && !nap(d, wait)) {
				free(copy);
				break;
			}
		}
		rn_time_format(rn_time_now_ms(), true, ts, sizeof(ts));
		char msg[8000];
		int n = snprintf(msg, sizeof(msg), "<22>1 %s mx %s %s - - %s", ts, l.app, l.procid,
		                 l.msg);
		free(copy);
		if (n <= 0 || (size_t)n >= sizeof(msg))
			continue;
		int m = snprintf(frame, sizeof(frame), "%d %s", n, msg);
		if (m <= 0 || (size_t)m >= sizeof(frame) || send_all(fd, frame, (size_t)m) != RN_OK)
			return -EIO;
		pthread_mutex_lock(&d->mu);
		d->lines_sent++;
		pthread_mutex_unlock(&d->mu);
		if ((i & (d->tty ? 63 : 1023)) == 0) {
			progress(d);
			if (!nap(d, 0))
				break;
		}
	}
	return RN_OK;
}

/* The UDP payloads of a NetFlow v9 capture, resent with their export time set to now. */
static int replay_flows(struct demo *d, const char *path, const char *to)
{
	char err[PCAP_ERRBUF_SIZE];
	pcap_t *pc = pcap_open_offline(path, err);
	if (pc == NULL) {
		fprintf(stderr, "repnet demo: %s: %s\n", path, err);
		return RN_EPARSE;
	}
	struct sockaddr_storage ss;
	unsigned sl;
	if (rn_hostport_parse(to, &ss, &sl) != RN_OK) {
		pcap_close(pc);
		return -EINVAL;
	}
	int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		pcap_close(pc);
		return -errno;
	}
	struct pcap_pkthdr *h;
	const u_char *pkt;
	int64_t first = -1, start = rn_time_mono_ms();
	int linktype = pcap_datalink(pc);
	size_t off_ip = linktype == DLT_EN10MB ? 14 : linktype == DLT_LINUX_SLL ? 16 : 0;
	while (!d->stop && pcap_next_ex(pc, &h, &pkt) == 1) {
		if (h->caplen < off_ip + 28 || (pkt[off_ip] >> 4) != 4 || pkt[off_ip + 9] != 17)
			continue;
		size_t ihl = (size_t)(pkt[off_ip] & 0x0f) * 4;
		size_t udp = off_ip + ihl;
		if (h->caplen < udp + 8 + 20)
			continue;
		const u_char *pl = pkt + udp + 8;
		size_t plen = h->caplen - udp - 8;
		uint8_t buf[65536];
		if (plen > sizeof(buf))
			continue;
		memcpy(buf, pl, plen);
		if (buf[0] == 0 && buf[1] == 9) {
			/* NetFlow v9: unix_secs, bytes 8..11, becomes now. */
			uint32_t now = (uint32_t)(rn_time_now_ms() / 1000);
			buf[8] = (uint8_t)(now >> 24);
			buf[9] = (uint8_t)(now >> 16);
			buf[10] = (uint8_t)(now >> 8);
			buf[11] = (uint8_t)now;
		}
		int64_t t = (int64_t)h->ts.tv_sec * 1000 + h->ts.tv_usec / 1000;
		if (first < 0)
			first = t;
		if (d->speed > 0) {
			int64_t wait = start + (int64_t)((double)(t - first) / d->speed) -
			               rn_time_mono_ms();
			if (wait > 0 && !nap(d, wait))
				break;
		}
		if (sendto(fd, buf, plen, 0, (struct sockaddr *)&ss, sl) < 0) {
			close(fd);
			pcap_close(pc);
			return -errno;
		}
		/* softflowd sends in one burst; give the kernel's buffer a breath. */
		struct timespec ts = {.tv_nsec = 200000};
		nanosleep(&ts, NULL);
		pthread_mutex_lock(&d->mu);
		d->flows_sent++;
		pthread_mutex_unlock(&d->mu);
	}
	close(fd);
	pcap_close(pc);
	return RN_OK;
}

static size_t count_flows(const char *path)
{
	char err[PCAP_ERRBUF_SIZE];
	pcap_t *pc = pcap_open_offline(path, err);
	size_t n = 0;
	struct pcap_pkthdr *h;
	const u_char *pkt;
	if (pc == NULL)
		return 0;
	while (pcap_next_ex(pc, &h, &pkt) == 1)
		n++;
	pcap_close(pc);
	return n;
}

/* ---- the show ---------------------------------------------------------- */

static void dig_one(struct demo *d)
{
	if (!d->have_sample || d->c.feeds.rbl.dnsbl_listen.n == 0 ||
	    d->c.feeds.rbl.dnsbl_zones.n == 0)
		return;
	char host[64], port[16] = "53";
	const char *l = d->c.feeds.rbl.dnsbl_listen.v[0];
	const char *colon = strrchr(l, ':');
	snprintf(host, sizeof(host), "%.*s", (int)(colon ? colon - l : (long)strlen(l)), l);
	if (colon != NULL)
		snprintf(port, sizeof(port), "%s", colon + 1);
	char zone[256];
	snprintf(zone, sizeof(zone), "%s", d->c.feeds.rbl.dnsbl_zones.v[0]);
	char *cz = strchr(zone, ':');
	if (cz != NULL)
		*cz = '\0';
	uint32_t a = d->sample.u.v4;
	char q[320], at[80];
	snprintf(q, sizeof(q), "%u.%u.%u.%u.%s", a & 0xff, (a >> 8) & 0xff, (a >> 16) & 0xff,
	         a >> 24, zone);
	snprintf(at, sizeof(at), "@%s", host[0] == '[' ? host + 1 : host);
	char *br = strchr(at, ']');
	if (br != NULL)
		*br = '\0';
	printf("\n$ dig %s -p %s %s ANY +noall +answer\n", at, port, q);
	fflush(stdout);
	for (int t = 0; t < 2; t++) {
		const char *type = t == 0 ? "A" : "TXT";
		pid_t pid;
		const char *args[] = {"dig",    at,        "-p",      port,       q,   type,
		                      "+noall", "+answer", "+time=2", "+tries=1", NULL};
		if (posix_spawnp(&pid, "dig", NULL, NULL, (char *const *)args, environ) != 0) {
			printf("  (dig is not installed: apt-get install dnsutils)\n");
			return;
		}
		int st;
		waitpid(pid, &st, 0);
	}
}

struct tally {
	char rows[64][96];
	size_t n;
};

static void tally_fn(void *arg, const char *labels, double v)
{
	struct tally *t = arg;
	if (t->n < 64)
		snprintf(t->rows[t->n++], sizeof(t->rows[0]), "%-40s %12.0f", labels, v);
}

static void summary(struct demo *d)
{
	char *m = NULL;
	int st = 0;
	if (cli_http_get(d->http, "/metrics", 3000, 16u << 20, &m, &st) != RN_OK || st != 200) {
		printf("\n(could not read the daemon's metrics for the summary)\n");
		free(m);
		return;
	}
	struct tally t = {0};
	printf("\n=== summary ===\n\nobservations by kind (scorer's ingest)\n");
	cli_metric_each(m, "repnet_ingest_observations_by_kind_total", tally_fn, &t);
	for (size_t i = 0; i < t.n; i++)
		printf("  %s\n", t.rows[i]);
	printf("\nlisted by category (the feed as a member sees it)\n");
	struct scoring_table *tab = feeds_sub_table(d->sub);
	uint64_t per[RN_CAT_COUNT] = {0}, total = 0;
	if (tab != NULL) {
		struct scoring_iter it;
		struct scoring_entry e;
		scoring_iter_init(&it, tab);
		while (scoring_iter_next(&it, &e)) {
			total++;
			for (unsigned c = 1; c < RN_CAT_COUNT; c++)
				per[c] += (e.cats >> c) & 1;
		}
		scoring_table_free(tab);
	}
	for (unsigned c = 1; c < RN_CAT_COUNT; c++)
		if (per[c] > 0)
			printf("  %-40s %12llu\n", rn_category_name(c), (unsigned long long)per[c]);
	printf("  %-40s %12llu\n", "entries", (unsigned long long)total);
	printf("\nbus messages\n");
	double v;
	if (cli_metric(m, "repnet_collector_batches_total", "result=\"acked\"", &v) == 0)
		printf("  %-40s %12.0f\n", "observation batches acknowledged", v);
	t.n = 0;
	cli_metric_each(m, "repnet_feed_published_total", tally_fn, &t);
	for (size_t i = 0; i < t.n; i++)
		printf("  published %s\n", t.rows[i]);
	printf("\nDNSBL answers\n");
	t.n = 0;
	cli_metric_each(m, "repnet_dnsbl_answers_total", tally_fn, &t);
	for (size_t i = 0; i < t.n; i++)
		printf("  %s\n", t.rows[i]);
	free(m);
}

int cmd_demo(int argc, char **argv)
{
	static const struct option lopts[] = {{"speed", required_argument, NULL, 's'},
	                                      {"data", required_argument, NULL, 'd'},
	                                      {"config", required_argument, NULL, 'c'},
	                                      {"keep-running", no_argument, NULL, 'k'},
	                                      {NULL, 0, NULL, 0}};
	char data[PATH_MAX];
	struct demo d = {.speed = 20,
	                 .data = demo_data(data, sizeof(data)),
	                 .mu = PTHREAD_MUTEX_INITIALIZER};
	const char *conf = NULL;
	const char **ov = calloc((size_t)argc + 1, sizeof(*ov));
	size_t nov = 0;
	bool keep = false, resume = false;
	int ch, code = 1, rc;
	if (ov == NULL)
		return 1;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:o:", lopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			d.speed = strtod(optarg, NULL);
			break;
		case 'd':
			d.data = optarg;
			break;
		case 'c':
			conf = optarg;
			break;
		case 'o':
			ov[nov++] = optarg;
			break;
		case 'k':
			keep = true;
			break;
		case 'r':
			resume = true;
			break;
		default:
			free(ov);
			return 2;
		}
	}
	if (optind != argc || d.speed < 0) {
		free(ov);
		return 2;
	}
	struct rn_conf_error err;
	if (daemon_conf_load(&d.c, conf, ov, &err) != RN_OK) {
		char msg[1024];
		rn_conf_error_format(&err, msg, sizeof(msg));
		fprintf(stderr, "repnet demo: %s\n", msg);
		free(ov);
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
	struct log_file pf = {0}, ef = {0};
	if ((rc = read_lines(plog, &pf)) != RN_OK || (rc = read_lines(elog, &ef)) != RN_OK) {
		fprintf(stderr, "repnet demo: demo data in %s: %s (use --data DIR)\n", d.data,
		        rn_strerror(rc));
		goto out;
	}
	d.lines_total = pf.n + ef.n;
	d.flows_total = count_flows(pcap);
	if ((rc = rn_mkdirs(d.c.core.data_dir, 0750)) != RN_OK ||
	    (!resume && (rc = demo_dir_reset(ddir)) != RN_OK) ||
	    (rc = rn_mkdirs(ddir, 0750)) != RN_OK) {
		fprintf(stderr, "repnet demo: %s: %s\n", ddir, rn_strerror(rc));
		goto out;
	}

	printf("repnet demo: the whole pipeline, live, on real data from %s\n", d.data);
	printf("  repnetd runs on its built-in defaults (loopback listeners, data in %s),\n"
	       "  with the lab's test ranges allowed to be listed; its log: %s\n\n",
	       ddir, logpath);
	if (start_daemon(&d, conf, ov, nov, ddir_ov, logpath) != RN_OK)
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
	                            .on_change = on_change,
	                            .on_message = on_message,
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

	int fd = syslog_connect(d.c.collector.smtp.syslog_tcp);
	if (fd < 0) {
		fprintf(stderr, "repnet demo: syslog %s: %s\n", d.c.collector.smtp.syslog_tcp,
		        rn_strerror(fd));
		goto out;
	}
	replay_log(&d, fd, &pf);
	replay_log(&d, fd, &ef);
	close(fd);
	if (!d.stop && d.c.collector.flow.netflow_listen != NULL)
		replay_flows(&d, pcap, d.c.collector.flow.netflow_listen);
	progress(&d);

	/* Let the scorer tick on what arrived (two ticks of 2 s, bounded). */
	for (int i = 0; i < 80 && !d.stop; i++) {
		if (!nap(&d, 100))
			break;
		if (i % (d.tty ? 10 : 40) == 0)
			progress(&d);
	}
	printf("\n");
	if (!d.stop) {
		dig_one(&d);
		char hex[65];
		pthread_mutex_lock(&d.mu);
		for (int i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", d.digest[i]);
		printf("\nfeed %s: sequence %llu, state digest %s\n", pname,
		       (unsigned long long)d.seq, hex);
		pthread_mutex_unlock(&d.mu);
		printf("\nto look at the rest, while repnetd runs:\n"
		       "  curl -s http://%s/metrics        every counter\n"
		       "  curl -s http://%s/status         roles, feed state\n"
		       "  repnet status                            the same, summarised\n"
		       "  repnet explain --data-dir %s IP\n"
		       "                                           why an address is listed\n"
		       "  repnet sub %s --name %s --key \"$(cat %s)\"\n"
		       "  (the demo runs no sync role: add -o "
		       "core.roles=collect,score,publish,serve,sync\n"
		       "   to keep nftables sets, as root)\n",
		       d.http, d.http, ddir, d.c.feeds.bus.pub_listen, pname, pub);
		summary(&d);
	}
	if (keep && !d.stop) {
		printf("\nrepnetd keeps running (--keep-running); Ctrl-C stops it.\n");
		while (nap(&d, 1000)) {
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
	free_lines(&pf);
	free_lines(&ef);
	daemon_conf_release(&d.c);
	free(ov);
	return code;
}
