//! The tokio runners: TCP, pty and the control socket.
