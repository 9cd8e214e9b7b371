/*
 * conf.c: the collector's configuration keys.
 *
 * Design notes: the SMTP table (collector_smtp_conf_keys) and the flow
 * table share the section name "collector"; SMTP keys live under the
 * groups smtp, tail, syslog and detect. Default thresholds are argued in
 * README.md ("SMTP detectors").
 */
#include <stddef.h>
#include <stdio.h>

#include "collector/smtp.h"

const char *const collector_smtp_format_names[] = {"auto", "postfix", "exim", NULL};
static const char *const tail_start_names[] = {"end", "beginning", NULL};
static const char *const journal_mode_names[] = {"auto", "on", "off", NULL};

/* smtp.exim_timezone: "+hhmm" or "-hhmm" (at most 14 hours), or a zone of /usr/share/zoneinfo. */
static int check_exim_tz(const void *field, char *err, size_t errlen)
{
	const char *z = *(const char *const *)field;
	struct smtp_tz *tz = NULL;
	if (z == NULL || smtp_tz_offset_parse(z, NULL) == RN_OK)
		return RN_OK;
	int rc = smtp_tz_load(z, &tz);
	smtp_tz_free(tz);
	if (rc == RN_OK)
		return RN_OK;
	snprintf(err, errlen,
	         "\"%s\" is neither a UTC offset (+hhmm or -hhmm) nor a time zone of "
	         "/usr/share/zoneinfo (%s)",
	         z, rn_strerror(rc));
	return RN_ECONF;
}

#define S_OFF(f) offsetof(struct collector_smtp_conf, f)
#define DUR(n, f, lo, hi, d, h)                                                         \
	{                                                                               \
		.name = (n), .type = RN_CONF_DURATION, .offset = S_OFF(f), .min = (lo), \
		.max = (hi), .def = (d), .help = (h)                                    \
	}
#define INT(n, f, lo, hi, d, h)                                                                 \
	{                                                                                       \
		.name = (n), .type = RN_CONF_INT, .offset = S_OFF(f), .min = (lo), .max = (hi), \
		.def = (d), .help = (h)                                                         \
	}
#define DBL(n, f, lo, hi, d, h)                                                                    \
	{                                                                                          \
		.name = (n), .type = RN_CONF_DOUBLE, .offset = S_OFF(f), .min = (lo), .max = (hi), \
		.def = (d), .help = (h)                                                            \
	}

#define HOUR_MS 3600000LL
#define DAY_MS  (24 * HOUR_MS)

/* smtp.own_zones: DNS names as the MTA logs them ([A-Za-z0-9._-], at most 253 bytes). */
static int check_zones(const void *field, char *err, size_t errlen)
{
	const struct rn_strlist *l = field;
	for (size_t i = 0; i < l->n; i++) {
		const char *z = l->v[i];
		size_t n = strlen(z);
		bool ok = n > 0 && n <= 253 && z[0] != '.';
		for (size_t k = 0; k < n && ok; k++)
			ok = (z[k] >= 'a' && z[k] <= 'z') || (z[k] >= 'A' && z[k] <= 'Z') ||
			     (z[k] >= '0' && z[k] <= '9') || z[k] == '.' || z[k] == '-' ||
			     z[k] == '_';
		if (!ok) {
			snprintf(err, errlen, "\"%s\" is not a DNS zone name", z);
			return RN_ECONF;
		}
	}
	return RN_OK;
}

const struct rn_conf_key collector_smtp_conf_keys[] = {
        {.name = "smtp.format",
         .type = RN_CONF_ENUM,
         .offset = S_OFF(format),
         .def = "auto",
         .enum_names = collector_smtp_format_names,
         .help = "Which MTA wrote the logs: auto (by program name), postfix or exim."},
        {.name = "smtp.max_line",
         .type = RN_CONF_SIZE,
         .offset = S_OFF(max_line),
         .min = 256,
         .max = 1048576,
         .def = "8k",
         .help = "Longest log line or syslog message read; longer ones are counted and "
                 "skipped."},
        {.name = "smtp.stdin",
         .type = RN_CONF_BOOL,
         .offset = S_OFF(stdin_source),
         .def = "false",
         .help = "Also read log lines from standard input (foreground use)."},
        {.name = "smtp.own_zones",
         .type = RN_CONF_STRLIST,
         .offset = S_OFF(own_zones),
         .max = 64,
         .check = check_zones,
         .help = "DNSBL zones whose hits are this deployment's own enforcement (a federated "
                 "feed the MTA queries directly): counted, never evidence. This node's "
                 "feeds.dnsbl.zones need no entry."},
        {.name = "smtp.exim_timezone",
         .type = RN_CONF_STRING,
         .offset = S_OFF(exim_tz),
         .min = 0,
         .max = 64,
         .check = check_exim_tz,
         .help = "Time zone of Exim's log times that carry no offset: a UTC offset (+hhmm "
                 "or -hhmm) or an IANA name (Europe/Berlin). Empty: the host's time zone "
                 "(TZ). A time with its own offset (log_timezone) keeps it."},
        {.name = "journal.mode",
         .type = RN_CONF_ENUM,
         .offset = S_OFF(journal_mode),
         .def = "auto",
         .enum_names = journal_mode_names,
         .help = "Read Postfix and Exim from the systemd journal: auto (when journal.paths "
                 "is set, or /run/log/journal or /var/log/journal holds journal files), on, "
                 "or off."},
        {.name = "journal.paths",
         .type = RN_CONF_STRLIST,
         .offset = S_OFF(journal_paths),
         .max = 16,
         .help = "One journal directory, or journal files, to follow instead of the "
                 "system journal. Empty: the system journal."},
        {.name = "journal.start",
         .type = RN_CONF_ENUM,
         .offset = S_OFF(journal_start),
         .def = "end",
         .enum_names = tail_start_names,
         .help = "Where to start a journal that has no saved cursor: end or beginning."},
        DUR("journal.save_interval", journal_save_ms, 100, 3600000, "1s",
            "How often the journal cursor is saved to the data directory."),
        {.name = "tail.paths",
         .type = RN_CONF_STRLIST,
         .offset = S_OFF(tail_paths),
         .max = 16,
         .help = "Log files to follow across rotation and truncation. None by default."},
        {.name = "tail.start",
         .type = RN_CONF_ENUM,
         .offset = S_OFF(tail_start),
         .def = "end",
         .enum_names = tail_start_names,
         .help = "Where to start a file that has no saved position: end or beginning."},
        DUR("tail.poll_interval", tail_poll_ms, 100, 60000, "1s",
            "How often a followed file is checked besides inotify (rotation, lost events)."),
        DUR("tail.save_interval", tail_save_ms, 100, 3600000, "1s",
            "How often read positions are saved to the data directory."),
        {.name = "syslog.udp_listen",
         .type = RN_CONF_HOSTPORT,
         .offset = S_OFF(syslog_udp),
         .def = "127.0.0.1:5514",
         .help = "Address of the syslog UDP receiver (RFC 3164, RFC 5424). Empty disables it."},
        {.name = "syslog.tcp_listen",
         .type = RN_CONF_HOSTPORT,
         .offset = S_OFF(syslog_tcp),
         .def = "127.0.0.1:5514",
         .help = "Address of the syslog TCP receiver (RFC 6587 octet counting or newline "
                 "framing). Empty disables it."},
        {.name = "syslog.senders",
         .type = RN_CONF_PREFIXES,
         .offset = S_OFF(syslog_senders),
         .min = 0,
         .max = 4096,
         .help = "Prefixes that may send syslog: TCP peers are checked when they connect, UDP "
                 "datagrams as they arrive; the rest are refused and counted "
                 "(repnet_syslog_refused_total). Empty: loopback, and a listener off loopback "
                 "refuses to start. UDP sources can be forged: this helps only where the "
                 "network drops forged sources."},
        INT("syslog.max_connections", syslog_max_conns, 1, 4096, "64",
            "Most concurrent syslog TCP connections. When full, a sender holding fewer than "
            "the sender holding the most closes that sender's oldest; others are refused."),
        DUR("syslog.idle_timeout", syslog_idle_ms, 1000, 86400000, "10m",
            "A syslog TCP connection silent this long is closed."),
        INT("syslog.max_connections_per_client", syslog_max_per_client, 1, 4096, "16",
            "Most concurrent syslog TCP connections of one sender (IPv4 address, IPv6 /64); "
            "its next one closes its oldest."),
        DUR("syslog.message_timeout", syslog_msg_timeout_ms, 100, 86400000, "30s",
            "A syslog TCP message not complete this long after its first byte closes the "
            "connection; more bytes do not extend it."),
        {.name = "syslog.rcvbuf",
         .type = RN_CONF_SIZE,
         .offset = S_OFF(syslog_rcvbuf),
         .min = 65536,
         .max = 268435456,
         .def = "4M",
         .help = "Receive buffer of the syslog UDP socket (SO_RCVBUF)."},
        {.name = "detect.enable",
         .type = RN_CONF_BOOL,
         .offset = S_OFF(detect),
         .def = "true",
         .help = "Run the SMTP detectors and the spamtrap check."},
        INT("detect.max_addresses", det_max_addrs, 1024, 16777216, "65536",
            "Most client addresses the detectors track; the least recently seen is evicted."),
        INT("detect.max_users", det_max_users, 64, 1048576, "8192",
            "Most SASL user names (hashed) the distributed brute-force detector tracks."),
        INT("detect.max_queue_ids", det_max_qids, 64, 1048576, "16384",
            "Most queue ids remembered to link deliveries to clients (spamtrap check)."),
        DUR("detect.sasl.fast_window", sasl_fast_window_ms, 1000, DAY_MS, "10m",
            "Window of the fast SASL brute-force detector."),
        INT("detect.sasl.fast_threshold", sasl_fast_threshold, 1, 100000, "5",
            "SASL failures from one address within the fast window that signal brute force."),
        DUR("detect.sasl.slow_window", sasl_slow_window_ms, 60000, 7 * DAY_MS, "6h",
            "Window of the slow SASL brute-force detector."),
        INT("detect.sasl.slow_threshold", sasl_slow_threshold, 1, 100000, "12",
            "SASL failures from one address within the slow window that signal brute force."),
        DUR("detect.sasl.dist_window", sasl_dist_window_ms, 60000, 7 * DAY_MS, "6h",
            "Window of the distributed SASL detector (many addresses, one user name)."),
        INT("detect.sasl.dist_addresses", sasl_dist_addrs, 2, 64, "5",
            "Distinct addresses failing against one user name within the window that signal "
            "a distributed attack."),
        DUR("detect.harvest.window", harvest_window_ms, 1000, DAY_MS, "1h",
            "Window of the recipient-harvesting detector."),
        INT("detect.harvest.threshold", harvest_threshold, 1, 100000, "5",
            "Unknown-recipient rejects from one address within the window that signal "
            "harvesting."),
        DUR("detect.bot.window", bot_window_ms, 1000, DAY_MS, "1h",
            "Window of the protocol-violating bot detector."),
        DBL("detect.bot.threshold", bot_threshold, 0, 1000, "1",
            "Weighted protocol violations from one address within the window that signal "
            "a bot."),
        DBL("detect.bot.weight_pregreet", bot_w_pregreet, 0, 1000, "1",
            "Weight of talking before the greeting."),
        DBL("detect.bot.weight_pipelining", bot_w_pipelining, 0, 1000, "1",
            "Weight of improper pipelining (synchronization errors)."),
        DBL("detect.bot.weight_non_smtp", bot_w_non_smtp, 0, 1000, "1",
            "Weight of a non-SMTP command (HTTP and the like)."),
        DBL("detect.bot.weight_hangup", bot_w_hangup, 0, 1000, "0.5",
            "Weight of hanging up during postscreen's tests."),
        DBL("detect.bot.weight_protocol_error", bot_w_protocol, 0, 1000, "0.25",
            "Weight of an SMTP syntax or protocol error."),
        DUR("detect.relay.window", relay_window_ms, 1000, DAY_MS, "1h",
            "Window of the relay-probing detector."),
        INT("detect.relay.threshold", relay_threshold, 1, 100000, "2",
            "Relay-denied rejects from one address within the window that signal probing."),
        DUR("detect.flood.window", flood_window_ms, 1000, DAY_MS, "1m",
            "Window of the connection-flood detector."),
        INT("detect.flood.threshold", flood_threshold, 1, 10000000, "30",
            "Connections from one address within the window that signal a flood."),
        DUR("detect.rbl.window", rbl_window_ms, 1000, 7 * DAY_MS, "1h",
            "An address confirmed by a DNSBL is signalled again only after this long."),
        {.name = "detect.rbl.zones",
         .type = RN_CONF_STRLIST,
         .offset = S_OFF(rbl_zones),
         .max = 64,
         .help = "DNSBL zones whose listings are trusted as confirmation. Empty: every zone "
                 "the MTA names."},
        {.name = "detect.spamtrap.recipients",
         .type = RN_CONF_STRLIST,
         .offset = S_OFF(spamtraps),
         .max = 4096,
         .help = "Spamtrap addresses (exact, case-insensitive) or domains (@domain); mail "
                 "to them is a spamtrap hit."},
        {.name = NULL},
};

/* collector_flow_conf_keys is in flow_conf.c. */

int collector_smtp_conf_check(const struct collector_smtp_conf *c, char *err, size_t errlen)
{
	static const char *const keys[2] = {"udp_listen", "tcp_listen"};
	const char *l[2] = {c->syslog_udp, c->syslog_tcp};

	if (c->syslog_senders.n > 0)
		return RN_OK;
	for (int i = 0; i < 2; i++) {
		if (l[i] != NULL && !rn_hostport_is_loopback(l[i])) {
			snprintf(err, errlen,
			         "collector.syslog.%s %s is off loopback and "
			         "collector.syslog.senders "
			         "is empty: list the hosts that may send syslog there "
			         "(collector.syslog.senders)",
			         keys[i], l[i]);
			return RN_ECONF;
		}
	}
	return RN_OK;
}
