//! Integration tests of the SMPP layer over real TCP on 127.0.0.1: the client against the
//! simulator and independent SMSCs, the server against independent clients.

mod client;
mod peers;
mod server;
mod tls;
mod util;
