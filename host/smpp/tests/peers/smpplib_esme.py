#!/usr/bin/env python3
"""An independent ESME (PyPI `smpplib` 2.2.4) driving Outpost's SMPP server, for interop tests.

Loopback only, bounded in count and time. Prints one JSON object as its last line:
bad-bind status, submits and their answers, receipts (and whether their ids match the
submit_sm_resp ids), long messages in UDH / SAR / message_payload form, a query_sm answer.
"""
import argparse
import json
import socket
import sys
import time

import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm


def client(port, timeout):
    c = smpplib.client.Client('127.0.0.1', port, timeout=timeout, allow_unknown_opt_params=True)
    c.connect()
    # smpplib does not set TCP_NODELAY itself (see the bench notes).
    c._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--port', type=int, required=True)
    ap.add_argument('--system-id', default='app')
    ap.add_argument('--password', default='secret')
    ap.add_argument('--count', type=int, default=100)
    ap.add_argument('--window', type=int, default=10)
    ap.add_argument('--max-seconds', type=float, default=30)
    a = ap.parse_args()
    out = {}
    deadline = time.monotonic() + a.max_seconds

    # 1. A wrong password is refused with ESME_RINVPASWD.
    c = client(a.port, 5)
    try:
        c.bind_transceiver(system_id=a.system_id, password='wrong')
        out['bad_bind_status'] = 0
    except smpplib.exceptions.PDUError as e:
        out['bad_bind_status'] = e.args[1]
    c.disconnect()

    # 2. Bind and submit with a window, asking for receipts.
    c = client(a.port, 5)
    c.bind_transceiver(system_id=a.system_id, password=a.password)
    pending = set()
    ids = []
    errors = {}
    receipts = []
    query_state = []

    def on_sent(pdu, **kw):
        pending.discard(pdu.sequence)
        if pdu.status == 0:
            ids.append(pdu.message_id.decode() if isinstance(pdu.message_id, bytes) else str(pdu.message_id))

    def on_err(pdu):
        pending.discard(pdu.sequence)
        errors[pdu.status] = errors.get(pdu.status, 0) + 1

    def on_rx(pdu, **kw):
        if pdu.esm_class & 0x04:
            text = pdu.short_message.decode('latin1') if isinstance(pdu.short_message, bytes) else str(pdu.short_message)
            rid = pdu.receipted_message_id
            rid = rid.decode() if isinstance(rid, bytes) else rid
            text_id = next((t[3:] for t in text.split() if t.startswith('id:')), None)
            stat = next((t[5:] for t in text.split() if t.startswith('stat:')), None)
            receipts.append({'tlv_id': rid, 'text_id': text_id, 'stat': stat})
        return 0

    def on_query(pdu, **kw):
        query_state.append(int(pdu.message_state))

    c.set_message_sent_handler(on_sent)
    c.set_error_pdu_handler(on_err)
    c.set_message_received_handler(on_rx)
    c.set_query_resp_handler(on_query)
    c._socket.settimeout(1.0)

    def pump():
        try:
            c.read_once(auto_send_enquire_link=False)
        except socket.timeout:
            pass

    sent = 0
    while sent < a.count and time.monotonic() < deadline:
        while len(pending) < a.window and sent < a.count:
            p = c.send_message(source_addr_ton=5, source_addr='App', dest_addr_ton=1, dest_addr_npi=1,
                               destination_addr='49170%05d' % sent, short_message=b'smpplib n:%d' % sent,
                               data_coding=0, registered_delivery=1)
            pending.add(p.sequence)
            sent += 1
        pump()
    while pending and time.monotonic() < deadline:
        pump()
    out['sent'] = sent
    out['resp_ok'] = len(ids)
    out['resp_errors'] = errors

    # 3. Long messages: UDH parts, SAR parts, one message_payload.
    long_text = 'outpost long message ' * 12
    parts, coding, esm = smpplib.gsm.make_parts(long_text)
    for part in parts:
        p = c.send_message(source_addr_ton=5, source_addr='App', dest_addr_ton=1, destination_addr='4917099',
                           short_message=part, data_coding=coding, esm_class=esm)
        pending.add(p.sequence)
    sar_parts, coding, _ = smpplib.gsm.make_parts(long_text, use_udhi=False)
    for i, part in enumerate(sar_parts):
        p = c.send_message(source_addr_ton=5, source_addr='App', dest_addr_ton=1, destination_addr='4917098',
                           short_message=part, data_coding=coding, sar_msg_ref_num=0x4242,
                           sar_total_segments=len(sar_parts), sar_segment_seqnum=i + 1)
        pending.add(p.sequence)
    p = c.send_message(source_addr_ton=5, source_addr='App', dest_addr_ton=1, destination_addr='4917097',
                       short_message=b'', data_coding=0, message_payload=long_text[:250].encode())
    pending.add(p.sequence)
    out['long_parts'] = {'udh': len(parts), 'sar': len(sar_parts), 'payload': 1}
    while pending and time.monotonic() < deadline:
        pump()

    # 4. query_sm for the first message.
    if ids:
        c.query_message(message_id=ids[0], source_addr_ton=5, source_addr_npi=0, source_addr='App')
        while not query_state and time.monotonic() < deadline:
            pump()
    out['query_state'] = query_state[0] if query_state else None

    # 5. Receipts for every submit.
    while len(receipts) < out['resp_ok'] and time.monotonic() < deadline:
        pump()
    idset = set(ids)
    out['receipts'] = len(receipts)
    out['receipts_matched'] = sum(1 for r in receipts if r['tlv_id'] in idset and r['text_id'] in idset)
    out['receipt_stats'] = sorted({r['stat'] for r in receipts})
    try:
        c.unbind()
        out['unbound'] = True
    except Exception as e:  # noqa: BLE001 - report, do not crash
        out['unbound'] = repr(e)
    c.disconnect()
    print(json.dumps(out))
    return 0


if __name__ == '__main__':
    sys.exit(main())
