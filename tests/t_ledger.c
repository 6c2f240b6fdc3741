/* t_ledger.c: cash, average cost basis, realized/unrealized PnL, flips and
 * round trips of ledger.h, computed by hand. */
#include <stdlib.h>

#include "ledger.h"
#include "tap.h"
#include "tap_dec.h"

static void apply(bt_ledger *l, const char *q, const char *p) {
  if (bt_ledger_apply(l, 0, D(q), D(p), D("1")) != BT_OK) abort();
}

int main(void) {
  bt_ledger l;
  bt_dec v;
  is_int(bt_ledger_init(&l, D("10000"), 2, true), BT_OK, "init");
  apply(&l, "10", "100");
  apply(&l, "10", "110");
  is_str(S(l.cash), "7898", "two buys and two commissions");
  is_str(S(l.positions[0].cost), "2100", "cost basis 1000 + 1100");
  apply(&l, "-5", "120");
  is_str(S(l.positions[0].realized), "75", "sell 5: 600 - 2100 * 5/20");
  is_str(S(l.positions[0].cost), "1575", "cost of the 15 left");
  is_str(S(l.cash), "8497", "cash 7898 + 600 - 1");
  bt_ledger_mark(&l, 0, D("130"));
  bt_ledger_value(&l, &v);
  is_str(S(v), "10447", "value 8497 + 15 * 130");
  bt_ledger_unrealized(&l, &v);
  is_str(S(v), "375", "unrealized 1950 - 1575");
  is_int(l.open_positions, 1, "one open position");
  apply(&l, "-20", "90");
  is_str(S(l.positions[0].quantity), "-5", "flipped short 5");
  is_str(S(l.positions[0].cost), "-450", "short cost basis -5 * 90");
  is_str(S(l.positions[0].realized), "-150", "75 + (1350 - 1575)");
  is_int(l.round_trips, 1, "the flip closed a round trip");
  is_int(l.winning_trips, 0, "a losing one: 75 - 225 - 4 commissions");
  bt_ledger_gross_exposure(&l, &v);
  is_str(S(v), "450", "gross exposure |-5 * 90|");
  apply(&l, "5", "80");
  is_str(S(l.positions[0].realized), "-100", "short closed: +50");
  is_str(S(l.cash), "9895", "10000 - 100 realized - 5 commissions");
  is_int(l.round_trips, 2, "two round trips");
  is_int(l.winning_trips, 1, "the short won 50 - 1");
  bt_dec_acc_get(&l.gross_profit, &v);
  is_str(S(v), "49", "gross profit 49");
  bt_dec_acc_get(&l.gross_loss, &v);
  is_str(S(v), "154", "gross loss 154");
  bt_dec_acc_get(&l.traded, &v);
  is_str(S(v), "4900", "traded 1000 + 1100 + 600 + 1800 + 400");
  is_int(l.open_positions, 0, "flat again");
  is_str(S(l.commissions), "5", "five commissions");
  bt_ledger_free(&l);

  char reason[BT_DEC_FMT_MAX * 4];
  bt_ledger_init(&l, D("100"), 1, false);
  is_int(bt_ledger_check(&l, 0, D("1"), D("99"), D("1"), reason,
                         sizeof reason),
         BT_OK, "99 + 1 commission fits 100 exactly");
  is_int(bt_ledger_check(&l, 0, D("1"), D("99"), D("1.00000001"), reason,
                         sizeof reason),
         BT_ERANGE, "one unit of 1e-8 more does not");
  is_str(reason, "insufficient cash: needs 100.00000001, cash 100",
         "reason names both amounts");
  bt_ledger_apply(&l, 0, D("0.5"), D("100"), 0);
  is_int(bt_ledger_check(&l, 0, D("-0.5"), D("1"), D("51"), reason,
                         sizeof reason),
         BT_ERANGE, "a sale whose commission exceeds the cash");
  is_str(reason, "insufficient cash: commission 51, cash 50.5", "reason");
  bt_ledger_free(&l);
  return done_testing();
}
