/* erasure.c — a supporter's personal fields overwritten in the log; see erasure.h. */
#include "erasure.h"

#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "event_decode.h"
#include "event_redact.h"
#include "evlog.h"
#include "pl_error.h"
#include "rejections.h"

/* META key of the record of the erasure at seq: the prefix, then seq big-endian. */
#define RECORD_PREFIX "erasure."
#define RECORD_KEY_SIZE (sizeof RECORD_PREFIX - 1 + 8)
/* Record: u64 entries rewritten, u64 rejections rewritten, then u64 comment positions. */
#define RECORD_HEAD 16

static void record_key(uint8_t key[RECORD_KEY_SIZE], uint64_t seq)
{
	memcpy(key, RECORD_PREFIX, sizeof RECORD_PREFIX - 1);
	bytes_put_be64(key + sizeof RECORD_PREFIX - 1, seq);
}

/* META key of the first copy's source: the prefix, then the id's fingerprint;
 * its value the partition big-endian, then the topic. */
#define FIRST_PREFIX "erasure.first."
#define FIRST_KEY_SIZE (sizeof FIRST_PREFIX - 1 + FP_SIZE)

static void first_key(uint8_t key[FIRST_KEY_SIZE], const struct fp *id)
{
	memcpy(key, FIRST_PREFIX, sizeof FIRST_PREFIX - 1);
	memcpy(key + sizeof FIRST_PREFIX - 1, id->b, FP_SIZE);
}

/* META key of whose the erasure under an id is: the prefix, then the id's
 * fingerprint; its value the supporter's fingerprint. (Apart from the
 * first copy's source, which builds before it read whole.) */
#define WHOSE_PREFIX "erasure.whose."
#define WHOSE_KEY_SIZE (sizeof WHOSE_PREFIX - 1 + FP_SIZE)
/* Fingerprint kind of a supporter id here (fp.h: kinds keep id spaces apart). */
#define FP_KIND_ERASED_SUPPORTER 8

static void whose_key(uint8_t key[WHOSE_KEY_SIZE], const struct fp *id)
{
	memcpy(key, WHOSE_PREFIX, sizeof WHOSE_PREFIX - 1);
	memcpy(key + sizeof WHOSE_PREFIX - 1, id->b, FP_SIZE);
}

/* META key of the first copy's log position: the prefix, then the id's
 * fingerprint; its value the position, little-endian. (Apart, as whose:
 * builds before it did not note it.) */
#define AT_PREFIX "erasure.at."
#define AT_KEY_SIZE (sizeof AT_PREFIX - 1 + FP_SIZE)

static void at_key(uint8_t key[AT_KEY_SIZE], const struct fp *id)
{
	memcpy(key, AT_PREFIX, sizeof AT_PREFIX - 1);
	memcpy(key + sizeof AT_PREFIX - 1, id->b, FP_SIZE);
}

int erasure_first_copy_at(struct store_txn *t, const struct fp *id, uint64_t *seq)
{
	uint8_t key[AT_KEY_SIZE];
	MDB_val v;
	at_key(key, id);
	int rc = store_get(t, STORE_DB_META, key, sizeof key, &v);
	*seq = rc == 0 && v.mv_size == 8 ? bytes_get_le64(v.mv_data) : 0;
	return rc == PL_ENOTFOUND ? PL_OK : rc;
}

void erasure_note_first_copy(struct store_txn *t, const struct fp *id, struct pl_str supporter,
			     const struct evlog_source *src, uint64_t seq)
{
	uint8_t key[FIRST_KEY_SIZE], whose[WHOSE_KEY_SIZE], at[AT_KEY_SIZE], pos[8];
	struct fp sf;
	first_key(key, id);
	uint8_t *v = store_reserve(t, STORE_DB_META, key, sizeof key, 4 + src->topic_len, 0);
	if (!v)
		return;
	bytes_put_be32(v, (uint32_t)src->partition);
	memcpy(v + 4, src->topic, src->topic_len);
	whose_key(whose, id);
	fp_of(&sf, FP_KIND_ERASED_SUPPORTER, supporter.ptr, supporter.len);
	store_put(t, STORE_DB_META, whose, sizeof whose, sf.b, FP_SIZE, 0);
	at_key(at, id);
	bytes_put_le64(pos, seq);
	store_put(t, STORE_DB_META, at, sizeof at, pos, sizeof pos, 0);
}

/* Whether the erasure under id is supporter's, or of a supporter not noted (an older build's). */
static int whose_is(struct store_txn *t, const struct fp *id, struct pl_str supporter, bool *is)
{
	uint8_t key[WHOSE_KEY_SIZE];
	MDB_val v;
	struct fp sf;
	whose_key(key, id);
	int rc = store_get(t, STORE_DB_META, key, sizeof key, &v);
	*is = true;
	if (rc == PL_ENOTFOUND)
		return PL_OK;
	if (rc)
		return rc;
	fp_of(&sf, FP_KIND_ERASED_SUPPORTER, supporter.ptr, supporter.len);
	*is = v.mv_size == FP_SIZE && memcmp(v.mv_data, sf.b, FP_SIZE) == 0;
	return PL_OK;
}

int erasure_copy_of(struct store_txn *t, const struct fp *id, struct pl_str supporter,
		    const struct evlog_source *src, enum erasure_copy *copy)
{
	uint8_t key[FIRST_KEY_SIZE];
	MDB_val v;
	first_key(key, id);
	int rc = store_get(t, STORE_DB_META, key, sizeof key, &v);
	if (rc == PL_ENOTFOUND) {
		*copy = ERASURE_FIRST;
		return PL_OK;
	}
	if (rc)
		return rc;
	const uint8_t *p = v.mv_data;
	bool same = v.mv_size == 4 + src->topic_len &&
		    bytes_get_be32(p) == (uint32_t)src->partition &&
		    memcmp(p + 4, src->topic, src->topic_len) == 0;
	bool theirs;
	if ((rc = whose_is(t, id, supporter, &theirs)))
		return rc;
	*copy = !theirs ? ERASURE_OTHER : same ? ERASURE_AGAIN : ERASURE_LATER;
	return PL_OK;
}

struct seq_list {
	uint64_t *at;
	size_t count, cap;
};

static int seq_list_add(struct seq_list *l, uint64_t seq)
{
	if (l->count == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 32;
		uint64_t *at = realloc(l->at, cap * sizeof *at);
		if (!at)
			return PL_ENOMEM;
		l->at = at;
		l->cap = cap;
	}
	l->at[l->count++] = seq;
	return PL_OK;
}

/* The log walk: the supporter's events before `until` (from only_from,
 * when not NULL), found before any is rewritten. */
struct search {
	uint64_t until;
	struct pl_str supporter;
	const struct evlog_source *only_from;
	struct seq_list rewrite, comments;
};

static bool same(struct pl_str a, struct pl_str b)
{
	return a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
}

static int search_entry(const struct evlog_entry *e, void *arg)
{
	struct search *s = arg;
	struct pl_event ev;
	struct pl_rejection rej;
	if (e->seq >= s->until)
		return 1;
	if (s->only_from && !evlog_same_source(&e->src, s->only_from))
		return 0;
	/* Most entries are someone else's: a byte search rules them out before
	 * decoding. An entry is a valid event, whose `supporter` holds the id's
	 * bytes as they are: the other spellings pl_bytes_name() reads (JSON's
	 * escapes, a message broken off) are a rejected message's, and reading
	 * them made up most of the walk. */
	if (!memmem(e->raw, e->raw_len, s->supporter.ptr, s->supporter.len))
		return 0;
	int rc = PL_OK;
	if (pl_event_decode(e->raw, e->raw_len, NULL, 0, &ev, &rej) == 0 &&
	    ev.type == PL_EV_COMMENT_POSTED && same(pl_event_str(&ev, PL_F_SUPPORTER), s->supporter))
		rc = seq_list_add(&s->comments, e->seq);
	/* Their name or text, on an event that uses it or one that ignores it
	 * (a refund sent with the supporter and name of its pledge): the log
	 * keeps the bytes as sent. */
	if (rc == 0 && !e->erased && pl_event_personal_of(e->raw, e->raw_len, s->supporter))
		rc = seq_list_add(&s->rewrite, e->seq);
	return rc;
}

static void rewrite(struct store_txn *t, uint64_t seq)
{
	struct evlog_entry e;
	int rc = evlog_get(t, seq, &e);
	if (rc) {
		/* A walk found it: a seek that does not is damage, not absence. */
		store_txn_fail(t, rc == PL_ENOTFOUND || rc == PL_ECHECKSUM ? PL_ECORRUPT : rc);
		return;
	}
	uint8_t redacted[PL_REDACT_MAX(PL_MAX_EVENT_BYTES)];
	size_t len = pl_event_redact(e.raw, e.raw_len, redacted);
	if (!len) {
		store_txn_fail(t, PL_ECORRUPT);
		return;
	}
	evlog_erase_entry(t, &e, redacted, len);
}

static void put_record(struct store_txn *t, uint64_t seq, const struct erasure_counts *counts,
		       const struct seq_list *comments)
{
	uint8_t key[RECORD_KEY_SIZE];
	record_key(key, seq);
	uint8_t *p = store_reserve(t, STORE_DB_META, key, sizeof key,
				   RECORD_HEAD + 8 * comments->count, 0);
	if (!p)
		return;
	bytes_put_le64(p, counts->entries);
	bytes_put_le64(p + 8, counts->rejections);
	for (size_t i = 0; i < comments->count; i++)
		bytes_put_le64(p + RECORD_HEAD + 8 * i, comments->at[i]);
}

int erasure_run(struct store_txn *t, uint64_t seq, struct pl_str supporter,
		const struct evlog_source *only_from, uint64_t from,
		struct erasure_counts *counts)
{
	struct search s = {.until = seq, .supporter = supporter, .only_from = only_from};
	memset(counts, 0, sizeof *counts);
	int rc = evlog_each(t, from ? from : 1, search_entry, &s, NULL);
	if (rc < 0)
		store_txn_fail(t, rc);
	for (size_t i = 0; !t->err && i < s.rewrite.count; i++)
		rewrite(t, s.rewrite.at[i]);
	counts->entries = s.rewrite.count;
	counts->comments = s.comments.count;
	if (!t->err)
		rejections_erase(t, supporter, only_from, &counts->rejections);
	if (!t->err)
		put_record(t, seq, counts, &s.comments);
	free(s.rewrite.at);
	free(s.comments.at);
	return t->err;
}

int erasure_comments(struct store_txn *t, uint64_t seq, const uint8_t **comments, size_t *count)
{
	uint8_t key[RECORD_KEY_SIZE];
	MDB_val v;
	record_key(key, seq);
	int rc = store_get(t, STORE_DB_META, key, sizeof key, &v);
	if (rc)
		return rc == PL_ENOTFOUND ? PL_ECORRUPT : rc;
	if (v.mv_size < RECORD_HEAD || (v.mv_size - RECORD_HEAD) % 8)
		return PL_ECORRUPT;
	*comments = (const uint8_t *)v.mv_data + RECORD_HEAD;
	*count = (v.mv_size - RECORD_HEAD) / 8;
	return PL_OK;
}

uint64_t erasure_comment(const uint8_t *comments, size_t i)
{
	return bytes_get_le64(comments + 8 * i);
}
