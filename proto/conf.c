/*
 * conf.c: the configuration loader: the libconfig tree walked into the
 * key tables, defaults and overrides, check hooks, error reporting, and
 * the node accessors custom keys parse with. Typed values are in
 * conf_value.c, the tables as text in conf_dump.c.
 *
 * Design notes: libconfig parses the file; this file only walks the tree
 * it built. Loading runs in three passes over the key tables:
 *   1. every field is zeroed and then set from its default text;
 *   2. the file is walked: every setting must name a known section and a
 *      known key (or a group on the way to one), and is parsed into its
 *      field by the same code that parsed the default;
 *   3. "section.key=value" overrides from the command line are applied,
 *      then every key's check hook runs.
 * The first error stops the load, releases everything, and says where.
 * Values never live in the libconfig tree after loading: strings are
 * copied, so the tree is destroyed before returning.
 */

#include <errno.h>
#include <libconfig.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "proto/conf_int.h"

static const config_setting_t *cs(const struct rn_conf_node *n)
{
	return (const config_setting_t *)n;
}

static config_setting_t *ms(const struct rn_conf_node *n)
{
	return (config_setting_t *)n;
}

static void set_err(struct rn_conf_error *err, const char *file, int line, const char *key,
                    const char *fmt, ...) RN_PRINTF(5, 6);

static void set_err(struct rn_conf_error *err, const char *file, int line, const char *key,
                    const char *fmt, ...)
{
	if (err == NULL)
		return;
	snprintf(err->file, sizeof(err->file), "%s", file ? file : "");
	err->line = line;
	snprintf(err->key, sizeof(err->key), "%s", key ? key : "");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

size_t rn_conf_error_format(const struct rn_conf_error *e, char *dst, size_t dstlen)
{
	int n;
	const char *file = e->file[0] ? e->file : "<config>";
	if (e->line > 0 && e->key[0])
		n = snprintf(dst, dstlen, "%s:%d: %s: %s", file, e->line, e->key, e->msg);
	else if (e->line > 0)
		n = snprintf(dst, dstlen, "%s:%d: %s", file, e->line, e->msg);
	else if (e->key[0])
		n = snprintf(dst, dstlen, "%s: %s: %s", file, e->key, e->msg);
	else
		n = snprintf(dst, dstlen, "%s: %s", file, e->msg);
	if (n < 0)
		return 0;
	return (size_t)n < dstlen ? (size_t)n : dstlen - 1;
}

/* ---- values from the file --------------------------------------------- */

/* A value from the file. */
static int set_node(const struct rn_conf_key *k, void *f, const config_setting_t *n, char *msg,
                    size_t msglen)
{
	int t = config_setting_type(n);
	char tmp[64];
	if (k->type == RN_CONF_CUSTOM)
		return k->parse((const struct rn_conf_node *)n, f, msg, msglen);
	if (conf_is_list_type(k->type)) {
		if (t == CONFIG_TYPE_STRING)
			return conf_value_set_text(k, f, config_setting_get_string(n), msg, msglen);
		if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
			snprintf(msg, msglen, "expected a list of strings, like [\"a\", \"b\"]");
			return RN_ECONF;
		}
		conf_field_release(k, f);
		conf_field_zero(k, f);
		int cnt = config_setting_length(n);
		for (int i = 0; i < cnt; i++) {
			const config_setting_t *e = config_setting_get_elem(n, (unsigned)i);
			if (config_setting_type(e) != CONFIG_TYPE_STRING) {
				snprintf(msg, msglen, "entry %d is not a string", i + 1);
				return RN_ECONF;
			}
			int rc =
			        conf_elem_add_text(k, f, config_setting_get_string(e), msg, msglen);
			if (rc != RN_OK)
				return rc;
		}
		return RN_OK;
	}
	switch (t) {
	case CONFIG_TYPE_STRING:
		if (k->type == RN_CONF_BOOL || k->type == RN_CONF_INT ||
		    k->type == RN_CONF_DOUBLE) {
			snprintf(msg, msglen, "expected %s, not a string",
			         k->type == RN_CONF_BOOL ? "true or false" : "a number");
			return RN_ECONF;
		}
		return conf_value_set_text(k, f, config_setting_get_string(n), msg, msglen);
	case CONFIG_TYPE_BOOL:
		if (k->type != RN_CONF_BOOL) {
			snprintf(msg, msglen, "expected a %s, not a boolean",
			         k->type == RN_CONF_ENUM ? "name" : "value");
			return RN_ECONF;
		}
		*(bool *)f = config_setting_get_bool(n) != 0;
		return RN_OK;
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		if (k->type != RN_CONF_INT && k->type != RN_CONF_DOUBLE &&
		    k->type != RN_CONF_DURATION && k->type != RN_CONF_SIZE) {
			snprintf(msg, msglen, "expected a %s, not a number",
			         k->type == RN_CONF_BOOL ? "boolean" : "string");
			return RN_ECONF;
		}
		snprintf(tmp, sizeof(tmp), "%lld", (long long)config_setting_get_int64(n));
		return conf_value_set_text(k, f, tmp, msg, msglen);
	case CONFIG_TYPE_FLOAT:
		if (k->type != RN_CONF_DOUBLE) {
			snprintf(msg, msglen, "expected %s, not a decimal number",
			         k->type == RN_CONF_INT ? "an integer" : "another type");
			return RN_ECONF;
		}
		snprintf(tmp, sizeof(tmp), "%.17g", config_setting_get_float(n));
		return conf_value_set_text(k, f, tmp, msg, msglen);
	default:
		snprintf(msg, msglen, "expected a single value, not a group or list");
		return RN_ECONF;
	}
}

/* ---- key lookup ------------------------------------------------------ */

/*
 * Several tables may share a section name (one library can split its keys
 * across files); a key is looked up in every table of its section.
 */
static const struct rn_conf_key *find_key(struct rn_conf_section *secs, size_t nsecs,
                                          const char *secname, const char *name,
                                          struct rn_conf_section **owner)
{
	for (size_t i = 0; i < nsecs; i++) {
		if (strcmp(secs[i].name, secname) != 0)
			continue;
		for (const struct rn_conf_key *k = secs[i].keys; k->name != NULL; k++) {
			if (strcmp(k->name, name) == 0) {
				*owner = &secs[i];
				return k;
			}
		}
	}
	return NULL;
}

/* True when some key of the section lies under the group path "prefix". */
static bool is_group_prefix(const struct rn_conf_section *secs, size_t nsecs, const char *secname,
                            const char *prefix)
{
	size_t n = strlen(prefix);
	for (size_t i = 0; i < nsecs; i++) {
		if (strcmp(secs[i].name, secname) != 0)
			continue;
		for (const struct rn_conf_key *k = secs[i].keys; k->name != NULL; k++)
			if (strncmp(k->name, prefix, n) == 0 && k->name[n] == '.')
				return true;
	}
	return false;
}

static bool have_section(const struct rn_conf_section *secs, size_t nsecs, const char *name)
{
	for (size_t i = 0; i < nsecs; i++)
		if (strcmp(secs[i].name, name) == 0)
			return true;
	return false;
}

/* ---- "did you mean" ---------------------------------------------------- */

/* Levenshtein distance between a and b, both under CONF_NAME_MAX bytes (else a large value). */
#define CONF_NAME_MAX 160
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[CONF_NAME_MAX + 1];
	if (la >= CONF_NAME_MAX || lb >= CONF_NAME_MAX)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* The first n dot-separated components of name, into out. */
static void name_prefix(const char *name, size_t ncomp, char *out, size_t outlen)
{
	size_t i = 0, dots = 0;
	while (name[i] != '\0' && i + 1 < outlen) {
		if (name[i] == '.' && ++dots == ncomp)
			break;
		out[i] = name[i];
		i++;
	}
	out[i] = '\0';
}

void rn_conf_suggest(const struct rn_conf_section *secs, size_t nsecs, const char *secname,
                     const char *name, char *out, size_t outlen)
{
	size_t best = SIZE_MAX, ncomp = 1;
	char cand[CONF_NAME_MAX];
	out[0] = '\0';
	for (const char *p = name; *p != '\0'; p++)
		ncomp += *p == '.';
	for (size_t s = 0; s < nsecs; s++) {
		if (secname == NULL) {
			/* A section name: compared with the others. */
			size_t d = edit_distance(name, secs[s].name);
			if (d < best) {
				best = d;
				snprintf(cand, sizeof(cand), "%s", secs[s].name);
				snprintf(out, outlen, "%s", cand);
			}
			continue;
		}
		if (strcmp(secs[s].name, secname) != 0)
			continue;
		for (const struct rn_conf_key *k = secs[s].keys; k->name != NULL; k++) {
			/* A key, or the group holding it, at the same depth as name. */
			name_prefix(k->name, ncomp, cand, sizeof(cand));
			size_t d = edit_distance(name, cand);
			if (d < best) {
				best = d;
				snprintf(out, outlen, "%s.%s", secname, cand);
			}
		}
	}
	/* Close enough to be a typo: 2 edits, or a third of the name. */
	size_t limit = strlen(name) / 3 > 2 ? strlen(name) / 3 : 2;
	if (best == 0 || best > limit)
		out[0] = '\0';
}

/* "unknown key", with "(did you mean ...?)" when a known one is close. */
static void unknown_err(struct rn_conf_error *err, const char *file, int line,
                        const struct rn_conf_section *secs, size_t nsecs, const char *secname,
                        const char *name, const char *full)
{
	char s[CONF_NAME_MAX + 64];
	rn_conf_suggest(secs, nsecs, secname, name, s, sizeof(s));
	if (s[0] != '\0')
		set_err(err, file, line, full, "unknown %s (did you mean \"%s\"?)",
		        secname != NULL ? "key" : "section", s);
	else
		set_err(err, file, line, full, "unknown %s", secname != NULL ? "key" : "section");
}

/* ---- the walk -------------------------------------------------------- */

struct walk {
	struct rn_conf_error *err;
	const char *file;
	struct rn_conf_section *secs;
	size_t nsecs;
	const char *secname;
};

static int walk_group(struct walk *w, const config_setting_t *g, const char *prefix)
{
	int cnt = config_setting_length(g);
	for (int i = 0; i < cnt; i++) {
		const config_setting_t *n = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(n);
		char path[160];
		int line = config_setting_source_line(n);
		const char *file = config_setting_source_file(n);
		if (file == NULL)
			file = w->file;
		if (name == NULL) {
			set_err(w->err, file, line, prefix, "unnamed setting");
			return RN_ECONF;
		}
		int pl = prefix[0] ? snprintf(path, sizeof(path), "%s.%s", prefix, name)
		                   : snprintf(path, sizeof(path), "%s", name);
		char full[200];
		snprintf(full, sizeof(full), "%s.%s", w->secname, path);
		if (pl < 0 || (size_t)pl >= sizeof(path)) {
			set_err(w->err, file, line, full, "key name too long");
			return RN_ECONF;
		}
		struct rn_conf_section *sec = NULL;
		const struct rn_conf_key *k = find_key(w->secs, w->nsecs, w->secname, path, &sec);
		if (k != NULL) {
			char msg[256] = "";
			int rc = set_node(k, CONF_FIELD(sec, k), n, msg, sizeof(msg));
			if (rc != RN_OK) {
				set_err(w->err, file, line, full, "%s",
				        msg[0] ? msg : rn_strerror(rc));
				return RN_ECONF;
			}
			continue;
		}
		if (config_setting_is_group(n) &&
		    is_group_prefix(w->secs, w->nsecs, w->secname, path)) {
			int rc = walk_group(w, n, path);
			if (rc != RN_OK)
				return rc;
			continue;
		}
		unknown_err(w->err, file, line, w->secs, w->nsecs, w->secname, path, full);
		return RN_ECONF;
	}
	return RN_OK;
}

static void release_all(struct rn_conf_section *secs, size_t nsecs)
{
	for (size_t s = 0; s < nsecs; s++)
		for (const struct rn_conf_key *k = secs[s].keys; k->name != NULL; k++)
			conf_field_release(k, CONF_FIELD(&secs[s], k));
}

void rn_conf_release(struct rn_conf_section *secs, size_t nsecs)
{
	release_all(secs, nsecs);
}

static int apply_defaults(struct rn_conf_section *secs, size_t nsecs, struct rn_conf_error *err)
{
	for (size_t s = 0; s < nsecs; s++)
		for (const struct rn_conf_key *k = secs[s].keys; k->name != NULL; k++)
			conf_field_zero(k, CONF_FIELD(&secs[s], k));
	for (size_t s = 0; s < nsecs; s++) {
		struct rn_conf_section *sec = &secs[s];
		for (const struct rn_conf_key *k = sec->keys; k->name != NULL; k++) {
			char msg[256] = "";
			int rc = RN_OK;
			if (k->type == RN_CONF_CUSTOM) {
				if (k->parse == NULL)
					rc = RN_EINTERNAL;
				else
					rc = k->parse(NULL, CONF_FIELD(sec, k), msg, sizeof(msg));
			} else if (k->def != NULL) {
				rc = conf_value_set_text(k, CONF_FIELD(sec, k), k->def, msg,
				                         sizeof(msg));
			}
			if (rc != RN_OK) {
				char full[200];
				snprintf(full, sizeof(full), "%s.%s", sec->name, k->name);
				set_err(err, "<defaults>", 0, full, "bad built-in default: %s",
				        msg);
				return RN_EINTERNAL;
			}
		}
	}
	return RN_OK;
}

static int apply_overrides(const char *const *ov, struct rn_conf_section *secs, size_t nsecs,
                           struct rn_conf_error *err)
{
	for (size_t i = 0; ov != NULL && ov[i] != NULL; i++) {
		const char *eq = strchr(ov[i], '=');
		const char *dot = strchr(ov[i], '.');
		if (eq == NULL || dot == NULL || dot > eq) {
			set_err(err, "<command line>", 0, ov[i], "expected section.key=value");
			return RN_ECONF;
		}
		char secname[64], keyname[160];
		size_t sl = (size_t)(dot - ov[i]), kl = (size_t)(eq - dot - 1);
		if (sl >= sizeof(secname) || kl >= sizeof(keyname)) {
			set_err(err, "<command line>", 0, ov[i], "key name too long");
			return RN_ECONF;
		}
		memcpy(secname, ov[i], sl);
		secname[sl] = '\0';
		memcpy(keyname, dot + 1, kl);
		keyname[kl] = '\0';
		struct rn_conf_section *sec = NULL;
		const struct rn_conf_key *k = find_key(secs, nsecs, secname, keyname, &sec);
		char full[232];
		snprintf(full, sizeof(full), "%s.%s", secname, keyname);
		if (k == NULL) {
			if (have_section(secs, nsecs, secname))
				unknown_err(err, "<command line>", 0, secs, nsecs, secname, keyname,
				            full);
			else
				unknown_err(err, "<command line>", 0, secs, nsecs, NULL, secname,
				            full);
			return RN_ECONF;
		}
		if (k->type == RN_CONF_CUSTOM) {
			set_err(err, "<command line>", 0, full,
			        "this key can only be set in the configuration file");
			return RN_ECONF;
		}
		char msg[256] = "";
		int rc = conf_value_set_text(k, CONF_FIELD(sec, k), eq + 1, msg, sizeof(msg));
		if (rc != RN_OK) {
			set_err(err, "<command line>", 0, full, "%s",
			        msg[0] ? msg : rn_strerror(rc));
			return RN_ECONF;
		}
	}
	return RN_OK;
}

static int run_checks(struct rn_conf_section *secs, size_t nsecs, struct rn_conf_error *err,
                      const char *file)
{
	for (size_t s = 0; s < nsecs; s++) {
		struct rn_conf_section *sec = &secs[s];
		for (const struct rn_conf_key *k = sec->keys; k->name != NULL; k++) {
			if (k->check == NULL)
				continue;
			char msg[256] = "";
			if (k->check(CONF_CFIELD(sec, k), msg, sizeof(msg)) != RN_OK) {
				char full[200];
				snprintf(full, sizeof(full), "%s.%s", sec->name, k->name);
				set_err(err, file, 0, full, "%s", msg[0] ? msg : "invalid value");
				return RN_ECONF;
			}
		}
	}
	return RN_OK;
}

static int load(config_t *cfg, bool have_file, const char *name, const char *const *overrides,
                struct rn_conf_section *secs, size_t nsecs, struct rn_conf_error *err)
{
	int rc = apply_defaults(secs, nsecs, err);
	if (rc != RN_OK)
		goto fail;
	if (have_file) {
		struct walk w = {.err = err, .file = name, .secs = secs, .nsecs = nsecs};
		const config_setting_t *root = config_root_setting(cfg);
		int cnt = config_setting_length(root);
		for (int i = 0; i < cnt; i++) {
			const config_setting_t *n = config_setting_get_elem(root, (unsigned)i);
			const char *sname = config_setting_name(n);
			int line = config_setting_source_line(n);
			if (sname == NULL || !have_section(secs, nsecs, sname)) {
				if (sname == NULL)
					set_err(err, name, line, sname, "unknown section");
				else
					unknown_err(err, name, line, secs, nsecs, NULL, sname,
					            sname);
				rc = RN_ECONF;
				goto fail;
			}
			if (!config_setting_is_group(n)) {
				set_err(err, name, line, sname,
				        "a section is a group: %s: { key = value; };", sname);
				rc = RN_ECONF;
				goto fail;
			}
			w.secname = sname;
			rc = walk_group(&w, n, "");
			if (rc != RN_OK)
				goto fail;
		}
	}
	rc = apply_overrides(overrides, secs, nsecs, err);
	if (rc != RN_OK)
		goto fail;
	rc = run_checks(secs, nsecs, err, name);
	if (rc != RN_OK)
		goto fail;
	return RN_OK;
fail:
	release_all(secs, nsecs);
	return rc;
}

int rn_conf_load_buf(const char *buf, size_t len, const char *name, const char *const *overrides,
                     struct rn_conf_section *secs, size_t nsecs, struct rn_conf_error *err)
{
	config_t cfg;
	int rc;
	if (err != NULL)
		memset(err, 0, sizeof(*err));
	if (memchr(buf, '\0', len) != NULL) {
		set_err(err, name, 0, NULL, "configuration contains a NUL byte");
		return RN_ECONF;
	}
	char *text = malloc(len + 1);
	if (text == NULL)
		return -ENOMEM;
	memcpy(text, buf, len);
	text[len] = '\0';
	config_init(&cfg);
	config_set_options(&cfg, CONFIG_OPTION_AUTOCONVERT);
	if (config_read_string(&cfg, text) != CONFIG_TRUE) {
		set_err(err, name, config_error_line(&cfg), NULL, "%s", config_error_text(&cfg));
		rc = RN_ECONF;
	} else {
		rc = load(&cfg, true, name, overrides, secs, nsecs, err);
	}
	config_destroy(&cfg);
	free(text);
	return rc;
}

int rn_conf_load(const char *path, const char *const *overrides, struct rn_conf_section *secs,
                 size_t nsecs, struct rn_conf_error *err)
{
	if (err != NULL)
		memset(err, 0, sizeof(*err));
	if (path == NULL) {
		config_t cfg;
		config_init(&cfg);
		int rc = load(&cfg, false, "<defaults>", overrides, secs, nsecs, err);
		config_destroy(&cfg);
		return rc;
	}
	uint8_t *buf;
	size_t len;
	int rc = rn_file_read(path, 4u << 20, &buf, &len);
	if (rc != RN_OK) {
		set_err(err, path, 0, NULL, "cannot read: %s", rn_strerror(rc));
		return RN_ECONF;
	}
	rc = rn_conf_load_buf((const char *)buf, len, path, overrides, secs, nsecs, err);
	free(buf);
	return rc;
}

/* ---- node accessors -------------------------------------------------- */

int rn_conf_node_line(const struct rn_conf_node *n)
{
	return n ? config_setting_source_line(cs(n)) : 0;
}

const char *rn_conf_node_name(const struct rn_conf_node *n)
{
	return n ? config_setting_name(cs(n)) : NULL;
}

size_t rn_conf_node_count(const struct rn_conf_node *n)
{
	if (n == NULL || !config_setting_is_aggregate(cs(n)))
		return 0;
	return (size_t)config_setting_length(cs(n));
}

const struct rn_conf_node *rn_conf_node_child(const struct rn_conf_node *n, size_t i)
{
	if (n == NULL || i >= rn_conf_node_count(n))
		return NULL;
	return (const struct rn_conf_node *)config_setting_get_elem(cs(n), (unsigned)i);
}

const struct rn_conf_node *rn_conf_node_member(const struct rn_conf_node *n, const char *name)
{
	if (n == NULL || !config_setting_is_group(cs(n)))
		return NULL;
	return (const struct rn_conf_node *)config_setting_get_member(cs(n), name);
}

bool rn_conf_node_is_group(const struct rn_conf_node *n)
{
	return n != NULL && config_setting_is_group(cs(n));
}

bool rn_conf_node_is_list(const struct rn_conf_node *n)
{
	return n != NULL && (config_setting_is_list(cs(n)) || config_setting_is_array(cs(n)));
}

int rn_conf_node_string(const struct rn_conf_node *n, const char **out)
{
	if (n == NULL || config_setting_type(cs(n)) != CONFIG_TYPE_STRING)
		return RN_ECONF;
	*out = config_setting_get_string(cs(n));
	return RN_OK;
}

int rn_conf_node_int(const struct rn_conf_node *n, int64_t *out)
{
	if (n == NULL)
		return RN_ECONF;
	int t = config_setting_type(cs(n));
	if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
		return RN_ECONF;
	*out = config_setting_get_int64(ms(n));
	return RN_OK;
}

int rn_conf_node_double(const struct rn_conf_node *n, double *out)
{
	if (n == NULL)
		return RN_ECONF;
	int t = config_setting_type(cs(n));
	if (t == CONFIG_TYPE_FLOAT)
		*out = config_setting_get_float(cs(n));
	else if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64)
		*out = (double)config_setting_get_int64(cs(n));
	else
		return RN_ECONF;
	if (!isfinite(*out))
		return RN_ECONF;
	return RN_OK;
}

int rn_conf_node_bool(const struct rn_conf_node *n, bool *out)
{
	if (n == NULL || config_setting_type(cs(n)) != CONFIG_TYPE_BOOL)
		return RN_ECONF;
	*out = config_setting_get_bool(cs(n)) != 0;
	return RN_OK;
}
