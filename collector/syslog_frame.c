/*
 * syslog_frame.c: RFC 6587 framing of a syslog TCP stream.
 *
 * Design notes: each frame is either octet-counted ("LEN SP MSG", LEN
 * without leading zeros, at most 9 digits) or ends at LF (non-transparent
 * framing; a NUL ends a frame too, as some senders use it). The method is
 * chosen per frame by its first byte, as rsyslog does, so a sender may
 * switch. The buffer is allocated once; a frame longer than it is
 * counted and skipped (octet-counted: exactly LEN bytes; LF-framed: to
 * the next LF), never cut. A malformed count ("12x", ten digits) is a
 * framing error: the rest of the stream cannot be trusted, so feed
 * returns RN_EPARSE and the caller closes the connection.
 */
#include <errno.h>
#include <stdlib.h>

#include "collector/syslog_frame.h"

int syslog_framer_init(struct syslog_framer *f, size_t cap)
{
	memset(f, 0, sizeof(*f));
	f->buf = malloc(cap ? cap : 1);
	if (f->buf == NULL)
		return -ENOMEM;
	f->cap = cap;
	return RN_OK;
}

void syslog_framer_release(struct syslog_framer *f)
{
	if (f == NULL)
		return;
	free(f->buf);
	f->buf = NULL;
}

static int deliver(struct syslog_framer *f, const uint8_t *p, size_t n,
                   int (*fn)(void *arg, const uint8_t *msg, size_t n), void *arg)
{
	/* Trailing CR/LF inside an octet-counted frame are not part of the message. */
	while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r' || p[n - 1] == '\0'))
		n--;
	f->frames++;
	if (n == 0)
		return RN_OK;
	return fn(arg, p, n);
}

int syslog_framer_feed(struct syslog_framer *f, const uint8_t *buf, size_t len,
                       int (*fn)(void *arg, const uint8_t *msg, size_t n), void *arg)
{
	const uint8_t *p = buf, *end = buf + len;
	int rc;

	while (p < end) {
		switch (f->state) {
		case SF_START:
			if (*p >= '1' && *p <= '9') {
				f->state = SF_COUNT;
				f->count = 0;
				f->digits = 0;
				continue;
			}
			if (*p == '\n' || *p == '\0' || *p == '\r') {
				p++; /* empty frames between messages */
				continue;
			}
			f->state = SF_LINE;
			f->len = 0;
			continue;
		case SF_COUNT:
			if (*p >= '0' && *p <= '9') {
				if (++f->digits > 9) {
					f->errors++;
					f->state = SF_START;
					return RN_EPARSE;
				}
				f->count = f->count * 10 + (uint64_t)(*p - '0');
				p++;
				continue;
			}
			if (*p != ' ') {
				f->errors++;
				f->state = SF_START;
				return RN_EPARSE;
			}
			p++;
			if (f->count > f->cap) {
				f->overlong++;
				f->state = SF_SKIP_COUNT;
				f->skip = f->count;
			} else {
				f->state = SF_BODY;
				f->len = 0;
			}
			continue;
		case SF_BODY: {
			size_t want = (size_t)f->count - f->len;
			size_t have = (size_t)(end - p);
			if (f->len == 0 && have >= want) {
				/* The whole frame is in this chunk: deliver it in place. */
				f->state = SF_START;
				rc = deliver(f, p, want, fn, arg);
				p += want;
				if (rc != RN_OK)
					return rc;
				continue;
			}
			size_t n = have < want ? have : want;
			memcpy(f->buf + f->len, p, n);
			f->len += n;
			p += n;
			if (f->len == f->count) {
				f->state = SF_START;
				size_t fl = f->len;
				f->len = 0;
				rc = deliver(f, f->buf, fl, fn, arg);
				if (rc != RN_OK)
					return rc;
			}
			continue;
		}
		case SF_SKIP_COUNT: {
			size_t have = (size_t)(end - p);
			size_t n = have < f->skip ? have : (size_t)f->skip;
			p += n;
			f->skip -= n;
			if (f->skip == 0)
				f->state = SF_START;
			continue;
		}
		case SF_LINE: {
			const uint8_t *q = p;
			while (q < end && *q != '\n' && *q != '\0')
				q++;
			size_t n = (size_t)(q - p);
			if (q < end && f->len == 0 && n <= f->cap) {
				f->state = SF_START;
				rc = deliver(f, p, n, fn, arg);
				p = q + 1;
				if (rc != RN_OK)
					return rc;
				continue;
			}
			if (f->len + n > f->cap) {
				f->overlong++;
				f->len = 0;
				f->state = q < end ? SF_START : SF_SKIP_LINE;
				p = q < end ? q + 1 : q;
				continue;
			}
			memcpy(f->buf + f->len, p, n);
			f->len += n;
			p = q;
			if (q < end) {
				p++;
				f->state = SF_START;
				size_t fl = f->len;
				f->len = 0;
				rc = deliver(f, f->buf, fl, fn, arg);
				if (rc != RN_OK)
					return rc;
			}
			continue;
		}
		case SF_SKIP_LINE: {
			const uint8_t *q = p;
			while (q < end && *q != '\n' && *q != '\0')
				q++;
			if (q < end)
				f->state = SF_START;
			p = q < end ? q + 1 : q;
			continue;
		}
		}
	}
	return RN_OK;
}

int syslog_framer_finish(struct syslog_framer *f,
                         int (*fn)(void *arg, const uint8_t *msg, size_t n), void *arg)
{
	int rc = RN_OK;
	/* A last LF-framed message without its LF is still a message. */
	if (f->state == SF_LINE && f->len > 0)
		rc = deliver(f, f->buf, f->len, fn, arg);
	else if (f->state == SF_BODY || f->state == SF_COUNT)
		f->errors++; /* the stream ended inside a counted frame */
	f->state = SF_START;
	f->len = 0;
	return rc;
}
