/*
 * nft_apply.c: the applier's nftables backend: LIST of our table, the
 * operations of a transaction, COMMIT, and DUMP of one set.
 *
 * Design notes:
 *
 * Transactions. The operations build one nfnetlink batch (nft_batch.c),
 * sent with one sendmsg() at COMMIT. The kernel commits a batch only when
 * every message passed and END was reached; if the applier is killed at
 * any point, the kernel holds the old state (nothing sent, or the batch
 * aborted on the fatal signal) or the new one: never a mix.
 *
 * LIST. The ruleset generation first, then our table, its sets, chains
 * and rules, each dump checked to come from that one generation; when
 * the ruleset changed while we looked, we look again. A set or chain of
 * ours that is not the shape we make is reported so (not COMPAT, or with
 * UINT32_MAX rules), and the engine replaces it.
 *
 * DUMP. Interval sets hold a range as a start element and an end element
 * (hi+1, flagged INTERVAL_END), or a start alone for a range open to the
 * top. The boundaries are collected, sorted and paired back into ranges;
 * anything that does not pair, or is not our key type, counts as an
 * anomaly, and the engine then loads the set fresh.
 *
 * Single-threaded.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "feeds/nfapply/netlink.h"

static const char *const chain_names[NFS_CHAIN_COUNT] = {NFS_CHAIN_NAME, "input", "forward"};

/* ------------------------------------------------------------------ */
/* LIST                                                                */
/* ------------------------------------------------------------------ */

static int gen_cb(const struct nlr_msg *m, const struct nlr_nfgen *g, void *arg)
{
	if (NFNL_MSG_TYPE(m->type) != NFT_MSG_NEWGEN)
		return RN_OK;
	return nlr_nft_gen(g, arg);
}

static bool set_compat(unsigned kind, const struct nlr_set *s)
{
	uint32_t type = nfs_kind_v6(kind) ? 8u : 7u;
	uint32_t flags = nfs_kind_interval(kind) ? NFT_SET_INTERVAL : 0;
	return s->has_key && s->key_type == type && s->key_len == nfs_kind_klen(kind) &&
	       s->flags == flags;
}

static int sets_cb(const struct nlr_msg *m, const struct nlr_nfgen *g, void *arg)
{
	struct nfs_sets *out = arg;
	struct nlr_set s;
	struct nfs_setid id;
	bool tmp;
	if (NFNL_MSG_TYPE(m->type) != NFT_MSG_NEWSET)
		return RN_OK;
	int rc = nlr_nft_set(g, &s);
	if (rc != RN_OK)
		return rc;
	if (nfs_set_name_parse(s.name.s, s.name.len, NULL, &id, &tmp) != RN_OK ||
	    out->n >= NFS_SETS_MAX) {
		out->foreign++;
		return RN_OK;
	}
	struct nfs_setinfo *si = &out->v[out->n++];
	si->id = id;
	si->flags = set_compat(id.kind, &s) ? NFS_SETF_COMPAT : 0;
	si->size = s.size;
	si->count = UINT32_MAX;
	return RN_OK;
}

static int chains_cb(const struct nlr_msg *m, const struct nlr_nfgen *g, void *arg)
{
	static const uint32_t hooks[NFS_CHAIN_COUNT] = {0, NF_INET_LOCAL_IN, NF_INET_FORWARD};
	struct nfs_sets *out = arg;
	struct nlr_chain c;
	if (NFNL_MSG_TYPE(m->type) != NFT_MSG_NEWCHAIN)
		return RN_OK;
	int rc = nlr_nft_chain(g, &c);
	if (rc != RN_OK)
		return rc;
	for (unsigned i = 0; i < NFS_CHAIN_COUNT; i++) {
		if (!nlr_str_eq(&c.name, chain_names[i]))
			continue;
		struct nfs_chaininfo *ci = &out->chains[i];
		ci->present = 1;
		ci->prio = c.prio;
		/* A chain of ours that is not the shape we make is rebuilt. */
		bool ok = i == NFS_CHAIN_BLOCKLIST
		                  ? !c.has_hook
		                  : c.has_hook && c.hooknum == hooks[i] &&
		                            nlr_str_eq(&c.type, "filter") &&
		                            (!c.has_policy || c.policy == NF_ACCEPT);
		if (!ok)
			ci->rules = UINT32_MAX;
		return RN_OK;
	}
	out->foreign++;
	return RN_OK;
}

static int rules_cb(const struct nlr_msg *m, const struct nlr_nfgen *g, void *arg)
{
	struct nfs_sets *out = arg;
	struct nlr_rule r;
	if (NFNL_MSG_TYPE(m->type) != NFT_MSG_NEWRULE)
		return RN_OK;
	int rc = nlr_nft_rule(g, &r);
	if (rc != RN_OK)
		return rc;
	for (unsigned i = 0; i < NFS_CHAIN_COUNT; i++)
		if (nlr_str_eq(&r.chain, chain_names[i]) && out->chains[i].rules != UINT32_MAX)
			out->chains[i].rules++;
	return RN_OK;
}

static int req_dump(struct applier *a, uint16_t type, const char *set, uint8_t *buf, size_t cap,
                    size_t *len)
{
	*len = nfb_req_dump(buf, cap, type, a->family, a->table, set, ++a->seq);
	return *len ? RN_OK : RN_ELIMIT;
}

/*
 * Dumps the table's objects of one type into out; *consistent stays true
 * while every answer came from generation gen16.
 */
static int list_dump(struct applier *a, uint16_t type,
                     int (*cb)(const struct nlr_msg *m, const struct nlr_nfgen *g, void *arg),
                     struct nfs_sets *out, uint16_t gen16, bool *consistent)
{
	uint8_t req[1024];
	size_t len;
	struct nfa_query q;
	int rc;
	if ((rc = req_dump(a, type, NULL, req, sizeof(req), &len)) != RN_OK ||
	    (rc = nfa_nl_query(a, req, len, true, cb, out, &q)) != RN_OK)
		return rc;
	*consistent = *consistent && !q.intr && !q.res_mixed && (!q.res_set || q.res_id == gen16);
	return q.error != 0 ? RN_ENETLINK : RN_OK;
}

static int nft_list(struct applier *a, struct nfs_sets *out)
{
	uint8_t req[1024];
	size_t len;
	struct nfa_query q;
	int rc;

	for (int attempt = 0; attempt < 5; attempt++) {
		memset(out, 0, sizeof(*out));
		len = nfb_req_getgen(req, ++a->seq);
		if ((rc = nfa_nl_query(a, req, len, false, gen_cb, &out->genid, &q)) != RN_OK)
			return rc;
		if (q.error != 0)
			return RN_ENETLINK;
		uint16_t gen16 = (uint16_t)out->genid;

		if ((rc = req_dump(a, NFT_MSG_GETTABLE, NULL, req, sizeof(req), &len)) != RN_OK)
			return rc;
		rc = nfa_nl_query(a, req, len, true, NULL, NULL, &q);
		if (rc != RN_OK)
			return rc;
		if (q.error == -ENOENT)
			return RN_OK; /* no table: nothing of ours */
		if (q.error != 0)
			return RN_ENETLINK;
		out->table = 1;

		bool consistent = true;
		if ((rc = list_dump(a, NFT_MSG_GETSET, sets_cb, out, gen16, &consistent)) !=
		            RN_OK ||
		    (rc = list_dump(a, NFT_MSG_GETCHAIN, chains_cb, out, gen16, &consistent)) !=
		            RN_OK ||
		    (rc = list_dump(a, NFT_MSG_GETRULE, rules_cb, out, gen16, &consistent)) !=
		            RN_OK)
			return rc;
		if (consistent)
			return RN_OK;
		/* The ruleset changed while we looked: look again. */
	}
	return RN_ESTATE;
}

/* ------------------------------------------------------------------ */
/* DUMP                                                                */
/* ------------------------------------------------------------------ */

/* One boundary of an interval set's range, as the kernel holds it. */
struct bound {
	uint8_t key[16];
	uint8_t end;
};

struct elemdump {
	struct nfa_dump *d;
	struct bound *b;
	size_t nb, capb;
};

static int elem_cb(const struct nlr_elem *el, void *arg)
{
	struct elemdump *e = arg;
	struct nfa_dump *d = e->d;
	unsigned klen = nfs_kind_klen(d->id.kind);
	if (el->key == NULL || el->klen != klen) {
		d->anomalies++;
		return RN_OK;
	}
	if (!nfs_kind_interval(d->id.kind)) {
		if (el->flags != 0 || el->key_end != NULL) {
			d->anomalies++;
			return RN_OK;
		}
		return nfa_dump_put(d, el->key);
	}
	if (el->key_end != NULL) {
		/* A range in one element (pipapo style): [key, key_end]. */
		uint8_t it[32];
		if (el->kelen != klen || memcmp(el->key, el->key_end, klen) > 0) {
			d->anomalies++;
			return RN_OK;
		}
		memcpy(it, el->key, klen);
		memcpy(it + klen, el->key_end, klen);
		return nfa_dump_put(d, it);
	}
	if (e->nb == e->capb) {
		size_t nc = e->capb ? e->capb * 2 : 1024;
		void *v = realloc(e->b, nc * sizeof(*e->b));
		if (v == NULL)
			return -ENOMEM;
		e->b = v;
		e->capb = nc;
	}
	memset(&e->b[e->nb], 0, sizeof(e->b[e->nb]));
	memcpy(e->b[e->nb].key, el->key, klen);
	e->b[e->nb].end = (el->flags & NFT_SET_ELEM_INTERVAL_END) ? 1 : 0;
	e->nb++;
	return RN_OK;
}

static int bound_cmp(const void *x, const void *y)
{
	const struct bound *p = x, *q = y;
	int c = memcmp(p->key, q->key, 16);
	if (c != 0)
		return c;
	/* At one key, an end (of the range below) sorts before a start. */
	return (int)q->end - (int)p->end;
}

/* Pairs sorted boundaries into ranges: start s, end e -> [s, e-1]. */
static int pair_bounds(struct elemdump *e)
{
	struct nfa_dump *d = e->d;
	unsigned klen = nfs_kind_klen(d->id.kind);
	qsort(e->b, e->nb, sizeof(*e->b), bound_cmp);
	for (size_t i = 0; i < e->nb; i++) {
		if (e->b[i].end) {
			d->anomalies++; /* an end without a start */
			continue;
		}
		uint8_t it[32];
		memcpy(it, e->b[i].key, klen);
		if (i + 1 < e->nb && e->b[i + 1].end) {
			memcpy(it + klen, e->b[i + 1].key, klen);
			if (!nfs_key_dec(it + klen, klen) || memcmp(it, it + klen, klen) > 0) {
				d->anomalies++;
				i++;
				continue;
			}
			i++;
		} else if (i + 1 == e->nb) {
			memset(it + klen, 0xff, klen); /* open to the top */
		} else {
			d->anomalies++; /* a start followed by a start */
			continue;
		}
		int rc = nfa_dump_put(d, it);
		if (rc != RN_OK)
			return rc;
	}
	return RN_OK;
}

static int elems_msg_cb(const struct nlr_msg *m, const struct nlr_nfgen *g, void *arg)
{
	struct elemdump *e = arg;
	struct nlr_elems hdr;
	if (NFNL_MSG_TYPE(m->type) != NFT_MSG_NEWSETELEM)
		return RN_OK;
	int rc = nlr_nft_elems(g, &hdr, elem_cb, e);
	if (rc != RN_OK)
		return rc;
	if (!nlr_str_eq(&hdr.set, e->d->name))
		return RN_EPARSE;
	return RN_OK;
}

static int nft_dump(struct applier *a, struct nfa_dump *d, struct nfa_query *q)
{
	uint8_t req[1024];
	size_t len;
	struct elemdump e = {.d = d};
	int rc = req_dump(a, NFT_MSG_GETSETELEM, d->name, req, sizeof(req), &len);
	if (rc == RN_OK)
		rc = nfa_nl_query(a, req, len, true, elems_msg_cb, &e, q);
	if (rc == RN_OK)
		rc = nfa_query_rc(q);
	if (rc == RN_OK && e.nb > 0)
		rc = pair_bounds(&e);
	free(e.b);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Transactions                                                        */
/* ------------------------------------------------------------------ */

static int nft_begin(struct applier *a)
{
	return nfb_begin(&a->nb, ++a->seq, a->genid);
}

static int nft_op(struct applier *a, const struct nfs_msg *m, uint32_t op)
{
	switch (m->type) {
	case NFS_M_TABLE:
		return nfb_table_add(&a->nb, op);
	case NFS_M_SET_ADD:
		if (m->u.set.flags & NFS_SETF_TMP)
			return RN_EUNSUPP;
		return nfb_set_add(&a->nb, op, &m->u.set.id, m->u.set.size);
	case NFS_M_SET_DEL:
		if (m->u.set.flags & NFS_SETF_TMP)
			return RN_EUNSUPP;
		return nfb_set_del(&a->nb, op, &m->u.set.id);
	case NFS_M_ELEMS:
		if (m->u.elems.op == NFS_OP_DUMP || (m->u.elems.flags & NFS_SETF_TMP))
			return RN_EUNSUPP;
		return nfb_elems(&a->nb, op, m->u.elems.op == NFS_OP_ADD, &m->u.elems.id,
		                 m->u.elems.items, m->u.elems.n);
	case NFS_M_CHAIN_FLUSH:
		return nfb_chain_flush(&a->nb, op, m->u.chain.chain);
	case NFS_M_CHAIN_DEL:
		return nfb_chain_del(&a->nb, op, m->u.chain.chain);
	case NFS_M_CHAIN_ADD:
		return nfb_chain_add(&a->nb, op, m->u.chain.chain, m->u.chain.prio);
	case NFS_M_RULES:
		for (unsigned i = 0; i < m->u.rules.n; i++) {
			int rc = nfb_rule_add(&a->nb, op, &m->u.rules.ids[i]);
			if (rc != RN_OK)
				return rc;
		}
		return RN_OK;
	case NFS_M_DESTROY:
		return nfb_table_del(&a->nb, op);
	default:
		return RN_EUNSUPP;
	}
}

static int nft_commit(struct applier *a, struct nfa_err *err)
{
	if (a->nb.msgs.nmsgs == 0)
		return RN_OK;
	int rc = nfb_end(&a->nb);
	if (rc == RN_OK)
		rc = nfa_nl_exchange(a, &a->nb.msgs, err);
	a->seq = a->nb.msgs.seq_next + 1;
	if (rc == RN_ENETLINK && err->text[0] == '\0')
		snprintf(err->text, sizeof(err->text), "%s", strerror(err->kerr));
	return rc;
}

static void nft_init(struct applier *a)
{
	(void)a;
}

const struct nfa_backend nfa_backend_nft = {
        .init = nft_init,
        .list = nft_list,
        .begin = nft_begin,
        .op = nft_op,
        .commit = nft_commit,
        .dump = nft_dump,
};
