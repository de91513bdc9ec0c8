//! Writes a recording as the call goes: samples are buffered in memory and each full chunk is
//! sealed before it reaches the disk, so the file never holds plaintext audio.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::Generate;

use super::format::{CHUNK_SIZE, Sealer};
use super::{RecordingError, RecordingKey, RecordingMeta};

/// One call's recording being written. Call `finish` when the call ends; a writer dropped
/// without it leaves a file that is refused as incomplete (never one that is plaintext).
pub struct RecordingWriter {
    path: PathBuf,
    file: File,
    sealer: Sealer,
    /// Interleaved plaintext not yet sealed (at most one chunk and one write's worth).
    pending: Vec<u8>,
    next_chunk: u32,
    bytes_on_disk: u64,
    frames: u64,
}

impl std::fmt::Debug for RecordingWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingWriter").field("path", &self.path).field("frames", &self.frames).finish()
    }
}

impl RecordingWriter {
    /// Creates the file (it must not exist yet; mode 600 on Unix) and writes the header.
    pub fn create(path: &Path, key: &RecordingKey, meta: &RecordingMeta) -> Result<RecordingWriter, RecordingError> {
        let prefix = <[u8; 7]>::try_generate().map_err(|e| RecordingError::Random(e.to_string()))?;
        let mut sealer = Sealer::new(key, prefix);
        let meta_json = serde_json::to_vec(meta).map_err(|_| RecordingError::Misuse {
            file: path.to_path_buf(),
            reason: "the recording's details cannot be stored",
        })?;
        let chunk_size = CHUNK_SIZE as u32;
        let header = sealer
            .seal_header(chunk_size, &meta_json)
            .map_err(|_| RecordingError::Misuse {
                file: path.to_path_buf(),
                reason: "the recording's details are too long",
            })?
            .to_vec();
        let mut file = create_private(path).map_err(|e| RecordingError::io(path, "create the recording", e))?;
        file.write_all(&header).map_err(|e| RecordingError::io(path, "write the recording", e))?;
        Ok(RecordingWriter {
            path: path.to_path_buf(),
            file,
            sealer,
            pending: Vec::with_capacity(2 * CHUNK_SIZE),
            next_chunk: 0,
            bytes_on_disk: header.len() as u64,
            frames: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Milliseconds of audio written so far.
    pub fn duration_ms(&self) -> u64 {
        self.frames * 1000 / u64::from(super::format::SAMPLE_RATE)
    }

    /// Appends audio: `ours` (our prompts, left) and `theirs` (the customer, right), 8 kHz
    /// samples for the same span of time. The shorter side is padded with silence.
    pub fn write(&mut self, ours: &[i16], theirs: &[i16]) -> Result<(), RecordingError> {
        let frames = ours.len().max(theirs.len());
        self.pending.reserve(frames * 4);
        for i in 0..frames {
            self.pending.extend_from_slice(&ours.get(i).copied().unwrap_or(0).to_le_bytes());
            self.pending.extend_from_slice(&theirs.get(i).copied().unwrap_or(0).to_le_bytes());
        }
        self.frames += frames as u64;
        // Seal only when more follows a full chunk: the final chunk is sealed by `finish`.
        while self.pending.len() > CHUNK_SIZE {
            let rest = self.pending.split_off(CHUNK_SIZE);
            let chunk = std::mem::replace(&mut self.pending, rest);
            self.seal_and_write(chunk, false)?;
        }
        Ok(())
    }

    /// Seals the final chunk and syncs the file; returns its size in bytes.
    pub fn finish(mut self) -> Result<u64, RecordingError> {
        let chunk = std::mem::take(&mut self.pending);
        self.seal_and_write(chunk, true)?;
        self.file.sync_all().map_err(|e| RecordingError::io(&self.path, "write the recording", e))?;
        Ok(self.bytes_on_disk)
    }

    fn seal_and_write(&mut self, mut chunk: Vec<u8>, last: bool) -> Result<(), RecordingError> {
        let index = self.next_chunk;
        self.sealer.seal_chunk(index, last, &mut chunk).map_err(|_| RecordingError::Misuse {
            file: self.path.clone(),
            reason: "the recording is too long for its format",
        })?;
        self.file.write_all(&chunk).map_err(|e| RecordingError::io(&self.path, "write the recording", e))?;
        self.next_chunk += 1;
        self.bytes_on_disk += chunk.len() as u64;
        Ok(())
    }
}

/// A new file only its owner may read or write.
fn create_private(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}
