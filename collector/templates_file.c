/*
 * templates_file.c: NetFlow v9 and IPFIX templates kept across restarts,
 * in one file per worker under the data directory.
 *
 * Design notes: the file is written whole (rn_file_replace()) from every
 * stored template of the decoders given, each entry with its session key
 * and its own CRC32C; a decoder holds at most max_templates, so the file
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
#include <errno.h>
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
