// Two tabs of a browser app using the TypeScript client (clients/typescript, served by the test's
// page server at /client/) in cookie mode: after the access token has expired, both tabs call
// the API at the same moment. Prints, per scenario, how many refresh requests the server was sent
// and what each call returned. Scenarios: with Web Locks, and with navigator.locks removed (the
// BroadcastChannel fallback), both calls at once; and a busy browser: Web Locks, the other tab's
// storage writes and channel messages reach a tab LAG_MS late, and the second tab calls the moment
// the first tab's refresh is answered. Input as for cookie_flow.mjs, plus TTL_S (the access token's
// life).
import { chromium } from "playwright-core";

const { EDGEWARD_CHROMIUM, API, PAGE, EMAIL, PASSWORD, TTL_S } = process.env;

const LAG_MS = 500;

async function scenario(browser, { locks, busy = false }) {
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
    await tab.evaluate(async ([api, lag]) => {
      const { EdgewardClient } = await import("/client/index.js");
      const options = { baseUrl: api, mode: "cookie", name: "two-tabs" };
      if (lag > 0) {
        // This tab sees its own writes at once, the other tab's `lag` ms late.
        const view = new Map(Object.entries(localStorage));
        window.addEventListener("storage", (e) => setTimeout(() => {
          if (e.key !== null) e.newValue === null ? view.delete(e.key) : view.set(e.key, e.newValue);
        }, lag));
        options.storage = {
          getItem: (k) => view.get(k) ?? null,
          setItem: (k, v) => { view.set(k, v); localStorage.setItem(k, v); },
          removeItem: (k) => { view.delete(k); localStorage.removeItem(k); },
        };
        options.channel = (name) => {
          const real = new BroadcastChannel(name);
          return {
            postMessage: (m) => real.postMessage(m),
            addEventListener: (type, listener) => real.addEventListener(type, (e) => setTimeout(() => listener(e), lag)),
            close: () => real.close(),
          };
        };
      }
      window.edgeward = new EdgewardClient(options);
    }, [API, busy ? LAG_MS : 0]);
    return tab;
  };
  const [tab1, tab2] = [await open(), await open()];
  const usesLocks = await tab1.evaluate(() => Boolean(navigator.locks));
  const login = await tab1.evaluate(([email, password]) =>
    window.edgeward.login(email, password).then((u) => u.email, (e) => String(e)), [EMAIL, PASSWORD]);
  // Past the access token's life: the browser has dropped the access cookie.
  await new Promise((r) => setTimeout(r, Number(TTL_S) * 1000 + 1000));
  const call = (tab) => tab.evaluate(() => window.edgeward.me().then((u) => u.email, (e) => `error: ${e}`));
  let results;
  if (busy) {
    const answered = context.waitForEvent("response", (r) => r.url() === `${API}/v1/auth/refresh`);
    const first = call(tab1);
    await answered;
    results = await Promise.all([first, call(tab2)]);
  } else {
    results = await Promise.all([call(tab1), call(tab2)]);
  }
  await context.close();
  return { usesLocks, login, results, refreshes };
}

const browser = await chromium.launch({ executablePath: EDGEWARD_CHROMIUM, args: ["--no-sandbox"] });
const out = {};
try {
  out.webLocks = await scenario(browser, { locks: true });
  out.broadcastChannel = await scenario(browser, { locks: false });
  out.webLocksBusyBrowser = await scenario(browser, { locks: true, busy: true });
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out));
