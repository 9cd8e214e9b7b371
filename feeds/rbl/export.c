/*
 * export.c: the blocklist in the formats other software reads: plain
 * lists, JSON lines, rbldnsd data, nft scripts and ipset restore files.
 *
 * Design notes. An export walks one consistent state of the view (walk()
 * holds the view's writer lock, so the state cannot change under it) into
 * a growable string builder (rn_strbuf; each JSON line is written with
 * rn_jsonw); the caller writes that buffer out atomically
 * (rn_file_replace) or to stdout. Entries arrive in address order, which
 * lets the firewall formats drop entries already covered by an enclosing
 * prefix: nft interval sets refuse overlapping elements, and the cover is
 * the same set of addresses. Entries whose expiry has passed are left
 * out, as the DNSBL's lookups ignore them: a file exported and a list
 * served answer alike.
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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "feeds/rbl/dns.h"
#include "feeds/rbl/rbl.h"

#define NFT_CHUNK     1024
#define IPSET_MAXELEM 16777216

struct export_ctx {
	enum feeds_list_format fmt;
	const struct feeds_rbl_conf *conf;
	struct dnsbl_cfg *cfg;
	struct rn_strbuf b;
	/* The last prefix written per family, to skip covered entries. */
	struct rn_prefix cover[2];
	bool have_cover[2];
	bool in_v6;   /* rbldnsd, nft, ipset: the IPv6 part has started */
	size_t chunk; /* elements in the current nft chunk */
	size_t counts[2];
	int64_t now_ms; /* entries expired by then are left out */
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
	rn_strbuf_printf(&x->b, "flush set inet %s %s\n", c->export_nft_table, set);
}

static int export_fn(void *arg, const struct feeds_view_entry *e)
{
	struct export_ctx *x = arg;
	const struct feeds_rbl_conf *c = x->conf;
	char pfx[RN_PREFIX_STRLEN];
	unsigned fi = e->prefix.addr.family == RN_AF_INET ? 0 : 1;

	if (e->expires_ms != 0 && e->expires_ms <= x->now_ms)
		return 0;
	switch (x->fmt) {
	case FEEDS_FMT_PLAIN:
		fmt_prefix(&e->prefix, true, pfx, sizeof(pfx));
		rn_strbuf_printf(&x->b, "%s\n", pfx);
		break;
	case FEEDS_FMT_JSON: {
		struct rn_jsonw w;
		fmt_prefix(&e->prefix, false, pfx, sizeof(pfx));
		rn_jsonw_init(&w, &x->b);
		rn_jsonw_obj_begin(&w);
		rn_jsonw_kv_str(&w, "prefix", pfx);
		rn_jsonw_key(&w, "categories");
		rn_category_json_write(&w, e->categories);
		if (e->expires_ms != 0)
			rn_jsonw_kv_time(&w, "expires", e->expires_ms, false);
		rn_jsonw_obj_end(&w);
		int rc = rn_jsonw_finish(&w);
		if (rc != RN_OK)
			return rc;
		rn_strbuf_putc(&x->b, '\n');
		break;
	}
	case FEEDS_FMT_RBLDNSD: {
		char val[DNSBL_TXT_MAX + 32];
		if (fi == 1 && !x->in_v6) {
			char tp[DNSBL_TXT_MAX + 32];
			rbldnsd_value(x, 0, tp, sizeof(tp));
			rn_strbuf_printf(&x->b, "$DATASET ip6trie @\n::ffff:7f00:2/128 %s\n", tp);
			x->in_v6 = true;
		}
		fmt_prefix(&e->prefix, false, pfx, sizeof(pfx));
		rbldnsd_value(x, e->categories, val, sizeof(val));
		rn_strbuf_printf(&x->b, "%s %s\n", pfx, val);
		break;
	}
	case FEEDS_FMT_NFT:
		if (covered(x, e))
			return 0;
		if (fi == 1 && !x->in_v6) {
			if (x->chunk > 0)
				rn_strbuf_printf(&x->b, " }\n");
			x->chunk = 0;
			x->in_v6 = true;
		}
		if (x->chunk == 0)
			rn_strbuf_printf(&x->b, "add element inet %s %s {", c->export_nft_table,
			                 fi == 0 ? c->export_nft_set4 : c->export_nft_set6);
		fmt_prefix(&e->prefix, true, pfx, sizeof(pfx));
		rn_strbuf_printf(&x->b, "%s %s", x->chunk > 0 ? "," : "", pfx);
		if (++x->chunk == NFT_CHUNK) {
			rn_strbuf_printf(&x->b, " }\n");
			x->chunk = 0;
		}
		break;
	case FEEDS_FMT_IPSET:
		if (covered(x, e))
			return 0;
		fmt_prefix(&e->prefix, true, pfx, sizeof(pfx));
		rn_strbuf_printf(&x->b, "add %s-new %s\n",
		                 fi == 0 ? c->export_ipset4 : c->export_ipset6, pfx);
		break;
	default:
		return RN_EUNSUPP;
	}
	x->counts[fi]++;
	return rn_strbuf_err(&x->b);
}

int feeds_export(const struct feeds_view *v, enum feeds_list_format fmt,
                 const struct feeds_rbl_conf *c, char **out, size_t *len, uint64_t *version)
{
	return feeds_export_at(v, fmt, c, rn_time_now_ms(), out, len, version);
}

int feeds_export_at(const struct feeds_view *v, enum feeds_list_format fmt,
                    const struct feeds_rbl_conf *c, int64_t now_ms, char **out, size_t *len,
                    uint64_t *version)
{
	struct export_ctx x = {.fmt = fmt, .conf = c, .now_ms = now_ms};
	char err[256];
	uint64_t ver = 0;
	int rc;

	if (fmt != FEEDS_FMT_PLAIN && fmt != FEEDS_FMT_JSON && fmt != FEEDS_FMT_RBLDNSD &&
	    fmt != FEEDS_FMT_NFT && fmt != FEEDS_FMT_IPSET)
		return RN_EUNSUPP;
	rn_strbuf_init(&x.b, SIZE_MAX);
	x.cfg = malloc(sizeof(*x.cfg));
	if (x.cfg == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = dnsbl_cfg_build(x.cfg, c, err, sizeof(err));
	if (rc != RN_OK) {
		log_warnx("export: %s", err);
		goto fail;
	}

	/* Headers. */
	switch (fmt) {
	case FEEDS_FMT_RBLDNSD: {
		char tp[DNSBL_TXT_MAX + 32];
		rn_strbuf_printf(&x.b, "# repnet blocklist for rbldnsd (combined dataset)\n");
		rn_strbuf_printf(&x.b, "$SOA %u %s %s 0 3600 600 604800 %u\n", x.cfg->ttl,
		                 c->dnsbl_ns.v[0], c->dnsbl_soa_rname, x.cfg->neg_ttl);
		rn_strbuf_printf(&x.b, "$NS %u", x.cfg->ttl);
		for (size_t i = 0; i < c->dnsbl_ns.n; i++)
			rn_strbuf_printf(&x.b, " %s", c->dnsbl_ns.v[i]);
		rn_strbuf_printf(&x.b, "\n$TTL %u\n$DATASET ip4trie @\n", x.cfg->ttl);
		rbldnsd_value(&x, 0, tp, sizeof(tp));
		rn_strbuf_printf(&x.b, "127.0.0.2/32 %s\n!127.0.0.1/32\n", tp);
		break;
	}
	case FEEDS_FMT_NFT:
		rn_strbuf_printf(&x.b,
		                 "#!/usr/sbin/nft -f\n# repnet blocklist\nadd table inet %s\n",
		                 c->export_nft_table);
		for (unsigned fi = 0; fi < 2; fi++)
			rn_strbuf_printf(&x.b, "add set inet %s %s { type %s; flags interval; }\n",
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
			rn_strbuf_printf(
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
	if ((rc = rn_strbuf_err(&x.b)) != RN_OK)
		goto fail;
	rc = v->walk(v->arg, export_fn, &x, &ver);
	if (rc != RN_OK)
		goto fail;

	/* Trailers. */
	switch (fmt) {
	case FEEDS_FMT_RBLDNSD:
		if (!x.in_v6) {
			char tp[DNSBL_TXT_MAX + 32];
			rbldnsd_value(&x, 0, tp, sizeof(tp));
			rn_strbuf_printf(&x.b, "$DATASET ip6trie @\n::ffff:7f00:2/128 %s\n", tp);
		}
		break;
	case FEEDS_FMT_NFT:
		if (x.chunk > 0)
			rn_strbuf_printf(&x.b, " }\n");
		break;
	case FEEDS_FMT_IPSET:
		for (unsigned fi = 0; fi < 2; fi++) {
			const char *name = fi == 0 ? c->export_ipset4 : c->export_ipset6;
			rn_strbuf_printf(&x.b, "swap %s-new %s\ndestroy %s-new\n", name, name,
			                 name);
		}
		break;
	default:
		break;
	}
	if ((rc = rn_strbuf_err(&x.b)) != RN_OK)
		goto fail;
	free(x.cfg);
	if ((rc = rn_strbuf_take(&x.b, out, len)) != RN_OK)
		return rc;
	if (version != NULL)
		*version = ver;
	return RN_OK;
fail:
	free(x.cfg);
	rn_strbuf_release(&x.b);
	return rc;
}
