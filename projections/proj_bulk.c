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

/*
 * A pass's items, scattered into 2^bits partitions by their key's top
 * bits, in log order within each: the partitions in order then hold the
 * keys in order, and each partition's table (memtable_init_shared) keeps
 * its own in order. Every item starts with its key. The buffer is kept
 * from pass to pass.
 */
struct scatter {
	unsigned bits;
	size_t *start; /* 2^bits + 1: where each partition's items begin */
	size_t *fill;
	uint8_t *items;
	size_t items_cap; /* bytes */
};

struct bulk {
	const struct proj_bulk_entry *e;
	size_t n;
	struct learned *learned;
	struct refund_of *refunds; /* by a refund's number (learned.ref) */
	size_t nrefunds;
	struct proj_bulk *out;
	size_t partition_items;
	struct scatter scatter; /* the items of the pass under way */
	struct memtable table;  /* the partition's state */
};

static int stop(struct bulk *b, uint64_t seq, const char *why)
{
	if (!b->out->stopped_at || seq < b->out->stopped_at) {
		b->out->stopped_at = seq;
		b->out->why = why;
	}
	return PL_EREJECTED;
}

#define ITEM_MAX 128

/* How every item starts: its key, and the entry it comes from. */
struct item_head {
	struct fp key;
	uint32_t entry;
};

/* Items ahead whose entry's outcome a pass asks the cache for: their entries lie far apart. */
#define PREFETCH_AHEAD 16

/* Fills item with what entry i gives the pass, or says it gives nothing. */
typedef bool (*item_fn)(const struct bulk *b, size_t i, void *item);

static size_t partition_of(unsigned bits, const void *item)
{
	return bits ? (size_t)(fp_word(item, 0) >> (64 - bits)) : 0;
}

static int scatter(struct scatter *s, const struct bulk *b, item_fn fn, size_t item_size)
{
	uint8_t item[ITEM_MAX];
	/* Partitions for every entry giving an item: a pass that gets fewer has smaller ones. */
	s->bits = 0;
	while (((size_t)1 << s->bits) * b->partition_items < b->n)
		s->bits++;
	size_t parts = (size_t)1 << s->bits;
	free(s->start);
	free(s->fill);
	s->start = calloc(parts + 1, sizeof *s->start);
	s->fill = malloc(parts * sizeof *s->fill);
	if (!s->start || !s->fill)
		return PL_ENOMEM;
	for (size_t i = 0; i < b->n; i++)
		if (fn(b, i, item))
			s->start[partition_of(s->bits, item) + 1]++;
	for (size_t p = 0; p < parts; p++)
		s->start[p + 1] += s->start[p];
	if (s->start[parts] * item_size > s->items_cap) {
		big_free(s->items, s->items_cap);
		s->items_cap = s->start[parts] * item_size;
		if (!(s->items = big_alloc(s->items_cap)))
			return PL_ENOMEM;
	}
	memcpy(s->fill, s->start, parts * sizeof *s->fill);
	for (size_t i = 0; i < b->n; i++)
		if (fn(b, i, item))
			memcpy(s->items + s->fill[partition_of(s->bits, item)]++ * item_size, item,
			       item_size);
	return PL_OK;
}

/* Applies one item to the partition's table in b->table. */
typedef int (*apply_fn)(struct bulk *b, const void *item);
/* Writes a table entry's value as the state index keeps it. */
typedef void (*keep_fn)(uint8_t *out, const void *value);

/*
 * One pass: entries' items scattered, each partition applied in log order
 * with a table of value_size values, its entries then kept, in key order,
 * in out.
 */
static int pass(struct bulk *b, item_fn items, size_t item_size, size_t value_size, apply_fn apply,
		struct proj_bulk_table *out, size_t kept_size, keep_fn keep)
{
	struct scatter *s = &b->scatter;
	int rc = scatter(s, b, items, item_size);
	if (rc || (rc = memtable_init_shared(&b->table, value_size, s->bits)))
		return rc;
	*out = (struct proj_bulk_table){.entry_size = FP_SIZE + kept_size};
	for (size_t p = 0; rc == 0 && p < (size_t)1 << s->bits; p++) {
		memtable_clear(&b->table);
		for (size_t i = s->start[p]; rc == 0 && i < s->start[p + 1]; i++) {
			if (i + PREFETCH_AHEAD < s->start[p + 1]) {
				const struct item_head *ahead =
					(const void *)(s->items + (i + PREFETCH_AHEAD) * item_size);
				__builtin_prefetch(&b->learned[ahead->entry], 1);
				__builtin_prefetch(&b->out->rows[ahead->entry], 1);
			}
			rc = apply(b, s->items + i * item_size);
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

struct pledge_item {
	struct item_head h;
	struct fp campaign, supporter, backer;
	int64_t at, amount;
	uint64_t seq;
	uint8_t type;
};

struct pledge_value {
	struct fp campaign, supporter, backer;
	int64_t at, amount, refunded;
	uint64_t seq;
};

static bool pledge_items(const struct bulk *b, size_t i, void *item)
{
	const struct proj_bulk_entry *e = &b->e[i];
	if (e->type != PL_EV_PLEDGE_CREATED && e->type != PL_EV_PLEDGE_REFUNDED)
		return false;
	*(struct pledge_item *)item = (struct pledge_item){
		.h = {e->keys.pledge, (uint32_t)i}, .campaign = e->keys.campaign,
		.supporter = e->keys.supporter, .backer = e->keys.backer, .at = e->at,
		.amount = e->amount, .seq = e->seq, .type = e->type};
	return true;
}

static int apply_pledge(struct bulk *b, const void *item)
{
	const struct pledge_item *it = item;
	struct pledge_value *v = memtable_get(&b->table, &it->h.key);
	if (it->type == PL_EV_PLEDGE_CREATED) {
		if (v)
			return stop(b, it->seq, "a pledge id taken twice");
		struct pledge_value made = {it->campaign, it->supporter, it->backer, it->at,
					    it->amount, 0, it->seq};
		return memtable_put(&b->table, &it->h.key, &made);
	}
	if (!v || fp_cmp(&v->campaign, &it->campaign) != 0)
		return stop(b, it->seq, "a refund of no pledge of its campaign");
	if (it->amount > v->amount - v->refunded)
		return stop(b, it->seq, "a refund beyond its pledge");
	v->refunded += it->amount;
	struct learned *l = &b->learned[it->h.entry];
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

struct net_item {
	struct item_head h;
	int64_t delta;
	uint64_t seq;
	bool check; /* a comment's: the net must be above 0 */
};

static bool net_items(const struct bulk *b, size_t i, void *item)
{
	const struct proj_bulk_entry *e = &b->e[i];
	struct net_item *it = item;
	*it = (struct net_item){.h = {e->keys.supporter, (uint32_t)i}, .delta = e->amount,
				.seq = e->seq};
	if (e->type == PL_EV_PLEDGE_REFUNDED) {
		it->h.key = b->refunds[b->learned[i].ref].supporter;
		it->delta = -e->amount;
	} else if (e->type == PL_EV_COMMENT_POSTED) {
		it->check = true;
	} else if (e->type != PL_EV_PLEDGE_CREATED) {
		return false;
	}
	return true;
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

static int apply_net(struct bulk *b, const void *item)
{
	const struct net_item *it = item;
	if (it->check) {
		const int64_t *net = memtable_get(&b->table, &it->h.key);
		return net && *net > 0 ? PL_OK : stop(b, it->seq, "a comment by no backer");
	}
	return add_to(&b->table, &it->h.key, it->delta, &b->learned[it->h.entry].supporters);
}

static bool backer_items(const struct bulk *b, size_t i, void *item)
{
	const struct proj_bulk_entry *e = &b->e[i];
	const struct learned *l = &b->learned[i];
	if (!l->supporters)
		return false;
	*(struct net_item *)item = (struct net_item){
		.h = {e->type == PL_EV_PLEDGE_REFUNDED ? b->refunds[l->ref].backer : e->keys.backer,
		      (uint32_t)i},
		.delta = l->supporters, .seq = e->seq};
	return true;
}

static int apply_backer(struct bulk *b, const void *item)
{
	const struct net_item *it = item;
	return add_to(&b->table, &it->h.key, it->delta, &b->learned[it->h.entry].platform_supporters);
}

static void keep_number(uint8_t *out, const void *value)
{
	int64_t v;
	memcpy(&v, value, sizeof v);
	bytes_put_le64(out, (uint64_t)v);
}

/* --- comments, by comment id --- */

struct comment_item {
	struct item_head h;
	struct fp campaign;
	int64_t at;
	uint64_t seq;
	uint8_t type;
};

struct comment_value {
	struct fp campaign;
	int64_t at;
	uint64_t seq;
	bool removed;
};

static bool comment_items(const struct bulk *b, size_t i, void *item)
{
	const struct proj_bulk_entry *e = &b->e[i];
	if (e->type != PL_EV_COMMENT_POSTED && e->type != PL_EV_COMMENT_REMOVED)
		return false;
	*(struct comment_item *)item = (struct comment_item){
		.h = {e->keys.comment, (uint32_t)i}, .campaign = e->keys.campaign, .at = e->at,
		.seq = e->seq, .type = e->type};
	return true;
}

static int apply_comment(struct bulk *b, const void *item)
{
	const struct comment_item *it = item;
	struct comment_value *v = memtable_get(&b->table, &it->h.key);
	if (it->type == PL_EV_COMMENT_POSTED) {
		if (v)
			return stop(b, it->seq, "a comment id taken twice");
		struct comment_value posted = {it->campaign, it->at, it->seq, false};
		return memtable_put(&b->table, &it->h.key, &posted);
	}
	if (!v || fp_cmp(&v->campaign, &it->campaign) != 0 || v->removed)
		return stop(b, it->seq, "a removal of no comment shown in its campaign");
	v->removed = true;
	b->learned[it->h.entry].ref = v->seq;
	b->learned[it->h.entry].depends_on = v->at;
	return PL_OK;
}

static void keep_comment(uint8_t *out, const void *value)
{
	const struct comment_value *v = value;
	proj_comment_state_encode(out, &(struct proj_comment_state){v->seq, v->removed});
}

/* --- campaigns: totals, and each entry's row of the history --- */

struct campaign_item {
	struct item_head h;
	struct fp supporter;
	int64_t at, amount, depends_on;
	uint64_t seq, ref;
	uint8_t type;
	char currency[3];
	int8_t supporters, platform_supporters;
};

struct campaign_value {
	struct proj_campaign_state state;
};

static bool campaign_items(const struct bulk *b, size_t i, void *item)
{
	const struct proj_bulk_entry *e = &b->e[i];
	const struct learned *l = &b->learned[i];
	struct campaign_item *it = item;
	*it = (struct campaign_item){.h = {e->keys.campaign, (uint32_t)i},
				     .supporter = e->keys.supporter, .at = e->at, .amount = e->amount,
				     .depends_on = l->depends_on, .seq = e->seq, .ref = l->ref,
				     .type = e->type, .supporters = l->supporters,
				     .platform_supporters = l->platform_supporters};
	memcpy(it->currency, e->currency, 3);
	if (e->type == PL_EV_PLEDGE_REFUNDED)
		it->supporter = b->refunds[l->ref].supporter;
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

static int open_campaign(struct bulk *b, const struct campaign_item *it)
{
	struct campaign_value v = {.state.totals = {.opened_at = it->at, .closed_at = PROJ_NONE,
						    .last_at = it->at}};
	memcpy(v.state.currency, it->currency, 3);
	b->out->rows[it->h.entry] = (struct proj_bulk_row){.at = it->at, .h.type = it->type};
	int rc = memtable_put(&b->table, &it->h.key, &v);
	return rc ? rc : add_platform(b, it->currency, &(struct proj_platform){.open = 1});
}

static int apply_campaign(struct bulk *b, const void *item)
{
	const struct campaign_item *it = item;
	struct campaign_value *v = memtable_get(&b->table, &it->h.key);
	if (it->type == PL_EV_CAMPAIGN_OPENED)
		return v ? stop(b, it->seq, "a campaign opened twice") : open_campaign(b, it);
	if (!v)
		return stop(b, it->seq, "an event of a campaign never opened");
	struct proj_totals *t = &v->state.totals;
	struct proj_bulk_row *row = &b->out->rows[it->h.entry];
	struct proj_platform d = {0};
	*row = (struct proj_bulk_row){.at = effective_at(t, it->at, 0), .h.type = it->type};
	switch (it->type) {
	case PL_EV_CAMPAIGN_CLOSED:
		if (t->closed_at != PROJ_NONE)
			return stop(b, it->seq, "a campaign closed twice");
		t->closed_at = row->at;
		d = (struct proj_platform){.open = -1, .closed = 1};
		break;
	case PL_EV_PLEDGE_CREATED:
		if (t->closed_at != PROJ_NONE || memcmp(it->currency, v->state.currency, 3) != 0 ||
		    t->raised > INT64_MAX - it->amount)
			return stop(b, it->seq, "a pledge its campaign refuses");
		t->raised += it->amount;
		t->pledges++;
		row->h.raised = row->h.net = it->amount;
		row->h.pledges = 1;
		d = (struct proj_platform){.raised = it->amount, .pledges = 1};
		break;
	case PL_EV_PLEDGE_REFUNDED:
		t->raised -= it->amount;
		row->at = effective_at(t, it->at, it->depends_on);
		row->h.raised = row->h.net = -it->amount;
		d = (struct proj_platform){.raised = -it->amount};
		break;
	case PL_EV_COMMENT_POSTED:
		t->comments++;
		row->h.comments = 1;
		break;
	case PL_EV_COMMENT_REMOVED:
		t->comments--;
		row->at = effective_at(t, it->at, it->depends_on);
		row->h.comments = -1;
		row->h.ref = it->ref;
		break;
	default:
		return stop(b, it->seq, "an event of no known type");
	}
	if (it->type == PL_EV_PLEDGE_CREATED || it->type == PL_EV_PLEDGE_REFUNDED) {
		memcpy(row->h.supporter, it->supporter.b, sizeof row->h.supporter);
		t->supporters += it->supporters;
		d.supporters = it->platform_supporters;
	}
	if (it->at > t->last_at)
		t->last_at = it->at;
	return add_platform(b, v->state.currency, &d);
}

static void keep_campaign(uint8_t *out, const void *value)
{
	proj_campaign_state_encode(out, &((const struct campaign_value *)value)->state);
}

/* --- event ids --- */

static bool id_items(const struct bulk *b, size_t i, void *item)
{
	*(struct item_head *)item = (struct item_head){b->e[i].id, (uint32_t)i};
	return true;
}

static int apply_id(struct bulk *b, const void *item)
{
	const struct item_head *it = item;
	if (memtable_get(&b->table, &it->key))
		return stop(b, b->e[it->entry].seq, "an event id in the log twice");
	static const uint8_t no_value[1];
	return memtable_put(&b->table, &it->key, no_value);
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
	struct bulk b = {.e = e, .n = n, .out = out,
			 .partition_items = partition_items ? partition_items
							    : PROJ_BULK_PARTITION_ITEMS};
	/* Mapped for huge pages: a page fault per 4 KiB of these costs more than the rules. */
	b.learned = big_alloc(n * sizeof *b.learned);
	out->rows = big_alloc(n * sizeof *out->rows);
	if (n && (!b.learned || !out->rows)) {
		big_free(b.learned, n * sizeof *b.learned);
		return PL_ENOMEM;
	}
	out->nrows = n;
	/* Each refund numbered, for what the pledges' pass learns of its pledge. */
	for (size_t i = 0; i < n; i++)
		if (e[i].type == PL_EV_PLEDGE_REFUNDED)
			b.learned[i].ref = b.nrefunds++;
	b.refunds = big_alloc(b.nrefunds * sizeof *b.refunds);
	if (b.nrefunds && !b.refunds) {
		big_free(b.learned, n * sizeof *b.learned);
		return PL_ENOMEM;
	}
	/* In the order the kinds learn from each other (proj_bulk.h). */
	int rc = pass(&b, pledge_items, sizeof(struct pledge_item), sizeof(struct pledge_value),
		      apply_pledge, &out->state[PROJ_K_PLEDGE], PROJ_PLEDGE_SIZE, keep_pledge);
	if (rc == 0)
		rc = pass(&b, net_items, sizeof(struct net_item), sizeof(int64_t), apply_net,
			  &out->state[PROJ_K_SUPPORTER], 8, keep_number);
	if (rc == 0)
		rc = pass(&b, backer_items, sizeof(struct net_item), sizeof(int64_t), apply_backer,
			  &out->state[PROJ_K_BACKER], 8, keep_number);
	if (rc == 0)
		rc = pass(&b, comment_items, sizeof(struct comment_item),
			  sizeof(struct comment_value), apply_comment, &out->state[PROJ_K_COMMENT],
			  PROJ_COMMENT_STATE_SIZE, keep_comment);
	if (rc == 0)
		rc = pass(&b, campaign_items, sizeof(struct campaign_item),
			  sizeof(struct campaign_value), apply_campaign, &out->state[PROJ_K_CAMPAIGN],
			  PROJ_CAMPAIGN_STATE_SIZE, keep_campaign);
	if (rc == 0)
		rc = pass(&b, id_items, sizeof(struct item_head), 0, apply_id, &out->ids, 0,
			  keep_nothing);
	if (rc == 0 && out->nplatform)
		qsort(out->platform, out->nplatform, sizeof *out->platform, by_currency);
	big_free(b.learned, n * sizeof *b.learned);
	big_free(b.refunds, b.nrefunds * sizeof *b.refunds);
	free(b.scatter.start);
	free(b.scatter.fill);
	big_free(b.scatter.items, b.scatter.items_cap);
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
