/*
 * state.c: the engine's desired state, and the resolve step of loads and
 * deltas.
 *
 * Design notes:
 *
 * State. Per group of sets (all categories together, or one category when
 * sync.per_category is on) the engine keeps: the single addresses of
 * each family in a key set (address -> category mask), the listed
 * prefixes of each family in a sorted prefix set, and, per interval set,
 * the normalised ranges the kernel holds after the last successful
 * transaction. It keeps no copy of the kernel's hash sets: the invariant
 * is that after a successful transaction the kernel's address sets hold
 * exactly the keys with a category bit of the group. `dirty` records that
 * the invariant may be broken (a refused or lost transaction, a dead
 * applier); the next call resynchronises from a dump instead of trusting
 * it. An address listed under several categories is one element, removed
 * from the kernel only when its last category goes.
 *
 * Resolve. A load replaces the state (nfs_state_load). A delta
 * (nfs_delta_resolve) walks only the keys it names: each is marked
 * TOUCHED with WAS (listed before) on its first change, so that after all
 * the removals and additions its before and after membership say whether
 * it leaves the kernel set, enters it, or neither (an address listed
 * already under another category is no kernel change); then its flags are
 * cleared, or the key deleted when no category is left, so a zero mask
 * never stays in a probe chain. An interval set's ranges are recomputed
 * only when its prefixes changed, and diffed against those the kernel
 * holds. The result is one change record per set (struct nfs_plan).
 *
 * Threading: none; the caller's thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netfilter.h>

#include "feeds/nfsync/engine.h"

/* A delta's sets in batch order, per group: each family's prefixes, then its addresses. */
static const uint8_t delta_order[NFS_K_COUNT] = {NFS_K_NET4, NFS_K_V4,     NFS_K_NET6,
                                                 NFS_K_V6,   NFS_K_ALLOW4, NFS_K_ALLOW6};

/* ------------------------------------------------------------------ */
/* Groups                                                              */
/* ------------------------------------------------------------------ */

static void group_release(struct nfs_group *g)
{
	for (unsigned i = 0; i < 2; i++) {
		nfs_keyset_release(&g->k[i]);
		nfs_pfxset_release(&g->p[i]);
		nfs_rangevec_release(&g->r[i]);
	}
}

static void group_init(struct nfs_group *g)
{
	memset(g, 0, sizeof(*g));
	nfs_keyset_init(&g->k[0], 4);
	nfs_keyset_init(&g->k[1], 16);
	nfs_pfxset_init(&g->p[0], 4);
	nfs_pfxset_init(&g->p[1], 16);
}

void nfs_state_init(struct feeds_nfsync *s)
{
	for (unsigned i = 0; i < NFS_GROUP_SLOTS; i++)
		group_init(&s->g[i]);
}

void nfs_state_release(struct feeds_nfsync *s)
{
	for (unsigned i = 0; i < NFS_GROUP_SLOTS; i++)
		group_release(&s->g[i]);
	nfs_rangevec_release(&s->allow[0]);
	nfs_rangevec_release(&s->allow[1]);
}

void nfs_state_clear(struct feeds_nfsync *s)
{
	for (unsigned i = 0; i < NFS_GROUP_SLOTS; i++) {
		struct nfs_group *g = &s->g[i];
		uint32_t size[2] = {g->size[0], g->size[1]};
		bool exists[NFS_DROP_KINDS];
		memcpy(exists, g->exists, sizeof(exists));
		group_release(g);
		group_init(g);
		memcpy(g->size, size, sizeof(size));
		memcpy(g->exists, exists, sizeof(exists));
	}
	if (!s->conf.per_category)
		s->g[RN_CAT_COUNT].used = true;
}

bool nfs_state_family_ok(const struct feeds_nfsync *s, bool v6)
{
	if (nfs_engine_ipset(s) || s->family == NFPROTO_INET)
		return true;
	return v6 ? s->family == NFPROTO_IPV6 : s->family == NFPROTO_IPV4;
}

/* The kernel form of an interval set: ranges, or for ipset aligned prefixes. */
static int kernel_ranges(const struct feeds_nfsync *s, const struct nfs_pfxset *p,
                         struct nfs_rangevec *out)
{
	struct nfs_rangevec r = {0};
	int rc = nfs_ranges_build(p, NFS_CAT_BITS, &r);
	if (rc == RN_OK && nfs_engine_ipset(s)) {
		out->n = 0;
		rc = nfs_ranges_to_cidrs(&r, p->klen, 1, out);
		nfs_rangevec_release(&r);
		return rc;
	}
	if (rc != RN_OK) {
		nfs_rangevec_release(&r);
		return rc;
	}
	nfs_rangevec_release(out);
	*out = r;
	return RN_OK;
}

int nfs_state_build_ranges(struct feeds_nfsync *s)
{
	int rc = RN_OK;
	for (unsigned slot = 0; slot < NFS_GROUP_SLOTS && rc == RN_OK; slot++) {
		struct nfs_group *g = &s->g[slot];
		rc = kernel_ranges(s, &g->p[0], &g->r[0]);
		if (rc == RN_OK)
			rc = kernel_ranges(s, &g->p[1], &g->r[1]);
	}
	return rc;
}

int nfs_state_allow(struct feeds_nfsync *s)
{
	for (unsigned f = 0; f < 2; f++) {
		struct nfs_pfxset p;
		nfs_pfxset_init(&p, f ? 16 : 4);
		int rc = RN_OK;
		for (size_t i = 0; i < s->conf.allow.n && rc == RN_OK; i++) {
			const struct rn_prefix *a = &s->conf.allow.v[i];
			bool changed;
			if ((a->addr.family == RN_AF_INET6) != (f == 1))
				continue;
			uint8_t key[16] = {0};
			rn_addr_to_bytes(&a->addr, key);
			rc = nfs_pfxset_or(&p, key, a->len, 1, &changed);
		}
		if (rc == RN_OK)
			rc = nfs_ranges_build(&p, NFS_CAT_BITS, &s->allow[f]);
		nfs_pfxset_release(&p);
		if (rc != RN_OK)
			return rc;
	}
	return RN_OK;
}

/* ------------------------------------------------------------------ */
/* Entries                                                             */
/* ------------------------------------------------------------------ */

int nfs_entry_resolve(struct feeds_nfsync *s, const struct feeds_nfsync_entry *e,
                      struct nfs_resolved *r)
{
	const struct rn_prefix *p = &e->prefix;
	if (e->category >= RN_CAT_COUNT) {
		rn_counter_inc(&s->refused[NFS_REF_CATEGORY]);
		return RN_EPARSE;
	}
	bool v6 = p->addr.family == RN_AF_INET6;
	if ((p->addr.family != RN_AF_INET && !v6) || !nfs_state_family_ok(s, v6)) {
		rn_counter_inc(&s->refused[NFS_REF_FAMILY]);
		return RN_EUNSUPP;
	}
	unsigned max = v6 ? 128 : 32;
	if (p->len > max) {
		rn_counter_inc(&s->refused[NFS_REF_FAMILY]);
		return RN_EPARSE;
	}
	if (p->len < max && p->len < (v6 ? s->conf.min_prefix6 : s->conf.min_prefix4)) {
		rn_counter_inc(&s->refused[NFS_REF_SHORT]);
		return RN_ELIMIT;
	}
	memset(r->key, 0, sizeof(r->key));
	rn_addr_to_bytes(&p->addr, r->key);
	r->len = p->len;
	r->kind = p->len == max ? (v6 ? NFS_K_V6 : NFS_K_V4) : (v6 ? NFS_K_NET6 : NFS_K_NET4);
	r->slot = s->conf.per_category ? e->category : RN_CAT_COUNT;
	r->bit = (uint16_t)(1u << e->category);
	return RN_OK;
}

/* Adds one entry; track (deltas) marks what each key was before. */
static int state_add(struct feeds_nfsync *s, const struct nfs_resolved *r, bool track)
{
	struct nfs_group *g = &s->g[r->slot];
	bool changed;
	g->used = true;
	if (r->kind >= NFS_K_NET4)
		return nfs_pfxset_or(&g->p[r->kind - 2], r->key, r->len, r->bit, &changed);
	struct nfs_keyset *k = &g->k[r->kind];
	if (!track) {
		/* A load: one probe, unless the set is at its limit. */
		if (k->n >= (size_t)s->conf.max_elements && nfs_keyset_find(k, r->key) == NULL) {
			rn_counter_inc(&s->refused[NFS_REF_LIMIT]);
			return RN_ELIMIT;
		}
		return nfs_keyset_or(k, r->key, r->bit, NULL);
	}
	uint16_t *m = nfs_keyset_find(k, r->key);
	if (m == NULL) {
		if (k->n >= (size_t)s->conf.max_elements) {
			rn_counter_inc(&s->refused[NFS_REF_LIMIT]);
			return RN_ELIMIT;
		}
		return nfs_keyset_or(k, r->key, (uint16_t)(r->bit | NFS_F_TOUCHED), NULL);
	}
	if (!(*m & NFS_F_TOUCHED))
		*m |= (uint16_t)(NFS_F_TOUCHED | ((*m & NFS_CAT_BITS) ? NFS_F_WAS : 0));
	*m |= r->bit;
	return RN_OK;
}

static void state_del(struct feeds_nfsync *s, const struct nfs_resolved *r)
{
	struct nfs_group *g = &s->g[r->slot];
	bool changed;
	if (r->kind >= NFS_K_NET4) {
		nfs_pfxset_clear(&g->p[r->kind - 2], r->key, r->len, r->bit, &changed);
		return;
	}
	uint16_t *m = nfs_keyset_find(&g->k[r->kind], r->key);
	if (m == NULL || !(*m & r->bit))
		return;
	if (!(*m & NFS_F_TOUCHED))
		*m |= (uint16_t)(NFS_F_TOUCHED | NFS_F_WAS);
	*m &= (uint16_t)~r->bit;
}

int nfs_state_load(struct feeds_nfsync *s, const struct feeds_nfsync_entry *v, size_t n,
                   uint64_t *refused)
{
	nfs_state_clear(s);
	/* Sized for the common case: everything is a single IPv4 address. */
	if (!s->conf.per_category && n > 16)
		nfs_keyset_reserve(&s->g[RN_CAT_COUNT].k[0], n);
	for (size_t i = 0; i < n; i++) {
		struct nfs_resolved x;
		if (nfs_entry_resolve(s, &v[i], &x) != RN_OK) {
			(*refused)++;
			continue;
		}
		int rc = state_add(s, &x, false);
		if (rc == RN_ELIMIT) {
			(*refused)++;
			continue;
		}
		if (rc != RN_OK)
			return rc;
	}
	return nfs_state_build_ranges(s);
}

int nfs_state_adopt(struct feeds_nfsync *s, unsigned slot, unsigned kind, const uint8_t *item)
{
	struct nfs_group *g = &s->g[slot];
	uint16_t bit = (uint16_t)(1u << (slot == RN_CAT_COUNT ? RN_CAT_UNSPECIFIED : slot));
	unsigned klen = nfs_kind_klen(kind);
	g->used = true;
	if (kind < 2)
		return nfs_keyset_or(&g->k[kind], item, bit, NULL);
	struct nfs_rangevec one = {0}, cidrs = {0};
	int rc = nfs_rangevec_push(&one, item, item + klen, klen);
	if (rc == RN_OK)
		rc = nfs_ranges_to_cidrs(&one, klen, 0, &cidrs);
	for (size_t i = 0; rc == RN_OK && i < cidrs.n; i++) {
		bool changed;
		int len = nfs_range_cidr_len(&cidrs.v[i], klen);
		rc = nfs_pfxset_or(&g->p[kind - 2], cidrs.v[i].lo, (unsigned)len, bit, &changed);
	}
	nfs_rangevec_release(&one);
	nfs_rangevec_release(&cidrs);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Deltas                                                              */
/* ------------------------------------------------------------------ */

void nfs_delta_init(struct nfs_delta *d)
{
	nfs_plan_init(&d->plan);
	d->plan.order = delta_order;
	d->newgroup = false;
}

void nfs_delta_release(struct nfs_delta *d)
{
	nfs_plan_release(&d->plan);
}

/*
 * An address the delta named: if its membership changed, it leaves or
 * enters the kernel set. Then its flags are settled.
 */
static int key_change(struct feeds_nfsync *s, const struct nfs_resolved *x, struct nfs_delta *d)
{
	struct nfs_keyset *k = &s->g[x->slot].k[x->kind];
	struct nfs_setchange *c = &d->plan.set[nfs_set_index(x->slot, x->kind)];
	unsigned klen = nfs_kind_klen(x->kind);
	uint16_t *m = nfs_keyset_find(k, x->key);
	int rc = RN_OK;
	if (m == NULL || !(*m & NFS_F_TOUCHED))
		return RN_OK; /* handled already */
	bool was = (*m & NFS_F_WAS) != 0, now = (*m & NFS_CAT_BITS) != 0;
	if (was && !now) {
		rn_wcur_bytes(&c->del, x->key, klen);
		rc = c->del.err;
	} else if (!was && now) {
		rn_wcur_bytes(&c->add, x->key, klen);
		rc = c->add.err;
	}
	/* Never leave a zero mask in a probe chain: delete the slot. */
	if (!now)
		nfs_keyset_del(k, x->key);
	else
		*m &= (uint16_t) ~(NFS_F_TOUCHED | NFS_F_WAS);
	return rc;
}

/*
 * Keys an interrupted resolve left flagged (or without a category) are
 * settled; only the named keys are visited, so a single update does not
 * pay for a walk of a million-entry table.
 */
static void keys_settle(struct feeds_nfsync *s, const struct nfs_resolved *keys, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct nfs_keyset *k = &s->g[keys[i].slot].k[keys[i].kind];
		uint16_t *m = nfs_keyset_find(k, keys[i].key);
		if (m == NULL)
			continue;
		if (!(*m & NFS_CAT_BITS))
			nfs_keyset_del(k, keys[i].key);
		else
			*m &= (uint16_t) ~(NFS_F_TOUCHED | NFS_F_WAS);
	}
}

/*
 * An interval set whose prefixes changed: its new kernel form, and the
 * ranges that leave and enter the kernel. The desired state holds the new
 * ranges from here on, whatever becomes of the transaction.
 */
static int ranges_change(struct feeds_nfsync *s, unsigned slot, unsigned kind,
                         struct nfs_setchange *c)
{
	struct nfs_rangevec *held = &s->g[slot].r[kind - NFS_K_NET4];
	struct nfs_rangevec next = {0}, del = {0}, add = {0};
	unsigned klen = nfs_kind_klen(kind);
	int rc = kernel_ranges(s, &s->g[slot].p[kind - NFS_K_NET4], &next);
	if (rc != RN_OK) {
		nfs_rangevec_release(&next);
		return rc;
	}
	rc = nfs_ranges_diff(held, &next, klen, &del, &add);
	if (rc == RN_OK)
		rc = nfs_push_ranges(&c->del, &del, klen);
	if (rc == RN_OK)
		rc = nfs_push_ranges(&c->add, &add, klen);
	nfs_rangevec_release(held);
	*held = next;
	nfs_rangevec_release(&del);
	nfs_rangevec_release(&add);
	return rc;
}

/* The delta names an entry: prefixes mark their set, addresses are kept. */
static void note(const struct nfs_resolved *x, bool *prefixes, struct nfs_resolved *keys,
                 size_t *nkeys)
{
	if (x->kind >= NFS_K_NET4)
		prefixes[nfs_set_index(x->slot, x->kind)] = true;
	else
		keys[(*nkeys)++] = *x;
}

int nfs_delta_resolve(struct feeds_nfsync *s, const struct feeds_nfsync_entry *add, size_t nadd,
                      const struct feeds_nfsync_entry *del, size_t ndel, struct nfs_delta *d,
                      uint64_t *refused)
{
	struct nfs_resolved *keys = NULL, x;
	size_t nkeys = 0;
	bool prefixes[NFS_SETS] = {false};
	int rc = RN_OK;

	if (nadd + ndel > 0) {
		keys = malloc((nadd + ndel) * sizeof(*keys));
		if (keys == NULL)
			return -ENOMEM;
	}
	/* The desired state, remembering what each key was before. */
	for (size_t i = 0; i < ndel; i++) {
		if (nfs_entry_resolve(s, &del[i], &x) != RN_OK) {
			(*refused)++;
			continue;
		}
		state_del(s, &x);
		note(&x, prefixes, keys, &nkeys);
	}
	for (size_t i = 0; i < nadd && rc == RN_OK; i++) {
		if (nfs_entry_resolve(s, &add[i], &x) != RN_OK) {
			(*refused)++;
			continue;
		}
		if (!s->g[x.slot].used)
			d->newgroup = true;
		rc = state_add(s, &x, true);
		if (rc == RN_ELIMIT) {
			(*refused)++;
			rc = RN_OK;
			continue;
		}
		if (rc == RN_OK)
			note(&x, prefixes, keys, &nkeys);
	}
	/* What leaves and enters each set, from before and after of each key. */
	for (size_t i = 0; i < nkeys && rc == RN_OK; i++)
		rc = key_change(s, &keys[i], d);
	/* Every changed prefix set gets its ranges, even after a failure. */
	for (unsigned i = 0; i < NFS_SETS; i++) {
		if (!prefixes[i])
			continue;
		int e = ranges_change(s, i / NFS_K_COUNT, i % NFS_K_COUNT, &d->plan.set[i]);
		if (rc == RN_OK)
			rc = e;
	}
	if (rc != RN_OK)
		keys_settle(s, keys, nkeys);
	free(keys);
	for (unsigned i = 0; i < NFS_SETS; i++) {
		struct nfs_setchange *c = &d->plan.set[i];
		c->act = c->del.len || c->add.len ? NFS_ACT_DIFF : NFS_ACT_NONE;
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* Queries                                                             */
/* ------------------------------------------------------------------ */

bool nfs_state_wanted(const struct feeds_nfsync *s, unsigned slot, unsigned kind)
{
	if (kind >= NFS_DROP_KINDS) {
		if (nfs_engine_ipset(s) || slot != RN_CAT_COUNT)
			return false;
		return s->allow[kind - NFS_K_ALLOW4].n > 0 &&
		       nfs_state_family_ok(s, kind == NFS_K_ALLOW6);
	}
	return s->g[slot].used && nfs_state_family_ok(s, nfs_kind_v6(kind));
}

size_t nfs_state_count(const struct feeds_nfsync *s, unsigned slot, unsigned kind)
{
	if (kind < 2)
		return s->g[slot].k[kind].n;
	if (kind < NFS_DROP_KINDS)
		return s->g[slot].r[kind - 2].n;
	return s->allow[kind - NFS_K_ALLOW4].n;
}

const struct nfs_rangevec *nfs_state_ranges(const struct feeds_nfsync *s, unsigned slot,
                                            unsigned kind)
{
	return kind < NFS_DROP_KINDS ? &s->g[slot].r[kind - 2] : &s->allow[kind - NFS_K_ALLOW4];
}

bool nfs_state_outgrown(const struct feeds_nfsync *s)
{
	for (unsigned slot = 0; slot < NFS_GROUP_SLOTS; slot++) {
		const struct nfs_group *g = &s->g[slot];
		if (g->used && (g->k[0].n > g->size[0] || g->k[1].n > g->size[1]))
			return true;
	}
	return false;
}

void nfs_state_dirty(struct feeds_nfsync *s, bool dirty)
{
	s->dirty = dirty;
	rn_gauge_set(&s->in_sync, !dirty);
}

void nfs_state_gauges(struct feeds_nfsync *s)
{
	int64_t n[NFS_DROP_KINDS] = {0};
	for (unsigned i = 0; i < NFS_GROUP_SLOTS; i++) {
		n[0] += (int64_t)s->g[i].k[0].n;
		n[1] += (int64_t)s->g[i].k[1].n;
		n[2] += (int64_t)s->g[i].r[0].n;
		n[3] += (int64_t)s->g[i].r[1].n;
	}
	for (unsigned k = 0; k < NFS_DROP_KINDS; k++)
		rn_gauge_set(&s->elements[k], n[k]);
	rn_gauge_set(&s->in_sync, !s->dirty);
}
