/*
 * nfs_msg_test.c: the engine <-> applier messages: every type round
 * trips; every truncation, every extra byte and every out-of-range field
 * is refused; set names map both ways.
 */
#include <string.h>

#include "feeds/nfapply/nfapply.h"
#include "test.h"

static uint8_t buf[NFS_MSG_MAX];

/* Decoding must fail for every proper prefix and for one byte more. */
static void strict(const uint8_t *b, size_t len)
{
	struct nfs_msg m;
	uint8_t tmp[256 + 1];
	for (size_t i = 0; i < len; i++)
		RN_FAILS(nfs_msg_decode(b, i, &m));
	if (len < sizeof(tmp)) {
		memcpy(tmp, b, len);
		tmp[len] = 0;
		RN_FAILS(nfs_msg_decode(tmp, len + 1, &m));
	}
}

static void test_roundtrip(void **state)
{
	(void)state;
	struct rn_wcur w;
	struct nfs_msg m;
	struct nfs_setid id = {.kind = NFS_K_NET6, .group = RN_CAT_SCANNER};

	rn_wcur_init(&w, buf, sizeof(buf));
	RN_PASS(nfs_enc_ready(&w, FEEDS_SYNC_IPSET, 1234));
	RN_PASS(nfs_msg_decode(w.p, w.len, &m));
	assert_int_equal(m.type, NFS_M_READY);
	assert_int_equal(m.u.ready.version, NFS_PROTO_VERSION);
	assert_int_equal(m.u.ready.backend, FEEDS_SYNC_IPSET);
	assert_int_equal(m.u.ready.pid, 1234);
	strict(w.p, w.len);

	RN_PASS(nfs_enc_result(&w, 7, RN_ENETLINK, 17, 3, "File exists"));
	RN_PASS(nfs_msg_decode(w.p, w.len, &m));
	assert_int_equal(m.u.result.txn, 7);
	assert_int_equal(m.u.result.rc, RN_ENETLINK);
	assert_int_equal(m.u.result.kerr, 17);
	assert_int_equal(m.u.result.op, 3);
	assert_string_equal(m.u.result.text, "File exists");
	strict(w.p, w.len);

	RN_PASS(nfs_enc_dump_end(&w, RN_OK, 99, 2, 0x1234));
	RN_PASS(nfs_msg_decode(w.p, w.len, &m));
	assert_int_equal(m.u.dump_end.count, 99);
	assert_int_equal(m.u.dump_end.anomalies, 2);
	assert_int_equal(m.u.dump_end.genid, 0x1234);
	strict(w.p, w.len);

	RN_PASS(nfs_enc_begin(&w, 9, 77));
	RN_PASS(nfs_msg_decode(w.p, w.len, &m));
	assert_int_equal(m.u.begin.txn, 9);
	assert_int_equal(m.u.begin.genid, 77);
	strict(w.p, w.len);

	RN_PASS(nfs_enc_set(&w, NFS_M_SET_ADD, &id, NFS_SETF_TMP, 1500000));
	RN_PASS(nfs_msg_decode(w.p, w.len, &m));
	assert_int_equal(m.u.set.id.kind, NFS_K_NET6);
	assert_int_equal(m.u.set.id.group, RN_CAT_SCANNER);
	assert_int_equal(m.u.set.flags, NFS_SETF_TMP);
	assert_int_equal(m.u.set.size, 1500000);
	strict(w.p, w.len);

	RN_PASS(nfs_enc_chain(&w, NFS_M_CHAIN_ADD, NFS_CHAIN_FORWARD, -10));
	RN_PASS(nfs_msg_decode(w.p, w.len, &m));
	assert_int_equal(m.u.chain.chain, NFS_CHAIN_FORWARD);
	assert_int_equal(m.u.chain.prio, -10);
	strict(w.p, w.len);

	struct nfs_setid ids[3] = {{NFS_K_ALLOW4, NFS_GROUP_ALL}, {NFS_K_V4, 0}, {NFS_K_V6, 10}};
	RN_PASS(nfs_enc_rules(&w, ids, 3));
	RN_PASS(nfs_msg_decode(w.p, w.len, &m));
	assert_int_equal(m.u.rules.n, 3);
	assert_memory_equal(m.u.rules.ids, ids, sizeof(ids));
	strict(w.p, w.len);

	RN_PASS(nfs_enc_elems_start(&w, NFS_OP_ADD, &id, 0));
	uint8_t r[32] = {0x20, 1, 0xd, 0xb8};
	memcpy(r + 16, r, 16);
	r[31] = 0xff;
	rn_wcur_bytes(&w, r, 32);
	rn_wcur_bytes(&w, r, 32);
	RN_PASS(nfs_enc_elems_finish(&w, 2));
	RN_PASS(nfs_msg_decode(w.p, w.len, &m));
	assert_int_equal(m.u.elems.op, NFS_OP_ADD);
	assert_int_equal(m.u.elems.n, 2);
	assert_memory_equal(m.u.elems.items, r, 32);
	strict(w.p, w.len);

	for (uint8_t t = NFS_M_TABLE; t <= NFS_M_DESTROY; t++) {
		if (t != NFS_M_TABLE && t != NFS_M_COMMIT && t != NFS_M_LIST && t != NFS_M_DESTROY)
			continue;
		RN_PASS(nfs_enc_simple(&w, t));
		RN_PASS(nfs_msg_decode(w.p, w.len, &m));
		assert_int_equal(m.type, t);
		strict(w.p, w.len);
	}
}

static void test_sets(void **state)
{
	(void)state;
	struct rn_wcur w;
	static struct nfs_sets s, back;
	memset(&s, 0, sizeof(s));
	s.genid = 0xdeadbeef;
	s.table = 1;
	s.chains[NFS_CHAIN_INPUT].present = 1;
	s.chains[NFS_CHAIN_INPUT].prio = -10;
	s.chains[NFS_CHAIN_INPUT].rules = 1;
	s.foreign = 2;
	s.n = 2;
	s.v[0] = (struct nfs_setinfo){{NFS_K_V4, NFS_GROUP_ALL}, NFS_SETF_COMPAT, 65536, 10};
	s.v[1] = (struct nfs_setinfo){{NFS_K_NET4, 3}, NFS_SETF_TMP, 0, UINT32_MAX};
	rn_wcur_init(&w, buf, sizeof(buf));
	RN_PASS(nfs_enc_sets(&w, &s));
	RN_PASS(nfs_msg_decode_sets(w.p, w.len, &back));
	assert_memory_equal(&s, &back, sizeof(s));
	for (size_t i = 0; i < w.len; i++)
		RN_FAILS(nfs_msg_decode_sets(w.p, i, &back));
	buf[w.len] = 0;
	RN_FAILS_WITH(nfs_msg_decode_sets(w.p, w.len + 1, &back), RN_EPARSE);
	s.n = NFS_SETS_MAX + 1;
	RN_FAILS_WITH(nfs_enc_sets(&w, &s), RN_ELIMIT);
}

static void test_refused(void **state)
{
	(void)state;
	struct nfs_msg m;
	struct rn_wcur w;
	struct nfs_setid id = {NFS_K_V4, NFS_GROUP_ALL};
	rn_wcur_init(&w, buf, sizeof(buf));

	/* Unknown type, kind, group; allow sets only in the ALL group. */
	uint8_t unknown[1] = {99};
	RN_FAILS_WITH(nfs_msg_decode(unknown, 1, &m), RN_EPARSE);
	uint8_t badkind[8] = {NFS_M_SET_DEL, NFS_K_COUNT, 0xff, 0, 0, 0, 0, 0};
	RN_FAILS_WITH(nfs_msg_decode(badkind, 8, &m), RN_EPARSE);
	uint8_t badgroup[8] = {NFS_M_SET_DEL, NFS_K_V4, RN_CAT_COUNT, 0, 0, 0, 0, 0};
	RN_FAILS_WITH(nfs_msg_decode(badgroup, 8, &m), RN_EPARSE);
	uint8_t allowgroup[8] = {NFS_M_SET_DEL, NFS_K_ALLOW4, 1, 0, 0, 0, 0, 0};
	RN_FAILS_WITH(nfs_msg_decode(allowgroup, 8, &m), RN_EPARSE);
	/* A size only on SET_ADD; unknown flags. */
	uint8_t delsize[8] = {NFS_M_SET_DEL, NFS_K_V4, 0xff, 0, 0, 0, 0, 1};
	RN_FAILS_WITH(nfs_msg_decode(delsize, 8, &m), RN_EPARSE);
	uint8_t flags[8] = {NFS_M_SET_ADD, NFS_K_V4, 0xff, 0x80, 0, 0, 0, 1};
	RN_FAILS_WITH(nfs_msg_decode(flags, 8, &m), RN_EPARSE);
	/* Chains: index, and a priority on anything but CHAIN_ADD. */
	uint8_t chain[6] = {NFS_M_CHAIN_FLUSH, NFS_CHAIN_COUNT, 0, 0, 0, 0};
	RN_FAILS_WITH(nfs_msg_decode(chain, 6, &m), RN_EPARSE);
	uint8_t chainprio[6] = {NFS_M_CHAIN_DEL, NFS_CHAIN_INPUT, 0, 0, 0, 5};
	RN_FAILS_WITH(nfs_msg_decode(chainprio, 6, &m), RN_EPARSE);
	/* ELEMS: the count must match the bytes exactly. */
	RN_PASS(nfs_enc_elems_start(&w, NFS_OP_DEL, &id, 0));
	rn_wcur_bytes(&w, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	RN_PASS(nfs_enc_elems_finish(&w, 3));
	RN_FAILS_WITH(nfs_msg_decode(w.p, w.len, &m), RN_EBADLEN);
	RN_PASS(nfs_enc_elems_finish(&w, 1));
	RN_FAILS_WITH(nfs_msg_decode(w.p, w.len, &m), RN_EBADLEN);
	RN_PASS(nfs_enc_elems_finish(&w, 2));
	RN_PASS(nfs_msg_decode(w.p, w.len, &m));
	/* A range with lo > hi. */
	struct nfs_setid net = {NFS_K_NET4, NFS_GROUP_ALL};
	RN_PASS(nfs_enc_elems_start(&w, NFS_OP_ADD, &net, 0));
	rn_wcur_bytes(&w, "\x0a\x00\x00\x01\x0a\x00\x00\x00", 8);
	RN_PASS(nfs_enc_elems_finish(&w, 1));
	RN_FAILS_WITH(nfs_msg_decode(w.p, w.len, &m), RN_EPARSE);
	/* An op the protocol does not have. */
	RN_PASS(nfs_enc_elems_start(&w, 9, &id, 0));
	RN_FAILS_WITH(nfs_msg_decode(w.p, w.len, &m), RN_EPARSE);
	/* A result text with a NUL, or longer than allowed. */
	RN_PASS(nfs_enc_result(&w, 1, RN_OK, 0, 0, "ab"));
	w.p[w.len - 1] = 0;
	RN_FAILS_WITH(nfs_msg_decode(w.p, w.len, &m), RN_EPARSE);
	uint8_t longtext[20] = {NFS_M_RESULT, 0,   0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	                        0xff,         0xff};
	RN_FAILS_WITH(nfs_msg_decode(longtext, 19, &m), RN_EBADLEN);
	/* Too many rules. */
	uint8_t rules[2] = {NFS_M_RULES, NFS_RULES_MAX + 1};
	RN_FAILS_WITH(nfs_msg_decode(rules, 2, &m), RN_ELIMIT);
	/* The writer refuses to overflow. */
	uint8_t small[4];
	rn_wcur_init(&w, small, sizeof(small));
	RN_FAILS_WITH(nfs_enc_begin(&w, 1, 2), RN_ELIMIT);
	/* Fills a whole message and no more. */
	rn_wcur_init(&w, buf, sizeof(buf));
	RN_PASS(nfs_enc_elems_start(&w, NFS_OP_ADD, &id, 0));
	for (size_t i = 0; i < nfs_elems_per_msg(NFS_K_V4); i++)
		rn_wcur_bytes(&w, "\x01\x02\x03\x04", 4);
	assert_true(rn_wcur_ok(&w));
	rn_wcur_bytes(&w, "\x01\x02\x03\x04", 4);
	assert_int_equal(w.err, RN_ELIMIT);
}

static void test_names(void **state)
{
	(void)state;
	char name[NFS_NAME_MAX];
	struct nfs_setid id, back;
	bool tmp;
	for (unsigned g = 0; g < NFS_GROUP_SLOTS; g++)
		for (unsigned k = 0; k < NFS_K_COUNT; k++)
			for (int t = 0; t < 2; t++) {
				id.kind = (uint8_t)k;
				id.group = (uint8_t)(g == RN_CAT_COUNT ? NFS_GROUP_ALL : g);
				if (!nfs_setid_valid(&id))
					continue;
				const char *pfx = t ? "repnet" : NULL;
				RN_PASS(nfs_set_name(&id, pfx, t == 1, name, sizeof(name)));
				/* ipset's limit is 31 characters. */
				assert_true(strlen(name) <= 31);
				RN_PASS(nfs_set_name_parse(name, strlen(name), pfx, &back, &tmp));
				assert_memory_equal(&id, &back, sizeof(id));
				assert_int_equal(tmp, t == 1);
			}
	id = (struct nfs_setid){NFS_K_V4, NFS_GROUP_ALL};
	RN_PASS(nfs_set_name(&id, NULL, false, name, sizeof(name)));
	assert_string_equal(name, "v4");
	id = (struct nfs_setid){NFS_K_NET4, RN_CAT_SPAM_SOURCE};
	RN_PASS(nfs_set_name(&id, "repnet", true, name, sizeof(name)));
	assert_string_equal(name, "repnet_spam_source_net4_t");
	RN_FAILS_WITH(nfs_set_name_parse("v44", 3, NULL, &back, &tmp), RN_ENOTFOUND);
	RN_FAILS_WITH(nfs_set_name_parse("filter", 6, NULL, &back, &tmp), RN_ENOTFOUND);
	RN_FAILS_WITH(nfs_set_name(&id, "repnet", true, name, 8), RN_ELIMIT);

	int fam;
	char t[NFS_NAME_MAX];
	RN_PASS(nfs_table_parse("inet repnet", &fam, t, sizeof(t)));
	assert_string_equal(t, "repnet");
	RN_PASS(nfs_table_parse("ip6 my-table.1", &fam, t, sizeof(t)));
	RN_FAILS(nfs_table_parse("bridge repnet", &fam, t, sizeof(t)));
	RN_FAILS(nfs_table_parse("inet", &fam, t, sizeof(t)));
	RN_FAILS(nfs_table_parse("inet a b", &fam, t, sizeof(t)));
	RN_FAILS(nfs_table_parse("inet r;flush ruleset", &fam, t, sizeof(t)));
}

RN_TEST_MAIN(test_roundtrip, test_sets, test_refused, test_names)
