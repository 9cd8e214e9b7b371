/*
 * flowseq_fuzz.c: the stateful harness. One input is a sequence of
 * datagrams, each prefixed by 1 byte (bit 0: which of two exporters; the
 * rest: seconds to advance the clock) and its 2-byte big-endian length,
 * fed in order to one decoder, so that
 * templates are defined, redefined and withdrawn and data is held for a
 * template that comes later. Records go on to the flow detectors (small
 * caps, so evictions happen). Template persistence is exercised at the
 * end: the decoder's templates are saved and loaded into a fresh decoder,
 * which must accept every one of them. Templates live 120 s of the input's
 * clock, so they expire too; the caps are small, so they evict.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "collector/flow.h"
#include "collector/flow_detect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct flow_detect *det;

static void on_rec(void *arg, const struct collector_flow_rec *r, size_t n)
{
	(void)arg;
	flow_detect_feed(det, r, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct flow_dec_conf dc = {.max_templates = 32,
	                           .max_templates_per_exporter = 8,
	                           .pending_bytes = 4096,
	                           .pending_max_age_ms = 30000,
	                           .template_lifetime_ms = 120000,
	                           .scale_sampling = true};
	static struct collector_flow_conf fc = {.window_ms = 60000,
	                                        .pair_window_ms = 5000,
	                                        .max_sources = 64,
	                                        .max_pending = 64,
	                                        .spray_dsts = 3,
	                                        .hscan_dsts = 3,
	                                        .vscan_ports = 3,
	                                        .bruteforce_sessions = 2,
	                                        .amp_reflectors = 2,
	                                        .amp_bytes_per_packet = 64,
	                                        .context_min = 2,
	                                        .detect = true};
	struct collector_flow_rec_sink s = {.rec = on_rec};
	struct flow_exporters *x;
	struct flow_dec *d, *d2;
	struct rn_cur c;
	int64_t t = 1768471200000;

	if (flow_exporters_alloc(&x, 4, NULL, NULL) != RN_OK ||
	    flow_detect_alloc(&det, &fc, NULL, NULL, NULL) != RN_OK ||
	    flow_dec_alloc(&d, &dc, x, &s) != RN_OK)
		abort();
	rn_cur_init(&c, data, size);
	while (rn_cur_left(&c) >= 3) {
		uint8_t who = rn_cur_u8(&c); /* which of 2 exporters, and a time step */
		uint16_t n = rn_cur_u16(&c);
		if (n > rn_cur_left(&c))
			n = (uint16_t)rn_cur_left(&c);
		const uint8_t *p = rn_cur_bytes(&c, n);
		struct flow_origin o = {.port = (uint16_t)(2055 + (who & 1)), .recv_ms = t};
		rn_addr_set_v4(&o.addr, 0x7f000001u + (who & 1));
		t += (who >> 1) * 1000;
		(void)flow_dec_datagram(d, &o, p, n);
	}
	flow_dec_expire(d, t + 60000);
	flow_tmpl_expire(d, t);
	flow_detect_flush(det);

	/* Persistence: what was stored (and not expired) must load back, all of it. */
	char path[64];
	snprintf(path, sizeof(path), "%s/repnet-fuzz-tmpl.%d",
	         access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (int)getpid());
	size_t stored = d->ntmpl;
	struct flow_tmpl_load_stats st;
	if (flow_tmpl_save(&d, 1, path) == RN_OK) {
		if (flow_dec_alloc(&d2, &dc, x, NULL) != RN_OK)
			abort();
		if (flow_tmpl_load(d2, path, t, NULL, &st) != RN_OK || st.loaded != stored ||
		    st.bad != 0 || st.pruned != 0)
			abort();
		flow_dec_free(d2);
		unlink(path);
	}
	flow_dec_free(d);
	flow_detect_free(det);
	flow_exporters_free(x);
	return 0;
}
