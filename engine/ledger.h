/* ledger.h: the account of a backtest: cash, positions (quantity, cost
 * basis, last price), realized and unrealized PnL and closed round trips,
 * all in exact bt_dec (10^-8). The blotter asks it whether a fill is
 * affordable, then applies the fill; the bar loop marks positions. */
#ifndef BT_LEDGER_H
#define BT_LEDGER_H

#include <stdbool.h>
#include <stdint.h>

#include "dec.h"

typedef struct bt_position {
  bt_dec quantity;   /* signed units: > 0 long, < 0 short */
  bt_dec cost;       /* cost basis of the open quantity (signed like it) */
  bt_dec last_price; /* last mark (close of the last bar present), 0 before */
  bt_dec realized;   /* realized PnL of this asset, commissions excluded */
  bt_dec trip_pnl;   /* PnL of the open round trip, commissions included */
} bt_position;

typedef struct bt_ledger {
  bt_dec capital;     /* starting cash */
  bt_dec cash;        /* may go negative only with allow_margin */
  bool allow_margin;  /* false: buys must be covered, no short sales */
  int32_t asset_count;
  bt_position *positions;      /* asset_count entries */
  bt_dec realized;             /* sum over assets, commissions excluded */
  bt_dec commissions;          /* total commission paid */
  bt_dec_acc traded;           /* sum of |quantity * price| of all fills */
  int64_t round_trips;         /* closed round trips (flat -> flat) */
  int64_t winning_trips;       /* closed with trip PnL > 0 */
  bt_dec_acc gross_profit;     /* sum of PnL of winning trips */
  bt_dec_acc gross_loss;       /* sum of -PnL of losing trips (>= 0) */
  int32_t open_positions;      /* assets with quantity != 0 */
} bt_ledger;

int bt_ledger_init(bt_ledger *ledger, bt_dec capital, int32_t asset_count,
                   bool allow_margin);
void bt_ledger_free(bt_ledger *ledger);

/* Can a fill of `quantity` (signed) at `price` with `commission` go through?
 * 0 when it can; BT_ERANGE with a reason in `reason` (size bytes) when the
 * cash cannot cover a buy or a sale would open a short, without margin. */
int bt_ledger_check(const bt_ledger *ledger, int32_t asset, bt_dec quantity,
                    bt_dec price, bt_dec commission, char *reason,
                    size_t size);

/* Books a fill: cash, position, cost basis, realized PnL, round trips.
 * The position is also marked at `price`. BT_EOVERFLOW leaves the ledger
 * unchanged. */
int bt_ledger_apply(bt_ledger *ledger, int32_t asset, bt_dec quantity,
                    bt_dec price, bt_dec commission);

/* Marks an asset at a price (the close of a bar that is present). */
static inline void bt_ledger_mark(bt_ledger *ledger, int32_t asset,
                                  bt_dec price) {
  ledger->positions[asset].last_price = price;
}

/* Market value of the positions: sum of quantity * last_price. */
int bt_ledger_positions_value(const bt_ledger *ledger, bt_dec *out);
/* Portfolio value: cash + market value of the positions. */
int bt_ledger_value(const bt_ledger *ledger, bt_dec *out);
/* Unrealized PnL: sum of quantity * last_price - cost. */
int bt_ledger_unrealized(const bt_ledger *ledger, bt_dec *out);
/* Gross exposure: sum of |quantity * last_price|. */
int bt_ledger_gross_exposure(const bt_ledger *ledger, bt_dec *out);

#endif
