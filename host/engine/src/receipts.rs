//! The missing-receipt sweep (DESIGN "Message lifecycle" step 5): a submitted message whose
//! delivery report has not come within its route's `missing_after` is re-sent through a
//! different operator channel, and the trace says why.
//!
//! The policy decides (`route::receipt_deadline` / `route::on_missing_receipt`, per destination
//! operator, with the re-send budget); the store finds overdue messages and re-queues one only if
//! nothing moved it meanwhile (a report that arrives while the sweep decides wins). The sweep runs
//! only when some route has `missing_after`, at a tenth of the shortest one (1 s to 60 s).

use std::time::Duration;

use domain::{Msisdn, UnixMillis};
use route::{Policy, ReceiptDecision, Submission};

use crate::Engine;
use crate::queue::Live;

/// Messages looked at per store read.
const PAGE: u32 = 500;

/// The shortest `missing_after` of any route, if any route has one.
pub fn shortest_missing_after(policy: &Policy) -> Option<Duration> {
    let routes = policy
        .operators()
        .iter()
        .filter_map(|id| policy.operator_ref(id))
        .map(Some)
        .chain([None]);
    routes
        .filter_map(|r| policy.resend_rule(r).and_then(|rule| rule.missing_after()))
        .min()
}

/// How often the sweep looks, for a shortest deadline of `shortest`.
fn period(shortest: Duration) -> Duration {
    (shortest / 10).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

impl Engine {
    /// Starts the missing-receipt sweep if the policy asks for one (some route has
    /// `missing_after`); it stops with [`Engine::shutdown`]. Returns whether it started.
    pub fn start_receipt_sweep(&self) -> bool {
        let Some(shortest) = shortest_missing_after(&self.inner.config.policy) else {
            return false;
        };
        let engine = self.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(period(shortest));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = engine.sweep_missing_receipts(UnixMillis::now()).await {
                    tracing::error!(error = %e, "missing-receipt sweep failed");
                }
            }
        });
        if let Ok(mut tasks) = self.inner.tasks.lock() {
            tasks.push(task);
        }
        true
    }

    /// One pass: every message whose report is overdue at `now` under its route's rule is
    /// re-queued for a re-send. Returns how many were.
    pub async fn sweep_missing_receipts(&self, now: UnixMillis) -> Result<u64, store::StoreError> {
        let policy = self.inner.config.policy.clone();
        let Some(shortest) = shortest_missing_after(&policy) else {
            return Ok(0);
        };
        let oldest = UnixMillis(now.0.saturating_sub(millis(shortest)));
        let channels = self
            .shared()
            .channels
            .read()
            .map(|c| c.clone())
            .unwrap_or_default();
        let mut after = None;
        let mut resent = 0;
        // Bounded: each page moves `after` forward; a live queue is finite.
        loop {
            let page = self.store().awaiting_reports(oldest, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            let full = page.len() as u32 == PAGE;
            for m in page {
                let Ok(to) = Msisdn::from_e164(&m.to) else {
                    continue;
                };
                let channel = channels.get(&m.carrier).cloned().flatten();
                let sub = Submission {
                    destination: &to,
                    channel: channel.as_ref(),
                    resends: m.resends,
                    submitted_at: m.submitted_at,
                };
                let ReceiptDecision::Resend { avoid_operator } =
                    route::on_missing_receipt(&policy, &sub, now)
                else {
                    continue;
                };
                let waited = now.since(m.submitted_at).as_secs();
                let detail = format!(
                    "no delivery report {waited} s after {} accepted it: re-sending through \
                     another channel",
                    m.carrier
                );
                let moved = self
                    .store()
                    .resend_missing(
                        m.id,
                        m.resends,
                        m.carrier.clone(),
                        avoid_operator.map(|o| o.to_string()),
                        detail,
                        now,
                    )
                    .await?;
                if !moved {
                    continue;
                }
                resent += 1;
                tracing::info!(message = %m.id, carrier = %m.carrier, waited_s = waited,
                    "delivery report missing: re-sending through another channel");
                match self.store().load_pending(m.id).await? {
                    Some(p) => self.requeue(Live::from(p)),
                    None => tracing::warn!(message = %m.id, "re-sent message vanished"),
                }
            }
            if !full {
                break;
            }
        }
        Ok(resent)
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweep_period_follows_the_shortest_deadline() {
        assert_eq!(period(Duration::from_secs(2)), Duration::from_secs(1));
        assert_eq!(period(Duration::from_secs(300)), Duration::from_secs(30));
        assert_eq!(period(Duration::from_secs(86_400)), Duration::from_secs(60));
    }

    #[test]
    fn shortest_deadline_over_every_route() {
        #[derive(serde::Deserialize)]
        struct File {
            routing: route::RawRouting,
        }
        let policy = |text: &str| {
            toml::from_str::<File>(text)
                .unwrap()
                .routing
                .validate()
                .unwrap()
        };
        assert_eq!(shortest_missing_after(&Policy::default()), None);
        let p = policy(
            r#"
            [routing.resend]
            on = ["undeliverable"]
            missing_after = "30m"
            [routing.operators.cmcc.resend]
            on = ["undeliverable"]
            missing_after = "90s"
            "#,
        );
        assert_eq!(shortest_missing_after(&p), Some(Duration::from_secs(90)));
    }
}
