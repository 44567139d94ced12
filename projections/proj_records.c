/* proj_records.c — byte forms of projection keys and records; see proj_records.h. */
#include "proj_records.h"

#include <string.h>

#include "bytes.h"
#include "pl_error.h"

/* Strings are stored as u16 length + bytes; absent as length 0xffff. */
#define ABSENT 0xffff

static size_t put_str(uint8_t *buf, size_t at, struct pl_str s, bool present)
{
	if (buf) {
		bytes_put_le16(buf + at, present ? (uint16_t)s.len : ABSENT);
		if (present)
			memcpy(buf + at + 2, s.ptr, s.len);
	}
	return at + 2 + (present ? s.len : 0);
}

/* Reads a string at *at; returns false when it runs past len. */
static bool get_str(const uint8_t *buf, size_t len, size_t *at, struct pl_str *s, bool *present)
{
	if (*at + 2 > len)
		return false;
	uint16_t n = bytes_get_le16(buf + *at);
	*at += 2;
	if (n == ABSENT) {
		*s = (struct pl_str){"", 0};
		if (present)
			*present = false;
		return true;
	}
	if (*at + n > len)
		return false;
	*s = (struct pl_str){(const char *)buf + *at, n};
	*at += n;
	if (present)
		*present = true;
	return true;
}

size_t proj_campaign_prefix(uint8_t *key, struct pl_str campaign)
{
	key[0] = (uint8_t)campaign.len;
	memcpy(key + 1, campaign.ptr, campaign.len);
	return 1 + campaign.len;
}

size_t proj_order_key(uint8_t *key, enum proj_order order, int64_t v, struct pl_str id)
{
	uint64_t biased = (uint64_t)v ^ UINT64_C(0x8000000000000000);
	bytes_put_be64(key, order == PROJ_BY_CLOSING ? biased : ~biased);
	memcpy(key + 8, id.ptr, id.len);
	return 8 + id.len;
}

int proj_key_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);
	return c ? c : (alen > blen) - (alen < blen);
}

size_t proj_timed_key(uint8_t *key, struct pl_str campaign, int64_t at, uint64_t seq)
{
	size_t n = proj_campaign_prefix(key, campaign);
	bytes_put_be64_signed(key + n, at);
	bytes_put_be64(key + n + 8, seq);
	return n + 16;
}

int proj_timed_key_parse(const uint8_t *key, size_t len, struct pl_str campaign, int64_t *at,
			   uint64_t *seq)
{
	size_t n = 1 + campaign.len;
	if (len != n + 16 || key[0] != campaign.len || memcmp(key + 1, campaign.ptr, campaign.len))
		return PL_ENOTFOUND;
	*at = bytes_get_be64_signed(key + n);
	*seq = bytes_get_be64(key + n + 8);
	return PL_OK;
}

size_t proj_info_encode(uint8_t *buf, const struct proj_info *info)
{
	if (buf) {
		bytes_put_le64(buf, (uint64_t)info->target);
		bytes_put_le64(buf + 8, (uint64_t)info->closes_at);
	}
	size_t at = 16;
	at = put_str(buf, at, info->currency, true);
	at = put_str(buf, at, info->title, true);
	at = put_str(buf, at, info->owner, true);
	return put_str(buf, at, info->location, info->has_location);
}

int proj_info_decode(const void *buf, size_t len, struct proj_info *info)
{
	const uint8_t *p = buf;
	size_t at = 16;
	if (len < 16)
		return PL_ECORRUPT;
	info->target = (int64_t)bytes_get_le64(p);
	info->closes_at = (int64_t)bytes_get_le64(p + 8);
	if (!get_str(p, len, &at, &info->currency, NULL) || !get_str(p, len, &at, &info->title, NULL) ||
	    !get_str(p, len, &at, &info->owner, NULL) ||
	    !get_str(p, len, &at, &info->location, &info->has_location) || at != len)
		return PL_ECORRUPT;
	return PL_OK;
}

void proj_totals_encode(uint8_t *buf, const struct proj_totals *t)
{
	const int64_t v[7] = {t->raised,    t->pledges,   t->supporters, t->comments,
			      t->opened_at, t->closed_at, t->last_at};
	for (int i = 0; i < 7; i++)
		bytes_put_le64(buf + 8 * i, (uint64_t)v[i]);
}

int proj_totals_decode(const void *buf, size_t len, struct proj_totals *t)
{
	const uint8_t *p = buf;
	if (len != PROJ_TOTALS_SIZE)
		return PL_ECORRUPT;
	int64_t *v[7] = {&t->raised,    &t->pledges,   &t->supporters, &t->comments,
			 &t->opened_at, &t->closed_at, &t->last_at};
	for (int i = 0; i < 7; i++)
		*v[i] = (int64_t)bytes_get_le64(p + 8 * i);
	return PL_OK;
}

void proj_campaign_state_encode(uint8_t *buf, const struct proj_campaign_state *c)
{
	proj_totals_encode(buf, &c->totals);
	memcpy(buf + PROJ_TOTALS_SIZE, c->currency, 3);
	buf[PROJ_TOTALS_SIZE + 3] = 0;
}

void proj_campaign_state_decode(const uint8_t *buf, struct proj_campaign_state *c)
{
	proj_totals_decode(buf, PROJ_TOTALS_SIZE, &c->totals);
	memcpy(c->currency, buf + PROJ_TOTALS_SIZE, 3);
}

void proj_pledge_encode(uint8_t *buf, const struct proj_pledge *p)
{
	bytes_put_le64(buf, p->seq);
	bytes_put_le64(buf + 8, (uint64_t)p->refunded);
}

void proj_pledge_decode(const uint8_t *buf, struct proj_pledge *p)
{
	p->seq = bytes_get_le64(buf);
	p->refunded = (int64_t)bytes_get_le64(buf + 8);
}

#define COMMENT_REMOVED (UINT64_C(1) << 63)

void proj_comment_state_encode(uint8_t *buf, const struct proj_comment_state *c)
{
	bytes_put_le64(buf, c->seq | (c->removed ? COMMENT_REMOVED : 0));
}

void proj_comment_state_decode(const uint8_t *buf, struct proj_comment_state *c)
{
	uint64_t v = bytes_get_le64(buf);
	c->seq = v & ~COMMENT_REMOVED;
	c->removed = (v & COMMENT_REMOVED) != 0;
}

size_t proj_comment_encode(uint8_t *buf, const struct proj_comment *c)
{
	size_t at = put_str(buf, 0, c->id, true);
	at = put_str(buf, at, c->name, c->has_name);
	return put_str(buf, at, c->text, true);
}

int proj_comment_decode(const void *buf, size_t len, struct proj_comment *c)
{
	size_t at = 0;
	if (!get_str(buf, len, &at, &c->id, NULL) || !get_str(buf, len, &at, &c->name, &c->has_name) ||
	    !get_str(buf, len, &at, &c->text, NULL) || at != len)
		return PL_ECORRUPT;
	return PL_OK;
}

/*
 * A history row is written for every event, so it is packed: a type, a
 * byte saying which numbers follow, the numbers as varints (zigzag where
 * they can be negative), then the supporter's fingerprint. A pledge or a
 * refund changes the supporter's net by what it changes raised: H_NET_RAISED
 * says so instead of writing the amount twice.
 */
enum { H_RAISED = 1, H_PLEDGES = 2, H_COMMENTS = 4, H_NET = 8, H_REF = 16, H_NET_RAISED = 32 };

size_t proj_history_encode(uint8_t buf[PROJ_HISTORY_MAX], const struct proj_history *h)
{
	size_t n = 2;
	uint8_t flags = 0;
	if (h->raised)
		n += bytes_put_svarint(buf + n, h->raised), flags |= H_RAISED;
	if (h->pledges)
		n += bytes_put_svarint(buf + n, h->pledges), flags |= H_PLEDGES;
	if (h->comments)
		n += bytes_put_svarint(buf + n, h->comments), flags |= H_COMMENTS;
	if (h->net && h->net == h->raised)
		flags |= H_NET_RAISED;
	else if (h->net)
		n += bytes_put_svarint(buf + n, h->net), flags |= H_NET;
	if (h->net) {
		memcpy(buf + n, h->supporter, sizeof h->supporter);
		n += sizeof h->supporter;
	}
	if (h->ref)
		n += bytes_put_uvarint(buf + n, h->ref), flags |= H_REF;
	buf[0] = h->type;
	buf[1] = flags;
	return n;
}

/* Reads a signed varint at *at into v when flag is set; false when it does not fit in len. */
static bool get_svarint(const uint8_t *p, size_t len, size_t *at, bool flag, int64_t *v)
{
	size_t n = flag ? bytes_get_svarint(p + *at, len - *at, v) : 1;
	*at += flag ? n : 0;
	return n != 0;
}

int proj_history_decode(const void *buf, size_t len, struct proj_history *h)
{
	const uint8_t *p = buf;
	memset(h, 0, sizeof *h);
	if (len < 2 || p[1] & ~(H_RAISED | H_PLEDGES | H_COMMENTS | H_NET | H_REF | H_NET_RAISED) ||
	    (p[1] & H_NET && p[1] & H_NET_RAISED) || (p[1] & H_NET_RAISED && !(p[1] & H_RAISED)))
		return PL_ECORRUPT;
	uint8_t flags = p[1];
	size_t n = 2;
	int64_t pledges = 0, comments = 0;
	h->type = p[0];
	if (!get_svarint(p, len, &n, flags & H_RAISED, &h->raised) ||
	    !get_svarint(p, len, &n, flags & H_PLEDGES, &pledges) ||
	    !get_svarint(p, len, &n, flags & H_COMMENTS, &comments) ||
	    !get_svarint(p, len, &n, flags & H_NET, &h->net) || pledges != (int32_t)pledges ||
	    comments != (int32_t)comments)
		return PL_ECORRUPT;
	h->pledges = (int32_t)pledges;
	h->comments = (int32_t)comments;
	if (flags & H_NET_RAISED)
		h->net = h->raised;
	if (flags & (H_NET | H_NET_RAISED)) {
		if (len - n < sizeof h->supporter)
			return PL_ECORRUPT;
		memcpy(h->supporter, p + n, sizeof h->supporter);
		n += sizeof h->supporter;
	}
	if (flags & H_REF) {
		size_t k = bytes_get_uvarint(p + n, len - n, &h->ref);
		if (!k)
			return PL_ECORRUPT;
		n += k;
	}
	return n == len ? PL_OK : PL_ECORRUPT;
}

void proj_platform_add(struct proj_platform *to, const struct proj_platform *d)
{
	to->raised += d->raised;
	to->pledges += d->pledges;
	to->open += d->open;
	to->closed += d->closed;
	to->supporters += d->supporters;
}

void proj_platform_encode(uint8_t *buf, const struct proj_platform *p)
{
	bytes_put_le64(buf, (uint64_t)p->raised);
	bytes_put_le64(buf + 8, (uint64_t)(p->raised >> 64));
	bytes_put_le64(buf + 16, (uint64_t)p->pledges);
	bytes_put_le64(buf + 24, (uint64_t)p->open);
	bytes_put_le64(buf + 32, (uint64_t)p->closed);
	bytes_put_le64(buf + 40, (uint64_t)p->supporters);
}

int proj_platform_decode(const void *buf, size_t len, struct proj_platform *p)
{
	const uint8_t *b = buf;
	if (len != PROJ_PLATFORM_SIZE)
		return PL_ECORRUPT;
	p->raised = (__int128)((unsigned __int128)bytes_get_le64(b + 8) << 64 | bytes_get_le64(b));
	p->pledges = (int64_t)bytes_get_le64(b + 16);
	p->open = (int64_t)bytes_get_le64(b + 24);
	p->closed = (int64_t)bytes_get_le64(b + 32);
	p->supporters = (int64_t)bytes_get_le64(b + 40);
	return PL_OK;
}
