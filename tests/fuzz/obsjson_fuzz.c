/*
 * obsjson_fuzz.c: the JSON-lines observation reader. What parses is a
 * valid observation: a known kind, a count of at least one, a prefix
 * length that fits the address, an evidence code without control bytes.
 * And it writes back as a line that reads back as the same observation.
 */
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rn_obs o, back;
	char err[256];
	if (rn_obs_json_parse(data, size, &o, err, sizeof(err)) != RN_OK) {
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
	char line[1024];
	struct rn_strbuf b;
	rn_strbuf_init_fixed(&b, line, sizeof(line));
	if (rn_obs_json_line(&b, &o) != RN_OK)
		abort();
	if (rn_obs_json_parse((const uint8_t *)line, rn_strbuf_len(&b), &back, err, sizeof(err)) !=
	    RN_OK)
		abort();
	if (back.ts_ms != o.ts_ms || !rn_addr_equal(&back.addr, &o.addr) ||
	    back.prefix_len != o.prefix_len || back.kind != o.kind || back.source != o.source ||
	    back.count != o.count || strcmp(back.evidence, o.evidence) != 0)
		abort();
	return 0;
}
