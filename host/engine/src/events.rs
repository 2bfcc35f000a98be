//! Events from carriers: delivery reports and inbound SMS, and the housekeeping around them.
//!
//! Each event is handled in its own task so that one slow commit does not hold the next report
//! back (reports arrive at the rate messages leave). A report's and an inbound part's
//! acknowledgement is sent only after its commit (DESIGN "Inbound": nothing deleted before it is
//! safely stored; an SMPP receipt is answered only then, so a crash cannot lose it); if the
//! store fails, nothing is acknowledged and the source offers it again.

use std::time::Duration;

use carriers::{CarrierEvent, InboundPart, Report};
use domain::{Msisdn, UnixMillis};
use route::{ReceiptDecision, Submission};
use store::{DlrRecord, InboundFragment, InboundStored, Resend, ResendRule};
use tokio::sync::mpsc;

use crate::queue::Live;
use crate::{Engine, Event};

pub(crate) async fn run(engine: Engine, mut events: mpsc::Receiver<CarrierEvent>) {
    while let Some(ev) = events.recv().await {
        match ev {
            CarrierEvent::Report(r) => {
                tokio::spawn(report(engine.clone(), r));
            }
            CarrierEvent::Inbound(p) => {
                tokio::spawn(inbound(engine.clone(), p));
            }
            CarrierEvent::Changed(_) => engine.wake(),
        }
    }
}

async fn report(engine: Engine, r: Report) {
    let policy = engine.config().policy.clone();
    let channel = engine
        .shared()
        .channels
        .read()
        .ok()
        .and_then(|c| c.get(&r.carrier).cloned().flatten());
    // The re-send rule runs inside the store's transaction, once the report is matched.
    let rule: ResendRule = Box::new(move |q| {
        let to = Msisdn::from_e164(&q.to).ok()?;
        let sub = Submission {
            destination: &to,
            channel: channel.as_ref(),
            resends: q.resends,
            submitted_at: q.submitted_at,
        };
        match route::on_receipt(&policy, &sub, q.status, q.error.as_deref()) {
            ReceiptDecision::Resend { avoid_operator } => Some(Resend {
                at: UnixMillis::now(),
                avoid_operator: avoid_operator.map(|o| o.to_string()),
            }),
            ReceiptDecision::Pending | ReceiptDecision::Final(_) => None,
        }
    });
    // Acknowledged only once stored (an SMPP receipt's deliver_sm_resp waits for this); a
    // report that could not be stored is left with its source, which offers it again.
    let ack = r.ack;
    tracing::debug!(carrier = %r.carrier, carrier_ref = %r.carrier_ref, status = ?r.status, "delivery report");
    let rec = DlrRecord {
        carrier: r.carrier,
        carrier_ref: r.carrier_ref,
        status: r.status,
        error: r.error,
        received_at: r.at,
        raw: r.raw,
    };
    match engine.store().record_dlr(rec, Some(rule)).await {
        Ok(Some(applied)) => {
            tracing::debug!(message = applied.message_id.0, "delivery report matched");
            ack.ack();
            if applied.requeued {
                match engine.store().load_pending(applied.message_id).await {
                    Ok(Some(p)) => engine.requeue(Live::from(p)),
                    Ok(None) => {}
                    Err(e) => tracing::error!(error = %e, "could not reload a re-sent message"),
                }
            }
            engine.shared().emit(Event::Report(applied));
        }
        Ok(None) => {
            ack.ack();
            tracing::debug!("delivery report stored unmatched");
        }
        Err(e) => tracing::error!(error = %e, "could not store a delivery report"),
    }
}

async fn inbound(engine: Engine, p: InboundPart) {
    let InboundPart {
        carrier,
        from,
        to,
        text,
        sc_timestamp,
        concat,
        fingerprint,
        received_at,
        ack,
    } = p;
    let fragment = InboundFragment {
        carrier,
        from,
        to,
        body: text,
        sc_timestamp,
        received_at,
        concat,
        fingerprint,
    };
    match engine.store().store_inbound(fragment).await {
        Ok(stored) => {
            ack.ack();
            if let InboundStored::Complete(m) = stored {
                engine.shared().emit(Event::Inbound(m));
            }
        }
        // Not acknowledged: the bank keeps it in the modem and offers it again.
        Err(e) => tracing::error!(error = %e, "could not store an inbound SMS; not acknowledged"),
    }
}

/// Periodic work: releasing inbound parts whose siblings never came.
pub(crate) async fn housekeeping(engine: Engine) {
    let timeout = engine.config().reassembly_timeout;
    let every = (timeout / 4).clamp(Duration::from_millis(200), Duration::from_secs(30));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let before = UnixMillis::now().0.saturating_sub(millis(timeout));
        match engine
            .store()
            .release_stale_fragments(UnixMillis(before))
            .await
        {
            Ok(released) => {
                for m in released {
                    tracing::warn!(from = %m.from, parts = m.parts, "inbound message released with parts missing");
                    engine.shared().emit(Event::Inbound(m));
                }
            }
            Err(e) => tracing::error!(error = %e, "inbound reassembly sweep failed"),
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
