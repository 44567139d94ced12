/*
 * stream_gen.c — a generated event stream and its expected totals, for the
 * kill -9 test. The totals are computed here by plain arithmetic over what
 * is generated (kt_campaign_build), not by pledged's projection code.
 *
 *   stream_gen gen CAMPAIGNS PLEDGES EVENTS.jsonl EXPECT [STRAY_EVERY]
 *       writes the events (campaigns interleaved, some re-sent, and after
 *       every STRAY_EVERY rounds of campaigns, default 50, one that must be
 *       rejected) and what to expect: "events N", "rejections N",
 *       then each campaign's totals
 *   stream_gen check EXPECT < replay.jsonl
 *       compares `pledged replay --until-seq` output with EXPECT; exit 0 on match
 *   stream_gen msgpack < event.json > event.msgpack
 *       one JSON event as msgpack bytes, for producing with kcat
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event_codec.h"
#include "kt.h"

#define MAX_CAMPAIGNS 64

static int gen(int campaigns, int pledges, int stray_every, const char *events_path,
	       const char *expect_path)
{
	char **evs[MAX_CAMPAIGNS];
	int count[MAX_CAMPAIGNS], valid = 0, longest = 0, rejected = 0;
	struct kt_expect e[MAX_CAMPAIGNS];
	FILE *out = fopen(events_path, "w"), *exp = fopen(expect_path, "w");
	if (!out || !exp || campaigns > MAX_CAMPAIGNS)
		return 2;
	for (int c = 0; c < campaigns; c++) {
		char id[32];
		snprintf(id, sizeof id, "k9-%d", c);
		count[c] = kt_campaign_build(id, pledges, &evs[c], &e[c]);
		valid += count[c];
		longest = count[c] > longest ? count[c] : longest;
	}
	for (int i = 0; i < longest; i++) {
		for (int c = 0; c < campaigns; c++) {
			if (i >= count[c])
				continue;
			fprintf(out, "%s\n", evs[c][i]);
			if (i % 17 == 5) /* a gateway re-sending: must be ignored */
				fprintf(out, "%s\n", evs[c][i - 3]);
		}
		/* must be rejected: the campaign does not exist */
		if (i % stray_every == 7 % stray_every && ++rejected)
			fprintf(out,
				"{\"v\":1,\"type\":\"pledge.created\",\"id\":\"stray-%d\",\"at\":1700000000000,"
				"\"campaign\":\"nowhere\",\"pledge\":\"p%d\",\"supporter\":\"s\","
				"\"amount\":5,\"currency\":\"EUR\"}\n",
				i, i);
	}
	fprintf(exp, "events %d\nrejections %d\n", valid, rejected);
	for (int c = 0; c < campaigns; c++) {
		fprintf(exp, "%s %lld %lld %lld %lld\n", e[c].id, (long long)e[c].raised,
			(long long)e[c].pledges, (long long)e[c].supporters, (long long)e[c].comments);
		kt_events_free(evs[c], count[c]);
	}
	return (fclose(out) || fclose(exp)) ? 2 : 0;
}

static int check(const char *expect_path)
{
	FILE *exp = fopen(expect_path, "r");
	struct kt_expect e[MAX_CAMPAIGNS];
	int n = 0, valid, rejected, found[MAX_CAMPAIGNS] = {0}, bad = 0;
	char line[4096];
	if (!exp || fscanf(exp, "events %d\nrejections %d\n", &valid, &rejected) != 2)
		return 2;
	while (n < MAX_CAMPAIGNS &&
	       fscanf(exp, "%31s %lld %lld %lld %lld\n", e[n].id, (long long *)&e[n].raised,
		      (long long *)&e[n].pledges, (long long *)&e[n].supporters,
		      (long long *)&e[n].comments) == 5)
		n++;
	fclose(exp);
	while (fgets(line, sizeof line, stdin)) {
		json_t *j = json_loads(line, 0, NULL);
		const char *id = json_string_value(json_object_get(j, "id"));
		for (int c = 0; id && c < n; c++) {
			if (strcmp(id, e[c].id) != 0)
				continue;
			found[c] = 1;
			long long got[4] = {json_integer_value(json_object_get(j, "raised")),
					    json_integer_value(json_object_get(j, "pledges")),
					    json_integer_value(json_object_get(j, "supporters")),
					    json_integer_value(json_object_get(j, "comments"))};
			if (got[0] != e[c].raised || got[1] != e[c].pledges ||
			    got[2] != e[c].supporters || got[3] != e[c].comments) {
				fprintf(stderr, "%s: got %lld %lld %lld %lld, want %lld %lld %lld %lld\n",
					id, got[0], got[1], got[2], got[3], (long long)e[c].raised,
					(long long)e[c].pledges, (long long)e[c].supporters,
					(long long)e[c].comments);
				bad++;
			}
		}
		json_decref(j);
	}
	for (int c = 0; c < n; c++)
		if (!found[c]) {
			fprintf(stderr, "%s: missing\n", e[c].id);
			bad++;
		}
	return bad ? 1 : 0;
}

static int to_msgpack(void)
{
	char text[16384], err[160];
	size_t len = fread(text, 1, sizeof text, stdin);
	msgpack_sbuffer buf;
	msgpack_sbuffer_init(&buf);
	int rc = pl_json_to_msgpack(text, len, &buf, err, sizeof err);
	if (rc == 0)
		fwrite(buf.data, 1, buf.size, stdout);
	else
		fprintf(stderr, "stream_gen: %s\n", err);
	msgpack_sbuffer_destroy(&buf);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "msgpack") == 0)
		return to_msgpack();
	if ((argc == 6 || argc == 7) && strcmp(argv[1], "gen") == 0)
		return gen(atoi(argv[2]), atoi(argv[3]), argc == 7 ? atoi(argv[6]) : 50, argv[4],
			   argv[5]);
	if (argc == 3 && strcmp(argv[1], "check") == 0)
		return check(argv[2]);
	fprintf(stderr, "usage: stream_gen gen CAMPAIGNS PLEDGES EVENTS EXPECT [STRAY_EVERY] | "
			"check EXPECT | msgpack\n");
	return 2;
}
