//! The emulator's wires: `embedded-io-async` ports over tokio byte streams that behave like
//! serial lines (a dropped TCP connection is a line with nobody at the other end: reads wait
//! for the next connection, writes go nowhere), `DelayNs` on tokio's clock, and a PWRKEY that
//! presses a simulated modem's power key.
//!
//! Every `read` here is cancel-safe, as `firmware/bank` and `firmware/modem` require: the only
//! awaits inside are tokio's cancel-safe `read`, `accept` and `sleep`, and a connection
//! attempt that is dropped is simply made again.

use std::net::SocketAddr;
use std::time::Duration;

use modem_sim::ModemHandle;
use modem_sim::pty::Pty;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// How long to wait before connecting again to a peer that refused.
const RECONNECT: Duration = Duration::from_millis(200);

/// The only error the ports report: a pty that failed. TCP trouble is hidden as a line with
/// nobody on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("serial port failed")]
pub struct PortError;

impl embedded_io_async::Error for PortError {
    fn kind(&self) -> embedded_io_async::ErrorKind {
        embedded_io_async::ErrorKind::Other
    }
}

/// A TCP line: a listener that takes one connection at a time, or an address to (re)connect
/// to.
#[derive(Debug)]
pub(crate) enum Tcp {
    Listen {
        listener: TcpListener,
        conn: Option<TcpStream>,
    },
    Connect {
        addr: SocketAddr,
        conn: Option<TcpStream>,
    },
}

impl Tcp {
    /// Waits until there is a connection (accepting one, or connecting again).
    async fn ensure(&mut self) {
        loop {
            let got = match self {
                Tcp::Listen {
                    listener,
                    conn: None,
                } => listener.accept().await.ok().map(|(s, _)| s),
                Tcp::Connect { addr, conn: None } => TcpStream::connect(*addr).await.ok(),
                _ => return,
            };
            match got {
                Some(s) => {
                    let _ = s.set_nodelay(true);
                    match self {
                        Tcp::Listen { conn, .. } | Tcp::Connect { conn, .. } => *conn = Some(s),
                    }
                }
                None => tokio::time::sleep(RECONNECT).await,
            }
        }
    }

    fn conn(&mut self) -> Option<&mut TcpStream> {
        match self {
            Tcp::Listen { conn, .. } | Tcp::Connect { conn, .. } => conn.as_mut(),
        }
    }

    fn disconnect(&mut self) {
        match self {
            Tcp::Listen { conn, .. } | Tcp::Connect { conn, .. } => *conn = None,
        }
    }

    async fn read(&mut self, buf: &mut [u8]) -> usize {
        loop {
            self.ensure().await;
            let Some(conn) = self.conn() else {
                continue;
            };
            match conn.read(buf).await {
                Ok(n) if n > 0 => return n,
                // The peer went away: wait for the next one, as a serial line would.
                _ => self.disconnect(),
            }
        }
    }

    async fn write(&mut self, buf: &[u8]) -> usize {
        if let Some(c) = self.conn()
            && c.write_all(buf).await.is_err()
        {
            self.disconnect();
        }
        // Bytes on a line with nobody listening are lost, not an error.
        buf.len()
    }
}

/// A serial line as the firmware sees it.
#[derive(Debug)]
pub(crate) enum Port {
    Tcp(Tcp),
    Pty(Pty),
    /// An in-memory pipe to an in-process simulated modem.
    Pipe(DuplexStream),
}

impl embedded_io_async::ErrorType for Port {
    type Error = PortError;
}

impl embedded_io_async::Read for Port {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, PortError> {
        match self {
            Port::Tcp(t) => Ok(t.read(buf).await),
            Port::Pty(p) => p.read(buf).await.map_err(|_| PortError),
            Port::Pipe(p) => p.read(buf).await.map_err(|_| PortError),
        }
    }
}

impl embedded_io_async::Write for Port {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, PortError> {
        match self {
            Port::Tcp(t) => Ok(t.write(buf).await),
            Port::Pty(p) => p.write(buf).await.map_err(|_| PortError),
            Port::Pipe(p) => p.write(buf).await.map_err(|_| PortError),
        }
    }

    async fn flush(&mut self) -> Result<(), PortError> {
        match self {
            Port::Tcp(_) => Ok(()),
            Port::Pty(p) => p.flush().await.map_err(|_| PortError),
            Port::Pipe(p) => p.flush().await.map_err(|_| PortError),
        }
    }
}

/// `DelayNs` on tokio's clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Delay;

impl embedded_hal_async::delay::DelayNs for Delay {
    async fn delay_ns(&mut self, ns: u32) {
        tokio::time::sleep(Duration::from_nanos(u64::from(ns))).await;
    }
}

/// A PWRKEY: presses the power key of an in-process simulated modem when released after at
/// least 100 ms (the shortest press a SIM800 takes as one); does nothing for a TCP modem.
#[derive(Debug)]
pub(crate) struct PowerKey {
    pub(crate) sim: Option<ModemHandle>,
    pub(crate) pressed: Option<Instant>,
}

impl embedded_hal::digital::ErrorType for PowerKey {
    type Error = core::convert::Infallible;
}

impl embedded_hal::digital::OutputPin for PowerKey {
    fn set_high(&mut self) -> Result<(), Self::Error> {
        self.pressed = Some(Instant::now());
        Ok(())
    }

    fn set_low(&mut self) -> Result<(), Self::Error> {
        if let Some(t) = self.pressed.take()
            && t.elapsed() >= Duration::from_millis(100)
            && let Some(sim) = &self.sim
        {
            sim.power_key();
        }
        Ok(())
    }
}
