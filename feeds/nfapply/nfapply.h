/*
 * nfapply.h: the netfilter applier and its protocol. The applier
 * (repnet-nfsync) is the only process of repnet that holds CAP_NET_ADMIN:
 * a small program that the sync engine (nfsync.h) spawns and drives over
 * a socketpair with the typed messages declared here, and that turns them
 * into nfnetlink transactions (nftables) or ipset messages. The decoders
 * read through a bounded cursor and reject trailing bytes. This library
 * knows only proto, so the privileged binary carries nothing else.
 *
 * Vocabulary:
 *   - a *set* is one kernel set, named by a kind (v4, v6, net4, net6,
 *     allow4, allow6) and a group (all categories together, or one
 *     category when sync.per_category is on);
 *   - an *item* is what one set element is on the wire between engine and
 *     applier: a key (4 or 16 bytes, network order) for the address sets,
 *     or an inclusive range lo||hi (2 x 4 or 2 x 16 bytes) for the
 *     interval sets;
 *   - a *transaction* is BEGIN, operations, COMMIT: one nfnetlink batch for
 *     nftables; for ipset, stages of messages separated by swaps.
 */
#ifndef REPNET_FEEDS_NFAPPLY_H
#define REPNET_FEEDS_NFAPPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The kernel interface a sync drives. */
enum feeds_sync_backend {
	FEEDS_SYNC_NFT = 0,
	FEEDS_SYNC_IPSET = 1,
};

/* ------------------------------------------------------------------ */
/* Sets                                                                */
/* ------------------------------------------------------------------ */

enum nfs_kind {
	NFS_K_V4 = 0,     /* hash set of IPv4 addresses */
	NFS_K_V6 = 1,     /* hash set of IPv6 addresses */
	NFS_K_NET4 = 2,   /* interval set of IPv4 ranges */
	NFS_K_NET6 = 3,   /* interval set of IPv6 ranges */
	NFS_K_ALLOW4 = 4, /* interval set of allowed IPv4 ranges (nft only) */
	NFS_K_ALLOW6 = 5, /* interval set of allowed IPv6 ranges (nft only) */
};
#define NFS_K_COUNT 6

/* The group of a set when categories are not split. */
#define NFS_GROUP_ALL 0xffu
/* Groups 0 .. RN_CAT_COUNT-1 are categories. */
#define NFS_GROUP_SLOTS (RN_CAT_COUNT + 1)

struct nfs_setid {
	uint8_t kind;  /* enum nfs_kind */
	uint8_t group; /* a category, or NFS_GROUP_ALL */
};

static inline unsigned nfs_kind_klen(unsigned kind)
{
	return (kind == NFS_K_V4 || kind == NFS_K_NET4 || kind == NFS_K_ALLOW4) ? 4u : 16u;
}

static inline bool nfs_kind_interval(unsigned kind)
{
	return kind >= NFS_K_NET4 && kind < NFS_K_COUNT;
}

static inline bool nfs_kind_v6(unsigned kind)
{
	return nfs_kind_klen(kind) == 16;
}

/* Bytes of one item of a set of this kind. */
static inline size_t nfs_item_len(unsigned kind)
{
	return nfs_kind_interval(kind) ? 2u * nfs_kind_klen(kind) : nfs_kind_klen(kind);
}

/* A slot index 0 .. NFS_GROUP_SLOTS-1 for a group: categories, then ALL. */
static inline unsigned nfs_group_slot(unsigned group)
{
	return group == NFS_GROUP_ALL ? RN_CAT_COUNT : group;
}

bool nfs_setid_valid(const struct nfs_setid *id);

/* Long enough for any name this module makes (ipset's limit is 31). */
#define NFS_NAME_MAX         64
#define NFS_IPSET_PREFIX_MAX 8
/*
 * Parses sync.table, "FAMILY NAME" with FAMILY inet, ip or ip6 and NAME of
 * [A-Za-z0-9_.-]; *family gets the NFPROTO_ value.
 */
int nfs_table_parse(const char *spec, int *family, char *name, size_t namelen);
/* The nftables chain that holds the allow and drop rules. */
#define NFS_CHAIN_NAME "blocklist"

/*
 * Names a set. For nftables (prefix NULL): "v4", "net6", or with a
 * category "spam_source_v4". For ipset (prefix "repnet"): "repnet_v4",
 * "repnet_spam_source_net4"; tmp appends "_t", the temporary set of a
 * swap. Returns RN_OK, or RN_ELIMIT when dst is too small.
 */
int nfs_set_name(const struct nfs_setid *id, const char *ipset_prefix, bool tmp, char *dst,
                 size_t dstlen);
/* The inverse: RN_ENOTFOUND when name is not one of ours. */
int nfs_set_name_parse(const char *name, size_t len, const char *ipset_prefix, struct nfs_setid *id,
                       bool *tmp);

/* ------------------------------------------------------------------ */
/* Keys and ranges                                                    */
/* ------------------------------------------------------------------ */

/* An inclusive range of addresses of one family, network order. */
struct nfs_range {
	uint8_t lo[16];
	uint8_t hi[16];
};

/* The prefix length when r is exactly one aligned prefix; -1 otherwise. */
int nfs_range_cidr_len(const struct nfs_range *r, unsigned klen);
/* First and last address of addr/len (bits past len cleared). */
void nfs_prefix_bounds(const uint8_t *addr, unsigned len, unsigned klen, uint8_t *lo, uint8_t *hi);
int nfs_key_cmp(const uint8_t *a, const uint8_t *b, unsigned klen);
/* Adds or subtracts one; returns false on wrap-around. */
bool nfs_key_inc(uint8_t *k, unsigned klen);
bool nfs_key_dec(uint8_t *k, unsigned klen);
bool nfs_key_is_max(const uint8_t *k, unsigned klen);
bool nfs_key_is_zero(const uint8_t *k, unsigned klen);

/* ------------------------------------------------------------------ */
/* Engine <-> applier protocol                                         */
/* ------------------------------------------------------------------ */

/*
 * One message per SOCK_SEQPACKET datagram, at most NFS_MSG_MAX bytes,
 * integers big-endian. The first byte is the type. The decoder checks
 * every field and rejects a datagram with bytes left over, as OpenSMTPD's
 * m_end() does.
 */
#define NFS_PROTO_VERSION 1u
#define NFS_MSG_MAX       65536u
#define NFS_RULES_MAX     64u
#define NFS_SETS_MAX      160u
#define NFS_ERRMSG_MAX    200u

enum nfs_mtype {
	/* applier -> engine */
	NFS_M_READY = 1,    /* u32 version, u8 backend, u32 pid */
	NFS_M_RESULT = 2,   /* u32 txn, i32 rc, i32 kerr, u32 op, u16 len, text */
	NFS_M_SETS = 3,     /* the LIST answer, see struct nfs_sets */
	NFS_M_DUMP_END = 4, /* i32 rc, u32 count, u32 anomalies, u32 genid */
	/* engine -> applier */
	NFS_M_BEGIN = 16,       /* u32 txn, u32 genid (0: none) */
	NFS_M_TABLE = 17,       /* ensure our table exists */
	NFS_M_SET_ADD = 18,     /* setid, u8 flags, u32 size */
	NFS_M_SET_DEL = 19,     /* setid, u8 flags */
	NFS_M_SET_SWAP = 20,    /* setid: swap the set with its temporary (ipset) */
	NFS_M_CHAIN_FLUSH = 21, /* u8 chain */
	NFS_M_CHAIN_DEL = 22,   /* u8 chain */
	NFS_M_CHAIN_ADD = 23,   /* u8 chain, i32 priority */
	NFS_M_RULES = 24,       /* u8 n, n x setid: the rules of the blocklist chain */
	NFS_M_COMMIT = 25,
	NFS_M_LIST = 26,
	NFS_M_DUMP = 27,    /* setid, u8 flags */
	NFS_M_DESTROY = 28, /* inside a transaction: remove every object of ours */
	/* both ways */
	NFS_M_ELEMS = 32, /* u8 op, setid, u8 flags, u16 n, n items */
};

enum nfs_elem_op {
	NFS_OP_ADD = 1,
	NFS_OP_DEL = 2,
	NFS_OP_DUMP = 3, /* applier -> engine: dumped items */
};

/* Set flags in SET_ADD, SET_DEL, ELEMS and DUMP. */
#define NFS_SETF_TMP 0x01u /* the temporary set of a swap (ipset) */
/* Flags of a set in the SETS answer. */
#define NFS_SETF_COMPAT 0x02u /* type, key and flags are what we create */

enum nfs_chain {
	NFS_CHAIN_BLOCKLIST = 0, /* regular chain with the allow and drop rules */
	NFS_CHAIN_INPUT = 1,     /* base chain on the input hook: jump blocklist */
	NFS_CHAIN_FORWARD = 2,   /* base chain on the forward hook: jump blocklist */
};
#define NFS_CHAIN_COUNT 3

struct nfs_chaininfo {
	uint8_t present;
	int32_t prio;
	uint32_t rules;
};

struct nfs_setinfo {
	struct nfs_setid id;
	uint8_t flags;  /* NFS_SETF_TMP, NFS_SETF_COMPAT */
	uint32_t size;  /* declared size (nft) or maxelem (ipset); 0: none */
	uint32_t count; /* elements (ipset); UINT32_MAX: unknown (nft) */
};

struct nfs_sets {
	uint32_t genid; /* nftables ruleset generation; 0 for ipset */
	uint8_t table;  /* our table exists */
	struct nfs_chaininfo chains[NFS_CHAIN_COUNT];
	uint16_t foreign; /* objects in our table that are not ours */
	uint16_t n;
	struct nfs_setinfo v[NFS_SETS_MAX];
};

/* A decoded message. Pointers point into the decoded buffer. */
struct nfs_msg {
	uint8_t type;
	union {
		struct {
			uint32_t version;
			uint8_t backend;
			uint32_t pid;
		} ready;
		struct {
			uint32_t txn;
			int32_t rc;
			int32_t kerr;
			uint32_t op;
			char text[NFS_ERRMSG_MAX + 1];
		} result;
		struct {
			int32_t rc;
			uint32_t count;
			uint32_t anomalies;
			uint32_t genid;
		} dump_end;
		struct {
			uint32_t txn;
			uint32_t genid;
		} begin;
		struct {
			struct nfs_setid id;
			uint8_t flags;
			uint32_t size;
		} set; /* SET_ADD, SET_DEL, SET_SWAP, DUMP */
		struct {
			uint8_t chain;
			int32_t prio;
		} chain; /* CHAIN_FLUSH, CHAIN_DEL, CHAIN_ADD */
		struct {
			uint8_t n;
			struct nfs_setid ids[NFS_RULES_MAX];
		} rules;
		struct {
			uint8_t op;
			struct nfs_setid id;
			uint8_t flags;
			uint16_t n;
			const uint8_t *items; /* n * nfs_item_len(id.kind) bytes */
		} elems;
	} u;
};

/* Decodes one datagram. The SETS answer is decoded by nfs_msg_decode_sets. */
int nfs_msg_decode(const uint8_t *buf, size_t len, struct nfs_msg *m);
int nfs_msg_decode_sets(const uint8_t *buf, size_t len, struct nfs_sets *s);

/*
 * Encoders, through a write cursor over the caller's buffer (NFS_MSG_MAX
 * bytes): each writes one whole message from the start of w
 * (rn_wcur_reset) and returns RN_ELIMIT when it does not fit.
 */
int nfs_enc_ready(struct rn_wcur *w, uint8_t backend, uint32_t pid);
int nfs_enc_result(struct rn_wcur *w, uint32_t txn, int32_t rc, int32_t kerr, uint32_t op,
                   const char *text);
int nfs_enc_dump_end(struct rn_wcur *w, int32_t rc, uint32_t count, uint32_t anomalies,
                     uint32_t genid);
int nfs_enc_begin(struct rn_wcur *w, uint32_t txn, uint32_t genid);
int nfs_enc_simple(struct rn_wcur *w, uint8_t type);
int nfs_enc_set(struct rn_wcur *w, uint8_t type, const struct nfs_setid *id, uint8_t flags,
                uint32_t size);
int nfs_enc_chain(struct rn_wcur *w, uint8_t type, uint8_t chain, int32_t prio);
int nfs_enc_rules(struct rn_wcur *w, const struct nfs_setid *ids, size_t n);
int nfs_enc_sets(struct rn_wcur *w, const struct nfs_sets *s);
/* ELEMS: the header; then items are appended with rn_wcur_bytes and the
 * count patched in by nfs_enc_elems_finish. */
#define NFS_ELEMS_HDR 7u
int nfs_enc_elems_start(struct rn_wcur *w, uint8_t op, const struct nfs_setid *id, uint8_t flags);
int nfs_enc_elems_finish(struct rn_wcur *w, uint16_t n);
/* How many items of this kind fit in one ELEMS message. */
static inline size_t nfs_elems_per_msg(unsigned kind)
{
	size_t n = (NFS_MSG_MAX - NFS_ELEMS_HDR) / nfs_item_len(kind);
	return n > UINT16_MAX ? UINT16_MAX : n;
}

/* ------------------------------------------------------------------ */
/* The applier                                                        */
/* ------------------------------------------------------------------ */

/*
 * The applier's main(): src/repnet-nfsync is only this. It drops every
 * capability but CAP_NET_ADMIN and serves the engine on --fd.
 */
int feeds_nfsync_applier_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif /* REPNET_FEEDS_NFAPPLY_H */
