/*
 * journal.c: the systemd journal as an SMTP log source.
 *
 * Design notes:
 *   - One thread per reader owns its sd_journal handle (sd-journal
 *     handles are not thread-safe). It sleeps in poll() on the journal's
 *     inotify descriptor and a stop eventfd, waking at least every
 *     tail.poll_interval (journal files given by name have no inotify
 *     watch, and a writer such as systemd-journal-remote may append
 *     without a notification), and then reads every new entry.
 *   - An entry is an MTA's when its SYSLOG_IDENTIFIER says so
 *     (journal_ident_mta); its MESSAGE goes through the same parsers as a
 *     log line's message, with no wrapper to parse. Other entries are
 *     counted as foreign lines. Event time is the entry's
 *     _SOURCE_REALTIME_TIMESTAMP (when the program logged), else its
 *     __REALTIME_TIMESTAMP (when journald received it). Fields are read
 *     in place from the journal's mapping: nothing on the per-entry path
 *     allocates. A MESSAGE longer than smtp.max_line is counted and
 *     skipped (the data threshold keeps sd-journal from decompressing
 *     more than that).
 *   - The cursor of the last entry read is saved in
 *     state_dir/journal-<crc32c of the source>.cursor (rn_file_replace)
 *     every tail.save_interval and at stop, through cursor_save() alone.
 *     With a sink that gates positions (collector_sink.mark, the collect
 *     role's spill) the cursor is a mark instead, every JOURNAL_BATCH
 *     entries too, and the sink writes the file once the observations
 *     before it are acknowledged; at start the sink's pending cursor, if
 *     any, wins over the file's. A
 *     restart seeks to it and skips the entry it names; a cursor the
 *     journal no longer holds (vacuumed) resumes at the nearest entry.
 *     Without a cursor, reading starts at the end (journal.start), or at
 *     the first entry when the journal is empty.
 *   - A journal that cannot be opened (a missing directory, unreadable
 *     files) is logged with its path and counted, and opened again every
 *     poll interval.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "collector/journal.h"

#define JOURNAL_BATCH    1024 /* entries between checks for stop, and positions marked */
#define JOURNAL_MAX_FILE 16

static bool ident_char(uint8_t ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '.' || ch == '_' || ch == '-';
}

int journal_ident_mta(const uint8_t *id, size_t len)
{
	if (id == NULL)
		return JOURNAL_MTA_NONE;
	if ((len == 4 && memcmp(id, "exim", 4) == 0) || (len == 5 && memcmp(id, "exim4", 5) == 0))
		return JOURNAL_MTA_EXIM;
	if (len < 7 || memcmp(id, "postfix", 7) != 0)
		return JOURNAL_MTA_NONE;
	size_t i = 7;
	if (i < len && id[i] == '-') {
		/* A multi-instance syslog_name: "postfix-NAME", then "/daemon". */
		size_t k = i + 1;
		while (k < len && ident_char(id[k]))
			k++;
		if (k == i + 1 || k == len || id[k] != '/')
			return JOURNAL_MTA_NONE;
		i = k;
	}
	if (i == len)
		return JOURNAL_MTA_POSTFIX;
	if (id[i] != '/' || i + 1 == len)
		return JOURNAL_MTA_NONE;
	for (size_t k = i + 1; k < len; k++)
		if (!ident_char(id[k]) && id[k] != '/')
			return JOURNAL_MTA_NONE;
	return JOURNAL_MTA_POSTFIX;
}

/* A "*.journal" file in dir or in one of its subdirectories. */
static bool dir_has_journal(const char *dir, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool found = false;
	if (d == NULL)
		return false;
	for (unsigned n = 0; !found && n < 4096 && (e = readdir(d)) != NULL; n++) {
		size_t l = strlen(e->d_name);
		if (e->d_name[0] == '.')
			continue;
		if (l > 8 && strcmp(e->d_name + l - 8, ".journal") == 0) {
			found = true;
		} else if (depth > 0 && (e->d_type == DT_DIR || e->d_type == DT_UNKNOWN)) {
			char sub[PATH_MAX];
			if (snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name) < (int)sizeof(sub))
				found = dir_has_journal(sub, depth - 1);
		}
	}
	closedir(d);
	return found;
}

bool journal_system_present(void)
{
	return dir_has_journal("/run/log/journal", 1) || dir_has_journal("/var/log/journal", 1);
}

/* Opens the system journal, one directory, or journal files. */
static int journal_open(sd_journal **j, const struct rn_strlist *paths)
{
	struct stat st;
	int rc;

	*j = NULL;
	if (paths->n == 0) {
		rc = sd_journal_open(j, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM);
	} else if (paths->n == 1 && stat(paths->v[0], &st) == 0 && S_ISDIR(st.st_mode)) {
		rc = sd_journal_open_directory(j, paths->v[0], 0);
	} else {
		const char *files[JOURNAL_MAX_FILE + 1];
		if (paths->n > JOURNAL_MAX_FILE)
			return RN_ELIMIT;
		for (size_t i = 0; i < paths->n; i++) {
			if (stat(paths->v[i], &st) != 0)
				return -errno;
			if (!S_ISREG(st.st_mode))
				return RN_ECONF; /* a directory must be the only path */
			files[i] = paths->v[i];
		}
		files[paths->n] = NULL;
		rc = sd_journal_open_files(j, files, 0);
	}
	if (rc < 0) {
		*j = NULL;
		return rc;
	}
	return RN_OK;
}

static const char *paths_name(const struct rn_strlist *paths)
{
	return paths->n == 0 ? "the system journal" : paths->v[0];
}

/* The field's value (after "NAME="), or false when the entry has none. */
static bool field(sd_journal *j, const char *name, size_t nlen, const uint8_t **v, size_t *len)
{
	const void *d;
	size_t l;
	if (sd_journal_get_data(j, name, &d, &l) < 0 || l <= nlen)
		return false;
	*v = (const uint8_t *)d + nlen + 1;
	*len = l - nlen - 1;
	return true;
}

/* A decimal number of microseconds, in ms; -1 when it is not one. */
static int64_t usec_ms(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	if (n == 0 || n > 19)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	return (int64_t)(v / 1000);
}

/* One entry into the pipe. */
static void entry_feed(sd_journal *j, struct smtp_pipe *p)
{
	const uint8_t *id = NULL, *msg, *v;
	size_t idl = 0, ml, vl;
	int64_t ts = -1;
	uint64_t rt;

	(void)field(j, "SYSLOG_IDENTIFIER", 17, &id, &idl);
	if (journal_ident_mta(id, idl) == JOURNAL_MTA_NONE) {
		rn_counter_inc(&p->ctr->lines);
		rn_counter_inc(&p->ctr->foreign);
		return;
	}
	if (!field(j, "MESSAGE", 7, &msg, &ml)) {
		rn_counter_inc(&p->ctr->lines);
		rn_counter_inc(&p->ctr->malformed);
		return;
	}
	if (field(j, "_SOURCE_REALTIME_TIMESTAMP", 26, &v, &vl))
		ts = usec_ms(v, vl);
	if (ts < 0 && sd_journal_get_realtime_usec(j, &rt) >= 0)
		ts = (int64_t)(rt / 1000);
	if (ts < 0)
		ts = rn_time_now_ms();
	smtp_pipe_message(p, ts, id, idl, msg, ml);
}

static void set_threshold(sd_journal *j, const struct smtp_pipe *p)
{
	/* "MESSAGE=" and one byte more than a line may have: longer is overlong. */
	(void)sd_journal_set_data_threshold(j, (size_t)p->conf->max_line + 9);
}

int journal_read_all(const char *const *paths, size_t n, struct smtp_pipe *pipe)
{
	struct rn_strlist l = {.v = (char **)paths, .n = n};
	sd_journal *j;
	int rc = journal_open(&j, &l);
	if (rc != RN_OK)
		return rc;
	set_threshold(j, pipe);
	rc = sd_journal_seek_head(j);
	while (rc >= 0 && (rc = sd_journal_next(j)) > 0)
		entry_feed(j, pipe);
	sd_journal_close(j);
	return rc < 0 ? rc : RN_OK;
}

/* ------------------------------------------------------------------ */
/* Live                                                                */
/* ------------------------------------------------------------------ */

struct journal_reader {
	struct rn_strlist paths; /* borrowed from the caller's configuration */
	char state_path[PATH_MAX];
	char state_key[32]; /* the name of state_path in state_dir */
	sd_journal *j;
	bool positioned; /* the journal is at an entry already read */
	bool pending;    /* the journal is at an entry not yet read */
	bool dirty;      /* entries read since the last save */
	bool start_beginning;
	int stop_fd;
	int64_t poll_ms, save_ms, last_save, last_open;
	unsigned open_failures;
	struct smtp_pipe *pipe;
	struct journal_counters *ctr;
	pthread_t thread;
	bool started;
};

/*
 * Saves the cursor of the last entry read: the one place a position is
 * made durable. With a sink that gates positions (the repnetd collect
 * role's spill), the entries read so far are flushed and the cursor is
 * handed to the sink as a mark: it writes the file once their
 * observations are acknowledged, never before. Otherwise it is written
 * here.
 */
static void cursor_save(struct journal_reader *r)
{
	char *cur = NULL;
	char buf[1024];
	const struct collector_sink *sk = &r->pipe->sink;

	if (r->j == NULL || !r->dirty || !r->positioned)
		return;
	if (sk->mark != NULL)
		smtp_pipe_flush(r->pipe);
	int rc = sd_journal_get_cursor(r->j, &cur);
	if (rc < 0) {
		rn_counter_inc(&r->ctr->errors);
		log_warnx_rl("journal %s: cursor: %s", paths_name(&r->paths), strerror(-rc));
		return;
	}
	int n = snprintf(buf, sizeof(buf), "v1 %s\n", cur);
	free(cur);
	if (n <= 0 || (size_t)n >= sizeof(buf)) {
		rn_counter_inc(&r->ctr->errors);
		return;
	}
	if (sk->mark != NULL) {
		/* Never written here: the file must not run ahead of the acknowledgements. */
		if ((size_t)n > COLLECTOR_POS_MAX) {
			rn_counter_inc(&r->ctr->errors);
			log_warnx_rl(
			        "journal %s: a cursor of %d bytes does not fit a position (%d)",
			        paths_name(&r->paths), n, COLLECTOR_POS_MAX);
			return;
		}
		sk->mark(sk->arg, r->state_key, (const uint8_t *)buf, (size_t)n);
		rn_counter_inc(&r->ctr->saves);
		r->dirty = false;
		return;
	}
	rc = rn_file_replace(r->state_path, buf, (size_t)n, 0640);
	if (rc != RN_OK) {
		rn_counter_inc(&r->ctr->errors);
		log_warnx_rl("journal %s: saving the cursor: %s", paths_name(&r->paths),
		             rn_strerror(rc));
		return;
	}
	rn_counter_inc(&r->ctr->saves);
	r->dirty = false;
}

/*
 * The saved cursor into cur (NUL-terminated), or false: the newest the
 * sink holds for this source (its entries' observations are in the spill,
 * not yet acknowledged), else the file's.
 */
static bool cursor_load(const struct journal_reader *r, char *cur, size_t cap)
{
	uint8_t *buf = NULL, pend[COLLECTOR_POS_MAX];
	size_t len = 0, plen = 0;
	bool ok = false;
	const struct collector_sink *sk = &r->pipe->sink;
	if (sk->pending != NULL &&
	    sk->pending(sk->arg, r->state_key, pend, sizeof(pend), &plen) == RN_OK &&
	    (buf = malloc(plen ? plen : 1)) != NULL) {
		memcpy(buf, pend, plen);
		len = plen;
	} else if (rn_file_read(r->state_path, cap, &buf, &len) != RN_OK) {
		return false;
	}
	if (len > 4 && len < cap && memcmp(buf, "v1 ", 3) == 0 && buf[len - 1] == '\n') {
		memcpy(cur, buf + 3, len - 4);
		cur[len - 4] = '\0';
		ok = memchr(cur, '\n', len - 4) == NULL && memchr(cur, '\0', len - 4) == NULL;
	}
	free(buf);
	return ok;
}

/* Positions a newly opened journal: after the saved cursor, or per journal.start. */
static void position(struct journal_reader *r)
{
	char cur[1024];
	bool at_end = !r->start_beginning;
	int rc;

	r->positioned = r->pending = false;
	if (cursor_load(r, cur, sizeof(cur))) {
		rc = sd_journal_seek_cursor(r->j, cur);
		if (rc >= 0 && (rc = sd_journal_next(r->j)) > 0) {
			if (sd_journal_test_cursor(r->j, cur) > 0) {
				r->positioned = true;
			} else {
				log_info(
				        "journal %s: the saved entry is gone; resuming at the next",
				        paths_name(&r->paths));
				r->pending = true;
			}
			return;
		}
		if (rc < 0) {
			rn_counter_inc(&r->ctr->errors);
			log_warnx("journal %s: saved cursor: %s; starting at the %s",
			          paths_name(&r->paths), strerror(-rc),
			          at_end ? "end" : "beginning");
		} else {
			/* Nothing at or after the cursor: every entry there was read. */
			at_end = true;
		}
	}
	if (at_end) {
		(void)sd_journal_seek_tail(r->j);
		if (sd_journal_previous(r->j) > 0) {
			r->positioned = true;
			r->dirty = true; /* the end is where a restart resumes */
			return;
		}
	}
	/* From the beginning, or an empty journal: whatever comes is new. */
	(void)sd_journal_seek_head(r->j);
}

static void try_open(struct journal_reader *r)
{
	int64_t now = rn_time_mono_ms();
	if (r->last_open != 0 && now - r->last_open < r->poll_ms)
		return;
	r->last_open = now;
	int rc = journal_open(&r->j, &r->paths);
	if (rc != RN_OK) {
		rn_counter_inc(&r->ctr->open_errors);
		if (r->open_failures++ == 0)
			log_warnx("journal %s: cannot open: %s; trying again every %lld ms",
			          paths_name(&r->paths), rn_strerror(rc), (long long)r->poll_ms);
		else
			log_warnx_rl("journal %s: cannot open: %s", paths_name(&r->paths),
			             rn_strerror(rc));
		return;
	}
	if (r->open_failures > 0)
		log_info("journal %s: open", paths_name(&r->paths));
	r->open_failures = 0;
	rn_gauge_add(&r->ctr->open, 1);
	set_threshold(r->j, r->pipe);
	position(r);
}

static bool stopped(const struct journal_reader *r)
{
	struct pollfd pfd = {.fd = r->stop_fd, .events = POLLIN};
	return poll(&pfd, 1, 0) > 0;
}

/* Tells a gating sink that entries not yet marked are coming. */
static void hold(struct journal_reader *r)
{
	const struct collector_sink *sk = &r->pipe->sink;
	if (sk->hold != NULL)
		sk->hold(sk->arg, r->state_key);
}

/* Reads new entries; false when asked to stop in between. */
static bool read_new(struct journal_reader *r)
{
	hold(r);
	if (r->pending) {
		entry_feed(r->j, r->pipe);
		r->pending = false;
		r->positioned = r->dirty = true;
	}
	for (unsigned n = 1;; n++) {
		int rc = sd_journal_next(r->j);
		if (rc < 0) {
			rn_counter_inc(&r->ctr->errors);
			log_warnx_rl("journal %s: reading: %s", paths_name(&r->paths),
			             strerror(-rc));
			return true;
		}
		if (rc == 0)
			return true;
		entry_feed(r->j, r->pipe);
		r->positioned = r->dirty = true;
		if (n % JOURNAL_BATCH == 0) {
			smtp_pipe_flush(r->pipe);
			if (r->pipe->sink.mark != NULL) {
				/* A gating sink holds what follows the last mark in memory: bound it. */
				cursor_save(r);
				hold(r);
			}
			if (stopped(r))
				return false;
		}
	}
}

static void *journal_main(void *arg)
{
	struct journal_reader *r = arg;

	r->last_save = rn_time_mono_ms();
	for (;;) {
		if (r->j == NULL)
			try_open(r);
		bool stop = false;
		if (r->j != NULL) {
			(void)sd_journal_process(r->j);
			stop = !read_new(r);
		}
		smtp_pipe_flush(r->pipe);
		int64_t now = rn_time_mono_ms();
		if (now - r->last_save >= r->save_ms) {
			cursor_save(r);
			r->last_save = now;
		}
		if (stop)
			break;
		struct pollfd pfd[2] = {{.fd = r->stop_fd, .events = POLLIN}, {.fd = -1}};
		int timeout = (int)r->poll_ms;
		if (r->j != NULL) {
			/* No descriptor (journal files by name): the poll interval alone. */
			int fd = sd_journal_get_fd(r->j);
			int ev = sd_journal_get_events(r->j);
			if (fd >= 0 && ev > 0) {
				pfd[1].fd = fd;
				pfd[1].events = (short)ev;
			}
		}
		int n = poll(pfd, pfd[1].fd >= 0 ? 2 : 1, timeout);
		if (n < 0 && errno != EINTR) {
			rn_counter_inc(&r->ctr->errors);
			break;
		}
		if (n > 0 && (pfd[0].revents & POLLIN) != 0) {
			/* Read what is there, then stop. */
			if (r->j != NULL) {
				(void)sd_journal_process(r->j);
				(void)read_new(r);
			}
			break;
		}
	}
	smtp_pipe_flush(r->pipe);
	cursor_save(r);
	return NULL;
}

int journal_reader_start(struct journal_reader **out, const struct rn_strlist *paths,
                         const char *state_dir, bool start_beginning, int64_t poll_ms,
                         int64_t save_ms, struct smtp_pipe *pipe, struct journal_counters *ctr)
{
	struct journal_reader *r = calloc(1, sizeof(*r));
	int rc;
	if (r == NULL)
		return -ENOMEM;
	r->stop_fd = -1;
	r->paths = *paths;
	r->start_beginning = start_beginning;
	r->poll_ms = poll_ms;
	r->save_ms = save_ms;
	r->pipe = pipe;
	r->ctr = ctr;
	uint32_t h = rn_crc32c(0, "journal", 7);
	for (size_t i = 0; i < paths->n; i++)
		h = rn_crc32c(h, paths->v[i], strlen(paths->v[i]) + 1);
	snprintf(r->state_key, sizeof(r->state_key), "journal-%08x.cursor", h);
	if (snprintf(r->state_path, sizeof(r->state_path), "%s/%s", state_dir, r->state_key) >=
	    (int)sizeof(r->state_path)) {
		rc = RN_ELIMIT;
		goto fail;
	}
	r->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->stop_fd < 0) {
		rc = -errno;
		goto fail;
	}
	rc = -pthread_create(&r->thread, NULL, journal_main, r);
	if (rc != 0)
		goto fail;
	r->started = true;
	*out = r;
	return RN_OK;
fail:
	journal_reader_stop(r);
	return rc;
}

void journal_reader_stop(struct journal_reader *r)
{
	if (r == NULL)
		return;
	if (r->started) {
		uint64_t one = 1;
		if (write(r->stop_fd, &one, sizeof(one)) < 0)
			log_warn("journal: waking the thread");
		pthread_join(r->thread, NULL);
	}
	if (r->j != NULL) {
		sd_journal_close(r->j);
		rn_gauge_add(&r->ctr->open, -1);
	}
	if (r->stop_fd >= 0)
		close(r->stop_fd);
	free(r);
}
