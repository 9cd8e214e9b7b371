/*
 * dns_fuzz.c: the DNS query parser and the DNSBL answer builder, over a
 * small list (one IPv4 host, one IPv4 prefix, one IPv6 prefix). Every
 * input must either be dropped or answered within the buffer; an answer
 * must echo the query's id and carry QR.
 */
#include <stdlib.h>
#include <string.h>

#include "feeds/rbl/dns.h"
#include "feeds/view/view.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct feeds_listview *lv;
static struct feeds_view view;
static struct dnsbl_cfg cfg;

static void setup(void)
{
	static char *zones[] = {"bl.test", "sasl.bl.test:sasl_bruteforce"};
	static char *ns[] = {"ns1.bl.test", "ns2.bl.test"};
	static char *codes[] = {"spam_source=127.0.0.2", "scanner=127.0.0.4"};
	struct feeds_rbl_conf c = {0};
	struct feeds_view_entry e[3];
	char err[256];
	memset(e, 0, sizeof(e));
	c.dnsbl_zones = (struct rn_strlist){zones, 2};
	c.dnsbl_ns = (struct rn_strlist){ns, 2};
	c.dnsbl_codes = (struct rn_strlist){codes, 2};
	c.dnsbl_ttl_ms = 300000;
	c.dnsbl_negative_ttl_ms = 60000;
	c.dnsbl_soa_rname = "hostmaster.bl.test";
	c.dnsbl_reason = "Listed: %c, see https://bl.test/$ %%";
	c.dnsbl_edns_size = 1232;
	if (dnsbl_cfg_build(&cfg, &c, err, sizeof(err)) != RN_OK)
		abort();
	rn_prefix_parse_str("192.0.2.1", true, &e[0].prefix);
	e[0].categories = 1u << RN_CAT_SPAM_SOURCE;
	rn_prefix_parse_str("198.51.100.0/24", true, &e[1].prefix);
	e[1].categories = 1u << RN_CAT_SCANNER | 1u << RN_CAT_SASL_BRUTEFORCE;
	rn_prefix_parse_str("2001:db8::/32", true, &e[2].prefix);
	e[2].categories = 1u << RN_CAT_DROP;
	if (feeds_listview_alloc(&lv, 16) != RN_OK ||
	    feeds_listview_apply(lv, e, 3, NULL, 0) != RN_OK)
		abort();
	feeds_listview_view(lv, &view);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[DNS_MSG_MAX];
	struct dnsbl_result r;
	if (lv == NULL)
		setup();
	for (int tcp = 0; tcp < 2; tcp++) {
		size_t n = dnsbl_respond(&cfg, &view, 1700000000000, data, size, tcp, out,
		                         sizeof(out), &r);
		if (n > sizeof(out))
			abort();
		if (n == 0)
			continue;
		if (n < DNS_HDR_LEN || size < 4 || memcmp(out, data, 2) != 0 || !(out[2] & 0x80))
			abort();
		if (!tcp && n > 4096)
			abort();
		/* A truncated UDP answer carries no records. */
		if (r.truncated && (out[7] != 0 || out[9] != 0))
			abort();
	}
	return 0;
}
