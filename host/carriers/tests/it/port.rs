//! The reconnecting modem port: a restarted peer is reopened without the reader noticing.

use std::time::Duration;

use carriers::modem::ModemPort;
use carriers::port::Port;
use embedded_io_async::{Read, Write};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[tokio::test]
async fn a_dropped_tcp_modem_is_reopened() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(async move {
        // First connection: one line, then the "modem" goes away.
        let (mut a, _) = listener.accept().await.unwrap();
        a.write_all(b"first").await.unwrap();
        drop(a);
        // It comes back: a banner, then it reads what the port writes.
        let (mut b, _) = listener.accept().await.unwrap();
        b.write_all(b"RDY").await.unwrap();
        let mut buf = [0u8; 3];
        b.read_exact(&mut buf).await.unwrap();
        buf
    });
    let mut port = Port::new(ModemPort::Tcp(addr));
    let mut buf = [0u8; 16];
    let read = async |port: &mut Port, buf: &mut [u8; 16]| {
        let n = tokio::time::timeout(Duration::from_secs(10), port.read(buf))
            .await
            .expect("read in time")
            .unwrap();
        buf[..n].to_vec()
    };
    assert_eq!(read(&mut port, &mut buf).await, b"first");
    // End of stream is not an error to the reader: it reconnects and reads on.
    assert_eq!(read(&mut port, &mut buf).await, b"RDY");
    port.write_all(b"AT\r").await.unwrap();
    port.flush().await.unwrap();
    assert_eq!(&server.await.unwrap(), b"AT\r");
}

#[tokio::test]
async fn a_fixed_stream_reports_its_end() {
    let (a, b) = tokio::io::duplex(64);
    drop(a);
    let mut port = Port::from_stream(b);
    let mut buf = [0u8; 4];
    assert!(port.read(&mut buf).await.is_err());
}
