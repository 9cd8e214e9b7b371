/*
 * service_test.c: the scorer role: acknowledged batches survive a
 * restart, duplicates are recognised across restarts, a full queue says
 * retry, recovery falls back from a damaged snapshot, skips a torn
 * journal tail, refuses a state made with another bucket length, and a
 * read-only open writes nothing; the collector behind each piece of
 * evidence survives the journal, a snapshot, and the hold buffer. Failed
 * journal writes (a file size limit standing in for a full disk) and a
 * failed sync are survived without a restart, and nothing acknowledged is
 * lost. With real-time scoring, a batch that takes an address over the
 * threshold is published by the scorer thread's next pass, an hour before
 * the periodic tick could run.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "scoring/persist.h"

static char dir[256];

static int rm_tree(const char *path)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	return system(cmd);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/repnet-svc-test.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	return 0;
}

static void fsize_limit(rlim_t n)
{
	struct rlimit rl;
	getrlimit(RLIMIT_FSIZE, &rl);
	rl.rlim_cur = n;
	setrlimit(RLIMIT_FSIZE, &rl);
}

static int teardown(void **state)
{
	(void)state;
	fsize_limit(RLIM_INFINITY);
	scoring_fault_hook = NULL;
	return rm_tree(dir);
}

static struct scoring_conf conf(void)
{
	struct scoring_conf c;
	if (scoring_conf_defaults(&c) != RN_OK)
		fail_msg("defaults");
	c.default_never_block = false;
	c.tick_ms = 1000;
	c.lateness_ms = 0;
	c.snapshot_interval_ms = 3600000;
	return c;
}

static struct rn_obs obs(uint32_t ip, enum rn_kind kind, uint32_t count)
{
	struct rn_obs o;
	memset(&o, 0, sizeof(o));
	rn_addr_set_v4(&o.addr, ip);
	o.kind = (uint16_t)kind;
	o.count = count;
	o.ts_ms = rn_time_now_ms();
	o.source = RN_SRC_POSTFIX;
	return o;
}

/* The count of kind recorded for ip, from explain. */
static unsigned count_of(struct scoring *s, uint32_t ip, enum rn_kind kind)
{
	struct scoring_explain *x = malloc(sizeof(*x));
	struct rn_addr a;
	rn_addr_set_v4(&a, ip);
	RN_PASS(scoring_explain(s, &a, x));
	unsigned n = x->held; /* stamped after the next tick: in the state, not yet in a set */
	for (unsigned i = 0; i < x->ncontrib; i++)
		if (x->contrib[i].kind == kind)
			n += x->contrib[i].count;
	free(x);
	return n;
}

static struct scoring *start(const struct scoring_conf *c, bool ro)
{
	struct scoring *s = NULL;
	struct scoring_opts o = {.data_dir = dir, .read_only = ro};
	RN_PASS(scoring_start(&s, c, &o));
	return s;
}

/* Waits (bounded) until ip is listed in the published table. */
static bool wait_listed(struct scoring *s, uint32_t ip)
{
	for (int i = 0; i < 100; i++) {
		struct scoring_table *t = scoring_current(s);
		struct rn_addr a;
		struct scoring_hit h;
		rn_addr_set_v4(&a, ip);
		bool found = scoring_table_lookup(t, &a, 0, &h);
		scoring_table_free(t);
		if (found)
			return true;
		usleep(50000);
	}
	return false;
}

static void test_ack_survives_restart(void **state)
{
	(void)state;
	struct scoring_conf c = conf();
	struct scoring *s = start(&c, false);
	struct rn_obs_batch_meta m;
	memset(&m, 0, sizeof(m));
	memset(m.collector_id, 0xab, 16);
	for (uint32_t i = 1; i <= 50; i++) {
		struct rn_obs o = obs(0x0A000000u + i, RN_KIND_SASL_FAIL, 1);
		m.batch_seq = i;
		RN_PASS(scoring_submit(s, &m, &o, 1));
	}
	/* A resend of a durable batch is recognised, not applied twice. */
	m.batch_seq = 7;
	struct rn_obs o7 = obs(0x0A000007u, RN_KIND_SASL_FAIL, 1);
	RN_FAILS_WITH(scoring_submit(s, &m, &o7, 1), RN_EEXIST);
	struct rn_obs p = obs(0xC6336401u, RN_KIND_PREGREET, 1);
	RN_PASS(scoring_submit(s, NULL, &p, 1));
	assert_true(wait_listed(s, 0xC6336401u));
	scoring_stop(s); /* a clean stop snapshots */

	s = start(&c, false);
	for (uint32_t i = 1; i <= 50; i++)
		assert_int_equal(count_of(s, 0x0A000000u + i, RN_KIND_SASL_FAIL), 1);
	m.batch_seq = 50;
	RN_FAILS_WITH(scoring_submit(s, &m, &o7, 1), RN_EEXIST);
	m.batch_seq = 51;
	RN_PASS(scoring_submit(s, &m, &o7, 1));
	/* The blocklist came back with it. */
	struct scoring_table *t = scoring_current(s);
	struct rn_addr a;
	struct scoring_hit h;
	rn_addr_set_v4(&a, 0xC6336401u);
	assert_true(scoring_table_lookup(t, &a, 0, &h));
	scoring_table_free(t);
	scoring_stop(s);
	scoring_conf_release(&c);
}

static size_t count_files(const char *prefix, bool bad)
{
	char sub[300];
	snprintf(sub, sizeof(sub), "%s/scoring", dir);
	DIR *d = opendir(sub);
	size_t n = 0;
	struct dirent *de;
	while (d != NULL && (de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 &&
		    (strstr(de->d_name, ".bad") != NULL) == bad &&
		    strstr(de->d_name, ".tmp") == NULL)
			n++;
	if (d)
		closedir(d);
	return n;
}

static void newest(const char *prefix, char *out, size_t len)
{
	char sub[300];
	snprintf(sub, sizeof(sub), "%s/scoring", dir);
	DIR *d = opendir(sub);
	struct dirent *de;
	out[0] = '\0';
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 &&
		    strlen(de->d_name) == strlen(prefix) + 16 && strcmp(de->d_name + 0, out) > 0)
			snprintf(out, len, "%s", de->d_name);
	closedir(d);
}

static void flip_byte(const char *name, long off)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/scoring/%s", dir, name);
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	struct stat st;
	fstat(fd, &st);
	if (off < 0)
		off += st.st_size;
	uint8_t b;
	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= 0x40;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

static void test_snapshots_and_fallback(void **state)
{
	(void)state;
	struct scoring_conf c = conf();
	struct scoring *s = start(&c, false);
	for (uint32_t i = 1; i <= 20; i++) {
		struct rn_obs o = obs(0x0B000000u + i, RN_KIND_SASL_FAIL, 1);
		RN_PASS(scoring_submit(s, NULL, &o, 1));
		if (i % 5 == 0)
			RN_PASS(scoring_snapshot_now(s));
	}
	/* Two snapshots are kept. */
	assert_int_equal(count_files("snapshot.", false), 2);
	/* Kill-like stop: no final snapshot; the last ones are only in the journal. */
	for (uint32_t i = 21; i <= 25; i++) {
		struct rn_obs o = obs(0x0B000000u + i, RN_KIND_SASL_FAIL, 1);
		RN_PASS(scoring_submit(s, NULL, &o, 1));
	}
	scoring_stop(s);
	/* Damage the newest snapshot's body: recovery falls back to the older one. */
	char name[64];
	newest("snapshot.", name, sizeof(name));
	flip_byte(name, -3);
	s = start(&c, false);
	for (uint32_t i = 1; i <= 25; i++)
		assert_int_equal(count_of(s, 0x0B000000u + i, RN_KIND_SASL_FAIL), 1);
	assert_int_equal(count_files("snapshot.", true), 1); /* moved aside */
	scoring_stop(s);
	scoring_conf_release(&c);
}

static void test_torn_journal(void **state)
{
	(void)state;
	struct scoring_conf c = conf();
	c.snapshot_interval_ms = 3600000;
	struct scoring *s = start(&c, false);
	for (uint32_t i = 1; i <= 10; i++) {
		struct rn_obs o = obs(0x0C000000u + i, RN_KIND_SASL_FAIL, 1);
		RN_PASS(scoring_submit(s, NULL, &o, 1));
	}
	/* Leave the journal as a crash would: no final snapshot, a torn record at the end. */
	char name[64];
	newest("journal.", name, sizeof(name));
	char path[600];
	snprintf(path, sizeof(path), "%s/scoring/%s", dir, name);
	scoring_stop(s); /* the final snapshot covers the ten */
	/* A journal generation with a torn tail, as a crash mid-append leaves it. */
	uint8_t hdr[JOURNAL_HDR_LEN], rh[JOURNAL_REC_HDR];
	uint64_t gen = 0x100;
	journal_header(hdr, gen);
	struct rn_obs o = obs(0x0C0000AAu, RN_KIND_SASL_FAIL, 1);
	struct rn_obs_batch_meta m;
	memset(&m, 0, sizeof(m));
	uint8_t *payload;
	size_t plen;
	RN_PASS(rn_obs_batch_pack(&m, &o, 1, &payload, &plen));
	journal_record_header(rh, payload, plen);
	snprintf(path, sizeof(path), "%s/scoring/journal.%016llx", dir, (unsigned long long)gen);
	FILE *f = fopen(path, "wb");
	fwrite(hdr, 1, sizeof(hdr), f);
	fwrite(rh, 1, sizeof(rh), f);
	fwrite(payload, 1, plen, f); /* one whole record */
	fwrite(rh, 1, sizeof(rh), f);
	fwrite(payload, 1, plen / 2, f); /* and half of another */
	fclose(f);
	free(payload);
	s = start(&c, false);
	for (uint32_t i = 1; i <= 10; i++)
		assert_int_equal(count_of(s, 0x0C000000u + i, RN_KIND_SASL_FAIL), 1);
	assert_int_equal(count_of(s, 0x0C0000AAu, RN_KIND_SASL_FAIL), 1);
	/* New batches go to a new generation, never after the torn tail. */
	RN_PASS(scoring_submit(s, NULL, &o, 1));
	newest("journal.", name, sizeof(name));
	assert_true(strcmp(name, "journal.0000000000000100") > 0);
	scoring_stop(s);
	scoring_conf_release(&c);
}

static void test_refusals(void **state)
{
	(void)state;
	struct scoring_conf c = conf();
	struct scoring *s = start(&c, false);
	struct rn_obs o = obs(0x0D000001u, RN_KIND_SASL_FAIL, 1);
	RN_PASS(scoring_submit(s, NULL, &o, 1));
	scoring_stop(s);
	/* Another bucket length: refused with RN_ECONF, nothing touched. */
	struct scoring_conf d = conf();
	d.bucket_ms = 2 * 3600000;
	struct scoring *x = NULL;
	struct scoring_opts opts = {.data_dir = dir};
	RN_FAILS_WITH(scoring_start(&x, &d, &opts), RN_ECONF);
	assert_null(x);
	/* Read-only: loads, answers, accepts nothing, writes nothing. */
	size_t before = count_files("journal.", false);
	s = start(&c, true);
	assert_int_equal(count_of(s, 0x0D000001u, RN_KIND_SASL_FAIL), 1);
	RN_FAILS_WITH(scoring_submit(s, NULL, &o, 1), RN_ESTATE);
	scoring_stop(s);
	assert_int_equal(count_files("journal.", false), before);
	/* A full queue says retry. */
	c.queue_max = 3;
	s = start(&c, false);
	struct rn_obs many[4] = {o, o, o, o};
	RN_FAILS_WITH(scoring_submit(s, NULL, many, 4), RN_ELIMIT);
	scoring_stop(s);
	scoring_conf_release(&d);
	scoring_conf_release(&c);
}

static void test_metrics(void **state)
{
	(void)state;
	struct scoring_conf c = conf();
	struct rn_metrics *m = NULL;
	RN_PASS(rn_metrics_alloc(&m));
	struct scoring *s = NULL;
	struct scoring_opts o = {.data_dir = dir, .metrics = m};
	RN_PASS(scoring_start(&s, &c, &o));
	struct rn_obs ob = obs(0xC6336402u, RN_KIND_PREGREET, 1);
	RN_PASS(scoring_submit(s, NULL, &ob, 1));
	assert_true(wait_listed(s, 0xC6336402u));
	double v = 0;
	RN_PASS(rn_metrics_value(m, "repnet_scoring_batches_total", "result=\"ok\"", &v));
	assert_true(v >= 1);
	RN_PASS(rn_metrics_value(m, "repnet_scoring_listed", "family=\"ipv4\"", &v));
	assert_true(v >= 1);
	RN_PASS(rn_metrics_value(m, "repnet_scoring_journal_syncs_total", NULL, &v));
	assert_true(v >= 1);
	/* A peer declares it infrastructure: delisted at the next tick. */
	struct rn_prefix_list extra = {0};
	struct rn_prefix p;
	RN_PASS(rn_prefix_parse_str("198.51.100.0/24", true, &p));
	RN_PASS(rn_prefix_list_add(&extra, &p));
	RN_PASS(scoring_protect_extra(s, &extra));
	rn_prefix_list_clear(&extra);
	bool gone = false;
	for (int i = 0; i < 100 && !gone; i++) {
		struct scoring_table *t = scoring_current(s);
		struct rn_addr a;
		struct scoring_hit h;
		rn_addr_set_v4(&a, 0xC6336402u);
		gone = !scoring_table_lookup(t, &a, 0, &h);
		scoring_table_free(t);
		if (!gone)
			usleep(50000);
	}
	assert_true(gone);
	scoring_stop(s);
	rn_metrics_free(m);
	scoring_conf_release(&c);
}

/* The collectors explain names for ip's evidence code ev, comma-joined. */
static void collectors_of(const struct scoring_explain *x, const char *ev, char *out, size_t len)
{
	out[0] = '\0';
	for (unsigned i = 0; i < x->ncontrib; i++)
		for (unsigned j = 0; j < x->contrib[i].nevidence; j++)
			if (strcmp(x->contrib[i].evidence[j], ev) == 0)
				snprintf(out + strlen(out), len - strlen(out), "%s%s",
				         out[0] ? "," : "", x->contrib[i].collector[j]);
}

static void explain_ip(struct scoring *s, uint32_t ip, const char *ev, char *out, size_t len)
{
	struct scoring_explain *x = malloc(sizeof(*x));
	struct rn_addr a;
	rn_addr_set_v4(&a, ip);
	RN_PASS(scoring_explain(s, &a, x));
	collectors_of(x, ev, out, len);
	free(x);
}

/* Batches name their collector: explain shows it from the journal and from a snapshot. */
static void test_collector_attribution(void **state)
{
	(void)state;
	struct scoring_conf c = conf();
	struct scoring *s = start(&c, false);
	struct rn_obs_batch_meta m;
	memset(&m, 0, sizeof(m));
	struct rn_obs o = obs(0x0A000001u, RN_KIND_SASL_FAIL, 1);
	rn_obs_set_evidence(&o, "auth:LOGIN", 10);
	const char *names[] = {"mx1", "mx2", ""};
	for (int i = 0; i < 3; i++) {
		memset(m.collector_id, 0x10 + i, 16);
		m.batch_seq = 1;
		snprintf(m.collector, sizeof(m.collector), "%s", names[i]);
		RN_PASS(scoring_submit(s, &m, &o, 1));
	}
	/* A read-only open replays the journal: the names come from its records. */
	char got[256];
	struct scoring *ro = start(&c, true);
	explain_ip(ro, 0x0A000001u, "auth:LOGIN", got, sizeof(got));
	assert_string_equal(got, "mx1,mx2,");
	scoring_stop(ro);
	/* Then from the snapshot a clean stop writes. */
	scoring_stop(s);
	s = start(&c, false);
	explain_ip(s, 0x0A000001u, "auth:LOGIN", got, sizeof(got));
	assert_string_equal(got, "mx1,mx2,");
	scoring_stop(s);
	scoring_conf_release(&c);
}

/* A held observation keeps its collector through a snapshot (HELD_FROM), and without one. */
static void test_held_attribution(void **state)
{
	(void)state;
	struct scoring_conf c = conf();
	struct scoring_engine *e;
	RN_PASS(scoring_engine_new(&c, false, &e));
	int64_t t0 = 1795919209000;
	struct rn_obs a = obs(0x0A000002u, RN_KIND_SASL_FAIL, 1), b = a;
	a.ts_ms = t0;
	b.ts_ms = t0 + 5000; /* after the next tick: held */
	rn_obs_set_evidence(&a, "auth:LOGIN", 10);
	rn_obs_set_evidence(&b, "auth:PLAIN", 10);
	RN_PASS(scoring_engine_ingest_from(e, "edge1", &a, 1, 0, NULL));
	RN_PASS(scoring_engine_ingest_from(e, "edge2", &b, 1, 0, NULL));
	struct scoring_engine_stats st;
	scoring_engine_stats(e, &st);
	assert_int_equal(st.held, 1);
	struct batches none = {0};
	uint8_t *img;
	size_t len;
	RN_PASS(state_save(e, &none, (struct jpos){0, 0}, &img, &len));
	scoring_engine_free(e);
	struct jpos pos;
	RN_PASS(state_load(img, len, &c, false, &e, &none, &pos));
	RN_PASS(scoring_engine_flush(e, NULL, NULL));
	struct scoring_explain *x = malloc(sizeof(*x));
	struct rn_addr ip;
	rn_addr_set_v4(&ip, 0x0A000002u);
	RN_PASS(scoring_engine_explain(e, &ip, x));
	char got[128];
	collectors_of(x, "auth:LOGIN", got, sizeof(got));
	assert_string_equal(got, "edge1");
	collectors_of(x, "auth:PLAIN", got, sizeof(got));
	assert_string_equal(got, "edge2");
	scoring_engine_free(e);

	/* Without the section (a snapshot from before collectors signed): held, unattributed. */
	RN_PASS(scoring_engine_new(&c, false, &e));
	RN_PASS(scoring_engine_ingest(e, &a, 1, 0, NULL));
	RN_PASS(scoring_engine_ingest(e, &b, 1, 0, NULL));
	uint8_t *img2;
	size_t len2;
	RN_PASS(state_save(e, &none, (struct jpos){0, 0}, &img2, &len2));
	assert_true(len2 < len); /* no HELD_FROM, and shorter codes */
	scoring_engine_free(e);
	RN_PASS(state_load(img2, len2, &c, false, &e, &none, &pos));
	RN_PASS(scoring_engine_flush(e, NULL, NULL));
	RN_PASS(scoring_engine_explain(e, &ip, x));
	collectors_of(x, "auth:PLAIN", got, sizeof(got));
	assert_string_equal(got, "");
	assert_true(x->ncontrib > 0);
	scoring_engine_free(e);
	free(x);
	free(img);
	free(img2);
	batches_release(&none);
	scoring_conf_release(&c);
}

static off_t journal_size(void)
{
	char name[64], path[400];
	newest("journal.", name, sizeof(name));
	snprintf(path, sizeof(path), "%s/scoring/%s", dir, name);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static struct rn_obs_batch_meta meta(uint64_t seq)
{
	struct rn_obs_batch_meta m;
	memset(&m, 0, sizeof(m));
	memset(m.collector_id, 0xcd, 16);
	m.batch_seq = seq;
	return m;
}

static int submit_seq(struct scoring *s, uint64_t seq)
{
	struct rn_obs_batch_meta m = meta(seq);
	struct rn_obs o = obs(0x0B000000u + (uint32_t)seq, RN_KIND_SASL_FAIL, 1);
	return scoring_submit(s, &m, &o, 1);
}

/* A scorer on dir with its metrics in a new registry (*m, freed by the caller). */
static struct scoring *start_metrics(const struct scoring_conf *c, struct rn_metrics **m)
{
	struct scoring *s = NULL;
	RN_PASS(rn_metrics_alloc(m));
	struct scoring_opts o = {.data_dir = dir, .metrics = *m};
	RN_PASS(scoring_start(&s, c, &o));
	return s;
}

static void check_seqs(struct scoring *s, uint64_t n)
{
	for (uint64_t i = 1; i <= n; i++)
		assert_int_equal(count_of(s, 0x0B000000u + (uint32_t)i, RN_KIND_SASL_FAIL), 1);
}

/* A full disk, as a file size limit: the write fails part way, is cut off, and retried. */
static void test_write_failure(void **state)
{
	(void)state;
	struct scoring_conf c = conf();
	struct rn_metrics *m = NULL;
	struct scoring *s = start_metrics(&c, &m);
	for (uint64_t i = 1; i <= 10; i++)
		RN_PASS(submit_seq(s, i));
	off_t size = journal_size();
	/* Room for part of a record: the write stops in the middle of it. */
	signal(SIGXFSZ, SIG_IGN);
	fsize_limit((rlim_t)size + 20);
	RN_FAILS_WITH(submit_seq(s, 11), -EFBIG);
	RN_FAILS_WITH(submit_seq(s, 11), -EFBIG);
	struct scoring_health h;
	scoring_health(s, &h);
	assert_int_equal(h.journal, SCORING_JOURNAL_REFUSING);
	assert_int_equal(h.journal_error, -EFBIG);
	assert_int_equal(journal_size(), size); /* the partial record was cut off */
	double v = 0;
	RN_PASS(rn_metrics_value(m, "repnet_scoring_journal_state", NULL, &v));
	assert_true(v == 1);
	RN_PASS(rn_metrics_value(m, "repnet_scoring_journal_errors_total", NULL, &v));
	assert_true(v == 2);
	/* A snapshot cannot be written either; it is retried, with back-off. */
	fsize_limit(16);
	assert_int_not_equal(scoring_snapshot_now(s), RN_OK);
	scoring_health(s, &h);
	assert_int_equal(h.snapshot_failures, 1);
	assert_true(h.snapshot_retry_ms > 0 && h.snapshot_retry_ms <= 1000);
	/* Space again: the same batch goes in, and the journal and snapshots work. */
	fsize_limit(RLIM_INFINITY);
	RN_PASS(submit_seq(s, 11));
	RN_PASS(submit_seq(s, 12));
	scoring_health(s, &h);
	assert_int_equal(h.journal, SCORING_JOURNAL_OK);
	RN_PASS(scoring_snapshot_now(s));
	scoring_health(s, &h);
	assert_int_equal(h.snapshot_failures, 0);
	RN_PASS(submit_seq(s, 13));
	scoring_stop(s);
	rn_metrics_free(m);
	/* Every acknowledged batch, once; the journals read back without damage. */
	struct rn_metrics *m2 = NULL;
	s = start_metrics(&c, &m2);
	check_seqs(s, 13);
	RN_PASS(rn_metrics_value(m2, "repnet_scoring_damaged_files_total", NULL, &v));
	assert_true(v == 0);
	scoring_stop(s);
	rn_metrics_free(m2);
	scoring_conf_release(&c);
}

static _Atomic int sync_failures;

static int fail_syncs(const char *point)
{
	if (strcmp(point, "journal-sync") == 0 && atomic_load(&sync_failures) > 0) {
		atomic_fetch_sub(&sync_failures, 1);
		return -EIO;
	}
	return 0;
}

/*
 * A failed fdatasync poisons the generation; a snapshot holding every
 * batch written lets a new one start, without a restart, and the refused
 * batch's resend is then acknowledged as durable.
 */
static void test_sync_failure(void **state)
{
	(void)state;
	struct scoring_conf c = conf();
	struct rn_metrics *m = NULL;
	struct scoring *s = start_metrics(&c, &m);
	for (uint64_t i = 1; i <= 5; i++)
		RN_PASS(submit_seq(s, i));
	scoring_fault_hook = fail_syncs;
	atomic_store(&sync_failures, 1);
	RN_FAILS_WITH(submit_seq(s, 6), -EIO);
	/* The scorer thread recovers by itself (bounded wait: 10 s). */
	double v = 0;
	for (int i = 0; i < 200; i++) {
		RN_PASS(rn_metrics_value(m, "repnet_scoring_journal_recoveries_total", NULL, &v));
		if (v >= 1)
			break;
		usleep(50000);
	}
	assert_true(v == 1);
	struct scoring_health h;
	scoring_health(s, &h);
	assert_int_equal(h.journal, SCORING_JOURNAL_OK);
	/* Batch 6 is in the snapshot: its resend is acknowledged, not applied again. */
	RN_FAILS_WITH(submit_seq(s, 6), RN_EEXIST);
	RN_PASS(submit_seq(s, 7));
	scoring_stop(s);
	rn_metrics_free(m);
	scoring_fault_hook = NULL;
	s = start(&c, false);
	check_seqs(s, 7);
	scoring_stop(s);
	scoring_conf_release(&c);
}

struct rtseen {
	pthread_mutex_t mu;
	size_t passes, ticks, added;
};

static void rt_on_tick(void *arg, const struct scoring_tick *tick)
{
	struct rtseen *r = arg;
	pthread_mutex_lock(&r->mu);
	if (tick->realtime)
		r->passes++;
	else
		r->ticks++;
	r->added += scoring_delta_added(tick->delta);
	pthread_mutex_unlock(&r->mu);
}

static void test_realtime(void **state)
{
	(void)state;
	struct scoring_conf c = conf();
	c.tick_ms = 3600000; /* the periodic tick cannot run during the test */
	c.escalate_v4 = 0;   /* one listing per address */
	c.realtime_ms = 20;
	struct rn_metrics *m = NULL;
	RN_PASS(rn_metrics_alloc(&m));
	struct rtseen r = {.mu = PTHREAD_MUTEX_INITIALIZER};
	struct scoring *s = NULL;
	struct scoring_opts o = {
	        .data_dir = dir, .metrics = m, .on_tick = rt_on_tick, .on_tick_arg = &r};
	RN_PASS(scoring_start(&s, &c, &o));
	/* 200 addresses in one batch, each over the threshold alone. */
	struct rn_obs v[200];
	for (uint32_t i = 0; i < 200; i++)
		v[i] = obs(0xC6336400u + i, RN_KIND_PREGREET, 1);
	RN_PASS(scoring_submit(s, NULL, v, 200));
	assert_true(wait_listed(s, 0xC6336400u));
	assert_true(wait_listed(s, 0xC63364C7u));
	pthread_mutex_lock(&r.mu);
	assert_int_equal(r.ticks, 0);
	assert_true(r.passes >= 1 && r.passes <= 200);
	assert_int_equal(r.added, 200);
	pthread_mutex_unlock(&r.mu);
	double d = 0;
	RN_PASS(rn_metrics_value(m, "repnet_scoring_realtime_passes_total", NULL, &d));
	assert_true(d >= 1);
	RN_PASS(rn_metrics_value(m, "repnet_scoring_ticks_total", NULL, &d));
	assert_true(d == 0);
	scoring_stop(s);
	rn_metrics_free(m);
	scoring_conf_release(&c);
}

RN_TEST_MAIN_EACH(setup, teardown, test_collector_attribution, test_held_attribution,
                  test_ack_survives_restart, test_snapshots_and_fallback, test_torn_journal,
                  test_refusals, test_metrics, test_write_failure, test_sync_failure, test_realtime)
