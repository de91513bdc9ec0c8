//! RTP for answered calls: one pacer sends every call's 20 ms packets from a single timer,
//! with calls spread over the 20 one-millisecond phases of the period (streams all in phase
//! make every tick a burst: SIP-NOTES measured p99 7.7 ms at 500 streams in phase, 2.1 ms
//! at 2,250 spread ones). Each call's receiver turns packets into audio frames and keys.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::telephony::media::dtmf::DtmfReceiver;
use crate::telephony::media::g711::Codec;
use crate::telephony::media::jitter::{JitterBuffer, Playout};
use crate::telephony::media::{FRAME_SAMPLES, SAMPLE_RATE};

/// One 20 ms frame of 8 kHz audio.
pub type Frame = [i16; FRAME_SAMPLES];

const PERIOD_MS: usize = 20;

/// An RTP header without CSRCs or extension.
const RTP_HEADER: usize = 12;

/// What leaves for one call: queued prompt audio, else silence.
pub struct OutStream {
    socket: Arc<UdpSocket>,
    state: Mutex<OutState>,
}

struct OutState {
    remote: Option<SocketAddr>,
    codec: Codec,
    seq: u16,
    timestamp: u32,
    ssrc: u32,
    queue: VecDeque<Frame>,
    /// Told when the queue runs dry (a prompt finished playing).
    drained: Option<oneshot::Sender<()>>,
    /// What we sent, frame by frame, for the recording's left channel.
    sent: Vec<i16>,
    record: bool,
    closed: bool,
    /// The packet being built (reused).
    encoded: Vec<u8>,
}

impl OutStream {
    pub fn new(socket: Arc<UdpSocket>, ssrc: u32, record: bool) -> Arc<OutStream> {
        Arc::new(OutStream {
            socket,
            state: Mutex::new(OutState {
                remote: None,
                codec: Codec::Pcmu,
                seq: (ssrc >> 16) as u16,
                timestamp: ssrc.rotate_left(7),
                ssrc,
                queue: VecDeque::new(),
                drained: None,
                sent: Vec::new(),
                record,
                closed: false,
                encoded: Vec::with_capacity(RTP_HEADER + FRAME_SAMPLES),
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OutState> {
        // A panic elsewhere never leaves this state half-written; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where to send, once the answer (or a 183) says.
    pub fn connect(&self, remote: SocketAddr, codec: Codec) {
        let mut s = self.lock();
        s.remote = Some(remote);
        s.codec = codec;
    }

    /// Queues a prompt's audio; the receiver fires when it has all been sent (or was cut).
    pub fn play(&self, pcm: &[i16]) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let mut s = self.lock();
        for chunk in pcm.chunks(FRAME_SAMPLES) {
            let mut frame = [0i16; FRAME_SAMPLES];
            frame[..chunk.len()].copy_from_slice(chunk);
            s.queue.push_back(frame);
        }
        if s.queue.is_empty() {
            let _ = tx.send(());
        } else {
            s.drained = Some(tx);
        }
        rx
    }

    /// Barge-in: drops what is left of the prompt.
    pub fn stop_playing(&self) {
        let mut s = self.lock();
        s.queue.clear();
        if let Some(tx) = s.drained.take() {
            let _ = tx.send(());
        }
    }

    /// Sends an RFC 4733 event payload (used by tests and transfer tones).
    pub fn close(&self) {
        self.lock().closed = true;
    }

    /// Takes what was sent so far (the recording's left channel).
    pub fn take_sent(&self) -> Vec<i16> {
        std::mem::take(&mut self.lock().sent)
    }

    /// Sends this period's packet. Returns false once the stream is closed.
    fn tick(&self) -> bool {
        let mut s = self.lock();
        if s.closed {
            return false;
        }
        let Some(remote) = s.remote else { return true };
        let frame = s.queue.pop_front().unwrap_or([0; FRAME_SAMPLES]);
        if s.queue.is_empty()
            && let Some(tx) = s.drained.take()
        {
            let _ = tx.send(());
        }
        if s.record {
            s.sent.extend_from_slice(&frame);
        }
        let codec = s.codec;
        let mut packet = std::mem::take(&mut s.encoded);
        packet.clear();
        // The 12-byte RTP header (version 2, no padding, extension or CSRCs), then the payload:
        // built in place in the stream's own buffer, nothing allocated per packet.
        packet.extend_from_slice(&[0x80, codec.payload_type() & 0x7f]);
        packet.extend_from_slice(&s.seq.to_be_bytes());
        packet.extend_from_slice(&s.timestamp.to_be_bytes());
        packet.extend_from_slice(&s.ssrc.to_be_bytes());
        codec.encode(&frame, &mut packet);
        s.seq = s.seq.wrapping_add(1);
        s.timestamp = s.timestamp.wrapping_add(FRAME_SAMPLES as u32);
        // A full socket buffer drops this packet, as the network would; never block the pacer.
        let _ = self.socket.try_send_to(&packet, remote);
        s.encoded = packet;
        true
    }
}

/// Lateness of the pacer's packets, for the media benchmark.
#[derive(Default)]
pub struct PacerStats {
    pub ticks: AtomicU64,
    pub packets: AtomicU64,
    /// Histogram of packet lateness (when the packet left against when it was due) in 0.1 ms
    /// buckets up to 50 ms. Per packet, not per tick: the last packet of a big tick is as late
    /// as the whole batch before it.
    pub lateness: Mutex<Vec<u64>>,
}

const LATENESS_BUCKETS: usize = 500;

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

/// The one timer that sends every call's packets.
pub struct Pacer {
    slots: Mutex<Vec<Vec<Weak<OutStream>>>>,
    next_slot: AtomicU64,
    pub stats: Arc<PacerStats>,
}

impl Pacer {
    /// Starts the pacer on a thread of its own. On the calls' runtime its timer would wait
    /// behind thousands of ready receiver tasks at every tick; a thread that sleeps to each
    /// millisecond is woken on time by the kernel (and ends when the pacer is dropped).
    pub fn start() -> Arc<Pacer> {
        let pacer = Arc::new(Pacer {
            slots: Mutex::new(vec![Vec::new(); PERIOD_MS]),
            next_slot: AtomicU64::new(0),
            stats: Arc::new(PacerStats { lateness: Mutex::new(vec![0; LATENESS_BUCKETS]), ..PacerStats::default() }),
        });
        let weak = Arc::downgrade(&pacer);
        std::thread::Builder::new()
            .name("callscript-rtp".into())
            .spawn(move || pace(weak))
            .expect("cannot start the RTP pacer thread");
        pacer
    }

    /// Adds a stream in the next phase of the period.
    pub fn add(&self, stream: &Arc<OutStream>) {
        let slot = (self.next_slot.fetch_add(1, Ordering::Relaxed) % PERIOD_MS as u64) as usize;
        self.add_in_phase(stream, slot);
    }

    /// Adds a stream in the given phase (millisecond of the 20 ms period). Calls use
    /// [`Pacer::add`]; this is the media benchmark's baseline with every stream in one phase.
    pub fn add_in_phase(&self, stream: &Arc<OutStream>, phase: usize) {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())[phase % PERIOD_MS].push(Arc::downgrade(stream));
    }
}

/// The pacer's loop: every millisecond, the streams of that phase of the 20 ms period.
fn pace(weak: Weak<Pacer>) {
    let start = Instant::now();
    let mut tick: u64 = 0;
    let mut batch: Vec<Arc<OutStream>> = Vec::new();
    let mut lateness = [0u64; LATENESS_BUCKETS];
    loop {
        tick += 1;
        let due = start + Duration::from_millis(tick);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let Some(pacer) = weak.upgrade() else { return };
        let slot = (tick % PERIOD_MS as u64) as usize;
        batch.clear();
        {
            let mut slots = pacer.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots[slot].retain(|w| match w.upgrade() {
                Some(s) => {
                    batch.push(s);
                    true
                }
                None => false,
            });
        }
        let mut sent = 0;
        batch.retain(|s| {
            sent += 1;
            let open = s.tick();
            let late = Instant::now().saturating_duration_since(due);
            lateness[((late.as_micros() / 100) as usize).min(LATENESS_BUCKETS - 1)] += 1;
            open
        });
        if batch.len() < sent {
            let mut slots = pacer.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots[slot].retain(|w| w.upgrade().is_some_and(|s| !s.lock().closed));
        }
        // Streams are not kept alive by the pacer between ticks.
        batch.clear();
        let stats = &pacer.stats;
        stats.ticks.fetch_add(1, Ordering::Relaxed);
        stats.packets.fetch_add(sent as u64, Ordering::Relaxed);
        if sent > 0 {
            let mut h = stats.lateness.lock().unwrap_or_else(|e| e.into_inner());
            for (total, n) in h.iter_mut().zip(lateness.iter_mut()) {
                *total += std::mem::take(n);
            }
        }
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

/// What the customer's side sent, as the call task sees it.
#[derive(Debug)]
// Frames travel by value: boxing them would allocate 50 times a second per call.
#[allow(clippy::large_enum_variant)]
pub enum Inbound {
    /// 20 ms of the customer's audio (silence for a lost packet).
    Audio(Frame),
    /// A key, from an RFC 4733 telephone event.
    Key(char),
}

/// Reads the call's RTP socket: packets through the jitter buffer, decoded into frames
/// (one per 20 ms), and telephone events into keys. Ends when `inbound` is dropped.
///
/// The task wakes once per 20 ms frame, on its playout clock, and then reads whatever the
/// socket holds: waking on every packet as well doubled the task wakeups of a two-way call,
/// the largest cost of media at a few thousand calls. Packets wait in the kernel's buffer
/// at most one frame, well inside the jitter buffer's depth; keys are seen within 20 ms.
pub fn spawn_receiver(socket: Arc<UdpSocket>, event_pt: Arc<Mutex<Option<u8>>>, inbound: mpsc::Sender<Inbound>) {
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        let mut listener = Listener::new();
        let mut playout = tokio::time::interval(Duration::from_millis(20));
        playout.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            playout.tick().await;
            if inbound.is_closed() {
                return;
            }
            loop {
                let n = match socket.try_recv_from(&mut buf) {
                    Ok((n, _from)) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    // ICMP errors from the far end's port surface here on some systems; keep reading.
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
                    Err(_) => return,
                };
                let events = *event_pt.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(key) = listener.packet(&buf[..n], events)
                    && inbound.send(Inbound::Key(key)).await.is_err()
                {
                    return;
                }
            }
            if let Some(frame) = listener.frame()
                && inbound.send(Inbound::Audio(frame)).await.is_err()
            {
                return;
            }
        }
    });
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
}

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
        self.jitter.push(seq, timestamp, payload.to_vec());
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
    use crate::telephony::media::dtmf::sender_packets;
    use bytes::Bytes;
    use webrtc_util::marshal::{Marshal, Unmarshal};

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

    #[tokio::test]
    async fn a_tick_sends_a_packet_the_rtp_crate_reads() {
        let sink = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        // The pacer never waits for a socket: a packet that finds it not (yet) known writable
        // is dropped. Here the runtime learns it is before the first tick.
        socket.writable().await.unwrap();
        let out = OutStream::new(socket, 0x1234_5678, false);
        out.connect(sink.local_addr().unwrap(), Codec::Pcma);
        let _done = out.play(&[1000; FRAME_SAMPLES]);
        assert!(out.tick());
        assert!(out.tick());
        let mut buf = [0u8; 1500];
        let mut seqs = Vec::new();
        for _ in 0..2 {
            let received = tokio::time::timeout(Duration::from_secs(5), sink.recv_from(&mut buf)).await;
            let (n, _) = received.expect("a packet within 5 s").unwrap();
            let packet = rtp::packet::Packet::unmarshal(&mut &buf[..n]).unwrap();
            assert_eq!(packet.header.version, 2);
            assert_eq!(packet.header.payload_type, 8);
            assert_eq!(packet.header.ssrc, 0x1234_5678);
            assert_eq!(packet.payload.len(), FRAME_SAMPLES);
            seqs.push((packet.header.sequence_number, packet.header.timestamp));
        }
        assert_eq!(seqs[1].0, seqs[0].0.wrapping_add(1));
        assert_eq!(seqs[1].1, seqs[0].1.wrapping_add(FRAME_SAMPLES as u32));
        out.close();
        assert!(!out.tick());
    }

    fn packet(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
        let p = rtp::packet::Packet {
            header: rtp::header::Header {
                version: 2,
                payload_type: pt,
                sequence_number: seq,
                timestamp: ts,
                ssrc,
                ..Default::default()
            },
            payload: Bytes::copy_from_slice(payload),
        };
        p.marshal().unwrap().to_vec()
    }

    #[tokio::test]
    async fn the_pacer_sends_queued_audio_then_silence_in_numbered_packets() {
        let sink = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        socket.writable().await.unwrap();
        let out = OutStream::new(socket, 0x1234_5678, true);
        out.connect(sink.local_addr().unwrap(), Codec::Pcma);
        // Two frames of a loud square wave, then the queue is dry.
        let loud: Vec<i16> = (0..320).map(|n| if n % 16 < 8 { 8_000 } else { -8_000 }).collect();
        let done = out.play(&loud);
        let pacer = Pacer::start();
        pacer.add(&out);
        let mut buf = [0u8; 1500];
        let mut packets = Vec::new();
        for _ in 0..4 {
            let n = sink.recv(&mut buf).await.unwrap();
            packets.push(rtp::packet::Packet::unmarshal(&mut &buf[..n]).unwrap());
        }
        done.await.unwrap();
        out.close();
        for pair in packets.windows(2) {
            assert_eq!(pair[1].header.sequence_number, pair[0].header.sequence_number.wrapping_add(1));
            assert_eq!(pair[1].header.timestamp, pair[0].header.timestamp.wrapping_add(160));
        }
        assert!(
            packets
                .iter()
                .all(|p| p.header.payload_type == 8 && p.payload.len() == 160 && p.header.ssrc == 0x1234_5678)
        );
        let mut first = Vec::new();
        Codec::Pcma.decode(&packets[0].payload, &mut first);
        assert!(first.iter().all(|s| s.unsigned_abs() > 7_000), "the prompt's audio first");
        let mut last = Vec::new();
        Codec::Pcma.decode(&packets[3].payload, &mut last);
        assert!(last.iter().all(|s| s.unsigned_abs() < 16), "then silence");
        // What was sent is kept for the recording: the prompt, then silence.
        let sent = out.take_sent();
        assert!(sent.len() >= 640 && sent[..320] == loud[..]);
        // The pacer counts a tick's packets after sending them all: the fourth can be here first.
        let counted = async {
            while pacer.stats.packets.load(Ordering::Relaxed) < 4 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), counted).await.expect("the pacer counts the packets it sent");
    }

    #[tokio::test]
    async fn the_receiver_decodes_audio_and_reports_each_key_once() {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let target = socket.local_addr().unwrap();
        let (tx, mut rx) = mpsc::channel(64);
        spawn_receiver(Arc::clone(&socket), Arc::new(Mutex::new(Some(101))), tx);
        let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut tone = Vec::new();
        Codec::Pcmu.encode(&[6_000i16; 160], &mut tone);
        // Five audio frames, out of order, then key 7 with its repeats and three end packets.
        for seq in [1u16, 0, 2, 4, 3] {
            peer.send_to(&packet(0, seq, seq as u32 * 160, 9, &tone), target).await.unwrap();
        }
        for p in sender_packets('7', 100).unwrap() {
            peer.send_to(&packet(101, 100, 4_000, 9, &p.payload), target).await.unwrap();
        }
        let mut keys = String::new();
        let mut loud_frames = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while tokio::time::Instant::now() < deadline && loud_frames < 5 {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(Inbound::Key(k))) => keys.push(k),
                Ok(Some(Inbound::Audio(frame))) => {
                    if frame.iter().all(|s| s.unsigned_abs() > 5_000) {
                        loud_frames += 1;
                    }
                }
                _ => break,
            }
        }
        assert_eq!(keys, "7");
        assert_eq!(loud_frames, 5, "every frame played, in order, once");
    }
}
