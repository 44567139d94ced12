/*
 * evlog.h — the event log: accepted events in arrival order, the ids they
 * claimed (idempotency), and the source offsets consumed so far.
 *
 * Layout (see store.h): LOG maps a big-endian sequence number (from 1) to
 * a record holding the source coordinates, the append time, a checksum and
 * the event's raw msgpack bytes, exactly as they arrived. Event ids are
 * kept in the state index (index.h) of a slot, by fingerprint. OFFSETS
 * maps topic+partition to the next offset to consume. All change in the
 * caller's write transaction, together with the projections, so they can
 * never disagree.
 *
 * Record (little-endian, EVLOG_HEADER_SIZE bytes, then the topic name and
 * the payload):
 *   u8 format=2, u8 flags, u16 topic_len, i32 partition, i64 offset,
 *   i64 time, u64 checksum
 * flags: EVLOG_F_ERASED once an erasure (erasure.h) overwrote its payload.
 * The checksum is XXH3-64 of the sequence (8 bytes, big-endian) and of the
 * whole record with the checksum field zeroed: a record that moved, or
 * whose bytes changed, no longer matches. Rejections share the header.
 */
#ifndef EVLOG_H
#define EVLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event_schema.h"
#include "index.h"
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
	bool erased;         /* its personal fields were erased (EVLOG_F_ERASED) */
	const void *raw;
	size_t raw_len;
};

/* Appends an event at seq, which must be above every earlier one. */
void evlog_append(struct store_txn *t, uint64_t seq, const struct evlog_source *src,
		  int64_t appended_at, const void *raw, size_t raw_len);

/* The highest sequence in the log; 0 when the log is empty. */
int evlog_last_seq(struct store_txn *t, uint64_t *seq);

/*
 * Parses a LOG key/value pair and checks its checksum: 0, PL_ECORRUPT (not
 * shaped like a record) or PL_ECHECKSUM (damaged).
 */
int evlog_parse(const MDB_val *key, const MDB_val *val, struct evlog_entry *e);

/* Reads the entry at seq: 0, PL_ENOTFOUND, PL_ECORRUPT, PL_ECHECKSUM or an error. */
int evlog_get(struct store_txn *t, uint64_t seq, struct evlog_entry *e);

/*
 * Walks the whole log as evlog_each does, and seeks each entry by its
 * sequence: LMDB's branch pages, which a walk does not read but every seek
 * does, must lead to the entry walked. 0, or PL_ECORRUPT or PL_ECHECKSUM
 * with *bad_seq the first entry a walk or a seek does not find sound, or a
 * store error.
 */
int evlog_check_seeks(struct store_txn *t, uint64_t *bad_seq);

/*
 * Calls fn for each log entry from sequence from_seq on, oldest first. fn
 * returns 0 to go on, > 0 to stop, < 0 to stop with that error. An entry
 * that does not parse or check, or is not the next in sequence (the log
 * is dense: one missing or out of place is damage), stops the walk: its
 * error is returned and *bad_seq (when not NULL) names the entry expected.
 */
int evlog_each(struct store_txn *t, uint64_t from_seq,
	       int (*fn)(const struct evlog_entry *e, void *arg), void *arg, uint64_t *bad_seq);

/*
 * Replaces the payload of log entry e (read in t) with raw, keeping its
 * source and time, marks it erased and seals it anew: the right to
 * erasure. The old record is deleted before the new one is written, so
 * LMDB cannot reuse its page in place with old bytes left in its tail.
 */
void evlog_erase_entry(struct store_txn *t, const struct evlog_entry *e, const void *raw,
		       size_t raw_len);

/* The kind of the state index that holds a slot's event ids. */
struct index_kind_def evlog_id_kind(enum store_slot slot);

/* Whether a and b are the same topic and partition. */
bool evlog_same_source(const struct evlog_source *a, const struct evlog_source *b);

/* The fingerprint an event id is claimed by (any thread may compute it). */
void evlog_id_fp(struct pl_str id, struct fp *out);

/*
 * The fingerprint the copy of an event from src claims when its id is
 * taken: a supporter.forgotten is published to every partition under one
 * id, and each copy is applied once (slot.h). A byte 0xff, which no valid
 * id holds, keeps these apart from every id's own.
 */
void evlog_copy_id_fp(struct pl_str id, const struct evlog_source *src, struct fp *out);
/*
 * Claims the event id of fingerprint id (in ix, whose kind id_kind holds
 * event ids): 0 when it is new and now taken, PL_EEXIST when an event with
 * this id was applied before (a re-delivery), or an error.
 */
int evlog_id_claim(struct index *ix, struct store_txn *t, int id_kind, const struct fp *id);
/* Prepares the lookup evlog_id_claim() will make (index_prefetch). */
void evlog_id_prefetch(const struct index *ix, int id_kind, const struct fp *id);
/* Gives a claimed id back in the same transaction, for an event that was then
 * rejected. 0, or PL_ENOMEM: the id stays claimed and the transaction must fail. */
int evlog_id_release(struct index *ix, int id_kind, const struct fp *id);

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

/*
 * Rewrites the log entry at key/val, when it is of format 1 (written before
 * log entries had checksums), in the current form, in t: `pledged upgrade`.
 * Returns 0, 1 when it was current already, or an error.
 */
int evlog_upgrade_entry(struct store_txn *t, const MDB_val *key, const MDB_val *val);

/* The record header, shared with rejections.c. */
#define EVLOG_HEADER_SIZE 32
#define EVLOG_F_ERASED 1
static inline bool evlog_header_erased(const uint8_t *p)
{
	return p[1] & EVLOG_F_ERASED;
}
void evlog_header_write(uint8_t *p, const struct evlog_source *src, int64_t at);
int evlog_header_read(const uint8_t *p, size_t len, struct evlog_source *src, int64_t *at);
/* Writes the checksum of a whole record (header first) kept under seq. */
void evlog_seal(uint8_t *record, size_t len, uint64_t seq);
/* Whether a record kept under seq matches its checksum. */
bool evlog_sealed(const uint8_t *record, size_t len, uint64_t seq);

/* Format 1's header (24 bytes: the current one without the checksum). */
#define EVLOG_V1_HEADER_SIZE 24
/* Reads a format-1 header; PL_ECORRUPT when it is not one. */
int evlog_v1_header_read(const uint8_t *p, size_t len, struct evlog_source *src, int64_t *at);

#endif
