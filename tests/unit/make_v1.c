/*
 * make_v1.c — writes a data dir in format 1, as pledged wrote them before
 * format 2, for the upgrade test: every line of a JSON-lines file as an
 * accepted log entry (with its id in event_ids), one rejection, an offset,
 * and stand-ins for the old projection tables.
 *
 *   make_v1 DIR EVENTS.jsonl
 *
 * Format 1, as pledged wrote it: META["format"] = "pledged/1"; LOG maps a
 * big-endian sequence to u8 1, u8 0, u16 topic_len, i32 partition,
 * i64 offset, i64 time (little-endian), the topic, the raw msgpack;
 * REJECTIONS the same header, then u16 reason, u16 detail_len, u16 key_len
 * (0xffff: none), u16 0, the topic, detail, key and raw bytes.
 */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bytes.h"
#include "event_codec.h"

#define TOPIC "import"

static MDB_dbi open_db(MDB_txn *txn, const char *name)
{
	MDB_dbi dbi;
	if (mdb_dbi_open(txn, name, MDB_CREATE, &dbi)) {
		fprintf(stderr, "make_v1: cannot create %s\n", name);
		exit(1);
	}
	return dbi;
}

static void put(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen, const void *v, size_t vlen)
{
	MDB_val key = {klen, (void *)k}, val = {vlen, (void *)v};
	if (mdb_put(txn, dbi, &key, &val, 0)) {
		fprintf(stderr, "make_v1: put failed\n");
		exit(1);
	}
}

/* The format-1 header of a record from source offset at time at. */
static size_t header(uint8_t *p, int64_t offset, int64_t at)
{
	p[0] = 1;
	p[1] = 0;
	bytes_put_le16(p + 2, sizeof TOPIC - 1);
	uint32_t part = (uint32_t)-1;
	for (int i = 0; i < 4; i++)
		p[4 + i] = (uint8_t)(part >> (8 * i));
	bytes_put_le64(p + 8, (uint64_t)offset);
	bytes_put_le64(p + 16, (uint64_t)at);
	memcpy(p + 24, TOPIC, sizeof TOPIC - 1);
	return 24 + sizeof TOPIC - 1;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	FILE *f = fopen(argv[2], "r");
	MDB_env *env;
	MDB_txn *txn;
	if (!f || mkdir(argv[1], 0750) || mdb_env_create(&env) || mdb_env_set_maxdbs(env, 32) ||
	    mdb_env_set_mapsize(env, (size_t)256 << 20) || mdb_env_open(env, argv[1], 0, 0640) ||
	    mdb_txn_begin(env, NULL, 0, &txn)) {
		perror("make_v1");
		return 1;
	}
	MDB_dbi meta = open_db(txn, "meta"), log = open_db(txn, "log"),
		ids = open_db(txn, "event_ids"), offsets = open_db(txn, "offsets"),
		rejections = open_db(txn, "rejections");
	static const char *const old_projections[] = {"campaigns", "totals", "pledges", "supporters",
						      "comments", "comment_ids", "scratch.totals"};
	for (size_t i = 0; i < sizeof old_projections / sizeof old_projections[0]; i++)
		put(txn, open_db(txn, old_projections[i]), "stale", 5, "x", 1);
	put(txn, meta, "format", 6, "pledged/1", 9);

	char *line = NULL, err[160];
	size_t cap = 0;
	uint64_t seq = 0;
	static uint8_t record[65536];
	while (getline(&line, &cap, f) > 1) {
		msgpack_sbuffer buf;
		msgpack_sbuffer_init(&buf);
		json_t *j = json_loads(line, 0, NULL);
		const char *id = json_string_value(json_object_get(j, "id"));
		if (!id || pl_json_to_msgpack(line, strlen(line), &buf, err, sizeof err)) {
			fprintf(stderr, "make_v1: line %llu: %s\n", (unsigned long long)seq + 1, err);
			return 1;
		}
		uint8_t key[8];
		bytes_put_be64(key, ++seq);
		size_t n = header(record, (int64_t)seq, 1700000000000 + (int64_t)seq);
		memcpy(record + n, buf.data, buf.size);
		put(txn, log, key, sizeof key, record, n + buf.size);
		put(txn, ids, id, strlen(id), key, sizeof key);
		json_decref(j);
		msgpack_sbuffer_destroy(&buf);
	}
	free(line);
	fclose(f);

	/* One rejection: a comment by somebody who never pledged. */
	static const char comment[] =
		"{\"v\":1,\"type\":\"comment.posted\",\"id\":\"v1-rejected\",\"at\":1579900000000,"
		"\"campaign\":\"jess-phillips-for-labour-leader\",\"supporter\":\"nobody\","
		"\"comment\":\"c-v1\",\"text\":\"Hello\"}";
	static const char detail[] = "supporter 'nobody' has no pledge standing";
	msgpack_sbuffer buf;
	msgpack_sbuffer_init(&buf);
	pl_json_to_msgpack(comment, sizeof comment - 1, &buf, err, sizeof err);
	size_t n = header(record, (int64_t)seq + 1, 1700000000000);
	uint8_t *tail = record + 24;
	memmove(tail + 8, tail, sizeof TOPIC - 1); /* the tail goes before the topic */
	bytes_put_le16(tail, (uint16_t)pl_reason_from_code("not_a_backer", 12));
	bytes_put_le16(tail + 2, sizeof detail - 1);
	bytes_put_le16(tail + 4, 0xffff);
	bytes_put_le16(tail + 6, 0);
	n += 8;
	memcpy(record + n, detail, sizeof detail - 1);
	n += sizeof detail - 1;
	memcpy(record + n, buf.data, buf.size);
	n += buf.size;
	uint8_t key[8];
	bytes_put_be64(key, 1);
	put(txn, rejections, key, sizeof key, record, n);
	msgpack_sbuffer_destroy(&buf);

	/* Where consumption resumes: topic bytes + big-endian partition → le64 + cluster. */
	uint8_t okey[sizeof TOPIC - 1 + 4], oval[8 + 9];
	memcpy(okey, TOPIC, sizeof TOPIC - 1);
	bytes_put_be32(okey + sizeof TOPIC - 1, 0);
	bytes_put_le64(oval, seq + 2);
	memcpy(oval + 8, "cluster-1", 9);
	put(txn, offsets, okey, sizeof okey, oval, sizeof oval);

	if (mdb_txn_commit(txn)) {
		fprintf(stderr, "make_v1: commit failed\n");
		return 1;
	}
	mdb_env_close(env);
	printf("%llu\n", (unsigned long long)seq);
	return 0;
}
