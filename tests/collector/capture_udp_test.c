/*
 * capture_udp_test.c: the recvmmsg capture on loopback: datagrams are lent
 * with their source, the socket buffer's overflow is counted through
 * SO_RXQ_OVFL, and every datagram sent is either received or counted as
 * dropped.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "collector/capture.h"
#include "test.h"

static int sender(unsigned port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(0x7f000001);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static void test_recv_and_drops(void **state)
{
	(void)state;
	struct capture *c;
	struct capture_pkt pkts[64];
	uint8_t msg[1200];
	size_t n, got = 0;
	const size_t sent = 2000;

	/* The smallest buffer the key allows, so that a burst overflows it. */
	RN_PASS(capture_udp_open(&c, "127.0.0.1:0", 65536, 64));
	unsigned port = capture_udp_port(c);
	assert_true(port > 0);
	int fd = sender(port);
	for (size_t i = 0; i < sent; i++) {
		memset(msg, (int)(i & 0xff), sizeof(msg));
		assert_int_equal(send(fd, msg, sizeof(msg), 0), (ssize_t)sizeof(msg));
	}
	for (int idle = 0; idle < 3;) {
		RN_PASS(capture_recv(c, pkts, RN_ARRAY_LEN(pkts), &n, 200));
		if (n == 0) {
			idle++;
			continue;
		}
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(pkts[i].len, sizeof(msg));
			assert_int_equal(pkts[i].addr.family, RN_AF_INET);
			assert_int_equal(pkts[i].addr.u.v4, 0x7f000001);
			assert_true(pkts[i].port > 0);
		}
		capture_release(c, pkts, n);
		got += n;
	}
	/*
	 * The kernel stamps each datagram with the socket's drop count when it
	 * is queued, so the drops of the burst are learned from the next one.
	 */
	assert_int_equal(send(fd, msg, sizeof(msg), 0), (ssize_t)sizeof(msg));
	n = 0;
	for (int i = 0; i < 20 && n == 0; i++)
		RN_PASS(capture_recv(c, pkts, RN_ARRAY_LEN(pkts), &n, 200));
	assert_int_equal(n, 1);
	capture_release(c, pkts, n);
	got += n;
	uint64_t drops = rn_counter_get(&c->stats.drops);
	print_message("received %zu, dropped %llu of %zu\n", got, (unsigned long long)drops,
	              sent + 1);
	assert_true(drops > 0); /* 2000 x 1200 bytes do not fit in 64 KiB */
	assert_int_equal(got + drops, sent + 1);
	assert_int_equal(rn_counter_get(&c->stats.packets), got);
	close(fd);
	capture_close(c);
}

static void test_bad_listen(void **state)
{
	(void)state;
	struct capture *c;
	RN_FAILS(capture_udp_open(&c, "not-an-address", 65536, 4));
	RN_FAILS(capture_udp_open(&c, "192.0.2.1:9", 65536, 4)); /* not ours: bind fails */
}

RN_TEST_MAIN(test_recv_and_drops, test_bad_listen)
