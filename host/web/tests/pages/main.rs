//! The admin pages driven in-process (`tower::ServiceExt::oneshot`) over a real engine and
//! store, asserting on the parsed HTML: first-start setup, login throttling, sessions, CSRF on
//! every form, roles on every handler, the audit log, and the page flows.

mod auth;
mod flows;
mod guards;
mod support;
mod tls;
