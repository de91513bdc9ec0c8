//! A canonical 44-byte-header PCM WAV file.

use std::io::Write;

/// Writes 16-bit PCM (`pcm`, little-endian, interleaved) with its RIFF header.
pub fn write(out: &mut impl Write, pcm: &[u8], sample_rate: u32, channels: u16) -> std::io::Result<()> {
    let data_len = u32::try_from(pcm.len())
        .ok()
        .filter(|n| *n <= u32::MAX - 36)
        .ok_or_else(|| std::io::Error::other("the audio is too long for a WAV file (over 4 GiB)"))?;
    let block_align = channels * 2;
    let mut header = Vec::with_capacity(44);
    header.extend_from_slice(b"RIFF");
    header.extend_from_slice(&(36 + data_len).to_le_bytes());
    header.extend_from_slice(b"WAVEfmt ");
    header.extend_from_slice(&16u32.to_le_bytes());
    header.extend_from_slice(&1u16.to_le_bytes()); // PCM
    header.extend_from_slice(&channels.to_le_bytes());
    header.extend_from_slice(&sample_rate.to_le_bytes());
    header.extend_from_slice(&(sample_rate * u32::from(block_align)).to_le_bytes());
    header.extend_from_slice(&block_align.to_le_bytes());
    header.extend_from_slice(&16u16.to_le_bytes());
    header.extend_from_slice(b"data");
    header.extend_from_slice(&data_len.to_le_bytes());
    out.write_all(&header)?;
    out.write_all(pcm)?;
    out.flush()
}
