/*
 * cmd_forget.c — `pledged forget`: the right to erasure, asked through
 * Kafka. It publishes one supporter.forgotten event to every partition of
 * the topic, under one event id: whichever instances consume the topic,
 * each sees it on the partitions it owns and applies each copy once, in
 * order with the events of its partition (slot.h says how the copies are
 * told apart), so every message sent before it is erased.
 */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "commands.h"
#include "event_codec.h"
#include "event_decode.h"
#include "pl_error.h"
#include "producer.h"

static const char usage[] =
	"Usage: pledged forget --supporter ID [--by TEXT] [--id EVENT_ID]\n"
	"                      [--brokers HOST:PORT[,...] | --data DIR] [--topic NAME]\n"
	"                      [--config FILE] [--kafka KEY=VALUE]...\n"
	"\n"
	"Erase a supporter's personal data: publish a supporter.forgotten event, keyed\n"
	"by the supporter, to every partition of the topic (each copy erases what its\n"
	"partition held before it). When serve applies it, the names on the\n"
	"supporter's pledges and comments, the texts of their comments and every\n"
	"rejected message naming them are overwritten in the data dir; their\n"
	"comments show as removed; money and counts stay. The erasure\n"
	"stays in the log (when, by which message and --by whom), never what was\n"
	"erased. Old copies of the bytes can remain in LMDB's free pages until\n"
	"'pledged compact'; Kafka keeps the original messages until its retention\n"
	"passes, and backups until they are rotated.\n"
	"\n"
	"  --supporter ID     the supporter id (as in their pledges)\n"
	"  --by TEXT          who asked, kept with the erasure (e.g. a ticket number)\n"
	"  --id EVENT_ID      the event id (default: forget-MILLISECONDS-PID); sending\n"
	"                     the same id again is ignored, and so is an id used\n"
	"                     before for anything else (serve logs a warning)\n" PRODUCER_USAGE
	"  -h, --help         show this help\n"
	"\n"
	"Exit status: 0 delivered to every partition, 1 not delivered everywhere\n"
	"(run it again with the same --id), 2 usage, 3 no broker given and no\n"
	"embedded broker address in the data dir.\n";

/* The event as msgpack in buf, checked as serve will check it. A cli_exit. */
static int encode(const char *supporter, const char *by, const char *id, msgpack_sbuffer *buf)
{
	json_t *ev = json_pack("{s:i,s:s,s:s,s:I,s:s}", "v", PL_SCHEMA_VERSION, "type",
			       "supporter.forgotten", "id", id, "at", (json_int_t)clock_wall_ms(),
			       "supporter", supporter);
	if (ev && by && json_object_set_new(ev, "by", json_string(by))) {
		json_decref(ev);
		ev = NULL;
	}
	char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	json_decref(ev);
	if (!text)
		return cli_usage_error("forget", "the supporter id, --by and --id must be UTF-8");
	char err[200];
	int rc = pl_json_to_msgpack(text, strlen(text), buf, err, sizeof err);
	free(text);
	if (rc)
		return cli_usage_error("forget", "%s", err);
	struct pl_event decoded;
	struct pl_rejection rej;
	if (pl_event_decode(buf->data, buf->size, supporter, strlen(supporter), &decoded, &rej))
		return cli_usage_error("forget", "%s (%s)", rej.detail, pl_reason_code(rej.reason));
	return CLI_OK;
}

/* How many partitions the topic has; 0 when it cannot be learnt. */
static int partition_count(struct producer *p)
{
	rd_kafka_topic_t *topic = rd_kafka_topic_new(p->rk, p->cfg.topic, NULL);
	const struct rd_kafka_metadata *md = NULL;
	int n = 0;
	rd_kafka_resp_err_t err = topic ? rd_kafka_metadata(p->rk, 0, topic, &md, 10000)
					: RD_KAFKA_RESP_ERR__INVALID_ARG;
	if (!err && md->topic_cnt == 1 && !md->topics[0].err)
		n = md->topics[0].partition_cnt;
	else
		fprintf(stderr, "pledged forget: cannot learn the partitions of topic %s at %s: %s\n",
			p->cfg.topic, p->brokers,
			rd_kafka_err2str(err ? err : md->topic_cnt ? md->topics[0].err : err));
	if (md)
		rd_kafka_metadata_destroy(md);
	if (topic)
		rd_kafka_topic_destroy(topic);
	return n;
}

int cmd_forget(int argc, char **argv)
{
	static const struct option opts[] = {PRODUCER_OPTIONS,
					     {"supporter", required_argument, NULL, 's'},
					     {"by", required_argument, NULL, 'y'},
					     {"id", required_argument, NULL, 'i'},
					     {"help", no_argument, NULL, 'h'},
					     {0}};
	const char *supporter = NULL, *by = NULL, *id = NULL;
	char own_id[64];
	struct producer p;
	int c, rc = producer_init(&p, "forget", argc, argv, opts);
	if (rc)
		return rc;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': supporter = optarg; break;
		case 'y': by = optarg; break;
		case 'i': id = optarg; break;
		case 'h': fputs(usage, stdout); return CLI_OK;
		default:
			if ((rc = producer_option(&p, c, optarg)) != 1)
				return rc ? rc : cli_option_error("forget");
		}
	}
	if (optind < argc)
		return cli_usage_error("forget", "unexpected argument '%s'", argv[optind]);
	if (!supporter)
		return cli_usage_error("forget", "--supporter is required");
	if (!id) {
		snprintf(own_id, sizeof own_id, "forget-%" PRId64 "-%ld", clock_wall_ms(),
			 (long)getpid());
		id = own_id;
	}
	msgpack_sbuffer buf;
	msgpack_sbuffer_init(&buf);
	if ((rc = encode(supporter, by, id, &buf)) || (rc = producer_start(&p))) {
		msgpack_sbuffer_destroy(&buf);
		return rc;
	}
	int partitions = partition_count(&p);
	uint64_t sent = 0;
	for (int32_t i = 0; i < partitions; i++) {
		char what[48];
		snprintf(what, sizeof what, "partition %" PRId32, i);
		if (producer_send(&p, i, supporter, strlen(supporter), buf.data, buf.size, what) == 0)
			sent++;
	}
	msgpack_sbuffer_destroy(&buf);
	bool ok = producer_finish(&p, sent, (uint64_t)partitions - sent) && partitions > 0;
	if (ok)
		printf("%s\n", id);
	else
		fprintf(stderr, "pledged forget: run it again with --id %s so that instances which "
				"applied it already ignore it\n", id);
	return ok ? CLI_OK : CLI_MISMATCH;
}
