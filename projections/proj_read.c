/* proj_read.c — campaign summaries and comment pages from the projections. */
#include "proj_read.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "hex.h"
#include "pl_error.h"
#include "proj_staged.h"

int64_t proj_days_open(const struct proj_totals *tot)
{
	int64_t end = tot->closed_at != PROJ_NONE ? tot->closed_at : tot->last_at;
	int64_t days = (end - tot->opened_at) / DAY_MS;
	return days < 1 ? 1 : days;
}

static int fill_campaign(struct store_txn *t, enum store_slot slot, const MDB_val *key,
			 const MDB_val *info, struct proj_campaign *out)
{
	MDB_val tv;
	out->id = (struct pl_str){key->mv_data, (uint32_t)key->mv_size};
	if (proj_info_decode(info->mv_data, info->mv_size, &out->info))
		return store_txn_fail(t, PL_ECORRUPT);
	int rc = store_get(t, store_slot_db(slot, SLOT_TOTALS), key->mv_data, key->mv_size, &tv);
	if (rc)
		return store_txn_fail(t, rc == PL_ENOTFOUND ? PL_ECORRUPT : rc);
	if (proj_totals_decode(tv.mv_data, tv.mv_size, &out->totals))
		return store_txn_fail(t, PL_ECORRUPT);
	out->closed = out->totals.closed_at != PROJ_NONE;
	out->days = proj_days_open(&out->totals);
	return PL_OK;
}

int proj_campaign_get(struct store_txn *t, enum store_slot slot, struct pl_str id,
		      struct proj_campaign *out)
{
	MDB_val k = {id.len, (void *)id.ptr}, v;
	int rc = store_get(t, store_slot_db(slot, SLOT_CAMPAIGNS), id.ptr, id.len, &v);
	if (rc)
		return rc;
	return fill_campaign(t, slot, &k, &v, out);
}

struct campaign_walk {
	struct store_txn *t;
	enum store_slot slot;
	enum proj_order order;
	const MDB_val *skip; /* the key to start after, or NULL */
	proj_campaign_fn fn;
	void *arg;
};

static int campaign_entry(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct campaign_walk *w = arg;
	if (w->skip && k->mv_size == w->skip->mv_size &&
	    memcmp(k->mv_data, w->skip->mv_data, k->mv_size) == 0)
		return 0;
	struct proj_campaign camp;
	int rc;
	if (w->order == PROJ_BY_ID) {
		rc = fill_campaign(w->t, w->slot, k, v, &camp);
	} else if (k->mv_size <= 8) {
		rc = store_txn_fail(w->t, PL_ECORRUPT);
	} else {
		struct pl_str id = {(const char *)k->mv_data + 8, (uint32_t)(k->mv_size - 8)};
		rc = proj_campaign_get(w->t, w->slot, id, &camp);
		if (rc == PL_ENOTFOUND)
			rc = store_txn_fail(w->t, PL_ECORRUPT);
	}
	return rc ? rc : w->fn(&camp, k->mv_data, k->mv_size, w->arg);
}

int proj_campaign_each(struct store_txn *t, enum store_slot slot, proj_campaign_fn fn, void *arg)
{
	return proj_campaign_each_in(t, slot, PROJ_BY_ID, NULL, 0, fn, arg);
}

int proj_campaign_each_in(struct store_txn *t, enum store_slot slot, enum proj_order order,
			  const void *after, size_t after_len, proj_campaign_fn fn, void *arg)
{
	static const enum store_slot_table tables[] = {
		[PROJ_BY_ID] = SLOT_CAMPAIGNS, [PROJ_BY_RAISED] = SLOT_BY_RAISED,
		[PROJ_BY_NEWEST] = SLOT_BY_OPENED, [PROJ_BY_CLOSING] = SLOT_BY_CLOSING};
	MDB_val from = {after_len, (void *)after};
	const MDB_val *start = after_len ? &from : NULL;
	struct campaign_walk w = {t, slot, order, start, fn, arg};
	return store_each(t, store_slot_db(slot, tables[order]), start, false, campaign_entry, &w);
}

struct platform_walk {
	struct store_txn *t;
	proj_platform_fn fn;
	void *arg;
};

static int platform_entry(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct platform_walk *w = arg;
	struct proj_platform p;
	if (k->mv_size != 3 || proj_platform_decode(v->mv_data, v->mv_size, &p))
		return store_txn_fail(w->t, PL_ECORRUPT);
	return w->fn(k->mv_data, &p, w->arg);
}

int proj_platform_each(struct store_txn *t, enum store_slot slot, proj_platform_fn fn, void *arg)
{
	struct platform_walk w = {t, fn, arg};
	return store_each(t, store_slot_db(slot, SLOT_PLATFORM), NULL, false, platform_entry, &w);
}

/* Whether s holds only characters of set (and at least one). */
static bool all_of(const char *s, const char *set)
{
	return *s && s[strspn(s, set)] == '\0';
}

int proj_cursor_parse(const char *s, size_t len, struct proj_cursor *cur)
{
	static const char digits[] = "0123456789";
	char buf[PROJ_CURSOR_MAX];
	if (len == 0 || len >= sizeof buf || memchr(s, '\0', len))
		return PL_EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	char *dash = strchr(buf, '-'), *dot = strchr(buf, '.');
	char *sep = dash ? dash : dot, *dot2 = dot ? strchr(dot + 1, '.') : NULL;
	if (!sep || (dash && dot))
		return PL_EINVAL;
	*sep = '\0';
	if (dot2)
		*dot2 = '\0';
	const char *rest = sep + 1;
	size_t rest_len = strlen(rest);
	errno = 0;
	cur->at = strtoll(buf, NULL, 10);
	if (!all_of(buf, digits) || errno)
		return PL_EINVAL;
	if (dash) { /* "AT-ID", as this pledged gives them */
		if (rest_len == 0 || rest_len > 2 * PL_MAX_ID_BYTES ||
		    !hex_decode_lower(rest, rest_len, (uint8_t *)cur->id))
			return PL_EINVAL;
		cur->id_len = rest_len / 2;
		return PL_OK;
	}
	/* "AT.OLDER" and "AT.OLDER.TAG" from older pledged: neither number is
	 * used, but each must be what they gave (64 bits; a tag, never 0). */
	cur->id_len = 0;
	bool tag_sound = !dot2 || (all_of(dot2 + 1, "0123456789abcdef") &&
				   strlen(dot2 + 1) <= 16 && strtoull(dot2 + 1, NULL, 16) != 0);
	if (!all_of(rest, digits) || !tag_sound)
		return PL_EINVAL;
	strtoull(rest, NULL, 10);
	return errno ? PL_EINVAL : PL_OK;
}

void proj_cursor_format(const struct proj_cursor *cur, char buf[PROJ_CURSOR_MAX])
{
	int n = snprintf(buf, PROJ_CURSOR_MAX, "%" PRId64 "-", cur->at);
	hex_encode(cur->id, cur->id_len, buf + n);
}

struct proj_cursor proj_cursor_at(int64_t at, struct pl_str id)
{
	struct proj_cursor cur = {.at = at, .id_len = id.len < PL_MAX_ID_BYTES ? id.len : PL_MAX_ID_BYTES};
	memcpy(cur.id, id.ptr, cur.id_len);
	return cur;
}

bool proj_cursor_passes(const struct proj_cursor *cur, struct pl_str id)
{
	return cur->id_len == 0 || proj_comment_order(id, (struct pl_str){cur->id, cur->id_len}) > 0;
}

int proj_comment_order(struct pl_str a, struct pl_str b)
{
	int c = memcmp(a.ptr, b.ptr, a.len < b.len ? a.len : b.len);
	if (c == 0)
		c = a.len < b.len ? -1 : a.len > b.len;
	return -c; /* the highest first */
}

/* Puts the cursor on the newest comment strictly before the start key. */
static int seek_before(MDB_cursor *c, uint8_t *key, size_t klen, MDB_val *k, MDB_val *v)
{
	*k = (MDB_val){klen, key};
	int rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE);
	if (rc == MDB_NOTFOUND)
		return mdb_cursor_get(c, k, v, MDB_LAST);
	if (rc)
		return rc;
	return mdb_cursor_get(c, k, v, MDB_PREV);
}

/*
 * A campaign's comments newest first, from both places a comment's row can
 * be (moved into COMMENTS, or staged: proj_staged.h): the table's row is
 * k[0], v[0] while rc[0] is 0, the staged one k[1], v[1] while rc[1] is 0
 * (row at - 1 of staged).
 */
struct newest_first {
	struct store_txn *t;
	MDB_cursor *c;
	const struct proj_staged *staged;
	size_t at;
	MDB_val k[2], v[2];
	int rc[2];
	struct pl_str campaign;
};

/* Ends side i once its row is another campaign's. */
static void keep_to_campaign(struct newest_first *n, int i)
{
	struct proj_comment com;
	if (n->rc[i] == 0 && proj_timed_key_parse(n->k[i].mv_data, n->k[i].mv_size, n->campaign,
						  &com.at, &com.seq))
		n->rc[i] = MDB_NOTFOUND;
}

/* The staged row before the one at n->at, if any. */
static void staged_step(struct newest_first *n)
{
	/* Rows a move under way has put in COMMENTS already are read there. */
	while (n->at && proj_staged_moved(n->staged, n->at - 1))
		n->at--;
	n->rc[1] = n->at ? 0 : MDB_NOTFOUND;
	if (n->at)
		proj_staged_row(n->staged, --n->at, &n->k[1], &n->v[1]);
	keep_to_campaign(n, 1);
}

static int newest_open(struct newest_first *n, struct store_txn *t, enum store_slot slot,
		       const struct proj_staged *staged, struct pl_str campaign, uint8_t *key,
		       size_t klen)
{
	memset(n, 0, sizeof *n);
	n->t = t;
	n->campaign = campaign;
	n->staged = staged;
	if (!(n->c = store_cursor(t, store_slot_db(slot, SLOT_COMMENTS))))
		return t->err;
	n->rc[0] = seek_before(n->c, key, klen, &n->k[0], &n->v[0]);
	keep_to_campaign(n, 0);
	n->at = proj_staged_lower_bound(staged, key, klen);
	staged_step(n);
	return PL_OK;
}

/* The side with the newer row, or -1 when both are done (or failed: see rc). */
static int newest_side(const struct newest_first *n)
{
	if (n->rc[0] || n->rc[1])
		return n->rc[0] == 0 ? 0 : n->rc[1] == 0 ? 1 : -1;
	return proj_staged_key_cmp(&n->k[0], &n->k[1]) > 0 ? 0 : 1;
}

static void newest_step(struct newest_first *n, int i)
{
	if (i == 1) {
		staged_step(n);
		return;
	}
	n->rc[0] = mdb_cursor_get(n->c, &n->k[0], &n->v[0], MDB_PREV);
	keep_to_campaign(n, 0);
}

/* Whether comment a comes after b in the feed (both of one time). */
static bool after(const struct proj_comment *a, const struct proj_comment *b)
{
	return proj_comment_order(a->id, b->id) > 0;
}

/* Restores the heap below slot i of h[0..n): the comment that comes last on top. */
static void sift_down(struct proj_comment *h, size_t n, size_t i)
{
	for (size_t last = i;; i = last) {
		size_t l = 2 * i + 1, r = l + 1;
		if (l < n && after(&h[l], &h[last]))
			last = l;
		if (r < n && after(&h[r], &h[last]))
			last = r;
		if (last == i)
			return;
		struct proj_comment x = h[i];
		h[i] = h[last];
		h[last] = x;
	}
}

static int feed_order(const void *a, const void *b)
{
	return proj_comment_order(((const struct proj_comment *)a)->id,
				  ((const struct proj_comment *)b)->id);
}

/*
 * Steps past every comment of time at, keeping in best[0..*kept) the first
 * cap of them in the feed's order that come after `from` (NULL: all), in
 * that order. A selection, not a sort of the time's comments: a time may
 * hold any number of them, a page at most PROJ_PAGE_MAX + 1. A failed row
 * ends the walk (see rc).
 */
static void first_of_time(struct newest_first *n, int64_t at, const struct proj_cursor *from,
			  struct proj_comment *best, size_t cap, size_t *kept)
{
	*kept = 0;
	for (int i = newest_side(n); i >= 0; i = newest_side(n)) {
		struct proj_comment c;
		if (proj_timed_key_parse(n->k[i].mv_data, n->k[i].mv_size, n->campaign, &c.at,
					 &c.seq) ||
		    proj_comment_decode(n->v[i].mv_data, n->v[i].mv_size, &c)) {
			n->rc[i] = MDB_CORRUPTED;
			break;
		}
		if (c.at != at)
			break;
		newest_step(n, i);
		if (from && !proj_cursor_passes(from, c.id))
			continue;
		if (*kept < cap) {
			best[(*kept)++] = c;
			if (*kept == cap)
				for (size_t j = cap / 2; j-- > 0;)
					sift_down(best, cap, j);
		} else if (after(&best[0], &c)) {
			best[0] = c;
			sift_down(best, cap, 0);
		}
	}
	qsort(best, *kept, sizeof *best, feed_order);
}

static int newest_close(struct newest_first *n)
{
	if (n->c)
		mdb_cursor_close(n->c);
	int rc = 0;
	for (int i = 0; i < 2; i++)
		if (n->rc[i] && n->rc[i] != MDB_NOTFOUND)
			rc = n->rc[i];
	return rc ? store_txn_fail(n->t, store_error(rc)) : n->t->err;
}

int proj_comments_page(struct store_txn *t, enum store_slot slot, struct proj_staged *staged,
		       struct pl_str campaign, const struct proj_cursor *before, unsigned limit,
		       struct proj_comment_page *page)
{
	uint8_t key[PROJ_KEY_MAX];
	size_t klen;
	page->count = 0;
	page->has_next = false;
	if (limit < 1 || limit > PROJ_PAGE_MAX || campaign.len > PL_MAX_ID_BYTES)
		return PL_EINVAL;
	int rc = proj_staged_sync_comments(staged, t, slot);
	if (rc)
		return rc;
	if (before) {
		/* From the newest of its time: its id places it among them. */
		klen = proj_timed_key(key, campaign, before->at, UINT64_MAX);
	} else {
		/* Just past the newest possible key of this campaign. */
		klen = proj_campaign_prefix(key, campaign);
		memset(key + klen, 0xff, 16);
		klen += 16;
	}
	struct newest_first n;
	struct proj_comment best[PROJ_PAGE_MAX + 1];
	size_t bytes = 0;
	rc = newest_open(&n, t, slot, staged, campaign, key, klen);
	for (int i = rc ? -1 : newest_side(&n); i >= 0 && !page->has_next; i = newest_side(&n)) {
		int64_t at;
		uint64_t seq;
		if (proj_timed_key_parse(n.k[i].mv_data, n.k[i].mv_size, campaign, &at, &seq)) {
			n.rc[i] = MDB_CORRUPTED;
			break;
		}
		/* One more than the page takes tells whether another follows. */
		size_t kept;
		first_of_time(&n, at, before && at == before->at ? before : NULL, best,
			      limit - page->count + 1, &kept);
		for (size_t j = 0; j < kept && !page->has_next; j++) {
			if (page->count == limit || bytes >= PROJ_PAGE_BYTES) {
				page->has_next = true;
				break;
			}
			bytes += best[j].name.len + best[j].text.len;
			page->items[page->count++] = best[j];
			page->next = proj_cursor_at(at, best[j].id);
		}
	}
	int err = newest_close(&n);
	return rc ? rc : err;
}
