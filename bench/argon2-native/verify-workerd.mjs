// Ed25519 verification inside workerd, two ways, timed from outside (workerd's clock stands
// still while a request computes):
//   dalek     ed25519-dalek compiled to wasm with the Worker's profile (src/lib.rs,
//             `ed25519_verify_n`), as the Worker verifies every access token today
//   webcrypto crypto.subtle.verify("Ed25519", ...) with the key imported once (what a Worker
//             would cache per isolate), awaited one at a time as a request would
//   node bench/argon2-native/verify-workerd.mjs target/wasm32-unknown-unknown/release/argon2_bench.wasm [N]
// Prints one JSON line: {"n","dalek_us","webcrypto_us","dalek_cpu_us","webcrypto_cpu_us"}: per
// verification, wall (best of 3 requests of N, minus an empty request) and workerd's CPU.
import { readFileSync, readdirSync } from "node:fs";
import * as miniflare from "miniflare";

const [file, nArg] = process.argv.slice(2);
const n = Number(nArg ?? 2000);
const v4 = {
  name: "verify",
  modules: [
    {
      type: "ESModule",
      path: "/verify/worker.mjs",
      contents: `import wasm from "./argon2_bench.wasm";
const instance = new WebAssembly.Instance(wasm, {});
let fixture;
async function setup() {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
  const raw = await crypto.subtle.exportKey("raw", pair.publicKey);
  const key = await crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
  const message = new Uint8Array(260).fill(101);
  const signature = await crypto.subtle.sign({ name: "Ed25519" }, pair.privateKey, message);
  return { key, message, signature };
}
export default {
  async fetch(request) {
    const url = new URL(request.url);
    const n = Number(url.searchParams.get("n"));
    if (url.pathname === "/dalek") {
      const ok = instance.exports.ed25519_verify_n(n);
      return new Response(String(ok));
    }
    fixture ??= await setup();
    let ok = 0;
    for (let i = 0; i < n; i++) {
      if (await crypto.subtle.verify({ name: "Ed25519" }, fixture.key, fixture.signature, fixture.message)) ok++;
    }
    return new Response(String(ok));
  },
};`,
    },
    { type: "CompiledWasm", path: "/verify/argon2_bench.wasm", contents: readFileSync(file) },
  ],
  modulesRoot: "/verify",
  compatibilityDate: "2026-11-01",
};
const mf = new miniflare.Miniflare({
  ...(miniflare.convertV4MiniflareOptions ? miniflare.convertV4MiniflareOptions(v4) : v4),
  log: new miniflare.Log(miniflare.LogLevel.ERROR),
});

function workerdPids() {
  return readdirSync("/proc").filter((d) => /^\d+$/.test(d)).filter((d) => {
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === process.pid && stat.includes("(workerd)");
    } catch {
      return false;
    }
  });
}
function cpuMs(pids) {
  let ticks = 0;
  for (const pid of pids) {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = f.slice(f.lastIndexOf(")") + 2).split(" ");
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks * 10;
}

try {
  const url = await mf.ready;
  const pids = workerdPids();
  const call = async (way, k) => {
    const t = performance.now();
    const res = await fetch(new URL(`/${way}?n=${k}`, url));
    const body = await res.text();
    if (res.status !== 200 || Number(body) !== k) throw new Error(`${way} n=${k}: ${res.status} ${body}`);
    return performance.now() - t;
  };
  const out = { n };
  for (const way of ["dalek", "webcrypto"]) {
    await call(way, 50); // warm-up
    let best = null;
    for (let i = 0; i < 3; i++) {
      const empty = await call(way, 0);
      const c0 = cpuMs(pids);
      const ms = await call(way, n);
      const cpu = cpuMs(pids) - c0;
      const per = ((ms - empty) / n) * 1000;
      if (!best || per < best.per) best = { per, cpu: (cpu / n) * 1000 };
    }
    out[`${way}_us`] = +best.per.toFixed(1);
    out[`${way}_cpu_us`] = +best.cpu.toFixed(1);
  }
  console.log(JSON.stringify(out));
} finally {
  await mf.dispose();
}
