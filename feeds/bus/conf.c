/*
 * conf.c: the feeds' configuration keys.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feeds/bus/bus.h"

/*
 * bus.peers: a list of groups, one per other publisher:
 *
 *   peers = ( { name = "member02"; key = "base64..."; url = "tls+tcp://m2:7401";
 *               resync = "tls+tcp://m2:7402"; weight = 1.0; max_per_day = 200000;
 *               revoked = false; own = false; } );
 *
 * resync defaults to the feed's port + 1.
 */
static void peers_release(void *field)
{
	struct feeds_peers *p = field;
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].url);
		free(p->v[i].resync);
	}
	free(p->v);
	p->v = NULL;
	p->n = 0;
}

static bool peers_equal(const void *a, const void *b)
{
	const struct feeds_peers *x = a, *y = b;
	if (x->n != y->n)
		return false;
	for (size_t i = 0; i < x->n; i++) {
		const struct feeds_peer *p = &x->v[i], *q = &y->v[i];
		if (strcmp(p->name, q->name) != 0 || strcmp(p->key, q->key) != 0 ||
		    strcmp(p->url ? p->url : "", q->url ? q->url : "") != 0 ||
		    strcmp(p->resync ? p->resync : "", q->resync ? q->resync : "") != 0 ||
		    p->weight != q->weight || p->max_per_day != q->max_per_day ||
		    p->revoked != q->revoked || p->own != q->own)
			return false;
	}
	return true;
}

static bool url_ok(const char *u)
{
	const char *s = strstr(u, "://");
	return s != NULL && s != u && s[3] != '\0' && strlen(u) < 512;
}

/*
 * The part of a peer's or a collector's group that names a key: only the
 * known members, a name (no spaces, slashes, quotes or control
 * characters: it goes into logs, metrics labels and file names) and a
 * base64 ed25519 public key. what is "peer" or "collector".
 */
static int parse_named_key(const struct rn_conf_node *g, const char *what, const char *const *known,
                           size_t nknown, char name[64], char key[96], char *err, size_t len)
{
	int line = rn_conf_node_line(g);
	const char *s;
	if (!rn_conf_node_is_group(g)) {
		snprintf(err, len, "line %d: a %s is a group { name = ...; key = ...; }", line,
		         what);
		return RN_ECONF;
	}
	for (size_t i = 0; i < rn_conf_node_count(g); i++) {
		const char *n = rn_conf_node_name(rn_conf_node_child(g, i));
		bool ok = false;
		for (size_t k = 0; k < nknown; k++)
			ok = ok || (n != NULL && strcmp(n, known[k]) == 0);
		if (!ok) {
			snprintf(err, len, "line %d: unknown %s key \"%s\"",
			         rn_conf_node_line(rn_conf_node_child(g, i)), what, n ? n : "");
			return RN_ECONF;
		}
	}
	bool named = rn_conf_node_string(rn_conf_node_member(g, "name"), &s) == RN_OK &&
	             s[0] != '\0' && strlen(s) < 64 && strpbrk(s, "/\"\\ ") == NULL;
	for (const char *c = named ? s : ""; *c != '\0'; c++)
		named = named && (uint8_t)*c >= 0x20 && *c != 0x7f;
	if (!named) {
		snprintf(err, len, "line %d: a %s needs a name (no spaces, slashes or quotes)",
		         line, what);
		return RN_ECONF;
	}
	snprintf(name, 64, "%s", s);
	if (rn_conf_node_string(rn_conf_node_member(g, "key"), &s) != RN_OK || strlen(s) >= 96) {
		snprintf(err, len, "line %d: %s %s needs its public key (repnet keygen)", line,
		         what, name);
		return RN_ECONF;
	}
	snprintf(key, 96, "%s", s);
	struct feeds_keyring *kr;
	if (feeds_keyring_alloc(&kr) == RN_OK) {
		int rc = feeds_keyring_add(kr, name, key, false);
		feeds_keyring_free(kr);
		if (rc == RN_EPARSE) {
			snprintf(err, len, "line %d: %s %s: the key is not a base64 ed25519 key",
			         line, what, name);
			return RN_ECONF;
		}
	}
	return RN_OK;
}

static int parse_one_peer(const struct rn_conf_node *g, struct feeds_peer *p, char *err, size_t len)
{
	static const char *const known[] = {"name",   "key",         "url",     "resync",
	                                    "weight", "max_per_day", "revoked", "own"};
	int line = rn_conf_node_line(g);
	const char *s;
	int rc = parse_named_key(g, "peer", known, RN_ARRAY_LEN(known), p->name, p->key, err, len);
	if (rc != RN_OK)
		return rc;
	p->weight = 1.0;
	const struct rn_conf_node *n;
	if ((n = rn_conf_node_member(g, "weight")) != NULL &&
	    (rn_conf_node_double(n, &p->weight) != RN_OK || p->weight < 0 || p->weight > 1000)) {
		snprintf(err, len, "line %d: peer %s: weight is a number from 0 to 1000",
		         rn_conf_node_line(n), p->name);
		return RN_ECONF;
	}
	if ((n = rn_conf_node_member(g, "max_per_day")) != NULL &&
	    (rn_conf_node_int(n, &p->max_per_day) != RN_OK || p->max_per_day < 0)) {
		snprintf(err, len, "line %d: peer %s: max_per_day is a count", rn_conf_node_line(n),
		         p->name);
		return RN_ECONF;
	}
	if ((n = rn_conf_node_member(g, "revoked")) != NULL &&
	    rn_conf_node_bool(n, &p->revoked) != RN_OK) {
		snprintf(err, len, "line %d: peer %s: revoked is true or false",
		         rn_conf_node_line(n), p->name);
		return RN_ECONF;
	}
	if ((n = rn_conf_node_member(g, "own")) != NULL && rn_conf_node_bool(n, &p->own) != RN_OK) {
		snprintf(err, len, "line %d: peer %s: own is true or false", rn_conf_node_line(n),
		         p->name);
		return RN_ECONF;
	}
	if ((n = rn_conf_node_member(g, "url")) != NULL) {
		if (rn_conf_node_string(n, &s) != RN_OK || !url_ok(s)) {
			snprintf(err, len,
			         "line %d: peer %s: url is a bus URL (tcp://, tls+tcp://)",
			         rn_conf_node_line(n), p->name);
			return RN_ECONF;
		}
		if ((p->url = strdup(s)) == NULL)
			return -ENOMEM;
	} else if (!p->revoked) {
		snprintf(err, len, "line %d: peer %s needs a url (or revoked = true)", line,
		         p->name);
		return RN_ECONF;
	}
	if ((n = rn_conf_node_member(g, "resync")) != NULL) {
		if (rn_conf_node_string(n, &s) != RN_OK || !url_ok(s)) {
			snprintf(err, len, "line %d: peer %s: resync is a bus URL",
			         rn_conf_node_line(n), p->name);
			return RN_ECONF;
		}
		if ((p->resync = strdup(s)) == NULL)
			return -ENOMEM;
	} else if (p->url != NULL) {
		/* The feed's port + 1, the default layout. */
		const char *colon = strrchr(p->url, ':');
		char *end;
		long port = colon ? strtol(colon + 1, &end, 10) : 0;
		if (colon == NULL || *end != '\0' || port <= 0 || port >= 65535) {
			snprintf(err, len, "line %d: peer %s: give resync (no port in url)", line,
			         p->name);
			return RN_ECONF;
		}
		char buf[600];
		snprintf(buf, sizeof(buf), "%.*s:%ld", (int)(colon - p->url), p->url, port + 1);
		if ((p->resync = strdup(buf)) == NULL)
			return -ENOMEM;
	}
	return RN_OK;
}

static int peers_parse(const struct rn_conf_node *node, void *field, char *err, size_t len)
{
	struct feeds_peers *p = field;
	memset(p, 0, sizeof(*p));
	if (node == NULL)
		return RN_OK;
	if (!rn_conf_node_is_list(node)) {
		snprintf(err, len, "peers is a list of groups: peers = ( { ... }, { ... } );");
		return RN_ECONF;
	}
	size_t n = rn_conf_node_count(node);
	if (n > 256) {
		snprintf(err, len, "at most 256 peers");
		return RN_ECONF;
	}
	p->v = calloc(n ? n : 1, sizeof(*p->v));
	if (p->v == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int rc = parse_one_peer(rn_conf_node_child(node, i), &p->v[i], err, len);
		p->n = i + 1;
		if (rc != RN_OK) {
			peers_release(p);
			return rc;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(p->v[j].name, p->v[i].name) == 0) {
				snprintf(err, len, "peer %s is named twice", p->v[i].name);
				peers_release(p);
				return RN_ECONF;
			}
		}
	}
	return RN_OK;
}

/*
 * bus.collectors: the collectors whose signed batches this scorer takes.
 *
 *   collectors = ( { name = "edge1"; key = "base64..."; revoked = false; } );
 */
static void collectors_release(void *field)
{
	struct feeds_collectors *c = field;
	free(c->v);
	c->v = NULL;
	c->n = 0;
}

static bool collectors_equal(const void *a, const void *b)
{
	const struct feeds_collectors *x = a, *y = b;
	if (x->n != y->n)
		return false;
	for (size_t i = 0; i < x->n; i++)
		if (strcmp(x->v[i].name, y->v[i].name) != 0 ||
		    strcmp(x->v[i].key, y->v[i].key) != 0 || x->v[i].revoked != y->v[i].revoked)
			return false;
	return true;
}

static int collectors_parse(const struct rn_conf_node *node, void *field, char *err, size_t len)
{
	static const char *const known[] = {"name", "key", "revoked"};
	struct feeds_collectors *c = field;
	memset(c, 0, sizeof(*c));
	if (node == NULL)
		return RN_OK;
	if (!rn_conf_node_is_list(node)) {
		snprintf(err, len,
		         "collectors is a list of groups: collectors = ( { ... }, ... );");
		return RN_ECONF;
	}
	size_t n = rn_conf_node_count(node);
	if (n > FEEDS_MAX_COLLECTORS) {
		snprintf(err, len, "at most %d collectors", FEEDS_MAX_COLLECTORS);
		return RN_ECONF;
	}
	c->v = calloc(n ? n : 1, sizeof(*c->v));
	if (c->v == NULL)
		return -ENOMEM;
	struct feeds_keyring *kr = NULL;
	int rc = feeds_keyring_alloc(&kr);
	for (size_t i = 0; i < n && rc == RN_OK; i++) {
		const struct rn_conf_node *g = rn_conf_node_child(node, i);
		struct feeds_collector *e = &c->v[i];
		c->n = i + 1;
		rc = parse_named_key(g, "collector", known, RN_ARRAY_LEN(known), e->name, e->key,
		                     err, len);
		const struct rn_conf_node *r = rn_conf_node_member(g, "revoked");
		if (rc == RN_OK && r != NULL && rn_conf_node_bool(r, &e->revoked) != RN_OK) {
			snprintf(err, len, "line %d: collector %s: revoked is true or false",
			         rn_conf_node_line(r), e->name);
			rc = RN_ECONF;
		}
		/* A name or a key twice would make the refusals ambiguous. */
		if (rc == RN_OK && feeds_keyring_add(kr, e->name, e->key, false) == RN_EEXIST) {
			snprintf(err, len,
			         "line %d: collector %s: its name or its key is listed twice",
			         rn_conf_node_line(g), e->name);
			rc = RN_ECONF;
		}
	}
	feeds_keyring_free(kr);
	if (rc != RN_OK)
		collectors_release(c);
	return rc;
}

#define BUS(f) offsetof(struct feeds_bus_conf, f)

const struct rn_conf_key feeds_bus_conf_keys[] = {
        {.name = "bus.recv_max",
         .type = RN_CONF_SIZE,
         .offset = BUS(recv_max),
         .min = 65536,
         .max = 256 << 20,
         .def = "64M",
         .help = "Largest message any bus socket accepts (NNG_OPT_RECVMAXSZ). A 1M-address "
                 "snapshot is about 3 MB."},
        {.name = "bus.tls.cert",
         .type = RN_CONF_STRING,
         .offset = BUS(tls_cert),
         .max = 1024,
         .help = "PEM certificate (chain) this node presents on tls+tcp:// URLs."},
        {.name = "bus.tls.key",
         .type = RN_CONF_STRING,
         .offset = BUS(tls_key),
         .max = 1024,
         .help = "PEM private key of bus.tls.cert."},
        {.name = "bus.tls.ca",
         .type = RN_CONF_STRING,
         .offset = BUS(tls_ca),
         .max = 1024,
         .help = "PEM CA bundle that peers' certificates must chain to."},
        {.name = "bus.tls.verify_peer",
         .type = RN_CONF_BOOL,
         .offset = BUS(tls_verify_peer),
         .def = "true",
         .help = "Listeners require and verify a client certificate (mutual TLS). Dialers always "
                 "verify the server when bus.tls.ca is set."},
        {.name = "bus.tls.server_name",
         .type = RN_CONF_STRING,
         .offset = BUS(tls_server_name),
         .max = 255,
         .help = "Name dialers expect in the server's certificate. Empty: not checked."},
        {.name = "bus.allow_plaintext",
         .type = RN_CONF_BOOL,
         .offset = BUS(allow_plaintext),
         .def = "false",
         .help = "Let an ingest, feed or resync listener take plain tcp:// on an address other "
                 "than loopback. Off: such a listener refuses to start; use tls+tcp:// (mutual "
                 "TLS) there."},
        {.name = "bus.reconnect_min",
         .type = RN_CONF_DURATION,
         .offset = BUS(reconnect_min_ms),
         .min = 10,
         .max = 60000,
         .def = "100ms",
         .help = "First reconnect delay of a bus dialer; it doubles up to bus.reconnect_max."},
        {.name = "bus.reconnect_max",
         .type = RN_CONF_DURATION,
         .offset = BUS(reconnect_max_ms),
         .min = 100,
         .max = 600000,
         .def = "10s",
         .help = "Longest reconnect delay of a bus dialer."},
        {.name = "bus.ingest_listen",
         .type = RN_CONF_URL,
         .offset = BUS(ingest_listen),
         .def = "tcp://127.0.0.1:7400",
         .help = "Where the scorer accepts observation batches from collectors (REQ/REP, "
                 "acknowledged). Empty: not listening."},
        {.name = "bus.ingest_url",
         .type = RN_CONF_URL,
         .offset = BUS(ingest_url),
         .def = "tcp://127.0.0.1:7400",
         .help = "Where this node's collectors send observation batches."},
        {.name = "bus.ingest_queue",
         .type = RN_CONF_INT,
         .offset = BUS(ingest_queue),
         .min = 1024,
         .max = 100000000,
         .def = "262144",
         .help = "Observations a collector holds while the scorer is slow or away (about 100 "
                 "bytes each). Beyond it new observations are dropped and counted."},
        {.name = "bus.ingest_batch",
         .type = RN_CONF_INT,
         .offset = BUS(ingest_batch),
         .min = 1,
         .max = 65536,
         .def = "4096",
         .help = "Most observations in one batch."},
        {.name = "bus.ingest_flush",
         .type = RN_CONF_DURATION,
         .offset = BUS(ingest_flush_ms),
         .min = 1,
         .max = 60000,
         .def = "10ms",
         .help = "Longest a collector holds a partial batch before sending it. Under load "
                 "batches fill while the previous one is acknowledged; this is the latency a "
                 "lone log line pays."},
        {.name = "bus.ingest_timeout",
         .type = RN_CONF_DURATION,
         .offset = BUS(ingest_timeout_ms),
         .min = 100,
         .max = 600000,
         .def = "5s",
         .help = "How long a collector waits for an acknowledgement before resending a batch."},
        {.name = "bus.ingest_block",
         .type = RN_CONF_DURATION,
         .offset = BUS(ingest_block_ms),
         .min = 0,
         .max = 60000,
         .def = "100ms",
         .help = "How long a source may wait for room in a full queue before its observations "
                 "are dropped."},
        {.name = "bus.ingest_spill",
         .type = RN_CONF_SIZE,
         .offset = BUS(ingest_spill),
         .min = 0,
         .max = (uint64_t)64 << 30,
         .def = "256M",
         .help = "Cap of the collector's spill file (core.data_dir/collector.spill): every "
                 "batch is written there before it is sent and kept until the scorer "
                 "acknowledges it, and a followed file's position is saved only past "
                 "acknowledged lines. When it is full, sources stop reading (nothing is "
                 "dropped). 0: no spill, the queue is in memory only."},
        {.name = "bus.collector_key",
         .type = RN_CONF_STRING,
         .offset = BUS(collector_key),
         .max = 1024,
         .help = "The ed25519 secret key file this node's collectors sign observation batches "
                 "with (repnet keygen). Empty: data_dir/keys/collector.key, made on first start."},
        {.name = "bus.collectors",
         .type = RN_CONF_CUSTOM,
         .offset = BUS(collectors),
         .parse = collectors_parse,
         .release = collectors_release,
         .equal = collectors_equal,
         .flags = RN_CONF_RELOAD,
         .help = "Collectors the scorer takes signed batches from: ( { name; key; revoked; }, "
                 "... ). A process that both collects and scores also trusts its own key."},
        {.name = "bus.publisher",
         .type = RN_CONF_STRING,
         .offset = BUS(publisher),
         .max = 63,
         .help = "This node's publisher name, as members' keyrings know it. Empty: core.instance."},
        {.name = "bus.signing_key",
         .type = RN_CONF_STRING,
         .offset = BUS(signing_key),
         .max = 1024,
         .help = "The publisher's ed25519 secret key file (repnet keygen). Empty: "
                 "data_dir/keys/publisher.key, made on first start."},
        {.name = "bus.pub_listen",
         .type = RN_CONF_URL,
         .offset = BUS(pub_listen),
         .def = "tcp://127.0.0.1:7401",
         .help = "Where the publisher's feed (nng PUB) listens."},
        {.name = "bus.resync_listen",
         .type = RN_CONF_URL,
         .offset = BUS(resync_listen),
         .def = "tcp://127.0.0.1:7402",
         .help = "Where the publisher's resync service (nng REP) listens."},
        {.name = "bus.ingest_max_conns",
         .type = RN_CONF_INT,
         .offset = BUS(ingest_max_conns),
         .min = 1,
         .max = 100000,
         .def = "256",
         .help = "Open connections of the ingest listener at most (lowered to its share of the "
                 "descriptor limit). When full, a client holding fewer than the client holding "
                 "the most closes that client's least active; others are refused."},
        {.name = "bus.pub_max_conns",
         .type = RN_CONF_INT,
         .offset = BUS(pub_max_conns),
         .min = 1,
         .max = 100000,
         .def = "1024",
         .help = "Open connections of the feed (subscribers) at most, as bus.ingest_max_conns."},
        {.name = "bus.resync_max_conns",
         .type = RN_CONF_INT,
         .offset = BUS(resync_max_conns),
         .min = 1,
         .max = 100000,
         .def = "256",
         .help = "Open connections of the resync service at most, as bus.ingest_max_conns."},
        {.name = "bus.max_conns_per_client",
         .type = RN_CONF_INT,
         .offset = BUS(max_per_client),
         .min = 1,
         .max = 100000,
         .def = "32",
         .help = "Open connections of one client (IPv4 address, IPv6 /64) on each bus "
                 "listener at most; its next one closes its least active."},
        {.name = "bus.idle_timeout",
         .type = RN_CONF_DURATION,
         .offset = BUS(idle_ms),
         .min = 1000,
         .max = 86400000,
         .def = "60s",
         .help = "An ingest or resync connection that sends no message this long (from its "
                 "handshake or its last message) is closed; its dialer reconnects when it has "
                 "something to send. A feed's subscribers send nothing and are exempt."},
        {.name = "bus.heartbeat",
         .type = RN_CONF_DURATION,
         .offset = BUS(heartbeat_ms),
         .min = 100,
         .max = 600000,
         .def = "5s",
         .help = "Interval of signed heartbeats. Subscribers resync after 1.25 intervals of "
                 "silence; heartbeats expire after 3."},
        {.name = "bus.snapshot_interval",
         .type = RN_CONF_DURATION,
         .offset = BUS(snapshot_interval_ms),
         .min = 1000,
         .max = 86400000,
         .def = "10m",
         .help = "How often the full blocklist is published."},
        {.name = "bus.history",
         .type = RN_CONF_INT,
         .offset = BUS(history),
         .min = 1,
         .max = 1000000,
         .def = "4096",
         .help = "Deltas the publisher keeps for resync; older gaps get a snapshot."},
        {.name = "bus.history_bytes",
         .type = RN_CONF_SIZE,
         .offset = BUS(history_bytes),
         .min = 65536,
         .max = 1ll << 34,
         .def = "64M",
         .help = "Bytes of deltas the publisher keeps for resync, at most."},
        {.name = "bus.delta_ttl",
         .type = RN_CONF_DURATION,
         .offset = BUS(delta_ttl_ms),
         .min = 1000,
         .max = 604800000,
         .def = "1d",
         .help = "How long a signed delta stays valid (subscribers refuse it after)."},
        {.name = "bus.snapshot_ttl",
         .type = RN_CONF_DURATION,
         .offset = BUS(snapshot_ttl_ms),
         .min = 1000,
         .max = 604800000,
         .def = "1h",
         .help = "How long a signed snapshot stays valid."},
        {.name = "bus.max_listings",
         .type = RN_CONF_INT,
         .offset = BUS(max_listings),
         .min = 1,
         .max = 100000000,
         .def = "16000000",
         .help = "Most listings a subscriber accepts in one snapshot or delta."},
        {.name = "bus.peers",
         .type = RN_CONF_CUSTOM,
         .offset = BUS(peers),
         .parse = peers_parse,
         .release = peers_release,
         .equal = peers_equal,
         .help = "Other publishers: ( { name; key; url; resync; weight; max_per_day; revoked; own; "
                 "}, ... ). Members are federated; the one with own = true is this operator's "
                 "scorer, served locally (see bus.serve)."},
        {.name = "bus.serve",
         .type = RN_CONF_STRING,
         .offset = BUS(serve),
         .max = 63,
         .help = "The peer whose feed the serve and sync roles use. Empty: this node's own "
                 "publisher (publish role in the same process)."},
        {.name = "bus.quorum",
         .type = RN_CONF_INT,
         .offset = BUS(quorum),
         .min = 1,
         .max = 256,
         .def = "2",
         .help = "Members that must list an entry before it counts here (federation)."},
        {.name = "bus.weight_alone",
         .type = RN_CONF_DOUBLE,
         .offset = BUS(weight_alone),
         .min = 0,
         .max = 1000,
         .def = "0",
         .help = "A member with at least this trust weight lists alone. 0: none does."},
        {.name = "bus.quarantine_add",
         .type = RN_CONF_INT,
         .offset = BUS(quarantine_add),
         .min = 0,
         .max = 100000000,
         .def = "50000",
         .help = "A member's change adding more new entries than this is quarantined, not "
                 "applied. 0: no limit."},
        {.name = "bus.quarantine_pct",
         .type = RN_CONF_DOUBLE,
         .offset = BUS(quarantine_pct),
         .min = 0,
         .max = 100000,
         .def = "50",
         .help = "A member's change adding more than this percent of its current size is "
                 "quarantined. 0: no limit."},
        {.name = "bus.federation_refresh",
         .type = RN_CONF_DURATION,
         .offset = BUS(federation_refresh_ms),
         .min = 1000,
         .max = 86400000,
         .def = "30m",
         .help = "How often entries members agree on are offered to the local scorer again."},
        {.name = "bus.replica_sweep",
         .type = RN_CONF_DURATION,
         .offset = BUS(replica_sweep_ms),
         .min = 100,
         .max = 3600000,
         .def = "10s",
         .help = "How often the served replica drops listings past their expiry."},
        {.name = NULL},
};

/* feeds_sync_conf_keys: nfsync_conf.c. */
