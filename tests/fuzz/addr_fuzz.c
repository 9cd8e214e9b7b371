/*
 * addr_fuzz.c: the address, prefix and host:port parsers. Whatever parses
 * must format and parse back to the same value, and the C library must
 * agree that it is an address.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rn_addr a, b;
	struct rn_prefix p, q;
	char s[RN_PREFIX_STRLEN];

	if (rn_addr_parse(data, size, &a) == RN_OK) {
		size_t n = rn_addr_format(&a, s, sizeof(s));
		if (n == 0 || rn_addr_parse_str(s, &b) != RN_OK || !rn_addr_equal(&a, &b))
			abort();
		char z[64];
		uint8_t out[16];
		if (size >= sizeof(z))
			abort();
		memcpy(z, data, size);
		z[size] = '\0';
		if (inet_pton(memchr(data, ':', size) ? AF_INET6 : AF_INET, z, out) != 1)
			abort();
	}
	for (int strict = 0; strict < 2; strict++) {
		if (rn_prefix_parse(data, size, strict, &p) != RN_OK)
			continue;
		struct rn_addr m = p.addr;
		rn_addr_mask(&m, p.len);
		if (!rn_addr_equal(&m, &p.addr) || p.len > rn_addr_maxlen(&p.addr))
			abort();
		size_t n = rn_prefix_format(&p, s, sizeof(s));
		if (n == 0 || rn_prefix_parse_str(s, true, &q) != RN_OK || q.len != p.len ||
		    !rn_addr_equal(&q.addr, &p.addr) || !rn_prefix_contains(&p, &p.addr))
			abort();
	}
	if (size < 128) {
		char z[128];
		memcpy(z, data, size);
		z[size] = '\0';
		struct sockaddr_storage ss;
		unsigned len;
		if (strlen(z) == size && rn_hostport_parse(z, &ss, &len) == RN_OK) {
			char back[64];
			struct sockaddr_storage ss2;
			rn_sockaddr_format(&ss, back, sizeof(back));
			if (rn_hostport_parse(back, &ss2, &len) != RN_OK ||
			    memcmp(&ss, &ss2, sizeof(ss)) != 0)
				abort();
		}
	}
	return 0;
}
