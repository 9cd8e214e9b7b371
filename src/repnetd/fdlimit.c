/*
 * fdlimit.c: the descriptor limit, raised at start, and each listener's
 * share of it.
 *
 * Design notes. Every connection a listener holds is a descriptor, and so
 * is every journal, snapshot, state file, capture or applier socket, and
 * nng's own (its pollers, and connections still in the SP handshake,
 * which nng holds for up to 10 s before the bus's guard sees them). When
 * the process runs out, accept() fails everywhere at once and the scorer
 * cannot write a snapshot: one listener flooded stops them all (issue 14).
 * So at start the soft limit is raised to the hard one (never a
 * privilege), a reserve is kept for everything that is not a listener's
 * connection (128 plus a quarter of the limit, at most half of it: about
 * 40 descriptors are open in an idle single-host daemon, and the rest is
 * for the bus's connections in flight, see below), and the
 * listeners' connection caps share the rest. When the caps as configured
 * add up to more, each is lowered in proportion (at least 1), with a log
 * line naming the key; caps that fit stay as configured. The caps are
 * enforced by the connection server (HTTP, DNSBL TCP, policy, syslog TCP)
 * and by the bus's guards (ingest, feed, resync), each of which admits a
 * client that holds no connection by closing another's, so a full
 * listener still serves a legitimate client, and EMFILE never comes from
 * a listener's own connections.
 *
 * The bus's listeners hold more than their caps while connections close:
 * nng releases a closed connection's descriptor later, on its reaper
 * thread, so an attacker reconnecting as fast as connections are refused
 * keeps up to (rate x delay) descriptors in flight, which a busy machine
 * made hundreds (feeds/bus/guard.c). So a watch thread counts the
 * descriptors every 20 ms (or less often when a count takes over 1 ms:
 * it reads /proc/self/fd, and the watch spends at most 5% of a core),
 * and when more than limit - reserve / 2 are
 * open the bus's listeners stop accepting (their SYNs are dropped) until
 * fewer than limit - 3/4 of the reserve are (the listeners' caps and the
 * daemon's own files stay below that): the other half of the reserve is
 * left for the scorer's files and the other listeners, and EMFILE does
 * not reach nng. A burst faster than the watch could still eat it; none
 * did in the tests (integration.fd_attack_test).
 *
 * The lowered values are written into the configuration the roles start
 * from; a reload applies the same function to the configuration it reads
 * (same limit, same result) before comparing, so a cap that was lowered
 * does not look changed.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "fdlimit.h"

const char *const fd_listener_names[FD_LISTENERS] = {"http",   "dnsbl", "policy", "syslog",
                                                     "ingest", "feed",  "resync"};

/* The key of each listener's cap, for the log. */
static const char *const cap_keys[FD_LISTENERS] = {
        "core.http_max_conns",        "feeds.dnsbl.tcp_max_conns",
        "feeds.policy.max_conns",     "collector.syslog.max_connections",
        "feeds.bus.ingest_max_conns", "feeds.bus.pub_max_conns",
        "feeds.bus.resync_max_conns",
};

/* Pointers to the caps of c's enabled listeners; NULL for the others. */
static void caps_of(struct daemon_conf *c, int64_t *caps[FD_LISTENERS])
{
	unsigned roles = c->core.roles;
	const struct feeds_rbl_conf *rbl = &c->feeds.rbl;
	const struct feeds_bus_conf *bus = &c->feeds.bus;
	bool serve = (roles & RN_ROLE_SERVE) != 0, publish = (roles & RN_ROLE_PUBLISH) != 0;
	caps[FD_HTTP] = c->core.http_listen != NULL ? &c->core.http_max_conns : NULL;
	caps[FD_DNSBL] =
	        serve && rbl->dnsbl_listen.n > 0 ? &c->feeds.rbl.dnsbl_tcp_max_conns : NULL;
	caps[FD_POLICY] = serve && (rbl->policy_listen != NULL || rbl->policy_unix != NULL)
	                          ? &c->feeds.rbl.policy_max_conns
	                          : NULL;
	caps[FD_SYSLOG] = (roles & RN_ROLE_COLLECT) && c->collector.smtp.syslog_tcp != NULL
	                          ? &c->collector.smtp.syslog_max_conns
	                          : NULL;
	caps[FD_INGEST] = (roles & RN_ROLE_SCORE) && bus->ingest_listen != NULL
	                          ? &c->feeds.bus.ingest_max_conns
	                          : NULL;
	caps[FD_FEED] = publish && bus->pub_listen != NULL ? &c->feeds.bus.pub_max_conns : NULL;
	caps[FD_RESYNC] =
	        publish && bus->resync_listen != NULL ? &c->feeds.bus.resync_max_conns : NULL;
}

static uint64_t nr_open(void)
{
	unsigned long long v = 0;
	FILE *f = fopen("/proc/sys/fs/nr_open", "re");
	if (f != NULL) {
		if (fscanf(f, "%llu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v > 0 ? v : 1048576;
}

int fd_limit_raise(struct fd_budget *b)
{
	struct rlimit rl;
	memset(b, 0, sizeof(*b));
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -errno;
	b->was = rl.rlim_cur;
	uint64_t want = rl.rlim_max == RLIM_INFINITY ? nr_open() : rl.rlim_max;
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want) {
		b->limit = rl.rlim_cur == RLIM_INFINITY ? want : rl.rlim_cur;
	} else {
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			log_warn("descriptors: cannot raise the limit from %" PRIu64 " to %" PRIu64,
			         b->was, want);
			b->limit = b->was;
		} else {
			b->limit = want;
		}
	}
	b->hard = rl.rlim_max == RLIM_INFINITY ? want : rl.rlim_max;
	b->reserve = 128 + b->limit / 4;
	if (b->reserve > b->limit / 2)
		b->reserve = b->limit / 2;
	b->shared = b->limit - b->reserve;
	if (b->limit != b->was)
		log_notice("descriptors: limit raised from %" PRIu64 " to %" PRIu64
		           " (the hard limit); %" PRIu64 " kept for files, helpers and the bus",
		           b->was, b->limit, b->reserve);
	else
		log_notice("descriptors: limit %" PRIu64 "; %" PRIu64
		           " kept for files, helpers and the bus",
		           b->limit, b->reserve);
	return RN_OK;
}

void fd_budget_apply(struct fd_budget *b, struct daemon_conf *c, bool log)
{
	int64_t *caps[FD_LISTENERS];
	caps_of(c, caps);
	int64_t sum = 0;
	unsigned n = 0;
	for (int i = 0; i < FD_LISTENERS; i++) {
		b->cap[i] = 0;
		if (caps[i] != NULL) {
			sum += *caps[i];
			n++;
		}
	}
	b->configured = sum;
	bool lower = sum > (int64_t)b->shared;
	if (lower && log)
		log_warnx("descriptors: the listeners' connection caps add up to %" PRId64
		          ", more than the %" PRIu64 " the limit of %" PRIu64
		          " leaves them; lowering them in proportion",
		          sum, b->shared, b->limit);
	for (int i = 0; i < FD_LISTENERS; i++) {
		if (caps[i] == NULL)
			continue;
		int64_t v = *caps[i];
		if (lower) {
			v = (int64_t)((double)v * (double)b->shared / (double)sum);
			if (v < 1)
				v = 1;
		}
		if (v != *caps[i] && log)
			log_warnx("descriptors: %s lowered from %" PRId64 " to %" PRId64,
			          cap_keys[i], *caps[i], v);
		*caps[i] = v;
		b->cap[i] = v;
	}
	if (n > 0 && (uint64_t)n > b->shared && log)
		log_warnx("descriptors: the limit of %" PRIu64 " is too low for %u listeners",
		          b->limit, n);
}

long fd_count_open(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (d == NULL)
		return -1;
	long n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

void fd_budget_json(const struct fd_budget *b, struct rn_jsonw *w)
{
	rn_jsonw_obj_begin(w);
	rn_jsonw_kv_uint(w, "limit", b->limit);
	rn_jsonw_kv_int(w, "open", fd_count_open());
	rn_jsonw_kv_uint(w, "reserve", b->reserve);
	rn_jsonw_kv_bool(w, "short", atomic_load(&b->short_));
	rn_jsonw_key(w, "caps");
	rn_jsonw_obj_begin(w);
	for (int i = 0; i < FD_LISTENERS; i++)
		if (b->cap[i] > 0)
			rn_jsonw_kv_int(w, fd_listener_names[i], b->cap[i]);
	rn_jsonw_obj_end(w);
	rn_jsonw_obj_end(w);
}

/* ---- the watch ---------------------------------------------------------- */

#define WATCH_MS      20
#define WATCH_IDLE_MS 1000
#define WATCH_DUTY    20 /* sleep at least this many times as long as a count took */

struct fd_watch {
	struct fd_budget *b;
	void (*fn)(void *arg, bool short_);
	void *arg;
	struct rn_metrics *m;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	struct rn_gauge g_short;
};

static void *watch_main(void *arg)
{
	struct fd_watch *w = arg;
	const long high = (long)(w->b->limit - w->b->reserve / 2);
	const long low = (long)(w->b->limit - w->b->reserve * 3 / 4);
	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		pthread_mutex_unlock(&w->mu);
		int64_t t0 = rn_time_mono_ms();
		long open = fd_count_open();
		int64_t took = rn_time_mono_ms() - t0;
		bool was = atomic_load(&w->b->short_);
		bool now = was ? open < 0 || open >= low : open > high;
		if (now != was) {
			atomic_store(&w->b->short_, now);
			rn_gauge_set(&w->g_short, now);
			if (now)
				log_warnx_rl("descriptors: %ld of %" PRIu64
				             " open; the bus listeners "
				             "stop accepting until fewer than %ld are",
				             open, w->b->limit, low);
			else
				log_info_rl("descriptors: %ld open; the bus listeners accept again",
				            open);
			w->fn(w->arg, now);
		}
		pthread_mutex_lock(&w->mu);
		/*
		 * With many descriptors the count itself costs: at most 1/WATCH_DUTY
		 * of a core. Far below the mark (under half of it) the count is
		 * taken only every WATCH_IDLE_MS, so an idle daemon does not wake
		 * 50 times a second for it.
		 */
		int64_t every = now || open < 0 || open > high / 2 ? WATCH_MS : WATCH_IDLE_MS;
		if (!w->stop)
			rn_cond_wait_ms(&w->cv, &w->mu,
			                took * WATCH_DUTY > every ? took * WATCH_DUTY : every);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int fd_watch_start(struct fd_watch **out, struct fd_budget *b, void (*fn)(void *arg, bool short_),
                   void *arg, struct rn_metrics *m)
{
	struct fd_watch *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	w->b = b;
	w->fn = fn;
	w->arg = arg;
	pthread_mutex_init(&w->mu, NULL);
	rn_cond_init(&w->cv);
	int rc = RN_OK;
	if (m != NULL) {
		rc = rn_metrics_gauge(m, w, "repnet_process_fds_short",
		                      "1 while descriptors run short and the bus listeners do not "
		                      "accept.",
		                      NULL, &w->g_short);
		w->m = m;
	}
	if (rc == RN_OK && (rc = pthread_create(&w->th, NULL, watch_main, w)) != 0)
		rc = -rc;
	if (rc != RN_OK) {
		if (w->m != NULL)
			rn_metrics_unregister(w->m, w);
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		free(w);
		return rc;
	}
	*out = w;
	return RN_OK;
}

void fd_watch_stop(struct fd_watch *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->th, NULL);
	if (w->m != NULL)
		rn_metrics_unregister(w->m, w);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}
