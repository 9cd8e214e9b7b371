/*
 * flow_decode_bench.c: in-process decode rate of the flow decoders, in
 * records per second on one core, for NetFlow v5, v9 and IPFIX datagrams
 * shaped like the peer generator's (nfgen: 30 records per v5/v9 datagram,
 * 25 per IPFIX, 18 fields), and for softflowd's real exports. With
 * --detect the records also go through the flow detectors.
 *
 * usage: flow_decode_bench [--detect] [SECONDS per case, default 2]
 * env: MP=N sets flow.detect.max_pending; BENCH_V9_FIRST=1 runs v9 first.
 * Not a test: it prints figures, by wall time and by this thread's CPU time
 * (steadier on a shared machine). Pin it (taskset -c 1) and note the load.
 */
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collector/flow.h"
#include "collector/flow_detect.h"
#include "src/common/sections.h"

#define NPKT 1024

static uint8_t pkts[NPKT][1500];
static size_t plen[NPKT];
static size_t npkts;
static uint64_t seen;
static struct flow_detect *det;

static void on_rec(void *arg, const struct collector_flow_rec *r, size_t n)
{
	(void)arg;
	seen += n;
	if (det != NULL)
		flow_detect_feed(det, r, n);
}

static uint64_t rng = 88172645463325252ULL;
static uint64_t xr(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint8_t *p8(uint8_t *p, uint8_t v)
{
	*p = v;
	return p + 1;
}
static uint8_t *p16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}
static uint8_t *p32(uint8_t *p, uint32_t v)
{
	return p16(p16(p, (uint16_t)(v >> 16)), (uint16_t)v);
}
static uint8_t *p64(uint8_t *p, uint64_t v)
{
	return p32(p32(p, (uint32_t)(v >> 32)), (uint32_t)v);
}

static const uint16_t tmpl[18][2] = {{8, 4},  {12, 4}, {7, 2},  {11, 2}, {4, 1}, {6, 1},
                                     {5, 1},  {10, 2}, {14, 2}, {2, 4},  {1, 4}, {22, 4},
                                     {21, 4}, {15, 4}, {16, 2}, {17, 2}, {9, 1}, {13, 1}};

/* Datagrams like nfgen's; the first carries the template. */
static void build(int ver)
{
	uint32_t secs = 1768471200, up = 100000;
	npkts = NPKT;
	for (size_t k = 0; k < NPKT; k++) {
		uint8_t *b = pkts[k], *p = b;
		int nrec = ver == 10 ? 25 : 30;
		if (ver == 5) {
			p = p16(p, 5), p = p16(p, 30), p = p32(p, up), p = p32(p, secs),
			p = p32(p, 0);
			p = p32(p, (uint32_t)(k * 30)), p = p8(p, 0), p = p8(p, 1), p = p16(p, 0);
			for (int i = 0; i < nrec; i++) {
				uint64_t r = xr();
				p = p32(p, 0xc6120000u + (uint32_t)(r % 65536)),
				p = p32(p, (uint32_t)r);
				p = p32(p, 0x0a000001), p = p16(p, 1), p = p16(p, 2);
				p = p32(p, 1 + (uint32_t)(r >> 40) % 100),
				p = p32(p, 40 + (uint32_t)(r >> 32) % 100000);
				p = p32(p, up - 1000), p = p32(p, up);
				p = p16(p, (uint16_t)(1024 + (r >> 16) % 60000)),
				p = p16(p, (r & 1) ? 25 : 443);
				p = p8(p, 0), p = p8(p, 0x1b), p = p8(p, (r & 2) ? 6 : 17),
				p = p8(p, 0);
				p = p16(p, 64512), p = p16(p, 64513), p = p8(p, 24), p = p8(p, 24),
				p = p16(p, 0);
			}
			plen[k] = (size_t)(p - b);
			continue;
		}
		bool ipfix = ver == 10;
		uint8_t *hdr = p;
		if (ipfix)
			p = p16(p, 10), p = p16(p, 0), p = p32(p, secs),
			p = p32(p, (uint32_t)(k * 25)), p = p32(p, 1);
		else
			p = p16(p, 9), p = p16(p, 0), p = p32(p, up), p = p32(p, secs),
			p = p32(p, (uint32_t)k), p = p32(p, 1);
		if (k == 0) {
			uint8_t *fs = p;
			p = p16(p, ipfix ? 2 : 0), p = p16(p, 0), p = p16(p, 256), p = p16(p, 18);
			for (int i = 0; i < 18; i++) {
				uint16_t ie = tmpl[i][0], len = tmpl[i][1];
				if (ipfix && ie == 22)
					ie = 152, len = 8;
				if (ipfix && ie == 21)
					ie = 153, len = 8;
				p = p16(p, ie), p = p16(p, len);
			}
			p16(fs + 2, (uint16_t)(p - fs));
		}
		uint8_t *ds = p;
		p = p16(p, 256), p = p16(p, 0);
		for (int i = 0; i < nrec; i++) {
			uint64_t r = xr();
			p = p32(p, 0xc6120000u + (uint32_t)(r % 65536)), p = p32(p, (uint32_t)r);
			p = p16(p, (uint16_t)(1024 + (r >> 16) % 60000)),
			p = p16(p, (r & 1) ? 25 : 443);
			p = p8(p, (r & 2) ? 6 : 17), p = p8(p, 0x1b), p = p8(p, 0), p = p16(p, 1),
			p = p16(p, 2);
			p = p32(p, 1 + (uint32_t)(r >> 40) % 100),
			p = p32(p, 40 + (uint32_t)(r >> 32) % 100000);
			if (ipfix)
				p = p64(p, (uint64_t)secs * 1000 - 1000),
				p = p64(p, (uint64_t)secs * 1000);
			else
				p = p32(p, up - 1000), p = p32(p, up);
			p = p32(p, 0x0a000001), p = p16(p, 64512), p = p16(p, 64513), p = p8(p, 24),
			p = p8(p, 24);
		}
		while ((p - ds) % 4)
			*p++ = 0;
		p16(ds + 2, (uint16_t)(p - ds));
		p16(hdr + 2, ipfix ? (uint16_t)(p - b) : (uint16_t)(nrec + (k == 0)));
		plen[k] = (size_t)(p - b);
	}
}

static void load_pcap(const char *path)
{
	char eb[PCAP_ERRBUF_SIZE];
	pcap_t *pc = pcap_open_offline(path, eb);
	struct pcap_pkthdr *h;
	const u_char *d;
	npkts = 0;
	if (pc == NULL) {
		fprintf(stderr, "%s: %s\n", path, eb);
		exit(1);
	}
	while (pcap_next_ex(pc, &h, &d) == 1 && npkts < NPKT) {
		struct pkt_info pi;
		if (pkt_parse(PKT_LINK_ETHER, d, h->caplen, &pi) != RN_OK || pi.payload == NULL ||
		    pi.payload_len > sizeof(pkts[0]))
			continue;
		memcpy(pkts[npkts], pi.payload, pi.payload_len);
		plen[npkts++] = pi.payload_len;
	}
	pcap_close(pc);
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* This thread's CPU time: on a shared machine, less noisy than wall time. */
static double cpu_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void run(const char *name, const struct collector_flow_conf *fc, double secs)
{
	struct flow_dec_conf dc;
	struct flow_exporters *x;
	struct flow_dec *d;
	struct collector_flow_rec_sink s = {.rec = on_rec};
	struct flow_origin o = {.port = 2055, .recv_ms = 1768471200000};
	collector_flow_dec_conf(fc, &dc);
	rn_addr_set_v4(&o.addr, 0x7f000001);
	if (flow_exporters_alloc(&x, 16, NULL, NULL) != RN_OK ||
	    flow_dec_alloc(&d, &dc, x, &s) != RN_OK)
		exit(1);
	/* Templates first, untimed. */
	for (size_t k = 0; k < npkts; k++)
		(void)flow_dec_datagram(d, &o, pkts[k], plen[k]);
	seen = 0;
	uint64_t dgrams = 0;
	double t0 = now_s(), t1, c0 = cpu_s();
	do {
		for (size_t k = 0; k < npkts; k++)
			(void)flow_dec_datagram(d, &o, pkts[k], plen[k]);
		dgrams += npkts;
		t1 = now_s();
	} while (t1 - t0 < secs);
	double dt = t1 - t0, used = cpu_s() - c0;
	printf("%-22s %12.0f records/s %10.0f datagrams/s %12.0f records/cpu-s %7.1f ns/record\n",
	       name, (double)seen / dt, (double)dgrams / dt, (double)seen / used,
	       used * 1e9 / (double)seen);
	flow_dec_free(d);
	flow_exporters_free(x);
}

int main(int argc, char **argv)
{
	struct daemon_conf c;
	struct rn_conf_error err;
	bool detect = false;
	double secs = 2;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--detect") == 0)
			detect = true;
		else
			secs = atof(argv[i]);
	}
	if (secs <= 0 || secs > 60)
		secs = 2;
	if (daemon_conf_load(&c, NULL, NULL, &err) != RN_OK)
		return 1;
	c.collector.flow.max_pending =
	        getenv("MP") ? atoi(getenv("MP")) : c.collector.flow.max_pending;
	if (detect && flow_detect_alloc(&det, &c.collector.flow, NULL, NULL, NULL) != RN_OK)
		return 1;
	printf("flow_decode_bench: one core, %s\n", detect ? "decode + detectors" : "decode only");
	if (getenv("BENCH_V9_FIRST") != NULL) {
		build(9);
		run("nfgen-like v9 (first)", &c.collector.flow, secs);
	}
	build(5);
	run("nfgen-like v5", &c.collector.flow, secs);
	build(9);
	run("nfgen-like v9", &c.collector.flow, secs);
	build(10);
	run("nfgen-like ipfix", &c.collector.flow, secs);
	const char *names[] = {"v5", "v9", "ipfix"};
	for (int i = 0; i < 3; i++) {
		char path[512], label[64];
		snprintf(path, sizeof(path), "%s/netflow/export-softflowd-%s.pcap",
		         REPNET_TEST_DATA, names[i]);
		load_pcap(path);
		snprintf(label, sizeof(label), "softflowd %s", names[i]);
		run(label, &c.collector.flow, secs);
	}
	flow_detect_free(det);
	daemon_conf_release(&c);
	return 0;
}
