/*
 * pktmeter.h: the mirror-port flow meter. Internal to the collector
 * library.
 *
 * Raw frames from a mirror port (TPACKET_V3, AF_XDP or a pcap file) go in;
 * flow records come out through a collector_flow_rec_sink, ready for the
 * detectors. TCP handshakes are tracked and verified by sequence numbers:
 * a record flagged COLLECTOR_FLOW_COMPLETED means the initiator
 * acknowledged the responder's SYN-ACK (ack = ISN + 1), which a spoofer
 * cannot do blind. One thread at a time.
 */
#ifndef REPNET_COLLECTOR_PKTMETER_H
#define REPNET_COLLECTOR_PKTMETER_H

#include "collector/flow.h"

struct pktmeter_stats {
	struct rn_counter frames;
	struct rn_counter not_ip;    /* ARP, LLDP, ... */
	struct rn_counter malformed; /* truncated or inconsistent headers */
	struct rn_counter fragments;
	struct rn_counter smtp_syn;       /* SYN toward 25, 465, 587 */
	struct rn_counter smtp_synack;    /* SYN-ACK from 25, 465, 587 */
	struct rn_counter smtp_completed; /* verified handshakes toward them */
	struct rn_counter completed;      /* verified handshakes, any port */
	struct rn_counter evicted;        /* connections pushed out by the cap */
	struct rn_gauge conns;
};

struct pktmeter;

/*
 * max_conns bounds the connection table; timeout_ms is how long (event
 * time) a half-open connection is kept. Records go to out. m may be NULL.
 * Free with pktmeter_free().
 */
int pktmeter_alloc(struct pktmeter **out, size_t max_conns, int64_t timeout_ms,
                   const struct collector_flow_rec_sink *sink, struct rn_metrics *m);
void pktmeter_free(struct pktmeter *pm);
/* Meters one frame seen at ts_ms. Returns RN_OK or why it was not metered. */
int pktmeter_frame(struct pktmeter *pm, enum pkt_link link, const uint8_t *buf, size_t len,
                   int64_t ts_ms);
/* Emits what is still tracked (end of input) and flushes. */
void pktmeter_flush(struct pktmeter *pm);
const struct pktmeter_stats *pktmeter_stats(const struct pktmeter *pm);

#endif /* REPNET_COLLECTOR_PKTMETER_H */
