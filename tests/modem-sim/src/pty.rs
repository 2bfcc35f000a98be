//! A pseudo-terminal per modem: the simulator owns the master side (async through tokio's
//! `AsyncFd`), clients open the slave through a symlink at a path of the caller's choosing.
//!
//! The simulator keeps its own slave descriptor open, in raw mode, for the pty's whole life:
//! without it the master reads `EIO` whenever no client has the slave open (between two
//! `gammu` runs), and a cooked slave would echo the modem's output back to it.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A pty whose slave is reachable at `link`. Dropping it removes the link.
#[derive(Debug)]
pub struct Pty {
    master: AsyncFd<OwnedFd>,
    /// Held open so the master never sees a hang-up (see the module docs).
    _slave: OwnedFd,
    slave_path: PathBuf,
    link: PathBuf,
}

impl Pty {
    /// Opens a pty and symlinks its slave at `link` (replacing a stale link or file there).
    /// Must be called inside a tokio runtime.
    pub fn open(link: &Path) -> io::Result<Pty> {
        let pair = nix::pty::openpty(None, None).map_err(io::Error::from)?;
        let mut t = tcgetattr(&pair.slave).map_err(io::Error::from)?;
        cfmakeraw(&mut t);
        tcsetattr(&pair.slave, SetArg::TCSANOW, &t).map_err(io::Error::from)?;
        let flags = fcntl(&pair.master, FcntlArg::F_GETFL).map_err(io::Error::from)?;
        let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
        fcntl(&pair.master, FcntlArg::F_SETFL(flags)).map_err(io::Error::from)?;
        let slave_path = nix::unistd::ttyname(&pair.slave).map_err(io::Error::from)?;
        match std::fs::symlink_metadata(link) {
            Ok(m) if m.file_type().is_symlink() || m.is_file() => std::fs::remove_file(link)?,
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists and is not a link", link.display()),
                ));
            }
            Err(_) => {}
        }
        std::os::unix::fs::symlink(&slave_path, link)?;
        // tokio 1.54 deprecates the safe `AsyncFd` constructors because a `T` that does not
        // own its descriptor could close it while registered. `OwnedFd` owns it and closes it
        // only on drop, after the registration is gone, so the concern does not apply.
        #[allow(deprecated)]
        let master = AsyncFd::new(pair.master)?;
        Ok(Pty {
            master,
            _slave: pair.slave,
            slave_path,
            link: link.to_owned(),
        })
    }

    /// The slave device (`/dev/pts/N`).
    pub fn slave_path(&self) -> &Path {
        &self.slave_path
    }

    /// The symlink clients open.
    pub fn link(&self) -> &Path {
        &self.link
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        // Only our own link: a path someone replaced in the meantime is left alone.
        if std::fs::read_link(&self.link).is_ok_and(|t| t == self.slave_path) {
            let _ = std::fs::remove_file(&self.link);
        }
    }
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

impl AsyncRead for Pty {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.master.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|fd| {
                nix::unistd::read(fd.get_ref().as_fd(), unfilled).map_err(io::Error::from)
            }) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // EIO: no slave open; cannot happen while we hold ours, but never spin on it.
                Ok(Err(e)) if e.raw_os_error() == Some(nix::libc::EIO) => {
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) if !would_block(&e) => return Poll::Ready(Err(e)),
                Ok(Err(_)) | Err(_) => continue,
            }
        }
    }
}

impl AsyncWrite for Pty {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.master.poll_write_ready(cx))?;
            match guard
                .try_io(|fd| nix::unistd::write(fd.get_ref().as_fd(), buf).map_err(io::Error::from))
            {
                Ok(Ok(n)) => return Poll::Ready(Ok(n)),
                Ok(Err(e)) if !would_block(&e) => return Poll::Ready(Err(e)),
                Ok(Err(_)) | Err(_) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
