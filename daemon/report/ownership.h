/*
 * ownership.h — which campaigns this instance may answer for.
 *
 * In a consumer group each instance holds some partitions of the topic, and
 * all of a campaign's events go to the partition its id hashes to (the
 * gateways' partitioner, keyed by campaign). When a rebalance takes a
 * partition away, this instance's figures for its campaigns stop there
 * while another instance goes on: HTTP must not serve them (421). The
 * consumer records the assignment after every rebalance; HTTP threads read
 * it. Until the first assignment, and between a rebalance's revoke and its
 * next assignment, nothing is owned and campaigns wait; a serve that does not
 * consume (--read-only) does not enforce ownership at all. An instance
 * alone in its group that loses its assignment to a Kafka outage goes on
 * answering, its figures marked stale (ownership_lose).
 */
#ifndef OWNERSHIP_H
#define OWNERSHIP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Partitions of the topic this instance can tell apart; more is refused. */
#define OWNERSHIP_MAX_PARTITIONS 4096

/* The gateways' partitioner: key → partition of count. */
typedef int32_t (*ownership_partitioner)(const void *key, size_t len, int32_t count);

struct ownership {
	_Atomic bool enforced; /* read without the lock: most servers never enforce */
	pthread_mutex_t lock;
	ownership_partitioner partitioner; /* NULL: not enforced, everything owned */
	bool assigned;                     /* an assignment is in force: none before the first,
					      nor between a revoke and the next */
	int32_t count;                     /* partitions of the topic */
	uint64_t owned[OWNERSHIP_MAX_PARTITIONS / 64];
	uint64_t behind[OWNERSHIP_MAX_PARTITIONS / 64]; /* ownership_set_behind */
	uint64_t generation; /* raised by every change */
	int32_t group_generation; /* the consumer group's, at the last assignment; -1 unknown */
	int64_t changed_ms;  /* wall clock of the last assignment recorded */
	int64_t lost_ms;     /* wall clock when a lone instance's assignment was lost; 0: not */
	/* ownership_expect_alive(): signs of life, and answers held back after a
	 * freeze (clock_boot_ms, which counts a suspended machine's sleep) */
	int64_t alive_ms;        /* the last sign of life */
	int64_t silent_after_ms; /* a freeze longer than this loses the group's session; 0: none */
	int64_t unsure_until_ms; /* after a freeze, answers wait until the group speaks */
	/* A loss after a freeze, decided once the announcements made during it
	 * are read (ownership_lose, ownership_heard_all); boot clock too */
	bool announcements;       /* others' announcements are read (members.h) */
	int64_t thawed_ms;        /* when the last freeze was seen to end (a beat or the group's word) */
	int64_t heard_all_ms;     /* when the announcements were last read to their end */
	bool loss_undecided;      /* lost after a freeze: alone, as far as was heard then? */
	int64_t undecided_until_ms;
};

enum ownership_answer {
	OWNERSHIP_OWNED,
	OWNERSHIP_NOT_OWNED, /* another instance holds its partition */
	OWNERSHIP_WAITING,   /* no partitions assigned yet */
	OWNERSHIP_CATCHING_UP, /* held, but behind what the group had read (ownership_set_behind) */
};

/*
 * What was held at one moment. An HTTP answer decides and describes itself
 * from one view (its status, X-Pledged-Partitions, X-Pledged-Stale-Since,
 * the ETag), so a rebalance in between cannot give a 200 whose headers
 * say "waiting".
 */
struct ownership_view {
	bool enforced; /* false: everything held, nothing to say */
	bool in_force; /* an assignment is in force (else campaigns wait) */
	ownership_partitioner partitioner;
	int32_t count;
	uint64_t owned[OWNERSHIP_MAX_PARTITIONS / 64];
	uint64_t behind[OWNERSHIP_MAX_PARTITIONS / 64];
	uint64_t generation;      /* 0 while not enforced */
	int32_t group_generation; /* -1 unknown or not enforced */
	int64_t changed_ms;       /* when the assignment last changed */
	int64_t lost_ms;          /* the stale mark (ownership_lose); 0: none */
};

/* Takes a view of what o holds now. */
void ownership_view(struct ownership *o, struct ownership_view *v);

/* ownership_of, as of the view. */
enum ownership_answer ownership_view_of(const struct ownership_view *v, const char *campaign,
					size_t len, int32_t *partition, int32_t *count);

/*
 * Writes which partitions the view holds, as "0,2 of 4" ("none of 4";
 * "waiting" while no assignment is in force), for the X-Pledged-Partitions
 * header. False (and "all") while not enforced: no header.
 */
bool ownership_view_describe(const struct ownership_view *v, char *out, size_t size);

/*
 * Writes the partitions held that are catching up (ownership_set_behind),
 * as "2,3", for the X-Pledged-Catching-Up header; as "40 partitions" when
 * the list does not fit in size. False (and "") when there are none.
 */
bool ownership_view_describe_behind(const struct ownership_view *v, char *out, size_t size);

/*
 * The same as the subject of a sentence: "partition 2 is", "partitions 2,3
 * are", or "40 partitions are" when the list does not fit in size. False
 * (and "") when there are none.
 */
bool ownership_view_say_behind(const struct ownership_view *v, char *out, size_t size);

void ownership_init(struct ownership *o);
void ownership_deinit(struct ownership *o);

/* From now on, campaigns are owned by partition, mapped with partitioner. */
void ownership_enforce(struct ownership *o, ownership_partitioner partitioner);

/*
 * Records the assignment: partitions[0..n) of a topic of count partitions
 * (count 0: the topic's size is unknown, so nothing is owned; count < 0,
 * with n 0: nothing held, the size as it was), made in the consumer
 * group's generation group_generation (-1 unknown).
 */
void ownership_set(struct ownership *o, int32_t count, const int32_t *partitions, size_t n,
		   int32_t group_generation);

/*
 * Marks a partition this instance is assigned as behind, or no longer: its
 * data dir has not yet read up to the offset the consumer group had
 * committed when it came (a partition back from another instance, which
 * went on meanwhile, or a new instance's). Its campaigns wait (503
 * catching_up) until then rather than be answered with figures older than
 * the group already gave. Set before the assignment is recorded
 * (ownership_set), which keeps the marks.
 */
void ownership_set_behind(struct ownership *o, int32_t partition, bool behind);

/*
 * Records that this instance gave up every partition and waits for the
 * group's next assignment (in a rebalance, or as it closes): nobody holds
 * them meanwhile, so its campaigns wait (503) rather than belong to another
 * instance (421).
 */
void ownership_release(struct ownership *o);

/*
 * Whether the campaign is this instance's; *partition gets its partition
 * (-1 unknown) of *count (the topic's size, 0 unknown). *changed_ms, when
 * not NULL, gets when the assignment last changed.
 */
enum ownership_answer ownership_of(struct ownership *o, const char *campaign, size_t len,
				   int32_t *partition, int32_t *count, int64_t *changed_ms);

enum ownership_loss {
	OWNERSHIP_RELEASED,  /* another instance may hold them next */
	OWNERSHIP_KEPT,      /* alone in the group: kept, marked stale */
	OWNERSHIP_UNDECIDED, /* after a freeze: waiting to read the announcements */
};

/*
 * Records that the consumer lost its assignment without a rebalance: its
 * session with the group timed out (Kafka unreachable). An instance that
 * held every partition of the topic, and has not heard of another member
 * lately (others_heard: announcements), was alone in its group, so nobody
 * else holds them until the group forms again: it keeps them, its figures
 * stale from now on (ownership_stale_since), rather than take the
 * campaigns' pages down with Kafka. Any other releases them
 * (ownership_release), as another instance may hold them next.
 *
 * Lost after a freeze (ownership_expect_alive), by an instance that reads
 * announcements and has not read them to their end since: one that joined
 * during the freeze may hold them now, unheard yet. Campaigns then wait
 * (503) until ownership_heard_all decides, or a session timeout passes
 * with nothing heard (kept then: Kafka may be gone too).
 */
enum ownership_loss ownership_lose(struct ownership *o, bool others_heard);

/* Others' announcements are read from now on (members.h). */
void ownership_hear_announcements(struct ownership *o);

/* Whether a freeze ended since the announcements were last read to their end. */
bool ownership_unheard_since_thaw(struct ownership *o);

/*
 * The announcements were read to their end, as the broker gave it after
 * the last freeze; others_heard: another member among them lately.
 * Decides a loss left undecided (ownership_lose).
 */
void ownership_heard_all(struct ownership *o, bool others_heard);

/*
 * From now on a sign of life (ownership_alive) comes every session_ms at
 * most. A process that did not run for longer (stopped by a signal, a
 * suspended machine) lost its place in the group, whatever it last heard:
 * librdkafka says so only once it runs again and asks. Until then campaigns wait (503) rather than
 * be answered from a partition another instance took meanwhile: while the
 * last sign of life is older than session_ms, and after one that followed
 * such a gap until the group next speaks (ownership_set, _release, _lose)
 * or session_ms passes (the group may not have moved: it froze too).
 */
void ownership_expect_alive(struct ownership *o, int64_t session_ms);

/* A sign of life: true when the one before came more than session_ms ago.
 * It also ends a loss left undecided for longer than session_ms (kept). */
bool ownership_alive(struct ownership *o);

/* When the partitions held were lost (ownership_lose), wall-clock ms; 0 while not. */
int64_t ownership_stale_since(struct ownership *o);

/* Raised by every change of what is held; 0 while not enforced. */
uint64_t ownership_generation(struct ownership *o);

/* The consumer group's generation at the last assignment; -1 unknown or not enforced. */
int32_t ownership_group_generation(struct ownership *o);

/* How many partitions held are behind (ownership_set_behind). */
size_t ownership_catching_up(struct ownership *o);

/*
 * The partitions held (at most max), the topic's size and the consumer
 * group's generation they were assigned in (-1 unknown), read together, so
 * that an announcement never pairs one assignment's partitions with
 * another's generation; false while not enforced.
 */
bool ownership_held(struct ownership *o, int32_t *partitions, size_t max, size_t *n,
		    int32_t *count, int32_t *group_generation);

#endif
