//! DTMF digits as SIP calls carry them: RFC 4733 telephone-events inside RTP, and SIP INFO
//! bodies for trunks that send digits out of band.

use std::collections::VecDeque;
use std::fmt;

use super::{FRAME_MS, FRAME_SAMPLES, SAMPLE_RATE};

/// Bytes in one telephone-event payload.
pub const EVENT_PAYLOAD_LEN: usize = 4;

/// Volume senders put in events, in -dBm0 (RFC 4733 suggests 0..=36 for real tones; 10 is
/// what most gateways send).
pub const DEFAULT_VOLUME: u8 = 10;

/// How many times a sender repeats the end packet, so one lost packet does not lose the
/// event's end (RFC 4733 §2.5.1.4).
pub const END_REPEATS: usize = 3;

/// The longest event one payload can describe: the duration field is 16 bits of 8 kHz ticks.
pub const MAX_DURATION_MS: u32 = u16::MAX as u32 / (SAMPLE_RATE / 1000);

const END_BIT: u8 = 0x80;
const VOLUME_MASK: u8 = 0x3F;
const DIGITS: [char; 16] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D'];

/// Why DTMF input or a request to send one was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DtmfError {
    /// A telephone-event payload shorter than four bytes.
    ShortPayload { len: usize },
    /// A character that is not a DTMF key.
    UnknownDigit(char),
    /// A tone duration of zero or over [`MAX_DURATION_MS`].
    DurationOutOfRange { ms: u32 },
}

impl fmt::Display for DtmfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DtmfError::ShortPayload { len } => {
                write!(f, "telephone-event payload has {len} bytes; it needs {EVENT_PAYLOAD_LEN}")
            }
            DtmfError::UnknownDigit(digit) => write!(f, "{digit:?} is not a DTMF key"),
            DtmfError::DurationOutOfRange { ms } => {
                write!(f, "DTMF duration {ms} ms is not in 1..={MAX_DURATION_MS} ms")
            }
        }
    }
}

impl std::error::Error for DtmfError {}

/// The DTMF key of an RFC 4733 event code (0-9, 10 `*`, 11 `#`, 12-15 `A`-`D`); other
/// events (flash, fax tones) are not keys.
pub fn event_digit(event: u8) -> Option<char> {
    DIGITS.get(usize::from(event)).copied()
}

/// The RFC 4733 event code of a DTMF key; `a`-`d` are accepted as `A`-`D`.
pub fn digit_event(digit: char) -> Option<u8> {
    let digit = digit.to_ascii_uppercase();
    DIGITS.iter().position(|&key| key == digit).and_then(|code| u8::try_from(code).ok())
}

/// One RFC 4733 telephone-event payload (§2.3).
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// |     event     |E|R| volume    |          duration             |
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TelephoneEvent {
    pub event: u8,
    /// Set on the final packet(s) of the event.
    pub end: bool,
    /// Power level in -dBm0, 0..=63.
    pub volume: u8,
    /// Length so far, in RTP timestamp units (8 kHz ticks) from the event's timestamp.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Reads the first event of `payload`. The reserved bit is ignored, as the RFC asks
    /// of receivers; trailing bytes (padding) are ignored too.
    pub fn parse(payload: &[u8]) -> Result<TelephoneEvent, DtmfError> {
        let [event, flags, high, low] = match payload.get(..EVENT_PAYLOAD_LEN) {
            Some(&[event, flags, high, low]) => [event, flags, high, low],
            _ => return Err(DtmfError::ShortPayload { len: payload.len() }),
        };
        Ok(TelephoneEvent {
            event,
            end: flags & END_BIT != 0,
            volume: flags & VOLUME_MASK,
            duration: u16::from_be_bytes([high, low]),
        })
    }

    /// The four payload bytes (reserved bit zero; volume cut to its 6 bits).
    pub fn encode(&self) -> [u8; EVENT_PAYLOAD_LEN] {
        let end = if self.end { END_BIT } else { 0 };
        let [high, low] = self.duration.to_be_bytes();
        [self.event, end | (self.volume & VOLUME_MASK), high, low]
    }

    /// The DTMF key this event stands for, if any.
    pub fn digit(&self) -> Option<char> {
        event_digit(self.event)
    }
}

/// How many recent events a [`DtmfReceiver`] remembers. Repeats of an event arrive within
/// a few hundred milliseconds; 32 events is far more digits than anyone keys in that time.
const REMEMBERED_EVENTS: usize = 32;

/// Turns the telephone-event packets of one RTP stream into digits, each exactly once.
///
/// Senders repeat every event many times (a packet each 20 ms, then the end three times),
/// packets may be reordered and the first may be lost. All packets of one event carry the
/// event's start as RTP timestamp, so the receiver reports a digit on the first packet it
/// sees for a timestamp, whichever one that is, and ignores the rest.
#[derive(Debug, Default)]
pub struct DtmfReceiver {
    /// Timestamps of the events already reported, oldest first.
    seen: VecDeque<u32>,
}

impl DtmfReceiver {
    pub fn new() -> DtmfReceiver {
        DtmfReceiver::default()
    }

    /// Takes one telephone-event packet: its RTP timestamp and payload. Returns the digit
    /// when this packet is the first seen of a new key press; malformed payloads and
    /// non-key events give `None`.
    pub fn push(&mut self, rtp_timestamp: u32, payload: &[u8]) -> Option<char> {
        let digit = TelephoneEvent::parse(payload).ok()?.digit()?;
        if self.seen.contains(&rtp_timestamp) {
            return None;
        }
        if self.seen.len() == REMEMBERED_EVENTS {
            self.seen.pop_front();
        }
        self.seen.push_back(rtp_timestamp);
        Some(digit)
    }
}

/// One packet a sender emits for a key press.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventPacket {
    /// When to send it, in milliseconds after the key press starts.
    pub send_at_ms: u32,
    /// The RTP marker bit: set on the first packet of the event only.
    pub marker: bool,
    pub payload: [u8; EVENT_PAYLOAD_LEN],
}

/// The packets that send `digit` as a tone of `duration_ms`, one every 20 ms with a growing
/// duration, then the end packet [`END_REPEATS`] times. All go out with the same RTP
/// timestamp (the event's start), which the caller picks.
pub fn sender_packets(digit: char, duration_ms: u32) -> Result<Vec<EventPacket>, DtmfError> {
    let event = digit_event(digit).ok_or(DtmfError::UnknownDigit(digit))?;
    if !(1..=MAX_DURATION_MS).contains(&duration_ms) {
        return Err(DtmfError::DurationOutOfRange { ms: duration_ms });
    }
    let ticks_per_ms = SAMPLE_RATE / 1000;
    let total =
        u16::try_from(duration_ms * ticks_per_ms).map_err(|_| DtmfError::DurationOutOfRange { ms: duration_ms })?;

    // Progress packets report the duration reached at each 20 ms; the rest is the end.
    // Counting in u32 keeps the step past the last progress packet from overflowing.
    let progress = (1..)
        .map(|frames: u32| frames * FRAME_SAMPLES as u32)
        .map_while(|so_far| u16::try_from(so_far).ok().filter(|&so_far| so_far < total));
    let ending = std::iter::repeat_n(total, END_REPEATS);
    let packets = progress
        .map(|duration| (duration, false))
        .chain(ending.map(|duration| (duration, true)))
        .enumerate()
        .map(|(index, (duration, end))| EventPacket {
            send_at_ms: index as u32 * FRAME_MS,
            marker: index == 0,
            payload: TelephoneEvent { event, end, volume: DEFAULT_VOLUME, duration }.encode(),
        })
        .collect();
    Ok(packets)
}

/// The digit in a SIP INFO request's body, for the two formats trunks use:
/// `application/dtmf-relay` (`Signal=5\r\nDuration=160`) and `application/dtmf` (`5`).
/// The signal may be a key or its event code (`10` for `*`). Other bodies give `None`.
pub fn parse_sip_info(content_type: &str, body: &str) -> Option<String> {
    let media_type = content_type.split(';').next()?.trim();
    let signal = if media_type.eq_ignore_ascii_case("application/dtmf-relay") {
        body.lines().find_map(|line| {
            let (key, value) = line.split_once('=')?;
            key.trim().eq_ignore_ascii_case("signal").then_some(value)
        })?
    } else if media_type.eq_ignore_ascii_case("application/dtmf") {
        body
    } else {
        return None;
    };
    signal_digit(signal.trim()).map(String::from)
}

/// A key written as itself (`5`, `*`, `a`) or as its event code (`10`).
fn signal_digit(signal: &str) -> Option<char> {
    let mut chars = signal.chars();
    if let (Some(key), None) = (chars.next(), chars.next())
        && digit_event(key).is_some()
    {
        return Some(key.to_ascii_uppercase());
    }
    event_digit(signal.parse().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(event: u8, end: bool, duration: u16) -> [u8; 4] {
        TelephoneEvent { event, end, volume: DEFAULT_VOLUME, duration }.encode()
    }

    #[test]
    fn parses_the_rfc_layout() {
        // Event 5, end bit, reserved bit set (must be ignored), volume 10, duration 800.
        let event = TelephoneEvent::parse(&[5, 0x80 | 0x40 | 10, 0x03, 0x20]).unwrap();
        assert_eq!(event, TelephoneEvent { event: 5, end: true, volume: 10, duration: 800 });
        assert_eq!(event.digit(), Some('5'));
    }

    #[test]
    fn encode_then_parse_round_trips() {
        for (event, end, volume, duration) in [(0, false, 0, 0), (11, true, 63, u16::MAX)] {
            let original = TelephoneEvent { event, end, volume, duration };
            assert_eq!(TelephoneEvent::parse(&original.encode()), Ok(original));
        }
    }

    #[test]
    fn encode_keeps_volume_to_six_bits_and_reserved_clear() {
        let bytes = TelephoneEvent { event: 1, end: false, volume: 0xFF, duration: 0x1234 }.encode();
        assert_eq!(bytes, [1, 0x3F, 0x12, 0x34]);
    }

    #[test]
    fn short_payloads_are_errors() {
        assert_eq!(TelephoneEvent::parse(&[1, 2, 3]), Err(DtmfError::ShortPayload { len: 3 }));
        assert!(TelephoneEvent::parse(&[]).is_err());
    }

    #[test]
    fn event_codes_map_to_keys_both_ways() {
        let keys: String = (0..16).filter_map(event_digit).collect();
        assert_eq!(keys, "0123456789*#ABCD");
        assert_eq!(event_digit(16), None);
        for (code, key) in keys.chars().enumerate() {
            assert_eq!(digit_event(key), Some(code as u8));
        }
        assert_eq!(digit_event('d'), Some(15));
        assert_eq!(digit_event('x'), None);
    }

    #[test]
    fn receiver_reports_each_key_press_once() {
        let mut receiver = DtmfReceiver::new();
        let mut digits = String::new();
        // '1' at timestamp 1000: three progress packets, three end packets.
        for duration in [160, 320, 480] {
            digits.extend(receiver.push(1000, &payload(1, false, duration)));
        }
        for _ in 0..END_REPEATS {
            digits.extend(receiver.push(1000, &payload(1, true, 640)));
        }
        // The same key again is a new press, told apart by its timestamp.
        for duration in [160, 320] {
            digits.extend(receiver.push(5000, &payload(1, false, duration)));
        }
        digits.extend(receiver.push(5000, &payload(1, true, 400)));
        assert_eq!(digits, "11");
    }

    #[test]
    fn receiver_copes_with_lost_starts_and_reordering() {
        let mut receiver = DtmfReceiver::new();
        let arrivals = [
            (2000, payload(11, true, 800)),  // '#': only its end arrives
            (3000, payload(10, false, 320)), // '*': start lost, and reordered with...
            (2000, payload(11, true, 800)),
            (3000, payload(10, false, 160)), // ...this earlier packet
            (3000, payload(10, true, 480)),
            (2000, payload(11, false, 160)), // a straggler of the finished '#'
        ];
        let digits: String =
            arrivals.iter().filter_map(|(timestamp, bytes)| receiver.push(*timestamp, bytes)).collect();
        assert_eq!(digits, "#*");
    }

    #[test]
    fn receiver_ignores_malformed_and_non_key_events() {
        let mut receiver = DtmfReceiver::new();
        assert_eq!(receiver.push(10, &[1, 2]), None);
        // Event 16 is hook flash: not a key.
        assert_eq!(receiver.push(20, &payload(16, false, 160)), None);
        // The malformed packet did not use up timestamp 10.
        assert_eq!(receiver.push(10, &payload(3, false, 160)), Some('3'));
    }

    #[test]
    fn receiver_remembers_a_bounded_number_of_recent_events() {
        let mut receiver = DtmfReceiver::new();
        let count = REMEMBERED_EVENTS as u32 + 1;
        for index in 0..count {
            assert_eq!(receiver.push(index * 1000, &payload(7, false, 160)), Some('7'));
        }
        // The newest events are still recognised as repeats.
        let newest = (count - 1) * 1000;
        assert_eq!(receiver.push(newest, &payload(7, true, 800)), None);
        assert_eq!(receiver.push(1000, &payload(7, true, 800)), None);
        // The oldest has been forgotten, so memory stays bounded on long calls.
        assert_eq!(receiver.push(0, &payload(7, true, 800)), Some('7'));
    }

    #[test]
    fn sender_packets_grow_every_20_ms_and_end_three_times() {
        let packets = sender_packets('9', 100).unwrap();
        let events: Vec<TelephoneEvent> =
            packets.iter().map(|packet| TelephoneEvent::parse(&packet.payload).unwrap()).collect();
        let durations: Vec<u16> = events.iter().map(|event| event.duration).collect();
        let ends: Vec<bool> = events.iter().map(|event| event.end).collect();
        assert_eq!(durations, [160, 320, 480, 640, 800, 800, 800]);
        assert_eq!(ends, [false, false, false, false, true, true, true]);
        assert!(events.iter().all(|event| event.event == 9));
        let times: Vec<u32> = packets.iter().map(|packet| packet.send_at_ms).collect();
        assert_eq!(times, [0, 20, 40, 60, 80, 100, 120]);
        let markers: Vec<bool> = packets.iter().map(|packet| packet.marker).collect();
        assert_eq!(markers, [true, false, false, false, false, false, false]);
    }

    #[test]
    fn sender_handles_durations_off_the_frame_grid() {
        // 50 ms = 400 ticks: progress at 160 and 320, then the end at 400.
        let durations: Vec<u16> = sender_packets('#', 50)
            .unwrap()
            .iter()
            .map(|packet| TelephoneEvent::parse(&packet.payload).unwrap().duration)
            .collect();
        assert_eq!(durations, [160, 320, 400, 400, 400]);
        // A tone shorter than a frame is just the end packets.
        assert_eq!(sender_packets('1', 10).unwrap().len(), END_REPEATS);
    }

    #[test]
    fn sender_refuses_unknown_keys_and_impossible_durations() {
        assert_eq!(sender_packets('x', 100), Err(DtmfError::UnknownDigit('x')));
        assert_eq!(sender_packets('1', 0), Err(DtmfError::DurationOutOfRange { ms: 0 }));
        let longest = sender_packets('1', MAX_DURATION_MS).unwrap();
        let last = longest.last().map(|packet| packet.payload);
        assert_eq!(last, Some(payload(1, true, 65528)));
        assert!(sender_packets('1', MAX_DURATION_MS + 1).is_err());
    }

    #[test]
    fn a_sent_key_is_received_once() {
        let mut receiver = DtmfReceiver::new();
        let digits: String =
            sender_packets('*', 120).unwrap().iter().filter_map(|packet| receiver.push(42, &packet.payload)).collect();
        assert_eq!(digits, "*");
    }

    #[test]
    fn sip_info_dtmf_relay_bodies() {
        let relay = "application/dtmf-relay";
        assert_eq!(parse_sip_info(relay, "Signal=5\r\nDuration=160\r\n"), Some("5".into()));
        // Header case, spacing, parameters and the order of lines vary between trunks.
        assert_eq!(
            parse_sip_info("Application/DTMF-Relay; charset=utf-8", "Duration= 250\nsignal= #\n"),
            Some("#".into())
        );
        assert_eq!(parse_sip_info(relay, "Signal=10\r\n"), Some("*".into()));
        assert_eq!(parse_sip_info(relay, "Signal=b"), Some("B".into()));
        assert_eq!(parse_sip_info(relay, "Duration=160"), None);
        assert_eq!(parse_sip_info(relay, "Signal=x"), None);
        assert_eq!(parse_sip_info(relay, "Signal=16"), None);
    }

    #[test]
    fn sip_info_plain_dtmf_bodies() {
        assert_eq!(parse_sip_info("application/dtmf", "5"), Some("5".into()));
        assert_eq!(parse_sip_info("application/dtmf", " 11\r\n"), Some("#".into()));
        assert_eq!(parse_sip_info("application/dtmf", ""), None);
        assert_eq!(parse_sip_info("application/dtmf", "55"), None);
    }

    #[test]
    fn sip_info_other_bodies_carry_no_digit() {
        assert_eq!(parse_sip_info("application/sdp", "Signal=5"), None);
        assert_eq!(parse_sip_info("", "5"), None);
    }
}
