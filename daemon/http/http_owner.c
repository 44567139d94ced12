/*
 * http_owner.c — answering only for the campaigns this instance holds: in a
 * consumer group, the figures of a campaign whose partition another
 * instance holds stopped when it left (ownership.h); that instance, when
 * it announced itself (cluster.h), gets the request instead.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "clock.h"
#include "http_internal.h"
#include "http_query.h"
#include "http_reply.h"

/* Longest path and query sent on in a Location, encoded; longer ones get the 421. */
#define LOCATION_URI_MAX 2048

bool http_owns(const struct http_request *r, const char *id, size_t len)
{
	int32_t partition, count;
	return ownership_view_of(&r->owner, id, len, &partition, &count) == OWNERSHIP_OWNED;
}

/*
 * Appends uri to url (of size bytes, holding a string), each byte a URI
 * may not hold as it is (controls, space, non-ASCII, "#<>\\^`{|}, and a
 * '%' that starts no escape) as %XX: the request line brings them raw,
 * and a Location with them is no header. False when it does not fit.
 */
static bool append_uri(char *url, size_t size, const char *uri)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(url);
	for (const unsigned char *p = (const unsigned char *)uri; *p; p++) {
		bool raw = *p > ' ' && *p < 0x7f && !strchr("\"#<>\\^`{|}", *p) &&
			   (*p != '%' || (isxdigit(p[1]) && isxdigit(p[2])));
		if (n + (raw ? 1 : 3) >= size)
			return false;
		if (raw) {
			url[n++] = (char)*p;
		} else {
			url[n++] = '%';
			url[n++] = hex[*p >> 4];
			url[n++] = hex[*p & 15];
		}
	}
	url[n] = '\0';
	return true;
}

static void reply_waiting(struct http_request *r)
{
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Retry-After", "1");
	http_reply_error(r, 503, "no partitions assigned to this instance (it is starting, its "
				 "consumer group is rebalancing, or it did not run for longer than the "
				 "group's session timeout); retry shortly");
}

bool http_reply_if_waiting(struct http_request *r)
{
	char behind[128];
	if (!r->owner.in_force) {
		reply_waiting(r);
		return true;
	}
	if (!ownership_view_say_behind(&r->owner, behind, sizeof behind))
		return false;
	/* Left out, their campaigns would seem not to exist; counted, they
	 * would be older than the group already gave. */
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Retry-After", "1");
	http_reply_error(r, 503, "catching_up: of the partitions this instance holds, %s behind what "
				 "the consumer group had read (X-Pledged-Catching-Up); retry shortly",
			 behind);
	return true;
}

/*
 * Answers for a campaign of a partition another instance of the group
 * holds: 307 to that instance when it announced itself lately (cluster.h),
 * else 421 (its figures here stopped when the partition left); or, while
 * no assignment is in force (before the first, or in a rebalance), 503;
 * or 503 catching_up for a partition held but behind what the group had
 * read (ownership_set_behind). True when it answered.
 */
bool http_reply_if_not_owned(struct http_request *r)
{
	int32_t partition, count;
	struct metrics *m = r->w->hs->m;
	enum ownership_answer a = ownership_view_of(&r->owner, r->id, r->id_len, &partition, &count);
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
	char url[CLUSTER_URL_MAX + LOCATION_URI_MAX];
	/* A target in absolute form ("http://HOST/PATH", RFC 9112 3.2.2) names
	 * this host: only its path and query go on. */
	const char *target = evhttp_request_get_uri(r->req), *authority = strstr(target, "://");
	if (target[0] != '/' && authority)
		target = authority + 3 + strcspn(authority + 3, "/");
	if (a == OWNERSHIP_WAITING) {
		reply_waiting(r);
	} else if (a == OWNERSHIP_CATCHING_UP) {
		evhttp_add_header(h, "Retry-After", "1");
		http_reply_error(r, 503, "catching_up: this instance holds the campaign's partition (%d) "
					 "but its data dir has not yet read as far as the consumer group "
					 "had (the partition came back from another instance, or this "
					 "one is new): its figures here are older than those already "
					 "given; retry shortly",
				 (int)partition);
	} else if (a == OWNERSHIP_NOT_OWNED &&
		   cluster_owner(&m->cluster, partition, count, clock_wall_ms(), r->owner.changed_ms,
				 r->owner.group_generation, url, CLUSTER_URL_MAX) &&
		   append_uri(url, sizeof url, target) &&
		   evhttp_add_header(h, "Location", url) == 0) { /* the same path and query, there */
		evhttp_add_header(h, "Cache-Control", "no-store");
		http_reply_error(r, 307, "not_owned: this campaign's partition (%d) is held by the "
					 "instance at the Location given", (int)partition);
	} else if (a == OWNERSHIP_NOT_OWNED) {
		evhttp_add_header(h, "Cache-Control", "no-store");
		http_reply_error(r, 421, "not_owned: this campaign's partition (%d) is held by another "
					 "instance of the consumer group; X-Pledged-Partitions says which "
					 "this one holds",
				 (int)partition);
	}
	return a != OWNERSHIP_OWNED;
}

static json_t *generation_json(int32_t generation)
{
	return generation < 0 ? json_null() : json_integer(generation);
}

/* GET /v1/cluster: the instances that announced themselves, and this one. */
void http_cluster(struct http_request *r)
{
	struct http_query q;
	char err[160];
	if (http_query_parse(r->query, 0, true, &q, err, sizeof err)) {
		http_reply_error(r, 400, "%s", err);
		return;
	}
	struct cluster_member *copy = malloc(CLUSTER_MAX_MEMBERS * sizeof *copy);
	char self[CLUSTER_ID_MAX], held[256];
	if (!copy) {
		http_reply_error(r, 503, "out of memory");
		return;
	}
	size_t n = cluster_members(&r->w->hs->m->cluster, copy, CLUSTER_MAX_MEMBERS, self, sizeof self);
	int64_t now = clock_wall_ms();
	json_t *list = json_array();
	for (size_t i = 0; list && i < n; i++) {
		json_t *parts = json_array();
		for (int32_t p = 0; parts && p < copy[i].count; p++)
			if (copy[i].owned[p / 64] >> (p % 64) & 1)
				json_array_append_new(parts, json_integer(p));
		json_array_append_new(list, json_pack("{s:s,s:s,s:o,s:i,s:o,s:I,s:b,s:b}", "id",
						      copy[i].id, "url", copy[i].url, "partitions",
						      parts, "of", (int)copy[i].count, "generation",
						      generation_json(copy[i].group_generation),
						      "heard_ms_ago",
						      (json_int_t)(now - copy[i].heard_ms), "fresh",
						      now - copy[i].said_ms <= CLUSTER_FRESH_MS,
						      "self", strcmp(copy[i].id, self) == 0));
	}
	free(copy);
	ownership_view_describe(&r->owner, held, sizeof held);
	http_reply_json(r, 200,
			list ? json_pack("{s:s?,s:s,s:o,s:o}", "self", self[0] ? self : NULL, "holds",
					 held, "generation", generation_json(r->owner.group_generation),
					 "members", list)
			     : NULL,
			NULL);
}
