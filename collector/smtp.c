/*
 * smtp.c: the SMTP pipeline (wrapper -> parser -> detectors -> sink) and
 * the offline API that runs it over a file or standard input.
 *
 * Design notes: a pipe belongs to one thread. It parses in place (the
 * line buffer hands out slices of the caller's chunk), writes
 * observations into its own fixed batch and hands the batch to the sink
 * when it is full or on flush; nothing on the per-line path allocates.
 * The detector is the only shared state: a live collector's sources
 * share one under a mutex, taken once per line that reaches it (events
 * and queue-id lines), not per line read. Counters have one writer each
 * (the pipe's thread), so plain relaxed stores suffice. The offline
 * pipeline is the same pipe driven from the caller's thread.
 *
 * Loop safety: a reject this deployment caused (a hit on one of its DNSBL
 * zones, a reject carrying its policy or TXT text) is the client meeting
 * a listing, not new behaviour. Such a line is counted in enforced[] and
 * goes no further: no observation, no detector (so no rbl_confirmed, no
 * spamtrap hit on the rejected recipient), so a client that retries
 * against its listing neither renews nor re-categorises it. How such a
 * session ends within SMTP_SESSION_MS (lost connection, timeout, too many
 * errors, no mail) is the client's answer to our reject and is counted the
 * same way; the pipe remembers the last SMTP_ENFORCED_RECENT refused
 * addresses for that. The texts are matched only in the reason past the
 * client-supplied address, so a client cannot write them into its
 * envelope to escape observation.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "collector/journal.h"

const char *const collector_smtp_program_names[7] = {"postfix/smtpd",
                                                     "postfix/postscreen",
                                                     "postfix/dnsblog",
                                                     "postfix/cleanup",
                                                     "postfix/other",
                                                     "exim",
                                                     "other"};
_Static_assert(SMTP_PROG_COUNT == 7, "program labels");
_Static_assert(SMTP_ENF_COUNT == 2, "enforced labels");

int smtp_pipe_init(struct smtp_pipe *p, const struct collector_smtp_conf *conf, int format,
                   int64_t ref_ms, struct smtp_detect *det, pthread_mutex_t *det_lock,
                   const struct collector_sink *sink, struct smtp_counters *ctr)
{
	memset(p, 0, offsetof(struct smtp_pipe, batch));
	p->conf = conf;
	p->format = format;
	smtp_clock_init(&p->clock, ref_ms);
	if (conf->exim_tz != NULL) {
		if (smtp_tz_offset_parse(conf->exim_tz, &p->clock.exim_off_ms) == RN_OK) {
			p->clock.exim_fixed = true;
		} else {
			int rc = smtp_tz_load(conf->exim_tz, &p->exim_zone);
			if (rc != RN_OK)
				return rc;
			p->clock.exim_zone = p->exim_zone;
		}
	}
	p->det = det;
	p->det_lock = det_lock;
	p->sink = *sink;
	p->ctr = ctr;
	int rc = linebuf_init(&p->lb, (size_t)conf->max_line);
	if (rc != RN_OK) {
		smtp_tz_free(p->exim_zone);
		p->exim_zone = NULL;
	}
	return rc;
}

void smtp_pipe_release(struct smtp_pipe *p)
{
	if (p == NULL)
		return;
	linebuf_release(&p->lb);
	smtp_tz_free(p->exim_zone);
	p->exim_zone = NULL;
}

void smtp_pipe_flush(struct smtp_pipe *p)
{
	if (p->nbatch > 0 && p->sink.emit != NULL)
		p->sink.emit(p->sink.arg, p->batch, p->nbatch);
	p->nbatch = 0;
}

const char *const collector_smtp_enforced_names[2] = {"dnsbl", "policy"};

bool smtp_zone_equal(const uint8_t *p, size_t n, const char *z)
{
	size_t zn = strlen(z);
	if (n > 0 && p[n - 1] == '.')
		n--;
	if (zn > 0 && z[zn - 1] == '.')
		zn--;
	return n > 0 && n == zn && strncasecmp((const char *)p, z, n) == 0;
}

static bool zone_in(const struct rn_strlist *l, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < l->n; i++)
		if (smtp_zone_equal(p, n, l->v[i]))
			return true;
	return false;
}

int smtp_enforced_by(const struct collector_smtp_conf *conf, const struct smtp_event *ev)
{
	if (ev->zone_len > 0 && (zone_in(&conf->enforce_zones, ev->zone, ev->zone_len) ||
	                         zone_in(&conf->own_zones, ev->zone, ev->zone_len)))
		return SMTP_ENF_DNSBL;
	for (size_t i = 0; i < conf->enforce_texts.n && ev->reason_len > 0; i++) {
		const char *t = conf->enforce_texts.v[i];
		size_t tn = strlen(t);
		if (tn >= COLLECTOR_ENFORCE_TEXT_MIN &&
		    memmem(ev->reason, ev->reason_len, t, tn) != NULL)
			return SMTP_ENF_POLICY;
	}
	return SMTP_ENF_NONE;
}

static inline void ctr_inc(struct rn_counter *c)
{
	rn_counter_inc(c);
}

/*
 * postscreen: dnsblog logs each zone's hit, then postscreen the summed
 * rank without zones. Remembers which kind of zone hit an address, and
 * judges a rank line by it: ours when only our zones hit it recently.
 */
static int dnsbl_rank_enforced(struct smtp_pipe *p, int64_t ts, const struct smtp_event *ev, int by)
{
	struct smtp_dnsbl_hit *h = NULL;
	for (unsigned i = 0; i < SMTP_DNSBL_HITS; i++)
		if (p->hits[i].ts_ms != 0 && rn_addr_equal(&p->hits[i].addr, &ev->addr) &&
		    ts - p->hits[i].ts_ms <= SMTP_DNSBL_HIT_MS &&
		    p->hits[i].ts_ms - ts <= SMTP_DNSBL_HIT_MS)
			h = &p->hits[i];
	if (ev->prog == SMTP_PROG_DNSBLOG && ev->zone_len > 0) {
		if (h == NULL) {
			h = &p->hits[p->hits_next];
			p->hits_next = (p->hits_next + 1) % SMTP_DNSBL_HITS;
			memset(h, 0, sizeof(*h));
			h->addr = ev->addr;
		}
		h->ts_ms = ts;
		if (by == SMTP_ENF_DNSBL)
			h->own = true;
		else
			h->foreign = true;
		return by;
	}
	if (ev->prog == SMTP_PROG_POSTSCREEN && ev->zone_len == 0 && h != NULL && h->own &&
	    !h->foreign)
		return SMTP_ENF_DNSBL;
	return by;
}

static void refused_note(struct smtp_pipe *p, int64_t ts, const struct rn_addr *a, int by)
{
	for (unsigned i = 0; i < SMTP_ENFORCED_RECENT; i++) {
		struct smtp_enforced_recent *r = &p->refused[i];
		if (r->ts_ms != 0 && rn_addr_equal(&r->addr, a)) {
			r->ts_ms = ts > r->ts_ms ? ts : r->ts_ms;
			r->by = by;
			return;
		}
	}
	struct smtp_enforced_recent *r = &p->refused[p->refused_next];
	p->refused_next = (p->refused_next + 1) % SMTP_ENFORCED_RECENT;
	r->addr = *a;
	r->ts_ms = ts;
	r->by = by;
}

/*
 * The end of a session we refused in: a client that hangs up, times out or
 * runs into the error limit after our rejects does so because of them.
 */
static int refused_session_end(const struct smtp_pipe *p, int64_t ts, const struct smtp_event *ev)
{
	if (ev->kind != RN_KIND_LOST_CONNECTION && ev->kind != RN_KIND_TIMEOUT &&
	    ev->kind != RN_KIND_TOO_MANY_ERRORS && ev->kind != RN_KIND_NO_MAIL)
		return SMTP_ENF_NONE;
	for (unsigned i = 0; i < SMTP_ENFORCED_RECENT; i++) {
		const struct smtp_enforced_recent *r = &p->refused[i];
		if (r->ts_ms != 0 && rn_addr_equal(&r->addr, &ev->addr) && ts >= r->ts_ms &&
		    ts - r->ts_ms <= SMTP_SESSION_MS)
			return r->by;
	}
	return SMTP_ENF_NONE;
}

/* A line split by its wrapper (or a journal entry's fields) onward. */
static void pipe_parsed(struct smtp_pipe *p, const struct smtp_line *lp, const uint8_t *line,
                        size_t n)
{
	struct smtp_counters *c = p->ctr;
	struct smtp_line sl = *lp;
	struct smtp_event ev;
	bool pf, ex;
	int v;

	switch (p->format) {
	case COLLECTOR_SMTP_POSTFIX:
		pf = true;
		ex = false;
		break;
	case COLLECTOR_SMTP_EXIM:
		pf = false;
		ex = true;
		break;
	default:
		ex = sl.wrapper == SMTP_WRAP_EXIM || smtp_prog_is_exim(sl.prog, sl.prog_len);
		pf = !ex && smtp_prog_is_postfix(sl.prog, sl.prog_len);
		break;
	}
	if (!pf && !ex) {
		ctr_inc(&c->foreign);
		return;
	}
	if (ex) {
		const uint8_t *m = sl.msg;
		size_t ml = sl.msg_len;
		if (sl.wrapper != SMTP_WRAP_EXIM) {
			size_t k = smtp_wrap_strip_exim_stamp(&p->clock, m, ml);
			m += k;
			ml -= k;
		}
		v = exim_parse(m, ml, &ev);
	} else {
		v = postfix_parse(sl.prog, sl.prog_len, sl.msg, sl.msg_len, &ev);
	}
	if (v == SMTP_UNKNOWN) {
		unsigned pi = ev.prog < SMTP_PROG_COUNT ? ev.prog : SMTP_PROG_OTHER;
		ctr_inc(&c->unknown[pi]);
		if (p->unparsed != NULL)
			p->unparsed(p->unparsed_arg, smtp_prog_names[pi], line, n);
		return;
	}
	bool is_event = v == SMTP_EVENT;
	if (is_event) {
		int by = smtp_enforced_by(p->conf, &ev);
		if (ev.kind == RN_KIND_RBL_LISTED)
			by = dnsbl_rank_enforced(p, sl.ts_ms, &ev, by);
		if (by != SMTP_ENF_NONE)
			refused_note(p, sl.ts_ms, &ev.addr, by);
		else
			by = refused_session_end(p, sl.ts_ms, &ev);
		if (by != SMTP_ENF_NONE) {
			ctr_inc(&c->enforced[by]);
			return;
		}
		ctr_inc(&c->events);
		ctr_inc(&c->kinds[ev.kind & (RN_KIND_MAX - 1)]);
	} else {
		ctr_inc(&c->ignored);
		/* Queue-id lines matter only to the spamtrap check. */
		if (p->det == NULL || ev.qid_role == SMTP_QID_NONE || p->conf->spamtraps.n == 0)
			return;
	}
	if (p->nbatch + SMTP_DETECT_MAX_OUT > RN_ARRAY_LEN(p->batch) || p->nbatch >= SMTP_BATCH)
		smtp_pipe_flush(p);
	struct rn_obs *out = p->batch + p->nbatch;
	size_t k;
	if (p->det_lock != NULL) {
		pthread_mutex_lock(p->det_lock);
		k = smtp_detect_line(p->det, sl.ts_ms, &ev, is_event, out, SMTP_DETECT_MAX_OUT);
		pthread_mutex_unlock(p->det_lock);
	} else {
		k = smtp_detect_line(p->det, sl.ts_ms, &ev, is_event, out, SMTP_DETECT_MAX_OUT);
	}
	for (size_t i = is_event ? 1 : 0; i < k; i++) {
		ctr_inc(&c->signals);
		ctr_inc(&c->kinds[out[i].kind & (RN_KIND_MAX - 1)]);
	}
	p->nbatch += k;
}

int smtp_pipe_line(void *arg, const uint8_t *line, size_t n)
{
	struct smtp_pipe *p = arg;
	struct smtp_line sl;

	ctr_inc(&p->ctr->lines);
	rn_counter_add(&p->ctr->bytes, n + 1);
	if (smtp_wrap_parse(&p->clock, line, n, &sl) != RN_OK) {
		ctr_inc(&p->ctr->malformed);
		return RN_OK;
	}
	pipe_parsed(p, &sl, line, n);
	return RN_OK;
}

void smtp_pipe_message(struct smtp_pipe *p, int64_t ts_ms, const uint8_t *prog, size_t prog_len,
                       const uint8_t *msg, size_t len)
{
	struct smtp_line sl = {.ts_ms = ts_ms,
	                       .prog = prog,
	                       .prog_len = prog_len,
	                       .msg = msg,
	                       .msg_len = len,
	                       .wrapper = SMTP_WRAP_JOURNAL};

	ctr_inc(&p->ctr->lines);
	rn_counter_add(&p->ctr->bytes, len + 1);
	if (len > p->conf->max_line) {
		ctr_inc(&p->ctr->overlong);
		return;
	}
	pipe_parsed(p, &sl, msg, len);
}

int smtp_pipe_feed(struct smtp_pipe *p, const uint8_t *buf, size_t len)
{
	uint64_t before = p->lb.overlong;
	int rc = linebuf_feed(&p->lb, buf, len, smtp_pipe_line, p);
	if (p->lb.overlong != before)
		rn_counter_add(&p->ctr->overlong, p->lb.overlong - before);
	return rc;
}

int smtp_key_load(const char *data_dir, uint8_t key[32])
{
	char path[4096];
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	if (sodium_init() < 0)
		return RN_EINTERNAL;
	if (snprintf(path, sizeof(path), "%s/collector-sasl.key", data_dir) >= (int)sizeof(path))
		return RN_ELIMIT;
	rc = rn_file_read(path, 64, &buf, &len);
	if (rc == RN_OK) {
		if (len != 32) {
			free(buf);
			return RN_EBADLEN;
		}
		memcpy(key, buf, 32);
		sodium_memzero(buf, len);
		free(buf);
		return RN_OK;
	}
	if (rc != -ENOENT)
		return rc;
	randombytes_buf(key, 32);
	return rn_file_replace(path, key, 32, 0600);
}

/* ------------------------------------------------------------------ */
/* Offline                                                             */
/* ------------------------------------------------------------------ */

struct collector_smtp {
	struct smtp_counters ctr;
	struct smtp_detect *det;
	struct smtp_pipe pipe; /* last: it holds the batch */
};

int collector_smtp_alloc(struct collector_smtp **out, const struct collector_smtp_conf *conf,
                         const struct collector_smtp_opts *opts, const struct collector_sink *sink)
{
	struct collector_smtp *p;
	uint8_t key[32];
	int rc;

	if (sodium_init() < 0)
		return RN_EINTERNAL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	if (opts->detect) {
		if (opts->key != NULL)
			memcpy(key, opts->key, sizeof(key));
		else
			randombytes_buf(key, sizeof(key));
		rc = smtp_detect_alloc(&p->det, conf, key);
		sodium_memzero(key, sizeof(key));
		if (rc != RN_OK)
			goto fail;
	}
	int fmt = opts->format >= 0 ? opts->format : conf->format;
	rc = smtp_pipe_init(&p->pipe, conf, fmt, opts->ref_ms, p->det, NULL, sink, &p->ctr);
	if (rc != RN_OK)
		goto fail;
	p->pipe.unparsed = opts->unparsed;
	p->pipe.unparsed_arg = opts->unparsed_arg;
	*out = p;
	return RN_OK;
fail:
	smtp_detect_free(p->det);
	free(p);
	return rc;
}

int collector_smtp_feed(struct collector_smtp *p, const uint8_t *buf, size_t len)
{
	return smtp_pipe_feed(&p->pipe, buf, len);
}

int collector_smtp_read_fd(struct collector_smtp *p, int fd)
{
	enum { CHUNK = 1 << 20 };
	uint8_t *buf = malloc(CHUNK);
	int rc = RN_OK;
	if (buf == NULL)
		return -ENOMEM;
	for (;;) {
		ssize_t n = read(fd, buf, CHUNK);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		rc = smtp_pipe_feed(&p->pipe, buf, (size_t)n);
		if (rc != RN_OK)
			break;
	}
	free(buf);
	return rc;
}

int collector_smtp_flush(struct collector_smtp *p)
{
	int rc = linebuf_finish(&p->pipe.lb, smtp_pipe_line, &p->pipe);
	smtp_pipe_flush(&p->pipe);
	return rc;
}

int collector_smtp_read_journal(struct collector_smtp *p, const char *const *paths, size_t n)
{
	return journal_read_all(paths, n, &p->pipe);
}

void collector_smtp_get_stats(const struct collector_smtp *p, struct collector_smtp_stats *out)
{
	const struct smtp_counters *c = &p->ctr;
	memset(out, 0, sizeof(*out));
	out->lines = rn_counter_get(&c->lines);
	out->bytes = rn_counter_get(&c->bytes);
	out->overlong = rn_counter_get(&c->overlong);
	out->malformed = rn_counter_get(&c->malformed);
	out->foreign = rn_counter_get(&c->foreign);
	out->ignored = rn_counter_get(&c->ignored);
	out->events = rn_counter_get(&c->events);
	out->signals = rn_counter_get(&c->signals);
	for (size_t i = 0; i < SMTP_PROG_COUNT; i++)
		out->unknown[i] = rn_counter_get(&c->unknown[i]);
	for (size_t i = 0; i < SMTP_ENF_COUNT; i++)
		out->enforced[i] = rn_counter_get(&c->enforced[i]);
	for (size_t i = 0; i < RN_KIND_MAX; i++)
		out->kinds[i] = rn_counter_get(&c->kinds[i]);
}

void collector_smtp_free(struct collector_smtp *p)
{
	if (p == NULL)
		return;
	smtp_pipe_release(&p->pipe);
	smtp_detect_free(p->det);
	free(p);
}
