/* blotter.h: orders (market, limit, stop, stop-limit), their life cycle and
 * their fills against bars: fill price rules, volume limits with partial
 * fills carried to later bars, slippage and commission models. Money is
 * bt_dec (10^-8); fills are booked into a bt_ledger.
 *
 * Rules (DESIGN.md "Orders"): an order placed during bar t is first
 * eligible on bar t+1. The reference price p of a bar is its open
 * (BT_FILL_NEXT_OPEN) or its close (BT_FILL_NEXT_CLOSE).
 *   market      fills at p.
 *   limit       buy when low <= limit, at min(p, limit);
 *               sell when high >= limit, at max(p, limit).
 *   stop        buy triggers when high >= stop, sell when low <= stop; on
 *               the trigger bar p becomes max(open, stop) (buy) or
 *               min(open, stop) (sell) under next_open, the close under
 *               next_close; then it fills as a market order.
 *   stop-limit  triggers like a stop, then fills as a limit against the
 *               same p.
 *               With BT_STOP_LIMIT_NEXT_BAR (conservative) the trigger
 *               bar only arms the limit: it fills from the next bar on.
 * Time in force: GTC (default) stays open until filled or cancelled; a DAY
 * order expires (BT_ORDER_EXPIRED) at the asset's first bar of a later UTC
 * day than its first eligible bar (on daily bars: it lives one bar).
 * Trailing stop: a stop whose stop price follows the close: after each
 * eligible bar that does not trigger it, a sell's stop becomes
 * max(stop, close - amount) or max(stop, close * (1 - percent)), a buy's
 * min(stop, close + amount) or min(stop, close * (1 + percent)) (products
 * rounded half-even at 10^-8).
 * Missing bars never fill. Slippage moves the price against the order
 * (a limit price is never exceeded): fixed_bps moves it by
 * price * bps / 10000 (one rounding), volume_share by
 * (price * price_impact) * share^2 with share = (|quantity| + what the
 * asset's earlier orders filled on this bar) / bar volume (zipline's
 * rule), each step rounded half-even at 10^-8. volume_limit caps the fills
 * of all of an asset's orders on one bar at volume_limit * bar volume
 * (rounded down to the asset's places), oldest order first; the rest stays
 * open. A fill the ledger refuses (cash, short sale) rejects the order with
 * the ledger's reason; the cash is left unchanged. */
#ifndef BT_BLOTTER_H
#define BT_BLOTTER_H

#include <stdbool.h>
#include <stdint.h>

#include "dec.h"
#include "ledger.h"

typedef enum bt_fill_mode {
  BT_FILL_NEXT_OPEN = 0, /* backtrader's rule (default) */
  BT_FILL_NEXT_CLOSE,    /* zipline's rule */
} bt_fill_mode;

/* A stop-limit on the bar its stop is touched: fill there as a limit when
 * the limit is reachable (assumes the favourable path inside the bar), or
 * wait for the next bar (conservative). */
typedef enum bt_stop_limit_mode {
  BT_STOP_LIMIT_SAME_BAR = 0,
  BT_STOP_LIMIT_NEXT_BAR,
} bt_stop_limit_mode;

typedef enum bt_order_type {
  BT_ORDER_MARKET = 0,
  BT_ORDER_LIMIT,
  BT_ORDER_STOP,
  BT_ORDER_STOP_LIMIT,
} bt_order_type;

typedef enum bt_order_status {
  BT_ORDER_OPEN = 0,
  BT_ORDER_PARTIAL,   /* partly filled, the rest still open */
  BT_ORDER_FILLED,
  BT_ORDER_CANCELLED,
  BT_ORDER_REJECTED,
  BT_ORDER_EXPIRED,   /* a day order past its day */
} bt_order_status;

typedef enum bt_time_in_force {
  BT_TIF_GTC = 0, /* good till cancelled */
  BT_TIF_DAY,
} bt_time_in_force;

typedef enum bt_slippage_model {
  BT_SLIPPAGE_NONE = 0,
  BT_SLIPPAGE_FIXED_BPS,    /* price * (1 +- bps / 10000) */
  BT_SLIPPAGE_VOLUME_SHARE, /* +- price * price_impact * share^2 */
} bt_slippage_model;

typedef struct bt_slippage {
  bt_slippage_model model;
  bt_dec bps;          /* fixed_bps: basis points (10 = 0.1%) */
  bt_dec volume_limit; /* share of bar volume per fill; 0 = no limit */
  bt_dec price_impact; /* volume_share: default 0.1 */
} bt_slippage;

typedef enum bt_commission_model {
  BT_COMMISSION_NONE = 0,
  BT_COMMISSION_PER_SHARE,  /* max(cost * |filled|, min_per_order) per order */
  BT_COMMISSION_PER_TRADE,  /* cost, once per order, on its first fill */
  BT_COMMISSION_PER_DOLLAR, /* rate * |quantity * price| per fill */
} bt_commission_model;

typedef struct bt_commission {
  bt_commission_model model;
  bt_dec cost;          /* per_share: per unit; per_trade: per order */
  bt_dec min_per_order; /* per_share */
  bt_dec rate;          /* per_dollar: 0.001 = 10 bps */
} bt_commission;

typedef struct bt_bar {
  bt_dec open, high, low, close, volume;
} bt_bar;

#define BT_REASON_MAX 112

typedef struct bt_order {
  int64_t id;       /* 1, 2, ... in placement order */
  int32_t asset;    /* 0-based */
  bt_order_type type;
  bt_order_status status;
  bt_dec quantity;  /* signed: > 0 buy, < 0 sell; rounded to the asset */
  bt_dec filled;    /* signed like quantity */
  bt_dec limit;     /* limit and stop-limit orders */
  bt_dec stop;      /* stop and stop-limit orders */
  bool triggered;   /* a stop has been touched */
  bt_time_in_force tif;
  int64_t day;      /* DAY: UTC day number of the first eligible bar + 1;
                       0 until that bar */
  bt_dec trail_amount;  /* trailing stop: one of these > 0, else both 0 */
  bt_dec trail_percent; /*   (0.05 = 5%) */
  bt_dec commission;    /* charged so far */
  bt_dec take_profit;   /* bracket entry: exit prices (0: none), placed */
  bt_dec stop_loss;     /*   when the entry is completely filled */
  int64_t parent;       /* bracket exit: the entry's id, else 0 */
  int64_t oco;          /* bracket exit: the other exit's id, else 0 */
  int64_t placed_bar;   /* bar index of placement; eligible from +1 */
  int64_t placed_time;  /* ns */
  int64_t done_time;    /* ns of fill/cancel/reject, 0 while open */
  char *reason;         /* why rejected (owned by the blotter), or NULL */
} bt_order;

typedef struct bt_fill {
  int64_t order_id;
  int64_t bar;        /* bar index */
  int64_t time;       /* ns, the bar's open time */
  int32_t asset;
  bt_dec quantity;    /* signed */
  bt_dec price;       /* after slippage */
  bt_dec commission;
} bt_fill;

typedef struct bt_blotter_config {
  bt_fill_mode fill;
  bt_stop_limit_mode stop_limit;
  bt_slippage slippage;
  bt_commission commission;
} bt_blotter_config;

typedef struct bt_blotter {
  bt_blotter_config config;
  int32_t asset_count;
  bt_rounding *rounding;   /* per asset: quantity places and mode */
  bt_order *orders;        /* all orders, index = id - 1 */
  int64_t order_count, order_cap;
  bt_fill *fills;
  int64_t fill_count, fill_cap;
  int64_t **open_ids;      /* per asset: ids of open orders, oldest first */
  int32_t *open_len, *open_cap;
  bt_dec *open_quantity;   /* per asset: signed unfilled open quantity */
  bt_dec *open_buy;        /* per asset: unfilled open buys (>= 0) and */
  bt_dec *open_sell;       /*   sells (<= 0); each in range, so is their sum */
  bt_dec *bar_used;        /* per asset: |quantity| filled on bar_of_used */
  int64_t *bar_of_used;    /* per asset: bar index of bar_used (-1 none) */
  int64_t open_total;      /* open orders over all assets */
  int64_t rejections;
  int64_t expirations;     /* day orders expired */
  bool log_events;         /* keep events (set by the caller) */
  bool list_changed;       /* an OCO cancel reordered an open list */
  int64_t *events;         /* ids of orders whose status changed, in order */
  int64_t event_count, event_cap;
} bt_blotter;

/* classes: asset_count entries (quantity rounding per class). */
int bt_blotter_init(bt_blotter *blotter, const bt_blotter_config *config,
                    int32_t asset_count, const bt_asset_class *classes);
void bt_blotter_free(bt_blotter *blotter);

/* Places an order during bar `bar` (time ns). quantity is signed and is
 * rounded to the asset's places with its class mode; a quantity that
 * rounds to 0 places nothing (*out_id = 0). limit/stop are used by the
 * types that need them and must be > 0. BT_EOVERFLOW when the asset's open
 * buys (or sells) would sum beyond the decimal range. */
int bt_blotter_place(bt_blotter *blotter, int32_t asset, bt_dec quantity,
                     bt_order_type type, bt_dec limit, bt_dec stop,
                     int64_t bar, int64_t time, int64_t *out_id,
                     bt_err *err);

/* Makes an open order a day order (BT_ENOTFOUND, BT_ESTATE). */
int bt_blotter_set_day(bt_blotter *blotter, int64_t id);

/* Makes an open, untriggered stop order a trailing stop: amount > 0 (price
 * units) or 0 < percent < 1, the other 0. The caller sets the first stop
 * (from the price at placement). BT_EINVAL for other orders or values. */
int bt_blotter_set_trail(bt_blotter *blotter, int64_t id, bt_dec amount,
                         bt_dec percent);

/* Makes an open, unfilled order (not itself an exit) a bracket entry:
 * when it is completely filled, on that bar, two exits of the opposite
 * quantity are placed (eligible from the next bar): first a stop at
 * stop_loss, then a limit at take_profit (0: that exit is left out). The
 * first fill of one exit cancels the other (one cancels the other), and
 * cancelling one cancels the other. A buy entry needs stop_loss <
 * take_profit, a sell entry the reverse. An entry that ends otherwise
 * (cancelled, expired, rejected, even after a partial fill) places none.
 * BT_ENOTFOUND, BT_ESTATE (not open or filled), BT_EINVAL (prices). */
int bt_blotter_set_bracket(bt_blotter *blotter, int64_t id,
                           bt_dec take_profit, bt_dec stop_loss);

/* Changes an open order in place (same id, same place in the queue), from
 * its next fill attempt: quantity (0: keep) to a new signed quantity of
 * the same side, rounded like a new order, beyond what is filled; limit
 * (0: keep) of a limit or stop-limit; stop (0: keep) of a stop or
 * stop-limit not yet triggered and not trailing. A bracket's exit keeps
 * its quantity. BT_ENOTFOUND, BT_ESTATE (not open), BT_EINVAL (what the
 * order does not have, a quantity of the other side or not beyond the
 * filled part), BT_EOVERFLOW (open sums). */
int bt_blotter_replace(bt_blotter *blotter, int64_t id, bt_dec quantity,
                       bt_dec limit, bt_dec stop);

/* Cancels an open order: BT_OK, BT_ENOTFOUND (no such id), BT_ESTATE
 * (already filled, cancelled or rejected). */
int bt_blotter_cancel(bt_blotter *blotter, int64_t id, int64_t time);

/* Fills the eligible open orders of `asset` against its bar `bar` (NULL or
 * a missing bar: nothing happens), oldest first, booking into ledger.
 * Returns the number of fills made (>= 0) or a negative BT_E* status. */
int bt_blotter_fill_asset(bt_blotter *blotter, bt_ledger *ledger,
                          int32_t asset, const bt_bar *bar, int64_t bar_index,
                          int64_t time);

static inline const bt_order *bt_blotter_order(const bt_blotter *blotter,
                                               int64_t id) {
  return id >= 1 && id <= blotter->order_count ? &blotter->orders[id - 1]
                                               : NULL;
}

const char *bt_order_status_name(bt_order_status status);
const char *bt_order_type_name(bt_order_type type);

#endif
