//! The HTTP API and Kannel-style sendsms driven in-process (`tower::ServiceExt::oneshot`) over a
//! real engine and store.

mod api;
mod sendsms;
mod support;
