// A node-smpp SMSC for tests/proxy.sh: answers every bind and submit,
// records what it received as JSON Lines (argv[3]), sends delivery receipts
// when asked for, and on a bind with system_id "mo-target" sends mobile-
// originated deliver_sm (ham and spam) and one malformed PDU; answers late,
// never, with an error, or closes, when a submit's text asks for it.
'use strict';
const smpp = require('smpp');
const fs = require('fs');
const port = +process.argv[2];
const log = fs.openSync(process.argv[3], 'a');
let nextId = 1;
const rec = (o) => fs.writeSync(log, JSON.stringify(o) + '\n');

function smText(pdu) {
  const sm = pdu.short_message;
  if (!sm) return '';
  if (Buffer.isBuffer(sm)) return sm.toString('latin1');
  return sm.message !== undefined ? (Buffer.isBuffer(sm.message) ? sm.message.toString('latin1') : String(sm.message)) : String(sm);
}

const server = smpp.createServer((session) => {
  let account = '';
  session.on('error', () => {});
  const onBind = (pdu) => {
    account = pdu.system_id;
    rec({ev: 'bind', command: pdu.command, account, seq: pdu.sequence_number});
    session.send(pdu.response());
    if (account === 'mo-target') {
      setTimeout(() => {
        session.deliver_sm({source_addr: '79001112233', destination_addr: '4444',
                            short_message: 'Hello, can you call me back later?'},
                           (r) => rec({ev: 'deliver_resp', which: 'mo-ham', status: r.command_status}));
        session.deliver_sm({source_addr: '79001112244', destination_addr: '4444',
                            short_message: 'Your account has been suspended. Verify your details at http://secure-bank.top'},
                           (r) => rec({ev: 'deliver_resp', which: 'mo-spam', status: r.command_status}));
        // An unknown command_id (v3.4 §4.3: generic_nack ESME_RINVCMDID).
        const bad = Buffer.alloc(16);
        bad.writeUInt32BE(16, 0); bad.writeUInt32BE(0x00000777, 4); bad.writeUInt32BE(0, 8); bad.writeUInt32BE(4242, 12);
        session.socket.write(bad);
      }, 100);
    }
  };
  session.on('bind_transceiver', onBind);
  session.on('bind_transmitter', onBind);
  session.on('bind_receiver', onBind);
  session.on('generic_nack', (pdu) => rec({ev: 'generic_nack', status: pdu.command_status, seq: pdu.sequence_number}));
  session.on('enquire_link', (pdu) => session.send(pdu.response()));
  session.on('unbind', (pdu) => { rec({ev: 'unbind', account}); session.send(pdu.response()); });
  session.on('submit_sm', (pdu) => {
    const id = 'smsc-' + (nextId++);
    const text = smText(pdu);
    rec({ev: 'submit', account, id, src: pdu.source_addr, dst: pdu.destination_addr, text,
         esm_class: pdu.esm_class, seq: pdu.sequence_number});
    // Faults on demand (tests/proxy/failures.js): a text with NORESP is
    // never answered, LATE is answered after 1.5 s, REFUSEME is refused
    // (ESME_RSUBMITFAIL), CLOSEME closes the connection.
    if (/NORESP/.test(text)) return;
    if (/CLOSEME/.test(text)) { session.socket.destroy(); return; }
    if (/REFUSEME/.test(text)) { session.send(pdu.response({command_status: 0x45})); return; }
    if (/\bLATE\b/.test(text)) { setTimeout(() => session.send(pdu.response({message_id: id})), 1500); return; }
    session.send(pdu.response({message_id: id}));
    if (pdu.registered_delivery & 3) {
      setTimeout(() => {
        session.deliver_sm({source_addr: pdu.destination_addr, destination_addr: pdu.source_addr, esm_class: 4,
                            short_message: 'id:' + id + ' sub:001 dlvrd:001 submit date:2601010000 done date:2601010000 stat:DELIVRD err:000 text:',
                            receipted_message_id: id, message_state: 2}, () => {});
      }, 30);
    }
  });
});
server.listen(port, '127.0.0.1', () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => process.exit(0));
