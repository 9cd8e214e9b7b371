/*
 * demo_show.c: what repnet demo prints: listings as the feed announces
 * them, a progress line, and at the end a real dig answer, the feed's
 * sequence and digest, and a summary read from the daemon's own metrics.
 *
 * Design notes: the feed callbacks run on the subscription's thread and
 * the rest on the demo's; both print under d->mu, so a listing and a
 * progress line never interleave. On a terminal the progress line is
 * rewritten in place and listings clear it first; otherwise every line
 * stands on its own. At most SHOW_MAX listings are printed; all are
 * counted.
 */
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "demo.h"
#include "util.h"

extern char **environ;

#define SHOW_MAX 40

/* ---- while the data flows ------------------------------------------------------ */

void demo_on_change(void *arg, struct feeds_sub *s, const struct scoring_table *old_t,
                    const struct scoring_table *new_t, const struct scoring_delta *dl)
{
	struct demo *d = arg;
	(void)s;
	(void)old_t;
	pthread_mutex_lock(&d->mu);
	struct scoring_iter it;
	struct scoring_entry e;
	/* Print what this change listed that the old state did not. */
	scoring_iter_init(&it, new_t);
	while (scoring_iter_next(&it, &e)) {
		struct scoring_entry x;
		if (old_t != NULL && scoring_table_find(old_t, &e.prefix, &x) && x.cats == e.cats)
			continue;
		d->listed_events++;
		if (!d->have_sample && e.prefix.addr.family == RN_AF_INET && e.prefix.len == 32) {
			d->sample = e.prefix.addr;
			d->have_sample = true;
		}
		if (d->shown++ >= SHOW_MAX)
			continue;
		char p[RN_PREFIX_STRLEN], cats[160] = "";
		size_t o = 0;
		rn_prefix_format(&e.prefix, p, sizeof(p));
		for (unsigned c = 1; c < RN_CAT_COUNT; c++)
			if (e.cats & (1u << c))
				o += (size_t)snprintf(cats + o, sizeof(cats) - o, "%s%s",
				                      o ? "," : "", rn_category_name(c));
		printf("%s  listed  %-20s %s\n", d->tty ? "\r\033[K" : "", p, cats);
	}
	(void)dl;
	pthread_mutex_unlock(&d->mu);
	fflush(stdout);
}

void demo_on_message(void *arg, struct feeds_sub *s, const struct feeds_msg_info *m)
{
	struct demo *d = arg;
	(void)s;
	if (m->result != RN_OK)
		return;
	pthread_mutex_lock(&d->mu);
	d->seq = m->seq;
	memcpy(d->digest, m->digest, 32);
	pthread_mutex_unlock(&d->mu);
}

void demo_progress(struct demo *d)
{
	pthread_mutex_lock(&d->mu);
	printf("%s[replay] %llu/%llu log lines, %llu/%llu flow datagrams, %llu listed, "
	       "feed seq %llu%s",
	       d->tty ? "\r\033[K" : "", (unsigned long long)d->lines_sent,
	       (unsigned long long)d->lines_total, (unsigned long long)d->flows_sent,
	       (unsigned long long)d->flows_total, (unsigned long long)d->listed_events,
	       (unsigned long long)d->seq, d->tty ? "" : "\n");
	pthread_mutex_unlock(&d->mu);
	fflush(stdout);
}

uint64_t demo_seq(struct demo *d)
{
	pthread_mutex_lock(&d->mu);
	uint64_t seq = d->seq;
	pthread_mutex_unlock(&d->mu);
	return seq;
}

void demo_show_more(struct demo *d)
{
	pthread_mutex_lock(&d->mu);
	if (d->shown > SHOW_MAX)
		printf("%s  ... and %llu more listed (%llu in all; repnet list prints the "
		       "blocklist)\n",
		       d->tty ? "\r\033[K" : "", (unsigned long long)(d->shown - SHOW_MAX),
		       (unsigned long long)d->shown);
	pthread_mutex_unlock(&d->mu);
	fflush(stdout);
}

/* ---- the end ------------------------------------------------------------------- */

/*
 * How to call this repnet from a shell: "repnet" when PATH finds this
 * very program, else its absolute path (a build tree).
 */
static const char *repnet_cmd(char *buf, size_t len)
{
	char self[PATH_MAX], cand[PATH_MAX], real[PATH_MAX];
	if (realpath("/proc/self/exe", self) == NULL)
		return "repnet";
	snprintf(buf, len, "%s", self);
	const char *path = getenv("PATH");
	for (int i = 0; path != NULL && *path != '\0' && i < 256; i++) {
		const char *end = strchr(path, ':');
		size_t n = end ? (size_t)(end - path) : strlen(path);
		if (n > 0 && n < sizeof(cand) - 8) {
			snprintf(cand, sizeof(cand), "%.*s/repnet", (int)n, path);
			if (realpath(cand, real) != NULL && strcmp(real, self) == 0)
				return "repnet";
			if (access(cand, X_OK) == 0)
				break; /* PATH finds another repnet first */
		}
		if (end == NULL)
			break;
		path = end + 1;
	}
	return buf;
}

static void dig_one(struct demo *d)
{
	if (!d->have_sample || d->c.feeds.rbl.dnsbl_listen.n == 0 ||
	    d->c.feeds.rbl.dnsbl_zones.n == 0)
		return;
	char host[64], port[16] = "53";
	const char *l = d->c.feeds.rbl.dnsbl_listen.v[0];
	const char *colon = strrchr(l, ':');
	snprintf(host, sizeof(host), "%.*s", (int)(colon ? colon - l : (long)strlen(l)), l);
	if (colon != NULL)
		snprintf(port, sizeof(port), "%s", colon + 1);
	char zone[256];
	snprintf(zone, sizeof(zone), "%s", d->c.feeds.rbl.dnsbl_zones.v[0]);
	char *cz = strchr(zone, ':');
	if (cz != NULL)
		*cz = '\0';
	uint32_t a = d->sample.u.v4;
	char q[320], at[80];
	snprintf(q, sizeof(q), "%u.%u.%u.%u.%s", a & 0xff, (a >> 8) & 0xff, (a >> 16) & 0xff,
	         a >> 24, zone);
	snprintf(at, sizeof(at), "@%s", host[0] == '[' ? host + 1 : host);
	char *br = strchr(at, ']');
	if (br != NULL)
		*br = '\0';
	printf("\n$ dig %s -p %s %s ANY +noall +answer\n", at, port, q);
	fflush(stdout);
	for (int t = 0; t < 2; t++) {
		const char *type = t == 0 ? "A" : "TXT";
		pid_t pid;
		const char *args[] = {"dig",    at,        "-p",      port,       q,   type,
		                      "+noall", "+answer", "+time=2", "+tries=1", NULL};
		if (posix_spawnp(&pid, "dig", NULL, NULL, (char *const *)args, environ) != 0) {
			printf("  (dig is not installed: apt-get install dnsutils)\n");
			return;
		}
		int st;
		waitpid(pid, &st, 0);
	}
}

struct tally {
	char rows[64][96];
	size_t n;
};

static void tally_fn(void *arg, const char *labels, double v)
{
	struct tally *t = arg;
	if (t->n < 64)
		snprintf(t->rows[t->n++], sizeof(t->rows[0]), "%-40s %12.0f", labels, v);
}

static void summary(struct demo *d)
{
	char *m = NULL;
	int st = 0;
	if (cli_http_get(d->http, "/metrics", 3000, 16u << 20, &m, &st) != RN_OK || st != 200) {
		printf("\n(could not read the daemon's metrics for the summary)\n");
		free(m);
		return;
	}
	struct tally t = {0};
	printf("\n=== summary ===\n\nobservations by kind (scorer's ingest)\n");
	cli_metric_each(m, "repnet_ingest_observations_by_kind_total", tally_fn, &t);
	for (size_t i = 0; i < t.n; i++)
		printf("  %s\n", t.rows[i]);
	printf("\nlisted by category (the feed as a member sees it)\n");
	struct scoring_table *tab = feeds_sub_table(d->sub);
	uint64_t per[RN_CAT_COUNT] = {0}, total = 0;
	if (tab != NULL) {
		struct scoring_iter it;
		struct scoring_entry e;
		scoring_iter_init(&it, tab);
		while (scoring_iter_next(&it, &e)) {
			total++;
			for (unsigned c = 1; c < RN_CAT_COUNT; c++)
				per[c] += (e.cats >> c) & 1;
		}
		scoring_table_free(tab);
	}
	for (unsigned c = 1; c < RN_CAT_COUNT; c++)
		if (per[c] > 0)
			printf("  %-40s %12llu\n", rn_category_name(c), (unsigned long long)per[c]);
	printf("  %-40s %12llu\n", "entries", (unsigned long long)total);
	printf("\nbus messages\n");
	double v;
	if (cli_metric(m, "repnet_collector_batches_total", "result=\"acked\"", &v) == 0)
		printf("  %-40s %12.0f\n", "observation batches acknowledged", v);
	t.n = 0;
	cli_metric_each(m, "repnet_feed_published_total", tally_fn, &t);
	for (size_t i = 0; i < t.n; i++)
		printf("  published %s\n", t.rows[i]);
	printf("\nDNSBL answers\n");
	t.n = 0;
	cli_metric_each(m, "repnet_dnsbl_answers_total", tally_fn, &t);
	for (size_t i = 0; i < t.n; i++)
		printf("  %s\n", t.rows[i]);
	free(m);
}

void demo_show_end(struct demo *d, const char *pname, const char *ddir, const char *pub)
{
	dig_one(d);
	char hex[65];
	pthread_mutex_lock(&d->mu);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d->digest[i]);
	printf("\nfeed %s: sequence %llu, state digest %s\n", pname, (unsigned long long)d->seq,
	       hex);
	pthread_mutex_unlock(&d->mu);
	/*
	 * Commands that work when copied: this repnet's path when PATH does not
	 * find it, and the demo's configuration, so that explain scores with
	 * the daemon's settings (the lab ranges are not never-block there).
	 */
	char self[PATH_MAX], ip[RN_ADDR_STRLEN] = "IP", cf[PATH_MAX + 160];
	const char *rn = repnet_cmd(self, sizeof(self));
	if (d->have_sample)
		rn_addr_format(&d->sample, ip, sizeof(ip));
	if (d->user_conf != NULL)
		snprintf(cf, sizeof(cf),
		         "-c '%s' -o core.data_dir='%s' -o scoring.default_never_block=false",
		         d->user_conf, ddir);
	else
		snprintf(cf, sizeof(cf), "-c '%s'", d->conf);
	printf("\nto look at the rest, while repnetd runs:\n"
	       "  curl -s http://%s/metrics\n"
	       "      every counter\n"
	       "  curl -s http://%s/status\n"
	       "      roles, feed state\n"
	       "  %s status %s\n"
	       "      the same, summarised\n"
	       "  %s explain %s %s\n"
	       "      why an address is listed (the one dig asked about)\n"
	       "  %s sub %s --name %s --key \"$(cat %s)\"\n"
	       "      the feed, verified, as a member reads it\n"
	       "  (the demo runs no sync role: add -o "
	       "core.roles=collect,score,publish,serve,sync\n"
	       "   to keep nftables sets, as root)\n",
	       d->http, d->http, rn, cf, rn, cf, ip, rn, d->c.feeds.bus.pub_listen, pname, pub);
	fflush(stdout);
	summary(d);
}
