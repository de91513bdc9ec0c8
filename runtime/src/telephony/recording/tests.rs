use std::path::Path;

use super::*;
use crate::scratch::scratch;

fn meta() -> RecordingMeta {
    RecordingMeta {
        campaign: "loan".into(),
        attempt_id: 7,
        customer_id: "CUST-4711".into(),
        started_ms: 1_700_000_000_000,
    }
}

/// A recognisable pattern: ours counts up, theirs is a fixed marker.
fn pattern(frames: usize) -> (Vec<i16>, Vec<i16>) {
    let ours = (0..frames).map(|i| (i % 30_000) as i16).collect();
    let theirs = vec![0x5a5a; frames];
    (ours, theirs)
}

/// Writes `frames` frames in 20 ms pieces (as RTP delivers them) and finishes.
fn record(path: &Path, key: &RecordingKey, frames: usize) -> (Vec<i16>, Vec<i16>) {
    let (ours, theirs) = pattern(frames);
    let mut writer = RecordingWriter::create(path, key, &meta()).unwrap();
    for (o, t) in ours.chunks(160).zip(theirs.chunks(160)) {
        writer.write(o, t).unwrap();
    }
    writer.finish().unwrap();
    (ours, theirs)
}

/// Byte offset of chunk `i` (full chunks are CHUNK_SIZE + 16 bytes, after the header).
fn chunk_offset(bytes: &[u8], i: usize) -> usize {
    let meta_len = u32::from_be_bytes(bytes[17..21].try_into().unwrap()) as usize;
    format::FIXED_HEADER + meta_len + i * (format::CHUNK_SIZE + format::TAG_SIZE)
}

#[test]
fn roundtrip_keeps_both_channels() {
    let dir = scratch("recording-roundtrip");
    let key = RecordingKey::generate().unwrap();
    for frames in [0, 1, 8_192, 8_193, 40_000] {
        let path = dir.path().join(format!("{frames}.csrec"));
        let (ours, theirs) = record(&path, &key, frames);
        let d = decrypt(&path, &key).unwrap();
        assert_eq!(d.meta, meta());
        assert_eq!(d.channels(), (ours, theirs), "{frames} frames");
    }
}

#[test]
fn shorter_side_is_padded_with_silence() {
    let dir = scratch("recording-pad");
    let key = RecordingKey::generate().unwrap();
    let path = dir.path().join("a.csrec");
    let mut w = RecordingWriter::create(&path, &key, &meta()).unwrap();
    w.write(&[1, 2, 3], &[9]).unwrap();
    w.finish().unwrap();
    assert_eq!(decrypt(&path, &key).unwrap().channels(), (vec![1, 2, 3], vec![9, 0, 0]));
}

#[test]
fn nothing_is_in_plaintext_on_disk() {
    let dir = scratch("recording-plain");
    let key = RecordingKey::generate().unwrap();
    let path = dir.path().join("a.csrec");
    let (ours, theirs) = record(&path, &key, 20_000);
    let file = std::fs::read(&path).unwrap();
    let plain: Vec<u8> =
        ours.iter().zip(&theirs).flat_map(|(o, t)| [o.to_le_bytes(), t.to_le_bytes()].concat()).collect();
    // No 16-byte window of the audio, and not the customer's id, appears in the file.
    let in_file: std::collections::HashSet<&[u8]> = file.windows(16).collect();
    assert!(plain.chunks_exact(16).all(|w| !in_file.contains(w)), "plaintext audio found in the file");
    assert!(!file.windows(9).any(|w| w == b"CUST-4711"), "the customer id is in plaintext");
    assert!(!file.windows(4).any(|w| w == [0x5a; 4]), "the customer channel's marker is in plaintext");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}

#[test]
fn a_tampered_byte_names_its_chunk() {
    let dir = scratch("recording-tamper");
    let key = RecordingKey::generate().unwrap();
    let path = dir.path().join("a.csrec");
    record(&path, &key, 40_000);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = chunk_offset(&bytes, 2) + 100;
    bytes[at] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let err = decrypt(&path, &key).unwrap_err();
    assert!(matches!(err, RecordingError::ChunkRejected { chunk: 2, .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("a.csrec") && text.contains("chunk 2"), "{text}");
}

#[test]
fn a_tampered_header_is_refused() {
    let dir = scratch("recording-header");
    let key = RecordingKey::generate().unwrap();
    let path = dir.path().join("a.csrec");
    record(&path, &key, 100);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[25] ^= 1; // inside the sealed details
    std::fs::write(&path, &bytes).unwrap();
    assert!(matches!(decrypt(&path, &key), Err(RecordingError::WrongKey { .. })));
    bytes[0] = b'X';
    std::fs::write(&path, &bytes).unwrap();
    assert!(matches!(decrypt(&path, &key), Err(RecordingError::NotARecording { .. })));
}

#[test]
fn truncation_is_detected() {
    let dir = scratch("recording-truncate");
    let key = RecordingKey::generate().unwrap();
    let path = dir.path().join("a.csrec");
    record(&path, &key, 40_000);
    let bytes = std::fs::read(&path).unwrap();
    // Cut at a chunk boundary: every remaining chunk is intact but none is the final one.
    std::fs::write(&path, &bytes[..chunk_offset(&bytes, 2)]).unwrap();
    let err = decrypt(&path, &key).unwrap_err();
    assert!(matches!(err, RecordingError::Incomplete { chunks: 2, .. }), "{err}");
    assert!(err.to_string().contains("incomplete recording (ends before its final chunk"), "{err}");
    // Cut inside a chunk.
    std::fs::write(&path, &bytes[..chunk_offset(&bytes, 1) + 500]).unwrap();
    assert!(matches!(decrypt(&path, &key), Err(RecordingError::ChunkRejected { chunk: 1, .. })));
    // Cut to the header alone.
    std::fs::write(&path, &bytes[..chunk_offset(&bytes, 0)]).unwrap();
    assert!(matches!(decrypt(&path, &key), Err(RecordingError::Incomplete { chunks: 0, .. })));
    // Cut inside the header.
    std::fs::write(&path, &bytes[..10]).unwrap();
    assert!(matches!(decrypt(&path, &key), Err(RecordingError::BadHeader { .. })));
}

#[test]
fn bytes_after_the_final_chunk_are_refused() {
    let dir = scratch("recording-trailing");
    let key = RecordingKey::generate().unwrap();
    let path = dir.path().join("a.csrec");
    record(&path, &key, 8_192); // exactly one full chunk, sealed as final
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b"more");
    std::fs::write(&path, &bytes).unwrap();
    assert!(matches!(decrypt(&path, &key), Err(RecordingError::TrailingData { chunk: 0, .. })));
}

#[test]
fn swapped_chunks_are_detected() {
    let dir = scratch("recording-swap");
    let key = RecordingKey::generate().unwrap();
    let path = dir.path().join("a.csrec");
    record(&path, &key, 40_000);
    let mut bytes = std::fs::read(&path).unwrap();
    let (a, b) = (chunk_offset(&bytes, 1), chunk_offset(&bytes, 2));
    let len = b - a;
    let first = bytes[a..b].to_vec();
    bytes.copy_within(b..b + len, a);
    bytes[b..b + len].copy_from_slice(&first);
    std::fs::write(&path, &bytes).unwrap();
    assert!(matches!(decrypt(&path, &key), Err(RecordingError::ChunkRejected { chunk: 1, .. })));
}

#[test]
fn a_chunk_from_another_recording_is_refused() {
    let dir = scratch("recording-splice");
    let key = RecordingKey::generate().unwrap();
    let (a, b) = (dir.path().join("a.csrec"), dir.path().join("b.csrec"));
    record(&a, &key, 20_000);
    record(&b, &key, 20_000);
    let mut bytes_a = std::fs::read(&a).unwrap();
    let bytes_b = std::fs::read(&b).unwrap();
    let (start, end) = (chunk_offset(&bytes_a, 1), chunk_offset(&bytes_a, 2));
    bytes_a[start..end].copy_from_slice(&bytes_b[start..end]);
    std::fs::write(&a, &bytes_a).unwrap();
    assert!(matches!(decrypt(&a, &key), Err(RecordingError::ChunkRejected { chunk: 1, .. })));
}

#[test]
fn a_wrong_key_is_refused() {
    let dir = scratch("recording-wrongkey");
    let path = dir.path().join("a.csrec");
    record(&path, &RecordingKey::generate().unwrap(), 100);
    let err = decrypt(&path, &RecordingKey::generate().unwrap()).unwrap_err();
    assert!(matches!(err, RecordingError::WrongKey { .. }), "{err}");
    assert!(err.to_string().contains("the key does not open this recording"), "{err}");
}

#[test]
fn an_unfinished_writer_leaves_an_incomplete_file() {
    let dir = scratch("recording-unfinished");
    let key = RecordingKey::generate().unwrap();
    let path = dir.path().join("a.csrec");
    let (ours, theirs) = pattern(20_000);
    let mut writer = RecordingWriter::create(&path, &key, &meta()).unwrap();
    writer.write(&ours, &theirs).unwrap();
    drop(writer);
    let err = decrypt(&path, &key).unwrap_err();
    assert!(err.to_string().contains("incomplete recording (ends before its final chunk"), "{err}");
}

#[test]
fn an_existing_file_is_not_overwritten() {
    let dir = scratch("recording-exists");
    let path = dir.path().join("a.csrec");
    std::fs::write(&path, b"x").unwrap();
    let err = RecordingWriter::create(&path, &RecordingKey::generate().unwrap(), &meta()).unwrap_err();
    assert!(err.to_string().contains("cannot create the recording"), "{err}");
}

#[test]
fn wav_export_has_a_stereo_header() {
    let dir = scratch("recording-wav");
    let key = RecordingKey::generate().unwrap();
    let path = dir.path().join("a.csrec");
    record(&path, &key, 1_000);
    let mut wav = Vec::new();
    assert_eq!(decrypt_to_wav(&path, &key, &mut wav).unwrap(), meta());
    assert_eq!(&wav[..4], b"RIFF");
    assert_eq!(&wav[8..16], b"WAVEfmt ");
    assert_eq!(u16::from_le_bytes([wav[22], wav[23]]), 2, "channels");
    assert_eq!(u32::from_le_bytes(wav[24..28].try_into().unwrap()), 8_000, "sample rate");
    assert_eq!(u16::from_le_bytes([wav[34], wav[35]]), 16, "bits");
    assert_eq!(u32::from_le_bytes(wav[40..44].try_into().unwrap()), 4_000, "data bytes");
    assert_eq!(wav.len(), 44 + 4_000);
}

#[cfg(unix)]
fn write_key(path: &Path, bytes: &[u8], mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, bytes).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[cfg(unix)]
#[test]
fn key_files_hex_raw_and_permissions() {
    let dir = scratch("recording-keys");
    let key = RecordingKey::generate().unwrap();
    let hex = dir.path().join("hex.key");
    write_key(&hex, format!("{}\n", key.to_hex()).as_bytes(), 0o600);
    assert_eq!(RecordingKey::load(&hex).unwrap(), key);
    let upper = dir.path().join("upper.key");
    write_key(&upper, key.to_hex().to_uppercase().as_bytes(), 0o400);
    assert_eq!(RecordingKey::load(&upper).unwrap(), key);
    let raw = dir.path().join("raw.key");
    write_key(&raw, key.bytes(), 0o600);
    assert_eq!(RecordingKey::load(&raw).unwrap(), key);

    let open = dir.path().join("open.key");
    write_key(&open, key.to_hex().as_bytes(), 0o644);
    let err = RecordingKey::load(&open).unwrap_err().to_string();
    assert!(err.contains("open.key") && err.contains("mode 0644") && err.contains("chmod 600"), "{err}");

    let short = dir.path().join("short.key");
    write_key(&short, b"abc\n", 0o600);
    let err = RecordingKey::load(&short).unwrap_err().to_string();
    assert!(err.contains("short.key") && err.contains("holds 4 bytes"), "{err}");
    let bad = dir.path().join("bad.key");
    write_key(&bad, format!("{}zz", &key.to_hex()[..62]).as_bytes(), 0o600);
    let err = RecordingKey::load(&bad).unwrap_err().to_string();
    assert!(err.contains("character 63 is not hexadecimal"), "{err}");
    let missing = RecordingKey::load(&dir.path().join("none.key")).unwrap_err().to_string();
    assert!(missing.contains("none.key: the recording key file does not exist; create one with"), "{missing}");
}

#[test]
fn the_key_is_not_printed() {
    let key = RecordingKey::from_bytes([0xab; 32]);
    assert_eq!(format!("{key:?}"), "RecordingKey(..)");
}
