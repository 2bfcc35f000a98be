//! Property tests (later).
