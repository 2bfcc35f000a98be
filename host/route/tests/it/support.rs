//! Test support: a small language for carrier tables and messages, so each rule is one line.

use std::time::Duration;

use domain::{CarrierId, Msisdn, NumberPolicy, OperatorId, Outcome, Priority, UnixMillis};
use route::{
    AttemptResult, Candidate, CarrierKind, Decision, MessageView, Policy, RawRouting, pick,
};

/// 2024-06-01T04:00:00Z, noon in Beijing.
pub(crate) const NOW: UnixMillis = UnixMillis(1_717_214_400_000);

/// The pools most scenarios use.
pub(crate) const POOLS: &str = r#"
[routing.operators.cmcc]
pool = ["cmcc-1", "cmcc-2"]
[routing.operators.unicom]
pool = ["unicom-1"]
[routing.carriers.cmcc-1]
covers = ["cmcc"]
[routing.carriers.cmcc-2]
covers = ["cmcc"]
"#;

pub(crate) fn policy(toml_text: &str) -> Policy {
    #[derive(serde::Deserialize)]
    struct File {
        #[serde(default)]
        routing: RawRouting,
    }
    let file: File = toml::from_str(toml_text).expect("test config parses");
    file.routing.validate().expect("test config is valid")
}

pub(crate) fn id(s: &str) -> CarrierId {
    CarrierId::new(s).unwrap()
}

pub(crate) fn op(s: &str) -> OperatorId {
    OperatorId::new(s).unwrap()
}

pub(crate) fn number(s: &str) -> Msisdn {
    Msisdn::parse(s, &NumberPolicy::with_region("CN", false).unwrap()).unwrap()
}

pub(crate) fn accepted() -> Outcome {
    Outcome::Accepted {
        carrier_refs: vec!["ref".into()],
    }
}

/// Builds the candidate table from lines `name kind [modifiers]`; kinds `smpp`, `bank`, `usb`;
/// modifiers: `down`, `off`, `full`, `inflight=N`, `sent=N`, `open`, `half`, `lat=MS`, `fail`,
/// `paused`, `empty`, `net=OPERATOR`.
pub(crate) fn table(p: &Policy, spec: &str) -> Vec<Candidate> {
    spec.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next().unwrap();
            let kind = match words.next().unwrap() {
                "smpp" => CarrierKind::Smpp,
                "bank" => CarrierKind::BankSlot,
                "usb" => CarrierKind::Modem,
                k => panic!("unknown kind {k}"),
            };
            let mut c = Candidate::new(p, id(name), kind, UnixMillis(NOW.0 - 3_600_000));
            c.up = true;
            for m in words {
                modify(p, &mut c, m);
            }
            c
        })
        .collect()
}

fn modify(p: &Policy, c: &mut Candidate, m: &str) {
    let (key, value) = m.split_once('=').unwrap_or((m, ""));
    let n = || value.parse::<u32>().unwrap();
    let h = &mut c.state.health;
    match key {
        "down" => c.up = false,
        "off" => c.enabled = false,
        "full" => c.state.in_flight = c.profile.window,
        "inflight" => c.state.in_flight = n(),
        "sent" => {
            for _ in 0..n() {
                c.on_dispatch(UnixMillis(NOW.0 - 1000));
                c.on_outcome(&accepted(), Duration::ZERO, UnixMillis(NOW.0 - 1000));
            }
            // Those successes set the latency average to zero; keep health neutral.
        }
        "open" => {
            for _ in 0..5 {
                h.record(AttemptResult::Failure, Duration::ZERO, NOW);
            }
        }
        "half" => {
            for _ in 0..5 {
                h.record(
                    AttemptResult::Failure,
                    Duration::ZERO,
                    UnixMillis(NOW.0 - 31_000),
                );
            }
        }
        "lat" => h.record(
            AttemptResult::Success,
            Duration::from_millis(u64::from(n())),
            NOW,
        ),
        "fail" => h.record(AttemptResult::Failure, Duration::ZERO, NOW),
        "paused" => h.record(
            AttemptResult::Throttled {
                until: UnixMillis(NOW.0 + 5000),
            },
            Duration::ZERO,
            NOW,
        ),
        "empty" => {
            let b = c.state.bucket.as_mut().expect("`empty` needs a rate");
            while b.available(NOW) {
                b.take(NOW);
            }
        }
        "net" => {
            let o = op(value);
            c.set_network(p, Some(&o));
        }
        _ => panic!("unknown modifier {m}"),
    }
}

/// Owned message fields, parsed from `to=NUMBER [tried=a,b] [round=N] [attempts=N] [prio=N]
/// [bulk] [nb=+MS] [exp=+MS] [avoid=op,op] [rot=N] [jitter=N]`.
pub(crate) struct Msg {
    pub(crate) to: Msisdn,
    pub(crate) tried: Vec<CarrierId>,
    pub(crate) avoid: Vec<OperatorId>,
    pub(crate) round: u32,
    pub(crate) attempts: u32,
    pub(crate) priority: Priority,
    pub(crate) bulk: bool,
    pub(crate) not_before: Option<UnixMillis>,
    pub(crate) expires_at: Option<UnixMillis>,
    pub(crate) rotation: u32,
    pub(crate) jitter: u32,
}

pub(crate) fn msg(spec: &str) -> Msg {
    let mut m = Msg {
        to: number("13800138000"),
        tried: vec![],
        avoid: vec![],
        round: 0,
        attempts: 0,
        priority: Priority::NORMAL,
        bulk: false,
        not_before: None,
        expires_at: None,
        rotation: 0,
        jitter: 0,
    };
    let rel = |v: &str| UnixMillis(NOW.0 + v.parse::<i64>().unwrap());
    for word in spec.split_whitespace() {
        let (k, v) = word.split_once('=').unwrap_or((word, ""));
        match k {
            "to" => m.to = number(v),
            "tried" => m.tried = v.split(',').map(id).collect(),
            "avoid" => m.avoid = v.split(',').map(op).collect(),
            "round" => m.round = v.parse().unwrap(),
            "attempts" => m.attempts = v.parse().unwrap(),
            "prio" => m.priority = Priority::new(v.parse().unwrap()).unwrap(),
            "bulk" => m.bulk = true,
            "nb" => m.not_before = Some(rel(v)),
            "exp" => m.expires_at = Some(rel(v)),
            "rot" => m.rotation = v.parse().unwrap(),
            "jitter" => m.jitter = v.parse().unwrap(),
            _ => panic!("unknown message field {word}"),
        }
    }
    m
}

impl Msg {
    pub(crate) fn view(&self) -> MessageView<'_> {
        MessageView {
            destination: &self.to,
            priority: self.priority,
            bulk: self.bulk,
            not_before: self.not_before,
            expires_at: self.expires_at,
            tried: &self.tried,
            round: self.round,
            attempts: self.attempts,
            avoid_operators: &self.avoid,
            jitter: self.jitter,
            rotation: self.rotation,
        }
    }
}

/// A decision as one line: `send NAME via TIER`, `wait +MS REASON`, `round N +MS`,
/// `fail REASON`, `expire`.
pub(crate) fn describe(d: &Decision, cands: &[Candidate], now: UnixMillis) -> String {
    match d {
        Decision::Send { index, tier } => {
            format!("send {} via {}", cands[*index].id, tier.as_str())
        }
        Decision::Wait { until, reason } => format!("wait +{} {reason}", until.0 - now.0),
        Decision::NextRound { round, at } => format!("round {round} +{}", at.0 - now.0),
        Decision::Fail { reason } => format!("fail {reason}"),
        Decision::Expire => "expire".to_owned(),
    }
}

/// Runs one scenario: config, carrier table, message; compares the decision's description.
pub(crate) fn check(config: &str, carriers: &str, message: &str, expect: &str) {
    check_at(config, carriers, message, NOW, expect);
}

pub(crate) fn check_at(config: &str, carriers: &str, message: &str, now: UnixMillis, expect: &str) {
    let p = policy(config);
    let cands = table(&p, carriers);
    let m = msg(message);
    let d = pick(&cands, &m.view(), &p, now);
    assert_eq!(
        describe(&d, &cands, now),
        expect,
        "\ncarriers:\n{carriers}\nmessage: {message}"
    );
}
