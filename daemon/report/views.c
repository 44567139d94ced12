/* views.c — JSON forms of campaigns, history, platform totals, comments, rejections and log entries. */
#include "views.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "event_codec.h"

static json_t *str_or_null(struct pl_str s, bool present)
{
	return present ? json_stringn(s.ptr, s.len) : json_null();
}

static json_t *int_or_null(int64_t v)
{
	return v == PROJ_NONE ? json_null() : json_integer(v);
}

json_t *view_campaign(const struct proj_campaign *c)
{
	const struct proj_info *i = &c->info;
	const struct proj_totals *t = &c->totals;
	return json_pack("{s:s%,s:s%,s:s%,s:o,s:s%,s:o,s:I,s:I,s:I,s:I,s:s,s:I,s:o,s:I,s:o}",
			 "id", c->id.ptr, (size_t)c->id.len,
			 "title", i->title.ptr, (size_t)i->title.len,
			 "owner", i->owner.ptr, (size_t)i->owner.len,
			 "location", str_or_null(i->location, i->has_location),
			 "currency", i->currency.ptr, (size_t)i->currency.len,
			 "target", int_or_null(i->target),
			 "raised", (json_int_t)t->raised,
			 "pledges", (json_int_t)t->pledges,
			 "supporters", (json_int_t)t->supporters,
			 "comments", (json_int_t)t->comments,
			 "status", c->closed ? "closed" : "open",
			 "opened_at", (json_int_t)t->opened_at,
			 "closed_at", int_or_null(t->closed_at),
			 "days", (json_int_t)c->days,
			 "closes_at", int_or_null(i->closes_at));
}

static json_t *figures(const struct proj_totals *t)
{
	return json_pack("{s:I,s:I,s:I,s:I}", "raised", (json_int_t)t->raised, "pledges",
			 (json_int_t)t->pledges, "supporters", (json_int_t)t->supporters, "comments",
			 (json_int_t)t->comments);
}

json_t *view_bucket(const struct proj_bucket *b)
{
	const struct proj_totals *t = &b->at_end;
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:o}", "start", (json_int_t)b->start, "end",
			 (json_int_t)b->end, "raised", (json_int_t)t->raised, "pledges",
			 (json_int_t)t->pledges, "supporters", (json_int_t)t->supporters, "comments",
			 (json_int_t)t->comments, "change", figures(&b->change));
}

/* A sum of money that may pass what a JSON integer here holds: then a string of its digits. */
static json_t *big_amount(__int128 v)
{
	if (v >= INT64_MIN && v <= INT64_MAX)
		return json_integer((json_int_t)v);
	char digits[48], *p = digits + sizeof digits - 1;
	unsigned __int128 u = v < 0 ? -(unsigned __int128)v : (unsigned __int128)v;
	*p = '\0';
	do
		*--p = (char)('0' + (int)(u % 10));
	while ((u /= 10) != 0);
	if (v < 0)
		*--p = '-';
	return json_string(p);
}

json_t *view_platform(const char currency[3], const struct proj_platform *p)
{
	return json_pack("{s:s%,s:o,s:I,s:{s:I,s:I},s:I}", "currency", currency, (size_t)3, "raised",
			 big_amount(p->raised), "pledges", (json_int_t)p->pledges, "campaigns", "open",
			 (json_int_t)p->open, "closed", (json_int_t)p->closed, "supporters",
			 (json_int_t)p->supporters);
}

json_t *view_comments_page(const struct proj_comment_page *page)
{
	json_t *list = json_array();
	for (size_t n = 0; list && n < page->count; n++) {
		const struct proj_comment *c = &page->items[n];
		json_t *item = json_pack("{s:s%,s:o,s:s%,s:I}", "id", c->id.ptr, (size_t)c->id.len,
					 "name", str_or_null(c->name, c->has_name), "text",
					 c->text.ptr, (size_t)c->text.len, "at", (json_int_t)c->at);
		if (json_array_append_new(list, item)) {
			json_decref(list);
			return NULL;
		}
	}
	json_t *next = json_null();
	if (page->has_next) {
		char cursor[PROJ_CURSOR_MAX];
		proj_cursor_format(&page->next, cursor);
		next = json_string(cursor);
	}
	return json_pack("{s:o,s:o}", "comments", list, "next", next);
}

json_t *view_base64(const void *data, size_t len)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *in = data;
	size_t out_len = 4 * ((len + 2) / 3);
	char *out = malloc(out_len + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? alphabet[v & 63] : '=';
	}
	json_t *s = json_stringn(out, o);
	free(out);
	return s;
}

json_t *view_rejection(const struct rejection_entry *e)
{
	/* Keys are UTF-8 by contract, but a rejected message's may not be: then
	 * "key" is null and "key_base64" holds its bytes, so no reader has to
	 * guess which encoding it got. */
	json_t *key = e->has_key ? json_stringn(e->key, e->key_len) : json_null();
	json_t *id = e->event_id.len ? json_stringn(e->event_id.ptr, e->event_id.len) : json_null();
	json_t *j = json_pack("{s:I,s:s,s:s%,s:o,s:o,s:s%,s:i,s:I,s:o,s:I,s:o,s:b}", "seq",
			      (json_int_t)e->seq, "reason", pl_reason_code(e->reason), "detail",
			      e->detail, e->detail_len, "event_id", id ? id : json_null(), "event_type",
			      e->event_type >= 0 ? json_string(pl_type_defs[e->event_type].name)
						 : json_null(),
			      "topic", e->src.topic, e->src.topic_len, "partition", (int)e->src.partition,
			      "offset", (json_int_t)e->src.offset, "key", key ? key : json_null(), "at",
			      (json_int_t)e->at, "raw", view_base64(e->raw, e->raw_len), "erased",
			      e->erased);
	if (j && e->has_key && !key &&
	    json_object_set_new(j, "key_base64", view_base64(e->key, e->key_len))) {
		json_decref(j);
		return NULL;
	}
	return j;
}

json_t *view_rejections_page(const struct rejection_page *page)
{
	json_t *list = json_array();
	for (size_t n = 0; list && n < page->count; n++) {
		if (json_array_append_new(list, view_rejection(&page->items[n]))) {
			json_decref(list);
			return NULL;
		}
	}
	json_t *next = json_null();
	if (page->has_next) {
		char cursor[24];
		snprintf(cursor, sizeof cursor, "%" PRIu64, page->next);
		next = json_string(cursor);
	}
	return json_pack("{s:o,s:o}", "rejections", list, "next", next);
}

json_t *view_log_entry(const struct evlog_entry *e)
{
	struct pl_event ev;
	struct pl_rejection rej;
	json_t *event = NULL;
	if (pl_event_decode(e->raw, e->raw_len, NULL, 0, &ev, &rej) == 0)
		event = pl_event_to_json(&ev);
	return json_pack("{s:I,s:s%,s:i,s:I,s:I,s:b,s:o}", "seq", (json_int_t)e->seq, "topic",
			 e->src.topic, e->src.topic_len, "partition", (int)e->src.partition, "offset",
			 (json_int_t)e->src.offset, "appended_at", (json_int_t)e->appended_at, "erased",
			 e->erased, event ? "event" : "raw",
			 event ? event : view_base64(e->raw, e->raw_len));
}
