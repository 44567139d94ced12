/* proj_publish.c — recorded changes to the published rows, and their writing; see proj_publish.h. */
#include "proj_publish.h"

#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "pl_error.h"
#include "proj_history_table.h"

/*
 * A record: its kind (1 byte), its payload's length (4 bytes, native),
 * then the payload. Keys and campaign ids go with a length byte before
 * them; structs are copied as they are (a record never leaves the process).
 */
enum change_kind {
	CHANGE_OPENED,        /* at, id, info row */
	CHANGE_CLOSED,        /* id */
	CHANGE_HISTORY,       /* seq, key, row */
	CHANGE_HISTORY_MERGE, /* key, struct proj_history */
	CHANGE_COMMENT,       /* seq, key, comment row */
	CHANGE_COMMENT_DEL,   /* key */
	CHANGE_TOTALS,        /* id, struct proj_totals */
	CHANGE_PLATFORM,      /* currency (3 bytes), struct proj_platform */
};
enum { RECORD_HEAD = 5 };

void proj_changes_init(struct proj_changes *ch)
{
	memset(ch, 0, sizeof *ch);
}

void proj_changes_deinit(struct proj_changes *ch)
{
	free(ch->bytes);
	memset(ch, 0, sizeof *ch);
}

void proj_changes_clear(struct proj_changes *ch)
{
	ch->len = 0;
	ch->err = 0;
}

/* Room for a record of kind with len bytes of payload: where they go, or NULL. */
static uint8_t *record(struct proj_changes *ch, enum change_kind kind, size_t len)
{
	if (ch->err)
		return NULL;
	if (ch->cap - ch->len < RECORD_HEAD + len) {
		size_t cap = ch->cap ? ch->cap : 65536;
		while (cap - ch->len < RECORD_HEAD + len)
			cap *= 2;
		uint8_t *grown = realloc(ch->bytes, cap);
		if (!grown) {
			ch->err = PL_ENOMEM;
			return NULL;
		}
		ch->bytes = grown;
		ch->cap = cap;
	}
	uint8_t *p = ch->bytes + ch->len;
	uint32_t n = (uint32_t)len;
	p[0] = (uint8_t)kind;
	memcpy(p + 1, &n, 4);
	ch->len += RECORD_HEAD + len;
	return p + RECORD_HEAD;
}

/* Writes a length byte and the bytes after it; returns what follows. */
static uint8_t *put_short(uint8_t *p, const void *s, size_t len)
{
	*p++ = (uint8_t)len;
	memcpy(p, s, len);
	return p + len;
}

void proj_change_opened(struct proj_changes *ch, struct pl_str campaign,
			const struct proj_info *info, int64_t at)
{
	size_t info_len = proj_info_encode(NULL, info);
	uint8_t *p = record(ch, CHANGE_OPENED, 8 + 1 + campaign.len + info_len);
	if (!p)
		return;
	bytes_put_le64(p, (uint64_t)at);
	proj_info_encode(put_short(p + 8, campaign.ptr, campaign.len), info);
}

void proj_change_closed(struct proj_changes *ch, struct pl_str campaign)
{
	uint8_t *p = record(ch, CHANGE_CLOSED, campaign.len);
	if (p)
		memcpy(p, campaign.ptr, campaign.len);
}

void proj_change_history(struct proj_changes *ch, uint64_t seq, const void *key, size_t key_len,
			 const void *val, size_t val_len)
{
	uint8_t *p = record(ch, CHANGE_HISTORY, 8 + 1 + key_len + val_len);
	if (!p)
		return;
	bytes_put_le64(p, seq);
	p = put_short(p + 8, key, key_len);
	memcpy(p, val, val_len);
}

void proj_change_history_merge(struct proj_changes *ch, const void *key, size_t key_len,
			       const struct proj_history *h)
{
	uint8_t *p = record(ch, CHANGE_HISTORY_MERGE, 1 + key_len + sizeof *h);
	if (p)
		memcpy(put_short(p, key, key_len), h, sizeof *h);
}

void proj_change_comment(struct proj_changes *ch, uint64_t seq, const void *key, size_t key_len,
			 const struct proj_comment *c)
{
	size_t row_len = proj_comment_encode(NULL, c);
	uint8_t *p = record(ch, CHANGE_COMMENT, 8 + 1 + key_len + row_len);
	if (!p)
		return;
	bytes_put_le64(p, seq);
	proj_comment_encode(put_short(p + 8, key, key_len), c);
}

void proj_change_comment_del(struct proj_changes *ch, const void *key, size_t key_len)
{
	uint8_t *p = record(ch, CHANGE_COMMENT_DEL, 1 + key_len);
	if (p)
		put_short(p, key, key_len);
}

void proj_change_totals(struct proj_changes *ch, struct pl_str campaign,
			const struct proj_totals *t)
{
	uint8_t *p = record(ch, CHANGE_TOTALS, 1 + campaign.len + sizeof *t);
	if (p)
		memcpy(put_short(p, campaign.ptr, campaign.len), t, sizeof *t);
}

void proj_change_platform(struct proj_changes *ch, const char currency[3],
			  const struct proj_platform *d)
{
	uint8_t *p = record(ch, CHANGE_PLATFORM, 3 + sizeof *d);
	if (!p)
		return;
	memcpy(p, currency, 3);
	memcpy(p + 3, d, sizeof *d);
}

/* Puts (or with del, deletes) campaign id's entry in one of the orders. */
static void order_entry(struct store_txn *t, enum store_slot slot, enum store_slot_table table,
			enum proj_order order, int64_t v, struct pl_str id, bool del)
{
	uint8_t key[PROJ_ORDER_KEY_MAX];
	size_t klen = proj_order_key(key, order, v, id);
	if (del)
		store_del(t, store_slot_db(slot, table), key, klen);
	else
		store_put(t, store_slot_db(slot, table), key, klen, "", 0, 0);
}

/* Puts (or deletes) campaign id's place among those closing soonest, from its info row. */
static void closing_entry(struct store_txn *t, enum store_slot slot, const void *info_row,
			  size_t len, struct pl_str id, bool del)
{
	struct proj_info info;
	if (proj_info_decode(info_row, len, &info)) {
		store_txn_fail(t, PL_ECORRUPT);
		return;
	}
	int64_t v = info.closes_at == PROJ_NONE ? INT64_MAX : info.closes_at; /* none given: last */
	order_entry(t, slot, SLOT_BY_CLOSING, PROJ_BY_CLOSING, v, id, del);
}

static void write_opened(struct store_txn *t, enum store_slot slot, const uint8_t *p, size_t len)
{
	int64_t at = (int64_t)bytes_get_le64(p);
	struct pl_str id = {(const char *)p + 9, p[8]};
	const uint8_t *info = p + 9 + id.len;
	size_t info_len = len - (size_t)(info - p);
	store_put(t, store_slot_db(slot, SLOT_CAMPAIGNS), id.ptr, id.len, info, info_len, 0);
	order_entry(t, slot, SLOT_BY_OPENED, PROJ_BY_NEWEST, at, id, false);
	closing_entry(t, slot, info, info_len, id, false);
}

/* No longer among the open ones closing soon. */
static void write_closed(struct store_txn *t, enum store_slot slot, struct pl_str id)
{
	MDB_val v;
	int rc = store_get(t, store_slot_db(slot, SLOT_CAMPAIGNS), id.ptr, id.len, &v);
	if (rc) {
		store_txn_fail(t, rc == PL_ENOTFOUND ? PL_ECORRUPT : rc);
		return;
	}
	closing_entry(t, slot, v.mv_data, v.mv_size, id, true);
}

/*
 * Keys hold the event's own log position, so only an erasure (one event
 * hiding several comments, two of them maybe posted at one time) can meet
 * a row of its own: then the rows become one. So an erasure's rows go
 * straight to the history table, where they can be found.
 */
static void write_history_merge(struct store_txn *t, enum store_slot slot, const uint8_t *key,
				size_t key_len, struct proj_history h)
{
	enum store_db db = store_slot_db(slot, SLOT_HISTORY);
	MDB_val old;
	int rc = proj_history_row_get(t, db, key, key_len, &old);
	if (rc == 0) {
		struct proj_history prev;
		if (proj_history_decode(old.mv_data, old.mv_size, &prev)) {
			store_txn_fail(t, PL_ECORRUPT);
			return;
		}
		h.comments += prev.comments;
	} else if (rc != PL_ENOTFOUND) {
		return;
	}
	uint8_t val[PROJ_HISTORY_MAX];
	proj_history_row_put(t, db, key, key_len, val, proj_history_encode(val, &h));
}

/* A campaign's totals, and its place in the order by money raised: out of the old, into the new. */
static void write_totals(struct store_txn *t, enum store_slot slot, struct pl_str id,
			 const struct proj_totals *totals)
{
	enum store_db db = store_slot_db(slot, SLOT_TOTALS);
	struct proj_totals old;
	MDB_val ov;
	int rc = store_get(t, db, id.ptr, id.len, &ov);
	if (rc == 0 && proj_totals_decode(ov.mv_data, ov.mv_size, &old)) {
		store_txn_fail(t, PL_ECORRUPT);
		return;
	}
	if (rc && rc != PL_ENOTFOUND)
		return;
	if (rc == 0 && old.raised != totals->raised)
		order_entry(t, slot, SLOT_BY_RAISED, PROJ_BY_RAISED, old.raised, id, true);
	if (rc != 0 || old.raised != totals->raised)
		order_entry(t, slot, SLOT_BY_RAISED, PROJ_BY_RAISED, totals->raised, id, false);
	uint8_t buf[PROJ_TOTALS_SIZE];
	proj_totals_encode(buf, totals);
	store_put(t, db, id.ptr, id.len, buf, sizeof buf, 0);
}

static void write_platform(struct store_txn *t, enum store_slot slot, const char *currency,
			   const struct proj_platform *d)
{
	enum store_db db = store_slot_db(slot, SLOT_PLATFORM);
	struct proj_platform p = {0};
	MDB_val v;
	int rc = store_get(t, db, currency, 3, &v);
	if (rc == 0 && proj_platform_decode(v.mv_data, v.mv_size, &p)) {
		store_txn_fail(t, PL_ECORRUPT);
		return;
	}
	if (rc && rc != PL_ENOTFOUND)
		return;
	proj_platform_add(&p, d);
	uint8_t buf[PROJ_PLATFORM_SIZE];
	proj_platform_encode(buf, &p);
	store_put(t, db, currency, 3, buf, sizeof buf, 0);
}

/* Writes one record's change. */
static void write_change(struct store_txn *t, enum store_slot slot, struct proj_staged *held,
			 enum change_kind kind, const uint8_t *p, size_t len)
{
	switch (kind) {
	case CHANGE_OPENED:
		write_opened(t, slot, p, len);
		return;
	case CHANGE_CLOSED:
		write_closed(t, slot, (struct pl_str){(const char *)p, len});
		return;
	case CHANGE_HISTORY: {
		uint64_t seq = bytes_get_le64(p);
		const uint8_t *key = p + 9, *val = key + p[8];
		size_t val_len = len - 9 - p[8];
		proj_stage_history(t, slot, seq, key, p[8], val, val_len);
		proj_staged_hold(held, seq, key, p[8], val, val_len);
		return;
	}
	case CHANGE_HISTORY_MERGE: {
		struct proj_history h;
		memcpy(&h, p + 1 + p[0], sizeof h);
		write_history_merge(t, slot, p + 1, p[0], h);
		return;
	}
	case CHANGE_COMMENT: {
		const uint8_t *key = p + 9, *row = key + p[8];
		proj_stage_comment(t, slot, bytes_get_le64(p), key, p[8], row, len - 9 - p[8]);
		return;
	}
	case CHANGE_COMMENT_DEL:
		proj_comment_del(t, slot, p + 1, p[0]);
		return;
	case CHANGE_TOTALS: {
		struct proj_totals totals;
		memcpy(&totals, p + 1 + p[0], sizeof totals);
		write_totals(t, slot, (struct pl_str){(const char *)p + 1, p[0]}, &totals);
		return;
	}
	case CHANGE_PLATFORM: {
		struct proj_platform d;
		memcpy(&d, p + 3, sizeof d);
		write_platform(t, slot, (const char *)p, &d);
		return;
	}
	}
	store_txn_fail(t, PL_EINVAL);
}

int proj_publish(struct proj_changes *ch, struct store_txn *t, enum store_slot slot,
		 struct proj_staged *held)
{
	if (ch->err)
		return store_txn_fail(t, ch->err);
	for (size_t at = 0; at < ch->len && !t->err;) {
		const uint8_t *p = ch->bytes + at;
		uint32_t len;
		memcpy(&len, p + 1, 4);
		write_change(t, slot, held, (enum change_kind)p[0], p + RECORD_HEAD, len);
		at += RECORD_HEAD + len;
	}
	return t->err;
}
