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

#endif /* REPNET_TEST_H */
