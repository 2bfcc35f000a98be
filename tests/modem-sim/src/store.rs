//! Message storage (TS 27.005 3.1 `<mem1>`…`<mem3>`): the SIM store `"SM"` and the modem store
//! `"ME"`, kept apart so a client that lists both (gammu `getallsms`) sees each message once.
//!
//! Indices are 1-based and a new message takes the lowest free one, as real modems do.

use std::fmt;

/// A storage name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mem {
    /// `"SM"`, the SIM.
    Sm,
    /// `"ME"`, the modem.
    Me,
}

impl Mem {
    /// Parses `SM`/`ME` (without quotes, any case).
    pub fn parse(s: &str) -> Option<Mem> {
        match s.to_ascii_uppercase().as_str() {
            "SM" => Some(Mem::Sm),
            "ME" => Some(Mem::Me),
            _ => None,
        }
    }

    /// The name as the modem prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Mem::Sm => "SM",
            Mem::Me => "ME",
        }
    }
}

impl fmt::Display for Mem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `<stat>` of a stored message (TS 27.005 3.1): PDU-mode number and text-mode name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stat {
    /// 0, `"REC UNREAD"`.
    RecUnread,
    /// 1, `"REC READ"`.
    RecRead,
    /// 2, `"STO UNSENT"`.
    StoUnsent,
    /// 3, `"STO SENT"`.
    StoSent,
}

impl Stat {
    /// The PDU-mode number.
    pub fn code(self) -> u8 {
        match self {
            Stat::RecUnread => 0,
            Stat::RecRead => 1,
            Stat::StoUnsent => 2,
            Stat::StoSent => 3,
        }
    }

    /// The text-mode name.
    pub fn name(self) -> &'static str {
        match self {
            Stat::RecUnread => "REC UNREAD",
            Stat::RecRead => "REC READ",
            Stat::StoUnsent => "STO UNSENT",
            Stat::StoSent => "STO SENT",
        }
    }
}

/// What a stored PDU is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StoredKind {
    /// An SMS-DELIVER.
    Deliver,
    /// An SMS-STATUS-REPORT.
    StatusReport,
}

/// One stored message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    /// Read state.
    pub stat: Stat,
    /// SCA and TPDU, as `+CMGR` prints it in PDU mode.
    pub pdu: Vec<u8>,
    /// Octets of the TPDU alone (the `<length>` of `+CMGR`/`+CMGL`).
    pub tpdu_len: usize,
    /// Deliver or report.
    pub kind: StoredKind,
}

/// A store of fixed capacity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Store {
    slots: Vec<Option<Stored>>,
}

impl Store {
    /// An empty store of `capacity` messages.
    pub fn new(capacity: usize) -> Store {
        Store {
            slots: vec![None; capacity],
        }
    }

    /// Capacity.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Messages stored.
    pub fn used(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// Stores at the lowest free index; `None` when full.
    pub fn put(&mut self, msg: Stored) -> Option<u16> {
        let (i, slot) = self
            .slots
            .iter_mut()
            .enumerate()
            .find(|(_, s)| s.is_none())?;
        *slot = Some(msg);
        u16::try_from(i + 1).ok()
    }

    /// Whether `index` names a slot (stored or free).
    pub fn in_range(&self, index: u16) -> bool {
        index >= 1 && usize::from(index) <= self.slots.len()
    }

    /// The message at `index`.
    pub fn get(&self, index: u16) -> Option<&Stored> {
        let i = usize::from(index).checked_sub(1)?;
        self.slots.get(i)?.as_ref()
    }

    /// The message at `index`, mutable.
    pub fn get_mut(&mut self, index: u16) -> Option<&mut Stored> {
        let i = usize::from(index).checked_sub(1)?;
        self.slots.get_mut(i)?.as_mut()
    }

    /// Removes and returns the message at `index`.
    pub fn take(&mut self, index: u16) -> Option<Stored> {
        let i = usize::from(index).checked_sub(1)?;
        self.slots.get_mut(i)?.take()
    }

    /// Indices in use, ascending.
    pub fn indices(&self) -> Vec<u16> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_some())
            .filter_map(|(i, _)| u16::try_from(i + 1).ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg() -> Stored {
        Stored {
            stat: Stat::RecUnread,
            pdu: vec![0],
            tpdu_len: 0,
            kind: StoredKind::Deliver,
        }
    }

    #[test]
    fn lowest_free_index_and_full() {
        let mut s = Store::new(2);
        assert_eq!(s.put(msg()), Some(1));
        assert_eq!(s.put(msg()), Some(2));
        assert_eq!(s.put(msg()), None);
        assert!(s.take(1).is_some());
        assert_eq!(s.put(msg()), Some(1));
        assert_eq!(s.get(0), None);
        assert_eq!(s.get(3), None);
        assert!(!s.in_range(0) && s.in_range(2) && !s.in_range(3));
    }
}
