// Runs the built Edgeward Worker (build/worker/shim.mjs + build/index_bg.wasm) in workerd through
// Miniflare's Node API, without `wrangler dev` and its proxy in front, on 127.0.0.1:PORT.
// Bindings come from wrangler.toml (read with wrangler's own config reader): D1 `DB` (the SQL
// files in migrations/ applied through the binding at start), every Durable Object binding
// (`USER_SESSIONS` -> `UserSessions`, ...) on SQLite storage as its [[migrations]] say, every
// queue producer (`EMAIL`, ...) and consumer (`edgeward-email` and its dead-letter queue, ...)
// with the same batch settings, and [vars]; then the env file on top (JWT_SIGNING_KEYS as a
// `NAME='value'` line, as written by scripts/gen-key.mjs, and any overrides).
//
//   node bench/direct.mjs --port 0 --state DIR --env-file FILE [--config wrangler.toml]
//   node bench/direct.mjs --port 8787 --persist-to DIR --env-file .dev.vars --skip-migrations \
//     [--log-level info] [--inspector-port N]
//
// --state DIR is Miniflare's own storage root (bench/run: fresh each run); --persist-to DIR is
// `wrangler dev --persist-to DIR`'s layout (DIR/v3), so both serve the same D1 database and
// Durable Objects (`EDGEWARD_DIRECT=1 ./scripts/dev` uses this). --skip-migrations: the D1
// migrations were applied already (`wrangler d1 migrations apply --persist-to DIR`, which keeps
// track of them); otherwise every migrations/*.sql file is applied at start, which only a
// fresh state accepts. --log-level: the Worker's structured logs printed (default error: warn
// and error only, like `wrangler dev --log-level error`; info prints the request lines too).
// The scheduled handler runs on `GET /cdn-cgi/local/scheduled?cron=EXPR` (`wrangler dev` answers
// that path too, besides its /cdn-cgi/handler/scheduled).
//
// --config defaults to the repository's wrangler.toml; bench/run passes the copy it makes next
// to its snapshot of build/ and migrations/ (see bench/README.md), so that someone rebuilding
// the repository meanwhile does not change what is measured.
//
// Prints `ready http://127.0.0.1:PORT` once the Worker answers, then serves until SIGTERM or
// SIGINT (or stdin closing, with --exit-on-stdin-close). bench/run starts it like a server and
// drives the same wrk load against it as against `wrangler dev`.
import { readFileSync, readdirSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as miniflare from "miniflare";
import { unstable_readConfig, unstable_splitSqlQuery } from "wrangler";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const port = Number(arg("port", "0"));
const persistTo = arg("persist-to");
const state = persistTo ? path.join(persistTo, "v3") : arg("state");
const envFile = arg("env-file");
const skipMigrations = process.argv.includes("--skip-migrations");
const LEVELS = { debug: 0, info: 1, log: 1, warn: 2, error: 3 };
const logLevel = arg("log-level", "error");
if (!state || !envFile || !(logLevel in LEVELS)) {
  console.error("usage: node bench/direct.mjs --port N (--state DIR | --persist-to DIR) --env-file FILE " +
    "[--config wrangler.toml] [--skip-migrations] [--log-level debug|info|warn|error]");
  process.exit(2);
}

// NAME='value' / NAME="value" / NAME=value lines (the format of .dev.vars and --env-file).
function readEnvFile(file) {
  const out = {};
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const m = line.match(/^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/);
    if (!m) continue;
    let v = m[2];
    if ((v.startsWith("'") && v.endsWith("'")) || (v.startsWith('"') && v.endsWith('"'))) {
      v = v.slice(1, -1);
    }
    out[m[1]] = v;
  }
  return out;
}

const configPath = path.resolve(arg("config", path.join(ROOT, "wrangler.toml")));
const configDir = path.dirname(configPath);
const config = unstable_readConfig({ config: configPath }, { hideWarnings: true });
// main is build/worker/shim.mjs, which re-exports ../index.js, which imports ./index_bg.wasm.
const main = path.resolve(configDir, config.main);
const buildDir = path.resolve(path.dirname(main), "..");
const sqliteClasses = new Set(config.migrations.flatMap((m) => m.new_sqlite_classes ?? []));

const durableObjects = Object.fromEntries(
  config.durable_objects.bindings.map((b) => [
    b.name,
    { className: b.class_name, useSQLite: sqliteClasses.has(b.class_name) },
  ]),
);
const d1Databases = Object.fromEntries(config.d1_databases.map((d) => [d.binding, d.database_id]));
const queueProducers = Object.fromEntries(
  config.queues.producers.map((p) => [p.binding, { queueName: p.queue }]),
);
const queueConsumers = Object.fromEntries(
  config.queues.consumers.map((c) => [
    c.queue,
    {
      maxBatchSize: c.max_batch_size,
      maxBatchTimeout: c.max_batch_timeout,
      maxRetries: c.max_retries,
      deadLetterQueue: c.dead_letter_queue,
      retryDelay: c.retry_delay,
    },
  ]),
);
const bindings = { ...config.vars, ...readEnvFile(envFile) };
// Binding kinds this launcher does not set up: say so, rather than run a Worker that differs
// from the one wrangler dev runs without anyone noticing.
for (const kind of ["kv_namespaces", "r2_buckets", "services", "workflows", "hyperdrive",
  "analytics_engine_datasets", "vectorize", "send_email", "ratelimits", "dispatch_namespaces"]) {
  const v = config[kind];
  if (Array.isArray(v) ? v.length : v && Object.keys(v).length) {
    console.error(`direct.mjs: warning: wrangler.toml has ${kind}, which this launcher does not bind`);
  }
}
if (config.ai) console.error("direct.mjs: warning: wrangler.toml has ai, which this launcher does not bind");

mkdirSync(state, { recursive: true });
const v4 = {
  host: "127.0.0.1",
  port,
  // No dev registry: this instance is on its own, like a deployed Worker.
  unsafeDevRegistryPath: undefined,
  resourcePersistencePath: path.resolve(state),
  rootPath: ROOT,
  name: config.name,
  // The Worker as built: the shim re-exports build/index.js, which imports index_bg.wasm
  // (wrangler bundles the same three files; the wasm is a CompiledWasm module).
  modules: [
    { type: "ESModule", path: main },
    { type: "ESModule", path: path.join(buildDir, "index.js") },
    { type: "CompiledWasm", path: path.join(buildDir, "index_bg.wasm") },
  ],
  modulesRoot: buildDir,
  compatibilityDate: config.compatibility_date,
  compatibilityFlags: config.compatibility_flags,
  bindings,
  d1Databases,
  durableObjects,
  queueProducers,
  queueConsumers,
  // Nothing leaves 127.0.0.1: any outbound fetch() of the Worker gets a 502 from here.
  // [assets] (GET /docs; /openapi.json through the Worker), routed as on the platform and under
  // wrangler dev.
  ...(config.assets?.directory
    ? {
        assets: {
          directory: path.resolve(configDir, config.assets.directory),
          binding: config.assets.binding,
          routerConfig: { has_user_worker: true },
          // run_worker_first = ["/openapi.json"]: these paths run the Worker before the assets.
          ...(config.assets.run_worker_first !== undefined
            ? { run_worker_first: config.assets.run_worker_first }
            : {}),
          assetConfig: {
            ...(config.assets.html_handling ? { html_handling: config.assets.html_handling } : {}),
            ...(config.assets.not_found_handling ? { not_found_handling: config.assets.not_found_handling } : {}),
          },
        },
      }
    : {}),
  // GET /cdn-cgi/local/scheduled?cron=EXPR runs the scheduled handler (cron never fires by
  // itself locally). Local only: nothing here is deployed.
  unsafeTriggerHandlers: true,
  outboundService: () => new Response("bench/direct.mjs: outbound requests are blocked", { status: 502 }),
};
const opts = miniflare.convertV4MiniflareOptions ? miniflare.convertV4MiniflareOptions(v4) : v4;
const quietLog = new miniflare.Log(miniflare.LogLevel.ERROR);
// --inspector-port N: workerd's V8 inspector on 127.0.0.1:N, for a CPU profile of the Worker
// under load (bench/lib/cpu-profile.mjs).
const inspectorPort = arg("inspector-port");
const mf = new miniflare.Miniflare({
  ...opts,
  ...(inspectorPort ? { inspectorPort: Number(inspectorPort) } : {}),
  log: quietLog,
  logRequests: false,
  // Like `wrangler dev --log-level LEVEL`: the Worker logs one JSON line per request at info
  // level; by default only its warnings and errors are written out.
  handleStructuredLogs: ({ level, message }) => {
    if ((LEVELS[level] ?? LEVELS.info) < LEVELS[logLevel]) return;
    if (level === "error" || level === "warn") console.error(message);
    else console.log(message);
  },
});

// workerd processes Miniflare started (children of this process), from /proc (Linux).
function workerdPids() {
  const pids = [];
  let entries = [];
  try {
    entries = readdirSync("/proc");
  } catch {
    return pids;
  }
  for (const d of entries) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === process.pid && stat.includes("(workerd)")) pids.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

let stopping = false;
async function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  try {
    await mf.dispose();
  } finally {
    process.exit(code);
  }
}
process.on("SIGTERM", () => stop(0));
process.on("SIGINT", () => stop(0));
if (process.argv.includes("--exit-on-stdin-close")) {
  process.stdin.on("end", () => stop(0));
  process.stdin.resume();
}

try {
  const url = await mf.ready;
  // Migrations, in file order, split into statements the way `wrangler d1 migrations` does.
  for (const d of skipMigrations ? [] : config.d1_databases) {
    const db = await mf.getD1Database(d.binding);
    const dir = path.resolve(configDir, d.migrations_dir ?? "migrations");
    for (const file of readdirSync(dir).filter((f) => f.endsWith(".sql")).sort()) {
      const statements = unstable_splitSqlQuery(readFileSync(path.join(dir, file), "utf8"));
      if (statements.length) await db.batch(statements.map((q) => db.prepare(q)));
    }
  }
  const health = await fetch(new URL("/health", url));
  if (health.status !== 200) throw new Error(`GET /health answered ${health.status}`);
  await health.arrayBuffer();
  // bench/run reads workerd's CPU time from /proc/PID/stat (Worker CPU per request).
  for (const pid of workerdPids()) console.log(`workerd pid ${pid}`);
  console.log(`ready ${url.origin}`);
} catch (e) {
  console.error("direct.mjs: failed to start the Worker:", e);
  await stop(1);
}
