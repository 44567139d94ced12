/*
 * fixture.h — a throw-away data dir and a way to feed it JSON events through
 * the real ingest path, for tests.
 */
#ifndef FIXTURE_H
#define FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "event_codec.h"
#include "ingest.h"
#include "pl_error.h"
#include "proj_read.h"
#include "rejections.h"
#include "store.h"
#include "verify.h"
#include "writer.h"

/* Makes a fresh directory under $TMPDIR (or /tmp); the path is in dir. */
static inline void fixture_tmpdir(char *dir, size_t size)
{
	const char *base = getenv("TMPDIR");
	snprintf(dir, size, "%s/pledged-test-XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		abort();
	}
}

static inline struct store *fixture_store(char *dir, size_t size, size_t map_size)
{
	struct store *st;
	struct store_options opt = {.create = true, .no_sync = true, .initial_map_size = map_size};
	fixture_tmpdir(dir, size);
	if (store_open(&st, dir, &opt)) {
		fprintf(stderr, "cannot open test store in %s\n", dir);
		abort();
	}
	return st;
}

/*
 * The writer of a store made by fixture_store, opened on first use (a test
 * process is the only writer of its stores): as serve holds one. The
 * registry is per file that includes this header, so stores get their
 * writers from one file only (the Kafka tests: kt.c).
 */
#define FIXTURE_WRITERS 4
struct fixture_writer_slot {
	struct store *st;
	struct writer w;
};

static inline struct fixture_writer_slot *fixture_writers(void)
{
	static struct fixture_writer_slot slots[FIXTURE_WRITERS];
	return slots;
}

static inline struct writer *fixture_writer(struct store *st)
{
	struct fixture_writer_slot *slots = fixture_writers();
	int free_at = -1;
	for (int i = 0; i < FIXTURE_WRITERS; i++) {
		if (slots[i].st == st)
			return &slots[i].w;
		if (!slots[i].st && free_at < 0)
			free_at = i;
	}
	/* Small moves of two campaigns a transaction: the tests' histories and
	 * comments are split between moved and staged rows, and a move goes on
	 * while batches come; a campaign with fewer than 60 rows in a move has
	 * them put in a run, and a fourth run makes a compaction. Few campaigns
	 * held: a batch touching more writes their states out before its end.
	 * Transactions of 2 MiB: a move's one a batch, so that it goes on. */
	struct slot_options opt = {.work_blocks = 512, .history_move_rows = 300,
				   .history_move_campaigns = 2, .history_run_min_rows = 60,
				   .history_runs_max = 3, .held_campaigns = 4};
	struct replay_result res;
	int rc = free_at < 0 ? PL_ENOMEM : writer_open(&slots[free_at].w, st, &opt, &res);
	if (rc) {
		fprintf(stderr, "fixture: cannot open a writer: %s\n", pl_strerror(rc));
		abort();
	}
	slots[free_at].st = st;
	return &slots[free_at].w;
}

/* Closes the writer of st, if one is open: what a restart of serve does. */
static inline void fixture_drop_writer(struct store *st)
{
	struct fixture_writer_slot *slots = fixture_writers();
	for (int i = 0; i < FIXTURE_WRITERS; i++) {
		if (slots[i].st == st) {
			writer_close(&slots[i].w);
			slots[i].st = NULL;
		}
	}
}

/* Closes the writer of st, if one was opened, and st. */
static inline void fixture_close(struct store *st)
{
	fixture_drop_writer(st);
	store_close(st);
}

/* The id-th event (from 1) of a simple stream: four campaigns opened (c0..c3),
 * then pledges of 5 EUR spread over them and 97 supporters, as JSON. */
static inline void fixture_numbered_event(char *json, size_t size, int id)
{
	if (id <= 4)
		snprintf(json, size,
			 "{\"v\":1,\"type\":\"campaign.opened\",\"id\":\"e%d\",\"at\":1700000000000,"
			 "\"campaign\":\"c%d\",\"title\":\"t\",\"owner\":\"o\",\"currency\":\"EUR\"}",
			 id, id - 1);
	else
		snprintf(json, size,
			 "{\"v\":1,\"type\":\"pledge.created\",\"id\":\"e%d\",\"at\":1700000000000,"
			 "\"campaign\":\"c%d\",\"pledge\":\"p%d\",\"supporter\":\"s%d\","
			 "\"amount\":5,\"currency\":\"EUR\"}",
			 id, id % 4, id, id % 97);
}

/*
 * Ingests n events of fixture_numbered_event through w in batches of 50:
 * the ids after *events, at the offsets of partition 0 after *offset. With
 * maintain, one transaction of upkeep follows each batch, as consumer.c
 * writes it. 0, or the error of the batch or upkeep that failed (a refused
 * batch's ids and offsets are given back).
 */
static inline int fixture_ingest_numbered(struct writer *w, int n, bool maintain, int *events,
					  int64_t *offset)
{
	msgpack_sbuffer bufs[50];
	struct ingest_msg msgs[50];
	char json[512], err[160];
	int rc = 0;
	for (int done = 0; done < n && rc == 0;) {
		int batch = n - done < 50 ? n - done : 50;
		for (int i = 0; i < batch; i++) {
			fixture_numbered_event(json, sizeof json, *events + 1 + i);
			msgpack_sbuffer_init(&bufs[i]);
			if (pl_json_to_msgpack(json, strlen(json), &bufs[i], err, sizeof err)) {
				fprintf(stderr, "fixture: bad JSON %s: %s\n", json, err);
				abort();
			}
			msgs[i] = (struct ingest_msg){.src = {"t", 1, 0, *offset + i},
						      .value = bufs[i].data, .value_len = bufs[i].size};
		}
		struct ingest_stats stats;
		rc = ingest_batch(w, msgs, (size_t)batch, "", 1700000000000, &stats);
		for (int i = 0; i < batch; i++)
			msgpack_sbuffer_destroy(&bufs[i]);
		if (rc)
			break;
		*events += batch;
		*offset += batch;
		done += batch;
		if (maintain)
			rc = writer_maintain(w, 1);
	}
	return rc;
}

/* Removes a data dir made by fixture_store: LMDB's files, the marker
 * saying the dir holds a store, and the commands' lock files. */
static inline void fixture_remove(const char *dir)
{
	static const char *const files[] = {"data.mdb", "lock.mdb", "pledged.dir", "writer.lock",
					    "rebuild.lock"};
	char path[4200];
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, files[i]);
		remove(path);
	}
	if (remove(dir) != 0)
		perror(dir);
}

/*
 * Ingests the message raw[0..len) at offset on partition of topic "test"
 * (key: the given key, or none). Returns the rejection reason, or
 * PL_R_NONE when it was applied, or -1 when it was a duplicate.
 */
static inline int fixture_ingest_raw(struct store *st, const void *raw, size_t len,
				     const char *key, int32_t partition, int64_t offset)
{
	struct ingest_stats stats;
	struct ingest_msg m = {.src = {"test", 4, partition, offset},
			       .key = key,
			       .key_len = key ? strlen(key) : 0,
			       .value = raw,
			       .value_len = len};
	int rc = ingest_batch(fixture_writer(st), &m, 1, "cluster-a", 1700000000000, &stats);
	/* Then one transaction of upkeep, as serve writes a few after a batch. */
	if (rc == 0)
		rc = writer_maintain(fixture_writer(st), 1);
	if (rc) {
		fprintf(stderr, "fixture: ingest failed: %s\n", pl_strerror(rc));
		abort();
	}
	if (stats.duplicates)
		return -1;
	for (int r = 1; r < PL_REASON_COUNT; r++)
		if (stats.rejected[r])
			return r;
	return PL_R_NONE;
}

/* Ingests one JSON event as fixture_ingest_raw() does its msgpack. */
static inline int fixture_ingest_on(struct store *st, const char *json, const char *key,
				    int32_t partition, int64_t offset)
{
	msgpack_sbuffer buf;
	char err[160];
	msgpack_sbuffer_init(&buf);
	if (pl_json_to_msgpack(json, strlen(json), &buf, err, sizeof err)) {
		fprintf(stderr, "fixture: bad JSON %s: %s\n", json, err);
		abort();
	}
	int rc = fixture_ingest_raw(st, buf.data, buf.size, key, partition, offset);
	msgpack_sbuffer_destroy(&buf);
	return rc;
}

/* The same on partition 0. */
static inline int fixture_ingest_keyed(struct store *st, const char *json, const char *key,
				       int64_t offset)
{
	return fixture_ingest_on(st, json, key, 0, offset);
}

static inline int fixture_ingest(struct store *st, const char *json)
{
	static int64_t offset;
	return fixture_ingest_keyed(st, json, NULL, offset++);
}

/*
 * Feeds a JSON-lines file through ingest_batch, batch lines per transaction,
 * as messages of topic "file" partition 0 at their line numbers. Adds what
 * happened to *total (zeroed first). Aborts on an unreadable file, a line
 * that is not a JSON object or a store error: those are test bugs.
 */
static inline void fixture_ingest_file(struct store *st, const char *path, size_t batch,
				       struct ingest_stats *total)
{
	FILE *f = fopen(path, "r");
	msgpack_sbuffer *bufs = calloc(batch, sizeof *bufs);
	struct ingest_msg *msgs = calloc(batch, sizeof *msgs);
	char *line = NULL, err[160];
	size_t cap = 0, n = 0;
	int64_t lineno = 0;
	if (!f || !bufs || !msgs) {
		perror(path);
		abort();
	}
	memset(total, 0, sizeof *total);
	for (size_t i = 0; i < batch; i++)
		msgpack_sbuffer_init(&bufs[i]);
	for (bool more = true; more;) {
		ssize_t len = getline(&line, &cap, f);
		more = len > 0;
		if (more && len > 1) {
			msgpack_sbuffer_clear(&bufs[n]);
			if (pl_json_to_msgpack(line, (size_t)len, &bufs[n], err, sizeof err)) {
				fprintf(stderr, "fixture: %s line %lld: %s\n", path, (long long)lineno + 1, err);
				abort();
			}
			msgs[n] = (struct ingest_msg){.src = {"file", 4, 0, lineno},
						      .value = bufs[n].data,
						      .value_len = bufs[n].size};
			n++;
		}
		lineno++;
		if (n == batch || (!more && n)) {
			struct ingest_stats stats;
			if (ingest_batch(fixture_writer(st), msgs, n, "", 1700000000000, &stats) ||
			    writer_maintain(fixture_writer(st), 2)) {
				fprintf(stderr, "fixture: ingesting %s failed\n", path);
				abort();
			}
			ingest_stats_add(total, &stats);
			n = 0;
		}
	}
	for (size_t i = 0; i < batch; i++)
		msgpack_sbuffer_destroy(&bufs[i]);
	free(bufs);
	free(msgs);
	free(line);
	fclose(f);
}

/* Reads a campaign's summary into *c (strings copied out are not needed by callers). */
static inline int fixture_campaign(struct store *st, const char *id, struct proj_campaign *c)
{
	struct store_txn t;
	enum store_slot slot;
	uint64_t gen;
	if (store_read_begin(st, &t) || proj_live(&t, &slot, &gen))
		return PL_EIO;
	int rc = proj_campaign_get(&t, slot, (struct pl_str){id, (uint32_t)strlen(id)}, c);
	/* Only the numbers are used after the txn ends. */
	c->id = c->info.title = c->info.owner = c->info.location = c->info.currency =
		(struct pl_str){"", 0};
	store_abort(&t);
	return rc;
}

/* What a data dir holds, for two that must end the same: its log and
 * rejections, and every campaign's figures, summed and digested in id order. */
struct fixture_outcome {
	uint64_t log, rejections, campaigns;
	int64_t raised, pledges, supporters, comments;
	uint64_t digest;
};

static inline void fixture_mix(uint64_t *h, const void *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		*h = (*h ^ ((const uint8_t *)p)[i]) * 0x100000001b3u;
}

static inline int fixture_add_campaign(const struct proj_campaign *c, const void *key,
				       size_t key_len, void *arg)
{
	(void)key;
	(void)key_len;
	struct fixture_outcome *o = arg;
	o->campaigns++;
	o->raised += c->totals.raised;
	o->pledges += c->totals.pledges;
	o->supporters += c->totals.supporters;
	o->comments += c->totals.comments;
	fixture_mix(&o->digest, c->id.ptr, c->id.len);
	fixture_mix(&o->digest, &c->totals, sizeof c->totals);
	fixture_mix(&o->digest, &c->closed, sizeof c->closed);
	return 0;
}

/* st's outcome into *o. 0 or a store error. */
static inline int fixture_outcome(struct store *st, struct fixture_outcome *o)
{
	struct store_txn t;
	enum store_slot live;
	uint64_t gen;
	*o = (struct fixture_outcome){.digest = 0xcbf29ce484222325u};
	int rc = store_read_begin(st, &t);
	if (rc)
		return rc;
	if ((rc = evlog_last_seq(&t, &o->log)) == 0 &&
	    (rc = rejections_count(&t, &o->rejections)) == 0 &&
	    (rc = proj_live(&t, &live, &gen)) == 0)
		rc = proj_campaign_each(&t, live, fixture_add_campaign, o);
	store_abort(&t);
	return rc;
}

/* verify_run on st, replaying into a scratch dir of its own. 0 or a store error. */
static inline int fixture_verify(struct store *st, struct verify_report *rep)
{
	char scratch[300];
	struct slot_options opt = {0};
	fixture_tmpdir(scratch, sizeof scratch);
	rmdir(scratch); /* verify_run makes it, and removes it */
	return verify_run(st, scratch, &opt, rep);
}

/* Whether verify finds the live projections equal to a replay of the log;
 * says what differs when they are not. */
static inline bool fixture_verified(struct store *st)
{
	struct verify_report rep;
	int rc = fixture_verify(st, &rep);
	if (rc == 0 && rep.differs)
		fprintf(stderr, "verify: %s\n", rep.diff);
	return rc == 0 && rep.replay.result.outcome == REPLAY_OK && !rep.differs;
}

#endif
