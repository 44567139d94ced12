/*
 * rejections.c — keep and read refused messages.
 *
 * Record: the evlog source header, then (little-endian) u16 reason,
 * u16 detail_len, u16 key_len (0xffff: no key), u16 0, followed by the
 * topic, detail, key and raw bytes.
 */
#include "rejections.h"

#include <string.h>

#include "bytes.h"
#include "pl_error.h"

#define NO_KEY 0xffff
#define TAIL_SIZE 8

void rejections_add(struct store_txn *t, const struct evlog_source *src, int64_t at,
		    const struct pl_rejection *rej, const void *key, size_t key_len,
		    const void *raw, size_t raw_len)
{
	uint64_t seq;
	if (rejections_last_seq(t, &seq))
		return;
	if (key_len >= NO_KEY)
		key_len = NO_KEY - 1; /* keys this long are kept cut short */
	/* A hostile producer's huge message is kept only in part: enough to see
	 * what it was, not enough to fill the disk (its detail gives the size). */
	if (raw_len > REJECTION_RAW_MAX)
		raw_len = REJECTION_RAW_MAX;
	size_t detail_len = strnlen(rej->detail, sizeof rej->detail);
	size_t size = EVLOG_HEADER_SIZE + TAIL_SIZE + src->topic_len + detail_len +
		      (key ? key_len : 0) + raw_len;
	uint8_t kb[8];
	bytes_put_be64(kb, seq + 1);
	uint8_t *p = store_reserve(t, STORE_DB_REJECTIONS, kb, sizeof kb, size, MDB_APPEND);
	if (!p)
		return;
	evlog_header_write(p, src, at);
	p += EVLOG_HEADER_SIZE;
	bytes_put_le16(p, (uint16_t)rej->reason);
	bytes_put_le16(p + 2, (uint16_t)detail_len);
	bytes_put_le16(p + 4, key ? (uint16_t)key_len : NO_KEY);
	bytes_put_le16(p + 6, 0);
	p += TAIL_SIZE;
	memcpy(p, src->topic, src->topic_len);
	p += src->topic_len;
	memcpy(p, rej->detail, detail_len);
	p += detail_len;
	if (key) {
		memcpy(p, key, key_len);
		p += key_len;
	}
	if (raw_len)
		memcpy(p, raw, raw_len);
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
	const uint8_t *tail = p + EVLOG_HEADER_SIZE;
	e->reason = (enum pl_reason)bytes_get_le16(tail);
	e->detail_len = bytes_get_le16(tail + 2);
	uint16_t key_len = bytes_get_le16(tail + 4);
	e->has_key = key_len != NO_KEY;
	e->key_len = e->has_key ? key_len : 0;
	size_t used = EVLOG_HEADER_SIZE + TAIL_SIZE + e->src.topic_len + e->detail_len + e->key_len;
	if (used > len || e->reason <= PL_R_NONE || e->reason >= PL_REASON_COUNT)
		return PL_ECORRUPT;
	e->src.topic = (const char *)tail + TAIL_SIZE;
	e->detail = e->src.topic + e->src.topic_len;
	e->key = e->has_key ? e->detail + e->detail_len : NULL;
	e->raw = p + used;
	e->raw_len = len - used;
	return PL_OK;
}

int rejections_count(struct store_txn *t, uint64_t *count)
{
	MDB_stat ms;
	if (t->err)
		return t->err;
	int rc = mdb_stat(t->txn, store_dbi(t, STORE_DB_REJECTIONS), &ms);
	if (rc)
		return store_txn_fail(t, store_error(rc));
	*count = ms.ms_entries;
	return PL_OK;
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
	if (rejections_parse(key, val, &e))
		return store_txn_fail(w->t, PL_ECORRUPT);
	return w->fn(&e, w->arg);
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

struct page_fill {
	struct rejection_page *page;
	unsigned limit;
};

static int add_to_page(const struct rejection_entry *e, void *arg)
{
	struct page_fill *f = arg;
	struct rejection_page *page = f->page;
	if (page->count == f->limit) {
		page->has_next = true;
		page->next = page->items[page->count - 1].seq;
		return 1;
	}
	page->items[page->count++] = *e;
	return 0;
}

int rejections_page(struct store_txn *t, uint64_t before, unsigned limit,
		    struct rejection_page *page)
{
	struct page_fill f = {page, limit};
	page->count = 0;
	page->has_next = false;
	if (limit < 1 || limit > REJECTIONS_PAGE_MAX)
		return PL_EINVAL;
	return rejections_each(t, before, add_to_page, &f);
}
