/*
 * cmd_flows.c: repnet flows, the offline flow decoder.
 *
 * Prints one JSON object per flow record decoded from the NetFlow, IPFIX
 * and sFlow datagrams of a pcap file, or with --summary the totals and
 * defect counts. --detect also runs the flow detectors and prints their
 * observations; --mirror reads the file as mirror-port traffic through the
 * packet meter instead.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cmds.h"
#include "util.h"

struct flows_out {
	bool records;
	bool obs_lines; /* observations as `repnet logs` prints them */
	_Atomic uint64_t printed;
};

static const char *source_label(uint8_t s)
{
	const char *n = rn_source_name(s);
	return n != NULL ? n : "unspecified";
}

/* One flow record as one JSON line into b. */
static void rec_json(struct rn_strbuf *b, const struct collector_flow_rec *x)
{
	char ex[RN_ADDR_STRLEN], a[RN_ADDR_STRLEN];
	struct rn_jsonw w;
	rn_jsonw_init(&w, b);
	rn_jsonw_obj_begin(&w);
	rn_jsonw_kv_uint(&w, "version", x->version);
	rn_jsonw_kv_str(&w, "source", source_label(x->source));
	rn_addr_format(&x->exporter, ex, sizeof(ex));
	bool v6 = x->exporter.family == RN_AF_INET6;
	char exp[RN_ADDR_STRLEN + 8];
	snprintf(exp, sizeof(exp), "%s%s%s:%u", v6 ? "[" : "", ex, v6 ? "]" : "", x->exporter_port);
	rn_jsonw_kv_str(&w, "exporter", exp);
	rn_jsonw_kv_uint(&w, "domain", x->domain);
	rn_addr_format(&x->src, a, sizeof(a));
	rn_jsonw_kv_str(&w, "src", a);
	rn_addr_format(&x->dst, a, sizeof(a));
	rn_jsonw_kv_str(&w, "dst", a);
	rn_jsonw_kv_uint(&w, "sport", x->sport);
	rn_jsonw_kv_uint(&w, "dport", x->dport);
	rn_jsonw_kv_uint(&w, "proto", x->proto);
	rn_jsonw_kv_uint(&w, "tcp_flags", x->tcp_flags);
	rn_jsonw_kv_uint(&w, "packets", x->packets);
	rn_jsonw_kv_uint(&w, "bytes", x->bytes);
	rn_jsonw_kv_time(&w, "first", x->first_ms, true);
	rn_jsonw_kv_time(&w, "last", x->last_ms, true);
	if (x->flags & COLLECTOR_FLOW_BIFLOW) {
		rn_jsonw_kv_uint(&w, "reverse_packets", x->rev_packets);
		rn_jsonw_kv_uint(&w, "reverse_bytes", x->rev_bytes);
		rn_jsonw_kv_uint(&w, "reverse_tcp_flags", x->rev_tcp_flags);
	}
	if (x->flags & COLLECTOR_FLOW_SAMPLED) {
		rn_jsonw_kv_uint(&w, "sampling", x->sampling);
		rn_jsonw_kv_bool(&w, "scaled", (x->flags & COLLECTOR_FLOW_SCALED) != 0);
	}
	if (x->flags & COLLECTOR_FLOW_COMPLETED)
		rn_jsonw_kv_bool(&w, "handshake", true);
	if (x->flags & COLLECTOR_FLOW_NOTIME)
		rn_jsonw_kv_str(&w, "times", "arrival");
	rn_jsonw_obj_end(&w);
	cli_json_print(stdout, &w, b);
}

static void print_rec(void *arg, const struct collector_flow_rec *r, size_t n)
{
	struct flows_out *fo = arg;
	if (!fo->records) {
		atomic_fetch_add(&fo->printed, n);
		return;
	}
	/* Live workers print concurrently: one record is one locked write. */
	flockfile(stdout);
	for (size_t i = 0; i < n; i++) {
		char line[1024];
		struct rn_strbuf b;
		rn_strbuf_init_fixed(&b, line, sizeof(line));
		rec_json(&b, &r[i]);
		atomic_fetch_add(&fo->printed, 1);
	}
	fflush(stdout);
	funlockfile(stdout);
}

static void print_obs(void *arg, const struct rn_obs *o, size_t n)
{
	const struct flows_out *fo = arg;
	flockfile(stdout);
	for (size_t i = 0; i < n; i++) {
		if (fo != NULL && fo->obs_lines) {
			/* The line format of repnet logs, which repnet score reads. */
			cli_obs_print(stdout, &o[i]);
			continue;
		}
		/* Beside flow records: the same object, marked as an observation. */
		char line[2048];
		struct rn_strbuf b;
		struct rn_jsonw w;
		rn_strbuf_init_fixed(&b, line, sizeof(line));
		rn_jsonw_init(&w, &b);
		rn_jsonw_obj_begin(&w);
		rn_jsonw_key(&w, "observation");
		rn_obs_json_write(&w, &o[i]);
		rn_jsonw_obj_end(&w);
		cli_json_print(stdout, &w, &b);
	}
	fflush(stdout);
	funlockfile(stdout);
}

static void print_summary(const struct collector_flow_totals *t)
{
	char line[1024];
	struct rn_strbuf b;
	struct rn_jsonw w;
	rn_strbuf_init_fixed(&b, line, sizeof(line));
	rn_jsonw_init(&w, &b);
	rn_jsonw_obj_begin(&w);
	rn_jsonw_kv_uint(&w, "datagrams", t->datagrams);
	rn_jsonw_kv_uint(&w, "flows", t->records);
	rn_jsonw_kv_uint(&w, "packets", t->packets);
	rn_jsonw_kv_uint(&w, "bytes", t->bytes);
	rn_jsonw_kv_uint(&w, "not_flow", t->not_flow);
	rn_jsonw_kv_uint(&w, "refused", t->refused);
	rn_jsonw_kv_uint(&w, "templates", t->templates);
	rn_jsonw_kv_uint(&w, "templates_evicted", t->templates_evicted);
	rn_jsonw_kv_uint(&w, "templates_expired", t->templates_expired);
	rn_jsonw_kv_uint(&w, "observations", t->observations);
	rn_jsonw_key(&w, "defects");
	rn_jsonw_obj_begin(&w);
	rn_jsonw_kv_uint(&w, "unknown_template", t->unknown_template);
	rn_jsonw_kv_uint(&w, "truncated", t->truncated);
	rn_jsonw_kv_uint(&w, "bad_length", t->bad_length);
	rn_jsonw_kv_uint(&w, "bad_template", t->bad_template);
	rn_jsonw_kv_uint(&w, "bad_version", t->bad_version);
	rn_jsonw_kv_uint(&w, "template_limit", t->template_limit);
	rn_jsonw_kv_uint(&w, "sequence_gaps", t->sequence_gaps);
	rn_jsonw_obj_end(&w);
	rn_jsonw_obj_end(&w);
	cli_json_print(stdout, &w, &b);
}

/*
 * Live: the collector of the configuration, records printed as they are
 * decoded, until `count` records, `seconds`, or SIGINT/SIGTERM.
 */
static int flows_live(struct daemon_conf *c, struct flows_out *fo, bool summary, bool detect,
                      uint64_t count, unsigned seconds)
{
	struct collector_flow_rec_sink rs = {.rec = print_rec, .arg = fo};
	struct collector_sink os = {.emit = print_obs, .arg = fo};
	struct collector_flow *f = NULL;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	int rc = rn_mkdirs(c->core.data_dir, 0750);
	if (rc == RN_OK)
		rc = collector_flow_start(&f, &c->collector.flow, c->core.data_dir, NULL, &rs,
		                          detect ? &os : NULL);
	if (rc != RN_OK) {
		fprintf(stderr, "repnet: flow collector: %s\n", rn_strerror(rc));
		return 1;
	}
	fprintf(stderr, "repnet: receiving: netflow port %u, ipfix port %u, sflow port %u\n",
	        collector_flow_port(f, 0), collector_flow_port(f, 1), collector_flow_port(f, 2));
	int64_t end = rn_time_mono_ms() + (int64_t)seconds * 1000;
	for (;;) {
		if (count > 0 && atomic_load(&fo->printed) >= count)
			break;
		if (seconds > 0 && rn_time_mono_ms() >= end)
			break;
		struct timespec ts = {.tv_nsec = 50 * 1000000};
		if (sigtimedwait(&set, NULL, &ts) > 0)
			break;
	}
	struct collector_flow_totals t;
	collector_flow_totals_get(f, &t);
	collector_flow_stop(f);
	if (summary)
		print_summary(&t);
	return 0;
}

/*
 * repnet flows [--summary] [--detect | --obs] [--mirror] [-c FILE] [-o k=v]... FILE.pcap
 * repnet flows --live [--count N] [--seconds S] [--summary] [--detect] [-c FILE] [-o k=v]...
 */
int cmd_flows(int argc, char **argv)
{
	static const struct option lopts[] = {{"summary", no_argument, NULL, 's'},
	                                      {"detect", no_argument, NULL, 'D'},
	                                      {"mirror", no_argument, NULL, 'm'},
	                                      {"config", required_argument, NULL, 'c'},
	                                      {"live", no_argument, NULL, 'L'},
	                                      {"count", required_argument, NULL, 'n'},
	                                      {"seconds", required_argument, NULL, 't'},
	                                      {"obs", no_argument, NULL, 'O'},
	                                      {NULL, 0, NULL, 0}};
	bool summary = false, detect = false, mirror = false, live = false, obs = false;
	uint64_t count = 0;
	unsigned seconds = 0;
	struct conf_args ca;
	int ch, code = 1;

	if (conf_args_init(&ca, argc) != RN_OK)
		return 1;
	while ((ch = conf_args_getopt(&ca, argc, argv, "c:o:", lopts)) != -1) {
		switch (ch) {
		case 's':
			summary = true;
			break;
		case 'D':
			detect = true;
			break;
		case 'O':
			obs = detect = true;
			break;
		case 'm':
			mirror = true;
			break;
		case 'L':
			live = true;
			break;
		case 'n':
			count = strtoull(optarg, NULL, 10);
			break;
		case 't':
			seconds = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			conf_args_free(&ca);
			return 2;
		}
	}
	if (optind + (live ? 0 : 1) != argc || (live && mirror)) {
		conf_args_free(&ca);
		return 2;
	}
	struct daemon_conf c;
	if (conf_args_load(&ca, "repnet", &c) != RN_OK) {
		conf_args_free(&ca);
		return 1;
	}
	struct flows_out fo = {.records = !summary && !obs, .obs_lines = obs};
	if (live) {
		c.collector.flow.detect = detect;
		code = flows_live(&c, &fo, summary, detect, count, seconds);
		daemon_conf_release(&c);
		conf_args_free(&ca);
		return code;
	}
	struct collector_flow_rec_sink rs = {.rec = print_rec, .arg = &fo};
	struct collector_sink os = {.emit = print_obs, .arg = &fo};
	struct collector_flow_totals t;
	c.collector.flow.detect = detect;
	int rc = collector_flow_pcap(argv[optind], &c.collector.flow, mirror, &rs,
	                             detect ? &os : NULL, &t);
	if (rc != RN_OK) {
		fprintf(stderr, "repnet: %s: %s\n", argv[optind], rn_strerror(rc));
	} else {
		code = 0;
		if (summary)
			print_summary(&t);
	}
	fflush(stdout);
	daemon_conf_release(&c);
	conf_args_free(&ca);
	return code;
}
