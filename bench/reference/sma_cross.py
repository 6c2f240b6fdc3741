"""sma_cross.py: buy when SMA(fast) crosses above SMA(slow), close the
position when it crosses below (over the bars where the asset trades)."""
import math

PARAMS = {"fast": 50, "slow": 200}
NAN = float("nan")


def initialize(ctx):
    n = ctx.count
    return {"closes": [[] for _ in range(n)], "prev_fast": [NAN] * n,
            "prev_slow": [NAN] * n}


def handle_data(ctx, state, bars):
    fast_n, slow_n = ctx.params["fast"], ctx.params["slow"]
    closes, prev_fast, prev_slow = (state["closes"], state["prev_fast"],
                                    state["prev_slow"])
    position, pending = ctx.position, ctx.pending
    for asset, bar in bars.items():
        c = bar[3]
        window = closes[asset]
        window.append(c)
        if len(window) > slow_n:
            del window[0]
        f = sum(window[-fast_n:]) / fast_n if len(window) >= fast_n else NAN
        s = sum(window) / slow_n if len(window) >= slow_n else NAN
        pf, ps = prev_fast[asset], prev_slow[asset]
        if pending[asset] == 0:
            held = position[asset]
            if held == 0 and pf <= ps and f > s:
                units = ctx.units(asset, c)
                if units > 0:
                    ctx.order(asset, units)
            elif held > 0 and pf >= ps and f < s:
                ctx.order_target(asset, 0)
        prev_fast[asset], prev_slow[asset] = f, s
