/*
 * postfix.c: Postfix 2.x-3.x log messages -> line events.
 *
 * Design notes: a message is dispatched on its first bytes (Postfix's
 * messages start with a fixed phrase, or with a queue id and ": "), so a
 * line costs a handful of comparisons and one address parse, and never
 * a scan of every pattern. The daemon name from the syslog tag only
 * decides which daemons are quiet (qmgr, pickup, master, ...) and which
 * deliver (virtual, local, smtp, ...); when the wrapper kept only
 * "postfix" (RFC 5424 APP-NAME), the daemon is inferred from the message,
 * so the same line gives the same event under every wrapper. Rejects are
 * classified by the reason text before "; from=<", never by the
 * envelope, so an address cannot steer the classification. A message
 * this file does not know yields SMTP_UNKNOWN: counted, never guessed.
 * Stateless and reentrant.
 */
#include "collector/smtp_text.h"

const char *const smtp_prog_names[SMTP_PROG_COUNT] = {
        "postfix/smtpd",   "postfix/postscreen", "postfix/dnsblog",
        "postfix/cleanup", "postfix/other",      "exim",
        "other",
};

enum pf_daemon {
	PF_INFER,      /* "postfix" alone: infer from the message */
	PF_SMTPD,      /* smtpd, including submission/smtpd and friends */
	PF_POSTSCREEN, /* postscreen */
	PF_DNSBLOG,    /* dnsblog */
	PF_CLEANUP,    /* cleanup */
	PF_DELIVERY,   /* virtual, local, smtp, lmtp, pipe, error, ... */
	PF_QUIET,      /* qmgr, pickup, master, anvil, ...: never a client signal */
	PF_OTHER,      /* a daemon this parser does not know */
};

bool smtp_prog_is_postfix(const uint8_t *prog, size_t len)
{
	return len >= 7 && memcmp(prog, "postfix", 7) == 0;
}

static bool name_is(const uint8_t *p, size_t n, const char *s)
{
	size_t k = strlen(s);
	return n == k && memcmp(p, s, k) == 0;
}

static enum pf_daemon daemon_of(const uint8_t *prog, size_t len)
{
	const uint8_t *slash = NULL;
	for (size_t i = len; i > 0; i--) {
		if (prog[i - 1] == '/') {
			slash = prog + i - 1;
			break;
		}
	}
	if (slash == NULL)
		return PF_INFER;
	const uint8_t *d = slash + 1;
	size_t n = (size_t)(prog + len - d);
	static const char *const quiet[] = {"qmgr",           "oqmgr",           "pickup",
	                                    "bounce",         "defer",           "trace",
	                                    "master",         "anvil",           "scache",
	                                    "tlsmgr",         "verify",          "proxymap",
	                                    "showq",          "flush",           "postsuper",
	                                    "postdrop",       "sendmail",        "postqueue",
	                                    "postlog",        "postlogd",        "spawn",
	                                    "tlsproxy",       "postmulti",       "postmap",
	                                    "postfix-script", "trivial-rewrite", "postconf",
	                                    "postalias",      "postcat",         "postkick",
	                                    "postlock",       "qmqpd",           NULL};
	static const char *const delivery[] = {"virtual", "local",   "smtp",  "lmtp",  "pipe",
	                                       "error",   "discard", "retry", "relay", NULL};
	if (name_is(d, n, "smtpd"))
		return PF_SMTPD;
	if (name_is(d, n, "postscreen"))
		return PF_POSTSCREEN;
	if (name_is(d, n, "dnsblog"))
		return PF_DNSBLOG;
	if (name_is(d, n, "cleanup"))
		return PF_CLEANUP;
	for (size_t i = 0; delivery[i] != NULL; i++)
		if (name_is(d, n, delivery[i]))
			return PF_DELIVERY;
	for (size_t i = 0; quiet[i] != NULL; i++)
		if (name_is(d, n, quiet[i]))
			return PF_QUIET;
	return PF_OTHER;
}

static void set_daemon(struct smtp_event *ev, enum smtp_prog p)
{
	ev->prog = (uint8_t)p;
	ev->daemon = p == SMTP_PROG_POSTFIX_OTHER ? "postfix" : smtp_prog_names[p];
}

static int event(struct smtp_event *ev, enum smtp_prog p, uint16_t kind)
{
	set_daemon(ev, p);
	ev->kind = kind;
	ev->source = RN_SRC_POSTFIX;
	return SMTP_EVENT;
}

static int ignored(struct smtp_event *ev, enum smtp_prog p)
{
	set_daemon(ev, p);
	return SMTP_IGNORED;
}

/* Queue ids: 6+ upper-case hex (short) or 10+ of Postfix's long-id alphabet. */
static size_t queue_id_len(const uint8_t *p, const uint8_t *end)
{
	const uint8_t *q = p;
	bool hex = true, lng = true;
	while (q < end && q - p < 32) {
		uint8_t c = *q;
		bool digit = c >= '0' && c <= '9';
		bool uhex = c >= 'A' && c <= 'F';
		bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
		if (!digit && !alpha)
			break;
		if (!digit && !uhex)
			hex = false;
		if (alpha && strchr("AEIOUaeiou", c) != NULL)
			lng = false;
		q++;
	}
	size_t n = (size_t)(q - p);
	if (q + 1 >= end || q[0] != ':' || q[1] != ' ')
		return 0;
	if ((hex && n >= 6) || (lng && n >= 10))
		return n;
	return 0;
}

/* "after STAGE" -> evidence "after:STAGE". */
static void ev_after(struct smtp_event *ev, const uint8_t *p, const uint8_t *end)
{
	const uint8_t *a = TX_FIND(p, end, " after ");
	if (a == NULL)
		return;
	EV_LIT(ev, "after:");
	ev_add_word(ev, a + 7, end);
}

/* The client after " from " at or after p: "name[addr]" or "[addr]:port". */
static bool client_after_from(const uint8_t *p, const uint8_t *end, struct rn_addr *a,
                              const uint8_t **next)
{
	const uint8_t *f = TX_FIND(p, end, " from ");
	if (f == NULL)
		return false;
	f += 6;
	if (f < end && *f == '[')
		return tx_bracket_addr(f, end, a, next);
	return tx_client(f, end, a, next);
}

/*
 * Classifies a reject reason: [p, end) is the text after the client's
 * ": ", cut before "; from=<". Returns a verdict and sets kind/evidence.
 */
static uint8_t status_subject(const uint8_t *p, const uint8_t *end)
{
	/* The enhanced status subject: "550 5.1.1" -> '1'. */
	if (end - p > 8 && p[3] == ' ' && p[5] == '.' && p[7] == '.')
		return p[6];
	return 0;
}

static int classify_reject(const uint8_t *p, const uint8_t *end, uint8_t subject,
                           struct smtp_event *ev, enum smtp_prog prog)
{
	const uint8_t *q;

	ev_set_reason(ev, p, end);
	if ((q = TX_FIND(p, end, "blocked using ")) != NULL) {
		EV_LIT(ev, "rbl:");
		ev_set_zone(ev, q + 14, end);
		return event(ev, prog, RN_KIND_RBL_LISTED);
	}
	if (ev->ev_len == 0)
		ev_add_code(ev, p, end);
	if (TX_FIND(p, end, "Relay access denied") != NULL)
		return event(ev, prog, RN_KIND_RELAY_DENIED);
	if ((q = TX_FIND(p, end, "Recipient address rejected: ")) != NULL) {
		if (subject == '1' || TX_FIND(q, end, "User unknown") != NULL ||
		    TX_FIND(q, end, "user unknown") != NULL)
			return event(ev, prog, RN_KIND_UNKNOWN_RECIPIENT);
		if (subject == '7')
			return event(ev, prog, RN_KIND_CLIENT_REJECT);
		return SMTP_UNKNOWN;
	}
	if (TX_FIND(p, end, "Sender address rejected: ") != NULL)
		return event(ev, prog, RN_KIND_SENDER_REJECT);
	if (TX_FIND(p, end, "Helo command rejected: ") != NULL)
		return event(ev, prog, RN_KIND_HELO_REJECT);
	if ((q = TX_FIND(p, end, "Client host rejected: ")) != NULL) {
		if (TX_STARTS(q + 22, end, "cannot find your reverse hostname")) {
			ev_reset(ev);
			EV_LIT(ev, "rdns:none");
			return event(ev, prog, RN_KIND_NO_RDNS);
		}
		if (TX_STARTS(q + 22, end, "cannot find your hostname")) {
			ev_reset(ev);
			EV_LIT(ev, "rdns:mismatch");
			return event(ev, prog, RN_KIND_NO_RDNS);
		}
		return event(ev, prog, RN_KIND_CLIENT_REJECT);
	}
	if (TX_FIND(p, end, "Improper use of SMTP command pipelining") != NULL)
		return event(ev, prog, RN_KIND_PIPELINING);
	if (TX_FIND(p, end, "Protocol error") != NULL)
		return event(ev, prog, RN_KIND_PROTOCOL_ERROR);
	if (TX_FIND(p, end, "too many connections") != NULL ||
	    TX_FIND(p, end, "Too many connections") != NULL ||
	    TX_FIND(p, end, "rate limit") != NULL) {
		ev_reset(ev);
		EV_LIT(ev, "conn_count");
		return event(ev, prog, RN_KIND_RATE_LIMITED);
	}
	if (TX_FIND(p, end, "Message content rejected") != NULL ||
	    TX_FIND(p, end, "Multi-recipient bounce") != NULL)
		return event(ev, prog, RN_KIND_CONTENT_REJECT);
	if (TX_FIND(p, end, "all server ports busy") != NULL ||
	    TX_FIND(p, end, "Insufficient system storage") != NULL ||
	    TX_FIND(p, end, "Server configuration") != NULL ||
	    TX_FIND(p, end, "Temporary lookup failure") != NULL)
		return ignored(ev, prog);
	return SMTP_UNKNOWN;
}

/*
 * "ACTION: STAGE from CLIENT: REASON; from=<...> ..." after "NOQUEUE: " or
 * "QID: ".
 */
static int smtpd_action(const uint8_t *p, const uint8_t *end, struct smtp_event *ev,
                        enum smtp_prog prog)
{
	enum { A_REJECT, A_HOLD, A_DISCARD, A_OTHER } act;
	const uint8_t *next;

	if (TX_STARTS(p, end, "reject: "))
		act = A_REJECT;
	else if (TX_STARTS(p, end, "hold: "))
		act = A_HOLD;
	else if (TX_STARTS(p, end, "discard: "))
		act = A_DISCARD;
	else if (TX_STARTS(p, end, "filter: ") || TX_STARTS(p, end, "redirect: ") ||
	         TX_STARTS(p, end, "warn: ") || TX_STARTS(p, end, "permit: ") ||
	         TX_STARTS(p, end, "info: "))
		act = A_OTHER;
	else
		return SMTP_UNKNOWN;
	if (!client_after_from(p, end, &ev->addr, &next))
		return SMTP_UNKNOWN;
	if (act == A_OTHER)
		return ignored(ev, prog);
	/* Skip ":port" (postscreen) and ": " to the reason. */
	const uint8_t *r = TX_FIND(next, end, ": ");
	if (r == NULL)
		return SMTP_UNKNOWN;
	r += 2;
	const uint8_t *cut = TX_FIND(r, end, "; from=<");
	if (cut == NULL)
		cut = end;
	/* The recipient, for the spamtrap check. */
	const uint8_t *to = cut < end ? TX_FIND(cut, end, " to=<") : NULL;
	if (to != NULL)
		to += 5;
	else if (cut < end && (to = TX_FIND(cut, end, ", to=<")) != NULL)
		to += 6;
	if (to != NULL) {
		const uint8_t *s = to;
		const uint8_t *e = tx_chr(s, end, '>');
		if (e != NULL) {
			ev->rcpt = s;
			ev->rcpt_len = (size_t)(e - s);
		}
	}
	if (act == A_HOLD || act == A_DISCARD)
		ev_set_reason(ev, r, cut);
	if (act == A_HOLD) {
		EV_LIT(ev, "action:hold");
		return event(ev, prog, RN_KIND_CLIENT_REJECT);
	}
	if (act == A_DISCARD) {
		EV_LIT(ev, "action:discard");
		return event(ev, prog, RN_KIND_CLIENT_REJECT);
	}
	/*
	 * "CODE DSN <address>: Reason": the address is the client's text, so
	 * classification starts after it (the last ">: " before the cut).
	 */
	const uint8_t *lt = tx_chr(r, cut, '<');
	if (lt != NULL && lt - r <= 12) {
		const uint8_t *last = NULL, *k = lt;
		while ((k = TX_FIND(k, cut, ">: ")) != NULL) {
			last = k;
			k += 3;
		}
		if (last == NULL)
			return SMTP_UNKNOWN;
		/* Keep the code and status in front, drop the address. */
		ev_add_code(ev, r, lt);
		return classify_reject(last + 3, cut, status_subject(r, cut), ev, prog);
	}
	return classify_reject(r, cut, status_subject(r, cut), ev, prog);
}

/* "QID: ..." lines. */
static int qid_line(const uint8_t *qid, size_t qlen, const uint8_t *p, const uint8_t *end,
                    struct smtp_event *ev, enum pf_daemon dm)
{
	const uint8_t *q;
	ev->qid = qid;
	ev->qid_len = qlen;
	if (TX_STARTS(p, end, "client=")) {
		if (!tx_client(p + 7, end, &ev->addr, NULL))
			return SMTP_UNKNOWN;
		ev->qid_role = SMTP_QID_CLIENT;
		if ((q = TX_FIND(p, end, ", sasl_method=")) != NULL) {
			EV_LIT(ev, "auth:");
			ev_add_word(ev, q + 14, end);
			return event(ev, SMTP_PROG_SMTPD, RN_KIND_SASL_SUCCESS);
		}
		return ignored(ev, SMTP_PROG_SMTPD);
	}
	if (TX_STARTS(p, end, "to=<")) {
		q = tx_chr(p + 4, end, '>');
		if (q != NULL) {
			ev->rcpt = p + 4;
			ev->rcpt_len = (size_t)(q - (p + 4));
			ev->qid_role = SMTP_QID_DELIVERY;
			/* The original recipient, before aliasing, is the one a trap matches. */
			const uint8_t *o = TX_FIND(q, end, ", orig_to=<");
			if (o != NULL) {
				const uint8_t *oe = tx_chr(o + 11, end, '>');
				if (oe != NULL) {
					ev->rcpt = o + 11;
					ev->rcpt_len = (size_t)(oe - (o + 11));
				}
			}
		}
		return ignored(ev, SMTP_PROG_POSTFIX_OTHER);
	}
	if (TX_STARTS(p, end, "reject: ") || TX_STARTS(p, end, "discard: ") ||
	    TX_STARTS(p, end, "hold: ") || TX_STARTS(p, end, "warning: ") ||
	    TX_STARTS(p, end, "filter: ") || TX_STARTS(p, end, "redirect: ") ||
	    TX_STARTS(p, end, "replace: ") || TX_STARTS(p, end, "prepend: ") ||
	    TX_STARTS(p, end, "info: ") || TX_STARTS(p, end, "strip: ")) {
		const uint8_t *sp = tx_chr(p, end, ' ');
		if (sp != NULL &&
		    (TX_STARTS(sp + 1, end, "header ") || TX_STARTS(sp + 1, end, "body "))) {
			/* cleanup: header_checks and body_checks. */
			bool hdr = sp[1] == 'h';
			if (!client_after_from(sp, end, &ev->addr, NULL))
				return SMTP_UNKNOWN;
			if (p[0] == 'r' && p[2] == 'j') {
				EV_LIT(ev, hdr ? "reject:header" : "reject:body");
				return event(ev, SMTP_PROG_CLEANUP, RN_KIND_CONTENT_REJECT);
			}
			if (p[0] == 'd') {
				EV_LIT(ev, hdr ? "discard:header" : "discard:body");
				return event(ev, SMTP_PROG_CLEANUP, RN_KIND_CONTENT_REJECT);
			}
			return ignored(ev, SMTP_PROG_CLEANUP);
		}
		/* smtpd with a queue id: "QID: reject: RCPT from ...". */
		return smtpd_action(p, end, ev, SMTP_PROG_SMTPD);
	}
	if (TX_STARTS(p, end, "message-id=") || TX_STARTS(p, end, "resent-message-id="))
		return ignored(ev, SMTP_PROG_CLEANUP);
	if (dm == PF_DELIVERY || dm == PF_QUIET || TX_STARTS(p, end, "from=<") ||
	    TX_STARTS(p, end, "removed") || TX_STARTS(p, end, "uid=") ||
	    TX_STARTS(p, end, "sender non-delivery notification") ||
	    TX_STARTS(p, end, "sender delivery status notification") ||
	    TX_STARTS(p, end, "postmaster non-delivery notification") ||
	    TX_STARTS(p, end, "lost connection with") || TX_STARTS(p, end, "conversation with") ||
	    TX_STARTS(p, end, "host ") || TX_STARTS(p, end, "enabling PIX") ||
	    TX_STARTS(p, end, "skipped") || TX_STARTS(p, end, "expired"))
		return ignored(ev, SMTP_PROG_POSTFIX_OTHER);
	return SMTP_UNKNOWN;
}

/* "HOST[IP]: SASL METHOD authentication failed: ..., sasl_username=USER" */
static int sasl_warning(const uint8_t *p, const uint8_t *end, struct smtp_event *ev)
{
	const uint8_t *next, *q;
	if (!tx_client(p, end, &ev->addr, &next) || !TX_STARTS(next, end, ": SASL "))
		return SMTP_UNKNOWN;
	q = next + 7;
	const uint8_t *m = q;
	const uint8_t *sp = tx_chr(q, end, ' ');
	if (sp == NULL)
		return SMTP_UNKNOWN;
	if (!TX_STARTS(sp, end, " authentication failed") &&
	    !TX_STARTS(sp, end, " authentication aborted"))
		return SMTP_UNKNOWN;
	EV_LIT(ev, "auth:");
	ev_add_word(ev, m, sp);
	if ((q = TX_FIND(sp, end, "sasl_username=")) != NULL) {
		const uint8_t *u = q + 14;
		const uint8_t *ue = u;
		while (ue < end && *ue != ',' && *ue != ' ')
			ue++;
		ev->user = u;
		ev->user_len = (size_t)(ue - u);
	}
	return event(ev, SMTP_PROG_SMTPD, RN_KIND_SASL_FAIL);
}

static int warning_line(const uint8_t *p, const uint8_t *end, struct smtp_event *ev,
                        enum smtp_prog prog)
{
	const uint8_t *q, *next;
	size_t ql;

	if (TX_FIND(p, end, ": SASL ") != NULL && tx_chr(p, end, '[') != NULL &&
	    sasl_warning(p, end, ev) == SMTP_EVENT)
		return SMTP_EVENT;
	if (TX_STARTS(p, end, "non-SMTP command from ")) {
		if (!tx_client(p + 22, end, &ev->addr, &next))
			return SMTP_UNKNOWN;
		EV_LIT(ev, "cmd:");
		if (TX_STARTS(next, end, ": "))
			ev_add_word(ev, next + 2, end);
		return event(ev, SMTP_PROG_SMTPD, RN_KIND_NON_SMTP);
	}
	if ((q = TX_FIND(p, end, " limit exceeded: ")) != NULL && q - p < 48) {
		if (!client_after_from(q, end, &ev->addr, NULL))
			return SMTP_UNKNOWN;
		if (TX_STARTS(p, end, "Connection rate"))
			EV_LIT(ev, "conn_rate");
		else if (TX_STARTS(p, end, "Connection concurrency"))
			EV_LIT(ev, "conn_count");
		else if (TX_STARTS(p, end, "Message delivery request"))
			EV_LIT(ev, "msg_rate");
		else if (TX_STARTS(p, end, "Recipient address"))
			EV_LIT(ev, "rcpt_rate");
		else if (TX_STARTS(p, end, "New TLS session"))
			EV_LIT(ev, "tls_rate");
		else
			EV_LIT(ev, "rate");
		return event(ev, SMTP_PROG_SMTPD, RN_KIND_RATE_LIMITED);
	}
	if (TX_STARTS(p, end, "hostname ") &&
	    (q = TX_FIND(p, end, " does not resolve to address ")) != NULL) {
		/* IPv6 contains ':'; the address ends at a space or ": ". */
		const uint8_t *a = q + 29;
		const uint8_t *ae = a;
		while (ae < end && *ae != ' ' && !(*ae == ':' && ae + 1 < end && ae[1] == ' '))
			ae++;
		if (TX_FIND(ae, end, "Temporary failure") != NULL)
			return ignored(ev, SMTP_PROG_SMTPD);
		if (rn_addr_parse(a, (size_t)(ae - a), &ev->addr) != RN_OK)
			return SMTP_UNKNOWN;
		EV_LIT(ev, "rdns:mismatch");
		return event(ev, SMTP_PROG_SMTPD, RN_KIND_NO_RDNS);
	}
	if ((q = TX_FIND(p, end, ": hostname ")) != NULL &&
	    TX_FIND(q, end, " verification failed") != NULL) {
		if (rn_addr_parse(p, (size_t)(q - p), &ev->addr) != RN_OK)
			return SMTP_UNKNOWN;
		if (TX_FIND(q, end, "Temporary failure") != NULL)
			return ignored(ev, SMTP_PROG_SMTPD);
		EV_LIT(ev, "rdns:mismatch");
		return event(ev, SMTP_PROG_SMTPD, RN_KIND_NO_RDNS);
	}
	if ((q = TX_FIND(p, end, ": address not listed for hostname ")) != NULL) {
		if (rn_addr_parse(p, (size_t)(q - p), &ev->addr) != RN_OK)
			return SMTP_UNKNOWN;
		EV_LIT(ev, "rdns:mismatch");
		return event(ev, SMTP_PROG_SMTPD, RN_KIND_NO_RDNS);
	}
	if (TX_STARTS(p, end, "Illegal address syntax from ")) {
		if (!tx_client(p + 28, end, &ev->addr, &next))
			return SMTP_UNKNOWN;
		EV_LIT(ev, "syntax:");
		if (TX_STARTS(next, end, " in "))
			ev_add_word(ev, next + 4, end);
		return event(ev, SMTP_PROG_SMTPD, RN_KIND_PROTOCOL_ERROR);
	}
	if ((ql = queue_id_len(p, end)) != 0)
		return ignored(ev, prog); /* "warning: QID: queue file size limit exceeded" */
	static const char *const benign[] = {"SASL authentication failure: ",
	                                     "SASL authentication problem",
	                                     "mail_stream_cleanup",
	                                     "dnsblog reply timeout",
	                                     "dnsblog_query",
	                                     "TLS library problem",
	                                     "psc_cache_update",
	                                     "database ",
	                                     "problem talking to",
	                                     "header_checks",
	                                     "body_checks",
	                                     "numeric hostname",
	                                     "Unable to look up",
	                                     "connect to ",
	                                     "timeout on ",
	                                     "process ",
	                                     "network_biopair",
	                                     "smtpd_peer_init",
	                                     "run-time library",
	                                     "dict_",
	                                     "valid_hostname",
	                                     "unknown smtpd",
	                                     "postscreen_",
	                                     "greet wait",
	                                     "restriction ",
	                                     "ignoring",
	                                     "getpeername",
	                                     "TLS session",
	                                     "cannot get RSA",
	                                     "unable to look up",
	                                     "request to update",
	                                     NULL};
	for (size_t i = 0; benign[i] != NULL; i++)
		if (tx_starts(p, end, benign[i], strlen(benign[i])))
			return ignored(ev, prog);
	return SMTP_UNKNOWN;
}

/* postscreen's "[addr]:port" right after a fixed phrase. */
static bool ps_addr(const uint8_t *p, const uint8_t *end, struct smtp_event *ev,
                    const uint8_t **next)
{
	return tx_bracket_addr(p, end, &ev->addr, next);
}

static int dispatch(const uint8_t *p, const uint8_t *end, struct smtp_event *ev, enum pf_daemon dm,
                    enum smtp_prog prog)
{
	const uint8_t *q, *next;
	size_t ql;

	if (p >= end)
		return SMTP_UNKNOWN;
	if ((ql = queue_id_len(p, end)) != 0)
		return qid_line(p, ql, p + ql + 2, end, ev, dm);
	if (dm == PF_DELIVERY)
		return ignored(ev, SMTP_PROG_POSTFIX_OTHER);

	switch (*p) {
	case 'c':
		if (TX_STARTS(p, end, "connect from ")) {
			if (!tx_client(p + 13, end, &ev->addr, NULL))
				return SMTP_UNKNOWN;
			EV_LIT(ev, "smtpd");
			return event(ev, SMTP_PROG_SMTPD, RN_KIND_SMTP_CONNECT);
		}
		if (TX_STARTS(p, end, "cache "))
			return ignored(ev, SMTP_PROG_POSTSCREEN);
		break;
	case 'd':
		if (TX_STARTS(p, end, "disconnect from ")) {
			if (!tx_client(p + 16, end, &ev->addr, &next))
				return SMTP_UNKNOWN;
			if (TX_FIND(next, end, " mail=") != NULL)
				return ignored(ev, SMTP_PROG_SMTPD);
			q = TX_FIND(next, end, " commands=");
			if (q != NULL) {
				EV_LIT(ev, "commands=");
				const uint8_t *c = q + 10, *ce = c;
				while (ce < end && ((*ce >= '0' && *ce <= '9') || *ce == '/'))
					ce++;
				ev_add(ev, c, (size_t)(ce - c));
			}
			return event(ev, SMTP_PROG_SMTPD, RN_KIND_NO_MAIL);
		}
		if (TX_STARTS(p, end, "daemon started") || TX_STARTS(p, end, "daemon stopped"))
			return ignored(ev, SMTP_PROG_POSTFIX_OTHER);
		break;
	case 'C':
		if (TX_STARTS(p, end, "CONNECT from [")) {
			if (!ps_addr(p + 13, end, ev, NULL))
				return SMTP_UNKNOWN;
			EV_LIT(ev, "postscreen");
			return event(ev, SMTP_PROG_POSTSCREEN, RN_KIND_SMTP_CONNECT);
		}
		if (TX_STARTS(p, end, "COMMAND PIPELINING from [")) {
			if (!ps_addr(p + 24, end, ev, &next))
				return SMTP_UNKNOWN;
			ev_after(ev, next, end);
			return event(ev, SMTP_PROG_POSTSCREEN, RN_KIND_PIPELINING);
		}
		if (TX_STARTS(p, end, "COMMAND TIME LIMIT from [")) {
			if (!ps_addr(p + 24, end, ev, &next))
				return SMTP_UNKNOWN;
			ev_after(ev, next, end);
			return event(ev, SMTP_PROG_POSTSCREEN, RN_KIND_TIMEOUT);
		}
		if (TX_STARTS(p, end, "COMMAND COUNT LIMIT from [")) {
			if (!ps_addr(p + 25, end, ev, &next))
				return SMTP_UNKNOWN;
			ev_after(ev, next, end);
			return event(ev, SMTP_PROG_POSTSCREEN, RN_KIND_TOO_MANY_ERRORS);
		}
		if (TX_STARTS(p, end, "COMMAND LENGTH LIMIT from [")) {
			if (!ps_addr(p + 26, end, ev, &next))
				return SMTP_UNKNOWN;
			EV_LIT(ev, "length");
			return event(ev, SMTP_PROG_POSTSCREEN, RN_KIND_PROTOCOL_ERROR);
		}
		break;
	case 'P':
		if (TX_STARTS(p, end, "PASS NEW [") || TX_STARTS(p, end, "PASS OLD ["))
			return ignored(ev, SMTP_PROG_POSTSCREEN);
		if (TX_STARTS(p, end, "PREGREET ")) {
			q = TX_FIND(p, end, " from [");
			if (q == NULL || !ps_addr(q + 6, end, ev, NULL))
				return SMTP_UNKNOWN;
			EV_LIT(ev, "pregreet");
			return event(ev, SMTP_PROG_POSTSCREEN, RN_KIND_PREGREET);
		}
		break;
	case 'D':
		if (TX_STARTS(p, end, "DISCONNECT ["))
			return ignored(ev, SMTP_PROG_POSTSCREEN);
		if (TX_STARTS(p, end, "DNSBL rank ")) {
			q = TX_FIND(p, end, " for [");
			if (q == NULL || !ps_addr(q + 5, end, ev, NULL))
				return SMTP_UNKNOWN;
			EV_LIT(ev, "rank:");
			ev_add_word(ev, p + 11, q);
			return event(ev, SMTP_PROG_POSTSCREEN, RN_KIND_RBL_LISTED);
		}
		if (TX_STARTS(p, end, "DENYLISTED [")) {
			if (!ps_addr(p + 11, end, ev, NULL))
				return SMTP_UNKNOWN;
			EV_LIT(ev, "postscreen");
			return event(ev, SMTP_PROG_POSTSCREEN, RN_KIND_DENYLISTED);
		}
		if (TX_STARTS(p, end, "Deleted: "))
			return ignored(ev, SMTP_PROG_POSTFIX_OTHER);
		break;
	case 'B':
		if (TX_STARTS(p, end, "BLACKLISTED [")) {
			if (!ps_addr(p + 12, end, ev, NULL))
				return SMTP_UNKNOWN;
			EV_LIT(ev, "postscreen");
			return event(ev, SMTP_PROG_POSTSCREEN, RN_KIND_DENYLISTED);
		}
		if (TX_STARTS(p, end, "BARE NEWLINE from [")) {
			if (!ps_addr(p + 18, end, ev, NULL))
				return SMTP_UNKNOWN;
			EV_LIT(ev, "bare-newline");
			return event(ev, SMTP_PROG_POSTSCREEN, RN_KIND_PROTOCOL_ERROR);
		}
		break;
	case 'H':
		if (TX_STARTS(p, end, "HANGUP after ")) {
			q = TX_FIND(p, end, " from [");
			if (q == NULL || !ps_addr(q + 6, end, ev, &next))
				return SMTP_UNKNOWN;
			if (TX_FIND(next, end, "after SMTP handshake") != NULL)
				EV_LIT(ev, "hangup:after-greeting");
			else
				EV_LIT(ev, "hangup:before-greeting");
			return event(ev, SMTP_PROG_POSTSCREEN, RN_KIND_HANGUP);
		}
		break;
	case 'A':
		if (TX_STARTS(p, end, "ALLOWLISTED [") || TX_STARTS(p, end, "ALLOWLIST VETO ["))
			return ignored(ev, SMTP_PROG_POSTSCREEN);
		if (TX_STARTS(p, end, "Anonymous TLS connection"))
			return ignored(ev, SMTP_PROG_SMTPD);
		break;
	case 'W':
		if (TX_STARTS(p, end, "WHITELISTED [") || TX_STARTS(p, end, "WHITELIST VETO ["))
			return ignored(ev, SMTP_PROG_POSTSCREEN);
		break;
	case 'T':
	case 'U':
	case 'V':
		if (TX_FIND(p, end, "TLS connection established") != NULL)
			return ignored(ev, SMTP_PROG_SMTPD);
		break;
	case 'S':
		if (TX_STARTS(p, end, "SSL_accept error from "))
			return ignored(ev, SMTP_PROG_SMTPD);
		break;
	case 'N':
		if (TX_STARTS(p, end, "NOQUEUE: ")) {
			enum smtp_prog pp =
			        dm == PF_POSTSCREEN ? SMTP_PROG_POSTSCREEN : SMTP_PROG_SMTPD;
			q = TX_FIND(p, end, " from ");
			/* postscreen writes the client as "[addr]:port". */
			if (dm == PF_INFER && q != NULL && q + 6 < end && q[6] == '[')
				pp = SMTP_PROG_POSTSCREEN;
			return smtpd_action(p + 9, end, ev, pp);
		}
		if (TX_STARTS(p, end, "NON-SMTP COMMAND from [")) {
			if (!ps_addr(p + 22, end, ev, &next))
				return SMTP_UNKNOWN;
			EV_LIT(ev, "cmd:");
			q = TX_FIND(next, end, ": ");
			if (q != NULL)
				ev_add_word(ev, q + 2, end);
			return event(ev, SMTP_PROG_POSTSCREEN, RN_KIND_NON_SMTP);
		}
		break;
	case 'l':
		if (TX_STARTS(p, end, "lost connection after ")) {
			if (!client_after_from(p + 21, end, &ev->addr, NULL))
				return SMTP_UNKNOWN;
			EV_LIT(ev, "after:");
			ev_add_word(ev, p + 22, end);
			return event(ev, SMTP_PROG_SMTPD, RN_KIND_LOST_CONNECTION);
		}
		break;
	case 't':
		if (TX_STARTS(p, end, "timeout after ")) {
			if (!client_after_from(p + 13, end, &ev->addr, NULL))
				return SMTP_UNKNOWN;
			EV_LIT(ev, "after:");
			ev_add_word(ev, p + 14, end);
			return event(ev, SMTP_PROG_SMTPD, RN_KIND_TIMEOUT);
		}
		if (TX_STARTS(p, end, "too many errors after ")) {
			if (!client_after_from(p + 21, end, &ev->addr, NULL))
				return SMTP_UNKNOWN;
			EV_LIT(ev, "after:");
			ev_add_word(ev, p + 22, end);
			return event(ev, SMTP_PROG_SMTPD, RN_KIND_TOO_MANY_ERRORS);
		}
		if (TX_STARTS(p, end, "terminating on signal"))
			return ignored(ev, SMTP_PROG_POSTFIX_OTHER);
		break;
	case 'i':
		if (TX_STARTS(p, end, "improper command pipelining after ")) {
			if (!client_after_from(p + 33, end, &ev->addr, NULL))
				return SMTP_UNKNOWN;
			EV_LIT(ev, "after:");
			ev_add_word(ev, p + 34, end);
			return event(ev, SMTP_PROG_SMTPD, RN_KIND_PIPELINING);
		}
		break;
	case 'a':
		if (TX_STARTS(p, end, "addr ")) {
			q = TX_FIND(p + 5, end, " listed by domain ");
			if (q == NULL ||
			    rn_addr_parse(p + 5, (size_t)(q - (p + 5)), &ev->addr) != RN_OK)
				return SMTP_UNKNOWN;
			EV_LIT(ev, "rbl:");
			ev_set_zone(ev, q + 18, end);
			return event(ev, SMTP_PROG_DNSBLOG, RN_KIND_RBL_LISTED);
		}
		break;
	case 'w':
		if (TX_STARTS(p, end, "warning: "))
			return warning_line(p + 9, end, ev, prog);
		break;
	case 's':
		if (TX_STARTS(p, end, "starting the Postfix") ||
		    TX_STARTS(p, end, "stopping the Postfix") || TX_STARTS(p, end, "statistics: "))
			return ignored(ev, SMTP_PROG_POSTFIX_OTHER);
		break;
	case 'r':
		if (TX_STARTS(p, end, "refreshing the Postfix") || TX_STARTS(p, end, "reload "))
			return ignored(ev, SMTP_PROG_POSTFIX_OTHER);
		break;
	default:
		break;
	}
	return SMTP_UNKNOWN;
}

int postfix_parse(const uint8_t *prog, size_t prog_len, const uint8_t *msg, size_t len,
                  struct smtp_event *ev)
{
	enum pf_daemon dm = daemon_of(prog, prog_len);
	enum smtp_prog label;

	memset(ev, 0, offsetof(struct smtp_event, evidence));
	ev_reset(ev);
	ev->user = ev->rcpt = ev->qid = NULL;
	ev->user_len = ev->rcpt_len = ev->qid_len = 0;
	ev->zone = ev->reason = NULL;
	ev->zone_len = ev->reason_len = 0;
	switch (dm) {
	case PF_SMTPD:
		label = SMTP_PROG_SMTPD;
		break;
	case PF_POSTSCREEN:
		label = SMTP_PROG_POSTSCREEN;
		break;
	case PF_DNSBLOG:
		label = SMTP_PROG_DNSBLOG;
		break;
	case PF_CLEANUP:
		label = SMTP_PROG_CLEANUP;
		break;
	default:
		label = SMTP_PROG_POSTFIX_OTHER;
		break;
	}
	set_daemon(ev, label);
	if (dm == PF_QUIET)
		return SMTP_IGNORED;
	int v = dispatch(msg, msg + len, ev, dm, label);
	if (v == SMTP_UNKNOWN) {
		/* Count it under the daemon that wrote it, when the tag says so. */
		set_daemon(ev, label);
		ev->qid_role = SMTP_QID_NONE;
	} else if (dm != PF_INFER) {
		/* The tag names the program better than the inference. */
		ev->prog = (uint8_t)label;
		if (label != SMTP_PROG_POSTFIX_OTHER)
			ev->daemon = smtp_prog_names[label];
	}
	return v;
}
