//! The `outpost` command line: a thin shell over the library crates.
#![forbid(unsafe_code)]

fn main() {}
