//! A canonical 44-byte-header PCM WAV file.

use std::io::Write;

/// Writes 16-bit PCM (`pcm`, little-endian, interleaved) with its RIFF header.
pub fn write(out: &mut impl Write, pcm: &[u8], sample_rate: u32, channels: u16) -> std::io::Result<()> {
    let data_len = u32::try_from(pcm.len())
        .ok()
        .filter(|n| *n <= u32::MAX - 36)
        .ok_or_else(|| std::io::Error::other("the audio is too long for a WAV file (over 4 GiB)"))?;
    let frames = data_len / (u32::from(channels) * 2).max(1);
    let header = crate::telephony::speech::wav::write_wav_header(channels, sample_rate, frames);
    out.write_all(&header)?;
    out.write_all(pcm)?;
    out.flush()
}
