// Two tabs of a browser app using the TypeScript client (clients/typescript, served by the test's
// page server at /client/) in cookie mode: after the access token has expired, both tabs call
// the API at the same moment. Prints, per scenario, how many refresh requests the server was sent
// and what each call returned. Scenarios: with Web Locks, and with navigator.locks removed (the
// BroadcastChannel fallback). Input as for cookie_flow.mjs, plus TTL_S (the access token's life).
import { chromium } from "playwright-core";

const { EDGEWARD_CHROMIUM, API, PAGE, EMAIL, PASSWORD, TTL_S } = process.env;

async function scenario(browser, { locks }) {
  const context = await browser.newContext();
  if (!locks) {
    await context.addInitScript(() => {
      Object.defineProperty(Navigator.prototype, "locks", { get: () => undefined, configurable: true });
    });
  }
  let refreshes = 0;
  context.on("request", (r) => {
    if (r.method() === "POST" && r.url() === `${API}/v1/auth/refresh`) refreshes += 1;
  });
  const open = async () => {
    const tab = await context.newPage();
    await tab.goto(`${PAGE}/app`);
    await tab.evaluate(async (api) => {
      const { EdgewardClient } = await import("/client/index.js");
      window.edgeward = new EdgewardClient({ baseUrl: api, mode: "cookie", name: "two-tabs" });
    }, API);
    return tab;
  };
  const [tab1, tab2] = [await open(), await open()];
  const usesLocks = await tab1.evaluate(() => Boolean(navigator.locks));
  const login = await tab1.evaluate(([email, password]) =>
    window.edgeward.login(email, password).then((u) => u.email, (e) => String(e)), [EMAIL, PASSWORD]);
  // Past the access token's life: the browser has dropped the access cookie.
  await new Promise((r) => setTimeout(r, Number(TTL_S) * 1000 + 1000));
  const call = (tab) => tab.evaluate(() => window.edgeward.me().then((u) => u.email, (e) => `error: ${e}`));
  const results = await Promise.all([call(tab1), call(tab2)]);
  await context.close();
  return { usesLocks, login, results, refreshes };
}

const browser = await chromium.launch({ executablePath: EDGEWARD_CHROMIUM, args: ["--no-sandbox"] });
const out = {};
try {
  out.webLocks = await scenario(browser, { locks: true });
  out.broadcastChannel = await scenario(browser, { locks: false });
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out));
