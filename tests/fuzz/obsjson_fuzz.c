/*
 * obsjson_fuzz.c: the JSON-lines observation reader. What parses is a
 * valid observation: a known kind, a count of at least one, a prefix
 * length that fits the address, an evidence code without control bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "scoring/scoring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rn_obs o;
	char err[256];
	if (scoring_obs_from_json(data, size, &o, err, sizeof(err)) != RN_OK) {
		if (memchr(err, '\0', sizeof(err)) == NULL)
			abort();
		return 0;
	}
	if (rn_kind_name(o.kind) == NULL || o.kind == 0 || o.count == 0 ||
	    o.prefix_len > rn_addr_maxlen(&o.addr) || o.source >= RN_SRC_COUNT ||
	    memchr(o.evidence, '\0', sizeof(o.evidence)) == NULL)
		abort();
	for (size_t i = 0; o.evidence[i]; i++)
		if ((uint8_t)o.evidence[i] < 0x20)
			abort();
	return 0;
}
