/* t_calendar.c: NYSE sessions and holidays, New York daylight time, 24/7
 * and weekday calendars, frequencies, timestamp parsing and formatting. */
#include <stdlib.h>

#include "calendar.h"
#include "tap.h"

static int64_t day_ns(int y, int m, int d) {
  return bt_days_from_civil(y, m, d) * BT_NS_PER_DAY;
}

static size_t count_sessions(const char *cal, const char *freq, int64_t start,
                             int64_t end) {
  int64_t *sessions;
  size_t count;
  bt_err err = {0};
  if (bt_calendar_sessions(cal, freq, start, end, &sessions, &count, &err)) {
    diag("%s", err.msg);
    return (size_t)-1;
  }
  free(sessions);
  return count;
}

static const char *fmt(int64_t ns) {
  static char buf[4][40];
  static int next;
  char *b = buf[next++ % 4];
  bt_time_format(ns, b);
  return b;
}

static void test_counts(void) {
  is_int(count_sessions("XNYS", "daily", day_ns(2023, 1, 1),
                        day_ns(2023, 12, 31)), 250, "XNYS 2023: 250 sessions");
  is_int(count_sessions("XNYS", "daily", day_ns(2024, 1, 1),
                        day_ns(2024, 12, 31)), 252, "XNYS 2024: 252 sessions");
  is_int(count_sessions("XNYS", "daily", day_ns(2025, 1, 1),
                        day_ns(2025, 12, 31)), 250,
         "XNYS 2025: 250 sessions (Carter day of mourning)");
  is_int(count_sessions("24/7", "minute", day_ns(2024, 1, 1),
                        day_ns(2024, 1, 31)), 44640,
         "24/7 minutes in January 2024: 44,640");
  is_int(count_sessions("weekdays", "daily", day_ns(2024, 1, 1),
                        day_ns(2024, 1, 31)), 23, "weekdays in Jan 2024: 23");
  is_int(count_sessions("weekdays", "hourly", day_ns(2024, 1, 1),
                        day_ns(2024, 1, 31)), 23 * 24,
         "weekdays hourly: 24 bars a day");
  is_int(count_sessions("XNYS", "minute", day_ns(2024, 3, 11),
                        day_ns(2024, 3, 11) + 5), 390,
         "XNYS minute bars in one day: 390");
  is_int(count_sessions("XNYS", "hourly", day_ns(2024, 3, 11),
                        day_ns(2024, 3, 11)), 7, "XNYS hourly bars: 7");
  is_int(count_sessions("XNYS", "5min", day_ns(2024, 3, 11),
                        day_ns(2024, 3, 11)), 78, "XNYS 5min bars: 78");
  is_int(count_sessions("XNYS", "daily", day_ns(2024, 3, 9),
                        day_ns(2024, 3, 10)), 0, "no sessions on a weekend");
}

static void test_holidays(void) {
  ok(bt_xnys_is_holiday(2023, 4, 7), "Good Friday 2023");
  ok(bt_xnys_is_holiday(2024, 3, 29), "Good Friday 2024");
  ok(bt_xnys_is_holiday(2022, 6, 20), "Juneteenth 2022 observed Monday");
  ok(!bt_xnys_is_holiday(2021, 6, 18), "no Juneteenth before 2022");
  ok(bt_xnys_is_holiday(2023, 1, 2), "New Year 2023 observed Monday");
  ok(!bt_xnys_is_holiday(2021, 12, 31),
     "a Saturday New Year is not observed on Friday");
  ok(bt_xnys_is_holiday(2021, 12, 24), "Christmas 2021 observed Friday");
  ok(bt_xnys_is_holiday(2020, 7, 3), "Independence Day 2020 observed Friday");
  ok(bt_xnys_is_holiday(2024, 11, 28), "Thanksgiving 2024");
  ok(bt_xnys_is_holiday(2024, 1, 15), "MLK day 2024");
  ok(bt_xnys_is_holiday(2024, 5, 27), "Memorial day 2024");
  ok(bt_xnys_is_holiday(2024, 9, 2), "Labor day 2024");
  ok(bt_xnys_is_holiday(2001, 9, 11) && bt_xnys_is_holiday(2001, 9, 14),
     "September 11 closures");
  ok(bt_xnys_is_holiday(2012, 10, 29) && bt_xnys_is_holiday(2012, 10, 30),
     "Hurricane Sandy");
  ok(bt_xnys_is_holiday(2018, 12, 5) && bt_xnys_is_holiday(2004, 6, 11) &&
         bt_xnys_is_holiday(2007, 1, 2) && bt_xnys_is_holiday(2025, 1, 9),
     "national days of mourning");
  ok(!bt_xnys_is_holiday(2024, 7, 5), "the day after July 4 is open");
  ok(!bt_calendar_is_trading_day("XNYS", 2024, 3, 10), "Sunday closed");
  ok(bt_calendar_is_trading_day("24/7", 2024, 3, 10), "24/7 open Sunday");
}

static void first_last(const char *cal, const char *freq, int64_t day,
                       const char *want_first, const char *want_last,
                       const char *name) {
  int64_t *sessions;
  size_t count;
  bt_err err = {0};
  if (bt_calendar_sessions(cal, freq, day, day, &sessions, &count, &err) ||
      count == 0) {
    ok(0, "%s: %s", name, err.msg);
    return;
  }
  is_str(fmt(sessions[0]), want_first, "%s: first bar", name);
  is_str(fmt(sessions[count - 1]), want_last, "%s: last bar", name);
  free(sessions);
}

static void test_early_closes(void) {
  static const struct {
    int y, m, d, early;
    const char *what;
  } CASES[] = {
      {2023, 11, 24, 1, "2023 day after Thanksgiving"},
      {2024, 11, 29, 1, "2024 day after Thanksgiving"},
      {2024, 11, 28, 0, "Thanksgiving itself: a holiday"},
      {2023, 7, 3, 1, "July 3 2023 (Monday)"},
      {2024, 7, 3, 1, "July 3 2024 (Wednesday, from 2013)"},
      {2002, 7, 3, 0, "July 3 2002 (Wednesday, before 2013)"},
      {2026, 7, 3, 0, "July 3 2026 (Friday): Independence Day observed"},
      {2024, 12, 24, 1, "Christmas Eve 2024 (Tuesday)"},
      {2021, 12, 24, 0, "Christmas Eve 2021 (Friday): Christmas observed"},
      {2022, 12, 23, 0, "December 23 2022: a full day"},
      {2024, 7, 5, 0, "July 5 2024: a full day"},
  };
  for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++)
    is_int(bt_xnys_is_early_close(CASES[i].y, CASES[i].m, CASES[i].d),
           CASES[i].early, CASES[i].what);
  is_int(count_sessions("XNYS", "minute", day_ns(2024, 12, 24),
                        day_ns(2024, 12, 24)),
         210, "XNYS minute bars on an early close: 210");
  is_int(count_sessions("XNYS", "minute", day_ns(2024, 12, 23),
                        day_ns(2024, 12, 27)),
         390 + 210 + 390 + 390, "XNYS minute bars, Christmas week 2024");
  is_int(count_sessions("XNYS", "daily", day_ns(2024, 11, 29),
                        day_ns(2024, 11, 29)),
         1, "an early close is still one daily session");
}

static void test_dst(void) {
  first_last("XNYS", "minute", day_ns(2024, 3, 8), "2024-03-08T14:30:00Z",
             "2024-03-08T20:59:00Z", "Friday before DST (EST, UTC-5)");
  first_last("XNYS", "minute", day_ns(2024, 3, 11), "2024-03-11T13:30:00Z",
             "2024-03-11T19:59:00Z", "Monday after DST starts (EDT, UTC-4)");
  first_last("XNYS", "hourly", day_ns(2024, 11, 1), "2024-11-01T13:30:00Z",
             "2024-11-01T19:30:00Z", "Friday before DST ends");
  first_last("XNYS", "daily", day_ns(2024, 11, 4), "2024-11-04T14:30:00Z",
             "2024-11-04T14:30:00Z", "Monday after DST ends: daily at open");
  first_last("XNYS", "daily", day_ns(2006, 3, 31), "2006-03-31T14:30:00Z",
             "2006-03-31T14:30:00Z", "2006: still EST at the end of March");
  first_last("XNYS", "daily", day_ns(2006, 4, 3), "2006-04-03T13:30:00Z",
             "2006-04-03T13:30:00Z", "2006: EDT after the first Sunday in "
             "April");
  first_last("XNYS", "daily", day_ns(2006, 10, 30), "2006-10-30T14:30:00Z",
             "2006-10-30T14:30:00Z", "2006: EST after the last Sunday of "
             "October");
  first_last("XNYS", "minute", day_ns(2024, 11, 29), "2024-11-29T14:30:00Z",
             "2024-11-29T17:59:00Z", "day after Thanksgiving: closes 13:00");
  first_last("XNYS", "hourly", day_ns(2024, 7, 3), "2024-07-03T13:30:00Z",
             "2024-07-03T16:30:00Z", "July 3 (Wednesday, 2024): 13:00");
  first_last("24/7", "minute", day_ns(2024, 1, 31), "2024-01-31T00:00:00Z",
             "2024-01-31T23:59:00Z", "24/7 minute day");
  is_int(bt_new_york_offset(2024, 3, 10), -4 * 3600, "DST day itself: EDT");
  is_int(bt_new_york_offset(2024, 11, 3), -5 * 3600, "fall back day: EST");
}

static void test_frequency(void) {
  int64_t step = 0;
  bt_err err = {0};
  char name[BT_FREQUENCY_NAME_MAX];
  ok(bt_frequency_parse("5min", &step, &err) == 0 &&
         step == 5 * BT_NS_PER_MIN, "5min");
  ok(bt_frequency_parse("4h", &step, &err) == 0 && step == 4 * BT_NS_PER_HOUR,
     "4h");
  ok(bt_frequency_parse("daily", &step, &err) == 0 && step == BT_NS_PER_DAY,
     "daily");
  is_int(bt_frequency_parse("weekly", &step, &err), BT_EINVAL, "weekly");
  is_str(err.msg, "unknown frequency 'weekly' (expected daily, hourly, "
         "minute, Nmin, Nh or Ns)", "unknown frequency message");
  is_int(bt_frequency_parse("0min", &step, &err), BT_EINVAL, "0min");
  bt_frequency_name(BT_NS_PER_MIN, name);
  is_str(name, "minute", "name of 60 s");
  bt_frequency_name(15 * BT_NS_PER_MIN, name);
  is_str(name, "15min", "name of 15 min");
  bt_frequency_name(4 * BT_NS_PER_HOUR, name);
  is_str(name, "4h", "name of 4 h");
  bt_frequency_name(BT_NS_PER_DAY, name);
  is_str(name, "daily", "name of a day");
  int64_t *sessions;
  size_t count;
  is_int(bt_calendar_sessions("XLON", "daily", 0, 0, &sessions, &count, &err),
         BT_EINVAL, "unknown calendar refused");
  is_str(err.msg, "unknown calendar 'XLON' (expected 24/7, weekdays or XNYS)",
         "unknown calendar message");
}

static void time_is(const char *text, const char *want, const char *name) {
  int64_t ns = 0;
  int rc = bt_time_parse(text, strlen(text), &ns);
  if (rc != 0) {
    ok(0, "%s: '%s' did not parse", name, text);
    return;
  }
  is_str(fmt(ns), want, "%s", name);
}

static void test_time_text(void) {
  time_is("2024-01-02", "2024-01-02T00:00:00Z", "date");
  time_is("2024-01-02T14:30:00Z", "2024-01-02T14:30:00Z", "date-time Z");
  time_is("2024-01-02 09:30:00-05:00", "2024-01-02T14:30:00Z",
          "space and offset");
  time_is("2024-01-02T09:30-0500", "2024-01-02T14:30:00Z", "HH:MM, -HHMM");
  time_is("2024-01-02T14:30:00.25Z", "2024-01-02T14:30:00.250000000Z",
          "fractional seconds");
  time_is("1704205800", "2024-01-02T14:30:00Z", "epoch seconds");
  time_is("1704205800000", "2024-01-02T14:30:00Z", "epoch milliseconds");
  time_is(" 1704205800000 ", "2024-01-02T14:30:00Z", "blanks trimmed");
  time_is("1969-12-31T23:59:59Z", "1969-12-31T23:59:59Z", "before 1970");
  time_is("2000-02-29", "2000-02-29T00:00:00Z", "leap day 2000");
  time_is("2261-12-31", "2261-12-31T00:00:00Z", "late dates in range");
  int64_t ns;
  const char *bad[] = {"2023-02-29", "2024-13-01", "2024-01-02T25:00:00Z",
                       "2024-01-02X", "yesterday", "", "2024-01-02T10:00+5",
                       "12.5", "99999999999999999999", "5024-01-01",
                       "1500-01-01"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    is_int(bt_time_parse(bad[i], strlen(bad[i]), &ns), BT_EPARSE,
           "'%s' refused", bad[i]);
  int y, m, d;
  bt_civil_from_days(bt_days_from_civil(1600, 3, 1) - 1, &y, &m, &d);
  ok(y == 1600 && m == 2 && d == 29, "civil dates round trip in 1600");
  is_int(bt_weekday(bt_days_from_civil(2024, 1, 1)), 1, "2024-01-01 Monday");
}

int main(void) {
  test_counts();
  test_holidays();
  test_dst();
  test_early_closes();
  test_frequency();
  test_time_text();
  return done_testing();
}
