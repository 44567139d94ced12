/*
 * consumer_positions.c — where each assigned partition resumes: the offset
 * stored in LMDB, or where the brokers say a partition never read starts
 * (stored too, so that what retention deletes before it is read is a loss
 * like any other). See consumer_internal.h.
 */
#include "consumer_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "broker_offsets.h"
#include "log.h"
#include "pl_error.h"

/*
 * Where topic/partition resumes: the offset stored in LMDB, or the beginning
 * when none is stored or it belongs to another incarnation of the cluster
 * (re-reading is harmless: applied event ids are skipped). The beginning is
 * the offset this run began the partition at, once the brokers said it
 * (consumer_set_stored_positions): resolved anew after a pause, "the beginning"
 * would pass silently over what retention deleted meanwhile.
 */
int64_t consumer_stored_position(struct consumer *c, const char *topic, int32_t partition,
			       const char **why)
{
	struct store_txn t;
	struct evlog_offset off;
	int rc = store_read_begin(c->st, &t);
	if (rc == 0)
		rc = evlog_offset_get(&t, topic, partition, &off);
	store_abort(&t);
	const rd_kafka_topic_partition_t *start =
		rd_kafka_topic_partition_list_find(c->starts, topic, partition);
	if (rc == PL_ENOTFOUND) {
		*why = "never read: from the beginning";
		return start ? start->offset : RD_KAFKA_OFFSET_BEGINNING;
	}
	if (rc) {
		/* Starting over is safe (ids dedupe); skipping ahead would not be. */
		log_error("%s [%" PRId32 "]: cannot read the stored offset (%s); reading from the "
			  "beginning, already applied events will be skipped",
			  topic, partition, pl_strerror(rc));
		*why = "stored offset unreadable: from the beginning";
		return start ? start->offset : RD_KAFKA_OFFSET_BEGINNING;
	}
	if (off.cluster[0] && c->cluster[0] && strcmp(off.cluster, c->cluster) != 0) {
		log_warn("%s [%" PRId32 "]: stored offset %" PRId64 " belongs to Kafka cluster %s "
			 "but the broker is %s now (a new cluster, or the embedded broker restarted "
			 "empty); reading the partition from the beginning, events already applied "
			 "are recognised by id and skipped",
			 topic, partition, off.next, off.cluster, c->cluster);
		*why = "other cluster incarnation: from the beginning";
		return start ? start->offset : RD_KAFKA_OFFSET_BEGINNING;
	}
	*why = "stored";
	return off.next;
}

struct starts {
	const char *cluster;
	const rd_kafka_topic_partition_list_t *parts; /* those without err start at offset */
};

static int put_starts_txn(struct store_txn *t, void *arg)
{
	const struct starts *s = arg;
	for (int i = 0; i < s->parts->cnt; i++) {
		const rd_kafka_topic_partition_t *p = &s->parts->elems[i];
		if (p->err)
			continue;
		struct evlog_offset off = {.next = p->offset};
		snprintf(off.cluster, sizeof off.cluster, "%s", s->cluster);
		evlog_offset_put(t, p->topic, p->partition, &off);
	}
	return t->err;
}

/*
 * Asks the brokers where the partitions of parts that begin at "the
 * beginning" begin now, and stores that as their offset: what retention
 * deletes from there before it is read is then a loss like any other,
 * across a pause, a rebalance or a restart. Not while closing: librdkafka
 * waits for the rebalance callback then. Kept in memory as well, for when
 * the data dir refuses the write.
 */
static void note_starts(struct consumer *c, const rd_kafka_topic_partition_list_t *parts)
{
	rd_kafka_topic_partition_list_t *ask = NULL;
	for (int i = 0; i < parts->cnt && !c->closing; i++) {
		if (parts->elems[i].offset != RD_KAFKA_OFFSET_BEGINNING)
			continue;
		if (!ask)
			ask = rd_kafka_topic_partition_list_new(parts->cnt);
		rd_kafka_topic_partition_list_add(ask, parts->elems[i].topic,
						  parts->elems[i].partition);
	}
	if (!ask)
		return;
	rd_kafka_resp_err_t err = broker_offsets(c->rk, ask, RD_KAFKA_OFFSET_BEGINNING,
						 WATERMARK_TIMEOUT_MS);
	for (int i = 0; i < ask->cnt; i++) {
		rd_kafka_topic_partition_t *p = &ask->elems[i];
		if (err || p->err)
			log_warn("%s [%" PRId32 "]: the brokers did not say where the partition "
				 "starts (%s); reading it from the beginning as librdkafka finds it, "
				 "so events Kafka's retention deletes before they are read may go "
				 "unnoticed",
				 p->topic, p->partition, rd_kafka_err2str(err ? err : p->err));
		else
			rd_kafka_topic_partition_list_add(c->starts, p->topic, p->partition)->offset =
				p->offset;
		/* Offsets start at 0: a partition that starts later lost its first
		 * events to retention before this data dir read any of them. */
		if (!err && !p->err && p->offset > 0)
			log_warn("%s [%" PRId32 "]: this data dir has read nothing of the partition, "
				 "and Kafka no longer has its offsets 0..%" PRId64 " (retention): the "
				 "campaigns of this partition may be incomplete here; start a new "
				 "instance from a backup of another's data dir",
				 p->topic, p->partition, p->offset - 1);
	}
	struct starts found = {c->cluster, ask};
	int rc = err ? PL_OK : store_run_write(c->st, put_starts_txn, &found);
	if (rc)
		log_warn("cannot store where the new partitions start (%s); kept for this run",
			 pl_strerror(rc));
	rd_kafka_topic_partition_list_destroy(ask);
}

/* Sets each partition's offset to where it resumes, logging anything unusual. */
void consumer_set_stored_positions(struct consumer *c, rd_kafka_topic_partition_list_t *parts)
{
	const char *why;
	for (int i = 0; i < parts->cnt; i++)
		parts->elems[i].offset =
			consumer_stored_position(c, parts->elems[i].topic, parts->elems[i].partition, &why);
	note_starts(c, parts);
	for (int i = 0; i < parts->cnt; i++) {
		rd_kafka_topic_partition_t *p = &parts->elems[i];
		const rd_kafka_topic_partition_t *start =
			p->offset == RD_KAFKA_OFFSET_BEGINNING
				? rd_kafka_topic_partition_list_find(c->starts, p->topic, p->partition)
				: NULL;
		if (start)
			p->offset = start->offset;
		metrics_set_partition(c->m, p->topic, p->partition,
				      p->offset == RD_KAFKA_OFFSET_BEGINNING ? 0 : p->offset, -1);
	}
}

void consumer_pause_all(struct consumer *c)
{
	rd_kafka_topic_partition_list_t *parts = NULL;
	if (rd_kafka_assignment(c->rk, &parts) == RD_KAFKA_RESP_ERR_NO_ERROR && parts->cnt)
		rd_kafka_pause_partitions(c->rk, parts);
	if (parts)
		rd_kafka_topic_partition_list_destroy(parts);
}

bool consumer_is_lost(struct consumer *c, const char *topic, int32_t partition)
{
	return rd_kafka_topic_partition_list_find(c->lost, topic, partition) != NULL;
}

/*
 * Moves parts to the offsets in LMDB and resumes them. Used after anything
 * that may have moved librdkafka's fetch position past what was written.
 */
static void seek_to_stored(struct consumer *c, rd_kafka_topic_partition_list_t *parts)
{
	if (parts->cnt == 0)
		return;
	/* Resume first: resuming moves the fetch position to just after the last
	 * message polled (one we may have dropped), so the seek must come last. */
	rd_kafka_resume_partitions(c->rk, parts);
	consumer_set_stored_positions(c, parts);
	/* A seek cannot leave a partition reading past what was dropped.
	 * librdkafka raises the partition's version barrier when the seek is
	 * asked for, so whatever was fetched before it is discarded, and a
	 * seek that timed out is still made, in order, by the partition's
	 * thread. Refused by the partition itself (__STATE) means librdkafka
	 * stopped it, and the offset-out-of-range error it reports then makes
	 * it one of the lost partitions (consumer_lost.c). So failures are
	 * only told. */
	rd_kafka_error_t *error = rd_kafka_seek_partitions(c->rk, parts, 5000);
	if (error && rd_kafka_error_code(error))
		log_warn("seeking back to the stored offsets is taking long (%s); it goes on "
			 "in the background",
			 rd_kafka_error_string(error));
	if (error)
		rd_kafka_error_destroy(error);
	for (int i = 0; i < parts->cnt; i++)
		if (parts->elems[i].err && parts->elems[i].err != RD_KAFKA_RESP_ERR__IN_PROGRESS)
			log_warn("%s [%" PRId32 "]: seek refused: %s", parts->elems[i].topic,
				 parts->elems[i].partition, rd_kafka_err2str(parts->elems[i].err));
}

/* Resumes every assigned partition but those waiting for an operator. */
void consumer_resume_all_at_stored(struct consumer *c)
{
	rd_kafka_topic_partition_list_t *parts = NULL;
	if (rd_kafka_assignment(c->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (parts)
			rd_kafka_topic_partition_list_destroy(parts);
		return;
	}
	rd_kafka_topic_partition_list_t *todo = rd_kafka_topic_partition_list_new(parts->cnt);
	for (int i = 0; i < parts->cnt; i++)
		if (!consumer_is_lost(c, parts->elems[i].topic, parts->elems[i].partition))
			rd_kafka_topic_partition_list_add(todo, parts->elems[i].topic,
							  parts->elems[i].partition);
	seek_to_stored(c, todo);
	rd_kafka_topic_partition_list_destroy(todo);
	rd_kafka_topic_partition_list_destroy(parts);
}
