/*
 * conf_value.c: the typed values of configuration keys: each type's
 * field in its owner's struct zeroed, released and compared, and set from
 * text within the key's bounds.
 *
 * Design notes: text is the one input form. Defaults, -o overrides and
 * string settings of the file are all parsed by conf_value_set_text(), so
 * a default is checked exactly as a value from the file would be (the
 * loader in conf.c turns libconfig's numbers into text first). A list
 * given as text is comma-separated and replaces the whole list. On an
 * error the field keeps what it held or a partial list; the loader
 * releases everything when any key fails. Fields are plain memory of the
 * caller's struct: no state here, any thread.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proto/conf_int.h"

/* ---- string lists -------------------------------------------------- */

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

void conf_field_zero(const struct rn_conf_key *k, void *f)
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

void conf_field_release(const struct rn_conf_key *k, void *f)
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

void conf_enum_choices(const struct rn_conf_key *k, char *buf, size_t len)
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

/* The index of s among k's names, or -1 with the reason in msg. */
static int enum_index(const struct rn_conf_key *k, const char *s, char *msg, size_t msglen)
{
	int i = find_enum(k, s);
	if (i < 0) {
		char ch[200];
		conf_enum_choices(k, ch, sizeof(ch));
		snprintf(msg, msglen, "\"%s\" is not one of: %s", s, ch);
	}
	return i;
}

/* One scalar value as text; msg gets the reason on failure. */
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
		int i = enum_index(k, s, msg, msglen);
		if (i < 0)
			return RN_ECONF;
		*(int *)f = i;
		return RN_OK;
	}
	default:
		snprintf(msg, msglen, "internal: not a scalar key");
		return RN_EINTERNAL;
	}
}

int conf_elem_add_text(const struct rn_conf_key *k, void *f, const char *s, char *msg,
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
		int i = enum_index(k, s, msg, msglen);
		if (i < 0)
			return RN_ECONF;
		*(unsigned *)f |= 1u << i;
		return RN_OK;
	}
	default:
		snprintf(msg, msglen, "internal: not a list key");
		return RN_EINTERNAL;
	}
}

bool conf_is_list_type(enum rn_conf_type t)
{
	return t == RN_CONF_STRLIST || t == RN_CONF_PREFIXES || t == RN_CONF_FLAGS;
}

int conf_value_set_text(const struct rn_conf_key *k, void *f, const char *s, char *msg,
                        size_t msglen)
{
	if (!conf_is_list_type(k->type))
		return set_text(k, f, s, msg, msglen);
	conf_field_release(k, f);
	conf_field_zero(k, f);
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
		rc = conf_elem_add_text(k, f, tok, msg, msglen);
		if (rc != RN_OK)
			break;
	}
	free(copy);
	return rc;
}

/* ---- comparison ---------------------------------------------------- */

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
			if (!field_equal(k, CONF_CFIELD(&old_secs[s], k),
			                 CONF_CFIELD(&new_secs[s], k))) {
				snprintf(buf, buflen, "%s.%s", old_secs[s].name, k->name);
				return buf;
			}
		}
	}
	return NULL;
}
