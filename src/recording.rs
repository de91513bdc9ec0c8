//! `callscript recording export | list | audit`: a campaign's encrypted call recordings. An
//! export decrypts in memory and writes only the WAV the user asked for; every export attempt,
//! successful or not, goes to the store's audit log with the user who ran it.

use std::io::Write;
use std::path::{Path, PathBuf};

use callscript_runtime::campaign::Loaded;
use callscript_runtime::store::{ExportRow, Store};
use callscript_runtime::telephony::recording::{self, RecordingKey};

use crate::campaign::open_store;
use crate::error::{CliError, CliResult, Status};

/// Which recording to export.
pub enum Source {
    Attempt(i64),
    File(PathBuf),
}

fn load(path: &Path) -> Result<(Loaded, Box<dyn Store>), CliError> {
    let loaded = crate::campaign::load_settings(path)?;
    let store = open_store(&loaded)?;
    Ok((loaded, store))
}

/// The user who runs the export, for the audit log.
fn current_user() -> String {
    ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

fn time_text(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default()
}

/// What a successful export produced, for the summary line.
struct Exported {
    attempt_id: i64,
    customer_id: String,
    duration_ms: u64,
}

pub fn export(campaign_path: &Path, source: Source, output: &Path, key_override: Option<&Path>) -> CliResult {
    let (loaded, mut store) = load(campaign_path)?;
    let campaign = &loaded.campaign.task_id;
    let (file, attempt_id) = match source {
        Source::Attempt(id) => match store.recordings(campaign)?.into_iter().find(|r| r.attempt_id == id) {
            Some(row) => (Some(PathBuf::from(row.path)), Some(id)),
            None => (None, Some(id)),
        },
        Source::File(f) => {
            let known = stored_attempt(store.as_ref(), campaign, &f);
            (Some(f), known)
        }
    };
    let result = match &file {
        Some(file) => export_file(&loaded, file, output, key_override),
        None => Err(format!(
            "campaign `{campaign}` has no recording of attempt {}; `callscript recording list {}` shows them",
            attempt_id.unwrap_or_default(),
            campaign_path.display()
        )),
    };
    let entry = ExportRow {
        id: 0,
        path: file.as_deref().map(|f| f.display().to_string()).unwrap_or_default(),
        attempt_id: result.as_ref().ok().map(|e| e.attempt_id).or(attempt_id),
        exported_ms: jiff::Timestamp::now().as_millisecond(),
        exported_by: current_user(),
        destination: output.display().to_string(),
        ok: result.is_ok(),
        error: result.as_ref().err().cloned(),
    };
    if let Err(e) = store.log_export(&entry) {
        // An export the audit log does not hold must not stand.
        if result.is_ok() {
            let _ = std::fs::remove_file(output);
        }
        return Err(CliError::Refused(format!(
            "the export could not be written to the audit log, so it was undone: {e}"
        )));
    }
    match result {
        Ok(e) => {
            println!(
                "exported attempt {} (customer {}, {:.1} s) to {}",
                e.attempt_id,
                e.customer_id,
                e.duration_ms as f64 / 1000.0,
                output.display()
            );
            Ok(Status::Success)
        }
        Err(message) => {
            Err(CliError::Refused(format!("{message}\nnothing was exported; the attempt is in the audit log")))
        }
    }
}

/// The attempt a recording file was stored for, so even a failed export of it is audited
/// against its attempt.
fn stored_attempt(store: &dyn Store, campaign: &str, file: &Path) -> Option<i64> {
    let wanted = std::fs::canonicalize(file).ok()?;
    let rows = store.recordings(campaign).ok()?;
    rows.into_iter().find(|r| std::fs::canonicalize(&r.path).ok().as_ref() == Some(&wanted)).map(|r| r.attempt_id)
}

/// Decrypts `file` with the campaign's key (or `key_override`) and writes the WAV.
fn export_file(loaded: &Loaded, file: &Path, output: &Path, key_override: Option<&Path>) -> Result<Exported, String> {
    let key_path = match (key_override, &loaded.campaign.recording.key_file) {
        (Some(k), _) => k.to_path_buf(),
        (None, Some(k)) => loaded.resolve(k),
        (None, None) => {
            return Err(format!("{}: [recording] names no key_file; pass --key FILE", loaded.path.display()));
        }
    };
    let key = RecordingKey::load(&key_path).map_err(|e| e.to_string())?;
    let decrypted = recording::decrypt(file, &key).map_err(|e| e.to_string())?;
    let meta = &decrypted.meta;
    if meta.campaign != loaded.campaign.task_id {
        return Err(format!(
            "{}: the recording belongs to campaign `{}`, not `{}`",
            file.display(),
            meta.campaign,
            loaded.campaign.task_id
        ));
    }
    // The WAV is assembled in memory so a failed export leaves no partial file behind.
    let mut wav = Vec::with_capacity(decrypted.pcm.len() + 44);
    recording::write_wav(&mut wav, &decrypted.pcm).map_err(|e| e.to_string())?;
    write_private(output, &wav).map_err(|e| format!("{}: cannot write: {e}", output.display()))?;
    Ok(Exported {
        attempt_id: meta.attempt_id,
        customer_id: meta.customer_id.clone(),
        duration_ms: decrypted.duration_ms(),
    })
}

/// Writes the exported audio readable by its owner only: it is plaintext.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

/// `callscript recording keygen FILE`: a new key, written only if FILE does not exist yet.
pub fn keygen(file: &Path) -> CliResult {
    let key = RecordingKey::generate()?;
    // A new folder for keys is private (mode 700), like the recordings folder.
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(parent).map_err(CliError::io(format!("{}: cannot create the folder", parent.display())))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(file)
        .and_then(|mut f| f.write_all(format!("{}\n", key.to_hex()).as_bytes()))
        .map_err(CliError::io(format!("{}: cannot write the key", file.display())))?;
    println!("wrote a new recording key to {} (mode 600); keep a copy somewhere safe", file.display());
    Ok(Status::Success)
}

/// Left-aligned columns separated by two spaces.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        padded.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        out += &line(row.clone());
    }
    out
}

pub fn list(campaign_path: &Path) -> CliResult {
    let (loaded, store) = load(campaign_path)?;
    let campaign = &loaded.campaign.task_id;
    let rows = store.recordings(campaign)?;
    if rows.is_empty() {
        println!("campaign `{campaign}` has no recordings");
        return Ok(Status::Success);
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| vec![r.attempt_id.to_string(), time_text(r.created_ms), r.bytes.to_string(), r.path.clone()])
        .collect();
    print!("{}", table(&["attempt", "created (UTC)", "bytes", "file"], &cells));
    println!("{} recordings of campaign `{campaign}`", rows.len());
    Ok(Status::Success)
}

pub fn audit(campaign_path: &Path) -> CliResult {
    let (_, store) = load(campaign_path)?;
    let rows = store.exports()?;
    if rows.is_empty() {
        println!("no recording has been exported");
        return Ok(Status::Success);
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.id.to_string(),
                time_text(r.exported_ms),
                r.exported_by.clone(),
                r.attempt_id.map_or("-".into(), |a| a.to_string()),
                if r.ok { "ok".into() } else { "failed".into() },
                r.destination.clone(),
                if r.path.is_empty() { "-".into() } else { r.path.clone() },
            ]
        })
        .collect();
    let text = table(&["id", "exported (UTC)", "by", "attempt", "result", "to", "file"], &cells);
    let mut out = String::new();
    // Each failure's reason goes under its row.
    for (line, row) in text.lines().skip(1).zip(&rows) {
        out += line;
        out += "\n";
        if let Some(error) = &row.error {
            out += &format!("    {error}\n");
        }
    }
    print!("{}{out}", text.lines().next().map(|h| format!("{h}\n")).unwrap_or_default());
    Ok(Status::Success)
}
