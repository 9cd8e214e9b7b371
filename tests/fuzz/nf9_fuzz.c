/*
 * nf9_fuzz.c: the NetFlow v9 decoder on one datagram (tests/fuzz/flow_fuzz.h).
 */
#include "tests/fuzz/flow_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return flow_fuzz_one(nf9_decode, data, size);
}
