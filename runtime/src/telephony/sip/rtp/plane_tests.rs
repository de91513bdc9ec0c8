//! The media plane on loopback, both port modes: what leaves, what is heard, who hears it.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::*;
use crate::telephony::media::dtmf::sender_packets;
use crate::telephony::sip::rtp::parse_rtp;

const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// A far end: its own socket, as a gateway gives each call.
struct FarEnd {
    socket: UdpSocket,
    seq: u16,
}

impl FarEnd {
    fn new() -> FarEnd {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        FarEnd { socket, seq: 0 }
    }

    fn addr(&self) -> SocketAddr {
        self.socket.local_addr().unwrap()
    }

    /// One 20 ms PCMU packet of a constant level, to `to`.
    fn speak(&mut self, to: SocketAddr, level: i16) {
        let mut packet = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9];
        packet[2..4].copy_from_slice(&self.seq.to_be_bytes());
        packet[4..8].copy_from_slice(&(u32::from(self.seq) * FRAME_SAMPLES as u32).to_be_bytes());
        Codec::Pcmu.encode(&[level; FRAME_SAMPLES], &mut packet);
        self.seq = self.seq.wrapping_add(1);
        self.socket.send_to(&packet, to).unwrap();
    }

    /// `key` as RFC 4733 events (payload type 101), with its repeats and end packets.
    fn press(&self, to: SocketAddr, key: char) {
        for p in sender_packets(key, 100).unwrap() {
            let mut packet = vec![0x80, 101, 0, 100, 0, 0, 0x0f, 0xa0, 0, 0, 0, 9];
            packet.extend_from_slice(&p.payload);
            self.socket.send_to(&packet, to).unwrap();
        }
    }

    /// The next RTP packet that reaches this far end: (sequence number, timestamp, payload).
    fn hear(&self) -> (u16, u32, Vec<u8>) {
        let mut buf = [0u8; 1500];
        let n = self.socket.recv(&mut buf).expect("a packet within 5 s");
        let (pt, seq, ts, _, payload) = parse_rtp(&buf[..n]).expect("RTP");
        assert_eq!(pt, 8, "PCMA, as connected");
        (seq, ts, payload.to_vec())
    }
}

/// Speaks `frames` loud frames then silence, in real time, until the call hears an utterance;
/// what the call heard, in order.
fn talk_until_heard(
    far: &mut FarEnd,
    to: SocketAddr,
    level: i16,
    key: char,
    inbound: &mut mpsc::Receiver<Inbound>,
) -> Vec<Inbound> {
    let mut heard = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    for n in 0.. {
        far.speak(to, if n < 15 { level } else { 0 });
        if n == 20 {
            far.press(to, key);
        }
        std::thread::sleep(Duration::from_millis(20));
        while let Ok(event) = inbound.try_recv() {
            heard.push(event);
        }
        if heard.iter().any(|e| matches!(e, Inbound::Utterance(_)))
            && heard.iter().any(|e| matches!(e, Inbound::Key(_)))
            || Instant::now() > deadline
        {
            return heard;
        }
    }
    unreachable!()
}

#[test]
fn a_stream_sends_queued_audio_then_silence_in_numbered_packets() {
    let plane = MediaPlane::start(LOOPBACK, MediaPorts::PerCall, 1).unwrap();
    let far = FarEnd::new();
    let stream = plane.open(0x1234_5678).unwrap();
    stream.connect(far.addr(), Codec::Pcma, Some(101)).unwrap();
    let tap = stream.start_recording();
    // Two frames of a loud square wave, then the queue is dry.
    let loud: Vec<i16> = (0..320).map(|n| if n % 16 < 8 { 8_000 } else { -8_000 }).collect();
    let mut done = stream.play(&loud);
    stream.send();
    let packets: Vec<_> = (0..4).map(|_| far.hear()).collect();
    for pair in packets.windows(2) {
        assert_eq!(pair[1].0, pair[0].0.wrapping_add(1));
        assert_eq!(pair[1].1, pair[0].1.wrapping_add(160));
    }
    let decoded = |payload: &[u8]| {
        let mut pcm = Vec::new();
        Codec::Pcma.decode(payload, &mut pcm);
        pcm
    };
    assert!(decoded(&packets[0].2).iter().all(|s| s.unsigned_abs() > 7_000), "the prompt's audio first");
    assert!(decoded(&packets[3].2).iter().all(|s| s.unsigned_abs() < 16), "then silence");
    assert_eq!(done.try_recv(), Ok(()), "the prompt was all sent");
    // What was sent is kept for the recording: the prompt, then silence.
    let (sent, _) = tap.take();
    assert!(sent.len() >= 640 && sent[..320] == loud[..]);
    assert!(plane.stats.packets.load(Ordering::Relaxed) >= 3);
}

#[cfg(target_os = "linux")]
#[test]
fn the_plane_turns_transparent_huge_pages_off() {
    let _plane = MediaPlane::start(LOOPBACK, MediaPorts::Shared, 1).unwrap();
    // SAFETY: a query without pointers.
    let disabled = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
    assert_eq!(disabled, 1);
}

#[test]
fn a_dropped_stream_stops_sending() {
    let plane = MediaPlane::start(LOOPBACK, MediaPorts::Shared, 1).unwrap();
    let far = FarEnd::new();
    let stream = plane.open(7).unwrap();
    stream.connect(far.addr(), Codec::Pcma, None).unwrap();
    stream.send();
    far.hear();
    drop(stream);
    // What was already on its way may still come; then nothing.
    std::thread::sleep(Duration::from_millis(60));
    far.socket.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 1500];
    while far.socket.recv(&mut buf).is_ok() {}
    std::thread::sleep(Duration::from_millis(100));
    assert!(far.socket.recv(&mut buf).is_err(), "no packet after the stream was dropped");
}

fn heard_level(heard: &[Inbound]) -> Option<i16> {
    heard.iter().find_map(|e| match e {
        Inbound::Utterance(utterance) => utterance.iter().map(|s| s.unsigned_abs()).max().map(|m| m as i16),
        _ => None,
    })
}

fn keys(heard: &[Inbound]) -> String {
    heard
        .iter()
        .filter_map(|e| match e {
            Inbound::Key(k) => Some(*k),
            _ => None,
        })
        .collect()
}

#[test]
fn each_call_hears_its_own_far_end_on_either_kind_of_port() {
    for ports in [MediaPorts::PerCall, MediaPorts::Shared] {
        let plane = MediaPlane::start(LOOPBACK, ports, 1).unwrap();
        let (mut far_a, mut far_b) = (FarEnd::new(), FarEnd::new());
        let (a, b) = (plane.open(1).unwrap(), plane.open(2).unwrap());
        if ports == MediaPorts::Shared {
            assert_eq!(a.local_addr(), b.local_addr(), "one shared socket for the worker");
        } else {
            assert_ne!(a.local_addr(), b.local_addr());
        }
        let (tx_a, mut heard_a) = mpsc::channel(64);
        let (tx_b, mut heard_b) = mpsc::channel(64);
        for (stream, far, tx) in [(&a, &far_a, tx_a), (&b, &far_b, tx_b)] {
            stream.connect(far.addr(), Codec::Pcmu, Some(101)).unwrap();
            stream.hear(VadConfig::default(), tx);
        }
        // Interleaved: A loud, B quieter, each with its own key.
        let (to_a, to_b) = (a.local_addr(), b.local_addr());
        let talker = std::thread::spawn(move || {
            let (mut of_a, mut of_b) = (Vec::new(), Vec::new());
            let deadline = Instant::now() + Duration::from_secs(10);
            let done = |heard: &[Inbound]| {
                heard.iter().filter(|e| matches!(e, Inbound::Utterance(_) | Inbound::Key(_))).count() >= 2
            };
            for n in 0.. {
                far_a.speak(to_a, if n < 15 { 12_000 } else { 0 });
                far_b.speak(to_b, if n < 15 { 3_000 } else { 0 });
                if n == 20 {
                    far_a.press(to_a, '1');
                    far_b.press(to_b, '2');
                }
                std::thread::sleep(Duration::from_millis(20));
                while let Ok(e) = heard_a.try_recv() {
                    of_a.push(e);
                }
                while let Ok(e) = heard_b.try_recv() {
                    of_b.push(e);
                }
                if done(&of_a) && done(&of_b) || Instant::now() > deadline {
                    return (of_a, of_b);
                }
            }
            unreachable!()
        });
        let (of_a, of_b) = talker.join().unwrap();
        assert_eq!(keys(&of_a), "1", "{ports:?}: A's key, once, and only A's");
        assert_eq!(keys(&of_b), "2", "{ports:?}");
        assert_eq!(of_a.first(), Some(&Inbound::SpeechStarted), "{ports:?}");
        let (level_a, level_b) = (heard_level(&of_a).unwrap(), heard_level(&of_b).unwrap());
        assert!(level_a > 10_000 && (2_500..4_000).contains(&level_b), "{ports:?}: A {level_a}, B {level_b}");
    }
}

#[test]
fn a_shared_port_refuses_a_second_live_call_at_the_same_far_end_address() {
    let plane = MediaPlane::start(LOOPBACK, MediaPorts::Shared, 1).unwrap();
    let far = FarEnd::new();
    let first = plane.open(1).unwrap();
    first.connect(far.addr(), Codec::Pcmu, None).unwrap();
    let second = plane.open(2).unwrap();
    let refused = second.connect(far.addr(), Codec::Pcmu, None).unwrap_err();
    assert!(matches!(refused, MediaError::AddressInUse { remote } if remote == far.addr()));
    assert!(refused.to_string().contains("media_ports = \"per_call\""), "{refused}");
    // Once the first call is over, the address is free again.
    drop(first);
    second.connect(far.addr(), Codec::Pcmu, None).unwrap();
}

#[test]
fn the_recording_pairs_what_was_sent_with_what_was_heard() {
    let plane = MediaPlane::start(LOOPBACK, MediaPorts::PerCall, 1).unwrap();
    let mut far = FarEnd::new();
    let stream = plane.open(3).unwrap();
    let (tx, mut inbound) = mpsc::channel(64);
    stream.connect(far.addr(), Codec::Pcma, Some(101)).unwrap();
    let tap = stream.start_recording();
    stream.hear(VadConfig::default(), tx);
    stream.send();
    let heard = talk_until_heard(&mut far, stream.local_addr(), 9_000, '5', &mut inbound);
    assert_eq!(keys(&heard), "5");
    let (sent, theirs) = tap.take();
    assert!(sent.len() >= 20 * FRAME_SAMPLES, "{} samples sent", sent.len());
    assert!(theirs.iter().any(|s| s.unsigned_abs() > 8_000), "the far end's speech is in the recording");
    assert!(sent.len().abs_diff(theirs.len()) <= 4 * FRAME_SAMPLES, "both sides in step");
}
