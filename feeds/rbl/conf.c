/*
 * conf.c: the configuration keys of the local RBL (DNSBL, policy
 * service, decision stream, exports), section "feeds".
 *
 * Design notes: values that the servers compile later (zones, codes,
 * category lists) are checked here already, so that `repnetd -n` reports
 * them with file and line rather than the serve role failing at start.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feeds/rbl/dns.h"
#include "feeds/rbl/rbl.h"
#include "feeds/rbl/policy.h"

#define RBL(f) offsetof(struct feeds_rbl_conf, f)

const char *const feeds_list_format_names[] = {
        [FEEDS_FMT_PLAIN] = "plain",         [FEEDS_FMT_JSON] = "json",
        [FEEDS_FMT_DROP_JSON] = "drop-json", [FEEDS_FMT_DROP_TXT] = "drop-txt",
        [FEEDS_FMT_IP4SET] = "ip4set",       [FEEDS_FMT_CIDR] = "cidr",
        [FEEDS_FMT_RBLDNSD] = "rbldnsd",     [FEEDS_FMT_NFT] = "nft",
        [FEEDS_FMT_IPSET] = "ipset",         [FEEDS_FMT_COUNT_] = NULL,
};

/* The formats a list file may be read in. */
static const char *const list_in_names[] = {"plain",  "json", "drop-json", "drop-txt",
                                            "ip4set", "cidr", NULL};

int feeds_list_format_parse(const char *name, enum feeds_list_format *out)
{
	for (int i = 0; i < FEEDS_FMT_COUNT_; i++)
		if (strcmp(feeds_list_format_names[i], name) == 0) {
			*out = (enum feeds_list_format)i;
			return RN_OK;
		}
	return RN_ENOTFOUND;
}

static const char *const combine_names[] = {"priority", "bitmask", NULL};

/* Postfix's protocol_state values, lower case. */
const char *const feeds_policy_state_names[] = {"connect", "ehlo",           "helo", "mail", "rcpt",
                                                "data",    "end-of-message", "vrfy", "etrn", NULL};

static int check_zones(const void *field, char *err, size_t errlen)
{
	const struct rn_strlist *l = field;
	struct feeds_rbl_conf c = {.dnsbl_zones = *l};
	static const char *ns[] = {"localhost"};
	struct dnsbl_cfg *cfg = malloc(sizeof(*cfg));
	if (cfg == NULL)
		return -ENOMEM;
	c.dnsbl_ns.v = (char **)ns;
	c.dnsbl_ns.n = 1;
	int rc = dnsbl_cfg_build(cfg, &c, err, errlen);
	free(cfg);
	return rc;
}

static int check_codes(const void *field, char *err, size_t errlen)
{
	const struct rn_strlist *l = field;
	struct feeds_rbl_conf c = {.dnsbl_codes = *l};
	static const char *zone[] = {"bl.invalid"};
	static const char *ns[] = {"localhost"};
	struct dnsbl_cfg *cfg = malloc(sizeof(*cfg));
	if (cfg == NULL)
		return -ENOMEM;
	c.dnsbl_zones.v = (char **)zone;
	c.dnsbl_zones.n = 1;
	c.dnsbl_ns.v = (char **)ns;
	c.dnsbl_ns.n = 1;
	int rc = dnsbl_cfg_build(cfg, &c, err, errlen);
	free(cfg);
	return rc;
}

static int check_names(const void *field, char *err, size_t errlen)
{
	const struct rn_strlist *l = field;
	for (size_t i = 0; i < l->n; i++) {
		uint8_t w[DNS_NAME_MAX + 1];
		size_t n;
		if (dns_name_from_text(l->v[i], w, &n, NULL) != RN_OK) {
			snprintf(err, errlen, "\"%s\" is not a host name", l->v[i]);
			return RN_ECONF;
		}
	}
	return RN_OK;
}

static int check_name(const void *field, char *err, size_t errlen)
{
	const char *s = *(char *const *)field;
	uint8_t w[DNS_NAME_MAX + 1];
	size_t n;
	if (s != NULL && dns_name_from_text(s, w, &n, NULL) != RN_OK) {
		snprintf(err, errlen, "\"%s\" is not a domain name", s);
		return RN_ECONF;
	}
	return RN_OK;
}

static int check_cats(const void *field, char *err, size_t errlen)
{
	const struct rn_strlist *l = field;
	for (size_t i = 0; i < l->n; i++) {
		enum rn_category c;
		if (rn_category_parse(l->v[i], &c) != RN_OK || c == RN_CAT_UNSPECIFIED) {
			snprintf(err, errlen, "\"%s\" is not a category", l->v[i]);
			return RN_ECONF;
		}
	}
	return RN_OK;
}

static int check_set_name(const void *field, char *err, size_t errlen)
{
	const char *s = *(char *const *)field;
	for (const char *p = s; p != NULL && *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-')) {
			snprintf(err, errlen, "\"%s\": only letters, digits, '_' and '-'", s);
			return RN_ECONF;
		}
	return RN_OK;
}

static int check_mode(const void *field, char *err, size_t errlen)
{
	const char *s = *(char *const *)field;
	unsigned mode;
	if (s != NULL && feeds_policy_mode_parse(s, &mode) != RN_OK) {
		snprintf(err, errlen,
		         "\"%s\": an octal mode from 0600 to 0666 without execute bits", s);
		return RN_ECONF;
	}
	return RN_OK;
}

const struct rn_conf_key feeds_rbl_conf_keys[] = {
        {.name = "dnsbl.list_file",
         .type = RN_CONF_STRING,
         .offset = RBL(list_file),
         .max = 1024,
         .help = "List the serve role's DNSBL, policy service and decision stream answer from "
                 "until the replica is wired; re-read in place when it changes. Empty: none "
                 "of them runs."},
        {.name = "dnsbl.list_format",
         .type = RN_CONF_ENUM,
         .offset = RBL(list_format),
         .def = "json",
         .enum_names = list_in_names,
         .help = "Format of dnsbl.list_file: plain, json, drop-json, drop-txt, ip4set or cidr."},
        {.name = "dnsbl.list_poll",
         .type = RN_CONF_DURATION,
         .offset = RBL(list_poll_ms),
         .min = 100,
         .max = 3600000,
         .def = "1s",
         .help = "How often dnsbl.list_file is checked for changes."},
        {.name = "dnsbl.listen",
         .type = RN_CONF_STRLIST,
         .offset = RBL(dnsbl_listen),
         .max = 8,
         .def = "127.0.0.1:5300",
         .help = "Addresses the DNSBL answers on, UDP and TCP (host:port or [v6]:port). "
                 "Empty: no DNSBL."},
        {.name = "dnsbl.zones",
         .type = RN_CONF_STRLIST,
         .offset = RBL(dnsbl_zones),
         .max = DNSBL_ZONES_MAX,
         .def = "bl.repnet.localhost",
         .check = check_zones,
         .help = "Zones served: \"zone\" answers every category, \"zone:cat,cat\" only those."},
        {.name = "dnsbl.workers",
         .type = RN_CONF_INT,
         .offset = RBL(dnsbl_workers),
         .min = 1,
         .max = 64,
         .def = "2",
         .help = "UDP worker threads, each with its own SO_REUSEPORT socket per address."},
        {.name = "dnsbl.ttl",
         .type = RN_CONF_DURATION,
         .offset = RBL(dnsbl_ttl_ms),
         .min = 0,
         .max = 86400000,
         .def = "5m",
         .help = "TTL of listings and of the apex SOA and NS records."},
        {.name = "dnsbl.negative_ttl",
         .type = RN_CONF_DURATION,
         .offset = RBL(dnsbl_negative_ttl_ms),
         .min = 0,
         .max = 86400000,
         .def = "1m",
         .help = "TTL of NXDOMAIN and NODATA answers (the SOA minimum)."},
        {.name = "dnsbl.ns",
         .type = RN_CONF_STRLIST,
         .offset = RBL(dnsbl_ns),
         .max = DNSBL_NS_MAX,
         .def = "localhost",
         .check = check_names,
         .help = "Name servers of the zones (NS records); the first is the SOA MNAME."},
        {.name = "dnsbl.soa_rname",
         .type = RN_CONF_STRING,
         .offset = RBL(dnsbl_soa_rname),
         .max = 255,
         .def = "hostmaster.localhost",
         .check = check_name,
         .help = "SOA RNAME: the zone contact's mailbox as a domain name."},
        {.name = "dnsbl.codes",
         .type = RN_CONF_STRLIST,
         .offset = RBL(dnsbl_codes),
         .max = RN_CAT_COUNT,
         .def = "spam_source=127.0.0.2,sasl_bruteforce=127.0.0.3,bruteforce=127.0.0.4,"
                "scanner=127.0.0.5,protocol_bot=127.0.0.6,harvester=127.0.0.7,"
                "relay_probe=127.0.0.8,reflector=127.0.0.9,drop=127.0.0.10,"
                "peer_listed=127.0.0.11",
         .check = check_codes,
         .help = "A record per category, \"category=127.0.0.N\" with N in 2-255, highest "
                 "priority first. Unlisted categories answer 127.0.0.2."},
        {.name = "dnsbl.combine",
         .type = RN_CONF_ENUM,
         .offset = RBL(dnsbl_combine),
         .def = "priority",
         .enum_names = combine_names,
         .help = "Several categories: \"priority\" answers the code of the first in "
                 "dnsbl.codes, \"bitmask\" the OR of their codes."},
        {.name = "dnsbl.reason",
         .type = RN_CONF_STRING,
         .offset = RBL(dnsbl_reason),
         .max = 200,
         .def = "Listed by repnet: %c",
         .help = "TXT text: \"$\" becomes the queried address, \"%c\" the categories."},
        {.name = "dnsbl.lookup_url",
         .type = RN_CONF_STRING,
         .offset = RBL(dnsbl_lookup_url),
         .max = 200,
         .help = "Appended to the TXT text after \"; \" (\"$\" is the address), e.g. "
                 "https://rbl.example/lookup?ip=$."},
        {.name = "dnsbl.edns_size",
         .type = RN_CONF_INT,
         .offset = RBL(dnsbl_edns_size),
         .min = 512,
         .max = 4096,
         .def = "1232",
         .help = "Largest UDP answer to an EDNS0 query; larger ones are truncated (TC)."},
        {.name = "dnsbl.tcp_max_conns",
         .type = RN_CONF_INT,
         .offset = RBL(dnsbl_tcp_max_conns),
         .min = 1,
         .max = 100000,
         .def = "64",
         .help = "Open TCP connections at most. When full, a client holding fewer than the "
                 "client holding the most closes that client's oldest; others are refused."},
        {.name = "dnsbl.tcp_idle",
         .type = RN_CONF_DURATION,
         .offset = RBL(dnsbl_tcp_idle_ms),
         .min = 100,
         .max = 600000,
         .def = "10s",
         .help = "A TCP connection idle this long is closed."},
        {.name = "dnsbl.tcp_max_conns_per_client",
         .type = RN_CONF_INT,
         .offset = RBL(dnsbl_tcp_max_per_client),
         .min = 1,
         .max = 100000,
         .def = "16",
         .help = "Open TCP connections of one client (IPv4 address, IPv6 /64) at most; its "
                 "next one closes its oldest."},
        {.name = "dnsbl.tcp_query_timeout",
         .type = RN_CONF_DURATION,
         .offset = RBL(dnsbl_tcp_query_timeout_ms),
         .min = 100,
         .max = 600000,
         .def = "5s",
         .help = "A TCP query not complete this long after its first byte (or its answer not "
                 "taken) closes the connection; more bytes do not extend it."},
        {.name = "dnsbl.ratelimit",
         .type = RN_CONF_INT,
         .offset = RBL(dnsbl_ratelimit),
         .min = 0,
         .max = 10000000,
         .def = "0",
         .help = "UDP queries per second one client (IPv4 address, IPv6 /64) may send; "
                 "more are dropped and counted. 0: no limit."},
        {.name = "dnsbl.ratelimit_burst",
         .type = RN_CONF_INT,
         .offset = RBL(dnsbl_ratelimit_burst),
         .min = 1,
         .max = 10000000,
         .def = "200",
         .help = "Queries a client may send at once above dnsbl.ratelimit."},
        {.name = "policy.listen",
         .type = RN_CONF_HOSTPORT,
         .offset = RBL(policy_listen),
         .def = "127.0.0.1:10040",
         .help = "TCP address of the Postfix policy service. Empty: no TCP listener."},
        {.name = "policy.unix",
         .type = RN_CONF_STRING,
         .offset = RBL(policy_unix),
         .max = 100,
         .help = "Unix socket path of the Postfix policy service. Empty: none. With Debian's "
                 "chrooted smtpd, a path under /var/spool/postfix (docs/postfix.md)."},
        {.name = "policy.unix_group",
         .type = RN_CONF_STRING,
         .offset = RBL(policy_unix_group),
         .max = 64,
         .help = "Group of the policy service's unix socket; repnetd keeps it as a "
                 "supplementary group to give the socket to it. Empty: postfix where that "
                 "group exists, else none."},
        {.name = "policy.unix_mode",
         .type = RN_CONF_STRING,
         .offset = RBL(policy_unix_mode),
         .max = 4,
         .check = check_mode,
         .help = "File mode of the policy service's unix socket, in octal (0600 to 0666: "
                 "owner read and write at least, no execute bits). Empty: 0660 when the "
                 "socket has a group, else 0600."},
        {.name = "policy.states",
         .type = RN_CONF_FLAGS,
         .offset = RBL(policy_states),
         .def = "rcpt",
         .enum_names = feeds_policy_state_names,
         .help = "protocol_state values at which the client is checked; at others the "
                 "answer is DUNNO."},
        {.name = "policy.text",
         .type = RN_CONF_STRING,
         .offset = RBL(policy_text),
         .min = 1,
         .max = 200,
         .def = "Listed by repnet: %c",
         .help = "Text after REJECT or DEFER_IF_PERMIT: \"$\" is the client address, \"%c\" "
                 "the categories."},
        {.name = "policy.defer",
         .type = RN_CONF_STRLIST,
         .offset = RBL(policy_defer),
         .max = RN_CAT_COUNT,
         .check = check_cats,
         .help = "Categories answered DEFER_IF_PERMIT (a temporary refusal) instead of "
                 "REJECT; a client in any other listed category is rejected."},
        {.name = "policy.max_conns",
         .type = RN_CONF_INT,
         .offset = RBL(policy_max_conns),
         .min = 1,
         .max = 100000,
         .def = "256",
         .help = "Open policy connections at most. When full, a client holding fewer than the "
                 "client holding the most closes that client's oldest; others are refused."},
        {.name = "policy.idle",
         .type = RN_CONF_DURATION,
         .offset = RBL(policy_idle_ms),
         .min = 1000,
         .max = 3600000,
         .def = "10m",
         .help = "A policy connection idle this long is closed (Postfix reconnects)."},
        {.name = "policy.max_conns_per_client",
         .type = RN_CONF_INT,
         .offset = RBL(policy_max_per_client),
         .min = 1,
         .max = 100000,
         .def = "128",
         .help = "Open policy connections of one client (IPv4 address, IPv6 /64, unix peer "
                 "uid) at most; its next one closes its oldest."},
        {.name = "policy.request_timeout",
         .type = RN_CONF_DURATION,
         .offset = RBL(policy_request_timeout_ms),
         .min = 100,
         .max = 3600000,
         .def = "10s",
         .help = "A request not complete this long after its first byte (or its answer not "
                 "taken) closes the connection; more bytes do not extend it."},
        {.name = "decisions.api_keys_file",
         .type = RN_CONF_STRING,
         .offset = RBL(decisions_keys_file),
         .max = 1024,
         .help = "File of the X-Api-Key values bouncers present to /v1/decisions/stream on "
                 "core.http_listen, one a line (8 to 256 characters, \"#\" comments), not "
                 "readable by group or others. Empty: the stream is off."},
        {.name = "decisions.duration",
         .type = RN_CONF_DURATION,
         .offset = RBL(decisions_duration_ms),
         .min = 60000,
         .max = 31536000000LL,
         .def = "4h",
         .help = "Duration given to bouncers for listings without an expiry."},
        {.name = "decisions.max_bouncers",
         .type = RN_CONF_INT,
         .offset = RBL(decisions_max_bouncers),
         .min = 1,
         .max = 4096,
         .def = "64",
         .help = "Bouncer positions remembered (one per API key)."},
        {.name = "export.nft_table",
         .type = RN_CONF_STRING,
         .offset = RBL(export_nft_table),
         .min = 1,
         .max = 64,
         .def = "repnet",
         .check = check_set_name,
         .help = "nftables table (family inet) of the nft export."},
        {.name = "export.nft_set4",
         .type = RN_CONF_STRING,
         .offset = RBL(export_nft_set4),
         .min = 1,
         .max = 64,
         .def = "blocklist4",
         .check = check_set_name,
         .help = "IPv4 set of the nft export."},
        {.name = "export.nft_set6",
         .type = RN_CONF_STRING,
         .offset = RBL(export_nft_set6),
         .min = 1,
         .max = 64,
         .def = "blocklist6",
         .check = check_set_name,
         .help = "IPv6 set of the nft export."},
        {.name = "export.ipset4",
         .type = RN_CONF_STRING,
         .offset = RBL(export_ipset4),
         .min = 1,
         .max = 27,
         .def = "repnet4",
         .check = check_set_name,
         .help = "IPv4 set of the ipset export (hash:net)."},
        {.name = "export.ipset6",
         .type = RN_CONF_STRING,
         .offset = RBL(export_ipset6),
         .min = 1,
         .max = 27,
         .def = "repnet6",
         .check = check_set_name,
         .help = "IPv6 set of the ipset export (hash:net)."},
        {.name = NULL},
};
