/* http_html.c — HTML escaping and URL encoding for the page; see http_html.h. */
#include "http_html.h"

#include <string.h>

#include "http_format.h"

void http_html_add(struct evbuffer *b, const char *s, size_t len)
{
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		const char *rep = NULL;
		switch (s[i]) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		case '\0': rep = "\xEF\xBF\xBD"; break; /* NUL is not allowed in HTML */
		default: continue;
		}
		evbuffer_add(b, s + start, i - start);
		evbuffer_add(b, rep, strlen(rep));
		start = i + 1;
	}
	evbuffer_add(b, s + start, len - start);
}

void http_html_add_money(struct evbuffer *b, __int128 minor, struct pl_str currency)
{
	char buf[80];
	http_format_money(buf, sizeof buf, minor, currency);
	http_html_add(b, buf, strlen(buf));
}

void http_html_add_url_part(struct evbuffer *b, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~')
			evbuffer_add(b, &s[i], 1);
		else
			evbuffer_add_printf(b, "%%%02X", c);
	}
}

char http_html_add_campaign_url(struct evbuffer *b, const char *id, size_t len)
{
	bool dots = (len == 1 && id[0] == '.') || (len == 2 && id[0] == '.' && id[1] == '.');
	evbuffer_add_printf(b, dots ? "/c/?id=" : "/c/");
	http_html_add_url_part(b, id, len);
	return dots ? '&' : '?';
}
