/* bench_events.c — the benchmark event stream; see bench_events.h. */
#include "bench_events.h"

#include <stdio.h>
#include <string.h>

#include "event_codec.h"

static uint64_t next_rand(struct bench_stream *s)
{
	/* xorshift64*: fast, deterministic, good enough to pick event kinds. */
	s->state ^= s->state >> 12;
	s->state ^= s->state << 25;
	s->state ^= s->state >> 27;
	return s->state * UINT64_C(2685821657736338717);
}

void bench_stream_init(struct bench_stream *s, uint32_t campaigns, uint64_t seed)
{
	memset(s, 0, sizeof *s);
	s->state = seed ? seed : 1;
	s->campaigns = campaigns;
	s->last_comment_removed = 1;
	msgpack_sbuffer_init(&s->last);
}

void bench_stream_deinit(struct bench_stream *s)
{
	msgpack_sbuffer_destroy(&s->last);
}

static void set_str(struct pl_event *ev, enum pl_field f, const char *text)
{
	pl_event_set_str(ev, f, text, strlen(text));
}

/* Fills ev with the n-th event; r (0..999) picks its kind. */
static void make_event(struct bench_stream *s, uint64_t n, uint64_t r, struct pl_event *ev, char (*buf)[160])
{
	char *id = buf[0], *camp = buf[1], *a = buf[2], *b = buf[3], *text = buf[4];
	snprintf(id, 160, "ev-%llu", (unsigned long long)n);
	pl_event_set_int(ev, PL_F_V, 1);
	set_str(ev, PL_F_ID, id);
	pl_event_set_int(ev, PL_F_AT, INT64_C(1578132000000) + (int64_t)n * 10);

	if (n < s->campaigns) {
		snprintf(camp, 160, "camp-%llu", (unsigned long long)n);
		set_str(ev, PL_F_TYPE, "campaign.opened");
		set_str(ev, PL_F_TITLE, "A benchmark campaign with a title of ordinary length");
		set_str(ev, PL_F_OWNER, "Benchmark Owner");
		set_str(ev, PL_F_CURRENCY, "GBP");
		set_str(ev, PL_F_LOCATION, "Birmingham, England, United Kingdom");
	} else if (r < 900 || s->pledges < 100) {
		/* Pledge p goes to campaign p mod campaigns, so refunds can find it. */
		uint64_t p = s->pledges++;
		snprintf(camp, 160, "camp-%llu", (unsigned long long)(p % s->campaigns));
		snprintf(a, 160, "pl-%llu", (unsigned long long)p);
		snprintf(b, 160, "sup-%llu", (unsigned long long)(next_rand(s) % (s->pledges / 2 + 1000)));
		set_str(ev, PL_F_TYPE, "pledge.created");
		set_str(ev, PL_F_PLEDGE, a);
		set_str(ev, PL_F_SUPPORTER, b);
		pl_event_set_int(ev, PL_F_AMOUNT, 500 + (int64_t)(next_rand(s) % 10000));
		set_str(ev, PL_F_CURRENCY, "GBP");
		if (p % 3)
			set_str(ev, PL_F_NAME, "A Supporter");
		snprintf(s->last_supporter, sizeof s->last_supporter, "%s", b);
		snprintf(s->last_pledge_campaign, sizeof s->last_pledge_campaign, "%s", camp);
	} else if (r < 950) {
		/* A refund smaller than any pledge, of a recent pledge. */
		uint64_t p = s->pledges - 1 - next_rand(s) % 50;
		snprintf(camp, 160, "camp-%llu", (unsigned long long)(p % s->campaigns));
		snprintf(a, 160, "pl-%llu", (unsigned long long)p);
		set_str(ev, PL_F_TYPE, "pledge.refunded");
		set_str(ev, PL_F_PLEDGE, a);
		pl_event_set_int(ev, PL_F_AMOUNT, 1 + (int64_t)(next_rand(s) % 100));
	} else if (r < 995 || s->last_comment_removed) {
		/* Posted by the supporter of the newest pledge, in its campaign. */
		snprintf(camp, 160, "%s", s->last_pledge_campaign);
		snprintf(a, 160, "cm-%llu", (unsigned long long)s->comments++);
		set_str(ev, PL_F_TYPE, "comment.posted");
		set_str(ev, PL_F_COMMENT, a);
		set_str(ev, PL_F_SUPPORTER, s->last_supporter);
		snprintf(text, 160, "Good luck with the campaign! Comment number %llu, with some text.",
			 (unsigned long long)s->comments);
		set_str(ev, PL_F_TEXT, text);
		snprintf(s->last_comment_campaign, sizeof s->last_comment_campaign, "%s", camp);
		s->last_comment_removed = 0;
	} else {
		snprintf(camp, 160, "%s", s->last_comment_campaign);
		snprintf(a, 160, "cm-%llu", (unsigned long long)(s->comments - 1));
		set_str(ev, PL_F_TYPE, "comment.removed");
		set_str(ev, PL_F_COMMENT, a);
		s->last_comment_removed = 1;
	}
	set_str(ev, PL_F_CAMPAIGN, camp);
}

int bench_stream_next(struct bench_stream *s, msgpack_sbuffer *out)
{
	uint64_t n = s->produced++;
	uint64_t r = next_rand(s) % 1000;
	msgpack_sbuffer_clear(out);
	if (n >= s->campaigns && r == 0) { /* 0.1%: not msgpack at all */
		static const char garbage[] = "\xc1not an event";
		msgpack_sbuffer_write(out, garbage, sizeof garbage - 1);
		snprintf(s->key, sizeof s->key, "camp-0");
		return 0;
	}
	if (n >= s->campaigns && r < 11 && s->last.size) { /* ~1%: re-delivery */
		msgpack_sbuffer_write(out, s->last.data, s->last.size);
		memcpy(s->key, s->last_key, sizeof s->key);
		return 1;
	}
	char buf[5][160];
	struct pl_event ev = {0};
	make_event(s, n, r, &ev, buf);
	pl_event_encode(&ev, out);
	snprintf(s->key, sizeof s->key, "%s", buf[1]);
	msgpack_sbuffer_clear(&s->last);
	msgpack_sbuffer_write(&s->last, out->data, out->size);
	memcpy(s->last_key, s->key, sizeof s->key);
	return 1;
}
