/*
 * nlreply_fuzz.c: the netlink reply parser (feeds/nlreply.c) on arbitrary
 * datagrams: framing, ACKs and errors with extended ACK attributes, the
 * end of dumps, and every nf_tables and ipset object parser on every
 * message. The seeds are real kernel answers (nlreply_capture.py).
 */
#include <stdint.h>
#include <string.h>
#include <linux/netlink.h>

#include "feeds/nfapply/netlink.h"

static int elem_cb(const struct nlr_elem *e, void *arg)
{
	size_t *n = arg;
	/* Touch what the parser hands out: the fuzzer checks the bounds. */
	if (e->key != NULL && e->klen > 0)
		*n += e->key[e->klen - 1];
	if (e->key_end != NULL && e->kelen > 0)
		*n += e->key_end[0];
	return RN_OK;
}

static int member_cb(const uint8_t *addr, size_t alen, unsigned cidr, void *arg)
{
	size_t *n = arg;
	*n += addr[alen - 1] + cidr;
	return RN_OK;
}

static int msg_cb(const struct nlr_msg *m, void *arg)
{
	struct nlr_err e;
	struct nlr_nfgen g;
	int status;
	uint32_t u;
	if (m->type == NLMSG_ERROR) {
		if (nlr_parse_error(m, &e) == RN_OK && e.text != NULL)
			*(size_t *)arg += strlen(e.text);
		(void)nlr_ipset_err_lineno(m, &u);
		return RN_OK;
	}
	if (m->type == NLMSG_DONE) {
		(void)nlr_parse_done(m, &status);
		return RN_OK;
	}
	if (nlr_nfgen(m, &g) != RN_OK)
		return RN_OK;
	struct nlr_elems eh;
	struct nlr_set s;
	struct nlr_chain c;
	struct nlr_rule r;
	struct nlr_table t;
	struct nlr_ipset h;
	(void)nlr_nft_elems(&g, &eh, elem_cb, arg);
	(void)nlr_nft_set(&g, &s);
	(void)nlr_nft_chain(&g, &c);
	if (nlr_nft_rule(&g, &r) == RN_OK && r.lookup_set.s != NULL)
		*(size_t *)arg += strlen(r.lookup_set.s);
	(void)nlr_nft_gen(&g, &u);
	(void)nlr_nft_table(&g, &t);
	(void)nlr_ipset(&g, &h, member_cb, arg);
	return RN_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n = 0;
	(void)nlr_walk(data, size, msg_cb, &n);
	return 0;
}
