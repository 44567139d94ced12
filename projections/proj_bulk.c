/* proj_bulk.c — the rules applied to a whole log kind by kind; see proj_bulk.h. */
#include "proj_bulk.h"

#include <stdlib.h>
#include <string.h>

#include "big_alloc.h"
#include "bytes.h"
#include "on_two.h"
#include "pl_error.h"

void proj_bulk_entry_of(struct proj_bulk_entry *b, const struct pl_event *ev,
			const struct proj_keys *keys, const struct fp *id, uint64_t seq)
{
	*b = (struct proj_bulk_entry){.type = (uint8_t)ev->type, .seq = seq,
				      .at = pl_event_int(ev, PL_F_AT), .campaign = keys->campaign,
				      .supporter = keys->supporter, .pledge = keys->pledge,
				      .backer = keys->backer, .comment = keys->comment, .id = *id};
	if (pl_event_has(ev, PL_F_AMOUNT))
		b->amount = pl_event_int(ev, PL_F_AMOUNT);
	if (pl_event_has(ev, PL_F_CURRENCY))
		memcpy(b->currency, pl_event_str(ev, PL_F_CURRENCY).ptr, 3);
}

/* What a pass learns of an entry, for the passes after it. */
struct learned {
	int64_t depends_on;         /* a refund's pledge's time, a removal's or a hide's comment's */
	uint64_t ref;               /* a removal's or a hide's comment.posted log position (a
				       hide's 0: removed before it); a refund's number */
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
	size_t *fill[2];  /* 2^bits each: the entries of each half of the log a partition has, then where they go */
	uint16_t *part;   /* an entry's partition in the pass under way, or NO_PARTITION */
	uint32_t *order;  /* the pass's entries by partition */
};

/*
 * One thread's share of a pass: a run of partitions, with its own table,
 * its own output (joined to the other's in order after), its own share
 * of the platform's totals, and where it stopped.
 */
struct worker {
	struct bulk *b;
	const struct pass_def *d;
	size_t from, to; /* partitions */
	struct memtable table;
	uint8_t *out;     /* where its state goes: room for one entry an item */
	size_t kept;      /* entries kept there */
	struct proj_bulk_platform *platform;
	size_t nplatform;
	uint64_t stopped_at;
	const char *why;
	int rc;
};

static int stop(struct worker *w, uint64_t seq, const char *why)
{
	w->stopped_at = seq;
	w->why = why;
	return PL_EREJECTED;
}

/* The key entry i has in a pass, or false when the pass does not take it. */
typedef bool (*key_fn)(const struct bulk *b, size_t i, struct fp *key);
/* Applies entry i, of key key, to the partition's table in w->table. */
typedef int (*apply_fn)(struct worker *w, size_t i, const struct fp *key);
/* Writes a table entry's value as the state index keeps it. */
typedef void (*keep_fn)(uint8_t *out, const void *value);

/* One half of the log's share of a scatter. */
struct scatter_half {
	struct bulk *b;
	key_fn key;
	size_t from, to;
	size_t *fill;
};

/* Counts the entries of each partition in the half, noting each entry's. */
static void *count_half(void *arg)
{
	struct scatter_half *h = arg;
	struct bulk *b = h->b;
	memset(h->fill, 0, ((size_t)1 << b->bits) * sizeof *h->fill);
	for (size_t i = h->from; i < h->to; i++) {
		struct fp k;
		b->part[i] = NO_PARTITION;
		if (h->key(b, i, &k)) {
			size_t p = b->bits ? (size_t)(fp_word(k.b, 0) >> (64 - b->bits)) : 0;
			b->part[i] = (uint16_t)p;
			h->fill[p]++;
		}
	}
	return NULL;
}

/* Places the half's entries where its fill says, in log order. */
static void *place_half(void *arg)
{
	struct scatter_half *h = arg;
	struct bulk *b = h->b;
	for (size_t i = h->from; i < h->to; i++)
		if (b->part[i] != NO_PARTITION)
			b->order[h->fill[b->part[i]]++] = (uint32_t)i;
	return NULL;
}

/*
 * The entries a pass takes, by partition and in log order within each:
 * each half of the log counted and placed by a thread of its own, the
 * first half's entries of a partition before the second's.
 */
static void scatter(struct bulk *b, key_fn key)
{
	size_t parts = (size_t)1 << b->bits;
	struct scatter_half h[2] = {{b, key, 0, b->n / 2, b->fill[0]},
				    {b, key, b->n / 2, b->n, b->fill[1]}};
	on_two(count_half, &h[0], &h[1]);
	b->start[0] = 0;
	for (size_t p = 0; p < parts; p++) {
		size_t first = h[0].fill[p], second = h[1].fill[p];
		h[0].fill[p] = b->start[p];
		h[1].fill[p] = b->start[p] + first;
		b->start[p + 1] = b->start[p] + first + second;
	}
	on_two(place_half, &h[0], &h[1]);
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

/* Adds d to the totals of currency among platform[0..*n). */
static int add_platform_to(struct proj_bulk_platform **platform, size_t *n, const char currency[3],
			   const struct proj_platform *d)
{
	size_t i = 0;
	while (i < *n && memcmp((*platform)[i].currency, currency, 3) != 0)
		i++;
	if (i == *n) {
		struct proj_bulk_platform *grown = realloc(*platform, (*n + 1) * sizeof *grown);
		if (!grown)
			return PL_ENOMEM;
		*platform = grown;
		grown[i] = (struct proj_bulk_platform){0};
		memcpy(grown[i].currency, currency, 3);
		(*n)++;
	}
	proj_platform_add(&(*platform)[i].p, d);
	return PL_OK;
}

/* What a pass does, for its workers. */
struct pass_def {
	key_fn key;
	apply_fn apply;
	keep_fn keep;
	size_t value_size, kept_size;
};

/* A worker's partitions, each applied in log order, its table's entries then kept in order. */
static int work(struct worker *w, const struct pass_def *d)
{
	struct bulk *b = w->b;
	int rc = memtable_init_shared(&w->table, d->value_size, b->bits);
	for (size_t p = w->from; rc == 0 && p < w->to; p++) {
		size_t end = b->start[p + 1];
		memtable_clear(&w->table);
		for (size_t j = b->start[p]; rc == 0 && j < end; j++) {
			struct fp k;
			if (j + PREFETCH_AHEAD < end)
				prefetch_entry(b, b->order[j + PREFETCH_AHEAD]);
			d->key(b, b->order[j], &k);
			rc = d->apply(w, b->order[j], &k);
		}
		for (const uint8_t *t = memtable_next(&w->table, NULL); rc == 0 && t;
		     t = memtable_next(&w->table, t)) {
			uint8_t *o = w->out + w->kept++ * (FP_SIZE + d->kept_size);
			memcpy(o, t, FP_SIZE);
			d->keep(o + FP_SIZE, t + FP_SIZE);
		}
	}
	memtable_deinit(&w->table);
	return rc;
}

static void *work_thread(void *arg)
{
	struct worker *w = arg;
	w->rc = work(w, w->d);
	return NULL;
}

/* The workers' outputs joined in order in out, their platform totals into b's, where they stopped. */
static int join(struct bulk *b, struct worker w[2], struct proj_bulk_table *out)
{
	int rc = w[0].rc ? w[0].rc : w[1].rc;
	for (int i = 0; i < 2; i++) {
		if (w[i].stopped_at && (!b->out->stopped_at || w[i].stopped_at < b->out->stopped_at)) {
			b->out->stopped_at = w[i].stopped_at;
			b->out->why = w[i].why;
		}
		for (size_t c = 0; rc == 0 && c < w[i].nplatform; c++)
			rc = add_platform_to(&b->out->platform, &b->out->nplatform,
					     w[i].platform[c].currency, &w[i].platform[c].p);
		free(w[i].platform);
	}
	if (w[1].kept)
		memmove(out->entries + w[0].kept * out->entry_size, w[1].out,
			w[1].kept * out->entry_size);
	out->count = w[0].kept + w[1].kept;
	return rc;
}

/*
 * One pass: the entries d->key takes scattered, then the partitions split
 * in two runs of about as many entries, each on a core of its own.
 */
static int pass(struct bulk *b, const struct pass_def *d, struct proj_bulk_table *out)
{
	size_t parts = (size_t)1 << b->bits, half = 0;
	scatter(b, d->key);
	while (half < parts && b->start[half] * 2 < b->start[parts])
		half++;
	/* One output, room for an entry an item (touched only as it fills): the
	 * second worker's part starts after the first's room and moves down after. */
	*out = (struct proj_bulk_table){.entry_size = FP_SIZE + d->kept_size, .cap = b->start[parts]};
	if (out->cap && !(out->entries = big_alloc(out->cap * out->entry_size)))
		return PL_ENOMEM;
	struct worker w[2] = {{.b = b, .d = d, .from = 0, .to = half, .out = out->entries},
			      {.b = b, .d = d, .from = half, .to = parts,
			       .out = out->entries + b->start[half] * out->entry_size}};
	on_two(work_thread, &w[0], &w[1]);
	return join(b, w, out);
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
	*key = e->pledge;
	return e->type == PL_EV_PLEDGE_CREATED || e->type == PL_EV_PLEDGE_REFUNDED;
}

static int apply_pledge(struct worker *w, size_t i, const struct fp *key)
{
	struct bulk *b = w->b;
	const struct proj_bulk_entry *e = &b->e[i];
	struct pledge_value *v = memtable_get(&w->table, key);
	if (e->type == PL_EV_PLEDGE_CREATED) {
		if (v)
			return stop(w, e->seq, "a pledge id taken twice");
		struct pledge_value made = {e->campaign, e->supporter, e->backer,
					    e->at, e->amount, 0, e->seq};
		return memtable_put(&w->table, key, &made);
	}
	if (!v || fp_cmp(&v->campaign, &e->campaign) != 0)
		return stop(w, e->seq, "a refund of no pledge of its campaign");
	if (e->amount > v->amount - v->refunded)
		return stop(w, e->seq, "a refund beyond its pledge");
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
	*key = e->supporter;
	return e->type == PL_EV_PLEDGE_CREATED || e->type == PL_EV_COMMENT_POSTED;
}

/*
 * Adds delta to the count or net at key: the change in whether it is above
 * 0. 1 past INT64_MAX: a net that large means its campaign's total would
 * overflow, which the rules refuse.
 */
static int add_to(struct memtable *m, const struct fp *key, int64_t delta, int8_t *change)
{
	int64_t *v = memtable_get(m, key);
	int64_t before = v ? *v : 0, after;
	if (__builtin_add_overflow(before, delta, &after))
		return 1;
	*change = (int8_t)((after > 0) - (before > 0));
	if (v) {
		*v = after;
		return PL_OK;
	}
	return memtable_put(m, key, &after);
}

static int apply_net(struct worker *w, size_t i, const struct fp *key)
{
	struct bulk *b = w->b;
	const struct proj_bulk_entry *e = &b->e[i];
	if (e->type == PL_EV_COMMENT_POSTED) {
		const int64_t *net = memtable_get(&w->table, key);
		return net && *net > 0 ? PL_OK : stop(w, e->seq, "a comment by no backer");
	}
	int64_t delta = e->type == PL_EV_PLEDGE_REFUNDED ? -e->amount : e->amount;
	int rc = add_to(&w->table, key, delta, &b->learned[i].supporters);
	return rc == 1 ? stop(w, e->seq, "a pledge its campaign refuses") : rc;
}

static bool backer_key(const struct bulk *b, size_t i, struct fp *key)
{
	const struct proj_bulk_entry *e = &b->e[i];
	const struct learned *l = &b->learned[i];
	if (!l->supporters)
		return false;
	*key = e->type == PL_EV_PLEDGE_REFUNDED ? b->refunds[l->ref].backer : e->backer;
	return true;
}

static int apply_backer(struct worker *w, size_t i, const struct fp *key)
{
	struct bulk *b = w->b;
	struct learned *l = &b->learned[i];
	int rc = add_to(&w->table, key, l->supporters, &l->platform_supporters);
	return rc == 1 ? stop(w, b->e[i].seq, "a backer counted past any number") : rc;
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
	uint64_t removed_by; /* where its removal, or the erasure that hid it, is; 0: shown */
};

static bool comment_key(const struct bulk *b, size_t i, struct fp *key)
{
	const struct proj_bulk_entry *e = &b->e[i];
	*key = e->comment;
	return e->type == PL_EV_COMMENT_POSTED || e->type == PL_EV_COMMENT_REMOVED ||
	       e->type == PROJ_BULK_HIDE;
}

static int apply_comment(struct worker *w, size_t i, const struct fp *key)
{
	struct bulk *b = w->b;
	const struct proj_bulk_entry *e = &b->e[i];
	struct comment_value *v = memtable_get(&w->table, key);
	if (e->type == PL_EV_COMMENT_POSTED) {
		if (v)
			return stop(w, e->seq, "a comment id taken twice");
		struct comment_value posted = {e->campaign, e->at, e->seq, 0};
		return memtable_put(&w->table, key, &posted);
	}
	if (e->type == PROJ_BULK_HIDE) {
		if (!v || fp_cmp(&v->campaign, &e->campaign) != 0)
			return stop(w, e->seq, "an erasure of no comment of its record");
		/* Hides come after the log: a removal after the erasure came to a
		 * comment it had hidden, which the log-order path refuses. */
		if (v->removed_by > e->seq)
			return stop(w, v->removed_by, "a removal of a comment an erasure hid");
		if (v->removed_by)
			return PL_OK; /* removed before the erasure: nothing to hide */
	} else if (!v || fp_cmp(&v->campaign, &e->campaign) != 0 || v->removed_by) {
		return stop(w, e->seq, "a removal of no comment shown in its campaign");
	}
	v->removed_by = e->seq;
	b->learned[i].ref = v->seq;
	b->learned[i].depends_on = v->at;
	return PL_OK;
}

static void keep_comment(uint8_t *out, const void *value)
{
	const struct comment_value *v = value;
	proj_comment_state_encode(out, &(struct proj_comment_state){v->seq, v->removed_by != 0});
}

/* --- campaigns: totals, and each entry's row of the history --- */

static bool campaign_key(const struct bulk *b, size_t i, struct fp *key)
{
	*key = b->e[i].campaign;
	return b->e[i].type != PL_EV_SUPPORTER_FORGOTTEN; /* of no campaign */
}

static int add_platform(struct worker *w, const char currency[3], const struct proj_platform *d)
{
	return add_platform_to(&w->platform, &w->nplatform, currency, d);
}

/* As proj_apply.c's effective_at: never before the opening nor before what it depends on. */
static int64_t effective_at(const struct proj_totals *t, int64_t at, int64_t depends_on)
{
	if (at < t->opened_at)
		at = t->opened_at;
	return at > depends_on ? at : depends_on;
}

static int open_campaign(struct worker *w, size_t i, const struct fp *key)
{
	struct bulk *b = w->b;
	const struct proj_bulk_entry *e = &b->e[i];
	struct proj_campaign_state v = {.totals = {.opened_at = e->at, .closed_at = PROJ_NONE,
						   .last_at = e->at}};
	memcpy(v.currency, e->currency, 3);
	b->out->rows[i] = (struct proj_bulk_row){.at = e->at, .h.type = e->type};
	int rc = memtable_put(&w->table, key, &v);
	return rc ? rc : add_platform(w, e->currency, &(struct proj_platform){.open = 1});
}

/* As proj_apply.c's hide_comment: a comment down, at its own time if later than the erasure's. */
static int hide(struct worker *w, size_t i, struct proj_campaign_state *v)
{
	struct bulk *b = w->b;
	const struct learned *l = &b->learned[i];
	struct proj_bulk_row *row = &b->out->rows[i];
	if (!l->ref) {
		row->h.type = PROJ_BULK_NO_ROW;
		return PL_OK;
	}
	v->totals.comments--;
	*row = (struct proj_bulk_row){.at = effective_at(&v->totals, b->e[i].at, l->depends_on),
				      .h = {.type = PL_EV_SUPPORTER_FORGOTTEN, .comments = -1,
					    .ref = l->ref}};
	return PL_OK;
}

static int apply_campaign(struct worker *w, size_t i, const struct fp *key)
{
	struct bulk *b = w->b;
	const struct proj_bulk_entry *e = &b->e[i];
	const struct learned *l = &b->learned[i];
	struct proj_campaign_state *v = memtable_get(&w->table, key);
	if (e->type == PL_EV_CAMPAIGN_OPENED)
		return v ? stop(w, e->seq, "a campaign opened twice") : open_campaign(w, i, key);
	if (!v)
		return stop(w, e->seq, "an event of a campaign never opened");
	if (e->type == PROJ_BULK_HIDE)
		return hide(w, i, v); /* the campaign's last event stays where it was */
	struct proj_totals *t = &v->totals;
	struct proj_bulk_row *row = &b->out->rows[i];
	struct proj_platform d = {0};
	const struct fp *supporter = &e->supporter;
	*row = (struct proj_bulk_row){.at = effective_at(t, e->at, 0), .h.type = e->type};
	switch (e->type) {
	case PL_EV_CAMPAIGN_CLOSED:
		if (t->closed_at != PROJ_NONE)
			return stop(w, e->seq, "a campaign closed twice");
		t->closed_at = row->at;
		d = (struct proj_platform){.open = -1, .closed = 1};
		break;
	case PL_EV_PLEDGE_CREATED:
		if (t->closed_at != PROJ_NONE || memcmp(e->currency, v->currency, 3) != 0 ||
		    t->raised > INT64_MAX - e->amount)
			return stop(w, e->seq, "a pledge its campaign refuses");
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
		return stop(w, e->seq, "an event of no known type");
	}
	if (e->type == PL_EV_PLEDGE_CREATED || e->type == PL_EV_PLEDGE_REFUNDED) {
		memcpy(row->h.supporter, supporter->b, sizeof row->h.supporter);
		t->supporters += l->supporters;
		d.supporters = l->platform_supporters;
	}
	if (e->at > t->last_at)
		t->last_at = e->at;
	return add_platform(w, v->currency, &d);
}

static void keep_campaign(uint8_t *out, const void *value)
{
	proj_campaign_state_encode(out, value);
}

/* --- event ids --- */

static bool id_key(const struct bulk *b, size_t i, struct fp *key)
{
	*key = b->e[i].id;
	return b->e[i].type != PROJ_BULK_HIDE; /* its erasure's entry has the id */
}

static int apply_id(struct worker *w, size_t i, const struct fp *key)
{
	struct bulk *b = w->b;
	static const uint8_t no_value[1];
	if (memtable_get(&w->table, key))
		return stop(w, b->e[i].seq, "an event id in the log twice");
	return memtable_put(&w->table, key, no_value);
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
	b.fill[0] = malloc(parts * sizeof *b.fill[0]);
	b.fill[1] = malloc(parts * sizeof *b.fill[1]);
	out->rows = big_alloc(n * sizeof *out->rows);
	out->nrows = n;
	int rc = n && (!b.learned || !b.part || !b.order || !out->rows) ? PL_ENOMEM : PL_OK;
	if (!b.start || !b.fill[0] || !b.fill[1])
		rc = PL_ENOMEM;
	/* Each refund numbered, for what the pledges' pass learns of its pledge. */
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (e[i].type == PL_EV_PLEDGE_REFUNDED)
			b.learned[i].ref = b.nrefunds++;
		else if (e[i].type == PL_EV_SUPPORTER_FORGOTTEN)
			out->rows[i].h.type = PROJ_BULK_NO_ROW;
	if (rc == 0 && b.nrefunds && !(b.refunds = big_alloc(b.nrefunds * sizeof *b.refunds)))
		rc = PL_ENOMEM;
	/* In the order the kinds learn from each other (proj_bulk.h). */
	static const struct pass_def pledges = {pledge_key, apply_pledge, keep_pledge,
						sizeof(struct pledge_value), PROJ_PLEDGE_SIZE};
	static const struct pass_def nets = {net_key, apply_net, keep_number, sizeof(int64_t), 8};
	static const struct pass_def backers = {backer_key, apply_backer, keep_number,
						sizeof(int64_t), 8};
	static const struct pass_def comments = {comment_key, apply_comment, keep_comment,
						 sizeof(struct comment_value),
						 PROJ_COMMENT_STATE_SIZE};
	static const struct pass_def campaigns = {campaign_key, apply_campaign, keep_campaign,
						  sizeof(struct proj_campaign_state),
						  PROJ_CAMPAIGN_STATE_SIZE};
	static const struct pass_def ids = {id_key, apply_id, keep_nothing, 0, 0};
	if (rc == 0)
		rc = pass(&b, &pledges, &out->state[PROJ_K_PLEDGE]);
	if (rc == 0)
		rc = pass(&b, &nets, &out->state[PROJ_K_SUPPORTER]);
	if (rc == 0)
		rc = pass(&b, &backers, &out->state[PROJ_K_BACKER]);
	if (rc == 0)
		rc = pass(&b, &comments, &out->state[PROJ_K_COMMENT]);
	if (rc == 0)
		rc = pass(&b, &campaigns, &out->state[PROJ_K_CAMPAIGN]);
	if (rc == 0)
		rc = pass(&b, &ids, &out->ids);
	if (rc == 0 && out->nplatform)
		qsort(out->platform, out->nplatform, sizeof *out->platform, by_currency);
	big_free(b.learned, n * sizeof *b.learned);
	big_free(b.refunds, b.nrefunds * sizeof *b.refunds);
	big_free(b.part, n * sizeof *b.part);
	big_free(b.order, n * sizeof *b.order);
	free(b.start);
	free(b.fill[0]);
	free(b.fill[1]);
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
