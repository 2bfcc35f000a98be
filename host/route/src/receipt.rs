//! What a delivery report, or its absence, means (DESIGN "Message lifecycle" step 5): a final
//! state, or, where a route asks for it, a re-send through a *different operator channel*.
//!
//! The rule is per destination operator (`routing.operators.<op>.resend`, else
//! `routing.resend`). A re-send goes back to [`crate::pick`] with the failed channel's operator in
//! [`crate::MessageView::avoid_operators`] and every carrier that carried the message in
//! [`crate::MessageView::tried`], so no carrier is used twice for one message. Billing counts
//! delivered parts only, so a re-sent message is billed once, for the delivery that succeeded.
//!
//! The functions judge one report for one part; a multipart message is delivered when every part
//! is, and the store combines the parts.

use domain::{DlrStatus, MessageState, Msisdn, OperatorId, UnixMillis};

use crate::config::normalise_code;
use crate::policy::{Policy, ResendRule};

/// What the store knows about a submitted message.
#[derive(Clone, Copy, Debug)]
pub struct Submission<'a> {
    /// Where it went.
    pub destination: &'a Msisdn,
    /// The operator channel of the carrier that carried it ([`crate::channel_of`]), if known.
    pub channel: Option<&'a OperatorId>,
    /// Re-sends so far.
    pub resends: u32,
    /// When the carrier accepted it.
    pub submitted_at: UnixMillis,
}

/// What to do after a delivery report or a receipt timeout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReceiptDecision {
    /// Nothing final yet (an intermediate report, or no receipt and no rule to act on).
    Pending,
    /// The part's life is over in this state (`Delivered`, `Undeliverable` or `Expired`).
    Final(MessageState),
    /// Send it again, avoiding this operator channel (and every carrier used before).
    Resend {
        /// The channel that failed, if known.
        avoid_operator: Option<OperatorId>,
    },
}

fn rule<'p>(policy: &'p Policy, sub: &Submission<'_>) -> Option<&'p ResendRule> {
    policy
        .resend_rule(policy.operator_of(sub.destination.digits()))
        .filter(|r| sub.resends < r.max())
}

fn resend(sub: &Submission<'_>) -> ReceiptDecision {
    ReceiptDecision::Resend {
        avoid_operator: sub.channel.cloned(),
    }
}

/// Judges a delivery report with `status` and the receipt's error code (`err:` of an SMPP
/// receipt, or the TP-ST of a modem status report, as text).
pub fn on_receipt(
    policy: &Policy,
    sub: &Submission<'_>,
    status: DlrStatus,
    error_code: Option<&str>,
) -> ReceiptDecision {
    let final_state = match status {
        DlrStatus::Enroute => return ReceiptDecision::Pending,
        DlrStatus::Delivered => return ReceiptDecision::Final(MessageState::Delivered),
        DlrStatus::Expired => MessageState::Expired,
        DlrStatus::Undeliverable
        | DlrStatus::Rejected
        | DlrStatus::Deleted
        | DlrStatus::Unknown => MessageState::Undeliverable,
    };
    let Some(rule) = rule(policy, sub) else {
        return ReceiptDecision::Final(final_state);
    };
    let code_matches = rule.error_codes().is_empty()
        || error_code.is_some_and(|c| {
            let c = normalise_code(c);
            rule.error_codes().contains(&c)
        });
    if rule.on().contains(&status) && code_matches {
        resend(sub)
    } else {
        ReceiptDecision::Final(final_state)
    }
}

/// When to call [`on_missing_receipt`] for a submission, if its route re-sends on a missing
/// receipt and has re-sends left.
pub fn receipt_deadline(policy: &Policy, sub: &Submission<'_>) -> Option<UnixMillis> {
    let after = rule(policy, sub)?.missing_after()?;
    Some(sub.submitted_at.plus(after))
}

/// Judges a submission with no final report by `now`: re-send if its route says so and the
/// deadline has passed, otherwise keep waiting.
pub fn on_missing_receipt(
    policy: &Policy,
    sub: &Submission<'_>,
    now: UnixMillis,
) -> ReceiptDecision {
    match receipt_deadline(policy, sub) {
        Some(deadline) if now >= deadline => resend(sub),
        _ => ReceiptDecision::Pending,
    }
}

#[cfg(test)]
mod tests {
    use domain::NumberPolicy;

    use super::*;
    use crate::config::RawRouting;

    fn policy(toml_text: &str) -> Policy {
        #[derive(serde::Deserialize)]
        struct File {
            routing: RawRouting,
        }
        toml::from_str::<File>(toml_text)
            .unwrap()
            .routing
            .validate()
            .unwrap()
    }

    const RULES: &str = r#"
        [routing.resend]
        on = ["undeliverable", "rejected", "expired"]
        error_codes = ["001", "0x0b"]
        missing_after = "30m"
        max = 1
        [routing.operators.telecom.resend]
        enabled = false
    "#;

    /// `number` (national), `status`, `code`, `resends` → decision as text.
    fn check(
        p: &Policy,
        number: &str,
        status: DlrStatus,
        code: Option<&str>,
        resends: u32,
        expect: &str,
    ) {
        let dest = Msisdn::parse(number, &NumberPolicy::china()).unwrap();
        let cmcc = OperatorId::new("cmcc").unwrap();
        let sub = Submission {
            destination: &dest,
            channel: Some(&cmcc),
            resends,
            submitted_at: UnixMillis(0),
        };
        let got = match on_receipt(p, &sub, status, code) {
            ReceiptDecision::Pending => "pending".to_owned(),
            ReceiptDecision::Final(s) => s.as_str().to_owned(),
            ReceiptDecision::Resend { avoid_operator } => {
                format!(
                    "resend avoiding {}",
                    avoid_operator.map_or("-".into(), |o| o.to_string())
                )
            }
        };
        assert_eq!(
            got, expect,
            "{number} {status:?} {code:?} resends={resends}"
        );
    }

    #[test]
    fn receipts_without_a_rule_are_final() {
        let p = Policy::default();
        let n = "13800138000";
        check(&p, n, DlrStatus::Delivered, None, 0, "delivered");
        check(&p, n, DlrStatus::Enroute, None, 0, "pending");
        check(
            &p,
            n,
            DlrStatus::Undeliverable,
            Some("001"),
            0,
            "undeliverable",
        );
        check(&p, n, DlrStatus::Rejected, None, 0, "undeliverable");
        check(&p, n, DlrStatus::Deleted, None, 0, "undeliverable");
        check(&p, n, DlrStatus::Unknown, None, 0, "undeliverable");
        check(&p, n, DlrStatus::Expired, None, 0, "expired");
    }

    #[test]
    fn negative_receipts_resend_through_another_channel() {
        let p = policy(RULES);
        let n = "13800138000"; // cmcc
        check(
            &p,
            n,
            DlrStatus::Undeliverable,
            Some("001"),
            0,
            "resend avoiding cmcc",
        );
        check(
            &p,
            n,
            DlrStatus::Undeliverable,
            Some("1"),
            0,
            "resend avoiding cmcc",
        );
        check(
            &p,
            n,
            DlrStatus::Rejected,
            Some("0x0B"),
            0,
            "resend avoiding cmcc",
        );
        check(
            &p,
            n,
            DlrStatus::Expired,
            Some("001"),
            0,
            "resend avoiding cmcc",
        );
        // An error code outside the list, or none, is final.
        check(
            &p,
            n,
            DlrStatus::Undeliverable,
            Some("002"),
            0,
            "undeliverable",
        );
        check(&p, n, DlrStatus::Undeliverable, None, 0, "undeliverable");
        // A status outside the list is final.
        check(&p, n, DlrStatus::Deleted, Some("001"), 0, "undeliverable");
        // Delivered and intermediate reports never re-send.
        check(&p, n, DlrStatus::Delivered, Some("001"), 0, "delivered");
        check(&p, n, DlrStatus::Enroute, Some("001"), 0, "pending");
        // The budget: one re-send.
        check(
            &p,
            n,
            DlrStatus::Undeliverable,
            Some("001"),
            1,
            "undeliverable",
        );
        // Telecom destinations have re-sending switched off.
        check(
            &p,
            "18912345678",
            DlrStatus::Undeliverable,
            Some("001"),
            0,
            "undeliverable",
        );
    }

    #[test]
    fn any_error_code_when_the_list_is_empty() {
        let p = policy("[routing.resend]\nmax = 2");
        let n = "13800138000";
        check(
            &p,
            n,
            DlrStatus::Undeliverable,
            None,
            0,
            "resend avoiding cmcc",
        );
        check(
            &p,
            n,
            DlrStatus::Undeliverable,
            Some("x"),
            1,
            "resend avoiding cmcc",
        );
        check(&p, n, DlrStatus::Undeliverable, None, 2, "undeliverable");
    }

    #[test]
    fn missing_receipts_resend_after_the_deadline() {
        let p = policy(RULES);
        let dest = Msisdn::parse("13800138000", &NumberPolicy::china()).unwrap();
        let sub = Submission {
            destination: &dest,
            channel: None,
            resends: 0,
            submitted_at: UnixMillis(1_000),
        };
        let deadline = UnixMillis(1_000 + 30 * 60_000);
        assert_eq!(receipt_deadline(&p, &sub), Some(deadline));
        assert_eq!(
            on_missing_receipt(&p, &sub, UnixMillis(deadline.0 - 1)),
            ReceiptDecision::Pending
        );
        assert_eq!(
            on_missing_receipt(&p, &sub, deadline),
            ReceiptDecision::Resend {
                avoid_operator: None
            }
        );
        // No re-sends left, no deadline.
        let spent = Submission { resends: 1, ..sub };
        assert_eq!(receipt_deadline(&p, &spent), None);
        assert_eq!(
            on_missing_receipt(&p, &spent, UnixMillis(i64::MAX)),
            ReceiptDecision::Pending
        );
        // No rule for telecom, none by default.
        let t = Msisdn::parse("18912345678", &NumberPolicy::china()).unwrap();
        assert_eq!(
            receipt_deadline(
                &p,
                &Submission {
                    destination: &t,
                    ..sub
                }
            ),
            None
        );
        assert_eq!(receipt_deadline(&Policy::default(), &sub), None);
    }
}
