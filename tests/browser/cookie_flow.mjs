// Drives headless Chromium (Debian's `chromium`, through playwright-core) through a browser app's
// life with Edgeward in cookie mode, and prints what it saw as one JSON object on stdout. The
// assertions live in tests/e2e/test_browser_chromium.py, which starts the servers and runs this.
//
// Input (environment): EDGEWARD_CHROMIUM (the browser binary), API (Edgeward's base URL), PAGE
// (an origin on ALLOWED_ORIGINS, same site as API), FOREIGN (an origin of another site, not on
// the list; its host name is mapped to 127.0.0.1 below), EMAIL and PASSWORD of a verified user.
import { chromium } from "playwright-core";

const { EDGEWARD_CHROMIUM, API, PAGE, FOREIGN, EMAIL, PASSWORD } = process.env;
const foreignHost = new URL(FOREIGN).hostname;

// Runs in the page: one fetch, its status, the body (JSON when it is) or the error it threw.
async function call({ url, method = "GET", body, headers = {} }) {
  try {
    const init = { method, headers: { ...headers }, credentials: "include" };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["content-type"] = "application/json";
    }
    const resp = await fetch(url, init);
    const text = await resp.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: resp.status, body: json, requestId: resp.headers.get("x-request-id") };
  } catch (err) {
    return { error: String(err) };
  }
}

const authCookies = async (context) =>
  (await context.cookies()).filter((c) => c.name.includes("ew_"))
    .map(({ name, value, path, httpOnly, secure, sameSite, expires }) =>
      ({ name, value, path, httpOnly, secure, sameSite, expires }));

const browser = await chromium.launch({
  executablePath: EDGEWARD_CHROMIUM,
  // The foreign site is served by the same local server under another name.
  args: ["--no-sandbox", `--host-resolver-rules=MAP ${foreignHost} 127.0.0.1`],
});
const out = {};
try {
  const context = await browser.newContext();
  const app = await context.newPage();
  await app.goto(`${PAGE}/app`);
  const inApp = (req) => app.evaluate(call, req);

  const login = await inApp({ url: `${API}/v1/auth/login`, method: "POST",
    body: { email: EMAIL, password: PASSWORD, mode: "cookie" } });
  out.login = login;
  const csrf = login.body?.csrf_token;
  const sid = login.body?.session_id;
  out.cookiesAfterLogin = await authCookies(context);
  out.documentCookie = await app.evaluate(() => document.cookie);
  out.me = await inApp({ url: `${API}/v1/me` });

  const rename = (name, headers = {}) => inApp({ url: `${API}/v1/auth/sessions/${sid}`, method: "PATCH",
    body: { device_name: name }, headers });
  out.renameWithoutToken = await rename("without token");
  out.renameWithToken = await rename("with token", { "x-csrf-token": csrf });

  out.refresh = await inApp({ url: `${API}/v1/auth/refresh`, method: "POST", body: {} });
  out.cookiesAfterRefresh = await authCookies(context);
  out.meAfterRefresh = await inApp({ url: `${API}/v1/me` });
  const freshCsrf = out.refresh.body?.csrf_token;

  // Another site: a form that posts to logout by itself, then script with the real CSRF token.
  // The form navigates its page away: it gets a page of its own.
  const formPage = await context.newPage();
  await formPage.goto(`${FOREIGN}/app`);
  const formResponse = formPage.waitForResponse((r) => r.url() === `${API}/v1/auth/logout`, { timeout: 15000 });
  await formPage.evaluate((action) => {
    const form = document.createElement("form");
    form.method = "POST";
    form.action = action;
    form.enctype = "text/plain";
    const field = document.createElement("input");
    field.name = '{"a":"';
    field.value = '"}';
    form.appendChild(field);
    document.body.appendChild(form);
    form.submit();
  }, `${API}/v1/auth/logout`);
  out.crossSiteForm = { status: (await formResponse).status() };
  const foreign = await context.newPage();
  await foreign.goto(`${FOREIGN}/app`);
  out.foreignPatch = await foreign.evaluate(call, { url: `${API}/v1/auth/sessions/${sid}`, method: "PATCH",
    body: { device_name: "from another site" }, headers: { "x-csrf-token": freshCsrf } });
  out.foreignRead = await foreign.evaluate(call, { url: `${API}/v1/me` });

  out.sessionsAfterAttacks = await inApp({ url: `${API}/v1/auth/sessions` });
  out.logoutWithoutToken = await inApp({ url: `${API}/v1/auth/logout`, method: "POST" });
  out.logout = await inApp({ url: `${API}/v1/auth/logout`, method: "POST", headers: { "x-csrf-token": freshCsrf } });
  out.cookiesAfterLogout = await authCookies(context);
  out.meAfterLogout = await inApp({ url: `${API}/v1/me` });

  // The API reference: rendered from /openapi.json by the locally served renderer, nothing
  // refused by its Content-Security-Policy.
  const docs = await context.newPage();
  const problems = [];
  docs.on("console", (m) => { if (m.type() === "error") problems.push(m.text()); });
  docs.on("pageerror", (e) => problems.push(String(e)));
  docs.on("requestfailed", (r) => problems.push(`${r.url()}: ${r.failure()?.errorText}`));
  docs.on("response", (r) => { if (r.status() >= 400) problems.push(`${r.status()} ${r.url()}`); });
  const docsResp = await docs.goto(`${API}/docs`);
  await docs.waitForSelector(".opblock", { timeout: 30000 });
  out.docs = {
    status: docsResp.status(),
    operations: await docs.$$eval(".opblock", (els) => els.map((el) => {
      const method = el.querySelector(".opblock-summary-method")?.textContent.trim().toLowerCase();
      const path = el.querySelector(".opblock-summary-path")?.getAttribute("data-path");
      return `${method} ${path}`;
    })),
    problems,
  };
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out));
