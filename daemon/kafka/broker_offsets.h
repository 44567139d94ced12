/*
 * broker_offsets.h — where partitions begin and end now, asked of the
 * brokers within a deadline.
 *
 * librdkafka 2.0's rd_kafka_query_watermark_offsets() ignores its timeout
 * when a broker accepts the request and never answers (a hung or stopped
 * broker): the calling thread waited for minutes, and serve with it. A
 * ListOffsets request made through rd_kafka_offsets_for_times(), with the
 * special times "earliest" and "latest", is bounded by its timeout.
 */
#ifndef BROKER_OFFSETS_H
#define BROKER_OFFSETS_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

/*
 * Sets each partition of parts to its first offset (which is
 * RD_KAFKA_OFFSET_BEGINNING) or the offset after its last message
 * (RD_KAFKA_OFFSET_END), or sets its err. Returns the error of the
 * request as a whole: RD_KAFKA_RESP_ERR__TIMED_OUT when the brokers did
 * not answer within timeout_ms, the longest this waits.
 */
rd_kafka_resp_err_t broker_offsets(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts,
				   int64_t which, int timeout_ms);

/* Both watermarks of one partition, each asked within timeout_ms / 2. */
rd_kafka_resp_err_t broker_watermarks(rd_kafka_t *rk, const char *topic, int32_t partition,
				      int64_t *low, int64_t *high, int timeout_ms);

#endif
