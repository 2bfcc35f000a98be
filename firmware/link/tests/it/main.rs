//! Integration tests of `link`: the lossy-line simulation of two sessions, decoder properties,
//! and the golden byte vectors quoted in `docs/link-protocol.md`.

mod decoder;
mod golden;
mod sim;
