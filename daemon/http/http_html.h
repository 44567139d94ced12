/*
 * http_html.h — text from the store made safe for the server-rendered page:
 * HTML-escaped for text and attribute values, percent-encoded for URLs.
 */
#ifndef HTTP_HTML_H
#define HTTP_HTML_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/buffer.h>

#include "event_schema.h"

/* Appends s as HTML text or a quoted attribute value. */
void http_html_add(struct evbuffer *b, const char *s, size_t len);

/* Appends an amount in minor units as people read it (http_format_money), escaped. */
void http_html_add_money(struct evbuffer *b, __int128 minor, struct pl_str currency);

/* Appends s percent-encoded for a URL path segment or query value. */
void http_html_add_url_part(struct evbuffer *b, const char *s, size_t len);

/*
 * Appends the page URL of campaign id: /c/ID, or /c/?id=ID for "." and
 * "..", which browsers resolve as path steps even percent-encoded. Returns
 * the character that starts any further parameter: '?' or '&'.
 */
char http_html_add_campaign_url(struct evbuffer *b, const char *id, size_t len);

#endif
