/*
 * connsrv_test.c: the connection server over real loopback sockets: a
 * line protocol answered over TCP and a unix socket (pipelined, split,
 * malformed), both kinds of handler (one that leaves partial lines in the
 * server's buffer, one that buffers them itself), the listener cap (a
 * newcomer from a client holding fewer connections displaces the oldest
 * of the client holding the most; one holding the most is refused), the
 * per-client cap, the message deadline that a trickle does not extend,
 * the idle timeout, a client that does not read its answers, an answer
 * larger than the output buffer sent from the heap, the accept
 * back-off when descriptors run out (counted in loop rounds and CPU time,
 * not in seconds), and the stop.
 *
 * Clients bind 127.0.0.x sources to be distinct clients. Every wait is on
 * a condition (an answer, an EOF, a counter), bounded in time.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "test.h"

#define WAIT_MS 10000 /* the bound of every wait */

struct fx {
	struct rn_metrics *m;
	struct rn_connsrv *s;
	unsigned port;
	char upath[64];
	bool buffered; /* the handler keeps partial lines itself */
	_Atomic int opens, closes;
	pthread_mutex_t mu;
	char got[4096]; /* lines handed over, in order (buffered handler) */
	size_t gotlen;
};

/* Per connection, for the buffered handler. */
struct bconn {
	char buf[128];
	size_t len;
};

static int h_open(void *arg, struct rn_conn *c)
{
	struct fx *f = arg;
	if (f->buffered) {
		struct bconn *b = calloc(1, sizeof(*b));
		if (b == NULL)
			return -ENOMEM;
		rn_conn_set_user(c, b);
	}
	atomic_fetch_add(&f->opens, 1);
	return RN_OK;
}

static void h_close(void *arg, struct rn_conn *c)
{
	struct fx *f = arg;
	free(rn_conn_user(c));
	atomic_fetch_add(&f->closes, 1);
}

#define BIG_LEN ((size_t)1 << 20)

/*
 * "ok LINE\n" for a line; a line starting with X is malformed; the line
 * "big" is answered "ok big\n" and BIG_LEN bytes from the heap.
 */
static int answer(struct fx *f, struct rn_conn *c, const uint8_t *line, size_t n)
{
	if (n > 0 && line[0] == 'X')
		return RN_EPARSE;
	if (n == 3 && memcmp(line, "big", 3) == 0) {
		uint8_t *big = malloc(BIG_LEN);
		if (big == NULL || rn_conn_write(c, "ok big\n", 7) != RN_OK) {
			free(big);
			return -ENOMEM;
		}
		memset(big, 'b', BIG_LEN - 1);
		big[BIG_LEN - 1] = '\n';
		assert_int_equal(rn_conn_send_heap(c, big, BIG_LEN), RN_OK);
		assert_int_equal(rn_conn_room(c), 0);
		uint8_t *again = malloc(1);
		assert_int_equal(rn_conn_send_heap(c, again, 1), RN_ESTATE);
		free(again);
		return RN_OK;
	}
	pthread_mutex_lock(&f->mu);
	if (f->gotlen + n + 1 < sizeof(f->got)) {
		memcpy(f->got + f->gotlen, line, n);
		f->gotlen += n;
		f->got[f->gotlen++] = '\n';
	}
	pthread_mutex_unlock(&f->mu);
	uint8_t *p = rn_conn_reserve(c, n + 4);
	if (p == NULL)
		return RN_ELIMIT;
	memcpy(p, "ok ", 3);
	memcpy(p + 3, line, n);
	p[n + 3] = '\n';
	rn_conn_commit(c, n + 4);
	return RN_OK;
}

static int h_data(void *arg, struct rn_conn *c, const uint8_t *in, size_t len, size_t *used)
{
	struct fx *f = arg;
	size_t off = 0;
	if (!f->buffered) {
		/* Whole lines only, while their answers fit. */
		for (;;) {
			const uint8_t *nl = memchr(in + off, '\n', len - off);
			if (nl == NULL)
				break;
			size_t n = (size_t)(nl - (in + off));
			if (rn_conn_room(c) < n + 4)
				break;
			int rc = answer(f, c, in + off, n);
			if (rc != RN_OK)
				return rc;
			off += n + 1;
		}
		*used = off;
		return RN_OK;
	}
	/* Everything, keeping the partial line. */
	struct bconn *b = rn_conn_user(c);
	unsigned done = 0;
	for (; off < len; off++) {
		if (in[off] != '\n') {
			if (b->len == sizeof(b->buf))
				return RN_EOVERLONG;
			b->buf[b->len++] = (char)in[off];
			continue;
		}
		int rc = answer(f, c, (const uint8_t *)b->buf, b->len);
		if (rc != RN_OK)
			return rc;
		b->len = 0;
		done++;
	}
	*used = len;
	rn_conn_progress(c, done, b->len > 0);
	return RN_OK;
}

/* Admits 127.0.0.1 only (test_admit). */
static int h_admit(void *arg, const struct rn_addr *peer, uint16_t port)
{
	(void)arg;
	return peer->family == RN_AF_INET && peer->u.v4 == 0x7f000001u && port != 0 ? RN_OK
	                                                                            : -EPERM;
}

struct opts {
	size_t max_conns, max_per_client, in_max, out_max;
	int64_t idle_ms, msg_ms, backoff_ms;
	bool buffered, with_unix, drain, admit;
};

static void fx_start(struct fx *f, const struct opts *o)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->mu, NULL);
	f->buffered = o->buffered;
	RN_PASS(rn_metrics_alloc(&f->m));
	struct rn_connsrv_conf conf = {
	        .name = "test",
	        .max_conns = o->max_conns ? o->max_conns : 16,
	        .max_per_client = o->max_per_client ? o->max_per_client : 16,
	        .idle_ms = o->idle_ms ? o->idle_ms : 60000,
	        .msg_ms = o->msg_ms ? o->msg_ms : 60000,
	        .in_max = o->in_max ? o->in_max : 256,
	        .out_max = o->out_max ? o->out_max : 1024,
	        .backoff_ms = o->backoff_ms,
	        .drain_on_stop = o->drain,
	        .ops = {.open = h_open, .data = h_data, .close = h_close},
	        .arg = f,
	};
	if (o->admit)
		conf.ops.admit = h_admit;
	RN_PASS(rn_connsrv_alloc(&f->s, &conf, f->m));
	struct rn_connsrv_listen tcp = {.name = "t", .hostport = "127.0.0.1:0"};
	RN_PASS(rn_connsrv_listen(f->s, &tcp, &f->port));
	assert_true(f->port > 0);
	if (o->with_unix) {
		snprintf(f->upath, sizeof(f->upath), "/tmp/repnet-connsrv-test.%d", (int)getpid());
		struct rn_connsrv_listen un = {.name = "tu", .unix_path = f->upath};
		RN_PASS(rn_connsrv_listen(f->s, &un, NULL));
	}
	RN_PASS(rn_connsrv_start(f->s));
}

static void fx_stop(struct fx *f)
{
	rn_connsrv_free(f->s);
	f->s = NULL;
	assert_int_equal(atomic_load(&f->opens), atomic_load(&f->closes));
	if (f->upath[0] != '\0')
		assert_int_equal(access(f->upath, F_OK), -1); /* the socket file is removed */
	rn_metrics_free(f->m);
	pthread_mutex_destroy(&f->mu);
}

static double metric(struct fx *f, const char *listener, const char *outcome)
{
	char lab[128];
	double v = -1;
	snprintf(lab, sizeof(lab), "listener=\"%s\",outcome=\"%s\"", listener, outcome);
	RN_PASS(rn_metrics_value(f->m, "repnet_connections_total", lab, &v));
	return v;
}

static double backoffs(struct fx *f)
{
	double v = -1;
	RN_PASS(rn_metrics_value(f->m, "repnet_accept_backoffs_total", "listener=\"t\"", &v));
	return v;
}

/* Waits until the counter reaches want; false after WAIT_MS. */
static bool wait_metric(struct fx *f, const char *outcome, double want)
{
	int64_t end = rn_time_mono_ms() + WAIT_MS;
	while (metric(f, "t", outcome) < want) {
		if (rn_time_mono_ms() > end)
			return false;
		rn_time_sleep_ms(2);
	}
	return true;
}

/* A TCP client from source address src (127.0.0.x); rcvbuf 0: the default. */
static int cli_buf(struct fx *f, const char *src, int rcvbuf)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	if (rcvbuf > 0)
		assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	assert_int_equal(inet_pton(AF_INET, src, &a.sin_addr), 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	a.sin_port = htons((uint16_t)f->port);
	assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &a.sin_addr), 1);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static int cli(struct fx *f, const char *src)
{
	return cli_buf(f, src, 0);
}

/* Connects from src and waits until the server has counted it accepted. */
static int cli_accepted(struct fx *f, const char *src)
{
	double before = metric(f, "t", "accepted");
	int fd = cli(f, src);
	assert_true(wait_metric(f, "accepted", before + 1));
	return fd;
}

static void say(int fd, const char *s)
{
	assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* Reads one line (with its LF) into buf; false on EOF, error or timeout. */
static bool read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	while (n + 1 < cap) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, WAIT_MS) != 1)
			return false;
		ssize_t k = recv(fd, buf + n, 1, 0);
		if (k <= 0)
			return false;
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = '\0';
	return true;
}

static void expect(int fd, const char *want)
{
	char buf[256];
	assert_true(read_line(fd, buf, sizeof(buf)));
	assert_string_equal(buf, want);
}

/* True when the server closes fd (EOF or reset) within WAIT_MS. */
static bool closed(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char c;
	if (poll(&p, 1, WAIT_MS) != 1)
		return false;
	ssize_t k = recv(fd, &c, 1, MSG_DONTWAIT);
	return k == 0 || (k < 0 && errno == ECONNRESET);
}

/* ---- tests -------------------------------------------------------------- */

static void echo(bool buffered)
{
	struct fx f;
	struct opts o = {.buffered = buffered, .with_unix = true};
	fx_start(&f, &o);
	int a = cli(&f, "127.0.0.1");
	say(a, "hello\nworld\n"); /* two in one write */
	expect(a, "ok hello\n");
	expect(a, "ok world\n");
	say(a, "par"); /* one in two writes */
	say(a, "t\n");
	expect(a, "ok part\n");

	int u = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", f.upath);
	assert_int_equal(connect(u, (struct sockaddr *)&sun, sizeof(sun)), 0);
	say(u, "unix\n");
	expect(u, "ok unix\n");

	/* Malformed: closed without an answer; the others go on. */
	say(a, "Xbad\n");
	assert_true(closed(a));
	say(u, "still\n");
	expect(u, "ok still\n");
	close(a);
	close(u);
	double v = -1;
	RN_PASS(rn_metrics_value(f.m, "repnet_connections_total",
	                         "listener=\"tu\",outcome=\"accepted\"", &v));
	assert_true(v == 1);
	assert_true(metric(&f, "t", "accepted") == 1);
	fx_stop(&f);
}

static void test_echo(void **state)
{
	(void)state;
	echo(false);
}

static void test_echo_buffered(void **state)
{
	(void)state;
	echo(true);
}

/*
 * An answer larger than the output buffer goes out from the heap, in
 * order, and the pipelined line after it is answered once it has gone; a
 * connection closed with one unsent frees it (ASan would see a leak).
 */
static void test_heap_answer(void **state)
{
	(void)state;
	struct fx f;
	struct opts o = {0};
	fx_start(&f, &o);
	int a = cli(&f, "127.0.0.1");
	say(a, "big\nafter\n");
	expect(a, "ok big\n");
	static char buf[BIG_LEN];
	size_t got = 0;
	while (got < BIG_LEN) {
		struct pollfd p = {.fd = a, .events = POLLIN};
		assert_int_equal(poll(&p, 1, WAIT_MS), 1);
		ssize_t k = recv(a, buf + got, BIG_LEN - got, 0);
		assert_true(k > 0);
		got += (size_t)k;
	}
	for (size_t i = 0; i < BIG_LEN - 1; i++)
		if (buf[i] != 'b')
			fail_msg("byte %zu of the heap answer is %d", i, buf[i]);
	assert_int_equal(buf[BIG_LEN - 1], '\n');
	expect(a, "ok after\n");
	/* Asked for and never read: closed with the heap answer unsent. */
	int b = cli_buf(&f, "127.0.0.2", 4096);
	say(b, "big\n");
	assert_true(wait_metric(&f, "accepted", 2));
	close(b);
	close(a);
	fx_stop(&f);
}

static void test_listener_cap(void **state)
{
	(void)state;
	struct fx f;
	struct opts o = {.max_conns = 3, .max_per_client = 10};
	fx_start(&f, &o);
	int a = cli_accepted(&f, "127.0.0.1");
	int b = cli_accepted(&f, "127.0.0.1");
	int c = cli_accepted(&f, "127.0.0.1");
	/* Full, and 127.0.0.1 holds the most: its newcomer is refused. */
	int d = cli(&f, "127.0.0.1");
	assert_true(closed(d));
	assert_true(metric(&f, "t", "refused") == 1);
	close(d);
	/* a is used: b's state is now the oldest of 127.0.0.1. */
	say(a, "a\n");
	expect(a, "ok a\n");
	/* A newcomer from a client with none is admitted, and b is closed. */
	int e = cli(&f, "127.0.0.2");
	say(e, "e\n");
	expect(e, "ok e\n");
	assert_true(closed(b));
	say(a, "a2\n");
	expect(a, "ok a2\n");
	say(c, "c\n");
	expect(c, "ok c\n");
	assert_true(metric(&f, "t", "evicted_full") == 1);
	assert_true(metric(&f, "t", "evicted_per_client") == 0);
	double open = -1;
	RN_PASS(rn_metrics_value(f.m, "repnet_connections_open", "listener=\"t\"", &open));
	assert_true(open == 3);
	close(a);
	close(b);
	close(c);
	close(e);
	fx_stop(&f);
}

/*
 * The admit hook turns a peer away before any cap: counted as denied, and
 * it displaces nobody, even when the server is full.
 */
static void test_admit(void **state)
{
	(void)state;
	struct fx f;
	struct opts o = {.max_conns = 1, .max_per_client = 1, .admit = true, .with_unix = true};
	fx_start(&f, &o);
	int a = cli_accepted(&f, "127.0.0.1");
	for (int i = 0; i < 3; i++) {
		int d = cli(&f, "127.0.0.2");
		assert_true(closed(d));
		close(d);
	}
	assert_true(wait_metric(&f, "denied", 3));
	assert_true(metric(&f, "t", "evicted_full") == 0);
	assert_true(metric(&f, "t", "accepted") == 1);
	assert_int_equal(atomic_load(&f.opens), 1);
	say(a, "a\n");
	expect(a, "ok a\n");
	/* Not asked for unix sockets. */
	int u = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f.upath);
	assert_int_equal(connect(u, (struct sockaddr *)&sa, sizeof(sa)), 0);
	say(u, "u\n");
	expect(u, "ok u\n");
	assert_true(metric(&f, "tu", "denied") == 0);
	close(u);
	close(a);
	fx_stop(&f);
}

static void test_client_cap(void **state)
{
	(void)state;
	struct fx f;
	struct opts o = {.max_conns = 10, .max_per_client = 2};
	fx_start(&f, &o);
	int a = cli_accepted(&f, "127.0.0.3");
	int b = cli_accepted(&f, "127.0.0.3");
	int other = cli_accepted(&f, "127.0.0.4");
	say(a, "a\n");
	expect(a, "ok a\n");
	/* A third from 127.0.0.3 closes its own oldest state (b), nobody else's. */
	int c = cli(&f, "127.0.0.3");
	say(c, "c\n");
	expect(c, "ok c\n");
	assert_true(closed(b));
	say(a, "a\n");
	expect(a, "ok a\n");
	say(other, "o\n");
	expect(other, "ok o\n");
	assert_true(metric(&f, "t", "evicted_per_client") == 1);
	assert_true(metric(&f, "t", "refused") == 0);
	close(a);
	close(b);
	close(c);
	close(other);
	fx_stop(&f);
}

/*
 * A client trickling one byte every 50 ms never completes its line: the
 * deadline (1 s) closes it although it is never silent for the idle
 * timeout (60 s). A client whose messages each take 50 ms stays open far
 * longer than the deadline: the deadline is per message.
 */
static void deadline(bool buffered)
{
	struct fx f;
	struct opts o = {.msg_ms = 1000, .idle_ms = 60000, .buffered = buffered};
	fx_start(&f, &o);
	int t = cli_accepted(&f, "127.0.0.5");
	int q = cli_accepted(&f, "127.0.0.6");
	bool shut = false;
	for (int i = 0; i < 400 && !shut; i++) { /* at most 20 s */
		if (send(t, "z", 1, MSG_NOSIGNAL) != 1)
			break;
		struct pollfd p = {.fd = t, .events = POLLIN};
		shut = poll(&p, 1, 50) == 1;
	}
	assert_true(shut || closed(t));
	assert_true(wait_metric(&f, "deadline_closed", 1));
	for (int i = 0; i < 30; i++) { /* at least 1.5 s in all */
		say(q, "half");
		rn_time_sleep_ms(50);
		say(q, "\n");
		expect(q, "ok half\n");
	}
	assert_true(metric(&f, "t", "deadline_closed") == 1);
	assert_true(metric(&f, "t", "idle_closed") == 0);
	close(t);
	close(q);
	fx_stop(&f);
}

static void test_deadline(void **state)
{
	(void)state;
	deadline(false);
}

static void test_deadline_buffered(void **state)
{
	(void)state;
	deadline(true);
}

/* A silent connection is closed after idle_ms; one inside a message is not. */
static void test_idle(void **state)
{
	(void)state;
	struct fx f;
	struct opts o = {.idle_ms = 200, .msg_ms = 60000};
	fx_start(&f, &o);
	int p = cli_accepted(&f, "127.0.0.7");
	say(p, "partial");
	int i = cli_accepted(&f, "127.0.0.8");
	assert_true(closed(i));
	assert_true(metric(&f, "t", "idle_closed") == 1);
	say(p, " line\n");
	expect(p, "ok partial line\n");
	close(i);
	close(p);
	fx_stop(&f);
}

/*
 * A client that sends without reading fills its socket buffers; the
 * server stops reading it, goes on serving others, and the deadline
 * closes it.
 */
static void test_no_reader(void **state)
{
	(void)state;
	struct fx f;
	struct opts o = {.in_max = 4096, .out_max = 4096, .msg_ms = 500};
	fx_start(&f, &o);
	int a = cli_buf(&f, "127.0.0.9", 4096);
	assert_true(wait_metric(&f, "accepted", 1));
	fcntl(a, F_SETFL, O_NONBLOCK);
	char chunk[4096];
	for (size_t i = 0; i < sizeof(chunk); i += 2)
		memcpy(chunk + i, "a\n", 2);
	bool stuck = false;
	for (int i = 0; i < 100000 && !stuck; i++) { /* at most 400 MB */
		ssize_t k = send(a, chunk, sizeof(chunk), MSG_NOSIGNAL);
		if (k >= 0)
			continue;
		if (errno != EAGAIN)
			break; /* already closed by the deadline */
		struct pollfd p = {.fd = a, .events = POLLOUT};
		stuck = poll(&p, 1, 200) == 0;
	}
	int b = cli(&f, "127.0.0.10");
	say(b, "b\n");
	expect(b, "ok b\n");
	assert_true(wait_metric(&f, "deadline_closed", 1));
	close(a);
	close(b);
	fx_stop(&f);
}

/* CPU time of the whole process (every thread), in ms. */
static int64_t cpu_ms(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

/*
 * With no descriptor left, accept fails with EMFILE: the listener pauses
 * (backoff_ms) instead of spinning on its pending connection. The window
 * is measured, not asserted: the rounds of the loop and the CPU time used
 * must stay far below what spinning for that long would give.
 */
static void test_emfile(void **state)
{
	(void)state;
	struct fx f;
	struct opts o = {.backoff_ms = 50};
	fx_start(&f, &o);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); /* made while we still can */
	assert_true(c >= 0);
	struct rlimit old, low;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	int lowest = open("/dev/null", O_RDONLY | O_CLOEXEC); /* the lowest free number */
	assert_true(lowest >= 0);
	close(lowest);
	low = old;
	low.rlim_cur = (rlim_t)lowest;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);

	int64_t t0 = rn_time_mono_ms(), c0 = cpu_ms();
	uint64_t w0 = rn_connsrv_wakeups(f.s);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f.port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int rc = connect(c, (struct sockaddr *)&a, sizeof(a));
	int64_t end = t0 + WAIT_MS;
	while (rc == 0 && backoffs(&f) < 10 && rn_time_mono_ms() < end)
		rn_time_sleep_ms(5);
	double nb = backoffs(&f);
	uint64_t w1 = rn_connsrv_wakeups(f.s);
	int64_t elapsed = rn_time_mono_ms() - t0, cpu = cpu_ms() - c0;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(rc, 0);
	print_message("emfile: %.0f pauses, %llu rounds, %lld ms CPU in %lld ms\n", nb,
	              (unsigned long long)(w1 - w0), (long long)cpu, (long long)elapsed);
	assert_true(nb >= 10);
	/* At most one pause per backoff_ms, two rounds per pause, and little CPU. */
	assert_true(nb <= (double)(elapsed / 50 + 2));
	assert_true(w1 - w0 <= 3 * (uint64_t)nb + 10);
	assert_true(cpu <= elapsed / 4 + 50);
	/* With descriptors again, the waiting connection is served. */
	say(c, "back\n");
	expect(c, "ok back\n");
	assert_true(metric(&f, "t", "accepted") == 1);
	close(c);
	fx_stop(&f);
}

/* Stop with connections open: what was sent is handed over, all are closed. */
static void test_stop(void **state)
{
	(void)state;
	struct fx f;
	struct opts o = {.buffered = true, .drain = true};
	fx_start(&f, &o);
	int a = cli_accepted(&f, "127.0.0.11");
	int b = cli_accepted(&f, "127.0.0.12");
	say(a, "last words\n");
	say(b, "unfinished");
	rn_connsrv_free(f.s);
	f.s = NULL;
	assert_true(strstr(f.got, "last words\n") != NULL);
	assert_int_equal(atomic_load(&f.opens), 2);
	assert_int_equal(atomic_load(&f.closes), 2);
	assert_true(closed(b));
	close(a);
	close(b);
	fx_stop(&f);
	rn_connsrv_free(NULL);
}

static void test_conf(void **state)
{
	(void)state;
	struct rn_connsrv *s;
	struct rn_connsrv_conf conf = {
	        .max_conns = 1, .max_per_client = 1, .idle_ms = 1, .msg_ms = 1, .in_max = 1};
	RN_FAILS_WITH(rn_connsrv_alloc(&s, &conf, NULL), RN_ECONF); /* no data handler */
	conf.ops.data = h_data;
	RN_PASS(rn_connsrv_alloc(&s, &conf, NULL));
	struct rn_connsrv_listen bad = {.name = "Bad-Name", .hostport = "127.0.0.1:0"};
	RN_FAILS_WITH(rn_connsrv_listen(s, &bad, NULL), RN_ECONF);
	struct rn_connsrv_listen both = {
	        .name = "x", .hostport = "127.0.0.1:0", .unix_path = "/tmp/x"};
	RN_FAILS_WITH(rn_connsrv_listen(s, &both, NULL), RN_ECONF);
	struct rn_connsrv_listen badhp = {.name = "x", .hostport = "localhost:1"};
	RN_FAILS(rn_connsrv_listen(s, &badhp, NULL));
	rn_connsrv_free(s); /* never started */
}

RN_TEST_MAIN(test_echo, test_echo_buffered, test_heap_answer, test_listener_cap, test_client_cap,
             test_deadline, test_deadline_buffered, test_idle, test_no_reader, test_emfile,
             test_stop, test_conf, test_admit)
