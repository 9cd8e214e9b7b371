/*
 * request.c: the HTTP/1.x request reader (RFC 9112's request line and
 * header section), strict and bounded.
 *
 * Design notes: the reader sees at most HTTP_HEAD_MAX bytes, line by line
 * through a bounded cursor, and copies what it keeps into the request's
 * own text buffer (each string NUL-terminated), so a request outlives the
 * connection's input buffer and nothing is allocated. What it keeps fits:
 * every string copied comes from a line at least one byte longer (the
 * line end becomes the NUL, the colon the name's NUL). Lines may end in LF
 * alone (RFC 9112 section 2.2 lets a server accept that); a CR anywhere
 * else, a NUL, a folded header line (obsolete, and a way to smuggle) or a
 * space before a header's colon is malformed. A request with a body is
 * refused as such: no handler here takes one, and skipping a chunked body
 * would need a reader of its own.
 */
#include <string.h>
#include <strings.h>

#include "feeds/http/request.h"

static bool tchar(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* The next line, without its line end; RN_ETRUNC when none ends within the cursor. */
static int next_line(struct rn_cur *c, const uint8_t **line, size_t *ll)
{
	size_t left = rn_cur_left(c);
	const uint8_t *nl = left > 0 ? memchr(c->p, '\n', left) : NULL;
	if (nl == NULL)
		return RN_ETRUNC;
	size_t n = (size_t)(nl - c->p);
	const uint8_t *p = rn_cur_bytes(c, n + 1);
	if (p == NULL)
		return RN_ETRUNC;
	if (n > 0 && p[n - 1] == '\r')
		n--;
	if (memchr(p, '\r', n) != NULL || memchr(p, '\0', n) != NULL)
		return RN_EPARSE;
	*line = p;
	*ll = n;
	return RN_OK;
}

/* Copies s[0..n) into r->text at *tl as a string. */
static const char *keep(struct http_request *r, size_t *tl, const uint8_t *s, size_t n)
{
	char *d = r->text + *tl;
	memcpy(d, s, n);
	d[n] = '\0';
	*tl += n + 1;
	return d;
}

static int request_line(struct http_request *r, size_t *tl, const uint8_t *l, size_t n)
{
	size_t i = 0;
	while (i < n && tchar(l[i]))
		i++;
	if (i == 0 || i >= HTTP_METHOD_MAX || i == n || l[i] != ' ')
		return RN_EPARSE;
	memcpy(r->method, l, i);
	r->method[i] = '\0';
	size_t t0 = ++i;
	while (i < n && l[i] > 0x20 && l[i] < 0x7f)
		i++;
	if (i == t0 || i == n || l[i] != ' ' || (l[t0] != '/' && l[t0] != '*'))
		return RN_EPARSE;
	r->target = keep(r, tl, l + t0, i - t0);
	i++;
	if (n - i != 8 || memcmp(l + i, "HTTP/", 5) != 0 || l[i + 6] != '.' || l[i + 5] < '0' ||
	    l[i + 5] > '9' || l[i + 7] < '0' || l[i + 7] > '9')
		return RN_EPARSE;
	if (l[i + 5] != '1')
		return RN_EVERSION;
	r->minor = (unsigned)(l[i + 7] - '0');
	r->keep_alive = r->minor >= 1;
	return RN_OK;
}

static bool is_ows(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* True when the comma-separated list v holds token t (any case). */
static bool list_has(const char *v, const char *t)
{
	size_t tn = strlen(t);
	while (*v != '\0') {
		while (*v == ',' || is_ows((uint8_t)*v))
			v++;
		size_t n = strcspn(v, ",");
		size_t k = n;
		while (k > 0 && is_ows((uint8_t)v[k - 1]))
			k--;
		if (k == tn && strncasecmp(v, t, tn) == 0)
			return true;
		v += n;
	}
	return false;
}

static int header_line(struct http_request *r, size_t *tl, const uint8_t *l, size_t n)
{
	if (is_ows(l[0]))
		return RN_EPARSE; /* obsolete line folding */
	size_t i = 0;
	while (i < n && tchar(l[i]))
		i++;
	if (i == 0 || i == n || l[i] != ':')
		return RN_EPARSE;
	if (r->nhdr == HTTP_HEADERS_MAX)
		return RN_ELIMIT;
	size_t v0 = i + 1, v1 = n;
	while (v0 < v1 && is_ows(l[v0]))
		v0++;
	while (v1 > v0 && is_ows(l[v1 - 1]))
		v1--;
	for (size_t k = v0; k < v1; k++)
		if (l[k] < 0x20 && l[k] != '\t')
			return RN_EPARSE;
	struct http_header *h = &r->hdr[r->nhdr++];
	h->name = keep(r, tl, l, i);
	h->value = keep(r, tl, l + v0, v1 - v0);
	if (strcasecmp(h->name, "Connection") == 0) {
		if (list_has(h->value, "close"))
			r->keep_alive = false;
		else if (r->minor == 0 && list_has(h->value, "keep-alive"))
			r->keep_alive = true;
	}
	return RN_OK;
}

int http_req_parse(const uint8_t *buf, size_t len, struct http_request *r, size_t *used)
{
	struct rn_cur c;
	const uint8_t *l;
	size_t ll = 0, tl = 0;
	r->method[0] = '\0';
	r->target = NULL;
	r->minor = 0;
	r->keep_alive = false;
	r->nhdr = 0;
	rn_cur_init(&c, buf, len < HTTP_HEAD_MAX ? len : HTTP_HEAD_MAX);
	int rc;
	do
		rc = next_line(&c, &l, &ll);
	while (rc == RN_OK && ll == 0);
	if (rc == RN_OK)
		rc = request_line(r, &tl, l, ll);
	while (rc == RN_OK) {
		rc = next_line(&c, &l, &ll);
		if (rc != RN_OK || ll == 0)
			break;
		rc = header_line(r, &tl, l, ll);
	}
	if (rc == RN_ETRUNC && len >= HTTP_HEAD_MAX)
		return RN_EOVERLONG;
	if (rc != RN_OK)
		return rc;
	const char *cl = http_req_header(r, "Content-Length");
	if ((cl != NULL && strcmp(cl, "0") != 0) || http_req_header(r, "Transfer-Encoding") != NULL)
		return RN_EUNSUPP;
	*used = (size_t)(c.p - buf);
	return RN_OK;
}

const char *http_req_header(const struct http_request *r, const char *name)
{
	for (unsigned i = 0; i < r->nhdr; i++)
		if (strcasecmp(r->hdr[i].name, name) == 0)
			return r->hdr[i].value;
	return NULL;
}
