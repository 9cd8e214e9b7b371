/*
 * addr.c: IPv4/IPv6 addresses and prefixes.
 *
 * Design notes: text parsing takes (buf, len), checks the characters and
 * the length, copies into a bounded NUL-terminated buffer and hands the
 * grammar to the C library's inet_pton(), which is strict (no leading
 * zeros in IPv4 octets, no zone identifiers). IPv4-mapped IPv6 addresses
 * are folded to IPv4 everywhere, so one host never has two keys.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

void rn_addr_set_v6(struct rn_addr *a, const uint8_t b[16])
{
	if (memcmp(b, v4mapped_prefix, 12) == 0) {
		rn_addr_set_v4(a, (uint32_t)rn_load_be(b + 12, 4));
		return;
	}
	memset(a, 0, sizeof(*a));
	a->family = RN_AF_INET6;
	memcpy(a->u.v6, b, 16);
}

int rn_addr_from_bytes(struct rn_addr *a, const uint8_t *b, size_t len)
{
	if (len == 4) {
		rn_addr_set_v4(a, (uint32_t)rn_load_be(b, 4));
		return RN_OK;
	}
	if (len == 16) {
		rn_addr_set_v6(a, b);
		return RN_OK;
	}
	return RN_EBADLEN;
}

size_t rn_addr_to_bytes(const struct rn_addr *a, uint8_t dst[16])
{
	if (a->family == RN_AF_INET) {
		rn_wcur_store(dst, a->u.v4, 4);
		return 4;
	}
	if (a->family == RN_AF_INET6) {
		memcpy(dst, a->u.v6, 16);
		return 16;
	}
	return 0;
}

int rn_addr_parse(const uint8_t *buf, size_t len, struct rn_addr *out)
{
	char tmp[RN_ADDR_STRLEN];
	bool colon = false;
	if (len == 0 || len >= sizeof(tmp))
		return RN_EPARSE;
	for (size_t i = 0; i < len; i++) {
		uint8_t ch = buf[i];
		if (ch == ':')
			colon = true;
		else if (!((ch >= '0' && ch <= '9') || ch == '.' || (ch >= 'a' && ch <= 'f') ||
		           (ch >= 'A' && ch <= 'F')))
			return RN_EPARSE;
	}
	memcpy(tmp, buf, len);
	tmp[len] = '\0';
	if (!colon) {
		struct in_addr in;
		if (inet_pton(AF_INET, tmp, &in) != 1)
			return RN_EPARSE;
		rn_addr_set_v4(out, ntohl(in.s_addr));
		return RN_OK;
	}
	uint8_t b[16];
	if (inet_pton(AF_INET6, tmp, b) != 1)
		return RN_EPARSE;
	rn_addr_set_v6(out, b);
	return RN_OK;
}

int rn_addr_parse_str(const char *s, struct rn_addr *out)
{
	return rn_addr_parse((const uint8_t *)s, strlen(s), out);
}

unsigned rn_addr_maxlen(const struct rn_addr *a)
{
	return a->family == RN_AF_INET ? 32 : 128;
}

void rn_addr_mask(struct rn_addr *a, unsigned len)
{
	if (a->family == RN_AF_INET) {
		if (len == 0)
			a->u.v4 = 0;
		else if (len < 32)
			a->u.v4 &= ~(uint32_t)0 << (32 - len);
		return;
	}
	if (a->family != RN_AF_INET6 || len >= 128)
		return;
	unsigned byte = len / 8, bits = len % 8;
	if (bits != 0) {
		a->u.v6[byte] &= (uint8_t)(0xff << (8 - bits));
		byte++;
	}
	memset(a->u.v6 + byte, 0, 16 - byte);
}

int rn_prefix_parse(const uint8_t *buf, size_t len, bool strict, struct rn_prefix *out)
{
	const uint8_t *slash = memchr(buf, '/', len);
	struct rn_addr a;
	size_t alen = slash != NULL ? (size_t)(slash - buf) : len;
	int rc = rn_addr_parse(buf, alen, &a);
	if (rc != RN_OK)
		return rc;
	unsigned max = rn_addr_maxlen(&a);
	unsigned plen = max;
	if (slash != NULL) {
		const uint8_t *p = slash + 1;
		size_t n = len - alen - 1;
		if (n == 0 || n > 3 || (n > 1 && p[0] == '0'))
			return RN_EPARSE;
		plen = 0;
		for (size_t i = 0; i < n; i++) {
			if (p[i] < '0' || p[i] > '9')
				return RN_EPARSE;
			plen = plen * 10 + (unsigned)(p[i] - '0');
		}
		/* "::ffff:1.2.3.4/120" names IPv4 bits past the 96-bit prefix. */
		if (a.family == RN_AF_INET && memchr(buf, ':', alen) != NULL) {
			if (plen < 96)
				return RN_EPARSE;
			plen -= 96;
		}
		if (plen > max)
			return RN_EPARSE;
	}
	struct rn_addr masked = a;
	rn_addr_mask(&masked, plen);
	if (strict && !rn_addr_equal(&masked, &a))
		return RN_EPARSE;
	out->addr = masked;
	out->len = (uint8_t)plen;
	return RN_OK;
}

int rn_prefix_parse_str(const char *s, bool strict, struct rn_prefix *out)
{
	return rn_prefix_parse((const uint8_t *)s, strlen(s), strict, out);
}

size_t rn_addr_format(const struct rn_addr *a, char *dst, size_t dstlen)
{
	if (dstlen == 0)
		return 0;
	dst[0] = '\0';
	if (a->family == RN_AF_INET) {
		uint32_t v = a->u.v4;
		char tmp[16];
		char *p = tmp;
		for (int shift = 24; shift >= 0; shift -= 8) {
			unsigned o = (v >> shift) & 0xff;
			if (o >= 100)
				*p++ = (char)('0' + o / 100);
			if (o >= 10)
				*p++ = (char)('0' + o / 10 % 10);
			*p++ = (char)('0' + o % 10);
			if (shift != 0)
				*p++ = '.';
		}
		size_t n = (size_t)(p - tmp);
		if (n >= dstlen)
			return 0;
		memcpy(dst, tmp, n);
		dst[n] = '\0';
		return n;
	}
	if (a->family == RN_AF_INET6) {
		char tmp[INET6_ADDRSTRLEN];
		if (inet_ntop(AF_INET6, a->u.v6, tmp, sizeof(tmp)) == NULL)
			return 0;
		size_t n = strlen(tmp);
		if (n >= dstlen)
			return 0;
		memcpy(dst, tmp, n + 1);
		return n;
	}
	return 0;
}

size_t rn_prefix_format(const struct rn_prefix *p, char *dst, size_t dstlen)
{
	size_t n = rn_addr_format(&p->addr, dst, dstlen);
	if (n == 0)
		return 0;
	int m = snprintf(dst + n, dstlen - n, "/%u", (unsigned)p->len);
	if (m < 0 || (size_t)m >= dstlen - n) {
		dst[0] = '\0';
		return 0;
	}
	return n + (size_t)m;
}

bool rn_addr_equal(const struct rn_addr *a, const struct rn_addr *b)
{
	if (a->family != b->family)
		return false;
	if (a->family == RN_AF_INET)
		return a->u.v4 == b->u.v4;
	if (a->family == RN_AF_INET6)
		return memcmp(a->u.v6, b->u.v6, 16) == 0;
	return true;
}

int rn_addr_cmp(const struct rn_addr *a, const struct rn_addr *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	if (a->family == RN_AF_INET)
		return a->u.v4 < b->u.v4 ? -1 : a->u.v4 > b->u.v4;
	if (a->family == RN_AF_INET6)
		return memcmp(a->u.v6, b->u.v6, 16);
	return 0;
}

bool rn_prefix_contains(const struct rn_prefix *p, const struct rn_addr *a)
{
	if (p->addr.family != a->family)
		return false;
	struct rn_addr m = *a;
	rn_addr_mask(&m, p->len);
	return rn_addr_equal(&m, &p->addr);
}

bool rn_prefix_overlaps(const struct rn_prefix *a, const struct rn_prefix *b)
{
	if (a->addr.family != b->addr.family)
		return false;
	return a->len <= b->len ? rn_prefix_contains(a, &b->addr) : rn_prefix_contains(b, &a->addr);
}

int rn_prefix_list_add(struct rn_prefix_list *l, const struct rn_prefix *p)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct rn_prefix *v = realloc(l->v, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *p;
	return RN_OK;
}

int rn_prefix_list_append(struct rn_prefix_list *dst, const struct rn_prefix_list *src)
{
	for (size_t i = 0; i < src->n; i++) {
		int rc = rn_prefix_list_add(dst, &src->v[i]);
		if (rc != RN_OK)
			return rc;
	}
	return RN_OK;
}

bool rn_prefix_list_contains(const struct rn_prefix_list *l, const struct rn_addr *a)
{
	for (size_t i = 0; i < l->n; i++)
		if (rn_prefix_contains(&l->v[i], a))
			return true;
	return false;
}

const struct rn_prefix *rn_prefix_list_overlap(const struct rn_prefix_list *l,
                                               const struct rn_prefix *p)
{
	for (size_t i = 0; i < l->n; i++)
		if (rn_prefix_overlaps(&l->v[i], p))
			return &l->v[i];
	return NULL;
}

void rn_prefix_list_clear(struct rn_prefix_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

/*
 * The IANA IPv4 and IPv6 special-purpose address registries (RFC 6890 and
 * its updates), plus multicast and the documentation prefix of RFC 9637.
 * None of these is a legitimate public mail or flow source.
 */
static const char *const special_ranges[] = {
        "0.0.0.0/8",      "10.0.0.0/8",     "100.64.0.0/10",   "127.0.0.0/8",     "169.254.0.0/16",
        "172.16.0.0/12",  "192.0.0.0/24",   "192.0.2.0/24",    "192.31.196.0/24", "192.52.193.0/24",
        "192.88.99.0/24", "192.168.0.0/16", "192.175.48.0/24", "198.18.0.0/15",   "198.51.100.0/24",
        "203.0.113.0/24", "224.0.0.0/4",    "240.0.0.0/4",     "::/128",          "::1/128",
        "64:ff9b::/96",   "64:ff9b:1::/48", "100::/64",        "2001::/23",       "2001:db8::/32",
        "2002::/16",      "3fff::/20",      "5f00::/16",       "fc00::/7",        "fe80::/10",
        "ff00::/8",
};

/* Appends the n built-in ranges of v (valid text: a parse error is a bug). */
static int prefix_list_add_strs(struct rn_prefix_list *l, const char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct rn_prefix p;
		int rc = rn_prefix_parse_str(v[i], true, &p);
		if (rc != RN_OK)
			return RN_EINTERNAL;
		rc = rn_prefix_list_add(l, &p);
		if (rc != RN_OK)
			return rc;
	}
	return RN_OK;
}

int rn_prefix_list_add_special(struct rn_prefix_list *l)
{
	return prefix_list_add_strs(l, special_ranges, RN_ARRAY_LEN(special_ranges));
}

int rn_prefix_list_add_loopback(struct rn_prefix_list *l)
{
	static const char *const lo[] = {"127.0.0.0/8", "::1/128"};
	return prefix_list_add_strs(l, lo, RN_ARRAY_LEN(lo));
}

bool rn_addr_is_loopback(const struct rn_addr *a)
{
	static const uint8_t one[16] = {[15] = 1};
	if (a->family == RN_AF_INET)
		return (a->u.v4 >> 24) == 127;
	return a->family == RN_AF_INET6 && memcmp(a->u.v6, one, 16) == 0;
}

int rn_addr_from_sockaddr(struct rn_addr *a, uint16_t *port, const void *sa)
{
	const struct sockaddr *s = sa;
	if (s->sa_family == AF_INET) {
		const struct sockaddr_in *sin = sa;
		rn_addr_set_v4(a, ntohl(sin->sin_addr.s_addr));
		if (port != NULL)
			*port = ntohs(sin->sin_port);
		return RN_OK;
	}
	if (s->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = sa;
		rn_addr_set_v6(a, sin6->sin6_addr.s6_addr);
		if (port != NULL)
			*port = ntohs(sin6->sin6_port);
		return RN_OK;
	}
	return RN_EUNSUPP;
}

bool rn_hostport_is_loopback(const char *hostport)
{
	struct sockaddr_storage ss;
	unsigned sl;
	struct rn_addr a;
	if (rn_hostport_parse(hostport, &ss, &sl) != RN_OK ||
	    rn_addr_from_sockaddr(&a, NULL, &ss) != RN_OK)
		return false;
	return rn_addr_is_loopback(&a);
}

int rn_hostport_parse(const char *s, struct sockaddr_storage *ss, unsigned *sslen)
{
	const char *host, *colon;
	size_t hlen;
	if (s == NULL)
		return RN_EPARSE;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':')
			return RN_EPARSE;
		host = s + 1;
		hlen = (size_t)(close - host);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
			return RN_EPARSE;
		host = s;
		hlen = (size_t)(colon - s);
	}
	const char *ps = colon + 1;
	size_t pl = strlen(ps);
	if (pl == 0 || pl > 5 || (pl > 1 && ps[0] == '0'))
		return RN_EPARSE;
	unsigned port = 0;
	for (size_t i = 0; i < pl; i++) {
		if (ps[i] < '0' || ps[i] > '9')
			return RN_EPARSE;
		port = port * 10 + (unsigned)(ps[i] - '0');
	}
	if (port > 65535)
		return RN_EPARSE;
	struct rn_addr a;
	int rc = rn_addr_parse((const uint8_t *)host, hlen, &a);
	if (rc != RN_OK)
		return rc;
	/* A bracketed host must be IPv6 written as such. */
	if ((s[0] == '[') != (memchr(host, ':', hlen) != NULL))
		return RN_EPARSE;
	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		char tmp[RN_ADDR_STRLEN];
		memcpy(tmp, host, hlen);
		tmp[hlen] = '\0';
		if (inet_pton(AF_INET6, tmp, &sin6->sin6_addr) != 1)
			return RN_EPARSE;
		*sslen = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		sin->sin_addr.s_addr = htonl(a.u.v4);
		*sslen = sizeof(*sin);
	}
	return RN_OK;
}

size_t rn_sockaddr_format(const void *sa, char *dst, size_t dstlen)
{
	const struct sockaddr *s = sa;
	char host[INET6_ADDRSTRLEN];
	int n;
	if (dstlen == 0)
		return 0;
	if (s->sa_family == AF_INET) {
		const struct sockaddr_in *sin = sa;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		n = snprintf(dst, dstlen, "%s:%u", host, ntohs(sin->sin_port));
	} else if (s->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = sa;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		n = snprintf(dst, dstlen, "[%s]:%u", host, ntohs(sin6->sin6_port));
	} else {
		n = snprintf(dst, dstlen, "unknown");
	}
	if (n < 0)
		return 0;
	return (size_t)n < dstlen ? (size_t)n : dstlen - 1;
}
