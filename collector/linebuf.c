/*
 * linebuf.c: a bounded line splitter shared by every SMTP log source.
 *
 * Design notes: the buffer is allocated once at init and never grows.
 * A line that does not fit is not delivered in pieces: the splitter
 * enters "skipping" until the next newline and counts one overlong line,
 * so a long line can never be truncated into a shorter one that matches
 * falsely. Complete lines inside the caller's chunk are delivered in
 * place, without copying; only a line split across chunks is copied.
 * Not thread-safe: one linebuf per source.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "collector/smtp.h"

int linebuf_init(struct linebuf *lb, size_t cap)
{
	memset(lb, 0, sizeof(*lb));
	lb->buf = malloc(cap ? cap : 1);
	if (lb->buf == NULL)
		return -ENOMEM;
	lb->cap = cap;
	return RN_OK;
}

void linebuf_release(struct linebuf *lb)
{
	if (lb == NULL)
		return;
	free(lb->buf);
	lb->buf = NULL;
	lb->len = 0;
}

static size_t trim_cr(const uint8_t *line, size_t n)
{
	return n > 0 && line[n - 1] == '\r' ? n - 1 : n;
}

int linebuf_feed(struct linebuf *lb, const uint8_t *buf, size_t len,
                 int (*fn)(void *arg, const uint8_t *line, size_t n), void *arg)
{
	const uint8_t *p = buf, *end = buf + len;
	int rc;

	while (p < end) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

		if (lb->skipping) {
			if (nl == NULL)
				return RN_OK;
			lb->skipping = false;
			p = nl + 1;
			continue;
		}
		if (nl == NULL) {
			/* A partial line: keep it for the next chunk, if it fits. */
			if (lb->len + n > lb->cap) {
				lb->overlong++;
				lb->skipping = true;
				lb->len = 0;
			} else {
				memcpy(lb->buf + lb->len, p, n);
				lb->len += n;
			}
			return RN_OK;
		}
		if (lb->len + n > lb->cap) {
			lb->overlong++;
			lb->len = 0;
		} else if (lb->len > 0) {
			memcpy(lb->buf + lb->len, p, n);
			size_t total = lb->len;
			lb->len = 0;
			rc = fn(arg, lb->buf, trim_cr(lb->buf, total + n));
			if (rc != RN_OK)
				return rc;
		} else {
			rc = fn(arg, p, trim_cr(p, n));
			if (rc != RN_OK)
				return rc;
		}
		p = nl + 1;
	}
	return RN_OK;
}

int linebuf_finish(struct linebuf *lb, int (*fn)(void *arg, const uint8_t *line, size_t n),
                   void *arg)
{
	if (lb->skipping) {
		lb->skipping = false;
		return RN_OK;
	}
	if (lb->len == 0)
		return RN_OK;
	size_t n = lb->len;
	lb->len = 0;
	return fn(arg, lb->buf, trim_cr(lb->buf, n));
}
