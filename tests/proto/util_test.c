/*
 * util_test.c: CRC32C, file replacement and reading (files and pipes), and
 * the protobuf budget.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

/* A bit-at-a-time reference, independent of both fast paths. */
static uint32_t crc_ref(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
	}
	return ~c;
}

static void test_crc32c(void **state)
{
	(void)state;
	/* The check value of CRC-32C (RFC 3720, appendix B.4). */
	assert_int_equal(rn_crc32c(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(rn_crc32c(0, "", 0), 0);
	uint8_t zeros[32] = {0};
	assert_int_equal(rn_crc32c(0, zeros, 32), 0x8A9136AAu);
	uint64_t seed = 3;
	uint8_t buf[1000];
	for (int i = 0; i < 200; i++) {
		size_t n = rn_test_rand(&seed) % sizeof(buf);
		for (size_t j = 0; j < n; j++)
			buf[j] = (uint8_t)rn_test_rand(&seed);
		assert_int_equal(rn_crc32c(0, buf, n), crc_ref(buf, n));
		/* Incremental use gives the same result as one call. */
		size_t cut = n ? rn_test_rand(&seed) % n : 0;
		assert_int_equal(rn_crc32c(rn_crc32c(0, buf, cut), buf + cut, n - cut),
		                 crc_ref(buf, n));
	}
}

static void test_file_replace(void **state)
{
	(void)state;
	char dir[] = "/tmp/repnet-util-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[256], tmp[300];
	snprintf(path, sizeof(path), "%s/a/b/state.bin", dir);
	char sub[256];
	snprintf(sub, sizeof(sub), "%s/a/b", dir);
	RN_PASS(rn_mkdirs(sub, 0700));
	RN_PASS(rn_mkdirs(sub, 0700)); /* idempotent */
	RN_PASS(rn_file_replace(path, "hello", 5, 0600));
	RN_PASS(rn_file_replace(path, "world!", 6, 0600));
	uint8_t *got;
	size_t len;
	RN_PASS(rn_file_read(path, 1024, &got, &len));
	assert_int_equal(len, 6);
	assert_memory_equal(got, "world!", 6);
	free(got);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_equal(access(tmp, F_OK), -1);
	RN_FAILS_WITH(rn_file_read(path, 3, &got, &len), RN_ELIMIT);
	RN_FAILS_WITH(rn_file_read("/nonexistent/x", 3, &got, &len), -ENOENT);
	/* A file where a directory should be. */
	RN_FAILS_WITH(rn_mkdirs(path, 0700), -ENOTDIR);
	unlink(path);
	rmdir(sub);
	snprintf(sub, sizeof(sub), "%s/a", dir);
	rmdir(sub);
	rmdir(dir);
}

/* rn_fd_read over a pipe: the whole input, up to max bytes and not one more. */
static void test_fd_read(void **state)
{
	(void)state;
	static uint8_t data[200000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	for (int pass = 0; pass < 3; pass++) {
		int p[2];
		assert_int_equal(pipe(p), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(p[0]);
			size_t off = 0;
			while (off < sizeof(data)) {
				ssize_t w = write(p[1], data + off, sizeof(data) - off);
				if (w <= 0)
					_exit(1);
				off += (size_t)w;
			}
			_exit(0);
		}
		close(p[1]);
		uint8_t *got = NULL;
		size_t len = 0;
		size_t max = pass == 0 ? sizeof(data) : pass == 1 ? sizeof(data) + 1000 : 1000;
		int rc = rn_fd_read(p[0], max, &got, &len);
		close(p[0]);
		int st;
		waitpid(pid, &st, 0);
		if (pass < 2) {
			RN_PASS(rc);
			assert_int_equal(len, sizeof(data));
			assert_memory_equal(got, data, len);
			free(got);
		} else {
			RN_FAILS_WITH(rc, RN_ELIMIT);
			assert_null(got);
		}
	}
	/* Empty input: an empty buffer, still one to free. */
	int p[2];
	assert_int_equal(pipe(p), 0);
	close(p[1]);
	uint8_t *got = NULL;
	size_t len = 1;
	RN_PASS(rn_fd_read(p[0], 10, &got, &len));
	assert_non_null(got);
	assert_int_equal(len, 0);
	free(got);
	close(p[0]);
	RN_FAILS_WITH(rn_fd_read(p[0], 10, &got, &len), -EBADF);
}

static void test_pb_budget(void **state)
{
	(void)state;
	/* A batch of 1000 observations packs to a few tens of kB. */
	Repnet__V1__ObservationBatch b = REPNET__V1__OBSERVATION_BATCH__INIT;
	Repnet__V1__Observation *obs = calloc(1000, sizeof(*obs));
	Repnet__V1__Observation **ptrs = calloc(1000, sizeof(*ptrs));
	uint8_t ip[4] = {192, 0, 2, 1};
	for (int i = 0; i < 1000; i++) {
		repnet__v1__observation__init(&obs[i]);
		obs[i].ip.data = ip;
		obs[i].ip.len = 4;
		obs[i].kind = REPNET__V1__KIND__KIND_SASL_FAIL;
		obs[i].count = 1;
		obs[i].evidence = "sasl:LOGIN";
		ptrs[i] = &obs[i];
	}
	b.observations = ptrs;
	b.n_observations = 1000;
	size_t n = repnet__v1__observation_batch__get_packed_size(&b);
	uint8_t *wire = malloc(n);
	repnet__v1__observation_batch__pack(&b, wire);

	struct rn_pb_budget big, small;
	rn_pb_budget_init(&big, 1 << 20);
	Repnet__V1__ObservationBatch *u =
	        repnet__v1__observation_batch__unpack(&big.alloc, n, wire);
	assert_non_null(u);
	assert_int_equal(u->n_observations, 1000);
	assert_true(big.used > 0);
	repnet__v1__observation_batch__free_unpacked(u, &big.alloc);
	assert_int_equal(big.used, 0);
	assert_false(big.exceeded);

	rn_pb_budget_init(&small, 4096);
	u = repnet__v1__observation_batch__unpack(&small.alloc, n, wire);
	assert_null(u);
	assert_true(small.exceeded);
	assert_int_equal(small.used, 0); /* protobuf-c frees what it took */
	free(wire);
	free(ptrs);
	free(obs);
}

static void test_names(void **state)
{
	(void)state;
	enum rn_kind k;
	enum rn_category c;
	assert_string_equal(rn_kind_name(RN_KIND_SASL_FAIL), "sasl_fail");
	RN_PASS(rn_kind_parse("smtp_spray", &k));
	assert_int_equal(k, RN_KIND_SMTP_SPRAY);
	RN_FAILS(rn_kind_parse("nope", &k));
	assert_null(rn_kind_name(300));
	assert_null(rn_kind_name(50));
	assert_string_equal(rn_category_name(RN_CAT_SCANNER), "scanner");
	RN_PASS(rn_category_parse("drop", &c));
	assert_int_equal(c, RN_CAT_DROP);
	assert_null(rn_category_name(RN_CAT_COUNT));
	assert_string_equal(rn_source_name(RN_SRC_IPFIX), "ipfix");
	/* Every kind the schema defines has a C name, and vice versa. */
	const ProtobufCEnumDescriptor *d = &repnet__v1__kind__descriptor;
	for (unsigned i = 0; i < d->n_values; i++) {
		const char *name = rn_kind_name((unsigned)d->values[i].value);
		assert_non_null(name);
		char want[64];
		snprintf(want, sizeof(want), "KIND_%s", name);
		for (char *p = want; *p; p++)
			if (*p >= 'a' && *p <= 'z')
				*p = (char)(*p - 'a' + 'A');
		assert_string_equal(d->values[i].name, want);
	}
	unsigned named = 0;
	for (unsigned i = 0; i < RN_KIND_MAX; i++)
		named += rn_kind_name(i) != NULL;
	assert_int_equal(named, d->n_values);
	assert_int_equal(repnet__v1__category__descriptor.n_values, RN_CAT_COUNT);

	struct rn_obs o;
	rn_obs_set_evidence(&o, "rbl:zen.test", 12);
	assert_string_equal(o.evidence, "rbl:zen.test");
	/* 40 bytes, with a two-byte UTF-8 character across the cut. */
	const char *s = "0123456789012345678901234567890\xc3\xa9xxxxxxx";
	rn_obs_set_evidence(&o, s, strlen(s));
	assert_int_equal(strlen(o.evidence), 31);
	rn_obs_set_evidence(&o, s + 1, strlen(s + 1));
	assert_int_equal(strlen(o.evidence), 30);
}

RN_TEST_MAIN(test_crc32c, test_file_replace, test_fd_read, test_pb_budget, test_names)
