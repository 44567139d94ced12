/* run_filters.c — a Bloom filter per run, in memory; see run_filters.h. */
#include "run_filters.h"

#include <string.h>

/* As the index's filter: about 1 in 50 absent keys is "maybe". */
#define BITS_PER_ENTRY 10

void run_filters_init(struct run_filters *rf, size_t max_bytes)
{
	memset(rf, 0, sizeof *rf);
	rf->max_bytes = max_bytes;
}

void run_filters_deinit(struct run_filters *rf)
{
	for (size_t i = 0; i < rf->n; i++)
		bloom_deinit(&rf->f[i].bloom);
	rf->n = rf->bytes = 0;
}

static struct run_filter *find(const struct run_filters *rf, uint32_t run)
{
	for (size_t i = 0; i < rf->n; i++)
		if (rf->f[i].run == run)
			return (struct run_filter *)&rf->f[i];
	return NULL;
}

void run_filters_drop(struct run_filters *rf, uint32_t run)
{
	struct run_filter *f = find(rf, run);
	if (!f)
		return;
	rf->bytes -= bloom_size(&f->bloom);
	bloom_deinit(&f->bloom);
	*f = rf->f[--rf->n];
}

struct bloom *run_filters_start(struct run_filters *rf, uint32_t run, uint64_t entries)
{
	run_filters_drop(rf, run);
	uint64_t bytes = entries * BITS_PER_ENTRY / 8 + BLOOM_BLOCK;
	if (rf->n == RUN_FILTERS_MAX || bytes > rf->max_bytes - rf->bytes)
		return NULL;
	struct run_filter *f = &rf->f[rf->n];
	if (bloom_init(&f->bloom, (size_t)bytes))
		return NULL;
	f->run = run;
	rf->n++;
	rf->bytes += bloom_size(&f->bloom);
	return &f->bloom;
}

struct bloom *run_filters_of(struct run_filters *rf, uint32_t run)
{
	struct run_filter *f = find(rf, run);
	return f ? &f->bloom : NULL;
}

bool run_filters_may_hold(const struct run_filters *rf, uint32_t run, const struct fp *f)
{
	const struct run_filter *rfl = find(rf, run);
	return !rfl || bloom_may_contain(&rfl->bloom, f);
}
