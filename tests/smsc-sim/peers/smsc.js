#!/usr/bin/env node
// smsc.js - an independent SMSC for interop tests, on the npm `smpp` package (node-smpp 0.5.1).
//
// Loopback only; exits by itself after --max-runtime-s. Prints one JSON line {"port": N} once
// listening, then serves binds for one account, answers submit_sm with decimal ids, sends a
// receipt (deliver_sm, esm_class 0x04, text + receipted_message_id/message_state TLVs) when
// registered_delivery asks, and can throttle a share of submits or drop the first connection
// after N submits. Commands on stdin, one per line:
//   stats                          -> prints a JSON line of counters
//   mo <from> <to> <text>          -> sends an MO deliver_sm to a bound receiver/transceiver
//   quit                           -> exits
'use strict';
const smpp = require('smpp');
const readline = require('readline');

const opt = {
  port: 0, 'system-id': 'peer', password: 'peer', 'throttle-share': 0, 'drop-after': 0,
  'dlr-delay-ms': 0, 'max-runtime-s': 120,
};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const k = argv[i].replace(/^--/, '');
  if (!(k in opt)) { console.error('unknown option ' + argv[i]); process.exit(2); }
  opt[k] = typeof opt[k] === 'number' ? Number(argv[i + 1]) : argv[i + 1];
}

const st = {
  binds_ok: 0, binds_failed: 0, submits: 0, accepted: 0, throttled: 0, drops: 0,
  unique: 0, duplicates: 0, receipts_sent: 0, receipts_acked: 0, mo_sent: 0, mo_acked: 0,
  enquire_links: 0, unbinds: 0, bound_now: 0,
};
const seen = new Set();
const receivers = new Set();
let nextId = 1, throttleAcc = 0, dropped = false;

function smppDate(d) {
  const p = (n) => String(n).padStart(2, '0');
  return p(d.getUTCFullYear() % 100) + p(d.getUTCMonth() + 1) + p(d.getUTCDate()) +
    p(d.getUTCHours()) + p(d.getUTCMinutes());
}

function textOf(pdu) {
  let m = pdu.short_message;
  if (m && m.message !== undefined) m = m.message;
  if (Buffer.isBuffer(m)) m = m.toString('latin1');
  return m || '';
}

function pick(session) {
  if (session && session._kind === 'transceiver' && !session._closed) return session;
  for (const s of receivers) if (!s._closed) return s;
  return null;
}

const server = smpp.createServer({ noDelay: true }, (session) => {
  try { session.socket.setNoDelay(true); } catch (e) { /* already closed */ }
  session._submits = 0;
  session.on('error', () => {});
  session.on('close', () => {
    session._closed = true;
    receivers.delete(session);
    if (session._bound) st.bound_now--;
  });
  const bind = (kind) => (pdu) => {
    if (pdu.system_id !== opt['system-id'] || pdu.password !== opt.password) {
      st.binds_failed++;
      session.send(pdu.response({ command_status: pdu.system_id !== opt['system-id'] ? smpp.ESME_RINVSYSID : smpp.ESME_RINVPASWD }));
      session.close();
      return;
    }
    st.binds_ok++;
    st.bound_now++;
    session._bound = true;
    session._kind = kind;
    if (kind !== 'transmitter') receivers.add(session);
    session.send(pdu.response({ system_id: 'nodepeer' }));
  };
  session.on('bind_transceiver', bind('transceiver'));
  session.on('bind_transmitter', bind('transmitter'));
  session.on('bind_receiver', bind('receiver'));
  session.on('enquire_link', (pdu) => { st.enquire_links++; session.send(pdu.response()); });
  session.on('unbind', (pdu) => { st.unbinds++; session.send(pdu.response()); session.close(); });
  session.on('submit_sm', (pdu) => {
    if (session._dropped) return;
    st.submits++;
    session._submits++;
    if (opt['drop-after'] > 0 && !dropped && session._submits >= opt['drop-after']) {
      // The SMSC took this one; the answer never leaves.
      dropped = true;
      session._dropped = true;
      st.drops++;
      st.accepted++;
      const key = pdu.destination_addr + '|' + textOf(pdu);
      if (seen.has(key)) st.duplicates++; else { seen.add(key); st.unique++; }
      session.socket.destroy();
      return;
    }
    throttleAcc += opt['throttle-share'];
    if (throttleAcc >= 1) {
      throttleAcc -= 1;
      st.throttled++;
      session.send(pdu.response({ command_status: smpp.ESME_RTHROTTLED }));
      return;
    }
    const id = String(nextId++);
    st.accepted++;
    const key = pdu.destination_addr + '|' + textOf(pdu);
    if (seen.has(key)) st.duplicates++; else { seen.add(key); st.unique++; }
    session.send(pdu.response({ message_id: id }));
    if (pdu.registered_delivery & 0x03) {
      const now = new Date();
      const text = `id:${id} sub:001 dlvr:001 submit date:${smppDate(now)} done date:${smppDate(now)} ` +
        `stat:DELIVRD err:000 text:${textOf(pdu).slice(0, 20)}`;
      const send = () => {
        const recv = pick(session);
        if (!recv) return;
        st.receipts_sent++;
        recv.deliver_sm({
          source_addr_ton: pdu.dest_addr_ton, source_addr_npi: pdu.dest_addr_npi, source_addr: pdu.destination_addr,
          dest_addr_ton: pdu.source_addr_ton, dest_addr_npi: pdu.source_addr_npi, destination_addr: pdu.source_addr,
          esm_class: 0x04, data_coding: 0, short_message: Buffer.from(text, 'latin1'),
          receipted_message_id: id, message_state: 2,
        }, () => { st.receipts_acked++; });
      };
      if (opt['dlr-delay-ms'] > 0) setTimeout(send, opt['dlr-delay-ms']); else setImmediate(send);
    }
  });
});
server.on('error', (e) => { console.error(e.message); process.exit(1); });
server.listen(opt.port, '127.0.0.1', () => {
  console.log(JSON.stringify({ port: server.address().port }));
});

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const [cmd, ...rest] = line.trim().split(' ');
  if (cmd === 'stats') {
    console.log(JSON.stringify(st));
  } else if (cmd === 'mo') {
    const [from, to, ...words] = rest;
    const recv = pick(null);
    if (!recv) { console.log(JSON.stringify({ mo: 'no receiver' })); return; }
    st.mo_sent++;
    recv.deliver_sm({
      source_addr_ton: 1, source_addr_npi: 1, source_addr: from,
      dest_addr_ton: 0, dest_addr_npi: 1, destination_addr: to,
      esm_class: 0, data_coding: 0, short_message: Buffer.from(words.join(' '), 'latin1'),
    }, () => { st.mo_acked++; });
    console.log(JSON.stringify({ mo: 'sent' }));
  } else if (cmd === 'quit') {
    process.exit(0);
  }
}).on('close', () => process.exit(0));

setTimeout(() => process.exit(0), opt['max-runtime-s'] * 1000).unref();
setInterval(() => {}, 1 << 30);
