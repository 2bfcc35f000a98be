//! Integration tests of the bank application: the real link task, slot agents and AT engines
//! against simulated modems, with the host end driven through `firmware/link`.

mod rig;
mod scenarios;
