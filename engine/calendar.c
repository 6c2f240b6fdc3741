/* calendar.c: civil dates, NYSE holidays and New York daylight time, the
 * session lists of the calendars, frequencies, timestamp text. See
 * calendar.h for the rules. */
#include "calendar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SESSIONS (INT64_C(1) << 27) /* 1 GiB of timestamps */

/* ---- civil dates (H. Hinnant's algorithms) ---- */

int64_t bt_floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

int64_t bt_days_from_civil(int year, int month, int day) {
  int64_t y = (int64_t)year - (month <= 2);
  int64_t era = bt_floor_div(y, 400);
  int64_t yoe = y - era * 400;
  int64_t mp = (month + 9) % 12;
  int64_t doy = (153 * mp + 2) / 5 + day - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void bt_civil_from_days(int64_t days, int *year, int *month, int *day) {
  int64_t z = days + 719468;
  int64_t era = bt_floor_div(z, 146097);
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t m = mp < 10 ? mp + 3 : mp - 9;
  *year = (int)(yoe + era * 400 + (m <= 2));
  *month = (int)m;
  *day = (int)(doy - (153 * mp + 2) / 5 + 1);
}

int bt_weekday(int64_t days) {
  return (int)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday (4) */
}

static int days_in_month(int year, int month) {
  static const int DAYS[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return DAYS[month - 1] + (month == 2 && leap);
}

/* Day of month of the n-th (1-based) `weekday` of the month. */
static int nth_weekday(int year, int month, int weekday, int n) {
  int first = bt_weekday(bt_days_from_civil(year, month, 1));
  return 1 + (weekday - first + 7) % 7 + 7 * (n - 1);
}

static int last_weekday(int year, int month, int weekday) {
  int last_day = days_in_month(year, month);
  int last = bt_weekday(bt_days_from_civil(year, month, last_day));
  return last_day - (last - weekday + 7) % 7;
}

/* Easter Sunday (anonymous Gregorian algorithm). */
static void easter(int year, int *month, int *day) {
  int a = year % 19, b = year / 100, c = year % 100;
  int d = b / 4, e = b % 4, f = (b + 8) / 25, g = (b - f + 1) / 3;
  int h = (19 * a + b - d - g + 15) % 30;
  int i = c / 4, k = c % 4;
  int l = (32 + 2 * e + 2 * i - h - k) % 7;
  int m = (a + 11 * h + 22 * l) / 451;
  *month = (h + l - 7 * m + 114) / 31;
  *day = ((h + l - 7 * m + 114) % 31) + 1;
}

/* A fixed-date holiday observed on Friday when on Saturday, Monday when on
 * Sunday: is (month, day) its observed date in `year`? */
static int observed(int year, int month, int day, int hol_month,
                    int hol_day) {
  int64_t hol = bt_days_from_civil(year, hol_month, hol_day);
  int wd = bt_weekday(hol);
  if (wd == 6) hol -= 1;
  else if (wd == 0) hol += 1;
  return hol == bt_days_from_civil(year, month, day);
}

static const int SPECIAL_CLOSURES[][3] = {
    {2001, 9, 11}, {2001, 9, 12},  {2001, 9, 13},  {2001, 9, 14},
    {2004, 6, 11}, {2007, 1, 2},   {2012, 10, 29}, {2012, 10, 30},
    {2018, 12, 5}, {2025, 1, 9},
};

int bt_xnys_is_holiday(int year, int month, int day) {
  int wd = bt_weekday(bt_days_from_civil(year, month, day));
  if (wd == 0 || wd == 6) return 0; /* weekends are not holidays */
  size_t n_special = sizeof SPECIAL_CLOSURES / sizeof SPECIAL_CLOSURES[0];
  for (size_t i = 0; i < n_special; i++)
    if (SPECIAL_CLOSURES[i][0] == year && SPECIAL_CLOSURES[i][1] == month &&
        SPECIAL_CLOSURES[i][2] == day)
      return 1;
  switch (month) {
  case 1:
    if (day == 1 || (day == 2 && wd == 1)) return 1; /* Sat Jan 1: none */
    return year >= 1998 && day == nth_weekday(year, 1, 1, 3);
  case 2: return day == nth_weekday(year, 2, 1, 3);
  case 3:
  case 4: {
    int em, ed;
    easter(year, &em, &ed);
    int64_t good_friday = bt_days_from_civil(year, em, ed) - 2;
    return good_friday == bt_days_from_civil(year, month, day);
  }
  case 5: return day == last_weekday(year, 5, 1);
  case 6: return year >= 2022 && observed(year, month, day, 6, 19);
  case 7: return observed(year, month, day, 7, 4);
  case 9: return day == nth_weekday(year, 9, 1, 1);
  case 11: return day == nth_weekday(year, 11, 4, 4);
  case 12: return observed(year, month, day, 12, 25);
  default: return 0;
  }
}

int bt_xnys_is_early_close(int year, int month, int day) {
  int wd = bt_weekday(bt_days_from_civil(year, month, day));
  if (wd == 0 || wd == 6 || bt_xnys_is_holiday(year, month, day)) return 0;
  if (year < 1993) return 0;
  if (month == 11) return day == nth_weekday(year, 11, 4, 4) + 1;
  if (month == 12) return day == 24 && wd <= 4;
  if (month == 7 && day == 3) return wd != 5 && (wd != 3 || year >= 2013);
  return 0;
}

int bt_new_york_offset(int year, int month, int day) {
  int64_t date = bt_days_from_civil(year, month, day);
  int64_t begin, end;
  if (year >= 2007) {
    begin = bt_days_from_civil(year, 3, nth_weekday(year, 3, 0, 2));
    end = bt_days_from_civil(year, 11, nth_weekday(year, 11, 0, 1));
  } else {
    begin = bt_days_from_civil(year, 4, nth_weekday(year, 4, 0, 1));
    end = bt_days_from_civil(year, 10, last_weekday(year, 10, 0));
  }
  return date >= begin && date < end ? -4 * 3600 : -5 * 3600;
}

/* ---- calendars ---- */

typedef enum cal_kind { CAL_24_7, CAL_WEEKDAYS, CAL_XNYS, CAL_UNKNOWN } cal_kind;

static cal_kind calendar_kind(const char *name) {
  if (strcmp(name, "24/7") == 0) return CAL_24_7;
  if (strcmp(name, "weekdays") == 0) return CAL_WEEKDAYS;
  if (strcmp(name, "XNYS") == 0) return CAL_XNYS;
  return CAL_UNKNOWN;
}

int bt_calendar_check(const char *name, bt_err *err) {
  if (calendar_kind(name) != CAL_UNKNOWN) return BT_OK;
  return bt_err_set(err, BT_EINVAL,
                    "unknown calendar '%s' (expected 24/7, weekdays or XNYS)",
                    name);
}

static int kind_trading_day(cal_kind kind, int year, int month, int day) {
  int wd = bt_weekday(bt_days_from_civil(year, month, day));
  switch (kind) {
  case CAL_24_7: return 1;
  case CAL_WEEKDAYS: return wd != 0 && wd != 6;
  case CAL_XNYS:
    return wd != 0 && wd != 6 && !bt_xnys_is_holiday(year, month, day);
  default: return 0;
  }
}

int bt_calendar_is_trading_day(const char *name, int year, int month,
                               int day) {
  return kind_trading_day(calendar_kind(name), year, month, day);
}

/* ---- frequencies ---- */

int bt_frequency_parse(const char *frequency, int64_t *step_ns, bt_err *err) {
  static const struct { const char *name; int64_t step; } NAMED[] = {
      {"daily", BT_NS_PER_DAY},   {"1d", BT_NS_PER_DAY},
      {"hourly", BT_NS_PER_HOUR}, {"minute", BT_NS_PER_MIN},
      {"1m", BT_NS_PER_MIN},
  };
  for (size_t i = 0; i < sizeof NAMED / sizeof NAMED[0]; i++)
    if (strcmp(frequency, NAMED[i].name) == 0) {
      *step_ns = NAMED[i].step;
      return BT_OK;
    }
  char *end;
  long count = strtol(frequency, &end, 10);
  int digits = frequency[0] >= '1' && frequency[0] <= '9';
  int64_t unit = 0;
  if (strcmp(end, "min") == 0) unit = BT_NS_PER_MIN;
  else if (strcmp(end, "h") == 0) unit = BT_NS_PER_HOUR;
  else if (strcmp(end, "s") == 0) unit = BT_NS_PER_SEC;
  if (!digits || unit == 0 || count <= 0 || count * unit > BT_NS_PER_DAY)
    return bt_err_set(err, BT_EINVAL,
                      "unknown frequency '%s' (expected daily, hourly, "
                      "minute, Nmin, Nh or Ns)",
                      frequency);
  *step_ns = count * unit;
  return BT_OK;
}

void bt_frequency_name(int64_t step_ns, char *buf) {
  if (step_ns == BT_NS_PER_DAY) strcpy(buf, "daily");
  else if (step_ns == BT_NS_PER_HOUR) strcpy(buf, "hourly");
  else if (step_ns == BT_NS_PER_MIN) strcpy(buf, "minute");
  else if (step_ns % BT_NS_PER_HOUR == 0)
    snprintf(buf, BT_FREQUENCY_NAME_MAX, "%lldh",
             (long long)(step_ns / BT_NS_PER_HOUR));
  else if (step_ns % BT_NS_PER_MIN == 0)
    snprintf(buf, BT_FREQUENCY_NAME_MAX, "%lldmin",
             (long long)(step_ns / BT_NS_PER_MIN));
  else
    snprintf(buf, BT_FREQUENCY_NAME_MAX, "%llds",
             (long long)(step_ns / BT_NS_PER_SEC));
}

/* ---- session lists ---- */

/* Appends (or, with out == NULL, counts) the sessions of one day. */
static size_t day_sessions(cal_kind kind, int64_t day, int64_t step,
                           int64_t *out) {
  int year, month, dom;
  bt_civil_from_days(day, &year, &month, &dom);
  if (!kind_trading_day(kind, year, month, dom)) return 0;
  int64_t open = day * BT_NS_PER_DAY, close = open + BT_NS_PER_DAY;
  if (kind == CAL_XNYS) {
    open += (int64_t)(9 * 3600 + 1800 - bt_new_york_offset(year, month, dom)) *
            BT_NS_PER_SEC;
    int hours = bt_xnys_is_early_close(year, month, dom) ? 3 : 6;
    close = open + (hours * 3600 + 1800) * BT_NS_PER_SEC; /* 13:00 | 16:00 */
  }
  if (step >= BT_NS_PER_DAY) {
    if (out) out[0] = open;
    return 1;
  }
  size_t n = 0;
  for (int64_t t = open; t < close; t += step, n++)
    if (out) out[n] = t;
  return n;
}

/* Checks the arguments of a session range; sets *kind, *step and the
 * first and last UTC day numbers. */
static int session_range(const char *name, const char *frequency,
                         int64_t start_ns, int64_t end_ns, cal_kind *kind,
                         int64_t *step, int64_t *first, int64_t *last,
                         bt_err *err) {
  int rc = bt_calendar_check(name, err);
  if (rc == BT_OK) rc = bt_frequency_parse(frequency, step, err);
  if (rc != BT_OK) return rc;
  if (*step != BT_NS_PER_DAY && BT_NS_PER_DAY % *step != 0)
    return bt_err_set(err, BT_EINVAL,
                      "frequency '%s' does not divide a day", frequency);
  *kind = calendar_kind(name);
  *first = bt_floor_div(start_ns, BT_NS_PER_DAY);
  *last = bt_floor_div(end_ns, BT_NS_PER_DAY);
  if (*last < *first) return bt_err_set(err, BT_EINVAL, "end before start");
  if (*last - *first > 400 * 366)
    return bt_err_set(err, BT_ERANGE, "date range longer than 400 years");
  return BT_OK;
}

int bt_calendar_count(const char *name, const char *frequency,
                      int64_t start_ns, int64_t end_ns_inclusive_day,
                      size_t *count, bt_err *err) {
  *count = 0;
  cal_kind kind;
  int64_t step, first, last;
  int rc = session_range(name, frequency, start_ns, end_ns_inclusive_day,
                         &kind, &step, &first, &last, err);
  if (rc != BT_OK) return rc;
  int64_t total = 0;
  for (int64_t day = first; day <= last && total <= MAX_SESSIONS; day++)
    total += (int64_t)day_sessions(kind, day, step, NULL);
  if (total > MAX_SESSIONS)
    return bt_err_set(err, BT_ERANGE, "more than %lld sessions",
                      (long long)MAX_SESSIONS);
  *count = (size_t)total;
  return BT_OK;
}

int bt_calendar_sessions(const char *name, const char *frequency,
                         int64_t start_ns, int64_t end_ns_inclusive_day,
                         int64_t **out, size_t *count, bt_err *err) {
  *out = NULL;
  *count = 0;
  size_t total;
  int rc = bt_calendar_count(name, frequency, start_ns, end_ns_inclusive_day,
                             &total, err);
  if (rc != BT_OK) return rc;
  cal_kind kind;
  int64_t step, first, last;
  session_range(name, frequency, start_ns, end_ns_inclusive_day, &kind,
                &step, &first, &last, err);
  int64_t *sessions = malloc((total ? total : 1) * sizeof *sessions);
  if (sessions == NULL) return bt_err_set(err, BT_ENOMEM, "out of memory");
  size_t n = 0;
  for (int64_t day = first; day <= last; day++)
    n += day_sessions(kind, day, step, sessions + n);
  *out = sessions;
  *count = n;
  return BT_OK;
}

/* ---- timestamp text ---- */

/* Reads exactly `width` digits. */
static int read_digits(const char *p, int width, int *value) {
  int v = 0;
  for (int i = 0; i < width; i++) {
    if (p[i] < '0' || p[i] > '9') return -1;
    v = v * 10 + (p[i] - '0');
  }
  *value = v;
  return 0;
}

static int parse_epoch(const char *p, const char *end, int64_t *out_ns) {
  int negative = *p == '-';
  if (negative) p++;
  if (p == end || end - p > 19) return BT_EPARSE;
  uint64_t v = 0;
  for (; p < end; p++) {
    if (*p < '0' || *p > '9') return BT_EPARSE;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  if (v > (uint64_t)INT64_MAX) return BT_EPARSE;
  int64_t mag = (int64_t)v, unit, ns;
  if (mag < INT64_C(100000000000)) unit = BT_NS_PER_SEC;
  else if (mag < INT64_C(100000000000000)) unit = 1000000;
  else if (mag < INT64_C(100000000000000000)) unit = 1000;
  else unit = 1;
  if (__builtin_mul_overflow(mag, unit, &ns)) return BT_EPARSE;
  *out_ns = negative ? -ns : ns;
  return BT_OK;
}

/* "Z", "+HH", "+HH:MM", "+HHMM" -> seconds east of UTC. */
static int parse_zone(const char *p, const char *end, int *offset) {
  *offset = 0;
  if (p == end) return BT_OK;
  if ((*p == 'Z' || *p == 'z') && p + 1 == end) return BT_OK;
  if (*p != '+' && *p != '-') return BT_EPARSE;
  int sign = *p == '-' ? -1 : 1, hours, minutes = 0;
  p++;
  if (end - p < 2 || read_digits(p, 2, &hours) != 0) return BT_EPARSE;
  p += 2;
  if (p < end && *p == ':') p++;
  if (p < end && (end - p != 2 || read_digits(p, 2, &minutes) != 0))
    return BT_EPARSE;
  if (hours > 23 || minutes > 59) return BT_EPARSE;
  *offset = sign * (hours * 3600 + minutes * 60);
  return BT_OK;
}

/* The time of day after the date: "HH:MM[:SS[.frac]]" then a zone. */
static int parse_clock(const char *p, const char *end, int64_t *ns_of_day) {
  int hour, minute, second = 0;
  int64_t frac_ns = 0;
  if (end - p < 5 || read_digits(p, 2, &hour) != 0 || p[2] != ':' ||
      read_digits(p + 3, 2, &minute) != 0)
    return BT_EPARSE;
  p += 5;
  if (p < end && *p == ':') {
    if (end - p < 3 || read_digits(p + 1, 2, &second) != 0) return BT_EPARSE;
    p += 3;
    if (p < end && (*p == '.' || *p == ',')) {
      p++;
      int digits = 0;
      int64_t scale = 100000000;
      for (; p < end && *p >= '0' && *p <= '9'; p++, digits++) {
        frac_ns += (*p - '0') * scale;
        scale /= 10;
      }
      if (digits == 0) return BT_EPARSE;
    }
  }
  if (hour > 23 || minute > 59 || second > 59) return BT_EPARSE;
  int offset;
  if (parse_zone(p, end, &offset) != BT_OK) return BT_EPARSE;
  *ns_of_day = (int64_t)(hour * 3600 + minute * 60 + second - offset) *
                   BT_NS_PER_SEC + frac_ns;
  return BT_OK;
}

int bt_time_parse(const char *text, size_t len, int64_t *out_ns) {
  const char *p = text, *end = text + len;
  while (p < end && (*p == ' ' || *p == '\t')) p++;
  while (end > p && (end[-1] == ' ' || end[-1] == '\t')) end--;
  if (p == end) return BT_EPARSE;
  if (end - p < 10 || p[4] != '-') return parse_epoch(p, end, out_ns);
  int year, month, day;
  if (read_digits(p, 4, &year) != 0 || read_digits(p + 5, 2, &month) != 0 ||
      p[7] != '-' || read_digits(p + 8, 2, &day) != 0 || month < 1 ||
      month > 12 || day < 1 || day > days_in_month(year, month))
    return BT_EPARSE;
  int64_t days = bt_days_from_civil(year, month, day);
  if (days < -106749 || days > 106749) return BT_EPARSE; /* ns range */
  int64_t ns = days * BT_NS_PER_DAY;
  p += 10;
  if (p < end) {
    if (*p != 'T' && *p != 't' && *p != ' ') return BT_EPARSE;
    int64_t ns_of_day;
    if (parse_clock(p + 1, end, &ns_of_day) != BT_OK) return BT_EPARSE;
    ns += ns_of_day;
  }
  *out_ns = ns;
  return BT_OK;
}

/* Two digits of v (0..99) at p. */
static char *two_digits(char *p, int64_t v) {
  static const char PAIRS[201] =
      "00010203040506070809101112131415161718192021222324252627282930313233"
      "34353637383940414243444546474849505152535455565758596061626364656667"
      "6869707172737475767778798081828384858687888990919293949596979899";
  memcpy(p, PAIRS + v * 2, 2);
  return p + 2;
}

int bt_time_format(int64_t ns, char *buf) {
  int64_t days = bt_floor_div(ns, BT_NS_PER_DAY);
  int64_t rest = ns - days * BT_NS_PER_DAY;
  int year, month, day; /* int64 ns spans the years 1677 to 2262 */
  bt_civil_from_days(days, &year, &month, &day);
  int64_t secs = rest / BT_NS_PER_SEC, frac = rest % BT_NS_PER_SEC;
  char *p = two_digits(buf, year / 100);
  p = two_digits(p, year % 100);
  *p++ = '-';
  p = two_digits(p, month);
  *p++ = '-';
  p = two_digits(p, day);
  *p++ = 'T';
  p = two_digits(p, secs / 3600);
  *p++ = ':';
  p = two_digits(p, secs / 60 % 60);
  *p++ = ':';
  p = two_digits(p, secs % 60);
  if (frac) {
    *p++ = '.';
    for (int i = 8; i >= 0; i--, frac /= 10) p[i] = (char)('0' + frac % 10);
    p += 9;
  }
  *p++ = 'Z';
  *p = '\0';
  return (int)(p - buf);
}
