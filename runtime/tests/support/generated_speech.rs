//! Generated customer speech for the emotion tests (runtime/tests/emotion.rs and the SIP call of
//! tests/sip.rs, which includes this file): espeak-ng's Mandarin voice through sox effects, as
//! 8 kHz 16-bit samples. Needs the Debian packages `espeak-ng` and `sox`.

use std::path::Path;
use std::process::{Command, Stdio};

/// A calm customer: 12 dB under espeak-ng's own level, its own pitch.
pub const CALM: &[&str] = &["gain", "-12"];
/// An angry one: 10 dB louder than calm and 500 cents (×1.33) higher.
pub const ANGRY: &[&str] = &["pitch", "500", "gain", "-2"];

/// Whether espeak-ng and sox run; without them the test skips, unless CALLSCRIPT_REQUIRE_ESPEAK
/// is set (CI sets it), where a missing install fails.
pub fn tools_available() -> bool {
    let runs = |tool: &str| Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
    let found = runs("espeak-ng").is_ok_and(|s| s.success()) && runs("sox").is_ok_and(|s| s.success());
    if !found {
        assert!(std::env::var_os("CALLSCRIPT_REQUIRE_ESPEAK").is_none(), "espeak-ng and sox are required");
        eprintln!("skipped: espeak-ng or sox is not installed");
    }
    found
}

/// `text` said by espeak-ng, through sox `effects`, as 8 kHz samples (files in `dir`).
pub fn generated_speech(dir: &Path, name: &str, text: &str, effects: &[&str]) -> Vec<i16> {
    let (wav, raw) = (dir.join(format!("{name}.wav")), dir.join(format!("{name}.raw")));
    let status = Command::new("espeak-ng").args(["-v", "cmn", "-w"]).arg(&wav).arg(text).status().unwrap();
    assert!(status.success(), "espeak-ng failed");
    let status = Command::new("sox")
        .arg(&wav)
        .args(["-t", "raw", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", "-L"])
        .arg(&raw)
        .args(effects)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "sox failed");
    std::fs::read(&raw).unwrap().chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect()
}
