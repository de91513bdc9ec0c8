//! End to end: recordings made with the runtime's recorder are listed, exported to WAV and
//! audited by the binary; a tampered recording's export fails with a clear message.

use std::path::Path;
use std::process::{Command, Output};

use callscript_runtime::campaign;
use callscript_runtime::store::{RecordingRow, SqliteStore, Store};
use callscript_runtime::telephony::recording::Recorder;
use tempfile::TempDir;

#[path = "support/scratch.rs"]
mod scratch;
use scratch::scratch;

/// Runs the binary in `dir` as user `auditor`.
fn callscript(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_callscript"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("USER", "auditor")
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(unix)]
fn write_key(path: &Path, hex: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("{hex}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// A campaign folder with a key, a store and two finished recordings (attempts 7 and 8).
fn campaign_with_recordings(name: &str) -> (TempDir, Vec<i16>, Vec<i16>) {
    let tmp = scratch(&format!("recording-e2e-{name}"));
    let dir = tmp.path();
    write_key(&dir.join("rec.key"), KEY, 0o600);
    std::fs::write(
        dir.join("campaign.toml"),
        "task_id = \"loan\"\nscript = \"loan.call\"\n\n[recording]\nenabled = true\nkey_file = \"rec.key\"\n\
         dir = \"recordings\"\n\n[store]\nurl = \"sqlite://campaign.db\"\n",
    )
    .unwrap();
    let loaded = campaign::load(&dir.join("campaign.toml")).unwrap();
    let recorder = Recorder::for_campaign(&loaded).unwrap().expect("recording is enabled");
    let mut store = SqliteStore::open(&dir.join("campaign.db")).unwrap();
    let ours: Vec<i16> = (0..12_000).map(|i| (i % 1000) as i16).collect();
    let theirs: Vec<i16> = (0..12_000).map(|i| -((i % 700) as i16)).collect();
    for (attempt, started_ms) in [(7, 1_764_000_000_000), (8, 1_764_000_600_000)] {
        let mut writer = recorder.start(attempt, &format!("C{attempt}"), started_ms).unwrap();
        // 20 ms frames, as the media path delivers them.
        for (o, t) in ours.chunks(160).zip(theirs.chunks(160)) {
            writer.write(o, t).unwrap();
        }
        let path = writer.path().display().to_string();
        let bytes = writer.finish().unwrap() as i64;
        let row = RecordingRow { attempt_id: attempt, campaign: "loan".into(), path, created_ms: started_ms, bytes };
        store.add_recording(&row).unwrap();
    }
    (tmp, ours, theirs)
}

fn redact(text: &str, dir: &Path) -> String {
    text.replace(&dir.display().to_string(), "[DIR]")
}

#[cfg(unix)]
#[test]
fn export_list_and_audit() {
    let (tmp, ours, theirs) = campaign_with_recordings("export");
    let dir = tmp.path();
    let list = callscript(dir, &["recording", "list", "campaign.toml"]);
    assert_eq!(list.status.code(), Some(0), "{}", text(&list.stderr));
    insta::assert_snapshot!("recording_list", redact(&text(&list.stdout), dir));

    let out = callscript(dir, &["recording", "export", "campaign.toml", "--attempt", "7", "-o", "seven.wav"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "exported attempt 7 (customer C7, 1.5 s) to seven.wav\n");
    let wav = std::fs::read(dir.join("seven.wav")).unwrap();
    assert_eq!(&wav[..4], b"RIFF");
    assert_eq!(u16::from_le_bytes([wav[22], wav[23]]), 2, "stereo");
    assert_eq!(u32::from_le_bytes(wav[24..28].try_into().unwrap()), 8_000);
    assert_eq!(u32::from_le_bytes(wav[40..44].try_into().unwrap()) as usize, ours.len() * 4);
    let frames: Vec<(i16, i16)> = wav[44..]
        .chunks_exact(4)
        .map(|f| (i16::from_le_bytes([f[0], f[1]]), i16::from_le_bytes([f[2], f[3]])))
        .collect();
    let expected: Vec<(i16, i16)> = ours.iter().copied().zip(theirs.iter().copied()).collect();
    assert!(frames == expected, "left is ours, right is theirs");

    // By file, with the key given on the command line.
    let file = dir.join("recordings/loan-8.csrec");
    let file = file.to_str().unwrap();
    let out = callscript(dir, &["recording", "export", "campaign.toml", file, "--key", "rec.key", "-o", "eight.wav"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // Tampered: one byte of the second chunk flipped; by file, the store still knows its attempt.
    let original = std::fs::read(file).unwrap();
    let mut bytes = original.clone();
    let at = bytes.len() - 200;
    bytes[at] ^= 0x40;
    std::fs::write(file, &bytes).unwrap();
    let out = callscript(dir, &["recording", "export", "campaign.toml", file, "-o", "bad.wav"]);
    assert_eq!(out.status.code(), Some(2));
    std::fs::write(file, &original).unwrap();

    // Tampered, by attempt.
    let mut bytes = std::fs::read(file).unwrap();
    let at = bytes.len() - 200;
    bytes[at] ^= 0x40;
    std::fs::write(file, &bytes).unwrap();
    let out = callscript(dir, &["recording", "export", "campaign.toml", "--attempt", "8", "-o", "bad.wav"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!dir.join("bad.wav").exists(), "a failed export writes nothing");
    insta::assert_snapshot!("recording_export_tampered", redact(&text(&out.stderr), dir));

    let out = callscript(dir, &["recording", "export", "campaign.toml", "--attempt", "99", "-o", "none.wav"]);
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!("recording_export_unknown_attempt", redact(&text(&out.stderr), dir));

    write_key(&dir.join("open.key"), KEY, 0o644);
    let out = callscript(
        dir,
        &["recording", "export", "campaign.toml", "--attempt", "7", "--key", "open.key", "-o", "x.wav"],
    );
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!("recording_export_open_key", redact(&text(&out.stderr), dir));

    // Every attempt is in the audit log, with who ran it and why it failed.
    let exports = SqliteStore::open(&dir.join("campaign.db")).unwrap().exports().unwrap();
    let summary: Vec<(Option<i64>, bool, &str, &str)> =
        exports.iter().map(|e| (e.attempt_id, e.ok, e.exported_by.as_str(), e.destination.as_str())).collect();
    assert_eq!(
        summary,
        vec![
            (Some(7), true, "auditor", "seven.wav"),
            (Some(8), true, "auditor", "eight.wav"),
            (Some(8), false, "auditor", "bad.wav"),
            (Some(8), false, "auditor", "bad.wav"),
            (Some(99), false, "auditor", "none.wav"),
            (Some(7), false, "auditor", "x.wav"),
        ]
    );
    assert!(exports[3].error.as_deref().unwrap_or("").contains("chunk 1 fails authentication"), "{exports:?}");
    let audit = callscript(dir, &["recording", "audit", "campaign.toml"]);
    assert_eq!(audit.status.code(), Some(0));
    let shown = text(&audit.stdout);
    assert_eq!(shown.lines().filter(|l| l.contains(" failed ")).count(), 4, "{shown}");
    assert!(
        shown.contains(
            "\n    [DIR]/recordings/loan-8.csrec: chunk 1 fails authentication"
                .replace("[DIR]", &dir.display().to_string())
                .as_str()
        ),
        "{shown}"
    );
}

#[cfg(unix)]
#[test]
fn keygen_writes_a_private_key_once() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = scratch("recording-e2e-keygen");
    let dir = tmp.path();
    let out = callscript(dir, &["recording", "keygen", "new.key"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let key = dir.join("new.key");
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(callscript_runtime::telephony::recording::RecordingKey::load(&key).is_ok());
    let again = callscript(dir, &["recording", "keygen", "new.key"]);
    assert_eq!(again.status.code(), Some(2), "an existing key is never overwritten");
    assert!(text(&again.stderr).contains("new.key: cannot write the key"), "{}", text(&again.stderr));
}

#[cfg(unix)]
#[test]
fn a_run_refuses_an_open_key_file() {
    let (tmp, _, _) = campaign_with_recordings("run");
    let dir = tmp.path();
    write_key(&dir.join("rec.key"), KEY, 0o640);
    std::fs::write(dir.join("loan.call"), "").unwrap();
    let loaded = campaign::load(&dir.join("campaign.toml")).unwrap();
    let err = Recorder::for_campaign(&loaded).unwrap_err().to_string();
    assert!(err.contains("rec.key") && err.contains("mode 0640") && err.contains("chmod 600"), "{err}");
}
