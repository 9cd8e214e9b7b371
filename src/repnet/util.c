/*
 * util.c: helpers for repnet's subcommands.
 *
 * Design notes: the HTTP client speaks just enough HTTP/1.0 to fetch
 * /status and /metrics from repnetd's own listener: one request, read to
 * the end, headers split off at the first blank line. Every read is
 * bounded by the caller's size limit and a poll() timeout; the answer
 * grows in a write cursor capped a little above that limit.
 *
 * JSON lines are built in a buffer on the stack and written with one
 * fwrite(), so concurrent printers (the live collectors' threads) never
 * interleave within a line: stdio locks the stream per call.
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

/* Bytes asked of read() at a time. */
#define HTTP_READ 4096

int cli_http_get(const char *hostport, const char *path, int timeout_ms, size_t max, char **body,
                 int *status)
{
	return cli_http_get_bearer(hostport, path, NULL, timeout_ms, max, body, status);
}

static int http_request(const char *method, const char *hostport, const char *path,
                        const char *token, int timeout_ms, size_t max, char **body, int *status);

int cli_http_get_bearer(const char *hostport, const char *path, const char *token, int timeout_ms,
                        size_t max, char **body, int *status)
{
	return http_request("GET", hostport, path, token, timeout_ms, max, body, status);
}

static int http_request(const char *method, const char *hostport, const char *path,
                        const char *token, int timeout_ms, size_t max, char **body, int *status)
{
	struct sockaddr_storage ss;
	unsigned sl;
	int rc = rn_hostport_parse(hostport, &ss, &sl);
	if (rc != RN_OK)
		return rc;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Room for the headers past max, and for one more read and the NUL. */
	struct rn_wcur w;
	rn_wcur_init_alloc(&w, max + 2 * HTTP_READ + 1);
	if (connect(fd, (struct sockaddr *)&ss, sl) != 0) {
		rc = -errno;
		goto out;
	}
	char req[1024];
	int n = snprintf(req, sizeof(req),
	                 "%s %s HTTP/1.0\r\nHost: %s\r\n%s%s%sConnection: close\r\n\r\n", method,
	                 path, hostport, token != NULL ? "Authorization: Bearer " : "",
	                 token != NULL ? token : "", token != NULL ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(req) || rn_write_all(fd, req, (size_t)n) != RN_OK) {
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
		if ((rc = rn_wcur_grow(&w, HTTP_READ + 1)) != RN_OK)
			goto out;
		ssize_t r = read(fd, w.p + w.len, w.cap - w.len - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto out;
		}
		if (r == 0)
			break;
		w.len += (size_t)r;
		if (w.len > max + HTTP_READ) {
			rc = RN_ELIMIT;
			goto out;
		}
	}
	if (w.p == NULL) {
		rc = RN_EPARSE;
		goto out;
	}
	char *buf = (char *)w.p;
	size_t len = w.len;
	buf[len] = '\0';
	char *hdr_end = strstr(buf, "\r\n\r\n");
	if (hdr_end == NULL || sscanf(buf, "HTTP/1.%*d %d", status) != 1) {
		rc = RN_EPARSE;
		goto out;
	}
	hdr_end += 4;
	size_t blen = len - (size_t)(hdr_end - buf);
	memmove(buf, hdr_end, blen + 1);
	uint8_t *out;
	if ((rc = rn_wcur_take(&w, &out, &len)) != RN_OK)
		goto out;
	*body = (char *)out;
out:
	rn_wcur_release(&w);
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

int cli_obs_print(FILE *f, const struct rn_obs *o)
{
	char line[2048];
	struct rn_strbuf b;
	rn_strbuf_init_fixed(&b, line, sizeof(line));
	int rc = rn_obs_json_line(&b, o);
	if (rc == RN_OK && fwrite(line, 1, rn_strbuf_len(&b), f) != rn_strbuf_len(&b))
		rc = -EIO;
	return rc;
}

int cli_json_print(FILE *f, struct rn_jsonw *w, struct rn_strbuf *b)
{
	int rc = rn_jsonw_finish(w);
	if (rc == RN_OK)
		rn_strbuf_putc(b, '\n');
	if (rc == RN_OK && (rc = rn_strbuf_err(b)) == RN_OK &&
	    fwrite(rn_strbuf_str(b), 1, rn_strbuf_len(b), f) != rn_strbuf_len(b))
		rc = -EIO;
	return rc;
}

/* Reads a one-line file of data_dir into buf, without its newline. */
static int read_line_file(const char *dir, const char *name, char *buf, size_t len)
{
	char path[4096];
	uint8_t *b;
	size_t n;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return RN_ELIMIT;
	int rc = rn_file_read(path, len, &b, &n);
	if (rc != RN_OK)
		return rc;
	while (n > 0 && (b[n - 1] == '\n' || b[n - 1] == '\r'))
		n--;
	if (n == 0 || n >= len || memchr(b, '\n', n) != NULL) {
		free(b);
		return RN_EPARSE;
	}
	memcpy(buf, b, n);
	buf[n] = '\0';
	free(b);
	return RN_OK;
}

static int api_request(const char *method, const char *data_dir, const char *path, size_t max,
                       char **body, int *status, char *where, size_t wlen);

int cli_api_get(const char *data_dir, const char *path, size_t max, char **body, int *status,
                char *where, size_t wlen)
{
	return api_request("GET", data_dir, path, max, body, status, where, wlen);
}

int cli_api_post(const char *data_dir, const char *path, size_t max, char **body, int *status,
                 char *where, size_t wlen)
{
	return api_request("POST", data_dir, path, max, body, status, where, wlen);
}

static int api_request(const char *method, const char *data_dir, const char *path, size_t max,
                       char **body, int *status, char *where, size_t wlen)
{
	char token[128];
	snprintf(where, wlen, "(not running: no %s/api.endpoint)", data_dir);
	int rc = read_line_file(data_dir, "api.endpoint", where, wlen);
	if (rc != RN_OK) {
		if (rc != -ENOENT)
			snprintf(where, wlen, "(%s/api.endpoint: %s)", data_dir, rn_strerror(rc));
		return rc == -ENOENT ? RN_ENOTFOUND : rc;
	}
	if ((rc = read_line_file(data_dir, "api.token", token, sizeof(token))) != RN_OK)
		return rc;
	rc = http_request(method, where, path, token, 10000, max, body, status);
	explicit_bzero(token, sizeof(token));
	return rc;
}

int cli_json_cats(struct rn_json *r, int tok, char *out, size_t len)
{
	size_t n = 0;
	if (tok != RN_JSON_ARR_BEGIN)
		return rn_json_fail(r, RN_EPARSE, "expected an array");
	out[0] = '\0';
	while ((tok = rn_json_next(r)) == RN_JSON_STR) {
		int w = snprintf(out + n, len - n, "%s%s", n ? "," : "", r->str);
		if (w < 0 || (size_t)w >= len - n)
			return rn_json_fail(r, RN_ELIMIT, "too many categories");
		n += (size_t)w;
	}
	return tok == RN_JSON_ARR_END ? RN_OK : rn_json_fail(r, RN_EPARSE, "expected a string");
}

size_t cli_url_escape(const char *s, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		             (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
		             c == '~' || c == ':';
		if (o + (plain ? 1 : 3) >= len)
			break;
		if (plain) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	if (len > 0)
		out[o] = '\0';
	return o;
}
