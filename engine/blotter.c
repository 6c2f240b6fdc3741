/* blotter.c: order book of a backtest and the fill rules of blotter.h:
 * trigger and price rules per order type, volume-limited partial fills,
 * slippage and commission, booking into the ledger. */
#include "blotter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "prof.h" /* bt_mem_*: counted by the memory profiler */

static bt_dec dec_abs(bt_dec v) { return v < 0 ? -v : v; }

/* a + b for a, b >= 0, saturating at the top of the range. */
static bt_dec add_saturating(bt_dec a, bt_dec b) {
  bt_dec sum;
  return __builtin_add_overflow(a, b, &sum) ? INT64_MAX : sum;
}

/* a * b / divisor on raw units, rounded half-even; divisor > 0. */
static int mul_div_raw(bt_dec a, bt_dec b, int64_t divisor, bt_dec *out) {
  return bt_dec_ratio((bt_i128)a * b, (uint64_t)divisor, out);
}

static int grow(void **items, int64_t *cap, int64_t need, size_t size) {
  if (need <= *cap) return BT_OK;
  int64_t next = *cap > 0 ? *cap * 2 : 64;
  while (next < need) next *= 2;
  void *bigger = bt_mem_realloc(*items, (size_t)next * size);
  if (bigger == NULL) return BT_ENOMEM;
  *items = bigger;
  *cap = next;
  return BT_OK;
}

int bt_blotter_init(bt_blotter *blotter, const bt_blotter_config *config,
                    int32_t asset_count, const bt_asset_class *classes) {
  *blotter = (bt_blotter){0};
  blotter->config = *config;
  blotter->asset_count = asset_count;
  size_t n = asset_count > 0 ? (size_t)asset_count : 1;
  blotter->rounding = bt_mem_calloc(n, sizeof *blotter->rounding);
  blotter->open_ids = bt_mem_calloc(n, sizeof *blotter->open_ids);
  blotter->open_len = bt_mem_calloc(n, sizeof *blotter->open_len);
  blotter->open_cap = bt_mem_calloc(n, sizeof *blotter->open_cap);
  blotter->open_quantity = bt_mem_calloc(n, sizeof *blotter->open_quantity);
  blotter->open_buy = bt_mem_calloc(n, sizeof *blotter->open_buy);
  blotter->open_sell = bt_mem_calloc(n, sizeof *blotter->open_sell);
  blotter->bar_used = bt_mem_calloc(n, sizeof *blotter->bar_used);
  blotter->bar_of_used = bt_mem_calloc(n, sizeof *blotter->bar_of_used);
  if (!blotter->rounding || !blotter->open_ids || !blotter->open_len ||
      !blotter->open_cap || !blotter->open_quantity || !blotter->open_buy ||
      !blotter->open_sell || !blotter->bar_used || !blotter->bar_of_used) {
    bt_blotter_free(blotter);
    return BT_ENOMEM;
  }
  for (int32_t i = 0; i < asset_count; i++) {
    blotter->rounding[i] = bt_class_rounding(classes ? classes[i]
                                                     : BT_CLASS_EQUITY);
    blotter->bar_of_used[i] = -1;
  }
  return BT_OK;
}

void bt_blotter_free(bt_blotter *blotter) {
  if (blotter->open_ids)
    for (int32_t i = 0; i < blotter->asset_count; i++)
      bt_mem_free(blotter->open_ids[i]);
  bt_mem_free(blotter->open_ids);
  bt_mem_free(blotter->open_len);
  bt_mem_free(blotter->open_cap);
  bt_mem_free(blotter->open_quantity);
  bt_mem_free(blotter->open_buy);
  bt_mem_free(blotter->open_sell);
  bt_mem_free(blotter->bar_used);
  bt_mem_free(blotter->bar_of_used);
  bt_mem_free(blotter->rounding);
  for (int64_t i = 0; blotter->orders && i < blotter->order_count; i++)
    bt_mem_free(blotter->orders[i].reason);
  bt_mem_free(blotter->orders);
  bt_mem_free(blotter->fills);
  bt_mem_free(blotter->events);
  *blotter = (bt_blotter){0};
}

/* Adds `change` (signed: + when placed, - when filled or closed) to the
 * open sum of the side of an order of `quantity`. Buys and sells are summed
 * apart: a sum of one sign only shrinks when an order leaves it, so only
 * placing can overflow (checked there). */
static void add_open(bt_blotter *blotter, int32_t asset, bt_dec quantity,
                     bt_dec change) {
  if (quantity > 0) blotter->open_buy[asset] += change;
  else blotter->open_sell[asset] += change;
  blotter->open_quantity[asset] =
      blotter->open_buy[asset] + blotter->open_sell[asset];
}

static int push_open(bt_blotter *blotter, int32_t asset, int64_t id) {
  int32_t len = blotter->open_len[asset], cap = blotter->open_cap[asset];
  if (len == cap) {
    int32_t next = cap > 0 ? cap * 2 : 4;
    int64_t *bigger = bt_mem_realloc(blotter->open_ids[asset],
                              (size_t)next * sizeof *bigger);
    if (bigger == NULL) return BT_ENOMEM;
    blotter->open_ids[asset] = bigger;
    blotter->open_cap[asset] = next;
  }
  blotter->open_ids[asset][len] = id;
  blotter->open_len[asset] = len + 1;
  blotter->open_total++;
  return BT_OK;
}

int bt_blotter_place(bt_blotter *blotter, int32_t asset, bt_dec quantity,
                     bt_order_type type, bt_dec limit, bt_dec stop,
                     int64_t bar, int64_t time, int64_t *out_id,
                     bt_err *err) {
  *out_id = 0;
  if (asset < 0 || asset >= blotter->asset_count)
    return bt_err_set(err, BT_ENOTFOUND, "order: no asset number %d",
                      (int)asset + 1);
  bool needs_limit = type == BT_ORDER_LIMIT || type == BT_ORDER_STOP_LIMIT;
  bool needs_stop = type == BT_ORDER_STOP || type == BT_ORDER_STOP_LIMIT;
  if ((needs_limit && limit <= 0) || (needs_stop && stop <= 0))
    return bt_err_set(err, BT_EINVAL, "order: %s price must be > 0",
                      needs_limit && limit <= 0 ? "limit" : "stop");
  bt_rounding r = blotter->rounding[asset];
  bt_dec rounded;
  if (bt_dec_quantize(quantity, r.places, r.mode, &rounded) != BT_OK)
    return bt_err_set(err, BT_EOVERFLOW, "order: quantity overflows");
  if (rounded == 0) return BT_OK;
  bt_dec side_sum;
  if (__builtin_add_overflow(rounded > 0 ? blotter->open_buy[asset]
                                         : blotter->open_sell[asset],
                             rounded, &side_sum))
    return bt_err_set(err, BT_EOVERFLOW,
                      "order: the open %s of asset %d would exceed the "
                      "decimal range", rounded > 0 ? "buys" : "sells",
                      (int)asset + 1);
  int rc = grow((void **)&blotter->orders, &blotter->order_cap,
                blotter->order_count + 1, sizeof *blotter->orders);
  if (rc == BT_OK) rc = push_open(blotter, asset, blotter->order_count + 1);
  if (rc != BT_OK) return bt_err_set(err, rc, "order: out of memory");
  bt_order *order = &blotter->orders[blotter->order_count++];
  *order = (bt_order){.id = blotter->order_count, .asset = asset,
                      .type = type, .status = BT_ORDER_OPEN,
                      .quantity = rounded, .limit = needs_limit ? limit : 0,
                      .stop = needs_stop ? stop : 0, .placed_bar = bar,
                      .placed_time = time};
  add_open(blotter, asset, rounded, rounded);
  *out_id = order->id;
  return BT_OK;
}

static void remove_open(bt_blotter *blotter, int32_t asset, int64_t id) {
  int64_t *ids = blotter->open_ids[asset];
  int32_t len = blotter->open_len[asset];
  for (int32_t i = 0; i < len; i++) {
    if (ids[i] != id) continue;
    memmove(ids + i, ids + i + 1, (size_t)(len - i - 1) * sizeof *ids);
    blotter->open_len[asset] = len - 1;
    blotter->open_total--;
    return;
  }
}

/* Notes that an order's status changed (when events are kept). */
static int log_event(bt_blotter *blotter, int64_t id) {
  if (!blotter->log_events) return BT_OK;
  int rc = grow((void **)&blotter->events, &blotter->event_cap,
                blotter->event_count + 1, sizeof *blotter->events);
  if (rc == BT_OK) blotter->events[blotter->event_count++] = id;
  return rc;
}

/* Closes an open order as cancelled, rejected or expired. */
static int finish(bt_blotter *blotter, bt_order *order,
                  bt_order_status status, int64_t time) {
  add_open(blotter, order->asset, order->quantity,
           -(order->quantity - order->filled));
  order->status = status;
  order->done_time = time;
  remove_open(blotter, order->asset, order->id);
  return log_event(blotter, order->id);
}

static bt_order *open_order(bt_blotter *blotter, int64_t id) {
  if (id < 1 || id > blotter->order_count) return NULL;
  bt_order *order = &blotter->orders[id - 1];
  bool open = order->status == BT_ORDER_OPEN ||
              order->status == BT_ORDER_PARTIAL;
  return open ? order : NULL;
}

int bt_blotter_set_day(bt_blotter *blotter, int64_t id) {
  if (id < 1 || id > blotter->order_count) return BT_ENOTFOUND;
  bt_order *order = open_order(blotter, id);
  if (order == NULL) return BT_ESTATE;
  order->tif = BT_TIF_DAY;
  return BT_OK;
}

int bt_blotter_set_trail(bt_blotter *blotter, int64_t id, bt_dec amount,
                         bt_dec percent) {
  bt_order *order = open_order(blotter, id);
  if (order == NULL || order->type != BT_ORDER_STOP || order->triggered)
    return BT_EINVAL;
  bool by_amount = amount > 0 && percent == 0;
  bool by_percent = amount == 0 && percent > 0 && percent < BT_DEC_SCALE;
  if (!by_amount && !by_percent) return BT_EINVAL;
  order->trail_amount = amount;
  order->trail_percent = percent;
  return BT_OK;
}

/* A trailing stop follows the close of a bar that did not trigger it. */
static int trail(bt_order *order, bt_dec close) {
  bool buy = order->quantity > 0;
  bt_dec next;
  int rc = BT_OK;
  if (order->trail_amount > 0) {
    rc = buy ? bt_dec_add(close, order->trail_amount, &next)
             : bt_dec_sub(close, order->trail_amount, &next);
  } else {
    bt_dec factor = buy ? BT_DEC_SCALE + order->trail_percent
                        : BT_DEC_SCALE - order->trail_percent;
    rc = bt_dec_mul(close, factor, &next);
  }
  if (rc != BT_OK) return rc;
  if (next <= 0) return BT_OK; /* a sell stop at or below 0 cannot trigger */
  order->stop = buy ? bt_dec_min(order->stop, next)
                    : bt_dec_max(order->stop, next);
  return BT_OK;
}

/* A day order past its day expires (true). */
static bool day_is_over(bt_order *order, int64_t time) {
  if (order->tif != BT_TIF_DAY) return false;
  const int64_t ns_per_day = INT64_C(86400000000000);
  int64_t day = time / ns_per_day - (time % ns_per_day < 0) + 1; /* floor */
  if (order->day == 0) order->day = day;
  return day > order->day;
}

/* Cancels the other exit of a bracket (if still open). */
static int cancel_oco(bt_blotter *blotter, const bt_order *order,
                      int64_t time) {
  bt_order *other = order->oco ? open_order(blotter, order->oco) : NULL;
  if (other == NULL) return BT_OK;
  blotter->list_changed = true;
  return finish(blotter, other, BT_ORDER_CANCELLED, time);
}

int bt_blotter_cancel(bt_blotter *blotter, int64_t id, int64_t time) {
  if (id < 1 || id > blotter->order_count) return BT_ENOTFOUND;
  bt_order *order = open_order(blotter, id);
  if (order == NULL) return BT_ESTATE;
  int rc = finish(blotter, order, BT_ORDER_CANCELLED, time);
  if (rc == BT_OK) rc = cancel_oco(blotter, &blotter->orders[id - 1], time);
  return rc;
}

int bt_blotter_set_bracket(bt_blotter *blotter, int64_t id,
                           bt_dec take_profit, bt_dec stop_loss) {
  if (id < 1 || id > blotter->order_count) return BT_ENOTFOUND;
  bt_order *order = open_order(blotter, id);
  if (order == NULL || order->filled != 0 || order->parent != 0)
    return BT_ESTATE;
  if (take_profit < 0 || stop_loss < 0 || (take_profit == 0 && stop_loss == 0))
    return BT_EINVAL;
  if (take_profit > 0 && stop_loss > 0 &&
      (order->quantity > 0 ? stop_loss >= take_profit
                           : stop_loss <= take_profit))
    return BT_EINVAL;
  order->take_profit = take_profit;
  order->stop_loss = stop_loss;
  return BT_OK;
}

/* The exits of a filled bracket entry (bt_blotter_set_bracket). */
static int place_exits(bt_blotter *blotter, int64_t entry_id, int64_t bar,
                       int64_t time) {
  bt_order entry = blotter->orders[entry_id - 1]; /* place() may move it */
  int64_t stop_id = 0, limit_id = 0;
  bt_err err = {0};
  int rc = BT_OK;
  if (entry.stop_loss > 0)
    rc = bt_blotter_place(blotter, entry.asset, -entry.filled, BT_ORDER_STOP,
                          0, entry.stop_loss, bar, time, &stop_id, &err);
  if (rc == BT_OK && entry.take_profit > 0)
    rc = bt_blotter_place(blotter, entry.asset, -entry.filled,
                          BT_ORDER_LIMIT, entry.take_profit, 0, bar, time,
                          &limit_id, &err);
  if (rc != BT_OK) return rc;
  if (stop_id) blotter->orders[stop_id - 1].parent = entry_id;
  if (limit_id) blotter->orders[limit_id - 1].parent = entry_id;
  if (stop_id && limit_id) {
    blotter->orders[stop_id - 1].oco = limit_id;
    blotter->orders[limit_id - 1].oco = stop_id;
  }
  return BT_OK;
}

int bt_blotter_replace(bt_blotter *blotter, int64_t id, bt_dec quantity,
                       bt_dec limit, bt_dec stop) {
  if (id < 1 || id > blotter->order_count) return BT_ENOTFOUND;
  bt_order *order = open_order(blotter, id);
  if (order == NULL) return BT_ESTATE;
  bool has_limit = order->type == BT_ORDER_LIMIT ||
                   order->type == BT_ORDER_STOP_LIMIT;
  bool has_stop = (order->type == BT_ORDER_STOP ||
                   order->type == BT_ORDER_STOP_LIMIT) &&
                  !order->triggered && order->trail_amount == 0 &&
                  order->trail_percent == 0;
  if (limit < 0 || stop < 0 || quantity == INT64_MIN ||
      (limit > 0 && !has_limit) || (stop > 0 && !has_stop) ||
      (quantity != 0 && order->parent != 0))
    return BT_EINVAL;
  bt_dec rounded = order->quantity;
  if (quantity != 0) {
    bt_rounding r = blotter->rounding[order->asset];
    if (bt_dec_quantize(quantity, r.places, r.mode, &rounded) != BT_OK)
      return BT_EOVERFLOW;
    bool same_side = (rounded > 0) == (order->quantity > 0) && rounded != 0;
    if (!same_side || dec_abs(rounded) <= dec_abs(order->filled))
      return BT_EINVAL;
    bt_dec side = rounded > 0 ? blotter->open_buy[order->asset]
                              : blotter->open_sell[order->asset];
    bt_dec sum;
    if (__builtin_add_overflow(side, rounded - order->quantity, &sum))
      return BT_EOVERFLOW;
  }
  add_open(blotter, order->asset, order->quantity, rounded - order->quantity);
  order->quantity = rounded;
  if (limit > 0) order->limit = limit;
  if (stop > 0) order->stop = stop;
  return BT_OK;
}

/* The price at which `order` fills on `bar` before slippage; false when it
 * does not fill there. Sets `triggered` on a stop's trigger bar. */
static bool trigger_price(const bt_blotter *blotter, bt_order *order,
                          const bt_bar *bar, bt_dec *price) {
  bool buy = order->quantity > 0;
  bool next_open = blotter->config.fill == BT_FILL_NEXT_OPEN;
  bt_dec p = next_open ? bar->open : bar->close;
  if ((order->type == BT_ORDER_STOP || order->type == BT_ORDER_STOP_LIMIT) &&
      !order->triggered) {
    bool touched = buy ? bar->high >= order->stop : bar->low <= order->stop;
    if (!touched) return false;
    order->triggered = true;
    if (order->type == BT_ORDER_STOP_LIMIT &&
        blotter->config.stop_limit == BT_STOP_LIMIT_NEXT_BAR)
      return false; /* armed: the limit works from the next bar */
    if (next_open)
      p = buy ? bt_dec_max(bar->open, order->stop)
              : bt_dec_min(bar->open, order->stop);
  }
  if (order->type == BT_ORDER_LIMIT || order->type == BT_ORDER_STOP_LIMIT) {
    if (buy ? bar->low > order->limit : bar->high < order->limit)
      return false;
    p = buy ? bt_dec_min(p, order->limit) : bt_dec_max(p, order->limit);
  }
  *price = p;
  return true;
}

/* |quantity| the asset's orders filled on bar `bar_index` so far. */
static bt_dec used_on_bar(const bt_blotter *blotter, int32_t asset,
                          int64_t bar_index) {
  return blotter->bar_of_used[asset] == bar_index ? blotter->bar_used[asset]
                                                  : 0;
}

/* The signed quantity this bar can still fill (0: none) under the volume
 * limit, which caps all of the asset's fills on the bar together. */
static int bar_quantity(const bt_blotter *blotter, const bt_order *order,
                        const bt_bar *bar, int64_t bar_index, bt_dec *out) {
  bt_dec remaining = order->quantity - order->filled;
  bt_dec limit = blotter->config.slippage.volume_limit;
  *out = remaining;
  if (limit <= 0) return BT_OK;
  bt_dec cap;
  bt_rounding r = blotter->rounding[order->asset];
  int rc = bt_dec_mul(bar->volume, limit, &cap);
  if (rc == BT_OK) rc = bt_dec_quantize(cap, r.places, BT_ROUND_DOWN, &cap);
  if (rc != BT_OK) return rc;
  cap -= used_on_bar(blotter, order->asset, bar_index);
  if (cap < 0) cap = 0;
  if (cap < dec_abs(remaining)) *out = remaining > 0 ? cap : -cap;
  return BT_OK;
}

/* Slippage moves price against the order; a limit is never exceeded. */
static int slip(const bt_blotter *blotter, const bt_order *order,
                const bt_bar *bar, int64_t bar_index, bt_dec quantity,
                bt_dec price, bt_dec *out) {
  const bt_slippage *model = &blotter->config.slippage;
  bt_dec move = 0;
  int rc = BT_OK;
  if (model->model == BT_SLIPPAGE_FIXED_BPS) {
    /* price * bps / 10000: raw * raw / (10^8 * 10^4) */
    rc = mul_div_raw(price, model->bps, BT_DEC_SCALE * 10000, &move);
  } else if (model->model == BT_SLIPPAGE_VOLUME_SHARE) {
    /* The bar's total so far, this fill included (zipline's rule). */
    bt_dec share = 0, squared, scaled;
    bt_dec total = add_saturating(
        used_on_bar(blotter, order->asset, bar_index), dec_abs(quantity));
    if (bar->volume > 0) rc = bt_dec_div(total, bar->volume, &share);
    if (rc == BT_OK) rc = bt_dec_mul(share, share, &squared);
    if (rc == BT_OK) rc = bt_dec_mul(price, model->price_impact, &scaled);
    if (rc == BT_OK) rc = bt_dec_mul(scaled, squared, &move);
  }
  if (rc != BT_OK) return rc;
  bool buy = quantity > 0;
  bt_dec p = buy ? price + move : price - move;
  if (order->type == BT_ORDER_LIMIT || order->type == BT_ORDER_STOP_LIMIT)
    p = buy ? bt_dec_min(p, order->limit) : bt_dec_max(p, order->limit);
  *out = p;
  return BT_OK;
}

static int commission_for(const bt_blotter *blotter, const bt_order *order,
                          bt_dec quantity, bt_dec price, bt_dec *out) {
  const bt_commission *model = &blotter->config.commission;
  bt_dec owed;
  int rc = BT_OK;
  *out = 0;
  switch (model->model) {
  case BT_COMMISSION_NONE: return BT_OK;
  case BT_COMMISSION_PER_SHARE:
    /* The order owes max(cost * |filled|, min); charge what is new. */
    rc = bt_dec_mul(model->cost, dec_abs(order->filled + quantity), &owed);
    if (rc != BT_OK) return rc;
    owed = bt_dec_max(owed, model->min_per_order);
    *out = owed - order->commission;
    return BT_OK;
  case BT_COMMISSION_PER_TRADE:
    *out = order->filled == 0 ? model->cost : 0;
    return BT_OK;
  case BT_COMMISSION_PER_DOLLAR:
    rc = bt_dec_mul(quantity, price, &owed);
    if (rc == BT_OK) rc = bt_dec_mul(dec_abs(owed), model->rate, out);
    return rc;
  }
  return BT_EINVAL;
}

static int record_fill(bt_blotter *blotter, const bt_order *order,
                       int64_t bar_index, int64_t time, bt_dec quantity,
                       bt_dec price, bt_dec commission) {
  int rc = grow((void **)&blotter->fills, &blotter->fill_cap,
                blotter->fill_count + 1, sizeof *blotter->fills);
  if (rc != BT_OK) return rc;
  blotter->fills[blotter->fill_count++] = (bt_fill){
      .order_id = order->id, .bar = bar_index, .time = time,
      .asset = order->asset, .quantity = quantity, .price = price,
      .commission = commission};
  return BT_OK;
}

/* Tries one order on one bar: 1 filled (fully or partly), 0 not. */
static int fill_order(bt_blotter *blotter, bt_ledger *ledger,
                      bt_order *order, const bt_bar *bar, int64_t bar_index,
                      int64_t time) {
  bt_dec price, quantity, commission;
  if (!trigger_price(blotter, order, bar, &price)) return 0;
  int rc = bar_quantity(blotter, order, bar, bar_index, &quantity);
  if (rc != BT_OK || quantity == 0) return rc;
  rc = slip(blotter, order, bar, bar_index, quantity, price, &price);
  if (rc == BT_OK) rc = commission_for(blotter, order, quantity, price,
                                       &commission);
  if (rc != BT_OK) return rc;
  char reason[BT_REASON_MAX];
  rc = bt_ledger_check(ledger, order->asset, quantity, price, commission,
                       reason, sizeof reason);
  if (rc == BT_ERANGE) {
    order->reason = strdup(reason);
    if (order->reason == NULL) return BT_ENOMEM;
    blotter->rejections++;
    return finish(blotter, order, BT_ORDER_REJECTED, time);
  }
  if (rc == BT_OK) rc = bt_ledger_apply(ledger, order->asset, quantity,
                                        price, commission);
  if (rc == BT_OK) rc = record_fill(blotter, order, bar_index, time,
                                    quantity, price, commission);
  if (rc != BT_OK) return rc;
  order->filled += quantity;
  order->commission += commission;
  add_open(blotter, order->asset, order->quantity, -quantity);
  blotter->bar_used[order->asset] = add_saturating(
      used_on_bar(blotter, order->asset, bar_index), dec_abs(quantity));
  blotter->bar_of_used[order->asset] = bar_index;
  if (order->filled == order->quantity) {
    order->status = BT_ORDER_FILLED;
    order->done_time = time;
    remove_open(blotter, order->asset, order->id);
  } else {
    order->status = BT_ORDER_PARTIAL;
  }
  int64_t id = order->id;
  rc = log_event(blotter, id);
  if (rc == BT_OK && order->oco != 0) rc = cancel_oco(blotter, order, time);
  if (rc == BT_OK && order->status == BT_ORDER_FILLED &&
      (order->take_profit > 0 || order->stop_loss > 0))
    rc = place_exits(blotter, id, bar_index, time);
  return rc == BT_OK ? 1 : rc;
}

int bt_blotter_fill_asset(bt_blotter *blotter, bt_ledger *ledger,
                          int32_t asset, const bt_bar *bar, int64_t bar_index,
                          int64_t time) {
  /* A missing bar is INT64_MIN in every field (store.h BT_BAR_MISSING). */
  if (bar == NULL || bar->open == INT64_MIN || blotter->open_len[asset] == 0)
    return 0;
  int fills = 0;
  /* Orders that finish leave the list; i moves past those still open. */
  int32_t i = 0;
  while (i < blotter->open_len[asset]) {
    int64_t id = blotter->open_ids[asset][i];
    bt_order *order = &blotter->orders[id - 1];
    if (order->placed_bar >= bar_index) { i++; continue; }
    if (day_is_over(order, time)) {
      blotter->expirations++;
      int rc = finish(blotter, order, BT_ORDER_EXPIRED, time);
      if (rc != BT_OK) return rc;
      continue; /* it left the list: i is the next order */
    }
    int rc = fill_order(blotter, ledger, order, bar, bar_index, time);
    if (rc < 0) return rc;
    fills += rc;
    if ((order->trail_amount > 0 || order->trail_percent > 0) &&
        !order->triggered) {
      rc = trail(order, bar->close);
      if (rc != BT_OK) return rc;
    }
    if (blotter->list_changed) { /* an OCO cancel: ids are ascending */
      blotter->list_changed = false;
      i = 0;
      while (i < blotter->open_len[asset] && blotter->open_ids[asset][i] <= id)
        i++;
    } else if (blotter->open_len[asset] > i &&
               blotter->open_ids[asset][i] == id) {
      i++; /* still open: move on */
    }
  }
  return fills;
}

const char *bt_order_status_name(bt_order_status status) {
  switch (status) {
  case BT_ORDER_OPEN: return "open";
  case BT_ORDER_PARTIAL: return "partially_filled";
  case BT_ORDER_FILLED: return "filled";
  case BT_ORDER_CANCELLED: return "cancelled";
  case BT_ORDER_REJECTED: return "rejected";
  case BT_ORDER_EXPIRED: return "expired";
  }
  return "unknown";
}

const char *bt_order_type_name(bt_order_type type) {
  switch (type) {
  case BT_ORDER_MARKET: return "market";
  case BT_ORDER_LIMIT: return "limit";
  case BT_ORDER_STOP: return "stop";
  case BT_ORDER_STOP_LIMIT: return "stop_limit";
  }
  return "unknown";
}
