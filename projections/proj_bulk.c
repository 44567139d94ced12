/* proj_bulk.c — the rules applied to a whole log kind by kind; see proj_bulk.h. */
#include "proj_bulk.h"

#include <stdlib.h>
#include <string.h>

#include "big_alloc.h"
#include "bytes.h"
#include "pl_error.h"

void proj_bulk_entry_of(struct proj_bulk_entry *b, const struct pl_event *ev,
			const struct proj_keys *keys, const struct fp *id, uint64_t seq)
{
	*b = (struct proj_bulk_entry){.seq = seq, .at = pl_event_int(ev, PL_F_AT), .id = *id,
				      .keys = *keys, .type = (uint8_t)ev->type};
	if (pl_event_has(ev, PL_F_AMOUNT))
		b->amount = pl_event_int(ev, PL_F_AMOUNT);
	if (pl_event_has(ev, PL_F_CURRENCY))
		memcpy(b->currency, pl_event_str(ev, PL_F_CURRENCY).ptr, 3);
}

/* What a pass learns of an entry, for the passes after it. */
struct learned {
	int64_t depends_on;         /* a refund's pledge's time, a removal's comment's */
	uint64_t ref;               /* a removal's comment.posted log position; a refund's number */
	int8_t supporters;          /* the change of its campaign's supporter count */
	int8_t platform_supporters; /* of its currency's distinct supporters */
};

/* A refund's pledge's supporter, in its campaign and in its currency. */
struct refund_of {
	struct fp supporter, backer;
};

/* Partitions at most, so that a pass's partition of an entry fits 16 bits. */
#define MAX_BITS 15
#define NO_PARTITION UINT16_MAX
/* Entries ahead in a partition whose data a pass asks the cache for: they lie far apart. */
#define PREFETCH_AHEAD 16

/*
 * A pass scatters the entries it takes into 2^bits partitions by their
 * key's top bits, in log order within each (as entry numbers): the
 * partitions in order then hold the keys in order, and each partition's
 * table (memtable_init_shared) keeps its own in order.
 */
struct bulk {
	const struct proj_bulk_entry *e;
	size_t n;
	struct learned *learned;
	struct refund_of *refunds; /* by a refund's number (learned.ref) */
	size_t nrefunds;
	struct proj_bulk *out;
	unsigned bits;
	size_t *start;    /* 2^bits + 1: where each partition's entries begin in order */
	size_t *fill;     /* 2^bits */
	uint16_t *part;   /* an entry's partition in the pass under way, or NO_PARTITION */
	uint32_t *order;  /* the pass's entries by partition */
	struct memtable table; /* the partition's state */
};

static int stop(struct bulk *b, uint64_t seq, const char *why)
{
	if (!b->out->stopped_at || seq < b->out->stopped_at) {
		b->out->stopped_at = seq;
		b->out->why = why;
	}
	return PL_EREJECTED;
}

/* The key entry i has in a pass, or false when the pass does not take it. */
typedef bool (*key_fn)(const struct bulk *b, size_t i, struct fp *key);
/* Applies entry i, of key key, to the partition's table in b->table. */
typedef int (*apply_fn)(struct bulk *b, size_t i, const struct fp *key);
/* Writes a table entry's value as the state index keeps it. */
typedef void (*keep_fn)(uint8_t *out, const void *value);

static void scatter(struct bulk *b, key_fn key)
{
	size_t parts = (size_t)1 << b->bits;
	memset(b->start, 0, (parts + 1) * sizeof *b->start);
	for (size_t i = 0; i < b->n; i++) {
		struct fp k;
		b->part[i] = NO_PARTITION;
		if (key(b, i, &k)) {
			size_t p = b->bits ? (size_t)(fp_word(k.b, 0) >> (64 - b->bits)) : 0;
			b->part[i] = (uint16_t)p;
			b->start[p + 1]++;
		}
	}
	for (size_t p = 0; p < parts; p++)
		b->start[p + 1] += b->start[p];
	memcpy(b->fill, b->start, parts * sizeof *b->fill);
	for (size_t i = 0; i < b->n; i++)
		if (b->part[i] != NO_PARTITION)
			b->order[b->fill[b->part[i]]++] = (uint32_t)i;
}

/* What applying entry i reads of the entries' arrays, asked for ahead. */
static void prefetch_entry(const struct bulk *b, size_t i)
{
	const uint8_t *e = (const uint8_t *)&b->e[i];
	__builtin_prefetch(e);
	__builtin_prefetch(e + 64);
	__builtin_prefetch(&b->learned[i], 1);
	__builtin_prefetch(&b->out->rows[i], 1);
}

/*
 * One pass: the entries key takes scattered, each partition applied in log
 * order with a table of value_size values, its entries then kept, in key
 * order, in out.
 */
static int pass(struct bulk *b, key_fn key, size_t value_size, apply_fn apply,
		struct proj_bulk_table *out, size_t kept_size, keep_fn keep)
{
	int rc = memtable_init_shared(&b->table, value_size, b->bits);
	if (rc)
		return rc;
	scatter(b, key);
	*out = (struct proj_bulk_table){.entry_size = FP_SIZE + kept_size};
	for (size_t p = 0; rc == 0 && p < (size_t)1 << b->bits; p++) {
		size_t end = b->start[p + 1];
		memtable_clear(&b->table);
		for (size_t j = b->start[p]; rc == 0 && j < end; j++) {
			struct fp k;
			if (j + PREFETCH_AHEAD < end)
				prefetch_entry(b, b->order[j + PREFETCH_AHEAD]);
			key(b, b->order[j], &k);
			rc = apply(b, b->order[j], &k);
		}
		if (rc == 0 && !big_array_reserve((void **)&out->entries, &out->cap,
						  out->count + b->table.count, out->entry_size))
			rc = PL_ENOMEM;
		for (const uint8_t *t = memtable_next(&b->table, NULL); rc == 0 && t;
		     t = memtable_next(&b->table, t)) {
			uint8_t *o = out->entries + out->count++ * out->entry_size;
			memcpy(o, t, FP_SIZE);
			keep(o + FP_SIZE, t + FP_SIZE);
		}
	}
	memtable_deinit(&b->table);
	return rc;
}

/* --- pledges, by pledge id --- */

struct pledge_value {
	struct fp campaign, supporter, backer;
	int64_t at, amount, refunded;
	uint64_t seq;
};

static bool pledge_key(const struct bulk *b, size_t i, struct fp *key)
{
	const struct proj_bulk_entry *e = &b->e[i];
	*key = e->keys.pledge;
	return e->type == PL_EV_PLEDGE_CREATED || e->type == PL_EV_PLEDGE_REFUNDED;
}

static int apply_pledge(struct bulk *b, size_t i, const struct fp *key)
{
	const struct proj_bulk_entry *e = &b->e[i];
	struct pledge_value *v = memtable_get(&b->table, key);
	if (e->type == PL_EV_PLEDGE_CREATED) {
		if (v)
			return stop(b, e->seq, "a pledge id taken twice");
		struct pledge_value made = {e->keys.campaign, e->keys.supporter, e->keys.backer,
					    e->at, e->amount, 0, e->seq};
		return memtable_put(&b->table, key, &made);
	}
	if (!v || fp_cmp(&v->campaign, &e->keys.campaign) != 0)
		return stop(b, e->seq, "a refund of no pledge of its campaign");
	if (e->amount > v->amount - v->refunded)
		return stop(b, e->seq, "a refund beyond its pledge");
	v->refunded += e->amount;
	struct learned *l = &b->learned[i];
	b->refunds[l->ref] = (struct refund_of){v->supporter, v->backer};
	l->depends_on = v->at;
	return PL_OK;
}

static void keep_pledge(uint8_t *out, const void *value)
{
	const struct pledge_value *v = value;
	proj_pledge_encode(out, &(struct proj_pledge){.seq = v->seq, .refunded = v->refunded});
}

/* --- supporters' nets, by campaign and supporter; backers' counts, by currency and supporter --- */

static bool net_key(const struct bulk *b, size_t i, struct fp *key)
{
	const struct proj_bulk_entry *e = &b->e[i];
	if (e->type == PL_EV_PLEDGE_REFUNDED) {
		*key = b->refunds[b->learned[i].ref].supporter;
		return true;
	}
	*key = e->keys.supporter;
	return e->type == PL_EV_PLEDGE_CREATED || e->type == PL_EV_COMMENT_POSTED;
}

/* Adds delta to the count or net at key: the change in whether it is above 0. */
static int add_to(struct memtable *m, const struct fp *key, int64_t delta, int8_t *change)
{
	int64_t *v = memtable_get(m, key);
	int64_t before = v ? *v : 0;
	*change = (int8_t)((before + delta > 0) - (before > 0));
	if (v) {
		*v += delta;
		return PL_OK;
	}
	return memtable_put(m, key, &delta);
}

static int apply_net(struct bulk *b, size_t i, const struct fp *key)
{
	const struct proj_bulk_entry *e = &b->e[i];
	if (e->type == PL_EV_COMMENT_POSTED) {
		const int64_t *net = memtable_get(&b->table, key);
		return net && *net > 0 ? PL_OK : stop(b, e->seq, "a comment by no backer");
	}
	int64_t delta = e->type == PL_EV_PLEDGE_REFUNDED ? -e->amount : e->amount;
	return add_to(&b->table, key, delta, &b->learned[i].supporters);
}

static bool backer_key(const struct bulk *b, size_t i, struct fp *key)
{
	const struct proj_bulk_entry *e = &b->e[i];
	const struct learned *l = &b->learned[i];
	if (!l->supporters)
		return false;
	*key = e->type == PL_EV_PLEDGE_REFUNDED ? b->refunds[l->ref].backer : e->keys.backer;
	return true;
}

static int apply_backer(struct bulk *b, size_t i, const struct fp *key)
{
	struct learned *l = &b->learned[i];
	return add_to(&b->table, key, l->supporters, &l->platform_supporters);
}

static void keep_number(uint8_t *out, const void *value)
{
	int64_t v;
	memcpy(&v, value, sizeof v);
	bytes_put_le64(out, (uint64_t)v);
}

/* --- comments, by comment id --- */

struct comment_value {
	struct fp campaign;
	int64_t at;
	uint64_t seq;
	bool removed;
};

static bool comment_key(const struct bulk *b, size_t i, struct fp *key)
{
	const struct proj_bulk_entry *e = &b->e[i];
	*key = e->keys.comment;
	return e->type == PL_EV_COMMENT_POSTED || e->type == PL_EV_COMMENT_REMOVED;
}

static int apply_comment(struct bulk *b, size_t i, const struct fp *key)
{
	const struct proj_bulk_entry *e = &b->e[i];
	struct comment_value *v = memtable_get(&b->table, key);
	if (e->type == PL_EV_COMMENT_POSTED) {
		if (v)
			return stop(b, e->seq, "a comment id taken twice");
		struct comment_value posted = {e->keys.campaign, e->at, e->seq, false};
		return memtable_put(&b->table, key, &posted);
	}
	if (!v || fp_cmp(&v->campaign, &e->keys.campaign) != 0 || v->removed)
		return stop(b, e->seq, "a removal of no comment shown in its campaign");
	v->removed = true;
	b->learned[i].ref = v->seq;
	b->learned[i].depends_on = v->at;
	return PL_OK;
}

static void keep_comment(uint8_t *out, const void *value)
{
	const struct comment_value *v = value;
	proj_comment_state_encode(out, &(struct proj_comment_state){v->seq, v->removed});
}

/* --- campaigns: totals, and each entry's row of the history --- */

static bool campaign_key(const struct bulk *b, size_t i, struct fp *key)
{
	*key = b->e[i].keys.campaign;
	return true;
}

static int add_platform(struct bulk *b, const char currency[3], const struct proj_platform *d)
{
	struct proj_bulk *out = b->out;
	size_t i = 0;
	while (i < out->nplatform && memcmp(out->platform[i].currency, currency, 3) != 0)
		i++;
	if (i == out->nplatform) {
		struct proj_bulk_platform *grown =
			realloc(out->platform, (out->nplatform + 1) * sizeof *grown);
		if (!grown)
			return PL_ENOMEM;
		out->platform = grown;
		grown[i] = (struct proj_bulk_platform){0};
		memcpy(grown[i].currency, currency, 3);
		out->nplatform++;
	}
	proj_platform_add(&out->platform[i].p, d);
	return PL_OK;
}

/* As proj_apply.c's effective_at: never before the opening nor before what it depends on. */
static int64_t effective_at(const struct proj_totals *t, int64_t at, int64_t depends_on)
{
	if (at < t->opened_at)
		at = t->opened_at;
	return at > depends_on ? at : depends_on;
}

static int open_campaign(struct bulk *b, size_t i, const struct fp *key)
{
	const struct proj_bulk_entry *e = &b->e[i];
	struct proj_campaign_state v = {.totals = {.opened_at = e->at, .closed_at = PROJ_NONE,
						   .last_at = e->at}};
	memcpy(v.currency, e->currency, 3);
	b->out->rows[i] = (struct proj_bulk_row){.at = e->at, .h.type = e->type};
	int rc = memtable_put(&b->table, key, &v);
	return rc ? rc : add_platform(b, e->currency, &(struct proj_platform){.open = 1});
}

static int apply_campaign(struct bulk *b, size_t i, const struct fp *key)
{
	const struct proj_bulk_entry *e = &b->e[i];
	const struct learned *l = &b->learned[i];
	struct proj_campaign_state *v = memtable_get(&b->table, key);
	if (e->type == PL_EV_CAMPAIGN_OPENED)
		return v ? stop(b, e->seq, "a campaign opened twice") : open_campaign(b, i, key);
	if (!v)
		return stop(b, e->seq, "an event of a campaign never opened");
	struct proj_totals *t = &v->totals;
	struct proj_bulk_row *row = &b->out->rows[i];
	struct proj_platform d = {0};
	const struct fp *supporter = &e->keys.supporter;
	*row = (struct proj_bulk_row){.at = effective_at(t, e->at, 0), .h.type = e->type};
	switch (e->type) {
	case PL_EV_CAMPAIGN_CLOSED:
		if (t->closed_at != PROJ_NONE)
			return stop(b, e->seq, "a campaign closed twice");
		t->closed_at = row->at;
		d = (struct proj_platform){.open = -1, .closed = 1};
		break;
	case PL_EV_PLEDGE_CREATED:
		if (t->closed_at != PROJ_NONE || memcmp(e->currency, v->currency, 3) != 0 ||
		    t->raised > INT64_MAX - e->amount)
			return stop(b, e->seq, "a pledge its campaign refuses");
		t->raised += e->amount;
		t->pledges++;
		row->h.raised = row->h.net = e->amount;
		row->h.pledges = 1;
		d = (struct proj_platform){.raised = e->amount, .pledges = 1};
		break;
	case PL_EV_PLEDGE_REFUNDED:
		t->raised -= e->amount;
		row->at = effective_at(t, e->at, l->depends_on);
		row->h.raised = row->h.net = -e->amount;
		supporter = &b->refunds[l->ref].supporter;
		d = (struct proj_platform){.raised = -e->amount};
		break;
	case PL_EV_COMMENT_POSTED:
		t->comments++;
		row->h.comments = 1;
		break;
	case PL_EV_COMMENT_REMOVED:
		t->comments--;
		row->at = effective_at(t, e->at, l->depends_on);
		row->h.comments = -1;
		row->h.ref = l->ref;
		break;
	default:
		return stop(b, e->seq, "an event of no known type");
	}
	if (e->type == PL_EV_PLEDGE_CREATED || e->type == PL_EV_PLEDGE_REFUNDED) {
		memcpy(row->h.supporter, supporter->b, sizeof row->h.supporter);
		t->supporters += l->supporters;
		d.supporters = l->platform_supporters;
	}
	if (e->at > t->last_at)
		t->last_at = e->at;
	return add_platform(b, v->currency, &d);
}

static void keep_campaign(uint8_t *out, const void *value)
{
	proj_campaign_state_encode(out, value);
}

/* --- event ids --- */

static bool id_key(const struct bulk *b, size_t i, struct fp *key)
{
	*key = b->e[i].id;
	return true;
}

static int apply_id(struct bulk *b, size_t i, const struct fp *key)
{
	static const uint8_t no_value[1];
	if (memtable_get(&b->table, key))
		return stop(b, b->e[i].seq, "an event id in the log twice");
	return memtable_put(&b->table, key, no_value);
}

static void keep_nothing(uint8_t *out, const void *value)
{
	(void)out;
	(void)value;
}

static int by_currency(const void *a, const void *b)
{
	return memcmp(((const struct proj_bulk_platform *)a)->currency,
		      ((const struct proj_bulk_platform *)b)->currency, 3);
}

int proj_bulk_apply(struct proj_bulk *out, const struct proj_bulk_entry *e, size_t n,
		    size_t partition_items)
{
	*out = (struct proj_bulk){0};
	if (n > UINT32_MAX)
		return PL_EINVAL;
	/* Before any pass: an erasure is not taken in bulk yet (proj_bulk.h). */
	for (size_t i = 0; i < n; i++)
		if (e[i].type == PL_EV_SUPPORTER_FORGOTTEN) {
			out->stopped_at = e[i].seq;
			out->why = "an erasure, not taken in bulk yet";
			return PL_EREJECTED;
		}
	struct bulk b = {.e = e, .n = n, .out = out};
	if (!partition_items)
		partition_items = PROJ_BULK_PARTITION_ITEMS;
	while (b.bits < MAX_BITS && ((size_t)1 << b.bits) * partition_items < n)
		b.bits++;
	size_t parts = (size_t)1 << b.bits;
	/* Mapped for huge pages: a page fault per 4 KiB of these costs more than the rules. */
	b.learned = big_alloc(n * sizeof *b.learned);
	b.part = big_alloc(n * sizeof *b.part);
	b.order = big_alloc(n * sizeof *b.order);
	b.start = malloc((parts + 1) * sizeof *b.start);
	b.fill = malloc(parts * sizeof *b.fill);
	out->rows = big_alloc(n * sizeof *out->rows);
	out->nrows = n;
	int rc = n && (!b.learned || !b.part || !b.order || !out->rows) ? PL_ENOMEM : PL_OK;
	if (!b.start || !b.fill)
		rc = PL_ENOMEM;
	/* Each refund numbered, for what the pledges' pass learns of its pledge. */
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (e[i].type == PL_EV_PLEDGE_REFUNDED)
			b.learned[i].ref = b.nrefunds++;
	if (rc == 0 && b.nrefunds && !(b.refunds = big_alloc(b.nrefunds * sizeof *b.refunds)))
		rc = PL_ENOMEM;
	/* In the order the kinds learn from each other (proj_bulk.h). */
	if (rc == 0)
		rc = pass(&b, pledge_key, sizeof(struct pledge_value), apply_pledge,
			  &out->state[PROJ_K_PLEDGE], PROJ_PLEDGE_SIZE, keep_pledge);
	if (rc == 0)
		rc = pass(&b, net_key, sizeof(int64_t), apply_net, &out->state[PROJ_K_SUPPORTER], 8,
			  keep_number);
	if (rc == 0)
		rc = pass(&b, backer_key, sizeof(int64_t), apply_backer, &out->state[PROJ_K_BACKER],
			  8, keep_number);
	if (rc == 0)
		rc = pass(&b, comment_key, sizeof(struct comment_value), apply_comment,
			  &out->state[PROJ_K_COMMENT], PROJ_COMMENT_STATE_SIZE, keep_comment);
	if (rc == 0)
		rc = pass(&b, campaign_key, sizeof(struct proj_campaign_state), apply_campaign,
			  &out->state[PROJ_K_CAMPAIGN], PROJ_CAMPAIGN_STATE_SIZE, keep_campaign);
	if (rc == 0)
		rc = pass(&b, id_key, 0, apply_id, &out->ids, 0, keep_nothing);
	if (rc == 0 && out->nplatform)
		qsort(out->platform, out->nplatform, sizeof *out->platform, by_currency);
	big_free(b.learned, n * sizeof *b.learned);
	big_free(b.refunds, b.nrefunds * sizeof *b.refunds);
	big_free(b.part, n * sizeof *b.part);
	big_free(b.order, n * sizeof *b.order);
	free(b.start);
	free(b.fill);
	return rc;
}

void proj_bulk_free(struct proj_bulk *b)
{
	big_free(b->rows, b->nrows * sizeof *b->rows);
	for (int k = 0; k < PROJ_KIND_COUNT; k++)
		big_free(b->state[k].entries, b->state[k].cap * b->state[k].entry_size);
	big_free(b->ids.entries, b->ids.cap * b->ids.entry_size);
	free(b->platform);
	*b = (struct proj_bulk){0};
}
