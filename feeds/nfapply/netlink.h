/*
 * netlink.h: internals of the applier. Internal to nfapply; tests
 * include it.
 *
 *   nlreply.c      the parser of everything the kernel answers;
 *   nft_batch.c    the nftables batch builder;
 *   ipset_batch.c  the ipset messages;
 *   nlsock.c       the netlink socket: batches sent and acknowledged,
 *                  queries and dumps;
 *   nft_apply.c    the nftables backend: LIST, operations, COMMIT, DUMP;
 *   ipset_apply.c  the ipset backend: the same, in stages;
 *   apply.c        the applier's main: privileges, the message loop.
 */
#ifndef REPNET_FEEDS_NFAPPLY_NETLINK_H
#define REPNET_FEEDS_NFAPPLY_NETLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "feeds/nfapply/nfapply.h"

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
 * Netlink messages for one sendmsg(): a growable buffer, and for each
 * message that asks for an ACK, the engine operation it came from, so
 * that an error can be reported against that operation. Both builders
 * below fill one; the applier sends it with nfa_nl_exchange().
 */
struct nlbatch {
	uint8_t *buf;
	size_t len;
	size_t cap;
	size_t limit;       /* refuses to grow past this many bytes */
	uint32_t seq_first; /* seq of the first acked message */
	uint32_t seq_next;
	uint32_t *ops; /* ops[i]: operation of message seq_first + i */
	size_t nops_cap;
	uint32_t nmsgs; /* messages that expect an ACK */
};

void nlbatch_init(struct nlbatch *b, size_t limit);
/* Frees the buffers; b may be reused after nlbatch_init. */
void nlbatch_release(struct nlbatch *b);
/* Empties b; the next acked message gets sequence number seq. */
void nlbatch_reset(struct nlbatch *b, uint32_t seq);
/* Room for need more bytes (zeroed), within the limit. */
int nlbatch_ensure(struct nlbatch *b, size_t need);
/* Appends the message written at buf + len, acked as operation op's. */
int nlbatch_commit(struct nlbatch *b, const void *nlh, uint32_t op);

/*
 * One nfnetlink batch (BEGIN, messages, END), sent in one sendmsg() so
 * that the kernel applies it as one transaction. Every message between
 * BEGIN and END asks for an ACK.
 */
struct nfb {
	struct nlbatch msgs;
	int family; /* NFPROTO_INET, NFPROTO_IPV4, NFPROTO_IPV6 */
	char table[NFS_NAME_MAX];
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

/* One stage of ipset messages: sent in one sendmsg(), each acked. */
struct ipb {
	struct nlbatch msgs;
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

/* ------------------------------------------------------------------ */
/* The applier (apply.c, nlsock.c, nft_apply.c, ipset_apply.c)        */
/* ------------------------------------------------------------------ */

struct mnl_socket;
struct applier;

/* Why a batch or a query failed, for the engine's RESULT. */
struct nfa_err {
	int kerr;    /* the kernel's errno (positive), 0 when none */
	uint32_t op; /* the failing operation; UINT32_MAX: none, or the batch */
	char text[NFS_ERRMSG_MAX + 1];
};

/* One query (a request, or a dump) and what its answers said. */
struct nfa_query {
	struct applier *a;
	uint32_t seq;
	bool done;
	int error; /* negative errno from DONE or ERROR */
	bool intr; /* NLM_F_DUMP_INTR seen */
	bool res_set;
	uint16_t res_id; /* the generation (low 16 bits) of the answers */
	bool res_mixed;  /* answers from different generations */
	int (*cb)(const struct nlr_msg *m, const struct nlr_nfgen *g, void *arg);
	void *arg;
};

/* A DUMP's items, streamed to the engine in ELEMS messages. */
struct nfa_dump {
	struct applier *a;
	struct nfs_setid id;
	const char *name; /* the set's kernel name */
	struct rn_wcur w;
	uint16_t n; /* items in w */
	uint32_t count;
	uint32_t anomalies; /* elements not of our shape, left out */
};

/* Appends one item; sends a full message first. */
int nfa_dump_put(struct nfa_dump *d, const uint8_t *item);

/*
 * A backend: how the applier lists, changes and dumps the kernel's sets.
 * The applier calls one of these two, chosen by --backend.
 */
struct nfa_backend {
	/* At start: what the backend must learn of the kernel (may log). */
	void (*init)(struct applier *a);
	/* LIST: our table, chains and sets. a->last_kerr: the kernel's errno. */
	int (*list)(struct applier *a, struct nfs_sets *out);
	/* BEGIN: a new transaction. */
	int (*begin)(struct applier *a);
	/* One operation of the open transaction, numbered op. */
	int (*op)(struct applier *a, const struct nfs_msg *m, uint32_t op);
	/* COMMIT: sends the transaction; err says why it failed. */
	int (*commit)(struct applier *a, struct nfa_err *err);
	/* DUMP: the items of the set d->name into d; q: the query's end. */
	int (*dump)(struct applier *a, struct nfa_dump *d, struct nfa_query *q);
};

extern const struct nfa_backend nfa_backend_nft;
extern const struct nfa_backend nfa_backend_ipset;

#define NFA_STAGES_MAX 64u
#define NFA_RBUF_SIZE  (256u * 1024u)

/* The applier. Single-threaded; it owns every buffer, freed on exit. */
struct applier {
	int fd; /* the engine's socket */
	int backend;
	const struct nfa_backend *be;
	int family;
	char table[NFS_NAME_MAX];
	char prefix[NFS_IPSET_PREFIX_MAX + 1];
	int64_t timeout_ms;
	size_t batch_limit;
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
	/* The transaction being built. */
	bool in_txn;
	uint32_t txn;
	uint32_t genid;
	uint32_t nops;
	int err;
	uint32_t err_op;
	char err_text[NFS_ERRMSG_MAX + 1];
	struct nfb nb;                     /* nftables: the batch */
	struct ipb stages[NFA_STAGES_MAX]; /* ipset: the stages */
	size_t nstages;
	int last_kerr;      /* errno of the last failed query, for the engine */
	uint8_t rev_ip[2];  /* hash:ip revisions for inet, inet6 */
	uint8_t rev_net[2]; /* hash:net revisions */
	uint8_t *rbuf;      /* netlink answers */
	uint8_t in[NFS_MSG_MAX];
	uint8_t out[NFS_MSG_MAX];
};

/* Opens (or reopens) the netlink socket: ACKs capped, extended ACKs on. */
int nfa_nl_open(struct applier *a);
void nfa_nl_close(struct applier *a);
/*
 * Sends one batch or stage and checks its answers: RN_OK when every
 * message was acknowledged without error; else err says which failed.
 */
int nfa_nl_exchange(struct applier *a, const struct nlbatch *b, struct nfa_err *err);
/*
 * Sends a request and feeds every answer to cb until DONE or an error
 * (expect_done false: the first answer ends it); q gets what was seen.
 */
int nfa_nl_query(struct applier *a, const uint8_t *req, size_t len, bool expect_done,
                 int (*cb)(const struct nlr_msg *m, const struct nlr_nfgen *g, void *arg),
                 void *arg, struct nfa_query *q);
/* The result of a dump's query: ENOTFOUND, ENETLINK, or ESTATE (changed under it). */
int nfa_query_rc(const struct nfa_query *q);

#endif /* REPNET_FEEDS_NFAPPLY_NETLINK_H */
