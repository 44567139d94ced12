/* ownership.c — the partitions this instance holds; see ownership.h. */
#include "ownership.h"

#include "clock.h"

#include <stdio.h>
#include <string.h>

void ownership_init(struct ownership *o)
{
	memset(o, 0, sizeof *o);
	o->group_generation = -1;
	pthread_mutex_init(&o->lock, NULL);
}

void ownership_deinit(struct ownership *o)
{
	pthread_mutex_destroy(&o->lock);
}

void ownership_enforce(struct ownership *o, ownership_partitioner partitioner)
{
	pthread_mutex_lock(&o->lock);
	o->partitioner = partitioner;
	o->generation++;
	atomic_store(&o->enforced, partitioner != NULL);
	pthread_mutex_unlock(&o->lock);
}

void ownership_set(struct ownership *o, int32_t count, const int32_t *partitions, size_t n,
		   int32_t group_generation)
{
	pthread_mutex_lock(&o->lock);
	memset(o->owned, 0, sizeof o->owned);
	if (count >= 0) /* < 0: none held, the topic's size as it was */
		o->count = count <= OWNERSHIP_MAX_PARTITIONS ? count : 0;
	for (size_t i = 0; i < n && o->count; i++)
		if (partitions[i] >= 0 && partitions[i] < o->count)
			o->owned[partitions[i] / 64] |= UINT64_C(1) << (partitions[i] % 64);
	o->assigned = true;
	o->generation++;
	o->group_generation = group_generation;
	o->changed_ms = clock_wall_ms();
	o->lost_ms = 0;
	o->unsure_until_ms = 0;
	o->spoke_ms = clock_boot_ms();
	pthread_mutex_unlock(&o->lock);
}

static bool owns(const struct ownership *o, int32_t p)
{
	return p >= 0 && p < o->count && (o->owned[p / 64] >> (p % 64) & 1);
}

/* Whether an assignment is in force and this process may still hold it
 * (ownership_expect_alive); under the lock. */
static bool in_force(const struct ownership *o)
{
	if (!o->assigned)
		return false;
	if (!o->silent_after_ms)
		return true;
	int64_t now = clock_boot_ms();
	return now - o->alive_ms <= o->silent_after_ms && now >= o->unsure_until_ms;
}

void ownership_expect_alive(struct ownership *o, int64_t session_ms)
{
	pthread_mutex_lock(&o->lock);
	o->alive_ms = clock_boot_ms();
	o->silent_after_ms = session_ms;
	pthread_mutex_unlock(&o->lock);
}

bool ownership_alive(struct ownership *o)
{
	int64_t now = clock_boot_ms();
	pthread_mutex_lock(&o->lock);
	bool froze = o->silent_after_ms && now - o->alive_ms > o->silent_after_ms;
	/* Unless the group spoke since the freeze began (librdkafka noticed the
	 * lost session, or assigned anew), or a lone instance's answers are
	 * marked stale already: what it said stands. */
	if (froze && o->assigned && !o->lost_ms && o->spoke_ms <= o->alive_ms) {
		o->unsure_until_ms = now + o->silent_after_ms;
		o->generation++; /* answers change: campaigns wait */
	}
	o->alive_ms = now;
	pthread_mutex_unlock(&o->lock);
	return froze;
}

void ownership_release(struct ownership *o)
{
	pthread_mutex_lock(&o->lock);
	memset(o->owned, 0, sizeof o->owned);
	o->assigned = false;
	o->generation++; /* the group's stays: announcements of letting go carry it */
	o->changed_ms = clock_wall_ms();
	o->lost_ms = 0;
	o->unsure_until_ms = 0;
	o->spoke_ms = clock_boot_ms();
	pthread_mutex_unlock(&o->lock);
}

/* Whether every partition of the topic is held (none known: no). */
static bool owns_all(const struct ownership *o)
{
	for (int32_t p = 0; p < o->count; p++)
		if (!owns(o, p))
			return false;
	return o->count > 0;
}

bool ownership_lose(struct ownership *o, bool others_heard)
{
	pthread_mutex_lock(&o->lock);
	bool keep = o->partitioner && o->assigned && owns_all(o) && !others_heard;
	if (keep && !o->lost_ms) {
		o->lost_ms = clock_wall_ms();
		o->generation++; /* answers change: they are marked stale */
	}
	if (keep) {
		o->unsure_until_ms = 0;
		o->spoke_ms = clock_boot_ms();
	}
	pthread_mutex_unlock(&o->lock);
	if (!keep)
		ownership_release(o);
	return keep;
}

int64_t ownership_stale_since(struct ownership *o)
{
	if (!atomic_load_explicit(&o->enforced, memory_order_relaxed))
		return 0;
	pthread_mutex_lock(&o->lock);
	int64_t since = o->lost_ms;
	pthread_mutex_unlock(&o->lock);
	return since;
}

enum ownership_answer ownership_of(struct ownership *o, const char *campaign, size_t len,
				   int32_t *partition, int32_t *count, int64_t *changed_ms)
{
	enum ownership_answer a = OWNERSHIP_OWNED;
	*partition = -1;
	*count = 0;
	if (!atomic_load_explicit(&o->enforced, memory_order_relaxed))
		return a;
	pthread_mutex_lock(&o->lock);
	if (o->partitioner && !in_force(o)) {
		a = OWNERSHIP_WAITING;
	} else if (o->partitioner) {
		*partition = o->count ? o->partitioner(campaign, len, o->count) : -1;
		*count = o->count;
		if (changed_ms)
			*changed_ms = o->changed_ms;
		a = owns(o, *partition) ? OWNERSHIP_OWNED : OWNERSHIP_NOT_OWNED;
	}
	pthread_mutex_unlock(&o->lock);
	return a;
}

bool ownership_waiting(struct ownership *o)
{
	if (!atomic_load_explicit(&o->enforced, memory_order_relaxed))
		return false;
	pthread_mutex_lock(&o->lock);
	bool waiting = o->partitioner && !in_force(o);
	pthread_mutex_unlock(&o->lock);
	return waiting;
}

uint64_t ownership_generation(struct ownership *o)
{
	if (!atomic_load_explicit(&o->enforced, memory_order_relaxed))
		return 0;
	pthread_mutex_lock(&o->lock);
	uint64_t generation = o->generation;
	pthread_mutex_unlock(&o->lock);
	return generation;
}

int32_t ownership_group_generation(struct ownership *o)
{
	if (!atomic_load_explicit(&o->enforced, memory_order_relaxed))
		return -1;
	pthread_mutex_lock(&o->lock);
	int32_t generation = o->group_generation;
	pthread_mutex_unlock(&o->lock);
	return generation;
}

uint64_t ownership_describe(struct ownership *o, char *out, size_t size)
{
	if (!atomic_load_explicit(&o->enforced, memory_order_relaxed)) {
		snprintf(out, size, "all");
		return 0;
	}
	pthread_mutex_lock(&o->lock);
	uint64_t generation = o->partitioner ? o->generation : 0;
	size_t n = 0, owned = 0;
	bool assigned = in_force(o);
	if (!o->partitioner)
		snprintf(out, size, "all");
	else if (!assigned)
		snprintf(out, size, "waiting");
	for (int32_t p = 0; o->partitioner && assigned && p < o->count; p++) {
		if (!owns(o, p))
			continue;
		int w = snprintf(out + n, n < size ? size - n : 0, "%s%d", owned++ ? "," : "", p);
		n += w > 0 ? (size_t)w : 0;
	}
	if (o->partitioner && assigned && n < size)
		snprintf(out + n, size - n, "%s of %d", owned ? "" : "none", o->count);
	if (size && n >= size)
		snprintf(out, size, "%zu of %d", owned, o->count); /* too many to list */
	pthread_mutex_unlock(&o->lock);
	return generation;
}

bool ownership_held(struct ownership *o, int32_t *partitions, size_t max, size_t *n,
		    int32_t *count)
{
	*n = 0;
	*count = 0;
	if (!atomic_load(&o->enforced))
		return false;
	pthread_mutex_lock(&o->lock);
	*count = o->count;
	for (int32_t p = 0; p < o->count && *n < max; p++)
		if (owns(o, p))
			partitions[(*n)++] = p;
	pthread_mutex_unlock(&o->lock);
	return true;
}
