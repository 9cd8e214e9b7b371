/*
 * capture_tpacket.c: AF_PACKET TPACKET_V3 rings, decoder side.
 *
 * Design notes: the helper opened the socket, set TPACKET_V3 and the
 * receive ring, the port filter and the fanout group; this side maps the
 * ring (which needs no capability) and walks it. The kernel hands over a
 * whole block at a time (TP_STATUS_USER); recv() lends the block's frames
 * (their UDP payloads, or the frames themselves on a mirror port) up to
 * `max`, keeping its place, and release() gives the block back
 * (TP_STATUS_KERNEL) once every frame of it was lent and released. Every
 * offset the kernel wrote is still checked against the block before use.
 * Drops come from PACKET_STATISTICS, read once a second (reading resets
 * them). One thread per ring.
 */
#include <errno.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "collector/capture.h"

struct capture_tp {
	struct capture c;
	struct capture_frames_conf fc;
	uint8_t *map;
	size_t map_len;
	uint32_t block_size, nblocks;
	uint32_t cur;      /* current block */
	uint32_t next_pkt; /* packets of it already walked */
	uint32_t off;      /* offset of the next packet in it */
	bool in_block;
	int64_t last_stats;
};

static struct tpacket_block_desc *blk(struct capture_tp *t, uint32_t i)
{
	return (struct tpacket_block_desc *)(void *)(t->map + (size_t)i * t->block_size);
}

static void tp_stats(struct capture_tp *t)
{
	int64_t now = rn_time_mono_ms();
	if (now - t->last_stats < 1000)
		return;
	t->last_stats = now;
	struct tpacket_stats_v3 st;
	socklen_t sl = sizeof(st);
	if (getsockopt(t->c.fd, SOL_PACKET, PACKET_STATISTICS, &st, &sl) == 0)
		rn_counter_add(&t->c.stats.drops, st.tp_drops);
}

static void block_return(struct capture_tp *t)
{
	struct tpacket_block_desc *b = blk(t, t->cur);
	__atomic_store_n(&b->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
	t->cur = (t->cur + 1) % t->nblocks;
	t->in_block = false;
}

static int tp_recv(struct capture *c, struct capture_pkt *pkts, size_t max, size_t *n,
                   int timeout_ms)
{
	struct capture_tp *t = (struct capture_tp *)c;
	*n = 0;
	tp_stats(t);
	if (!t->in_block) {
		struct tpacket_block_desc *b = blk(t, t->cur);
		if (!(__atomic_load_n(&b->hdr.bh1.block_status, __ATOMIC_ACQUIRE) &
		      TP_STATUS_USER)) {
			if (timeout_ms == 0)
				return RN_OK;
			struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
			(void)poll(&pfd, 1, timeout_ms);
			if (!(__atomic_load_n(&b->hdr.bh1.block_status, __ATOMIC_ACQUIRE) &
			      TP_STATUS_USER))
				return RN_OK;
		}
		t->in_block = true;
		t->next_pkt = 0;
		t->off = b->hdr.bh1.offset_to_first_pkt;
	}
	struct tpacket_block_desc *b = blk(t, t->cur);
	uint32_t num = b->hdr.bh1.num_pkts;
	while (t->next_pkt < num && *n < max) {
		if (t->off < sizeof(*b) ||
		    (size_t)t->off + sizeof(struct tpacket3_hdr) > t->block_size)
			break; /* the kernel's offsets do not fit: give the block back */
		struct tpacket3_hdr *h = (struct tpacket3_hdr *)(void *)((uint8_t *)b + t->off);
		size_t mac = (size_t)t->off + h->tp_mac;
		if (mac + h->tp_snaplen > t->block_size)
			break;
		t->next_pkt++;
		rn_counter_inc(&c->stats.packets);
		rn_counter_add(&c->stats.bytes, h->tp_len);
		struct capture_pkt *p = &pkts[*n];
		if (capture_frame_payload(&t->fc, (uint8_t *)b + mac, h->tp_snaplen, p)) {
			p->ts_ms = (int64_t)h->tp_sec * 1000 + h->tp_nsec / 1000000;
			p->cookie = t->cur;
			(*n)++;
		} else {
			rn_counter_inc(&c->stats.not_flow);
		}
		if (h->tp_next_offset == 0)
			t->next_pkt = num;
		t->off += h->tp_next_offset;
	}
	if (t->next_pkt < num && *n < max)
		t->next_pkt = num; /* a bad offset ended the walk */
	if (*n == 0 && t->next_pkt >= num)
		block_return(t);
	return RN_OK;
}

static void tp_release(struct capture *c, struct capture_pkt *pkts, size_t n)
{
	struct capture_tp *t = (struct capture_tp *)c;
	(void)pkts;
	(void)n;
	/* Everything lent came from the current block; return it once walked. */
	if (t->in_block && t->next_pkt >= blk(t, t->cur)->hdr.bh1.num_pkts)
		block_return(t);
}

static void tp_close(struct capture *c)
{
	struct capture_tp *t = (struct capture_tp *)c;
	if (t->map != NULL && t->map != MAP_FAILED)
		munmap(t->map, t->map_len);
	if (c->fd >= 0)
		close(c->fd);
	free(t);
}

static const struct capture_ops tp_ops = {
        .recv = tp_recv,
        .release = tp_release,
        .close = tp_close,
};

int capture_tpacket_open(struct capture **out, const struct capture_tpacket_desc *d,
                         const struct capture_frames_conf *fc, const char *name)
{
	struct capture_tp *t = calloc(1, sizeof(*t));
	if (t == NULL) {
		close(d->fd);
		return -ENOMEM;
	}
	t->c.ops = &tp_ops;
	t->c.fd = d->fd;
	t->c.raw = fc->raw;
	t->fc = *fc;
	t->block_size = d->block_size;
	t->nblocks = d->nblocks;
	t->map_len = (size_t)d->block_size * d->nblocks;
	t->map = mmap(NULL, t->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, d->fd, 0);
	if (t->map == MAP_FAILED) {
		int rc = -errno;
		tp_close(&t->c);
		return rc;
	}
	snprintf(t->c.name, sizeof(t->c.name), "%s", name);
	*out = &t->c;
	return RN_OK;
}
