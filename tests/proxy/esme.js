// The ESME side of tests/proxy.sh (node-smpp): a scenario through the proxy
// at argv[2]; MODE (argv[3]) "error" or "silent" says how blocks are
// answered.  Prints one JSON object with what it got back; exits 1 when an
// answer is not the one configured.
'use strict';
const smpp = require('smpp');
const [host, port] = process.argv[2].split(':');
const mode = process.argv[3] || 'error';
const out = {fail: []};
const check = (cond, what) => { if (!cond) out.fail.push(what); };

function bind(system_id, kind = 'bind_transceiver') {
  return new Promise((resolve, reject) => {
    const s = smpp.connect({url: `smpp://${host}:${port}`, auto_enquire_link_period: 0});
    s.on('error', (e) => reject(e));
    s.on('connect', () => s[kind]({system_id, password: 'pw'}, (pdu) => {
      if (pdu.command_status !== 0) reject(new Error('bind ' + pdu.command_status));
      else resolve(s);
    }));
  });
}
const submit = (s, o) => new Promise((resolve) => s.submit_sm(o, (r) => resolve(r)));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

(async () => {
  const receipts = [], delivered = [];
  const esme = await bind('esme1');
  esme.on('deliver_sm', (pdu) => {
    if (pdu.esm_class & 4) receipts.push({id: pdu.receipted_message_id, text: String(pdu.short_message && pdu.short_message.message || '')});
    else delivered.push(pdu);
    esme.send(pdu.response());
  });
  const bank = await bind('bankacct');
  const sms = (source_addr, text, extra = {}) => Object.assign({source_addr, destination_addr: '79161234567', short_message: text, registered_delivery: 1}, extra);
  const blockStatus = mode === 'silent' ? 0 : 0x45;

  const ham = await submit(esme, sms('ShopX', 'See you at dinner tonight, table booked for eight'));
  check(ham.command_status === 0 && /^smsc-/.test(ham.message_id), 'ham answered by the SMSC');
  const otp = await submit(bank, sms('MyBank', 'Your code is 123456. Do not share it with anyone.'));
  check(otp.command_status === 0 && /^smsc-/.test(otp.message_id), 'OTP from the whitelisted account forwarded');
  const spam = await submit(esme, sms('Promo', 'Your account has been suspended. Verify your details at http://secure-bank.top'));
  check(spam.command_status === blockStatus, 'spam answered as configured: ' + spam.command_status);
  if (mode === 'silent') check(/^sg/.test(spam.message_id), 'silent block has our message_id');
  const spoof = await submit(esme, sms('MyBank', 'Your code is 654321'));
  check(spoof.command_status === blockStatus, 'spoofed sender answered as configured: ' + spoof.command_status);

  // Multipart (8-bit reference UDH, TS 23.040 §9.2.3.24.1), a phishing text
  // split mid-phrase so neither part alone is spam.
  const udh = (ref, tot, seq) => Buffer.from([5, 0, 3, ref, tot, seq]);
  const mp = (ref, a, b) => [
    sms('Promo2', {udh: udh(ref, 2, 1), message: a}, {esm_class: 0x40}),
    sms('Promo2', {udh: udh(ref, 2, 2), message: b}, {esm_class: 0x40}),
  ];
  const [sp1, sp2] = mp(7, 'Dear customer, your account has been susp', 'ended. Verify your details at http://secure-bank.top');
  const mps1 = await submit(esme, sp1);
  check(mps1.command_status === 0 && /^sg/.test(mps1.message_id), 'multipart part 1 answered at once by the proxy');
  const mps2 = await submit(esme, sp2);
  check(mps2.command_status === blockStatus, 'multipart spam: completing part answered as configured: ' + mps2.command_status);
  const [hp1, hp2] = mp(9, 'Hi mum, the train is late by twenty minu', 'tes, I will be home around seven. Love you');
  const mph1 = await submit(esme, hp1);
  check(mph1.command_status === 0 && /^sg/.test(mph1.message_id), 'multipart ham part 1 answered by the proxy');
  const mph2 = await submit(esme, hp2);
  check(mph2.command_status === 0 && /^smsc-/.test(mph2.message_id), 'multipart ham part 2 answered by the SMSC');

  // A malformed PDU (unknown command_id): generic_nack, link kept up.
  const nack = new Promise((resolve) => esme.once('generic_nack', (p) => resolve(p)));
  const bad = Buffer.alloc(16);
  bad.writeUInt32BE(16, 0); bad.writeUInt32BE(0x00000777, 4); bad.writeUInt32BE(0, 8); bad.writeUInt32BE(999, 12);
  esme.socket.write(bad);
  const n = await Promise.race([nack, sleep(2000).then(() => null)]);
  check(n && n.command_status === 3 && n.sequence_number === 999, 'generic_nack ESME_RINVCMDID for an unknown command');
  const after = await submit(esme, sms('ShopX', 'Your table for two is confirmed for Friday'));
  check(after.command_status === 0, 'link still up after the malformed PDU');

  // Mobile-originated traffic: the SMSC sends ham and spam to "mo-target".
  const mo = await bind('mo-target');
  const moGot = [];
  mo.on('deliver_sm', (pdu) => { moGot.push(String(pdu.short_message && pdu.short_message.message || '')); mo.send(pdu.response()); });
  await sleep(600);
  check(moGot.length === 1 && /call me back/.test(moGot[0]), 'MO ham delivered, MO spam dropped: ' + JSON.stringify(moGot));

  await sleep(300); // receipts
  out.responses = {ham, otp, spam, spoof, mps1, mps2, mph1, mph2}.constructor && {
    ham: ham.message_id, otp: otp.message_id, spam: [spam.command_status, spam.message_id],
    spoof: spoof.command_status, mps1: mps1.message_id, mps2: mps2.command_status, mph1: mph1.message_id, mph2: mph2.message_id};
  out.receipts = receipts;
  const rid = receipts.map((r) => r.id);
  check(rid.includes(ham.message_id), 'receipt for ham');
  check(rid.includes(mph1.message_id), 'receipt for held part 1 under the id the proxy issued');
  check(!rid.some((x) => /^smsc-/.test(x) && x !== ham.message_id && x !== mph2.message_id && x !== after.message_id),
        'no receipt names an SMSC id the ESME never saw');
  if (mode === 'silent') {
    const rej = receipts.filter((r) => / stat:REJECTD /.test(r.text)).map((r) => r.id);
    check(rej.includes(spam.message_id), 'REJECTD receipt for the silently blocked spam');
    check(rej.includes(mps1.message_id), 'REJECTD receipt for the blocked held part');
  }
  for (const s of [esme, bank, mo]) s.close();
  console.log(JSON.stringify(out));
  process.exit(out.fail.length ? 1 : 0);
})().catch((e) => { console.log(JSON.stringify({fail: ['exception: ' + e.message]})); process.exit(1); });
