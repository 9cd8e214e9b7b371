/*
 * nfsync.h: internals of netfilter sync, shared by the sync engine
 * (nfsync.c), the privileged applier (nfs_apply.c), the netlink builders
 * (nft_batch.c, ipset_batch.c), the netlink reply parser (nlreply.c) and
 * their tests. Internal to the feeds library: nothing outside feeds/ and
 * tests/feeds/ includes it.
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
#ifndef REPNET_FEEDS_NFSYNC_H
#define REPNET_FEEDS_NFSYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "feeds/feeds.h"

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

/* An inclusive range of addresses of one family, network order. */
struct nfs_range {
	uint8_t lo[16];
	uint8_t hi[16];
};

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

/* A bounded writer for one outgoing message. */
struct nfs_wbuf {
	uint8_t *p;
	size_t len;
	size_t cap;
	bool overflow;
};
void nfs_wbuf_init(struct nfs_wbuf *w, uint8_t *buf, size_t cap);
void nfs_put_u8(struct nfs_wbuf *w, uint8_t v);
void nfs_put_u16(struct nfs_wbuf *w, uint16_t v);
void nfs_put_u32(struct nfs_wbuf *w, uint32_t v);
void nfs_put_bytes(struct nfs_wbuf *w, const void *p, size_t n);

/* Encoders; each writes one whole message and returns RN_ELIMIT on overflow. */
int nfs_enc_ready(struct nfs_wbuf *w, uint8_t backend, uint32_t pid);
int nfs_enc_result(struct nfs_wbuf *w, uint32_t txn, int32_t rc, int32_t kerr, uint32_t op,
                   const char *text);
int nfs_enc_dump_end(struct nfs_wbuf *w, int32_t rc, uint32_t count, uint32_t anomalies,
                     uint32_t genid);
int nfs_enc_begin(struct nfs_wbuf *w, uint32_t txn, uint32_t genid);
int nfs_enc_simple(struct nfs_wbuf *w, uint8_t type);
int nfs_enc_set(struct nfs_wbuf *w, uint8_t type, const struct nfs_setid *id, uint8_t flags,
                uint32_t size);
int nfs_enc_chain(struct nfs_wbuf *w, uint8_t type, uint8_t chain, int32_t prio);
int nfs_enc_rules(struct nfs_wbuf *w, const struct nfs_setid *ids, size_t n);
int nfs_enc_sets(struct nfs_wbuf *w, const struct nfs_sets *s);
/* ELEMS: the header; then items are appended with nfs_put_bytes and the
 * count patched by nfs_enc_elems_finish. */
#define NFS_ELEMS_HDR 7u
int nfs_enc_elems_start(struct nfs_wbuf *w, uint8_t op, const struct nfs_setid *id, uint8_t flags);
int nfs_enc_elems_finish(struct nfs_wbuf *w, uint16_t n);
/* How many items of this kind fit in one ELEMS message. */
static inline size_t nfs_elems_per_msg(unsigned kind)
{
	size_t n = (NFS_MSG_MAX - NFS_ELEMS_HDR) / nfs_item_len(kind);
	return n > UINT16_MAX ? UINT16_MAX : n;
}

/* ------------------------------------------------------------------ */
/* Netlink reply parser (nlreply.c)                                    */
/* ------------------------------------------------------------------ */

/*
 * Everything the kernel answers on NETLINK_NETFILTER goes through these
 * parsers: bounded reads, every attribute's length checked against its
 * type before use, strings required to be NUL-terminated inside their
 * attribute. They never allocate; lists are reported through callbacks.
 */
struct nlr_msg {
	uint16_t type;
	uint16_t flags;
	uint32_t seq;
	uint32_t pid;
	const uint8_t *payload; /* after the 16-byte header */
	size_t len;
};

/* Calls cb for each message of one datagram; stops at the first error. */
int nlr_walk(const uint8_t *buf, size_t len, int (*cb)(const struct nlr_msg *m, void *arg),
             void *arg);

/* An NLMSG_ERROR message: an ACK (error 0) or an error, with extack. */
struct nlr_err {
	int error; /* 0 or a negative errno */
	uint32_t seq;
	uint32_t pid;
	uint16_t orig_type;
	const char *text; /* NLMSGERR_ATTR_MSG, NUL-terminated, or NULL */
	bool has_offs;
	uint32_t offs;
};
int nlr_parse_error(const struct nlr_msg *m, struct nlr_err *e);
/* NLMSG_DONE: *error is the dump's final status (0 or negative errno). */
int nlr_parse_done(const struct nlr_msg *m, int *error);

/* A string attribute: s[len] is the NUL. */
struct nlr_str {
	const char *s;
	size_t len;
};
bool nlr_str_eq(const struct nlr_str *a, const char *b);

/* The nfgenmsg header of an nfnetlink message, and its attributes. */
struct nlr_nfgen {
	uint8_t family;
	uint8_t version;
	uint16_t res_id; /* host order */
	const uint8_t *attrs;
	size_t alen;
};
int nlr_nfgen(const struct nlr_msg *m, struct nlr_nfgen *g);

/* One set element from a NEWSETELEM message. */
struct nlr_elem {
	const uint8_t *key;
	size_t klen;
	const uint8_t *key_end; /* NFTA_SET_ELEM_KEY_END, or NULL */
	size_t kelen;
	uint32_t flags;
};
struct nlr_elems {
	struct nlr_str table;
	struct nlr_str set;
};
int nlr_nft_elems(const struct nlr_nfgen *g, struct nlr_elems *hdr,
                  int (*cb)(const struct nlr_elem *e, void *arg), void *arg);

struct nlr_set {
	struct nlr_str table;
	struct nlr_str name;
	uint32_t flags;
	uint32_t key_type;
	uint32_t key_len;
	uint32_t data_type; /* maps only */
	uint32_t size;      /* NFTA_SET_DESC_SIZE; 0 when absent */
	bool has_flags;
	bool has_key;
};
int nlr_nft_set(const struct nlr_nfgen *g, struct nlr_set *s);

struct nlr_chain {
	struct nlr_str table;
	struct nlr_str name;
	bool has_hook;
	uint32_t hooknum;
	int32_t prio;
	struct nlr_str type;
	bool has_policy;
	uint32_t policy;
};
int nlr_nft_chain(const struct nlr_nfgen *g, struct nlr_chain *c);

struct nlr_rule {
	struct nlr_str table;
	struct nlr_str chain;
	uint64_t handle;
	unsigned nexprs;
	unsigned lookups;          /* lookup expressions */
	struct nlr_str lookup_set; /* the first lookup's set */
	bool has_counter;
	uint64_t packets;
	uint64_t bytes;
};
int nlr_nft_rule(const struct nlr_nfgen *g, struct nlr_rule *r);

int nlr_nft_gen(const struct nlr_nfgen *g, uint32_t *genid);
struct nlr_table {
	struct nlr_str name;
	uint32_t flags;
};
int nlr_nft_table(const struct nlr_nfgen *g, struct nlr_table *t);

/* ipset: a LIST (or TYPE) answer. */
struct nlr_ipset {
	uint8_t protocol;
	struct nlr_str name;
	struct nlr_str type;
	uint8_t family;
	uint8_t revision;
	uint8_t revision_min;
	bool has_header;
	uint32_t maxelem;
	uint32_t hashsize;
	uint32_t elements;
	uint32_t references;
	uint32_t memsize;
	uint32_t lineno; /* in error answers */
};
/* cb gets each member: address bytes (4 or 16) and prefix length (0: none). */
int nlr_ipset(const struct nlr_nfgen *g, struct nlr_ipset *h,
              int (*cb)(const uint8_t *addr, size_t alen, unsigned cidr, void *arg), void *arg);
/* ipset error answers carry IPSET_ATTR_LINENO after the echoed header. */
int nlr_ipset_err_lineno(const struct nlr_msg *m, uint32_t *lineno);

/* ------------------------------------------------------------------ */
/* nftables batch builder (nft_batch.c)                               */
/* ------------------------------------------------------------------ */

/*
 * A growable buffer holding one nfnetlink batch (BEGIN, messages, END),
 * sent in one sendmsg() so that the kernel applies it as one transaction.
 * Every message between BEGIN and END asks for an ACK; the builder
 * records, per message, the engine operation it came from, so that an
 * error can be reported against that operation.
 */
struct nfb {
	uint8_t *buf;
	size_t len;
	size_t cap;
	size_t limit; /* refuses to grow past this many bytes */
	int family;   /* NFPROTO_INET, NFPROTO_IPV4, NFPROTO_IPV6 */
	char table[NFS_NAME_MAX];
	uint32_t seq_first; /* seq of the first acked message */
	uint32_t seq_next;
	uint32_t *ops; /* ops[i]: operation of message seq_first + i */
	size_t nops_cap;
	uint32_t nmsgs; /* messages that expect an ACK */
	uint32_t nelems;
};

int nfb_init(struct nfb *b, int family, const char *table, size_t limit);
void nfb_release(struct nfb *b);
/* Starts a batch; genid 0 means no generation check. */
int nfb_begin(struct nfb *b, uint32_t seq, uint32_t genid);
int nfb_end(struct nfb *b);
int nfb_table_add(struct nfb *b, uint32_t op);
int nfb_table_del(struct nfb *b, uint32_t op);
int nfb_set_add(struct nfb *b, uint32_t op, const struct nfs_setid *id, uint32_t size);
int nfb_set_del(struct nfb *b, uint32_t op, const struct nfs_setid *id);
/* Items as in ELEMS; split into messages under the 64 KiB attribute limit. */
int nfb_elems(struct nfb *b, uint32_t op, bool add, const struct nfs_setid *id,
              const uint8_t *items, size_t n);
int nfb_chain_flush(struct nfb *b, uint32_t op, unsigned chain);
int nfb_chain_del(struct nfb *b, uint32_t op, unsigned chain);
int nfb_chain_add(struct nfb *b, uint32_t op, unsigned chain, int32_t prio);
int nfb_rule_add(struct nfb *b, uint32_t op, const struct nfs_setid *id);

/* Bytes one element of this kind takes inside NFTA_SET_ELEM_LIST_ELEMENTS. */
size_t nfb_elem_size(unsigned kind, bool interval_end, bool open_end);
/* The largest payload of the element list nest: its length field is 16 bits. */
#define NFB_NEST_MAX (UINT16_MAX - 4u)

/* Requests (not batched): each writes one message into buf (>= 512 bytes). */
size_t nfb_req_getgen(uint8_t *buf, uint32_t seq);
size_t nfb_req_dump(uint8_t *buf, size_t cap, uint16_t msg_type, int family, const char *table,
                    const char *set, uint32_t seq);

/* ------------------------------------------------------------------ */
/* ipset messages (ipset_batch.c)                                     */
/* ------------------------------------------------------------------ */

struct ipb {
	uint8_t *buf;
	size_t len;
	size_t cap;
	size_t limit;
	uint32_t seq_first;
	uint32_t seq_next;
	uint32_t *ops;
	size_t nops_cap;
	uint32_t nmsgs;
	uint8_t rev_ip[2];  /* revision of hash:ip for inet, inet6 */
	uint8_t rev_net[2]; /* revision of hash:net */
};

int ipb_init(struct ipb *b, size_t limit);
void ipb_release(struct ipb *b);
/* Starts a stage: messages sent together in one sendmsg(). */
void ipb_stage(struct ipb *b, uint32_t seq);
int ipb_create(struct ipb *b, uint32_t op, const char *name, unsigned kind, uint32_t maxelem);
int ipb_destroy(struct ipb *b, uint32_t op, const char *name);
int ipb_swap(struct ipb *b, uint32_t op, const char *a, const char *b2);
/* Items as in ELEMS; net kinds must be CIDR-aligned ranges. */
int ipb_adt(struct ipb *b, uint32_t op, bool add, const char *name, unsigned kind,
            const uint8_t *items, size_t n);
size_t ipb_req_list(uint8_t *buf, size_t cap, const char *name, uint32_t seq);
size_t ipb_req_type(uint8_t *buf, size_t cap, const char *type, uint8_t family, uint32_t seq);

#endif /* REPNET_FEEDS_NFSYNC_H */
