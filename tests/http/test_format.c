/* test_format.c — money and dates as the campaign page shows them (table-driven). */
#include <string.h>

#include "check.h"
#include "http_format.h"

static struct pl_str cur(const char *code)
{
	return (struct pl_str){code, (uint32_t)strlen(code)};
}

int main(void)
{
	static const struct {
		const char *currency;
		__int128 minor;
		const char *want;
	} money[] = {
		{"GBP", 5804100, "£58,041"},
		{"GBP", 5804150, "£58,041.50"},
		{"GBP", 5804101, "£58,041.01"},
		{"GBP", 0, "£0"},
		{"GBP", 99, "£0.99"},
		{"EUR", 5, "€0.05"},
		{"USD", 100000000, "$1,000,000"},
		{"USD", 12345678901234, "$123,456,789,012.34"},
		{"JPY", 1200, "¥1,200"},
		{"JPY", 5, "¥5"},
		{"BHD", 1250, "BHD 1.250"},
		{"BHD", 1000, "BHD 1"},
		{"BHD", 1, "BHD 0.001"},
		{"KWD", 123456789, "KWD 123,456.789"},
		{"CHF", 100050, "CHF 1,000.50"},
		{"GBP", -250, "-£2.50"},
		{"GBP", INT64_MIN, "-£92,233,720,368,547,758.08"},
		/* Platform totals pass INT64_MAX: two campaigns at the most each may hold. */
		{"GBP", (__int128)INT64_MAX * 2 + 1, "£184,467,440,737,095,516.15"},
		{"JPY", (__int128)INT64_MAX * 1000, "¥9,223,372,036,854,775,807,000"},
	};
	for (size_t i = 0; i < sizeof money / sizeof money[0]; i++) {
		char buf[80];
		size_t len = http_format_money(buf, sizeof buf, money[i].minor, cur(money[i].currency));
		CHECK_STR(buf, money[i].want);
		CHECK_INT(len, strlen(money[i].want));
	}
	char small[4];
	CHECK_INT(http_format_money(small, sizeof small, 5804100, cur("GBP")), strlen("£58,041"));
	CHECK_INT(strlen(small), 3);

	CHECK_INT(http_currency_decimals(cur("JPY")), 0);
	CHECK_INT(http_currency_decimals(cur("BHD")), 3);
	CHECK_INT(http_currency_decimals(cur("GBP")), 2);
	CHECK_INT(http_currency_decimals(cur("EUR")), 2);
	CHECK_STR(http_currency_symbol(cur("XYZ")), "");

	static const struct {
		int64_t ms;
		const char *want;
	} dates[] = {
		{1579125600000, "15th January 2020"},   {1579780800000, "23rd January 2020"},
		{1577836800000, "1st January 2020"},    {1577923200000, "2nd January 2020"},
		{1578614400000, "10th January 2020"},   {1578700800000, "11th January 2020"},
		{1578787200000, "12th January 2020"},   {1578873600000, "13th January 2020"},
		{1579564800000, "21st January 2020"},   {1579651200000, "22nd January 2020"},
		{1580428800000, "31st January 2020"},   {0, "1st January 1970"},
		{1582934400000, "29th February 2020"},  {1609459199999, "31st December 2020"},
	};
	for (size_t i = 0; i < sizeof dates / sizeof dates[0]; i++) {
		char buf[64];
		http_format_date(buf, sizeof buf, dates[i].ms);
		CHECK_STR(buf, dates[i].want);
	}
	char iso[32];
	http_format_iso(iso, sizeof iso, 1579125600000);
	CHECK_STR(iso, "2020-01-15T22:00:00Z");
	return check_done();
}
