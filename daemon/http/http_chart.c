/* http_chart.c — the raised-over-time chart of the campaign page; see http_chart.h. */
#include "http_chart.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_format.h"
#include "http_html.h"
#include "pl_error.h"
#include "proj_history.h"

#define WIDTH 600
#define HEIGHT 160
#define MARGIN 4 /* keeps the line's stroke inside the box at 0 and at the top */

/* Raised after each bucket, with 0 at the opening in front. */
struct series {
	int64_t raised[HTTP_CHART_POINTS + 1];
	size_t n;
};

static int add_point(const struct proj_bucket *bucket, void *arg)
{
	struct series *s = arg;
	s->raised[s->n++] = bucket->at_end.raised;
	return 0;
}

/* The shortest of hour, day, week, four weeks that fits the span in the chart. */
static int64_t bucket_ms(int64_t span, const char **name)
{
	static const struct {
		int64_t ms;
		const char *name;
	} steps[] = {{3600000, "hourly"}, {DAY_MS, "daily"}, {7 * DAY_MS, "weekly"},
		     {28 * DAY_MS, "four-weekly"}};
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
		if (span / steps[i].ms < HTTP_CHART_POINTS) {
			*name = steps[i].name;
			return steps[i].ms;
		}
	*name = "";
	return span / (HTTP_CHART_POINTS - 1) + 1;
}

/* Geometry only: doubles place the points; every amount shown is exact text. */
static double y_of(int64_t raised, int64_t top)
{
	if (top <= 0 || raised <= 0)
		return HEIGHT + MARGIN;
	return HEIGHT + MARGIN - (double)raised * HEIGHT / (double)top;
}

/* The series as SVG points, "x,y x,y …", spread over the width. */
static void add_points(struct evbuffer *b, const struct series *s, int64_t top)
{
	for (size_t i = 0; i < s->n; i++)
		evbuffer_add_printf(b, "%s%.1f,%.1f", i ? " " : "",
				    (double)i * WIDTH / (double)(s->n - 1), y_of(s->raised[i], top));
}

static int draw(struct evbuffer *b, struct proj_staged *staged, struct store_txn *t,
		enum store_slot slot, const struct proj_campaign *c)
{
	const struct proj_totals *tot = &c->totals;
	int64_t from = tot->opened_at, to = c->closed ? tot->closed_at : tot->last_at;
	if (to < from)
		to = from;
	const char *every;
	int64_t step = bucket_ms(to - from, &every);
	size_t count = (size_t)((to - from) / step + 1);
	struct series s = {.raised = {0}, .n = 1};
	int rc = proj_history_buckets(t, slot, staged, c->id, from, step, count, false, add_point,
				      &s);
	if (rc)
		return rc;
	/* It ends where the campaign stands now, as the live page draws it: a
	 * refund after the close still counts (the span stays the campaign's). */
	s.raised[s.n - 1] = tot->raised;
	bool has_target = c->info.target != PROJ_NONE && c->info.target > 0;
	int64_t top = has_target ? c->info.target : 0;
	for (size_t i = 0; i < s.n; i++)
		if (s.raised[i] > top)
			top = s.raised[i];

	evbuffer_add_printf(b, "<figure class=\"chart\">\n<svg id=\"chart\" viewBox=\"0 0 %d %d\" "
			       "preserveAspectRatio=\"none\" role=\"img\" "
			       "aria-labelledby=\"chart-caption\" data-target=\"%" PRId64 "\" "
			       "data-values=\"",
			    WIDTH, HEIGHT + 2 * MARGIN, has_target ? c->info.target : 0);
	for (size_t i = 0; i < s.n; i++)
		evbuffer_add_printf(b, "%s%" PRId64, i ? " " : "", s.raised[i]);
	evbuffer_add_printf(b, "\">\n");
	if (has_target)
		evbuffer_add_printf(b, "<line class=\"chart-target\" x1=\"0\" x2=\"%d\" y1=\"%.1f\" "
				       "y2=\"%.1f\"/>\n",
				    WIDTH, y_of(c->info.target, top), y_of(c->info.target, top));
	/* The area under the line closes along the bottom edge. */
	evbuffer_add_printf(b, "<polygon id=\"chart-area\" class=\"chart-area\" points=\"0,%d ",
			    HEIGHT + MARGIN);
	add_points(b, &s, top);
	evbuffer_add_printf(b, " %d,%d\"/>\n<polyline id=\"chart-line\" class=\"chart-line\" points=\"",
			    WIDTH, HEIGHT + MARGIN);
	add_points(b, &s, top);
	evbuffer_add_printf(b, "\"/>\n</svg>\n");

	char first[64], last[64];
	http_format_date(first, sizeof first, from);
	http_format_date(last, sizeof last, to);
	evbuffer_add_printf(b, "<figcaption id=\"chart-caption\">Raised %s%sfrom %s to %s: now "
			       "<span id=\"chart-raised\">",
			    every, *every ? " " : "", first, last);
	http_html_add_money(b, tot->raised, c->info.currency);
	evbuffer_add_printf(b, "</span>");
	if (has_target) {
		evbuffer_add_printf(b, "; the dashed line is the target, ");
		http_html_add_money(b, c->info.target, c->info.currency);
	}
	evbuffer_add_printf(b, ".</figcaption>\n</figure>\n");
	return 0;
}

int http_chart_add(struct evbuffer *b, struct http_cache *cache, struct proj_staged *staged,
		   struct store_txn *t, enum store_slot slot, uint64_t gen,
		   const struct proj_campaign *c)
{
	/* Every event that moves money changes raised or the pledges' count (a
	 * pledge adds one, a refund lowers raised); with the span and the
	 * projections' generation, they say whether the chart can differ. */
	char key[HTTP_CACHE_KEY_MAX], tag[64];
	size_t key_len = 1 + 5 + c->id.len;
	const struct proj_totals *tot = &c->totals;
	snprintf(tag, sizeof tag, "%d.%" PRIu64 ".%" PRId64 ".%" PRId64 ".%" PRId64 ".%" PRId64,
		 (int)slot, gen, tot->raised, tot->pledges, tot->last_at, tot->closed_at);
	if (key_len <= sizeof key) {
		/* A first byte no route uses: charts have a namespace of their own. */
		memcpy(key, "\xff" "chart", 6);
		memcpy(key + 6, c->id.ptr, c->id.len);
	} else {
		key_len = 0;
	}
	struct http_blob *blob = key_len ? http_cache_get(cache, key, key_len, tag) : NULL;
	if (blob && http_blob_add_to(blob, b) == 0)
		return 0;
	struct evbuffer *drawn = evbuffer_new();
	if (!drawn)
		return PL_ENOMEM;
	int rc = draw(drawn, staged, t, slot, c);
	size_t len = evbuffer_get_length(drawn);
	char *text = rc == 0 ? malloc(len) : NULL;
	if (text) {
		evbuffer_copyout(drawn, text, len);
		blob = key_len ? http_cache_put(cache, key, key_len, tag, text, len) : NULL;
		if (!key_len)
			free(text);
	}
	if (!blob || http_blob_add_to(blob, b))
		rc = rc ? rc : evbuffer_add_buffer(b, drawn) ? PL_ENOMEM : 0;
	evbuffer_free(drawn);
	return rc;
}
