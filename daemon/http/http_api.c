/*
 * http_api.c — the JSON API of docs/http.md: campaigns, one
 * campaign (now or as of a time), its history and comment feed, the
 * platform totals, and rejections for operators.
 *
 * Each answer is read in one LMDB read-only transaction, together with the
 * log position it reflects (ETag, X-Pledged-Seq), and the transaction ends
 * before the reply is sent, so a slow client never holds one.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "evlog.h"
#include "http_internal.h"
#include "http_list.h"
#include "http_query.h"
#include "http_reply.h"
#include "log.h"
#include "past_feed.h"
#include "pl_error.h"
#include "proj_history.h"
#include "proj_read.h"
#include "rejections.h"
#include "views.h"

/* Logs a storage failure once, for the operator, and answers 500. */
static void reply_storage_error(struct http_request *r, struct store_txn *t, int rc)
{
	store_abort(t);
	log_error("http: %s: reading the store failed: %s; check the data dir and disk",
		  http_route_names[r->route], pl_strerror(rc));
	http_reply_error(r, 500, "storage error");
}

/* Begins the read transaction of an answer and reads its log position. */
static int begin_read(struct http_request *r, struct store_txn *t, struct http_position *pos)
{
	uint64_t seq = 0, gen = 0;
	int rc = store_read_begin(r->w->hs->st, t);
	if (rc == 0)
		rc = evlog_last_seq(t, &seq);
	if (rc == 0)
		rc = proj_live(t, &pos->slot, &gen);
	http_position_set(pos, seq, gen, 0);
	return rc;
}

/*
 * The cache key of a request: its route, id and raw query. Returns 0 when
 * the request is too long to cache.
 */
static size_t cache_key(const struct http_request *r, char *key)
{
	size_t query_len = r->query ? strlen(r->query) : 0;
	size_t len = 1 + r->id_len + 1 + query_len;
	if (len > HTTP_CACHE_KEY_MAX)
		return 0;
	key[0] = (char)r->route;
	memcpy(key + 1, r->id, r->id_len);
	key[1 + r->id_len] = '\0';
	if (query_len)
		memcpy(key + 2 + r->id_len, r->query, query_len);
	return len;
}

/*
 * Answers from the worker's cache when this request was rendered at this
 * position (a 304 when the client has it too). Ends the read transaction
 * when it answered; true then.
 */
static bool reply_from_cache(struct http_request *r, struct store_txn *t,
			     const struct http_position *pos, const char *key, size_t key_len)
{
	struct http_blob *body = key_len ? http_cache_get(r->w->cache, key, key_len, pos->etag) : NULL;
	if (!body)
		return false;
	store_abort(t);
	http_reply_cached(r, body, pos);
	return true;
}

/* Sends a freshly rendered body, cached when the request is cacheable. */
static void reply_rendered(struct http_request *r, json_t *body, const struct http_position *pos,
			   const char *key, size_t key_len)
{
	if (key_len)
		http_reply_json_cached(r, body, pos, key, key_len);
	else
		http_reply_json(r, 200, body, pos);
}

static struct pl_str request_id(const struct http_request *r)
{
	return (struct pl_str){r->id, (uint32_t)r->id_len};
}

/* Refuses any query parameter outside allowed; true when it answered. */
static bool reject_query(struct http_request *r, unsigned allowed, struct http_query *q)
{
	char err[160];
	if (r->id_in_query)
		allowed |= HTTP_Q_ID;
	if (http_query_parse(r->query, allowed, true, q, err, sizeof err) == 0)
		return false;
	http_reply_error(r, 400, "%s", err);
	return true;
}

static int append_campaign(const struct proj_campaign *c, void *items)
{
	return json_array_append_new(items, view_campaign(c)) ? PL_ENOMEM : 0;
}

/* Refuses what a list cannot do; true when it answered. */
static bool reject_list_query(struct http_request *r, const struct http_query *q)
{
	const char *why = NULL;
	if (q->sort == PROJ_BY_CLOSING && q->status == HTTP_STATUS_CLOSED)
		why = "sort=closing lists open campaigns only";
	else if (q->has_as_of && (q->sort == PROJ_BY_RAISED || q->sort == PROJ_BY_CLOSING))
		why = "as_of lists campaigns by id or sort=newest only: raised and closing are "
		      "orders of the present";
	if (why)
		http_reply_error(r, 400, "%s", why);
	return why != NULL;
}

void http_api_campaigns(struct http_request *r)
{
	struct http_query q;
	struct store_txn t;
	struct http_position pos;
	if (reject_query(r, HTTP_Q_LIMIT | HTTP_Q_AFTER | HTTP_Q_STATUS | HTTP_Q_AS_OF | HTTP_Q_SORT,
			 &q) ||
	    reject_list_query(r, &q))
		return;
	struct http_list l = {.r = r,
			      .sort = q.sort,
			      .status = q.status,
			      .has_as_of = q.has_as_of,
			      .as_of = q.as_of,
			      .limit = q.has_limit ? q.limit : HTTP_LIMIT_MAX,
			      .show = append_campaign};
	uint8_t after[HTTP_CURSOR_KEY_MAX];
	size_t after_len = 0;
	if (q.after[0] && !http_list_cursor(&l, q.after, after, &after_len)) {
		http_reply_error(r, 400, "after must be a cursor from a 'next' field of the same sort");
		return;
	}
	char key[HTTP_CACHE_KEY_MAX];
	size_t key_len = cache_key(r, key);
	int rc = begin_read(r, &t, &pos);
	if (rc) {
		reply_storage_error(r, &t, rc);
		return;
	}
	/* The list changes with the partitions held, not only with the log. */
	http_position_cover(&pos, r->owner.generation);
	if (reply_from_cache(r, &t, &pos, key, key_len))
		return;
	json_t *items = json_array();
	l.t = &t;
	l.slot = pos.slot;
	l.arg = items;
	rc = items ? http_list_walk(&l, after, after_len) : PL_ENOMEM;
	if (rc && rc != PL_ENOMEM) {
		json_decref(items);
		reply_storage_error(r, &t, rc);
		return;
	}
	store_abort(&t);
	json_t *body = rc ? NULL
			  : json_pack("{s:o,s:o}", "campaigns", items, "next",
				      l.has_next ? json_string(l.next) : json_null());
	if (rc)
		json_decref(items);
	if (body && q.has_as_of && json_object_set_new(body, "as_of", json_integer(q.as_of))) {
		json_decref(body);
		body = NULL;
	}
	reply_rendered(r, body, &pos, key, key_len);
}

/* What a campaign route has read by the time it renders. */
struct campaign_read {
	struct store_txn t;
	struct http_position pos;
	struct proj_campaign c;
	char key[HTTP_CACHE_KEY_MAX];
	size_t key_len;
};

#define NOT_OPENED "the campaign had not opened by as_of"

/* Ends the request after a failed read (404 with not_found, or 500); true then. */
static bool reply_if_unread(struct http_request *r, struct campaign_read *cr, int rc,
			    const char *not_found)
{
	if (rc == 0)
		return false;
	if (rc == PL_ENOTFOUND) {
		store_abort(&cr->t);
		http_reply_error(r, 404, "%s", not_found);
	} else {
		reply_storage_error(r, &cr->t, rc);
	}
	return true;
}

/*
 * The common start of the campaign routes: a cached answer (or its 304),
 * a 404 or a storage error end the request here (true). Otherwise the read
 * transaction is open with the campaign in cr->c, for the caller to render.
 */
static bool begin_campaign_read(struct http_request *r, struct campaign_read *cr)
{
	cr->key_len = cache_key(r, cr->key);
	int rc = begin_read(r, &cr->t, &cr->pos);
	if (rc == 0 && reply_from_cache(r, &cr->t, &cr->pos, cr->key, cr->key_len))
		return true;
	if (rc == 0)
		rc = proj_campaign_get(&cr->t, cr->pos.slot, request_id(r), &cr->c);
	return reply_if_unread(r, cr, rc, "no such campaign");
}

/* The campaign as it stood at as_of (from its history); true when it answered instead. */
static bool read_as_of(struct http_request *r, struct campaign_read *cr, int64_t as_of)
{
	int rc = proj_history_as_of(&cr->t, cr->pos.slot, &r->w->staged, as_of, &cr->c, NULL);
	return reply_if_unread(r, cr, rc, NOT_OPENED);
}

void http_api_campaign(struct http_request *r)
{
	struct http_query q;
	struct campaign_read cr;
	if (reject_query(r, HTTP_Q_AS_OF, &q) || begin_campaign_read(r, &cr))
		return;
	if (q.has_as_of && read_as_of(r, &cr, q.as_of))
		return;
	json_t *body = view_campaign(&cr.c);
	store_abort(&cr.t);
	if (body && q.has_as_of && json_object_set_new(body, "as_of", json_integer(q.as_of))) {
		json_decref(body);
		body = NULL;
	}
	reply_rendered(r, body, &cr.pos, cr.key, cr.key_len);
}

/* The length of a bucket, and where the one holding t starts (weeks from Monday, UTC). */
static int64_t interval_ms(enum http_interval i)
{
	return i == HTTP_INTERVAL_HOUR ? 3600000 : i == HTTP_INTERVAL_DAY ? DAY_MS : 7 * DAY_MS;
}

static int64_t bucket_start(enum http_interval i, int64_t t)
{
	/* 1970-01-01 was a Thursday: weeks counted from Monday the 5th. */
	int64_t origin = i == HTTP_INTERVAL_WEEK ? 4 * DAY_MS : 0, step = interval_ms(i);
	int64_t n = (t - origin) / step;
	if ((t - origin) % step < 0)
		n--;
	return origin + n * step;
}

static int append_bucket(const struct proj_bucket *b, void *arg)
{
	return json_array_append_new(arg, view_bucket(b)) ? PL_ENOMEM : 0;
}

void http_api_history(struct http_request *r)
{
	static const char *const names[] = {"hour", "day", "week"};
	struct http_query q;
	struct campaign_read cr;
	if (reject_query(r, HTTP_Q_INTERVAL | HTTP_Q_FROM | HTTP_Q_TO, &q) ||
	    begin_campaign_read(r, &cr))
		return;
	const struct proj_totals *now = &cr.c.totals;
	int64_t from = q.has_from ? q.from : now->opened_at;
	int64_t to = q.has_to ? q.to : now->closed_at != PROJ_NONE ? now->closed_at : now->last_at;
	if (!q.has_to && to < from)
		to = from; /* closed, or last moved, at a time before the opening's (clock skew) */
	int64_t step = interval_ms(q.interval), start = bucket_start(q.interval, from);
	int64_t span = to < start ? 0 : (to - start) / step + 1;
	if (to < from || span > HTTP_HISTORY_BUCKETS) {
		store_abort(&cr.t);
		if (to < from && q.has_from)
			http_reply_error(r, 400, "to must not be before from");
		else if (to < from) /* from defaults to the opening */
			http_reply_error(r, 400, "to must not be before the campaign opened");
		else
			http_reply_error(r, 400, "from and to span %lld buckets (%ss); at most %d: "
						 "ask for a longer interval or a shorter span",
					 (long long)span, names[q.interval], HTTP_HISTORY_BUCKETS);
		return;
	}
	json_t *buckets = json_array();
	int rc = buckets ? proj_history_buckets(&cr.t, cr.pos.slot, &r->w->staged, cr.c.id, start,
						step, (size_t)span, true, append_bucket, buckets)
			 : PL_ENOMEM;
	if (rc && rc != PL_ENOMEM) {
		json_decref(buckets);
		reply_storage_error(r, &cr.t, rc);
		return;
	}
	json_t *body = rc ? NULL
			  : json_pack("{s:s%,s:s%,s:s,s:I,s:I,s:o}", "campaign", cr.c.id.ptr,
				      (size_t)cr.c.id.len, "currency", cr.c.info.currency.ptr,
				      (size_t)cr.c.info.currency.len, "interval", names[q.interval],
				      "from", (json_int_t)from, "to", (json_int_t)to, "buckets",
				      buckets);
	if (rc)
		json_decref(buckets);
	store_abort(&cr.t);
	reply_rendered(r, body, &cr.pos, cr.key, cr.key_len);
}

static int add_platform(const char currency[3], const struct proj_platform *p, void *list)
{
	return json_array_append_new(list, view_platform(currency, p)) ? PL_ENOMEM : 0;
}

void http_api_totals(struct http_request *r)
{
	struct http_query q;
	struct store_txn t;
	struct http_position pos;
	if (reject_query(r, 0, &q))
		return;
	char key[HTTP_CACHE_KEY_MAX];
	size_t key_len = cache_key(r, key);
	int rc = begin_read(r, &t, &pos);
	if (rc) {
		reply_storage_error(r, &t, rc);
		return;
	}
	if (reply_from_cache(r, &t, &pos, key, key_len))
		return;
	json_t *list = json_array();
	rc = list ? proj_platform_each(&t, pos.slot, add_platform, list) : PL_ENOMEM;
	if (rc && rc != PL_ENOMEM) {
		json_decref(list);
		reply_storage_error(r, &t, rc);
		return;
	}
	store_abort(&t);
	json_t *body = rc ? NULL : json_pack("{s:o}", "currencies", list);
	if (rc)
		json_decref(list);
	reply_rendered(r, body, &pos, key, key_len);
}

void http_api_comments(struct http_request *r)
{
	struct http_query q;
	struct proj_cursor before;
	struct campaign_read cr;
	if (reject_query(r, HTTP_Q_LIMIT | HTTP_Q_BEFORE | HTTP_Q_AS_OF, &q))
		return;
	if (q.before[0] && proj_cursor_parse(q.before, strlen(q.before), &before)) {
		http_reply_error(r, 400, "before must be a cursor from a 'next' field");
		return;
	}
	if (begin_campaign_read(r, &cr))
		return;
	if (q.has_as_of && cr.c.totals.opened_at > q.as_of &&
	    reply_if_unread(r, &cr, PL_ENOTFOUND, NOT_OPENED))
		return;
	/* Large (100 comments of up to 4000 bytes are pointers, not copies). */
	struct proj_comment_page page;
	const struct proj_cursor *from = q.before[0] ? &before : NULL;
	int rc = q.has_as_of ? past_feed_page(&cr.t, cr.pos.slot, &r->w->staged, request_id(r),
					      q.as_of, from, q.limit, &page)
			     : proj_comments_page(&cr.t, cr.pos.slot, &r->w->staged_comments,
						 request_id(r), from, q.limit, &page);
	if (rc) {
		reply_storage_error(r, &cr.t, rc);
		return;
	}
	json_t *body = view_comments_page(&page);
	store_abort(&cr.t);
	reply_rendered(r, body, &cr.pos, cr.key, cr.key_len);
}

/* A rejections cursor is the decimal sequence of the last entry shown: any
 * of 1..UINT64_MAX, whose 20 digits some have. */
static bool parse_rejection_cursor(const char *s, uint64_t *seq)
{
	uint64_t v = 0;
	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned digit = (unsigned)(*s - '0');
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - digit) / 10)
			return false;
		v = v * 10 + digit;
	}
	*seq = v;
	return v >= 1;
}

void http_api_rejections(struct http_request *r)
{
	struct http_query q;
	struct store_txn t;
	struct http_position pos;
	uint64_t before = 0;
	if (reject_query(r, HTTP_Q_LIMIT | HTTP_Q_BEFORE, &q))
		return;
	if (q.before[0] && !parse_rejection_cursor(q.before, &before)) {
		http_reply_error(r, 400, "before must be a cursor from a 'next' field");
		return;
	}
	int rc = begin_read(r, &t, &pos);
	/* Rejections do not advance the log, so their own newest one joins the ETag. */
	uint64_t newest = 0;
	if (rc == 0)
		rc = rejections_last_seq(&t, &newest);
	if (rc) {
		reply_storage_error(r, &t, rc);
		return;
	}
	http_position_set(&pos, pos.seq, pos.generation, newest);
	/* Large (100 entries of pointers into the transaction's pages). */
	struct rejection_page page;
	rc = rejections_page(&t, before, q.limit, &page);
	if (rc) {
		reply_storage_error(r, &t, rc);
		return;
	}
	json_t *body = view_rejections_page(&page);
	store_abort(&t);
	http_reply_json(r, 200, body, &pos);
}
