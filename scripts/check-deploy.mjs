// Checks what a plain `wrangler deploy` would upload, without uploading anything: runs
// `wrangler deploy --dry-run --outdir DIR` on the repository's wrangler.toml (or --config FILE)
// and fails when the Worker's vars are not production-safe or the upload is over the limit.
//
//   node scripts/check-deploy.mjs [--config wrangler.toml] [--max-gzip-kib 3072]
//
// Expects the Worker built (build/worker/shim.mjs); EDGEWARD_SKIP_BUILD=1 keeps wrangler's
// [build] command from rebuilding it. Exit 0: safe; 1: unsafe (each finding printed); 2: the
// dry run itself failed.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const config = path.resolve(arg("config", path.join(ROOT, "wrangler.toml")));
// Workers Free allows 3 MiB compressed (Paid: 10 MiB): hold the stricter one.
const maxGzipKiB = Number(arg("max-gzip-kib", "3072"));

const outdir = mkdtempSync(path.join(tmpdir(), "edgeward-dry-run-"));
const wrangler = path.join(ROOT, "node_modules", ".bin", "wrangler");
const run = spawnSync(wrangler, ["deploy", "--dry-run", "--outdir", outdir, "--config", config], {
  cwd: ROOT,
  encoding: "utf8",
  env: {
    ...process.env,
    EDGEWARD_SKIP_BUILD: "1",
    CI: "true",
    WRANGLER_SEND_METRICS: "false",
    WRANGLER_SEND_ERROR_REPORTS: "false",
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
    // No account is needed for a dry run; make sure none is used.
    CLOUDFLARE_API_TOKEN: "",
  },
});
const output = `${run.stdout}\n${run.stderr}`.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");
if (run.status !== 0) {
  console.error(output);
  console.error(`check-deploy: wrangler deploy --dry-run failed (exit ${run.status})`);
  rmSync(outdir, { recursive: true, force: true });
  process.exit(2);
}

// The bindings table of the dry run: `env.NAME ("value")   Environment Variable`.
const vars = {};
for (const m of output.matchAll(/env\.([A-Z0-9_]+) \("((?:[^"\\]|\\.)*)"\)\s+Environment Variable/g)) {
  vars[m[1]] = m[2];
}
const upload = output.match(/Total Upload:\s*([\d.]+) KiB \/ gzip:\s*([\d.]+) KiB/);
let bundleBytes = 0;
for (const f of readdirSync(outdir)) bundleBytes += statSync(path.join(outdir, f)).size;
rmSync(outdir, { recursive: true, force: true });

const problems = [];
if (Object.keys(vars).length === 0) problems.push("no vars found in the dry run's bindings");
if (vars.ENVIRONMENT !== "production") {
  problems.push(`ENVIRONMENT is ${JSON.stringify(vars.ENVIRONMENT)}: the dev mailbox and dev credits would be open`);
}
if ((vars.EMAIL_PROVIDER ?? "resend") === "log") {
  problems.push("EMAIL_PROVIDER is log: mail would go to the dev mailbox instead of the owners");
}
if ((vars.BREACHED_PASSWORDS_API_URL ?? "").toLowerCase() === "off") {
  problems.push("BREACHED_PASSWORDS_API_URL is off: breached passwords would be accepted");
}
if ("DEV_FAULTS" in vars) problems.push("DEV_FAULTS is set: test fault injection must never ship");
for (const secret of ["JWT_SIGNING_KEYS", "EMAIL_API_KEY", "KEY_ENCRYPTION_KEY"]) {
  if (secret in vars) problems.push(`${secret} is a plain var: it is a secret (wrangler secret put ${secret})`);
}
for (const [name, value] of Object.entries(vars)) {
  if (/(^|[/.@])(localhost|127\.0\.0\.1)([:/]|$)|\.localhost\b/i.test(value)) {
    problems.push(`${name} points at a local address (${value})`);
  }
  if (/^http:\/\//i.test(value) && name !== "JWT_AUDIENCE") {
    problems.push(`${name} is a plain-http URL (${value})`);
  }
}
if (!upload) {
  problems.push("the dry run printed no upload size");
} else if (Number(upload[2]) > maxGzipKiB) {
  problems.push(`the upload is ${upload[2]} KiB gzipped, over the ${maxGzipKiB} KiB limit`);
}

const size = upload ? `${upload[1]} KiB (gzip ${upload[2]} KiB)` : "unknown size";
if (problems.length) {
  console.error(`check-deploy: ${config} is NOT safe to deploy as it is:`);
  for (const p of problems) console.error(`  - ${p}`);
  process.exit(1);
}
console.log(
  `check-deploy: ok: ${Object.keys(vars).length} vars production-safe (ENVIRONMENT=production, ` +
    `EMAIL_PROVIDER=${vars.EMAIL_PROVIDER}); upload ${size}, ${bundleBytes} bytes written by the dry run`,
);
