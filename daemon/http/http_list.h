/*
 * http_list.h — a page of the campaign list, for the API and the web page
 * alike: in an order (by id, raised, newest, closing soon), after a cursor,
 * filtered by status, as of a time, and only the campaigns this instance
 * holds. A page looks at no more than HTTP_LIST_SCAN_MAX campaigns, and
 * as of a time starts no campaign's history once it has read
 * HTTP_LIST_ROWS_MAX rows of them (the server's list_rows_max), so a
 * filter that skips many campaigns, or long histories, end the page early
 * (with a cursor to go on) rather than hold the event loop.
 */
#ifndef HTTP_LIST_H
#define HTTP_LIST_H

#include "http_internal.h"
#include "http_query.h"
#include "proj_read.h"

struct http_list {
	/* set by the caller */
	const struct http_request *r;
	struct store_txn *t;
	enum store_slot slot;
	enum proj_order sort;
	enum http_status_filter status;
	bool has_as_of;
	int64_t as_of;
	unsigned limit;
	/* called for each campaign shown, as it stood then with as_of; non-zero stops with it */
	int (*show)(const struct proj_campaign *c, void *arg);
	void *arg;
	/* set by http_list_walk */
	unsigned shown;
	size_t scanned;
	uint64_t rows; /* of the histories read, as of a time */
	bool has_next;
	char next[HTTP_ID_CURSOR_MAX]; /* the cursor of the next page, when has_next */
};

/*
 * Parses the text of an `after` cursor of l->sort into key: false when it
 * is not one (a cursor of another order included).
 */
bool http_list_cursor(const struct http_list *l, const char *text, uint8_t key[HTTP_CURSOR_KEY_MAX],
		      size_t *key_len);

/* Walks the page after key (key_len 0: from the start). 0, or an error of the store or of show. */
int http_list_walk(struct http_list *l, const uint8_t *key, size_t key_len);

#endif
