// Failure paths for tests/proxy.sh (node-smpp ESME through the proxy at
// argv[2]; the SMSC is tests/proxy/smsc.js, which misbehaves on demand).
//
// SCENARIO (argv[3]):
//   "timeouts": the proxy runs with --response-timeout 1 --mp-timeout 2.
//     A submit answered 1.5 s late and one never answered are each answered
//     by the proxy once with ESME_RSYSERR after about 1 s, and the late
//     answer never reaches the ESME.  Held multipart parts that cannot be
//     delivered yield failure receipts under the id the proxy issued: a part
//     the SMSC refuses (REJECTD), a part it never answers (UNDELIV), a
//     message whose second part never comes (UNDELIV after --mp-timeout),
//     and a held part on a link whose SMSC connection closes (UNDELIV
//     before the ESME's connection closes).
//   "forward": the proxy runs with --multipart forward.  A three-part
//     phishing message whose first part is harmless: part 1 is forwarded,
//     part 2 (the text so far is spam) refused, part 3 refused unjudged;
//     a two-part ham message is forwarded part by part.
//   "budget": the proxy runs with --judge-budget and --fail-closed.  A ham
//     message passes (judged; the verified account only binds: the proxy
//     never judged its sender); then, once the file argv[4] exists
//     (tests/proxy.sh creates it while the proxy is stopped), a verified
//     one-time code and the ham are sent ("sent" on stderr once both are
//     in the sockets): both wait past the budget, the
//     ham is refused (fail closed), the verified sender's code passes
//     unjudged (the engine's lists say it is verified).
//   "monitor": the proxy runs with --monitor.  The three-part phishing
//     message of "forward" (harmless first part), a two-part ham message
//     and a two-part message whose second part never comes: every part is
//     answered by the SMSC (forwarded at once, never by the proxy).
// Prints one JSON object; exits 1 when a check fails.
'use strict';
const smpp = require('smpp');
const [host, port] = process.argv[2].split(':');
const scenario = process.argv[3];
const out = {fail: []};
const check = (cond, what) => { if (!cond) out.fail.push(what); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function bind(system_id) {
  return new Promise((resolve, reject) => {
    const s = smpp.connect({url: `smpp://${host}:${port}`, auto_enquire_link_period: 0});
    s.on('error', () => {});
    s.receipts = [];
    s.answers = {}; // sequence_number -> submit_sm_resp count
    s.on('submit_sm_resp', (p) => { s.answers[p.sequence_number] = (s.answers[p.sequence_number] || 0) + 1; });
    s.on('deliver_sm', (pdu) => {
      if (pdu.esm_class & 4) {
        const text = String(pdu.short_message && pdu.short_message.message || '');
        const m = / stat:(\w+)/.exec(text);
        s.receipts.push({id: pdu.receipted_message_id, stat: m ? m[1] : null, state: pdu.message_state});
      }
      s.send(pdu.response());
    });
    s.on('connect', () => s.bind_transceiver({system_id, password: 'pw'}, (p) =>
      p.command_status ? reject(new Error('bind ' + p.command_status)) : resolve(s)));
  });
}
// Resolves with the response PDU, its sequence number and the elapsed ms.
const submit = (s, o) => new Promise((resolve) => {
  const t0 = Date.now();
  const pdu = new smpp.PDU('submit_sm', o);
  s.send(pdu, (r) => resolve({r, seq: pdu.sequence_number, ms: Date.now() - t0}));
});
const sms = (text, extra = {}) => Object.assign({source_addr: 'Family', destination_addr: '79161234567',
                                                 short_message: text, registered_delivery: 1}, extra);
const udh = (ref, tot, seq) => Buffer.from([5, 0, 3, ref, tot, seq]);
const part = (ref, tot, seq, text) => sms({udh: udh(ref, tot, seq), message: text}, {esm_class: 0x40});
const receiptFor = (s, id) => s.receipts.find((r) => r.id === id);

async function timeouts() {
  const e = await bind('esme-f');
  // 1. Late and missing answers: one answer each, from the proxy.
  const late = await submit(e, sms('LATE reply please, see you at lunch'));
  check(late.r.command_status === 0x08, 'late submit answered ESME_RSYSERR: ' + late.r.command_status);
  check(late.ms >= 800 && late.ms < 2500, 'late submit answered after the timeout: ' + late.ms + ' ms');
  const none = await submit(e, sms('NORESP please call your grandmother tonight'));
  check(none.r.command_status === 0x08, 'unanswered submit answered ESME_RSYSERR: ' + none.r.command_status);
  // 2. Held parts that cannot be delivered.
  const r1 = await submit(e, part(31, 2, 1, 'Hi mum, REFUSEME the train is late by twenty'));
  const r2 = await submit(e, part(31, 2, 2, ' minutes, I will be home around seven'));
  check(r1.r.command_status === 0 && /^sg/.test(r1.r.message_id), 'refused part answered at once by the proxy');
  check(r2.r.command_status === 0 && /^smsc-/.test(r2.r.message_id), 'completing part answered by the SMSC');
  const n1 = await submit(e, part(32, 2, 1, 'Hi dad, NORESP the parcel arrived this'));
  const n2 = await submit(e, part(32, 2, 2, ' morning, thanks for sending it so quickly'));
  check(n1.r.command_status === 0 && /^sg/.test(n1.r.message_id), 'unanswered part answered at once by the proxy');
  check(n2.r.command_status === 0, 'its completing part answered by the SMSC');
  const x1 = await submit(e, part(33, 2, 1, 'Hello, the meeting moved to room four'));
  check(x1.r.command_status === 0 && /^sg/.test(x1.r.message_id), 'lone part answered at once by the proxy');
  await sleep(3200); // timeouts (1 s), the late answer (1.5 s), --mp-timeout (2 s)
  check(e.answers[late.seq] === 1, 'the late SMSC answer was not passed on: ' + e.answers[late.seq] + ' answers');
  check(e.answers[none.seq] === 1, 'one answer for the unanswered submit: ' + e.answers[none.seq]);
  const rr = receiptFor(e, r1.r.message_id), rn = receiptFor(e, n1.r.message_id), rx = receiptFor(e, x1.r.message_id);
  check(rr && rr.stat === 'REJECTD' && rr.state === 8, 'REJECTD receipt for the part the SMSC refused: ' + JSON.stringify(rr));
  check(rn && rn.stat === 'UNDELIV' && rn.state === 5, 'UNDELIV receipt for the part the SMSC never answered: ' + JSON.stringify(rn));
  check(rx && rx.stat === 'UNDELIV', 'UNDELIV receipt for the part whose message never completed: ' + JSON.stringify(rx));
  check(e.receipts.filter((r) => /^sg/.test(r.id)).length === 3, 'exactly three failure receipts: ' + JSON.stringify(e.receipts));
  out.receipts = e.receipts;
  // 3. The SMSC closes the connection while a part is held.
  const c = await bind('esme-c');
  const closed = new Promise((resolve) => c.on('close', () => resolve(true)));
  const h1 = await submit(c, part(34, 2, 1, 'Dinner is at eight, bring the'));
  check(h1.r.command_status === 0 && /^sg/.test(h1.r.message_id), 'held part answered at once');
  c.send(new smpp.PDU('submit_sm', sms('CLOSEME see you soon')));
  const wasClosed = await Promise.race([closed, sleep(3000).then(() => false)]);
  check(wasClosed, 'ESME connection closed after the SMSC closed');
  const rc = receiptFor(c, h1.r.message_id);
  check(rc && rc.stat === 'UNDELIV', 'UNDELIV receipt for the held part before the close: ' + JSON.stringify(c.receipts));
  e.close();
}

async function forward() {
  const e = await bind('esme-w');
  const p1 = await submit(e, part(41, 3, 1, 'Dear customer, thank you for'));
  const p2 = await submit(e, part(41, 3, 2, ' banking with us. Your account has been suspended. Verify your details at http://secure-bank.top'));
  const p3 = await submit(e, part(41, 3, 3, ' to keep using your card'));
  check(p1.r.command_status === 0 && /^smsc-/.test(p1.r.message_id), 'harmless first part forwarded and answered by the SMSC: ' + p1.r.command_status);
  check(p2.r.command_status === 0x45, 'part that makes the text spam refused: ' + p2.r.command_status);
  check(p3.r.command_status === 0x45, 'later part refused: ' + p3.r.command_status);
  const h1 = await submit(e, part(42, 2, 1, 'Hi mum, the train is late by twenty minu'));
  const h2 = await submit(e, part(42, 2, 2, 'tes, I will be home around seven. Love you'));
  check(h1.r.command_status === 0 && /^smsc-/.test(h1.r.message_id), 'ham part 1 forwarded at once');
  check(h2.r.command_status === 0 && /^smsc-/.test(h2.r.message_id), 'ham part 2 forwarded at once');
  e.close();
}

async function budget() {
  const fs = require('fs');
  const bank = await bind('bankacct');
  const e = await bind('esme-b');
  const otp = (n) => sms('Your code is ' + n + '. Do not share it with anyone.', {source_addr: 'MyBank'});
  const ham = sms('See you at the cinema at six, tickets booked');
  const h1 = await submit(e, ham);
  check(h1.r.command_status === 0 && /^smsc-/.test(h1.r.message_id), 'ham judged in time and forwarded');
  console.error('ready');
  for (let i = 0; i < 600 && !fs.existsSync(process.argv[4]); i++) await sleep(50);
  const answers = Promise.all([submit(bank, otp(654321)), submit(e, ham)]);
  console.error('sent'); // both PDUs are in the sockets: the wait starts now
  const [o2, h2] = await answers;
  check(o2.r.command_status === 0 && /^smsc-/.test(o2.r.message_id),
        'verified OTP passes although not judged in time: ' + o2.r.command_status);
  check(h2.r.command_status === 0x45, 'ham not judged in time refused (fail closed): ' + h2.r.command_status);
  out.waited_ms = [o2.ms, h2.ms];
  bank.close();
  e.close();
}

async function monitor() {
  const e = await bind('esme-m');
  const all = [
    await submit(e, part(51, 3, 1, 'Dear customer, thank you for')),
    await submit(e, part(51, 3, 2, ' banking with us. Your account has been suspended. Verify your details at http://secure-bank.top')),
    await submit(e, part(51, 3, 3, ' to keep using your card')),
    await submit(e, part(52, 2, 1, 'Hi mum, the train is late by twenty minu')),
    await submit(e, part(52, 2, 2, 'tes, I will be home around seven. Love you')),
    await submit(e, part(53, 2, 1, 'Hello, the meeting moved to room four')),
  ];
  all.forEach((x, i) => check(x.r.command_status === 0 && /^smsc-/.test(x.r.message_id),
                              'part ' + i + ' forwarded and answered by the SMSC: ' + x.r.command_status + ' ' + x.r.message_id));
  await sleep(2600); // --mp-timeout 2: the lone part's message is judged incomplete
  e.close();
}

(async () => {
  if (scenario === 'timeouts') await timeouts();
  else if (scenario === 'budget') await budget();
  else if (scenario === 'forward') await forward();
  else if (scenario === 'monitor') await monitor();
  else out.fail.push('unknown scenario ' + scenario);
  console.log(JSON.stringify(out));
  process.exit(out.fail.length ? 1 : 0);
})().catch((err) => { console.log(JSON.stringify({fail: ['exception: ' + err.message]})); process.exit(1); });
