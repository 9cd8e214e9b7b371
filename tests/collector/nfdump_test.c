/*
 * nfdump_test.c: exact decoding against nfdump. For every softflowd export
 * in tests/data/netflow/, the multiset of (src, sport, dst, dport, proto,
 * packets, bytes) that repnet decodes must equal the one nfdump 1.7.1
 * printed (decoded-*.txt, parsed here), and the totals must equal nfdump's
 * statistics (decoded-*.stat), sequence failures included.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/flow.h"
#include "src/common/sections.h"
#include "test.h"

struct tuples {
	char **v;
	size_t n, cap;
};

static void tuples_add(struct tuples *t, const char *s)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 4096;
		t->v = realloc(t->v, t->cap * sizeof(*t->v));
		assert_non_null(t->v);
	}
	t->v[t->n] = strdup(s);
	assert_non_null(t->v[t->n]);
	t->n++;
}

static void tuples_free(struct tuples *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i]);
	free(t->v);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * nfdump 1.7.1 does not read icmpTypeCodeIPv6 (IE 139) in NetFlow v9, which
 * softflowd's v9 ICMPv6 template (2049) uses, and prints type.code 0.0
 * there; it does read it in IPFIX. With zero_icmp6 set, our ICMPv6 type and
 * code are set aside for the comparison and recorded in icmp6 instead, so
 * the test can check them against the IPFIX export of the same traffic.
 */
struct decoded {
	struct tuples t;
	bool zero_icmp6;
	struct tuples icmp6;
};

static void on_rec(void *arg, const struct collector_flow_rec *r, size_t n)
{
	struct decoded *dd = arg;
	struct tuples *t = &dd->t;
	for (size_t i = 0; i < n; i++) {
		char s[RN_ADDR_STRLEN], d[RN_ADDR_STRLEN], line[256];
		unsigned dport = r[i].dport;
		rn_addr_format(&r[i].src, s, sizeof(s));
		rn_addr_format(&r[i].dst, d, sizeof(d));
		if (r[i].proto == 58) {
			snprintf(line, sizeof(line), "%s|%s|%u", s, d, dport);
			tuples_add(&dd->icmp6, line);
			if (dd->zero_icmp6)
				dport = 0;
		}
		snprintf(line, sizeof(line), "%s|%u|%s|%u|%u|%llu|%llu", s, r[i].sport, d, dport,
		         r[i].proto, (unsigned long long)r[i].packets,
		         (unsigned long long)r[i].bytes);
		tuples_add(t, line);
	}
}

/*
 * nfdump prints "a.b.c.d:port" for IPv4 and "v6addr.port" for IPv6; for
 * ICMP the port is "type.code", which is type << 8 | code.
 */
static void split_endpoint(const char *tok, unsigned proto, char *addr, size_t alen, unsigned *port)
{
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", tok);
	bool v6 = strchr(buf, ':') != strrchr(buf, ':');
	bool icmp = proto == 1 || proto == 58;
	char *p;
	if (!v6) {
		p = strrchr(buf, ':');
		assert_non_null(p);
		*p++ = '\0';
	} else {
		p = strrchr(buf, '.');
		assert_non_null(p);
		*p = '\0';
		if (icmp) {
			/* "addr.type.code": one more dot belongs to the port. */
			char *q = strrchr(buf, '.');
			if (q != NULL && strchr(q, ':') == NULL) {
				*p = '.';
				*q = '\0';
				p = q;
			}
		}
		p++;
	}
	unsigned a = 0, b = 0;
	if (icmp && strchr(p, '.') != NULL) {
		assert_int_equal(sscanf(p, "%u.%u", &a, &b), 2);
		*port = a << 8 | b;
	} else {
		assert_int_equal(sscanf(p, "%u", &a), 1);
		*port = a;
	}
	struct rn_addr x;
	assert_int_equal(rn_addr_parse_str(buf, &x), RN_OK);
	rn_addr_format(&x, addr, alen);
}

static void nfdump_load(const char *path, struct tuples *t)
{
	FILE *f = fopen(path, "r");
	char line[512];
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		char date[32], tod[32], dur[32], src[128], arrow[8], dst[128], flags[16];
		unsigned proto, tos;
		unsigned long long pk, by;
		if (sscanf(line, "%31s %31s %31s %u %127s %7s %127s %15s %u %llu %llu", date, tod,
		           dur, &proto, src, arrow, dst, flags, &tos, &pk, &by) != 11)
			continue;
		char sa[RN_ADDR_STRLEN], da[RN_ADDR_STRLEN], out[256];
		unsigned sp, dp;
		split_endpoint(src, proto, sa, sizeof(sa), &sp);
		split_endpoint(dst, proto, da, sizeof(da), &dp);
		snprintf(out, sizeof(out), "%s|%u|%s|%u|%u|%llu|%llu", sa, sp, da, dp, proto, pk,
		         by);
		tuples_add(t, out);
	}
	fclose(f);
}

static unsigned long long stat_get(const char *path, const char *key)
{
	FILE *f = fopen(path, "r");
	char line[256];
	unsigned long long v = ~0ULL;
	size_t kl = strlen(key);
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, kl) == 0 && line[kl] == ':')
			v = strtoull(line + kl + 1, NULL, 10);
	fclose(f);
	assert_true(v != ~0ULL);
	return v;
}

static void decode(const char *name, struct decoded *dd, struct collector_flow_totals *t)
{
	char pcap[512];
	struct daemon_conf c;
	struct rn_conf_error err;
	snprintf(pcap, sizeof(pcap), "%s/netflow/export-softflowd-%s.pcap", REPNET_TEST_DATA, name);
	RN_PASS(daemon_conf_load(&c, NULL, NULL, &err));
	struct collector_flow_rec_sink rs = {.rec = on_rec, .arg = dd};
	RN_PASS(collector_flow_pcap(pcap, &c.collector.flow, false, &rs, NULL, t));
	daemon_conf_release(&c);
}

static void check_export(const char *name)
{
	char txt[512], stat[512];
	snprintf(txt, sizeof(txt), "%s/netflow/decoded-softflowd-%s.txt", REPNET_TEST_DATA, name);
	snprintf(stat, sizeof(stat), "%s/netflow/decoded-softflowd-%s.stat", REPNET_TEST_DATA,
	         name);

	struct decoded dd = {.zero_icmp6 = strcmp(name, "v9") == 0};
	struct tuples theirs = {0};
	struct tuples ours;
	struct collector_flow_totals t;
	decode(name, &dd, &t);
	ours = dd.t;
	nfdump_load(txt, &theirs);

	assert_int_equal(ours.n, theirs.n);
	qsort(ours.v, ours.n, sizeof(*ours.v), cmp_str);
	qsort(theirs.v, theirs.n, sizeof(*theirs.v), cmp_str);
	size_t diffs = 0;
	for (size_t i = 0; i < ours.n; i++) {
		if (strcmp(ours.v[i], theirs.v[i]) != 0 && diffs++ < 5)
			print_error("%s: ours %s, nfdump %s\n", name, ours.v[i], theirs.v[i]);
	}
	assert_int_equal(diffs, 0);

	assert_int_equal(t.records, stat_get(stat, "Flows"));
	assert_int_equal(t.packets, stat_get(stat, "Packets"));
	assert_int_equal(t.bytes, stat_get(stat, "Bytes"));
	assert_int_equal(t.sequence_gaps, stat_get(stat, "Sequence failures"));
	assert_int_equal(t.unknown_template + t.truncated + t.bad_length + t.bad_template +
	                         t.bad_version,
	                 0);
	assert_int_equal(t.not_flow, 0);
	if (dd.zero_icmp6) {
		/* Our v9 ICMPv6 type and code equal the IPFIX export's (nfdump: 128.0, 129.0). */
		struct decoded ip = {0};
		struct collector_flow_totals t2;
		decode("ipfix", &ip, &t2);
		assert_int_equal(dd.icmp6.n, 2);
		assert_int_equal(ip.icmp6.n, dd.icmp6.n);
		qsort(dd.icmp6.v, dd.icmp6.n, sizeof(char *), cmp_str);
		qsort(ip.icmp6.v, ip.icmp6.n, sizeof(char *), cmp_str);
		for (size_t i = 0; i < dd.icmp6.n; i++)
			assert_string_equal(dd.icmp6.v[i], ip.icmp6.v[i]);
		tuples_free(&ip.t);
		tuples_free(&ip.icmp6);
	}
	tuples_free(&ours);
	tuples_free(&dd.icmp6);
	tuples_free(&theirs);
}

static void test_v5(void **state)
{
	(void)state;
	check_export("v5");
}

static void test_v9(void **state)
{
	(void)state;
	check_export("v9");
}

static void test_ipfix(void **state)
{
	(void)state;
	check_export("ipfix");
}

RN_TEST_MAIN(test_v5, test_v9, test_ipfix)
