/*
 * grace.c: grace periods for the list view, and the memory its writer
 * retires until one has passed.
 *
 * Design notes: sleepable-RCU style with two counter sets (parity 0 and
 * 1), each striped over cache lines so that readers on different cores
 * do not share one. A reader (lv_grace_enter(), inline in listview.h)
 * loads the parity p, increments its stripe of set p, and re-checks the
 * parity: if it changed, it undoes the increment and retries. It then
 * reads, and decrements the same counter. The writer flips the parity
 * and waits for the old set to drain. All of these are sequentially
 * consistent: a reader counted in the old set loaded the parity before
 * the flip, so the writer sees it and waits; a reader that increments
 * the old set after the writer looked sees the new parity in its re-check
 * and retries; and a reader counted in the new set loaded its pointers
 * after the flip, which follows the unpublishing. Only the writer waits:
 * it yields 64 times, then sleeps 100 us between looks.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>

#include "feeds/view/listview.h"

_Atomic unsigned lv_grace_next_stripe;
_Thread_local unsigned lv_grace_my_stripe = UINT32_MAX;

void lv_grace_wait(struct lv_grace *g)
{
	unsigned p = atomic_load(&g->parity);
	atomic_store(&g->parity, p ^ 1u);
	for (unsigned spins = 0;; spins++) {
		long sum = 0;
		for (unsigned i = 0; i < LV_STRIPES; i++)
			sum += atomic_load(&g->readers[p][i].cnt);
		if (sum == 0)
			return;
		if (spins < 64) {
			sched_yield();
		} else {
			struct timespec ts = {0, 100000};
			nanosleep(&ts, NULL);
		}
	}
}

int lv_grace_retire(struct lv_grace *g, void *p, size_t size)
{
	if (p == NULL)
		return RN_OK;
	if (g->nretired == g->capretired) {
		size_t cap = g->capretired ? g->capretired * 2 : 1024;
		struct lv_retired *v = realloc(g->retired, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		g->retired = v;
		g->capretired = cap;
	}
	g->retired[g->nretired++] = (struct lv_retired){p, size};
	return RN_OK;
}

void lv_grace_reclaim(struct lv_grace *g, struct lv_slab *slab)
{
	lv_grace_wait(g);
	for (size_t i = 0; i < g->nretired; i++) {
		const struct lv_retired *r = &g->retired[i];
		if (r->size == 0)
			free(r->p);
		else
			lv_slab_release(slab, r->p, r->size);
	}
	g->nretired = 0;
}

void lv_grace_destroy(struct lv_grace *g)
{
	for (size_t i = 0; i < g->nretired; i++) {
		if (g->retired[i].size == 0)
			free(g->retired[i].p);
		else
			lv_slab_discard(g->retired[i].p, g->retired[i].size);
	}
	free(g->retired);
	g->retired = NULL;
	g->nretired = g->capretired = 0;
}
