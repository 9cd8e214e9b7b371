/*
 * conf_dump.c: the configuration tables as text: `repnet config`'s
 * Markdown table of every key (rn_conf_describe()) and a loaded
 * configuration written back in libconfig syntax (rn_conf_dump()).
 *
 * Design notes: output goes to a growing buffer whose first allocation
 * failure is sticky, so writers never check and the caller gets one
 * error at the end. Dotted key names become nested groups, each written
 * once, where the table first mentions it (libconfig accepts neither
 * dotted names nor a group twice); secret values are never written.
 * Read-only over the tables: any thread.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/conf_int.h"

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
		conf_enum_choices(k, ch, sizeof(ch));
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
		dump_value(b, k, CONF_CFIELD(sec, k));
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
