//! `pick` throughput: one decision over a table of 10 SMPP links and 8 bank slots, the size the
//! dispatcher budget (10,000 decisions a second on two cores, beside SQLite and HTTP) is about.
//!
//! Run: `cargo bench -p route --bench pick`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use domain::{CarrierId, Msisdn, NumberPolicy, OperatorId, Outcome, UnixMillis};
use route::{Candidate, CarrierKind, MessageView, Policy, RawRouting, pick};

const CONFIG: &str = r#"
[routing.smpp]
window = 10
per_second = 200
[routing.operators.cmcc]
pool = ["cmcc-1", "cmcc-2", "cmcc-3"]
[routing.operators.unicom]
pool = ["unicom-1", "unicom-2", "unicom-3"]
[routing.operators.telecom]
pool = ["telecom-1", "telecom-2"]
"#;

fn setup() -> (Policy, Vec<Candidate>, UnixMillis) {
    #[derive(serde::Deserialize)]
    struct File {
        routing: RawRouting,
    }
    let policy = toml::from_str::<File>(CONFIG)
        .unwrap()
        .routing
        .validate()
        .unwrap();
    let now = UnixMillis(1_717_214_400_000);
    let links = [
        "cmcc-1",
        "cmcc-2",
        "cmcc-3",
        "unicom-1",
        "unicom-2",
        "unicom-3",
        "telecom-1",
        "telecom-2",
        "agg-1",
        "agg-2",
    ];
    let networks = [
        "cmcc", "unicom", "telecom", "cmcc", "cmcc", "unicom", "telecom", "cmcc",
    ];
    let ok = Outcome::Accepted {
        carrier_refs: vec!["1".into()],
    };
    let mut cands = Vec::new();
    for (i, name) in links.iter().enumerate() {
        let mut c = Candidate::new(
            &policy,
            CarrierId::new(name).unwrap(),
            CarrierKind::Smpp,
            now,
        );
        c.up = true;
        // Some history and some load, so every ranking field is computed.
        for _ in 0..i {
            c.on_dispatch(now);
            c.on_outcome(&ok, Duration::from_millis(40 + 5 * i as u64), now);
        }
        c.state.in_flight = (i % 4) as u32;
        cands.push(c);
    }
    for (i, net) in networks.iter().enumerate() {
        let id = CarrierId::new(&format!("bank/slot{i}")).unwrap();
        let mut c = Candidate::new(&policy, id, CarrierKind::BankSlot, now);
        c.up = true;
        c.set_network(&policy, Some(&OperatorId::new(net).unwrap()));
        for _ in 0..(i % 5) {
            c.on_dispatch(now);
            c.on_outcome(&ok, Duration::from_secs(3), now);
        }
        cands.push(c);
    }
    (policy, cands, now)
}

fn bench(c: &mut Criterion) {
    let (policy, cands, now) = setup();
    let to = Msisdn::parse("13800138000", &NumberPolicy::china()).unwrap();
    let mut rotation = 0u32;
    c.bench_function("pick/fresh message (10 links + 8 slots)", |b| {
        b.iter(|| {
            rotation = rotation.wrapping_add(1);
            let msg = MessageView {
                rotation,
                ..MessageView::new(&to)
            };
            black_box(pick(black_box(&cands), &msg, &policy, now))
        })
    });
    let tried = [
        cands[0].id.clone(),
        cands[1].id.clone(),
        cands[2].id.clone(),
    ];
    c.bench_function("pick/own pool tried, rotate to other pools", |b| {
        b.iter(|| {
            let msg = MessageView {
                tried: &tried,
                round: 1,
                attempts: 3,
                ..MessageView::new(&to)
            };
            black_box(pick(black_box(&cands), &msg, &policy, now))
        })
    });
    let mut busy = cands.clone();
    for c in &mut busy {
        c.state.in_flight = c.profile.window;
    }
    c.bench_function("pick/every carrier busy (wait)", |b| {
        b.iter(|| black_box(pick(black_box(&busy), &MessageView::new(&to), &policy, now)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
