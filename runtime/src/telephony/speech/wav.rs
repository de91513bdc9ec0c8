//! WAV files in and out, and resampling to the phone line's 8 kHz mono.
//!
//! Reads the WAV forms recorded clips and speech engines produce: PCM (8, 16, 24, 32 bit),
//! 32-bit float, μ-law and A-law, mono or more channels, any rate, `WAVE_FORMAT_EXTENSIBLE`
//! too. A `data` chunk longer than the file is cut to what is there: engines that write
//! to a pipe (`espeak-ng --stdout`) cannot go back to fill the length in.

use crate::telephony::media::g711::Codec;

/// The phone line's sample rate (G.711).
pub const LINE_RATE: u32 = 8_000;

/// Decoded samples, interleaved when there are several channels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pcm {
    pub rate: u32,
    pub channels: u16,
    pub samples: Vec<i16>,
}

impl Pcm {
    /// Length in seconds.
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.channels.max(1)) / f64::from(self.rate.max(1))
    }
}

/// Why bytes are not a WAV file this module reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WavError(pub String);

impl std::fmt::Display for WavError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WavError {}

fn bad(message: impl Into<String>) -> WavError {
    WavError(message.into())
}

const PCM: u16 = 1;
const FLOAT: u16 = 3;
const ALAW: u16 = 6;
const MULAW: u16 = 7;
const EXTENSIBLE: u16 = 0xFFFE;

struct Format {
    tag: u16,
    channels: u16,
    rate: u32,
    bits: u16,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Parses a WAV file.
pub fn read_wav(bytes: &[u8]) -> Result<Pcm, WavError> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(bad("not a WAV file (no RIFF/WAVE header)"));
    }
    let mut format: Option<Format> = None;
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32_at(bytes, at + 4).unwrap_or(0) as usize;
        let body_start = at + 8;
        let body = &bytes[body_start..body_start.saturating_add(size).min(bytes.len())];
        match id {
            b"fmt " => format = Some(parse_format(body)?),
            b"data" => {
                let f = format.as_ref().ok_or_else(|| bad("the data chunk comes before the fmt chunk"))?;
                let samples = decode(f, body)?;
                return Ok(Pcm { rate: f.rate, channels: f.channels, samples });
            }
            _ => {}
        }
        // Chunks are padded to an even length.
        at = body_start.saturating_add(size).saturating_add(size & 1);
    }
    Err(bad(if format.is_some() { "no data chunk" } else { "no fmt chunk" }))
}

fn parse_format(body: &[u8]) -> Result<Format, WavError> {
    let short = || bad("the fmt chunk is too short");
    let mut tag = u16_at(body, 0).ok_or_else(short)?;
    let channels = u16_at(body, 2).ok_or_else(short)?;
    let rate = u32_at(body, 4).ok_or_else(short)?;
    let bits = u16_at(body, 14).ok_or_else(short)?;
    if tag == EXTENSIBLE {
        // The sub-format GUID starts with the plain format tag.
        tag = u16_at(body, 24).ok_or_else(|| bad("the extensible fmt chunk is too short"))?;
    }
    if channels == 0 {
        return Err(bad("the file has no channels"));
    }
    if !(1_000..=384_000).contains(&rate) {
        return Err(bad(format!("sample rate {rate} Hz is out of range")));
    }
    let supported = matches!((tag, bits), (PCM, 8 | 16 | 24 | 32) | (FLOAT, 32) | (ALAW | MULAW, 8));
    if !supported {
        let name = match tag {
            PCM => "PCM",
            FLOAT => "float",
            ALAW => "A-law",
            MULAW => "μ-law",
            _ => return Err(bad(format!("audio format {tag} is not supported; use PCM, μ-law or A-law"))),
        };
        return Err(bad(format!("{bits}-bit {name} is not supported")));
    }
    Ok(Format { tag, channels, rate, bits })
}

fn decode(f: &Format, data: &[u8]) -> Result<Vec<i16>, WavError> {
    let width = usize::from(f.bits / 8);
    let frame = width * usize::from(f.channels);
    // A cut-off last frame (a stream stopped mid-write) is dropped.
    let whole = data.len() / frame * frame;
    let data = &data[..whole];
    Ok(match (f.tag, f.bits) {
        (PCM, 8) => data.iter().map(|&b| (i16::from(b) - 128) << 8).collect(),
        (PCM, 16) => data.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect(),
        (PCM, 24) => data.chunks_exact(3).map(|c| i16::from_le_bytes([c[1], c[2]])).collect(),
        (PCM, 32) => data.chunks_exact(4).map(|c| i16::from_le_bytes([c[2], c[3]])).collect(),
        (FLOAT, 32) => data
            .chunks_exact(4)
            .map(|c| to_i16(f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])) * 32_768.0))
            .collect(),
        // The line codec's own decoder, checked against the G.711 reference.
        (MULAW, 8) => g711(Codec::Pcmu, data),
        (ALAW, 8) => g711(Codec::Pcma, data),
        _ => return Err(bad("unsupported sample format")),
    })
}

fn g711(codec: Codec, data: &[u8]) -> Vec<i16> {
    let mut out = Vec::with_capacity(data.len());
    codec.decode(data, &mut out);
    out
}

fn to_i16(x: f64) -> i16 {
    x.round().clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16
}

/// Mixes the channels down and resamples to 8 kHz, the form every prompt is played in.
pub fn to_8k_mono(pcm: &Pcm) -> Vec<i16> {
    let channels = usize::from(pcm.channels.max(1));
    let mono: Vec<i16> = if channels == 1 {
        pcm.samples.clone()
    } else {
        pcm.samples
            .chunks_exact(channels)
            .map(|frame| (frame.iter().map(|&s| i32::from(s)).sum::<i32>() / channels as i32) as i16)
            .collect()
    };
    resample(&mono, pcm.rate, LINE_RATE)
}

/// Zero crossings of the sinc kernel on each side of its centre: more gives a sharper
/// low-pass (≈ 650 Hz transition at an 8 kHz output) for more work per sample.
const ZERO_CROSSINGS: usize = 32;
/// Kernel table entries per input sample; values in between are interpolated.
const TABLE_STEPS: usize = 64;
/// Where the low-pass cuts, as a share of the lower rate's Nyquist frequency: the Blackman
/// window's transition band then ends near that Nyquist, so little aliases back.
const CUTOFF: f64 = 0.92;

/// Resamples mono audio with a Blackman-windowed sinc: a low-pass below the lower rate's
/// Nyquist frequency, evaluated at each output instant, so downsampling does not alias and
/// upsampling does not image.
pub fn resample(input: &[i16], from: u32, to: u32) -> Vec<i16> {
    if from == to || input.is_empty() || from == 0 || to == 0 {
        return input.to_vec();
    }
    let ratio = f64::from(to) / f64::from(from);
    // Cutoff in cycles per input sample.
    let fc = 0.5 * ratio.min(1.0) * CUTOFF;
    let half_width = ZERO_CROSSINGS as f64 / (2.0 * fc);
    let table = kernel_table(fc, half_width);
    let out_len = (input.len() as f64 * ratio).floor() as usize;
    let step = f64::from(from) / f64::from(to);
    let mut out = Vec::with_capacity(out_len);
    for n in 0..out_len {
        let centre = n as f64 * step;
        let first = (centre - half_width).ceil().max(0.0) as usize;
        let last = ((centre + half_width).floor() as usize).min(input.len() - 1);
        let mut acc = 0.0;
        for (k, &x) in input.iter().enumerate().take(last + 1).skip(first) {
            acc += f64::from(x) * lookup(&table, (centre - k as f64).abs());
        }
        out.push(to_i16(acc));
    }
    out
}

/// The kernel on a grid of `1 / TABLE_STEPS` input samples, from its centre outwards.
fn kernel_table(fc: f64, half_width: f64) -> Vec<f64> {
    let len = (half_width * TABLE_STEPS as f64).ceil() as usize + 2;
    (0..len)
        .map(|i| {
            let x = i as f64 / TABLE_STEPS as f64;
            if x >= half_width {
                return 0.0;
            }
            let u = 2.0 * fc * x;
            let sinc = if u == 0.0 { 1.0 } else { (std::f64::consts::PI * u).sin() / (std::f64::consts::PI * u) };
            // Blackman window over [-half_width, half_width].
            let p = std::f64::consts::PI * (x / half_width + 1.0);
            let window = 0.42 - 0.5 * p.cos() + 0.08 * (2.0 * p).cos();
            2.0 * fc * sinc * window
        })
        .collect()
}

fn lookup(table: &[f64], distance: f64) -> f64 {
    let pos = distance * TABLE_STEPS as f64;
    let i = pos as usize;
    match (table.get(i), table.get(i + 1)) {
        (Some(&a), Some(&b)) => a + (b - a) * (pos - i as f64),
        _ => 0.0,
    }
}

/// The 44-byte header of a 16-bit PCM WAV file holding `frames` frames.
pub fn write_wav_header(channels: u16, rate: u32, frames: u32) -> [u8; 44] {
    let block = u32::from(channels) * 2;
    let data = frames.saturating_mul(block);
    let mut h = [0u8; 44];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&data.saturating_add(36).to_le_bytes());
    h[8..16].copy_from_slice(b"WAVEfmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&PCM.to_le_bytes());
    h[22..24].copy_from_slice(&channels.to_le_bytes());
    h[24..28].copy_from_slice(&rate.to_le_bytes());
    h[28..32].copy_from_slice(&(rate * block).to_le_bytes());
    h[32..34].copy_from_slice(&(block as u16).to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data.to_le_bytes());
    h
}

/// A complete mono 16-bit WAV file.
pub fn mono_wav(rate: u32, samples: &[i16]) -> Vec<u8> {
    let mut out = write_wav_header(1, rate, samples.len() as u32).to_vec();
    out.reserve(samples.len() * 2);
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f64, rate: u32, seconds: f64, amplitude: f64) -> Vec<i16> {
        let n = (f64::from(rate) * seconds) as usize;
        (0..n)
            .map(|i| (amplitude * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin()) as i16)
            .collect()
    }

    /// Amplitude of `freq` in `samples` (a single-bin DFT), skipping the edges.
    fn amplitude_at(samples: &[i16], rate: u32, freq: f64) -> f64 {
        let body = &samples[samples.len() / 10..samples.len() * 9 / 10];
        let (mut re, mut im) = (0.0, 0.0);
        for (i, &s) in body.iter().enumerate() {
            let phase = 2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate);
            re += f64::from(s) * phase.cos();
            im += f64::from(s) * phase.sin();
        }
        2.0 * (re * re + im * im).sqrt() / body.len() as f64
    }

    #[test]
    fn a_tone_keeps_its_frequency_and_level() {
        for freq in [440.0, 1_000.0, 3_000.0] {
            let out = resample(&tone(freq, 22_050, 0.5, 10_000.0), 22_050, 8_000);
            assert_eq!(out.len(), 4_000);
            let level = amplitude_at(&out, 8_000, freq);
            assert!((level - 10_000.0).abs() < 600.0, "{freq} Hz came out at {level}");
            // Nothing leaks into a neighbouring frequency.
            assert!(amplitude_at(&out, 8_000, freq + 250.0) < 100.0, "{freq} Hz spread");
        }
    }

    #[test]
    fn tones_above_the_new_nyquist_do_not_alias() {
        // 5 kHz at 22.05 kHz would fold to 3 kHz at 8 kHz; 7 kHz to 1 kHz.
        for (freq, alias) in [(5_000.0, 3_000.0), (7_000.0, 1_000.0)] {
            let out = resample(&tone(freq, 22_050, 0.5, 10_000.0), 22_050, 8_000);
            let leaked = amplitude_at(&out, 8_000, alias);
            assert!(leaked < 30.0, "{freq} Hz leaked {leaked} into {alias} Hz");
        }
    }

    #[test]
    fn upsampling_keeps_a_tone() {
        let out = resample(&tone(1_000.0, 6_000, 0.5, 8_000.0), 6_000, 8_000);
        assert_eq!(out.len(), 4_000);
        let level = amplitude_at(&out, 8_000, 1_000.0);
        assert!((level - 8_000.0).abs() < 400.0, "{level}");
    }

    #[test]
    fn pcm16_round_trips_and_stereo_mixes_down() {
        let samples = vec![0, 1000, -1000, i16::MAX, i16::MIN];
        let pcm = read_wav(&mono_wav(8_000, &samples)).unwrap();
        assert_eq!(pcm, Pcm { rate: 8_000, channels: 1, samples: samples.clone() });
        assert_eq!(to_8k_mono(&pcm), samples);

        let mut stereo = write_wav_header(2, 8_000, 2).to_vec();
        for s in [100i16, 300, -50, -150] {
            stereo.extend_from_slice(&s.to_le_bytes());
        }
        let pcm = read_wav(&stereo).unwrap();
        assert_eq!(pcm.channels, 2);
        assert_eq!(to_8k_mono(&pcm), vec![200, -100]);
    }

    #[test]
    fn a_streamed_data_length_is_cut_to_the_file() {
        // espeak-ng --stdout writes 0x7ffff000 as the data length.
        let mut bytes = mono_wav(22_050, &[1, 2, 3]);
        bytes[40..44].copy_from_slice(&0x7fff_f000u32.to_le_bytes());
        bytes.push(9); // half a sample
        assert_eq!(read_wav(&bytes).unwrap().samples, vec![1, 2, 3]);
    }

    fn g711_wav(tag: u16, bytes: &[u8]) -> Vec<u8> {
        let mut h = write_wav_header(1, 8_000, 0).to_vec();
        h[20..22].copy_from_slice(&tag.to_le_bytes());
        h[34..36].copy_from_slice(&8u16.to_le_bytes());
        h[40..44].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
        h.extend_from_slice(bytes);
        h
    }

    #[test]
    fn g711_files_decode() {
        // Silence and the loudest codes of each law.
        let mu = read_wav(&g711_wav(MULAW, &[0xFF, 0x7F, 0x00, 0x80])).unwrap();
        assert_eq!(mu.samples, vec![0, 0, -32_124, 32_124]);
        let a = read_wav(&g711_wav(ALAW, &[0xD5, 0x55, 0x2A, 0xAA])).unwrap();
        assert_eq!(a.samples, vec![8, -8, -32_256, 32_256]);
    }

    #[test]
    fn bad_files_say_why() {
        assert_eq!(read_wav(b"hello").unwrap_err().0, "not a WAV file (no RIFF/WAVE header)");
        let mut adpcm = mono_wav(8_000, &[0]);
        adpcm[20..22].copy_from_slice(&2u16.to_le_bytes());
        assert!(read_wav(&adpcm).unwrap_err().0.contains("format 2 is not supported"));
        let header_only = &mono_wav(8_000, &[])[..36];
        assert_eq!(read_wav(header_only).unwrap_err().0, "no data chunk");
    }
}
