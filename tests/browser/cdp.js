// tests/browser/cdp.js: loads a page in headless Chromium through the
// DevTools protocol on a pipe (--remote-debugging-pipe; Node built-ins only,
// no npm packages) and prints one JSON object: the page's console messages,
// uncaught exceptions, log entries and network requests, the answers of
// the checks below (evaluated in the page) and the screenshot's pixels.
//   node tests/browser/cdp.js URL --js on|off [--screenshot FILE]
//        [--width 1040] [--height 900] [--chromium /usr/bin/chromium]
"use strict";
const { spawn } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");
const zlib = require("zlib");

const args = process.argv.slice(2);
const url = args[0];
function option(name, fallback) {
  const at = args.indexOf("--" + name);
  return at >= 0 ? args[at + 1] : fallback;
}
const js = option("js", "on") === "on";
const width = +option("width", "1040"), height = +option("height", "900");
const shot = option("screenshot", null);
const chromium = option("chromium", "chromium");

// Evaluated in the page (by the protocol, so also with the page's own
// scripts off): what the tests assert.
const CHECKS = `(() => {
  const q = (s) => Array.from(document.querySelectorAll(s));
  const equity = document.querySelector("path.equity-line");
  const d = equity ? equity.getAttribute("d") : "";
  const frames = q("svg.flame g.f");
  const visible = frames.filter((g) => {
    const t = g.querySelector("text");
    return t && t.textContent.length > 0 && t.getBBox().width > 0;
  });
  return {
    title: document.title,
    sections: q("section[id^=scenario-]").map((s) => s.id),
    equity_points: equity ? +equity.getAttribute("data-points") : -1,
    equity_bars: equity ? +equity.getAttribute("data-bars") : -1,
    equity_path_points: (d.match(/[ML]/g) || []).length,
    equity_width: equity ? equity.getBBox().width : 0,
    flame_frames: frames.length,
    flame_labelled: visible.length,
    flame_label_sample: visible.slice(0, 3).map((g) => g.querySelector("text").textContent),
    functions_rows: q("table.functions tbody tr").length,
    zone_bars: q("svg.bars rect.bar").length,
    page_height: document.documentElement.scrollHeight,
    flame_script: (document.querySelector("svg.flame") || { getAttribute: () => null }).getAttribute("data-script"),
  };
})()`;

// With scripts on: click the narrowest frame at depth 2 or more
// and report its new width (zoomed: the whole graph width less padding)
// and its label.
const ZOOM = `(() => {
  const frames = Array.from(document.querySelectorAll("svg.flame g.f"));
  const target = frames.filter((g) => +g.getAttribute("data-depth") >= 2)
    .sort((a, b) => +a.getAttribute("data-w") - +b.getAttribute("data-w"))[0];
  if (!target) return null;
  target.dispatchEvent(new MouseEvent("click", { bubbles: true }));
  return { name: target.getAttribute("data-name"),
    width: +target.querySelector("rect").getAttribute("width"),
    label: target.querySelector("text").textContent,
    hidden: frames.filter((g) => g.style.display === "none").length };
})()`;

// PNG -> { width, height, distinct colours, share of non-white pixels }.
function pngStats(buffer) {
  let at = 8, w = 0, h = 0, depth = 0, type = 0;
  const idat = [];
  while (at < buffer.length) {
    const len = buffer.readUInt32BE(at), kind = buffer.toString("ascii", at + 4, at + 8);
    const data = buffer.subarray(at + 8, at + 8 + len);
    if (kind === "IHDR") { w = data.readUInt32BE(0); h = data.readUInt32BE(4); depth = data[8]; type = data[9]; }
    if (kind === "IDAT") idat.push(data);
    at += 12 + len;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const channels = { 2: 3, 6: 4, 0: 1, 4: 2 }[type];
  if (depth !== 8 || !channels) return { width: w, height: h, colours: -1, ink: -1 };
  const stride = w * channels;
  let prev = Buffer.alloc(stride), colours = new Set(), ink = 0;
  for (let y = 0; y < h; y++) {
    const filter = raw[y * (stride + 1)];
    const line = Buffer.from(raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)));
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? line[i - channels] : 0, b = prev[i];
      const c = i >= channels ? prev[i - channels] : 0;
      let p = 0;
      if (filter === 1) p = a;
      else if (filter === 2) p = b;
      else if (filter === 3) p = (a + b) >> 1;
      else if (filter === 4) {
        const e = a + b - c, pa = Math.abs(e - a), pb = Math.abs(e - b), pc = Math.abs(e - c);
        p = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      line[i] = (line[i] + p) & 255;
    }
    for (let x = 0; x < w; x++) {
      const o = x * channels;
      const key = (line[o] << 16) | (line[o + 1] << 8) | line[o + 2];
      if (colours.size < 100000) colours.add(key);
      if (line[o] < 240 || line[o + 1] < 240 || line[o + 2] < 240) ink++;
    }
    prev = line;
  }
  return { width: w, height: h, colours: colours.size, ink: ink / (w * h) };
}

const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), "btlua-chromium-"));
const browser = spawn(chromium, ["--headless", "--no-sandbox", "--disable-gpu",
  "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--hide-scrollbars",
  "--user-data-dir=" + profileDir, "--remote-debugging-pipe", "about:blank"],
  { stdio: ["ignore", "ignore", "ignore", "pipe", "pipe"] });
const toBrowser = browser.stdio[3], fromBrowser = browser.stdio[4];

let nextId = 1, pending = new Map(), listeners = [], inbox = "";
function send(method, params, sessionId) {
  const id = nextId++;
  const message = { id, method, params: params || {} };
  if (sessionId) message.sessionId = sessionId;
  toBrowser.write(JSON.stringify(message) + "\0");
  return new Promise((resolve, reject) => pending.set(id, { resolve, reject, method }));
}
fromBrowser.on("data", (chunk) => {
  inbox += chunk.toString("utf8");
  let end;
  while ((end = inbox.indexOf("\0")) >= 0) {
    const message = JSON.parse(inbox.slice(0, end));
    inbox = inbox.slice(end + 1);
    if (message.id && pending.has(message.id)) {
      const p = pending.get(message.id);
      pending.delete(message.id);
      if (message.error) p.reject(new Error(p.method + ": " + message.error.message));
      else p.resolve(message.result);
    } else {
      for (const f of listeners) f(message);
    }
  }
});

const report = { url, js, console: [], exceptions: [], log: [], requests: [] };
function finish(code) {
  const done = () => {
    try { fs.rmSync(profileDir, { recursive: true, force: true }); } catch (e) { /* left */ }
    process.stdout.write(JSON.stringify(report) + "\n");
    process.exit(code);
  };
  if (browser.exitCode !== null) return done();
  browser.on("exit", done);
  browser.kill();
}
setTimeout(() => { report.error = "timeout"; finish(1); }, 60000);

(async () => {
  const { targetId } = await send("Target.createTarget", { url: "about:blank" });
  const { sessionId } = await send("Target.attachToTarget", { targetId, flatten: true });
  let loaded;
  const load = new Promise((resolve) => { loaded = resolve; });
  listeners.push((m) => {
    if (m.sessionId !== sessionId) return;
    const p = m.params || {};
    if (m.method === "Runtime.consoleAPICalled") {
      report.console.push(p.type + ": " + (p.args || []).map((a) => a.value !== undefined ? a.value : a.description).join(" "));
    } else if (m.method === "Runtime.exceptionThrown") {
      report.exceptions.push(p.exceptionDetails.exception ? p.exceptionDetails.exception.description : p.exceptionDetails.text);
    } else if (m.method === "Log.entryAdded") {
      report.log.push(p.entry.level + ": " + p.entry.text);
    } else if (m.method === "Network.requestWillBeSent") {
      report.requests.push(p.request.url);
    } else if (m.method === "Page.loadEventFired") {
      loaded();
    }
  });
  for (const domain of ["Page", "Runtime", "Network", "Log"]) await send(domain + ".enable", {}, sessionId);
  await send("Emulation.setScriptExecutionDisabled", { value: !js }, sessionId);
  await send("Emulation.setDeviceMetricsOverride", { width, height, deviceScaleFactor: 1, mobile: false }, sessionId);
  await send("Page.navigate", { url }, sessionId);
  await load;
  await new Promise((r) => setTimeout(r, 300));
  const result = await send("Runtime.evaluate", { expression: CHECKS, returnByValue: true }, sessionId);
  report.checks = result.result.value;
  if (js) {
    const zoom = await send("Runtime.evaluate", { expression: ZOOM, returnByValue: true }, sessionId);
    report.zoom = zoom.result.value;
    await send("Runtime.evaluate", { expression: "document.querySelector('svg.flame .reset').dispatchEvent(new MouseEvent('click'))" }, sessionId);
  }
  const { data } = await send("Page.captureScreenshot", { format: "png" }, sessionId);
  const png = Buffer.from(data, "base64");
  if (shot) fs.writeFileSync(shot, png);
  report.screenshot = pngStats(png);
  finish(0);
})().catch((err) => { report.error = String(err); finish(1); });
