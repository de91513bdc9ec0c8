//! RTP for answered calls: the media plane (`plane.rs`: workers that send and hear every
//! call's 20 ms packets), batched socket IO (`batch.rs`), and here the sans-IO pieces: reading
//! an RTP packet in place and a call's receiving side (jitter buffer, codec, keys).

mod batch;
mod plane;

pub use plane::{MediaError, MediaPlane, MediaPorts, MediaStream, RecordingTap};

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use crate::telephony::media::dtmf::DtmfReceiver;
use crate::telephony::media::g711::Codec;
use crate::telephony::media::jitter::{JitterBuffer, Playout};
use crate::telephony::media::vad::Utterance;
use crate::telephony::media::{FRAME_SAMPLES, SAMPLE_RATE};

/// One 20 ms frame of 8 kHz audio.
pub type Frame = [i16; FRAME_SAMPLES];

const PERIOD_MS: usize = 20;

/// Packet lateness is kept in 0.1 ms buckets up to 50 ms.
const LATENESS_BUCKETS: usize = 500;

/// An RTP header without CSRCs or extension.
const RTP_HEADER: usize = 12;

/// What the media plane did, for the media benchmark: packets, their lateness, frames heard.
#[derive(Default)]
pub struct PacerStats {
    pub ticks: AtomicU64,
    pub packets: AtomicU64,
    /// Frames of the far ends' audio decoded from a packet (not made up for a lost one).
    pub frames_decoded: AtomicU64,
    /// Histogram of packet lateness (when the packet left against when it was due) in 0.1 ms
    /// buckets up to 50 ms. Per packet, not per tick: the last packet of a big tick is as late
    /// as the whole batch before it.
    pub lateness: Mutex<Vec<u64>>,
}

impl PacerStats {
    /// The given quantile of packet lateness, in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        let h = self.lateness.lock().unwrap_or_else(|e| e.into_inner());
        let total: u64 = h.iter().sum();
        if total == 0 {
            return 0.0;
        }
        let want = (total as f64 * q).ceil() as u64;
        let mut seen = 0;
        for (i, n) in h.iter().enumerate() {
            seen += n;
            if seen >= want {
                return i as f64 / 10.0;
            }
        }
        h.len() as f64 / 10.0
    }
}

/// An RTP packet's (payload type, sequence number, timestamp, payload), read in place; None
/// for what is not RTP version 2.
pub fn parse_rtp(packet: &[u8]) -> Option<(u8, u16, u32, u32, &[u8])> {
    if packet.len() < RTP_HEADER || packet[0] >> 6 != 2 {
        return None;
    }
    let csrcs = (packet[0] & 0x0f) as usize;
    let mut start = RTP_HEADER + 4 * csrcs;
    if packet[0] & 0x10 != 0 {
        let words = u16::from_be_bytes([*packet.get(start + 2)?, *packet.get(start + 3)?]) as usize;
        start += 4 + 4 * words;
    }
    let mut end = packet.len();
    if packet[0] & 0x20 != 0 {
        end = end.checked_sub(*packet.last()? as usize)?;
    }
    if start > end {
        return None;
    }
    let payload_type = packet[1] & 0x7f;
    let seq = u16::from_be_bytes([packet[2], packet[3]]);
    let timestamp = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
    let ssrc = u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]);
    Some((payload_type, seq, timestamp, ssrc, &packet[start..end]))
}

/// What the customer's side did, as the call's task hears of it: the media plane plays out
/// the audio and runs the VAD itself.
#[derive(Debug, PartialEq)]
pub enum Inbound {
    /// The VAD heard speech start (barge-in).
    SpeechStarted,
    /// An utterance ended: its audio, for the recogniser (joined on the call's task).
    Utterance(Utterance),
    /// A key, from an RFC 4733 telephone event.
    Key(char),
}

/// The receiving side of a call's media, sans-IO: datagrams in (whatever the far end sends),
/// keys out at once, and one frame per 20 ms tick from the jitter buffer. Anything that is not
/// RTP, or not a codec or event we know, is dropped; nothing here can fail.
pub struct Listener {
    jitter: JitterBuffer,
    keys: DtmfReceiver,
    codec: Codec,
    /// Whether any audio came yet (before it, ticks give no frame).
    heard: bool,
    ssrc: Option<u32>,
    pcm: Vec<i16>,
    /// Payload buffers played out, reused for the next packets: an allocation per packet was
    /// 100,000 a second at 2,000 calls.
    spare: Vec<Vec<u8>>,
    /// Frames decoded from a packet so far (the rest of the ticks played silence).
    pub decoded: u64,
}

/// Payload buffers a listener keeps for reuse: the jitter buffer's depth and some.
const SPARE_PAYLOADS: usize = 8;

impl Default for Listener {
    fn default() -> Self {
        Listener::new()
    }
}

impl Listener {
    pub fn new() -> Listener {
        Listener {
            jitter: JitterBuffer::new(3),
            keys: DtmfReceiver::new(),
            codec: Codec::Pcmu,
            heard: false,
            ssrc: None,
            pcm: Vec::with_capacity(FRAME_SAMPLES),
            spare: Vec::new(),
            decoded: 0,
        }
    }

    /// Takes one datagram; a key when it completes a telephone event. `events` is the
    /// negotiated telephone-event payload type (101, ours, until the answer says).
    pub fn packet(&mut self, datagram: &[u8], events: Option<u8>) -> Option<char> {
        let (payload_type, seq, timestamp, source, payload) = parse_rtp(datagram)?;
        if Some(payload_type) == events || (events.is_none() && payload_type == 101) {
            return self.keys.push(timestamp, payload);
        }
        let codec = Codec::from_payload_type(payload_type)?;
        // A new source (early media then the answer, a transfer) restarts numbering.
        if self.ssrc.replace(source).is_some_and(|old| old != source) {
            self.jitter.reset();
        }
        self.codec = codec;
        self.heard = true;
        let mut buffer = self.spare.pop().unwrap_or_default();
        buffer.clear();
        buffer.extend_from_slice(payload);
        self.jitter.push(seq, timestamp, buffer);
        None
    }

    /// This tick's 20 ms of audio (silence for a lost packet); None before any audio came.
    pub fn frame(&mut self) -> Option<Frame> {
        if !self.heard {
            return None;
        }
        let mut frame = [0i16; FRAME_SAMPLES];
        if let Some(Playout::Frame(payload)) = self.jitter.pop() {
            self.pcm.clear();
            self.codec.decode(&payload.payload, &mut self.pcm);
            let n = self.pcm.len().min(FRAME_SAMPLES);
            frame[..n].copy_from_slice(&self.pcm[..n]);
            self.decoded += 1;
            if self.spare.len() < SPARE_PAYLOADS {
                self.spare.push(payload.payload);
            }
        }
        Some(frame)
    }
}

/// Milliseconds of audio in `samples` at 8 kHz.
pub fn duration_ms(samples: usize) -> u64 {
    samples as u64 * 1000 / SAMPLE_RATE as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use webrtc_util::marshal::Marshal;

    fn marshal(csrc: Vec<u32>, extension: bool, padding: bool) -> Vec<u8> {
        let mut header = rtp::header::Header {
            version: 2,
            payload_type: 8,
            sequence_number: 65_000,
            timestamp: 0xdead_beef,
            ssrc: 7,
            csrc,
            padding,
            ..Default::default()
        };
        if extension {
            header.set_extension(1, bytes::Bytes::from_static(&[1, 2, 3, 4])).unwrap();
        }
        let packet = rtp::packet::Packet { header, payload: bytes::Bytes::from_static(&[9; 160]) };
        packet.marshal().unwrap().to_vec()
    }

    #[test]
    fn rtp_is_read_in_place_as_the_rtp_crate_writes_it() {
        for (csrc, extension) in [(vec![], false), (vec![1, 2], false), (vec![], true), (vec![3], true)] {
            let bytes = marshal(csrc, extension, false);
            let (pt, seq, ts, source, payload) = parse_rtp(&bytes).unwrap();
            assert_eq!((pt, seq, ts, source), (8, 65_000, 0xdead_beef, 7));
            assert_eq!(payload, &[9; 160][..]);
        }
        assert!(parse_rtp(&[0u8; 11]).is_none());
        assert!(parse_rtp(&[0x40; 20]).is_none(), "version 1");
    }
}
