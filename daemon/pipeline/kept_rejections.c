/* kept_rejections.c — the hashes of rejections kept, sorted for lookups. */
#include "kept_rejections.h"

#include <stdlib.h>
#include <string.h>

#include "pl_error.h"
#include "rejections.h"

struct kept_hash {
	uint8_t b[REJECTION_HASH_SIZE];
};

struct loading {
	struct kept_rejections *k;
	size_t cap;
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
	if (k->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		struct kept_hash *grown = realloc(k->hashes, cap * sizeof *grown);
		if (!grown)
			return PL_ENOMEM;
		k->hashes = grown;
		l->cap = cap;
	}
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

bool kept_rejections_has(const struct kept_rejections *k, const void *raw, size_t len)
{
	if (!k->n || len >= REJECTION_RAW_MAX)
		return false;
	struct kept_hash h;
	rejections_hash(raw, len, h.b);
	return bsearch(&h, k->hashes, k->n, sizeof h, compare) != NULL;
}

void kept_rejections_free(struct kept_rejections *k)
{
	free(k->hashes);
	*k = (struct kept_rejections){0};
}
