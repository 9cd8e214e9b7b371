/*
 * log_test.c: level filtering, stderr format, errno, rate limiting.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

static int evaluated;

static int side_effect(void)
{
	evaluated++;
	return 1;
}

/* Runs fn with stderr captured into buf. */
static size_t capture(void (*fn)(void), char *buf, size_t len)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	int saved = dup(STDERR_FILENO);
	dup2(p[1], STDERR_FILENO);
	close(p[1]);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	ssize_t n = read(p[0], buf, len - 1);
	close(p[0]);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	return (size_t)n;
}

static void emit_some(void)
{
	log_debug("debug %d", side_effect());
	log_info("info %d", side_effect());
	log_warnx("plain warning %d", 7);
	errno = ENOENT;
	log_warn("with errno");
}

static void test_levels(void **state)
{
	(void)state;
	char buf[4096];
	rn_log_init("logtest", true, RN_LOG_WARNING);
	evaluated = 0;
	capture(emit_some, buf, sizeof(buf));
	/* Disabled levels do not evaluate their arguments. */
	assert_int_equal(evaluated, 0);
	assert_null(strstr(buf, "debug"));
	assert_non_null(strstr(buf, "logtest["));
	assert_non_null(strstr(buf, "warning: plain warning 7\n"));
	assert_non_null(strstr(buf, "warning: with errno: No such file or directory\n"));

	rn_log_set_level(RN_LOG_DEBUG);
	capture(emit_some, buf, sizeof(buf));
	assert_int_equal(evaluated, 2);
	assert_non_null(strstr(buf, "debug: debug 1"));
	int lvl;
	RN_PASS(rn_log_level_parse("notice", &lvl));
	assert_int_equal(lvl, RN_LOG_NOTICE);
	RN_FAILS(rn_log_level_parse("loud", &lvl));
	assert_string_equal(rn_log_level_name(RN_LOG_INFO), "info");
}

static void emit_long(void)
{
	char big[3000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_warnx("%s", big);
}

static void test_long_line(void **state)
{
	(void)state;
	char buf[4096];
	rn_log_set_level(RN_LOG_WARNING);
	size_t n = capture(emit_long, buf, sizeof(buf));
	/* Truncated, but still one whole line. */
	assert_true(n < 1300);
	assert_int_equal(buf[n - 1], '\n');
	assert_null(memchr(buf, '\n', n - 1));
}

static void test_ratelimit(void **state)
{
	(void)state;
	struct rn_ratelimit rl = RN_RATELIMIT_INIT(5, 3600);
	int allowed = 0;
	for (int i = 0; i < 100; i++)
		allowed += rn_ratelimit_allow(&rl);
	assert_int_equal(allowed, 5);
	assert_int_equal(atomic_load(&rl.suppressed), 95);
}

RN_TEST_MAIN(test_levels, test_long_line, test_ratelimit)
