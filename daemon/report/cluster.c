/* cluster.c — the group's members as they announce themselves; see cluster.h. */
#include "cluster.h"

#include "clock.h"

#include <stdio.h>
#include <string.h>

void cluster_init(struct cluster *c)
{
	memset(c, 0, sizeof *c);
	pthread_mutex_init(&c->lock, NULL);
}

void cluster_deinit(struct cluster *c)
{
	pthread_mutex_destroy(&c->lock);
}

void cluster_set_self(struct cluster *c, const char *id, const char *url)
{
	pthread_mutex_lock(&c->lock);
	snprintf(c->self, sizeof c->self, "%s", id);
	snprintf(c->self_url, sizeof c->self_url, "%s", url);
	c->self_since_ms = clock_wall_ms();
	pthread_mutex_unlock(&c->lock);
}

/* The slot of id: its own, a free one, or the one heard from longest ago. */
static struct cluster_member *slot_of(struct cluster *c, const char *id)
{
	struct cluster_member *oldest = NULL;
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->members[i].id, id) == 0)
			return &c->members[i];
		if (!oldest || c->members[i].said_ms < oldest->said_ms)
			oldest = &c->members[i];
	}
	return c->n < CLUSTER_MAX_MEMBERS ? &c->members[c->n++] : oldest;
}

void cluster_heard(struct cluster *c, const char *id, const char *url, int32_t count,
		   const int32_t *partitions, size_t n, int64_t said_ms, int32_t group_generation)
{
	int64_t now = clock_wall_ms();
	pthread_mutex_lock(&c->lock);
	/* This instance, in a former run (two running at one address are
	 * misconfigured, but each still counts the other). */
	if (c->self_url[0] && strcmp(url, c->self_url) == 0 && strcmp(id, c->self) != 0 &&
	    said_ms < c->self_since_ms) {
		pthread_mutex_unlock(&c->lock);
		return;
	}
	struct cluster_member *m = slot_of(c, id);
	if (said_ms >= m->said_ms || strcmp(m->id, id) != 0) {
		memset(m, 0, sizeof *m);
		snprintf(m->id, sizeof m->id, "%s", id);
		snprintf(m->url, sizeof m->url, "%s", url);
		m->count = count > 0 && count <= OWNERSHIP_MAX_PARTITIONS ? count : 0;
		for (size_t i = 0; i < n; i++)
			if (partitions[i] >= 0 && partitions[i] < m->count)
				m->owned[partitions[i] / 64] |= UINT64_C(1) << (partitions[i] % 64);
		m->group_generation = group_generation < 0 ? -1 : group_generation;
		m->said_ms = said_ms;
		m->heard_ms = now;
	}
	pthread_mutex_unlock(&c->lock);
}

bool cluster_owner(struct cluster *c, int32_t partition, int32_t count, int64_t now_ms,
		   int64_t since_ms, int32_t group_generation, char *url, size_t url_size)
{
	bool found = false;
	int64_t newest = 0;
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n; i++) {
		const struct cluster_member *m = &c->members[i];
		if (strcmp(m->id, c->self) == 0 || m->count != count || partition < 0 ||
		    partition >= count || now_ms - m->said_ms > CLUSTER_FRESH_MS ||
		    m->heard_ms <= since_ms ||
		    (group_generation >= 0 && m->group_generation >= 0 &&
		     m->group_generation < group_generation) ||
		    !(m->owned[partition / 64] >> (partition % 64) & 1) || m->said_ms < newest)
			continue;
		/* Two fresh claims (a rebalance under way): the newest wins. */
		newest = m->said_ms;
		snprintf(url, url_size, "%s", m->url);
		found = true;
	}
	pthread_mutex_unlock(&c->lock);
	return found;
}

bool cluster_others_heard_since(struct cluster *c, int64_t since_ms)
{
	bool heard = false;
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n && !heard; i++)
		heard = strcmp(c->members[i].id, c->self) != 0 && c->members[i].heard_ms >= since_ms &&
			c->members[i].said_ms >= since_ms;
	pthread_mutex_unlock(&c->lock);
	return heard;
}

size_t cluster_members(struct cluster *c, struct cluster_member *out, size_t max, char *self,
		       size_t self_size)
{
	pthread_mutex_lock(&c->lock);
	size_t n = c->n < max ? c->n : max;
	memcpy(out, c->members, n * sizeof *out);
	snprintf(self, self_size, "%s", c->self);
	pthread_mutex_unlock(&c->lock);
	return n;
}
