/*
 * http_auth.c — the admin listener's bearer token (docs/http.md).
 *
 * The comparison takes the same time whatever the bytes sent, so timing
 * answers cannot reveal the token a prefix at a time; it depends on the
 * configured token's length only.
 */
#include <string.h>
#include <strings.h>

#include <event2/http.h>

#include "http_internal.h"

static bool same_secret(const char *given, const char *token, size_t token_len)
{
	size_t given_len = strlen(given);
	unsigned char diff = given_len != token_len;
	for (size_t i = 0; i < token_len; i++)
		diff |= (unsigned char)(token[i] ^ given[i < given_len ? i : 0]);
	return diff == 0;
}

bool http_auth_allows(const struct http_server *hs, struct evhttp_request *req)
{
	if (!hs->opt.token)
		return true;
	const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
		return false;
	return same_secret(auth + 7, hs->opt.token, hs->token_len);
}
