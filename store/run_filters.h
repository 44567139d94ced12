/*
 * run_filters.h — a Bloom filter per run, in memory, for the kinds of state
 * whose lookups mostly find their key (index.h).
 *
 * The index's one filter says whether a key is in some run, not in which.
 * A lookup that finds its key in an old run read every newer run of its
 * kind first: at 5M events the backers' lookups visited 1.9 runs each, and
 * those reads were the writer's largest growing cost. With a filter per
 * run, a lookup reads the runs whose filter says "maybe": the one holding
 * the key and about 1 in 50 of the others.
 *
 * Not stored: index_open() builds them by reading the runs. A run without
 * a filter (over the memory budget, or a merge resumed after a restart)
 * is read as before. A filter may hold more keys than its run (a
 * transaction that wrote blocks and was undone), never fewer: every way a
 * run is written starts its filter afresh and adds each entry it writes.
 */
#ifndef RUN_FILTERS_H
#define RUN_FILTERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bloom.h"
#include "fp.h"

#define RUN_FILTERS_MAX 264 /* runs at once: the index's, a merge's output, spare */

struct run_filter {
	uint32_t run;
	struct bloom bloom;
};

struct run_filters {
	struct run_filter f[RUN_FILTERS_MAX];
	size_t n;
	size_t bytes, max_bytes;
};

void run_filters_init(struct run_filters *rf, size_t max_bytes);
void run_filters_deinit(struct run_filters *rf);

/*
 * An empty filter for run, sized for entries keys, replacing any it had;
 * NULL when the budget or memory does not allow one (the run is then read
 * on every lookup that gets to it).
 */
struct bloom *run_filters_start(struct run_filters *rf, uint32_t run, uint64_t entries);

/* Run's filter, or NULL. */
struct bloom *run_filters_of(struct run_filters *rf, uint32_t run);

/* Whether run may hold f: true unless its filter says it cannot. */
bool run_filters_may_hold(const struct run_filters *rf, uint32_t run, const struct fp *f);

/* Drops the filter of run, if any. */
void run_filters_drop(struct run_filters *rf, uint32_t run);

#endif
