/*
 * rbl.h: the local RBL, what a member serves from its blocklist view: the
 * DNSBL (DNS over UDP and TCP), the Postfix policy service, the
 * CrowdSec-compatible decision stream, and the list formats it imports
 * and exports (plain, JSON, Spamhaus DROP, rbldnsd, nft and ipset files).
 *
 * It knows the view (view.h), the HTTP listener (http.h) and proto, and
 * nothing of where the blocklist comes from.
 */
#ifndef REPNET_FEEDS_RBL_H
#define REPNET_FEEDS_RBL_H

#include "feeds/http/http.h"
#include "feeds/view/view.h"
#include "proto/proto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Configuration: the local RBL keys of "feeds"                       */
/* ------------------------------------------------------------------ */
/* How the DNSBL turns several categories into one A record. */
enum feeds_dnsbl_combine {
	FEEDS_DNSBL_PRIORITY = 0, /* the code of the highest-priority category */
	FEEDS_DNSBL_BITMASK = 1,  /* the OR of the categories' codes */
};
/* The local RBL: DNSBL, policy service, decision stream, exports. */
struct feeds_rbl_conf {
	char *list_file;                /* serve role's list until the replica is wired */
	int list_format;                /* enum feeds_list_format */
	int64_t list_poll_ms;           /* how often list_file is checked for changes */
	struct rn_strlist dnsbl_listen; /* host:port, UDP and TCP */
	struct rn_strlist dnsbl_zones;  /* "zone" or "zone:category,category" */
	int64_t dnsbl_workers;
	int64_t dnsbl_ttl_ms;
	int64_t dnsbl_negative_ttl_ms;
	struct rn_strlist dnsbl_ns;    /* NS names; the first is the SOA MNAME */
	char *dnsbl_soa_rname;         /* SOA RNAME, as a domain name */
	struct rn_strlist dnsbl_codes; /* "category=127.0.0.N", highest priority first */
	int dnsbl_combine;             /* enum feeds_dnsbl_combine */
	char *dnsbl_reason;            /* TXT: "$" is the address, "%c" the categories */
	char *dnsbl_lookup_url;        /* appended to the TXT; "$" is the address */
	int64_t dnsbl_edns_size;       /* largest UDP answer with EDNS0 */
	int64_t dnsbl_tcp_max_conns;
	int64_t dnsbl_tcp_idle_ms;
	int64_t dnsbl_tcp_max_per_client;
	int64_t dnsbl_tcp_query_timeout_ms;
	int64_t dnsbl_ratelimit; /* queries per second per client; 0: off */
	int64_t dnsbl_ratelimit_burst;
	char *policy_listen;            /* host:port; "" disables */
	char *policy_unix;              /* unix socket path; "" disables */
	char *policy_unix_group;        /* the socket's group; NULL: postfix if it exists */
	char *policy_unix_mode;         /* octal, e.g. "0660"; NULL: 0660 with a group, else 0600 */
	unsigned policy_states;         /* protocol_state values checked (bitmask) */
	char *policy_text;              /* reject text: "$" address, "%c" categories */
	struct rn_strlist policy_defer; /* categories answered DEFER_IF_PERMIT */
	int64_t policy_max_conns;
	int64_t policy_idle_ms;
	int64_t policy_max_per_client;
	int64_t policy_request_timeout_ms;
	char *decisions_keys_file;     /* X-Api-Key values, one a line; "": stream off */
	int64_t decisions_duration_ms; /* duration of listings without expiry */
	int64_t decisions_max_bouncers;
	/*
	 * Not a key: the directory the decision stream keeps each key's
	 * position in (the daemon sets it to core.data_dir); NULL: kept in
	 * memory only.
	 */
	char *state_dir;
	char *export_nft_table;
	char *export_nft_set4;
	char *export_nft_set6;
	char *export_ipset4;
	char *export_ipset6;
};
extern const struct rn_conf_key feeds_rbl_conf_keys[];

/* ------------------------------------------------------------------ */
/* List formats: imports and exports                                  */
/* ------------------------------------------------------------------ */

enum feeds_list_format {
	FEEDS_FMT_PLAIN = 0, /* one address or prefix per line */
	FEEDS_FMT_JSON = 1,  /* JSON lines: prefix, categories, expires */
	FEEDS_FMT_DROP_JSON, /* Spamhaus DROP, JSON lines (import) */
	FEEDS_FMT_DROP_TXT,  /* Spamhaus DROP, "cidr ; SBLnnn" (import) */
	FEEDS_FMT_IP4SET,    /* rbldnsd ip4set data (import) */
	FEEDS_FMT_CIDR,      /* plain CIDR list, "#" comments (import) */
	FEEDS_FMT_RBLDNSD,   /* rbldnsd combined ip4trie + ip6trie (export) */
	FEEDS_FMT_NFT,       /* nft -f script (export) */
	FEEDS_FMT_IPSET,     /* ipset restore file (export) */
	FEEDS_FMT_COUNT_,
};
/* "plain", "json", "drop-json", ...; NULL-terminated, indexed by format. */
extern const char *const feeds_list_format_names[];
int feeds_list_format_parse(const char *name, enum feeds_list_format *out);

/* One imported listing. evidence is the list's reference (an SBL id), or "". */
struct feeds_import_entry {
	struct rn_prefix prefix;
	uint32_t categories; /* 0 when the format carries none */
	int64_t expires_ms;  /* 0 when the format carries none */
	char evidence[RN_EVIDENCE_MAX];
};

/* Why import lines were refused, for the caller's counters. */
struct feeds_import_stats {
	uint64_t lines;
	uint64_t entries;
	uint64_t bad_lines; /* malformed lines, skipped */
	uint64_t excluded;  /* ip4set "!" exclusions and ranges that could not be kept */
	uint64_t expired;   /* entries whose expiry had passed, dropped (file readers only) */
};

/*
 * Parses a whole list of format fmt (plain, json, drop-json, drop-txt,
 * ip4set, cidr) from buf, calling fn for each entry; fn returning non-zero
 * stops the parse and is returned. Malformed lines are skipped, counted
 * in st and logged (rate-limited) with their line number; a list with
 * malformed lines and strict set fails with RN_EPARSE after the first.
 * Lines longer than 4096 bytes are malformed. Allocates nothing.
 */
int feeds_import_parse(enum feeds_list_format fmt, const uint8_t *buf, size_t len, bool strict,
                       int (*fn)(void *arg, const struct feeds_import_entry *e), void *arg,
                       struct feeds_import_stats *st);
/*
 * Reads a list file ("-": standard input), at most 1 GB, 256 KB at a
 * time, into a freshly allocated array of view entries:
 * entries without categories get default_cats. *out is freed by the
 * caller with free(). At most max_entries entries (RN_ELIMIT past it).
 * Entries whose expiry has passed (by the wall clock at the start of the
 * read) are dropped and counted in st->expired, here and in
 * feeds_import_load() alike.
 */
int feeds_import_file(const char *path, enum feeds_list_format fmt, uint32_t default_cats,
                      size_t max_entries, struct feeds_view_entry **out, size_t *n,
                      struct feeds_import_stats *st);
/* The same, judging expiry at now_ms instead of the wall clock (a replay's list). */
int feeds_import_file_at(const char *path, enum feeds_list_format fmt, uint32_t default_cats,
                         size_t max_entries, int64_t now_ms, struct feeds_view_entry **out,
                         size_t *n, struct feeds_import_stats *st);
/*
 * Reads a list file into a bulk load (feeds/view/view.h), as
 * feeds_import_file() does into an array: the file is read and parsed
 * 256 KB at a time, so the whole costs the builder's few bytes an entry.
 * ld keeps what was added before a failure; the caller frees it.
 */
int feeds_import_load(const char *path, enum feeds_list_format fmt, uint32_t default_cats,
                      size_t max_entries, struct feeds_listview_load *ld,
                      struct feeds_import_stats *st);

/*
 * Writes the view's current state in fmt (plain, json, rbldnsd, nft,
 * ipset) to a malloc'd buffer *out of *len bytes that the caller frees.
 * Entries whose expiry has passed are left out, as the DNSBL and the
 * policy service ignore them.
 * The rbldnsd file's SOA, NS, TTL, A codes and TXT, and the set names,
 * come from c. version, if not NULL, gets the state's version.
 */
int feeds_export(const struct feeds_view *v, enum feeds_list_format fmt,
                 const struct feeds_rbl_conf *c, char **out, size_t *len, uint64_t *version);
/* The same, leaving out entries expired at now_ms instead of the wall clock. */
int feeds_export_at(const struct feeds_view *v, enum feeds_list_format fmt,
                    const struct feeds_rbl_conf *c, int64_t now_ms, char **out, size_t *len,
                    uint64_t *version);

/*
 * The group the policy service's unix socket is given: policy.unix_group,
 * or "postfix" when that key is empty and the group exists. RN_OK with
 * *gid and name set; RN_ENOTFOUND when the key is empty and there is no
 * group postfix (the socket is then the owner's alone); RN_ECONF when the
 * group named does not exist. The daemon adds it to its supplementary
 * groups before dropping privileges, so that it can give the socket to it.
 */
int feeds_policy_unix_group(const struct feeds_rbl_conf *c, gid_t *gid, char *name, size_t namelen);

/* ------------------------------------------------------------------ */
/* The serve role's local RBL                                           */
/* ------------------------------------------------------------------ */

/*
 * The local RBL of repnetd's serve role: a list view loaded from
 * c->list_file (reloaded in place when the file changes, every
 * c->list_poll), the DNSBL, the policy service and the decision stream
 * (on h, when not NULL), each only when configured; *out is NULL when
 * nothing is configured.
 * Stop with feeds_rbl_stop() after feeds_http_stop(h). Safe on NULL.
 */
struct feeds_rbl;
int feeds_rbl_start(struct feeds_rbl **out, const struct feeds_rbl_conf *c, struct feeds_http *h,
                    struct rn_metrics *m);
/*
 * The same servers over a view the caller owns (the replica): no list
 * file, nothing reloaded here. v must outlive r.
 */
int feeds_rbl_start_view(struct feeds_rbl **out, const struct feeds_rbl_conf *c,
                         const struct feeds_view *v, struct feeds_http *h, struct rn_metrics *m);
/* The DNSBL's port (UDP and TCP; useful with port 0), or 0 without a DNSBL. Safe on NULL. */
unsigned feeds_rbl_dnsbl_port(const struct feeds_rbl *r);
void feeds_rbl_stop(struct feeds_rbl *r);

#ifdef __cplusplus
}
#endif

#endif /* REPNET_FEEDS_RBL_H */
