/*
 * journal.h: the systemd journal as an SMTP log source (sd-journal),
 * live (followed, with its cursor kept across restarts) and offline.
 * Internal to the collector; the only part of repnet that links
 * libsystemd.
 */
#ifndef REPNET_COLLECTOR_JOURNAL_H
#define REPNET_COLLECTOR_JOURNAL_H

#include "collector/smtp.h"

/* Which MTA a SYSLOG_IDENTIFIER names. */
enum journal_mta {
	JOURNAL_MTA_NONE = 0,
	JOURNAL_MTA_POSTFIX, /* "postfix", "postfix/smtpd", "postfix-out/smtpd", ... */
	JOURNAL_MTA_EXIM,    /* "exim", "exim4" */
};

/*
 * Classifies an identifier: Postfix's own ("postfix" alone, or with
 * "/daemon"), a Postfix instance's syslog_name ("postfix-NAME/daemon",
 * NAME of [A-Za-z0-9._-]), or Exim's. Anything else, such as
 * "postfixadmin" or "eximstats", is JOURNAL_MTA_NONE.
 */
int journal_ident_mta(const uint8_t *id, size_t len);

/*
 * True when /run/log/journal or /var/log/journal holds a journal file
 * (directly or in a machine-id directory): what journal.mode "auto" asks.
 */
bool journal_system_present(void);

/* Counters of one journal reader; one writer (its thread). */
struct journal_counters {
	struct rn_counter open_errors; /* the journal could not be opened */
	struct rn_counter errors;      /* reading, seeking, cursor errors */
	struct rn_counter saves;       /* cursors saved */
	struct rn_gauge open;          /* 1 while the journal is open */
};

struct journal_reader;

/*
 * Follows the journal from its own thread, feeding pipe: the system
 * journal when paths is empty, else one directory or a set of journal
 * files. Entries after the cursor saved in state_dir are read first; with
 * no cursor, from the end (or the beginning when start_beginning). The
 * cursor is saved every save_ms and at stop. A journal that cannot be
 * opened is logged and counted, and tried again every poll_ms. Free with
 * journal_reader_stop().
 */
int journal_reader_start(struct journal_reader **out, const struct rn_strlist *paths,
                         const char *state_dir, bool start_beginning, int64_t poll_ms,
                         int64_t save_ms, struct smtp_pipe *pipe, struct journal_counters *ctr);
/* Reads what is there, stops the thread, saves the cursor, frees. NULL is a no-op. */
void journal_reader_stop(struct journal_reader *r);

/*
 * Offline: every entry of one journal directory or of journal files, from
 * the first, into pipe (not flushed). Returns an error when the journal
 * cannot be opened or read.
 */
int journal_read_all(const char *const *paths, size_t n, struct smtp_pipe *pipe);

#endif /* REPNET_COLLECTOR_JOURNAL_H */
