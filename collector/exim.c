/*
 * exim.c: Exim 4.9x mainlog messages -> line events.
 *
 * Design notes: the client is found by structure, not by searching for
 * the first '[': Exim writes a host as "name (helo) [ip]:port", and the
 * HELO name, which the client chooses, may itself be "[1.2.3.4]". Lines
 * that quote client text (SMTP commands in synchronization, syntax and
 * protocol errors) are attributed only when " H=" occurs once, so a
 * client cannot frame another address by sending " H=[x]" in a command:
 * such a line is counted as not understood. Reject reasons are read after
 * the last ">: " that ends the client-supplied address. Stateless and
 * reentrant.
 */
#include "collector/smtp_text.h"

bool smtp_prog_is_exim(const uint8_t *prog, size_t len)
{
	return len >= 4 && memcmp(prog, "exim", 4) == 0;
}

static int ev_event(struct smtp_event *ev, uint16_t kind)
{
	ev->kind = kind;
	ev->source = RN_SRC_EXIM;
	return SMTP_EVENT;
}

static bool base62(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* An Exim message id ("1xXUhY-0002YT-1n", and the longer 4.97 form) and a space. */
static size_t msgid_len(const uint8_t *p, const uint8_t *end)
{
	const uint8_t *q = p;
	int parts = 0;
	size_t n = 0;
	while (q < end && q - p < 40) {
		if (base62(*q)) {
			n++;
		} else if (*q == '-' && n > 0) {
			parts++;
			n = 0;
		} else {
			break;
		}
		q++;
	}
	if (parts != 2 || n < 2 || q >= end || *q != ' ' || (size_t)(q - p) < 16)
		return 0;
	return (size_t)(q - p);
}

/*
 * The host at p: "[ip]:port", "(helo) [ip]:port", "name [ip]:port" or
 * "name (helo) [ip]:port". *next is after ']'.
 */
static bool exim_host(const uint8_t *p, const uint8_t *end, struct rn_addr *a, const uint8_t **next)
{
	if (p >= end)
		return false;
	if (*p != '[' && *p != '(') {
		/* A verified host name: no spaces. */
		const uint8_t *sp = tx_chr(p, end, ' ');
		if (sp == NULL)
			return false;
		p = sp + 1;
	}
	if (p < end && *p == '(') {
		const uint8_t *cp = TX_FIND(p, end, ") ");
		if (cp == NULL)
			return false;
		p = cp + 2;
	}
	return tx_bracket_addr(p, end, a, next);
}

/* How often s occurs in [p, end). */
static int count_of(const uint8_t *p, const uint8_t *end, const char *s, size_t n)
{
	int k = 0;
	while ((p = tx_find(p, end, s, n)) != NULL) {
		k++;
		p += n;
	}
	return k;
}

/* The host after the only " H=" (or "H=" at the start) of the line. */
static bool host_h(const uint8_t *msg, const uint8_t *end, struct rn_addr *a)
{
	const uint8_t *h;
	if (TX_STARTS(msg, end, "H=")) {
		if (count_of(msg, end, " H=", 3) != 0)
			return false;
		h = msg + 2;
	} else {
		if (count_of(msg, end, " H=", 3) != 1)
			return false;
		h = TX_FIND(msg, end, " H=") + 3;
	}
	return exim_host(h, end, a, NULL);
}

/*
 * Classifies an ACL message. dflt is the kind for an unrecognised reason
 * (0: not understood).
 */
static int classify(const uint8_t *p, const uint8_t *end, struct smtp_event *ev, uint16_t dflt)
{
	const uint8_t *q;
	ev_set_reason(ev, p, end);
	if ((q = TX_FIND(p, end, "black list at ")) != NULL ||
	    (q = TX_FIND(p, end, "blacklisted at ")) != NULL ||
	    (q = TX_FIND(p, end, "listed at ")) != NULL ||
	    (q = TX_FIND(p, end, "blocked using ")) != NULL) {
		/* The zone follows the phrase found. */
		const uint8_t *z = TX_STARTS(q, end, "blacklisted at ") ? q + 15
		                   : TX_STARTS(q, end, "listed at ")    ? q + 10
		                                                        : q + 14;
		EV_LIT(ev, "rbl:");
		ev_set_zone(ev, z, end);
		/* A trailing '.' of a zone is not part of its name. */
		if (ev->ev_len > 4 && ev->evidence[ev->ev_len - 1] == '.')
			ev->evidence[--ev->ev_len] = '\0';
		if (ev->zone_len > 0 && ev->zone[ev->zone_len - 1] == '.')
			ev->zone_len--;
		return ev_event(ev, RN_KIND_RBL_LISTED);
	}
	if (TX_FIND(p, end, "is in an RBL") != NULL || TX_FIND(p, end, "in a DNS list") != NULL) {
		EV_LIT(ev, "rbl:");
		return ev_event(ev, RN_KIND_RBL_LISTED);
	}
	if (TX_FIND(p, end, "relay not permitted") != NULL ||
	    TX_FIND(p, end, "relaying prohibited") != NULL) {
		EV_LIT(ev, "relay");
		return ev_event(ev, RN_KIND_RELAY_DENIED);
	}
	if (TX_FIND(p, end, "Unknown user") != NULL || TX_FIND(p, end, "unknown user") != NULL ||
	    TX_FIND(p, end, "Unrouteable address") != NULL ||
	    TX_FIND(p, end, "No such user") != NULL) {
		EV_LIT(ev, "unknown-user");
		return ev_event(ev, RN_KIND_UNKNOWN_RECIPIENT);
	}
	if (TX_FIND(p, end, "dictionary attack") != NULL ||
	    TX_FIND(p, end, "too many failed recipients") != NULL) {
		EV_LIT(ev, "after:RCPT");
		return ev_event(ev, RN_KIND_TOO_MANY_ERRORS);
	}
	if (TX_FIND(p, end, "Sender verify failed") != NULL ||
	    TX_FIND(p, end, "Sender domain") != NULL || TX_FIND(p, end, "sender verify") != NULL) {
		EV_LIT(ev, "sender");
		return ev_event(ev, RN_KIND_SENDER_REJECT);
	}
	if (TX_FIND(p, end, "rate overlimit") != NULL || TX_FIND(p, end, "ratelimit") != NULL ||
	    TX_FIND(p, end, "rate limit") != NULL) {
		EV_LIT(ev, "rate");
		return ev_event(ev, RN_KIND_RATE_LIMITED);
	}
	if ((q = TX_FIND(p, end, "host lookup failed")) != NULL ||
	    TX_FIND(p, end, "host lookup deferred for reverse lookup") != NULL ||
	    TX_FIND(p, end, "reverse DNS") != NULL) {
		if (q != NULL && TX_FIND(q, end, "does not match any IP address") != NULL)
			EV_LIT(ev, "rdns:mismatch");
		else
			EV_LIT(ev, "rdns:none");
		return ev_event(ev, RN_KIND_NO_RDNS);
	}
	if (TX_FIND(p, end, "HELO") != NULL || TX_FIND(p, end, "EHLO") != NULL) {
		EV_LIT(ev, "helo");
		return ev_event(ev, RN_KIND_HELO_REJECT);
	}
	if (TX_FIND(p, end, "content rejected") != NULL || TX_FIND(p, end, "spam") != NULL ||
	    TX_FIND(p, end, "virus") != NULL || TX_FIND(p, end, "malware") != NULL) {
		EV_LIT(ev, "content");
		return ev_event(ev, RN_KIND_CONTENT_REJECT);
	}
	if (TX_FIND(p, end, "blocked by local policy") != NULL ||
	    TX_FIND(p, end, "not welcome") != NULL || TX_FIND(p, end, "Access denied") != NULL) {
		EV_LIT(ev, "policy");
		return ev_event(ev, RN_KIND_CLIENT_REJECT);
	}
	if (dflt == 0)
		return SMTP_UNKNOWN;
	EV_LIT(ev, "policy");
	return ev_event(ev, dflt);
}

/* "... rejected RCPT <addr>: REASON" after the host part. */
static int rejected_addr(const uint8_t *q, const uint8_t *end, struct smtp_event *ev, uint16_t dflt)
{
	/* The reason follows the last ">: ", past the client-supplied address. */
	const uint8_t *last = NULL, *k = q;
	while ((k = TX_FIND(k, end, ">: ")) != NULL) {
		last = k;
		k += 3;
	}
	if (last == NULL)
		return SMTP_UNKNOWN;
	const uint8_t *lt = tx_chr(q, end, '<');
	if (lt != NULL && lt < last) {
		ev->rcpt = lt + 1;
		ev->rcpt_len = (size_t)(last - (lt + 1));
	}
	return classify(last + 3, end, ev, dflt);
}

/* Lines that start with "H=". */
static int h_line(const uint8_t *msg, const uint8_t *end, struct smtp_event *ev)
{
	const uint8_t *q, *next;
	if (!exim_host(msg + 2, end, &ev->addr, &next))
		return SMTP_UNKNOWN;
	if ((q = TX_FIND(next, end, " rejected RCPT ")) != NULL ||
	    (q = TX_FIND(next, end, " temporarily rejected RCPT ")) != NULL) {
		if (count_of(msg, end, " H=", 3) != 0)
			return SMTP_UNKNOWN;
		return rejected_addr(q, end, ev, 0);
	}
	if ((q = TX_FIND(next, end, " rejected MAIL ")) != NULL ||
	    (q = TX_FIND(next, end, " temporarily rejected MAIL ")) != NULL) {
		int v = rejected_addr(q, end, ev, RN_KIND_SENDER_REJECT);
		return v;
	}
	if ((q = TX_FIND(next, end, " rejected connection in ")) != NULL) {
		const uint8_t *r = TX_FIND(q, end, ": ");
		if (r == NULL)
			return SMTP_UNKNOWN;
		return classify(r + 2, end, ev, RN_KIND_CLIENT_REJECT);
	}
	if ((q = TX_FIND(next, end, " rejected EHLO or HELO ")) != NULL) {
		EV_LIT(ev, "helo");
		return ev_event(ev, RN_KIND_HELO_REJECT);
	}
	if ((q = TX_FIND(next, end, " rejected after DATA")) != NULL ||
	    (q = TX_FIND(next, end, " rejected DATA")) != NULL) {
		const uint8_t *r = TX_FIND(q, end, ": ");
		if (r == NULL)
			return SMTP_UNKNOWN;
		return classify(r + 2, end, ev, RN_KIND_CONTENT_REJECT);
	}
	if ((q = TX_FIND(next, end, " dropped: too many ")) != NULL) {
		EV_LIT(ev, "dropped");
		return ev_event(ev, RN_KIND_TOO_MANY_ERRORS);
	}
	if (TX_FIND(next, end, " incomplete transaction (") != NULL ||
	    TX_FIND(next, end, " sender verify ") != NULL ||
	    TX_FIND(next, end, " Warning: ") != NULL ||
	    TX_FIND(next, end, " rejected VRFY") != NULL ||
	    TX_FIND(next, end, " TLS error") != NULL)
		return SMTP_IGNORED;
	return SMTP_UNKNOWN;
}

/* Lines that follow a message id. */
static int msg_line(const uint8_t *id, size_t idlen, const uint8_t *p, const uint8_t *end,
                    struct smtp_event *ev)
{
	const uint8_t *q;
	ev->qid = id;
	ev->qid_len = idlen;
	if (TX_STARTS(p, end, "<= ")) {
		/* Received: bind the id to the client, with its recipients. */
		q = TX_FIND(p, end, " H=");
		if (q == NULL)
			return SMTP_IGNORED; /* local submission */
		if (!exim_host(q + 3, end, &ev->addr, NULL))
			return SMTP_UNKNOWN;
		ev->qid_role = SMTP_QID_CLIENT;
		const uint8_t *f = NULL, *k = p;
		while ((k = TX_FIND(k, end, " for ")) != NULL) {
			f = k;
			k += 5;
		}
		if (f != NULL) {
			ev->rcpt = f + 5;
			ev->rcpt_len = (size_t)(end - (f + 5));
		}
		if ((q = TX_FIND(p, end, " A=")) != NULL) {
			EV_LIT(ev, "auth:");
			ev_add_word(ev, q + 3, end);
			return ev_event(ev, RN_KIND_SASL_SUCCESS);
		}
		return SMTP_IGNORED;
	}
	if (TX_STARTS(p, end, "=> ") || TX_STARTS(p, end, "-> ") || TX_STARTS(p, end, "*> ")) {
		/* Delivered: the original recipient is "<addr>" when aliased. */
		const uint8_t *r = p + 3, *re = tx_chr(r, end, ' ');
		if (re == NULL)
			re = end;
		if (re < end && re + 1 < end && re[1] == '<') {
			const uint8_t *gt = tx_chr(re + 2, end, '>');
			if (gt != NULL) {
				r = re + 2;
				re = gt;
			}
		}
		ev->rcpt = r;
		ev->rcpt_len = (size_t)(re - r);
		ev->qid_role = SMTP_QID_DELIVERY;
		return SMTP_IGNORED;
	}
	if (TX_STARTS(p, end, "H=")) {
		const uint8_t *next;
		if (!exim_host(p + 2, end, &ev->addr, &next))
			return SMTP_UNKNOWN;
		if ((q = TX_FIND(next, end, " rejected after DATA")) != NULL) {
			const uint8_t *r = TX_FIND(q, end, ": ");
			if (r == NULL)
				return SMTP_UNKNOWN;
			return classify(r + 2, end, ev, RN_KIND_CONTENT_REJECT);
		}
		if (TX_FIND(next, end, " Warning: ") != NULL)
			return SMTP_IGNORED;
		return SMTP_UNKNOWN;
	}
	if (TX_STARTS(p, end, "== ") || TX_STARTS(p, end, "** ") ||
	    TX_STARTS(p, end, "Completed") || TX_STARTS(p, end, "Spool file ") ||
	    TX_STARTS(p, end, "Frozen") || TX_STARTS(p, end, "Unfrozen") ||
	    TX_STARTS(p, end, "Message is frozen") || TX_STARTS(p, end, "SMTP error from remote") ||
	    TX_STARTS(p, end, "removed by") || TX_STARTS(p, end, "cancelled by") ||
	    TX_STARTS(p, end, "rejected from <") || TX_STARTS(p, end, "Warning: ") ||
	    TX_STARTS(p, end, "no immediate delivery") || TX_STARTS(p, end, "Message ") ||
	    TX_STARTS(p, end, "<= <>") || TX_STARTS(p, end, "=> :blackhole:") ||
	    TX_STARTS(p, end, "retry time not reached") || TX_STARTS(p, end, "TLS error") ||
	    TX_STARTS(p, end, "DKIM: ") || TX_STARTS(p, end, "ARC: ") || TX_STARTS(p, end, "SA: "))
		return SMTP_IGNORED;
	return SMTP_UNKNOWN;
}

int exim_parse(const uint8_t *msg, size_t len, struct smtp_event *ev)
{
	const uint8_t *end = msg + len, *q, *next;
	size_t idl;

	memset(ev, 0, offsetof(struct smtp_event, evidence));
	ev_reset(ev);
	ev->user = ev->rcpt = ev->qid = NULL;
	ev->user_len = ev->rcpt_len = ev->qid_len = 0;
	ev->zone = ev->reason = NULL;
	ev->zone_len = ev->reason_len = 0;
	ev->prog = SMTP_PROG_EXIM;
	ev->daemon = "exim";
	ev->source = RN_SRC_EXIM;
	if (len == 0)
		return SMTP_UNKNOWN;
	if ((idl = msgid_len(msg, end)) != 0)
		return msg_line(msg, idl, msg + idl + 1, end, ev);

	switch (msg[0]) {
	case 'S':
		if (TX_STARTS(msg, end, "SMTP connection from ")) {
			if (!exim_host(msg + 21, end, &ev->addr, &next))
				return SMTP_UNKNOWN;
			if (TX_FIND(next, end, " (TCP/IP connection count = ") != NULL) {
				EV_LIT(ev, "exim");
				return ev_event(ev, RN_KIND_SMTP_CONNECT);
			}
			if (TX_FIND(next, end, " lost while reading message data") != NULL) {
				EV_LIT(ev, "after:DATA");
				return ev_event(ev, RN_KIND_LOST_CONNECTION);
			}
			if (TX_FIND(next, end, " lost") != NULL) {
				EV_LIT(ev, "lost");
				return ev_event(ev, RN_KIND_LOST_CONNECTION);
			}
			if (TX_FIND(next, end, "too many connections") != NULL ||
			    TX_FIND(next, end, "too many connections from that IP") != NULL) {
				EV_LIT(ev, "conn_count");
				return ev_event(ev, RN_KIND_RATE_LIMITED);
			}
			if (TX_FIND(next, end, " closed by ") != NULL ||
			    TX_FIND(next, end, " refused") != NULL ||
			    TX_FIND(next, end, " D=") != NULL)
				return SMTP_IGNORED;
			return SMTP_UNKNOWN;
		}
		if (TX_STARTS(msg, end, "SMTP protocol synchronization error (")) {
			if (TX_FIND(msg, end, "input sent without waiting for greeting") != NULL) {
				q = TX_FIND(msg, end, "rejected connection from H=");
				if (q == NULL || count_of(msg, end, " H=", 3) != 1 ||
				    !exim_host(q + 27, end, &ev->addr, NULL))
					return SMTP_UNKNOWN;
				EV_LIT(ev, "sync:greeting");
				return ev_event(ev, RN_KIND_PREGREET);
			}
			if (!host_h(msg, end, &ev->addr))
				return SMTP_UNKNOWN;
			q = TX_FIND(msg, end, "rejected \"");
			if (q != NULL &&
			    (TX_STARTS(q + 10, end, "GET ") || TX_STARTS(q + 10, end, "POST ") ||
			     TX_STARTS(q + 10, end, "HEAD ") ||
			     TX_STARTS(q + 10, end, "CONNECT ") ||
			     TX_STARTS(q + 10, end, "USER ") || TX_STARTS(q + 10, end, "PUT "))) {
				EV_LIT(ev, "cmd:");
				ev_add_word(ev, q + 10, end);
				return ev_event(ev, RN_KIND_NON_SMTP);
			}
			EV_LIT(ev, "sync:pipelining");
			return ev_event(ev, RN_KIND_PIPELINING);
		}
		if (TX_STARTS(msg, end, "SMTP syntax error in ") ||
		    TX_STARTS(msg, end, "SMTP protocol error in ")) {
			if (!host_h(msg, end, &ev->addr))
				return SMTP_UNKNOWN;
			EV_LIT(ev, msg[5] == 's' ? "syntax" : "protocol");
			return ev_event(ev, RN_KIND_PROTOCOL_ERROR);
		}
		if (TX_STARTS(msg, end, "SMTP command timeout on connection from ") ||
		    TX_STARTS(msg, end, "SMTP command timeout on TLS connection from ")) {
			q = TX_FIND(msg, end, " from ");
			if (!exim_host(q + 6, end, &ev->addr, NULL))
				return SMTP_UNKNOWN;
			EV_LIT(ev, "command");
			return ev_event(ev, RN_KIND_TIMEOUT);
		}
		if (TX_STARTS(msg, end,
		              "SMTP data timeout (message abandoned) on connection from ")) {
			q = TX_FIND(msg, end, " from ");
			if (!exim_host(q + 6, end, &ev->addr, NULL))
				return SMTP_UNKNOWN;
			EV_LIT(ev, "after:DATA");
			return ev_event(ev, RN_KIND_TIMEOUT);
		}
		if (TX_STARTS(msg, end, "SMTP call from ")) {
			if (!exim_host(msg + 15, end, &ev->addr, &next))
				return SMTP_UNKNOWN;
			if (TX_FIND(next, end, " dropped: too many ") != NULL) {
				EV_LIT(ev, "dropped");
				return ev_event(ev, RN_KIND_TOO_MANY_ERRORS);
			}
			if (TX_FIND(next, end, " dropped: ") != NULL ||
			    TX_FIND(next, end, " lost") != NULL) {
				EV_LIT(ev, "lost");
				return ev_event(ev, RN_KIND_LOST_CONNECTION);
			}
			return SMTP_UNKNOWN;
		}
		if (TX_STARTS(msg, end, "Start queue run") || TX_STARTS(msg, end, "SIGHUP"))
			return SMTP_IGNORED;
		break;
	case 'H':
		if (TX_STARTS(msg, end, "H="))
			return h_line(msg, end, ev);
		break;
	case 'n':
		if (TX_STARTS(msg, end, "no MAIL in SMTP connection from ")) {
			if (!exim_host(msg + 32, end, &ev->addr, &next))
				return SMTP_UNKNOWN;
			EV_LIT(ev, "no-mail");
			q = TX_FIND(next, end, " C=");
			if (q != NULL) {
				ev_reset(ev);
				EV_LIT(ev, "C=");
				const uint8_t *c = q + 3, *ce = c;
				while (ce < end && ((*ce >= 'A' && *ce <= 'Z') || *ce == ','))
					ce++;
				ev_add(ev, c, (size_t)(ce - c));
			}
			return ev_event(ev, RN_KIND_NO_MAIL);
		}
		break;
	case 'u':
		if (TX_STARTS(msg, end,
		              "unexpected disconnection while reading SMTP command from ")) {
			if (!exim_host(msg + 58, end, &ev->addr, NULL))
				return SMTP_UNKNOWN;
			EV_LIT(ev, "lost");
			return ev_event(ev, RN_KIND_LOST_CONNECTION);
		}
		if (TX_STARTS(msg, end, "unqualified sender rejected: ") ||
		    TX_STARTS(msg, end, "unqualified recipient rejected: ")) {
			if (!host_h(msg, end, &ev->addr))
				return SMTP_UNKNOWN;
			if (msg[12] == 's') {
				EV_LIT(ev, "unqualified");
				return ev_event(ev, RN_KIND_SENDER_REJECT);
			}
			EV_LIT(ev, "unqualified");
			return ev_event(ev, RN_KIND_UNKNOWN_RECIPIENT);
		}
		break;
	case 'r':
		if (TX_STARTS(msg, end, "rejected EHLO from ") ||
		    TX_STARTS(msg, end, "rejected HELO from ")) {
			if (!exim_host(msg + 19, end, &ev->addr, NULL))
				return SMTP_UNKNOWN;
			EV_LIT(ev, "helo");
			return ev_event(ev, RN_KIND_HELO_REJECT);
		}
		break;
	case 'E':
		if (TX_STARTS(msg, end, "End queue run"))
			return SMTP_IGNORED;
		break;
	case 'e':
		if (TX_STARTS(msg, end, "exim ") && TX_FIND(msg, end, " daemon started") != NULL)
			return SMTP_IGNORED;
		break;
	case 'T':
		if (TX_STARTS(msg, end, "TLS error on connection from "))
			return SMTP_IGNORED;
		break;
	case 'C':
		if (TX_STARTS(msg, end, "Connection from ") &&
		    TX_FIND(msg, end, "too many") != NULL) {
			if (!exim_host(msg + 16, end, &ev->addr, NULL))
				return SMTP_UNKNOWN;
			EV_LIT(ev, "conn_count");
			return ev_event(ev, RN_KIND_RATE_LIMITED);
		}
		break;
	case 'p':
		if (TX_STARTS(msg, end, "pid ") || TX_STARTS(msg, end, "pipe "))
			return SMTP_IGNORED;
		break;
	default:
		break;
	}
	/* "<NAME> authenticator failed for HOST I=...: 535 ... (set_id=USER)" */
	if ((q = TX_FIND(msg, end, " authenticator failed for ")) != NULL && q - msg <= 32) {
		if (!exim_host(q + 26, end, &ev->addr, NULL))
			return SMTP_UNKNOWN;
		EV_LIT(ev, "auth:");
		ev_add_word(ev, msg, q);
		const uint8_t *u = TX_FIND(q, end, "(set_id=");
		if (u != NULL) {
			const uint8_t *ue = end;
			if (ue > u + 8 && ue[-1] == ')')
				ue--;
			ev->user = u + 8;
			ev->user_len = (size_t)(ue - (u + 8));
		}
		return ev_event(ev, RN_KIND_SASL_FAIL);
	}
	return SMTP_UNKNOWN;
}
