/*
 * crash_helper.c: the process the crash test kills.
 *
 *   crash_helper DIR ACKS TRIED CRASH_AT BATCHES
 *
 * Opens the scorer on DIR (recovering whatever the last run left), then
 * verifies that every batch listed in ACKS (one sequence number per line,
 * acknowledged by an earlier run) is in the engine exactly once, and that
 * the batch in TRIED (submitted but perhaps not acknowledged when that run
 * died) is in it at most once. Then it submits BATCHES more batches,
 * printing "TRY n" before and "ACK n" after each acknowledgement, taking
 * snapshots as it goes. With CRASH_AT > 0 it kills itself with SIGKILL at
 * the CRASH_AT-th crash point (between the halves of a journal record,
 * before a journal sync, and at each step of a snapshot's replacement);
 * the test script kills it from outside too.
 *
 * Exit codes: 0 done, 2 usage, 3 recovery failed, 4 a batch was lost or
 * applied twice.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scoring/persist.h"

static long crash_at, crash_seen;

static void hook(const char *point)
{
	if (crash_at > 0 && ++crash_seen == crash_at) {
		/* Say where, for the test's tally; stderr is unbuffered. */
		fprintf(stderr, "KILL %s\n", point);
		kill(getpid(), SIGKILL);
	}
}

/* Batch n's marker address: 10.x.y.z from n. */
static uint32_t marker(uint64_t n)
{
	return 0x0A000000u | (uint32_t)(n & 0xffffff);
}

static unsigned count_of(struct scoring *s, uint64_t n)
{
	static struct scoring_explain x;
	struct rn_addr a;
	rn_addr_set_v4(&a, marker(n));
	if (scoring_explain(s, &a, &x) != RN_OK)
		return 99;
	unsigned c = x.held; /* held for the next tick: in the state, not yet in a set */
	for (unsigned i = 0; i < x.ncontrib; i++)
		if (x.contrib[i].kind == RN_KIND_SASL_FAIL)
			c += x.contrib[i].count;
	return c;
}

int main(int argc, char **argv)
{
	if (argc != 6)
		return 2;
	const char *dir = argv[1];
	crash_at = atol(argv[4]);
	long batches = atol(argv[5]);
	rn_log_init("crash_helper", true, RN_LOG_WARNING);
	scoring_crash_hook = hook;

	struct scoring_conf c;
	if (scoring_conf_defaults(&c) != RN_OK)
		return 3;
	c.default_never_block = false;
	c.snapshot_interval_ms = 0; /* the scorer thread snapshots at every pass */
	c.tick_ms = 1000;
	struct scoring *s = NULL;
	struct scoring_opts o = {.data_dir = dir};
	int rc = scoring_start(&s, &c, &o);
	if (rc != RN_OK) {
		fprintf(stderr, "crash_helper: recovery failed: %s\n", rn_strerror(rc));
		return 3;
	}
	/* Everything acknowledged before is there, exactly once. */
	uint64_t max = 0, n;
	unsigned long verified = 0;
	FILE *f = fopen(argv[2], "r");
	while (f != NULL && fscanf(f, "%lu", &n) == 1) {
		unsigned k = count_of(s, n);
		if (k != 1) {
			fprintf(stderr, "crash_helper: acknowledged batch %lu found %u times\n",
			        (unsigned long)n, k);
			return 4;
		}
		verified++;
		if (n > max)
			max = n;
	}
	if (f)
		fclose(f);
	f = fopen(argv[3], "r");
	if (f != NULL && fscanf(f, "%lu", &n) == 1) {
		if (count_of(s, n) > 1) {
			fprintf(stderr, "crash_helper: batch %lu applied twice\n",
			        (unsigned long)n);
			return 4;
		}
		if (n > max)
			max = n;
	}
	if (f)
		fclose(f);
	printf("VERIFIED %lu\n", verified);
	fflush(stdout);

	/* The resend of the last batch tried must be recognised if it was durable. */
	struct rn_obs_batch_meta m;
	memset(&m, 0, sizeof(m));
	memset(m.collector_id, 0x5c, 16);
	uint64_t start = max > 0 ? max : 1;
	for (uint64_t k = start; k < start + (uint64_t)batches; k++) {
		struct rn_obs obs[8];
		memset(obs, 0, sizeof(obs));
		for (int i = 0; i < 8; i++) {
			obs[i].kind = i == 0 ? RN_KIND_SASL_FAIL : RN_KIND_NO_RDNS;
			obs[i].count = 1;
			obs[i].ts_ms = rn_time_now_ms();
			obs[i].source = RN_SRC_POSTFIX;
			rn_addr_set_v4(&obs[i].addr,
			               i == 0 ? marker(k) : 0xC0A80000u + (uint32_t)i);
			rn_obs_set_evidence(&obs[i], "crash-test", 10);
		}
		m.batch_seq = k;
		printf("TRY %lu\n", (unsigned long)k);
		fflush(stdout);
		rc = scoring_submit(s, &m, obs, 8);
		if (rc == RN_OK || rc == RN_EEXIST) {
			printf("ACK %lu\n", (unsigned long)k);
			fflush(stdout);
		} else {
			fprintf(stderr, "crash_helper: submit: %s\n", rn_strerror(rc));
			return 3;
		}
		if (k % 7 == 0)
			scoring_snapshot_now(s);
	}
	scoring_stop(s);
	scoring_conf_release(&c);
	printf("DONE\n");
	return 0;
}
