/*
 * priv.c: repnetd started as root becomes core.user.
 *
 * Design notes. The order (docs/design.md, "Privileges"):
 *
 *   1. the configuration is loaded and the data directory made (as root,
 *      which may create it under /var/lib);
 *   2. here, with one thread: the user is looked up; the data directory
 *      is given to it; the launcher is started if a role needs a
 *      privileged helper (it drops to the user by itself, keeping only
 *      the helpers' capabilities); then the first half of the drop
 *      (rn_priv_prepare: groups, gid, no bounding/inheritable/ambient
 *      capability, no_new_privs, and every file opened from now on is
 *      opened as the user), and the data directory is checked writable
 *      as the user; when the serve role has a policy unix socket, its
 *      group (postfix by default) is added to the supplementary groups,
 *      so that the socket can be given to it without CAP_CHOWN;
 *   3. the roles start: sockets below 1024 still bind, since the
 *      effective set is untouched, and the helpers are started through
 *      the launcher;
 *   4. priv_finish(): the uid becomes the user's in every thread, and
 *      every thread is checked to hold no capability. A failure is fatal.
 *
 * Not dropping. Not root: nothing changes (the helpers get their
 * capabilities as they did, from file or ambient capabilities). Root with
 * core.user empty, set to root, or left at its default "repnet" on a host
 * without that user: repnetd stays root, logs why once, and says so in
 * /status. A core.user that names a user that does not exist is an error.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "priv.h"

#define DEFAULT_USER "repnet"

/* repnet-launch: installed in <libexecdir>/repnet, else beside repnetd (a build tree). */
static int launcher_path(char *out, size_t len)
{
	if (rn_path_installed(RN_INSTDIR_LIBEXEC, "repnet/repnet-launch", out, len) == RN_OK)
		return RN_OK;
	return rn_path_beside_self("repnet-launch", out, len);
}

/* Starts the launcher for the helpers the roles of c need; none needed: nothing. */
static int start_launcher(struct priv *p, const struct daemon_conf *c, bool foreground,
                          int log_level)
{
	char nbuf[PATH_MAX + 64], cbuf[PATH_MAX];
	char *nargv[FEEDS_NFSYNC_ARGV], *cargv[COLLECTOR_HELPER_ARGV];
	struct rn_launcher_opts o = {
	        .user = &p->user, .foreground = foreground, .log_level = log_level};
	int rc;
	if (c->core.roles & RN_ROLE_SYNC) {
		if ((rc = feeds_nfsync_applier_argv(&c->feeds.sync, nbuf, sizeof(nbuf), nargv)) !=
		    RN_OK) {
			log_errx("sync: no netfilter applier: %s", rn_strerror(rc));
			return rc;
		}
		o.argv[RN_HELPER_NFSYNC] = nargv;
	}
	if (c->core.roles & RN_ROLE_COLLECT) {
		rc = collector_flow_helper_argv(&c->collector.flow, cbuf, sizeof(cbuf), cargv);
		if (rc == RN_OK)
			o.argv[RN_HELPER_CAPTURE] = cargv;
		else if (rc != RN_ENOTFOUND) {
			log_errx("collect: no capture helper: %s", rn_strerror(rc));
			return rc;
		}
	}
	if (o.argv[RN_HELPER_NFSYNC] == NULL && o.argv[RN_HELPER_CAPTURE] == NULL)
		return RN_OK; /* no role needs a privileged helper */
	if ((rc = launcher_path(p->launcher_path, sizeof(p->launcher_path))) != RN_OK) {
		log_errx("no repnet-launch: %s", rn_strerror(rc));
		return rc;
	}
	o.path = p->launcher_path;
	if ((rc = rn_launcher_start(&p->launcher, &o)) != RN_OK) {
		log_errx("cannot start the launcher %s: %s", p->launcher_path, rn_strerror(rc));
		return rc;
	}
	rn_launcher_use(p->launcher);
	return RN_OK;
}

/*
 * Adds the policy socket's group to the supplementary groups set by
 * rn_priv_prepare() (which keeps CAP_SETGID in the effective set until
 * priv_finish()), unless the user is in it already.
 */
static int add_socket_group(const struct priv *p, const struct daemon_conf *c)
{
	char name[64];
	gid_t gid, groups[256];
	if (!(c->core.roles & RN_ROLE_SERVE) || c->feeds.rbl.policy_unix == NULL)
		return RN_OK;
	int rc = feeds_policy_unix_group(&c->feeds.rbl, &gid, name, sizeof(name));
	if (rc == RN_ENOTFOUND)
		return RN_OK; /* the policy service says so when it makes the socket */
	if (rc == RN_ECONF) {
		log_errx("policy.unix_group %s: there is no such group",
		         c->feeds.rbl.policy_unix_group);
		return rc;
	}
	if (rc != RN_OK) {
		log_errx("policy.unix_group: %s", rn_strerror(rc));
		return rc;
	}
	int n = getgroups((int)RN_ARRAY_LEN(groups) - 1, groups);
	if (n < 0) {
		rc = -errno;
		log_errx("getgroups: %s", strerror(errno));
		return rc;
	}
	for (int i = 0; i < n; i++)
		if (groups[i] == gid)
			return RN_OK;
	if (gid == p->user.gid)
		return RN_OK;
	groups[n++] = gid;
	if (setgroups((size_t)n, groups) != 0) {
		rc = -errno;
		log_errx("setgroups: adding group %s for the policy socket: %s", name,
		         strerror(errno));
		return rc;
	}
	log_notice("%s keeps group %s (gid %u) for the policy socket %s", p->user.name, name,
	           (unsigned)gid, c->feeds.rbl.policy_unix);
	return RN_OK;
}

int priv_start(struct priv *p, const struct daemon_conf *c, bool foreground, int log_level)
{
	char msg[512];
	int rc;
	memset(p, 0, sizeof(*p));
	p->root = geteuid() == 0;
	if (!p->root)
		return RN_OK; /* as before: whatever capabilities we were given */
	const char *name = c->core.user;
	if (name == NULL) {
		snprintf(p->reason, sizeof(p->reason), "core.user is empty");
	} else if ((rc = rn_priv_user_lookup(name, &p->user)) == RN_ENOTFOUND &&
	           strcmp(name, DEFAULT_USER) == 0) {
		snprintf(p->reason, sizeof(p->reason),
		         "there is no user " DEFAULT_USER " (make it with systemd-sysusers, or set "
		         "core.user)");
	} else if (rc == RN_ENOTFOUND) {
		log_errx("core.user: there is no user %s", name);
		return RN_ECONF;
	} else if (rc != RN_OK) {
		log_errx("core.user: looking up %s: %s", name, rn_strerror(rc));
		return rc;
	} else if (p->user.uid == 0) {
		snprintf(p->reason, sizeof(p->reason), "core.user %s is root", name);
	}
	if (p->reason[0] != '\0') {
		log_warnx("started as root, and staying root with every capability: %s", p->reason);
		return RN_OK;
	}
	p->drop = true;

	size_t changed = 0, skipped = 0;
	rc = rn_priv_chown_tree(c->core.data_dir, p->user.uid, p->user.gid, &changed, &skipped, msg,
	                        sizeof(msg));
	if (rc != RN_OK) {
		log_errx("data_dir: cannot give it to %s: %s", p->user.name, msg);
		return rc;
	}
	if (changed > 0)
		log_notice("data_dir %s: %zu entries given to %s (uid %u, gid %u)",
		           c->core.data_dir, changed, p->user.name, (unsigned)p->user.uid,
		           (unsigned)p->user.gid);
	if ((rc = start_launcher(p, c, foreground, log_level)) != RN_OK)
		return rc;
	if ((rc = rn_priv_prepare(&p->user, msg, sizeof(msg))) != RN_OK)
		fatalx("privilege drop to %s: %s", p->user.name, msg);
	if ((rc = add_socket_group(p, c)) != RN_OK)
		return rc;
	/* As the user now: every directory above it must let the user through. */
	if (faccessat(AT_FDCWD, c->core.data_dir, R_OK | W_OK | X_OK, AT_EACCESS) != 0) {
		rc = -errno;
		log_errx("data_dir %s is not usable by %s (uid %u): %s; each directory above it "
		         "must be searchable by that user",
		         c->core.data_dir, p->user.name, (unsigned)p->user.uid, strerror(errno));
		return rc;
	}
	return RN_OK;
}

void priv_finish(struct priv *p)
{
	char msg[512];
	if (!p->drop)
		return;
	if (rn_priv_finish(&p->user, msg, sizeof(msg)) != RN_OK)
		fatalx("privilege drop to %s: %s", p->user.name, msg);
	p->dropped = true;
	rn_gauge_set(&p->g_dropped, 1);
	struct rn_launcher_status st = {0};
	if (p->launcher != NULL)
		rn_launcher_status(p->launcher, &st);
	if (p->launcher != NULL)
		log_notice("running as %s (uid %u, gid %u) with no capability; privileged helpers "
		           "through %s, pid %d",
		           p->user.name, (unsigned)p->user.uid, (unsigned)p->user.gid,
		           p->launcher_path, (int)st.pid);
	else
		log_notice("running as %s (uid %u, gid %u) with no capability", p->user.name,
		           (unsigned)p->user.uid, (unsigned)p->user.gid);
}

int priv_metrics(struct priv *p, struct rn_metrics *m)
{
	p->m = m;
	int rc = rn_metrics_gauge(m, p, "repnet_privileges_dropped",
	                          "1 when repnetd runs as core.user with no capability left.", NULL,
	                          &p->g_dropped);
	if (rc == RN_OK && p->launcher != NULL)
		rc = rn_launcher_metrics(p->launcher, m);
	return rc;
}

void priv_status(void *arg, struct rn_jsonw *w)
{
	const struct priv *p = arg;
	rn_jsonw_key(w, "privileges");
	rn_jsonw_obj_begin(w);
	rn_jsonw_kv_bool(w, "dropped", p->dropped);
	rn_jsonw_kv_uint(w, "uid", (uint64_t)getuid());
	rn_jsonw_kv_uint(w, "gid", (uint64_t)getgid());
	if (p->dropped)
		rn_jsonw_kv_str(w, "user", p->user.name);
	else
		rn_jsonw_kv_str(w, "reason", p->root ? p->reason : "not started as root");
	if (p->launcher != NULL) {
		struct rn_launcher_status st;
		rn_launcher_status(p->launcher, &st);
		rn_jsonw_key(w, "launcher");
		rn_jsonw_obj_begin(w);
		rn_jsonw_kv_int(w, "pid", st.pid);
		rn_jsonw_kv_bool(w, "up", st.up);
		rn_jsonw_kv_uint(w, "started", st.started);
		rn_jsonw_kv_uint(w, "failed", st.failed);
		if (st.last_error != RN_OK)
			rn_jsonw_kv_str(w, "last_error", rn_strerror(st.last_error));
		rn_jsonw_obj_end(w);
	}
	rn_jsonw_obj_end(w);
}

void priv_stop(struct priv *p)
{
	if (p->m != NULL)
		rn_metrics_unregister(p->m, p);
	if (p->launcher == NULL)
		return;
	if (p->m != NULL)
		rn_metrics_unregister(p->m, p->launcher);
	rn_launcher_stop(p->launcher);
	p->launcher = NULL;
}
