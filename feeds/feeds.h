/*
 * feeds.h: the feeds library's contract.
 *
 * Feeds move the blocklist between operators and serve it locally: signed
 * snapshots and deltas over nng pub/sub, the replica that applies them,
 * and the consumers of the replica (DNSBL, Postfix policy service,
 * netfilter sync, exports). It also owns the HTTP listener that serves
 * /metrics. Feeds may know scoring and proto; nothing knows feeds but the
 * executables.
 */
#ifndef REPNET_FEEDS_H
#define REPNET_FEEDS_H

#include "proto/proto.h"
#include "scoring/scoring.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Configuration                                                       */
/* ------------------------------------------------------------------ */

/*
 * The "feeds" section is split in tables that share the section name:
 * the bus, signing and federation (feeds_bus_conf_keys); the local RBL,
 * policy service, exports and decision stream (feeds_rbl_conf_keys); and
 * netfilter sync (feeds_sync_conf_keys).
 */
/* One other publisher: a member operator, or this operator's own scorer. */
struct feeds_peer {
	char name[64];
	char key[96];        /* base64 ed25519 public key */
	char *url;           /* its feed (PUB) */
	char *resync;        /* its resync service (REP) */
	double weight;       /* trust weight, for federation */
	int64_t max_per_day; /* new entries a day before the circuit breaker trips; 0: none */
	bool revoked;        /* kept in the keyring to count its messages as revoked */
	bool own;            /* this operator's scorer: served locally, not federated */
};
struct feeds_peers {
	struct feeds_peer *v;
	size_t n;
};

struct feeds_bus_conf {
	uint64_t recv_max;     /* NNG_OPT_RECVMAXSZ on every bus socket */
	char *tls_cert;        /* PEM certificate chain (tls+tcp:// only) */
	char *tls_key;         /* PEM private key */
	char *tls_ca;          /* PEM CA bundle peers must chain to */
	bool tls_verify_peer;  /* listeners require a client certificate */
	char *tls_server_name; /* dialers check the server's name (optional) */
	int64_t reconnect_min_ms;
	int64_t reconnect_max_ms;
	/* Collectors -> scorer. */
	char *ingest_listen;  /* the scorer's REP listener; "" disables */
	char *ingest_url;     /* where collectors send; "" disables */
	int64_t ingest_queue; /* observations a collector buffers */
	int64_t ingest_batch; /* observations per batch, at most */
	int64_t ingest_flush_ms;
	int64_t ingest_timeout_ms;
	int64_t ingest_block_ms;
	/* The feed. */
	char *publisher;     /* this node's publisher name; "" = core.instance */
	char *signing_key;   /* secret key file; "" = data_dir/keys/publisher.key */
	char *pub_listen;    /* PUB listener; "" = not publishing */
	char *resync_listen; /* REP listener of the resync service */
	int64_t heartbeat_ms;
	int64_t snapshot_interval_ms;
	int64_t history; /* deltas kept for resync */
	uint64_t history_bytes;
	int64_t delta_ttl_ms;
	int64_t snapshot_ttl_ms;
	int64_t max_listings; /* cap on a decoded snapshot or delta */
	/* Other publishers, and what is done with them. */
	struct feeds_peers peers;
	char *serve;         /* the peer local consumers serve; "" = this node's publisher */
	int64_t quorum;      /* members that must agree (federation) */
	double weight_alone; /* a member this trusted lists alone; 0 = none */
	int64_t quarantine_add;
	double quarantine_pct;
	int64_t federation_refresh_ms;
	int64_t replica_sweep_ms;
};
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
	char *export_nft_table;
	char *export_nft_set4;
	char *export_nft_set6;
	char *export_ipset4;
	char *export_ipset6;
};
/* Netfilter sync (feeds_sync_conf_keys, "sync.*"); see below. */
struct feeds_sync_conf {
	int backend;                 /* enum feeds_sync_backend */
	char *table;                 /* "inet repnet": family and name */
	char *ipset_prefix;          /* ipset set names start with this */
	bool per_category;           /* one group of sets per category */
	unsigned hooks;              /* FEEDS_SYNC_HOOK_* base chains to create */
	int64_t priority;            /* of those base chains */
	struct rn_prefix_list allow; /* never dropped: accept rules first */
	int64_t size_min;            /* smallest declared size of a hash set */
	int64_t headroom_pct;        /* declared size = elements * (100 + this) / 100 */
	int64_t max_elements;        /* per set; more is refused */
	int64_t min_prefix4;         /* shorter IPv4 prefixes are refused */
	int64_t min_prefix6;         /* shorter IPv6 prefixes are refused */
	int64_t swap_pct;            /* a repair touching more than this % loads a fresh set */
	int64_t reconcile_ms;        /* compare (and dump if needed) this often */
	int64_t dump_ms;             /* dump even when the generation held, this often */
	int64_t timeout_ms;          /* how long to wait for the applier */
	char *applier;               /* path of repnet-nfsync; NULL: beside the executable */
};
struct feeds_conf {
	struct feeds_bus_conf bus;
	struct feeds_rbl_conf rbl;
	struct feeds_sync_conf sync;
};
extern const struct rn_conf_key feeds_bus_conf_keys[];
extern const struct rn_conf_key feeds_rbl_conf_keys[];
extern const struct rn_conf_key feeds_sync_conf_keys[];

/* ------------------------------------------------------------------ */
/* The blocklist view: what local consumers read                        */
/* ------------------------------------------------------------------ */

/*
 * The local consumers of a member's blocklist (the DNSBL, the policy
 * service, exports, the decision stream, netfilter sync) read it through
 * this interface. The replica implements it over the live state, updated
 * in place as deltas arrive; tests may implement it over a fixed list.
 *
 * Categories are a bitmask: bit c is set for enum rn_category c.
 */
struct feeds_view_entry {
	struct rn_prefix prefix; /* a host is /32 or /128 */
	uint32_t categories;
	int64_t expires_ms;
};

enum feeds_view_change {
	FEEDS_VIEW_ADDED = 1,
	FEEDS_VIEW_REMOVED = 2,
};

struct feeds_view {
	void *arg;
	/*
	 * The categories listing a, or 0; *expires_ms gets the latest expiry
	 * among them. The most specific listing covering a counts (a host
	 * listing, else the longest listed prefix). Called concurrently from
	 * many threads while the replica changes: it must be lock-free or
	 * nearly so, and allocate nothing.
	 */
	uint32_t (*lookup)(void *arg, const struct rn_addr *a, int64_t *expires_ms);
	/*
	 * Calls fn for every entry of one consistent state, in address order,
	 * and returns that state's version. fn returning non-zero stops the
	 * walk and is returned.
	 */
	int (*walk)(void *arg, int (*fn)(void *fnarg, const struct feeds_view_entry *e),
	            void *fnarg, uint64_t *version);
	/*
	 * Calls fn for each change after version `since` up to the current
	 * version (returned in *version), oldest first. RN_ENOTFOUND when the
	 * history no longer reaches back to `since`: the caller must walk the
	 * full state instead.
	 */
	int (*changes)(void *arg, uint64_t since,
	               int (*fn)(void *fnarg, enum feeds_view_change what,
	                         const struct feeds_view_entry *e),
	               void *fnarg, uint64_t *version);
};

/* ------------------------------------------------------------------ */
/* The list view: a blocklist held in memory                          */
/* ------------------------------------------------------------------ */

/*
 * A feeds_view over a list held in memory, updated in place while it is
 * read. IPv4 hosts are kept in 65536 buckets keyed by the upper 16 bits,
 * each a small sorted array of the lower 16 bits with a one-byte class
 * (categories and expiry); prefixes and IPv6 in per-length sorted
 * tables. Readers take no lock: updates copy the buckets they change and
 * free the old ones only after every reader that could see them is gone.
 * At 1M random IPv4 hosts it holds about 3 MB.
 *
 * It is what the serve role reads until the replica is wired, what
 * `repnet export` reads, and what the tests apply "deltas" to.
 */
struct feeds_listview;

/*
 * history is how many changes the view remembers for feeds_view.changes
 * (0: none; the decision stream then always sends the full state). Free
 * with feeds_listview_free().
 */
int feeds_listview_alloc(struct feeds_listview **out, size_t history);
/* Safe on NULL. No reader may be inside the view. */
void feeds_listview_free(struct feeds_listview *lv);
/* Fills v with the view's functions; v is valid while lv lives. */
void feeds_listview_view(struct feeds_listview *lv, struct feeds_view *v);

/*
 * Applies one batch: entries in add are inserted or replace the entry of
 * the same prefix; prefixes in del are removed (absent ones are ignored).
 * The batch becomes one new version. Entries must have categories != 0
 * and a prefix with zero host bits (RN_EPARSE otherwise). More than 254
 * distinct (categories, expiry) pairs among IPv4 hosts is RN_ELIMIT. On
 * failure nothing changed. Writers are serialised internally.
 */
int feeds_listview_apply(struct feeds_listview *lv, const struct feeds_view_entry *add, size_t nadd,
                         const struct rn_prefix *del, size_t ndel);
/*
 * Makes the content equal to e[0..n) (duplicates: the last wins) by
 * applying the difference as one batch. e is reordered.
 */
int feeds_listview_replace(struct feeds_listview *lv, struct feeds_view_entry *e, size_t n);
/* Number of entries, and bytes held by the lookup structure. */
size_t feeds_listview_count(struct feeds_listview *lv);
size_t feeds_listview_memory(struct feeds_listview *lv);
uint64_t feeds_listview_version(struct feeds_listview *lv);

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
 * Reads a list file into a freshly allocated array of view entries:
 * entries without categories get default_cats. *out is freed by the
 * caller with free(). At most max_entries entries (RN_ELIMIT past it).
 */
int feeds_import_file(const char *path, enum feeds_list_format fmt, uint32_t default_cats,
                      size_t max_entries, struct feeds_view_entry **out, size_t *n,
                      struct feeds_import_stats *st);

/*
 * Writes the view's current state in fmt (plain, json, rbldnsd, nft,
 * ipset) to a malloc'd buffer *out of *len bytes that the caller frees.
 * The rbldnsd file's SOA, NS, TTL, A codes and TXT, and the set names,
 * come from c. version, if not NULL, gets the state's version.
 */
int feeds_export(const struct feeds_view *v, enum feeds_list_format fmt,
                 const struct feeds_rbl_conf *c, char **out, size_t *len, uint64_t *version);

/* ------------------------------------------------------------------ */
/* DNSBL server                                                        */
/* ------------------------------------------------------------------ */

/*
 * repnet's DNS responder for its zones (c->dnsbl_zones) over UDP and TCP
 * on every c->dnsbl_listen address. c->dnsbl_workers UDP threads each own
 * an SO_REUSEPORT socket per address and answer batches with recvmmsg and
 * sendmmsg; one thread serves TCP. Answers come from v at query time, so
 * updates of the view show at once. c and v must outlive the server. Free
 * with feeds_dnsbl_stop().
 */
struct feeds_dnsbl;
int feeds_dnsbl_start(struct feeds_dnsbl **out, const struct feeds_rbl_conf *c,
                      const struct feeds_view *v, struct rn_metrics *m);
/* The port bound (the same for UDP and TCP; useful with port 0). */
unsigned feeds_dnsbl_port(const struct feeds_dnsbl *d);
/* Stops the threads, closes the sockets and frees d. Safe on NULL. */
void feeds_dnsbl_stop(struct feeds_dnsbl *d);

/* ------------------------------------------------------------------ */
/* Postfix policy service                                              */
/* ------------------------------------------------------------------ */

/*
 * Postfix's policy delegation protocol (check_policy_service) on
 * c->policy_listen (TCP) and c->policy_unix (a unix socket), served by
 * one thread. Connections stay open across requests. Free with
 * feeds_policy_stop().
 */
struct feeds_policy;
int feeds_policy_start(struct feeds_policy **out, const struct feeds_rbl_conf *c,
                       const struct feeds_view *v, struct rn_metrics *m);
unsigned feeds_policy_port(const struct feeds_policy *p);
void feeds_policy_stop(struct feeds_policy *p);

/* ------------------------------------------------------------------ */
/* Signing keys, keyring and envelopes                                 */
/* ------------------------------------------------------------------ */

/*
 * Publishers sign with ed25519 (libsodium). A key id is the first 8 bytes
 * of BLAKE2b over the public key. Key files are one line of text:
 *
 *   repnet-ed25519-secret-v1 <base64 32-byte seed>     (mode 0600)
 *   repnet-ed25519-public-v1 <base64 32-byte key>      (mode 0644)
 *
 * The base64 public key is also what a member's keyring configuration
 * holds.
 */
#define FEEDS_KEY_ID_LEN 8
#define FEEDS_SIG_LEN    64
#define FEEDS_PUBKEY_B64 45 /* 44 characters and a NUL */

/*
 * Makes a new key pair and writes both files; refuses to overwrite an
 * existing secret. pub_b64 (FEEDS_PUBKEY_B64 bytes) receives the public
 * key.
 */
int feeds_key_generate(const char *secret_path, const char *public_path, char *pub_b64);

/* A publisher's signing key. */
struct feeds_signer;
/*
 * Loads a secret key file. A file readable by group or others is refused.
 * name is the publisher name written into payloads. Free with
 * feeds_signer_free().
 */
int feeds_signer_load(struct feeds_signer **out, const char *secret_path, const char *name);
void feeds_signer_free(struct feeds_signer *s);
const char *feeds_signer_name(const struct feeds_signer *s);
void feeds_signer_public(const struct feeds_signer *s, char *pub_b64);
void feeds_signer_key_id(const struct feeds_signer *s, uint8_t id[FEEDS_KEY_ID_LEN]);

/* Trusted publishers, by name and public key. */
struct feeds_keyring;
int feeds_keyring_alloc(struct feeds_keyring **out);
void feeds_keyring_free(struct feeds_keyring *k);
/*
 * Adds a publisher. A revoked key stays in the ring so that its messages
 * are counted as revoked rather than unknown. RN_EEXIST if the name or
 * the key is there already; RN_EPARSE for a malformed key.
 */
int feeds_keyring_add(struct feeds_keyring *k, const char *name, const char *pub_b64, bool revoked);

/*
 * Signs payload (a serialised repnet.v1.SignedPayload) into a
 * repnet.v1.Envelope. On success *out is malloc'd (*outlen bytes) and the
 * caller frees it.
 */
int feeds_envelope_seal(const struct feeds_signer *s, const uint8_t *payload, size_t len,
                        uint8_t **out, size_t *outlen);

/*
 * Verifies an envelope before anything inside it is parsed. The outer
 * message is read strictly (known fields once each, exact lengths), the
 * key id is looked up (RN_EKEY: unknown or revoked, with *revoked set),
 * and the signature is checked over the exact payload bytes (RN_ESIG).
 * Malformed input is RN_EPARSE, RN_ETRUNC or RN_EVERSION. On success
 * *payload points into buf (no copy) and *publisher names the key's owner
 * in the keyring. Allocates nothing.
 */
int feeds_envelope_open(const struct feeds_keyring *k, const uint8_t *buf, size_t len,
                        const uint8_t **payload, size_t *plen, const char **publisher,
                        bool *revoked);

/* ------------------------------------------------------------------ */
/* Observation ingest: collectors -> scorer                            */
/* ------------------------------------------------------------------ */

/*
 * Collectors send repnet.v1.ObservationBatch messages to the scorer over
 * nng REQ/REP; the scorer answers each with a repnet.v1.BatchAck only
 * after the batch is durable. A collector keeps a batch, byte for byte and
 * with the same batch_seq, until it is acknowledged, so a lost reply only
 * causes a resend, which the scorer recognises and acknowledges again
 * without ingesting twice.
 */

/*
 * The scorer's handler, called on the ingest thread for each new batch.
 * Return RN_OK only once the observations are durable (the batch is then
 * acknowledged); RN_EPARSE or RN_ELIMIT to refuse the batch for good; any
 * other error to make the collector retry later.
 */
typedef int (*feeds_ingest_fn)(void *arg, const struct rn_obs_batch_meta *meta,
                               const struct rn_obs *obs, size_t n);

struct feeds_ingest_server;
/* Listens on conf->ingest_listen. Free with feeds_ingest_server_stop(). */
int feeds_ingest_server_start(struct feeds_ingest_server **out, const struct feeds_bus_conf *conf,
                              struct rn_metrics *m, feeds_ingest_fn fn, void *arg);
/* The TCP port bound (useful with a ":0" URL). */
unsigned feeds_ingest_server_port(const struct feeds_ingest_server *s);
/* Stops after the batch in hand, if any. Safe on NULL. */
void feeds_ingest_server_stop(struct feeds_ingest_server *s);

struct feeds_ingest_client;
/*
 * Dials conf->ingest_url (or url, when not NULL) and starts the sender
 * thread. reporter is the operator's 8-byte pseudonymous id. Free with
 * feeds_ingest_client_stop().
 */
int feeds_ingest_client_start(struct feeds_ingest_client **out, const struct feeds_bus_conf *conf,
                              const char *url, struct rn_metrics *m, const uint8_t reporter[8]);
/*
 * Queues n observations (copied). Waits up to conf->ingest_block for room;
 * what still does not fit is dropped and counted. Returns the number
 * taken. Each observation taken gets the next position (1, 2, ...); *pos,
 * if not NULL, gets the position of the last one taken. Thread-safe.
 */
size_t feeds_ingest_client_submit(struct feeds_ingest_client *c, const struct rn_obs *obs, size_t n,
                                  uint64_t *pos);
/*
 * Every observation at or below this position has been acknowledged by
 * the scorer (or refused by it for good). Sources that remember where
 * they are (a tailed file) persist only positions whose observations are
 * acknowledged.
 */
uint64_t feeds_ingest_client_acked(struct feeds_ingest_client *c);
/*
 * Waits up to grace_ms for the queue to be acknowledged, then stops and
 * frees c. Returns how many observations were left unacknowledged (they
 * are counted as lost). Safe on NULL.
 */
size_t feeds_ingest_client_stop(struct feeds_ingest_client *c, int64_t grace_ms);

/* ------------------------------------------------------------------ */
/* The feed: publisher and subscribers                                 */
/* ------------------------------------------------------------------ */

/* Where a feed stands, for status output and tests. */
enum feeds_reject {
	FEEDS_REJ_MALFORMED,       /* framing, payload or body did not decode */
	FEEDS_REJ_UNKNOWN_KEY,     /* key id not in the keyring */
	FEEDS_REJ_REVOKED_KEY,     /* key id of a revoked key */
	FEEDS_REJ_BAD_SIGNATURE,   /* signature does not verify */
	FEEDS_REJ_WRONG_PUBLISHER, /* a trusted key, but not this feed's publisher */
	FEEDS_REJ_EXPIRED,         /* past its expires_ms */
	FEEDS_REJ_EPOCH_ROLLBACK,  /* an epoch older than the one held */
	FEEDS_REJ_REPLAY,          /* a sequence not newer than the one held */
	FEEDS_REJ_BASE_DIGEST,     /* a delta for a state with another digest */
	FEEDS_REJ_DIGEST_MISMATCH, /* the result would not have the signed digest */
	FEEDS_REJ_INCONSISTENT,    /* the delta does not fit the state held */
	FEEDS_REJ_QUARANTINED,     /* held back by the circuit breaker */
	FEEDS_REJ_GAP,             /* not a rejection: a missing message, resyncing */
	FEEDS_REJ_COUNT
};
const char *feeds_reject_name(enum feeds_reject r);

struct feeds_feed_status {
	char publisher[64];
	uint64_t epoch, seq;
	uint8_t digest[32];
	uint64_t listed;
	int64_t last_change_ms;
	bool in_sync;
	bool quarantined;
	uint64_t rejected[FEEDS_REJ_COUNT];
};

/*
 * The publisher: signs every message with its key, publishes deltas as
 * the blocklist changes, heartbeats and periodic snapshots, and serves
 * resync requests. Each start is a new epoch (persisted in
 * data_dir/feeds/publisher.epoch) opened by a snapshot. Free with
 * feeds_pub_stop(); the signer must outlive the publisher.
 */
struct feeds_pub;
struct feeds_pub_opts {
	const char *data_dir;
	const struct feeds_signer *signer;
	struct rn_metrics *metrics; /* may be NULL */
};
int feeds_pub_start(struct feeds_pub **out, const struct feeds_bus_conf *conf,
                    const struct feeds_pub_opts *o, struct scoring_table *initial);
/*
 * Publishes the change to table t. d is the delta from the table given
 * last (the scorer's own), or NULL to have the publisher compute it; a d
 * that does not lead to t's digest is recomputed. Refuses a dry-run table
 * (RN_ESTATE). Thread-safe; t is referenced, not taken.
 */
int feeds_pub_update(struct feeds_pub *p, struct scoring_table *t, const struct scoring_delta *d);
unsigned feeds_pub_port(const struct feeds_pub *p);
unsigned feeds_pub_resync_port(const struct feeds_pub *p);
void feeds_pub_status(struct feeds_pub *p, struct feeds_feed_status *st);
void feeds_pub_stop(struct feeds_pub *p);

/* What a subscriber saw in one authenticated message. */
struct feeds_msg_info {
	const char *kind; /* "snapshot", "delta" or "heartbeat" */
	uint64_t epoch, seq;
	int64_t time_ms, expires_ms;
	uint8_t digest[32];
	uint64_t added, removed; /* listings, for deltas */
	uint64_t listed;         /* entries, for snapshots and heartbeats */
	int result;              /* RN_OK: applied (or current); else why not */
};

/*
 * A subscription to one publisher. on_change, if set, is called on the
 * subscription's thread after each applied change with the old table
 * (NULL at first), the new one, and the delta (NULL for a snapshot).
 */
struct feeds_sub;
struct feeds_sub_opts {
	const char *data_dir;                  /* data_dir/feeds/sub-NAME.state */
	const struct feeds_keyring *keyring;   /* must outlive the subscription */
	const struct scoring_protect *protect; /* never-block here; may be NULL */
	struct scoring_decode_limits limits;
	struct rn_metrics *metrics; /* may be NULL */
	/* The circuit breaker, for other members' feeds. */
	bool breaker;
	int64_t quarantine_add; /* more added at once: held back */
	double quarantine_pct;  /* more than this % of the size: held back */
	int64_t max_per_day;    /* more added in a day: held back */
	/* Test hook: lose this many per mille of received messages. */
	unsigned drop_permille;
	/* No sockets and no thread: the caller feeds messages (tests, fuzzing). */
	bool offline;
	/* No state file: nothing survives the process (repnet sub). */
	bool ephemeral;
	/* Called for every authenticated message, applied or not (repnet sub). */
	void (*on_message)(void *arg, struct feeds_sub *s, const struct feeds_msg_info *m);
	void (*on_change)(void *arg, struct feeds_sub *s, const struct scoring_table *old_t,
	                  const struct scoring_table *new_t, const struct scoring_delta *d);
	void *arg;
};
int feeds_sub_start(struct feeds_sub **out, const struct feeds_bus_conf *conf, const char *name,
                    const char *pub_url, const char *resync_url, const struct feeds_sub_opts *o);
/* A reference on the current state, or NULL before the first. */
struct scoring_table *feeds_sub_table(struct feeds_sub *s);
/* Bumped on every applied change: cheap to poll. */
uint64_t feeds_sub_version(const struct feeds_sub *s);
const char *feeds_sub_name(const struct feeds_sub *s);
void feeds_sub_status(struct feeds_sub *s, struct feeds_feed_status *st);
void feeds_sub_stop(struct feeds_sub *s);

/*
 * Federation: other members' feeds become observations of kind
 * RN_KIND_PEER_LISTED for the local scorer, but only for entries that at
 * least `quorum` members list, or that one member of weight >=
 * weight_alone lists. Subscribe to each member with the circuit breaker
 * on, register it with feeds_federation_add() before it starts, and give
 * it feeds_federation_on_change (arg: the federation) as its on_change.
 */
struct feeds_federation;
struct feeds_federation_opts {
	int64_t quorum;                        /* k of the members */
	double weight_alone;                   /* 0: no member lists alone */
	int64_t refresh_ms;                    /* re-offer agreed entries this often */
	const struct scoring_protect *protect; /* never offered; may be NULL */
	/* Where observations go (the local scorer's ingest). */
	void (*emit)(void *arg, const struct rn_obs *obs, size_t n);
	void *arg;
	struct rn_metrics *metrics; /* may be NULL */
	bool no_thread;             /* no periodic refresh (tests) */
};
int feeds_federation_start(struct feeds_federation **out, const struct feeds_federation_opts *o);
int feeds_federation_add(struct feeds_federation *f, const struct feeds_sub *s, const char *name,
                         double weight);
void feeds_federation_on_change(void *arg, struct feeds_sub *s, const struct scoring_table *old_t,
                                const struct scoring_table *new_t, const struct scoring_delta *d);
/* Re-offers everything now (the periodic refresh, for tests). */
void feeds_federation_refresh(struct feeds_federation *f);
void feeds_federation_stop(struct feeds_federation *f);

/*
 * The replica: the member's live blocklist for local consumers, a list
 * view kept equal to one subscription's enforceable entries. Give the
 * subscription feeds_replica_on_change (arg: the replica) as its
 * on_change. Listings past their expiry are swept out every sweep_ms, so
 * a feed that stops decays to empty. Free with feeds_replica_free() after
 * the subscription and every reader have stopped.
 */
struct feeds_replica;
int feeds_replica_alloc(struct feeds_replica **out, size_t history, int64_t sweep_ms,
                        struct rn_metrics *m);
void feeds_replica_on_change(void *arg, struct feeds_sub *s, const struct scoring_table *old_t,
                             const struct scoring_table *new_t, const struct scoring_delta *d);
void feeds_replica_view(struct feeds_replica *r, struct feeds_view *v);
size_t feeds_replica_count(struct feeds_replica *r);
/* Drops the listings expired at now_ms; returns how many (the sweeper's work). */
size_t feeds_replica_sweep(struct feeds_replica *r, int64_t now_ms);
void feeds_replica_free(struct feeds_replica *r);

/*
 * repnetd's sync role: netfilter sets (feeds_nfsync) follow a view's
 * change log on a thread of their own. view must outlive it. Free with
 * feeds_sync_stop().
 */
struct feeds_sync;
int feeds_sync_start(struct feeds_sync **out, const struct feeds_sync_conf *conf,
                     const struct feeds_view *view, struct rn_metrics *m);
void feeds_sync_stop(struct feeds_sync *s);

/* ------------------------------------------------------------------ */
/* HTTP listener                                                       */
/* ------------------------------------------------------------------ */

/*
 * GET /metrics renders the registry in the Prometheus text format. listen
 * is "host:port" (port 0 picks a free one). The registry must outlive the
 * listener. Free with feeds_http_stop().
 */
struct feeds_http;
int feeds_http_start(struct feeds_http **out, const char *listen, struct rn_metrics *m);
/* The port actually bound. */
unsigned feeds_http_port(const struct feeds_http *h);
/* Stops serving, waits for handlers in flight, and frees h. Safe on NULL. */
void feeds_http_stop(struct feeds_http *h);

/*
 * A further GET handler on the listener. fn runs on nng's HTTP threads,
 * concurrently; it gets the request's path with its query string and a
 * header lookup, and fills *status (200 when left alone), *body (malloc'd;
 * the listener frees it) and *ctype (static). Register before traffic
 * arrives; a handler lives as long as the listener.
 */
struct feeds_http_req {
	const char *uri; /* path and query, as received */
	const char *(*header)(const struct feeds_http_req *r, const char *name);
	void *impl_;
};
typedef void (*feeds_http_fn)(void *arg, const struct feeds_http_req *req, int *status, char **body,
                              size_t *len, const char **ctype);
int feeds_http_handle(struct feeds_http *h, const char *path, feeds_http_fn fn, void *arg);

/* ------------------------------------------------------------------ */
/* CrowdSec-compatible decision stream                                 */
/* ------------------------------------------------------------------ */

/*
 * GET /v1/decisions/stream?startup=true|false for CrowdSec bouncers. A
 * request without a configured X-Api-Key gets 403. Each key has its own
 * position: it gets the changes since its last poll, or the full state on
 * startup=true or when the view's history no longer reaches back. c and v
 * must outlive the listener. Free with feeds_decisions_free() after
 * feeds_http_stop().
 */
struct feeds_decisions;
int feeds_decisions_start(struct feeds_decisions **out, struct feeds_http *h,
                          const struct feeds_rbl_conf *c, const struct feeds_view *v,
                          struct rn_metrics *m);
void feeds_decisions_free(struct feeds_decisions *d);

/* ------------------------------------------------------------------ */
/* The serve role's local RBL                                           */
/* ------------------------------------------------------------------ */

/*
 * Everything above wired together for repnetd's serve role: a list view
 * loaded from c->list_file (reloaded in place when the file changes, every
 * c->list_poll), the DNSBL, the policy service and the decision stream
 * (on h, when not NULL), each only when configured. Until the replica is
 * wired this is what serves; *out is NULL when nothing is configured.
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
void feeds_rbl_stop(struct feeds_rbl *r);

/* ------------------------------------------------------------------ */
/* Netfilter sync                                                      */
/* ------------------------------------------------------------------ */

/*
 * Keeps kernel sets equal to a desired blocklist: nftables sets in one
 * table of repnet's own (default "inet repnet"), or ipset sets for hosts
 * that still run iptables. Single addresses go to hash sets ("v4", "v6"),
 * prefixes to interval sets ("net4", "net6"), normalised so that their
 * elements never overlap; with sync.per_category each category gets its
 * own group ("spam_source_v4", ...). Every change is one nfnetlink
 * transaction; bulk loads and resizes build a fresh set and swap it in
 * within the same transaction, so the live set never goes empty.
 *
 * CAP_NET_ADMIN lives only in the applier, a small process (repnet-nfsync)
 * the engine spawns and talks to over a socketpair. The engine itself
 * needs no privilege.
 *
 * The engine is not thread-safe: one thread (the sync role's) calls it.
 * The desired state is the engine's; the caller only describes it. After
 * a failure (the kernel refused, the applier died, an answer was lost)
 * the desired state still holds the change, the kernel is known to be
 * behind, and feeds_nfsync_tick() resynchronises it from a dump at once.
 */
enum feeds_sync_backend {
	FEEDS_SYNC_NFT = 0,
	FEEDS_SYNC_IPSET = 1,
};
#define FEEDS_SYNC_HOOK_INPUT   0x1u
#define FEEDS_SYNC_HOOK_FORWARD 0x2u

/* One listing: an address (a host prefix) or a prefix, and its category. */
struct feeds_nfsync_entry {
	struct rn_prefix prefix;
	uint8_t category; /* enum rn_category */
};

/* What one call did, for logs and the CLI. Counts are elements. */
struct feeds_nfsync_report {
	uint64_t added;   /* elements (or ranges) added to the kernel */
	uint64_t removed; /* elements (or ranges) removed from it */
	uint64_t missing; /* reconcile: wanted, but not in the kernel */
	uint64_t extra;   /* reconcile: in the kernel, but not wanted */
	uint64_t refused; /* entries refused (prefix too short, set full) */
	uint32_t swaps;   /* sets loaded fresh and swapped in */
	uint32_t created; /* sets created */
	uint32_t deleted; /* sets deleted */
	bool chains;      /* the chains were (re)built */
	uint32_t ops;     /* operations in the transaction */
	int64_t txn_us;   /* time from BEGIN to the applier's answer */
	int64_t total_us; /* time of the whole call */
};

struct feeds_nfsync;

/*
 * Spawns the applier and checks that it answers. Does not touch the
 * kernel: call feeds_nfsync_load() (or _adopt()) next. m may be NULL; else
 * the engine registers its metrics there (unregistered by _close()).
 * conf is copied. Free with feeds_nfsync_close().
 */
int feeds_nfsync_open(struct feeds_nfsync **out, const struct feeds_sync_conf *conf,
                      struct rn_metrics *m);
/* Stops the applier (an open transaction is abandoned) and frees s. */
void feeds_nfsync_close(struct feeds_nfsync *s);

/*
 * Replaces the desired state with v[0..n) and makes the kernel equal to
 * it: lists and dumps what is there, and applies the difference in one
 * transaction (a fresh set where a set is missing, too small, or would
 * change by more than sync.swap). Entries that are invalid for the sync
 * (a prefix shorter than sync.min_prefix4/6, an unknown category) are
 * counted in rep->refused and left out. rep may be NULL.
 */
int feeds_nfsync_load(struct feeds_nfsync *s, const struct feeds_nfsync_entry *v, size_t n,
                      struct feeds_nfsync_report *rep);

/*
 * A delta: removes del[0..ndel), then adds add[0..nadd), and applies the
 * net change to the kernel as one transaction. Removing an entry that is
 * not listed, or adding one that is, changes nothing. On failure the
 * desired state keeps the delta and the kernel is resynchronised by the
 * next feeds_nfsync_tick().
 */
int feeds_nfsync_apply(struct feeds_nfsync *s, const struct feeds_nfsync_entry *add, size_t nadd,
                       const struct feeds_nfsync_entry *del, size_t ndel,
                       struct feeds_nfsync_report *rep);

/*
 * Dumps the kernel sets, compares them with the desired state, counts the
 * drift (missing, extra) in rep and the metrics, and repairs it in one
 * transaction planned against the ruleset generation it dumped (retried
 * when someone else changed the ruleset in between).
 */
int feeds_nfsync_reconcile(struct feeds_nfsync *s, struct feeds_nfsync_report *rep);

/*
 * Takes what the kernel holds as the desired state (category unspecified),
 * for one-shot tools that change a running blocklist by hand.
 */
int feeds_nfsync_adopt(struct feeds_nfsync *s);

/*
 * Periodic work: reconciles every sync.reconcile_interval, and at once
 * when the kernel is behind after a failure (respawning the applier if it
 * died). *next_ms (may be NULL) gets the monotonic time of the next due
 * call. Returns the result of the reconcile it ran, or RN_OK.
 */
int feeds_nfsync_tick(struct feeds_nfsync *s, int64_t now_ms, int64_t *next_ms);

/* One element as the kernel holds it: lo == hi for a single address. */
struct feeds_nfsync_item {
	const char *set; /* the set's name, e.g. "v4" or "repnet_net6" */
	struct rn_addr lo;
	struct rn_addr hi;
};
/*
 * Dumps every set of ours from the kernel through the applier and calls
 * cb for each element; a non-zero return from cb stops the walk and is
 * returned.
 */
int feeds_nfsync_dump(struct feeds_nfsync *s,
                      int (*cb)(const struct feeds_nfsync_item *it, void *arg), void *arg);

/* Removes every kernel object of ours (the table, or our ipsets). */
int feeds_nfsync_destroy(struct feeds_nfsync *s);

/*
 * Applies the keys that may change without a restart (the reconcile and
 * dump intervals) from a reloaded configuration.
 */
void feeds_nfsync_reload(struct feeds_nfsync *s, const struct feeds_sync_conf *conf);

/* The applier's process id (for tests that kill it), or -1. */
int feeds_nfsync_applier_pid(const struct feeds_nfsync *s);
/* True when the kernel is known to equal the desired state. */
bool feeds_nfsync_in_sync(const struct feeds_nfsync *s);

/*
 * The applier's main(): src/repnet-nfsync is only this. It drops every
 * capability but CAP_NET_ADMIN and serves the engine on --fd.
 */
int feeds_nfsync_applier_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif /* REPNET_FEEDS_H */
