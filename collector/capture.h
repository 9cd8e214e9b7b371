/*
 * capture.h: the capture API behind every flow and mirror-port path:
 * UDP sockets with recvmmsg, AF_PACKET TPACKET_V3 rings, AF_XDP sockets.
 * Internal to the collector library.
 *
 * A capture lends packets and takes them back:
 *
 *     capture_recv(c, pkts, max, &n, timeout_ms);   // lends n packets
 *     ... decode pkts[0..n) ...
 *     capture_release(c, pkts, n);                  // gives them back
 *
 * Lent data lives in the backend's buffers (socket buffers, the mmapped
 * ring, the UMEM) and is valid until released; nothing is copied or
 * allocated per packet. One thread owns a capture. The privileged part
 * (opening AF_PACKET and AF_XDP sockets, attaching XDP) is done by the
 * helper process (capture_helper.c); the decoding process only maps the
 * descriptors it receives.
 */
#ifndef REPNET_COLLECTOR_CAPTURE_H
#define REPNET_COLLECTOR_CAPTURE_H

#include <sys/types.h>

#include "collector/flow.h"

struct capture_pkt {
	const uint8_t *data; /* UDP payload, or the whole frame for raw captures */
	uint32_t len;
	uint16_t port;       /* UDP source port (payload captures) */
	struct rn_addr addr; /* IP source address (payload captures) */
	int64_t ts_ms;
	uint64_t cookie; /* the backend's own bookkeeping */
};

struct capture_stats {
	struct rn_counter packets;
	struct rn_counter bytes;
	struct rn_counter drops;     /* lost before us: socket or ring overflow */
	struct rn_counter truncated; /* longer than the receive buffer */
	struct rn_counter not_flow;  /* frames on a steered path that were not for us */
};

struct capture;

struct capture_ops {
	int (*recv)(struct capture *c, struct capture_pkt *pkts, size_t max, size_t *n,
	            int timeout_ms);
	void (*release)(struct capture *c, struct capture_pkt *pkts, size_t n);
	void (*close)(struct capture *c);
};

struct capture {
	const struct capture_ops *ops;
	int fd;   /* for poll(2) */
	bool raw; /* lends whole frames (mirror ports) rather than UDP payloads */
	struct capture_stats stats;
	char name[48]; /* "udp/127.0.0.1:2055", "xdp/vxb/0", ... for metrics */
};

static inline int capture_recv(struct capture *c, struct capture_pkt *pkts, size_t max, size_t *n,
                               int timeout_ms)
{
	return c->ops->recv(c, pkts, max, n, timeout_ms);
}

static inline void capture_release(struct capture *c, struct capture_pkt *pkts, size_t n)
{
	c->ops->release(c, pkts, n);
}

/* Closes and frees c. Safe on NULL. */
void capture_close(struct capture *c);

/*
 * UDP: a socket bound to listen ("host:port") with SO_REUSEPORT (so that
 * several workers share the port), SO_RCVBUF of rcvbuf bytes (forced when
 * the process may), SO_RXQ_OVFL for drop counts, and batch buffers of
 * 64 KiB for recvmmsg.
 */
int capture_udp_open(struct capture **out, const char *listen, uint64_t rcvbuf, size_t batch);
/* The port the socket bound (for port 0). */
unsigned capture_udp_port(const struct capture *c);

/*
 * Frames from AF_PACKET and AF_XDP. ports (n of them) are the UDP
 * destination ports wanted; with raw set, every frame is lent as is.
 * Otherwise frames are parsed and only the UDP payloads to those ports are
 * lent (others are counted as not_flow and given back at once).
 */
struct capture_frames_conf {
	uint16_t ports[8];
	size_t nports;
	bool raw;
};

/* Descriptors received from the helper, and what they are. */
struct capture_tpacket_desc {
	int fd;
	uint32_t block_size, nblocks, frame_size;
};
int capture_tpacket_open(struct capture **out, const struct capture_tpacket_desc *d,
                         const struct capture_frames_conf *fc, const char *name);

struct capture_xdp_desc {
	int xsk_fd;
	int umem_fd;
	uint64_t umem_size;
	uint32_t frame_size;
	uint32_t nframes;
	uint32_t rx_size, fill_size;
	bool zerocopy;
};
int capture_xdp_open(struct capture **out, const struct capture_xdp_desc *d,
                     const struct capture_frames_conf *fc, const char *name);

/* Turns a lent frame into its UDP payload per fc; false when it is not wanted. */
bool capture_frame_payload(const struct capture_frames_conf *fc, const uint8_t *frame, size_t len,
                           struct capture_pkt *p);

/* One classic BPF instruction (struct sock_filter's layout). */
struct capture_bpf_insn {
	uint16_t code;
	uint8_t jt, jf;
	uint32_t k;
};
/*
 * Compiles "udp and (dst port P or ...)" for Ethernet frames. *out is
 * freed with free().
 */
int capture_filter_compile(const uint16_t *ports, size_t n, struct capture_bpf_insn **out,
                           size_t *len);

/* ---- the helper protocol (capture_helper.c, capture_client.c) ------------- */

#define CAPMSG_MAGIC   0x524e4350u /* "RNCP" */
#define CAPMSG_VERSION 1u
#define CAPMSG_MAXFD   64

enum capmsg_kind {
	CAPMSG_TPACKET = 1,
	CAPMSG_XDP = 2,
};

/* Decoder -> helper: what to open. Fixed size; the helper rejects any other. */
struct capmsg_req {
	uint32_t magic;
	uint32_t version;
	uint32_t kind;
	char ifname[16];
	uint32_t queues; /* XDP: queues 0..queues-1; TPACKET: fanout members */
	uint32_t nports; /* 0 with raw */
	uint16_t ports[8];
	uint32_t raw;
	uint32_t fanout_group;
	uint32_t xdp_mode; /* 0 skb, 1 native */
	uint32_t xdp_bind; /* 0 auto, 1 copy, 2 zero-copy */
	uint32_t frame_size;
	uint32_t nframes; /* XDP frames (UMEM) or TPACKET blocks per member */
	uint32_t block_size;
};

/* Helper -> decoder: the result; nfds descriptors ride in SCM_RIGHTS. */
struct capmsg_rep {
	uint32_t magic;
	uint32_t version;
	int32_t rc; /* RN_OK or the error */
	uint32_t nfds;
	uint32_t zerocopy;
	uint32_t xdp_mode_used;
	char msg[128]; /* why, when rc is not RN_OK */
};

/*
 * Starts the helper (path; through the process's launcher when there is
 * one, see rn_helper_spawn()), sends req, and receives the descriptors.
 * On success *h is the helper, which keeps the XDP program attached until
 * its socket is closed; fds[0..*nfds) belong to the caller. On failure
 * nothing is left open or running and msg says why.
 */
int capture_helper_spawn(const char *path, const struct capmsg_req *req, struct rn_helper *h,
                         int *fds, size_t *nfds, struct capmsg_rep *rep);
/* Closes the socket and waits for the helper (SIGKILL after timeout_ms). */
void capture_helper_reap(struct rn_helper *h, int timeout_ms);

#endif /* REPNET_COLLECTOR_CAPTURE_H */
