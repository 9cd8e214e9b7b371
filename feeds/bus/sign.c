/*
 * sign.c: ed25519 keys, the keyrings of trusted publishers and
 * collectors, and sealed envelopes.
 *
 * Design notes: libsodium does the cryptography; this file handles key
 * files, key ids and the envelope's outer framing. Opening an envelope
 * reads the outer repnet.v1.Envelope with a strict hand-written reader
 * over the bounded cursor instead of protobuf-c, for three reasons: it
 * allocates nothing, the payload can be verified in place (it is never
 * copied before it is authenticated), and anything but the four known
 * fields, each at most once and with exact lengths, is refused. Sealing
 * uses protobuf-c's encoder, so `protoc --decode` reads what we send.
 *
 * A keyring is immutable once a subscriber or the ingest server starts
 * using it; it is read from several threads without a lock (a reload
 * builds a new one). Secret keys live in sodium_malloc'd
 * memory (guarded, locked, wiped on free).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "feeds/bus/bus.h"
#include "feeds/bus/sign.h"
#include "feeds/bus/wire.h"

#define SECRET_TAG "repnet-ed25519-secret-v1 "
#define PUBLIC_TAG "repnet-ed25519-public-v1 "

struct feeds_signer {
	unsigned char *sk; /* sodium_malloc: crypto_sign_SECRETKEYBYTES */
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	uint8_t id[FEEDS_KEY_ID_LEN];
	char name[64];
};

struct ring_entry {
	char name[64];
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	uint8_t id[FEEDS_KEY_ID_LEN];
	bool revoked;
};

struct feeds_keyring {
	struct ring_entry *v;
	size_t n;
};

static int signer_from_seed(struct feeds_signer **out, const unsigned char *seed, const char *name);

static int sodium_ready(void)
{
	return sodium_init() < 0 ? RN_EINTERNAL : RN_OK;
}

static void key_id(const unsigned char pk[crypto_sign_PUBLICKEYBYTES], uint8_t id[FEEDS_KEY_ID_LEN])
{
	crypto_generichash(id, FEEDS_KEY_ID_LEN, pk, crypto_sign_PUBLICKEYBYTES, NULL, 0);
}

static void b64_encode(const unsigned char *bin, size_t len, char *out, size_t outlen)
{
	sodium_bin2base64(out, outlen, bin, len, sodium_base64_VARIANT_ORIGINAL);
}

/* Decodes exactly want bytes of base64; anything else is RN_EPARSE. */
static int b64_decode(const char *s, size_t slen, unsigned char *out, size_t want)
{
	size_t got = 0;
	const char *end = NULL;
	if (sodium_base642bin(out, want, s, slen, NULL, &got, &end,
	                      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    got != want || end != s + slen)
		return RN_EPARSE;
	return RN_OK;
}

static int write_new(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	int rc = rn_write_all(fd, text, strlen(text));
	if (rc == RN_OK && fsync(fd) != 0)
		rc = -errno;
	close(fd);
	if (rc != RN_OK)
		unlink(path);
	return rc;
}

int feeds_key_generate(const char *secret_path, const char *public_path, char *pub_b64)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char seed[crypto_sign_SEEDBYTES];
	unsigned char *sk = NULL;
	char line[128], b64[64];
	int rc = sodium_ready();
	if (rc != RN_OK)
		return rc;
	sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
	if (sk == NULL)
		return -ENOMEM;
	randombytes_buf(seed, sizeof(seed));
	crypto_sign_seed_keypair(pk, sk, seed);
	b64_encode(seed, sizeof(seed), b64, sizeof(b64));
	snprintf(line, sizeof(line), SECRET_TAG "%s\n", b64);
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(b64, sizeof(b64));
	rc = write_new(secret_path, line, 0600);
	sodium_memzero(line, sizeof(line));
	if (rc != RN_OK)
		goto out;
	b64_encode(pk, sizeof(pk), pub_b64, FEEDS_PUBKEY_B64);
	snprintf(line, sizeof(line), PUBLIC_TAG "%s\n", pub_b64);
	if (public_path != NULL) {
		/* The public half may be regenerated from the secret, so replace. */
		rc = rn_file_replace(public_path, line, strlen(line), 0644);
		if (rc != RN_OK)
			unlink(secret_path);
	}
out:
	sodium_free(sk);
	return rc;
}

int feeds_signer_load(struct feeds_signer **out, const char *secret_path, const char *name)
{
	struct feeds_signer *s = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	unsigned char seed[crypto_sign_SEEDBYTES];
	struct stat st;
	int rc = sodium_ready();
	if (rc != RN_OK)
		return rc;
	if (name == NULL || strlen(name) == 0 || strlen(name) >= sizeof(s->name))
		return RN_ECONF;
	if (stat(secret_path, &st) != 0)
		return -errno;
	if ((st.st_mode & 077) != 0) {
		log_warnx("%s: secret key is readable by group or others (mode %03o); refusing it",
		          secret_path, (unsigned)(st.st_mode & 0777));
		return -EPERM;
	}
	rc = rn_file_read(secret_path, 256, &buf, &len);
	if (rc != RN_OK)
		return rc;
	size_t tl = strlen(SECRET_TAG);
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (len <= tl || memcmp(buf, SECRET_TAG, tl) != 0 ||
	    b64_decode((const char *)buf + tl, len - tl, seed, sizeof(seed)) != RN_OK) {
		rc = RN_EPARSE;
		goto fail;
	}
	rc = signer_from_seed(&s, seed, name);
	if (rc != RN_OK)
		goto fail;
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(buf, len);
	free(buf);
	*out = s;
	return RN_OK;
fail:
	sodium_memzero(seed, sizeof(seed));
	if (buf != NULL)
		sodium_memzero(buf, len);
	free(buf);
	feeds_signer_free(s);
	return rc;
}

int feeds_signer_load_or_make(struct feeds_signer **out, const char *path, const char *name,
                              bool make, bool *made)
{
	*made = false;
	if (make && access(path, F_OK) != 0) {
		char pub[4200], b64[FEEDS_PUBKEY_B64];
		size_t l = strlen(path);
		if (l > 4 && strcmp(path + l - 4, ".key") == 0)
			snprintf(pub, sizeof(pub), "%.*s.pub", (int)(l - 4), path);
		else
			snprintf(pub, sizeof(pub), "%s.pub", path);
		int rc = feeds_key_generate(path, pub, b64);
		if (rc != RN_OK)
			return rc;
		*made = true;
	}
	return feeds_signer_load(out, path, name);
}

static int signer_from_seed(struct feeds_signer **out, const unsigned char *seed, const char *name)
{
	struct feeds_signer *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
	if (s->sk == NULL) {
		free(s);
		return -ENOMEM;
	}
	crypto_sign_seed_keypair(s->pk, s->sk, seed);
	key_id(s->pk, s->id);
	snprintf(s->name, sizeof(s->name), "%s", name);
	*out = s;
	return RN_OK;
}

int feeds_signer_from_seed(struct feeds_signer **out, const uint8_t seed[32], const char *name)
{
	int rc = sodium_ready();
	if (rc != RN_OK)
		return rc;
	if (name == NULL || name[0] == '\0' || strlen(name) >= 64)
		return RN_ECONF;
	return signer_from_seed(out, seed, name);
}

void feeds_signer_free(struct feeds_signer *s)
{
	if (s == NULL)
		return;
	if (s->sk != NULL)
		sodium_free(s->sk);
	free(s);
}

const char *feeds_signer_name(const struct feeds_signer *s)
{
	return s->name;
}

void feeds_signer_public(const struct feeds_signer *s, char *pub_b64)
{
	b64_encode(s->pk, sizeof(s->pk), pub_b64, FEEDS_PUBKEY_B64);
}

void feeds_signer_key_id(const struct feeds_signer *s, uint8_t id[FEEDS_KEY_ID_LEN])
{
	memcpy(id, s->id, FEEDS_KEY_ID_LEN);
}

int feeds_keyring_alloc(struct feeds_keyring **out)
{
	int rc = sodium_ready();
	if (rc != RN_OK)
		return rc;
	struct feeds_keyring *k = calloc(1, sizeof(*k));
	if (k == NULL)
		return -ENOMEM;
	*out = k;
	return RN_OK;
}

void feeds_keyring_free(struct feeds_keyring *k)
{
	if (k == NULL)
		return;
	free(k->v);
	free(k);
}

int feeds_keyring_add(struct feeds_keyring *k, const char *name, const char *pub_b64, bool revoked)
{
	struct ring_entry e = {.revoked = revoked};
	if (name == NULL || name[0] == '\0' || strlen(name) >= sizeof(e.name))
		return RN_ECONF;
	const char *b = pub_b64;
	size_t tl = strlen(PUBLIC_TAG);
	if (strncmp(b, PUBLIC_TAG, tl) == 0)
		b += tl; /* accept the key file's line as well as the bare key */
	size_t bl = strlen(b);
	while (bl > 0 && (b[bl - 1] == '\n' || b[bl - 1] == ' '))
		bl--;
	if (b64_decode(b, bl, e.pk, sizeof(e.pk)) != RN_OK)
		return RN_EPARSE;
	key_id(e.pk, e.id);
	snprintf(e.name, sizeof(e.name), "%s", name);
	for (size_t i = 0; i < k->n; i++)
		if (strcmp(k->v[i].name, name) == 0 || memcmp(k->v[i].id, e.id, sizeof(e.id)) == 0)
			return RN_EEXIST;
	struct ring_entry *v = realloc(k->v, (k->n + 1) * sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	k->v = v;
	k->v[k->n++] = e;
	return RN_OK;
}

int feeds_envelope_seal(const struct feeds_signer *s, const uint8_t *payload, size_t len,
                        uint8_t **out, size_t *outlen)
{
	uint8_t sig[FEEDS_SIG_LEN];
	Repnet__V1__Envelope env = REPNET__V1__ENVELOPE__INIT;
	if (len > FEEDS_WIRE_MAX)
		return RN_ELIMIT;
	crypto_sign_detached(sig, NULL, payload, len, s->sk);
	env.version = 1;
	env.key_id.data = (uint8_t *)s->id;
	env.key_id.len = FEEDS_KEY_ID_LEN;
	env.payload.data = (uint8_t *)payload;
	env.payload.len = len;
	env.signature.data = sig;
	env.signature.len = sizeof(sig);
	size_t n = repnet__v1__envelope__get_packed_size(&env);
	uint8_t *buf = malloc(n);
	if (buf == NULL)
		return -ENOMEM;
	repnet__v1__envelope__pack(&env, buf);
	*out = buf;
	*outlen = n;
	return RN_OK;
}

/* An envelope's four fields, located but not checked against a keyring. */
struct envelope_parts {
	const uint8_t *kid, *pl, *sig;
	size_t pllen;
};

/*
 * Reads the outer framing strictly: the four known fields, each at most
 * once, version 1, an 8-byte key id, a non-empty payload, a 64-byte
 * signature. Nothing inside the payload is looked at.
 */
static int envelope_split(const uint8_t *buf, size_t len, struct envelope_parts *e)
{
	struct rn_cur c;
	uint64_t version = 0;
	size_t kidlen = 0, siglen = 0;
	unsigned seen = 0;

	memset(e, 0, sizeof(*e));
	if (len > FEEDS_WIRE_MAX)
		return RN_ELIMIT;
	rn_cur_init(&c, buf, len);
	while (rn_cur_left(&c) > 0) {
		uint32_t field;
		unsigned wt;
		int rc = feeds_wire_tag(&c, &field, &wt);
		if (rc != RN_OK)
			return rc;
		if (field < 1 || field > 4 || (seen & (1u << field)))
			return RN_EPARSE; /* unknown or repeated field */
		seen |= 1u << field;
		if (field == 1) {
			if (wt != FEEDS_WT_VARINT)
				return RN_EPARSE;
			rc = feeds_wire_varint(&c, &version);
		} else {
			const uint8_t *p;
			size_t n;
			if (wt != FEEDS_WT_LEN)
				return RN_EPARSE;
			rc = feeds_wire_bytes(&c, &p, &n);
			if (field == 2) {
				e->kid = p;
				kidlen = n;
			} else if (field == 3) {
				e->pl = p;
				e->pllen = n;
			} else {
				e->sig = p;
				siglen = n;
			}
		}
		if (rc != RN_OK)
			return rc;
	}
	if (version != 1)
		return RN_EVERSION;
	if (e->kid == NULL || kidlen != FEEDS_KEY_ID_LEN || e->sig == NULL ||
	    siglen != FEEDS_SIG_LEN || e->pl == NULL || e->pllen == 0)
		return RN_EPARSE;
	return RN_OK;
}

int feeds_envelope_key_id(const uint8_t *buf, size_t len, uint8_t id[FEEDS_KEY_ID_LEN])
{
	struct envelope_parts e;
	int rc = envelope_split(buf, len, &e);
	if (rc == RN_OK)
		memcpy(id, e.kid, FEEDS_KEY_ID_LEN);
	return rc;
}

int feeds_envelope_open(const struct feeds_keyring *k, const uint8_t *buf, size_t len,
                        const uint8_t **payload, size_t *plen, const char **publisher,
                        bool *revoked)
{
	struct envelope_parts p;
	*revoked = false;
	int rc = envelope_split(buf, len, &p);
	if (rc != RN_OK)
		return rc;
	const struct ring_entry *e = NULL;
	for (size_t i = 0; i < k->n; i++) {
		if (memcmp(k->v[i].id, p.kid, FEEDS_KEY_ID_LEN) == 0) {
			e = &k->v[i];
			break;
		}
	}
	if (e == NULL)
		return RN_EKEY;
	if (e->revoked) {
		*revoked = true;
		return RN_EKEY;
	}
	if (crypto_sign_verify_detached(p.sig, p.pl, p.pllen, e->pk) != 0)
		return RN_ESIG;
	*payload = p.pl;
	*plen = p.pllen;
	*publisher = e->name;
	return RN_OK;
}
