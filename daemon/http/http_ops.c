/*
 * http_ops.c — what operators and their tools poll: /healthz for load
 * balancers and orchestrators, /metrics for Prometheus.
 */
#include <stdio.h>
#include <stdlib.h>

#include <event2/buffer.h>

#include "evlog.h"
#include "http_internal.h"
#include "http_reply.h"
#include "metrics.h"
#include "pl_error.h"
#include "rebuild.h"

/*
 * Healthy means (docs/http.md): consuming, the store is writable
 * and a read transaction works. Anything else is 503 so a load balancer
 * takes the instance out; the body says why. A read-only instance is not
 * consuming, so it answers 503 with state "read_only": health-check such
 * replicas on a campaign route instead.
 */
void http_ops_healthz(struct http_request *r)
{
	struct metrics *m = r->w->hs->m;
	char detail[256];
	enum consumer_state state = metrics_get_state(m, detail, sizeof detail);
	bool writable = atomic_load(&m->store_writable);
	int64_t lag = metrics_total_lag(m);

	/* Damaged, the store is not read: where the log stood, as last known. */
	struct store_txn t;
	uint64_t seq = atomic_load(&m->last_seq);
	bool damaged = http_store_damaged(r->w->hs);
	int rc = damaged ? PL_ECORRUPT : store_read_begin(r->w->hs->st, &t);
	if (rc == 0) {
		rc = evlog_last_seq(&t, &seq);
		store_abort(&t);
	}

	writable = writable && !damaged;
	bool ok = rc == 0 && writable && state == CONSUMER_CONSUMING;
	if (damaged)
		snprintf(detail, sizeof detail, "%s", HTTP_DAMAGED_DETAIL);
	else if (rc)
		snprintf(detail, sizeof detail, "cannot read the store: %s", pl_strerror(rc));
	json_t *body = json_pack("{s:s,s:s,s:s,s:b,s:o,s:I}", "status", ok ? "ok" : "unavailable",
				 "state", metrics_state_name(state), "detail", detail,
				 "store_writable", writable, "lag",
				 lag < 0 ? json_null() : json_integer(lag), "seq", (json_int_t)seq);
	/* No ETag: health changes without the log moving, and must never be a 304. */
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Cache-Control", "no-store");
	http_reply_json(r, ok ? 200 : 503, body, NULL);
}

/*
 * Ready means (docs/http.md): this instance should get traffic. A consumer
 * is ready while it holds at least one partition (its campaigns not
 * waiting for the group, as after a freeze or before an assignment is
 * recorded, nor all 421 for want of the topic's size, nor catching up
 * with what the group had read) and is at most ready_max_lag messages behind, or answers marked stale after losing its
 * assignment alone in its group; a read-only instance serves its data dir
 * and is always ready. /healthz says whether the process works at all.
 */
void http_ops_readyz(struct http_request *r)
{
	struct metrics *m = r->w->hs->m;
	char detail[384], behind[128];
	enum consumer_state state = metrics_get_state(m, detail, sizeof detail);
	size_t partitions = metrics_partitions(m);
	int64_t lag = metrics_total_lag(m), max_lag = r->w->hs->opt.ready_max_lag;
	bool ready = state == CONSUMER_READ_ONLY;
	if (state != CONSUMER_READ_ONLY) {
		if (state != CONSUMER_CONSUMING)
			; /* detail says what it is doing instead */
		/* Its campaigns wait (503) while the group has not said what it
		 * holds: the consumer may hold partitions all the same (a freeze,
		 * an assignment not recorded yet). */
		else if (!r->owner.in_force)
			snprintf(detail, sizeof detail,
				 "waiting for the consumer group to say which partitions this "
				 "instance holds (X-Pledged-Partitions: waiting)");
		else if (partitions == 0)
			snprintf(detail, sizeof detail, "no partitions assigned");
		else if (r->owner.enforced && r->owner.count == 0) /* every campaign is 421 */
			snprintf(detail, sizeof detail,
				 "the topic's partition count is not known, so no campaign is "
				 "answered for until the next rebalance");
		else if (ownership_view_say_behind(&r->owner, behind, sizeof behind))
			snprintf(detail, sizeof detail,
				 "catching up: %s behind what the consumer group had read, and their "
				 "campaigns answer 503 until this data dir reaches it",
				 behind);
		else if (lag < 0)
			snprintf(detail, sizeof detail, "lag not known yet");
		else if (lag > max_lag)
			snprintf(detail, sizeof detail, "%lld messages behind (at most %lld)", (long long)lag,
				 (long long)max_lag);
		else
			ready = true;
	}
	if (ready)
		detail[0] = '\0';
	/* Alone in its group when Kafka went away, it answers, marked stale:
	 * taken out of the balancer, the pages would go down with Kafka. */
	int64_t stale = r->owner.lost_ms;
	bool damaged = http_store_damaged(r->w->hs);
	if (damaged) {
		ready = false; /* its answers are 503 */
		snprintf(detail, sizeof detail, "%s", HTTP_DAMAGED_DETAIL);
	} else if (!ready && stale) {
		ready = true;
		snprintf(detail, sizeof detail,
			 "answering with the figures as of %lld (X-Pledged-Stale-Since): the consumer "
			 "group's assignment was lost; /healthz says why",
			 (long long)stale);
	}
	json_t *body = json_pack("{s:s,s:s,s:s,s:I,s:o,s:I}", "status", ready ? "ready" : "not_ready",
				 "state", metrics_state_name(state), "detail", detail, "partitions",
				 (json_int_t)partitions, "lag", lag < 0 ? json_null() : json_integer(lag),
				 "max_lag", (json_int_t)max_lag);
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Cache-Control", "no-store");
	http_reply_json(r, ready ? 200 : 503, body, NULL);
}

void http_ops_metrics(struct http_request *r)
{
	struct metrics_rebuild rebuild = {0};
	enum store_slot slot;
	struct store_txn t;
	if (!http_store_damaged(r->w->hs) && store_read_begin(r->w->hs->st, &t) == 0) {
		if (rebuild_status(&t, &rebuild.under_way, &slot, &rebuild.done))
			rebuild = (struct metrics_rebuild){0};
		/* The log also grows without this process's batches (a read-only
		 * serve while `pledged import` writes): read where it stands. */
		uint64_t seq;
		if (evlog_last_seq(&t, &seq) == 0)
			metrics_raise_log_seq(r->w->hs->m, seq);
		store_abort(&t);
	}
	size_t len = 0;
	char *text = metrics_render(r->w->hs->m, &rebuild, http_route_names, HTTP_ROUTE_COUNT + 1, &len);
	struct evbuffer *b = evhttp_request_get_output_buffer(r->req);
	if (!text || evbuffer_add_reference(b, text, len, http_free_text_cb, NULL)) {
		free(text);
		evbuffer_add_printf(b, "# out of memory\n");
		http_reply_prepare(r, 500, NULL);
		http_reply_body(r, 500, "text/plain; charset=utf-8", "no-store", b);
		return;
	}
	http_reply_prepare(r, 200, NULL);
	http_reply_body(r, 200, "text/plain; version=0.0.4; charset=utf-8", "no-store", b);
}
