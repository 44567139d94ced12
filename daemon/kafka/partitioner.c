/* partitioner.c — librdkafka's own partitioners for a key; see partitioner.h. */
#include "partitioner.h"

#include <librdkafka/rdkafka.h>
#include <string.h>

/* With a key (campaign ids are never empty) neither uses the topic or opaques. */
static int32_t consistent(const void *key, size_t len, int32_t count)
{
	return rd_kafka_msg_partitioner_consistent_random(NULL, key, len, count, NULL, NULL);
}

static int32_t murmur2(const void *key, size_t len, int32_t count)
{
	return rd_kafka_msg_partitioner_murmur2_random(NULL, key, len, count, NULL, NULL);
}

ownership_partitioner partitioner_named(const char *name)
{
	if (strcmp(name, "consistent_random") == 0)
		return consistent;
	if (strcmp(name, "murmur2_random") == 0)
		return murmur2;
	return NULL;
}
