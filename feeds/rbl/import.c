/*
 * import.c: parsers for the list formats repnet reads: its own plain and
 * JSON exports, Spamhaus DROP (JSON lines and the legacy text), rbldnsd
 * ip4set data and plain CIDR lists.
 *
 * Design notes. Every parser is line-oriented over the caller's buffer:
 * a line is found with memchr, bounded by IMPORT_LINE_MAX, and read
 * through struct rn_cur; nothing is allocated and nothing is copied
 * except into fixed stack buffers whose size is checked first. A
 * malformed line is skipped, counted and logged (rate-limited) with its
 * number, so one bad line in a 1M-line list does not lose the list;
 * strict mode (tests, fuzzing) fails on the first instead.
 *
 * JSON lines (repnet's own, Spamhaus DROP's) are read by proto's strict
 * reader through a table of fields (rn_json_object()): a line is exactly
 * one RFC 8259 object whose values are scalars, but for "categories", an
 * array of names. A known key must have its type and appear once; other
 * keys are skipped. Strings are bounded (IMPORT_STR_MAX) and decoded in
 * full (\u escapes of any code point, surrogate pairs joined) and their
 * UTF-8 checked; a nested value, a number with a leading zero, a lone
 * surrogate or invalid UTF-8 makes the line malformed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "feeds/rbl/rbl.h"

#define IMPORT_LINE_MAX 4096
#define IMPORT_STR_MAX  256
#define DROP_TYPE_MAX   16                /* longer than "metadata" */
#define IMPORT_CHUNK    (256u << 10)      /* a file is read and parsed this much at a time */
#define IMPORT_FILE_MAX ((size_t)1 << 30) /* as rn_file_read's bound was */

/* ---- helpers ---------------------------------------------------------- */

static bool is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static void skip_space(struct rn_cur *c)
{
	while (rn_cur_left(c) > 0 && is_space(*c->p))
		c->p++;
}

/* The next token: bytes up to whitespace or one of the stop characters. */
static size_t token(struct rn_cur *c, const char *stops, const uint8_t **tok)
{
	*tok = c->p;
	while (rn_cur_left(c) > 0) {
		uint8_t ch = *c->p;
		/* Digits and dots, most of a list, are never stops. */
		if (!((ch >= '0' && ch <= '9') || ch == '.') &&
		    (is_space(ch) || strchr(stops, ch) != NULL))
			break;
		c->p++;
	}
	return (size_t)(c->p - *tok);
}

/* ---- JSON lines --------------------------------------------------------- */

struct line_ctx {
	struct feeds_import_entry e;
	char type[DROP_TYPE_MAX]; /* DROP JSON: "metadata" marks the line without an entry */
	char why[128];            /* a malformed JSON line: where and why, for the log */
	int cb_rc;                /* what the caller's function returned, when not 0 */
};

static int rd_prefix(struct rn_json *r, int tok, void *base)
{
	struct line_ctx *lc = base;
	if (tok != RN_JSON_STR ||
	    rn_prefix_parse((const uint8_t *)r->str, r->str_len, false, &lc->e.prefix) != RN_OK)
		return rn_json_fail(r, RN_EPARSE, "expected an address or a prefix");
	return RN_OK;
}

static int rd_expires(struct rn_json *r, int tok, void *base)
{
	struct line_ctx *lc = base;
	if (tok != RN_JSON_STR ||
	    rn_time_parse((const uint8_t *)r->str, r->str_len, &lc->e.expires_ms) != RN_OK)
		return rn_json_fail(r, RN_EPARSE, "expected an RFC 3339 time");
	return RN_OK;
}

static int rd_categories(struct rn_json *r, int tok, void *base)
{
	struct line_ctx *lc = base;
	if (tok != RN_JSON_ARR_BEGIN)
		return rn_json_fail(r, RN_EPARSE, "expected an array of category names");
	while ((tok = rn_json_next(r)) == RN_JSON_STR) {
		enum rn_category cat;
		if (memchr(r->str, '\0', r->str_len) != NULL ||
		    rn_category_parse(r->str, &cat) != RN_OK || cat == RN_CAT_UNSPECIFIED)
			return rn_json_fail(r, RN_EPARSE, "not a category");
		lc->e.categories |= 1u << cat;
	}
	if (tok != RN_JSON_ARR_END)
		return rn_json_fail(r, RN_EPARSE, "expected an array of category names");
	return RN_OK;
}

/* repnet's JSON: "prefix", or "ip" as repnet score names a host, first. */
static const struct rn_json_field json_fields[] = {
        {.name = "prefix", .type = RN_JSON_F_FN, .fn = rd_prefix},
        {.name = "ip", .type = RN_JSON_F_FN, .fn = rd_prefix},
        {.name = "expires", .type = RN_JSON_F_FN, .fn = rd_expires},
        {.name = "categories", .type = RN_JSON_F_FN, .fn = rd_categories},
};

/* Spamhaus DROP JSON: "cidr" first. */
static const struct rn_json_field drop_fields[] = {
        {.name = "cidr", .type = RN_JSON_F_FN, .fn = rd_prefix},
        {.name = "sblid",
         .type = RN_JSON_F_STR,
         .off = offsetof(struct line_ctx, e.evidence),
         .size = RN_EVIDENCE_MAX},
        {.name = "type",
         .type = RN_JSON_F_STR,
         .off = offsetof(struct line_ctx, type),
         .size = DROP_TYPE_MAX},
};

/*
 * Reads the rest of the line as one object with these fields and nothing
 * after it; *seen gets the fields met. A malformed line's reason goes to
 * lc->why.
 */
static int parse_json_line(struct rn_cur *c, struct line_ctx *lc,
                           const struct rn_json_field *fields, size_t n, uint32_t *seen)
{
	char str[IMPORT_STR_MAX];
	struct rn_json r;
	rn_json_init(&r, c->p, rn_cur_left(c), str, sizeof(str));
	int rc = rn_json_object(&r, rn_json_next(&r), fields, n, RN_JSON_FLAT, lc, seen);
	if (rc == RN_OK && rn_json_next(&r) != RN_JSON_END)
		rc = r.err;
	if (rc != RN_OK)
		rn_json_error(&r, lc->why, sizeof(lc->why));
	return rc;
}

/* ---- text lines --------------------------------------------------------- */

/* A prefix token and an optional comment: plain, cidr, drop-txt. */
static int parse_prefix_line(struct rn_cur *c, struct line_ctx *lc, bool drop)
{
	const uint8_t *tok;
	size_t n = token(c, "#;", &tok);
	if (n == 0)
		return RN_EPARSE;
	if (rn_prefix_parse(tok, n, false, &lc->e.prefix) != RN_OK)
		return RN_EPARSE;
	skip_space(c);
	if (rn_cur_left(c) == 0)
		return RN_OK;
	if (*c->p != '#' && *c->p != ';')
		return RN_EPARSE;
	if (drop && *c->p == ';') {
		/* "; SBL123456" */
		c->p++;
		skip_space(c);
		n = token(c, "", &tok);
		if (n >= sizeof(lc->e.evidence))
			n = sizeof(lc->e.evidence) - 1;
		memcpy(lc->e.evidence, tok, n);
		lc->e.evidence[n] = '\0';
	}
	return RN_OK;
}

/* ---- rbldnsd ip4set ---------------------------------------------------- */

/*
 * Reads 1 to 4 dotted decimal octets. *noct gets how many were given.
 */
static int ip4_octets(const uint8_t *p, size_t n, uint32_t *v, unsigned *noct)
{
	uint32_t x = 0;
	unsigned o = 0, digits = 0, cur = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || p[i] == '.') {
			if (digits == 0 || o == 4)
				return RN_EPARSE;
			x = x << 8 | cur;
			o++;
			digits = 0;
			cur = 0;
			continue;
		}
		if (p[i] < '0' || p[i] > '9' || digits == 3)
			return RN_EPARSE;
		cur = cur * 10 + (unsigned)(p[i] - '0');
		digits++;
		if (cur > 255)
			return RN_EPARSE;
	}
	*v = x << (8 * (4 - o));
	*noct = o;
	return RN_OK;
}

/* Emits the CIDR cover of [lo, hi] through fn. */
static int range_emit(uint32_t lo, uint32_t hi, struct line_ctx *lc,
                      int (*fn)(void *arg, const struct feeds_import_entry *e), void *arg,
                      struct feeds_import_stats *st)
{
	for (;;) {
		unsigned len = 32;
		while (len > 0) {
			uint32_t bit = 1u << (32 - len);
			uint32_t mask = (bit << 1) - 1;
			if ((lo & mask) != 0 || lo + mask > hi || lo + mask < lo)
				break;
			len--;
		}
		/* len is the shortest prefix starting at lo inside the range. */
		rn_addr_set_v4(&lc->e.prefix.addr, lo);
		lc->e.prefix.len = (uint8_t)len;
		st->entries++;
		int rc = fn(arg, &lc->e);
		if (rc != 0) {
			lc->cb_rc = rc;
			return rc;
		}
		uint32_t size_m1 = len == 0 ? UINT32_MAX : (1u << (32 - len)) - 1;
		if (lo + size_m1 >= hi)
			return RN_OK;
		lo += size_m1 + 1;
	}
}

/*
 * The common line of a large list, a lone dotted quad: *v gets it and
 * true is returned when p starts with exactly four octets that end the
 * token (what follows is nothing, a space or a stop character of the
 * ip4set grammar). Anything else (ranges, prefixes, short forms) is left
 * to the general parser, which reads such a quad the same way.
 */
static bool ip4_quad_fast(const uint8_t *p, size_t n, uint32_t *v, size_t *used)
{
	uint32_t x = 0;
	size_t i = 0;
	for (unsigned o = 0; o < 4; o++) {
		unsigned cur = 0, digits = 0;
		if (o > 0) {
			if (i == n || p[i] != '.')
				return false;
			i++;
		}
		while (i < n && p[i] >= '0' && p[i] <= '9' && digits < 3) {
			cur = cur * 10 + (unsigned)(p[i] - '0');
			digits++;
			i++;
		}
		if (digits == 0 || cur > 255)
			return false;
		x = x << 8 | cur;
	}
	if (i < n && !is_space(p[i]) && p[i] != '#' && p[i] != ';' && p[i] != ':' && p[i] != '\0')
		return false;
	*v = x;
	*used = i;
	return true;
}

static int parse_ip4set_line(struct rn_cur *c, struct line_ctx *lc,
                             int (*fn)(void *arg, const struct feeds_import_entry *e), void *arg,
                             struct feeds_import_stats *st)
{
	const uint8_t *tok;
	bool excl = false;
	uint32_t quad;
	size_t used;
	if (*c->p == '!') {
		excl = true;
		c->p++;
	} else if (ip4_quad_fast(c->p, rn_cur_left(c), &quad, &used)) {
		/* What follows the address is not kept, as below. */
		c->p += used;
		rn_addr_set_v4(&lc->e.prefix.addr, quad);
		lc->e.prefix.len = 32;
		st->entries++;
		int rc = fn(arg, &lc->e);
		if (rc != 0)
			lc->cb_rc = rc;
		return rc;
	}
	size_t n = token(c, "#;:", &tok);
	if (n == 0)
		return RN_EPARSE;
	/*
	 * What follows the range (":A:TXT", a bare TXT template or a comment)
	 * is not kept: categories come from the caller.
	 */
	const uint8_t *dash = memchr(tok, '-', n);
	const uint8_t *slash = memchr(tok, '/', n);
	uint32_t lo, hi;
	unsigned noct;
	if (dash != NULL) {
		uint32_t b;
		unsigned nb;
		if (slash != NULL)
			return RN_EPARSE;
		if (ip4_octets(tok, (size_t)(dash - tok), &lo, &noct) != RN_OK ||
		    ip4_octets(dash + 1, n - (size_t)(dash - tok) - 1, &b, &nb) != RN_OK)
			return RN_EPARSE;
		if (nb == 1 && noct > 1) {
			/* "127.16-31": the suffix replaces the last given octet. */
			unsigned shift = 8 * (4 - noct);
			b = (lo & ~(0xffu << shift)) | (b >> 24) << shift;
			nb = noct;
		}
		hi = b | (nb == 4 ? 0 : (uint32_t)((1ull << (8 * (4 - nb))) - 1));
		if (hi < lo)
			return RN_EPARSE;
	} else {
		unsigned len;
		size_t an = slash != NULL ? (size_t)(slash - tok) : n;
		if (ip4_octets(tok, an, &lo, &noct) != RN_OK)
			return RN_EPARSE;
		len = 8 * noct;
		if (slash != NULL) {
			unsigned l = 0, digits = 0;
			for (const uint8_t *p = slash + 1; p < tok + n; p++) {
				if (*p < '0' || *p > '9' || digits == 2)
					return RN_EPARSE;
				l = l * 10 + (unsigned)(*p - '0');
				digits++;
			}
			if (digits == 0 || l > 32)
				return RN_EPARSE;
			len = l;
		}
		uint32_t mask = len == 0 ? 0 : UINT32_MAX << (32 - len);
		lo &= mask;
		hi = lo | ~mask;
	}
	if (excl) {
		st->excluded++;
		return RN_OK;
	}
	return range_emit(lo, hi, lc, fn, arg, st);
}

/* ---- driver ----------------------------------------------------------- */

static bool fmt_known(enum feeds_list_format fmt)
{
	return fmt == FEEDS_FMT_PLAIN || fmt == FEEDS_FMT_JSON || fmt == FEEDS_FMT_DROP_JSON ||
	       fmt == FEEDS_FMT_DROP_TXT || fmt == FEEDS_FMT_IP4SET || fmt == FEEDS_FMT_CIDR;
}

/*
 * Parses the lines of buf, numbering them after *lineno and adding to
 * st's counts.
 */
static int import_lines(enum feeds_list_format fmt, const uint8_t *buf, size_t len, bool strict,
                        int (*fn)(void *arg, const struct feeds_import_entry *e), void *arg,
                        struct feeds_import_stats *st, uint64_t *lineno)
{
	size_t off = 0;
	while (off < len) {
		const uint8_t *nl = memchr(buf + off, '\n', len - off);
		size_t ll = nl != NULL ? (size_t)(nl - (buf + off)) : len - off;
		struct rn_cur c;
		struct line_ctx lc;
		uint32_t seen = 0;
		int rc = RN_OK;

		rn_cur_init(&c, buf + off, ll);
		off += ll + (nl != NULL ? 1 : 0);
		++*lineno;
		st->lines++;
		memset(&lc.e, 0, sizeof(lc.e));
		lc.type[0] = '\0';
		lc.why[0] = '\0';
		lc.cb_rc = 0;
		if (ll > IMPORT_LINE_MAX) {
			rc = RN_EOVERLONG;
			goto bad;
		}
		skip_space(&c);
		if (rn_cur_left(&c) == 0)
			continue;
		uint8_t first = *c.p;
		switch (fmt) {
		case FEEDS_FMT_PLAIN:
		case FEEDS_FMT_CIDR:
			if (first == '#' || first == ';')
				continue;
			rc = parse_prefix_line(&c, &lc, false);
			break;
		case FEEDS_FMT_DROP_TXT:
			if (first == ';' || first == '#')
				continue;
			rc = parse_prefix_line(&c, &lc, true);
			break;
		case FEEDS_FMT_DROP_JSON:
			rc = parse_json_line(&c, &lc, drop_fields, RN_ARRAY_LEN(drop_fields),
			                     &seen);
			if (rc == RN_OK && strcmp(lc.type, "metadata") == 0)
				continue;
			if (rc == RN_OK && !(seen & 1)) {
				rc = RN_EPARSE;
				snprintf(lc.why, sizeof(lc.why), "no \"cidr\"");
			}
			break;
		case FEEDS_FMT_JSON:
			rc = parse_json_line(&c, &lc, json_fields, RN_ARRAY_LEN(json_fields),
			                     &seen);
			if (rc == RN_OK && !(seen & 3)) {
				rc = RN_EPARSE;
				snprintf(lc.why, sizeof(lc.why), "no \"prefix\" or \"ip\"");
			}
			break;
		case FEEDS_FMT_IP4SET:
			/* Comments, specials ($SOA, $TTL ...) and default values (":A:TXT"). */
			if (first == '#' || first == ';' || first == '$' || first == ':')
				continue;
			rc = parse_ip4set_line(&c, &lc, fn, arg, st);
			if (lc.cb_rc != 0)
				return lc.cb_rc; /* stopped by fn */
			if (rc == RN_OK)
				continue;
			break;
		default:
			return RN_EUNSUPP;
		}
		if (rc == RN_OK) {
			st->entries++;
			rc = fn(arg, &lc.e);
			if (rc != 0)
				return rc;
			continue;
		}
	bad:
		st->bad_lines++;
		log_warnx_rl("import: line %llu: %s", (unsigned long long)*lineno,
		             lc.why[0] != '\0' ? lc.why : rn_strerror(rc));
		if (strict)
			return RN_EPARSE;
	}
	return RN_OK;
}

int feeds_import_parse(enum feeds_list_format fmt, const uint8_t *buf, size_t len, bool strict,
                       int (*fn)(void *arg, const struct feeds_import_entry *e), void *arg,
                       struct feeds_import_stats *st)
{
	uint64_t lineno = 0;
	struct feeds_import_stats dummy;
	if (st == NULL)
		st = &dummy;
	memset(st, 0, sizeof(*st));
	if (!fmt_known(fmt))
		return RN_EUNSUPP;
	return import_lines(fmt, buf, len, strict, fn, arg, st, &lineno);
}

/*
 * Reads path ("-": standard input) in chunks of IMPORT_CHUNK bytes and
 * parses each chunk's whole lines, so that a file of any size costs one
 * chunk of memory; a line longer than the chunk is counted malformed and
 * skipped to its end. At most IMPORT_FILE_MAX bytes (RN_ELIMIT past it).
 */
static int import_stream(const char *path, enum feeds_list_format fmt,
                         int (*fn)(void *arg, const struct feeds_import_entry *e), void *arg,
                         struct feeds_import_stats *st)
{
	bool std = strcmp(path, "-") == 0;
	int fd = std ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	uint8_t *buf = NULL;
	size_t have = 0, total = 0;
	uint64_t lineno = 0;
	bool skipping = false; /* inside a line longer than the chunk */
	int rc = RN_OK;

	memset(st, 0, sizeof(*st));
	if (!fmt_known(fmt))
		return RN_EUNSUPP;
	if (fd < 0)
		return -errno;
	buf = malloc(IMPORT_CHUNK);
	if (buf == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, buf + have, IMPORT_CHUNK - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			break;
		}
		total += (size_t)r;
		if (total > IMPORT_FILE_MAX) {
			rc = RN_ELIMIT;
			break;
		}
		have += (size_t)r;
		bool eof = r == 0;
		if (skipping) {
			const uint8_t *nl = memchr(buf, '\n', have);
			if (nl == NULL) {
				have = 0;
				if (eof)
					break;
				continue;
			}
			size_t skip = (size_t)(nl - buf) + 1;
			memmove(buf, buf + skip, have - skip);
			have -= skip;
			skipping = false;
		}
		size_t upto = have;
		if (!eof) {
			while (upto > 0 && buf[upto - 1] != '\n')
				upto--;
			if (upto == 0 && have < IMPORT_CHUNK)
				continue; /* a partial line: read more */
			if (upto == 0) {
				/* The chunk is one line too long to keep: malformed. */
				upto = have;
				skipping = true;
			}
		}
		if ((rc = import_lines(fmt, buf, upto, false, fn, arg, st, &lineno)) != RN_OK)
			break;
		memmove(buf, buf + upto, have - upto);
		have -= upto;
		if (eof)
			break;
	}
out:
	free(buf);
	if (!std)
		close(fd);
	return rc;
}

/* ---- reading a file into view entries --------------------------------- */

/*
 * An entry whose expiry has passed is dropped by both readers below, so
 * that the list a daemon serves and the one `repnet export` writes from
 * the same file are the same list. now_ms is the wall clock, read once
 * per file.
 */
static bool import_expired(const struct feeds_import_entry *e, int64_t now_ms)
{
	return e->expires_ms != 0 && e->expires_ms <= now_ms;
}

struct collect {
	struct feeds_view_entry *v;
	size_t n, cap, max;
	uint32_t default_cats;
	int64_t now_ms;
	struct feeds_import_stats *st;
};

static int collect_fn(void *arg, const struct feeds_import_entry *e)
{
	struct collect *c = arg;
	if (import_expired(e, c->now_ms)) {
		c->st->expired++;
		return 0;
	}
	if (c->n == c->max)
		return RN_ELIMIT;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 1024;
		if (cap > c->max)
			cap = c->max;
		struct feeds_view_entry *v = realloc(c->v, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		c->v = v;
		c->cap = cap;
	}
	struct feeds_view_entry *d = &c->v[c->n++];
	d->prefix = e->prefix;
	d->categories = e->categories != 0 ? e->categories : c->default_cats;
	d->expires_ms = e->expires_ms;
	return 0;
}

int feeds_import_file(const char *path, enum feeds_list_format fmt, uint32_t default_cats,
                      size_t max_entries, struct feeds_view_entry **out, size_t *n,
                      struct feeds_import_stats *st)
{
	return feeds_import_file_at(path, fmt, default_cats, max_entries, rn_time_now_ms(), out, n,
	                            st);
}

int feeds_import_file_at(const char *path, enum feeds_list_format fmt, uint32_t default_cats,
                         size_t max_entries, int64_t now_ms, struct feeds_view_entry **out,
                         size_t *n, struct feeds_import_stats *st)
{
	struct feeds_import_stats dummy;
	if (st == NULL)
		st = &dummy;
	struct collect c = {
	        .max = max_entries, .default_cats = default_cats, .now_ms = now_ms, .st = st};
	int rc = import_stream(path, fmt, collect_fn, &c, st);
	if (rc != RN_OK) {
		free(c.v);
		return rc;
	}
	*out = c.v;
	*n = c.n;
	return RN_OK;
}

/* ---- reading a file into a bulk load ----------------------------------- */

struct load_ctx {
	struct feeds_listview_load *ld;
	size_t max;
	uint32_t default_cats;
	int64_t now_ms;
	struct feeds_import_stats *st;
};

static int load_fn(void *arg, const struct feeds_import_entry *e)
{
	struct load_ctx *c = arg;
	if (import_expired(e, c->now_ms)) {
		c->st->expired++;
		return 0;
	}
	if (feeds_listview_load_count(c->ld) == c->max)
		return RN_ELIMIT;
	struct feeds_view_entry v = {.prefix = e->prefix,
	                             .categories =
	                                     e->categories != 0 ? e->categories : c->default_cats,
	                             .expires_ms = e->expires_ms};
	return feeds_listview_load_add(c->ld, &v);
}

int feeds_import_load(const char *path, enum feeds_list_format fmt, uint32_t default_cats,
                      size_t max_entries, struct feeds_listview_load *ld,
                      struct feeds_import_stats *st)
{
	struct feeds_import_stats dummy;
	if (st == NULL)
		st = &dummy;
	struct load_ctx c = {.ld = ld,
	                     .max = max_entries,
	                     .default_cats = default_cats,
	                     .now_ms = rn_time_now_ms(),
	                     .st = st};
	return import_stream(path, fmt, load_fn, &c, st);
}
