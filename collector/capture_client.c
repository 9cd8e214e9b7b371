/*
 * capture_client.c: starting the privileged capture helper and taking the
 * descriptors it opened.
 *
 * Design notes: the helper runs as its own executable, started by
 * rn_helper_spawn() (by the launcher when repnetd dropped its privileges,
 * else with posix_spawn, so a multithreaded caller is safe), with one end
 * of an AF_UNIX SOCK_SEQPACKET pair as descriptor 3. The request and the reply are fixed-size structs;
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
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "collector/capture.h"

#define HELPER_TIMEOUT_MS 15000

static void close_fds(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

void capture_helper_reap(struct rn_helper *h, int timeout_ms)
{
	rn_helper_stop(h, timeout_ms);
}

int capture_helper_spawn(const char *path, const struct capmsg_req *req, struct rn_helper *h,
                         int *fds, size_t *nfds, struct capmsg_rep *rep)
{
	char fd3[] = "3";
	char *argv[] = {(char *)path, fd3, NULL};
	int rc;

	*nfds = 0;
	memset(rep, 0, sizeof(*rep));
	rc = rn_helper_spawn(RN_HELPER_CAPTURE, argv, h);
	if (rc != RN_OK) {
		snprintf(rep->msg, sizeof(rep->msg), "cannot run %s", path);
		return rc;
	}
	int sock = h->sock;
	if (send(sock, req, sizeof(*req), MSG_NOSIGNAL) != (ssize_t)sizeof(*req)) {
		rc = -errno;
		snprintf(rep->msg, sizeof(rep->msg), "cannot send the request");
		goto fail;
	}
	struct pollfd pfd = {.fd = sock, .events = POLLIN};
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
	ssize_t got = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
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
	return RN_OK;
fail:
	close_fds(fds, *nfds);
	*nfds = 0;
	capture_helper_reap(h, 2000);
	return rc;
}
