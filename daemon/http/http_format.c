/* http_format.c — money in a currency's minor units, and dates, for display. */
#include "http_format.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ISO 4217 currencies whose minor unit is not 1/100. */
static const struct {
	char code[4];
	int decimals;
} minor_units[] = {
	{"BIF", 0}, {"CLP", 0}, {"DJF", 0}, {"GNF", 0}, {"ISK", 0}, {"JPY", 0}, {"KMF", 0},
	{"KRW", 0}, {"PYG", 0}, {"RWF", 0}, {"UGX", 0}, {"UYI", 0}, {"VND", 0}, {"VUV", 0},
	{"XAF", 0}, {"XOF", 0}, {"XPF", 0}, {"BHD", 3}, {"IQD", 3}, {"JOD", 3}, {"KWD", 3},
	{"LYD", 3}, {"OMR", 3}, {"TND", 3}, {"CLF", 4}, {"UYW", 4},
};

static const struct {
	char code[4];
	const char *symbol;
} symbols[] = {
	{"GBP", "£"}, {"EUR", "€"}, {"USD", "$"}, {"JPY", "¥"}, {"INR", "₹"}, {"KRW", "₩"},
};

static bool is_code(struct pl_str s, const char *code)
{
	return s.len == 3 && memcmp(s.ptr, code, 3) == 0;
}

int http_currency_decimals(struct pl_str currency)
{
	for (size_t i = 0; i < sizeof minor_units / sizeof minor_units[0]; i++)
		if (is_code(currency, minor_units[i].code))
			return minor_units[i].decimals;
	return 2;
}

const char *http_currency_symbol(struct pl_str currency)
{
	for (size_t i = 0; i < sizeof symbols / sizeof symbols[0]; i++)
		if (is_code(currency, symbols[i].code))
			return symbols[i].symbol;
	return "";
}

size_t http_format_money(char *buf, size_t size, __int128 minor, struct pl_str currency)
{
	int decimals = http_currency_decimals(currency);
	unsigned __int128 scale = 1;
	for (int i = 0; i < decimals; i++)
		scale *= 10;
	/* Unsigned magnitude: the most negative value has no positive twin. */
	unsigned __int128 mag = minor < 0 ? (unsigned __int128)0 - (unsigned __int128)minor
					  : (unsigned __int128)minor;
	unsigned __int128 whole = mag / scale;
	uint64_t frac = (uint64_t)(mag % scale);

	/* printf has no 128-bit conversion: digits from the right, a comma every three. */
	char grouped[64];
	size_t g = sizeof grouped - 1;
	grouped[g] = '\0';
	int n = 0;
	do {
		if (n > 0 && n % 3 == 0)
			grouped[--g] = ',';
		grouped[--g] = (char)('0' + (int)(whole % 10));
		whole /= 10;
		n++;
	} while (whole);

	const char *symbol = http_currency_symbol(currency);
	char prefix[16];
	if (*symbol)
		snprintf(prefix, sizeof prefix, "%s", symbol);
	else
		snprintf(prefix, sizeof prefix, "%.*s ", (int)(currency.len < 8 ? currency.len : 8),
			 currency.ptr);
	/* Whole amounts read better without ".00", as on the seed page ("£58,041"). */
	const char *digits = grouped + g;
	int len = frac ? snprintf(buf, size, "%s%s%s.%0*" PRIu64, minor < 0 ? "-" : "", prefix, digits,
				  decimals, frac)
		       : snprintf(buf, size, "%s%s%s", minor < 0 ? "-" : "", prefix, digits);
	return len < 0 ? 0 : (size_t)len;
}

static const char *const months[12] = {"January", "February", "March",     "April",
				       "May",     "June",     "July",      "August",
				       "September", "October", "November", "December"};

static bool to_utc(int64_t ms, struct tm *tm)
{
	time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
	return gmtime_r(&secs, tm) != NULL;
}

size_t http_format_date(char *buf, size_t size, int64_t ms)
{
	struct tm tm;
	if (!to_utc(ms, &tm)) {
		int len = snprintf(buf, size, "?");
		return (size_t)len;
	}
	int d = tm.tm_mday;
	const char *suffix = (d % 100 >= 11 && d % 100 <= 13) ? "th"
			     : d % 10 == 1			? "st"
			     : d % 10 == 2			? "nd"
			     : d % 10 == 3			? "rd"
								: "th";
	int len = snprintf(buf, size, "%d%s %s %d", d, suffix, months[tm.tm_mon], tm.tm_year + 1900);
	return len < 0 ? 0 : (size_t)len;
}

size_t http_format_iso(char *buf, size_t size, int64_t ms)
{
	struct tm tm;
	if (!to_utc(ms, &tm)) {
		int len = snprintf(buf, size, "1970-01-01T00:00:00Z");
		return (size_t)len;
	}
	int len = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
			   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return len < 0 ? 0 : (size_t)len;
}
