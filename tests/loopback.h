/*
 * loopback.h: TCP clients of the servers under test, each from a source
 * address of its choice (127.0.0.x), so that tests can be many clients.
 * Include after test.h.
 */
#ifndef REPNET_TEST_LOOPBACK_H
#define REPNET_TEST_LOOPBACK_H

#include <errno.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

/*
 * Connects to 127.0.0.1:port from src. Blocking: connected, or the test
 * fails. With nonblock the connection may still be in progress (EINPROGRESS).
 */
static inline int rn_test_dial(const char *src, unsigned port, bool nonblock)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	assert_int_equal(inet_pton(AF_INET, src, &a.sin_addr), 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	a.sin_port = htons((uint16_t)port);
	assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &a.sin_addr), 1);
	int rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
	assert_true(rc == 0 || (nonblock && errno == EINPROGRESS));
	return fd;
}

#endif /* REPNET_TEST_LOOPBACK_H */
