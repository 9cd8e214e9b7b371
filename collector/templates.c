/*
 * templates.c: the NetFlow v9 and IPFIX template cache of a decoder, and
 * the parsing of template sets into it (definitions and withdrawals).
 *
 * Design notes:
 *   - A template set is parsed field by field through a bounded cursor;
 *     each template is validated and compiled (flow_tmpl_compile(),
 *     flow_ie.c) before it is stored. A refused template is counted and
 *     skipped: its extent is known, so later templates of the set still
 *     parse. A stored template releases the data held for it.
 *   - Templates live in a fixed table of slots, found through an
 *     open-addressing index keyed by (session slot, template ID), linear
 *     probing with backward-shift deletion, so no tombstones accumulate;
 *     each session lists its own, so evicting, expiring or withdrawing a
 *     session's templates never scans the table. Replacing a template
 *     overwrites it in place: data decoded afterwards uses the new layout;
 *     nothing holds a pointer across datagrams.
 *   - Caps. A session (the "exporter" of the caps: v9 address and source
 *     ID, IPFIX address, port and domain) holds at most
 *     max_templates_per_exporter; more are refused and counted as
 *     template_limit. When the table (max_templates) is full, a new
 *     template evicts every template of the least recently used other
 *     session, taken from its own address once that address holds half
 *     the table (flow_session_victim()); a newcomer is never refused.
 *   - Lifetime (RFC 7011 section 8.4): a template is valid for
 *     template_lifetime_ms after the exporter last sent it; sending it
 *     again renews it. One found expired when data arrives is removed then
 *     (the data waits for a fresh one); flow_tmpl_expire() sweeps the rest
 *     once a second, and frees sessions idle that long.
 *   - Thread: the decoder's thread only.
 */
#include <stdio.h>

#include "collector/flow.h"

static const char *exporter_name(const struct flow_session *s, char *buf, size_t len)
{
	char a[RN_ADDR_STRLEN];
	rn_addr_format(&s->addr, a, sizeof(a));
	if (s->version == 9)
		snprintf(buf, len, "%s source ID %u", a, s->domain);
	else
		snprintf(buf, len, "%s port %u domain %u", a, s->port, s->domain);
	return buf;
}

/* ---- the cache ------------------------------------------------------------------ */

static uint32_t sess_index(const struct flow_dec *d, const struct flow_session *s)
{
	return (uint32_t)(s - d->sessions) + 1;
}

static uint32_t tmpl_hash(uint32_t session, uint16_t id)
{
	uint64_t h = ((uint64_t)session << 16 | id) * 0x9e3779b97f4a7c15ULL;
	return (uint32_t)(h >> 32);
}

struct flow_tmpl *flow_tmpl_find(struct flow_dec *d, const struct flow_session *s, uint16_t id)
{
	uint32_t si = sess_index(d, s);
	uint32_t h = tmpl_hash(si, id);
	size_t mask = d->tidx_cap - 1;
	for (size_t i = h & mask; d->tidx[i].slot != 0; i = (i + 1) & mask) {
		if (d->tidx[i].hash != h)
			continue;
		struct flow_tmpl *t = &d->tmpls[d->tidx[i].slot - 1];
		if (t->session == si && t->id == id)
			return t;
	}
	return NULL;
}

void flow_tmpl_remove(struct flow_dec *d, struct flow_tmpl *t)
{
	uint32_t slot = (uint32_t)(t - d->tmpls) + 1;
	struct flow_session *s = &d->sessions[t->session - 1];

	flow_slot_delete(d->tidx, d->tidx_cap, t->hash, slot);
	if (t->prev != 0)
		d->tmpls[t->prev - 1].next = t->next;
	else
		s->tmpls = t->next;
	if (t->next != 0)
		d->tmpls[t->next - 1].prev = t->prev;
	flow_session_tmpl_count(d, s, -1);
	t->session = 0;
	t->prev = 0;
	t->next = d->tfree;
	d->tfree = slot;
	d->ntmpl--;
	d->tmpl_dirty = true;
}

static bool tmpl_same(const struct flow_tmpl *a, const struct flow_tmpl *b)
{
	if (a->nfields != b->nfields || a->nscope != b->nscope || a->options != b->options)
		return false;
	for (uint16_t i = 0; i < a->nfields; i++)
		if (a->f[i].ie != b->f[i].ie || a->f[i].len != b->f[i].len ||
		    a->f[i].pen != b->f[i].pen)
			return false;
	return true;
}

/* Evicts the templates of the session the caps pick to make room for one of s's. */
static bool tmpl_make_room(struct flow_dec *d, struct flow_session *s)
{
	struct flow_session *v = flow_session_victim(d, FLOW_LRU_TMPL, s->exp->idx, s);
	if (v == NULL)
		return false;
	while (v->tmpls != 0) {
		rn_counter_add_shared(&v->exp->templates_evicted, 1);
		d->tot.templates_evicted++;
		flow_tmpl_remove(d, &d->tmpls[v->tmpls - 1]);
	}
	return true;
}

int flow_tmpl_store(struct flow_dec *d, struct flow_session *s, const struct flow_tmpl *in)
{
	struct flow_tmpl *t = flow_tmpl_find(d, s, in->id);
	uint32_t si = sess_index(d, s);

	if (t != NULL) {
		if (!tmpl_same(t, in)) {
			rn_counter_add_shared(&s->exp->templates_replaced, 1);
			d->tmpl_dirty = true;
		} else if (in->learned_ms != t->learned_ms) {
			d->tmpl_refreshed = true;
		}
		/* In place: the slot, its index entry and its session's list stay. */
		uint32_t h = t->hash, next = t->next, prev = t->prev;
		*t = *in;
		t->session = si;
		t->hash = h;
		t->next = next;
		t->prev = prev;
		return RN_OK;
	}
	if (s->ntemplates >= d->conf.max_templates_per_exporter)
		return RN_ELIMIT;
	if (d->ntmpl >= d->ntmpl_cap && !tmpl_make_room(d, s))
		return RN_ELIMIT;
	uint32_t slot;
	if (d->tfree != 0) {
		slot = d->tfree;
		d->tfree = d->tmpls[slot - 1].next;
	} else {
		slot = ++d->thw;
	}
	t = &d->tmpls[slot - 1];
	*t = *in;
	t->session = si;
	t->hash = tmpl_hash(si, in->id);
	t->prev = 0;
	t->next = s->tmpls;
	if (s->tmpls != 0)
		d->tmpls[s->tmpls - 1].prev = slot;
	s->tmpls = slot;
	flow_slot_insert(d->tidx, d->tidx_cap, t->hash, slot);
	flow_session_tmpl_count(d, s, +1);
	d->ntmpl++;
	d->tmpl_dirty = true;
	rn_counter_add_shared(&s->exp->templates, 1);
	d->tot.templates++;
	return RN_OK;
}

/* Withdraws one template (id >= 256) or all of a kind (id 2 or 3, IPFIX). */
static void tmpl_withdraw(struct flow_dec *d, struct flow_session *s, uint16_t set_id, uint16_t id)
{
	if (id >= 256) {
		struct flow_tmpl *t = flow_tmpl_find(d, s, id);
		if (t != NULL) {
			flow_tmpl_remove(d, t);
			rn_counter_add_shared(&s->exp->templates_withdrawn, 1);
		}
		return;
	}
	/* All templates (set 2) or all options templates (set 3) of the session. */
	bool opt = set_id == 3;
	for (uint32_t slot = s->tmpls; slot != 0;) {
		struct flow_tmpl *t = &d->tmpls[slot - 1];
		slot = t->next;
		if (t->options == opt) {
			flow_tmpl_remove(d, t);
			rn_counter_add_shared(&s->exp->templates_withdrawn, 1);
		}
	}
}

void flow_tmpl_expire(struct flow_dec *d, int64_t now_ms)
{
	int64_t life = d->conf.template_lifetime_ms;
	if (life <= 0)
		return;
	for (uint32_t i = 0; i < d->thw; i++) {
		struct flow_tmpl *t = &d->tmpls[i];
		if (t->session == 0 || !flow_tmpl_expired(d, t, now_ms))
			continue;
		struct flow_session *s = &d->sessions[t->session - 1];
		rn_counter_add_shared(&s->exp->templates_expired, 1);
		d->tot.templates_expired++;
		flow_tmpl_remove(d, t);
	}
	/*
	 * Sessions idle a lifetime, from the least recently used end. The list
	 * is ordered by when each session last moved up (at most a second
	 * behind its last datagram), so the walk stops at the first one still
	 * alive; one a second late is taken at the next call.
	 */
	for (size_t n = 0; d->lru[FLOW_LRU_ALL].tail != 0 && n < d->nsessions_cap; n++) {
		struct flow_session *s = &d->sessions[d->lru[FLOW_LRU_ALL].tail - 1];
		if (s->last_ms >= now_ms - life)
			break;
		flow_session_free(d, s, true);
	}
}

/* ---- template sets ------------------------------------------------------------- */

static int tmpl_parse_fields(struct rn_cur *c, struct flow_tmpl *t, uint16_t n, bool ipfix)
{
	for (uint16_t i = 0; i < n; i++) {
		uint16_t ie = rn_cur_u16(c);
		uint16_t len = rn_cur_u16(c);
		uint32_t pen = 0;
		if (ipfix && (ie & 0x8000)) {
			ie &= 0x7fff;
			pen = rn_cur_u32(c);
		}
		if (!rn_cur_ok(c))
			return RN_ETRUNC;
		if (i < FLOW_TMPL_MAX_FIELDS)
			t->f[i] = (struct flow_tmpl_field){.ie = ie, .len = len, .pen = pen};
	}
	return RN_OK;
}

int flow_tmpl_set_parse(struct flow_dec *d, struct flow_session *s, const struct flow_origin *o,
                        uint16_t set_id, const uint8_t *buf, size_t len)
{
	bool ipfix = s->version == 10;
	bool options = ipfix ? set_id == 3 : set_id == 1;
	struct rn_cur c;
	struct flow_tmpl t;
	char name[RN_ADDR_STRLEN + 48];
	int first = RN_OK;

	rn_cur_init(&c, buf, len);
	/* A record header is at least 4 bytes; less is padding. */
	while (rn_cur_left(&c) >= 4) {
		memset(&t, 0, offsetof(struct flow_tmpl, f));
		t.version = s->version;
		t.options = options;
		t.learned_ms = o->recv_ms;
		t.id = rn_cur_u16(&c);
		uint16_t n;
		if (!ipfix && options) {
			/* v9: scope length and options length in bytes, 4 per field. */
			uint16_t slen = rn_cur_u16(&c);
			uint16_t olen = rn_cur_u16(&c);
			if (!rn_cur_ok(&c)) {
				first = first ? first : RN_ETRUNC;
				flow_dec_count(d, s->exp, FLOW_R_TRUNCATED);
				break;
			}
			if (slen % 4 != 0 || olen % 4 != 0) {
				first = first ? first : RN_EBADLEN;
				flow_dec_count(d, s->exp, FLOW_R_BAD_LENGTH);
				break;
			}
			t.nscope = slen / 4;
			n = (uint16_t)(t.nscope + olen / 4);
		} else {
			n = rn_cur_u16(&c);
			if (ipfix && n == 0) {
				/* RFC 7011 8.1: a withdrawal (Template ID, Field Count 0). */
				if (t.id >= 256 || t.id == set_id)
					tmpl_withdraw(d, s, set_id, t.id);
				else if (t.id != 0) {
					first = first ? first : RN_EPARSE;
					flow_dec_count(d, s->exp, FLOW_R_BAD_TEMPLATE);
					break;
				}
				continue;
			}
			if (ipfix && options) {
				t.nscope = rn_cur_u16(&c);
				if (!rn_cur_ok(&c)) {
					first = first ? first : RN_ETRUNC;
					flow_dec_count(d, s->exp, FLOW_R_TRUNCATED);
					break;
				}
			}
		}
		if (t.id == 0 && n == 0 && !ipfix)
			break; /* v9 padding of zeros */
		t.nfields = n;
		int rc = tmpl_parse_fields(&c, &t, n, ipfix);
		if (rc != RN_OK) {
			first = first ? first : rc;
			flow_dec_count(d, s->exp, FLOW_R_TRUNCATED);
			break;
		}
		if (n > FLOW_TMPL_MAX_FIELDS || flow_tmpl_compile(&t) != RN_OK) {
			/* The record's extent is known, so later templates still parse. */
			first = first ? first : RN_EPARSE;
			flow_dec_count(d, s->exp, FLOW_R_BAD_TEMPLATE);
			continue;
		}
		rc = flow_tmpl_store(d, s, &t);
		if (rc != RN_OK) {
			/* Its exporter holds its cap: a refusal of its own, not a defect. */
			first = first ? first : rc;
			flow_dec_count(d, s->exp, FLOW_R_TEMPLATE_LIMIT);
			log_warnx_rl("flow: a template of exporter %s refused: it holds its cap "
			             "(collector.flow.max_templates_per_exporter)",
			             exporter_name(s, name, sizeof(name)));
			continue;
		}
		flow_pending_replay(d, s, t.id);
	}
	return first;
}
