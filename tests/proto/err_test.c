/*
 * err_test.c: error codes and their descriptions.
 */
#include <errno.h>
#include <string.h>

#include "test.h"

static void test_strerror(void **state)
{
	(void)state;
	assert_string_equal(rn_strerror(RN_OK), "success");
	assert_string_equal(rn_strerror(RN_ETRUNC), "truncated input");
	assert_string_equal(rn_strerror(-ENOENT), "No such file or directory");
	assert_string_equal(rn_strerror(-99999), "unknown error");
	assert_string_equal(rn_strerror(12345), "unknown error");
	/* Every domain error has its own text. */
	for (int e = -1099; e <= -1001; e++) {
		const char *s = rn_strerror(e);
		assert_non_null(s);
		if (e >= -1022 || e == RN_EINTERNAL)
			assert_string_not_equal(s, "unknown error");
	}
	/* Domain errors never collide with errno values. */
	assert_true(EHWPOISON < 1000);
	assert_string_not_equal(rn_strerror(RN_EPARSE), rn_strerror(-1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_strerror)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
