//! Fuzzes every response parser with arbitrary lines: typed errors, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modem::command::general::{Ati, CfunQuery, Cgmm};
use modem::command::network::{CopsQuery, Csq, RegQuery};
use modem::command::sim::{Cimi, CpinQuery, IccidCommand, ReadIccid};
use modem::command::sms::{Cmgl, Cmgr, Cmgs, CpmsQuery, CpmsSet, CscaQuery, ListEntry};
use modem::command::{AtCommand, ResponseBuf};
use modem::digest::{Mem, RegKind};
use modem::error::{CmeError, CmsError};
use modem::params::{params, split_name};
use modem::profile::ProfileKind;

fn all<C: AtCommand>(cmd: C, r: &modem::command::Response<'_>) {
    let _ = cmd.parse(r);
}

fuzz_target!(|data: &[u8]| {
    let mut buf: ResponseBuf<512> = ResponseBuf::new();
    for line in data.split(|b| *b == b'\n') {
        buf.push(line);
        let _ = ListEntry::parse(line);
        let _ = CmeError::parse(line);
        let _ = CmsError::parse(line);
        if let Some((_, rest)) = split_name(line) {
            for p in params(rest) {
                let _ = (p.int(), p.str(), p.is_empty());
            }
        }
    }
    let r = buf.response();
    all(Ati, &r);
    all(Cgmm, &r);
    all(CfunQuery, &r);
    all(Csq, &r);
    all(CopsQuery, &r);
    all(RegQuery(RegKind::Cs), &r);
    all(RegQuery(RegKind::Eps), &r);
    all(CpinQuery, &r);
    all(Cimi, &r);
    all(ReadIccid(IccidCommand::Huawei), &r);
    all(Cmgs { tpdu_len: 27 }, &r);
    all(Cmgr(1), &r);
    all(Cmgl(4), &r);
    all(CpmsQuery, &r);
    all(CscaQuery, &r);
    all(CpmsSet { mem1: Mem::Sm, mem2: None, mem3: None }, &r);
    let _ = ProfileKind::detect(data);
});
