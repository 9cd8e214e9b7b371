/*
 * flow_pcap.c: the offline entry point: flow export (or mirror-port
 * traffic) from a pcap file, decoded and run through the detectors in
 * event time.
 *
 * Design notes: the collector's pcap reader (pcap_file.c) reads the file.
 * For flow export, the UDP payload of each unfragmented datagram whose
 * first bytes look like NetFlow v5/v9, IPFIX or sFlow v5 goes to one
 * decoder, whatever the port; every other frame (fragments included:
 * they cannot be decoded without reassembly) is counted as not flow. The
 * datagram's source address and port are the exporter; the pcap time is
 * the arrival time. For a mirror port, every frame goes to the packet
 * meter. The records go to the caller's sink and, when detection is on, to
 * the detectors, whose clock is the records' own time. Single-threaded.
 *
 * Exporters: a capture is a file the operator chose, so with
 * collector.flow.exporters empty every exporter in it is decoded (the
 * live collector's loopback default guards a socket, not a file); a list
 * that is given applies here too, and what it refuses is counted in the
 * totals. Templates expire in pcap time as they would have live.
 */
#include <stdio.h>

#include "collector/flow.h"
#include "collector/flow_detect.h"
#include "collector/pktmeter.h"

struct tee {
	const struct collector_flow_rec_sink *user;
	struct flow_detect *det;
	uint64_t records, packets, bytes;
};

static void tee_rec(void *arg, const struct collector_flow_rec *r, size_t n)
{
	struct tee *t = arg;
	for (size_t i = 0; i < n; i++) {
		t->records++;
		t->packets += r[i].packets + r[i].rev_packets;
		t->bytes += r[i].bytes + r[i].rev_bytes;
	}
	if (t->user != NULL && t->user->rec != NULL)
		t->user->rec(t->user->arg, r, n);
	if (t->det != NULL)
		flow_detect_feed(t->det, r, n);
}

static bool looks_like_flow(const uint8_t *p, size_t len)
{
	if (len < 4)
		return false;
	uint16_t v = (uint16_t)(p[0] << 8 | p[1]);
	if (v == 5 || v == 9 || v == 10)
		return true;
	return v == 0 && p[2] == 0 && p[3] == 5;
}

void collector_flow_dec_conf(const struct collector_flow_conf *c, struct flow_dec_conf *dc)
{
	*dc = (struct flow_dec_conf){
	        .max_templates = (size_t)c->max_templates,
	        .max_templates_per_exporter = (size_t)c->max_templates_per_exporter,
	        .pending_bytes = (size_t)c->pending_bytes,
	        .pending_max_age_ms = c->pending_max_age_ms,
	        .template_lifetime_ms = c->template_lifetime_ms,
	        .scale_sampling = c->scale_sampling,
	};
}

int collector_flow_pcap(const char *path, const struct collector_flow_conf *conf, bool mirror,
                        const struct collector_flow_rec_sink *rsink,
                        const struct collector_sink *sink, struct collector_flow_totals *totals)
{
	struct collector_pcap *p = NULL;
	struct flow_exporters *exps = NULL;
	struct flow_dec *dec = NULL;
	struct flow_detect *det = NULL;
	struct pktmeter *pm = NULL;
	struct collector_flow_totals tot = {0};
	struct tee tee = {.user = rsink};
	int rc, r;

	rc = collector_pcap_open(&p, path);
	if (rc != RN_OK)
		return rc;
	if (conf->detect && sink != NULL) {
		rc = flow_detect_alloc(&det, conf, sink, NULL, NULL);
		if (rc != RN_OK)
			goto fail;
		tee.det = det;
	}
	struct collector_flow_rec_sink ts = {.rec = tee_rec, .arg = &tee};
	if (mirror) {
		rc = pktmeter_alloc(&pm, (size_t)conf->max_pending, 30000, &ts, NULL);
		if (rc != RN_OK)
			goto fail;
	} else {
		struct flow_dec_conf dc;
		collector_flow_dec_conf(conf, &dc);
		rc = flow_exporters_alloc(&exps, (size_t)conf->max_exporters, NULL, NULL);
		if (rc != RN_OK)
			goto fail;
		rc = flow_dec_alloc(&dec, &dc, exps, &ts);
		if (rc != RN_OK)
			goto fail;
	}

	if (mirror) {
		const uint8_t *frame;
		size_t len;
		int64_t ts_ms;
		while ((r = flow_pcap_next_frame(p, &frame, &len, &ts_ms)) == 1)
			(void)pktmeter_frame(pm, flow_pcap_link(p), frame, len, ts_ms);
	} else {
		struct collector_pcap_udp u;
		int64_t swept = 0;
		bool swept_once = false;
		while ((r = collector_pcap_next_udp(p, &u)) == 1) {
			if (!looks_like_flow(u.payload, u.len)) {
				tot.not_flow++;
				continue;
			}
			if (conf->exporters.n > 0 &&
			    !rn_prefix_list_contains(&conf->exporters, &u.src)) {
				tot.refused++;
				continue;
			}
			/* Once a second of pcap time (time going back restarts the count). */
			if (!swept_once || u.ts_ms < swept || u.ts_ms - swept >= 1000) {
				flow_tmpl_expire(dec, u.ts_ms);
				swept = u.ts_ms;
				swept_once = true;
			}
			struct flow_origin o = {.addr = u.src, .port = u.sport, .recv_ms = u.ts_ms};
			(void)flow_dec_datagram(dec, &o, u.payload, u.len);
		}
		tot.not_flow += collector_pcap_skipped(p);
	}
	if (r < 0)
		rc = r;
	if (pm != NULL) {
		pktmeter_flush(pm);
		const struct pktmeter_stats *ps = pktmeter_stats(pm);
		tot.datagrams = rn_counter_get(&ps->frames);
		tot.not_flow = rn_counter_get(&ps->not_ip) + rn_counter_get(&ps->malformed);
		tot.records = tee.records;
		tot.packets = tee.packets;
		tot.bytes = tee.bytes;
	}
	if (det != NULL) {
		flow_detect_flush(det);
		tot.observations = flow_detect_emitted(det);
	}
	if (dec != NULL) {
		uint64_t nf = tot.not_flow, obs = tot.observations, refused = tot.refused;
		tot = dec->tot;
		tot.not_flow = nf;
		tot.observations = obs;
		tot.refused = refused;
		struct collector_flow_totals ex = {0};
		flow_exporters_totals(exps, &ex);
		tot.sequence_gaps = ex.sequence_gaps;
	}
	if (totals != NULL)
		*totals = tot;
fail:
	pktmeter_free(pm);
	flow_dec_free(dec);
	flow_exporters_free(exps);
	flow_detect_free(det);
	collector_pcap_close(p);
	return rc;
}
