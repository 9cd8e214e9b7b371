/*
 * pcap_file_test.c: the collector's pcap reader (collector/pcap_file.c)
 * on the real captures of tests/data/netflow and on broken files.
 */
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector/flow.h"
#include "test.h"

#define NETFLOW REPNET_TEST_DATA "/netflow/"

/* softflowd's v9 export: 112 datagrams from 127.0.0.1:35231 to port 2056. */
static void test_export(void **state)
{
	(void)state;
	struct collector_pcap *r;
	struct collector_pcap_udp u;
	size_t n = 0;
	int64_t last = 0;
	int rc;

	RN_PASS(collector_pcap_open(&r, NETFLOW "export-softflowd-v9.pcap"));
	while ((rc = collector_pcap_next_udp(r, &u)) == 1) {
		assert_int_equal(u.src.family, RN_AF_INET);
		assert_int_equal(u.src.u.v4, 0x7f000001);
		assert_int_equal(u.sport, 35231);
		assert_int_equal(u.dport, 2056);
		assert_true(u.len >= 20);
		assert_int_equal(u.payload[0] << 8 | u.payload[1], 9);
		assert_true(u.ts_ms >= last);
		last = u.ts_ms;
		n++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(n, 112);
	assert_int_equal(collector_pcap_skipped(r), 0);
	/* The end stays the end. */
	assert_int_equal(collector_pcap_next_udp(r, &u), 0);
	collector_pcap_close(r);
	collector_pcap_close(NULL);
}

/* A mirror-port capture: every frame is either a datagram or skipped. */
static void test_mixed(void **state)
{
	(void)state;
	struct collector_pcap *r;
	struct collector_pcap_udp u;
	const uint8_t *frame;
	size_t len, frames = 0, udp = 0;
	int64_t ts;

	RN_PASS(collector_pcap_open(&r, NETFLOW "traffic.pcap"));
	assert_int_equal(flow_pcap_link(r), PKT_LINK_ETHER);
	while (flow_pcap_next_frame(r, &frame, &len, &ts) == 1)
		frames++;
	assert_int_equal(collector_pcap_skipped(r), 0);
	collector_pcap_close(r);

	RN_PASS(collector_pcap_open(&r, NETFLOW "traffic.pcap"));
	while (collector_pcap_next_udp(r, &u) == 1)
		udp++;
	/* tcpdump -r traffic.pcap: 6986 frames, 1260 of them UDP, none fragmented. */
	assert_int_equal(frames, 6986);
	assert_int_equal(udp, 1260);
	assert_int_equal(collector_pcap_skipped(r), frames - udp);
	collector_pcap_close(r);
}

static void test_broken(void **state)
{
	(void)state;
	struct collector_pcap *r = NULL;
	struct collector_pcap_udp u;
	char path[] = "/tmp/repnet-pcap-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);

	RN_FAILS_WITH(collector_pcap_open(&r, "/nonexistent/file.pcap"), RN_EPARSE);
	RN_FAILS_WITH(collector_pcap_open(&r, NETFLOW "decoded-softflowd-v9.txt"), RN_EPARSE);
	assert_null(r);

	/* A link type the parser does not know. */
	pcap_t *dead = pcap_open_dead(DLT_IEEE802_11, 65535);
	pcap_dumper_t *dump = pcap_dump_open(dead, path);
	assert_non_null(dump);
	pcap_dump_close(dump);
	pcap_close(dead);
	RN_FAILS_WITH(collector_pcap_open(&r, path), RN_EUNSUPP);

	/* Cut inside a frame: what came before is read, then RN_ETRUNC. */
	uint8_t *buf;
	size_t len, n = 0;
	int rc;
	RN_PASS(rn_file_read(NETFLOW "export-softflowd-v9.pcap", 1u << 20, &buf, &len));
	RN_PASS(rn_file_replace(path, buf, len / 2, 0600));
	free(buf);
	RN_PASS(collector_pcap_open(&r, path));
	while ((rc = collector_pcap_next_udp(r, &u)) == 1)
		n++;
	assert_int_equal(rc, RN_ETRUNC);
	assert_true(n > 0 && n < 112);
	collector_pcap_close(r);
	unlink(path);
}

RN_TEST_MAIN(test_export, test_mixed, test_broken)
