/*
 * obs.c: names of the repnet/v1 enums, and observation helpers.
 *
 * Design notes: the C enums in proto.h repeat the protobuf enum values so
 * that hot code does not spell generated names. The static assertions
 * below fail the build if the two ever drift apart.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

#define KIND_CHECK(c, p) _Static_assert((int)RN_KIND_##c == (int)REPNET__V1__KIND__KIND_##p, #c)
KIND_CHECK(SMTP_CONNECT, SMTP_CONNECT);
KIND_CHECK(SASL_SUCCESS, SASL_SUCCESS);
KIND_CHECK(NO_MAIL, NO_MAIL);
KIND_CHECK(RBL_CONFIRMED, RBL_CONFIRMED);
KIND_CHECK(UDP_ONEWAY, UDP_ONEWAY);
KIND_CHECK(PEER_LISTED, PEER_LISTED);
KIND_CHECK(IMPORTED, IMPORTED);
_Static_assert((int)RN_CAT_DROP == (int)REPNET__V1__CATEGORY__CATEGORY_DROP, "category");
_Static_assert(RN_CAT_COUNT == REPNET__V1__CATEGORY__CATEGORY_DROP + 1, "category count");
_Static_assert((int)RN_SRC_IMPORT == (int)REPNET__V1__SOURCE__SOURCE_IMPORT, "source");
_Static_assert(RN_SRC_COUNT == REPNET__V1__SOURCE__SOURCE_IMPORT + 1, "source count");

static const char *const kind_names[RN_KIND_MAX] = {
        [RN_KIND_UNSPECIFIED] = "unspecified",
        [RN_KIND_SMTP_CONNECT] = "smtp_connect",
        [RN_KIND_RBL_LISTED] = "rbl_listed",
        [RN_KIND_UNKNOWN_RECIPIENT] = "unknown_recipient",
        [RN_KIND_RELAY_DENIED] = "relay_denied",
        [RN_KIND_HELO_REJECT] = "helo_reject",
        [RN_KIND_SENDER_REJECT] = "sender_reject",
        [RN_KIND_CLIENT_REJECT] = "client_reject",
        [RN_KIND_NO_RDNS] = "no_rdns",
        [RN_KIND_PREGREET] = "pregreet",
        [RN_KIND_PIPELINING] = "pipelining",
        [RN_KIND_NON_SMTP] = "non_smtp",
        [RN_KIND_HANGUP] = "hangup",
        [RN_KIND_SASL_FAIL] = "sasl_fail",
        [RN_KIND_LOST_CONNECTION] = "lost_connection",
        [RN_KIND_TIMEOUT] = "timeout",
        [RN_KIND_TOO_MANY_ERRORS] = "too_many_errors",
        [RN_KIND_RATE_LIMITED] = "rate_limited",
        [RN_KIND_DENYLISTED] = "denylisted",
        [RN_KIND_CONTENT_REJECT] = "content_reject",
        [RN_KIND_SPAMTRAP] = "spamtrap",
        [RN_KIND_PROTOCOL_ERROR] = "protocol_error",
        [RN_KIND_NO_MAIL] = "no_mail",
        [RN_KIND_SASL_SUCCESS] = "sasl_success",
        [RN_KIND_SASL_BRUTEFORCE] = "sasl_bruteforce",
        [RN_KIND_SASL_DISTRIBUTED] = "sasl_distributed",
        [RN_KIND_HARVEST] = "harvest",
        [RN_KIND_PROTOCOL_BOT] = "protocol_bot",
        [RN_KIND_RELAY_PROBE] = "relay_probe",
        [RN_KIND_CONN_FLOOD] = "conn_flood",
        [RN_KIND_RBL_CONFIRMED] = "rbl_confirmed",
        [RN_KIND_SMTP_SPRAY] = "smtp_spray",
        [RN_KIND_SCAN_HORIZONTAL] = "scan_horizontal",
        [RN_KIND_SCAN_VERTICAL] = "scan_vertical",
        [RN_KIND_AUTH_BRUTEFORCE] = "auth_bruteforce",
        [RN_KIND_REFLECTOR] = "reflector",
        [RN_KIND_AMPLIFICATION_VICTIM] = "amplification_victim",
        [RN_KIND_SYN_ONLY] = "syn_only",
        [RN_KIND_UDP_ONEWAY] = "udp_oneway",
        [RN_KIND_PEER_LISTED] = "peer_listed",
        [RN_KIND_IMPORTED] = "imported",
};

static const char *const category_names[RN_CAT_COUNT] = {
        [RN_CAT_UNSPECIFIED] = "unspecified",
        [RN_CAT_SPAM_SOURCE] = "spam_source",
        [RN_CAT_SASL_BRUTEFORCE] = "sasl_bruteforce",
        [RN_CAT_SCANNER] = "scanner",
        [RN_CAT_PROTOCOL_BOT] = "protocol_bot",
        [RN_CAT_HARVESTER] = "harvester",
        [RN_CAT_PEER_LISTED] = "peer_listed",
        [RN_CAT_RELAY_PROBE] = "relay_probe",
        [RN_CAT_BRUTEFORCE] = "bruteforce",
        [RN_CAT_REFLECTOR] = "reflector",
        [RN_CAT_DROP] = "drop",
};

static const char *const source_names[RN_SRC_COUNT] = {
        [RN_SRC_UNSPECIFIED] = "unspecified",
        [RN_SRC_POSTFIX] = "postfix",
        [RN_SRC_EXIM] = "exim",
        [RN_SRC_NETFLOW_V5] = "netflow_v5",
        [RN_SRC_NETFLOW_V9] = "netflow_v9",
        [RN_SRC_IPFIX] = "ipfix",
        [RN_SRC_SFLOW] = "sflow",
        [RN_SRC_MIRROR] = "mirror",
        [RN_SRC_PEER] = "peer",
        [RN_SRC_IMPORT] = "import",
};

const char *rn_kind_name(unsigned kind)
{
	return kind < RN_KIND_MAX ? kind_names[kind] : NULL;
}

int rn_kind_parse(const char *name, enum rn_kind *out)
{
	for (unsigned i = 1; i < RN_KIND_MAX; i++) {
		if (kind_names[i] != NULL && strcmp(kind_names[i], name) == 0) {
			*out = (enum rn_kind)i;
			return RN_OK;
		}
	}
	return RN_ENOTFOUND;
}

const char *rn_category_name(unsigned cat)
{
	return cat < RN_CAT_COUNT ? category_names[cat] : NULL;
}

int rn_category_parse(const char *name, enum rn_category *out)
{
	for (unsigned i = 1; i < RN_CAT_COUNT; i++) {
		if (strcmp(category_names[i], name) == 0) {
			*out = (enum rn_category)i;
			return RN_OK;
		}
	}
	return RN_ENOTFOUND;
}

void rn_category_json_write(struct rn_jsonw *w, uint32_t cats)
{
	rn_jsonw_arr_begin(w);
	for (unsigned c = 1; c < RN_CAT_COUNT; c++)
		if (cats & (1u << c))
			rn_jsonw_str(w, category_names[c]);
	rn_jsonw_arr_end(w);
}

const char *rn_source_name(unsigned src)
{
	return src < RN_SRC_COUNT ? source_names[src] : NULL;
}

void rn_obs_set_evidence(struct rn_obs *o, const char *s, size_t len)
{
	if (len >= RN_EVIDENCE_MAX) {
		len = RN_EVIDENCE_MAX - 1;
		/* Do not cut a UTF-8 sequence in half. */
		while (len > 0 && ((uint8_t)s[len] & 0xc0) == 0x80)
			len--;
	}
	memcpy(o->evidence, s, len);
	o->evidence[len] = '\0';
}

int rn_obs_batch_pack(const struct rn_obs_batch_meta *meta, const struct rn_obs *obs, size_t n,
                      uint8_t **out, size_t *len)
{
	Repnet__V1__ObservationBatch b = REPNET__V1__OBSERVATION_BATCH__INIT;
	Repnet__V1__Observation *ov = NULL;
	Repnet__V1__Observation **pv = NULL;
	uint8_t(*ips)[16] = NULL;
	uint8_t *buf = NULL;
	int rc = RN_OK;

	if (n > 0) {
		ov = calloc(n, sizeof(*ov));
		pv = calloc(n, sizeof(*pv));
		ips = calloc(n, sizeof(*ips));
		if (ov == NULL || pv == NULL || ips == NULL) {
			rc = -ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		repnet__v1__observation__init(&ov[i]);
		ov[i].ip.len = rn_addr_to_bytes(&obs[i].addr, ips[i]);
		ov[i].ip.data = ips[i];
		ov[i].prefix_len = obs[i].prefix_len;
		ov[i].kind = (Repnet__V1__Kind)obs[i].kind;
		ov[i].time_ms = obs[i].ts_ms;
		ov[i].count = obs[i].count;
		ov[i].evidence = (char *)obs[i].evidence;
		ov[i].source = (Repnet__V1__Source)obs[i].source;
		pv[i] = &ov[i];
	}
	b.collector_id.data = (uint8_t *)meta->collector_id;
	b.collector_id.len = sizeof(meta->collector_id);
	b.batch_seq = meta->batch_seq;
	b.sent_ms = meta->sent_ms;
	b.reporter.data = (uint8_t *)meta->reporter;
	b.reporter.len = sizeof(meta->reporter);
	if (meta->collector[0] != '\0')
		b.collector = (char *)meta->collector;
	b.observations = pv;
	b.n_observations = n;
	size_t sz = repnet__v1__observation_batch__get_packed_size(&b);
	buf = malloc(sz ? sz : 1);
	if (buf == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	repnet__v1__observation_batch__pack(&b, buf);
	*out = buf;
	*len = sz;
out:
	free(ips);
	free(pv);
	free(ov);
	return rc;
}

static bool utf8_valid(const char *s, size_t n)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t i = 0;
	while (i < n) {
		uint8_t c = p[i];
		size_t k;
		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return false; /* no control characters in evidence */
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0 && c >= 0xc2)
			k = 1;
		else if ((c & 0xf0) == 0xe0)
			k = 2;
		else if ((c & 0xf8) == 0xf0 && c <= 0xf4)
			k = 3;
		else
			return false;
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++)
			if ((p[i + j] & 0xc0) != 0x80)
				return false;
		i += k + 1;
	}
	return true;
}

int rn_obs_batch_unpack(const uint8_t *buf, size_t len, size_t cap, struct rn_obs_batch_meta *meta,
                        struct rn_obs *obs, size_t *n, struct rn_obs_rejects *rej)
{
	struct rn_pb_budget budget;
	/* Generous for cap observations, and far below "unbounded". */
	rn_pb_budget_init(&budget, 4096 + cap * 256 + len * 2);
	Repnet__V1__ObservationBatch *b =
	        repnet__v1__observation_batch__unpack(&budget.alloc, len, buf);
	if (b == NULL)
		return budget.exceeded ? RN_ELIMIT : RN_EPARSE;
	int rc = RN_OK;
	if (b->n_observations > cap) {
		rc = RN_ELIMIT;
		goto out;
	}
	memset(meta, 0, sizeof(*meta));
	if (b->collector_id.len > 0) {
		if (b->collector_id.len != sizeof(meta->collector_id)) {
			rc = RN_EPARSE;
			goto out;
		}
		memcpy(meta->collector_id, b->collector_id.data, sizeof(meta->collector_id));
	}
	if (b->reporter.len > 0) {
		if (b->reporter.len != sizeof(meta->reporter)) {
			rc = RN_EPARSE;
			goto out;
		}
		memcpy(meta->reporter, b->reporter.data, sizeof(meta->reporter));
	}
	if (b->collector != NULL && b->collector[0] != '\0') {
		size_t cl = strlen(b->collector);
		if (cl >= sizeof(meta->collector) || !utf8_valid(b->collector, cl)) {
			rc = RN_EPARSE;
			goto out;
		}
		memcpy(meta->collector, b->collector, cl + 1);
	}
	meta->batch_seq = b->batch_seq;
	meta->sent_ms = b->sent_ms;
	size_t k = 0;
	for (size_t i = 0; i < b->n_observations; i++) {
		const Repnet__V1__Observation *o = b->observations[i];
		struct rn_obs *d = &obs[k];
		memset(d, 0, sizeof(*d));
		if (rn_addr_from_bytes(&d->addr, o->ip.data, o->ip.len) != RN_OK) {
			rej->bad_ip++;
			continue;
		}
		if (o->prefix_len > rn_addr_maxlen(&d->addr)) {
			rej->bad_prefix++;
			continue;
		}
		if ((unsigned)o->kind == 0 || rn_kind_name((unsigned)o->kind) == NULL) {
			rej->bad_kind++;
			continue;
		}
		if ((unsigned)o->source >= RN_SRC_COUNT) {
			rej->bad_source++;
			continue;
		}
		if (o->count == 0) {
			rej->bad_count++;
			continue;
		}
		size_t el = o->evidence ? strlen(o->evidence) : 0;
		if (el >= RN_EVIDENCE_MAX || !utf8_valid(o->evidence, el)) {
			rej->bad_evidence++;
			continue;
		}
		d->prefix_len = (uint8_t)o->prefix_len;
		if (d->prefix_len != 0)
			rn_addr_mask(&d->addr, d->prefix_len);
		d->kind = (uint16_t)o->kind;
		d->source = (uint8_t)o->source;
		d->count = o->count;
		d->ts_ms = o->time_ms;
		if (el > 0)
			memcpy(d->evidence, o->evidence, el);
		k++;
	}
	*n = k;
out:
	repnet__v1__observation_batch__free_unpacked(b, &budget.alloc);
	return rc;
}
