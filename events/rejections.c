/*
 * rejections.c — keep and read refused messages.
 *
 * Record: the evlog header (with its checksum), then (little-endian)
 * u16 reason, u16 detail_len, u16 key_len (0xffff: no key), u8 id_len,
 * u8 type (0: unknown, else the event type + 1), followed by the topic,
 * detail, key, event id and raw bytes.
 */
#include "rejections.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "bytes.h"
#include "event_names.h"
#include "pl_error.h"

#define NO_KEY 0xffffu
#define TAIL_SIZE 8

/* What one record holds besides its source: the fields of the tail. */
struct record {
	enum pl_reason reason;
	const char *detail;
	size_t detail_len;
	const void *key; /* NULL: no key */
	size_t key_len;
	struct pl_str id;
	int type; /* 0 unknown, else the event type + 1 */
	const void *raw;
	size_t raw_len;
};

/* The id and type a decoder read of a message before it stopped. */
static void take_id_type(const struct pl_event *ev, struct record *r)
{
	r->id = ev && pl_event_has(ev, PL_F_ID) ? pl_event_str(ev, PL_F_ID) : (struct pl_str){"", 0};
	r->type = ev && pl_event_has(ev, PL_F_TYPE) &&
			  pl_type_from_name(pl_event_str(ev, PL_F_TYPE).ptr,
					    pl_event_str(ev, PL_F_TYPE).len) >= 0
		  ? (int)ev->type + 1
		  : 0;
	if (r->id.len > PL_MAX_ID_BYTES)
		r->id.len = 0;
}

static void write_record(struct store_txn *t, uint64_t seq, unsigned flags,
			 const struct evlog_source *src, int64_t at, const struct record *r,
			 bool erased)
{
	size_t size = EVLOG_HEADER_SIZE + TAIL_SIZE + src->topic_len + r->detail_len +
		      (r->key ? r->key_len : 0) + r->id.len + r->raw_len;
	uint8_t kb[8];
	bytes_put_be64(kb, seq);
	uint8_t *record = store_reserve(t, STORE_DB_REJECTIONS, kb, sizeof kb, size, flags);
	if (!record)
		return;
	uint8_t *p = record;
	evlog_header_write(p, src, at);
	if (erased)
		p[1] = EVLOG_F_ERASED;
	p += EVLOG_HEADER_SIZE;
	bytes_put_le16(p, (uint16_t)r->reason);
	bytes_put_le16(p + 2, (uint16_t)r->detail_len);
	bytes_put_le16(p + 4, r->key ? (uint16_t)r->key_len : NO_KEY);
	p[6] = (uint8_t)r->id.len;
	p[7] = (uint8_t)r->type;
	p += TAIL_SIZE;
	memcpy(p, src->topic, src->topic_len);
	p += src->topic_len;
	memcpy(p, r->detail, r->detail_len);
	p += r->detail_len;
	if (r->key) {
		memcpy(p, r->key, r->key_len);
		p += r->key_len;
	}
	memcpy(p, r->id.ptr, r->id.len);
	p += r->id.len;
	if (r->raw_len)
		memcpy(p, r->raw, r->raw_len);
	evlog_seal(record, size, seq);
}

void rejections_hash(const void *raw, size_t len, uint8_t out[REJECTION_HASH_SIZE])
{
	XXH128_hash_t h = XXH3_128bits(raw, len);
	bytes_put_be64(out, h.high64);
	bytes_put_be64(out + 8, h.low64);
}

void rejections_add(struct store_txn *t, const struct evlog_source *src, int64_t at,
		    const struct pl_rejection *rej, const struct pl_event *ev, const void *key,
		    size_t key_len, const void *raw, size_t raw_len)
{
	uint64_t seq;
	if (rejections_last_seq(t, &seq))
		return;
	/* A key this long is kept cut short, and the detail says so. */
	char detail[sizeof rej->detail + 64];
	if (key && key_len >= NO_KEY)
		snprintf(detail, sizeof detail, "%s (its key of %zu bytes kept cut to %u)", rej->detail,
			 key_len, NO_KEY - 1);
	else
		snprintf(detail, sizeof detail, "%s", rej->detail);
	struct record r = {.reason = rej->reason, .detail = detail, .detail_len = strlen(detail),
			   .key = key, .key_len = key_len >= NO_KEY ? NO_KEY - 1 : key_len, .raw = raw,
			   /* A hostile producer's huge message is kept only in part: enough to
			    * see what it was, not enough to fill the disk (its detail gives the
			    * size). */
			   .raw_len = raw_len > REJECTION_RAW_MAX ? REJECTION_RAW_MAX : raw_len};
	take_id_type(ev, &r);
	/* APPEND: sequences only grow, and a wrong one fails loudly. */
	write_record(t, seq + 1, MDB_APPEND, src, at, &r, false);
}

int rejections_upgrade_entry(struct store_txn *t, const MDB_val *key, const MDB_val *val)
{
	const uint8_t *p = val->mv_data;
	struct evlog_source src;
	int64_t at;
	if (val->mv_size >= 1 && p[0] != 1)
		return 1; /* current already */
	if (key->mv_size != 8 || evlog_v1_header_read(p, val->mv_size, &src, &at) ||
	    val->mv_size < EVLOG_V1_HEADER_SIZE + TAIL_SIZE)
		return store_txn_fail(t, PL_ECORRUPT);
	/* The put below reuses the page val points into: copy it first. */
	uint8_t *old = malloc(val->mv_size);
	if (!old)
		return store_txn_fail(t, PL_ENOMEM);
	memcpy(old, p, val->mv_size);
	const uint8_t *tail = old + EVLOG_V1_HEADER_SIZE;
	uint16_t key_len = bytes_get_le16(tail + 4);
	struct record r = {.reason = (enum pl_reason)bytes_get_le16(tail),
			   .detail_len = bytes_get_le16(tail + 2),
			   .key_len = key_len == NO_KEY ? 0 : key_len};
	size_t used = EVLOG_V1_HEADER_SIZE + TAIL_SIZE + src.topic_len + r.detail_len + r.key_len;
	if (used > val->mv_size) {
		free(old);
		return store_txn_fail(t, PL_ECORRUPT);
	}
	src.topic = (const char *)tail + TAIL_SIZE;
	r.detail = src.topic + src.topic_len;
	r.key = key_len == NO_KEY ? NULL : r.detail + r.detail_len;
	r.raw = old + used;
	r.raw_len = val->mv_size - used;
	struct pl_event ev;
	struct pl_rejection ignored;
	pl_event_decode(r.raw, r.raw_len, NULL, 0, &ev, &ignored);
	take_id_type(&ev, &r);
	write_record(t, bytes_get_be64(key->mv_data), 0, &src, at, &r, false);
	free(old);
	return t->err;
}

int rejections_parse(const MDB_val *key, const MDB_val *val, struct rejection_entry *e)
{
	const uint8_t *p = val->mv_data;
	size_t len = val->mv_size;
	if (key->mv_size != 8 || len < EVLOG_HEADER_SIZE + TAIL_SIZE)
		return PL_ECORRUPT;
	e->seq = bytes_get_be64(key->mv_data);
	if (evlog_header_read(p, len, &e->src, &e->at))
		return PL_ECORRUPT;
	if (!evlog_sealed(p, len, e->seq))
		return PL_ECHECKSUM;
	const uint8_t *tail = p + EVLOG_HEADER_SIZE;
	e->reason = (enum pl_reason)bytes_get_le16(tail);
	e->detail_len = bytes_get_le16(tail + 2);
	uint16_t key_len = bytes_get_le16(tail + 4);
	e->has_key = key_len != NO_KEY;
	e->key_len = e->has_key ? key_len : 0;
	size_t id_len = tail[6];
	e->event_type = tail[7] ? tail[7] - 1 : -1;
	size_t used = EVLOG_HEADER_SIZE + TAIL_SIZE + e->src.topic_len + e->detail_len + e->key_len +
		      id_len;
	if (used > len || e->reason <= PL_R_NONE || e->reason >= PL_REASON_COUNT ||
	    e->event_type >= PL_EVENT_TYPE_COUNT)
		return PL_ECORRUPT;
	e->src.topic = (const char *)tail + TAIL_SIZE;
	e->detail = e->src.topic + e->src.topic_len;
	e->key = e->has_key ? e->detail + e->detail_len : NULL;
	e->event_id = (struct pl_str){e->detail + e->detail_len + e->key_len, (uint32_t)id_len};
	e->erased = evlog_header_erased(p);
	e->raw = p + used;
	e->raw_len = len - used;
	e->erased_hash = NULL;
	if (e->erased) {
		if (e->raw_len == REJECTION_HASH_SIZE)
			e->erased_hash = e->raw;
		e->raw_len = 0;
	}
	return PL_OK;
}

int rejections_count(struct store_txn *t, uint64_t *count)
{
	return store_entries(t, STORE_DB_REJECTIONS, count);
}

int rejections_last_seq(struct store_txn *t, uint64_t *seq)
{
	MDB_val k, v;
	*seq = 0;
	int rc = store_last(t, STORE_DB_REJECTIONS, &k, &v);
	if (rc == PL_ENOTFOUND)
		return PL_OK;
	if (rc)
		return rc;
	if (k.mv_size != 8)
		return store_txn_fail(t, PL_ECORRUPT);
	*seq = bytes_get_be64(k.mv_data);
	return PL_OK;
}

struct rejection_walk {
	struct store_txn *t;
	int (*fn)(const struct rejection_entry *e, void *arg);
	void *arg;
};

static int walk_rejection(const MDB_val *key, const MDB_val *val, void *arg)
{
	struct rejection_walk *w = arg;
	struct rejection_entry e;
	int rc = rejections_parse(key, val, &e);
	return rc ? store_txn_fail(w->t, rc) : w->fn(&e, w->arg);
}

int rejections_each(struct store_txn *t, uint64_t before,
		    int (*fn)(const struct rejection_entry *e, void *arg), void *arg)
{
	uint8_t key[8];
	MDB_val from = {sizeof key, key};
	struct rejection_walk w = {t, fn, arg};
	if (before == 1)
		return PL_OK; /* nothing is older than the first */
	if (before)
		bytes_put_be64(key, before - 1);
	return store_each(t, STORE_DB_REJECTIONS, before ? &from : NULL, true, walk_rejection, &w);
}

int rejections_each_after(struct store_txn *t, uint64_t after,
			  int (*fn)(const struct rejection_entry *e, void *arg), void *arg)
{
	uint8_t key[8];
	MDB_val from = {sizeof key, key};
	struct rejection_walk w = {t, fn, arg};
	if (after == UINT64_MAX)
		return PL_OK;
	bytes_put_be64(key, after + 1);
	return store_each(t, STORE_DB_REJECTIONS, &from, false, walk_rejection, &w);
}

/* The sequences of the rejections an erasure rewrites, found before any is. */
struct erase_walk {
	struct pl_str supporter;
	const struct evlog_source *only_from;
	uint64_t *seqs;
	size_t count, cap;
	int err;
};

static int find_named(const struct rejection_entry *e, void *arg)
{
	struct erase_walk *w = arg;
	/* A message kept cut short may name them past the part kept: its bytes
	 * go with every erasure. */
	bool cut = e->raw_len >= REJECTION_RAW_MAX;
	if ((w->only_from && !evlog_same_source(&e->src, w->only_from)) ||
	    (!cut && !pl_bytes_name(e->raw, e->raw_len, w->supporter)))
		return 0;
	if (w->count == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 64;
		uint64_t *seqs = realloc(w->seqs, cap * sizeof *seqs);
		if (!seqs)
			return w->err = PL_ENOMEM;
		w->seqs = seqs;
		w->cap = cap;
	}
	w->seqs[w->count++] = e->seq;
	return 0;
}

/* Writes rejection seq again without its raw bytes, marked erased, with
 * their hash when they were kept whole: `pledged import` of the same line
 * again then knows it was rejected, and does not apply it now. */
static void erase_one(struct store_txn *t, uint64_t seq)
{
	uint8_t kb[8];
	MDB_val k = {sizeof kb, kb}, v;
	struct rejection_entry e;
	bytes_put_be64(kb, seq);
	if (store_get(t, STORE_DB_REJECTIONS, kb, sizeof kb, &v))
		return;
	/* The entry would point into the page the delete frees: parse a copy. */
	uint8_t *old = malloc(v.mv_size);
	if (!old) {
		store_txn_fail(t, PL_ENOMEM);
		return;
	}
	memcpy(old, v.mv_data, v.mv_size);
	MDB_val copy = {v.mv_size, old};
	if (rejections_parse(&k, &copy, &e)) {
		free(old);
		store_txn_fail(t, PL_ECORRUPT);
		return;
	}
	struct record r = {.reason = e.reason, .detail = e.detail, .detail_len = e.detail_len,
			   .key = e.has_key ? e.key : NULL, .key_len = e.key_len,
			   .id = e.event_id, .type = e.event_type + 1};
	uint8_t hash[REJECTION_HASH_SIZE];
	if (e.raw_len < REJECTION_RAW_MAX) {
		rejections_hash(e.raw, e.raw_len, hash);
		r.raw = hash;
		r.raw_len = sizeof hash;
	}
	store_del(t, STORE_DB_REJECTIONS, kb, sizeof kb);
	write_record(t, seq, 0, &e.src, e.at, &r, true);
	free(old);
}

int rejections_erase(struct store_txn *t, struct pl_str supporter,
		     const struct evlog_source *only_from, uint64_t *count)
{
	struct erase_walk w = {supporter, only_from};
	int rc = rejections_each_after(t, 0, find_named, &w);
	if (rc == 0 && w.err)
		rc = store_txn_fail(t, w.err);
	for (size_t i = 0; rc == 0 && i < w.count; i++) {
		erase_one(t, w.seqs[i]);
		rc = t->err;
	}
	*count = w.count;
	free(w.seqs);
	return rc;
}

#define FORWARDED_KEY "dlq.forwarded"

int rejections_forwarded_get(struct store_txn *t, uint64_t *seq, bool *known)
{
	MDB_val v;
	*seq = 0;
	*known = false;
	int rc = store_get(t, STORE_DB_META, FORWARDED_KEY, strlen(FORWARDED_KEY), &v);
	if (rc == PL_ENOTFOUND)
		return PL_OK;
	if (rc)
		return rc;
	if (v.mv_size != 8)
		return store_txn_fail(t, PL_ECORRUPT);
	*seq = bytes_get_be64(v.mv_data);
	*known = true;
	return PL_OK;
}

void rejections_forwarded_put(struct store_txn *t, uint64_t seq)
{
	uint8_t v[8];
	bytes_put_be64(v, seq);
	store_put(t, STORE_DB_META, FORWARDED_KEY, strlen(FORWARDED_KEY), v, sizeof v, 0);
}

struct page_fill {
	struct rejection_page *page;
	unsigned limit;
	size_t bytes;
};

static int add_to_page(const struct rejection_entry *e, void *arg)
{
	struct page_fill *f = arg;
	struct rejection_page *page = f->page;
	if (page->count == f->limit || f->bytes >= REJECTIONS_PAGE_BYTES) {
		page->has_next = true;
		page->next = page->items[page->count - 1].seq;
		return 1;
	}
	f->bytes += e->raw_len + e->key_len + e->detail_len;
	page->items[page->count++] = *e;
	return 0;
}

int rejections_page(struct store_txn *t, uint64_t before, unsigned limit,
		    struct rejection_page *page)
{
	struct page_fill f = {page, limit, 0};
	page->count = 0;
	page->has_next = false;
	if (limit < 1 || limit > REJECTIONS_PAGE_MAX)
		return PL_EINVAL;
	return rejections_each(t, before, add_to_page, &f);
}

struct check_walk {
	struct store_txn *t;
	uint64_t next; /* the sequence the next rejection must have */
	uint64_t *bad;
};

/* Sound, in its place (rejections are numbered from 1 without gaps, as the
 * log is), and found there by a seek, which paging and the dead-letter
 * queue make through LMDB's branch pages that a walk does not read. */
static int check_one(const MDB_val *key, const MDB_val *val, void *arg)
{
	struct check_walk *w = arg;
	struct rejection_entry e;
	if (rejections_parse(key, val, &e) || bytes_get_be64(key->mv_data) != w->next ||
	    !store_seek_finds(w->t, STORE_DB_REJECTIONS, key, val)) {
		*w->bad = w->next;
		return 1;
	}
	w->next++;
	return 0;
}

int rejections_check(struct store_txn *t, uint64_t *bad)
{
	struct check_walk w = {t, 1, bad};
	*bad = 0;
	return store_each(t, STORE_DB_REJECTIONS, NULL, false, check_one, &w);
}
