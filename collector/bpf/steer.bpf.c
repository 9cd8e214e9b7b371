/*
 * steer.bpf.c: the XDP program of the AF_XDP capture path.
 *
 * UDP datagrams (IPv4 or IPv6, behind at most one VLAN tag, not
 * fragmented) to one of the configured destination ports are redirected
 * to the AF_XDP socket of their receive queue; everything else passes to
 * the kernel untouched. On a mirror port ("all"), every frame goes to the
 * socket. Until the helper has filled steer_conf, everything passes.
 * Every header access is bounds-checked, as the verifier demands.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct steer_conf {
	__u32 all;
	__u32 nports;
	__u16 ports[8];
};

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} xsks_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct steer_conf);
} steer_conf SEC(".maps");

struct vlan_hdr {
	__be16 tci;
	__be16 proto;
};

SEC("xdp")
int repnet_steer(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	struct steer_conf *c = bpf_map_lookup_elem(&steer_conf, &zero);

	if (c == 0 || (c->all == 0 && c->nports == 0))
		return XDP_PASS;
	if (c->all)
		return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);

	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	__u16 proto = eth->h_proto;
	void *l3 = eth + 1;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		struct vlan_hdr *v = l3;
		if ((void *)(v + 1) > end)
			return XDP_PASS;
		proto = v->proto;
		l3 = v + 1;
	}
	__u8 ipproto;
	void *l4;
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;
		if ((void *)(ip + 1) > end)
			return XDP_PASS;
		if (ip->frag_off & bpf_htons(0x3fff))
			return XDP_PASS;
		if (ip->ihl < 5)
			return XDP_PASS;
		ipproto = ip->protocol;
		l4 = (__u8 *)ip + ip->ihl * 4;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;
		if ((void *)(ip6 + 1) > end)
			return XDP_PASS;
		ipproto = ip6->nexthdr;
		l4 = ip6 + 1;
	} else {
		return XDP_PASS;
	}
	if (ipproto != IPPROTO_UDP)
		return XDP_PASS;
	struct udphdr *u = l4;
	if ((void *)(u + 1) > end)
		return XDP_PASS;
	__u16 dp = bpf_ntohs(u->dest);
#pragma unroll
	for (int i = 0; i < 8; i++) {
		if (i >= c->nports)
			break;
		if (c->ports[i] == dp)
			return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
