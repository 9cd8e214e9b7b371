/*
 * delist.c: operators' delistings: a prefix is taken off the blocklist
 * now, and kept off until a time, with a reason.
 *
 * Design notes. A delisting is an allow entry with an expiry: the engine
 * treats the prefixes in force as it treats the allowlist (never listed;
 * scoring_engine_delist_set()), so the next pass drops the listing and
 * publishes the removal as any delta. The set is small (an operator's
 * decisions, at most DELIST_MAX) and lives in one file,
 * data_dir/scoring/delist, replaced whole and fsynced (rn_file_replace())
 * before scoring_delist() returns: a delisting acknowledged survives a
 * crash. Text, one line each: "PREFIX UNTIL_MS REASON", after a "# repnet
 * delistings 1" line. At load, lines that do not parse are skipped with a
 * warning, and delistings that expired meanwhile are dropped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scoring/persist.h"

#define DELIST_MAGIC    "# repnet delistings 1"
#define DELIST_FILE_MAX (DELIST_MAX * (RN_PREFIX_STRLEN + 24 + SCORING_REASON_MAX))

void delist_init(struct delist_set *d)
{
	memset(d, 0, sizeof(*d));
	d->next_ms = INT64_MAX;
}

void delist_release(struct delist_set *d)
{
	free(d->v);
	delist_init(d);
}

static void next_update(struct delist_set *d)
{
	d->next_ms = INT64_MAX;
	for (size_t i = 0; i < d->n; i++)
		if (d->v[i].until_ms < d->next_ms)
			d->next_ms = d->v[i].until_ms;
}

/* The reason as stored: printable ASCII and UTF-8 kept, controls become '?'. */
static void reason_copy(char *dst, const char *src)
{
	size_t n = 0;
	for (; src != NULL && src[n] != '\0' && n + 1 < SCORING_REASON_MAX; n++) {
		unsigned char c = (unsigned char)src[n];
		dst[n] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	/* Cut at a character boundary. */
	while (n > 0 && ((unsigned char)dst[n - 1] & 0xc0) == 0x80)
		n--;
	if (n > 0 && ((unsigned char)dst[n - 1] & 0xc0) == 0xc0)
		n--;
	dst[n] = '\0';
}

int delist_put(struct delist_set *d, const struct rn_prefix *p, int64_t until_ms,
               const char *reason)
{
	struct delist_entry *e = NULL;
	for (size_t i = 0; i < d->n && e == NULL; i++)
		if (d->v[i].prefix.len == p->len && rn_addr_equal(&d->v[i].prefix.addr, &p->addr))
			e = &d->v[i];
	if (e == NULL) {
		if (d->n == DELIST_MAX)
			return RN_ELIMIT;
		if (d->n == d->cap) {
			size_t cap = d->cap ? d->cap * 2 : 16;
			struct delist_entry *v = realloc(d->v, cap * sizeof(*v));
			if (v == NULL)
				return -ENOMEM;
			d->v = v;
			d->cap = cap;
		}
		e = &d->v[d->n++];
	}
	e->prefix = *p;
	e->until_ms = until_ms;
	reason_copy(e->reason, reason);
	next_update(d);
	return RN_OK;
}

size_t delist_expire(struct delist_set *d, int64_t now_ms)
{
	if (now_ms < d->next_ms)
		return 0;
	size_t k = 0, gone = 0;
	for (size_t i = 0; i < d->n; i++) {
		if (d->v[i].until_ms <= now_ms) {
			char t[RN_PREFIX_STRLEN];
			rn_prefix_format(&d->v[i].prefix, t, sizeof(t));
			log_notice("scoring: the delisting of %s expired (%s)", t, d->v[i].reason);
			gone++;
		} else {
			d->v[k++] = d->v[i];
		}
	}
	d->n = k;
	next_update(d);
	return gone;
}

int delist_prefixes(const struct delist_set *d, struct rn_prefix_list *out)
{
	for (size_t i = 0; i < d->n; i++) {
		int rc = rn_prefix_list_add(out, &d->v[i].prefix);
		if (rc != RN_OK)
			return rc;
	}
	return RN_OK;
}

int delist_save(const struct delist_set *d, const char *path)
{
	struct rn_strbuf b;
	rn_strbuf_init(&b, DELIST_FILE_MAX + 64);
	rn_strbuf_printf(&b, "%s\n", DELIST_MAGIC);
	for (size_t i = 0; i < d->n; i++) {
		char t[RN_PREFIX_STRLEN];
		rn_prefix_format(&d->v[i].prefix, t, sizeof(t));
		rn_strbuf_printf(&b, "%s %lld %s\n", t, (long long)d->v[i].until_ms,
		                 d->v[i].reason);
	}
	int rc = rn_strbuf_err(&b);
	if (rc == RN_OK)
		rc = rn_file_replace(path, rn_strbuf_str(&b), rn_strbuf_len(&b), 0640);
	rn_strbuf_release(&b);
	return rc;
}

/* One line "PREFIX UNTIL_MS REASON" (NUL-terminated, without its newline). */
static int line_parse(char *l, struct rn_prefix *p, int64_t *until, const char **reason)
{
	char *sp = strchr(l, ' ');
	if (sp == NULL)
		return RN_EPARSE;
	*sp = '\0';
	if (rn_prefix_parse_str(l, true, p) != RN_OK)
		return RN_EPARSE;
	char *end;
	errno = 0;
	long long u = strtoll(sp + 1, &end, 10);
	if (errno != 0 || end == sp + 1 || (*end != ' ' && *end != '\0') || u <= 0)
		return RN_EPARSE;
	*until = u;
	*reason = *end == ' ' ? end + 1 : "";
	return RN_OK;
}

int delist_load(struct delist_set *d, const char *path, int64_t now_ms)
{
	uint8_t *buf;
	size_t len;
	int rc = rn_file_read(path, DELIST_FILE_MAX + 64, &buf, &len);
	if (rc == -ENOENT)
		return RN_OK;
	if (rc != RN_OK)
		return rc;
	size_t lineno = 0, bad = 0, expired = 0;
	for (size_t off = 0; off < len;) {
		uint8_t *nl = memchr(buf + off, '\n', len - off);
		size_t l = nl != NULL ? (size_t)(nl - (buf + off)) : len - off;
		char line[RN_PREFIX_STRLEN + 32 + SCORING_REASON_MAX];
		lineno++;
		if (lineno == 1 &&
		    (l != strlen(DELIST_MAGIC) || memcmp(buf, DELIST_MAGIC, l) != 0)) {
			log_warnx("%s: not a delistings file; ignored", path);
			free(buf);
			return RN_EPARSE;
		}
		if (lineno > 1 && l > 0) {
			struct rn_prefix p;
			int64_t until;
			const char *reason;
			if (l >= sizeof(line) || memchr(buf + off, '\0', l) != NULL) {
				bad++;
			} else {
				memcpy(line, buf + off, l);
				line[l] = '\0';
				if (line_parse(line, &p, &until, &reason) != RN_OK)
					bad++;
				else if (until <= now_ms)
					expired++;
				else if ((rc = delist_put(d, &p, until, reason)) != RN_OK)
					break;
			}
		}
		off += l + (nl != NULL ? 1 : 0);
	}
	free(buf);
	if (bad > 0)
		log_warnx("%s: %zu lines that are not delistings skipped", path, bad);
	if (d->n > 0 || expired > 0)
		log_notice("scoring: %zu delistings in force, %zu expired while stopped", d->n,
		           expired);
	return rc;
}
