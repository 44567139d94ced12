/*
 * metrics.h — counters and health state shared by the consumer thread and
 * the HTTP threads, rendered as Prometheus text on /metrics and as health on
 * /healthz.
 *
 * Writers: the consumer (batches, lag, consumer state) and the HTTP server
 * (requests). Every field is atomic or guarded by the struct's mutex, so any
 * thread may read or write at any time.
 */
#ifndef METRICS_H
#define METRICS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event_schema.h"
#include "ingest.h"
#include "cluster.h"
#include "ownership.h"

/* Histogram bucket upper bounds. */
#define METRICS_BATCH_BUCKETS 8      /* 1 10 100 500 1000 5000 10000 +Inf */
#define METRICS_LATENCY_BUCKETS 10   /* 0.5ms … 5s, +Inf */
#define METRICS_MAX_PARTITIONS OWNERSHIP_MAX_PARTITIONS /* as many as a serve may hold */
#define METRICS_HTTP_ROUTES 16
#define METRICS_HTTP_STATUSES 13     /* 200 204 304 307 400 401 404 405 413 421 501 503 other */

enum consumer_state {
	CONSUMER_STARTING,  /* not yet assigned partitions */
	CONSUMER_CONSUMING, /* assigned and applying batches */
	CONSUMER_STALLED,   /* cannot make progress (store full, broker gone, offset lost) */
	CONSUMER_STOPPED,   /* shut down */
	CONSUMER_READ_ONLY, /* serving reads from a data dir, not consuming */
};

struct metrics_partition {
	char topic[250]; /* Kafka names topics of up to 249 characters */
	int32_t partition;
	int64_t next_offset; /* next offset to apply */
	int64_t high_watermark;
};

struct histogram {
	/* Cumulative on render, not here; their total is the count, so that a
	 * render between an observation's steps still has +Inf = _count. */
	_Atomic uint64_t buckets[METRICS_LATENCY_BUCKETS];
	_Atomic uint64_t sum; /* of observations times the histogram's scale (1e6 for seconds) */
};

struct metrics {
	_Atomic uint64_t applied[PL_EVENT_TYPE_COUNT];
	_Atomic uint64_t rejected[PL_REASON_COUNT];
	_Atomic uint64_t duplicates;
	_Atomic uint64_t erased_records;
	_Atomic uint64_t batches;
	_Atomic uint64_t index_work_us; /* the writer's history moves between batches */
	/* The state index's upkeep thread (daemon/pipeline/upkeep.h): its
	 * transactions, and the batches' waits for it. */
	_Atomic uint64_t upkeep_us;
	_Atomic uint64_t upkeep_wait_us;
	_Atomic uint64_t last_seq;
	_Atomic int64_t last_batch_ms; /* wall clock of the last committed batch */
	_Atomic bool store_writable;
	_Atomic int64_t http_output_queued; /* reply bytes not yet taken by the kernel */
	_Atomic int64_t dlq_backlog;        /* rejections not yet on the dead-letter topic; -1: off */
	_Atomic uint64_t dlq_delivered;
	_Atomic uint64_t dlq_failures;
	_Atomic uint64_t commits_unconfirmed; /* batches written before the group took their offsets */
	struct histogram batch_size;
	struct histogram commit_latency;
	struct ownership owner; /* the partitions held, for HTTP (ownership.h) */
	struct cluster cluster; /* the other instances of the group (cluster.h) */

	pthread_mutex_t lock; /* guards everything below */
	enum consumer_state state;
	char state_detail[256]; /* why stalled, what to do */
	struct metrics_partition partitions[METRICS_MAX_PARTITIONS];
	size_t partition_count;
	uint64_t http_requests[METRICS_HTTP_ROUTES][METRICS_HTTP_STATUSES];
};

/* Zeroes every counter; the state starts as CONSUMER_STARTING. */
void metrics_init(struct metrics *m);
void metrics_deinit(struct metrics *m);

/* After a committed batch of n messages that took seconds to write. */
void metrics_record_batch(struct metrics *m, const struct ingest_stats *stats, size_t n,
			  double seconds);

/* Raises the newest log entry's number to seq, never lowers it: a reader's
 * snapshot may be older than the batch recorded last. */
void metrics_raise_log_seq(struct metrics *m, uint64_t seq);

/* Adds the time the writer spent on the history's moves between batches. */
void metrics_add_index_work(struct metrics *m, double seconds);
/* The upkeep thread's totals so far (writer.h), in microseconds. */
void metrics_set_upkeep(struct metrics *m, uint64_t busy_us, uint64_t wait_us);

/* Sets the consumer's state and a sentence for operators (what to do). */
void metrics_set_state(struct metrics *m, enum consumer_state state, const char *detail);
/* The current state; its sentence is copied to detail (size bytes) when non-NULL. */
enum consumer_state metrics_get_state(struct metrics *m, char *detail, size_t size);
/* "consuming", "stalled", … as shown on /healthz and /metrics. */
const char *metrics_state_name(enum consumer_state state);

/* Records where a partition stands; high_watermark < 0 leaves it as it was. */
void metrics_set_partition(struct metrics *m, const char *topic, int32_t partition,
			   int64_t next_offset, int64_t high_watermark);
/* Updates the broker's high watermark of a partition already recorded. */
void metrics_set_high_watermark(struct metrics *m, const char *topic, int32_t partition,
				int64_t high_watermark);
/* Forgets partitions no longer assigned to this instance. */
void metrics_clear_partitions(struct metrics *m);
/* Sum of (high watermark - next offset) over assigned partitions; -1 unknown. */
int64_t metrics_total_lag(struct metrics *m);

/* Partitions assigned now. */
size_t metrics_partitions(struct metrics *m);

/* HTTP route names are the caller's; status is the HTTP status code. */
void metrics_count_http(struct metrics *m, int route, int status);

/* An online rebuild (`pledged replay`) as the store shows it, read per scrape. */
struct metrics_rebuild {
	bool under_way;
	uint64_t done; /* log entries applied to the slot being built */
};

/*
 * Renders everything in Prometheus text exposition format into a new
 * malloc'd string (*len bytes). route_names[i] names route i.
 */
char *metrics_render(struct metrics *m, const struct metrics_rebuild *rebuild,
		     const char *const *route_names, size_t routes, size_t *len);

#endif
