/*
 * ipset_batch.c: builds ipset netlink messages (NFNL_SUBSYS_IPSET).
 *
 * Design notes: ipset has no transactions. Each message is applied on its
 * own, and the kernel keeps going after a failed message. So the applier
 * sends messages in stages, one sendmsg(2) each, and starts a stage only
 * when every message of the previous one was acknowledged. A full load
 * therefore fills a temporary set in one stage and swaps it with the live
 * set in the next, so the live set changes in one atomic swap or not at
 * all. Elements go several to a message (IPSET_ATTR_ADT, the form `ipset
 * restore` uses), under the same 16-bit attribute length limit as
 * nftables. Additions carry no IPSET_FLAG_EXIST, so adding an element that
 * is already there is an error, as NLM_F_EXCL is for nftables: a
 * disagreement between engine and kernel is never silent. Each element
 * carries a line number, which the kernel echoes in its error. The kernel
 * insists on NLA_F_NET_BYTEORDER on integers and addresses and
 * NLA_F_NESTED on nests; libmnl's nest helper sets the latter.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/ipset/ip_set.h>
#include <linux/netfilter/nfnetlink.h>

#include <libmnl/libmnl.h>

#include "feeds/nfapply/netlink.h"

#define OBJ_ROOM 1024u

int ipb_init(struct ipb *b, size_t limit)
{
	memset(b, 0, sizeof(*b));
	nlbatch_init(&b->msgs, limit);
	return RN_OK;
}

void ipb_release(struct ipb *b)
{
	if (b != NULL)
		nlbatch_release(&b->msgs);
}

void ipb_stage(struct ipb *b, uint32_t seq)
{
	nlbatch_reset(&b->msgs, seq);
}

static struct nlmsghdr *put_hdr(uint8_t *at, uint8_t cmd, uint16_t flags, uint32_t seq)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(at);
	nlh->nlmsg_type = (uint16_t)(NFNL_SUBSYS_IPSET << 8 | cmd);
	nlh->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
	nlh->nlmsg_seq = seq;
	struct nfgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = AF_INET;
	g->version = NFNETLINK_V0;
	g->res_id = 0;
	mnl_attr_put_u8(nlh, IPSET_ATTR_PROTOCOL, IPSET_PROTOCOL);
	return nlh;
}

static void put_u32_net(struct nlmsghdr *nlh, uint16_t type, uint32_t v)
{
	mnl_attr_put_u32(nlh, (uint16_t)(type | NLA_F_NET_BYTEORDER), htonl(v));
}

static bool name_ok(const char *name)
{
	size_t n = strlen(name);
	return n > 0 && n < IPSET_MAXNAMELEN;
}

int ipb_create(struct ipb *b, uint32_t op, const char *name, unsigned kind, uint32_t maxelem)
{
	if (!name_ok(name) || kind > NFS_K_NET6)
		return RN_EUNSUPP;
	int rc = nlbatch_ensure(&b->msgs, OBJ_ROOM);
	if (rc != RN_OK)
		return rc;
	bool net = nfs_kind_interval(kind), v6 = nfs_kind_v6(kind);
	struct nlmsghdr *nlh =
	        put_hdr(b->msgs.buf + b->msgs.len, IPSET_CMD_CREATE, NLM_F_ACK, b->msgs.seq_next);
	mnl_attr_put_strz(nlh, IPSET_ATTR_SETNAME, name);
	mnl_attr_put_strz(nlh, IPSET_ATTR_TYPENAME, net ? "hash:net" : "hash:ip");
	mnl_attr_put_u8(nlh, IPSET_ATTR_REVISION, net ? b->rev_net[v6] : b->rev_ip[v6]);
	mnl_attr_put_u8(nlh, IPSET_ATTR_FAMILY, v6 ? NFPROTO_IPV6 : NFPROTO_IPV4);
	struct nlattr *d = mnl_attr_nest_start(nlh, IPSET_ATTR_DATA);
	/*
	 * About one bucket for every four elements the set may hold: ipset
	 * keeps a small array per bucket, so the hash never needs a resize
	 * during a load, without a bucket pointer per element.
	 */
	uint32_t hs = 1024;
	while (hs < maxelem / 4 && hs < (1u << 30))
		hs <<= 1;
	put_u32_net(nlh, IPSET_ATTR_HASHSIZE, hs);
	put_u32_net(nlh, IPSET_ATTR_MAXELEM, maxelem);
	mnl_attr_nest_end(nlh, d);
	return nlbatch_commit(&b->msgs, nlh, op);
}

int ipb_destroy(struct ipb *b, uint32_t op, const char *name)
{
	if (!name_ok(name))
		return RN_EUNSUPP;
	int rc = nlbatch_ensure(&b->msgs, OBJ_ROOM);
	if (rc != RN_OK)
		return rc;
	struct nlmsghdr *nlh =
	        put_hdr(b->msgs.buf + b->msgs.len, IPSET_CMD_DESTROY, NLM_F_ACK, b->msgs.seq_next);
	mnl_attr_put_strz(nlh, IPSET_ATTR_SETNAME, name);
	return nlbatch_commit(&b->msgs, nlh, op);
}

int ipb_swap(struct ipb *b, uint32_t op, const char *a, const char *b2)
{
	if (!name_ok(a) || !name_ok(b2))
		return RN_EUNSUPP;
	int rc = nlbatch_ensure(&b->msgs, OBJ_ROOM);
	if (rc != RN_OK)
		return rc;
	struct nlmsghdr *nlh =
	        put_hdr(b->msgs.buf + b->msgs.len, IPSET_CMD_SWAP, NLM_F_ACK, b->msgs.seq_next);
	mnl_attr_put_strz(nlh, IPSET_ATTR_SETNAME, a);
	mnl_attr_put_strz(nlh, IPSET_ATTR_SETNAME2, b2);
	return nlbatch_commit(&b->msgs, nlh, op);
}

#define ATTR(n) (4u + (((n) + 3u) & ~3u))

/* DATA { IP { IPADDR }, [CIDR], LINENO } */
static size_t member_size(unsigned kind)
{
	size_t n = 4 + ATTR(ATTR(nfs_kind_klen(kind))) + ATTR(4);
	if (nfs_kind_interval(kind))
		n += ATTR(1);
	return n;
}

int ipb_adt(struct ipb *b, uint32_t op, bool add, const char *name, unsigned kind,
            const uint8_t *items, size_t n)
{
	if (!name_ok(name) || kind > NFS_K_NET6)
		return RN_EUNSUPP;
	unsigned klen = nfs_kind_klen(kind);
	bool net = nfs_kind_interval(kind);
	size_t il = nfs_item_len(kind), per = NFB_NEST_MAX / member_size(kind);
	for (size_t i = 0; i < n; i += per) {
		size_t j = i + per < n ? i + per : n;
		int rc = nlbatch_ensure(&b->msgs, (j - i) * member_size(kind) + OBJ_ROOM);
		if (rc != RN_OK)
			return rc;
		struct nlmsghdr *nlh =
		        put_hdr(b->msgs.buf + b->msgs.len, add ? IPSET_CMD_ADD : IPSET_CMD_DEL,
		                NLM_F_ACK, b->msgs.seq_next);
		mnl_attr_put_strz(nlh, IPSET_ATTR_SETNAME, name);
		/* The kernel writes the failing element's line number here. */
		put_u32_net(nlh, IPSET_ATTR_LINENO, 0);
		struct nlattr *adt = mnl_attr_nest_start(nlh, IPSET_ATTR_ADT);
		for (size_t x = i; x < j; x++) {
			const uint8_t *it = items + x * il;
			int cidr = -1;
			if (net) {
				struct nfs_range r;
				memset(&r, 0, sizeof(r));
				memcpy(r.lo, it, klen);
				memcpy(r.hi, it + klen, klen);
				cidr = nfs_range_cidr_len(&r, klen);
				/* hash:net holds prefixes /1 and longer only. */
				if (cidr < 1)
					return RN_EUNSUPP;
			}
			struct nlattr *d = mnl_attr_nest_start(nlh, IPSET_ATTR_DATA);
			struct nlattr *ip = mnl_attr_nest_start(nlh, IPSET_ATTR_IP);
			mnl_attr_put(nlh,
			             (uint16_t)((klen == 4 ? IPSET_ATTR_IPADDR_IPV4
			                                   : IPSET_ATTR_IPADDR_IPV6) |
			                        NLA_F_NET_BYTEORDER),
			             klen, it);
			mnl_attr_nest_end(nlh, ip);
			if (net)
				mnl_attr_put_u8(nlh, IPSET_ATTR_CIDR, (uint8_t)cidr);
			put_u32_net(nlh, IPSET_ATTR_LINENO, (uint32_t)(x + 1));
			mnl_attr_nest_end(nlh, d);
		}
		mnl_attr_nest_end(nlh, adt);
		if ((rc = nlbatch_commit(&b->msgs, nlh, op)) != RN_OK)
			return rc;
	}
	return RN_OK;
}

size_t ipb_req_list(uint8_t *buf, size_t cap, const char *name, uint32_t seq)
{
	if (cap < 256 || (name != NULL && !name_ok(name)))
		return 0;
	memset(buf, 0, 256);
	struct nlmsghdr *nlh = put_hdr(buf, IPSET_CMD_LIST, NLM_F_DUMP, seq);
	if (name != NULL)
		mnl_attr_put_strz(nlh, IPSET_ATTR_SETNAME, name);
	else
		put_u32_net(nlh, IPSET_ATTR_FLAGS, IPSET_FLAG_LIST_HEADER);
	return nlh->nlmsg_len;
}

size_t ipb_req_type(uint8_t *buf, size_t cap, const char *type, uint8_t family, uint32_t seq)
{
	if (cap < 256 || !name_ok(type))
		return 0;
	memset(buf, 0, 256);
	struct nlmsghdr *nlh = put_hdr(buf, IPSET_CMD_TYPE, 0, seq);
	mnl_attr_put_strz(nlh, IPSET_ATTR_TYPENAME, type);
	mnl_attr_put_u8(nlh, IPSET_ATTR_FAMILY, family);
	return nlh->nlmsg_len;
}
