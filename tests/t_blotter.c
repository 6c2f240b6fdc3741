/* t_blotter.c: order rules of blotter.h on hand-computed bars: fill
 * prices (next_open / next_close), limits, stops, volume-limited partial
 * fills, slippage and commission to 10^-8, rejections. */
#include <stdlib.h>

#include "blotter.h"
#include "tap.h"
#include "tap_dec.h"

static bt_bar bar(const char *o, const char *h, const char *l, const char *c,
                  const char *v) {
  return (bt_bar){D(o), D(h), D(l), D(c), D(v)};
}

typedef struct world {
  bt_blotter blotter;
  bt_ledger ledger;
} world;

static void setup(world *w, const bt_blotter_config *config,
                  const char *capital) {
  bt_asset_class classes[2] = {BT_CLASS_EQUITY, BT_CLASS_CRYPTO};
  if (bt_blotter_init(&w->blotter, config, 2, classes) != BT_OK) abort();
  if (bt_ledger_init(&w->ledger, D(capital), 2, false) != BT_OK) abort();
}

static void teardown(world *w) {
  bt_blotter_free(&w->blotter);
  bt_ledger_free(&w->ledger);
}

static int64_t place(world *w, int asset, const char *qty, bt_order_type type,
                     const char *limit, const char *stop, int64_t bar_index) {
  int64_t id = 0;
  bt_err err = {0};
  int rc = bt_blotter_place(&w->blotter, asset, D(qty), type,
                            limit ? D(limit) : 0, stop ? D(stop) : 0,
                            bar_index, bar_index * 60, &id, &err);
  if (rc != BT_OK) diag("place: %s", err.msg);
  return id;
}

static int fill(world *w, int asset, bt_bar b, int64_t bar_index) {
  return bt_blotter_fill_asset(&w->blotter, &w->ledger, asset, &b, bar_index,
                               bar_index * 60);
}

static void test_market(void) {
  bt_blotter_config config = {0};
  world w;
  setup(&w, &config, "100000");
  int64_t id = place(&w, 0, "10", BT_ORDER_MARKET, NULL, NULL, 5);
  is_int(id, 1, "market: first order has id 1");
  is_int(fill(&w, 0, bar("100", "110", "90", "105", "1000"), 5), 0,
         "market: not eligible on the bar it was placed");
  is_int(fill(&w, 0, bar("101.25", "110", "90", "105.5", "1000"), 6), 1,
         "market: fills on the next bar");
  const bt_fill *f = &w.blotter.fills[0];
  is_str(S(f->price), "101.25", "next_open: price is t+1's open");
  is_str(S(f->quantity), "10", "quantity 10");
  is_int(f->bar, 6, "fill bar is t+1");
  is_str(S(w.ledger.cash), "98987.5", "cash 100000 - 1012.5");
  is_int(bt_blotter_order(&w.blotter, id)->status, BT_ORDER_FILLED, "filled");
  teardown(&w);

  config.fill = BT_FILL_NEXT_CLOSE;
  setup(&w, &config, "100000");
  place(&w, 0, "-3", BT_ORDER_MARKET, NULL, NULL, 5);
  w.ledger.allow_margin = true;
  fill(&w, 0, bar("101.25", "110", "90", "105.5", "1000"), 6);
  is_str(S(w.blotter.fills[0].price), "105.5", "next_close: t+1's close");
  is_str(S(w.ledger.cash), "100316.5", "short sale proceeds with margin");
  teardown(&w);
}

static void test_limits(void) {
  bt_blotter_config config = {0};
  world w;
  setup(&w, &config, "100000");
  int64_t never = place(&w, 0, "5", BT_ORDER_LIMIT, "89.99", NULL, 0);
  int64_t gap = place(&w, 0, "5", BT_ORDER_LIMIT, "100", NULL, 0);
  int64_t touch = place(&w, 0, "5", BT_ORDER_LIMIT, "96.5", NULL, 0);
  is_int(fill(&w, 0, bar("98", "99", "95", "97", "1000"), 1), 2,
         "limit: two of three fill");
  is_str(S(w.blotter.fills[0].price), "98", "limit gapped through: the open");
  is_int(w.blotter.fills[0].order_id, gap, "gap order first (older)");
  is_str(S(w.blotter.fills[1].price), "96.5", "touched limit: the limit");
  is_int(w.blotter.fills[1].order_id, touch, "touched order");
  fill(&w, 0, bar("95", "99", "90", "97", "1000"), 2);
  fill(&w, 0, bar("91", "92", "90", "90.5", "1000"), 3);
  const bt_order *o = bt_blotter_order(&w.blotter, never);
  is_int(o->status, BT_ORDER_OPEN, "limit never touched stays open");
  is_int(w.blotter.fill_count, 2, "and never fills");
  is_int(bt_blotter_cancel(&w.blotter, never, 240), BT_OK, "cancel it");
  is_int(bt_blotter_cancel(&w.blotter, never, 240), BT_ESTATE,
         "cancel twice: not open");
  is_int(bt_blotter_cancel(&w.blotter, 99, 240), BT_ENOTFOUND, "no order 99");
  is_str(S(w.blotter.open_quantity[0]), "0", "nothing left open");
  /* sell limit: high >= limit, at max(open, limit) */
  place(&w, 0, "-4", BT_ORDER_LIMIT, "102", NULL, 3);
  place(&w, 0, "-4", BT_ORDER_LIMIT, "99", NULL, 3);
  fill(&w, 0, bar("100", "103", "99", "101", "1000"), 4);
  is_str(S(w.blotter.fills[2].price), "102", "sell limit touched: limit");
  is_str(S(w.blotter.fills[3].price), "100", "sell limit gapped: open");
  teardown(&w);
}

static void test_stops(void) {
  bt_blotter_config config = {0};
  world w;
  setup(&w, &config, "100000");
  int64_t stop = place(&w, 0, "2", BT_ORDER_STOP, NULL, "105", 0);
  int64_t gapped = place(&w, 0, "2", BT_ORDER_STOP, NULL, "102", 0);
  int64_t sl = place(&w, 0, "2", BT_ORDER_STOP_LIMIT, "104", "104.5", 0);
  fill(&w, 0, bar("101", "104.99", "100", "104", "1000"), 1);
  is_int(w.blotter.fill_count, 2, "stop: 105 not touched by high 104.99");
  is_str(S(w.blotter.fills[0].price), "102", "stop 102 touched: at stop");
  is_int(bt_blotter_order(&w.blotter, sl)->triggered, 1,
         "stop-limit triggered at 104.5");
  is_int(bt_blotter_order(&w.blotter, sl)->status, BT_ORDER_FILLED,
         "and filled at its limit on the same bar (low 100 <= 104)");
  is_str(S(w.blotter.fills[1].price), "104", "stop-limit price min(104.5,104)");
  fill(&w, 0, bar("106", "107", "105.5", "106", "1000"), 2);
  is_str(S(w.blotter.fills[2].price), "106", "stop gapped through: the open");
  is_int(w.blotter.fills[2].order_id, stop, "the 105 stop");
  (void)gapped;
  /* sell stop: low <= stop, at min(open, stop) */
  place(&w, 0, "-2", BT_ORDER_STOP, NULL, "99", 2);
  fill(&w, 0, bar("100", "101", "98", "99.5", "1000"), 3);
  is_str(S(w.blotter.fills[3].price), "99", "sell stop: at the stop");
  teardown(&w);
}

static void test_volume_limit(void) {
  bt_blotter_config config = {.slippage = {.model = BT_SLIPPAGE_VOLUME_SHARE,
                                           .volume_limit = D("0.025"),
                                           .price_impact = D("0.1")}};
  world w;
  setup(&w, &config, "100000");
  int64_t id = place(&w, 0, "150", BT_ORDER_MARKET, NULL, NULL, 0);
  fill(&w, 0, bar("100", "101", "99", "100", "1000"), 1);
  const bt_order *o = bt_blotter_order(&w.blotter, id);
  is_str(S(w.blotter.fills[0].quantity), "25", "bar 1: 2.5% of 1000 = 25");
  /* share 0.025, impact 100 * 0.1 * 0.000625 = 0.00625 */
  is_str(S(w.blotter.fills[0].price), "100.00625", "bar 1 price + impact");
  is_int(o->status, BT_ORDER_PARTIAL, "partially filled");
  fill(&w, 0, bar("200", "201", "199", "200", "2000"), 2);
  is_str(S(w.blotter.fills[1].quantity), "50", "bar 2: 2.5% of 2000 = 50");
  is_str(S(w.blotter.fills[1].price), "200.0125", "bar 2 price");
  fill(&w, 0, bar("50", "51", "49", "50", "4000"), 3);
  is_str(S(w.blotter.fills[2].quantity), "75", "bar 3: the remaining 75");
  /* share 75/4000 = 0.01875, share^2 = 0.0003515625 -> 0.00035156 (each
   * step rounds half-even at 1e-8), * (50 * 0.1) = 0.0017578 */
  is_str(S(w.blotter.fills[2].price), "50.0017578",
         "bar 3 price, impact rounded step by step");
  is_int(o->status, BT_ORDER_FILLED, "filled after three bars");
  is_str(S(o->filled), "150", "150 in all");
  teardown(&w);
}

/* The volume limit caps the bar, not each order (zipline's rule), and the
 * price impact is that of the bar's total so far. */
static void test_volume_limit_per_bar(void) {
  bt_blotter_config config = {.slippage = {.model = BT_SLIPPAGE_VOLUME_SHARE,
                                           .volume_limit = D("0.1"),
                                           .price_impact = D("0.1")}};
  world w;
  setup(&w, &config, "100000");
  int64_t first = place(&w, 0, "100", BT_ORDER_MARKET, NULL, NULL, 0);
  int64_t second = place(&w, 0, "100", BT_ORDER_MARKET, NULL, NULL, 0);
  is_int(fill(&w, 0, bar("100", "101", "99", "100", "400"), 1), 1,
         "per bar: one fill on a bar of 400 at a 0.1 limit");
  is_str(S(w.blotter.fills[0].quantity), "40", "the oldest order takes 40");
  is_str(S(bt_blotter_order(&w.blotter, second)->filled), "0",
         "the second order gets nothing on that bar");
  is_str(S(w.blotter.open_quantity[0]), "160", "160 still open");
  fill(&w, 0, bar("100", "101", "99", "100", "400"), 2);
  is_int((int)w.blotter.fill_count, 2, "bar 2: again one fill");
  is_str(S(bt_blotter_order(&w.blotter, first)->filled), "80",
         "first order 80 after two bars");
  teardown(&w);

  config.slippage.volume_limit = D("0.5");
  setup(&w, &config, "100000");
  place(&w, 0, "100", BT_ORDER_MARKET, NULL, NULL, 0);
  place(&w, 0, "-60", BT_ORDER_MARKET, NULL, NULL, 0);
  w.ledger.allow_margin = true;
  fill(&w, 0, bar("100", "101", "99", "100", "400"), 1);
  /* share 100/400 = 0.25: 100 * 0.1 * 0.0625 = 0.625 */
  is_str(S(w.blotter.fills[0].price), "100.625", "impact of the first 100");
  /* the bar's total 160/400 = 0.4: 10 * 0.16 = 1.6, against the sell */
  is_str(S(w.blotter.fills[1].price), "98.4",
         "impact of the bar's total 160, not of the order's 60");
  teardown(&w);
}

/* A stop-limit in the conservative mode does not fill on its trigger bar. */
static void test_stop_limit_next_bar(void) {
  bt_blotter_config config = {.stop_limit = BT_STOP_LIMIT_NEXT_BAR};
  world w;
  setup(&w, &config, "100000");
  int64_t id = place(&w, 0, "10", BT_ORDER_STOP_LIMIT, "106", "105", 0);
  is_int(fill(&w, 0, bar("100", "107", "99", "104", "1000"), 1), 0,
         "next_bar: touched at 107 but no fill on the trigger bar");
  ok(bt_blotter_order(&w.blotter, id)->triggered, "armed");
  is_int(fill(&w, 0, bar("104.5", "108", "104", "107", "1000"), 2), 1,
         "fills as a limit on the next bar");
  is_str(S(w.blotter.fills[0].price), "104.5", "at min(open, limit)");
  teardown(&w);

  config.stop_limit = BT_STOP_LIMIT_SAME_BAR;
  setup(&w, &config, "100000");
  place(&w, 0, "10", BT_ORDER_STOP_LIMIT, "106", "105", 0);
  is_int(fill(&w, 0, bar("100", "107", "99", "104", "1000"), 1), 1,
         "same_bar (default): fills on the trigger bar");
  is_str(S(w.blotter.fills[0].price), "105", "at max(open, stop)");
  teardown(&w);
}

/* Open quantities are summed per side and refused before they overflow
 * (found by UBSan: the signed sum wrapped). */
static void test_open_quantity_overflow(void) {
  bt_blotter_config config = {0};
  world w;
  setup(&w, &config, "100000");
  int64_t id = 0;
  bt_err err = {0};
  is_int(bt_blotter_place(&w.blotter, 0, D("50000000000"), BT_ORDER_MARKET,
                          0, 0, 0, 0, &id, &err),
         BT_OK, "a buy of 5e10");
  is_int(bt_blotter_place(&w.blotter, 0, D("-90000000000"), BT_ORDER_MARKET,
                          0, 0, 0, 0, &id, &err),
         BT_OK, "a sell of 9e10");
  is_int(bt_blotter_place(&w.blotter, 0, D("50000000000"), BT_ORDER_MARKET,
                          0, 0, 0, 0, &id, &err),
         BT_EOVERFLOW, "open buys of 1e11 refused");
  is_str(err.msg,
         "order: the open buys of asset 1 would exceed the decimal range",
         "message");
  is_str(S(w.blotter.open_quantity[0]), "-40000000000", "open: -4e10");
  is_int(bt_blotter_cancel(&w.blotter, 1, 0), BT_OK, "cancel the buy");
  is_str(S(w.blotter.open_quantity[0]), "-90000000000", "open: -9e10");
  is_str(S(w.blotter.open_buy[0]), "0", "open buys: 0 after the cancel");
  is_str(S(w.blotter.open_sell[0]), "-90000000000", "open sells: -9e10");
  is_int(bt_blotter_place(&w.blotter, 0, D("-1"), BT_ORDER_MARKET, 0, 0, 0,
                          0, &id, &err),
         BT_OK, "a sell of 1 still fits");
  teardown(&w);
}

#define DAY_NS INT64_C(86400000000000)
#define HOUR_NS INT64_C(3600000000000)

static int fill_at(world *w, int asset, bt_bar b, int64_t bar_index,
                   int64_t time) {
  return bt_blotter_fill_asset(&w->blotter, &w->ledger, asset, &b, bar_index,
                               time);
}

/* Day orders expire at the asset's first bar of a later UTC day than
 * their first eligible bar; status changes are logged as events. */
static void test_day_orders(void) {
  bt_blotter_config config = {0};
  world w;
  setup(&w, &config, "100000");
  w.blotter.log_events = true;
  int64_t day = place(&w, 0, "5", BT_ORDER_LIMIT, "90", NULL, 0);
  int64_t gtc = place(&w, 0, "5", BT_ORDER_LIMIT, "90", NULL, 0);
  is_int(bt_blotter_set_day(&w.blotter, day), BT_OK, "set_day");
  is_int(bt_blotter_set_day(&w.blotter, 99), BT_ENOTFOUND, "set_day: no id");
  bt_bar b = bar("100", "101", "95", "100", "1000");
  fill_at(&w, 0, b, 1, DAY_NS + 9 * HOUR_NS);
  fill_at(&w, 0, b, 2, DAY_NS + 15 * HOUR_NS);
  is_int(bt_blotter_order(&w.blotter, day)->status, BT_ORDER_OPEN,
         "day order: open through its first eligible day");
  fill_at(&w, 0, b, 3, 2 * DAY_NS + 9 * HOUR_NS);
  is_int(bt_blotter_order(&w.blotter, day)->status, BT_ORDER_EXPIRED,
         "day order: expired at the first bar of the next day");
  is_str(bt_order_status_name(BT_ORDER_EXPIRED), "expired", "status name");
  is_int(bt_blotter_order(&w.blotter, gtc)->status, BT_ORDER_OPEN,
         "the GTC order stays open");
  is_str(S(w.blotter.open_quantity[0]), "5", "only the GTC order is open");
  is_int(w.blotter.expirations, 1, "one expiration");
  fill_at(&w, 0, bar("89", "95", "88", "90", "1000"), 4,
          2 * DAY_NS + 10 * HOUR_NS);
  is_int((int)w.blotter.event_count, 2, "two events: expired, filled");
  is_int(w.blotter.events[0], day, "first the expiry");
  is_int(w.blotter.events[1], gtc, "then the fill");
  is_int(bt_blotter_set_day(&w.blotter, gtc), BT_ESTATE,
         "set_day on a filled order");
  teardown(&w);
}

/* Trailing stops follow the close of each bar that does not trigger them. */
static void test_trailing_stops(void) {
  bt_blotter_config config = {0};
  world w;
  setup(&w, &config, "100000");
  w.ledger.allow_margin = true;
  int64_t id = place(&w, 0, "-10", BT_ORDER_STOP, NULL, "98", 0);
  is_int(bt_blotter_set_trail(&w.blotter, id, D("2"), 0), BT_OK, "trail 2");
  fill(&w, 0, bar("100", "103", "99", "102", "1000"), 1);
  is_str(S(bt_blotter_order(&w.blotter, id)->stop), "100",
         "sell: stop up to close 102 - 2");
  fill(&w, 0, bar("102", "105", "101", "104", "1000"), 2);
  is_str(S(bt_blotter_order(&w.blotter, id)->stop), "102", "stop 104 - 2");
  fill(&w, 0, bar("103", "103.5", "103", "103", "1000"), 3);
  is_str(S(bt_blotter_order(&w.blotter, id)->stop), "102",
         "a lower close never lowers a sell's stop");
  is_int(fill(&w, 0, bar("103", "103.5", "101.5", "102", "1000"), 4), 1,
         "low 101.5 touches 102: fills");
  is_str(S(w.blotter.fills[0].price), "102", "at min(open 103, stop 102)");
  teardown(&w);

  setup(&w, &config, "100000");
  id = place(&w, 0, "10", BT_ORDER_STOP, NULL, "105", 0);
  is_int(bt_blotter_set_trail(&w.blotter, id, 0, D("0.05")), BT_OK,
         "trail 5%");
  fill(&w, 0, bar("98", "99", "95", "96", "1000"), 1);
  is_str(S(bt_blotter_order(&w.blotter, id)->stop), "100.8",
         "buy: stop down to close 96 * 1.05");
  fill(&w, 0, bar("99", "101", "98", "100", "1000"), 2);
  is_str(S(w.blotter.fills[0].price), "100.8", "fills at max(open, stop)");
  int64_t limit = place(&w, 0, "1", BT_ORDER_LIMIT, "90", NULL, 2);
  is_int(bt_blotter_set_trail(&w.blotter, limit, D("1"), 0), BT_EINVAL,
         "only stop orders trail");
  int64_t stop = place(&w, 0, "1", BT_ORDER_STOP, NULL, "200", 2);
  is_int(bt_blotter_set_trail(&w.blotter, stop, D("1"), D("0.1")),
         BT_EINVAL, "amount or percent, not both");
  is_int(bt_blotter_set_trail(&w.blotter, stop, 0, D("1")), BT_EINVAL,
         "percent below 1");
  teardown(&w);
}

static void test_costs(void) {
  bt_blotter_config config = {
      .slippage = {.model = BT_SLIPPAGE_FIXED_BPS, .bps = D("5")},
      .commission = {.model = BT_COMMISSION_PER_DOLLAR, .rate = D("0.0015")}};
  world w;
  setup(&w, &config, "100000");
  place(&w, 0, "10", BT_ORDER_MARKET, NULL, NULL, 0);
  place(&w, 0, "-10", BT_ORDER_MARKET, NULL, NULL, 1);
  fill(&w, 0, bar("123.45", "124", "123", "123.5", "1000"), 1);
  /* 123.45 * 5 / 10000 = 0.061725 */
  is_str(S(w.blotter.fills[0].price), "123.511725", "fixed_bps buy price");
  /* 1235.11725 * 0.0015 = 1.852675875 -> half-even 1.85267588 */
  is_str(S(w.blotter.fills[0].commission), "1.85267588",
         "per_dollar commission, half-even at 1e-8");
  is_str(S(w.ledger.cash), "98763.03007412", "cash after buy");
  fill(&w, 0, bar("130", "131", "129", "130", "1000"), 2);
  is_str(S(w.blotter.fills[1].price), "129.935", "fixed_bps sell price");
  is_str(S(w.blotter.fills[1].commission), "1.949025", "sell commission");
  is_str(S(w.ledger.realized), "64.23275", "realized 1299.35 - 1235.11725");
  is_int(w.ledger.round_trips, 1, "one round trip");
  is_int(w.ledger.winning_trips, 1, "a winner (64.23275 - commissions)");
  teardown(&w);

  bt_blotter_config per_share = {
      .slippage = {.model = BT_SLIPPAGE_FIXED_BPS, .bps = 0,
                   .volume_limit = D("0.01")},
      .commission = {.model = BT_COMMISSION_PER_SHARE, .cost = D("0.005"),
                     .min_per_order = D("1")}};
  setup(&w, &per_share, "100000");
  place(&w, 0, "300", BT_ORDER_MARKET, NULL, NULL, 0);
  fill(&w, 0, bar("10", "10", "10", "10", "10000"), 1);
  is_str(S(w.blotter.fills[0].commission), "1", "per_share: min 1 first");
  fill(&w, 0, bar("10", "10", "10", "10", "10000"), 2);
  is_str(S(w.blotter.fills[1].commission), "0",
         "200 shares * 0.005 = 1: nothing more");
  fill(&w, 0, bar("10", "10", "10", "10", "10000"), 3);
  is_str(S(w.blotter.fills[2].commission), "0.5", "300 * 0.005 - 1 = 0.5");
  is_str(S(w.ledger.commissions), "1.5", "1.5 in all");
  teardown(&w);

  bt_blotter_config per_trade = {
      .commission = {.model = BT_COMMISSION_PER_TRADE, .cost = D("4.95")}};
  setup(&w, &per_trade, "100000");
  place(&w, 1, "0.12345678", BT_ORDER_MARKET, NULL, NULL, 0);
  fill(&w, 1, bar("40000", "40000", "40000", "40000", "5"), 1);
  is_str(S(w.blotter.fills[0].quantity), "0.12345678",
         "crypto quantity: 8 places kept");
  is_str(S(w.blotter.fills[0].commission), "4.95", "per_trade cost");
  is_str(S(w.ledger.cash), "95056.7788", "100000 - 4938.2712 - 4.95");
  int64_t eq = place(&w, 0, "2.555", BT_ORDER_MARKET, NULL, NULL, 0);
  is_str(S(bt_blotter_order(&w.blotter, eq)->quantity), "2.56",
         "equity quantity: 2 places, half_up");
  teardown(&w);
}

static void test_reject_and_missing(void) {
  bt_blotter_config config = {0};
  world w;
  setup(&w, &config, "1000");
  int64_t id = place(&w, 0, "20", BT_ORDER_MARKET, NULL, NULL, 0);
  bt_bar missing = {INT64_MIN, INT64_MIN, INT64_MIN, INT64_MIN, INT64_MIN};
  is_int(bt_blotter_fill_asset(&w.blotter, &w.ledger, 0, &missing, 1, 60), 0,
         "no fill on a missing bar");
  is_int(bt_blotter_order(&w.blotter, id)->status, BT_ORDER_OPEN,
         "still open after the missing bar");
  fill(&w, 0, bar("100", "100", "100", "100", "1000"), 2);
  const bt_order *o = bt_blotter_order(&w.blotter, id);
  is_int(o->status, BT_ORDER_REJECTED, "buy the cash cannot cover: rejected");
  is_str(o->reason, "insufficient cash: needs 2000, cash 1000", "the reason");
  is_str(S(w.ledger.cash), "1000", "cash unchanged");
  is_int(w.blotter.rejections, 1, "one rejection");
  is_int(w.blotter.fill_count, 0, "no fill");
  int64_t short_id = place(&w, 0, "-1", BT_ORDER_MARKET, NULL, NULL, 2);
  fill(&w, 0, bar("100", "100", "100", "100", "1000"), 3);
  is_str(bt_blotter_order(&w.blotter, short_id)->reason,
         "short sale without margin: sells 1, holds 0", "no short sale");
  int64_t none = place(&w, 0, "0.001", BT_ORDER_MARKET, NULL, NULL, 3);
  is_int(none, 0, "equity quantity 0.001 rounds to 0: no order");
  bt_err err = {0};
  int64_t bad = 0;
  is_int(bt_blotter_place(&w.blotter, 0, D("1"), BT_ORDER_LIMIT, 0, 0, 3, 0,
                          &bad, &err),
         BT_EINVAL, "limit order without a limit");
  is_str(err.msg, "order: limit price must be > 0", "message");
  is_int(bt_blotter_place(&w.blotter, 7, D("1"), BT_ORDER_MARKET, 0, 0, 3, 0,
                          &bad, &err),
         BT_ENOTFOUND, "unknown asset");
  teardown(&w);
}

/* Brackets: entry, then on its complete fill a stop-loss and a
 * take-profit (one cancels the other); replace changes orders in place. */
static void test_brackets(void) {
  bt_blotter_config config = {0};
  world w;
  setup(&w, &config, "100000");
  int64_t entry = place(&w, 0, "10", BT_ORDER_LIMIT, "100", NULL, 0);
  is_int(bt_blotter_set_bracket(&w.blotter, entry, D("110"), D("120")),
         BT_EINVAL, "a buy's stop_loss must be below its take_profit");
  is_int(bt_blotter_set_bracket(&w.blotter, entry, D("110"), D("95")), BT_OK,
         "bracket 110 / 95");
  is_int(fill(&w, 0, bar("101", "102", "100.5", "101", "1000"), 1), 0,
         "limit 100 not reached: no exits yet");
  is_int(w.blotter.order_count, 1, "only the entry");
  is_int(fill(&w, 0, bar("100.5", "101", "99", "100", "1000"), 2), 1,
         "entry fills at min(open, 100)");
  is_str(S(w.blotter.fills[0].price), "100", "entry at 100");
  is_int(w.blotter.order_count, 3, "two exits placed on the fill");
  const bt_order *sl = bt_blotter_order(&w.blotter, 2);
  const bt_order *tp = bt_blotter_order(&w.blotter, 3);
  is_int(sl->type, BT_ORDER_STOP, "exit 2: the stop-loss");
  is_str(S(sl->stop), "95", "at 95");
  is_str(S(sl->quantity), "-10", "selling the 10 bought");
  is_int(tp->type, BT_ORDER_LIMIT, "exit 3: the take-profit");
  is_str(S(tp->limit), "110", "at 110");
  is_int(sl->parent, 1, "parent");
  is_int((int)tp->oco, 2, "oco: each other");
  is_int(fill(&w, 0, bar("100", "112", "99", "111", "1000"), 2), 0,
         "exits not eligible on the entry's bar");
  is_int(fill(&w, 0, bar("105", "112", "104", "111", "1000"), 3), 1,
         "the take-profit fills");
  is_str(S(w.blotter.fills[1].price), "110", "at max(open, 110)");
  is_int(bt_blotter_order(&w.blotter, 2)->status, BT_ORDER_CANCELLED,
         "the stop-loss cancelled by the fill");
  is_int(w.blotter.open_len[0], 0, "nothing open");
  is_str(S(w.ledger.cash), "100100", "100000 - 1000 + 1100");
  teardown(&w);

  setup(&w, &config, "100000"); /* both touched: the stop-loss first */
  entry = place(&w, 0, "10", BT_ORDER_MARKET, NULL, NULL, 0);
  int64_t other = place(&w, 0, "1", BT_ORDER_LIMIT, "1", NULL, 0);
  bt_blotter_set_bracket(&w.blotter, entry, D("110"), D("95"));
  fill(&w, 0, bar("100", "101", "99", "100", "1000"), 1);
  is_int(fill(&w, 0, bar("100", "111", "94", "100", "1000"), 2), 1,
         "a bar touching both: one fill");
  is_str(S(w.blotter.fills[1].price), "95", "the stop-loss, at min(open, 95)");
  is_int(bt_blotter_order(&w.blotter, 4)->status, BT_ORDER_CANCELLED,
         "the take-profit cancelled");
  is_int(w.blotter.open_len[0], 1, "the unrelated order stays open");
  is_int((int)w.blotter.open_ids[0][0], (int)other, "order 2");
  teardown(&w);

  setup(&w, &config, "100000"); /* cancelling an exit cancels the other */
  entry = place(&w, 0, "-5", BT_ORDER_MARKET, NULL, NULL, 0);
  w.ledger.allow_margin = true;
  is_int(bt_blotter_set_bracket(&w.blotter, entry, D("90"), D("105")), BT_OK,
         "a sell's bracket: take_profit below stop_loss");
  fill(&w, 0, bar("100", "101", "99", "100", "1000"), 1);
  is_str(S(bt_blotter_order(&w.blotter, 2)->quantity), "5",
         "the exits buy back");
  is_int(bt_blotter_cancel(&w.blotter, 3, 120), BT_OK, "cancel the limit");
  is_int(bt_blotter_order(&w.blotter, 2)->status, BT_ORDER_CANCELLED,
         "the stop-loss too");
  teardown(&w);

  setup(&w, &config, "100000"); /* replace */
  int64_t id = place(&w, 0, "10", BT_ORDER_LIMIT, "90", NULL, 0);
  is_int(bt_blotter_replace(&w.blotter, id, 0, D("99.5"), 0), BT_OK,
         "new limit");
  is_int(bt_blotter_replace(&w.blotter, id, 0, 0, D("99")), BT_EINVAL,
         "a limit order has no stop");
  is_int(bt_blotter_replace(&w.blotter, id, D("-4"), 0, 0), BT_EINVAL,
         "the other side refused");
  is_int(bt_blotter_replace(&w.blotter, id, D("4.005"), 0, 0), BT_OK,
         "new amount (rounded half_up: 4.01)");
  is_str(S(w.blotter.open_quantity[0]), "4.01", "open quantity follows");
  is_int(fill(&w, 0, bar("100", "101", "99", "100", "1000"), 1), 1,
         "fills at the new limit");
  is_str(S(w.blotter.fills[0].price), "99.5", "at 99.5");
  is_str(S(w.blotter.fills[0].quantity), "4.01", "4.01 units");
  is_int(bt_blotter_replace(&w.blotter, id, D("5"), 0, 0), BT_ESTATE,
         "a filled order cannot change");
  teardown(&w);
}

int main(void) {
  test_market();
  test_brackets();
  test_limits();
  test_stops();
  test_volume_limit();
  test_volume_limit_per_bar();
  test_stop_limit_next_bar();
  test_open_quantity_overflow();
  test_day_orders();
  test_trailing_stops();
  test_costs();
  test_reject_and_missing();
  return done_testing();
}
