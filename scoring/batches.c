/*
 * batches.c: the scorer's duplicate table: the newest batch_seq per
 * collector.
 *
 * Design notes: a collector numbers its batches and resends one until it
 * is acknowledged, so the newest durable batch_seq per collector id is
 * enough to recognise a resend. The table is a plain array searched
 * linearly: deployments have a handful of collectors, and it is capped at
 * BATCHES_MAX_COLLECTORS; a collector first seen past the cap is not
 * tracked (its resends would be applied again), which is logged. The
 * service keeps two tables (service.c says which and under which lock);
 * the table itself has no lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "scoring/persist.h"

struct batch_mark *batches_find(const struct batches *b, const uint8_t id[16])
{
	for (size_t i = 0; i < b->n; i++)
		if (memcmp(b->v[i].id, id, 16) == 0)
			return &b->v[i];
	return NULL;
}

int batches_note(struct batches *b, const uint8_t id[16], uint64_t seq, struct jpos end)
{
	struct batch_mark *m = batches_find(b, id);
	if (m != NULL) {
		if (seq > m->seq) {
			m->seq = seq;
			m->end = end;
		}
		return RN_OK;
	}
	if (b->n >= BATCHES_MAX_COLLECTORS) {
		log_warnx_rl(
		        "scoring: more than %d collectors; batches of new ones are not checked "
		        "for duplicates",
		        BATCHES_MAX_COLLECTORS);
		return RN_OK;
	}
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		struct batch_mark *v = realloc(b->v, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		b->v = v;
		b->cap = cap;
	}
	m = &b->v[b->n++];
	memcpy(m->id, id, 16);
	m->seq = seq;
	m->end = end;
	return RN_OK;
}

void batches_release(struct batches *b)
{
	free(b->v);
	memset(b, 0, sizeof(*b));
}
