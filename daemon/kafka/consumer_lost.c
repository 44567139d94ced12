/*
 * consumer_lost.c — partitions whose position Kafka no longer has: read
 * again from the beginning (a recreated topic), skipped (when the operator
 * said so) or stalled until an operator acts (retention deleted events
 * before they were read). See consumer_internal.h.
 */
#include "consumer_internal.h"

#include <inttypes.h>
#include <stdio.h>

#include "broker_offsets.h"
#include "clock.h"
#include "log.h"

/*
 * Starts fetching topic/partition again at target after librdkafka stopped
 * it (an offset out of range leaves it stopped, and a seek cannot revive
 * it): the partition is assigned anew, and with the eager protocol, which
 * only knows whole assignments, every other partition at its stored offset.
 *
 * It is resumed (we paused it) before the assignment, not after: each
 * pause, resume and assignment of a partition takes a version when it is
 * made and is served later on the partition's own queue, where one older
 * than an operation already served is dropped as outdated. The
 * assignment's start of fetching is made by librdkafka's own thread, so a
 * resume made after the assignment could be served first and get it
 * dropped, and the partition then stayed stopped for good (librdkafka
 * issues 2190 and 5591; seen once in the lost-offsets test under load).
 */
static bool restart_partition(struct consumer *c, const char *topic, int32_t partition,
			      int64_t target)
{
	rd_kafka_topic_partition_list_t *parts = NULL;
	rd_kafka_error_t *error = NULL;
	rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
	rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(one, topic, partition);
	rd_kafka_resume_partitions(c->rk, one);
	rd_kafka_topic_partition_list_destroy(one);
	if (c->cooperative) {
		parts = rd_kafka_topic_partition_list_new(1);
		rd_kafka_topic_partition_list_add(parts, topic, partition);
		error = rd_kafka_incremental_unassign(c->rk, parts);
		parts->elems[0].offset = target;
		if (!error)
			error = rd_kafka_incremental_assign(c->rk, parts);
	} else if ((err = rd_kafka_assignment(c->rk, &parts)) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		/* Whatever is in hand must land first: other positions come from LMDB. */
		if (consumer_flush(c)) {
			rd_kafka_topic_partition_list_destroy(parts);
			return false;
		}
		consumer_set_stored_positions(c, parts);
		rd_kafka_topic_partition_t *p =
			rd_kafka_topic_partition_list_find(parts, topic, partition);
		if (p)
			p->offset = target;
		err = rd_kafka_assign(c->rk, parts);
	}
	if (parts)
		rd_kafka_topic_partition_list_destroy(parts);
	if (error || err) {
		log_warn("%s [%" PRId32 "]: cannot restart the partition (%s); retrying", topic,
			 partition, error ? rd_kafka_error_string(error) : rd_kafka_err2str(err));
		if (error)
			rd_kafka_error_destroy(error);
		return false;
	}
	/* A skip past what Kafka lost may land at or past the group's offset,
	 * with nothing new to read that would say so. */
	if (target >= 0)
		consumer_caught_up_to(c, topic, partition, target);
	return true;
}

enum lost_outcome { LOST_RESUMED, LOST_STALLED, LOST_UNANSWERED };

/*
 * A partition's position is not on the broker. Decides from the watermarks:
 * the partition is shorter than what was read (recreated topic, emptied
 * broker) → read it again from the beginning; data was deleted before it
 * was read → stall it (or skip, if the operator said so).
 */
static enum lost_outcome resolve_lost(struct consumer *c, const char *topic, int32_t partition,
				      int64_t failed_at, bool first)
{
	const char *why;
	int64_t pos = consumer_stored_position(c, topic, partition, &why);
	int64_t lo, hi, target;
	/* Never stored: where librdkafka was fetching from when the broker said
	 * it was gone, which retention may have deleted before anything of it
	 * was read (RD_KAFKA_OFFSET_INVALID when it had no offset yet). */
	if (pos == RD_KAFKA_OFFSET_BEGINNING && failed_at >= 0)
		pos = failed_at;
	rd_kafka_resp_err_t err =
		broker_watermarks(c->rk, topic, partition, &lo, &hi, WATERMARK_TIMEOUT_MS);
	if (err) {
		if (first)
			log_warn("%s [%" PRId32 "]: offset out of range and the broker's offsets are "
				 "unknown (%s); partition paused, retrying",
				 topic, partition, rd_kafka_err2str(err));
		return LOST_UNANSWERED;
	}
	if (pos == RD_KAFKA_OFFSET_BEGINNING || (pos >= lo && pos <= hi)) {
		target = pos;
	} else if (pos > hi) {
		log_warn("%s [%" PRId32 "]: the stored offset %" PRId64 " is past the end of the "
			 "partition (%" PRId64 "): the topic was recreated or the broker lost its "
			 "data; reading the partition from the beginning, events already applied are "
			 "recognised by id and skipped",
			 topic, partition, pos, hi);
		target = RD_KAFKA_OFFSET_BEGINNING;
		rd_kafka_topic_partition_list_del(c->starts, topic, partition); /* as old as pos */
	} else if (c->opt.skip_lost_offsets) {
		log_error("%s [%" PRId32 "]: offsets %" PRId64 "..%" PRId64 " were deleted by Kafka "
			  "before pledged read them; skipping to %" PRId64 " as configured "
			  "(skip_lost_offsets): those events are missing from the log",
			  topic, partition, pos, lo - 1, lo);
		target = lo;
	} else {
		if (first)
			log_error("%s [%" PRId32 "]: offsets %" PRId64 "..%" PRId64 " were deleted by "
				  "Kafka (retention) before pledged read them; this partition is "
				  "stalled. Re-publish those events if the gateways still have them "
				  "(duplicates are ignored), then restart with --skip-lost-offsets to "
				  "continue from offset %" PRId64,
				  topic, partition, pos, lo - 1, lo);
		return LOST_STALLED;
	}
	return restart_partition(c, topic, partition, target) ? LOST_RESUMED : LOST_STALLED;
}

void consumer_on_offset_out_of_range(struct consumer *c, const char *topic, int32_t partition,
				     int64_t failed_at)
{
	if (consumer_is_lost(c, topic, partition))
		return;
	/* Whatever is in hand for it must land first: positions come from LMDB. */
	bool written = consumer_flush(c) == 0;
	rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(one, topic, partition);
	rd_kafka_pause_partitions(c->rk, one);
	rd_kafka_topic_partition_list_destroy(one);
	/* librdkafka stopped it and says so once: while writes fail it waits
	 * among the lost, and is decided once they succeed. */
	if (!written)
		log_warn("%s [%" PRId32 "]: offset out of range while writes fail; the partition "
			 "waits until they succeed",
			 topic, partition);
	if (!written || resolve_lost(c, topic, partition, failed_at, true) != LOST_RESUMED) {
		rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_add(c->lost, topic,
										   partition);
		p->offset = failed_at;
		p->opaque = written ? NULL : c; /* not looked at yet: its first look reports */
		c->lost_check_at_ms = clock_mono_ms() + RECHECK_MS;
		consumer_update_state(c);
	}
}

void consumer_recheck_lost(struct consumer *c)
{
	if (c->lost->cnt == 0 || c->now_ms < c->lost_check_at_ms)
		return;
	c->lost_check_at_ms = clock_mono_ms() + RECHECK_MS;
	for (int i = c->lost->cnt - 1; i >= 0; i--) {
		rd_kafka_topic_partition_t *p = &c->lost->elems[i];
		enum lost_outcome o = resolve_lost(c, p->topic, p->partition, p->offset, p->opaque);
		p->opaque = NULL;
		if (o == LOST_RESUMED)
			rd_kafka_topic_partition_list_del_by_idx(c->lost, i);
		/* A broker that does not answer one will not answer the next: each
		 * round waits for one timeout at most, the loop has more to do. */
		if (o == LOST_UNANSWERED)
			break;
	}
	consumer_update_state(c);
}
