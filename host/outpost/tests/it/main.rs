//! End-to-end tests of the `outpost` binary: run it, check stdout, stderr and exit code.

mod pdu;
