/*
 * tls.c: the bus's TLS engine for nng: mbed TLS, with every failed
 * handshake logged (peer address and reason) and counted.
 *
 * Design notes.
 *
 * What nng 1.5.2 lets an application see of a failed TLS handshake: on a
 * listener, nothing (the connection never becomes a pipe, so no pipe
 * callback runs; the listener's "auth" or "other" statistic goes up, with
 * no peer and no reason); on a dialer started with NNG_FLAG_NONBLOCK,
 * nothing either (the dialer retries on its own; the error reaches only
 * its statistics). nng's own mbed TLS engine maps the mbed TLS error to
 * NNG_EPEERAUTH or NNG_ECRYPTO and drops the detail (which certificate
 * check failed, which alert the peer sent), and it has no log.
 *
 * nng does let an application register its own TLS engine
 * (nng_tls_engine_register(), <nng/supplemental/tls/engine.h>), which
 * then holds the mbed TLS context of every connection made with a TLS
 * configuration allocated afterwards. This is that engine, written on
 * mbed TLS 2.28's public API: configuration (CA chain, own certificate
 * and key, authentication mode, server name, versions) and connections
 * (handshake, read, write, close). When a handshake fails it knows the
 * mbed TLS error, the certificate verification flags and the alert the
 * peer sent, classifies them into one reason, counts it in
 * repnet_bus_tls_failures_total{side,reason} and logs it, rate-limited.
 *
 * The peer's address. The engine interface gives a connection only an
 * opaque pointer to nng's TLS stream, for nng_tls_engine_send()/recv().
 * In nng 1.5 (and every 1.x since the engine interface came in 1.4) that
 * object begins with its nng_stream, whose "get" answers NNG_OPT_REMADDR
 * from the TCP stream beneath; the engine reads the address once, at
 * connection setup, and only when nng_version() is 1.x. If the read
 * fails the log says "unknown".
 *
 * What each side sees, measured with nng 1.5.2 and mbed TLS 2.28 (tests/
 * feeds/tls_fail_test.sh):
 *   - client without a certificate, listener with verify_peer: the
 *     listener sees "no_certificate"; mbed TLS sends no alert for it, so
 *     the client sees the connection closed during the handshake
 *     ("closed_by_peer");
 *   - client certificate from another CA: the listener sees
 *     "untrusted_certificate"; the client sees "refused_by_peer" with the
 *     alert (unknown_ca);
 *   - wrong feeds.bus.tls.server_name: the dialer sees "name_mismatch"; the
 *     listener sees "refused_by_peer" with the alert (bad_certificate);
 *   - server certificate from a CA the dialer does not trust: the dialer
 *     sees "untrusted_certificate", the listener "refused_by_peer"
 *     (unknown_ca).
 * A plain-TCP client on a TLS listener is "not_tls"; a port scan or a
 * health check that connects and closes is "closed_by_peer".
 *
 * nng does not call handshake() again once the TCP connection beneath
 * fails, so a handshake left unfinished is reported when nng closes or
 * frees the connection, as "closed_by_peer". A connection this side
 * closes in mid-handshake (at shutdown) is counted so too.
 *
 * Threads. nng calls the engine from its own threads with the
 * connection's lock held; connections share their configuration, which
 * is not changed once a connection uses it (nng's rule). Counters are
 * atomic, registered once per metrics registry. The random generator is
 * getrandom(2), which is safe from any thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_crt.h>
#include <nng/nng.h>
#include <nng/supplemental/tls/engine.h>
#include <nng/supplemental/tls/tls.h>

#include "feeds/bus/socket.h"

#define OWN_MAX 4 /* own certificates per configuration (nng allows several) */

static const char *const reason_names[FEEDS_TLS_R_COUNT] = {
        [FEEDS_TLS_NO_CERT] = "no_certificate",
        [FEEDS_TLS_UNTRUSTED] = "untrusted_certificate",
        [FEEDS_TLS_NAME_MISMATCH] = "name_mismatch",
        [FEEDS_TLS_EXPIRED] = "expired_certificate",
        [FEEDS_TLS_BAD_CERT] = "bad_certificate",
        [FEEDS_TLS_REFUSED] = "refused_by_peer",
        [FEEDS_TLS_CLOSED] = "closed_by_peer",
        [FEEDS_TLS_NOT_TLS] = "not_tls",
        [FEEDS_TLS_OTHER] = "other",
};

/* [0]: listener (server) side, [1]: dialer (client) side. Shared by every connection. */
static struct rn_counter tls_failures[2][FEEDS_TLS_R_COUNT];
/* The log's rate limits, per side and reason: a client retrying one failure hides no other. */
static struct rn_ratelimit tls_rl[2][FEEDS_TLS_R_COUNT];

struct nng_tls_engine_config {
	mbedtls_ssl_config ssl;
	mbedtls_x509_crt ca;
	mbedtls_x509_crl crl;
	mbedtls_x509_crt own[OWN_MAX];
	mbedtls_pk_context key[OWN_MAX];
	int nown;
	bool server;
	bool has_crl;
	nng_tls_auth_mode auth;
	char *server_name;
};

struct nng_tls_engine_conn {
	void *tls; /* nng's TLS stream: the argument of nng_tls_engine_send()/recv() */
	struct nng_tls_engine_config *cfg;
	mbedtls_ssl_context ssl;
	int io_err; /* the last nng error of the stream beneath (0: none) */
	bool hs_begun, hs_done;
	bool reported;
	char peer[64];
};

const char *feeds_bus_tls_reason_name(enum feeds_tls_reason r)
{
	return (unsigned)r < FEEDS_TLS_R_COUNT ? reason_names[r] : "other";
}

enum feeds_tls_reason feeds_bus_tls_classify(int err, uint32_t flags, bool io_closed)
{
	if (err == MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE || (flags & MBEDTLS_X509_BADCERT_MISSING))
		return FEEDS_TLS_NO_CERT;
	if (err == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED ||
	    err == MBEDTLS_ERR_SSL_PEER_VERIFY_FAILED || flags != 0) {
		if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED)
			return FEEDS_TLS_UNTRUSTED;
		if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH)
			return FEEDS_TLS_NAME_MISMATCH;
		if (flags & (MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE))
			return FEEDS_TLS_EXPIRED;
		return FEEDS_TLS_BAD_CERT;
	}
	if (err == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE)
		return FEEDS_TLS_REFUSED;
	if (io_closed || err == MBEDTLS_ERR_SSL_CONN_EOF || err == MBEDTLS_ERR_NET_CONN_RESET ||
	    err == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
		return FEEDS_TLS_CLOSED;
	if (err == MBEDTLS_ERR_SSL_INVALID_RECORD || err == MBEDTLS_ERR_SSL_BAD_HS_CLIENT_HELLO ||
	    err == MBEDTLS_ERR_SSL_BAD_HS_SERVER_HELLO ||
	    err == MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION)
		return FEEDS_TLS_NOT_TLS;
	return FEEDS_TLS_OTHER;
}

static const char *alert_name(int a)
{
	switch (a) {
	case MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE:
		return "handshake_failure";
	case MBEDTLS_SSL_ALERT_MSG_BAD_CERT:
		return "bad_certificate";
	case MBEDTLS_SSL_ALERT_MSG_UNSUPPORTED_CERT:
		return "unsupported_certificate";
	case MBEDTLS_SSL_ALERT_MSG_CERT_REVOKED:
		return "certificate_revoked";
	case MBEDTLS_SSL_ALERT_MSG_CERT_EXPIRED:
		return "certificate_expired";
	case MBEDTLS_SSL_ALERT_MSG_CERT_UNKNOWN:
		return "certificate_unknown";
	case MBEDTLS_SSL_ALERT_MSG_UNKNOWN_CA:
		return "unknown_ca";
	case MBEDTLS_SSL_ALERT_MSG_ACCESS_DENIED:
		return "access_denied";
	case MBEDTLS_SSL_ALERT_MSG_PROTOCOL_VERSION:
		return "protocol_version";
	case MBEDTLS_SSL_ALERT_MSG_INSUFFICIENT_SECURITY:
		return "insufficient_security";
	case MBEDTLS_SSL_ALERT_MSG_DECODE_ERROR:
		return "decode_error";
	case MBEDTLS_SSL_ALERT_MSG_DECRYPT_ERROR:
		return "decrypt_error";
	default:
		return "other";
	}
}

/* What an operator should look at, per side and reason. */
static const char *hint(bool server, enum feeds_tls_reason r, const struct nng_tls_engine_config *c)
{
	switch (r) {
	case FEEDS_TLS_NO_CERT:
		return server ? "the client presented no certificate (feeds.bus.tls.verify_peer = "
		                "true "
		                "requires one: the client's feeds.bus.tls.cert and "
		                "feeds.bus.tls.key)"
		              : "the server presented no certificate";
	case FEEDS_TLS_UNTRUSTED:
		return server ? "the client's certificate does not chain to feeds.bus.tls.ca"
		              : "the server's certificate does not chain to feeds.bus.tls.ca";
	case FEEDS_TLS_NAME_MISMATCH:
		return "the server's certificate does not name feeds.bus.tls.server_name";
	case FEEDS_TLS_EXPIRED:
		return "the peer's certificate is expired or not yet valid";
	case FEEDS_TLS_BAD_CERT:
		return "the peer's certificate failed verification (key usage, key type or "
		       "revocation)";
	case FEEDS_TLS_REFUSED:
		return server ? "the client refused this server's certificate (check the "
		                "client's feeds.bus.tls.ca and feeds.bus.tls.server_name against "
		                "feeds.bus.tls.cert)"
		              : "the server refused this client (check feeds.bus.tls.cert against "
		                "the "
		                "server's feeds.bus.tls.ca)";
	case FEEDS_TLS_CLOSED:
		return server || c->auth == NNG_TLS_AUTH_MODE_NONE
		               ? "the peer closed the connection during the handshake"
		               : "the server closed the connection during the handshake (it may "
		                 "require a client certificate: feeds.bus.tls.cert, "
		                 "feeds.bus.tls.key)";
	case FEEDS_TLS_NOT_TLS:
		return "the peer does not speak TLS (a tcp:// URL?)";
	default:
		return "the handshake failed";
	}
}

static void report(struct nng_tls_engine_conn *ec, int err)
{
	struct nng_tls_engine_config *c = ec->cfg;
	uint32_t flags = mbedtls_ssl_get_verify_result(&ec->ssl);
	if (flags == (uint32_t)-1 || (flags & MBEDTLS_X509_BADCERT_SKIP_VERIFY))
		flags = 0; /* no certificate checked (yet) */
	if (c->server && c->auth != NNG_TLS_AUTH_MODE_REQUIRED)
		flags &= ~(uint32_t)MBEDTLS_X509_BADCERT_MISSING;
	enum feeds_tls_reason r = feeds_bus_tls_classify(err, flags, ec->io_err != 0 || err == 0);
	rn_counter_add_shared(&tls_failures[c->server ? 0 : 1][r], 1);
	char detail[160] = "";
	if (r == FEEDS_TLS_REFUSED && ec->ssl.in_msg != NULL)
		snprintf(detail, sizeof(detail), " (alert %d %s)", ec->ssl.in_msg[1],
		         alert_name(ec->ssl.in_msg[1]));
	else if (r == FEEDS_TLS_NAME_MISMATCH && c->server_name != NULL)
		snprintf(detail, sizeof(detail), " (feeds.bus.tls.server_name = \"%.100s\")",
		         c->server_name);
	else if (r == FEEDS_TLS_OTHER || r == FEEDS_TLS_NOT_TLS)
		snprintf(detail, sizeof(detail), " (mbed TLS error -0x%04x)", (unsigned)-err);
	if (atomic_load_explicit(&rn_log_level_current, memory_order_relaxed) >= RN_LOG_WARNING &&
	    rn_ratelimit_allow(&tls_rl[c->server ? 0 : 1][r]))
		rn_log_emit(RN_LOG_WARNING, false, "bus: TLS handshake %s %s failed: %s: %s%s",
		            c->server ? "from" : "with", ec->peer, feeds_bus_tls_reason_name(r),
		            hint(c->server, r, c), detail);
}

/* ---- configuration ---- */

static int rng(void *arg, unsigned char *buf, size_t len)
{
	(void)arg;
	size_t off = 0;
	for (int i = 0; off < len && i < 64; i++) {
		ssize_t n = getrandom(buf + off, len - off, 0);
		if (n > 0)
			off += (size_t)n;
		else if (n < 0 && errno != EINTR)
			break;
	}
	return off == len ? 0 : MBEDTLS_ERR_SSL_INTERNAL_ERROR;
}

static int cfg_init(nng_tls_engine_config *c, nng_tls_mode mode)
{
	c->server = mode == NNG_TLS_MODE_SERVER;
	mbedtls_ssl_config_init(&c->ssl);
	mbedtls_x509_crt_init(&c->ca);
	mbedtls_x509_crl_init(&c->crl);
	for (int i = 0; i < OWN_MAX; i++) {
		mbedtls_x509_crt_init(&c->own[i]);
		mbedtls_pk_init(&c->key[i]);
	}
	if (mbedtls_ssl_config_defaults(
	            &c->ssl, c->server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
	            MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT) != 0)
		return NNG_ENOMEM;
	/* nng's defaults: a server asks for nothing, a client verifies the server. */
	c->auth = c->server ? NNG_TLS_AUTH_MODE_NONE : NNG_TLS_AUTH_MODE_REQUIRED;
	mbedtls_ssl_conf_authmode(&c->ssl, c->server ? MBEDTLS_SSL_VERIFY_NONE
	                                             : MBEDTLS_SSL_VERIFY_REQUIRED);
	mbedtls_ssl_conf_min_version(&c->ssl, MBEDTLS_SSL_MAJOR_VERSION_3,
	                             MBEDTLS_SSL_MINOR_VERSION_3); /* TLS 1.2 */
	mbedtls_ssl_conf_rng(&c->ssl, rng, NULL);
	return 0;
}

static void cfg_fini(nng_tls_engine_config *c)
{
	mbedtls_ssl_config_free(&c->ssl);
	mbedtls_x509_crt_free(&c->ca);
	mbedtls_x509_crl_free(&c->crl);
	for (int i = 0; i < OWN_MAX; i++) {
		mbedtls_x509_crt_free(&c->own[i]);
		mbedtls_pk_free(&c->key[i]);
	}
	free(c->server_name);
}

static int cfg_server(nng_tls_engine_config *c, const char *name)
{
	char *s = strdup(name);
	if (s == NULL)
		return NNG_ENOMEM;
	free(c->server_name);
	c->server_name = s;
	return 0;
}

static int cfg_auth(nng_tls_engine_config *c, nng_tls_auth_mode mode)
{
	int m;
	switch (mode) {
	case NNG_TLS_AUTH_MODE_NONE:
		m = MBEDTLS_SSL_VERIFY_NONE;
		break;
	case NNG_TLS_AUTH_MODE_OPTIONAL:
		m = MBEDTLS_SSL_VERIFY_OPTIONAL;
		break;
	case NNG_TLS_AUTH_MODE_REQUIRED:
		m = MBEDTLS_SSL_VERIFY_REQUIRED;
		break;
	default:
		return NNG_EINVAL;
	}
	c->auth = mode;
	mbedtls_ssl_conf_authmode(&c->ssl, m);
	return 0;
}

static int cfg_ca_chain(nng_tls_engine_config *c, const char *certs, const char *crl)
{
	if (certs == NULL ||
	    mbedtls_x509_crt_parse(&c->ca, (const unsigned char *)certs, strlen(certs) + 1) != 0)
		return NNG_EINVAL;
	if (crl != NULL && crl[0] != '\0') {
		if (mbedtls_x509_crl_parse(&c->crl, (const unsigned char *)crl, strlen(crl) + 1) !=
		    0)
			return NNG_EINVAL;
		c->has_crl = true;
	}
	mbedtls_ssl_conf_ca_chain(&c->ssl, &c->ca, c->has_crl ? &c->crl : NULL);
	return 0;
}

static int cfg_own_cert(nng_tls_engine_config *c, const char *cert, const char *key,
                        const char *pass)
{
	if (c->nown >= OWN_MAX)
		return NNG_ENOSPC;
	mbedtls_x509_crt *crt = &c->own[c->nown];
	mbedtls_pk_context *pk = &c->key[c->nown];
	if (cert == NULL || key == NULL ||
	    mbedtls_x509_crt_parse(crt, (const unsigned char *)cert, strlen(cert) + 1) != 0)
		goto bad;
	if (mbedtls_pk_parse_key(pk, (const unsigned char *)key, strlen(key) + 1,
	                         (const unsigned char *)pass, pass != NULL ? strlen(pass) : 0) != 0)
		goto bad;
	if (mbedtls_ssl_conf_own_cert(&c->ssl, crt, pk) != 0)
		goto bad;
	c->nown++;
	return 0;
bad:
	mbedtls_x509_crt_free(crt);
	mbedtls_pk_free(pk);
	mbedtls_x509_crt_init(crt);
	mbedtls_pk_init(pk);
	return NNG_EINVAL;
}

static int cfg_version(nng_tls_engine_config *c, nng_tls_version lo, nng_tls_version hi)
{
	/* mbed TLS 2.28 without its experimental 1.3: 1.2 only, as nng's own engine. */
	if (lo > NNG_TLS_1_2 || hi < NNG_TLS_1_2 || lo > hi)
		return NNG_ENOTSUP;
	mbedtls_ssl_conf_min_version(&c->ssl, MBEDTLS_SSL_MAJOR_VERSION_3,
	                             MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_max_version(&c->ssl, MBEDTLS_SSL_MAJOR_VERSION_3,
	                             MBEDTLS_SSL_MINOR_VERSION_3);
	return 0;
}

/* ---- connections ---- */

static int bio_send(void *arg, const unsigned char *buf, size_t len)
{
	struct nng_tls_engine_conn *ec = arg;
	size_t n = len;
	int rv = nng_tls_engine_send(ec->tls, buf, &n);
	if (rv == 0)
		return (int)n;
	if (rv == NNG_EAGAIN)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	ec->io_err = rv;
	return MBEDTLS_ERR_NET_SEND_FAILED;
}

static int bio_recv(void *arg, unsigned char *buf, size_t len)
{
	struct nng_tls_engine_conn *ec = arg;
	size_t n = len;
	int rv = nng_tls_engine_recv(ec->tls, buf, &n);
	if (rv == 0)
		return (int)n;
	if (rv == NNG_EAGAIN)
		return MBEDTLS_ERR_SSL_WANT_READ;
	ec->io_err = rv;
	return MBEDTLS_ERR_NET_RECV_FAILED;
}

static void conn_peer(struct nng_tls_engine_conn *ec)
{
	nng_sockaddr sa;
	snprintf(ec->peer, sizeof(ec->peer), "unknown");
	/* See the design notes: nng 1.x's TLS stream object is an nng_stream. */
	if (strncmp(nng_version(), "1.", 2) == 0 &&
	    nng_stream_get_addr((nng_stream *)ec->tls, NNG_OPT_REMADDR, &sa) == 0)
		feeds_bus_peer_format(&sa, ec->peer, sizeof(ec->peer));
}

static int conn_init(nng_tls_engine_conn *ec, void *tls, nng_tls_engine_config *c)
{
	ec->tls = tls;
	ec->cfg = c;
	mbedtls_ssl_init(&ec->ssl);
	if (mbedtls_ssl_setup(&ec->ssl, &c->ssl) != 0)
		return NNG_ENOMEM;
	if (c->server_name != NULL && mbedtls_ssl_set_hostname(&ec->ssl, c->server_name) != 0)
		return NNG_ENOMEM;
	mbedtls_ssl_set_bio(&ec->ssl, ec, bio_send, bio_recv, NULL);
	conn_peer(ec);
	return 0;
}

/*
 * nng does not call handshake() again when the connection beneath fails:
 * a peer that closes during the handshake is seen at close (or free).
 */
static void conn_unfinished(struct nng_tls_engine_conn *ec)
{
	if (ec->hs_begun && !ec->hs_done && !ec->reported) {
		ec->reported = true;
		report(ec, 0);
	}
}

static void conn_fini(nng_tls_engine_conn *ec)
{
	conn_unfinished(ec);
	mbedtls_ssl_free(&ec->ssl);
}

static void conn_close(nng_tls_engine_conn *ec)
{
	conn_unfinished(ec);
	if (ec->hs_done)
		(void)mbedtls_ssl_close_notify(&ec->ssl);
}

static int nng_err(struct nng_tls_engine_conn *ec, int err)
{
	switch (err) {
	case MBEDTLS_ERR_SSL_WANT_READ:
	case MBEDTLS_ERR_SSL_WANT_WRITE:
		return NNG_EAGAIN;
	case MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE:
	case MBEDTLS_ERR_SSL_PEER_VERIFY_FAILED:
	case MBEDTLS_ERR_X509_CERT_VERIFY_FAILED:
		return NNG_EPEERAUTH;
	case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY:
	case MBEDTLS_ERR_SSL_CONN_EOF:
		return NNG_ECLOSED;
	case MBEDTLS_ERR_SSL_ALLOC_FAILED:
		return NNG_ENOMEM;
	default:
		return ec->io_err != 0 ? ec->io_err : NNG_ECRYPTO;
	}
}

static int conn_handshake(nng_tls_engine_conn *ec)
{
	ec->hs_begun = true;
	int rv = mbedtls_ssl_handshake(&ec->ssl);
	if (rv == 0) {
		ec->hs_done = true;
		return 0;
	}
	if (rv != MBEDTLS_ERR_SSL_WANT_READ && rv != MBEDTLS_ERR_SSL_WANT_WRITE && !ec->reported) {
		ec->reported = true;
		report(ec, rv);
	}
	return nng_err(ec, rv);
}

static int conn_recv(nng_tls_engine_conn *ec, uint8_t *buf, size_t *len)
{
	int rv = mbedtls_ssl_read(&ec->ssl, buf, *len);
	if (rv > 0) {
		*len = (size_t)rv;
		return 0;
	}
	return rv == 0 ? NNG_ECLOSED : nng_err(ec, rv);
}

static int conn_send(nng_tls_engine_conn *ec, const uint8_t *buf, size_t *len)
{
	int rv = mbedtls_ssl_write(&ec->ssl, buf, *len);
	if (rv > 0) {
		*len = (size_t)rv;
		return 0;
	}
	return nng_err(ec, rv);
}

static bool conn_verified(nng_tls_engine_conn *ec)
{
	return mbedtls_ssl_get_verify_result(&ec->ssl) == 0;
}

static nng_tls_engine_config_ops config_ops = {
        .size = sizeof(nng_tls_engine_config),
        .init = cfg_init,
        .fini = cfg_fini,
        .server = cfg_server,
        .auth = cfg_auth,
        .ca_chain = cfg_ca_chain,
        .own_cert = cfg_own_cert,
        .version = cfg_version,
};

static nng_tls_engine_conn_ops conn_ops = {
        .size = sizeof(nng_tls_engine_conn),
        .init = conn_init,
        .fini = conn_fini,
        .close = conn_close,
        .handshake = conn_handshake,
        .recv = conn_recv,
        .send = conn_send,
        .verified = conn_verified,
};

static const nng_tls_engine engine = {
        .version = NNG_TLS_ENGINE_VERSION,
        .config_ops = &config_ops,
        .conn_ops = &conn_ops,
        .name = "repnet-mbedtls",
        .description = "mbed TLS " MBEDTLS_VERSION_STRING ", handshake failures reported",
        .fips_mode = false,
};

static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static int engine_rv;

static void engine_register(void)
{
	/*
	 * nng must be initialized first: it registers its own engine then,
	 * which would replace this one. Allocating a configuration does it.
	 */
	nng_tls_config *cfg;
	for (int s = 0; s < 2; s++)
		for (int r = 0; r < FEEDS_TLS_R_COUNT; r++)
			tls_rl[s][r] = (struct rn_ratelimit)RN_RATELIMIT_INIT(10, 60);
	if ((engine_rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT)) == 0) {
		nng_tls_config_free(cfg);
		engine_rv = nng_tls_engine_register(&engine);
	}
	if (engine_rv != 0)
		log_warnx("bus: TLS handshake failures will not be reported: %s",
		          nng_strerror(engine_rv));
}

int feeds_bus_tls_engine(void)
{
	pthread_once(&engine_once, engine_register);
	return engine_rv == 0 ? RN_OK : RN_EBUS;
}

int feeds_bus_tls_metrics(struct rn_metrics *m)
{
	static const char *const sides[2] = {"listener", "dialer"};
	int rc = RN_OK;
	for (int s = 0; s < 2 && rc == RN_OK; s++)
		for (int r = 0; r < FEEDS_TLS_R_COUNT && rc == RN_OK; r++) {
			char l[96];
			snprintf(l, sizeof(l), "side=\"%s\",reason=\"%s\"", sides[s],
			         reason_names[r]);
			rc = rn_metrics_counter(
			        m, tls_failures, "repnet_bus_tls_failures_total",
			        "Failed TLS handshakes on bus connections, by the side that saw "
			        "the failure (listener or dialer) and its reason.",
			        l, &tls_failures[s][r]);
		}
	if (rc == RN_EEXIST)
		rc = RN_OK; /* the counters are process-wide: registered once */
	return rc;
}

uint64_t feeds_bus_tls_failures(bool listener, enum feeds_tls_reason r)
{
	return (unsigned)r < FEEDS_TLS_R_COUNT ? rn_counter_get(&tls_failures[listener ? 0 : 1][r])
	                                       : 0;
}
