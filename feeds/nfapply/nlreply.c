/*
 * nlreply.c: the parser of what the kernel answers on NETLINK_NETFILTER:
 * ACKs and errors (with extended ACK attributes), the end of dumps, and the
 * objects of nf_tables and ipset dumps (tables, sets, set elements,
 * chains, rules, the ruleset generation, ipset headers and members).
 *
 * Design notes: everything is read through struct rn_cur, so no read goes
 * past the datagram. Netlink framing is host byte order: message and
 * attribute headers are read with memcpy from checked spans. Each message
 * length must cover its header and fit in what is left; each attribute
 * length must cover its 4-byte header and fit in its parent; a value is
 * used only when its length is exactly the length of its type; strings must
 * end with a NUL inside their attribute. Unknown attributes are skipped
 * but must still be well-formed, so that a truncated or corrupt answer is
 * an error, never a partial result. Nothing here allocates: lists go to
 * callbacks, and strings are views into the caller's buffer. Stateless
 * and thread-safe. tests/fuzz/nlreply_fuzz.c drives every entry point.
 */
#include <string.h>
#include <linux/netfilter/ipset/ip_set.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include "feeds/nfapply/netlink.h"

#define NLR_ALIGN(n) (((n) + 3u) & ~(size_t)3u)
#define NLA_TYPE(t)  ((uint16_t)((t)&NLA_TYPE_MASK))

static uint16_t host16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

static uint32_t host32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

int nlr_walk(const uint8_t *buf, size_t len, int (*cb)(const struct nlr_msg *m, void *arg),
             void *arg)
{
	struct rn_cur c;
	rn_cur_init(&c, buf, len);
	while (rn_cur_left(&c) > 0) {
		const uint8_t *h = rn_cur_bytes(&c, NLMSG_HDRLEN);
		if (h == NULL)
			return RN_ETRUNC;
		struct nlr_msg m;
		uint32_t mlen = host32(h);
		m.type = host16(h + 4);
		m.flags = host16(h + 6);
		m.seq = host32(h + 8);
		m.pid = host32(h + 12);
		if (mlen < NLMSG_HDRLEN)
			return RN_EBADLEN;
		m.len = mlen - NLMSG_HDRLEN;
		m.payload = rn_cur_bytes(&c, m.len);
		if (m.payload == NULL)
			return RN_ETRUNC;
		/* Padding to 4 bytes, which the last message may omit. */
		size_t pad = NLR_ALIGN(mlen) - mlen;
		rn_cur_skip(&c, pad < rn_cur_left(&c) ? pad : rn_cur_left(&c));
		int rc = cb(&m, arg);
		if (rc != RN_OK)
			return rc;
	}
	return RN_OK;
}

/*
 * One attribute from c: returns false at the end of c (c stays ok) or on a
 * malformed attribute (c fails).
 */
static bool attr_next(struct rn_cur *c, uint16_t *type, const uint8_t **data, size_t *dlen)
{
	if (!rn_cur_ok(c) || rn_cur_left(c) == 0)
		return false;
	const uint8_t *h = rn_cur_bytes(c, NLA_HDRLEN);
	if (h == NULL)
		return false;
	uint16_t alen = host16(h);
	*type = host16(h + 2);
	if (alen < NLA_HDRLEN) {
		rn_cur_fail(c, RN_EBADLEN);
		return false;
	}
	*dlen = alen - NLA_HDRLEN;
	*data = rn_cur_bytes(c, *dlen);
	if (*data == NULL)
		return false;
	size_t pad = NLR_ALIGN(alen) - alen;
	rn_cur_skip(c, pad < rn_cur_left(c) ? pad : rn_cur_left(c));
	return true;
}

static bool get_str(const uint8_t *d, size_t n, struct nlr_str *out)
{
	if (n == 0 || d[n - 1] != '\0')
		return false;
	out->s = (const char *)d;
	out->len = strnlen(out->s, n);
	return true;
}

bool nlr_str_eq(const struct nlr_str *a, const char *b)
{
	return a->s != NULL && strlen(b) == a->len && memcmp(a->s, b, a->len) == 0;
}

int nlr_parse_error(const struct nlr_msg *m, struct nlr_err *e)
{
	struct rn_cur c;
	memset(e, 0, sizeof(*e));
	if (m->type != NLMSG_ERROR)
		return RN_EPARSE;
	rn_cur_init(&c, m->payload, m->len);
	const uint8_t *p = rn_cur_bytes(&c, 4 + NLMSG_HDRLEN);
	if (p == NULL)
		return RN_ETRUNC;
	int32_t err;
	memcpy(&err, p, 4);
	/* ipset reports its own codes (4096 and up) as negative numbers too. */
	if (err > 0 || err < -8191)
		return RN_EPARSE;
	e->error = err;
	uint32_t olen = host32(p + 4);
	e->orig_type = host16(p + 8);
	e->seq = host32(p + 12);
	e->pid = host32(p + 16);
	if (olen < NLMSG_HDRLEN)
		return RN_EBADLEN;
	if (!(m->flags & NLM_F_CAPPED)) {
		/* The request's payload is echoed: skip it. */
		rn_cur_skip(&c, NLR_ALIGN(olen) - NLMSG_HDRLEN <= rn_cur_left(&c)
		                        ? NLR_ALIGN(olen) - NLMSG_HDRLEN
		                        : olen - NLMSG_HDRLEN);
		if (!rn_cur_ok(&c))
			return c.err;
	}
	if (!(m->flags & NLM_F_ACK_TLVS))
		return rn_cur_left(&c) == 0 ? RN_OK : RN_EPARSE;
	uint16_t t;
	const uint8_t *d;
	size_t n;
	while (attr_next(&c, &t, &d, &n)) {
		struct nlr_str s;
		switch (NLA_TYPE(t)) {
		case NLMSGERR_ATTR_MSG:
			if (!get_str(d, n, &s))
				return RN_EPARSE;
			e->text = s.s;
			break;
		case NLMSGERR_ATTR_OFFS:
			if (n != 4)
				return RN_EBADLEN;
			e->has_offs = true;
			e->offs = host32(d);
			break;
		default:
			break;
		}
	}
	return c.err;
}

int nlr_parse_done(const struct nlr_msg *m, int *error)
{
	if (m->type != NLMSG_DONE)
		return RN_EPARSE;
	*error = 0;
	if (m->len == 0)
		return RN_OK;
	if (m->len < 4)
		return RN_ETRUNC;
	int32_t err;
	memcpy(&err, m->payload, 4);
	if (err > 0 || err < -8191)
		return RN_EPARSE;
	*error = err;
	return RN_OK;
}

int nlr_nfgen(const struct nlr_msg *m, struct nlr_nfgen *g)
{
	if (m->len < 4)
		return RN_ETRUNC;
	g->family = m->payload[0];
	g->version = m->payload[1];
	g->res_id = (uint16_t)(m->payload[2] << 8 | m->payload[3]);
	g->attrs = m->payload + 4;
	g->alen = m->len - 4;
	if (g->version != NFNETLINK_V0)
		return RN_EVERSION;
	return RN_OK;
}

/* The NFTA_DATA_VALUE inside an nft_data nest. */
static int data_value(const uint8_t *d, size_t n, const uint8_t **v, size_t *vlen)
{
	struct rn_cur c;
	uint16_t t;
	const uint8_t *x;
	size_t xn;
	*v = NULL;
	rn_cur_init(&c, d, n);
	while (attr_next(&c, &t, &x, &xn)) {
		if (NLA_TYPE(t) == NFTA_DATA_VALUE) {
			if (xn == 0 || xn > 64)
				return RN_EBADLEN;
			*v = x;
			*vlen = xn;
		}
	}
	if (!rn_cur_ok(&c))
		return c.err;
	return *v != NULL ? RN_OK : RN_EPARSE;
}

static int one_elem(const uint8_t *d, size_t n, int (*cb)(const struct nlr_elem *e, void *arg),
                    void *arg)
{
	struct rn_cur c;
	struct nlr_elem e;
	uint16_t t;
	const uint8_t *x;
	size_t xn;
	int rc;

	memset(&e, 0, sizeof(e));
	rn_cur_init(&c, d, n);
	while (attr_next(&c, &t, &x, &xn)) {
		switch (NLA_TYPE(t)) {
		case NFTA_SET_ELEM_KEY:
			if ((rc = data_value(x, xn, &e.key, &e.klen)) != RN_OK)
				return rc;
			break;
		case NFTA_SET_ELEM_KEY_END:
			if ((rc = data_value(x, xn, &e.key_end, &e.kelen)) != RN_OK)
				return rc;
			break;
		case NFTA_SET_ELEM_FLAGS:
			if (xn != 4)
				return RN_EBADLEN;
			e.flags = (uint32_t)rn_load_be(x, 4);
			break;
		default:
			break;
		}
	}
	if (!rn_cur_ok(&c))
		return c.err;
	/* A catch-all element has no key; report it with key NULL. */
	if (e.key == NULL && !(e.flags & NFT_SET_ELEM_CATCHALL))
		return RN_EPARSE;
	return cb(&e, arg);
}

int nlr_nft_elems(const struct nlr_nfgen *g, struct nlr_elems *hdr,
                  int (*cb)(const struct nlr_elem *e, void *arg), void *arg)
{
	struct rn_cur c, l;
	uint16_t t;
	const uint8_t *d;
	size_t n;
	int rc;

	memset(hdr, 0, sizeof(*hdr));
	/* Names first: the element list may precede them. */
	rn_cur_init(&c, g->attrs, g->alen);
	while (attr_next(&c, &t, &d, &n)) {
		if (NLA_TYPE(t) == NFTA_SET_ELEM_LIST_TABLE && !get_str(d, n, &hdr->table))
			return RN_EPARSE;
		if (NLA_TYPE(t) == NFTA_SET_ELEM_LIST_SET && !get_str(d, n, &hdr->set))
			return RN_EPARSE;
	}
	if (!rn_cur_ok(&c))
		return c.err;
	if (hdr->table.s == NULL || hdr->set.s == NULL)
		return RN_EPARSE;
	rn_cur_init(&c, g->attrs, g->alen);
	while (attr_next(&c, &t, &d, &n)) {
		if (NLA_TYPE(t) != NFTA_SET_ELEM_LIST_ELEMENTS)
			continue;
		rn_cur_init(&l, d, n);
		uint16_t et;
		const uint8_t *ed;
		size_t en;
		while (attr_next(&l, &et, &ed, &en)) {
			if (NLA_TYPE(et) != NFTA_LIST_ELEM)
				return RN_EPARSE;
			if ((rc = one_elem(ed, en, cb, arg)) != RN_OK)
				return rc;
		}
		if (!rn_cur_ok(&l))
			return l.err;
	}
	return c.err;
}

int nlr_nft_set(const struct nlr_nfgen *g, struct nlr_set *s)
{
	struct rn_cur c, dc;
	uint16_t t;
	const uint8_t *d, *x;
	size_t n, xn;

	memset(s, 0, sizeof(*s));
	rn_cur_init(&c, g->attrs, g->alen);
	while (attr_next(&c, &t, &d, &n)) {
		switch (NLA_TYPE(t)) {
		case NFTA_SET_TABLE:
			if (!get_str(d, n, &s->table))
				return RN_EPARSE;
			break;
		case NFTA_SET_NAME:
			if (!get_str(d, n, &s->name))
				return RN_EPARSE;
			break;
		case NFTA_SET_FLAGS:
		case NFTA_SET_KEY_TYPE:
		case NFTA_SET_KEY_LEN:
		case NFTA_SET_DATA_TYPE:
			if (n != 4)
				return RN_EBADLEN;
			if (NLA_TYPE(t) == NFTA_SET_FLAGS) {
				s->flags = (uint32_t)rn_load_be(d, 4);
				s->has_flags = true;
			} else if (NLA_TYPE(t) == NFTA_SET_KEY_TYPE) {
				s->key_type = (uint32_t)rn_load_be(d, 4);
				s->has_key = true;
			} else if (NLA_TYPE(t) == NFTA_SET_KEY_LEN) {
				s->key_len = (uint32_t)rn_load_be(d, 4);
			} else {
				s->data_type = (uint32_t)rn_load_be(d, 4);
			}
			break;
		case NFTA_SET_DESC:
			rn_cur_init(&dc, d, n);
			while (attr_next(&dc, &t, &x, &xn)) {
				if (NLA_TYPE(t) == NFTA_SET_DESC_SIZE) {
					if (xn != 4)
						return RN_EBADLEN;
					s->size = (uint32_t)rn_load_be(x, 4);
				}
			}
			if (!rn_cur_ok(&dc))
				return dc.err;
			break;
		default:
			break;
		}
	}
	if (!rn_cur_ok(&c))
		return c.err;
	return s->table.s != NULL && s->name.s != NULL ? RN_OK : RN_EPARSE;
}

int nlr_nft_chain(const struct nlr_nfgen *g, struct nlr_chain *ch)
{
	struct rn_cur c, hc;
	uint16_t t;
	const uint8_t *d, *x;
	size_t n, xn;

	memset(ch, 0, sizeof(*ch));
	rn_cur_init(&c, g->attrs, g->alen);
	while (attr_next(&c, &t, &d, &n)) {
		switch (NLA_TYPE(t)) {
		case NFTA_CHAIN_TABLE:
			if (!get_str(d, n, &ch->table))
				return RN_EPARSE;
			break;
		case NFTA_CHAIN_NAME:
			if (!get_str(d, n, &ch->name))
				return RN_EPARSE;
			break;
		case NFTA_CHAIN_TYPE:
			if (!get_str(d, n, &ch->type))
				return RN_EPARSE;
			break;
		case NFTA_CHAIN_POLICY:
			if (n != 4)
				return RN_EBADLEN;
			ch->has_policy = true;
			ch->policy = (uint32_t)rn_load_be(d, 4);
			break;
		case NFTA_CHAIN_HOOK:
			ch->has_hook = true;
			rn_cur_init(&hc, d, n);
			while (attr_next(&hc, &t, &x, &xn)) {
				if (NLA_TYPE(t) == NFTA_HOOK_HOOKNUM ||
				    NLA_TYPE(t) == NFTA_HOOK_PRIORITY) {
					if (xn != 4)
						return RN_EBADLEN;
					if (NLA_TYPE(t) == NFTA_HOOK_HOOKNUM)
						ch->hooknum = (uint32_t)rn_load_be(x, 4);
					else
						ch->prio = (int32_t)(uint32_t)rn_load_be(x, 4);
				}
			}
			if (!rn_cur_ok(&hc))
				return hc.err;
			break;
		default:
			break;
		}
	}
	if (!rn_cur_ok(&c))
		return c.err;
	return ch->table.s != NULL && ch->name.s != NULL ? RN_OK : RN_EPARSE;
}

/* One expression of a rule: counts lookups and reads counters. */
static int one_expr(const uint8_t *d, size_t n, struct nlr_rule *r)
{
	struct rn_cur c, dc;
	struct nlr_str name = {0};
	const uint8_t *data = NULL, *x, *y;
	size_t dlen = 0, xn;
	uint16_t t;

	rn_cur_init(&c, d, n);
	while (attr_next(&c, &t, &x, &xn)) {
		if (NLA_TYPE(t) == NFTA_EXPR_NAME && !get_str(x, xn, &name))
			return RN_EPARSE;
		if (NLA_TYPE(t) == NFTA_EXPR_DATA) {
			data = x;
			dlen = xn;
		}
	}
	if (!rn_cur_ok(&c))
		return c.err;
	if (name.s == NULL)
		return RN_EPARSE;
	r->nexprs++;
	if (data == NULL)
		return RN_OK;
	bool lookup = nlr_str_eq(&name, "lookup"), counter = nlr_str_eq(&name, "counter");
	if (lookup)
		r->lookups++;
	rn_cur_init(&dc, data, dlen);
	while (attr_next(&dc, &t, &y, &xn)) {
		if (lookup && NLA_TYPE(t) == NFTA_LOOKUP_SET) {
			struct nlr_str s;
			if (!get_str(y, xn, &s))
				return RN_EPARSE;
			if (r->lookup_set.s == NULL)
				r->lookup_set = s;
		}
		if (counter &&
		    (NLA_TYPE(t) == NFTA_COUNTER_BYTES || NLA_TYPE(t) == NFTA_COUNTER_PACKETS)) {
			if (xn != 8)
				return RN_EBADLEN;
			r->has_counter = true;
			if (NLA_TYPE(t) == NFTA_COUNTER_BYTES)
				r->bytes = rn_load_be(y, 8);
			else
				r->packets = rn_load_be(y, 8);
		}
	}
	return dc.err;
}

int nlr_nft_rule(const struct nlr_nfgen *g, struct nlr_rule *r)
{
	struct rn_cur c, l;
	uint16_t t;
	const uint8_t *d, *x;
	size_t n, xn;
	int rc;

	memset(r, 0, sizeof(*r));
	rn_cur_init(&c, g->attrs, g->alen);
	while (attr_next(&c, &t, &d, &n)) {
		switch (NLA_TYPE(t)) {
		case NFTA_RULE_TABLE:
			if (!get_str(d, n, &r->table))
				return RN_EPARSE;
			break;
		case NFTA_RULE_CHAIN:
			if (!get_str(d, n, &r->chain))
				return RN_EPARSE;
			break;
		case NFTA_RULE_HANDLE:
			if (n != 8)
				return RN_EBADLEN;
			r->handle = rn_load_be(d, 8);
			break;
		case NFTA_RULE_EXPRESSIONS:
			rn_cur_init(&l, d, n);
			while (attr_next(&l, &t, &x, &xn)) {
				if (NLA_TYPE(t) != NFTA_LIST_ELEM)
					return RN_EPARSE;
				if ((rc = one_expr(x, xn, r)) != RN_OK)
					return rc;
			}
			if (!rn_cur_ok(&l))
				return l.err;
			break;
		default:
			break;
		}
	}
	if (!rn_cur_ok(&c))
		return c.err;
	return r->table.s != NULL && r->chain.s != NULL ? RN_OK : RN_EPARSE;
}

int nlr_nft_gen(const struct nlr_nfgen *g, uint32_t *genid)
{
	struct rn_cur c;
	uint16_t t;
	const uint8_t *d;
	size_t n;
	bool found = false;

	rn_cur_init(&c, g->attrs, g->alen);
	while (attr_next(&c, &t, &d, &n)) {
		if (NLA_TYPE(t) == NFTA_GEN_ID) {
			if (n != 4)
				return RN_EBADLEN;
			*genid = (uint32_t)rn_load_be(d, 4);
			found = true;
		}
	}
	if (!rn_cur_ok(&c))
		return c.err;
	return found ? RN_OK : RN_EPARSE;
}

int nlr_nft_table(const struct nlr_nfgen *g, struct nlr_table *tb)
{
	struct rn_cur c;
	uint16_t t;
	const uint8_t *d;
	size_t n;

	memset(tb, 0, sizeof(*tb));
	rn_cur_init(&c, g->attrs, g->alen);
	while (attr_next(&c, &t, &d, &n)) {
		if (NLA_TYPE(t) == NFTA_TABLE_NAME && !get_str(d, n, &tb->name))
			return RN_EPARSE;
		if (NLA_TYPE(t) == NFTA_TABLE_FLAGS) {
			if (n != 4)
				return RN_EBADLEN;
			tb->flags = (uint32_t)rn_load_be(d, 4);
		}
	}
	if (!rn_cur_ok(&c))
		return c.err;
	return tb->name.s != NULL ? RN_OK : RN_EPARSE;
}

/* ---- ipset ---- */

static int ipset_u32(const uint8_t *d, size_t n, uint32_t *v)
{
	if (n != 4)
		return RN_EBADLEN;
	*v = (uint32_t)rn_load_be(d, 4);
	return RN_OK;
}

static int ipset_u8(const uint8_t *d, size_t n, uint8_t *v)
{
	if (n != 1)
		return RN_EBADLEN;
	*v = d[0];
	return RN_OK;
}

/* The header's DATA nest: sizes and counts. */
static int ipset_header(const uint8_t *d, size_t n, struct nlr_ipset *h)
{
	struct rn_cur c;
	uint16_t t;
	const uint8_t *x;
	size_t xn;
	int rc = RN_OK;

	h->has_header = true;
	rn_cur_init(&c, d, n);
	while (rc == RN_OK && attr_next(&c, &t, &x, &xn)) {
		switch (NLA_TYPE(t)) {
		case IPSET_ATTR_MAXELEM:
			rc = ipset_u32(x, xn, &h->maxelem);
			break;
		case IPSET_ATTR_HASHSIZE:
			rc = ipset_u32(x, xn, &h->hashsize);
			break;
		case IPSET_ATTR_ELEMENTS:
			rc = ipset_u32(x, xn, &h->elements);
			break;
		case IPSET_ATTR_REFERENCES:
			rc = ipset_u32(x, xn, &h->references);
			break;
		case IPSET_ATTR_MEMSIZE:
			rc = ipset_u32(x, xn, &h->memsize);
			break;
		default:
			break;
		}
	}
	return rc != RN_OK ? rc : c.err;
}

/* One member: IP nest (IPv4 or IPv6 address) and an optional CIDR. */
static int ipset_member(const uint8_t *d, size_t n,
                        int (*cb)(const uint8_t *addr, size_t alen, unsigned cidr, void *arg),
                        void *arg)
{
	struct rn_cur c, ic;
	uint16_t t;
	const uint8_t *x, *y, *addr = NULL;
	size_t xn, yn, alen = 0;
	uint8_t cidr = 0;

	rn_cur_init(&c, d, n);
	while (attr_next(&c, &t, &x, &xn)) {
		if (NLA_TYPE(t) == IPSET_ATTR_IP) {
			rn_cur_init(&ic, x, xn);
			while (attr_next(&ic, &t, &y, &yn)) {
				if (NLA_TYPE(t) == IPSET_ATTR_IPADDR_IPV4 && yn == 4) {
					addr = y;
					alen = 4;
				} else if (NLA_TYPE(t) == IPSET_ATTR_IPADDR_IPV6 && yn == 16) {
					addr = y;
					alen = 16;
				} else {
					return RN_EBADLEN;
				}
			}
			if (!rn_cur_ok(&ic))
				return ic.err;
		} else if (NLA_TYPE(t) == IPSET_ATTR_CIDR) {
			if (ipset_u8(x, xn, &cidr) != RN_OK)
				return RN_EBADLEN;
			if (cidr == 0 || cidr > 128)
				return RN_EPARSE;
		}
	}
	if (!rn_cur_ok(&c))
		return c.err;
	if (addr == NULL || (alen == 4 && cidr > 32))
		return RN_EPARSE;
	return cb != NULL ? cb(addr, alen, cidr, arg) : RN_OK;
}

int nlr_ipset(const struct nlr_nfgen *g, struct nlr_ipset *h,
              int (*cb)(const uint8_t *addr, size_t alen, unsigned cidr, void *arg), void *arg)
{
	struct rn_cur c, l;
	uint16_t t;
	const uint8_t *d, *x;
	size_t n, xn;
	int rc = RN_OK;

	memset(h, 0, sizeof(*h));
	rn_cur_init(&c, g->attrs, g->alen);
	while (rc == RN_OK && attr_next(&c, &t, &d, &n)) {
		switch (NLA_TYPE(t)) {
		case IPSET_ATTR_PROTOCOL:
			rc = ipset_u8(d, n, &h->protocol);
			break;
		case IPSET_ATTR_SETNAME:
			if (!get_str(d, n, &h->name) || h->name.len >= IPSET_MAXNAMELEN)
				rc = RN_EPARSE;
			break;
		case IPSET_ATTR_TYPENAME:
			if (!get_str(d, n, &h->type) || h->type.len >= IPSET_MAXNAMELEN)
				rc = RN_EPARSE;
			break;
		case IPSET_ATTR_REVISION:
			rc = ipset_u8(d, n, &h->revision);
			break;
		case IPSET_ATTR_REVISION_MIN:
			rc = ipset_u8(d, n, &h->revision_min);
			break;
		case IPSET_ATTR_FAMILY:
			rc = ipset_u8(d, n, &h->family);
			break;
		case IPSET_ATTR_LINENO:
			rc = ipset_u32(d, n, &h->lineno);
			break;
		case IPSET_ATTR_DATA:
			rc = ipset_header(d, n, h);
			break;
		case IPSET_ATTR_ADT:
			rn_cur_init(&l, d, n);
			while (rc == RN_OK && attr_next(&l, &t, &x, &xn)) {
				if (NLA_TYPE(t) != IPSET_ATTR_DATA)
					rc = RN_EPARSE;
				else
					rc = ipset_member(x, xn, cb, arg);
			}
			if (rc == RN_OK && !rn_cur_ok(&l))
				rc = l.err;
			break;
		default:
			break;
		}
	}
	if (rc != RN_OK)
		return rc;
	if (!rn_cur_ok(&c))
		return c.err;
	return h->protocol != 0 ? RN_OK : RN_EPARSE;
}

int nlr_ipset_err_lineno(const struct nlr_msg *m, uint32_t *lineno)
{
	struct rn_cur c;
	uint16_t t;
	const uint8_t *d;
	size_t n;

	*lineno = 0;
	if (m->type != NLMSG_ERROR || (m->flags & NLM_F_CAPPED))
		return RN_ENOTFOUND;
	if (m->len < 4 + NLMSG_HDRLEN + 4)
		return RN_ENOTFOUND;
	uint32_t olen = host32(m->payload + 4);
	if (olen < NLMSG_HDRLEN + 4 || olen > m->len - 4)
		return RN_EBADLEN;
	/* The echoed request: its header, nfgenmsg, then attributes. */
	rn_cur_init(&c, m->payload + 4 + NLMSG_HDRLEN + 4, olen - NLMSG_HDRLEN - 4);
	while (attr_next(&c, &t, &d, &n)) {
		if (NLA_TYPE(t) == IPSET_ATTR_LINENO)
			return ipset_u32(d, n, lineno);
	}
	return rn_cur_ok(&c) ? RN_ENOTFOUND : c.err;
}
