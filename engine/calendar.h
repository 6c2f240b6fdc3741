/* calendar.h: trading sessions and time text: the calendars "24/7",
 * "weekdays" and "XNYS" (NYSE), bar frequencies, civil dates, and parsing /
 * formatting of timestamps (int64 ns since the Unix epoch, UTC).
 *
 * Session stamps (a bar is stamped with its open time, in UTC ns):
 *   24/7, weekdays: daily bars at 00:00 UTC; intraday bars every step from
 *     00:00 UTC through the whole day (weekdays: Monday to Friday only).
 *   XNYS: the regular session 09:30-16:00 America/New_York on NYSE trading
 *     days; daily bars stamped at 09:30 New York time; hourly bars at 09:30,
 *     10:30, ..., 15:30 (the last one is a half hour); minute bars 09:30 to
 *     15:59; Nmin bars every N minutes from 09:30 while before 16:00.
 *     New York daylight time: 2007+ second Sunday of March to the first
 *     Sunday of November; before 2007 first Sunday of April to the last
 *     Sunday of October. Holidays: every NYSE full-day holiday rule (New
 *     Year, MLK from 1998, Washington, Good Friday, Memorial, Juneteenth
 *     from 2022, Independence, Labor, Thanksgiving, Christmas, with the
 *     Saturday->Friday / Sunday->Monday observance, except that a Saturday
 *     New Year is not observed) for any year, plus the special closures
 *     of 2000-2030 known today (2001-09-11..14, 2004-06-11, 2007-01-02,
 *     2012-10-29/30, 2018-12-05, 2025-01-09). Early closes (13:00) are
 *     not modelled: those days have full sessions. */
#ifndef BT_CALENDAR_H
#define BT_CALENDAR_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define BT_NS_PER_SEC INT64_C(1000000000)
#define BT_NS_PER_MIN (60 * BT_NS_PER_SEC)
#define BT_NS_PER_HOUR (3600 * BT_NS_PER_SEC)
#define BT_NS_PER_DAY (86400 * BT_NS_PER_SEC)
#define BT_FREQUENCY_NAME_MAX 16 /* buffer size for a frequency name */

/* 0 when name is a known calendar ("24/7", "weekdays", "XNYS"). */
int bt_calendar_check(const char *name, bt_err *err);

/* Bar spacing in ns of "daily", "hourly", "minute", "Nmin", "Nh", "Ns"
 * (also "1d", "1h", "1m"). BT_EINVAL with a message when unknown. */
int bt_frequency_parse(const char *frequency, int64_t *step_ns, bt_err *err);
/* Canonical name of a spacing: "daily", "hourly", "minute", "5min", "4h",
 * "30s". buf holds BT_FREQUENCY_NAME_MAX bytes. */
void bt_frequency_name(int64_t step_ns, char *buf);

/* Sessions of calendar `name` at `frequency` over the UTC days from the
 * day of start_ns to the day of end_ns, both included. *out is malloc'd
 * (free it); *count may be 0. */
int bt_calendar_sessions(const char *name, const char *frequency,
                         int64_t start_ns, int64_t end_ns_inclusive_day,
                         int64_t **out, size_t *count, bt_err *err);
/* The number of those sessions, without making them (cheap: a loop over
 * days). BT_ERANGE past 2^27 sessions or 400 years. */
int bt_calendar_count(const char *name, const char *frequency,
                      int64_t start_ns, int64_t end_ns_inclusive_day,
                      size_t *count, bt_err *err);

/* Is the civil date (y, m 1-12, d) a trading day of the calendar? */
int bt_calendar_is_trading_day(const char *name, int year, int month,
                               int day);
/* NYSE full-day holiday (a weekday on which the exchange is closed)? */
int bt_xnys_is_holiday(int year, int month, int day);
/* NYSE early close (13:00 New York time instead of 16:00)? The standing
 * rules: the Friday after Thanksgiving and Christmas Eve on Monday to
 * Thursday (from 1993), July 3 on Monday, Tuesday or Thursday (and on
 * Wednesday from 2013). One-off early closes are not listed. */
int bt_xnys_is_early_close(int year, int month, int day);
/* Offset of New York local time from UTC on that date, in seconds
 * (-14400 in daylight time, -18000 otherwise), as at 09:30 local. */
int bt_new_york_offset(int year, int month, int day);

/* Civil date <-> days since 1970-01-01 (proleptic Gregorian). */
int64_t bt_days_from_civil(int year, int month, int day);
void bt_civil_from_days(int64_t days, int *year, int *month, int *day);
int bt_weekday(int64_t days); /* 0 = Sunday .. 6 = Saturday */
int64_t bt_floor_div(int64_t a, int64_t b);

/* Parses a timestamp: "YYYY-MM-DD" (00:00 UTC), "YYYY-MM-DDTHH:MM[:SS[.f]]"
 * (T or a space) with an optional "Z" or "+HH:MM"/"-HHMM" offset (none =
 * UTC), or an integer epoch: seconds below 10^11 in magnitude, else
 * milliseconds below 10^14, else microseconds below 10^17, else ns.
 * Leading/trailing blanks are allowed. BT_EPARSE when it is not one. */
int bt_time_parse(const char *text, size_t len, int64_t *out_ns);
/* "2024-01-02T14:30:00Z" (with .fffffffff when not whole seconds);
 * buf holds at least 40 bytes. Returns the length. */
int bt_time_format(int64_t ns, char *buf);

#endif
