/*
 * roles.c: the pipeline of repnetd, wired.
 *
 * Design notes. Every arrow is the same whether the roles share a process
 * or not: collectors send observation batches over the ingest bus (REQ/
 * REP, acknowledged) even to a scorer in the same process; the scorer's
 * ticks go to the publisher; the serve and sync roles read a replica fed
 * by a subscription to a publisher (this node's own, over loopback, or
 * another host's). So a split deployment runs exactly the code a single
 * process does.
 *
 *   collect: SMTP sources + flow capture -> ingest client -> bus.ingest_url
 *   score:   ingest server -> scorer (journal, acks when durable) -> ticks
 *   publish: ticks -> publisher (signed deltas, heartbeats, snapshots)
 *   serve:   subscription -> replica -> DNSBL, policy service, decisions
 *   sync:    replica -> netfilter sets
 *   members: subscriptions (circuit breaker) -> federation -> ingest client
 *
 * Trust. Collectors sign their batches with the collector key (made under
 * data_dir/keys on first start unless feeds.bus.collector_key names one);
 * the scorer takes batches signed by the keys of feeds.bus.collectors,
 * and a process that runs both ends of the ingest bus (the default, which
 * collects and scores; or a scorer whose federation feeds its own ingest)
 * trusts its own collector key too, under core.instance, so that one
 * process needs no key configuration. A reload replaces the scorer's
 * keyring (revoking a collector takes effect without a restart).
 *
 * Order. Start goes downstream first where a consumer needs its producer's
 * address (the scorer before the collectors, the publisher before the
 * serve subscription), and stop goes from the sources down, so queues
 * drain into components that still run. The publisher pointer the scorer's
 * tick callback reads is atomic: it is set after the publisher starts and
 * cleared before it stops.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "roles.h"

struct roles {
	const struct daemon_conf *conf;
	struct rn_metrics *m;
	struct feeds_http *http;
	uint8_t reporter[8];
	char pubname[64];

	/* score and publish */
	struct scoring *scorer;
	struct feeds_ingest_server *ingest_srv;
	struct feeds_keyring *collectors; /* the ingest server's */
	struct feeds_signer *signer;
	struct feeds_pub *pub_owned;
	struct feeds_pub *_Atomic pub;
	_Atomic bool dry_run_noted;

	/* collect, and federation's way to the scorer */
	struct feeds_signer *collector; /* what the ingest client signs with */
	struct feeds_ingest_client *ingest;
	struct collector_smtp_live *smtp;
	struct collector_flow *flow;
	struct rn_counter obs_smtp, obs_flow, obs_peer;
	bool fw_drops;                  /* the sync role drops what view lists */
	struct rn_prefix_list fw_allow; /* ...except these (feeds.sync.allow, nft) */
	struct rn_counter enforced_fw;  /* one-way flows of addresses the firewall drops */

	/* serve and sync */
	struct feeds_keyring *ring;
	struct scoring_protect *protect;
	struct feeds_replica *replica;
	struct feeds_view view;
	struct feeds_sub *serve_sub;
	char serve_name[64];
	struct feeds_rbl *rbl;
	struct feeds_sync *sync;

	/* federation */
	struct feeds_federation *fed;
	struct feeds_sub **members;
	size_t nmembers;
};

/* ---- helpers --------------------------------------------------------- */

/* "tcp://0.0.0.0:0" listening on port p -> "tcp://127.0.0.1:p", for dialing it here. */
static int local_url(const char *listen, unsigned port, char *out, size_t len)
{
	const char *scheme_end = strstr(listen, "://");
	const char *colon = strrchr(listen, ':');
	if (scheme_end == NULL || colon == NULL || colon < scheme_end + 3)
		return RN_EPARSE;
	const char *host = scheme_end + 3;
	size_t hlen = (size_t)(colon - host);
	char h[128];
	if (hlen >= sizeof(h))
		return RN_EPARSE;
	memcpy(h, host, hlen);
	h[hlen] = '\0';
	if (strcmp(h, "0.0.0.0") == 0 || strcmp(h, "*") == 0 || hlen == 0)
		snprintf(h, sizeof(h), "127.0.0.1");
	else if (strcmp(h, "[::]") == 0)
		snprintf(h, sizeof(h), "[::1]");
	int n = snprintf(out, len, "%.*s://%s:%u", (int)(scheme_end - listen), listen, h, port);
	return n > 0 && (size_t)n < len ? RN_OK : RN_ELIMIT;
}

static int load_reporter(struct roles *r)
{
	char path[4200];
	uint8_t *buf = NULL;
	size_t len = 0;
	snprintf(path, sizeof(path), "%s/reporter.id", r->conf->core.data_dir);
	if (rn_file_read(path, 64, &buf, &len) == RN_OK && len == sizeof(r->reporter)) {
		memcpy(r->reporter, buf, sizeof(r->reporter));
		free(buf);
		return RN_OK;
	}
	free(buf);
	/* A pseudonym: random, stable across restarts, meaningless outside. */
	randombytes_buf(r->reporter, sizeof(r->reporter));
	return rn_file_replace(path, r->reporter, sizeof(r->reporter), 0640);
}

/*
 * A key this node signs with: the file configured, or data_dir/keys/NAME.key,
 * made on first start. *made says whether it was made now.
 */
static int load_key(struct roles *r, const char *configured, const char *name, const char *owner,
                    struct feeds_signer **out, bool *made)
{
	char sk[4300];
	if (configured != NULL) {
		snprintf(sk, sizeof(sk), "%s", configured);
	} else {
		char dir[4200];
		snprintf(dir, sizeof(dir), "%s/keys", r->conf->core.data_dir);
		int rc = rn_mkdirs(dir, 0700);
		if (rc != RN_OK)
			return rc;
		snprintf(sk, sizeof(sk), "%s/%s.key", dir, name);
	}
	int rc = feeds_signer_load_or_make(out, sk, owner, configured == NULL, made);
	if (rc != RN_OK)
		log_warnx("%s key %s: %s", name, sk, rn_strerror(rc));
	return rc;
}

static int load_signer(struct roles *r)
{
	const struct feeds_bus_conf *b = &r->conf->feeds.bus;
	char pub[FEEDS_PUBKEY_B64];
	bool made;
	snprintf(r->pubname, sizeof(r->pubname), "%s",
	         b->publisher != NULL ? b->publisher : r->conf->core.instance);
	int rc = load_key(r, b->signing_key, "publisher", r->pubname, &r->signer, &made);
	if (rc == RN_OK && made) {
		feeds_signer_public(r->signer, pub);
		log_notice("publish: made a signing key in %s/keys; members trust this publisher "
		           "(%s) with key = \"%s\"",
		           r->conf->core.data_dir, r->pubname, pub);
	}
	return rc;
}

static int load_collector_key(struct roles *r)
{
	const struct daemon_conf *c = r->conf;
	char pub[FEEDS_PUBKEY_B64];
	bool made;
	int rc = load_key(r, c->feeds.bus.collector_key, "collector", c->core.instance,
	                  &r->collector, &made);
	if (rc == RN_OK && made) {
		feeds_signer_public(r->collector, pub);
		log_notice("collect: made a collector key in %s/keys; a scorer on another host "
		           "takes this node's batches with collectors = ( { name = \"%s\"; key = "
		           "\"%s\"; } )",
		           c->core.data_dir, c->core.instance, pub);
	}
	return rc;
}

/*
 * The scorer's keyring of collectors: feeds.bus.collectors, and this
 * node's own collector key when it has one (it collects, or its
 * federation feeds the ingest bus) under core.instance, unless the list
 * holds that key already (perhaps revoked: then it stays revoked) or the
 * name is taken, in which case under "self:" and the name.
 */
static int build_collectors(struct roles *r, const struct daemon_conf *c,
                            struct feeds_keyring **out)
{
	const struct feeds_collectors *cl = &c->feeds.bus.collectors;
	struct feeds_keyring *k = NULL;
	int rc = feeds_keyring_alloc(&k);
	for (size_t i = 0; rc == RN_OK && i < cl->n; i++)
		rc = feeds_keyring_add(k, cl->v[i].name, cl->v[i].key, cl->v[i].revoked);
	if (rc == RN_OK && r->collector != NULL) {
		char pub[FEEDS_PUBKEY_B64], alt[RN_COLLECTOR_NAME_MAX];
		feeds_signer_public(r->collector, pub);
		bool listed = false;
		for (size_t i = 0; i < cl->n; i++)
			listed = listed || strcmp(cl->v[i].key, pub) == 0;
		snprintf(alt, sizeof(alt), "self:%.*s", RN_COLLECTOR_NAME_MAX - 6,
		         c->core.instance);
		if (!listed && feeds_keyring_add(k, c->core.instance, pub, false) == RN_EEXIST)
			rc = feeds_keyring_add(k, alt, pub, false);
		if (rc == RN_EEXIST)
			rc = RN_OK; /* the key is listed under another form of it */
	}
	if (rc != RN_OK) {
		log_errx("collectors' keyring: %s", rn_strerror(rc));
		feeds_keyring_free(k);
		return rc;
	}
	*out = k;
	return RN_OK;
}

static int build_protect(struct roles *r)
{
	const struct scoring_conf *s = &r->conf->scoring;
	struct rn_prefix_list special = {0};
	const struct rn_prefix_list *lists[3] = {&s->allowlist, &s->never_block, NULL};
	int rc = RN_OK;
	if (s->default_never_block) {
		rc = rn_prefix_list_add_special(&special);
		lists[2] = &special;
	}
	if (rc == RN_OK)
		rc = scoring_protect_build(lists, 3, &r->protect);
	rn_prefix_list_clear(&special);
	return rc;
}

/* ---- sinks ------------------------------------------------------------ */

static void submit(struct roles *r, struct rn_counter *c, const struct rn_obs *obs, size_t n)
{
	rn_counter_add_shared(c, n);
	for (size_t i = 0; i < n && rn_log_level_current >= RN_LOG_DEBUG; i++) {
		char ip[RN_ADDR_STRLEN], ts[RN_TIME_STRLEN];
		rn_addr_format(&obs[i].addr, ip, sizeof(ip));
		rn_time_format(obs[i].ts_ms, true, ts, sizeof(ts));
		log_debug("observation %s %s %s count=%u source=%s evidence=\"%s\"", ts, ip,
		          rn_kind_name(obs[i].kind), obs[i].count, rn_source_name(obs[i].source),
		          obs[i].evidence);
	}
	if (r->ingest != NULL)
		feeds_ingest_client_submit(r->ingest, obs, n, NULL);
}

static void smtp_emit(void *arg, const struct rn_obs *obs, size_t n)
{
	struct roles *r = arg;
	submit(r, &r->obs_smtp, obs, n);
}

/* A source's position, saved once the scorer acknowledges its lines (ingest.c). */
static void source_mark(void *arg, const char *key, const uint8_t *pos, size_t len)
{
	struct roles *r = arg;
	feeds_ingest_client_mark(r->ingest, key, pos, len);
}

static void source_hold(void *arg, const char *key)
{
	struct roles *r = arg;
	feeds_ingest_client_hold(r->ingest, key);
}

static int source_pending(void *arg, const char *key, uint8_t *pos, size_t cap, size_t *len)
{
	struct roles *r = arg;
	return feeds_ingest_client_pending(r->ingest, key, pos, cap, len);
}

/*
 * Loop safety for flows. With the sync role, the kernel sets drop what the
 * view lists, so a listed address's SYNs and datagrams go unanswered
 * because of repnet; the one-way context kinds (syn_only, udp_oneway) are
 * what that produces, not new behaviour. For an address the view lists
 * they are counted as enforcement and not submitted, so a drop cannot
 * renew or re-categorise its own listing. An address inside
 * feeds.sync.allow is accepted by the nft backend's rules before the drop,
 * listed or not: its one-way flows are its own, and observed. Runs of
 * kept observations are submitted in place: nothing is copied.
 */
static bool fw_dropped(struct roles *r, const struct rn_obs *o, int64_t now)
{
	if (o->kind != RN_KIND_SYN_ONLY && o->kind != RN_KIND_UDP_ONEWAY)
		return false;
	int64_t exp = 0;
	if (r->view.lookup(r->view.arg, &o->addr, &exp) == 0)
		return false;
	if (exp != 0 && exp <= now)
		return false;
	return !rn_prefix_list_contains(&r->fw_allow, &o->addr);
}

static void flow_emit(void *arg, const struct rn_obs *obs, size_t n)
{
	struct roles *r = arg;
	if (!r->fw_drops) {
		submit(r, &r->obs_flow, obs, n);
		return;
	}
	int64_t now = rn_time_now_ms();
	size_t start = 0;
	for (size_t i = 0; i < n; i++) {
		if (!fw_dropped(r, &obs[i], now))
			continue;
		if (i > start)
			submit(r, &r->obs_flow, obs + start, i - start);
		rn_counter_add_shared(&r->enforced_fw, 1);
		start = i + 1;
	}
	if (n > start)
		submit(r, &r->obs_flow, obs + start, n - start);
}

static void peer_emit(void *arg, const struct rn_obs *obs, size_t n)
{
	struct roles *r = arg;
	submit(r, &r->obs_peer, obs, n);
}

/* The scorer hands over an observation batch only once it is durable. */
static int ingest_handler(void *arg, const struct rn_obs_batch_meta *meta, const struct rn_obs *obs,
                          size_t n)
{
	struct roles *r = arg;
	int rc = scoring_submit(r->scorer, meta, obs, n);
	if (rc == RN_EEXIST)
		return RN_OK; /* a resend of a durable batch: acknowledge it again */
	if (rc == RN_ELIMIT)
		return -EAGAIN; /* the scorer's queue is full: the collector retries */
	return rc;
}

/* On the scorer's thread after every tick. */
static void on_tick(void *arg, const struct scoring_tick *t)
{
	struct roles *r = arg;
	struct feeds_pub *p = atomic_load(&r->pub);
	if (p == NULL)
		return;
	int rc = feeds_pub_update(p, (struct scoring_table *)t->table, t->delta);
	if (rc == RN_ESTATE) {
		if (!atomic_exchange(&r->dry_run_noted, true))
			log_notice("publish: the scorer runs dry: nothing is published");
	} else if (rc != RN_OK) {
		log_warnx_rl("publish: tick %" PRId64 ": %s", t->tick_ms, rn_strerror(rc));
	}
}

/* ---- start ------------------------------------------------------------ */

static int start_score(struct roles *r)
{
	const struct daemon_conf *c = r->conf;
	struct scoring_opts so = {.data_dir = c->core.data_dir,
	                          .metrics = r->m,
	                          .on_tick = on_tick,
	                          .on_tick_arg = r};
	int rc = scoring_start(&r->scorer, &c->scoring, &so);
	if (rc != RN_OK) {
		log_errx("score: %s", rn_strerror(rc));
		return rc;
	}
	if (c->feeds.bus.ingest_listen != NULL) {
		if ((rc = build_collectors(r, c, &r->collectors)) != RN_OK)
			return rc;
		rc = feeds_ingest_server_start(&r->ingest_srv, &c->feeds.bus, r->m, r->collectors,
		                               ingest_handler, r);
		if (rc != RN_OK) {
			log_errx("score: ingest listener %s: %s", c->feeds.bus.ingest_listen,
			         rn_strerror(rc));
			return rc;
		}
		log_notice("score: accepting observations on %s (port %u)",
		           c->feeds.bus.ingest_listen, feeds_ingest_server_port(r->ingest_srv));
	}
	return RN_OK;
}

static int start_publish(struct roles *r)
{
	const struct daemon_conf *c = r->conf;
	if (r->scorer == NULL) {
		log_errx("publish: needs the score role in the same process");
		return RN_ECONF;
	}
	if (c->feeds.bus.pub_listen == NULL || c->feeds.bus.resync_listen == NULL) {
		log_errx("publish: needs feeds.bus.pub_listen and feeds.bus.resync_listen");
		return RN_ECONF;
	}
	int rc = load_signer(r);
	if (rc != RN_OK)
		return rc;
	struct scoring_table *cur = scoring_current(r->scorer);
	struct feeds_pub_opts po = {
	        .data_dir = c->core.data_dir, .signer = r->signer, .metrics = r->m};
	rc = feeds_pub_start(&r->pub_owned, &c->feeds.bus, &po, cur);
	scoring_table_free(cur);
	if (rc != RN_OK) {
		log_errx("publish: %s", rn_strerror(rc));
		return rc;
	}
	atomic_store(&r->pub, r->pub_owned);
	log_notice("publish: feed %s on port %u, resync on port %u", r->pubname,
	           feeds_pub_port(r->pub_owned), feeds_pub_resync_port(r->pub_owned));
	return RN_OK;
}

static int start_ingest_client(struct roles *r)
{
	const struct daemon_conf *c = r->conf;
	char url[600];
	const char *u = c->feeds.bus.ingest_url;
	if (r->ingest_srv != NULL) {
		/* Our own scorer: dial the port it really bound. */
		if (local_url(c->feeds.bus.ingest_listen, feeds_ingest_server_port(r->ingest_srv),
		              url, sizeof(url)) == RN_OK)
			u = url;
	}
	if (u == NULL) {
		log_errx("collect: feeds.bus.ingest_url is empty: observations would go nowhere");
		return RN_ECONF;
	}
	/* A collector's queue is durable: the spill file in the data directory. */
	int rc = feeds_ingest_client_start_spill(
	        &r->ingest, &c->feeds.bus, u, r->m, r->reporter, r->collector,
	        (c->core.roles & RN_ROLE_COLLECT) ? c->core.data_dir : NULL);
	if (rc != RN_OK)
		log_errx("collect: ingest to %s: %s", u, rn_strerror(rc));
	return rc;
}

static int start_collect(struct roles *r)
{
	const struct daemon_conf *c = r->conf;
	int rc = rn_metrics_counter(r->m, r, "repnet_collector_observations_total",
	                            "Observations handed to the ingest bus, by origin.",
	                            "origin=\"smtp\"", &r->obs_smtp);
	rc = rc ? rc
	        : rn_metrics_counter(r->m, r, "repnet_collector_observations_total",
	                             "Observations handed to the ingest bus, by origin.",
	                             "origin=\"flow\"", &r->obs_flow);
	r->fw_drops = (c->core.roles & RN_ROLE_SYNC) != 0 && r->view.lookup != NULL;
	if (r->fw_drops && c->feeds.sync.backend == FEEDS_SYNC_NFT)
		for (size_t i = 0; rc == RN_OK && i < c->feeds.sync.allow.n; i++)
			rc = rn_prefix_list_add(&r->fw_allow, &c->feeds.sync.allow.v[i]);
	rc = rc ? rc
	        : rn_metrics_counter(
	                  r->m, r, "repnet_collector_enforced_total",
	                  "One-way flows (syn_only, udp_oneway) of addresses this node's "
	                  "firewall drops, counted instead of observed.",
	                  "origin=\"flow\",by=\"firewall\"", &r->enforced_fw);
	if (rc != RN_OK)
		return rc;
	struct collector_sink fs = {.emit = flow_emit, .arg = r};
	rc = collector_flow_start(&r->flow, &c->collector.flow, c->core.data_dir, r->m, NULL, &fs);
	if (rc != RN_OK) {
		log_errx("collect: flows: %s", rn_strerror(rc));
		return rc;
	}
	struct collector_sink ss = {.emit = smtp_emit, .arg = r};
	if (r->ingest != NULL && c->feeds.bus.ingest_spill > 0) {
		ss.mark = source_mark;
		ss.hold = source_hold;
		ss.pending = source_pending;
	}
	rc = collector_smtp_start(&r->smtp, &c->collector.smtp, c->core.data_dir, r->m, &ss);
	if (rc != RN_OK) {
		log_errx("collect: SMTP logs: %s", rn_strerror(rc));
		return rc;
	}
	log_notice("collector: syslog on udp port %u, tcp port %u; %zu file(s) followed",
	           collector_smtp_udp_port(r->smtp), collector_smtp_tcp_port(r->smtp),
	           c->collector.smtp.tail_paths.n);
	return RN_OK;
}

static const struct feeds_peer *find_peer(const struct feeds_bus_conf *b, const char *name)
{
	for (size_t i = 0; i < b->peers.n; i++)
		if (strcmp(b->peers.v[i].name, name) == 0)
			return &b->peers.v[i];
	return NULL;
}

static int build_keyring(struct roles *r)
{
	const struct feeds_bus_conf *b = &r->conf->feeds.bus;
	int rc = feeds_keyring_alloc(&r->ring);
	for (size_t i = 0; rc == RN_OK && i < b->peers.n; i++)
		rc = feeds_keyring_add(r->ring, b->peers.v[i].name, b->peers.v[i].key,
		                       b->peers.v[i].revoked);
	if (rc == RN_OK && r->signer != NULL && find_peer(b, r->pubname) == NULL) {
		char pub[FEEDS_PUBKEY_B64];
		feeds_signer_public(r->signer, pub);
		rc = feeds_keyring_add(r->ring, r->pubname, pub, false);
	}
	if (rc != RN_OK)
		log_errx("keyring: %s", rn_strerror(rc));
	return rc;
}

static struct feeds_sub_opts sub_opts(struct roles *r)
{
	const struct feeds_bus_conf *b = &r->conf->feeds.bus;
	struct feeds_sub_opts o = {.data_dir = r->conf->core.data_dir,
	                           .keyring = r->ring,
	                           .protect = r->protect,
	                           .metrics = r->m};
	o.limits.max_listings = (uint64_t)b->max_listings;
	return o;
}

static int start_serve(struct roles *r)
{
	const struct daemon_conf *c = r->conf;
	const struct feeds_bus_conf *b = &c->feeds.bus;
	char purl[600], rurl[600];
	const char *name, *pu, *ru;
	if (b->serve != NULL) {
		const struct feeds_peer *p = find_peer(b, b->serve);
		if (p == NULL || p->url == NULL || p->revoked) {
			log_errx("serve: feeds.bus.serve names \"%s\", which is not a usable peer",
			         b->serve);
			return RN_ECONF;
		}
		name = p->name;
		pu = p->url;
		ru = p->resync;
	} else if (r->pub_owned != NULL) {
		name = r->pubname;
		if (local_url(b->pub_listen, feeds_pub_port(r->pub_owned), purl, sizeof(purl)) !=
		            RN_OK ||
		    local_url(b->resync_listen, feeds_pub_resync_port(r->pub_owned), rurl,
		              sizeof(rurl)) != RN_OK) {
			log_errx("serve: cannot dial the local publisher");
			return RN_ECONF;
		}
		pu = purl;
		ru = rurl;
	} else {
		log_errx("serve: no feed to serve: run the publish role here, or name a peer in "
		         "feeds.bus.serve");
		return RN_ECONF;
	}
	snprintf(r->serve_name, sizeof(r->serve_name), "%s", name);
	int rc = feeds_replica_alloc(&r->replica, 1u << 20, b->replica_sweep_ms, r->m);
	if (rc != RN_OK)
		return rc;
	feeds_replica_view(r->replica, &r->view);
	struct feeds_sub_opts o = sub_opts(r);
	o.on_change = feeds_replica_on_change;
	o.arg = r->replica;
	rc = feeds_sub_start(&r->serve_sub, b, name, pu, ru, &o);
	if (rc != RN_OK) {
		log_errx("serve: subscribe to %s at %s: %s", name, pu, rn_strerror(rc));
		return rc;
	}
	log_notice("serve: replica of %s from %s", name, pu);
	return RN_OK;
}

static int start_rbl(struct roles *r)
{
	const struct daemon_conf *c = r->conf;
	int rc;
	/* The serve role copies it: the decision stream's positions live in data_dir. */
	struct feeds_rbl_conf rbl = c->feeds.rbl;
	rbl.state_dir = c->core.data_dir;
	if (rbl.list_file != NULL)
		rc = feeds_rbl_start(&r->rbl, &rbl, r->http, r->m);
	else
		rc = feeds_rbl_start_view(&r->rbl, &rbl, &r->view, r->http, r->m);
	if (rc != RN_OK)
		log_errx("serve: %s", rn_strerror(rc));
	return rc;
}

static int start_federation(struct roles *r)
{
	const struct feeds_bus_conf *b = &r->conf->feeds.bus;
	size_t n = 0;
	for (size_t i = 0; i < b->peers.n; i++)
		n += !b->peers.v[i].own && !b->peers.v[i].revoked && b->peers.v[i].url != NULL;
	if (n == 0)
		return RN_OK;
	if (r->ingest == NULL) {
		log_errx("federation: members are configured but this node sends no observations "
		         "(no collect or score role)");
		return RN_ECONF;
	}
	int rc = rn_metrics_counter(r->m, r, "repnet_collector_observations_total",
	                            "Observations handed to the ingest bus, by origin.",
	                            "origin=\"federation\"", &r->obs_peer);
	if (rc != RN_OK)
		return rc;
	struct feeds_federation_opts fo = {.quorum = b->quorum,
	                                   .weight_alone = b->weight_alone,
	                                   .refresh_ms = b->federation_refresh_ms,
	                                   .protect = r->protect,
	                                   .emit = peer_emit,
	                                   .arg = r,
	                                   .metrics = r->m};
	if ((rc = feeds_federation_start(&r->fed, &fo)) != RN_OK)
		return rc;
	r->members = calloc(n, sizeof(*r->members));
	if (r->members == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < b->peers.n; i++) {
		const struct feeds_peer *p = &b->peers.v[i];
		if (p->own || p->revoked || p->url == NULL)
			continue;
		struct feeds_sub_opts o = sub_opts(r);
		o.breaker = true;
		o.quarantine_add = b->quarantine_add;
		o.quarantine_pct = b->quarantine_pct;
		o.max_per_day = p->max_per_day;
		o.on_change = feeds_federation_on_change;
		o.arg = r->fed;
		struct feeds_sub *s;
		rc = feeds_sub_start(&s, b, p->name, p->url, p->resync, &o);
		if (rc != RN_OK) {
			log_errx("federation: subscribe to %s at %s: %s", p->name, p->url,
			         rn_strerror(rc));
			return rc;
		}
		r->members[r->nmembers++] = s;
		if ((rc = feeds_federation_add(r->fed, s, p->name, p->weight)) != RN_OK)
			return rc;
	}
	log_notice("federation: %zu member feed(s), quorum %lld", r->nmembers,
	           (long long)b->quorum);
	return RN_OK;
}

int roles_start(struct roles **out, const struct daemon_conf *c, struct rn_metrics *m,
                struct feeds_http *http)
{
	if (sodium_init() < 0)
		return RN_EINTERNAL;
	struct roles *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->conf = c;
	r->m = m;
	r->http = http;
	unsigned roles = c->core.roles;
	char err[512];
	int rc;
	/* Before anything starts: a collector listener off loopback needs its list. */
	if ((rc = daemon_conf_check(c, err, sizeof(err))) != RN_OK) {
		log_errx("%s", err);
		goto fail;
	}
	if ((rc = load_reporter(r)) != RN_OK) {
		log_errx("reporter id in %s: %s", c->core.data_dir, rn_strerror(rc));
		goto fail;
	}
	if ((rc = build_protect(r)) != RN_OK)
		goto fail;
	/* Whatever sends observations signs them: collectors, and a scorer's federation. */
	if ((roles & (RN_ROLE_COLLECT | RN_ROLE_SCORE)) && (rc = load_collector_key(r)) != RN_OK)
		goto fail;
	if ((roles & RN_ROLE_SCORE) && (rc = start_score(r)) != RN_OK)
		goto fail;
	if ((roles & RN_ROLE_PUBLISH) && (rc = start_publish(r)) != RN_OK)
		goto fail;
	if ((rc = build_keyring(r)) != RN_OK)
		goto fail;
	if ((roles & RN_ROLE_COLLECT) || r->scorer != NULL) {
		if ((rc = start_ingest_client(r)) != RN_OK)
			goto fail;
	}
	/* A serve role reading its list from a file needs no feed. */
	bool need_view = (roles & RN_ROLE_SYNC) ||
	                 ((roles & RN_ROLE_SERVE) && c->feeds.rbl.list_file == NULL);
	if (need_view && (rc = start_serve(r)) != RN_OK)
		goto fail;
	if ((roles & RN_ROLE_SERVE) && (rc = start_rbl(r)) != RN_OK)
		goto fail;
	if (roles & RN_ROLE_SYNC) {
		if ((rc = feeds_sync_start(&r->sync, &c->feeds.sync, &r->view, m)) != RN_OK) {
			log_errx("sync: %s", rn_strerror(rc));
			goto fail;
		}
		log_notice("sync: netfilter sets follow the replica");
	}
	if ((rc = start_federation(r)) != RN_OK)
		goto fail;
	if ((roles & RN_ROLE_COLLECT) && (rc = start_collect(r)) != RN_OK)
		goto fail;
	*out = r;
	return RN_OK;
fail:
	roles_stop_early(r, 0);
	roles_stop_late(r);
	return rc;
}

void roles_pause_bus(struct roles *r, bool pause)
{
	feeds_ingest_server_pause(r->ingest_srv, pause);
	feeds_pub_pause(r->pub_owned, pause);
}

void roles_reload(struct roles *r, const struct daemon_conf *c)
{
	r->conf = c;
	if (r->scorer != NULL) {
		int rc = scoring_reconfigure(r->scorer, &c->scoring);
		if (rc != RN_OK)
			log_warnx("reload: the scorer kept its configuration: %s", rn_strerror(rc));
	}
	if (r->ingest_srv != NULL) {
		struct feeds_keyring *k;
		if (build_collectors(r, c, &k) != RN_OK) {
			log_warnx("reload: the scorer kept its collectors");
			return;
		}
		feeds_ingest_server_keyring(r->ingest_srv, k);
		feeds_keyring_free(r->collectors);
		r->collectors = k;
		log_notice("reload: %zu collector(s) configured", c->feeds.bus.collectors.n);
	}
}

void roles_stop_early(struct roles *r, int64_t grace_ms)
{
	if (r == NULL)
		return;
	/* A full spill must not hold the sources' last reads for ever. */
	feeds_ingest_client_unblock(r->ingest);
	/* Sources first: they drain what the kernel holds into the queue. */
	collector_flow_stop(r->flow);
	r->flow = NULL;
	collector_smtp_stop(r->smtp);
	r->smtp = NULL;
	for (size_t i = 0; i < r->nmembers; i++)
		feeds_sub_stop(r->members[i]);
	free(r->members);
	r->members = NULL;
	r->nmembers = 0;
	feeds_federation_stop(r->fed);
	r->fed = NULL;
	/* Then the queue, which the scorer still acknowledges. */
	feeds_ingest_server_quiesce(r->ingest_srv);
	size_t lost = feeds_ingest_client_stop(r->ingest, grace_ms);
	r->ingest = NULL;
	if (lost > 0)
		log_warnx("stop: %zu observations were not acknowledged in time", lost);
	feeds_ingest_server_stop(r->ingest_srv);
	r->ingest_srv = NULL;
	feeds_keyring_free(r->collectors);
	r->collectors = NULL;
	atomic_store(&r->pub, NULL);
	scoring_stop(r->scorer);
	r->scorer = NULL;
	feeds_pub_stop(r->pub_owned);
	r->pub_owned = NULL;
	if (r->m != NULL)
		rn_metrics_unregister(r->m, r);
}

void roles_stop_late(struct roles *r)
{
	if (r == NULL)
		return;
	feeds_rbl_stop(r->rbl);
	feeds_sync_stop(r->sync);
	feeds_sub_stop(r->serve_sub);
	feeds_replica_free(r->replica);
	feeds_keyring_free(r->ring);
	scoring_protect_free(r->protect);
	feeds_signer_free(r->signer);
	feeds_signer_free(r->collector);
	rn_prefix_list_clear(&r->fw_allow);
	free(r);
}

/* ---- status ------------------------------------------------------------ */

/* The most /status may grow to: repnet status reads at most this much. */
#define STATUS_MAX ((size_t)4 << 20)

static void feed_json(struct rn_jsonw *w, const struct feeds_feed_status *st)
{
	char hex[65];
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", st->digest[i]);
	int64_t age = st->last_change_ms ? rn_time_now_ms() - st->last_change_ms : -1;
	rn_jsonw_obj_begin(w);
	rn_jsonw_kv_str(w, "publisher", st->publisher);
	rn_jsonw_kv_uint(w, "epoch", st->epoch);
	rn_jsonw_kv_uint(w, "seq", st->seq);
	rn_jsonw_kv_str(w, "digest", hex);
	rn_jsonw_kv_uint(w, "listed", st->listed);
	rn_jsonw_kv_int(w, "age_ms", age);
	rn_jsonw_kv_bool(w, "in_sync", st->in_sync);
	rn_jsonw_kv_bool(w, "quarantined", st->quarantined);
	rn_jsonw_kv_uint(w, "resync_backoffs", st->resync_backoffs);
	rn_jsonw_key(w, "rejected");
	rn_jsonw_obj_begin(w);
	for (int i = 0; i < FEEDS_REJ_COUNT; i++)
		if (st->rejected[i] != 0)
			rn_jsonw_kv_uint(w, feeds_reject_name(i), st->rejected[i]);
	rn_jsonw_obj_end(w);
	rn_jsonw_obj_end(w);
}

/* The scorer's side of the ingest bus: what it took, from whom, and what it refused. */
static void ingest_server_json(struct rn_jsonw *w, struct feeds_ingest_server *srv)
{
	struct feeds_ingest_status st;
	struct feeds_ingest_collector_status cs[64];
	int64_t now = rn_time_now_ms();
	feeds_ingest_server_status(srv, &st);
	size_t n = feeds_ingest_server_collectors(srv, cs, RN_ARRAY_LEN(cs));
	rn_jsonw_obj_begin(w);
	rn_jsonw_kv_uint(w, "batches", st.batches);
	rn_jsonw_kv_uint(w, "observations", st.observations);
	rn_jsonw_key(w, "refused");
	rn_jsonw_obj_begin(w);
	for (int i = 0; i < FEEDS_INGEST_REFUSAL_COUNT; i++)
		if (st.refused[i] != 0)
			rn_jsonw_kv_uint(w, feeds_ingest_refusal_name(i), st.refused[i]);
	rn_jsonw_obj_end(w);
	rn_jsonw_kv_uint(w, "closed_before_message", st.closed_before_message);
	if (st.last_ms != 0) {
		rn_jsonw_key(w, "last_refused");
		rn_jsonw_obj_begin(w);
		rn_jsonw_kv_str(w, "reason", feeds_ingest_refusal_name(st.last_reason));
		rn_jsonw_kv_str(w, "peer", st.last_peer);
		rn_jsonw_kv_str(w, "key_id", st.last_key_id);
		rn_jsonw_kv_int(w, "age_ms", now - st.last_ms);
		rn_jsonw_obj_end(w);
	}
	rn_jsonw_key(w, "collectors");
	rn_jsonw_arr_begin(w);
	for (size_t i = 0; i < n; i++) {
		rn_jsonw_obj_begin(w);
		rn_jsonw_kv_str(w, "name", cs[i].name);
		rn_jsonw_kv_uint(w, "batches", cs[i].batches);
		rn_jsonw_kv_uint(w, "observations", cs[i].observations);
		rn_jsonw_kv_int(w, "age_ms", now - cs[i].last_ms);
		rn_jsonw_obj_end(w);
	}
	rn_jsonw_arr_end(w);
	rn_jsonw_obj_end(w);
}

struct scoring *roles_scorer(struct roles *r)
{
	return r != NULL ? r->scorer : NULL;
}

const struct feeds_view *roles_view(struct roles *r)
{
	return r != NULL && r->view.lookup != NULL ? &r->view : NULL;
}

unsigned roles_dnsbl_port(struct roles *r)
{
	return r != NULL ? feeds_rbl_dnsbl_port(r->rbl) : 0;
}

int roles_status(struct roles *r, void (*extra)(void *arg, struct rn_jsonw *w), void *arg,
                 char **out, size_t *len)
{
	struct rn_strbuf b;
	struct rn_jsonw w;
	const struct daemon_conf *c = r->conf;
	rn_strbuf_init(&b, STATUS_MAX);
	rn_jsonw_init(&w, &b);
	rn_jsonw_obj_begin(&w);
	rn_jsonw_kv_str(&w, "instance", c->core.instance);
	rn_jsonw_kv_str(&w, "version", REPNET_VERSION_STRING);
	rn_jsonw_key(&w, "roles");
	rn_jsonw_arr_begin(&w);
	for (int i = 0; rn_role_names[i] != NULL; i++)
		if (c->core.roles & (1u << i))
			rn_jsonw_str(&w, rn_role_names[i]);
	rn_jsonw_arr_end(&w);
	if (extra != NULL)
		extra(arg, &w);
	if (r->ingest != NULL) {
		struct feeds_ingest_tally t;
		feeds_ingest_client_tally(r->ingest, &t);
		rn_jsonw_key(&w, "ingest");
		rn_jsonw_obj_begin(&w);
		rn_jsonw_kv_uint(&w, "acked", feeds_ingest_client_acked(r->ingest));
		rn_jsonw_kv_uint(&w, "refused", t.refused);
		rn_jsonw_kv_uint(&w, "unauthenticated", t.unauthenticated);
		rn_jsonw_kv_str(&w, "url", t.url);
		rn_jsonw_kv_bool(&w, "connected", t.connected);
		rn_jsonw_kv_int(&w, "last_ack_age_ms",
		                t.last_ack_ms ? rn_time_now_ms() - t.last_ack_ms : -1);
		rn_jsonw_kv_uint(&w, "queued", t.queued);
		rn_jsonw_kv_uint(&w, "retries", t.retries);
		rn_jsonw_obj_end(&w);
	}
	if (r->ingest_srv != NULL) {
		rn_jsonw_key(&w, "ingest_server");
		ingest_server_json(&w, r->ingest_srv);
	}
	if (r->scorer != NULL) {
		struct scoring_table *t = scoring_current(r->scorer);
		if (t != NULL) {
			rn_jsonw_key(&w, "scorer");
			rn_jsonw_obj_begin(&w);
			rn_jsonw_kv_uint(&w, "listed", scoring_table_count(t));
			rn_jsonw_kv_bool(&w, "dry_run", scoring_table_dry_run(t));
			rn_jsonw_kv_uint(&w, "delistings", scoring_delist_count(r->scorer));
			struct scoring_health h;
			scoring_health(r->scorer, &h);
			rn_jsonw_kv_str(&w, "journal", scoring_journal_state_name(h.journal));
			if (h.journal != SCORING_JOURNAL_OK) {
				rn_jsonw_kv_str(&w, "journal_error", rn_strerror(h.journal_error));
				rn_jsonw_kv_int(&w, "journal_since_ms", h.journal_since_ms);
			}
			rn_jsonw_kv_uint(&w, "snapshot_failures", h.snapshot_failures);
			if (h.snapshot_failures > 0) {
				rn_jsonw_kv_str(&w, "snapshot_error",
				                rn_strerror(h.snapshot_error));
				rn_jsonw_kv_int(&w, "snapshot_retry_ms", h.snapshot_retry_ms);
			}
			rn_jsonw_kv_int(&w, "snapshot_ok_ms", h.snapshot_ok_ms);
			rn_jsonw_obj_end(&w);
			scoring_table_free(t);
		}
	}
	struct feeds_feed_status st;
	if (r->pub_owned != NULL) {
		feeds_pub_status(r->pub_owned, &st);
		rn_jsonw_key(&w, "publisher");
		feed_json(&w, &st);
	}
	if (r->serve_sub != NULL) {
		feeds_sub_status(r->serve_sub, &st);
		rn_jsonw_key(&w, "serving");
		feed_json(&w, &st);
		rn_jsonw_kv_uint(&w, "replica_entries", feeds_replica_count(r->replica));
	}
	rn_jsonw_key(&w, "members");
	rn_jsonw_arr_begin(&w);
	for (size_t i = 0; i < r->nmembers; i++) {
		feeds_sub_status(r->members[i], &st);
		feed_json(&w, &st);
	}
	rn_jsonw_arr_end(&w);
	rn_jsonw_obj_end(&w);
	int rc = rn_jsonw_finish(&w);
	if (rc == RN_OK)
		rn_strbuf_putc(&b, '\n');
	if (rc != RN_OK) {
		rn_strbuf_release(&b);
		return rc;
	}
	return rn_strbuf_take(&b, out, len);
}
