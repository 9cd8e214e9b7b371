/*
 * templates_file.c: NetFlow v9 and IPFIX templates kept across restarts,
 * in one file per worker under the data directory.
 *
 * Design notes: the file is written whole (rn_file_replace()) from every
 * stored template of the decoders given, each entry with its session key
 * and its own CRC32C, written through a growable write cursor whose
 * lengths, CRCs and count are patched in once what they cover is written;
 * a decoder holds at most max_templates, so the file
 * is bounded by the table it came from. Loading reads at most what such a
 * table can fill through a bounded cursor; every entry goes through the
 * same validation, compilation and caps as a template from the wire
 * (flow_tmpl_compile(), flow_tmpl_store(), whose eviction keeps a flooded
 * file from crowding out the others), and an entry that fails is skipped
 * and counted, so a damaged file costs only its damaged entries. Entries
 * whose lifetime ran out while the collector was down, or whose exporter
 * is no longer allowed, are pruned. The format is in docs/design.md ("Template
 * persistence") and must not change without a new version number.
 * Thread: the thread that owns the decoders (a worker saves its own).
 */
#include <stdlib.h>

#include "collector/flow.h"

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
#define TMPL_TIME_MAX (1LL << 53) /* learned ms past this are damage, not time */

int flow_tmpl_save(struct flow_dec *const *decs, size_t ndec, const char *path)
{
	struct rn_wcur w;
	uint32_t count = 0;
	int rc;

	rn_wcur_init_alloc(&w, TMPL_FILE_MAX);
	rn_wcur_u32(&w, TMPL_MAGIC);
	rn_wcur_u32(&w, 1);
	rn_wcur_u32(&w, 0); /* count, patched below */
	for (size_t k = 0; k < ndec && rn_wcur_ok(&w); k++) {
		struct flow_dec *d = decs[k];
		for (size_t i = 0; i < d->ntmpl_cap && rn_wcur_ok(&w); i++) {
			const struct flow_tmpl *t = &d->tmpls[i];
			if (t->session == 0)
				continue;
			const struct flow_session *s = &d->sessions[t->session - 1];
			size_t at = w.len;
			rn_wcur_u32(&w, 0); /* body length and CRC, patched below */
			rn_wcur_u32(&w, 0);
			size_t body = w.len;
			uint8_t a[16] = {0};
			rn_addr_to_bytes(&s->addr, a);
			rn_wcur_u8(&w, s->addr.family);
			rn_wcur_bytes(&w, a, 16);
			rn_wcur_u16(&w, s->port);
			rn_wcur_u8(&w, s->version);
			rn_wcur_u32(&w, s->domain);
			rn_wcur_u16(&w, t->id);
			rn_wcur_u8(&w, t->options);
			rn_wcur_u16(&w, t->nscope);
			rn_wcur_u16(&w, t->nfields);
			rn_wcur_u64(&w, (uint64_t)t->learned_ms);
			for (uint16_t f = 0; f < t->nfields; f++) {
				rn_wcur_u16(&w, t->f[f].ie);
				rn_wcur_u16(&w, t->f[f].len);
				rn_wcur_u32(&w, t->f[f].pen);
			}
			if (!rn_wcur_ok(&w))
				break;
			rn_wcur_patch(&w, at, w.len - body, 4);
			rn_wcur_patch(&w, at + 4, rn_crc32c(0, w.p + body, w.len - body), 4);
			count++;
		}
	}
	rn_wcur_patch(&w, 8, count, 4);
	rc = w.err;
	if (rc == RN_OK)
		rc = rn_file_replace(path, w.p, w.len, 0640);
	rn_wcur_release(&w);
	if (rc == RN_OK)
		for (size_t k = 0; k < ndec; k++)
			decs[k]->tmpl_dirty = false;
	return rc;
}

/* The largest entry: length, CRC, the fixed body and FLOW_TMPL_MAX_FIELDS fields. */
#define TMPL_ENTRY_MAX (8u + 37u + FLOW_TMPL_MAX_FIELDS * 8u)

int flow_tmpl_load(struct flow_dec *d, const char *path, int64_t now_ms,
                   const struct rn_prefix_list *allow, struct flow_tmpl_load_stats *st)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	struct rn_cur c;
	int rc;

	memset(st, 0, sizeof(*st));
	/* A file a decoder of this size saved fits; a bigger one is refused whole. */
	size_t max = 12 + d->ntmpl_cap * (size_t)TMPL_ENTRY_MAX;
	rc = rn_file_read(path, max < TMPL_FILE_MAX ? max : TMPL_FILE_MAX, &buf, &len);
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
			st->bad++;
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
		    t.learned_ms < 0 || t.learned_ms > TMPL_TIME_MAX ||
		    rn_addr_from_bytes(&o.addr, a, fam == RN_AF_INET ? 4 : 16) != RN_OK) {
			st->bad++;
			continue;
		}
		for (uint16_t f = 0; f < t.nfields; f++) {
			t.f[f].ie = rn_cur_u16(&b);
			t.f[f].len = rn_cur_u16(&b);
			t.f[f].pen = rn_cur_u32(&b);
		}
		if (!rn_cur_ok(&b) || rn_cur_left(&b) != 0 || flow_tmpl_compile(&t) != RN_OK) {
			st->bad++;
			continue;
		}
		/* Pruned: expired while we were down, or from an exporter no longer allowed. */
		if (flow_tmpl_expired(d, &t, now_ms) ||
		    (allow != NULL && !rn_prefix_list_contains(allow, &o.addr))) {
			st->pruned++;
			continue;
		}
		/* The session was last used when this template was last sent. */
		o.recv_ms = t.learned_ms;
		struct flow_exporter *e = flow_exporters_get(d->exps, &o.addr);
		struct flow_session *s = flow_session_get(d, &o, e, t.version, domain);
		if (s == NULL || flow_tmpl_store(d, s, &t) != RN_OK) {
			st->pruned++; /* past its exporter's cap */
			continue;
		}
		st->loaded++;
	}
	d->tmpl_dirty = false;
	d->tmpl_refreshed = false;
	rc = rn_cur_left(&c) == 0 ? RN_OK : RN_EBADLEN;
out:
	free(buf);
	return rc;
}
