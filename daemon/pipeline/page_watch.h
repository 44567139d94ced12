/* page_watch.h — serve's walk of LMDB's pages when it starts, beside
 * ingestion. */
#ifndef PLEDGED_PAGE_WATCH_H
#define PLEDGED_PAGE_WATCH_H

#include "store.h"

struct page_watch;

/*
 * Starts a thread that walks every page of st once (store_check_pages).
 * LMDB trusts its pages, and a write through a damaged one spreads the
 * damage (it frees the page number a header names); so on damage the
 * thread logs the page and makes every later write of st fail as damaged
 * (store_refuse_writes: ingestion pauses, /healthz says why; HTTP then
 * reads nothing either, as a read that follows a damaged page can fault).
 * Ingestion starts at once rather than after a walk that reads the whole
 * file.
 * 0 or PL_ENOMEM.
 */
int page_watch_start(struct page_watch **out, struct store *st);
/* Gives up the walk if it is still going and frees pw (NULL is fine). */
void page_watch_stop(struct page_watch *pw);

#endif
