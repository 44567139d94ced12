/* evlog.c — append and read the event log, its ids and source offsets; see evlog.h. */
#include "evlog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* XXH3_state_t on the stack needs its definition. */
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "bytes.h"
#include "fp.h"
#include "pl_error.h"

#define RECORD_FORMAT 2
#define CHECKSUM_AT 24

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
	bytes_put_le64(p + CHECKSUM_AT, 0);
}

/* XXH3 of seq (big-endian), the record's header with the checksum as zeros,
 * and its rest. One call over a copy for the usual record: XXH3's streaming
 * state costs more than hashing a few hundred bytes (same hash either way). */
static uint64_t checksum(const uint8_t *record, size_t len, uint64_t seq)
{
	uint8_t flat[8 + 512];
	if (len <= sizeof flat - 8) {
		bytes_put_be64(flat, seq);
		memcpy(flat + 8, record, len);
		bytes_put_le64(flat + 8 + CHECKSUM_AT, 0);
		return XXH3_64bits(flat, 8 + len);
	}
	uint8_t seq_be[8], zero[8] = {0};
	XXH3_state_t state;
	bytes_put_be64(seq_be, seq);
	XXH3_64bits_reset(&state);
	XXH3_64bits_update(&state, seq_be, sizeof seq_be);
	XXH3_64bits_update(&state, record, CHECKSUM_AT);
	XXH3_64bits_update(&state, zero, sizeof zero);
	XXH3_64bits_update(&state, record + EVLOG_HEADER_SIZE, len - EVLOG_HEADER_SIZE);
	return XXH3_64bits_digest(&state);
}

void evlog_seal(uint8_t *record, size_t len, uint64_t seq)
{
	bytes_put_le64(record + CHECKSUM_AT, checksum(record, len, seq));
}

bool evlog_sealed(const uint8_t *record, size_t len, uint64_t seq)
{
	return len >= EVLOG_HEADER_SIZE &&
	       bytes_get_le64(record + CHECKSUM_AT) == checksum(record, len, seq);
}

/* Both formats share the first 24 bytes; format 2 adds the checksum. */
static int header_read(const uint8_t *p, size_t len, size_t header, uint8_t format,
		       struct evlog_source *src, int64_t *at)
{
	if (len < header || p[0] != format)
		return PL_ECORRUPT;
	src->topic_len = bytes_get_le16(p + 2);
	if (len < header + src->topic_len)
		return PL_ECORRUPT;
	uint32_t part = 0;
	for (int i = 3; i >= 0; i--)
		part = (part << 8) | p[4 + i];
	src->partition = (int32_t)part;
	src->offset = (int64_t)bytes_get_le64(p + 8);
	*at = (int64_t)bytes_get_le64(p + 16);
	src->topic = (const char *)p + header;
	return PL_OK;
}

int evlog_v1_header_read(const uint8_t *p, size_t len, struct evlog_source *src, int64_t *at)
{
	return header_read(p, len, EVLOG_V1_HEADER_SIZE, 1, src, at);
}

int evlog_header_read(const uint8_t *p, size_t len, struct evlog_source *src, int64_t *at)
{
	return header_read(p, len, EVLOG_HEADER_SIZE, RECORD_FORMAT, src, at);
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
	evlog_seal(p, size, seq);
}

int evlog_upgrade_entry(struct store_txn *t, const MDB_val *key, const MDB_val *val)
{
	struct evlog_source src;
	int64_t at;
	const uint8_t *p = val->mv_data;
	if (val->mv_size >= 1 && p[0] == RECORD_FORMAT)
		return 1;
	if (key->mv_size != 8 || evlog_v1_header_read(p, val->mv_size, &src, &at))
		return store_txn_fail(t, PL_ECORRUPT);
	/* The put below reuses the page val points into: copy it first. */
	uint8_t *old = malloc(val->mv_size);
	if (!old)
		return store_txn_fail(t, PL_ENOMEM);
	memcpy(old, p, val->mv_size);
	size_t head = EVLOG_V1_HEADER_SIZE + src.topic_len, raw_len = val->mv_size - head;
	src.topic = (const char *)old + EVLOG_V1_HEADER_SIZE;
	/* The key too points into the page the put rewrites. */
	uint8_t kb[8];
	memcpy(kb, key->mv_data, sizeof kb);
	uint64_t seq = bytes_get_be64(kb);
	size_t size = EVLOG_HEADER_SIZE + src.topic_len + raw_len;
	uint8_t *q = store_reserve(t, STORE_DB_LOG, kb, sizeof kb, size, 0);
	if (q) {
		evlog_header_write(q, &src, at);
		memcpy(q + EVLOG_HEADER_SIZE, src.topic, src.topic_len);
		memcpy(q + EVLOG_HEADER_SIZE + src.topic_len, old + head, raw_len);
		evlog_seal(q, size, seq);
	}
	free(old);
	return t->err;
}

int evlog_parse(const MDB_val *key, const MDB_val *val, struct evlog_entry *e)
{
	if (key->mv_size != 8)
		return PL_ECORRUPT;
	e->seq = bytes_get_be64(key->mv_data);
	int rc = evlog_header_read(val->mv_data, val->mv_size, &e->src, &e->appended_at);
	if (rc)
		return rc;
	if (!evlog_sealed(val->mv_data, val->mv_size, e->seq))
		return PL_ECHECKSUM;
	size_t head = EVLOG_HEADER_SIZE + e->src.topic_len;
	e->erased = evlog_header_erased(val->mv_data);
	e->raw = (const uint8_t *)val->mv_data + head;
	e->raw_len = val->mv_size - head;
	return PL_OK;
}

void evlog_erase_entry(struct store_txn *t, const struct evlog_entry *e, const void *raw,
		       size_t raw_len)
{
	/* e points into the page the delete frees: keep what the new record needs. */
	char topic[UINT16_MAX];
	struct evlog_source src = e->src;
	memcpy(topic, src.topic, src.topic_len);
	src.topic = topic;
	uint64_t seq = e->seq;
	int64_t at = e->appended_at;
	uint8_t key[8];
	bytes_put_be64(key, seq);
	store_del(t, STORE_DB_LOG, key, sizeof key);
	size_t size = EVLOG_HEADER_SIZE + src.topic_len + raw_len;
	uint8_t *p = store_reserve(t, STORE_DB_LOG, key, sizeof key, size, 0);
	if (!p)
		return;
	evlog_header_write(p, &src, at);
	p[1] = EVLOG_F_ERASED;
	memcpy(p + EVLOG_HEADER_SIZE, topic, src.topic_len);
	memcpy(p + EVLOG_HEADER_SIZE + src.topic_len, raw, raw_len);
	evlog_seal(p, size, seq);
}

struct entry_walk {
	int (*fn)(const struct evlog_entry *e, void *arg);
	void *arg;
	uint64_t *bad_seq;
	uint64_t next_seq; /* the sequence the next entry must have */
};

static int walk_entry(const MDB_val *key, const MDB_val *val, void *arg)
{
	struct entry_walk *w = arg;
	struct evlog_entry e;
	int rc = evlog_parse(key, val, &e);
	/* The log is dense, 1 to its last: an entry out of its place is damage
	 * to LMDB's pages that moved or hid entries, though each is sound. */
	if (rc == 0 && e.seq != w->next_seq)
		rc = PL_ECORRUPT;
	if (rc) {
		/* Entries follow one another: a damaged one is the one after the
		 * last good one, whatever its damaged key says. */
		if (w->bad_seq)
			*w->bad_seq = w->next_seq;
		return rc;
	}
	w->next_seq = e.seq + 1;
	return w->fn(&e, w->arg);
}

int evlog_each(struct store_txn *t, uint64_t from_seq,
	       int (*fn)(const struct evlog_entry *e, void *arg), void *arg, uint64_t *bad_seq)
{
	uint8_t key[8];
	MDB_val from = {sizeof key, key};
	struct entry_walk w = {fn, arg, bad_seq, from_seq ? from_seq : 1};
	bytes_put_be64(key, from_seq);
	return store_each(t, STORE_DB_LOG, &from, false, walk_entry, &w);
}

int evlog_get(struct store_txn *t, uint64_t seq, struct evlog_entry *e)
{
	uint8_t key[8];
	MDB_val k = {sizeof key, key}, v;
	bytes_put_be64(key, seq);
	int rc = store_get(t, STORE_DB_LOG, key, sizeof key, &v);
	return rc ? rc : evlog_parse(&k, &v, e);
}

struct seek_check {
	struct store_txn *t;
	uint64_t *bad_seq;
};

static int seek_entry(const struct evlog_entry *e, void *arg)
{
	struct seek_check *c = arg;
	uint8_t key[8];
	bytes_put_be64(key, e->seq);
	MDB_val k = {sizeof key, key}, payload = {e->raw_len, (void *)e->raw};
	if (store_seek_finds(c->t, STORE_DB_LOG, &k, &payload))
		return 0;
	*c->bad_seq = e->seq;
	return PL_ECORRUPT;
}

int evlog_check_seeks(struct store_txn *t, uint64_t *bad_seq)
{
	struct seek_check c = {t, bad_seq};
	*bad_seq = 0;
	return evlog_each(t, 1, seek_entry, &c, bad_seq);
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

struct index_kind_def evlog_id_kind(enum store_slot slot)
{
	/* Looked up for every event, found only for a re-delivery. */
	return (struct index_kind_def){"event ids", store_slot_db(slot, SLOT_EVENT_IDS), 0,
				       .mostly_missed = true};
}

/* The fingerprint kind of event ids (fp.h: kinds keep id spaces apart). */
#define FP_KIND_EVENT_ID 1

void evlog_id_fp(struct pl_str id, struct fp *out)
{
	fp_of(out, FP_KIND_EVENT_ID, id.ptr, id.len);
}

bool evlog_same_source(const struct evlog_source *a, const struct evlog_source *b)
{
	return a->partition == b->partition && a->topic_len == b->topic_len &&
	       memcmp(a->topic, b->topic, a->topic_len) == 0;
}

void evlog_copy_id_fp(struct pl_str id, const struct evlog_source *src, struct fp *out)
{
	uint8_t key[PL_MAX_ID_BYTES + 1 + 255 + 4];
	size_t topic_len = src->topic_len < 255 ? src->topic_len : 255;
	size_t id_len = id.len < PL_MAX_ID_BYTES ? id.len : PL_MAX_ID_BYTES;
	memcpy(key, id.ptr, id_len);
	key[id_len] = 0xff;
	memcpy(key + id_len + 1, src->topic, topic_len);
	bytes_put_be32(key + id_len + 1 + topic_len, (uint32_t)src->partition);
	fp_of(out, FP_KIND_EVENT_ID, key, id_len + 1 + topic_len + 4);
}

int evlog_id_claim(struct index *ix, struct store_txn *t, int id_kind, const struct fp *id)
{
	uint8_t none[1];
	int rc = index_get(ix, t, id_kind, id, none);
	if (rc == 0)
		return PL_EEXIST;
	if (rc != PL_ENOTFOUND)
		return rc;
	return index_put(ix, id_kind, id, none);
}

void evlog_id_prefetch(const struct index *ix, int id_kind, const struct fp *id)
{
	index_prefetch(ix, id_kind, id);
}

int evlog_id_release(struct index *ix, int id_kind, const struct fp *id)
{
	return index_unput(ix, id_kind, id);
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
