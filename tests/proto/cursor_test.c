/*
 * cursor_test.c: the bounded cursor.
 */
#include "test.h"

static void test_reads(void **state)
{
	(void)state;
	const uint8_t buf[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
	                       0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
	struct rn_cur c;
	rn_cur_init(&c, buf, sizeof(buf));
	assert_int_equal(rn_cur_u8(&c), 0x01);
	assert_int_equal(rn_cur_u16(&c), 0x0203);
	assert_int_equal(rn_cur_u32(&c), 0x04050607u);
	assert_int_equal(rn_cur_u64(&c), 0x08090a0b0c0d0e0fULL);
	assert_true(rn_cur_ok(&c));
	assert_int_equal(rn_cur_left(&c), 0);
	assert_int_equal(rn_cur_u8(&c), 0);
	assert_int_equal(c.err, RN_ETRUNC);
}

static void test_sticky(void **state)
{
	(void)state;
	const uint8_t buf[] = {0xff, 0xee, 0xdd};
	struct rn_cur c;
	rn_cur_init(&c, buf, sizeof(buf));
	assert_int_equal(rn_cur_u32(&c), 0); /* too short: fails, does not advance */
	assert_false(rn_cur_ok(&c));
	assert_int_equal(rn_cur_left(&c), 3);
	/* Later reads that would fit still fail: the error is sticky. */
	assert_int_equal(rn_cur_u8(&c), 0);
	assert_null(rn_cur_bytes(&c, 1));
	assert_int_equal(c.err, RN_ETRUNC);
}

static void test_uint_widths(void **state)
{
	(void)state;
	const uint8_t buf[] = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x11};
	for (size_t w = 1; w <= 8; w++) {
		struct rn_cur c;
		rn_cur_init(&c, buf, sizeof(buf));
		uint64_t want = 0;
		for (size_t i = 0; i < w; i++)
			want = want << 8 | buf[i];
		assert_int_equal(rn_cur_uint(&c, w), want);
		assert_int_equal(rn_cur_left(&c), sizeof(buf) - w);
	}
	struct rn_cur c;
	rn_cur_init(&c, buf, sizeof(buf));
	assert_int_equal(rn_cur_uint(&c, 9), 0);
	assert_int_equal(c.err, RN_EBADLEN);
	rn_cur_init(&c, buf, sizeof(buf));
	assert_int_equal(rn_cur_uint(&c, 0), 0);
	assert_int_equal(c.err, RN_EBADLEN);
	rn_cur_init(&c, buf, 3);
	assert_int_equal(rn_cur_uint(&c, 4), 0);
	assert_int_equal(c.err, RN_ETRUNC);
}

static void test_sub(void **state)
{
	(void)state;
	const uint8_t buf[] = {0, 4, 'a', 'b', 'c', 'd', 0xff};
	struct rn_cur c, s;
	rn_cur_init(&c, buf, sizeof(buf));
	uint16_t n = rn_cur_u16(&c);
	assert_true(rn_cur_sub(&c, n, &s));
	assert_int_equal(rn_cur_left(&s), 4);
	assert_int_equal(rn_cur_u8(&s), 'a');
	assert_int_equal(rn_cur_left(&c), 1);
	/* A wire length longer than what is left fails both cursors. */
	rn_cur_init(&c, buf, sizeof(buf));
	rn_cur_skip(&c, 2);
	assert_false(rn_cur_sub(&c, 0xffff, &s));
	assert_false(rn_cur_ok(&c));
	assert_false(rn_cur_ok(&s));
	assert_int_equal(rn_cur_left(&s), 0);
	/* SIZE_MAX must not wrap the pointer arithmetic. */
	rn_cur_init(&c, buf, sizeof(buf));
	assert_null(rn_cur_bytes(&c, SIZE_MAX));
	assert_int_equal(c.err, RN_ETRUNC);
}

static void test_empty(void **state)
{
	(void)state;
	struct rn_cur c;
	rn_cur_init(&c, NULL, 0);
	assert_int_equal(rn_cur_left(&c), 0);
	assert_true(rn_cur_need(&c, 0));
	assert_int_equal(rn_cur_u8(&c), 0);
	assert_false(rn_cur_ok(&c));
}

RN_TEST_MAIN(test_reads, test_sticky, test_uint_widths, test_sub, test_empty)
