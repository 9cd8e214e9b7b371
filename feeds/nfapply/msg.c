/*
 * msg.c: set names, and the typed messages between the sync engine
 * and the privileged applier.
 *
 * Design notes: the applier holds CAP_NET_ADMIN and the engine does not,
 * so the applier treats every message as hostile input: each field is
 * read through a bounded cursor and checked (set kinds and groups, flags,
 * counts against the bytes present, ranges ordered), and a datagram with
 * bytes left over is refused, as OpenSMTPD's m_end() refuses them. The
 * engine decodes the applier's answers with the same code. A message can
 * only name sets of this module's fixed vocabulary; the table comes from
 * the applier's command line, never from a message. Stateless and
 * thread-safe.
 */
#include <linux/netfilter.h>
#include <stdio.h>
#include <string.h>

#include "feeds/nfapply/nfapply.h"

static const char *const kind_names[NFS_K_COUNT] = {"v4", "v6", "net4", "net6", "allow4", "allow6"};

bool nfs_setid_valid(const struct nfs_setid *id)
{
	if (id->kind >= NFS_K_COUNT)
		return false;
	if (id->kind == NFS_K_ALLOW4 || id->kind == NFS_K_ALLOW6)
		return id->group == NFS_GROUP_ALL;
	return id->group == NFS_GROUP_ALL || id->group < RN_CAT_COUNT;
}

int nfs_set_name(const struct nfs_setid *id, const char *ipset_prefix, bool tmp, char *dst,
                 size_t dstlen)
{
	if (!nfs_setid_valid(id))
		return RN_EINTERNAL;
	const char *cat = id->group == NFS_GROUP_ALL ? NULL : rn_category_name(id->group);
	if (id->group != NFS_GROUP_ALL && cat == NULL)
		return RN_EINTERNAL;
	int n = snprintf(dst, dstlen, "%s%s%s%s%s%s", ipset_prefix ? ipset_prefix : "",
	                 ipset_prefix ? "_" : "", cat ? cat : "", cat ? "_" : "",
	                 kind_names[id->kind], tmp ? "_t" : "");
	if (n < 0 || (size_t)n >= dstlen)
		return RN_ELIMIT;
	return RN_OK;
}

int nfs_set_name_parse(const char *name, size_t len, const char *ipset_prefix, struct nfs_setid *id,
                       bool *tmp)
{
	char buf[NFS_NAME_MAX];
	for (unsigned g = 0; g < NFS_GROUP_SLOTS; g++) {
		for (unsigned k = 0; k < NFS_K_COUNT; k++) {
			for (int t = 0; t < 2; t++) {
				struct nfs_setid c = {
				        .kind = (uint8_t)k,
				        .group = (uint8_t)(g == RN_CAT_COUNT ? NFS_GROUP_ALL : g)};
				if (!nfs_setid_valid(&c))
					continue;
				if (t == 1 && ipset_prefix == NULL)
					continue;
				if (nfs_set_name(&c, ipset_prefix, t == 1, buf, sizeof(buf)) !=
				    RN_OK)
					continue;
				if (strlen(buf) == len && memcmp(buf, name, len) == 0) {
					*id = c;
					*tmp = t == 1;
					return RN_OK;
				}
			}
		}
	}
	return RN_ENOTFOUND;
}

/* ---- writer ---- */

/* RN_ELIMIT when the message did not fit. */
static int done(const struct rn_wcur *w)
{
	return w->err;
}

int nfs_enc_ready(struct rn_wcur *w, uint8_t backend, uint32_t pid)
{
	rn_wcur_reset(w);
	rn_wcur_u8(w, NFS_M_READY);
	rn_wcur_u32(w, NFS_PROTO_VERSION);
	rn_wcur_u8(w, backend);
	rn_wcur_u32(w, pid);
	return done(w);
}

int nfs_enc_result(struct rn_wcur *w, uint32_t txn, int32_t rc, int32_t kerr, uint32_t op,
                   const char *text)
{
	size_t n = text ? strnlen(text, NFS_ERRMSG_MAX) : 0;
	rn_wcur_reset(w);
	rn_wcur_u8(w, NFS_M_RESULT);
	rn_wcur_u32(w, txn);
	rn_wcur_u32(w, (uint32_t)rc);
	rn_wcur_u32(w, (uint32_t)kerr);
	rn_wcur_u32(w, op);
	rn_wcur_u16(w, (uint16_t)n);
	rn_wcur_bytes(w, text, n);
	return done(w);
}

int nfs_enc_dump_end(struct rn_wcur *w, int32_t rc, uint32_t count, uint32_t anomalies,
                     uint32_t genid)
{
	rn_wcur_reset(w);
	rn_wcur_u8(w, NFS_M_DUMP_END);
	rn_wcur_u32(w, (uint32_t)rc);
	rn_wcur_u32(w, count);
	rn_wcur_u32(w, anomalies);
	rn_wcur_u32(w, genid);
	return done(w);
}

int nfs_enc_begin(struct rn_wcur *w, uint32_t txn, uint32_t genid)
{
	rn_wcur_reset(w);
	rn_wcur_u8(w, NFS_M_BEGIN);
	rn_wcur_u32(w, txn);
	rn_wcur_u32(w, genid);
	return done(w);
}

int nfs_enc_simple(struct rn_wcur *w, uint8_t type)
{
	rn_wcur_reset(w);
	rn_wcur_u8(w, type);
	return done(w);
}

int nfs_enc_set(struct rn_wcur *w, uint8_t type, const struct nfs_setid *id, uint8_t flags,
                uint32_t size)
{
	rn_wcur_reset(w);
	rn_wcur_u8(w, type);
	rn_wcur_u8(w, id->kind);
	rn_wcur_u8(w, id->group);
	rn_wcur_u8(w, flags);
	rn_wcur_u32(w, size);
	return done(w);
}

int nfs_enc_chain(struct rn_wcur *w, uint8_t type, uint8_t chain, int32_t prio)
{
	rn_wcur_reset(w);
	rn_wcur_u8(w, type);
	rn_wcur_u8(w, chain);
	rn_wcur_u32(w, (uint32_t)prio);
	return done(w);
}

int nfs_enc_rules(struct rn_wcur *w, const struct nfs_setid *ids, size_t n)
{
	if (n > NFS_RULES_MAX)
		return RN_ELIMIT;
	rn_wcur_reset(w);
	rn_wcur_u8(w, NFS_M_RULES);
	rn_wcur_u8(w, (uint8_t)n);
	for (size_t i = 0; i < n; i++) {
		rn_wcur_u8(w, ids[i].kind);
		rn_wcur_u8(w, ids[i].group);
	}
	return done(w);
}

int nfs_enc_sets(struct rn_wcur *w, const struct nfs_sets *s)
{
	if (s->n > NFS_SETS_MAX)
		return RN_ELIMIT;
	rn_wcur_reset(w);
	rn_wcur_u8(w, NFS_M_SETS);
	rn_wcur_u32(w, s->genid);
	rn_wcur_u8(w, s->table);
	for (unsigned c = 0; c < NFS_CHAIN_COUNT; c++) {
		rn_wcur_u8(w, s->chains[c].present);
		rn_wcur_u32(w, (uint32_t)s->chains[c].prio);
		rn_wcur_u32(w, s->chains[c].rules);
	}
	rn_wcur_u16(w, s->foreign);
	rn_wcur_u16(w, s->n);
	for (unsigned i = 0; i < s->n; i++) {
		rn_wcur_u8(w, s->v[i].id.kind);
		rn_wcur_u8(w, s->v[i].id.group);
		rn_wcur_u8(w, s->v[i].flags);
		rn_wcur_u32(w, s->v[i].size);
		rn_wcur_u32(w, s->v[i].count);
	}
	return done(w);
}

int nfs_enc_elems_start(struct rn_wcur *w, uint8_t op, const struct nfs_setid *id, uint8_t flags)
{
	rn_wcur_reset(w);
	rn_wcur_u8(w, NFS_M_ELEMS);
	rn_wcur_u8(w, op);
	rn_wcur_u8(w, id->kind);
	rn_wcur_u8(w, id->group);
	rn_wcur_u8(w, flags);
	rn_wcur_u16(w, 0);
	return done(w);
}

int nfs_enc_elems_finish(struct rn_wcur *w, uint16_t n)
{
	rn_wcur_patch(w, 5, n, 2); /* the count, after op, kind, group and flags */
	return done(w);
}

/* ---- decoder ---- */

/* The m_end() rule: the whole datagram, and nothing more, was read. */
static int end(const struct rn_cur *c)
{
	if (!rn_cur_ok(c))
		return c->err;
	return rn_cur_left(c) == 0 ? RN_OK : RN_EPARSE;
}

static bool get_setid(struct rn_cur *c, struct nfs_setid *id)
{
	id->kind = rn_cur_u8(c);
	id->group = rn_cur_u8(c);
	return rn_cur_ok(c) && nfs_setid_valid(id);
}

/* Interval items must have lo <= hi. */
static bool items_ok(unsigned kind, const uint8_t *items, size_t n)
{
	if (!nfs_kind_interval(kind))
		return true;
	unsigned klen = nfs_kind_klen(kind);
	for (size_t i = 0; i < n; i++) {
		const uint8_t *it = items + i * 2 * klen;
		if (memcmp(it, it + klen, klen) > 0)
			return false;
	}
	return true;
}

int nfs_msg_decode(const uint8_t *buf, size_t len, struct nfs_msg *m)
{
	struct rn_cur c;
	rn_cur_init(&c, buf, len);
	memset(m, 0, sizeof(*m));
	m->type = rn_cur_u8(&c);
	if (!rn_cur_ok(&c))
		return c.err;
	switch (m->type) {
	case NFS_M_READY:
		m->u.ready.version = rn_cur_u32(&c);
		m->u.ready.backend = rn_cur_u8(&c);
		m->u.ready.pid = rn_cur_u32(&c);
		if (rn_cur_ok(&c) && m->u.ready.backend > FEEDS_SYNC_IPSET)
			return RN_EPARSE;
		return end(&c);
	case NFS_M_RESULT: {
		m->u.result.txn = rn_cur_u32(&c);
		m->u.result.rc = (int32_t)rn_cur_u32(&c);
		m->u.result.kerr = (int32_t)rn_cur_u32(&c);
		m->u.result.op = rn_cur_u32(&c);
		uint16_t n = rn_cur_u16(&c);
		if (!rn_cur_ok(&c))
			return c.err;
		if (n > NFS_ERRMSG_MAX)
			return RN_EBADLEN;
		const uint8_t *t = rn_cur_bytes(&c, n);
		if (t == NULL)
			return c.err;
		if (memchr(t, '\0', n) != NULL)
			return RN_EPARSE;
		memcpy(m->u.result.text, t, n);
		m->u.result.text[n] = '\0';
		if (m->u.result.rc > 0 || m->u.result.kerr < 0)
			return RN_EPARSE;
		return end(&c);
	}
	case NFS_M_DUMP_END:
		m->u.dump_end.rc = (int32_t)rn_cur_u32(&c);
		m->u.dump_end.count = rn_cur_u32(&c);
		m->u.dump_end.anomalies = rn_cur_u32(&c);
		m->u.dump_end.genid = rn_cur_u32(&c);
		if (rn_cur_ok(&c) && m->u.dump_end.rc > 0)
			return RN_EPARSE;
		return end(&c);
	case NFS_M_BEGIN:
		m->u.begin.txn = rn_cur_u32(&c);
		m->u.begin.genid = rn_cur_u32(&c);
		return end(&c);
	case NFS_M_TABLE:
	case NFS_M_COMMIT:
	case NFS_M_LIST:
	case NFS_M_DESTROY:
		return end(&c);
	case NFS_M_SET_ADD:
	case NFS_M_SET_DEL:
	case NFS_M_SET_SWAP:
	case NFS_M_DUMP:
		if (!get_setid(&c, &m->u.set.id))
			return rn_cur_ok(&c) ? RN_EPARSE : c.err;
		m->u.set.flags = rn_cur_u8(&c);
		m->u.set.size = rn_cur_u32(&c);
		if (!rn_cur_ok(&c))
			return c.err;
		if ((m->u.set.flags & ~NFS_SETF_TMP) != 0)
			return RN_EPARSE;
		if (m->type != NFS_M_SET_ADD && m->u.set.size != 0)
			return RN_EPARSE;
		return end(&c);
	case NFS_M_CHAIN_FLUSH:
	case NFS_M_CHAIN_DEL:
	case NFS_M_CHAIN_ADD:
		m->u.chain.chain = rn_cur_u8(&c);
		m->u.chain.prio = (int32_t)rn_cur_u32(&c);
		if (!rn_cur_ok(&c))
			return c.err;
		if (m->u.chain.chain >= NFS_CHAIN_COUNT)
			return RN_EPARSE;
		if (m->type != NFS_M_CHAIN_ADD && m->u.chain.prio != 0)
			return RN_EPARSE;
		if (m->type == NFS_M_CHAIN_ADD && m->u.chain.chain != NFS_CHAIN_BLOCKLIST &&
		    (m->u.chain.prio < -1000 || m->u.chain.prio > 1000))
			return RN_EPARSE;
		return end(&c);
	case NFS_M_RULES: {
		uint8_t n = rn_cur_u8(&c);
		if (!rn_cur_ok(&c))
			return c.err;
		if (n > NFS_RULES_MAX)
			return RN_ELIMIT;
		m->u.rules.n = n;
		for (unsigned i = 0; i < n; i++)
			if (!get_setid(&c, &m->u.rules.ids[i]))
				return rn_cur_ok(&c) ? RN_EPARSE : c.err;
		return end(&c);
	}
	case NFS_M_ELEMS: {
		m->u.elems.op = rn_cur_u8(&c);
		if (!get_setid(&c, &m->u.elems.id))
			return rn_cur_ok(&c) ? RN_EPARSE : c.err;
		m->u.elems.flags = rn_cur_u8(&c);
		m->u.elems.n = rn_cur_u16(&c);
		if (!rn_cur_ok(&c))
			return c.err;
		if (m->u.elems.op < NFS_OP_ADD || m->u.elems.op > NFS_OP_DUMP)
			return RN_EPARSE;
		if ((m->u.elems.flags & ~NFS_SETF_TMP) != 0)
			return RN_EPARSE;
		size_t il = nfs_item_len(m->u.elems.id.kind);
		if (rn_cur_left(&c) != (size_t)m->u.elems.n * il)
			return RN_EBADLEN;
		m->u.elems.items = rn_cur_bytes(&c, (size_t)m->u.elems.n * il);
		if (m->u.elems.n > 0 && m->u.elems.items == NULL)
			return c.err;
		if (!items_ok(m->u.elems.id.kind, m->u.elems.items, m->u.elems.n))
			return RN_EPARSE;
		return end(&c);
	}
	default:
		return RN_EPARSE;
	}
}

int nfs_msg_decode_sets(const uint8_t *buf, size_t len, struct nfs_sets *s)
{
	struct rn_cur c;
	rn_cur_init(&c, buf, len);
	memset(s, 0, sizeof(*s));
	if (rn_cur_u8(&c) != NFS_M_SETS)
		return rn_cur_ok(&c) ? RN_EPARSE : c.err;
	s->genid = rn_cur_u32(&c);
	s->table = rn_cur_u8(&c);
	for (unsigned i = 0; i < NFS_CHAIN_COUNT; i++) {
		s->chains[i].present = rn_cur_u8(&c);
		s->chains[i].prio = (int32_t)rn_cur_u32(&c);
		s->chains[i].rules = rn_cur_u32(&c);
	}
	s->foreign = rn_cur_u16(&c);
	s->n = rn_cur_u16(&c);
	if (!rn_cur_ok(&c))
		return c.err;
	if (s->n > NFS_SETS_MAX)
		return RN_ELIMIT;
	if (s->table > 1)
		return RN_EPARSE;
	for (unsigned i = 0; i < s->n; i++) {
		if (!get_setid(&c, &s->v[i].id))
			return rn_cur_ok(&c) ? RN_EPARSE : c.err;
		s->v[i].flags = rn_cur_u8(&c);
		s->v[i].size = rn_cur_u32(&c);
		s->v[i].count = rn_cur_u32(&c);
		if (rn_cur_ok(&c) && (s->v[i].flags & ~(NFS_SETF_TMP | NFS_SETF_COMPAT)) != 0)
			return RN_EPARSE;
	}
	return end(&c);
}

static int parse_table(const char *spec, int *family, char *name)
{
	static const struct {
		const char *s;
		int f;
	} fams[] = {{"inet", NFPROTO_INET}, {"ip", NFPROTO_IPV4}, {"ip6", NFPROTO_IPV6}};
	const char *sp = strchr(spec, ' ');
	if (sp == NULL)
		return RN_ECONF;
	size_t fl = (size_t)(sp - spec);
	const char *nm = sp + 1;
	size_t nl = strlen(nm);
	if (nl == 0 || nl >= NFS_NAME_MAX)
		return RN_ECONF;
	for (size_t i = 0; i < nl; i++) {
		char c = nm[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return RN_ECONF;
	}
	for (size_t i = 0; i < RN_ARRAY_LEN(fams); i++) {
		if (strlen(fams[i].s) == fl && strncmp(spec, fams[i].s, fl) == 0) {
			*family = fams[i].f;
			memcpy(name, nm, nl + 1);
			return RN_OK;
		}
	}
	return RN_ECONF;
}

int nfs_table_parse(const char *spec, int *family, char *name, size_t namelen)
{
	char buf[NFS_NAME_MAX];
	int rc = parse_table(spec, family, buf);
	if (rc != RN_OK)
		return rc;
	if (strlen(buf) >= namelen)
		return RN_ELIMIT;
	strcpy(name, buf);
	return RN_OK;
}
