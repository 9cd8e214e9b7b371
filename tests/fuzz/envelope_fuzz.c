/*
 * envelope_fuzz.c: the envelope verifier. Inputs are arbitrary bytes
 * opened against a keyring holding one fixed key; the seed corpus holds
 * envelopes sealed with that key, so mutations explore around valid ones.
 * An input may only open if it carries a valid signature by that key,
 * which a second, independent check confirms.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "feeds/bus/bus.h"
#include "feeds/bus/sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct feeds_keyring *ring;
static unsigned char pk[32];

static void setup(void)
{
	static const uint8_t seed[32] = {'r', 'e', 'p', 'n', 'e', 't', '-', 'f', 'u', 'z', 'z'};
	struct feeds_signer *s;
	char pub[FEEDS_PUBKEY_B64];
	unsigned char sk[64];
	if (feeds_signer_from_seed(&s, seed, "fuzz") != RN_OK ||
	    feeds_keyring_alloc(&ring) != RN_OK)
		abort();
	feeds_signer_public(s, pub);
	if (feeds_keyring_add(ring, "fuzz", pub, false) != RN_OK)
		abort();
	crypto_sign_seed_keypair(pk, sk, seed);
	feeds_signer_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (ring == NULL)
		setup();
	const uint8_t *p;
	size_t plen;
	const char *who;
	bool revoked;
	if (feeds_envelope_open(ring, data, size, &p, &plen, &who, &revoked) != RN_OK)
		return 0;
	/* Opened: the payload lies inside the input and is signed by our key. */
	if (p < data || p + plen > data + size || strcmp(who, "fuzz") != 0)
		abort();
	Repnet__V1__Envelope *e = repnet__v1__envelope__unpack(NULL, size, data);
	if (e == NULL || e->signature.len != 64 ||
	    crypto_sign_verify_detached(e->signature.data, p, plen, pk) != 0)
		abort();
	repnet__v1__envelope__free_unpacked(e, NULL);
	return 0;
}
