/*
 * pktparse.c: Ethernet, VLAN, IPv4, IPv6, TCP, UDP and ICMP header parsing
 * for sFlow raw headers, captured frames and the mirror-port meter.
 *
 * Design notes: one pass over the buffer through a bounded cursor; nothing
 * is allocated and nothing outside buf is read. The IP total length is
 * taken from the header but the payload pointer is clamped to what the
 * buffer holds, since sFlow and snap lengths cut packets short. Only the
 * first fragment of a datagram carries ports; later fragments are marked
 * and carry none. Stateless and thread-safe.
 */
#include "collector/flow.h"

#define ETH_IPV4 0x0800
#define ETH_IPV6 0x86dd
#define ETH_VLAN 0x8100
#define ETH_QINQ 0x88a8

static int parse_l4(struct rn_cur *c, struct pkt_info *pi, size_t l4len)
{
	/* l4len: bytes of transport header and payload the IP header claims. */
	size_t have = rn_cur_left(c);
	if (l4len > have)
		l4len = have;
	struct rn_cur l4;
	rn_cur_init(&l4, c->p, l4len);
	switch (pi->proto) {
	case 6: {
		pi->sport = rn_cur_u16(&l4);
		pi->dport = rn_cur_u16(&l4);
		pi->tcp_seq = rn_cur_u32(&l4);
		pi->tcp_ack = rn_cur_u32(&l4);
		uint8_t off = rn_cur_u8(&l4);
		pi->tcp_flags = rn_cur_u8(&l4);
		if (!rn_cur_ok(&l4)) {
			/* A header cut short: keep what was read, no payload. */
			if (rn_cur_left(c) < 4)
				pi->sport = pi->dport = 0;
			pi->tcp_flags = 0;
			return RN_OK;
		}
		size_t hl = (size_t)(off >> 4) * 4;
		if (hl < 20)
			return RN_EPARSE;
		if (hl <= l4len) {
			pi->payload = c->p + hl;
			pi->payload_len = (uint16_t)(l4len - hl > 0xffff ? 0xffff : l4len - hl);
		}
		return RN_OK;
	}
	case 17:
	case 136: /* UDP-Lite */ {
		pi->sport = rn_cur_u16(&l4);
		pi->dport = rn_cur_u16(&l4);
		uint16_t ulen = rn_cur_u16(&l4);
		rn_cur_skip(&l4, 2);
		if (!rn_cur_ok(&l4)) {
			if (rn_cur_left(c) < 4)
				pi->sport = pi->dport = 0;
			return RN_OK;
		}
		size_t pl = rn_cur_left(&l4);
		/* The UDP length bounds the payload; a smaller buffer cuts it. */
		if (ulen >= 8 && (size_t)ulen - 8 < pl)
			pl = (size_t)ulen - 8;
		pi->payload = l4.p;
		pi->payload_len = (uint16_t)(pl > 0xffff ? 0xffff : pl);
		return RN_OK;
	}
	case 1:
	case 58: {
		uint8_t type = rn_cur_u8(&l4);
		uint8_t code = rn_cur_u8(&l4);
		if (rn_cur_ok(&l4))
			pi->dport = (uint16_t)(type << 8 | code);
		return RN_OK;
	}
	default:
		return RN_OK;
	}
}

static int parse_ipv4(struct rn_cur *c, struct pkt_info *pi)
{
	const uint8_t *h = rn_cur_bytes(c, 20);
	if (h == NULL)
		return RN_ETRUNC;
	if (h[0] >> 4 != 4)
		return RN_EPARSE;
	size_t ihl = (size_t)(h[0] & 15) * 4;
	if (ihl < 20)
		return RN_EPARSE;
	uint16_t tot = (uint16_t)(h[2] << 8 | h[3]);
	uint16_t frag = (uint16_t)(h[6] << 8 | h[7]);
	pi->proto = h[9];
	rn_addr_set_v4(&pi->src, (uint32_t)h[12] << 24 | (uint32_t)h[13] << 16 |
	                                 (uint32_t)h[14] << 8 | h[15]);
	rn_addr_set_v4(&pi->dst, (uint32_t)h[16] << 24 | (uint32_t)h[17] << 16 |
	                                 (uint32_t)h[18] << 8 | h[19]);
	pi->ip_len = tot;
	rn_cur_skip(c, ihl - 20);
	if (!rn_cur_ok(c))
		return RN_ETRUNC;
	if (tot != 0 && tot < ihl)
		return RN_EBADLEN;
	if ((frag & 0x1fff) != 0) { /* not the first fragment: no transport header */
		pi->fragment = true;
		return RN_OK;
	}
	if (frag & 0x2000)
		pi->fragment = true;
	/* tot == 0 happens with TSO on captures; use what the buffer holds. */
	size_t l4len = tot != 0 ? tot - ihl : rn_cur_left(c);
	return parse_l4(c, pi, l4len);
}

static int parse_ipv6(struct rn_cur *c, struct pkt_info *pi)
{
	const uint8_t *h = rn_cur_bytes(c, 40);
	if (h == NULL)
		return RN_ETRUNC;
	if (h[0] >> 4 != 6)
		return RN_EPARSE;
	size_t plen = (size_t)(h[4] << 8 | h[5]);
	uint8_t nh = h[6];
	rn_addr_set_v6(&pi->src, h + 8);
	rn_addr_set_v6(&pi->dst, h + 24);
	pi->ip_len = (uint32_t)plen + 40;
	/* Extension headers, bounded in number. */
	for (int i = 0; i < 8; i++) {
		if (nh == 0 || nh == 43 || nh == 60) {
			const uint8_t *e = rn_cur_bytes(c, 8);
			if (e == NULL)
				return RN_ETRUNC;
			size_t elen = ((size_t)e[1] + 1) * 8;
			nh = e[0];
			rn_cur_skip(c, elen - 8);
			if (!rn_cur_ok(c))
				return RN_ETRUNC;
			if (plen < elen)
				return RN_EBADLEN;
			plen -= elen;
			continue;
		}
		if (nh == 44) { /* fragment header */
			const uint8_t *e = rn_cur_bytes(c, 8);
			if (e == NULL)
				return RN_ETRUNC;
			uint16_t off = (uint16_t)(e[2] << 8 | e[3]);
			nh = e[0];
			if (plen < 8)
				return RN_EBADLEN;
			plen -= 8;
			pi->fragment = true;
			if ((off & 0xfff8) != 0) {
				pi->proto = nh;
				return RN_OK;
			}
			continue;
		}
		break;
	}
	pi->proto = nh;
	if (plen == 0) /* jumbograms and TSO: what the buffer holds */
		plen = rn_cur_left(c);
	return parse_l4(c, pi, plen);
}

int pkt_parse(enum pkt_link link, const uint8_t *buf, size_t len, struct pkt_info *pi)
{
	struct rn_cur c;
	uint16_t et = 0;

	memset(pi, 0, sizeof(*pi));
	rn_cur_init(&c, buf, len);
	switch (link) {
	case PKT_LINK_ETHER:
		rn_cur_skip(&c, 12);
		et = rn_cur_u16(&c);
		for (int i = 0; i < 2 && (et == ETH_VLAN || et == ETH_QINQ); i++) {
			uint16_t tci = rn_cur_u16(&c);
			if (pi->vlan == 0)
				pi->vlan = tci & 0x0fff;
			et = rn_cur_u16(&c);
		}
		break;
	case PKT_LINK_SLL:
		rn_cur_skip(&c, 14);
		et = rn_cur_u16(&c);
		break;
	case PKT_LINK_NULL: {
		const uint8_t *f = rn_cur_bytes(&c, 4);
		if (f == NULL)
			return RN_ETRUNC;
		/* Host order on the writer: 2 is IPv4; 24, 28 and 30 are IPv6. */
		uint32_t fam = f[0] != 0 ? f[0] : f[3];
		et = fam == 2 ? ETH_IPV4 : (fam == 24 || fam == 28 || fam == 30) ? ETH_IPV6 : 0;
		break;
	}
	case PKT_LINK_RAW:
		if (len == 0)
			return RN_ETRUNC;
		et = (buf[0] >> 4) == 4 ? ETH_IPV4 : (buf[0] >> 4) == 6 ? ETH_IPV6 : 0;
		break;
	}
	if (!rn_cur_ok(&c))
		return RN_ETRUNC;
	if (et == ETH_IPV4)
		return parse_ipv4(&c, pi);
	if (et == ETH_IPV6)
		return parse_ipv6(&c, pi);
	return RN_EUNSUPP;
}
