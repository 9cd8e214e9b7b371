/*
 * nft_batch.c: builds one nf_tables transaction as an nfnetlink batch.
 *
 * Design notes: the batch is BEGIN (with the ruleset generation the
 * engine planned against, when it has one), the messages, END, all in one
 * buffer that the applier hands to one sendmsg(2). The kernel applies a
 * batch as a whole: every message is checked, and the transaction commits
 * only when all passed and END was reached; a fatal signal, an error or a
 * missing END aborts all of it. So the buffer never leaves this process in
 * pieces.
 *
 * Tables, sets, chains and rules are built as libnftnl objects. Elements
 * are written directly with libmnl: a million addresses would otherwise be
 * a million libnftnl allocations, and this way each message is filled up
 * to the exact limit. That limit is the element list attribute
 * (NFTA_SET_ELEM_LIST_ELEMENTS), whose length field is 16 bits: 4,095
 * IPv4 elements of 16 bytes fit, 4,096 do not. A range [lo, hi] becomes a
 * start element lo and an end element hi+1 flagged INTERVAL_END, both in
 * the same message; a range that ends at the top of the address space has
 * no end element, and carries libnftnl's "open interval" element userdata
 * so that `nft list` prints it as nft itself would.
 *
 * Every message between BEGIN and END carries NLM_F_ACK, so each one is
 * answered; ops[] maps each message's sequence number to the engine
 * operation it came from. Element additions use NLM_F_EXCL: adding an
 * element the engine believes absent fails, so any disagreement between
 * the engine's state and the kernel surfaces as an error (and a resync)
 * instead of passing silently. The builder is single-threaded; its buffer
 * is owned by the applier.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "feeds/nfapply/netlink.h"

/* nftables' datatype ids, as `nft` stores them in NFTA_SET_KEY_TYPE. */
#define NFT_TYPE_IPADDR  7u
#define NFT_TYPE_IP6ADDR 8u
/* Room libnftnl may use for one object message: names are <= 256 bytes. */
#define OBJ_ROOM 8192u

static const char *const chain_names[NFS_CHAIN_COUNT] = {NFS_CHAIN_NAME, "input", "forward"};

int nfb_init(struct nfb *b, int family, const char *table, size_t limit)
{
	memset(b, 0, sizeof(*b));
	nlbatch_init(&b->msgs, limit);
	if (strlen(table) >= sizeof(b->table))
		return RN_ELIMIT;
	strcpy(b->table, table);
	b->family = family;
	return RN_OK;
}

void nfb_release(struct nfb *b)
{
	if (b != NULL)
		nlbatch_release(&b->msgs);
}

static struct nlmsghdr *put_hdr(struct nfb *b, uint16_t type, uint16_t flags, int family)
{
	return nftnl_nlmsg_build_hdr((char *)b->msgs.buf + b->msgs.len, type, (uint16_t)family,
	                             (uint16_t)(flags | NLM_F_ACK), b->msgs.seq_next);
}

/* The BEGIN or END of the batch: not acked, and no operation's. */
static void put_delim(struct nfb *b, uint16_t type, uint32_t seq, uint32_t genid)
{
	memset(b->msgs.buf + b->msgs.len, 0, 64);
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(b->msgs.buf + b->msgs.len);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = seq;
	struct nfgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = AF_UNSPEC;
	g->version = NFNETLINK_V0;
	g->res_id = htons(NFNL_SUBSYS_NFTABLES);
	if (genid != 0)
		mnl_attr_put_u32(nlh, NFNL_BATCH_GENID, htonl(genid));
	b->msgs.len += NLMSG_ALIGN(nlh->nlmsg_len);
}

int nfb_begin(struct nfb *b, uint32_t seq, uint32_t genid)
{
	nlbatch_reset(&b->msgs, seq + 1);
	b->nelems = 0;
	int rc = nlbatch_ensure(&b->msgs, 64);
	if (rc != RN_OK)
		return rc;
	put_delim(b, NFNL_MSG_BATCH_BEGIN, seq, genid);
	return RN_OK;
}

int nfb_end(struct nfb *b)
{
	int rc = nlbatch_ensure(&b->msgs, 64);
	if (rc != RN_OK)
		return rc;
	put_delim(b, NFNL_MSG_BATCH_END, b->msgs.seq_next, 0);
	return RN_OK;
}

/* The libnftnl object of one message. */
enum obj_kind {
	OBJ_TABLE,
	OBJ_SET,
	OBJ_CHAIN,
	OBJ_RULE,
};

/*
 * One acked message of operation op with obj as its payload. Takes obj
 * (NULL: it could not be made) and frees it.
 */
static int put_obj(struct nfb *b, uint32_t op, uint16_t type, uint16_t flags, enum obj_kind kind,
                   void *obj)
{
	struct nlmsghdr *nlh = NULL;
	if (obj == NULL)
		return -ENOMEM;
	int rc = nlbatch_ensure(&b->msgs, OBJ_ROOM);
	if (rc == RN_OK)
		nlh = put_hdr(b, type, flags, b->family);
	switch (kind) {
	case OBJ_TABLE:
		if (nlh != NULL)
			nftnl_table_nlmsg_build_payload(nlh, obj);
		nftnl_table_free(obj);
		break;
	case OBJ_SET:
		if (nlh != NULL)
			nftnl_set_nlmsg_build_payload(nlh, obj);
		nftnl_set_free(obj);
		break;
	case OBJ_CHAIN:
		if (nlh != NULL)
			nftnl_chain_nlmsg_build_payload(nlh, obj);
		nftnl_chain_free(obj);
		break;
	case OBJ_RULE:
		if (nlh != NULL)
			nftnl_rule_nlmsg_build_payload(nlh, obj);
		nftnl_rule_free(obj);
		break;
	}
	return nlh != NULL ? nlbatch_commit(&b->msgs, nlh, op) : rc;
}

static int table_msg(struct nfb *b, uint32_t op, uint16_t type, uint16_t flags)
{
	struct nftnl_table *t = nftnl_table_alloc();
	if (t != NULL) {
		nftnl_table_set_str(t, NFTNL_TABLE_NAME, b->table);
		nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, (uint32_t)b->family);
	}
	return put_obj(b, op, type, flags, OBJ_TABLE, t);
}

int nfb_table_add(struct nfb *b, uint32_t op)
{
	return table_msg(b, op, NFT_MSG_NEWTABLE, NLM_F_CREATE);
}

int nfb_table_del(struct nfb *b, uint32_t op)
{
	return table_msg(b, op, NFT_MSG_DELTABLE, 0);
}

static bool family_fits(const struct nfb *b, unsigned kind)
{
	if (b->family == NFPROTO_IPV4)
		return !nfs_kind_v6(kind);
	if (b->family == NFPROTO_IPV6)
		return nfs_kind_v6(kind);
	return true;
}

static struct nftnl_set *set_obj(const struct nfb *b, const struct nfs_setid *id)
{
	char name[NFS_NAME_MAX];
	if (nfs_set_name(id, NULL, false, name, sizeof(name)) != RN_OK)
		return NULL;
	struct nftnl_set *s = nftnl_set_alloc();
	if (s == NULL)
		return NULL;
	nftnl_set_set_str(s, NFTNL_SET_TABLE, b->table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, (uint32_t)b->family);
	return s;
}

int nfb_set_add(struct nfb *b, uint32_t op, const struct nfs_setid *id, uint32_t size)
{
	if (!nfs_setid_valid(id) || !family_fits(b, id->kind))
		return RN_EUNSUPP;
	struct nftnl_set *s = set_obj(b, id);
	if (s == NULL)
		return -ENOMEM;
	bool v6 = nfs_kind_v6(id->kind);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, v6 ? NFT_TYPE_IP6ADDR : NFT_TYPE_IPADDR);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, nfs_kind_klen(id->kind));
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, nfs_kind_interval(id->kind) ? NFT_SET_INTERVAL : 0);
	nftnl_set_set_u32(s, NFTNL_SET_ID, (uint32_t)(id->kind << 8 | id->group) + 1u);
	if (size != 0)
		nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, size);
	/* As nft does: the key is big-endian, so `nft list` prints addresses. */
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(64);
	if (ud == NULL) {
		nftnl_set_free(s);
		return -ENOMEM;
	}
	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, 2 /* BYTEORDER_BIG_ENDIAN */);
	nftnl_set_set_data(s, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud),
	                   nftnl_udata_buf_len(ud));
	nftnl_udata_buf_free(ud);
	return put_obj(b, op, NFT_MSG_NEWSET, NLM_F_CREATE | NLM_F_EXCL, OBJ_SET, s);
}

int nfb_set_del(struct nfb *b, uint32_t op, const struct nfs_setid *id)
{
	if (!nfs_setid_valid(id))
		return RN_EUNSUPP;
	return put_obj(b, op, NFT_MSG_DELSET, 0, OBJ_SET, set_obj(b, id));
}

/* Attribute sizes, all 4-byte aligned. */
#define ATTR(n) (4u + (((n) + 3u) & ~3u))

/* The open-interval element userdata: one TLV (type, len 4, u32 value). */
#define UDATA_OPEN_LEN 6u

size_t nfb_elem_size(unsigned kind, bool interval_end, bool open_end)
{
	size_t klen = nfs_kind_klen(kind);
	/* NFTA_LIST_ELEM { NFTA_SET_ELEM_KEY { NFTA_DATA_VALUE key } } */
	size_t n = 4 + ATTR(ATTR(klen));
	if (interval_end)
		n += ATTR(4); /* NFTA_SET_ELEM_FLAGS */
	if (open_end)
		n += ATTR(UDATA_OPEN_LEN);
	return n;
}

/* Bytes one item takes: an address, or a range's start and end elements. */
static size_t item_size(unsigned kind, const uint8_t *item)
{
	if (!nfs_kind_interval(kind))
		return nfb_elem_size(kind, false, false);
	unsigned klen = nfs_kind_klen(kind);
	if (nfs_key_is_max(item + klen, klen))
		return nfb_elem_size(kind, false, true);
	return nfb_elem_size(kind, false, false) + nfb_elem_size(kind, true, false);
}

static void put_elem(struct nlmsghdr *nlh, const uint8_t *key, unsigned klen, bool end, bool open)
{
	struct nlattr *e = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
	if (end)
		mnl_attr_put_u32(nlh, NFTA_SET_ELEM_FLAGS, htonl(NFT_SET_ELEM_INTERVAL_END));
	struct nlattr *k = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);
	mnl_attr_put(nlh, NFTA_DATA_VALUE, klen, key);
	mnl_attr_nest_end(nlh, k);
	if (open) {
		uint8_t ud[UDATA_OPEN_LEN] = {NFTNL_UDATA_SET_ELEM_FLAGS, 4};
		uint32_t f = NFTNL_SET_ELEM_F_INTERVAL_OPEN;
		memcpy(ud + 2, &f, 4); /* libnftnl's udata values are host order */
		mnl_attr_put(nlh, NFTA_SET_ELEM_USERDATA, sizeof(ud), ud);
	}
	mnl_attr_nest_end(nlh, e);
}

int nfb_elems(struct nfb *b, uint32_t op, bool add, const struct nfs_setid *id,
              const uint8_t *items, size_t n)
{
	char name[NFS_NAME_MAX];
	if (!nfs_setid_valid(id) || !family_fits(b, id->kind))
		return RN_EUNSUPP;
	int rc = nfs_set_name(id, NULL, false, name, sizeof(name));
	if (rc != RN_OK)
		return rc;
	unsigned kind = id->kind, klen = nfs_kind_klen(kind);
	size_t il = nfs_item_len(kind);
	size_t i = 0;
	while (i < n) {
		/* How many items fit in one element list attribute. */
		size_t bytes = 0, j = i;
		while (j < n) {
			size_t s = item_size(kind, items + j * il);
			if (bytes + s > NFB_NEST_MAX)
				break;
			bytes += s;
			j++;
		}
		if (j == i)
			return RN_EINTERNAL;
		if ((rc = nlbatch_ensure(&b->msgs, bytes + 1024)) != RN_OK)
			return rc;
		struct nlmsghdr *nlh = put_hdr(b, add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM,
		                               add ? (NLM_F_CREATE | NLM_F_EXCL) : 0, b->family);
		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, b->table);
		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, name);
		struct nlattr *list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
		for (size_t x = i; x < j; x++) {
			const uint8_t *it = items + x * il;
			if (!nfs_kind_interval(kind)) {
				put_elem(nlh, it, klen, false, false);
				continue;
			}
			bool open = nfs_key_is_max(it + klen, klen);
			put_elem(nlh, it, klen, false, open);
			if (!open) {
				uint8_t end[16];
				memcpy(end, it + klen, klen);
				nfs_key_inc(end, klen);
				put_elem(nlh, end, klen, true, false);
			}
		}
		mnl_attr_nest_end(nlh, list);
		if ((rc = nlbatch_commit(&b->msgs, nlh, op)) != RN_OK)
			return rc;
		b->nelems += (uint32_t)(j - i);
		i = j;
	}
	return RN_OK;
}

static struct nftnl_rule *rule_obj(const struct nfb *b, const char *chain)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	if (r == NULL)
		return NULL;
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, b->table);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, (uint32_t)b->family);
	return r;
}

int nfb_chain_flush(struct nfb *b, uint32_t op, unsigned chain)
{
	if (chain >= NFS_CHAIN_COUNT)
		return RN_EUNSUPP;
	return put_obj(b, op, NFT_MSG_DELRULE, 0, OBJ_RULE, rule_obj(b, chain_names[chain]));
}

static struct nftnl_chain *chain_obj(const struct nfb *b, unsigned chain)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	if (c == NULL)
		return NULL;
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, b->table);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, chain_names[chain]);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, (uint32_t)b->family);
	return c;
}

int nfb_chain_del(struct nfb *b, uint32_t op, unsigned chain)
{
	if (chain >= NFS_CHAIN_COUNT)
		return RN_EUNSUPP;
	return put_obj(b, op, NFT_MSG_DELCHAIN, 0, OBJ_CHAIN, chain_obj(b, chain));
}

static int add_expr(struct nftnl_rule *r, struct nftnl_expr *e)
{
	if (e == NULL)
		return -ENOMEM;
	nftnl_rule_add_expr(r, e);
	return RN_OK;
}

/* immediate: verdict (and the chain for a jump) into the verdict register. */
static int put_verdict(struct nftnl_rule *r, int verdict, const char *chain)
{
	struct nftnl_expr *e = nftnl_expr_alloc("immediate");
	if (e == NULL)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
	if (chain != NULL)
		nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
	return add_expr(r, e);
}

int nfb_chain_add(struct nfb *b, uint32_t op, unsigned chain, int32_t prio)
{
	if (chain >= NFS_CHAIN_COUNT)
		return RN_EUNSUPP;
	struct nftnl_chain *c = chain_obj(b, chain);
	if (c == NULL)
		return -ENOMEM;
	uint16_t flags = NLM_F_CREATE;
	if (chain != NFS_CHAIN_BLOCKLIST) {
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM,
		                    chain == NFS_CHAIN_INPUT ? NF_INET_LOCAL_IN : NF_INET_FORWARD);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
		nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
		nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
		flags |= NLM_F_EXCL;
	}
	int rc = put_obj(b, op, NFT_MSG_NEWCHAIN, flags, OBJ_CHAIN, c);
	if (rc != RN_OK || chain == NFS_CHAIN_BLOCKLIST)
		return rc;

	/* A base chain holds one rule: jump blocklist. */
	struct nftnl_rule *r = rule_obj(b, chain_names[chain]);
	if (r == NULL)
		return -ENOMEM;
	if ((rc = put_verdict(r, NFT_JUMP, NFS_CHAIN_NAME)) != RN_OK) {
		nftnl_rule_free(r);
		return rc;
	}
	return put_obj(b, op, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, OBJ_RULE, r);
}

/*
 * "ip saddr @set counter drop" (or accept for the allow sets). In an inet
 * table the address family is checked first, as nft does.
 */
int nfb_rule_add(struct nfb *b, uint32_t op, const struct nfs_setid *id)
{
	char name[NFS_NAME_MAX];
	if (!nfs_setid_valid(id) || !family_fits(b, id->kind))
		return RN_EUNSUPP;
	int rc = nfs_set_name(id, NULL, false, name, sizeof(name));
	if (rc != RN_OK)
		return rc;
	bool v6 = nfs_kind_v6(id->kind);
	bool allow = id->kind == NFS_K_ALLOW4 || id->kind == NFS_K_ALLOW6;
	struct nftnl_rule *r = rule_obj(b, NFS_CHAIN_NAME);
	struct nftnl_expr *e;
	if (r == NULL)
		return -ENOMEM;
	if (b->family == NFPROTO_INET) {
		uint8_t proto = v6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
		e = nftnl_expr_alloc("meta");
		if ((rc = add_expr(r, e)) != RN_OK)
			goto fail;
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, NFT_META_NFPROTO);
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
		e = nftnl_expr_alloc("cmp");
		if ((rc = add_expr(r, e)) != RN_OK)
			goto fail;
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ);
		nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, &proto, sizeof(proto));
	}
	e = nftnl_expr_alloc("payload");
	if ((rc = add_expr(r, e)) != RN_OK)
		goto fail;
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, v6 ? 8 : 12); /* saddr */
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, v6 ? 16 : 4);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
	e = nftnl_expr_alloc("lookup");
	if ((rc = add_expr(r, e)) != RN_OK)
		goto fail;
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, name);
	if ((rc = add_expr(r, nftnl_expr_alloc("counter"))) != RN_OK)
		goto fail;
	if ((rc = put_verdict(r, allow ? NF_ACCEPT : NF_DROP, NULL)) != RN_OK)
		goto fail;
	return put_obj(b, op, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, OBJ_RULE, r);
fail:
	nftnl_rule_free(r);
	return rc;
}

size_t nfb_req_getgen(uint8_t *buf, uint32_t seq)
{
	memset(buf, 0, 64);
	struct nlmsghdr *nlh =
	        nftnl_nlmsg_build_hdr((char *)buf, NFT_MSG_GETGEN, AF_UNSPEC, NLM_F_REQUEST, seq);
	return nlh->nlmsg_len;
}

size_t nfb_req_dump(uint8_t *buf, size_t cap, uint16_t msg_type, int family, const char *table,
                    const char *set, uint32_t seq)
{
	size_t need = NLMSG_HDRLEN + 4 + 2 * (4 + NFS_NAME_MAX + 4);
	if (cap < need || strlen(table) >= NFS_NAME_MAX || (set && strlen(set) >= NFS_NAME_MAX))
		return 0;
	memset(buf, 0, need);
	uint16_t flags = msg_type == NFT_MSG_GETTABLE ? NLM_F_ACK : NLM_F_DUMP;
	struct nlmsghdr *nlh =
	        nftnl_nlmsg_build_hdr((char *)buf, msg_type, (uint16_t)family, flags, seq);
	/* NFTA_TABLE_NAME, NFTA_SET_TABLE, NFTA_CHAIN_TABLE, NFTA_RULE_TABLE and
	 * NFTA_SET_ELEM_LIST_TABLE are all attribute 1. */
	mnl_attr_put_strz(nlh, 1, table);
	if (set != NULL)
		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
	return nlh->nlmsg_len;
}
