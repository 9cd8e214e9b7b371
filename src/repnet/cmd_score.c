/*
 * cmd_score.c: repnet score, offline scoring of observations in event time.
 *
 * Reads observations as JSON lines (the format `repnet logs` prints),
 * replays them through a scoring engine in event time, exactly as the
 * scorer would have seen them live, and prints the final blocklist as JSON
 * lines. The replay helper is shared with repnet explain.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "util.h"

#define LINE_MAX_BYTES 65536
#define CHUNK          4096

int score_conf_load(const struct conf_args *ca, const char *never_block, bool no_default,
                    bool dry_run, struct scoring_conf *out)
{
	struct daemon_conf c;
	if (conf_args_load(ca, "repnet", &c) != RN_OK)
		return RN_ECONF;
	int rc = scoring_conf_copy(out, &c.scoring);
	daemon_conf_release(&c);
	if (rc != RN_OK)
		return rc;
	if (no_default)
		out->default_never_block = false;
	if (dry_run)
		out->dry_run = true;
	if (never_block != NULL) {
		char *copy = strdup(never_block), *save = NULL;
		if (copy == NULL)
			return -ENOMEM;
		for (char *tok = strtok_r(copy, ",", &save); tok;
		     tok = strtok_r(NULL, ",", &save)) {
			struct rn_prefix p;
			if (rn_prefix_parse_str(tok, true, &p) != RN_OK) {
				fprintf(stderr, "repnet: --never-block: \"%s\" is not a prefix\n",
				        tok);
				free(copy);
				scoring_conf_release(out);
				return RN_ECONF;
			}
			if ((rc = rn_prefix_list_add(&out->never_block, &p)) != RN_OK) {
				free(copy);
				scoring_conf_release(out);
				return rc;
			}
		}
		free(copy);
	}
	return RN_OK;
}

int score_replay(struct scoring_engine *e, const char *file, bool lenient,
                 struct scoring_ingest_stats *st)
{
	FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
	if (f == NULL) {
		fprintf(stderr, "repnet: %s: %s\n", file, strerror(errno));
		return -errno;
	}
	struct rn_obs *v = malloc(CHUNK * sizeof(*v));
	char *line = malloc(LINE_MAX_BYTES + 2);
	size_t n = 0, lineno = 0, bad = 0;
	int rc = v && line ? RN_OK : -ENOMEM;
	while (rc == RN_OK && fgets(line, LINE_MAX_BYTES + 2, f) != NULL) {
		lineno++;
		size_t len = strlen(line);
		if (len > LINE_MAX_BYTES) {
			fprintf(stderr, "repnet: %s:%zu: line longer than %d bytes\n", file, lineno,
			        LINE_MAX_BYTES);
			rc = RN_EOVERLONG;
			break;
		}
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0)
			continue;
		char err[256];
		if (rn_obs_json_parse((const uint8_t *)line, len, &v[n], err, sizeof(err)) !=
		    RN_OK) {
			fprintf(stderr, "repnet: %s:%zu: %s\n", file, lineno, err);
			bad++;
			if (!lenient)
				rc = RN_EPARSE;
			continue;
		}
		if (++n == CHUNK) {
			rc = scoring_engine_ingest(e, v, n, 0, st);
			if (rc == RN_OK)
				rc = scoring_engine_advance(e, 0, NULL, NULL);
			n = 0;
		}
	}
	if (rc == RN_OK && ferror(f))
		rc = -EIO;
	if (rc == RN_OK && n > 0)
		rc = scoring_engine_ingest(e, v, n, 0, st);
	if (rc == RN_OK)
		rc = scoring_engine_advance(e, 0, NULL, NULL);
	if (rc == RN_OK)
		rc = scoring_engine_flush(e, NULL, NULL);
	if (bad > 0)
		fprintf(stderr, "repnet: %s: %zu malformed lines %s\n", file, bad,
		        lenient ? "skipped" : "");
	if (f != stdin)
		fclose(f);
	free(v);
	free(line);
	return rc;
}

const char *score_points_format(uint32_t milli, char buf[SCORE_POINTS_STRLEN])
{
	unsigned frac = milli % SCORING_SCALE;
	int n = snprintf(buf, SCORE_POINTS_STRLEN, "%u.%03u", milli / SCORING_SCALE, frac);
	/* Trailing zeros of the fraction go, and the point with them. */
	while (n > 0 && buf[n - 1] == '0')
		buf[--n] = '\0';
	if (n > 0 && buf[n - 1] == '.')
		buf[--n] = '\0';
	return buf;
}

void score_print_points(FILE *out, uint32_t milli)
{
	char p[SCORE_POINTS_STRLEN];
	fputs(score_points_format(milli, p), out);
}

void score_print_cats(FILE *out, uint32_t cats)
{
	char buf[512];
	struct rn_strbuf b;
	struct rn_jsonw w;
	rn_strbuf_init_fixed(&b, buf, sizeof(buf));
	rn_jsonw_init(&w, &b);
	rn_category_json_write(&w, cats);
	if (rn_jsonw_finish(&w) == RN_OK)
		fputs(buf, out);
}

void score_print_entry(FILE *out, const struct scoring_entry *e, bool dry_run)
{
	char p[RN_PREFIX_STRLEN], pts[SCORE_POINTS_STRLEN], line[1024];
	bool host = e->prefix.addr.family == RN_AF_INET && e->prefix.len == 32;
	if (host)
		rn_addr_format(&e->prefix.addr, p, sizeof(p));
	else
		rn_prefix_format(&e->prefix, p, sizeof(p));
	struct rn_strbuf b;
	struct rn_jsonw w;
	rn_strbuf_init_fixed(&b, line, sizeof(line));
	rn_jsonw_init(&w, &b);
	rn_jsonw_obj_begin(&w);
	rn_jsonw_kv_str(&w, host ? "ip" : "prefix", p);
	rn_jsonw_key(&w, "score");
	rn_jsonw_numf(&w, "%s", score_points_format(e->score, pts));
	rn_jsonw_key(&w, "categories");
	rn_category_json_write(&w, e->cats);
	rn_jsonw_kv_time(&w, "first_seen", e->first_seen_ms, false);
	rn_jsonw_kv_time(&w, "last_seen", e->last_seen_ms, false);
	rn_jsonw_kv_time(&w, "expires", e->expires_ms, false);
	rn_jsonw_kv_uint(&w, "offences", e->offences);
	if (e->flags & SCORING_F_ESCALATED)
		rn_jsonw_kv_bool(&w, "escalated", true);
	if (dry_run)
		rn_jsonw_kv_bool(&w, "dry_run", true);
	rn_jsonw_obj_end(&w);
	cli_json_print(out, &w, &b);
}

/*
 * repnet score [-c FILE] [-o section.key=value]... --obs FILE|-
 *              [--never-block CIDR,...] [--no-default-never-block] [--dry-run] [--lenient]
 */
int cmd_score(int argc, char **argv)
{
	static const struct option lopts[] = {{"config", required_argument, NULL, 'c'},
	                                      {"obs", required_argument, NULL, 'O'},
	                                      {"never-block", required_argument, NULL, 'n'},
	                                      {"no-default-never-block", no_argument, NULL, 'N'},
	                                      {"dry-run", no_argument, NULL, 'd'},
	                                      {"lenient", no_argument, NULL, 'l'},
	                                      {NULL, 0, NULL, 0}};
	const char *obs = NULL, *never = NULL;
	bool no_default = false, dry = false, lenient = false;
	struct conf_args ca;
	int ch, code = 1;
	if (conf_args_init(&ca, argc) != RN_OK)
		return 1;
	while ((ch = conf_args_getopt(&ca, argc, argv, "c:o:", lopts)) != -1) {
		switch (ch) {
		case 'O':
			obs = optarg;
			break;
		case 'n':
			never = optarg;
			break;
		case 'N':
			no_default = true;
			break;
		case 'd':
			dry = true;
			break;
		case 'l':
			lenient = true;
			break;
		default:
			conf_args_free(&ca);
			return 2;
		}
	}
	if (optind != argc || obs == NULL) {
		conf_args_free(&ca);
		return 2;
	}
	struct scoring_conf conf;
	struct scoring_engine *e = NULL;
	if (score_conf_load(&ca, never, no_default, dry, &conf) != RN_OK) {
		conf_args_free(&ca);
		return 1;
	}
	int rc = scoring_engine_new(&conf, false, &e);
	if (rc != RN_OK) {
		fprintf(stderr, "repnet: scoring: %s\n", rn_strerror(rc));
		goto out;
	}
	struct scoring_ingest_stats st = {0};
	rc = score_replay(e, obs, lenient, &st);
	if (rc != RN_OK)
		goto out;
	const struct scoring_table *t = scoring_engine_table(e);
	struct scoring_iter it;
	struct scoring_entry en;
	scoring_iter_init(&it, t);
	while (scoring_iter_next(&it, &en))
		score_print_entry(stdout, &en, scoring_table_dry_run(t));
	fprintf(stderr,
	        "repnet: %llu observations taken (%llu late), %llu protected, %llu of unscored "
	        "kinds, %llu stale, %llu bad; %zu listed\n",
	        (unsigned long long)st.accepted, (unsigned long long)st.late,
	        (unsigned long long)st.protected, (unsigned long long)st.ignored,
	        (unsigned long long)st.stale, (unsigned long long)st.bad, scoring_table_count(t));
	code = fflush(stdout) == 0 ? 0 : 1;
out:
	scoring_engine_free(e);
	scoring_conf_release(&conf);
	conf_args_free(&ca);
	return code;
}
