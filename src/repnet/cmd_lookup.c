/*
 * cmd_lookup.c: repnet lookup, where an address stands now.
 *
 * It asks the running repnetd (GET /v1/lookup, src/repnetd/api.c) for the
 * scorer's current blocklist and for the list the DNSBL and the policy
 * service answer from, and then asks the DNSBL itself, over UDP, what it
 * answers for the address: the same question a mail server asks. Each
 * part is printed as seen; a part the daemon does not run (no score or
 * serve role) is left out.
 *
 * With the sync role, the daemon says where its kernel sets are (the
 * nftables table, or the ipset prefix); repnetd keeps no CAP_NET_ADMIN
 * after its start, so the kernel is asked from here: run as root, repnet
 * starts the applier (repnet-nfsync) as the sync role does, dumps the sets
 * of that table and reports the ones holding the address. Without root it
 * says it did not ask.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "cmds.h"
#include "util.h"

#define DNS_TIMEOUT_MS 2000

/* One part of the daemon's answer: {"listed", "prefix", "categories", "expires_ms"}. */
struct part {
	bool present, listed;
	char prefix[RN_PREFIX_STRLEN];
	char cats[256];
	int64_t expires_ms;
};

struct lookup_doc {
	char ip[RN_ADDR_STRLEN];
	int64_t now_ms;
	struct part scorer, served;
	bool has_dnsbl;
	char dnsbl_ep[RN_ADDR_STRLEN + 16];
	char dnsbl_zone[256];
	bool has_sync;
	char sync_backend[16], sync_table[128], sync_ipset_prefix[64];
};

/* "categories": ["a", "b"] into "a,b". */
static int read_cats(struct rn_json *r, int tok, void *base)
{
	struct part *p = base;
	return cli_json_cats(r, tok, p->cats, sizeof(p->cats));
}

#define PF(name, type, m)                                                                 \
	{                                                                                 \
		name, type, offsetof(struct part, m), sizeof(((struct part *)0)->m), NULL \
	}
static const struct rn_json_field part_fields[] = {
        PF("listed", RN_JSON_F_BOOL, listed),
        PF("prefix", RN_JSON_F_STR, prefix),
        {"categories", RN_JSON_F_FN, 0, 0, read_cats},
        PF("expires_ms", RN_JSON_F_INT, expires_ms),
};
#undef PF

static int read_part(struct rn_json *r, int tok, struct part *p)
{
	p->present = true;
	return rn_json_object(r, tok, part_fields, RN_ARRAY_LEN(part_fields), 0, p, NULL);
}

static int read_scorer(struct rn_json *r, int tok, void *base)
{
	return read_part(r, tok, &((struct lookup_doc *)base)->scorer);
}

static int read_served(struct rn_json *r, int tok, void *base)
{
	return read_part(r, tok, &((struct lookup_doc *)base)->served);
}

#define DF(name, type, m)                                                                        \
	{                                                                                        \
		name, type, offsetof(struct lookup_doc, m), sizeof(((struct lookup_doc *)0)->m), \
		        NULL                                                                     \
	}
static const struct rn_json_field dnsbl_fields[] = {
        DF("endpoint", RN_JSON_F_STR, dnsbl_ep),
        DF("zone", RN_JSON_F_STR, dnsbl_zone),
};

static int read_dnsbl(struct rn_json *r, int tok, void *base)
{
	((struct lookup_doc *)base)->has_dnsbl = true;
	return rn_json_object(r, tok, dnsbl_fields, RN_ARRAY_LEN(dnsbl_fields), RN_JSON_FLAT, base,
	                      NULL);
}

static const struct rn_json_field sync_fields[] = {
        DF("backend", RN_JSON_F_STR, sync_backend),
        DF("table", RN_JSON_F_STR, sync_table),
        DF("ipset_prefix", RN_JSON_F_STR, sync_ipset_prefix),
};

static int read_sync(struct rn_json *r, int tok, void *base)
{
	((struct lookup_doc *)base)->has_sync = true;
	return rn_json_object(r, tok, sync_fields, RN_ARRAY_LEN(sync_fields), RN_JSON_FLAT, base,
	                      NULL);
}

static const struct rn_json_field doc_fields[] = {
        DF("ip", RN_JSON_F_STR, ip),
        DF("now_ms", RN_JSON_F_INT, now_ms),
        {"scorer", RN_JSON_F_FN, 0, 0, read_scorer},
        {"served", RN_JSON_F_FN, 0, 0, read_served},
        {"dnsbl", RN_JSON_F_FN, 0, 0, read_dnsbl},
        {"sync", RN_JSON_F_FN, 0, 0, read_sync},
};
#undef DF

static int doc_read(const char *body, struct lookup_doc *d, char *err, size_t errlen)
{
	char str[512];
	struct rn_json r;
	memset(d, 0, sizeof(*d));
	rn_json_init(&r, (const uint8_t *)body, strlen(body), str, sizeof(str));
	int tok = rn_json_next(&r);
	int rc =
	        tok < 0 ? tok
	                : rn_json_object(&r, tok, doc_fields, RN_ARRAY_LEN(doc_fields), 0, d, NULL);
	if (rc == RN_OK && (tok = rn_json_next(&r)) != RN_JSON_END)
		rc = tok < 0 ? tok : rn_json_fail(&r, RN_EPARSE, "more after the object");
	if (rc != RN_OK)
		rn_json_error(&r, err, errlen);
	return rc;
}

/* The DNSBL name of a in zone: reversed octets (IPv4) or nibbles (IPv6). */
static int dnsbl_name(const struct rn_addr *a, const char *zone, char *out, size_t len)
{
	int n;
	if (a->family == RN_AF_INET) {
		uint32_t v = a->u.v4;
		n = snprintf(out, len, "%u.%u.%u.%u.%s", v & 0xff, (v >> 8) & 0xff,
		             (v >> 16) & 0xff, v >> 24, zone);
	} else {
		static const char hex[] = "0123456789abcdef";
		size_t o = 0;
		for (int i = 15; i >= 0 && o + 4 < len; i--) {
			out[o++] = hex[a->u.v6[i] & 0xf];
			out[o++] = '.';
			out[o++] = hex[a->u.v6[i] >> 4];
			out[o++] = '.';
		}
		n = snprintf(out + o, len - o, "%s", zone);
		n = n < 0 ? n : (int)o + n;
	}
	return n < 0 || (size_t)n >= len ? RN_ELIMIT : RN_OK;
}

/* A query for name, type A, id, into w. */
static void dns_query(struct rn_wcur *w, const char *name, uint16_t id)
{
	rn_wcur_u16(w, id);
	rn_wcur_u16(w, 0x0100); /* RD */
	rn_wcur_u16(w, 1);
	rn_wcur_u16(w, 0);
	rn_wcur_u16(w, 0);
	rn_wcur_u16(w, 0);
	for (const char *p = name; *p != '\0';) {
		size_t l = strcspn(p, ".");
		if (l == 0 || l > 63) {
			w->err = RN_EPARSE;
			return;
		}
		rn_wcur_u8(w, (uint8_t)l);
		rn_wcur_bytes(w, p, l);
		p += l;
		if (*p == '.')
			p++;
	}
	rn_wcur_u8(w, 0);
	rn_wcur_u16(w, 1); /* A */
	rn_wcur_u16(w, 1); /* IN */
}

/* Skips a (possibly compressed) name at c. */
static void dns_skip_name(struct rn_cur *c)
{
	for (int i = 0; i < 128 && rn_cur_left(c) > 0; i++) {
		uint8_t l = rn_cur_u8(c);
		if (l == 0)
			return;
		if ((l & 0xc0) == 0xc0) {
			rn_cur_u8(c);
			return;
		}
		rn_cur_skip(c, l);
	}
	c->err = RN_EPARSE;
}

/*
 * Asks the DNSBL at ep for name; prints its answer: the A records, or
 * NXDOMAIN (not listed). Returns RN_OK when an answer came.
 */
static int dnsbl_ask(const char *ep, const char *name, char *out, size_t outlen)
{
	struct sockaddr_storage ss;
	unsigned sl;
	char host[RN_ADDR_STRLEN + 16];
	const char *port = strrchr(ep, ':');
	/* A wildcard listener is asked on loopback. */
	if (port != NULL && strncmp(ep, "0.0.0.0:", 8) == 0)
		snprintf(host, sizeof(host), "127.0.0.1%.6s", port);
	else if (port != NULL && strncmp(ep, "[::]:", 5) == 0)
		snprintf(host, sizeof(host), "[::1]%.6s", port);
	else
		snprintf(host, sizeof(host), "%.*s", (int)(sizeof(host) - 1), ep);
	int rc = rn_hostport_parse(host, &ss, &sl);
	if (rc != RN_OK)
		return rc;
	int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	uint8_t q[512], a[4096];
	struct rn_wcur w;
	uint16_t id = (uint16_t)(getpid() ^ rn_time_mono_ms());
	rn_wcur_init(&w, q, sizeof(q));
	dns_query(&w, name, id);
	if (w.err != RN_OK) {
		close(fd);
		return w.err;
	}
	if (connect(fd, (struct sockaddr *)&ss, sl) != 0 ||
	    send(fd, q, w.len, 0) != (ssize_t)w.len) {
		rc = -errno;
		close(fd);
		return rc;
	}
	struct pollfd p = {.fd = fd, .events = POLLIN};
	ssize_t n = poll(&p, 1, DNS_TIMEOUT_MS) == 1 ? recv(fd, a, sizeof(a), 0) : -1;
	close(fd);
	if (n < 12)
		return -ETIMEDOUT;
	struct rn_cur c;
	rn_cur_init(&c, a, (size_t)n);
	uint16_t rid = rn_cur_u16(&c), flags = rn_cur_u16(&c), qd = rn_cur_u16(&c);
	uint16_t an = rn_cur_u16(&c);
	rn_cur_skip(&c, 4);
	if (rid != id)
		return RN_EPARSE;
	for (unsigned i = 0; i < qd && c.err == RN_OK; i++) {
		dns_skip_name(&c);
		rn_cur_skip(&c, 4);
	}
	unsigned rcode = flags & 0xf;
	if (rcode == 3) {
		snprintf(out, outlen, "NXDOMAIN (not listed)");
		return RN_OK;
	}
	if (rcode != 0) {
		snprintf(out, outlen, "rcode %u", rcode);
		return RN_OK;
	}
	size_t o = 0;
	out[0] = '\0';
	for (unsigned i = 0; i < an && c.err == RN_OK; i++) {
		dns_skip_name(&c);
		uint16_t type = rn_cur_u16(&c);
		rn_cur_skip(&c, 6);
		uint16_t rdlen = rn_cur_u16(&c);
		const uint8_t *rd = rn_cur_bytes(&c, rdlen);
		if (c.err == RN_OK && type == 1 && rdlen == 4 && o < outlen) {
			int k = snprintf(out + o, outlen - o, "%s%u.%u.%u.%u", o ? ", " : "", rd[0],
			                 rd[1], rd[2], rd[3]);
			o += k > 0 ? (size_t)k : 0;
		}
	}
	if (c.err != RN_OK)
		return c.err;
	if (o == 0)
		snprintf(out, outlen, "no A record (not listed)");
	return RN_OK;
}

/* The kernel's sets holding one address, as the dump finds them. */
struct kfind {
	struct rn_addr addr;
	char sets[512];
	size_t o;
	unsigned n;
};

static int kfind_item(const struct feeds_nfsync_item *it, void *arg)
{
	struct kfind *k = arg;
	if (it->lo.family != k->addr.family || rn_addr_cmp(&it->lo, &k->addr) > 0 ||
	    rn_addr_cmp(&k->addr, &it->hi) > 0)
		return 0;
	char lo[RN_ADDR_STRLEN], hi[RN_ADDR_STRLEN];
	rn_addr_format(&it->lo, lo, sizeof(lo));
	rn_addr_format(&it->hi, hi, sizeof(hi));
	int w = rn_addr_equal(&it->lo, &it->hi)
	                ? snprintf(k->sets + k->o, sizeof(k->sets) - k->o, "%s%s", k->n ? ", " : "",
	                           it->set)
	                : snprintf(k->sets + k->o, sizeof(k->sets) - k->o, "%s%s (%s-%s)",
	                           k->n ? ", " : "", it->set, lo, hi);
	if (w > 0 && (size_t)w < sizeof(k->sets) - k->o)
		k->o += (size_t)w;
	k->n++;
	return 0;
}

/*
 * Asks the kernel which of the sync role's sets hold addr: the applier,
 * started as the sync role starts it, dumps the sets of the daemon's table
 * (or ipset prefix). Needs CAP_NET_ADMIN.
 */
static void kernel_print(const struct lookup_doc *d, const struct rn_addr *addr,
                         const struct daemon_conf *dc)
{
	const char *where =
	        strcmp(d->sync_backend, "ipset") == 0 ? d->sync_ipset_prefix : d->sync_table;
	if (geteuid() != 0) {
		printf("  %-8s not asked: reading the kernel sets (%s %s) needs root\n",
		       "kernel:", d->sync_backend, where);
		return;
	}
	struct feeds_sync_conf sc = dc->feeds.sync;
	sc.backend = strcmp(d->sync_backend, "ipset") == 0 ? FEEDS_SYNC_IPSET : FEEDS_SYNC_NFT;
	sc.table = (char *)d->sync_table;
	sc.ipset_prefix = (char *)d->sync_ipset_prefix;
	struct feeds_nfsync *s = NULL;
	struct kfind k = {.addr = *addr};
	int rc = feeds_nfsync_open(&s, &sc, NULL);
	if (rc == RN_OK)
		rc = feeds_nfsync_dump(s, kfind_item, &k);
	feeds_nfsync_close(s);
	if (rc != RN_OK)
		printf("  %-8s could not read the sets of %s %s: %s\n", "kernel:", d->sync_backend,
		       where, rn_strerror(rc));
	else if (k.n == 0)
		printf("  %-8s in no set of %s %s\n", "kernel:", d->sync_backend, where);
	else
		printf("  %-8s IN %s %s set %s\n", "kernel:", d->sync_backend, where, k.sets);
}

static void part_print(const char *what, const struct part *p)
{
	char t[RN_TIME_STRLEN];
	if (!p->present)
		return;
	printf("  %-8s ", what);
	if (!p->listed) {
		printf("not listed\n");
		return;
	}
	rn_time_format(p->expires_ms, false, t, sizeof(t));
	printf("LISTED%s%s, %s, until %s\n", p->prefix[0] ? " as " : "", p->prefix, p->cats, t);
}

/* repnet lookup [-c FILE] [-o section.key=value]... [--json] IP */
int cmd_lookup(int argc, char **argv)
{
	static const struct option lopts[] = {{"config", required_argument, NULL, 'c'},
	                                      {"json", no_argument, NULL, 'j'},
	                                      {NULL, 0, NULL, 0}};
	struct conf_args ca;
	bool json = false;
	int ch, code = 1;
	if (conf_args_init(&ca, argc) != RN_OK)
		return 1;
	while ((ch = conf_args_getopt(&ca, argc, argv, "c:o:", lopts)) != -1) {
		if (ch != 'j') {
			conf_args_free(&ca);
			return 2;
		}
		json = true;
	}
	if (optind + 1 != argc) {
		conf_args_free(&ca);
		return 2;
	}
	const char *ip = argv[optind];
	struct rn_addr addr;
	if (rn_addr_parse_str(ip, &addr) != RN_OK) {
		fprintf(stderr, "repnet: \"%s\" is not an address\n", ip);
		conf_args_free(&ca);
		return 2;
	}
	struct daemon_conf dc;
	if (conf_args_load(&ca, "repnet", &dc) != RN_OK) {
		conf_args_free(&ca);
		return 1;
	}
	char path[128], where[128], err[256], name[300], ans[256], t[RN_TIME_STRLEN];
	char *body = NULL;
	int status = 0;
	struct lookup_doc d;
	snprintf(path, sizeof(path), "/v1/lookup?ip=%s", ip);
	int rc =
	        cli_api_get(dc.core.data_dir, path, 1u << 20, &body, &status, where, sizeof(where));
	if (rc != RN_OK) {
		fprintf(stderr, "repnet: lookup: no repnetd answers for %s %s: %s\n",
		        dc.core.data_dir, where, rn_strerror(rc));
		goto out;
	}
	if (status != 200) {
		fprintf(stderr, "repnet: lookup: repnetd at %s answered %d: %s\n", where, status,
		        body);
		goto out;
	}
	if (json) {
		printf("%s\n", body);
		code = 0;
		goto out;
	}
	if (doc_read(body, &d, err, sizeof(err)) != RN_OK) {
		fprintf(stderr, "repnet: lookup: repnetd at %s: an answer repnet cannot read: %s\n",
		        where, err);
		goto out;
	}
	rn_time_format(d.now_ms, true, t, sizeof(t));
	printf("%s at %s (repnetd at %s)\n", ip, t, where);
	part_print("scorer:", &d.scorer);
	part_print("served:", &d.served);
	if (d.has_dnsbl) {
		if (dnsbl_name(&addr, d.dnsbl_zone, name, sizeof(name)) == RN_OK &&
		    (rc = dnsbl_ask(d.dnsbl_ep, name, ans, sizeof(ans))) == RN_OK)
			printf("  %-8s %s A: %s (asked %s)\n", "dnsbl:", name, ans, d.dnsbl_ep);
		else
			printf("  %-8s no answer from %s: %s\n", "dnsbl:", d.dnsbl_ep,
			       rn_strerror(rc));
	}
	if (d.has_sync)
		kernel_print(&d, &addr, &dc);
	if (!d.scorer.present && !d.served.present)
		printf("  this repnetd has neither the score nor the serve role\n");
	code = 0;
out:
	free(body);
	daemon_conf_release(&dc);
	conf_args_free(&ca);
	return code;
}
