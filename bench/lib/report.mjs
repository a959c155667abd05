// Builds the Markdown summary of a bench/run from its raw results directory:
//   <target>-<scenario>-c<C>.json   one line from bench/wrk/edgeward.lua's done()
//   argon2-native.json, argon2-wasi-node.json   from bench/argon2-native
//   meta.json                        date, versions, sizes (written by bench/run)
//   <target>-rt-chat.json            from bench/lib/chat-fanout.mjs
//   <target>-rt-tip-c<C>.json        from bench/lib/tips.mjs row
//   <target>-rt-ledger.json          from bench/lib/tips.mjs verify
//   <target>-<scenario>-c<C>.cpu.json  workerd's CPU over the row (direct only)
//   argon2-workerd.json              bench/argon2-native/workerd-run.mjs
//   direct-rt-knee-<N>x<R>.json      chat rows of the knee search
//   direct-cold-start.json           bench/lib/cold-start.mjs
// Usage: node bench/lib/report.mjs RAW_DIR > latest.md
import { readFileSync, readdirSync, existsSync } from "node:fs";
import path from "node:path";

const dir = process.argv[2];
const read = (f) => JSON.parse(readFileSync(path.join(dir, f), "utf8"));
const meta = read("meta.json");

const rows = {};
for (const f of readdirSync(dir)) {
  const m = /^(proxy|direct)-(\w+)-c(\d+)\.json$/.exec(f);
  if (m) {
    const ctx = f.replace(/\.json$/, ".ctx.json");
    const cpu = f.replace(/\.json$/, ".cpu.json");
    rows[`${m[1]}/${m[2]}/${m[3]}`] = {
      ...read(f),
      ...(existsSync(path.join(dir, ctx)) ? read(ctx) : {}),
      ...(existsSync(path.join(dir, cpu)) ? read(cpu) : {}),
    };
  }
}
const concurrency = meta.concurrency.split(/\s+/).map(Number);

const SCENARIOS = [
  ["login", "POST /v1/auth/login", "same 50 users round-robin; one argon2id verify each"],
  ["refresh", "POST /v1/auth/refresh", "chained: each connection sends the token its last answer returned"],
  ["me", "GET /v1/me", "Bearer access tokens of 50 sessions round-robin"],
  ["forgot", "POST /v1/auth/password/forgot", "existing users round-robin; D1 write + queue send"],
  ["health", "GET /health", "no storage: the floor of each route"],
  ["me_malformed", "GET /v1/me, token refused unparsed (401)", "Bearer not-a-token"],
  ["me_badsig", "GET /v1/me, bad signature (401)", "tokens with one signature character changed"],
];
const TARGETS = [
  ["proxy", "via wrangler dev (proxy)"],
  ["direct", "direct workerd (Miniflare)"],
];

const fmt = (x, d = 1) => (x === undefined || x === null ? "–" : Number(x).toFixed(d));
const kb = (b) => `${(b / 1024).toFixed(1)} KiB`;
const lines = [];
const p = (s = "") => lines.push(s);

p(`# Edgeward benchmark results`);
p();
p(`${meta.date}; ${meta.cores} cores (${meta.cpu}); source ${meta.git}; bench/run took ${Math.round(meta.elapsed_s / 60)} min.`);
p(`Tools: wrk ${meta.wrk} (Debian) with bench/wrk/edgeward.lua for every HTTP row; wrangler ${meta.wrangler}, ` +
  `miniflare ${meta.miniflare}, workerd ${meta.workerd}, Node ${meta.node}, rustc ${meta.rustc}, argon2 crate ${meta.argon2_crate} (vendor/argon2: upstream with a simd128 block function for wasm). ` +
  `Realtime rows: bench/lib/chat-fanout.mjs (WebSocket chat fan-out) and bench/lib/tips.mjs (tips), both Node scripts.`);
p(`Rows: ${meta.duration_s} s each (login ${meta.login_duration_s} s, /health ${meta.health_duration_s} s), ` +
  `one wrk thread, c = concurrent connections, ${meta.users} users per server. ` +
  `Errors = responses outside 200-299 + socket errors + timeouts (30 s); must be 0.`);
p();

// ---- goals (issue 14): each figure, its target, met or not ------------------------------------
{
  const optional = (f) => (existsSync(path.join(dir, f)) ? read(f) : null);
  const goals = [];
  const goal = (name, figure, target, met, how) => goals.push({ name, figure, target, met, how });
  const clean = (r) => r && r.errors === 0;
  const errs = (r) => (r && r.errors ? ` (**${r.errors} errors**: not counted)` : "");
  const me50 = rows["direct/me/50"], health50 = rows["direct/health/50"];
  if (me50 && health50) {
    const ratio = me50.rps / health50.rps;
    goal("GET /v1/me vs GET /health, c=50, direct", `${fmt(ratio, 2)}× (${fmt(me50.rps, 0)} / ${fmt(health50.rps, 0)} req/s)${errs(me50)}${errs(health50)}`,
      "≥ 0.70×", clean(me50) && clean(health50) && ratio >= 0.7, "same run, wrk rows below");
  }
  if (me50 && me50.cpu_ms !== undefined) {
    const per = me50.cpu_ms / me50.requests;
    goal("Worker CPU per GET /v1/me (c=50, direct)", `${fmt(per, 3)} ms${errs(me50)}`, "≤ 0.4 ms", clean(me50) && per <= 0.4,
      `workerd's process CPU (user+system, /proc) over the row ÷ its ${me50.requests} requests: includes D1's SQLite and the Durable Objects, which run in the same process`);
  }
  if (meta.upload_gzip_kib !== undefined) {
    goal("Upload size (wrangler deploy --dry-run)", `${fmt(meta.upload_gzip_kib, 2)} KiB gzip (${fmt(meta.upload_kib, 2)} KiB)`, "≤ 400 KiB gzip",
      meta.upload_gzip_kib <= 400, "scripts/check-deploy.mjs on the measured build");
  }
  const a2n = optional("argon2-native.json"), a2w = optional("argon2-workerd.json");
  if (a2n && a2w) {
    const ratio = a2w.cpu_ms / a2n.cpu_ms;
    goal("Argon2id wasm in workerd / native (same parameters, same profile)", `${fmt(ratio, 2)}× CPU (${fmt(a2w.cpu_ms, 1)} / ${fmt(a2n.cpu_ms, 1)} ms); wall ${fmt(a2w.mean_ms / a2n.p50_ms, 2)}× (${fmt(a2w.mean_ms, 1)} / ${fmt(a2n.p50_ms, 1)} ms)`,
      "≤ 1.5×", ratio <= 1.5, `CPU time per hash: the machine is shared, so wall time is disturbed more; check ${a2w.check} vs native ${a2n.check}`);
  }
  const logins = concurrency.map((c) => rows[`direct/login/${c}`]).filter(Boolean);
  if (logins.length) {
    const best = logins.reduce((a, r) => (r.rps > a.rps ? r : a));
    goal("Logins per second, one isolate (direct)", `${fmt(best.rps, 1)}/s${errs(best)}`, "≥ 30/s", clean(best) && best.rps >= 30,
      "best login row (one argon2id verify each)");
  }
  const chat = optional("direct-rt-chat.json");
  if (chat) {
    goal(`Chat: ${chat.clients} clients, ${chat.rate_target} msg/s, p99 delivery (direct)`, `${fmt(chat.p99_ms)} ms${errs(chat)}`, "≤ 25 ms",
      chat.clients >= 100 && chat.rate_target >= 50 && clean(chat) && chat.p99_ms <= 25, "every message at every client");
  }
  const knee = readdirSync(dir).map((f) => /^direct-rt-knee-(\d+)x(\d+)\.json$/.exec(f)).filter(Boolean)
    .map((m) => ({ clients: +m[1], rate: +m[2], ...read(m[0]) }));
  // The chat row is the knee search's first step.
  if (chat && knee.length) knee.push({ ...chat, clients: chat.clients, rate: chat.rate_target });
  knee.sort((a, b) => a.clients * a.rate - b.clients * b.rate);
  if (knee.length) {
    const past = knee.find((r) => r.errors || r.p99_ms > (meta.knee_p99_ms ?? 100));
    const steps = knee.map((r) => `${r.clients}×${r.rate}: p99 ${fmt(r.p99_ms)} ms${r.errors ? ` (${r.errors} errors)` : ""}`).join("; ");
    goal("Chat knee (clients × msg/s where p99 passes 100 ms)", past ? `${past.clients} clients × ${past.rate} msg/s` : `not reached (largest step ${knee.at(-1).clients}×${knee.at(-1).rate})`,
      "found and reported", Boolean(past), steps);
  }
  const cold = optional("direct-cold-start.json");
  if (cold && cold.runs > 0 && cold.median_ms !== undefined) {
    goal("Cold start: fresh workerd → first 200 GET /v1/me", `${cold.median_ms} ms median (best ${cold.best_ms} ms; runs ${cold.first_me_ms.join(", ")} ms)`,
      "reported", true, `${cold.runs} runs of bench/lib/cold-start.mjs: Node + Miniflare + workerd start, wasm compile, first request`);
  }
  if (goals.length) {
    p(`## Goals`);
    p();
    p(`| goal | measured | target | met |`);
    p(`|---|---|---|---|`);
    for (const g of goals) p(`| ${g.name} | ${g.figure} | ${g.target} | ${g.met ? "yes" : "**no**"} |`);
    p();
    for (const g of goals) p(`- ${g.name}: ${g.how}.`);
    p();
  }
}

for (const [target, label] of TARGETS) {
  if (!concurrency.some((c) => rows[`${target}/health/${c}`] || rows[`${target}/me/${c}`])) continue;
  p(`## HTTP load: ${label}`);
  p();
  p(`| endpoint | c | req/s | p50 ms | p99 ms | errors | requests | load¹ |`);
  p(`|---|--:|--:|--:|--:|--:|--:|--:|`);
  for (const [scenario, name] of SCENARIOS) {
    for (const c of concurrency) {
      const r = rows[`${target}/${scenario}/${c}`];
      if (!r) continue;
      const err = r.errors ? `**${r.errors}** (${[r.statuses, r.socket_errors ? `socket ${r.socket_errors}` : ""].filter(Boolean).join("; ")})` : "0";
      const load = r.load1 === undefined ? "–" : `${fmt(r.load1, 2)}${r.foreign_procs ? ` (+${r.foreign_procs})` : ""}`;
      p(`| ${name} | ${c} | ${fmt(r.rps)} | ${fmt(r.p50_ms)} | ${fmt(r.p99_ms)} | ${err} | ${r.requests} | ${load} |`);
    }
  }
  p();
  p(`¹ 1-minute load average when the row started; (+N): N processes not started by bench/run were ` +
    `running then (workerd, wrangler, cargo, rustc, pytest), i.e. the 2 cores were shared.`);
  p();
  const samples = Object.entries(rows).filter(([k, r]) => k.startsWith(`${target}/`) && r.sample);
  for (const [k, r] of samples) p(`- ${k}: first error body: \`${r.sample.replace(/`/g, "'").slice(0, 300)}\``);
  if (samples.length) p();
}

// ---- the session check in steps (direct, c=50): workerd CPU per request -------------------------
{
  const steps = [
    ["health", "GET /health: routing, request log line, JSON answer"],
    ["me_malformed", "GET /v1/me refused before parsing: + bearer extraction, problem+json"],
    ["me_badsig", "GET /v1/me with a bad signature: + JWT parse, key lookup, Ed25519 verify"],
    ["me", "GET /v1/me: + claims, D1 session JOIN user, session check, user JSON"],
  ].map(([s, what]) => [s, what, rows[`direct/${s}/50`]]).filter(([, , r]) => r && r.cpu_ms !== undefined);
  if (steps.length > 1) {
    p(`## GET /v1/me: where the Worker's CPU goes (direct, c=50)`);
    p();
    p(`| row | req/s | CPU per request ms | step's share ms | errors |`);
    p(`|---|--:|--:|--:|--:|`);
    let prev = null;
    for (const [, what, r] of steps) {
      const per = r.cpu_ms / r.requests;
      p(`| ${what} | ${fmt(r.rps, 0)} | ${fmt(per, 3)} | ${prev === null ? "–" : fmt(per - prev, 3)} | ${r.errors} |`);
      prev = per;
    }
    p();
    p(`CPU = workerd's process CPU over the row ÷ requests (it includes the runtime's HTTP work and ` +
      `D1's SQLite, which run in the same process). Each row adds one step to the one above; ` +
      `the difference is that step's cost, within the noise of a shared machine.`);
    p();
  }
}

// ---- realtime ----------------------------------------------------------------------------------
const opt = (f) => (existsSync(path.join(dir, f)) ? read(f) : null);
const withCtx = (f) => {
  const r = opt(`${f}.json`);
  return r && { ...r, ...(opt(`${f}.ctx.json`) ?? {}) };
};
const loadCell = (r) => (r.load1 === undefined ? "–" : `${fmt(r.load1, 2)}${r.foreign_procs ? ` (+${r.foreign_procs})` : ""}`);
const rt = {};
for (const [target] of TARGETS) {
  rt[target] = {
    chat: withCtx(`${target}-rt-chat`),
    tips: concurrency.map((c) => [c, withCtx(`${target}-rt-tip-c${c}`)]).filter(([, r]) => r),
    ledger: opt(`${target}-rt-ledger.json`),
  };
}
const rtErrors = [];
if (TARGETS.some(([t]) => rt[t].chat || rt[t].tips.length)) {
  p(`## Realtime`);
  p();
  const chat = TARGETS.map(([t]) => rt[t].chat).find(Boolean);
  if (chat) {
    p(`**Chat fan-out**, bench/lib/chat-fanout.mjs (Node ${meta.node}'s built-in WebSocket client, one process): ` +
      `${chat.clients} clients (${chat.users} users, a ticket per connection) in one stream's room; all of them send, ` +
      `${chat.rate_target} msg/s in total for ${chat.duration_s} s (each connection one \`chat.send\` every ` +
      `${fmt(chat.per_connection_interval_s, 2)} s)` +
      `${meta.rt_idle_s ? `, started after ${meta.rt_idle_s} s without requests (idle Durable Objects evicted first, see bench/README.md)` : ""}; ` +
      `every message is expected at all ${chat.clients} clients, the sender's included. ` +
      `Latency = receive time − the send time written in the message (one clock). deliveries/s = deliveries received ÷ ` +
      `(last delivery − first send). Errors = error frames + closes not asked for + deliveries missing 10 s after the ` +
      `last send + duplicates + wrong author.`);
    p();
    p(`| server | msgs sent | deliveries expected | received | deliveries/s | p50 ms | p99 ms | max ms | errors | load¹ |`);
    p(`|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|`);
    for (const [target, label] of TARGETS) {
      const r = rt[target].chat;
      if (!r) continue;
      if (r.errors) rtErrors.push(`${target} chat: ${r.error_kinds}; ${r.samples.join(" | ")}`);
      const err = r.errors ? `**${r.errors}** (${r.error_kinds})` : "0";
      p(`| ${label} | ${r.sent} | ${r.expected} | ${r.received} | ${fmt(r.deliveries_per_s, 0)} | ${fmt(r.p50_ms)} | ` +
        `${fmt(r.p99_ms)} | ${fmt(r.max_ms)} | ${err} | ${loadCell(r)} |`);
    }
    p();
  }
  if (TARGETS.some(([t]) => rt[t].tips.length)) {
    const viewers = TARGETS.map(([t]) => rt[t].ledger?.viewers).find(Boolean);
    p(`**Tips**, bench/lib/tips.mjs (its own node:http driver, closed loop like wrk: c connections, keep-alive, ` +
      `${meta.tip_duration_s} s per row, requests in flight at the deadline waited for and counted): ` +
      `\`POST /v1/streams/{id}/tips\` \`{"amount":1}\`, a unique \`Idempotency-Key\` each, ` +
      `${viewers ?? "the"} viewers round-robin (each granted 100000 credits first) → one stream owner. ` +
      `Errors = any status but 201 + replayed answers + socket errors + timeouts (30 s).`);
    p();
    p(`| server | c | req/s | p50 ms | p99 ms | errors | requests | load¹ |`);
    p(`|---|--:|--:|--:|--:|--:|--:|--:|`);
    for (const [target, label] of TARGETS) {
      for (const [c, r] of rt[target].tips) {
        if (r.errors) rtErrors.push(`${target} tips c=${c}: ${r.statuses}; ${r.sample}`);
        const err = r.errors ? `**${r.errors}** (${r.statuses})` : "0";
        p(`| ${label} | ${c} | ${fmt(r.rps)} | ${fmt(r.p50_ms)} | ${fmt(r.p99_ms)} | ${err} | ${r.requests} | ${loadCell(r)} |`);
      }
    }
    p();
    for (const [target, label] of TARGETS) {
      const l = rt[target].ledger;
      if (!l) continue;
      if (l.ok) {
        p(`- Ledger, ${label}: owner's \`GET /v1/credits\` balance ${l.owner_balance} = ${l.owner_before} + ` +
          `${l.credits_tipped} credits tipped (${l.tips_201} tips answered 201 over ${l.rows} rows); ` +
          `the ${l.viewers} viewers' balances (sum ${l.viewer_balances}) each = grant − own tips. OK.`);
      } else {
        p(`- **Ledger, ${label}: ${l.mismatch_count} mismatches** (raw/${target}-rt-ledger.json), first: ` +
          `${l.mismatches.slice(0, 3).join("; ")}`);
      }
    }
    p();
  }
  p(`¹ as above.`);
  p();
  for (const e of rtErrors) p(`- ${e.replace(/\`/g, "'").slice(0, 500)}`);
  if (rtErrors.length) p();
}

p(`## Release Worker size`);
p();
p(`| file | raw | gzip -9 |`);
p(`|---|--:|--:|`);
p(`| build/index_bg.wasm | ${meta.wasm_raw} B (${kb(meta.wasm_raw)}) | ${meta.wasm_gzip} B (${kb(meta.wasm_gzip)}) |`);
p();

p(`## Argon2id per hash (m=19456 KiB, t=2, p=1, 32-byte output)`);
p();
p(`| where | ms per hash | how |`);
p(`|---|--:|---|`);
const native = existsSync(path.join(dir, "argon2-native.json")) ? read("argon2-native.json") : null;
const wasi = existsSync(path.join(dir, "argon2-wasi-node.json")) ? read("argon2-wasi-node.json") : null;
if (native) p(`| native x86-64 (opt-level 3, LTO: the fastest native build) | ${fmt(native.p50_ms)} | bench/argon2-native, median of ${native.n} (min ${fmt(native.min_ms)}, mean ${fmt(native.mean_ms)}) |`);
const a2workerd = existsSync(path.join(dir, "argon2-workerd.json")) ? read("argon2-workerd.json") : null;
if (a2workerd) p(`| wasm32-unknown-unknown in workerd ${meta.workerd} | ${fmt(a2workerd.mean_ms)} | same code and profile (simd128), bench/argon2-native/workerd-run.mjs: best of 3 requests of ${a2workerd.n} hashes; workerd CPU ${fmt(a2workerd.cpu_ms)} ms per hash (native: ${native ? fmt(native.cpu_ms) : "–"}) |`);
if (wasi) p(`| wasm32-wasip1 under Node ${meta.node} (V8) | ${fmt(wasi.p50_ms)} | same program, median of ${wasi.n} (min ${fmt(wasi.min_ms)}, mean ${fmt(wasi.mean_ms)}) |`);
for (const [target, label] of TARGETS) {
  const login = rows[`${target}/login/1`], me = rows[`${target}/me/1`], refresh = rows[`${target}/refresh/1`];
  if (login && me) {
    p(`| wasm in workerd, ${label} | ${fmt(login.p50_ms - me.p50_ms)} | derived: login c=1 p50 − GET /v1/me c=1 p50 (${fmt(login.p50_ms)} − ${fmt(me.p50_ms)}); includes the login's session creation |`);
  }
  if (login && refresh) {
    p(`| wasm in workerd, ${label} | ${fmt(login.p50_ms - refresh.p50_ms)} | derived: login c=1 p50 − refresh c=1 p50 (${fmt(login.p50_ms)} − ${fmt(refresh.p50_ms)}); both write the session object and sign a token, so this is closer to the hash alone |`);
  }
}
p();

// A side-by-side view of what the proxy costs.
const both = SCENARIOS.filter(([s]) => concurrency.some((c) => rows[`proxy/${s}/${c}`] && rows[`direct/${s}/${c}`]));
if (both.length) {
  p(`## Proxy vs direct, req/s (p50 ms)`);
  p();
  p(`| endpoint | ${concurrency.map((c) => `c=${c} proxy | c=${c} direct`).join(" | ")} |`);
  p(`|---|${concurrency.map(() => "--:|--:").join("|")}|`);
  for (const [s, name] of both) {
    const cells = concurrency.map((c) => {
      const a = rows[`proxy/${s}/${c}`], b = rows[`direct/${s}/${c}`];
      const cell = (r) => (r ? `${fmt(r.rps, 0)} (${fmt(r.p50_ms)})` : "–");
      return `${cell(a)} | ${cell(b)}`;
    });
    p(`| ${name} | ${cells.join(" | ")} |`);
  }
  const tipAt = (t, c) => rt[t].tips.find(([cc]) => cc === c)?.[1];
  if (concurrency.some((c) => tipAt("proxy", c) && tipAt("direct", c))) {
    const cell = (r) => (r ? `${fmt(r.rps, 0)} (${fmt(r.p50_ms)})` : "–");
    p(`| POST /v1/streams/{id}/tips (tips.mjs) | ${concurrency.map((c) => `${cell(tipAt("proxy", c))} | ${cell(tipAt("direct", c))}`).join(" | ")} |`);
  }
  p();
}

const rtRows = TARGETS.flatMap(([t]) => [rt[t].chat, ...rt[t].tips.map(([, r]) => r)]).filter(Boolean);
const ledgerBad = TARGETS.filter(([t]) => rt[t].ledger && !rt[t].ledger.ok).length;
const totalErrors = [...Object.values(rows), ...rtRows].reduce((a, r) => a + r.errors, 0) + ledgerBad;
const nRows = Object.keys(rows).length + rtRows.length;
const ledgers = TARGETS.filter(([t]) => rt[t].ledger).length;
p(totalErrors === 0
  ? `All ${nRows} rows: 0 errors${ledgers ? `; ${ledgers === 1 ? "the ledger" : `all ${ledgers} ledgers`} balanced` : ""}.`
  : `**${totalErrors} errors in total across the rows above${ledgerBad ? ` (${ledgerBad} ledger mismatch)` : ""}: see the statuses and sample bodies.**`);
process.stdout.write(lines.join("\n") + "\n");
