/*
 * group_generation.c — librdkafka keeps the group's generation but has no
 * getter for it before 2.4 (rd_kafka_consumer_group_metadata_generation_id).
 * Its serialized group metadata, meant for transactions, carries it right
 * after a magic string: "CGMDv2:" then the generation as a host-order
 * int32 (rdkafka_cgrp.c). Any other layout is reported as unknown rather
 * than guessed; test_config checks the layout against the librdkafka
 * built with.
 */
#include "group_generation.h"

#include <string.h>

#define MAGIC "CGMDv2:"

int32_t group_generation_parse(const void *serialized, size_t len)
{
	size_t magic_len = strlen(MAGIC);
	int32_t generation;
	if (len < magic_len + sizeof generation || memcmp(serialized, MAGIC, magic_len) != 0)
		return -1;
	memcpy(&generation, (const char *)serialized + magic_len, sizeof generation);
	return generation < 0 ? -1 : generation;
}

int32_t group_generation(rd_kafka_t *rk)
{
	rd_kafka_consumer_group_metadata_t *md = rd_kafka_consumer_group_metadata(rk);
	void *buf = NULL;
	size_t len = 0;
	int32_t generation = -1;
	if (!md)
		return -1;
	rd_kafka_error_t *err = rd_kafka_consumer_group_metadata_write(md, &buf, &len);
	if (err)
		rd_kafka_error_destroy(err);
	else
		generation = group_generation_parse(buf, len);
	rd_kafka_mem_free(NULL, buf);
	rd_kafka_consumer_group_metadata_destroy(md);
	return generation;
}
