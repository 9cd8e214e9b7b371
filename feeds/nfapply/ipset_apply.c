/*
 * ipset_apply.c: the applier's ipset backend: LIST of our sets, the
 * operations of a transaction in stages, COMMIT, and DUMP of one set.
 *
 * Design notes:
 *
 * Stages. ipset has no transactions: each message stands alone, and the
 * kernel goes on after a failed one. So a transaction's operations go in
 * stages (ipset_batch.c), one sendmsg() each, and a stage is sent only
 * when every message of the previous one was acknowledged. A swap ends a
 * stage and runs alone in the next, so it happens only after the
 * temporary set it swaps in was filled without error. Sequence numbers
 * run on from stage to stage, with a gap.
 *
 * Names. ipset names are global: only sets named with our prefix (from
 * the command line, never from a message) are ours, listed, dumped or
 * destroyed. Set types are created at the revision the kernel offers,
 * asked once at start (IPSET_CMD_TYPE).
 *
 * Single-threaded.
 */
#include <stdio.h>
#include <string.h>
#include <linux/netfilter.h>
#include <linux/netfilter/ipset/ip_set.h>
#include <linux/netfilter/ipset/ip_set_hash.h>

#include "feeds/nfapply/netlink.h"

static int ipset_name(struct applier *a, const struct nfs_setid *id, bool tmp, char *name)
{
	return nfs_set_name(id, a->prefix, tmp, name, NFS_NAME_MAX);
}

/* ------------------------------------------------------------------ */
/* LIST                                                                */
/* ------------------------------------------------------------------ */

static bool set_compat(unsigned kind, const struct nlr_ipset *h)
{
	const char *type = nfs_kind_interval(kind) ? "hash:net" : "hash:ip";
	uint8_t fam = nfs_kind_v6(kind) ? NFPROTO_IPV6 : NFPROTO_IPV4;
	return nlr_str_eq(&h->type, type) && h->family == fam;
}

struct ipsetlist {
	struct nfs_sets *out;
	const char *prefix;
};

static int list_cb(const struct nlr_msg *m, const struct nlr_nfgen *g, void *arg)
{
	struct ipsetlist *l = arg;
	struct nlr_ipset h;
	struct nfs_setid id;
	bool tmp;
	(void)m;
	int rc = nlr_ipset(g, &h, NULL, NULL);
	if (rc != RN_OK)
		return rc;
	if (h.name.s == NULL || !h.has_header)
		return RN_OK;
	if (nfs_set_name_parse(h.name.s, h.name.len, l->prefix, &id, &tmp) != RN_OK ||
	    id.kind > NFS_K_NET6 || l->out->n >= NFS_SETS_MAX)
		return RN_OK; /* not ours: ipset names are global */
	struct nfs_setinfo *si = &l->out->v[l->out->n++];
	si->id = id;
	si->flags = (uint8_t)((tmp ? NFS_SETF_TMP : 0) |
	                      (set_compat(id.kind, &h) ? NFS_SETF_COMPAT : 0));
	si->size = h.maxelem;
	si->count = h.elements;
	return RN_OK;
}

static int ipset_list(struct applier *a, struct nfs_sets *out)
{
	uint8_t req[512];
	struct nfa_query q;
	struct ipsetlist l = {.out = out, .prefix = a->prefix};
	memset(out, 0, sizeof(*out));
	size_t len = ipb_req_list(req, sizeof(req), NULL, ++a->seq);
	int rc = nfa_nl_query(a, req, len, true, list_cb, &l, &q);
	if (rc != RN_OK)
		return rc;
	if (q.error != 0)
		return RN_ENETLINK;
	out->table = 1;
	return RN_OK;
}

/* ------------------------------------------------------------------ */
/* DUMP                                                                */
/* ------------------------------------------------------------------ */

static int member_cb(const uint8_t *addr, size_t alen, unsigned cidr, void *arg)
{
	struct nfa_dump *d = arg;
	unsigned klen = nfs_kind_klen(d->id.kind);
	if (alen != klen) {
		d->anomalies++;
		return RN_OK;
	}
	if (!nfs_kind_interval(d->id.kind)) {
		if (cidr != 0 && cidr != klen * 8) {
			d->anomalies++;
			return RN_OK;
		}
		return nfa_dump_put(d, addr);
	}
	uint8_t it[32];
	nfs_prefix_bounds(addr, cidr ? cidr : klen * 8, klen, it, it + klen);
	return nfa_dump_put(d, it);
}

static int dump_cb(const struct nlr_msg *m, const struct nlr_nfgen *g, void *arg)
{
	struct nlr_ipset h;
	(void)m;
	return nlr_ipset(g, &h, member_cb, arg);
}

static int ipset_dump(struct applier *a, struct nfa_dump *d, struct nfa_query *q)
{
	uint8_t req[1024];
	size_t len = ipb_req_list(req, sizeof(req), d->name, ++a->seq);
	int rc = nfa_nl_query(a, req, len, true, dump_cb, d, q);
	return rc == RN_OK ? nfa_query_rc(q) : rc;
}

/* ------------------------------------------------------------------ */
/* Transactions                                                        */
/* ------------------------------------------------------------------ */

static struct ipb *stage_cur(struct applier *a)
{
	return &a->stages[a->nstages - 1];
}

static int stage_new(struct applier *a)
{
	if (a->nstages == NFA_STAGES_MAX)
		return RN_ELIMIT;
	struct ipb *b = &a->stages[a->nstages];
	if (b->msgs.buf == NULL)
		ipb_init(b, a->batch_limit);
	memcpy(b->rev_ip, a->rev_ip, 2);
	memcpy(b->rev_net, a->rev_net, 2);
	/* Sequence numbers run on from the previous stage, with a gap. */
	uint32_t seq = (a->nstages ? a->stages[a->nstages - 1].msgs.seq_next : a->seq) + 1;
	a->nstages++;
	ipb_stage(b, seq);
	return RN_OK;
}

/* Destroys every set of ours (DESTROY): listed now, destroyed in the stage. */
static int destroy_all(struct applier *a, uint32_t op)
{
	struct nfs_sets s;
	int rc = ipset_list(a, &s);
	if (rc != RN_OK)
		return rc;
	for (unsigned i = 0; i < s.n && rc == RN_OK; i++) {
		char name[NFS_NAME_MAX];
		rc = ipset_name(a, &s.v[i].id, (s.v[i].flags & NFS_SETF_TMP) != 0, name);
		if (rc == RN_OK)
			rc = ipb_destroy(stage_cur(a), op, name);
	}
	return rc;
}

static int ipset_begin(struct applier *a)
{
	a->nstages = 0;
	return stage_new(a);
}

static int ipset_op(struct applier *a, const struct nfs_msg *m, uint32_t op)
{
	char name[NFS_NAME_MAX], tname[NFS_NAME_MAX];
	int rc;
	switch (m->type) {
	case NFS_M_TABLE:
		return RN_OK;
	case NFS_M_SET_ADD:
	case NFS_M_SET_DEL:
	case NFS_M_SET_SWAP:
		if (m->u.set.id.kind > NFS_K_NET6)
			return RN_EUNSUPP;
		if ((rc = ipset_name(a, &m->u.set.id, (m->u.set.flags & NFS_SETF_TMP) != 0,
		                     name)) != RN_OK)
			return rc;
		if (m->type == NFS_M_SET_ADD)
			return ipb_create(stage_cur(a), op, name, m->u.set.id.kind,
			                  m->u.set.size ? m->u.set.size : 65536);
		if (m->type == NFS_M_SET_DEL)
			return ipb_destroy(stage_cur(a), op, name);
		/* The swap runs alone, after everything before it succeeded. */
		if ((rc = ipset_name(a, &m->u.set.id, true, tname)) != RN_OK ||
		    (rc = stage_new(a)) != RN_OK ||
		    (rc = ipb_swap(stage_cur(a), op, name, tname)) != RN_OK)
			return rc;
		return stage_new(a);
	case NFS_M_ELEMS:
		if (m->u.elems.op == NFS_OP_DUMP || m->u.elems.id.kind > NFS_K_NET6)
			return RN_EUNSUPP;
		if ((rc = ipset_name(a, &m->u.elems.id, (m->u.elems.flags & NFS_SETF_TMP) != 0,
		                     name)) != RN_OK)
			return rc;
		return ipb_adt(stage_cur(a), op, m->u.elems.op == NFS_OP_ADD, name,
		               m->u.elems.id.kind, m->u.elems.items, m->u.elems.n);
	case NFS_M_DESTROY:
		return destroy_all(a, op);
	default:
		return RN_EUNSUPP; /* chains and rules are nftables only */
	}
}

static const char *ipset_errstr(int code)
{
	switch (code) {
	case IPSET_ERR_PROTOCOL:
		return "ipset protocol error";
	case IPSET_ERR_FIND_TYPE:
		return "set type not supported by the kernel";
	case IPSET_ERR_MAX_SETS:
		return "too many sets";
	case IPSET_ERR_BUSY:
		return "set is in use by a rule";
	case IPSET_ERR_EXIST_SETNAME2:
		return "second set does not exist";
	case IPSET_ERR_TYPE_MISMATCH:
		return "set types differ";
	case IPSET_ERR_EXIST:
		return "element or set exists (add) or is missing (del)";
	case IPSET_ERR_INVALID_CIDR:
		return "invalid prefix length";
	case IPSET_ERR_INVALID_FAMILY:
		return "invalid family";
	case IPSET_ERR_REFERENCED:
		return "set is referenced";
	case IPSET_ERR_HASH_FULL:
		return "set is full (maxelem)";
	default:
		return code >= IPSET_ERR_PRIVATE ? "ipset error" : strerror(code);
	}
}

static int ipset_commit(struct applier *a, struct nfa_err *err)
{
	int rc = RN_OK;
	for (size_t i = 0; i < a->nstages && rc == RN_OK; i++) {
		struct ipb *b = &a->stages[i];
		if (b->msgs.nmsgs == 0)
			continue;
		rc = nfa_nl_exchange(a, &b->msgs, err);
		if (rc == RN_ENETLINK && err->text[0] == '\0')
			snprintf(err->text, sizeof(err->text), "%s", ipset_errstr(err->kerr));
	}
	a->seq = a->stages[a->nstages - 1].msgs.seq_next + 1;
	return rc;
}

/* ------------------------------------------------------------------ */
/* Revisions of the set types this kernel offers                       */
/* ------------------------------------------------------------------ */

static int type_cb(const struct nlr_msg *m, const struct nlr_nfgen *g, void *arg)
{
	struct nlr_ipset h;
	(void)m;
	int rc = nlr_ipset(g, &h, NULL, NULL);
	if (rc == RN_OK)
		*(uint8_t *)arg = h.revision;
	return rc;
}

static int revisions(struct applier *a)
{
	static const char *const types[2] = {"hash:ip", "hash:net"};
	static const uint8_t fams[2] = {NFPROTO_IPV4, NFPROTO_IPV6};
	uint8_t req[512];
	for (int t = 0; t < 2; t++) {
		for (int f = 0; f < 2; f++) {
			uint8_t rev = 0;
			struct nfa_query q;
			size_t len = ipb_req_type(req, sizeof(req), types[t], fams[f], ++a->seq);
			int rc = nfa_nl_query(a, req, len, false, type_cb, &rev, &q);
			if (rc != RN_OK)
				return rc;
			if (q.error != 0)
				return RN_ENETLINK;
			if (t == 0)
				a->rev_ip[f] = rev;
			else
				a->rev_net[f] = rev;
		}
	}
	return RN_OK;
}

static void ipset_init(struct applier *a)
{
	int rc = revisions(a);
	if (rc != RN_OK)
		log_warnx("ipset: cannot query set type revisions (%s); using 0", rn_strerror(rc));
}

const struct nfa_backend nfa_backend_ipset = {
        .init = ipset_init,
        .list = ipset_list,
        .begin = ipset_begin,
        .op = ipset_op,
        .commit = ipset_commit,
        .dump = ipset_dump,
};
