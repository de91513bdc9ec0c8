//! The jitter buffer against any arrival order: each 3-byte step is a push (sequence number
//! from the next two bytes) or, when its first byte is odd, a pop. Never a panic; after a pop
//! the buffer holds at most its depth plus its slack; a played frame is one that was pushed.
#![no_main]

use std::collections::HashSet;

use callscript_runtime::telephony::media::jitter::{JitterBuffer, Playout};
use libfuzzer_sys::fuzz_target;

/// The depth the call receiver uses and the buffer's backlog slack.
const DEPTH: usize = 3;
const SLACK: usize = 10;

fuzz_target!(|data: &[u8]| {
    let mut buffer = JitterBuffer::new(DEPTH);
    let mut pushed = HashSet::new();
    for step in data.chunks_exact(3) {
        let seq = u16::from_be_bytes([step[1], step[2]]);
        if step[0] & 1 == 1 {
            if let Some(Playout::Frame(packet)) = buffer.pop() {
                assert!(pushed.contains(&packet.seq), "played {} never pushed", packet.seq);
            }
            assert!(buffer.buffered() <= DEPTH + SLACK, "{} buffered", buffer.buffered());
        } else {
            buffer.push(seq, u32::from(seq).wrapping_mul(160), vec![step[0]]);
            pushed.insert(seq);
        }
    }
    let stats = buffer.stats();
    assert!(stats.duplicates + stats.late <= stats.received);
});
