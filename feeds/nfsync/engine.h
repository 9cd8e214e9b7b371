/*
 * engine.h: internals of the sync engine, shared by its files and tests.
 * Internal to nfsync; tests include it.
 *
 *   keyset.c, range.c  the data structures of the desired state: key sets
 *                      of addresses and sorted prefix sets, each with a
 *                      category mask, and the normalised ranges derived
 *                      from them;
 *   state.c            the desired state itself, and the resolve step of
 *                      loads and deltas (entries -> per-set changes);
 *   plan.c             plans against what the kernel holds (LIST, DUMP),
 *                      the kernel operations of a plan or a delta, and the
 *                      reconcile loop;
 *   client.c           the applier process and the protocol exchanges,
 *                      the transaction step among them;
 *   engine.c           the public API and the engine's lifecycle;
 *   conf.c             the configuration keys.
 *
 * Every change goes through three steps, each with its structure below:
 * resolve (struct nfs_plan: per set, what changes), kernel operations
 * (struct nfs_kops: the messages, in order), transaction (nfs_client_txn,
 * struct nfs_txn_result).
 */
#ifndef REPNET_FEEDS_NFSYNC_ENGINE_H
#define REPNET_FEEDS_NFSYNC_ENGINE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "feeds/nfsync/nfsync.h"

/* ------------------------------------------------------------------ */
/* Key sets: address -> category mask                                 */
/* ------------------------------------------------------------------ */

/*
 * An open-addressing hash table (linear probing, backward-shift deletion)
 * from a 4- or 16-byte key to a 16-bit mask. Bits 0..RN_CAT_COUNT-1 are
 * the categories that list the key; the top bits are scratch flags of the
 * engine. A slot whose mask is 0 is empty, so a stored key always has a
 * non-zero mask. Keys are hashed with a per-table random seed, so listed
 * addresses cannot be chosen to collide. A caller may change the mask
 * through the pointer it gets, but never to 0: a zero mask in the middle
 * of a probe cluster would hide the keys after it. nfs_keyset_del()
 * removes a key properly.
 */
#define NFS_CAT_BITS  ((uint16_t)((1u << RN_CAT_COUNT) - 1u))
#define NFS_F_WAS     ((uint16_t)0x2000u) /* present before this batch */
#define NFS_F_TOUCHED ((uint16_t)0x4000u) /* touched by this batch */
#define NFS_F_SEEN    ((uint16_t)0x8000u) /* seen in a kernel dump */

struct nfs_keyset {
	uint8_t klen;
	uint8_t shift; /* 64 - log2(cap) */
	size_t n;      /* slots in use */
	size_t cap;    /* power of two, or 0 before the first insert */
	uint64_t seed;
	uint8_t *keys;   /* cap * klen */
	uint16_t *masks; /* cap */
};

void nfs_keyset_init(struct nfs_keyset *s, unsigned klen);
void nfs_keyset_release(struct nfs_keyset *s);
/* Grows the table so that n keys fit without rehashing. */
int nfs_keyset_reserve(struct nfs_keyset *s, size_t n);
/* A pointer to the mask of key, or NULL. Valid until the next change. */
uint16_t *nfs_keyset_find(const struct nfs_keyset *s, const uint8_t *key);
/* ORs bits (non-zero) into key's mask, inserting it; *mask gets the slot. */
int nfs_keyset_or(struct nfs_keyset *s, const uint8_t *key, uint16_t bits, uint16_t **mask);
/* Removes key. Returns true when it was present. */
bool nfs_keyset_del(struct nfs_keyset *s, const uint8_t *key);
/* Removes every slot whose mask has no category bit; clears flags in keep. */
void nfs_keyset_sweep(struct nfs_keyset *s, uint16_t clear);
static inline const uint8_t *nfs_keyset_key(const struct nfs_keyset *s, size_t slot)
{
	return s->keys + slot * s->klen;
}

/* ------------------------------------------------------------------ */
/* Prefixes and ranges                                                 */
/* ------------------------------------------------------------------ */

struct nfs_rangevec {
	struct nfs_range *v;
	size_t n;
	size_t cap;
};

void nfs_rangevec_release(struct nfs_rangevec *rv);
int nfs_rangevec_push(struct nfs_rangevec *rv, const uint8_t *lo, const uint8_t *hi, unsigned klen);

/* A listed prefix with its category mask; addr has no bits past len. */
struct nfs_pfx {
	uint8_t addr[16];
	uint8_t len;
	uint8_t pad_;
	uint16_t mask;
};

/* Prefixes of one family, sorted by (address, length), unique. */
struct nfs_pfxset {
	struct nfs_pfx *v;
	size_t n;
	size_t cap;
	uint8_t klen;
};

void nfs_pfxset_init(struct nfs_pfxset *s, unsigned klen);
void nfs_pfxset_release(struct nfs_pfxset *s);
/* ORs bits into the mask of addr/len, inserting it. *changed: newly listed. */
int nfs_pfxset_or(struct nfs_pfxset *s, const uint8_t *addr, unsigned len, uint16_t bits,
                  bool *changed);
/* Clears bits; drops the prefix when no category is left. *changed: gone. */
void nfs_pfxset_clear(struct nfs_pfxset *s, const uint8_t *addr, unsigned len, uint16_t bits,
                      bool *changed);

/*
 * The normalised form of the prefixes whose mask shares a bit with
 * select: sorted, inclusive ranges that neither overlap nor touch
 * (adjacent ranges are merged). nftables rejects overlapping intervals,
 * and one canonical form makes diffs exact.
 */
int nfs_ranges_build(const struct nfs_pfxset *s, uint16_t select, struct nfs_rangevec *out);
/* Sorts ranges by (lo, hi). */
void nfs_ranges_sort(struct nfs_rangevec *rv, unsigned klen);
/* The same from a list of ranges (any order, may overlap); klen 4 or 16. */
int nfs_ranges_normalise(struct nfs_rangevec *rv, unsigned klen);
/*
 * Compares two normalised lists: ranges only in old go to del, ranges only
 * in new go to add (both appended).
 */
int nfs_ranges_diff(const struct nfs_rangevec *old, const struct nfs_rangevec *nw, unsigned klen,
                    struct nfs_rangevec *del, struct nfs_rangevec *add);
/*
 * Splits normalised ranges into CIDR-aligned ranges (the minimal set of
 * prefixes covering them), none shorter than min_len: what ipset's
 * hash:net can hold (it refuses /0).
 */
int nfs_ranges_to_cidrs(const struct nfs_rangevec *in, unsigned klen, unsigned min_len,
                        struct nfs_rangevec *out);

/* ------------------------------------------------------------------ */
/* The engine                                                          */
/* ------------------------------------------------------------------ */

/* Kinds that hold the blocklist (the allow sets are separate). */
#define NFS_DROP_KINDS 4u
/* Their names in logs and metrics labels: "v4", "v6", "net4", "net6". */
extern const char *const nfs_kind_label[NFS_DROP_KINDS];

/*
 * Appends each range of rv to w as one item lo||hi (2 * klen bytes);
 * returns w's error.
 */
int nfs_push_ranges(struct rn_wcur *w, const struct nfs_rangevec *rv, unsigned klen);

/* The desired state of one group of sets (all categories, or one). */
struct nfs_group {
	bool used;
	struct nfs_keyset k[2];      /* v4, v6 */
	struct nfs_pfxset p[2];      /* net4, net6 prefixes */
	struct nfs_rangevec r[2];    /* net4, net6 as the kernel holds them */
	uint32_t size[2];            /* declared size of v4, v6 in the kernel */
	bool exists[NFS_DROP_KINDS]; /* the kernel has this set */
};

/* Why a transaction or the applier failed (a metrics label each). */
enum nfs_err_reason {
	NFS_ERR_KERNEL,
	NFS_ERR_FULL,
	NFS_ERR_ENOBUFS,
	NFS_ERR_EPERM,
	NFS_ERR_APPLIER,
	NFS_ERR_TIMEOUT,
	NFS_ERR_PROTOCOL,
	NFS_ERR_COUNT,
};

/* Why an entry was refused (a metrics label each). */
enum nfs_refuse_reason {
	NFS_REF_SHORT,
	NFS_REF_FAMILY,
	NFS_REF_CATEGORY,
	NFS_REF_LIMIT,
	NFS_REF_COUNT,
};

/* ------------------------------------------------------------------ */
/* Resolve: per-set changes                                            */
/* ------------------------------------------------------------------ */

/* What happens to one kernel set. */
enum nfs_act {
	NFS_ACT_NONE = 0,
	NFS_ACT_DIFF,   /* delete the items in del, then add those in add */
	NFS_ACT_CREATE, /* create and fill */
	NFS_ACT_SWAP,   /* a fresh set, filled, in place of the old one */
	NFS_ACT_DELETE, /* not wanted any more */
};

/*
 * The change record of one set: the output of the resolve step. A delta
 * only ever diffs; a plan, made from what LIST and DUMP found, may also
 * create, swap in or delete the set. The buffers are the record's.
 */
struct nfs_setchange {
	uint8_t act;        /* enum nfs_act */
	bool live;          /* plans: the live set exists (ipset: before the plan) */
	bool compat;        /* plans: and has our type */
	bool tmp;           /* plans, ipset: a stale temporary set exists */
	uint32_t size;      /* declared size of a set created or swapped in */
	struct rn_wcur del; /* DIFF: items to delete, packed (growable) */
	struct rn_wcur add; /* DIFF: items to add, packed (growable) */
};

/* Sets by index: group slot, then kind. */
#define NFS_SETS (NFS_GROUP_SLOTS * NFS_K_COUNT)

static inline unsigned nfs_set_index(unsigned slot, unsigned kind)
{
	return slot * NFS_K_COUNT + kind;
}

/* The set of a group slot (categories, then all) and a kind. */
static inline struct nfs_setid nfs_set_id(unsigned slot, unsigned kind)
{
	struct nfs_setid id = {.kind = (uint8_t)kind,
	                       .group = (uint8_t)(slot == RN_CAT_COUNT ? NFS_GROUP_ALL : slot)};
	return id;
}

/*
 * A plan: the change of every set, and what happens to the chains. A
 * delta (nfs_delta_resolve) fills only DIFF records; a plan against the
 * kernel (nfs_plan_resolve) any. nfs_kops_build turns it into the kernel
 * operations. Free the buffers with nfs_plan_release().
 */
struct nfs_plan {
	struct nfs_setchange set[NFS_SETS]; /* by nfs_set_index() */
	const uint8_t *order; /* NFS_K_COUNT kinds: the order of a group's sets in the batch */
	bool table;           /* nftables: ensure our table first */
	bool chains;          /* rebuild the chains */
	bool chain_present;   /* the blocklist chain exists now */
	uint8_t base_present; /* base chains that exist now: bit c-1 for chain c */
	uint32_t genid;       /* the ruleset generation LIST saw */
};

void nfs_plan_init(struct nfs_plan *pl);
void nfs_plan_release(struct nfs_plan *pl);

/* A delta, resolved. */
struct nfs_delta {
	struct nfs_plan plan; /* a DIFF for each set whose items change */
	bool newgroup;        /* it adds to a group that had no sets */
};

/* ------------------------------------------------------------------ */
/* Kernel operations                                                   */
/* ------------------------------------------------------------------ */

/* Where the items of an ELEMS operation come from. */
enum nfs_src {
	NFS_SRC_BYTES,  /* items.bytes: packed items */
	NFS_SRC_RANGES, /* items.ranges: each range one item */
	NFS_SRC_KEYSET, /* items.keys: every key with a category bit */
};

/*
 * One kernel operation: one message to the applier, or for ELEMS as many
 * as its items need. Items are not copied: they stay in the plan or in
 * the desired state, which must not change until the transaction is sent.
 */
struct nfs_kop {
	uint8_t type;  /* enum nfs_mtype: TABLE, SET_*, CHAIN_*, RULES, DESTROY, ELEMS */
	uint8_t op;    /* ELEMS: NFS_OP_ADD or NFS_OP_DEL */
	uint8_t flags; /* SET_*, ELEMS: NFS_SETF_TMP */
	uint8_t chain; /* CHAIN_*: enum nfs_chain */
	uint8_t src;   /* ELEMS: enum nfs_src */
	struct nfs_setid id;
	uint32_t size; /* SET_ADD: declared size (0: none) */
	int32_t prio;  /* CHAIN_ADD of a base chain */
	union {
		struct {
			const uint8_t *v;
			size_t n; /* items */
		} bytes;
		const struct nfs_rangevec *ranges;
		const struct nfs_keyset *keys;
	} items;
};

/* What a list of operations does to the kernel's sets, in elements. */
struct nfs_tally {
	uint64_t added;
	uint64_t removed;
	uint32_t swaps;
	uint32_t created;
	uint32_t deleted;
};

/* At most seven operations per set, and the table and chains. */
#define NFS_KOPS_MAX (8u * NFS_SETS + 16u)

/* The operations of one transaction, in order. */
struct nfs_kops {
	size_t n;
	struct nfs_kop v[NFS_KOPS_MAX];
	struct nfs_setid rules[NFS_RULES_MAX]; /* of the RULES operation */
	size_t nrules;
	struct nfs_tally tally;
};

void nfs_kops_reset(struct nfs_kops *k);
/* Appends op; RN_EINTERNAL when the list is full (a broken bound). */
int nfs_kops_push(struct nfs_kops *k, const struct nfs_kop *op);

/* The result of one transaction (nfs_client_txn). */
struct nfs_txn_result {
	bool committed; /* the kernel took it */
	int kerr;       /* the kernel's errno when it refused, else 0 */
	uint32_t msgs;  /* messages sent between BEGIN and COMMIT */
};

/* What a dump saw (nfs_client_dump). */
struct nfs_dumpinfo {
	uint32_t genid16;   /* the ruleset generation, low 16 bits (nft) */
	uint32_t anomalies; /* elements that are not of our shape */
	uint64_t count;     /* items received */
};

/* ------------------------------------------------------------------ */
/* The engine's state                                                  */
/* ------------------------------------------------------------------ */

/*
 * The whole engine. The conf is a copy of the caller's; the groups are
 * the desired state; the rest is what is known of the kernel and the
 * applier, and the metrics. kops is the transaction being built: lent to
 * one call at a time, so that no call allocates it.
 */
struct feeds_nfsync {
	struct feeds_sync_conf conf;
	int family;
	char table[NFS_NAME_MAX];
	char applier[PATH_MAX];
	struct rn_metrics *m;
	struct rn_helper app; /* the applier */
	pid_t pid;            /* app.pid, or -1 */
	int fd;               /* app.sock, or -1 */
	uint32_t txn;
	struct nfs_group g[NFS_GROUP_SLOTS];
	struct nfs_rangevec allow[2];
	bool allow_exists[2];
	bool chains_ok;
	bool dirty;
	bool loaded;
	bool changed;   /* the desired state changed since the last commit */
	bool gen_valid; /* known_gen is the generation our last commit left */
	uint32_t known_gen;
	int64_t next_reconcile;
	int64_t next_full;  /* a full dump is due even if the generation held */
	int64_t next_retry; /* after a failure: when tick() tries again */
	unsigned failures;  /* consecutive failed reconciles, for the backoff */
	uint8_t *wbuf;
	uint8_t *rbuf;
	double last_txn_s;
	struct nfs_kops kops;

	struct rn_counter txn_ok;
	struct rn_counter txn_failed;
	struct rn_counter el_added;
	struct rn_counter el_removed;
	struct rn_counter errors[NFS_ERR_COUNT];
	struct rn_counter refused[NFS_REF_COUNT];
	struct rn_counter resyncs;
	struct rn_counter rec_ok;
	struct rn_counter rec_failed;
	struct rn_counter drift_missing;
	struct rn_counter drift_extra;
	struct rn_counter drift_chains;
	struct rn_counter swaps;
	struct rn_counter restarts;
	struct rn_counter conflicts;
	struct rn_counter dumps;
	struct rn_gauge in_sync;
	struct rn_gauge elements[NFS_DROP_KINDS];
	struct rn_gauge last_success;
};

static inline bool nfs_engine_ipset(const struct feeds_nfsync *s)
{
	return s->conf.backend == FEEDS_SYNC_IPSET;
}

/* ------------------------------------------------------------------ */
/* The desired state (state.c)                                         */
/* ------------------------------------------------------------------ */

/* One entry, checked and placed: which set, which category bit. */
struct nfs_resolved {
	unsigned slot;
	unsigned kind; /* V4, V6, NET4, NET6 */
	uint16_t bit;
	uint8_t key[16];
	unsigned len;
};

/* Checks an entry against the configuration; counts refusals. */
int nfs_entry_resolve(struct feeds_nfsync *s, const struct feeds_nfsync_entry *e,
                      struct nfs_resolved *r);
/* True when the table's family takes addresses of this family. */
bool nfs_state_family_ok(const struct feeds_nfsync *s, bool v6);

void nfs_state_init(struct feeds_nfsync *s);
void nfs_state_release(struct feeds_nfsync *s);
/* Resets the desired state to nothing, keeping what is known of the kernel. */
void nfs_state_clear(struct feeds_nfsync *s);
/* The allow sets' ranges from sync.allow. */
int nfs_state_allow(struct feeds_nfsync *s);
/* Rebuilds every interval set's kernel form from its prefixes. */
int nfs_state_build_ranges(struct feeds_nfsync *s);
/*
 * The resolve step of a load: the desired state becomes v[0..n). Entries
 * refused (see nfs_entry_resolve, or a set at sync.max_elements) are
 * counted in *refused.
 */
int nfs_state_load(struct feeds_nfsync *s, const struct feeds_nfsync_entry *v, size_t n,
                   uint64_t *refused);
/* Adds one item of a kernel set (adopt): category unspecified. */
int nfs_state_adopt(struct feeds_nfsync *s, unsigned slot, unsigned kind, const uint8_t *item);
/*
 * The resolve step of a delta: the desired state takes del[], then add[];
 * d gets, per set, the items that leave and enter the kernel (an address
 * whose last category goes, or whose first comes; the ranges that change
 * where prefixes did), and each interval set's ranges become the new
 * ones. d must be initialised with nfs_delta_init; free with
 * nfs_delta_release, also on failure.
 */
void nfs_delta_init(struct nfs_delta *d);
int nfs_delta_resolve(struct feeds_nfsync *s, const struct feeds_nfsync_entry *add, size_t nadd,
                      const struct feeds_nfsync_entry *del, size_t ndel, struct nfs_delta *d,
                      uint64_t *refused);
void nfs_delta_release(struct nfs_delta *d);

/* True when the set (slot, kind) should exist. */
bool nfs_state_wanted(const struct feeds_nfsync *s, unsigned slot, unsigned kind);
/* The item count of a wanted set, as the kernel will hold it. */
size_t nfs_state_count(const struct feeds_nfsync *s, unsigned slot, unsigned kind);
/* The ranges of a wanted interval set. */
const struct nfs_rangevec *nfs_state_ranges(const struct feeds_nfsync *s, unsigned slot,
                                            unsigned kind);
/* True when an address set holds more keys than the kernel's set is sized for. */
bool nfs_state_outgrown(const struct feeds_nfsync *s);
/* Records whether the kernel may differ from the desired state. */
void nfs_state_dirty(struct feeds_nfsync *s, bool dirty);
/* Refreshes the element gauges and in_sync. */
void nfs_state_gauges(struct feeds_nfsync *s);

/* ------------------------------------------------------------------ */
/* Plans (plan.c)                                                      */
/* ------------------------------------------------------------------ */

/*
 * The resolve step against the kernel: from list (LIST's answer) and the
 * dumps of the sets that exist, the change of every set and of the
 * chains. Drift is counted in rep. *restart: the ruleset changed under
 * the dumps; plan again.
 */
int nfs_plan_resolve(struct feeds_nfsync *s, struct nfs_plan *pl, const struct nfs_sets *list,
                     struct feeds_nfsync_report *rep, bool *restart);
/*
 * The kernel operations of a plan, in the order they must go: the table,
 * the chains emptied, each set's operations, the chains rebuilt. Empty
 * when the plan changes nothing. Items are lent from pl and the desired
 * state.
 */
int nfs_kops_build(const struct feeds_nfsync *s, const struct nfs_plan *pl, struct nfs_kops *k);
/*
 * Makes the kernel equal to the desired state: LIST, DUMP, plan, and one
 * transaction, retried when the ruleset changed meanwhile or the applier
 * died. Marks the kernel behind on failure.
 */
int nfs_reconcile(struct feeds_nfsync *s, struct feeds_nfsync_report *rep, bool count_drift);

/* ------------------------------------------------------------------ */
/* The applier client (client.c)                                       */
/* ------------------------------------------------------------------ */

/* Where the applier is: sync.applier, else beside the executable. */
int nfs_client_path(struct feeds_nfsync *s);
/* Spawns the applier and waits for its READY. */
int nfs_client_start(struct feeds_nfsync *s);
/* Closes the socket and reaps the applier (killing it first if kill_it). */
void nfs_client_stop(struct feeds_nfsync *s, bool kill_it);
/* The applier died or broke the protocol: the kernel state is unknown. */
void nfs_client_lost(struct feeds_nfsync *s, enum nfs_err_reason why);
/* Starts the applier when it is not running (first use, or after a death). */
int nfs_client_ensure(struct feeds_nfsync *s);
/* LIST: our table, chains and sets. */
int nfs_client_list(struct feeds_nfsync *s, struct nfs_sets *out);
/* DUMP: cb gets each item of the set; info what the dump saw. */
int nfs_client_dump(struct feeds_nfsync *s, const struct nfs_setid *id, uint8_t flags,
                    int (*cb)(const uint8_t *item, void *arg), void *arg,
                    struct nfs_dumpinfo *info);
/*
 * The transaction step: BEGIN (guarded by genid, 0 for none), the
 * operations of k, COMMIT, and the applier's RESULT. txn_us in rep (may
 * be NULL) and the last-transaction gauge run from t0 (monotonic us).
 * Nothing is sent when k is empty.
 */
int nfs_client_txn(struct feeds_nfsync *s, const struct nfs_kops *k, uint32_t genid, int64_t t0,
                   struct feeds_nfsync_report *rep, struct nfs_txn_result *res);

/* ------------------------------------------------------------------ */
/* Configuration (conf.c)                                              */
/* ------------------------------------------------------------------ */

/* A deep copy of src; free with nfs_conf_free (also after a failure). */
int nfs_conf_copy(struct feeds_sync_conf *dst, const struct feeds_sync_conf *src);
void nfs_conf_free(struct feeds_sync_conf *c);

/*
 * Applies the keys that may change without a restart (the reconcile and
 * dump intervals) from a reloaded configuration.
 */
void feeds_nfsync_reload(struct feeds_nfsync *s, const struct feeds_sync_conf *conf);

#endif /* REPNET_FEEDS_NFSYNC_ENGINE_H */
