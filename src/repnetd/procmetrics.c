/*
 * procmetrics.c: process_* metrics from /proc/self.
 *
 * Design notes: the values are read when /metrics is scraped, by the HTTP
 * thread, into stack buffers; nothing is cached, so there is no state to
 * lock. /proc/self/stat is parsed after the last ')' because the command
 * name may contain anything. A file that cannot be read or parsed yields 0
 * and a debug line, never a failed scrape. The start time is the boot time
 * from /proc/stat plus the process's start in clock ticks, as the Go and
 * Python client libraries compute it.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fdlimit.h"
#include "procmetrics.h"

enum { PM_CPU, PM_RSS, PM_VSZ, PM_START };

/* Reads a whole small /proc file into buf; returns its length or -1. */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t n = 0;
	for (int i = 0; i < 8 && n + 1 < cap; i++) {
		ssize_t r = read(fd, buf + n, cap - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	return (ssize_t)n;
}

/* Reads one decimal field; advances *p past it and the blanks after. */
static int next_u64(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
	const uint8_t *s = *p;
	uint64_t v = 0;
	if (s < end && *s == '-') /* signed fields (priority, nice) */
		s++;
	if (s >= end || *s < '0' || *s > '9')
		return RN_EPARSE;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - 9) / 10)
			return RN_EPARSE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	while (s < end && *s == ' ')
		s++;
	*p = s;
	*out = v;
	return RN_OK;
}

int procmetrics_parse_stat(const uint8_t *buf, size_t len, struct procmetrics_stat *out)
{
	const uint8_t *rp = NULL;
	for (size_t i = 0; i < len; i++)
		if (buf[i] == ')')
			rp = buf + i;
	if (rp == NULL || (size_t)(rp - buf) + 4 > len)
		return RN_EPARSE;
	const uint8_t *p = rp + 1, *end = buf + len;
	/* After ") ": field 3 is the state letter, then numbers from field 4. */
	if (*p != ' ')
		return RN_EPARSE;
	p++;
	if (p + 2 > end || p[1] != ' ')
		return RN_EPARSE;
	p += 2;
	memset(out, 0, sizeof(*out));
	for (int field = 4; field <= 24; field++) {
		uint64_t v;
		if (next_u64(&p, end, &v) != RN_OK)
			return RN_EPARSE;
		switch (field) {
		case 14:
			out->utime = v;
			break;
		case 15:
			out->stime = v;
			break;
		case 22:
			out->starttime = v;
			break;
		case 23:
			out->vsize = v;
			break;
		case 24:
			out->rss = v;
			break;
		default:
			break;
		}
	}
	return RN_OK;
}

static double boot_time(void)
{
	char buf[8192];
	ssize_t n = read_small("/proc/stat", buf, sizeof(buf));
	if (n <= 0)
		return 0;
	const char *b = strstr(buf, "\nbtime ");
	return b == NULL ? 0 : strtod(b + 7, NULL);
}

static double m_stat(void *arg)
{
	char buf[1024];
	struct procmetrics_stat st;
	ssize_t n = read_small("/proc/self/stat", buf, sizeof(buf));
	if (n <= 0 || procmetrics_parse_stat((const uint8_t *)buf, (size_t)n, &st) != RN_OK) {
		log_debug("process metrics: cannot read /proc/self/stat");
		return 0;
	}
	double tck = (double)sysconf(_SC_CLK_TCK);
	switch ((int)(intptr_t)arg) {
	case PM_CPU:
		return (double)(st.utime + st.stime) / tck;
	case PM_RSS:
		return (double)st.rss * (double)sysconf(_SC_PAGESIZE);
	case PM_VSZ:
		return (double)st.vsize;
	case PM_START:
		return boot_time() + (double)st.starttime / tck;
	default:
		return 0;
	}
}

static double m_open_fds(void *arg)
{
	(void)arg;
	return (double)fd_count_open();
}

static double m_max_fds(void *arg)
{
	(void)arg;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return 0;
	return (double)rl.rlim_cur;
}

int procmetrics_register(struct rn_metrics *m, const void *owner)
{
	static const struct {
		const char *name, *help;
		enum rn_metric_type type;
		double (*fn)(void *);
		intptr_t arg;
	} t[] = {
	        {"process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
	         RN_METRIC_COUNTER, m_stat, PM_CPU},
	        {"process_resident_memory_bytes", "Resident memory size in bytes.", RN_METRIC_GAUGE,
	         m_stat, PM_RSS},
	        {"process_virtual_memory_bytes", "Virtual memory size in bytes.", RN_METRIC_GAUGE,
	         m_stat, PM_VSZ},
	        {"process_start_time_seconds",
	         "Start time of the process since unix epoch in seconds.", RN_METRIC_GAUGE, m_stat,
	         PM_START},
	        {"process_open_fds", "Number of open file descriptors.", RN_METRIC_GAUGE,
	         m_open_fds, 0},
	        {"process_max_fds", "Maximum number of open file descriptors.", RN_METRIC_GAUGE,
	         m_max_fds, 0},
	};
	int rc = RN_OK;
	for (size_t i = 0; i < RN_ARRAY_LEN(t) && rc == RN_OK; i++)
		rc = rn_metrics_func(m, owner, t[i].name, t[i].help, t[i].type, NULL, t[i].fn,
		                     (void *)t[i].arg);
	return rc;
}
