// Browser test of the admin console against the real daemon (run by
// tests/console.sh, which starts `smsguard run` and passes these in the
// environment):
//   BASE_URL       http://127.0.0.1:PORT
//   AGENT_TOKEN    a callcentre token named "agent"
//   OPS_TOKEN      an ops token
//   PROVIDER_TOKEN a provider token (files a whitelist request for the queue)
//   MSISDN         the subscriber whose codes from SENDER were blocked (normalised)
//   SENDER         the wrongly blacklisted payment provider's sender ID
//   XSS_SENDER     a blacklisted sender ID that is an HTML tag
//   XSS_REASON     that entry's reason, also markup
//   XSS_EXC_SENDER an exception's sender ID (markup) for MSISDN
//   SHOT_DIR       where screenshots go (default /tmp)
//
// Headless Debian chromium driven by playwright-core; never a downloaded
// browser.  Fails on any JavaScript dialog (an injected alert), any page
// error, and any <img>/<svg>/extra <script> element appearing in the page.
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const env = (k, d) => {
  const v = process.env[k] ?? d;
  if (v === undefined) throw new Error(`console.test: ${k} is not set`);
  return v;
};
const BASE = env("BASE_URL");
const AGENT = env("AGENT_TOKEN");
const OPS = env("OPS_TOKEN");
const PROVIDER = env("PROVIDER_TOKEN");
const MSISDN = env("MSISDN");
const SENDER = env("SENDER");
const XSS_SENDER = env("XSS_SENDER");
const XSS_REASON = env("XSS_REASON");
const XSS_EXC_SENDER = env("XSS_EXC_SENDER");
const SHOT_DIR = env("SHOT_DIR", "/tmp");
const TZ = "Asia/Vladivostok"; // UTC+10: far from the UTC the server writes
const TICKET = "INC-4242";

// 79121234567 -> "+7 (912) 123-45-67", the way a customer dictates it.
const written = (n) => `+${n[0]} (${n.slice(1, 4)}) ${n.slice(4, 7)}-${n.slice(7, 9)}-${n.slice(9)}`;
const trunk = (n) => `8 ${n.slice(1, 4)} ${n.slice(4, 7)} ${n.slice(7, 9)} ${n.slice(9)}`;

async function api(token, method, path, body) {
  const res = await fetch(BASE + "/api/v1" + path, {
    method,
    headers: { Authorization: "Bearer " + token, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-background-networking", "--disable-gpu",
    "--disable-component-update", "--disable-sync", "--no-first-run"],
});

const problems = [];
async function newPage(locale) {
  const ctx = await browser.newContext({ locale, timezoneId: TZ, viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  page.setDefaultTimeout(15000);
  page.on("dialog", async (d) => { problems.push(`dialog fired: ${d.type()} ${d.message()}`); await d.dismiss(); });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  // Nothing may be fetched from anywhere but the daemon (closed networks).
  page.on("request", (r) => { if (!r.url().startsWith(BASE) && !r.url().startsWith("data:")) problems.push(`outside request: ${r.url()}`); });
  return page;
}

/* No element an injected sender ID or text could have created. */
async function assertNoInjectedMarkup(page, where) {
  const counts = await page.evaluate(() => ({
    img: document.querySelectorAll("img").length,
    svg: document.querySelectorAll("svg").length,
    script: [...document.querySelectorAll("script")].map((s) => s.getAttribute("src")),
    onattr: [...document.querySelectorAll("*")].filter((e) => [...e.attributes].some((a) => /^on/i.test(a.name))).length,
  }));
  assert.equal(counts.img, 0, `${where}: an <img> element appeared`);
  assert.equal(counts.svg, 0, `${where}: an <svg> element appeared`);
  assert.deepEqual(counts.script, ["i18n.js", "app.js"], `${where}: unexpected <script> elements`);
  assert.equal(counts.onattr, 0, `${where}: an element with an on* attribute appeared`);
}

let step = "start";
try {
  /* ---- default language from navigator.language --------------------------- */
  step = "language default";
  {
    const ru = await newPage("ru-RU");
    await ru.goto(BASE + "/");
    await ru.waitForSelector("#signin:not([hidden])");
    assert.equal((await ru.textContent("#signin h2")).trim(), "Вход");
    await ru.context().close();
  }

  const page = await newPage("en-US");

  /* ---- sign in ---------------------------------------------------------------- */
  step = "sign in with a bad token";
  await page.goto(BASE + "/");
  await page.waitForSelector("#signin:not([hidden])");
  assert.equal((await page.textContent("#signin h2")).trim(), "Sign in");
  await page.fill("#token", "sgt_" + "0".repeat(64));
  await page.click("#signin-form button[type=submit]");
  await page.waitForSelector("#signin-error:not([hidden])");
  assert.match(await page.textContent("#signin-error"), /not accepted/);

  step = "sign in as agent";
  await page.fill("#token", AGENT);
  await page.click("#signin-form button[type=submit]");
  await page.waitForSelector("#nav:not([hidden])");
  assert.match(await page.textContent("#role"), /callcentre/);
  assert.equal(await page.isVisible("#nav [data-view=requests]"), false, "callcentre must not see the request queue");
  assert.equal(await page.evaluate(() => sessionStorage.getItem("smsguard.token")), AGENT);
  await page.reload();
  await page.waitForSelector("#nav:not([hidden])"); // the tab keeps the session

  /* ---- the timeline: diagnosis first ----------------------------------------- */
  step = "timeline lookup";
  await page.fill("#sub-number", written(MSISDN));
  await page.fill("#sub-sender", SENDER);
  await page.click("#sub-form button[type=submit]");
  await page.waitForSelector("#diagnosis");
  assert.match(await page.textContent("#sub-msisdn"), new RegExp(MSISDN));
  const cls = await page.getAttribute("#diagnosis", "class");
  assert.match(cls, /cause-blacklisted/, "diagnosis should be the blacklisting; got " + cls);
  assert.match(await page.textContent("#diag-title"), new RegExp(`${SENDER} is blacklisted`));
  assert.match(await page.textContent("#diag-tell"), /request a new code/);
  const first = await page.evaluate(() => {
    const d = document.getElementById("diagnosis"), m = document.getElementById("messages");
    return !!(d && m && (d.compareDocumentPosition(m) & Node.DOCUMENT_POSITION_FOLLOWING));
  });
  assert.ok(first, "the diagnosis must come before the messages");

  step = "timeline rows";
  const tl = await api(AGENT, "GET", `/subscribers/${MSISDN}/timeline?sender=${encodeURIComponent(SENDER)}&limit=200`);
  const msgs = tl.messages;
  assert.ok(msgs.length > 0, "the API returned no messages");
  const rows = page.locator("#messages tbody tr");
  assert.equal(await rows.count(), msgs.length);
  const row0 = rows.first();
  assert.equal((await row0.locator(".sender-id").textContent()).trim(), SENDER);
  assert.equal((await row0.locator(".fate").textContent()).trim(), "blocked");
  assert.match(await row0.locator(".reasons").textContent(), /blacklist entry #\d+ · active/);
  // Times in the agent's zone (the browser's), not the server's UTC.
  const want = new Intl.DateTimeFormat("en-GB", {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    second: "2-digit", timeZone: TZ,
  }).format(new Date(msgs[0].time));
  assert.equal((await row0.locator("td.time").textContent()).trim(), want);
  assert.match(await page.textContent("#sub-result h3"), /Asia\/Vladivostok \(UTC\+10:00\)/);
  // A tap only judges: the diagnosis says the message was not really stopped.
  if (msgs[0].enforced === false)
    assert.match(await page.textContent("#diag-tap"), /did not stop/);
  await page.screenshot({ path: `${SHOT_DIR}/smsguard-console-1-blocked.png`, fullPage: true });

  /* ---- clear the blacklisting ------------------------------------------------- */
  step = "clear dialog";
  await page.click("#diagnosis .clear-bl");
  await page.waitForSelector("#dlg-clear[open]");
  await page.click("#clear-submit");
  assert.match(await page.textContent("#clear-error"), /required/);
  await page.fill("#clear-reason", "customer's OTP codes blocked; QIWI is a genuine provider");
  await page.fill("#clear-ticket", TICKET);
  await page.screenshot({ path: `${SHOT_DIR}/smsguard-console-2-clear-dialog.png` });
  await page.click("#clear-submit");

  step = "after clearing";
  await page.waitForSelector("#diagnosis.cause-cleared");
  assert.match(await page.textContent("#diag-title"), /Block cleared/);
  assert.match(await page.textContent("#diag-tell"), /request a new code now/);
  assert.match(await page.textContent("#banner"), /cleared/);
  assert.match(await page.locator("#messages tbody tr").first().locator(".reasons").textContent(), /cleared by agent/);
  assert.equal(await page.locator("#messages .clear-bl").count(), 0, "no clear button once cleared");
  await page.screenshot({ path: `${SHOT_DIR}/smsguard-console-3-cleared.png`, fullPage: true });

  step = "clear reached the server and the audit log";
  const bl = await api(OPS, "GET", `/blacklist?kind=sender&value=${encodeURIComponent(SENDER)}&include_inactive=true`);
  const cleared = bl.entries.filter((e) => e.clear_ticket === TICKET);
  assert.equal(cleared.length, 1, "one entry cleared with the ticket");
  assert.equal(cleared[0].cleared_by, "agent");
  assert.equal(cleared[0].active, false);
  const audit = await api(OPS, "GET", `/audit?action=blacklist.clear&ticket=${TICKET}`);
  const arows = Object.values(audit).find(Array.isArray) || [];
  assert.ok(arows.some((r) => r.actor === "agent"), "audit row by agent");

  step = "Russian";
  await page.selectOption("#lang", "ru");
  assert.match(await page.textContent("#diag-title"), /Блокировка снята/);
  assert.match(await page.textContent("#diag-tell"), /запросите новый код/);
  await page.screenshot({ path: `${SHOT_DIR}/smsguard-console-4-ru.png`, fullPage: true });
  await page.selectOption("#lang", "en");

  step = "same subscriber, trunk-prefix form";
  await page.fill("#sub-number", trunk(MSISDN));
  await page.click("#sub-form button[type=submit]");
  await page.waitForFunction(() => document.getElementById("sub-msisdn"));
  assert.match(await page.textContent("#sub-msisdn"), new RegExp(MSISDN));
  await page.waitForSelector("#diagnosis.cause-cleared");

  /* ---- hostile strings stay text ---------------------------------------------- */
  step = "sender page with a markup sender ID";
  await page.click("#nav [data-view=sender]");
  await page.fill("#snd-input", XSS_SENDER);
  await page.click("#snd-form button[type=submit]");
  await page.waitForSelector("#snd-name");
  assert.equal((await page.textContent("#snd-name")).trim(), XSS_SENDER);
  const entry = page.locator("#snd-result .entry").first();
  assert.match(await entry.textContent(), new RegExp(XSS_SENDER.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
  assert.ok((await entry.textContent()).includes(XSS_REASON), "the reason is shown as text");
  assert.ok(await page.getByText(XSS_SENDER, { exact: false }).first().isVisible());
  await assertNoInjectedMarkup(page, "sender page");
  await page.screenshot({ path: `${SHOT_DIR}/smsguard-console-5-xss-sender.png`, fullPage: true });

  step = "exceptions list with a markup sender ID";
  await page.click("#nav [data-view=exceptions]");
  await page.waitForSelector("#exc-result table");
  assert.ok((await page.textContent("#exc-result")).includes(XSS_EXC_SENDER));
  await assertNoInjectedMarkup(page, "exceptions");

  step = "grant an exception";
  await page.click("#exc-new");
  await page.waitForSelector("#dlg-exception[open]");
  await page.fill("#exc-sender", "Tinkoff");
  await page.fill("#exc-msisdn", written(MSISDN));
  await page.fill("#exc-ttl", "2");
  await page.fill("#exc-reason", "codes from Tinkoff blocked by a content rule");
  await page.fill("#exc-ticket", "INC-4243");
  await page.click("#exc-form button[type=submit]");
  await page.waitForSelector("#dlg-exception", { state: "hidden" });
  assert.match(await page.textContent("#banner"), new RegExp(`Exception #\\d+ granted: Tinkoff → ${MSISDN}`));
  await page.waitForFunction(() => document.getElementById("exc-result").textContent.includes("INC-4243"));
  const ex = await api(OPS, "GET", `/exceptions?msisdn=${MSISDN}`);
  assert.ok(ex.entries.some((e) => e.sender === "Tinkoff" && e.ticket === "INC-4243" && e.created_by === "agent"));

  step = "sign out";
  await page.click("#signout");
  await page.waitForSelector("#signin:not([hidden])");
  assert.equal(await page.evaluate(() => sessionStorage.getItem("smsguard.token")), null);

  /* ---- ops: the whitelist-request queue -------------------------------------- */
  step = "ops request queue";
  const filed = await api(PROVIDER, "POST", "/whitelist-requests", {
    senders: ["YooMoney"], account: "yoomoney", source_cidrs: "10.30.2.0/24",
    contact: "<b>noc@yoomoney.example</b>", evidence: XSS_SENDER,
  });
  const reqId = (filed.request || filed).id;
  assert.ok(reqId, "request filed");
  await page.fill("#token", OPS);
  await page.click("#signin-form button[type=submit]");
  await page.waitForSelector("#nav [data-view=requests]:not([hidden])");
  await page.click("#nav [data-view=requests]");
  const card = page.locator(`#req-result [data-req-id="${reqId}"]`);
  await card.waitFor();
  assert.ok((await card.textContent()).includes(XSS_SENDER), "evidence shown as text");
  await assertNoInjectedMarkup(page, "request queue");
  await page.screenshot({ path: `${SHOT_DIR}/smsguard-console-6-requests.png`, fullPage: true });
  await card.getByRole("button", { name: "Approve" }).click();
  await page.waitForSelector("#dlg-decide[open]");
  await page.fill("#decide-reason", "contract checked");
  await page.click("#decide-submit");
  await page.waitForSelector("#dlg-decide", { state: "hidden" });
  assert.match(await page.textContent("#banner"), new RegExp(`Request #${reqId} approved`));
  const reqs = await api(OPS, "GET", "/whitelist-requests?state=approved");
  assert.ok(reqs.requests.some((r) => r.id === reqId && r.decided_by === "ops1"));

  step = "end";
  assert.deepEqual(problems, [], "dialogs, page errors or outside requests");
  console.log(`console.test: ok (${msgs.length} blocked messages from ${SENDER} to ${MSISDN}; screenshots in ${SHOT_DIR})`);
} catch (e) {
  console.error(`console.test: FAILED at step "${step}": ${e.stack || e}`);
  if (problems.length) console.error("also: " + problems.join("; "));
  process.exitCode = 1;
} finally {
  await browser.close();
}
