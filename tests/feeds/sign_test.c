/*
 * sign_test.c: key files, the keyring, sealing and opening envelopes.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "feeds/bus/bus.h"
#include "feeds/bus/sign.h"
#include "test.h"

static const uint8_t seed_a[32] = {1, 2, 3};
static const uint8_t seed_b[32] = {9, 9, 9};

static void test_keyfiles(void **state)
{
	(void)state;
	char dir[] = "/tmp/repnet-sign-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char sk[256], pk[256], pub[FEEDS_PUBKEY_B64], pub2[FEEDS_PUBKEY_B64];
	snprintf(sk, sizeof(sk), "%s/pub.key", dir);
	snprintf(pk, sizeof(pk), "%s/pub.pub", dir);
	RN_PASS(feeds_key_generate(sk, pk, pub));
	assert_int_equal(strlen(pub), 44);
	/* Never overwrites a secret. */
	RN_FAILS(feeds_key_generate(sk, pk, pub2));
	struct stat st;
	assert_int_equal(stat(sk, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	struct feeds_signer *s;
	RN_PASS(feeds_signer_load(&s, sk, "m1"));
	feeds_signer_public(s, pub2);
	assert_string_equal(pub, pub2);
	assert_string_equal(feeds_signer_name(s), "m1");
	feeds_signer_free(s);

	/* The public file's line is accepted by the keyring as is. */
	uint8_t *line;
	size_t len;
	RN_PASS(rn_file_read(pk, 200, &line, &len));
	struct feeds_keyring *k;
	RN_PASS(feeds_keyring_alloc(&k));
	char *z = strndup((char *)line, len);
	RN_PASS(feeds_keyring_add(k, "m1", z, false));
	free(z);
	free(line);
	feeds_keyring_free(k);

	/* A secret readable by others is refused. */
	chmod(sk, 0640);
	RN_FAILS(feeds_signer_load(&s, sk, "m1"));
	chmod(sk, 0600);
	/* A damaged secret is refused. */
	FILE *f = fopen(sk, "w");
	fputs("repnet-ed25519-secret-v1 AAAA\n", f);
	fclose(f);
	RN_FAILS_WITH(feeds_signer_load(&s, sk, "m1"), RN_EPARSE);
	unlink(sk);

	/* Load or make: made once, with its .pub beside it, then loaded as it is. */
	char ck[256], cp[256];
	bool made;
	snprintf(ck, sizeof(ck), "%s/collector.key", dir);
	snprintf(cp, sizeof(cp), "%s/collector.pub", dir);
	RN_FAILS(feeds_signer_load_or_make(&s, ck, "c1", false, &made));
	assert_false(made);
	RN_PASS(feeds_signer_load_or_make(&s, ck, "c1", true, &made));
	assert_true(made);
	feeds_signer_public(s, pub);
	feeds_signer_free(s);
	RN_PASS(feeds_signer_load_or_make(&s, ck, "c1", true, &made));
	assert_false(made);
	feeds_signer_public(s, pub2);
	assert_string_equal(pub, pub2);
	feeds_signer_free(s);
	RN_PASS(rn_file_read(cp, 200, &line, &len));
	assert_true(len > 44 && memcmp(line + len - 45, pub, 44) == 0);
	free(line);
	unlink(ck);
	unlink(cp);
	unlink(pk);
	rmdir(dir);
}

static void test_seal_open(void **state)
{
	(void)state;
	struct feeds_signer *a, *b;
	struct feeds_keyring *k;
	char pa[FEEDS_PUBKEY_B64], pb[FEEDS_PUBKEY_B64];
	RN_PASS(feeds_signer_from_seed(&a, seed_a, "alpha"));
	RN_PASS(feeds_signer_from_seed(&b, seed_b, "beta"));
	feeds_signer_public(a, pa);
	feeds_signer_public(b, pb);
	RN_PASS(feeds_keyring_alloc(&k));
	RN_PASS(feeds_keyring_add(k, "alpha", pa, false));
	RN_FAILS_WITH(feeds_keyring_add(k, "alpha", pb, false), RN_EEXIST);
	RN_FAILS_WITH(feeds_keyring_add(k, "alpha2", pa, false), RN_EEXIST);
	RN_FAILS_WITH(feeds_keyring_add(k, "x", "not base64!", false), RN_EPARSE);
	RN_FAILS_WITH(feeds_keyring_add(k, "x", "AAAA", false), RN_EPARSE);

	const uint8_t payload[] = "a signed payload: any bytes at all";
	uint8_t *env;
	size_t envlen;
	RN_PASS(feeds_envelope_seal(a, payload, sizeof(payload), &env, &envlen));
	const uint8_t *p;
	size_t plen;
	const char *who;
	bool revoked;
	RN_PASS(feeds_envelope_open(k, env, envlen, &p, &plen, &who, &revoked));
	assert_int_equal(plen, sizeof(payload));
	assert_memory_equal(p, payload, plen);
	assert_true(p >= env && p + plen <= env + envlen); /* in place */
	assert_string_equal(who, "alpha");

	/* protobuf-c, an independent reader, sees the same envelope. */
	Repnet__V1__Envelope *u = repnet__v1__envelope__unpack(NULL, envlen, env);
	assert_non_null(u);
	assert_int_equal(u->version, 1);
	assert_int_equal(u->payload.len, sizeof(payload));
	assert_int_equal(u->signature.len, 64);
	repnet__v1__envelope__free_unpacked(u, NULL);

	/* Every single-bit flip anywhere is refused. */
	for (size_t i = 0; i < envlen; i++) {
		for (int bit = 0; bit < 8; bit++) {
			env[i] ^= (uint8_t)(1u << bit);
			int rc = feeds_envelope_open(k, env, envlen, &p, &plen, &who, &revoked);
			if (rc == RN_OK)
				fail_msg("flip of byte %zu bit %d accepted", i, bit);
			env[i] ^= (uint8_t)(1u << bit);
		}
	}
	/* Every truncation is refused. */
	for (size_t n = 0; n < envlen; n++)
		RN_FAILS(feeds_envelope_open(k, env, n, &p, &plen, &who, &revoked));
	/* Trailing bytes are refused. */
	uint8_t *longer = malloc(envlen + 2);
	memcpy(longer, env, envlen);
	longer[envlen] = 0x08; /* field 1 again */
	longer[envlen + 1] = 0x01;
	RN_FAILS_WITH(feeds_envelope_open(k, longer, envlen + 2, &p, &plen, &who, &revoked),
	              RN_EPARSE);
	free(longer);
	free(env);

	/* Unknown and revoked keys; the key id is read for the log line all the same. */
	RN_PASS(feeds_envelope_seal(b, payload, sizeof(payload), &env, &envlen));
	RN_FAILS_WITH(feeds_envelope_open(k, env, envlen, &p, &plen, &who, &revoked), RN_EKEY);
	assert_false(revoked);
	uint8_t id[FEEDS_KEY_ID_LEN], want[FEEDS_KEY_ID_LEN];
	RN_PASS(feeds_envelope_key_id(env, envlen, id));
	feeds_signer_key_id(b, want);
	assert_memory_equal(id, want, sizeof(id));
	RN_FAILS_WITH(feeds_envelope_key_id(env, envlen - 1, id), RN_ETRUNC);
	RN_FAILS_WITH(feeds_envelope_key_id(payload, sizeof(payload), id), RN_EPARSE);
	struct feeds_keyring *k2;
	RN_PASS(feeds_keyring_alloc(&k2));
	RN_PASS(feeds_keyring_add(k2, "beta", pb, true));
	RN_FAILS_WITH(feeds_envelope_open(k2, env, envlen, &p, &plen, &who, &revoked), RN_EKEY);
	assert_true(revoked);
	free(env);

	/* A key id that matches but a signature by another key. */
	RN_PASS(feeds_envelope_seal(a, payload, sizeof(payload), &env, &envlen));
	Repnet__V1__Envelope *e2 = repnet__v1__envelope__unpack(NULL, envlen, env);
	uint8_t *forged;
	size_t flen;
	RN_PASS(feeds_envelope_seal(b, payload, sizeof(payload), &forged, &flen));
	Repnet__V1__Envelope *fb = repnet__v1__envelope__unpack(NULL, flen, forged);
	memcpy(e2->signature.data, fb->signature.data, 64);
	size_t n2 = repnet__v1__envelope__get_packed_size(e2);
	uint8_t *w2 = malloc(n2);
	repnet__v1__envelope__pack(e2, w2);
	RN_FAILS_WITH(feeds_envelope_open(k, w2, n2, &p, &plen, &who, &revoked), RN_ESIG);
	/* Version 2 is not understood. */
	e2->version = 2;
	repnet__v1__envelope__pack(e2, w2);
	RN_FAILS_WITH(feeds_envelope_open(k, w2, n2, &p, &plen, &who, &revoked), RN_EVERSION);
	free(w2);
	repnet__v1__envelope__free_unpacked(e2, NULL);
	repnet__v1__envelope__free_unpacked(fb, NULL);
	free(forged);
	free(env);

	feeds_keyring_free(k);
	feeds_keyring_free(k2);
	feeds_signer_free(a);
	feeds_signer_free(b);
}

RN_TEST_MAIN(test_keyfiles, test_seal_open)
