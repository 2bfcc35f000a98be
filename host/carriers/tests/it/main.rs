//! Carrier integration tests against independent peers: the modem simulator for modems.

mod modem;
