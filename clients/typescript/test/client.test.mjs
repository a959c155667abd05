// Unit tests of the client against a fake server (a fetch function), fake storage shared by
// "tabs" (clients), a fake Web Locks manager and a fake BroadcastChannel bus.
import assert from "node:assert/strict";
import { test } from "node:test";
import { EdgewardClient, EdgewardError, SecondFactorRequired } from "../dist/index.js";

const USER = { id: "u1", email: "ada@example.test", name: "Ada", status: "active", version: 1 };

function json(status, body, headers = {}) {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status, headers: { "content-type": status >= 400 ? "application/problem+json" : "application/json", ...headers },
  });
}

function problem(status, code, headers = {}) {
  return json(status, { type: `urn:edgeward:problem:${code}`, title: code, status, code, detail: code, request_id: "r1" }, headers);
}

/** The next token pair of a fake server. */
function issueTokens(server, mode = "bearer") {
  server.n += 1;
  server.access = `a${server.n}`;
  server.refresh = `r${server.n}`;
  return mode === "cookie"
    ? { user: USER, session_id: "s1", expires_in: 900, csrf_token: `c${server.n}` }
    : { user: USER, session_id: "s1", expires_in: 900, access_token: server.access, token_type: "Bearer", refresh_token: server.refresh };
}

/** A fake Edgeward: tokens are "a<n>"/"r<n>"; `me` needs the current access token. */
function fakeServer({ mode = "bearer" } = {}) {
  const server = { n: 0, refreshes: 0, calls: [], access: null, refresh: null, script: [] };
  const issue = () => issueTokens(server, mode);
  server.fetch = async (url, init) => {
    const path = new URL(url).pathname;
    const body = init.body ? JSON.parse(init.body) : undefined;
    server.calls.push({ path, method: init.method, headers: init.headers, body, credentials: init.credentials });
    await new Promise((r) => setTimeout(r, 5));
    if (server.script.length) return server.script.shift()();
    if (path === "/v1/auth/login") return json(200, issue());
    if (path === "/v1/auth/refresh") {
      server.refreshes += 1;
      if (mode === "bearer" && body.refresh_token !== server.refresh) return problem(401, "invalid_refresh_token");
      return json(200, issue());
    }
    const presented = mode === "cookie" ? server.cookieValid !== false : init.headers.authorization === `Bearer ${server.access}`;
    if (!presented) return problem(401, "invalid_token");
    if (path === "/v1/me") return json(200, USER);
    if (path === "/v1/auth/logout") return new Response(null, { status: 204 });
    return problem(404, "not_found");
  };
  return server;
}

function memory() {
  const map = new Map();
  return { getItem: (k) => map.get(k) ?? null, setItem: (k, v) => void map.set(k, v), removeItem: (k) => void map.delete(k) };
}

/** Web Locks with one queue per name. */
function fakeLocks() {
  const tails = new Map();
  return {
    request(name, callback) {
      const run = (tails.get(name) ?? Promise.resolve()).then(() => callback());
      tails.set(name, run.catch(() => {}));
      return run;
    },
  };
}

/** BroadcastChannel: every open channel of a name hears the others' messages, asynchronously. */
function fakeBus() {
  const members = new Set();
  return (name) => {
    const listeners = [];
    const channel = {
      postMessage(data) {
        for (const other of members) if (other !== channel && other.name === name) {
          setTimeout(() => other.listeners.forEach((l) => l({ data: structuredClone(data) })), 1);
        }
      },
      addEventListener(_type, l) { listeners.push(l); },
      close() { members.delete(channel); },
      name, listeners,
    };
    members.add(channel);
    return channel;
  };
}

function client(server, extra = {}) {
  return new EdgewardClient({ baseUrl: "https://api.example.test", fetch: server.fetch, storage: extra.storage ?? memory(),
    locks: null, channel: null, sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 5))), ...extra });
}

test("bearer login keeps the tokens and sends the access token", async () => {
  const server = fakeServer();
  const c = client(server);
  const user = await c.login("ada@example.test", "pw", { deviceName: "laptop", idempotencyKey: "k1" });
  assert.equal(user.email, USER.email);
  assert.equal(server.calls[0].body.mode, "bearer");
  assert.equal(server.calls[0].headers["idempotency-key"], "k1");
  assert.deepEqual(await c.me(), USER);
  assert.equal(server.calls[1].headers.authorization, "Bearer a1");
});

test("a login that needs a second factor opens no session until the code is verified", async () => {
  const server = fakeServer();
  const c = client(server);
  server.script.push(() => json(200, { mfa_required: true, mfa_token: "m".repeat(43), methods: ["totp", "recovery_code"], expires_in: 300 }));
  const err = await c.login("ada@example.test", "pw").catch((e) => e);
  assert.ok(err instanceof SecondFactorRequired);
  assert.equal(err.mfaToken, "m".repeat(43));
  assert.deepEqual(err.methods, ["totp", "recovery_code"]);
  await assert.rejects(c.me(), (e) => e instanceof EdgewardError && e.code === "invalid_token");
  server.script.push(() => json(200, issueTokens(server)));
  const user = await c.verifySecondFactor(err.mfaToken, "123456");
  assert.equal(user.email, USER.email);
  const verify = server.calls.find((x) => x.path === "/v1/auth/mfa/verify");
  assert.deepEqual(verify.body, { mfa_token: "m".repeat(43), code: "123456" });
  assert.equal(verify.headers.authorization, undefined);
  assert.deepEqual(await c.me(), USER);
});

test("a 401 invalid_token refreshes once and retries", async () => {
  const server = fakeServer();
  const c = client(server);
  await c.login("ada@example.test", "pw");
  server.access = "rotated-elsewhere";
  server.script.push(() => problem(401, "invalid_token"));
  assert.deepEqual(await c.me(), USER);
  assert.equal(server.refreshes, 1);
  assert.equal(c.session.access, "a2");
});

test("parallel calls of one tab share one refresh", async () => {
  const server = fakeServer();
  const c = client(server, { now: () => Date.now() });
  await c.login("ada@example.test", "pw");
  server.access = "expired";
  const users = await Promise.all(Array.from({ length: 5 }, () => c.me()));
  assert.equal(users.length, 5);
  assert.equal(server.refreshes, 1);
});

test("tokens close to expiry are refreshed before the call", async () => {
  const server = fakeServer();
  let clock = 1_000_000;
  const c = client(server, { now: () => clock });
  await c.login("ada@example.test", "pw");
  clock += 890_000; // 10 s left, under the 30 s margin
  await c.me();
  assert.deepEqual(server.calls.map((x) => x.path), ["/v1/auth/login", "/v1/auth/refresh", "/v1/me"]);
});

for (const how of ["Web Locks", "the BroadcastChannel fallback"]) {
  test(`two tabs whose tokens expired refresh once, with ${how}`, async () => {
    // Tabs share storage, and the lock manager or the channel bus; each has its own client.
    const locks = fakeLocks();
    const bus = fakeBus();
    const coordination = () => (how === "Web Locks" ? { locks } : { channel: bus });
    const server = fakeServer();
    const storage = memory();
    const tab1 = client(server, { storage, ...coordination() });
    const tab2 = client(server, { storage, ...coordination() });
    await tab1.login("ada@example.test", "pw");
    server.access = "expired";
    const [a, b] = await Promise.all([tab1.me(), tab2.me()]);
    assert.deepEqual([a, b], [USER, USER]);
    assert.equal(server.refreshes, 1);
  });
}

test("cookie mode sends credentials and the CSRF token on unsafe methods only", async () => {
  const server = fakeServer({ mode: "cookie" });
  const c = client(server, { mode: "cookie" });
  await c.login("ada@example.test", "pw");
  await c.me();
  await c.logout();
  const [login, me, logout] = server.calls;
  assert.equal(login.body.mode, "cookie");
  assert.equal(me.credentials, "include");
  assert.equal(me.headers["x-csrf-token"], undefined);
  assert.equal(logout.headers["x-csrf-token"], "c1");
  assert.equal(c.session, null);
});

test("Retry-After is honoured on 429 and 503", async () => {
  const server = fakeServer();
  const waits = [];
  const c = client(server, { sleep: async (ms) => void waits.push(ms) });
  await c.login("ada@example.test", "pw");
  server.script.push(() => problem(429, "rate_limited", { "retry-after": "2" }), () => problem(503, "overloaded", { "retry-after": "1" }));
  assert.deepEqual(await c.me(), USER);
  assert.deepEqual(waits, [2000, 1000]);
});

test("errors carry the problem's code, status and request id", async () => {
  const server = fakeServer();
  const c = client(server);
  server.script.push(() => problem(401, "invalid_credentials"));
  await assert.rejects(c.login("ada@example.test", "bad"), (e) =>
    e instanceof EdgewardError && e.code === "invalid_credentials" && e.status === 401 && e.requestId === "r1");
});

test("a failed refresh signs out, and logout in one tab reaches the others", async () => {
  const bus = fakeBus();
  const server = fakeServer();
  const storage = memory();
  let ended = 0;
  const tab1 = client(server, { storage, channel: bus });
  const tab2 = client(server, { storage, channel: bus, onLogout: () => { ended += 1; } });
  await tab1.login("ada@example.test", "pw");
  await tab1.logout();
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(ended, 1);
  assert.equal(tab2.session, null);

  await tab1.login("ada@example.test", "pw");
  server.access = "expired";
  server.refresh = "revoked";
  await assert.rejects(tab1.me(), (e) => e.code === "invalid_refresh_token");
  assert.equal(tab1.session, null);
});
