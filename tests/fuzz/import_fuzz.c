/*
 * import_fuzz.c: the list importers, one harness for every format; CMake
 * builds it once per format (fuzz_import_cidr, fuzz_import_json, ...)
 * with IMPORT_FORMAT set to that format's enum feeds_list_format value.
 * Every entry an importer yields must be a valid prefix with zero host
 * bits, and it never counts more bad lines than lines.
 */
#include <stdlib.h>

#include "feeds/rbl/rbl.h"

#ifndef IMPORT_FORMAT
#error "IMPORT_FORMAT must name the format under test (tests/fuzz/CMakeLists.txt)"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check(void *arg, const struct feeds_import_entry *e)
{
	(void)arg;
	struct rn_addr m = e->prefix.addr;
	if (e->prefix.len > rn_addr_maxlen(&e->prefix.addr))
		abort();
	rn_addr_mask(&m, e->prefix.len);
	if (!rn_addr_equal(&m, &e->prefix.addr))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct feeds_import_stats st;
	rn_log_set_level(RN_LOG_ERR);
	(void)feeds_import_parse(IMPORT_FORMAT, data, size, false, check, NULL, &st);
	if (st.bad_lines > st.lines)
		abort();
	return 0;
}
