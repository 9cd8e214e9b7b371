/*
 * sbuf.h: a growing text buffer for the exporters and the decision
 * stream. Internal to the local RBL.
 */
#ifndef REPNET_FEEDS_SBUF_H
#define REPNET_FEEDS_SBUF_H

#include "proto/proto.h"

/* p is malloc'd; err is sticky (the first failure), checked at the end. */
struct feeds_sbuf {
	char *p;
	size_t len, cap;
	int err;
};

/* Appends formatted text, growing the buffer; on failure sets err. */
void feeds_sb_printf(struct feeds_sbuf *b, const char *fmt, ...) RN_PRINTF(2, 3);

#endif /* REPNET_FEEDS_SBUF_H */
