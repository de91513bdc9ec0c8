//! How an utterance sounds: its loudness and its pitch, measured on the 8 kHz audio the VAD
//! hands over (LANGUAGE.md §15, emotion on real calls). Pure: samples in, numbers out.
//!
//! - **Loudness** is the RMS level, in dBFS, of the utterance's speech frames only: 20 ms
//!   frames at or above the VAD's threshold. The pre-roll, pauses and the silent tail the VAD
//!   keeps would otherwise make a short answer sound quieter than a long one.
//! - **Pitch** is the median fundamental frequency (F0) of the voiced frames, estimated per
//!   frame with YIN (de Cheveigné & Kawahara 2002: the cumulative-mean-normalised difference
//!   function, its first dip under a threshold, parabolic interpolation). A frame is voiced
//!   when that dip is deep enough: noise, hiss and most consonants have none. The median,
//!   not the mean, so a few octave errors or the rise of a question do not move it.
//!
//! The search range, 60–400 Hz, covers adult voices on a telephone line: men speak around
//! 85–180 Hz, women around 165–255 Hz, and a raised, angry voice goes higher still.

use super::{FRAME_SAMPLES, SAMPLE_RATE, dbfs};

/// The lowest F0 searched for, in Hz.
pub const MIN_PITCH_HZ: f32 = 60.0;

/// The highest F0 searched for, in Hz.
pub const MAX_PITCH_HZ: f32 = 400.0;

/// YIN's integration window: 32 ms, long enough for two periods at the lowest pitch.
const WINDOW: usize = 256;

/// YIN's absolute threshold: the first lag whose normalised difference dips below it is the
/// period. 0.15 is the paper's value for clean speech; G.711 noise deepens nothing, so it holds.
const DIP_THRESHOLD: f32 = 0.15;

/// A frame whose best dip is above this is unvoiced (noise, a fricative, silence).
const VOICED_MAX_DIP: f32 = 0.3;

/// Fewer voiced frames than this (60 ms) give no pitch: too little to be a voice.
const MIN_VOICED_FRAMES: usize = 3;

/// What an utterance sounds like.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Voice {
    /// The RMS level of its speech frames, in dBFS.
    pub loudness_dbfs: f32,
    /// The median F0 of its voiced frames, in Hz; None when fewer than three frames are
    /// voiced (a whisper, noise, a click).
    pub pitch_hz: Option<f32>,
}

/// Measures an utterance: None when no 20 ms frame reaches `speech_dbfs` (nothing was said).
pub fn analyse(pcm: &[i16], speech_dbfs: f32) -> Option<Voice> {
    let mut energy = 0.0f64;
    let mut speech_samples = 0usize;
    let mut pitches = Vec::new();
    let samples: Vec<f32> = pcm.iter().map(|&s| f32::from(s)).collect();
    for (index, frame) in pcm.chunks_exact(FRAME_SAMPLES).enumerate() {
        if dbfs(frame) < speech_dbfs {
            continue;
        }
        energy += frame.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>();
        speech_samples += frame.len();
        let start = index * FRAME_SAMPLES;
        if let Some(hz) = frame_pitch(&samples[start..]) {
            pitches.push(hz);
        }
    }
    if speech_samples == 0 {
        return None;
    }
    let rms = (energy / speech_samples as f64).sqrt() / 32768.0;
    let loudness_dbfs = (20.0 * rms.log10()) as f32;
    let pitch_hz = (pitches.len() >= MIN_VOICED_FRAMES).then(|| median(&mut pitches));
    Some(Voice { loudness_dbfs, pitch_hz })
}

/// The median of `values` (the mean of the middle two for an even count); NaN-free input.
pub fn median(values: &mut [f32]) -> f32 {
    values.sort_by(f32::total_cmp);
    let n = values.len();
    if n == 0 {
        return f32::NAN;
    }
    if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 }
}

/// YIN's F0 of the window starting at `samples[0]`, or None when it is unvoiced or the audio
/// ends before the window and the longest lag fit.
fn frame_pitch(samples: &[f32]) -> Option<f32> {
    let min_lag = (SAMPLE_RATE as f32 / MAX_PITCH_HZ).floor() as usize;
    let max_lag = (SAMPLE_RATE as f32 / MIN_PITCH_HZ).ceil() as usize;
    if samples.len() < WINDOW + max_lag + 1 {
        return None;
    }
    // d(τ) for τ in 0..=max_lag+1, then its cumulative-mean normalisation d'(τ).
    let mut normalised = vec![1.0f32; max_lag + 2];
    let mut running = 0.0f32;
    for lag in 1..normalised.len() {
        let difference: f32 = samples[..WINDOW]
            .iter()
            .zip(&samples[lag..lag + WINDOW])
            .map(|(a, b)| {
                let d = a - b;
                d * d
            })
            .sum();
        running += difference;
        normalised[lag] = if running > 0.0 { difference * lag as f32 / running } else { 1.0 };
    }
    // The first dip under the threshold, followed down to its bottom; else the deepest dip.
    let search = min_lag..=max_lag;
    let lag = match search.clone().find(|&lag| normalised[lag] < DIP_THRESHOLD) {
        Some(mut lag) => {
            while lag < max_lag && normalised[lag + 1] < normalised[lag] {
                lag += 1;
            }
            lag
        }
        None => search.min_by(|&a, &b| normalised[a].total_cmp(&normalised[b]))?,
    };
    if normalised[lag] > VOICED_MAX_DIP {
        return None;
    }
    // Parabolic interpolation between the neighbours gives a fraction of a sample.
    let (before, at, after) = (normalised[lag - 1], normalised[lag], normalised[lag + 1]);
    let curvature = before - 2.0 * at + after;
    let shift = if curvature > 0.0 { ((before - after) / (2.0 * curvature)).clamp(-0.5, 0.5) } else { 0.0 };
    Some(SAMPLE_RATE as f32 / (lag as f32 + shift))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ms` of a sine at `hz` and `amplitude` (16 384 is about -9 dBFS).
    fn sine(hz: f64, amplitude: f64, ms: usize) -> Vec<i16> {
        (0..ms * 8)
            .map(|n| (amplitude * (2.0 * std::f64::consts::PI * hz * n as f64 / 8000.0).sin()).round() as i16)
            .collect()
    }

    /// A voice-like sound: a pulse train at `hz` through a little smoothing (harmonics that
    /// fall off), so YIN sees what it sees in speech and not only a pure tone.
    fn buzz(hz: f64, amplitude: f64, ms: usize) -> Vec<i16> {
        let harmonics = (1..=12).map(|k| (k as f64, 1.0 / k as f64));
        let wave: Vec<f64> = (0..ms * 8)
            .map(|n| {
                let t = n as f64 / 8000.0;
                harmonics.clone().map(|(k, a)| a * (2.0 * std::f64::consts::PI * hz * k * t).sin()).sum()
            })
            .collect();
        let peak = wave.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        wave.iter().map(|v| (v / peak * amplitude).round() as i16).collect()
    }

    /// White noise of the given peak, deterministic.
    fn noise(peak: i32, ms: usize) -> Vec<i16> {
        let mut seed = 7u32;
        (0..ms * 8)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                ((i32::from((seed >> 16) as u16) - 32768) * peak / 32768) as i16
            })
            .collect()
    }

    fn close(a: f32, b: f32, within: f32) -> bool {
        (a - b).abs() <= within
    }

    #[test]
    fn a_sine_has_its_level_and_its_frequency() {
        for hz in [90.0, 150.0, 220.0, 330.0] {
            let voice = analyse(&sine(hz, 16_384.0, 500), -35.0).unwrap();
            // A sine's RMS is its amplitude over √2: 16 384 / √2 / 32 768 is -9.03 dBFS.
            assert!(close(voice.loudness_dbfs, -9.03, 0.05), "{hz} Hz: {voice:?}");
            let pitch = voice.pitch_hz.unwrap();
            assert!(close(pitch, hz as f32, hz as f32 * 0.01), "{hz} Hz read as {pitch}");
        }
    }

    #[test]
    fn a_buzz_with_harmonics_has_the_pitch_of_its_fundamental() {
        for hz in [110.0, 180.0, 250.0] {
            let pitch = analyse(&buzz(hz, 12_000.0, 400), -35.0).unwrap().pitch_hz.unwrap();
            assert!(close(pitch, hz as f32, hz as f32 * 0.01), "{hz} Hz read as {pitch}");
        }
    }

    #[test]
    fn loudness_counts_speech_frames_only() {
        // The same tone with a second of silence around it is as loud: pauses do not count.
        let tone = sine(200.0, 8_000.0, 400);
        let mut padded = vec![0; 8_000];
        padded.extend(&tone);
        padded.extend(vec![0; 8_000]);
        let (alone, inside) = (analyse(&tone, -35.0).unwrap(), analyse(&padded, -35.0).unwrap());
        assert!(close(alone.loudness_dbfs, inside.loudness_dbfs, 0.01), "{alone:?} {inside:?}");
        // Ten times the amplitude is 20 dB louder.
        let louder = analyse(&sine(200.0, 16_000.0, 400), -35.0).unwrap();
        let quieter = analyse(&sine(200.0, 1_600.0, 400), -35.0).unwrap();
        assert!(close(louder.loudness_dbfs - quieter.loudness_dbfs, 20.0, 0.05));
    }

    #[test]
    fn noise_is_loud_but_has_no_pitch() {
        let voice = analyse(&noise(12_000, 600), -35.0).unwrap();
        assert!(voice.loudness_dbfs > -20.0, "{voice:?}");
        assert_eq!(voice.pitch_hz, None);
    }

    #[test]
    fn silence_and_audio_under_the_threshold_are_nothing_said() {
        assert_eq!(analyse(&[], -35.0), None);
        assert_eq!(analyse(&vec![0; 8_000], -35.0), None);
        // About -50 dBFS: line hiss, under the VAD's threshold.
        assert_eq!(analyse(&sine(200.0, 150.0, 500), -35.0), None);
    }

    #[test]
    fn too_few_voiced_frames_give_no_pitch() {
        // 40 ms: two frames, fewer than three voiced ones.
        let voice = analyse(&sine(200.0, 10_000.0, 40), -35.0).unwrap();
        assert_eq!(voice.pitch_hz, None);
    }

    #[test]
    fn the_median_ignores_a_few_octave_errors() {
        let mut tone = sine(150.0, 10_000.0, 600);
        tone.extend(sine(300.0, 10_000.0, 100));
        let pitch = analyse(&tone, -35.0).unwrap().pitch_hz.unwrap();
        assert!(close(pitch, 150.0, 2.0), "{pitch}");
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
