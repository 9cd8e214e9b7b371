/*
 * request.h: the HTTP/1.x request reader of the HTTP listener. Internal
 * to feeds/http; http.c serves it.
 */
#ifndef REPNET_FEEDS_HTTP_REQUEST_H
#define REPNET_FEEDS_HTTP_REQUEST_H

#include "proto/proto.h"

#define HTTP_HEAD_MAX    8192 /* the request line and headers, up to the blank line */
#define HTTP_HEADERS_MAX 64   /* header lines in one request */
#define HTTP_METHOD_MAX  16   /* a method's name, with its NUL */

struct http_header {
	const char *name; /* as received (compare without case) */
	const char *value;
};

/*
 * One request head. Every string is NUL-terminated in text[], a copy, so
 * it outlives the input.
 */
struct http_request {
	char method[HTTP_METHOD_MAX];
	const char *target; /* the request target: path and query */
	unsigned minor;     /* HTTP/1.minor */
	bool keep_alive;    /* HTTP/1.1 without "Connection: close", or 1.0 with keep-alive */
	struct http_header hdr[HTTP_HEADERS_MAX];
	unsigned nhdr;
	char text[HTTP_HEAD_MAX];
};

/*
 * Reads one request head from buf[0..len): a request line and header lines
 * up to an empty line (lines end in CRLF or LF; empty lines before the
 * request line are skipped). RN_OK: a whole head, *used bytes long.
 * RN_ETRUNC: not complete yet. RN_EOVERLONG: HTTP_HEAD_MAX bytes hold
 * no whole head. RN_EPARSE: malformed (a bad method,
 * target or header name, no colon, a folded line, a NUL or a lone CR, a
 * request target not starting with '/' or '*'). RN_EVERSION: not HTTP/1.x.
 * RN_ELIMIT: more than HTTP_HEADERS_MAX headers. RN_EUNSUPP: the request
 * has a body (Content-Length other than 0, or Transfer-Encoding), which no
 * handler takes. Allocates nothing.
 */
int http_req_parse(const uint8_t *buf, size_t len, struct http_request *r, size_t *used);
/* The value of the first header called name (any case), or NULL. */
const char *http_req_header(const struct http_request *r, const char *name);

#endif /* REPNET_FEEDS_HTTP_REQUEST_H */
