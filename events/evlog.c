/*
 * evlog.c — append and read the event log, its id index and source offsets.
 *
 * Record header (little-endian, EVLOG_HEADER_SIZE bytes):
 *   u8 format=1, u8 0, u16 topic_len, i32 partition, i64 offset, i64 time
 * followed by the topic name and then the payload.
 */
#include "evlog.h"

#include <stdio.h>
#include <string.h>

#include "bytes.h"
#include "pl_error.h"

#define RECORD_FORMAT 1

void evlog_header_write(uint8_t *p, const struct evlog_source *src, int64_t at)
{
	p[0] = RECORD_FORMAT;
	p[1] = 0;
	bytes_put_le16(p + 2, (uint16_t)src->topic_len);
	uint32_t part = (uint32_t)src->partition;
	for (int i = 0; i < 4; i++)
		p[4 + i] = (uint8_t)(part >> (8 * i));
	bytes_put_le64(p + 8, (uint64_t)src->offset);
	bytes_put_le64(p + 16, (uint64_t)at);
}

int evlog_header_read(const uint8_t *p, size_t len, struct evlog_source *src, int64_t *at)
{
	if (len < EVLOG_HEADER_SIZE || p[0] != RECORD_FORMAT)
		return PL_ECORRUPT;
	src->topic_len = bytes_get_le16(p + 2);
	if (len < EVLOG_HEADER_SIZE + src->topic_len)
		return PL_ECORRUPT;
	uint32_t part = 0;
	for (int i = 3; i >= 0; i--)
		part = (part << 8) | p[4 + i];
	src->partition = (int32_t)part;
	src->offset = (int64_t)bytes_get_le64(p + 8);
	*at = (int64_t)bytes_get_le64(p + 16);
	src->topic = (const char *)p + EVLOG_HEADER_SIZE;
	return PL_OK;
}

void evlog_append(struct store_txn *t, uint64_t seq, const struct evlog_source *src,
		  int64_t appended_at, const void *raw, size_t raw_len)
{
	uint8_t key[8];
	bytes_put_be64(key, seq);
	size_t size = EVLOG_HEADER_SIZE + src->topic_len + raw_len;
	/* APPEND keeps the B-tree dense; a seq out of order fails with EEXIST. */
	uint8_t *p = store_reserve(t, STORE_DB_LOG, key, sizeof key, size, MDB_APPEND);
	if (!p)
		return;
	evlog_header_write(p, src, appended_at);
	memcpy(p + EVLOG_HEADER_SIZE, src->topic, src->topic_len);
	memcpy(p + EVLOG_HEADER_SIZE + src->topic_len, raw, raw_len);
}

int evlog_parse(const MDB_val *key, const MDB_val *val, struct evlog_entry *e)
{
	if (key->mv_size != 8)
		return PL_ECORRUPT;
	e->seq = bytes_get_be64(key->mv_data);
	int rc = evlog_header_read(val->mv_data, val->mv_size, &e->src, &e->appended_at);
	if (rc)
		return rc;
	size_t head = EVLOG_HEADER_SIZE + e->src.topic_len;
	e->raw = (const uint8_t *)val->mv_data + head;
	e->raw_len = val->mv_size - head;
	return PL_OK;
}

struct entry_walk {
	struct store_txn *t;
	int (*fn)(const struct evlog_entry *e, void *arg);
	void *arg;
};

static int walk_entry(const MDB_val *key, const MDB_val *val, void *arg)
{
	struct entry_walk *w = arg;
	struct evlog_entry e;
	if (evlog_parse(key, val, &e))
		return store_txn_fail(w->t, PL_ECORRUPT);
	return w->fn(&e, w->arg);
}

int evlog_each(struct store_txn *t, uint64_t from_seq,
	       int (*fn)(const struct evlog_entry *e, void *arg), void *arg)
{
	uint8_t key[8];
	MDB_val from = {sizeof key, key};
	struct entry_walk w = {t, fn, arg};
	bytes_put_be64(key, from_seq);
	return store_each(t, STORE_DB_LOG, &from, false, walk_entry, &w);
}

int evlog_last_seq(struct store_txn *t, uint64_t *seq)
{
	MDB_val k, v;
	int rc = store_last(t, STORE_DB_LOG, &k, &v);
	if (rc == PL_ENOTFOUND) {
		*seq = 0;
		return PL_OK;
	}
	if (rc)
		return rc;
	if (k.mv_size != 8)
		return store_txn_fail(t, PL_ECORRUPT);
	*seq = bytes_get_be64(k.mv_data);
	return PL_OK;
}

int evlog_id_claim(struct store_txn *t, struct pl_str id, uint64_t seq)
{
	bool exists;
	uint8_t *val = store_reserve_new(t, STORE_DB_EVENT_IDS, id.ptr, id.len, 8, &exists);
	if (exists)
		return PL_EEXIST;
	if (!val)
		return t->err;
	bytes_put_be64(val, seq);
	return PL_OK;
}

void evlog_id_release(struct store_txn *t, struct pl_str id)
{
	store_del(t, STORE_DB_EVENT_IDS, id.ptr, id.len);
}

/* Offset key: topic bytes, then the partition big-endian. */
static size_t offset_key(uint8_t *key, size_t cap, const char *topic, int32_t partition)
{
	size_t n = strlen(topic);
	if (n + 4 > cap)
		n = cap - 4;
	memcpy(key, topic, n);
	bytes_put_be32(key + n, (uint32_t)partition);
	return n + 4;
}

int evlog_offset_get(struct store_txn *t, const char *topic, int32_t partition,
		     struct evlog_offset *off)
{
	uint8_t key[256];
	MDB_val v;
	int rc = store_get(t, STORE_DB_OFFSETS, key, offset_key(key, sizeof key, topic, partition), &v);
	if (rc)
		return rc;
	if (v.mv_size < 8 || v.mv_size - 8 >= sizeof off->cluster)
		return store_txn_fail(t, PL_ECORRUPT);
	off->next = (int64_t)bytes_get_le64(v.mv_data);
	memcpy(off->cluster, (uint8_t *)v.mv_data + 8, v.mv_size - 8);
	off->cluster[v.mv_size - 8] = '\0';
	return PL_OK;
}

void evlog_offset_put(struct store_txn *t, const char *topic, int32_t partition,
		      const struct evlog_offset *off)
{
	uint8_t key[256], val[8 + sizeof off->cluster];
	size_t cluster_len = strnlen(off->cluster, sizeof off->cluster - 1);
	bytes_put_le64(val, (uint64_t)off->next);
	memcpy(val + 8, off->cluster, cluster_len);
	store_put(t, STORE_DB_OFFSETS, key, offset_key(key, sizeof key, topic, partition), val,
		  8 + cluster_len, 0);
}
