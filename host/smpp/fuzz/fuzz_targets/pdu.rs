//! Fuzzes PDU decoding of arbitrary bytes: the framing codec over a stream, single-PDU decoding
//! (with the receipt repair path), and the message views built from decoded PDUs. Nothing may
//! panic; a long message split into submit_sm PDUs decodes and rejoins to the same octets.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use rusmpp::Pdu;
use smpp::frame::{Frame, PduCodec, decode_pdu, encode};
use smpp::message::{Address, LongMode, ShortMessage, SubmitRequest, Units, split};
use smpp::receipt::{parse, receipt_text};
use tokio_util::codec::Decoder;

fn views(frame: &Frame) {
    let Frame::Command(cmd) = frame else { return };
    let sm = match cmd.pdu() {
        Some(Pdu::DeliverSm(d)) => ShortMessage::from_deliver_sm(d),
        Some(Pdu::DataSm(d)) => ShortMessage::from_data_sm(d),
        Some(Pdu::SubmitSm(d)) => ShortMessage::from_submit_sm(d),
        _ => return,
    };
    let _ = (sm.udh(), sm.user_data(), sm.concat(), sm.is_receipt());
    let text = receipt_text(sm.data_coding, sm.payload());
    let _ = parse(&text, &sm.receipt_tlvs);
}

fn built(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let mode = [LongMode::Udh, LongMode::Sar, LongMode::Payload][usize::from(sel % 3)];
    let units = [Units::Gsm7Unpacked, Units::Ucs2, Units::Octets][usize::from((sel / 3) % 3)];
    let Ok(parts) = split(rest, units, mode, u16::from(sel)) else {
        return;
    };
    let mut joined = Vec::new();
    for part in parts {
        let mut req = SubmitRequest::new(
            Address::alphanumeric("Fuzz"),
            Address::international("4917"),
            8,
            part.body,
        );
        req.esm_class = part.esm_class;
        let Ok(pdu) = req.to_pdu() else { return };
        let wire = encode(&rusmpp::Command::new(
            rusmpp::CommandStatus::EsmeRok,
            1,
            pdu,
        ));
        let Frame::Command(cmd) = decode_pdu(&wire) else {
            panic!("a submit_sm we built does not decode");
        };
        let Some(Pdu::SubmitSm(sm)) = cmd.pdu() else {
            panic!("not a submit_sm")
        };
        joined.extend_from_slice(ShortMessage::from_submit_sm(sm).user_data());
    }
    assert_eq!(joined, rest, "split parts do not rejoin");
}

fuzz_target!(|data: &[u8]| {
    // As one PDU.
    let frame = decode_pdu(data);
    views(&frame);
    // What we build from any content decodes back to the same fields. (Re-encoding a *peer's*
    // PDU is not checked: rusmpp accepts some malformed TLVs, e.g. a C-string value shorter
    // than its value_length, that it then cannot re-encode faithfully; we never re-encode.)
    built(data);
    // As a stream, in two chunks split at the first octet's value.
    let mut codec = PduCodec::new(4096);
    let cut = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let mut buf = BytesMut::from(&data[..cut]);
    let mut fed = false;
    for _ in 0..64 {
        match codec.decode(&mut buf) {
            Ok(Some(f)) => views(&f),
            Ok(None) if !fed => {
                buf.extend_from_slice(&data[cut..]);
                fed = true;
            }
            Ok(None) | Err(_) => break,
        }
    }
});
