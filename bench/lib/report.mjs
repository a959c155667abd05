// Builds the Markdown summary of a bench/run from its raw results directory:
//   <target>-<scenario>-c<C>.json   one line from bench/wrk/edgeward.lua's done()
//   argon2-native.json, argon2-wasi-node.json   from bench/argon2-native
//   meta.json                        date, versions, sizes (written by bench/run)
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
    rows[`${m[1]}/${m[2]}/${m[3]}`] = { ...read(f), ...(existsSync(path.join(dir, ctx)) ? read(ctx) : {}) };
  }
}
const concurrency = meta.concurrency.split(/\s+/).map(Number);

const SCENARIOS = [
  ["login", "POST /v1/auth/login", "same 50 users round-robin; one argon2id verify each"],
  ["refresh", "POST /v1/auth/refresh", "chained: each connection sends the token its last answer returned"],
  ["me", "GET /v1/me", "Bearer access tokens of 50 sessions round-robin"],
  ["forgot", "POST /v1/auth/password/forgot", "existing users round-robin; D1 write + queue send"],
  ["health", "GET /health", "no storage: the floor of each route"],
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
  `miniflare ${meta.miniflare}, workerd ${meta.workerd}, Node ${meta.node}, rustc ${meta.rustc}, argon2 crate ${meta.argon2_crate}.`);
p(`Rows: ${meta.duration_s} s each (login ${meta.login_duration_s} s, /health ${meta.health_duration_s} s), ` +
  `one wrk thread, c = concurrent connections, ${meta.users} users per server. ` +
  `Errors = responses outside 200-299 + socket errors + timeouts (30 s); must be 0.`);
p();

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
if (native) p(`| native x86-64 (release, LTO) | ${fmt(native.p50_ms)} | bench/argon2-native, median of ${native.n} (min ${fmt(native.min_ms)}, mean ${fmt(native.mean_ms)}) |`);
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
  p();
}

const totalErrors = Object.values(rows).reduce((a, r) => a + r.errors, 0);
p(totalErrors === 0
  ? `All ${Object.keys(rows).length} rows: 0 errors.`
  : `**${totalErrors} errors in total across the rows above: see the statuses and sample bodies.**`);
process.stdout.write(lines.join("\n") + "\n");
