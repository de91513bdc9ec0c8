//! Media building blocks for real SIP calls, all sans-IO: each takes bytes or samples and
//! returns bytes, samples or events, so the network and the clock stay with the caller and
//! every piece is testable without sockets or timers.
//!
//! Telephony audio here is 8 kHz mono 16-bit PCM, carried in 20 ms frames
//! ([`FRAME_SAMPLES`] samples), the packetisation nearly every SIP trunk uses for G.711.
//!
//! - [`g711`]: PCMU/PCMA encode and decode (RTP payload types 0 and 8).
//! - [`dtmf`]: RFC 4733 telephone-events and SIP INFO digits.
//! - [`vad`]: energy voice-activity detection that cuts the caller's speech into utterances.
//! - [`jitter`]: the incoming jitter buffer that turns RTP arrivals into one frame per tick.
//! - [`voice`]: an utterance's loudness and pitch, for emotion on real calls.

pub mod dtmf;
pub mod g711;
pub mod jitter;
pub mod vad;
pub mod voice;

/// Telephony sample rate (Hz); also the RTP clock rate of G.711 and telephone-events.
pub const SAMPLE_RATE: u32 = 8000;

/// Samples in one 20 ms frame at [`SAMPLE_RATE`].
pub const FRAME_SAMPLES: usize = 160;

/// Milliseconds in one frame.
pub const FRAME_MS: u32 = 20;

/// The level reported for digital silence or an empty frame. 16-bit audio cannot go below
/// about -96 dBFS, so a finite floor under that keeps arithmetic free of infinities.
pub const SILENCE_DBFS: f32 = -120.0;

/// The RMS level of `frame` in dB relative to full scale (a full-scale square wave is
/// 0 dBFS, a full-scale sine about -3 dBFS), never below [`SILENCE_DBFS`].
pub fn dbfs(frame: &[i16]) -> f32 {
    if frame.is_empty() {
        return SILENCE_DBFS;
    }
    // Sum in f64 so long frames of loud samples cannot lose precision.
    let energy: f64 = frame.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    let rms = (energy / frame.len() as f64).sqrt() / 32768.0;
    if rms <= 0.0 {
        return SILENCE_DBFS;
    }
    ((20.0 * rms.log10()) as f32).max(SILENCE_DBFS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_constants_agree() {
        assert_eq!(FRAME_SAMPLES as u32, SAMPLE_RATE * FRAME_MS / 1000);
    }

    #[test]
    fn dbfs_of_silence_and_empty_frames_is_the_floor() {
        assert_eq!(dbfs(&[]), SILENCE_DBFS);
        assert_eq!(dbfs(&[0; FRAME_SAMPLES]), SILENCE_DBFS);
    }

    #[test]
    fn dbfs_of_full_scale_square_is_zero() {
        let square: Vec<i16> = (0..FRAME_SAMPLES).map(|i| if i % 2 == 0 { i16::MAX } else { -i16::MAX }).collect();
        assert!(dbfs(&square).abs() < 0.01, "{}", dbfs(&square));
    }

    #[test]
    fn dbfs_of_sine_is_about_minus_three_per_full_scale_and_scales_with_amplitude() {
        let sine = |amplitude: f64| -> Vec<i16> {
            (0..FRAME_SAMPLES)
                .map(|i| {
                    let phase = 2.0 * std::f64::consts::PI * 400.0 * i as f64 / 8000.0;
                    (amplitude * phase.sin()).round() as i16
                })
                .collect()
        };
        assert!((dbfs(&sine(32767.0)) - (-3.01)).abs() < 0.05);
        // A tenth of the amplitude is 20 dB quieter.
        assert!((dbfs(&sine(3276.7)) - (-23.01)).abs() < 0.05);
    }
}
