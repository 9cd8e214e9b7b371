/*
 * policy_fuzz.c: the Postfix policy request reader, fed a connection's
 * bytes as the server sees them: requests are taken one after another
 * until the reader needs more or refuses. Each request read must lie
 * inside the input and end with an empty line.
 */
#include <stdlib.h>
#include <string.h>

#include "feeds/rbl/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;
	while (off < size) {
		struct policy_req r;
		size_t used = 0;
		int rc = policy_req_parse(data + off, size - off, &r, &used);
		if (rc != RN_OK)
			break;
		if (used < 2 || used > size - off || data[off + used - 1] != '\n' ||
		    data[off + used - 2] != '\n' || !r.have_request)
			abort();
		if (strlen(r.request) >= POLICY_VALUE_MAX ||
		    strlen(r.client_address) >= POLICY_VALUE_MAX)
			abort();
		off += used;
	}
	return 0;
}
