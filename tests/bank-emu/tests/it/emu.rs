//! The emulated bank from a host's point of view, in real time over real TCP sockets: bring-up,
//! a submit, an inbound SMS deleted after the ack, a firmware reboot seen as a peer restart, a
//! host reconnection resuming the same link, and slots on `modem-sim` TCP listeners.

use std::time::Duration;

use bank_emu::{BankEmu, EmuConfig, LinkSpec, SlotSpec};
use link::msg::{SlotId, SubmitOutcome};
use link::{BankToHost, Event, HostToBank};
use modem_sim::{Endpoint, InboundSms, Mem, ModemConfig, Profile, Sim};
use tokio::net::{TcpListener, TcpStream};

use crate::host::{Host, submit_pdu};

const SEC: Duration = Duration::from_secs(1);

fn sims(n: usize) -> Vec<SlotSpec> {
    vec![SlotSpec::Sim(Box::new(ModemConfig::new(Profile::Sim800))); n]
}

async fn start(cfg: EmuConfig) -> BankEmu {
    tokio::task::spawn_blocking(move || BankEmu::start(cfg))
        .await
        .expect("join")
        .expect("emulator starts")
}

async fn connect(emu: &BankEmu) -> TcpStream {
    TcpStream::connect(emu.link_addr().expect("tcp link"))
        .await
        .expect("connect to the bank")
}

#[tokio::test]
async fn submit_and_inbound_through_the_emulated_bank() {
    let emu = start(EmuConfig::new(sims(2))).await;
    let mut host = Host::new(connect(&emu).await, 0x4057_0001);
    host.all_ready(2, 30 * SEC).await;
    host.submit(1, 42, submit_pdu("over tcp", false)).await;
    let outcome = host.result(42, 30 * SEC).await;
    let sent = emu.sim(1).unwrap().accepted();
    assert_eq!(sent.len(), 1);
    assert_eq!(outcome, SubmitOutcome::Accepted { mr: sent[0].mr });

    let sim = emu.sim(0).unwrap().clone();
    sim.inject(&InboundSms::new("+4798765432", "to the host"))
        .unwrap();
    let (slot, index) = host
        .expect(30 * SEC, |ev| match ev {
            Event::Message(BankToHost::InboundSms { slot, index, .. }) => Some((*slot, *index)),
            _ => None,
        })
        .await;
    assert_eq!(slot, SlotId(0));
    host.send(HostToBank::AckInbound { slot, index }).await;
    let deleted = sim.wait_for(30 * SEC, |m| {
        (m.store_usage(Mem::Sm).0 + m.store_usage(Mem::Me).0 == 0).then_some(())
    });
    tokio::select! {
        r = deleted => r.expect("deleted after the ack"),
        () = host.idle(40 * SEC) => panic!("not deleted after the ack"),
    }
    tokio::task::spawn_blocking(move || emu.shutdown())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_reboot_is_a_peer_restart_and_a_reconnection_resumes_the_link() {
    let emu = start(EmuConfig::new(sims(1))).await;
    let mut host = Host::new(connect(&emu).await, 0x4057_0002);
    host.all_ready(1, 30 * SEC).await;
    // The TCP connection drops and comes back: the same two sessions resume.
    host.reconnect(connect(&emu).await);
    host.submit(0, 1, submit_pdu("after reconnect", false))
        .await;
    assert!(matches!(
        host.result(1, 30 * SEC).await,
        SubmitOutcome::Accepted { .. }
    ));
    assert!(
        !host
            .seen
            .iter()
            .any(|e| matches!(e, Event::PeerRestarted { .. })),
        "a reconnection is not a restart"
    );
    emu.reboot();
    host.expect(30 * SEC, |ev| {
        matches!(ev, Event::PeerRestarted { .. }).then_some(())
    })
    .await;
    host.expect(30 * SEC, |ev| {
        matches!(ev, Event::Message(BankToHost::BankInfo(_))).then_some(())
    })
    .await;
    host.all_ready(1, 30 * SEC).await;
}

#[tokio::test]
async fn slots_on_modem_sim_tcp_listeners() {
    let any = "127.0.0.1:0".parse().unwrap();
    let specs = vec![(Endpoint::Tcp(any), ModemConfig::new(Profile::Ec25)); 2];
    let sim = Sim::start(specs).await.expect("modem-sim");
    let slots = sim
        .endpoints()
        .iter()
        .map(|e| match e {
            Endpoint::Tcp(a) => SlotSpec::Tcp(*a),
            Endpoint::Pty(_) => unreachable!("TCP endpoints were asked for"),
        })
        .collect();
    let emu = start(EmuConfig::new(slots)).await;
    let mut host = Host::new(connect(&emu).await, 0x4057_0003);
    host.all_ready(2, 30 * SEC).await;
    host.submit(0, 7, submit_pdu("via modem-sim", false)).await;
    assert!(matches!(
        host.result(7, 30 * SEC).await,
        SubmitOutcome::Accepted { .. }
    ));
    assert_eq!(sim.modem(0).unwrap().accepted()[0].text, "via modem-sim");
    tokio::task::spawn_blocking(move || emu.shutdown())
        .await
        .unwrap();
    sim.shutdown().await;
}

#[tokio::test]
async fn the_bank_connects_to_a_listening_host() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut cfg = EmuConfig::new(sims(1));
    cfg.link = LinkSpec::Connect(listener.local_addr().unwrap());
    let emu = start(cfg).await;
    let (conn, _) = tokio::time::timeout(10 * SEC, listener.accept())
        .await
        .expect("the bank connects within 10 s")
        .unwrap();
    let mut host = Host::new(conn, 0x4057_0004);
    host.all_ready(1, 30 * SEC).await;
    host.submit(0, 9, submit_pdu("connected", false)).await;
    assert!(matches!(
        host.result(9, 30 * SEC).await,
        SubmitOutcome::Accepted { .. }
    ));
    tokio::task::spawn_blocking(move || emu.shutdown())
        .await
        .unwrap();
}

#[tokio::test]
async fn the_link_on_a_pty() {
    let dir = std::env::temp_dir().join(format!("bank-emu-pty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bank");
    let mut cfg = EmuConfig::new(sims(1));
    cfg.link = LinkSpec::Pty(path.clone());
    let emu = start(cfg).await;
    assert_eq!(emu.link_path(), Some(&path));
    // The host side of a serial device, as a host service would open it.
    let tty = tokio::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .await
        .expect("open the pty");
    let mut host = Host::new(tty, 0x4057_0005);
    host.all_ready(1, 30 * SEC).await;
    host.submit(0, 11, submit_pdu("over a pty", false)).await;
    assert!(matches!(
        host.result(11, 30 * SEC).await,
        SubmitOutcome::Accepted { .. }
    ));
    tokio::task::spawn_blocking(move || emu.shutdown())
        .await
        .unwrap();
    // The emulator removes its link when it stops.
    assert!(std::fs::symlink_metadata(&path).is_err());
    let _ = std::fs::remove_dir(&dir);
}
