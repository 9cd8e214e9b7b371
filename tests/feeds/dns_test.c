/*
 * dns_test.c: the DNS query parser and the DNSBL answers, byte by byte:
 * RFC 5782 test points, codes and their combination, TXT substitution,
 * SOA/NS at the apex, NXDOMAIN with SOA, REFUSED, EDNS0 (echo, BADVERS,
 * payload size and truncation), FORMERR for compression pointers and
 * malformed queries, and drops.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "feeds/rbl/dns.h"
#include "test.h"

static struct feeds_listview *lv;
static struct feeds_view view;

/* Builds a query: name in dotted form, optional OPT with size/version. */
static size_t query(uint8_t *b, uint16_t id, const char *name, uint16_t type, uint16_t klass,
                    int edns_size, int edns_version)
{
	size_t o = 0, n;
	b[o++] = (uint8_t)(id >> 8);
	b[o++] = (uint8_t)id;
	b[o++] = 0x01; /* RD */
	b[o++] = 0;
	b[o++] = 0;
	b[o++] = 1;
	memset(b + o, 0, 4);
	o += 4;
	b[o++] = 0;
	b[o++] = edns_size > 0 ? 1 : 0;
	/* Names keep their case on the wire. */
	const char *p = name;
	while (*p != '\0') {
		const char *dot = strchr(p, '.');
		n = dot != NULL ? (size_t)(dot - p) : strlen(p);
		b[o++] = (uint8_t)n;
		memcpy(b + o, p, n);
		o += n;
		p += n + (dot != NULL ? 1 : 0);
	}
	b[o++] = 0;
	b[o++] = (uint8_t)(type >> 8);
	b[o++] = (uint8_t)type;
	b[o++] = (uint8_t)(klass >> 8);
	b[o++] = (uint8_t)klass;
	if (edns_size > 0) {
		b[o++] = 0;
		b[o++] = 0;
		b[o++] = 41;
		b[o++] = (uint8_t)(edns_size >> 8);
		b[o++] = (uint8_t)edns_size;
		b[o++] = 0;
		b[o++] = (uint8_t)edns_version;
		b[o++] = 0x80; /* DO */
		b[o++] = 0;
		b[o++] = 0;
		b[o++] = 0;
	}
	return o;
}

static uint16_t u16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static int setup(void **state)
{
	(void)state;
	struct feeds_view_entry e[3];
	memset(e, 0, sizeof(e));
	RN_PASS(rn_prefix_parse_str("192.0.2.1", true, &e[0].prefix));
	e[0].categories = 1u << RN_CAT_SPAM_SOURCE;
	RN_PASS(rn_prefix_parse_str("198.51.100.0/24", true, &e[1].prefix));
	e[1].categories = 1u << RN_CAT_SCANNER | 1u << RN_CAT_SASL_BRUTEFORCE;
	RN_PASS(rn_prefix_parse_str("2001:db8::1", true, &e[2].prefix));
	e[2].categories = 1u << RN_CAT_DROP;
	e[2].expires_ms = 2000;
	RN_PASS(feeds_listview_alloc(&lv, 0));
	RN_PASS(feeds_listview_apply(lv, e, 3, NULL, 0));
	feeds_listview_view(lv, &view);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	feeds_listview_free(lv);
	return 0;
}

static void build_cfg(struct dnsbl_cfg *cfg, int combine, const char *url)
{
	static char *zones[] = {"bl.test", "sasl.bl.test:sasl_bruteforce"};
	static char *ns[] = {"ns1.bl.test", "ns2.bl.test"};
	static char *codes[] = {"spam_source=127.0.0.2", "sasl_bruteforce=127.0.0.4",
	                        "scanner=127.0.0.8"};
	struct feeds_rbl_conf c;
	char err[256];
	memset(&c, 0, sizeof(c));
	c.dnsbl_zones = (struct rn_strlist){zones, 2};
	c.dnsbl_ns = (struct rn_strlist){ns, 2};
	c.dnsbl_codes = (struct rn_strlist){codes, 3};
	c.dnsbl_combine = combine;
	c.dnsbl_ttl_ms = 300000;
	c.dnsbl_negative_ttl_ms = 60000;
	c.dnsbl_soa_rname = "hostmaster.bl.test";
	c.dnsbl_reason = "Listed for %c";
	c.dnsbl_lookup_url = (char *)url;
	c.dnsbl_edns_size = 1232;
	RN_PASS(dnsbl_cfg_build(cfg, &c, err, sizeof(err)));
}

/* Sends q and returns the answer in out; checks id, QR and the echoed question. */
static size_t ask(const struct dnsbl_cfg *cfg, const uint8_t *q, size_t qlen, bool tcp,
                  uint8_t *out, struct dnsbl_result *r)
{
	size_t n = dnsbl_respond(cfg, &view, 1000, q, qlen, tcp, out, DNS_MSG_MAX, r);
	if (n > 0) {
		assert_true(n >= DNS_HDR_LEN);
		assert_memory_equal(out, q, 2);
		assert_true(out[2] & 0x80);
	}
	return n;
}

/* Finds the first RR of the answer section; returns its offset. */
static size_t first_rr(const uint8_t *out, size_t qlen_wire)
{
	(void)out;
	return DNS_HDR_LEN + qlen_wire;
}

static void test_listed_a_txt(void **state)
{
	(void)state;
	struct dnsbl_cfg *cfg = malloc(sizeof(*cfg));
	uint8_t q[512], out[DNS_MSG_MAX];
	struct dnsbl_result r;
	build_cfg(cfg, FEEDS_DNSBL_PRIORITY, "https://bl.test/q?ip=$");

	size_t ql = query(q, 0x1234, "1.2.0.192.bl.TEST", DNS_T_A, DNS_C_IN, 0, 0);
	size_t n = ask(cfg, q, ql, false, out, &r);
	assert_int_equal(r.rcode, DNS_R_NOERROR);
	assert_true(r.listed);
	assert_int_equal(out[2] & 0x04, 0x04);          /* AA */
	assert_int_equal(out[2] & 0x01, 0x01);          /* RD copied */
	assert_int_equal(u16(out + 6), 1);              /* ANCOUNT */
	assert_memory_equal(out + 12, q + 12, ql - 12); /* question as sent, case kept */
	size_t rr = first_rr(out, ql - 12);
	assert_int_equal(u16(out + rr), 0xc00c); /* owner points at the question */
	assert_int_equal(u16(out + rr + 2), DNS_T_A);
	assert_int_equal(u16(out + rr + 6) << 16 | u16(out + rr + 8), 300);
	assert_int_equal(u16(out + rr + 10), 4);
	assert_memory_equal(out + rr + 12, "\x7f\x00\x00\x02", 4);
	assert_int_equal(n, rr + 16);

	ql = query(q, 7, "1.2.0.192.bl.test", DNS_T_TXT, DNS_C_IN, 0, 0);
	n = ask(cfg, q, ql, false, out, &r);
	rr = first_rr(out, ql - 12);
	assert_int_equal(u16(out + rr + 2), DNS_T_TXT);
	const char *want = "Listed for spam_source; https://bl.test/q?ip=192.0.2.1";
	assert_int_equal(out[rr + 12], strlen(want));
	assert_memory_equal(out + rr + 13, want, strlen(want));

	/* Priority: scanner and sasl_bruteforce -> the first in the list (sasl, .4). */
	ql = query(q, 8, "9.100.51.198.bl.test", DNS_T_ANY, DNS_C_IN, 0, 0);
	n = ask(cfg, q, ql, false, out, &r);
	assert_int_equal(u16(out + 6), 2);
	rr = first_rr(out, ql - 12);
	assert_int_equal(out[rr + 15], 4);
	/* Bitmask: .4 | .8 = .12. */
	build_cfg(cfg, FEEDS_DNSBL_BITMASK, NULL);
	n = ask(cfg, q, ql, false, out, &r);
	assert_int_equal(out[rr + 15], 12);
	/* A zone restricted to one category: sasl.bl.test answers for it only. */
	ql = query(q, 9, "9.100.51.198.sasl.bl.test", DNS_T_A, DNS_C_IN, 0, 0);
	n = ask(cfg, q, ql, false, out, &r);
	assert_int_equal(r.rcode, DNS_R_NOERROR);
	assert_int_equal(out[first_rr(out, ql - 12) + 15], 4);
	ql = query(q, 9, "1.2.0.192.sasl.bl.test", DNS_T_A, DNS_C_IN, 0, 0);
	ask(cfg, q, ql, false, out, &r);
	assert_int_equal(r.rcode, DNS_R_NXDOMAIN);

	/* IPv6 nibbles; the entry expires at 2000 ms and "now" is 1000. */
	ql = query(q, 10, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.B.D.0.1.0.0.2.bl.test",
	           DNS_T_TXT, DNS_C_IN, 0, 0);
	n = ask(cfg, q, ql, false, out, &r);
	assert_true(r.listed);
	rr = first_rr(out, ql - 12);
	assert_memory_equal(out + rr + 13, "Listed for drop", 15);
	n = dnsbl_respond(cfg, &view, 3000, q, ql, false, out, DNS_MSG_MAX, &r);
	assert_int_equal(r.rcode, DNS_R_NXDOMAIN); /* expired */
	(void)n;
	free(cfg);
}

static void test_test_points_and_negative(void **state)
{
	(void)state;
	struct dnsbl_cfg *cfg = malloc(sizeof(*cfg));
	uint8_t q[512], out[DNS_MSG_MAX];
	struct dnsbl_result r;
	build_cfg(cfg, FEEDS_DNSBL_PRIORITY, NULL);

	size_t ql = query(q, 1, "2.0.0.127.bl.test", DNS_T_A, DNS_C_IN, 0, 0);
	ask(cfg, q, ql, false, out, &r);
	assert_int_equal(r.rcode, DNS_R_NOERROR);
	assert_memory_equal(out + first_rr(out, ql - 12) + 12, "\x7f\x00\x00\x02", 4);
	ql = query(q, 1, "2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.bl.test",
	           DNS_T_A, DNS_C_IN, 0, 0);
	ask(cfg, q, ql, false, out, &r);
	assert_int_equal(r.rcode, DNS_R_NOERROR);
	ql = query(q, 1, "1.0.0.127.bl.test", DNS_T_A, DNS_C_IN, 0, 0);
	ask(cfg, q, ql, false, out, &r);
	assert_int_equal(r.rcode, DNS_R_NXDOMAIN);
	ql = query(q, 1, "1.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.bl.test",
	           DNS_T_A, DNS_C_IN, 0, 0);
	ask(cfg, q, ql, false, out, &r);
	assert_int_equal(r.rcode, DNS_R_NXDOMAIN);

	/* NXDOMAIN carries the SOA, owned by the apex, with the negative TTL. */
	ql = query(q, 2, "2.2.0.192.bl.test", DNS_T_A, DNS_C_IN, 0, 0);
	size_t n = ask(cfg, q, ql, false, out, &r);
	assert_int_equal(out[3] & 0xf, DNS_R_NXDOMAIN);
	assert_int_equal(u16(out + 6), 0);
	assert_int_equal(u16(out + 8), 1);
	size_t rr = first_rr(out, ql - 12);
	assert_int_equal(u16(out + rr), 0xc000 | (12 + 10)); /* "bl.test" inside the question */
	assert_int_equal(u16(out + rr + 2), DNS_T_SOA);
	assert_int_equal(u16(out + rr + 8), 60);
	assert_true(n > rr + 12);
	/* Listed but another type: NODATA (NOERROR, SOA). */
	ql = query(q, 3, "1.2.0.192.bl.test", DNS_T_AAAA, DNS_C_IN, 0, 0);
	ask(cfg, q, ql, false, out, &r);
	assert_int_equal(r.rcode, DNS_R_NOERROR);
	assert_int_equal(u16(out + 6), 0);
	assert_int_equal(u16(out + 8), 1);
	/* Not an address: 3 labels, a leading zero, a 5-digit label. */
	const char *bad[] = {"2.0.192.bl.test", "01.2.0.192.bl.test", "1.2.0.19222.bl.test",
	                     "x.2.0.192.bl.test"};
	for (size_t i = 0; i < RN_ARRAY_LEN(bad); i++) {
		ql = query(q, 4, bad[i], DNS_T_A, DNS_C_IN, 0, 0);
		ask(cfg, q, ql, false, out, &r);
		assert_int_equal(r.rcode, DNS_R_NXDOMAIN);
	}
	free(cfg);
}

static void test_apex_refused(void **state)
{
	(void)state;
	struct dnsbl_cfg *cfg = malloc(sizeof(*cfg));
	uint8_t q[512], out[DNS_MSG_MAX];
	struct dnsbl_result r;
	build_cfg(cfg, FEEDS_DNSBL_PRIORITY, NULL);
	size_t ql = query(q, 1, "bl.test", DNS_T_SOA, DNS_C_IN, 0, 0);
	ask(cfg, q, ql, false, out, &r);
	assert_int_equal(r.rcode, DNS_R_NOERROR);
	assert_int_equal(u16(out + 6), 1);
	assert_int_equal(u16(out + first_rr(out, ql - 12) + 2), DNS_T_SOA);
	ql = query(q, 1, "bl.test", DNS_T_NS, DNS_C_IN, 0, 0);
	ask(cfg, q, ql, false, out, &r);
	assert_int_equal(u16(out + 6), 2);
	ql = query(q, 1, "bl.test", DNS_T_ANY, DNS_C_IN, 0, 0);
	ask(cfg, q, ql, false, out, &r);
	assert_int_equal(u16(out + 6), 3);
	ql = query(q, 1, "bl.test", DNS_T_A, DNS_C_IN, 0, 0);
	ask(cfg, q, ql, false, out, &r);
	assert_int_equal(u16(out + 6), 0);
	assert_int_equal(u16(out + 8), 1);
	/* Out of zone, another class, zone transfers: REFUSED, not authoritative. */
	const char *names[] = {"example.com", "test", "xbl.test", "1.2.0.192.bl.test.example"};
	for (size_t i = 0; i < RN_ARRAY_LEN(names); i++) {
		ql = query(q, 1, names[i], DNS_T_A, DNS_C_IN, 0, 0);
		ask(cfg, q, ql, false, out, &r);
		assert_int_equal(r.rcode, DNS_R_REFUSED);
		assert_int_equal(out[2] & 0x04, 0);
	}
	ql = query(q, 1, "1.2.0.192.bl.test", DNS_T_TXT, 3 /* CH */, 0, 0);
	ask(cfg, q, ql, false, out, &r);
	assert_int_equal(r.rcode, DNS_R_REFUSED);
	ql = query(q, 1, "bl.test", DNS_T_AXFR, DNS_C_IN, 0, 0);
	ask(cfg, q, ql, true, out, &r);
	assert_int_equal(r.rcode, DNS_R_REFUSED);
	free(cfg);
}

static void test_edns(void **state)
{
	(void)state;
	struct dnsbl_cfg *cfg = malloc(sizeof(*cfg));
	uint8_t q[512], out[DNS_MSG_MAX];
	struct dnsbl_result r;
	build_cfg(cfg, FEEDS_DNSBL_PRIORITY, NULL);
	/* OPT echoed with our size and the DO bit. */
	size_t ql = query(q, 1, "1.2.0.192.bl.test", DNS_T_A, DNS_C_IN, 4096, 0);
	size_t n = ask(cfg, q, ql, false, out, &r);
	assert_int_equal(u16(out + 10), 1);
	assert_int_equal(out[n - 11], 0);
	assert_int_equal(u16(out + n - 10), DNS_T_OPT);
	assert_int_equal(u16(out + n - 8), 1232);
	assert_int_equal(out[n - 4] & 0x80, 0x80);
	/* Version 1: BADVERS (extended rcode 1, header rcode 0). */
	ql = query(q, 1, "1.2.0.192.bl.test", DNS_T_A, DNS_C_IN, 4096, 1);
	n = ask(cfg, q, ql, false, out, &r);
	assert_int_equal(r.rcode, DNS_R_BADVERS);
	assert_int_equal(out[3] & 0xf, 0);
	assert_int_equal(out[n - 6], 1);

	/* An answer larger than the client's size is truncated: ANY at the apex with a
	 * long TXT template does not fit 512 bytes without EDNS. */
	struct feeds_rbl_conf c;
	static char *zones[] = {"bl.test"};
	/* Four name servers of about 190 bytes each. */
	static char n1[200], n2[200], n3[200], n4[200];
	char *ns[] = {n1, n2, n3, n4};
	for (int i = 0; i < 4; i++) {
		memset(ns[i], 'a' + i, 189);
		for (int j = 60; j < 189; j += 61)
			ns[i][j] = '.';
		ns[i][189] = '\0';
	}
	char err[256];
	memset(&c, 0, sizeof(c));
	c.dnsbl_zones = (struct rn_strlist){zones, 1};
	c.dnsbl_ns = (struct rn_strlist){ns, 4};
	c.dnsbl_soa_rname = "a-long-hostmaster-mailbox-name-for-this-test.example.invalid";
	c.dnsbl_reason = "x";
	c.dnsbl_edns_size = 1232;
	RN_PASS(dnsbl_cfg_build(cfg, &c, err, sizeof(err)));
	ql = query(q, 5, "bl.test", DNS_T_ANY, DNS_C_IN, 0, 0);
	n = ask(cfg, q, ql, true, out, &r); /* TCP: everything */
	assert_false(r.truncated);
	assert_true(n > 512);
	size_t full = n;
	n = ask(cfg, q, ql, false, out, &r); /* UDP, no EDNS: 512 */
	assert_true(r.truncated);
	assert_int_equal(out[2] & 0x02, 0x02);
	assert_int_equal(u16(out + 6), 0);
	assert_int_equal(n, ql);
	ql = query(q, 5, "bl.test", DNS_T_ANY, DNS_C_IN, 4096, 0);
	n = ask(cfg, q, ql, false, out, &r); /* EDNS 4096 -> capped at our 1232, fits */
	assert_false(r.truncated);
	assert_int_equal(n, full + 11);
	ql = query(q, 5, "bl.test", DNS_T_ANY, DNS_C_IN, 600, 0);
	n = ask(cfg, q, ql, false, out, &r); /* EDNS 600: truncated, OPT kept */
	assert_true(r.truncated);
	assert_int_equal(u16(out + 10), 1);
	free(cfg);
}

static void test_malformed(void **state)
{
	(void)state;
	struct dnsbl_cfg *cfg = malloc(sizeof(*cfg));
	uint8_t q[512], out[DNS_MSG_MAX];
	struct dnsbl_result r;
	struct dns_query dq;
	int rcode;
	build_cfg(cfg, FEEDS_DNSBL_PRIORITY, NULL);
	size_t ql = query(q, 1, "1.2.0.192.bl.test", DNS_T_A, DNS_C_IN, 0, 0);

	/* Short or a response: dropped. */
	assert_int_equal(ask(cfg, q, 11, false, out, &r), 0);
	assert_int_equal(r.rcode, DNS_R_DROP);
	q[2] |= 0x80;
	assert_int_equal(ask(cfg, q, ql, false, out, &r), 0);
	q[2] &= 0x7f;
	/* A compression pointer in the question: FORMERR, counted as a bad name. */
	uint8_t p[64];
	memcpy(p, q, 12);
	memcpy(p + 12,
	       "\x01"
	       "1\xc0\x0c\x00\x01\x00\x01",
	       8);
	RN_FAILS_WITH(dns_query_parse(p, 20, &dq, &rcode), RN_EPARSE);
	assert_int_equal(rcode, DNS_R_FORMERR);
	assert_int_equal(ask(cfg, p, 20, false, out, &r), DNS_HDR_LEN);
	assert_int_equal(out[3] & 0xf, DNS_R_FORMERR);
	assert_true(r.bad_name);
	/* Trailing bytes, two questions, an answer record, truncated question. */
	memcpy(p, q, ql);
	p[ql] = 0;
	ask(cfg, p, ql + 1, false, out, &r);
	assert_int_equal(r.rcode, DNS_R_FORMERR);
	p[5] = 2;
	ask(cfg, p, ql, false, out, &r);
	assert_int_equal(r.rcode, DNS_R_FORMERR);
	p[5] = 1;
	p[7] = 1;
	ask(cfg, p, ql, false, out, &r);
	assert_int_equal(r.rcode, DNS_R_FORMERR);
	p[7] = 0;
	ask(cfg, p, ql - 3, false, out, &r);
	assert_int_equal(r.rcode, DNS_R_FORMERR);
	/* Another opcode: NOTIMP. */
	p[2] = 0x10; /* opcode 2 (STATUS) */
	ask(cfg, p, ql, false, out, &r);
	assert_int_equal(r.rcode, DNS_R_NOTIMP);
	/* Extended label types and over-long names. */
	memcpy(p, q, 12);
	memcpy(p + 12,
	       "\x41"
	       "abc\x00\x00\x01\x00\x01",
	       9);
	ask(cfg, p, 21, false, out, &r);
	assert_int_equal(r.rcode, DNS_R_FORMERR);
	uint8_t big[400];
	memcpy(big, q, 12);
	size_t o = 12;
	for (int i = 0; i < 5; i++) {
		big[o++] = 63;
		memset(big + o, 'a', 63);
		o += 63;
	}
	big[o++] = 0;
	memcpy(big + o, "\x00\x01\x00\x01", 4);
	ask(cfg, big, o + 4, false, out, &r);
	assert_int_equal(r.rcode, DNS_R_FORMERR);
	free(cfg);
}

static void test_config(void **state)
{
	(void)state;
	struct dnsbl_cfg *cfg = malloc(sizeof(*cfg));
	struct feeds_rbl_conf c;
	static char *zones[] = {"bl.test"};
	static char *ns[] = {"localhost"};
	char *codes[1];
	char err[256];
	memset(&c, 0, sizeof(c));
	c.dnsbl_zones = (struct rn_strlist){zones, 1};
	c.dnsbl_ns = (struct rn_strlist){ns, 1};
	c.dnsbl_codes = (struct rn_strlist){codes, 1};
	const char *bad[] = {"spam_source=127.0.0.1", "spam_source=127.255.255.254",
	                     "spam_source=127.0.1.2", "nosuch=127.0.0.2",
	                     "spam_source",           "spam_source=10.0.0.2"};
	for (size_t i = 0; i < RN_ARRAY_LEN(bad); i++) {
		codes[0] = (char *)bad[i];
		RN_FAILS_WITH(dnsbl_cfg_build(cfg, &c, err, sizeof(err)), RN_ECONF);
	}
	codes[0] = "drop=127.0.0.255";
	RN_PASS(dnsbl_cfg_build(cfg, &c, err, sizeof(err)));
	assert_int_equal(dnsbl_code(cfg, 1u << RN_CAT_DROP), 255);
	/* A category without a code answers 127.0.0.2. */
	assert_int_equal(dnsbl_code(cfg, 1u << RN_CAT_SCANNER), 2);
	char t[300];
	dnsbl_txt_expand("a $ b %c %% %x $", "192.0.2.1", 1u << RN_CAT_DROP | 1u << 1, t,
	                 sizeof(t));
	assert_string_equal(t, "a 192.0.2.1 b spam_source,drop % %x 192.0.2.1");
	/* Cut at 255 bytes. */
	char longt[600];
	memset(longt, '$', 599);
	longt[599] = '\0';
	assert_int_equal(dnsbl_txt_expand(longt, "192.0.2.1", 0, t, sizeof(t)), 255);
	free(cfg);
}

RN_TEST_MAIN_GROUP(setup, teardown, test_listed_a_txt, test_test_points_and_negative,
                   test_apex_refused, test_edns, test_malformed, test_config)
