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
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cmds.h"

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
		const struct collector_flow_rec *x = &r[i];
		char ex[RN_ADDR_STRLEN], s[RN_ADDR_STRLEN], d[RN_ADDR_STRLEN];
		char tf[RN_TIME_STRLEN], tl[RN_TIME_STRLEN];
		rn_addr_format(&x->exporter, ex, sizeof(ex));
		rn_addr_format(&x->src, s, sizeof(s));
		rn_addr_format(&x->dst, d, sizeof(d));
		rn_time_format(x->first_ms, true, tf, sizeof(tf));
		rn_time_format(x->last_ms, true, tl, sizeof(tl));
		bool v6 = x->exporter.family == RN_AF_INET6;
		printf("{\"version\":%u,\"source\":\"%s\",\"exporter\":\"%s%s%s:%u\",\"domain\":"
		       "%" PRIu32
		       ",\"src\":\"%s\",\"dst\":\"%s\",\"sport\":%u,\"dport\":%u,\"proto\":%u,"
		       "\"tcp_flags\":%u,\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64
		       ",\"first\":\"%s\",\"last\":\"%s\"",
		       x->version, source_label(x->source), v6 ? "[" : "", ex, v6 ? "]" : "",
		       x->exporter_port, x->domain, s, d, x->sport, x->dport, x->proto,
		       x->tcp_flags, x->packets, x->bytes, tf, tl);
		if (x->flags & COLLECTOR_FLOW_BIFLOW)
			printf(",\"reverse_packets\":%" PRIu64 ",\"reverse_bytes\":%" PRIu64
			       ",\"reverse_tcp_flags\":%u",
			       x->rev_packets, x->rev_bytes, x->rev_tcp_flags);
		if (x->flags & COLLECTOR_FLOW_SAMPLED)
			printf(",\"sampling\":%" PRIu32 ",\"scaled\":%s", x->sampling,
			       (x->flags & COLLECTOR_FLOW_SCALED) ? "true" : "false");
		if (x->flags & COLLECTOR_FLOW_COMPLETED)
			printf(",\"handshake\":true");
		if (x->flags & COLLECTOR_FLOW_NOTIME)
			printf(",\"times\":\"arrival\"");
		printf("}\n");
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
		char a[RN_ADDR_STRLEN], t[RN_TIME_STRLEN], ev[RN_EVIDENCE_MAX * 2];
		rn_addr_format(&o[i].addr, a, sizeof(a));
		rn_time_format(o[i].ts_ms, true, t, sizeof(t));
		rn_metrics_escape(o[i].evidence, ev, sizeof(ev));
		if (fo != NULL && fo->obs_lines) {
			/* The line format of repnet logs, which repnet score reads. */
			printf("{\"ts\":\"%s\",\"ip\":\"%s\",\"kind\":\"%s\",\"source\":\"%s\","
			       "\"evidence\":\"%s\",\"count\":%" PRIu32 "}\n",
			       t, a, rn_kind_name(o[i].kind), source_label(o[i].source), ev,
			       o[i].count);
			continue;
		}
		printf("{\"observation\":{\"addr\":\"%s\",\"kind\":\"%s\",\"count\":%" PRIu32
		       ",\"ts\":\"%s\",\"source\":\"%s\",\"evidence\":\"%s\"}}\n",
		       a, rn_kind_name(o[i].kind), o[i].count, t, source_label(o[i].source), ev);
	}
	fflush(stdout);
	funlockfile(stdout);
}

static void print_summary(const struct collector_flow_totals *t)
{
	printf("{\"datagrams\":%" PRIu64 ",\"flows\":%" PRIu64 ",\"packets\":%" PRIu64
	       ",\"bytes\":%" PRIu64 ",\"not_flow\":%" PRIu64 ",\"templates\":%" PRIu64
	       ",\"observations\":%" PRIu64 ",\"defects\":{\"unknown_template\":%" PRIu64
	       ",\"truncated\":%" PRIu64 ",\"bad_length\":%" PRIu64 ",\"bad_template\":%" PRIu64
	       ",\"bad_version\":%" PRIu64 ",\"sequence_gaps\":%" PRIu64 "}}\n",
	       t->datagrams, t->records, t->packets, t->bytes, t->not_flow, t->templates,
	       t->observations, t->unknown_template, t->truncated, t->bad_length, t->bad_template,
	       t->bad_version, t->sequence_gaps);
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
	const char *path = NULL;
	bool summary = false, detect = false, mirror = false, live = false, obs = false;
	uint64_t count = 0;
	unsigned seconds = 0;
	const char **ov = calloc((size_t)argc + 1, sizeof(*ov));
	size_t nov = 0;
	int ch, code = 1;

	if (ov == NULL)
		return 1;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:o:", lopts, NULL)) != -1) {
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
		case 'c':
			path = optarg;
			break;
		case 'o':
			ov[nov++] = optarg;
			break;
		default:
			free(ov);
			return 2;
		}
	}
	if (optind + (live ? 0 : 1) != argc || (live && mirror)) {
		free(ov);
		return 2;
	}
	struct daemon_conf c;
	struct rn_conf_error err;
	if (daemon_conf_load(&c, path, ov, &err) != RN_OK) {
		char msg[1024];
		rn_conf_error_format(&err, msg, sizeof(msg));
		fprintf(stderr, "repnet: %s\n", msg);
		free(ov);
		return 1;
	}
	struct flows_out fo = {.records = !summary && !obs, .obs_lines = obs};
	if (live) {
		c.collector.flow.detect = detect;
		code = flows_live(&c, &fo, summary, detect, count, seconds);
		daemon_conf_release(&c);
		free(ov);
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
	free(ov);
	return code;
}
