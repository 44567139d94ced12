/*
 * proj_apply.c — the projection rules, one handler per event type.
 *
 * Each handler first loads what it needs and checks its rules, returning a
 * rejection before any change; only then does it change the state and
 * record what readers are to see. State is read and written through the
 * slot's state index (index.h); changes to published rows are recorded
 * (proj_publish.h) and written when the writer flushes.
 */
#include "proj.h"

#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "fp.h"
#include "pl_error.h"
#include "proj_history_runs.h"
#include "proj_publish.h"
#include "proj_staged.h"

/* Fingerprint kinds of the projections' ids (evlog.c uses 1 for event ids). */
enum {
	FP_CAMPAIGN = 2,
	FP_PLEDGE = 3,
	FP_SUPPORTER = 4,
	FP_COMMENT = 5,
	FP_BACKER = 6,
	FP_HIDDEN_BY_CUT = 7
};

void proj_kind_defs(enum store_slot slot, struct index_kind_def out[PROJ_KIND_COUNT])
{
	out[PROJ_K_CAMPAIGN] = (struct index_kind_def){
		"campaigns", store_slot_db(slot, SLOT_CAMPAIGN_STATE), PROJ_CAMPAIGN_STATE_SIZE};
	/* A new pledge's or comment's id is looked up to be refused if taken;
	 * only a refund or a removal finds one. */
	out[PROJ_K_PLEDGE] = (struct index_kind_def){"pledges", store_slot_db(slot, SLOT_PLEDGES),
						     PROJ_PLEDGE_SIZE, .mostly_missed = true};
	out[PROJ_K_SUPPORTER] = (struct index_kind_def){
		"supporters", store_slot_db(slot, SLOT_SUPPORTERS), 8};
	out[PROJ_K_COMMENT] = (struct index_kind_def){"comment ids",
						      store_slot_db(slot, SLOT_COMMENT_IDS),
						      PROJ_COMMENT_STATE_SIZE, .mostly_missed = true};
	out[PROJ_K_BACKER] = (struct index_kind_def){"backers", store_slot_db(slot, SLOT_BACKERS), 8};
}

void proj_campaign_fp(struct pl_str campaign, struct fp *out)
{
	fp_of(out, FP_CAMPAIGN, campaign.ptr, campaign.len);
}

/*
 * A campaign changed since the last flush, as the touched table keeps it:
 * its state, which the rules read and change here and the flush writes to
 * the index once (one write per campaign and batch, not one per event),
 * and its id, to publish its totals.
 */
struct touched {
	struct proj_campaign_state state;
	uint8_t len;
	char id[PL_MAX_ID_BYTES];
};

int proj_writer_init(struct proj_writer *w, enum store_slot slot, struct index *ix, int kind_base,
		     proj_event_at_fn event_at, proj_erased_comment_fn erased_comment,
		     void *log_arg)
{
	*w = (struct proj_writer){.slot = slot, .ix = ix, .kind_base = kind_base,
				  .event_at = event_at, .erased_comment = erased_comment,
				  .log_arg = log_arg, .move_rows = PROJ_STAGED_MOVE_ROWS,
				  .move_campaigns = PROJ_MOVE_CAMPAIGNS,
				  .run_min_rows = PROJ_RUN_MIN_ROWS, .runs_max = PROJ_RUNS_MAX,
				  .held_campaigns = PROJ_HELD_CAMPAIGNS};
	proj_staged_init(&w->staged);
	proj_mover_init(&w->mover);
	proj_changes_init(&w->changes);
	return memtable_init(&w->touched, sizeof(struct touched));
}

void proj_writer_deinit(struct proj_writer *w)
{
	memtable_deinit(&w->touched);
	if (w->hidden_by_cut.slots)
		memtable_deinit(&w->hidden_by_cut);
	free(w->publish_order);
	proj_staged_deinit(&w->staged);
	proj_mover_deinit(&w->mover);
	proj_changes_deinit(&w->changes);
}

void proj_writer_begin(struct proj_writer *w, struct store_txn *t, bool publish)
{
	w->t = t;
	w->publish = publish;
	memtable_clear(&w->touched);
	w->nplatform = 0;
	proj_changes_clear(&w->changes);
	w->staged_mark = proj_staged_mark(&w->staged);
}

void proj_writer_end(struct proj_writer *w, bool committed)
{
	if (!committed)
		proj_staged_undo(&w->staged, w->staged_mark);
}

/* Everything a handler needs, so helpers take one argument. */
struct apply_ctx {
	struct proj_writer *w;
	struct store_txn *t;
	const struct pl_event *ev;
	const struct proj_keys *keys;
	uint64_t seq;
	struct pl_rejection *rej;
	struct pl_str campaign;
	struct fp campaign_fp;
	struct proj_campaign_state state; /* loaded by load_campaign */
};

static int kind(const struct apply_ctx *c, enum proj_kind k)
{
	return c->w->kind_base + (int)k;
}

static struct pl_str field(const struct apply_ctx *c, enum pl_field f)
{
	return pl_event_str(c->ev, f);
}

/* Reads a state value; PL_ENOTFOUND is not an error of the transaction. */
static int state_get(struct apply_ctx *c, enum proj_kind k, const struct fp *f, uint8_t *value)
{
	int rc = index_get(c->w->ix, c->t, kind(c, k), f, value);
	if (rc && rc != PL_ENOTFOUND)
		store_txn_fail(c->t, rc);
	return rc;
}

static int state_put(struct apply_ctx *c, enum proj_kind k, const struct fp *f,
		     const uint8_t *value)
{
	int rc = index_put(c->w->ix, kind(c, k), f, value);
	return rc ? store_txn_fail(c->t, rc) : PL_OK;
}

/* Loads the campaign's state; a missing campaign is rejected. */
static int load_campaign(struct apply_ctx *c)
{
	const struct touched *held = memtable_get(&c->w->touched, &c->campaign_fp);
	if (held) {
		c->state = held->state;
		return PL_OK;
	}
	uint8_t v[PROJ_CAMPAIGN_STATE_SIZE];
	int rc = state_get(c, PROJ_K_CAMPAIGN, &c->campaign_fp, v);
	if (rc == PL_ENOTFOUND)
		return pl_reject(c->rej, PL_R_UNKNOWN_CAMPAIGN, "campaign '%s' was never opened",
				 pl_show(c->campaign).s);
	if (rc)
		return rc;
	proj_campaign_state_decode(v, &c->state);
	return PL_OK;
}

/*
 * The time the event counts from in the campaign's history: its own, but
 * never before the campaign opened nor before depends_on, the time of what
 * it changes (a refund's pledge, a removal's comment). A point-in-time
 * replay skips such an event until what it depends on is in, and the
 * history must agree with it.
 */
static int64_t effective_at(const struct apply_ctx *c, int64_t depends_on)
{
	int64_t at = pl_event_int(c->ev, PL_F_AT);
	if (at < c->state.totals.opened_at)
		at = c->state.totals.opened_at;
	return at > depends_on ? at : depends_on;
}

/*
 * Records the event's row of the campaign's history (when publishing):
 * staged (proj_staged.h), or for an erasure, which may meet a row of its
 * own, merged into the history table (proj_publish.c says why).
 */
static int add_history(struct apply_ctx *c, int64_t at, struct proj_history *h)
{
	if (!c->w->publish)
		return c->t->err;
	uint8_t key[PROJ_KEY_MAX], val[PROJ_HISTORY_MAX];
	size_t klen = proj_timed_key(key, c->campaign, at, c->seq);
	h->type = (uint8_t)c->ev->type;
	if (c->ev->type == PL_EV_SUPPORTER_FORGOTTEN)
		proj_change_history_merge(&c->w->changes, key, klen, h);
	else
		proj_change_history(&c->w->changes, c->seq, key, klen, val, proj_history_encode(val, h));
	return c->t->err;
}

/* Records the platform totals' changes held since the last flush. */
static void record_platform(struct proj_writer *w)
{
	for (size_t i = 0; i < w->nplatform; i++)
		proj_change_platform(&w->changes, w->platform[i].currency, &w->platform[i].d);
	w->nplatform = 0;
}

/* Adds d to the totals of the campaign's currency (when publishing). */
static int add_platform(struct apply_ctx *c, const struct proj_platform *d)
{
	struct proj_writer *w = c->w;
	if (!w->publish)
		return c->t->err;
	size_t i = 0;
	while (i < w->nplatform && memcmp(w->platform[i].currency, c->state.currency, 3) != 0)
		i++;
	if (i == PROJ_PLATFORM_PENDING) {
		record_platform(w);
		i = 0;
	}
	struct proj_platform_change *ch = &w->platform[i];
	if (i == w->nplatform) {
		*ch = (struct proj_platform_change){0};
		memcpy(ch->currency, c->state.currency, 3);
		w->nplatform++;
	}
	proj_platform_add(&ch->d, d);
	return c->t->err;
}

static int write_touched(struct proj_writer *w);

/* Keeps the campaign's changed state among the touched, for the flush to write and publish. */
static int save_campaign(struct apply_ctx *c)
{
	int64_t at = pl_event_int(c->ev, PL_F_AT);
	/* An erasure is no event of the campaign's own: its days stay as they were. */
	if (c->ev->type != PL_EV_SUPPORTER_FORGOTTEN && at > c->state.totals.last_at)
		c->state.totals.last_at = at;
	struct memtable *touched = &c->w->touched;
	struct touched *held = memtable_get(touched, &c->campaign_fp);
	if (held) {
		held->state = c->state;
		return c->t->err;
	}
	if (touched->count >= c->w->held_campaigns && write_touched(c->w))
		return c->t->err;
	struct touched t = {.state = c->state, .len = (uint8_t)c->campaign.len};
	memcpy(t.id, c->campaign.ptr, c->campaign.len);
	if (memtable_put(touched, &c->campaign_fp, &t))
		return store_txn_fail(c->t, PL_ENOMEM);
	return c->t->err;
}

static int reject_if_closed(struct apply_ctx *c)
{
	if (c->state.totals.closed_at != PROJ_NONE)
		return pl_reject(c->rej, PL_R_CAMPAIGN_CLOSED, "campaign '%s' is closed",
				 pl_show(c->campaign).s);
	return PL_OK;
}

static int apply_opened(struct apply_ctx *c)
{
	const struct pl_event *ev = c->ev;
	uint8_t v[PROJ_CAMPAIGN_STATE_SIZE];
	int rc = memtable_get(&c->w->touched, &c->campaign_fp)
			 ? 0
			 : state_get(c, PROJ_K_CAMPAIGN, &c->campaign_fp, v);
	if (rc == 0)
		return pl_reject(c->rej, PL_R_CAMPAIGN_EXISTS, "campaign '%s' is already open",
				 pl_show(c->campaign).s);
	if (rc != PL_ENOTFOUND)
		return rc;
	struct proj_info info = {
		.title = field(c, PL_F_TITLE),
		.owner = field(c, PL_F_OWNER),
		.currency = field(c, PL_F_CURRENCY),
		.location = field(c, PL_F_LOCATION),
		.has_location = pl_event_has(ev, PL_F_LOCATION),
		.target = pl_event_has(ev, PL_F_TARGET) ? pl_event_int(ev, PL_F_TARGET) : PROJ_NONE,
		.closes_at = pl_event_has(ev, PL_F_CLOSES_AT) ? pl_event_int(ev, PL_F_CLOSES_AT) : PROJ_NONE,
	};
	int64_t at = pl_event_int(ev, PL_F_AT);
	if (c->w->publish)
		proj_change_opened(&c->w->changes, c->campaign, &info, at);
	c->state = (struct proj_campaign_state){
		.totals = {.opened_at = at, .closed_at = PROJ_NONE, .last_at = at}};
	memcpy(c->state.currency, info.currency.ptr, 3);
	if (add_history(c, at, &(struct proj_history){0}) ||
	    add_platform(c, &(struct proj_platform){.open = 1}))
		return c->t->err;
	return save_campaign(c);
}

static int apply_closed(struct apply_ctx *c)
{
	int rc = load_campaign(c);
	if (rc || (rc = reject_if_closed(c)))
		return rc;
	/* Never before its opening (a gateway's clock behind), as the history
	 * counts it: the live figures and the as_of ones agree. */
	c->state.totals.closed_at = effective_at(c, 0);
	if (c->w->publish)
		proj_change_closed(&c->w->changes, c->campaign);
	if (add_history(c, effective_at(c, 0), &(struct proj_history){0}) ||
	    add_platform(c, &(struct proj_platform){.open = -1, .closed = 1}))
		return c->t->err;
	return save_campaign(c);
}

/*
 * Counts a supporter in or out of the campaign's currency across all
 * campaigns (change: +1 they now back this campaign, -1 no longer).
 * Returns the change in the number of distinct supporters of the currency.
 */
static int64_t count_backer(struct apply_ctx *c, const struct fp *backer, int64_t change)
{
	uint8_t v[8];
	if (!change)
		return 0;
	int rc = state_get(c, PROJ_K_BACKER, backer, v);
	if (rc && rc != PL_ENOTFOUND)
		return 0;
	int64_t before = rc == 0 ? (int64_t)bytes_get_le64(v) : 0;
	bytes_put_le64(v, (uint64_t)(before + change));
	state_put(c, PROJ_K_BACKER, backer, v);
	return (before + change > 0) - (before > 0);
}

/*
 * Adds delta to the net amount of a supporter (their fingerprints within
 * the campaign and within its currency), noting it in h (the history row),
 * and counts them in or out of the campaign and the platform.
 */
static void add_to_supporter(struct apply_ctx *c, const struct fp *supporter,
			     const struct fp *backer, int64_t delta, struct proj_history *h,
			     struct proj_platform *platform)
{
	uint8_t v[8];
	int rc = state_get(c, PROJ_K_SUPPORTER, supporter, v);
	if (rc && rc != PL_ENOTFOUND)
		return;
	int64_t before = rc == 0 ? (int64_t)bytes_get_le64(v) : 0;
	bytes_put_le64(v, (uint64_t)(before + delta));
	state_put(c, PROJ_K_SUPPORTER, supporter, v);
	int64_t change = (before + delta > 0) - (before > 0);
	c->state.totals.supporters += change;
	platform->supporters += count_backer(c, backer, change);
	h->net = delta;
	memcpy(h->supporter, supporter->b, sizeof h->supporter);
}

static int reject_unknown_pledge(struct apply_ctx *c)
{
	struct pl_str pledge = field(c, PL_F_PLEDGE);
	return pl_reject(c->rej, PL_R_UNKNOWN_PLEDGE, "no pledge '%s' in campaign '%s'",
			 pl_show(pledge).s, pl_show(c->campaign).s);
}

static int apply_pledge(struct apply_ctx *c)
{
	int rc = load_campaign(c);
	if (rc || (rc = reject_if_closed(c)))
		return rc;
	struct pl_str currency = field(c, PL_F_CURRENCY), pledge = field(c, PL_F_PLEDGE);
	if (memcmp(currency.ptr, c->state.currency, 3) != 0)
		return pl_reject(c->rej, PL_R_CURRENCY_MISMATCH,
				 "pledge '%s' in %.3s, campaign '%s' in %.3s", pl_show(pledge).s, currency.ptr, pl_show(c->campaign).s,
				 c->state.currency);
	const struct fp *f = &c->keys->pledge;
	uint8_t v[PROJ_PLEDGE_SIZE];
	rc = state_get(c, PROJ_K_PLEDGE, f, v);
	if (rc == 0)
		return pl_reject(c->rej, PL_R_DUPLICATE_PLEDGE, "pledge '%s' exists already",
				 pl_show(pledge).s);
	if (rc != PL_ENOTFOUND)
		return rc;
	int64_t amount = pl_event_int(c->ev, PL_F_AMOUNT);
	if (c->state.totals.raised > INT64_MAX - amount)
		return pl_reject(c->rej, PL_R_TOTAL_OVERFLOW, "campaign '%s' total would overflow",
				 pl_show(c->campaign).s);
	proj_pledge_encode(v, &(struct proj_pledge){.seq = c->seq});
	if (state_put(c, PROJ_K_PLEDGE, f, v))
		return c->t->err;
	c->state.totals.raised += amount;
	c->state.totals.pledges++;
	struct proj_history h = {.raised = amount, .pledges = 1};
	struct proj_platform platform = {.raised = amount, .pledges = 1};
	add_to_supporter(c, &c->keys->supporter, &c->keys->backer, amount, &h, &platform);
	if (add_history(c, effective_at(c, 0), &h) || add_platform(c, &platform))
		return c->t->err;
	return save_campaign(c);
}

/* Whether ev, read back from the log, is a pledge.created of campaign. */
static bool is_pledge_of(const struct pl_event *ev, struct pl_str campaign)
{
	struct pl_str of = pl_event_str(ev, PL_F_CAMPAIGN);
	return ev->type == PL_EV_PLEDGE_CREATED && of.len == campaign.len &&
	       memcmp(of.ptr, campaign.ptr, of.len) == 0;
}

static int apply_refund(struct apply_ctx *c)
{
	int rc = load_campaign(c);
	if (rc)
		return rc == PL_EREJECTED ? reject_unknown_pledge(c) : rc;
	struct pl_str pledge = field(c, PL_F_PLEDGE);
	const struct fp *f = &c->keys->pledge;
	uint8_t v[PROJ_PLEDGE_SIZE];
	struct proj_pledge rec;
	struct pl_event created;
	rc = state_get(c, PROJ_K_PLEDGE, f, v);
	if (rc == PL_ENOTFOUND)
		return reject_unknown_pledge(c);
	if (rc)
		return rc;
	proj_pledge_decode(v, &rec);
	if ((rc = c->w->event_at(c->w->log_arg, rec.seq, &created)))
		return store_txn_fail(c->t, rc);
	if (!is_pledge_of(&created, c->campaign))
		return reject_unknown_pledge(c);
	int64_t amount = pl_event_int(c->ev, PL_F_AMOUNT);
	int64_t left = pl_event_int(&created, PL_F_AMOUNT) - rec.refunded;
	if (amount > left)
		return pl_reject(c->rej, PL_R_REFUND_EXCEEDS_PLEDGE,
				 "refund of %lld exceeds the %lld left of pledge '%s'",
				 (long long)amount, (long long)left, pl_show(pledge).s);
	rec.refunded += amount;
	proj_pledge_encode(v, &rec);
	if (state_put(c, PROJ_K_PLEDGE, f, v))
		return c->t->err;
	c->state.totals.raised -= amount;
	struct proj_history h = {.raised = -amount};
	struct proj_platform platform = {.raised = -amount};
	/* The supporter is the pledge's: their keys come from it. */
	struct proj_keys of_pledge;
	proj_keys_of(&created, &of_pledge);
	add_to_supporter(c, &of_pledge.supporter, &of_pledge.backer, -amount, &h, &platform);
	if (add_history(c, effective_at(c, pl_event_int(&created, PL_F_AT)), &h) ||
	    add_platform(c, &platform))
		return c->t->err;
	return save_campaign(c);
}

static int apply_comment(struct apply_ctx *c)
{
	int rc = load_campaign(c);
	if (rc)
		return rc;
	struct pl_str supporter = field(c, PL_F_SUPPORTER), id = field(c, PL_F_COMMENT);
	const struct fp *cf = &c->keys->comment;
	uint8_t net[8], v[PROJ_COMMENT_STATE_SIZE];
	rc = state_get(c, PROJ_K_SUPPORTER, &c->keys->supporter, net);
	if (rc && rc != PL_ENOTFOUND)
		return rc;
	if (rc == PL_ENOTFOUND || (int64_t)bytes_get_le64(net) <= 0)
		return pl_reject(c->rej, PL_R_NOT_A_BACKER,
				 "supporter '%s' has no pledge standing in campaign '%s'",
				 pl_show(supporter).s, pl_show(c->campaign).s);
	rc = state_get(c, PROJ_K_COMMENT, cf, v);
	if (rc == 0)
		return pl_reject(c->rej, PL_R_DUPLICATE_COMMENT, "comment '%s' exists already",
				 pl_show(id).s);
	if (rc != PL_ENOTFOUND)
		return rc;
	proj_comment_state_encode(v, &(struct proj_comment_state){.seq = c->seq});
	if (state_put(c, PROJ_K_COMMENT, cf, v))
		return c->t->err;
	if (c->w->publish) {
		struct proj_comment com = {.id = id,
					   .name = field(c, PL_F_NAME),
					   .has_name = pl_event_has(c->ev, PL_F_NAME),
					   .text = field(c, PL_F_TEXT)};
		uint8_t key[PROJ_KEY_MAX];
		size_t klen = proj_timed_key(key, c->campaign, pl_event_int(c->ev, PL_F_AT), c->seq);
		proj_change_comment(&c->w->changes, c->seq, key, klen, &com);
	}
	c->state.totals.comments++;
	if (add_history(c, effective_at(c, 0), &(struct proj_history){.comments = 1}))
		return c->t->err;
	return save_campaign(c);
}

/* Hides comment cf (posted, in c's campaign): its row goes, its id stays taken. */
static int hide_comment(struct apply_ctx *c, const struct pl_event *posted, const struct fp *cf,
			struct proj_comment_state *rec)
{
	int rc = load_campaign(c);
	if (rc)
		return rc;
	if (c->w->publish) {
		uint8_t key[PROJ_KEY_MAX];
		size_t klen = proj_timed_key(key, c->campaign, pl_event_int(posted, PL_F_AT), rec->seq);
		proj_change_comment_del(&c->w->changes, key, klen);
	}
	uint8_t v[PROJ_COMMENT_STATE_SIZE];
	rec->removed = true;
	proj_comment_state_encode(v, rec);
	if (state_put(c, PROJ_K_COMMENT, cf, v))
		return c->t->err;
	c->state.totals.comments--;
	struct proj_history h = {.comments = -1, .ref = rec->seq};
	if (add_history(c, effective_at(c, pl_event_int(posted, PL_F_AT)), &h))
		return c->t->err;
	return save_campaign(c);
}

static int apply_comment_removed(struct apply_ctx *c)
{
	struct pl_str id = field(c, PL_F_COMMENT);
	const struct fp *cf = &c->keys->comment;
	uint8_t v[PROJ_COMMENT_STATE_SIZE];
	struct proj_comment_state rec;
	struct pl_event posted;
	int rc = state_get(c, PROJ_K_COMMENT, cf, v);
	if (rc && rc != PL_ENOTFOUND)
		return rc;
	if (rc == 0) {
		proj_comment_state_decode(v, &rec);
		if ((rc = c->w->event_at(c->w->log_arg, rec.seq, &posted)))
			return store_txn_fail(c->t, rc);
	}
	struct pl_str of = rc == 0 ? pl_event_str(&posted, PL_F_CAMPAIGN) : (struct pl_str){"", 0};
	if (rc == PL_ENOTFOUND || posted.type != PL_EV_COMMENT_POSTED || of.len != c->campaign.len ||
	    memcmp(of.ptr, c->campaign.ptr, of.len))
		return pl_reject(c->rej, PL_R_UNKNOWN_COMMENT, "no comment '%s' in campaign '%s'",
				 pl_show(id).s, pl_show(c->campaign).s);
	if (rec.removed)
		return pl_reject(c->rej, PL_R_UNKNOWN_COMMENT, "comment '%s' was already removed",
				 pl_show(id).s);
	return hide_comment(c, &posted, cf, &rec);
}

static void comment_seq_fp(uint64_t seq, struct fp *out)
{
	uint8_t b[8];
	bytes_put_le64(b, seq);
	fp_of(out, FP_HIDDEN_BY_CUT, b, sizeof b);
}

static int note_hidden_by_cut(struct apply_ctx *c, uint64_t comment_seq)
{
	struct proj_writer *w = c->w;
	static const uint8_t no_value[1];
	struct fp f;
	comment_seq_fp(comment_seq, &f);
	if (!w->hidden_by_cut.slots && memtable_init(&w->hidden_by_cut, 0))
		return store_txn_fail(c->t, PL_ENOMEM);
	return memtable_put(&w->hidden_by_cut, &f, no_value) ? store_txn_fail(c->t, PL_ENOMEM)
								 : PL_OK;
}

static bool hidden_by_cut(const struct proj_writer *w, uint64_t comment_seq)
{
	struct fp f;
	comment_seq_fp(comment_seq, &f);
	return w->hidden_by_cut.slots && memtable_get(&w->hidden_by_cut, &f);
}

int proj_left_out(struct proj_writer *w, const struct pl_event *ev, const struct proj_keys *k,
		  uint64_t seq)
{
	struct apply_ctx c = {w, w->t, ev, k, seq, NULL, pl_event_str(ev, PL_F_CAMPAIGN),
			      k->campaign};
	if (ev->type == PL_EV_COMMENT_REMOVED) {
		/* Its comment, if the cut kept it: it was there to remove in the log. */
		uint8_t v[PROJ_COMMENT_STATE_SIZE];
		struct proj_comment_state rec;
		int rc = state_get(&c, PROJ_K_COMMENT, &k->comment, v);
		if (rc)
			return rc == PL_ENOTFOUND ? c.t->err : rc;
		proj_comment_state_decode(v, &rec);
		return note_hidden_by_cut(&c, rec.seq);
	}
	if (ev->type != PL_EV_SUPPORTER_FORGOTTEN)
		return w->t->err;
	uint64_t comment_seq;
	int rc;
	for (size_t i = 0; (rc = w->erased_comment(w->log_arg, seq, i, &comment_seq)) == 0; i++)
		if ((rc = note_hidden_by_cut(&c, comment_seq)))
			return rc;
	return rc == PL_ENOTFOUND ? c.t->err : store_txn_fail(c.t, rc);
}

/* The supporter's comments, as the erasure's record lists them, show as removed. */
static int apply_forgotten(struct apply_ctx *c)
{
	uint64_t seq;
	int rc;
	for (size_t i = 0; (rc = c->w->erased_comment(c->w->log_arg, c->seq, i, &seq)) == 0; i++) {
		struct pl_event posted;
		struct proj_comment_state rec;
		struct fp cf;
		uint8_t v[PROJ_COMMENT_STATE_SIZE];
		if ((rc = c->w->event_at(c->w->log_arg, seq, &posted)))
			return store_txn_fail(c->t, rc);
		if (posted.type != PL_EV_COMMENT_POSTED)
			return store_txn_fail(c->t, PL_ECORRUPT);
		struct pl_str id = pl_event_str(&posted, PL_F_COMMENT);
		fp_of(&cf, FP_COMMENT, id.ptr, id.len);
		if ((rc = state_get(c, PROJ_K_COMMENT, &cf, v))) {
			if (rc == PL_ENOTFOUND && c->w->time_cut)
				continue; /* left out by the cut, or as needing what it left out */
			return rc == PL_ENOTFOUND ? store_txn_fail(c->t, PL_ECORRUPT) : rc;
		}
		proj_comment_state_decode(v, &rec);
		if (rec.removed || rec.seq != seq)
			continue; /* removed already, or the id is another comment's */
		if (c->w->time_cut && hidden_by_cut(c->w, seq))
			continue; /* removed before this in the log, at a time the cut left out */
		c->campaign = pl_event_str(&posted, PL_F_CAMPAIGN);
		proj_campaign_fp(c->campaign, &c->campaign_fp);
		if ((rc = hide_comment(c, &posted, &cf, &rec)))
			return rc == PL_EREJECTED ? store_txn_fail(c->t, PL_ECORRUPT) : rc;
	}
	return rc == PL_ENOTFOUND ? c->t->err : store_txn_fail(c->t, rc);
}

void proj_keys_of(const struct pl_event *ev, struct proj_keys *k)
{
	struct pl_str campaign = pl_event_str(ev, PL_F_CAMPAIGN);
	proj_campaign_fp(campaign, &k->campaign);
	if (pl_event_has(ev, PL_F_PLEDGE)) {
		struct pl_str pledge = pl_event_str(ev, PL_F_PLEDGE);
		fp_of(&k->pledge, FP_PLEDGE, pledge.ptr, pledge.len);
	}
	if (pl_event_has(ev, PL_F_SUPPORTER)) {
		struct pl_str supporter = pl_event_str(ev, PL_F_SUPPORTER);
		fp_of_pair(&k->supporter, FP_SUPPORTER, campaign.ptr, campaign.len, supporter.ptr,
			   supporter.len);
		/* A pledge's currency is its campaign's, or the pledge is refused. */
		if (pl_event_has(ev, PL_F_CURRENCY)) {
			struct pl_str currency = pl_event_str(ev, PL_F_CURRENCY);
			fp_of_pair(&k->backer, FP_BACKER, currency.ptr, currency.len, supporter.ptr,
				   supporter.len);
		}
	}
	if (pl_event_has(ev, PL_F_COMMENT)) {
		struct pl_str comment = pl_event_str(ev, PL_F_COMMENT);
		fp_of(&k->comment, FP_COMMENT, comment.ptr, comment.len);
	}
}

void proj_prefetch(const struct proj_writer *w, const struct pl_event *ev,
		   const struct proj_keys *k)
{
	index_prefetch(w->ix, w->kind_base + PROJ_K_CAMPAIGN, &k->campaign);
	if (pl_event_has(ev, PL_F_PLEDGE))
		index_prefetch(w->ix, w->kind_base + PROJ_K_PLEDGE, &k->pledge);
	if (pl_event_has(ev, PL_F_SUPPORTER))
		index_prefetch(w->ix, w->kind_base + PROJ_K_SUPPORTER, &k->supporter);
	if (pl_event_has(ev, PL_F_SUPPORTER) && pl_event_has(ev, PL_F_CURRENCY))
		index_prefetch(w->ix, w->kind_base + PROJ_K_BACKER, &k->backer);
	if (pl_event_has(ev, PL_F_COMMENT))
		index_prefetch(w->ix, w->kind_base + PROJ_K_COMMENT, &k->comment);
}

int proj_apply(struct proj_writer *w, const struct pl_event *ev, const struct proj_keys *k,
	       uint64_t seq, struct pl_rejection *rej)
{
	struct apply_ctx c = {w, w->t, ev, k, seq, rej, pl_event_str(ev, PL_F_CAMPAIGN),
			      k->campaign};
	if (w->t->err)
		return w->t->err;
	switch (ev->type) {
	case PL_EV_CAMPAIGN_OPENED: return apply_opened(&c);
	case PL_EV_CAMPAIGN_CLOSED: return apply_closed(&c);
	case PL_EV_PLEDGE_CREATED: return apply_pledge(&c);
	case PL_EV_PLEDGE_REFUNDED: return apply_refund(&c);
	case PL_EV_COMMENT_POSTED: return apply_comment(&c);
	case PL_EV_COMMENT_REMOVED: return apply_comment_removed(&c);
	case PL_EV_SUPPORTER_FORGOTTEN: return apply_forgotten(&c);
	case PL_EVENT_TYPE_COUNT: break;
	}
	return PL_EINVAL;
}

/* Orders held campaigns as LMDB orders their keys in the published tables. */
static int by_campaign_id(const void *a, const void *b)
{
	const struct touched *x = (const struct touched *)(*(const uint8_t *const *)a + FP_SIZE);
	const struct touched *y = (const struct touched *)(*(const uint8_t *const *)b + FP_SIZE);
	return proj_key_cmp(x->id, x->len, y->id, y->len);
}

/*
 * Writes the touched campaigns' states to the index, publishing their
 * totals in key order: each put then finds the pages of the one before it
 * still dirty and in cache, where the table's hash order would send every
 * put down a cold path of its own.
 */
static int write_touched(struct proj_writer *w)
{
	const struct memtable *m = &w->touched;
	if (m->count > w->publish_order_cap) {
		const uint8_t **grown = realloc(w->publish_order, m->count * sizeof *grown);
		if (!grown)
			return store_txn_fail(w->t, PL_ENOMEM);
		w->publish_order = grown;
		w->publish_order_cap = m->count;
	}
	const uint8_t **order = w->publish_order;
	size_t n = 0;
	/* memtable_next, not the home slots alone: the last homes' entries run on into the tail. */
	for (const uint8_t *s = memtable_next(m, NULL); s && !w->t->err; s = memtable_next(m, s)) {
		const struct touched *held = (const struct touched *)(s + FP_SIZE);
		uint8_t v[PROJ_CAMPAIGN_STATE_SIZE];
		proj_campaign_state_encode(v, &held->state);
		int rc = index_put(w->ix, w->kind_base + PROJ_K_CAMPAIGN, (const struct fp *)s, v);
		if (rc)
			return store_txn_fail(w->t, rc);
		order[n++] = s;
	}
	if (w->publish && n) {
		qsort(order, n, sizeof *order, by_campaign_id);
		for (size_t i = 0; i < n && !w->t->err; i++) {
			const struct touched *held = (const struct touched *)(order[i] + FP_SIZE);
			proj_change_totals(&w->changes, (struct pl_str){held->id, held->len},
					   &held->state.totals);
		}
	}
	memtable_clear(&w->touched);
	return w->t->err;
}

int proj_writer_flush(struct proj_writer *w)
{
	write_touched(w);
	record_platform(w);
	return w->t->err;
}

int proj_writer_publish(struct proj_writer *w, struct store_txn *t)
{
	/* Run again, t starts over: so do the rows held for the next move. */
	proj_staged_undo(&w->staged, w->staged_mark);
	proj_publish(&w->changes, t, w->slot, &w->staged);
	bool due = false;
	/* Once due, the move stays due until it ends: no need to look again. */
	if (w->publish && !w->move_due && !t->err &&
	    proj_move_due(t, w->slot, w->move_rows, &due) == 0 && due)
		w->move_due = true;
	return t->err;
}

int proj_writer_move(struct proj_writer *w, struct store_txn *t, bool *more)
{
	struct proj_move_options o = {w->move_rows, w->move_campaigns ? w->move_campaigns : 1,
				      w->run_min_rows, w->runs_max};
	return proj_staged_move(t, w->slot, &o, &w->staged, &w->mover, &w->staged_read_back, more);
}

void proj_writer_moved(struct proj_writer *w)
{
	w->move_due = false;
	proj_mover_deinit(&w->mover); /* its rows are in the history now */
	proj_mover_init(&w->mover);
}
