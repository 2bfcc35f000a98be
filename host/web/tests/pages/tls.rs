//! HTTPS: a self-signed certificate generated on first start and reused after, the pages served
//! over TLS with `Secure` cookies, and a client that does not trust the certificate refused.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use web::AppState;
use web::tls::{CertSource, config, serve_tls};

use crate::support::app;

fn client_config(trust: Option<&[u8]>) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(pem) = trust {
        for c in CertificateDer::pem_slice_iter(pem) {
            roots.add(c.unwrap()).unwrap();
        }
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

async fn get(
    addr: std::net::SocketAddr,
    client: rustls::ClientConfig,
    path: &str,
) -> std::io::Result<String> {
    let tcp = TcpStream::connect(addr).await?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let mut tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await?;
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut out = Vec::new();
    tls.read_to_end(&mut out).await?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test]
async fn pages_over_https_with_a_self_signed_certificate() {
    let app = app().await;
    let dir = tempfile::tempdir().unwrap();
    let source = CertSource::SelfSigned {
        dir: dir.path().join("tls"),
        names: vec!["outpost.local".into()],
    };
    let server = config(&source).unwrap();
    let cert = std::fs::read(dir.path().join("tls/cert.pem")).unwrap();
    // Generated once: a second start keeps the same certificate (browsers keep trusting it).
    config(&source).unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("tls/cert.pem")).unwrap(),
        cert
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("tls/key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the key is private");
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = AppState {
        engine: app.engine.clone(),
        prometheus: None,
    };
    let serving = tokio::spawn(serve_tls(
        listener,
        state,
        server,
        async {
            let _ = stopped.await;
        },
        Duration::from_secs(2),
    ));
    let resp = get(addr, client_config(Some(&cert)), "/setup")
        .await
        .unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let cookie = resp
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie: outpost_pre=")
        })
        .expect("a pre-login cookie");
    assert!(cookie.contains("; Secure"), "{cookie}");
    // A client that does not trust the certificate gets no page.
    assert!(get(addr, client_config(None), "/setup").await.is_err());
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .expect("serve_tls stops")
        .unwrap()
        .unwrap();
}
