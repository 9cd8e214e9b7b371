/*
 * pktmeter_fuzz.c: the mirror-port packet parser and meter. One input is
 * a sequence of frames: 1 byte of time step (ms), 2 bytes of length, the
 * frame. A tiny connection table makes evictions and sweeps happen.
 */
#include <stdlib.h>

#include "collector/pktmeter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_rec(void *arg, const struct collector_flow_rec *r, size_t n)
{
	(void)arg;
	for (size_t i = 0; i < n; i++)
		if (r[i].src.family != RN_AF_INET && r[i].src.family != RN_AF_INET6)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct collector_flow_rec_sink s = {.rec = on_rec};
	struct pktmeter *pm;
	struct rn_cur c;
	int64_t t = 1768471200000;

	if (pktmeter_alloc(&pm, 16, 1000, &s, NULL) != RN_OK)
		abort();
	rn_cur_init(&c, data, size);
	while (rn_cur_left(&c) >= 3) {
		uint8_t step = rn_cur_u8(&c);
		uint16_t n = rn_cur_u16(&c);
		if (n > rn_cur_left(&c))
			n = (uint16_t)rn_cur_left(&c);
		const uint8_t *p = rn_cur_bytes(&c, n);
		t += step;
		(void)pktmeter_frame(pm, (step & 0x80) ? PKT_LINK_RAW : PKT_LINK_ETHER, p, n, t);
	}
	pktmeter_flush(pm);
	pktmeter_free(pm);
	return 0;
}
