/*
 * spill.c: the collector's durable queue (format in spill.h).
 *
 * Design notes.
 *
 * Every batch is appended here before it is first sent, and every source
 * position after the batches that carry its lines, so the file alone says
 * what a restart must do: resend its batches, with the ids they were
 * sealed with (the scorer acknowledges again, without taking them twice,
 * those it already has), and resume each source from its newest position
 * in the file. Nothing in the file is lost by a kill -9 between any two
 * writes; a torn last record is cut off at the next open.
 *
 * A position is "acknowledged" once every batch before it is. Position
 * files (data_dir/KEY) are written only with acknowledged positions, and
 * only by spill_compact(), which runs when every batch is acknowledged:
 * it writes them (fsynced and renamed), then empties the file. A crash
 * between the two leaves positions in the file no newer than the files,
 * so either copy resumes at the same place.
 *
 * Before a batch is first handed out (spill_head) the file is
 * fdatasync()ed up to it: a batch the scorer has must never be one that a
 * power loss could take from the file while its lines are past the saved
 * position.
 *
 * The file is bounded by max: a batch that would pass it is refused
 * (RN_ELIMIT) and the caller stops taking observations until compaction
 * makes room. Positions obey the same bound; a refused position costs
 * nothing but a later resume point.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "feeds/bus/spill.h"

#define MAGIC       "RNSPILL1"
#define HDR         8
#define REC_HDR     9
#define REC_BATCH   1
#define REC_MARK    2
#define REC_ACK     3
#define REC_OPEN    4 /* a batch that the next committing position commits */
#define REC_MARK_NC 5 /* a position that commits nothing (another source's group is open) */
#define BATCH_FIXED (16 + 8 + 4 + 8)
#define REC_MAX     (64u << 20) /* a record body, at most */
#define MARKS_MAX   65536       /* positions in the file not yet acknowledged */
#define MARK_SLACK  (64u << 10) /* what positions may add past the cap */
#define OPEN_SLACK  (16u << 20) /* what the batches of an open group may add past it */

struct sbatch {
	uint64_t off;
	uint32_t len; /* the whole record */
	uint32_t nobs;
	int64_t ms;
	bool old;
	bool open; /* not sendable until a position follows it */
};

struct smark {
	uint64_t off;
	uint16_t key;
	uint16_t len;
	uint8_t pos[SPILL_POS_MAX];
};

struct skey {
	char name[SPILL_KEY_MAX];
	uint8_t newest[SPILL_POS_MAX];
	size_t newest_len;
	uint8_t acked[SPILL_POS_MAX];
	size_t acked_len;
	bool acked_dirty;
};

struct spill {
	char dir[PATH_MAX];
	int fd;
	uint64_t max, size, synced;
	struct sbatch *b; /* ring of unacknowledged batches */
	size_t bhead, bn, bcap;
	uint64_t bobs;
	struct smark *m; /* ring of positions not yet acknowledged */
	size_t mhead, mn, mcap;
	struct skey keys[SPILL_KEYS];
	size_t nkeys;
	uint64_t last_batch_off; /* where the newest batch starts; 0: none since compaction */
	uint64_t committed;      /* batches starting below this may be sent */
	bool open;               /* open batches wait for their position */
};

static bool key_valid(const char *k)
{
	size_t n = strlen(k);
	if (n == 0 || n >= SPILL_KEY_MAX || k[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = k[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

static int key_index(struct spill *s, const char *k, size_t klen)
{
	for (size_t i = 0; i < s->nkeys; i++)
		if (strlen(s->keys[i].name) == klen && memcmp(s->keys[i].name, k, klen) == 0)
			return (int)i;
	if (s->nkeys == SPILL_KEYS || klen >= SPILL_KEY_MAX)
		return RN_ELIMIT;
	struct skey *e = &s->keys[s->nkeys];
	memset(e, 0, sizeof(*e));
	memcpy(e->name, k, klen);
	e->name[klen] = '\0';
	if (!key_valid(e->name))
		return RN_EPARSE;
	return (int)s->nkeys++;
}

static int batch_push(struct spill *s, const struct sbatch *b)
{
	if (s->bn == s->bcap) {
		size_t cap = s->bcap ? s->bcap * 2 : 64;
		struct sbatch *nb = malloc(cap * sizeof(*nb));
		if (nb == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < s->bn; i++)
			nb[i] = s->b[(s->bhead + i) % s->bcap];
		free(s->b);
		s->b = nb;
		s->bhead = 0;
		s->bcap = cap;
	}
	s->b[(s->bhead + s->bn) % s->bcap] = *b;
	s->bn++;
	s->bobs += b->nobs;
	s->last_batch_off = b->off;
	return RN_OK;
}

/* Notes a position at off; a newer one of the same key with no batch between replaces it. */
static int mark_push(struct spill *s, uint64_t off, int key, const uint8_t *pos, size_t len)
{
	for (size_t i = s->mn; i > 0; i--) {
		struct smark *e = &s->m[(s->mhead + i - 1) % s->mcap];
		if (e->off < s->last_batch_off)
			break;
		if (e->key == key) {
			e->off = off;
			e->len = (uint16_t)len;
			memcpy(e->pos, pos, len);
			return RN_OK;
		}
	}
	if (s->mn == s->mcap) {
		if (s->mcap == MARKS_MAX)
			return RN_ELIMIT;
		size_t cap = s->mcap ? s->mcap * 2 : 16;
		struct smark *nm = malloc(cap * sizeof(*nm));
		if (nm == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < s->mn; i++)
			nm[i] = s->m[(s->mhead + i) % s->mcap];
		free(s->m);
		s->m = nm;
		s->mhead = 0;
		s->mcap = cap;
	}
	struct smark *e = &s->m[(s->mhead + s->mn) % s->mcap];
	e->off = off;
	e->key = (uint16_t)key;
	e->len = (uint16_t)len;
	memcpy(e->pos, pos, len);
	s->mn++;
	return RN_OK;
}

/* Positions before the oldest unacknowledged batch are acknowledged. */
static void marks_settle(struct spill *s)
{
	uint64_t frontier = s->bn > 0 ? s->b[s->bhead].off : UINT64_MAX;
	while (s->mn > 0 && s->m[s->mhead].off < frontier) {
		struct smark *e = &s->m[s->mhead];
		struct skey *k = &s->keys[e->key];
		memcpy(k->acked, e->pos, e->len);
		k->acked_len = e->len;
		k->acked_dirty = true;
		s->mhead = (s->mhead + 1) % s->mcap;
		s->mn--;
	}
}

static int write_rec(struct spill *s, uint8_t type, const uint8_t *a, size_t alen, const uint8_t *b,
                     size_t blen)
{
	uint8_t h[REC_HDR];
	size_t body = alen + blen;
	if (body > REC_MAX)
		return RN_ELIMIT;
	/* Positions may pass the cap a little, so that the one after a batch that filled it fits. */
	uint64_t cap = type == REC_ACK                           ? UINT64_MAX
	               : type == REC_MARK || type == REC_MARK_NC ? s->max + MARK_SLACK
	               : s->open                                 ? s->max + OPEN_SLACK
	                                                         : s->max;
	if (s->size + REC_HDR + body > cap)
		return RN_ELIMIT;
	uint32_t crc = rn_crc32c(0, &type, 1);
	crc = rn_crc32c(crc, a, alen);
	if (blen > 0)
		crc = rn_crc32c(crc, b, blen);
	rn_wcur_store(h, body, 4);
	rn_wcur_store(h + 4, crc, 4);
	h[8] = type;
	struct iovec iov[3] = {{h, REC_HDR}, {(void *)a, alen}, {(void *)b, blen}};
	size_t total = REC_HDR + body, done = 0;
	int n = blen > 0 ? 3 : 2;
	while (done < total) {
		/* Skip what was written already. */
		struct iovec v[3];
		int k = 0;
		size_t skip = done;
		for (int i = 0; i < n; i++) {
			if (skip >= iov[i].iov_len) {
				skip -= iov[i].iov_len;
				continue;
			}
			v[k].iov_base = (uint8_t *)iov[i].iov_base + skip;
			v[k].iov_len = iov[i].iov_len - skip;
			skip = 0;
			k++;
		}
		ssize_t w = pwritev(s->fd, v, k, (off_t)(s->size + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int rc = w < 0 ? -errno : -EIO;
			/* Cut a partial record off, so that the next one starts clean. */
			if (ftruncate(s->fd, (off_t)s->size) != 0)
				log_warn("spill: cutting a partial record");
			return rc;
		}
		done += (size_t)w;
	}
	s->size += total;
	return RN_OK;
}

int spill_add_batch(struct spill *s, const uint8_t id[16], uint64_t seq, uint32_t nobs,
                    const uint8_t *env, size_t len, bool open)
{
	uint8_t fx[BATCH_FIXED];
	int64_t now = rn_time_now_ms();
	memcpy(fx, id, 16);
	rn_wcur_store(fx + 16, seq, 8);
	rn_wcur_store(fx + 24, nobs, 4);
	rn_wcur_store(fx + 28, (uint64_t)now, 8);
	uint64_t off = s->size;
	int rc = write_rec(s, open ? REC_OPEN : REC_BATCH, fx, sizeof(fx), env, len);
	if (rc != RN_OK)
		return rc;
	struct sbatch b = {.off = off,
	                   .len = (uint32_t)(s->size - off),
	                   .nobs = nobs,
	                   .ms = now,
	                   .open = open};
	rc = batch_push(s, &b);
	if (rc == RN_OK) {
		s->open = s->open || open;
		if (!s->open)
			s->committed = s->size;
	}
	if (rc != RN_OK) {
		/* Not indexed: take it back out of the file. */
		s->size = off;
		if (ftruncate(s->fd, (off_t)off) != 0)
			log_warn("spill: cutting a batch back");
	}
	return rc;
}

int spill_add_mark(struct spill *s, const char *key, const uint8_t *pos, size_t len, bool commit)
{
	if (!key_valid(key))
		return RN_EPARSE;
	if (len > SPILL_POS_MAX)
		return RN_ELIMIT;
	int k = key_index(s, key, strlen(key));
	if (k < 0)
		return k;
	uint8_t fx[1 + SPILL_KEY_MAX];
	size_t kl = strlen(key);
	fx[0] = (uint8_t)kl;
	memcpy(fx + 1, key, kl);
	uint64_t off = s->size;
	commit = commit || !s->open; /* nothing open before it: nothing to hold back */
	int rc = write_rec(s, commit ? REC_MARK : REC_MARK_NC, fx, 1 + kl, pos, len);
	if (rc != RN_OK)
		return rc;
	/* In the file: it commits the batches before it, whatever the index does. */
	if (commit) {
		s->committed = s->size;
		s->open = false;
	}
	memcpy(s->keys[k].newest, pos, len);
	s->keys[k].newest_len = len;
	rc = mark_push(s, off, k, pos, len);
	if (rc == RN_OK && s->bn == 0)
		marks_settle(s);
	return rc;
}

/* Reads one record at off; RN_OK with *type and body (malloc'd), or an error (torn). */
static int read_rec(struct spill *s, uint64_t off, uint64_t end, uint8_t *type, uint8_t **body,
                    size_t *blen)
{
	uint8_t h[REC_HDR];
	if (end - off < REC_HDR || pread(s->fd, h, REC_HDR, (off_t)off) != REC_HDR)
		return RN_ETRUNC;
	uint64_t len = rn_load_be(h, 4);
	uint32_t crc = (uint32_t)rn_load_be(h + 4, 4);
	if (len > REC_MAX || len > end - off - REC_HDR)
		return RN_ETRUNC;
	uint8_t *b = malloc(len ? len : 1);
	if (b == NULL)
		return -ENOMEM;
	if (pread(s->fd, b, len, (off_t)(off + REC_HDR)) != (ssize_t)len) {
		free(b);
		return RN_ETRUNC;
	}
	uint32_t c = rn_crc32c(0, &h[8], 1);
	c = rn_crc32c(c, b, len);
	if (c != crc || h[8] < REC_BATCH || h[8] > REC_MARK_NC) {
		free(b);
		return RN_ECHECKSUM;
	}
	*type = h[8];
	*body = b;
	*blen = len;
	return RN_OK;
}

/* The positions staged since the last commit point are resume points now. */
static void promote(struct spill *s, void *stagedp)
{
	struct {
		uint8_t pos[SPILL_POS_MAX];
		size_t len;
	} *staged = stagedp;
	for (size_t i = 0; i < s->nkeys; i++) {
		if (staged[i].len == 0)
			continue;
		memcpy(s->keys[i].newest, staged[i].pos, staged[i].len);
		s->keys[i].newest_len = staged[i].len;
		staged[i].len = 0;
	}
}

static int load(struct spill *s)
{
	struct stat st;
	if (fstat(s->fd, &st) != 0)
		return -errno;
	uint64_t end = (uint64_t)st.st_size;
	uint8_t magic[HDR];
	if (end < HDR) {
		if (ftruncate(s->fd, 0) != 0 || pwrite(s->fd, MAGIC, HDR, 0) != HDR)
			return -errno;
		s->size = s->synced = s->committed = HDR;
		return RN_OK;
	}
	if (pread(s->fd, magic, HDR, 0) != HDR || memcmp(magic, MAGIC, HDR) != 0) {
		log_warnx("spill %s/%s: not a spill file; refusing to overwrite it", s->dir,
		          SPILL_NAME);
		return RN_EVERSION;
	}
	uint64_t off = HDR, commit = HDR;
	size_t nb = 0, nm = 0;
	bool open = false;
	/* Positions become resume points only where the file commits them. */
	struct {
		uint8_t pos[SPILL_POS_MAX];
		size_t len;
	} staged[SPILL_KEYS];
	memset(staged, 0, sizeof(staged));
	int rc = RN_OK;
	while (off < end) {
		uint8_t type, *body = NULL;
		size_t blen;
		rc = read_rec(s, off, end, &type, &body, &blen);
		if (rc == -ENOMEM)
			return rc;
		if (rc != RN_OK)
			break;
		struct rn_cur c;
		rn_cur_init(&c, body, blen);
		uint64_t next = off + REC_HDR + blen;
		if (type == REC_BATCH || type == REC_OPEN) {
			rn_cur_skip(&c, 16);
			(void)rn_cur_u64(&c);
			uint32_t nobs = rn_cur_u32(&c);
			int64_t ms = (int64_t)rn_cur_u64(&c);
			if (!rn_cur_ok(&c)) {
				free(body);
				rc = RN_EPARSE;
				break;
			}
			s->size = off;
			struct sbatch b = {.off = off,
			                   .len = (uint32_t)(next - off),
			                   .nobs = nobs,
			                   .ms = ms,
			                   .old = true,
			                   .open = type == REC_OPEN};
			rc = batch_push(s, &b);
			if (type == REC_BATCH && !open) {
				commit = next;
				promote(s, staged);
			}
			open = open || type == REC_OPEN;
			nb++;
		} else if (type == REC_ACK) {
			uint64_t at = rn_cur_u64(&c);
			if (!rn_cur_ok(&c) || s->bn == 0 || s->b[s->bhead].off != at) {
				free(body);
				rc = RN_EPARSE;
				break;
			}
			s->bobs -= s->b[s->bhead].nobs;
			s->bhead = (s->bhead + 1) % s->bcap;
			s->bn--;
			marks_settle(s);
			nb--;
		} else {
			uint8_t kl = rn_cur_u8(&c);
			const uint8_t *k = rn_cur_bytes(&c, kl);
			size_t plen = rn_cur_left(&c);
			int ki = rn_cur_ok(&c) && plen <= SPILL_POS_MAX
			                 ? key_index(s, (const char *)k, kl)
			                 : RN_EPARSE;
			if (ki < 0) {
				free(body);
				rc = ki;
				break;
			}
			rc = mark_push(s, off, ki, c.p, plen);
			memcpy(staged[ki].pos, c.p, plen);
			staged[ki].len = plen;
			if (type == REC_MARK) {
				commit = next;
				open = false;
				promote(s, staged);
			}
			nm++;
		}
		free(body);
		if (rc != RN_OK)
			break;
		off = next;
	}
	if (off < end)
		log_warnx("spill %s/%s: cut at offset %llu of %llu (%s): a torn or damaged "
		          "record",
		          s->dir, SPILL_NAME, (unsigned long long)off, (unsigned long long)end,
		          rn_strerror(rc));
	if (!open)
		promote(s, staged);
	if (open) {
		/* Batches whose position never followed: their lines are read again. */
		size_t dropped = 0;
		while (s->bn > 0 && s->b[(s->bhead + s->bn - 1) % s->bcap].off >= commit) {
			s->bobs -= s->b[(s->bhead + s->bn - 1) % s->bcap].nobs;
			s->bn--;
			dropped++;
		}
		nb -= dropped;
		while (s->mn > 0 && s->m[(s->mhead + s->mn - 1) % s->mcap].off >= commit)
			s->mn--;
		off = commit;
		log_notice("spill %s/%s: %zu batch(es) without their position dropped (their lines "
		           "are read again)",
		           s->dir, SPILL_NAME, dropped);
	}
	if (off < end && ftruncate(s->fd, (off_t)off) != 0)
		return -errno;
	s->committed = off;
	s->size = s->synced = off;
	if (nb > 0 || nm > 0)
		log_notice("spill %s/%s: %zu batch(es) of %llu observations to resend, %zu "
		           "position(s)",
		           s->dir, SPILL_NAME, nb, (unsigned long long)s->bobs, nm);
	return RN_OK;
}

int spill_open(struct spill **out, const char *dir, uint64_t max)
{
	struct spill *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->fd = -1;
	s->max = max < HDR + 4096 ? HDR + 4096 : max;
	int rc = RN_ELIMIT;
	char path[PATH_MAX];
	if (snprintf(s->dir, sizeof(s->dir), "%s", dir) >= (int)sizeof(s->dir) ||
	    snprintf(path, sizeof(path), "%s/%s", dir, SPILL_NAME) >= (int)sizeof(path))
		goto fail;
	s->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->fd < 0) {
		rc = -errno;
		goto fail;
	}
	if ((rc = load(s)) != RN_OK)
		goto fail;
	marks_settle(s);
	*out = s;
	return RN_OK;
fail:
	spill_close(s);
	return rc;
}

void spill_close(struct spill *s)
{
	if (s == NULL)
		return;
	if (s->fd >= 0)
		close(s->fd);
	free(s->b);
	free(s->m);
	free(s);
}

int spill_head(struct spill *s, struct spill_head *h)
{
	if (s->bn == 0)
		return RN_ENOTFOUND;
	const struct sbatch *b = &s->b[s->bhead];
	if (b->off >= s->committed)
		return RN_ENOTFOUND; /* its position is not in the file yet */
	if (s->synced < b->off + b->len) {
		if (fdatasync(s->fd) != 0)
			return -errno;
		s->synced = s->size;
	}
	uint8_t type, *body;
	size_t blen;
	int rc = read_rec(s, b->off, s->size, &type, &body, &blen);
	if (rc != RN_OK)
		return rc;
	if ((type != REC_BATCH && type != REC_OPEN) || blen < BATCH_FIXED) {
		free(body);
		return RN_EINTERNAL;
	}
	memcpy(h->id, body, 16);
	h->seq = rn_load_be(body + 16, 8);
	h->nobs = b->nobs;
	h->spilled_ms = b->ms;
	h->old = b->old;
	h->len = blen - BATCH_FIXED;
	memmove(body, body + BATCH_FIXED, h->len);
	h->env = body;
	return RN_OK;
}

void spill_ack_head(struct spill *s)
{
	if (s->bn == 0)
		return;
	/* Best effort: without it, a restart resends the batch and the scorer refuses it as a
	 * duplicate. */
	uint8_t at[8];
	rn_wcur_store(at, s->b[s->bhead].off, 8);
	if (write_rec(s, REC_ACK, at, sizeof(at), NULL, 0) != RN_OK)
		log_warnx_rl("spill: recording an acknowledgement failed");
	s->bobs -= s->b[s->bhead].nobs;
	s->bhead = (s->bhead + 1) % s->bcap;
	s->bn--;
	marks_settle(s);
}

int spill_compact(struct spill *s)
{
	if (s->bn > 0)
		return RN_ESTATE;
	marks_settle(s);
	for (size_t i = 0; i < s->nkeys; i++) {
		struct skey *k = &s->keys[i];
		if (!k->acked_dirty)
			continue;
		char path[PATH_MAX];
		if (snprintf(path, sizeof(path), "%s/%s", s->dir, k->name) >= (int)sizeof(path))
			return RN_ELIMIT;
		int rc = rn_file_replace(path, k->acked, k->acked_len, 0640);
		if (rc != RN_OK)
			return rc;
		k->acked_dirty = false;
	}
	if (s->size > HDR) {
		if (ftruncate(s->fd, HDR) != 0)
			return -errno;
		s->size = s->synced = s->committed = HDR;
	}
	s->last_batch_off = 0;
	return RN_OK;
}

int spill_pending(struct spill *s, const char *key, uint8_t *pos, size_t cap, size_t *len)
{
	for (size_t i = 0; i < s->nkeys; i++) {
		struct skey *k = &s->keys[i];
		if (strcmp(k->name, key) != 0 || k->newest_len == 0)
			continue;
		if (k->newest_len > cap)
			return RN_ELIMIT;
		memcpy(pos, k->newest, k->newest_len);
		*len = k->newest_len;
		return RN_OK;
	}
	return RN_ENOTFOUND;
}

uint64_t spill_bytes(const struct spill *s)
{
	return s->size;
}

size_t spill_batches(const struct spill *s)
{
	return s->bn;
}

uint64_t spill_observations(const struct spill *s)
{
	return s->bobs;
}

int64_t spill_oldest_ms(const struct spill *s)
{
	return s->bn > 0 ? s->b[s->bhead].ms : 0;
}
