/*
 * ingest.c — one batch of messages → log, rejections, projections, offsets.
 *
 * A batch is decided first, in a read transaction, and written after, in
 * a write transaction: each message's outcome (a log entry, a rejection, a
 * duplicate) and what the rules change are kept in memory, then the log
 * entries and rejections are written in order and the projections'
 * changes published. Rules that look back at an earlier event of the
 * batch read it from its message (slot_set_pending). A map grown in
 * between runs only the writing again.
 *
 * An erasure rewrites the log, and its rule reads what it did: a batch
 * that holds one is decided again inside the write transaction, which
 * writes what the batch decided before the erasure first.
 */
#include "ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crash_point.h"
#include "erasure.h"
#include "kept_rejections.h"
#include "log.h"
#include "lookahead.h"
#include "pl_error.h"
#include "rejections.h"

/* A message's outcome to write: a log entry, or a rejection (rejections[rej]). */
struct outcome {
	uint32_t msg;
	uint32_t rej; /* NO_REJECTION: a log entry */
	uint64_t seq;
};
#define NO_REJECTION UINT32_MAX

struct kept_rejection {
	struct pl_rejection rej;
	struct pl_event ev; /* what was decoded of the message, for its id and type */
};

struct batch {
	struct writer *w;
	const struct ingest_msg *msgs;
	size_t n;
	const char *cluster;
	int64_t now_ms;
	uint64_t forwarded; /* the dead-letter mark to store with it */
	struct ingest_stats stats;
	/* Decided and not written yet: outcomes[written..noutcomes). */
	struct outcome *outcomes;
	size_t noutcomes, written;
	struct kept_rejection *rejections;
	size_t nrejections, rejections_cap;
	/* The message of each log entry the batch appends, from first_seq on;
	 * those from unwritten_seq on are not in the log yet. */
	uint32_t *entry_msg;
	uint64_t first_seq, unwritten_seq;
	bool in_write_txn; /* deciding inside the write transaction (an erasure's batch) */
};

/* decide() met an erasure outside the write transaction: decide again inside it. */
enum { NEEDS_WRITE_TXN = 1 };

/* The raw bytes of an entry the batch decided and has not written (slot_pending_fn). */
static int unwritten_entry(void *arg, uint64_t seq, const void **raw, size_t *raw_len)
{
	const struct batch *b = arg;
	if (seq < b->unwritten_seq || seq > b->stats.last_seq)
		return PL_ENOTFOUND;
	const struct ingest_msg *m = &b->msgs[b->entry_msg[seq - b->first_seq]];
	*raw = m->value;
	*raw_len = m->value_len;
	return PL_OK;
}

static int reject(struct batch *b, size_t i, const struct pl_rejection *rej,
		  const struct pl_event *ev)
{
	if (b->nrejections == b->rejections_cap) {
		size_t cap = b->rejections_cap ? 2 * b->rejections_cap : 64;
		struct kept_rejection *grown = realloc(b->rejections, cap * sizeof *grown);
		if (!grown)
			return PL_ENOMEM;
		b->rejections = grown;
		b->rejections_cap = cap;
	}
	/* `pledged import`: the same line later in the file is this one again. */
	if (b->w->kept && kept_rejections_note(b->w->kept, b->msgs[i].value, b->msgs[i].value_len))
		return PL_ENOMEM;
	b->rejections[b->nrejections] = (struct kept_rejection){.rej = *rej, .ev = *ev};
	b->outcomes[b->noutcomes++] = (struct outcome){(uint32_t)i, (uint32_t)b->nrejections++, 0};
	b->stats.rejected[rej->reason]++;
	return PL_OK;
}

/* Writes the outcomes decided since the last write, in order. */
static int write_outcomes(struct store_txn *t, struct batch *b)
{
	for (; b->written < b->noutcomes && !t->err; b->written++) {
		const struct outcome *o = &b->outcomes[b->written];
		const struct ingest_msg *m = &b->msgs[o->msg];
		if (o->rej == NO_REJECTION) {
			evlog_append(t, o->seq, &m->src, b->now_ms, m->value, m->value_len);
		} else {
			const struct kept_rejection *k = &b->rejections[o->rej];
			rejections_add(t, &m->src, b->now_ms, &k->rej, &k->ev, m->key, m->key_len,
				       m->value, m->value_len);
		}
	}
	b->unwritten_seq = b->stats.last_seq + 1;
	return t->err;
}

/* Unix ms as UTC like 2020-01-15T12:00:00Z; out of gmtime's range, the number. */
static void format_time(char *out, size_t size, int64_t ms)
{
	time_t secs = (time_t)(ms / 1000 - (ms % 1000 < 0));
	struct tm tm;
	if (ms / 1000 > 253402300799LL || ms < -62135596800000LL || !gmtime_r(&secs, &tm) ||
	    !strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, size, "%lld", (long long)ms);
}

/* Whether the event's time lies in the writer's window (writer.h). */
static bool in_window(const struct batch *b, const struct pl_event *ev, struct pl_rejection *rej)
{
	const struct event_window *win = &b->w->window;
	int64_t at = pl_event_int(ev, PL_F_AT);
	int64_t latest = b->now_ms > INT64_MAX - win->skew_ms ? INT64_MAX : b->now_ms + win->skew_ms;
	if (at >= win->earliest_ms && at <= latest)
		return true;
	char when[32], from[32], to[32];
	format_time(when, sizeof when, at);
	format_time(from, sizeof from, win->earliest_ms);
	format_time(to, sizeof to, latest);
	pl_reject(rej, PL_R_OUT_OF_RANGE,
		  "field 'at' is %s, outside %s..%s (the earliest event time..arrival + %lld s)",
		  when, from, to, (long long)(win->skew_ms / 1000));
	return false;
}

/*
 * The right to erasure: the log and rejections first, so the rules see its
 * record; what the batch decided before it is written first, to be erased
 * too. A later copy (only_from, its partition) looks after its first copy.
 */
static int erase(struct store_txn *t, struct batch *b, const struct decoded *d, uint64_t seq,
		 const struct evlog_source *only_from)
{
	struct erasure_counts n;
	uint64_t first = 0;
	int rc = write_outcomes(t, b);
	if (rc == 0 && only_from && (rc = erasure_first_copy_at(t, &d->id, &first)))
		return store_txn_fail(t, rc);
	if (rc == 0)
		rc = erasure_run(t, seq, pl_event_str(&d->ev, PL_F_SUPPORTER), only_from,
				 first ? first + 1 : 0, &n);
	if (rc)
		return rc;
	b->stats.erased_records += n.entries + n.rejections;
	return PL_OK;
}

/* Decides message i: a log entry, a rejection or a duplicate. */
static int ingest_one(struct store_txn *t, struct batch *b, size_t i, const struct decoded *d)
{
	struct pl_rejection rej;
	const struct ingest_msg *m = &b->msgs[i];
	if (b->w->kept && kept_rejections_has(b->w->kept, m->value, m->value_len)) {
		b->stats.duplicates++; /* rejected before: judged once */
		return PL_OK;
	}
	if (d->rc == PL_EREJECTED)
		return reject(b, i, &d->rej, &d->ev);
	if (d->ev.type == PL_EV_SUPPORTER_FORGOTTEN && !b->in_write_txn)
		return NEEDS_WRITE_TXN;
	uint64_t seq = b->stats.last_seq + 1;
	bool forgotten = d->ev.type == PL_EV_SUPPORTER_FORGOTTEN;
	struct pl_str supporter = pl_event_str(&d->ev, PL_F_SUPPORTER);
	enum erasure_copy copy = ERASURE_FIRST;
	int rc = forgotten ? erasure_copy_of(t, &d->id, supporter, &m->src, &copy) : PL_OK;
	if (rc)
		return store_txn_fail(t, rc);
	struct fp claimed;
	rc = copy == ERASURE_AGAIN || copy == ERASURE_OTHER
		     ? PL_EEXIST
		     : slot_claim(&b->w->live, d, &m->src, copy == ERASURE_LATER, &claimed);
	if (rc == PL_EEXIST) {
		/* Ignored as the contract says, but an erasure not made is worth a word. */
		if (forgotten && copy != ERASURE_AGAIN && copy != ERASURE_LATER)
			log_warn("supporter.forgotten '%s' (%.*s partition %d offset %lld): its id was "
				 "used before%s, so nothing of supporter '%s' is erased: send it "
				 "again under a new id",
				 pl_show(pl_event_str(&d->ev, PL_F_ID)).s, (int)m->src.topic_len,
				 m->src.topic, (int)m->src.partition, (long long)m->src.offset,
				 copy == ERASURE_OTHER ? " for another supporter's erasure" : "",
				 pl_show(supporter).s);
		b->stats.duplicates++;
		return t->err;
	}
	/* After the id: an event applied before is a duplicate, though the window
	 * moved since; and a later copy of an erasure applied before is applied. */
	if (rc == 0 && copy != ERASURE_LATER && !in_window(b, &d->ev, &rej)) {
		if (slot_unclaim(&b->w->live, &claimed))
			return t->err;
		return reject(b, i, &rej, &d->ev);
	}
	if (rc == 0 && forgotten) {
		if (copy == ERASURE_FIRST)
			erasure_note_first_copy(t, &d->id, supporter, &m->src, seq);
		rc = erase(t, b, d, seq, copy == ERASURE_LATER ? &m->src : NULL);
	}
	if (rc == 0)
		rc = slot_apply_claimed(&b->w->live, d, &claimed, seq, &rej);
	if (rc == PL_EREJECTED)
		return reject(b, i, &rej, &d->ev);
	if (rc)
		return rc;
	b->outcomes[b->noutcomes++] = (struct outcome){(uint32_t)i, NO_REJECTION, seq};
	b->entry_msg[seq - b->first_seq] = (uint32_t)i;
	b->stats.last_seq = seq;
	b->stats.applied[d->ev.type]++;
	return t->err;
}

/*
 * Readies message m for applying and returns its event: decoded already
 * (then only prefetched for), or decoded here into spare.
 */
static const struct decoded *prepare(const struct slot *s, struct decoded *spare,
				     const struct ingest_msg *m)
{
	if (m->decoded) {
		lookahead_prefetch(s, m->decoded);
		return m->decoded;
	}
	lookahead_decode(s, spare, m->value, m->value_len, m->key, m->key_len);
	return spare;
}

static void put_offset(struct store_txn *t, const struct batch *b, const struct evlog_source *s)
{
	char topic[256];
	size_t len = s->topic_len < sizeof topic - 1 ? s->topic_len : sizeof topic - 1;
	memcpy(topic, s->topic, len);
	topic[len] = '\0';
	struct evlog_offset off = {.next = s->offset + 1};
	strncpy(off.cluster, b->cluster ? b->cluster : "", sizeof off.cluster - 1);
	evlog_offset_put(t, topic, s->partition, &off);
}

/* Stores the offset after the last message of each partition in the batch. */
static void store_offsets(struct store_txn *t, const struct batch *b)
{
	enum { MAX_TRACKED = 64 };
	const struct evlog_source *last[MAX_TRACKED];
	size_t tracked = 0;
	for (size_t i = 0; i < b->n; i++) {
		const struct evlog_source *s = &b->msgs[i].src;
		size_t j = 0;
		if (s->partition < 0)
			continue;
		while (j < tracked && !evlog_same_source(last[j], s))
			j++;
		if (j < tracked)
			last[j] = s;
		else if (tracked < MAX_TRACKED)
			last[tracked++] = s;
		else
			put_offset(t, b, s); /* rare: later puts of it overwrite */
	}
	for (size_t j = 0; j < tracked; j++)
		put_offset(t, b, last[j]);
}

/*
 * Decides every message of the batch, reading in t, and records what the
 * rules changed (slot_flush_rules). 0, NEEDS_WRITE_TXN, or an error.
 */
static int decide(struct store_txn *t, struct batch *b)
{
	struct slot *live = &b->w->live;
	memset(&b->stats, 0, sizeof b->stats);
	b->noutcomes = b->written = b->nrejections = 0;
	if (b->w->kept)
		kept_rejections_undo(b->w->kept); /* decided again: from the start */
	slot_set_log(live, t);
	int rc = evlog_last_seq(t, &b->stats.last_seq);
	b->first_seq = b->unwritten_seq = b->stats.last_seq + 1;
	/* Message i is applied while message i + LOOKAHEAD_DEPTH is prepared. */
	struct decoded spare[LOOKAHEAD_DEPTH];
	const struct decoded *ready[LOOKAHEAD_DEPTH];
	for (size_t i = 0; i < b->n && i < LOOKAHEAD_DEPTH; i++)
		ready[i] = prepare(live, &spare[i], &b->msgs[i]);
	for (size_t i = 0; i < b->n && rc == 0; i++) {
		size_t k = i % LOOKAHEAD_DEPTH;
		rc = ingest_one(t, b, i, ready[k]);
		if (i + LOOKAHEAD_DEPTH < b->n)
			ready[k] = prepare(live, &spare[k], &b->msgs[i + LOOKAHEAD_DEPTH]);
	}
	if (rc == 0)
		rc = slot_flush_rules(live);
	return rc;
}

/* Writes what the batch decided and is not written yet, its changes and its offsets, in t. */
static int write_decided(struct store_txn *t, struct batch *b)
{
	struct slot *live = &b->w->live;
	int rc = write_outcomes(t, b);
	CRASH_POINT(INGEST_APPLIED);
	if (rc == 0)
		rc = slot_publish(live, t);
	CRASH_POINT(INGEST_FLUSHED);
	if (rc == 0)
		store_offsets(t, b);
	if (rc == 0 && b->forwarded != b->w->forward_stored)
		rejections_forwarded_put(t, b->forwarded);
	CRASH_POINT(INGEST_OFFSETS);
	return rc ? rc : t->err;
}

/* The write transaction of a batch decided before it. */
static int write_txn(struct store_txn *t, void *arg)
{
	struct batch *b = arg;
	b->written = 0; /* a retry after map growth writes it all again */
	/* A rebuild may have swapped slots since the writer last looked. */
	int rc = writer_check_live(b->w, t);
	return rc ? rc : write_decided(t, b);
}

/* The write transaction of a batch that is decided in it (it holds an erasure). */
static int decide_and_write_txn(struct store_txn *t, void *arg)
{
	struct batch *b = arg;
	slot_txn_rewind(&b->w->live, t, true); /* a retry after map growth starts over */
	int rc = writer_check_live(b->w, t);
	if (rc == 0)
		rc = decide(t, b);
	return rc ? rc : write_decided(t, b);
}

/* Decides the batch in a read transaction, then writes it; or, with an erasure, both in one. */
static int ingest_once(struct batch *b)
{
	struct writer *w = b->w;
	struct store_txn rt;
	/* From before the snapshot to the commit, the index's runs stay as they are. */
	int rc = slot_hold(&w->live);
	if (rc)
		return rc;
	if ((rc = store_read_begin(w->st, &rt))) {
		slot_release(&w->live);
		return rc;
	}
	b->in_write_txn = false;
	slot_txn_begin(&w->live, &rt, true);
	rc = decide(&rt, b);
	/* Never two transactions at once in one thread: a map growth waits for the first. */
	store_abort(&rt);
	slot_set_log(&w->live, NULL);
	if (rc == 0) {
		rc = store_run_write(w->st, write_txn, b);
	} else if (rc == NEEDS_WRITE_TXN) {
		b->in_write_txn = true;
		rc = store_run_write(w->st, decide_and_write_txn, b);
	}
	slot_txn_end(&w->live, rc == 0);
	slot_release(&w->live);
	return rc;
}

int ingest_batch(struct writer *w, const struct ingest_msg *msgs, size_t n, const char *cluster,
		 int64_t now_ms, struct ingest_stats *stats)
{
	struct batch b = {.w = w, .msgs = msgs, .n = n, .cluster = cluster, .now_ms = now_ms};
	/* Without a dead-letter topic the stored mark is never touched. */
	b.forwarded = w->forward_on ? atomic_load(&w->forwarded) : w->forward_stored;
	b.outcomes = malloc((n ? n : 1) * sizeof *b.outcomes);
	b.entry_msg = malloc((n ? n : 1) * sizeof *b.entry_msg);
	struct replay_result res;
	int rc = b.outcomes && b.entry_msg ? PL_OK : PL_ENOMEM;
	while (rc == 0) {
		if ((rc = writer_follow(w, &res)))
			break;
		slot_set_pending(&w->live, unwritten_entry, &b);
		rc = ingest_once(&b);
		slot_set_pending(&w->live, NULL, NULL);
		if (rc != PL_EBUSY)
			break;
		rc = PL_OK; /* the slots were swapped in between: again */
	}
	free(b.outcomes);
	free(b.entry_msg);
	free(b.rejections);
	if (b.w->kept && rc == 0)
		kept_rejections_commit(b.w->kept);
	else if (b.w->kept)
		kept_rejections_undo(b.w->kept);
	if (rc == 0) {
		*stats = b.stats;
		w->forward_stored = b.forwarded;
		if (stats->applied[PL_EV_SUPPORTER_FORGOTTEN])
			/* One erasure comes as a copy on every partition: copies, not supporters. */
			log_info("applied %llu supporter.forgotten cop%s: %llu stored messages "
				 "overwritten (log entries and rejections); log at %llu",
				 (unsigned long long)stats->applied[PL_EV_SUPPORTER_FORGOTTEN],
				 stats->applied[PL_EV_SUPPORTER_FORGOTTEN] == 1 ? "y" : "ies",
				 (unsigned long long)stats->erased_records,
				 (unsigned long long)stats->last_seq);
	}
	return rc;
}

void ingest_stats_add(struct ingest_stats *a, const struct ingest_stats *b)
{
	for (int i = 0; i < PL_EVENT_TYPE_COUNT; i++)
		a->applied[i] += b->applied[i];
	for (int i = 0; i < PL_REASON_COUNT; i++)
		a->rejected[i] += b->rejected[i];
	a->duplicates += b->duplicates;
	a->erased_records += b->erased_records;
	a->last_seq = b->last_seq;
}
