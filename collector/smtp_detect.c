/*
 * smtp_detect.c: SMTP detectors with bounded per-address state.
 *
 * Design notes:
 *   - State lives in three fixed tables allocated at start and never
 *     grown: addresses (detect.max_addresses), hashed SASL user names
 *     (detect.max_users) and queue ids (detect.max_queue_ids). A full
 *     table evicts its least recently used entry (queue ids: the oldest),
 *     and every eviction is counted. Lookups are chained hashing over
 *     array indices, so the hot path never allocates.
 *   - Windows are two-bucket sliding windows (the current bucket plus
 *     the previous one weighted by how much of it still overlaps): 16
 *     bytes per window, within one event of an exact count for steady
 *     rates. Time is event time: the time of the log line, so replays
 *     detect what live collection would have.
 *   - A detector fires when its window reaches the threshold, then stays
 *     quiet for that address for one window, so a sustained attack gives
 *     one signal per window, whose count is the events in the window.
 *   - Table buckets come from SipHash with a random key, so clients that
 *     choose their addresses (any IPv6 /64) cannot aim them at one chain.
 *   - SASL user names are hashed with a keyed BLAKE2b (libsodium
 *     crypto_generichash, 16-byte output) and only the hash is kept; the
 *     name itself is never copied. Recipients are compared with the trap
 *     list in place and never copied either.
 *   - Not thread-safe: the pipeline that owns a detector serialises calls.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <strings.h>

#include <sodium.h>

#include "collector/smtp.h"

const char *const smtp_det_names[8] = {"sasl_fast",   "sasl_slow",    "sasl_distributed",
                                       "harvest",     "protocol_bot", "rbl_confirmed",
                                       "relay_probe", "conn_flood"};

enum { W_SASL_FAST, W_SASL_SLOW, W_HARVEST, W_BOT, W_RELAY, W_FLOOD_PS, W_FLOOD_SMTPD, W_COUNT };

struct win {
	int64_t start;
	float cur;
	float prev;
};

#define NIL UINT32_MAX

struct det_addr {
	struct rn_addr addr;
	uint32_t hnext;
	uint32_t lprev, lnext; /* LRU list: head is the most recent */
	struct win w[W_COUNT];
	int64_t quiet[8]; /* by SMTP_DET_*: no signal before this time */
};

struct user_slot {
	struct rn_addr addr;
	int64_t ts;       /* last failure from addr */
	int64_t reported; /* signalled until (quiet) */
};

struct det_user {
	uint8_t key[16];
	uint32_t hnext;
	uint32_t lprev, lnext;
	uint32_t nslots;
	struct user_slot *slots; /* into smtp_detect.user_slots */
};

struct det_qid {
	char id[24];
	uint8_t len;
	bool trapped;
	uint32_t hnext;
	struct rn_addr addr;
};

struct lru {
	uint32_t head, tail;
};

struct smtp_detect {
	const struct collector_smtp_conf *conf;
	uint8_t key[crypto_generichash_KEYBYTES];
	uint8_t hkey[crypto_shorthash_KEYBYTES];

	struct det_addr *addrs;
	uint32_t *addr_hash;
	uint32_t addr_cap, addr_n, addr_mask;
	struct lru addr_lru;

	struct det_user *users;
	struct user_slot *user_slots;
	uint32_t *user_hash;
	uint32_t user_cap, user_n, user_mask, slots_per_user;
	struct lru user_lru;

	struct det_qid *qids;
	uint32_t *qid_hash;
	uint32_t qid_cap, qid_n, qid_mask, qid_next;

	struct smtp_detect_stats stats;
};

static uint64_t keyed_hash(const struct smtp_detect *d, const void *p, size_t n)
{
	uint8_t out[crypto_shorthash_BYTES];
	uint64_t v;
	crypto_shorthash(out, p, n, d->hkey);
	memcpy(&v, out, sizeof(v));
	return v;
}

static uint32_t pow2_at_least(uint64_t n)
{
	uint32_t p = 1;
	while (p < n && p < (1u << 30))
		p <<= 1;
	return p;
}

/*
 * Table hashes are keyed (SipHash-2-4 with a random key per detector): a
 * client chooses its IPv6 address and its queue ids' recipients freely,
 * and must not be able to aim many entries at one bucket.
 */
static uint64_t keyed_hash(const struct smtp_detect *d, const void *p, size_t n);

static uint64_t addr_hashv_k(const struct smtp_detect *d, const struct rn_addr *a)
{
	if (a->family == RN_AF_INET)
		return keyed_hash(d, &a->u.v4, 4);
	return keyed_hash(d, a->u.v6, 16);
}

/* ---- LRU lists over arrays; prev/next fields are passed as offsets. ---- */

#define LRU_UNLINK(arr, lru, i)                                    \
	do {                                                       \
		uint32_t p_ = (arr)[i].lprev, n_ = (arr)[i].lnext; \
		if (p_ != NIL)                                     \
			(arr)[p_].lnext = n_;                      \
		else                                               \
			(lru).head = n_;                           \
		if (n_ != NIL)                                     \
			(arr)[n_].lprev = p_;                      \
		else                                               \
			(lru).tail = p_;                           \
	} while (0)

#define LRU_PUSH(arr, lru, i)                          \
	do {                                           \
		(arr)[i].lprev = NIL;                  \
		(arr)[i].lnext = (lru).head;           \
		if ((lru).head != NIL)                 \
			(arr)[(lru).head].lprev = (i); \
		(lru).head = (i);                      \
		if ((lru).tail == NIL)                 \
			(lru).tail = (i);              \
	} while (0)

/* ---- windows ---- */

static float win_add(struct win *w, int64_t t, int64_t len, float x)
{
	if (w->start == 0 || t >= w->start + 2 * len) {
		w->start = t;
		w->cur = 0;
		w->prev = 0;
	} else if (t >= w->start + len) {
		w->prev = w->cur;
		w->cur = 0;
		w->start += len;
	}
	w->cur += x;
	double frac = t <= w->start ? 0 : (double)(t - w->start) / (double)len;
	if (frac > 1)
		frac = 1;
	return (float)(w->cur + w->prev * (1 - frac));
}

/* ---- tables ---- */

static struct det_addr *addr_get(struct smtp_detect *d, const struct rn_addr *a)
{
	uint32_t b = (uint32_t)addr_hashv_k(d, a) & d->addr_mask;
	for (uint32_t i = d->addr_hash[b]; i != NIL; i = d->addrs[i].hnext) {
		if (rn_addr_equal(&d->addrs[i].addr, a)) {
			if (d->addr_lru.head != i) {
				LRU_UNLINK(d->addrs, d->addr_lru, i);
				LRU_PUSH(d->addrs, d->addr_lru, i);
			}
			return &d->addrs[i];
		}
	}
	uint32_t i;
	if (d->addr_n < d->addr_cap) {
		i = d->addr_n++;
		rn_gauge_set(&d->stats.tracked_addrs, d->addr_n);
	} else {
		/* Evict the least recently seen address. */
		i = d->addr_lru.tail;
		LRU_UNLINK(d->addrs, d->addr_lru, i);
		uint32_t ob = (uint32_t)addr_hashv_k(d, &d->addrs[i].addr) & d->addr_mask;
		uint32_t *pp = &d->addr_hash[ob];
		while (*pp != i)
			pp = &d->addrs[*pp].hnext;
		*pp = d->addrs[i].hnext;
		rn_counter_inc(&d->stats.evicted_addrs);
	}
	struct det_addr *e = &d->addrs[i];
	memset(e, 0, sizeof(*e));
	e->addr = *a;
	e->hnext = d->addr_hash[b];
	d->addr_hash[b] = i;
	LRU_PUSH(d->addrs, d->addr_lru, i);
	return e;
}

static struct det_user *user_get(struct smtp_detect *d, const uint8_t key[16])
{
	uint64_t hv;
	memcpy(&hv, key, 8);
	uint32_t b = (uint32_t)hv & d->user_mask;
	for (uint32_t i = d->user_hash[b]; i != NIL; i = d->users[i].hnext) {
		if (memcmp(d->users[i].key, key, 16) == 0) {
			if (d->user_lru.head != i) {
				LRU_UNLINK(d->users, d->user_lru, i);
				LRU_PUSH(d->users, d->user_lru, i);
			}
			return &d->users[i];
		}
	}
	uint32_t i;
	if (d->user_n < d->user_cap) {
		i = d->user_n++;
		rn_gauge_set(&d->stats.tracked_users, d->user_n);
	} else {
		i = d->user_lru.tail;
		LRU_UNLINK(d->users, d->user_lru, i);
		uint64_t ohv;
		memcpy(&ohv, d->users[i].key, 8);
		uint32_t *pp = &d->user_hash[(uint32_t)ohv & d->user_mask];
		while (*pp != i)
			pp = &d->users[*pp].hnext;
		*pp = d->users[i].hnext;
		rn_counter_inc(&d->stats.evicted_users);
	}
	struct det_user *u = &d->users[i];
	memcpy(u->key, key, 16);
	u->nslots = 0;
	u->slots = d->user_slots + (size_t)i * d->slots_per_user;
	u->hnext = d->user_hash[b];
	d->user_hash[b] = i;
	LRU_PUSH(d->users, d->user_lru, i);
	return u;
}

static struct det_qid *qid_find(struct smtp_detect *d, const uint8_t *id, size_t n)
{
	if (n == 0 || n > sizeof(d->qids[0].id))
		return NULL;
	uint32_t b = (uint32_t)keyed_hash(d, id, n) & d->qid_mask;
	for (uint32_t i = d->qid_hash[b]; i != NIL; i = d->qids[i].hnext)
		if (d->qids[i].len == n && memcmp(d->qids[i].id, id, n) == 0)
			return &d->qids[i];
	return NULL;
}

static struct det_qid *qid_put(struct smtp_detect *d, const uint8_t *id, size_t n,
                               const struct rn_addr *a)
{
	if (n == 0 || n > sizeof(d->qids[0].id))
		return NULL;
	struct det_qid *q = qid_find(d, id, n);
	if (q != NULL) {
		q->addr = *a;
		return q;
	}
	/* A ring: the slot after the newest is the oldest. */
	uint32_t i = d->qid_next;
	d->qid_next = (d->qid_next + 1) % d->qid_cap;
	if (d->qid_n < d->qid_cap) {
		d->qid_n++;
	} else {
		struct det_qid *o = &d->qids[i];
		uint32_t *pp = &d->qid_hash[(uint32_t)keyed_hash(d, o->id, o->len) & d->qid_mask];
		while (*pp != i)
			pp = &d->qids[*pp].hnext;
		*pp = o->hnext;
		rn_counter_inc(&d->stats.evicted_qids);
	}
	uint32_t b = (uint32_t)keyed_hash(d, id, n) & d->qid_mask;
	q = &d->qids[i];
	memcpy(q->id, id, n);
	q->len = (uint8_t)n;
	q->trapped = false;
	q->addr = *a;
	q->hnext = d->qid_hash[b];
	d->qid_hash[b] = i;
	return q;
}

/* ---- lifecycle ---- */

int smtp_detect_alloc(struct smtp_detect **out, const struct collector_smtp_conf *conf,
                      const uint8_t key[32])
{
	struct smtp_detect *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return -ENOMEM;
	d->conf = conf;
	memcpy(d->key, key, sizeof(d->key));
	randombytes_buf(d->hkey, sizeof(d->hkey));
	d->addr_cap = (uint32_t)conf->det_max_addrs;
	d->user_cap = (uint32_t)conf->det_max_users;
	d->qid_cap = (uint32_t)conf->det_max_qids;
	d->slots_per_user = (uint32_t)(conf->sasl_dist_addrs * 2);
	if (d->slots_per_user < 8)
		d->slots_per_user = 8;
	uint32_t ab = pow2_at_least((uint64_t)d->addr_cap * 2);
	uint32_t ub = pow2_at_least((uint64_t)d->user_cap * 2);
	uint32_t qb = pow2_at_least((uint64_t)d->qid_cap * 2);
	d->addr_mask = ab - 1;
	d->user_mask = ub - 1;
	d->qid_mask = qb - 1;
	d->addrs = calloc(d->addr_cap, sizeof(*d->addrs));
	d->addr_hash = malloc((size_t)ab * sizeof(uint32_t));
	d->users = calloc(d->user_cap, sizeof(*d->users));
	d->user_slots = calloc((size_t)d->user_cap * d->slots_per_user, sizeof(*d->user_slots));
	d->user_hash = malloc((size_t)ub * sizeof(uint32_t));
	d->qids = calloc(d->qid_cap, sizeof(*d->qids));
	d->qid_hash = malloc((size_t)qb * sizeof(uint32_t));
	if (d->addrs == NULL || d->addr_hash == NULL || d->users == NULL || d->user_slots == NULL ||
	    d->user_hash == NULL || d->qids == NULL || d->qid_hash == NULL)
		goto fail;
	memset(d->addr_hash, 0xff, (size_t)ab * sizeof(uint32_t));
	memset(d->user_hash, 0xff, (size_t)ub * sizeof(uint32_t));
	memset(d->qid_hash, 0xff, (size_t)qb * sizeof(uint32_t));
	d->addr_lru.head = d->addr_lru.tail = NIL;
	d->user_lru.head = d->user_lru.tail = NIL;
	*out = d;
	return RN_OK;
fail:
	smtp_detect_free(d);
	return -ENOMEM;
}

void smtp_detect_free(struct smtp_detect *d)
{
	if (d == NULL)
		return;
	free(d->qid_hash);
	free(d->qids);
	free(d->user_hash);
	free(d->user_slots);
	free(d->users);
	free(d->addr_hash);
	free(d->addrs);
	sodium_memzero(d->key, sizeof(d->key));
	free(d);
}

struct smtp_detect_stats *smtp_detect_stats(struct smtp_detect *d)
{
	return &d->stats;
}

/* ---- emission ---- */

void smtp_event_to_obs(const struct smtp_event *ev, int64_t ts_ms, struct rn_obs *o)
{
	memset(o, 0, sizeof(*o));
	o->addr = ev->addr;
	o->source = ev->source;
	o->kind = ev->kind;
	o->count = 1;
	o->ts_ms = ts_ms;
	memcpy(o->evidence, ev->evidence, (size_t)ev->ev_len + 1);
	size_t n = strlen(ev->daemon);
	if (n >= RN_PROGRAM_MAX)
		n = RN_PROGRAM_MAX - 1;
	memcpy(o->program, ev->daemon, n);
}

struct emit {
	struct rn_obs *out;
	size_t cap, n;
	const struct smtp_event *ev;
	int64_t ts;
};

static void emit_sig(struct smtp_detect *d, struct emit *e, const struct rn_addr *a,
                     enum smtp_det det, uint16_t kind, float count, const char *evidence,
                     size_t evlen)
{
	if (e->n >= e->cap)
		return;
	struct rn_obs *o = &e->out[e->n++];
	smtp_event_to_obs(e->ev, e->ts, o);
	o->addr = *a;
	o->kind = kind;
	o->count = count < 1 ? 1 : (uint32_t)lrintf(count);
	rn_obs_set_evidence(o, evidence, evlen);
	rn_counter_inc(&d->stats.signals[det]);
}

/* Fires det when v reached threshold and the address is not quiet. */
static void check(struct smtp_detect *d, struct emit *e, struct det_addr *s, enum smtp_det det,
                  uint16_t kind, float v, double threshold, int64_t window, const char *evidence)
{
	if ((double)v + 1e-4 < threshold || e->ts < s->quiet[det])
		return;
	s->quiet[det] = e->ts + window;
	emit_sig(d, e, &s->addr, det, kind, v, evidence, strlen(evidence));
}

static bool ieq(const uint8_t *a, size_t an, const char *b)
{
	size_t bn = strlen(b);
	return an == bn && strncasecmp((const char *)a, b, an) == 0;
}

/* True when one recipient is a configured trap (address or "@domain"). */
static bool rcpt_is_trap(const struct rn_strlist *traps, const uint8_t *r, size_t n)
{
	for (size_t i = 0; i < traps->n; i++) {
		const char *t = traps->v[i];
		size_t tn = strlen(t);
		if (t[0] == '@') {
			if (n > tn && strncasecmp((const char *)r + n - tn, t, tn) == 0)
				return true;
		} else if (ieq(r, n, t)) {
			return true;
		}
	}
	return false;
}

/* rcpt may be a space-separated list (Exim's "for a b c"). */
static bool rcpts_hit_trap(const struct rn_strlist *traps, const uint8_t *r, size_t n)
{
	const uint8_t *p = r, *end = r + n;
	while (p < end) {
		const uint8_t *sp = memchr(p, ' ', (size_t)(end - p));
		const uint8_t *e = sp != NULL ? sp : end;
		if (e > p && rcpt_is_trap(traps, p, (size_t)(e - p)))
			return true;
		p = e + 1;
	}
	return false;
}

static void spamtrap(struct smtp_detect *d, struct emit *e, const struct rn_addr *a)
{
	if (e->n >= e->cap)
		return;
	struct rn_obs *o = &e->out[e->n++];
	smtp_event_to_obs(e->ev, e->ts, o);
	o->addr = *a;
	o->kind = RN_KIND_SPAMTRAP;
	rn_obs_set_evidence(o, "spamtrap", 8);
	(void)d;
}

static void sasl_distributed(struct smtp_detect *d, struct emit *e, const struct smtp_event *ev)
{
	const struct collector_smtp_conf *c = d->conf;
	uint8_t h[16];
	crypto_generichash(h, sizeof(h), ev->user, ev->user_len, d->key, sizeof(d->key));
	struct det_user *u = user_get(d, h);
	int64_t t = e->ts, horizon = t - c->sasl_dist_window_ms;

	struct user_slot *s = NULL;
	for (uint32_t i = 0; i < u->nslots; i++) {
		if (rn_addr_equal(&u->slots[i].addr, &ev->addr)) {
			s = &u->slots[i];
			break;
		}
	}
	if (s == NULL) {
		if (u->nslots < d->slots_per_user) {
			s = &u->slots[u->nslots++];
		} else {
			/* Replace the address that failed least recently. */
			s = &u->slots[0];
			for (uint32_t i = 1; i < u->nslots; i++)
				if (u->slots[i].ts < s->ts)
					s = &u->slots[i];
		}
		s->addr = ev->addr;
		s->reported = 0;
	}
	if (t > s->ts)
		s->ts = t;
	uint32_t live = 0;
	for (uint32_t i = 0; i < u->nslots; i++)
		if (u->slots[i].ts >= horizon)
			live++;
	if (live < (uint32_t)c->sasl_dist_addrs)
		return;
	char evb[RN_EVIDENCE_MAX];
	int n = snprintf(evb, sizeof(evb), "sasl:dist %u", live);
	for (uint32_t i = 0; i < u->nslots; i++) {
		struct user_slot *x = &u->slots[i];
		if (x->ts < horizon || t < x->reported)
			continue;
		x->reported = t + c->sasl_dist_window_ms;
		emit_sig(d, e, &x->addr, SMTP_DET_SASL_DIST, RN_KIND_SASL_DISTRIBUTED, (float)live,
		         evb, (size_t)n);
	}
}

size_t smtp_detect_line(struct smtp_detect *d, int64_t ts_ms, const struct smtp_event *ev,
                        bool is_event, struct rn_obs *out, size_t cap)
{
	struct emit e = {.out = out, .cap = cap, .ev = ev, .ts = ts_ms};
	if (is_event && cap > 0)
		smtp_event_to_obs(ev, ts_ms, &out[e.n++]);
	if (d == NULL)
		return e.n;
	const struct collector_smtp_conf *c = d->conf;

	/* Spamtrap: a message or a rejected recipient addressed to a trap. */
	if (c->spamtraps.n > 0) {
		if (ev->qid_role == SMTP_QID_CLIENT) {
			struct det_qid *q = qid_put(d, ev->qid, ev->qid_len, &ev->addr);
			if (q != NULL && ev->rcpt_len > 0 &&
			    rcpts_hit_trap(&c->spamtraps, ev->rcpt, ev->rcpt_len)) {
				q->trapped = true;
				spamtrap(d, &e, &ev->addr);
			}
		} else if (ev->qid_role == SMTP_QID_DELIVERY) {
			struct det_qid *q = qid_find(d, ev->qid, ev->qid_len);
			if (q != NULL && !q->trapped &&
			    rcpt_is_trap(&c->spamtraps, ev->rcpt, ev->rcpt_len)) {
				q->trapped = true;
				spamtrap(d, &e, &q->addr);
			}
		} else if (is_event && ev->rcpt_len > 0 &&
		           rcpts_hit_trap(&c->spamtraps, ev->rcpt, ev->rcpt_len)) {
			spamtrap(d, &e, &ev->addr);
		}
	}
	if (!is_event)
		return e.n;

	struct det_addr *s;
	float v;
	switch (ev->kind) {
	case RN_KIND_SASL_FAIL:
		s = addr_get(d, &ev->addr);
		v = win_add(&s->w[W_SASL_FAST], ts_ms, c->sasl_fast_window_ms, 1);
		check(d, &e, s, SMTP_DET_SASL_FAST, RN_KIND_SASL_BRUTEFORCE, v,
		      (double)c->sasl_fast_threshold, c->sasl_fast_window_ms, "sasl:fast");
		v = win_add(&s->w[W_SASL_SLOW], ts_ms, c->sasl_slow_window_ms, 1);
		/* The slow detector speaks only when the fast one is quiet. */
		if (ts_ms >= s->quiet[SMTP_DET_SASL_FAST] || s->quiet[SMTP_DET_SASL_FAST] == 0)
			check(d, &e, s, SMTP_DET_SASL_SLOW, RN_KIND_SASL_BRUTEFORCE, v,
			      (double)c->sasl_slow_threshold, c->sasl_slow_window_ms, "sasl:slow");
		if (ev->user_len > 0)
			sasl_distributed(d, &e, ev);
		break;
	case RN_KIND_UNKNOWN_RECIPIENT:
		s = addr_get(d, &ev->addr);
		v = win_add(&s->w[W_HARVEST], ts_ms, c->harvest_window_ms, 1);
		check(d, &e, s, SMTP_DET_HARVEST, RN_KIND_HARVEST, v, (double)c->harvest_threshold,
		      c->harvest_window_ms, "harvest");
		break;
	case RN_KIND_PREGREET:
	case RN_KIND_PIPELINING:
	case RN_KIND_NON_SMTP:
	case RN_KIND_HANGUP:
	case RN_KIND_PROTOCOL_ERROR: {
		double w = ev->kind == RN_KIND_PREGREET     ? c->bot_w_pregreet
		           : ev->kind == RN_KIND_PIPELINING ? c->bot_w_pipelining
		           : ev->kind == RN_KIND_NON_SMTP   ? c->bot_w_non_smtp
		           : ev->kind == RN_KIND_HANGUP     ? c->bot_w_hangup
		                                            : c->bot_w_protocol;
		if (w <= 0)
			break;
		s = addr_get(d, &ev->addr);
		v = win_add(&s->w[W_BOT], ts_ms, c->bot_window_ms, (float)w);
		check(d, &e, s, SMTP_DET_BOT, RN_KIND_PROTOCOL_BOT, v, c->bot_threshold,
		      c->bot_window_ms, "bot");
		break;
	}
	case RN_KIND_RELAY_DENIED:
		s = addr_get(d, &ev->addr);
		v = win_add(&s->w[W_RELAY], ts_ms, c->relay_window_ms, 1);
		check(d, &e, s, SMTP_DET_RELAY, RN_KIND_RELAY_PROBE, v, (double)c->relay_threshold,
		      c->relay_window_ms, "relay");
		break;
	case RN_KIND_SMTP_CONNECT: {
		s = addr_get(d, &ev->addr);
		bool ps = ev->prog == SMTP_PROG_POSTSCREEN;
		v = win_add(&s->w[ps ? W_FLOOD_PS : W_FLOOD_SMTPD], ts_ms, c->flood_window_ms, 1);
		check(d, &e, s, SMTP_DET_FLOOD, RN_KIND_CONN_FLOOD, v, (double)c->flood_threshold,
		      c->flood_window_ms, "flood");
		break;
	}
	case RN_KIND_RBL_LISTED: {
		if (ev->ev_len <= 4 || memcmp(ev->evidence, "rbl:", 4) != 0)
			break;
		const uint8_t *zone = (const uint8_t *)ev->evidence + 4;
		size_t zn = ev->ev_len - 4u;
		bool trusted = c->rbl_zones.n == 0;
		for (size_t i = 0; i < c->rbl_zones.n && !trusted; i++)
			trusted = ieq(zone, zn, c->rbl_zones.v[i]);
		if (!trusted)
			break;
		s = addr_get(d, &ev->addr);
		if (ts_ms < s->quiet[SMTP_DET_RBL])
			break;
		s->quiet[SMTP_DET_RBL] = ts_ms + c->rbl_window_ms;
		emit_sig(d, &e, &s->addr, SMTP_DET_RBL, RN_KIND_RBL_CONFIRMED, 1, ev->evidence,
		         ev->ev_len);
		break;
	}
	default:
		break;
	}
	return e.n;
}
