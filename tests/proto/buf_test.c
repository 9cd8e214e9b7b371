/*
 * buf_test.c: the write cursor (over a caller's buffer and growable) and
 * the string builder.
 */
#include <errno.h>
#include <stdlib.h>

#include "test.h"

static void test_wcur_writes(void **state)
{
	(void)state;
	uint8_t buf[15];
	struct rn_wcur w;
	rn_wcur_init(&w, buf, sizeof(buf));
	rn_wcur_u8(&w, 0x01);
	rn_wcur_u16(&w, 0x0203);
	rn_wcur_u32(&w, 0x04050607u);
	rn_wcur_u64(&w, 0x08090a0b0c0d0e0fULL);
	assert_true(rn_wcur_ok(&w));
	assert_int_equal(w.len, 15);
	/* What rn_cur reads back is what was written. */
	struct rn_cur c;
	rn_cur_init(&c, buf, w.len);
	assert_int_equal(rn_cur_u8(&c), 0x01);
	assert_int_equal(rn_cur_u16(&c), 0x0203);
	assert_int_equal(rn_cur_u32(&c), 0x04050607u);
	assert_int_equal(rn_cur_u64(&c), 0x08090a0b0c0d0e0fULL);
	assert_true(rn_cur_ok(&c));
}

static void test_wcur_full(void **state)
{
	(void)state;
	uint8_t buf[8];
	memset(buf, 0xaa, sizeof(buf));
	struct rn_wcur w;
	rn_wcur_init(&w, buf, 5);
	rn_wcur_u32(&w, 0x11223344u);
	rn_wcur_u16(&w, 0x5566); /* one byte short: fails, writes nothing */
	assert_false(rn_wcur_ok(&w));
	assert_int_equal(w.err, RN_ELIMIT);
	assert_int_equal(w.len, 4);
	assert_int_equal(buf[4], 0xaa);
	/* Sticky: a write that would fit fails too. */
	rn_wcur_u8(&w, 0x77);
	assert_int_equal(w.len, 4);
	assert_null(rn_wcur_reserve(&w, 1));
	assert_int_equal(buf[4], 0xaa);
	/* A reset starts a new message over the same buffer. */
	rn_wcur_reset(&w);
	assert_true(rn_wcur_ok(&w));
	assert_int_equal(w.len, 0);
	rn_wcur_u16(&w, 0x5566);
	assert_int_equal(w.len, 2);
	assert_int_equal(buf[0], 0x55);
	assert_int_equal(buf[1], 0x66);
	/* rn_wcur_take refuses a caller's buffer. */
	uint8_t *out = NULL;
	size_t len = 0;
	rn_wcur_init(&w, buf, sizeof(buf));
	RN_FAILS_WITH(rn_wcur_take(&w, &out, &len), RN_EINTERNAL);
	assert_null(out);
	rn_wcur_release(&w); /* a no-op over a caller's buffer */
	/* A zero-sized buffer holds nothing. */
	rn_wcur_init(&w, NULL, 0);
	rn_wcur_bytes(&w, "", 0);
	assert_true(rn_wcur_ok(&w));
	rn_wcur_u8(&w, 1);
	assert_int_equal(w.err, RN_ELIMIT);
}

static void test_wcur_patch(void **state)
{
	(void)state;
	uint8_t buf[16];
	struct rn_wcur w;
	rn_wcur_init(&w, buf, sizeof(buf));
	rn_wcur_u32(&w, 0xdeadbeefu);
	size_t at = w.len;
	rn_wcur_u16(&w, 0);
	rn_wcur_bytes(&w, "abc", 3);
	rn_wcur_patch(&w, at, w.len - at - 2, 2);
	assert_true(rn_wcur_ok(&w));
	assert_int_equal(buf[4], 0);
	assert_int_equal(buf[5], 3);
	rn_wcur_patch(&w, 0, 0x0102030405060708ULL, 8);
	assert_true(rn_wcur_ok(&w));
	assert_int_equal(buf[0], 0x01);
	assert_int_equal(buf[7], 0x08);
	/* Past what was written, or an impossible width: a bug. */
	rn_wcur_patch(&w, 7, 0, 4);
	assert_int_equal(w.err, RN_EINTERNAL);
	rn_wcur_init(&w, buf, sizeof(buf));
	rn_wcur_u64(&w, 0);
	rn_wcur_patch(&w, 0, 0, 9);
	assert_int_equal(w.err, RN_EINTERNAL);
}

static void test_wcur_varint(void **state)
{
	(void)state;
	static const struct {
		uint64_t v;
		size_t len;
		uint8_t b[10];
	} cases[] = {
	        {0, 1, {0x00}},
	        {1, 1, {0x01}},
	        {127, 1, {0x7f}},
	        {128, 2, {0x80, 0x01}},
	        {300, 2, {0xac, 0x02}},
	        {16383, 2, {0xff, 0x7f}},
	        {16384, 3, {0x80, 0x80, 0x01}},
	        {UINT32_MAX, 5, {0xff, 0xff, 0xff, 0xff, 0x0f}},
	        {UINT64_MAX, 10, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
	};
	for (size_t i = 0; i < RN_ARRAY_LEN(cases); i++) {
		uint8_t buf[10];
		struct rn_wcur w;
		assert_int_equal(rn_varint_len(cases[i].v), cases[i].len);
		rn_wcur_init(&w, buf, sizeof(buf));
		rn_wcur_varint(&w, cases[i].v);
		assert_true(rn_wcur_ok(&w));
		assert_int_equal(w.len, cases[i].len);
		assert_memory_equal(buf, cases[i].b, cases[i].len);
		/* One byte short: nothing written. */
		rn_wcur_init(&w, buf, cases[i].len - 1);
		rn_wcur_varint(&w, cases[i].v);
		assert_int_equal(w.err, RN_ELIMIT);
		assert_int_equal(w.len, 0);
	}
}

static void test_wcur_grow(void **state)
{
	(void)state;
	struct rn_wcur w;
	rn_wcur_init_alloc(&w, 1u << 20);
	for (uint32_t i = 0; i < 10000; i++)
		rn_wcur_u32(&w, i);
	uint8_t *p = rn_wcur_reserve(&w, 3);
	assert_non_null(p);
	memcpy(p, "xyz", 3);
	uint8_t *out;
	size_t len;
	RN_PASS(rn_wcur_take(&w, &out, &len));
	assert_int_equal(len, 40003);
	struct rn_cur c;
	rn_cur_init(&c, out, len);
	for (uint32_t i = 0; i < 10000; i++)
		assert_int_equal(rn_cur_u32(&c), i);
	assert_memory_equal(rn_cur_bytes(&c, 3), "xyz", 3);
	free(out);
	/* The cursor is empty after take, and may be used again. */
	assert_int_equal(w.len, 0);
	assert_null(w.p);
	RN_PASS(rn_wcur_take(&w, &out, &len)); /* nothing written: still a buffer */
	assert_non_null(out);
	assert_int_equal(len, 0);
	free(out);
}

static void test_wcur_max(void **state)
{
	(void)state;
	struct rn_wcur w;
	rn_wcur_init_alloc(&w, 1000);
	for (int i = 0; i < 125; i++)
		rn_wcur_u64(&w, (uint64_t)i);
	assert_true(rn_wcur_ok(&w));
	assert_int_equal(w.len, 1000);
	rn_wcur_u8(&w, 0);
	assert_int_equal(w.err, RN_ELIMIT);
	assert_int_equal(w.len, 1000);
	rn_wcur_release(&w);
	/* A huge request fails without wrapping around. */
	rn_wcur_init_alloc(&w, SIZE_MAX);
	rn_wcur_u8(&w, 1);
	assert_null(rn_wcur_reserve(&w, SIZE_MAX));
	assert_int_not_equal(w.err, RN_OK);
	uint8_t *out = NULL;
	size_t len;
	RN_FAILS(rn_wcur_take(&w, &out, &len)); /* frees on failure */
	assert_null(out);
	rn_wcur_release(&w);
}

static void test_strbuf(void **state)
{
	(void)state;
	struct rn_strbuf b;
	rn_strbuf_init(&b, 1u << 20);
	assert_string_equal(rn_strbuf_str(&b), "");
	rn_strbuf_printf(&b, "%s=%d", "a", 1);
	rn_strbuf_putc(&b, ' ');
	rn_strbuf_puts(&b, "b");
	rn_strbuf_append(&b, "cdef", 2);
	assert_string_equal(rn_strbuf_str(&b), "a=1 bcd");
	assert_int_equal(rn_strbuf_len(&b), 7);
	/* Long printfs grow the buffer and keep the NUL. */
	for (int i = 0; i < 1000; i++)
		rn_strbuf_printf(&b, "%04d", i);
	assert_int_equal(rn_strbuf_len(&b), 7 + 4000);
	assert_int_equal(strlen(rn_strbuf_str(&b)), 4007);
	assert_memory_equal(rn_strbuf_str(&b) + 4003, "0999", 4);
	rn_strbuf_reset(&b);
	assert_string_equal(rn_strbuf_str(&b), "");
	rn_strbuf_printf(&b, "%s", "again");
	char *out;
	size_t len;
	RN_PASS(rn_strbuf_take(&b, &out, &len));
	assert_string_equal(out, "again");
	assert_int_equal(len, 5);
	free(out);
	/* An empty builder still gives a C string. */
	RN_PASS(rn_strbuf_take(&b, &out, NULL));
	assert_string_equal(out, "");
	free(out);
	rn_strbuf_release(&b);
}

static void test_strbuf_fixed(void **state)
{
	(void)state;
	char buf[8];
	struct rn_strbuf b;
	rn_strbuf_init_fixed(&b, buf, sizeof(buf));
	rn_strbuf_puts(&b, "abc");
	rn_strbuf_printf(&b, "%d", 1234);
	assert_string_equal(buf, "abc1234");
	/* Does not fit: the text stays as it was, the error is sticky. */
	rn_strbuf_putc(&b, 'x');
	assert_int_equal(rn_strbuf_err(&b), RN_ELIMIT);
	assert_string_equal(buf, "abc1234");
	rn_strbuf_reset(&b);
	assert_int_equal(rn_strbuf_err(&b), RN_OK);
	rn_strbuf_puts(&b, "ab");
	rn_strbuf_printf(&b, "%s", "cdefghij"); /* a truncated printf is undone */
	assert_int_equal(rn_strbuf_err(&b), RN_ELIMIT);
	assert_string_equal(buf, "ab");
	assert_int_equal(rn_strbuf_len(&b), 2);
	rn_strbuf_release(&b); /* safe: not ours */
	/* No room even for the NUL. */
	rn_strbuf_init_fixed(&b, buf, 0);
	assert_int_equal(rn_strbuf_err(&b), RN_ELIMIT);
	/* A growable builder with a cap. */
	rn_strbuf_init(&b, 4);
	rn_strbuf_puts(&b, "abc");
	assert_int_equal(rn_strbuf_err(&b), RN_OK);
	rn_strbuf_putc(&b, 'd');
	assert_int_equal(rn_strbuf_err(&b), RN_ELIMIT);
	assert_string_equal(rn_strbuf_str(&b), "abc");
	char *out = NULL;
	RN_FAILS_WITH(rn_strbuf_take(&b, &out, NULL), RN_ELIMIT);
	assert_null(out);
	rn_strbuf_release(&b);
}

RN_TEST_MAIN(test_wcur_writes, test_wcur_full, test_wcur_patch, test_wcur_grow, test_wcur_max,
             test_strbuf, test_strbuf_fixed, test_wcur_varint)
