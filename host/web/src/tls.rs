//! Optional HTTPS for the admin page and the API: a certificate given as PEM files, or a
//! self-signed one generated with rcgen on first start and kept in the data directory, so
//! browsers see the same certificate after a restart.
//!
//! Served with tokio-rustls and hyper-util (the pieces axum itself serves on) rather than
//! `axum-server`: we keep axum's request handling unchanged, add only the TLS handshake and
//! graceful shutdown, and need no other TLS stack than the rustls + ring one `host/smpp`
//! already uses. Requests that arrived over TLS carry [`crate::pages::Https`], so session
//! cookies get the `Secure` attribute.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::AppState;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The PEM data is not a certificate chain or private key.
    #[error("{path}: {why}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// Generating the self-signed certificate failed.
    #[error("generating a certificate: {0}")]
    Generate(String),
    /// rustls refused the certificate and key.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// Where the certificate comes from.
#[derive(Clone, Debug)]
pub enum CertSource {
    /// `cert.pem` and `key.pem` in this directory, generated (self-signed, for `localhost`,
    /// `127.0.0.1` and the given extra names) if absent.
    SelfSigned {
        /// The directory (the data directory).
        dir: PathBuf,
        /// Extra DNS names or IP addresses the certificate should name (the box's name on the
        /// local network).
        names: Vec<String>,
    },
    /// Given PEM files.
    Files {
        /// Certificate chain.
        cert: PathBuf,
        /// Private key.
        key: PathBuf,
    },
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Io {
        path: path.to_owned(),
        source,
    })
}

fn write_private(path: &Path, data: &str) -> Result<(), TlsError> {
    let io = |source| TlsError::Io {
        path: path.to_owned(),
        source,
    };
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        // The key is readable by the service's user only.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        f.write_all(data.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)
    }
    #[cfg(not(unix))]
    std::fs::write(path, data).map_err(io)
}

/// Generates a self-signed certificate into `dir` unless `cert.pem` and `key.pem` exist;
/// returns their paths.
pub fn ensure_self_signed(dir: &Path, names: &[String]) -> Result<(PathBuf, PathBuf), TlsError> {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    let mut all = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    all.extend(names.iter().cloned());
    let generated =
        rcgen::generate_simple_self_signed(all).map_err(|e| TlsError::Generate(e.to_string()))?;
    std::fs::create_dir_all(dir).map_err(|source| TlsError::Io {
        path: dir.to_owned(),
        source,
    })?;
    // Key first: a crash between the two writes leaves no certificate without its key.
    write_private(&key, &generated.signing_key.serialize_pem())?;
    std::fs::write(&cert, generated.cert.pem()).map_err(|source| TlsError::Io {
        path: cert.clone(),
        source,
    })?;
    tracing::info!(cert = %cert.display(), "generated a self-signed TLS certificate");
    Ok((cert, key))
}

/// The rustls server configuration for `source` (HTTP/2 and HTTP/1.1 offered by ALPN).
pub fn config(source: &CertSource) -> Result<ServerConfig, TlsError> {
    let (cert_path, key_path) = match source {
        CertSource::SelfSigned { dir, names } => ensure_self_signed(dir, names)?,
        CertSource::Files { cert, key } => (cert.clone(), key.clone()),
    };
    let pem = |path: &Path, why: String| TlsError::Pem {
        path: path.to_owned(),
        why,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(&cert_path)?)
        .collect::<Result<_, _>>()
        .map_err(|e| pem(&cert_path, e.to_string()))?;
    if certs.is_empty() {
        return Err(pem(&cert_path, "no certificate in the file".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(&read(&key_path)?)
        .map_err(|e| pem(&key_path, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app(state)` over TLS on `listener` until `shutdown` resolves, then lets open
/// connections finish (at most `grace`).
pub async fn serve_tls(
    listener: TcpListener,
    state: AppState,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let app = crate::app(state).layer(Extension(crate::pages::Https));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer): (_, SocketAddr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: keep serving the others.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let service = app
                .layer(Extension(axum::extract::ConnectInfo(peer)))
                .map_request(|r: hyper::Request<hyper::body::Incoming>| {
                    r.map(axum::body::Body::new)
                });
            let builder = auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection_with_upgrades(
                TokioIo::new(tls),
                TowerToHyperService::new(service),
            );
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => tracing::warn!("closing connections still open after the grace period"),
    }
    Ok(())
}
