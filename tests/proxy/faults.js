// Faults for tests/proxy.sh: an ESME that disconnects with submits in
// flight, then a stream of submits during which the SMSC (pid argv[3]) is
// killed.  Senders vary so that the volume rules (50 recipients per
// sender) do not block the stream.  Prints {acked_before_kill: [SMSC ids the ESME was told],
// esme_closed, inflight_session_ok}.
'use strict';
const smpp = require('smpp');
const [host, port] = process.argv[2].split(':');
const smscPid = +process.argv[3];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function bind(system_id) {
  return new Promise((resolve, reject) => {
    const s = smpp.connect({url: `smpp://${host}:${port}`, auto_enquire_link_period: 0});
    s.on('error', () => {});
    s.on('connect', () => s.bind_transceiver({system_id, password: 'pw'}, (p) => p.command_status ? reject(new Error('bind')) : resolve(s)));
  });
}
(async () => {
  const out = {};
  // 1. Requests in flight, then the socket goes.
  const a = await bind('leaver');
  for (let i = 0; i < 50; i++) a.submit_sm({source_addr: 'Leaver' + (i % 10), destination_addr: '79160000' + (100 + i), short_message: 'order ' + i + ' shipped today'});
  a.socket.destroy();
  await sleep(200);
  const b = await bind('stayer');
  const r = await new Promise((res) => b.submit_sm({source_addr: 'Stayer', destination_addr: '79161110000', short_message: 'still working'}, res));
  out.inflight_session_ok = r.command_status === 0;
  // 2. A stream of submits; the SMSC is killed in the middle.
  const acked = [];
  let closed = false;
  b.on('close', () => { closed = true; });
  let sent = 0;
  const pump = setInterval(() => {
    if (closed) return;
    for (let i = 0; i < 20; i++) {
      b.submit_sm({source_addr: 'S' + Math.floor(sent / 20), destination_addr: '7916' + String(2000000 + sent++), short_message: 'stream message ' + sent},
                  (p) => { if (p.command_status === 0) acked.push(p.message_id); });
    }
  }, 5);
  await sleep(150);
  process.kill(smscPid, 'SIGKILL');
  for (let i = 0; i < 40 && !closed; i++) await sleep(50);
  clearInterval(pump);
  out.acked_before_kill = acked;
  out.esme_closed = closed;
  out.sent = sent;
  console.log(JSON.stringify(out));
  process.exit(0);
})().catch((e) => { console.log(JSON.stringify({error: e.message})); process.exit(1); });
