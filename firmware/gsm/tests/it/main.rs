//! Integration tests of the `gsm` codec: spec vectors with snapshot dumps, encoders, property
//! tests, and a differential test against python-gsmmodem-new.

mod differential;
mod dump;
mod encode;
mod props;

/// Decodes a hex string into bytes, panicking on bad test data.
pub(crate) fn bytes(hex: &str) -> Vec<u8> {
    let mut out = vec![0u8; hex.len() / 2];
    let n = gsm::hex::decode(hex, &mut out).expect("test hex is valid");
    out.truncate(n);
    out
}

/// Upper-case hex of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    gsm::Hex(bytes).to_string()
}
