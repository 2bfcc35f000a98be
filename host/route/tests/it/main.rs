//! Integration tests of the scheduler policy through its public API, the way the dispatcher uses
//! it: scenario tables for `pick`, a fake-clock simulation of a modem bank, and property tests.

mod candidates;
mod picks;
mod props;
mod sim;
mod support;
