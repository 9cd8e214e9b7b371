/*
 * metrics.c: the metrics registry and its Prometheus text rendering.
 *
 * Design notes: the registry holds pointers to counters that live in the
 * structures of the code that bumps them; it never owns a value. One
 * mutex guards the entry array, taken on registration, unregistration
 * and scrape, never on the hot path. Entries of one metric name are
 * rendered together under one HELP/TYPE header, in registration order.
 * An owner must unregister before freeing what it registered.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

enum src_kind {
	SRC_COUNTER,
	SRC_GAUGE,
	SRC_FUNC,
};

struct entry {
	const void *owner;
	char *name;
	char *help;
	char *labels;
	enum rn_metric_type type;
	enum src_kind src;
	const void *ptr;
	double (*fn)(void *);
	void *arg;
	size_t order;
};

struct rn_metrics {
	pthread_mutex_t mtx;
	struct entry *v;
	size_t n;
	size_t cap;
	size_t next_order;
};

int rn_metrics_alloc(struct rn_metrics **out)
{
	struct rn_metrics *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	pthread_mutex_init(&m->mtx, NULL);
	*out = m;
	return RN_OK;
}

static void entry_free(struct entry *e)
{
	free(e->name);
	free(e->help);
	free(e->labels);
}

void rn_metrics_free(struct rn_metrics *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++)
		entry_free(&m->v[i]);
	free(m->v);
	pthread_mutex_destroy(&m->mtx);
	free(m);
}

static bool valid_name(const char *s)
{
	if (s == NULL || *s == '\0')
		return false;
	for (const char *p = s; *p; p++) {
		bool ok = (*p >= 'a' && *p <= 'z') || *p == '_' || (*p >= 'A' && *p <= 'Z') ||
		          (p != s && *p >= '0' && *p <= '9') || *p == ':';
		if (!ok)
			return false;
	}
	return true;
}

/* name="value"(,name="value")* with \\, \" and \n the only escapes. */
static bool valid_labels(const char *s)
{
	if (s == NULL)
		return true;
	const char *p = s;
	for (;;) {
		const char *start = p;
		while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
		       (p != start && *p >= '0' && *p <= '9'))
			p++;
		if (p == start || *p++ != '=' || *p++ != '"')
			return false;
		while (*p != '"') {
			if (*p == '\0' || *p == '\n')
				return false;
			if (*p == '\\') {
				p++;
				if (*p != '\\' && *p != '"' && *p != 'n')
					return false;
			}
			p++;
		}
		p++;
		if (*p == '\0')
			return true;
		if (*p++ != ',')
			return false;
	}
}

size_t rn_metrics_escape(const char *in, char *out, size_t outlen)
{
	size_t o = 0;
	if (outlen == 0)
		return 0;
	for (const char *p = in; *p; p++) {
		const char *rep = NULL;
		char one[2] = {*p, '\0'};
		if (*p == '\\')
			rep = "\\\\";
		else if (*p == '"')
			rep = "\\\"";
		else if (*p == '\n')
			rep = "\\n";
		else
			rep = one;
		size_t rl = strlen(rep);
		if (o + rl >= outlen)
			break;
		memcpy(out + o, rep, rl);
		o += rl;
	}
	out[o] = '\0';
	return o;
}

static int add(struct rn_metrics *m, const struct entry *tmpl)
{
	if (!valid_name(tmpl->name) || !valid_labels(tmpl->labels) || tmpl->help == NULL)
		return RN_ECONF;
	int rc = RN_OK;
	pthread_mutex_lock(&m->mtx);
	for (size_t i = 0; i < m->n; i++) {
		struct entry *e = &m->v[i];
		if (strcmp(e->name, tmpl->name) != 0)
			continue;
		if (e->type != tmpl->type || strcmp(e->help, tmpl->help) != 0) {
			rc = RN_ECONF;
			goto out;
		}
		const char *a = e->labels ? e->labels : "";
		const char *b = tmpl->labels ? tmpl->labels : "";
		if (strcmp(a, b) == 0) {
			rc = RN_EEXIST;
			goto out;
		}
	}
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		struct entry *v = realloc(m->v, cap * sizeof(*v));
		if (v == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		m->v = v;
		m->cap = cap;
	}
	struct entry e = *tmpl;
	e.name = strdup(tmpl->name);
	e.help = strdup(tmpl->help);
	e.labels = tmpl->labels ? strdup(tmpl->labels) : NULL;
	if (e.name == NULL || e.help == NULL || (tmpl->labels && e.labels == NULL)) {
		entry_free(&e);
		rc = -ENOMEM;
		goto out;
	}
	e.order = m->next_order++;
	m->v[m->n++] = e;
out:
	pthread_mutex_unlock(&m->mtx);
	return rc;
}

int rn_metrics_counter(struct rn_metrics *m, const void *owner, const char *name, const char *help,
                       const char *labels, const struct rn_counter *c)
{
	struct entry e = {.owner = owner,
	                  .name = (char *)name,
	                  .help = (char *)help,
	                  .labels = (char *)labels,
	                  .type = RN_METRIC_COUNTER,
	                  .src = SRC_COUNTER,
	                  .ptr = c};
	return add(m, &e);
}

int rn_metrics_gauge(struct rn_metrics *m, const void *owner, const char *name, const char *help,
                     const char *labels, const struct rn_gauge *g)
{
	struct entry e = {.owner = owner,
	                  .name = (char *)name,
	                  .help = (char *)help,
	                  .labels = (char *)labels,
	                  .type = RN_METRIC_GAUGE,
	                  .src = SRC_GAUGE,
	                  .ptr = g};
	return add(m, &e);
}

int rn_metrics_func(struct rn_metrics *m, const void *owner, const char *name, const char *help,
                    enum rn_metric_type type, const char *labels, double (*fn)(void *arg),
                    void *arg)
{
	if (fn == NULL)
		return RN_ECONF;
	struct entry e = {.owner = owner,
	                  .name = (char *)name,
	                  .help = (char *)help,
	                  .labels = (char *)labels,
	                  .type = type,
	                  .src = SRC_FUNC,
	                  .fn = fn,
	                  .arg = arg};
	return add(m, &e);
}

void rn_metrics_unregister(struct rn_metrics *m, const void *owner)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->mtx);
	size_t j = 0;
	for (size_t i = 0; i < m->n; i++) {
		if (m->v[i].owner == owner)
			entry_free(&m->v[i]);
		else
			m->v[j++] = m->v[i];
	}
	m->n = j;
	pthread_mutex_unlock(&m->mtx);
}

static double entry_value(const struct entry *e)
{
	switch (e->src) {
	case SRC_COUNTER:
		return (double)rn_counter_get(e->ptr);
	case SRC_GAUGE:
		return (double)rn_gauge_get(e->ptr);
	case SRC_FUNC:
		return e->fn(e->arg);
	}
	return NAN;
}

static void put_value(struct rn_strbuf *b, const struct entry *e)
{
	if (e->src == SRC_COUNTER) {
		rn_strbuf_printf(b, "%llu", (unsigned long long)rn_counter_get(e->ptr));
	} else if (e->src == SRC_GAUGE) {
		rn_strbuf_printf(b, "%lld", (long long)rn_gauge_get(e->ptr));
	} else {
		double v = e->fn(e->arg);
		if (isnan(v))
			rn_strbuf_puts(b, "NaN");
		else if (isinf(v))
			rn_strbuf_puts(b, v > 0 ? "+Inf" : "-Inf");
		else if (v == (double)(long long)v && fabs(v) < 9e15)
			rn_strbuf_printf(b, "%lld", (long long)v);
		else
			rn_strbuf_printf(b, "%.15g", v);
	}
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = *(const struct entry *const *)a;
	const struct entry *y = *(const struct entry *const *)b;
	int c = strcmp(x->name, y->name);
	if (c != 0)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

int rn_metrics_render(struct rn_metrics *m, char **out, size_t *len)
{
	struct rn_strbuf b;
	rn_strbuf_init(&b, SIZE_MAX);
	pthread_mutex_lock(&m->mtx);
	const struct entry **idx = malloc((m->n ? m->n : 1) * sizeof(*idx));
	if (idx == NULL) {
		pthread_mutex_unlock(&m->mtx);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->n; i++)
		idx[i] = &m->v[i];
	qsort(idx, m->n, sizeof(*idx), cmp_entry);
	const char *last = NULL;
	for (size_t i = 0; i < m->n; i++) {
		const struct entry *e = idx[i];
		if (last == NULL || strcmp(last, e->name) != 0) {
			rn_strbuf_printf(&b, "# HELP %s ", e->name);
			for (const char *p = e->help; *p; p++) {
				if (*p == '\\')
					rn_strbuf_puts(&b, "\\\\");
				else if (*p == '\n')
					rn_strbuf_puts(&b, "\\n");
				else
					rn_strbuf_putc(&b, *p);
			}
			rn_strbuf_printf(&b, "\n# TYPE %s %s\n", e->name,
			                 e->type == RN_METRIC_COUNTER ? "counter" : "gauge");
			last = e->name;
		}
		if (e->labels != NULL && e->labels[0] != '\0')
			rn_strbuf_printf(&b, "%s{%s} ", e->name, e->labels);
		else
			rn_strbuf_printf(&b, "%s ", e->name);
		put_value(&b, e);
		rn_strbuf_putc(&b, '\n');
	}
	pthread_mutex_unlock(&m->mtx);
	free(idx);
	return rn_strbuf_take(&b, out, len);
}

int rn_metrics_value(struct rn_metrics *m, const char *name, const char *labels, double *out)
{
	int rc = RN_ENOTFOUND;
	const char *want = labels ? labels : "";
	pthread_mutex_lock(&m->mtx);
	for (size_t i = 0; i < m->n; i++) {
		const struct entry *e = &m->v[i];
		if (strcmp(e->name, name) == 0 && strcmp(e->labels ? e->labels : "", want) == 0) {
			*out = entry_value(e);
			rc = RN_OK;
			break;
		}
	}
	pthread_mutex_unlock(&m->mtx);
	return rc;
}
