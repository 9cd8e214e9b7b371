/*
 * socket.c: nng socket setup shared by every bus endpoint.
 *
 * Design notes: nng 1.5.2 accepts messages of any size unless told
 * otherwise, so every socket gets NNG_OPT_RECVMAXSZ before it has an
 * endpoint; endpoints inherit it. TLS configurations are built per
 * endpoint from the PEM files named in the configuration; nng holds its
 * own reference, so ours is released right after it is attached. A
 * listener with bus.tls.verify_peer requires a client certificate that
 * chains to bus.tls.ca (mutual TLS); nng's default for listeners is no
 * client authentication at all, so the mode is always set explicitly.
 *
 * A listener on plain tcp:// (or ws://) anywhere but loopback is refused
 * unless bus.allow_plaintext says so: the bus carries observations and
 * the feed, which only TLS (or signatures, for what is signed) protects
 * off the host. A host name counts as off loopback, except "localhost".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "feeds/bus/socket.h"

int feeds_bus_setup(nng_socket s, const struct feeds_bus_conf *c, size_t recv_max)
{
	int rv;
	if ((rv = nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, recv_max)) != 0 ||
	    (rv = nng_socket_set_ms(s, NNG_OPT_RECONNMINT, (nng_duration)c->reconnect_min_ms)) !=
	            0 ||
	    (rv = nng_socket_set_ms(s, NNG_OPT_RECONNMAXT, (nng_duration)c->reconnect_max_ms)) !=
	            0) {
		log_warnx("bus: socket options: %s", nng_strerror(rv));
		return RN_EBUS;
	}
	return RN_OK;
}

static bool is_tls(const char *url)
{
	return strncmp(url, "tls+", 4) == 0 || strncmp(url, "wss://", 6) == 0;
}

static int read_pem(const char *path, char **out)
{
	uint8_t *buf;
	size_t len;
	int rc = rn_file_read(path, 1u << 20, &buf, &len);
	if (rc != RN_OK)
		return rc;
	char *s = realloc(buf, len + 1);
	if (s == NULL) {
		free(buf);
		return RN_ELIMIT;
	}
	s[len] = '\0';
	*out = s;
	return RN_OK;
}

/* The configuration key that holds url, for error messages. */
static const char *url_key(const struct feeds_bus_conf *c, const char *url)
{
	const struct {
		const char *v, *key;
	} k[] = {{c->ingest_listen, "feeds.bus.ingest_listen"},
	         {c->ingest_url, "feeds.bus.ingest_url"},
	         {c->pub_listen, "feeds.bus.pub_listen"},
	         {c->resync_listen, "feeds.bus.resync_listen"}};
	for (size_t i = 0; i < RN_ARRAY_LEN(k); i++)
		if (k[i].v != NULL && strcmp(k[i].v, url) == 0)
			return k[i].key;
	for (size_t i = 0; i < c->peers.n; i++)
		if ((c->peers.v[i].url != NULL && strcmp(c->peers.v[i].url, url) == 0) ||
		    (c->peers.v[i].resync != NULL && strcmp(c->peers.v[i].resync, url) == 0))
			return "feeds.bus.peers";
	return "the URL";
}

static int tls_pem(const char *path, const char *key, const char *url, char **out)
{
	int rc = read_pem(path, out);
	if (rc != RN_OK)
		log_warnx("bus: TLS for %s: %s = \"%s\": %s", url, key, path, rn_strerror(rc));
	return rc;
}

static int tls_config(nng_tls_config **out, bool server, const struct feeds_bus_conf *c,
                      const char *url)
{
	nng_tls_config *cfg = NULL;
	char *cert = NULL, *key = NULL;
	int rv, rc = RN_EBUS;

	(void)feeds_bus_tls_engine(); /* on failure, nng's own engine: no reports */
	if (server && (c->tls_cert == NULL || c->tls_key == NULL)) {
		log_warnx("bus: %s needs feeds.bus.tls.cert and feeds.bus.tls.key", url);
		return RN_ECONF;
	}
	if (server && c->tls_verify_peer && c->tls_ca == NULL) {
		log_warnx("bus: %s: feeds.bus.tls.verify_peer needs feeds.bus.tls.ca", url);
		return RN_ECONF;
	}
	if ((rv = nng_tls_config_alloc(&cfg, server ? NNG_TLS_MODE_SERVER : NNG_TLS_MODE_CLIENT)) !=
	    0)
		goto nngfail;
	if (c->tls_cert != NULL && c->tls_key != NULL) {
		if ((rc = tls_pem(c->tls_cert, "feeds.bus.tls.cert", url, &cert)) != RN_OK ||
		    (rc = tls_pem(c->tls_key, "feeds.bus.tls.key", url, &key)) != RN_OK)
			goto fail;
		rc = RN_EBUS;
		if ((rv = nng_tls_config_own_cert(cfg, cert, key, NULL)) != 0) {
			log_warnx("bus: TLS for %s: feeds.bus.tls.cert = \"%s\" with "
			          "feeds.bus.tls.key = \"%s\": %s (not a PEM certificate and its "
			          "private key?)",
			          url, c->tls_cert, c->tls_key, nng_strerror(rv));
			goto fail;
		}
	}
	if (c->tls_ca != NULL) {
		char *ca = NULL;
		if ((rc = tls_pem(c->tls_ca, "feeds.bus.tls.ca", url, &ca)) != RN_OK)
			goto fail;
		rv = nng_tls_config_ca_chain(cfg, ca, NULL);
		free(ca);
		rc = RN_EBUS;
		if (rv != 0) {
			log_warnx("bus: TLS for %s: feeds.bus.tls.ca = \"%s\": %s (not PEM "
			          "certificates?)",
			          url, c->tls_ca, nng_strerror(rv));
			goto fail;
		}
	}
	nng_tls_auth_mode mode = NNG_TLS_AUTH_MODE_NONE;
	if (server ? c->tls_verify_peer : c->tls_ca != NULL)
		mode = NNG_TLS_AUTH_MODE_REQUIRED;
	if ((rv = nng_tls_config_auth_mode(cfg, mode)) != 0)
		goto nngfail;
	if (!server && c->tls_server_name != NULL &&
	    (rv = nng_tls_config_server_name(cfg, c->tls_server_name)) != 0)
		goto nngfail;
	free(cert);
	free(key);
	*out = cfg;
	return RN_OK;
nngfail:
	log_warnx("bus: TLS for %s: %s", url, nng_strerror(rv));
fail:
	free(cert);
	if (key != NULL) {
		memset(key, 0, strlen(key));
		free(key);
	}
	if (cfg != NULL)
		nng_tls_config_free(cfg);
	return rc;
}

bool feeds_bus_url_plaintext_remote(const char *url)
{
	static const char *const plain[] = {"tcp://", "tcp4://", "tcp6://",
	                                    "ws://",  "ws4://",  "ws6://"};
	const char *host = NULL;
	for (size_t i = 0; i < RN_ARRAY_LEN(plain) && host == NULL; i++)
		if (strncmp(url, plain[i], strlen(plain[i])) == 0)
			host = url + strlen(plain[i]);
	if (host == NULL)
		return false; /* tls+tcp://, wss://, ipc://, inproc://, ... */
	/* host[:port][/path]; an IPv6 literal is bracketed. */
	const char *end = strchr(host, '/');
	size_t hl = end != NULL ? (size_t)(end - host) : strlen(host);
	char h[256];
	if (host[0] == '[') {
		const char *rb = memchr(host, ']', hl);
		if (rb == NULL || (size_t)(rb - host - 1) >= sizeof(h))
			return true;
		memcpy(h, host + 1, (size_t)(rb - host - 1));
		h[rb - host - 1] = '\0';
	} else {
		const char *colon = memrchr(host, ':', hl);
		size_t l = colon != NULL ? (size_t)(colon - host) : hl;
		if (l >= sizeof(h))
			return true;
		memcpy(h, host, l);
		h[l] = '\0';
	}
	struct in_addr a4;
	struct in6_addr a6;
	if (inet_pton(AF_INET, h, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) != 127;
	if (inet_pton(AF_INET6, h, &a6) == 1)
		return !IN6_IS_ADDR_LOOPBACK(&a6);
	/* "", "*", a name: not known to stay on this host. */
	return strcmp(h, "localhost") != 0;
}

int feeds_bus_listen(nng_socket s, const char *url, const struct feeds_bus_conf *c, unsigned *port)
{
	nng_listener l;
	nng_tls_config *cfg = NULL;
	int rv, rc;
	if (!c->allow_plaintext && feeds_bus_url_plaintext_remote(url)) {
		log_warnx("bus: %s would take plain TCP from the network: use tls+tcp:// (mutual "
		          "TLS), or set feeds.bus.allow_plaintext = true to allow it",
		          url);
		return RN_ECONF;
	}
	if ((rv = nng_listener_create(&l, s, url)) != 0) {
		log_warnx("bus: %s = \"%s\": %s", url_key(c, url), url, nng_strerror(rv));
		return RN_EBUS;
	}
	if (is_tls(url)) {
		if ((rc = tls_config(&cfg, true, c, url)) != RN_OK) {
			nng_listener_close(l);
			return rc;
		}
		rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg);
		nng_tls_config_free(cfg);
		if (rv != 0) {
			log_warnx("bus: listen %s: %s", url, nng_strerror(rv));
			nng_listener_close(l);
			return RN_EBUS;
		}
	}
	if ((rv = nng_listener_start(l, 0)) != 0) {
		log_warnx("bus: %s = \"%s\": cannot listen: %s", url_key(c, url), url,
		          nng_strerror(rv));
		nng_listener_close(l);
		return rv == NNG_EADDRINUSE ? -EADDRINUSE : RN_EBUS;
	}
	if (port != NULL) {
		nng_sockaddr sa;
		*port = 0;
		if (nng_listener_get_addr(l, NNG_OPT_LOCADDR, &sa) == 0) {
			if (sa.s_family == NNG_AF_INET)
				*port = ntohs(sa.s_in.sa_port);
			else if (sa.s_family == NNG_AF_INET6)
				*port = ntohs(sa.s_in6.sa_port);
		}
	}
	return RN_OK;
}

int feeds_bus_dial(nng_socket s, const char *url, const struct feeds_bus_conf *c)
{
	nng_dialer d;
	nng_tls_config *cfg = NULL;
	int rv, rc;
	if ((rv = nng_dialer_create(&d, s, url)) != 0) {
		log_warnx("bus: %s = \"%s\": %s", url_key(c, url), url, nng_strerror(rv));
		return RN_EBUS;
	}
	if (is_tls(url)) {
		if ((rc = tls_config(&cfg, false, c, url)) != RN_OK) {
			nng_dialer_close(d);
			return rc;
		}
		rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg);
		nng_tls_config_free(cfg);
		if (rv != 0) {
			log_warnx("bus: dial %s: %s", url, nng_strerror(rv));
			nng_dialer_close(d);
			return RN_EBUS;
		}
	}
	/* Non-blocking: the dialer keeps reconnecting with backoff by itself. */
	if ((rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK)) != 0) {
		log_warnx("bus: dial %s: %s", url, nng_strerror(rv));
		nng_dialer_close(d);
		return RN_EBUS;
	}
	return RN_OK;
}
