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

/*
 * The group spoke (an assignment, a revoke, a loss); under the lock. Heard
 * before the watch's next beat after a freeze, it is the first word after
 * the freeze, which has ended: a word from just before the freeze began,
 * after the last beat, must not count as one that came after it.
 */
static void group_spoke(struct ownership *o, int64_t now)
{
	if (o->silent_after_ms && now - o->alive_ms > o->silent_after_ms)
		o->thawed_ms = now;
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
	o->loss_undecided = false;
	o->unsure_until_ms = 0;
	group_spoke(o, clock_boot_ms());
	pthread_mutex_unlock(&o->lock);
}

void ownership_set_behind(struct ownership *o, int32_t partition, bool behind)
{
	if (partition < 0 || partition >= OWNERSHIP_MAX_PARTITIONS)
		return;
	uint64_t bit = UINT64_C(1) << (partition % 64), *word = &o->behind[partition / 64];
	pthread_mutex_lock(&o->lock);
	if (((*word & bit) != 0) != behind) {
		*word ^= bit;
		o->generation++; /* its campaigns' answers change */
	}
	pthread_mutex_unlock(&o->lock);
}

/* Whether partition p of count is set in the bitmap owned. */
static bool held_in(const uint64_t *owned, int32_t count, int32_t p)
{
	return p >= 0 && p < count && (owned[p / 64] >> (p % 64) & 1);
}

static bool owns(const struct ownership *o, int32_t p)
{
	return held_in(o->owned, o->count, p);
}

/* Whether an assignment is in force and this process may still hold it
 * (ownership_expect_alive); under the lock. */
static bool in_force(const struct ownership *o)
{
	if (!o->assigned || o->loss_undecided)
		return false;
	if (!o->silent_after_ms)
		return true;
	int64_t now = clock_boot_ms();
	return now - o->alive_ms <= o->silent_after_ms && now >= o->unsure_until_ms;
}

/* A lone instance keeps what it held, marked stale since it was lost; under the lock. */
static void keep_lost(struct ownership *o)
{
	if (!o->lost_ms || o->loss_undecided)
		o->generation++; /* answers change: marked stale, or no longer waiting */
	if (!o->lost_ms)
		o->lost_ms = clock_wall_ms();
	o->loss_undecided = false;
	o->unsure_until_ms = 0;
	group_spoke(o, clock_boot_ms());
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
	/* Unless the group spoke since the freeze ended (librdkafka noticed the
	 * lost session, or assigned anew: group_spoke), or a lone instance's
	 * answers are marked stale already: what it said stands. */
	bool told = o->thawed_ms > o->alive_ms;
	if (froze)
		o->thawed_ms = now;
	if (froze && o->assigned && !o->lost_ms && !told) {
		o->unsure_until_ms = now + o->silent_after_ms;
		o->generation++; /* answers change: campaigns wait */
	}
	if (o->loss_undecided && now >= o->undecided_until_ms)
		keep_lost(o); /* nothing heard: alone, as far as can be told */
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
	o->loss_undecided = false;
	o->unsure_until_ms = 0;
	group_spoke(o, clock_boot_ms());
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

enum ownership_loss ownership_lose(struct ownership *o, bool others_heard)
{
	int64_t now = clock_boot_ms();
	pthread_mutex_lock(&o->lock);
	group_spoke(o, now);
	bool keep = o->partitioner && o->assigned && owns_all(o) && !others_heard;
	enum ownership_loss loss = keep ? OWNERSHIP_KEPT : OWNERSHIP_RELEASED;
	if (keep && o->announcements && o->thawed_ms && o->heard_all_ms < o->thawed_ms) {
		loss = OWNERSHIP_UNDECIDED;
		if (!o->loss_undecided)
			o->generation++; /* answers change: campaigns wait */
		o->loss_undecided = true;
		o->undecided_until_ms = now + o->silent_after_ms;
		o->unsure_until_ms = 0;
	} else if (keep) {
		keep_lost(o);
	}
	pthread_mutex_unlock(&o->lock);
	if (!keep)
		ownership_release(o);
	return loss;
}

void ownership_hear_announcements(struct ownership *o)
{
	pthread_mutex_lock(&o->lock);
	o->announcements = true;
	pthread_mutex_unlock(&o->lock);
}

bool ownership_unheard_since_thaw(struct ownership *o)
{
	pthread_mutex_lock(&o->lock);
	bool unheard = o->announcements && o->thawed_ms > o->heard_all_ms;
	pthread_mutex_unlock(&o->lock);
	return unheard;
}

void ownership_heard_all(struct ownership *o, bool others_heard)
{
	pthread_mutex_lock(&o->lock);
	o->heard_all_ms = clock_boot_ms();
	bool undecided = o->loss_undecided;
	if (undecided && !others_heard)
		keep_lost(o);
	pthread_mutex_unlock(&o->lock);
	if (undecided && others_heard)
		ownership_release(o);
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

void ownership_view(struct ownership *o, struct ownership_view *v)
{
	v->enforced = false;
	v->in_force = true;
	v->partitioner = NULL;
	v->count = 0;
	v->generation = 0;
	v->group_generation = -1;
	v->changed_ms = v->lost_ms = 0;
	if (!atomic_load_explicit(&o->enforced, memory_order_relaxed))
		return;
	pthread_mutex_lock(&o->lock);
	if (o->partitioner) { /* not dropped since enforced was read */
		v->enforced = true;
		v->in_force = in_force(o);
		v->partitioner = o->partitioner;
		v->count = o->count;
		memcpy(v->owned, o->owned, (size_t)(o->count + 63) / 64 * sizeof *v->owned);
		memcpy(v->behind, o->behind, (size_t)(o->count + 63) / 64 * sizeof *v->behind);
		v->generation = o->generation;
		v->group_generation = o->group_generation;
		v->changed_ms = o->changed_ms;
		v->lost_ms = o->lost_ms;
	}
	pthread_mutex_unlock(&o->lock);
}

static bool view_owns(const struct ownership_view *v, int32_t p)
{
	return held_in(v->owned, v->count, p);
}

enum ownership_answer ownership_view_of(const struct ownership_view *v, const char *campaign,
					size_t len, int32_t *partition, int32_t *count)
{
	*partition = -1;
	*count = 0;
	if (!v->enforced)
		return OWNERSHIP_OWNED;
	if (!v->in_force)
		return OWNERSHIP_WAITING;
	*partition = v->count ? v->partitioner(campaign, len, v->count) : -1;
	*count = v->count;
	if (!view_owns(v, *partition))
		return OWNERSHIP_NOT_OWNED;
	return held_in(v->behind, v->count, *partition) ? OWNERSHIP_CATCHING_UP : OWNERSHIP_OWNED;
}

bool ownership_view_describe(const struct ownership_view *v, char *out, size_t size)
{
	if (!v->enforced) {
		snprintf(out, size, "all");
		return false;
	}
	if (!v->in_force) {
		snprintf(out, size, "waiting");
		return true;
	}
	size_t n = 0, owned = 0;
	for (int32_t p = 0; p < v->count; p++) {
		if (!view_owns(v, p))
			continue;
		int w = snprintf(out + n, n < size ? size - n : 0, "%s%d", owned++ ? "," : "", p);
		n += w > 0 ? (size_t)w : 0;
	}
	int w = n < size ? snprintf(out + n, size - n, "%s of %d", owned ? "" : "none", v->count) : 0;
	n += w > 0 ? (size_t)w : 0;
	/* Too many to list, or to say of how many after them: counted. */
	if (size && n >= size)
		snprintf(out, size, "%zu of %d", owned, v->count);
	return true;
}

/* Lists the partitions held that are catching up into out, as "2,3", or
 * leaves it "" when they do not fit. Returns how many there are. */
static size_t list_behind(const struct ownership_view *v, char *out, size_t size)
{
	size_t n = 0, behind = 0;
	if (size)
		out[0] = '\0';
	for (int32_t p = 0; v->enforced && v->in_force && p < v->count; p++) {
		if (!view_owns(v, p) || !held_in(v->behind, v->count, p))
			continue;
		int w = snprintf(out + n, n < size ? size - n : 0, "%s%d", behind++ ? "," : "", p);
		n += w > 0 ? (size_t)w : 0;
	}
	if (size && n >= size)
		out[0] = '\0';
	return behind;
}

bool ownership_view_describe_behind(const struct ownership_view *v, char *out, size_t size)
{
	size_t behind = list_behind(v, out, size);
	if (behind && size && !out[0])
		snprintf(out, size, "%zu partitions", behind); /* too many to list */
	return behind > 0;
}

bool ownership_view_say_behind(const struct ownership_view *v, char *out, size_t size)
{
	char list[256] = "";
	size_t behind = list_behind(v, list, size < sizeof list ? size : sizeof list);
	size_t n = list[0] ? (size_t)snprintf(out, size, behind == 1 ? "partition %s is"
								 : "partitions %s are", list)
			   : size;
	if (behind && n >= size)
		snprintf(out, size, "%zu partition%s", behind, behind == 1 ? " is" : "s are");
	else if (!behind && size)
		out[0] = '\0';
	return behind > 0;
}

enum ownership_answer ownership_of(struct ownership *o, const char *campaign, size_t len,
				   int32_t *partition, int32_t *count, int64_t *changed_ms)
{
	struct ownership_view v;
	ownership_view(o, &v);
	if (changed_ms)
		*changed_ms = v.changed_ms;
	return ownership_view_of(&v, campaign, len, partition, count);
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

size_t ownership_catching_up(struct ownership *o)
{
	size_t n = 0;
	if (!atomic_load(&o->enforced))
		return 0;
	pthread_mutex_lock(&o->lock);
	for (int32_t p = 0; p < o->count; p++)
		n += owns(o, p) && held_in(o->behind, o->count, p);
	pthread_mutex_unlock(&o->lock);
	return n;
}

bool ownership_held(struct ownership *o, int32_t *partitions, size_t max, size_t *n,
		    int32_t *count, int32_t *group_generation)
{
	*n = 0;
	*count = 0;
	*group_generation = -1;
	if (!atomic_load(&o->enforced))
		return false;
	pthread_mutex_lock(&o->lock);
	*count = o->count;
	*group_generation = o->group_generation;
	for (int32_t p = 0; p < o->count && *n < max; p++)
		if (owns(o, p))
			partitions[(*n)++] = p;
	pthread_mutex_unlock(&o->lock);
	return true;
}
