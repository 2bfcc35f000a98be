"""Bridge to python-gsmmodem-new's gsmmodem.pdu for the differential test.

Reads one JSON request per line on stdin, writes one JSON answer per line on stdout.
"""
import json
import sys
from datetime import timedelta

from gsmmodem import pdu as P


def join_surrogates(s):
    # decodeUcs2 yields one code point per UTF-16 unit; join pairs so texts compare.
    return s.encode("utf-16-be", "surrogatepass").decode("utf-16-be", "replace")


def encode(req):
    validity = None
    if req.get("validity_s") is not None:
        validity = timedelta(seconds=req["validity_s"])
    pdus = P.encodeSmsSubmitPdu(
        req["number"], req["text"], reference=req["reference"], validity=validity,
        smsc=req.get("smsc"), requestStatusReport=req["srr"], sendFlash=req["flash"])
    return {"pdus": [[str(p), p.tpduLength] for p in pdus]}


def decode(req):
    d = P.decodeSmsPdu(req["pdu"])
    out = {"type": d["type"], "smsc": d.get("smsc"), "number": d.get("number"),
           "tpdu_length": d.get("tpdu_length")}
    if "text" in d:
        out["text"] = join_surrogates(d["text"])
    for k in ("time", "discharge"):
        if k in d:
            out[k] = d[k].isoformat()
    for k in ("reference", "status", "protocol_id"):
        if k in d:
            out[k] = d[k]
    if "validity" in d:
        v = d["validity"]
        out["validity"] = v.total_seconds() if isinstance(v, timedelta) else v.isoformat()
    udh = []
    for ie in d.get("udh", []):
        e = {"iei": ie.id}
        for k in ("reference", "parts", "number", "destination", "source"):
            if hasattr(ie, k):
                e[k] = getattr(ie, k)
        udh.append(e)
    out["udh"] = udh
    return out


for line in sys.stdin:
    req = json.loads(line)
    try:
        ans = encode(req) if req["op"] == "encode" else decode(req)
    except Exception as e:  # the peer's failures are data for the test
        ans = {"error": "%s: %s" % (type(e).__name__, e)}
    sys.stdout.write(json.dumps(ans, ensure_ascii=False) + "\n")
    sys.stdout.flush()
