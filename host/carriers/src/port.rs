//! The byte stream to a directly driven modem: a serial device or a TCP endpoint, reopened
//! transparently when it fails (a USB stick that re-enumerates, a simulator that restarts), so
//! the AT supervisor above only ever sees a slow modem, never a dead handle.

use std::time::Duration;

use embedded_io_async::{ErrorKind, ErrorType, Read, Write};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::modem::ModemPort;

/// Any byte stream a modem can sit behind.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A modem port implementing `embedded-io-async`: reconnecting when opened from a
/// [`ModemPort`], or a fixed stream (tests, in-process simulators).
pub struct Port {
    spec: Option<ModemPort>,
    conn: Option<Box<dyn Stream>>,
    backoff: Duration,
}

/// A fixed stream ended (ports opened from a [`ModemPort`] reopen instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortError;

impl std::fmt::Display for PortError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("modem stream closed")
    }
}

impl std::error::Error for PortError {}

impl embedded_io_async::Error for PortError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Other
    }
}

impl ErrorType for Port {
    type Error = PortError;
}

const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

impl Port {
    /// A port that connects on first use and reconnects after failures.
    pub fn new(spec: ModemPort) -> Port {
        Port {
            spec: Some(spec),
            conn: None,
            backoff: BACKOFF_MIN,
        }
    }

    /// A port over an already open stream; once it ends, reads and writes fail.
    pub fn from_stream(stream: impl Stream + 'static) -> Port {
        Port {
            spec: None,
            conn: Some(Box::new(stream)),
            backoff: BACKOFF_MIN,
        }
    }

    async fn open(spec: &ModemPort) -> std::io::Result<Box<dyn Stream>> {
        match spec {
            ModemPort::Tcp(addr) => {
                let s = tokio::net::TcpStream::connect(addr).await?;
                s.set_nodelay(true)?;
                Ok(Box::new(s))
            }
            ModemPort::Serial { path, baud } => {
                use tokio_serial::SerialPortBuilderExt;
                let s = tokio_serial::new(path, *baud)
                    .timeout(Duration::from_millis(100))
                    .open_native_async()
                    .map_err(std::io::Error::other)?;
                Ok(Box::new(s))
            }
        }
    }

    /// Opens the connection (with backoff between failures) unless it is open.
    ///
    /// Cancellation: safe; a half-finished connect is simply started again.
    async fn ensure(&mut self) -> Result<(), PortError> {
        while self.conn.is_none() {
            let Some(spec) = &self.spec else {
                return Err(PortError);
            };
            match Self::open(spec).await {
                Ok(c) => {
                    tracing::info!(port = ?self.spec, "modem port open");
                    self.conn = Some(c);
                    self.backoff = BACKOFF_MIN;
                }
                Err(e) => {
                    tracing::warn!(port = ?self.spec, error = %e, "cannot open modem port; retrying");
                    tokio::time::sleep(self.backoff).await;
                    self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
        Ok(())
    }

    fn lost(&mut self, why: &str) {
        if self.conn.take().is_some() {
            tracing::warn!(port = ?self.spec, why, "modem port lost; reopening");
        }
    }
}

impl Read for Port {
    /// Reads at least one byte, reopening the port as often as needed.
    ///
    /// Cancellation: safe (tokio's reads are; no byte is consumed before it is returned).
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, PortError> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            self.ensure().await?;
            let Some(conn) = self.conn.as_mut() else {
                continue;
            };
            match conn.read(buf).await {
                Ok(0) => self.lost("end of stream"),
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => self.lost(&e.to_string()),
            }
        }
    }
}

impl Write for Port {
    /// Writes at least one byte; a failed write reopens the port and the bytes go to the new
    /// connection (the modem behind it has restarted anyway, and the supervisor resynchronises).
    async fn write(&mut self, buf: &[u8]) -> Result<usize, PortError> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            self.ensure().await?;
            let Some(conn) = self.conn.as_mut() else {
                continue;
            };
            match conn.write(buf).await {
                Ok(0) => self.lost("write returned zero"),
                Ok(n) => return Ok(n),
                Err(e) => self.lost(&e.to_string()),
            }
        }
    }

    async fn flush(&mut self) -> Result<(), PortError> {
        if let Some(c) = self.conn.as_mut()
            && let Err(e) = c.flush().await
        {
            self.lost(&e.to_string());
        }
        Ok(())
    }
}
