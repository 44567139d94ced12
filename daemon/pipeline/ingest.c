/* ingest.c — one batch of messages → log, rejections, projections, offsets. */
#include "ingest.h"

#include <stdlib.h>
#include <string.h>

#include "crash_point.h"
#include "pl_error.h"
#include "proj.h"
#include "rejections.h"

struct batch {
	struct proj_writer writer;
	const struct ingest_msg *msgs;
	size_t n;
	const char *cluster;
	int64_t now_ms;
	struct ingest_stats stats;
};

static void reject(struct store_txn *t, struct batch *b, const struct ingest_msg *m,
		   const struct pl_rejection *rej)
{
	rejections_add(t, &m->src, b->now_ms, rej, m->key, m->key_len, m->value, m->value_len);
	b->stats.rejected[rej->reason]++;
}

static int ingest_one(struct store_txn *t, struct batch *b, const struct ingest_msg *m)
{
	struct pl_event ev;
	struct pl_rejection rej;
	int rc = pl_event_decode(m->value, m->value_len, m->key, m->key_len, &ev, &rej);
	if (rc == PL_EREJECTED) {
		reject(t, b, m, &rej);
		return t->err;
	}
	uint64_t seq = b->stats.last_seq + 1;
	rc = evlog_id_claim(t, pl_event_str(&ev, PL_F_ID), seq);
	if (rc == PL_EEXIST) {
		b->stats.duplicates++;
		return PL_OK;
	}
	if (rc)
		return rc;
	rc = proj_apply(&b->writer, &ev, seq, &rej);
	if (rc == PL_EREJECTED) {
		evlog_id_release(t, pl_event_str(&ev, PL_F_ID));
		reject(t, b, m, &rej);
		return t->err;
	}
	if (rc)
		return rc;
	evlog_append(t, seq, &m->src, b->now_ms, m->value, m->value_len);
	b->stats.last_seq = seq;
	b->stats.applied[ev.type]++;
	return t->err;
}

static bool same_partition(const struct evlog_source *a, const struct evlog_source *b)
{
	return a->partition == b->partition && a->topic_len == b->topic_len &&
	       memcmp(a->topic, b->topic, a->topic_len) == 0;
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
		while (j < tracked && !same_partition(last[j], s))
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

static int ingest_txn(struct store_txn *t, void *arg)
{
	struct batch *b = arg;
	memset(&b->stats, 0, sizeof b->stats); /* a retry after map growth starts over */
	proj_writer_init(&b->writer, t, PROJ_LIVE);
	int rc = evlog_last_seq(t, &b->stats.last_seq);
	for (size_t i = 0; i < b->n && rc == 0; i++)
		rc = ingest_one(t, b, &b->msgs[i]);
	CRASH_POINT(INGEST_APPLIED);
	if (rc == 0)
		rc = proj_writer_flush(&b->writer);
	CRASH_POINT(INGEST_FLUSHED);
	if (rc == 0)
		store_offsets(t, b);
	CRASH_POINT(INGEST_OFFSETS);
	return rc ? rc : t->err;
}

int ingest_batch(struct store *st, const struct ingest_msg *msgs, size_t n, const char *cluster,
		 int64_t now_ms, struct ingest_stats *stats)
{
	/* The batch holds the projection cache: keep it off the caller's stack. */
	struct batch *b = malloc(sizeof *b);
	if (!b)
		return PL_ENOMEM;
	*b = (struct batch){.msgs = msgs, .n = n, .cluster = cluster, .now_ms = now_ms};
	int rc = store_run_write(st, ingest_txn, b);
	if (rc == 0)
		*stats = b->stats;
	free(b);
	return rc;
}

void ingest_stats_add(struct ingest_stats *a, const struct ingest_stats *b)
{
	for (int i = 0; i < PL_EVENT_TYPE_COUNT; i++)
		a->applied[i] += b->applied[i];
	for (int i = 0; i < PL_REASON_COUNT; i++)
		a->rejected[i] += b->rejected[i];
	a->duplicates += b->duplicates;
	a->last_seq = b->last_seq;
}
