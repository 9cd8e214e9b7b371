/*
 * state.c: the engine's state snapshot, written and read.
 *
 * Design notes: the body is a fixed sequence of sections, each tagged and
 * length-prefixed so that a reader can refuse precisely:
 *   1 META     journal position, clocks, tick sequence, and the bucket
 *              length and IPv6 aggregation the sets were built with;
 *   2 CODES    the evidence code dictionary;
 *   3 SETS     every reputation set: kind, space, bucket, first and last
 *              observation, its count slices and evidence key sets;
 *   4 OFFENCES the offence counters' slices, per space;
 *   5 TABLE    the current blocklist with its rich columns and digest
 *              (hysteresis and TTLs continue from it);
 *   6 HELD     observations held for a later tick;
 *   7 BATCHES  the last batch_seq applied per collector (the service's
 *              table, batches.c);
 *   8 HELD_FROM the collector behind each held observation, by name; only
 *              written when one is known, and optional when loading, so
 *              snapshots from before collectors signed their batches load.
 * Evidence codes carry the collector's name after a separator (engine.h),
 * so the CODES section holds strings of up to ENGINE_CODE_MAX - 1 bytes.
 * Integers are big-endian, written through a growable rn_wcur (section
 * lengths are patched in at each section's end); key sets use
 * keyset_serialize_to().
 *
 * Loading checks the two CRCs first, and then trusts nothing anyway: a
 * file with valid CRCs can still be crafted. Every length is taken through
 * the cursor, every count is capped, every bitmap is walked and rebuilt
 * (keyset_read), every key is checked against its space's mask, every
 * kind, space, category and code is range-checked, sections must come in
 * order and fill their length exactly, and the blocklist's digest is
 * recomputed and compared. Any failure frees everything built so far.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "scoring/persist.h"

enum {
	SEC_META = 1,
	SEC_CODES,
	SEC_SETS,
	SEC_OFFENCES,
	SEC_TABLE,
	SEC_HELD,
	SEC_BATCHES,
	SEC_HELD_FROM,
};

/* Caps on what a snapshot may hold. */
#define MAX_SETS    (1u << 24)
#define MAX_KEYS    (1ull << 34)
#define MAX_ENTRIES (1ull << 32)

/* ---- writing --------------------------------------------------------------- */

/* The largest snapshot written: what the loader reads (service.c). */
#define STATE_MAX (SIZE_MAX / 2)

static void wb_keyset(struct rn_wcur *b, struct keyset *ks)
{
	if (!rn_wcur_ok(b))
		return;
	int rc = keyset_prepare(ks);
	if (rc != RN_OK) {
		rn_wcur_fail(b, rc);
		return;
	}
	keyset_serialize_to(ks, b);
}

/* A section: its tag and a length filled in by sec_end(). */
static size_t sec_begin(struct rn_wcur *b, uint32_t tag)
{
	rn_wcur_u32(b, tag);
	size_t at = b->len;
	rn_wcur_u64(b, 0);
	return at;
}

static void sec_end(struct rn_wcur *b, size_t at)
{
	if (rn_wcur_ok(b))
		rn_wcur_patch(b, at, b->len - at - 8, 8);
}

static void put_obs(struct rn_wcur *b, const struct rn_obs *o)
{
	uint8_t a[16];
	size_t al = rn_addr_to_bytes(&o->addr, a);
	rn_wcur_u8(b, (uint8_t)al);
	rn_wcur_bytes(b, a, al);
	rn_wcur_u8(b, o->prefix_len);
	rn_wcur_u8(b, o->source);
	rn_wcur_u16(b, o->kind);
	rn_wcur_u32(b, o->count);
	rn_wcur_u64(b, (uint64_t)o->ts_ms);
	size_t el = strnlen(o->evidence, RN_EVIDENCE_MAX - 1);
	rn_wcur_u8(b, (uint8_t)el);
	rn_wcur_bytes(b, o->evidence, el);
}

int state_save(struct scoring_engine *e, const struct batches *applied, struct jpos pos,
               uint8_t **out, size_t *len)
{
	struct rn_wcur b;
	size_t at;
	rn_wcur_init_alloc(&b, STATE_MAX);
	rn_wcur_reserve(&b, STATE_HDR_LEN);

	at = sec_begin(&b, SEC_META);
	rn_wcur_u64(&b, pos.gen);
	rn_wcur_u64(&b, pos.off);
	rn_wcur_u64(&b, (uint64_t)e->clock);
	rn_wcur_u64(&b, (uint64_t)e->max_ts);
	rn_wcur_u64(&b, (uint64_t)e->last_tick);
	rn_wcur_u64(&b, (uint64_t)e->next_tick);
	rn_wcur_u64(&b, (uint64_t)e->off_period);
	rn_wcur_u64(&b, e->seq);
	rn_wcur_u64(&b, (uint64_t)e->conf.bucket_ms);
	rn_wcur_u32(&b, (uint32_t)e->conf.ipv6_prefix);
	sec_end(&b, at);

	at = sec_begin(&b, SEC_CODES);
	rn_wcur_u32(&b, (uint32_t)e->ncodes);
	for (size_t i = 0; i < e->ncodes; i++) {
		size_t l = strnlen(e->codes[i], ENGINE_CODE_MAX - 1);
		rn_wcur_u8(&b, (uint8_t)l);
		rn_wcur_bytes(&b, e->codes[i], l);
	}
	sec_end(&b, at);

	at = sec_begin(&b, SEC_SETS);
	rn_wcur_u32(&b, (uint32_t)e->nsets);
	for (size_t i = 0; i < e->nsets; i++) {
		struct rset *s = e->sets[i];
		rn_wcur_u8(&b, s->kind);
		rn_wcur_u8(&b, s->space);
		rn_wcur_u8(&b, s->nslices);
		rn_wcur_u64(&b, (uint64_t)s->bucket);
		rn_wcur_u64(&b, (uint64_t)s->first_ms);
		rn_wcur_u64(&b, (uint64_t)s->last_ms);
		for (unsigned j = 0; j < s->nslices; j++)
			wb_keyset(&b, s->slice[j]);
		rn_wcur_u16(&b, s->nev);
		for (unsigned j = 0; j < s->nev; j++) {
			rn_wcur_u16(&b, s->ev[j].code);
			wb_keyset(&b, s->ev[j].ks);
		}
	}
	sec_end(&b, at);

	at = sec_begin(&b, SEC_OFFENCES);
	uint32_t noff = 0;
	for (unsigned s = 0; s < SPACE_COUNT; s++)
		for (unsigned j = 0; j < ENGINE_OFF_SLICES; j++)
			noff += e->off[s][j] != NULL;
	rn_wcur_u32(&b, noff);
	for (unsigned s = 0; s < SPACE_COUNT; s++) {
		for (unsigned j = 0; j < ENGINE_OFF_SLICES; j++) {
			if (e->off[s][j] == NULL)
				continue;
			rn_wcur_u8(&b, (uint8_t)s);
			rn_wcur_u8(&b, (uint8_t)j);
			wb_keyset(&b, e->off[s][j]);
		}
	}
	sec_end(&b, at);

	at = sec_begin(&b, SEC_TABLE);
	const struct scoring_table *t = e->cur;
	rn_wcur_bytes(&b, t->digest, 32);
	rn_wcur_u64(&b, t->count);
	for (size_t si = 0; si < t->nsp; si++) {
		const struct tspace *s = &t->sp[si];
		uint32_t hi = 0;
		for (size_t i = 0; i < s->n; i++) {
			if (s->family == RN_AF_INET)
				hi = tspace_hi_of(s, i, hi);
			const struct tcls *c = &t->cls[tspace_cls(s, i)];
			rn_wcur_u8(&b, s->family);
			rn_wcur_u8(&b, s->plen);
			rn_wcur_u64(&b, tspace_key(s, i, hi));
			rn_wcur_u32(&b, c->cats);
			rn_wcur_u64(&b, (uint64_t)c->expires_ms);
			rn_wcur_u32(&b, t->rich ? s->score[i] : 0);
			rn_wcur_u32(&b, t->rich ? s->first_s[i] : 0);
			rn_wcur_u32(&b, t->rich ? s->last_s[i] : 0);
			rn_wcur_u8(&b, t->rich ? s->offences[i] : 0);
			rn_wcur_u8(&b, t->rich ? s->flags[i] : 0);
		}
	}
	sec_end(&b, at);

	at = sec_begin(&b, SEC_HELD);
	rn_wcur_u32(&b, (uint32_t)e->nheld);
	for (size_t i = 0; i < e->nheld; i++)
		put_obs(&b, &e->held[i]);
	sec_end(&b, at);

	at = sec_begin(&b, SEC_BATCHES);
	rn_wcur_u32(&b, (uint32_t)applied->n);
	for (size_t i = 0; i < applied->n; i++) {
		rn_wcur_bytes(&b, applied->v[i].id, 16);
		rn_wcur_u64(&b, applied->v[i].seq);
	}
	sec_end(&b, at);

	bool attributed = false;
	for (size_t i = 0; i < e->nheld && !attributed; i++)
		attributed = e->held_from[i] != 0;
	if (attributed) {
		at = sec_begin(&b, SEC_HELD_FROM);
		rn_wcur_u32(&b, (uint32_t)e->nheld);
		for (size_t i = 0; i < e->nheld; i++) {
			const char *name = e->from[e->held_from[i]];
			size_t l = strnlen(name, RN_COLLECTOR_NAME_MAX - 1);
			rn_wcur_u8(&b, (uint8_t)l);
			rn_wcur_bytes(&b, name, l);
		}
		sec_end(&b, at);
	}

	if (!rn_wcur_ok(&b)) {
		int rc = b.err;
		rn_wcur_release(&b);
		return rc;
	}
	/* The header, now that the body is known. */
	uint64_t blen = b.len - STATE_HDR_LEN;
	memcpy(b.p, "RNSS", 4);
	rn_wcur_patch(&b, 4, 1, 4); /* the format's version */
	rn_wcur_patch(&b, 8, blen, 8);
	rn_wcur_patch(&b, 16, rn_crc32c(0, b.p + STATE_HDR_LEN, blen), 4);
	rn_wcur_patch(&b, 20, rn_crc32c(0, b.p, 20), 4);
	return rn_wcur_take(&b, out, len);
}

/* ---- reading ----------------------------------------------------------------- */

/* Opens the next section, which must carry tag; sub covers its data. */
static int sec_open(struct rn_cur *c, uint32_t tag, struct rn_cur *sub)
{
	uint32_t t = rn_cur_u32(c);
	uint64_t len = rn_cur_u64(c);
	if (!rn_cur_ok(c))
		return c->err;
	if (t != tag)
		return RN_EPARSE;
	if (len > rn_cur_left(c))
		return RN_ETRUNC;
	rn_cur_sub(c, (size_t)len, sub);
	return RN_OK;
}

/* A section must be consumed exactly. */
static int sec_close(const struct rn_cur *sub)
{
	if (!rn_cur_ok(sub))
		return sub->err;
	return rn_cur_left(sub) == 0 ? RN_OK : RN_EPARSE;
}

static bool space_ok(unsigned space, unsigned v6agg)
{
	if (space >= SPACE_COUNT)
		return false;
	unsigned plen = space_plen(space);
	if (space_family(space) == RN_AF_INET)
		return plen >= 8 && plen <= 32;
	return plen >= 16 && plen <= v6agg;
}

/* SEC_HELD_FROM: a collector name for each held observation ("" when not known). */
static int read_held_from(struct rn_cur *c, struct scoring_engine *e)
{
	struct rn_cur s;
	int rc = sec_open(c, SEC_HELD_FROM, &s);
	if (rc != RN_OK)
		return rc;
	uint32_t n = rn_cur_u32(&s);
	if (!rn_cur_ok(&s))
		return s.err;
	if (n != e->nheld)
		return RN_EPARSE;
	for (uint32_t i = 0; i < n; i++) {
		uint8_t l = rn_cur_u8(&s);
		const uint8_t *p = rn_cur_bytes(&s, l);
		char name[RN_COLLECTOR_NAME_MAX];
		if (p == NULL || l >= sizeof(name))
			return RN_EPARSE;
		for (uint8_t k = 0; k < l; k++)
			if (p[k] < 0x20 || p[k] == 0x7f)
				return RN_EPARSE;
		memcpy(name, p, l);
		name[l] = '\0';
		if ((rc = engine_from_intern(e, name, &e->held_from[i])) != RN_OK)
			return rc;
	}
	return sec_close(&s);
}

static int read_obs(struct rn_cur *c, struct rn_obs *o)
{
	memset(o, 0, sizeof(*o));
	uint8_t al = rn_cur_u8(c);
	const uint8_t *a = rn_cur_bytes(c, al);
	if (a == NULL || rn_addr_from_bytes(&o->addr, a, al) != RN_OK)
		return RN_EPARSE;
	o->prefix_len = rn_cur_u8(c);
	o->source = rn_cur_u8(c);
	o->kind = rn_cur_u16(c);
	o->count = rn_cur_u32(c);
	o->ts_ms = (int64_t)rn_cur_u64(c);
	uint8_t el = rn_cur_u8(c);
	const uint8_t *ev = rn_cur_bytes(c, el);
	if (!rn_cur_ok(c))
		return c->err;
	if (o->prefix_len > rn_addr_maxlen(&o->addr) || o->source >= RN_SRC_COUNT ||
	    o->kind >= RN_KIND_MAX || o->count == 0 || el >= RN_EVIDENCE_MAX ||
	    memchr(ev, '\0', el) != NULL)
		return RN_EPARSE;
	memcpy(o->evidence, ev, el);
	return RN_OK;
}

static int load_body(struct scoring_engine *e, struct batches *applied, struct rn_cur *c,
                     struct jpos *pos)
{
	struct rn_cur s;
	int rc;
	unsigned v6agg = (unsigned)e->conf.ipv6_prefix;

	if ((rc = sec_open(c, SEC_META, &s)) != RN_OK)
		return rc;
	pos->gen = rn_cur_u64(&s);
	pos->off = rn_cur_u64(&s);
	e->clock = (int64_t)rn_cur_u64(&s);
	e->max_ts = (int64_t)rn_cur_u64(&s);
	e->last_tick = (int64_t)rn_cur_u64(&s);
	e->next_tick = (int64_t)rn_cur_u64(&s);
	e->off_period = (int64_t)rn_cur_u64(&s);
	e->seq = rn_cur_u64(&s);
	int64_t bucket = (int64_t)rn_cur_u64(&s);
	uint32_t agg = rn_cur_u32(&s);
	if ((rc = sec_close(&s)) != RN_OK)
		return rc;
	if (bucket != e->conf.bucket_ms || agg != v6agg) {
		log_warnx("scoring: the snapshot was made with bucket %lld ms and ipv6_prefix %u; "
		          "the configuration says %lld ms and %u. Restore those settings, or move "
		          "the scoring state aside to start empty",
		          (long long)bucket, agg, (long long)e->conf.bucket_ms, v6agg);
		return RN_ECONF;
	}

	if ((rc = sec_open(c, SEC_CODES, &s)) != RN_OK)
		return rc;
	uint32_t ncodes = rn_cur_u32(&s);
	if (ncodes == 0 || ncodes > ENGINE_MAX_CODES)
		return RN_EPARSE;
	for (uint32_t i = 0; i < ncodes; i++) {
		uint8_t l = rn_cur_u8(&s);
		const uint8_t *p = rn_cur_bytes(&s, l);
		char code[ENGINE_CODE_MAX];
		if (p == NULL || l >= ENGINE_CODE_MAX || memchr(p, '\0', l) != NULL)
			return RN_EPARSE;
		memcpy(code, p, l);
		code[l] = '\0';
		uint16_t id;
		/* Code 0 is the engine's own "(other)"; the rest must come back in order. */
		if ((i == 0) != (l == 0))
			return RN_EPARSE;
		if ((rc = engine_code_intern(e, code, &id)) != RN_OK)
			return rc;
		if (id != i)
			return RN_EPARSE; /* a duplicate code */
	}
	if ((rc = sec_close(&s)) != RN_OK)
		return rc;

	if ((rc = sec_open(c, SEC_SETS, &s)) != RN_OK)
		return rc;
	uint32_t nsets = rn_cur_u32(&s);
	if (nsets > MAX_SETS)
		return RN_ELIMIT;
	for (uint32_t i = 0; i < nsets; i++) {
		uint8_t kind = rn_cur_u8(&s), space = rn_cur_u8(&s), ns = rn_cur_u8(&s);
		int64_t b = (int64_t)rn_cur_u64(&s);
		int64_t first = (int64_t)rn_cur_u64(&s), last = (int64_t)rn_cur_u64(&s);
		if (!rn_cur_ok(&s))
			return s.err;
		if (rn_kind_name(kind) == NULL || kind == RN_KIND_UNSPECIFIED ||
		    !space_ok(space, v6agg) || ns < 1 || ns > ENGINE_MAX_SLICES || b < 0 ||
		    b > INT64_MAX / e->conf.bucket_ms - 1 || first > last)
			return RN_EPARSE;
		size_t before = e->nsets;
		struct rset *set;
		if ((rc = engine_set_get(e, kind, space, b, &set)) != RN_OK)
			return rc;
		if (e->nsets == before)
			return RN_EPARSE; /* the same set twice */
		set->first_ms = first;
		set->last_ms = last;
		uint64_t mask = key_mask(space_family(space), space_plen(space));
		for (unsigned j = 0; j < ns; j++) {
			if ((rc = keyset_read(&s, mask, MAX_KEYS, &set->slice[j])) != RN_OK)
				return rc;
			set->nslices = (uint8_t)(j + 1);
		}
		uint16_t nev = rn_cur_u16(&s);
		if (!rn_cur_ok(&s))
			return s.err;
		set->ev = calloc(nev ? nev : 1, sizeof(*set->ev));
		if (set->ev == NULL)
			return -ENOMEM;
		set->capev = nev ? nev : 1;
		for (unsigned j = 0; j < nev; j++) {
			uint16_t code = rn_cur_u16(&s);
			if (!rn_cur_ok(&s))
				return s.err;
			if (code >= e->ncodes)
				return RN_EPARSE;
			for (unsigned k = 0; k < set->nev; k++)
				if (set->ev[k].code == code)
					return RN_EPARSE;
			set->ev[j].code = code;
			if ((rc = keyset_read(&s, mask, MAX_KEYS, &set->ev[j].ks)) != RN_OK)
				return rc;
			set->nev = (uint16_t)(j + 1);
		}
	}
	if ((rc = sec_close(&s)) != RN_OK)
		return rc;

	if ((rc = sec_open(c, SEC_OFFENCES, &s)) != RN_OK)
		return rc;
	uint32_t noff = rn_cur_u32(&s);
	if (noff > SPACE_COUNT * ENGINE_OFF_SLICES)
		return RN_EPARSE;
	for (uint32_t i = 0; i < noff; i++) {
		uint8_t space = rn_cur_u8(&s), j = rn_cur_u8(&s);
		if (!rn_cur_ok(&s))
			return s.err;
		if (!space_ok(space, 64) || j >= ENGINE_OFF_SLICES || e->off[space][j] != NULL)
			return RN_EPARSE;
		uint64_t mask = key_mask(space_family(space), space_plen(space));
		if ((rc = keyset_read(&s, mask, MAX_KEYS, &e->off[space][j])) != RN_OK)
			return rc;
	}
	if ((rc = sec_close(&s)) != RN_OK)
		return rc;

	if ((rc = sec_open(c, SEC_TABLE, &s)) != RN_OK)
		return rc;
	const uint8_t *digest = rn_cur_bytes(&s, 32);
	uint64_t n = rn_cur_u64(&s);
	if (!rn_cur_ok(&s))
		return s.err;
	/* 34 bytes per entry: refuse a count the section cannot hold. */
	if (n > MAX_ENTRIES || n > rn_cur_left(&s) / 34)
		return RN_EPARSE;
	struct tbuilder tb;
	tbuilder_init(&tb, true, e->conf.dry_run);
	for (uint64_t i = 0; i < n; i++) {
		uint8_t fam = rn_cur_u8(&s), plen = rn_cur_u8(&s);
		uint64_t key = rn_cur_u64(&s);
		uint32_t cats = rn_cur_u32(&s);
		int64_t exp = (int64_t)rn_cur_u64(&s);
		struct trich r;
		r.score = rn_cur_u32(&s);
		r.first_s = rn_cur_u32(&s);
		r.last_s = rn_cur_u32(&s);
		r.offences = rn_cur_u8(&s);
		r.flags = rn_cur_u8(&s);
		if (!rn_cur_ok(&s)) {
			tbuilder_release(&tb);
			return s.err;
		}
		if ((fam != RN_AF_INET && fam != RN_AF_INET6) ||
		    !space_ok(space_index(fam, plen), 64) ||
		    (cats & ~(((1u << RN_CAT_COUNT) - 1) & ~1u)) != 0 || exp <= 0 ||
		    r.offences > ENGINE_OFF_MAX || (r.flags & ~SCORING_F_ESCALATED) != 0) {
			tbuilder_release(&tb);
			return RN_EPARSE;
		}
		/* The builder refuses disorder, duplicates, empty categories and stray bits. */
		if ((rc = tbuilder_push(&tb, fam, plen, key, cats, exp, 0, &r)) != RN_OK) {
			tbuilder_release(&tb);
			return rc;
		}
	}
	struct scoring_table *t = NULL;
	if ((rc = tbuilder_finish(&tb, NULL, &t)) != RN_OK)
		return rc;
	if (memcmp(t->digest, digest, 32) != 0) {
		scoring_table_free(t);
		return RN_EDIGEST;
	}
	engine_set_table(e, t);
	if ((rc = sec_close(&s)) != RN_OK)
		return rc;

	if ((rc = sec_open(c, SEC_HELD, &s)) != RN_OK)
		return rc;
	uint32_t nheld = rn_cur_u32(&s);
	if (!rn_cur_ok(&s))
		return s.err;
	if (nheld > rn_cur_left(&s) / 20)
		return RN_EPARSE;
	if (nheld > 0) {
		e->held = calloc(nheld, sizeof(*e->held));
		e->held_from = calloc(nheld, sizeof(*e->held_from));
		if (e->held == NULL || e->held_from == NULL)
			return -ENOMEM;
		e->capheld = nheld;
	}
	for (uint32_t i = 0; i < nheld; i++) {
		if ((rc = read_obs(&s, &e->held[i])) != RN_OK)
			return rc;
		e->nheld++;
	}
	if ((rc = sec_close(&s)) != RN_OK)
		return rc;

	if ((rc = sec_open(c, SEC_BATCHES, &s)) != RN_OK)
		return rc;
	uint32_t ncoll = rn_cur_u32(&s);
	if (!rn_cur_ok(&s))
		return s.err;
	if (ncoll > rn_cur_left(&s) / 24)
		return RN_EPARSE;
	for (uint32_t i = 0; i < ncoll; i++) {
		const uint8_t *id = rn_cur_bytes(&s, 16);
		uint64_t seq = rn_cur_u64(&s);
		if (id == NULL)
			return s.err;
		if (batches_find(applied, id) != NULL)
			return RN_EPARSE; /* a collector twice */
		if ((rc = batches_note(applied, id, seq, (struct jpos){0, 0})) != RN_OK)
			return rc;
	}
	if ((rc = sec_close(&s)) != RN_OK)
		return rc;

	if (rn_cur_left(c) > 0 && (rc = read_held_from(c, e)) != RN_OK)
		return rc;
	return rn_cur_left(c) == 0 ? RN_OK : RN_EPARSE;
}

int state_load(const uint8_t *buf, size_t len, const struct scoring_conf *conf, bool live,
               struct scoring_engine **out, struct batches *applied, struct jpos *pos)
{
	struct rn_cur c;
	rn_cur_init(&c, buf, len);
	const uint8_t *h = rn_cur_bytes(&c, STATE_HDR_LEN);
	if (h == NULL || memcmp(h, "RNSS", 4) != 0)
		return RN_EPARSE;
	struct rn_cur hc;
	rn_cur_init(&hc, h + 4, 20);
	uint32_t version = rn_cur_u32(&hc);
	uint64_t blen = rn_cur_u64(&hc);
	uint32_t bcrc = rn_cur_u32(&hc);
	uint32_t hcrc = rn_cur_u32(&hc);
	if (hcrc != rn_crc32c(0, h, 20))
		return RN_ECHECKSUM;
	if (version != 1)
		return RN_EVERSION;
	if (blen != rn_cur_left(&c))
		return RN_EBADLEN;
	if (rn_crc32c(0, c.p, (size_t)blen) != bcrc)
		return RN_ECHECKSUM;
	struct scoring_engine *e = NULL;
	int rc = scoring_engine_new(conf, live, &e);
	if (rc != RN_OK)
		return rc;
	struct jpos p = {0, 0};
	rc = load_body(e, applied, &c, &p);
	if (rc != RN_OK) {
		batches_release(applied);
		scoring_engine_free(e);
		return rc;
	}
	e->last_set = NULL;
	*out = e;
	*pos = p;
	return RN_OK;
}
