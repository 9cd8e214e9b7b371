/*
 * util.c: helpers for repnet's subcommands.
 *
 * Design notes: the HTTP client speaks just enough HTTP/1.0 to fetch
 * /status and /metrics from repnetd's own listener: one request, read to
 * the end, headers split off at the first blank line. Every read is
 * bounded by the caller's size limit and a poll() timeout.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/proto.h"
#include "util.h"

int cli_http_get(const char *hostport, const char *path, int timeout_ms, size_t max, char **body,
                 int *status)
{
	struct sockaddr_storage ss;
	unsigned sl;
	int rc = rn_hostport_parse(hostport, &ss, &sl);
	if (rc != RN_OK)
		return rc;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	if (connect(fd, (struct sockaddr *)&ss, sl) != 0) {
		rc = -errno;
		goto out;
	}
	char req[512];
	int n = snprintf(req, sizeof(req),
	                 "GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n", path,
	                 hostport);
	if (n < 0 || (size_t)n >= sizeof(req) || write(fd, req, (size_t)n) != n) {
		rc = -EIO;
		goto out;
	}
	int64_t deadline = rn_time_mono_ms() + timeout_ms;
	for (;;) {
		int64_t left = deadline - rn_time_mono_ms();
		if (left <= 0) {
			rc = -ETIMEDOUT;
			goto out;
		}
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 65536;
			char *nb = realloc(buf, cap);
			if (nb == NULL) {
				rc = -ENOMEM;
				goto out;
			}
			buf = nb;
		}
		ssize_t r = read(fd, buf + len, cap - len - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > max + 4096) {
			rc = RN_ELIMIT;
			goto out;
		}
	}
	if (buf == NULL) {
		rc = RN_EPARSE;
		goto out;
	}
	buf[len] = '\0';
	char *hdr_end = strstr(buf, "\r\n\r\n");
	if (hdr_end == NULL || sscanf(buf, "HTTP/1.%*d %d", status) != 1) {
		rc = RN_EPARSE;
		goto out;
	}
	hdr_end += 4;
	size_t blen = len - (size_t)(hdr_end - buf);
	memmove(buf, hdr_end, blen + 1);
	*body = buf;
	buf = NULL;
	rc = RN_OK;
out:
	free(buf);
	close(fd);
	return rc;
}

void cli_metric_each(const char *text, const char *name,
                     void (*fn)(void *arg, const char *labels, double v), void *arg)
{
	size_t nl = strlen(name);
	for (const char *p = text; p != NULL && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (*p == '#' || strncmp(p, name, nl) != 0)
			continue;
		const char *q = p + nl;
		char labels[512] = "";
		if (*q == '{') {
			const char *e = strchr(q, '}');
			if (e == NULL || (size_t)(e - q - 1) >= sizeof(labels))
				continue;
			memcpy(labels, q + 1, (size_t)(e - q - 1));
			labels[e - q - 1] = '\0';
			q = e + 1;
		}
		if (*q != ' ')
			continue;
		fn(arg, labels, strtod(q + 1, NULL));
	}
}

struct find {
	const char *labels;
	double v;
	bool found;
};

static void find_fn(void *arg, const char *labels, double v)
{
	struct find *f = arg;
	if (strcmp(labels, f->labels) == 0) {
		f->v = v;
		f->found = true;
	}
}

int cli_metric(const char *text, const char *name, const char *labels, double *out)
{
	struct find f = {.labels = labels ? labels : ""};
	cli_metric_each(text, name, find_fn, &f);
	if (!f.found)
		return -1;
	*out = f.v;
	return 0;
}
