/*
 * obs.c: names of the repnet/v1 enums, and observation helpers.
 *
 * Design notes: the C enums in proto.h repeat the protobuf enum values so
 * that hot code does not spell generated names. The static assertions
 * below fail the build if the two ever drift apart.
 */
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
	[RN_SRC_UNSPECIFIED] = "unspecified", [RN_SRC_POSTFIX] = "postfix",
	[RN_SRC_EXIM] = "exim",		      [RN_SRC_NETFLOW_V5] = "netflow_v5",
	[RN_SRC_NETFLOW_V9] = "netflow_v9",   [RN_SRC_IPFIX] = "ipfix",
	[RN_SRC_SFLOW] = "sflow",	      [RN_SRC_MIRROR] = "mirror",
	[RN_SRC_PEER] = "peer",		      [RN_SRC_IMPORT] = "import",
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
