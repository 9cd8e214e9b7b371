/*
 * journal.c: the journal's framing, its untrusting reader, and the atomic
 * file replacement the snapshots use.
 *
 * Design notes: a record is length, CRC32C, payload. The CRC covers the
 * length bytes too, so a torn or flipped length is caught, not followed.
 * Appends happen only at the end of the newest generation, and a
 * generation is never appended to again after a restart (recovery opens a
 * new one), so the only damage a crash can leave is a torn tail: a scan
 * stops at the first record that does not verify, and everything before
 * it is intact. A bad record earlier than the tail is not a crash
 * artefact; the caller reports it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scoring/persist.h"

void (*scoring_crash_hook)(const char *point);
int (*scoring_fault_hook)(const char *point);

void journal_header(uint8_t hdr[JOURNAL_HDR_LEN], uint64_t gen)
{
	struct rn_wcur w;
	rn_wcur_init(&w, hdr, JOURNAL_HDR_LEN);
	rn_wcur_bytes(&w, "RNJ1", 4);
	rn_wcur_u32(&w, 1);
	rn_wcur_u64(&w, gen);
	rn_wcur_u32(&w, rn_crc32c(0, hdr, w.len));
	rn_wcur_u32(&w, 0);
}

void journal_record_header(uint8_t hdr[JOURNAL_REC_HDR], const uint8_t *payload, size_t len)
{
	struct rn_wcur w;
	rn_wcur_init(&w, hdr, JOURNAL_REC_HDR);
	rn_wcur_u32(&w, (uint32_t)len);
	rn_wcur_u32(&w, rn_crc32c(rn_crc32c(0, hdr, w.len), payload, len));
}

int journal_scan(const uint8_t *buf, size_t len, uint64_t *gen, size_t *valid, bool *torn,
                 int (*fn)(void *arg, const uint8_t *rec, size_t rlen, uint64_t end), void *arg)
{
	struct rn_cur c;
	rn_cur_init(&c, buf, len);
	const uint8_t *h = rn_cur_bytes(&c, JOURNAL_HDR_LEN);
	*valid = 0;
	*torn = false;
	if (h == NULL || memcmp(h, "RNJ1", 4) != 0)
		return RN_EPARSE;
	struct rn_cur hc;
	rn_cur_init(&hc, h + 4, JOURNAL_HDR_LEN - 4);
	uint32_t version = rn_cur_u32(&hc);
	uint64_t g = rn_cur_u64(&hc);
	uint32_t crc = rn_cur_u32(&hc);
	if (crc != rn_crc32c(0, h, 16))
		return RN_ECHECKSUM;
	if (version != 1)
		return RN_EVERSION;
	*gen = g;
	*valid = JOURNAL_HDR_LEN;
	while (rn_cur_left(&c) > 0) {
		const uint8_t *rh = rn_cur_bytes(&c, JOURNAL_REC_HDR);
		if (rh == NULL)
			break;
		struct rn_cur rhc;
		rn_cur_init(&rhc, rh, JOURNAL_REC_HDR);
		uint32_t rlen = rn_cur_u32(&rhc);
		uint32_t rcrc = rn_cur_u32(&rhc);
		if (rlen == 0 || rlen > JOURNAL_MAX_RECORD)
			break;
		const uint8_t *p = rn_cur_bytes(&c, rlen);
		if (p == NULL || rn_crc32c(rn_crc32c(0, rh, 4), p, rlen) != rcrc)
			break;
		size_t end = (size_t)(c.p - buf);
		if (fn != NULL) {
			int rc = fn(arg, p, rlen, end);
			if (rc != RN_OK)
				return rc;
		}
		*valid = end;
	}
	*torn = *valid < len;
	return RN_OK;
}

int persist_replace(int dirfd, const char *name, const uint8_t *buf, size_t len)
{
	char tmp[256];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", name) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	int rc = RN_OK;
	crash_point("snapshot-created");
	/* In two halves, so that a crash can leave a half-written temporary. */
	size_t half = len / 2;
	if ((rc = rn_write_all(fd, buf, half)) != RN_OK)
		goto fail;
	crash_point("snapshot-half");
	if ((rc = rn_write_all(fd, buf + half, len - half)) != RN_OK)
		goto fail;
	crash_point("snapshot-written");
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
	crash_point("snapshot-synced");
	if (renameat(dirfd, tmp, dirfd, name) != 0) {
		rc = -errno;
		goto fail;
	}
	crash_point("snapshot-renamed");
	if (fsync(dirfd) != 0)
		return -errno;
	return RN_OK;
fail:
	if (fd >= 0)
		close(fd);
	unlinkat(dirfd, tmp, 0);
	return rc;
}
