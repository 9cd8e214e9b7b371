/*
 * addr_test.c: addresses, prefixes and host:port parsing.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "test.h"

static struct rn_addr A(const char *s) {
	struct rn_addr a;
	if (rn_addr_parse_str(s, &a) != RN_OK)
		fail_msg("cannot parse %s", s);
	return a;
}

static void
test_parse_v4(void **state)
{
	(void)state;
	struct rn_addr a;
	RN_PASS(rn_addr_parse_str("192.0.2.1", &a));
	assert_int_equal(a.family, RN_AF_INET);
	assert_int_equal(a.u.v4, 0xC0000201u);
	RN_PASS(rn_addr_parse_str("0.0.0.0", &a));
	assert_int_equal(a.u.v4, 0);
	RN_PASS(rn_addr_parse_str("255.255.255.255", &a));
	assert_int_equal(a.u.v4, 0xffffffffu);

	static const char *const bad[] = {"",         "1.2.3",     "1.2.3.4.5", "256.1.1.1",
	                                  "01.2.3.4", "1.2.3.4 ",  " 1.2.3.4",  "1..2.3",
	                                  "1.2.3.-4", "1.2.3.4/8", "0x1.2.3.4", "1.2.3.4%eth0"};
	for (size_t i = 0; i < RN_ARRAY_LEN(bad); i++)
		RN_FAILS_WITH(rn_addr_parse_str(bad[i], &a), RN_EPARSE);
}

static void test_parse_v6(void **state)
{
	(void)state;
	struct rn_addr a;
	RN_PASS(rn_addr_parse_str("2001:db8::1", &a));
	assert_int_equal(a.family, RN_AF_INET6);
	assert_int_equal(a.u.v6[0], 0x20);
	assert_int_equal(a.u.v6[15], 1);
	RN_PASS(rn_addr_parse_str("::", &a));
	assert_int_equal(a.family, RN_AF_INET6);
	RN_PASS(rn_addr_parse_str("::1", &a));
	RN_PASS(rn_addr_parse_str("2001:DB8:0:0:0:0:0:1", &a));
	RN_PASS(rn_addr_parse_str("64:ff9b::192.0.2.33", &a));
	assert_int_equal(a.family, RN_AF_INET6);
	assert_int_equal(a.u.v6[15], 33);

	/* IPv4-mapped addresses fold to IPv4, so a host has one key. */
	RN_PASS(rn_addr_parse_str("::ffff:192.0.2.7", &a));
	assert_int_equal(a.family, RN_AF_INET);
	assert_true(
	        rn_addr_equal(&a, &(struct rn_addr){.family = RN_AF_INET, .u.v4 = 0xC0000207u}));
	RN_PASS(rn_addr_parse_str("::ffff:c000:207", &a));
	assert_int_equal(a.family, RN_AF_INET);

	static const char *const bad[] = {
	        ":",          ":::",          "1::2::3",           "12345::",
	        "fe80::1%lo", "::g",          "1:2:3:4:5:6:7:8:9", "[::1]",
	        "::1/128",    "1:2:3:4:5:6:7"};
	for (size_t i = 0; i < RN_ARRAY_LEN(bad); i++)
		RN_FAILS_WITH(rn_addr_parse_str(bad[i], &a), RN_EPARSE);
}

static void test_parse_bounds(void **state)
{
	(void)state;
	struct rn_addr a;
	/* A buffer that is not NUL-terminated is read only up to len. */
	const uint8_t buf[] = {'1', '.', '2', '.', '3', '.', '4', '5', '6'};
	RN_PASS(rn_addr_parse(buf, 7, &a));
	assert_int_equal(a.u.v4, 0x01020304u);
	RN_PASS(rn_addr_parse(buf, 8, &a));
	assert_int_equal(a.u.v4, 0x0102032du);
	RN_FAILS(rn_addr_parse(buf, 9, &a));
	RN_FAILS(rn_addr_parse(buf, 0, &a));
	char longs[200];
	memset(longs, '1', sizeof(longs));
	RN_FAILS(rn_addr_parse((const uint8_t *)longs, sizeof(longs), &a));
}

static void test_format_roundtrip(void **state)
{
	(void)state;
	static const char *const in[] = {
	        "0.0.0.0", "1.2.3.4",   "255.255.255.255",      "2001:db8::1",      "::",
	        "::1",     "fe80::1:2", "2001:db8:0:1:1:1:1:1", "64:ff9b::c000:221"};
	for (size_t i = 0; i < RN_ARRAY_LEN(in); i++) {
		char out[RN_ADDR_STRLEN];
		struct rn_addr a = A(in[i]);
		size_t n = rn_addr_format(&a, out, sizeof(out));
		assert_int_equal(n, strlen(in[i]));
		assert_string_equal(out, in[i]);
	}
	/* Too small a buffer gives nothing rather than a truncated address. */
	char small[4];
	struct rn_addr a = A("10.0.0.1");
	assert_int_equal(rn_addr_format(&a, small, sizeof(small)), 0);
	assert_string_equal(small, "");
}

/* Random addresses: format, reparse, and agree with inet_ntop. */
static void test_random_roundtrip(void **state)
{
	(void)state;
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	for (int i = 0; i < 20000; i++) {
		uint8_t b[16];
		for (int j = 0; j < 16; j += 8) {
			uint64_t r = rn_test_rand(&seed);
			memcpy(b + j, &r, 8);
		}
		/* Make runs of zeros common so "::" compression is exercised. */
		uint64_t z = rn_test_rand(&seed);
		for (int j = 0; j < 8; j++)
			if (z >> (j * 2) & 1)
				b[j * 2] = b[j * 2 + 1] = 0;
		struct rn_addr a, back;
		if (i % 2)
			rn_addr_from_bytes(&a, b, 4);
		else
			rn_addr_set_v6(&a, b);
		char s[RN_ADDR_STRLEN], ref[INET6_ADDRSTRLEN];
		assert_true(rn_addr_format(&a, s, sizeof(s)) > 0);
		RN_PASS(rn_addr_parse_str(s, &back));
		assert_true(rn_addr_equal(&a, &back));
		uint8_t bytes[16];
		size_t n = rn_addr_to_bytes(&a, bytes);
		inet_ntop(n == 4 ? AF_INET : AF_INET6, bytes, ref, sizeof(ref));
		assert_string_equal(s, ref);
	}
}

static void test_prefix(void **state)
{
	(void)state;
	struct rn_prefix p;
	char out[RN_PREFIX_STRLEN];
	RN_PASS(rn_prefix_parse_str("192.0.2.0/24", true, &p));
	assert_int_equal(p.len, 24);
	assert_true(rn_prefix_contains(&p, &(struct rn_addr){.family = 4, .u.v4 = 0xC00002FFu}));
	assert_false(rn_prefix_contains(&p, &(struct rn_addr){.family = 4, .u.v4 = 0xC0000300u}));
	RN_FAILS(rn_prefix_parse_str("192.0.2.1/24", true, &p));
	RN_PASS(rn_prefix_parse_str("192.0.2.1/24", false, &p));
	rn_prefix_format(&p, out, sizeof(out));
	assert_string_equal(out, "192.0.2.0/24");
	RN_PASS(rn_prefix_parse_str("10.1.2.3", true, &p));
	assert_int_equal(p.len, 32);
	RN_PASS(rn_prefix_parse_str("0.0.0.0/0", true, &p));
	assert_int_equal(p.len, 0);
	RN_PASS(rn_prefix_parse_str("2001:db8::/32", true, &p));
	assert_int_equal(p.len, 32);
	struct rn_addr in6 = A("2001:db8:ffff::1");
	assert_true(rn_prefix_contains(&p, &in6));
	RN_PASS(rn_prefix_parse_str("2001:db8:1:2:3::/65", false, &p));
	rn_prefix_format(&p, out, sizeof(out));
	assert_string_equal(out, "2001:db8:1:2::/65");
	RN_PASS(rn_prefix_parse_str("::ffff:10.0.0.0/104", true, &p));
	assert_int_equal(p.addr.family, RN_AF_INET);
	assert_int_equal(p.len, 8);

	static const char *const bad[] = {"1.2.3.4/33", "1.2.3.4/",   "1.2.3.4/08",  "/8",
	                                  "::/129",     "1.2.3.4/-1", "1.2.3.4/8/8", "1.2.3.4/1a"};
	for (size_t i = 0; i < RN_ARRAY_LEN(bad); i++)
		RN_FAILS(rn_prefix_parse_str(bad[i], false, &p));

	struct rn_prefix a, b;
	RN_PASS(rn_prefix_parse_str("10.0.0.0/8", true, &a));
	RN_PASS(rn_prefix_parse_str("10.1.0.0/16", true, &b));
	assert_true(rn_prefix_overlaps(&a, &b));
	assert_true(rn_prefix_overlaps(&b, &a));
	RN_PASS(rn_prefix_parse_str("11.0.0.0/16", true, &b));
	assert_false(rn_prefix_overlaps(&a, &b));
}

static void test_special(void **state)
{
	(void)state;
	struct rn_prefix_list l = {0};
	RN_PASS(rn_prefix_list_add_special(&l));
	static const char *const special[] = {
	        "127.0.0.1",      "10.20.30.40", "192.0.2.55", "198.51.100.1",   "203.0.113.9",
	        "198.19.255.255", "100.64.1.1",  "::1",        "2001:db8::25",   "fe80::1",
	        "ff02::1",        "fd00::1",     "224.0.0.1",  "255.255.255.255"};
	static const char *const public[] = {"8.8.8.8", "1.1.1.1", "2a00:1450::1", "198.20.0.1",
	                                     "100.128.0.1"};
	for (size_t i = 0; i < RN_ARRAY_LEN(special); i++) {
		struct rn_addr a = A(special[i]);
		if (!rn_prefix_list_contains(&l, &a))
			fail_msg("%s should be special-purpose", special[i]);
	}
	for (size_t i = 0; i < RN_ARRAY_LEN(public); i++) {
		struct rn_addr a = A(public[i]);
		if (rn_prefix_list_contains(&l, &a))
			fail_msg("%s should not be special-purpose", public[i]);
	}
	rn_prefix_list_clear(&l);
	rn_prefix_list_clear(&l);
}

static void test_hostport(void **state)
{
	(void)state;
	struct sockaddr_storage ss;
	unsigned len;
	char out[64];
	RN_PASS(rn_hostport_parse("127.0.0.1:5514", &ss, &len));
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	rn_sockaddr_format(&ss, out, sizeof(out));
	assert_string_equal(out, "127.0.0.1:5514");
	RN_PASS(rn_hostport_parse("[::1]:0", &ss, &len));
	assert_int_equal(ss.ss_family, AF_INET6);
	rn_sockaddr_format(&ss, out, sizeof(out));
	assert_string_equal(out, "[::1]:0");
	static const char *const bad[] = {"127.0.0.1",    "127.0.0.1:",     "127.0.0.1:65536",
	                                  "::1:53",       "[127.0.0.1]:53", "[::1]53",
	                                  "host.test:53", "127.0.0.1:053",  "127.0.0.1:5x"};
	for (size_t i = 0; i < RN_ARRAY_LEN(bad); i++)
		RN_FAILS(rn_hostport_parse(bad[i], &ss, &len));
}

/* Loopback: addresses, host:port, socket addresses (v4-mapped folded), the list. */
static void test_loopback(void **state)
{
	(void)state;
	struct rn_addr a = A("127.9.8.7"), b = A("128.0.0.1"), c = A("::1"), d = A("::2");
	assert_true(rn_addr_is_loopback(&a));
	assert_false(rn_addr_is_loopback(&b));
	assert_true(rn_addr_is_loopback(&c));
	assert_false(rn_addr_is_loopback(&d));
	assert_true(rn_hostport_is_loopback("127.0.0.1:2055"));
	assert_true(rn_hostport_is_loopback("[::1]:0"));
	assert_true(rn_hostport_is_loopback("[::ffff:127.0.0.1]:53"));
	assert_false(rn_hostport_is_loopback("0.0.0.0:2055"));
	assert_false(rn_hostport_is_loopback("[::]:2055"));
	assert_false(rn_hostport_is_loopback("192.0.2.1:2055"));
	assert_false(rn_hostport_is_loopback("nonsense"));

	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(4739)};
	inet_pton(AF_INET6, "::ffff:192.0.2.9", &s6.sin6_addr);
	struct rn_addr x;
	uint16_t port = 0;
	RN_PASS(rn_addr_from_sockaddr(&x, &port, &s6));
	assert_int_equal(x.family, RN_AF_INET);
	assert_int_equal(x.u.v4, 0xc0000209u);
	assert_int_equal(port, 4739);
	struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(9)};
	s4.sin_addr.s_addr = htonl(0x7f000001u);
	RN_PASS(rn_addr_from_sockaddr(&x, NULL, &s4));
	assert_true(rn_addr_is_loopback(&x));
	struct sockaddr su = {.sa_family = AF_UNIX};
	RN_FAILS_WITH(rn_addr_from_sockaddr(&x, NULL, &su), RN_EUNSUPP);

	struct rn_prefix_list l = {0}, l2 = {0};
	RN_PASS(rn_prefix_list_add_loopback(&l));
	assert_int_equal(l.n, 2);
	assert_true(rn_prefix_list_contains(&l, &a));
	assert_true(rn_prefix_list_contains(&l, &c));
	assert_false(rn_prefix_list_contains(&l, &b));
	RN_PASS(rn_prefix_list_append(&l2, &l));
	RN_PASS(rn_prefix_list_append(&l2, &l));
	assert_int_equal(l2.n, 4);
	assert_true(rn_prefix_list_contains(&l2, &c));
	rn_prefix_list_clear(&l);
	rn_prefix_list_clear(&l2);
}

static void test_cmp(void **state)
{
	(void)state;
	struct rn_addr a = A("1.2.3.4"), b = A("1.2.3.5"), c = A("::1");
	assert_true(rn_addr_cmp(&a, &b) < 0);
	assert_true(rn_addr_cmp(&b, &a) > 0);
	assert_true(rn_addr_cmp(&a, &c) < 0);
	assert_int_equal(rn_addr_cmp(&a, &a), 0);
}

RN_TEST_MAIN(test_parse_v4, test_parse_v6, test_parse_bounds, test_format_roundtrip,
             test_random_roundtrip, test_prefix, test_special, test_hostport, test_cmp,
             test_loopback)
