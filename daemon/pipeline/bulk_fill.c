/* bulk_fill.c — a rebuild's empty slot filled from the whole log at once; see bulk_fill.h. */
#include "bulk_fill.h"

#include <pthread.h>
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

/* The campaigns a reader met, numbered in the order it met them. */
struct campaigns {
	struct campaign *c;
	size_t n, cap;
	struct memtable numbers; /* fingerprint → number */
};

/*
 * One of the two threads reading the log: entries [from, to] decoded into
 * e[seq - 1] (the log is dense), their campaigns numbered in its own
 * campaigns.
 */
struct reader {
	struct store *st;
	uint64_t from, to;
	struct proj_bulk_entry *e;
	uint32_t *campaign_of; /* an entry's campaign's number, by log position - 1 */
	struct campaigns campaigns;
	uint64_t read; /* entries read */
	bool left;     /* an entry for the log-order path */
	int rc;
};

struct fill {
	struct slot *s;
	struct proj_bulk_entry *e;
	uint32_t *campaign_of;
	size_t n;
	struct campaigns campaigns;
	struct proj_bulk b;
	const struct campaign **by_id; /* the campaigns in the order of their ids */
	size_t *start;   /* by number: where its entries begin in order (ncampaigns + 1) */
	uint32_t *order; /* entries grouped by campaign, in log order within each */
	size_t largest;  /* the most entries a campaign has */
};

/* c's number for the campaign of fp, numbered now if it is new (its id from ev). */
static int number_campaign(struct campaigns *c, const struct pl_event *ev, const struct fp *fp,
			   uint32_t *number)
{
	const uint32_t *known = memtable_get(&c->numbers, fp);
	if (known) {
		*number = *known;
		return PL_OK;
	}
	if (!big_array_reserve((void **)&c->c, &c->cap, c->n + 1, sizeof *c->c))
		return PL_ENOMEM;
	*number = (uint32_t)c->n;
	struct pl_str id = pl_event_str(ev, PL_F_CAMPAIGN);
	struct campaign *made = &c->c[c->n++];
	*made = (struct campaign){.fp = *fp, .len = (uint8_t)id.len};
	memcpy(made->id, id.ptr, id.len);
	return memtable_put(&c->numbers, fp, number);
}

static int read_entry(const struct evlog_entry *le, void *arg)
{
	struct reader *r = arg;
	struct decoded d;
	if (le->seq > r->to)
		return 1;
	d.keys = (struct proj_keys){0}; /* an event's keys are set for its fields only */
	decode_event(&d, le->raw, le->raw_len, NULL, 0);
	if (le->seq < r->from || d.rc || d.ev.type == PL_EV_SUPPORTER_FORGOTTEN) {
		r->left = true;
		return 1;
	}
	uint32_t number;
	int rc = number_campaign(&r->campaigns, &d.ev, &d.keys.campaign, &number);
	if (rc)
		return rc;
	struct campaign *c = &r->campaigns.c[number];
	if (d.ev.type == PL_EV_CAMPAIGN_OPENED && !c->opened_seq)
		c->opened_seq = le->seq;
	proj_bulk_entry_of(&r->e[le->seq - 1], &d.ev, &d.keys, &d.id, le->seq);
	r->campaign_of[le->seq - 1] = number;
	r->read++;
	return 0;
}

static void *read_part(void *arg)
{
	struct reader *r = arg;
	struct store_txn t;
	r->rc = store_read_begin(r->st, &t);
	if (r->rc == 0) {
		r->rc = evlog_each(&t, r->from, read_entry, r, NULL);
		store_abort(&t);
	}
	/* Damage, or an entry missing from the dense log: the log-order path reports it. */
	if (r->rc == PL_ECHECKSUM || r->rc == PL_ECORRUPT) {
		r->rc = PL_OK;
		r->left = true;
	}
	if (r->read != r->to - r->from + 1)
		r->left = true;
	return NULL;
}

static void campaigns_free(struct campaigns *c)
{
	big_free(c->c, c->cap * sizeof *c->c);
	memtable_deinit(&c->numbers);
}

/* The second reader's campaigns taken into the first's numbers, and its entries renumbered. */
static int merge_campaigns(struct reader *into, const struct reader *r)
{
	for (uint64_t seq = r->from; seq <= r->to; seq++) {
		const struct campaign *c = &r->campaigns.c[r->campaign_of[seq - 1]];
		const uint32_t *known = memtable_get(&into->campaigns.numbers, &c->fp);
		uint32_t number;
		if (known) {
			number = *known;
		} else {
			if (!big_array_reserve((void **)&into->campaigns.c, &into->campaigns.cap,
					       into->campaigns.n + 1, sizeof *c))
				return PL_ENOMEM;
			number = (uint32_t)into->campaigns.n;
			into->campaigns.c[into->campaigns.n++] = *c;
			int rc = memtable_put(&into->campaigns.numbers, &c->fp, &number);
			if (rc)
				return rc;
		}
		struct campaign *mine = &into->campaigns.c[number];
		if (!mine->opened_seq)
			mine->opened_seq = c->opened_seq;
		into->campaign_of[seq - 1] = number;
	}
	return PL_OK;
}

/*
 * The log, up to its end as a read transaction sees it, decoded into f by
 * two threads, half of it each. false in *taken when it is the log-order
 * path's (or empty).
 */
static int read_log(struct fill *f, bool *taken)
{
	struct store_txn t;
	uint64_t head = 0;
	*taken = false;
	int rc = store_read_begin(f->s->st, &t);
	if (rc == 0)
		rc = evlog_last_seq(&t, &head);
	store_abort(&t);
	if (rc || head == 0 || head > BULK_MAX_ENTRIES)
		return rc;
	f->n = (size_t)head;
	f->e = big_alloc(f->n * sizeof *f->e);
	f->campaign_of = big_alloc(f->n * sizeof *f->campaign_of);
	uint32_t *theirs = big_alloc(f->n * sizeof *theirs);
	struct reader r[2] = {
		{f->s->st, 1, head / 2, f->e, f->campaign_of},
		{f->s->st, head / 2 + 1, head, f->e, theirs},
	};
	pthread_t other;
	bool two = false;
	if (!f->e || !f->campaign_of || !theirs ||
	    (rc = memtable_init(&r[0].campaigns.numbers, sizeof(uint32_t))) ||
	    (rc = memtable_init(&r[1].campaigns.numbers, sizeof(uint32_t))))
		rc = rc ? rc : PL_ENOMEM;
	if (rc == 0) {
		two = pthread_create(&other, NULL, read_part, &r[1]) == 0;
		read_part(&r[0]);
		if (!two)
			read_part(&r[1]);
		else
			pthread_join(other, NULL);
		rc = r[0].rc < 0 ? r[0].rc : r[1].rc < 0 ? r[1].rc : PL_OK;
	}
	if (rc == 0 && !r[0].left && !r[1].left && (rc = merge_campaigns(&r[0], &r[1])) == 0) {
		f->campaigns = r[0].campaigns;
		r[0].campaigns = (struct campaigns){0};
		*taken = true;
	}
	campaigns_free(&r[0].campaigns);
	campaigns_free(&r[1].campaigns);
	big_free(theirs, f->n * sizeof *theirs);
	return rc;
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
	size_t ncampaigns = f->campaigns.n;
	f->start = calloc(ncampaigns + 1, sizeof *f->start);
	f->by_id = malloc((ncampaigns ? ncampaigns : 1) * sizeof *f->by_id);
	f->order = big_alloc((f->n ? f->n : 1) * sizeof *f->order);
	size_t *fill = malloc((ncampaigns ? ncampaigns : 1) * sizeof *fill);
	if (!f->start || !f->by_id || !f->order || !fill) {
		free(fill);
		return PL_ENOMEM;
	}
	for (size_t i = 0; i < f->n; i++)
		f->start[f->campaign_of[i] + 1]++;
	f->largest = 1;
	for (size_t c = 0; c < ncampaigns; c++) {
		if (f->start[c + 1] > f->largest)
			f->largest = f->start[c + 1];
		f->start[c + 1] += f->start[c];
		f->by_id[c] = &f->campaigns.c[c];
	}
	memcpy(fill, f->start, ncampaigns * sizeof *fill);
	for (size_t i = 0; i < f->n; i++)
		f->order[fill[f->campaign_of[i]]++] = (uint32_t)i;
	free(fill);
	qsort(f->by_id, ncampaigns, sizeof *f->by_id, by_campaign_id);
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

/*
 * The history rows, sorted and encoded campaign by campaign in the order
 * they are written, by a thread of their own ahead of the writes: a key's
 * length, the key, the row's length, the row. The room is reserved for
 * the longest rows at once (pages are touched only as they fill), so the
 * writer reads what is ready while the rest is being written.
 */
struct prepared {
	const struct fill *f;
	uint8_t *bytes;
	size_t cap;
	size_t *end; /* by place in by_id: where its rows end */
	size_t ready; /* campaigns prepared (all of them when out of memory) */
	int rc;
	pthread_mutex_t lock;
	pthread_cond_t more;
};

#define PREPARED_ROW_MAX (2 + PROJ_KEY_MAX + PROJ_HISTORY_MAX)

static void *prepare_history(void *arg)
{
	struct prepared *p = arg;
	const struct fill *f = p->f;
	size_t at = 0;
	struct keyed *rows = malloc(f->largest * sizeof *rows);
	if (!rows) {
		pthread_mutex_lock(&p->lock);
		p->rc = PL_ENOMEM;
		p->ready = f->campaigns.n;
		pthread_cond_signal(&p->more);
		pthread_mutex_unlock(&p->lock);
		return NULL;
	}
	for (size_t k = 0; k < f->campaigns.n; k++) {
		const struct campaign *c = f->by_id[k];
		size_t number = (size_t)(c - f->campaigns.c), n = 0;
		for (size_t i = f->start[number]; i < f->start[number + 1]; i++) {
			uint32_t e = f->order[i];
			rows[n++] = (struct keyed){f->b.rows[e].at, f->e[e].seq, e};
		}
		qsort(rows, n, sizeof *rows, by_time);
		for (size_t i = 0; i < n; i++) {
			uint8_t *out = p->bytes + at;
			out[0] = (uint8_t)proj_timed_key(out + 1, (struct pl_str){c->id, c->len},
							rows[i].at, rows[i].seq);
			uint8_t *val = out + 1 + out[0];
			val[0] = (uint8_t)proj_history_encode(val + 1, &f->b.rows[rows[i].entry].h);
			at += 2 + (size_t)out[0] + val[0];
		}
		pthread_mutex_lock(&p->lock);
		p->end[k] = at;
		p->ready = k + 1;
		pthread_cond_signal(&p->more);
		pthread_mutex_unlock(&p->lock);
	}
	free(rows);
	return NULL;
}

/* What the fill's write transactions share, and how far they got. */
struct step {
	struct fill *f;
	size_t from, to; /* campaigns by_id[from, to) */
	int kind;        /* the state index's kind whose run is being written */
	size_t written;  /* its entries written */
	int kind_was;    /* the same when the transaction began, for one run again */
	size_t written_was;
	bool finishing;  /* finish_txn ran once: a run again rewinds the index */
	const uint8_t *entries[SLOT_KINDS];
	size_t count[SLOT_KINDS];
	int txn_ms;
	int (*done)(struct store_txn *t, uint64_t seq, void *arg);
	void *done_arg;
	struct proj_changes changes;
	struct keyed *rows; /* room for the largest campaign's entries */
	struct prepared *history;
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
			 size_t k)
{
	struct prepared *p = w->history;
	pthread_mutex_lock(&p->lock);
	while (p->ready <= k)
		pthread_cond_wait(&p->more, &p->lock);
	int rc = p->rc;
	size_t at = rc || !k ? 0 : p->end[k - 1], end = rc ? 0 : p->end[k];
	pthread_mutex_unlock(&p->lock);
	if (rc)
		return store_txn_fail(t, rc);
	while (at < end && !t->err) {
		const uint8_t *key = p->bytes + at + 1, *val = key + key[-1] + 1;
		if ((rc = proj_history_append(app, key, key[-1], val, val[-1])))
			store_txn_fail(t, store_error(rc));
		at += 2 + (size_t)key[-1] + val[-1];
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
			  size_t k)
{
	const struct fill *f = w->f;
	const struct campaign *c = f->by_id[k];
	size_t number = (size_t)(c - f->campaigns.c);
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
	if ((rc = write_history(w, t, app, k)))
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
	for (w->to = w->from; w->to < f->campaigns.n && !t->err; w->to++) {
		if (w->to > w->from && clock_mono_ms() >= until)
			break;
		write_campaign(w, t, &app, w->to);
	}
	if (!t->err)
		proj_publish(&w->changes, t, f->s->which, &f->s->pw.staged);
	return t->err;
}

/* Blocks of a state index run a transaction writes between looks at the clock. */
#define RUN_PIECE_BLOCKS 64

/* The state index's runs, a transaction's worth; they count from index_load_finish() on. */
static int run_txn(struct store_txn *t, void *arg)
{
	struct step *w = arg;
	struct index *ix = &w->f->s->ix;
	int64_t until = clock_mono_ms() + w->txn_ms;
	int rc = PL_OK;
	w->kind = w->kind_was;
	w->written = w->written_was;
	while (rc == 0 && w->kind < SLOT_KINDS && clock_mono_ms() < until) {
		if (w->written == w->count[w->kind]) {
			w->kind++;
			w->written = 0;
			continue;
		}
		rc = index_load_write(ix, t, w->kind, w->entries[w->kind], w->count[w->kind],
				      &w->written, RUN_PIECE_BLOCKS);
	}
	return rc ? rc : t->err;
}

/* The last transaction: the platform's totals, the index's checkpoint, the caller's record. */
static int finish_txn(struct store_txn *t, void *arg)
{
	struct step *w = arg;
	struct fill *f = w->f;
	uint64_t seq = f->e[f->n - 1].seq;
	if (w->finishing)
		index_txn_rewind(&f->s->ix); /* run again after the map grew */
	w->finishing = true;
	proj_changes_clear(&w->changes);
	for (size_t i = 0; i < f->b.nplatform; i++)
		proj_change_platform(&w->changes, f->b.platform[i].currency, &f->b.platform[i].p);
	int rc = proj_publish(&w->changes, t, f->s->which, &f->s->pw.staged);
	if (rc == 0)
		rc = index_load_finish(&f->s->ix, t, w->count, seq);
	if (rc == 0)
		rc = w->done(t, seq, w->done_arg);
	return rc ? rc : t->err;
}

/* The state index's filters made from the passes' output: a thread of its own, beside the writes. */
struct index_filters {
	struct step *w;
	int rc;
};

static void *make_filters(void *arg)
{
	struct index_filters *x = arg;
	x->rc = index_load_filters(&x->w->f->s->ix, x->w->entries, x->w->count);
	return NULL;
}

/* The log read and decided; false in *taken when it is the log-order path's. */
static int decide(struct fill *f, bool *taken)
{
	int rc = read_log(f, taken);
	if (rc || !*taken)
		return rc;
	*taken = false;
	rc = proj_bulk_apply(&f->b, f->e, f->n, 0);
	if (rc == PL_EREJECTED)
		return PL_OK;
	if (rc == 0 && (rc = group(f)) == 0)
		*taken = true;
	return rc;
}

static void fill_free(struct fill *f)
{
	big_free(f->e, f->n * sizeof *f->e);
	big_free(f->campaign_of, f->n * sizeof *f->campaign_of);
	campaigns_free(&f->campaigns);
	big_free(f->order, (f->n ? f->n : 1) * sizeof *f->order);
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
	int rc = decide(&f, &taken);
	if (rc || !taken) {
		fill_free(&f);
		/* Nothing written yet: short of memory, the log-order way needs less. */
		return rc == PL_ENOMEM ? PL_OK : rc;
	}
	struct step w = {.f = &f, .txn_ms = txn_ms, .done = done, .done_arg = done_arg,
			 .rows = malloc(f.largest * sizeof *w.rows)};
	proj_changes_init(&w.changes);
	if (!w.rows)
		rc = PL_ENOMEM;
	/* The state index's runs straight from the passes, sorted as runs are. */
	w.entries[SLOT_K_EVENT_IDS] = f.b.ids.entries;
	w.count[SLOT_K_EVENT_IDS] = f.b.ids.count;
	for (int k = 0; k < PROJ_KIND_COUNT; k++) {
		w.entries[SLOT_K_PROJ + k] = f.b.state[k].entries;
		w.count[SLOT_K_PROJ + k] = f.b.state[k].count;
	}
	if (rc == 0)
		rc = index_load_begin(&s->ix, w.count);
	/* The history rows made ready beside the writes; the producer never waits on them. */
	struct prepared history = {.f = &f, .cap = f.n * PREPARED_ROW_MAX,
				   .lock = PTHREAD_MUTEX_INITIALIZER,
				   .more = PTHREAD_COND_INITIALIZER};
	history.bytes = big_alloc(history.cap);
	history.end = malloc(f.campaigns.n * sizeof *history.end);
	w.history = &history;
	pthread_t preparer;
	bool preparing = false;
	if (rc == 0 && (!history.bytes || !history.end))
		rc = PL_ENOMEM;
	if (rc == 0 && !(preparing = pthread_create(&preparer, NULL, prepare_history,
						    &history) == 0))
		prepare_history(&history);
	/* The filters are memory the writes do not touch: made beside them. */
	struct index_filters x = {&w, 0};
	pthread_t filler;
	bool beside = rc == 0 && pthread_create(&filler, NULL, make_filters, &x) == 0;
	bool stopped = false;
	while (rc == 0 && !(stopped = stop && atomic_load(stop)) && w.from < f.campaigns.n) {
		rc = store_run_write(s->st, write_txn, &w);
		w.from = w.to;
	}
	while (rc == 0 && !stopped && !(stopped = stop && atomic_load(stop)) && w.kind < SLOT_KINDS) {
		w.kind_was = w.kind;
		w.written_was = w.written;
		rc = store_run_write(s->st, run_txn, &w);
	}
	if (preparing)
		pthread_join(preparer, NULL);
	big_free(history.bytes, history.cap);
	free(history.end);
	if (beside)
		pthread_join(filler, NULL);
	else if (rc == 0 && !stopped)
		make_filters(&x);
	if (rc == 0 && !stopped && (rc = x.rc) == 0) {
		index_txn_begin(&s->ix);
		rc = store_run_write(s->st, finish_txn, &w);
		index_txn_end(&s->ix, rc == 0);
	}
	if (rc == 0 && !stopped) {
		s->applied_seq = f.e[f.n - 1].seq;
		*filled = true;
	}
	proj_changes_deinit(&w.changes);
	free(w.rows);
	free(w.value);
	fill_free(&f);
	return rc;
}
