// A CPU profile of the Worker under load, through workerd's V8 inspector (bench/direct.mjs
// --inspector-port N): starts V8's sampling profiler on the Worker's isolate, waits while the
// caller drives load, stops it and prints where the isolate's samples went, by self time and
// by inclusive time, with the wasm functions' names when the build keeps the names section
// (EDGEWARD_WASM_NAMES=1 ./scripts/build, or a worker-build without scripts/build's wasm-opt).
//
//   node bench/lib/cpu-profile.mjs --port N --seconds 8 [--worker edgeward] [--top 40] [--out FILE]
//
// Counts only this isolate (not D1's or the Durable Objects' isolates, nor workerd's own
// threads): what a Worker is billed for, as opposed to the process CPU that bench/run reports.
import { writeFileSync } from "node:fs";

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const port = Number(arg("port"));
const seconds = Number(arg("seconds", "8"));
const top = Number(arg("top", "40"));
const want = arg("worker", "");
const out = arg("out");
if (!port) {
  console.error("usage: cpu-profile.mjs --port N [--seconds 8] [--worker NAME] [--top 40] [--out FILE]");
  process.exit(2);
}

const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
const target = targets.find((t) => !want || (t.title ?? "").includes(want) || (t.url ?? "").includes(want))
  ?? targets[0];
if (!target) throw new Error("no inspector target");
console.error(`profiling ${target.title ?? target.id} (${targets.length} targets: ${targets.map((t) => t.title).join(", ")})`);
const ws = new WebSocket(target.webSocketDebuggerUrl);
await new Promise((ok, fail) => { ws.onopen = ok; ws.onerror = fail; });
let seq = 0;
const pending = new Map();
ws.onmessage = (m) => {
  const msg = JSON.parse(m.data);
  if (msg.id && pending.has(msg.id)) {
    pending.get(msg.id)(msg);
    pending.delete(msg.id);
  }
};
const send = (method, params = {}) => new Promise((ok) => {
  const id = ++seq;
  pending.set(id, ok);
  ws.send(JSON.stringify({ id, method, params }));
});
await send("Profiler.enable");
await send("Profiler.setSamplingInterval", { interval: 100 });
await send("Profiler.start");
console.error("started");
await new Promise((r) => setTimeout(r, seconds * 1000));
const { result, error } = await send("Profiler.stop");
if (error) throw new Error(JSON.stringify(error));
ws.close();
const profile = result.profile;
if (out) writeFileSync(out, JSON.stringify(profile));

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const hits = new Map();
for (const s of profile.samples) hits.set(s, (hits.get(s) ?? 0) + 1);
const name = (n) => {
  const f = n.callFrame;
  return (f.functionName || "(anonymous)") + (f.url ? ` ${f.url.split("/").pop()}` : "");
};
const self = new Map();
const incl = new Map();
let total = 0;
for (const [id, count] of hits) {
  const n = byId.get(id);
  total += count;
  const k = name(n);
  self.set(k, (self.get(k) ?? 0) + count);
  // Inclusive: each distinct name on the stack once.
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const nk = name(byId.get(cur));
    if (seen.has(nk)) continue;
    seen.add(nk);
    incl.set(nk, (incl.get(nk) ?? 0) + count);
  }
}
const idle = (self.get("(idle)") ?? 0) + (self.get("(program)") ?? 0);
const pct = (v) => ((100 * v) / total).toFixed(1).padStart(5);
const busy = total - (self.get("(idle)") ?? 0);
console.log(`samples ${total}; idle ${self.get("(idle)") ?? 0}; busy ${busy} (${pct(busy)}%); (program)+(idle) ${idle}`);
console.log(`--- self (share of busy samples)`);
for (const [k, v] of [...self].filter(([k]) => k !== "(idle)").sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${((100 * v) / busy).toFixed(1).padStart(5)}%  ${k.slice(0, 160)}`);
}
console.log(`--- inclusive (share of busy samples)`);
for (const [k, v] of [...incl].filter(([k]) => k !== "(idle)" && k !== "(root)").sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${((100 * v) / busy).toFixed(1).padStart(5)}%  ${k.slice(0, 160)}`);
}
