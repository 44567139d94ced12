/*
 * members.h — the instances of a consumer group telling each other where
 * they are: with advertise_url set, serve announces, every second and after
 * each rebalance, its HTTP address and the partitions it holds on the topic
 * <topic>.members (partition 0, keyed by its own id), and reads the
 * announcements of its group's members into the cluster view (cluster.h);
 * other groups on the topic (replicas with a group of their own) announce
 * there too, and are not members. So any instance can send
 * a request for a campaign it does not hold to the instance that does, as
 * Kafka Streams does with application.server, through Kafka alone.
 *
 * Announcements rather than the group's own metadata: librdkafka has no
 * way to add user data to a member's subscription, and its mock broker,
 * which the tests run against, answers no DescribeGroups.
 */
#ifndef MEMBERS_H
#define MEMBERS_H

#include <stdbool.h>
#include <stddef.h>

#include "kafka_conf.h"
#include "metrics.h"

#define MEMBERS_TOPIC_SUFFIX ".members"
#define MEMBERS_INTERVAL_MS 1000

struct members_options {
	const char *brokers;
	const char *topic; /* the topic consumed: announcements go to topic + ".members" */
	const char *group; /* the consumer group: other groups' announcements are not heard */
	const char *url;   /* this instance's public HTTP address, e.g. http://10.0.0.5:8080 */
	const struct kafka_prop *kafka; /* pass-through properties (security) */
	size_t kafka_count;
};

struct members;

/*
 * Whether url is an address to send readers to: http(s)://HOST[:PORT],
 * nothing but the host and port (no user, path, query or fragment) and no
 * byte a Location header or a URI may not hold as it is. advertise_url and
 * every announcement heard must be one.
 */
bool members_url_plain(const char *url);

/* Starts announcing and listening. 0, or an error with a message in err. */
int members_start(struct members **out, struct metrics *m, const struct members_options *opt,
		  char *err, size_t err_size);

/* Stops; NULL is fine. */
void members_stop(struct members *mb);

#endif
