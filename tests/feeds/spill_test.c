/*
 * spill_test.c: the collector's spill file (feeds/bus/spill.c): batches
 * and positions survive a reopen in order, acknowledgements and
 * compaction write position files only with acknowledged positions, open
 * batches without their position are dropped at a reopen, a torn tail is
 * cut, and the cap refuses batches.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "feeds/bus/spill.h"
#include "test.h"

static char tmpdir[64];
static const uint8_t id[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static void path_of(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", tmpdir, name);
	unlink(out);
}

static void reset(void)
{
	char p[128];
	path_of(p, sizeof(p), SPILL_NAME);
	path_of(p, sizeof(p), "tail-1.pos");
	path_of(p, sizeof(p), "tail-2.pos");
}

static void add_batch(struct spill *s, uint64_t seq, uint32_t nobs, bool open)
{
	uint8_t env[100];
	memset(env, (int)seq, sizeof(env));
	RN_PASS(spill_add_batch(s, id, seq, nobs, env, sizeof(env), open));
}

static void add_mark(struct spill *s, const char *key, const char *pos)
{
	RN_PASS(spill_add_mark(s, key, (const uint8_t *)pos, strlen(pos), true));
}

static uint64_t head_seq(struct spill *s)
{
	struct spill_head h;
	int rc = spill_head(s, &h);
	if (rc != RN_OK)
		return 0;
	assert_int_equal(h.len, 100);
	assert_memory_equal(h.id, id, 16);
	free(h.env);
	return h.seq;
}

static void pending_is(struct spill *s, const char *key, const char *want)
{
	uint8_t b[SPILL_POS_MAX];
	size_t n = 0;
	if (want == NULL) {
		RN_FAILS_WITH(spill_pending(s, key, b, sizeof(b), &n), RN_ENOTFOUND);
		return;
	}
	RN_PASS(spill_pending(s, key, b, sizeof(b), &n));
	assert_int_equal(n, strlen(want));
	assert_memory_equal(b, want, n);
}

static void file_is(const char *name, const char *want)
{
	char p[128];
	uint8_t *b = NULL;
	size_t n = 0;
	snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
	if (want == NULL) {
		assert_int_not_equal(access(p, F_OK), 0);
		return;
	}
	RN_PASS(rn_file_read(p, 4096, &b, &n));
	assert_int_equal(n, strlen(want));
	assert_memory_equal(b, want, n);
	free(b);
}

/* Batches and positions come back in order after a reopen; acks hold. */
static void test_reopen(void **state)
{
	(void)state;
	reset();
	struct spill *s;
	RN_PASS(spill_open(&s, tmpdir, 1 << 20));
	add_batch(s, 1, 10, false);
	add_mark(s, "tail-1.pos", "v1 a");
	add_batch(s, 2, 20, false);
	add_mark(s, "tail-1.pos", "v1 b");
	add_batch(s, 3, 30, false);
	assert_int_equal(spill_batches(s), 3);
	assert_int_equal(spill_observations(s), 60);
	assert_int_equal(head_seq(s), 1);
	spill_ack_head(s);
	spill_close(s);

	RN_PASS(spill_open(&s, tmpdir, 1 << 20));
	assert_int_equal(spill_batches(s), 2);
	assert_int_equal(spill_observations(s), 50);
	assert_int_equal(head_seq(s), 2);
	pending_is(s, "tail-1.pos", "v1 b");
	pending_is(s, "tail-2.pos", NULL);
	/* Not every batch is acknowledged: no compaction, no position file. */
	RN_FAILS_WITH(spill_compact(s), RN_ESTATE);
	file_is("tail-1.pos", NULL);
	spill_ack_head(s);
	spill_ack_head(s);
	assert_int_equal(head_seq(s), 0);
	RN_PASS(spill_compact(s));
	file_is("tail-1.pos", "v1 b");
	assert_int_equal(spill_bytes(s), 8);
	spill_close(s);
}

/* A position file gets only a position whose batches before it are acknowledged. */
static void test_acked_only(void **state)
{
	(void)state;
	reset();
	struct spill *s;
	RN_PASS(spill_open(&s, tmpdir, 1 << 20));
	add_mark(s, "tail-1.pos", "v1 start");
	add_batch(s, 1, 5, false);
	add_mark(s, "tail-1.pos", "v1 one");
	add_batch(s, 2, 5, false);
	add_mark(s, "tail-2.pos", "v1 other");
	spill_ack_head(s);
	/* Batch 2 is not acknowledged: tail-2's position waits. */
	RN_FAILS_WITH(spill_compact(s), RN_ESTATE);
	spill_ack_head(s);
	RN_PASS(spill_compact(s));
	file_is("tail-1.pos", "v1 one");
	file_is("tail-2.pos", "v1 other");
	spill_close(s);
}

/* Open batches wait for their position; without one, a reopen drops them. */
static void test_open(void **state)
{
	(void)state;
	reset();
	struct spill *s;
	RN_PASS(spill_open(&s, tmpdir, 1 << 20));
	add_batch(s, 1, 5, true);
	assert_int_equal(head_seq(s), 0); /* not sendable yet */
	add_batch(s, 2, 5, true);
	add_mark(s, "tail-1.pos", "v1 x");
	assert_int_equal(head_seq(s), 1);
	add_batch(s, 3, 7, true); /* its position never comes */
	spill_close(s);

	RN_PASS(spill_open(&s, tmpdir, 1 << 20));
	assert_int_equal(spill_batches(s), 2);
	assert_int_equal(spill_observations(s), 10);
	pending_is(s, "tail-1.pos", "v1 x");
	spill_close(s);

	/*
	 * A position that commits nothing (another source's lines are in the
	 * open batches): the batches wait, and if no committing position
	 * follows, a reopen drops them and resumes from the earlier position.
	 */
	reset();
	RN_PASS(spill_open(&s, tmpdir, 1 << 20));
	add_mark(s, "tail-1.pos", "v1 old");
	add_batch(s, 1, 5, true);
	RN_PASS(spill_add_mark(s, "tail-1.pos", (const uint8_t *)"v1 new", 6, false));
	assert_int_equal(head_seq(s), 0);
	spill_close(s);
	RN_PASS(spill_open(&s, tmpdir, 1 << 20));
	assert_int_equal(spill_batches(s), 0);
	pending_is(s, "tail-1.pos", "v1 old");
	add_batch(s, 2, 5, true);
	RN_PASS(spill_add_mark(s, "tail-1.pos", (const uint8_t *)"v1 mid", 6, false));
	add_mark(s, "tail-2.pos", "v1 two"); /* commits both */
	assert_int_equal(head_seq(s), 2);
	spill_close(s);
	RN_PASS(spill_open(&s, tmpdir, 1 << 20));
	assert_int_equal(spill_batches(s), 1);
	pending_is(s, "tail-1.pos", "v1 mid");
	pending_is(s, "tail-2.pos", "v1 two");
	spill_close(s);
}

/* A torn last record is cut off; what came before stays. */
static void test_torn(void **state)
{
	(void)state;
	reset();
	struct spill *s;
	RN_PASS(spill_open(&s, tmpdir, 1 << 20));
	add_batch(s, 1, 5, false);
	add_mark(s, "tail-1.pos", "v1 x");
	add_batch(s, 2, 5, false);
	uint64_t whole = spill_bytes(s);
	spill_close(s);
	char p[128];
	snprintf(p, sizeof(p), "%s/%s", tmpdir, SPILL_NAME);
	assert_int_equal(truncate(p, (off_t)whole - 3), 0);
	RN_PASS(spill_open(&s, tmpdir, 1 << 20));
	assert_int_equal(spill_batches(s), 1);
	pending_is(s, "tail-1.pos", "v1 x");
	add_batch(s, 3, 5, false); /* appends after the cut */
	spill_close(s);
	RN_PASS(spill_open(&s, tmpdir, 1 << 20));
	assert_int_equal(spill_batches(s), 2);
	assert_int_equal(head_seq(s), 1);
	spill_ack_head(s);
	assert_int_equal(head_seq(s), 3);
	spill_close(s);

	/* A flipped byte inside a record: cut there too. */
	reset();
	RN_PASS(spill_open(&s, tmpdir, 1 << 20));
	add_batch(s, 1, 5, false);
	uint64_t first = spill_bytes(s);
	add_batch(s, 2, 5, false);
	spill_close(s);
	int fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	uint8_t x = 0xff;
	assert_int_equal(pwrite(fd, &x, 1, (off_t)first + 20), 1);
	close(fd);
	RN_PASS(spill_open(&s, tmpdir, 1 << 20));
	assert_int_equal(spill_batches(s), 1);
	assert_int_equal(spill_bytes(s), first);
	spill_close(s);
}

/* The cap refuses batches; positions and keys are checked. */
static void test_cap(void **state)
{
	(void)state;
	reset();
	struct spill *s;
	RN_PASS(spill_open(&s, tmpdir, 8192));
	int n = 0;
	uint8_t env[100] = {0};
	while (spill_add_batch(s, id, (uint64_t)n + 1, 1, env, sizeof(env), false) == RN_OK)
		n++;
	assert_true(n > 10 && n < 100);
	RN_FAILS_WITH(spill_add_batch(s, id, 999, 1, env, sizeof(env), false), RN_ELIMIT);
	/* A position still fits (it must follow the batches before it). */
	add_mark(s, "tail-1.pos", "v1 full");
	RN_FAILS_WITH(spill_add_mark(s, "../etc", (const uint8_t *)"x", 1, true), RN_EPARSE);
	RN_FAILS_WITH(spill_add_mark(s, ".hidden", (const uint8_t *)"x", 1, true), RN_EPARSE);
	uint8_t big[SPILL_POS_MAX + 1] = {0};
	RN_FAILS_WITH(spill_add_mark(s, "tail-1.pos", big, sizeof(big), true), RN_ELIMIT);
	while (spill_batches(s) > 0)
		spill_ack_head(s);
	RN_PASS(spill_compact(s));
	add_batch(s, 1000, 1, false); /* room again */
	spill_close(s);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/repnet-spill-XXXXXX");
	return mkdtemp(tmpdir) == NULL;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) != 0;
}

RN_TEST_MAIN_GROUP(setup, teardown, test_reopen, test_acked_only, test_open, test_torn, test_cap)
