/*
 * proj.h — projections: campaign totals, supporters, pledges and the comment
 * feed, changed one event at a time.
 *
 * proj_apply() is the only writer. It checks every rule of docs/events.md
 * that needs state (campaign open, pledge exists, only backers may
 * comment, …) before it changes anything, so a rejected event leaves no
 * trace. Given the same events in the same order it gives the same state
 * and writes the same bytes, which is what replay and verify rely on.
 *
 * A projection lives in a slot (store.h): what readers see in the slot's
 * tables, written when the writer flushes from what the rules recorded
 * (proj_publish.h), and what the rules need in the slot's
 * state index (index.h), which is written at checkpoints. Replaying the log
 * after a checkpoint brings the index back to where the tables are; then
 * nothing is published (the tables have it already).
 */
#ifndef PROJ_H
#define PROJ_H

#include "event_decode.h"
#include "index.h"
#include "memtable.h"
#include "proj_publish.h"
#include "proj_records.h"
#include "proj_staged.h"
#include "store.h"

/* The kinds of state the projections keep in a slot's index. */
enum proj_kind {
	PROJ_K_CAMPAIGN,
	PROJ_K_PLEDGE,
	PROJ_K_SUPPORTER,
	PROJ_K_COMMENT,
	PROJ_K_BACKER,
	PROJ_KIND_COUNT
};

/* The key of a campaign's state (PROJ_K_CAMPAIGN) in a slot's index. */
void proj_campaign_fp(struct pl_str campaign, struct fp *out);

/* Their definitions for slot, in proj_kind order, for index_open(). */
void proj_kind_defs(enum store_slot slot, struct index_kind_def out[PROJ_KIND_COUNT]);

/*
 * Reads the event at log position seq, for rules that look back (a refund
 * reads its pledge, a removal its comment). Its strings stay valid until
 * the transaction that read them ends. 0 or an error.
 */
typedef int (*proj_event_at_fn)(void *arg, uint64_t seq, struct pl_event *ev);

/*
 * Reads the log position of the i-th comment that the erasure at log
 * position seq removes (its record, written when the erasure was
 * appended). 0, PL_ENOTFOUND past the last one, or an error.
 */
typedef int (*proj_erased_comment_fn)(void *arg, uint64_t seq, size_t i, uint64_t *comment_seq);

/* Campaigns whose state a writer holds between flushes; past it, it writes them out sooner. */
#define PROJ_HELD_CAMPAIGNS 16384

/* Currencies whose platform totals a writer holds changes of at once. */
#define PROJ_PLATFORM_PENDING 8

/* Applies events to one slot. */
struct proj_writer {
	enum store_slot slot;
	struct index *ix; /* the slot's state index */
	int kind_base;    /* its kind number of PROJ_K_CAMPAIGN */
	proj_event_at_fn event_at;
	proj_erased_comment_fn erased_comment;
	void *log_arg; /* of event_at and erased_comment */
	struct store_txn *t; /* the transaction being written (proj_writer_begin) */
	bool publish;        /* write what readers see (false while catching up) */
	struct memtable touched; /* campaigns changed since the last flush: fingerprint → state, id */
	const uint8_t **publish_order; /* touched's entries in key order, kept from flush to flush */
	size_t publish_order_cap;
	/* Changes to the platform's totals since the last flush, by currency:
	 * written once per flush rather than read and written per event. */
	struct proj_platform_change {
		char currency[3];
		struct proj_platform d;
	} platform[PROJ_PLATFORM_PENDING];
	size_t nplatform;
	struct proj_changes changes; /* to published rows since the last flush (proj_publish.h) */
	size_t move_rows;        /* staged history rows that make a move (proj_staged.h) */
	size_t move_campaigns;   /* campaigns a move's transaction brings rows of */
	size_t run_min_rows;     /* fewer rows of a campaign in a move go to a run */
	size_t runs_max;         /* runs kept before a compaction */
	/* The history rows it staged since the last move, so the next move need
	 * not read them back (proj_staged_hold), and where the open transaction
	 * began among them. */
	struct proj_staged staged;
	struct proj_staged_mark staged_mark;
	struct proj_mover mover;   /* the move under way */
	bool move_due;             /* a move is to be made or finished (proj_writer_move) */
	uint64_t staged_read_back; /* rows moves read back from the table all the same */
	size_t held_campaigns;   /* the most campaigns held in touched (PROJ_HELD_CAMPAIGNS) */
	/* A point-in-time replay: events after cut_at were left out, so an
	 * erasure may list comments that were never applied. */
	bool time_cut;
	int64_t cut_at;
	/* Comments that events the cut left out had hidden in the log, by
	 * their log positions (proj_left_out). */
	struct memtable hidden_by_cut;
};

/* Prepares a writer; 0 or PL_ENOMEM. */
int proj_writer_init(struct proj_writer *w, enum store_slot slot, struct index *ix, int kind_base,
		     proj_event_at_fn event_at, proj_erased_comment_fn erased_comment,
		     void *log_arg);
void proj_writer_deinit(struct proj_writer *w);

/* Starts applying within write transaction t (again, when t is run again: end it first). */
void proj_writer_begin(struct proj_writer *w, struct store_txn *t, bool publish);
/* The transaction begun last was committed, or not (or is run again): forgets what it did. */
void proj_writer_end(struct proj_writer *w, bool committed);

/*
 * The fingerprints of the state proj_apply() of an event looks up, each set
 * when the event has its fields: hashed from the event alone, so any thread
 * may compute them (ingest does on the consumer's, sparing the writer's).
 */
struct proj_keys {
	struct fp campaign;
	struct fp pledge;    /* its pledge */
	struct fp supporter; /* its supporter within its campaign */
	struct fp backer;    /* its supporter within its currency (a pledge's) */
	struct fp comment;   /* its comment */
};
void proj_keys_of(const struct pl_event *ev, struct proj_keys *k);

/* Prepares the lookups proj_apply() of an event with keys k will make (index_prefetch). */
void proj_prefetch(const struct proj_writer *w, const struct pl_event *ev,
		   const struct proj_keys *k);

/*
 * In a point-in-time replay, ev (with keys k), the log entry at seq, is
 * left out for its time. A comment counts as removed from the time of the
 * event that removed it in the log, and an erasure of a comment removed
 * before it in the log changes nothing: so a removal or erasure left out
 * notes the comments it hid, which an erasure kept by the cut then leaves
 * as they are. 0 or the transaction's error.
 */
int proj_left_out(struct proj_writer *w, const struct pl_event *ev, const struct proj_keys *k,
		  uint64_t seq);

/*
 * Applies ev, the log entry at seq, whose keys are k (proj_keys_of). Returns
 * 0, PL_EREJECTED with *rej filled (nothing changed), or the transaction's
 * error.
 */
int proj_apply(struct proj_writer *w, const struct pl_event *ev, const struct proj_keys *k,
	       uint64_t seq, struct pl_rejection *rej);

/*
 * Writes the state of the campaigns changed since proj_writer_begin() or
 * the last flush to the index (the writer holds it until then), and
 * records their totals and the platform's for readers. Whatever applies
 * events ends with it, then with proj_writer_publish().
 */
int proj_writer_flush(struct proj_writer *w);

/*
 * Writes every change to published rows recorded since proj_writer_begin()
 * (proj_publish.h) in t, a write transaction (the rules may have read in
 * another), and notes when enough history rows are staged for a move
 * (move_due). When t is run again (map growth), call it again: it starts
 * over. Returns t's error.
 */
int proj_writer_publish(struct proj_writer *w, struct store_txn *t);

/*
 * One transaction's share of the move due (proj_staged_move), in t, a
 * transaction of its own between those that apply events; *more says
 * whether the move goes on. Once one that ended it is committed, tell the
 * writer with proj_writer_moved().
 */
int proj_writer_move(struct proj_writer *w, struct store_txn *t, bool *more);
void proj_writer_moved(struct proj_writer *w);

/* The tables of a slot that readers see, written as events apply. */
extern const enum store_slot_table proj_published_tables[];
extern const size_t proj_published_count;

/* Which slot readers see, and its generation (raised by every swap). */
int proj_live(struct store_txn *t, enum store_slot *slot, uint64_t *generation);
/* Makes slot the one readers see and raises the generation. */
void proj_set_live(struct store_txn *t, enum store_slot slot);

/*
 * Empties the first of slot's published tables that holds anything; *done
 * when they are all empty. For a slot about to be rebuilt, a table per
 * transaction.
 */
int proj_clear_next(struct store_txn *t, enum store_slot slot, bool *done);

/*
 * Compares the published tables of slot a in ta and slot b in tb (the
 * same or two data dirs) byte for byte. Returns 0 when equal, 1 when they
 * differ (the first difference described in diff), or an error.
 */
int proj_compare(struct store_txn *ta, enum store_slot a, struct store_txn *tb, enum store_slot b,
		 char *diff, size_t diff_size);

#endif
