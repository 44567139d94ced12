/*
 * partitioner.h — the gateways' partitioners, by the names librdkafka gives
 * them, so serve can tell which partition a campaign's events go to
 * (ownership.h). Gateways key messages by campaign id: librdkafka's default
 * is consistent_random (CRC-32 of the key), the Java client's is
 * murmur2_random (murmur2 of the key).
 */
#ifndef PARTITIONER_H
#define PARTITIONER_H

#include "ownership.h"

#define PARTITIONER_DEFAULT "consistent_random"

/* The partitioner called name, or NULL when there is none of that name. */
ownership_partitioner partitioner_named(const char *name);

#endif
