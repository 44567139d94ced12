/*
 * cmd_publish.c — `pledged publish`: JSON-lines events on stdin, produced to
 * Kafka as msgpack with the campaign as key. For gateways' integration tests
 * and demos; it does not validate events, so bad ones can be sent on purpose.
 */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "event_codec.h"
#include "pl_error.h"
#include "producer.h"

static const char usage[] =
	"Usage: pledged publish [--brokers HOST:PORT[,...] | --data DIR] [--topic NAME]\n"
	"                       [--config FILE] [--kafka KEY=VALUE]... < events.jsonl\n"
	"\n"
	"Read events as JSON lines on stdin, encode each as a msgpack map and produce\n"
	"it to Kafka, keyed by its \"campaign\" field (\"supporter\" for\n"
	"supporter.forgotten; no key when it has none). Waits until the broker has\n"
	"acknowledged every message. A line must be a JSON object that msgpack can\n"
	"hold, in every key: an integer beyond 64 bits (signed) or a number beyond a\n"
	"double makes the line one to report and skip, even in a key pledged ignores,\n"
	"as does a line longer than 1 MiB, which no event is. Lines may end in CRLF;\n"
	"a UTF-8 byte order mark before the first is ignored.\n"
	"\n" PRODUCER_USAGE
	"  -h, --help         show this help\n"
	"\n"
	"Exit status: 0 every line delivered, 1 some lines were not JSON objects or\n"
	"were not delivered (each is reported with its line number), or stdin could\n"
	"not be read to its end, 2 usage, 3 no broker given and no embedded broker\n"
	"address in the data dir.\n";

/* The message key: the field the event's type is keyed by ("campaign", or
 * "supporter" for supporter.forgotten), when it is a string; else none. */
static const char *event_key(json_t *obj, size_t *len)
{
	json_t *type = json_is_object(obj) ? json_object_get(obj, "type") : NULL;
	int t = json_is_string(type) ? pl_type_from_name(json_string_value(type),
							   json_string_length(type))
				     : -1;
	const char *field = pl_field_defs[t >= 0 ? pl_type_defs[t].keyed_by : PL_F_CAMPAIGN].key;
	json_t *v = json_is_object(obj) ? json_object_get(obj, field) : NULL;
	if (!json_is_string(v))
		return NULL;
	*len = json_string_length(v);
	return json_string_value(v);
}

static int produce_line(struct producer *p, const char *line, size_t len, uint64_t lineno,
			msgpack_sbuffer *buf)
{
	char err[200], what[32];
	snprintf(what, sizeof what, "line %" PRIu64, lineno);
	msgpack_sbuffer_clear(buf);
	if (pl_json_to_msgpack(line, len, buf, err, sizeof err)) {
		fprintf(stderr, "pledged publish: %s not sent: %s\n", what, err);
		return PL_EINVAL;
	}
	/* As pl_json_to_msgpack reads it: a \u0000 anywhere must not cost the key. */
	json_t *obj = json_loadb(line, len, JSON_ALLOW_NUL, NULL);
	size_t key_len = 0;
	const char *key = event_key(obj, &key_len);
	int rc = producer_send(p, RD_KAFKA_PARTITION_UA, key, key_len, buf->data, buf->size, what);
	json_decref(obj);
	return rc;
}

int cmd_publish(int argc, char **argv)
{
	static const struct option opts[] = {PRODUCER_OPTIONS, {"help", no_argument, NULL, 'h'}, {0}};
	struct producer p;
	int c, rc = producer_init(&p, "publish", argc, argv, opts);
	if (rc)
		return rc;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage, stdout);
			return CLI_OK;
		}
		if ((rc = producer_option(&p, c, optarg)) != 1)
			return rc ? rc : cli_option_error("publish");
	}
	if (optind < argc)
		return cli_usage_error("publish", "unexpected argument '%s'", argv[optind]);
	if (!cli_stdin_open("publish"))
		return CLI_MISMATCH;
	if ((rc = producer_start(&p)))
		return rc;

	msgpack_sbuffer buf;
	msgpack_sbuffer_init(&buf);
	char *line = malloc(CLI_LINE_MAX + 1);
	ssize_t len;
	bool whole;
	if (!line)
		fprintf(stderr, "pledged publish: out of memory\n");
	uint64_t lineno = 0, sent = 0, bad = 0;
	while (line && (len = cli_read_line(line, &whole)) >= 0) {
		lineno++;
		if (!whole) {
			cli_skip_long_line("publish", lineno);
			bad++;
			continue;
		}
		size_t json_len = (size_t)len;
		const char *json = cli_line_json(line, &json_len, lineno);
		if (json_len == 0)
			continue;
		if (produce_line(&p, json, json_len, lineno, &buf))
			bad++;
		else
			sent++;
	}
	bool unread = !line || !cli_stdin_read_whole("publish", lineno);
	free(line);
	msgpack_sbuffer_destroy(&buf);
	return producer_finish(&p, sent, bad) && !unread ? CLI_OK : CLI_MISMATCH;
}
