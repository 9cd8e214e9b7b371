/*
 * slab.c: the memory of the list view's IPv4 blocks.
 *
 * Design notes: blocks are small (about 36 bytes at 1M addresses) and
 * many, so they come from a slab: 64 KB chunks cut in 8-byte size
 * classes, with a free list per class threaded through the free blocks
 * themselves, without malloc's per-chunk header and 16-byte rounding
 * (about 1 MB saved at 1M addresses). Larger blocks come from malloc.
 * Chunks are only freed with the whole slab. Only the list view's writer
 * allocates and releases, under its lock; nothing here is thread-safe.
 */
#include <stdlib.h>
#include <string.h>

#include "feeds/view/listview.h"

void *lv_slab_alloc(struct lv_slab *s, size_t size)
{
	size_t sz = lv_round8(size);
	if (sz > LV_SLAB_MAX) {
		void *p = malloc(sz);
		if (p != NULL)
			s->big_bytes += sz;
		return p;
	}
	void **head = &s->free[sz / 8];
	if (*head != NULL) {
		void *p = *head;
		memcpy(head, p, sizeof(void *));
		return p;
	}
	if (s->left < sz) {
		if (s->nchunks == s->capchunks) {
			size_t cap = s->capchunks ? s->capchunks * 2 : 64;
			char **v = realloc(s->chunks, cap * sizeof(*v));
			if (v == NULL)
				return NULL;
			s->chunks = v;
			s->capchunks = cap;
		}
		char *c = malloc(LV_SLAB_CHUNK);
		if (c == NULL)
			return NULL;
		s->chunks[s->nchunks++] = c;
		s->cur = c;
		s->left = LV_SLAB_CHUNK;
	}
	void *p = s->cur;
	s->cur += sz;
	s->left -= sz;
	return p;
}

void lv_slab_release(struct lv_slab *s, void *p, size_t size)
{
	size_t sz = lv_round8(size);
	if (sz > LV_SLAB_MAX) {
		s->big_bytes -= sz;
		free(p);
		return;
	}
	memcpy(p, &s->free[sz / 8], sizeof(void *));
	s->free[sz / 8] = p;
}

void lv_slab_discard(void *p, size_t size)
{
	if (lv_round8(size) > LV_SLAB_MAX)
		free(p);
}

void lv_slab_destroy(struct lv_slab *s)
{
	for (size_t i = 0; i < s->nchunks; i++)
		free(s->chunks[i]);
	free(s->chunks);
	memset(s, 0, sizeof(*s));
}

size_t lv_slab_bytes(const struct lv_slab *s)
{
	return s->nchunks * LV_SLAB_CHUNK + s->big_bytes;
}
