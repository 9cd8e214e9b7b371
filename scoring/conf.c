/*
 * conf.c: the scorer's configuration keys and its signal-kind table.
 *
 * Design notes: the kinds table is one custom key, "kinds", a group with
 * one group per kind name:
 *
 *     scoring: { kinds: {
 *         sasl_fail = { weight = 1.25; half_life = "6h"; max_count = 8; };
 *         imported  = { window = "7d"; };
 *     }; };
 *
 * It starts from the built-in table below and the file overrides fields
 * one by one; setting half_life clears window and the other way round.
 * A weight of 0 ignores the kind. The built-in weights are calibrated so
 * that, with threshold 5: one RBL rejection, pregreet, relay attempt,
 * deny-list hit or detector signal lists an address; four SASL failures
 * or five unknown recipients do; a single weak event (a lost connection,
 * no reverse DNS, a rate limit) never does on its own.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scoring/scoring.h"

#define H(n) ((int64_t)(n)*3600000)
#define D(n) ((int64_t)(n)*86400000)

#define ROW(k, w, hl, win, cat, al, mc)            \
	[RN_KIND_##k] = {.weight = (w),            \
	                 .half_life_ms = (hl),     \
	                 .window_ms = (win),       \
	                 .category = RN_CAT_##cat, \
	                 .alone = (al),            \
	                 .max_count = (mc)}

static const struct scoring_kind kind_defaults[RN_KIND_MAX] = {
        /* kind, weight, half-life, window, category, alone, max count */
        ROW(SMTP_CONNECT, 0, H(6), 0, UNSPECIFIED, false, 1),
        ROW(RBL_LISTED, 5, D(1), 0, SPAM_SOURCE, true, 1),
        ROW(UNKNOWN_RECIPIENT, 1, H(6), 0, HARVESTER, true, 8),
        ROW(RELAY_DENIED, 5, D(1), 0, RELAY_PROBE, true, 1),
        ROW(HELO_REJECT, 1.5, H(6), 0, PROTOCOL_BOT, false, 2),
        ROW(SENDER_REJECT, 1, H(6), 0, SPAM_SOURCE, false, 2),
        ROW(CLIENT_REJECT, 1, H(6), 0, SPAM_SOURCE, false, 2),
        ROW(NO_RDNS, 1, D(1), 0, UNSPECIFIED, false, 1),
        ROW(PREGREET, 5, D(1), 0, PROTOCOL_BOT, true, 1),
        ROW(PIPELINING, 2.5, D(1), 0, PROTOCOL_BOT, true, 2),
        ROW(NON_SMTP, 2.5, D(1), 0, PROTOCOL_BOT, true, 2),
        ROW(HANGUP, 1, H(6), 0, PROTOCOL_BOT, false, 3),
        ROW(SASL_FAIL, 1.25, H(6), 0, SASL_BRUTEFORCE, true, 8),
        ROW(LOST_CONNECTION, 0.5, H(6), 0, PROTOCOL_BOT, false, 4),
        ROW(TIMEOUT, 0.5, H(6), 0, PROTOCOL_BOT, false, 4),
        ROW(TOO_MANY_ERRORS, 2, D(1), 0, UNSPECIFIED, false, 2),
        ROW(RATE_LIMITED, 1, H(1), 0, SPAM_SOURCE, false, 1),
        ROW(DENYLISTED, 5, D(1), 0, SPAM_SOURCE, true, 1),
        ROW(CONTENT_REJECT, 1.5, D(1), 0, SPAM_SOURCE, true, 4),
        ROW(SPAMTRAP, 5, D(7), 0, SPAM_SOURCE, true, 1),
        ROW(PROTOCOL_ERROR, 1, H(6), 0, PROTOCOL_BOT, false, 3),
        ROW(NO_MAIL, 0.25, H(6), 0, UNSPECIFIED, false, 4),
        ROW(SASL_SUCCESS, 0, H(6), 0, UNSPECIFIED, false, 1),
        ROW(SASL_BRUTEFORCE, 5, D(1), 0, SASL_BRUTEFORCE, true, 1),
        ROW(SASL_DISTRIBUTED, 3, D(1), 0, SASL_BRUTEFORCE, false, 1),
        ROW(HARVEST, 5, D(1), 0, HARVESTER, true, 1),
        ROW(PROTOCOL_BOT, 5, D(1), 0, PROTOCOL_BOT, true, 1),
        ROW(RELAY_PROBE, 5, D(1), 0, RELAY_PROBE, true, 1),
        ROW(CONN_FLOOD, 3, H(6), 0, SPAM_SOURCE, false, 2),
        ROW(RBL_CONFIRMED, 5, D(1), 0, SPAM_SOURCE, true, 1),
        ROW(SMTP_SPRAY, 5, D(1), 0, SPAM_SOURCE, true, 1),
        ROW(SCAN_HORIZONTAL, 5, D(1), 0, SCANNER, true, 1),
        ROW(SCAN_VERTICAL, 5, D(1), 0, SCANNER, true, 1),
        ROW(AUTH_BRUTEFORCE, 5, D(1), 0, BRUTEFORCE, true, 1),
        ROW(REFLECTOR, 5, D(1), 0, REFLECTOR, true, 1),
        ROW(AMPLIFICATION_VICTIM, 0, D(1), 0, UNSPECIFIED, false, 1),
        ROW(SYN_ONLY, 0.5, H(6), 0, SCANNER, false, 4),
        ROW(UDP_ONEWAY, 0, H(6), 0, UNSPECIFIED, false, 1),
        ROW(PEER_LISTED, 2.5, D(1), 0, PEER_LISTED, false, 1),
        ROW(IMPORTED, 5, 0, D(7), DROP, true, 1),
};

const struct scoring_kind *scoring_kind_defaults(void)
{
	return kind_defaults;
}

/* ---- the kinds table ------------------------------------------------------- */

static int kind_field(const struct rn_conf_node *f, struct scoring_kind *row, char *err,
                      size_t errlen)
{
	const char *name = rn_conf_node_name(f);
	const char *s;
	double d;
	int64_t i;
	bool b;
	if (strcmp(name, "weight") == 0) {
		if (rn_conf_node_double(f, &d) != RN_OK || d < 0 || d > 1000) {
			snprintf(err, errlen, "weight must be a number from 0 to 1000");
			return RN_ECONF;
		}
		row->weight = d;
	} else if (strcmp(name, "half_life") == 0 || strcmp(name, "window") == 0) {
		int64_t ms;
		if (rn_conf_node_string(f, &s) == RN_OK) {
			if (rn_duration_parse(s, &ms) != RN_OK) {
				snprintf(err, errlen, "%s: \"%s\" is not a duration", name, s);
				return RN_ECONF;
			}
		} else if (rn_conf_node_int(f, &i) == RN_OK && i <= 365 * 86400) {
			ms = i * 1000;
		} else {
			snprintf(err, errlen, "%s must be a duration such as \"6h\"", name);
			return RN_ECONF;
		}
		if (ms < 60000 || ms > D(365)) {
			snprintf(err, errlen, "%s must be from 1m to 365d", name);
			return RN_ECONF;
		}
		if (name[0] == 'h') {
			row->half_life_ms = ms;
			row->window_ms = 0;
		} else {
			row->window_ms = ms;
			row->half_life_ms = 0;
		}
	} else if (strcmp(name, "category") == 0) {
		enum rn_category cat;
		if (rn_conf_node_string(f, &s) != RN_OK) {
			snprintf(err, errlen, "category must be a name such as \"spam_source\"");
			return RN_ECONF;
		}
		if (strcmp(s, "none") == 0 || strcmp(s, "unspecified") == 0) {
			cat = RN_CAT_UNSPECIFIED;
		} else if (rn_category_parse(s, &cat) != RN_OK) {
			snprintf(err, errlen, "\"%s\" is not a category", s);
			return RN_ECONF;
		}
		row->category = (uint8_t)cat;
	} else if (strcmp(name, "alone") == 0) {
		if (rn_conf_node_bool(f, &b) != RN_OK) {
			snprintf(err, errlen, "alone must be true or false");
			return RN_ECONF;
		}
		row->alone = b;
	} else if (strcmp(name, "max_count") == 0) {
		if (rn_conf_node_int(f, &i) != RN_OK || i < 1 || i > SCORING_MAX_COUNT) {
			snprintf(err, errlen, "max_count must be an integer from 1 to %d",
			         SCORING_MAX_COUNT);
			return RN_ECONF;
		}
		row->max_count = (uint8_t)i;
	} else {
		snprintf(err, errlen,
		         "unknown field \"%s\" (weight, half_life, window, category, alone, "
		         "max_count)",
		         name);
		return RN_ECONF;
	}
	return RN_OK;
}

static int kinds_parse(const struct rn_conf_node *node, void *field, char *err, size_t errlen)
{
	struct scoring_kind *kinds = field;
	memcpy(kinds, kind_defaults, sizeof(kind_defaults));
	if (node == NULL)
		return RN_OK;
	if (!rn_conf_node_is_group(node)) {
		snprintf(err, errlen,
		         "expected a group of kinds, like { sasl_fail = { weight = 2; }; }");
		return RN_ECONF;
	}
	for (size_t i = 0; i < rn_conf_node_count(node); i++) {
		const struct rn_conf_node *k = rn_conf_node_child(node, i);
		const char *name = rn_conf_node_name(k);
		enum rn_kind kind;
		char sub[200];
		if (name == NULL || rn_kind_parse(name, &kind) != RN_OK) {
			snprintf(err, errlen, "line %d: \"%s\" is not a kind", rn_conf_node_line(k),
			         name ? name : "");
			return RN_ECONF;
		}
		if (!rn_conf_node_is_group(k)) {
			snprintf(err, errlen, "line %d: %s: expected a group of fields",
			         rn_conf_node_line(k), name);
			return RN_ECONF;
		}
		struct scoring_kind *row = &kinds[kind];
		for (size_t j = 0; j < rn_conf_node_count(k); j++) {
			const struct rn_conf_node *f = rn_conf_node_child(k, j);
			if (kind_field(f, row, sub, sizeof(sub)) != RN_OK) {
				snprintf(err, errlen, "line %d: %s: %s", rn_conf_node_line(f), name,
				         sub);
				return RN_ECONF;
			}
		}
		if (row->weight > 0 && row->half_life_ms == 0 && row->window_ms == 0) {
			snprintf(err, errlen, "line %d: %s: needs a half_life or a window",
			         rn_conf_node_line(k), name);
			return RN_ECONF;
		}
		if (row->max_count == 0)
			row->max_count = 1;
	}
	return RN_OK;
}

static void kinds_release(void *field)
{
	(void)field;
}

static bool kinds_equal(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(kind_defaults)) == 0;
}

/* ---- the section ------------------------------------------------------------- */

#define OFF(f) offsetof(struct scoring_conf, f)

const struct rn_conf_key scoring_conf_keys[] = {
        {.name = "threshold",
         .type = RN_CONF_DOUBLE,
         .offset = OFF(threshold),
         .min = 0,
         .max = 100000,
         .def = "5",
         .flags = RN_CONF_RELOAD,
         .help = "Score (points) at which an address is listed."},
        {.name = "delist_threshold",
         .type = RN_CONF_DOUBLE,
         .offset = OFF(delist_threshold),
         .min = 0,
         .max = 100000,
         .def = "2.5",
         .flags = RN_CONF_RELOAD,
         .help = "A listing is renewed while its score stays at or above this (hysteresis); "
                 "at most threshold."},
        {.name = "bucket",
         .type = RN_CONF_DURATION,
         .offset = OFF(bucket_ms),
         .min = 60000,
         .max = 86400000,
         .def = "1h",
         .help = "Length of a reputation set's time bucket. Changing it needs an empty state."},
        {.name = "decay_horizon",
         .type = RN_CONF_INT,
         .offset = OFF(decay_horizon),
         .min = 1,
         .max = 64,
         .def = "8",
         .flags = RN_CONF_RELOAD,
         .help = "Half-lives after which a decaying bucket is dropped."},
        {.name = "tick",
         .type = RN_CONF_DURATION,
         .offset = OFF(tick_ms),
         .min = 1000,
         .max = 3600000,
         .def = "30s",
         .flags = RN_CONF_RELOAD,
         .help = "The blocklist is recomputed at every multiple of this, in event time."},
        {.name = "full_every",
         .type = RN_CONF_INT,
         .offset = OFF(full_every),
         .min = 1,
         .max = 100000,
         .def = "20",
         .flags = RN_CONF_RELOAD,
         .help = "Ticks between full recomputes. The ticks between rescore only the addresses "
                 "observed since, listings that are due for renewal or expiry, and the members "
                 "of sets that aged out; 1 makes every tick full."},
        {.name = "bucket_index",
         .type = RN_CONF_BOOL,
         .offset = OFF(bucket_index),
         .def = "true",
         .flags = RN_CONF_RELOAD,
         .help = "Index each closed time bucket of IPv4 addresses (65,536 keys or more) so "
                 "that an incremental recompute finds an address once per bucket, not once per "
                 "set: about 4 bytes per address of the bucket, for ticks about twice as fast. "
                 "The index's memory counts in repnet_scoring_set_bytes."},
        {.name = "lateness",
         .type = RN_CONF_DURATION,
         .offset = OFF(lateness_ms),
         .min = 0,
         .max = 600000,
         .def = "5s",
         .flags = RN_CONF_RELOAD,
         .help = "How long a tick waits for observations stamped before it (replay, and live "
                 "scoring with realtime_interval 0)."},
        {.name = "realtime_interval",
         .type = RN_CONF_DURATION,
         .offset = OFF(realtime_ms),
         .min = 0,
         .max = 10000,
         .def = "20ms",
         .flags = RN_CONF_RELOAD,
         .help = "Live scoring: the addresses observed since the last pass are rescored this "
                 "often, at the time of their events, and a listing is published at once; the "
                 "tick remains for decay and expiry. 0 lists only at ticks."},
        {.name = "max_future",
         .type = RN_CONF_DURATION,
         .offset = OFF(max_future_ms),
         .min = 0,
         .max = 86400000,
         .def = "5m",
         .flags = RN_CONF_RELOAD,
         .help = "Live mode drops observations stamped further than this ahead of the clock."},
        {.name = "ttl",
         .type = RN_CONF_DURATION,
         .offset = OFF(ttl_ms),
         .min = 60000,
         .max = 31536000000,
         .def = "1d",
         .flags = RN_CONF_RELOAD,
         .help = "TTL of a first listing."},
        {.name = "ttl_max",
         .type = RN_CONF_DURATION,
         .offset = OFF(ttl_max_ms),
         .min = 60000,
         .max = 31536000000,
         .def = "30d",
         .flags = RN_CONF_RELOAD,
         .help = "Cap of the TTL after repeat offences."},
        {.name = "ttl_growth",
         .type = RN_CONF_DOUBLE,
         .offset = OFF(ttl_growth),
         .min = 1,
         .max = 16,
         .def = "2",
         .flags = RN_CONF_RELOAD,
         .help = "The TTL is multiplied by this for every repeat offence."},
        {.name = "offence_decay",
         .type = RN_CONF_DURATION,
         .offset = OFF(offence_decay_ms),
         .min = 3600000,
         .max = 31536000000,
         .def = "30d",
         .flags = RN_CONF_RELOAD,
         .help = "Remembered offence counts halve this often."},
        {.name = "expiry_quantum",
         .type = RN_CONF_DURATION,
         .offset = OFF(expiry_quantum_ms),
         .min = 1000,
         .max = 86400000,
         .def = "12h",
         .flags = RN_CONF_RELOAD,
         .help = "Expiries are rounded up to a multiple of this, so that listings share "
                 "bitmaps on the wire (a finer quantum makes snapshots and deltas larger)."},
        {.name = "ipv6_prefix",
         .type = RN_CONF_INT,
         .offset = OFF(ipv6_prefix),
         .min = 32,
         .max = 64,
         .def = "64",
         .help = "IPv6 addresses are scored and listed as prefixes of this length."},
        {.name = "escalate.ipv4",
         .type = RN_CONF_INT,
         .offset = OFF(escalate_v4),
         .min = 0,
         .max = 256,
         .def = "32",
         .flags = RN_CONF_RELOAD,
         .help = "Listed addresses in a /24 that list the /24 too (reflectors do not count); 0 "
                 "disables."},
        {.name = "escalate.ipv6",
         .type = RN_CONF_INT,
         .offset = OFF(escalate_v6),
         .min = 0,
         .max = 65536,
         .def = "16",
         .flags = RN_CONF_RELOAD,
         .help = "Listed IPv6 prefixes in a /48 that list the /48 too; 0 disables."},
        {.name = "allowlist",
         .type = RN_CONF_PREFIXES,
         .offset = OFF(allowlist),
         .max = 100000,
         .flags = RN_CONF_RELOAD,
         .help = "Addresses and prefixes that are never listed."},
        {.name = "never_block",
         .type = RN_CONF_PREFIXES,
         .offset = OFF(never_block),
         .max = 100000,
         .flags = RN_CONF_RELOAD,
         .help = "Infrastructure that must never be blocked (added to the RFC 6890 defaults)."},
        {.name = "default_never_block",
         .type = RN_CONF_BOOL,
         .offset = OFF(default_never_block),
         .def = "true",
         .flags = RN_CONF_RELOAD,
         .help = "Never list the RFC 6890 special-purpose ranges. Labs scoring loopback or "
                 "documentation addresses turn this off."},
        {.name = "cgnat",
         .type = RN_CONF_PREFIXES,
         .offset = OFF(cgnat),
         .max = 100000,
         .flags = RN_CONF_RELOAD,
         .help = "CGNAT ranges: addresses in them are listed singly, never escalated to a "
                 "prefix (RFC 6598 is always included)."},
        {.name = "shared_pools",
         .type = RN_CONF_PREFIXES,
         .offset = OFF(shared_pools),
         .max = 100000,
         .flags = RN_CONF_RELOAD,
         .help = "Shared sender pools (cloud mail, large ISPs' outbound relays): never "
                 "escalated."},
        {.name = "dry_run",
         .type = RN_CONF_BOOL,
         .offset = OFF(dry_run),
         .def = "false",
         .flags = RN_CONF_RELOAD,
         .help = "Compute and explain everything, but mark the output and never publish or "
                 "enforce it."},
        {.name = "evidence",
         .type = RN_CONF_BOOL,
         .offset = OFF(evidence),
         .def = "true",
         .flags = RN_CONF_RELOAD,
         .help = "Keep per-address evidence codes for explain (about doubles the sets' "
                 "memory)."},
        {.name = "snapshot_interval",
         .type = RN_CONF_DURATION,
         .offset = OFF(snapshot_interval_ms),
         .min = 1000,
         .max = 86400000,
         .def = "5m",
         .flags = RN_CONF_RELOAD,
         .help = "How often the scorer snapshots its state and trims its journal."},
        {.name = "journal_max",
         .type = RN_CONF_SIZE,
         .offset = OFF(journal_max),
         .min = 1 << 20,
         .max = 17179869184,
         .def = "256M",
         .flags = RN_CONF_RELOAD,
         .help = "A journal this large triggers a snapshot early."},
        {.name = "queue_max",
         .type = RN_CONF_INT,
         .offset = OFF(queue_max),
         .min = 1000,
         .max = 100000000,
         .def = "1000000",
         .help = "Observations durable but not yet applied; beyond this, submitters are told "
                 "to retry."},
        {.name = "hold_max",
         .type = RN_CONF_INT,
         .offset = OFF(hold_max),
         .min = 0,
         .max = 100000000,
         .def = "1000000",
         .flags = RN_CONF_RELOAD,
         .help = "Observations held for a later tick; beyond this they are applied at once "
                 "(counted)."},
        {.name = "kinds",
         .type = RN_CONF_CUSTOM,
         .offset = OFF(kinds),
         .def = "built-in table (README)",
         .flags = RN_CONF_RELOAD,
         .help = "The signal-kind table: per kind weight, half_life or window, category, "
                 "alone, max_count.",
         .parse = kinds_parse,
         .release = kinds_release,
         .equal = kinds_equal},
        {.name = NULL},
};

/* ---- copies ------------------------------------------------------------------- */

static int list_dup(struct rn_prefix_list *dst, const struct rn_prefix_list *src)
{
	memset(dst, 0, sizeof(*dst));
	for (size_t i = 0; i < src->n; i++) {
		int rc = rn_prefix_list_add(dst, &src->v[i]);
		if (rc != RN_OK) {
			rn_prefix_list_clear(dst);
			return rc;
		}
	}
	return RN_OK;
}

int scoring_conf_copy(struct scoring_conf *dst, const struct scoring_conf *src)
{
	struct scoring_conf c = *src;
	int rc;
	memset(&c.allowlist, 0, sizeof(c.allowlist));
	memset(&c.never_block, 0, sizeof(c.never_block));
	memset(&c.cgnat, 0, sizeof(c.cgnat));
	memset(&c.shared_pools, 0, sizeof(c.shared_pools));
	if ((rc = list_dup(&c.allowlist, &src->allowlist)) != RN_OK ||
	    (rc = list_dup(&c.never_block, &src->never_block)) != RN_OK ||
	    (rc = list_dup(&c.cgnat, &src->cgnat)) != RN_OK ||
	    (rc = list_dup(&c.shared_pools, &src->shared_pools)) != RN_OK) {
		scoring_conf_release(&c);
		return rc;
	}
	*dst = c;
	return RN_OK;
}

void scoring_conf_release(struct scoring_conf *c)
{
	rn_prefix_list_clear(&c->allowlist);
	rn_prefix_list_clear(&c->never_block);
	rn_prefix_list_clear(&c->cgnat);
	rn_prefix_list_clear(&c->shared_pools);
}

int scoring_conf_defaults(struct scoring_conf *c)
{
	struct rn_conf_section sec = {"scoring", scoring_conf_keys, c};
	struct rn_conf_error err;
	memset(c, 0, sizeof(*c));
	return rn_conf_load(NULL, NULL, &sec, 1, &err);
}
