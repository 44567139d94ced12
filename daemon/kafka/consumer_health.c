/*
 * consumer_health.c — what /healthz says of the consumer (the most serious
 * of its conditions), and the brokers' probe that says when they answer
 * again. See consumer_internal.h.
 */
#include "consumer_internal.h"

#include <inttypes.h>
#include <stdio.h>

#include "clock.h"
#include "log.h"
#include "pl_error.h"

#define SUSPECT_MS 3000 /* from a failed connection to asking the brokers */

/* A write that failed on damage, which retrying cannot mend. */
bool consumer_store_damaged(int store_error)
{
	return store_error == PL_ECHECKSUM || store_error == PL_ECORRUPT;
}

/* The health seen on /healthz: the most serious condition wins. */
void consumer_update_state(struct consumer *c)
{
	char detail[256];
	if ((c->store_failed && consumer_store_damaged(c->store_error)) || c->store_refused) {
		metrics_set_state(c->m, CONSUMER_STALLED,
				  "the data dir is damaged (a stored entry failed its checksum, or an "
				  "LMDB page is broken); consumption paused; run 'pledged verify' to "
				  "name the entry, then restore from a backup (the 'Suspected "
				  "corruption' runbook)");
	} else if (c->store_failed) {
		metrics_set_state(c->m, CONSUMER_STALLED,
				  "cannot write to the data dir (disk full or I/O error); consumption "
				  "paused and retried every few seconds; free space or fix the disk");
	} else if (c->lost && c->lost->cnt > 0) {
		snprintf(detail, sizeof detail,
			 "%s [%" PRId32 "]: events were deleted by Kafka retention before pledged "
			 "read them; re-publish them if you can, then restart with "
			 "--skip-lost-offsets (see the log)",
			 c->lost->elems[0].topic, c->lost->elems[0].partition);
		metrics_set_state(c->m, CONSUMER_STALLED, detail);
	} else if (c->assignment_lost) {
		metrics_set_state(c->m, CONSUMER_STALLED,
				  "lost the consumer group's assignment (Kafka did not answer for "
				  "longer than the session timeout); nothing is consumed until the "
				  "group forms again; check the brokers and the network");
	} else if (c->brokers_down) {
		snprintf(detail, sizeof detail,
			 "cannot reach the Kafka brokers (%s); retrying; check the brokers and "
			 "the network",
			 c->opt.brokers);
		metrics_set_state(c->m, CONSUMER_STALLED, detail);
	} else {
		metrics_set_state(c->m, CONSUMER_CONSUMING, "");
	}
}

/* Whether any broker answers a metadata request within half a second. */
static bool brokers_answer(struct consumer *c)
{
	const struct rd_kafka_metadata *md;
	if (rd_kafka_metadata(c->rk, 0, NULL, &md, 500) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return false;
	rd_kafka_metadata_destroy(md);
	return true;
}

/*
 * While brokers are down, a cheap metadata request says when they are back.
 * librdkafka says ALL_BROKERS_DOWN only when its count of brokers down
 * meets its count of brokers, which a connection coming and going between
 * two attempts can keep from happening; so a failed connection is also
 * followed, SUSPECT_MS later, by a question to the brokers.
 */
void consumer_probe_brokers(struct consumer *c)
{
	if (c->suspect_at_ms && c->now_ms >= c->suspect_at_ms && !c->brokers_down) {
		c->suspect_at_ms = 0;
		if (brokers_answer(c))
			return;
		log_warn("no Kafka broker answers (%s); librdkafka keeps retrying", c->opt.brokers);
		c->brokers_down = true;
		c->probe_at_ms = clock_mono_ms() + RECHECK_MS;
		consumer_update_state(c);
		return;
	}
	if (!c->brokers_down || c->now_ms < c->probe_at_ms)
		return;
	c->probe_at_ms = clock_mono_ms() + RECHECK_MS;
	if (!brokers_answer(c))
		return;
	c->brokers_down = false;
	log_info("Kafka brokers reachable again");
	consumer_update_state(c);
}

void consumer_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct consumer *c = opaque;
	(void)rk;
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		char why[512];
		rd_kafka_fatal_error(c->rk, why, sizeof why);
		log_error("fatal Kafka error: %s; stopping the consumer", why);
		c->fatal = PL_EKAFKA;
	} else if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
		if (!c->brokers_down)
			log_warn("all Kafka brokers are down or unreachable (%s): %s; librdkafka keeps "
				 "retrying",
				 c->opt.brokers, reason);
		c->brokers_down = true;
		c->probe_at_ms = clock_mono_ms() + RECHECK_MS;
		consumer_update_state(c);
	} else if (err == RD_KAFKA_RESP_ERR__TRANSPORT) {
		log_debug("Kafka connection: %s", reason);
		if (!c->suspect_at_ms)
			c->suspect_at_ms = clock_mono_ms() + SUSPECT_MS;
	} else {
		log_warn("Kafka: %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
	}
}
