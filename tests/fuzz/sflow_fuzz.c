/*
 * sflow_fuzz.c: the sFlow v5 decoder on one datagram (tests/fuzz/flow_fuzz.h).
 */
#include "tests/fuzz/flow_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return flow_fuzz_one(sflow_decode, data, size);
}
