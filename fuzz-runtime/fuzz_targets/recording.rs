//! The recording reader on any file: an error or audio, never a panic, and nothing allocated
//! beyond what the header's checked sizes allow. The seeds are real recordings sealed with
//! the key below, so mutations reach the chunk logic, not only the header.
#![no_main]

use callscript_runtime::telephony::recording::{RecordingKey, decrypt_from};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = RecordingKey::from_bytes([7; 32]);
    if let Ok(decrypted) = decrypt_from(std::path::Path::new("fuzz.rec"), data, &key) {
        assert_eq!(decrypted.pcm.len() % 4, 0, "whole stereo frames");
        let _ = decrypted.duration_ms();
    }
});
