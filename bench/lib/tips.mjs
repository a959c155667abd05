// Tips benchmark: viewers tip one live stream, POST /v1/streams/{id}/tips {"amount":1} with a
// unique Idempotency-Key per request, closed loop at concurrency C; then the ledger is checked.
// Its own driver (node:http, keep-alive, one connection per concurrent request) rather than
// wrk: wrk stops at its deadline with up to C requests in flight that the server may still
// complete, so the number of tips it saw answered would not be the number the ledger holds.
// This driver stops starting requests at the deadline and waits for the ones in flight (each
// counted, latency included), so every tip sent has a known outcome.
//
//   node bench/lib/tips.mjs setup  --url URL --tokens access.txt --dir DIR [--grant 100000]
//   node bench/lib/tips.mjs row    --url URL --dir DIR --c 10 --duration 6 --out ROW.json
//   node bench/lib/tips.mjs verify --url URL --dir DIR --out LEDGER.json ROW.json...
//
// setup: the first token's user owns a new stream; every other token's user is a viewer and is
//   granted --grant credits (POST /v1/dev/credits). Writes DIR/tips-setup.json.
// row: C loops, each: the next viewer round-robin, a fresh key, one tip; until --duration s
//   have passed. Every status must be 201 and no answer may carry `Idempotent-Replayed`
//   (keys are unique, so a replay is a bug): anything else is an error, as is a socket error
//   or a 30 s timeout. Writes one JSON line like bench/wrk/edgeward.lua's, plus per-viewer
//   counts of the credits tipped.
// verify: GET /v1/credits of the owner must equal the credits tipped by every row (sum of
//   201s x amount), and each viewer's balance its grant minus what it tipped. Mismatches are
//   errors; writes DIR/../LEDGER.json and exits 1 on any mismatch.
import http from "node:http";
import { readFileSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import path from "node:path";

const [cmd] = process.argv.slice(2);
function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const base = arg("url");
const dir = arg("dir");
if (!base || !dir || !["setup", "row", "verify"].includes(cmd)) {
  console.error("usage: tips.mjs setup|row|verify --url URL --dir DIR ... (see the header)");
  process.exit(2);
}
const AMOUNT = 1;
const TIMEOUT_MS = 30_000;
const now = () => performance.now();

async function call(method, p, token, body, headers = {}) {
  const h = { authorization: `Bearer ${token}`, ...headers };
  if (body) h["content-type"] = "application/json";
  const res = await fetch(new URL(p, base), { method, headers: h, body: body ? JSON.stringify(body) : undefined });
  return { status: res.status, text: await res.text() };
}
async function expect(status, method, p, token, body) {
  const r = await call(method, p, token, body);
  if (r.status !== status) {
    throw new Error(`${method} ${p} answered ${r.status}, expected ${status}: ${r.text.slice(0, 500)}`);
  }
  return JSON.parse(r.text);
}
const setupFile = path.join(dir, "tips-setup.json");

if (cmd === "setup") {
  const tokens = readFileSync(arg("tokens"), "utf8").split("\n").filter(Boolean);
  if (tokens.length < 2) throw new Error("tips need an owner and at least one viewer");
  const grant = Number(arg("grant", "100000"));
  const [owner, ...viewers] = tokens;
  const stream = await expect(201, "POST", "/v1/streams", owner, { title: `bench tips ${randomBytes(4).toString("hex")}` });
  const before = (await expect(200, "GET", "/v1/credits", owner)).balance;
  const granted = [];
  for (let i = 0; i < viewers.length; i += 5) {
    granted.push(...(await Promise.all(viewers.slice(i, i + 5).map(async (t) => {
      const b0 = (await expect(200, "GET", "/v1/credits", t)).balance;
      await expect(201, "POST", "/v1/dev/credits", t, { amount: grant });
      return b0 + grant;
    }))));
  }
  writeFileSync(setupFile, JSON.stringify({ stream: stream.id, owner, owner_before: before, viewers, viewer_before: granted, run: randomBytes(4).toString("hex") }) + "\n");
  console.log(`stream ${stream.id}; ${viewers.length} viewers granted ${grant} credits each`);
  process.exit(0);
}

const setup = JSON.parse(readFileSync(setupFile, "utf8"));

if (cmd === "row") {
  const c = Number(arg("c", "1"));
  const duration = Number(arg("duration", "6"));
  const out = arg("out");
  const url = new URL(`/v1/streams/${encodeURIComponent(setup.stream)}/tips`, base);
  const agent = new http.Agent({ keepAlive: true, maxSockets: c });
  const body = JSON.stringify({ amount: AMOUNT });
  const prefix = `bench-${setup.run}-c${c}-${randomBytes(3).toString("hex")}`;
  let seq = 0;
  const latencies = [];
  const hist = {};
  let sample = "";
  let non2xx = 0, socketErrors = 0, timeouts = 0;
  const tipped = new Array(setup.viewers.length).fill(0);
  const uncertain = new Array(setup.viewers.length).fill(0); // socket errors/timeouts: outcome unknown
  const note = (what, text) => {
    hist[what] = (hist[what] ?? 0) + 1;
    if (!sample) sample = `${what}: ${(text ?? "").slice(0, 300)}`;
  };

  function tip(v, key) {
    return new Promise((resolve) => {
      const req = http.request(url, {
        method: "POST",
        agent,
        headers: {
          authorization: `Bearer ${setup.viewers[v]}`,
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
          "idempotency-key": key,
        },
        timeout: TIMEOUT_MS,
      }, (res) => {
        const chunks = [];
        res.on("data", (d) => chunks.push(d));
        res.on("end", () => resolve({ status: res.statusCode, replayed: res.headers["idempotent-replayed"], text: Buffer.concat(chunks).toString() }));
        res.on("error", (e) => resolve({ error: e }));
      });
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", (e) => resolve({ error: e }));
      req.end(body);
    });
  }

  const t0 = now();
  const deadline = t0 + duration * 1000;
  async function loop() {
    while (now() < deadline) {
      const n = seq++;
      const v = n % setup.viewers.length;
      const start = now();
      const r = await tip(v, `${prefix}-${n}`);
      latencies.push(now() - start);
      if (r.error) {
        if (r.error.message === "timeout") timeouts++;
        socketErrors++;
        uncertain[v] += AMOUNT;
        note("socket", r.error.message);
      } else if (r.status !== 201) {
        non2xx++;
        note(r.status, r.text);
      } else if (r.replayed) {
        non2xx++;
        tipped[v] += AMOUNT; // a replay of an earlier 201 of ours would still be one tip
        note("replayed", r.text);
      } else {
        tipped[v] += AMOUNT;
      }
    }
  }
  await Promise.all(Array.from({ length: c }, loop));
  const secs = (now() - t0) / 1e3;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (q) => latencies[Math.min(latencies.length - 1, Math.ceil((q / 100) * latencies.length) - 1)] ?? null;
  const errors = non2xx + socketErrors;
  const result = {
    requests: latencies.length, duration_s: secs, rps: latencies.length / secs,
    p50_ms: pct(50), p99_ms: pct(99), max_ms: latencies.at(-1) ?? null,
    non2xx, socket_errors: socketErrors, timeouts, errors,
    statuses: Object.entries(hist).map(([k, v]) => `${k}=${v}`).sort().join(" "), sample,
    amount: AMOUNT, tipped, uncertain,
  };
  writeFileSync(out, JSON.stringify(result) + "\n");
  console.log(`${result.rps.toFixed(0)} req/s, p50 ${result.p50_ms?.toFixed(1)} ms, p99 ${result.p99_ms?.toFixed(1)} ms, errors ${errors}${errors ? ` (${result.statuses})` : ""}`);
  process.exit(0);
}

if (cmd === "verify") {
  const out = arg("out");
  const rowFiles = process.argv.slice(3).filter((a, i, all) => !a.startsWith("--") && !all[i - 1]?.startsWith("--"));
  const rows = rowFiles.map((f) => JSON.parse(readFileSync(f, "utf8")));
  const tipped = setup.viewers.map((_, v) => rows.reduce((a, r) => a + r.tipped[v], 0));
  const uncertain = setup.viewers.map((_, v) => rows.reduce((a, r) => a + r.uncertain[v], 0));
  const total = tipped.reduce((a, b) => a + b, 0);
  const totalUncertain = uncertain.reduce((a, b) => a + b, 0);
  const ownerBalance = (await expect(200, "GET", "/v1/credits", setup.owner)).balance;
  const ownerExpected = setup.owner_before + total;
  const mismatches = [];
  // With socket errors, those tips may or may not have been booked: accept any value in range.
  if (ownerBalance < ownerExpected || ownerBalance > ownerExpected + totalUncertain) {
    mismatches.push(`owner: balance ${ownerBalance}, expected ${ownerExpected}` +
      (totalUncertain ? ` (+ up to ${totalUncertain} of unknown outcome)` : ""));
  }
  let viewerSum = 0;
  for (let v = 0; v < setup.viewers.length; v += 10) {
    const balances = await Promise.all(setup.viewers.slice(v, v + 10).map(async (t) => (await expect(200, "GET", "/v1/credits", t)).balance));
    balances.forEach((b, k) => {
      const i = v + k;
      viewerSum += b;
      const want = setup.viewer_before[i] - tipped[i];
      if (b > want || b < want - uncertain[i]) {
        mismatches.push(`viewer ${i}: balance ${b}, expected ${want} (granted ${setup.viewer_before[i]}, tipped ${tipped[i]})`);
      }
    });
  }
  const result = {
    stream: setup.stream, rows: rows.length, tips_201: total / AMOUNT, credits_tipped: total,
    uncertain: totalUncertain, owner_before: setup.owner_before, owner_balance: ownerBalance,
    viewers: setup.viewers.length, viewer_balances: viewerSum,
    viewer_expected: setup.viewer_before.reduce((a, b) => a + b, 0) - total,
    ok: mismatches.length === 0, mismatches: mismatches.slice(0, 10), mismatch_count: mismatches.length,
  };
  writeFileSync(out, JSON.stringify(result) + "\n");
  console.log(result.ok
    ? `ledger ok: owner balance ${ownerBalance} = ${setup.owner_before} + ${total} credits tipped in ${total / AMOUNT} tips; ` +
      `${setup.viewers.length} viewers' balances ${viewerSum} = granted − tipped`
    : `LEDGER MISMATCH (${mismatches.length}):\n  ${mismatches.slice(0, 10).join("\n  ")}`);
  process.exit(result.ok ? 0 : 1);
}
