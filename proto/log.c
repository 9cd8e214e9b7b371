/*
 * log.c: logging to stderr or syslog.
 *
 * Design notes: the level lives in one atomic int that the log_*() macros
 * read before evaluating their arguments. rn_log_init() may be called
 * again on reload; the destination flag is atomic, and syslog(3) and
 * stdio are themselves thread-safe. Each stderr line is formatted into a
 * local buffer and written with one write(2), so lines from several
 * threads never interleave.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "proto/proto.h"

_Atomic int rn_log_level_current = RN_LOG_INFO;
static _Atomic bool log_foreground = true;
static char log_ident[32] = "repnet";

static const char *const level_names[] = {
        [RN_LOG_ERR] = "err",   [RN_LOG_WARNING] = "warning", [RN_LOG_NOTICE] = "notice",
        [RN_LOG_INFO] = "info", [RN_LOG_DEBUG] = "debug",
};

void rn_log_init(const char *ident, bool foreground, int level)
{
	if (ident != NULL) {
		snprintf(log_ident, sizeof(log_ident), "%s", ident);
	}
	if (!foreground)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	atomic_store(&log_foreground, foreground);
	rn_log_set_level(level);
}

void rn_log_set_level(int level)
{
	if (level < RN_LOG_ERR)
		level = RN_LOG_ERR;
	if (level > RN_LOG_DEBUG)
		level = RN_LOG_DEBUG;
	atomic_store(&rn_log_level_current, level);
}

int rn_log_level_parse(const char *name, int *level)
{
	for (int i = RN_LOG_ERR; i <= RN_LOG_DEBUG; i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*level = i;
			return RN_OK;
		}
	}
	return RN_EPARSE;
}

const char *rn_log_level_name(int level)
{
	if (level < RN_LOG_ERR || level > RN_LOG_DEBUG)
		return "unknown";
	return level_names[level];
}

void rn_log_vemit(int level, bool with_errno, const char *fmt, va_list ap)
{
	int saved = errno;
	char msg[1024];
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(msg))
		n = (int)sizeof(msg) - 1;
	if (with_errno) {
		const char *es = strerrordesc_np(saved);
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s",
		         es != NULL ? es : "unknown error");
	}

	if (!atomic_load(&log_foreground)) {
		syslog(level, "%s", msg);
		errno = saved;
		return;
	}
	char ts[RN_TIME_STRLEN];
	rn_time_format(rn_time_now_ms(), true, ts, sizeof(ts));
	char line[1200];
	int m = snprintf(line, sizeof(line), "%s %s[%d] %s: %s\n", ts, log_ident, (int)getpid(),
	                 rn_log_level_name(level), msg);
	if (m > 0) {
		size_t len = (size_t)m < sizeof(line) ? (size_t)m : sizeof(line) - 1;
		if ((size_t)m >= sizeof(line))
			line[len - 1] = '\n';
		ssize_t w = write(STDERR_FILENO, line, len);
		(void)w;
	}
	errno = saved;
}

void rn_log_emit(int level, bool with_errno, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rn_log_vemit(level, with_errno, fmt, ap);
	va_end(ap);
}

void rn_log_fatal(bool with_errno, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rn_log_vemit(RN_LOG_ERR, with_errno, fmt, ap);
	va_end(ap);
	exit(1);
}

bool rn_ratelimit_allow(struct rn_ratelimit *rl)
{
	int64_t now = rn_time_mono_ms() / 1000;
	int64_t interval = rl->interval_s ? rl->interval_s : 1;
	int64_t win = now / interval;
	int64_t old = atomic_load_explicit(&rl->window, memory_order_relaxed);
	if (win != old &&
	    atomic_compare_exchange_strong_explicit(&rl->window, &old, win, memory_order_relaxed,
	                                            memory_order_relaxed)) {
		uint32_t sup = atomic_exchange_explicit(&rl->suppressed, 0, memory_order_relaxed);
		atomic_store_explicit(&rl->used, 0, memory_order_relaxed);
		if (sup > 0)
			rn_log_emit(RN_LOG_NOTICE, false, "%u similar messages suppressed", sup);
	}
	uint32_t used = atomic_fetch_add_explicit(&rl->used, 1, memory_order_relaxed);
	if (used < rl->burst)
		return true;
	atomic_fetch_add_explicit(&rl->suppressed, 1, memory_order_relaxed);
	return false;
}
