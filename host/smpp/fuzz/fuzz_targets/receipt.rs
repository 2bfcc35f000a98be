//! Fuzzes the receipt parser: any text (as SMSCs send it, in any data coding) with any TLVs
//! must parse or fail with a typed error, never panic; ids survive canonicalisation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smpp::receipt::{
    IdFormat, IdSource, ReceiptTime, ReceiptTlvs, canonical_id, normalise_ids, parse, parse_text,
    receipt_text,
};

fuzz_target!(|data: &[u8]| {
    // First octet: data coding and whether TLVs are present; then an optional TLV id up to a
    // 0xFF separator; the rest is the receipt text.
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (tlv_id, text) = match rest.iter().position(|&b| b == 0xFF) {
        Some(i) if flags & 0x80 != 0 => (Some(&rest[..i]), &rest[i + 1..]),
        _ => (None, rest),
    };
    let dcs = if flags & 1 == 1 { 8 } else { 0 };
    let text = receipt_text(dcs, text);
    let tlvs = ReceiptTlvs {
        receipted_message_id: tlv_id.map(|b| b.iter().map(|&c| char::from(c)).collect()),
        message_state: (flags & 0x40 != 0).then_some(flags & 0x0F),
        network_error: None,
    };
    let _ = parse_text(&text);
    if let Ok(r) = parse(&text, &tlvs) {
        assert!(!r.message_id.is_empty());
        for format in [
            IdFormat::Same,
            IdFormat::SubmitHexReceiptDecimal,
            IdFormat::SubmitDecimalReceiptHex,
            IdFormat::BothHex,
        ] {
            let c = canonical_id(&r.message_id, IdSource::Receipt, format);
            // Canonical forms are fixed points for `Same`.
            if format == IdFormat::Same {
                assert_eq!(canonical_id(&c, IdSource::SubmitResp, format), c);
            }
        }
        let _ = normalise_ids(&r.message_id);
        if let Some(d) = r.submit_date {
            let _ = d.to_unix_millis_utc();
            let _ = d.to_smpp10();
        }
    }
    let _ = ReceiptTime::parse(&text);
});
