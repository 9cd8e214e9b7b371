/*
 * cmd_status.c: repnet status and repnet feed status, read from a running
 * repnetd's GET /status and /metrics.
 *
 * Design notes: /status is a small JSON object (roles.c writes it); this
 * reads the few fields it prints with a tolerant scan rather than a JSON
 * library, since the producer is our own daemon and --json prints the
 * object untouched for anything else.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "util.h"

/* The raw text of "key": value inside obj (a number, true/false, or "string"). */
static const char *field(const char *obj, const char *key, char *out, size_t len)
{
	char pat[80];
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	const char *p = strstr(obj, pat);
	out[0] = '\0';
	if (p == NULL)
		return out;
	p += strlen(pat);
	size_t n = 0;
	if (*p == '"') {
		p++;
		while (*p && *p != '"' && n + 1 < len)
			out[n++] = *p++;
	} else {
		while (*p && *p != ',' && *p != '}' && n + 1 < len)
			out[n++] = *p++;
	}
	out[n] = '\0';
	return out;
}

/* Prints one feed object (publisher or subscription) starting at obj. */
static void feed_line(const char *label, const char *obj)
{
	char pub[80], ep[32], seq[32], dig[80], listed[32], age[32], sync[16], q[16], rej[256];
	field(obj, "publisher", pub, sizeof(pub));
	field(obj, "epoch", ep, sizeof(ep));
	field(obj, "seq", seq, sizeof(seq));
	field(obj, "digest", dig, sizeof(dig));
	field(obj, "listed", listed, sizeof(listed));
	field(obj, "age_ms", age, sizeof(age));
	field(obj, "in_sync", sync, sizeof(sync));
	field(obj, "quarantined", q, sizeof(q));
	const char *r = strstr(obj, "\"rejected\":{");
	rej[0] = '\0';
	if (r != NULL) {
		r += 12;
		size_t n = 0;
		while (*r && *r != '}' && n + 1 < sizeof(rej))
			rej[n++] = *r == '"' ? ' ' : *r, r++;
		rej[n] = '\0';
	}
	long long a = atoll(age);
	printf("  %-10s %-16s epoch %s seq %s digest %.16s… listed %s, %s%s%s\n", label, pub, ep,
	       seq, dig, listed, strcmp(sync, "true") == 0 ? "in sync" : "NOT in sync",
	       strcmp(q, "true") == 0 ? ", QUARANTINED" : "", "");
	if (a >= 0)
		printf("  %-10s last change %lld s ago%s%s\n", "", a / 1000,
		       rej[0] ? "; rejected:" : "", rej);
}

static int fetch(int argc, char **argv, bool *json, char **status, char **metrics)
{
	static const struct option lopts[] = {{"http", required_argument, NULL, 'h'},
	                                      {"json", no_argument, NULL, 'j'},
	                                      {"config", required_argument, NULL, 'c'},
	                                      {NULL, 0, NULL, 0}};
	const char *http = NULL, *path = NULL;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:", lopts, NULL)) != -1) {
		if (ch == 'h')
			http = optarg;
		else if (ch == 'j')
			*json = true;
		else if (ch == 'c')
			path = optarg;
		else
			return 2;
	}
	struct daemon_conf c;
	struct rn_conf_error err;
	if (daemon_conf_load(&c, path, NULL, &err) != RN_OK) {
		char msg[1024];
		rn_conf_error_format(&err, msg, sizeof(msg));
		fprintf(stderr, "repnet: %s\n", msg);
		return 1;
	}
	char where[128];
	snprintf(where, sizeof(where), "%s",
	         http ? http : (c.core.http_listen ? c.core.http_listen : ""));
	daemon_conf_release(&c);
	int st = 0;
	int rc = cli_http_get(where, "/status", 5000, 4u << 20, status, &st);
	if (rc != RN_OK || st != 200) {
		fprintf(stderr, "repnet: no repnetd answers on http://%s/status: %s\n", where,
		        rc != RN_OK ? rn_strerror(rc) : "bad status");
		return 1;
	}
	if (metrics != NULL &&
	    (cli_http_get(where, "/metrics", 5000, 64u << 20, metrics, &st) != RN_OK ||
	     st != 200)) {
		free(*metrics);
		*metrics = NULL;
	}
	return 0;
}

static void metric_line(const char *m, const char *label, const char *name, const char *labels)
{
	double v;
	if (m != NULL && cli_metric(m, name, labels, &v) == 0)
		printf("  %-34s %.0f\n", label, v);
}

int cmd_status(int argc, char **argv)
{
	char *s = NULL, *m = NULL;
	bool json = false;
	int code = fetch(argc, argv, &json, &s, &m);
	if (code != 0)
		return code;
	if (json) {
		fputs(s, stdout);
		goto out;
	}
	char inst[80], ver[32];
	field(s, "instance", inst, sizeof(inst));
	field(s, "version", ver, sizeof(ver));
	const char *roles = strstr(s, "\"roles\":[");
	printf("repnetd %s, instance %s, roles ", ver, inst);
	for (const char *p = roles ? roles + 9 : ""; *p && *p != ']'; p++)
		if (*p != '"')
			putchar(*p == ',' ? ' ' : *p);
	printf("\n\nrates and drops (totals since start)\n");
	metric_line(m, "process CPU seconds", "repnet_process_cpu_seconds_total", NULL);
	metric_line(m, "observations from SMTP logs", "repnet_collector_observations_total",
	            "origin=\"smtp\"");
	metric_line(m, "observations from flows", "repnet_collector_observations_total",
	            "origin=\"flow\"");
	metric_line(m, "observations acked by the scorer",
	            "repnet_collector_observations_acked_total", NULL);
	metric_line(m, "observations dropped (queue full)", "repnet_collector_queue_total",
	            "result=\"dropped\"");
	metric_line(m, "ingest queue depth", "repnet_collector_queue_depth", NULL);
	metric_line(m, "flow socket drops", "repnet_flow_socket_drops_total", NULL);
	char listed[32];
	const char *sc = strstr(s, "\"scorer\":");
	if (sc != NULL)
		printf("\nscorer: %s entries listed%s\n",
		       field(sc, "listed", listed, sizeof(listed)),
		       strstr(sc, "\"dry_run\":true") ? " (DRY RUN: not published)" : "");
	printf("\nfeed\n");
	const char *p = strstr(s, "\"publisher\":{");
	if (p != NULL)
		feed_line("publishing", p + 12);
	p = strstr(s, "\"serving\":{");
	if (p != NULL) {
		feed_line("serving", p + 10);
		char re[32];
		printf("  %-10s replica holds %s entries\n", "",
		       field(s, "replica_entries", re, sizeof(re)));
	}
	p = strstr(s, "\"members\":[");
	if (p != NULL) {
		for (const char *o = strchr(p, '{'); o != NULL && o < strchr(p, ']');
		     o = strchr(o + 1, '{'))
			if (strncmp(o, "{\"publisher\"", 12) == 0)
				feed_line("member", o);
	}
	printf("\n");
out:
	free(s);
	free(m);
	return 0;
}

int cmd_feed(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "status") != 0)
		return 2;
	char *s = NULL;
	bool json = false;
	int code = fetch(argc - 1, argv + 1, &json, &s, NULL);
	if (code != 0)
		return code;
	const char *p = strstr(s, "\"publisher\":{");
	if (p != NULL)
		feed_line("publishing", p + 12);
	p = strstr(s, "\"serving\":{");
	if (p != NULL)
		feed_line("serving", p + 10);
	p = strstr(s, "\"members\":[");
	if (p != NULL)
		for (const char *o = strchr(p, '{'); o != NULL && o < strchr(p, ']');
		     o = strchr(o + 1, '{'))
			if (strncmp(o, "{\"publisher\"", 12) == 0)
				feed_line("member", o);
	free(s);
	return 0;
}
