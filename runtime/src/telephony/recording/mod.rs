//! Encrypted call recordings (CAMPAIGN.md `[recording]`): each answered call is recorded as
//! stereo 8 kHz 16-bit PCM (left: our prompts, right: the customer), sealed with AES-256-GCM
//! chunk by chunk as it is written, so plaintext audio never reaches the disk. See `format`
//! for the file layout.

mod error;
mod format;
mod key;
mod reader;
mod recorder;
mod wav;
mod writer;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use error::RecordingError;
pub use format::{CHANNELS, SAMPLE_RATE};
pub use key::RecordingKey;
pub use reader::{Decrypted, decrypt, decrypt_from, decrypt_to_wav, write_wav};
pub use recorder::Recorder;
pub use writer::RecordingWriter;

/// What a recording is of; sealed in its header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingMeta {
    pub campaign: String,
    pub attempt_id: i64,
    pub customer_id: String,
    pub started_ms: i64,
}
