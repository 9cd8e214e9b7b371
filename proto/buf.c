/*
 * buf.c: the write cursor's growth and the string builder on top of it.
 *
 * Design notes: the writers themselves are inline in proto.h, as the
 * reading cursor is; this file holds only what is not on their fast path.
 * A growable cursor doubles its buffer (from 256 bytes) and never past
 * max, so a runaway encoder fails with RN_ELIMIT instead of eating the
 * memory. A cursor over a caller's buffer never allocates.
 *
 * The string builder keeps one invariant: the byte after the text is a
 * NUL, so rn_strbuf_str() is always a C string. Every append reserves its
 * bytes plus that NUL, then gives the NUL's byte back to the length; a
 * printf that does not fit is undone by writing the NUL back where the
 * text ended. Nothing here is thread-safe: one owner per cursor.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "proto/proto.h"

#define WCUR_MIN_CAP 256

int rn_wcur_grow(struct rn_wcur *w, size_t n)
{
	if (w->err != RN_OK)
		return w->err;
	if (w->p != NULL && w->cap - w->len >= n)
		return RN_OK;
	if (w->max == 0 || n > w->max - w->len) {
		w->err = RN_ELIMIT;
		return w->err;
	}
	size_t need = w->len + n;
	size_t cap = w->cap >= WCUR_MIN_CAP ? w->cap : WCUR_MIN_CAP;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
	if (cap > w->max)
		cap = w->max;
	uint8_t *p = realloc(w->p, cap);
	if (p == NULL) {
		w->err = -ENOMEM;
		return w->err;
	}
	w->p = p;
	w->cap = cap;
	return RN_OK;
}

int rn_wcur_take(struct rn_wcur *w, uint8_t **out, size_t *len)
{
	if (w->max == 0)
		rn_wcur_fail(w, RN_EINTERNAL); /* the caller's buffer is not ours to give */
	if (w->err == RN_OK && w->p == NULL)
		(void)rn_wcur_grow(w, 1); /* nothing written: still a buffer to free */
	if (w->err != RN_OK) {
		int rc = w->err;
		rn_wcur_release(w);
		w->err = rc;
		return rc;
	}
	*out = w->p;
	*len = w->len;
	rn_wcur_init_alloc(w, w->max);
	return RN_OK;
}

void rn_wcur_release(struct rn_wcur *w)
{
	if (w->max == 0)
		return;
	free(w->p);
	rn_wcur_init_alloc(w, w->max);
}

/* ---- string builder ------------------------------------------------------ */

void rn_strbuf_init(struct rn_strbuf *b, size_t max)
{
	rn_wcur_init_alloc(&b->w, max);
}

void rn_strbuf_init_fixed(struct rn_strbuf *b, char *buf, size_t cap)
{
	rn_wcur_init(&b->w, (uint8_t *)buf, cap);
	if (buf != NULL && cap > 0)
		buf[0] = '\0';
	else
		b->w.err = RN_ELIMIT; /* not even room for the NUL */
}

/* Room for n bytes of text and the NUL after them. */
static char *room(struct rn_strbuf *b, size_t n)
{
	if (n == SIZE_MAX) {
		rn_wcur_fail(&b->w, RN_ELIMIT);
		return NULL;
	}
	uint8_t *p = rn_wcur_reserve(&b->w, n + 1);
	if (p == NULL)
		return NULL;
	b->w.len--;
	p[n] = '\0';
	return (char *)p;
}

void rn_strbuf_append(struct rn_strbuf *b, const void *s, size_t n)
{
	char *p = room(b, n);
	if (p != NULL && n > 0)
		memcpy(p, s, n);
}

void rn_strbuf_puts(struct rn_strbuf *b, const char *s)
{
	rn_strbuf_append(b, s, strlen(s));
}

void rn_strbuf_putc(struct rn_strbuf *b, char c)
{
	char *p = room(b, 1);
	if (p != NULL)
		*p = c;
}

void rn_strbuf_vprintf(struct rn_strbuf *b, const char *fmt, va_list ap)
{
	struct rn_wcur *w = &b->w;
	if (w->err != RN_OK)
		return;
	for (int pass = 0; pass < 2; pass++) {
		size_t left = w->p != NULL ? w->cap - w->len : 0;
		va_list aq;
		va_copy(aq, ap);
		int n = vsnprintf(left > 0 ? (char *)w->p + w->len : NULL, left, fmt, aq);
		va_end(aq);
		if (n < 0) {
			w->err = RN_EINTERNAL;
			break;
		}
		if ((size_t)n < left) {
			w->len += (size_t)n;
			return;
		}
		if (pass > 0 || rn_wcur_grow(w, (size_t)n + 1) != RN_OK)
			break;
	}
	rn_wcur_fail(w, RN_EINTERNAL);
	if (w->p != NULL && w->cap > w->len)
		w->p[w->len] = '\0'; /* undo a truncated write */
}

void rn_strbuf_printf(struct rn_strbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rn_strbuf_vprintf(b, fmt, ap);
	va_end(ap);
}

void rn_strbuf_reset(struct rn_strbuf *b)
{
	b->w.len = 0;
	b->w.err = b->w.p != NULL || b->w.max != 0 ? RN_OK : RN_ELIMIT;
	if (b->w.p != NULL)
		b->w.p[0] = '\0';
}

int rn_strbuf_take(struct rn_strbuf *b, char **out, size_t *len)
{
	if (b->w.err == RN_OK && b->w.p == NULL)
		(void)room(b, 0); /* an empty text is still a C string */
	uint8_t *p;
	size_t n;
	int rc = rn_wcur_take(&b->w, &p, &n);
	if (rc != RN_OK)
		return rc;
	*out = (char *)p;
	if (len != NULL)
		*len = n;
	return RN_OK;
}

void rn_strbuf_release(struct rn_strbuf *b)
{
	rn_wcur_release(&b->w);
}
