/*
 * paths.c: where an installed repnet finds its own helpers and data.
 *
 * Design notes: the install directories are known at configure time
 * (GNUInstallDirs, relative to the prefix unless configured absolute), the
 * prefix is not: a tree installed with --prefix or DESTDIR, or a package
 * unpacked elsewhere, must still find its helpers. So the prefix is taken
 * at run time from /proc/self/exe: when the executable's directory ends in
 * the bindir or the sbindir, what precedes it is the prefix. A build tree
 * does not match, and callers then fall back to their build-tree rule
 * (beside the executable: rn_path_beside_self()). No state, no
 * allocation; thread-safe.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "proto/proto.h"

static const char *const instdirs[] = {
        [RN_INSTDIR_BIN] = REPNET_INSTALL_BINDIR,
        [RN_INSTDIR_SBIN] = REPNET_INSTALL_SBINDIR,
        [RN_INSTDIR_LIBEXEC] = REPNET_INSTALL_LIBEXECDIR,
        [RN_INSTDIR_DATA] = REPNET_INSTALL_DATADIR,
};

/* Length of the prefix when dir (the executable's directory) ends in sub. */
static bool prefix_of(const char *dir, const char *sub, size_t *plen)
{
	size_t dl = strlen(dir), sl = strlen(sub);
	if (sub[0] == '/')
		return false;
	if (dl <= sl || dir[dl - sl - 1] != '/' || strcmp(dir + dl - sl, sub) != 0)
		return false;
	*plen = dl - sl - 1;
	return true;
}

/* The running executable's directory, into self (PATH_MAX bytes). */
static int self_dir(char *self)
{
	ssize_t sl = readlink("/proc/self/exe", self, PATH_MAX - 1);
	if (sl <= 0)
		return sl < 0 ? -errno : RN_ENOTFOUND;
	self[sl] = '\0';
	char *slash = strrchr(self, '/');
	if (slash == NULL)
		return RN_ENOTFOUND;
	*slash = '\0';
	return RN_OK;
}

int rn_path_beside_self(const char *name, char *out, size_t len)
{
	char self[PATH_MAX];
	int rc = self_dir(self);
	if (rc != RN_OK)
		return rc;
	int n = snprintf(out, len, "%s/%s", self, name);
	return n < 0 || (size_t)n >= len ? RN_ELIMIT : RN_OK;
}

int rn_path_installed(enum rn_instdir dir, const char *name, char *out, size_t len)
{
	char self[PATH_MAX];
	size_t plen = 0;
	int n;

	if ((unsigned)dir >= sizeof(instdirs) / sizeof(instdirs[0]))
		return RN_EINTERNAL;
	int rc = self_dir(self);
	if (rc != RN_OK)
		return rc;
	if (!prefix_of(self, instdirs[RN_INSTDIR_SBIN], &plen) &&
	    !prefix_of(self, instdirs[RN_INSTDIR_BIN], &plen))
		return RN_ENOTFOUND;
	if (instdirs[dir][0] == '/')
		n = snprintf(out, len, "%s/%s", instdirs[dir], name);
	else
		n = snprintf(out, len, "%.*s/%s/%s", (int)plen, self, instdirs[dir], name);
	if (n < 0 || (size_t)n >= len)
		return RN_ELIMIT;
	return access(out, F_OK) == 0 ? RN_OK : -errno;
}
