/* ledger.c: cash, positions, cost basis, realized PnL and round trips in
 * exact decimals. A round trip runs from flat to flat (a flip closes one and
 * opens the next); its PnL includes the commissions paid inside it. */
#include "ledger.h"

#include <stdio.h>
#include <stdlib.h>
#include "prof.h" /* bt_mem_*: counted by the memory profiler */

int bt_ledger_init(bt_ledger *ledger, bt_dec capital, int32_t asset_count,
                   bool allow_margin) {
  *ledger = (bt_ledger){0};
  ledger->positions = bt_mem_calloc(asset_count > 0 ? (size_t)asset_count : 1,
                             sizeof *ledger->positions);
  if (ledger->positions == NULL) return BT_ENOMEM;
  ledger->capital = capital;
  ledger->cash = capital;
  ledger->allow_margin = allow_margin;
  ledger->asset_count = asset_count;
  bt_dec_acc_init(&ledger->traded);
  bt_dec_acc_init(&ledger->gross_profit);
  bt_dec_acc_init(&ledger->gross_loss);
  return BT_OK;
}

void bt_ledger_free(bt_ledger *ledger) {
  bt_mem_free(ledger->positions);
  ledger->positions = NULL;
}

static bt_dec dec_abs(bt_dec v) { return v < 0 ? -v : v; }

/* value * part / whole, rounded half-even; part and whole > 0. */
static int mul_div(bt_dec value, bt_dec part, bt_dec whole, bt_dec *out) {
  return bt_dec_ratio((bt_i128)value * part, (uint64_t)whole, out);
}

int bt_ledger_check(const bt_ledger *ledger, int32_t asset, bt_dec quantity,
                    bt_dec price, bt_dec commission, char *reason,
                    size_t size) {
  if (ledger->allow_margin) return BT_OK;
  const bt_position *pos = &ledger->positions[asset];
  bt_dec notional, need, have;
  char a[BT_DEC_FMT_MAX], b[BT_DEC_FMT_MAX];
  int rc = bt_dec_mul(quantity, price, &notional);
  if (rc != BT_OK) return rc;
  if (quantity > 0) {
    if (bt_dec_add(notional, commission, &need) != BT_OK) need = BT_DEC_MAX;
    if (need <= ledger->cash) return BT_OK;
    bt_dec_format(need, a);
    bt_dec_format(ledger->cash, b);
    snprintf(reason, size, "insufficient cash: needs %s, cash %s", a, b);
    return BT_ERANGE;
  }
  bt_dec held = pos->quantity > 0 ? pos->quantity : 0;
  if (-quantity > held) {
    bt_dec_format(-quantity, a);
    bt_dec_format(held, b);
    snprintf(reason, size, "short sale without margin: sells %s, holds %s",
             a, b);
    return BT_ERANGE;
  }
  if (bt_dec_sub(ledger->cash, notional, &have) != BT_OK) return BT_OK;
  if (commission <= have) return BT_OK;
  bt_dec_format(commission, a);
  bt_dec_format(have, b);
  snprintf(reason, size, "insufficient cash: commission %s, cash %s", a, b);
  return BT_ERANGE;
}

static void close_trip(bt_ledger *ledger, bt_position *pos) {
  ledger->round_trips++;
  if (pos->trip_pnl > 0) {
    ledger->winning_trips++;
    bt_dec_acc_add(&ledger->gross_profit, pos->trip_pnl);
  } else {
    bt_dec_acc_sub(&ledger->gross_loss, pos->trip_pnl);
  }
  pos->trip_pnl = 0;
}

/* The new position after a fill that reduces, closes or flips `old`. */
typedef struct reduce_result {
  bt_dec cost, realized, remainder_cost;
  bool closes, flips;
} reduce_result;

static int reduce(const bt_position *pos, bt_dec quantity, bt_dec price,
                  reduce_result *res) {
  bt_dec old = pos->quantity, held = dec_abs(old);
  bt_dec closing = dec_abs(quantity) < held ? dec_abs(quantity) : held;
  bt_dec removed, value;
  int rc = closing == held ? (removed = pos->cost, BT_OK)
                           : mul_div(pos->cost, closing, held, &removed);
  if (rc == BT_OK) rc = bt_dec_mul(old > 0 ? closing : -closing, price, &value);
  if (rc == BT_OK) rc = bt_dec_sub(value, removed, &res->realized);
  if (rc == BT_OK) rc = bt_dec_sub(pos->cost, removed, &res->cost);
  res->closes = closing == held;
  res->flips = dec_abs(quantity) > held;
  res->remainder_cost = 0;
  if (rc == BT_OK && res->flips) {
    bt_dec rest = quantity > 0 ? dec_abs(quantity) - held
                               : held - dec_abs(quantity);
    rc = bt_dec_mul(rest, price, &res->remainder_cost);
  }
  return rc;
}

int bt_ledger_apply(bt_ledger *ledger, int32_t asset, bt_dec quantity,
                    bt_dec price, bt_dec commission) {
  bt_position *pos = &ledger->positions[asset];
  bt_dec notional, cash, new_quantity, trip, realized_total, commissions;
  int rc = bt_dec_mul(quantity, price, &notional);
  if (rc == BT_OK) rc = bt_dec_sub(ledger->cash, notional, &cash);
  if (rc == BT_OK) rc = bt_dec_sub(cash, commission, &cash);
  if (rc == BT_OK) rc = bt_dec_add(pos->quantity, quantity, &new_quantity);
  if (rc == BT_OK) rc = bt_dec_add(ledger->commissions, commission,
                                   &commissions);
  if (rc != BT_OK) return rc;
  bool increases = pos->quantity == 0 || (pos->quantity > 0) == (quantity > 0);
  reduce_result res = {0};
  if (increases) {
    rc = bt_dec_add(pos->cost, notional, &res.cost);
  } else {
    rc = reduce(pos, quantity, price, &res);
  }
  if (rc == BT_OK) rc = bt_dec_add(pos->trip_pnl, res.realized, &trip);
  if (rc == BT_OK) rc = bt_dec_sub(trip, commission, &trip);
  if (rc == BT_OK) rc = bt_dec_add(ledger->realized, res.realized,
                                   &realized_total);
  if (rc != BT_OK) return rc;
  /* Everything fits: commit. */
  if (pos->quantity == 0) ledger->open_positions++;
  ledger->cash = cash;
  ledger->commissions = commissions;
  ledger->realized = realized_total;
  pos->realized += res.realized; /* |part| <= |total|: cannot overflow */
  pos->trip_pnl = trip;
  pos->quantity = new_quantity;
  pos->cost = res.cost;
  pos->last_price = price;
  bt_dec_acc_add(&ledger->traded, dec_abs(notional));
  if (!increases && (res.closes || res.flips)) {
    close_trip(ledger, pos);
    if (res.flips) pos->cost = res.remainder_cost;
  }
  if (new_quantity == 0) ledger->open_positions--;
  return BT_OK;
}

/* quantity * last_price; whole quantities (the common case) take the
 * exact integer product, which is what bt_dec_mul would round to. */
static int market_value(const bt_position *pos, bt_dec *out) {
  if (pos->quantity % BT_DEC_SCALE == 0)
    return bt_dec_mul_int(pos->last_price, pos->quantity / BT_DEC_SCALE, out);
  return bt_dec_mul(pos->quantity, pos->last_price, out);
}

/* Sum over positions of f(quantity * last_price). */
static int sum_positions(const bt_ledger *ledger, bool absolute,
                         bool less_cost, bt_dec *out) {
  bt_dec total = 0;
  for (int32_t i = 0; i < ledger->asset_count; i++) {
    const bt_position *pos = &ledger->positions[i];
    if (pos->quantity == 0) continue;
    bt_dec value;
    int rc = market_value(pos, &value);
    if (rc == BT_OK && less_cost) rc = bt_dec_sub(value, pos->cost, &value);
    if (absolute) value = dec_abs(value);
    if (rc == BT_OK) rc = bt_dec_add(total, value, &total);
    if (rc != BT_OK) return rc;
  }
  *out = total;
  return BT_OK;
}

int bt_ledger_positions_value(const bt_ledger *ledger, bt_dec *out) {
  return sum_positions(ledger, false, false, out);
}

int bt_ledger_value(const bt_ledger *ledger, bt_dec *out) {
  bt_dec positions;
  int rc = sum_positions(ledger, false, false, &positions);
  if (rc != BT_OK) return rc;
  return bt_dec_add(ledger->cash, positions, out);
}

int bt_ledger_unrealized(const bt_ledger *ledger, bt_dec *out) {
  return sum_positions(ledger, false, true, out);
}

int bt_ledger_gross_exposure(const bt_ledger *ledger, bt_dec *out) {
  return sum_positions(ledger, true, false, out);
}
