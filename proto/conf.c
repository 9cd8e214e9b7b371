/*
 * conf.c: the configuration loader.
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
#include <string.h>
#include <sys/socket.h>

#include "proto/proto.h"

#define FIELD(sec, key)  ((void *)((char *)(sec)->base + (key)->offset))
#define CFIELD(sec, key) ((const void *)((const char *)(sec)->base + (key)->offset))

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

void rn_strlist_clear(struct rn_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int rn_strlist_add(struct rn_strlist *l, const char *s)
{
	char **v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	l->v = v;
	v[l->n] = strdup(s);
	if (v[l->n] == NULL)
		return -ENOMEM;
	l->n++;
	return RN_OK;
}

/* ---- field lifecycle ------------------------------------------------ */

static void field_zero(const struct rn_conf_key *k, void *f)
{
	switch (k->type) {
	case RN_CONF_BOOL:
		*(bool *)f = false;
		break;
	case RN_CONF_INT:
	case RN_CONF_DURATION:
		*(int64_t *)f = 0;
		break;
	case RN_CONF_DOUBLE:
		*(double *)f = 0;
		break;
	case RN_CONF_SIZE:
		*(uint64_t *)f = 0;
		break;
	case RN_CONF_ENUM:
		*(int *)f = 0;
		break;
	case RN_CONF_FLAGS:
		*(unsigned *)f = 0;
		break;
	case RN_CONF_STRING:
	case RN_CONF_HOSTPORT:
	case RN_CONF_URL:
		*(char **)f = NULL;
		break;
	case RN_CONF_STRLIST:
		memset(f, 0, sizeof(struct rn_strlist));
		break;
	case RN_CONF_PREFIXES:
		memset(f, 0, sizeof(struct rn_prefix_list));
		break;
	case RN_CONF_CUSTOM:
		break;
	}
}

static void field_release(const struct rn_conf_key *k, void *f)
{
	switch (k->type) {
	case RN_CONF_STRING:
	case RN_CONF_HOSTPORT:
	case RN_CONF_URL:
		free(*(char **)f);
		*(char **)f = NULL;
		break;
	case RN_CONF_STRLIST:
		rn_strlist_clear(f);
		break;
	case RN_CONF_PREFIXES:
		rn_prefix_list_clear(f);
		break;
	case RN_CONF_CUSTOM:
		if (k->release != NULL)
			k->release(f);
		break;
	default:
		break;
	}
}

/* ---- scalar parsing from text --------------------------------------- */

static int parse_int_text(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return RN_EPARSE;
	*out = v;
	return RN_OK;
}

static int check_hostport(const char *s, char *msg, size_t msglen)
{
	struct sockaddr_storage ss;
	unsigned len;
	if (s[0] == '\0')
		return RN_OK;
	if (rn_hostport_parse(s, &ss, &len) != RN_OK) {
		snprintf(msg, msglen,
		         "\"%s\" is not an address:port (use 127.0.0.1:514 or [::1]:514)", s);
		return RN_ECONF;
	}
	return RN_OK;
}

static int check_url(const char *s, char *msg, size_t msglen)
{
	static const char *const schemes[] = {"tcp://",      "tcp4://",     "tcp6://", "tls+tcp://",
	                                      "tls+tcp4://", "tls+tcp6://", "ipc://",  "inproc://",
	                                      "ws://",       "wss://"};
	if (s[0] == '\0')
		return RN_OK;
	for (size_t i = 0; i < RN_ARRAY_LEN(schemes); i++) {
		size_t n = strlen(schemes[i]);
		if (strncmp(s, schemes[i], n) == 0 && s[n] != '\0')
			return RN_OK;
	}
	snprintf(msg, msglen, "\"%s\" is not a bus URL (tcp://, tls+tcp://, ipc://, inproc://)", s);
	return RN_ECONF;
}

static int find_enum(const struct rn_conf_key *k, const char *s)
{
	for (int i = 0; k->enum_names != NULL && k->enum_names[i] != NULL; i++)
		if (strcmp(k->enum_names[i], s) == 0)
			return i;
	return -1;
}

static void enum_choices(const struct rn_conf_key *k, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = '\0';
	for (int i = 0; k->enum_names != NULL && k->enum_names[i] != NULL; i++) {
		int n = snprintf(buf + o, len - o, "%s%s", i ? ", " : "", k->enum_names[i]);
		if (n < 0 || (size_t)n >= len - o)
			break;
		o += (size_t)n;
	}
}

/*
 * One value of a scalar key, given as text (defaults, overrides, and
 * string settings in the file). msg gets the reason on failure.
 */
static int set_text(const struct rn_conf_key *k, void *f, const char *s, char *msg, size_t msglen)
{
	int64_t iv;
	uint64_t uv;
	double dv;
	int rc;
	switch (k->type) {
	case RN_CONF_BOOL:
		if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0 || strcmp(s, "on") == 0)
			*(bool *)f = true;
		else if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0 || strcmp(s, "off") == 0)
			*(bool *)f = false;
		else {
			snprintf(msg, msglen, "\"%s\" is not a boolean", s);
			return RN_ECONF;
		}
		return RN_OK;
	case RN_CONF_INT:
		if (parse_int_text(s, &iv) != RN_OK) {
			snprintf(msg, msglen, "\"%s\" is not an integer", s);
			return RN_ECONF;
		}
		if (iv < k->min || iv > k->max) {
			snprintf(msg, msglen, "%lld is out of range [%lld, %lld]", (long long)iv,
			         (long long)k->min, (long long)k->max);
			return RN_ECONF;
		}
		*(int64_t *)f = iv;
		return RN_OK;
	case RN_CONF_DOUBLE: {
		char *end;
		errno = 0;
		dv = strtod(s, &end);
		if (errno != 0 || end == s || *end != '\0' || !isfinite(dv)) {
			snprintf(msg, msglen, "\"%s\" is not a number", s);
			return RN_ECONF;
		}
		if (dv < (double)k->min || dv > (double)k->max) {
			snprintf(msg, msglen, "%g is out of range [%lld, %lld]", dv,
			         (long long)k->min, (long long)k->max);
			return RN_ECONF;
		}
		*(double *)f = dv;
		return RN_OK;
	}
	case RN_CONF_DURATION:
		rc = rn_duration_parse(s, &iv);
		if (rc != RN_OK) {
			snprintf(msg, msglen, "\"%s\" is not a duration (250ms, 30s, 5m, 2h, 7d)",
			         s);
			return RN_ECONF;
		}
		if (iv < k->min || iv > k->max) {
			snprintf(msg, msglen, "%s is out of range [%lldms, %lldms]", s,
			         (long long)k->min, (long long)k->max);
			return RN_ECONF;
		}
		*(int64_t *)f = iv;
		return RN_OK;
	case RN_CONF_SIZE:
		rc = rn_size_parse(s, &uv);
		if (rc != RN_OK) {
			snprintf(msg, msglen, "\"%s\" is not a size (65536, 64k, 8M, 1G)", s);
			return RN_ECONF;
		}
		if (uv < (uint64_t)k->min || uv > (uint64_t)k->max) {
			snprintf(msg, msglen, "%s is out of range [%lld, %lld] bytes", s,
			         (long long)k->min, (long long)k->max);
			return RN_ECONF;
		}
		*(uint64_t *)f = uv;
		return RN_OK;
	case RN_CONF_STRING:
	case RN_CONF_HOSTPORT:
	case RN_CONF_URL: {
		size_t n = strlen(s);
		if (k->type == RN_CONF_STRING && ((int64_t)n < k->min || (int64_t)n > k->max)) {
			snprintf(msg, msglen, "length %zu is out of range [%lld, %lld]", n,
			         (long long)k->min, (long long)k->max);
			return RN_ECONF;
		}
		if (k->type == RN_CONF_HOSTPORT && check_hostport(s, msg, msglen) != RN_OK)
			return RN_ECONF;
		if (k->type == RN_CONF_URL && check_url(s, msg, msglen) != RN_OK)
			return RN_ECONF;
		char *dup = NULL;
		if (n > 0) {
			dup = strdup(s);
			if (dup == NULL)
				return -ENOMEM;
		}
		free(*(char **)f);
		*(char **)f = dup;
		return RN_OK;
	}
	case RN_CONF_ENUM: {
		int i = find_enum(k, s);
		if (i < 0) {
			char ch[200];
			enum_choices(k, ch, sizeof(ch));
			snprintf(msg, msglen, "\"%s\" is not one of: %s", s, ch);
			return RN_ECONF;
		}
		*(int *)f = i;
		return RN_OK;
	}
	default:
		snprintf(msg, msglen, "internal: not a scalar key");
		return RN_EINTERNAL;
	}
}

/* Adds one list element given as text. */
static int add_elem_text(const struct rn_conf_key *k, void *f, const char *s, char *msg,
                         size_t msglen)
{
	switch (k->type) {
	case RN_CONF_STRLIST: {
		struct rn_strlist *l = f;
		if ((int64_t)l->n >= k->max) {
			snprintf(msg, msglen, "more than %lld entries", (long long)k->max);
			return RN_ECONF;
		}
		if (s[0] == '\0') {
			snprintf(msg, msglen, "empty entry");
			return RN_ECONF;
		}
		return rn_strlist_add(l, s);
	}
	case RN_CONF_PREFIXES: {
		struct rn_prefix_list *l = f;
		struct rn_prefix p;
		if ((int64_t)l->n >= k->max) {
			snprintf(msg, msglen, "more than %lld entries", (long long)k->max);
			return RN_ECONF;
		}
		if (rn_prefix_parse_str(s, true, &p) != RN_OK) {
			snprintf(msg, msglen,
			         "\"%s\" is not an address or prefix (host bits must be zero)", s);
			return RN_ECONF;
		}
		return rn_prefix_list_add(l, &p);
	}
	case RN_CONF_FLAGS: {
		int i = find_enum(k, s);
		if (i < 0) {
			char ch[200];
			enum_choices(k, ch, sizeof(ch));
			snprintf(msg, msglen, "\"%s\" is not one of: %s", s, ch);
			return RN_ECONF;
		}
		*(unsigned *)f |= 1u << i;
		return RN_OK;
	}
	default:
		snprintf(msg, msglen, "internal: not a list key");
		return RN_EINTERNAL;
	}
}

static bool is_list_type(enum rn_conf_type t)
{
	return t == RN_CONF_STRLIST || t == RN_CONF_PREFIXES || t == RN_CONF_FLAGS;
}

/* A whole value as text: lists are comma-separated. */
static int set_value_text(const struct rn_conf_key *k, void *f, const char *s, char *msg,
                          size_t msglen)
{
	if (!is_list_type(k->type))
		return set_text(k, f, s, msg, msglen);
	field_release(k, f);
	field_zero(k, f);
	char *copy = strdup(s);
	if (copy == NULL)
		return -ENOMEM;
	int rc = RN_OK;
	char *save = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		size_t n = strlen(tok);
		while (n > 0 && tok[n - 1] == ' ')
			tok[--n] = '\0';
		rc = add_elem_text(k, f, tok, msg, msglen);
		if (rc != RN_OK)
			break;
	}
	free(copy);
	return rc;
}

/* A value from the file. */
static int set_node(const struct rn_conf_key *k, void *f, const config_setting_t *n, char *msg,
                    size_t msglen)
{
	int t = config_setting_type(n);
	char tmp[64];
	if (k->type == RN_CONF_CUSTOM)
		return k->parse((const struct rn_conf_node *)n, f, msg, msglen);
	if (is_list_type(k->type)) {
		if (t == CONFIG_TYPE_STRING)
			return set_value_text(k, f, config_setting_get_string(n), msg, msglen);
		if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
			snprintf(msg, msglen, "expected a list of strings, like [\"a\", \"b\"]");
			return RN_ECONF;
		}
		field_release(k, f);
		field_zero(k, f);
		int cnt = config_setting_length(n);
		for (int i = 0; i < cnt; i++) {
			const config_setting_t *e = config_setting_get_elem(n, (unsigned)i);
			if (config_setting_type(e) != CONFIG_TYPE_STRING) {
				snprintf(msg, msglen, "entry %d is not a string", i + 1);
				return RN_ECONF;
			}
			int rc = add_elem_text(k, f, config_setting_get_string(e), msg, msglen);
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
		return set_text(k, f, config_setting_get_string(n), msg, msglen);
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
		return set_text(k, f, tmp, msg, msglen);
	case CONFIG_TYPE_FLOAT:
		if (k->type != RN_CONF_DOUBLE) {
			snprintf(msg, msglen, "expected %s, not a decimal number",
			         k->type == RN_CONF_INT ? "an integer" : "another type");
			return RN_ECONF;
		}
		snprintf(tmp, sizeof(tmp), "%.17g", config_setting_get_float(n));
		return set_text(k, f, tmp, msg, msglen);
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
			int rc = set_node(k, FIELD(sec, k), n, msg, sizeof(msg));
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
		set_err(w->err, file, line, full, "unknown key");
		return RN_ECONF;
	}
	return RN_OK;
}

static void release_all(struct rn_conf_section *secs, size_t nsecs)
{
	for (size_t s = 0; s < nsecs; s++)
		for (const struct rn_conf_key *k = secs[s].keys; k->name != NULL; k++)
			field_release(k, FIELD(&secs[s], k));
}

void rn_conf_release(struct rn_conf_section *secs, size_t nsecs)
{
	release_all(secs, nsecs);
}

static int apply_defaults(struct rn_conf_section *secs, size_t nsecs, struct rn_conf_error *err)
{
	for (size_t s = 0; s < nsecs; s++)
		for (const struct rn_conf_key *k = secs[s].keys; k->name != NULL; k++)
			field_zero(k, FIELD(&secs[s], k));
	for (size_t s = 0; s < nsecs; s++) {
		struct rn_conf_section *sec = &secs[s];
		for (const struct rn_conf_key *k = sec->keys; k->name != NULL; k++) {
			char msg[256] = "";
			int rc = RN_OK;
			if (k->type == RN_CONF_CUSTOM) {
				if (k->parse == NULL)
					rc = RN_EINTERNAL;
				else
					rc = k->parse(NULL, FIELD(sec, k), msg, sizeof(msg));
			} else if (k->def != NULL) {
				rc = set_value_text(k, FIELD(sec, k), k->def, msg, sizeof(msg));
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
			set_err(err, "<command line>", 0, full, "unknown key");
			return RN_ECONF;
		}
		if (k->type == RN_CONF_CUSTOM) {
			set_err(err, "<command line>", 0, full,
			        "this key can only be set in the configuration file");
			return RN_ECONF;
		}
		char msg[256] = "";
		int rc = set_value_text(k, FIELD(sec, k), eq + 1, msg, sizeof(msg));
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
			if (k->check(CFIELD(sec, k), msg, sizeof(msg)) != RN_OK) {
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
				set_err(err, name, line, sname, "unknown section");
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

/* ---- comparison and description ------------------------------------- */

static bool str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool field_equal(const struct rn_conf_key *k, const void *a, const void *b)
{
	switch (k->type) {
	case RN_CONF_BOOL:
		return *(const bool *)a == *(const bool *)b;
	case RN_CONF_INT:
	case RN_CONF_DURATION:
		return *(const int64_t *)a == *(const int64_t *)b;
	case RN_CONF_DOUBLE:
		return *(const double *)a == *(const double *)b;
	case RN_CONF_SIZE:
		return *(const uint64_t *)a == *(const uint64_t *)b;
	case RN_CONF_ENUM:
		return *(const int *)a == *(const int *)b;
	case RN_CONF_FLAGS:
		return *(const unsigned *)a == *(const unsigned *)b;
	case RN_CONF_STRING:
	case RN_CONF_HOSTPORT:
	case RN_CONF_URL:
		return str_eq(*(char *const *)a, *(char *const *)b);
	case RN_CONF_STRLIST: {
		const struct rn_strlist *x = a, *y = b;
		if (x->n != y->n)
			return false;
		for (size_t i = 0; i < x->n; i++)
			if (strcmp(x->v[i], y->v[i]) != 0)
				return false;
		return true;
	}
	case RN_CONF_PREFIXES: {
		const struct rn_prefix_list *x = a, *y = b;
		if (x->n != y->n)
			return false;
		for (size_t i = 0; i < x->n; i++)
			if (x->v[i].len != y->v[i].len ||
			    !rn_addr_equal(&x->v[i].addr, &y->v[i].addr))
				return false;
		return true;
	}
	case RN_CONF_CUSTOM:
		return k->equal != NULL && k->equal(a, b);
	}
	return false;
}

const char *rn_conf_first_restart_key(const struct rn_conf_section *old_secs,
                                      const struct rn_conf_section *new_secs, size_t nsecs,
                                      char *buf, size_t buflen)
{
	for (size_t s = 0; s < nsecs; s++) {
		for (const struct rn_conf_key *k = old_secs[s].keys; k->name != NULL; k++) {
			if (k->flags & RN_CONF_RELOAD)
				continue;
			if (!field_equal(k, CFIELD(&old_secs[s], k), CFIELD(&new_secs[s], k))) {
				snprintf(buf, buflen, "%s.%s", old_secs[s].name, k->name);
				return buf;
			}
		}
	}
	return NULL;
}

struct sbuf {
	char *p;
	size_t n, cap;
	int err;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) RN_PRINTF(2, 3);
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	while (b->err == 0) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->err = RN_EINTERNAL;
			return;
		}
		if (b->p != NULL && (size_t)n < b->cap - b->n) {
			b->n += (size_t)n;
			return;
		}
		size_t cap = (b->cap ? b->cap * 2 : 4096) + (size_t)n + 1;
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			b->err = -ENOMEM;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

static const char *type_name(const struct rn_conf_key *k)
{
	switch (k->type) {
	case RN_CONF_BOOL:
		return "bool";
	case RN_CONF_INT:
		return "integer";
	case RN_CONF_DOUBLE:
		return "number";
	case RN_CONF_DURATION:
		return "duration";
	case RN_CONF_SIZE:
		return "size";
	case RN_CONF_STRING:
		return "string";
	case RN_CONF_ENUM:
		return "enum";
	case RN_CONF_FLAGS:
		return "list of names";
	case RN_CONF_HOSTPORT:
		return "address:port";
	case RN_CONF_URL:
		return "bus URL";
	case RN_CONF_STRLIST:
		return "list of strings";
	case RN_CONF_PREFIXES:
		return "list of prefixes";
	case RN_CONF_CUSTOM:
		return "group";
	}
	return "?";
}

static void describe_bounds(struct sbuf *b, const struct rn_conf_key *k)
{
	char ch[200];
	switch (k->type) {
	case RN_CONF_INT:
	case RN_CONF_DOUBLE:
		sb_printf(b, "%lld to %lld", (long long)k->min, (long long)k->max);
		break;
	case RN_CONF_DURATION:
		sb_printf(b, "%lldms to %lldms", (long long)k->min, (long long)k->max);
		break;
	case RN_CONF_SIZE:
		sb_printf(b, "%lld to %lld bytes", (long long)k->min, (long long)k->max);
		break;
	case RN_CONF_STRING:
		sb_printf(b, "length %lld to %lld", (long long)k->min, (long long)k->max);
		break;
	case RN_CONF_ENUM:
	case RN_CONF_FLAGS:
		enum_choices(k, ch, sizeof(ch));
		sb_printf(b, "%s", ch);
		break;
	case RN_CONF_STRLIST:
	case RN_CONF_PREFIXES:
		sb_printf(b, "up to %lld entries", (long long)k->max);
		break;
	default:
		break;
	}
}

int rn_conf_describe(const struct rn_conf_section *secs, size_t nsecs, char **out, size_t *len)
{
	struct sbuf b = {0};
	sb_printf(&b, "| key | type | default | range | reload | description |\n");
	sb_printf(&b, "|---|---|---|---|---|---|\n");
	for (size_t s = 0; s < nsecs; s++) {
		for (const struct rn_conf_key *k = secs[s].keys; k->name != NULL; k++) {
			sb_printf(&b, "| `%s.%s` | %s | %s%s%s | ", secs[s].name, k->name,
			          type_name(k), k->def && k->def[0] ? "`" : "",
			          k->def && k->def[0] ? k->def : "(none)",
			          k->def && k->def[0] ? "`" : "");
			describe_bounds(&b, k);
			sb_printf(&b, " | %s | %s |\n", (k->flags & RN_CONF_RELOAD) ? "yes" : "no",
			          k->help ? k->help : "");
		}
	}
	if (b.err != 0) {
		free(b.p);
		return b.err;
	}
	*out = b.p;
	*len = b.n;
	return RN_OK;
}

static void dump_string(struct sbuf *b, const char *s)
{
	sb_printf(b, "\"");
	for (const char *p = s ? s : ""; *p; p++) {
		if (*p == '"' || *p == '\\')
			sb_printf(b, "\\%c", *p);
		else if (*p == '\n')
			sb_printf(b, "\\n");
		else
			sb_printf(b, "%c", *p);
	}
	sb_printf(b, "\"");
}

static void dump_value(struct sbuf *b, const struct rn_conf_key *k, const void *f)
{
	char tmp[RN_PREFIX_STRLEN];
	if (k->flags & RN_CONF_SECRET) {
		sb_printf(b, "\"(secret)\"");
		return;
	}
	switch (k->type) {
	case RN_CONF_BOOL:
		sb_printf(b, "%s", *(const bool *)f ? "true" : "false");
		break;
	case RN_CONF_INT:
		sb_printf(b, "%lld", (long long)*(const int64_t *)f);
		break;
	case RN_CONF_DOUBLE:
		sb_printf(b, "%.17g", *(const double *)f);
		break;
	case RN_CONF_DURATION: {
		static const struct {
			const char *u;
			int64_t ms;
		} units[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};
		int64_t v = *(const int64_t *)f;
		const char *u = "ms";
		int64_t n = v;
		for (size_t i = 0; v != 0 && i < RN_ARRAY_LEN(units); i++) {
			if (v % units[i].ms == 0) {
				u = units[i].u;
				n = v / units[i].ms;
				break;
			}
		}
		sb_printf(b, "\"%lld%s\"", (long long)n, u);
		break;
	}
	case RN_CONF_SIZE:
		sb_printf(b, "%llu", (unsigned long long)*(const uint64_t *)f);
		break;
	case RN_CONF_STRING:
	case RN_CONF_HOSTPORT:
	case RN_CONF_URL:
		dump_string(b, *(char *const *)f);
		break;
	case RN_CONF_ENUM:
		dump_string(b, k->enum_names[*(const int *)f]);
		break;
	case RN_CONF_FLAGS: {
		unsigned v = *(const unsigned *)f;
		bool first = true;
		sb_printf(b, "[");
		for (int i = 0; k->enum_names[i] != NULL; i++) {
			if (!(v & (1u << i)))
				continue;
			sb_printf(b, "%s", first ? "" : ", ");
			dump_string(b, k->enum_names[i]);
			first = false;
		}
		sb_printf(b, "]");
		break;
	}
	case RN_CONF_STRLIST: {
		const struct rn_strlist *l = f;
		sb_printf(b, "[");
		for (size_t i = 0; i < l->n; i++) {
			sb_printf(b, "%s", i ? ", " : "");
			dump_string(b, l->v[i]);
		}
		sb_printf(b, "]");
		break;
	}
	case RN_CONF_PREFIXES: {
		const struct rn_prefix_list *l = f;
		sb_printf(b, "[");
		for (size_t i = 0; i < l->n; i++) {
			rn_prefix_format(&l->v[i], tmp, sizeof(tmp));
			sb_printf(b, "%s\"%s\"", i ? ", " : "", tmp);
		}
		sb_printf(b, "]");
		break;
	}
	case RN_CONF_CUSTOM:
		break;
	}
}

/* True when name lies under the dotted group path prefix (plen bytes). */
static bool under(const char *name, const char *prefix, size_t plen)
{
	return plen == 0 || (strncmp(name, prefix, plen) == 0 && name[plen] == '.');
}

/*
 * Writes the keys under prefix: leaves first, then each subgroup once, in
 * the order the table first mentions it. libconfig does not accept dotted
 * names, and a group may appear only once.
 */
static void dump_group(struct sbuf *b, const struct rn_conf_section *sec, const char *prefix,
                       size_t plen, int depth)
{
	size_t skip = plen ? plen + 1 : 0;
	for (const struct rn_conf_key *k = sec->keys; k->name != NULL; k++) {
		if (!under(k->name, prefix, plen) || strchr(k->name + skip, '.') != NULL)
			continue;
		if (k->type == RN_CONF_CUSTOM) {
			sb_printf(b, "%*s# %s: a group set in the file; see `repnet config`\n",
			          depth * 2, "", k->name + skip);
			continue;
		}
		sb_printf(b, "%*s%s = ", depth * 2, "", k->name + skip);
		dump_value(b, k, CFIELD(sec, k));
		sb_printf(b, ";\n");
	}
	for (const struct rn_conf_key *k = sec->keys; k->name != NULL; k++) {
		if (!under(k->name, prefix, plen))
			continue;
		const char *dot = strchr(k->name + skip, '.');
		if (dot == NULL)
			continue;
		size_t glen = (size_t)(dot - k->name);
		/* Only at the first key of this group. */
		bool seen = false;
		for (const struct rn_conf_key *j = sec->keys; j < k; j++)
			if (strncmp(j->name, k->name, glen) == 0 && j->name[glen] == '.')
				seen = true;
		if (seen)
			continue;
		sb_printf(b, "%*s%.*s: {\n", depth * 2, "", (int)(glen - skip), k->name + skip);
		dump_group(b, sec, k->name, glen, depth + 1);
		sb_printf(b, "%*s};\n", depth * 2, "");
	}
}

int rn_conf_dump(const struct rn_conf_section *secs, size_t nsecs, char **out, size_t *len)
{
	struct sbuf b = {0};
	for (size_t s = 0; s < nsecs; s++) {
		bool first = true;
		for (size_t t = 0; t < s; t++)
			if (strcmp(secs[t].name, secs[s].name) == 0)
				first = false;
		if (!first)
			continue;
		sb_printf(&b, "%s: {\n", secs[s].name);
		for (size_t t = s; t < nsecs; t++)
			if (strcmp(secs[t].name, secs[s].name) == 0)
				dump_group(&b, &secs[t], "", 0, 1);
		sb_printf(&b, "};\n");
	}
	if (b.err != 0) {
		free(b.p);
		return b.err;
	}
	*out = b.p;
	*len = b.n;
	return RN_OK;
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

/* ---- the core section ------------------------------------------------ */

const char *const rn_role_names[] = {"collect", "score", "publish", "serve", "sync", NULL};
/* Index i is syslog level RN_LOG_ERR + i. */
static const char *const log_level_names[] = {"err", "warning", "notice", "info", "debug", NULL};

#define CORE_OFF(f) offsetof(struct rn_core_conf, f)

const struct rn_conf_key rn_core_conf_keys[] = {
        {.name = "instance",
         .type = RN_CONF_STRING,
         .offset = CORE_OFF(instance),
         .min = 1,
         .max = 63,
         .def = "repnet",
         .help = "Name of this node, in logs, metrics and the feed's publisher field."},
        {.name = "data_dir",
         .type = RN_CONF_STRING,
         .offset = CORE_OFF(data_dir),
         .min = 1,
         .max = 1024,
         .def = REPNET_DEFAULT_DATA_DIR,
         .help = "Directory for journals, snapshots, templates and keys. Created if absent."},
        {.name = "roles",
         .type = RN_CONF_FLAGS,
         .offset = CORE_OFF(roles),
         .def = "collect,score,publish,serve,sync",
         .enum_names = rn_role_names,
         .help = "Roles this process runs. All run in one process by default."},
        {.name = "log_level",
         .type = RN_CONF_ENUM,
         .offset = CORE_OFF(log_level),
         .def = "notice",
         .enum_names = log_level_names,
         .flags = RN_CONF_RELOAD,
         .help = "Least severe level logged: err, warning, notice, info or debug."},
        {.name = "http_listen",
         .type = RN_CONF_HOSTPORT,
         .offset = CORE_OFF(http_listen),
         .def = "127.0.0.1:9477",
         .help = "Address of the HTTP listener that serves /metrics. Empty disables it."},
        {.name = "shutdown_grace",
         .type = RN_CONF_DURATION,
         .offset = CORE_OFF(shutdown_grace_ms),
         .min = 0,
         .max = 600000,
         .def = "10s",
         .flags = RN_CONF_RELOAD,
         .help = "How long a stop waits for queues to drain before exiting."},
        {.name = NULL},
};
