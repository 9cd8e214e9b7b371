/*
 * conf_fuzz.c: the configuration loader over every section the daemon
 * has. Any input either loads (and then dumps and reloads to the same
 * values) or fails with a message; it never crashes or leaks.
 */
#include <stdlib.h>
#include <string.h>

#include "src/common/sections.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct daemon_conf c, d;
	struct rn_conf_error err;

	/* @include reads other files: not what a fuzzer should explore. */
	if (size > 65536 || memmem(data, size, "@include", 8) != NULL)
		return 0;
	memset(&c, 0, sizeof(c));
	daemon_conf_bind(&c);
	if (rn_conf_load_buf((const char *)data, size, "fuzz", NULL, c.secs, DAEMON_NSECS, &err) !=
	    RN_OK) {
		if (err.msg[0] == '\0')
			abort(); /* every failure says why */
		return 0;
	}
	char *out;
	size_t len;
	if (rn_conf_dump(c.secs, DAEMON_NSECS, &out, &len) != RN_OK)
		abort();
	memset(&d, 0, sizeof(d));
	daemon_conf_bind(&d);
	if (rn_conf_load_buf(out, len, "dump", NULL, d.secs, DAEMON_NSECS, &err) != RN_OK)
		abort();
	char key[200];
	if (rn_conf_first_restart_key(c.secs, d.secs, DAEMON_NSECS, key, sizeof(key)) != NULL)
		abort();
	free(out);
	rn_conf_release(d.secs, DAEMON_NSECS);
	rn_conf_release(c.secs, DAEMON_NSECS);
	return 0;
}
