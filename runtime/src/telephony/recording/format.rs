//! The file format, version 1 (a STREAM construction over AES-256-GCM):
//!
//! ```text
//! header  "CSREC" | version u8 = 1 | chunk size u32 BE | nonce prefix [7] | meta length u32 BE
//!         | meta: the JSON `RecordingMeta`, sealed with nonce prefix‖FFFFFFFF‖02, AAD = the bytes before it
//! chunks  each `chunk size` bytes of audio (the final one shorter or equal, maybe empty) + a 16-byte tag,
//!         sealed with nonce prefix‖index u32 BE‖last (0 or 1), AAD = the whole header‖index‖last
//! ```
//!
//! Audio is 8 kHz, 16-bit little-endian, stereo interleaved (left ours, right theirs). The
//! index in the nonce catches reordered chunks, the last flag a file cut at a chunk boundary,
//! and the header in the AAD a header swapped from another recording.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::array::Array;
use aes_gcm::aead::{AeadInOut, KeyInit};

use super::RecordingKey;

pub const MAGIC: &[u8; 5] = b"CSREC";
pub const VERSION: u8 = 1;
/// Plaintext bytes per chunk: about one second of stereo audio.
pub const CHUNK_SIZE: usize = 32 * 1024;
pub const TAG_SIZE: usize = 16;
pub const SAMPLE_RATE: u32 = 8_000;
pub const CHANNELS: u16 = 2;
/// Bytes before the sealed meta.
pub const FIXED_HEADER: usize = 5 + 1 + 4 + 7 + 4;
/// Bounds a reader accepts, so a damaged header cannot ask for huge allocations.
pub const MAX_CHUNK_SIZE: usize = 16 * 1024 * 1024;
pub const MAX_META: usize = 64 * 1024;
/// The chunk index reserved for the header's nonce; chunks count below it.
const HEADER_INDEX: u32 = u32::MAX;

/// Seals and opens one recording's header and chunks.
pub struct Sealer {
    cipher: Aes256Gcm,
    prefix: [u8; 7],
    /// The complete header, bound into every chunk's AAD.
    header: Vec<u8>,
}

impl Sealer {
    pub fn new(key: &RecordingKey, prefix: [u8; 7]) -> Sealer {
        Sealer { cipher: Aes256Gcm::new(&Array(*key.bytes())), prefix, header: Vec::new() }
    }

    fn nonce(&self, index: u32, flag: u8) -> Array<u8, aes_gcm::aead::consts::U12> {
        let mut n = [0u8; 12];
        n[..7].copy_from_slice(&self.prefix);
        n[7..11].copy_from_slice(&index.to_be_bytes());
        n[11] = flag;
        Array(n)
    }

    /// Builds the header around `meta_json` (sealed); it is kept for the chunks' AAD.
    pub fn seal_header(&mut self, chunk_size: u32, meta_json: &[u8]) -> Result<&[u8], aes_gcm::Error> {
        let mut fixed = Vec::with_capacity(FIXED_HEADER);
        fixed.extend_from_slice(MAGIC);
        fixed.push(VERSION);
        fixed.extend_from_slice(&chunk_size.to_be_bytes());
        fixed.extend_from_slice(&self.prefix);
        let sealed_len = u32::try_from(meta_json.len() + TAG_SIZE).map_err(|_| aes_gcm::Error)?;
        fixed.extend_from_slice(&sealed_len.to_be_bytes());
        let mut meta = meta_json.to_vec();
        self.cipher.encrypt_in_place(&self.nonce(HEADER_INDEX, 2), &fixed, &mut meta)?;
        fixed.extend_from_slice(&meta);
        self.header = fixed;
        Ok(&self.header)
    }

    /// Opens a header read from a file: `fixed` as read, `sealed_meta` after it. Returns the
    /// meta JSON; fails with a wrong key or an altered header.
    pub fn open_header(&mut self, fixed: &[u8], sealed_meta: &[u8]) -> Result<Vec<u8>, aes_gcm::Error> {
        let mut meta = sealed_meta.to_vec();
        self.cipher.decrypt_in_place(&self.nonce(HEADER_INDEX, 2), fixed, &mut meta)?;
        self.header = [fixed, sealed_meta].concat();
        Ok(meta)
    }

    fn aad(&self, index: u32, last: bool) -> Vec<u8> {
        let mut aad = Vec::with_capacity(self.header.len() + 5);
        aad.extend_from_slice(&self.header);
        aad.extend_from_slice(&index.to_be_bytes());
        aad.push(u8::from(last));
        aad
    }

    /// Encrypts `buffer` in place and appends its tag.
    pub fn seal_chunk(&self, index: u32, last: bool, buffer: &mut Vec<u8>) -> Result<(), aes_gcm::Error> {
        if index == HEADER_INDEX {
            return Err(aes_gcm::Error);
        }
        self.cipher.encrypt_in_place(&self.nonce(index, u8::from(last)), &self.aad(index, last), buffer)
    }

    /// Checks and decrypts `buffer` (ciphertext and tag) in place.
    pub fn open_chunk(&self, index: u32, last: bool, buffer: &mut Vec<u8>) -> Result<(), aes_gcm::Error> {
        if index == HEADER_INDEX {
            return Err(aes_gcm::Error);
        }
        self.cipher.decrypt_in_place(&self.nonce(index, u8::from(last)), &self.aad(index, last), buffer)
    }
}
