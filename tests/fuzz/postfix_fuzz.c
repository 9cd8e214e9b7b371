/*
 * postfix_fuzz.c: the syslog wrapper and the Postfix parser, and the
 * pipeline's detectors over what they produce.
 *
 * The first input byte picks the program tag (the parser is reached both
 * with a daemon name and with "postfix" alone); the rest is one or more
 * log lines. Every event must carry an address and a kind in the SMTP
 * range, and evidence within its bound.
 */
#include <stdlib.h>

#include "collector/smtp.h"

static const char *const progs[] = {
        "postfix/smtpd", "postfix/postscreen", "postfix/dnsblog",          "postfix/cleanup",
        "postfix",       "postfix/qmgr",       "postfix/submission/smtpd", "postfix/virtual"};

static struct collector_smtp_conf conf = {
        .max_line = 4096,
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
	for (size_t i = 0; i < n; i++) {
		if (obs[i].addr.family != RN_AF_INET && obs[i].addr.family != RN_AF_INET6)
			abort();
		if (obs[i].kind == 0 || rn_kind_name(obs[i].kind) == NULL)
			abort();
		if (strnlen(obs[i].evidence, RN_EVIDENCE_MAX) >= RN_EVIDENCE_MAX)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *trap = "trap@example.org";
	static char *zone = "zen.test";
	if (size < 1)
		return 0;
	conf.spamtraps.v = &trap;
	conf.spamtraps.n = 1;
	conf.rbl_zones.v = &zone;
	conf.rbl_zones.n = 1;

	/* The parser alone, on the whole input as one message. */
	struct smtp_event ev;
	const char *prog = progs[data[0] % RN_ARRAY_LEN(progs)];
	int v = postfix_parse((const uint8_t *)prog, strlen(prog), data + 1, size - 1, &ev);
	if (v == SMTP_EVENT &&
	    (ev.addr.family == 0 || ev.kind == 0 || ev.ev_len >= RN_EVIDENCE_MAX))
		abort();

	/* The pipeline on the input as log lines. */
	struct collector_smtp_opts opts = {
	        .format = COLLECTOR_SMTP_AUTO, .detect = true, .ref_ms = 1796000000000LL};
	struct collector_sink sink = {.emit = check};
	struct collector_smtp *p = NULL;
	static const uint8_t key[32];
	opts.key = key;
	if (collector_smtp_alloc(&p, &conf, &opts, &sink) != RN_OK)
		return 0;
	(void)collector_smtp_feed(p, data + 1, size - 1);
	(void)collector_smtp_flush(p);
	collector_smtp_free(p);
	return 0;
}
