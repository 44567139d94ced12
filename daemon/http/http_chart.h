/*
 * http_chart.h — the campaign page's chart of money raised over time: an
 * inline SVG drawn on the server from the campaign's history, so it shows
 * without JavaScript; page.js moves its last point as the totals change.
 */
#ifndef HTTP_CHART_H
#define HTTP_CHART_H

#include <event2/buffer.h>

#include "http_cache.h"
#include "proj_read.h"
#include "proj_staged.h"

/* Points a chart holds at most: hours, days or weeks, whichever fit. */
#define HTTP_CHART_POINTS 120

/*
 * Appends the chart of c (read in t, slot of projections generation gen)
 * to b, as a <figure>: from its opening to its closing, or to its last
 * event while open. Drawing it walks the campaign's history, one row per
 * event, so a chart is kept in the worker's cache until the campaign's
 * money or span changes. staged: the worker's staged history rows
 * (proj_staged.h). 0, or a store error.
 */
int http_chart_add(struct evbuffer *b, struct http_cache *cache, struct proj_staged *staged,
		   struct store_txn *t, enum store_slot slot, uint64_t gen,
		   const struct proj_campaign *c);

#endif
