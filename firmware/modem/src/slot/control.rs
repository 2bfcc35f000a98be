//! [`Control`]: the caller's handle on a slot. Every method may be called from any task.

use embassy_futures::select::{Either, select};
use embassy_sync::blocking_mutex::raw::RawMutex;

use super::{Config, Event, Request, SendError, SlotState, SlotStatus, State, StoredId};
use crate::command::sms::{PDU_MAX, Pdu};

/// Handle to one slot. Cheap to copy; all copies talk to the same runner.
pub struct Control<'a, M: RawMutex> {
    state: &'a State<M>,
}

impl<M: RawMutex> Clone for Control<'_, M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M: RawMutex> Copy for Control<'_, M> {}

impl<'a, M: RawMutex> Control<'a, M> {
    pub(super) fn new(state: &'a State<M>) -> Self {
        Self { state }
    }

    /// Sends one SMS: `pdu` is the whole PDU with its SCA prefix (`00` for the modem's
    /// default SMSC), `tpdu_len` the octets after the SCA (the `AT+CMGS=<length>`). Returns the
    /// TP-Message-Reference from `+CMGS: <mr>`, to match the status report later.
    ///
    /// One send at a time per slot: concurrent calls queue and go in turn. A slot that is not
    /// [`SlotState::Ready`] answers [`SendError::NotReady`] at once.
    ///
    /// Cancellation: dropping the future before the runner took the request sends nothing.
    /// Dropping it later does not stop the send; its result is then lost, so the caller must
    /// treat the message as possibly sent.
    pub async fn submit(&self, pdu: &[u8], tpdu_len: u8) -> Result<u8, SendError> {
        if pdu.is_empty()
            || pdu.len() > PDU_MAX
            || usize::from(tpdu_len) > pdu.len()
            || tpdu_len == 0
        {
            return Err(SendError::InvalidPdu);
        }
        let now = self.status().state;
        if now != SlotState::Ready {
            return Err(SendError::NotReady(now));
        }
        let mut body = Pdu::new();
        body.extend_from_slice(pdu)
            .map_err(|_| SendError::InvalidPdu)?;
        let mut last = self.state.submit_lock.lock().await;
        *last = last.wrapping_add(1);
        let seq = *last;
        self.state.submit_done.reset();
        self.state
            .requests
            .send(Request::Submit {
                seq,
                pdu: body,
                tpdu_len,
            })
            .await;
        loop {
            let (done, result) = self.state.submit_done.wait().await;
            // A result for an earlier, cancelled submit is not ours.
            if done == seq {
                return result;
            }
        }
    }

    /// The slot's current status.
    pub fn status(&self) -> SlotStatus {
        self.state.update(|s| s.clone())
    }

    /// Waits for the next event: an inbound message, a status report, or a state change.
    /// Messages and reports come in order; state changes are coalesced to the latest.
    ///
    /// Cancellation: safe; nothing is lost if the future is dropped.
    pub async fn next_event(&self) -> Event {
        let event = match select(self.state.events.receive(), self.state.state_changed.wait()).await
        {
            Either::First(event) => event,
            Either::Second(state) => Event::StateChanged(state),
        };
        if !matches!(event, Event::StateChanged(_)) {
            self.state.taken.signal(());
        }
        event
    }

    /// Acknowledges an inbound message or status report: it is stored safely, so the runner may
    /// now delete it from the modem (`AT+CMGD`). Acks for an older initialisation are ignored;
    /// the message is offered again.
    ///
    /// Cancellation: if dropped before the request was queued, the ack is not given; call again.
    pub async fn ack(&self, id: StoredId) {
        self.state.requests.send(Request::Ack(id)).await;
    }

    /// Re-initialises the modem (`hard: false`) or power-cycles it through PWRKEY (`hard: true`).
    ///
    /// Cancellation: if dropped before the request was queued, nothing happens.
    pub async fn reset(&self, hard: bool) {
        self.state.requests.send(Request::Reset { hard }).await;
    }

    /// Replaces the configuration and re-initialises (a new PIN is tried once).
    ///
    /// Cancellation: if dropped before the request was queued, nothing changes.
    pub async fn configure(&self, config: Config) {
        self.state.requests.send(Request::Configure(config)).await;
    }
}
