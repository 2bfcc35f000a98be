//! Properties of the frame decoder and of a session fed arbitrary bytes: no panic, bounded
//! memory, and chunking never changes what is decoded.

use link::frame::{FrameDecoder, Header, Kind, MAX_WIRE_LEN, encode};
use link::{BankSession, Config, HostSession};
use proptest::prelude::*;

fn decode(chunks: &[&[u8]]) -> Vec<Result<(Header, Vec<u8>), link::FrameError>> {
    let mut dec = FrameDecoder::new();
    let mut out = Vec::new();
    for chunk in chunks {
        let mut input = *chunk;
        while let Some(r) = dec.feed(&mut input) {
            out.push(r.map(|f| (f.header, f.body.to_vec())));
        }
        assert!(input.is_empty());
        assert!(dec.buffered() <= link::frame::MAX_ENCODED_LEN);
    }
    out
}

fn frame_strategy() -> impl Strategy<Value = (Header, Vec<u8>)> {
    (
        prop_oneof![
            Just(Kind::Hello),
            Just(Kind::HelloAck),
            Just(Kind::Data),
            Just(Kind::Ack)
        ],
        any::<u8>(),
        any::<u16>(),
        any::<u16>(),
        proptest::collection::vec(any::<u8>(), 0..=link::MAX_BODY_LEN),
    )
        .prop_map(|(kind, flags, seq, ack, body)| {
            (
                Header {
                    kind,
                    flags,
                    seq,
                    ack,
                },
                body,
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000), cut in 1usize..300) {
        let chunks: Vec<&[u8]> = bytes.chunks(cut).collect();
        let _ = decode(&chunks);
    }

    #[test]
    fn frames_survive_any_chunking_and_noise_between_them(
        frames in proptest::collection::vec(frame_strategy(), 1..6),
        noise in proptest::collection::vec(any::<u8>(), 0..40),
        cut in 1usize..100,
    ) {
        let mut wire = Vec::new();
        let mut buf = [0u8; MAX_WIRE_LEN];
        for (h, body) in &frames {
            // Noise, then a delimiter that ends it, then the frame.
            wire.extend(&noise);
            wire.push(0);
            let n = encode(h, body, &mut buf).unwrap();
            wire.extend(&buf[..n]);
        }
        let chunks: Vec<&[u8]> = wire.chunks(cut).collect();
        let good: Vec<_> = decode(&chunks).into_iter().filter_map(Result::ok).collect();
        // Noise is allowed to decode as a frame only if it carries a valid CRC-32C: it does not
        // in practice, so the frames come out exactly.
        prop_assert_eq!(good, frames);
    }

    #[test]
    fn sessions_survive_arbitrary_bytes(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20),
        step in 0u64..2000,
    ) {
        let mut host: HostSession<8> = HostSession::new(Config::new(1));
        let mut bank: BankSession<4> = BankSession::new(Config::new(2));
        let mut buf = [0u8; MAX_WIRE_LEN];
        let mut now = 0;
        for c in &chunks {
            now += step;
            host.handle_bytes(c, now, |_| {});
            bank.handle_bytes(c, now, |_| {});
            host.handle_timeout(now, |_| {});
            bank.handle_timeout(now, |_| {});
            let mut n = 0;
            while host.poll_transmit(now, &mut buf).is_some() { n += 1; prop_assert!(n < 100); }
            n = 0;
            while bank.poll_transmit(now, &mut buf).is_some() { n += 1; prop_assert!(n < 100); }
        }
    }
}
