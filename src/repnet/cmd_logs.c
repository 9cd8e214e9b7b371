/*
 * cmd_logs.c: repnet logs, Postfix and Exim logs -> observations as JSON.
 *
 * Offline (a FILE, "-", or --journal PATH...): the collector's offline
 * pipeline runs in this thread, in event time. Live (--follow, --udp, --tcp): the collector's
 * live sources run in their own threads until SIGINT or SIGTERM, which
 * this thread waits for with the signals blocked everywhere else.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmds.h"
#include "util.h"

struct out {
	bool json;
	pthread_mutex_t lock;
	uint64_t n;
};

static void emit_json(void *arg, const struct rn_obs *obs, size_t n)
{
	struct out *o = arg;

	pthread_mutex_lock(&o->lock);
	o->n += n;
	for (size_t i = 0; o->json && i < n; i++)
		if (cli_obs_print(stdout, &obs[i]) != RN_OK)
			break; /* stdout is gone; the summary or the exit status says so */
	if (o->json)
		fflush(stdout);
	pthread_mutex_unlock(&o->lock);
}

static void print_unparsed(void *arg, const char *program, const uint8_t *line, size_t len)
{
	(void)arg;
	fprintf(stderr, "unparsed %s: %.*s\n", program, (int)(len > 2000 ? 2000 : len), line);
}

static void print_summary(const struct collector_smtp_stats *s)
{
	printf("lines %llu\nbytes %llu\noverlong %llu\nmalformed %llu\nforeign %llu\n"
	       "ignored %llu\nevents %llu\nsignals %llu\n",
	       (unsigned long long)s->lines, (unsigned long long)s->bytes,
	       (unsigned long long)s->overlong, (unsigned long long)s->malformed,
	       (unsigned long long)s->foreign, (unsigned long long)s->ignored,
	       (unsigned long long)s->events, (unsigned long long)s->signals);
	for (unsigned k = 0; k < RN_KIND_MAX; k++)
		if (s->kinds[k] != 0)
			printf("kind %s %llu\n", rn_kind_name(k) ? rn_kind_name(k) : "unspecified",
			       (unsigned long long)s->kinds[k]);
	for (size_t i = 0; i < RN_ARRAY_LEN(s->unknown); i++)
		printf("unparsed %s %llu\n", collector_smtp_program_names[i],
		       (unsigned long long)s->unknown[i]);
	for (size_t i = 0; i < RN_ARRAY_LEN(s->enforced); i++)
		printf("enforced %s %llu\n", collector_smtp_enforced_names[i],
		       (unsigned long long)s->enforced[i]);
}

static int run_live(struct daemon_conf *c, struct collector_smtp_conf *lc, struct out *o)
{
	struct collector_smtp_live *l = NULL;
	struct rn_metrics *m = NULL;
	sigset_t set;
	int sig, rc;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	rc = rn_mkdirs(c->core.data_dir, 0750);
	if (rc == RN_OK)
		rc = rn_metrics_alloc(&m);
	if (rc != RN_OK) {
		fprintf(stderr, "repnet: %s: %s\n", c->core.data_dir, rn_strerror(rc));
		rn_metrics_free(m);
		return 1;
	}
	struct collector_sink sink = {.emit = emit_json, .arg = o};
	rc = collector_smtp_start(&l, lc, c->core.data_dir, m, &sink);
	if (rc != RN_OK) {
		fprintf(stderr, "repnet: cannot start the sources: %s\n", rn_strerror(rc));
		rn_metrics_free(m);
		return 1;
	}
	fprintf(stderr, "repnet: listening udp %u tcp %u\n", collector_smtp_udp_port(l),
	        collector_smtp_tcp_port(l));
	fflush(stderr);
	while (sigwait(&set, &sig) != 0)
		;
	collector_smtp_stop(l);
	rn_metrics_free(m);
	fprintf(stderr, "repnet: stopped after %llu observations\n", (unsigned long long)o->n);
	return 0;
}

/* --journal: every entry of journal files or a directory, from the first. */
static int run_journal(const struct collector_smtp_conf *lc, struct out *o,
                       const char *const *paths, size_t n, bool show_unparsed, bool summary)
{
	struct collector_smtp *p = NULL;
	struct collector_smtp_opts opts = {.format = lc->format, .detect = lc->detect};
	if (show_unparsed)
		opts.unparsed = print_unparsed;
	struct collector_sink sink = {.emit = emit_json, .arg = o};
	int rc = collector_smtp_alloc(&p, lc, &opts, &sink);
	if (rc == RN_OK)
		rc = collector_smtp_read_journal(p, paths, n);
	if (rc == RN_OK)
		rc = collector_smtp_flush(p);
	if (rc != RN_OK) {
		fprintf(stderr, "repnet: journal %s: %s\n", paths[0], rn_strerror(rc));
		collector_smtp_free(p);
		return 1;
	}
	if (summary) {
		struct collector_smtp_stats st;
		collector_smtp_get_stats(p, &st);
		print_summary(&st);
	}
	fflush(stdout);
	collector_smtp_free(p);
	return 0;
}

/*
 * repnet logs [--format F] [--summary] [--no-detect] [--ref-time T]
 *             [-c FILE] [-o key=value]... FILE|-
 * repnet logs [options] --journal PATH [--journal PATH]...
 * repnet logs [options] [--follow FILE]... [--udp H:P] [--tcp H:P] [--stdin]
 */
int cmd_logs(int argc, char **argv)
{
	static const struct option lopts[] = {{"format", required_argument, NULL, 'F'},
	                                      {"summary", no_argument, NULL, 's'},
	                                      {"no-detect", no_argument, NULL, 'n'},
	                                      {"ref-time", required_argument, NULL, 'r'},
	                                      {"config", required_argument, NULL, 'c'},
	                                      {"follow", required_argument, NULL, 'f'},
	                                      {"udp", required_argument, NULL, 'u'},
	                                      {"tcp", required_argument, NULL, 't'},
	                                      {"stdin", no_argument, NULL, 'S'},
	                                      {"show-unparsed", no_argument, NULL, 'U'},
	                                      {"journal", required_argument, NULL, 'J'},
	                                      {NULL, 0, NULL, 0}};
	const char *udp = NULL, *tcp = NULL, *file = NULL;
	struct conf_args ca;
	int carc = conf_args_init(&ca, argc);
	char **follow = calloc((size_t)argc + 1, sizeof(*follow));
	const char **journal = calloc((size_t)argc + 1, sizeof(*journal));
	size_t nfollow = 0, njournal = 0;
	int format = -1, ch, code = 1;
	bool summary = false, detect = true, live = false, use_stdin = false;
	bool show_unparsed = false;
	int64_t ref_ms = 0;
	struct collector_smtp *p = NULL;
	struct daemon_conf c;
	bool loaded = false;
	struct out o = {.json = true, .lock = PTHREAD_MUTEX_INITIALIZER};

	if (carc != RN_OK || follow == NULL || journal == NULL)
		goto out;
	while ((ch = conf_args_getopt(&ca, argc, argv, "c:o:", lopts)) != -1) {
		switch (ch) {
		case 'F':
			format = -2;
			for (int i = 0; collector_smtp_format_names[i] != NULL; i++)
				if (strcmp(optarg, collector_smtp_format_names[i]) == 0)
					format = i;
			if (format == -2) {
				fprintf(stderr, "repnet: --format is auto, postfix or exim\n");
				code = 2;
				goto out;
			}
			break;
		case 's':
			summary = true;
			break;
		case 'n':
			detect = false;
			break;
		case 'r':
			if (rn_time_parse((const uint8_t *)optarg, strlen(optarg), &ref_ms) !=
			            RN_OK ||
			    ref_ms == 0) {
				fprintf(stderr, "repnet: --ref-time takes an RFC 3339 time\n");
				code = 2;
				goto out;
			}
			break;
		case 'f':
			follow[nfollow++] = optarg;
			live = true;
			break;
		case 'u':
			udp = optarg;
			live = true;
			break;
		case 't':
			tcp = optarg;
			live = true;
			break;
		case 'U':
			show_unparsed = true;
			break;
		case 'J':
			journal[njournal++] = optarg;
			break;
		case 'S':
			use_stdin = true;
			live = true;
			break;
		default:
			code = 2;
			goto out;
		}
	}
	if (njournal > 0) {
		/* Journal files or a directory, offline; nothing else to read. */
		if (live || optind != argc) {
			fprintf(stderr, "repnet: --journal reads offline, without a FILE or "
			                "live sources\n");
			code = 2;
			goto out;
		}
	} else if (use_stdin && nfollow == 0 && udp == NULL && tcp == NULL) {
		/* Standard input alone ends at its end: that is the offline mode. */
		live = false;
		if (optind != argc) {
			code = 2;
			goto out;
		}
		file = "-";
	} else if (live ? optind != argc : optind + 1 != argc) {
		code = 2;
		goto out;
	}
	if (conf_args_load(&ca, "repnet", &c) != RN_OK) {
		goto out;
	}
	loaded = true;
	struct collector_smtp_conf lc = c.collector.smtp;
	lc.detect = lc.detect && detect;
	if (format >= 0)
		lc.format = format;
	o.json = !summary;

	if (live) {
		lc.syslog_udp = (char *)udp;
		lc.syslog_tcp = (char *)tcp;
		lc.tail_paths.v = follow;
		lc.tail_paths.n = nfollow;
		lc.stdin_source = use_stdin;
		lc.journal_mode = COLLECTOR_JOURNAL_OFF;
		code = run_live(&c, &lc, &o);
		goto out;
	}

	if (njournal > 0) {
		code = run_journal(&lc, &o, journal, njournal, show_unparsed, summary);
		goto out;
	}
	if (file == NULL)
		file = argv[optind];
	int fd = STDIN_FILENO;
	if (strcmp(file, "-") != 0) {
		fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "repnet: %s: %s\n", file, strerror(errno));
			goto out;
		}
	}
	if (ref_ms == 0) {
		/* A file's last line was written about when it was last modified. */
		struct stat st;
		if (fd != STDIN_FILENO && fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
			ref_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
	}
	struct collector_smtp_opts opts = {
	        .format = lc.format, .detect = lc.detect, .ref_ms = ref_ms, .key = NULL};
	if (show_unparsed)
		opts.unparsed = print_unparsed;
	struct collector_sink sink = {.emit = emit_json, .arg = &o};
	int rc = collector_smtp_alloc(&p, &lc, &opts, &sink);
	if (rc == RN_OK)
		rc = collector_smtp_read_fd(p, fd);
	if (rc == RN_OK)
		rc = collector_smtp_flush(p);
	if (fd != STDIN_FILENO)
		close(fd);
	if (rc != RN_OK) {
		fprintf(stderr, "repnet: %s: %s\n", file, rn_strerror(rc));
		goto out;
	}
	if (summary) {
		struct collector_smtp_stats st;
		collector_smtp_get_stats(p, &st);
		print_summary(&st);
	}
	fflush(stdout);
	code = 0;
out:
	collector_smtp_free(p);
	if (loaded)
		daemon_conf_release(&c);
	free(follow);
	free(journal);
	conf_args_free(&ca);
	return code;
}
