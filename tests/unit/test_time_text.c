/*
 * test_time_text.c — the time forms the HTTP API and the command line
 * share: every accepted form, and the refusals of days and times that do
 * not exist, of loose widths, and of numbers past the year 9999.
 */
#include "check.h"
#include "time_text.h"

struct time_case {
	const char *text;
	bool ok;
	int64_t ms;
};

static const struct time_case cases[] = {
	{"0", true, 0},
	{"1578657600000", true, 1578657600000},
	{"253402300799999", true, 253402300799999},
	{"2020-01-10", true, 1578614400000},
	{"2020-01-10Z", true, 1578614400000},
	{"2020-01-10T12:30", true, 1578659400000},
	{"2020-01-10T12:30:00Z", true, 1578659400000},
	{"2020-02-29", true, 1582934400000},
	{"1970-01-01T00:00:00Z", true, 0},
	{"9999-12-31T23:59:59Z", true, 253402300799000},
	/* Past what a date can name: spans and sums of these would overflow. */
	{"253402300800000", false, 0},
	{"9223372036854775807", false, 0},
	{"18446744073709551616", false, 0},
	/* Days and times that do not exist: refused, not rolled over. */
	{"2020-02-31", false, 0},
	{"2021-02-29", false, 0},
	{"2020-13-01", false, 0},
	{"2020-00-10", false, 0},
	{"2020-01-00", false, 0},
	{"2020-01-10T24:00", false, 0},
	{"2020-01-10T12:60", false, 0},
	{"2020-01-10T12:30:60Z", false, 0},
	/* Loose widths and stray text. */
	{"2020-1-10", false, 0},
	{"2020-01-1", false, 0},
	{"20-01-10", false, 0},
	{"2020-01-10T1:30", false, 0},
	{"2020-01-10T12:30:00ZZ", false, 0},
	{"2020-01-10 12:30", false, 0},
	{"2020-01-10T12:30:00+01:00", false, 0},
	{"1969-12-31", false, 0},
	{"-1", false, 0},
	{"12ab", false, 0},
	{"", false, 0},
};

int main(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int64_t ms = -1;
		bool ok = time_text_parse(cases[i].text, &ms);
		if (ok != cases[i].ok)
			fprintf(stderr, "'%s': %s\n", cases[i].text, ok ? "accepted" : "refused");
		CHECK(ok == cases[i].ok);
		if (ok && cases[i].ok)
			CHECK_INT(ms, cases[i].ms);
	}
	return check_done();
}
