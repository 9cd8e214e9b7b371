/*
 * conf_dump.c: the configuration tables as text: `repnet config`'s
 * Markdown table of every key (rn_conf_describe()) and a loaded
 * configuration written back in libconfig syntax (rn_conf_dump()).
 *
 * Design notes: output goes to a growable string builder (rn_strbuf),
 * whose first failure is sticky, so writers never check and the caller
 * gets one error at the end. Dotted key names become nested groups, each
 * written once, where the table first mentions it (libconfig accepts
 * neither dotted names nor a group twice); secret values are never
 * written.
 * Read-only over the tables: any thread.
 */
#include <stdint.h>
#include <string.h>

#include "proto/conf_int.h"

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

static void describe_bounds(struct rn_strbuf *b, const struct rn_conf_key *k)
{
	char ch[200];
	switch (k->type) {
	case RN_CONF_INT:
	case RN_CONF_DOUBLE:
		rn_strbuf_printf(b, "%lld to %lld", (long long)k->min, (long long)k->max);
		break;
	case RN_CONF_DURATION:
		rn_strbuf_printf(b, "%lldms to %lldms", (long long)k->min, (long long)k->max);
		break;
	case RN_CONF_SIZE:
		rn_strbuf_printf(b, "%lld to %lld bytes", (long long)k->min, (long long)k->max);
		break;
	case RN_CONF_STRING:
		rn_strbuf_printf(b, "length %lld to %lld", (long long)k->min, (long long)k->max);
		break;
	case RN_CONF_ENUM:
	case RN_CONF_FLAGS:
		conf_enum_choices(k, ch, sizeof(ch));
		rn_strbuf_printf(b, "%s", ch);
		break;
	case RN_CONF_STRLIST:
	case RN_CONF_PREFIXES:
		rn_strbuf_printf(b, "up to %lld entries", (long long)k->max);
		break;
	default:
		break;
	}
}

int rn_conf_describe(const struct rn_conf_section *secs, size_t nsecs, char **out, size_t *len)
{
	struct rn_strbuf b;
	rn_strbuf_init(&b, SIZE_MAX);
	rn_strbuf_printf(&b, "| key | type | default | range | reload | description |\n");
	rn_strbuf_printf(&b, "|---|---|---|---|---|---|\n");
	for (size_t s = 0; s < nsecs; s++) {
		for (const struct rn_conf_key *k = secs[s].keys; k->name != NULL; k++) {
			rn_strbuf_printf(&b, "| `%s.%s` | %s | %s%s%s | ", secs[s].name, k->name,
			                 type_name(k), k->def && k->def[0] ? "`" : "",
			                 k->def && k->def[0] ? k->def : "(none)",
			                 k->def && k->def[0] ? "`" : "");
			describe_bounds(&b, k);
			rn_strbuf_printf(&b, " | %s | %s |\n",
			                 (k->flags & RN_CONF_RELOAD) ? "yes" : "no",
			                 k->help ? k->help : "");
		}
	}
	return rn_strbuf_take(&b, out, len);
}

static void dump_string(struct rn_strbuf *b, const char *s)
{
	rn_strbuf_putc(b, '"');
	for (const char *p = s ? s : ""; *p; p++) {
		if (*p == '"' || *p == '\\')
			rn_strbuf_putc(b, '\\');
		if (*p == '\n')
			rn_strbuf_puts(b, "\\n");
		else
			rn_strbuf_putc(b, *p);
	}
	rn_strbuf_putc(b, '"');
}

static void dump_value(struct rn_strbuf *b, const struct rn_conf_key *k, const void *f)
{
	char tmp[RN_PREFIX_STRLEN];
	if (k->flags & RN_CONF_SECRET) {
		rn_strbuf_printf(b, "\"(secret)\"");
		return;
	}
	switch (k->type) {
	case RN_CONF_BOOL:
		rn_strbuf_printf(b, "%s", *(const bool *)f ? "true" : "false");
		break;
	case RN_CONF_INT:
		rn_strbuf_printf(b, "%lld", (long long)*(const int64_t *)f);
		break;
	case RN_CONF_DOUBLE:
		rn_strbuf_printf(b, "%.17g", *(const double *)f);
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
		rn_strbuf_printf(b, "\"%lld%s\"", (long long)n, u);
		break;
	}
	case RN_CONF_SIZE:
		rn_strbuf_printf(b, "%llu", (unsigned long long)*(const uint64_t *)f);
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
		rn_strbuf_printf(b, "[");
		for (int i = 0; k->enum_names[i] != NULL; i++) {
			if (!(v & (1u << i)))
				continue;
			rn_strbuf_printf(b, "%s", first ? "" : ", ");
			dump_string(b, k->enum_names[i]);
			first = false;
		}
		rn_strbuf_printf(b, "]");
		break;
	}
	case RN_CONF_STRLIST: {
		const struct rn_strlist *l = f;
		rn_strbuf_printf(b, "[");
		for (size_t i = 0; i < l->n; i++) {
			rn_strbuf_printf(b, "%s", i ? ", " : "");
			dump_string(b, l->v[i]);
		}
		rn_strbuf_printf(b, "]");
		break;
	}
	case RN_CONF_PREFIXES: {
		const struct rn_prefix_list *l = f;
		rn_strbuf_printf(b, "[");
		for (size_t i = 0; i < l->n; i++) {
			rn_prefix_format(&l->v[i], tmp, sizeof(tmp));
			rn_strbuf_printf(b, "%s\"%s\"", i ? ", " : "", tmp);
		}
		rn_strbuf_printf(b, "]");
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
static void dump_group(struct rn_strbuf *b, const struct rn_conf_section *sec, const char *prefix,
                       size_t plen, int depth)
{
	size_t skip = plen ? plen + 1 : 0;
	for (const struct rn_conf_key *k = sec->keys; k->name != NULL; k++) {
		if (!under(k->name, prefix, plen) || strchr(k->name + skip, '.') != NULL)
			continue;
		if (k->type == RN_CONF_CUSTOM) {
			rn_strbuf_printf(b,
			                 "%*s# %s: a group set in the file; see `repnet config`\n",
			                 depth * 2, "", k->name + skip);
			continue;
		}
		rn_strbuf_printf(b, "%*s%s = ", depth * 2, "", k->name + skip);
		dump_value(b, k, CONF_CFIELD(sec, k));
		rn_strbuf_printf(b, ";\n");
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
		rn_strbuf_printf(b, "%*s%.*s: {\n", depth * 2, "", (int)(glen - skip),
		                 k->name + skip);
		dump_group(b, sec, k->name, glen, depth + 1);
		rn_strbuf_printf(b, "%*s};\n", depth * 2, "");
	}
}

int rn_conf_dump(const struct rn_conf_section *secs, size_t nsecs, char **out, size_t *len)
{
	struct rn_strbuf b;
	rn_strbuf_init(&b, SIZE_MAX);
	for (size_t s = 0; s < nsecs; s++) {
		bool first = true;
		for (size_t t = 0; t < s; t++)
			if (strcmp(secs[t].name, secs[s].name) == 0)
				first = false;
		if (!first)
			continue;
		rn_strbuf_printf(&b, "%s: {\n", secs[s].name);
		for (size_t t = s; t < nsecs; t++)
			if (strcmp(secs[t].name, secs[s].name) == 0)
				dump_group(&b, &secs[t], "", 0, 1);
		rn_strbuf_printf(&b, "};\n");
	}
	return rn_strbuf_take(&b, out, len);
}
