/* bulk_fill.c — a rebuild's empty slot filled from the whole log at once; see bulk_fill.h. */
#include "bulk_fill.h"

#include <stdlib.h>
#include <string.h>

#include "big_alloc.h"
#include "clock.h"
#include "decoded.h"
#include "evlog.h"
#include "pl_error.h"
#include "proj_bulk.h"
#include "proj_history_table.h"

/* A campaign of the log, by the number its entries know it by. */
struct campaign {
	struct fp fp;
	uint64_t opened_seq; /* 0: none seen (the rules then refuse its events) */
	uint8_t len;
	char id[PL_MAX_ID_BYTES];
};

struct fill {
	struct slot *s;
	struct proj_bulk_entry *e;
	uint32_t *campaign_of; /* an entry's campaign's number */
	size_t n, cap, campaign_of_cap;
	struct campaign *campaigns;
	size_t ncampaigns, campaigns_cap;
	struct memtable numbers; /* campaign fingerprint → number */
	bool left;               /* for the log-order path */
	struct proj_bulk b;
	const struct campaign **by_id; /* the campaigns in the order of their ids */
	size_t *start;   /* by number: where its entries begin in order (ncampaigns + 1) */
	uint32_t *order; /* entries grouped by campaign, in log order within each */
};

/* A campaign by number, for the first time its fingerprint is met. */
static int number_campaign(struct fill *f, const struct pl_event *ev, const struct fp *fp,
			   uint32_t *number)
{
	const uint32_t *known = memtable_get(&f->numbers, fp);
	if (known) {
		*number = *known;
		return PL_OK;
	}
	if (!big_array_reserve((void **)&f->campaigns, &f->campaigns_cap, f->ncampaigns + 1,
			       sizeof *f->campaigns))
		return PL_ENOMEM;
	*number = (uint32_t)f->ncampaigns;
	struct pl_str id = pl_event_str(ev, PL_F_CAMPAIGN);
	struct campaign *c = &f->campaigns[f->ncampaigns++];
	*c = (struct campaign){.fp = *fp, .len = (uint8_t)id.len};
	memcpy(c->id, id.ptr, id.len);
	return memtable_put(&f->numbers, fp, number);
}

static int read_entry(const struct evlog_entry *le, void *arg)
{
	struct fill *f = arg;
	struct decoded d;
	d.keys = (struct proj_keys){0}; /* an event's keys are set for its fields only */
	decode_event(&d, le->raw, le->raw_len, NULL, 0);
	if (d.rc || d.ev.type == PL_EV_SUPPORTER_FORGOTTEN || f->n == BULK_MAX_ENTRIES) {
		f->left = true;
		return 1;
	}
	if (!big_array_reserve((void **)&f->e, &f->cap, f->n + 1, sizeof *f->e) ||
	    !big_array_reserve((void **)&f->campaign_of, &f->campaign_of_cap, f->n + 1,
			       sizeof *f->campaign_of))
		return PL_ENOMEM;
	uint32_t number;
	int rc = number_campaign(f, &d.ev, &d.keys.campaign, &number);
	if (rc)
		return rc;
	if (d.ev.type == PL_EV_CAMPAIGN_OPENED && !f->campaigns[number].opened_seq)
		f->campaigns[number].opened_seq = le->seq;
	proj_bulk_entry_of(&f->e[f->n], &d.ev, &d.keys, &d.id, le->seq);
	f->campaign_of[f->n++] = number;
	return 0;
}

static int by_campaign_id(const void *a, const void *b)
{
	const struct campaign *x = *(const struct campaign *const *)a;
	const struct campaign *y = *(const struct campaign *const *)b;
	return proj_key_cmp(x->id, x->len, y->id, y->len);
}

/* The entries grouped by campaign, and the campaigns in the order of their ids. */
static int group(struct fill *f)
{
	f->start = calloc(f->ncampaigns + 1, sizeof *f->start);
	f->by_id = malloc((f->ncampaigns ? f->ncampaigns : 1) * sizeof *f->by_id);
	f->order = big_alloc((f->n ? f->n : 1) * sizeof *f->order);
	size_t *fill = malloc((f->ncampaigns ? f->ncampaigns : 1) * sizeof *fill);
	if (!f->start || !f->by_id || !f->order || !fill) {
		free(fill);
		return PL_ENOMEM;
	}
	for (size_t i = 0; i < f->n; i++)
		f->start[f->campaign_of[i] + 1]++;
	for (size_t c = 0; c < f->ncampaigns; c++) {
		f->start[c + 1] += f->start[c];
		f->by_id[c] = &f->campaigns[c];
	}
	memcpy(fill, f->start, f->ncampaigns * sizeof *fill);
	for (size_t i = 0; i < f->n; i++)
		f->order[fill[f->campaign_of[i]]++] = (uint32_t)i;
	free(fill);
	qsort(f->by_id, f->ncampaigns, sizeof *f->by_id, by_campaign_id);
	return PL_OK;
}

/* A row of a campaign's history or comments, to put in key order. */
struct keyed {
	int64_t at;
	uint64_t seq;
	uint32_t entry;
};

static int by_time(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* One write transaction's worth: campaigns by_id[from, to). */
struct step {
	struct fill *f;
	size_t from, to;
	int txn_ms;
	int (*done)(struct store_txn *t, uint64_t seq, void *arg);
	void *done_arg;
	struct proj_changes changes;
	struct keyed *rows; /* room for the largest campaign's entries */
	uint8_t *value;     /* a comment's row */
	size_t value_cap;
};

/* The event at log position seq, decoded; its strings last as long as t. */
static int event_at(struct store_txn *t, uint64_t seq, struct pl_event *ev)
{
	struct evlog_entry le;
	struct pl_rejection rej;
	int rc = evlog_get(t, seq, &le);
	if (rc)
		return store_txn_fail(t, rc == PL_ENOTFOUND ? PL_ECORRUPT : rc);
	if (pl_event_decode(le.raw, le.raw_len, NULL, 0, ev, &rej))
		return store_txn_fail(t, PL_ECORRUPT);
	return PL_OK;
}

/* Its info row and places in the orders, as proj_apply.c's opening records them. */
static int write_opening(struct step *w, struct store_txn *t, const struct campaign *c)
{
	struct pl_event ev;
	int rc = event_at(t, c->opened_seq, &ev);
	if (rc)
		return rc;
	struct proj_info info = {
		.title = pl_event_str(&ev, PL_F_TITLE),
		.owner = pl_event_str(&ev, PL_F_OWNER),
		.currency = pl_event_str(&ev, PL_F_CURRENCY),
		.location = pl_event_str(&ev, PL_F_LOCATION),
		.has_location = pl_event_has(&ev, PL_F_LOCATION),
		.target = pl_event_has(&ev, PL_F_TARGET) ? pl_event_int(&ev, PL_F_TARGET) : PROJ_NONE,
		.closes_at = pl_event_has(&ev, PL_F_CLOSES_AT) ? pl_event_int(&ev, PL_F_CLOSES_AT)
							       : PROJ_NONE,
	};
	proj_change_opened(&w->changes, (struct pl_str){c->id, c->len}, &info,
			   pl_event_int(&ev, PL_F_AT));
	return PL_OK;
}

static int write_history(struct step *w, struct store_txn *t, struct proj_history_appender *app,
			 const struct campaign *c, size_t from, size_t to)
{
	const struct fill *f = w->f;
	size_t k = 0;
	for (size_t i = from; i < to; i++) {
		uint32_t e = f->order[i];
		w->rows[k++] = (struct keyed){f->b.rows[e].at, f->e[e].seq, e};
	}
	qsort(w->rows, k, sizeof *w->rows, by_time);
	for (size_t i = 0; i < k && !t->err; i++) {
		uint8_t key[PROJ_KEY_MAX], val[PROJ_HISTORY_MAX];
		size_t klen = proj_timed_key(key, (struct pl_str){c->id, c->len}, w->rows[i].at,
					     w->rows[i].seq);
		size_t vlen = proj_history_encode(val, &f->b.rows[w->rows[i].entry].h);
		int rc = proj_history_append(app, key, klen, val, vlen);
		if (rc)
			store_txn_fail(t, store_error(rc));
	}
	return t->err;
}

/* Its comments not removed, at their own times. */
static int write_comments(struct step *w, struct store_txn *t, const struct campaign *c,
			  size_t from, size_t to)
{
	const struct fill *f = w->f;
	const struct proj_bulk_table *states = &f->b.state[PROJ_K_COMMENT];
	size_t k = 0;
	for (size_t i = from; i < to; i++) {
		const struct proj_bulk_entry *e = &f->e[f->order[i]];
		if (e->type != PL_EV_COMMENT_POSTED)
			continue;
		const uint8_t *s = entries_find(states->entries, states->count, states->entry_size,
						&e->keys.comment);
		struct proj_comment_state st;
		if (!s)
			return store_txn_fail(t, PL_ECORRUPT);
		proj_comment_state_decode(s + FP_SIZE, &st);
		if (!st.removed)
			w->rows[k++] = (struct keyed){e->at, e->seq, f->order[i]};
	}
	qsort(w->rows, k, sizeof *w->rows, by_time);
	for (size_t i = 0; i < k && !t->err; i++) {
		struct pl_event ev;
		if (event_at(t, w->rows[i].seq, &ev))
			break;
		struct proj_comment com = {.id = pl_event_str(&ev, PL_F_COMMENT),
					   .name = pl_event_str(&ev, PL_F_NAME),
					   .has_name = pl_event_has(&ev, PL_F_NAME),
					   .text = pl_event_str(&ev, PL_F_TEXT)};
		size_t len = proj_comment_encode(NULL, &com);
		if (len > w->value_cap) {
			free(w->value);
			if (!(w->value = malloc(len)))
				return store_txn_fail(t, PL_ENOMEM);
			w->value_cap = len;
		}
		proj_comment_encode(w->value, &com);
		uint8_t key[PROJ_KEY_MAX];
		size_t klen = proj_timed_key(key, (struct pl_str){c->id, c->len}, w->rows[i].at,
					     w->rows[i].seq);
		store_put(t, store_slot_db(f->s->which, SLOT_COMMENTS), key, klen, w->value, len, 0);
	}
	return t->err;
}

static int write_campaign(struct step *w, struct store_txn *t, struct proj_history_appender *app,
			  const struct campaign *c)
{
	const struct fill *f = w->f;
	size_t number = (size_t)(c - f->campaigns);
	const struct proj_bulk_table *states = &f->b.state[PROJ_K_CAMPAIGN];
	const uint8_t *s = entries_find(states->entries, states->count, states->entry_size, &c->fp);
	struct proj_campaign_state st;
	if (!s || !c->opened_seq)
		return store_txn_fail(t, PL_ECORRUPT); /* proj_bulk took every entry of it */
	proj_campaign_state_decode(s + FP_SIZE, &st);
	int rc = write_opening(w, t, c);
	if (rc)
		return rc;
	struct pl_str id = {c->id, c->len};
	if (st.totals.closed_at != PROJ_NONE)
		proj_change_closed(&w->changes, id);
	proj_change_totals(&w->changes, id, &st.totals);
	size_t from = f->start[number], to = f->start[number + 1];
	if ((rc = write_history(w, t, app, c, from, to)))
		return rc;
	return write_comments(w, t, c, from, to);
}

static int write_txn(struct store_txn *t, void *arg)
{
	struct step *w = arg;
	struct fill *f = w->f;
	int64_t until = clock_mono_ms() + w->txn_ms;
	proj_changes_clear(&w->changes);
	struct proj_history_appender app = {
		.c = store_txn_cursor(t, store_slot_db(f->s->which, SLOT_HISTORY))};
	if (!app.c)
		return t->err;
	for (w->to = w->from; w->to < f->ncampaigns && !t->err; w->to++) {
		if (w->to > w->from && clock_mono_ms() >= until)
			break;
		write_campaign(w, t, &app, f->by_id[w->to]);
	}
	bool last = w->to == f->ncampaigns;
	for (size_t i = 0; last && i < f->b.nplatform; i++)
		proj_change_platform(&w->changes, f->b.platform[i].currency, &f->b.platform[i].p);
	if (!t->err)
		proj_publish(&w->changes, t, f->s->which, &f->s->pw.staged);
	if (!t->err && last)
		w->done(t, f->e[f->n - 1].seq, w->done_arg);
	return t->err;
}

/* The state index's entries, in fingerprint order, into its tables. */
static int fill_index(struct fill *f)
{
	int rc = PL_OK;
	for (int k = 0; k < PROJ_KIND_COUNT && rc == 0; k++) {
		const struct proj_bulk_table *s = &f->b.state[k];
		for (size_t i = 0; i < s->count && rc == 0; i++) {
			const uint8_t *e = s->entries + i * s->entry_size;
			rc = index_put(&f->s->ix, SLOT_K_PROJ + k, (const struct fp *)e, e + FP_SIZE);
		}
	}
	static const uint8_t no_value[1];
	for (size_t i = 0; i < f->b.ids.count && rc == 0; i++)
		rc = index_put(&f->s->ix, SLOT_K_EVENT_IDS,
			       (const struct fp *)(f->b.ids.entries + i * FP_SIZE), no_value);
	return rc;
}

/* The log read and decided; false in *taken when it is the log-order path's. */
static int decide(struct fill *f, bool *taken)
{
	struct store_txn t;
	*taken = false;
	int rc = store_read_begin(f->s->st, &t);
	if (rc)
		return rc;
	rc = evlog_each(&t, 1, read_entry, f, NULL);
	store_abort(&t);
	if (rc == PL_ECHECKSUM || rc == PL_ECORRUPT)
		return PL_OK; /* the log-order path reports it */
	if (rc < 0 || f->left || f->n == 0)
		return rc < 0 ? rc : PL_OK;
	rc = proj_bulk_apply(&f->b, f->e, f->n, 0);
	if (rc == PL_EREJECTED)
		return PL_OK;
	if (rc == 0 && (rc = group(f)) == 0)
		*taken = true;
	return rc;
}

static void fill_free(struct fill *f)
{
	big_free(f->e, f->cap * sizeof *f->e);
	big_free(f->campaign_of, f->campaign_of_cap * sizeof *f->campaign_of);
	big_free(f->campaigns, f->campaigns_cap * sizeof *f->campaigns);
	big_free(f->order, (f->n ? f->n : 1) * sizeof *f->order);
	memtable_deinit(&f->numbers);
	proj_bulk_free(&f->b);
	free(f->by_id);
	free(f->start);
}

int bulk_fill(struct slot *s, int txn_ms, const atomic_bool *stop,
	      int (*done)(struct store_txn *t, uint64_t seq, void *arg), void *done_arg,
	      bool *filled)
{
	struct fill f = {.s = s};
	bool taken;
	*filled = false;
	int rc = memtable_init(&f.numbers, sizeof(uint32_t));
	if (rc == 0)
		rc = decide(&f, &taken);
	if (rc || !taken) {
		fill_free(&f);
		return rc;
	}
	size_t largest = 1;
	for (size_t c = 0; c < f.ncampaigns; c++)
		if (f.start[c + 1] - f.start[c] > largest)
			largest = f.start[c + 1] - f.start[c];
	struct step w = {.f = &f, .txn_ms = txn_ms, .done = done, .done_arg = done_arg,
			 .rows = malloc(largest * sizeof *w.rows)};
	proj_changes_init(&w.changes);
	if (!w.rows)
		rc = PL_ENOMEM;
	bool stopped = false;
	while (rc == 0 && !(stopped = stop && atomic_load(stop))) {
		if ((rc = store_run_write(s->st, write_txn, &w)) == 0 && w.to == f.ncampaigns)
			break;
		w.from = w.to;
	}
	/* Only once the rows are committed: the index is then where they are. */
	if (rc == 0 && !stopped && (rc = fill_index(&f)) == 0) {
		s->applied_seq = f.e[f.n - 1].seq;
		*filled = true;
	}
	proj_changes_deinit(&w.changes);
	free(w.rows);
	free(w.value);
	fill_free(&f);
	return rc;
}
