/*
 * views.h — the JSON shapes of docs/http.md, built with jansson.
 *
 * Both the HTTP API and the command line print these, so a campaign looks
 * the same wherever it is read. Each function returns a new reference, or
 * NULL when memory runs out.
 */
#ifndef VIEWS_H
#define VIEWS_H

#include <jansson.h>

#include "evlog.h"
#include "proj_history.h"
#include "proj_read.h"
#include "rejections.h"

/* Flags for json_dumps(): compact, and "/" escaped so "</script>" cannot
 * close a script element the JSON is embedded in. */
#define VIEW_DUMP_FLAGS (JSON_COMPACT | JSON_ESCAPE_SLASH)

json_t *view_campaign(const struct proj_campaign *c);
json_t *view_comments_page(const struct proj_comment_page *page);
/* One bucket of a campaign's history: its span, the totals at its end, the change within. */
json_t *view_bucket(const struct proj_bucket *b);
/* The totals of every campaign in one currency. */
json_t *view_platform(const char currency[3], const struct proj_platform *p);
json_t *view_rejection(const struct rejection_entry *e);
json_t *view_rejections_page(const struct rejection_page *page);
/* A log entry with its decoded event (or its raw bytes if it no longer decodes). */
json_t *view_log_entry(const struct evlog_entry *e);

/* Base64 (RFC 4648, padded) of len bytes; a new JSON string. */
json_t *view_base64(const void *data, size_t len);

#endif
