//! Energy voice-activity detection: cuts the caller's audio into utterances for the
//! recogniser, and tells the call when the caller starts talking (to stop a prompt).
//!
//! A frame is speech when its level reaches a threshold. Short bursts are ignored, pauses
//! shorter than the hangover stay inside the utterance, and a little audio from before the
//! onset is kept so the first consonant is not clipped.
//!
//! Tuning of the defaults (a seed, to be revisited with recordings of real calls):
//! - `threshold_dbfs = -35`: speech on G.711 lines sits around -20 to -30 dBFS, while line
//!   hiss and comfort noise sit near -50 to -60 dBFS and noisy mobile lines reach about
//!   -40. -35 leaves roughly 10 dB on either side; raise it for noisy lines, lower it for
//!   quiet talkers.
//! - `hangover_ms = 600`: pauses inside a sentence (a breath, reading out an account
//!   number) usually last 200-500 ms; a shorter hangover cuts customers mid-sentence, a
//!   longer one makes the call slow to answer.
//! - `min_speech_ms = 120`: clicks and line pops are shorter, while "yes" or "no" last
//!   150 ms or more.
//! - `max_utterance_ms = 15000`: bounds memory and hands a monologue, or a line held open
//!   by a television, to the recogniser rather than waiting forever.
//! - `pre_roll_ms = 200`: the quiet start of a word ("f", "s", "h") is below the threshold.

use std::collections::VecDeque;

use super::{SAMPLE_RATE, dbfs};

/// The detector's settings; see the module documentation for the defaults' rationale.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VadConfig {
    /// Frames at or above this level are speech.
    pub threshold_dbfs: f32,
    /// Silence after speech that ends an utterance.
    pub hangover_ms: u32,
    /// Speech must last this long before it counts; shorter bursts are noise.
    pub min_speech_ms: u32,
    /// An utterance is cut (and reported) when it reaches this length.
    pub max_utterance_ms: u32,
    /// Audio from before the onset kept at the start of the utterance, and the silence
    /// kept at its end.
    pub pre_roll_ms: u32,
}

impl Default for VadConfig {
    fn default() -> VadConfig {
        VadConfig {
            threshold_dbfs: -35.0,
            hangover_ms: 600,
            min_speech_ms: 120,
            max_utterance_ms: 15_000,
            pre_roll_ms: 200,
        }
    }
}

/// What one frame meant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VadEvent {
    /// No speech (including a burst not yet long enough to count).
    Silence,
    /// Speech has lasted `min_speech_ms`: the caller is talking.
    SpeechStarted,
    /// Still inside an utterance (speech, or a pause shorter than the hangover).
    Speaking,
    /// The utterance is over: its audio, from the pre-roll to a short silent tail.
    UtteranceEnded { samples: Utterance },
}

/// Samples in each of an utterance's chunks: a second.
const CHUNK: usize = SAMPLE_RATE as usize;

/// An utterance's audio as the VAD gathers it: in chunks of a second, so a long utterance never
/// grows (copies, and faults in fresh pages for) one large buffer on the thread that hears it:
/// the media plane's workers, where 2,000 callers talking at once stalled every call. Whoever
/// takes it joins the chunks ([`Utterance::into_samples`]), on its own thread.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Utterance {
    chunks: Vec<Vec<i16>>,
    len: usize,
}

impl Utterance {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The samples in order, without joining the chunks.
    pub fn iter(&self) -> impl Iterator<Item = &i16> {
        self.chunks.iter().flatten()
    }

    /// The audio as one buffer.
    pub fn into_samples(mut self) -> Vec<i16> {
        if self.chunks.len() == 1 {
            return self.chunks.pop().unwrap_or_default();
        }
        let mut samples = Vec::with_capacity(self.len);
        for chunk in &self.chunks {
            samples.extend_from_slice(chunk);
        }
        samples
    }

    fn extend(&mut self, mut samples: &[i16]) {
        while !samples.is_empty() {
            if self.chunks.last().is_none_or(|chunk| chunk.len() == CHUNK) {
                self.chunks.push(Vec::with_capacity(CHUNK));
            }
            let chunk = self.chunks.last_mut().expect("just made");
            let taken = (CHUNK - chunk.len()).min(samples.len());
            chunk.extend_from_slice(&samples[..taken]);
            samples = &samples[taken..];
            self.len += taken;
        }
    }

    fn truncate(&mut self, len: usize) {
        while self.len > len {
            let Some(chunk) = self.chunks.last_mut() else { return };
            let cut = (self.len - len).min(chunk.len());
            chunk.truncate(chunk.len() - cut);
            self.len -= cut;
            if chunk.is_empty() {
                self.chunks.pop();
            }
        }
    }
}

impl From<Vec<i16>> for Utterance {
    fn from(samples: Vec<i16>) -> Utterance {
        let mut utterance = Utterance::default();
        utterance.extend(&samples);
        utterance
    }
}

/// The detector's settings in samples, so frames of any length are timed alike.
#[derive(Clone, Copy, Debug)]
struct Limits {
    hangover: usize,
    min_speech: usize,
    max_utterance: usize,
    pre_roll: usize,
}

impl Limits {
    fn from_config(config: &VadConfig) -> Limits {
        let samples = |ms: u32| (u64::from(ms) * u64::from(SAMPLE_RATE) / 1000) as usize;
        Limits {
            hangover: samples(config.hangover_ms),
            min_speech: samples(config.min_speech_ms),
            max_utterance: samples(config.max_utterance_ms),
            pre_roll: samples(config.pre_roll_ms),
        }
    }
}

#[derive(Debug)]
enum State {
    /// Waiting for speech; `onset` holds a loud burst not yet long enough to count.
    Quiet { onset: Vec<i16> },
    /// Inside an utterance; `trailing_silence` counts quiet samples since the last speech.
    Speaking { utterance: Utterance, trailing_silence: usize },
}

/// An energy voice-activity detector fed one frame at a time.
#[derive(Debug)]
pub struct Vad {
    threshold_dbfs: f32,
    limits: Limits,
    /// The most recent quiet audio, up to the pre-roll, for the start of the next utterance.
    pre_roll: VecDeque<i16>,
    state: State,
}

impl Vad {
    pub fn new(config: VadConfig) -> Vad {
        Vad {
            threshold_dbfs: config.threshold_dbfs,
            limits: Limits::from_config(&config),
            pre_roll: VecDeque::new(),
            state: State::Quiet { onset: Vec::new() },
        }
    }

    /// Takes the next frame (normally 20 ms) and says what it meant.
    pub fn push(&mut self, frame: &[i16]) -> VadEvent {
        if frame.is_empty() {
            return match self.state {
                State::Quiet { .. } => VadEvent::Silence,
                State::Speaking { .. } => VadEvent::Speaking,
            };
        }
        let loud = dbfs(frame) >= self.threshold_dbfs;
        match &mut self.state {
            State::Quiet { onset } => {
                if !loud {
                    // A burst cut short was noise: it becomes pre-roll like any quiet audio.
                    let noise = std::mem::take(onset);
                    self.remember_quiet(&noise);
                    self.remember_quiet(frame);
                    return VadEvent::Silence;
                }
                onset.extend_from_slice(frame);
                if onset.len() < self.limits.min_speech.max(1) {
                    return VadEvent::Silence;
                }
                let mut utterance = Utterance::default();
                let (older, newer) = self.pre_roll.as_slices();
                utterance.extend(older);
                utterance.extend(newer);
                self.pre_roll.clear();
                utterance.extend(onset);
                self.state = State::Speaking { utterance, trailing_silence: 0 };
                VadEvent::SpeechStarted
            }
            State::Speaking { utterance, trailing_silence } => {
                utterance.extend(frame);
                *trailing_silence = if loud { 0 } else { *trailing_silence + frame.len() };
                let finished = *trailing_silence >= self.limits.hangover;
                let full = utterance.len() >= self.limits.max_utterance;
                if !finished && !full {
                    return VadEvent::Speaking;
                }
                // Keep a tail of silence as long as the pre-roll, so the recogniser gets
                // the same padding at both ends; the rest of the hangover is dropped.
                let excess_silence = trailing_silence.saturating_sub(self.limits.pre_roll);
                let mut samples = std::mem::take(utterance);
                samples.truncate(samples.len() - excess_silence.min(samples.len()));
                self.state = State::Quiet { onset: Vec::new() };
                VadEvent::UtteranceEnded { samples }
            }
        }
    }

    /// Appends quiet audio to the pre-roll, keeping only its most recent part.
    fn remember_quiet(&mut self, samples: &[i16]) {
        self.pre_roll.extend(samples);
        let excess = self.pre_roll.len().saturating_sub(self.limits.pre_roll);
        self.pre_roll.drain(..excess);
    }
}

#[cfg(test)]
mod tests {
    use super::super::FRAME_SAMPLES;
    use super::*;

    /// A 20 ms frame of a 440 Hz tone at `amplitude` (10 000 is about -13 dBFS).
    fn tone(amplitude: f64) -> Vec<i16> {
        (0..FRAME_SAMPLES)
            .map(|i| {
                let phase = 2.0 * std::f64::consts::PI * 440.0 * i as f64 / f64::from(SAMPLE_RATE);
                (amplitude * phase.sin()).round() as i16
            })
            .collect()
    }

    fn speech() -> Vec<i16> {
        tone(10_000.0)
    }

    fn silence() -> Vec<i16> {
        vec![0; FRAME_SAMPLES]
    }

    /// White noise of the given peak amplitude, deterministic per seed.
    fn noise(peak: i32, seed: &mut u32) -> Vec<i16> {
        (0..FRAME_SAMPLES)
            .map(|_| {
                *seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let uniform = i32::from((*seed >> 16) as u16) - 32768;
                (uniform * peak / 32768) as i16
            })
            .collect()
    }

    /// Feeds `frames` one by one and returns the event for each.
    fn run(vad: &mut Vad, frames: impl IntoIterator<Item = Vec<i16>>) -> Vec<VadEvent> {
        frames.into_iter().map(|frame| vad.push(&frame)).collect()
    }

    fn repeat(frame: Vec<i16>, count: usize) -> impl Iterator<Item = Vec<i16>> + Clone {
        std::iter::repeat_n(frame, count)
    }

    fn utterances(events: &[VadEvent]) -> Vec<Vec<i16>> {
        events
            .iter()
            .filter_map(|event| match event {
                VadEvent::UtteranceEnded { samples } => Some(samples.clone().into_samples()),
                _ => None,
            })
            .collect()
    }

    fn count(events: &[VadEvent], wanted: &VadEvent) -> usize {
        events.iter().filter(|event| *event == wanted).count()
    }

    #[test]
    fn defaults_are_the_documented_seed() {
        let config = VadConfig::default();
        assert_eq!(config.threshold_dbfs, -35.0);
        assert_eq!(config.hangover_ms, 600);
        assert_eq!(config.min_speech_ms, 120);
        assert_eq!(config.max_utterance_ms, 15_000);
        assert_eq!(config.pre_roll_ms, 200);
    }

    #[test]
    fn silence_and_quiet_line_noise_are_silence() {
        let mut vad = Vad::new(VadConfig::default());
        let mut seed = 1;
        // Uniform noise of peak 500 is about -41 dBFS RMS: a noisy line, not speech.
        let frames = repeat(silence(), 50).chain((0..200).map(|_| noise(500, &mut seed)));
        let events = run(&mut vad, frames);
        assert_eq!(count(&events, &VadEvent::Silence), events.len());
    }

    #[test]
    fn loud_noise_counts_as_speech() {
        let mut vad = Vad::new(VadConfig::default());
        let mut seed = 7;
        // Peak 8000 is about -17 dBFS RMS.
        let events = run(&mut vad, (0..10).map(|_| noise(8000, &mut seed)));
        assert_eq!(count(&events, &VadEvent::SpeechStarted), 1);
    }

    #[test]
    fn a_spoken_phrase_is_one_utterance_with_pre_roll_and_a_short_tail() {
        let mut vad = Vad::new(VadConfig::default());
        let frames = repeat(silence(), 20).chain(repeat(speech(), 50)).chain(repeat(silence(), 40));
        let events = run(&mut vad, frames);

        // Speech counts after 120 ms: the 6th loud frame.
        let started = events.iter().position(|event| *event == VadEvent::SpeechStarted);
        assert_eq!(started, Some(20 + 5));
        // The utterance ends once 600 ms (30 frames) of silence follow the speech.
        let ended = events.iter().position(|event| matches!(event, VadEvent::UtteranceEnded { .. }));
        assert_eq!(ended, Some(20 + 50 + 29));
        assert!(events[26..99].iter().all(|event| *event == VadEvent::Speaking));
        assert!(events[100..].iter().all(|event| *event == VadEvent::Silence));

        // 200 ms of pre-roll, 1 s of speech, 200 ms of tail.
        let utterance = &utterances(&events)[0];
        assert_eq!(utterance.len(), (10 + 50 + 10) * FRAME_SAMPLES);
        let speech_part = &utterance[10 * FRAME_SAMPLES..60 * FRAME_SAMPLES];
        assert_eq!(speech_part, speech().repeat(50));
        assert!(utterance[..10 * FRAME_SAMPLES].iter().all(|&s| s == 0));
        assert!(utterance[60 * FRAME_SAMPLES..].iter().all(|&s| s == 0));
    }

    #[test]
    fn pre_roll_keeps_the_quiet_audio_just_before_the_onset() {
        let mut vad = Vad::new(VadConfig::default());
        // Quiet frames numbered by a tiny constant level, so their order is visible.
        let quiet = |n: i16| vec![n; FRAME_SAMPLES];
        let frames = (1..=15).map(quiet).chain(repeat(speech(), 10)).chain(repeat(silence(), 30));
        let events = run(&mut vad, frames);
        let utterance = &utterances(&events)[0];
        let pre_roll: Vec<i16> = utterance.chunks(FRAME_SAMPLES).take(10).map(|frame| frame[0]).collect();
        assert_eq!(pre_roll, (6..=15).collect::<Vec<i16>>());
    }

    #[test]
    fn an_utterance_at_the_very_start_has_no_pre_roll() {
        let mut vad = Vad::new(VadConfig::default());
        let events = run(&mut vad, repeat(speech(), 10).chain(repeat(silence(), 30)));
        assert_eq!(utterances(&events)[0].len(), (10 + 10) * FRAME_SAMPLES);
    }

    #[test]
    fn bursts_shorter_than_min_speech_are_noise() {
        let mut vad = Vad::new(VadConfig::default());
        // 100 ms clicks separated by silence, never 120 ms of speech in a row.
        let click = repeat(speech(), 5).chain(repeat(silence(), 3));
        let events = run(&mut vad, click.cycle().take(200));
        assert_eq!(count(&events, &VadEvent::Silence), events.len());
    }

    #[test]
    fn a_burst_that_was_noise_becomes_pre_roll() {
        let mut vad = Vad::new(VadConfig::default());
        let frames =
            repeat(speech(), 2).chain(repeat(silence(), 1)).chain(repeat(speech(), 6)).chain(repeat(silence(), 30));
        let events = run(&mut vad, frames);
        let utterance = &utterances(&events)[0];
        // The 2-frame burst and the gap precede the 6 counted frames, within the pre-roll.
        assert_eq!(utterance.len(), (3 + 6 + 10) * FRAME_SAMPLES);
        assert_eq!(&utterance[..2 * FRAME_SAMPLES], speech().repeat(2));
    }

    #[test]
    fn pauses_shorter_than_the_hangover_stay_in_the_utterance() {
        let mut vad = Vad::new(VadConfig::default());
        // "My number is ... four five": 400 ms pauses between words.
        let word = repeat(speech(), 15).chain(repeat(silence(), 20));
        let frames = word.clone().chain(word.clone()).chain(word).chain(repeat(silence(), 20));
        let events = run(&mut vad, frames);
        assert_eq!(count(&events, &VadEvent::SpeechStarted), 1);
        let found = utterances(&events);
        assert_eq!(found.len(), 1);
        // Three words, two 400 ms pauses, and a 200 ms tail.
        assert_eq!(found[0].len(), (15 + 20 + 15 + 20 + 15 + 10) * FRAME_SAMPLES);
    }

    #[test]
    fn a_pause_as_long_as_the_hangover_splits_utterances() {
        let mut vad = Vad::new(VadConfig::default());
        let word = repeat(speech(), 15).chain(repeat(silence(), 30));
        let events = run(&mut vad, word.clone().chain(word));
        assert_eq!(count(&events, &VadEvent::SpeechStarted), 2);
        assert_eq!(utterances(&events).len(), 2);
    }

    #[test]
    fn long_speech_is_cut_at_the_maximum_and_goes_on_as_a_new_utterance() {
        let mut vad = Vad::new(VadConfig::default());
        // 20 s of continuous speech.
        let events = run(&mut vad, repeat(speech(), 1000));
        let found = utterances(&events);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].len(), 15 * SAMPLE_RATE as usize);
        let cut = events.iter().position(|event| matches!(event, VadEvent::UtteranceEnded { .. }));
        assert_eq!(cut, Some(749));
        // The talk goes on: after the cut, speech counts again 120 ms later.
        assert_eq!(events[750..755], vec![VadEvent::Silence; 5]);
        assert_eq!(events[755], VadEvent::SpeechStarted);
    }

    #[test]
    fn frames_of_other_lengths_are_timed_by_their_samples() {
        // 10 ms frames: speech counts after 12 of them, and ends after 60 quiet ones.
        let mut vad = Vad::new(VadConfig::default());
        let short_speech = speech()[..80].to_vec();
        let frames = repeat(short_speech, 40).chain(repeat(vec![0; 80], 60));
        let events = run(&mut vad, frames);
        assert_eq!(events.iter().position(|event| *event == VadEvent::SpeechStarted), Some(11));
        assert!(matches!(events[99], VadEvent::UtteranceEnded { .. }));
    }

    #[test]
    fn empty_frames_change_nothing() {
        let mut vad = Vad::new(VadConfig::default());
        assert_eq!(vad.push(&[]), VadEvent::Silence);
        run(&mut vad, repeat(speech(), 6));
        assert_eq!(vad.push(&[]), VadEvent::Speaking);
    }

    #[test]
    fn the_threshold_decides_what_is_speech() {
        // A -30 dBFS tone is speech at the default threshold but not at -25.
        let quiet_talker = tone(32768.0 * 10f64.powf(-30.0 / 20.0) * std::f64::consts::SQRT_2);
        let mut default = Vad::new(VadConfig::default());
        let events = run(&mut default, repeat(quiet_talker.clone(), 10));
        assert_eq!(count(&events, &VadEvent::SpeechStarted), 1);
        let mut strict = Vad::new(VadConfig { threshold_dbfs: -25.0, ..VadConfig::default() });
        let events = run(&mut strict, repeat(quiet_talker, 10));
        assert_eq!(count(&events, &VadEvent::Silence), 10);
    }

    #[test]
    fn degenerate_settings_do_not_panic() {
        let config = VadConfig {
            threshold_dbfs: f32::NAN,
            hangover_ms: 0,
            min_speech_ms: 0,
            max_utterance_ms: 0,
            pre_roll_ms: 0,
        };
        let mut vad = Vad::new(config);
        // NaN never compares as reached: nothing is speech.
        let events = run(&mut vad, repeat(speech(), 5));
        assert_eq!(count(&events, &VadEvent::Silence), 5);

        let mut vad = Vad::new(VadConfig { threshold_dbfs: -35.0, ..config });
        let events = run(&mut vad, repeat(speech(), 4));
        assert_eq!(events[0], VadEvent::SpeechStarted);
        assert_eq!(events[1], VadEvent::UtteranceEnded { samples: speech().repeat(2).into() });
    }

    #[test]
    fn an_utterance_keeps_its_samples_in_order_across_chunks() {
        let samples: Vec<i16> = (0..3 * CHUNK + 123).map(|n| (n % 30_000) as i16).collect();
        let mut utterance = Utterance::default();
        for piece in samples.chunks(FRAME_SAMPLES + 7) {
            utterance.extend(piece);
        }
        assert_eq!(utterance.len(), samples.len());
        assert_eq!(utterance.chunks.len(), 4, "a second a chunk");
        assert!(utterance.chunks.iter().all(|c| c.capacity() == CHUNK), "no chunk grew past its second");
        assert!(utterance.iter().copied().eq(samples.iter().copied()));
        // Cut back over a chunk's edge, as the hangover's excess silence is.
        let mut cut = utterance.clone();
        cut.truncate(2 * CHUNK - 5);
        assert_eq!(cut.len(), 2 * CHUNK - 5);
        assert_eq!(cut.into_samples(), samples[..2 * CHUNK - 5]);
        assert_eq!(utterance.into_samples(), samples);
        assert!(Utterance::default().into_samples().is_empty());
    }
}
