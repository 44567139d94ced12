/*
 * proj.h — projections: campaign totals, supporters, pledges and the comment
 * feed, kept in LMDB and changed one event at a time.
 *
 * proj_apply() is the only writer. It checks every rule of docs/events.md that
 * needs state (campaign open, pledge exists, only backers may comment, …)
 * before it changes anything, so a rejected event leaves no trace. Given the
 * same events in the same order it writes the same bytes, which is what
 * replay and verify rely on.
 *
 * Projections exist in two sets: LIVE, which readers see, and SCRATCH, which
 * verify and dry runs rebuild into so they can compare or show without
 * touching LIVE. (A real rebuild needs no scratch copy: it runs in one
 * transaction, and readers see the old LIVE set until it commits.)
 */
#ifndef PROJ_H
#define PROJ_H

#include "event_decode.h"
#include "proj_records.h"
#include "store.h"

enum proj_set { PROJ_LIVE = 0, PROJ_SCRATCH = 1 };

enum proj_table {
	PROJ_T_CAMPAIGNS,
	PROJ_T_TOTALS,
	PROJ_T_PLEDGES,
	PROJ_T_SUPPORTERS,
	PROJ_T_COMMENTS,
	PROJ_T_COMMENT_IDS,
	PROJ_TABLE_COUNT
};

/* The store database holding a table of a set. */
enum store_db proj_db(enum proj_set set, enum proj_table table);

#define PROJ_CACHE_SLOTS 1024

/* A campaign's totals held in memory while a transaction applies events. */
struct proj_cached_campaign {
	char id[PL_MAX_ID_BYTES];
	uint8_t id_len;
	bool used, dirty;
	char currency[3];
	struct proj_totals totals;
};

/*
 * Applies events to one projection set inside one write transaction.
 * Nearly every event changes its campaign's totals, so they are kept in
 * memory and written once per transaction by proj_writer_flush(), which must
 * run before the transaction commits or reads the TOTALS table.
 */
struct proj_writer {
	struct store_txn *t;
	enum proj_set set;
	size_t used;
	struct proj_cached_campaign slots[PROJ_CACHE_SLOTS];
};

/* Starts applying to set within the write transaction t, with an empty cache. */
void proj_writer_init(struct proj_writer *w, struct store_txn *t, enum proj_set set);

/*
 * Applies ev, the log entry at seq. Returns 0, PL_EREJECTED with *rej
 * filled (nothing changed), or the transaction's error.
 */
int proj_apply(struct proj_writer *w, const struct pl_event *ev, uint64_t seq,
	       struct pl_rejection *rej);

/* Writes the cached totals; returns the transaction's error. */
int proj_writer_flush(struct proj_writer *w);

/* The live projections' generation: 0 until the first rebuild. */
int proj_generation(struct store_txn *t, uint64_t *gen);
/* Marks the live projections rebuilt, in the rebuilding transaction. */
void proj_generation_bump(struct store_txn *t);

/* Empties every table of set. */
void proj_clear(struct store_txn *t, enum proj_set set);

/*
 * Compares the LIVE and SCRATCH sets byte for byte. Returns 0 when equal,
 * 1 when they differ (with the first difference described in diff), or an
 * error.
 */
int proj_compare(struct store_txn *t, char *diff, size_t diff_size);

#endif
