/* kept_rejections.c — the hashes of rejections kept, sorted for lookups. */
#include "kept_rejections.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "pl_error.h"
#include "rejections.h"

struct kept_hash {
	uint64_t high, low;
};

struct loading {
	struct kept_rejections *k;
	size_t cap;
	const char *topic;
};

static struct kept_hash hash_of(const void *raw, size_t len)
{
	XXH128_hash_t h = XXH3_128bits(raw, len);
	return (struct kept_hash){h.high64, h.low64};
}

static int compare(const void *a, const void *b)
{
	const struct kept_hash *x = a, *y = b;
	if (x->high != y->high)
		return x->high < y->high ? -1 : 1;
	return x->low < y->low ? -1 : x->low > y->low;
}

static int add(const struct rejection_entry *e, void *arg)
{
	struct loading *l = arg;
	bool whole = !e->erased && e->raw_len < REJECTION_RAW_MAX;
	if (!whole || e->src.topic_len != strlen(l->topic) ||
	    memcmp(e->src.topic, l->topic, e->src.topic_len) != 0)
		return 0;
	struct kept_rejections *k = l->k;
	if (k->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		struct kept_hash *grown = realloc(k->hashes, cap * sizeof *grown);
		if (!grown)
			return PL_ENOMEM;
		k->hashes = grown;
		l->cap = cap;
	}
	k->hashes[k->n++] = hash_of(e->raw, e->raw_len);
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

bool kept_rejections_has(const struct kept_rejections *k, const void *raw, size_t len)
{
	if (!k->n || len >= REJECTION_RAW_MAX)
		return false;
	struct kept_hash h = hash_of(raw, len);
	return bsearch(&h, k->hashes, k->n, sizeof h, compare) != NULL;
}

void kept_rejections_free(struct kept_rejections *k)
{
	free(k->hashes);
	*k = (struct kept_rejections){0};
}
