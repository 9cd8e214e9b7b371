/*
 * launch.c: the privileged helpers' processes, started directly or
 * through the launcher, and the launcher itself (repnet-launch).
 *
 * Design notes.
 *
 * Why a launcher. Once repnetd has dropped to core.user it holds no
 * capability and has no_new_privs set, so nothing it executes can hold
 * one either. Yet the sync engine starts a new netfilter applier whenever
 * the old one dies, and capture opens repnet-capture when a capture path
 * starts. So repnetd starts repnet-launch first, while it is still root
 * and has one thread; the launcher becomes the same user at once but
 * keeps the capabilities the configured helpers need (CAP_NET_ADMIN for
 * repnet-nfsync; CAP_NET_RAW, CAP_NET_ADMIN and CAP_BPF for
 * repnet-capture) as ambient ones, and from then on does one thing:
 * start a helper when asked, and hand back its socket.
 *
 * What it trusts. Its only input is a fixed 8-byte request over its
 * socket pair: a magic, a version and which helper. The helpers' command
 * lines are fixed when it starts, from repnetd's configuration, and a
 * request cannot change them: a repnetd taken over by a parser bug can
 * start another applier for repnet's own table, nothing else. A request
 * that does not decode (wrong size, magic, version, reserved bits, an
 * unknown or unconfigured helper) makes the launcher exit, as the
 * applier does on a malformed message: repnetd can no longer start
 * helpers, says so, and shows it in /status.
 *
 * The answer is 16 bytes (magic, version, helper, descriptor count,
 * result, pid) with, on success, two descriptors in SCM_RIGHTS: repnetd's
 * end of the helper's socket pair (the helper has the other as its
 * descriptor 3) and a pidfd of the helper, with which repnetd waits for
 * it and kills it without racing a reused pid, though the helper is the
 * launcher's child and not its own. The launcher reaps its children
 * (SIGCHLD through a signalfd). Its first message, before any request, is
 * a hello (helper 0, no descriptors, its pid), sent once it has dropped
 * to the user and checked its own credentials: until then repnetd waits,
 * so a launcher that cannot drop stops repnetd's start.
 *
 * Lifetime. The launcher exits when its socket reaches EOF (repnetd
 * stopped or died) or on PR_SET_PDEATHSIG; it then gives its helpers a
 * few seconds to see their own EOF and exit, and kills those that did
 * not. The helpers die with it (repnet-capture has PR_SET_PDEATHSIG; the
 * applier reads EOF when repnetd's end closes).
 *
 * The process's launcher. rn_helper_spawn() goes through the launcher
 * rn_launcher_use() installed, else spawns directly as before. This is
 * process-wide on purpose: whether the process can start a privileged
 * program itself is a property of its credentials, which are
 * process-wide, and so every library that starts a helper (collector,
 * nfsync) asks the same way without being handed the launcher.
 *
 * Threads: requests are serialised by the launcher's mutex; the launcher
 * process has one thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto/proto.h"

extern char **environ;

#define LQ_MAGIC   0x524e4c51u /* "RNLQ" */
#define LR_MAGIC   0x524e4c52u /* "RNLR" */
#define L_VERSION  1
#define LQ_LEN     8
#define LR_LEN     16
#define L_TIMEOUT  15000 /* ms for a helper to be started and handed over */
#define L_CHILDREN 64    /* live helpers a launcher keeps at once */

static const char *const helper_names[RN_HELPER_KINDS] = {NULL, "nfsync", "capture"};

const char *rn_helper_name(int kind)
{
	return kind > 0 && kind < RN_HELPER_KINDS ? helper_names[kind] : "?";
}

uint64_t rn_helper_caps(int kind)
{
	switch (kind) {
	case RN_HELPER_NFSYNC:
		return RN_CAP(CAP_NET_ADMIN);
	case RN_HELPER_CAPTURE:
		return RN_CAP(CAP_NET_RAW) | RN_CAP(CAP_NET_ADMIN) | RN_CAP(CAP_BPF);
	default:
		return 0;
	}
}

/* ---- messages ------------------------------------------------------------------- */

struct lreq {
	uint8_t kind;
};

struct lrep {
	uint8_t kind;
	uint8_t nfds;
	int32_t result;
	uint32_t pid;
};

static void lreq_encode(const struct lreq *q, uint8_t out[LQ_LEN])
{
	struct rn_wcur w;
	rn_wcur_init(&w, out, LQ_LEN);
	rn_wcur_u32(&w, LQ_MAGIC);
	rn_wcur_u8(&w, L_VERSION);
	rn_wcur_u8(&w, q->kind);
	rn_wcur_u16(&w, 0);
}

/* Exactly LQ_LEN bytes, our magic and version, reserved zero, a known helper. */
int rn_launch_req_decode(const uint8_t *buf, size_t len, uint8_t *kind)
{
	struct rn_cur c;
	rn_cur_init(&c, buf, len);
	uint32_t magic = rn_cur_u32(&c);
	uint8_t ver = rn_cur_u8(&c);
	uint8_t k = rn_cur_u8(&c);
	uint16_t rsv = rn_cur_u16(&c);
	if (!rn_cur_ok(&c) || rn_cur_left(&c) != 0)
		return RN_EPARSE;
	if (magic != LQ_MAGIC || rsv != 0 || k == 0 || k >= RN_HELPER_KINDS)
		return RN_EPARSE;
	if (ver != L_VERSION)
		return RN_EVERSION;
	*kind = k;
	return RN_OK;
}

static void lrep_encode(const struct lrep *r, uint8_t out[LR_LEN])
{
	struct rn_wcur w;
	rn_wcur_init(&w, out, LR_LEN);
	rn_wcur_u32(&w, LR_MAGIC);
	rn_wcur_u8(&w, L_VERSION);
	rn_wcur_u8(&w, r->kind);
	rn_wcur_u8(&w, r->nfds);
	rn_wcur_u8(&w, 0);
	rn_wcur_u32(&w, (uint32_t)r->result);
	rn_wcur_u32(&w, r->pid);
}

static int lrep_decode(const uint8_t *buf, size_t len, struct lrep *r)
{
	struct rn_cur c;
	rn_cur_init(&c, buf, len);
	uint32_t magic = rn_cur_u32(&c);
	uint8_t ver = rn_cur_u8(&c);
	r->kind = rn_cur_u8(&c);
	r->nfds = rn_cur_u8(&c);
	uint8_t rsv = rn_cur_u8(&c);
	r->result = (int32_t)rn_cur_u32(&c);
	r->pid = rn_cur_u32(&c);
	if (!rn_cur_ok(&c) || rn_cur_left(&c) != 0 || magic != LR_MAGIC || rsv != 0)
		return RN_EPARSE;
	if (ver != L_VERSION)
		return RN_EVERSION;
	if (r->kind >= RN_HELPER_KINDS || r->result > 0)
		return RN_EPARSE;
	/*
	 * A helper started: its two descriptors and its pid. A failure: no
	 * descriptor. The hello (kind 0): no descriptor, the launcher's pid.
	 */
	uint8_t want = r->kind != 0 && r->result == RN_OK ? 2 : 0;
	if (r->nfds != want || (r->result == RN_OK && r->pid == 0))
		return RN_EPARSE;
	return RN_OK;
}

static void close_fds(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/*
 * Receives one answer and its descriptors (at most 2) within timeout_ms.
 * -EPIPE when the launcher is gone; RN_EPARSE for anything malformed
 * (every descriptor received is closed then).
 */
static int lrep_recv(int sock, int timeout_ms, struct lrep *r, int fds[2])
{
	struct pollfd p = {.fd = sock, .events = POLLIN};
	int64_t deadline = rn_time_mono_ms() + timeout_ms;
	for (;;) {
		int64_t left = deadline - rn_time_mono_ms();
		int n = left > 0 ? poll(&p, 1, (int)left) : 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ETIMEDOUT;
		break;
	}
	uint8_t buf[LR_LEN + 1];
	union {
		struct cmsghdr h;
		uint8_t b[CMSG_SPACE(sizeof(int) * 2)];
	} ctl;
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct msghdr mh = {.msg_iov = &iov,
	                    .msg_iovlen = 1,
	                    .msg_control = ctl.b,
	                    .msg_controllen = sizeof(ctl.b)};
	ssize_t got;
	do
		got = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		return -errno;
	if (got == 0)
		return -EPIPE;
	size_t nfds = 0;
	fds[0] = fds[1] = -1;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (nfds < 2)
				fds[nfds++] = fd;
			else
				close(fd);
		}
	}
	int rc = lrep_decode(buf, (size_t)got, r);
	if (rc == RN_OK && ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || nfds != r->nfds))
		rc = RN_EPARSE;
	if (rc != RN_OK) {
		close_fds(fds, 2);
		fds[0] = fds[1] = -1;
	}
	return rc;
}

/* ---- helpers, from the daemon's side ----------------------------------------------- */

static struct rn_launcher *_Atomic process_launcher;

void rn_launcher_use(struct rn_launcher *l)
{
	atomic_store(&process_launcher, l);
}

static int launcher_spawn(struct rn_launcher *l, int kind, struct rn_helper *h);

/*
 * posix_spawn with sock as the child's descriptor 3 and nothing else above
 * 2; with mask (may be NULL: the caller's) as the child's signal mask.
 */
static int spawn_with_fd3(char *const argv[], int sock, const sigset_t *mask, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	/* Keep the child's end clear of 0..3 until dup2 puts it there. */
	int child = fcntl(sock, F_DUPFD_CLOEXEC, 10);
	if (child < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, child, 3);
	posix_spawn_file_actions_addclosefrom_np(&fa, 4);
	posix_spawnattr_init(&at);
	if (mask != NULL) {
		posix_spawnattr_setsigmask(&at, mask);
		posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK);
	}
	int rc = posix_spawn(pid, argv[0], &fa, &at, argv, environ);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	close(child);
	return -rc;
}

int rn_helper_spawn(int kind, char *const argv[], struct rn_helper *h)
{
	*h = RN_HELPER_NONE;
	struct rn_launcher *l = atomic_load(&process_launcher);
	if (l != NULL)
		return launcher_spawn(l, kind, h);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		return -errno;
	pid_t pid;
	int rc = spawn_with_fd3(argv, sv[1], NULL, &pid);
	close(sv[1]);
	if (rc != RN_OK) {
		close(sv[0]);
		return rc;
	}
	h->pid = pid;
	h->sock = sv[0];
	h->child = true;
	/* A pidfd where the kernel has them; waitpid() alone otherwise. */
	h->pidfd = pidfd_open(pid, 0);
	return RN_OK;
}

void rn_helper_kill(struct rn_helper *h, int sig)
{
	if (h->pidfd >= 0)
		(void)pidfd_send_signal(h->pidfd, sig, NULL, 0);
	else if (h->child && h->pid > 0)
		kill(h->pid, sig);
}

/* True once the helper has exited (and, when it is our child, was reaped). */
static bool helper_gone(struct rn_helper *h)
{
	if (h->pid <= 0)
		return true;
	if (h->child) {
		pid_t r = waitpid(h->pid, NULL, WNOHANG);
		return r == h->pid || (r < 0 && errno == ECHILD);
	}
	struct pollfd p = {.fd = h->pidfd, .events = POLLIN};
	return h->pidfd < 0 || (poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP)));
}

int rn_helper_wait(struct rn_helper *h, int timeout_ms)
{
	int64_t deadline = rn_time_mono_ms() + (timeout_ms < 0 ? INT64_MAX / 4 : timeout_ms);
	for (;;) {
		if (helper_gone(h)) {
			h->pid = -1;
			return RN_OK;
		}
		int64_t left = deadline - rn_time_mono_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		int step = left > 1000 ? 1000 : (int)left;
		if (h->pidfd >= 0) {
			/* Readable when the process exits. */
			struct pollfd p = {.fd = h->pidfd, .events = POLLIN};
			(void)poll(&p, 1, step);
		} else {
			struct timespec ts = {0, 10 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
	}
}

void rn_helper_release(struct rn_helper *h)
{
	if (h->sock >= 0)
		close(h->sock);
	if (h->pidfd >= 0)
		close(h->pidfd);
	*h = RN_HELPER_NONE;
}

void rn_helper_stop(struct rn_helper *h, int timeout_ms)
{
	if (h->sock >= 0) {
		close(h->sock);
		h->sock = -1;
	}
	if (h->pid > 0 && rn_helper_wait(h, timeout_ms) != RN_OK) {
		rn_helper_kill(h, SIGKILL);
		if (rn_helper_wait(h, 10000) != RN_OK)
			log_warnx("helper pid %d does not exit, even killed", (int)h->pid);
	}
	rn_helper_release(h);
}

/* ---- the launcher, from the daemon's side ------------------------------------------ */

struct rn_launcher {
	pthread_mutex_t mu;
	struct rn_helper proc; /* the launcher: our child */
	bool gone;
	int last_error;
	struct rn_counter ok[RN_HELPER_KINDS], failed[RN_HELPER_KINDS];
	struct rn_gauge up;
};

static void launcher_lost(struct rn_launcher *l, int rc)
{
	if (!l->gone)
		log_errx("launcher (pid %d) is gone (%s): no privileged helper can be started "
		         "until repnetd restarts",
		         (int)l->proc.pid, rn_strerror(rc));
	l->gone = true;
	rn_gauge_set(&l->up, 0);
}

static int launcher_spawn(struct rn_launcher *l, int kind, struct rn_helper *h)
{
	int fds[2] = {-1, -1}, rc;
	struct lrep r;
	uint8_t q[LQ_LEN];
	lreq_encode(&(struct lreq){.kind = (uint8_t)kind}, q);
	pthread_mutex_lock(&l->mu);
	if (l->gone) {
		rc = -EPIPE;
		goto out;
	}
	if (send(l->proc.sock, q, sizeof(q), MSG_NOSIGNAL) != (ssize_t)sizeof(q)) {
		rc = -errno;
		launcher_lost(l, rc);
		goto out;
	}
	rc = lrep_recv(l->proc.sock, L_TIMEOUT, &r, fds);
	if (rc == RN_OK && r.kind != kind)
		rc = RN_EPARSE;
	if (rc != RN_OK) {
		/* Out of step with the launcher: nothing it says can be matched any more. */
		close_fds(fds, 2);
		launcher_lost(l, rc);
		goto out;
	}
	rc = r.result;
	if (rc == RN_OK) {
		h->sock = fds[0];
		h->pidfd = fds[1];
		h->pid = (pid_t)r.pid;
		h->child = false;
	}
out:
	l->last_error = rc;
	if (kind > 0 && kind < RN_HELPER_KINDS)
		rn_counter_inc(rc == RN_OK ? &l->ok[kind] : &l->failed[kind]);
	pthread_mutex_unlock(&l->mu);
	if (rc != RN_OK)
		log_warnx("launcher: starting the %s helper: %s", rn_helper_name(kind),
		          rn_strerror(rc));
	return rc;
}

int rn_launcher_start(struct rn_launcher **out, const struct rn_launcher_opts *o)
{
	char uid[16], gid[16], level[16], fd3[] = "3", fg[] = "fg", bg[] = "bg";
	char *argv[8 + RN_HELPER_KINDS * (3 + RN_LAUNCH_ARGV)];
	char counts[RN_HELPER_KINDS][16];
	size_t a = 0;
	int sv[2] = {-1, -1}, rc;

	struct rn_launcher *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return -ENOMEM;
	pthread_mutex_init(&l->mu, NULL);
	l->proc = RN_HELPER_NONE;
	snprintf(uid, sizeof(uid), "%u", (unsigned)o->user->uid);
	snprintf(gid, sizeof(gid), "%u", (unsigned)o->user->gid);
	snprintf(level, sizeof(level), "%d", o->log_level);
	argv[a++] = (char *)o->path;
	argv[a++] = fd3;
	argv[a++] = (char *)o->user->name;
	argv[a++] = uid;
	argv[a++] = gid;
	argv[a++] = level;
	argv[a++] = o->foreground ? fg : bg;
	for (int k = 1; k < RN_HELPER_KINDS; k++) {
		if (o->argv[k] == NULL)
			continue;
		size_t n = 0;
		while (o->argv[k][n] != NULL)
			n++;
		if (n == 0 || n > RN_LAUNCH_ARGV) {
			rc = RN_ELIMIT;
			goto fail;
		}
		snprintf(counts[k], sizeof(counts[k]), "%zu", n);
		argv[a++] = (char *)helper_names[k];
		argv[a++] = counts[k];
		for (size_t i = 0; i < n; i++)
			argv[a++] = o->argv[k][i];
	}
	argv[a] = NULL;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		rc = -errno;
		goto fail;
	}
	pid_t pid;
	rc = spawn_with_fd3(argv, sv[1], NULL, &pid);
	close(sv[1]);
	if (rc != RN_OK) {
		close(sv[0]);
		goto fail;
	}
	l->proc.pid = pid;
	l->proc.sock = sv[0];
	l->proc.child = true;
	l->proc.pidfd = pidfd_open(pid, 0);
	/* The hello: the launcher has become the user and checked itself. */
	struct lrep r;
	int fds[2];
	rc = lrep_recv(l->proc.sock, L_TIMEOUT, &r, fds);
	if (rc == RN_OK && (r.kind != 0 || (pid_t)r.pid != pid))
		rc = RN_EPARSE;
	if (rc == RN_OK)
		rc = r.result;
	if (rc != RN_OK)
		goto fail;
	rn_gauge_set(&l->up, 1);
	*out = l;
	return RN_OK;
fail:
	rn_helper_stop(&l->proc, 2000);
	pthread_mutex_destroy(&l->mu);
	free(l);
	return rc;
}

void rn_launcher_stop(struct rn_launcher *l)
{
	if (l == NULL)
		return;
	if (atomic_load(&process_launcher) == l)
		rn_launcher_use(NULL);
	/* EOF on its socket: it stops its helpers and exits. */
	rn_helper_stop(&l->proc, 10000);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

void rn_launcher_status(struct rn_launcher *l, struct rn_launcher_status *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&l->mu);
	st->pid = l->proc.pid;
	st->up = !l->gone;
	st->last_error = l->last_error;
	for (int k = 1; k < RN_HELPER_KINDS; k++) {
		st->started += rn_counter_get(&l->ok[k]);
		st->failed += rn_counter_get(&l->failed[k]);
	}
	pthread_mutex_unlock(&l->mu);
}

int rn_launcher_metrics(struct rn_launcher *l, struct rn_metrics *m)
{
	int rc = rn_metrics_gauge(m, l, "repnet_launcher_up",
	                          "1 while the privileged launcher answers (0: it is gone, and no "
	                          "helper can be started until a restart).",
	                          NULL, &l->up);
	for (int k = 1; k < RN_HELPER_KINDS && rc == RN_OK; k++) {
		char lab[64];
		snprintf(lab, sizeof(lab), "helper=\"%s\",result=\"ok\"", helper_names[k]);
		rc = rn_metrics_counter(m, l, "repnet_launcher_spawns_total",
		                        "Privileged helpers the launcher started, by helper and "
		                        "result.",
		                        lab, &l->ok[k]);
		snprintf(lab, sizeof(lab), "helper=\"%s\",result=\"failed\"", helper_names[k]);
		if (rc == RN_OK)
			rc = rn_metrics_counter(
			        m, l, "repnet_launcher_spawns_total",
			        "Privileged helpers the launcher started, by helper "
			        "and result.",
			        lab, &l->failed[k]);
	}
	return rc;
}

/* ---- the launcher process (repnet-launch) ------------------------------------------ */

struct launcher {
	int fd;
	sigset_t child_mask; /* the helpers' signal mask: the one the launcher was started with */
	char **argv[RN_HELPER_KINDS];
	pid_t children[L_CHILDREN];
	size_t nchildren;
	int sfd;
};

static void reap(struct launcher *L)
{
	for (;;) {
		int st;
		pid_t p = waitpid(-1, &st, WNOHANG);
		if (p <= 0)
			return;
		for (size_t i = 0; i < L->nchildren; i++)
			if (L->children[i] == p) {
				L->children[i] = L->children[--L->nchildren];
				break;
			}
		if (WIFSIGNALED(st))
			log_info("helper pid %d killed by signal %d", (int)p, WTERMSIG(st));
		else
			log_info("helper pid %d exited with status %d", (int)p, WEXITSTATUS(st));
	}
}

static int send_rep(int fd, const struct lrep *r, const int *fds)
{
	uint8_t buf[LR_LEN];
	lrep_encode(r, buf);
	union {
		struct cmsghdr h;
		uint8_t b[CMSG_SPACE(sizeof(int) * 2)];
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (r->nfds > 0) {
		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * r->nfds);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * r->nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * r->nfds);
	}
	ssize_t n;
	do
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(buf) ? RN_OK : n < 0 ? -errno : RN_EINTERNAL;
}

/* Starts helper kind and answers; RN_OK unless the answer could not be sent. */
static int serve_request(struct launcher *L, uint8_t kind)
{
	struct lrep r = {.kind = kind};
	int fds[2] = {-1, -1}, sv[2] = {-1, -1};
	pid_t pid = -1;
	int rc = RN_OK;
	reap(L);
	if (L->nchildren == L_CHILDREN) {
		rc = RN_ELIMIT;
	} else if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		rc = -errno;
	} else {
		/* The mask repnetd gave the launcher: SIGCHLD is the launcher's business. */
		rc = spawn_with_fd3(L->argv[kind], sv[1], &L->child_mask, &pid);
		close(sv[1]);
		if (rc == RN_OK) {
			L->children[L->nchildren++] = pid;
			fds[0] = sv[0];
			fds[1] = pidfd_open(pid, 0);
			if (fds[1] < 0) {
				rc = -errno;
				kill(pid, SIGKILL); /* reaped with the others */
			}
		}
	}
	if (rc == RN_OK) {
		r.nfds = 2;
		r.pid = (uint32_t)pid;
		log_info("started the %s helper %s, pid %d", rn_helper_name(kind), L->argv[kind][0],
		         (int)pid);
	} else {
		r.result = rc;
		log_warnx("cannot start the %s helper %s: %s", rn_helper_name(kind),
		          L->argv[kind][0], rn_strerror(rc));
	}
	int src = send_rep(L->fd, &r, fds);
	close_fds(fds, 2);
	return src;
}

/* Helper lists: NAME COUNT ARG...; *i is past what was read. */
static int parse_helpers(struct launcher *L, int argc, char **argv, int i)
{
	while (i < argc) {
		int kind = 0;
		for (int k = 1; k < RN_HELPER_KINDS; k++)
			if (strcmp(argv[i], helper_names[k]) == 0)
				kind = k;
		if (kind == 0 || L->argv[kind] != NULL || i + 1 >= argc)
			return RN_EPARSE;
		char *end;
		long n = strtol(argv[i + 1], &end, 10);
		if (*end != '\0' || n < 1 || n > RN_LAUNCH_ARGV || i + 2 + n > argc)
			return RN_EPARSE;
		L->argv[kind] = calloc((size_t)n + 1, sizeof(char *));
		if (L->argv[kind] == NULL)
			return -ENOMEM;
		for (long k = 0; k < n; k++)
			L->argv[kind][k] = argv[i + 2 + k];
		i += 2 + (int)n;
	}
	return RN_OK;
}

static void stop_children(struct launcher *L)
{
	/* Their sockets are closed with repnetd's: give them time to see it. */
	for (int waited = 0; L->nchildren > 0 && waited < 5000; waited += 20) {
		reap(L);
		if (L->nchildren == 0)
			break;
		struct pollfd p = {.fd = L->sfd, .events = POLLIN};
		if (poll(&p, 1, 20) > 0) {
			struct signalfd_siginfo si;
			while (read(L->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				;
		}
	}
	for (size_t i = 0; i < L->nchildren; i++) {
		log_warnx("helper pid %d did not exit; killing it", (int)L->children[i]);
		kill(L->children[i], SIGKILL);
	}
	for (size_t i = 0; i < L->nchildren; i++)
		(void)waitpid(L->children[i], NULL, 0);
	L->nchildren = 0;
}

int rn_launcher_main(int argc, char **argv)
{
	struct launcher L = {.fd = 3, .sfd = -1};
	struct rn_priv_user u = {0};
	char msg[512];
	int rc;

	if (argc < 7 || strcmp(argv[1], "3") != 0) {
		fprintf(stderr, "usage: repnet-launch 3 USER UID GID LEVEL fg|bg "
		                "[HELPER COUNT ARG...]... (started by repnetd, not by hand)\n");
		return 2;
	}
	int level = atoi(argv[5]);
	rn_log_init("repnet-launch", strcmp(argv[6], "fg") == 0,
	            level >= RN_LOG_ERR && level <= RN_LOG_DEBUG ? level : RN_LOG_NOTICE);
	snprintf(u.name, sizeof(u.name), "%s", argv[2]);
	char *e1, *e2;
	unsigned long uid = strtoul(argv[3], &e1, 10), gid = strtoul(argv[4], &e2, 10);
	if (*e1 != '\0' || *e2 != '\0' || uid == 0 || uid > UINT32_MAX - 1 || gid > UINT32_MAX - 1)
		fatalx("bad user %s:%s", argv[3], argv[4]);
	u.uid = (uid_t)uid;
	u.gid = (gid_t)gid;
	if ((rc = parse_helpers(&L, argc, argv, 7)) != RN_OK)
		fatalx("bad helper list: %s", rn_strerror(rc));
	uint64_t keep = 0;
	for (int k = 1; k < RN_HELPER_KINDS; k++)
		if (L.argv[k] != NULL)
			keep |= rn_helper_caps(k);
	/* AF_XDP charges its UMEM to RLIMIT_MEMLOCK; only root may raise the limit. */
	struct rlimit rl;
	if (L.argv[RN_HELPER_CAPTURE] != NULL && getrlimit(RLIMIT_MEMLOCK, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY) {
		rl.rlim_cur = rl.rlim_max = RLIM_INFINITY;
		if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0)
			log_warn("cannot lift RLIMIT_MEMLOCK for the capture helper (AF_XDP may "
			         "fail to register its UMEM)");
	}
	pid_t parent = getppid();
	if ((rc = rn_priv_become(&u, keep, msg, sizeof(msg))) != RN_OK)
		fatalx("cannot become %s (uid %lu): %s", u.name, uid, msg);
	/* After the uid change, which clears it; then check the parent did not go first. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || getppid() != parent)
		fatalx("repnetd (pid %d) is gone", (int)parent);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, &L.child_mask);
	L.sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (L.sfd < 0)
		fatal("signalfd");
	signal(SIGPIPE, SIG_IGN);
	/* Descriptor 3 must not leak into the helpers. */
	if (fcntl(L.fd, F_SETFD, FD_CLOEXEC) != 0)
		fatal("descriptor 3");
	if (send_rep(L.fd, &(struct lrep){.pid = (uint32_t)getpid()}, NULL) != RN_OK)
		fatalx("repnetd (pid %d) does not listen", (int)parent);
	log_info("running as %s (uid %lu), keeping capabilities %#llx for its helpers", u.name, uid,
	         (unsigned long long)keep);

	int code = 0;
	for (;;) {
		struct pollfd p[2] = {{.fd = L.fd, .events = POLLIN},
		                      {.fd = L.sfd, .events = POLLIN}};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_err("poll");
			code = 1;
			break;
		}
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(L.sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				;
			reap(&L);
		}
		if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		uint8_t buf[LQ_LEN + 1];
		ssize_t n = recv(L.fd, buf, sizeof(buf), MSG_TRUNC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* repnetd closed its end: stopped or died */
		uint8_t kind = 0;
		rc = rn_launch_req_decode(buf, (size_t)n > sizeof(buf) ? sizeof(buf) : (size_t)n,
		                          &kind);
		if (rc != RN_OK) {
			log_errx("a malformed request (%zd bytes: %s); exiting", n,
			         rn_strerror(rc));
			code = 1;
			break;
		}
		if (L.argv[kind] == NULL) {
			log_errx("a request for the %s helper, which this launcher was not given; "
			         "exiting",
			         rn_helper_name(kind));
			code = 1;
			break;
		}
		if ((rc = serve_request(&L, kind)) != RN_OK) {
			log_warnx("cannot answer repnetd: %s", rn_strerror(rc));
			break;
		}
	}
	stop_children(&L);
	for (int k = 0; k < RN_HELPER_KINDS; k++)
		free(L.argv[k]);
	close(L.sfd);
	return code;
}
