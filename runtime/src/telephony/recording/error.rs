//! What can go wrong with a recording or its key; every message names the file (and the chunk
//! when one is at fault) so an operator knows what to look at.

use std::path::{Path, PathBuf};

#[derive(Debug)]
pub enum RecordingError {
    /// Reading or writing a file failed.
    Io {
        file: PathBuf,
        action: &'static str,
        error: std::io::Error,
    },
    /// There is no key file.
    KeyMissing {
        file: PathBuf,
    },
    /// The key file can be read or written by others than its owner.
    KeyPermissions {
        file: PathBuf,
        mode: u32,
    },
    /// The key file holds neither 32 raw bytes nor 64 hexadecimal characters.
    KeyFormat {
        file: PathBuf,
        reason: String,
    },
    /// The file does not start with the recording magic.
    NotARecording {
        file: PathBuf,
    },
    UnsupportedVersion {
        file: PathBuf,
        version: u8,
    },
    /// A header field is out of range (the header is authenticated, so this is damage).
    BadHeader {
        file: PathBuf,
        reason: String,
    },
    /// The header does not open with this key: another key, or an altered header.
    WrongKey {
        file: PathBuf,
    },
    /// A chunk fails authentication: altered, reordered, or cut short.
    ChunkRejected {
        file: PathBuf,
        chunk: u64,
    },
    /// The file ends after whole chunks but before the one sealed as final.
    Incomplete {
        file: PathBuf,
        chunks: u64,
    },
    /// Bytes follow the final chunk.
    TrailingData {
        file: PathBuf,
        chunk: u64,
    },
    /// The writer was used after `finish`, or the recording grew past the format's limit.
    Misuse {
        file: PathBuf,
        reason: &'static str,
    },
    /// Writing the decrypted audio to its destination failed.
    Output(std::io::Error),
    /// The campaign enables recording but lacks a setting (validation normally catches it).
    NotConfigured {
        file: PathBuf,
        setting: &'static str,
    },
    /// The system's random source failed.
    Random(String),
}

impl RecordingError {
    pub(crate) fn io(file: &Path, action: &'static str, error: std::io::Error) -> RecordingError {
        RecordingError::Io { file: file.to_path_buf(), action, error }
    }
}

impl std::fmt::Display for RecordingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use RecordingError::*;
        match self {
            Io { file, action, error } => write!(f, "{}: cannot {action}: {error}", file.display()),
            KeyMissing { file } => write!(
                f,
                "{}: the recording key file does not exist; create one with `callscript recording keygen {}`",
                file.display(),
                file.display()
            ),
            KeyPermissions { file, mode } => write!(
                f,
                "{}: the recording key file has mode {mode:04o}, so group or others may read or write it; \
                 run `chmod 600 {}`",
                file.display(),
                file.display()
            ),
            KeyFormat { file, reason } => write!(
                f,
                "{}: not a recording key ({reason}); a key is 32 raw bytes or 64 hexadecimal characters",
                file.display()
            ),
            NotARecording { file } => write!(f, "{}: not a CallScript recording (no CSREC header)", file.display()),
            UnsupportedVersion { file, version } => write!(
                f,
                "{}: recording format version {version} is not supported by this callscript; use a newer one",
                file.display()
            ),
            BadHeader { file, reason } => write!(f, "{}: damaged recording header: {reason}", file.display()),
            WrongKey { file } => write!(
                f,
                "{}: the key does not open this recording (it was made with another key, or its header was altered)",
                file.display()
            ),
            ChunkRejected { file, chunk } => write!(
                f,
                "{}: chunk {chunk} fails authentication: the recording was altered, truncated or its chunks reordered",
                file.display()
            ),
            Incomplete { file, chunks } => write!(
                f,
                "{}: incomplete recording (ends before its final chunk, after {chunks} chunks); \
                 it was not finished, or it was truncated",
                file.display()
            ),
            TrailingData { file, chunk } => {
                write!(f, "{}: data follows the final chunk ({chunk}): the recording was altered", file.display())
            }
            Misuse { file, reason } => write!(f, "{}: {reason}", file.display()),
            Output(e) => write!(f, "cannot write the exported audio: {e}"),
            NotConfigured { file, setting } => {
                write!(f, "{}: [recording] is enabled but `{setting}` is not set", file.display())
            }
            Random(e) => write!(f, "the system's random source failed: {e}"),
        }
    }
}

impl std::error::Error for RecordingError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RecordingError::Io { error, .. } | RecordingError::Output(error) => Some(error),
            _ => None,
        }
    }
}
