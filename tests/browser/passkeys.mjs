// Drives headless Chromium (Debian's `chromium`, through playwright-core) with a virtual
// authenticator (DevTools `WebAuthn` domain: CTAP2, internal transport, resident keys, user
// verification) through a passkey registration and a usernameless sign-in, with the browser's
// own WebAuthn Level 3 JSON (`parseCreationOptionsFromJSON`, `parseRequestOptionsFromJSON`,
// `credential.toJSON()`). Prints what it saw as one JSON object; the assertions live in
// tests/e2e/test_passkeys_chromium.py, which starts the servers and runs this.
//
// Input (environment): EDGEWARD_CHROMIUM, API (Edgeward's base URL), PAGE (the app page's
// origin: http://localhost:<port>, on ALLOWED_ORIGINS and WEBAUTHN_ORIGINS, with
// WEBAUTHN_RP_ID=localhost), EMAIL and PASSWORD of a verified user.
import { chromium } from "playwright-core";

const { EDGEWARD_CHROMIUM, API, PAGE, EMAIL, PASSWORD } = process.env;

// Runs in the page: one bearer-mode fetch, its status and JSON body, or the error it threw.
async function call({ url, method = "GET", body, access }) {
  try {
    const headers = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    if (access) headers.authorization = `Bearer ${access}`;
    const resp = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await resp.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: resp.status, body: json };
  } catch (err) {
    return { error: String(err) };
  }
}

// Runs in the page: the browser's create()/get() with options as the API gave them.
async function ceremony({ kind, publicKey }) {
  try {
    const credential = kind === "create"
      ? await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(publicKey) })
      : await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(publicKey) });
    return { credential: credential.toJSON() };
  } catch (err) {
    return { error: String(err) };
  }
}

// The TypeScript client (served by the page server at /client/) in a fresh context with its own
// virtual authenticator: sign in with the password, register a passkey, sign out, sign in
// usernameless with it, and step up with it. `jsonHelpers: false` removes the browser's Level 3
// JSON helpers first, so the client's own conversion runs.
async function clientScenario(browser, { jsonHelpers }) {
  const context = await browser.newContext();
  if (!jsonHelpers) {
    await context.addInitScript(() => {
      delete PublicKeyCredential.parseCreationOptionsFromJSON;
      delete PublicKeyCredential.parseRequestOptionsFromJSON;
      delete PublicKeyCredential.prototype.toJSON;
    });
  }
  const page = await context.newPage();
  await page.goto(`${PAGE}/app`);
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2", ctap2Version: "ctap2_1", transport: "internal", hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
    },
  });
  try {
    return await page.evaluate(async ([api, email, password]) => {
      const out = { helpers: typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function" };
      try {
        const { EdgewardClient } = await import("/client/index.js");
        const client = new EdgewardClient({ baseUrl: api, mode: "bearer", name: "passkeys" });
        await client.login(email, password);
        out.registered = await client.registerPasskey("Client");
        out.names = (await client.passkeys()).map((p) => p.name);
        await client.logout();
        out.signedIn = (await client.signInWithPasskey({ deviceName: "client" })).email;
        out.me = (await client.me()).email;
        await client.reauthenticateWithPasskey();
        out.stepUp = "ok";
        // Clean up for the next scenario's usernameless sign-in, which must find one passkey.
        await client.deletePasskey(out.registered.id);
      } catch (err) {
        out.error = String(err);
      }
      return out;
    }, [API, EMAIL, PASSWORD]);
  } finally {
    await context.close();
  }
}

const browser = await chromium.launch({ executablePath: EDGEWARD_CHROMIUM, args: ["--no-sandbox"] });
const out = {};
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${PAGE}/app`);
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2", ctap2Version: "ctap2_1", transport: "internal", hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
    },
  });
  const api = (req) => page.evaluate(call, { ...req, url: `${API}${req.url}` });

  out.secureContext = await page.evaluate(() => window.isSecureContext);
  const login = await api({ url: "/v1/auth/login", method: "POST", body: { email: EMAIL, password: PASSWORD } });
  const access = login.body?.access_token;
  out.login = login.status;

  out.creationOptions = await api({ url: "/v1/me/passkeys/options", method: "POST", access });
  const created = await page.evaluate(ceremony, { kind: "create", publicKey: out.creationOptions.body?.publicKey });
  out.created = created;
  out.register = await api({ url: "/v1/me/passkeys", method: "POST", access,
    body: { credential: created.credential, name: "Chromium" } });
  out.list = await api({ url: "/v1/me/passkeys", access });

  // Usernameless: a fresh page state, no e-mail, the authenticator picks its resident credential.
  const signIn = async () => {
    const options = await api({ url: "/v1/auth/passkeys/options", method: "POST" });
    const got = await page.evaluate(ceremony, { kind: "get", publicKey: options.body?.publicKey });
    const verify = await api({ url: "/v1/auth/passkeys/verify", method: "POST",
      body: { credential: got.credential, device_name: "chromium" } });
    return { options, got, verify };
  };
  out.signIn = await signIn();
  out.me = await api({ url: "/v1/me", access: out.signIn.verify.body?.access_token });
  out.secondSignIn = await signIn();
  out.authenticatorCredentials = (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials
    .map(({ isResidentCredential, rpId, signCount }) => ({ isResidentCredential, rpId, signCount }));
  out.client = await clientScenario(browser, { jsonHelpers: true });
  out.clientWithoutJsonHelpers = await clientScenario(browser, { jsonHelpers: false });
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out));
