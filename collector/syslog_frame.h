/*
 * syslog_frame.h: RFC 6587 framing (octet counting and LF framing) of a
 * syslog TCP stream. Internal to the collector.
 */
#ifndef REPNET_COLLECTOR_SYSLOG_FRAME_H
#define REPNET_COLLECTOR_SYSLOG_FRAME_H

#include "collector/collector.h"

enum syslog_frame_state {
	SF_START,      /* at a frame boundary */
	SF_COUNT,      /* reading the octet count */
	SF_BODY,       /* reading an octet-counted frame */
	SF_SKIP_COUNT, /* skipping an octet-counted frame that does not fit */
	SF_LINE,       /* reading an LF-framed message */
	SF_SKIP_LINE,  /* skipping an LF-framed message that does not fit */
};

struct syslog_framer {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int state; /* enum syslog_frame_state */
	unsigned digits;
	uint64_t count;
	uint64_t skip;
	uint64_t frames;   /* frames seen, including empty ones */
	uint64_t overlong; /* frames longer than cap, skipped */
	uint64_t errors;   /* framing errors */
};

/* cap is the longest message kept; the buffer is allocated here once. */
int syslog_framer_init(struct syslog_framer *f, size_t cap);
void syslog_framer_release(struct syslog_framer *f);
/*
 * Feeds stream bytes; calls fn for every complete message (without its
 * framing or trailing CR/LF). RN_EPARSE on a framing error, after which
 * the stream must be dropped; or fn's error.
 */
int syslog_framer_feed(struct syslog_framer *f, const uint8_t *buf, size_t len,
                       int (*fn)(void *arg, const uint8_t *msg, size_t n), void *arg);
/* The stream ended: delivers an unterminated LF-framed message. */
int syslog_framer_finish(struct syslog_framer *f,
                         int (*fn)(void *arg, const uint8_t *msg, size_t n), void *arg);

#endif /* REPNET_COLLECTOR_SYSLOG_FRAME_H */
