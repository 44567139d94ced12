/*
 * consumer_rebalance.c — the group's rebalance callback: an assignment
 * starts each partition where the data dir says, a revocation first writes
 * what is in hand, and HTTP learns which campaigns this instance answers
 * for (ownership.h). See consumer_internal.h.
 */
#include "consumer_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "crash_point.h"
#include "group_generation.h"
#include "log.h"

static void format_offset(char *buf, size_t size, int64_t offset)
{
	if (offset == RD_KAFKA_OFFSET_BEGINNING)
		snprintf(buf, size, "beginning");
	else
		snprintf(buf, size, "%" PRId64, offset);
}

static void log_partitions(const char *what, const rd_kafka_topic_partition_list_t *parts,
			   bool with_offsets)
{
	char line[1024];
	size_t len = 0;
	line[0] = '\0';
	for (int i = 0; i < parts->cnt && len < sizeof line - 64; i++) {
		char off[32] = "";
		if (with_offsets)
			format_offset(off, sizeof off, parts->elems[i].offset);
		len += (size_t)snprintf(line + len, sizeof line - len, " %s[%" PRId32 "]%s%s",
					parts->elems[i].topic, parts->elems[i].partition,
					with_offsets ? "@" : "", off);
	}
	log_info("%s %d partition%s:%s", what, parts->cnt, parts->cnt == 1 ? "" : "s", line);
}

/* How many partitions the topic has: 0 when the broker does not say. */
static int32_t topic_partitions(struct consumer *c)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(c->rk, c->opt.topic, NULL);
	const struct rd_kafka_metadata *md = NULL;
	int32_t n = 0;
	if (rkt && rd_kafka_metadata(c->rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
	    md->topic_cnt == 1 && !md->topics[0].err)
		n = md->topics[0].partition_cnt;
	if (md)
		rd_kafka_metadata_destroy(md);
	if (rkt)
		rd_kafka_topic_destroy(rkt);
	return n;
}

/*
 * Tells HTTP which campaigns are now this instance's to answer for, after
 * an assignment or a revoke (revoked): a revoke that leaves nothing held
 * is the middle of a rebalance, when nobody holds those partitions; one
 * that lost the assignment (lost: the session timed out) may keep them.
 */
static void record_ownership(struct consumer *c, bool revoked, bool lost)
{
	int32_t held[OWNERSHIP_MAX_PARTITIONS];
	rd_kafka_topic_partition_list_t *now = NULL;
	size_t n = 0;
	if (!c->opt.partitioner)
		return;
	/* Closing, librdkafka's group thread waits for this callback, and what
	 * asks it (rd_kafka_assignment(), rd_kafka_consumer_group_metadata())
	 * may wait for ever (it hung serve's shutdown in both): a closing
	 * instance holds nothing, which needs no asking. */
	if (c->closing) {
		ownership_release(&c->m->owner);
		return;
	}
	if (revoked && lost) {
		/* A standby that holds nothing announces itself all the same. */
		bool others = cluster_others_heard_since(&c->m->cluster,
							 clock_wall_ms() - CLUSTER_OTHERS_RECENT_MS);
		enum ownership_loss loss = ownership_lose(&c->m->owner, others);
		if (loss == OWNERSHIP_KEPT)
			log_warn("lost the consumer group's assignment (Kafka unreachable for longer "
				 "than the session timeout); alone in the group, this instance goes "
				 "on answering for its campaigns, marked stale (X-Pledged-Stale-Since), "
				 "until the group forms again");
		else if (loss == OWNERSHIP_UNDECIDED)
			log_warn("lost the consumer group's assignment after this process did not run "
				 "for longer than the session timeout; its campaigns wait (503) until "
				 "the announcements made meanwhile are read: another instance may "
				 "have joined and hold them");
		return;
	}
	if (rd_kafka_assignment(c->rk, &now) == RD_KAFKA_RESP_ERR_NO_ERROR)
		for (int i = 0; i < now->cnt && n < OWNERSHIP_MAX_PARTITIONS; i++)
			if (strcmp(now->elems[i].topic, c->opt.topic) == 0)
				held[n++] = now->elems[i].partition;
	if (now)
		rd_kafka_topic_partition_list_destroy(now);
	if (revoked && n == 0) {
		ownership_release(&c->m->owner);
		return;
	}
	/* Assigned none (more instances than partitions), its size is still said:
	 * "none of 4"; not learned then, it stays as it was. */
	int32_t count = n || !revoked ? topic_partitions(c) : -1;
	if (!n && count == 0)
		count = -1;
	if (n && !count)
		log_warn("cannot learn how many partitions topic %s has; answering for none of its "
			 "campaigns until the next rebalance", c->opt.topic);
	ownership_set(&c->m->owner, count, held, n, group_generation(c->rk));
}

void consumer_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
			   rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct consumer *c = opaque;
	bool cooperative = c->cooperative;
	rd_kafka_error_t *error = NULL;
	rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;
	/* Asked before the unassign below, which clears it. */
	bool lost = err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS && rd_kafka_assignment_lost(rk);

	c->assignment_lost = lost && !c->closing;
	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		if (!c->opt.cluster_id && !c->cluster[0]) {
			char *id = rd_kafka_clusterid(rk, 5000);
			if (id) {
				snprintf(c->cluster, sizeof c->cluster, "%s", id);
				rd_kafka_mem_free(rk, id);
			} else {
				log_warn("the broker did not tell its cluster id; a restarted or "
					 "replaced cluster will only be noticed by its offsets");
			}
		}
		consumer_set_stored_positions(c, parts);
		log_partitions("assigned", parts, true);
		consumer_note_behind(c, parts); /* before record_ownership says they are held */
		/* A pause outlives an unassign in librdkafka 2.0: a partition paused
		 * for a failing write before a rebalance would stay paused for good.
		 * Resumed before the assignment: restart_partition (consumer_positions.c)
		 * says why. */
		if (!c->store_failed)
			rd_kafka_resume_partitions(rk, parts);
		if (cooperative)
			error = rd_kafka_incremental_assign(rk, parts);
		else
			aerr = rd_kafka_assign(rk, parts);
		if (c->store_failed)
			rd_kafka_pause_partitions(rk, parts);
		consumer_update_state(c);
		CRASH_POINT(CONSUMER_ASSIGNED);
	} else {
		/* Both batches, the one being written and the one in hand, may hold
		 * messages of these partitions: write them while they are still ours;
		 * if that fails they are dropped, and the offsets in LMDB say where
		 * the next owner resumes. */
		if (consumer_flush(c))
			consumer_batch_release(c->cur);
		/* Refused commits go once more while the partitions are ours: the
		 * next holder catches up only as far as the group's offset. Those
		 * in flight are answered first, so that one refused late goes too;
		 * librdkafka lets the partitions go only once they are answered
		 * anyway. Lost, the group refuses them, and may have given them to
		 * another. */
		if (!lost) {
			consumer_await_commits(c, REVOKE_WAIT_MS);
			consumer_commit_owed(c, true);
		}
		consumer_forget_commits(c, parts);
		CRASH_POINT(CONSUMER_REVOKED);
		for (int i = 0; i < parts->cnt; i++) {
			/* Another instance may read them meanwhile: begun again when back. */
			rd_kafka_topic_partition_list_del(c->lost, parts->elems[i].topic,
							  parts->elems[i].partition);
			rd_kafka_topic_partition_list_del(c->starts, parts->elems[i].topic,
							  parts->elems[i].partition);
		}
		if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
			log_partitions("revoked", parts, false);
		else
			log_error("rebalance failed: %s; dropping the assignment",
				  rd_kafka_err2str(err));
		if (cooperative)
			error = rd_kafka_incremental_unassign(rk, parts);
		else
			aerr = rd_kafka_assign(rk, NULL);
		/* Lag is reported for what this instance still holds. */
		metrics_clear_partitions(c->m);
		rd_kafka_topic_partition_list_t *left = NULL;
		if (cooperative && !c->closing &&
		    rd_kafka_assignment(rk, &left) == RD_KAFKA_RESP_ERR_NO_ERROR)
			consumer_set_stored_positions(c, left);
		if (left)
			rd_kafka_topic_partition_list_destroy(left);
		consumer_update_state(c);
	}
	record_ownership(c, err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, lost);
	/* Only once HTTP no longer holds them: cleared before, a revoked
	 * partition still behind would answer for a moment with older figures.
	 * Lost, a lone instance goes on answering for them (ownership_lose):
	 * what it had not caught up with still waits. The next assignment
	 * marks each partition anew. */
	if (err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS && !lost)
		consumer_forget_behind(c, parts);
	if (error) {
		log_error("partition (un)assignment failed: %s", rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
	} else if (aerr) {
		log_error("partition (un)assignment failed: %s", rd_kafka_err2str(aerr));
	}
}
