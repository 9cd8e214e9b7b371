/*
 * flow_detect_test.c: the flow detectors on real exports and on
 * mirror-port traffic (tests/data/netflow/), and their spoofing and
 * bounds properties on synthetic records.
 *
 * traffic.pcap (gen_pcap.py) holds a SYN scan of 1024 ports by
 * 203.0.113.66, 40 SSH sessions by 203.0.113.77, 30 SMTP sessions from
 * 12 senders, DNS answers from 40 resolvers to 198.51.100.10, and a
 * one-way UDP flood from 203.0.113.200. softflowd's v5, v9 and IPFIX
 * exports of it must give the same findings as the packet meter.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/flow_detect.h"
#include "collector/pktmeter.h"
#include "src/common/sections.h"
#include "test.h"

struct obs_list {
	struct rn_obs v[4096];
	size_t n;
};

static void on_obs(void *arg, const struct rn_obs *o, size_t n)
{
	struct obs_list *l = arg;
	for (size_t i = 0; i < n && l->n < RN_ARRAY_LEN(l->v); i++)
		l->v[l->n++] = o[i];
}

static size_t count_kind(const struct obs_list *l, unsigned kind, const char *addr)
{
	size_t n = 0;
	for (size_t i = 0; i < l->n; i++) {
		char a[RN_ADDR_STRLEN];
		rn_addr_format(&l->v[i].addr, a, sizeof(a));
		if (l->v[i].kind == kind && (addr == NULL || strcmp(a, addr) == 0))
			n++;
	}
	return n;
}

static bool is_listing(unsigned kind)
{
	return kind != RN_KIND_SYN_ONLY && kind != RN_KIND_UDP_ONEWAY;
}

static void run_file(const char *file, bool mirror, struct obs_list *l)
{
	char path[512];
	struct daemon_conf c;
	struct rn_conf_error err;
	struct collector_sink sink = {.emit = on_obs, .arg = l};
	struct collector_flow_totals t;
	snprintf(path, sizeof(path), "%s/netflow/%s", REPNET_TEST_DATA, file);
	RN_PASS(daemon_conf_load(&c, NULL, NULL, &err));
	l->n = 0;
	RN_PASS(collector_flow_pcap(path, &c.collector.flow, mirror, NULL, &sink, &t));
	assert_int_equal(t.observations, l->n);
	daemon_conf_release(&c);
}

static void check_findings(const struct obs_list *l, const char *what)
{
	if (count_kind(l, RN_KIND_SCAN_VERTICAL, "203.0.113.66") != 1 ||
	    count_kind(l, RN_KIND_AUTH_BRUTEFORCE, "203.0.113.77") != 1 ||
	    count_kind(l, RN_KIND_AMPLIFICATION_VICTIM, "198.51.100.10") != 1 ||
	    count_kind(l, RN_KIND_UDP_ONEWAY, "203.0.113.200") != 1) {
		for (size_t i = 0; i < l->n; i++) {
			char a[RN_ADDR_STRLEN];
			rn_addr_format(&l->v[i].addr, a, sizeof(a));
			print_error("%s: %s %s %s\n", what, a, rn_kind_name(l->v[i].kind),
			            l->v[i].evidence);
		}
		fail();
	}
	/* Legitimate senders are no spray, and no one was sprayed. */
	assert_int_equal(count_kind(l, RN_KIND_SMTP_SPRAY, NULL), 0);
	/* The flood source is only ever context. */
	for (size_t i = 0; i < l->n; i++) {
		char a[RN_ADDR_STRLEN];
		rn_addr_format(&l->v[i].addr, a, sizeof(a));
		if (strcmp(a, "203.0.113.200") == 0)
			assert_false(is_listing(l->v[i].kind));
	}
	/* The resolvers answered: reflectors, not attackers. */
	assert_true(count_kind(l, RN_KIND_REFLECTOR, NULL) >= 30);
}

static void test_exports(void **state)
{
	(void)state;
	static struct obs_list l;
	const char *files[] = {"export-softflowd-v5.pcap", "export-softflowd-v9.pcap",
	                       "export-softflowd-ipfix.pcap"};
	for (size_t i = 0; i < RN_ARRAY_LEN(files); i++) {
		run_file(files[i], false, &l);
		check_findings(&l, files[i]);
	}
}

static void test_mirror(void **state)
{
	(void)state;
	static struct obs_list l;
	run_file("traffic.pcap", true, &l);
	check_findings(&l, "traffic.pcap (mirror)");
}

static struct collector_flow_conf conf_defaults(struct daemon_conf *c)
{
	struct rn_conf_error err;
	RN_PASS(daemon_conf_load(c, NULL, NULL, &err));
	return c->collector.flow;
}

static void rec_set(struct collector_flow_rec *r, uint32_t src, uint32_t dst, uint16_t sp,
                    uint16_t dp, uint8_t proto, uint8_t flags, uint64_t pk, uint64_t by, int64_t t)
{
	memset(r, 0, sizeof(*r));
	rn_addr_set_v4(&r->src, src);
	rn_addr_set_v4(&r->dst, dst);
	r->sport = sp;
	r->dport = dp;
	r->proto = proto;
	r->tcp_flags = flags;
	r->packets = pk;
	r->bytes = by;
	r->first_ms = r->last_ms = t;
	r->source = RN_SRC_NETFLOW_V9;
}

/*
 * Spoofing: one-way records, whatever their number, never produce a
 * listing kind; the same source with completed handshakes does.
 */
static void test_spoofing(void **state)
{
	(void)state;
	static struct obs_list l;
	struct daemon_conf c;
	struct collector_flow_conf fc = conf_defaults(&c);
	struct collector_sink sink = {.emit = on_obs, .arg = &l};
	struct flow_detect *d;
	struct collector_flow_rec r;
	uint64_t seed = 7;
	int64_t t = 1768471200000;

	l.n = 0;
	RN_PASS(flow_detect_alloc(&d, &fc, &sink, NULL, NULL));
	/* 2000 SYNs to SMTP servers and 2000 UDP probes, all from "victim". */
	for (int i = 0; i < 2000; i++) {
		uint32_t dst = 0xc6330000u | (uint32_t)(rn_test_rand(&seed) & 0xffff);
		rec_set(&r, 0xcb007107, dst, (uint16_t)(1024 + i), 25, 6, 0x02, 1, 40, t + i);
		flow_detect_feed(d, &r, 1);
		rec_set(&r, 0xcb007107, dst, (uint16_t)(2000 + i), (uint16_t)(i % 60000 + 1), 17, 0,
		        1, 80, t + i);
		flow_detect_feed(d, &r, 1);
	}
	flow_detect_flush(d);
	assert_true(l.n >= 2);
	for (size_t i = 0; i < l.n; i++)
		assert_false(is_listing(l.v[i].kind));
	assert_int_equal(count_kind(&l, RN_KIND_SYN_ONLY, "203.0.113.7"), 1);
	assert_int_equal(count_kind(&l, RN_KIND_UDP_ONEWAY, "203.0.113.7"), 1);

	/* 25 completed SMTP conversations to distinct servers: a spray. */
	l.n = 0;
	for (int i = 0; i < 25; i++) {
		uint32_t dst = 0xc6336400u + (uint32_t)i;
		int64_t at = t + 10000 + i * 10;
		rec_set(&r, 0xcb007108, dst, (uint16_t)(30000 + i), 25, 6, 0x1b, 12, 900, at);
		flow_detect_feed(d, &r, 1);
		rec_set(&r, dst, 0xcb007108, 25, (uint16_t)(30000 + i), 6, 0x1b, 10, 800, at);
		flow_detect_feed(d, &r, 1);
	}
	flow_detect_flush(d);
	assert_int_equal(count_kind(&l, RN_KIND_SMTP_SPRAY, "203.0.113.8"), 1);
	flow_detect_free(d);
	daemon_conf_release(&c);
}

/*
 * State is bounded: small caps, many sources; evictions are counted. SYN
 * floods from 20000 addresses push waiting records out; completed SMTP
 * conversations from 20000 addresses push per-address state out.
 */
static void test_bounds(void **state)
{
	(void)state;
	static struct obs_list l;
	struct daemon_conf c;
	struct collector_flow_conf fc = conf_defaults(&c);
	struct collector_sink sink = {.emit = on_obs, .arg = &l};
	struct flow_detect *d;
	struct collector_flow_rec r;
	fc.max_sources = 64;
	fc.max_pending = 64;
	l.n = 0;
	RN_PASS(flow_detect_alloc(&d, &fc, &sink, NULL, NULL));
	for (uint32_t i = 0; i < 20000; i++) {
		rec_set(&r, 0x0a000000u + i, 0xc0000201, 1000, 25, 6, 0x02, 1, 40,
		        1768471200000 + i);
		flow_detect_feed(d, &r, 1);
		rec_set(&r, 0x0b000000u + i, 0xc0000202, 1000, 25, 6, 0x1b, 10, 800,
		        1768471200000 + i);
		r.flags = COLLECTOR_FLOW_BIFLOW;
		r.rev_packets = 8;
		r.rev_bytes = 900;
		r.rev_tcp_flags = 0x1b;
		flow_detect_feed(d, &r, 1);
	}
	flow_detect_flush(d);
	const struct flow_detect_stats *s = flow_detect_stats(d);
	assert_true(rn_counter_get(&s->pending_evicted) > 19000);
	assert_true(rn_counter_get(&s->sources_evicted) > 19000);
	assert_true(rn_counter_get(&s->completed) == 20000);
	assert_true(rn_gauge_get(&s->sources) <= 64);
	assert_int_equal(rn_gauge_get(&s->pending), 0);
	/* One destination each: neither spray nor anything listed. */
	for (size_t i = 0; i < l.n; i++)
		assert_false(is_listing(l.v[i].kind));
	flow_detect_free(d);
	daemon_conf_release(&c);
}

RN_TEST_MAIN(test_exports, test_mirror, test_spoofing, test_bounds)
