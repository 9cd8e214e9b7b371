/*
 * capture_xdp.c: AF_XDP sockets, decoder side.
 *
 * Design notes: the helper created the UMEM in a memfd, the XSK bound to
 * one queue, and put the XSK in the XDP program's map; this side maps the
 * same memfd and the socket's RX and fill rings (no capability needed)
 * and runs them with plain loads and stores: acquire on the producer it
 * reads, release on the consumer it writes. Frames stay ours from the RX
 * ring until they go back on the fill ring, so recv() may advance the RX
 * consumer at once and lend the frames; release() puts their chunks back
 * on the fill ring. Frames that are not for us are given back at once.
 * At start half the UMEM's chunks are put on the fill ring. Drops come
 * from XDP_STATISTICS once a second. One thread per socket.
 */
#include <errno.h>
#include <linux/if_xdp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "collector/capture.h"

#ifndef SOL_XDP
#define SOL_XDP 283
#endif

struct ring {
	uint32_t *producer;
	uint32_t *consumer;
	void *descs;
	uint32_t size;
	uint32_t cached; /* our own index: consumer (rx) or producer (fill) */
	void *map;
	size_t map_len;
};

struct capture_xdp {
	struct capture c;
	struct capture_frames_conf fc;
	int umem_fd;
	uint8_t *umem;
	uint64_t umem_size;
	uint32_t frame_size;
	struct ring rx, fill;
	uint64_t drops_seen;
	int64_t last_stats;
	uint64_t giveback[256];
	size_t ngive;
};

static int ring_map(int fd, struct ring *r, const struct xdp_ring_offset *o, uint32_t size,
                    size_t desc_size, off_t pgoff)
{
	r->map_len = o->desc + (size_t)size * desc_size;
	r->map = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
	              pgoff);
	if (r->map == MAP_FAILED) {
		r->map = NULL;
		return -errno;
	}
	r->producer = (uint32_t *)(void *)((uint8_t *)r->map + o->producer);
	r->consumer = (uint32_t *)(void *)((uint8_t *)r->map + o->consumer);
	r->descs = (uint8_t *)r->map + o->desc;
	r->size = size;
	return RN_OK;
}

static void fill_put(struct capture_xdp *x, const uint64_t *addrs, size_t n)
{
	uint64_t *slots = x->fill.descs;
	uint32_t prod = x->fill.cached;
	for (size_t i = 0; i < n; i++)
		slots[(prod + i) & (x->fill.size - 1)] = addrs[i] & ~((uint64_t)x->frame_size - 1);
	x->fill.cached = prod + (uint32_t)n;
	__atomic_store_n(x->fill.producer, x->fill.cached, __ATOMIC_RELEASE);
}

static void xdp_stats(struct capture_xdp *x)
{
	int64_t now = rn_time_mono_ms();
	if (now - x->last_stats < 1000)
		return;
	x->last_stats = now;
	struct xdp_statistics st;
	socklen_t sl = sizeof(st);
	if (getsockopt(x->c.fd, SOL_XDP, XDP_STATISTICS, &st, &sl) == 0) {
		uint64_t d = st.rx_dropped + st.rx_ring_full;
		if (d > x->drops_seen)
			rn_counter_add(&x->c.stats.drops, d - x->drops_seen);
		x->drops_seen = d;
	}
}

static int xdp_recv(struct capture *c, struct capture_pkt *pkts, size_t max, size_t *n,
                    int timeout_ms)
{
	struct capture_xdp *x = (struct capture_xdp *)c;
	struct xdp_desc *descs = x->rx.descs;
	*n = 0;
	xdp_stats(x);
	uint32_t prod = __atomic_load_n(x->rx.producer, __ATOMIC_ACQUIRE);
	if (prod == x->rx.cached && timeout_ms != 0) {
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		(void)poll(&pfd, 1, timeout_ms);
		prod = __atomic_load_n(x->rx.producer, __ATOMIC_ACQUIRE);
	}
	uint32_t avail = prod - x->rx.cached;
	if (avail > max)
		avail = (uint32_t)max;
	if (avail > RN_ARRAY_LEN(x->giveback))
		avail = RN_ARRAY_LEN(x->giveback);
	x->ngive = 0;
	int64_t now = rn_time_now_ms();
	for (uint32_t i = 0; i < avail; i++) {
		const struct xdp_desc *d = &descs[(x->rx.cached + i) & (x->rx.size - 1)];
		rn_counter_inc(&c->stats.packets);
		rn_counter_add(&c->stats.bytes, d->len);
		struct capture_pkt *p = &pkts[*n];
		if (d->addr < x->umem_size && d->len <= x->umem_size - d->addr &&
		    capture_frame_payload(&x->fc, x->umem + d->addr, d->len, p)) {
			p->ts_ms = now;
			p->cookie = d->addr;
			(*n)++;
		} else {
			rn_counter_inc(&c->stats.not_flow);
			x->giveback[x->ngive++] = d->addr;
		}
	}
	x->rx.cached += avail;
	__atomic_store_n(x->rx.consumer, x->rx.cached, __ATOMIC_RELEASE);
	if (x->ngive > 0)
		fill_put(x, x->giveback, x->ngive);
	return RN_OK;
}

static void xdp_release(struct capture *c, struct capture_pkt *pkts, size_t n)
{
	struct capture_xdp *x = (struct capture_xdp *)c;
	uint64_t addrs[64];
	while (n > 0) {
		size_t k = n < RN_ARRAY_LEN(addrs) ? n : RN_ARRAY_LEN(addrs);
		for (size_t i = 0; i < k; i++)
			addrs[i] = pkts[i].cookie;
		fill_put(x, addrs, k);
		pkts += k;
		n -= k;
	}
}

static void xdp_close(struct capture *c)
{
	struct capture_xdp *x = (struct capture_xdp *)c;
	if (x->rx.map != NULL)
		munmap(x->rx.map, x->rx.map_len);
	if (x->fill.map != NULL)
		munmap(x->fill.map, x->fill.map_len);
	if (x->umem != NULL)
		munmap(x->umem, x->umem_size);
	if (x->umem_fd >= 0)
		close(x->umem_fd);
	if (c->fd >= 0)
		close(c->fd);
	free(x);
}

static const struct capture_ops xdp_ops = {
        .recv = xdp_recv,
        .release = xdp_release,
        .close = xdp_close,
};

int capture_xdp_open(struct capture **out, const struct capture_xdp_desc *d,
                     const struct capture_frames_conf *fc, const char *name)
{
	struct xdp_mmap_offsets off;
	socklen_t ol = sizeof(off);
	int rc;
	struct capture_xdp *x = calloc(1, sizeof(*x));
	if (x == NULL) {
		close(d->xsk_fd);
		close(d->umem_fd);
		return -ENOMEM;
	}
	x->c.ops = &xdp_ops;
	x->c.fd = d->xsk_fd;
	x->c.raw = fc->raw;
	x->fc = *fc;
	x->umem_fd = d->umem_fd;
	x->umem_size = d->umem_size;
	x->frame_size = d->frame_size;
	rc = RN_EINTERNAL;
	if ((d->rx_size & (d->rx_size - 1)) != 0 || (d->fill_size & (d->fill_size - 1)) != 0 ||
	    d->frame_size == 0 || (d->frame_size & (d->frame_size - 1)) != 0 ||
	    (uint64_t)d->nframes * d->frame_size != d->umem_size)
		goto fail;
	x->umem = mmap(NULL, x->umem_size, PROT_READ | PROT_WRITE, MAP_SHARED, d->umem_fd, 0);
	if (x->umem == MAP_FAILED) {
		x->umem = NULL;
		rc = -errno;
		goto fail;
	}
	if (getsockopt(x->c.fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &ol) != 0) {
		rc = -errno;
		goto fail;
	}
	rc = ring_map(x->c.fd, &x->rx, &off.rx, d->rx_size, sizeof(struct xdp_desc),
	              XDP_PGOFF_RX_RING);
	if (rc != RN_OK)
		goto fail;
	rc = ring_map(x->c.fd, &x->fill, &off.fr, d->fill_size, sizeof(uint64_t),
	              (off_t)XDP_UMEM_PGOFF_FILL_RING);
	if (rc != RN_OK)
		goto fail;
	x->rx.cached = __atomic_load_n(x->rx.consumer, __ATOMIC_ACQUIRE);
	x->fill.cached = __atomic_load_n(x->fill.producer, __ATOMIC_ACQUIRE);
	/* Hand the kernel as many chunks as the fill ring holds, at most half the UMEM. */
	uint32_t give = d->fill_size < d->nframes / 2 ? d->fill_size : d->nframes / 2;
	for (uint32_t i = 0; i < give; i += 64) {
		uint64_t a[64];
		uint32_t k = give - i < 64 ? give - i : 64;
		for (uint32_t j = 0; j < k; j++)
			a[j] = (uint64_t)(i + j) * d->frame_size;
		fill_put(x, a, k);
	}
	snprintf(x->c.name, sizeof(x->c.name), "%s", name);
	*out = &x->c;
	return RN_OK;
fail:
	xdp_close(&x->c);
	return rc;
}
