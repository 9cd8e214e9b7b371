/*
 * serve.c: the serve role's local RBL: the DNSBL, the policy service and
 * the decision stream over a view, either the caller's (the replica) or a
 * list view loaded from dnsbl.list_file and kept in step with it.
 *
 * Design notes. A watcher thread checks the file every dnsbl.list_poll
 * (inode, size and modification time) and, when it changed, parses it
 * 256 KB at a time into a bulk load (feeds_import_load: about 4 bytes an
 * address, no array of entries) and makes that the view's content in
 * place (feeds_listview_replace_load): readers never stop, only the
 * buckets that differ are rebuilt, memory grows only by them, and
 * the decision stream sees the change in the view's log. A file that
 * fails to read leaves the running list alone and is retried at the next
 * change. Writers of the file should replace it atomically (rename), as
 * `repnet export --output` does, so that a half-written file is never
 * read.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include "feeds/rbl/decisions.h"
#include "feeds/rbl/dns.h"
#include "feeds/rbl/policy.h"
#include "feeds/rbl/rbl.h"

#define RBL_HISTORY     65536
#define RBL_MAX_ENTRIES (64u << 20)

struct feeds_rbl {
	struct feeds_rbl_conf confcopy; /* the daemon's may be replaced on reload */
	const struct feeds_rbl_conf *conf;
	struct rn_metrics *metrics;
	struct feeds_listview *lv;
	struct feeds_view view;
	struct feeds_dnsbl *dnsbl;
	struct feeds_policy *policy;
	struct feeds_decisions *decisions;
	pthread_t th;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	struct stat last;
	struct rn_counter reload_ok, reload_failed;
	struct rn_counter expired; /* entries dropped at loads because they had expired */
	struct rn_gauge entries, memory;
};

static int dup_str(char **dst, const char *src)
{
	*dst = NULL;
	if (src != NULL && (*dst = strdup(src)) == NULL)
		return -ENOMEM;
	return RN_OK;
}

static int dup_list(struct rn_strlist *dst, const struct rn_strlist *src)
{
	memset(dst, 0, sizeof(*dst));
	for (size_t i = 0; i < src->n; i++) {
		int rc = rn_strlist_add(dst, src->v[i]);
		if (rc != RN_OK)
			return rc;
	}
	return RN_OK;
}

static void conf_release(struct feeds_rbl_conf *c)
{
	char **strs[] = {&c->decisions_keys_file, &c->list_file,
	                 &c->dnsbl_soa_rname,     &c->dnsbl_reason,
	                 &c->dnsbl_lookup_url,    &c->policy_listen,
	                 &c->policy_unix,         &c->policy_unix_group,
	                 &c->policy_unix_mode,    &c->policy_text,
	                 &c->export_nft_table,    &c->export_nft_set4,
	                 &c->export_nft_set6,     &c->export_ipset4,
	                 &c->export_ipset6,       &c->state_dir};
	struct rn_strlist *lists[] = {&c->dnsbl_listen, &c->dnsbl_zones, &c->dnsbl_ns,
	                              &c->dnsbl_codes, &c->policy_defer};
	for (size_t i = 0; i < RN_ARRAY_LEN(strs); i++) {
		free(*strs[i]);
		*strs[i] = NULL;
	}
	for (size_t i = 0; i < RN_ARRAY_LEN(lists); i++)
		rn_strlist_clear(lists[i]);
}

/* A deep copy of src into dst; on failure dst holds nothing. */
static int conf_copy(struct feeds_rbl_conf *dst, const struct feeds_rbl_conf *src)
{
	int rc = RN_OK;
	*dst = *src;
	char **strs[] = {&dst->decisions_keys_file, &dst->list_file,
	                 &dst->dnsbl_soa_rname,     &dst->dnsbl_reason,
	                 &dst->dnsbl_lookup_url,    &dst->policy_listen,
	                 &dst->policy_unix,         &dst->policy_unix_group,
	                 &dst->policy_unix_mode,    &dst->policy_text,
	                 &dst->export_nft_table,    &dst->export_nft_set4,
	                 &dst->export_nft_set6,     &dst->export_ipset4,
	                 &dst->export_ipset6,       &dst->state_dir};
	struct rn_strlist *lists[] = {&dst->dnsbl_listen, &dst->dnsbl_zones, &dst->dnsbl_ns,
	                              &dst->dnsbl_codes, &dst->policy_defer};
	for (size_t i = 0; i < RN_ARRAY_LEN(strs); i++)
		*strs[i] = NULL;
	for (size_t i = 0; i < RN_ARRAY_LEN(lists); i++)
		memset(lists[i], 0, sizeof(*lists[i]));
	rc = rc ? rc : dup_str(&dst->decisions_keys_file, src->decisions_keys_file);
	rc = rc ? rc : dup_str(&dst->list_file, src->list_file);
	rc = rc ? rc : dup_str(&dst->dnsbl_soa_rname, src->dnsbl_soa_rname);
	rc = rc ? rc : dup_str(&dst->dnsbl_reason, src->dnsbl_reason);
	rc = rc ? rc : dup_str(&dst->dnsbl_lookup_url, src->dnsbl_lookup_url);
	rc = rc ? rc : dup_str(&dst->policy_listen, src->policy_listen);
	rc = rc ? rc : dup_str(&dst->policy_unix, src->policy_unix);
	rc = rc ? rc : dup_str(&dst->policy_unix_group, src->policy_unix_group);
	rc = rc ? rc : dup_str(&dst->policy_unix_mode, src->policy_unix_mode);
	rc = rc ? rc : dup_str(&dst->policy_text, src->policy_text);
	rc = rc ? rc : dup_str(&dst->export_nft_table, src->export_nft_table);
	rc = rc ? rc : dup_str(&dst->export_nft_set4, src->export_nft_set4);
	rc = rc ? rc : dup_str(&dst->export_nft_set6, src->export_nft_set6);
	rc = rc ? rc : dup_str(&dst->export_ipset4, src->export_ipset4);
	rc = rc ? rc : dup_str(&dst->export_ipset6, src->export_ipset6);
	rc = rc ? rc : dup_str(&dst->state_dir, src->state_dir);
	rc = rc ? rc : dup_list(&dst->dnsbl_listen, &src->dnsbl_listen);
	rc = rc ? rc : dup_list(&dst->dnsbl_zones, &src->dnsbl_zones);
	rc = rc ? rc : dup_list(&dst->dnsbl_ns, &src->dnsbl_ns);
	rc = rc ? rc : dup_list(&dst->dnsbl_codes, &src->dnsbl_codes);
	rc = rc ? rc : dup_list(&dst->policy_defer, &src->policy_defer);
	if (rc != RN_OK)
		conf_release(dst);
	return rc;
}

static uint32_t default_cats(void)
{
	return 1u << RN_CAT_DROP;
}

/* Reads the list file into the view. */
static int rbl_load(struct feeds_rbl *r)
{
	struct feeds_listview_load *ld = NULL;
	struct feeds_import_stats st;
	memset(&st, 0, sizeof(st));
	int rc = feeds_listview_load_alloc(&ld);
	if (rc == RN_OK)
		rc = feeds_import_load(r->conf->list_file,
		                       (enum feeds_list_format)r->conf->list_format, default_cats(),
		                       RBL_MAX_ENTRIES, ld, &st);
	if (rc == RN_OK)
		rc = feeds_listview_replace_load(r->lv, ld);
	feeds_listview_load_free(ld);
	if (rc != RN_OK) {
		rn_counter_inc(&r->reload_failed);
		log_warnx("rbl: %s: %s; keeping the list in memory", r->conf->list_file,
		          rn_strerror(rc));
		return rc;
	}
	rn_counter_inc(&r->reload_ok);
	rn_gauge_set(&r->entries, (int64_t)feeds_listview_count(r->lv));
	rn_gauge_set(&r->memory, (int64_t)feeds_listview_memory(r->lv));
	rn_counter_add(&r->expired, st.expired);
	log_notice("rbl: %s: %zu entries (%llu lines, %llu malformed, %llu expired and dropped), "
	           "version %llu",
	           r->conf->list_file, feeds_listview_count(r->lv), (unsigned long long)st.lines,
	           (unsigned long long)st.bad_lines, (unsigned long long)st.expired,
	           (unsigned long long)feeds_listview_version(r->lv));
	if (st.expired > 0)
		log_warnx("rbl: %s: %llu of its entries had expired and are not served%s",
		          r->conf->list_file, (unsigned long long)st.expired,
		          feeds_listview_count(r->lv) == 0 ? " (the list served is empty)" : "");
	return RN_OK;
}

static bool file_changed(struct feeds_rbl *r, struct stat *now)
{
	if (stat(r->conf->list_file, now) != 0)
		return false;
	return now->st_ino != r->last.st_ino || now->st_size != r->last.st_size ||
	       now->st_mtim.tv_sec != r->last.st_mtim.tv_sec ||
	       now->st_mtim.tv_nsec != r->last.st_mtim.tv_nsec;
}

static void *rbl_main(void *arg)
{
	struct feeds_rbl *r = arg;
	pthread_mutex_lock(&r->lock);
	while (!r->stop) {
		rn_cond_wait_ms(&r->cond, &r->lock, r->conf->list_poll_ms);
		if (r->stop)
			break;
		struct stat st;
		if (!file_changed(r, &st))
			continue;
		pthread_mutex_unlock(&r->lock);
		/* A file that does not load is not retried until it changes again. */
		rbl_load(r);
		r->last = st;
		pthread_mutex_lock(&r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

static int start_servers(struct feeds_rbl *r, struct rn_metrics *m)
{
	const struct feeds_rbl_conf *c = r->conf;
	int rc;
	if (c->dnsbl_listen.n > 0) {
		/* A list file's server was opened before the load (feeds_rbl_start). */
		if (r->dnsbl == NULL && (rc = feeds_dnsbl_open(&r->dnsbl, c, &r->view, m)) != RN_OK)
			return rc;
		if ((rc = feeds_dnsbl_run(r->dnsbl)) != RN_OK)
			return rc;
		log_notice("dnsbl: serving %zu zone(s) on port %u (%lld UDP workers)",
		           c->dnsbl_zones.n, feeds_dnsbl_port(r->dnsbl),
		           (long long)c->dnsbl_workers);
	}
	if (c->policy_listen != NULL || c->policy_unix != NULL) {
		if ((rc = feeds_policy_start(&r->policy, c, &r->view, m)) != RN_OK)
			return rc;
		log_notice("policy: serving on port %u%s%s", feeds_policy_port(r->policy),
		           c->policy_unix != NULL ? " and " : "",
		           c->policy_unix != NULL ? c->policy_unix : "");
	}
	return RN_OK;
}

/* Last: once registered, the handler lives as long as the listener. */
static int start_decisions(struct feeds_rbl *r, struct feeds_http *h, struct rn_metrics *m)
{
	if (r->conf->decisions_keys_file != NULL && h != NULL)
		return feeds_decisions_start(&r->decisions, h, r->conf, &r->view, m);
	return RN_OK;
}

int feeds_rbl_start_view(struct feeds_rbl **out, const struct feeds_rbl_conf *c,
                         const struct feeds_view *v, struct feeds_http *h, struct rn_metrics *m)
{
	int rc;
	*out = NULL;
	struct feeds_rbl *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	pthread_mutex_init(&r->lock, NULL);
	rn_cond_init(&r->cond);
	if ((rc = conf_copy(&r->confcopy, c)) != RN_OK) {
		pthread_cond_destroy(&r->cond);
		pthread_mutex_destroy(&r->lock);
		free(r);
		return rc;
	}
	r->conf = &r->confcopy;
	r->view = *v;
	if ((rc = start_servers(r, m)) != RN_OK || (rc = start_decisions(r, h, m)) != RN_OK) {
		feeds_rbl_stop(r);
		return rc;
	}
	*out = r;
	return RN_OK;
}

int feeds_rbl_start(struct feeds_rbl **out, const struct feeds_rbl_conf *c, struct feeds_http *h,
                    struct rn_metrics *m)
{
	int rc;
	*out = NULL;
	if (c->list_file == NULL)
		return RN_OK;
	struct feeds_rbl *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	pthread_mutex_init(&r->lock, NULL);
	rn_cond_init(&r->cond);
	if ((rc = conf_copy(&r->confcopy, c)) != RN_OK) {
		pthread_cond_destroy(&r->cond);
		pthread_mutex_destroy(&r->lock);
		free(r);
		return rc;
	}
	r->conf = c = &r->confcopy;
	r->metrics = m;
	if ((rc = feeds_listview_alloc(&r->lv, RBL_HISTORY)) != RN_OK)
		goto fail;
	feeds_listview_view(r->lv, &r->view);
	if (m != NULL) {
		static const char *help = "Reads of dnsbl.list_file, by result.";
		rc = rn_metrics_counter(m, r, "repnet_rbl_list_loads_total", help, "result=\"ok\"",
		                        &r->reload_ok);
		rc = rc ? rc
		        : rn_metrics_counter(m, r, "repnet_rbl_list_loads_total", help,
		                             "result=\"failed\"", &r->reload_failed);
		rc = rc ? rc
		        : rn_metrics_gauge(m, r, "repnet_rbl_list_entries",
		                           "Entries in the served list.", NULL, &r->entries);
		rc = rc ? rc
		        : rn_metrics_gauge(m, r, "repnet_rbl_list_memory_bytes",
		                           "Bytes held by the served list's lookup structure.",
		                           NULL, &r->memory);
		rc = rc ? rc
		        : rn_metrics_counter(m, r, "repnet_rbl_list_expired_total",
		                             "Entries of dnsbl.list_file dropped at a read because "
		                             "their expiry had passed.",
		                             NULL, &r->expired);
		if (rc != RN_OK)
			goto fail;
	}
	if (stat(c->list_file, &r->last) != 0) {
		rc = -errno;
		log_warnx("rbl: feeds.dnsbl.list_file = \"%s\": %s", c->list_file, rn_strerror(rc));
		goto fail;
	}
	/*
	 * Bind the DNSBL first, as rbldnsd does: a query sent during the load
	 * waits in the socket and is answered when the load ends.
	 */
	if (c->dnsbl_listen.n > 0 && (rc = feeds_dnsbl_open(&r->dnsbl, c, &r->view, m)) != RN_OK)
		goto fail;
	if ((rc = rbl_load(r)) != RN_OK)
		goto fail;
	if ((rc = start_servers(r, m)) != RN_OK)
		goto fail;
	if (pthread_create(&r->th, NULL, rbl_main, r) != 0) {
		rc = -EAGAIN;
		goto fail;
	}
	r->started = true;
	if ((rc = start_decisions(r, h, m)) != RN_OK)
		goto fail;
	*out = r;
	return RN_OK;
fail:
	feeds_rbl_stop(r);
	return rc;
}

unsigned feeds_rbl_dnsbl_port(const struct feeds_rbl *r)
{
	return r != NULL && r->dnsbl != NULL ? feeds_dnsbl_port(r->dnsbl) : 0;
}

void feeds_rbl_stop(struct feeds_rbl *r)
{
	if (r == NULL)
		return;
	if (r->started) {
		pthread_mutex_lock(&r->lock);
		r->stop = true;
		pthread_cond_signal(&r->cond);
		pthread_mutex_unlock(&r->lock);
		pthread_join(r->th, NULL);
	}
	feeds_policy_stop(r->policy);
	feeds_dnsbl_stop(r->dnsbl);
	/*
	 * The decision handler stays registered on the HTTP listener, which
	 * the caller stopped before this (rbl.h says so).
	 */
	feeds_decisions_free(r->decisions);
	if (r->metrics != NULL)
		rn_metrics_unregister(r->metrics, r);
	feeds_listview_free(r->lv);
	conf_release(&r->confcopy);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	free(r);
}
