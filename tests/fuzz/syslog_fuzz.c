/*
 * syslog_fuzz.c: RFC 6587 framing (octet counting and newline framing)
 * and the syslog wrappers (RFC 3164, RFC 3339, RFC 5424, Exim's stamp).
 *
 * The first byte splits the stream into two reads at an arbitrary point,
 * so frames cross read boundaries; every message delivered must be at
 * most the framer's capacity, and it then goes through the wrapper
 * parser, whose slices must lie inside the message.
 */
#include <stdlib.h>

#include "collector/smtp.h"
#include "collector/syslog_frame.h"

#define CAP 512

static struct smtp_clock clk;

static int on_msg(void *arg, const uint8_t *msg, size_t n)
{
	(void)arg;
	if (n == 0 || n > CAP)
		abort();
	struct smtp_line l;
	if (smtp_wrap_parse(&clk, msg, n, &l) == RN_OK) {
		if (l.msg < msg || l.msg + l.msg_len > msg + n)
			abort();
		/* Exim's mainlog has no tag: its program is the literal "exim". */
		bool literal = l.wrapper == SMTP_WRAP_EXIM && l.prog_len == 4 &&
		               memcmp(l.prog, "exim", 4) == 0;
		if (l.prog_len > 0 && !literal && (l.prog < msg || l.prog + l.prog_len > msg + n))
			abort();
	}
	(void)smtp_wrap_strip_exim_stamp(&clk, msg, n);
	return RN_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct syslog_framer f;
	if (size < 1)
		return 0;
	smtp_clock_init(&clk, 1796000000000LL);
	if (syslog_framer_init(&f, CAP) != RN_OK)
		return 0;
	size_t cut = size > 1 ? data[0] % size : 0;
	if (cut < 1)
		cut = 1;
	int rc = syslog_framer_feed(&f, data + 1, cut - 1, on_msg, NULL);
	if (rc == RN_OK)
		rc = syslog_framer_feed(&f, data + cut, size - cut, on_msg, NULL);
	if (rc == RN_OK)
		(void)syslog_framer_finish(&f, on_msg, NULL);
	syslog_framer_release(&f);
	/* The whole input as one line, too. */
	struct smtp_line l;
	(void)smtp_wrap_parse(&clk, data, size, &l);
	return 0;
}
