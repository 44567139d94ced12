/* kept_rejections.c — the hashes of rejections kept: sorted for lookups, the batch's apart. */
#include "kept_rejections.h"

#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "bytes.h"
#include "pl_error.h"
#include "rejections.h"

struct kept_hash {
	uint8_t b[REJECTION_HASH_SIZE];
};

struct loading {
	struct kept_rejections *k;
	const char *topic;
};

static int compare(const void *a, const void *b)
{
	return memcmp(a, b, REJECTION_HASH_SIZE);
}

static int add(const struct rejection_entry *e, void *arg)
{
	struct loading *l = arg;
	bool known = e->erased ? e->erased_hash != NULL : e->raw_len < REJECTION_RAW_MAX;
	if (!known || e->src.topic_len != strlen(l->topic) ||
	    memcmp(e->src.topic, l->topic, e->src.topic_len) != 0)
		return 0;
	struct kept_rejections *k = l->k;
	if (!array_reserve((void **)&k->hashes, &k->cap, k->n + 1, sizeof *k->hashes))
		return PL_ENOMEM;
	struct kept_hash *h = &k->hashes[k->n++];
	if (e->erased)
		memcpy(h->b, e->erased_hash, REJECTION_HASH_SIZE);
	else
		rejections_hash(e->raw, e->raw_len, h->b);
	return 0;
}

int kept_rejections_load(struct kept_rejections *k, struct store *st, const char *topic)
{
	struct loading l = {.k = k, .topic = topic};
	struct store_txn t;
	*k = (struct kept_rejections){0};
	int rc = store_read_begin(st, &t);
	if (rc)
		return rc;
	rc = rejections_each_after(&t, 0, add, &l);
	store_abort(&t);
	if (rc) {
		kept_rejections_free(k);
		return rc;
	}
	if (k->n)
		qsort(k->hashes, k->n, sizeof *k->hashes, compare);
	return PL_OK;
}

/* The first slot of h in the batch's table (slots_cap is a power of two). */
static size_t slot_of(const struct kept_rejections *k, const struct kept_hash *h)
{
	return (size_t)bytes_get_be64(h->b) & (k->slots_cap - 1);
}

static bool noted(const struct kept_rejections *k, const struct kept_hash *h)
{
	if (!k->nnoted)
		return false;
	for (size_t s = slot_of(k, h);; s = (s + 1) & (k->slots_cap - 1)) {
		uint32_t i = k->slots[s];
		if (i == 0)
			return false;
		if (memcmp(k->noted[i - 1].b, h->b, REJECTION_HASH_SIZE) == 0)
			return true;
	}
}

static void place(struct kept_rejections *k, size_t i)
{
	size_t s = slot_of(k, &k->noted[i]);
	while (k->slots[s])
		s = (s + 1) & (k->slots_cap - 1);
	k->slots[s] = (uint32_t)(i + 1);
}

bool kept_rejections_has(const struct kept_rejections *k, const void *raw, size_t len)
{
	if ((!k->n && !k->nnoted) || len >= REJECTION_RAW_MAX)
		return false;
	struct kept_hash h;
	rejections_hash(raw, len, h.b);
	return noted(k, &h) || bsearch(&h, k->hashes, k->n, sizeof h, compare) != NULL;
}

int kept_rejections_note(struct kept_rejections *k, const void *raw, size_t len)
{
	if (len >= REJECTION_RAW_MAX)
		return PL_OK; /* kept cut short: not known */
	/* Room for the commit too, so that it cannot fail after the transaction did not. */
	if (!array_reserve((void **)&k->noted, &k->noted_cap, k->nnoted + 1, sizeof *k->noted) ||
	    !array_reserve((void **)&k->hashes, &k->cap, k->n + k->nnoted + 1, sizeof *k->hashes))
		return PL_ENOMEM;
	if (2 * (k->nnoted + 1) > k->slots_cap) { /* at most half full */
		size_t cap = k->slots_cap ? 2 * k->slots_cap : 512;
		uint32_t *slots = calloc(cap, sizeof *slots);
		if (!slots)
			return PL_ENOMEM;
		free(k->slots);
		k->slots = slots;
		k->slots_cap = cap;
		for (size_t i = 0; i < k->nnoted; i++)
			place(k, i);
	}
	rejections_hash(raw, len, k->noted[k->nnoted].b);
	place(k, k->nnoted++);
	return PL_OK;
}

void kept_rejections_commit(struct kept_rejections *k)
{
	if (!k->nnoted)
		return;
	qsort(k->noted, k->nnoted, sizeof *k->noted, compare);
	/* Merged from the end, into the room note() made. */
	size_t i = k->n, j = k->nnoted, out = k->n + k->nnoted;
	while (j > 0) {
		if (i > 0 && compare(&k->hashes[i - 1], &k->noted[j - 1]) > 0)
			k->hashes[--out] = k->hashes[--i];
		else
			k->hashes[--out] = k->noted[--j];
	}
	k->n += k->nnoted;
	kept_rejections_undo(k);
}

void kept_rejections_undo(struct kept_rejections *k)
{
	if (k->nnoted)
		memset(k->slots, 0, k->slots_cap * sizeof *k->slots);
	k->nnoted = 0;
}

void kept_rejections_free(struct kept_rejections *k)
{
	free(k->hashes);
	free(k->noted);
	free(k->slots);
	*k = (struct kept_rejections){0};
}
