/*
 * http_format.h — money and dates as people read them on the campaign page.
 *
 * Pure functions, shared by the server-rendered page and (through data
 * attributes on it) the page's script, so both print the same text.
 */
#ifndef HTTP_FORMAT_H
#define HTTP_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "event_schema.h"

/* Digits after the decimal point of an ISO 4217 currency: 2 unless listed (JPY 0, BHD 3…). */
int http_currency_decimals(struct pl_str currency);

/* The symbol shown before amounts ("£" for GBP), or "" when the code is shown instead. */
const char *http_currency_symbol(struct pl_str currency);

/*
 * Writes an amount given in minor units, grouped by thousands: "£58,041"
 * when the minor part is zero, "£58,041.50" otherwise, "¥1,200" for JPY,
 * "BHD 1.250" for a currency without a symbol here; 128 bits for platform
 * totals, which may pass INT64_MAX. Always NUL-terminates;
 * returns the length it needed (like snprintf).
 */
size_t http_format_money(char *buf, size_t size, __int128 minor, struct pl_str currency);

/* Writes a Unix-ms time as a UTC day, "15th January 2020". Returns like snprintf. */
size_t http_format_date(char *buf, size_t size, int64_t ms);

/* Writes a Unix-ms time as ISO 8601 UTC, "2020-01-15T09:30:00Z". Returns like snprintf. */
size_t http_format_iso(char *buf, size_t size, int64_t ms);

#endif
