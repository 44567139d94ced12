/*
 * partition_probe.c — a design probe for a bulk rebuild, not a measure of
 * pledged as it is (docs/performance.md, "A bulk rebuild, probed").
 *
 * A rebuild applies the log in log order, so each rule's state lookup is a
 * cache miss in a table far larger than the cache. Applied as a batch job
 * instead, each kind of state (pledges by pledge id, nets by supporter,
 * comments by comment id) could be scattered by its own key into
 * partitions small enough for the cache, each applied in log order within
 * itself. This probe measures both ways on the rules' state alone, with a
 * model of the state rules (not proj_apply.c: no published rows, no
 * history), on the bench's log:
 *
 *   raw scan            a cursor over the log, as replay_bench's baseline
 *   walk and decode     evlog_each + decode_event, one thread, and each of
 *                       two threads walking half the log (wall time)
 *   state, log order    the model in log order, tables sized in advance
 *   state, partitioned  the same model scattered by key, tables the size
 *                       of --bucket entries (scatters included)
 *   the bulk rules      proj_bulk_apply(): the rules themselves, applied
 *                       kind by kind in partitions of --bucket items
 *   history rows        one row an entry put in key order with MDB_APPEND
 *                       into a fresh LMDB file (its keys' sort apart)
 *
 * as ns an entry, the best of --runs. Exits 1 when the model refuses an
 * event of the log or the two orders end in different state.
 */
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <lmdb.h>
#include <stdlib.h>
#include <time.h>

#include "bench_log.h"
#include "../fixture.h"
#include "bytes.h"
#include "decoded.h"
#include "evlog.h"
#include "memtable.h"
#include "proj_bulk.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What the model needs of one log entry. */
struct entry {
	uint64_t seq;
	int64_t amount, at;
	uint8_t type;
	uint32_t refund_no; /* a refund's number among the log's refunds */
	struct fp campaign, pledge, supporter, backer, comment;
};

struct log_copy {
	struct entry *e;
	struct proj_bulk_entry *bulk; /* the same entries, as proj_bulk takes them */
	size_t n, refunds;
};

static int touch_entry(const MDB_val *k, const MDB_val *v, void *arg)
{
	uint64_t *sum = arg;
	const unsigned char *p = v->mv_data;
	*sum += k->mv_size + v->mv_size + p[v->mv_size - 1];
	return 0;
}

static int copy_entry(const struct evlog_entry *le, void *arg)
{
	struct log_copy *lc = arg;
	struct decoded d;
	d.keys = (struct proj_keys){0}; /* an event's keys are set for its fields only */
	decode_event(&d, le->raw, le->raw_len, NULL, 0);
	if (d.rc)
		return PL_ECORRUPT;
	proj_bulk_entry_of(&lc->bulk[lc->n], &d.ev, &d.keys, &d.id, le->seq);
	struct entry *e = &lc->e[lc->n++];
	*e = (struct entry){.seq = le->seq, .amount = pl_event_int(&d.ev, PL_F_AMOUNT),
			    .at = pl_event_int(&d.ev, PL_F_AT), .type = (uint8_t)d.ev.type,
			    .campaign = d.keys.campaign, .pledge = d.keys.pledge,
			    .supporter = d.keys.supporter, .backer = d.keys.backer,
			    .comment = d.keys.comment};
	if (d.ev.type == PL_EV_PLEDGE_REFUNDED)
		e->refund_no = (uint32_t)lc->refunds++;
	return 0;
}

/* Half of the log walked and decoded by a thread of its own (decode_halves). */
struct half {
	struct store *st;
	uint64_t from, to; /* log positions */
	struct entry *e;   /* the entry at seq goes to e[seq - 1] */
	int rc;
};

static int decode_into(const struct evlog_entry *le, void *arg)
{
	struct half *h = arg;
	if (le->seq > h->to)
		return 1;
	struct decoded d;
	d.keys = (struct proj_keys){0}; /* an event's keys are set for its fields only */
	decode_event(&d, le->raw, le->raw_len, NULL, 0);
	if (d.rc)
		return PL_ECORRUPT;
	h->e[le->seq - 1] = (struct entry){.seq = le->seq, .amount = pl_event_int(&d.ev, PL_F_AMOUNT),
					   .at = pl_event_int(&d.ev, PL_F_AT), .type = (uint8_t)d.ev.type,
					   .campaign = d.keys.campaign, .pledge = d.keys.pledge,
					   .supporter = d.keys.supporter, .backer = d.keys.backer,
					   .comment = d.keys.comment};
	return 0;
}

static void *decode_half(void *arg)
{
	struct half *h = arg;
	struct store_txn t;
	h->rc = store_read_begin(h->st, &t);
	if (h->rc == 0) {
		h->rc = evlog_each(&t, h->from, decode_into, h, NULL);
		store_abort(&t);
	}
	return NULL;
}

/* Whether a and b are one entry (a refund's number is the one-thread copy's own). */
static bool same_entry(const struct entry *a, const struct entry *b)
{
	return a->seq == b->seq && a->amount == b->amount && a->at == b->at &&
	       a->type == b->type && fp_cmp(&a->campaign, &b->campaign) == 0 &&
	       fp_cmp(&a->pledge, &b->pledge) == 0 && fp_cmp(&a->supporter, &b->supporter) == 0 &&
	       fp_cmp(&a->backer, &b->backer) == 0 && fp_cmp(&a->comment, &b->comment) == 0;
}

/* Walks and decodes the log's n entries on two threads, a half each: seconds of wall time. */
static double decode_halves(struct store *st, size_t n, struct entry *out)
{
	struct half h[2] = {{st, 1, n / 2, out, 0}, {st, n / 2 + 1, n, out, 0}};
	pthread_t other;
	double t0 = now_s();
	if (pthread_create(&other, NULL, decode_half, &h[1]) != 0)
		exit(1);
	decode_half(&h[0]);
	pthread_join(other, NULL);
	double took = now_s() - t0;
	if (h[0].rc < 0 || h[1].rc < 0) {
		fprintf(stderr, "partition_probe: the log does not decode on two threads\n");
		exit(1);
	}
	return took;
}

/* The model's tables, and what they hold at the end, summed, to compare the two orders. */
struct state {
	struct memtable campaigns, pledges, nets, backers, comments;
	uint64_t refused, digest;
};

/* A comment's state in the model. */
enum { COMMENT_SHOWN = 1, COMMENT_REMOVED = 2 };

static void add_net(struct memtable *m, const struct fp *f, int64_t delta)
{
	int64_t *net = memtable_get(m, f);
	if (net)
		*net += delta;
	else
		memtable_put(m, f, &delta);
}

/* Adds a table's entries, each key's first word times its value's first word, to the digest. */
static void digest_table(struct state *s, const struct memtable *m)
{
	for (const uint8_t *e = memtable_next(m, NULL); e; e = memtable_next(m, e)) {
		uint64_t v;
		memcpy(&v, e + FP_SIZE, sizeof v);
		s->digest += fp_word(e, 0) * (v | 1);
	}
}

/* The campaign an event names must be open (closing is left out of the model). */
static void check_campaign(struct state *s, const struct entry *e)
{
	if (e->type == PL_EV_CAMPAIGN_OPENED)
		memtable_put(&s->campaigns, &e->campaign, &e->seq);
	else if (e->type != PL_EV_SUPPORTER_FORGOTTEN && !memtable_get(&s->campaigns, &e->campaign))
		s->refused++;
}

/* A pledge in log order: its refunded amount and the entry that made it (for its supporter). */
struct pledge_by_entry {
	int64_t refunded, amount;
	uint64_t made_by;
};

static void apply_in_log_order(const struct log_copy *lc, struct state *s)
{
	for (size_t i = 0; i < lc->n; i++) {
		const struct entry *e = &lc->e[i];
		check_campaign(s, e);
		if (e->type == PL_EV_PLEDGE_CREATED) {
			if (memtable_get(&s->pledges, &e->pledge))
				s->refused++;
			struct pledge_by_entry p = {0, e->amount, i};
			memtable_put(&s->pledges, &e->pledge, &p);
			add_net(&s->nets, &e->supporter, e->amount);
			add_net(&s->backers, &e->backer, e->amount);
		} else if (e->type == PL_EV_PLEDGE_REFUNDED) {
			struct pledge_by_entry *p = memtable_get(&s->pledges, &e->pledge);
			if (!p || p->refunded + e->amount > p->amount) {
				s->refused++;
				continue;
			}
			p->refunded += e->amount;
			const struct entry *made = &lc->e[p->made_by];
			add_net(&s->nets, &made->supporter, -e->amount);
			add_net(&s->backers, &made->backer, -e->amount);
		} else if (e->type == PL_EV_COMMENT_POSTED) {
			const int64_t *net = memtable_get(&s->nets, &e->supporter);
			if (!net || *net <= 0 || memtable_get(&s->comments, &e->comment))
				s->refused++;
			uint64_t shown = COMMENT_SHOWN;
			memtable_put(&s->comments, &e->comment, &shown);
		} else if (e->type == PL_EV_COMMENT_REMOVED) {
			uint64_t *c = memtable_get(&s->comments, &e->comment);
			if (!c || *c != COMMENT_SHOWN)
				s->refused++;
			else
				*c = COMMENT_REMOVED;
		}
	}
	digest_table(s, &s->pledges);
	digest_table(s, &s->nets);
	digest_table(s, &s->backers);
	digest_table(s, &s->comments);
}

/*
 * Items scattered into 2^bits partitions by their key's low bits (a
 * memtable's home slot is its key's top bits, which partitions must not
 * share), in log order within each: a count first, then the items.
 */
struct scatter {
	unsigned bits;
	size_t item_size;
	size_t *start; /* 2^bits + 1: where each partition's items begin */
	size_t *fill;
	uint8_t *items; /* kept from run to run, as a bulk build would keep its own */
	size_t items_cap;
};

static size_t partition_of(unsigned bits, const struct fp *f)
{
	return (size_t)(fp_word(f->b, 1) & (((uint64_t)1 << bits) - 1));
}

static void scatter_begin(struct scatter *s, size_t items, size_t per_partition)
{
	s->bits = 0;
	while (((size_t)1 << s->bits) * per_partition < items)
		s->bits++;
	size_t n = (size_t)1 << s->bits;
	free(s->start);
	free(s->fill);
	s->start = calloc(n + 1, sizeof *s->start);
	s->fill = calloc(n, sizeof *s->fill);
	if (items * s->item_size > s->items_cap) {
		free(s->items);
		s->items_cap = items * s->item_size;
		s->items = calloc(1, s->items_cap);
	}
	if (!s->start || !s->fill || !s->items) {
		fprintf(stderr, "partition_probe: out of memory\n");
		exit(1);
	}
}

static void scatter_count(struct scatter *s, const struct fp *f)
{
	s->start[partition_of(s->bits, f) + 1]++;
}

static void scatter_counted(struct scatter *s)
{
	size_t n = (size_t)1 << s->bits;
	for (size_t p = 0; p < n; p++)
		s->start[p + 1] += s->start[p];
	memcpy(s->fill, s->start, n * sizeof *s->fill);
}

static void *scatter_put(struct scatter *s, const struct fp *f)
{
	return s->items + s->fill[partition_of(s->bits, f)]++ * s->item_size;
}

static void *scatter_item(const struct scatter *s, size_t i)
{
	return s->items + i * s->item_size;
}

static void scatter_free(struct scatter *s)
{
	free(s->start);
	free(s->fill);
	free(s->items);
}

/* A pledge event, scattered by pledge id; a pledge keeps its supporter's keys. */
struct pledge_item {
	struct fp pledge, supporter, backer;
	int64_t amount;
	uint32_t refund_no;
	uint8_t type;
};
struct pledge_by_key {
	int64_t refunded, amount;
	struct fp supporter, backer;
};
/* A change of a net (supporter's, backer's), or a comment's check of one (delta 0). */
struct net_item {
	struct fp key;
	int64_t delta;
};
struct comment_item {
	struct fp comment;
	uint8_t type;
};

struct partitioned {
	size_t per_partition;
	struct scatter pledges, nets, backers, comments;
	struct fp *refund_supporter, *refund_backer; /* by refund number */
	double took[4];
};

static bool is_pledge(const struct entry *e)
{
	return e->type == PL_EV_PLEDGE_CREATED || e->type == PL_EV_PLEDGE_REFUNDED;
}

/* The campaigns in log order (few), and the pledge events scattered by pledge id. */
static void scatter_pledges(const struct log_copy *lc, struct state *s, struct partitioned *pt)
{
	size_t n = 0;
	for (size_t i = 0; i < lc->n; i++)
		n += is_pledge(&lc->e[i]);
	scatter_begin(&pt->pledges, n, pt->per_partition);
	for (size_t i = 0; i < lc->n; i++)
		if (is_pledge(&lc->e[i]))
			scatter_count(&pt->pledges, &lc->e[i].pledge);
	scatter_counted(&pt->pledges);
	for (size_t i = 0; i < lc->n; i++) {
		const struct entry *e = &lc->e[i];
		check_campaign(s, e);
		if (is_pledge(e))
			*(struct pledge_item *)scatter_put(&pt->pledges, &e->pledge) =
				(struct pledge_item){e->pledge, e->supporter, e->backer, e->amount,
						     e->refund_no, e->type};
	}
}

/* Each partition of pledges: a refund learns its pledge's supporter. */
static void apply_pledges(struct state *s, struct partitioned *pt)
{
	const struct scatter *sc = &pt->pledges;
	for (size_t p = 0; p < (size_t)1 << sc->bits; p++) {
		memtable_clear(&s->pledges);
		for (size_t i = sc->start[p]; i < sc->start[p + 1]; i++) {
			const struct pledge_item *it = scatter_item(sc, i);
			struct pledge_by_key *v = memtable_get(&s->pledges, &it->pledge);
			if (it->type == PL_EV_PLEDGE_CREATED) {
				if (v)
					s->refused++;
				struct pledge_by_key made = {0, it->amount, it->supporter, it->backer};
				memtable_put(&s->pledges, &it->pledge, &made);
			} else if (!v || v->refunded + it->amount > v->amount) {
				s->refused++;
			} else {
				v->refunded += it->amount;
				pt->refund_supporter[it->refund_no] = v->supporter;
				pt->refund_backer[it->refund_no] = v->backer;
			}
		}
		digest_table(s, &s->pledges);
	}
}

/* The nets' changes and checks, and the comments, scattered in log order. */
static void scatter_nets(const struct log_copy *lc, struct partitioned *pt)
{
	size_t nets = 0, backers = 0, comments = 0;
	for (size_t i = 0; i < lc->n; i++) {
		uint8_t t = lc->e[i].type;
		nets += is_pledge(&lc->e[i]) || t == PL_EV_COMMENT_POSTED;
		backers += is_pledge(&lc->e[i]);
		comments += t == PL_EV_COMMENT_POSTED || t == PL_EV_COMMENT_REMOVED;
	}
	scatter_begin(&pt->nets, nets, pt->per_partition);
	scatter_begin(&pt->backers, backers, pt->per_partition);
	scatter_begin(&pt->comments, comments, pt->per_partition);
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < lc->n; i++) {
			const struct entry *e = &lc->e[i];
			bool refund = e->type == PL_EV_PLEDGE_REFUNDED;
			const struct fp *net = refund ? &pt->refund_supporter[e->refund_no] : &e->supporter;
			const struct fp *backer = refund ? &pt->refund_backer[e->refund_no] : &e->backer;
			int64_t delta = refund ? -e->amount : e->amount;
			bool comment = e->type == PL_EV_COMMENT_POSTED || e->type == PL_EV_COMMENT_REMOVED;
			if (pass == 0) {
				if (is_pledge(e) || e->type == PL_EV_COMMENT_POSTED)
					scatter_count(&pt->nets, net);
				if (is_pledge(e))
					scatter_count(&pt->backers, backer);
				if (comment)
					scatter_count(&pt->comments, &e->comment);
				continue;
			}
			if (is_pledge(e)) {
				*(struct net_item *)scatter_put(&pt->nets, net) = (struct net_item){*net, delta};
				*(struct net_item *)scatter_put(&pt->backers, backer) =
					(struct net_item){*backer, delta};
			} else if (e->type == PL_EV_COMMENT_POSTED) {
				*(struct net_item *)scatter_put(&pt->nets, net) = (struct net_item){*net, 0};
			}
			if (comment)
				*(struct comment_item *)scatter_put(&pt->comments, &e->comment) =
					(struct comment_item){e->comment, e->type};
		}
		if (pass == 0) {
			scatter_counted(&pt->nets);
			scatter_counted(&pt->backers);
			scatter_counted(&pt->comments);
		}
	}
}

static void apply_nets(struct state *s, struct memtable *m, const struct scatter *sc)
{
	for (size_t p = 0; p < (size_t)1 << sc->bits; p++) {
		memtable_clear(m);
		for (size_t i = sc->start[p]; i < sc->start[p + 1]; i++) {
			const struct net_item *it = scatter_item(sc, i);
			if (it->delta) {
				add_net(m, &it->key, it->delta);
				continue;
			}
			const int64_t *net = memtable_get(m, &it->key);
			if (!net || *net <= 0)
				s->refused++; /* not a backer */
		}
		digest_table(s, m);
	}
}

static void apply_comments(struct state *s, const struct scatter *sc)
{
	for (size_t p = 0; p < (size_t)1 << sc->bits; p++) {
		memtable_clear(&s->comments);
		for (size_t i = sc->start[p]; i < sc->start[p + 1]; i++) {
			const struct comment_item *it = scatter_item(sc, i);
			uint64_t *c = memtable_get(&s->comments, &it->comment);
			if (it->type == PL_EV_COMMENT_POSTED) {
				uint64_t shown = COMMENT_SHOWN;
				if (c)
					s->refused++;
				memtable_put(&s->comments, &it->comment, &shown);
			} else if (!c || *c != COMMENT_SHOWN) {
				s->refused++;
			} else {
				*c = COMMENT_REMOVED;
			}
		}
		digest_table(s, &s->comments);
	}
}

static void apply_partitioned(const struct log_copy *lc, struct state *s, struct partitioned *pt)
{
	double t0 = now_s();
	scatter_pledges(lc, s, pt);
	double t1 = now_s();
	apply_pledges(s, pt);
	double t2 = now_s();
	scatter_nets(lc, pt);
	double t3 = now_s();
	apply_nets(s, &s->nets, &pt->nets);
	apply_nets(s, &s->backers, &pt->backers);
	apply_comments(s, &pt->comments);
	double t4 = now_s();
	double took[4] = {t1 - t0, t2 - t1, t3 - t2, t4 - t3};
	memcpy(pt->took, took, sizeof took);
}

/* Tables for the model; a pledge's value is pledge_size bytes (each order keeps its own). */
static void state_init(struct state *s, size_t pledge_size)
{
	memset(s, 0, sizeof *s);
	if (memtable_init(&s->campaigns, 8) || memtable_init(&s->pledges, pledge_size) ||
	    memtable_init(&s->nets, 8) || memtable_init(&s->backers, 8) ||
	    memtable_init(&s->comments, 8)) {
		fprintf(stderr, "partition_probe: out of memory\n");
		exit(1);
	}
}

/*
 * Empties s. Its tables keep the size they grew to, so that only a first
 * run pays for their growth (the best run is reported).
 */
static void state_reset(struct state *s)
{
	struct memtable *all[] = {&s->campaigns, &s->pledges, &s->nets, &s->backers, &s->comments};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		memtable_clear(all[i]);
	s->refused = s->digest = 0;
}

static void state_deinit(struct state *s)
{
	memtable_deinit(&s->campaigns);
	memtable_deinit(&s->pledges);
	memtable_deinit(&s->nets);
	memtable_deinit(&s->backers);
	memtable_deinit(&s->comments);
}

/* A history row's key: 8 bytes of its campaign's fingerprint, its time and its log position. */
struct history_key {
	uint8_t b[24];
};

static int cmp_history_key(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct history_key));
}

/* Puts one 30-byte row an entry in key order into a fresh LMDB file; seconds for the sort and the puts. */
static void put_history(const struct log_copy *lc, const char *path, double *sort_s, double *put_s)
{
	struct history_key *keys = malloc(lc->n * sizeof *keys);
	if (!keys)
		exit(1);
	double t0 = now_s();
	for (size_t i = 0; i < lc->n; i++) {
		memcpy(keys[i].b, lc->e[i].campaign.b, 8);
		bytes_put_be64(keys[i].b + 8, (uint64_t)lc->e[i].at);
		bytes_put_be64(keys[i].b + 16, lc->e[i].seq);
	}
	qsort(keys, lc->n, sizeof *keys, cmp_history_key);
	double t1 = now_s();
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	uint8_t row[30];
	memset(row, 7, sizeof row);
	int rc = mdb_env_create(&env);
	if (rc == 0)
		rc = mdb_env_set_mapsize(env, (size_t)16 << 30);
	if (rc == 0)
		rc = mdb_env_open(env, path, MDB_NOSYNC | MDB_NOSUBDIR, 0600);
	if (rc == 0)
		rc = mdb_txn_begin(env, NULL, 0, &txn);
	if (rc == 0)
		rc = mdb_dbi_open(txn, NULL, 0, &dbi);
	for (size_t i = 0; rc == 0 && i < lc->n; i++) {
		MDB_val k = {sizeof keys[i].b, keys[i].b}, v = {sizeof row, row};
		rc = mdb_put(txn, dbi, &k, &v, MDB_APPEND);
	}
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	if (rc) {
		fprintf(stderr, "partition_probe: history: %s\n", mdb_strerror(rc));
		exit(1);
	}
	mdb_env_close(env);
	double t2 = now_s();
	char lock[PATH_MAX];
	snprintf(lock, sizeof lock, "%s-lock", path);
	unlink(path);
	unlink(lock);
	free(keys);
	*sort_s = t1 - t0;
	*put_s = t2 - t1;
}

static void keep_least(double *best, double v)
{
	if (v < *best)
		*best = v;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"events", required_argument, NULL, 'e'},
					     {"bucket", required_argument, NULL, 'b'},
					     {"runs", required_argument, NULL, 'r'},
					     {0}};
	uint64_t events = 1000000;
	size_t bucket = 8192;
	int runs = 3, c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'e')
			events = strtoull(optarg, NULL, 10);
		else if (c == 'b')
			bucket = strtoull(optarg, NULL, 10);
		else if (c == 'r')
			runs = atoi(optarg);
		else
			return 2;
	}
	if (runs < 1 || runs > 99 || events < 1000 || bucket < 64)
		return 2;

	char dir[256], history_path[300];
	struct store *st = fixture_store(dir, sizeof dir, 0);
	bench_fill_log(st, events, "partition_probe");
	snprintf(history_path, sizeof history_path, "%s/history-probe.mdb", dir);
	struct log_copy lc = {.e = malloc(events * sizeof(struct entry)),
			      .bulk = malloc(events * sizeof(struct proj_bulk_entry))};
	if (!lc.e || !lc.bulk) {
		fprintf(stderr, "partition_probe: out of memory\n");
		return 1;
	}
	struct state in_order, by_key;
	struct partitioned pt = {.per_partition = bucket,
				 .pledges.item_size = sizeof(struct pledge_item),
				 .nets.item_size = sizeof(struct net_item),
				 .backers.item_size = sizeof(struct net_item),
				 .comments.item_size = sizeof(struct comment_item)};
	state_init(&in_order, sizeof(struct pledge_by_entry));
	state_init(&by_key, sizeof(struct pledge_by_key));
	double scan = 1e9, walk = 1e9, walk2 = 1e9, ordered = 1e9, parted = 1e9, sort = 1e9,
	       put = 1e9, bulk = 1e9;
	struct entry *spare = malloc(events * sizeof(struct entry));
	if (!spare) {
		fprintf(stderr, "partition_probe: out of memory\n");
		return 1;
	}
	double phases[4] = {0};
	for (int run = 0; run < runs; run++) {
		struct store_txn t;
		uint64_t sum = 0;
		double t0 = now_s();
		store_read_begin(st, &t);
		store_each(&t, STORE_DB_LOG, NULL, false, touch_entry, &sum);
		double t1 = now_s();
		lc.n = lc.refunds = 0;
		int rc = evlog_each(&t, 1, copy_entry, &lc, NULL);
		double t2 = now_s();
		store_abort(&t);
		if (rc) {
			fprintf(stderr, "partition_probe: the log does not decode (%d)\n", rc);
			return 1;
		}
		keep_least(&scan, t1 - t0);
		keep_least(&walk, t2 - t1);
		keep_least(&walk2, decode_halves(st, lc.n, spare));
		for (size_t i = 0; i < lc.n; i++)
			if (!same_entry(&spare[i], &lc.e[i])) {
				fprintf(stderr, "partition_probe: two threads decoded another log\n");
				return 1;
			}

		state_reset(&in_order);
		t0 = now_s();
		apply_in_log_order(&lc, &in_order);
		keep_least(&ordered, now_s() - t0);

		state_reset(&by_key);
		pt.refund_supporter = realloc(pt.refund_supporter, (lc.refunds + 1) * sizeof(struct fp));
		pt.refund_backer = realloc(pt.refund_backer, (lc.refunds + 1) * sizeof(struct fp));
		apply_partitioned(&lc, &by_key, &pt);
		double took = pt.took[0] + pt.took[1] + pt.took[2] + pt.took[3];
		if (took < parted) {
			parted = took;
			memcpy(phases, pt.took, sizeof phases);
		}
		if (in_order.refused || by_key.refused || in_order.digest != by_key.digest) {
			fprintf(stderr, "partition_probe: the model refused %llu in log order, %llu partitioned; digests %s\n",
				(unsigned long long)in_order.refused, (unsigned long long)by_key.refused,
				in_order.digest == by_key.digest ? "equal" : "differ");
			return 1;
		}
		struct proj_bulk b;
		t0 = now_s();
		rc = proj_bulk_apply(&b, lc.bulk, lc.n, bucket);
		keep_least(&bulk, now_s() - t0);
		if (rc) {
			fprintf(stderr, "partition_probe: the bulk rules stopped at entry %llu: %s\n",
				(unsigned long long)b.stopped_at, b.why ? b.why : pl_strerror(rc));
			return 1;
		}
		proj_bulk_free(&b);
		double s, p;
		put_history(&lc, history_path, &s, &p);
		keep_least(&sort, s);
		keep_least(&put, p);
	}
	double n = (double)lc.n, ns = 1e9 / n;
	printf("%zu log entries, partitions of at most about %zu items, best of %d runs, ns an entry:\n",
	       lc.n, bucket, runs);
	printf("  raw scan                %6.0f\n", scan * ns);
	printf("  walk and decode         %6.0f\n", walk * ns);
	printf("  the same, two threads   %6.0f (wall time)\n", walk2 * ns);
	printf("  state, log order        %6.0f\n", ordered * ns);
	printf("  state, partitioned      %6.0f (pledges: scatter %.0f, apply %.0f; nets and comments: scatter %.0f, apply %.0f)\n",
	       parted * ns, phases[0] * ns, phases[1] * ns, phases[2] * ns, phases[3] * ns);
	printf("  the bulk rules          %6.0f (proj_bulk_apply: every rule and pass, the history's rows and the state sorted)\n",
	       bulk * ns);
	printf("  history rows, put       %6.0f (MDB_APPEND, one transaction)\n", put * ns);
	printf("  history keys, qsort     %6.0f (all keys at once: an upper bound)\n", sort * ns);
	state_deinit(&in_order);
	state_deinit(&by_key);
	scatter_free(&pt.pledges);
	scatter_free(&pt.nets);
	scatter_free(&pt.backers);
	scatter_free(&pt.comments);
	free(pt.refund_supporter);
	free(pt.refund_backer);
	free(lc.e);
	free(lc.bulk);
	free(spare);
	fixture_close(st);
	fixture_remove(dir);
	return 0;
}
