/*
 * pcap_file.c: the collector's pcap reader: frames of a capture file with
 * the link type to parse them with, or the UDP datagrams they carry.
 *
 * Design notes: libpcap reads the file and lends each frame until the
 * next read; nothing is copied. Frames are parsed by pkt_parse(), so a
 * datagram here is exactly what the live paths would decode: unfragmented
 * UDP over IPv4 or IPv6, its payload bounded by the UDP length and by what
 * the capture holds. Fragments cannot be delivered without reassembly and
 * are skipped like any other frame that is not a UDP datagram, and
 * counted. The capture time is kept in milliseconds, as event time is
 * everywhere else. A reader is used by one thread at a time.
 */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdlib.h>

#include "collector/flow.h"

struct collector_pcap {
	pcap_t *p;
	char *path; /* for messages */
	enum pkt_link link;
	uint64_t skipped;
};

static int link_of(int dlt, enum pkt_link *out)
{
	switch (dlt) {
	case DLT_EN10MB:
		*out = PKT_LINK_ETHER;
		return RN_OK;
	case DLT_LINUX_SLL:
		*out = PKT_LINK_SLL;
		return RN_OK;
	case DLT_RAW:
	case 101: /* LINKTYPE_RAW, when not mapped */
		*out = PKT_LINK_RAW;
		return RN_OK;
	case DLT_NULL:
	case DLT_LOOP:
		*out = PKT_LINK_NULL;
		return RN_OK;
	default:
		return RN_EUNSUPP;
	}
}

int collector_pcap_open(struct collector_pcap **out, const char *path)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	struct collector_pcap *r = calloc(1, sizeof(*r));
	int rc;

	if (r == NULL)
		return -ENOMEM;
	r->path = strdup(path);
	if (r->path == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	r->p = pcap_open_offline(path, errbuf);
	if (r->p == NULL) {
		log_warnx("%s: %s", path, errbuf);
		rc = RN_EPARSE;
		goto fail;
	}
	rc = link_of(pcap_datalink(r->p), &r->link);
	if (rc != RN_OK) {
		log_warnx("%s: link type %d is not supported", path, pcap_datalink(r->p));
		goto fail;
	}
	*out = r;
	return RN_OK;
fail:
	collector_pcap_close(r);
	return rc;
}

void collector_pcap_close(struct collector_pcap *r)
{
	if (r == NULL)
		return;
	if (r->p != NULL)
		pcap_close(r->p);
	free(r->path);
	free(r);
}

enum pkt_link flow_pcap_link(const struct collector_pcap *r)
{
	return r->link;
}

int flow_pcap_next_frame(struct collector_pcap *r, const uint8_t **frame, size_t *len,
                         int64_t *ts_ms)
{
	struct pcap_pkthdr *h;
	const u_char *data;
	int n = pcap_next_ex(r->p, &h, &data);
	if (n == 1) {
		*frame = data;
		*len = h->caplen;
		*ts_ms = (int64_t)h->ts.tv_sec * 1000 + h->ts.tv_usec / 1000;
		return 1;
	}
	if (n == -1) {
		log_warnx("%s: %s", r->path, pcap_geterr(r->p));
		return RN_ETRUNC;
	}
	return 0; /* -2: the end of the file */
}

int collector_pcap_next_udp(struct collector_pcap *r, struct collector_pcap_udp *u)
{
	const uint8_t *frame;
	size_t len;
	int64_t ts;
	int n;

	while ((n = flow_pcap_next_frame(r, &frame, &len, &ts)) == 1) {
		struct pkt_info pi;
		if (pkt_parse(r->link, frame, len, &pi) != RN_OK || pi.proto != 17 || pi.fragment ||
		    pi.payload == NULL) {
			r->skipped++;
			continue;
		}
		*u = (struct collector_pcap_udp){.src = pi.src,
		                                 .dst = pi.dst,
		                                 .sport = pi.sport,
		                                 .dport = pi.dport,
		                                 .ts_ms = ts,
		                                 .payload = pi.payload,
		                                 .len = pi.payload_len};
		return 1;
	}
	return n;
}

uint64_t collector_pcap_skipped(const struct collector_pcap *r)
{
	return r->skipped;
}
