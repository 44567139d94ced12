/*
 * consumer_catch_up.c — partitions assigned behind what the group had read.
 * A partition that comes back to this instance, or reaches a new one,
 * resumes from this data dir's own offset, while the instance that held it
 * meanwhile went further and committed that to the group
 * (consumer_tell_group commits every batch). Until this data dir reaches
 * the committed offset, its figures for the partition's campaigns are
 * older than those the group already gave readers: they wait (503
 * catching_up, ownership_set_behind) rather than go backwards behind a load
 * balancer, and this instance commits none of its own progress in them
 * until then, which would lower the group's offset; nor of a partition
 * whose group offset could not be read at the assignment, until it is. An
 * instance that restarts alone after a clean stop resumes where it
 * committed itself, and is not held back; after a kill -9, only until it
 * has read again the batches it told the group of and had not written.
 * Control records (transaction markers) and aborted records take offsets
 * but are never delivered: librdkafka's position, which moves past them,
 * says when the data dir has all there is before the mark.
 * See consumer_internal.h.
 */
#include "consumer_internal.h"

#include <inttypes.h>
#include <string.h>

#include "broker_offsets.h"
#include "log.h"

/* Marks the partition behind until target (< 0: not behind); another topic's: ignored. */
static void mark(struct consumer *c, const char *topic, int32_t partition, int64_t target)
{
	if (strcmp(topic, c->opt.topic) != 0)
		return;
	rd_kafka_topic_partition_list_del(c->behind, topic, partition);
	if (target >= 0)
		rd_kafka_topic_partition_list_add(c->behind, topic, partition)->offset = target;
	ownership_set_behind(&c->m->owner, partition, target >= 0);
}

/* topic/partition's group offset learned (or the partition let go): it may commit again. */
static void known(struct consumer *c, const char *topic, int32_t partition)
{
	rd_kafka_topic_partition_list_del(c->unknown, topic, partition);
}

/*
 * Asks the group's offsets of parts (at the offsets this data dir stands
 * at), waiting timeout_ms at most for each answer, and marks them: behind,
 * ahead (owed a commit) or not learned. The error, if not learned.
 */
static rd_kafka_resp_err_t learn(struct consumer *c, const rd_kafka_topic_partition_list_t *parts,
				 int timeout_ms)
{
	rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_copy(parts);
	rd_kafka_topic_partition_list_t *ends = rd_kafka_topic_partition_list_copy(parts);
	rd_kafka_resp_err_t err = rd_kafka_committed(c->rk, committed, timeout_ms);
	if (!err)
		err = broker_offsets(c->rk, ends, RD_KAFKA_OFFSET_END, timeout_ms);
	rd_kafka_resp_err_t unlearned = err;
	for (int i = 0; i < parts->cnt; i++) {
		const rd_kafka_topic_partition_t *p = &parts->elems[i];
		bool learned = !err && !committed->elems[i].err;
		int64_t from = p->offset, target = committed->elems[i].offset;
		/* A committed offset past the partition's end is another
		 * incarnation's: reaching the end is all there is to catch up. */
		if (learned && !ends->elems[i].err && target > ends->elems[i].offset)
			target = ends->elems[i].offset;
		/* From "the beginning" (where the partition starts was not
		 * learned, note_starts): nothing is read yet, so any offset the
		 * group has is ahead. Taken for caught up, an empty data dir
		 * would answer, and commit offsets below the group's. */
		bool behind = learned && (from >= 0 ? from < target : target > 0);
		mark(c, p->topic, p->partition, behind ? target : -1);
		/* Not learned: its commits could lower the group's offset below
		 * the last holder's, so none is made until it is. */
		known(c, p->topic, p->partition);
		if (!learned) {
			rd_kafka_topic_partition_list_add(c->unknown, p->topic, p->partition)->offset =
				from;
			if (!unlearned)
				unlearned = committed->elems[i].err;
		}
		/* Ahead of the group (its commits were refused, then the partition
		 * was not read again): the group is told, as after a batch, or the
		 * next holder would wait only that far. */
		if (learned && from >= 0 && from > committed->elems[i].offset &&
		    (ends->elems[i].err || from <= ends->elems[i].offset)) {
			rd_kafka_topic_partition_list_del(c->commits_owed, p->topic, p->partition);
			rd_kafka_topic_partition_list_add(c->commits_owed, p->topic, p->partition)
				->offset = from;
			c->owed_at_ms = 0; /* sent by the loop's next turn (consumer_commit_owed) */
		}
		if (behind)
			log_info("%s [%" PRId32 "]: this data dir has read up to offset %" PRId64
				 " and the consumer group up to %" PRId64 "; its campaigns answer 503 "
				 "catching_up until this instance has caught up",
				 p->topic, p->partition, from >= 0 ? from : 0, target);
	}
	rd_kafka_topic_partition_list_destroy(committed);
	rd_kafka_topic_partition_list_destroy(ends);
	return unlearned;
}

void consumer_note_behind(struct consumer *c, const rd_kafka_topic_partition_list_t *parts)
{
	if (!c->opt.partitioner || c->closing || parts->cnt == 0)
		return;
	rd_kafka_resp_err_t err = learn(c, parts, WATERMARK_TIMEOUT_MS);
	if (err)
		log_warn("cannot learn how far the consumer group had read the partitions assigned "
			 "(%s): their campaigns are answered from this data dir at once, and may be "
			 "older than the group already gave until it has caught up (X-Pledged-Lag); "
			 "nothing of them is committed to the group until it is learned (asked again "
			 "every %d ms)",
			 rd_kafka_err2str(err), RECHECK_MS);
}

void consumer_recheck_unknown(struct consumer *c)
{
	/* Lost, they are nobody's until the next assignment asks anew. */
	if (c->unknown->cnt == 0 || c->brokers_down || c->assignment_lost ||
	    c->now_ms < c->unknown_check_at_ms)
		return;
	c->unknown_check_at_ms = c->now_ms + RECHECK_MS;
	rd_kafka_topic_partition_list_t *ask = rd_kafka_topic_partition_list_copy(c->unknown);
	if (!learn(c, ask, RECHECK_WAIT_MS))
		log_info("learned how far the consumer group had read the partitions held; their "
			 "progress is committed to it again");
	rd_kafka_topic_partition_list_destroy(ask);
}

void consumer_caught_up_to(struct consumer *c, const char *topic, int32_t partition, int64_t next)
{
	rd_kafka_topic_partition_t *unknown =
		rd_kafka_topic_partition_list_find(c->unknown, topic, partition);
	if (unknown)
		unknown->offset = next;
	const rd_kafka_topic_partition_t *p =
		rd_kafka_topic_partition_list_find(c->behind, topic, partition);
	if (!p || next < p->offset)
		return;
	log_info("%s [%" PRId32 "]: caught up with the consumer group (offset %" PRId64 "); "
		 "answering for its campaigns",
		 topic, partition, next);
	mark(c, topic, partition, -1);
}

/* Whether b holds a message of topic/partition. */
static bool batch_holds(const struct batch *b, const char *topic, int32_t partition)
{
	for (size_t i = 0; b && i < b->n; i++)
		if (b->held[i]->partition == partition &&
		    strcmp(rd_kafka_topic_name(b->held[i]->rkt), topic) == 0)
			return true;
	return false;
}

void consumer_settle_behind(struct consumer *c)
{
	/* Messages dropped meanwhile are behind the position until the seek
	 * that reads them again (consumer_positions.c). */
	if (c->behind->cnt == 0 || c->store_failed || c->now_ms < c->settle_at_ms)
		return;
	c->settle_at_ms = c->now_ms + SETTLE_MS;
	rd_kafka_topic_partition_list_t *pos = rd_kafka_topic_partition_list_copy(c->behind);
	rd_kafka_position(c->rk, pos);
	for (int i = 0; i < pos->cnt; i++) {
		const rd_kafka_topic_partition_t *p = &pos->elems[i];
		const rd_kafka_topic_partition_t *mark =
			rd_kafka_topic_partition_list_find(c->behind, p->topic, p->partition);
		if (!p->err && mark && p->offset >= mark->offset &&
		    !consumer_is_lost(c, p->topic, p->partition) &&
		    !batch_holds(c->cur, p->topic, p->partition) &&
		    !batch_holds(c->writing, p->topic, p->partition))
			consumer_caught_up_to(c, p->topic, p->partition, p->offset);
	}
	rd_kafka_topic_partition_list_destroy(pos);
}

void consumer_forget_behind(struct consumer *c, const rd_kafka_topic_partition_list_t *parts)
{
	for (int i = 0; i < parts->cnt; i++) {
		if (rd_kafka_topic_partition_list_find(c->behind, parts->elems[i].topic,
						       parts->elems[i].partition))
			mark(c, parts->elems[i].topic, parts->elems[i].partition, -1);
		known(c, parts->elems[i].topic, parts->elems[i].partition);
	}
}

void consumer_drop_behind(struct consumer *c, rd_kafka_topic_partition_list_t *parts)
{
	for (int i = parts->cnt - 1; i >= 0; i--) {
		const rd_kafka_topic_partition_t *mark = rd_kafka_topic_partition_list_find(
			c->behind, parts->elems[i].topic, parts->elems[i].partition);
		if ((mark && parts->elems[i].offset < mark->offset) ||
		    rd_kafka_topic_partition_list_find(c->unknown, parts->elems[i].topic,
						       parts->elems[i].partition))
			rd_kafka_topic_partition_list_del_by_idx(parts, i);
	}
}
