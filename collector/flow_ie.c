/*
 * flow_ie.c: the NetFlow v9 / IPFIX information elements this collector
 * knows, the length rules of their types, and the validation and
 * compilation of a template against them.
 *
 * Design notes:
 *   - A template is validated once, when it is stored, and compiled into a
 *     list of operations (enum flow_op), one per field. Data records are
 *     then decoded by walking that list (flow_data.c); every field length
 *     was checked against its information element here, so the data path
 *     only checks that the record fits in the set.
 *   - Validation: template IDs are >= 256; at least one field and at most
 *     FLOW_TMPL_MAX_FIELDS; no field of length zero; integers no longer
 *     than their IE (reduced-size encoding may be shorter); addresses,
 *     MACs and timestamps exactly their size; variable length (IPFIX only)
 *     only for octet arrays, strings, lists and unknown IEs; a record of
 *     at least one byte; options templates with 1..nfields scope fields.
 *   - Enterprise fields are opaque octets, except RFC 5103's reverse
 *     octets, packets and flags (PEN 29305). v9 options scope fields are
 *     not IEs and are skipped.
 *   - Stateless: any thread.
 */
#include "collector/flow.h"

/* ---- information elements ------------------------------------------------ */

enum ie_class {
	C_OCTETS = 0, /* any length, variable allowed (also unknown IEs) */
	C_UINT,       /* 1..native bytes */
	C_ADDR4,
	C_ADDR6,
	C_MAC,
	C_SECS, /* dateTimeSeconds: 4 */
	C_MS,   /* dateTimeMilliseconds: 8 */
	C_NTP,  /* dateTimeMicro/Nanoseconds: 8 */
	C_FLOAT,
	C_LIST, /* variable, structure checked */
};

struct ie_info {
	uint8_t cls;
	uint8_t native; /* C_UINT: the full width */
	uint8_t op;
};

/* IANA IPFIX information elements this decoder knows (v9 shares 1-127). */
static struct ie_info ie_lookup(uint16_t ie)
{
#define U(n, o)                                         \
	return (struct ie_info)                         \
	{                                               \
		.cls = C_UINT, .native = (n), .op = (o) \
	}
#define C(c, o)                       \
	return (struct ie_info)       \
	{                             \
		.cls = (c), .op = (o) \
	}
	switch (ie) {
	case 1:
		U(8, FOP_BYTES);
	case 2:
		U(8, FOP_PACKETS);
	case 3:
		U(8, FOP_SKIP);
	case 4:
		U(1, FOP_PROTO);
	case 5:
		U(1, FOP_SKIP);
	case 6:
		U(2, FOP_TCPFLAGS);
	case 7:
		U(2, FOP_SPORT);
	case 8:
		C(C_ADDR4, FOP_SRC4);
	case 9:
		U(1, FOP_SKIP);
	case 10:
		U(4, FOP_SKIP);
	case 11:
		U(2, FOP_DPORT);
	case 12:
		C(C_ADDR4, FOP_DST4);
	case 13:
		U(1, FOP_SKIP);
	case 14:
		U(4, FOP_SKIP);
	case 15:
		C(C_ADDR4, FOP_SKIP);
	case 16:
		U(4, FOP_SKIP);
	case 17:
		U(4, FOP_SKIP);
	case 18:
		C(C_ADDR4, FOP_SKIP);
	case 19:
		U(8, FOP_SKIP);
	case 20:
		U(8, FOP_SKIP);
	case 21:
		U(4, FOP_LAST_UPTIME);
	case 22:
		U(4, FOP_FIRST_UPTIME);
	case 23:
		U(8, FOP_SKIP);
	case 24:
		U(8, FOP_SKIP);
	case 25:
		U(2, FOP_SKIP);
	case 26:
		U(2, FOP_SKIP);
	case 27:
		C(C_ADDR6, FOP_SRC6);
	case 28:
		C(C_ADDR6, FOP_DST6);
	case 29:
		U(1, FOP_SKIP);
	case 30:
		U(1, FOP_SKIP);
	case 31:
		U(4, FOP_SKIP);
	case 32:
		U(2, FOP_ICMP_TYPECODE);
	case 33:
		U(1, FOP_SKIP);
	case 34:
		U(4, FOP_SAMPLING_INTERVAL);
	case 35:
		U(1, FOP_SAMPLING_ALGO);
	case 36:
		U(2, FOP_SKIP);
	case 37:
		U(2, FOP_SKIP);
	case 38:
		U(1, FOP_SKIP);
	case 39:
		U(1, FOP_SKIP);
	case 40:
		U(8, FOP_SKIP);
	case 41:
		U(8, FOP_SKIP);
	case 42:
		U(8, FOP_SKIP);
	case 44:
		C(C_ADDR4, FOP_SKIP);
	case 45:
		C(C_ADDR4, FOP_SKIP);
	case 46:
		U(1, FOP_SKIP);
	case 47:
		C(C_ADDR4, FOP_SKIP);
	/* Sampler IDs: unsigned8 in IPFIX, but v9 exporters send up to 4 bytes. */
	case 48:
		U(4, FOP_SAMPLER_ID);
	case 49:
		U(1, FOP_SAMPLING_ALGO);
	case 50:
		U(4, FOP_SAMPLING_INTERVAL);
	case 52:
		U(1, FOP_SKIP);
	case 53:
		U(1, FOP_SKIP);
	case 54:
		U(4, FOP_SKIP);
	case 55:
		U(1, FOP_SKIP);
	case 56:
		C(C_MAC, FOP_SKIP);
	case 57:
		C(C_MAC, FOP_SKIP);
	case 58:
		U(2, FOP_SKIP);
	case 59:
		U(2, FOP_SKIP);
	case 60:
		U(1, FOP_SKIP);
	case 61:
		U(1, FOP_SKIP);
	case 62:
		C(C_ADDR6, FOP_SKIP);
	case 63:
		C(C_ADDR6, FOP_SKIP);
	case 64:
		U(4, FOP_SKIP);
	case 80:
		C(C_MAC, FOP_SKIP);
	case 81:
		C(C_MAC, FOP_SKIP);
	case 85:
		U(8, FOP_SKIP);
	case 86:
		U(8, FOP_SKIP);
	case 88:
		U(2, FOP_SKIP);
	case 89:
		U(4, FOP_SKIP);
	case 136:
		U(1, FOP_SKIP);
	case 137:
		U(8, FOP_SKIP);
	case 138:
		U(4, FOP_SKIP);
	case 139:
		U(2, FOP_ICMP_TYPECODE);
	case 144:
		U(4, FOP_SKIP);
	case 145:
		U(2, FOP_SKIP);
	case 148:
		U(8, FOP_SKIP);
	case 149:
		U(4, FOP_SKIP);
	case 150:
		C(C_SECS, FOP_FIRST_S);
	case 151:
		C(C_SECS, FOP_LAST_S);
	case 152:
		C(C_MS, FOP_FIRST_MS);
	case 153:
		C(C_MS, FOP_LAST_MS);
	case 154:
		C(C_NTP, FOP_FIRST_US);
	case 155:
		C(C_NTP, FOP_LAST_US);
	case 156:
		C(C_NTP, FOP_FIRST_NS);
	case 157:
		C(C_NTP, FOP_LAST_NS);
	case 158:
		U(4, FOP_FIRST_DELTA_US);
	case 159:
		U(4, FOP_LAST_DELTA_US);
	case 160:
		C(C_MS, FOP_SYSINIT_MS);
	case 161:
		U(4, FOP_DURATION_MS);
	case 162:
		U(4, FOP_SKIP);
	case 163:
		U(8, FOP_SKIP);
	case 164:
		U(8, FOP_SKIP);
	case 165:
		U(8, FOP_SKIP);
	case 166:
		U(8, FOP_SKIP);
	case 167:
		U(8, FOP_SKIP);
	case 168:
		U(8, FOP_SKIP);
	case 176:
		U(1, FOP_ICMP_TYPE);
	case 177:
		U(1, FOP_ICMP_CODE);
	case 178:
		U(1, FOP_ICMP_TYPE);
	case 179:
		U(1, FOP_ICMP_CODE);
	case 180:
		U(2, FOP_SPORT);
	case 181:
		U(2, FOP_DPORT);
	case 182:
		U(2, FOP_SPORT);
	case 183:
		U(2, FOP_DPORT);
	case 184:
		U(4, FOP_SKIP);
	case 185:
		U(4, FOP_SKIP);
	case 186:
		U(2, FOP_SKIP);
	case 187:
		U(2, FOP_SKIP);
	case 192:
		U(1, FOP_SKIP);
	case 210:
		C(C_OCTETS, FOP_SKIP); /* paddingOctets */
	case 225:
		C(C_ADDR4, FOP_SKIP);
	case 226:
		C(C_ADDR4, FOP_SKIP);
	case 227:
		U(2, FOP_SKIP);
	case 228:
		U(2, FOP_SKIP);
	case 239:
		U(1, FOP_SKIP);
	case 256:
		U(2, FOP_SKIP);
	case 291:
		C(C_LIST, FOP_VARLIST);
	case 292:
		C(C_LIST, FOP_VARLIST);
	case 293:
		C(C_LIST, FOP_VARLIST);
	case 302:
		U(8, FOP_SAMPLER_ID);
	case 303:
		U(2, FOP_SKIP);
	case 304:
		U(2, FOP_SAMPLING_ALGO);
	case 305:
		U(4, FOP_SAMPLING_INTERVAL);
	case 306:
		U(4, FOP_SAMPLING_SPACE);
	case 307:
		U(4, FOP_SKIP);
	case 308:
		U(4, FOP_SKIP);
	case 309:
		U(4, FOP_SKIP);
	case 310:
		U(4, FOP_SKIP);
	case 311:
		C(C_FLOAT, FOP_SKIP);
	case 322:
		C(C_SECS, FOP_SKIP);
	case 323:
		C(C_MS, FOP_SKIP);
	case 324:
		C(C_NTP, FOP_SKIP);
	case 325:
		C(C_NTP, FOP_SKIP);
	default:
		C(C_OCTETS, FOP_SKIP);
	}
#undef U
#undef C
}

#define PEN_REVERSE 29305u /* RFC 5103 reverse information elements */

static bool field_len_ok(const struct ie_info *ii, uint16_t len, bool ipfix)
{
	if (len == 0)
		return false;
	if (len == FLOW_VARLEN)
		return ipfix && (ii->cls == C_OCTETS || ii->cls == C_LIST);
	switch (ii->cls) {
	case C_UINT:
		return len <= ii->native;
	case C_ADDR4:
	case C_SECS:
		return len == 4;
	case C_ADDR6:
		return len == 16;
	case C_MAC:
		return len == 6;
	case C_MS:
	case C_NTP:
		return len == 8;
	case C_FLOAT:
		return len == 4 || len == 8;
	default:
		return true;
	}
}

/* ---- template compilation ------------------------------------------------------ */

int flow_tmpl_compile(struct flow_tmpl *t)
{
	bool ipfix = t->version == 10;
	bool has_bytes = false, has_packets = false;
	uint32_t min = 0;

	if (t->id < 256 || t->nfields == 0 || t->nfields > FLOW_TMPL_MAX_FIELDS)
		return RN_EPARSE;
	if (t->options && (t->nscope == 0 || t->nscope > t->nfields))
		return RN_EPARSE;
	if (!t->options && t->nscope != 0)
		return RN_EPARSE;
	t->varlen = false;
	for (uint16_t i = 0; i < t->nfields; i++) {
		struct flow_tmpl_field *f = &t->f[i];
		struct ie_info ii;
		if (!ipfix && f->pen != 0)
			return RN_EPARSE;
		if (f->pen == 0) {
			ii = ie_lookup(f->ie);
		} else if (f->pen == PEN_REVERSE) {
			ii = ie_lookup(f->ie);
			ii.op = f->ie == 1   ? FOP_REV_BYTES
			        : f->ie == 2 ? FOP_REV_PACKETS
			        : f->ie == 6 ? FOP_REV_TCPFLAGS
			                     : FOP_SKIP;
		} else {
			ii = (struct ie_info){.cls = C_OCTETS, .op = FOP_SKIP};
		}
		/* v9 options scope fields (system, interface, ...) are not IEs. */
		if (!ipfix && t->options && i < t->nscope)
			ii = (struct ie_info){.cls = C_OCTETS, .op = FOP_SKIP};
		if (!field_len_ok(&ii, f->len, ipfix))
			return RN_EPARSE;
		f->op = ii.op;
		if (f->op == FOP_BYTES)
			has_bytes = true;
		if (f->op == FOP_PACKETS)
			has_packets = true;
		if (f->len == FLOW_VARLEN) {
			t->varlen = true;
			min += 1;
		} else {
			min += f->len;
		}
	}
	/* Total counts stand in for delta counts when those are absent. */
	for (uint16_t i = 0; i < t->nfields; i++) {
		struct flow_tmpl_field *f = &t->f[i];
		if (f->pen == 0 && f->ie == 85 && !has_bytes && f->len != FLOW_VARLEN)
			f->op = FOP_BYTES;
		if (f->pen == 0 && f->ie == 86 && !has_packets && f->len != FLOW_VARLEN)
			f->op = FOP_PACKETS;
	}
	if (min == 0 || min > 0xffff - 16)
		return RN_EPARSE;
	t->min_len = (uint16_t)min;
	return RN_OK;
}
