/*
 * pktparse_test.c: the packet parser and the mirror-port meter on real
 * frames (tests/data/netflow/traffic.pcap) and on edge cases.
 */
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>

#include "collector/pktmeter.h"
#include "test.h"

static void test_vlan_v6_frag(void **state)
{
	(void)state;
	struct pkt_info pi;
	/* VLAN-tagged IPv4 UDP 53 -> 1000 */
	static const uint8_t vlan[] = {
	        0,    1,    2,    3, 4, 5,  6, 7,  8,    9,    10, 11, 0x81, 0x00, 0x00, 42,
	        0x08, 0x00, 0x45, 0, 0, 30, 0, 0,  0,    0,    64, 17, 0,    0,    10,   0,
	        0,    1,    10,   0, 0, 2,  0, 53, 0x03, 0xe8, 0,  10, 0,    0,    0xab, 0xcd};
	RN_PASS(pkt_parse(PKT_LINK_ETHER, vlan, sizeof(vlan), &pi));
	assert_int_equal(pi.vlan, 42);
	assert_int_equal(pi.proto, 17);
	assert_int_equal(pi.sport, 53);
	assert_int_equal(pi.dport, 1000);
	assert_int_equal(pi.payload_len, 2);
	/* Every truncation of it parses or fails cleanly. */
	for (size_t n = 0; n < sizeof(vlan); n++)
		(void)pkt_parse(PKT_LINK_ETHER, vlan, n, &pi);
	/* A non-first IPv4 fragment carries no ports. */
	static const uint8_t frag[] = {0x45, 0, 0,  28, 0, 0, 0x00, 0x10, 64, 17,  0, 0, 10, 0,
	                               0,    1, 10, 0,  0, 2, 0,    53,   3,  232, 0, 8, 0,  0};
	RN_PASS(pkt_parse(PKT_LINK_RAW, frag, sizeof(frag), &pi));
	assert_true(pi.fragment);
	assert_int_equal(pi.sport, 0);
	/* An IHL below 5 words is malformed. */
	uint8_t bad[sizeof(frag)];
	memcpy(bad, frag, sizeof(frag));
	bad[0] = 0x44;
	RN_FAILS_WITH(pkt_parse(PKT_LINK_RAW, bad, sizeof(bad), &pi), RN_EPARSE);
	/* ARP is not IP. */
	static const uint8_t arp[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x06, 0, 1};
	RN_FAILS_WITH(pkt_parse(PKT_LINK_ETHER, arp, sizeof(arp), &pi), RN_EUNSUPP);
}

struct cnt {
	size_t completed_smtp;
	size_t recs;
};

static void on_rec(void *arg, const struct collector_flow_rec *r, size_t n)
{
	struct cnt *c = arg;
	for (size_t i = 0; i < n; i++) {
		c->recs++;
		if ((r[i].flags & COLLECTOR_FLOW_COMPLETED) && r[i].dport == 25)
			c->completed_smtp++;
	}
}

/* The meter verifies the 30 + 10 SMTP handshakes in traffic.pcap. */
static void test_meter_traffic(void **state)
{
	(void)state;
	char path[512], eb[PCAP_ERRBUF_SIZE];
	struct cnt c = {0};
	struct collector_flow_rec_sink s = {.rec = on_rec, .arg = &c};
	struct pktmeter *pm;
	struct rn_metrics *m;
	snprintf(path, sizeof(path), "%s/netflow/traffic.pcap", REPNET_TEST_DATA);
	RN_PASS(rn_metrics_alloc(&m));
	RN_PASS(pktmeter_alloc(&pm, 4096, 30000, &s, m));
	pcap_t *p = pcap_open_offline(path, eb);
	assert_non_null(p);
	struct pcap_pkthdr *h;
	const u_char *d;
	size_t frames = 0;
	while (pcap_next_ex(p, &h, &d) == 1) {
		frames++;
		(void)pktmeter_frame(pm, PKT_LINK_ETHER, d, h->caplen,
		                     (int64_t)h->ts.tv_sec * 1000 + h->ts.tv_usec / 1000);
	}
	pcap_close(p);
	pktmeter_flush(pm);
	assert_int_equal(frames, 6986);
	const struct pktmeter_stats *st = pktmeter_stats(pm);
	assert_int_equal(rn_counter_get(&st->frames), frames);
	/* 30 IPv4 and 10 IPv6 SMTP sessions, plus the scan's probe of port 25. */
	assert_int_equal(rn_counter_get(&st->smtp_completed), 40);
	assert_int_equal(c.completed_smtp, 40);
	assert_true(rn_counter_get(&st->smtp_syn) >= 41);
	assert_true(rn_counter_get(&st->smtp_synack) >= 41);
	double v = -1;
	RN_PASS(rn_metrics_value(m, "repnet_mirror_smtp_handshakes_total", "stage=\"completed\"",
	                         &v));
	assert_true(v == 40);
	pktmeter_free(pm);
	rn_metrics_free(m);
}

RN_TEST_MAIN(test_vlan_v6_frag, test_meter_traffic)
