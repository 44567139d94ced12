/* members.c — announcing this instance to the group and hearing the others; see members.h. */
#include "members.h"

#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "pl_error.h"

/* Announcements read back when starting: enough to hear every live member. */
#define TAIL_MESSAGES 256

struct members {
	struct metrics *m;
	rd_kafka_t *producer, *consumer;
	char id[CLUSTER_ID_MAX];
	char url[CLUSTER_URL_MAX];
	char group[256];
	char topic[300];
	pthread_t thread;
	atomic_bool stop;
	int64_t read_to; /* after a freeze: the end of the announcements to read up to; -1 none */
	int64_t asked_ms; /* when that end was last asked for (once a second, Kafka may be down) */
};

static void announce(struct members *mb)
{
	int32_t held[OWNERSHIP_MAX_PARTITIONS], count, generation;
	size_t n;
	ownership_held(&mb->m->owner, held, OWNERSHIP_MAX_PARTITIONS, &n, &count, &generation);
	json_t *parts = json_array();
	for (size_t i = 0; parts && i < n; i++)
		json_array_append_new(parts, json_integer(held[i]));
	json_t *j = parts ? json_pack("{s:s,s:s,s:s,s:i,s:o,s:i,s:I}", "id", mb->id, "url", mb->url,
				      "group", mb->group, "count", (int)count, "partitions", parts,
				      "generation", (int)generation, "at",
				      (json_int_t)clock_wall_ms())
			  : NULL;
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!text)
		return;
	/* A full queue (brokers away) drops this one: the next comes in a second. */
	rd_kafka_producev(mb->producer, RD_KAFKA_V_TOPIC(mb->topic), RD_KAFKA_V_PARTITION(0),
			  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			  RD_KAFKA_V_KEY(mb->id, strlen(mb->id)),
			  RD_KAFKA_V_VALUE(text, strlen(text)), RD_KAFKA_V_END);
	free(text);
}

bool members_url_plain(const char *url)
{
	const char *host = strncmp(url, "http://", 7) == 0    ? url + 7
			   : strncmp(url, "https://", 8) == 0 ? url + 8
							      : NULL;
	if (!host || !*host)
		return false;
	for (const unsigned char *p = (const unsigned char *)host; *p; p++)
		if (*p <= ' ' || *p >= 0x7f || strchr("/?#@\"<>\\^`{|}%", *p))
			return false;
	return true;
}

/* One announcement read back; anything malformed, or of another group, is ignored. */
static void hear(struct members *mb, const rd_kafka_message_t *msg)
{
	json_t *j = json_loadb(msg->payload, msg->len, 0, NULL);
	const char *id = NULL, *url = NULL, *group = NULL;
	json_t *parts = NULL;
	int count = 0, generation = -1;
	json_int_t at = 0;
	if (j && json_unpack(j, "{s:s,s:s,s:s,s:i,s:o,s:I,s?i}", "id", &id, "url", &url, "group",
			     &group, "count", &count, "partitions", &parts, "at", &at, "generation",
			     &generation) == 0 &&
	    strcmp(group, mb->group) == 0 && members_url_plain(url) && json_is_array(parts)) {
		int32_t held[OWNERSHIP_MAX_PARTITIONS];
		size_t n = 0, i;
		json_t *p;
		json_array_foreach(parts, i, p) {
			if (json_is_integer(p) && n < OWNERSHIP_MAX_PARTITIONS)
				held[n++] = (int32_t)json_integer_value(p);
		}
		cluster_heard(&mb->m->cluster, id, url, count, held, n, (int64_t)at, generation);
	}
	json_decref(j);
}

/* The position of the announcements read next; -1 unknown. */
static int64_t position(struct members *mb)
{
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(parts, mb->topic, 0);
	int64_t at = rd_kafka_position(mb->consumer, parts) == RD_KAFKA_RESP_ERR_NO_ERROR
			     ? parts->elems[0].offset
			     : -1;
	rd_kafka_topic_partition_list_destroy(parts);
	return at;
}

/*
 * After a freeze, reads the announcements made meanwhile before ownership
 * decides whether this instance is alone (ownership_heard_all): up to their
 * end as the broker says now, not as a fetch made before the freeze said.
 */
static void read_since_thaw(struct members *mb)
{
	if (mb->read_to < 0 && clock_mono_ms() - mb->asked_ms >= MEMBERS_INTERVAL_MS &&
	    ownership_unheard_since_thaw(&mb->m->owner)) {
		int64_t lo, hi;
		mb->asked_ms = clock_mono_ms();
		if (rd_kafka_query_watermark_offsets(mb->consumer, mb->topic, 0, &lo, &hi, 2000) ==
		    RD_KAFKA_RESP_ERR_NO_ERROR)
			mb->read_to = hi;
	}
	if (mb->read_to < 0)
		return;
	int64_t at = position(mb);
	if (at == RD_KAFKA_OFFSET_INVALID || at < mb->read_to)
		return;
	mb->read_to = -1;
	ownership_heard_all(&mb->m->owner,
			    cluster_others_heard_since(&mb->m->cluster,
						       clock_wall_ms() - CLUSTER_OTHERS_RECENT_MS));
}

static void *members_main(void *arg)
{
	struct members *mb = arg;
	pthread_setname_np(pthread_self(), "pl-members");
	while (!atomic_load(&mb->stop)) {
		uint64_t generation = ownership_generation(&mb->m->owner);
		announce(mb);
		int64_t until = clock_mono_ms() + MEMBERS_INTERVAL_MS;
		/* Every second, and at once when a rebalance changed what is held. */
		while (!atomic_load(&mb->stop) && clock_mono_ms() < until &&
		       ownership_generation(&mb->m->owner) == generation) {
			rd_kafka_message_t *msg = rd_kafka_consumer_poll(mb->consumer, 100);
			if (msg && !msg->err)
				hear(mb, msg);
			if (msg)
				rd_kafka_message_destroy(msg);
			read_since_thaw(mb);
			rd_kafka_poll(mb->producer, 0);
		}
	}
	return NULL;
}

static rd_kafka_t *client_new(rd_kafka_type_t type, const struct members_options *opt,
			      const char *group, char *err, size_t err_size)
{
	rd_kafka_conf_t *conf = kafka_conf_new(opt->kafka, opt->kafka_count, err, err_size);
	if (!conf || kafka_conf_set(conf, "bootstrap.servers", opt->brokers, err, err_size) ||
	    (group && (kafka_conf_set(conf, "group.id", group, err, err_size) ||
		       kafka_conf_set(conf, "enable.auto.commit", "false", err, err_size))) ||
	    (!group && kafka_conf_set(conf, "queue.buffering.max.messages", "100", err, err_size))) {
		if (conf)
			rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_t *rk = rd_kafka_new(type, conf, err, err_size);
	if (!rk)
		rd_kafka_conf_destroy(conf);
	return rk;
}

int members_start(struct members **out, struct metrics *m, const struct members_options *opt,
		  char *err, size_t err_size)
{
	*out = NULL;
	struct members *mb = calloc(1, sizeof *mb);
	if (!mb) {
		snprintf(err, err_size, "members: out of memory");
		return PL_ENOMEM;
	}
	mb->m = m;
	mb->read_to = -1;
	snprintf(mb->id, sizeof mb->id, "m-%" PRIx64 "-%ld", (uint64_t)clock_wall_ms(),
		 (long)getpid());
	snprintf(mb->url, sizeof mb->url, "%s", opt->url);
	snprintf(mb->group, sizeof mb->group, "%s", opt->group);
	snprintf(mb->topic, sizeof mb->topic, "%s%s", opt->topic, MEMBERS_TOPIC_SUFFIX);
	char group[CLUSTER_ID_MAX + 16];
	snprintf(group, sizeof group, "%s.reader", mb->id); /* commits nothing */
	mb->producer = client_new(RD_KAFKA_PRODUCER, opt, NULL, err, err_size);
	mb->consumer = mb->producer ? client_new(RD_KAFKA_CONSUMER, opt, group, err, err_size) : NULL;
	if (!mb->consumer) {
		if (mb->producer)
			rd_kafka_destroy(mb->producer);
		free(mb);
		return PL_EINVAL;
	}
	cluster_set_self(&m->cluster, mb->id, mb->url);
	ownership_hear_announcements(&m->owner);
	/* The first announcement makes the topic where brokers create topics on use. */
	announce(mb);
	rd_kafka_flush(mb->producer, 2000);
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(parts, mb->topic, 0)->offset =
		RD_KAFKA_OFFSET_TAIL(TAIL_MESSAGES);
	rd_kafka_resp_err_t aerr = rd_kafka_assign(mb->consumer, parts);
	rd_kafka_topic_partition_list_destroy(parts);
	if (aerr || pthread_create(&mb->thread, NULL, members_main, mb)) {
		snprintf(err, err_size, "members: cannot start reading %s: %s", mb->topic,
			 aerr ? rd_kafka_err2str(aerr) : "no thread");
		rd_kafka_destroy(mb->consumer);
		rd_kafka_destroy(mb->producer);
		free(mb);
		return PL_EKAFKA;
	}
	log_info("announcing %s as %s on topic %s", mb->url, mb->id, mb->topic);
	*out = mb;
	return PL_OK;
}

void members_stop(struct members *mb)
{
	if (!mb)
		return;
	atomic_store(&mb->stop, true);
	pthread_join(mb->thread, NULL);
	rd_kafka_consumer_close(mb->consumer);
	rd_kafka_destroy(mb->consumer);
	rd_kafka_flush(mb->producer, 1000);
	rd_kafka_destroy(mb->producer);
	free(mb);
}
