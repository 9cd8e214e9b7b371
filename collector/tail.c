/*
 * tail.c: follows log files across rotation and truncation.
 *
 * Design notes:
 *   - One thread follows every configured file. It sleeps in poll() on
 *     an inotify descriptor (watching each file's directory) and a stop
 *     eventfd, waking at least every tail.poll_interval, and then services
 *     every file: read to the end, then look for rotation or truncation.
 *   - Rename + create (logrotate's default): the writer keeps appending to
 *     the old inode until it reopens, so the old descriptor is drained
 *     until the new file has data (or a grace period passes with the old
 *     one at its end), and only then is the new file opened, from 0.
 *   - Truncation (copytruncate) is seen as a size below the read offset,
 *     or, when the file has regrown past it, as a change of the first
 *     bytes (a CRC32C fingerprint of up to 256 bytes). Lines between the
 *     read offset and the truncation are recovered from "path.1" when its
 *     fingerprint matches; then reading restarts at 0.
 *   - The position saved is that of the last complete line (bytes read
 *     minus the partial line in the line buffer), with the inode and the
 *     fingerprint, in state_dir/tail-<crc32c of path>.pos, written with
 *     rn_file_replace every tail.save_interval and at stop. A restart
 *     resumes there: same inode and fingerprint; or the rotated file
 *     ("path.1") if the file was rotated while repnet was down. A crash
 *     re-reads at most one save interval of lines; a clean stop none.
 *   - Each file has its own bounded line buffer; lines go to the shared
 *     pipe of this thread.
 *   - A file that cannot be opened (absent, unreadable, not a regular
 *     file) is warned about when that is first seen, at start or when it
 *     goes away, and again every MISSING_WARN_MS while it stays so; it
 *     counts in the files_missing gauge until it opens, which is logged.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collector/tail.h"

#define FP_MAX          256
#define READ_CHUNK      65536
#define MISSING_WARN_MS 60000

struct tfile {
	char *path;
	char state_path[PATH_MAX];
	int fd;
	dev_t dev;
	ino_t ino;
	uint64_t off; /* bytes consumed from fd */
	uint32_t fp_len;
	uint32_t fp_crc;
	struct linebuf lb;
	int64_t rotated_seen; /* mono ms when path first pointed elsewhere; 0: not */
	bool dirty;
	bool missing;         /* the last open failed: counted in files_missing */
	int64_t missing_warn; /* mono ms of the last warning about it */
	int open_err;         /* errno of the last failed open */
};

struct tailer {
	struct tfile *files;
	size_t n;
	int ino_fd;
	int stop_fd;
	bool start_beginning;
	int64_t poll_ms, save_ms, last_save;
	struct smtp_pipe *pipe;
	struct tail_counters *ctr;
	pthread_t thread;
	bool started;
	uint8_t chunk[READ_CHUNK];
};

static uint64_t committed(const struct tfile *f)
{
	return f->off - f->lb.len;
}

static void file_feed(struct tailer *t, struct tfile *f, const uint8_t *buf, size_t n)
{
	uint64_t before = f->lb.overlong;
	(void)linebuf_feed(&f->lb, buf, n, smtp_pipe_line, t->pipe);
	if (f->lb.overlong != before)
		rn_counter_add(&t->pipe->ctr->overlong, f->lb.overlong - before);
	f->dirty = true;
}

/* CRC32C of the first n bytes of fd, or false when it has fewer. */
static bool fingerprint(int fd, uint32_t n, uint32_t *crc)
{
	uint8_t b[FP_MAX];
	if (n == 0 || n > FP_MAX)
		return false;
	ssize_t r = pread(fd, b, n, 0);
	if (r != (ssize_t)n)
		return false;
	*crc = rn_crc32c(0, b, n);
	return true;
}

static void fp_update(struct tfile *f)
{
	if (f->fp_len >= FP_MAX || f->off <= f->fp_len)
		return;
	uint32_t n = f->off < FP_MAX ? (uint32_t)f->off : FP_MAX;
	uint32_t crc;
	if (fingerprint(f->fd, n, &crc)) {
		f->fp_len = n;
		f->fp_crc = crc;
	}
}

/* Reads fd from the current offset to its end. */
static void read_to_end(struct tailer *t, struct tfile *f, int fd, uint64_t *off)
{
	for (;;) {
		ssize_t r = pread(fd, t->chunk, sizeof(t->chunk), (off_t)*off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rn_counter_inc(&t->ctr->errors);
			log_warnx_rl("tail %s: read: %s", f->path, strerror(errno));
			return;
		}
		if (r == 0)
			return;
		*off += (uint64_t)r;
		file_feed(t, f, t->chunk, (size_t)r);
	}
}

/*
 * Lines between off and the end of a rotated copy ("path.1") whose
 * fingerprint, or inode, matches what we were reading.
 */
static void recover_rotated(struct tailer *t, struct tfile *f, uint64_t off, bool by_inode,
                            ino_t ino)
{
	char p1[PATH_MAX];
	struct stat st;
	if (snprintf(p1, sizeof(p1), "%s.1", f->path) >= (int)sizeof(p1))
		return;
	int fd = open(p1, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	uint32_t crc;
	bool same =
	        fstat(fd, &st) == 0 && (uint64_t)st.st_size >= off &&
	        (by_inode ? st.st_ino == ino
	                  : f->fp_len > 0 && fingerprint(fd, f->fp_len, &crc) && crc == f->fp_crc);
	if (same && (uint64_t)st.st_size > off) {
		uint64_t before = rn_counter_get(&t->pipe->ctr->lines);
		read_to_end(t, f, fd, &off);
		(void)linebuf_finish(&f->lb, smtp_pipe_line, t->pipe);
		rn_counter_add(&t->ctr->rotated_reads,
		               rn_counter_get(&t->pipe->ctr->lines) - before);
	}
	close(fd);
}

static void file_close(struct tailer *t, struct tfile *f)
{
	if (f->fd >= 0) {
		close(f->fd);
		f->fd = -1;
		rn_gauge_add(&t->ctr->files_open, -1);
	}
}

/* An open failed: warned about when first seen and then every MISSING_WARN_MS. */
static void file_missing(struct tailer *t, struct tfile *f, int err)
{
	int64_t now = rn_time_mono_ms();
	if (!f->missing) {
		f->missing = true;
		rn_gauge_add(&t->ctr->files_missing, 1);
	} else if (now - f->missing_warn < MISSING_WARN_MS && err == f->open_err) {
		return;
	}
	f->missing_warn = now;
	f->open_err = err;
	log_warnx("tail %s: %s; following it once it can be opened (collector.tail.paths)", f->path,
	          err == 0 ? "not a regular file" : strerror(err));
}

/* Opens path at offset off (fingerprint reset). */
static bool file_open_at(struct tailer *t, struct tfile *f, bool at_end)
{
	struct stat st;
	int fd = open(f->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		file_missing(t, f, errno);
		return false;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		int err = S_ISREG(st.st_mode) ? errno : 0;
		close(fd);
		file_missing(t, f, err);
		return false;
	}
	if (f->missing) {
		f->missing = false;
		rn_gauge_add(&t->ctr->files_missing, -1);
		log_notice("tail %s: opened; reading it from its %s", f->path,
		           at_end ? "end" : "start");
	}
	f->fd = fd;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->off = at_end ? (uint64_t)st.st_size : 0;
	f->fp_len = 0;
	f->fp_crc = 0;
	f->lb.len = 0;
	f->lb.skipping = false;
	f->rotated_seen = 0;
	f->dirty = true;
	rn_gauge_add(&t->ctr->files_open, 1);
	fp_update(f);
	return true;
}

static void state_save(struct tailer *t, struct tfile *f)
{
	char buf[PATH_MAX + 128];
	if (!f->dirty || f->fd < 0)
		return;
	fp_update(f);
	int n = snprintf(buf, sizeof(buf), "v1 %" PRIu64 " %" PRIu64 " %" PRIu64 " %u %u %d\n",
	                 (uint64_t)f->dev, (uint64_t)f->ino, committed(f), f->fp_len, f->fp_crc,
	                 f->lb.skipping ? 1 : 0);
	if (n <= 0 || (size_t)n >= sizeof(buf))
		return;
	int rc = rn_file_replace(f->state_path, buf, (size_t)n, 0640);
	if (rc != RN_OK) {
		rn_counter_inc(&t->ctr->errors);
		log_warnx_rl("tail %s: saving position: %s", f->path, rn_strerror(rc));
		return;
	}
	rn_counter_inc(&t->ctr->saves);
	f->dirty = false;
}

/* The first open: resume from the saved position when it still applies. */
static void file_first_open(struct tailer *t, struct tfile *f)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	uint64_t dev, ino, off;
	unsigned fp_len, fp_crc;
	int skip;
	bool have = false;

	if (rn_file_read(f->state_path, 512, &buf, &len) == RN_OK) {
		char s[512];
		memcpy(s, buf, len < sizeof(s) - 1 ? len : sizeof(s) - 1);
		s[len < sizeof(s) - 1 ? len : sizeof(s) - 1] = '\0';
		have = sscanf(s, "v1 %" SCNu64 " %" SCNu64 " %" SCNu64 " %u %u %d", &dev, &ino,
		              &off, &fp_len, &fp_crc, &skip) == 6 &&
		       fp_len <= FP_MAX;
		free(buf);
	}
	if (!file_open_at(t, f, !have && !t->start_beginning))
		return;
	if (!have)
		return;
	struct stat st;
	uint32_t crc;
	bool same_inode = f->dev == (dev_t)dev && f->ino == (ino_t)ino;
	if (same_inode && fstat(f->fd, &st) == 0 && (uint64_t)st.st_size >= off &&
	    (fp_len == 0 || (fingerprint(f->fd, fp_len, &crc) && crc == fp_crc))) {
		f->off = off;
		f->fp_len = fp_len;
		f->fp_crc = fp_crc;
		f->lb.skipping = skip != 0;
		return;
	}
	/* Rotated or truncated while we were down: finish the old copy first. */
	f->fp_len = fp_len;
	f->fp_crc = fp_crc;
	recover_rotated(t, f, off, !same_inode, (ino_t)ino);
	if (same_inode)
		rn_counter_inc(&t->ctr->truncations);
	else
		rn_counter_inc(&t->ctr->rotations);
	f->off = 0;
	f->fp_len = 0;
	fp_update(f);
}

static void file_service(struct tailer *t, struct tfile *f, bool final)
{
	struct stat st, pst;

	if (f->fd < 0) {
		/* Not there yet (or gone): a file that appears is read from its start. */
		if (!file_open_at(t, f, false))
			return;
	}
	read_to_end(t, f, f->fd, &f->off);
	fp_update(f);
	if (final)
		return;

	/* Truncated in place? */
	if (fstat(f->fd, &st) == 0) {
		uint32_t crc;
		bool shrunk = (uint64_t)st.st_size < f->off;
		bool rewritten = !shrunk && f->fp_len > 0 &&
		                 (!fingerprint(f->fd, f->fp_len, &crc) || crc != f->fp_crc);
		if (shrunk || rewritten) {
			rn_counter_inc(&t->ctr->truncations);
			recover_rotated(t, f, f->off, false, 0);
			f->lb.len = 0;
			f->lb.skipping = false;
			f->off = 0;
			f->fp_len = 0;
			f->dirty = true;
			read_to_end(t, f, f->fd, &f->off);
			fp_update(f);
		}
	}

	/* Renamed away, with or without a new file at the path? */
	int src = stat(f->path, &pst);
	if (src == 0 && pst.st_dev == f->dev && pst.st_ino == f->ino) {
		f->rotated_seen = 0;
		return;
	}
	int64_t now = rn_time_mono_ms();
	if (f->rotated_seen == 0)
		f->rotated_seen = now;
	int64_t grace = t->poll_ms * 2 > 2000 ? t->poll_ms * 2 : 2000;
	bool new_has_data = src == 0 && pst.st_size > 0;
	if (src != 0 || (!new_has_data && now - f->rotated_seen < grace))
		return;
	/* The writer has moved on: finish the old file, then follow the new one. */
	read_to_end(t, f, f->fd, &f->off);
	(void)linebuf_finish(&f->lb, smtp_pipe_line, t->pipe);
	file_close(t, f);
	rn_counter_inc(&t->ctr->rotations);
	if (file_open_at(t, f, false))
		read_to_end(t, f, f->fd, &f->off);
}

static void *tail_main(void *arg)
{
	struct tailer *t = arg;
	uint8_t evbuf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	for (size_t i = 0; i < t->n; i++)
		file_first_open(t, &t->files[i]);
	t->last_save = rn_time_mono_ms();
	for (;;) {
		struct pollfd pfd[2] = {{.fd = t->stop_fd, .events = POLLIN},
		                        {.fd = t->ino_fd, .events = POLLIN}};
		int n = poll(pfd, t->ino_fd >= 0 ? 2 : 1, (int)t->poll_ms);
		if (n < 0 && errno != EINTR) {
			rn_counter_inc(&t->ctr->errors);
			break;
		}
		bool stop = n > 0 && (pfd[0].revents & POLLIN) != 0;
		if (t->ino_fd >= 0 && n > 0 && (pfd[1].revents & POLLIN) != 0) {
			while (read(t->ino_fd, evbuf, sizeof(evbuf)) > 0)
				;
		}
		for (size_t i = 0; i < t->n; i++)
			file_service(t, &t->files[i], stop);
		smtp_pipe_flush(t->pipe);
		if (stop)
			break;
		int64_t now = rn_time_mono_ms();
		if (now - t->last_save >= t->save_ms) {
			for (size_t i = 0; i < t->n; i++)
				state_save(t, &t->files[i]);
			t->last_save = now;
		}
	}
	smtp_pipe_flush(t->pipe);
	for (size_t i = 0; i < t->n; i++)
		state_save(t, &t->files[i]);
	return NULL;
}

static void dir_of(const char *path, char *dir, size_t len)
{
	const char *slash = strrchr(path, '/');
	if (slash == NULL) {
		snprintf(dir, len, ".");
	} else if (slash == path) {
		snprintf(dir, len, "/");
	} else {
		snprintf(dir, len, "%.*s", (int)(slash - path), path);
	}
}

int tailer_start(struct tailer **out, const struct rn_strlist *paths, const char *state_dir,
                 bool start_beginning, int64_t poll_ms, int64_t save_ms, struct smtp_pipe *pipe,
                 struct tail_counters *ctr)
{
	struct tailer *t = calloc(1, sizeof(*t));
	int rc = -ENOMEM;
	if (t == NULL)
		return -ENOMEM;
	t->ino_fd = -1;
	t->stop_fd = -1;
	t->files = calloc(paths->n, sizeof(*t->files));
	if (t->files == NULL)
		goto fail;
	t->start_beginning = start_beginning;
	t->poll_ms = poll_ms;
	t->save_ms = save_ms;
	t->pipe = pipe;
	t->ctr = ctr;
	t->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->stop_fd < 0) {
		rc = -errno;
		goto fail;
	}
	t->ino_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	for (size_t i = 0; i < paths->n; i++) {
		struct tfile *f = &t->files[t->n];
		f->fd = -1;
		f->path = strdup(paths->v[i]);
		if (f->path == NULL)
			goto fail;
		t->n++;
		uint32_t h = rn_crc32c(0, f->path, strlen(f->path));
		if (snprintf(f->state_path, sizeof(f->state_path), "%s/tail-%08x.pos", state_dir,
		             h) >= (int)sizeof(f->state_path)) {
			rc = RN_ELIMIT;
			goto fail;
		}
		rc = linebuf_init(&f->lb, (size_t)pipe->conf->max_line);
		if (rc != RN_OK)
			goto fail;
		char dir[PATH_MAX];
		dir_of(f->path, dir, sizeof(dir));
		if (t->ino_fd >= 0 &&
		    inotify_add_watch(t->ino_fd, dir,
		                      IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM |
		                              IN_DELETE | IN_CLOSE_WRITE | IN_ATTRIB) < 0)
			log_warn("tail %s: inotify on %s; polling every %lld ms", f->path, dir,
			         (long long)poll_ms);
	}
	rc = -pthread_create(&t->thread, NULL, tail_main, t);
	if (rc != 0)
		goto fail;
	t->started = true;
	*out = t;
	return RN_OK;
fail:
	tailer_stop(t);
	return rc;
}

void tailer_stop(struct tailer *t)
{
	if (t == NULL)
		return;
	if (t->started) {
		uint64_t one = 1;
		if (write(t->stop_fd, &one, sizeof(one)) < 0)
			log_warn("tail: waking the thread");
		pthread_join(t->thread, NULL);
	}
	for (size_t i = 0; i < t->n; i++) {
		file_close(t, &t->files[i]);
		linebuf_release(&t->files[i].lb);
		free(t->files[i].path);
	}
	free(t->files);
	if (t->ino_fd >= 0)
		close(t->ino_fd);
	if (t->stop_fd >= 0)
		close(t->stop_fd);
	free(t);
}
