// A steady-rate ESME for tests/proxy-reload.sh (node-smpp): binds one
// transceiver "loadesme" through the proxy and submits COUNT messages at
// RATE per second, at most WINDOW unanswered, while the test reloads the
// proxy's rules.
//
//   node load.js HOST:PORT COUNT RATE WINDOW OUT.jsonl PROGRESS
//
// Message i is ham (i % 5 < 3, sender ShopX), spam (3, Promo) or a
// "marker" (4, Walrus: allowed by the shipped rules, blocked by the rule
// the test adds).  Each text ends in "ref i" so the SMSC's log names it.
// The test sets the sequence numbers (i + 1) so that every response can be
// tied to its request: OUT.jsonl gets one line per message {i, kind, t_sub,
// t_resp, status, id, n} (n = responses seen for it; Date.now() times) and a
// last line {summary}.  PROGRESS is rewritten every 50 ms with the number
// of messages answered, for the test to pace its reloads.  Exits 1 if the
// link closes, a response is missing or duplicated, or one names a
// sequence number never sent.
'use strict';
const smpp = require('smpp');
const fs = require('fs');
const [host, port] = process.argv[2].split(':');
const count = +process.argv[3], rate = +process.argv[4], window = +process.argv[5];
const outPath = process.argv[6], progressPath = process.argv[7];

const kinds = ['ham', 'ham', 'ham', 'spam', 'marker'];
const hams = ['Your table for two is confirmed for Friday at eight',
              'The plumber will come between ten and twelve tomorrow',
              'Meeting moved to the small room, bring the printed slides'];
function message(i) {
  const kind = kinds[i % 5];
  const text = kind === 'ham' ? hams[i % 3] :
               kind === 'spam' ? 'Your account has been suspended. Verify your details at http://secure-bank.top' :
               'Try our purple walrus discount this weekend';
  // 40 recipients: below every volume threshold (docs/verdict-engine.md),
  // so only content rules decide.
  return {kind, src: {ham: 'ShopX', spam: 'Promo', marker: 'Walrus'}[kind],
          dst: '7916' + String(1000000 + (i % 40)), text: text + ', ref ' + i};
}

const msgs = [];
let sent = 0, answered = 0, unknown = 0, dup = 0, nacks = 0, closed = false;
let t0 = Date.now();
const writeProgress = () => fs.writeFileSync(progressPath, String(answered));

function finish(why) {
  const lat = msgs.filter((m) => m.t_resp).map((m) => m.t_resp - m.t_sub).sort((a, b) => a - b);
  const pct = (p) => lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : null;
  const missing = msgs.filter((m) => m.n === 0).length;
  const summary = {why, count, sent, answered, missing, dup, unknown, nacks, closed,
                   seconds: (Date.now() - t0) / 1000, p50_ms: pct(0.5), p99_ms: pct(0.99),
                   max_ms: lat.length ? lat[lat.length - 1] : null};
  const out = fs.openSync(outPath, 'w');
  for (const m of msgs) fs.writeSync(out, JSON.stringify(m) + '\n');
  fs.writeSync(out, JSON.stringify({summary}) + '\n');
  fs.closeSync(out);
  writeProgress();
  console.log(JSON.stringify(summary));
  process.exit(why === 'done' && sent === count && !missing && !dup && !unknown && !nacks ? 0 : 1);
}

const s = smpp.connect({url: `smpp://${host}:${port}`, auto_enquire_link_period: 0});
s.on('error', (e) => { console.error('load.js: ' + e.message); });
s.on('close', () => { closed = true; if (answered < count) finish('link closed'); });
s.on('enquire_link', (pdu) => s.send(pdu.response()));
s.on('deliver_sm', (pdu) => s.send(pdu.response()));
s.on('generic_nack', () => { nacks++; });
s.on('submit_sm_resp', (pdu) => {
  const m = msgs[pdu.sequence_number - 1];
  if (!m) { unknown++; return; }
  if (++m.n > 1) { dup++; return; }
  m.t_resp = Date.now();
  m.status = pdu.command_status;
  m.id = pdu.message_id || '';
  answered++;
});

// A token bucket holding at most 10 messages: after a stall of the proxy
// the rate stays steady instead of catching up in a burst, so the test's
// later reloads still happen under load.
let budget = 0, last = 0;
function pump() {
  const now = Date.now();
  budget = Math.min(10, budget + (now - (last || now)) * rate / 1000);
  last = now;
  while (budget >= 1 && sent < count && sent - answered < window) {
    budget--;
    const i = sent++;
    const m = message(i);
    msgs.push({i, kind: m.kind, t_sub: Date.now(), t_resp: 0, status: null, id: null, n: 0});
    s.submit_sm({sequence_number: i + 1, source_addr: m.src, source_addr_ton: 5, destination_addr: m.dst,
                 short_message: m.text});
  }
}

s.on('connect', () => s.bind_transceiver({system_id: 'loadesme', password: 'pw'}, (pdu) => {
  if (pdu.command_status !== 0) { console.error('load.js: bind ' + pdu.command_status); process.exit(1); }
  t0 = Date.now();
  const progress = setInterval(writeProgress, 50);
  const tick = setInterval(() => {
    pump();
    if (answered === count) {
      clearInterval(tick); clearInterval(progress);
      // A late duplicate would show up in this grace period.
      setTimeout(() => finish('done'), 300);
    }
  }, 5);
  // Bounded: the nominal time plus 40 s (a refused rule reload stalls the
  // proxy for a full rule compile, seconds on a busy machine).
  setTimeout(() => finish('timeout'), count / rate * 1000 + 40000);
}));
