/*
 * test.h: project assertions on top of cmocka. Failures print the
 * repnet error string, not just the number.
 */
#ifndef REPNET_TEST_H
#define REPNET_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "proto/proto.h"

/* expr must return RN_OK. */
#define RN_PASS(expr)                                                                  \
	do {                                                                           \
		int rc_ = (expr);                                                      \
		if (rc_ != RN_OK) {                                                    \
			print_error("%s:%d: %s: %s (%d)\n", __FILE__, __LINE__, #expr, \
			            rn_strerror(rc_), rc_);                            \
			fail();                                                        \
		}                                                                      \
	} while (0)

/* expr must return exactly want. */
#define RN_FAILS_WITH(expr, want)                                                                 \
	do {                                                                                      \
		int rc_ = (expr);                                                                 \
		if (rc_ != (want)) {                                                              \
			print_error("%s:%d: %s: got %s (%d), want %s (%d)\n", __FILE__, __LINE__, \
			            #expr, rn_strerror(rc_), rc_, rn_strerror(want), (want));     \
			fail();                                                                   \
		}                                                                                 \
	} while (0)

/* expr must fail, with any error. */
#define RN_FAILS(expr)                                                                           \
	do {                                                                                     \
		int rc_ = (expr);                                                                \
		if (rc_ == RN_OK) {                                                              \
			print_error("%s:%d: %s: succeeded, want an error\n", __FILE__, __LINE__, \
			            #expr);                                                      \
			fail();                                                                  \
		}                                                                                \
	} while (0)

/* A deterministic generator for property tests (xorshift64*). */
static inline uint64_t rn_test_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/*
 * The test program's main(). RN_TEST_MAIN(test_a, test_b, ...) runs the
 * listed cmocka tests; RN_TEST_MAIN_GROUP(setup, teardown, test_a, ...)
 * runs them between a group setup and teardown; RN_TEST_MAIN_EACH(setup,
 * teardown, test_a, ...) runs setup and teardown around each test. At
 * most 16 tests a file.
 */
#define RN_TEST_MAIN(...)             RN_TEST_MAIN_(NULL, NULL, cmocka_unit_test, __VA_ARGS__)
#define RN_TEST_MAIN_GROUP(s, t, ...) RN_TEST_MAIN_(s, t, cmocka_unit_test, __VA_ARGS__)
#define RN_TEST_MAIN_EACH(s, t, ...)            \
	static int rn_each_setup_(void **st)    \
	{                                       \
		return s(st);                   \
	}                                       \
	static int rn_each_teardown_(void **st) \
	{                                       \
		return t(st);                   \
	}                                       \
	RN_TEST_MAIN_(NULL, NULL, RN_TEST_EACH_, __VA_ARGS__)
#define RN_TEST_EACH_(f) cmocka_unit_test_setup_teardown(f, rn_each_setup_, rn_each_teardown_)

#define RN_TEST_MAIN_(s, t, mk, ...)                                                \
	int main(void)                                                              \
	{                                                                           \
		const struct CMUnitTest tests_[] = {RN_TEST_MAP_(mk, __VA_ARGS__)}; \
		return cmocka_run_group_tests(tests_, s, t);                        \
	}
/* RN_TEST_MAP_(f, a, b, c) is f(a), f(b), f(c). */
#define RN_TEST_MAP_(f, ...) RN_TEST_CAT_(RN_TEST_MAP_, RN_TEST_NARG_(__VA_ARGS__))(f, __VA_ARGS__)
#define RN_TEST_CAT_(a, b)   RN_TEST_CAT2_(a, b)
#define RN_TEST_CAT2_(a, b)  a##b
#define RN_TEST_NARG_(...) \
	RN_TEST_NTH_(__VA_ARGS__, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define RN_TEST_NTH_(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, n, \
                     ...)                                                                      \
	n
#define RN_TEST_MAP_1(f, a)       f(a)
#define RN_TEST_MAP_2(f, a, ...)  f(a), RN_TEST_MAP_1(f, __VA_ARGS__)
#define RN_TEST_MAP_3(f, a, ...)  f(a), RN_TEST_MAP_2(f, __VA_ARGS__)
#define RN_TEST_MAP_4(f, a, ...)  f(a), RN_TEST_MAP_3(f, __VA_ARGS__)
#define RN_TEST_MAP_5(f, a, ...)  f(a), RN_TEST_MAP_4(f, __VA_ARGS__)
#define RN_TEST_MAP_6(f, a, ...)  f(a), RN_TEST_MAP_5(f, __VA_ARGS__)
#define RN_TEST_MAP_7(f, a, ...)  f(a), RN_TEST_MAP_6(f, __VA_ARGS__)
#define RN_TEST_MAP_8(f, a, ...)  f(a), RN_TEST_MAP_7(f, __VA_ARGS__)
#define RN_TEST_MAP_9(f, a, ...)  f(a), RN_TEST_MAP_8(f, __VA_ARGS__)
#define RN_TEST_MAP_10(f, a, ...) f(a), RN_TEST_MAP_9(f, __VA_ARGS__)
#define RN_TEST_MAP_11(f, a, ...) f(a), RN_TEST_MAP_10(f, __VA_ARGS__)
#define RN_TEST_MAP_12(f, a, ...) f(a), RN_TEST_MAP_11(f, __VA_ARGS__)
#define RN_TEST_MAP_13(f, a, ...) f(a), RN_TEST_MAP_12(f, __VA_ARGS__)
#define RN_TEST_MAP_14(f, a, ...) f(a), RN_TEST_MAP_13(f, __VA_ARGS__)
#define RN_TEST_MAP_15(f, a, ...) f(a), RN_TEST_MAP_14(f, __VA_ARGS__)
#define RN_TEST_MAP_16(f, a, ...) f(a), RN_TEST_MAP_15(f, __VA_ARGS__)

#endif /* REPNET_TEST_H */
