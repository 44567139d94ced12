/*
 * fixture.h — a throw-away data dir and a way to feed it JSON events through
 * the real ingest path, for tests.
 */
#ifndef FIXTURE_H
#define FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event_codec.h"
#include "ingest.h"
#include "pl_error.h"
#include "proj_read.h"
#include "store.h"

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

/* Removes a data dir made by fixture_store (it holds only LMDB's files). */
static inline void fixture_remove(const char *dir)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	remove(path);
	snprintf(path, sizeof path, "%s/lock.mdb", dir);
	remove(path);
	remove(dir);
}

/*
 * Ingests one JSON event as a message at offset on partition 0 of topic
 * "test" (key: the given key, or none). Returns the rejection reason, or
 * PL_R_NONE when it was applied, or -1 when it was a duplicate.
 */
static inline int fixture_ingest_keyed(struct store *st, const char *json, const char *key,
				       int64_t offset)
{
	msgpack_sbuffer buf;
	char err[160];
	struct ingest_stats stats;
	msgpack_sbuffer_init(&buf);
	if (pl_json_to_msgpack(json, strlen(json), &buf, err, sizeof err)) {
		fprintf(stderr, "fixture: bad JSON %s: %s\n", json, err);
		abort();
	}
	struct ingest_msg m = {.src = {"test", 4, 0, offset},
			       .key = key,
			       .key_len = key ? strlen(key) : 0,
			       .value = buf.data,
			       .value_len = buf.size};
	int rc = ingest_batch(st, &m, 1, "cluster-a", 1700000000000, &stats);
	msgpack_sbuffer_destroy(&buf);
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

static inline int fixture_ingest(struct store *st, const char *json)
{
	static int64_t offset;
	return fixture_ingest_keyed(st, json, NULL, offset++);
}

/* Reads a campaign's summary into *c (strings copied out are not needed by callers). */
static inline int fixture_campaign(struct store *st, const char *id, struct proj_campaign *c)
{
	struct store_txn t;
	if (store_read_begin(st, &t))
		return PL_EIO;
	int rc = proj_campaign_get(&t, PROJ_LIVE, (struct pl_str){id, (uint32_t)strlen(id)}, c);
	/* Only the numbers are used after the txn ends. */
	c->id = c->info.title = c->info.owner = c->info.location = c->info.currency =
		(struct pl_str){"", 0};
	store_abort(&t);
	return rc;
}

#endif
