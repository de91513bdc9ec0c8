//! The recording key: AES-256, read from a file only its owner may read or write.

use std::path::Path;

use aes_gcm::aead::Generate;

use super::RecordingError;

/// A 256-bit key. Its bytes are never printed (`Debug` shows nothing of them).
#[derive(Clone, PartialEq, Eq)]
pub struct RecordingKey([u8; 32]);

impl std::fmt::Debug for RecordingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecordingKey(..)")
    }
}

impl RecordingKey {
    /// Reads a key file: 32 raw bytes, or 64 hexadecimal characters with an optional trailing
    /// newline. A file group or others may read or write is refused (fix: `chmod 600`).
    pub fn load(path: &Path) -> Result<RecordingKey, RecordingError> {
        check_private(path)?;
        let bytes = std::fs::read(path).map_err(|e| missing_or_unreadable(path, e))?;
        RecordingKey::parse(&bytes).map_err(|reason| RecordingError::KeyFormat { file: path.to_path_buf(), reason })
    }

    /// Parses key material; Err is the reason, for the caller to pin on a file.
    pub fn parse(bytes: &[u8]) -> Result<RecordingKey, String> {
        if let Ok(raw) = <[u8; 32]>::try_from(bytes) {
            return Ok(RecordingKey(raw));
        }
        let text = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.len() != 64 {
            return Err(format!("it holds {} bytes", bytes.len()));
        }
        if let Some(at) = text.iter().position(|&c| hex_digit(c).is_none()) {
            return Err(format!("character {} is not hexadecimal", at + 1));
        }
        let mut key = [0u8; 32];
        for (byte, pair) in key.iter_mut().zip(text.chunks_exact(2)) {
            *byte = hex_digit(pair[0]).unwrap_or(0) << 4 | hex_digit(pair[1]).unwrap_or(0);
        }
        Ok(RecordingKey(key))
    }

    pub fn from_bytes(bytes: [u8; 32]) -> RecordingKey {
        RecordingKey(bytes)
    }

    /// A fresh random key from the system's random source.
    pub fn generate() -> Result<RecordingKey, RecordingError> {
        <[u8; 32]>::try_generate().map(RecordingKey).map_err(|e| RecordingError::Random(e.to_string()))
    }

    /// The key as 64 lowercase hexadecimal characters (the form `load` reads), for key files.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

fn missing_or_unreadable(path: &Path, error: std::io::Error) -> RecordingError {
    if error.kind() == std::io::ErrorKind::NotFound {
        RecordingError::KeyMissing { file: path.to_path_buf() }
    } else {
        RecordingError::io(path, "read the recording key", error)
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Refuses a key file that group or others may read or write (checked before reading it).
#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), RecordingError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| missing_or_unreadable(path, e))?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o066 != 0 {
        return Err(RecordingError::KeyPermissions { file: path.to_path_buf(), mode });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), RecordingError> {
    Ok(())
}
