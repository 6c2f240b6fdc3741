-- btlua.schedule: ctx:schedule(fn, rule) (zipline's schedule_function):
-- checks rules and turns them into the bars they fire on, from the
-- session times, before the bar loop starts.
--
--   { every = "bar" }                            every bar
--   { every = "day", at = "open" | "close", offset_minutes = m }
--   { every = "week", day = k, at =, offset_minutes = }
--   { every = "month", day = k, at =, offset_minutes = }
--
-- Days are UTC days that have at least one session (trading days); weeks
-- run Monday to Sunday, months are calendar months (UTC). day = k is the
-- k-th trading day of the week or month (1 the first), -k the k-th from
-- its end; a week or month with fewer trading days skips it. Within the
-- chosen day, at = "open" (default) fires on the first bar whose time is
-- at least the day's first bar + m minutes, at = "close" on the last bar
-- whose time is at most the day's last bar - m minutes (bars are stamped
-- with their open time). m defaults to 0.
local schedule = {}

local NS_PER_MINUTE = 60e9
local NS_PER_DAY = 86400e9
local EVERY = { bar = true, day = true, week = true, month = true }
local KEYS = { every = true, at = true, offset_minutes = true, day = true }

local function bad(field, what, value)
  local shown = type(value) == "string" and string.format("%q", value)
    or (type(value) == "table" and "a table") or tostring(value)
  error("schedule: rule." .. field .. ": " .. what .. ", got " .. shown, 0)
end

local function is_integer(v)
  return type(v) == "number" and v == math.floor(v) and v > -2 ^ 53
    and v < 2 ^ 53
end

-- check(rule) -> a checked copy (defaults filled in); a bad rule raises a
-- message naming the field.
function schedule.check(rule)
  if type(rule) ~= "table" then
    error("schedule: rule must be a table like { every = \"day\" }, got "
      .. type(rule), 0)
  end
  local keys = {}
  for k in pairs(rule) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  for _, k in ipairs(keys) do
    if not KEYS[k] then
      bad(k, "unknown field (known: at, day, every, offset_minutes)", rule[k])
    end
  end
  local every = rule.every
  if not EVERY[every] then
    bad("every", "must be \"bar\", \"day\", \"week\" or \"month\"", every)
  end
  local out = { every = every, at = rule.at or "open",
    offset_minutes = rule.offset_minutes or 0, day = rule.day }
  if every == "bar" then
    for _, k in ipairs { "at", "offset_minutes", "day" } do
      if rule[k] ~= nil then bad(k, "not with every = \"bar\"", rule[k]) end
    end
    return out
  end
  if out.at ~= "open" and out.at ~= "close" then
    bad("at", "must be \"open\" or \"close\"", rule.at)
  end
  if not is_integer(out.offset_minutes) or out.offset_minutes < 0 then
    bad("offset_minutes", "must be an integer >= 0", rule.offset_minutes)
  end
  if every == "day" then
    if rule.day ~= nil then bad("day", "not with every = \"day\"", rule.day) end
  else
    out.day = rule.day or 1
    if not is_integer(out.day) or out.day == 0 then
      bad("day", "must be a nonzero integer (1 the first trading day, -1 "
        .. "the last)", rule.day)
    end
  end
  return out
end

-- Days since 1970-01-01 -> year * 12 + month (civil calendar, UTC).
local function month_of(days)
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460)
    + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local month = mp < 10 and mp + 3 or mp - 9
  local year = yoe + era * 400 + (month <= 2 and 1 or 0)
  return year * 12 + month
end

-- Trading days: { first = bar, last = bar, week =, month = } in order.
local function trading_days(times)
  local days, current = {}, nil
  for i = 1, #times do
    local d = math.floor(times[i] / NS_PER_DAY)
    if d ~= current then
      current = d
      days[#days + 1] = { first = i, last = i,
        week = math.floor((d + 3) / 7), month = month_of(d) }
    else
      days[#days].last = i
    end
  end
  return days
end

-- The bar of a chosen day (nil when the offset passes the day's bars).
local function bar_of_day(day, times, rule)
  local offset = rule.offset_minutes * NS_PER_MINUTE
  if rule.at == "open" then
    local from = times[day.first] + offset
    for i = day.first, day.last do
      if times[i] >= from then return i end
    end
  else
    local to = times[day.last] - offset
    for i = day.last, day.first, -1 do
      if times[i] <= to then return i end
    end
  end
  return nil
end

-- The days a rule picks: every day, or the day-th of each week/month.
local function chosen_days(days, rule)
  if rule.every == "day" then return days end
  local chosen, group = {}, {}
  local function flush()
    local k = rule.day > 0 and rule.day or #group + 1 + rule.day
    if group[k] then chosen[#chosen + 1] = group[k] end
  end
  for i, day in ipairs(days) do
    group[#group + 1] = day
    local next_day = days[i + 1]
    if not next_day or next_day[rule.every] ~= day[rule.every] then
      flush()
      group = {}
    end
  end
  return chosen
end

-- plan(rule, times) -> the 1-based bars the rule fires on, ascending, or
-- true for every bar. times: the session times (ns), oldest first.
function schedule.plan(rule, times)
  if rule.every == "bar" then return true end
  local bars = {}
  for _, day in ipairs(chosen_days(trading_days(times), rule)) do
    local bar = bar_of_day(day, times, rule)
    if bar then bars[#bars + 1] = bar end
  end
  return bars
end

-- wrap(handle_data, entries, times) -> a handle_data that calls the
-- strategy's, then each entry's fn(ctx, data) on the bars of its rule, in
-- the order they were scheduled. entries: { fn =, rule = } (checked).
function schedule.wrap(handle_data, entries, times)
  local plans, next_index = {}, {}
  for i, entry in ipairs(entries) do
    plans[i] = schedule.plan(entry.rule, times)
    next_index[i] = 1
  end
  local count = #entries
  return function(ctx, data)
    handle_data(ctx, data)
    local bar = data.bar
    for i = 1, count do
      local plan = plans[i]
      if plan == true then
        entries[i].fn(ctx, data)
      else
        local j = next_index[i]
        while plan[j] and plan[j] < bar do j = j + 1 end -- warm-up bars
        if plan[j] == bar then
          j = j + 1
          entries[i].fn(ctx, data)
        end
        next_index[i] = j
      end
    end
  end
end

return schedule
