/*
 * demo_replay.c: repnet demo's traffic: the real Postfix and Exim logs sent
 * to repnetd's syslog TCP listener and the real softflowd NetFlow v9
 * export sent to its flow listener, with timestamps moved to now and the
 * original pacing divided by --speed.
 *
 * Design notes: logs are read whole and rewritten line by line as RFC
 * 5424 messages with octet counting (RFC 6587), the wrapper's host, program
 * and process ID kept. The capture is read with the collector's own pcap
 * reader (collector_pcap_next_udp()), and each datagram's payload is sent
 * as it is but for the v9 header's export time, so that the collector
 * sees fresh flows. Both pace by the data's own clock (log seconds, pcap
 * time) against the monotonic clock, and stop at the first SIGINT or
 * SIGTERM (demo_nap()). Runs on the demo's thread; the counters it bumps
 * are read by the progress line under d->mu.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "demo.h"

/*
 * Waits until offset_ms of the data's own timeline, divided by the speed,
 * has passed since start (monotonic ms). False when the demo is stopped.
 */
static bool pace(struct demo *d, int64_t start, double offset_ms)
{
	if (d->speed <= 0)
		return true;
	int64_t wait = start + (int64_t)(offset_ms / d->speed) - rn_time_mono_ms();
	return wait <= 0 || demo_nap(d, wait);
}

/* ---- logs -------------------------------------------------------------------- */

struct line {
	char *app;
	char *procid;
	char *msg;
	int64_t t; /* seconds into the log, for pacing */
};

/* "Nov 29 02:25:30 mx postfix/smtpd[4547]: msg" or "2026-11-29 02:31:40 msg" (Exim). */
static bool split_line(char *s, struct line *l)
{
	unsigned h, m, sec;
	char *p;
	if (strlen(s) > 20 && s[4] == '-' && s[7] == '-' && s[10] == ' ') {
		if (sscanf(s + 11, "%u:%u:%u", &h, &m, &sec) != 3)
			return false;
		l->t = (int64_t)h * 3600 + m * 60 + sec;
		l->app = "exim";
		l->procid = "-";
		l->msg = s + 20;
		return true;
	}
	if (strlen(s) < 17 || sscanf(s + 7, "%u:%u:%u", &h, &m, &sec) != 3)
		return false;
	l->t = (int64_t)h * 3600 + m * 60 + sec;
	p = strchr(s + 16, ' '); /* after the host */
	if (p == NULL)
		return false;
	char *tag = p + 1;
	char *colon = strstr(tag, ": ");
	if (colon == NULL)
		return false;
	*colon = '\0';
	l->msg = colon + 2;
	char *br = strchr(tag, '[');
	if (br != NULL) {
		*br = '\0';
		l->procid = br + 1;
		char *e = strchr(l->procid, ']');
		if (e != NULL)
			*e = '\0';
	} else {
		l->procid = "-";
	}
	l->app = tag;
	return true;
}

static int syslog_connect(const char *hostport)
{
	struct sockaddr_storage ss;
	unsigned sl;
	if (rn_hostport_parse(hostport, &ss, &sl) != RN_OK)
		return -EINVAL;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, sl) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

int demo_log_read(const char *path, struct demo_log *f)
{
	uint8_t *buf;
	size_t len;
	int rc = rn_file_read(path, 64u << 20, &buf, &len);
	if (rc != RN_OK)
		return rc;
	char *s = (char *)buf;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '\n')
			f->n++;
	f->lines = calloc(f->n + 1, sizeof(*f->lines));
	size_t k = 0;
	char *save = NULL;
	for (char *t = strtok_r(s, "\n", &save); t != NULL && k < f->n;
	     t = strtok_r(NULL, "\n", &save))
		f->lines[k++] = strdup(t);
	f->n = k;
	free(buf);
	return RN_OK;
}

void demo_log_free(struct demo_log *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->lines[i]);
	free(f->lines);
}

/* Sends one log over TCP, RFC 5424 with octet counting, stamped now. */
static int replay_log(struct demo *d, int fd, struct demo_log *f)
{
	int64_t t0 = -1;
	int64_t start = rn_time_mono_ms();
	char frame[8192], ts[RN_TIME_STRLEN];
	for (size_t i = 0; i < f->n && !d->stop; i++) {
		char *copy = strdup(f->lines[i]);
		struct line l;
		if (copy == NULL || !split_line(copy, &l)) {
			free(copy);
			continue;
		}
		if (t0 < 0)
			t0 = l.t;
		if (!pace(d, start, (double)(l.t - t0) * 1000.0)) {
			free(copy);
			break;
		}
		rn_time_format(rn_time_now_ms(), true, ts, sizeof(ts));
		char msg[8000];
		int n = snprintf(msg, sizeof(msg), "<22>1 %s mx %s %s - - %s", ts, l.app, l.procid,
		                 l.msg);
		free(copy);
		if (n <= 0 || (size_t)n >= sizeof(msg))
			continue;
		int m = snprintf(frame, sizeof(frame), "%d %s", n, msg);
		if (m <= 0 || (size_t)m >= sizeof(frame) ||
		    rn_write_all(fd, frame, (size_t)m) != RN_OK)
			return -EIO;
		pthread_mutex_lock(&d->mu);
		d->lines_sent++;
		pthread_mutex_unlock(&d->mu);
		if ((i & (d->tty ? 63 : 1023)) == 0) {
			demo_progress(d);
			if (!demo_nap(d, 0))
				break;
		}
	}
	return RN_OK;
}

int demo_replay_logs(struct demo *d, const char *hostport, struct demo_log *const *logs,
                     size_t nlogs)
{
	int fd = syslog_connect(hostport);
	if (fd < 0) {
		fprintf(stderr, "repnet demo: syslog %s: %s\n", hostport, rn_strerror(fd));
		return fd;
	}
	for (size_t i = 0; i < nlogs; i++)
		(void)replay_log(d, fd, logs[i]); /* a failed send ends that log only */
	close(fd);
	return RN_OK;
}

/* ---- flows ------------------------------------------------------------------- */

/* A datagram with a whole NetFlow v9 header's worth of bytes, at least. */
static bool sendable(const struct collector_pcap_udp *u)
{
	return u->len >= 20 && u->len <= 65536;
}

uint64_t demo_flows_count(const char *path)
{
	struct collector_pcap *pc;
	struct collector_pcap_udp u;
	uint64_t n = 0;
	if (collector_pcap_open(&pc, path) != RN_OK)
		return 0;
	while (collector_pcap_next_udp(pc, &u) == 1)
		n += sendable(&u);
	collector_pcap_close(pc);
	return n;
}

int demo_replay_flows(struct demo *d, const char *path, const char *to)
{
	struct collector_pcap *pc;
	struct collector_pcap_udp u;
	struct sockaddr_storage ss;
	unsigned sl;
	uint8_t buf[65536];
	int64_t first = -1, start = rn_time_mono_ms();
	int rc = collector_pcap_open(&pc, path);
	if (rc != RN_OK)
		return rc;
	if (rn_hostport_parse(to, &ss, &sl) != RN_OK) {
		collector_pcap_close(pc);
		return -EINVAL;
	}
	int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		collector_pcap_close(pc);
		return -errno;
	}
	while (!d->stop && (rc = collector_pcap_next_udp(pc, &u)) == 1) {
		if (!sendable(&u))
			continue;
		memcpy(buf, u.payload, u.len);
		if (buf[0] == 0 && buf[1] == 9) {
			/* NetFlow v9: unix_secs, bytes 8..11, becomes now. */
			rn_wcur_store(buf + 8, (uint64_t)(rn_time_now_ms() / 1000), 4);
		}
		if (first < 0)
			first = u.ts_ms;
		if (!pace(d, start, (double)(u.ts_ms - first)))
			break;
		if (sendto(fd, buf, u.len, 0, (struct sockaddr *)&ss, sl) < 0) {
			rc = -errno;
			break;
		}
		/* softflowd sends in one burst; give the kernel's buffer a breath. */
		struct timespec ts = {.tv_nsec = 200000};
		nanosleep(&ts, NULL);
		pthread_mutex_lock(&d->mu);
		d->flows_sent++;
		pthread_mutex_unlock(&d->mu);
	}
	close(fd);
	collector_pcap_close(pc);
	return rc < 0 ? rc : RN_OK;
}
