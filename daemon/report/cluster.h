/*
 * cluster.h — the other instances of the consumer group, as they announce
 * themselves: each one's HTTP address and the partitions it holds, and
 * when it last said so. HTTP sends a request for a campaign of another
 * instance's partition there (307); an announcement older than
 * CLUSTER_FRESH_MS no longer counts (its instance may have died).
 */
#ifndef CLUSTER_H
#define CLUSTER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ownership.h"

#define CLUSTER_MAX_MEMBERS 64
#define CLUSTER_ID_MAX 40
#define CLUSTER_URL_MAX 256
/* Announcements come every second; three missed ones and it is gone. */
#define CLUSTER_FRESH_MS 3000
/* Another member heard since: not alone in the group (ownership_lose). */
#define CLUSTER_OTHERS_RECENT_MS 300000

struct cluster_member {
	char id[CLUSTER_ID_MAX];
	char url[CLUSTER_URL_MAX];
	int32_t count; /* partitions of the topic */
	int32_t group_generation; /* the consumer group's generation it held them in; -1 unknown */
	uint64_t owned[OWNERSHIP_MAX_PARTITIONS / 64];
	int64_t said_ms;  /* when it announced, by its clock: freshness, order */
	int64_t heard_ms; /* when this instance heard it, by this one's clock */
};

struct cluster {
	pthread_mutex_t lock;
	char self[CLUSTER_ID_MAX]; /* this instance's id; "" when it announces nothing */
	char self_url[CLUSTER_URL_MAX];
	int64_t self_since_ms; /* when this run took its id (cluster_set_self), wall clock */
	struct cluster_member members[CLUSTER_MAX_MEMBERS];
	size_t n;
};

void cluster_init(struct cluster *c);
void cluster_deinit(struct cluster *c);

/* This instance's id and address (its own announcements are heard too, and
 * kept apart; so are those a former run at the same address made before
 * this one began, read back when it starts: they are this instance, not
 * another member). */
void cluster_set_self(struct cluster *c, const char *id, const char *url);

/*
 * Records an announcement, heard now: member id at url holds
 * partitions[0..n) of count since the group's generation group_generation
 * (-1 unknown), said at said_ms.
 */
void cluster_heard(struct cluster *c, const char *id, const char *url, int32_t count,
		   const int32_t *partitions, size_t n, int64_t said_ms, int32_t group_generation);

/*
 * The address of another instance that announced partition of count
 * within CLUSTER_FRESH_MS before now_ms (by its clock), heard after
 * since_ms (by this one's): true with url filled, else false. since_ms is
 * when this instance's own assignment last changed: a claim heard before
 * that rebalance may be one the claimant has given up too, and two
 * instances sending a request to each other would loop. For the same
 * reason a claim made in an older generation of the group than
 * group_generation, this instance's, does not count (when both are known).
 */
bool cluster_owner(struct cluster *c, int32_t partition, int32_t count, int64_t now_ms,
		   int64_t since_ms, int32_t group_generation, char *url, size_t url_size);

/* Whether another instance announced itself at or after since_ms, by this
 * one's clock and by the announcement's own (an old one read back when
 * this instance starts is heard now, but was not said since). */
bool cluster_others_heard_since(struct cluster *c, int64_t since_ms);

/* A copy of the members (at most max), for /v1/cluster; returns how many. */
size_t cluster_members(struct cluster *c, struct cluster_member *out, size_t max, char *self,
		       size_t self_size);

#endif
