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
 * The JSON reader handles exactly what these formats need: one flat
 * object per line whose values are strings, numbers, booleans, null or
 * arrays of strings. Nested objects are malformed. Strings are bounded
 * (IMPORT_STR_MAX); escapes are decoded, \u only for ASCII.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "feeds/rbl/rbl.h"

#define IMPORT_LINE_MAX 4096
#define IMPORT_STR_MAX  256

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
	while (rn_cur_left(c) > 0 && !is_space(*c->p) && strchr(stops, *c->p) == NULL)
		c->p++;
	return (size_t)(c->p - *tok);
}

/* ---- JSON (flat objects) ---------------------------------------------- */

static void json_ws(struct rn_cur *c)
{
	while (rn_cur_left(c) > 0 && (is_space(*c->p) || *c->p == '\n'))
		c->p++;
}

static bool json_lit(struct rn_cur *c, const char *lit)
{
	size_t n = strlen(lit);
	if (rn_cur_left(c) < n || memcmp(c->p, lit, n) != 0)
		return false;
	c->p += n;
	return true;
}

static int hexval(uint8_t ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Reads a string into out (NUL-terminated, at most IMPORT_STR_MAX - 1 bytes). */
static int json_string(struct rn_cur *c, char *out, size_t *outlen)
{
	size_t o = 0;
	if (rn_cur_u8(c) != '"')
		return RN_EPARSE;
	for (;;) {
		uint8_t ch = rn_cur_u8(c);
		if (!rn_cur_ok(c))
			return RN_EPARSE;
		if (ch == '"')
			break;
		if (ch < 0x20)
			return RN_EPARSE;
		if (ch == '\\') {
			uint8_t e = rn_cur_u8(c);
			switch (e) {
			case '"':
			case '\\':
			case '/':
				ch = e;
				break;
			case 'b':
				ch = '\b';
				break;
			case 'f':
				ch = '\f';
				break;
			case 'n':
				ch = '\n';
				break;
			case 'r':
				ch = '\r';
				break;
			case 't':
				ch = '\t';
				break;
			case 'u': {
				const uint8_t *h = rn_cur_bytes(c, 4);
				if (h == NULL)
					return RN_EPARSE;
				int v = 0;
				for (int i = 0; i < 4; i++) {
					int x = hexval(h[i]);
					if (x < 0)
						return RN_EPARSE;
					v = v << 4 | x;
				}
				if (v == 0 || v > 0x7f)
					return RN_EUNSUPP;
				ch = (uint8_t)v;
				break;
			}
			default:
				return RN_EPARSE;
			}
		}
		if (o + 1 >= IMPORT_STR_MAX)
			return RN_EOVERLONG;
		out[o++] = (char)ch;
	}
	out[o] = '\0';
	if (outlen != NULL)
		*outlen = o;
	return RN_OK;
}

/* Skips a number, true, false or null. */
static int json_scalar(struct rn_cur *c)
{
	if (json_lit(c, "true") || json_lit(c, "false") || json_lit(c, "null"))
		return RN_OK;
	size_t n = 0;
	while (rn_cur_left(c) > 0 && (strchr("0123456789+-.eE", *c->p) != NULL)) {
		c->p++;
		n++;
	}
	return n > 0 ? RN_OK : RN_EPARSE;
}

/*
 * Parses one flat object, calling fn(key, value) for string values and
 * fn(key, NULL) once per element of a string array (elements through
 * arr). Other values are skipped.
 */
struct json_cb {
	int (*str)(void *arg, const char *key, const char *val);
	int (*elem)(void *arg, const char *key, const char *val);
	void *arg;
};

static int json_object(struct rn_cur *c, const struct json_cb *cb)
{
	char key[IMPORT_STR_MAX], val[IMPORT_STR_MAX];
	int rc;
	json_ws(c);
	if (rn_cur_u8(c) != '{')
		return RN_EPARSE;
	json_ws(c);
	if (rn_cur_left(c) > 0 && *c->p == '}') {
		c->p++;
		goto end;
	}
	for (;;) {
		json_ws(c);
		if ((rc = json_string(c, key, NULL)) != RN_OK)
			return rc;
		json_ws(c);
		if (rn_cur_u8(c) != ':')
			return RN_EPARSE;
		json_ws(c);
		if (rn_cur_left(c) == 0)
			return RN_EPARSE;
		if (*c->p == '"') {
			if ((rc = json_string(c, val, NULL)) != RN_OK)
				return rc;
			if (cb->str != NULL && (rc = cb->str(cb->arg, key, val)) != RN_OK)
				return rc;
		} else if (*c->p == '[') {
			c->p++;
			json_ws(c);
			if (rn_cur_left(c) > 0 && *c->p == ']') {
				c->p++;
			} else {
				for (;;) {
					json_ws(c);
					if ((rc = json_string(c, val, NULL)) != RN_OK)
						return rc;
					if (cb->elem != NULL &&
					    (rc = cb->elem(cb->arg, key, val)) != RN_OK)
						return rc;
					json_ws(c);
					uint8_t ch = rn_cur_u8(c);
					if (ch == ']')
						break;
					if (ch != ',')
						return RN_EPARSE;
				}
			}
		} else if ((rc = json_scalar(c)) != RN_OK) {
			return rc;
		}
		json_ws(c);
		uint8_t ch = rn_cur_u8(c);
		if (ch == '}')
			break;
		if (ch != ',')
			return RN_EPARSE;
	}
end:
	json_ws(c);
	return rn_cur_left(c) == 0 && rn_cur_ok(c) ? RN_OK : RN_EPARSE;
}

/* ---- per-format line parsers ------------------------------------------ */

struct line_ctx {
	struct feeds_import_entry e;
	bool have_prefix;
	bool skip; /* a line that carries no entry (metadata) */
	int cb_rc; /* what the caller's function returned, when not 0 */
};

static int set_prefix(struct line_ctx *lc, const char *s, size_t n)
{
	if (rn_prefix_parse((const uint8_t *)s, n, false, &lc->e.prefix) != RN_OK)
		return RN_EPARSE;
	lc->have_prefix = true;
	return RN_OK;
}

static int drop_json_str(void *arg, const char *key, const char *val)
{
	struct line_ctx *lc = arg;
	if (strcmp(key, "cidr") == 0)
		return set_prefix(lc, val, strlen(val));
	if (strcmp(key, "sblid") == 0) {
		size_t n = strlen(val);
		if (n >= sizeof(lc->e.evidence))
			n = sizeof(lc->e.evidence) - 1;
		memcpy(lc->e.evidence, val, n);
		lc->e.evidence[n] = '\0';
	}
	if (strcmp(key, "type") == 0 && strcmp(val, "metadata") == 0)
		lc->skip = true;
	return RN_OK;
}

static int json_str(void *arg, const char *key, const char *val)
{
	struct line_ctx *lc = arg;
	/* "ip" is how repnet score and repnet sub --list name a host entry. */
	if (strcmp(key, "prefix") == 0 || strcmp(key, "ip") == 0)
		return set_prefix(lc, val, strlen(val));
	if (strcmp(key, "expires") == 0)
		return rn_time_parse((const uint8_t *)val, strlen(val), &lc->e.expires_ms);
	return RN_OK;
}

static int json_elem(void *arg, const char *key, const char *val)
{
	struct line_ctx *lc = arg;
	enum rn_category cat;
	if (strcmp(key, "categories") != 0)
		return RN_OK;
	if (rn_category_parse(val, &cat) != RN_OK || cat == RN_CAT_UNSPECIFIED)
		return RN_EPARSE;
	lc->e.categories |= 1u << cat;
	return RN_OK;
}

/* A prefix token and an optional comment: plain, cidr, drop-txt. */
static int parse_prefix_line(struct rn_cur *c, struct line_ctx *lc, bool drop)
{
	const uint8_t *tok;
	size_t n = token(c, "#;", &tok);
	if (n == 0)
		return RN_EPARSE;
	if (rn_prefix_parse(tok, n, false, &lc->e.prefix) != RN_OK)
		return RN_EPARSE;
	lc->have_prefix = true;
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

static int parse_ip4set_line(struct rn_cur *c, struct line_ctx *lc,
                             int (*fn)(void *arg, const struct feeds_import_entry *e), void *arg,
                             struct feeds_import_stats *st)
{
	const uint8_t *tok;
	bool excl = false;
	if (*c->p == '!') {
		excl = true;
		c->p++;
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

int feeds_import_parse(enum feeds_list_format fmt, const uint8_t *buf, size_t len, bool strict,
                       int (*fn)(void *arg, const struct feeds_import_entry *e), void *arg,
                       struct feeds_import_stats *st)
{
	size_t off = 0;
	uint64_t lineno = 0;
	struct feeds_import_stats dummy;
	if (st == NULL)
		st = &dummy;
	memset(st, 0, sizeof(*st));
	if (fmt != FEEDS_FMT_PLAIN && fmt != FEEDS_FMT_JSON && fmt != FEEDS_FMT_DROP_JSON &&
	    fmt != FEEDS_FMT_DROP_TXT && fmt != FEEDS_FMT_IP4SET && fmt != FEEDS_FMT_CIDR)
		return RN_EUNSUPP;
	while (off < len) {
		const uint8_t *nl = memchr(buf + off, '\n', len - off);
		size_t ll = nl != NULL ? (size_t)(nl - (buf + off)) : len - off;
		struct rn_cur c;
		struct line_ctx lc;
		int rc = RN_OK;

		rn_cur_init(&c, buf + off, ll);
		off += ll + (nl != NULL ? 1 : 0);
		lineno++;
		st->lines++;
		memset(&lc, 0, sizeof(lc));
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
		case FEEDS_FMT_DROP_JSON: {
			struct json_cb cb = {.str = drop_json_str, .arg = &lc};
			rc = json_object(&c, &cb);
			if (rc == RN_OK && lc.skip)
				continue;
			if (rc == RN_OK && !lc.have_prefix)
				rc = RN_EPARSE;
			break;
		}
		case FEEDS_FMT_JSON: {
			struct json_cb cb = {.str = json_str, .elem = json_elem, .arg = &lc};
			rc = json_object(&c, &cb);
			if (rc == RN_OK && !lc.have_prefix)
				rc = RN_EPARSE;
			break;
		}
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
		log_warnx_rl("import: line %llu: %s", (unsigned long long)lineno, rn_strerror(rc));
		if (strict)
			return RN_EPARSE;
	}
	return RN_OK;
}

/* ---- reading a file into view entries --------------------------------- */

struct collect {
	struct feeds_view_entry *v;
	size_t n, cap, max;
	uint32_t default_cats;
};

static int collect_fn(void *arg, const struct feeds_import_entry *e)
{
	struct collect *c = arg;
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

/* Standard input, whole, at most max bytes ("-" as a list file). */
static int read_stdin(size_t max, uint8_t **out, size_t *len)
{
	size_t n = 0, cap = 0;
	uint8_t *b = NULL;
	for (;;) {
		if (n == cap) {
			if (cap >= max) {
				free(b);
				return RN_ELIMIT;
			}
			size_t ncap = cap ? cap * 2 : 65536;
			if (ncap > max)
				ncap = max;
			uint8_t *nb = realloc(b, ncap);
			if (nb == NULL) {
				free(b);
				return -ENOMEM;
			}
			b = nb;
			cap = ncap;
		}
		ssize_t r = read(STDIN_FILENO, b + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = -errno;
			free(b);
			return e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*out = b;
	*len = n;
	return RN_OK;
}

int feeds_import_file(const char *path, enum feeds_list_format fmt, uint32_t default_cats,
                      size_t max_entries, struct feeds_view_entry **out, size_t *n,
                      struct feeds_import_stats *st)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	struct collect c = {.max = max_entries, .default_cats = default_cats};
	int rc = strcmp(path, "-") == 0 ? read_stdin((size_t)1 << 30, &buf, &len)
	                                : rn_file_read(path, (size_t)1 << 30, &buf, &len);
	if (rc != RN_OK)
		return rc;
	rc = feeds_import_parse(fmt, buf, len, false, collect_fn, &c, st);
	free(buf);
	if (rc != RN_OK) {
		free(c.v);
		return rc;
	}
	*out = c.v;
	*n = c.n;
	return RN_OK;
}
