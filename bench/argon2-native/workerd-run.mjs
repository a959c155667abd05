// Runs the wasm32-unknown-unknown build of argon2-bench (src/lib.rs, `hash_n`) inside workerd,
// the Worker's runtime, through Miniflare, and times it from outside: workerd's clock does not
// advance while a request computes, so nothing inside the request can time it.
//   node workerd-run.mjs target/wasm32-unknown-unknown/release/argon2_bench.wasm [N]
// Prints one JSON line: {"n","mean_ms","cpu_ms","check"}:
//   mean_ms  wall time of one request hashing N times, minus one hashing 0 times, divided by N
//            (best of 3 such requests: the machine is shared)
//   cpu_ms   workerd's process CPU (user + system, /proc) over the best request, per hash
//   check    the last hash's first two bytes, to compare with the native build's
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import * as miniflare from "miniflare";

const [file, nArg] = process.argv.slice(2);
const n = Number(nArg ?? 20);
// Miniflare 5 takes nested options; convertV4MiniflareOptions maps the flat ones (as in
// bench/direct.mjs).
const v4 = {
  name: "argon2",
  modules: [
    {
      type: "ESModule",
      path: "/argon2/worker.mjs",
      contents: `import wasm from "./argon2_bench.wasm";
const instance = new WebAssembly.Instance(wasm, {});
export default {
  fetch(request) {
    const n = Number(new URL(request.url).searchParams.get("n"));
    const check = instance.exports.hash_n(n);
    return new Response(check.toString(16).padStart(4, "0"));
  },
};`,
    },
    { type: "CompiledWasm", path: "/argon2/argon2_bench.wasm", contents: readFileSync(file) },
  ],
  modulesRoot: "/argon2",
  compatibilityDate: "2026-11-01",
};
const mf = new miniflare.Miniflare({
  ...(miniflare.convertV4MiniflareOptions ? miniflare.convertV4MiniflareOptions(v4) : v4),
  log: new miniflare.Log(miniflare.LogLevel.ERROR),
});

// workerd is Miniflare's child process: its CPU time from /proc (clock ticks).
function workerdPids() {
  const out = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) === process.pid && stat.includes("(workerd)")) out.push(d);
    } catch {}
  }
  return out;
}
const TICK_MS = 10; // USER_HZ is 100 on Linux
function cpuMs(pids) {
  let ticks = 0;
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
  }
  return ticks * TICK_MS;
}

try {
  const url = await mf.ready;
  const pids = workerdPids();
  if (!pids.length) throw new Error("no workerd child process found");
  const call = async (k) => {
    const t = performance.now();
    const res = await fetch(new URL(`/?n=${k}`, url));
    const body = await res.text();
    if (res.status !== 200 || !/^[0-9a-f]{4}$/.test(body)) throw new Error(`n=${k}: ${res.status} ${body}`);
    return { ms: performance.now() - t, body };
  };
  await call(2); // warm-up: compile tiers, grow memory
  let best = null;
  for (let i = 0; i < 3; i++) {
    const empty = await call(0);
    const c0 = cpuMs(pids);
    const run = await call(n);
    const cpu = cpuMs(pids) - c0;
    const per = (run.ms - empty.ms) / n;
    if (!best || per < best.per) best = { per, cpu: cpu / n, check: run.body };
  }
  console.log(JSON.stringify({ n, mean_ms: +best.per.toFixed(2), cpu_ms: +best.cpu.toFixed(2), check: best.check }));
} finally {
  await mf.dispose();
}
