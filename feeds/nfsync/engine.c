/*
 * engine.c: the netfilter sync engine's public API and lifecycle. It
 * holds the desired blocklist, plans kernel transactions and drives the
 * privileged applier, through the other files of this folder (engine.h
 * says which does what).
 *
 * Design notes:
 *
 * Every entry point that changes the kernel has the same three steps:
 *
 *   1. resolve: the caller's entries become the desired state, and per
 *      set, what changes: nfs_state_load (a load), nfs_delta_resolve (a
 *      delta: the items that leave and enter each set), nfs_plan_resolve
 *      (a reconcile: the kernel's sets listed and dumped, and compared);
 *   2. kernel operations: nfs_kops_build turns those changes into the
 *      list of operations, in order (elements to delete and add per set,
 *      sets to create, swap or delete, chains to rebuild);
 *   3. transaction: nfs_client_txn sends them to the applier as one
 *      transaction and reads the result; on failure the kernel is marked
 *      behind (dirty), and the next tick resynchronises it from a dump.
 *
 * A load resolves, then reconciles (steps 1 to 3 against the kernel). A
 * delta is applied as it is only when the kernel is known to equal the
 * desired state, its sets exist and are large enough and the chains are
 * ours; otherwise it is resolved into the desired state and the kernel
 * resynchronised by a reconcile. A delta is planned against the ruleset
 * generation our last commit left, when it is known: a batch refused for
 * ERESTART means someone else changed the ruleset since, and it is sent
 * again unguarded (additions refuse elements already present, deletions
 * refuse absent ones, so it is still checked); the next reconcile then
 * dumps.
 *
 * Threading: none. The caller's thread does everything, including the
 * blocking exchanges with the applier (bounded by sync.timeout). Counters
 * have this one writer; the metrics registry reads them at scrape time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feeds/nfsync/engine.h"

const char *const nfs_kind_label[NFS_DROP_KINDS] = {"v4", "v6", "net4", "net6"};

static const char *const err_names[NFS_ERR_COUNT] = {"kernel",  "full",    "enobufs", "eperm",
                                                     "applier", "timeout", "protocol"};
static const char *const refuse_names[NFS_REF_COUNT] = {"short_prefix", "family", "category",
                                                        "limit"};

static int register_metrics(struct feeds_nfsync *s);

/* ------------------------------------------------------------------ */
/* Lifecycle                                                           */
/* ------------------------------------------------------------------ */

int feeds_nfsync_open(struct feeds_nfsync **out, const struct feeds_sync_conf *conf,
                      struct rn_metrics *m)
{
	struct feeds_nfsync *s = calloc(1, sizeof(*s));
	int rc;
	if (s == NULL)
		return -ENOMEM;
	s->fd = -1;
	s->pid = -1;
	s->app = RN_HELPER_NONE;
	nfs_state_init(s);
	if ((rc = nfs_conf_copy(&s->conf, conf)) != RN_OK)
		goto fail;
	if (!nfs_engine_ipset(s) &&
	    (rc = nfs_table_parse(s->conf.table, &s->family, s->table, sizeof(s->table))) != RN_OK)
		goto fail;
	if (s->conf.max_elements <= 0)
		s->conf.max_elements = 16 * 1024 * 1024;
	if (s->conf.timeout_ms <= 0)
		s->conf.timeout_ms = 30000;
	if (s->conf.reconcile_ms <= 0)
		s->conf.reconcile_ms = 300000;
	if (s->conf.dump_ms <= 0)
		s->conf.dump_ms = 3600000;
	if (s->conf.swap_pct <= 0)
		s->conf.swap_pct = 25;
	if ((rc = nfs_state_allow(s)) != RN_OK || (rc = nfs_client_path(s)) != RN_OK)
		goto fail;
	s->wbuf = malloc(NFS_MSG_MAX);
	s->rbuf = malloc(NFS_MSG_MAX);
	if (s->wbuf == NULL || s->rbuf == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	nfs_state_clear(s);
	nfs_state_dirty(s, true);
	if (m != NULL) {
		s->m = m;
		if ((rc = register_metrics(s)) != RN_OK)
			goto fail;
	}
	if ((rc = nfs_client_start(s)) != RN_OK)
		goto fail;
	*out = s;
	return RN_OK;
fail:
	feeds_nfsync_close(s);
	return rc;
}

void feeds_nfsync_close(struct feeds_nfsync *s)
{
	if (s == NULL)
		return;
	if (s->m != NULL)
		rn_metrics_unregister(s->m, s);
	/* Closing our end makes the applier exit; it holds no transaction open
	 * between calls, so nothing is left half-sent. */
	nfs_client_stop(s, false);
	nfs_state_release(s);
	nfs_conf_free(&s->conf);
	free(s->wbuf);
	free(s->rbuf);
	free(s);
}

void feeds_nfsync_reload(struct feeds_nfsync *s, const struct feeds_sync_conf *conf)
{
	if (conf->reconcile_ms > 0 && conf->reconcile_ms != s->conf.reconcile_ms) {
		s->next_reconcile += conf->reconcile_ms - s->conf.reconcile_ms;
		s->conf.reconcile_ms = conf->reconcile_ms;
	}
	if (conf->dump_ms > 0)
		s->conf.dump_ms = conf->dump_ms;
}

int feeds_nfsync_applier_pid(const struct feeds_nfsync *s)
{
	return s->pid > 0 ? (int)s->pid : -1;
}

bool feeds_nfsync_in_sync(const struct feeds_nfsync *s)
{
	return !s->dirty;
}

/* ------------------------------------------------------------------ */
/* Loads and deltas                                                    */
/* ------------------------------------------------------------------ */

int feeds_nfsync_load(struct feeds_nfsync *s, const struct feeds_nfsync_entry *v, size_t n,
                      struct feeds_nfsync_report *rep)
{
	struct feeds_nfsync_report r = {0};
	int64_t t0 = rn_time_mono_us();

	/* Resolve; then the reconcile plans, operates and commits. */
	int rc = nfs_state_load(s, v, n, &r.refused);
	if (rc != RN_OK)
		return rc;
	bool first = !s->loaded;
	s->loaded = true;
	s->changed = true;
	rc = nfs_reconcile(s, &r, !first);
	r.total_us = rn_time_mono_us() - t0;
	if (rep != NULL)
		*rep = r;
	s->next_reconcile = rn_time_mono_ms() + s->conf.reconcile_ms;
	return rc;
}

/* A kernel that may be behind, or needs new or larger sets or its chains: resync it. */
static bool delta_resyncs(const struct feeds_nfsync *s, const struct nfs_delta *d)
{
	return s->dirty || d->newgroup || nfs_state_outgrown(s) || !s->chains_ok;
}

/*
 * The transaction of a delta (the operations in s->kops). On a refusal
 * for ERESTART of a guarded batch, once more unguarded. txn_us runs from
 * t0, the start of the call.
 */
static int delta_commit(struct feeds_nfsync *s, int64_t t0, struct feeds_nfsync_report *r)
{
	struct nfs_txn_result tr = {0};
	int rc = RN_OK;
	for (int attempt = 0; attempt < 2 && s->kops.n > 0; attempt++) {
		uint32_t gen = s->gen_valid ? s->known_gen : 0;
		rc = nfs_client_txn(s, &s->kops, gen, t0, r, &tr);
		if (rc == RN_OK) {
			s->known_gen = gen + 1;
			break;
		}
		s->gen_valid = false;
		if (!(rc == RN_ENETLINK && tr.kerr == ERESTART && gen != 0))
			break;
		rn_counter_inc(&s->conflicts);
		rc = RN_OK;
	}
	r->ops = tr.msgs;
	r->removed += s->kops.tally.removed;
	r->added += s->kops.tally.added;
	if (rc == RN_OK) {
		rn_counter_add(&s->el_added, s->kops.tally.added);
		rn_counter_add(&s->el_removed, s->kops.tally.removed);
	}
	return rc;
}

int feeds_nfsync_apply(struct feeds_nfsync *s, const struct feeds_nfsync_entry *add, size_t nadd,
                       const struct feeds_nfsync_entry *del, size_t ndel,
                       struct feeds_nfsync_report *rep)
{
	struct feeds_nfsync_report r = {0};
	struct nfs_delta d;
	int64_t t0 = rn_time_mono_us();
	int rc;

	/* A dead applier is noticed now, not halfway through the delta. */
	if (s->fd >= 0 && nfs_client_ensure(s) != RN_OK)
		nfs_state_dirty(s, true);
	/* Resolve: the desired state takes the delta; d says what leaves and
	 * enters which set. */
	nfs_delta_init(&d);
	rc = nfs_delta_resolve(s, add, nadd, del, ndel, &d, &r.refused);
	if (rc != RN_OK) {
		/* The desired state holds part of the delta: resync. */
		nfs_state_dirty(s, true);
	} else if (delta_resyncs(s, &d)) {
		if (s->dirty)
			rn_counter_inc(&s->resyncs);
		s->changed = true;
		rc = nfs_reconcile(s, &r, s->dirty);
	} else {
		/* The kernel operations, then the transaction. */
		if ((rc = nfs_client_ensure(s)) == RN_OK &&
		    (rc = nfs_kops_build(s, &d.plan, &s->kops)) == RN_OK)
			rc = delta_commit(s, t0, &r);
		/* The desired state holds the delta either way. */
		if (rc != RN_OK)
			nfs_state_dirty(s, true);
		nfs_state_gauges(s);
	}
	nfs_delta_release(&d);
	r.total_us = rn_time_mono_us() - t0;
	if (rep != NULL)
		*rep = r;
	return rc;
}

/* ------------------------------------------------------------------ */
/* Reconcile, adopt, dump, destroy                                     */
/* ------------------------------------------------------------------ */

int feeds_nfsync_reconcile(struct feeds_nfsync *s, struct feeds_nfsync_report *rep)
{
	struct feeds_nfsync_report r = {0};
	int64_t t0 = rn_time_mono_us();
	if (s->dirty && s->loaded)
		rn_counter_inc(&s->resyncs);
	int rc = nfs_reconcile(s, &r, s->loaded);
	int64_t now = rn_time_mono_ms();
	s->next_reconcile = now + s->conf.reconcile_ms;
	/* Failing again and again (no CAP_NET_ADMIN, a table in use...):
	 * back off from 1 s to the reconcile interval. */
	s->failures = rc == RN_OK ? 0 : s->failures + 1;
	int64_t back = (int64_t)1000 << (s->failures < 10 ? s->failures : 10);
	s->next_retry = now + (back < s->conf.reconcile_ms ? back : s->conf.reconcile_ms);
	r.total_us = rn_time_mono_us() - t0;
	if (rep != NULL)
		*rep = r;
	return rc;
}

int feeds_nfsync_tick(struct feeds_nfsync *s, int64_t now_ms, int64_t *next_ms)
{
	int rc = RN_OK;
	if (s->loaded && ((s->dirty && now_ms >= s->next_retry) || now_ms >= s->next_reconcile))
		rc = feeds_nfsync_reconcile(s, NULL);
	if (next_ms != NULL) {
		/* After a failure, retry soon but not in a busy loop. */
		*next_ms = s->dirty && s->next_retry < s->next_reconcile ? s->next_retry
		                                                         : s->next_reconcile;
	}
	return rc;
}

/* A callback's view of one set being dumped. */
struct setwalk {
	struct feeds_nfsync *s;
	const struct nfs_setinfo *si;
	char name[NFS_NAME_MAX];
	int (*cb)(const struct feeds_nfsync_item *it, void *arg);
	void *arg;
};

/*
 * LISTs the kernel's sets and dumps each that keep() accepts into
 * item(): the common walk of adopt and dump.
 */
static int sets_walk(struct feeds_nfsync *s, bool (*keep)(const struct setwalk *w),
                     int (*item)(const uint8_t *item, void *arg), struct setwalk *w)
{
	struct nfs_sets *list = calloc(1, sizeof(*list));
	int rc;
	if (list == NULL)
		return -ENOMEM;
	if ((rc = nfs_client_ensure(s)) != RN_OK || (rc = nfs_client_list(s, list)) != RN_OK)
		goto out;
	w->s = s;
	for (unsigned i = 0; i < list->n && rc == RN_OK; i++) {
		struct nfs_dumpinfo info;
		w->si = &list->v[i];
		if ((w->si->flags & NFS_SETF_TMP) || !keep(w))
			continue;
		rc = nfs_set_name(&w->si->id, nfs_engine_ipset(s) ? s->conf.ipset_prefix : NULL,
		                  false, w->name, sizeof(w->name));
		if (rc == RN_OK)
			rc = nfs_client_dump(s, &w->si->id, 0, item, w, &info);
	}
out:
	free(list);
	return rc;
}

/* Adopt takes the blocklist sets of our layout, of the shape we make. */
static bool adopt_keep(const struct setwalk *w)
{
	const struct nfs_setinfo *si = w->si;
	if (si->id.kind >= NFS_DROP_KINDS || !(si->flags & NFS_SETF_COMPAT))
		return false;
	/* A group of the other layout is not adopted. */
	return w->s->conf.per_category != (si->id.group == NFS_GROUP_ALL);
}

static int adopt_item(const uint8_t *item, void *arg)
{
	const struct setwalk *w = arg;
	return nfs_state_adopt(w->s, nfs_group_slot(w->si->id.group), w->si->id.kind, item);
}

int feeds_nfsync_adopt(struct feeds_nfsync *s)
{
	struct setwalk w = {0};
	nfs_state_clear(s);
	int rc = sets_walk(s, adopt_keep, adopt_item, &w);
	if (rc == RN_OK)
		rc = nfs_state_build_ranges(s);
	if (rc == RN_OK) {
		s->loaded = true;
		rc = nfs_reconcile(s, NULL, false);
	}
	return rc;
}

static bool dump_keep(const struct setwalk *w)
{
	(void)w;
	return true;
}

static int dump_item(const uint8_t *item, void *arg)
{
	const struct setwalk *w = arg;
	struct feeds_nfsync_item it = {.set = w->name};
	unsigned kind = w->si->id.kind, klen = nfs_kind_klen(kind);
	rn_addr_from_bytes(&it.lo, item, klen);
	rn_addr_from_bytes(&it.hi, nfs_kind_interval(kind) ? item + klen : item, klen);
	return w->cb(&it, w->arg);
}

int feeds_nfsync_dump(struct feeds_nfsync *s,
                      int (*cb)(const struct feeds_nfsync_item *it, void *arg), void *arg)
{
	struct setwalk w = {.cb = cb, .arg = arg};
	return sets_walk(s, dump_keep, dump_item, &w);
}

int feeds_nfsync_destroy(struct feeds_nfsync *s)
{
	struct nfs_kop destroy = {.type = NFS_M_DESTROY};
	struct nfs_txn_result tr = {0};
	int64_t t0 = rn_time_mono_us();
	int rc;
	if ((rc = nfs_client_ensure(s)) != RN_OK)
		return rc;
	nfs_kops_reset(&s->kops);
	rc = nfs_kops_push(&s->kops, &destroy);
	if (rc == RN_OK)
		rc = nfs_client_txn(s, &s->kops, 0, t0, NULL, &tr);
	if (rc == RN_ENETLINK && tr.kerr == ENOENT)
		rc = RN_OK; /* there was nothing */
	for (unsigned i = 0; i < NFS_GROUP_SLOTS; i++) {
		memset(s->g[i].exists, 0, sizeof(s->g[i].exists));
		memset(s->g[i].size, 0, sizeof(s->g[i].size));
	}
	s->chains_ok = false;
	nfs_state_dirty(s, true);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Metrics                                                             */
/* ------------------------------------------------------------------ */

static double m_last_txn(void *arg)
{
	const struct feeds_nfsync *s = arg;
	return s->last_txn_s;
}

static int register_metrics(struct feeds_nfsync *s)
{
	struct rn_metrics *m = s->m;
	char lb[64];
	int rc = RN_OK;
#define C(name, help, labels, ctr)                                              \
	do {                                                                    \
		if (rc == RN_OK)                                                \
			rc = rn_metrics_counter(m, s, name, help, labels, ctr); \
	} while (0)
#define G(name, help, labels, g)                                            \
	do {                                                                \
		if (rc == RN_OK)                                            \
			rc = rn_metrics_gauge(m, s, name, help, labels, g); \
	} while (0)
	C("repnet_nfsync_transactions_total", "Netfilter transactions, by result.", "result=\"ok\"",
	  &s->txn_ok);
	C("repnet_nfsync_transactions_total", "Netfilter transactions, by result.",
	  "result=\"failed\"", &s->txn_failed);
	C("repnet_nfsync_elements_total", "Set elements (or ranges) added and removed.",
	  "op=\"add\"", &s->el_added);
	C("repnet_nfsync_elements_total", "Set elements (or ranges) added and removed.",
	  "op=\"del\"", &s->el_removed);
	for (unsigned i = 0; i < NFS_ERR_COUNT; i++) {
		snprintf(lb, sizeof(lb), "reason=\"%s\"", err_names[i]);
		C("repnet_nfsync_errors_total",
		  "Failed transactions and applier failures, by reason; each leads to a resync.",
		  lb, &s->errors[i]);
	}
	for (unsigned i = 0; i < NFS_REF_COUNT; i++) {
		snprintf(lb, sizeof(lb), "reason=\"%s\"", refuse_names[i]);
		C("repnet_nfsync_refused_total", "Entries the sync refused, by reason.", lb,
		  &s->refused[i]);
	}
	C("repnet_nfsync_resyncs_total", "Full resynchronisations after a failure.", NULL,
	  &s->resyncs);
	C("repnet_nfsync_reconciles_total", "Dump-and-compare passes, by result.", "result=\"ok\"",
	  &s->rec_ok);
	C("repnet_nfsync_reconciles_total", "Dump-and-compare passes, by result.",
	  "result=\"failed\"", &s->rec_failed);
	C("repnet_nfsync_drift_elements_total",
	  "Elements found changed outside repnet and repaired, by kind.", "kind=\"missing\"",
	  &s->drift_missing);
	C("repnet_nfsync_drift_elements_total",
	  "Elements found changed outside repnet and repaired, by kind.", "kind=\"extra\"",
	  &s->drift_extra);
	C("repnet_nfsync_drift_chains_total", "Chains found changed outside repnet and rebuilt.",
	  NULL, &s->drift_chains);
	C("repnet_nfsync_swaps_total", "Sets loaded fresh and swapped in.", NULL, &s->swaps);
	C("repnet_nfsync_applier_restarts_total", "Times the applier was started again.", NULL,
	  &s->restarts);
	C("repnet_nfsync_generation_conflicts_total",
	  "Transactions refused because someone else changed the ruleset after they were "
	  "planned; each is planned again.",
	  NULL, &s->conflicts);
	C("repnet_nfsync_dumps_total",
	  "Kernel sets dumped (reconciles skip the dump while the ruleset generation holds).", NULL,
	  &s->dumps);
	G("repnet_nfsync_in_sync", "1 when the kernel is known to equal the desired state.", NULL,
	  &s->in_sync);
	for (unsigned k = 0; k < NFS_DROP_KINDS; k++) {
		snprintf(lb, sizeof(lb), "set=\"%s\"", nfs_kind_label[k]);
		G("repnet_nfsync_elements", "Elements (ranges for net sets) desired, by set kind.",
		  lb, &s->elements[k]);
	}
	G("repnet_nfsync_last_success_timestamp_seconds",
	  "When a transaction last succeeded, in seconds since the epoch.", NULL, &s->last_success);
	if (rc == RN_OK)
		rc = rn_metrics_func(
		        m, s, "repnet_nfsync_last_transaction_seconds",
		        "Duration of the last transaction, applier round trip included.",
		        RN_METRIC_GAUGE, NULL, m_last_txn, s);
#undef C
#undef G
	return rc;
}
