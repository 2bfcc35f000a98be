//! The SMSC-side server framework against clients.
