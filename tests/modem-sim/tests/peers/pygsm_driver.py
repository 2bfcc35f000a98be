#!/usr/bin/env python3
"""Drives python-gsmmodem-new (0.13) against one modem, for tests/it/peers.rs.

Usage: pygsm_driver.py PORT pdu|text

Connects, sends a GSM-7, a UCS-2 and a 3-part message, each with waitForDeliveryReport=True,
then waits for one inbound SMS. Prints one line per result on stdout (the Rust test reads them
and injects the inbound SMS when it sees WAIT-INBOUND):

    CONNECTED
    SENT <label> <reference> DELIVERED|NO-REPORT
    WAIT-INBOUND
    RECEIVED <number> <text as a Python repr>

Exits 0 when everything happened, non-zero otherwise. Every wait is bounded.
"""
import logging
import sys
import threading
import time

from gsmmodem.modem import GsmModem, SentSms

DEST = "+4712345678"
LONG = ("Long message part test 0123456789 " * 12)[:400]


def main():
    port, mode = sys.argv[1], sys.argv[2]
    logging.basicConfig(level=logging.DEBUG if "-v" in sys.argv else logging.WARNING)
    received = []
    got = threading.Event()

    def on_sms(sms):
        received.append(sms)
        got.set()

    modem = GsmModem(port, 115200, smsReceivedCallbackFunc=on_sms)
    modem.smsTextMode = mode == "text"
    modem.connect()
    print("CONNECTED", flush=True)
    modem.waitForNetworkCoverage(10)
    ok = True
    for label, text in (("gsm7", "Hello from python-gsmmodem"), ("ucs2", "Привет ÆØÅ 你好"), ("long", LONG)):
        sms = modem.sendSms(DEST, text, waitForDeliveryReport=True, deliveryTimeout=20)
        # The report that woke sendSms may belong to an earlier part; wait for this one's.
        deadline = time.monotonic() + 20
        while sms.status == SentSms.ENROUTE and time.monotonic() < deadline:
            time.sleep(0.05)
        delivered = sms.status == SentSms.DELIVERED
        ok = ok and delivered
        print("SENT", label, sms.reference, "DELIVERED" if delivered else "NO-REPORT", flush=True)
    print("WAIT-INBOUND", flush=True)
    if not got.wait(20):
        print("INBOUND-TIMEOUT", flush=True)
        modem.close()
        return 3
    sms = received[0]
    print("RECEIVED", sms.number, repr(sms.text), flush=True)
    modem.close()
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main())
