/*
 * embedded_broker.h — a Kafka-protocol broker inside `serve`, for local use.
 *
 * When no brokers are configured, serve starts librdkafka's mock cluster
 * (one broker, in this process, listening on a free 127.0.0.1 port), creates
 * the topic, and writes the address to DATA/broker.address and the topic
 * to DATA/broker.topic, so that `pledged publish` and kcat can reach it
 * (the mock broker makes any topic a producer names: publish must use
 * serve's). It is for demos and local
 * development only: everything lives in memory and is gone when serve stops,
 * and it keeps only about 5 MiB per partition (older messages are dropped,
 * like retention). Because it restarts empty while the data dir keeps its
 * offsets, each start gets a fresh incarnation id for the consumer to store
 * with offsets (the mock's own cluster id can repeat across restarts).
 */
#ifndef EMBEDDED_BROKER_H
#define EMBEDDED_BROKER_H

#include <stddef.h>

/* Names of the address and topic files inside the data dir. */
#define EMBEDDED_BROKER_ADDRESS_FILE "broker.address"
#define EMBEDDED_BROKER_TOPIC_FILE "broker.topic"

struct embedded_broker;

/*
 * Starts the broker with topic (partitions partitions) and writes the
 * topic, then its address, into data_dir. Returns 0, or with a message in
 * err PL_EIO (the address could not be written into data_dir), PL_EKAFKA
 * (the broker did not start) or PL_ENOMEM.
 */
int embedded_broker_start(struct embedded_broker **out, const char *topic, int partitions,
			  const char *data_dir, char *err, size_t err_size);

/* "127.0.0.1:PORT", valid until embedded_broker_stop(). */
const char *embedded_broker_address(const struct embedded_broker *eb);

/* A cluster id unique to this start of the broker. */
const char *embedded_broker_incarnation(const struct embedded_broker *eb);

/* Removes the address and topic files and stops the broker (messages are lost). NULL is fine. */
void embedded_broker_stop(struct embedded_broker *eb);

/*
 * Removes the address and topic files a serve killed left in data_dir:
 * for a process holding the data dir's writer lock, when no serve runs
 * there, so that publish and forget do not take them for a running one.
 */
void embedded_broker_forget(const char *data_dir);

/*
 * Reads the address a running serve wrote into data_dir. Returns 0,
 * PL_ENOTFOUND (no file: serve not running with an embedded broker) or
 * PL_EIO/PL_EINVAL.
 */
int embedded_broker_read_address(const char *data_dir, char *buf, size_t size);

/* Reads the topic a running serve consumes from its embedded broker; as read_address. */
int embedded_broker_read_topic(const char *data_dir, char *buf, size_t size);

#endif
