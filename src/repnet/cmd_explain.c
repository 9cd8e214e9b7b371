/*
 * cmd_explain.c: repnet explain, why an address is or is not listed.
 *
 * By default it asks the running repnetd (the score role) through its
 * operator API (GET /v1/explain, src/repnetd/api.c), found and
 * authenticated through the data directory's api.endpoint and api.token:
 * the state as of now, scored with the daemon's own configuration. When
 * no repnetd answers there, or with --offline or --data-dir, it reads the
 * data directory (the scorer's snapshot and journal, opened read-only, so
 * a running daemon's files are never touched); with --obs it replays
 * observations like repnet score does. Either way it says where the
 * state came from, and as of when.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "util.h"

static void print_duration(FILE *out, int64_t ms)
{
	if (ms % 86400000 == 0)
		fprintf(out, "%lldd", (long long)(ms / 86400000));
	else if (ms % 3600000 == 0)
		fprintf(out, "%lldh", (long long)(ms / 3600000));
	else if (ms % 60000 == 0)
		fprintf(out, "%lldm", (long long)(ms / 60000));
	else
		fprintf(out, "%llds", (long long)(ms / 1000));
}

static const char *t3339(int64_t ms, char *buf)
{
	rn_time_format(ms, false, buf, RN_TIME_STRLEN);
	return buf;
}

static void print_text(const struct scoring_explain *x, const char *ip, const char *state)
{
	char k[RN_PREFIX_STRLEN], t1[RN_TIME_STRLEN], t2[RN_TIME_STRLEN], t3[RN_TIME_STRLEN];
	rn_prefix_format(&x->key, k, sizeof(k));
	printf("%s", ip);
	if (x->key.addr.family == RN_AF_INET6)
		printf(" (scored as %s)", k);
	printf(": %s", x->listed ? "LISTED" : "not listed");
	if (x->dry_run)
		printf(" (dry run: never enforced)");
	printf("\n  state: %s\n  score ", state);
	score_print_points(stdout, x->score);
	printf(" at %s; list at %g, keep listed at %g\n", t3339(x->at_ms, t1), x->threshold,
	       x->delist_threshold);
	if (x->listed) {
		printf("  categories ");
		score_print_cats(stdout, x->entry.cats);
		printf(", expires %s, offences %u, first seen %s, last seen %s\n",
		       t3339(x->entry.expires_ms, t1), x->entry.offences,
		       t3339(x->entry.first_seen_ms, t2), t3339(x->entry.last_seen_ms, t3));
	}
	if (x->covered) {
		rn_prefix_format(&x->cover.prefix, k, sizeof(k));
		printf("  covered by %s%s, expires %s\n", k,
		       (x->cover.flags & SCORING_F_ESCALATED) ? " (escalated)" : "",
		       t3339(x->cover.expires_ms, t1));
	}
	if (x->protected_)
		printf("  protected: inside an allowlist or never-block range; never listed\n");
	else if (!x->listed && x->ncontrib > 0 && !x->eligible)
		printf("  these kinds cannot list it: none has a category, or only one kind "
		       "contributes and it may not list alone\n");
	if (x->held > 0)
		printf("  %u more events are held for the next tick\n", x->held);
	if (x->offences > 0 && !x->listed)
		printf("  remembered offences: %u\n", x->offences);
	if (x->ncontrib == 0) {
		printf("  no observations in the sets\n");
		return;
	}
	printf("  contributions:\n");
	for (unsigned i = 0; i < x->ncontrib; i++) {
		const struct scoring_contrib *c = &x->contrib[i];
		printf("    %-18s x%-3u weight %-5g ", rn_kind_name(c->kind), c->count, c->weight);
		if (c->window_ms > 0) {
			printf("window ");
			print_duration(stdout, c->window_ms);
		} else {
			printf("half-life ");
			print_duration(stdout, c->half_life_ms);
		}
		printf("  bucket %s  decay %.3f  = ", t3339(c->bucket_start_ms, t1), c->decay);
		score_print_points(stdout, c->points);
		printf(" points  [%s%s]", rn_category_name(c->category), c->alone ? ", alone" : "");
		/* Each code with the collector that reported it, when the scorer knows it. */
		for (unsigned j = 0; j < c->nevidence; j++) {
			printf("%s%s", j == 0 ? "  evidence " : ",",
			       c->evidence[j][0] ? c->evidence[j] : "(none)");
			if (c->collector[j][0] != '\0')
				printf(" from %s", c->collector[j]);
		}
		printf("\n      set observed %s .. %s\n", t3339(c->set_first_ms, t1),
		       t3339(c->set_last_ms, t2));
	}
}

static int print_json(const struct scoring_explain *x, const char *state)
{
	char k[RN_PREFIX_STRLEN], pts[SCORE_POINTS_STRLEN];
	struct rn_strbuf b;
	struct rn_jsonw w;
	rn_strbuf_init(&b, 1u << 20);
	rn_jsonw_init(&w, &b);
	rn_prefix_format(&x->key, k, sizeof(k));
	rn_jsonw_obj_begin(&w);
	rn_jsonw_kv_str(&w, "key", k);
	rn_jsonw_kv_str(&w, "state", state);
	rn_jsonw_kv_bool(&w, "listed", x->listed);
	rn_jsonw_key(&w, "score");
	rn_jsonw_numf(&w, "%s", score_points_format(x->score, pts));
	rn_jsonw_kv_time(&w, "at", x->at_ms, false);
	rn_jsonw_kv_bool(&w, "eligible", x->eligible);
	rn_jsonw_kv_bool(&w, "protected", x->protected_);
	rn_jsonw_kv_bool(&w, "dry_run", x->dry_run);
	rn_jsonw_kv_uint(&w, "held", x->held);
	rn_jsonw_kv_uint(&w, "offences", x->offences);
	if (x->listed) {
		rn_jsonw_key(&w, "categories");
		rn_category_json_write(&w, x->entry.cats);
		rn_jsonw_kv_time(&w, "expires", x->entry.expires_ms, false);
	}
	if (x->covered) {
		rn_prefix_format(&x->cover.prefix, k, sizeof(k));
		rn_jsonw_kv_str(&w, "covered_by", k);
	}
	rn_jsonw_key(&w, "contributions");
	rn_jsonw_arr_begin(&w);
	for (unsigned i = 0; i < x->ncontrib; i++) {
		const struct scoring_contrib *c = &x->contrib[i];
		rn_jsonw_obj_begin(&w);
		rn_jsonw_kv_str(&w, "kind", rn_kind_name(c->kind));
		rn_jsonw_kv_str(&w, "category", rn_category_name(c->category));
		rn_jsonw_kv_uint(&w, "count", c->count);
		rn_jsonw_key(&w, "weight");
		rn_jsonw_numf(&w, "%g", c->weight);
		if (c->window_ms > 0)
			rn_jsonw_kv_int(&w, "window_ms", c->window_ms);
		else
			rn_jsonw_kv_int(&w, "half_life_ms", c->half_life_ms);
		rn_jsonw_kv_time(&w, "bucket", c->bucket_start_ms, false);
		rn_jsonw_key(&w, "decay");
		rn_jsonw_numf(&w, "%.4f", c->decay);
		rn_jsonw_key(&w, "points");
		rn_jsonw_numf(&w, "%s", score_points_format(c->points, pts));
		rn_jsonw_kv_time(&w, "first", c->set_first_ms, false);
		rn_jsonw_kv_time(&w, "last", c->set_last_ms, false);
		rn_jsonw_key(&w, "evidence");
		rn_jsonw_arr_begin(&w);
		for (unsigned j = 0; j < c->nevidence; j++)
			rn_jsonw_str(&w, c->evidence[j]);
		rn_jsonw_arr_end(&w);
		/* Parallel to evidence: who reported each code ("" when not known). */
		rn_jsonw_key(&w, "collectors");
		rn_jsonw_arr_begin(&w);
		for (unsigned j = 0; j < c->nevidence; j++)
			rn_jsonw_str(&w, c->collector[j]);
		rn_jsonw_arr_end(&w);
		rn_jsonw_obj_end(&w);
	}
	rn_jsonw_arr_end(&w);
	rn_jsonw_obj_end(&w);
	int rc = cli_json_print(stdout, &w, &b);
	if (rc != RN_OK)
		fprintf(stderr, "repnet: explain: %s\n", rn_strerror(rc));
	rn_strbuf_release(&b);
	return rc;
}

/*
 * Asks the repnetd of data_dir. RN_OK with x filled; RN_ENOTFOUND (no
 * repnetd there, or one without the score role) and connection errors
 * leave the caller to read the files, after saying why in why.
 */
static int explain_live(const char *data_dir, const char *ip, struct scoring_explain *x,
                        char *state, size_t slen, char *why, size_t wlen)
{
	char path[128], where[128], err[256];
	char *body = NULL;
	int status = 0;
	snprintf(path, sizeof(path), "/v1/explain?ip=%s", ip);
	int rc = cli_api_get(data_dir, path, 8u << 20, &body, &status, where, sizeof(where));
	if (rc != RN_OK) {
		snprintf(why, wlen, "repnetd at %s: %s", where, rn_strerror(rc));
		return RN_ENOTFOUND;
	}
	if (status == 404) {
		snprintf(why, wlen, "repnetd at %s has no score role", where);
		free(body);
		return RN_ENOTFOUND;
	}
	if (status != 200) {
		fprintf(stderr, "repnet: explain: repnetd at %s answered %d: %s\n", where, status,
		        body);
		free(body);
		return RN_EBUS;
	}
	rc = scoring_explain_json_read((const uint8_t *)body, strlen(body), x, err, sizeof(err));
	free(body);
	if (rc != RN_OK) {
		fprintf(stderr,
		        "repnet: explain: repnetd at %s: an answer repnet cannot read: %s\n", where,
		        err);
		return rc;
	}
	snprintf(state, slen, "live, from repnetd at %s", where);
	return RN_OK;
}

/*
 * repnet explain [-c FILE] [-o section.key=value]... [--offline | --data-dir DIR | --obs FILE|-]
 *                [--never-block CIDR,...] [--no-default-never-block] [--json] IP
 */
int cmd_explain(int argc, char **argv)
{
	static const struct option lopts[] = {{"config", required_argument, NULL, 'c'},
	                                      {"data-dir", required_argument, NULL, 'D'},
	                                      {"obs", required_argument, NULL, 'O'},
	                                      {"offline", no_argument, NULL, 'F'},
	                                      {"never-block", required_argument, NULL, 'n'},
	                                      {"no-default-never-block", no_argument, NULL, 'N'},
	                                      {"json", no_argument, NULL, 'j'},
	                                      {NULL, 0, NULL, 0}};
	const char *data = NULL, *obs = NULL, *never = NULL;
	bool no_default = false, json = false, offline = false;
	struct conf_args ca;
	int ch, code = 1;
	if (conf_args_init(&ca, argc) != RN_OK)
		return 1;
	while ((ch = conf_args_getopt(&ca, argc, argv, "c:o:", lopts)) != -1) {
		switch (ch) {
		case 'D':
			data = optarg;
			break;
		case 'O':
			obs = optarg;
			break;
		case 'F':
			offline = true;
			break;
		case 'n':
			never = optarg;
			break;
		case 'N':
			no_default = true;
			break;
		case 'j':
			json = true;
			break;
		default:
			conf_args_free(&ca);
			return 2;
		}
	}
	if (optind + 1 != argc || (data != NULL && obs != NULL)) {
		conf_args_free(&ca);
		return 2;
	}
	const char *ip = argv[optind];
	struct rn_addr a;
	if (rn_addr_parse_str(ip, &a) != RN_OK) {
		fprintf(stderr, "repnet: \"%s\" is not an address\n", ip);
		conf_args_free(&ca);
		return 2;
	}
	char dir[4096], state[4400], why[512] = "", t[RN_TIME_STRLEN];
	struct scoring_explain *x = calloc(1, sizeof(*x));
	struct scoring_engine *e = NULL;
	struct scoring *s = NULL;
	struct scoring_conf conf;
	bool have_conf = false;
	int rc = x ? RN_OK : -ENOMEM;
	/* The data directory: given, or core.data_dir of the configuration. */
	if (rc == RN_OK && obs == NULL && data == NULL) {
		struct daemon_conf dc;
		struct rn_conf_error err;
		if (daemon_conf_load(&dc, ca.path, ca.ov, &err) != RN_OK) {
			char msg[1024];
			rn_conf_error_format(&err, msg, sizeof(msg));
			fprintf(stderr, "repnet: %s\n", msg);
			goto out;
		}
		snprintf(dir, sizeof(dir), "%s", dc.core.data_dir);
		daemon_conf_release(&dc);
		data = dir;
		/* The running daemon first, unless told otherwise. */
		if (!offline && never == NULL && !no_default) {
			rc = explain_live(data, ip, x, state, sizeof(state), why, sizeof(why));
			if (rc == RN_OK)
				goto print;
			if (rc != RN_ENOTFOUND)
				goto out;
			rc = RN_OK;
		}
	}
	if (score_conf_load(&ca, never, no_default, false, &conf) != RN_OK)
		goto out;
	have_conf = true;
	if (obs != NULL) {
		struct scoring_ingest_stats st = {0};
		rc = scoring_engine_new(&conf, false, &e);
		if (rc == RN_OK)
			rc = score_replay(e, obs, false, &st);
		if (rc == RN_OK)
			rc = scoring_engine_explain(e, &a, x);
		if (rc != RN_OK) {
			fprintf(stderr, "repnet: %s\n", rn_strerror(rc));
			goto out;
		}
		rn_time_format(x->at_ms, false, t, sizeof(t));
		snprintf(state, sizeof(state), "replayed from %s, as of %s",
		         strcmp(obs, "-") == 0 ? "standard input" : obs, t);
	} else {
		struct scoring_opts o = {.data_dir = data, .read_only = true, .no_thread = true};
		rc = scoring_start(&s, &conf, &o);
		if (rc == RN_OK)
			rc = scoring_explain(s, &a, x);
		if (rc != RN_OK) {
			fprintf(stderr,
			        "repnet: cannot open the scorer's state in %s/scoring: %s\n", data,
			        rn_strerror(rc));
			goto out;
		}
		if (x->at_ms > 0)
			rn_time_format(x->at_ms, false, t, sizeof(t));
		else
			snprintf(t, sizeof(t), "no tick yet");
		snprintf(state, sizeof(state), "the files in %s/scoring, as of %s%s%s%s", data, t,
		         why[0] != '\0' ? " (" : "", why, why[0] != '\0' ? ")" : "");
	}
print:
	if (json && print_json(x, state) != RN_OK)
		goto out;
	if (!json)
		print_text(x, ip, state);
	code = 0;
out:
	scoring_stop(s);
	scoring_engine_free(e);
	if (have_conf)
		scoring_conf_release(&conf);
	free(x);
	conf_args_free(&ca);
	return code;
}
