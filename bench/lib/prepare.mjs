// Creates the benchmark's users and sessions on a running Edgeward and writes them to files
// that bench/wrk/edgeward.lua reads (one item per line):
//   emails.txt            the users' addresses (login and password-forgot rows)
//   access.txt            one access token per user, each from its own session (GET /v1/me)
//   refresh-<C>.txt       C refresh tokens, each from its own login (one chain per connection)
// Users are registered, verified through the dev mailbox, then logged in. Any unexpected status
// aborts with the request and the answer.
//
//   node bench/lib/prepare.mjs --url http://127.0.0.1:PORT --users 50 --chains 1,10,50 \
//        --password PW --out DIR
import { writeFileSync, mkdirSync } from "node:fs";
import { randomBytes } from "node:crypto";
import path from "node:path";

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const base = arg("url");
const nUsers = Number(arg("users", "50"));
const chains = arg("chains", "1,10,50").split(",").map(Number);
const password = arg("password", "bench-password-0123456789");
const out = arg("out");
const parallel = Number(arg("parallel", "4"));
if (!base || !out) {
  console.error("usage: prepare.mjs --url URL --out DIR [--users N] [--chains 1,10,50]");
  process.exit(2);
}
mkdirSync(out, { recursive: true });

async function call(method, p, body, headers = {}) {
  const res = await fetch(new URL(p, base), {
    method,
    headers: body ? { "content-type": "application/json", ...headers } : headers,
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text) };
}

async function expect(status, method, p, body, headers) {
  const r = await call(method, p, body, headers);
  if (r.status !== status) {
    throw new Error(`${method} ${p} answered ${r.status}, expected ${status}: ${r.text.slice(0, 500)}`);
  }
  return r;
}

// Runs fn over items with at most `parallel` in flight.
async function pool(items, fn) {
  const results = new Array(items.length);
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(parallel, items.length) }, worker));
  return results;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function mailToken(email) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const r = await expect(200, "GET", `/v1/dev/mailbox?to=${encodeURIComponent(email)}`);
    for (const m of r.json().messages ?? []) {
      const hit = /token=([A-Za-z0-9_-]{43})/.exec(m.text ?? "");
      if (hit) return hit[1];
    }
    await sleep(250);
  }
  throw new Error(`no verification e-mail for ${email} within 60 s`);
}

const t0 = Date.now();
const run = randomBytes(4).toString("hex");
const emails = Array.from({ length: nUsers }, (_, i) => `bench-${run}-${i}@example.com`);

await pool(emails, (email) => expect(201, "POST", "/v1/auth/register", { email, password }));
const tRegistered = Date.now();
await pool(emails, async (email) => {
  const token = await mailToken(email);
  await expect(200, "POST", "/v1/auth/verify-email", { token });
});
const tVerified = Date.now();

const login = async (email) =>
  (await expect(200, "POST", "/v1/auth/login", { email, password, device_name: "bench" })).json();

const access = await pool(emails, async (email) => {
  const t = await login(email);
  // Check the token works before handing it to the load tool.
  await expect(200, "GET", "/v1/me", undefined, { authorization: `Bearer ${t.access_token}` });
  return t.access_token;
});
writeFileSync(path.join(out, "emails.txt"), emails.join("\n") + "\n");
writeFileSync(path.join(out, "access.txt"), access.join("\n") + "\n");

for (const c of chains) {
  const tokens = await pool(
    Array.from({ length: c }, (_, i) => emails[i % emails.length]),
    async (email) => (await login(email)).refresh_token,
  );
  writeFileSync(path.join(out, `refresh-${c}.txt`), tokens.join("\n") + "\n");
}
const tDone = Date.now();
console.log(
  `prepared ${nUsers} users (register ${((tRegistered - t0) / 1e3).toFixed(1)} s, ` +
    `mail+verify ${((tVerified - tRegistered) / 1e3).toFixed(1)} s), ` +
    `${nUsers + chains.reduce((a, b) => a + b, 0)} logins (${((tDone - tVerified) / 1e3).toFixed(1)} s) in ${out}`,
);
