/*
 * exim_fuzz.c: the Exim parser on one message, and Exim mainlog lines
 * through the pipeline (wrapper, parser, detectors).
 */
#include <stdlib.h>

#include "collector/smtp.h"

static struct collector_smtp_conf conf = {
        .max_line = 4096,
        .format = COLLECTOR_SMTP_EXIM,
        .detect = true,
        .det_max_addrs = 1024,
        .det_max_users = 64,
        .det_max_qids = 64,
        .sasl_fast_window_ms = 600000,
        .sasl_fast_threshold = 2,
        .sasl_slow_window_ms = 3600000,
        .sasl_slow_threshold = 3,
        .sasl_dist_window_ms = 3600000,
        .sasl_dist_addrs = 2,
        .harvest_window_ms = 60000,
        .harvest_threshold = 2,
        .bot_window_ms = 60000,
        .bot_threshold = 1,
        .bot_w_pregreet = 1,
        .bot_w_pipelining = 1,
        .bot_w_non_smtp = 1,
        .bot_w_hangup = 0.5,
        .bot_w_protocol = 0.25,
        .relay_window_ms = 60000,
        .relay_threshold = 1,
        .flood_window_ms = 60000,
        .flood_threshold = 3,
        .rbl_window_ms = 60000,
};

static void check(void *arg, const struct rn_obs *obs, size_t n)
{
	(void)arg;
	for (size_t i = 0; i < n; i++)
		if (obs[i].addr.family == 0 || obs[i].kind == 0 || obs[i].source != RN_SRC_EXIM)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *trap = "trap@example.org";
	conf.spamtraps.v = &trap;
	conf.spamtraps.n = 1;

	struct smtp_event ev;
	int v = exim_parse(data, size, &ev);
	if (v == SMTP_EVENT &&
	    (ev.addr.family == 0 || ev.kind == 0 || ev.ev_len >= RN_EVIDENCE_MAX))
		abort();

	struct collector_smtp_opts opts = {.format = -1, .detect = true, .ref_ms = 1796000000000LL};
	static const uint8_t key[32];
	opts.key = key;
	struct collector_sink sink = {.emit = check};
	struct collector_smtp *p = NULL;
	if (collector_smtp_alloc(&p, &conf, &opts, &sink) != RN_OK)
		return 0;
	(void)collector_smtp_feed(p, data, size);
	(void)collector_smtp_flush(p);
	collector_smtp_free(p);
	return 0;
}
