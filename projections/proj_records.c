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

enum { H_RAISED = 1, H_PLEDGES = 2, H_COMMENTS = 4, H_NET = 8, H_REF = 16 };

size_t proj_history_encode(uint8_t buf[PROJ_HISTORY_MAX], const struct proj_history *h)
{
	size_t n = 2;
	uint8_t flags = 0;
	if (h->raised) {
		bytes_put_le64(buf + n, (uint64_t)h->raised);
		n += 8, flags |= H_RAISED;
	}
	if (h->pledges) {
		bytes_put_le32(buf + n, (uint32_t)h->pledges);
		n += 4, flags |= H_PLEDGES;
	}
	if (h->comments) {
		bytes_put_le32(buf + n, (uint32_t)h->comments);
		n += 4, flags |= H_COMMENTS;
	}
	if (h->net) {
		bytes_put_le64(buf + n, (uint64_t)h->net);
		memcpy(buf + n + 8, h->supporter, sizeof h->supporter);
		n += 8 + sizeof h->supporter, flags |= H_NET;
	}
	if (h->ref) {
		bytes_put_le64(buf + n, h->ref);
		n += 8, flags |= H_REF;
	}
	buf[0] = h->type;
	buf[1] = flags;
	return n;
}

int proj_history_decode(const void *buf, size_t len, struct proj_history *h)
{
	const uint8_t *p = buf;
	memset(h, 0, sizeof *h);
	if (len < 2 || p[1] & ~(H_RAISED | H_PLEDGES | H_COMMENTS | H_NET | H_REF))
		return PL_ECORRUPT;
	uint8_t flags = p[1];
	size_t want = 2 + (flags & H_RAISED ? 8 : 0) + (flags & H_PLEDGES ? 4 : 0) +
		      (flags & H_COMMENTS ? 4 : 0) + (flags & H_NET ? 8 + sizeof h->supporter : 0) +
		      (flags & H_REF ? 8 : 0);
	if (len != want)
		return PL_ECORRUPT;
	size_t n = 2;
	h->type = p[0];
	if (flags & H_RAISED)
		h->raised = (int64_t)bytes_get_le64(p + n), n += 8;
	if (flags & H_PLEDGES)
		h->pledges = (int32_t)bytes_get_le32(p + n), n += 4;
	if (flags & H_COMMENTS)
		h->comments = (int32_t)bytes_get_le32(p + n), n += 4;
	if (flags & H_NET) {
		h->net = (int64_t)bytes_get_le64(p + n);
		memcpy(h->supporter, p + n + 8, sizeof h->supporter);
		n += 8 + sizeof h->supporter;
	}
	if (flags & H_REF)
		h->ref = bytes_get_le64(p + n);
	return PL_OK;
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
