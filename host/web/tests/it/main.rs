//! The HTTP API driven in-process (`tower::ServiceExt::oneshot`) over a real engine and store.

mod api;
mod support;
