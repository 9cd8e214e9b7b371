/*
 * nft_batch_test.c: the nf_tables batch builder, checked with a second
 * parser: libnftnl's own (nftnl_set_elems_nlmsg_parse and friends), the
 * code nft uses to read the kernel's answers. A NEWSETELEM request has the
 * attribute layout of the kernel's NEWSETELEM dump messages, so repnet's
 * reply parser reads the same messages, and both must give back exactly
 * the items that went in. Also: the 64 KiB element list limit (4,095
 * IPv4 elements fit in one message, 4,096 do not), interval encoding,
 * the operation recorded for each sequence number, and the batch limit.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>

#include "feeds/nfapply/netlink.h"
#include "test.h"

/* The messages of a batch, between BEGIN and END. */
struct walk {
	const struct nlmsghdr *msgs[4096];
	size_t n;
	bool begin;
	bool end;
};

static void batch_walk(const struct nfb *b, struct walk *w)
{
	const struct nlmsghdr *nlh = (const void *)b->msgs.buf;
	int len = (int)b->msgs.len;
	memset(w, 0, sizeof(*w));
	while (mnl_nlmsg_ok(nlh, len)) {
		if (nlh->nlmsg_type == NFNL_MSG_BATCH_BEGIN)
			w->begin = true;
		else if (nlh->nlmsg_type == NFNL_MSG_BATCH_END)
			w->end = true;
		else {
			assert_true(w->n < 4096);
			w->msgs[w->n++] = nlh;
			assert_true(nlh->nlmsg_flags & NLM_F_ACK);
			assert_int_equal(nlh->nlmsg_seq, b->msgs.seq_first + w->n - 1);
		}
		nlh = mnl_nlmsg_next(nlh, &len);
	}
	assert_int_equal(len, 0);
	assert_int_equal(w->n, b->msgs.nmsgs);
}

/* Items seen by repnet's parser, flattened back to the engine's form. */
struct got {
	uint8_t keys[20000][16];
	uint32_t flags[20000];
	size_t n;
	unsigned klen;
};

static int got_cb(const struct nlr_elem *e, void *arg)
{
	struct got *g = arg;
	assert_non_null(e->key);
	assert_int_equal(e->klen, g->klen);
	assert_true(g->n < 20000);
	memcpy(g->keys[g->n], e->key, e->klen);
	g->flags[g->n] = e->flags;
	g->n++;
	return RN_OK;
}

/* Parses message m with both parsers into g (repnet) and a count (libnftnl). */
static size_t parse_both(const struct nlmsghdr *m, struct got *g, const char *set)
{
	/* repnet's parser, reading the request as if it were a dump answer. */
	struct nlr_msg rm = {.type = m->nlmsg_type,
	                     .flags = m->nlmsg_flags,
	                     .seq = m->nlmsg_seq,
	                     .payload = (const uint8_t *)m + NLMSG_HDRLEN,
	                     .len = m->nlmsg_len - NLMSG_HDRLEN};
	struct nlr_nfgen gen;
	struct nlr_elems hdr;
	RN_PASS(nlr_nfgen(&rm, &gen));
	RN_PASS(nlr_nft_elems(&gen, &hdr, got_cb, g));
	assert_true(nlr_str_eq(&hdr.table, "repnet"));
	assert_true(nlr_str_eq(&hdr.set, set));

	/* libnftnl's parser. */
	struct nftnl_set *s = nftnl_set_alloc();
	assert_non_null(s);
	assert_int_equal(nftnl_set_elems_nlmsg_parse(m, s), 0);
	assert_string_equal(nftnl_set_get_str(s, NFTNL_SET_NAME), set);
	struct nftnl_set_elems_iter *it = nftnl_set_elems_iter_create(s);
	size_t n = 0;
	/* _next() returns the current element and advances. */
	for (struct nftnl_set_elem *e = nftnl_set_elems_iter_next(it); e != NULL;
	     e = nftnl_set_elems_iter_next(it)) {
		uint32_t klen = 0;
		assert_non_null(nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &klen));
		assert_int_equal(klen, g->klen);
		n++;
	}
	nftnl_set_elems_iter_destroy(it);
	nftnl_set_free(s);
	return n;
}

/* The element list attribute of a NEWSETELEM message must fit in 16 bits. */
static size_t list_len(const struct nlmsghdr *m)
{
	const struct nlattr *a;
	mnl_attr_for_each(a, m, sizeof(struct nfgenmsg))
	{
		if (mnl_attr_get_type(a) == NFTA_SET_ELEM_LIST_ELEMENTS)
			return mnl_attr_get_len(a);
	}
	fail();
	return 0;
}

static struct got g;
static struct walk w;

static void test_chunking_v4(void **state)
{
	(void)state;
	struct nfb b;
	struct nfs_setid id = {NFS_K_V4, NFS_GROUP_ALL};
	static uint8_t items[10000 * 4];
	for (uint32_t i = 0; i < 10000; i++) {
		uint32_t a = htonl(0xc6120000u + i);
		memcpy(items + i * 4, &a, 4);
	}
	/* 16 bytes an element: 4,095 fit under 65,535, 4,096 do not. */
	assert_int_equal(nfb_elem_size(NFS_K_V4, false, false), 16);
	assert_true(4095 * 16 <= NFB_NEST_MAX);
	assert_true(4096 * 16 > NFB_NEST_MAX);

	RN_PASS(nfb_init(&b, NFPROTO_INET, "repnet", 64u << 20));
	RN_PASS(nfb_begin(&b, 100, 0));
	RN_PASS(nfb_elems(&b, 7, true, &id, items, 4095));
	assert_int_equal(b.msgs.nmsgs, 1);
	RN_PASS(nfb_elems(&b, 8, true, &id, items, 4096));
	assert_int_equal(b.msgs.nmsgs, 3); /* 4,096 need two messages */
	RN_PASS(nfb_elems(&b, 9, false, &id, items, 10000));
	RN_PASS(nfb_end(&b));
	batch_walk(&b, &w);
	assert_true(w.begin && w.end);
	assert_int_equal(w.n, 6); /* 1 + 2 + 3 (10,000 = 4,095 + 4,095 + 1,810) */
	uint32_t want_ops[6] = {7, 8, 8, 9, 9, 9};
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(b.msgs.ops[i], want_ops[i]);

	memset(&g, 0, sizeof(g));
	g.klen = 4;
	size_t nlib = 0;
	for (size_t i = 3; i < 6; i++) {
		assert_true(list_len(w.msgs[i]) <= UINT16_MAX);
		uint16_t type = w.msgs[i]->nlmsg_type & 0xff;
		assert_int_equal(type, NFT_MSG_DELSETELEM);
		/* Deletions carry no NLM_F_EXCL; additions do (checked below). */
		assert_false(w.msgs[i]->nlmsg_flags & NLM_F_EXCL);
		nlib += parse_both(w.msgs[i], &g, "v4");
	}
	assert_int_equal(g.n, 10000);
	assert_int_equal(nlib, 10000);
	assert_memory_equal(g.keys[0], items, 4);
	for (size_t i = 0; i < 10000; i++) {
		assert_memory_equal(g.keys[i], items + i * 4, 4);
		assert_int_equal(g.flags[i], 0);
	}
	assert_true(w.msgs[0]->nlmsg_flags & NLM_F_EXCL);
	nfb_release(&b);
}

static void test_intervals(void **state)
{
	(void)state;
	struct nfb b;
	struct nfs_setid id = {NFS_K_NET6, RN_CAT_SPAM_SOURCE};
	/* 2001:db8::/32, and one range up to the top of the space. */
	uint8_t items[2 * 32];
	memset(items, 0, sizeof(items));
	uint8_t p[16] = {0x20, 0x01, 0x0d, 0xb8};
	memcpy(items, p, 16);
	memcpy(items + 16, p, 16);
	memset(items + 16 + 4, 0xff, 12);
	memset(items + 32, 0xff, 16);
	items[32 + 15] = 0x00; /* ffff:...:ff00 - ffff:...:ffff */
	memset(items + 48, 0xff, 16);

	RN_PASS(nfb_init(&b, NFPROTO_INET, "repnet", 1u << 20));
	RN_PASS(nfb_begin(&b, 1, 0));
	RN_PASS(nfb_elems(&b, 0, true, &id, items, 2));
	RN_PASS(nfb_end(&b));
	batch_walk(&b, &w);
	assert_int_equal(w.n, 1);
	memset(&g, 0, sizeof(g));
	g.klen = 16;
	assert_int_equal(parse_both(w.msgs[0], &g, "spam_source_net6"), 3);
	/* Start, end (= hi + 1, flagged), and an open start with no end. */
	assert_int_equal(g.n, 3);
	assert_memory_equal(g.keys[0], p, 16);
	assert_int_equal(g.flags[0], 0);
	uint8_t end[16] = {0x20, 0x01, 0x0d, 0xb9};
	assert_memory_equal(g.keys[1], end, 16);
	assert_int_equal(g.flags[1], NFT_SET_ELEM_INTERVAL_END);
	assert_memory_equal(g.keys[2], items + 32, 16);
	assert_int_equal(g.flags[2], 0);
	nfb_release(&b);

	/* Ranges fill a message by bytes: 40 bytes each for IPv4. */
	struct nfs_setid n4 = {NFS_K_NET4, NFS_GROUP_ALL};
	static uint8_t r4[5000 * 8];
	for (uint32_t i = 0; i < 5000; i++) {
		uint32_t lo = htonl(0x0a000000u + i * 4), hi = htonl(0x0a000000u + i * 4 + 1);
		memcpy(r4 + i * 8, &lo, 4);
		memcpy(r4 + i * 8 + 4, &hi, 4);
	}
	RN_PASS(nfb_init(&b, NFPROTO_IPV4, "repnet", 4u << 20));
	RN_PASS(nfb_begin(&b, 1, 0));
	RN_PASS(nfb_elems(&b, 0, false, &n4, r4, 5000));
	RN_PASS(nfb_end(&b));
	batch_walk(&b, &w);
	assert_int_equal(w.n, (5000 * 40 + NFB_NEST_MAX - 1) / NFB_NEST_MAX);
	memset(&g, 0, sizeof(g));
	g.klen = 4;
	for (size_t i = 0; i < w.n; i++) {
		assert_true(list_len(w.msgs[i]) <= UINT16_MAX);
		parse_both(w.msgs[i], &g, "net4");
	}
	assert_int_equal(g.n, 10000);
	for (size_t i = 0; i < 5000; i++) {
		/* A start and its end are never split between messages. */
		assert_int_equal(g.flags[2 * i], 0);
		assert_int_equal(g.flags[2 * i + 1], NFT_SET_ELEM_INTERVAL_END);
	}
	/* An IPv6 set does not belong in an ip table. */
	RN_FAILS_WITH(nfb_elems(&b, 0, true, &id, items, 1), RN_EUNSUPP);
	nfb_release(&b);
}

static void test_objects(void **state)
{
	(void)state;
	struct nfb b;
	struct nfs_setid v4 = {NFS_K_V4, NFS_GROUP_ALL}, a6 = {NFS_K_ALLOW6, NFS_GROUP_ALL};
	RN_PASS(nfb_init(&b, NFPROTO_INET, "repnet", 1u << 20));
	RN_PASS(nfb_begin(&b, 50, 1234));
	RN_PASS(nfb_table_add(&b, 0));
	RN_PASS(nfb_set_add(&b, 1, &v4, 1500000));
	RN_PASS(nfb_set_add(&b, 2, &a6, 0));
	RN_PASS(nfb_chain_flush(&b, 3, NFS_CHAIN_BLOCKLIST));
	RN_PASS(nfb_chain_add(&b, 4, NFS_CHAIN_BLOCKLIST, 0));
	RN_PASS(nfb_rule_add(&b, 5, &a6));
	RN_PASS(nfb_rule_add(&b, 5, &v4));
	RN_PASS(nfb_chain_add(&b, 6, NFS_CHAIN_INPUT, -10));
	RN_PASS(nfb_set_del(&b, 7, &v4));
	RN_PASS(nfb_end(&b));
	batch_walk(&b, &w);
	assert_int_equal(w.n, 10); /* the input chain brings its jump rule */

	/* BEGIN carries the generation. */
	const struct nlmsghdr *begin = (const void *)b.msgs.buf;
	const struct nlattr *a;
	uint32_t gen = 0;
	mnl_attr_for_each(a, begin,
	                  sizeof(struct nfgenmsg)) if (mnl_attr_get_type(a) == NFNL_BATCH_GENID)
	        gen = ntohl(mnl_attr_get_u32(a));
	assert_int_equal(gen, 1234);

	struct nftnl_set *s = nftnl_set_alloc();
	assert_int_equal(nftnl_set_nlmsg_parse(w.msgs[1], s), 0);
	assert_string_equal(nftnl_set_get_str(s, NFTNL_SET_NAME), "v4");
	assert_int_equal(nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN), 4);
	assert_int_equal(nftnl_set_get_u32(s, NFTNL_SET_DESC_SIZE), 1500000);
	assert_int_equal(nftnl_set_get_u32(s, NFTNL_SET_FLAGS), 0);
	assert_true(w.msgs[1]->nlmsg_flags & NLM_F_EXCL);
	nftnl_set_free(s);
	s = nftnl_set_alloc();
	assert_int_equal(nftnl_set_nlmsg_parse(w.msgs[2], s), 0);
	assert_string_equal(nftnl_set_get_str(s, NFTNL_SET_NAME), "allow6");
	assert_int_equal(nftnl_set_get_u32(s, NFTNL_SET_FLAGS), NFT_SET_INTERVAL);
	assert_int_equal(nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN), 16);
	nftnl_set_free(s);

	/* Rules: repnet's parser finds the lookup and the counter. */
	for (int i = 5; i <= 6; i++) {
		struct nlr_msg rm = {.type = w.msgs[i]->nlmsg_type,
		                     .payload = (const uint8_t *)w.msgs[i] + NLMSG_HDRLEN,
		                     .len = w.msgs[i]->nlmsg_len - NLMSG_HDRLEN};
		struct nlr_nfgen gn;
		struct nlr_rule r;
		RN_PASS(nlr_nfgen(&rm, &gn));
		RN_PASS(nlr_nft_rule(&gn, &r));
		assert_true(nlr_str_eq(&r.chain, "blocklist"));
		assert_int_equal(r.lookups, 1);
		assert_true(nlr_str_eq(&r.lookup_set, i == 5 ? "allow6" : "v4"));
		/* meta, cmp, payload, lookup, counter, immediate */
		assert_int_equal(r.nexprs, 6);
		struct nftnl_rule *nr = nftnl_rule_alloc();
		assert_int_equal(nftnl_rule_nlmsg_parse(w.msgs[i], nr), 0);
		nftnl_rule_free(nr);
	}
	struct nftnl_chain *c = nftnl_chain_alloc();
	assert_int_equal(nftnl_chain_nlmsg_parse(w.msgs[7], c), 0);
	assert_string_equal(nftnl_chain_get_str(c, NFTNL_CHAIN_NAME), "input");
	assert_int_equal(nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM), NF_INET_LOCAL_IN);
	assert_int_equal(nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO), -10);
	nftnl_chain_free(c);
	for (size_t i = 0; i < w.n; i++)
		assert_int_equal(w.msgs[i]->nlmsg_seq, 51 + i);
	nfb_release(&b);
}

static void test_limit(void **state)
{
	(void)state;
	struct nfb b;
	struct nfs_setid id = {NFS_K_V4, NFS_GROUP_ALL};
	static uint8_t items[100000 * 4];
	memset(items, 1, sizeof(items));
	/* A 1 MiB limit cannot hold 100,000 elements (1.6 MB). */
	RN_PASS(nfb_init(&b, NFPROTO_INET, "repnet", 1u << 20));
	RN_PASS(nfb_begin(&b, 1, 0));
	RN_FAILS_WITH(nfb_elems(&b, 0, true, &id, items, 100000), RN_ELIMIT);
	nfb_release(&b);
	nfb_release(&b);
	char longname[NFS_NAME_MAX + 10];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	RN_FAILS_WITH(nfb_init(&b, NFPROTO_INET, longname, 1u << 20), RN_ELIMIT);
	struct nfs_setid bad = {NFS_K_COUNT, 0};
	RN_PASS(nfb_init(&b, NFPROTO_INET, "repnet", 1u << 20));
	RN_PASS(nfb_begin(&b, 1, 0));
	RN_FAILS_WITH(nfb_set_add(&b, 0, &bad, 0), RN_EUNSUPP);
	RN_FAILS_WITH(nfb_chain_flush(&b, 0, NFS_CHAIN_COUNT), RN_EUNSUPP);
	nfb_release(&b);
}

RN_TEST_MAIN(test_chunking_v4, test_intervals, test_objects, test_limit)
