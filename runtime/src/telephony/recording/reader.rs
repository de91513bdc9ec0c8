//! Reads a recording back: every chunk is authenticated, in order, before any audio is given
//! out, so an altered, reordered, truncated or wrong-key file yields an error and no audio.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use super::format::{self, Sealer};
use super::{RecordingError, RecordingKey, RecordingMeta};

/// A decrypted recording: its details and its audio (interleaved 16-bit little-endian stereo).
#[derive(Clone, Debug)]
pub struct Decrypted {
    pub meta: RecordingMeta,
    pub pcm: Vec<u8>,
}

impl Decrypted {
    /// The two channels as samples: (ours, theirs).
    pub fn channels(&self) -> (Vec<i16>, Vec<i16>) {
        let frames = self.pcm.chunks_exact(4);
        frames.map(|f| (i16::from_le_bytes([f[0], f[1]]), i16::from_le_bytes([f[2], f[3]]))).unzip()
    }

    pub fn duration_ms(&self) -> u64 {
        (self.pcm.len() / 4) as u64 * 1000 / u64::from(format::SAMPLE_RATE)
    }
}

/// Decrypts a whole recording into memory (nothing is written anywhere).
pub fn decrypt(path: &Path, key: &RecordingKey) -> Result<Decrypted, RecordingError> {
    let file = std::fs::File::open(path).map_err(|e| RecordingError::io(path, "open the recording", e))?;
    decrypt_from(path, file, key)
}

/// Decrypts a recording read from `input`; errors name `path`. Whatever the bytes, this ends
/// with an error or the audio: sizes in the header are checked before anything is allocated.
pub fn decrypt_from(path: &Path, input: impl Read, key: &RecordingKey) -> Result<Decrypted, RecordingError> {
    let mut reader = BufReader::new(input);
    let read_err = |e| RecordingError::io(path, "read the recording", e);
    let bad = |reason: String| RecordingError::BadHeader { file: path.to_path_buf(), reason };

    let mut fixed = [0u8; format::FIXED_HEADER];
    let n = read_up_to(&mut reader, &mut fixed).map_err(read_err)?;
    if n < format::MAGIC.len() || &fixed[..5] != format::MAGIC {
        return Err(RecordingError::NotARecording { file: path.to_path_buf() });
    }
    if fixed[5] != format::VERSION {
        return Err(RecordingError::UnsupportedVersion { file: path.to_path_buf(), version: fixed[5] });
    }
    if n < fixed.len() {
        return Err(bad("the file ends inside its header".into()));
    }
    let chunk_size = u32::from_be_bytes([fixed[6], fixed[7], fixed[8], fixed[9]]) as usize;
    if !(1..=format::MAX_CHUNK_SIZE).contains(&chunk_size) {
        return Err(bad(format!("chunk size {chunk_size} is out of range")));
    }
    let mut prefix = [0u8; 7];
    prefix.copy_from_slice(&fixed[10..17]);
    let meta_len = u32::from_be_bytes([fixed[17], fixed[18], fixed[19], fixed[20]]) as usize;
    if !(format::TAG_SIZE..=format::MAX_META).contains(&meta_len) {
        return Err(bad(format!("details length {meta_len} is out of range")));
    }
    let mut sealed_meta = vec![0u8; meta_len];
    if read_up_to(&mut reader, &mut sealed_meta).map_err(read_err)? < meta_len {
        return Err(bad("the file ends inside its header".into()));
    }
    let mut sealer = Sealer::new(key, prefix);
    let meta_json =
        sealer.open_header(&fixed, &sealed_meta).map_err(|_| RecordingError::WrongKey { file: path.to_path_buf() })?;
    let meta: RecordingMeta =
        serde_json::from_slice(&meta_json).map_err(|e| bad(format!("its details do not read: {e}")))?;

    let pcm = read_chunks(path, &mut reader, &sealer, chunk_size)?;
    Ok(Decrypted { meta, pcm })
}

/// Opens the chunks in order; the one the file ends with must be sealed as final.
fn read_chunks(
    path: &Path,
    reader: &mut impl BufRead,
    sealer: &Sealer,
    chunk_size: usize,
) -> Result<Vec<u8>, RecordingError> {
    let file = || path.to_path_buf();
    let read_err = |e| RecordingError::io(path, "read the recording", e);
    let full = chunk_size + format::TAG_SIZE;
    let mut pcm = Vec::new();
    let mut buffer = vec![0u8; full];
    // u32::MAX is the header's nonce, never a chunk's.
    for index in 0..u32::MAX {
        let chunk = u64::from(index);
        buffer.resize(full, 0);
        let n = read_up_to(reader, &mut buffer).map_err(read_err)?;
        buffer.truncate(n);
        if n == 0 {
            return Err(RecordingError::Incomplete { file: file(), chunks: chunk });
        }
        let at_end = n < full || reader.fill_buf().map_err(read_err)?.is_empty();
        let as_sealed = |last: bool| {
            let mut b = buffer.clone();
            sealer.open_chunk(index, last, &mut b).ok().map(|()| b)
        };
        match (at_end, as_sealed(at_end)) {
            (true, Some(plain)) => {
                pcm.extend_from_slice(&plain);
                return Ok(pcm);
            }
            (false, Some(plain)) => pcm.extend_from_slice(&plain),
            // A whole chunk that is not the final one, and then nothing: cut at a boundary.
            (true, None) if as_sealed(false).is_some() => {
                return Err(RecordingError::Incomplete { file: file(), chunks: chunk + 1 });
            }
            (false, None) if as_sealed(true).is_some() => {
                return Err(RecordingError::TrailingData { file: file(), chunk });
            }
            _ => return Err(RecordingError::ChunkRejected { file: file(), chunk }),
        }
    }
    Err(RecordingError::Misuse { file: file(), reason: "the recording has more chunks than its format allows" })
}

/// Reads until `buf` is full or the input ends; returns how much was read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Decrypts a recording and writes it to `out` as a stereo WAV file. Nothing is written
/// unless every chunk authenticates.
pub fn decrypt_to_wav(path: &Path, key: &RecordingKey, out: &mut impl Write) -> Result<RecordingMeta, RecordingError> {
    let decrypted = decrypt(path, key)?;
    write_wav(out, &decrypted.pcm).map_err(RecordingError::Output)?;
    Ok(decrypted.meta)
}

/// Writes decrypted audio (`Decrypted::pcm`) as a stereo 8 kHz 16-bit WAV file.
pub fn write_wav(out: &mut impl Write, pcm: &[u8]) -> std::io::Result<()> {
    super::wav::write(out, pcm, format::SAMPLE_RATE, format::CHANNELS)
}
