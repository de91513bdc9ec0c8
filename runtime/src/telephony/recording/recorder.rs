//! A campaign's recorder: its key and folder, checked when the run starts (before any call),
//! and one writer per answered call.

use std::path::{Path, PathBuf};

use super::{RecordingError, RecordingKey, RecordingMeta, RecordingWriter};
use crate::campaign::Loaded;

#[derive(Debug)]
pub struct Recorder {
    key: RecordingKey,
    dir: PathBuf,
    campaign: String,
}

impl Recorder {
    /// The campaign's recorder, or None when `[recording]` is off. Loads the key (refusing a
    /// key file others may read or write) and creates the folder (mode 700 on Unix).
    pub fn for_campaign(loaded: &Loaded) -> Result<Option<Recorder>, RecordingError> {
        let settings = &loaded.campaign.recording;
        if !settings.enabled {
            return Ok(None);
        }
        let missing = |setting| RecordingError::NotConfigured { file: loaded.path.clone(), setting };
        let key_file = settings.key_file.as_deref().ok_or_else(|| missing("key_file"))?;
        let dir = settings.dir.as_deref().ok_or_else(|| missing("dir"))?;
        let key = RecordingKey::load(&loaded.resolve(key_file))?;
        let dir = loaded.resolve(dir);
        // Stored paths must not depend on the folder the run was started from.
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        create_private_dir(&dir).map_err(|e| RecordingError::io(&dir, "create the recordings folder", e))?;
        Ok(Some(Recorder::new(key, dir, &loaded.campaign.task_id)))
    }

    pub fn new(key: RecordingKey, dir: PathBuf, campaign: &str) -> Recorder {
        Recorder { key, dir, campaign: campaign.to_string() }
    }

    /// Where an attempt's recording goes: `DIR/CAMPAIGN-ATTEMPT.csrec`.
    pub fn file_for(&self, attempt_id: i64) -> PathBuf {
        let safe: String = self
            .campaign
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || "-_".contains(c) { c } else { '_' })
            .collect();
        self.dir.join(format!("{safe}-{attempt_id}.csrec"))
    }

    /// Starts recording an answered call.
    pub fn start(
        &self,
        attempt_id: i64,
        customer_id: &str,
        started_ms: i64,
    ) -> Result<RecordingWriter, RecordingError> {
        let meta = RecordingMeta {
            campaign: self.campaign.clone(),
            attempt_id,
            customer_id: customer_id.to_string(),
            started_ms,
        };
        RecordingWriter::create(&self.file_for(attempt_id), &self.key, &meta)
    }

    pub fn key(&self) -> &RecordingKey {
        &self.key
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}
