/* smsguard console: plain JS, no build step, no outside resources.
 *
 * Safety rule for this file: every value that came from the API (sender IDs,
 * texts, reasons, tickets, names) is attacker-controlled.  It reaches the page
 * only through el() / text nodes / textContent, never through innerHTML,
 * insertAdjacentHTML, document.write or an attribute that is later parsed.
 * The page's Content-Security-Policy (index.html) forbids inline script as a
 * second line of defence. */
"use strict";

(function () {
  const API = "/api/v1";
  const TOKEN_KEY = "smsguard.token";
  const LANG_KEY = "smsguard.lang";

  const state = {
    token: null,
    role: null,
    lang: "en",
    view: "subscriber",
    timeline: null,   // {query, data, msgs, bl: Map(id -> entry)}
    sender: null,     // {name, data}
    exceptions: null, // [entries]
    requests: null,   // [requests]
    cleared: new Set(), // blacklist ids cleared in this session
  };

  /* ---- strings ---------------------------------------------------------- */

  function t(key, params) {
    const table = window.SG_STRINGS[state.lang] || window.SG_STRINGS.en;
    let s = table[key];
    if (s === undefined) s = window.SG_STRINGS.en[key];
    if (s === undefined) return key;
    if (params) {
      s = s.replace(/\{(\w+)\}/g, (m, name) =>
        params[name] === undefined || params[name] === null ? m : String(params[name]));
    }
    return s;
  }

  function applyStrings() {
    document.documentElement.lang = state.lang;
    document.title = t("app_title");
    for (const n of document.querySelectorAll("[data-i18n]")) n.textContent = t(n.dataset.i18n);
    for (const n of document.querySelectorAll("[data-i18n-ph]")) n.placeholder = t(n.dataset.i18nPh);
    if (state.role) $("role").textContent = t("signed_in_as", { role: state.role });
    if (bannerMsg && typeof bannerMsg === "function" && !$("banner").hidden) $("banner").textContent = bannerMsg();
  }

  function pickLang() {
    const saved = localStorage.getItem(LANG_KEY);
    if (saved === "ru" || saved === "en") return saved;
    const nav = (navigator.languages && navigator.languages[0]) || navigator.language || "en";
    return /^ru\b/i.test(nav) ? "ru" : "en";
  }

  /* ---- DOM helpers: text only ------------------------------------------- */

  function $(id) { return document.getElementById(id); }

  /* el("td", {class: "x", dataset: {id: 3}}, "text", childNode, [more]) */
  function el(tag, attrs, ...children) {
    const n = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === "class") n.className = v;
        else if (k === "dataset") Object.assign(n.dataset, v);
        else if (k === "onclick") n.addEventListener("click", v);
        else if (k === "text") n.textContent = String(v);
        else if (k === "hidden") n.hidden = true;
        else if (/^on/i.test(k)) throw new Error("event attribute " + k);
        else n.setAttribute(k, String(v));
      }
    }
    append(n, children);
    return n;
  }

  function append(parent, children) {
    for (const c of children) {
      if (c === undefined || c === null || c === false) continue;
      if (Array.isArray(c)) append(parent, c);
      else if (c instanceof Node) parent.appendChild(c);
      else parent.appendChild(document.createTextNode(String(c)));
    }
  }

  function clear(n) { while (n.firstChild) n.removeChild(n.firstChild); return n; }
  function show(n, on) { n.hidden = !on; }

  function setError(id, msg) {
    const n = $(id);
    n.textContent = msg || "";
    n.hidden = !msg;
  }

  /* msg: a string, or a function giving it in the current language (so that
   * a language switch re-translates the banner too). */
  let bannerTimer = null;
  let bannerMsg = null;
  function banner(msg, kind) {
    const b = $("banner");
    bannerMsg = msg;
    b.textContent = typeof msg === "function" ? msg() : msg;
    b.className = "banner " + (kind || "ok");
    b.hidden = false;
    clearTimeout(bannerTimer);
    bannerTimer = setTimeout(hideBanner, 20000);
  }
  function hideBanner() {
    clearTimeout(bannerTimer);
    bannerMsg = null;
    $("banner").hidden = true;
  }

  /* ---- values from the API ---------------------------------------------- */

  /* Times come as ISO strings or numbers (s, ms or µs since the epoch). */
  function toDate(v) {
    if (v === undefined || v === null || v === "" || v === 0) return null;
    if (typeof v === "string" && /^\d+$/.test(v)) v = Number(v);
    if (typeof v === "number") {
      if (v > 1e14) v = v / 1000;       // µs
      else if (v < 1e11) v = v * 1000;  // s
      const d = new Date(v);
      return isNaN(d) ? null : d;
    }
    const d = new Date(v);
    return isNaN(d) ? null : d;
  }

  function fmtTime(v) {
    const d = v instanceof Date ? v : toDate(v);
    if (!d) return t("none");
    return new Intl.DateTimeFormat(state.lang === "ru" ? "ru-RU" : "en-GB", {
      year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    }).format(d);
  }

  function tzName() {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    const off = -new Date().getTimezoneOffset();
    const sign = off >= 0 ? "+" : "-";
    const a = Math.abs(off);
    const utc = "UTC" + sign + String(Math.floor(a / 60)).padStart(2, "0") + ":" + String(a % 60).padStart(2, "0");
    return zone ? zone + " (" + utc + ")" : utc;
  }

  /* The first array in a response: a bare array, or {items|entries|...: []}. */
  function listOf(data, ...keys) {
    if (Array.isArray(data)) return data;
    if (!data || typeof data !== "object") return [];
    for (const k of keys) if (Array.isArray(data[k])) return data[k];
    for (const v of Object.values(data)) if (Array.isArray(v)) return v;
    return [];
  }

  function str(v) { return v === undefined || v === null ? "" : String(v); }

  /* A blacklist id out of a verdict reason: {"type":"blacklist","id":"bl-12"}
   * or a field the server adds. */
  function blacklistIdOf(r) {
    if (!r || typeof r !== "object") return null;
    if (r.blacklist_id !== undefined && r.blacklist_id !== null) return Number(r.blacklist_id);
    if (r.entry && r.entry.id !== undefined) return Number(r.entry.id);
    const m = /^bl-(\d+)$/.exec(str(r.id));
    return m ? Number(m[1]) : null;
  }

  function normEntry(e) {
    if (!e || typeof e !== "object") return null;
    const cleared = toDate(e.cleared_at);
    const expires = toDate(e.expires_at);
    let active = e.active;
    if (active === undefined) active = !cleared && !(expires && expires < new Date());
    if (state.cleared.has(Number(e.id))) active = false;
    return {
      id: Number(e.id), kind: str(e.kind || "sender"), value: str(e.value !== undefined ? e.value : e.sender),
      automatic: !!e.automatic, reason: str(e.reason), ticket: str(e.ticket),
      createdBy: str(e.created_by), createdAt: e.created_at, expiresAt: e.expires_at,
      clearedAt: e.cleared_at, clearedBy: str(e.cleared_by), clearReason: str(e.clear_reason),
      clearTicket: str(e.clear_ticket), active: !!active,
    };
  }

  function deriveFate(m) {
    const action = str(m.action);
    if (action === "block") return "blocked";
    const st = str(m.receipt_stat || (m.receipt && m.receipt.stat)).toUpperCase();
    if (st === "DELIVRD") return "delivered";
    if (st === "EXPIRED") return "expired";
    if (st) return "undelivered";
    if (m.smsc_status !== undefined && m.smsc_status !== null && Number(m.smsc_status) > 0) return "rejected";
    return "accepted";
  }

  function normMsg(m) {
    const reasons = Array.isArray(m.reasons) ? m.reasons : [];
    const receipt = m.receipt && typeof m.receipt === "object" ? m.receipt : {};
    const bl = [];
    for (const r of reasons) {
      if (str(r.type) === "blacklist") {
        const id = blacklistIdOf(r);
        if (id !== null && !bl.includes(id)) bl.push(id);
      }
    }
    const by = m.blocked_by && typeof m.blocked_by === "object" ? m.blocked_by : null;
    for (const v of [m.blacklist_id, by && by.blacklist_id]) {
      if (v !== undefined && v !== null && !bl.includes(Number(v))) bl.push(Number(v));
    }
    const smsc = m.smsc && typeof m.smsc === "object" ? m.smsc : {};
    return {
      id: m.id,
      ts: toDate(m.ts !== undefined ? m.ts : (m.time !== undefined ? m.time : m.ts_us)),
      sender: str(m.sender !== undefined ? m.sender : m.source_addr),
      account: str(m.account),
      fate: str(m.fate) || deriveFate(m),
      action: str(m.action),
      reasons,
      blacklistIds: bl,
      enforced: m.enforced,
      receipt: str(m.receipt_stat !== undefined ? m.receipt_stat : (receipt.stat || m.receipt_status)),
      receiptErr: str(m.receipt_err !== undefined ? m.receipt_err : receipt.err),
      smscStatus: m.smsc_status !== undefined ? m.smsc_status : smsc.status,
      smscName: str(smsc.status_name),
      msisdn: str(m.msisdn),
      blockedBy: by,
      snippet: str(m.snippet !== undefined ? m.snippet : m.text),
      parts: m.parts,
    };
  }

  /* ---- API --------------------------------------------------------------- */

  class ApiError extends Error {
    constructor(status, code, message, field) {
      super(message || ("HTTP " + status));
      this.status = status;
      this.code = code;
      this.field = field;
    }
  }

  async function api(method, path, body, opts) {
    const headers = { Accept: "application/json" };
    const token = (opts && opts.token) || state.token;
    if (token) headers.Authorization = "Bearer " + token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let res;
    try {
      res = await fetch(API + path, {
        method, headers, cache: "no-store", credentials: "omit", redirect: "error",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new ApiError(0, "network", t("err_network"));
    }
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    if (!res.ok) {
      const err = (data && data.error) || {};
      const e = new ApiError(res.status, err.code, err.message || (res.status + " " + res.statusText), err.field);
      if (res.status === 401 && !(opts && opts.probe)) {
        signOut(t("session_expired"));
      }
      throw e;
    }
    return data;
  }

  function errText(e) {
    if (e && e.status === 403) return t("err_forbidden");
    if (e && e.status === 0) return t("err_network");
    let msg = e && e.message ? e.message : String(e);
    if (e && e.field) msg += " (" + e.field + ")";
    return t("err_generic", { msg });
  }

  /* ---- sign in ------------------------------------------------------------ */

  /* The role decides which tabs show.  Ask the server; if it has no "who am I"
   * route, probe two read routes whose roles the API defines. */
  async function detectRole(token) {
    try {
      const me = await api("GET", "/me", undefined, { token, probe: true });
      if (me && me.role) return str(me.role);
    } catch (e) {
      if (e.status === 401) throw e;
    }
    const can = async (path) => {
      try { await api("GET", path, undefined, { token, probe: true }); return true; }
      catch (e) { if (e.status === 401 || e.status === 0) throw e; return false; }
    };
    const bl = await can("/blacklist");
    const wr = await can("/whitelist-requests");
    if (bl && wr) return "ops";
    if (bl) return "callcentre";
    if (wr) return "provider";
    return "unknown";
  }

  async function signIn(token) {
    setError("signin-error", "");
    let role;
    try {
      role = await detectRole(token);
    } catch (e) {
      setError("signin-error", e.status === 401 ? t("signin_bad") : errText(e));
      return;
    }
    if (role !== "ops" && role !== "callcentre") {
      setError("signin-error", t("signin_role_refused"));
      return;
    }
    state.token = token;
    state.role = role;
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(TOKEN_KEY + ".role", role);
    $("token").value = "";
    enterApp();
  }

  function signOut(msg) {
    state.token = null;
    state.role = null;
    state.timeline = state.sender = state.exceptions = state.requests = null;
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(TOKEN_KEY + ".role");
    for (const id of ["sub-result", "snd-result", "exc-result", "req-result"]) clear($(id));
    for (const d of document.querySelectorAll("dialog[open]")) d.close();
    hideBanner();
    show($("nav"), false);
    for (const v of document.querySelectorAll(".view")) show(v, false);
    show($("signout"), false);
    show($("role"), false);
    show($("signin"), true);
    if (msg) setError("signin-error", msg);
    $("token").focus();
  }

  function enterApp() {
    show($("signin"), false);
    show($("nav"), true);
    show($("signout"), true);
    show($("role"), true);
    for (const n of document.querySelectorAll("[data-ops-only]")) show(n, state.role === "ops");
    applyStrings();
    const hash = location.hash.replace(/^#/, "");
    go(["subscriber", "sender", "exceptions", "requests"].includes(hash) ? hash : "subscriber");
  }

  function go(view) {
    if (view === "requests" && state.role !== "ops") view = "subscriber";
    state.view = view;
    if (location.hash !== "#" + view) history.replaceState(null, "", "#" + view);
    for (const v of document.querySelectorAll(".view")) show(v, v.id === "view-" + view);
    for (const b of document.querySelectorAll("#nav button"))
      b.setAttribute("aria-current", b.dataset.view === view ? "page" : "false");
    if (view === "exceptions") loadExceptions();
    if (view === "requests") loadRequests();
    const first = document.querySelector("#view-" + view + " input");
    if (first) first.focus();
  }

  /* ---- subscriber timeline ------------------------------------------------ */

  /* Light clean-up only (spaces, dashes, brackets, dots): the server does the
   * real normalisation with its configured country code and trunk prefix. */
  function cleanNumber(s) { return s.trim().replace(/[\s\-().\u00a0]/g, ""); }

  function periodSince(p) {
    const days = { "1d": 1, "7d": 7, "30d": 30 }[p];
    return days ? new Date(Date.now() - days * 86400e3).toISOString() : null;
  }

  async function lookupSubscriber(query) {
    setError("sub-error", "");
    const out = $("sub-result");
    clear(out).appendChild(el("p", { class: "muted" }, t("loading")));
    const params = new URLSearchParams();
    if (query.sender) params.set("sender", query.sender);
    const since = periodSince(query.period);
    if (since) params.set("since", since);
    params.set("limit", "200");
    let data;
    try {
      data = await api("GET", "/subscribers/" + encodeURIComponent(query.msisdn) + "/timeline?" + params);
    } catch (e) {
      clear(out);
      setError("sub-error", errText(e));
      return;
    }
    const msgs = listOf(data, "messages", "timeline", "items").map(normMsg);
    const bl = await blacklistState(msgs, data && data.blacklist_entries);
    state.timeline = { query, data, msgs, bl };
    renderTimeline();
  }

  /* Where a verdict reason says what was blacklisted: the engine writes
   * "<kind> <value> blacklisted (manual|automatic...): <reason>". */
  function blacklistKeyOf(r, m) {
    const x = /^(sender|account|domain|fingerprint) (.*?) blacklisted \(/.exec(str(r.detail));
    if (x) return { kind: x[1], value: x[2] };
    return { kind: "sender", value: m.sender };
  }

  /* Current state of every blacklist entry the messages name (active or
   * cleared, with who cleared it): one query per blacklisted key, then the
   * whole list for any id still unknown. */
  async function blacklistState(msgs, given) {
    const map = new Map();
    /* The timeline answer carries the entries its messages name. */
    for (const raw of Array.isArray(given) ? given : []) {
      const e = normEntry(raw);
      if (e) map.set(e.id, e);
    }
    const ids = new Set();
    const keys = new Map();
    for (const m of msgs) {
      for (const r of m.reasons) {
        if (str(r.type) !== "blacklist") continue;
        const id = blacklistIdOf(r);
        if (id === null) continue;
        ids.add(id);
        if (r.entry && typeof r.entry === "object") {
          const e = normEntry(r.entry);
          if (e) map.set(e.id, e);
        }
        const k = blacklistKeyOf(r, m);
        keys.set(k.kind + "\u0000" + k.value, k);
      }
    }
    const take = (data) => {
      for (const raw of listOf(data, "entries", "blacklist", "items")) {
        const e = normEntry(raw);
        if (e && ids.has(e.id)) map.set(e.id, e);
      }
    };
    for (const k of [...keys.values()].slice(0, 8)) {
      if ([...ids].every((id) => map.has(id))) break;
      const q = new URLSearchParams({ kind: k.kind, value: k.value, include_inactive: "true" });
      try { take(await api("GET", "/blacklist?" + q)); } catch (e) { /* try the whole list */ }
    }
    if (![...ids].every((id) => map.has(id))) {
      try { take(await api("GET", "/blacklist?include_inactive=true")); } catch (e) { /* unknown */ }
    }
    /* An id on no list: it is not blocking any more (or cannot be read). */
    for (const id of ids) if (!map.has(id)) map.set(id, { id, kind: "", value: "", active: false, unknown: true });
    return map;
  }

  /* What happened and what the agent says.  The focus is the newest message
   * (from the asked-for sender, when one was given): the customer asks about
   * the code they are waiting for now. */
  function diagnose(tl) {
    const sender = tl.query.sender;
    if (!tl.msgs.length) return { cause: sender ? "not_sent" : "none", sender };
    const m = tl.msgs[0];
    const out = { sender: m.sender, msg: m };
    switch (m.fate) {
      case "blocked": {
        const types = m.reasons.map((r) => str(r.type));
        if (m.blacklistIds.length) {
          const entries = m.blacklistIds.map((id) => tl.bl.get(id)).filter(Boolean);
          const live = entries.filter((e) => e.active);
          out.entries = live;
          out.cause = live.length ? "blacklisted" : "cleared";
        } else if (types.includes("spoofing") || types.includes("lookalike")) {
          out.cause = "spoofing";
        } else {
          out.cause = "blocked";
        }
        break;
      }
      case "rejected": case "undelivered": case "expired": case "delivered": case "accepted":
        out.cause = m.fate;
        break;
      default:
        out.cause = m.action === "block" ? "blocked" : "accepted";
    }
    return out;
  }

  function serverDiagnosisText(data) {
    const d = data && data.diagnosis;
    if (!d) return "";
    if (typeof d === "string") return d;
    return str(d.summary || d.text || d.message || d.detail || "");
  }

  function renderTimeline() {
    const tl = state.timeline;
    const out = clear($("sub-result"));
    if (!tl) return;
    const data = tl.data || {};
    const msisdn = str(data.msisdn || tl.query.msisdn);
    const head = el("p", { class: "subject" }, el("strong", { class: "mono", id: "sub-msisdn" }, t("sub_for", { msisdn })));
    if (tl.query.sender) append(head, [" ", t("sub_from", { sender: tl.query.sender })]);
    out.appendChild(head);

    const dg = diagnose(tl);
    const p = { sender: dg.sender || tl.query.sender || "", time: dg.msg ? fmtTime(dg.msg.ts) : "" };
    const card = el("section", { id: "diagnosis", class: "diagnosis cause-" + dg.cause, "aria-labelledby": "diag-title" },
      el("p", { class: "kicker" }, t("diag_heading")),
      el("h2", { id: "diag-title" }, t("cause_" + dg.cause + "_title", p)));
    /* On a tap the verdict is only a judgement: the message went on to the
     * SMSC, and its receipt says what really happened. */
    if (dg.msg && dg.msg.fate === "blocked" && dg.msg.enforced === false) {
      card.appendChild(el("p", { class: "note", id: "diag-tap" },
        t("diag_not_enforced", { receipt: dg.msg.receipt || t("receipt_none") })));
    }
    const tell = t("cause_" + dg.cause + "_tell", p);
    if (tell) {
      card.appendChild(el("div", { class: "tell", id: "diag-tell" },
        el("p", { class: "label" }, t("diag_tell")),
        el("p", { class: "say" }, state.lang === "ru" ? "\u00ab" + tell + "\u00bb" : "\u201c" + tell + "\u201d")));
    }
    card.appendChild(el("p", { class: "todo", id: "diag-do" }, el("strong", null, t("diag_do") + ": "), t("cause_" + dg.cause + "_do", p)));
    if (dg.cause === "blacklisted" && canClear()) {
      const row = el("p", { class: "actions" });
      for (const e of dg.entries) row.appendChild(clearButton(e, "primary big"));
      card.appendChild(row);
    }
    if ((dg.cause === "blocked") && canClear() && dg.msg) {
      card.appendChild(el("p", { class: "actions" }, exceptionButton(dg.msg.sender, msisdn, "primary big")));
    }
    if (dg.msg) {
      card.appendChild(el("p", { class: "muted small" }, t("diag_latest", {
        time: fmtTime(dg.msg.ts), sender: dg.msg.sender, fate: t("fate_" + dg.msg.fate),
      })));
    }
    const sys = serverDiagnosisText(data);
    if (sys) card.appendChild(el("p", { class: "muted small", id: "diag-system" }, t("diag_system") + ": ", sys));
    out.appendChild(card);

    out.appendChild(el("h3", null, t("msgs_heading"), " ", el("span", { class: "muted small" }, t("msgs_tz", { tz: tzName() }))));
    if (!tl.msgs.length) {
      out.appendChild(el("p", { class: "muted" }, t("msgs_none")));
      return;
    }
    const table = el("table", { class: "messages", id: "messages" },
      el("thead", null, el("tr", null,
        ["col_time", "col_sender", "col_fate", "col_reason", "col_enforced", "col_receipt", "col_text"]
          .map((k) => el("th", { scope: "col" }, t(k))))));
    const body = el("tbody");
    for (const m of tl.msgs) body.appendChild(messageRow(m, tl, msisdn));
    table.appendChild(body);
    out.appendChild(el("div", { class: "scroll" }, table));
  }

  function messageRow(m, tl, msisdn) {
    const reasons = el("td", { class: "reasons" });
    for (const r of m.reasons) {
      const id = str(r.type) === "blacklist" ? blacklistIdOf(r) : null;
      const line = el("div", { class: "reason" },
        el("span", { class: "rtype" }, str(r.type)), " ", str(r.detail || r.id));
      if (id !== null) {
        const e = tl.bl.get(id);
        line.appendChild(el("div", { class: "blref" }, t("bl_entry", { id }), " · ",
          e && e.active ? el("span", { class: "state-active" }, t("bl_active"))
            : el("span", { class: "state-cleared" }, e && e.clearedBy
              ? t("bl_cleared_by", { by: e.clearedBy, time: fmtTime(e.clearedAt) }) : t("bl_cleared"))));
        if (e && e.active && canClear()) line.appendChild(clearButton(e, "small"));
      }
      reasons.appendChild(line);
    }
    let enforced = t("none");
    if (m.fate === "blocked" && m.enforced !== undefined && m.enforced !== null)
      enforced = m.enforced ? t("enforced_yes") : t("enforced_no");
    const errShown = m.receiptErr && !/^0+$/.test(m.receiptErr);
    const receipt = el("td", null, m.receipt ? m.receipt + (errShown ? " (err " + m.receiptErr + ")" : "") : t("receipt_none"));
    const st = Number(m.smscStatus);
    if (m.smscStatus !== undefined && m.smscStatus !== null && st > 0)
      receipt.appendChild(el("div", { class: "muted small" }, t("smsc_status", { status: (m.smscName ? m.smscName + " " : "") + "0x" + st.toString(16).padStart(2, "0") })));
    /* A narrow exception is the alternative to clearing: it lets this
     * sender through to this one number only.  Never offered for spoofing
     * and look-alikes (that would let the fraud through). */
    if (m.fate === "blocked" && canClear() && !m.reasons.some((r) => ["spoofing", "lookalike"].includes(str(r.type))))
      reasons.appendChild(el("div", null, exceptionButton(m.sender, msisdn, "small secondary")));
    return el("tr", { class: "row-" + m.fate, dataset: { id: str(m.id) } },
      el("td", { class: "time" }, el("time", { datetime: m.ts ? m.ts.toISOString() : "" }, fmtTime(m.ts))),
      el("td", { class: "sender" }, senderLink(m.sender), m.account ? el("div", { class: "muted small" }, m.account) : null),
      el("td", null, el("span", { class: "fate fate-" + m.fate }, t("fate_" + m.fate))),
      reasons,
      el("td", null, enforced),
      receipt,
      el("td", { class: "snippet" }, m.snippet));
  }

  function senderLink(name) {
    return el("button", { type: "button", class: "link mono sender-id", onclick: () => { go("sender"); $("snd-input").value = name; lookupSender(name); } }, name);
  }

  function canClear() { return state.role === "ops" || state.role === "callcentre"; }

  /* ---- clearing a blacklisting -------------------------------------------- */

  let clearTarget = null;

  function clearButton(entry, cls) {
    return el("button", { type: "button", class: "clear-bl " + (cls || ""), dataset: { blId: str(entry.id) },
      onclick: () => openClear(entry) }, t("btn_clear"), entry.value ? " \u2014 " + entry.value : " #" + entry.id);
  }

  function openClear(entry) {
    clearTarget = entry;
    $("clear-title").textContent = t("clear_title", { id: entry.id });
    $("clear-what").textContent = entry.value ? t("clear_what", { kind: entry.kind, value: entry.value })
      + (entry.reason ? " \u2014 " + entry.reason : "") : "";
    $("clear-reason").value = "";
    $("clear-ticket").value = "";
    setError("clear-error", "");
    $("dlg-clear").showModal();
    $("clear-reason").focus();
  }

  async function submitClear() {
    const reason = $("clear-reason").value.trim();
    const ticket = $("clear-ticket").value.trim();
    if (!reason || !ticket) { setError("clear-error", t("field_required")); return; }
    const id = clearTarget.id;
    $("clear-submit").disabled = true;
    try {
      await api("POST", "/blacklist/" + encodeURIComponent(id) + "/clear", { reason, ticket });
    } catch (e) {
      setError("clear-error", errText(e));
      return;
    } finally {
      $("clear-submit").disabled = false;
    }
    state.cleared.add(Number(id));
    $("dlg-clear").close();
    banner(() => t("cleared_ok", { id }), "ok");
    if (state.view === "subscriber" && state.timeline) await lookupSubscriber(state.timeline.query);
    if (state.view === "sender" && state.sender) await lookupSender(state.sender.name);
  }

  /* ---- exceptions ---------------------------------------------------------- */

  function exceptionButton(sender, msisdn, cls) {
    return el("button", { type: "button", class: "grant-exc " + (cls || ""),
      onclick: () => openException(sender, msisdn) }, t("btn_exception"));
  }

  function openException(sender, msisdn) {
    $("exc-sender").value = sender || "";
    $("exc-msisdn").value = msisdn || "";
    $("exc-ttl").value = "24";
    $("exc-reason").value = "";
    $("exc-ticket").value = "";
    setError("exc-error", "");
    $("dlg-exception").showModal();
    (sender ? $("exc-reason") : $("exc-sender")).focus();
  }

  async function submitException() {
    const body = {
      sender: $("exc-sender").value.trim(),
      msisdn: cleanNumber($("exc-msisdn").value),
      ttl_hours: Number($("exc-ttl").value),
      reason: $("exc-reason").value.trim(),
      ticket: $("exc-ticket").value.trim(),
    };
    if (!body.sender || !body.msisdn || !(body.ttl_hours > 0) || !body.reason || !body.ticket) {
      setError("exc-error", t("exc_required"));
      return;
    }
    let res;
    try {
      res = await api("POST", "/exceptions", body);
    } catch (e) {
      setError("exc-error", errText(e));
      return;
    }
    $("dlg-exception").close();
    const x = (res && (res.entry || res.exception)) || res || {};
    banner(() => t("exc_ok", { id: str(x.id), sender: body.sender, msisdn: str(x.msisdn || body.msisdn) }), "ok");
    if (state.view === "exceptions") loadExceptions();
    if (state.view === "subscriber" && state.timeline) lookupSubscriber(state.timeline.query);
  }

  async function loadExceptions() {
    const out = clear($("exc-result"));
    out.appendChild(el("p", { class: "muted" }, t("loading")));
    let data;
    try { data = await api("GET", "/exceptions"); } catch (e) {
      clear(out).appendChild(el("p", { class: "error" }, errText(e)));
      return;
    }
    state.exceptions = listOf(data, "exceptions", "entries", "items");
    renderExceptions();
  }

  function renderExceptions() {
    const out = clear($("exc-result"));
    const list = (state.exceptions || []).filter((x) => x.active !== false && !x.removed_at);
    if (!list.length) { out.appendChild(el("p", { class: "muted" }, t("exc_none"))); return; }
    const table = el("table", { class: "list" }, el("thead", null, el("tr", null,
      ["#", t("field_sender"), t("field_msisdn"), t("field_reason"), t("field_ticket"), "", ""].map((h) => el("th", null, h)))));
    const body = el("tbody");
    for (const x of list) {
      body.appendChild(el("tr", null,
        el("td", null, str(x.id)),
        el("td", { class: "mono" }, str(x.sender)),
        el("td", { class: "mono" }, str(x.msisdn)),
        el("td", null, str(x.reason), x.created_by ? el("div", { class: "muted small" }, str(x.created_by) + ", " + fmtTime(x.created_at)) : null),
        el("td", null, str(x.ticket)),
        el("td", null, x.expires_at ? t("exc_expires", { time: fmtTime(x.expires_at) }) : ""),
        el("td", null, el("button", { type: "button", class: "small secondary", onclick: () => removeException(x) }, t("exc_remove")))));
    }
    table.appendChild(body);
    out.appendChild(table);
  }

  function removeException(x) {
    openReason({
      title: t("exc_remove") + " #" + str(x.id) + ": " + str(x.sender) + " \u2192 " + str(x.msisdn),
      label: t("exc_remove"), cls: "danger",
      submit: async (reason, ticket) => {
        const body = { reason };
        if (ticket) body.ticket = ticket;
        await api("DELETE", "/exceptions/" + encodeURIComponent(x.id), body);
        banner(() => t("exc_removed", { id: str(x.id) }), "ok");
        loadExceptions();
      },
    });
  }

  /* ---- sender lookup -------------------------------------------------------- */

  async function lookupSender(name) {
    setError("snd-error", "");
    const out = clear($("snd-result"));
    if (!name) return;
    out.appendChild(el("p", { class: "muted" }, t("loading")));
    let data;
    try { data = await api("GET", "/senders/" + encodeURIComponent(name)); } catch (e) {
      clear(out);
      setError("snd-error", errText(e));
      return;
    }
    state.sender = { name, data };
    renderSender();
  }

  function renderSender() {
    const out = clear($("snd-result"));
    if (!state.sender) return;
    const d = state.sender.data || {};
    out.appendChild(el("h3", { class: "mono", id: "snd-name" }, str(d.sender || state.sender.name)));

    const wlList = Array.isArray(d.whitelist) ? d.whitelist : (d.whitelist ? [d.whitelist] : []);
    const wl = el("section", { class: "card" }, el("h4", null, t("snd_whitelist")));
    if (!wlList.length) wl.appendChild(el("p", null, t("snd_not_whitelisted")));
    for (const w of wlList) {
      wl.appendChild(el("p", null, el("span", { class: "badge ok" }, "\u2713"), " ",
        t("snd_wl_entry", { by: str(w.verified_by) || t("none"), account: str(w.account) || t("none"), provider: str(w.provider) || t("none") }),
        w.source_cidrs ? el("div", { class: "muted small mono" }, Array.isArray(w.source_cidrs) ? w.source_cidrs.join(", ") : str(w.source_cidrs)) : null));
    }
    out.appendChild(wl);

    const bl = el("section", { class: "card" }, el("h4", null, t("snd_blacklist")));
    const entries = listOf(d.blacklist, "entries", "items").map(normEntry).filter(Boolean);
    if (!entries.length) bl.appendChild(el("p", null, t("snd_no_blacklist")));
    for (const e of entries) bl.appendChild(entryLine(e));
    out.appendChild(bl);

    const la = el("section", { class: "card" }, el("h4", null, t("snd_lookalike")));
    let of = d.lookalike_of;
    if (of && typeof of === "object") of = str(of.sender) + (of.provider ? " (" + str(of.provider) + ")" : "");
    la.appendChild(el("p", null, of ? t("snd_lookalike_of", { of: str(of) }) : t("snd_not_lookalike")));
    out.appendChild(la);

    const c = Object.assign({}, d.counts || d.stats || d.volume || {});
    if (c.total === undefined && c.messages !== undefined) c.total = c.messages;
    const cards = el("section", { class: "card" }, el("h4", null, t("snd_counts")));
    const dl = el("dl", { class: "counts" });
    for (const [k, label] of [["total", "snd_total"], ["allowed", "snd_allowed"], ["flagged", "snd_flagged"], ["blocked", "snd_blocked"], ["recipients", "snd_recipients"]]) {
      let v = c[k];
      if (v === undefined && c.verdicts) v = c.verdicts[k];
      if (v === undefined) continue;
      dl.appendChild(el("div", null, el("dt", null, t(label)), el("dd", null, str(v))));
    }
    cards.appendChild(dl);
    out.appendChild(cards);

    const recent = Array.isArray(d.recent) ? d.recent.map(normMsg) : [];
    if (recent.length) {
      out.appendChild(el("h3", null, t("snd_recent"), " ", el("span", { class: "muted small" }, t("msgs_tz", { tz: tzName() }))));
      const table = el("table", { class: "messages", id: "snd-recent" },
        el("thead", null, el("tr", null, ["col_time", "field_msisdn", "col_fate", "col_reason", "col_text"].map((k) => el("th", { scope: "col" }, t(k))))));
      const body = el("tbody");
      for (const m of recent) {
        body.appendChild(el("tr", { class: "row-" + m.fate },
          el("td", { class: "time" }, fmtTime(m.ts)),
          el("td", { class: "mono" }, m.msisdn),
          el("td", null, el("span", { class: "fate fate-" + m.fate }, t("fate_" + m.fate))),
          el("td", { class: "reasons" }, m.blockedBy ? str(m.blockedBy.detail || m.blockedBy.type) : ""),
          el("td", { class: "snippet" }, m.snippet)));
      }
      table.appendChild(body);
      out.appendChild(el("div", { class: "scroll" }, table));
    }
  }

  function entryLine(e) {
    const line = el("div", { class: "entry " + (e.active ? "active" : "cleared"), dataset: { blId: str(e.id) } },
      el("p", null, el("strong", null, "#" + e.id), " ", el("span", { class: "mono" }, e.kind + " " + e.value), " \u00b7 ",
        e.automatic ? t("bl_automatic") : t("bl_manual"), " \u00b7 ",
        e.active ? el("span", { class: "state-active" }, t("bl_active"))
          : el("span", { class: "state-cleared" }, e.clearedBy ? t("bl_cleared_by", { by: e.clearedBy, time: fmtTime(e.clearedAt) }) : t("bl_cleared"))),
      el("p", { class: "muted small" }, e.reason, e.ticket ? " [" + e.ticket + "]" : "", " \u2014 ",
        t("bl_created", { time: fmtTime(e.createdAt), by: e.createdBy || t("none") }),
        e.expiresAt ? " \u00b7 " + t("bl_expires", { time: fmtTime(e.expiresAt) }) : ""));
    if (!e.active && e.clearReason) line.appendChild(el("p", { class: "muted small" }, e.clearReason, e.clearTicket ? " [" + e.clearTicket + "]" : ""));
    if (e.active && canClear()) line.appendChild(clearButton(e, "small"));
    return line;
  }

  /* ---- whitelist requests (ops) --------------------------------------------- */

  async function loadRequests() {
    const out = clear($("req-result"));
    out.appendChild(el("p", { class: "muted" }, t("loading")));
    const st = $("req-state").value;
    let data;
    try { data = await api("GET", "/whitelist-requests" + (st ? "?state=" + encodeURIComponent(st) : "")); } catch (e) {
      clear(out).appendChild(el("p", { class: "error" }, errText(e)));
      return;
    }
    state.requests = listOf(data, "requests", "items", "whitelist_requests");
    renderRequests();
  }

  function renderRequests() {
    const out = clear($("req-result"));
    const st = $("req-state").value;
    const list = (state.requests || []).filter((r) => !st || !r.state || r.state === st);
    if (!list.length) { out.appendChild(el("p", { class: "muted" }, t("req_none"))); return; }
    const join = (v) => Array.isArray(v) ? v.join(", ") : str(v);
    for (const r of list) {
      const dl = el("dl", { class: "req" });
      for (const [label, v] of [["req_provider", r.provider], ["req_senders", join(r.senders)], ["req_account", r.account],
        ["req_sources", join(r.source_cidrs || r.source_addresses || r.sources)], ["req_contact", r.contact],
        ["req_evidence", r.evidence], ["req_created", fmtTime(r.created_at) + (r.created_by ? " \u00b7 " + str(r.created_by) : "")]]) {
        if (v === undefined || v === null || v === "") continue;
        dl.appendChild(el("div", null, el("dt", null, t(label)), el("dd", null, str(v))));
      }
      const card = el("section", { class: "card request state-" + str(r.state), dataset: { reqId: str(r.id) } },
        el("h4", null, "#" + str(r.id), " ", el("span", { class: "badge" }, t("req_" + str(r.state)) || str(r.state))), dl);
      if (r.state === "pending") {
        card.appendChild(el("p", { class: "actions" },
          el("button", { type: "button", class: "primary", onclick: () => openDecide(r, "approve") }, t("req_approve")),
          " ",
          el("button", { type: "button", class: "danger", onclick: () => openDecide(r, "reject") }, t("req_reject"))));
      } else if (r.decided_by) {
        card.appendChild(el("p", { class: "muted small" }, t("req_decided", { by: str(r.decided_by), reason: str(r.decision_reason) })));
      }
      out.appendChild(card);
    }
  }

  function openDecide(r, what) {
    openReason({
      title: (what === "approve" ? t("req_approve") : t("req_reject")) + " #" + str(r.id) + ": " + (Array.isArray(r.senders) ? r.senders.join(", ") : str(r.senders)),
      label: what === "approve" ? t("req_approve") : t("req_reject"),
      cls: what === "approve" ? "primary" : "danger",
      submit: async (reason, ticket) => {
        const body = { reason };
        if (ticket) body.ticket = ticket;
        await api("POST", "/whitelist-requests/" + encodeURIComponent(r.id) + "/" + what, body);
        banner(() => t(what === "approve" ? "req_done_approve" : "req_done_reject", { id: str(r.id) }), "ok");
        loadRequests();
      },
    });
  }

  /* ---- the reason dialog (request decisions, exception removal) ------------- */

  let reasonTarget = null;

  function openReason(spec) {
    reasonTarget = spec;
    $("decide-title").textContent = spec.title;
    $("decide-submit").textContent = spec.label;
    $("decide-submit").className = spec.cls || "primary";
    $("decide-reason").value = "";
    $("decide-ticket").value = "";
    setError("decide-error", "");
    $("dlg-decide").showModal();
    $("decide-reason").focus();
  }

  async function submitReason() {
    const reason = $("decide-reason").value.trim();
    const ticket = $("decide-ticket").value.trim();
    if (!reason) { setError("decide-error", t("req_reason_needed")); return; }
    $("decide-submit").disabled = true;
    try {
      await reasonTarget.submit(reason, ticket);
    } catch (e) {
      setError("decide-error", errText(e));
      return;
    } finally {
      $("decide-submit").disabled = false;
    }
    $("dlg-decide").close();
  }

  /* ---- wiring ---------------------------------------------------------------- */

  function rerender() {
    applyStrings();
    if (state.timeline) renderTimeline();
    if (state.sender) renderSender();
    if (state.exceptions) renderExceptions();
    if (state.requests) renderRequests();
  }

  function init() {
    state.lang = pickLang();
    $("lang").value = state.lang;
    applyStrings();

    $("lang").addEventListener("change", () => {
      state.lang = $("lang").value === "ru" ? "ru" : "en";
      localStorage.setItem(LANG_KEY, state.lang);
      rerender();
    });
    $("signin-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const tok = $("token").value.trim();
      if (tok) signIn(tok);
    });
    $("signout").addEventListener("click", () => signOut(""));
    for (const b of document.querySelectorAll("#nav button")) b.addEventListener("click", () => go(b.dataset.view));
    $("sub-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const msisdn = cleanNumber($("sub-number").value);
      if (!msisdn) { setError("sub-error", t("sub_number_missing")); return; }
      lookupSubscriber({ msisdn, sender: $("sub-sender").value.trim(), period: $("sub-period").value });
    });
    $("snd-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      lookupSender($("snd-input").value.trim());
    });
    $("exc-new").addEventListener("click", () => openException("", ""));
    $("req-state").addEventListener("change", loadRequests);
    $("clear-form").addEventListener("submit", (ev) => { ev.preventDefault(); submitClear(); });
    $("exc-form").addEventListener("submit", (ev) => { ev.preventDefault(); submitException(); });
    $("decide-form").addEventListener("submit", (ev) => { ev.preventDefault(); submitReason(); });
    for (const d of document.querySelectorAll("dialog")) {
      const errBox = d.querySelector(".error");
      d.addEventListener("input", () => { errBox.hidden = true; });
    }
    for (const b of document.querySelectorAll("dialog [data-close]"))
      b.addEventListener("click", () => b.closest("dialog").close());

    const tok = sessionStorage.getItem(TOKEN_KEY);
    const role = sessionStorage.getItem(TOKEN_KEY + ".role");
    if (tok && role) {
      state.token = tok;
      state.role = role;
      enterApp();
    } else {
      signOut("");
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
