/*
 * export.c: the blocklist in the formats other software reads: plain
 * lists, JSON lines, rbldnsd data, nft scripts and ipset restore files.
 *
 * Design notes. An export walks one consistent state of the view (walk()
 * holds the view's writer lock, so the state cannot change under it) into
 * a growing buffer; the caller writes that buffer out atomically
 * (rn_file_replace) or to stdout. Entries arrive in address order, which
 * lets the firewall formats drop entries already covered by an enclosing
 * prefix: nft interval sets refuse overlapping elements, and the cover is
 * the same set of addresses.
 *
 * rbldnsd: one "combined" dataset holding an ip4trie and an ip6trie
 * section connected to the base zone (@), with $SOA, $NS and $TTL from
 * the DNSBL configuration and one ":A:TXT" value per entry, computed with
 * the same code as the DNSBL's answers, so that rbldnsd serving the file
 * answers as repnet does. "$" is left in the TXT for rbldnsd to replace.
 * The RFC 5782 test points are written explicitly (rbldnsd has none
 * built in).
 *
 * nft: the script adds the table and the sets if missing, flushes the
 * sets and adds the elements in chunks, all in one nft -f transaction; it
 * never deletes the table, so chains the operator added to it survive.
 * The sets are always interval sets, so that a set keeps its type from
 * one export to the next whatever the list holds (nft refuses to re-add
 * a set with other flags); nft is slower on large interval sets than on
 * hash sets, and ipset is the faster path for millions of hosts.
 *
 * ipset: fills a fresh "<name>-new" set and swaps it in, so the live set
 * changes atomically, with fixed creation parameters so that re-running
 * the file works.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feeds/rbl/dns.h"
#include "feeds/rbl/rbl.h"
#include "feeds/rbl/sbuf.h"

#define NFT_CHUNK     1024
#define IPSET_MAXELEM 16777216

void feeds_sb_printf(struct feeds_sbuf *b, const char *fmt, ...)
{
	if (b->err != RN_OK)
		return;
	if (b->p == NULL) {
		b->cap = 1 << 16;
		b->len = 0;
		b->p = malloc(b->cap);
		if (b->p == NULL) {
			b->err = -ENOMEM;
			return;
		}
	}
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->err = RN_EINTERNAL;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap * 2 + (size_t)n + 1;
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			b->err = -ENOMEM;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

struct export_ctx {
	enum feeds_list_format fmt;
	const struct feeds_rbl_conf *conf;
	struct dnsbl_cfg *cfg;
	struct feeds_sbuf b;
	/* The last prefix written per family, to skip covered entries. */
	struct rn_prefix cover[2];
	bool have_cover[2];
	bool in_v6;   /* rbldnsd, nft, ipset: the IPv6 part has started */
	size_t chunk; /* elements in the current nft chunk */
	size_t counts[2];
};

static void fmt_prefix(const struct rn_prefix *p, bool bare_host, char *out, size_t outlen)
{
	if (bare_host && p->len == rn_addr_maxlen(&p->addr))
		rn_addr_format(&p->addr, out, outlen);
	else
		rn_prefix_format(p, out, outlen);
}

/* True when e is inside the last prefix written for its family. */
static bool covered(struct export_ctx *x, const struct feeds_view_entry *e)
{
	unsigned fi = e->prefix.addr.family == RN_AF_INET ? 0 : 1;
	if (x->have_cover[fi] && rn_prefix_contains(&x->cover[fi], &e->prefix.addr) &&
	    x->cover[fi].len <= e->prefix.len)
		return true;
	x->cover[fi] = e->prefix;
	x->have_cover[fi] = true;
	return false;
}

static void rbldnsd_value(struct export_ctx *x, uint32_t cats, char *out, size_t outlen)
{
	char txt[DNSBL_TXT_MAX + 1];
	dnsbl_txt_expand(x->cfg->txt, "$", cats, txt, sizeof(txt));
	snprintf(out, outlen, ":127.0.0.%u:%s", cats != 0 ? dnsbl_code(x->cfg, cats) : 2u, txt);
}

static void nft_set_head(struct export_ctx *x, unsigned fi)
{
	const struct feeds_rbl_conf *c = x->conf;
	const char *set = fi == 0 ? c->export_nft_set4 : c->export_nft_set6;
	feeds_sb_printf(&x->b, "flush set inet %s %s\n", c->export_nft_table, set);
}

static int export_fn(void *arg, const struct feeds_view_entry *e)
{
	struct export_ctx *x = arg;
	const struct feeds_rbl_conf *c = x->conf;
	char pfx[RN_PREFIX_STRLEN];
	unsigned fi = e->prefix.addr.family == RN_AF_INET ? 0 : 1;

	switch (x->fmt) {
	case FEEDS_FMT_PLAIN:
		fmt_prefix(&e->prefix, true, pfx, sizeof(pfx));
		feeds_sb_printf(&x->b, "%s\n", pfx);
		break;
	case FEEDS_FMT_JSON: {
		bool first = true;
		fmt_prefix(&e->prefix, false, pfx, sizeof(pfx));
		feeds_sb_printf(&x->b, "{\"prefix\":\"%s\",\"categories\":[", pfx);
		for (unsigned cat = 1; cat < RN_CAT_COUNT; cat++)
			if (e->categories & (1u << cat)) {
				feeds_sb_printf(&x->b, "%s\"%s\"", first ? "" : ",",
				                rn_category_name(cat));
				first = false;
			}
		feeds_sb_printf(&x->b, "]");
		if (e->expires_ms != 0) {
			char t[RN_TIME_STRLEN];
			rn_time_format(e->expires_ms, false, t, sizeof(t));
			feeds_sb_printf(&x->b, ",\"expires\":\"%s\"", t);
		}
		feeds_sb_printf(&x->b, "}\n");
		break;
	}
	case FEEDS_FMT_RBLDNSD: {
		char val[DNSBL_TXT_MAX + 32];
		if (fi == 1 && !x->in_v6) {
			char tp[DNSBL_TXT_MAX + 32];
			rbldnsd_value(x, 0, tp, sizeof(tp));
			feeds_sb_printf(&x->b, "$DATASET ip6trie @\n::ffff:7f00:2/128 %s\n", tp);
			x->in_v6 = true;
		}
		fmt_prefix(&e->prefix, false, pfx, sizeof(pfx));
		rbldnsd_value(x, e->categories, val, sizeof(val));
		feeds_sb_printf(&x->b, "%s %s\n", pfx, val);
		break;
	}
	case FEEDS_FMT_NFT:
		if (covered(x, e))
			return 0;
		if (fi == 1 && !x->in_v6) {
			if (x->chunk > 0)
				feeds_sb_printf(&x->b, " }\n");
			x->chunk = 0;
			x->in_v6 = true;
		}
		if (x->chunk == 0)
			feeds_sb_printf(&x->b, "add element inet %s %s {", c->export_nft_table,
			                fi == 0 ? c->export_nft_set4 : c->export_nft_set6);
		fmt_prefix(&e->prefix, true, pfx, sizeof(pfx));
		feeds_sb_printf(&x->b, "%s %s", x->chunk > 0 ? "," : "", pfx);
		if (++x->chunk == NFT_CHUNK) {
			feeds_sb_printf(&x->b, " }\n");
			x->chunk = 0;
		}
		break;
	case FEEDS_FMT_IPSET:
		if (covered(x, e))
			return 0;
		fmt_prefix(&e->prefix, true, pfx, sizeof(pfx));
		feeds_sb_printf(&x->b, "add %s-new %s\n",
		                fi == 0 ? c->export_ipset4 : c->export_ipset6, pfx);
		break;
	default:
		return RN_EUNSUPP;
	}
	x->counts[fi]++;
	return x->b.err;
}

int feeds_export(const struct feeds_view *v, enum feeds_list_format fmt,
                 const struct feeds_rbl_conf *c, char **out, size_t *len, uint64_t *version)
{
	struct export_ctx x = {.fmt = fmt, .conf = c};
	char err[256];
	uint64_t ver = 0;
	int rc;

	if (fmt != FEEDS_FMT_PLAIN && fmt != FEEDS_FMT_JSON && fmt != FEEDS_FMT_RBLDNSD &&
	    fmt != FEEDS_FMT_NFT && fmt != FEEDS_FMT_IPSET)
		return RN_EUNSUPP;
	x.cfg = malloc(sizeof(*x.cfg));
	if (x.cfg == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	feeds_sb_printf(&x.b, "%s", "");
	rc = dnsbl_cfg_build(x.cfg, c, err, sizeof(err));
	if (rc != RN_OK) {
		log_warnx("export: %s", err);
		goto fail;
	}

	/* Headers. */
	switch (fmt) {
	case FEEDS_FMT_RBLDNSD: {
		char tp[DNSBL_TXT_MAX + 32];
		feeds_sb_printf(&x.b, "# repnet blocklist for rbldnsd (combined dataset)\n");
		feeds_sb_printf(&x.b, "$SOA %u %s %s 0 3600 600 604800 %u\n", x.cfg->ttl,
		                c->dnsbl_ns.v[0], c->dnsbl_soa_rname, x.cfg->neg_ttl);
		feeds_sb_printf(&x.b, "$NS %u", x.cfg->ttl);
		for (size_t i = 0; i < c->dnsbl_ns.n; i++)
			feeds_sb_printf(&x.b, " %s", c->dnsbl_ns.v[i]);
		feeds_sb_printf(&x.b, "\n$TTL %u\n$DATASET ip4trie @\n", x.cfg->ttl);
		rbldnsd_value(&x, 0, tp, sizeof(tp));
		feeds_sb_printf(&x.b, "127.0.0.2/32 %s\n!127.0.0.1/32\n", tp);
		break;
	}
	case FEEDS_FMT_NFT:
		feeds_sb_printf(&x.b, "#!/usr/sbin/nft -f\n# repnet blocklist\nadd table inet %s\n",
		                c->export_nft_table);
		for (unsigned fi = 0; fi < 2; fi++)
			feeds_sb_printf(&x.b, "add set inet %s %s { type %s; flags interval; }\n",
			                c->export_nft_table,
			                fi == 0 ? c->export_nft_set4 : c->export_nft_set6,
			                fi == 0 ? "ipv4_addr" : "ipv6_addr");
		nft_set_head(&x, 0);
		nft_set_head(&x, 1);
		break;
	case FEEDS_FMT_IPSET:
		for (unsigned fi = 0; fi < 2; fi++) {
			const char *name = fi == 0 ? c->export_ipset4 : c->export_ipset6;
			const char *fam = fi == 0 ? "inet" : "inet6";
			feeds_sb_printf(
			        &x.b,
			        "create %s hash:net family %s hashsize 1024 maxelem %d -exist\n"
			        "create %s-new hash:net family %s hashsize 1024 maxelem %d -exist\n"
			        "flush %s-new\n",
			        name, fam, IPSET_MAXELEM, name, fam, IPSET_MAXELEM, name);
		}
		break;
	default:
		break;
	}
	if (x.b.err != RN_OK) {
		rc = x.b.err;
		goto fail;
	}
	rc = v->walk(v->arg, export_fn, &x, &ver);
	if (rc != RN_OK)
		goto fail;

	/* Trailers. */
	switch (fmt) {
	case FEEDS_FMT_RBLDNSD:
		if (!x.in_v6) {
			char tp[DNSBL_TXT_MAX + 32];
			rbldnsd_value(&x, 0, tp, sizeof(tp));
			feeds_sb_printf(&x.b, "$DATASET ip6trie @\n::ffff:7f00:2/128 %s\n", tp);
		}
		break;
	case FEEDS_FMT_NFT:
		if (x.chunk > 0)
			feeds_sb_printf(&x.b, " }\n");
		break;
	case FEEDS_FMT_IPSET:
		for (unsigned fi = 0; fi < 2; fi++) {
			const char *name = fi == 0 ? c->export_ipset4 : c->export_ipset6;
			feeds_sb_printf(&x.b, "swap %s-new %s\ndestroy %s-new\n", name, name, name);
		}
		break;
	default:
		break;
	}
	if (x.b.err != RN_OK) {
		rc = x.b.err;
		goto fail;
	}
	free(x.cfg);
	*out = x.b.p;
	*len = x.b.len;
	if (version != NULL)
		*version = ver;
	return RN_OK;
fail:
	free(x.cfg);
	free(x.b.p);
	return rc;
}
