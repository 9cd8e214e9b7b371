/*
 * smtp_text.h: small bounded text helpers shared by the Postfix and Exim
 * parsers. Internal to the collector. Every helper takes (pointer, end)
 * and never reads at or past end.
 */
#ifndef REPNET_COLLECTOR_SMTP_TEXT_H
#define REPNET_COLLECTOR_SMTP_TEXT_H

#include <string.h>

#include "collector/smtp.h"

/* True when [p, end) starts with the literal s. */
#define TX_STARTS(p, end, s) tx_starts((p), (end), (s), sizeof(s) - 1)
#define TX_FIND(p, end, s)   tx_find((p), (end), (s), sizeof(s) - 1)

static inline bool tx_starts(const uint8_t *p, const uint8_t *end, const char *s, size_t n)
{
	return (size_t)(end - p) >= n && memcmp(p, s, n) == 0;
}

/* The first occurrence of s in [p, end), or NULL. */
static inline const uint8_t *tx_find(const uint8_t *p, const uint8_t *end, const char *s, size_t n)
{
	if (p >= end)
		return NULL;
	return memmem(p, (size_t)(end - p), s, n);
}

static inline const uint8_t *tx_chr(const uint8_t *p, const uint8_t *end, uint8_t ch)
{
	if (p >= end)
		return NULL;
	return memchr(p, ch, (size_t)(end - p));
}

/*
 * Parses "[addr]" at p (p points at '['). On success *next is after ']'.
 * IPv6 may carry Postfix's "ipv6:" prefix.
 */
static inline bool tx_bracket_addr(const uint8_t *p, const uint8_t *end, struct rn_addr *a,
                                   const uint8_t **next)
{
	if (p >= end || *p != '[')
		return false;
	p++;
	size_t max = (size_t)(end - p) < 60 ? (size_t)(end - p) : 60;
	const uint8_t *rb = memchr(p, ']', max);
	if (rb == NULL)
		return false;
	if ((size_t)(rb - p) > 5 && memcmp(p, "ipv6:", 5) == 0)
		p += 5;
	if (rn_addr_parse(p, (size_t)(rb - p), a) != RN_OK)
		return false;
	if (next != NULL)
		*next = rb + 1;
	return true;
}

/*
 * Postfix's "name[addr]" client: from p, the first '[' within the next
 * token. *next is after ']'.
 */
static inline bool tx_client(const uint8_t *p, const uint8_t *end, struct rn_addr *a,
                             const uint8_t **next)
{
	size_t max = (size_t)(end - p) < 320 ? (size_t)(end - p) : 320;
	if (p >= end)
		return false;
	const uint8_t *lb = memchr(p, '[', max);
	if (lb == NULL)
		return false;
	/* The host name has no spaces; a space before '[' means another field. */
	if (memchr(p, ' ', (size_t)(lb - p)) != NULL)
		return false;
	return tx_bracket_addr(lb, end, a, next);
}

/* Evidence builders: bounded appends into ev->evidence. */
static inline void ev_reset(struct smtp_event *ev)
{
	ev->ev_len = 0;
	ev->evidence[0] = '\0';
}

static inline void ev_add(struct smtp_event *ev, const void *s, size_t n)
{
	size_t room = RN_EVIDENCE_MAX - 1 - ev->ev_len;
	if (n > room)
		n = room;
	memcpy(ev->evidence + ev->ev_len, s, n);
	ev->ev_len = (uint8_t)(ev->ev_len + n);
	ev->evidence[ev->ev_len] = '\0';
}

#define EV_LIT(ev, s) ev_add((ev), (s), sizeof(s) - 1)

/* The end of the token of [A-Za-z0-9._-] (a zone, an SMTP verb) at p. */
static inline const uint8_t *tx_word_end(const uint8_t *p, const uint8_t *end)
{
	const uint8_t *q = p;
	while (q < end && ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
	                   (*q >= '0' && *q <= '9') || *q == '.' || *q == '-' || *q == '_'))
		q++;
	return q;
}

/*
 * Appends a token made only of [A-Za-z0-9._-] (a zone, an SMTP verb),
 * stopping at the first other byte: evidence never carries free text.
 */
static inline void ev_add_word(struct smtp_event *ev, const uint8_t *p, const uint8_t *end)
{
	ev_add(ev, p, (size_t)(tx_word_end(p, end) - p));
}

/*
 * Records the DNSBL zone at p (the whole token, also when the evidence
 * cuts it short) for the loop-safety check, and appends it to the
 * evidence.
 */
static inline void ev_set_zone(struct smtp_event *ev, const uint8_t *p, const uint8_t *end)
{
	const uint8_t *q = tx_word_end(p, end);
	ev->zone = p;
	ev->zone_len = (size_t)(q - p);
	ev_add(ev, p, (size_t)(q - p));
}

/* Records the server's reason text [p, end) for the loop-safety check. */
static inline void ev_set_reason(struct smtp_event *ev, const uint8_t *p, const uint8_t *end)
{
	ev->reason = p;
	ev->reason_len = p < end ? (size_t)(end - p) : 0;
}

/* Appends an SMTP reply code and enhanced status, "550 5.1.1", from p. */
static inline bool ev_add_code(struct smtp_event *ev, const uint8_t *p, const uint8_t *end)
{
	if (end - p < 3 || p[0] < '2' || p[0] > '5' || p[1] < '0' || p[1] > '9' || p[2] < '0' ||
	    p[2] > '9')
		return false;
	const uint8_t *q = p + 3;
	if (q < end && *q == ' ' && q + 1 < end && q[1] >= '2' && q[1] <= '5' && q + 2 < end &&
	    q[2] == '.') {
		q += 1;
		while (q < end && ((*q >= '0' && *q <= '9') || *q == '.'))
			q++;
	}
	ev_add(ev, p, (size_t)(q - p));
	return true;
}

#endif /* REPNET_COLLECTOR_SMTP_TEXT_H */
