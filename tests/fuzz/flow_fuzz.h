/*
 * flow_fuzz.h: the body shared by the one-datagram flow decoder harnesses
 * (nf5, nf9, ipfix, sflow). A decoder is called directly, so that the
 * version field need not be found; a fresh decoder per input keeps runs
 * reproducible; every record decoded must have addresses of a known
 * family and a count of records that adds up.
 */
#ifndef REPNET_FLOW_FUZZ_H
#define REPNET_FLOW_FUZZ_H

#include <stdlib.h>

#include "collector/flow.h"

typedef int (*flow_decode_fn)(struct flow_dec *d, const struct flow_origin *o,
                              struct flow_exporter *e, const uint8_t *buf, size_t len);

static uint64_t nrec;

static void on_rec(void *arg, const struct collector_flow_rec *r, size_t n)
{
	(void)arg;
	for (size_t i = 0; i < n; i++) {
		if (r[i].src.family != RN_AF_INET && r[i].src.family != RN_AF_INET6 &&
		    r[i].src.family != 0)
			abort();
		nrec++;
	}
}

static int flow_fuzz_one(flow_decode_fn decode, const uint8_t *data, size_t size)
{
	struct flow_dec_conf dc = {.max_templates = 16,
	                           .max_templates_per_exporter = 16,
	                           .pending_bytes = 8192,
	                           .pending_max_age_ms = 30000,
	                           .scale_sampling = true};
	struct collector_flow_rec_sink s = {.rec = on_rec};
	struct flow_exporters *x;
	struct flow_dec *d;
	struct flow_origin o = {.port = 2055, .recv_ms = 1768471200000};

	if (flow_exporters_alloc(&x, 4, NULL, NULL) != RN_OK)
		abort();
	if (flow_dec_alloc(&d, &dc, x, &s) != RN_OK)
		abort();
	rn_addr_set_v4(&o.addr, 0x7f000001);
	struct flow_exporter *e = flow_exporters_get(x, &o.addr);
	nrec = 0;
	(void)decode(d, &o, e, data, size);
	flow_dec_flush(d);
	if (nrec != d->tot.records)
		abort();
	flow_dec_free(d);
	flow_exporters_free(x);
	return 0;
}

#endif
