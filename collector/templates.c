/*
 * templates.c: NetFlow v9 and IPFIX templates: parsing, validation, the
 * per-decoder cache, decoding data records through a template, sampling
 * options, and persistence in the data directory.
 *
 * Design notes:
 *   - A template is validated once, when it is stored, and compiled into a
 *     list of operations (enum flow_op), one per field. Data records are
 *     then decoded by walking that list; every field length was checked
 *     against its information element at store time, so the data path
 *     only checks that the record fits in the set.
 *   - Validation: template IDs are >= 256; at least one field and at most
 *     FLOW_TMPL_MAX_FIELDS; no field of length zero; integers no longer
 *     than their IE (reduced-size encoding may be shorter); addresses,
 *     MACs and timestamps exactly their size; variable length (IPFIX only)
 *     only for octet arrays, strings, lists and unknown IEs; a record of
 *     at least one byte; options templates with 1..nfields scope fields.
 *     Caps: max templates per decoder and per session.
 *   - The cache is an open-addressing table keyed by (session, template
 *     ID), linear probing with backward-shift deletion (withdrawal), so no
 *     tombstones accumulate. Replacing a template overwrites it in place:
 *     data decoded afterwards uses the new layout; nothing holds a pointer
 *     across datagrams.
 *   - Lists (basicList, subTemplateList, subTemplateMultiList) are not
 *     decoded, but their structure is walked so that a zero-length or
 *     overlong element is caught and counted rather than trusted.
 *   - Thread: the decoder's thread only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "collector/flow.h"

/* ---- information elements ------------------------------------------------ */

enum ie_class {
	C_OCTETS = 0, /* any length, variable allowed (also unknown IEs) */
	C_UINT,       /* 1..native bytes */
	C_ADDR4,
	C_ADDR6,
	C_MAC,
	C_SECS, /* dateTimeSeconds: 4 */
	C_MS,   /* dateTimeMilliseconds: 8 */
	C_NTP,  /* dateTimeMicro/Nanoseconds: 8 */
	C_FLOAT,
	C_LIST, /* variable, structure checked */
};

struct ie_info {
	uint8_t cls;
	uint8_t native; /* C_UINT: the full width */
	uint8_t op;
};

/* IANA IPFIX information elements this decoder knows (v9 shares 1-127). */
static struct ie_info ie_lookup(uint16_t ie)
{
#define U(n, o)                                         \
	return (struct ie_info)                         \
	{                                               \
		.cls = C_UINT, .native = (n), .op = (o) \
	}
#define C(c, o)                       \
	return (struct ie_info)       \
	{                             \
		.cls = (c), .op = (o) \
	}
	switch (ie) {
	case 1:
		U(8, FOP_BYTES);
	case 2:
		U(8, FOP_PACKETS);
	case 3:
		U(8, FOP_SKIP);
	case 4:
		U(1, FOP_PROTO);
	case 5:
		U(1, FOP_SKIP);
	case 6:
		U(2, FOP_TCPFLAGS);
	case 7:
		U(2, FOP_SPORT);
	case 8:
		C(C_ADDR4, FOP_SRC4);
	case 9:
		U(1, FOP_SKIP);
	case 10:
		U(4, FOP_SKIP);
	case 11:
		U(2, FOP_DPORT);
	case 12:
		C(C_ADDR4, FOP_DST4);
	case 13:
		U(1, FOP_SKIP);
	case 14:
		U(4, FOP_SKIP);
	case 15:
		C(C_ADDR4, FOP_SKIP);
	case 16:
		U(4, FOP_SKIP);
	case 17:
		U(4, FOP_SKIP);
	case 18:
		C(C_ADDR4, FOP_SKIP);
	case 19:
		U(8, FOP_SKIP);
	case 20:
		U(8, FOP_SKIP);
	case 21:
		U(4, FOP_LAST_UPTIME);
	case 22:
		U(4, FOP_FIRST_UPTIME);
	case 23:
		U(8, FOP_SKIP);
	case 24:
		U(8, FOP_SKIP);
	case 25:
		U(2, FOP_SKIP);
	case 26:
		U(2, FOP_SKIP);
	case 27:
		C(C_ADDR6, FOP_SRC6);
	case 28:
		C(C_ADDR6, FOP_DST6);
	case 29:
		U(1, FOP_SKIP);
	case 30:
		U(1, FOP_SKIP);
	case 31:
		U(4, FOP_SKIP);
	case 32:
		U(2, FOP_ICMP_TYPECODE);
	case 33:
		U(1, FOP_SKIP);
	case 34:
		U(4, FOP_SAMPLING_INTERVAL);
	case 35:
		U(1, FOP_SAMPLING_ALGO);
	case 36:
		U(2, FOP_SKIP);
	case 37:
		U(2, FOP_SKIP);
	case 38:
		U(1, FOP_SKIP);
	case 39:
		U(1, FOP_SKIP);
	case 40:
		U(8, FOP_SKIP);
	case 41:
		U(8, FOP_SKIP);
	case 42:
		U(8, FOP_SKIP);
	case 44:
		C(C_ADDR4, FOP_SKIP);
	case 45:
		C(C_ADDR4, FOP_SKIP);
	case 46:
		U(1, FOP_SKIP);
	case 47:
		C(C_ADDR4, FOP_SKIP);
	/* Sampler IDs: unsigned8 in IPFIX, but v9 exporters send up to 4 bytes. */
	case 48:
		U(4, FOP_SAMPLER_ID);
	case 49:
		U(1, FOP_SAMPLING_ALGO);
	case 50:
		U(4, FOP_SAMPLING_INTERVAL);
	case 52:
		U(1, FOP_SKIP);
	case 53:
		U(1, FOP_SKIP);
	case 54:
		U(4, FOP_SKIP);
	case 55:
		U(1, FOP_SKIP);
	case 56:
		C(C_MAC, FOP_SKIP);
	case 57:
		C(C_MAC, FOP_SKIP);
	case 58:
		U(2, FOP_SKIP);
	case 59:
		U(2, FOP_SKIP);
	case 60:
		U(1, FOP_SKIP);
	case 61:
		U(1, FOP_SKIP);
	case 62:
		C(C_ADDR6, FOP_SKIP);
	case 63:
		C(C_ADDR6, FOP_SKIP);
	case 64:
		U(4, FOP_SKIP);
	case 80:
		C(C_MAC, FOP_SKIP);
	case 81:
		C(C_MAC, FOP_SKIP);
	case 85:
		U(8, FOP_SKIP);
	case 86:
		U(8, FOP_SKIP);
	case 88:
		U(2, FOP_SKIP);
	case 89:
		U(4, FOP_SKIP);
	case 136:
		U(1, FOP_SKIP);
	case 137:
		U(8, FOP_SKIP);
	case 138:
		U(4, FOP_SKIP);
	case 139:
		U(2, FOP_ICMP_TYPECODE);
	case 144:
		U(4, FOP_SKIP);
	case 145:
		U(2, FOP_SKIP);
	case 148:
		U(8, FOP_SKIP);
	case 149:
		U(4, FOP_SKIP);
	case 150:
		C(C_SECS, FOP_FIRST_S);
	case 151:
		C(C_SECS, FOP_LAST_S);
	case 152:
		C(C_MS, FOP_FIRST_MS);
	case 153:
		C(C_MS, FOP_LAST_MS);
	case 154:
		C(C_NTP, FOP_FIRST_US);
	case 155:
		C(C_NTP, FOP_LAST_US);
	case 156:
		C(C_NTP, FOP_FIRST_NS);
	case 157:
		C(C_NTP, FOP_LAST_NS);
	case 158:
		U(4, FOP_FIRST_DELTA_US);
	case 159:
		U(4, FOP_LAST_DELTA_US);
	case 160:
		C(C_MS, FOP_SYSINIT_MS);
	case 161:
		U(4, FOP_DURATION_MS);
	case 162:
		U(4, FOP_SKIP);
	case 163:
		U(8, FOP_SKIP);
	case 164:
		U(8, FOP_SKIP);
	case 165:
		U(8, FOP_SKIP);
	case 166:
		U(8, FOP_SKIP);
	case 167:
		U(8, FOP_SKIP);
	case 168:
		U(8, FOP_SKIP);
	case 176:
		U(1, FOP_ICMP_TYPE);
	case 177:
		U(1, FOP_ICMP_CODE);
	case 178:
		U(1, FOP_ICMP_TYPE);
	case 179:
		U(1, FOP_ICMP_CODE);
	case 180:
		U(2, FOP_SPORT);
	case 181:
		U(2, FOP_DPORT);
	case 182:
		U(2, FOP_SPORT);
	case 183:
		U(2, FOP_DPORT);
	case 184:
		U(4, FOP_SKIP);
	case 185:
		U(4, FOP_SKIP);
	case 186:
		U(2, FOP_SKIP);
	case 187:
		U(2, FOP_SKIP);
	case 192:
		U(1, FOP_SKIP);
	case 210:
		C(C_OCTETS, FOP_SKIP); /* paddingOctets */
	case 225:
		C(C_ADDR4, FOP_SKIP);
	case 226:
		C(C_ADDR4, FOP_SKIP);
	case 227:
		U(2, FOP_SKIP);
	case 228:
		U(2, FOP_SKIP);
	case 239:
		U(1, FOP_SKIP);
	case 256:
		U(2, FOP_SKIP);
	case 291:
		C(C_LIST, FOP_VARLIST);
	case 292:
		C(C_LIST, FOP_VARLIST);
	case 293:
		C(C_LIST, FOP_VARLIST);
	case 302:
		U(8, FOP_SAMPLER_ID);
	case 303:
		U(2, FOP_SKIP);
	case 304:
		U(2, FOP_SAMPLING_ALGO);
	case 305:
		U(4, FOP_SAMPLING_INTERVAL);
	case 306:
		U(4, FOP_SAMPLING_SPACE);
	case 307:
		U(4, FOP_SKIP);
	case 308:
		U(4, FOP_SKIP);
	case 309:
		U(4, FOP_SKIP);
	case 310:
		U(4, FOP_SKIP);
	case 311:
		C(C_FLOAT, FOP_SKIP);
	case 322:
		C(C_SECS, FOP_SKIP);
	case 323:
		C(C_MS, FOP_SKIP);
	case 324:
		C(C_NTP, FOP_SKIP);
	case 325:
		C(C_NTP, FOP_SKIP);
	default:
		C(C_OCTETS, FOP_SKIP);
	}
#undef U
#undef C
}

#define PEN_REVERSE 29305u /* RFC 5103 reverse information elements */

static bool field_len_ok(const struct ie_info *ii, uint16_t len, bool ipfix)
{
	if (len == 0)
		return false;
	if (len == FLOW_VARLEN)
		return ipfix && (ii->cls == C_OCTETS || ii->cls == C_LIST);
	switch (ii->cls) {
	case C_UINT:
		return len <= ii->native;
	case C_ADDR4:
	case C_SECS:
		return len == 4;
	case C_ADDR6:
		return len == 16;
	case C_MAC:
		return len == 6;
	case C_MS:
	case C_NTP:
		return len == 8;
	case C_FLOAT:
		return len == 4 || len == 8;
	default:
		return true;
	}
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

/*
 * Checks t (fields filled in by the parser) and compiles its operations.
 * Returns RN_OK or RN_EPARSE.
 */
static int tmpl_compile(struct flow_tmpl *t)
{
	bool ipfix = t->version == 10;
	bool has_bytes = false, has_packets = false;
	uint32_t min = 0;

	if (t->id < 256 || t->nfields == 0 || t->nfields > FLOW_TMPL_MAX_FIELDS)
		return RN_EPARSE;
	if (t->options && (t->nscope == 0 || t->nscope > t->nfields))
		return RN_EPARSE;
	if (!t->options && t->nscope != 0)
		return RN_EPARSE;
	t->varlen = false;
	for (uint16_t i = 0; i < t->nfields; i++) {
		struct flow_tmpl_field *f = &t->f[i];
		struct ie_info ii;
		if (!ipfix && f->pen != 0)
			return RN_EPARSE;
		if (f->pen == 0) {
			ii = ie_lookup(f->ie);
		} else if (f->pen == PEN_REVERSE) {
			ii = ie_lookup(f->ie);
			ii.op = f->ie == 1   ? FOP_REV_BYTES
			        : f->ie == 2 ? FOP_REV_PACKETS
			        : f->ie == 6 ? FOP_REV_TCPFLAGS
			                     : FOP_SKIP;
		} else {
			ii = (struct ie_info){.cls = C_OCTETS, .op = FOP_SKIP};
		}
		/* v9 options scope fields (system, interface, ...) are not IEs. */
		if (!ipfix && t->options && i < t->nscope)
			ii = (struct ie_info){.cls = C_OCTETS, .op = FOP_SKIP};
		if (!field_len_ok(&ii, f->len, ipfix))
			return RN_EPARSE;
		f->op = ii.op;
		if (f->op == FOP_BYTES)
			has_bytes = true;
		if (f->op == FOP_PACKETS)
			has_packets = true;
		if (f->len == FLOW_VARLEN) {
			t->varlen = true;
			min += 1;
		} else {
			min += f->len;
		}
	}
	/* Total counts stand in for delta counts when those are absent. */
	for (uint16_t i = 0; i < t->nfields; i++) {
		struct flow_tmpl_field *f = &t->f[i];
		if (f->pen == 0 && f->ie == 85 && !has_bytes && f->len != FLOW_VARLEN)
			f->op = FOP_BYTES;
		if (f->pen == 0 && f->ie == 86 && !has_packets && f->len != FLOW_VARLEN)
			f->op = FOP_PACKETS;
	}
	if (min == 0 || min > 0xffff - 16)
		return RN_EPARSE;
	t->min_len = (uint16_t)min;
	return RN_OK;
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
		if (n > FLOW_TMPL_MAX_FIELDS || tmpl_compile(&t) != RN_OK) {
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

/* ---- data records ------------------------------------------------------------------ */

/* Walks a basicList, subTemplateList or subTemplateMultiList body. */
static int list_check(uint16_t ie, const uint8_t *p, size_t len)
{
	struct rn_cur c;
	rn_cur_init(&c, p, len);
	if (len == 0)
		return RN_OK; /* an empty list */
	(void)rn_cur_u8(&c);  /* semantic */
	if (ie == 291) {
		uint16_t fid = rn_cur_u16(&c);
		uint16_t elen = rn_cur_u16(&c);
		if (fid & 0x8000)
			rn_cur_skip(&c, 4);
		if (!rn_cur_ok(&c))
			return RN_ETRUNC;
		if (elen == 0)
			return RN_EBADLEN;
		if (elen != FLOW_VARLEN && rn_cur_left(&c) % elen != 0)
			return RN_EBADLEN;
		return RN_OK;
	}
	if (ie == 292) {
		(void)rn_cur_u16(&c); /* template ID; the rest is its records */
		return rn_cur_ok(&c) ? RN_OK : RN_ETRUNC;
	}
	/* 293: repeated (template ID, length including this header, records). */
	while (rn_cur_left(&c) > 0) {
		uint16_t tid = rn_cur_u16(&c);
		uint16_t elen = rn_cur_u16(&c);
		if (!rn_cur_ok(&c))
			return RN_ETRUNC;
		if (elen < 4 || tid < 256)
			return RN_EBADLEN; /* a zero-size element would never advance */
		rn_cur_skip(&c, (size_t)elen - 4);
		if (!rn_cur_ok(&c))
			return RN_ETRUNC;
	}
	return RN_OK;
}

static inline uint64_t be_uint(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Converts an NTP timestamp (seconds since 1900, fraction) to ms since 1970. */
static int64_t ntp_to_ms(uint64_t v)
{
	int64_t secs = (int64_t)(v >> 32) - 2208988800LL;
	int64_t frac_ms = (int64_t)(((v & 0xffffffffULL) * 1000) >> 32);
	return secs * 1000 + frac_ms;
}

struct rec_times {
	int64_t first_ms, last_ms, first_up, last_up, sysinit_ms;
	int64_t first_delta_us, last_delta_us, duration_ms;
	bool first, last, fup, lup, fdelta, ldelta, dur;
};

struct rec_opts {
	uint64_t sampler_id, interval, space;
	bool has_id, has_interval, has_space;
};

static void sampler_set(struct flow_session *s, const struct rec_opts *ro)
{
	uint64_t iv = 0;
	if (ro->has_interval) {
		iv = ro->interval;
		/* 305/306: one in (interval + space) packets is sampled... per interval. */
		if (ro->has_space && ro->interval > 0)
			iv = (ro->interval + ro->space) / ro->interval;
	}
	if (iv == 0 || iv > 0xffffffffULL)
		return;
	if (!ro->has_id) {
		s->sampling = (uint32_t)iv;
		return;
	}
	size_t free_slot = FLOW_SAMPLERS;
	for (size_t i = 0; i < FLOW_SAMPLERS; i++) {
		if (s->samplers[i].interval != 0 && s->samplers[i].id == (uint32_t)ro->sampler_id) {
			s->samplers[i].interval = (uint32_t)iv;
			return;
		}
		if (s->samplers[i].interval == 0 && free_slot == FLOW_SAMPLERS)
			free_slot = i;
	}
	if (free_slot == FLOW_SAMPLERS)
		free_slot = (size_t)(ro->sampler_id % FLOW_SAMPLERS);
	s->samplers[free_slot].id = (uint32_t)ro->sampler_id;
	s->samplers[free_slot].interval = (uint32_t)iv;
}

static uint32_t sampler_get(const struct flow_session *s, const struct rec_opts *ro)
{
	if (ro->has_interval && ro->interval > 0 && ro->interval <= 0xffffffffULL)
		return (uint32_t)ro->interval;
	if (ro->has_id)
		for (size_t i = 0; i < FLOW_SAMPLERS; i++)
			if (s->samplers[i].interval != 0 &&
			    s->samplers[i].id == (uint32_t)ro->sampler_id)
				return s->samplers[i].interval;
	return s->sampling;
}

/* Turns sysUpTime-relative ms into absolute ms, allowing for the 32-bit wrap. */
static int64_t uptime_abs(const struct flow_timebase *tb, int64_t up)
{
	/* boot_ms + up, where up has wrapped if it is far ahead of export time. */
	int64_t t = tb->boot_ms + up;
	if (t > tb->export_ms + 0x7fffffffLL)
		t -= 0x100000000LL;
	return t;
}

static void rec_finish(struct flow_dec *d, struct flow_session *s, const struct flow_timebase *tb,
                       struct collector_flow_rec *r, const struct rec_times *tm,
                       const struct rec_opts *ro)
{
	int64_t first = 0, last = 0;
	bool hf = false, hl = false;

	if (tm->first) {
		first = tm->first_ms;
		hf = true;
	} else if (tm->fup) {
		if (tm->sysinit_ms != 0)
			first = tm->sysinit_ms + tm->first_up, hf = true;
		else if (tb->boot_ms != 0)
			first = uptime_abs(tb, tm->first_up), hf = true;
	} else if (tm->fdelta) {
		first = tb->export_ms - tm->first_delta_us / 1000, hf = true;
	}
	if (tm->last) {
		last = tm->last_ms;
		hl = true;
	} else if (tm->lup) {
		if (tm->sysinit_ms != 0)
			last = tm->sysinit_ms + tm->last_up, hl = true;
		else if (tb->boot_ms != 0)
			last = uptime_abs(tb, tm->last_up), hl = true;
	} else if (tm->ldelta) {
		last = tb->export_ms - tm->last_delta_us / 1000, hl = true;
	}
	if (hf && !hl && tm->dur)
		last = first + tm->duration_ms, hl = true;
	if (!hf && hl && tm->dur)
		first = last - tm->duration_ms, hf = true;
	if (!hf && !hl) {
		first = last = tb->export_ms;
		r->flags |= COLLECTOR_FLOW_NOTIME;
	} else if (!hf) {
		first = last;
	} else if (!hl) {
		last = first;
	}
	r->first_ms = first;
	r->last_ms = last;

	uint32_t rate = sampler_get(s, ro);
	r->sampling = 1;
	if (rate > 1) {
		r->sampling = rate;
		r->flags |= COLLECTOR_FLOW_SAMPLED;
		if (d->conf.scale_sampling) {
			r->packets *= rate;
			r->bytes *= rate;
			r->rev_packets *= rate;
			r->rev_bytes *= rate;
			r->flags |= COLLECTOR_FLOW_SCALED;
		}
	}
	if (r->rev_packets != 0 || r->rev_bytes != 0)
		r->flags |= COLLECTOR_FLOW_BIFLOW;
}

/*
 * Decodes one record at c. Returns RN_OK, or RN_ETRUNC / RN_EBADLEN when
 * a variable-length field or list does not fit.
 */
static int rec_decode(struct flow_dec *d, struct flow_session *s, const struct flow_tmpl *t,
                      const struct flow_timebase *tb, struct rn_cur *c)
{
	struct collector_flow_rec *r = flow_dec_rec_next(d);
	struct rec_times tm = {0};
	struct rec_opts ro = {0};
	int icmp_type = -1, icmp_code = 0;
	bool icmp_tc = false;
	uint16_t icmp_tc_v = 0;

	for (uint16_t i = 0; i < t->nfields; i++) {
		const struct flow_tmpl_field *f = &t->f[i];
		size_t len = f->len;
		if (len == FLOW_VARLEN) {
			len = rn_cur_u8(c);
			if (len == 255)
				len = rn_cur_u16(c);
		}
		const uint8_t *p = rn_cur_bytes(c, len);
		if (p == NULL)
			return RN_ETRUNC;
		switch ((enum flow_op)f->op) {
		case FOP_SKIP:
			break;
		case FOP_SRC4:
			rn_addr_set_v4(&r->src, (uint32_t)be_uint(p, 4));
			break;
		case FOP_DST4:
			rn_addr_set_v4(&r->dst, (uint32_t)be_uint(p, 4));
			break;
		case FOP_SRC6:
			rn_addr_set_v6(&r->src, p);
			break;
		case FOP_DST6:
			rn_addr_set_v6(&r->dst, p);
			break;
		case FOP_SPORT:
			r->sport = (uint16_t)be_uint(p, len);
			break;
		case FOP_DPORT:
			r->dport = (uint16_t)be_uint(p, len);
			break;
		case FOP_PROTO:
			r->proto = (uint8_t)be_uint(p, len);
			break;
		case FOP_TCPFLAGS:
			r->tcp_flags = (uint8_t)be_uint(p, len);
			break;
		case FOP_REV_TCPFLAGS:
			r->rev_tcp_flags = (uint8_t)be_uint(p, len);
			break;
		case FOP_PACKETS:
			r->packets = be_uint(p, len);
			break;
		case FOP_BYTES:
			r->bytes = be_uint(p, len);
			break;
		case FOP_REV_PACKETS:
			r->rev_packets = be_uint(p, len);
			break;
		case FOP_REV_BYTES:
			r->rev_bytes = be_uint(p, len);
			break;
		case FOP_FIRST_UPTIME:
			tm.first_up = (int64_t)be_uint(p, len), tm.fup = true;
			break;
		case FOP_LAST_UPTIME:
			tm.last_up = (int64_t)be_uint(p, len), tm.lup = true;
			break;
		case FOP_FIRST_S:
			tm.first_ms = (int64_t)be_uint(p, 4) * 1000, tm.first = true;
			break;
		case FOP_LAST_S:
			tm.last_ms = (int64_t)be_uint(p, 4) * 1000, tm.last = true;
			break;
		case FOP_FIRST_MS:
			tm.first_ms = (int64_t)be_uint(p, 8), tm.first = true;
			break;
		case FOP_LAST_MS:
			tm.last_ms = (int64_t)be_uint(p, 8), tm.last = true;
			break;
		case FOP_FIRST_US:
		case FOP_FIRST_NS:
			tm.first_ms = ntp_to_ms(be_uint(p, 8)), tm.first = true;
			break;
		case FOP_LAST_US:
		case FOP_LAST_NS:
			tm.last_ms = ntp_to_ms(be_uint(p, 8)), tm.last = true;
			break;
		case FOP_FIRST_DELTA_US:
			tm.first_delta_us = (int64_t)be_uint(p, len), tm.fdelta = true;
			break;
		case FOP_LAST_DELTA_US:
			tm.last_delta_us = (int64_t)be_uint(p, len), tm.ldelta = true;
			break;
		case FOP_DURATION_MS:
			tm.duration_ms = (int64_t)be_uint(p, len), tm.dur = true;
			break;
		case FOP_SYSINIT_MS:
			tm.sysinit_ms = (int64_t)be_uint(p, 8);
			break;
		case FOP_ICMP_TYPECODE:
			icmp_tc = true;
			icmp_tc_v = (uint16_t)be_uint(p, len);
			break;
		case FOP_ICMP_TYPE:
			icmp_type = (int)be_uint(p, len);
			break;
		case FOP_ICMP_CODE:
			icmp_code = (int)be_uint(p, len);
			break;
		case FOP_SAMPLER_ID:
			ro.sampler_id = be_uint(p, len), ro.has_id = true;
			break;
		case FOP_SAMPLING_INTERVAL:
			ro.interval = be_uint(p, len), ro.has_interval = true;
			break;
		case FOP_SAMPLING_SPACE:
			ro.space = be_uint(p, len), ro.has_space = true;
			break;
		case FOP_SAMPLING_ALGO:
			break;
		case FOP_VARLIST: {
			int rc = list_check(f->ie, p, len);
			if (rc != RN_OK)
				return rc;
			break;
		}
		}
	}
	if (t->options) {
		sampler_set(s, &ro);
		return RN_OK; /* options records carry no flow */
	}
	if (r->src.family == 0 && r->dst.family == 0)
		return RN_OK; /* not a flow record (no addresses): nothing to emit */
	if (r->proto == 1 || r->proto == 58) {
		if (icmp_tc)
			r->dport = icmp_tc_v;
		else if (icmp_type >= 0)
			r->dport = (uint16_t)(icmp_type << 8 | icmp_code);
	}
	r->exporter = s->addr;
	r->exporter_port = d->cur_port;
	r->version = s->version;
	r->source = s->version == 9 ? RN_SRC_NETFLOW_V9 : RN_SRC_IPFIX;
	r->domain = s->domain;
	rec_finish(d, s, tb, r, &tm, &ro);
	flow_dec_rec_commit(d, r);
	return RN_OK;
}

int flow_tmpl_data_decode(struct flow_dec *d, struct flow_session *s, const struct flow_tmpl *t,
                          const struct flow_timebase *tb, const uint8_t *buf, size_t len,
                          uint32_t *nrec)
{
	struct rn_cur c;
	uint32_t n = 0;
	rn_cur_init(&c, buf, len);
	if (nrec != NULL)
		*nrec = 0;
	/* Every record takes at least min_len >= 1 bytes, so this ends. */
	while (rn_cur_left(&c) >= t->min_len) {
		int rc = rec_decode(d, s, t, tb, &c);
		if (rc == RN_OK && nrec != NULL)
			*nrec = ++n;
		if (rc != RN_OK) {
			flow_dec_count(d, s->exp,
			               rc == RN_EBADLEN ? FLOW_R_BAD_LENGTH : FLOW_R_TRUNCATED);
			return rc;
		}
	}
	/* What is left is padding; more than 3 bytes of it is a bad length. */
	if (rn_cur_left(&c) > 3) {
		flow_dec_count(d, s->exp, FLOW_R_BAD_LENGTH);
		return RN_EBADLEN;
	}
	return RN_OK;
}

/* ---- persistence ------------------------------------------------------------------- */

/*
 * File: "RNFT" magic, u32 format version 1, u32 entry count, then entries:
 * u32 body length, u32 CRC32C of the body, body. Body: u8 family (4, 6),
 * 16 address bytes (IPv4 in the first 4, network order), u16 port, u8 flow
 * version, u32 domain, u16 template ID, u8 options, u16 scope count,
 * u16 field count, i64 learned ms, then per field u16 IE, u16 length,
 * u32 enterprise number. All big-endian.
 */
#define TMPL_MAGIC    0x524e4654u
#define TMPL_FILE_MAX (64u << 20)

struct wbuf {
	uint8_t *p;
	size_t n, cap;
	bool oom;
};

static void wb_put(struct wbuf *w, const void *src, size_t n)
{
	if (w->oom)
		return;
	if (w->n + n > w->cap) {
		size_t nc = w->cap ? w->cap * 2 : 4096;
		while (nc < w->n + n)
			nc *= 2;
		uint8_t *np = realloc(w->p, nc);
		if (np == NULL) {
			w->oom = true;
			return;
		}
		w->p = np;
		w->cap = nc;
	}
	memcpy(w->p + w->n, src, n);
	w->n += n;
}

static void wb_u8(struct wbuf *w, uint8_t v)
{
	wb_put(w, &v, 1);
}
static void wb_u16(struct wbuf *w, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	wb_put(w, b, 2);
}
static void wb_u32(struct wbuf *w, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	wb_put(w, b, 4);
}
static void wb_u64(struct wbuf *w, uint64_t v)
{
	wb_u32(w, (uint32_t)(v >> 32));
	wb_u32(w, (uint32_t)v);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int flow_tmpl_save(struct flow_dec *const *decs, size_t ndec, const char *path)
{
	struct wbuf w = {0};
	uint32_t count = 0;
	int rc;

	wb_u32(&w, TMPL_MAGIC);
	wb_u32(&w, 1);
	wb_u32(&w, 0); /* count, patched below */
	for (size_t k = 0; k < ndec; k++) {
		struct flow_dec *d = decs[k];
		for (size_t i = 0; i < d->ntmpl_cap; i++) {
			const struct flow_tmpl *t = &d->tmpls[i];
			if (t->session == 0)
				continue;
			const struct flow_session *s = &d->sessions[t->session - 1];
			size_t at = w.n;
			wb_u32(&w, 0);
			wb_u32(&w, 0);
			size_t body = w.n;
			uint8_t a[16] = {0};
			rn_addr_to_bytes(&s->addr, a);
			wb_u8(&w, s->addr.family);
			wb_put(&w, a, 16);
			wb_u16(&w, s->port);
			wb_u8(&w, s->version);
			wb_u32(&w, s->domain);
			wb_u16(&w, t->id);
			wb_u8(&w, t->options);
			wb_u16(&w, t->nscope);
			wb_u16(&w, t->nfields);
			wb_u64(&w, (uint64_t)t->learned_ms);
			for (uint16_t f = 0; f < t->nfields; f++) {
				wb_u16(&w, t->f[f].ie);
				wb_u16(&w, t->f[f].len);
				wb_u32(&w, t->f[f].pen);
			}
			if (w.oom)
				break;
			put_be32(w.p + at, (uint32_t)(w.n - body));
			put_be32(w.p + at + 4, rn_crc32c(0, w.p + body, w.n - body));
			count++;
		}
	}
	if (w.oom) {
		free(w.p);
		return -ENOMEM;
	}
	put_be32(w.p + 8, count);
	rc = rn_file_replace(path, w.p, w.n, 0640);
	free(w.p);
	if (rc == RN_OK)
		for (size_t k = 0; k < ndec; k++)
			decs[k]->tmpl_dirty = false;
	return rc;
}

int flow_tmpl_load(struct flow_dec *d, const char *path, size_t *loaded, size_t *bad)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	struct rn_cur c;
	int rc;

	*loaded = *bad = 0;
	rc = rn_file_read(path, TMPL_FILE_MAX, &buf, &len);
	if (rc != RN_OK)
		return rc;
	rn_cur_init(&c, buf, len);
	uint32_t magic = rn_cur_u32(&c);
	uint32_t ver = rn_cur_u32(&c);
	uint32_t count = rn_cur_u32(&c);
	if (!rn_cur_ok(&c) || magic != TMPL_MAGIC) {
		rc = RN_EPARSE;
		goto out;
	}
	if (ver != 1) {
		rc = RN_EVERSION;
		goto out;
	}
	for (uint32_t k = 0; k < count; k++) {
		uint32_t blen = rn_cur_u32(&c);
		uint32_t crc = rn_cur_u32(&c);
		struct rn_cur b;
		if (!rn_cur_sub(&c, blen, &b)) {
			rc = RN_ETRUNC;
			goto out;
		}
		if (rn_crc32c(0, b.p, blen) != crc) {
			(*bad)++;
			continue;
		}
		struct flow_origin o = {0};
		struct flow_tmpl t;
		memset(&t, 0, offsetof(struct flow_tmpl, f));
		uint8_t fam = rn_cur_u8(&b);
		const uint8_t *a = rn_cur_bytes(&b, 16);
		o.port = rn_cur_u16(&b);
		t.version = rn_cur_u8(&b);
		uint32_t domain = rn_cur_u32(&b);
		t.id = rn_cur_u16(&b);
		t.options = rn_cur_u8(&b) != 0;
		t.nscope = rn_cur_u16(&b);
		t.nfields = rn_cur_u16(&b);
		t.learned_ms = (int64_t)rn_cur_u64(&b);
		if (!rn_cur_ok(&b) || (fam != RN_AF_INET && fam != RN_AF_INET6) ||
		    (t.version != 9 && t.version != 10) || t.nfields > FLOW_TMPL_MAX_FIELDS ||
		    rn_addr_from_bytes(&o.addr, a, fam == RN_AF_INET ? 4 : 16) != RN_OK) {
			(*bad)++;
			continue;
		}
		for (uint16_t f = 0; f < t.nfields; f++) {
			t.f[f].ie = rn_cur_u16(&b);
			t.f[f].len = rn_cur_u16(&b);
			t.f[f].pen = rn_cur_u32(&b);
		}
		if (!rn_cur_ok(&b) || rn_cur_left(&b) != 0 || tmpl_compile(&t) != RN_OK) {
			(*bad)++;
			continue;
		}
		struct flow_exporter *e = flow_exporters_get(d->exps, &o.addr);
		struct flow_session *s = flow_session_get(d, &o, e, t.version, domain);
		if (s == NULL || flow_tmpl_store(d, s, &t) != RN_OK) {
			(*bad)++;
			continue;
		}
		(*loaded)++;
	}
	d->tmpl_dirty = false;
	rc = rn_cur_left(&c) == 0 ? RN_OK : RN_EBADLEN;
out:
	free(buf);
	return rc;
}
