/*
 * check.c: what `repnetd -n` checks beyond each key's own bounds: ports,
 * the files the configuration names, and whether the roles fit together.
 *
 * Design notes. The key tables check one value at a time; these checks
 * need the whole configuration (the roles decide which keys matter) or
 * the file system. They run only for -n, and each failure names the key
 * and the value. Listen and URL keys are found by type (host:port, URL)
 * and by name (a string or list key whose name ends in "listen" or
 * "url"), with the peers' URLs, so a key added
 * later is checked without an entry here. Files are checked for the
 * roles that read them, as the daemon's user running -n (root in a
 * package's postinst, the service user otherwise): a file root can read
 * may still be unreadable to core.user. A followed log file
 * (collector.tail.paths) may be absent: that is a warning, since the
 * collector follows it once it appears.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "daemon.h"

struct checker {
	FILE *out;
	int errors, warnings;
};

static void problem(struct checker *k, bool fatal, const char *fmt, ...) RN_PRINTF(3, 4);
static void problem(struct checker *k, bool fatal, const char *fmt, ...)
{
	va_list ap;
	fprintf(k->out, "repnetd: %s: ", fatal ? "error" : "warning");
	va_start(ap, fmt);
	vfprintf(k->out, fmt, ap);
	va_end(ap);
	fputc('\n', k->out);
	if (fatal)
		k->errors++;
	else
		k->warnings++;
}

/* The port of a listen address or URL into *port (-1: none); -1 when out of range or not a number. */
static int check_port_of(const char *v, long *port)
{
	const char *h = strstr(v, "://");
	*port = -1;
	if (h != NULL) {
		if (strncmp(v, "ipc", 3) == 0 || strncmp(v, "inproc", 6) == 0 ||
		    strncmp(v, "unix", 4) == 0)
			return 0; /* no port */
		h += 3;
	} else {
		h = v;
		if (h[0] == '/' || h[0] == '\0')
			return 0; /* a path, or off */
	}
	size_t hl = strcspn(h, "/");
	const char *colon;
	if (h[0] == '[') {
		const char *rb = memchr(h, ']', hl);
		if (rb == NULL)
			return -1;
		colon = rb + 1 < h + hl && rb[1] == ':' ? rb + 1 : NULL;
	} else {
		colon = memrchr(h, ':', hl);
	}
	if (colon == NULL)
		return 0; /* no port given: the default applies */
	const char *p = colon + 1, *end = h + hl;
	if (p == end)
		return -1;
	long n = 0;
	for (; p < end; p++) {
		if (*p < '0' || *p > '9' || n > 1000000)
			return -1;
		n = n * 10 + (*p - '0');
	}
	*port = n;
	return n <= 65535 ? 0 : -1;
}

static void check_addr(struct checker *k, const char *key, const char *v)
{
	long port;
	if (v == NULL || v[0] == '\0')
		return;
	if (check_port_of(v, &port) != 0) {
		if (port > 65535)
			problem(k, true, "%s = \"%s\": port %ld is out of range (0-65535)", key, v,
			        port);
		else
			problem(k, true, "%s = \"%s\": not host:port (a port is 0-65535)", key, v);
	}
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);
	return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

/* Every key named *listen or *url, in every section. */
static void check_ports(struct checker *k, const struct daemon_conf *c)
{
	for (size_t s = 0; s < DAEMON_NSECS; s++) {
		const struct rn_conf_section *sec = &c->secs[s];
		for (const struct rn_conf_key *key = sec->keys; key->name != NULL; key++) {
			bool addr = key->type == RN_CONF_HOSTPORT || key->type == RN_CONF_URL;
			if (!addr && !ends_with(key->name, "listen") &&
			    !ends_with(key->name, "url"))
				continue;
			char full[200];
			snprintf(full, sizeof(full), "%s.%s", sec->name, key->name);
			const void *field = (const char *)sec->base + key->offset;
			if (addr || key->type == RN_CONF_STRING) {
				check_addr(k, full, *(char *const *)field);
			} else if (key->type == RN_CONF_STRLIST) {
				const struct rn_strlist *l = field;
				for (size_t i = 0; i < l->n; i++)
					check_addr(k, full, l->v[i]);
			}
		}
	}
	const struct feeds_peers *p = &c->feeds.bus.peers;
	for (size_t i = 0; i < p->n; i++) {
		char key[128];
		snprintf(key, sizeof(key), "feeds.bus.peers[%s].url", p->v[i].name);
		check_addr(k, key, p->v[i].url);
		snprintf(key, sizeof(key), "feeds.bus.peers[%s].resync", p->v[i].name);
		check_addr(k, key, p->v[i].resync);
	}
}

/* A file the daemon will read: it must exist, be a regular file and be readable. */
static void check_file(struct checker *k, bool fatal, const char *key, const char *path)
{
	struct stat st;
	if (path == NULL || path[0] == '\0')
		return;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		problem(k, fatal, "%s = \"%s\": %s", key, path, strerror(errno));
		return;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		problem(k, fatal, "%s = \"%s\": not a regular file", key, path);
	close(fd);
}

static bool is_tls_url(const char *u)
{
	return u != NULL && (strncmp(u, "tls+", 4) == 0 || strncmp(u, "wss://", 6) == 0);
}

static bool any_tls(const struct daemon_conf *c, unsigned roles)
{
	const struct feeds_bus_conf *b = &c->feeds.bus;
	if ((roles & RN_ROLE_SCORE) && is_tls_url(b->ingest_listen))
		return true;
	if ((roles & RN_ROLE_COLLECT) && is_tls_url(b->ingest_url))
		return true;
	if ((roles & RN_ROLE_PUBLISH) &&
	    (is_tls_url(b->pub_listen) || is_tls_url(b->resync_listen)))
		return true;
	for (size_t i = 0; i < b->peers.n; i++)
		if (is_tls_url(b->peers.v[i].url) || is_tls_url(b->peers.v[i].resync))
			return true;
	return false;
}

static void check_files(struct checker *k, const struct daemon_conf *c)
{
	const struct feeds_bus_conf *b = &c->feeds.bus;
	unsigned roles = c->core.roles;
	bool tls_listener = ((roles & RN_ROLE_SCORE) && is_tls_url(b->ingest_listen)) ||
	                    ((roles & RN_ROLE_PUBLISH) &&
	                     (is_tls_url(b->pub_listen) || is_tls_url(b->resync_listen)));
	if (tls_listener && (b->tls_cert == NULL || b->tls_key == NULL))
		problem(k, true,
		        "a tls+tcp:// listener needs feeds.bus.tls.cert and feeds.bus.tls.key");
	if (tls_listener && b->tls_verify_peer && b->tls_ca == NULL)
		problem(k, true,
		        "feeds.bus.tls.verify_peer needs feeds.bus.tls.ca (the CA client "
		        "certificates must chain to), or verify_peer = false");
	if (any_tls(c, roles)) {
		check_file(k, true, "feeds.bus.tls.cert", b->tls_cert);
		check_file(k, true, "feeds.bus.tls.key", b->tls_key);
		check_file(k, true, "feeds.bus.tls.ca", b->tls_ca);
	}
	if (roles & RN_ROLE_PUBLISH)
		check_file(k, true, "feeds.bus.signing_key", b->signing_key);
	if (roles & (RN_ROLE_COLLECT | RN_ROLE_SCORE))
		check_file(k, true, "feeds.bus.collector_key", b->collector_key);
	if (roles & RN_ROLE_SERVE) {
		check_file(k, true, "feeds.dnsbl.list_file", c->feeds.rbl.list_file);
		check_file(k, true, "feeds.decisions.api_keys_file",
		           c->feeds.rbl.decisions_keys_file);
	}
	if (roles & RN_ROLE_COLLECT) {
		const struct rn_strlist *t = &c->collector.smtp.tail_paths;
		for (size_t i = 0; i < t->n; i++)
			check_file(k, false, "collector.tail.paths", t->v[i]);
	}
}

static void check_roles(struct checker *k, const struct daemon_conf *c)
{
	const struct feeds_bus_conf *b = &c->feeds.bus;
	unsigned roles = c->core.roles;
	if ((roles & RN_ROLE_PUBLISH) && !(roles & RN_ROLE_SCORE))
		problem(k, true,
		        "core.roles: publish needs score in the same process (it "
		        "publishes this node's scorer)");
	if ((roles & RN_ROLE_PUBLISH) && (b->pub_listen == NULL || b->resync_listen == NULL))
		problem(k, true,
		        "core.roles: publish needs feeds.bus.pub_listen and "
		        "feeds.bus.resync_listen");
	bool own_feed = (roles & RN_ROLE_PUBLISH) != 0;
	bool serve_peer = false;
	if (b->serve != NULL) {
		for (size_t i = 0; i < b->peers.n; i++)
			if (strcmp(b->peers.v[i].name, b->serve) == 0 &&
			    b->peers.v[i].url != NULL && !b->peers.v[i].revoked)
				serve_peer = true;
		if (!serve_peer)
			problem(k, true,
			        "feeds.bus.serve = \"%s\": not a peer with a url in "
			        "feeds.bus.peers",
			        b->serve);
	}
	bool have_feed = serve_peer || (b->serve == NULL && own_feed);
	if ((roles & RN_ROLE_SERVE) && c->feeds.rbl.list_file == NULL && !have_feed &&
	    b->serve == NULL)
		problem(k, true,
		        "core.roles: serve has no feed and no list: run publish here, "
		        "name a peer in feeds.bus.serve, or set feeds.dnsbl.list_file");
	if ((roles & RN_ROLE_SYNC) && !have_feed && b->serve == NULL)
		problem(k, true,
		        "core.roles: sync has no feed: run publish here or name a peer "
		        "in feeds.bus.serve");
	if ((roles & RN_ROLE_COLLECT) && !(roles & RN_ROLE_SCORE) && b->ingest_url == NULL)
		problem(k, true,
		        "core.roles: collect without score needs feeds.bus.ingest_url "
		        "(the scorer's ingest_listen)");
	if ((roles & RN_ROLE_SCORE) && b->ingest_listen == NULL)
		problem(k, true, "core.roles: score needs feeds.bus.ingest_listen");
	if (roles == 0)
		problem(k, true, "core.roles is empty: nothing would run");
}

int daemon_conf_check_all(const struct daemon_conf *c, FILE *out)
{
	struct checker k = {.out = out};
	check_ports(&k, c);
	check_files(&k, c);
	check_roles(&k, c);
	return k.errors > 0 ? RN_ECONF : RN_OK;
}
