//! Receipt text as SMSCs write it (SMPP 3.4 Appendix B) and the outcome draw.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::OutcomeMix;

/// One drawn outcome: the `stat:` word, the `message_state` value (SMPP 5.0 §4.8.4.37) and the
/// `err:` code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub(crate) stat: &'static str,
    pub(crate) state: u8,
    pub(crate) err: &'static str,
}

/// Draws an outcome from the weights; `None` means "send no receipt".
pub(crate) fn draw(mix: &OutcomeMix, rng: &mut fastrand::Rng) -> Option<Outcome> {
    let weights = [
        mix.delivered,
        mix.undeliverable,
        mix.expired,
        mix.rejected,
        mix.none,
    ];
    let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
    if total == 0 {
        return None;
    }
    let mut pick = rng.u64(0..total);
    let mut idx = 0;
    for (i, w) in weights.iter().enumerate() {
        if pick < u64::from(*w) {
            idx = i;
            break;
        }
        pick -= u64::from(*w);
    }
    match idx {
        0 => Some(Outcome {
            stat: "DELIVRD",
            state: 2,
            err: "000",
        }),
        1 => Some(Outcome {
            stat: "UNDELIV",
            state: 5,
            err: "001",
        }),
        2 => Some(Outcome {
            stat: "EXPIRED",
            state: 3,
            err: "000",
        }),
        3 => Some(Outcome {
            stat: "REJECTD",
            state: 8,
            err: "002",
        }),
        _ => None,
    }
}

/// `id:… sub:001 dlvr:… submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:… err:… text:…`
/// with the first 20 characters of the message.
pub(crate) fn text(
    id: &str,
    o: Outcome,
    submitted: SystemTime,
    done: SystemTime,
    msg: &str,
) -> String {
    let excerpt: String = msg.chars().take(20).collect();
    format!(
        "id:{id} sub:001 dlvr:{} submit date:{} done date:{} stat:{} err:{} text:{excerpt}",
        if o.state == 2 { "001" } else { "000" },
        smpp_date(submitted),
        smpp_date(done),
        o.stat,
        o.err,
    )
}

/// YYMMDDhhmm in UTC.
fn smpp_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil from days, Howard Hinnant's algorithm (public domain).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{:02}{:02}{:02}{:02}{:02}",
        year % 100,
        month,
        day,
        rem / 3600,
        (rem % 3600) / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_and_text() {
        let t = UNIX_EPOCH + Duration::from_secs(1_709_209_800); // 2024-02-29 12:30 UTC
        assert_eq!(smpp_date(t), "2402291230");
        let o = Outcome {
            stat: "DELIVRD",
            state: 2,
            err: "000",
        };
        assert_eq!(
            text("42", o, t, t, "hello there, a long message text"),
            "id:42 sub:001 dlvr:001 submit date:2402291230 done date:2402291230 stat:DELIVRD err:000 text:hello there, a long "
        );
    }

    #[test]
    fn draw_follows_weights() {
        let mut rng = fastrand::Rng::with_seed(1);
        let mix = OutcomeMix {
            delivered: 95,
            undeliverable: 3,
            expired: 0,
            rejected: 0,
            none: 2,
        };
        let mut counts = [0u32; 3];
        for _ in 0..10_000 {
            match draw(&mix, &mut rng).map(|o| o.stat) {
                Some("DELIVRD") => counts[0] += 1,
                Some("UNDELIV") => counts[1] += 1,
                None => counts[2] += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!((9_300..9_700).contains(&counts[0]), "{counts:?}");
        assert!((200..400).contains(&counts[1]), "{counts:?}");
        assert!((100..300).contains(&counts[2]), "{counts:?}");
        let none = OutcomeMix {
            delivered: 0,
            ..mix
        };
        assert!(
            draw(
                &OutcomeMix {
                    undeliverable: 0,
                    none: 0,
                    ..none
                },
                &mut rng
            )
            .is_none()
        );
    }
}
