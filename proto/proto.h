/*
 * proto.h: repnet's data model and core, the contract every other library
 * builds on.
 *
 * This is the only public header of the proto library. It holds:
 *   - the error codes (rn_err) and rn_strerror();
 *   - logging (log_*() and fatal*());
 *   - time helpers (event time in ms since the epoch, RFC 3339);
 *   - the bounded cursor every wire parser reads through, and its writing twin;
 *   - a string builder, and a JSON writer and strict reader;
 *   - address and prefix types with strict parsers and formatters;
 *   - observations, the kind, category and source enums, and their JSON lines;
 *   - the metrics registry, rendered as Prometheus text;
 *   - the configuration schema and loader (libconfig underneath);
 *   - the connection server of the stream services (rn_connsrv);
 *   - small file helpers (atomic replace, CRC32C);
 *   - the generated repnet/v1 protobuf-c messages and a budgeted allocator.
 *
 * Conventions: functions return 0 (RN_OK) or a negative rn_err. On failure
 * the caller keeps ownership of whatever it passed in. Every *_free() is
 * safe on NULL.
 */
#ifndef REPNET_PROTO_H
#define REPNET_PROTO_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include <protobuf-c/protobuf-c.h>

#include "proto/repnet/v1/repnet.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

#define REPNET_VERSION_STRING "0.1.0"

#define RN_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define RN_NORETURN     __attribute__((noreturn))
#define RN_UNUSED       __attribute__((unused))
#define RN_LIKELY(x)    __builtin_expect(!!(x), 1)
#define RN_UNLIKELY(x)  __builtin_expect(!!(x), 0)
#define RN_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/*
 * 0 is success. -errno values pass system failures through unchanged.
 * Domain errors sit below -1000.
 */
enum rn_err {
	RN_OK = 0,
	RN_EPARSE = -1001,      /* input does not follow its grammar */
	RN_ETRUNC = -1002,      /* input ends before a length says it does */
	RN_ELIMIT = -1003,      /* a configured or built-in cap was hit */
	RN_ECONF = -1004,       /* invalid configuration */
	RN_ESIG = -1005,        /* signature does not verify */
	RN_EKEY = -1006,        /* unknown or revoked key */
	RN_EREPLAY = -1007,     /* sequence not higher than the last applied */
	RN_EEPOCH = -1008,      /* epoch rolled back */
	RN_EDIGEST = -1009,     /* state digest does not match */
	RN_EEXPIRED = -1010,    /* message or listing has expired */
	RN_ECHECKSUM = -1011,   /* checksum mismatch */
	RN_EVERSION = -1012,    /* unsupported version */
	RN_ENOTFOUND = -1013,   /* no such entry */
	RN_EEXIST = -1014,      /* entry exists already */
	RN_ESTATE = -1015,      /* operation not valid in this state */
	RN_ETEMPLATE = -1016,   /* flow data references an unknown template */
	RN_EOVERLONG = -1017,   /* line or record longer than the buffer */
	RN_EBUS = -1018,        /* message bus failure */
	RN_ENETLINK = -1019,    /* netlink reported an error */
	RN_EQUARANTINE = -1020, /* held back by a circuit breaker */
	RN_EBADLEN = -1021,     /* a length field is inconsistent */
	RN_EUNSUPP = -1022,     /* valid but not supported */
	RN_EINTERNAL = -1099,   /* broken invariant: a bug */
};

/* A static, human-readable description of rc. Never NULL. */
const char *rn_strerror(int rc);

/* ------------------------------------------------------------------ */
/* Logging                                                             */
/* ------------------------------------------------------------------ */

/* Levels are syslog's, so they map one to one. */
enum rn_log_level {
	RN_LOG_ERR = 3,
	RN_LOG_WARNING = 4,
	RN_LOG_NOTICE = 5,
	RN_LOG_INFO = 6,
	RN_LOG_DEBUG = 7,
};

extern _Atomic int rn_log_level_current;

/*
 * Sets the program name, where logs go and the level. In the foreground
 * logs go to stderr with a timestamp; otherwise to syslog(3) with the
 * daemon facility. May be called again (for example after a reload).
 */
void rn_log_init(const char *ident, bool foreground, int level);
void rn_log_set_level(int level);
/* Parses "err", "warning", "notice", "info" or "debug". */
int rn_log_level_parse(const char *name, int *level);
const char *rn_log_level_name(int level);

void rn_log_emit(int level, bool with_errno, const char *fmt, ...) RN_PRINTF(3, 4);
void rn_log_vemit(int level, bool with_errno, const char *fmt, va_list ap);
RN_NORETURN void rn_log_fatal(bool with_errno, const char *fmt, ...) RN_PRINTF(2, 3);

/* Arguments are evaluated only when the level is enabled. */
#define RN_LOG_IF(lvl, e, ...)                                                                  \
	do {                                                                                    \
		if (atomic_load_explicit(&rn_log_level_current, memory_order_relaxed) >= (lvl)) \
			rn_log_emit((lvl), (e), __VA_ARGS__);                                   \
	} while (0)

/* log_warn() appends strerror(errno); log_warnx() does not. */
#define log_warn(...)   RN_LOG_IF(RN_LOG_WARNING, true, __VA_ARGS__)
#define log_warnx(...)  RN_LOG_IF(RN_LOG_WARNING, false, __VA_ARGS__)
#define log_err(...)    RN_LOG_IF(RN_LOG_ERR, true, __VA_ARGS__)
#define log_errx(...)   RN_LOG_IF(RN_LOG_ERR, false, __VA_ARGS__)
#define log_notice(...) RN_LOG_IF(RN_LOG_NOTICE, false, __VA_ARGS__)
#define log_info(...)   RN_LOG_IF(RN_LOG_INFO, false, __VA_ARGS__)
#define log_debug(...)  RN_LOG_IF(RN_LOG_DEBUG, false, __VA_ARGS__)
/* Only at startup, on privilege drops, or on a broken invariant. */
#define fatal(...)  rn_log_fatal(true, __VA_ARGS__)
#define fatalx(...) rn_log_fatal(false, __VA_ARGS__)

/*
 * Rate limiting for messages about individual packets or lines: at most
 * `burst` messages per `interval_s` seconds from one call site; the number
 * suppressed is reported when the next window opens. Thread-safe.
 */
struct rn_ratelimit {
	_Atomic int64_t window;
	_Atomic uint32_t used;
	_Atomic uint32_t suppressed;
	uint32_t burst;
	uint32_t interval_s;
};
#define RN_RATELIMIT_INIT(burst_, interval_)                 \
	{                                                    \
		.burst = (burst_), .interval_s = (interval_) \
	}
/* True when the caller may log now. */
bool rn_ratelimit_allow(struct rn_ratelimit *rl);

#define RN_LOG_RL(lvl, ...)                                                                       \
	do {                                                                                      \
		static struct rn_ratelimit rl_ = RN_RATELIMIT_INIT(10, 60);                       \
		if (atomic_load_explicit(&rn_log_level_current, memory_order_relaxed) >= (lvl) && \
		    rn_ratelimit_allow(&rl_))                                                     \
			rn_log_emit((lvl), false, __VA_ARGS__);                                   \
	} while (0)
#define log_warnx_rl(...) RN_LOG_RL(RN_LOG_WARNING, __VA_ARGS__)
#define log_info_rl(...)  RN_LOG_RL(RN_LOG_INFO, __VA_ARGS__)

/* ------------------------------------------------------------------ */
/* Time                                                                */
/* ------------------------------------------------------------------ */

/* Event times are int64 milliseconds since 1970-01-01T00:00:00Z. */
int64_t rn_time_now_ms(void);
/* CLOCK_MONOTONIC in ms, us and ns, for timeouts, intervals and latencies. */
int64_t rn_time_mono_ms(void);
int64_t rn_time_mono_us(void);
int64_t rn_time_mono_ns(void);
/* Sleeps ms milliseconds (on CLOCK_MONOTONIC, resumed after signals). */
void rn_time_sleep_ms(int64_t ms);

/*
 * Condition variables whose timed waits run on CLOCK_MONOTONIC, so that a
 * step of the wall clock neither stretches nor cuts a timeout. Initialise
 * with rn_cond_init() (destroy with pthread_cond_destroy()); wait with
 * mu held. Both waits return 0 when signalled (or spuriously woken) and
 * ETIMEDOUT once the deadline has passed.
 */
int rn_cond_init(pthread_cond_t *cv);
/* Waits until the monotonic time deadline_ms (rn_time_mono_ms()). */
int rn_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t deadline_ms);
/* Waits at most ms milliseconds from now. */
int rn_cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t ms);

/* Days since the epoch of a proleptic Gregorian date; month 1-12. */
int64_t rn_time_days_from_civil(int64_t y, unsigned m, unsigned d);
void rn_time_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

#define RN_TIME_STRLEN 32
/*
 * Formats ms as RFC 3339 in UTC: "2026-11-29T02:26:49Z", or with
 * milliseconds "2026-11-29T02:26:49.845Z". Returns the length written
 * (excluding the NUL); dst must hold RN_TIME_STRLEN bytes.
 */
size_t rn_time_format(int64_t ms, bool with_ms, char *dst, size_t dstlen);
/*
 * Parses an RFC 3339 date-time with optional fraction and a Z or +hh:mm
 * offset. The whole of buf must be consumed.
 */
int rn_time_parse(const uint8_t *buf, size_t len, int64_t *ms);
/* Parses "250ms", "30s", "5m", "2h", "7d" or a bare number of seconds. */
int rn_duration_parse(const char *s, int64_t *ms);
/* Parses "8388608", "64k", "8M", "1G" (powers of 1024). */
int rn_size_parse(const char *s, uint64_t *bytes);

/* ------------------------------------------------------------------ */
/* Bounded cursor                                                      */
/* ------------------------------------------------------------------ */

/*
 * Every wire parser reads through a cursor. Reads past the end set a
 * sticky error, return zero and do not advance, so a parser may read a
 * whole fixed header and check rn_cur_ok() once. A length from the wire
 * is only ever used through rn_cur_bytes() or rn_cur_sub(), which check it.
 */
struct rn_cur {
	const uint8_t *p;
	const uint8_t *end;
	int err;
};

static inline void rn_cur_init(struct rn_cur *c, const uint8_t *buf, size_t len)
{
	c->p = buf;
	c->end = len != 0 ? buf + len : buf; /* NULL + 0 is undefined */
	c->err = RN_OK;
}

static inline size_t rn_cur_left(const struct rn_cur *c)
{
	return (size_t)(c->end - c->p);
}

static inline bool rn_cur_ok(const struct rn_cur *c)
{
	return c->err == RN_OK;
}

static inline void rn_cur_fail(struct rn_cur *c, int err)
{
	if (c->err == RN_OK)
		c->err = err;
}

/* True when n more bytes can be read; otherwise fails the cursor. */
static inline bool rn_cur_need(struct rn_cur *c, size_t n)
{
	if (RN_UNLIKELY(c->err != RN_OK))
		return false;
	if (RN_UNLIKELY(rn_cur_left(c) < n)) {
		c->err = RN_ETRUNC;
		return false;
	}
	return true;
}

/*
 * The big-endian integer in the width bytes (1 to 8) at p, whose length
 * the caller has checked (a netlink attribute of known size, an address):
 * the twin of rn_wcur_store(). Bytes from the wire go through a cursor.
 */
static inline uint64_t rn_load_be(const uint8_t *p, size_t width)
{
	/* The usual widths spelt out: compilers make one swapped load of them. */
	switch (width) {
	case 2:
		return (uint64_t)p[0] << 8 | p[1];
	case 4:
		return (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
	case 8:
		return rn_load_be(p, 4) << 32 | rn_load_be(p + 4, 4);
	default:
		break;
	}
	uint64_t v = 0;
	for (size_t i = 0; i < width; i++)
		v = v << 8 | p[i];
	return v;
}

static inline uint8_t rn_cur_u8(struct rn_cur *c)
{
	if (!rn_cur_need(c, 1))
		return 0;
	return *c->p++;
}

static inline uint16_t rn_cur_u16(struct rn_cur *c)
{
	if (!rn_cur_need(c, 2))
		return 0;
	uint16_t v = (uint16_t)rn_load_be(c->p, 2);
	c->p += 2;
	return v;
}

static inline uint32_t rn_cur_u32(struct rn_cur *c)
{
	if (!rn_cur_need(c, 4))
		return 0;
	uint32_t v = (uint32_t)rn_load_be(c->p, 4);
	c->p += 4;
	return v;
}

static inline uint64_t rn_cur_u64(struct rn_cur *c)
{
	uint64_t hi = rn_cur_u32(c);
	uint64_t lo = rn_cur_u32(c);
	return hi << 32 | lo;
}

/*
 * Reads an unsigned big-endian integer of 1 to 8 bytes (IPFIX reduced-size
 * encoding). Other widths fail with RN_EBADLEN.
 */
static inline uint64_t rn_cur_uint(struct rn_cur *c, size_t width)
{
	if (RN_UNLIKELY(width == 0 || width > 8)) {
		rn_cur_fail(c, RN_EBADLEN);
		return 0;
	}
	if (!rn_cur_need(c, width))
		return 0;
	uint64_t v = rn_load_be(c->p, width);
	c->p += width;
	return v;
}

/* Returns a pointer to the next n bytes and advances, or NULL. */
static inline const uint8_t *rn_cur_bytes(struct rn_cur *c, size_t n)
{
	if (!rn_cur_need(c, n))
		return NULL;
	const uint8_t *p = c->p;
	c->p += n;
	return p;
}

static inline void rn_cur_skip(struct rn_cur *c, size_t n)
{
	(void)rn_cur_bytes(c, n);
}

/*
 * Carves the next n bytes into sub and advances past them. On failure sub
 * is an empty, failed cursor.
 */
static inline bool rn_cur_sub(struct rn_cur *c, size_t n, struct rn_cur *sub)
{
	const uint8_t *p = rn_cur_bytes(c, n);
	if (p == NULL) {
		rn_cur_init(sub, c->p, 0);
		sub->err = c->err;
		return false;
	}
	rn_cur_init(sub, p, n);
	return true;
}

/* ------------------------------------------------------------------ */
/* Write cursor                                                        */
/* ------------------------------------------------------------------ */

/*
 * The writing twin of rn_cur: bytes and big-endian integers appended to a
 * buffer, with a sticky error, so an encoder writes a whole message and
 * checks once. A write that does not fit fails, writes nothing and does not
 * advance.
 *
 * Over a caller's buffer (rn_wcur_init) nothing is allocated, and a full
 * buffer is RN_ELIMIT. A growable cursor (rn_wcur_init_alloc) owns a
 * malloc'd buffer that grows up to max bytes (past that RN_ELIMIT, and
 * -ENOMEM when memory runs out); rn_wcur_take() hands the buffer to the
 * caller, rn_wcur_release() frees it.
 */
struct rn_wcur {
	uint8_t *p; /* the buffer; NULL in a growable cursor until its first write */
	size_t len; /* bytes written */
	size_t cap; /* bytes the buffer holds */
	size_t max; /* growable: the largest buffer allowed; 0 over a caller's buffer */
	int err;
};

static inline void rn_wcur_init(struct rn_wcur *w, uint8_t *buf, size_t cap)
{
	w->p = buf;
	w->len = 0;
	w->cap = buf != NULL ? cap : 0;
	w->max = 0;
	w->err = RN_OK;
}

/* A growable cursor of at most max bytes (max > 0). */
static inline void rn_wcur_init_alloc(struct rn_wcur *w, size_t max)
{
	w->p = NULL;
	w->len = 0;
	w->cap = 0;
	w->max = max;
	w->err = RN_OK;
}

/* Empties the cursor and clears its error; the buffer stays: a new message. */
static inline void rn_wcur_reset(struct rn_wcur *w)
{
	w->len = 0;
	w->err = RN_OK;
}

static inline bool rn_wcur_ok(const struct rn_wcur *w)
{
	return w->err == RN_OK;
}

static inline void rn_wcur_fail(struct rn_wcur *w, int err)
{
	if (w->err == RN_OK)
		w->err = err;
}

/*
 * Makes room for n more bytes: grows a growable cursor, or fails the
 * cursor. Returns its error. Called by the inline writers when full.
 */
int rn_wcur_grow(struct rn_wcur *w, size_t n);

/*
 * Advances over the next n bytes (n > 0) and returns them for the caller
 * to fill in place, or NULL when the cursor has failed.
 */
static inline uint8_t *rn_wcur_reserve(struct rn_wcur *w, size_t n)
{
	if (RN_UNLIKELY(w->err != RN_OK))
		return NULL;
	if (RN_UNLIKELY(w->p == NULL || w->cap - w->len < n) && rn_wcur_grow(w, n) != RN_OK)
		return NULL;
	uint8_t *p = w->p + w->len;
	w->len += n;
	return p;
}

static inline void rn_wcur_bytes(struct rn_wcur *w, const void *src, size_t n)
{
	if (n == 0)
		return;
	uint8_t *p = rn_wcur_reserve(w, n);
	if (p != NULL)
		memcpy(p, src, n);
}

/* Stores v big-endian in the width bytes at p (1 to 8). */
static inline void rn_wcur_store(uint8_t *p, uint64_t v, size_t width)
{
	/* The usual widths spelt out: compilers make one swapped store of them. */
	switch (width) {
	case 2:
		p[0] = (uint8_t)(v >> 8);
		p[1] = (uint8_t)v;
		return;
	case 4:
		p[0] = (uint8_t)(v >> 24);
		p[1] = (uint8_t)(v >> 16);
		p[2] = (uint8_t)(v >> 8);
		p[3] = (uint8_t)v;
		return;
	case 8:
		rn_wcur_store(p, v >> 32, 4);
		rn_wcur_store(p + 4, v, 4);
		return;
	default:
		break;
	}
	for (size_t i = width; i > 0; i--, v >>= 8)
		p[i - 1] = (uint8_t)v;
}

static inline void rn_wcur_u8(struct rn_wcur *w, uint8_t v)
{
	uint8_t *p = rn_wcur_reserve(w, 1);
	if (p != NULL)
		*p = v;
}

static inline void rn_wcur_u16(struct rn_wcur *w, uint16_t v)
{
	uint8_t *p = rn_wcur_reserve(w, 2);
	if (p != NULL)
		rn_wcur_store(p, v, 2);
}

static inline void rn_wcur_u32(struct rn_wcur *w, uint32_t v)
{
	uint8_t *p = rn_wcur_reserve(w, 4);
	if (p != NULL)
		rn_wcur_store(p, v, 4);
}

static inline void rn_wcur_u64(struct rn_wcur *w, uint64_t v)
{
	uint8_t *p = rn_wcur_reserve(w, 8);
	if (p != NULL)
		rn_wcur_store(p, v, 8);
}

/* The bytes of v as a protobuf varint (base 128, least significant first): 1 to 10. */
static inline size_t rn_varint_len(uint64_t v)
{
	size_t n = 1;
	for (; v >= 0x80; v >>= 7)
		n++;
	return n;
}

/* Appends v as a protobuf varint (rn_varint_len(v) bytes). */
static inline void rn_wcur_varint(struct rn_wcur *w, uint64_t v)
{
	uint8_t *p = rn_wcur_reserve(w, rn_varint_len(v));
	if (p == NULL)
		return;
	for (; v >= 0x80; v >>= 7)
		*p++ = (uint8_t)(v | 0x80);
	*p = (uint8_t)v;
}

/*
 * Overwrites width bytes (1 to 8) already written at offset at with v,
 * big-endian: a length or checksum known only once what follows it is
 * written. A range past what was written is a bug (RN_EINTERNAL).
 */
static inline void rn_wcur_patch(struct rn_wcur *w, size_t at, uint64_t v, size_t width)
{
	if (w->err != RN_OK)
		return;
	if (RN_UNLIKELY(width == 0 || width > 8 || at > w->len || w->len - at < width)) {
		w->err = RN_EINTERNAL;
		return;
	}
	rn_wcur_store(w->p + at, v, width);
}

/*
 * Growable cursors: on success *out is the malloc'd buffer of *len bytes,
 * which the caller frees, and the cursor is empty. On failure the buffer
 * is freed and the cursor's error returned.
 */
int rn_wcur_take(struct rn_wcur *w, uint8_t **out, size_t *len);
/* Frees a growable cursor's buffer; does nothing over a caller's buffer. */
void rn_wcur_release(struct rn_wcur *w);

/* ------------------------------------------------------------------ */
/* String builder                                                      */
/* ------------------------------------------------------------------ */

/*
 * Text appended with printf, over a write cursor: growable (rn_strbuf_init,
 * up to max bytes) or over a caller's buffer (rn_strbuf_init_fixed). The
 * text is always NUL-terminated. Errors are sticky, as the cursor's: an
 * append that does not fit fails and leaves the text as it was.
 */
struct rn_strbuf {
	struct rn_wcur w; /* w.len is the text's length; a NUL follows it */
};

/* A growable builder of at most max bytes including the NUL. */
void rn_strbuf_init(struct rn_strbuf *b, size_t max);
/* A builder over buf of cap bytes (cap >= 1: the NUL). */
void rn_strbuf_init_fixed(struct rn_strbuf *b, char *buf, size_t cap);

void rn_strbuf_printf(struct rn_strbuf *b, const char *fmt, ...) RN_PRINTF(2, 3);
void rn_strbuf_vprintf(struct rn_strbuf *b, const char *fmt, va_list ap) RN_PRINTF(2, 0);
void rn_strbuf_append(struct rn_strbuf *b, const void *s, size_t n);
void rn_strbuf_puts(struct rn_strbuf *b, const char *s);
void rn_strbuf_putc(struct rn_strbuf *b, char c);

/* The text so far ("" before the first append). */
static inline const char *rn_strbuf_str(const struct rn_strbuf *b)
{
	return b->w.p != NULL ? (const char *)b->w.p : "";
}

static inline size_t rn_strbuf_len(const struct rn_strbuf *b)
{
	return b->w.len;
}

static inline int rn_strbuf_err(const struct rn_strbuf *b)
{
	return b->w.err;
}

/* Empties the text and clears the error; keeps the memory. */
void rn_strbuf_reset(struct rn_strbuf *b);
/*
 * Growable builders: on success *out is the malloc'd, NUL-terminated text
 * of *len bytes, which the caller frees, and the builder is empty. On
 * failure the text is freed and the error returned. len may be NULL.
 */
int rn_strbuf_take(struct rn_strbuf *b, char **out, size_t *len);
/* Frees a growable builder's text; safe on a fixed one. */
void rn_strbuf_release(struct rn_strbuf *b);

/* ------------------------------------------------------------------ */
/* JSON                                                                */
/* ------------------------------------------------------------------ */

/* Nesting deeper than this is refused, by the reader and the writer. */
#define RN_JSON_DEPTH_MAX 32
/* The longest number the reader takes, in characters. */
#define RN_JSON_NUM_MAX 64

/*
 * The JSON writer (RFC 8259): compact output appended to a string
 * builder, one document per rn_jsonw_init(). Strings are escaped in full:
 * '"' and '\\', \b \f \n \r \t, other control characters as \u00XX; valid
 * UTF-8 is copied, and each byte of an invalid sequence becomes U+FFFD.
 * A misuse (a value where a key is due, an unbalanced end, a second
 * document) fails the writer with RN_EINTERNAL; errors are sticky, and
 * rn_jsonw_finish() reports them with the builder's.
 */
struct rn_jsonw {
	struct rn_strbuf *b;
	uint32_t obj;   /* bit d-1: level d is an object */
	uint32_t items; /* bit d-1: level d holds an item already */
	uint8_t depth;
	bool key;  /* a key was written; its value is due */
	bool done; /* the document's value is complete */
	int err;
};

void rn_jsonw_init(struct rn_jsonw *w, struct rn_strbuf *b);
void rn_jsonw_obj_begin(struct rn_jsonw *w);
void rn_jsonw_obj_end(struct rn_jsonw *w);
void rn_jsonw_arr_begin(struct rn_jsonw *w);
void rn_jsonw_arr_end(struct rn_jsonw *w);
/* A member name; its value comes next. */
void rn_jsonw_key(struct rn_jsonw *w, const char *k);
void rn_jsonw_str(struct rn_jsonw *w, const char *s);
void rn_jsonw_strn(struct rn_jsonw *w, const char *s, size_t n);
void rn_jsonw_int(struct rn_jsonw *w, int64_t v);
void rn_jsonw_uint(struct rn_jsonw *w, uint64_t v);
/* The shortest text that reads back as v; NaN and infinities are null. */
void rn_jsonw_double(struct rn_jsonw *w, double v);
/*
 * A number formatted by the caller ("%.4f", "%g"): the text must be a JSON
 * number, or the writer fails with RN_EINTERNAL.
 */
void rn_jsonw_numf(struct rn_jsonw *w, const char *fmt, ...) RN_PRINTF(2, 3);
void rn_jsonw_bool(struct rn_jsonw *w, bool v);
void rn_jsonw_null(struct rn_jsonw *w);
/* An event time as an RFC 3339 string (rn_time_format). */
void rn_jsonw_time(struct rn_jsonw *w, int64_t ms, bool with_ms);
/* A member: the key, then the value. */
void rn_jsonw_kv_str(struct rn_jsonw *w, const char *k, const char *s);
void rn_jsonw_kv_int(struct rn_jsonw *w, const char *k, int64_t v);
void rn_jsonw_kv_uint(struct rn_jsonw *w, const char *k, uint64_t v);
void rn_jsonw_kv_bool(struct rn_jsonw *w, const char *k, bool v);
void rn_jsonw_kv_time(struct rn_jsonw *w, const char *k, int64_t ms, bool with_ms);
/* RN_OK once one whole document was written; else the first error. */
int rn_jsonw_finish(const struct rn_jsonw *w);
/* Appends s (n bytes) as a quoted, escaped JSON string: the writer's escaping. */
void rn_json_quote(struct rn_strbuf *b, const char *s, size_t n);

/*
 * The JSON reader: a strict pull parser over a cursor. Each rn_json_next()
 * returns the next token (> 0) or the reader's sticky error (< 0). Strings
 * and keys are decoded into the caller's buffer, numbers kept as their text
 * (at most RN_JSON_NUM_MAX characters); nothing is allocated.
 *
 * Exactly RFC 8259, one value per input: no comments, no trailing commas,
 * no leading zeros, no lone surrogates or invalid UTF-8, no control
 * characters in strings, no NUL in keys, nothing but white space after the
 * value. Nesting is bounded by RN_JSON_DEPTH_MAX and strings by the
 * caller's buffer (RN_ELIMIT); grammar errors are RN_EPARSE. Repeated keys
 * are the caller's to refuse where they matter (rn_json_object() does).
 */
enum rn_json_tok {
	RN_JSON_END = 1,   /* the value is complete and only white space followed */
	RN_JSON_OBJ_BEGIN, /* { */
	RN_JSON_OBJ_END,   /* } */
	RN_JSON_ARR_BEGIN, /* [ */
	RN_JSON_ARR_END,   /* ] */
	RN_JSON_KEY,       /* a member name in str (str_len bytes); its value is next */
	RN_JSON_STR,       /* a string in str (str_len bytes, may hold a NUL) */
	RN_JSON_NUM,       /* a number; its text in num, see rn_json_int() */
	RN_JSON_TRUE,
	RN_JSON_FALSE,
	RN_JSON_NULL,
};

struct rn_json {
	struct rn_cur c;
	const uint8_t *start;
	char *str;      /* the caller's buffer: the last key or string, NUL-terminated */
	size_t str_cap; /* its size, including the NUL */
	size_t str_len; /* the last key's or string's length */
	char num[RN_JSON_NUM_MAX + 1]; /* the last number's text */
	uint32_t obj;                  /* bit d-1: level d is an object */
	uint8_t depth;
	uint8_t state;
	int err;
	const char *why;     /* the first error, static text */
	const char *err_key; /* the member it is about (rn_json_object), or NULL */
	size_t err_at;       /* and its byte offset */
};

/* Reads buf (len bytes), decoding strings into str (cap >= 1 bytes). */
void rn_json_init(struct rn_json *r, const uint8_t *buf, size_t len, char *str, size_t cap);
int rn_json_next(struct rn_json *r);
/*
 * Skips the value whose first token was tok: after RN_JSON_OBJ_BEGIN or
 * RN_JSON_ARR_BEGIN up to its end; after a scalar, nothing. Returns the
 * reader's error.
 */
int rn_json_skip(struct rn_json *r, int tok);
/* The last number as an integer; RN_EPARSE if it has a fraction or exponent, RN_ELIMIT if out of range. */
int rn_json_int(const struct rn_json *r, int64_t *v);
int rn_json_uint(const struct rn_json *r, uint64_t *v);
int rn_json_double(const struct rn_json *r, double *v);

/* How rn_json_object() stores a member's value. */
enum rn_json_ftype {
	RN_JSON_F_STR,  /* a string without NUL into char[size], cut at a character boundary */
	RN_JSON_F_INT,  /* an integer into int64_t */
	RN_JSON_F_UINT, /* a non-negative integer into uint64_t */
	RN_JSON_F_BOOL, /* true or false into bool */
	RN_JSON_F_FN,   /* fn reads the value; tok is its first token */
};

/* One member rn_json_object() knows, stored at base + off. */
struct rn_json_field {
	const char *name;
	enum rn_json_ftype type;
	size_t off;
	size_t size; /* RN_JSON_F_STR: the destination's size, NUL included */
	int (*fn)(struct rn_json *r, int tok, void *base);
};

/* rn_json_object(): values may not be objects or arrays, but where fn reads them. */
#define RN_JSON_FLAT 0x1u

/*
 * Reads one object, tok being its first token (RN_JSON_OBJ_BEGIN, from
 * rn_json_next() or handed to a field's fn), to its '}'. A member named in
 * fields[0..n) (n <= 32) is stored into base as its field says and its bit
 * set in *seen (NULL: not wanted); a known key met twice, or a value of
 * the wrong type, fails the reader with RN_EPARSE, and the error names the
 * key. Other keys are skipped, whatever their value (with RN_JSON_FLAT,
 * only scalars). Returns the reader's error.
 */
int rn_json_object(struct rn_json *r, int tok, const struct rn_json_field *fields, size_t n,
                   unsigned flags, void *base, uint32_t *seen);
/* Fails the reader with err and a static reason at the current offset; returns err. */
int rn_json_fail(struct rn_json *r, int err, const char *why);
/* The current byte offset into the input. */
static inline size_t rn_json_offset(const struct rn_json *r)
{
	return (size_t)(r->c.p - r->start);
}
/* Formats the error as "offset N: [key: ]reason"; returns the length written. */
size_t rn_json_error(const struct rn_json *r, char *dst, size_t dstlen);

/* ------------------------------------------------------------------ */
/* Addresses                                                           */
/* ------------------------------------------------------------------ */

#define RN_AF_INET  4
#define RN_AF_INET6 6

/*
 * An IPv4 or IPv6 address. IPv4 is kept in host byte order so that it can
 * be used directly as a 32-bit bitmap key; IPv6 in network order.
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are always stored as IPv4.
 */
struct rn_addr {
	uint8_t family; /* RN_AF_INET or RN_AF_INET6; 0 = unset */
	uint8_t pad_[3];
	union {
		uint32_t v4;
		uint8_t v6[16];
	} u;
};

struct rn_prefix {
	struct rn_addr addr; /* bits past len are zero */
	uint8_t len;         /* 0-32 or 0-128 */
};

/* Longest text form, "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", plus NUL. */
#define RN_ADDR_STRLEN   46
#define RN_PREFIX_STRLEN (RN_ADDR_STRLEN + 4)

static inline void rn_addr_set_v4(struct rn_addr *a, uint32_t host_order)
{
	memset(a, 0, sizeof(*a));
	a->family = RN_AF_INET;
	a->u.v4 = host_order;
}

/* Stores 16 network-order bytes; a v4-mapped address becomes IPv4. */
void rn_addr_set_v6(struct rn_addr *a, const uint8_t b[16]);
/* From 4 or 16 network-order bytes. Other lengths fail with RN_EBADLEN. */
int rn_addr_from_bytes(struct rn_addr *a, const uint8_t *b, size_t len);
/* Writes 4 or 16 network-order bytes into dst (16 bytes); returns the count. */
size_t rn_addr_to_bytes(const struct rn_addr *a, uint8_t dst[16]);

/*
 * Strict parsers: the whole of buf must be one address. IPv4 is four
 * decimal octets without leading zeros; IPv6 follows RFC 4291 section 2.2,
 * including "::" and a trailing dotted quad, without zone identifiers.
 */
int rn_addr_parse(const uint8_t *buf, size_t len, struct rn_addr *out);
/* As rn_addr_parse for a NUL-terminated string. */
int rn_addr_parse_str(const char *s, struct rn_addr *out);

/*
 * "addr/len" or a bare address (a host prefix). With strict, host bits set
 * past len are an error; without, they are cleared.
 */
int rn_prefix_parse(const uint8_t *buf, size_t len, bool strict, struct rn_prefix *out);
int rn_prefix_parse_str(const char *s, bool strict, struct rn_prefix *out);

/* Formats into dst; returns the length written, excluding the NUL. */
size_t rn_addr_format(const struct rn_addr *a, char *dst, size_t dstlen);
size_t rn_prefix_format(const struct rn_prefix *p, char *dst, size_t dstlen);

/* Clears the bits of a past len. */
void rn_addr_mask(struct rn_addr *a, unsigned len);
unsigned rn_addr_maxlen(const struct rn_addr *a);
bool rn_addr_equal(const struct rn_addr *a, const struct rn_addr *b);
/* Orders IPv4 before IPv6, then numerically. */
int rn_addr_cmp(const struct rn_addr *a, const struct rn_addr *b);
bool rn_prefix_contains(const struct rn_prefix *p, const struct rn_addr *a);
/* True when the two prefixes share any address. */
bool rn_prefix_overlaps(const struct rn_prefix *a, const struct rn_prefix *b);

struct sockaddr_storage;
/*
 * Parses "a.b.c.d:port" or "[v6]:port" (port 0-65535; 0 asks the kernel
 * for one) into ss; *sslen gets the socket address length.
 */
int rn_hostport_parse(const char *s, struct sockaddr_storage *ss, unsigned *sslen);
/* Formats a socket address as rn_hostport_parse() reads it. */
size_t rn_sockaddr_format(const void *sa, char *dst, size_t dstlen);
/*
 * The address and port (may be NULL) of a struct sockaddr_in or
 * sockaddr_in6; an IPv4-mapped IPv6 address folds to IPv4. RN_EUNSUPP for
 * any other family.
 */
int rn_addr_from_sockaddr(struct rn_addr *a, uint16_t *port, const void *sa);
/* True for 127.0.0.0/8 and ::1 (an IPv4-mapped one is folded already). */
bool rn_addr_is_loopback(const struct rn_addr *a);
/* True when "host:port" (rn_hostport_parse()) names a loopback address. */
bool rn_hostport_is_loopback(const char *hostport);

/*
 * A small list of prefixes, searched linearly: for allowlists and
 * never-block ranges of tens to hundreds of entries.
 */
struct rn_prefix_list {
	struct rn_prefix *v;
	size_t n;
	size_t cap;
};
int rn_prefix_list_add(struct rn_prefix_list *l, const struct rn_prefix *p);
/* Appends every entry of src to dst; on failure dst may hold some of them. */
int rn_prefix_list_append(struct rn_prefix_list *dst, const struct rn_prefix_list *src);
bool rn_prefix_list_contains(const struct rn_prefix_list *l, const struct rn_addr *a);
/* The first entry that overlaps p, or NULL. */
const struct rn_prefix *rn_prefix_list_overlap(const struct rn_prefix_list *l,
                                               const struct rn_prefix *p);
void rn_prefix_list_clear(struct rn_prefix_list *l);
/* Appends the RFC 6890 special-purpose ranges that must never be listed. */
int rn_prefix_list_add_special(struct rn_prefix_list *l);
/* Appends the loopback ranges, 127.0.0.0/8 and ::1/128. */
int rn_prefix_list_add_loopback(struct rn_prefix_list *l);

/* ------------------------------------------------------------------ */
/* Observations                                                        */
/* ------------------------------------------------------------------ */

/* The C names of the repnet/v1 enums; the values are the wire values. */
enum rn_kind {
	RN_KIND_UNSPECIFIED = 0,
	RN_KIND_SMTP_CONNECT = 1,
	RN_KIND_RBL_LISTED = 2,
	RN_KIND_UNKNOWN_RECIPIENT = 3,
	RN_KIND_RELAY_DENIED = 4,
	RN_KIND_HELO_REJECT = 5,
	RN_KIND_SENDER_REJECT = 6,
	RN_KIND_CLIENT_REJECT = 7,
	RN_KIND_NO_RDNS = 8,
	RN_KIND_PREGREET = 9,
	RN_KIND_PIPELINING = 10,
	RN_KIND_NON_SMTP = 11,
	RN_KIND_HANGUP = 12,
	RN_KIND_SASL_FAIL = 13,
	RN_KIND_LOST_CONNECTION = 14,
	RN_KIND_TIMEOUT = 15,
	RN_KIND_TOO_MANY_ERRORS = 16,
	RN_KIND_RATE_LIMITED = 17,
	RN_KIND_DENYLISTED = 18,
	RN_KIND_CONTENT_REJECT = 19,
	RN_KIND_SPAMTRAP = 20,
	RN_KIND_PROTOCOL_ERROR = 21,
	RN_KIND_NO_MAIL = 22,
	RN_KIND_SASL_SUCCESS = 23,
	RN_KIND_SASL_BRUTEFORCE = 64,
	RN_KIND_SASL_DISTRIBUTED = 65,
	RN_KIND_HARVEST = 66,
	RN_KIND_PROTOCOL_BOT = 67,
	RN_KIND_RELAY_PROBE = 68,
	RN_KIND_CONN_FLOOD = 69,
	RN_KIND_RBL_CONFIRMED = 70,
	RN_KIND_SMTP_SPRAY = 128,
	RN_KIND_SCAN_HORIZONTAL = 129,
	RN_KIND_SCAN_VERTICAL = 130,
	RN_KIND_AUTH_BRUTEFORCE = 131,
	RN_KIND_REFLECTOR = 132,
	RN_KIND_AMPLIFICATION_VICTIM = 133,
	RN_KIND_SYN_ONLY = 134,
	RN_KIND_UDP_ONEWAY = 135,
	RN_KIND_PEER_LISTED = 192,
	RN_KIND_IMPORTED = 193,
};
/* Kind values fit in a byte, so tables indexed by kind have this size. */
#define RN_KIND_MAX 256

enum rn_category {
	RN_CAT_UNSPECIFIED = 0,
	RN_CAT_SPAM_SOURCE = 1,
	RN_CAT_SASL_BRUTEFORCE = 2,
	RN_CAT_SCANNER = 3,
	RN_CAT_PROTOCOL_BOT = 4,
	RN_CAT_HARVESTER = 5,
	RN_CAT_PEER_LISTED = 6,
	RN_CAT_RELAY_PROBE = 7,
	RN_CAT_BRUTEFORCE = 8,
	RN_CAT_REFLECTOR = 9,
	RN_CAT_DROP = 10,
};
#define RN_CAT_COUNT 11

enum rn_source {
	RN_SRC_UNSPECIFIED = 0,
	RN_SRC_POSTFIX = 1,
	RN_SRC_EXIM = 2,
	RN_SRC_NETFLOW_V5 = 3,
	RN_SRC_NETFLOW_V9 = 4,
	RN_SRC_IPFIX = 5,
	RN_SRC_SFLOW = 6,
	RN_SRC_MIRROR = 7,
	RN_SRC_PEER = 8,
	RN_SRC_IMPORT = 9,
};
#define RN_SRC_COUNT 10

/* Lower-case snake names ("sasl_fail"), or NULL for an unknown value. */
const char *rn_kind_name(unsigned kind);
int rn_kind_parse(const char *name, enum rn_kind *out);
const char *rn_category_name(unsigned cat);
int rn_category_parse(const char *name, enum rn_category *out);
/*
 * Writes the categories of cats (bit c: category c) as a JSON array of
 * names, in category order: the "categories" of every blocklist repnet
 * prints.
 */
void rn_category_json_write(struct rn_jsonw *w, uint32_t cats);
const char *rn_source_name(unsigned src);

#define RN_EVIDENCE_MAX 32 /* bytes including the NUL */
#define RN_PROGRAM_MAX  32

/*
 * One observation, as collectors produce it. Plain data: no pointers, so
 * arrays of them are copied and batched freely.
 */
struct rn_obs {
	struct rn_addr addr;
	uint8_t prefix_len; /* 0: a single address */
	uint8_t source;     /* enum rn_source */
	uint16_t kind;      /* enum rn_kind */
	uint32_t count;     /* >= 1 */
	int64_t ts_ms;      /* event time */
	char evidence[RN_EVIDENCE_MAX];
	char program[RN_PROGRAM_MAX]; /* local only, never on the bus */
};

/* Copies s into the evidence field, truncating at a character boundary. */
void rn_obs_set_evidence(struct rn_obs *o, const char *s, size_t len);

/* A collector's name in a scorer's keyring, including the NUL. */
#define RN_COLLECTOR_NAME_MAX 64

/* The header of an observation batch (repnet.v1.ObservationBatch). */
struct rn_obs_batch_meta {
	uint8_t collector_id[16];
	uint64_t batch_seq;
	int64_t sent_ms;
	uint8_t reporter[8];
	/*
	 * The name of the key that signed the batch, in the scorer's keyring:
	 * written by the scorer once the signature verified, and journalled
	 * with the batch. Empty: not known (a batch from before collectors
	 * signed, or one read from a file).
	 */
	char collector[RN_COLLECTOR_NAME_MAX];
};

/*
 * Packs n observations into a repnet.v1.ObservationBatch. On success *out
 * is a malloc'd buffer of *len bytes that the caller frees.
 */
int rn_obs_batch_pack(const struct rn_obs_batch_meta *meta, const struct rn_obs *obs, size_t n,
                      uint8_t **out, size_t *len);

/* Why observations in a batch were refused, for the metrics. */
struct rn_obs_rejects {
	uint64_t bad_ip;       /* not 4 or 16 bytes */
	uint64_t bad_prefix;   /* prefix_len longer than the address */
	uint64_t bad_kind;     /* a kind this build does not know */
	uint64_t bad_count;    /* count of zero */
	uint64_t bad_evidence; /* evidence too long or not UTF-8 */
	uint64_t bad_source;   /* a source this build does not know */
};

/*
 * Decodes a repnet.v1.ObservationBatch of at most cap observations into
 * obs[] under a decoding budget. Observations that fail validation are
 * skipped and counted in rej; the rest are stored, *n of them. A batch
 * that does not decode, holds more than cap observations, or names a
 * collector longer than RN_COLLECTOR_NAME_MAX - 1 bytes or with control
 * characters, fails with RN_EPARSE or RN_ELIMIT and stores nothing.
 */
int rn_obs_batch_unpack(const uint8_t *buf, size_t len, size_t cap, struct rn_obs_batch_meta *meta,
                        struct rn_obs *obs, size_t *n, struct rn_obs_rejects *rej);

/*
 * Observations as JSON lines: the one format `repnet logs`, `repnet flows
 * --obs` and `repnet import` print and `repnet score` and `repnet explain`
 * read.
 *   {"ts":"2026-11-29T02:26:49Z","ip":"192.0.2.1","kind":"sasl_fail",
 *    "source":"postfix","program":"postfix/smtpd","evidence":"auth:LOGIN",
 *    "count":3}
 * "prefix_len" follows "ip" when the observation covers a prefix; "ts"
 * carries milliseconds when they are not zero.
 */
/* Writes o as one object, a value of w. */
void rn_obs_json_write(struct rn_jsonw *w, const struct rn_obs *o);
/* Appends o to b as one line (the object and a newline); returns b's error. */
int rn_obs_json_line(struct rn_strbuf *b, const struct rn_obs *o);
/*
 * Parses one object (buf, len bytes; white space around it is allowed).
 * ts, ip and kind are required; the other keys default (source
 * unspecified, program and evidence empty, count 1, prefix_len 0).
 * Unknown keys are skipped, known keys may not repeat, nested values are
 * refused. On failure *out is untouched, the result is RN_EPARSE or
 * RN_ELIMIT, and err (errlen bytes) says what and at which offset.
 */
int rn_obs_json_parse(const uint8_t *buf, size_t len, struct rn_obs *out, char *err, size_t errlen);

/* ------------------------------------------------------------------ */
/* Metrics                                                             */
/* ------------------------------------------------------------------ */

/*
 * Counters live inside the structures of the code that bumps them, so the
 * hot path touches only its own cache lines. A counter with one writer
 * uses rn_counter_inc(); one with several uses rn_counter_add_shared().
 * The registry reads them when /metrics is scraped.
 */
struct rn_counter {
	_Atomic uint64_t v;
};

static inline void rn_counter_add(struct rn_counter *c, uint64_t n)
{
	atomic_store_explicit(&c->v, atomic_load_explicit(&c->v, memory_order_relaxed) + n,
	                      memory_order_relaxed);
}
static inline void rn_counter_inc(struct rn_counter *c)
{
	rn_counter_add(c, 1);
}
static inline void rn_counter_add_shared(struct rn_counter *c, uint64_t n)
{
	atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed);
}
static inline uint64_t rn_counter_get(const struct rn_counter *c)
{
	return atomic_load_explicit(&c->v, memory_order_relaxed);
}

struct rn_gauge {
	_Atomic int64_t v;
};
static inline void rn_gauge_set(struct rn_gauge *g, int64_t v)
{
	atomic_store_explicit(&g->v, v, memory_order_relaxed);
}
static inline void rn_gauge_add(struct rn_gauge *g, int64_t d)
{
	atomic_fetch_add_explicit(&g->v, d, memory_order_relaxed);
}
static inline int64_t rn_gauge_get(const struct rn_gauge *g)
{
	return atomic_load_explicit(&g->v, memory_order_relaxed);
}

enum rn_metric_type {
	RN_METRIC_COUNTER,
	RN_METRIC_GAUGE,
};

struct rn_metrics;

/* Allocates an empty registry; free it with rn_metrics_free(). */
int rn_metrics_alloc(struct rn_metrics **out);
void rn_metrics_free(struct rn_metrics *m);

/*
 * Registers a counter or gauge. name must match [a-z_][a-z0-9_]* and should
 * start with "repnet_"; labels is NULL or a Prometheus label list without
 * braces, e.g. "program=\"postfix/smtpd\"". help and labels are copied.
 * The value must outlive its registration. owner groups entries so that
 * rn_metrics_unregister() can drop them together. The same name with the
 * same labels twice is RN_EEXIST; the same name with another type or help
 * is RN_ECONF.
 */
int rn_metrics_counter(struct rn_metrics *m, const void *owner, const char *name, const char *help,
                       const char *labels, const struct rn_counter *c);
int rn_metrics_gauge(struct rn_metrics *m, const void *owner, const char *name, const char *help,
                     const char *labels, const struct rn_gauge *g);
/* A value computed at scrape time by fn(arg), which must be thread-safe. */
int rn_metrics_func(struct rn_metrics *m, const void *owner, const char *name, const char *help,
                    enum rn_metric_type type, const char *labels, double (*fn)(void *arg),
                    void *arg);
/* Drops every entry registered with owner. */
void rn_metrics_unregister(struct rn_metrics *m, const void *owner);

/*
 * Renders the registry in the Prometheus text exposition format 0.0.4.
 * On success *out is a NUL-terminated buffer of *len bytes that the caller
 * frees with free().
 */
int rn_metrics_render(struct rn_metrics *m, char **out, size_t *len);
/* Escapes a label value (\\, \" and \n); returns the length written. */
size_t rn_metrics_escape(const char *in, char *out, size_t outlen);
/* Looks up one value by name and exact label list; for tests and status. */
int rn_metrics_value(struct rn_metrics *m, const char *name, const char *labels, double *out);

/* ------------------------------------------------------------------ */
/* Configuration                                                       */
/* ------------------------------------------------------------------ */

/*
 * Configuration is a table. Each library describes its keys in an array of
 * rn_conf_key rows, ending with a row whose name is NULL, with offsets into
 * its own configuration struct. The loader reads a libconfig file, checks
 * every key against the tables (unknown keys are errors), applies defaults,
 * checks bounds, and reports the first error with file, line and key.
 *
 * The file is libconfig syntax; a key "syslog.udp_listen" in section
 * "collector" is written
 *
 *     collector: { syslog: { udp_listen = "127.0.0.1:5514"; }; };
 *
 * Defaults are strings parsed by the same code as the file, so the table
 * is the single source of truth, and `repnet config` prints it.
 */
enum rn_conf_type {
	RN_CONF_BOOL,     /* bool */
	RN_CONF_INT,      /* int64_t in [min, max] */
	RN_CONF_DOUBLE,   /* double in [min, max] (bounds as integers) */
	RN_CONF_DURATION, /* int64_t ms in [min, max] ms; "30s", "5m", or seconds */
	RN_CONF_SIZE,     /* uint64_t bytes in [min, max]; "8M" */
	RN_CONF_STRING,   /* char *, length in [min, max]; "" is NULL when min is 0 */
	RN_CONF_ENUM,     /* int: index into enum_names */
	RN_CONF_FLAGS,    /* unsigned: bitmask, a list of enum_names */
	RN_CONF_HOSTPORT, /* char *, "host:port" or "[v6]:port"; "" disables */
	RN_CONF_URL,      /* char *, an nng URL such as "tcp://127.0.0.1:7400" */
	RN_CONF_STRLIST,  /* struct rn_strlist, up to max entries */
	RN_CONF_PREFIXES, /* struct rn_prefix_list, up to max entries */
	RN_CONF_CUSTOM,   /* parsed by parse(); the node is not checked */
};

/* A key may be changed by SIGHUP without a restart. */
#define RN_CONF_RELOAD 0x1u
/* The value is a secret: never printed. */
#define RN_CONF_SECRET 0x2u

struct rn_strlist {
	char **v;
	size_t n;
};

/* An opaque handle on one node of the parsed file, for custom parsers. */
struct rn_conf_node;

struct rn_conf_key {
	const char *name; /* dotted, relative to the section */
	enum rn_conf_type type;
	size_t offset;
	int64_t min;
	int64_t max;
	const char *def; /* default in file syntax, or NULL for none/empty */
	const char *help;
	const char *const *enum_names; /* NULL-terminated, for ENUM and FLAGS */
	unsigned flags;
	/* CUSTOM only: parse node (NULL: apply the default) into field. */
	int (*parse)(const struct rn_conf_node *node, void *field, char *err, size_t errlen);
	/* CUSTOM only: release what parse() stored in field. */
	void (*release)(void *field);
	/* CUSTOM only: true when two parsed values are the same (for reload). */
	bool (*equal)(const void *a, const void *b);
	/* Optional extra check after the value is stored. */
	int (*check)(const void *field, char *err, size_t errlen);
};

/*
 * One key table bound to its struct. Several tables may share a section
 * name; their keys must not overlap (a group, such as "syslog", may span
 * tables only if its keys are distinct).
 */
struct rn_conf_section {
	const char *name; /* "core", "collector", ... */
	const struct rn_conf_key *keys;
	void *base; /* the section's configuration struct */
};

struct rn_conf_error {
	char file[256];
	int line; /* 0 when unknown */
	char key[128];
	char msg[256];
};

/*
 * The known name closest to a misspelt one, for "did you mean": with
 * secname, name is a key (or group) of that section and out gets
 * "section.key"; with secname NULL, name is a section name. out is ""
 * when nothing is within a few edits.
 */
void rn_conf_suggest(const struct rn_conf_section *secs, size_t nsecs, const char *secname,
                     const char *name, char *out, size_t outlen);
/* Formats "file:line: key: message". */
size_t rn_conf_error_format(const struct rn_conf_error *e, char *dst, size_t dstlen);

/*
 * Loads path (NULL: defaults only) into the sections. overrides is NULL or
 * a NULL-terminated list of "section.key=value" strings applied on top.
 * On failure *err says where, and the sections hold nothing that needs
 * freeing. On success release with rn_conf_release().
 */
int rn_conf_load(const char *path, const char *const *overrides, struct rn_conf_section *secs,
                 size_t nsecs, struct rn_conf_error *err);
/* As rn_conf_load, reading the file's text from buf (for tests and fuzzing). */
int rn_conf_load_buf(const char *buf, size_t len, const char *name, const char *const *overrides,
                     struct rn_conf_section *secs, size_t nsecs, struct rn_conf_error *err);
void rn_conf_release(struct rn_conf_section *secs, size_t nsecs);

/*
 * Compares two loaded configurations field by field. Returns the first key
 * (as "section.key") that differs and is not RN_CONF_RELOAD, or NULL.
 */
const char *rn_conf_first_restart_key(const struct rn_conf_section *old_secs,
                                      const struct rn_conf_section *new_secs, size_t nsecs,
                                      char *buf, size_t buflen);

/* Writes every key with its type, bounds, default and help, as Markdown. */
int rn_conf_describe(const struct rn_conf_section *secs, size_t nsecs, char **out, size_t *len);
/* Writes the effective configuration in file syntax (secrets masked). */
int rn_conf_dump(const struct rn_conf_section *secs, size_t nsecs, char **out, size_t *len);

/* Accessors for custom parsers. */
int rn_conf_node_line(const struct rn_conf_node *n);
const char *rn_conf_node_name(const struct rn_conf_node *n);
/* For groups, lists and arrays: the number of children and the i-th one. */
size_t rn_conf_node_count(const struct rn_conf_node *n);
const struct rn_conf_node *rn_conf_node_child(const struct rn_conf_node *n, size_t i);
const struct rn_conf_node *rn_conf_node_member(const struct rn_conf_node *n, const char *name);
bool rn_conf_node_is_group(const struct rn_conf_node *n);
bool rn_conf_node_is_list(const struct rn_conf_node *n);
int rn_conf_node_string(const struct rn_conf_node *n, const char **out);
int rn_conf_node_int(const struct rn_conf_node *n, int64_t *out);
int rn_conf_node_double(const struct rn_conf_node *n, double *out);
int rn_conf_node_bool(const struct rn_conf_node *n, bool *out);

void rn_strlist_clear(struct rn_strlist *l);
int rn_strlist_add(struct rn_strlist *l, const char *s);

/*
 * The core section: what every role shares. Its keys are
 * rn_core_conf_keys; the daemon names the section "core".
 */
#define RN_ROLE_COLLECT 0x01u
#define RN_ROLE_SCORE   0x02u
#define RN_ROLE_PUBLISH 0x04u
#define RN_ROLE_SERVE   0x08u
#define RN_ROLE_SYNC    0x10u
#define RN_ROLE_ALL     0x1fu

struct rn_core_conf {
	char *instance;    /* a name for this node, in logs and metrics */
	char *data_dir;    /* state: journals, snapshots, templates, keys */
	unsigned roles;    /* RN_ROLE_* */
	int log_level;     /* RN_LOG_ERR + index: err, warning, notice, info, debug */
	char *http_listen; /* host:port for /metrics and the HTTP APIs */
	char *user;        /* started as root, become this user (NULL: stay) */
	int64_t http_max_conns;
	int64_t http_max_per_client;
	int64_t http_header_timeout_ms;
	int64_t http_idle_ms;
	int64_t shutdown_grace_ms;
};
extern const struct rn_conf_key rn_core_conf_keys[];
extern const char *const rn_role_names[]; /* indexed by bit position */

/* ------------------------------------------------------------------ */
/* Connection server                                                   */
/* ------------------------------------------------------------------ */

/*
 * One server for the stream services (the DNSBL's TCP side, the policy
 * service, syslog TCP): one epoll thread serves one or more TCP and unix
 * listeners and does accept, the caps, the timers, bounded buffers and the
 * accept back-off; the service supplies a handler that consumes bytes and
 * writes answers. All timers run on CLOCK_MONOTONIC.
 *
 * Caps are per server (its listeners share them). A client is an IPv4
 * address, an IPv6 /64, or on a unix socket the peer's uid. When a
 * client already holds max_per_client connections, its connection whose
 * state (idle or in a message) began longest ago is closed to admit the
 * new one. When the server holds max_conns, a newcomer whose client holds
 * fewer connections than the client holding the most is admitted and
 * that client's oldest connection is closed; otherwise the newcomer is
 * refused. So a client with no connection is always admitted.
 *
 * A message's deadline (msg_ms) starts at its first byte (or when the
 * previous answer has been fully written) and is not extended by further
 * bytes; a connection with no message in progress and nothing to write
 * is closed after idle_ms. A connection whose answers the client does not
 * read stops being read and falls under the deadline.
 *
 * Counters per listener name, in the registry: repnet_connections_total
 * {listener,outcome}, repnet_accept_backoffs_total{listener} and the gauge
 * repnet_connections_open{listener}.
 */
struct rn_connsrv;
/* The help texts of those metrics, which the bus's listeners share. */
#define RN_CONNECTIONS_HELP \
	"Connections of the stream servers and the bus listeners, by listener and outcome."
#define RN_CONNECTIONS_OPEN_HELP \
	"Open connections of the stream servers and the bus listeners, by listener."
#define RN_ACCEPT_BACKOFFS_HELP                                                           \
	"Pauses of accepting because descriptors or memory ran out (or, on the bus, ran " \
	"short), by listener."
/* One connection, lent to the handler for the duration of a call. */
struct rn_conn;

struct rn_connsrv_ops {
	/*
	 * Optional: a connection was accepted. May set per-connection state
	 * with rn_conn_set_user(). An error refuses the connection.
	 */
	int (*open)(void *arg, struct rn_conn *c);
	/*
	 * Optional: an accepted TCP connection's peer (IPv4-mapped folded),
	 * before any cap is applied, so a peer turned away costs nobody
	 * their connection. RN_OK admits it; anything else closes it at
	 * once, counted as "denied"; the service logs why. Not called for
	 * unix sockets (their file mode is the access control).
	 */
	int (*admit)(void *arg, const struct rn_addr *peer, uint16_t port);
	/*
	 * Required: in[0..len) is what is buffered. Consumes whole messages
	 * only and sets *used (bytes consumed, at most len); the rest stays
	 * buffered and is passed again with more. Called only when all
	 * earlier output has been handed to the kernel; answers are written
	 * with rn_conn_reserve()/rn_conn_commit() or rn_conn_write(), and a
	 * handler whose answer does not fit stops consuming (it is called
	 * again once the output drains). A handler that keeps partial
	 * messages in buffers of its own consumes every byte and reports
	 * with rn_conn_progress() on every call. A negative rn_err closes
	 * the connection (after one attempt to send what was written).
	 */
	int (*data)(void *arg, struct rn_conn *c, const uint8_t *in, size_t len, size_t *used);
	/* Optional: the connection is closing, for any reason; release its state. */
	void (*close)(void *arg, struct rn_conn *c);
	/* Optional: called on the event thread after each round of events and at stop. */
	void (*tick)(void *arg);
};

struct rn_connsrv_conf {
	const char *name;      /* for logs, e.g. "dnsbl" */
	size_t max_conns;      /* open connections at most, every listener together (>= 1) */
	size_t max_per_client; /* open connections of one client at most (>= 1) */
	int64_t idle_ms;       /* no message in progress this long: closed */
	int64_t msg_ms;        /* one message, from its first byte, at most this long */
	size_t in_max;         /* input buffer per connection (>= 1) */
	size_t out_max;        /* output buffer per connection; 0 when the handler never writes */
	int64_t backoff_ms;    /* accept pause after EMFILE, ENFILE, ENOBUFS, ENOMEM; 0: 250 */
	bool drain_on_stop;    /* at stop, read what the kernel holds and hand it over first */
	struct rn_connsrv_ops ops;
	void *arg; /* passed to every callback */
};

/*
 * Allocates a server (no thread yet). conf is copied (name included);
 * m may be NULL. Free with rn_connsrv_free().
 */
int rn_connsrv_alloc(struct rn_connsrv **out, const struct rn_connsrv_conf *conf,
                     struct rn_metrics *m);

struct rn_connsrv_listen {
	const char *name;      /* metric label, [a-z0-9_]{1,31}; listeners may share one */
	const char *hostport;  /* TCP "a.b.c.d:port" or "[v6]:port"; or NULL */
	const char *unix_path; /* or a unix stream socket (a stale socket is replaced) */
	unsigned port;         /* TCP: when nonzero, replaces hostport's port */
	bool v6only;           /* TCP over IPv6: IPV6_V6ONLY */
};
/*
 * Binds and listens, before rn_connsrv_start(). *port (may be NULL) gets
 * the TCP port bound. A unix socket file is removed by rn_connsrv_free().
 */
int rn_connsrv_listen(struct rn_connsrv *s, const struct rn_connsrv_listen *l, unsigned *port);
/*
 * Serves another readable descriptor on the event thread (level-
 * triggered): fn(arg) is called when fd is readable, and once more at
 * stop when drain_on_stop is set. The caller keeps fd. Before start.
 */
int rn_connsrv_watch(struct rn_connsrv *s, int fd, void (*fn)(void *arg), void *arg);
/* Registers the metrics and starts the event thread. */
int rn_connsrv_start(struct rn_connsrv *s);
/*
 * Stops the thread (waking it; with drain_on_stop it first reads what is
 * queued), closes every connection (calling ops.close) and listener,
 * unregisters the metrics and frees. Safe on NULL.
 */
void rn_connsrv_free(struct rn_connsrv *s);
/* Rounds of the event loop so far (for tests: a server that spins shows it). */
uint64_t rn_connsrv_wakeups(const struct rn_connsrv *s);

/* Per-connection state of the handler's own; NULL until set. */
void *rn_conn_user(const struct rn_conn *c);
void rn_conn_set_user(struct rn_conn *c, void *user);
/* Free bytes in the output buffer. */
size_t rn_conn_room(const struct rn_conn *c);
/*
 * n bytes of the output buffer to write an answer into, or NULL when
 * fewer are free; rn_conn_commit() then queues the first k <= n of them.
 */
uint8_t *rn_conn_reserve(struct rn_conn *c, size_t n);
void rn_conn_commit(struct rn_conn *c, size_t k);
/* Queues buf; RN_ELIMIT (nothing queued) when it does not fit. */
int rn_conn_write(struct rn_conn *c, const void *buf, size_t n);
/*
 * Queues buf[0..len), a malloc'd buffer the connection takes over, after
 * what was written to the output buffer: for answers larger than out_max.
 * It is freed once sent or when the connection closes. Until then nothing
 * more can be written (rn_conn_room() is 0), so it ends the handler's
 * answer. RN_ESTATE, with ownership left to the caller, when one is
 * already queued. Only from ops.data.
 */
int rn_conn_send_heap(struct rn_conn *c, void *buf, size_t len);
/*
 * Ends the connection once what is queued has gone to the kernel: nothing
 * more is read or handed to the handler. Only from ops.data.
 */
void rn_conn_end(struct rn_conn *c);
/*
 * Formats the peer ("a.b.c.d:port", "[v6]:port", or "uid N" on a unix
 * socket) into dst; returns its length, 0 when unknown.
 */
size_t rn_conn_peer(const struct rn_conn *c, char *dst, size_t dstlen);
/*
 * For handlers that buffer partial messages themselves: `done` messages
 * ended in the bytes just consumed, and `partial` says whether one is
 * still incomplete. Only from ops.data.
 */
void rn_conn_progress(struct rn_conn *c, unsigned done, bool partial);

/* ------------------------------------------------------------------ */
/* Privileges and privileged helpers (priv.c, launch.c)               */
/* ------------------------------------------------------------------ */

/* A capability as a bit of a mask: RN_CAP(CAP_NET_ADMIN). */
#define RN_CAP(c) (UINT64_C(1) << (c))

/* The user a process switches to. */
struct rn_priv_user {
	char name[64];
	uid_t uid;
	gid_t gid; /* the primary group */
};
/* Looks name up in the user database; RN_ENOTFOUND when there is no such user. */
int rn_priv_user_lookup(const char *name, struct rn_priv_user *u);

/*
 * Gives path, and everything under it not owned by uid:gid already, to
 * uid:gid. Symbolic links under path are never followed (they are given
 * to the user themselves); a file with more than one link is left alone
 * and counted in *skipped. Needs CAP_CHOWN. On failure msg says which
 * file and why.
 */
int rn_priv_chown_tree(const char *path, uid_t uid, gid_t gid, size_t *changed, size_t *skipped,
                       char *msg, size_t len);

/*
 * repnetd's privilege drop, in two halves (see priv.c). rn_priv_prepare(),
 * as root while the process has one thread (RN_EINTERNAL when it has
 * more, since all of it is per thread): u's groups and gid, an empty
 * bounding set, no inheritable or ambient capability, no_new_privs, and
 * the file system uid set to u (every file opened from then on is opened
 * as u). rn_priv_finish(), from the main thread once every privileged
 * socket is open: the uid becomes u's in every thread, which clears every
 * capability, and then every thread is checked (rn_priv_check with keep
 * 0). On failure msg says what failed; the caller makes it fatal.
 */
int rn_priv_prepare(const struct rn_priv_user *u, char *msg, size_t len);
int rn_priv_finish(const struct rn_priv_user *u, char *msg, size_t len);
/*
 * Becomes u in a single-threaded process keeping exactly the capabilities
 * in keep, as permitted, effective, inheritable and ambient ones (so that
 * a program it executes starts with them), the bounding set cut to keep
 * and no_new_privs set; then checks itself. For the launcher.
 */
int rn_priv_become(const struct rn_priv_user *u, uint64_t keep, char *msg, size_t len);
/*
 * Checks every thread of this process (/proc/self/task): real, effective,
 * saved and file system uid and gid, the inheritable, permitted,
 * effective and ambient sets exactly keep, no_new_privs on.
 */
int rn_priv_check(uid_t uid, gid_t gid, uint64_t keep, char *msg, size_t len);

/*
 * The privileged helpers, and how they are started. Each one is its own
 * executable, started with one end of an AF_UNIX SOCK_SEQPACKET pair as
 * its descriptor 3.
 */
enum rn_helper_kind {
	RN_HELPER_NFSYNC = 1,  /* repnet-nfsync: CAP_NET_ADMIN */
	RN_HELPER_CAPTURE = 2, /* repnet-capture: CAP_NET_RAW, CAP_NET_ADMIN, CAP_BPF */
};
#define RN_HELPER_KINDS 3
/* Most arguments (argv[0] included) a helper's command line may have. */
#define RN_LAUNCH_ARGV 16
/* "nfsync", "capture"; "?" for anything else. Static. */
const char *rn_helper_name(int kind);
/* The capabilities helper kind needs, as RN_CAP() bits. */
uint64_t rn_helper_caps(int kind);

/* A helper process. pidfd lets a parent that is not its parent wait and signal safely. */
struct rn_helper {
	pid_t pid;  /* -1: none */
	int sock;   /* our end of its socket pair; -1: closed */
	int pidfd;  /* -1: none (or a kernel without pidfds) */
	bool child; /* ours to reap: started directly, not through the launcher */
};
#define RN_HELPER_NONE ((struct rn_helper){.pid = -1, .sock = -1, .pidfd = -1})

/*
 * Starts helper kind. Through the process's launcher when one is in use
 * (rn_launcher_use): it runs the command line it was started with for
 * kind, and argv is not used. Otherwise with posix_spawn(argv) (argv[0]
 * is the path). On success *h owns the socket and the pidfd; release them
 * with rn_helper_stop() or rn_helper_release(). Thread-safe.
 */
int rn_helper_spawn(int kind, char *const argv[], struct rn_helper *h);
/* Sends sig to the helper (never to another process that reused its pid). */
void rn_helper_kill(struct rn_helper *h, int sig);
/* Waits until the helper has exited (reaped when it is ours); -ETIMEDOUT. timeout_ms < 0: no bound. */
int rn_helper_wait(struct rn_helper *h, int timeout_ms);
/* Closes the socket and the pidfd, without waiting. */
void rn_helper_release(struct rn_helper *h);
/* Closes the socket, waits up to timeout_ms, kills it if it is still there, releases. */
void rn_helper_stop(struct rn_helper *h, int timeout_ms);

/*
 * The launcher (repnet-launch): a process repnetd starts while it is
 * still root, which becomes `user` keeping the capabilities of the
 * helpers in argv, and starts those on request. argv[kind] is the
 * helper's command line (argv[0] the path, at most RN_LAUNCH_ARGV
 * entries), NULL for a helper this process will not need.
 * rn_launcher_start() returns once the launcher has dropped to the user;
 * free with rn_launcher_stop(), which also stops its helpers.
 */
struct rn_launcher;
struct rn_launcher_opts {
	const char *path; /* repnet-launch */
	const struct rn_priv_user *user;
	char *const *argv[RN_HELPER_KINDS];
	bool foreground; /* log to stderr rather than syslog */
	int log_level;
};
int rn_launcher_start(struct rn_launcher **out, const struct rn_launcher_opts *o);
void rn_launcher_stop(struct rn_launcher *l);
/* Makes rn_helper_spawn() go through l (NULL: spawn directly). */
void rn_launcher_use(struct rn_launcher *l);
struct rn_launcher_status {
	pid_t pid;
	bool up; /* false once it has exited or broken the protocol */
	uint64_t started, failed;
	int last_error; /* of the last request; 0 when it succeeded */
};
void rn_launcher_status(struct rn_launcher *l, struct rn_launcher_status *st);
/* repnet_launcher_up, repnet_launcher_spawns_total{helper,result}. */
int rn_launcher_metrics(struct rn_launcher *l, struct rn_metrics *m);
/* The launcher's own main(), for src/repnet-launch. */
int rn_launcher_main(int argc, char **argv);
/* Decodes a launcher request (exposed for the tests): exactly 8 bytes, a known helper. */
int rn_launch_req_decode(const uint8_t *buf, size_t len, uint8_t *kind);

/* ------------------------------------------------------------------ */
/* Files and checksums                                                 */
/* ------------------------------------------------------------------ */

/* CRC32C (Castagnoli), as iSCSI and ext4 use it. Start with crc = 0. */
uint32_t rn_crc32c(uint32_t crc, const void *buf, size_t len);

/*
 * Replaces path with buf atomically: writes path.tmp, fsyncs it, renames it
 * over path and fsyncs the directory. mode applies to a new file.
 */
int rn_file_replace(const char *path, const void *buf, size_t len, unsigned mode);
/* Reads a whole file of at most max bytes; *out is freed with free(). */
int rn_file_read(const char *path, size_t max, uint8_t **out, size_t *len);
/*
 * Writes all len bytes of buf to fd (a file, a pipe, a stream socket),
 * through short writes and EINTR. Returns RN_OK or -errno.
 */
int rn_write_all(int fd, const void *buf, size_t len);
/*
 * Reads fd (a pipe, standard input) to its end, at most max bytes
 * (RN_ELIMIT past that); *out is freed with free(). fd stays open.
 */
int rn_fd_read(int fd, size_t max, uint8_t **out, size_t *len);
/* mkdir -p with mode for each missing component. */
int rn_mkdirs(const char *path, unsigned mode);

/* The installed directories rn_path_installed() knows (GNUInstallDirs). */
enum rn_instdir {
	RN_INSTDIR_BIN,
	RN_INSTDIR_SBIN,
	RN_INSTDIR_LIBEXEC,
	RN_INSTDIR_DATA,
};
/*
 * Where an installed file lives when the running executable is installed:
 * if the executable's directory ends in the configured bindir or sbindir
 * (e.g. /usr/sbin), writes <prefix>/<dir>/<name> into out, the prefix being
 * what precedes that directory, so that a tree installed with --prefix or
 * DESTDIR finds its own files. Returns RN_OK when that file exists,
 * RN_ENOTFOUND when the executable is not in an installed layout (a build
 * tree), -ENOENT when the file is absent, RN_ELIMIT when out is too small.
 */
int rn_path_installed(enum rn_instdir dir, const char *name, char *out, size_t len);
/*
 * Writes <the running executable's directory>/<name> into out: where a
 * build tree keeps repnet's programs, side by side. Whether that file
 * exists is the caller's to check. Returns RN_OK, -errno when
 * /proc/self/exe cannot be read, RN_ELIMIT when out is too small.
 */
int rn_path_beside_self(const char *name, char *out, size_t len);

/* ------------------------------------------------------------------ */
/* Protobuf                                                            */
/* ------------------------------------------------------------------ */

/*
 * A protobuf-c allocator with a byte budget, so that a hostile message
 * cannot make the decoder allocate without bound. Allocations past the
 * budget fail, and protobuf-c then fails the unpack.
 */
struct rn_pb_budget {
	ProtobufCAllocator alloc; /* pass &b.alloc to protobuf-c */
	size_t limit;
	size_t used;
	bool exceeded;
};
void rn_pb_budget_init(struct rn_pb_budget *b, size_t limit);

#ifdef __cplusplus
}
#endif

#endif /* REPNET_PROTO_H */
