/*
 * import_drop_txt_fuzz.c: the drop_txt list importer. Every entry it yields must
 * be a valid prefix with zero host bits.
 */
#include <stdlib.h>

#include "feeds/rbl/rbl.h"

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
	(void)feeds_import_parse(FEEDS_FMT_DROP_TXT, data, size, false, check, NULL, &st);
	if (st.bad_lines > st.lines)
		abort();
	return 0;
}
