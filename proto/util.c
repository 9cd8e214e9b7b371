/*
 * util.c: CRC32C, atomic file replacement, and the protobuf budget
 * allocator.
 *
 * Design notes: the CRC uses the SSE4.2 crc32 instruction when the CPU has
 * it (checked once at first use) and a byte table otherwise; both compute
 * the same reflected Castagnoli polynomial 0x82F63B78. rn_file_replace()
 * follows the only sequence POSIX makes crash-safe: write a temporary,
 * fsync it, rename it over the target, fsync the directory.
 */

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef __x86_64__
#include <cpuid.h>
#include <nmmintrin.h>
#endif

#include "proto/proto.h"

static uint32_t crc_table[256];
static int crc_mode; /* 1 table, 2 sse4.2; set once */
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		crc_table[i] = c;
	}
	int mode = 1;
#ifdef __x86_64__
	unsigned a, b, c, d;
	if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_2))
		mode = 2;
#endif
	crc_mode = mode;
}

#ifdef __x86_64__
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = crc;
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = _mm_crc32_u64(c, v);
		p += 8;
		len -= 8;
	}
	uint32_t c32 = (uint32_t)c;
	while (len-- > 0)
		c32 = _mm_crc32_u8(c32, *p++);
	return c32;
}
#endif

uint32_t rn_crc32c(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc_once, crc_init);
	const uint8_t *p = buf;
	crc = ~crc;
#ifdef __x86_64__
	if (crc_mode == 2)
		return ~crc_hw(crc, p, len);
#endif
	while (len-- > 0)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static int fsync_dir_of(const char *path)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	const char *dir = dirname(tmp);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) == 0 ? RN_OK : -errno;
	close(fd);
	return rc;
}

int rn_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return RN_OK;
}

int rn_file_replace(const char *path, const void *buf, size_t len, unsigned mode)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
	if (fd < 0)
		return -errno;
	int rc = rn_write_all(fd, buf, len);
	if (rc != RN_OK)
		goto fail;
	if (fsync(fd) != 0) {
		rc = -errno;
		goto fail;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = -errno;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		rc = -errno;
		goto fail;
	}
	return fsync_dir_of(path);
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}

int rn_file_read(const char *path, size_t max, uint8_t **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	int rc = RN_OK;
	uint8_t *buf = NULL;
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		goto fail;
	}
	if ((uint64_t)st.st_size > max) {
		rc = RN_ELIMIT;
		goto fail;
	}
	size_t cap = (size_t)st.st_size + 1;
	buf = malloc(cap);
	if (buf == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	size_t got = 0;
	for (;;) {
		if (got == cap) {
			/* The file grew while we read it. */
			rc = RN_ELIMIT;
			goto fail;
		}
		ssize_t r = read(fd, buf + got, cap - got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto fail;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	*out = buf;
	*len = got;
	return RN_OK;
fail:
	free(buf);
	close(fd);
	return rc;
}

int rn_fd_read(int fd, size_t max, uint8_t **out, size_t *len)
{
	struct rn_wcur w;
	rn_wcur_init_alloc(&w, max < SIZE_MAX ? max + 1 : max);
	for (;;) {
		/* Up to one byte past max, which tells input that is too long. */
		size_t room = w.max - w.len;
		if (room == 0 || rn_wcur_grow(&w, room < 65536 ? room : 65536) != RN_OK)
			break;
		ssize_t r = read(fd, w.p + w.len, w.cap - w.len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rn_wcur_fail(&w, -errno);
			break;
		}
		if (r == 0)
			break;
		w.len += (size_t)r;
	}
	if (w.len > max)
		rn_wcur_fail(&w, RN_ELIMIT);
	return rn_wcur_take(&w, out, len);
}

int rn_mkdirs(const char *path, unsigned mode)
{
	char tmp[PATH_MAX];
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		char saved = tmp[i];
		tmp[i] = '\0';
		if (mkdir(tmp, (mode_t)mode) != 0 && errno != EEXIST)
			return -errno;
		tmp[i] = saved;
	}
	struct stat st;
	if (stat(path, &st) != 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	return RN_OK;
}

/*
 * Each allocation carries its size in a 16-byte header so that free() can
 * give the bytes back to the budget; 16 keeps the payload aligned for any
 * type protobuf-c stores.
 */
#define PB_HDR 16

static void *pb_budget_alloc(void *data, size_t size)
{
	struct rn_pb_budget *b = data;
	if (size > b->limit || b->used > b->limit - size) {
		b->exceeded = true;
		return NULL;
	}
	uint8_t *p = malloc(size + PB_HDR);
	if (p == NULL)
		return NULL;
	memcpy(p, &size, sizeof(size));
	b->used += size;
	return p + PB_HDR;
}

static void pb_budget_free(void *data, void *ptr)
{
	struct rn_pb_budget *b = data;
	if (ptr == NULL)
		return;
	uint8_t *p = (uint8_t *)ptr - PB_HDR;
	size_t size;
	memcpy(&size, p, sizeof(size));
	b->used -= size;
	free(p);
}

void rn_pb_budget_init(struct rn_pb_budget *b, size_t limit)
{
	b->alloc.alloc = pb_budget_alloc;
	b->alloc.free = pb_budget_free;
	b->alloc.allocator_data = b;
	b->limit = limit;
	b->used = 0;
	b->exceeded = false;
}
