/*
 * dns.c: DNS query parsing and DNSBL answers.
 *
 * Design notes. Everything here works on caller buffers and allocates
 * nothing, so the server calls it per packet from any number of threads;
 * the compiled configuration (struct dnsbl_cfg) is read-only once built.
 *
 * The parser is stricter than RFC 1035 requires of a server, because a
 * DNSBL only ever gets simple queries: one question, no answer or
 * authority records, an additional section of at most one OPT record
 * (others are skipped), no trailing bytes, and no compression pointers
 * anywhere (a query has nothing to point back to; a pointer is either a
 * broken client or an attack on the parser). What cannot be answered is
 * answered FORMERR or NOTIMP when the header is sound, and dropped when it
 * is not (shorter than a header, or QR set: never answer a response).
 *
 * Answers copy the question as received (so 0x20 case randomisation
 * round-trips) and point back at it for every owner name: the listed
 * name at offset 12, the zone apex at the offset of its first label.
 * An answer that exceeds the transport's limit is replaced by the
 * header, the question and the OPT record with TC set, so that the client
 * retries over TCP.
 *
 * The RFC 5782 test points are built in: 127.0.0.2 (and ::ffff:7f00:2,
 * which folds to it) is always listed, 127.0.0.1 never, whatever the
 * view says. Listings answer 127.0.0.x with x in 2..255 only.
 */
#include <stdio.h>
#include <string.h>

#include "feeds/rbl/dns.h"

/* ---- parsing ---------------------------------------------------------- */

/*
 * Reads a name without compression into q (when q is not NULL) or just
 * skips it. Returns RN_OK or RN_EPARSE (pointer, bad label, too long) or
 * RN_ETRUNC.
 */
static int dns_name_read(struct rn_cur *c, struct dns_query *q, bool *pointer)
{
	size_t total = 0;
	unsigned labels = 0;
	for (;;) {
		uint8_t l = rn_cur_u8(c);
		if (!rn_cur_ok(c))
			return c->err;
		if ((l & 0xc0) == 0xc0) {
			*pointer = true;
			return RN_EPARSE;
		}
		if ((l & 0xc0) != 0)
			return RN_EPARSE; /* extended label types (RFC 6891 6.2.7 / 2673) */
		if (total + 1 + l > DNS_NAME_MAX)
			return RN_EPARSE;
		if (q != NULL) {
			if (labels >= DNS_LABELS_MAX)
				return RN_EPARSE;
			q->label_off[labels] = (uint8_t)total;
			q->name[total] = l;
		}
		total++;
		if (l == 0)
			break;
		const uint8_t *p = rn_cur_bytes(c, l);
		if (p == NULL)
			return c->err;
		if (q != NULL)
			for (unsigned i = 0; i < l; i++) {
				uint8_t ch = p[i];
				q->name[total + i] =
				        ch >= 'A' && ch <= 'Z' ? (uint8_t)(ch + 32) : ch;
			}
		total += l;
		labels++;
	}
	if (q != NULL) {
		q->name_len = total;
		q->nlabels = labels;
	}
	return RN_OK;
}

int dns_query_parse(const uint8_t *buf, size_t len, struct dns_query *q, int *rcode)
{
	struct rn_cur c;
	bool pointer = false;
	int rc;

	memset(q, 0, offsetof(struct dns_query, name));
	q->name_len = 0;
	q->nlabels = 0;
	q->edns = false;
	q->edns_version = 0;
	q->edns_do = false;
	q->edns_size = 0;
	*rcode = DNS_R_DROP;
	rn_cur_init(&c, buf, len);
	q->id = rn_cur_u16(&c);
	q->flags = rn_cur_u16(&c);
	uint16_t qd = rn_cur_u16(&c), an = rn_cur_u16(&c), ns = rn_cur_u16(&c), ar = rn_cur_u16(&c);
	if (!rn_cur_ok(&c))
		return RN_ETRUNC;
	if (q->flags & 0x8000)
		return RN_EPARSE; /* a response: never answered */
	*rcode = DNS_R_FORMERR;
	if (((q->flags >> 11) & 0xf) != 0) {
		*rcode = DNS_R_NOTIMP;
		return RN_EUNSUPP;
	}
	if (qd != 1 || an != 0 || ns != 0)
		return RN_EPARSE;
	rc = dns_name_read(&c, q, &pointer);
	if (rc != RN_OK)
		return rc;
	q->qtype = rn_cur_u16(&c);
	q->qclass = rn_cur_u16(&c);
	if (!rn_cur_ok(&c))
		return c.err;
	q->question_end = (size_t)(c.p - buf);
	for (unsigned i = 0; i < ar; i++) {
		const uint8_t *owner = c.p;
		rc = dns_name_read(&c, NULL, &pointer);
		if (rc != RN_OK)
			return rc;
		bool root = c.p - owner == 1;
		uint16_t type = rn_cur_u16(&c), klass = rn_cur_u16(&c);
		uint32_t ttl = rn_cur_u32(&c);
		uint16_t rdlen = rn_cur_u16(&c);
		rn_cur_skip(&c, rdlen);
		if (!rn_cur_ok(&c))
			return c.err;
		if (type != DNS_T_OPT)
			continue;
		if (q->edns || !root)
			return RN_EPARSE; /* a second OPT, or one not at the root */
		q->edns = true;
		q->edns_size = klass < DNS_UDP_MIN ? DNS_UDP_MIN : klass;
		q->edns_version = (uint8_t)(ttl >> 16);
		q->edns_do = (ttl & 0x8000) != 0;
	}
	if (rn_cur_left(&c) != 0)
		return RN_EPARSE;
	*rcode = DNS_R_NOERROR;
	return RN_OK;
}

/* ---- configuration ---------------------------------------------------- */

int dns_name_from_text(const char *s, uint8_t *out, size_t *len, unsigned *nlabels)
{
	size_t o = 0;
	unsigned n = 0;
	size_t sl = strlen(s);
	if (sl > 0 && s[sl - 1] == '.')
		sl--;
	size_t i = 0;
	while (i < sl) {
		size_t j = i;
		while (j < sl && s[j] != '.')
			j++;
		size_t l = j - i;
		if (l == 0 || l > 63 || o + 1 + l + 1 > DNS_NAME_MAX)
			return RN_EPARSE;
		out[o++] = (uint8_t)l;
		for (size_t k = i; k < j; k++) {
			char ch = s[k];
			if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
				return RN_EPARSE;
			out[o++] = (uint8_t)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
		}
		n++;
		i = j + 1;
	}
	out[o++] = 0;
	*len = o;
	if (nlabels != NULL)
		*nlabels = n;
	return RN_OK;
}

static int parse_code(const char *s, uint8_t *out)
{
	unsigned a, b, c, d;
	char extra;
	if (sscanf(s, "%u.%u.%u.%u%c", &a, &b, &c, &d, &extra) != 4)
		return RN_EPARSE;
	if (a != 127 || b != 0 || c != 0 || d < 2 || d > 255)
		return RN_ELIMIT;
	*out = (uint8_t)d;
	return RN_OK;
}

static int parse_cats(const char *s, uint32_t *mask)
{
	char buf[256];
	*mask = 0;
	while (*s != '\0') {
		const char *e = strchr(s, ',');
		size_t l = e != NULL ? (size_t)(e - s) : strlen(s);
		if (l == 0 || l >= sizeof(buf))
			return RN_EPARSE;
		memcpy(buf, s, l);
		buf[l] = '\0';
		enum rn_category cat;
		if (rn_category_parse(buf, &cat) != RN_OK || cat == RN_CAT_UNSPECIFIED)
			return RN_EPARSE;
		*mask |= 1u << cat;
		s += l;
		if (*s == ',')
			s++;
	}
	return *mask != 0 ? RN_OK : RN_EPARSE;
}

int dnsbl_cfg_build(struct dnsbl_cfg *cfg, const struct feeds_rbl_conf *c, char *err, size_t errlen)
{
	memset(cfg, 0, sizeof(*cfg));
	if (c->dnsbl_zones.n == 0 || c->dnsbl_zones.n > DNSBL_ZONES_MAX) {
		snprintf(err, errlen, "dnsbl.zones: 1 to %d zones", DNSBL_ZONES_MAX);
		return RN_ECONF;
	}
	for (size_t i = 0; i < c->dnsbl_zones.n; i++) {
		struct dnsbl_zone *z = &cfg->zones[cfg->nzones++];
		char name[DNS_NAME_MAX + 1];
		const char *spec = c->dnsbl_zones.v[i];
		const char *colon = strchr(spec, ':');
		size_t nl = colon != NULL ? (size_t)(colon - spec) : strlen(spec);
		if (nl == 0 || nl >= sizeof(name)) {
			snprintf(err, errlen, "dnsbl.zones: \"%s\" is not a zone name", spec);
			return RN_ECONF;
		}
		memcpy(name, spec, nl);
		name[nl] = '\0';
		if (dns_name_from_text(name, z->name, &z->len, &z->nlabels) != RN_OK ||
		    z->nlabels == 0) {
			snprintf(err, errlen, "dnsbl.zones: \"%s\" is not a zone name", name);
			return RN_ECONF;
		}
		z->cats = UINT32_MAX;
		if (colon != NULL && parse_cats(colon + 1, &z->cats) != RN_OK) {
			snprintf(err, errlen, "dnsbl.zones: \"%s\": bad category list", spec);
			return RN_ECONF;
		}
	}
	/* Longest zone first, so that a nested zone wins. */
	for (unsigned i = 1; i < cfg->nzones; i++)
		for (unsigned j = i; j > 0 && cfg->zones[j].len > cfg->zones[j - 1].len; j--) {
			struct dnsbl_zone t = cfg->zones[j];
			cfg->zones[j] = cfg->zones[j - 1];
			cfg->zones[j - 1] = t;
		}
	for (size_t i = 0; i < c->dnsbl_codes.n; i++) {
		const char *spec = c->dnsbl_codes.v[i];
		const char *eq = strchr(spec, '=');
		char name[64];
		enum rn_category cat;
		uint8_t code;
		size_t nl = eq != NULL ? (size_t)(eq - spec) : 0;
		if (eq == NULL || nl == 0 || nl >= sizeof(name)) {
			snprintf(err, errlen, "dnsbl.codes: \"%s\" is not category=127.0.0.N",
			         spec);
			return RN_ECONF;
		}
		memcpy(name, spec, nl);
		name[nl] = '\0';
		if (rn_category_parse(name, &cat) != RN_OK || cat == RN_CAT_UNSPECIFIED) {
			snprintf(err, errlen, "dnsbl.codes: unknown category \"%s\"", name);
			return RN_ECONF;
		}
		int rc = parse_code(eq + 1, &code);
		if (rc != RN_OK) {
			snprintf(err, errlen,
			         "dnsbl.codes: %s: \"%s\" is not in 127.0.0.2-127.0.0.255 "
			         "(127.0.0.1 "
			         "means not listed, 127.255.255.x are error codes)",
			         name, eq + 1);
			return RN_ECONF;
		}
		if (cfg->code[cat] != 0) {
			snprintf(err, errlen, "dnsbl.codes: %s given twice", name);
			return RN_ECONF;
		}
		cfg->code[cat] = code;
		cfg->prio[cfg->nprio++] = (uint8_t)cat;
	}
	cfg->combine = c->dnsbl_combine;
	cfg->ttl = (uint32_t)(c->dnsbl_ttl_ms / 1000);
	cfg->neg_ttl = (uint32_t)(c->dnsbl_negative_ttl_ms / 1000);
	for (size_t i = 0; i < c->dnsbl_ns.n && i < DNSBL_NS_MAX; i++) {
		if (dns_name_from_text(c->dnsbl_ns.v[i], cfg->ns[i], &cfg->ns_len[i], NULL) !=
		    RN_OK) {
			snprintf(err, errlen, "dnsbl.ns: \"%s\" is not a host name",
			         c->dnsbl_ns.v[i]);
			return RN_ECONF;
		}
		cfg->nns++;
	}
	if (cfg->nns == 0) {
		snprintf(err, errlen, "dnsbl.ns: at least one name server");
		return RN_ECONF;
	}
	const char *rname = c->dnsbl_soa_rname != NULL ? c->dnsbl_soa_rname : "hostmaster.invalid";
	if (dns_name_from_text(rname, cfg->rname, &cfg->rname_len, NULL) != RN_OK) {
		snprintf(err, errlen, "dnsbl.soa_rname: \"%s\" is not a domain name", rname);
		return RN_ECONF;
	}
	snprintf(cfg->txt, sizeof(cfg->txt), "%s%s%s",
	         c->dnsbl_reason != NULL ? c->dnsbl_reason : "",
	         c->dnsbl_lookup_url != NULL && c->dnsbl_reason != NULL ? "; " : "",
	         c->dnsbl_lookup_url != NULL ? c->dnsbl_lookup_url : "");
	cfg->edns_size = (uint16_t)c->dnsbl_edns_size;
	return RN_OK;
}

/* ---- answers ---------------------------------------------------------- */

size_t dnsbl_txt_expand(const char *tmpl, const char *addr, uint32_t cats, char *out, size_t outlen)
{
	size_t o = 0, max = outlen > 0 ? outlen - 1 : 0;
	if (max > DNSBL_TXT_MAX)
		max = DNSBL_TXT_MAX;
#define PUT(ch)                          \
	do {                             \
		if (o < max)             \
			out[o++] = (ch); \
	} while (0)
	for (const char *p = tmpl; *p != '\0'; p++) {
		if (*p == '$') {
			for (const char *a = addr; *a != '\0'; a++)
				PUT(*a);
		} else if (p[0] == '%' && p[1] == 'c') {
			bool first = true;
			p++;
			if (cats == 0) {
				for (const char *a = "test"; *a != '\0'; a++)
					PUT(*a);
				continue;
			}
			for (unsigned c = 1; c < RN_CAT_COUNT; c++) {
				if (!(cats & (1u << c)))
					continue;
				if (!first)
					PUT(',');
				first = false;
				for (const char *a = rn_category_name(c); a != NULL && *a != '\0';
				     a++)
					PUT(*a);
			}
		} else if (p[0] == '%' && p[1] == '%') {
			p++;
			PUT('%');
		} else {
			PUT(*p);
		}
	}
#undef PUT
	if (outlen > 0)
		out[o] = '\0';
	return o;
}

uint8_t dnsbl_code(const struct dnsbl_cfg *cfg, uint32_t cats)
{
	uint8_t v = 0;
	if (cfg->combine == FEEDS_DNSBL_BITMASK) {
		for (unsigned c = 1; c < RN_CAT_COUNT; c++)
			if (cats & (1u << c))
				v |= cfg->code[c] != 0 ? cfg->code[c] : 2;
	} else {
		for (unsigned i = 0; i < cfg->nprio && v == 0; i++)
			if (cats & (1u << cfg->prio[i]))
				v = cfg->code[cfg->prio[i]];
	}
	return v >= 2 ? v : 2;
}

/* An RR header with a compressed owner; returns where RDLENGTH goes. */
static size_t w_rr(struct rn_wcur *w, uint16_t owner_off, uint16_t type, uint32_t ttl)
{
	rn_wcur_u16(w, (uint16_t)(0xc000 | owner_off));
	rn_wcur_u16(w, type);
	rn_wcur_u16(w, DNS_C_IN);
	rn_wcur_u32(w, ttl);
	size_t at = w->len;
	rn_wcur_u16(w, 0);
	return at;
}

/* Fills in the RDLENGTH at offset at, once the RDATA is written. */
static void w_rdlen(struct rn_wcur *w, size_t at)
{
	rn_wcur_patch(w, at, w->len - at - 2, 2);
}

static void w_soa(struct rn_wcur *w, const struct dnsbl_cfg *cfg, uint16_t apex, uint32_t ttl,
                  uint32_t serial)
{
	size_t at = w_rr(w, apex, DNS_T_SOA, ttl);
	rn_wcur_bytes(w, cfg->ns[0], cfg->ns_len[0]);
	rn_wcur_bytes(w, cfg->rname, cfg->rname_len);
	rn_wcur_u32(w, serial);
	rn_wcur_u32(w, 3600);   /* refresh */
	rn_wcur_u32(w, 600);    /* retry */
	rn_wcur_u32(w, 604800); /* expire */
	rn_wcur_u32(w, cfg->neg_ttl);
	w_rdlen(w, at);
}

static void w_ns(struct rn_wcur *w, const struct dnsbl_cfg *cfg, uint16_t apex)
{
	for (unsigned i = 0; i < cfg->nns; i++) {
		size_t at = w_rr(w, apex, DNS_T_NS, cfg->ttl);
		rn_wcur_bytes(w, cfg->ns[i], cfg->ns_len[i]);
		w_rdlen(w, at);
	}
}

static void w_txt(struct rn_wcur *w, const struct dnsbl_cfg *cfg, uint32_t ttl, const char *addr,
                  uint32_t cats)
{
	char txt[DNSBL_TXT_MAX + 1];
	size_t n = dnsbl_txt_expand(cfg->txt, addr, cats, txt, sizeof(txt));
	size_t at = w_rr(w, DNS_HDR_LEN, DNS_T_TXT, ttl);
	rn_wcur_u8(w, (uint8_t)n);
	rn_wcur_bytes(w, txt, n);
	w_rdlen(w, at);
}

static void w_opt(struct rn_wcur *w, const struct dnsbl_cfg *cfg, const struct dns_query *q,
                  int rcode)
{
	rn_wcur_u8(w, 0);
	rn_wcur_u16(w, DNS_T_OPT);
	rn_wcur_u16(w, cfg->edns_size);
	rn_wcur_u32(w, (uint32_t)((rcode >> 4) & 0xff) << 24 | (q->edns_do ? 0x8000u : 0));
	rn_wcur_u16(w, 0);
}

/* An answer's flags: QR, the query's opcode and RD, AA, TC, the rcode's low bits. */
static uint16_t answer_flags(const struct dns_query *q, int rcode, bool aa, bool tc)
{
	return (uint16_t)(0x8000 | (q->flags & 0x7900) /* opcode, RD */ | (aa ? 0x0400 : 0) |
	                  (tc ? 0x0200 : 0) | (rcode & 0xf));
}

/* Starts the answer afresh with its header. */
static void w_header(struct rn_wcur *w, const struct dns_query *q, int rcode, bool aa, bool tc,
                     uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar)
{
	rn_wcur_reset(w);
	rn_wcur_u16(w, q->id);
	rn_wcur_u16(w, answer_flags(q, rcode, aa, tc));
	rn_wcur_u16(w, qd);
	rn_wcur_u16(w, an);
	rn_wcur_u16(w, ns);
	rn_wcur_u16(w, ar);
}

/* Parses the labels before the zone as an address. */
static bool name_to_addr(const struct dns_query *q, unsigned k, struct rn_addr *a)
{
	if (k == 4) {
		uint32_t v = 0;
		for (unsigned i = 0; i < 4; i++) {
			const uint8_t *l = q->name + q->label_off[i];
			unsigned n = l[0], x = 0;
			if (n == 0 || n > 3 || (n > 1 && l[1] == '0'))
				return false;
			for (unsigned j = 1; j <= n; j++) {
				if (l[j] < '0' || l[j] > '9')
					return false;
				x = x * 10 + (unsigned)(l[j] - '0');
			}
			if (x > 255)
				return false;
			v |= x << (8 * i);
		}
		rn_addr_set_v4(a, v);
		return true;
	}
	if (k == 32) {
		uint8_t b[16] = {0};
		for (unsigned i = 0; i < 32; i++) {
			const uint8_t *l = q->name + q->label_off[i];
			unsigned x;
			if (l[0] != 1)
				return false;
			if (l[1] >= '0' && l[1] <= '9')
				x = (unsigned)(l[1] - '0');
			else if (l[1] >= 'a' && l[1] <= 'f')
				x = (unsigned)(l[1] - 'a' + 10);
			else
				return false;
			/* Label i is nibble 31 - i. */
			unsigned nib = 31 - i;
			b[nib / 2] |= (uint8_t)(nib % 2 == 0 ? x << 4 : x);
		}
		rn_addr_set_v6(a, b);
		return true;
	}
	return false;
}

size_t dnsbl_respond(const struct dnsbl_cfg *cfg, const struct feeds_view *v, int64_t now_ms,
                     const uint8_t *in, size_t inlen, bool tcp, uint8_t *out, size_t cap,
                     struct dnsbl_result *res)
{
	struct dns_query q;
	struct rn_wcur w;
	int rcode;
	uint32_t serial = (uint32_t)(now_ms / 1000);

	rn_wcur_init(&w, out, cap < DNS_MSG_MAX ? cap : DNS_MSG_MAX);
	memset(res, 0, sizeof(*res));
	int rc = dns_query_parse(in, inlen, &q, &rcode);
	if (rc != RN_OK) {
		res->rcode = rcode;
		if (rcode == DNS_R_DROP)
			return 0;
		/* Check for a pointer or bad label in the question, for the counter. */
		res->bad_name = rc == RN_EPARSE;
		w_header(&w, &q, rcode, false, false, 0, 0, 0, 0);
		return rn_wcur_ok(&w) ? w.len : 0;
	}
	size_t limit = tcp ? 65535 : DNS_UDP_MIN;
	if (!tcp && q.edns)
		limit = q.edns_size < cfg->edns_size ? q.edns_size : cfg->edns_size;
	if (limit > w.cap)
		limit = w.cap;
	uint16_t ar = q.edns ? 1 : 0;

	if (q.edns && q.edns_version != 0) {
		res->rcode = DNS_R_BADVERS;
		w_header(&w, &q, DNS_R_BADVERS & 0xf, false, false, 1, 0, 0, 1);
		rn_wcur_bytes(&w, in + DNS_HDR_LEN, q.question_end - DNS_HDR_LEN);
		w_opt(&w, cfg, &q, DNS_R_BADVERS);
		return rn_wcur_ok(&w) ? w.len : 0;
	}

	const struct dnsbl_zone *z = NULL;
	for (unsigned i = 0; i < cfg->nzones; i++) {
		const struct dnsbl_zone *c = &cfg->zones[i];
		if (q.nlabels < c->nlabels)
			continue;
		unsigned k = q.nlabels - c->nlabels;
		size_t off = k < q.nlabels ? q.label_off[k] : q.name_len - 1;
		if (off + c->len == q.name_len && memcmp(q.name + off, c->name, c->len) == 0) {
			z = c;
			break;
		}
	}
	if (z == NULL || q.qclass != DNS_C_IN || q.qtype == DNS_T_AXFR || q.qtype == DNS_T_IXFR) {
		res->rcode = DNS_R_REFUSED;
		w_header(&w, &q, DNS_R_REFUSED, false, false, 1, 0, 0, ar);
		rn_wcur_bytes(&w, in + DNS_HDR_LEN, q.question_end - DNS_HDR_LEN);
		if (q.edns)
			w_opt(&w, cfg, &q, 0);
		return rn_wcur_ok(&w) ? w.len : 0;
	}
	res->in_zone = true;
	unsigned k = q.nlabels - z->nlabels;
	uint16_t apex = (uint16_t)(DNS_HDR_LEN + (k < q.nlabels ? q.label_off[k] : q.name_len - 1));
	uint16_t an = 0, ns = 0;
	size_t qlen = q.question_end - DNS_HDR_LEN;

	/* The header's rcode and counts are patched in at the end. */
	w_header(&w, &q, 0, true, false, 1, 0, 0, 0);
	rn_wcur_bytes(&w, in + DNS_HDR_LEN, qlen);
	rcode = DNS_R_NOERROR;
	if (k == 0) {
		bool any = q.qtype == DNS_T_ANY;
		if (q.qtype == DNS_T_SOA || any) {
			w_soa(&w, cfg, apex, cfg->ttl, serial);
			an++;
		}
		if (q.qtype == DNS_T_NS || any) {
			w_ns(&w, cfg, apex);
			an = (uint16_t)(an + cfg->nns);
		}
		if (an == 0) {
			w_soa(&w, cfg, apex, cfg->neg_ttl, serial);
			ns++;
		}
	} else {
		struct rn_addr a;
		uint32_t cats = 0;
		bool listed = false;
		if (name_to_addr(&q, k, &a)) {
			if (a.family == RN_AF_INET && a.u.v4 == 0x7f000002u) {
				listed = true; /* RFC 5782 test point; cats 0 reads "test" */
			} else if (!(a.family == RN_AF_INET && a.u.v4 == 0x7f000001u)) {
				int64_t exp = 0;
				cats = v->lookup(v->arg, &a, &exp) & z->cats;
				if (cats != 0 && (exp == 0 || exp > now_ms))
					listed = true;
			}
		}
		if (!listed) {
			rcode = DNS_R_NXDOMAIN;
			w_soa(&w, cfg, apex, cfg->neg_ttl, serial);
			ns++;
		} else {
			res->listed = true;
			bool any = q.qtype == DNS_T_ANY;
			if (q.qtype == DNS_T_A || any) {
				size_t at = w_rr(&w, DNS_HDR_LEN, DNS_T_A, cfg->ttl);
				uint8_t code = cats != 0 ? dnsbl_code(cfg, cats) : 2;
				uint8_t b[4] = {127, 0, 0, code};
				rn_wcur_bytes(&w, b, 4);
				w_rdlen(&w, at);
				an++;
			}
			if (q.qtype == DNS_T_TXT || any) {
				char txt[RN_ADDR_STRLEN];
				rn_addr_format(&a, txt, sizeof(txt));
				w_txt(&w, cfg, cfg->ttl, txt, cats);
				an++;
			}
			if (an == 0) {
				w_soa(&w, cfg, apex, cfg->neg_ttl, serial);
				ns++;
			}
		}
	}
	if (q.edns)
		w_opt(&w, cfg, &q, 0);
	res->rcode = rcode;
	if (!rn_wcur_ok(&w) || w.len > limit) {
		/* Does not fit: header, question and OPT with TC, for a retry over TCP. */
		res->truncated = true;
		w_header(&w, &q, rcode, true, true, 1, 0, 0, ar);
		rn_wcur_bytes(&w, in + DNS_HDR_LEN, qlen);
		if (q.edns)
			w_opt(&w, cfg, &q, 0);
		return rn_wcur_ok(&w) ? w.len : 0;
	}
	rn_wcur_patch(&w, 2, answer_flags(&q, rcode, true, false), 2);
	rn_wcur_patch(&w, 6, an, 2);
	rn_wcur_patch(&w, 8, ns, 2);
	rn_wcur_patch(&w, 10, ar, 2);
	return w.len;
}
