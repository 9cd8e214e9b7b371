/*
 * smtp_testlib.h: helpers for the SMTP collector tests: run the offline
 * pipeline over a file or a string and keep every observation.
 */
#ifndef REPNET_TESTS_SMTP_TESTLIB_H
#define REPNET_TESTS_SMTP_TESTLIB_H

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/test.h"
#include "collector/smtp.h"

struct obs_vec {
	struct rn_obs *v;
	size_t n, cap;
};

static inline void obs_vec_emit(void *arg, const struct rn_obs *obs, size_t n)
{
	struct obs_vec *o = arg;
	if (o->n + n > o->cap) {
		o->cap = (o->n + n) * 2;
		o->v = realloc(o->v, o->cap * sizeof(*o->v));
		assert_non_null(o->v);
	}
	memcpy(o->v + o->n, obs, n * sizeof(*obs));
	o->n += n;
}

/* The defaults of collector_smtp_conf_keys, loaded through the table. */
static inline void smtp_conf_defaults(struct collector_smtp_conf *c, const char *const *ov)
{
	struct rn_conf_section s = {"collector", collector_smtp_conf_keys, c};
	struct rn_conf_error err;
	memset(c, 0, sizeof(*c));
	if (rn_conf_load(NULL, ov, &s, 1, &err) != RN_OK) {
		print_error("%s: %s\n", err.key, err.msg);
		fail();
	}
}

static inline void smtp_conf_release(struct collector_smtp_conf *c)
{
	struct rn_conf_section s = {"collector", collector_smtp_conf_keys, c};
	rn_conf_release(&s, 1);
}

/* Runs the offline pipeline over buf; returns its stats. */
static inline void run_buf(const struct collector_smtp_conf *c, bool detect, const void *buf,
                           size_t len, struct obs_vec *o, struct collector_smtp_stats *st)
{
	static const uint8_t key[32] = {1, 2, 3};
	struct collector_smtp_opts opts = {.format = -1,
	                                   .detect = detect,
	                                   .ref_ms = 1796083200000LL /* 2026-12-01 */,
	                                   .key = key};
	struct collector_sink sink = {.emit = obs_vec_emit, .arg = o};
	struct collector_smtp *p = NULL;
	RN_PASS(collector_smtp_alloc(&p, c, &opts, &sink));
	RN_PASS(collector_smtp_feed(p, buf, len));
	RN_PASS(collector_smtp_flush(p));
	if (st != NULL)
		collector_smtp_get_stats(p, st);
	collector_smtp_free(p);
}

static inline void run_file(const struct collector_smtp_conf *c, bool detect, const char *name,
                            struct obs_vec *o, struct collector_smtp_stats *st)
{
	char path[1024];
	uint8_t *buf = NULL;
	size_t len = 0;
	snprintf(path, sizeof(path), "%s/mail/%s", REPNET_TEST_DATA, name);
	RN_PASS(rn_file_read(path, 64u << 20, &buf, &len));
	run_buf(c, detect, buf, len, o, st);
	free(buf);
}

/* Observations of kind from addresses 127.0.<third>.x (third < 0: any). */
static inline size_t count_kind(const struct obs_vec *o, int third, unsigned kind)
{
	size_t n = 0;
	for (size_t i = 0; i < o->n; i++) {
		const struct rn_obs *x = &o->v[i];
		if (x->kind != kind)
			continue;
		if (third >= 0 && (x->addr.family != RN_AF_INET || (x->addr.u.v4 >> 24) != 127 ||
		                   ((x->addr.u.v4 >> 8) & 0xff) != (unsigned)third))
			continue;
		n += 1;
	}
	return n;
}

/* Observations from one address ("127.0.6.31"), of kind (0: any). */
static inline size_t count_addr(const struct obs_vec *o, const char *addr, unsigned kind)
{
	struct rn_addr a;
	size_t n = 0;
	RN_PASS(rn_addr_parse_str(addr, &a));
	for (size_t i = 0; i < o->n; i++)
		if (rn_addr_equal(&o->v[i].addr, &a) && (kind == 0 || o->v[i].kind == kind))
			n++;
	return n;
}

/*
 * The loop-safety lists as the executable fills them for a node serving
 * bl.test with the default texts, plus a federated zone by the key.
 */
static inline void smtp_conf_own(struct collector_smtp_conf *c)
{
	RN_PASS(rn_strlist_add(&c->enforce_zones, "bl.test"));
	RN_PASS(rn_strlist_add(&c->enforce_texts, "Listed by repnet:"));
	RN_PASS(rn_strlist_add(&c->own_zones, "Fed.Example."));
}

static inline void smtp_conf_own_release(struct collector_smtp_conf *c)
{
	rn_strlist_clear(&c->enforce_zones);
	rn_strlist_clear(&c->enforce_texts);
}

/* Parses one Postfix message with a program tag. */
static inline int pf1(const char *prog, const char *msg, struct smtp_event *ev)
{
	return postfix_parse((const uint8_t *)prog, strlen(prog), (const uint8_t *)msg, strlen(msg),
	                     ev);
}

static inline void assert_addr(const struct rn_addr *a, const char *want)
{
	char buf[RN_ADDR_STRLEN];
	rn_addr_format(a, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

#endif /* REPNET_TESTS_SMTP_TESTLIB_H */
