/*
 * evlog.h — the event log: accepted events in arrival order, the index of
 * their ids (idempotency), and the source offsets consumed so far.
 *
 * Layout (see store.h): LOG maps a big-endian sequence number (from 1) to
 * a record holding the source coordinates, the append time and the event's
 * raw msgpack bytes, exactly as they arrived. EVENT_IDS maps an event id to
 * its sequence. OFFSETS maps topic+partition to the next offset to consume.
 * All three change in the caller's write transaction, together with the
 * projections, so they can never disagree.
 */
#ifndef EVLOG_H
#define EVLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event_schema.h"
#include "store.h"

/* Where a message came from. Non-Kafka sources use partition -1. */
struct evlog_source {
	const char *topic;
	size_t topic_len;
	int32_t partition;
	int64_t offset;
};

/* One log entry as read back; pointers borrow the transaction's pages. */
struct evlog_entry {
	uint64_t seq;
	struct evlog_source src;
	int64_t appended_at; /* wall clock, Unix ms */
	const void *raw;
	size_t raw_len;
};

/* Appends an event at seq, which must be above every earlier one. */
void evlog_append(struct store_txn *t, uint64_t seq, const struct evlog_source *src,
		  int64_t appended_at, const void *raw, size_t raw_len);

/* The highest sequence in the log; 0 when the log is empty. */
int evlog_last_seq(struct store_txn *t, uint64_t *seq);

/* Parses a LOG key/value pair found with a cursor. */
int evlog_parse(const MDB_val *key, const MDB_val *val, struct evlog_entry *e);

/*
 * Calls fn for each log entry from sequence from_seq on, oldest first. fn
 * returns 0 to go on, > 0 to stop, < 0 to stop with that error. Returns 0,
 * fn's error, PL_ECORRUPT for an entry that does not parse, or the store's.
 */
int evlog_each(struct store_txn *t, uint64_t from_seq,
	       int (*fn)(const struct evlog_entry *e, void *arg), void *arg);

/*
 * Records that event id is the log entry at seq, unless the id was applied
 * before: then returns PL_EEXIST (a re-delivery) and changes nothing.
 * Claiming first makes the idempotency check one B-tree operation.
 */
int evlog_id_claim(struct store_txn *t, struct pl_str id, uint64_t seq);
/* Undoes a claim in the same transaction, for an event that was then rejected. */
void evlog_id_release(struct store_txn *t, struct pl_str id);

/* Where consumption of topic/partition resumes. */
struct evlog_offset {
	int64_t next;            /* next offset to read */
	char cluster[64];        /* Kafka cluster id the offset belongs to ("" unknown) */
};

/* Reads where topic/partition resumes: 0, PL_ENOTFOUND (never consumed) or an error. */
int evlog_offset_get(struct store_txn *t, const char *topic, int32_t partition,
		     struct evlog_offset *off);
/* Records where topic/partition resumes, in the caller's write transaction. */
void evlog_offset_put(struct store_txn *t, const char *topic, int32_t partition,
		      const struct evlog_offset *off);

/* Sizes shared with rejections.c, which stores the same source header. */
#define EVLOG_HEADER_SIZE 24
void evlog_header_write(uint8_t *p, const struct evlog_source *src, int64_t at);
int evlog_header_read(const uint8_t *p, size_t len, struct evlog_source *src, int64_t *at);

#endif
