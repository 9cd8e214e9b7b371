/*
 * flow_live.c: the live flow collector: capture workers, decoders,
 * detectors, template persistence, metrics.
 *
 * Design notes:
 *   - Threads. `flow.workers` decoding threads, each owning its captures
 *     (udp: one SO_REUSEPORT socket per listener; tpacket: one fanout
 *     member; xdp: one queue) and its decoder (sessions, templates,
 *     pending data). The kernel's REUSEPORT hash, the fanout hash and RSS
 *     all keep one exporter's datagrams on one worker, so templates need no
 *     sharing. An optional mirror thread owns the mirror-port capture and
 *     the packet meter.
 *   - Detectors run on their own thread. Each worker copies its decoded
 *     records into a single-producer, single-consumer ring (DET_RING
 *     records); the detector thread drains the rings in batches and owns
 *     the detectors, so no lock is taken per record and a slow detector
 *     never holds up a socket. When a ring is full the records that do not
 *     fit are counted (repnet_flow_detect_dropped_total) and skipped by the
 *     detectors only: they were decoded, counted and given to the record
 *     sink all the same. The detector thread runs at nice 10, below the
 *     workers, so that on a short core the sockets are read first.
 *     While records arrive it polls the rings every millisecond; after
 *     DET_IDLE_MS without any it sleeps on det_wcv until a worker queues
 *     records (a worker signals only when det_sleeping is set) or the next
 *     once-a-second tick is due: an idle collector does not wake it.
 *     Workers sleep in poll() on their sockets and stop_efd, a second at
 *     most, for their once-a-second tick.
 *   - Nothing is allocated per packet: captures lend their buffers, the
 *     decoder writes records into its own batch array.
 *   - Exporters. Every datagram a capture lends (UDP sockets, and the
 *     payloads the tpacket and xdp paths take from frames, whose source
 *     address is the frame's) is checked against collector.flow.exporters
 *     (loopback when empty; a listener off loopback then refuses to
 *     start) before it is decoded; the rest are counted per worker and
 *     logged (rate-limited) with their source. A one-entry cache of the
 *     last allowed source keeps the check off the list in a run.
 *     Mirror-port frames are traffic to meter, not export, and are not
 *     checked.
 *   - Templates are saved per worker to core.data_dir/flow-templates.N
 *     (by the worker itself, so no other thread reads its tables) every
 *     flow.template_save_interval when changed or, when only refreshed,
 *     every quarter of flow.template_lifetime, and at stop. Each worker
 *     expires templates and idle sessions once a second. At start every
 *     decoder loads every file, since the worker an exporter hashes to may
 *     differ after a restart, pruning what expired meanwhile or comes from
 *     an address no longer allowed; files of workers that no longer exist
 *     are then removed.
 *   - Stop: the flag is raised, each worker drains what its sockets or
 *     rings hold (bounded), saves its templates and exits; then the
 *     detectors are flushed, and the helpers (which hold the XDP program
 *     and the privileged sockets' setup) are reaped.
 *   - Privilege: tpacket and xdp descriptors come from the helper process
 *     (capture_client.c); this process needs no capability for them.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "collector/capture.h"
#include "collector/flow_detect.h"
#include "collector/pktmeter.h"

#define MAX_CAPS    4
#define PKT_BATCH   1024
#define DRAIN_LIMIT 100000 /* packets drained per capture at stop */
#define MAX_WORKERS 64
#define DET_RING    4096 /* records per worker waiting for the detectors (fits in L2) */
#define DET_BATCH   256
#define DET_IDLE_MS 100 /* no records this long: the detector thread sleeps */

/* Single producer (a worker), single consumer (the detector thread). */
struct det_ring {
	struct collector_flow_rec *v; /* DET_RING entries */
	_Atomic uint64_t head;        /* written by the producer */
	_Atomic uint64_t tail;        /* written by the consumer */
	struct rn_counter dropped;
};

struct flow_worker {
	struct collector_flow *f;
	unsigned id;
	pthread_t th;
	bool started;
	struct flow_dec *dec;
	struct pktmeter *meter; /* the mirror worker only */
	struct capture *caps[MAX_CAPS];
	struct capture_frames_conf fc;
	size_t ncaps;
	struct capture_pkt pkts[PKT_BATCH];
	int64_t last_save;
	int64_t last_write; /* the last file written (monotonic ms) */
	int64_t last_tick;
	struct rn_counter packets, bytes; /* sums over decoded records */
	struct rn_counter refused;        /* datagrams from outside flow.exporters */
	struct rn_addr allowed;           /* the last source found in the list */
	bool allowed_set;
	struct det_ring ring; /* records for the detector thread */
};

struct collector_flow {
	const struct collector_flow_conf *conf; /* &conf_copy */
	struct collector_flow_conf conf_copy;   /* its strings are valid during start only */
	struct rn_metrics *m;
	struct flow_exporters *exps;
	struct flow_detect *det; /* owned by the detector thread while it runs */
	pthread_mutex_t det_mu;  /* guards det against totals_get() */
	pthread_t det_th;
	bool det_started;
	_Atomic bool det_stop;
	/* The detector thread's idle sleep: see det_wait(). */
	pthread_mutex_t det_wmu;
	pthread_cond_t det_wcv;
	_Atomic bool det_sleeping;
	int stop_efd; /* readable once stop is raised: wakes the workers' poll() */
	struct collector_flow_rec_sink rsink;
	struct collector_sink sink;
	struct flow_worker *w;
	size_t nw;
	struct flow_worker *mirror;
	_Atomic bool stop;
	struct rn_prefix_list allow; /* flow.exporters, or loopback when it is empty */
	struct rn_helper helpers[2];
	size_t nhelpers;
	unsigned ports[3];
	char *data_dir;
};

/* ---- records ---------------------------------------------------------------------- */

static void worker_rec(void *arg, const struct collector_flow_rec *r, size_t n)
{
	struct flow_worker *w = arg;
	struct collector_flow *f = w->f;
	uint64_t pk = 0, by = 0;
	for (size_t i = 0; i < n; i++) {
		pk += r[i].packets + r[i].rev_packets;
		by += r[i].bytes + r[i].rev_bytes;
	}
	rn_counter_add(&w->packets, pk);
	rn_counter_add(&w->bytes, by);
	if (f->rsink.rec != NULL)
		f->rsink.rec(f->rsink.arg, r, n);
	if (f->det == NULL)
		return;
	struct det_ring *q = &w->ring;
	uint64_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&q->tail, memory_order_acquire);
	size_t room = DET_RING - (size_t)(head - tail);
	size_t k = n < room ? n : room;
	for (size_t i = 0; i < k; i++)
		q->v[(head + i) & (DET_RING - 1)] = r[i];
	atomic_store_explicit(&q->head, head + k, memory_order_release);
	if (k < n)
		rn_counter_add(&q->dropped, n - k);
	/* Pairs with the fence in det_wait(): either it sees the records or we see it asleep. */
	atomic_thread_fence(memory_order_seq_cst);
	if (k > 0 && atomic_load_explicit(&f->det_sleeping, memory_order_relaxed)) {
		pthread_mutex_lock(&f->det_wmu);
		pthread_cond_signal(&f->det_wcv);
		pthread_mutex_unlock(&f->det_wmu);
	}
}

/* Moves up to DET_BATCH records from q into the detectors; returns how many. */
static size_t det_drain(struct collector_flow *f, struct det_ring *q)
{
	uint64_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
	uint64_t head = atomic_load_explicit(&q->head, memory_order_acquire);
	size_t n = (size_t)(head - tail);
	if (n == 0)
		return 0;
	if (n > DET_BATCH)
		n = DET_BATCH;
	/* The ring wraps: feed at most up to its end, the rest next time. */
	size_t at = (size_t)(tail & (DET_RING - 1));
	if (n > DET_RING - at)
		n = DET_RING - at;
	pthread_mutex_lock(&f->det_mu);
	flow_detect_feed(f->det, &q->v[at], n);
	pthread_mutex_unlock(&f->det_mu);
	atomic_store_explicit(&q->tail, tail + n, memory_order_release);
	return n;
}

static bool det_rings_empty(const struct collector_flow *f)
{
	for (size_t i = 0; i < f->nw; i++)
		if (atomic_load_explicit(&f->w[i].ring.head, memory_order_relaxed) !=
		    atomic_load_explicit(&f->w[i].ring.tail, memory_order_relaxed))
			return false;
	if (f->mirror != NULL &&
	    atomic_load_explicit(&f->mirror->ring.head, memory_order_relaxed) !=
	            atomic_load_explicit(&f->mirror->ring.tail, memory_order_relaxed))
		return false;
	return true;
}

/*
 * Sleeps until a worker queues records, stop, or the deadline (the next
 * detector tick). The flag and the fence pair with worker_rec(): a worker
 * that queues after our check finds det_sleeping set and signals under
 * det_wmu, which we hold from the check into the wait.
 */
static void det_wait(struct collector_flow *f, int64_t deadline)
{
	pthread_mutex_lock(&f->det_wmu);
	atomic_store_explicit(&f->det_sleeping, true, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	if (det_rings_empty(f) && !atomic_load(&f->det_stop))
		(void)rn_cond_wait_until(&f->det_wcv, &f->det_wmu, deadline);
	atomic_store_explicit(&f->det_sleeping, false, memory_order_relaxed);
	pthread_mutex_unlock(&f->det_wmu);
}

static void *det_main(void *arg)
{
	struct collector_flow *f = arg;
	int64_t last_tick = 0, last_got = 0;
	/*
	 * Below the workers: when the core is short, sockets are read first and
	 * the detectors skip (and count) what they cannot keep up with.
	 */
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), 10);
	for (;;) {
		bool stopping = atomic_load(&f->det_stop);
		size_t got = 0;
		for (size_t i = 0; i < f->nw; i++)
			got += det_drain(f, &f->w[i].ring);
		if (f->mirror != NULL)
			got += det_drain(f, &f->mirror->ring);
		if (got == 0) {
			/* Workers are joined before det_stop is set: empty means done. */
			if (stopping)
				break;
			/*
			 * While records flow, poll the rings every millisecond (no
			 * signal per batch); after DET_IDLE_MS without any, sleep until
			 * a worker signals or the next tick is due.
			 */
			if (rn_time_mono_ms() - last_got < DET_IDLE_MS) {
				struct timespec ts = {.tv_nsec = 1000000};
				nanosleep(&ts, NULL);
			} else {
				/* With nothing waiting for its reverse, no tick is due either. */
				pthread_mutex_lock(&f->det_mu);
				bool idle = flow_detect_idle(f->det);
				pthread_mutex_unlock(&f->det_mu);
				det_wait(f, idle ? INT64_MAX / 2 : last_tick + 1000);
				/* The detectors' wall clock first, for the records that woke us. */
				last_tick = 0;
			}
		} else {
			last_got = rn_time_mono_ms();
		}
		int64_t now = rn_time_mono_ms();
		if (now - last_tick >= 1000) {
			last_tick = now;
			pthread_mutex_lock(&f->det_mu);
			flow_detect_tick(f->det, rn_time_now_ms());
			pthread_mutex_unlock(&f->det_mu);
		}
	}
	return NULL;
}

/* ---- templates ------------------------------------------------------------------- */

static void tmpl_path(const struct collector_flow *f, unsigned id, char *buf, size_t len)
{
	snprintf(buf, len, "%s/flow-templates.%u", f->data_dir, id);
}

/*
 * Writes the worker's templates when they changed, or when they were only
 * sent again (newer learned times, which decide what a restart prunes)
 * and a quarter of their lifetime has passed since the last write, or at
 * stop: so after a restart within the rest of their lifetime they load.
 */
static void worker_save(struct flow_worker *w, bool stopping)
{
	char path[1200];
	struct flow_dec *d = w->dec;
	if (d == NULL)
		return;
	int64_t now = rn_time_mono_ms();
	bool due = d->tmpl_dirty ||
	           (d->tmpl_refreshed &&
	            (stopping || now - w->last_write >= w->f->conf->template_lifetime_ms / 4));
	if (!due)
		return;
	tmpl_path(w->f, w->id, path, sizeof(path));
	int rc = flow_tmpl_save(&d, 1, path);
	if (rc != RN_OK) {
		log_warnx("flow: saving templates to %s: %s", path, rn_strerror(rc));
		return;
	}
	d->tmpl_refreshed = false;
	w->last_write = now;
}

static void templates_load(struct collector_flow *f)
{
	char path[1200];
	for (unsigned k = 0; k < MAX_WORKERS; k++) {
		tmpl_path(f, k, path, sizeof(path));
		if (access(path, F_OK) != 0)
			continue;
		for (size_t i = 0; i < f->nw; i++) {
			struct flow_tmpl_load_stats st;
			int rc =
			        flow_tmpl_load(f->w[i].dec, path, rn_time_now_ms(), &f->allow, &st);
			if (rc != RN_OK)
				log_warnx("flow: %s: %s", path, rn_strerror(rc));
			else if (i == 0)
				log_info("flow: %zu templates from %s (%zu refused, %zu pruned: "
				         "expired, not an exporter, or past a cap)",
				         st.loaded, path, st.bad, st.pruned);
		}
		if (k >= f->nw)
			(void)unlink(path);
	}
}

/* ---- workers ----------------------------------------------------------------------- */

static const char *addr_str(const struct rn_addr *a, char *buf, size_t len)
{
	rn_addr_format(a, buf, len);
	return buf;
}

/* Is p's source in flow.exporters? One entry of cache: exporters send in runs. */
static bool worker_allowed(struct flow_worker *w, const struct capture_pkt *p)
{
	if (w->allowed_set && rn_addr_equal(&w->allowed, &p->addr))
		return true;
	if (!rn_prefix_list_contains(&w->f->allow, &p->addr)) {
		char a[RN_ADDR_STRLEN];
		rn_counter_inc(&w->refused);
		log_warnx_rl("flow: worker %u dropped a datagram from %s port %u: not in "
		             "collector.flow.exporters",
		             w->id, addr_str(&p->addr, a, sizeof(a)), p->port);
		return false;
	}
	w->allowed = p->addr;
	w->allowed_set = true;
	return true;
}

static size_t worker_pump(struct flow_worker *w, struct capture *c, int timeout_ms)
{
	size_t n = 0;
	if (capture_recv(c, w->pkts, PKT_BATCH, &n, timeout_ms) != RN_OK)
		return 0;
	for (size_t i = 0; i < n; i++) {
		const struct capture_pkt *p = &w->pkts[i];
		if (w->meter != NULL) {
			(void)pktmeter_frame(w->meter, PKT_LINK_ETHER, p->data, p->len, p->ts_ms);
			continue;
		}
		if (!worker_allowed(w, p))
			continue;
		struct flow_origin o = {.addr = p->addr, .port = p->port, .recv_ms = p->ts_ms};
		(void)flow_dec_datagram(w->dec, &o, p->data, p->len);
	}
	capture_release(c, w->pkts, n);
	return n;
}

static void worker_tick(struct flow_worker *w)
{
	int64_t now = rn_time_mono_ms();
	if (now - w->last_tick < 1000)
		return;
	w->last_tick = now;
	if (w->dec != NULL) {
		int64_t wall = rn_time_now_ms();
		flow_dec_expire(w->dec, wall);
		flow_tmpl_expire(w->dec, wall);
	}
	if (now - w->last_save >= w->f->conf->template_save_ms) {
		w->last_save = now;
		worker_save(w, false);
	}
}

static void *worker_main(void *arg)
{
	struct flow_worker *w = arg;
	struct pollfd pfd[MAX_CAPS + 1];

	w->last_save = w->last_tick = w->last_write = rn_time_mono_ms();
	while (!atomic_load(&w->f->stop)) {
		size_t got = 0;
		for (size_t i = 0; i < w->ncaps; i++)
			got += worker_pump(w, w->caps[i], 0);
		if (got == 0) {
			for (size_t i = 0; i < w->ncaps; i++)
				pfd[i] = (struct pollfd){.fd = w->caps[i]->fd, .events = POLLIN};
			/* Stop makes stop_efd readable; the timeout paces worker_tick(). */
			pfd[w->ncaps] = (struct pollfd){.fd = w->f->stop_efd, .events = POLLIN};
			(void)poll(pfd, w->ncaps + 1, 1000);
		}
		worker_tick(w);
	}
	/* Drain what the kernel already holds for us, bounded. */
	for (size_t i = 0; i < w->ncaps; i++) {
		size_t total = 0, n;
		do {
			n = worker_pump(w, w->caps[i], 0);
			total += n;
		} while (n > 0 && total < DRAIN_LIMIT);
	}
	if (w->meter != NULL)
		pktmeter_flush(w->meter);
	worker_save(w, true);
	return NULL;
}

/* ---- metrics ----------------------------------------------------------------------- */

static int capture_register(struct collector_flow *f, struct capture *c, unsigned worker)
{
	char lab[160], esc[96];
	int rc = RN_OK;
	if (f->m == NULL)
		return RN_OK;
	rn_metrics_escape(c->name, esc, sizeof(esc));
	snprintf(lab, sizeof(lab), "path=\"%s\",worker=\"%u\"", esc, worker);
	rc = rc ? rc
	        : rn_metrics_counter(f->m, f, "repnet_flow_capture_packets_total",
	                             "Datagrams or frames received, by capture path and worker.",
	                             lab, &c->stats.packets);
	rc = rc ? rc
	        : rn_metrics_counter(f->m, f, "repnet_flow_capture_bytes_total",
	                             "Bytes received, by capture path and worker.", lab,
	                             &c->stats.bytes);
	rc = rc ? rc
	        : rn_metrics_counter(
	                  f->m, f, "repnet_flow_socket_drops_total",
	                  "Datagrams or frames lost before the collector read them "
	                  "(SO_RXQ_OVFL, TPACKET or XDP statistics), by path and worker.",
	                  lab, &c->stats.drops);
	rc = rc ? rc
	        : rn_metrics_counter(
	                  f->m, f, "repnet_flow_capture_truncated_total",
	                  "Datagrams longer than the receive buffer, by path and worker.", lab,
	                  &c->stats.truncated);
	rc = rc ? rc
	        : rn_metrics_counter(f->m, f, "repnet_flow_capture_not_flow_total",
	                             "Steered frames that were not flow export to our ports.", lab,
	                             &c->stats.not_flow);
	return rc;
}

/* ---- setup --------------------------------------------------------------------------- */

static int listen_port(const char *listen, uint16_t *port)
{
	struct sockaddr_storage ss;
	unsigned sslen;
	int rc = rn_hostport_parse(listen, &ss, &sslen);
	if (rc != RN_OK)
		return rc;
	unsigned p = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
	                                           : ((struct sockaddr_in6 *)&ss)->sin6_port);
	if (p == 0)
		return RN_ECONF; /* frames are steered by port: it must be known */
	*port = (uint16_t)p;
	return RN_OK;
}

/*
 * The helper's path: collector.flow.helper, else the installed one
 * (<libexecdir>/repnet/repnet-capture of this executable's prefix), else
 * the one beside this executable (a build tree).
 */
static int helper_path(const char *conf, char *out, size_t len)
{
	if (conf != NULL) {
		if ((size_t)snprintf(out, len, "%s", conf) >= len)
			return RN_ELIMIT;
		return RN_OK;
	}
	if (rn_path_installed(RN_INSTDIR_LIBEXEC, "repnet/repnet-capture", out, len) == RN_OK)
		return RN_OK;
	return rn_path_beside_self("repnet-capture", out, len);
}

int collector_flow_helper_argv(const struct collector_flow_conf *conf, char *buf, size_t len,
                               char *argv[COLLECTOR_HELPER_ARGV])
{
	static char fd3[] = "3";
	if (conf->backend == COLLECTOR_FLOW_BACKEND_UDP && conf->mirror_interface == NULL)
		return RN_ENOTFOUND;
	int rc = helper_path(conf->helper, buf, len);
	if (rc != RN_OK)
		return rc;
	argv[0] = buf;
	argv[1] = fd3;
	argv[2] = NULL;
	return RN_OK;
}

static int helper_open(struct collector_flow *f, bool mirror, int *fds, size_t *nfds,
                       struct capmsg_rep *rep, struct capmsg_req *req)
{
	const struct collector_flow_conf *c = f->conf;
	memset(req, 0, sizeof(*req));
	req->magic = CAPMSG_MAGIC;
	req->version = CAPMSG_VERSION;
	int backend = mirror ? c->mirror_backend : c->backend;
	req->kind = backend == COLLECTOR_FLOW_BACKEND_XDP ? CAPMSG_XDP : CAPMSG_TPACKET;
	const char *ifname = mirror ? c->mirror_interface : c->interface;
	if (backend == COLLECTOR_FLOW_BACKEND_UDP) {
		log_warnx("flow: collector.flow.mirror_backend must be tpacket or xdp");
		return RN_ECONF;
	}
	if (ifname == NULL) {
		log_warnx("flow: the %s backend needs collector.flow.interface",
		          backend == COLLECTOR_FLOW_BACKEND_XDP ? "xdp" : "tpacket");
		return RN_ECONF;
	}
	snprintf(req->ifname, sizeof(req->ifname), "%s", ifname);
	req->queues = mirror ? 1 : (uint32_t)c->workers;
	req->raw = mirror;
	if (!mirror) {
		const char *l[3] = {c->netflow_listen, c->ipfix_listen, c->sflow_listen};
		for (int i = 0; i < 3; i++) {
			if (l[i] == NULL)
				continue;
			int rc = listen_port(l[i], &req->ports[req->nports]);
			if (rc != RN_OK) {
				log_warnx("flow: %s: the tpacket and xdp backends steer by port, "
				          "which must not be 0",
				          l[i]);
				return rc;
			}
			req->nports++;
		}
		if (req->nports == 0) {
			log_warnx("flow: no listener configured for the %s backend", ifname);
			return RN_ECONF;
		}
	}
	req->fanout_group = c->fanout_group != 0
	                            ? (uint32_t)c->fanout_group
	                            : (uint32_t)(getpid() & 0xffff) ^ (mirror ? 1u : 0u);
	req->xdp_mode = (uint32_t)c->xdp_mode;
	req->xdp_bind = (uint32_t)c->xdp_bind;
	req->frame_size = 4096;
	req->nframes = req->kind == CAPMSG_XDP ? 4096 : 64;
	req->block_size = 1u << 20;
	struct rn_helper *h = &f->helpers[f->nhelpers];
	char path[PATH_MAX];
	int rc = helper_path(c->helper, path, sizeof(path));
	if (rc != RN_OK) {
		log_warnx("flow: no capture helper: %s", rn_strerror(rc));
		return rc;
	}
	rc = capture_helper_spawn(path, req, h, fds, nfds, rep);
	if (rc != RN_OK) {
		log_warnx("flow: capture helper %s on %s: %s: %s", path, ifname, rn_strerror(rc),
		          rep->msg);
		return rc;
	}
	f->nhelpers++;
	log_notice("flow: %s capture on %s (%s) from helper %s, pid %d",
	           req->kind == CAPMSG_XDP ? "AF_XDP" : "TPACKET_V3", ifname,
	           req->kind == CAPMSG_XDP ? (rep->zerocopy ? "zero-copy" : "copy") : "mmap ring",
	           path, (int)h->pid);
	return RN_OK;
}

/* Wraps the helper's descriptors into captures, one per worker. */
static int frames_captures(struct collector_flow *f, bool mirror, struct flow_worker *ws, size_t nw)
{
	struct capmsg_req req;
	struct capmsg_rep rep;
	int fds[CAPMSG_MAXFD];
	size_t nfds = 0;
	int rc = helper_open(f, mirror, fds, &nfds, &rep, &req);
	if (rc != RN_OK)
		return rc;
	size_t per = req.kind == CAPMSG_XDP ? 2 : 1;
	if (nfds != per * nw) {
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]);
		return RN_EINTERNAL;
	}
	for (size_t i = 0; i < nw; i++) {
		struct flow_worker *w = &ws[i];
		struct capture *c = NULL;
		char name[48];
		w->fc.raw = mirror;
		w->fc.nports = req.nports;
		memcpy(w->fc.ports, req.ports, sizeof(req.ports));
		if (req.kind == CAPMSG_XDP) {
			snprintf(name, sizeof(name), "xdp/%s/%zu", req.ifname, i);
			struct capture_xdp_desc d = {.xsk_fd = fds[2 * i],
			                             .umem_fd = fds[2 * i + 1],
			                             .frame_size = req.frame_size,
			                             .nframes = req.nframes,
			                             .umem_size =
			                                     (uint64_t)req.frame_size * req.nframes,
			                             .rx_size = 2048,
			                             .fill_size = 2048,
			                             .zerocopy = rep.zerocopy != 0};
			rc = capture_xdp_open(&c, &d, &w->fc, name);
			fds[2 * i] = fds[2 * i + 1] = -1;
		} else {
			snprintf(name, sizeof(name), "tpacket/%s/%zu", req.ifname, i);
			struct capture_tpacket_desc d = {.fd = fds[i],
			                                 .block_size = req.block_size,
			                                 .nblocks = req.nframes,
			                                 .frame_size = req.frame_size};
			rc = capture_tpacket_open(&c, &d, &w->fc, name);
			fds[i] = -1;
		}
		if (rc != RN_OK)
			break;
		w->caps[w->ncaps++] = c;
	}
	for (size_t i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return rc;
}

unsigned collector_flow_port(const struct collector_flow *f, unsigned i)
{
	return f != NULL && i < 3 ? f->ports[i] : 0;
}

void collector_flow_totals_get(struct collector_flow *f, struct collector_flow_totals *t)
{
	memset(t, 0, sizeof(*t));
	flow_exporters_totals(f->exps, t);
	for (size_t i = 0; i < f->nw; i++) {
		t->packets += rn_counter_get(&f->w[i].packets);
		t->bytes += rn_counter_get(&f->w[i].bytes);
		t->refused += rn_counter_get(&f->w[i].refused);
	}
	if (f->mirror != NULL) {
		t->packets += rn_counter_get(&f->mirror->packets);
		t->bytes += rn_counter_get(&f->mirror->bytes);
	}
	if (f->det != NULL) {
		pthread_mutex_lock(&f->det_mu);
		t->observations = flow_detect_emitted(f->det);
		pthread_mutex_unlock(&f->det_mu);
	}
}

int collector_flow_start(struct collector_flow **out, const struct collector_flow_conf *conf,
                         const char *data_dir, struct rn_metrics *m,
                         const struct collector_flow_rec_sink *rsink,
                         const struct collector_sink *sink)
{
	struct collector_flow *f = calloc(1, sizeof(*f));
	struct flow_dec_conf dc;
	int rc = -ENOMEM;

	if (f == NULL)
		return -ENOMEM;
	pthread_mutex_init(&f->det_mu, NULL);
	pthread_mutex_init(&f->det_wmu, NULL);
	f->stop_efd = -1;
	if (rn_cond_init(&f->det_wcv) != RN_OK) {
		pthread_mutex_destroy(&f->det_wmu);
		pthread_mutex_destroy(&f->det_mu);
		free(f);
		return -ENOMEM;
	}
	/*
	 * The caller's configuration may be replaced by a reload: keep a copy
	 * of the numbers; the strings are only read before this returns.
	 */
	f->conf_copy = *conf;
	f->conf = &f->conf_copy;
	memset(&f->conf_copy.exporters, 0, sizeof(f->conf_copy.exporters));
	char err[512];
	if (collector_flow_conf_check(conf, err, sizeof(err)) != RN_OK) {
		log_errx("flow: %s", err);
		rc = RN_ECONF;
		goto fail;
	}
	/* Empty: every listener is on loopback (checked), and so are its exporters. */
	rc = conf->exporters.n > 0 ? rn_prefix_list_append(&f->allow, &conf->exporters)
	                           : rn_prefix_list_add_loopback(&f->allow);
	if (rc != RN_OK)
		goto fail;
	conf = f->conf;
	rc = -ENOMEM;
	f->m = m;
	if (rsink != NULL)
		f->rsink = *rsink;
	if (sink != NULL)
		f->sink = *sink;
	f->data_dir = strdup(data_dir);
	f->nw = (size_t)conf->workers;
	f->w = calloc(f->nw, sizeof(*f->w));
	if (f->data_dir == NULL || f->w == NULL)
		goto fail;
	rc = flow_exporters_alloc(&f->exps, (size_t)conf->max_exporters, m, NULL);
	if (rc != RN_OK)
		goto fail;
	if (conf->detect && sink != NULL) {
		rc = flow_detect_alloc(&f->det, conf, sink, m, NULL);
		if (rc != RN_OK)
			goto fail;
	}
	collector_flow_dec_conf(conf, &dc);
	for (size_t i = 0; i < f->nw; i++) {
		struct flow_worker *w = &f->w[i];
		struct collector_flow_rec_sink ws = {.rec = worker_rec, .arg = w};
		w->f = f;
		w->id = (unsigned)i;
		rc = flow_dec_alloc(&w->dec, &dc, f->exps, &ws);
		if (rc != RN_OK)
			goto fail;
		if (f->det != NULL) {
			w->ring.v = calloc(DET_RING, sizeof(*w->ring.v));
			rc = -ENOMEM;
			if (w->ring.v == NULL)
				goto fail;
		}
	}

	/* Listeners. */
	const char *l[3] = {conf->netflow_listen, conf->ipfix_listen, conf->sflow_listen};
	static const char *const lkey[3] = {"collector.flow.netflow_listen",
	                                    "collector.flow.ipfix_listen",
	                                    "collector.flow.sflow_listen"};
	if (conf->backend == COLLECTOR_FLOW_BACKEND_UDP) {
		for (int k = 0; k < 3; k++) {
			if (l[k] == NULL)
				continue;
			for (size_t i = 0; i < f->nw; i++) {
				struct flow_worker *w = &f->w[i];
				struct capture *c;
				rc = capture_udp_open(&c, l[k], conf->rcvbuf, (size_t)conf->batch);
				if (rc != RN_OK) {
					log_warnx("flow: %s = \"%s\": %s", lkey[k], l[k],
					          rn_strerror(rc));
					goto fail;
				}
				w->caps[w->ncaps++] = c;
				if (i == 0)
					f->ports[k] = capture_udp_port(c);
			}
			log_notice("flow: listening on udp %s (port %u, %zu workers)", l[k],
			           f->ports[k], f->nw);
		}
	} else {
		rc = frames_captures(f, false, f->w, f->nw);
		if (rc != RN_OK)
			goto fail;
		for (int k = 0; k < 3; k++) {
			uint16_t p = 0;
			if (l[k] != NULL && listen_port(l[k], &p) == RN_OK)
				f->ports[k] = p;
		}
	}
	if (conf->mirror_interface != NULL) {
		f->mirror = calloc(1, sizeof(*f->mirror));
		rc = -ENOMEM;
		if (f->mirror == NULL)
			goto fail;
		f->mirror->f = f;
		f->mirror->id = (unsigned)f->nw;
		struct collector_flow_rec_sink ms = {.rec = worker_rec, .arg = f->mirror};
		rc = pktmeter_alloc(&f->mirror->meter, (size_t)conf->max_pending, 30000, &ms, m);
		if (rc != RN_OK)
			goto fail;
		if (f->det != NULL) {
			f->mirror->ring.v = calloc(DET_RING, sizeof(*f->mirror->ring.v));
			rc = -ENOMEM;
			if (f->mirror->ring.v == NULL)
				goto fail;
		}
		rc = frames_captures(f, true, f->mirror, 1);
		if (rc != RN_OK)
			goto fail;
	}
	for (size_t i = 0; i < f->nw; i++) {
		for (size_t k = 0; k < f->w[i].ncaps; k++)
			if ((rc = capture_register(f, f->w[i].caps[k], (unsigned)i)) != RN_OK)
				goto fail;
		char lab[32];
		snprintf(lab, sizeof(lab), "worker=\"%zu\"", i);
		if (f->m != NULL &&
		    (rc = rn_metrics_counter(f->m, f, "repnet_flow_refused_total",
		                             "Datagrams dropped because their source is not in "
		                             "collector.flow.exporters (loopback when empty), by "
		                             "worker.",
		                             lab, &f->w[i].refused)) != RN_OK)
			goto fail;
		if (f->m != NULL && f->det != NULL &&
		    (rc = rn_metrics_counter(f->m, f, "repnet_flow_detect_dropped_total",
		                             "Decoded records the detectors skipped because their "
		                             "queue was full, by worker.",
		                             lab, &f->w[i].ring.dropped)) != RN_OK)
			goto fail;
	}
	if (f->mirror != NULL)
		for (size_t k = 0; k < f->mirror->ncaps; k++)
			if ((rc = capture_register(f, f->mirror->caps[k], f->mirror->id)) != RN_OK)
				goto fail;
	templates_load(f);

	f->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (f->stop_efd < 0) {
		rc = -errno;
		goto fail;
	}
	if (f->det != NULL) {
		rc = -pthread_create(&f->det_th, NULL, det_main, f);
		if (rc != 0)
			goto fail;
		f->det_started = true;
	}
	for (size_t i = 0; i < f->nw; i++) {
		rc = -pthread_create(&f->w[i].th, NULL, worker_main, &f->w[i]);
		if (rc != 0)
			goto fail;
		f->w[i].started = true;
	}
	if (f->mirror != NULL) {
		rc = -pthread_create(&f->mirror->th, NULL, worker_main, f->mirror);
		if (rc != 0)
			goto fail;
		f->mirror->started = true;
	}
	f->conf_copy.netflow_listen = f->conf_copy.ipfix_listen = f->conf_copy.sflow_listen = NULL;
	f->conf_copy.interface = f->conf_copy.mirror_interface = f->conf_copy.helper = NULL;
	*out = f;
	return RN_OK;
fail:
	collector_flow_stop(f);
	return rc;
}

static void worker_free(struct flow_worker *w)
{
	free(w->ring.v);
	w->ring.v = NULL;
	for (size_t k = 0; k < w->ncaps; k++)
		capture_close(w->caps[k]);
	w->ncaps = 0;
	flow_dec_free(w->dec);
	pktmeter_free(w->meter);
}

void collector_flow_stop(struct collector_flow *f)
{
	if (f == NULL)
		return;
	atomic_store(&f->stop, true);
	if (f->stop_efd >= 0)
		(void)eventfd_write(f->stop_efd, 1);
	for (size_t i = 0; f->w != NULL && i < f->nw; i++)
		if (f->w[i].started)
			pthread_join(f->w[i].th, NULL);
	if (f->mirror != NULL && f->mirror->started)
		pthread_join(f->mirror->th, NULL);
	/* The workers are done: the detector thread drains what they queued. */
	atomic_store(&f->det_stop, true);
	pthread_mutex_lock(&f->det_wmu);
	pthread_cond_signal(&f->det_wcv);
	pthread_mutex_unlock(&f->det_wmu);
	if (f->det_started)
		pthread_join(f->det_th, NULL);
	if (f->det != NULL) {
		pthread_mutex_lock(&f->det_mu);
		flow_detect_flush(f->det);
		pthread_mutex_unlock(&f->det_mu);
	}
	if (f->m != NULL)
		rn_metrics_unregister(f->m, f);
	for (size_t i = 0; f->w != NULL && i < f->nw; i++)
		worker_free(&f->w[i]);
	if (f->mirror != NULL) {
		worker_free(f->mirror);
		free(f->mirror);
	}
	for (size_t i = 0; i < f->nhelpers; i++)
		capture_helper_reap(&f->helpers[i], 2000);
	flow_detect_free(f->det);
	flow_exporters_free(f->exps);
	pthread_mutex_destroy(&f->det_mu);
	pthread_mutex_destroy(&f->det_wmu);
	pthread_cond_destroy(&f->det_wcv);
	if (f->stop_efd >= 0)
		close(f->stop_efd);
	rn_prefix_list_clear(&f->allow);
	free(f->w);
	free(f->data_dir);
	free(f);
}
