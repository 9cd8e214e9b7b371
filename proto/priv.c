/*
 * priv.c: becoming an unprivileged user: the user database, the data
 * directory's owner, credentials and capabilities, and the check that
 * they took.
 *
 * Design notes.
 *
 * Threads. Credentials are per thread in Linux. glibc applies setgroups,
 * setresgid and setresuid to every thread of the process (it signals
 * each one and waits), but capset(2) and prctl(2) act on the calling
 * thread only. So repnetd's drop is in two halves:
 *
 *   rn_priv_prepare(), while the process still has one thread: groups
 *   and gid, the bounding set emptied, the inheritable and ambient sets
 *   cleared, no_new_privs set, and the file system uid set to the user.
 *   Every thread created afterwards inherits all of that. The effective
 *   and permitted sets stay, for ports below 1024 while the roles start.
 *
 *   rn_priv_finish(), once every socket is open: setresuid() to the user,
 *   which glibc runs in every thread; a thread whose uids all leave 0 has
 *   its permitted, effective and ambient sets cleared by the kernel
 *   (capabilities(7), "Effect of user ID changes on capabilities"). Then
 *   every thread listed in /proc/self/task is checked: uids, gids, the
 *   four sets empty, no_new_privs on. A thread that escaped would show
 *   there, and the caller makes that fatal.
 *
 * The file system uid. From rn_priv_prepare() on, the kernel checks every
 * file the process opens or creates as the user (the fsuid is what it
 * checks; setting it to a non-zero uid also takes the file capabilities,
 * CAP_DAC_OVERRIDE and the like, out of the effective set). So a file the
 * user cannot read or a directory it cannot write fails at start, with
 * the file's name in the message, and not hours later when a rotated log
 * is reopened or a snapshot is written; and every file made at start is
 * the user's.
 *
 * The launcher (rn_priv_become) is single-threaded and keeps a few
 * capabilities: with PR_SET_KEEPCAPS its permitted set survives the uid
 * change, and the kept ones are raised in the inheritable and ambient
 * sets, so that a helper it executes (not set-uid, no file capabilities)
 * starts with exactly those (ambient capabilities survive execve(2) and
 * no_new_privs).
 *
 * The data directory (rn_priv_chown_tree) belongs to the user, as
 * systemd's StateDirectory= makes it: whatever in it is not the user's
 * is given to it, so that a directory an older version wrote as root
 * keeps working. The user may have written in it before, so nothing in it
 * is trusted: directories are entered through O_NOFOLLOW descriptors,
 * every entry is opened (O_PATH | O_NOFOLLOW) and changed through its
 * descriptor, never by name twice, symbolic links themselves are given
 * to the user and never followed, and a file with more than one name is
 * left alone (it may be a link to a file elsewhere).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "proto/proto.h"

#define CHOWN_DEPTH 16

int rn_priv_user_lookup(const char *name, struct rn_priv_user *u)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	memset(u, 0, sizeof(*u));
	if (name == NULL || name[0] == '\0' || strlen(name) >= sizeof(u->name))
		return RN_ECONF;
	int e = getpwnam_r(name, &pw, buf, sizeof(buf), &res);
	if (e != 0)
		return -e;
	if (res == NULL)
		return RN_ENOTFOUND;
	snprintf(u->name, sizeof(u->name), "%s", name);
	u->uid = pw.pw_uid;
	u->gid = pw.pw_gid;
	return RN_OK;
}

/* ---- capabilities ------------------------------------------------------------ */

struct capsets {
	uint64_t eff, prm, inh;
};

static int caps_get(struct capsets *c)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &hdr, d) != 0)
		return -errno;
	c->eff = (uint64_t)d[1].effective << 32 | d[0].effective;
	c->prm = (uint64_t)d[1].permitted << 32 | d[0].permitted;
	c->inh = (uint64_t)d[1].inheritable << 32 | d[0].inheritable;
	return RN_OK;
}

static int caps_set(const struct capsets *c)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2] = {
	        {.effective = (uint32_t)c->eff,
	         .permitted = (uint32_t)c->prm,
	         .inheritable = (uint32_t)c->inh},
	        {.effective = (uint32_t)(c->eff >> 32),
	         .permitted = (uint32_t)(c->prm >> 32),
	         .inheritable = (uint32_t)(c->inh >> 32)},
	};
	return syscall(SYS_capset, &hdr, d) == 0 ? RN_OK : -errno;
}

/* Drops every capability but keep from the bounding set (needs CAP_SETPCAP). */
static int bounding_keep(uint64_t keep)
{
	for (int c = 0; c <= 63; c++) {
		int r = prctl(PR_CAPBSET_READ, c, 0, 0, 0);
		if (r < 0)
			break; /* past the last capability this kernel knows */
		if (r == 1 && !(keep & RN_CAP(c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0)
			return -errno;
	}
	return RN_OK;
}

/* ---- repnetd: the two halves --------------------------------------------------- */

/* The number of threads of this process (0 when /proc cannot tell). */
static size_t thread_count(void)
{
	DIR *d = opendir("/proc/self/task");
	size_t n = 0;
	struct dirent *de;
	while (d != NULL && (de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	if (d != NULL)
		closedir(d);
	return n;
}

int rn_priv_prepare(const struct rn_priv_user *u, char *msg, size_t len)
{
	int rc;
	/* What is set here is per thread: a second thread would keep all of it. */
	size_t threads = thread_count();
	if (threads != 1) {
		snprintf(msg, len,
		         "the process has %zu threads, not 1: they would keep every "
		         "capability",
		         threads);
		return RN_EINTERNAL;
	}
	if (initgroups(u->name, u->gid) != 0) {
		rc = -errno;
		snprintf(msg, len, "initgroups(%s): %s", u->name, strerror(errno));
		return rc;
	}
	if (setresgid(u->gid, u->gid, u->gid) != 0) {
		rc = -errno;
		snprintf(msg, len, "setresgid(%u): %s", (unsigned)u->gid, strerror(errno));
		return rc;
	}
	if ((rc = bounding_keep(0)) != RN_OK) {
		snprintf(msg, len, "emptying the bounding set: %s", rn_strerror(rc));
		return rc;
	}
	struct capsets c;
	if ((rc = caps_get(&c)) != RN_OK) {
		snprintf(msg, len, "capget: %s", rn_strerror(rc));
		return rc;
	}
	c.inh = 0; /* the ambient set goes with it: it must stay within P and I */
	if ((rc = caps_set(&c)) != RN_OK) {
		snprintf(msg, len, "capset: %s", rn_strerror(rc));
		return rc;
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		rc = -errno;
		snprintf(msg, len, "prctl: %s", strerror(errno));
		return rc;
	}
	/* setfsuid() reports the previous value, never an error: check it took. */
	(void)setfsuid(u->uid);
	if ((uid_t)setfsuid((uid_t)-1) != u->uid) {
		snprintf(msg, len, "setfsuid(%u) did not take", (unsigned)u->uid);
		return -EPERM;
	}
	return RN_OK;
}

/* One "Name:\tvalue..." line of a status file. */
static const char *status_field(const char *text, const char *name)
{
	size_t nl = strlen(name);
	for (const char *p = text; p != NULL && *p != '\0';) {
		if (strncmp(p, name, nl) == 0 && p[nl] == ':')
			return p + nl + 1;
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return NULL;
}

/* The four ids of a "Uid:" or "Gid:" line (real, effective, saved, file system) all equal want. */
static int check_ids(const char *tid, const char *text, const char *name, unsigned want, char *msg,
                     size_t len)
{
	unsigned long v[4];
	const char *f = status_field(text, name);
	if (f == NULL || sscanf(f, "%lu %lu %lu %lu", &v[0], &v[1], &v[2], &v[3]) != 4) {
		snprintf(msg, len, "thread %s: no %s line", tid, name);
		return RN_EPARSE;
	}
	for (int i = 0; i < 4; i++)
		if (v[i] != want) {
			snprintf(msg, len, "thread %s: %s %lu, not %u", tid, name, v[i], want);
			return -EPERM;
		}
	return RN_OK;
}

/* Checks one thread's status text against uid, gid and the capabilities in keep. */
static int check_status(const char *tid, const char *text, uid_t uid, gid_t gid, uint64_t keep,
                        char *msg, size_t len)
{
	const char *f;
	int rc = check_ids(tid, text, "Uid", uid, msg, len);
	if (rc == RN_OK)
		rc = check_ids(tid, text, "Gid", gid, msg, len);
	if (rc != RN_OK)
		return rc;
	static const char *const sets[] = {"CapInh", "CapPrm", "CapEff", "CapAmb"};
	for (size_t i = 0; i < RN_ARRAY_LEN(sets); i++) {
		unsigned long long c;
		f = status_field(text, sets[i]);
		if (f == NULL || sscanf(f, "%llx", &c) != 1) {
			snprintf(msg, len, "thread %s: no %s line", tid, sets[i]);
			return RN_EPARSE;
		}
		if (c != keep) {
			snprintf(msg, len, "thread %s: %s is %016llx, not %016" PRIx64, tid,
			         sets[i], c, keep);
			return -EPERM;
		}
	}
	f = status_field(text, "NoNewPrivs");
	if (f == NULL || atoi(f) != 1) {
		snprintf(msg, len, "thread %s: no_new_privs is not set", tid);
		return -EPERM;
	}
	return RN_OK;
}

int rn_priv_check(uid_t uid, gid_t gid, uint64_t keep, char *msg, size_t len)
{
	DIR *d = opendir("/proc/self/task");
	if (d == NULL) {
		int rc = -errno;
		snprintf(msg, len, "/proc/self/task: %s", strerror(errno));
		return rc;
	}
	int rc = RN_OK;
	size_t n = 0;
	struct dirent *de;
	while (rc == RN_OK && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char path[300], text[4096];
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", de->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT)
				continue; /* the thread exited meanwhile */
			rc = -errno;
			snprintf(msg, len, "%s: %s", path, strerror(errno));
			break;
		}
		ssize_t got = read(fd, text, sizeof(text) - 1);
		close(fd);
		if (got <= 0) {
			rc = RN_EPARSE;
			snprintf(msg, len, "%s: cannot read it", path);
			break;
		}
		text[got] = '\0';
		rc = check_status(de->d_name, text, uid, gid, keep, msg, len);
		n++;
	}
	closedir(d);
	if (rc == RN_OK && n == 0) {
		snprintf(msg, len, "/proc/self/task lists no thread");
		rc = RN_EINTERNAL;
	}
	return rc;
}

int rn_priv_finish(const struct rn_priv_user *u, char *msg, size_t len)
{
	/* glibc runs this in every thread, and fails if any thread fails. */
	if (setresuid(u->uid, u->uid, u->uid) != 0) {
		int rc = -errno;
		snprintf(msg, len, "setresuid(%u): %s", (unsigned)u->uid, strerror(errno));
		return rc;
	}
	return rn_priv_check(u->uid, u->gid, 0, msg, len);
}

/* ---- the launcher: one thread, some capabilities kept ---------------------------- */

int rn_priv_become(const struct rn_priv_user *u, uint64_t keep, char *msg, size_t len)
{
	int rc;
	gid_t g = u->gid;
	if ((rc = bounding_keep(keep)) != RN_OK) {
		snprintf(msg, len, "bounding set: %s", rn_strerror(rc));
		return rc;
	}
	if (setgroups(1, &g) != 0 || setresgid(g, g, g) != 0) {
		rc = -errno;
		snprintf(msg, len, "setgroups/setresgid(%u): %s", (unsigned)g, strerror(errno));
		return rc;
	}
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0 || setresuid(u->uid, u->uid, u->uid) != 0) {
		rc = -errno;
		snprintf(msg, len, "setresuid(%u): %s", (unsigned)u->uid, strerror(errno));
		return rc;
	}
	struct capsets c = {.eff = keep, .prm = keep, .inh = keep};
	if ((rc = caps_set(&c)) != RN_OK) {
		snprintf(msg, len, "capset: %s", rn_strerror(rc));
		return rc;
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) {
		rc = -errno;
		snprintf(msg, len, "clearing the ambient set: %s", strerror(errno));
		return rc;
	}
	for (int i = 0; i <= 63; i++)
		if ((keep & RN_CAP(i)) &&
		    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, i, 0, 0) != 0) {
			rc = -errno;
			snprintf(msg, len, "raising capability %d in the ambient set: %s", i,
			         strerror(errno));
			return rc;
		}
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		rc = -errno;
		snprintf(msg, len, "prctl: %s", strerror(errno));
		return rc;
	}
	return rn_priv_check(u->uid, u->gid, keep, msg, len);
}

/* ---- the data directory --------------------------------------------------------- */

struct chown_walk {
	uid_t uid;
	gid_t gid;
	size_t changed, skipped;
	char *msg;
	size_t len;
};

/* Gives the entry open as fd (O_PATH) to the user unless it is theirs already. */
static int chown_fd(struct chown_walk *w, int fd, const char *name, const struct stat *st)
{
	if (st->st_uid == w->uid && st->st_gid == w->gid)
		return RN_OK;
	if (!S_ISDIR(st->st_mode) && st->st_nlink > 1) {
		w->skipped++;
		log_warnx("data directory: %s has %ju names; left to its owner (uid %u)", name,
		          (uintmax_t)st->st_nlink, (unsigned)st->st_uid);
		return RN_OK;
	}
	if (fchownat(fd, "", w->uid, w->gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) {
		int rc = -errno;
		snprintf(w->msg, w->len, "chown %s: %s", name, strerror(errno));
		return rc;
	}
	w->changed++;
	return RN_OK;
}

/* dirfd is open on a directory already given to the user; takes ownership of dirfd. */
static int chown_dir(struct chown_walk *w, int dirfd, const char *path, int depth)
{
	DIR *d = fdopendir(dirfd);
	if (d == NULL) {
		int rc = -errno;
		close(dirfd);
		snprintf(w->msg, w->len, "%s: %s", path, strerror(-rc));
		return rc;
	}
	int rc = RN_OK;
	struct dirent *de;
	while (rc == RN_OK && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char sub[PATH_MAX];
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		int fd = openat(dirfd, de->d_name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT)
				continue;
			rc = -errno;
			snprintf(w->msg, w->len, "%s: %s", sub, strerror(errno));
			break;
		}
		struct stat st;
		if (fstat(fd, &st) != 0) {
			rc = -errno;
			snprintf(w->msg, w->len, "%s: %s", sub, strerror(errno));
			close(fd);
			break;
		}
		rc = chown_fd(w, fd, sub, &st);
		if (rc == RN_OK && S_ISDIR(st.st_mode)) {
			if (depth >= CHOWN_DEPTH) {
				snprintf(w->msg, w->len, "%s: more than %d levels deep", sub,
				         CHOWN_DEPTH);
				rc = RN_ELIMIT;
			} else {
				/* Reopen what fd is, as a directory to read. */
				char self[64];
				snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
				int dfd = open(self, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
				if (dfd < 0) {
					rc = -errno;
					snprintf(w->msg, w->len, "%s: %s", sub, strerror(errno));
				} else {
					rc = chown_dir(w, dfd, sub, depth + 1);
				}
			}
		}
		close(fd);
	}
	closedir(d);
	return rc;
}

int rn_priv_chown_tree(const char *path, uid_t uid, gid_t gid, size_t *changed, size_t *skipped,
                       char *msg, size_t len)
{
	struct chown_walk w = {.uid = uid, .gid = gid, .msg = msg, .len = len};
	*changed = *skipped = 0;
	/* The directory itself is the configuration's: a symbolic link to it is followed. */
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int rc = -errno;
		snprintf(msg, len, "%s: %s", path, strerror(errno));
		return rc;
	}
	struct stat st;
	int rc = RN_OK;
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		snprintf(msg, len, "%s: %s", path, strerror(errno));
	} else if (st.st_uid != uid || st.st_gid != gid) {
		if (fchown(fd, uid, gid) != 0) {
			rc = -errno;
			snprintf(msg, len, "chown %s: %s", path, strerror(errno));
		} else {
			w.changed++;
		}
	}
	if (rc != RN_OK) {
		close(fd);
		return rc;
	}
	rc = chown_dir(&w, fd, path, 1);
	*changed = w.changed;
	*skipped = w.skipped;
	return rc;
}
