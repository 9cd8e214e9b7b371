/*
 * capture_client.c: starting the privileged capture helper and taking the
 * descriptors it opened.
 *
 * Design notes: the helper runs as its own executable (posix_spawn, so a
 * multithreaded caller is safe), with one end of an AF_UNIX SOCK_SEQPACKET
 * pair as descriptor 3. The request and the reply are fixed-size structs;
 * a reply of any other size, with a wrong magic or version, with a count
 * of descriptors that differs from what SCM_RIGHTS carried, or with
 * truncated control data is refused and every descriptor received is
 * closed. The helper lives until its end of the pair reads EOF, then
 * detaches what it attached and exits; capture_helper_reap() closes our
 * end and waits for it, bounded.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "collector/capture.h"

extern char **environ;

#define HELPER_TIMEOUT_MS 15000

static void close_fds(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

void capture_helper_reap(pid_t pid, int sock, int timeout_ms)
{
	if (sock >= 0)
		close(sock);
	if (pid <= 0)
		return;
	for (int waited = 0; waited < timeout_ms; waited += 10) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	(void)waitpid(pid, NULL, 0);
}

int capture_helper_spawn(const char *path, const struct capmsg_req *req, pid_t *pid, int *sock,
                         int *fds, size_t *nfds, struct capmsg_rep *rep)
{
	int sv[2] = {-1, -1};
	posix_spawn_file_actions_t fa;
	char *argv[] = {(char *)path, (char *)"3", NULL};
	int rc;

	*pid = -1;
	*sock = -1;
	*nfds = 0;
	memset(rep, 0, sizeof(*rep));
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		snprintf(rep->msg, sizeof(rep->msg), "socketpair failed");
		return -errno;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
	rc = posix_spawn(pid, path, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(sv[1]);
	if (rc != 0) {
		close(sv[0]);
		*pid = -1;
		snprintf(rep->msg, sizeof(rep->msg), "cannot run %s", path);
		return -rc;
	}
	if (send(sv[0], req, sizeof(*req), MSG_NOSIGNAL) != (ssize_t)sizeof(*req)) {
		rc = -errno;
		snprintf(rep->msg, sizeof(rep->msg), "cannot send the request");
		goto fail;
	}
	struct pollfd pfd = {.fd = sv[0], .events = POLLIN};
	if (poll(&pfd, 1, HELPER_TIMEOUT_MS) <= 0) {
		rc = RN_ESTATE;
		snprintf(rep->msg, sizeof(rep->msg), "no answer from the helper");
		goto fail;
	}
	union {
		struct cmsghdr h;
		uint8_t b[CMSG_SPACE(sizeof(int) * CAPMSG_MAXFD)];
	} ctl;
	struct capmsg_rep r;
	struct iovec iov = {.iov_base = &r, .iov_len = sizeof(r)};
	struct msghdr mh = {.msg_iov = &iov,
	                    .msg_iovlen = 1,
	                    .msg_control = ctl.b,
	                    .msg_controllen = sizeof(ctl.b)};
	ssize_t got = recvmsg(sv[0], &mh, MSG_CMSG_CLOEXEC);
	if (got < 0) {
		rc = -errno;
		snprintf(rep->msg, sizeof(rep->msg), "cannot read the reply");
		goto fail;
	}
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k && *nfds < CAPMSG_MAXFD; i++)
			memcpy(&fds[(*nfds)++], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
	}
	if ((size_t)got != sizeof(r) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    r.magic != CAPMSG_MAGIC || r.version != CAPMSG_VERSION) {
		rc = RN_EPARSE;
		snprintf(rep->msg, sizeof(rep->msg), "malformed reply from the helper");
		goto fail;
	}
	r.msg[sizeof(r.msg) - 1] = '\0';
	*rep = r;
	if (r.rc != RN_OK) {
		rc = r.rc;
		goto fail;
	}
	if (r.nfds != *nfds) {
		rc = RN_EPARSE;
		snprintf(rep->msg, sizeof(rep->msg), "helper sent %zu descriptors, said %u", *nfds,
		         r.nfds);
		goto fail;
	}
	*sock = sv[0];
	return RN_OK;
fail:
	close_fds(fds, *nfds);
	*nfds = 0;
	capture_helper_reap(*pid, sv[0], 2000);
	*pid = -1;
	return rc;
}
