/* bulk_fill.c — a rebuild's empty slot filled from the whole log at once; see bulk_fill.h. */
#include "bulk_fill.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "big_alloc.h"
#include "bytes.h"
#include "clock.h"
#include "decoded.h"
#include "erasure.h"
#include "evlog.h"
#include "on_two.h"
#include "pl_error.h"
#include "proj_bulk.h"
#include "proj_history_table.h"

/* The most room a prepared history row takes (struct prepared); a comment's, its value aside. */
#define HISTORY_ROW_MAX (3 + PROJ_KEY_MAX + PROJ_HISTORY_MAX)
#define COMMENT_ROW_MAX (3 + PROJ_KEY_MAX)

/* A campaign of the log, by the number its entries know it by. */
struct campaign {
	struct fp fp;
	uint64_t opened_seq; /* 0: none seen (the rules then refuse its events) */
	uint8_t len;
	char id[PL_MAX_ID_BYTES];
};

/* An erasure's entry's campaign number: it has none. */
#define NO_CAMPAIGN UINT32_MAX

/* The campaigns a reader met, numbered in the order it met them. */
struct campaigns {
	struct campaign *c;
	size_t n, cap;
	struct memtable numbers; /* fingerprint → number */
};

/* A comment's row as the comments table keeps it, kept by the read: the log is not read again. */
struct comment_row {
	uint32_t entry;
	uint32_t len;
	size_t at; /* in its reader's, then the fill's, texts */
};

/* The comments' rows a reader kept, and their bytes. */
struct comment_rows {
	struct comment_row *row;
	size_t n, cap;
	uint8_t *texts;
	size_t len, texts_cap;
};

/* An erasure met by a reader, and the id it claims if it is a later copy of one before it. */
struct erasure_met {
	uint64_t seq;
	struct fp copy_id; /* evlog_copy_id_fp */
};

/* The erasures a reader met, in log order. */
struct erasures_met {
	struct erasure_met *e;
	size_t n, cap;
};

/*
 * One of the two threads reading the log: entries [from, to] decoded into
 * e[seq - 1] (the log is dense), their campaigns numbered in its own
 * campaigns, the rows of their comments kept, its erasures noted.
 */
struct reader {
	struct store *st;
	uint64_t from, to;
	struct proj_bulk_entry *e;
	uint32_t *campaign_of; /* an entry's campaign's number, by log position - 1 */
	struct campaigns campaigns;
	struct comment_rows comments;
	atomic_size_t *comment_bytes; /* both readers' comments' rows: a log's, not a half's */
	size_t comment_bytes_max; /* past which the log goes the log-order way, which holds none */
	struct erasures_met erasures;
	uint64_t read; /* entries read */
	bool left;     /* an entry for the log-order path */
	int rc;
};

struct fill {
	struct slot *s;
	struct bulk_limits limits;
	struct proj_bulk_entry *e;
	uint32_t *campaign_of;
	size_t n;           /* log entries taken */
	size_t hides;       /* the erasures' hides, in e after the log's entries (proj_bulk.h) */
	size_t cap, of_cap; /* room in e, in campaign_of */
	struct campaigns campaigns;
	struct comment_rows comments; /* in log order */
	struct proj_bulk b;
	const struct campaign **by_key; /* the campaigns in the order of their keys' prefixes */
	size_t *start;   /* by number: where its entries begin in order (ncampaigns + 1) */
	uint32_t *order; /* entries grouped by campaign, in log order within each */
	size_t *comments_start; /* the same for the comments' rows */
	uint32_t *comments_order;
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

/* The row of the comment ev, at log position seq, kept by r: 0, 1 when r keeps no more, or PL_ENOMEM. */
static int keep_comment(struct reader *r, const struct pl_event *ev, uint64_t seq)
{
	struct comment_rows *c = &r->comments;
	struct proj_comment com = {.id = pl_event_str(ev, PL_F_COMMENT),
				   .name = pl_event_str(ev, PL_F_NAME),
				   .has_name = pl_event_has(ev, PL_F_NAME),
				   .text = pl_event_str(ev, PL_F_TEXT)};
	size_t len = proj_comment_encode(NULL, &com);
	if (atomic_fetch_add_explicit(r->comment_bytes, len, memory_order_relaxed) + len >
	    r->comment_bytes_max) {
		r->left = true;
		return 1;
	}
	if (!big_array_reserve((void **)&c->row, &c->cap, c->n + 1, sizeof *c->row) ||
	    !big_array_reserve((void **)&c->texts, &c->texts_cap, c->len + len, 1))
		return PL_ENOMEM;
	proj_comment_encode(c->texts + c->len, &com);
	c->row[c->n++] = (struct comment_row){(uint32_t)(seq - 1), (uint32_t)len, c->len};
	c->len += len;
	return PL_OK;
}

static int note_erasure(struct erasures_met *m, const struct pl_event *ev,
			const struct evlog_entry *le)
{
	if (!big_array_reserve((void **)&m->e, &m->cap, m->n + 1, sizeof *m->e))
		return PL_ENOMEM;
	struct erasure_met *e = &m->e[m->n++];
	e->seq = le->seq;
	evlog_copy_id_fp(pl_event_str(ev, PL_F_ID), &le->src, &e->copy_id);
	return PL_OK;
}

static int read_entry(const struct evlog_entry *le, void *arg)
{
	struct reader *r = arg;
	struct decoded d;
	if (le->seq > r->to)
		return 1;
	d.keys = (struct proj_keys){0}; /* an event's keys are set for its fields only */
	decode_event(&d, le->raw, le->raw_len, NULL, 0);
	if (le->seq < r->from || d.rc) {
		r->left = true;
		return 1;
	}
	uint32_t number = NO_CAMPAIGN;
	int rc = d.ev.type == PL_EV_SUPPORTER_FORGOTTEN
			 ? note_erasure(&r->erasures, &d.ev, le)
			 : number_campaign(&r->campaigns, &d.ev, &d.keys.campaign, &number);
	if (rc)
		return rc;
	if (d.ev.type == PL_EV_CAMPAIGN_OPENED && !r->campaigns.c[number].opened_seq)
		r->campaigns.c[number].opened_seq = le->seq;
	if (d.ev.type == PL_EV_COMMENT_POSTED && (rc = keep_comment(r, &d.ev, le->seq)) != 0)
		return rc;
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

static void erasures_free(struct erasures_met *m)
{
	big_free(m->e, m->cap * sizeof *m->e);
}

static void comment_rows_free(struct comment_rows *c)
{
	big_free(c->row, c->cap * sizeof *c->row);
	big_free(c->texts, c->texts_cap);
}

/* The second reader's comments' rows after the first's, into the first's. */
static int merge_comments(struct comment_rows *into, const struct comment_rows *c)
{
	if (!big_array_reserve((void **)&into->row, &into->cap, into->n + c->n, sizeof *c->row) ||
	    !big_array_reserve((void **)&into->texts, &into->texts_cap, into->len + c->len, 1))
		return PL_ENOMEM;
	for (size_t i = 0; i < c->n; i++)
		into->row[into->n + i] = (struct comment_row){c->row[i].entry, c->row[i].len,
							     into->len + c->row[i].at};
	if (c->len)
		memcpy(into->texts + into->len, c->texts, c->len);
	into->n += c->n;
	into->len += c->len;
	return PL_OK;
}

/* The second reader's campaigns taken into the first's numbers, and its entries renumbered. */
static int merge_campaigns(struct reader *into, const struct reader *r)
{
	for (uint64_t seq = r->from; seq <= r->to; seq++) {
		if (r->campaign_of[seq - 1] == NO_CAMPAIGN) {
			into->campaign_of[seq - 1] = NO_CAMPAIGN;
			continue;
		}
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

/* Room for n entries in f->e and f->campaign_of. */
static int entries_room(struct fill *f, size_t n)
{
	bool room = big_array_reserve((void **)&f->e, &f->cap, n, sizeof *f->e) &&
		    big_array_reserve((void **)&f->campaign_of, &f->of_cap, n, sizeof *f->campaign_of);
	return room ? PL_OK : PL_ENOMEM;
}

/* A hide (proj_bulk.h) by the erasure x of the comment at log position comment; false when there is none. */
static bool add_hide(struct fill *f, const struct proj_bulk_entry *x, uint64_t comment)
{
	if (comment == 0 || comment >= x->seq || f->e[comment - 1].type != PL_EV_COMMENT_POSTED)
		return false;
	const struct proj_bulk_entry *posted = &f->e[comment - 1];
	size_t i = f->n + f->hides++;
	f->e[i] = (struct proj_bulk_entry){.type = PROJ_BULK_HIDE, .seq = x->seq, .at = x->at,
					   .campaign = posted->campaign, .comment = posted->comment};
	f->campaign_of[i] = f->campaign_of[comment - 1];
	return true;
}

/*
 * After the log's entries, a hide for each comment the records of the
 * erasures met[0] then met[1] name (in log order); a later copy of an
 * erasure given the id it claims. false in *taken when a record names no
 * comment before its erasure: the log-order path says what is wrong.
 */
static int take_erasures(struct fill *f, const struct erasures_met met[2], bool *taken)
{
	struct store_txn t;
	struct memtable ids;
	const uint8_t *comments;
	size_t count;
	if (!met[0].n && !met[1].n)
		return PL_OK;
	int rc = memtable_init(&ids, 0);
	if (rc)
		return rc;
	if ((rc = store_read_begin(f->s->st, &t))) {
		memtable_deinit(&ids);
		return rc;
	}
	for (int half = 0; half < 2; half++)
		for (size_t i = 0; rc == 0 && *taken && i < met[half].n; i++) {
			uint64_t seq = met[half].e[i].seq;
			struct fp *id = &f->e[seq - 1].id;
			/* As slot_claim: a copy after the first claims an id of its own. */
			if (memtable_get(&ids, id))
				*id = met[half].e[i].copy_id;
			else
				rc = memtable_put(&ids, id, "");
			if (rc == 0 && (rc = erasure_comments(&t, seq, &comments, &count)) == 0)
				rc = entries_room(f, f->n + f->hides + count);
			for (size_t k = 0; rc == 0 && *taken && k < count; k++)
				*taken = add_hide(f, &f->e[seq - 1], erasure_comment(comments, k));
		}
	store_abort(&t);
	memtable_deinit(&ids);
	/* A record damaged: the log-order path reports it. */
	if (rc == PL_ECORRUPT) {
		*taken = false;
		rc = PL_OK;
	}
	return rc;
}

/*
 * The log, up to its end as a read transaction sees it or its first
 * f->limits.entries, decoded into f by two threads, half of it each, with
 * its erasures' hides after it. false in *taken when it is the log-order
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
	if (rc || head == 0)
		return rc;
	/* A longer log: its first entries at once, the rest in log order after. */
	if (head > f->limits.entries)
		head = f->limits.entries;
	f->cap = f->of_cap = (size_t)head;
	f->e = big_alloc(f->cap * sizeof *f->e);
	f->campaign_of = big_alloc(f->cap * sizeof *f->campaign_of);
	uint32_t *theirs = big_alloc(f->cap * sizeof *theirs);
	atomic_size_t comment_bytes = 0;
	struct reader r[2] = {
		{f->s->st, 1, head / 2, f->e, f->campaign_of, .comment_bytes = &comment_bytes,
		 .comment_bytes_max = f->limits.comment_bytes},
		{f->s->st, head / 2 + 1, head, f->e, theirs, .comment_bytes = &comment_bytes,
		 .comment_bytes_max = f->limits.comment_bytes},
	};
	if (!f->e || !f->campaign_of || !theirs ||
	    (rc = memtable_init(&r[0].campaigns.numbers, sizeof(uint32_t))) ||
	    (rc = memtable_init(&r[1].campaigns.numbers, sizeof(uint32_t))))
		rc = rc ? rc : PL_ENOMEM;
	if (rc == 0) {
		on_two(read_part, &r[0], &r[1]);
		rc = r[0].rc < 0 ? r[0].rc : r[1].rc < 0 ? r[1].rc : PL_OK;
	}
	if (rc == 0 && !r[0].left && !r[1].left &&
	    (rc = merge_campaigns(&r[0], &r[1])) == 0 &&
	    (rc = merge_comments(&r[0].comments, &r[1].comments)) == 0) {
		f->n = (size_t)head;
		f->campaigns = r[0].campaigns;
		f->comments = r[0].comments;
		r[0].campaigns = (struct campaigns){0};
		r[0].comments = (struct comment_rows){0};
		*taken = true;
	}
	big_free(theirs, f->cap * sizeof *theirs);
	if (rc == 0 && *taken)
		rc = take_erasures(f, (struct erasures_met[2]){r[0].erasures, r[1].erasures}, taken);
	for (int i = 0; i < 2; i++) {
		campaigns_free(&r[i].campaigns);
		comment_rows_free(&r[i].comments);
		erasures_free(&r[i].erasures);
	}
	return rc;
}

/*
 * The order of the keys that begin with a campaign's prefix (its id's
 * length, then its id: proj_campaign_prefix): the history's and the
 * comments' rows are then written in key order, appended.
 */
static int by_prefix(const void *a, const void *b)
{
	const struct campaign *x = *(const struct campaign *const *)a;
	const struct campaign *y = *(const struct campaign *const *)b;
	return x->len != y->len ? (x->len > y->len) - (x->len < y->len) : memcmp(x->id, y->id, x->len);
}

static uint32_t entry_itself(const struct fill *f, size_t i)
{
	(void)f;
	return (uint32_t)i;
}

static uint32_t comment_entry(const struct fill *f, size_t i)
{
	return f->comments.row[i].entry;
}

/*
 * n items (of the entry entry_of() says each is) grouped by campaign, in
 * their order within each: campaign number c's are order[start[c],
 * start[c + 1]). An entry with no row of the history (proj_bulk.h) is in
 * no group.
 */
static int by_campaign(const struct fill *f, size_t n, uint32_t (*entry_of)(const struct fill *, size_t),
		       size_t **start, uint32_t **order)
{
	size_t ncampaigns = f->campaigns.n;
	*start = calloc(ncampaigns + 1, sizeof **start);
	*order = big_alloc((n ? n : 1) * sizeof **order);
	size_t *fill = malloc((ncampaigns ? ncampaigns : 1) * sizeof *fill);
	if (!*start || !*order || !fill) {
		free(fill);
		return PL_ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		if (f->b.rows[entry_of(f, i)].h.type != PROJ_BULK_NO_ROW)
			(*start)[f->campaign_of[entry_of(f, i)] + 1]++;
	for (size_t c = 0; c < ncampaigns; c++)
		(*start)[c + 1] += (*start)[c];
	memcpy(fill, *start, ncampaigns * sizeof *fill);
	for (size_t i = 0; i < n; i++)
		if (f->b.rows[entry_of(f, i)].h.type != PROJ_BULK_NO_ROW)
			(*order)[fill[f->campaign_of[entry_of(f, i)]]++] = (uint32_t)i;
	free(fill);
	return PL_OK;
}

/* The entries and the comments' rows grouped by campaign, and the campaigns in the order of their prefixes. */
static int group(struct fill *f)
{
	size_t ncampaigns = f->campaigns.n;
	int rc = by_campaign(f, f->n + f->hides, entry_itself, &f->start, &f->order);
	if (rc == 0)
		rc = by_campaign(f, f->comments.n, comment_entry, &f->comments_start,
				 &f->comments_order);
	f->by_key = malloc((ncampaigns ? ncampaigns : 1) * sizeof *f->by_key);
	if (rc || !f->by_key)
		return rc ? rc : PL_ENOMEM;
	f->largest = 1;
	for (size_t c = 0; c < ncampaigns; c++) {
		if (f->start[c + 1] - f->start[c] > f->largest)
			f->largest = f->start[c + 1] - f->start[c];
		f->by_key[c] = &f->campaigns.c[c];
	}
	qsort(f->by_key, ncampaigns, sizeof *f->by_key, by_prefix);
	return PL_OK;
}

/* A row of a campaign's history or comments, to put in key order. */
struct keyed {
	int64_t at;
	uint64_t seq;
	uint32_t entry; /* its entry's number; a comment's, its row's */
};

/* By key (time, then log position), then the order of the entries: an erasure's hides share a key. */
static int by_time(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return x->entry < y->entry ? -1 : x->entry > y->entry;
}

/* rows[0..n) by time; most logs have them in time order already, which costs one look. */
static void sort_by_time(struct keyed *rows, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (by_time(&rows[i - 1], &rows[i]) > 0) {
			qsort(rows, n, sizeof *rows, by_time);
			return;
		}
}

/*
 * A table's rows, sorted and encoded campaign by campaign in the order
 * they are written, by a thread of their own ahead of the writes: a key's
 * length (1 byte), the key, the value's length (2 bytes), the value. The
 * room is reserved for the longest rows at once (pages are touched only
 * as they fill), so the writer reads what is ready while the rest is
 * being made.
 */
struct prepared {
	const struct fill *f;
	/* Encodes campaign c's rows from bytes + *at on; 0 or an error. */
	int (*rows_of)(struct prepared *p, const struct campaign *c, size_t *at);
	uint8_t *bytes;
	size_t cap;
	size_t *end;  /* by place in by_key: where its rows end */
	size_t ready; /* campaigns prepared (all of them after an error) */
	int rc;
	struct keyed *rows; /* room for the largest campaign's entries */
	pthread_mutex_t lock;
	pthread_cond_t more;
};

/* Puts row's key (its length, then it) at bytes + at; returns where its value goes. */
static size_t put_key(struct prepared *p, size_t at, const struct campaign *c,
		      const struct keyed *row)
{
	uint8_t *out = p->bytes + at;
	out[0] = (uint8_t)proj_timed_key(out + 1, (struct pl_str){c->id, c->len}, row->at, row->seq);
	return at + 1 + out[0];
}

/* Rows ahead whose data history_of() asks the cache for. */
#define ROWS_AHEAD 16

static int history_of(struct prepared *p, const struct campaign *c, size_t *at)
{
	const struct fill *f = p->f;
	size_t number = (size_t)(c - f->campaigns.c), n = 0;
	size_t end = f->start[number + 1];
	for (size_t i = f->start[number]; i < end; i++) {
		uint32_t e = f->order[i];
		/* A campaign's rows lie far apart: asked for ahead. */
		if (i + ROWS_AHEAD < end)
			__builtin_prefetch(&f->b.rows[f->order[i + ROWS_AHEAD]]);
		p->rows[n++] = (struct keyed){f->b.rows[e].at, f->e[e].seq, e};
	}
	sort_by_time(p->rows, n);
	for (size_t i = 0; i < n; i++) {
		struct proj_history h = f->b.rows[p->rows[i].entry].h;
		/* One erasure's hides at one time: one row, as proj_publish merges them. */
		for (; i + 1 < n && p->rows[i + 1].at == p->rows[i].at &&
		       p->rows[i + 1].seq == p->rows[i].seq;
		     i++) {
			int32_t comments = h.comments;
			h = f->b.rows[p->rows[i + 1].entry].h;
			h.comments += comments;
		}
		uint8_t *val = p->bytes + put_key(p, *at, c, &p->rows[i]);
		size_t len = proj_history_encode(val + 2, &h);
		bytes_put_le16(val, (uint16_t)len);
		*at = (size_t)(val - p->bytes) + 2 + len;
	}
	return PL_OK;
}

/* Its comments not removed, at their own times. */
static int comments_of(struct prepared *p, const struct campaign *c, size_t *at)
{
	const struct fill *f = p->f;
	const struct proj_bulk_table *states = &f->b.state[PROJ_K_COMMENT];
	size_t number = (size_t)(c - f->campaigns.c), n = 0;
	for (size_t i = f->comments_start[number]; i < f->comments_start[number + 1]; i++) {
		uint32_t row = f->comments_order[i];
		const struct proj_bulk_entry *e = &f->e[f->comments.row[row].entry];
		const uint8_t *s = entries_find(states->entries, states->count, states->entry_size,
						&e->comment);
		struct proj_comment_state st;
		if (!s)
			return PL_ECORRUPT; /* proj_bulk took every comment */
		proj_comment_state_decode(s + FP_SIZE, &st);
		if (!st.removed)
			p->rows[n++] = (struct keyed){e->at, e->seq, row};
	}
	sort_by_time(p->rows, n);
	for (size_t i = 0; i < n; i++) {
		const struct comment_row *row = &f->comments.row[p->rows[i].entry];
		uint8_t *val = p->bytes + put_key(p, *at, c, &p->rows[i]);
		bytes_put_le16(val, (uint16_t)row->len);
		memcpy(val + 2, f->comments.texts + row->at, row->len);
		*at = (size_t)(val - p->bytes) + 2 + row->len;
	}
	return PL_OK;
}

static void *prepare(void *arg)
{
	struct prepared *p = arg;
	const struct fill *f = p->f;
	size_t at = 0;
	int rc = (p->rows = malloc(f->largest * sizeof *p->rows)) ? PL_OK : PL_ENOMEM;
	for (size_t k = 0; k < f->campaigns.n; k++) {
		if (rc == 0)
			rc = p->rows_of(p, f->by_key[k], &at);
		pthread_mutex_lock(&p->lock);
		p->end[k] = at;
		p->rc = rc;
		p->ready = rc ? f->campaigns.n : k + 1;
		pthread_cond_signal(&p->more);
		pthread_mutex_unlock(&p->lock);
		if (rc)
			break;
	}
	free(p->rows);
	return NULL;
}

/* Room for rows of room bytes, and a thread making them (or this one, when none starts). */
static int prepared_start(struct prepared *p, size_t room, pthread_t *thread, bool *started)
{
	p->cap = room;
	p->bytes = big_alloc(p->cap ? p->cap : 1);
	p->end = malloc((p->f->campaigns.n ? p->f->campaigns.n : 1) * sizeof *p->end);
	*started = false;
	if (!p->bytes || !p->end)
		return PL_ENOMEM;
	if (!(*started = pthread_create(thread, NULL, prepare, p) == 0))
		prepare(p);
	return PL_OK;
}

static void prepared_free(struct prepared *p, pthread_t thread, bool started)
{
	if (started)
		pthread_join(thread, NULL);
	big_free(p->bytes, p->cap ? p->cap : 1);
	free(p->end);
}

/* Campaign k's rows of p, once ready: bytes [*at, *end); 0 or the preparer's error. */
static int prepared_rows(struct prepared *p, size_t k, size_t *at, size_t *end)
{
	pthread_mutex_lock(&p->lock);
	while (p->ready <= k)
		pthread_cond_wait(&p->more, &p->lock);
	int rc = p->rc;
	*at = rc || !k ? 0 : p->end[k - 1];
	*end = rc ? 0 : p->end[k];
	pthread_mutex_unlock(&p->lock);
	return rc;
}

/* The next row of p at *at: its key and value, *at moved past it. */
static void prepared_next(const struct prepared *p, size_t *at, MDB_val *key, MDB_val *val)
{
	const uint8_t *b = p->bytes + *at;
	*key = (MDB_val){b[0], (void *)(b + 1)};
	b += 1 + b[0];
	*val = (MDB_val){bytes_get_le16(b), (void *)(b + 2)};
	*at = (size_t)(b - p->bytes) + 2 + val->mv_size;
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
	struct prepared *history, *comments;
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
	size_t at, end;
	int rc = prepared_rows(w->history, k, &at, &end);
	while (rc == 0 && at < end) {
		MDB_val key, val;
		prepared_next(w->history, &at, &key, &val);
		rc = proj_history_append(app, key.mv_data, key.mv_size, val.mv_data, val.mv_size);
		rc = rc ? store_error(rc) : PL_OK;
	}
	return rc ? store_txn_fail(t, rc) : t->err;
}

/* Its comments, appended: they come in key order, after any other campaign's. */
static int write_comments(struct step *w, struct store_txn *t, size_t k)
{
	size_t at, end;
	int rc = prepared_rows(w->comments, k, &at, &end);
	if (rc)
		return store_txn_fail(t, rc);
	while (at < end && !t->err) {
		MDB_val key, val;
		prepared_next(w->comments, &at, &key, &val);
		store_put(t, store_slot_db(w->f->s->which, SLOT_COMMENTS), key.mv_data, key.mv_size,
			  val.mv_data, val.mv_size, MDB_APPEND);
	}
	return t->err;
}

static int write_campaign(struct step *w, struct store_txn *t, struct proj_history_appender *app,
			  size_t k)
{
	const struct fill *f = w->f;
	const struct campaign *c = f->by_key[k];
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
	if ((rc = write_history(w, t, app, k)))
		return rc;
	return write_comments(w, t, k);
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
		index_work_rewind(&f->s->ix); /* run again after the map grew */
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
	rc = proj_bulk_apply(&f->b, f->e, f->n + f->hides, 0);
	if (rc == PL_EREJECTED)
		return PL_OK;
	if (rc == 0 && (rc = group(f)) == 0)
		*taken = true;
	return rc;
}

static void fill_free(struct fill *f)
{
	big_free(f->e, f->cap * sizeof *f->e);
	big_free(f->campaign_of, f->of_cap * sizeof *f->campaign_of);
	campaigns_free(&f->campaigns);
	big_free(f->order, (f->n + f->hides ? f->n + f->hides : 1) * sizeof *f->order);
	comment_rows_free(&f->comments);
	big_free(f->comments_order, (f->comments.n ? f->comments.n : 1) * sizeof *f->comments_order);
	free(f->comments_start);
	proj_bulk_free(&f->b);
	free(f->by_key);
	free(f->start);
}

int bulk_fill(struct slot *s, int txn_ms, const struct bulk_limits *limits,
	      const atomic_bool *stop,
	      int (*done)(struct store_txn *t, uint64_t seq, void *arg), void *done_arg,
	      bool *filled)
{
	struct fill f = {.s = s,
			 .limits = {limits->entries ? limits->entries : BULK_MAX_ENTRIES,
				    limits->comment_bytes ? limits->comment_bytes : BULK_MAX_COMMENT_BYTES}};
	bool taken;
	*filled = false;
	int rc = decide(&f, &taken);
	if (rc || !taken) {
		fill_free(&f);
		/* Nothing written yet: short of memory, the log-order way needs less. */
		return rc == PL_ENOMEM ? PL_OK : rc;
	}
	struct step w = {.f = &f, .txn_ms = txn_ms, .done = done, .done_arg = done_arg};
	proj_changes_init(&w.changes);
	/* The state index's runs straight from the passes, sorted as runs are. */
	w.entries[SLOT_K_EVENT_IDS] = f.b.ids.entries;
	w.count[SLOT_K_EVENT_IDS] = f.b.ids.count;
	for (int k = 0; k < PROJ_KIND_COUNT; k++) {
		w.entries[SLOT_K_PROJ + k] = f.b.state[k].entries;
		w.count[SLOT_K_PROJ + k] = f.b.state[k].count;
	}
	rc = index_load_begin(&s->ix, w.count);
	/* The history's and the comments' rows made ready beside the writes. */
	struct prepared history = {.f = &f, .rows_of = history_of,
				   .lock = PTHREAD_MUTEX_INITIALIZER,
				   .more = PTHREAD_COND_INITIALIZER};
	struct prepared comments = {.f = &f, .rows_of = comments_of,
				    .lock = PTHREAD_MUTEX_INITIALIZER,
				    .more = PTHREAD_COND_INITIALIZER};
	w.history = &history;
	w.comments = &comments;
	pthread_t history_thread, comments_thread;
	bool history_started = false, comments_started = false;
	if (rc == 0)
		rc = prepared_start(&history, (f.n + f.hides) * HISTORY_ROW_MAX, &history_thread,
				    &history_started);
	if (rc == 0)
		rc = prepared_start(&comments, f.comments.n * COMMENT_ROW_MAX + f.comments.len,
				    &comments_thread, &comments_started);
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
	prepared_free(&history, history_thread, history_started);
	prepared_free(&comments, comments_thread, comments_started);
	if (beside)
		pthread_join(filler, NULL);
	else if (rc == 0 && !stopped)
		make_filters(&x);
	if (rc == 0 && !stopped && (rc = x.rc) == 0) {
		index_work_begin(&s->ix);
		rc = store_run_write(s->st, finish_txn, &w);
		index_work_end(&s->ix, rc == 0);
	}
	if (rc == 0 && !stopped) {
		s->applied_seq = f.e[f.n - 1].seq;
		*filled = true;
	}
	proj_changes_deinit(&w.changes);
	fill_free(&f);
	return rc;
}
