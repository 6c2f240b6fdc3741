// indicators.js: the independent oracle of tests/indicator_oracle_test.lua:
// reads {high, low, close} (arrays of numbers) as JSON on stdin and prints
// technicalindicators' RSI(14), ATR(14) and MACD(12, 26, 9) as JSON.
// Install: npm install --prefix tests/oracle (see package.json).
const ti = require("technicalindicators");

let text = "";
process.stdin.on("data", (chunk) => { text += chunk; });
process.stdin.on("end", () => {
  const bars = JSON.parse(text);
  const same = (v) => v; // no rounding: compare the unrounded doubles
  const out = {
    rsi: ti.RSI.calculate({ values: bars.close, period: 14 }),
    atr: ti.ATR.calculate({ high: bars.high, low: bars.low,
                            close: bars.close, period: 14, format: same }),
    macd: ti.MACD.calculate({ values: bars.close, fastPeriod: 12,
                              slowPeriod: 26, signalPeriod: 9,
                              SimpleMAOscillator: false,
                              SimpleMASignal: false, format: same }),
  };
  process.stdout.write(JSON.stringify(out));
});
