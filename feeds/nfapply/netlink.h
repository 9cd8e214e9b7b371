/*
 * netlink.h: the applier's netlink side: the reply parser (nlreply.c),
 * the nftables batch builder (nft_batch.c) and the ipset messages
 * (ipset_batch.c). Internal to nfapply; tests include it.
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

#endif /* REPNET_FEEDS_NFAPPLY_NETLINK_H */
