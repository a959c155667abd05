// Cold start: time from spawning a fresh bench/direct.mjs (Node, Miniflare, a new workerd
// process, the Worker's wasm compiled and instantiated on its first request) on an existing
// state to the first `GET /v1/me` answered 200 with the user's body. Polls every 5 ms from the
// spawn on; connection refusals while workerd starts are expected and not counted.
//
//   node bench/lib/cold-start.mjs --config wrangler.toml --state DIR --env-file FILE \
//        --token ACCESS_TOKEN --out result.json [--runs 3]
//
// Writes {"runs","first_me_ms":[...],"ready_ms":[...],"best_ms","median_ms"}: ready_ms is when
// direct.mjs printed `ready` (after its own GET /health, so the isolate is warm by then).
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const BENCH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const [config, state, envFile, token, out] = ["config", "state", "env-file", "token", "out"].map((n) => arg(n));
const runs = Number(arg("runs", "3"));
if (!config || !state || !envFile || !token || !out) {
  console.error("usage: cold-start.mjs --config FILE --state DIR --env-file FILE --token T --out FILE [--runs 3]");
  process.exit(2);
}
const freePort = () =>
  new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function once() {
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn(process.execPath, [path.join(BENCH, "direct.mjs"), "--config", config, "--port", String(port),
    "--state", state, "--env-file", envFile, "--skip-migrations"], { detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let readyMs = null, log = "";
  child.stdout.on("data", (d) => {
    log += d;
    if (readyMs === null && log.includes("ready http")) readyMs = performance.now() - t0;
  });
  child.stderr.on("data", (d) => (log += d));
  try {
    const deadline = t0 + 60_000;
    while (performance.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`direct.mjs exited (${child.exitCode}):\n${log}`);
      try {
        const res = await fetch(`http://127.0.0.1:${port}/v1/me`, { headers: { authorization: `Bearer ${token}` } });
        const body = await res.text();
        if (res.status === 200 && /"email"\s*:\s*"[^"]+@/.test(body)) {
          return { firstMeMs: performance.now() - t0, readyMs };
        }
        // Miniflare answers 503 until the Worker is up; anything else is wrong.
        if (res.status !== 503) throw new Error(`GET /v1/me answered ${res.status}: ${body.slice(0, 300)}`);
      } catch (e) {
        if (!(e instanceof TypeError)) throw e; // fetch failed: nothing listening yet
      }
      await sleep(5);
    }
    throw new Error(`no 200 from GET /v1/me within 60 s:\n${log}`);
  } finally {
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {}
    await new Promise((r) => (child.exitCode !== null ? r() : child.once("exit", r)));
    await sleep(300); // workerd's own exit
  }
}

const results = [];
for (let i = 0; i < runs; i++) results.push(await once());
const first = results.map((r) => +r.firstMeMs.toFixed(0));
const sorted = [...first].sort((a, b) => a - b);
const res = { runs, first_me_ms: first, ready_ms: results.map((r) => (r.readyMs === null ? null : +r.readyMs.toFixed(0))),
  best_ms: sorted[0], median_ms: sorted[Math.floor(sorted.length / 2)] };
writeFileSync(out, JSON.stringify(res) + "\n");
console.log(`cold start (spawn → first 200 GET /v1/me): median ${res.median_ms} ms, best ${res.best_ms} ms over ${runs} runs`);
