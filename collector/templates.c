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
 *   - Caps: max templates per decoder and per session.
 *   - The cache is an open-addressing table keyed by (session, template
 *     ID), linear probing with backward-shift deletion (withdrawal), so no
 *     tombstones accumulate. Replacing a template overwrites it in place:
 *     data decoded afterwards uses the new layout; nothing holds a pointer
 *     across datagrams.
 *   - Thread: the decoder's thread only.
 */
#include "collector/flow.h"

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
	size_t mask = d->ntmpl_cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct flow_tmpl *t = &d->tmpls[i];
		if (t->session == 0)
			return NULL;
		if (t->session == si && t->id == id)
			return t;
	}
}

static void tmpl_delete(struct flow_dec *d, struct flow_tmpl *t)
{
	size_t mask = d->ntmpl_cap - 1;
	size_t i = (size_t)(t - d->tmpls);
	struct flow_session *s = &d->sessions[t->session - 1];

	if (s->ntemplates > 0)
		s->ntemplates--;
	d->ntmpl--;
	d->tmpl_dirty = true;
	/* Backward-shift deletion keeps every probe chain unbroken. */
	for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
		struct flow_tmpl *u = &d->tmpls[j];
		if (u->session == 0)
			break;
		size_t home = u->hash & mask;
		/* Move u to the hole at i when its home is not in (i, j]. */
		bool between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (!between) {
			d->tmpls[i] = *u;
			i = j;
		}
	}
	d->tmpls[i].session = 0;
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

int flow_tmpl_store(struct flow_dec *d, struct flow_session *s, const struct flow_tmpl *in)
{
	struct flow_tmpl *t = flow_tmpl_find(d, s, in->id);
	uint32_t si = sess_index(d, s);

	if (t != NULL) {
		if (!tmpl_same(t, in)) {
			rn_counter_add_shared(&s->exp->templates_replaced, 1);
			d->tmpl_dirty = true;
		}
		uint32_t h = t->hash;
		*t = *in;
		t->session = si;
		t->hash = h;
		return RN_OK;
	}
	if (d->ntmpl >= d->conf.max_templates ||
	    s->ntemplates >= d->conf.max_templates_per_exporter)
		return RN_ELIMIT;
	uint32_t h = tmpl_hash(si, in->id);
	size_t mask = d->ntmpl_cap - 1;
	size_t i = h & mask;
	while (d->tmpls[i].session != 0)
		i = (i + 1) & mask;
	t = &d->tmpls[i];
	*t = *in;
	t->session = si;
	t->hash = h;
	d->ntmpl++;
	s->ntemplates++;
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
			tmpl_delete(d, t);
			rn_counter_add_shared(&s->exp->templates_withdrawn, 1);
		}
		return;
	}
	/* All templates (set 2) or all options templates (set 3) of the session. */
	uint32_t si = sess_index(d, s);
	bool opt = set_id == 3;
	for (size_t i = 0; i < d->ntmpl_cap;) {
		struct flow_tmpl *t = &d->tmpls[i];
		if (t->session == si && t->options == opt) {
			tmpl_delete(d, t); /* may shift another entry into slot i */
			rn_counter_add_shared(&s->exp->templates_withdrawn, 1);
			continue;
		}
		i++;
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
			first = first ? first : rc;
			flow_dec_count(d, s->exp, FLOW_R_BAD_TEMPLATE);
			continue;
		}
		flow_pending_replay(d, s, t.id);
	}
	return first;
}
