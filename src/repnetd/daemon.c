/*
 * daemon.c: repnetd's lifecycle: configuration, roles, signals, reload,
 * drain.
 *
 * Design notes: the main thread owns the process. It blocks SIGINT,
 * SIGTERM and SIGHUP before any other thread exists, so every thread
 * inherits the mask and only the main thread, in sigwaitinfo(), ever
 * sees them. Roles start in pipeline order (collect, score, publish,
 * serve, sync) and stop in reverse, each stop draining its queues within
 * core.shutdown_grace. A reload parses the file into a fresh configuration;
 * if it fails, or changes a key that needs a restart, the old one stays
 * and the reason is logged. Otherwise the reloadable keys take effect.
 *
 * Privileges (priv.c): started as root, repnetd starts the launcher and
 * does the first half of its drop to core.user while it still has one
 * thread, starts the roles (which bind their sockets), and then becomes
 * the user in every thread, with no capability left.
 *
 * Descriptors. Before anything opens a listener, the soft descriptor
 * limit is raised to the hard one and the listeners' connection caps are
 * fitted to it (fdlimit.c); a reload fits the new configuration the same
 * way before comparing it with the running one.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "daemon.h"
#include "priv.h"
#include "procmetrics.h"
#include "roles.h"

struct daemon {
	const struct daemon_opts *opts;
	struct daemon_conf conf;
	struct rn_metrics *metrics;
	struct feeds_http *http;
	struct roles *roles;
	struct priv priv;
	struct fd_budget fdb;
	struct fd_watch *fdw;
	struct api *api;
	int64_t start_ms;
	struct rn_counter reloads_ok;
	struct rn_counter reloads_failed;
	struct rn_gauge role_on[5];
};

static double m_start(void *arg)
{
	const struct daemon *d = arg;
	return (double)d->start_ms / 1000.0;
}

static double m_one(void *arg)
{
	(void)arg;
	return 1;
}

static int register_metrics(struct daemon *d)
{
	struct rn_metrics *m = d->metrics;
	int rc = RN_OK;
	rc = rc ? rc
	        : rn_metrics_func(m, d, "repnet_build_info", "Version of this build; always 1.",
	                          RN_METRIC_GAUGE, "version=\"" REPNET_VERSION_STRING "\"", m_one,
	                          NULL);
	rc = rc ? rc
	        : rn_metrics_func(m, d, "repnet_start_time_seconds",
	                          "When this process started, in seconds since the epoch.",
	                          RN_METRIC_GAUGE, NULL, m_start, d);
	rc = rc ? rc : procmetrics_register(m, d);
	rc = rc ? rc
	        : rn_metrics_counter(m, d, "repnet_config_reloads_total",
	                             "Configuration reloads on SIGHUP, by result.", "result=\"ok\"",
	                             &d->reloads_ok);
	rc = rc ? rc
	        : rn_metrics_counter(m, d, "repnet_config_reloads_total",
	                             "Configuration reloads on SIGHUP, by result.",
	                             "result=\"failed\"", &d->reloads_failed);
	for (int i = 0; i < 5 && rc == RN_OK; i++) {
		char labels[64];
		snprintf(labels, sizeof(labels), "role=\"%s\"", rn_role_names[i]);
		rc = rn_metrics_gauge(m, d, "repnet_role_enabled",
		                      "1 when this process runs the role.", labels, &d->role_on[i]);
	}
	return rc;
}

static void roles_note(struct daemon *d)
{
	char list[128] = "";
	size_t o = 0;
	for (int i = 0; i < 5; i++) {
		bool on = (d->conf.core.roles & (1u << i)) != 0;
		rn_gauge_set(&d->role_on[i], on);
		if (on) {
			int n = snprintf(list + o, sizeof(list) - o, "%s%s", o ? "," : "",
			                 rn_role_names[i]);
			if (n > 0 && (size_t)n < sizeof(list) - o)
				o += (size_t)n;
		}
	}
	log_notice("instance %s: roles %s, data in %s", d->conf.core.instance, o ? list : "(none)",
	           d->conf.core.data_dir);
}

static void reload(struct daemon *d)
{
	struct daemon_conf next;
	struct rn_conf_error err;
	char msg[1024], key[200];

	if (d->opts->conf_path == NULL) {
		log_notice("reload: running on built-in defaults; nothing to reload");
		rn_counter_inc(&d->reloads_ok);
		return;
	}
	if (daemon_conf_load(&next, d->opts->conf_path, d->opts->overrides, &err) != RN_OK) {
		rn_conf_error_format(&err, msg, sizeof(msg));
		log_warnx("reload failed, keeping the running configuration: %s", msg);
		rn_counter_inc(&d->reloads_failed);
		return;
	}
	struct fd_budget fdb = d->fdb; /* the same limit fits the caps the same way */
	fd_budget_apply(&fdb, &next, false);
	const char *k =
	        rn_conf_first_restart_key(d->conf.secs, next.secs, DAEMON_NSECS, key, sizeof(key));
	if (k != NULL) {
		log_warnx("reload refused, keeping the running configuration: %s changed, "
		          "and it needs a restart",
		          k);
		daemon_conf_release(&next);
		rn_counter_inc(&d->reloads_failed);
		return;
	}
	daemon_conf_release(&d->conf);
	d->conf = next;
	daemon_conf_bind(&d->conf);
	roles_reload(d->roles, &d->conf);
	rn_log_set_level(d->opts->verbose ? RN_LOG_DEBUG : RN_LOG_ERR + d->conf.core.log_level);
	rn_counter_inc(&d->reloads_ok);
	log_notice("configuration reloaded from %s", d->opts->conf_path);
}

static int detach(void)
{
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		return -errno;
	if (chdir("/") != 0)
		return -errno;
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
	return RN_OK;
}

/* On the descriptor watch's thread: the bus stops accepting while they run short. */
static void fds_short(void *arg, bool short_)
{
	struct daemon *d = arg;
	roles_pause_bus(d->roles, short_);
}

/* The process's own members of GET /status: privileges and descriptors. */
static void status_extra(void *arg, struct rn_jsonw *w)
{
	struct daemon *d = arg;
	priv_status(&d->priv, w);
	rn_jsonw_key(w, "descriptors");
	fd_budget_json(&d->fdb, w);
}

/* GET /status: every role's state as JSON, for `repnet status`. */
static void status_cb(void *arg, const struct feeds_http_req *req, int *status, char **body,
                      size_t *len, const char **ctype)
{
	struct daemon *d = arg;
	(void)req;
	if (roles_status(d->roles, status_extra, d, body, len) != RN_OK) {
		*status = 500;
		return;
	}
	*ctype = "application/json";
}

int daemon_run(const struct daemon_opts *opts)
{
	struct daemon d = {.opts = opts};
	struct rn_conf_error err;
	sigset_t set;
	int rc, code = 1;

	rn_log_init("repnetd", true, RN_LOG_NOTICE);
	if (daemon_conf_load(&d.conf, opts->conf_path, opts->overrides, &err) != RN_OK) {
		char msg[1024];
		rn_conf_error_format(&err, msg, sizeof(msg));
		fprintf(stderr, "repnetd: %s\n", msg);
		return 1;
	}
	int level = opts->verbose ? RN_LOG_DEBUG : RN_LOG_ERR + d.conf.core.log_level;
	if (!opts->foreground) {
		rc = detach();
		if (rc != RN_OK) {
			fprintf(stderr, "repnetd: cannot detach: %s\n", rn_strerror(rc));
			goto out;
		}
	}
	rn_log_init("repnetd", opts->foreground, level);

	rc = rn_mkdirs(d.conf.core.data_dir, 0750);
	if (rc != RN_OK) {
		log_errx("data_dir %s: %s", d.conf.core.data_dir, rn_strerror(rc));
		goto out;
	}
	if ((rc = fd_limit_raise(&d.fdb)) != RN_OK) {
		log_errx("descriptor limit: %s", rn_strerror(rc));
		goto out;
	}
	fd_budget_apply(&d.fdb, &d.conf, true);

	/* Before any thread exists, so that every thread inherits the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* Still one thread: the launcher, and the first half of the drop to core.user. */
	if (priv_start(&d.priv, &d.conf, opts->foreground, level) != RN_OK)
		goto out;

	d.start_ms = rn_time_now_ms();
	if ((rc = rn_metrics_alloc(&d.metrics)) != RN_OK || (rc = register_metrics(&d)) != RN_OK ||
	    (rc = priv_metrics(&d.priv, d.metrics)) != RN_OK) {
		log_errx("metrics: %s", rn_strerror(rc));
		goto out;
	}
	if (d.conf.core.http_listen != NULL) {
		struct feeds_http_conf hc = {
		        .listen = d.conf.core.http_listen,
		        .max_conns = (size_t)d.conf.core.http_max_conns,
		        .max_per_client = (size_t)d.conf.core.http_max_per_client,
		        .header_ms = d.conf.core.http_header_timeout_ms,
		        .idle_ms = d.conf.core.http_idle_ms,
		};
		rc = feeds_http_start(&d.http, &hc, d.metrics);
		if (rc != RN_OK) {
			log_errx("http listener %s (core.http_listen): %s", d.conf.core.http_listen,
			         rn_strerror(rc));
			goto out;
		}
		log_notice("serving /metrics on http://%s (port %u)", d.conf.core.http_listen,
		           feeds_http_port(d.http));
	}
	roles_note(&d);
	if ((rc = roles_start(&d.roles, &d.conf, d.metrics, d.http)) != RN_OK)
		goto out;
	/* Every socket and helper is open: no capability from here on. */
	priv_finish(&d.priv);
	if (d.http != NULL && (rc = feeds_http_handle(d.http, "/status", status_cb, &d)) != RN_OK) {
		log_errx("http: /status: %s", rn_strerror(rc));
		goto out;
	}
	/* As core.user: the token and the endpoint file are its own. */
	if (d.http != NULL &&
	    (rc = api_start(&d.api, &d.conf, d.http, d.roles, d.metrics)) != RN_OK)
		goto out;
	if ((rc = fd_watch_start(&d.fdw, &d.fdb, fds_short, &d, d.metrics)) != RN_OK) {
		log_errx("descriptor watch: %s", rn_strerror(rc));
		goto out;
	}
	log_notice("repnetd %s running", REPNET_VERSION_STRING);

	for (;;) {
		/* No timeout: the main thread has nothing to do between signals. */
		siginfo_t si;
		int sig = sigwaitinfo(&set, &si);
		if (sig < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			log_err("sigtimedwait");
			goto out;
		}
		if (sig == SIGHUP) {
			reload(&d);
			continue;
		}
		log_notice("%s received, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
		break;
	}
	code = 0;
out:
	/* Sources first, so queues drain into what still runs; HTTP before what it serves. */
	fd_watch_stop(d.fdw);
	roles_stop_early(d.roles, d.conf.core.shutdown_grace_ms);
	feeds_http_stop(d.http);
	api_stop(d.api);
	roles_stop_late(d.roles);
	priv_stop(&d.priv);
	if (d.metrics != NULL)
		rn_metrics_unregister(d.metrics, &d);
	rn_metrics_free(d.metrics);
	daemon_conf_release(&d.conf);
	if (code == 0)
		log_notice("stopped");
	return code;
}
