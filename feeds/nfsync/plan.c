/*
 * plan.c: plans against what the kernel holds, the kernel operations of
 * a plan (or a delta), and the reconcile loop that runs them.
 *
 * Design notes:
 *
 * Resolve against the kernel. Loads and reconciles list the kernel's
 * sets, dump those that exist, compare, and choose per set (struct
 * nfs_setchange): nothing, a diff (deletions first, then additions, so
 * that ranges can be replaced without overlap), or a fresh set swapped
 * in, when the set is missing, of the wrong type, too small for what must
 * go in (hash sets are created with a declared size, which makes the
 * kernel pick its fixed-size hash), much too large, or when the diff
 * would touch more than sync.swap percent of it. The chains are rebuilt
 * when sets come or go, or when they are not the shape we make.
 *
 * Kernel operations. nfs_kops_build turns any plan, a delta's too, into
 * the list of operations in the order they must go: the table, the chains
 * emptied (nothing may reference a set we delete), each set's operations,
 * the chains rebuilt. For nftables a swap is: delete the set, create it
 * with the new size, fill it, all in the batch that also empties and
 * refills the chains, so packets see the old set until the commit and the
 * new one after. For ipset it is a temporary set, filled, then swapped
 * with the live one. Fills are not copied: the operation points at the
 * desired state's key set or ranges.
 *
 * Transaction. A reconcile's batch carries the ruleset generation it was
 * planned against; if anything changed the ruleset since, the kernel
 * refuses it (ERESTART) and the reconcile starts over. While the
 * generation is the one our last commit left and the desired state did
 * not change, nothing can differ, and the dump is skipped (except every
 * sync.dump_interval).
 *
 * Threading: none; the caller's thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "feeds/nfsync/engine.h"

/* A plan's sets in batch order, per group: by kind. */
static const uint8_t plan_order[NFS_K_COUNT] = {NFS_K_V4,   NFS_K_V6,     NFS_K_NET4,
                                                NFS_K_NET6, NFS_K_ALLOW4, NFS_K_ALLOW6};

/* ------------------------------------------------------------------ */
/* Items and plans                                                     */
/* ------------------------------------------------------------------ */

int nfs_push_ranges(struct rn_wcur *w, const struct nfs_rangevec *rv, unsigned klen)
{
	for (size_t i = 0; i < rv->n; i++) {
		rn_wcur_bytes(w, rv->v[i].lo, klen);
		rn_wcur_bytes(w, rv->v[i].hi, klen);
	}
	return w->err;
}

void nfs_plan_init(struct nfs_plan *pl)
{
	memset(pl, 0, sizeof(*pl));
	pl->order = plan_order;
	for (unsigned i = 0; i < NFS_SETS; i++) {
		rn_wcur_init_alloc(&pl->set[i].del, SIZE_MAX);
		rn_wcur_init_alloc(&pl->set[i].add, SIZE_MAX);
	}
}

void nfs_plan_release(struct nfs_plan *pl)
{
	for (unsigned i = 0; i < NFS_SETS; i++) {
		rn_wcur_release(&pl->set[i].del);
		rn_wcur_release(&pl->set[i].add);
	}
}

/* ------------------------------------------------------------------ */
/* Resolve against the kernel                                          */
/* ------------------------------------------------------------------ */

static const struct nfs_setinfo *find_set(const struct nfs_sets *l, const struct nfs_setid *id,
                                          bool tmp)
{
	for (unsigned i = 0; i < l->n; i++)
		if (l->v[i].id.kind == id->kind && l->v[i].id.group == id->group &&
		    ((l->v[i].flags & NFS_SETF_TMP) != 0) == tmp)
			return &l->v[i];
	return NULL;
}

/* The declared size of a hash set that must hold n elements. */
static uint32_t want_size(const struct feeds_nfsync *s, size_t n)
{
	uint64_t w = (uint64_t)n * (uint64_t)(100 + s->conf.headroom_pct) / 100u;
	if (w < (uint64_t)s->conf.size_min)
		w = (uint64_t)s->conf.size_min;
	if (w > (uint64_t)s->conf.max_elements)
		w = (uint64_t)s->conf.max_elements;
	if (w < n)
		w = n;
	return w > UINT32_MAX ? UINT32_MAX : (uint32_t)w;
}

/* Dump comparison of an address set against its key set. */
struct hashdiff {
	struct nfs_keyset *k;
	struct rn_wcur *del;
	uint64_t extra;
	unsigned klen;
};

static int hashdiff_cb(const uint8_t *item, void *arg)
{
	struct hashdiff *h = arg;
	uint16_t *m = nfs_keyset_find(h->k, item);
	if (m != NULL && (*m & NFS_CAT_BITS)) {
		*m |= NFS_F_SEEN;
		return RN_OK;
	}
	h->extra++;
	rn_wcur_bytes(h->del, item, h->klen);
	return h->del->err;
}

struct rangedump {
	struct nfs_rangevec rv;
	unsigned klen;
};

static int rangedump_cb(const uint8_t *item, void *arg)
{
	struct rangedump *d = arg;
	return nfs_rangevec_push(&d->rv, item, item + d->klen, d->klen);
}

/* The change of one existing, compatible set, from its dump. */
static int set_from_dump(struct feeds_nfsync *s, struct nfs_plan *pl, unsigned slot, unsigned kind,
                         struct feeds_nfsync_report *rep, bool *restart)
{
	struct nfs_setchange *c = &pl->set[nfs_set_index(slot, kind)];
	struct nfs_setid id = nfs_set_id(slot, kind);
	unsigned klen = nfs_kind_klen(kind);
	struct nfs_dumpinfo info = {0};
	uint64_t missing = 0, extra = 0;
	int rc;

	if (kind < 2) {
		struct nfs_keyset *k = &s->g[slot].k[kind];
		struct hashdiff h = {.k = k, .del = &c->del, .klen = klen};
		rc = nfs_client_dump(s, &id, 0, hashdiff_cb, &h, &info);
		if (rc == RN_OK) {
			for (size_t i = 0; i < k->cap && rc == RN_OK; i++) {
				if (!(k->masks[i] & NFS_CAT_BITS))
					continue;
				if (k->masks[i] & NFS_F_SEEN)
					k->masks[i] &= (uint16_t)~NFS_F_SEEN;
				else {
					missing++;
					rn_wcur_bytes(&c->add, nfs_keyset_key(k, i), klen);
					rc = c->add.err;
				}
			}
		} else {
			nfs_keyset_sweep(k, NFS_F_SEEN);
		}
		extra = h.extra;
	} else {
		struct rangedump d = {.klen = klen};
		struct nfs_rangevec del = {0}, add = {0};
		rc = nfs_client_dump(s, &id, 0, rangedump_cb, &d, &info);
		if (rc == RN_OK && nfs_engine_ipset(s)) {
			/* Aligned prefixes, which may touch: compared as they are. */
			nfs_ranges_sort(&d.rv, klen);
		} else if (rc == RN_OK) {
			/* Touching or overlapping ranges were not made by us. */
			rc = nfs_ranges_normalise(&d.rv, klen);
			if (rc == RN_OK && d.rv.n != info.count)
				info.anomalies++;
		}
		if (rc == RN_OK)
			rc = nfs_ranges_diff(&d.rv, nfs_state_ranges(s, slot, kind), klen, &del,
			                     &add);
		if (rc == RN_OK)
			rc = nfs_push_ranges(&c->del, &del, klen);
		if (rc == RN_OK)
			rc = nfs_push_ranges(&c->add, &add, klen);
		missing = add.n;
		extra = del.n;
		nfs_rangevec_release(&del);
		nfs_rangevec_release(&add);
		nfs_rangevec_release(&d.rv);
	}
	if (rc != RN_OK)
		return rc;
	if (!nfs_engine_ipset(s) && info.genid16 != (pl->genid & 0xffffu)) {
		*restart = true;
		return RN_OK;
	}
	if (rep != NULL) {
		rep->missing += missing;
		rep->extra += extra;
	}
	size_t n = nfs_state_count(s, slot, kind);
	if (info.anomalies > 0) {
		log_warnx("nfsync: set %s of group %u holds %u elements repnet did not put "
		          "there in that form; loading it fresh",
		          kind < NFS_DROP_KINDS ? nfs_kind_label[kind] : "allow", id.group,
		          info.anomalies);
		c->act = NFS_ACT_SWAP;
	} else if (missing + extra == 0) {
		c->act = NFS_ACT_NONE;
	} else if ((missing + extra) * 100 > (uint64_t)s->conf.swap_pct * (n ? n : 1) &&
	           missing + extra > 64) {
		c->act = NFS_ACT_SWAP;
	} else {
		c->act = NFS_ACT_DIFF;
	}
	if (c->act == NFS_ACT_SWAP) {
		rn_wcur_release(&c->del);
		rn_wcur_release(&c->add);
	}
	return RN_OK;
}

/* The change of one set, from what LIST said of it (and its dump). */
static int set_resolve(struct feeds_nfsync *s, struct nfs_plan *pl, const struct nfs_sets *l,
                       unsigned slot, unsigned kind, struct feeds_nfsync_report *rep, bool *restart)
{
	struct nfs_setid id = nfs_set_id(slot, kind);
	struct nfs_setchange *c = &pl->set[nfs_set_index(slot, kind)];
	const struct nfs_setinfo *live = find_set(l, &id, false);
	bool ipset = nfs_engine_ipset(s), hash = kind < 2;
	size_t n = nfs_state_count(s, slot, kind);

	c->tmp = find_set(l, &id, true) != NULL;
	c->live = live != NULL;
	c->compat = live != NULL && (live->flags & NFS_SETF_COMPAT);
	c->size = hash || ipset ? want_size(s, n) : 0;
	if (!nfs_state_wanted(s, slot, kind)) {
		c->act = live ? NFS_ACT_DELETE : NFS_ACT_NONE;
		return RN_OK;
	}
	if (!live) {
		c->act = NFS_ACT_CREATE;
		if (rep != NULL)
			rep->missing += n;
		return RN_OK;
	}
	if (!c->compat) {
		c->act = NFS_ACT_SWAP;
		return RN_OK;
	}
	uint32_t have = live->size;
	if ((hash || ipset) &&
	    (have < n || (have > 4u * c->size && have > (uint32_t)s->conf.size_min))) {
		/* Resize: a fresh set of the right size. */
		c->act = NFS_ACT_SWAP;
		return RN_OK;
	}
	c->size = have ? have : c->size;
	if (hash && have == 0)
		c->size = want_size(s, n);
	int rc = set_from_dump(s, pl, slot, kind, rep, restart);
	if (rc == RN_OK && c->act == NFS_ACT_SWAP && hash)
		c->size = want_size(s, n);
	return rc;
}

int nfs_plan_resolve(struct feeds_nfsync *s, struct nfs_plan *pl, const struct nfs_sets *l,
                     struct feeds_nfsync_report *rep, bool *restart)
{
	*restart = false;
	pl->genid = l->genid;
	pl->table = !nfs_engine_ipset(s);
	for (unsigned i = 0; i < NFS_SETS; i++) {
		unsigned slot = i / NFS_K_COUNT, kind = i % NFS_K_COUNT;
		struct nfs_setid id = nfs_set_id(slot, kind);
		if (!nfs_setid_valid(&id))
			continue;
		int rc = set_resolve(s, pl, l, slot, kind, rep, restart);
		if (rc != RN_OK || *restart)
			return rc;
	}
	if (nfs_engine_ipset(s))
		return RN_OK;

	/* Chains: rebuilt when sets come or go, or when they are not ours. */
	bool structural = false;
	unsigned nrules = 0;
	for (unsigned i = 0; i < NFS_SETS; i++) {
		uint8_t a = pl->set[i].act;
		if (a == NFS_ACT_CREATE || a == NFS_ACT_SWAP || a == NFS_ACT_DELETE)
			structural = true;
		if (nfs_state_wanted(s, i / NFS_K_COUNT, i % NFS_K_COUNT))
			nrules++;
	}
	pl->chain_present = l->chains[NFS_CHAIN_BLOCKLIST].present;
	bool chains_ok = pl->chain_present && l->chains[NFS_CHAIN_BLOCKLIST].rules == nrules;
	for (unsigned c = NFS_CHAIN_INPUT; c < NFS_CHAIN_COUNT; c++) {
		bool want = (s->conf.hooks & (1u << (c - 1))) != 0;
		const struct nfs_chaininfo *ci = &l->chains[c];
		if (ci->present)
			pl->base_present |= (uint8_t)(1u << (c - 1));
		if (want != (ci->present != 0) ||
		    (want && (ci->prio != (int32_t)s->conf.priority || ci->rules != 1)))
			chains_ok = false;
	}
	if (!chains_ok && l->table) {
		if (rep != NULL)
			rep->chains = true;
		if (s->loaded && !structural)
			rn_counter_inc(&s->drift_chains);
	}
	pl->chains = structural || !chains_ok;
	return RN_OK;
}

/* ------------------------------------------------------------------ */
/* Kernel operations                                                   */
/* ------------------------------------------------------------------ */

void nfs_kops_reset(struct nfs_kops *k)
{
	k->n = 0;
	k->nrules = 0;
	memset(&k->tally, 0, sizeof(k->tally));
}

int nfs_kops_push(struct nfs_kops *k, const struct nfs_kop *op)
{
	if (k->n == NFS_KOPS_MAX)
		return RN_EINTERNAL;
	k->v[k->n++] = *op;
	return RN_OK;
}

static int push_set(struct nfs_kops *k, uint8_t type, const struct nfs_setid *id, uint8_t flags,
                    uint32_t size)
{
	struct nfs_kop op = {.type = type, .id = *id, .flags = flags, .size = size};
	return nfs_kops_push(k, &op);
}

static int push_chain(struct nfs_kops *k, uint8_t type, unsigned chain, int32_t prio)
{
	struct nfs_kop op = {.type = type, .chain = (uint8_t)chain, .prio = prio};
	return nfs_kops_push(k, &op);
}

static int push_bytes(struct nfs_kops *k, uint8_t elop, const struct nfs_setid *id,
                      const struct rn_wcur *b)
{
	struct nfs_kop op = {.type = NFS_M_ELEMS, .op = elop, .id = *id, .src = NFS_SRC_BYTES};
	op.items.bytes.v = b->p;
	op.items.bytes.n = b->len / nfs_item_len(id->kind);
	return nfs_kops_push(k, &op);
}

/* A set created or swapped in: made, filled from the desired state, swapped. */
static int fill_kops(const struct feeds_nfsync *s, const struct nfs_setchange *c, unsigned slot,
                     unsigned kind, struct nfs_kops *k)
{
	struct nfs_setid id = nfs_set_id(slot, kind);
	struct nfs_kop fill = {.type = NFS_M_ELEMS, .op = NFS_OP_ADD, .id = id};
	bool ipset = nfs_engine_ipset(s);
	int rc = RN_OK;

	if (ipset) {
		/* Fill a temporary set; swap it in; drop the old one. */
		if (c->live && !c->compat)
			rc = push_set(k, NFS_M_SET_DEL, &id, 0, 0);
		if (rc == RN_OK && (!c->live || !c->compat))
			rc = push_set(k, NFS_M_SET_ADD, &id, 0, c->size);
		if (rc == RN_OK)
			rc = push_set(k, NFS_M_SET_ADD, &id, NFS_SETF_TMP, c->size);
		fill.flags = NFS_SETF_TMP;
	} else {
		if (c->act == NFS_ACT_SWAP)
			rc = push_set(k, NFS_M_SET_DEL, &id, 0, 0);
		if (rc == RN_OK)
			rc = push_set(k, NFS_M_SET_ADD, &id, 0, c->size);
	}
	if (kind < 2) {
		fill.src = NFS_SRC_KEYSET;
		fill.items.keys = &s->g[slot].k[kind];
		k->tally.added += fill.items.keys->n;
	} else {
		fill.src = NFS_SRC_RANGES;
		fill.items.ranges = nfs_state_ranges(s, slot, kind);
		k->tally.added += fill.items.ranges->n;
	}
	if (rc == RN_OK)
		rc = nfs_kops_push(k, &fill);
	if (rc == RN_OK && ipset) {
		rc = push_set(k, NFS_M_SET_SWAP, &id, 0, 0);
		if (rc == RN_OK)
			rc = push_set(k, NFS_M_SET_DEL, &id, NFS_SETF_TMP, 0);
	}
	if (c->act == NFS_ACT_SWAP)
		k->tally.swaps++;
	else
		k->tally.created++;
	return rc;
}

/* The operations of one set. */
static int set_kops(const struct feeds_nfsync *s, const struct nfs_setchange *c, unsigned slot,
                    unsigned kind, struct nfs_kops *k)
{
	struct nfs_setid id = nfs_set_id(slot, kind);
	size_t il = nfs_item_len(kind);
	int rc = RN_OK;

	if (nfs_engine_ipset(s) && c->tmp)
		rc = push_set(k, NFS_M_SET_DEL, &id, NFS_SETF_TMP, 0);
	if (rc != RN_OK)
		return rc;
	switch (c->act) {
	case NFS_ACT_DIFF:
		if (c->del.len)
			rc = push_bytes(k, NFS_OP_DEL, &id, &c->del);
		if (rc == RN_OK && c->add.len)
			rc = push_bytes(k, NFS_OP_ADD, &id, &c->add);
		k->tally.removed += c->del.len / il;
		k->tally.added += c->add.len / il;
		return rc;
	case NFS_ACT_DELETE:
		k->tally.deleted++;
		return push_set(k, NFS_M_SET_DEL, &id, 0, 0);
	case NFS_ACT_CREATE:
	case NFS_ACT_SWAP:
		return fill_kops(s, c, slot, kind, k);
	default:
		return RN_OK;
	}
}

/* Empties the chains, so that no rule references a set we delete. */
static int chains_teardown(const struct nfs_plan *pl, struct nfs_kops *k)
{
	int rc = RN_OK;
	if (pl->chain_present)
		rc = push_chain(k, NFS_M_CHAIN_FLUSH, NFS_CHAIN_BLOCKLIST, 0);
	for (unsigned c = NFS_CHAIN_INPUT; rc == RN_OK && c < NFS_CHAIN_COUNT; c++) {
		if (!(pl->base_present & (1u << (c - 1))))
			continue;
		rc = push_chain(k, NFS_M_CHAIN_FLUSH, c, 0);
		if (rc == RN_OK)
			rc = push_chain(k, NFS_M_CHAIN_DEL, c, 0);
	}
	return rc;
}

/* The blocklist chain and its rules, then the base chains that jump to it. */
static int chains_build(const struct feeds_nfsync *s, struct nfs_kops *k)
{
	/* Allow rules first, then the drop rules, group by group. */
	for (unsigned kind = NFS_K_ALLOW4; kind <= NFS_K_ALLOW6; kind++)
		if (nfs_state_wanted(s, RN_CAT_COUNT, kind) && k->nrules < NFS_RULES_MAX)
			k->rules[k->nrules++] = nfs_set_id(RN_CAT_COUNT, kind);
	for (unsigned i = 0; i < NFS_SETS; i++) {
		unsigned slot = i / NFS_K_COUNT, kind = i % NFS_K_COUNT;
		if (kind < NFS_DROP_KINDS && nfs_state_wanted(s, slot, kind) &&
		    k->nrules < NFS_RULES_MAX)
			k->rules[k->nrules++] = nfs_set_id(slot, kind);
	}
	int rc = push_chain(k, NFS_M_CHAIN_ADD, NFS_CHAIN_BLOCKLIST, 0);
	if (rc == RN_OK && k->nrules > 0) {
		struct nfs_kop op = {.type = NFS_M_RULES};
		rc = nfs_kops_push(k, &op);
	}
	for (unsigned c = NFS_CHAIN_INPUT; rc == RN_OK && c < NFS_CHAIN_COUNT; c++)
		if (s->conf.hooks & (1u << (c - 1)))
			rc = push_chain(k, NFS_M_CHAIN_ADD, c, (int32_t)s->conf.priority);
	return rc;
}

int nfs_kops_build(const struct feeds_nfsync *s, const struct nfs_plan *pl, struct nfs_kops *k)
{
	bool ipset = nfs_engine_ipset(s), work = pl->chains;
	int rc = RN_OK;

	nfs_kops_reset(k);
	for (unsigned i = 0; i < NFS_SETS; i++)
		if (pl->set[i].act != NFS_ACT_NONE || pl->set[i].tmp)
			work = true;
	if (!work)
		return RN_OK; /* the kernel is as desired */
	if (pl->table && !ipset) {
		struct nfs_kop op = {.type = NFS_M_TABLE};
		rc = nfs_kops_push(k, &op);
	}
	if (rc == RN_OK && !ipset && pl->chains)
		rc = chains_teardown(pl, k);
	for (unsigned i = 0; i < NFS_SETS && rc == RN_OK; i++) {
		unsigned slot = i / NFS_K_COUNT, kind = pl->order[i % NFS_K_COUNT];
		struct nfs_setid id = nfs_set_id(slot, kind);
		if (nfs_setid_valid(&id))
			rc = set_kops(s, &pl->set[nfs_set_index(slot, kind)], slot, kind, k);
	}
	if (rc == RN_OK && !ipset && pl->chains)
		rc = chains_build(s, k);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Reconcile                                                           */
/* ------------------------------------------------------------------ */

/* Kernel operations and transaction of a plan; counts them in rep. */
static int plan_commit(struct feeds_nfsync *s, const struct nfs_plan *pl, uint32_t genid,
                       struct feeds_nfsync_report *rep, struct nfs_txn_result *tr)
{
	struct nfs_kops *k = &s->kops;
	int64_t t0 = rn_time_mono_us();
	int rc = nfs_kops_build(s, pl, k);
	if (rc != RN_OK || k->n == 0)
		return rc;
	rep->chains = pl->chains;
	rep->added += k->tally.added;
	rep->removed += k->tally.removed;
	rep->swaps += k->tally.swaps;
	rep->created += k->tally.created;
	rep->deleted += k->tally.deleted;
	rn_counter_add(&s->el_added, k->tally.added);
	rn_counter_add(&s->el_removed, k->tally.removed);
	rn_counter_add(&s->swaps, k->tally.swaps);
	rc = nfs_client_txn(s, k, genid, t0, rep, tr);
	rep->ops += tr->msgs;
	return rc;
}

/* After a committed plan: the kernel now holds what the plan said. */
static void plan_done(struct feeds_nfsync *s, const struct nfs_plan *pl)
{
	for (unsigned i = 0; i < NFS_SETS; i++) {
		unsigned slot = i / NFS_K_COUNT, kind = i % NFS_K_COUNT;
		struct nfs_group *g = &s->g[slot];
		if (kind >= NFS_DROP_KINDS)
			continue;
		bool want = nfs_state_wanted(s, slot, kind);
		g->exists[kind] = want;
		if (kind < 2 && want && pl->set[i].size != 0)
			g->size[kind] = pl->set[i].size;
		if (!want && kind < 2)
			g->size[kind] = 0;
	}
	for (unsigned k = 0; k < 2; k++)
		s->allow_exists[k] = nfs_state_wanted(s, RN_CAT_COUNT, NFS_K_ALLOW4 + k);
	s->chains_ok = true;
}

static void report_add(struct feeds_nfsync_report *rep, const struct feeds_nfsync_report *r)
{
	if (rep == NULL)
		return;
	rep->added += r->added;
	rep->removed += r->removed;
	rep->swaps += r->swaps;
	rep->created += r->created;
	rep->deleted += r->deleted;
	rep->chains = rep->chains || r->chains;
	rep->ops += r->ops;
	rep->txn_us += r->txn_us;
}

int nfs_reconcile(struct feeds_nfsync *s, struct feeds_nfsync_report *rep, bool count_drift)
{
	struct nfs_sets *list = calloc(1, sizeof(*list));
	bool ipset = nfs_engine_ipset(s);
	int rc = RN_OK, kerr = 0;
	if (list == NULL)
		return -ENOMEM;
	for (int attempt = 0; attempt < 4; attempt++) {
		struct nfs_plan *pl = malloc(sizeof(*pl));
		struct feeds_nfsync_report r = {0};
		struct nfs_txn_result tr = {0};
		bool restart = false, skip = false, guard;
		if (pl == NULL) {
			rc = -ENOMEM;
			break;
		}
		nfs_plan_init(pl);
		if ((rc = nfs_client_ensure(s)) == RN_OK &&
		    (rc = nfs_client_list(s, list)) == RN_OK) {
			/*
			 * Nothing can differ when the ruleset is at the generation
			 * our last commit left and the desired state has not
			 * changed since: every nf_tables change, by anyone, moves
			 * the generation, and our sets take no updates from the
			 * packet path. Then no dump is needed, except the full one
			 * due every sync.dump_interval, as a belt and braces check.
			 */
			skip = !ipset && !s->dirty && !s->changed && s->gen_valid &&
			       list->genid == s->known_gen && rn_time_mono_ms() < s->next_full;
			if (!skip)
				rc = nfs_plan_resolve(s, pl, list, &r, &restart);
		}
		/* The last attempt goes unguarded (still checked by EXCL and
		 * ENOENT), so a ruleset that keeps changing cannot starve us. */
		guard = !ipset && attempt < 3;
		if (rc == RN_OK && !restart && !skip) {
			rc = plan_commit(s, pl, guard ? list->genid : 0, &r, &tr);
			kerr = tr.kerr;
		}
		if (rc == RN_OK && !restart && !skip) {
			plan_done(s, pl);
			s->known_gen = tr.committed ? list->genid + 1 : list->genid;
			s->gen_valid = !ipset && (guard || !tr.committed);
			s->changed = false;
			s->next_full = rn_time_mono_ms() + s->conf.dump_ms;
		} else if (rc != RN_OK) {
			s->gen_valid = false;
		}
		nfs_plan_release(pl);
		free(pl);
		report_add(rep, &r);
		if (rc != RN_OK && s->fd < 0 && attempt < 3) {
			/* The applier died under us: again, with a fresh one. */
			continue;
		}
		if (restart || (rc == RN_ENETLINK && kerr == ERESTART)) {
			rn_counter_inc(&s->conflicts);
			log_info("nfsync: the ruleset changed during a reconcile; again");
			rc = RN_ESTATE;
			continue;
		}
		if (rc == RN_OK) {
			if (rep != NULL) {
				rep->missing += r.missing;
				rep->extra += r.extra;
			}
			if (count_drift) {
				rn_counter_add(&s->drift_missing, r.missing);
				rn_counter_add(&s->drift_extra, r.extra);
				if (r.missing + r.extra > 0)
					log_notice("nfsync: repaired drift: %llu missing, %llu "
					           "extra",
					           (unsigned long long)r.missing,
					           (unsigned long long)r.extra);
			}
		}
		break;
	}
	free(list);
	if (rc == RN_OK) {
		rn_counter_inc(&s->rec_ok);
		nfs_state_dirty(s, false);
	} else {
		rn_counter_inc(&s->rec_failed);
		nfs_state_dirty(s, true);
	}
	nfs_state_gauges(s);
	return rc;
}
