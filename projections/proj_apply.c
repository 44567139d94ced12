/*
 * proj_apply.c — the projection rules, one handler per event type.
 *
 * Each handler first loads what it needs and checks its rules, returning a
 * rejection before any write; only then does it change the tables. Where a
 * rule is "this id must be new", the write itself is the check
 * (store_reserve_new), so it is made last among the checks.
 */
#include "proj.h"

#include <string.h>

#include "bytes.h"
#include "pl_error.h"

/* Flush and forget the cache when it is this full, to keep probing short. */
#define CACHE_HIGH_WATER (PROJ_CACHE_SLOTS * 3 / 4)

enum store_db proj_db(enum proj_set set, enum proj_table table)
{
	_Static_assert(STORE_DB_SCRATCH_CAMPAIGNS - STORE_DB_CAMPAIGNS == PROJ_TABLE_COUNT &&
			       STORE_DB_COMMENT_IDS - STORE_DB_CAMPAIGNS == PROJ_T_COMMENT_IDS,
		       "store.h must list the projection tables in proj_table order, twice");
	return (enum store_db)(STORE_DB_CAMPAIGNS + (int)set * PROJ_TABLE_COUNT + (int)table);
}

void proj_writer_init(struct proj_writer *w, struct store_txn *t, enum proj_set set)
{
	w->t = t;
	w->set = set;
	w->used = 0;
	for (size_t i = 0; i < PROJ_CACHE_SLOTS; i++)
		w->slots[i].used = false;
}

int proj_writer_flush(struct proj_writer *w)
{
	for (size_t i = 0; i < PROJ_CACHE_SLOTS; i++) {
		struct proj_cached_campaign *s = &w->slots[i];
		if (!s->used || !s->dirty)
			continue;
		uint8_t buf[PROJ_TOTALS_SIZE];
		proj_totals_encode(buf, &s->totals);
		store_put(w->t, proj_db(w->set, PROJ_T_TOTALS), s->id, s->id_len, buf, sizeof buf, 0);
		s->dirty = false;
	}
	return w->t->err;
}

static size_t cache_hash(struct pl_str id)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (uint32_t i = 0; i < id.len; i++)
		h = (h ^ (uint8_t)id.ptr[i]) * 16777619u;
	return h % PROJ_CACHE_SLOTS;
}

/* The cached campaign, or NULL; *free_slot is where it would go. */
static struct proj_cached_campaign *cache_find(struct proj_writer *w, struct pl_str id,
						 size_t *free_slot)
{
	for (size_t i = cache_hash(id);; i = (i + 1) % PROJ_CACHE_SLOTS) {
		struct proj_cached_campaign *s = &w->slots[i];
		if (!s->used) {
			*free_slot = i;
			return NULL;
		}
		if (s->id_len == id.len && memcmp(s->id, id.ptr, id.len) == 0)
			return s;
	}
}

static struct proj_cached_campaign *cache_insert(struct proj_writer *w, struct pl_str id)
{
	size_t slot = 0; /* set by cache_find: callers insert only what it did not find */
	if (w->used >= CACHE_HIGH_WATER) {
		proj_writer_flush(w);
		proj_writer_init(w, w->t, w->set);
	}
	cache_find(w, id, &slot);
	struct proj_cached_campaign *s = &w->slots[slot];
	memcpy(s->id, id.ptr, id.len);
	s->id_len = (uint8_t)id.len;
	s->used = true;
	s->dirty = false;
	w->used++;
	return s;
}

/* Everything a handler needs, so helpers take one argument. */
struct apply_ctx {
	struct proj_writer *w;
	struct store_txn *t;
	const struct pl_event *ev;
	uint64_t seq;
	struct pl_rejection *rej;
	struct pl_str campaign;
};

static enum store_db db(const struct apply_ctx *c, enum proj_table table)
{
	return proj_db(c->w->set, table);
}

static struct pl_str field(const struct apply_ctx *c, enum pl_field f)
{
	return pl_event_str(c->ev, f);
}

/* Finds the campaign (cache first, then the store); a missing one is rejected. */
static int load_campaign(struct apply_ctx *c, struct proj_cached_campaign **out)
{
	size_t slot;
	if ((*out = cache_find(c->w, c->campaign, &slot)))
		return PL_OK;
	MDB_val tv, iv;
	struct proj_totals tot;
	struct proj_info info;
	int rc = store_get(c->t, db(c, PROJ_T_TOTALS), c->campaign.ptr, c->campaign.len, &tv);
	if (rc == PL_ENOTFOUND)
		return pl_reject(c->rej, PL_R_UNKNOWN_CAMPAIGN, "campaign '%.*s' was never opened",
				 (int)c->campaign.len, c->campaign.ptr);
	if (rc || (rc = store_get(c->t, db(c, PROJ_T_CAMPAIGNS), c->campaign.ptr, c->campaign.len, &iv)))
		return store_txn_fail(c->t, rc == PL_ENOTFOUND ? PL_ECORRUPT : rc);
	if (proj_totals_decode(tv.mv_data, tv.mv_size, &tot) ||
	    proj_info_decode(iv.mv_data, iv.mv_size, &info) || info.currency.len != 3)
		return store_txn_fail(c->t, PL_ECORRUPT);
	/* LMDB's pointers last only until the next write, and inserting may
	 * flush the cache: copy what is needed first. */
	char currency[3];
	memcpy(currency, info.currency.ptr, 3);
	struct proj_cached_campaign *s = cache_insert(c->w, c->campaign);
	memcpy(s->currency, currency, 3);
	s->totals = tot;
	*out = s;
	return PL_OK;
}

/* Marks the campaign changed by this event. */
static void touch(struct apply_ctx *c, struct proj_cached_campaign *s)
{
	int64_t at = pl_event_int(c->ev, PL_F_AT);
	if (at > s->totals.last_at)
		s->totals.last_at = at;
	s->dirty = true;
}

static int reject_if_closed(struct apply_ctx *c, const struct proj_cached_campaign *s)
{
	if (s->totals.closed_at != PROJ_NONE)
		return pl_reject(c->rej, PL_R_CAMPAIGN_CLOSED, "campaign '%.*s' is closed",
				 (int)c->campaign.len, c->campaign.ptr);
	return PL_OK;
}

static int apply_opened(struct apply_ctx *c)
{
	const struct pl_event *ev = c->ev;
	struct proj_info info = {
		.title = field(c, PL_F_TITLE),
		.owner = field(c, PL_F_OWNER),
		.currency = field(c, PL_F_CURRENCY),
		.location = field(c, PL_F_LOCATION),
		.has_location = pl_event_has(ev, PL_F_LOCATION),
		.target = pl_event_has(ev, PL_F_TARGET) ? pl_event_int(ev, PL_F_TARGET) : PROJ_NONE,
		.closes_at = pl_event_has(ev, PL_F_CLOSES_AT) ? pl_event_int(ev, PL_F_CLOSES_AT) : PROJ_NONE,
	};
	size_t slot;
	bool exists = cache_find(c->w, c->campaign, &slot) != NULL;
	uint8_t *p = exists ? NULL
			    : store_reserve_new(c->t, db(c, PROJ_T_CAMPAIGNS), c->campaign.ptr,
						c->campaign.len, proj_info_encode(NULL, &info), &exists);
	if (exists)
		return pl_reject(c->rej, PL_R_CAMPAIGN_EXISTS, "campaign '%.*s' is already open",
				 (int)c->campaign.len, c->campaign.ptr);
	if (!p)
		return c->t->err;
	proj_info_encode(p, &info);
	struct proj_cached_campaign *s = cache_insert(c->w, c->campaign);
	memcpy(s->currency, info.currency.ptr, 3);
	s->totals = (struct proj_totals){
		.opened_at = pl_event_int(ev, PL_F_AT),
		.closed_at = PROJ_NONE,
		.last_at = pl_event_int(ev, PL_F_AT),
	};
	touch(c, s);
	return c->t->err;
}

static int apply_closed(struct apply_ctx *c)
{
	struct proj_cached_campaign *s;
	int rc = load_campaign(c, &s);
	if (rc || (rc = reject_if_closed(c, s)))
		return rc;
	s->totals.closed_at = pl_event_int(c->ev, PL_F_AT);
	touch(c, s);
	return c->t->err;
}

/* Adds delta to a supporter's net amount; returns the change in the
 * campaign's supporter count (-1, 0 or +1). */
static int64_t add_to_supporter(struct apply_ctx *c, struct pl_str supporter, int64_t delta)
{
	uint8_t key[PROJ_KEY_MAX];
	size_t klen = proj_supporter_key(key, c->campaign, supporter);
	int64_t before;
	if (store_add_i64(c->t, db(c, PROJ_T_SUPPORTERS), key, klen, delta, &before))
		return 0;
	return (before + delta > 0) - (before > 0);
}

static int reject_unknown_pledge(struct apply_ctx *c)
{
	struct pl_str pledge = field(c, PL_F_PLEDGE);
	return pl_reject(c->rej, PL_R_UNKNOWN_PLEDGE, "no pledge '%.*s' in campaign '%.*s'",
			 (int)pledge.len, pledge.ptr, (int)c->campaign.len, c->campaign.ptr);
}

static int apply_pledge(struct apply_ctx *c)
{
	struct proj_cached_campaign *s;
	int rc = load_campaign(c, &s);
	if (rc || (rc = reject_if_closed(c, s)))
		return rc;
	struct pl_str currency = field(c, PL_F_CURRENCY);
	if (memcmp(currency.ptr, s->currency, 3) != 0)
		return pl_reject(c->rej, PL_R_CURRENCY_MISMATCH, "pledge in %.3s, campaign in %.3s",
				 currency.ptr, s->currency);
	int64_t amount = pl_event_int(c->ev, PL_F_AMOUNT);
	if (s->totals.raised > INT64_MAX - amount)
		return pl_reject(c->rej, PL_R_TOTAL_OVERFLOW, "campaign total would overflow");

	struct pl_str pledge = field(c, PL_F_PLEDGE);
	struct proj_pledge rec = {.amount = amount,
				  .campaign = c->campaign,
				  .supporter = field(c, PL_F_SUPPORTER)};
	bool exists;
	uint8_t *p = store_reserve_new(c->t, db(c, PROJ_T_PLEDGES), pledge.ptr, pledge.len,
				       proj_pledge_encode(NULL, &rec), &exists);
	if (exists)
		return pl_reject(c->rej, PL_R_DUPLICATE_PLEDGE, "pledge '%.*s' exists already",
				 (int)pledge.len, pledge.ptr);
	if (!p)
		return c->t->err;
	proj_pledge_encode(p, &rec);
	s->totals.raised += amount;
	s->totals.pledges++;
	s->totals.supporters += add_to_supporter(c, rec.supporter, amount);
	touch(c, s);
	return c->t->err;
}

static int apply_refund(struct apply_ctx *c)
{
	struct proj_cached_campaign *s;
	struct proj_pledge rec;
	MDB_val v;
	/* The campaign first: loading it may write (a cache flush), which would
	 * invalidate the pledge record's pointers into LMDB's pages. */
	int rc = load_campaign(c, &s);
	if (rc)
		return rc == PL_EREJECTED ? reject_unknown_pledge(c) : rc;
	struct pl_str pledge = field(c, PL_F_PLEDGE);
	rc = store_get(c->t, db(c, PROJ_T_PLEDGES), pledge.ptr, pledge.len, &v);
	if (rc && rc != PL_ENOTFOUND)
		return rc;
	if (rc == 0 && (proj_pledge_decode(v.mv_data, v.mv_size, &rec) ||
			rec.supporter.len > PL_MAX_ID_BYTES))
		return store_txn_fail(c->t, PL_ECORRUPT);
	if (rc == PL_ENOTFOUND || rec.campaign.len != c->campaign.len ||
	    memcmp(rec.campaign.ptr, c->campaign.ptr, c->campaign.len))
		return reject_unknown_pledge(c);
	int64_t amount = pl_event_int(c->ev, PL_F_AMOUNT);
	if (amount > rec.amount - rec.refunded)
		return pl_reject(c->rej, PL_R_REFUND_EXCEEDS_PLEDGE,
				 "refund of %lld exceeds the %lld left of pledge '%.*s'",
				 (long long)amount, (long long)(rec.amount - rec.refunded),
				 (int)pledge.len, pledge.ptr);

	/* rec borrows the page we are about to overwrite: copy the supporter out. */
	char supporter_buf[PL_MAX_ID_BYTES];
	struct pl_str supporter = {supporter_buf, rec.supporter.len};
	memcpy(supporter_buf, rec.supporter.ptr, rec.supporter.len);
	rec.campaign = c->campaign;
	rec.supporter = supporter;
	rec.refunded += amount;
	uint8_t buf[16 + 2 + PL_MAX_ID_BYTES + 2 + PL_MAX_ID_BYTES];
	store_put(c->t, db(c, PROJ_T_PLEDGES), pledge.ptr, pledge.len, buf,
		  proj_pledge_encode(buf, &rec), 0);
	s->totals.raised -= amount;
	s->totals.supporters += add_to_supporter(c, supporter, -amount);
	touch(c, s);
	return c->t->err;
}

static int apply_comment(struct apply_ctx *c)
{
	struct proj_cached_campaign *s;
	MDB_val v;
	int rc = load_campaign(c, &s);
	if (rc)
		return rc;
	struct pl_str supporter = field(c, PL_F_SUPPORTER);
	uint8_t skey[PROJ_KEY_MAX];
	size_t sklen = proj_supporter_key(skey, c->campaign, supporter);
	rc = store_get(c->t, db(c, PROJ_T_SUPPORTERS), skey, sklen, &v);
	if (rc && rc != PL_ENOTFOUND)
		return rc;
	if (rc == PL_ENOTFOUND || v.mv_size != 8 || (int64_t)bytes_get_le64(v.mv_data) <= 0)
		return pl_reject(c->rej, PL_R_NOT_A_BACKER,
				 "supporter '%.*s' has no pledge standing in campaign '%.*s'",
				 (int)supporter.len, supporter.ptr, (int)c->campaign.len,
				 c->campaign.ptr);

	/* COMMENT_IDS holds a removed flag, then the comment's COMMENTS key. */
	struct pl_str id = field(c, PL_F_COMMENT);
	uint8_t ckey[1 + PROJ_KEY_MAX];
	size_t cklen = proj_comment_key(ckey + 1, c->campaign, pl_event_int(c->ev, PL_F_AT), c->seq);
	bool exists;
	uint8_t *entry = store_reserve_new(c->t, db(c, PROJ_T_COMMENT_IDS), id.ptr, id.len, 1 + cklen,
					   &exists);
	if (exists)
		return pl_reject(c->rej, PL_R_DUPLICATE_COMMENT, "comment '%.*s' exists already",
				 (int)id.len, id.ptr);
	if (!entry)
		return c->t->err;
	ckey[0] = 0; /* not removed */
	memcpy(entry, ckey, 1 + cklen);

	struct proj_comment com = {.id = id,
				   .name = field(c, PL_F_NAME),
				   .has_name = pl_event_has(c->ev, PL_F_NAME),
				   .text = field(c, PL_F_TEXT)};
	uint8_t *p = store_reserve(c->t, db(c, PROJ_T_COMMENTS), ckey + 1, cklen,
				   proj_comment_encode(NULL, &com), 0);
	if (p)
		proj_comment_encode(p, &com);
	s->totals.comments++;
	touch(c, s);
	return c->t->err;
}

static int apply_comment_removed(struct apply_ctx *c)
{
	struct proj_cached_campaign *s;
	MDB_val v;
	struct pl_str id = field(c, PL_F_COMMENT);
	int rc = store_get(c->t, db(c, PROJ_T_COMMENT_IDS), id.ptr, id.len, &v);
	if (rc && rc != PL_ENOTFOUND)
		return rc;
	int64_t at;
	uint64_t seq;
	const uint8_t *entry = v.mv_data;
	if (rc == PL_ENOTFOUND || v.mv_size < 1 ||
	    proj_comment_key_parse(entry + 1, v.mv_size - 1, c->campaign, &at, &seq))
		return pl_reject(c->rej, PL_R_UNKNOWN_COMMENT, "no comment '%.*s' in campaign '%.*s'",
				 (int)id.len, id.ptr, (int)c->campaign.len, c->campaign.ptr);
	if (entry[0])
		return pl_reject(c->rej, PL_R_UNKNOWN_COMMENT, "comment '%.*s' was already removed",
				 (int)id.len, id.ptr);
	if ((rc = load_campaign(c, &s)))
		return rc;
	uint8_t ckey[1 + PROJ_KEY_MAX];
	size_t cklen = proj_comment_key(ckey + 1, c->campaign, at, seq);
	store_del(c->t, db(c, PROJ_T_COMMENTS), ckey + 1, cklen);
	ckey[0] = 1; /* removed: the id stays taken */
	store_put(c->t, db(c, PROJ_T_COMMENT_IDS), id.ptr, id.len, ckey, 1 + cklen, 0);
	s->totals.comments--;
	touch(c, s);
	return c->t->err;
}

int proj_apply(struct proj_writer *w, const struct pl_event *ev, uint64_t seq,
	       struct pl_rejection *rej)
{
	struct apply_ctx c = {w, w->t, ev, seq, rej, pl_event_str(ev, PL_F_CAMPAIGN)};
	if (w->t->err)
		return w->t->err;
	switch (ev->type) {
	case PL_EV_CAMPAIGN_OPENED: return apply_opened(&c);
	case PL_EV_CAMPAIGN_CLOSED: return apply_closed(&c);
	case PL_EV_PLEDGE_CREATED: return apply_pledge(&c);
	case PL_EV_PLEDGE_REFUNDED: return apply_refund(&c);
	case PL_EV_COMMENT_POSTED: return apply_comment(&c);
	case PL_EV_COMMENT_REMOVED: return apply_comment_removed(&c);
	case PL_EVENT_TYPE_COUNT: break;
	}
	return PL_EINVAL;
}

void proj_clear(struct store_txn *t, enum proj_set set)
{
	for (int table = 0; table < PROJ_TABLE_COUNT; table++)
		store_clear(t, proj_db(set, (enum proj_table)table));
}
