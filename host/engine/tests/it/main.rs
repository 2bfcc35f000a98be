//! Whole-engine tests: real SQLite files, the real policy, scripted carriers.

mod lifecycle;
mod support;
