//! TLS for SMPP links (SMPP over TLS, as some carriers require on port 3550 or similar), via
//! rustls with the `ring` provider.
//!
//! Certificates are verified: against the PEM bundle in [`TlsConfig::ca_file`] when given (a
//! carrier's private CA), else against the Mozilla roots from `webpki-roots`. There is no
//! "skip verification" switch on purpose: an SMPP password crosses this connection.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// TLS settings of one link.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// The name the certificate must carry; the link's host when `None`.
    pub server_name: Option<String>,
    /// A PEM file of CA certificates to trust instead of the public roots.
    pub ca_file: Option<PathBuf>,
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The CA file could not be read or holds no certificate.
    #[error("CA file {0}: {1}")]
    CaFile(PathBuf, String),
    /// The server name is not a DNS name or IP address.
    #[error("invalid TLS server name {0:?}")]
    ServerName(String),
    /// The handshake failed.
    #[error("handshake: {0}")]
    Handshake(#[from] std::io::Error),
    /// rustls refused the configuration.
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
}

/// Builds a client configuration: TLS 1.2 and 1.3, `ring` provider, verified certificates.
pub fn client_config(cfg: &TlsConfig) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    match &cfg.ca_file {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| TlsError::CaFile(path.clone(), e.to_string()))?
                .collect::<Result<_, _>>()
                .map_err(|e| TlsError::CaFile(path.clone(), e.to_string()))?;
            if certs.is_empty() {
                return Err(TlsError::CaFile(path.clone(), "no certificate".into()));
            }
            for c in certs {
                roots.add(c)?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Runs the TLS handshake over an open TCP connection.
pub(crate) async fn connect(
    tcp: TcpStream,
    host: &str,
    cfg: &TlsConfig,
) -> Result<TlsStream<TcpStream>, TlsError> {
    let name = cfg.server_name.as_deref().unwrap_or(host).to_owned();
    let server_name = ServerName::try_from(name.clone()).map_err(|_| TlsError::ServerName(name))?;
    let connector = TlsConnector::from(Arc::new(client_config(cfg)?));
    Ok(connector.connect(server_name, tcp).await?)
}
