/*
 * rejections.h — the store of refused messages.
 *
 * Every message that is not applied is kept here with its raw bytes, its
 * source coordinates, its message key, its event id and type when they
 * could be read, and a specific reason, so operators can see, fix and
 * re-send it. Keys are a big-endian sequence of their own; records carry
 * the log's header and checksum (evlog.h).
 */
#ifndef REJECTIONS_H
#define REJECTIONS_H

#include "event_decode.h"
#include "evlog.h"

/* Raw bytes kept of a rejected message: all of any message small enough to
 * be an event, the first bytes of a larger one. */
#define REJECTION_RAW_MAX PL_MAX_EVENT_BYTES

struct rejection_entry {
	uint64_t seq;
	struct evlog_source src;
	int64_t at; /* when it was rejected, Unix ms */
	enum pl_reason reason;
	const char *detail;
	size_t detail_len;
	bool has_key;
	const void *key;
	size_t key_len;
	struct pl_str event_id;  /* empty when it could not be read */
	int event_type;          /* an enum pl_event_type, or -1 when unknown */
	bool erased;             /* its raw bytes were dropped by an erasure */
	const void *raw;
	size_t raw_len;
	/* Erased: the hash of the bytes dropped (rejections_hash), NULL when
	 * they were cut short or the erasure is older than this field. */
	const uint8_t *erased_hash;
};

/* Bytes of a rejection's hash. */
#define REJECTION_HASH_SIZE 16

/* A 128-bit hash of a message's bytes (XXH3), what an erased rejection
 * keeps of them: enough to know the same bytes again, nothing of them. */
void rejections_hash(const void *raw, size_t len, uint8_t out[REJECTION_HASH_SIZE]);

/*
 * Stores a rejection in the caller's write transaction. key may be NULL;
 * raw may be NULL when raw_len is 0 (a Kafka tombstone). ev is what the
 * decoder read of the message before it stopped (its id and type are kept
 * when present), or NULL.
 */
void rejections_add(struct store_txn *t, const struct evlog_source *src, int64_t at,
		    const struct pl_rejection *rej, const struct pl_event *ev, const void *key,
		    size_t key_len, const void *raw, size_t raw_len);

/*
 * Rewrites the rejection at key/val, when it is of format 1 (before
 * checksums, ids and types), in the current form, in t: `pledged upgrade`.
 * Returns 0, 1 when it was current already, or an error.
 */
int rejections_upgrade_entry(struct store_txn *t, const MDB_val *key, const MDB_val *val);

/* Parses a REJECTIONS key/value pair found with a cursor: 0, PL_ECORRUPT or PL_ECHECKSUM. */
int rejections_parse(const MDB_val *key, const MDB_val *val, struct rejection_entry *e);

/*
 * Drops the raw bytes of every rejection that names supporter (in any
 * encoding, or as text: pl_bytes_name()) or was kept cut short (it may
 * name them past the part kept), of those from only_from when it is not
 * NULL, and marks it erased; the reason, detail, source, key, event id and
 * type stay. *count gets how many. 0 or the transaction's error.
 */
int rejections_erase(struct store_txn *t, struct pl_str supporter,
		     const struct evlog_source *only_from, uint64_t *count);

/* Number of stored rejections. */
int rejections_count(struct store_txn *t, uint64_t *count);

/* The sequence of the newest rejection; 0 when there is none. */
int rejections_last_seq(struct store_txn *t, uint64_t *seq);

/*
 * Calls fn for stored rejections newest first, starting with the newest one
 * older than before (0: the newest of all). fn returns 0 to go on, > 0 to
 * stop, < 0 to stop with that error. Entries borrow the transaction's pages.
 */
int rejections_each(struct store_txn *t, uint64_t before,
		    int (*fn)(const struct rejection_entry *e, void *arg), void *arg);

/* Like rejections_each, oldest first, starting with the first one after after. */
int rejections_each_after(struct store_txn *t, uint64_t after,
			  int (*fn)(const struct rejection_entry *e, void *arg), void *arg);

/*
 * How far rejections were delivered to the dead-letter topic (everything up
 * to and including that sequence): *known is false when it was never set.
 */
int rejections_forwarded_get(struct store_txn *t, uint64_t *seq, bool *known);
void rejections_forwarded_put(struct store_txn *t, uint64_t seq);

/*
 * Checks every stored rejection against its checksum, its place (they are
 * numbered from 1 without gaps) and a seek for it: *bad gets the first
 * sequence that fails (0 when none does). 0 or a store error.
 */
int rejections_check(struct store_txn *t, uint64_t *bad);

#define REJECTIONS_PAGE_MAX 100

/* Bytes a page holds at most (raw message, key and detail of its entries):
 * a page of large messages ends early, so that no answer grows past about
 * a MiB once base64-encoded. */
#define REJECTIONS_PAGE_BYTES (256 * 1024)

/* A page of rejections, newest first; next is the cursor of the page after. */
struct rejection_page {
	struct rejection_entry items[REJECTIONS_PAGE_MAX];
	size_t count;
	bool has_next;
	uint64_t next; /* valid when has_next: pass it as before */
};

/*
 * Reads up to limit (1..REJECTIONS_PAGE_MAX) rejections older than before
 * (0: from the newest), newest first; fewer when they would hold more than
 * REJECTIONS_PAGE_BYTES (at least one).
 */
int rejections_page(struct store_txn *t, uint64_t before, unsigned limit,
		    struct rejection_page *page);

#endif
