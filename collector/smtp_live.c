/*
 * smtp_live.c: the live SMTP collector: tailed files, the syslog
 * receiver and standard input, each in its own thread, sharing one
 * detector.
 *
 * Design notes: every source thread owns a pipe (clock, batch, counters)
 * and calls the sink itself after each read; the detector is shared under
 * det_lock. Counters are per source (label source="tail", "syslog_udp",
 * "syslog_tcp", "stdin", "journal"), so each has one writer. Stop wakes every thread
 * through its eventfd; each reads what is already there, flushes its
 * pipe, and (tail) saves positions; only then are the metrics
 * unregistered and the memory freed. The SASL hashing key is loaded from
 * (or created in) the data directory.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <sodium.h>

#include "collector/journal.h"
#include "collector/syslog_server.h"
#include "collector/tail.h"

enum { SRC_TAIL, SRC_UDP, SRC_TCP, SRC_STDIN, SRC_JOURNAL, SRC_COUNT };
static const char *const src_names[SRC_COUNT] = {"tail", "syslog_udp", "syslog_tcp", "stdin",
                                                 "journal"};

struct collector_smtp_live {
	/*
	 * A private deep copy: the daemon swaps its configuration on reload
	 * while these threads read theirs.
	 */
	struct collector_smtp_conf conf_copy;
	const struct collector_smtp_conf *conf;
	struct rn_metrics *m;
	struct smtp_detect *det;
	pthread_mutex_t det_lock;
	struct smtp_counters ctr[SRC_COUNT];
	struct smtp_pipe *pipes[SRC_COUNT];
	struct tail_counters tail_ctr;
	struct syslog_counters sys_ctr;
	struct tailer *tail;
	struct journal_counters journal_ctr;
	struct journal_reader *journal;
	struct syslog_server *syslog;
	int stdin_stop;
	pthread_t stdin_thread;
	bool stdin_started;
	struct smtp_detect_stats no_det; /* registered when detection is off */
};

static void *stdin_main(void *arg)
{
	struct collector_smtp_live *l = arg;
	struct smtp_pipe *p = l->pipes[SRC_STDIN];
	uint8_t buf[65536];
	for (;;) {
		struct pollfd pfd[2] = {{.fd = l->stdin_stop, .events = POLLIN},
		                        {.fd = STDIN_FILENO, .events = POLLIN}};
		int n = poll(pfd, 2, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || (pfd[0].revents & POLLIN) != 0)
			break;
		ssize_t r = read(STDIN_FILENO, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			(void)linebuf_finish(&p->lb, smtp_pipe_line, p);
			break;
		}
		(void)smtp_pipe_feed(p, buf, (size_t)r);
		smtp_pipe_flush(p);
	}
	smtp_pipe_flush(p);
	return NULL;
}

static int reg_counters(struct collector_smtp_live *l)
{
	struct rn_metrics *m = l->m;
	char lab[128];
	int rc = RN_OK;
	for (int s = 0; s < SRC_COUNT && rc == RN_OK; s++) {
		struct smtp_counters *c = &l->ctr[s];
		if (l->pipes[s] == NULL)
			continue;
		snprintf(lab, sizeof(lab), "source=\"%s\"", src_names[s]);
#define C(name, help, field) \
	if (rc == RN_OK)     \
	rc = rn_metrics_counter(m, l, name, help, lab, &c->field)
		C("repnet_smtp_lines_total", "Log lines read, by source.", lines);
		C("repnet_smtp_bytes_total", "Log bytes read, by source.", bytes);
		C("repnet_smtp_lines_overlong_total",
		  "Lines or messages longer than smtp.max_line, skipped.", overlong);
		C("repnet_smtp_lines_malformed_total",
		  "Lines that follow no syslog wrapper (binary, garbage).", malformed);
		C("repnet_smtp_lines_foreign_total", "Lines of programs other than the MTA.",
		  foreign);
		C("repnet_smtp_lines_ignored_total", "MTA lines understood, without a signal.",
		  ignored);
		C("repnet_smtp_events_total", "Line observations produced.", events);
		C("repnet_smtp_signals_total", "Detector observations produced.", signals);
#undef C
		for (int e = 0; e < SMTP_ENF_COUNT && rc == RN_OK; e++) {
			snprintf(lab, sizeof(lab), "source=\"%s\",by=\"%s\"", src_names[s],
			         collector_smtp_enforced_names[e]);
			rc = rn_metrics_counter(
			        m, l, "repnet_smtp_enforced_total",
			        "Rejects this deployment caused (its DNSBL zones, its "
			        "policy or TXT text), counted instead of observed.",
			        lab, &c->enforced[e]);
		}
		for (int pi = 0; pi < SMTP_PROG_COUNT && rc == RN_OK; pi++) {
			snprintf(lab, sizeof(lab), "source=\"%s\",program=\"%s\"", src_names[s],
			         smtp_prog_names[pi]);
			rc = rn_metrics_counter(m, l, "repnet_smtp_lines_unparsed_total",
			                        "MTA lines not understood, by source and program.",
			                        lab, &c->unknown[pi]);
		}
	}
	struct smtp_detect_stats *ds = l->det != NULL ? smtp_detect_stats(l->det) : &l->no_det;
	for (int i = 0; i < 8 && rc == RN_OK; i++) {
		snprintf(lab, sizeof(lab), "detector=\"%s\"", smtp_det_names[i]);
		rc = rn_metrics_counter(m, l, "repnet_smtp_detector_signals_total",
		                        "Detector signals, by detector.", lab, &ds->signals[i]);
	}
	static const char *const tables[3] = {"addresses", "users", "queue_ids"};
	const struct rn_counter *ev[3] = {&ds->evicted_addrs, &ds->evicted_users,
	                                  &ds->evicted_qids};
	for (int i = 0; i < 3 && rc == RN_OK; i++) {
		snprintf(lab, sizeof(lab), "table=\"%s\"", tables[i]);
		rc = rn_metrics_counter(m, l, "repnet_smtp_detector_evictions_total",
		                        "Detector state evicted to stay within its cap, by table.",
		                        lab, ev[i]);
	}
	if (rc == RN_OK)
		rc = rn_metrics_gauge(m, l, "repnet_smtp_detector_tracked",
		                      "Entries in the detector tables, by table.",
		                      "table=\"addresses\"", &ds->tracked_addrs);
	if (rc == RN_OK)
		rc = rn_metrics_gauge(m, l, "repnet_smtp_detector_tracked",
		                      "Entries in the detector tables, by table.",
		                      "table=\"users\"", &ds->tracked_users);
	if (l->tail != NULL) {
		struct tail_counters *t = &l->tail_ctr;
#define T(label, field)                                                                     \
	if (rc == RN_OK)                                                                    \
	rc = rn_metrics_counter(m, l, "repnet_tail_events_total",                           \
	                        "Followed-file events: rotations, truncations, lines read " \
	                        "from rotated copies, position saves, errors.",             \
	                        "event=\"" label "\"", &t->field)
		T("rotation", rotations);
		T("truncation", truncations);
		T("rotated_line", rotated_reads);
		T("save", saves);
		T("error", errors);
#undef T
		if (rc == RN_OK)
			rc = rn_metrics_gauge(m, l, "repnet_tail_files_open",
			                      "Followed files open.", NULL, &t->files_open);
		if (rc == RN_OK)
			rc = rn_metrics_gauge(
			        m, l, "repnet_tail_files_missing",
			        "Followed files that cannot be opened (absent or "
			        "unreadable); each is warned about at start and every "
			        "minute while it stays so.",
			        NULL, &t->files_missing);
	}
	if (l->journal != NULL) {
		struct journal_counters *j = &l->journal_ctr;
#define J(label, field)                                                                      \
	if (rc == RN_OK)                                                                     \
	rc = rn_metrics_counter(m, l, "repnet_journal_events_total",                         \
	                        "Journal reader events: failures to open the journal, read " \
	                        "or cursor errors, cursor saves.",                           \
	                        "event=\"" label "\"", &j->field)
		J("open_error", open_errors);
		J("error", errors);
		J("save", saves);
#undef J
		if (rc == RN_OK)
			rc = rn_metrics_gauge(m, l, "repnet_journal_open",
			                      "1 while the journal source is open.", NULL,
			                      &j->open);
	}
	if (l->syslog != NULL) {
		struct syslog_counters *y = &l->sys_ctr;
		if (rc == RN_OK)
			rc = rn_metrics_counter(m, l, "repnet_syslog_datagrams_total",
			                        "Syslog UDP datagrams received.", NULL,
			                        &y->datagrams);
		if (rc == RN_OK)
			rc = rn_metrics_counter(m, l, "repnet_syslog_errors_total",
			                        "Syslog framing errors (connection closed).",
			                        "error=\"framing\"", &y->frame_errors);
		if (rc == RN_OK)
			rc = rn_metrics_counter(m, l, "repnet_syslog_errors_total",
			                        "Syslog framing errors (connection closed).",
			                        "error=\"read\"", &y->read_errors);
		static const char *rh = "Syslog refused because the sender is not in "
		                        "collector.syslog.senders (loopback when empty), by "
		                        "transport: UDP datagrams, TCP connections.";
		if (rc == RN_OK)
			rc = rn_metrics_counter(m, l, "repnet_syslog_refused_total", rh,
			                        "transport=\"udp\"", &y->refused_udp);
		if (rc == RN_OK)
			rc = rn_metrics_counter(m, l, "repnet_syslog_refused_total", rh,
			                        "transport=\"tcp\"", &y->refused_tcp);
	}
	return rc;
}

static int pipe_new(struct collector_smtp_live *l, int src, const struct collector_sink *sink)
{
	struct smtp_pipe *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	int rc = smtp_pipe_init(p, l->conf, l->conf->format, 0, l->det, &l->det_lock, sink,
	                        &l->ctr[src]);
	if (rc != RN_OK) {
		free(p);
		return rc;
	}
	l->pipes[src] = p;
	return RN_OK;
}

static int strlist_copy(struct rn_strlist *dst, const struct rn_strlist *src)
{
	memset(dst, 0, sizeof(*dst));
	for (size_t i = 0; i < src->n; i++) {
		int rc = rn_strlist_add(dst, src->v[i]);
		if (rc != RN_OK)
			return rc;
	}
	return RN_OK;
}

static int conf_copy(struct collector_smtp_conf *dst, const struct collector_smtp_conf *src)
{
	*dst = *src;
	dst->syslog_udp = dst->syslog_tcp = dst->exim_tz = NULL;
	memset(&dst->tail_paths, 0, sizeof(dst->tail_paths));
	memset(&dst->journal_paths, 0, sizeof(dst->journal_paths));
	memset(&dst->rbl_zones, 0, sizeof(dst->rbl_zones));
	memset(&dst->spamtraps, 0, sizeof(dst->spamtraps));
	memset(&dst->own_zones, 0, sizeof(dst->own_zones));
	memset(&dst->enforce_zones, 0, sizeof(dst->enforce_zones));
	memset(&dst->enforce_texts, 0, sizeof(dst->enforce_texts));
	memset(&dst->syslog_senders, 0, sizeof(dst->syslog_senders));
	if ((src->syslog_udp != NULL && (dst->syslog_udp = strdup(src->syslog_udp)) == NULL) ||
	    (src->syslog_tcp != NULL && (dst->syslog_tcp = strdup(src->syslog_tcp)) == NULL) ||
	    (src->exim_tz != NULL && (dst->exim_tz = strdup(src->exim_tz)) == NULL))
		return -ENOMEM;
	int rc = rn_prefix_list_append(&dst->syslog_senders, &src->syslog_senders);
	if (rc == RN_OK)
		rc = strlist_copy(&dst->tail_paths, &src->tail_paths);
	if (rc == RN_OK)
		rc = strlist_copy(&dst->journal_paths, &src->journal_paths);
	if (rc == RN_OK)
		rc = strlist_copy(&dst->rbl_zones, &src->rbl_zones);
	if (rc == RN_OK)
		rc = strlist_copy(&dst->spamtraps, &src->spamtraps);
	if (rc == RN_OK)
		rc = strlist_copy(&dst->own_zones, &src->own_zones);
	if (rc == RN_OK)
		rc = strlist_copy(&dst->enforce_zones, &src->enforce_zones);
	if (rc == RN_OK)
		rc = strlist_copy(&dst->enforce_texts, &src->enforce_texts);
	return rc;
}

static void conf_copy_release(struct collector_smtp_conf *c)
{
	free(c->syslog_udp);
	free(c->syslog_tcp);
	free(c->exim_tz);
	rn_strlist_clear(&c->journal_paths);
	rn_prefix_list_clear(&c->syslog_senders);
	rn_strlist_clear(&c->tail_paths);
	rn_strlist_clear(&c->rbl_zones);
	rn_strlist_clear(&c->spamtraps);
	rn_strlist_clear(&c->own_zones);
	rn_strlist_clear(&c->enforce_zones);
	rn_strlist_clear(&c->enforce_texts);
}

int collector_smtp_start(struct collector_smtp_live **out, const struct collector_smtp_conf *cf,
                         const char *data_dir, struct rn_metrics *m,
                         const struct collector_sink *sink)
{
	struct collector_smtp_live *l = calloc(1, sizeof(*l));
	const struct collector_smtp_conf *conf;
	uint8_t key[32];
	int rc;

	if (l == NULL)
		return -ENOMEM;
	l->stdin_stop = -1;
	pthread_mutex_init(&l->det_lock, NULL);
	l->conf = conf = &l->conf_copy;
	rc = conf_copy(&l->conf_copy, cf);
	if (rc != RN_OK)
		goto fail;
	l->m = m;
	if (conf->detect) {
		rc = smtp_key_load(data_dir, key);
		if (rc != RN_OK) {
			log_errx("collector: SASL hashing key in %s: %s", data_dir,
			         rn_strerror(rc));
			goto fail;
		}
		rc = smtp_detect_alloc(&l->det, conf, key);
		sodium_memzero(key, sizeof(key));
		if (rc != RN_OK)
			goto fail;
	}
	if (conf->syslog_udp != NULL || conf->syslog_tcp != NULL) {
		if ((rc = pipe_new(l, SRC_UDP, sink)) != RN_OK ||
		    (rc = pipe_new(l, SRC_TCP, sink)) != RN_OK)
			goto fail;
		rc = syslog_server_start(&l->syslog, conf, l->pipes[SRC_UDP], l->pipes[SRC_TCP],
		                         &l->sys_ctr, m);
		if (rc != RN_OK)
			goto fail;
	}
	if (conf->tail_paths.n > 0) {
		if ((rc = pipe_new(l, SRC_TAIL, sink)) != RN_OK)
			goto fail;
		rc = tailer_start(&l->tail, &conf->tail_paths, data_dir, conf->tail_start == 1,
		                  conf->tail_poll_ms, conf->tail_save_ms, l->pipes[SRC_TAIL],
		                  &l->tail_ctr);
		if (rc != RN_OK)
			goto fail;
	}
	if (collector_smtp_journal_wanted(conf)) {
		if ((rc = pipe_new(l, SRC_JOURNAL, sink)) != RN_OK)
			goto fail;
		rc = journal_reader_start(&l->journal, &conf->journal_paths, data_dir,
		                          conf->journal_start == 1, conf->tail_poll_ms,
		                          conf->journal_save_ms, l->pipes[SRC_JOURNAL],
		                          &l->journal_ctr);
		if (rc != RN_OK)
			goto fail;
		log_notice("collector: reading Postfix and Exim from %s%s",
		           conf->journal_paths.n > 0 ? "the journal at " : "the system journal",
		           conf->journal_paths.n > 0 ? conf->journal_paths.v[0] : "");
	}
	if (conf->stdin_source) {
		if ((rc = pipe_new(l, SRC_STDIN, sink)) != RN_OK)
			goto fail;
		l->stdin_stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (l->stdin_stop < 0) {
			rc = -errno;
			goto fail;
		}
		rc = -pthread_create(&l->stdin_thread, NULL, stdin_main, l);
		if (rc != 0)
			goto fail;
		l->stdin_started = true;
	}
	if (m != NULL && (rc = reg_counters(l)) != RN_OK) {
		log_errx("collector: metrics: %s", rn_strerror(rc));
		goto fail;
	}
	log_info("collector: SMTP sources: %zu file(s), syslog udp %u tcp %u%s%s%s",
	         conf->tail_paths.n, syslog_server_port(l->syslog, false),
	         syslog_server_port(l->syslog, true), conf->stdin_source ? ", stdin" : "",
	         l->journal != NULL ? ", journal " : "",
	         l->journal == NULL          ? ""
	         : conf->journal_paths.n > 0 ? conf->journal_paths.v[0]
	                                     : "(system)");
	*out = l;
	return RN_OK;
fail:
	collector_smtp_stop(l);
	return rc;
}

bool collector_smtp_journal_wanted(const struct collector_smtp_conf *c)
{
	switch (c->journal_mode) {
	case COLLECTOR_JOURNAL_ON:
		return true;
	case COLLECTOR_JOURNAL_AUTO:
		return c->journal_paths.n > 0 || journal_system_present();
	default:
		return false;
	}
}

unsigned collector_smtp_udp_port(const struct collector_smtp_live *l)
{
	return l != NULL ? syslog_server_port(l->syslog, false) : 0;
}

unsigned collector_smtp_tcp_port(const struct collector_smtp_live *l)
{
	return l != NULL ? syslog_server_port(l->syslog, true) : 0;
}

void collector_smtp_stop(struct collector_smtp_live *l)
{
	if (l == NULL)
		return;
	syslog_server_stop(l->syslog);
	tailer_stop(l->tail);
	journal_reader_stop(l->journal);
	if (l->stdin_started) {
		uint64_t one = 1;
		if (write(l->stdin_stop, &one, sizeof(one)) < 0)
			log_warn("collector: waking the stdin reader");
		pthread_join(l->stdin_thread, NULL);
	}
	if (l->stdin_stop >= 0)
		close(l->stdin_stop);
	if (l->m != NULL)
		rn_metrics_unregister(l->m, l);
	for (int s = 0; s < SRC_COUNT; s++) {
		smtp_pipe_release(l->pipes[s]);
		free(l->pipes[s]);
	}
	smtp_detect_free(l->det);
	pthread_mutex_destroy(&l->det_lock);
	conf_copy_release(&l->conf_copy);
	free(l);
}
