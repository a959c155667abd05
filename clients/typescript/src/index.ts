// Edgeward's browser and server client: bearer or cookie sessions, refresh on 401 and ahead of
// expiry (single-flight across the tabs of an origin), retries that honour Retry-After, errors
// as the problem's `code`, and a realtime socket that reconnects. No dependencies.
import type { components } from "./schema.js";

type Schemas = components["schemas"];
export type User = Schemas["User"];
export type Session = Schemas["Session"];
export type Problem = Schemas["Problem"];
export type TokenResponse = Schemas["TokenResponse"];
export type CookieSessionResponse = Schemas["CookieSessionResponse"];
export type RegisterRequest = Schemas["RegisterRequest"];
export type UpdateMeRequest = Schemas["UpdateMeRequest"];
export type MfaRequired = Schemas["MfaRequired"];
export type TotpEnrolment = Schemas["TotpEnrolment"];
export type Passkey = Schemas["Passkey"];
export type Wallet = Schemas["Wallet"];
export type Identity = Schemas["Identity"];
export type AuthProvider = Schemas["AuthProvider"];
export type CreationOptionsJSON = Schemas["PublicKeyCredentialCreationOptionsJSON"];
export type RequestOptionsJSON = Schemas["PublicKeyCredentialRequestOptionsJSON"];
export type RegistrationJSON = Schemas["RegistrationResponseJSON"];
export type AuthenticationJSON = Schemas["AuthenticationResponseJSON"];
export type Mode = "bearer" | "cookie";

/** What the client needs of WebAuthn: the browser's `navigator.credentials` by default
 * (`browserWebAuthn`), or a stand-in (a native app's platform API, tests). Both sides speak
 * WebAuthn Level 3 JSON (base64url strings). */
export interface WebAuthn {
  create(options: CreationOptionsJSON): Promise<RegistrationJSON>;
  get(options: RequestOptionsJSON): Promise<AuthenticationJSON>;
}

export function base64urlToBytes(text: string): Uint8Array {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/").replace(/=+$/, "");
  const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

export function bytesToBase64url(bytes: ArrayBuffer | ArrayBufferView): string {
  const view = bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let bin = "";
  for (const b of view) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

type Descriptor = { id: string; type: string; transports?: string[] };
const descriptor = (d: Descriptor) => ({ ...d, id: base64urlToBytes(d.id) });

/** Creation options JSON → the binary form `navigator.credentials.create` takes (what
 * `PublicKeyCredential.parseCreationOptionsFromJSON` does where the browser has it). */
export function creationOptionsFromJSON(o: CreationOptionsJSON): Record<string, unknown> {
  const json = o as unknown as { user: { id: string }; challenge: string; excludeCredentials?: Descriptor[] };
  return {
    ...o,
    challenge: base64urlToBytes(json.challenge),
    user: { ...o.user, id: base64urlToBytes(json.user.id) },
    excludeCredentials: (json.excludeCredentials ?? []).map(descriptor),
  };
}

/** Request options JSON → the binary form `navigator.credentials.get` takes. */
export function requestOptionsFromJSON(o: RequestOptionsJSON): Record<string, unknown> {
  const json = o as unknown as { challenge: string; allowCredentials?: Descriptor[] };
  return {
    ...o,
    challenge: base64urlToBytes(json.challenge),
    allowCredentials: (json.allowCredentials ?? []).map(descriptor),
  };
}

interface BrowserCredential {
  id: string;
  rawId: ArrayBuffer;
  type: string;
  authenticatorAttachment?: string | null;
  response: Record<string, unknown> & { clientDataJSON: ArrayBuffer; getTransports?: () => string[] };
  getClientExtensionResults?: () => Record<string, unknown>;
  toJSON?: () => unknown;
}

/** A credential of `navigator.credentials` as Level 3 JSON: its own `toJSON()` where the
 * browser has it, else the same members encoded here. */
export function credentialToJSON(c: BrowserCredential): RegistrationJSON | AuthenticationJSON {
  if (typeof c.toJSON === "function") return c.toJSON() as RegistrationJSON | AuthenticationJSON;
  const response: Record<string, unknown> = {};
  for (const key of ["clientDataJSON", "attestationObject", "authenticatorData", "signature", "userHandle"]) {
    const v = c.response[key];
    if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) response[key] = bytesToBase64url(v as ArrayBuffer);
  }
  if (typeof c.response.getTransports === "function") response.transports = c.response.getTransports();
  return {
    id: c.id,
    rawId: bytesToBase64url(c.rawId),
    type: "public-key",
    authenticatorAttachment: c.authenticatorAttachment ?? null,
    clientExtensionResults: c.getClientExtensionResults?.() ?? {},
    response,
  } as unknown as RegistrationJSON | AuthenticationJSON;
}

/** `navigator.credentials` of this browser (null outside one). */
export function browserWebAuthn(): WebAuthn | null {
  const g = globalThis as unknown as {
    navigator?: { credentials?: { create(o: unknown): Promise<unknown>; get(o: unknown): Promise<unknown> } };
    PublicKeyCredential?: { parseCreationOptionsFromJSON?: (o: unknown) => unknown; parseRequestOptionsFromJSON?: (o: unknown) => unknown };
  };
  const credentials = g.navigator?.credentials;
  if (!credentials || !g.PublicKeyCredential) return null;
  const pkc = g.PublicKeyCredential;
  const got = (c: unknown) => {
    if (!c) throw new EdgewardError(0, "passkey_cancelled", "the authenticator returned no credential");
    return credentialToJSON(c as BrowserCredential);
  };
  return {
    async create(options) {
      const publicKey = pkc.parseCreationOptionsFromJSON?.(options) ?? creationOptionsFromJSON(options);
      return got(await credentials.create({ publicKey })) as RegistrationJSON;
    },
    async get(options) {
      const publicKey = pkc.parseRequestOptionsFromJSON?.(options) ?? requestOptionsFromJSON(options);
      return got(await credentials.get({ publicKey })) as AuthenticationJSON;
    },
  };
}

/**
 * Thrown by `login` (and `reactivate`/`restore`-like sign-ins) when the password was right but
 * the account has a second factor: no session yet. Pass `mfaToken` and the user's code to
 * `verifySecondFactor` within `expiresIn` seconds.
 */
export class SecondFactorRequired extends Error {
  readonly mfaToken: string;
  readonly methods: MfaRequired["methods"];
  readonly expiresIn: number;

  constructor(answer: MfaRequired) {
    super("a second factor is required");
    this.name = "SecondFactorRequired";
    this.mfaToken = answer.mfa_token;
    this.methods = answer.methods;
    this.expiresIn = answer.expires_in;
  }
}

/** A non-2xx answer: the RFC 9457 problem's fields, `code` first. */
export class EdgewardError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string | undefined;
  readonly requestId: string | undefined;

  constructor(status: number, code: string, detail?: string, requestId?: string) {
    super(`${status} ${code}${detail ? `: ${detail}` : ""}`);
    this.name = "EdgewardError";
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.requestId = requestId;
  }

  static async from(resp: Response): Promise<EdgewardError> {
    let problem: Partial<Problem> = {};
    try {
      problem = (await resp.json()) as Partial<Problem>;
    } catch {
      /* not a problem document */
    }
    return new EdgewardError(resp.status, problem.code ?? `http_${resp.status}`, problem.detail,
      problem.request_id ?? resp.headers.get("x-request-id") ?? undefined);
  }
}

/** What is kept of a session, shared by the tabs of an origin through `storage`. */
export interface SessionState {
  sessionId: string;
  /** When the access token (or cookie) expires, in ms since the epoch, and its lifetime. */
  expiresAt: number;
  lifetimeMs: number;
  /** Bumped by every refresh: a tab that waited for the lock sees another tab's refresh. */
  generation: number;
  /** Cookie mode: the session's CSRF token. */
  csrf?: string;
  /** Bearer mode: the tokens. */
  access?: string;
  refresh?: string;
}

export type KeyValueStorage = Pick<Storage, "getItem" | "setItem" | "removeItem">;

/** The parts of the Web Locks API used here. `query` and shared locks let a tab tell, exactly,
 * that another tab has refreshed before that tab's result has reached it; without them the
 * client falls back to a timing rule (see `newerElsewhere`). */
export interface Locks {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
  request<T>(name: string, options: { mode: "shared" }, callback: () => Promise<T>): Promise<T>;
  query?(): Promise<{ held?: { name?: string }[] }>;
}

/** The parts of BroadcastChannel used here. */
export interface Channel {
  postMessage(message: unknown): void;
  addEventListener(type: "message", listener: (event: { data: unknown }) => void): void;
  close(): void;
}

export interface ClientOptions {
  baseUrl: string;
  mode?: Mode;
  fetch?: typeof fetch;
  /** Where the session is kept; `localStorage` in browsers, memory elsewhere. */
  storage?: KeyValueStorage;
  /** Web Locks (`navigator.locks` when present); `null` forces the BroadcastChannel fallback. */
  locks?: Locks | null;
  /** Opens the cross-tab channel (`new BroadcastChannel(name)` when present). */
  channel?: ((name: string) => Channel) | null;
  /** Names the stored session, the lock and the channel: one per API. */
  name?: string;
  /** Refresh this long before the access token expires (default 30 s). */
  refreshAheadMs?: number;
  /** Retries of a 429 or 503 with Retry-After (default 2), each waiting at most `maxRetryWaitMs`. */
  maxRetries?: number;
  maxRetryWaitMs?: number;
  /** Called when the session ends here or in another tab. */
  onLogout?: () => void;
  /** Passkeys: `navigator.credentials` in a browser by default. */
  webauthn?: WebAuthn | null;
  /** Test seams. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

interface RequestOptions {
  body?: unknown;
  headers?: Record<string, string>;
  /** Send the session's credentials and refresh when needed (default true). */
  auth?: boolean;
}

type Message =
  | { type: "claim"; id: string; at: number }
  | { type: "released"; id: string }
  | { type: "session"; state: SessionState }
  | { type: "logout" };

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);
/** How long a fallback claim waits for competing claims, and for a winner to finish. */
const CLAIM_WINDOW_MS = 60;
const CLAIM_TIMEOUT_MS = 10_000;
/** A tab that waited for another's refresh gives its result this long to arrive: storage and
 * the channel reach other tabs asynchronously, not necessarily before the lock does (on a busy
 * machine, hundreds of milliseconds later). The result ends the wait as soon as it arrives.
 * Only under the timing rule (no `locks.query`) can a failed refresh elsewhere make a tab wait
 * this long; with the generation marks a failed refresh leaves none, and nobody waits. */
const HANDOVER_MS = 2_000;
/** While waiting for that result, how often storage is looked at again. */
const HANDOVER_POLL_MS = 25;

function memoryStorage(): KeyValueStorage {
  const map = new Map<string, string>();
  return {
    getItem: (k) => map.get(k) ?? null,
    setItem: (k, v) => void map.set(k, v),
    removeItem: (k) => void map.delete(k),
  };
}

export class EdgewardClient {
  readonly mode: Mode;
  private readonly base: string;
  private readonly fetcher: typeof fetch;
  private readonly storage: KeyValueStorage;
  private readonly locks: Locks | null;
  private readonly channel: Channel | null;
  private readonly key: string;
  private readonly refreshAheadMs: number;
  private readonly maxRetries: number;
  private readonly maxRetryWaitMs: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly onLogout: (() => void) | undefined;
  private readonly webauthn: WebAuthn | null;
  private readonly id = Math.random().toString(36).slice(2);
  private inflight: Promise<void> | null = null;
  private claims: { id: string; at: number }[] = [];
  private releaseWaiters: (() => void)[] = [];
  private sessionWaiters: (() => void)[] = [];
  /** The newest session another tab announced, until storage shows it here too. */
  private latest: SessionState | null = null;
  /** Releases the shared Web Lock naming the generation this tab made last (see `mark`). */
  private marked: (() => void) | null = null;

  constructor(options: ClientOptions) {
    const g = globalThis as unknown as {
      localStorage?: KeyValueStorage;
      navigator?: { locks?: Locks };
      BroadcastChannel?: new (name: string) => Channel;
    };
    this.base = options.baseUrl.replace(/\/+$/, "");
    this.mode = options.mode ?? "bearer";
    this.fetcher = options.fetch ?? fetch.bind(globalThis);
    this.storage = options.storage ?? g.localStorage ?? memoryStorage();
    this.locks = options.locks === undefined ? g.navigator?.locks ?? null : options.locks;
    this.key = `edgeward:${options.name ?? this.base}`;
    this.refreshAheadMs = options.refreshAheadMs ?? 30_000;
    this.maxRetries = options.maxRetries ?? 2;
    this.maxRetryWaitMs = options.maxRetryWaitMs ?? 30_000;
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.onLogout = options.onLogout;
    this.webauthn = options.webauthn === undefined ? browserWebAuthn() : options.webauthn;
    const open = options.channel === undefined
      ? (g.BroadcastChannel ? (n: string) => new g.BroadcastChannel!(n) : null)
      : options.channel;
    this.channel = open ? open(this.key) : null;
    this.channel?.addEventListener("message", (e) => this.onMessage(e.data as Message));
  }

  // ------------------------------------------------------------------ session state

  /** The session as stored (shared by tabs), or null when signed out. */
  get session(): SessionState | null {
    const raw = this.storage.getItem(this.key);
    let stored: SessionState | null = null;
    try {
      stored = raw ? (JSON.parse(raw) as SessionState) : null;
    } catch {
      stored = null;
    }
    const latest = this.latest;
    if (latest && (!stored || (latest.sessionId === stored.sessionId && latest.generation > stored.generation))) {
      return latest;
    }
    return stored;
  }

  private save(body: TokenResponse | CookieSessionResponse): SessionState {
    const previous = this.session;
    const state: SessionState = {
      sessionId: body.session_id,
      expiresAt: this.now() + body.expires_in * 1000,
      lifetimeMs: body.expires_in * 1000,
      generation: (previous?.generation ?? 0) + 1,
    };
    if ("csrf_token" in body) state.csrf = body.csrf_token;
    if ("access_token" in body) {
      state.access = body.access_token;
      state.refresh = body.refresh_token;
    }
    this.storage.setItem(this.key, JSON.stringify(state));
    this.latest = state;
    this.channel?.postMessage({ type: "session", state } satisfies Message);
    return state;
  }

  /** Forgets the session here and in every other tab. */
  private signedOut(): void {
    this.unmark();
    this.latest = null;
    this.storage.removeItem(this.key);
    this.channel?.postMessage({ type: "logout" } satisfies Message);
    this.onLogout?.();
  }

  private onMessage(message: Message): void {
    if (message.type === "logout") {
      this.unmark();
      this.latest = null;
      this.onLogout?.();
    } else if (message.type === "session") {
      if (!this.latest || message.state.generation > this.latest.generation) this.latest = message.state;
      this.sessionWaiters.splice(0).forEach((wake) => wake());
    } else if (message.type === "claim") {
      this.claims.push({ id: message.id, at: message.at });
    } else if (message.type === "released") {
      this.claims = this.claims.filter((c) => c.id !== message.id);
      this.releaseWaiters.splice(0).forEach((wake) => wake());
    }
  }

  // ------------------------------------------------------------------ refresh

  /** Rotates the session once, whatever number of callers and tabs ask at the same moment.
   * `seen` is the generation the caller found stale: if another tab has refreshed since, its
   * result is used instead of refreshing again. */
  refresh(seen?: number): Promise<void> {
    const current = this.session;
    const stale = seen ?? current?.generation;
    const sessionId = current?.sessionId;
    const asked = this.now();
    const refreshedElsewhere = () => {
      const now = this.session;
      return now !== null && now.generation !== stale;
    };
    this.inflight ??= this.acrossTabs(async () => {
      if (refreshedElsewhere()) return;
      if (await this.newerElsewhere(sessionId, stale, asked)) {
        // Another tab has refreshed; its result reaches this tab through storage and the
        // channel, asynchronously (not necessarily before the lock did).
        for (let waited = 0; waited < HANDOVER_MS && !refreshedElsewhere(); waited += HANDOVER_POLL_MS) {
          await Promise.race([new Promise<void>((wake) => this.sessionWaiters.push(wake)), this.sleep(HANDOVER_POLL_MS)]);
        }
        if (refreshedElsewhere()) return;
      }
      await this.rotate();
    }).finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  /** Whether another tab has made a newer generation of the session than `stale`, although
   * this tab has not received it yet. With Web Locks this is exact: a tab that refreshes takes a
   * shared lock naming the generation it made before it lets go of the refresh lock (`mark`),
   * and the lock manager orders the two, so the next holder of the refresh lock finds that
   * lock. Otherwise it is a timing rule: a tab that had to wait for the lock or the election
   * assumes the tab it waited for refreshed. Either way a tab whose answer is yes waits up to
   * HANDOVER_MS for the result, and refreshes itself only if it never comes. */
  private async newerElsewhere(sessionId: string | undefined, stale: number | undefined, asked: number): Promise<boolean> {
    if (this.locks?.query) {
      if (sessionId === undefined || stale === undefined) return false;
      const prefix = this.markPrefix(sessionId);
      const { held = [] } = await this.locks.query();
      return held.some((lock) => lock.name?.startsWith(prefix) === true && Number(lock.name.slice(prefix.length)) > stale);
    }
    return (this.locks !== null || this.channel !== null) && this.now() - asked > CLAIM_WINDOW_MS + 20;
  }

  private markPrefix(sessionId: string): string {
    return `${this.key}:generation:${sessionId}:`;
  }

  /** Web Locks: holds a shared lock named after the generation this tab just made, until it
   * makes the next one or the session ends here (or the tab closes). Taken while the refresh
   * lock is still held, so that whoever holds the refresh lock next sees it (`newerElsewhere`). */
  private async mark(state: SessionState): Promise<void> {
    const locks = this.locks;
    if (!locks?.query) return;
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    await new Promise<void>((granted) => {
      locks.request(`${this.markPrefix(state.sessionId)}${state.generation}`, { mode: "shared" }, () => {
        granted();
        return held;
      }).then(undefined, () => granted());
    });
    this.unmark();
    this.marked = release;
  }

  private unmark(): void {
    this.marked?.();
    this.marked = null;
  }

  private acrossTabs(run: () => Promise<void>): Promise<void> {
    if (this.locks) return this.locks.request(`${this.key}:refresh`, run);
    if (this.channel) return this.elected(run);
    return run();
  }

  /** The BroadcastChannel fallback: every tab that wants to refresh claims; after a short window
   * the earliest claim runs and the others wait for its release, then look again. */
  private async elected(run: () => Promise<void>): Promise<void> {
    const mine = { id: this.id, at: this.now() };
    this.claims.push(mine);
    this.channel!.postMessage({ type: "claim", ...mine } satisfies Message);
    await this.sleep(CLAIM_WINDOW_MS);
    const first = () =>
      this.claims.reduce((a, b) => (b.at < a.at || (b.at === a.at && b.id < a.id) ? b : a));
    const deadline = this.now() + CLAIM_TIMEOUT_MS;
    while (first().id !== this.id && this.now() < deadline) {
      await Promise.race([
        new Promise<void>((wake) => this.releaseWaiters.push(wake)),
        this.sleep(CLAIM_TIMEOUT_MS),
      ]);
    }
    try {
      await run();
    } finally {
      this.claims = this.claims.filter((c) => c.id !== this.id);
      this.channel!.postMessage({ type: "released", id: this.id } satisfies Message);
    }
  }

  private async rotate(): Promise<void> {
    const state = this.session;
    const body = this.mode === "cookie" ? {} : { refresh_token: state?.refresh ?? "" };
    if (this.mode === "bearer" && !state?.refresh) throw new EdgewardError(401, "invalid_refresh_token");
    const resp = await this.send("POST", "/v1/auth/refresh", { body, auth: false });
    if (resp.status === 401 || resp.status === 400) {
      const error = await EdgewardError.from(resp);
      this.signedOut();
      throw error;
    }
    if (!resp.ok) throw await EdgewardError.from(resp);
    await this.mark(this.save((await resp.json()) as TokenResponse | CookieSessionResponse));
  }

  // ------------------------------------------------------------------ requests

  /** How long before expiry to refresh: `refreshAheadMs`, but never more than a third of the
   * token's life (a short-lived token would otherwise be refreshed on every call). */
  private ahead(state: SessionState): number {
    return Math.min(this.refreshAheadMs, state.lifetimeMs / 3);
  }

  /** The newest D1 bookmark this API answered with (`X-D1-Bookmark`, sent only when the server
   * runs with `D1_READ_REPLICATION=on`), kept in storage so every tab reads at least what any
   * tab wrote: sent back on every request, a read from a replica then sees this client's own
   * writes. */
  get bookmark(): string | null {
    return this.storage.getItem(`${this.key}:d1-bookmark`);
  }

  private noteBookmark(resp: Response): void {
    const next = resp.headers.get("x-d1-bookmark");
    const current = this.bookmark;
    // D1 bookmarks order as strings; an older one (a slower answer) never replaces a newer one.
    if (next && (current === null || next > current)) this.storage.setItem(`${this.key}:d1-bookmark`, next);
  }

  private async send(method: string, path: string, options: RequestOptions): Promise<Response> {
    const headers: Record<string, string> = { ...options.headers };
    const state = this.session;
    const bookmark = this.bookmark;
    if (bookmark !== null) headers["x-d1-bookmark"] = bookmark;
    if (options.body !== undefined) headers["content-type"] = "application/json";
    if (options.auth !== false && this.mode === "bearer" && state?.access) {
      headers.authorization = `Bearer ${state.access}`;
    }
    if (this.mode === "cookie" && UNSAFE.has(method) && state?.csrf) headers["x-csrf-token"] = state.csrf;
    const resp = await this.fetcher(`${this.base}${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      credentials: this.mode === "cookie" ? "include" : "same-origin",
    });
    this.noteBookmark(resp);
    return resp;
  }

  /** One API call: refreshed ahead of expiry, retried once after a refresh on 401, and after
   * Retry-After on 429/503; a non-2xx answer throws an EdgewardError. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const auth = options.auth !== false;
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      const state = this.session;
      if (auth && state && state.expiresAt - this.now() < this.ahead(state)) {
        await this.refresh(state.generation);
        refreshed = true;
      }
      const generation = this.session?.generation;
      const resp = await this.send(method, path, options);
      if (resp.status === 401 && auth && !refreshed && this.session) {
        const error = await EdgewardError.from(resp);
        if (error.code !== "invalid_token") {
          if (error.code === "session_revoked") this.signedOut();
          throw error;
        }
        await this.refresh(generation);
        refreshed = true;
        continue;
      }
      if ((resp.status === 429 || resp.status === 503) && attempt < this.maxRetries) {
        const wait = Number(resp.headers.get("retry-after"));
        if (Number.isFinite(wait) && wait >= 0 && wait * 1000 <= this.maxRetryWaitMs) {
          await this.sleep(wait * 1000);
          continue;
        }
      }
      if (!resp.ok) throw await EdgewardError.from(resp);
      return (resp.status === 204 ? undefined : await resp.json()) as T;
    }
  }

  // ------------------------------------------------------------------ the API

  register(body: RegisterRequest): Promise<{ user: User }> {
    return this.request("POST", "/v1/auth/register", { body, auth: false });
  }

  verifyEmail(token: string): Promise<{ user: User }> {
    return this.request("POST", "/v1/auth/verify-email", { body: { token }, auth: false });
  }

  resendVerification(email: string): Promise<void> {
    return this.request("POST", "/v1/auth/resend-verification", { body: { email }, auth: false });
  }

  /** Signs in; `idempotencyKey` makes a retry of a lost answer get the same session. */
  async login(email: string, password: string, options: { deviceName?: string; idempotencyKey?: string } = {}): Promise<User> {
    const body = { email, password, mode: this.mode, ...(options.deviceName ? { device_name: options.deviceName } : {}) };
    const headers: Record<string, string> = options.idempotencyKey ? { "idempotency-key": options.idempotencyKey } : {};
    const answer = await this.request<TokenResponse | CookieSessionResponse | MfaRequired>("POST", "/v1/auth/login", { body, headers, auth: false });
    if ("mfa_required" in answer) throw new SecondFactorRequired(answer);
    this.save(answer);
    return answer.user;
  }

  /** The second step of a sign-in: a TOTP code or a recovery code for the `mfaToken` of a
   *  `SecondFactorRequired`. The session opens in the mode the login asked for. */
  async verifySecondFactor(mfaToken: string, code: string): Promise<User> {
    const answer = await this.request<TokenResponse | CookieSessionResponse>("POST", "/v1/auth/mfa/verify", {
      body: { mfa_token: mfaToken, code }, auth: false,
    });
    this.save(answer);
    return answer.user;
  }

  /** Starts a TOTP enrolment: show `otpauth_uri` as a QR code, then `confirmTotp`. */
  startTotp(): Promise<TotpEnrolment> {
    return this.request("POST", "/v1/me/mfa/totp", { body: {} });
  }

  /** Proves the pending seed with a code; answers the ten recovery codes, shown this once. */
  async confirmTotp(code: string): Promise<string[]> {
    const answer = await this.request<Schemas["RecoveryCodes"]>("POST", "/v1/me/mfa/totp/confirm", { body: { code } });
    return answer.recovery_codes;
  }

  /** Step-up: makes this session's authentication recent again (the password, or a code when
   *  the account has a second factor) after a 401 `reauthentication_required`. */
  reauthenticate(proof: { password: string } | { code: string }): Promise<void> {
    return this.request("POST", "/v1/auth/reauthenticate", { body: proof });
  }

  /** Removes TOTP, confirmed with the password or a current code. */
  removeTotp(proof: { password: string } | { code: string }): Promise<void> {
    return this.request("DELETE", "/v1/me/mfa/totp", { body: proof });
  }

  // ------------------------------------------------------------------ passkeys

  private authenticator(): WebAuthn {
    if (!this.webauthn) throw new EdgewardError(0, "webauthn_unavailable", "no WebAuthn here: pass `webauthn` in the options");
    return this.webauthn;
  }

  /** The signed-in user's passkeys. */
  async passkeys(): Promise<Passkey[]> {
    return (await this.request<Schemas["PasskeyList"]>("GET", "/v1/me/passkeys")).passkeys;
  }

  /** Creates a passkey on this device and registers it (a sensitive action: it may answer 401
   *  `reauthentication_required`; see `reauthenticate`). */
  async registerPasskey(name?: string): Promise<Passkey> {
    const { publicKey } = await this.request<Schemas["PasskeyCreationOptions"]>("POST", "/v1/me/passkeys/options");
    const credential = await this.authenticator().create(publicKey);
    return this.request("POST", "/v1/me/passkeys", { body: { credential, ...(name ? { name } : {}) } });
  }

  renamePasskey(id: string, name: string): Promise<void> {
    return this.request("PATCH", `/v1/me/passkeys/${encodeURIComponent(id)}`, { body: { name } });
  }

  deletePasskey(id: string): Promise<void> {
    return this.request("DELETE", `/v1/me/passkeys/${encodeURIComponent(id)}`);
  }

  private async passkeyAssertion(): Promise<AuthenticationJSON> {
    const { publicKey } = await this.request<Schemas["PasskeyRequestOptions"]>("POST", "/v1/auth/passkeys/options", { auth: false });
    return this.authenticator().get(publicKey);
  }

  /** Usernameless sign-in: the browser offers the passkeys it holds for this site. A passkey is
   *  two factors in one, so no `SecondFactorRequired` follows. */
  async signInWithPasskey(options: { deviceName?: string } = {}): Promise<User> {
    const credential = await this.passkeyAssertion();
    const body = { credential, mode: this.mode, ...(options.deviceName ? { device_name: options.deviceName } : {}) };
    const answer = await this.request<TokenResponse | CookieSessionResponse>("POST", "/v1/auth/passkeys/verify", { body, auth: false });
    this.save(answer);
    return answer.user;
  }

  /** Step-up with a passkey of the signed-in user. */
  async reauthenticateWithPasskey(): Promise<void> {
    const credential = await this.passkeyAssertion();
    await this.request("POST", "/v1/auth/reauthenticate", { body: { credential } });
  }

  // ------------------------------------------------------------------ external identity

  /** The sign-in providers the server offers. */
  async providers(): Promise<AuthProvider[]> {
    return (await this.request<Schemas["AuthProviderList"]>("GET", "/v1/auth/providers", { auth: false })).providers;
  }

  /** Where to send the browser to sign in with `provider`; it comes back to `redirectUri` (on the
   *  server's allow-list) with `?code=` (bearer mode: pass it to `completeOAuth`) or with the
   *  session's cookies set (cookie mode: call `resumeCookieSession`). `codeChallenge`: the app's
   *  own PKCE S256 challenge, whose verifier `completeOAuth` then needs. */
  oauthStartUrl(provider: string, redirectUri: string, options: { codeChallenge?: string } = {}): string {
    const q = new URLSearchParams({ redirect_uri: redirectUri });
    if (this.mode === "cookie") q.set("mode", "cookie");
    if (options.codeChallenge) {
      q.set("code_challenge", options.codeChallenge);
      q.set("code_challenge_method", "S256");
    }
    return `${this.base}/v1/auth/oauth/${encodeURIComponent(provider)}/start?${q}`;
  }

  /** Bearer mode: trades the one-time `code` of the redirect back for the session. */
  async completeOAuth(code: string, codeVerifier?: string): Promise<User> {
    const body = { code, ...(codeVerifier ? { code_verifier: codeVerifier } : {}) };
    return this.signedIn(await this.request("POST", "/v1/auth/oauth/token", { body, auth: false }));
  }

  /** Cookie mode: after a sign-in that set the cookies outside this client (an OAuth redirect),
   *  takes the session up here (its CSRF token and expiry) with one refresh. */
  async resumeCookieSession(): Promise<User> {
    const answer = await this.request<CookieSessionResponse>("POST", "/v1/auth/refresh", { body: {}, auth: false });
    this.save(answer);
    return answer.user;
  }

  /** Token exchange: a JWT of a configured `jwt` provider becomes a session here. */
  async exchangeToken(provider: string, token: string, options: { deviceName?: string } = {}): Promise<User> {
    const body = { provider, token, mode: this.mode, ...(options.deviceName ? { device_name: options.deviceName } : {}) };
    return this.signedIn(await this.request("POST", "/v1/auth/exchange", { body, auth: false }));
  }

  async identities(): Promise<Identity[]> {
    return (await this.request<Schemas["IdentityList"]>("GET", "/v1/me/identities")).identities;
  }

  unlinkIdentity(id: string): Promise<void> {
    return this.request("DELETE", `/v1/me/identities/${encodeURIComponent(id)}`);
  }

  // ------------------------------------------------------------------ Sign in with Ethereum

  /** A single-use nonce for the EIP-4361 message's `Nonce:` field (valid 5 minutes). */
  async siweNonce(): Promise<string> {
    return (await this.request<Schemas["SiweNonce"]>("POST", "/v1/auth/siwe/nonce", { auth: false })).nonce;
  }

  /** Signs in with the EIP-4361 `message` and its `personal_sign` signature (the wallet signs;
   *  this client has no Ethereum code). May throw `SecondFactorRequired`. */
  async signInWithEthereum(message: string, signature: string, options: { deviceName?: string } = {}): Promise<User> {
    const body = { message, signature, mode: this.mode, ...(options.deviceName ? { device_name: options.deviceName } : {}) };
    return this.signedIn(await this.request("POST", "/v1/auth/siwe/verify", { body, auth: false }));
  }

  async wallets(): Promise<Wallet[]> {
    return (await this.request<Schemas["WalletList"]>("GET", "/v1/me/wallets")).wallets;
  }

  /** Links the wallet that signed `message` (a fresh nonce's) to the signed-in user. */
  linkWallet(message: string, signature: string): Promise<Wallet> {
    return this.request("POST", "/v1/me/wallets", { body: { message, signature } });
  }

  unlinkWallet(address: string): Promise<void> {
    return this.request("DELETE", `/v1/me/wallets/${encodeURIComponent(address)}`);
  }

  /** A sign-in's answer: the session, or the second factor it still needs. */
  private signedIn(answer: TokenResponse | CookieSessionResponse | MfaRequired): User {
    if ("mfa_required" in answer) throw new SecondFactorRequired(answer);
    this.save(answer);
    return answer.user;
  }

  /** Ends the session on the server and in every tab. */
  async logout(): Promise<void> {
    try {
      await this.request<void>("POST", "/v1/auth/logout");
    } finally {
      this.signedOut();
    }
  }

  forgotPassword(email: string): Promise<void> {
    return this.request("POST", "/v1/auth/password/forgot", { body: { email }, auth: false });
  }

  resetPassword(token: string, password: string): Promise<void> {
    return this.request("POST", "/v1/auth/password/reset", { body: { token, password }, auth: false });
  }

  changePassword(currentPassword: string, newPassword: string): Promise<void> {
    return this.request("POST", "/v1/auth/password/change", {
      body: { current_password: currentPassword, new_password: newPassword },
    });
  }

  me(): Promise<User> {
    return this.request("GET", "/v1/me");
  }

  /** Optimistic update: `version` is the user's version this change was made against. */
  updateMe(patch: UpdateMeRequest, version: number): Promise<User> {
    return this.request("PATCH", "/v1/me", { body: patch, headers: { "if-match": String(version) } });
  }

  async sessions(): Promise<Session[]> {
    return (await this.request<{ sessions: Session[] }>("GET", "/v1/auth/sessions")).sessions;
  }

  renameSession(id: string, deviceName: string | null): Promise<Session> {
    return this.request("PATCH", `/v1/auth/sessions/${encodeURIComponent(id)}`, { body: { device_name: deviceName } });
  }

  revokeSession(id: string): Promise<void> {
    return this.request("DELETE", `/v1/auth/sessions/${encodeURIComponent(id)}`);
  }

  revokeOtherSessions(): Promise<void> {
    return this.request("DELETE", "/v1/auth/sessions?scope=others");
  }

  // ------------------------------------------------------------------ realtime

  /** Opens `path` (e.g. `/v1/realtime/me`) with a fresh ticket each time, and reopens it after
   * a drop with exponential backoff and jitter (0.5 s doubling to 30 s). A close with 4001 (the
   * session ended) or `close()` stops it. */
  realtime(path: string, handlers: { onMessage: (data: unknown) => void; onOpen?: () => void; onEnd?: (code: number) => void }): { close(): void } {
    let stopped = false;
    let socket: WebSocket | null = null;
    let failures = 0;
    const open = async (): Promise<void> => {
      if (stopped) return;
      try {
        const { ticket } = await this.request<{ ticket: string }>("POST", "/v1/realtime/tickets");
        const url = `${this.base.replace(/^http/, "ws")}${path}?ticket=${encodeURIComponent(ticket)}`;
        socket = new WebSocket(url);
        socket.onopen = () => {
          failures = 0;
          handlers.onOpen?.();
        };
        socket.onmessage = (e) => {
          try {
            handlers.onMessage(JSON.parse(String(e.data)));
          } catch {
            handlers.onMessage(e.data);
          }
        };
        socket.onclose = (e) => {
          if (stopped || e.code === 4001) {
            stopped = true;
            handlers.onEnd?.(e.code);
          } else {
            void retry();
          }
        };
      } catch (error) {
        if (error instanceof EdgewardError && error.status === 401) {
          stopped = true;
          handlers.onEnd?.(4001);
        } else {
          void retry();
        }
      }
    };
    const retry = async (): Promise<void> => {
      const ceiling = Math.min(30_000, 500 * 2 ** failures++);
      await this.sleep(ceiling / 2 + Math.random() * (ceiling / 2));
      await open();
    };
    void open();
    return {
      close: () => {
        stopped = true;
        socket?.close(1000);
      },
    };
  }
}
