/* http_list.c — a page of the campaign list; see http_list.h. */
#include "http_list.h"

#include "pl_error.h"
#include "proj_history.h"

/* The letters of the sorted lists' cursors; lists by id have none. */
static const char order_letters[] = {[PROJ_BY_ID] = 0, [PROJ_BY_RAISED] = 'r',
				     [PROJ_BY_NEWEST] = 'n', [PROJ_BY_CLOSING] = 'c'};

bool http_list_cursor(const struct http_list *l, const char *text, uint8_t key[HTTP_CURSOR_KEY_MAX],
		      size_t *key_len)
{
	return http_key_cursor_parse(order_letters[l->sort], text, key, key_len);
}

static int visit(const struct proj_campaign *now, const void *key, size_t key_len, void *arg)
{
	struct http_list *l = arg;
	struct proj_campaign past;
	const struct proj_campaign *c = now;
	if (l->scanned++ == HTTP_LIST_SCAN_MAX || l->rows >= l->r->w->hs->opt.list_rows_max) {
		l->has_next = true;
		return 1;
	}
	if (l->has_as_of) {
		past = *now;
		int rc = proj_history_as_of(l->t, l->slot, &l->r->w->staged, l->as_of, &past, &l->rows);
		if (rc && rc != PL_ENOTFOUND) /* PL_ENOTFOUND: not open yet then */
			return rc;
		c = rc ? NULL : &past;
	}
	bool shown = c && (l->status == HTTP_STATUS_ANY ||
			   c->closed == (l->status == HTTP_STATUS_CLOSED)) &&
		     /* another instance's: X-Pledged-Partitions says which are listed */
		     http_owns(l->r, c->id.ptr, c->id.len);
	if (shown && l->shown == l->limit) {
		l->has_next = true;
		return 1;
	}
	/* The cursor moves past skipped campaigns too: the next page starts after them. */
	http_key_cursor_format(order_letters[l->sort], key, key_len, l->next);
	if (!shown)
		return 0;
	l->shown++;
	return l->show(c, l->arg);
}

int http_list_walk(struct http_list *l, const uint8_t *key, size_t key_len)
{
	l->shown = 0;
	l->scanned = 0;
	l->rows = 0;
	l->has_next = false;
	return proj_campaign_each_in(l->t, l->slot, l->sort, key, key_len, visit, l);
}
