//! Text to speech: the [`Synthesizer`] trait, the espeak-ng engine, and the cache that
//! keeps each written prompt text's audio so it is synthesised once per campaign.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use super::SpeechError;
use super::wav;

/// Turns text into 8 kHz mono 16-bit audio.
pub trait Synthesizer: Send + Sync {
    /// Engine, voice and rate: with the text, what decides the audio (the cache key).
    fn identity(&self) -> String;
    fn synthesize(&self, text: &str) -> Result<Vec<i16>, SpeechError>;
}

/// A shared engine is an engine.
impl<T: Synthesizer + ?Sized> Synthesizer for Arc<T> {
    fn identity(&self) -> String {
        (**self).identity()
    }

    fn synthesize(&self, text: &str) -> Result<Vec<i16>, SpeechError> {
        (**self).synthesize(text)
    }
}

/// The espeak-ng engine, run once per text (`espeak-ng -v VOICE -s RATE --stdout`).
#[derive(Clone, Debug)]
pub struct Espeak {
    pub program: PathBuf,
    pub voice: String,
    /// Words per minute.
    pub rate: u32,
}

pub const ESPEAK_MISSING: &str =
    "espeak-ng not found: install it (Debian: apt install espeak-ng) or use tts = \"text\"";

impl Espeak {
    /// Finds `espeak-ng` on the `PATH`.
    pub fn find(voice: &str, rate: u32) -> Result<Espeak, SpeechError> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        Espeak::find_on(&path, voice, rate)
    }

    /// Finds `espeak-ng` in the folders of a `PATH`-style list.
    pub fn find_on(path: &OsStr, voice: &str, rate: u32) -> Result<Espeak, SpeechError> {
        std::env::split_paths(path)
            .map(|dir| dir.join("espeak-ng"))
            .find(|candidate| candidate.is_file())
            .map(|program| Espeak { program, voice: voice.to_string(), rate })
            .ok_or_else(|| SpeechError::Engine(ESPEAK_MISSING.into()))
    }
}

impl Synthesizer for Espeak {
    fn identity(&self) -> String {
        format!("espeak-ng voice={} rate={}", self.voice, self.rate)
    }

    fn synthesize(&self, text: &str) -> Result<Vec<i16>, SpeechError> {
        let failed = |why: String| SpeechError::Engine(format!("espeak-ng could not speak {text:?}: {why}"));
        // The text goes in on standard input: no text can be mistaken for an option.
        let mut child = Command::new(&self.program)
            .args(["-v", &self.voice, "-s", &self.rate.to_string(), "--stdout", "--stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| failed(e.to_string()))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(text.as_bytes()).map_err(|e| failed(e.to_string()))?;
        }
        let out = child.wait_with_output().map_err(|e| failed(e.to_string()))?;
        if !out.status.success() {
            return Err(failed(String::from_utf8_lossy(&out.stderr).trim().to_string()));
        }
        let pcm = wav::read_wav(&out.stdout).map_err(|e| failed(e.0))?;
        Ok(wav::to_8k_mono(&pcm))
    }
}

/// Audio of texts that are the same on every call, kept in memory and (with a folder) on
/// disk as raw 8 kHz 16-bit little-endian PCM named by the SHA-256 of engine and text, so a
/// restarted campaign does not synthesise them again.
#[derive(Debug, Default)]
pub struct SpeechCache {
    memory: Mutex<HashMap<[u8; 32], Arc<[i16]>>>,
    dir: Option<PathBuf>,
}

impl SpeechCache {
    pub fn new(dir: Option<PathBuf>) -> SpeechCache {
        SpeechCache { memory: Mutex::new(HashMap::new()), dir }
    }

    pub fn key(identity: &str, text: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(identity.as_bytes());
        h.update([0]);
        h.update(text.as_bytes());
        h.finalize().into()
    }

    /// The cached audio for `key`, or what `make` produces (then kept).
    pub fn get_or_make(
        &self,
        key: [u8; 32],
        make: impl FnOnce() -> Result<Vec<i16>, SpeechError>,
    ) -> Result<Arc<[i16]>, SpeechError> {
        if let Some(hit) = self.memory.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(hit);
        }
        let file = self.dir.as_ref().map(|d| d.join(format!("{}.pcm", hex(&key))));
        let audio: Arc<[i16]> = match file.as_deref().and_then(read_pcm) {
            Some(samples) => samples.into(),
            None => {
                let samples: Arc<[i16]> = make()?.into();
                if let Some(file) = &file {
                    // A cache that cannot be written only costs time on the next run.
                    let _ = write_pcm(file, &samples);
                }
                samples
            }
        };
        if let Ok(mut m) = self.memory.lock() {
            m.insert(key, Arc::clone(&audio));
        }
        Ok(audio)
    }

    /// Entries held in memory.
    pub fn len(&self) -> usize {
        self.memory.lock().map_or(0, |m| m.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn read_pcm(file: &Path) -> Option<Vec<i16>> {
    let bytes = std::fs::read(file).ok()?;
    Some(bytes.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect())
}

/// Writes through a temporary name, so a reader never sees half a file.
fn write_pcm(file: &Path, samples: &[i16]) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let partial = file.with_extension(format!("pcm.{}.part", std::process::id()));
    std::fs::write(&partial, bytes)?;
    std::fs::rename(&partial, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_engine_says_how_to_get_one() {
        let err = Espeak::find_on(OsStr::new("/no/such/dir"), "cmn", 150).unwrap_err();
        assert_eq!(
            err.to_string(),
            "espeak-ng not found: install it (Debian: apt install espeak-ng) or use tts = \"text\""
        );
    }

    #[test]
    fn espeak_speaks_mandarin_at_8khz() {
        let Ok(espeak) = Espeak::find("cmn", 160) else {
            // CI installs espeak-ng and sets this: there the test must run, not skip.
            assert!(std::env::var_os("CALLSCRIPT_REQUIRE_ESPEAK").is_none(), "espeak-ng is required");
            eprintln!("espeak-ng is not installed; skipped");
            return;
        };
        let audio = espeak.synthesize("您好，应还金额一千二百元").unwrap();
        let seconds = audio.len() as f64 / 8_000.0;
        assert!((0.8..6.0).contains(&seconds), "{seconds} s");
        assert!(audio.iter().any(|s| s.unsigned_abs() > 3_000), "the audio is silent");
        // Text that looks like an option is still just text.
        assert!(!espeak.synthesize("-h").unwrap().is_empty());
    }

    #[test]
    fn the_cache_makes_once_and_keeps_on_disk() {
        let scratch = crate::scratch::scratch("tts-cache");
        let dir = scratch.path().join("cache");
        let key = SpeechCache::key("engine", "您好");
        assert_ne!(key, SpeechCache::key("engine", "您好。"));
        assert_ne!(key, SpeechCache::key("other engine", "您好"));
        let cache = SpeechCache::new(Some(dir.clone()));
        let mut made = 0;
        for _ in 0..2 {
            let audio = cache
                .get_or_make(key, || {
                    made += 1;
                    Ok(vec![1, -2, 300])
                })
                .unwrap();
            assert_eq!(&*audio, &[1, -2, 300]);
        }
        assert_eq!(made, 1);
        // A new cache on the same folder (a restarted campaign) reads the file.
        let again = SpeechCache::new(Some(dir.clone()));
        let audio = again.get_or_make(key, || Err(SpeechError::Engine("not called".into()))).unwrap();
        assert_eq!(&*audio, &[1, -2, 300]);
    }
}
