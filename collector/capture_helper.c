/*
 * capture_helper.c: repnet-capture, the privileged capture helper.
 *
 * Design notes: this is the only code that needs CAP_NET_RAW (AF_PACKET,
 * AF_XDP sockets) and CAP_BPF with CAP_NET_ADMIN (loading and attaching
 * the XDP program, updating its maps). It reads one fixed-size request
 * from descriptor `fd` (checked field by field; anything else is refused),
 * opens what was asked, sends the descriptors back with SCM_RIGHTS, closes
 * its own copies, and then only waits: when the decoder's end of the pair
 * closes (a stop, or the decoder's death; PR_SET_PDEATHSIG covers the
 * latter too), it detaches the XDP program and exits. It never parses a
 * packet. It links libxdp and libbpf; the decoder links neither.
 *
 *   TPACKET: one AF_PACKET socket per fanout member, TPACKET_V3 ring,
 *   PACKET_IGNORE_OUTGOING, a classic BPF filter on the UDP destination
 *   ports (libpcap compiles it) unless raw, PACKET_FANOUT_HASH; a raw
 *   (mirror-port) socket puts the interface in promiscuous mode for as
 *   long as it is open.
 *
 *   XDP: the steering program (collector/bpf/steer.bpf.c, built into this
 *   binary) is loaded through libxdp and attached in skb or native mode;
 *   its configuration map gets the ports (or "all" for a mirror port). Per
 *   queue, a UMEM in a memfd (so the decoder can map the same pages) and an
 *   XSK bound with XDP_ZEROCOPY, falling back to XDP_COPY when the driver
 *   has no zero-copy (auto), go into the XSKMAP.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <linux/filter.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include "collector/capture.h"

#ifndef SOL_XDP
#define SOL_XDP 283
#endif
#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

extern const unsigned char repnet_steer_bpf_obj[];
extern const size_t repnet_steer_bpf_obj_len;

/* The program's configuration map value (collector/bpf/steer.bpf.c). */
struct steer_conf {
	uint32_t all;
	uint32_t nports;
	uint16_t ports[8];
};

#define XSK_RING 2048

struct helper_state {
	int fds[CAPMSG_MAXFD];
	size_t nfds;
	void *areas[CAPMSG_MAXFD];
	size_t area_len;
	struct bpf_object *obj;
	struct xdp_program *prog;
	int ifindex;
	enum xdp_attach_mode mode;
	bool attached;
};

static int req_check(const struct capmsg_req *r, char *msg, size_t ml)
{
	if (r->magic != CAPMSG_MAGIC || r->version != CAPMSG_VERSION) {
		snprintf(msg, ml, "bad magic or version");
		return RN_EVERSION;
	}
	if (r->kind != CAPMSG_TPACKET && r->kind != CAPMSG_XDP) {
		snprintf(msg, ml, "unknown kind %u", r->kind);
		return RN_EPARSE;
	}
	if (memchr(r->ifname, '\0', sizeof(r->ifname)) == NULL || r->ifname[0] == '\0') {
		snprintf(msg, ml, "bad interface name");
		return RN_EPARSE;
	}
	size_t per = r->kind == CAPMSG_XDP ? 2 : 1;
	if (r->queues == 0 || r->queues * per > CAPMSG_MAXFD || r->nports > 8 ||
	    (r->raw == 0 && r->nports == 0) || r->raw > 1 || r->xdp_mode > 1 || r->xdp_bind > 2) {
		snprintf(msg, ml, "bad counts or modes");
		return RN_EPARSE;
	}
	if (r->frame_size < 2048 || r->frame_size > 65536 ||
	    (r->frame_size & (r->frame_size - 1)) != 0 || r->nframes < 4 || r->nframes > 65536 ||
	    (r->nframes & (r->nframes - 1)) != 0 || r->block_size < r->frame_size ||
	    r->block_size > (1u << 24) || (r->block_size & (r->block_size - 1)) != 0) {
		snprintf(msg, ml, "bad ring geometry");
		return RN_EPARSE;
	}
	return RN_OK;
}

static int open_tpacket(struct helper_state *h, const struct capmsg_req *r, char *msg, size_t ml)
{
	struct capture_bpf_insn *code = NULL;
	size_t ncode = 0;
	struct sock_fprog prog = {0};
	bool have_filter = false;

	if (!r->raw) {
		int frc = capture_filter_compile(r->ports, r->nports, &code, &ncode);
		if (frc != RN_OK) {
			snprintf(msg, ml, "cannot compile the port filter");
			return frc;
		}
		prog.len = (unsigned short)ncode;
		prog.filter = (struct sock_filter *)(void *)code;
		have_filter = true;
	}
	int rc = RN_OK;
	for (uint32_t q = 0; q < r->queues; q++) {
		int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
		int v = TPACKET_V3, one = 1;
		if (fd < 0) {
			rc = -errno;
			snprintf(msg, ml, "AF_PACKET socket: %s", strerror(errno));
			break;
		}
		h->fds[h->nfds++] = fd;
		struct tpacket_req3 tr = {.tp_block_size = r->block_size,
		                          .tp_block_nr = r->nframes,
		                          .tp_frame_size = r->frame_size,
		                          .tp_frame_nr = r->block_size / r->frame_size * r->nframes,
		                          .tp_retire_blk_tov = 10};
		if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)) != 0 ||
		    (have_filter &&
		     setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) != 0) ||
		    setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &tr, sizeof(tr)) != 0) {
			rc = -errno;
			snprintf(msg, ml, "TPACKET_V3 setup: %s", strerror(errno));
			break;
		}
		(void)setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
		struct sockaddr_ll sll = {.sll_family = AF_PACKET,
		                          .sll_protocol = htons(ETH_P_ALL),
		                          .sll_ifindex = h->ifindex};
		if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) != 0) {
			rc = -errno;
			snprintf(msg, ml, "bind to %s: %s", r->ifname, strerror(errno));
			break;
		}
		if (r->raw) {
			/* A mirror port delivers frames addressed to other hosts. */
			struct packet_mreq mr = {.mr_ifindex = h->ifindex,
			                         .mr_type = PACKET_MR_PROMISC};
			if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) !=
			    0) {
				rc = -errno;
				snprintf(msg, ml, "promiscuous mode on %s: %s", r->ifname,
				         strerror(errno));
				break;
			}
		}
		int fan = (int)((r->fanout_group & 0xffff) | (PACKET_FANOUT_HASH << 16));
		if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &fan, sizeof(fan)) != 0) {
			rc = -errno;
			snprintf(msg, ml, "PACKET_FANOUT: %s", strerror(errno));
			break;
		}
	}
	free(code);
	return rc;
}

static int xsk_open(struct helper_state *h, const struct capmsg_req *r, uint32_t q, bool zc,
                    int *out)
{
	int fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct xdp_umem_reg ur = {.addr = (uint64_t)(uintptr_t)h->areas[h->nfds + 1],
	                          .len = h->area_len,
	                          .chunk_size = r->frame_size,
	                          .headroom = 0};
	int ring = XSK_RING;
	struct sockaddr_xdp sx = {.sxdp_family = AF_XDP,
	                          .sxdp_ifindex = (uint32_t)h->ifindex,
	                          .sxdp_queue_id = q,
	                          .sxdp_flags = zc ? XDP_ZEROCOPY : XDP_COPY};
	if (setsockopt(fd, SOL_XDP, XDP_UMEM_REG, &ur, sizeof(ur)) != 0 ||
	    setsockopt(fd, SOL_XDP, XDP_UMEM_FILL_RING, &ring, sizeof(ring)) != 0 ||
	    setsockopt(fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &ring, sizeof(ring)) != 0 ||
	    setsockopt(fd, SOL_XDP, XDP_RX_RING, &ring, sizeof(ring)) != 0 ||
	    bind(fd, (struct sockaddr *)&sx, sizeof(sx)) != 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	*out = fd;
	return RN_OK;
}

static int open_xdp(struct helper_state *h, const struct capmsg_req *r, struct capmsg_rep *rep,
                    char *msg, size_t ml)
{
	int rc;
	h->obj = bpf_object__open_mem(repnet_steer_bpf_obj, repnet_steer_bpf_obj_len, NULL);
	if (libbpf_get_error(h->obj)) {
		h->obj = NULL;
		snprintf(msg, ml, "cannot open the steering program");
		return RN_EINTERNAL;
	}
	h->prog = xdp_program__from_bpf_obj(h->obj, "xdp");
	if (libxdp_get_error(h->prog)) {
		h->prog = NULL;
		snprintf(msg, ml, "libxdp refused the steering program");
		return RN_EINTERNAL;
	}
	h->mode = r->xdp_mode == 1 ? XDP_MODE_NATIVE : XDP_MODE_SKB;
	rc = xdp_program__attach(h->prog, h->ifindex, h->mode, 0);
	if (rc != 0) {
		snprintf(msg, ml, "attaching XDP (%s mode) to %s: %s",
		         h->mode == XDP_MODE_NATIVE ? "native" : "skb", r->ifname, strerror(-rc));
		return rc;
	}
	h->attached = true;
	rep->xdp_mode_used = r->xdp_mode;
	struct bpf_object *o = xdp_program__bpf_obj(h->prog);
	struct bpf_map *xm = bpf_object__find_map_by_name(o, "xsks_map");
	struct bpf_map *cm = bpf_object__find_map_by_name(o, "steer_conf");
	if (xm == NULL || cm == NULL) {
		snprintf(msg, ml, "steering program without its maps");
		return RN_EINTERNAL;
	}
	struct steer_conf sc = {.all = r->raw, .nports = r->nports};
	memcpy(sc.ports, r->ports, sizeof(sc.ports));
	uint32_t zero = 0;
	h->area_len = (size_t)r->frame_size * r->nframes;
	bool zc_all = true;
	for (uint32_t q = 0; q < r->queues; q++) {
		int mfd = memfd_create("repnet-umem", MFD_CLOEXEC);
		if (mfd < 0 || ftruncate(mfd, (off_t)h->area_len) != 0) {
			rc = -errno;
			if (mfd >= 0)
				close(mfd);
			snprintf(msg, ml, "UMEM memfd: %s", strerror(-rc));
			return rc;
		}
		void *area = mmap(NULL, h->area_len, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
		if (area == MAP_FAILED) {
			rc = -errno;
			close(mfd);
			snprintf(msg, ml, "UMEM mmap: %s", strerror(-rc));
			return rc;
		}
		h->areas[h->nfds + 1] = area;
		int xfd = -1;
		rc = r->xdp_bind == 1 ? -EOPNOTSUPP : xsk_open(h, r, q, true, &xfd);
		if (rc != RN_OK && r->xdp_bind != 2) {
			zc_all = false;
			rc = xsk_open(h, r, q, false, &xfd);
		}
		if (rc != RN_OK) {
			munmap(area, h->area_len);
			h->areas[h->nfds + 1] = NULL;
			close(mfd);
			snprintf(msg, ml, "AF_XDP socket on %s queue %u: %s", r->ifname, q,
			         strerror(-rc));
			return rc;
		}
		h->fds[h->nfds++] = xfd;
		h->fds[h->nfds++] = mfd;
		if (bpf_map_update_elem(bpf_map__fd(xm), &q, &xfd, 0) != 0) {
			rc = -errno;
			snprintf(msg, ml, "XSKMAP update: %s", strerror(errno));
			return rc;
		}
	}
	rep->zerocopy = zc_all;
	/* Steering starts only now that every queue has its socket. */
	if (bpf_map_update_elem(bpf_map__fd(cm), &zero, &sc, 0) != 0) {
		rc = -errno;
		snprintf(msg, ml, "steering map update: %s", strerror(errno));
		return rc;
	}
	return RN_OK;
}

/*
 * Closes our copies of the descriptors. The UMEM mappings stay until exit:
 * the kernel pinned their pages, and nothing is gained by unmapping early.
 */
static void helper_cleanup(struct helper_state *h)
{
	for (size_t i = 0; i < h->nfds; i++)
		if (h->fds[i] >= 0)
			close(h->fds[i]);
	h->nfds = 0;
}

static void helper_detach(struct helper_state *h)
{
	if (h->attached)
		(void)xdp_program__detach(h->prog, h->ifindex, h->mode, 0);
	h->attached = false;
	if (h->prog != NULL)
		xdp_program__close(h->prog);
	if (h->obj != NULL)
		bpf_object__close(h->obj);
	h->prog = NULL;
	h->obj = NULL;
}

static int silent(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

int collector_capture_helper(int fd)
{
	struct helper_state h = {0};
	struct capmsg_req req;
	struct capmsg_rep rep = {.magic = CAPMSG_MAGIC, .version = CAPMSG_VERSION};
	int rc;

	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	signal(SIGPIPE, SIG_IGN);
	if (getenv("REPNET_CAPTURE_VERBOSE") == NULL) {
		libbpf_set_print(silent);
		libxdp_set_print((libxdp_print_fn_t)silent);
	}
	ssize_t n = recv(fd, &req, sizeof(req), 0);
	if (n != (ssize_t)sizeof(req)) {
		rc = RN_EPARSE;
		snprintf(rep.msg, sizeof(rep.msg), "request of %zd bytes", n);
		goto reply;
	}
	rc = req_check(&req, rep.msg, sizeof(rep.msg));
	if (rc != RN_OK)
		goto reply;
	h.ifindex = (int)if_nametoindex(req.ifname);
	if (h.ifindex == 0) {
		rc = -errno;
		snprintf(rep.msg, sizeof(rep.msg), "no interface %s", req.ifname);
		goto reply;
	}
	if (req.kind == CAPMSG_TPACKET)
		rc = open_tpacket(&h, &req, rep.msg, sizeof(rep.msg));
	else
		rc = open_xdp(&h, &req, &rep, rep.msg, sizeof(rep.msg));
reply:
	rep.rc = rc;
	rep.nfds = rc == RN_OK ? (uint32_t)h.nfds : 0;
	{
		union {
			struct cmsghdr c;
			uint8_t b[CMSG_SPACE(sizeof(int) * CAPMSG_MAXFD)];
		} ctl;
		struct iovec iov = {.iov_base = &rep, .iov_len = sizeof(rep)};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
		memset(&ctl, 0, sizeof(ctl));
		if (rep.nfds > 0) {
			mh.msg_control = ctl.b;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * rep.nfds);
			struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int) * rep.nfds);
			memcpy(CMSG_DATA(cm), h.fds, sizeof(int) * rep.nfds);
		}
		if (sendmsg(fd, &mh, MSG_NOSIGNAL) != (ssize_t)sizeof(rep))
			rc = rc ? rc : -errno;
	}
	/* The decoder has its copies; ours only kept them alive until now. */
	helper_cleanup(&h);
	if (rc == RN_OK) {
		/* Wait for the decoder's end to close, then undo what we attached. */
		char b;
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		for (;;) {
			if (poll(&pfd, 1, -1) < 0 && errno == EINTR)
				continue;
			ssize_t r = recv(fd, &b, 1, 0);
			if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
				break;
		}
	}
	helper_detach(&h);
	close(fd);
	return rc == RN_OK ? 0 : 1;
}
