/*
 * flow_dec.c: the flow decoder's frame: exporters and their metrics,
 * sessions, the record batch, the version dispatch and the pending area.
 *
 * Design notes:
 *   - A decoder belongs to one thread. Its sessions and templates live in
 *     fixed tables of slots allocated once at flow_dec_alloc(), each found
 *     through an open-addressing index of (hash, slot) pairs; decoding a
 *     datagram allocates nothing. Slots do not move, so a template names
 *     its session by slot and a session lists its templates.
 *   - Sessions are on lists by last use (moved up at most once a second
 *     of arrival time): all of them, and those holding templates, each
 *     for the decoder and per exporter address. A full table frees the
 *     least recently used session (templates: its templates), never the
 *     one being served; an address holding half a table or more gives up
 *     its own, so an address that floods sessions or templates cannot
 *     push out another's. A freed slot's generation changes, so data held
 *     for the session it was is never replayed into its next one.
 *   - The exporter registry is shared between the decoders of a collector.
 *     Its mutex is taken only to look up an exporter that the decoder's
 *     one-entry cache misses; entries are never freed before the registry,
 *     so pointers held by sessions stay valid. Counters are atomic adds.
 *   - Records are assembled in d->batch and handed to the sink in groups
 *     of up to FLOW_OUT_BATCH, and always before flow_dec_datagram()
 *     returns, so a sink sees records in datagram order.
 *   - Pending data (sets that arrived before their template) sits in one
 *     preallocated byte area. Entries are appended; when the area is full
 *     the oldest are dropped, counted per exporter. A stored template
 *     replays the entries that wait for it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "collector/flow.h"

const char *const flow_reason_names[FLOW_R_COUNT] = {
        [FLOW_R_UNKNOWN_TEMPLATE] = "unknown_template",
        [FLOW_R_TRUNCATED] = "truncated",
        [FLOW_R_BAD_LENGTH] = "bad_length",
        [FLOW_R_BAD_TEMPLATE] = "bad_template",
        [FLOW_R_BAD_VERSION] = "bad_version",
        [FLOW_R_TEMPLATE_LIMIT] = "template_limit",
};

static uint32_t hash_mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return (uint32_t)h;
}

static uint64_t addr_fold(const struct rn_addr *a)
{
	if (a->family == RN_AF_INET)
		return a->u.v4;
	uint64_t x, y;
	memcpy(&x, a->u.v6, 8);
	memcpy(&y, a->u.v6 + 8, 8);
	return x ^ (y * 0x9e3779b97f4a7c15ULL) ^ 0x6000000000000000ULL;
}

static size_t pow2_at_least(size_t n)
{
	size_t c = 16;
	while (c < n)
		c <<= 1;
	return c;
}

/* ---- exporters ------------------------------------------------------------ */

static int exporter_register(struct flow_exporters *x, struct flow_exporter *e)
{
	struct rn_metrics *m = x->metrics;
	char a[RN_ADDR_STRLEN], lab[RN_ADDR_STRLEN + 96];
	int rc = RN_OK;

	if (m == NULL)
		return RN_OK;
	if (e->addr.family == 0)
		snprintf(a, sizeof(a), "other");
	else
		rn_addr_format(&e->addr, a, sizeof(a));
#define EXP_COUNTER(name, help, extra, ptr)                                         \
	do {                                                                        \
		snprintf(lab, sizeof(lab), "exporter=\"%s\"%s", a, extra);          \
		if (rc == RN_OK)                                                    \
			rc = rn_metrics_counter(m, x->owner, name, help, lab, ptr); \
	} while (0)
	EXP_COUNTER("repnet_flow_datagrams_total", "Flow export datagrams decoded, by exporter.",
	            "", &e->datagrams);
	EXP_COUNTER("repnet_flow_records_total", "Flow records decoded, by exporter.", "",
	            &e->records);
	for (int r = 0; r < FLOW_R_COUNT; r++) {
		char extra[48];
		snprintf(extra, sizeof(extra), ",reason=\"%s\"", flow_reason_names[r]);
		EXP_COUNTER("repnet_flow_errors_total",
		            "Flow export defects, by exporter and reason (unknown_template, "
		            "truncated, bad_length, bad_template, bad_version, template_limit).",
		            extra, &e->errors[r]);
	}
	EXP_COUNTER("repnet_flow_sequence_gaps_total",
	            "Sequence number discontinuities, by exporter.", "", &e->seq_gaps);
	EXP_COUNTER("repnet_flow_lost_records_total",
	            "Records (v5, IPFIX) or datagrams (v9, sFlow) missing by sequence numbers.", "",
	            &e->lost_records);
#define TMPL_HELP "Template events, by exporter: stored, replaced, withdrawn, evicted, expired."
	EXP_COUNTER("repnet_flow_templates_total", TMPL_HELP, ",event=\"stored\"", &e->templates);
	EXP_COUNTER("repnet_flow_templates_total", TMPL_HELP, ",event=\"replaced\"",
	            &e->templates_replaced);
	EXP_COUNTER("repnet_flow_templates_total", TMPL_HELP, ",event=\"withdrawn\"",
	            &e->templates_withdrawn);
	EXP_COUNTER("repnet_flow_templates_total", TMPL_HELP, ",event=\"evicted\"",
	            &e->templates_evicted);
	EXP_COUNTER("repnet_flow_templates_total", TMPL_HELP, ",event=\"expired\"",
	            &e->templates_expired);
#undef TMPL_HELP
	EXP_COUNTER("repnet_flow_pending_total",
	            "Data sets that arrived before their template, by exporter and result "
	            "(decoded later, dropped).",
	            ",result=\"decoded\"", &e->pending_decoded);
	EXP_COUNTER("repnet_flow_pending_total",
	            "Data sets that arrived before their template, by exporter and result "
	            "(decoded later, dropped).",
	            ",result=\"dropped\"", &e->pending_dropped);
	EXP_COUNTER("repnet_flow_sflow_stats_samples_total",
	            "sFlow counter samples received (checked, not decoded), by exporter.", "",
	            &e->counter_samples);
#undef EXP_COUNTER
	return rc;
}

int flow_exporters_alloc(struct flow_exporters **out, size_t max, struct rn_metrics *m,
                         const void *owner)
{
	struct flow_exporters *x = calloc(1, sizeof(*x));
	if (x == NULL)
		return -ENOMEM;
	x->nbuckets = pow2_at_least(max);
	x->buckets = calloc(x->nbuckets, sizeof(*x->buckets));
	if (x->buckets == NULL) {
		free(x);
		return -ENOMEM;
	}
	pthread_mutex_init(&x->mu, NULL);
	x->max = max;
	x->metrics = m;
	x->owner = owner != NULL ? owner : (const void *)x;
	int rc = exporter_register(x, &x->other);
	if (rc != RN_OK) {
		flow_exporters_free(x);
		return rc;
	}
	*out = x;
	return RN_OK;
}

void flow_exporters_free(struct flow_exporters *x)
{
	if (x == NULL)
		return;
	if (x->metrics != NULL)
		rn_metrics_unregister(x->metrics, x->owner);
	for (size_t i = 0; i < x->nbuckets; i++) {
		struct flow_exporter *e = x->buckets[i];
		while (e != NULL) {
			struct flow_exporter *n = e->next;
			free(e);
			e = n;
		}
	}
	free(x->buckets);
	pthread_mutex_destroy(&x->mu);
	free(x);
}

struct flow_exporter *flow_exporters_get(struct flow_exporters *x, const struct rn_addr *addr)
{
	size_t b = hash_mix(addr_fold(addr)) & (x->nbuckets - 1);
	struct flow_exporter *e;

	pthread_mutex_lock(&x->mu);
	for (e = x->buckets[b]; e != NULL; e = e->next)
		if (rn_addr_equal(&e->addr, addr))
			goto out;
	if (x->n >= x->max) {
		e = &x->other;
		goto out;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL) {
		e = &x->other;
		goto out;
	}
	e->addr = *addr;
	e->idx = (uint32_t)x->n + 1;
	if (exporter_register(x, e) != RN_OK) {
		/* The registry refused (out of memory): count under "other". */
		free(e);
		e = &x->other;
		goto out;
	}
	e->next = x->buckets[b];
	x->buckets[b] = e;
	x->n++;
out:
	pthread_mutex_unlock(&x->mu);
	return e;
}

static void exporter_sum(const struct flow_exporter *e, struct collector_flow_totals *t)
{
	t->datagrams += rn_counter_get(&e->datagrams);
	t->records += rn_counter_get(&e->records);
	t->unknown_template += rn_counter_get(&e->errors[FLOW_R_UNKNOWN_TEMPLATE]);
	t->truncated += rn_counter_get(&e->errors[FLOW_R_TRUNCATED]);
	t->bad_length += rn_counter_get(&e->errors[FLOW_R_BAD_LENGTH]);
	t->bad_template += rn_counter_get(&e->errors[FLOW_R_BAD_TEMPLATE]);
	t->bad_version += rn_counter_get(&e->errors[FLOW_R_BAD_VERSION]);
	t->template_limit += rn_counter_get(&e->errors[FLOW_R_TEMPLATE_LIMIT]);
	t->sequence_gaps += rn_counter_get(&e->seq_gaps);
	t->templates += rn_counter_get(&e->templates);
	t->templates_evicted += rn_counter_get(&e->templates_evicted);
	t->templates_expired += rn_counter_get(&e->templates_expired);
}

void flow_exporters_totals(struct flow_exporters *x, struct collector_flow_totals *t)
{
	pthread_mutex_lock(&x->mu);
	exporter_sum(&x->other, t);
	for (size_t i = 0; i < x->nbuckets; i++)
		for (struct flow_exporter *e = x->buckets[i]; e != NULL; e = e->next)
			exporter_sum(e, t);
	pthread_mutex_unlock(&x->mu);
}

/* ---- decoder ---------------------------------------------------------------- */

int flow_dec_alloc(struct flow_dec **out, const struct flow_dec_conf *conf,
                   struct flow_exporters *exps, const struct collector_flow_rec_sink *sink)
{
	struct flow_dec *d = calloc(1, sizeof(*d));
	int rc = -ENOMEM;

	if (d == NULL)
		return -ENOMEM;
	d->conf = *conf;
	d->exps = exps;
	if (sink != NULL)
		d->out = *sink;
	/* Slots are taken in order and never touched before (calloc's pages stay untouched). */
	d->ntmpl_cap = conf->max_templates > 0 ? conf->max_templates : 1;
	d->tidx_cap = pow2_at_least(2 * d->ntmpl_cap);
	d->nsessions_cap = 2 * conf->max_templates + 64;
	d->sidx_cap = pow2_at_least(2 * d->nsessions_cap);
	d->naddrs = exps->max + 1;
	d->tmpls = calloc(d->ntmpl_cap, sizeof(*d->tmpls));
	d->tidx = calloc(d->tidx_cap, sizeof(*d->tidx));
	d->sessions = calloc(d->nsessions_cap, sizeof(*d->sessions));
	d->sidx = calloc(d->sidx_cap, sizeof(*d->sidx));
	d->addrs = calloc(d->naddrs, sizeof(*d->addrs));
	if (d->tmpls == NULL || d->tidx == NULL || d->sessions == NULL || d->sidx == NULL ||
	    d->addrs == NULL)
		goto fail;
	rc = flow_pending_alloc(&d->pending, conf->pending_bytes);
	if (rc != RN_OK)
		goto fail;
	*out = d;
	return RN_OK;
fail:
	flow_dec_free(d);
	return rc;
}

void flow_dec_free(struct flow_dec *d)
{
	if (d == NULL)
		return;
	flow_pending_free(d->pending);
	free(d->addrs);
	free(d->sidx);
	free(d->sessions);
	free(d->tidx);
	free(d->tmpls);
	free(d);
}

void flow_dec_count(struct flow_dec *d, struct flow_exporter *e, enum flow_reason r)
{
	rn_counter_add_shared(&e->errors[r], 1);
	switch (r) {
	case FLOW_R_UNKNOWN_TEMPLATE:
		d->tot.unknown_template++;
		break;
	case FLOW_R_TRUNCATED:
		d->tot.truncated++;
		break;
	case FLOW_R_BAD_LENGTH:
		d->tot.bad_length++;
		break;
	case FLOW_R_BAD_TEMPLATE:
		d->tot.bad_template++;
		break;
	case FLOW_R_BAD_VERSION:
		d->tot.bad_version++;
		break;
	case FLOW_R_TEMPLATE_LIMIT:
		d->tot.template_limit++;
		break;
	case FLOW_R_COUNT:
		break;
	}
}

/* ---- indexes ------------------------------------------------------------------ */

void flow_slot_insert(struct flow_slot *ix, size_t cap, uint32_t hash, uint32_t slot)
{
	size_t mask = cap - 1;
	size_t i = hash & mask;
	while (ix[i].slot != 0)
		i = (i + 1) & mask;
	ix[i] = (struct flow_slot){.hash = hash, .slot = slot};
}

void flow_slot_delete(struct flow_slot *ix, size_t cap, uint32_t hash, uint32_t slot)
{
	size_t mask = cap - 1;
	size_t i = hash & mask;
	/* The entry is there: the caller took it from this index. */
	while (ix[i].slot != slot)
		i = (i + 1) & mask;
	/* Backward-shift deletion keeps every probe chain unbroken. */
	for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
		if (ix[j].slot == 0)
			break;
		size_t home = ix[j].hash & mask;
		/* Move j to the hole at i when its home is not in (i, j]. */
		bool between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (!between) {
			ix[i] = ix[j];
			i = j;
		}
	}
	ix[i].slot = 0;
}

/* ---- sessions: lists by last use --------------------------------------------- */

static uint32_t sess_slot(const struct flow_dec *d, const struct flow_session *s)
{
	return (uint32_t)(s - d->sessions) + 1;
}

static struct flow_link *lru_link(struct flow_dec *d, uint32_t slot, int k, bool addr)
{
	struct flow_session *s = &d->sessions[slot - 1];
	return addr ? &s->alk[k] : &s->lk[k];
}

static void lru_unlink(struct flow_dec *d, struct flow_lru *l, uint32_t slot, int k, bool addr)
{
	struct flow_link *n = lru_link(d, slot, k, addr);
	if (n->prev != 0)
		lru_link(d, n->prev, k, addr)->next = n->next;
	else
		l->head = n->next;
	if (n->next != 0)
		lru_link(d, n->next, k, addr)->prev = n->prev;
	else
		l->tail = n->prev;
	n->prev = n->next = 0;
}

static void lru_push(struct flow_dec *d, struct flow_lru *l, uint32_t slot, int k, bool addr)
{
	struct flow_link *n = lru_link(d, slot, k, addr);
	n->prev = 0;
	n->next = l->head;
	if (l->head != 0)
		lru_link(d, l->head, k, addr)->prev = slot;
	else
		l->tail = slot;
	l->head = slot;
}

static struct flow_addr_use *addr_use(struct flow_dec *d, const struct flow_session *s)
{
	uint32_t i = s->exp->idx;
	return &d->addrs[i < d->naddrs ? i : 0];
}

static void lru_join(struct flow_dec *d, struct flow_session *s, int k)
{
	uint32_t slot = sess_slot(d, s);
	lru_push(d, &d->lru[k], slot, k, false);
	lru_push(d, &addr_use(d, s)->lru[k], slot, k, true);
}

static void lru_leave(struct flow_dec *d, struct flow_session *s, int k)
{
	uint32_t slot = sess_slot(d, s);
	lru_unlink(d, &d->lru[k], slot, k, false);
	lru_unlink(d, &addr_use(d, s)->lru[k], slot, k, true);
}

static void session_touch(struct flow_dec *d, struct flow_session *s)
{
	uint32_t slot = sess_slot(d, s);
	struct flow_addr_use *a = addr_use(d, s);
	s->touched_ms = s->last_ms;
	for (int k = 0; k < FLOW_LRU_N; k++) {
		if (k == FLOW_LRU_TMPL && s->ntemplates == 0)
			continue;
		if (d->lru[k].head != slot) {
			lru_unlink(d, &d->lru[k], slot, k, false);
			lru_push(d, &d->lru[k], slot, k, false);
		}
		if (a->lru[k].head != slot) {
			lru_unlink(d, &a->lru[k], slot, k, true);
			lru_push(d, &a->lru[k], slot, k, true);
		}
	}
}

void flow_session_tmpl_count(struct flow_dec *d, struct flow_session *s, int delta)
{
	struct flow_addr_use *a = addr_use(d, s);
	if (delta > 0) {
		if (s->ntemplates++ == 0)
			lru_join(d, s, FLOW_LRU_TMPL);
		a->ntemplates++;
	} else if (s->ntemplates > 0) {
		if (--s->ntemplates == 0)
			lru_leave(d, s, FLOW_LRU_TMPL);
		a->ntemplates--;
	}
}

struct flow_session *flow_session_victim(struct flow_dec *d, int k, uint32_t aidx,
                                         const struct flow_session *keep)
{
	struct flow_addr_use *a = &d->addrs[aidx < d->naddrs ? aidx : 0];
	uint32_t keep_slot = keep != NULL ? sess_slot(d, keep) : 0;
	bool own = k == FLOW_LRU_ALL ? (size_t)a->nsessions * 2 >= d->nsessions_cap
	                             : (size_t)a->ntemplates * 2 >= d->ntmpl_cap;
	/*
	 * An address holding half the table or more gives up its own least
	 * recently used session, and nothing else: so one address, however
	 * many sessions it opens, never pushes out another's.
	 */
	uint32_t slot = own ? a->lru[k].tail : d->lru[k].tail;
	if (slot != 0 && slot == keep_slot)
		slot = lru_link(d, slot, k, own)->prev;
	return slot != 0 ? &d->sessions[slot - 1] : NULL;
}

void flow_session_free(struct flow_dec *d, struct flow_session *s, bool expired)
{
	uint32_t slot = sess_slot(d, s);
	while (s->tmpls != 0) {
		struct flow_tmpl *t = &d->tmpls[s->tmpls - 1];
		if (expired) {
			rn_counter_add_shared(&s->exp->templates_expired, 1);
			d->tot.templates_expired++;
		} else {
			rn_counter_add_shared(&s->exp->templates_evicted, 1);
			d->tot.templates_evicted++;
		}
		flow_tmpl_remove(d, t);
	}
	lru_leave(d, s, FLOW_LRU_ALL);
	flow_slot_delete(d->sidx, d->sidx_cap, s->hash, slot);
	addr_use(d, s)->nsessions--;
	d->nsessions--;
	s->used = false;
	s->gen++; /* data held for it is not replayed into a newcomer of this slot */
	s->nextfree = d->sfree;
	d->sfree = slot;
}

struct flow_session *flow_session_get(struct flow_dec *d, const struct flow_origin *o,
                                      struct flow_exporter *e, uint8_t version, uint32_t domain)
{
	/* NetFlow v9 sessions ignore the port (RFC 3954: address and source ID). */
	uint16_t port = version == 9 ? 0 : o->port;
	uint32_t h = hash_mix(addr_fold(&o->addr) ^ ((uint64_t)port << 48) ^
	                      ((uint64_t)version << 40) ^ ((uint64_t)domain << 8));
	size_t mask = d->sidx_cap - 1;
	struct flow_session *s;

	for (size_t i = h & mask; d->sidx[i].slot != 0; i = (i + 1) & mask) {
		if (d->sidx[i].hash != h)
			continue;
		s = &d->sessions[d->sidx[i].slot - 1];
		if (s->version == version && s->domain == domain && s->port == port &&
		    rn_addr_equal(&s->addr, &o->addr)) {
			if (o->recv_ms > s->last_ms)
				s->last_ms = o->recv_ms;
			if (s->last_ms - s->touched_ms >= 1000)
				session_touch(d, s);
			return s;
		}
	}
	if (d->nsessions >= d->nsessions_cap) {
		struct flow_session *v = flow_session_victim(d, FLOW_LRU_ALL, e->idx, NULL);
		if (v == NULL)
			return NULL; /* the caller counts and drops */
		flow_session_free(d, v, false);
	}
	uint32_t slot;
	if (d->sfree != 0) {
		slot = d->sfree;
		d->sfree = d->sessions[slot - 1].nextfree;
	} else {
		slot = ++d->shw;
	}
	s = &d->sessions[slot - 1];
	uint32_t gen = s->gen;
	memset(s, 0, sizeof(*s));
	s->gen = gen;
	s->used = true;
	s->addr = o->addr;
	s->port = port;
	s->version = version;
	s->domain = domain;
	s->hash = h;
	s->exp = e;
	s->last_ms = s->touched_ms = o->recv_ms;
	flow_slot_insert(d->sidx, d->sidx_cap, h, slot);
	lru_join(d, s, FLOW_LRU_ALL);
	addr_use(d, s)->nsessions++;
	d->nsessions++;
	return s;
}

void flow_session_seq(struct flow_session *s, uint32_t seq, uint32_t advance)
{
	if (s->seq_valid && seq != s->next_seq) {
		rn_counter_add_shared(&s->exp->seq_gaps, 1);
		/* Ahead: that many were lost. Behind (reordering or a restart): none counted. */
		uint32_t ahead = seq - s->next_seq;
		if (ahead < 0x80000000u)
			rn_counter_add_shared(&s->exp->lost_records, ahead);
	}
	s->seq_valid = true;
	s->next_seq = seq + advance;
}

void flow_dec_flush(struct flow_dec *d)
{
	if (d->nbatch == 0)
		return;
	if (d->out.rec != NULL)
		d->out.rec(d->out.arg, d->batch, d->nbatch);
	d->nbatch = 0;
}

struct collector_flow_rec *flow_dec_rec_next(struct flow_dec *d)
{
	if (d->nbatch == FLOW_OUT_BATCH)
		flow_dec_flush(d);
	struct collector_flow_rec *r = &d->batch[d->nbatch];
	memset(r, 0, sizeof(*r));
	return r;
}

void flow_dec_rec_commit(struct flow_dec *d, struct collector_flow_rec *r)
{
	d->nbatch++;
	d->tot.records++;
	d->tot.packets += r->packets + r->rev_packets;
	d->tot.bytes += r->bytes + r->rev_bytes;
}

int flow_dec_datagram(struct flow_dec *d, const struct flow_origin *o, const uint8_t *buf,
                      size_t len)
{
	struct flow_exporter *e = d->last_exp;
	uint64_t before = d->tot.records;
	int rc;

	if (e == NULL || !rn_addr_equal(&e->addr, &o->addr)) {
		e = flow_exporters_get(d->exps, &o->addr);
		d->last_exp = e;
	}
	d->tot.datagrams++;
	d->cur_port = o->port;
	rn_counter_add_shared(&e->datagrams, 1);
	if (len < 4) {
		flow_dec_count(d, e, FLOW_R_TRUNCATED);
		return RN_ETRUNC;
	}
	uint16_t v = (uint16_t)(buf[0] << 8 | buf[1]);
	uint32_t v32 = (uint32_t)v << 16 | (uint32_t)(buf[2] << 8 | buf[3]);
	if (v == 5)
		rc = nf5_decode(d, o, e, buf, len);
	else if (v == 9)
		rc = nf9_decode(d, o, e, buf, len);
	else if (v == 10)
		rc = ipfix_decode(d, o, e, buf, len);
	else if (v32 == 5)
		rc = sflow_decode(d, o, e, buf, len);
	else {
		flow_dec_count(d, e, FLOW_R_BAD_VERSION);
		rc = RN_EVERSION;
	}
	flow_dec_flush(d);
	rn_counter_add_shared(&e->records, d->tot.records - before);
	return rc;
}

/* ---- pending data ------------------------------------------------------------ */

/*
 * An entry in the pending area: this header, then len bytes of set body,
 * padded to 8. Entries are appended at `used`; `start` skips dropped ones.
 */
struct pend_hdr {
	uint32_t size; /* whole entry, padded */
	uint32_t len;  /* set body bytes */
	struct flow_session *s;
	struct flow_exporter *exp; /* counted here: the session may be gone */
	uint32_t gen;              /* s->gen when held; another means s was freed */
	int64_t recv_ms;
	struct flow_timebase tb;
	uint16_t id;
	bool dead;
};

struct flow_pending {
	uint8_t *area;
	size_t cap, start, used;
};

int flow_pending_alloc(struct flow_pending **out, size_t bytes)
{
	struct flow_pending *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	if (bytes > 0) {
		p->area = aligned_alloc(8, (bytes + 7) & ~(size_t)7);
		if (p->area == NULL) {
			free(p);
			return -ENOMEM;
		}
		p->cap = (bytes + 7) & ~(size_t)7;
	}
	*out = p;
	return RN_OK;
}

void flow_pending_free(struct flow_pending *p)
{
	if (p == NULL)
		return;
	free(p->area);
	free(p);
}

static struct pend_hdr *pend_at(struct flow_pending *p, size_t off)
{
	return (struct pend_hdr *)(void *)(p->area + off);
}

/* Drops the first live entry, counting it; returns false when empty. */
static bool pend_drop_oldest(struct flow_dec *d)
{
	struct flow_pending *p = d->pending;
	while (p->start < p->used) {
		struct pend_hdr *h = pend_at(p, p->start);
		p->start += h->size;
		if (!h->dead) {
			rn_counter_add_shared(&h->exp->pending_dropped, 1);
			return true;
		}
	}
	p->start = p->used = 0;
	return false;
}

static void pend_compact(struct flow_pending *p)
{
	size_t w = 0;
	for (size_t r = p->start; r < p->used;) {
		struct pend_hdr *h = pend_at(p, r);
		size_t sz = h->size;
		if (!h->dead) {
			if (w != r)
				memmove(p->area + w, p->area + r, sz);
			w += sz;
		}
		r += sz;
	}
	p->start = 0;
	p->used = w;
}

void flow_pending_add(struct flow_dec *d, struct flow_session *s, uint16_t id,
                      const struct flow_timebase *tb, const uint8_t *buf, size_t len,
                      int64_t recv_ms)
{
	struct flow_pending *p = d->pending;
	size_t need = (sizeof(struct pend_hdr) + len + 7) & ~(size_t)7;

	flow_dec_count(d, s->exp, FLOW_R_UNKNOWN_TEMPLATE);
	if (d->replaying)
		return;
	if (need > p->cap) {
		rn_counter_add_shared(&s->exp->pending_dropped, 1);
		return;
	}
	flow_dec_expire(d, recv_ms);
	if (p->cap - p->used < need)
		pend_compact(p);
	while (p->cap - p->used < need) {
		if (!pend_drop_oldest(d))
			break;
		pend_compact(p);
	}
	if (p->cap - p->used < need) {
		rn_counter_add_shared(&s->exp->pending_dropped, 1);
		return;
	}
	struct pend_hdr *h = pend_at(p, p->used);
	h->size = (uint32_t)need;
	h->len = (uint32_t)len;
	h->s = s;
	h->exp = s->exp;
	h->gen = s->gen;
	h->recv_ms = recv_ms;
	h->tb = *tb;
	h->id = id;
	h->dead = false;
	memcpy(h + 1, buf, len);
	p->used += need;
}

void flow_pending_replay(struct flow_dec *d, struct flow_session *s, uint16_t id)
{
	struct flow_pending *p = d->pending;
	if (d->replaying)
		return;
	d->replaying = true;
	for (size_t off = p->start; off < p->used;) {
		struct pend_hdr *h = pend_at(p, off);
		off += h->size;
		if (h->dead || h->s != s || h->gen != s->gen || h->id != id)
			continue;
		const struct flow_tmpl *t = flow_tmpl_find(d, s, id);
		if (t == NULL)
			break;
		h->dead = true;
		rn_counter_add_shared(&s->exp->pending_decoded, 1);
		/* Records count toward the datagram being decoded now. */
		(void)flow_tmpl_data_decode(d, s, t, &h->tb, (const uint8_t *)(h + 1), h->len,
		                            NULL);
	}
	d->replaying = false;
}

void flow_dec_expire(struct flow_dec *d, int64_t now_ms)
{
	struct flow_pending *p = d->pending;
	while (p->start < p->used) {
		struct pend_hdr *h = pend_at(p, p->start);
		if (!h->dead && now_ms - h->recv_ms <= d->conf.pending_max_age_ms)
			break;
		if (!h->dead)
			rn_counter_add_shared(&h->exp->pending_dropped, 1);
		p->start += h->size;
	}
	if (p->start == p->used)
		p->start = p->used = 0;
}
