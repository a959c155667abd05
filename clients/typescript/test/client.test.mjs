// Unit tests of the client against a fake server (a fetch function), fake storage shared by
// "tabs" (clients), a fake Web Locks manager and a fake BroadcastChannel bus.
import assert from "node:assert/strict";
import { test } from "node:test";
import { EdgewardClient, EdgewardError, SecondFactorRequired, base64urlToBytes, bytesToBase64url, creationOptionsFromJSON,
  credentialToJSON, requestOptionsFromJSON } from "../dist/index.js";

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

/** Storage shared by tabs the way a browser shares localStorage: each tab (each call) gets a view
 * that sees its own writes at once and the other tabs' `delayMs` later. */
function sharedStorage(delayMs) {
  const maps = [];
  return () => {
    const map = new Map();
    maps.push(map);
    const elsewhere = (change) => maps.filter((m) => m !== map).forEach((m) => setTimeout(() => change(m), delayMs));
    return {
      getItem: (k) => map.get(k) ?? null,
      setItem: (k, v) => { map.set(k, v); elsewhere((m) => m.set(k, v)); },
      removeItem: (k) => { map.delete(k); elsewhere((m) => m.delete(k)); },
    };
  };
}

/** Web Locks: exclusive and shared locks granted in request order per name, and `query` (left
 * out with `{ query: false }`, as a minimal implementation might). */
function fakeLocks({ query = true } = {}) {
  const held = [];
  const waiting = [];
  const pump = () => {
    for (const w of [...waiting]) {
      const ahead = waiting.slice(0, waiting.indexOf(w));
      const blocked = ahead.some((o) => o.name === w.name)
        || held.some((h) => h.name === w.name && (w.mode === "exclusive" || h.mode === "exclusive"));
      if (!blocked) {
        waiting.splice(waiting.indexOf(w), 1);
        held.push(w);
        w.grant();
      }
    }
  };
  const locks = {
    request(name, options, callback) {
      if (typeof options === "function") [options, callback] = [{}, options];
      return new Promise((resolve, reject) => {
        const entry = { name, mode: options.mode ?? "exclusive" };
        entry.grant = () => Promise.resolve().then(callback).then(resolve, reject).finally(() => {
          held.splice(held.indexOf(entry), 1);
          pump();
        });
        waiting.push(entry);
        pump();
      });
    },
  };
  if (query) locks.query = async () => ({ held: held.map(({ name, mode }) => ({ name, mode })) });
  return locks;
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

const COORDINATIONS = {
  "Web Locks": () => { const locks = fakeLocks(); return () => ({ locks }); },
  "Web Locks without query": () => { const locks = fakeLocks({ query: false }); return () => ({ locks }); },
  "the BroadcastChannel fallback": () => { const bus = fakeBus(); return () => ({ locks: null, channel: bus }); },
};

for (const [how, coordinated] of Object.entries(COORDINATIONS)) {
  test(`two tabs whose tokens expired refresh once, with ${how}`, async () => {
    // Tabs share storage, and the lock manager or the channel bus; each has its own client.
    const coordination = coordinated();
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

for (const how of ["Web Locks", "the BroadcastChannel fallback"]) {
  test(`a tab that asks just after another tab refreshed, before its storage shows it, uses that refresh, with ${how}`, async () => {
    // The refresh in tab 1 is over (its lock released, its election done) when tab 2 asks, and
    // tab 2's storage shows it only 300 ms later, as a busy browser may.
    const coordination = COORDINATIONS[how]();
    const server = fakeServer();
    const view = sharedStorage(300);
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    const tab1 = client(server, { storage: view(), sleep, ...coordination() });
    const tab2 = client(server, { storage: view(), sleep, ...coordination() });
    await tab1.login("ada@example.test", "pw");
    await sleep(350);
    server.access = "expired";
    assert.deepEqual(await tab1.me(), USER);
    assert.deepEqual(await tab2.me(), USER);
    assert.equal(server.refreshes, 1);
    assert.equal(tab2.session.generation, 2);
  });
}

test("with Web Locks, a tab does not wait for another tab's refresh that failed", async () => {
  const locks = fakeLocks();
  const server = fakeServer();
  const view = sharedStorage(1);
  const waits = [];
  const sleep = (ms) => { waits.push(ms); return new Promise((r) => setTimeout(r, ms)); };
  const tab1 = client(server, { storage: view(), locks, sleep });
  const tab2 = client(server, { storage: view(), locks, sleep });
  await tab1.login("ada@example.test", "pw");
  await new Promise((r) => setTimeout(r, 10));
  server.access = "expired";
  server.script.push(() => problem(401, "invalid_token"), () => problem(500, "internal"));
  await assert.rejects(tab1.me(), (e) => e.status === 500);
  server.access = "expired";
  assert.deepEqual(await tab2.me(), USER);
  assert.equal(server.refreshes, 1);
  assert.deepEqual(waits, []);
});

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

/** A WebAuthn stand-in that records the options it was given and answers fixed JSON. */
function fakeWebAuthn() {
  const seen = [];
  return {
    seen,
    async create(options) { seen.push(["create", options]); return { id: "cred", rawId: "cred", type: "public-key", response: { clientDataJSON: "cd", attestationObject: "ao" } }; },
    async get(options) { seen.push(["get", options]); return { id: "cred", rawId: "cred", type: "public-key", response: { clientDataJSON: "cd", authenticatorData: "ad", signature: "sig" } }; },
  };
}

test("a passkey is registered with the server's options and signs in usernameless, in the client's mode", async () => {
  const server = fakeServer({ mode: "cookie" });
  const webauthn = fakeWebAuthn();
  const c = client(server, { mode: "cookie", webauthn });
  const creation = { rp: { id: "example.test", name: "x" }, user: { id: "dQ", name: "ada", displayName: "Ada" }, challenge: "Y2g" };
  server.script.push(() => json(200, { publicKey: { challenge: "cmVx", rpId: "example.test", allowCredentials: [], userVerification: "required", timeout: 1 } }));
  server.script.push(() => json(200, issueTokens(server, "cookie")));
  const user = await c.signInWithPasskey({ deviceName: "phone" });
  assert.equal(user.email, USER.email);
  assert.equal(webauthn.seen[0][0], "get");
  assert.equal(webauthn.seen[0][1].challenge, "cmVx");
  const verify = server.calls.find((x) => x.path === "/v1/auth/passkeys/verify");
  assert.deepEqual(verify.body, { credential: { id: "cred", rawId: "cred", type: "public-key", response: { clientDataJSON: "cd", authenticatorData: "ad", signature: "sig" } }, mode: "cookie", device_name: "phone" });
  assert.equal(server.calls.find((x) => x.path === "/v1/auth/passkeys/options").credentials, "include");

  server.script.push(() => json(200, { publicKey: creation }));
  server.script.push(() => json(201, { id: "p1", name: "Laptop" }));
  const passkey = await c.registerPasskey("Laptop");
  assert.equal(passkey.id, "p1");
  assert.deepEqual(webauthn.seen[1], ["create", creation]);
  const register = server.calls.find((x) => x.path === "/v1/me/passkeys");
  assert.deepEqual(register.body, { credential: { id: "cred", rawId: "cred", type: "public-key", response: { clientDataJSON: "cd", attestationObject: "ao" } }, name: "Laptop" });
  assert.equal(register.headers["x-csrf-token"], "c1", "a cookie-mode registration is a CSRF-checked write");
});

test("without WebAuthn a passkey call fails clearly before any request", async () => {
  const server = fakeServer();
  const c = client(server, { webauthn: null });
  server.script.push(() => json(200, { publicKey: { challenge: "cmVx" } }));
  await assert.rejects(c.signInWithPasskey(), (e) => e instanceof EdgewardError && e.code === "webauthn_unavailable");
});

test("base64url and the binary WebAuthn options round-trip without a browser", () => {
  const bytes = Uint8Array.from([0, 1, 2, 250, 251, 252, 253, 254, 255]);
  assert.equal(bytesToBase64url(bytes), "AAEC-vv8_f7_");
  assert.deepEqual(base64urlToBytes("AAEC-vv8_f7_"), bytes);
  assert.deepEqual(base64urlToBytes("AAEC-vv8_f7_=="), bytes);
  const creation = creationOptionsFromJSON({ challenge: "AAEC", user: { id: "-_8", name: "a", displayName: "A" }, rp: { id: "x", name: "x" },
    excludeCredentials: [{ id: "AQ", type: "public-key", transports: ["usb"] }] });
  assert.deepEqual([...creation.challenge], [0, 1, 2]);
  assert.deepEqual([...creation.user.id], [251, 255]);
  assert.deepEqual([...creation.excludeCredentials[0].id], [1]);
  assert.deepEqual(creation.excludeCredentials[0].transports, ["usb"]);
  const request = requestOptionsFromJSON({ challenge: "AQID", rpId: "x", userVerification: "required" });
  assert.deepEqual([...request.challenge], [1, 2, 3]);
  assert.deepEqual(request.allowCredentials, []);
  const json = credentialToJSON({ id: "AQ", rawId: Uint8Array.from([1]).buffer, type: "public-key",
    response: { clientDataJSON: Uint8Array.from([123]).buffer, authenticatorData: Uint8Array.from([9]).buffer, signature: Uint8Array.from([8]).buffer, userHandle: null },
    getClientExtensionResults: () => ({}) });
  assert.deepEqual(json, { id: "AQ", rawId: "AQ", type: "public-key", authenticatorAttachment: null, clientExtensionResults: {},
    response: { clientDataJSON: "ew", authenticatorData: "CQ", signature: "CA" } });
});

test("Sign in with Ethereum, token exchange and the OAuth code answer a session or the second factor", async () => {
  const server = fakeServer();
  const c = client(server);
  server.script.push(() => json(200, { nonce: "0123456789abcdef0123456789abcdef" }));
  assert.equal(await c.siweNonce(), "0123456789abcdef0123456789abcdef");
  server.script.push(() => json(200, { mfa_required: true, mfa_token: "m".repeat(43), methods: ["totp", "recovery_code"], expires_in: 300 }));
  const err = await c.signInWithEthereum("msg", "0xsig").catch((e) => e);
  assert.ok(err instanceof SecondFactorRequired);
  server.script.push(() => json(200, issueTokens(server)));
  assert.equal((await c.exchangeToken("privy", "jwt", { deviceName: "app" })).email, USER.email);
  assert.deepEqual(server.calls.find((x) => x.path === "/v1/auth/exchange").body, { provider: "privy", token: "jwt", mode: "bearer", device_name: "app" });
  assert.deepEqual(await c.me(), USER);
  server.script.push(() => json(200, issueTokens(server)));
  await c.completeOAuth("code1", "verifier1");
  assert.deepEqual(server.calls.find((x) => x.path === "/v1/auth/oauth/token").body, { code: "code1", code_verifier: "verifier1" });
  assert.equal(c.oauthStartUrl("google", "https://app.example.test/done", { codeChallenge: "ch" }),
    "https://api.example.test/v1/auth/oauth/google/start?redirect_uri=https%3A%2F%2Fapp.example.test%2Fdone&code_challenge=ch&code_challenge_method=S256");
  const cookie = client(fakeServer({ mode: "cookie" }), { mode: "cookie" });
  assert.equal(cookie.oauthStartUrl("gh", "https://app.example.test/done"),
    "https://api.example.test/v1/auth/oauth/gh/start?redirect_uri=https%3A%2F%2Fapp.example.test%2Fdone&mode=cookie");
});

test("the newest D1 bookmark is kept, shared by the tabs and sent back on every request", async () => {
  const server = fakeServer();
  const storage = memory();
  const bookmarks = ["00000001-00000002", "00000001-00000005", "00000001-00000003"];
  const base = server.fetch;
  server.fetch = async (url, init) => {
    const resp = await base(url, init);
    const next = bookmarks.shift();
    if (next) resp.headers.set("x-d1-bookmark", next);
    return resp;
  };
  const tab = new EdgewardClient({ baseUrl: "https://api.test", fetch: server.fetch, storage, locks: null, channel: null, name: "t" });
  assert.equal(tab.bookmark, null);
  await tab.login(USER.email, "pw");
  assert.equal(server.calls[0].headers["x-d1-bookmark"], undefined, "nothing to send before the first answer");
  await tab.me();
  assert.equal(server.calls[1].headers["x-d1-bookmark"], "00000001-00000002");
  await tab.me(); // answers with an older bookmark than the one kept
  assert.equal(tab.bookmark, "00000001-00000005");
  const other = new EdgewardClient({ baseUrl: "https://api.test", fetch: server.fetch, storage, locks: null, channel: null, name: "t" });
  await other.me(); // no header on this answer: the kept one stays
  assert.equal(server.calls[3].headers["x-d1-bookmark"], "00000001-00000005");
  assert.equal(other.bookmark, "00000001-00000005");
});
