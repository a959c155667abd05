// Chat fan-out benchmark: N WebSocket clients in one stream's chat room, every client sending
// chat.send at an even share of a total rate, every message expected at every client (the
// sender's included). One Node 22 process, its built-in WebSocket client (undici), one clock.
//
//   node bench/lib/chat-fanout.mjs --url http://127.0.0.1:PORT --tokens access.txt \
//        [--clients 50] [--rate 25] [--duration 15] [--drain 10] --out result.json [--trace t.tsv]
//
// --tokens: access tokens, one a line (bench/lib/prepare.mjs's access.txt). The first token's
// user creates the stream; client i uses token i % tokens (one user per client when there are
// as many tokens as clients), each connection with a ticket of its own.
//
// Schedule: client i sends its k-th message at t0 + (i + k*clients) / rate seconds, so the room
// gets one message every 1/rate s and each connection sends one every clients/rate s (at most
// one a second: the room lets a connection send a burst of 5 frames, then 1 a second, and
// answers more with error frames, then closes 1008). The send time is performance.timeOrigin +
// performance.now() of this process, written into the text with 3 decimals; the receiver takes
// the same clock, so latency = receive time - send time needs no clock sync.
//
// Counted as errors (a healthy run has 0): a ticket or handshake refused, an `error` frame, a
// close the benchmark did not ask for, a delivery missing after the drain wait, a message
// delivered twice to the same client, a chat.message whose author is not its sender, a frame
// that is not JSON, a chat.message of ours that we never sent.
import { readFileSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const base = arg("url");
const tokensFile = arg("tokens");
const nClients = Number(arg("clients", "50"));
const rate = Number(arg("rate", "25"));
const duration = Number(arg("duration", "15"));
const drainS = Number(arg("drain", "10"));
const out = arg("out");
const traceFile = arg("trace"); // one line per message: when sent, to how many, latencies
if (!base || !tokensFile || !out) {
  console.error("usage: chat-fanout.mjs --url URL --tokens FILE --out FILE [--clients 50] [--rate 25] [--duration 15]");
  process.exit(2);
}
if (!(rate > 0) || rate > nClients) {
  console.error(`--rate ${rate}: must be > 0 and at most --clients (${nClients}): one message a second per connection at most`);
  process.exit(2);
}
const tokens = readFileSync(tokensFile, "utf8").split("\n").filter(Boolean);
if (!tokens.length) throw new Error(`no tokens in ${tokensFile}`);

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function call(method, p, token, body) {
  const headers = { authorization: `Bearer ${token}` };
  if (body) headers["content-type"] = "application/json";
  const res = await fetch(new URL(p, base), { method, headers, body: body ? JSON.stringify(body) : undefined });
  const text = await res.text();
  return { status: res.status, text };
}
async function expect(status, method, p, token, body) {
  const r = await call(method, p, token, body);
  if (r.status !== status) {
    throw new Error(`${method} ${p} answered ${r.status}, expected ${status}: ${r.text.slice(0, 500)}`);
  }
  return JSON.parse(r.text);
}

// ---- errors: counted by kind, the first few kept verbatim ----------------------------------
const errors = {};
const samples = [];
function error(kind, detail) {
  errors[kind] = (errors[kind] ?? 0) + 1;
  if (samples.length < 5) samples.push(`${kind}: ${String(detail).slice(0, 300)}`);
}

// ---- set-up: a stream, then the clients, one ticket each -------------------------------------
const run = randomBytes(4).toString("hex");
const stream = await expect(201, "POST", "/v1/streams", tokens[0], { title: `bench chat ${run}` });
const me = await Promise.all(
  [...new Set(tokens.slice(0, nClients))].map(async (t) => [t, (await expect(200, "GET", "/v1/me", t)).id]),
);
const userOf = new Map(me);

const wsBase = base.replace(/^http/, "ws");
let closing = false; // set when the benchmark closes the sockets itself
const clients = [];

// Every message the benchmark sent: index -> {sender, t, seen: Uint8Array(clients)}.
const messages = [];
const latencies = [];
let received = 0; // deliveries of our messages, duplicates excluded
let firstSend = 0;
let lastDelivery = 0;
const other = {}; // events that are neither ours nor errors (presence.*), by type

function onFrame(client, data) {
  let ev;
  try {
    ev = JSON.parse(data);
  } catch {
    return error("not-json", `client ${client.i}: ${data}`);
  }
  const t = now();
  if (ev.type === "chat.message") {
    const m = /^bench (\w+) (\d+) (\d+\.\d+)$/.exec(ev.text ?? "");
    if (!m || m[1] !== run) return error("foreign-message", JSON.stringify(ev));
    const msg = messages[Number(m[2])];
    if (!msg) return error("unknown-message", JSON.stringify(ev));
    if (msg.seen[client.i]) return error("duplicate-delivery", `client ${client.i}: ${JSON.stringify(ev)}`);
    const author = typeof ev.author === "object" && ev.author ? ev.author.id : ev.author;
    if (author !== clients[msg.sender].user) error("wrong-author", JSON.stringify(ev));
    msg.seen[client.i] = 1;
    received++;
    const ms = t - Number(m[3]);
    latencies.push(ms);
    msg.lat.push(ms);
    lastDelivery = t;
  } else if (ev.type === "error") {
    error("error-frame", `client ${client.i}: ${data}`);
  } else if (ev.type === "chat.history" && !client.history) {
    client.history = true;
    client.joined();
  } else {
    other[ev.type] = (other[ev.type] ?? 0) + 1;
  }
}

async function open(i) {
  const token = tokens[i % tokens.length];
  const client = { i, user: userOf.get(token), history: false, open: false, closedBy: null };
  const { ticket } = await expect(201, "POST", "/v1/realtime/tickets", token);
  const url = `${wsBase}/v1/streams/${encodeURIComponent(stream.id)}/chat?ticket=${encodeURIComponent(ticket)}`;
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`client ${i}: no chat.history within 10 s`)), 10_000);
    client.joined = () => {
      clearTimeout(timer);
      resolve();
    };
    const ws = new WebSocket(url);
    client.ws = ws;
    ws.onopen = () => (client.open = true);
    ws.onmessage = (e) => onFrame(client, e.data);
    ws.onerror = () => {
      if (!client.open) {
        clearTimeout(timer);
        reject(new Error(`client ${i}: the handshake failed (refused or dropped)`));
      }
    };
    ws.onclose = (e) => {
      client.open = false;
      client.closedBy = { code: e.code, reason: e.reason, clean: e.wasClean };
      if (!closing) error("unexpected-close", `client ${i}: code ${e.code} ${e.reason}`);
      clearTimeout(timer);
      reject(new Error(`client ${i}: closed before chat.history (code ${e.code} ${e.reason})`));
    };
  });
  return client;
}

const tJoin = now();
// A few joins at a time: each join is a ticket (D1 write), a ticket redemption and a Durable
// Object handshake.
for (let i = 0; i < nClients; i += 5) {
  const batch = await Promise.all(
    Array.from({ length: Math.min(5, nClients - i) }, (_, k) => open(i + k)),
  );
  clients.push(...batch);
}
const joinS = (now() - tJoin) / 1e3;
// Let the presence.joined frames of the last joins arrive before the clock starts.
await sleep(1000);
for (const k of Object.keys(other)) delete other[k];

// ---- the run ---------------------------------------------------------------------------------
const interval = 1000 / rate; // ms between two messages of the room
const total = Math.floor(duration * rate);
const t0 = now() + 50;
firstSend = t0;
let sent = 0;
let lateMax = 0; // how far behind schedule a send went out (event-loop lag)
for (let k = 0; k < total; k++) {
  const due = t0 + k * interval;
  const wait = due - now();
  if (wait > 1) await sleep(wait);
  const client = clients[k % nClients];
  if (!client.open) continue; // its close is already counted; its messages are not sent
  const t = now();
  lateMax = Math.max(lateMax, t - due);
  const index = messages.length;
  messages.push({ sender: client.i, t, seen: new Uint8Array(nClients), lat: [] });
  client.ws.send(JSON.stringify({ type: "chat.send", text: `bench ${run} ${index} ${t.toFixed(3)}` }));
  sent++;
}
const tLastSend = now();
const expected = sent * nClients;
const drainUntil = now() + drainS * 1000;
while (received < expected && now() < drainUntil && !clients.every((c) => !c.open)) await sleep(20);
const drainedS = (now() - tLastSend) / 1e3;

closing = true;
const stillOpen = clients.filter((c) => c.open).length;
await Promise.all(
  clients.map(
    (c) =>
      new Promise((resolve) => {
        if (!c.open) return resolve();
        const timer = setTimeout(resolve, 2000);
        c.ws.addEventListener("close", () => {
          clearTimeout(timer);
          resolve();
        });
        c.ws.close(1000, "bench done");
      }),
  ),
);

const missing = expected - received;
if (missing > 0) {
  errors["missing-delivery"] = missing;
  const firstMissing = messages.findIndex((m) => m.seen.includes(0));
  if (firstMissing >= 0 && samples.length < 5) {
    const m = messages[firstMissing];
    samples.push(`missing-delivery: message ${firstMissing} of client ${m.sender} reached ` +
      `${m.seen.reduce((a, b) => a + b, 0)} of ${nClients} clients`);
  }
}
latencies.sort((a, b) => a - b);
const pct = (q) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.ceil((q / 100) * latencies.length) - 1)] : null);
const errorCount = Object.values(errors).reduce((a, b) => a + b, 0);
const span = (lastDelivery - firstSend) / 1e3;
const result = {
  clients: nClients,
  users: new Set(clients.map((c) => c.user)).size,
  senders: Math.min(nClients, total),
  rate_target: rate,
  per_connection_interval_s: nClients / rate,
  duration_s: duration,
  sent,
  send_rate: sent / ((tLastSend - firstSend) / 1e3 || 1),
  expected,
  received,
  missing,
  deliveries_per_s: span > 0 ? received / span : 0,
  delivery_span_s: span,
  p50_ms: pct(50),
  p99_ms: pct(99),
  max_ms: latencies.length ? latencies[latencies.length - 1] : null,
  errors: errorCount,
  error_kinds: Object.entries(errors).map(([k, v]) => `${k}=${v}`).join(" "),
  samples,
  other_events: other,
  open_at_end: stillOpen,
  join_s: joinS,
  drain_s: drainedS,
  send_lag_max_ms: lateMax,
  stream_id: stream.id,
  // What the handshake settled (Node's client offers permessage-deflate, like browsers).
  extensions: [...new Set(clients.map((c) => c.ws.extensions))].join(" | "),
  first_send_unix_ms: firstSend, // the trace's sent_s is relative to this
};
writeFileSync(out, JSON.stringify(result) + "\n");
if (traceFile) {
  const rows = messages.map((m, i) => {
    const l = m.lat.sort((a, b) => a - b);
    return [i, m.sender, ((m.t - firstSend) / 1e3).toFixed(3), l.length,
      ...[l[0], l[l.length >> 1], l[l.length - 1]].map((x) => (x === undefined ? "" : x.toFixed(1)))].join("\t");
  });
  writeFileSync(traceFile, "msg\tsender\tsent_s\tdelivered\tmin_ms\tmedian_ms\tmax_ms\n" + rows.join("\n") + "\n");
}
console.log(
  `${sent} msgs sent (${result.send_rate.toFixed(1)}/s), ${received} of ${expected} deliveries ` +
    `(${result.deliveries_per_s.toFixed(0)}/s), p50 ${fmt(result.p50_ms)} ms, p99 ${fmt(result.p99_ms)} ms, ` +
    `errors ${errorCount}${errorCount ? ` (${result.error_kinds})` : ""}`,
);
for (const s of samples) console.log(`  ${s}`);
function fmt(x) {
  return x === null ? "–" : x.toFixed(1);
}
process.exit(0);
