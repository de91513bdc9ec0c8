//! `callscript dnc import|list|export|remove --campaign CAMPAIGN`: the do-not-call list that every
//! campaign of a store shares (CAMPAIGN.md §7). Numbers are written in E.164 as the list and the
//! customer lists are read; a number given in another form (`13800000001`) is read the same way.

use std::io::Write;
use std::path::Path;

use callscript_runtime::campaign::{InputError, Loaded, customers};
use callscript_runtime::store::DncEntry;

use crate::campaign::{load_settings, open_existing_store, open_store};
use crate::error::{CliError, CliResult, Status};

/// The numbers of a CSV's `phone` column, each checked; every bad one is named at its line
/// and column, and then none is used (`consequence` says what was not done).
fn read_phones(file: &Path, loaded: &Loaded, consequence: &'static str) -> Result<Vec<String>, CliError> {
    let name = crate::files::display_name(file);
    let text = std::fs::read_to_string(file).map_err(CliError::io(format!("{name}: cannot read")))?;
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
    let Some(col) = reader.headers().ok().and_then(|h| h.iter().position(|c| c.trim() == "phone")) else {
        return Err(CliError::Input {
            errors: vec![InputError::at(&name, 1, 1, "the header has no `phone` column")],
            consequence,
        });
    };
    let mut phones = Vec::new();
    let mut errors = Vec::new();
    // Lines counted as the customer list counts them (the reader's own count is off after \r\n).
    let starts = customers::line_starts(&text);
    for record in reader.records() {
        match record {
            Ok(r) => {
                let line = r.position().map_or(0, |p| customers::record_line(&text, &starts, p.byte()));
                let raw = r.get(col).unwrap_or("").trim();
                match customers::e164(raw, &loaded.campaign.jurisdiction) {
                    Some(p) => phones.push(p),
                    None => errors.push(InputError::at(&name, line, col + 1, format!("`{raw}` is not a phone number"))),
                }
            }
            Err(e) => errors.push(InputError::new(&name, e.to_string())),
        }
    }
    if !errors.is_empty() {
        return Err(CliError::Input { errors, consequence });
    }
    Ok(phones)
}

/// `dnc import FILE.csv`: adds the numbers of a `phone` column.
pub fn import(file: &Path, campaign_path: &Path) -> CliResult {
    let loaded = load_settings(campaign_path)?;
    let mut store = open_store(&loaded)?;
    let phones = read_phones(file, &loaded, "nothing was imported")?;
    let now = jiff::Timestamp::now().as_millisecond();
    let mut added = 0;
    store.begin()?;
    for p in &phones {
        added += usize::from(store.dnc_add(p, "import", now)?);
    }
    store.commit()?;
    println!("imported {added} new numbers ({} in the file) into the do-not-call list", phones.len());
    Ok(Status::Success)
}

/// When a number was added, in UTC, ISO 8601.
fn added_at(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()).unwrap_or_default()
}

fn entries(campaign_path: &Path) -> Result<Vec<DncEntry>, CliError> {
    let loaded = load_settings(campaign_path)?;
    Ok(open_existing_store(&loaded)?.dnc_entries()?)
}

/// The list as a table: phone, source, added (UTC), in the order added.
pub fn list_table(entries: &[DncEntry]) -> String {
    // Numbers and sources are ASCII: a char is a column.
    let width = entries.iter().map(|e| e.phone.chars().count()).max().unwrap_or(0).max("phone".len());
    let source_width = entries.iter().map(|e| e.source.chars().count()).max().unwrap_or(0).max("source".len());
    let row = |phone: &str, source: &str, added: &str| format!("{phone:<width$}  {source:<source_width$}  {added}\n");
    let mut out = row("phone", "source", "added (UTC)");
    for e in entries {
        out.push_str(&row(&e.phone, &e.source, &added_at(e.added_ms)));
    }
    out.push_str(&format!("{} numbers on the do-not-call list\n", entries.len()));
    out
}

/// `dnc list`.
pub fn list(campaign_path: &Path) -> CliResult {
    let text = list_table(&entries(campaign_path)?);
    write_out(&text, None)?;
    Ok(Status::Success)
}

/// `dnc export [-o FILE]`: `phone,source,added_at`, every row or an error.
pub fn export(campaign_path: &Path, output: Option<&Path>) -> CliResult {
    let mut out = csv::Writer::from_writer(Vec::new());
    // Writing to memory cannot fail.
    out.write_record(["phone", "source", "added_at"]).expect("CSV to memory");
    for e in entries(campaign_path)? {
        out.write_record([e.phone.as_str(), e.source.as_str(), added_at(e.added_ms).as_str()]).expect("CSV to memory");
    }
    let bytes = out.into_inner().expect("CSV to memory");
    write_out(&String::from_utf8_lossy(&bytes), output)?;
    Ok(Status::Success)
}

/// Every byte written and flushed, to the file (synced) or standard output, or an error: a
/// full disk or a closed pipe is not a truncated success.
fn write_out(text: &str, output: Option<&Path>) -> Result<(), CliError> {
    match output {
        Some(file) => std::fs::File::create(file)
            .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()))
            .map_err(CliError::io(format!("cannot write {}", file.display()))),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .map_err(CliError::io("cannot write to standard output"))
        }
    }
}

/// `dnc remove PHONE… | --file FILE.csv`: takes the numbers off the list in one batch; exit 1
/// when some were not on it (they are named), 2 when a number does not read as one (nothing is
/// removed).
pub fn remove(campaign_path: &Path, given: &[String], file: Option<&Path>) -> CliResult {
    let loaded = load_settings(campaign_path)?;
    let mut phones = Vec::new();
    for raw in given {
        match customers::e164(raw.trim(), &loaded.campaign.jurisdiction) {
            Some(p) => phones.push(p),
            None => {
                return Err(CliError::Usage(format!("`{raw}` is not a phone number; nothing was removed")));
            }
        }
    }
    if let Some(file) = file {
        phones.extend(read_phones(file, &loaded, "nothing was removed")?);
    }
    let mut store = open_existing_store(&loaded)?;
    let mut missing = Vec::new();
    let mut removed = 0;
    store.begin()?;
    for p in &phones {
        if store.dnc_remove(p)? {
            removed += 1;
        } else if !missing.contains(p) {
            missing.push(p.clone());
        }
    }
    store.commit()?;
    let mut text = format!("removed {removed} numbers from the do-not-call list\n");
    if !missing.is_empty() {
        text.push_str(&format!("not on the list ({}): {}\n", missing.len(), missing.join(", ")));
    }
    write_out(&text, None)?;
    Ok(Status::failures_if(!missing.is_empty()))
}
