/*
 * capture_filter.c: the classic BPF filter of the TPACKET path, compiled
 * by libpcap. Kept apart from capture_helper.c because libpcap's BPF
 * header and the kernel's cannot be included in one file.
 */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>

#include "collector/capture.h"

int capture_filter_compile(const uint16_t *ports, size_t n, struct capture_bpf_insn **out,
                           size_t *len)
{
	char expr[256] = "udp and (";
	size_t o = strlen(expr);
	struct bpf_program prog;

	for (size_t i = 0; i < n && o < sizeof(expr); i++)
		o += (size_t)snprintf(expr + o, sizeof(expr) - o, "%sdst port %u", i ? " or " : "",
		                      ports[i]);
	if (o >= sizeof(expr) - 2)
		return RN_ELIMIT;
	snprintf(expr + o, sizeof(expr) - o, ")");
	pcap_t *dead = pcap_open_dead(DLT_EN10MB, 65535);
	if (dead == NULL)
		return -ENOMEM;
	if (pcap_compile(dead, &prog, expr, 1, PCAP_NETMASK_UNKNOWN) != 0) {
		pcap_close(dead);
		return RN_EPARSE;
	}
	pcap_close(dead);
	struct capture_bpf_insn *v = calloc(prog.bf_len, sizeof(*v));
	if (v == NULL) {
		pcap_freecode(&prog);
		return -ENOMEM;
	}
	for (u_int i = 0; i < prog.bf_len; i++)
		v[i] = (struct capture_bpf_insn){.code = prog.bf_insns[i].code,
		                                 .jt = prog.bf_insns[i].jt,
		                                 .jf = prog.bf_insns[i].jf,
		                                 .k = prog.bf_insns[i].k};
	*len = prog.bf_len;
	*out = v;
	pcap_freecode(&prog);
	return RN_OK;
}
