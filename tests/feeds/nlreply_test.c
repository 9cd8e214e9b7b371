/*
 * nlreply_test.c: the netlink reply parser: ACKs and errors (capped and
 * echoed, with and without extended ACK attributes), the end of dumps,
 * nf_tables objects built by libnftnl, ipset answers, and malformed input
 * of every kind: short headers, lengths that overrun, attributes that
 * overrun their parent, strings without their NUL, values of the wrong
 * size.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netfilter.h>
#include <linux/netfilter/ipset/ip_set.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "feeds/nfapply/netlink.h"
#include "test.h"

static uint8_t buf[1 << 16];

struct seen {
	struct nlr_msg m[16];
	size_t n;
};

static int seen_cb(const struct nlr_msg *m, void *arg)
{
	struct seen *s = arg;
	if (s->n < 16)
		s->m[s->n++] = *m;
	return RN_OK;
}

/* An NLMSG_ERROR answer to a request of type orig with seq. */
static size_t put_err(uint8_t *at, int error, uint32_t seq, bool capped, const char *text,
                      size_t echo)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(at);
	nlh->nlmsg_type = NLMSG_ERROR;
	nlh->nlmsg_seq = seq;
	nlh->nlmsg_pid = 4242;
	nlh->nlmsg_flags = (uint16_t)((capped ? NLM_F_CAPPED : 0) | (text ? NLM_F_ACK_TLVS : 0));
	struct nlmsgerr *e = mnl_nlmsg_put_extra_header(nlh, sizeof(*e) + (capped ? 0 : echo));
	e->error = error;
	e->msg.nlmsg_len = (uint32_t)(NLMSG_HDRLEN + (capped ? 0 : echo));
	if (capped)
		e->msg.nlmsg_len = (uint32_t)(NLMSG_HDRLEN + echo);
	e->msg.nlmsg_type = NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWSETELEM;
	e->msg.nlmsg_seq = seq;
	if (text != NULL) {
		mnl_attr_put_strz(nlh, NLMSGERR_ATTR_MSG, text);
		mnl_attr_put_u32(nlh, NLMSGERR_ATTR_OFFS, 36);
	}
	return nlh->nlmsg_len;
}

static void test_acks(void **state)
{
	(void)state;
	struct seen s = {0};
	struct nlr_err e;
	size_t len = 0;
	len += put_err(buf + len, 0, 10, true, NULL, 0);
	len += put_err(buf + len, -EEXIST, 11, true, "Could not process rule: File exists", 100);
	len += put_err(buf + len, -ENOENT, 12, false, NULL, 24);
	len += put_err(buf + len, -ENFILE, 13, false, "set is full", 40);
	RN_PASS(nlr_walk(buf, len, seen_cb, &s));
	assert_int_equal(s.n, 4);
	RN_PASS(nlr_parse_error(&s.m[0], &e));
	assert_int_equal(e.error, 0);
	assert_int_equal(e.seq, 10);
	assert_null(e.text);
	RN_PASS(nlr_parse_error(&s.m[1], &e));
	assert_int_equal(e.error, -EEXIST);
	assert_string_equal(e.text, "Could not process rule: File exists");
	assert_true(e.has_offs);
	assert_int_equal(e.offs, 36);
	RN_PASS(nlr_parse_error(&s.m[2], &e));
	assert_int_equal(e.error, -ENOENT);
	assert_int_equal(e.seq, 12);
	RN_PASS(nlr_parse_error(&s.m[3], &e));
	assert_int_equal(e.error, -ENFILE);
	assert_string_equal(e.text, "set is full");
	assert_int_equal(s.m[3].pid, 4242);

	/* Every truncation of the datagram is an error or fewer messages. */
	for (size_t cut = 1; cut < len; cut++) {
		struct seen t = {0};
		int rc = nlr_walk(buf, cut, seen_cb, &t);
		if (rc == RN_OK) {
			for (size_t i = 0; i < t.n; i++)
				RN_PASS(nlr_parse_error(&t.m[i], &e));
			assert_true(t.n < 4);
		}
	}

	/* An error code out of range; an echoed length that overruns. */
	len = put_err(buf, 5, 1, true, NULL, 0);
	memset(&s, 0, sizeof(s));
	RN_PASS(nlr_walk(buf, len, seen_cb, &s));
	RN_FAILS_WITH(nlr_parse_error(&s.m[0], &e), RN_EPARSE);
	len = put_err(buf, -1, 1, false, NULL, 8);
	((struct nlmsgerr *)(buf + NLMSG_HDRLEN))->msg.nlmsg_len = 4000;
	memset(&s, 0, sizeof(s));
	RN_PASS(nlr_walk(buf, len, seen_cb, &s));
	RN_FAILS(nlr_parse_error(&s.m[0], &e));
	/* A message claiming less than its header, or more than is there. */
	len = put_err(buf, 0, 1, true, NULL, 0);
	((struct nlmsghdr *)buf)->nlmsg_len = 8;
	RN_FAILS_WITH(nlr_walk(buf, len, seen_cb, &s), RN_EBADLEN);
	((struct nlmsghdr *)buf)->nlmsg_len = 4000;
	RN_FAILS_WITH(nlr_walk(buf, len, seen_cb, &s), RN_ETRUNC);
	/* An extended ACK string without its NUL. */
	len = put_err(buf, -EINVAL, 1, true, "abc", 0);
	uint8_t *str = memmem(buf, len, "abc", 4);
	assert_non_null(str);
	str[3] = 'd';
	memset(&s, 0, sizeof(s));
	RN_PASS(nlr_walk(buf, len, seen_cb, &s));
	RN_FAILS_WITH(nlr_parse_error(&s.m[0], &e), RN_EPARSE);

	/* NLMSG_DONE, with and without a status. */
	struct nlmsghdr *d = mnl_nlmsg_put_header(buf);
	d->nlmsg_type = NLMSG_DONE;
	int *st = mnl_nlmsg_put_extra_header(d, sizeof(int));
	*st = -EINTR;
	memset(&s, 0, sizeof(s));
	RN_PASS(nlr_walk(buf, d->nlmsg_len, seen_cb, &s));
	int status;
	RN_PASS(nlr_parse_done(&s.m[0], &status));
	assert_int_equal(status, -EINTR);
	s.m[0].len = 2;
	RN_FAILS_WITH(nlr_parse_done(&s.m[0], &status), RN_ETRUNC);
	s.m[0].len = 0;
	RN_PASS(nlr_parse_done(&s.m[0], &status));
	assert_int_equal(status, 0);
}

static struct nlr_msg as_msg(const struct nlmsghdr *nlh)
{
	struct nlr_msg m = {.type = nlh->nlmsg_type,
	                    .flags = nlh->nlmsg_flags,
	                    .seq = nlh->nlmsg_seq,
	                    .pid = nlh->nlmsg_pid,
	                    .payload = (const uint8_t *)nlh + NLMSG_HDRLEN,
	                    .len = nlh->nlmsg_len - NLMSG_HDRLEN};
	return m;
}

static void test_objects(void **state)
{
	(void)state;
	struct nlr_msg m;
	struct nlr_nfgen g;

	/* A set, as the kernel describes it in a GETSET dump. */
	memset(buf, 0, 4096);
	struct nftnl_set *s = nftnl_set_alloc();
	nftnl_set_set_str(s, NFTNL_SET_TABLE, "repnet");
	nftnl_set_set_str(s, NFTNL_SET_NAME, "net4");
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_INTERVAL);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, 7);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, 4);
	nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, 4096);
	struct nlmsghdr *nlh =
	        nftnl_nlmsg_build_hdr((char *)buf, NFT_MSG_NEWSET, NFPROTO_INET, NLM_F_MULTI, 3);
	nftnl_set_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	((struct nfgenmsg *)mnl_nlmsg_get_payload(nlh))->res_id = htons(0x1234);
	m = as_msg(nlh);
	RN_PASS(nlr_nfgen(&m, &g));
	assert_int_equal(g.res_id, 0x1234);
	struct nlr_set set;
	RN_PASS(nlr_nft_set(&g, &set));
	assert_true(nlr_str_eq(&set.table, "repnet"));
	assert_true(nlr_str_eq(&set.name, "net4"));
	assert_int_equal(set.flags, NFT_SET_INTERVAL);
	assert_int_equal(set.key_type, 7);
	assert_int_equal(set.key_len, 4);
	assert_int_equal(set.size, 4096);
	/* Every truncation of the attributes fails or loses fields, never reads past. */
	for (size_t cut = 0; cut < g.alen; cut++) {
		struct nlr_nfgen t = g;
		t.alen = cut;
		(void)nlr_nft_set(&t, &set);
	}
	/* A u32 attribute of the wrong size. */
	size_t off = (size_t)((uint8_t *)memmem(buf, nlh->nlmsg_len, "net4", 5) - buf) + 8;
	struct nlattr *flags = (struct nlattr *)(buf + off);
	assert_int_equal(flags->nla_type & NLA_TYPE_MASK, NFTA_SET_FLAGS);
	flags->nla_len = 6;
	RN_FAILS(nlr_nft_set(&g, &set));

	/* A base chain. */
	memset(buf, 0, 4096);
	struct nftnl_chain *c = nftnl_chain_alloc();
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, "repnet");
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, "input");
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, NF_INET_LOCAL_IN);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, -10);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	nlh = nftnl_nlmsg_build_hdr((char *)buf, NFT_MSG_NEWCHAIN, NFPROTO_INET, 0, 4);
	nftnl_chain_nlmsg_build_payload(nlh, c);
	nftnl_chain_free(c);
	m = as_msg(nlh);
	RN_PASS(nlr_nfgen(&m, &g));
	struct nlr_chain ch;
	RN_PASS(nlr_nft_chain(&g, &ch));
	assert_true(nlr_str_eq(&ch.name, "input"));
	assert_true(ch.has_hook);
	assert_int_equal(ch.hooknum, NF_INET_LOCAL_IN);
	assert_int_equal(ch.prio, -10);
	assert_true(nlr_str_eq(&ch.type, "filter"));
	assert_int_equal(ch.policy, NF_ACCEPT);

	/* A table; a generation. */
	memset(buf, 0, 4096);
	struct nftnl_table *t = nftnl_table_alloc();
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, "repnet");
	nlh = nftnl_nlmsg_build_hdr((char *)buf, NFT_MSG_NEWTABLE, NFPROTO_INET, 0, 5);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	m = as_msg(nlh);
	RN_PASS(nlr_nfgen(&m, &g));
	struct nlr_table tb;
	RN_PASS(nlr_nft_table(&g, &tb));
	assert_true(nlr_str_eq(&tb.name, "repnet"));
	memset(buf, 0, 4096);
	nlh = nftnl_nlmsg_build_hdr((char *)buf, NFT_MSG_NEWGEN, AF_UNSPEC, 0, 6);
	mnl_attr_put_u32(nlh, NFTA_GEN_ID, htonl(77));
	m = as_msg(nlh);
	RN_PASS(nlr_nfgen(&m, &g));
	uint32_t gen = 0;
	RN_PASS(nlr_nft_gen(&g, &gen));
	assert_int_equal(gen, 77);
	/* Without the attribute, or with a wrong version. */
	g.alen = 0;
	RN_FAILS_WITH(nlr_nft_gen(&g, &gen), RN_EPARSE);
	((struct nfgenmsg *)mnl_nlmsg_get_payload(nlh))->version = 1;
	m = as_msg(nlh);
	RN_FAILS_WITH(nlr_nfgen(&m, &g), RN_EVERSION);
}

struct members {
	uint8_t addr[16][16];
	unsigned cidr[16];
	size_t n;
};

static int member_cb(const uint8_t *addr, size_t alen, unsigned cidr, void *arg)
{
	struct members *mb = arg;
	assert_true(mb->n < 16);
	memcpy(mb->addr[mb->n], addr, alen);
	mb->cidr[mb->n++] = cidr;
	return RN_OK;
}

static void test_ipset(void **state)
{
	(void)state;
	struct ipb b;
	struct nlr_msg m;
	struct nlr_nfgen g;
	struct nlr_ipset h;
	struct members mb = {0};
	uint8_t items[3 * 8];
	/* 10.0.0.0/8, 192.0.2.0/24, 198.51.100.7/32 */
	memcpy(items, "\x0a\x00\x00\x00\x0a\xff\xff\xff", 8);
	memcpy(items + 8, "\xc0\x00\x02\x00\xc0\x00\x02\xff", 8);
	memcpy(items + 16, "\xc6\x33\x64\x07\xc6\x33\x64\x07", 8);

	/* ipset's ADD has the member layout of a LIST answer. */
	RN_PASS(ipb_init(&b, 1u << 20));
	ipb_stage(&b, 1);
	RN_PASS(ipb_adt(&b, 0, true, "repnet_net4", NFS_K_NET4, items, 3));
	m = as_msg((const struct nlmsghdr *)b.msgs.buf);
	RN_PASS(nlr_nfgen(&m, &g));
	RN_PASS(nlr_ipset(&g, &h, member_cb, &mb));
	assert_int_equal(h.protocol, IPSET_PROTOCOL);
	assert_true(nlr_str_eq(&h.name, "repnet_net4"));
	assert_int_equal(mb.n, 3);
	assert_int_equal(mb.cidr[0], 8);
	assert_int_equal(mb.cidr[1], 24);
	assert_int_equal(mb.cidr[2], 32);
	assert_memory_equal(mb.addr[1], "\xc0\x00\x02\x00", 4);
	/* A range that is not one prefix cannot go into hash:net. */
	memcpy(items, "\x0a\x00\x00\x01\x0a\xff\xff\xff", 8);
	RN_FAILS_WITH(ipb_adt(&b, 0, true, "repnet_net4", NFS_K_NET4, items, 1), RN_EUNSUPP);
	/* Names longer than ipset allows. */
	RN_FAILS_WITH(ipb_destroy(&b, 0, "a_name_much_longer_than_31_chars_x"), RN_EUNSUPP);

	/* A CREATE carries its header the way LIST reports it. */
	ipb_stage(&b, 1);
	RN_PASS(ipb_create(&b, 0, "repnet_v6", NFS_K_V6, 100000));
	m = as_msg((const struct nlmsghdr *)b.msgs.buf);
	RN_PASS(nlr_nfgen(&m, &g));
	RN_PASS(nlr_ipset(&g, &h, NULL, NULL));
	assert_true(h.has_header);
	assert_int_equal(h.maxelem, 100000);
	assert_int_equal(h.hashsize, 32768); /* a quarter of maxelem, a power of two */
	assert_true(nlr_str_eq(&h.type, "hash:ip"));
	assert_int_equal(h.family, NFPROTO_IPV6);
	ipb_release(&b);

	/* Truncating an ipset answer anywhere never reads past it. */
	RN_PASS(ipb_init(&b, 1u << 20));
	ipb_stage(&b, 1);
	RN_PASS(ipb_adt(&b, 0, false, "repnet_v4", NFS_K_V4, items + 16, 1));
	m = as_msg((const struct nlmsghdr *)b.msgs.buf);
	RN_PASS(nlr_nfgen(&m, &g));
	for (size_t cut = 0; cut < g.alen; cut++) {
		struct nlr_nfgen t = g;
		t.alen = cut;
		(void)nlr_ipset(&t, &h, NULL, NULL);
	}
	ipb_release(&b);
}

RN_TEST_MAIN(test_acks, test_objects, test_ipset)
