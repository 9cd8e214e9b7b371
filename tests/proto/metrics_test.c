/*
 * metrics_test.c: the registry and the Prometheus text it renders.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

static double twice(void *arg)
{
	return 2 * *(double *)arg;
}

static void test_render(void **state)
{
	(void)state;
	struct rn_metrics *m;
	struct rn_counter a = {0}, b = {0};
	struct rn_gauge g = {0};
	double x = 1.25;
	RN_PASS(rn_metrics_alloc(&m));
	RN_PASS(rn_metrics_counter(m, &a, "repnet_lines_total", "Lines read.",
	                           "program=\"postfix/smtpd\"", &a));
	RN_PASS(rn_metrics_counter(m, &b, "repnet_lines_total", "Lines read.", "program=\"exim\"",
	                           &b));
	RN_PASS(rn_metrics_gauge(m, &g, "repnet_queue_depth", "Depth.", NULL, &g));
	RN_PASS(rn_metrics_func(m, &x, "repnet_ratio", "Twice x.", RN_METRIC_GAUGE, NULL, twice,
	                        &x));
	rn_counter_add(&a, 3);
	rn_counter_inc(&b);
	rn_gauge_set(&g, -7);
	char *out;
	size_t len;
	RN_PASS(rn_metrics_render(m, &out, &len));
	assert_int_equal(strlen(out), len);
	const char *want = "# HELP repnet_lines_total Lines read.\n"
	                   "# TYPE repnet_lines_total counter\n"
	                   "repnet_lines_total{program=\"postfix/smtpd\"} 3\n"
	                   "repnet_lines_total{program=\"exim\"} 1\n"
	                   "# HELP repnet_queue_depth Depth.\n"
	                   "# TYPE repnet_queue_depth gauge\n"
	                   "repnet_queue_depth -7\n"
	                   "# HELP repnet_ratio Twice x.\n"
	                   "# TYPE repnet_ratio gauge\n"
	                   "repnet_ratio 2.5\n";
	assert_string_equal(out, want);
	free(out);

	double v;
	RN_PASS(rn_metrics_value(m, "repnet_lines_total", "program=\"exim\"", &v));
	assert_true(v == 1);
	RN_FAILS_WITH(rn_metrics_value(m, "repnet_lines_total", NULL, &v), RN_ENOTFOUND);

	rn_metrics_unregister(m, &a);
	RN_PASS(rn_metrics_render(m, &out, &len));
	assert_null(strstr(out, "postfix/smtpd"));
	assert_non_null(strstr(out, "program=\"exim\""));
	free(out);
	rn_metrics_free(m);
	rn_metrics_free(NULL);
}

static void test_rejects(void **state)
{
	(void)state;
	struct rn_metrics *m;
	struct rn_counter a = {0};
	RN_PASS(rn_metrics_alloc(&m));
	RN_PASS(rn_metrics_counter(m, NULL, "repnet_x_total", "X.", "a=\"1\"", &a));
	RN_FAILS_WITH(rn_metrics_counter(m, NULL, "repnet_x_total", "X.", "a=\"1\"", &a),
	              RN_EEXIST);
	/* Same name, other help or type: an inconsistent family. */
	RN_FAILS_WITH(rn_metrics_counter(m, NULL, "repnet_x_total", "Y.", "a=\"2\"", &a), RN_ECONF);
	RN_FAILS_WITH(
	        rn_metrics_gauge(m, NULL, "repnet_x_total", "X.", "a=\"3\"", &(struct rn_gauge){0}),
	        RN_ECONF);
	static const char *const bad_names[] = {"", "9lives", "has-dash", "sp ace"};
	for (size_t i = 0; i < RN_ARRAY_LEN(bad_names); i++)
		RN_FAILS_WITH(rn_metrics_counter(m, NULL, bad_names[i], "h", NULL, &a), RN_ECONF);
	static const char *const bad_labels[] = {"a=1",      "a=\"1",     "=\"1\"",
	                                         "a=\"1\",", "a=\"\\x\"", "a=\"1\"b=\"2\""};
	for (size_t i = 0; i < RN_ARRAY_LEN(bad_labels); i++)
		RN_FAILS_WITH(rn_metrics_counter(m, NULL, "repnet_y", "h", bad_labels[i], &a),
		              RN_ECONF);
	RN_PASS(rn_metrics_counter(m, NULL, "repnet_y", "h", "a=\"q\\\"\\\\\\n\",b=\"\"", &a));
	char esc[64];
	rn_metrics_escape("a\"b\\c\nd", esc, sizeof(esc));
	assert_string_equal(esc, "a\\\"b\\\\c\\nd");
	rn_metrics_free(m);
}

struct hammer {
	struct rn_counter *c;
	int n;
};

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;
	for (int i = 0; i < h->n; i++)
		rn_counter_add_shared(h->c, 1);
	return NULL;
}

/* Shared counters lose no increments across threads. */
static void test_shared_counter(void **state)
{
	(void)state;
	struct rn_counter c = {0};
	pthread_t t[4];
	struct hammer h = {&c, 100000};
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, hammer_main, &h);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(rn_counter_get(&c), 400000);
}

RN_TEST_MAIN(test_render, test_rejects, test_shared_counter)
