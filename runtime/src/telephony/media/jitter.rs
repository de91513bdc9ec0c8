//! The incoming jitter buffer: RTP packets arrive early, late, twice or never; the call
//! plays one 20 ms frame per tick. The buffer holds `depth` frames to absorb the jitter and
//! hands them out in sequence order, saying which frames were lost so the caller can play
//! silence (or conceal) in their place.

use std::collections::BTreeMap;

/// Consecutive packets older than the playout point after which the sender is taken to
/// have restarted its sequence numbers (a single late packet is just dropped).
const RESYNC_AFTER_LATE: u32 = 10;

/// Frames kept beyond the depth before the buffer skips ahead: the backlog only grows
/// this far when the sender jumped its sequence numbers or its clock runs fast.
const BACKLOG_SLACK: usize = 10;

/// One RTP packet's media.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    pub seq: u16,
    pub timestamp: u32,
    pub payload: Vec<u8>,
}

/// What to play on this tick.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Playout {
    Frame(Packet),
    /// The packet with this sequence number never arrived in time: play silence.
    Lost {
        seq: u16,
    },
}

/// Counters for the call's media quality report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets pushed, whatever became of them.
    pub received: u64,
    /// Packets already buffered when they arrived again.
    pub duplicates: u64,
    /// Packets that arrived after their turn to play had passed (dropped).
    pub late: u64,
    /// Frames never played: reported as [`Playout::Lost`] or skipped over.
    pub lost: u64,
    /// Ticks that found the buffer empty, after which it gathers `depth` frames again.
    pub underruns: u64,
    /// Frames dropped because the backlog grew far beyond the depth (a fast sender).
    pub overflowed: u64,
    /// Times the sender's sequence numbers jumped back and the buffer started over.
    pub resyncs: u64,
}

/// A fixed-depth jitter buffer for one RTP stream (one SSRC).
#[derive(Debug)]
pub struct JitterBuffer {
    depth: usize,
    /// Buffered packets by extended sequence number (the u16 unwrapped to count past 65535).
    frames: BTreeMap<i64, Packet>,
    /// Highest extended sequence number received: the reference for unwrapping the next.
    highest: Option<i64>,
    /// Extended sequence number of the next frame to play; `None` until playout starts.
    next: Option<i64>,
    /// Whether playout is running (false while gathering `depth` frames).
    playing: bool,
    consecutive_late: u32,
    stats: JitterStats,
}

impl JitterBuffer {
    /// A buffer that starts playing once `depth_frames` frames are held (at least one).
    pub fn new(depth_frames: usize) -> JitterBuffer {
        JitterBuffer {
            depth: depth_frames.max(1),
            frames: BTreeMap::new(),
            highest: None,
            next: None,
            playing: false,
            consecutive_late: 0,
            stats: JitterStats::default(),
        }
    }

    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Frames currently held.
    pub fn buffered(&self) -> usize {
        self.frames.len()
    }

    /// Forgets the stream, keeping the counters (for a new SSRC after re-INVITE).
    pub fn reset(&mut self) {
        self.frames.clear();
        self.highest = None;
        self.next = None;
        self.playing = false;
        self.consecutive_late = 0;
    }

    /// Takes an arriving packet.
    pub fn push(&mut self, seq: u16, timestamp: u32, payload: Vec<u8>) {
        self.stats.received += 1;
        let mut extended = self.extend(seq);
        if self.next.is_some_and(|next| extended < next) {
            self.stats.late += 1;
            self.consecutive_late += 1;
            if self.consecutive_late < RESYNC_AFTER_LATE {
                return;
            }
            // Too many in a row to be stragglers: the sequence numbers started over.
            self.reset();
            self.stats.resyncs += 1;
            extended = self.extend(seq);
        }
        self.consecutive_late = 0;
        if self.frames.contains_key(&extended) {
            self.stats.duplicates += 1;
            return;
        }
        self.highest = Some(self.highest.map_or(extended, |highest| highest.max(extended)));
        self.frames.insert(extended, Packet { seq, timestamp, payload });
    }

    /// Called once per 20 ms tick: the frame to play, `Lost` for a missing one, or `None`
    /// while the buffer is gathering frames (play silence then too).
    pub fn pop(&mut self) -> Option<Playout> {
        if !self.playing {
            if self.frames.len() < self.depth {
                return None;
            }
            self.playing = true;
            // Ticks that found nothing already played silence for any gap; don't repeat it.
            self.skip_to_first_buffered();
        }
        if self.frames.is_empty() {
            self.playing = false;
            self.stats.underruns += 1;
            return None;
        }
        if self.frames.len() > self.depth + BACKLOG_SLACK {
            self.shed_backlog();
        }
        let next = self.next.or_else(|| self.frames.keys().next().copied())?;
        self.next = Some(next + 1);
        match self.frames.remove(&next) {
            Some(packet) => Some(Playout::Frame(packet)),
            None => {
                self.stats.lost += 1;
                Some(Playout::Lost { seq: next as u16 })
            }
        }
    }

    /// Unwraps a 16-bit sequence number to the nearest value around the highest seen, so
    /// 65535 is followed by 65536 and a reordered 65535 after 0 stays before it.
    fn extend(&self, seq: u16) -> i64 {
        match self.highest {
            None => i64::from(seq),
            Some(highest) => {
                let distance = seq.wrapping_sub(highest as u16) as i16;
                highest + i64::from(distance)
            }
        }
    }

    /// Moves the playout point to the oldest buffered frame, counting frames skipped as lost.
    fn skip_to_first_buffered(&mut self) {
        let Some(&first) = self.frames.keys().next() else {
            return;
        };
        if let Some(next) = self.next
            && first > next
        {
            self.stats.lost += (first - next) as u64;
        }
        self.next = Some(first);
    }

    /// Brings a backlog far beyond the depth back to the depth, so latency stays bounded:
    /// first by skipping a gap (a jump in sequence numbers), then by dropping the oldest.
    fn shed_backlog(&mut self) {
        self.skip_to_first_buffered();
        while self.frames.len() > self.depth {
            if self.frames.pop_first().is_some() {
                self.stats.overflowed += 1;
            }
        }
        self.next = self.frames.keys().next().copied();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn push(buffer: &mut JitterBuffer, seq: u16) {
        // The payload names its packet, so the test can see which one played.
        buffer.push(seq, u32::from(seq).wrapping_mul(160), seq.to_be_bytes().to_vec());
    }

    /// What one tick played, in short: a sequence number, `Lost`, or `None` (gathering).
    #[derive(Debug, PartialEq, Eq)]
    enum Tick {
        Played(u16),
        Lost(u16),
        Waiting,
    }

    fn tick(buffer: &mut JitterBuffer) -> Tick {
        match buffer.pop() {
            Some(Playout::Frame(packet)) => {
                assert_eq!(packet.payload, packet.seq.to_be_bytes());
                assert_eq!(packet.timestamp, u32::from(packet.seq).wrapping_mul(160));
                Tick::Played(packet.seq)
            }
            Some(Playout::Lost { seq }) => Tick::Lost(seq),
            None => Tick::Waiting,
        }
    }

    /// One tick per arrival (push, then pop), then `drain` more ticks.
    fn run(buffer: &mut JitterBuffer, arrivals: &[u16], drain: usize) -> Vec<Tick> {
        let mut ticks = Vec::new();
        for &seq in arrivals {
            push(buffer, seq);
            ticks.push(tick(buffer));
        }
        ticks.extend((0..drain).map(|_| tick(buffer)));
        ticks
    }

    fn played(ticks: &[Tick]) -> Vec<u16> {
        ticks
            .iter()
            .filter_map(|tick| match tick {
                Tick::Played(seq) => Some(*seq),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn waits_for_depth_frames_then_plays_in_order() {
        let mut buffer = JitterBuffer::new(3);
        let ticks = run(&mut buffer, &[10, 11, 12, 13], 0);
        assert_eq!(ticks, [Tick::Waiting, Tick::Waiting, Tick::Played(10), Tick::Played(11)]);
        assert_eq!(buffer.buffered(), 2);
    }

    #[test]
    fn reordered_packets_play_in_sequence_order() {
        let mut buffer = JitterBuffer::new(3);
        let ticks = run(&mut buffer, &[2, 1, 3, 5, 4, 6], 2);
        assert_eq!(played(&ticks), [1, 2, 3, 4, 5, 6]);
        assert_eq!(buffer.stats().lost, 0);
    }

    #[test]
    fn duplicates_are_dropped_and_counted() {
        let mut buffer = JitterBuffer::new(2);
        let ticks = run(&mut buffer, &[1, 1, 2, 2, 3], 1);
        assert_eq!(played(&ticks), [1, 2, 3]);
        assert_eq!(buffer.stats().duplicates, 2);
        assert_eq!(buffer.stats().received, 5);
    }

    #[test]
    fn late_packets_are_dropped_and_counted() {
        let mut buffer = JitterBuffer::new(2);
        // 3 is missing when its turn comes, then arrives after 5 and 6.
        let ticks = run(&mut buffer, &[1, 2, 4, 5, 6, 3, 7], 2);
        assert_eq!(
            ticks,
            [
                Tick::Waiting,
                Tick::Played(1),
                Tick::Played(2),
                Tick::Lost(3),
                Tick::Played(4),
                Tick::Played(5),
                Tick::Played(6),
                Tick::Played(7),
                Tick::Waiting,
            ]
        );
        let stats = buffer.stats();
        assert_eq!((stats.late, stats.lost, stats.underruns), (1, 1, 1));
    }

    #[test]
    fn a_lost_packet_is_reported_for_the_caller_to_fill() {
        let mut buffer = JitterBuffer::new(3);
        let arrivals: Vec<u16> = (100..120).filter(|seq| ![105, 110, 111].contains(seq)).collect();
        let ticks = run(&mut buffer, &arrivals, 2);
        let losses: Vec<&Tick> = ticks.iter().filter(|tick| matches!(tick, Tick::Lost(_))).collect();
        assert_eq!(losses, [&Tick::Lost(105), &Tick::Lost(110), &Tick::Lost(111)]);
        assert_eq!(buffer.stats().lost, 3);
    }

    #[test]
    fn sequence_numbers_wrap_at_65535() {
        let mut buffer = JitterBuffer::new(3);
        let ticks = run(&mut buffer, &[65533, 65535, 65534, 1, 0, 2, 3], 3);
        assert_eq!(played(&ticks), [65533, 65534, 65535, 0, 1, 2, 3]);
        assert_eq!(buffer.stats().late + buffer.stats().lost, 0);
    }

    #[test]
    fn a_packet_from_before_the_wrap_is_late_not_new() {
        let mut buffer = JitterBuffer::new(1);
        let ticks = run(&mut buffer, &[65534, 65535, 0, 1, 65535], 0);
        assert_eq!(played(&ticks), [65534, 65535, 0, 1]);
        assert_eq!(buffer.stats().late, 1);
    }

    #[test]
    fn after_an_underrun_it_gathers_depth_again_and_skips_the_silent_gap() {
        let mut buffer = JitterBuffer::new(2);
        let mut ticks = run(&mut buffer, &[1, 2], 2);
        // A 5-packet outage (3..=7) during which the ticks found nothing.
        ticks.extend(run(&mut buffer, &[8, 9, 10], 0));
        assert_eq!(
            ticks,
            [
                Tick::Waiting,
                Tick::Played(1),
                Tick::Played(2),
                Tick::Waiting,
                Tick::Waiting,
                Tick::Played(8),
                Tick::Played(9),
            ]
        );
        assert_eq!(buffer.stats().underruns, 1);
        assert_eq!(buffer.stats().lost, 5);
    }

    #[test]
    fn a_forward_jump_in_sequence_numbers_is_skipped_not_played_as_loss() {
        let mut buffer = JitterBuffer::new(2);
        // The sender jumps from 10 to 20 000 without a pause in the packets.
        let arrivals: Vec<u16> = (1..=10).chain(20_000..20_100).collect();
        let ticks = run(&mut buffer, &arrivals, 0);
        let lost = ticks.iter().filter(|tick| matches!(tick, Tick::Lost(_))).count();
        assert!(lost <= 2 + BACKLOG_SLACK, "{lost} silent ticks");
        assert!(played(&ticks).ends_with(&[20_096, 20_097, 20_098]));
        assert!(buffer.buffered() <= 2 + BACKLOG_SLACK);
    }

    #[test]
    fn a_sender_that_restarts_its_numbering_lower_is_followed() {
        let mut buffer = JitterBuffer::new(2);
        let arrivals: Vec<u16> = (30_000..30_010).chain(100..150).collect();
        let ticks = run(&mut buffer, &arrivals, 0);
        assert_eq!(buffer.stats().resyncs, 1);
        let after: Vec<u16> = played(&ticks).into_iter().filter(|&seq| seq < 30_000).collect();
        assert_eq!(after.first(), Some(&(100 + RESYNC_AFTER_LATE as u16 - 1)));
        assert_eq!(after.last(), Some(&148));
    }

    #[test]
    fn a_fast_sender_cannot_grow_the_latency_without_bound() {
        let mut buffer = JitterBuffer::new(3);
        // Two packets per tick for a while.
        for pair in (0..200u16).collect::<Vec<_>>().chunks(2) {
            for &seq in pair {
                push(&mut buffer, seq);
            }
            tick(&mut buffer);
        }
        assert!(buffer.buffered() <= 3 + BACKLOG_SLACK);
        assert!(buffer.stats().overflowed > 0);
    }

    #[test]
    fn depth_zero_behaves_as_one() {
        let mut buffer = JitterBuffer::new(0);
        assert_eq!(tick(&mut buffer), Tick::Waiting);
        assert_eq!(run(&mut buffer, &[7], 0), [Tick::Played(7)]);
    }

    #[test]
    fn reset_forgets_the_stream_but_keeps_counters() {
        let mut buffer = JitterBuffer::new(1);
        run(&mut buffer, &[1, 2, 3], 0);
        buffer.reset();
        assert_eq!(run(&mut buffer, &[900], 0), [Tick::Played(900)]);
        assert_eq!(buffer.stats().received, 4);
    }

    /// Arrival order where each packet comes at most `depth - 1` places later than in
    /// order: sort by position plus a delay below the depth.
    fn arrival_order(start: u16, delays: &[usize]) -> Vec<u16> {
        let mut order: Vec<(usize, usize)> =
            delays.iter().enumerate().map(|(index, delay)| (index + delay, index)).collect();
        order.sort();
        order.into_iter().map(|(_, index)| start.wrapping_add(index as u16)).collect()
    }

    proptest! {
        #[test]
        fn any_reordering_within_the_depth_plays_in_original_order(
            start in any::<u16>(),
            depth in 1usize..8,
            raw_delays in proptest::collection::vec(0usize..1000, 1..200),
        ) {
            // Playout starts only once `depth` frames are in, so shorter streams never play.
            prop_assume!(raw_delays.len() >= depth);
            let delays: Vec<usize> = raw_delays.iter().map(|delay| delay % depth).collect();
            let arrivals = arrival_order(start, &delays);
            let mut buffer = JitterBuffer::new(depth);
            let ticks = run(&mut buffer, &arrivals, depth);
            let expected: Vec<u16> = (0..delays.len()).map(|i| start.wrapping_add(i as u16)).collect();
            prop_assert_eq!(played(&ticks), expected);
            let stats = buffer.stats();
            prop_assert_eq!((stats.lost, stats.late, stats.duplicates), (0, 0, 0));
        }

        #[test]
        fn isolated_losses_are_reported_in_place(
            start in any::<u16>(),
            raw_drops in proptest::collection::vec(any::<bool>(), 4..150),
        ) {
            // Drop packets, never two in a row (fewer than the depth of 3, so the buffer
            // never runs dry), keeping the first three so playout starts on time and the
            // last so the stream's span is known.
            let count = raw_drops.len();
            let mut dropped = vec![false; count];
            for i in 3..count - 1 {
                dropped[i] = raw_drops[i] && !dropped[i - 1];
            }
            let mut buffer = JitterBuffer::new(3);
            let mut ticks = Vec::new();
            // One tick per packet time, whether or not a packet arrived in it.
            for (i, &lost) in dropped.iter().enumerate() {
                if !lost {
                    push(&mut buffer, start.wrapping_add(i as u16));
                }
                ticks.push(tick(&mut buffer));
            }
            ticks.extend((0..3).map(|_| tick(&mut buffer)));
            let expected: Vec<Tick> = dropped
                .iter()
                .enumerate()
                .map(|(i, &lost)| {
                    let seq = start.wrapping_add(i as u16);
                    if lost { Tick::Lost(seq) } else { Tick::Played(seq) }
                })
                .collect();
            let heard: Vec<Tick> = ticks.into_iter().filter(|tick| *tick != Tick::Waiting).collect();
            prop_assert_eq!(heard, expected);
            let lost = dropped.iter().filter(|&&lost| lost).count() as u64;
            prop_assert_eq!(buffer.stats().lost, lost);
            prop_assert_eq!(buffer.stats().underruns, 1);
        }
    }
}
