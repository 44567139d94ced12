/* broker_offsets.c — partitions' offsets from the brokers, bounded; see broker_offsets.h. */
#include "broker_offsets.h"

rd_kafka_resp_err_t broker_offsets(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts,
				   int64_t which, int timeout_ms)
{
	/* ListOffsets takes a time per partition; these two are Kafka's own
	 * "earliest" and "latest", which librdkafka passes on as they are. */
	for (int i = 0; i < parts->cnt; i++)
		parts->elems[i].offset = which;
	rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk, parts, timeout_ms);
	for (int i = 0; i < parts->cnt && !err; i++)
		if (!parts->elems[i].err && parts->elems[i].offset < 0)
			parts->elems[i].err = RD_KAFKA_RESP_ERR__NO_OFFSET;
	return err;
}

rd_kafka_resp_err_t broker_watermarks(rd_kafka_t *rk, const char *topic, int32_t partition,
				      int64_t *low, int64_t *high, int timeout_ms)
{
	rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(one, topic, partition);
	rd_kafka_resp_err_t err = broker_offsets(rk, one, RD_KAFKA_OFFSET_BEGINNING, timeout_ms / 2);
	if (!err)
		err = one->elems[0].err;
	*low = one->elems[0].offset;
	if (!err)
		err = broker_offsets(rk, one, RD_KAFKA_OFFSET_END, timeout_ms / 2);
	if (!err)
		err = one->elems[0].err;
	*high = one->elems[0].offset;
	rd_kafka_topic_partition_list_destroy(one);
	return err;
}
