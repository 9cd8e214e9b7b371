/*
 * http_fuzz.c: the HTTP request reader, fed a connection's bytes as the
 * listener sees them: heads are taken one after another until the reader
 * needs more or refuses. Each head read must lie inside the input and
 * inside HTTP_HEAD_MAX, end with an empty line, and leave a method, a
 * target starting with '/' or '*', and headers that all lie in the
 * request's own text.
 */
#include <stdlib.h>
#include <string.h>

#include "feeds/http/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(const struct http_request *r, const char *s)
{
	if (s < r->text || s + strlen(s) >= r->text + sizeof(r->text))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_request r;
	size_t off = 0;
	while (off < size) {
		size_t used = 0;
		if (http_req_parse(data + off, size - off, &r, &used) != RN_OK)
			break;
		if (used < 2 || used > size - off || used > HTTP_HEAD_MAX ||
		    data[off + used - 1] != '\n')
			abort();
		if (r.method[0] == '\0' || r.target == NULL ||
		    (r.target[0] != '/' && r.target[0] != '*') || r.nhdr > HTTP_HEADERS_MAX)
			abort();
		inside(&r, r.target);
		for (unsigned i = 0; i < r.nhdr; i++) {
			inside(&r, r.hdr[i].name);
			inside(&r, r.hdr[i].value);
			if (http_req_header(&r, r.hdr[i].name) == NULL)
				abort();
		}
		off += used;
	}
	return 0;
}
