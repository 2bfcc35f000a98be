//! SMPP over TLS: the client against the simulator behind a TLS terminator with a self-signed
//! certificate (rustls on both ends, certificate generated per test with rcgen).

use std::io::Write;
use std::sync::Arc;

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use smpp::client::{DownReason, Link, LinkEvent, Role, TlsConfig};
use smsc_sim::SimConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::util::{link_config, sim, text_submit, wait_bound, wait_event};

/// Accepts TLS on a new port and forwards the plaintext to `upstream`. Returns the port and the
/// CA file (the self-signed certificate, valid for "localhost").
async fn tls_front(upstream: u16) -> (u16, tempfile::NamedTempFile) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let mut ca = tempfile::NamedTempFile::new().unwrap();
    ca.write_all(ck.cert.pem().as_bytes()).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![ck.cert.der().clone()], key)
    .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(cfg));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut plain) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    (port, ca)
}

#[tokio::test]
async fn submits_and_receipts_over_tls() {
    let sim = sim(SimConfig::default()).await;
    let (port, ca) = tls_front(sim.port()).await;
    let mut lc = link_config(port, "a", "b");
    lc.host = "localhost".into();
    lc.tls = Some(TlsConfig {
        server_name: None,
        ca_file: Some(ca.path().to_owned()),
    });
    let (link, mut events) = Link::spawn(lc);
    wait_bound(&mut events, Role::Transceiver).await;
    let resp = link.submit(&text_submit("4917", "over tls")).await.unwrap();
    let LinkEvent::Receipt(r) = wait_event(&mut events, "receipt", |e| {
        matches!(e, LinkEvent::Receipt(_))
    })
    .await
    else {
        unreachable!()
    };
    assert_eq!(r.canonical_id, resp.canonical_id);
    assert_eq!(sim.submits()[0].text.as_deref(), Some("over tls"));
    link.shutdown().await;
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused() {
    let sim = sim(SimConfig::default()).await;
    let (port, _ca) = tls_front(sim.port()).await;
    let mut lc = link_config(port, "a", "b");
    lc.host = "localhost".into();
    // The public roots do not include our self-signed certificate.
    lc.tls = Some(TlsConfig::default());
    let (link, mut events) = Link::spawn(lc);
    let ev = wait_event(&mut events, "TLS failure", |e| {
        matches!(e, LinkEvent::Down { .. })
    })
    .await;
    let LinkEvent::Down {
        reason: DownReason::Connect(why),
        ..
    } = ev
    else {
        panic!("expected a connect failure, got {ev:?}")
    };
    assert!(why.starts_with("TLS"), "{why}");
    assert_eq!(sim.stats().binds_ok, 0);
    link.shutdown().await;
}
