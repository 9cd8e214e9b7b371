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
 *     resumes there when the file has the same inode and fingerprint.
 *   - Rotated while repnet was down: the saved file is looked for among
 *     the names in its directory that start with the file's name and a
 *     '.' or '-' (numbered, dated, compressed): first plain ones by inode
 *     or fingerprint, then ".gz", ".xz" and ".zst" ones by the fingerprint
 *     of their decompressed start, read through gzip, xz or zstd -dc in a
 *     child process (posix_spawn, a pipe, bounded at 64 times the
 *     compressed size plus 64 MiB). The first match is read past the
 *     saved offset, then the new file from its start. A crash re-reads at
 *     most one save interval of lines; a clean stop none.
 *   - Each file has its own bounded line buffer; lines go to the shared
 *     pipe of this thread.
 *   - A file that cannot be opened (absent, unreadable, not a regular
 *     file) is warned about when that is first seen, at start or when it
 *     goes away, and again every MISSING_WARN_MS while it stays so; it
 *     counts in the files_missing gauge until it opens, which is logged.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "collector/tail.h"

#define FP_MAX          256
#define READ_CHUNK      65536
#define MISSING_WARN_MS 60000

struct tfile {
	char *path;
	char state_path[PATH_MAX];
	char state_key[32]; /* the name of state_path in state_dir */
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
	const struct collector_sink *sk = &t->pipe->sink;
	if (sk->hold != NULL)
		sk->hold(sk->arg, f->state_key);
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

/*
 * Hands the sink a position: the observations emitted so far carry the
 * lines up to off of the file (dev, ino) whose first fp_len bytes have
 * CRC32C fp_crc. The format of the position file (v1).
 */
static void mark_at(struct tailer *t, struct tfile *f, uint64_t dev, uint64_t ino, uint64_t off,
                    uint32_t fp_len, uint32_t fp_crc, bool skipping)
{
	char buf[128];
	int n = snprintf(buf, sizeof(buf), "v1 %" PRIu64 " %" PRIu64 " %" PRIu64 " %u %u %d\n", dev,
	                 ino, off, fp_len, fp_crc, skipping ? 1 : 0);
	if (n > 0 && (size_t)n < sizeof(buf))
		t->pipe->sink.mark(t->pipe->sink.arg, f->state_key, (const uint8_t *)buf,
		                   (size_t)n);
}

/* With a sink that gates positions: everything read so far, flushed and marked. */
static void flush_mark(struct tailer *t, struct tfile *f)
{
	if (t->pipe->sink.mark == NULL)
		return;
	smtp_pipe_flush(t->pipe);
	if (f->fd >= 0)
		fp_update(f);
	mark_at(t, f, (uint64_t)f->dev, (uint64_t)f->ino, committed(f), f->fp_len, f->fp_crc,
	        f->lb.skipping);
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
		if (off == &f->off)
			flush_mark(t, f);
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
	if (t->pipe->sink.mark != NULL) {
		/* Saved by the sink once the observations of these lines are acknowledged. */
		t->pipe->sink.mark(t->pipe->sink.arg, f->state_key, (const uint8_t *)buf,
		                   (size_t)n);
		rn_counter_inc(&t->ctr->saves);
		f->dirty = false;
		return;
	}
	int rc = rn_file_replace(f->state_path, buf, (size_t)n, 0640);
	if (rc != RN_OK) {
		rn_counter_inc(&t->ctr->errors);
		log_warnx_rl("tail %s: saving position: %s", f->path, rn_strerror(rc));
		return;
	}
	rn_counter_inc(&t->ctr->saves);
	f->dirty = false;
}

/* ---- rotated while stopped ------------------------------------------ */

enum { RC_PLAIN, RC_GZIP, RC_XZ, RC_ZSTD };

/* Decompressor argv by suffix, or RC_PLAIN. */
static int rotated_kind(const char *name)
{
	size_t n = strlen(name);
	if (n > 3 && strcmp(name + n - 3, ".gz") == 0)
		return RC_GZIP;
	if (n > 3 && strcmp(name + n - 3, ".xz") == 0)
		return RC_XZ;
	if (n > 4 && strcmp(name + n - 4, ".zst") == 0)
		return RC_ZSTD;
	return RC_PLAIN;
}

/*
 * A reader of one rotated copy: the file itself, or the standard output of
 * gzip, xz or zstd decompressing it (a child process, ended by
 * rotated_close). Reads are bounded by max bytes of decompressed data.
 */
struct rotated {
	int fd;
	pid_t pid;
	uint64_t got, max;
};

static int rotated_open(struct rotated *r, const char *path, int kind, uint64_t size)
{
	static const char *const tools[] = {NULL, "gzip", "xz", "zstd"};
	r->fd = -1;
	r->pid = -1;
	r->got = 0;
	int in = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (in < 0)
		return -errno;
	if (kind == RC_PLAIN) {
		r->fd = in;
		r->max = UINT64_MAX;
		return RN_OK;
	}
	/* A rotated log compresses well, but not without bound. */
	r->max = size * 64 + (64u << 20);
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0) {
		int rc = -errno;
		close(in);
		return rc;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	char *argv[] = {(char *)tools[kind], (char *)"-dc", NULL};
	extern char **environ;
	int rc = posix_spawnp(&r->pid, tools[kind], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(in);
	close(p[1]);
	if (rc != 0) {
		close(p[0]);
		r->pid = -1;
		return -rc;
	}
	r->fd = p[0];
	return RN_OK;
}

static ssize_t rotated_read(struct rotated *r, uint8_t *buf, size_t len)
{
	if (r->got >= r->max)
		return 0;
	if (len > r->max - r->got)
		len = (size_t)(r->max - r->got);
	for (;;) {
		ssize_t n = read(r->fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0)
			r->got += (uint64_t)n;
		return n;
	}
}

/* Reads exactly len bytes unless the stream ends first; returns what was read. */
static size_t rotated_read_full(struct rotated *r, uint8_t *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = rotated_read(r, buf + got, len - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

static void rotated_close(struct rotated *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	if (r->pid > 0) {
		int st;
		kill(r->pid, SIGTERM);
		while (waitpid(r->pid, &st, 0) < 0 && errno == EINTR)
			;
	}
	r->pid = -1;
}

/*
 * Whether a rotated copy is the file we were reading: the same inode (a
 * plain rename), or the same first fp_len bytes (a copy, or a compressed
 * rename). On a match r is open and positioned just past the fingerprint.
 */
static bool rotated_match(struct tailer *t, const char *path, int kind, const struct stat *st,
                          dev_t dev, ino_t ino, bool by_inode, uint32_t fp_len, uint32_t fp_crc,
                          uint64_t off, struct rotated *r)
{
	if (kind == RC_PLAIN && by_inode && st->st_dev == dev && st->st_ino == ino)
		return rotated_open(r, path, kind, (uint64_t)st->st_size) == RN_OK;
	if (fp_len == 0 || (kind == RC_PLAIN && (uint64_t)st->st_size < off))
		return false;
	if (rotated_open(r, path, kind, (uint64_t)st->st_size) != RN_OK) {
		rn_counter_inc(&t->ctr->errors);
		log_warnx_rl("tail: cannot read rotated copy %s", path);
		return false;
	}
	uint8_t b[FP_MAX];
	if (rotated_read_full(r, b, fp_len) == fp_len && rn_crc32c(0, b, fp_len) == fp_crc)
		return true;
	rotated_close(r);
	return false;
}

#define ROTATED_SCAN_MAX  4096 /* directory entries looked at, at most */
#define ROTATED_NEWER_MAX 64   /* copies rotated after the one resumed in, read at most */

/*
 * Feeds an open rotated copy from stream position pos to its end, skipping
 * what lies before off, and closes it. With a sink that gates positions,
 * marks after each chunk where it is, as a position in the copy (dev, ino,
 * and the fingerprint of its first fp_len bytes), so that a stop half-way
 * resumes inside it. False on a read error or when the decompressed stream
 * reached its bound.
 */
static bool copy_feed(struct tailer *t, struct tfile *f, struct rotated *r, uint64_t pos,
                      uint64_t off, dev_t dev, ino_t ino, uint32_t fp_len, uint32_t fp_crc)
{
	bool ok = true;
	for (;;) {
		ssize_t n = rotated_read(r, t->chunk, sizeof(t->chunk));
		if (n < 0) {
			ok = false;
			break;
		}
		if (n == 0)
			break;
		size_t skip = 0;
		if (pos < off) {
			uint64_t want = off - pos;
			skip = want < (uint64_t)n ? (size_t)want : (size_t)n;
		}
		pos += (uint64_t)n;
		if ((size_t)n > skip)
			file_feed(t, f, t->chunk + skip, (size_t)n - skip);
		if (t->pipe->sink.mark != NULL && pos > off) {
			smtp_pipe_flush(t->pipe);
			mark_at(t, f, (uint64_t)dev, (uint64_t)ino, pos - f->lb.len, fp_len, fp_crc,
			        f->lb.skipping);
		}
	}
	if (r->max != UINT64_MAX && r->got >= r->max)
		ok = false;
	rotated_close(r);
	(void)linebuf_finish(&f->lb, smtp_pipe_line, t->pipe);
	return ok;
}

/* A rotated copy newer than the one resumed in. */
struct rnewer {
	char name[NAME_MAX + 1];
	struct timespec mt;
	int kind;
	uint64_t size;
	dev_t dev;
	ino_t ino;
};

static int rnewer_cmp(const void *a, const void *b)
{
	const struct rnewer *x = a, *y = b;
	if (x->mt.tv_sec != y->mt.tv_sec)
		return x->mt.tv_sec < y->mt.tv_sec ? -1 : 1;
	if (x->mt.tv_nsec != y->mt.tv_nsec)
		return x->mt.tv_nsec < y->mt.tv_nsec ? -1 : 1;
	return strcmp(x->name, y->name);
}

static bool ts_after(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec > b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec > b->tv_nsec);
}

/*
 * Reads one rotated copy whole, marking positions in it as the copy's own
 * (its device, inode and the fingerprint of its first bytes), so that a
 * stop half-way resumes inside it. Returns the lines read, or -1.
 */
static int64_t read_whole_copy(struct tailer *t, struct tfile *f, const char *path,
                               const struct rnewer *c)
{
	struct rotated r = {.fd = -1, .pid = -1};
	if (rotated_open(&r, path, c->kind, c->size) != RN_OK)
		return -1;
	/* Its fingerprint: its first bytes, fed like the rest. */
	uint8_t b[FP_MAX];
	size_t got = rotated_read_full(&r, b, sizeof(b));
	uint32_t fp_len = (uint32_t)got, fp_crc = rn_crc32c(0, b, got);
	uint64_t before = rn_counter_get(&t->pipe->ctr->lines);
	file_feed(t, f, b, got);
	bool ok = copy_feed(t, f, &r, got, 0, c->dev, c->ino, fp_len, fp_crc);
	uint64_t lines = rn_counter_get(&t->pipe->ctr->lines) - before;
	rn_counter_add(&t->ctr->rotated_reads, lines);
	return ok ? (int64_t)lines : -1;
}

/*
 * The file was rotated more than once while we were stopped: the copies
 * rotated after the one we resumed in (modified after it) hold lines the
 * current file does not. They are read whole, oldest first (modification
 * time, then name), before the current file.
 */
static void read_newer_copies(struct tailer *t, struct tfile *f, const char *dir, const char *base,
                              size_t blen, const char *resumed, const struct timespec *resumed_mt)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return;
	struct rnewer *v = calloc(ROTATED_NEWER_MAX, sizeof(*v));
	size_t n = 0;
	struct dirent *de;
	char path[PATH_MAX];
	for (int i = 0; v != NULL && i < ROTATED_SCAN_MAX && (de = readdir(d)) != NULL; i++) {
		const char *nm = de->d_name;
		if (strncmp(nm, base, blen) != 0 || (nm[blen] != '.' && nm[blen] != '-') ||
		    nm[blen + 1] == '\0' || strcmp(nm, resumed) == 0)
			continue;
		struct stat st;
		if (snprintf(path, sizeof(path), "%s/%s", dir, nm) >= (int)sizeof(path) ||
		    stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
		    !ts_after(&st.st_mtim, resumed_mt))
			continue;
		if (n == ROTATED_NEWER_MAX) {
			log_warnx(
			        "tail %s: more than %d copies rotated while stopped; the rest are "
			        "not read",
			        f->path, ROTATED_NEWER_MAX);
			break;
		}
		snprintf(v[n].name, sizeof(v[n].name), "%s", nm);
		v[n].mt = st.st_mtim;
		v[n].kind = rotated_kind(nm);
		v[n].size = (uint64_t)st.st_size;
		v[n].dev = st.st_dev;
		v[n].ino = st.st_ino;
		n++;
	}
	closedir(d);
	if (v == NULL)
		return;
	qsort(v, n, sizeof(*v), rnewer_cmp);
	for (size_t i = 0; i < n; i++) {
		if (snprintf(path, sizeof(path), "%s/%s", dir, v[i].name) >= (int)sizeof(path))
			continue; /* cannot happen: the same path was stat()ed above */
		int64_t lines = read_whole_copy(t, f, path, &v[i]);
		if (lines < 0) {
			rn_counter_inc(&t->ctr->errors);
			log_warnx(
			        "tail %s: reading the rotated copy %s failed or exceeded its bound",
			        f->path, path);
			continue;
		}
		log_notice("tail %s: rotated again while stopped: read %" PRId64 " line(s) from %s",
		           f->path, lines, path);
	}
	free(v);
}

/*
 * The file we were reading when we stopped was rotated (or copied and
 * truncated) meanwhile: find it among the rotated names in its directory
 * (PATH.1, PATH.2.gz, PATH-20261205, PATH.20261205-123456.xz, ...), by
 * inode or content, and read its lines past off. Returns whether found.
 */
static bool recover_rotated_any(struct tailer *t, struct tfile *f, uint64_t off, bool by_inode,
                                dev_t dev, ino_t ino)
{
	char dir[PATH_MAX], path[PATH_MAX];
	const char *slash = strrchr(f->path, '/');
	const char *base = slash != NULL ? slash + 1 : f->path;
	size_t blen = strlen(base);
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == f->path ? 1 : (int)(slash - f->path),
		         f->path);
	DIR *d = opendir(dir);
	if (d == NULL)
		return false;
	struct rotated r = {.fd = -1, .pid = -1};
	bool found = false;
	char found_name[NAME_MAX + 1] = "";
	struct timespec found_mt = {0, 0};
	/* Plain copies first (cheap), then compressed ones. */
	for (int pass = 0; pass < 2 && !found; pass++) {
		rewinddir(d);
		struct dirent *de;
		for (int i = 0; i < ROTATED_SCAN_MAX && !found && (de = readdir(d)) != NULL; i++) {
			const char *nm = de->d_name;
			if (strncmp(nm, base, blen) != 0 || (nm[blen] != '.' && nm[blen] != '-') ||
			    nm[blen + 1] == '\0')
				continue;
			int kind = rotated_kind(nm);
			if ((kind == RC_PLAIN) != (pass == 0))
				continue;
			struct stat st;
			if (snprintf(path, sizeof(path), "%s/%s", dir, nm) >= (int)sizeof(path) ||
			    stat(path, &st) != 0 || !S_ISREG(st.st_mode))
				continue;
			found = rotated_match(t, path, kind, &st, dev, ino, by_inode, f->fp_len,
			                      f->fp_crc, off, &r);
			if (found) {
				snprintf(found_name, sizeof(found_name), "%s", nm);
				found_mt = st.st_mtim;
			}
		}
	}
	closedir(d);
	if (!found)
		return false;
	/* Skip to off (past the fingerprint already read), then read the rest. */
	uint64_t pos = r.pid > 0 ? f->fp_len : 0;
	if (r.pid < 0) {
		if (lseek(r.fd, (off_t)off, SEEK_SET) < 0) {
			rotated_close(&r);
			return false;
		}
		pos = off;
	}
	uint64_t before = rn_counter_get(&t->pipe->ctr->lines);
	/* Positions in it are the copy's own: the saved identity and fingerprint. */
	bool ok = copy_feed(t, f, &r, pos, off, dev, ino, f->fp_len, f->fp_crc);
	uint64_t lines = rn_counter_get(&t->pipe->ctr->lines) - before;
	rn_counter_add(&t->ctr->rotated_reads, lines);
	if (!ok) {
		rn_counter_inc(&t->ctr->errors);
		log_warnx("tail %s: reading the rotated copy %s/%s failed or exceeded its bound",
		          f->path, dir, found_name);
	}
	log_notice("tail %s: rotated while stopped: read %" PRIu64 " line(s) from %s/%s past "
	           "offset %" PRIu64,
	           f->path, lines, dir, found_name, off);
	read_newer_copies(t, f, dir, base, blen, found_name, &found_mt);
	return true;
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

	uint8_t pend[COLLECTOR_POS_MAX];
	size_t plen = 0;
	const struct collector_sink *sk = &t->pipe->sink;
	if (sk->pending != NULL &&
	    sk->pending(sk->arg, f->state_key, pend, sizeof(pend), &plen) == RN_OK) {
		/* Newer than the file: its lines' observations are in the sink's spill. */
		buf = malloc(plen ? plen : 1);
		if (buf != NULL) {
			memcpy(buf, pend, plen);
			len = plen;
		}
	}
	if (buf != NULL || rn_file_read(f->state_path, 512, &buf, &len) == RN_OK) {
		char s[512];
		memcpy(s, buf, len < sizeof(s) - 1 ? len : sizeof(s) - 1);
		s[len < sizeof(s) - 1 ? len : sizeof(s) - 1] = '\0';
		have = sscanf(s, "v1 %" SCNu64 " %" SCNu64 " %" SCNu64 " %u %u %d", &dev, &ino,
		              &off, &fp_len, &fp_crc, &skip) == 6 &&
		       fp_len <= FP_MAX;
		free(buf);
	}
	bool opened = file_open_at(t, f, !have && !t->start_beginning);
	if (!have)
		return;
	struct stat st;
	uint32_t crc;
	bool same_inode = opened && f->dev == (dev_t)dev && f->ino == (ino_t)ino;
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
	f->lb.skipping = skip != 0;
	if (!recover_rotated_any(t, f, off, !same_inode, (dev_t)dev, (ino_t)ino))
		log_warnx("tail %s: changed while stopped and no rotated copy matches the saved "
		          "position; reading the file from its start",
		          f->path);
	f->lb.len = 0;
	f->lb.skipping = false;
	if (same_inode)
		rn_counter_inc(&t->ctr->truncations);
	else
		rn_counter_inc(&t->ctr->rotations);
	f->off = 0;
	f->fp_len = 0;
	f->dirty = true;
	if (opened)
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
		snprintf(f->state_key, sizeof(f->state_key), "tail-%08x.pos", h);
		if (snprintf(f->state_path, sizeof(f->state_path), "%s/%s", state_dir,
		             f->state_key) >= (int)sizeof(f->state_path)) {
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
