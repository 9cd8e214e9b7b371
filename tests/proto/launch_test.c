/*
 * launch_test.c: the helpers' processes and the launcher (proto/launch.c):
 * the request decoder refuses anything but its 8 bytes; a helper started
 * directly is stopped at EOF, or killed when it ignores EOF; and, as root,
 * the launcher drops to nobody, starts a helper holding exactly that
 * helper's capabilities, hands over its socket and pidfd, and exits on a
 * request for a helper it was not given, which repnetd then sees.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

static void test_req_decode(void **state)
{
	(void)state;
	uint8_t ok[8] = {'R', 'N', 'L', 'Q', 1, RN_HELPER_CAPTURE, 0, 0};
	uint8_t buf[9], kind = 0;
	RN_PASS(rn_launch_req_decode(ok, 8, &kind));
	assert_int_equal(kind, RN_HELPER_CAPTURE);
	RN_FAILS_WITH(rn_launch_req_decode(ok, 7, &kind), RN_EPARSE);
	memcpy(buf, ok, 8);
	buf[8] = 0;
	RN_FAILS_WITH(rn_launch_req_decode(buf, 9, &kind), RN_EPARSE); /* a trailing byte */
	for (int i = 0; i < 8; i++) {
		memcpy(buf, ok, 8);
		buf[i] ^= 0x80;
		RN_FAILS(rn_launch_req_decode(buf, 8, &kind));
	}
	memcpy(buf, ok, 8);
	buf[4] = 2;
	RN_FAILS_WITH(rn_launch_req_decode(buf, 8, &kind), RN_EVERSION);
	for (int k = 0; k < 256; k++) {
		memcpy(buf, ok, 8);
		buf[5] = (uint8_t)k;
		int rc = rn_launch_req_decode(buf, 8, &kind);
		assert_int_equal(rc, k >= 1 && k < RN_HELPER_KINDS ? RN_OK : RN_EPARSE);
	}
}

static bool alive(pid_t pid)
{
	return kill(pid, 0) == 0;
}

static void test_direct(void **state)
{
	(void)state;
	/* Reads its descriptor 3 until EOF, then exits. */
	char *reader[] = {"/bin/sh", "-c", "cat <&3 >/dev/null", NULL};
	struct rn_helper h;
	RN_PASS(rn_helper_spawn(RN_HELPER_NFSYNC, reader, &h));
	assert_true(h.child);
	assert_true(h.pid > 0 && h.sock >= 0);
	pid_t pid = h.pid;
	rn_helper_stop(&h, 10000);
	assert_int_equal(h.pid, -1);
	assert_int_equal(h.sock, -1);
	assert_false(alive(pid)); /* exited and reaped */
	/* Ignores EOF: killed once the wait runs out. */
	char *deaf[] = {"/bin/sleep", "60", NULL};
	RN_PASS(rn_helper_spawn(RN_HELPER_NFSYNC, deaf, &h));
	pid = h.pid;
	RN_FAILS_WITH(rn_helper_wait(&h, 50), -ETIMEDOUT);
	rn_helper_stop(&h, 50);
	assert_false(alive(pid));
	/* Not a program: an error, nothing left open. */
	char *none[] = {"/nonexistent/repnet-helper", NULL};
	RN_FAILS(rn_helper_spawn(RN_HELPER_NFSYNC, none, &h));
	assert_int_equal(h.sock, -1);
}

/* A line "Name:\tvalue" of /proc/PID/status, as text. */
static void status_field(pid_t pid, const char *name, char *out, size_t len)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	out[0] = '\0';
	size_t nl = strlen(name);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, name, nl) == 0 && line[nl] == ':') {
			char *v = line + nl + 1;
			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = '\0';
			snprintf(out, len, "%s", v);
		}
	fclose(f);
}

static void test_launcher(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		print_message("launcher: skipped, needs root\n");
		skip();
	}
	struct rn_priv_user u;
	if (rn_priv_user_lookup("nobody", &u) != RN_OK) {
		print_message("launcher: skipped, no user nobody\n");
		skip();
	}
	char *reader[] = {"/bin/sh", "-c", "cat <&3 >/dev/null", NULL};
	struct rn_launcher_opts o = {.path = REPNET_BINARY_DIR "/repnet-launch",
	                             .user = &u,
	                             .argv = {[RN_HELPER_NFSYNC] = reader},
	                             .foreground = true,
	                             .log_level = RN_LOG_NOTICE};
	struct rn_launcher *l = NULL;
	RN_PASS(rn_launcher_start(&l, &o));
	struct rn_launcher_status st;
	rn_launcher_status(l, &st);
	assert_true(st.up);
	char v[128], want[64];
	snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", (unsigned)u.uid, (unsigned)u.uid,
	         (unsigned)u.uid, (unsigned)u.uid);
	status_field(st.pid, "Uid", v, sizeof(v));
	assert_string_equal(v, want);
	status_field(st.pid, "CapEff", v, sizeof(v));
	assert_string_equal(v, "0000000000001000"); /* CAP_NET_ADMIN alone */
	status_field(st.pid, "NoNewPrivs", v, sizeof(v));
	assert_string_equal(v, "1");

	rn_launcher_use(l);
	/* The command line is the launcher's own, whatever the caller passes. */
	char *ignored[] = {"/bin/false", NULL};
	struct rn_helper h;
	RN_PASS(rn_helper_spawn(RN_HELPER_NFSYNC, ignored, &h));
	assert_false(h.child);
	assert_true(h.pid > 0 && h.sock >= 0 && h.pidfd >= 0);
	/*
	 * Between fork and exec the child runs with every signal blocked; read
	 * its status once it is the helper (sh, or the cat sh may exec into),
	 * bounded.
	 */
	bool helper = false;
	for (int i = 0; i < 1000 && !helper; i++) {
		status_field(h.pid, "Name", v, sizeof(v));
		helper = strcmp(v, "sh") == 0 || strcmp(v, "cat") == 0;
		if (!helper)
			usleep(10000);
	}
	assert_true(helper);
	status_field(h.pid, "PPid", v, sizeof(v));
	assert_int_equal(atoi(v), st.pid);
	status_field(h.pid, "Uid", v, sizeof(v));
	assert_string_equal(v, want);
	status_field(h.pid, "CapEff", v, sizeof(v));
	assert_string_equal(v, "0000000000001000");
	status_field(h.pid, "CapAmb", v, sizeof(v));
	assert_string_equal(v, "0000000000001000");
	/*
	 * The launcher blocks SIGCHLD for its signalfd; its helpers get the
	 * mask it was given. The helper here is a shell, which blocks every
	 * signal for a moment around each fork of its own: a mask left to it
	 * by the launcher would show at every reading, so one clean reading
	 * in a bounded number decides.
	 */
	for (int i = 0; i < 200; i++) {
		status_field(h.pid, "SigBlk", v, sizeof(v));
		if (strcmp(v, "0000000000000000") == 0)
			break;
		usleep(5000);
	}
	assert_string_equal(v, "0000000000000000");
	pid_t hp = h.pid;
	rn_helper_stop(&h, 10000); /* EOF; the launcher reaps it */
	for (int i = 0; i < 100 && alive(hp); i++)
		usleep(20000);
	assert_false(alive(hp));

	/* A helper it was not given: the launcher exits, and says nothing more. */
	RN_FAILS(rn_helper_spawn(RN_HELPER_CAPTURE, ignored, &h));
	rn_launcher_status(l, &st);
	assert_false(st.up);
	assert_int_equal(st.started, 1);
	assert_int_equal(st.failed, 1);
	RN_FAILS_WITH(rn_helper_spawn(RN_HELPER_NFSYNC, ignored, &h), -EPIPE);
	pid_t lp = st.pid;
	rn_launcher_stop(l); /* reaps it */
	assert_false(alive(lp));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_req_decode),
	        cmocka_unit_test(test_direct),
	        cmocka_unit_test(test_launcher),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
