/*
 * group_generation.h — the consumer group's generation, the number the
 * group coordinator raises at every rebalance. All members of one
 * generation hold disjoint partitions, so /v1/cluster shows it beside what
 * each member announces.
 */
#ifndef GROUP_GENERATION_H
#define GROUP_GENERATION_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

/* The generation rk's group is at now, or -1 when it is not known. */
int32_t group_generation(rd_kafka_t *rk);

/*
 * The generation inside a serialized rd_kafka_consumer_group_metadata, or
 * -1 when it is not in a layout this knows.
 */
int32_t group_generation_parse(const void *serialized, size_t len);

#endif
