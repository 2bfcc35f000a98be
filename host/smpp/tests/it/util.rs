//! Shared test helpers: link configs with short timeouts, waiting on events with a deadline.

use std::time::Duration;

use bytes::Bytes;
use smpp::client::{Backoff, LinkConfig, LinkEvent, LinkHandle, Role};
use smpp::message::{Address, Body, SubmitRequest};
use smsc_sim::{SimConfig, SimHandle, SmscSim};
use tokio::sync::mpsc;

/// Every wait in these tests is bounded by this.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

pub(crate) async fn sim(cfg: SimConfig) -> SimHandle {
    SmscSim::start(cfg).await.expect("simulator starts")
}

/// A link to `port` with timeouts short enough for tests.
pub(crate) fn link_config(port: u16, system_id: &str, password: &str) -> LinkConfig {
    let mut c = LinkConfig::new("127.0.0.1", port, system_id, password);
    c.response_timeout = Duration::from_millis(800);
    c.enquire_link_interval = Duration::from_secs(5);
    c.connect_timeout = Duration::from_secs(2);
    c.reconnect = Backoff {
        min: Duration::from_millis(20),
        max: Duration::from_millis(200),
        jitter: 0.2,
    };
    c.drain_timeout = Duration::from_secs(2);
    c
}

/// Waits for the first event matching `pred`, skipping others; panics after `WAIT`.
pub(crate) async fn wait_event(
    rx: &mut mpsc::Receiver<LinkEvent>,
    what: &str,
    mut pred: impl FnMut(&LinkEvent) -> bool,
) -> LinkEvent {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(ev)) if pred(&ev) => return ev,
            Ok(Some(_)) => {}
            Ok(None) => panic!("event channel closed while waiting for {what}"),
            Err(_) => panic!("timed out waiting for {what}"),
        }
    }
}

pub(crate) async fn wait_bound(rx: &mut mpsc::Receiver<LinkEvent>, role: Role) {
    wait_event(
        rx,
        "bind",
        |e| matches!(e, LinkEvent::Bound { role: r } if *r == role),
    )
    .await;
}

/// A GSM-7 text submit (ASCII letters are the same septets) with a receipt request.
pub(crate) fn text_submit(to: &str, text: &str) -> SubmitRequest {
    let mut r = SubmitRequest::new(
        Address::alphanumeric("Outpost"),
        Address::international(to),
        0,
        Body::Short(Bytes::copy_from_slice(text.as_bytes())),
    );
    r.registered_delivery = 1;
    r
}

/// Submits until accepted, as the scheduler would (re-sending after link loss), bounded.
pub(crate) async fn submit_until_accepted(link: &LinkHandle, req: &SubmitRequest) -> (u32, u32) {
    let deadline = tokio::time::Instant::now() + WAIT;
    let (mut tries, mut maybe_sent) = (0, 0);
    loop {
        tries += 1;
        match link.submit(req).await {
            Ok(_) => return (tries, maybe_sent),
            Err(e) => {
                if e.maybe_sent() {
                    maybe_sent += 1;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "never accepted: {e}"
                );
                // The link refuses fast while it reconnects; wait for the new bind.
                let bound = tokio::time::timeout_at(deadline, link.until_bound()).await;
                assert!(matches!(bound, Ok(true)), "link did not come back: {e}");
            }
        }
    }
}
