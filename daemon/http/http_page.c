/*
 * http_page.c — the campaign web page, rendered on the server (/ and /c/{id}).
 *
 * The first render is complete HTML, so the page is fast, readable without
 * JavaScript and indexable; daemon/http/web/page.js then keeps it live from the
 * stream and loads more comments. "Show more" is a real link (?before=…)
 * that the script takes over. Every text from the store is HTML-escaped
 * here, and the script only ever sets textContent; the Content-Security-
 * Policy forbids inline scripts as a second line of defence.
 *
 * "/" shows the campaign when there is exactly one, else a page of cards,
 * one per campaign, with the platform's totals at the foot as on the seed
 * page. Campaign pages carry the chart of raised over time (http_chart.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "clock.h"
#include "evlog.h"
#include "http_assets.h"
#include "http_chart.h"
#include "http_format.h"
#include "http_html.h"
#include "http_list.h"
#include "http_internal.h"
#include "http_query.h"
#include "http_reply.h"
#include "log.h"
#include "pl_error.h"
#include "proj_read.h"

#define PAGE_COMMENTS 20
#define PAGE_CAMPAIGNS 50

#define PAGE_CSP                                                                               \
	"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "        \
	"img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static void add_str(struct evbuffer *b, struct pl_str s)
{
	http_html_add(b, s.ptr, s.len);
}

static void add_asset_url(struct evbuffer *b, const char *name)
{
	const struct http_asset *a = http_asset_find(name, strlen(name));
	evbuffer_add_printf(b, "/assets/%s?v=%s", name, a ? a->version : "0");
}

static void add_head(struct evbuffer *b, struct pl_str title)
{
	evbuffer_add_printf(b, "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
			       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
			       "<title>");
	add_str(b, title);
	evbuffer_add_printf(b, "</title>\n<link rel=\"icon\" type=\"image/svg+xml\" href=\"");
	add_asset_url(b, "icon.svg");
	evbuffer_add_printf(b, "\">\n<link rel=\"stylesheet\" href=\"");
	add_asset_url(b, "page.css");
	evbuffer_add_printf(b, "\">\n<script src=\"");
	add_asset_url(b, "page.js");
	evbuffer_add_printf(b, "\" defer></script>\n</head>\n<body>\n");
}

static int add_platform_line(const char currency[3], const struct proj_platform *p, void *arg)
{
	struct evbuffer *b = arg;
	evbuffer_add_printf(b, "<li>");
	http_html_add_money(b, p->raised, (struct pl_str){currency, 3});
	evbuffer_add_printf(b, " from %" PRId64 " %s for %" PRId64 " %s</li>\n", p->supporters,
			    p->supporters == 1 ? "supporter" : "supporters", p->open + p->closed,
			    p->open + p->closed == 1 ? "campaign" : "campaigns");
	return 0;
}

/* The site's foot, with what the whole crowd raised, per currency, as on the seed page. */
static int add_foot(struct evbuffer *b, struct store_txn *t, enum store_slot slot)
{
	evbuffer_add_printf(b, "<footer class=\"site-foot\">\n<h2 class=\"crowd-heading\">Our "
			       "crowd has raised</h2>\n<ul id=\"platform\" class=\"platform\">\n");
	int rc = proj_platform_each(t, slot, add_platform_line, b);
	evbuffer_add_printf(b, "</ul>\n<p>As the page was loaded; a campaign's own page updates live. "
			       "Served by pledged.</p>\n</footer>\n"
			       "</body>\n</html>\n");
	return rc;
}

/* A bar a person can see: a little raised never draws as nothing, while
 * the text beside it says exactly how little ("<1%"). */
static void add_progress(struct evbuffer *b, const char *id, int64_t raised, int64_t target,
			 const char *label_id)
{
	int64_t shown = raised < 0 ? 0 : raised < target ? raised : target;
	if (raised > 0 && shown < target / 50)
		shown = target / 50;
	evbuffer_add_printf(b, "<progress%s%s%s max=\"%" PRId64 "\" value=\"%" PRId64 "\"",
			    id ? " id=\"" : "", id ? id : "", id ? "\"" : "", target, shown);
	if (label_id)
		evbuffer_add_printf(b, " aria-labelledby=\"%s\"", label_id);
	evbuffer_add_printf(b, "></progress>");
}

/* The whole per cent of target (> 0), exactly, or "<1" when something but
 * less than one per cent is raised. raised * 100 may pass 64 bits (a
 * target of 1p), and printf has no 128-bit conversion: the digits past
 * the 18 lowest go first. */
static void add_percent(struct evbuffer *b, int64_t raised, int64_t target)
{
	const int64_t e18 = 1000000000000000000;
	__int128 percent = raised > 0 ? (__int128)raised * 100 / target : 0;
	if (percent == 0 && raised > 0)
		evbuffer_add_printf(b, "&lt;1");
	else if (percent >= e18)
		evbuffer_add_printf(b, "%" PRId64 "%018" PRId64, (int64_t)(percent / e18),
				    (int64_t)(percent % e18));
	else
		evbuffer_add_printf(b, "%" PRId64, (int64_t)percent);
}

/* "12 days left", "Last day", "Closing now", "Closed": where a campaign stands. */
static void add_deadline(struct evbuffer *b, const struct proj_campaign *c, int64_t now)
{
	if (c->closed) {
		evbuffer_add_printf(b, "Closed");
		return;
	}
	if (c->info.closes_at == PROJ_NONE) {
		evbuffer_add_printf(b, "Open");
		return;
	}
	int64_t left = c->info.closes_at - now;
	int64_t days = left / DAY_MS + (left % DAY_MS > 0);
	if (left <= 0)
		evbuffer_add_printf(b, "Closing now");
	else if (days == 1)
		evbuffer_add_printf(b, "Last day");
	else
		evbuffer_add_printf(b, "<strong>%" PRId64 "</strong> days left", days);
}

static bool has_target(const struct proj_campaign *c)
{
	return c->info.target != PROJ_NONE && c->info.target > 0;
}

/* Raised something, and its target if it has one: a closed campaign that
 * did is "We did it" and "Funded"; one that raised nothing (every pledge
 * refunded, or none) is not. page.js judges it the same way. */
static bool succeeded(const struct proj_campaign *c)
{
	return c->totals.raised > 0 && (!has_target(c) || c->totals.raised >= c->info.target);
}

/* The page's state as its heading says it, for page.js to tell when it changed. */
static const char *page_state(const struct proj_campaign *c)
{
	return !c->closed ? "raising" : succeeded(c) ? "succeeded" : "closed";
}

/* Shown while the figures stopped moving (X-Pledged-Stale-Since: Kafka out
 * of reach); page.js shows and hides it as the stream says. */
static void add_stale_note(struct evbuffer *b, int64_t stale_since)
{
	evbuffer_add_printf(b, "<p id=\"stale\" class=\"stale\" role=\"status\"%s>",
			    stale_since ? "" : " hidden");
	if (stale_since) {
		char date[64], iso[32];
		http_format_date(date, sizeof date, stale_since);
		http_format_iso(iso, sizeof iso, stale_since);
		/* "2020-01-15T09:30:00Z": the hours and minutes at 11. */
		evbuffer_add_printf(b,
				    "Updates paused since <time datetime=\"%s\">%.5s UTC, %s</time>: "
				    "these figures may be behind.",
				    iso, iso + 11, date);
	}
	evbuffer_add_printf(b, "</p>\n");
}

static void add_totals(struct evbuffer *b, const struct proj_campaign *c, int64_t now,
		       int64_t stale_since)
{
	const struct proj_totals *t = &c->totals;
	const struct proj_info *i = &c->info;
	const char *heading = !c->closed ? "Raising now" : succeeded(c) ? "We did it" : "Campaign closed";
	evbuffer_add_printf(b, "<section class=\"totals\" aria-labelledby=\"totals-heading\">\n"
			       "<h2 id=\"totals-heading\">%s</h2>\n"
			       "<p id=\"summary\" aria-live=\"polite\" aria-atomic=\"true\">",
			    heading);
	if (c->closed) {
		char date[64], iso[32];
		http_format_date(date, sizeof date, t->closed_at);
		http_format_iso(iso, sizeof iso, t->closed_at);
		evbuffer_add_printf(b, "On <time datetime=\"%s\">%s</time> we ", iso, date);
	} else {
		evbuffer_add_printf(b, "We have ");
	}
	evbuffer_add_printf(b, "raised <strong id=\"raised\">");
	http_html_add_money(b, t->raised, i->currency);
	evbuffer_add_printf(b,
			    "</strong> with <strong id=\"supporters\">%" PRId64 "</strong> "
			    "<span id=\"supporters-word\">%s</span> in <strong id=\"days\">%" PRId64
			    "</strong> <span id=\"days-word\">%s</span></p>\n",
			    t->supporters, t->supporters == 1 ? "supporter" : "supporters", c->days,
			    c->days == 1 ? "day" : "days");
	add_stale_note(b, stale_since);
	if (has_target(c)) {
		evbuffer_add_printf(b, "<div class=\"progress\">");
		add_progress(b, "progress", t->raised, i->target, "progress-label");
		evbuffer_add_printf(b, "\n<p id=\"progress-label\"><span id=\"percent\">");
		add_percent(b, t->raised, i->target);
		evbuffer_add_printf(b, "</span>%% of the <span id=\"target\">");
		http_html_add_money(b, i->target, i->currency);
		evbuffer_add_printf(b, "</span> target</p></div>\n");
	}
	if (!c->closed) {
		evbuffer_add_printf(b, "<p id=\"deadline\" class=\"deadline\">");
		add_deadline(b, c, now);
		evbuffer_add_printf(b, "</p>\n");
	}
	evbuffer_add_printf(b, "</section>\n");
}

static void add_comment(struct evbuffer *b, const struct proj_comment *c)
{
	char date[64], iso[32];
	http_format_date(date, sizeof date, c->at);
	http_format_iso(iso, sizeof iso, c->at);
	evbuffer_add_printf(b, "<li data-id=\"");
	add_str(b, c->id);
	evbuffer_add_printf(b, "\"><article><header><h3 class=\"name\">");
	if (c->has_name)
		add_str(b, c->name);
	else
		evbuffer_add_printf(b, "Anonymous");
	evbuffer_add_printf(b, "</h3> <time datetime=\"%s\">%s</time></header>\n<p class=\"text\">",
			    iso, date);
	add_str(b, c->text);
	evbuffer_add_printf(b, "</p></article></li>\n");
}

static void add_comments(struct evbuffer *b, const struct proj_campaign *c,
			 const struct proj_comment_page *page)
{
	evbuffer_add_printf(b,
			    "<section class=\"comments\" aria-labelledby=\"comments-heading\">\n"
			    "<h2 id=\"comments-heading\">Comments <span class=\"count\">(<span "
			    "id=\"comment-count\">%" PRId64 "</span>)</span></h2>\n"
			    "<p class=\"note\">Only backers may comment: you can post a comment "
			    "once you have backed this campaign.</p>\n<ol id=\"comments\" class=\"feed\">\n",
			    c->totals.comments);
	for (size_t n = 0; n < page->count; n++)
		add_comment(b, &page->items[n]);
	evbuffer_add_printf(b, "</ol>\n");
	if (page->count == 0)
		evbuffer_add_printf(b, "<p id=\"no-comments\">No comments yet.</p>\n");
	if (page->has_next) {
		char cursor[PROJ_CURSOR_MAX];
		proj_cursor_format(&page->next, cursor);
		evbuffer_add_printf(b, "<p class=\"more-wrap\"><a id=\"more\" class=\"more\" href=\"");
		char sep = http_html_add_campaign_url(b, c->id.ptr, c->id.len);
		evbuffer_add_printf(b, "%cbefore=%s\" data-next=\"%s\">Show more comments</a></p>\n",
				    sep, cursor, cursor);
	}
	evbuffer_add_printf(b, "</section>\n");
}

static int add_campaign_page(struct evbuffer *b, struct http_cache *cache,
			     struct proj_staged *staged, struct store_txn *t,
			     enum store_slot slot, uint64_t gen, const struct proj_campaign *c,
			     const struct proj_comment_page *page, uint64_t seq, int64_t stale_since)
{
	const struct proj_info *i = &c->info;
	add_head(b, i->title);
	/* Percent-encoded for page.js: HTML has no way to carry a NUL, which
	 * an id may hold, and the script would ask for another campaign. */
	evbuffer_add_printf(b, "<main id=\"campaign\" data-id=\"");
	http_html_add_url_part(b, c->id.ptr, c->id.len);
	evbuffer_add_printf(b, "\" data-code=\"");
	add_str(b, i->currency);
	evbuffer_add_printf(b,
			    "\" data-symbol=\"%s\" data-decimals=\"%d\" data-state=\"%s\" "
			    "data-seq=\"%" PRIu64 "\">\n",
			    http_currency_symbol(i->currency), http_currency_decimals(i->currency),
			    page_state(c), seq);
	evbuffer_add_printf(b, "<p class=\"crumbs\"><a href=\"/\">All campaigns</a></p>\n"
			       "<header class=\"campaign-head\">\n<h1 id=\"title\">");
	add_str(b, i->title);
	evbuffer_add_printf(b, "</h1>\n<p class=\"byline\">by <span id=\"owner\">");
	add_str(b, i->owner);
	evbuffer_add_printf(b, "</span>");
	if (i->has_location) {
		evbuffer_add_printf(b, " in <span id=\"location\">");
		add_str(b, i->location);
		evbuffer_add_printf(b, "</span>");
	}
	evbuffer_add_printf(b, "</p>\n</header>\n");
	add_totals(b, c, clock_wall_ms(), stale_since);
	int rc = http_chart_add(b, cache, staged, t, slot, gen, c);
	if (rc)
		return rc;
	add_comments(b, c, page);
	evbuffer_add_printf(b, "</main>\n");
	return add_foot(b, t, slot);
}

/* One campaign of the list, as a card: title, owner, bar, figures, deadline. */
static void add_card(struct evbuffer *b, const struct proj_campaign *c, int64_t now)
{
	const struct proj_totals *t = &c->totals;
	evbuffer_add_printf(b, "<li class=\"card\" data-id=\"");
	add_str(b, c->id);
	evbuffer_add_printf(b, "\">\n<h2><a href=\"");
	http_html_add_campaign_url(b, c->id.ptr, c->id.len);
	evbuffer_add_printf(b, "\">");
	add_str(b, c->info.title);
	evbuffer_add_printf(b, "</a></h2>\n<p class=\"byline\">by ");
	add_str(b, c->info.owner);
	evbuffer_add_printf(b, "</p>\n");
	if (has_target(c))
		add_progress(b, NULL, t->raised, c->info.target, NULL);
	evbuffer_add_printf(b, "\n<p class=\"figures\"><strong class=\"raised\">");
	http_html_add_money(b, t->raised, c->info.currency);
	evbuffer_add_printf(b, "</strong> raised");
	if (has_target(c)) {
		evbuffer_add_printf(b, " of ");
		http_html_add_money(b, c->info.target, c->info.currency);
		evbuffer_add_printf(b, " (<span class=\"percent\">");
		add_percent(b, t->raised, c->info.target);
		evbuffer_add_printf(b, "%%</span>)");
	}
	evbuffer_add_printf(b, "</p>\n<p class=\"meta\"><span class=\"supporters\">%" PRId64
			       " %s</span> · <span class=\"deadline\">",
			    t->supporters, t->supporters == 1 ? "supporter" : "supporters");
	if (c->closed && succeeded(c))
		evbuffer_add_printf(b, "Funded");
	else
		add_deadline(b, c, now);
	evbuffer_add_printf(b, "</span></p>\n</li>\n");
}

/* The web page's cards, rendered as http_list_walk shows campaigns. */
struct cards {
	struct evbuffer *b;
	int64_t now;
};

static int add_listed_card(const struct proj_campaign *c, void *arg)
{
	struct cards *cards = arg;
	add_card(cards->b, c, cards->now);
	return 0;
}

struct first_campaign {
	const struct http_request *r;
	int count, scanned;
	struct proj_campaign first;
};

static int count_campaign(const struct proj_campaign *c, const void *key, size_t key_len,
			  void *arg)
{
	(void)key;
	(void)key_len;
	struct first_campaign *f = arg;
	/* Past a list's bound of other instances' campaigns, call it a list. */
	if (++f->scanned > HTTP_LIST_SCAN_MAX) {
		f->count = 2;
		return 1;
	}
	if (!http_owns(f->r, c->id.ptr, c->id.len))
		return 0;
	if (f->count++ == 0)
		f->first = *c;
	return f->count >= 2; /* two is enough to know it is a list */
}

/* The list's orders, as the page offers them: its `sort` values and their names. */
static const struct {
	const char *sort, *name;
} orders[] = {[PROJ_BY_ID] = {"", "All"},
	      [PROJ_BY_RAISED] = {"raised", "Most raised"},
	      [PROJ_BY_NEWEST] = {"newest", "Newest"},
	      [PROJ_BY_CLOSING] = {"closing", "Closing soon"}};

static void add_orders(struct evbuffer *b, enum proj_order current)
{
	evbuffer_add_printf(b, "<nav class=\"orders\" aria-label=\"Order of the campaigns\"><ul>\n");
	for (size_t i = 0; i < sizeof orders / sizeof orders[0]; i++)
		evbuffer_add_printf(b, "<li><a href=\"/%s%s\"%s>%s</a></li>\n", *orders[i].sort ? "?sort=" : "",
				    orders[i].sort, i == current ? " aria-current=\"page\"" : "",
				    orders[i].name);
	evbuffer_add_printf(b, "</ul></nav>\n");
}

/* A page of the list in l's order, after key (key_len 0: from the first). */
static int add_list_page(struct evbuffer *b, struct http_list *l, int count, const uint8_t *key,
			 size_t key_len)
{
	static const char title[] = "Campaigns";
	add_head(b, (struct pl_str){title, sizeof title - 1});
	evbuffer_add_printf(b, "<main id=\"campaigns\">\n<h1>Campaigns</h1>\n");
	if (count == 0) {
		evbuffer_add_printf(b, "<p>No campaigns yet.</p>\n</main>\n");
		return add_foot(b, l->t, l->slot);
	}
	add_orders(b, l->sort);
	evbuffer_add_printf(b, "<ul class=\"cards\">\n");
	struct cards cards = {b, clock_wall_ms()};
	l->show = add_listed_card;
	l->arg = &cards;
	int rc = http_list_walk(l, key, key_len);
	evbuffer_add_printf(b, "</ul>\n");
	if (l->shown == 0)
		evbuffer_add_printf(b, "<p>No more campaigns here.</p>\n");
	if (l->has_next)
		evbuffer_add_printf(b, "<p class=\"more-wrap\"><a id=\"more-campaigns\" class=\"more\" "
				       "href=\"/?%s%s%safter=%s\">More campaigns</a></p>\n",
				    *orders[l->sort].sort ? "sort=" : "", orders[l->sort].sort,
				    *orders[l->sort].sort ? "&amp;" : "", l->next);
	evbuffer_add_printf(b, "</main>\n");
	return rc ? rc : add_foot(b, l->t, l->slot);
}

void http_page_campaign(struct http_request *r)
{
	struct http_query q;
	struct proj_cursor before;
	char err[160];
	uint8_t after[HTTP_CURSOR_KEY_MAX];
	size_t after_len = 0;
	/* Other parameters are ignored (a page link may carry tracking ones),
	 * but not a second id, nor an id beside the one in the path. */
	if (http_query_parse(r->query, HTTP_Q_BEFORE | HTTP_Q_AFTER | HTTP_Q_SORT | HTTP_Q_ID, false,
			     &q, err, sizeof err)) {
		http_reply_error(r, 400, "%s", err);
		return;
	}
	if (q.has_id && r->id_len && !r->id_in_query) {
		http_reply_error(r, 400, "the path names the campaign: no id parameter");
		return;
	}
	if (q.before[0] && proj_cursor_parse(q.before, strlen(q.before), &before)) {
		http_reply_error(r, 400, "before must be a cursor from a 'next' field");
		return;
	}
	struct http_list l = {.r = r, .sort = q.sort, .limit = PAGE_CAMPAIGNS};
	if (q.after[0] && !http_list_cursor(&l, q.after, after, &after_len)) {
		http_reply_error(r, 400, "after must be a cursor from a 'More campaigns' link");
		return;
	}
	struct store_txn t;
	uint64_t seq = 0, gen;
	enum store_slot slot;
	struct first_campaign f = {.r = r};
	int rc = store_read_begin(r->w->hs->st, &t);
	if (rc == 0)
		rc = evlog_last_seq(&t, &seq);
	if (rc == 0)
		rc = proj_live(&t, &slot, &gen);
	if (rc == 0 && r->id_len)
		rc = proj_campaign_get(&t, slot, (struct pl_str){r->id, (uint32_t)r->id_len},
				       &f.first);
	else if (rc == 0)
		rc = proj_campaign_each(&t, slot, count_campaign, &f);
	if (rc == PL_ENOTFOUND) {
		store_abort(&t);
		http_reply_error(r, 404, "no such campaign");
		return;
	}
	struct evbuffer *b = evhttp_request_get_output_buffer(r->req);
	if (rc == 0 && (r->id_len || f.count == 1)) {
		struct proj_comment_page page;
		rc = proj_comments_page(&t, slot, &r->w->staged_comments, f.first.id,
					q.before[0] ? &before : NULL, PAGE_COMMENTS, &page);
		if (rc == 0)
			rc = add_campaign_page(b, r->w->cache, &r->w->staged, &t, slot, gen, &f.first,
					       &page, seq, r->owner.lost_ms);
	} else if (rc == 0) {
		l.t = &t;
		l.slot = slot;
		rc = add_list_page(b, &l, f.count, after, after_len);
	}
	store_abort(&t);
	if (rc) {
		log_error("http: page: reading the store failed: %s; check the data dir and disk",
			  pl_strerror(rc));
		evbuffer_drain(b, evbuffer_get_length(b));
		http_reply_error(r, 500, "storage error");
		return;
	}
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
	char num[24];
	snprintf(num, sizeof num, "%" PRIu64, seq);
	evhttp_add_header(h, "X-Pledged-Seq", num);
	evhttp_add_header(h, "Content-Security-Policy", PAGE_CSP);
	evhttp_add_header(h, "Referrer-Policy", "same-origin");
	http_reply_prepare(r, 200, NULL);
	http_reply_body(r, 200, "text/html; charset=utf-8", "no-cache", b);
}
