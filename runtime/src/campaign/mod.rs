//! Campaign files (CAMPAIGN.md §1) as the runtime loads them. The file is read into the
//! compiler's typed model ([`callscript_compiler::campaign`]), the one `callscript check` reads
//! too; here are the IO around it (reading the file, resolving its relative paths) and the
//! customer list.

pub mod customers;
pub mod list;
pub mod rfm;
pub mod schedule;
pub mod table;

use std::path::{Path, PathBuf};

/// A problem in an input file, with its place when there is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl InputError {
    pub fn new(file: impl Into<String>, message: impl Into<String>) -> InputError {
        InputError { file: file.into(), line: None, column: None, message: message.into() }
    }

    pub fn at(file: impl Into<String>, line: usize, column: usize, message: impl Into<String>) -> InputError {
        InputError { file: file.into(), line: Some(line), column: Some(column), message: message.into() }
    }
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}: {}", self.file, self.message),
            (Some(l), None) => write!(f, "{}:{l}: {}", self.file, self.message),
            _ => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for InputError {}

/// 1-based line and character column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..text.floor_char_boundary(offset)];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

pub use callscript_compiler::campaign::{
    Asr, Campaign, Gateway, Limits, Recording, Retry, Schedule, Shape, Sim, Speech, Store, TaskTemplate, Telephony,
    TelephonyKind, Transport, Tts,
};
use callscript_compiler::diagnostic::Diagnostic;
use callscript_compiler::source::Source;

/// A loaded campaign: the file's settings and the folder its relative paths start from.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub campaign: Campaign,
    pub path: PathBuf,
    pub dir: PathBuf,
}

impl Loaded {
    /// A campaign read elsewhere (`check`), from the file at `path`.
    pub fn new(campaign: Campaign, path: &Path) -> Loaded {
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Loaded { campaign, path: path.to_path_buf(), dir }
    }

    /// A path from the campaign file, relative to the campaign's folder.
    pub fn resolve(&self, relative: &str) -> PathBuf {
        let p = Path::new(relative);
        if p.is_absolute() { p.to_path_buf() } else { self.dir.join(p) }
    }
}

/// Why a campaign file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{file}: cannot read the campaign: {reason}")]
    Read { file: String, reason: String },
    /// The file's problems, as diagnostics over its text, for the one renderer.
    #[error("{} has errors", .file.name)]
    Invalid { file: Source, diagnostics: Vec<Diagnostic> },
}

/// Loads a campaign TOML file (or the seed's JSON task when the file ends in `.json`): the
/// settings only, without the compliance check of its script (`report`, `dnc`, `recording`).
/// `run` takes the campaign from `check` instead, which reads it the same way.
pub fn load(path: &Path) -> Result<Loaded, LoadError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| LoadError::Read { file: name.clone(), reason: e.to_string() })?;
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            let (line, column) = line_col(&String::from_utf8_lossy(&bytes[..valid]), valid);
            return Err(LoadError::Read {
                file: name,
                reason: format!("line {line}, column {column}: not UTF-8 text"),
            });
        }
    };
    let source = Source::new(name.clone(), text);
    let read = callscript_compiler::campaign::read(
        callscript_compiler::span::SourceId(0),
        &source.text,
        Shape::of_path(&name),
    );
    match read.campaign {
        Some(campaign) => Ok(Loaded::new(campaign, path)),
        None => Err(LoadError::Invalid { file: source, diagnostics: read.diagnostics }),
    }
}

/// Reads campaign TOML text held in memory (tests, benchmarks): the campaign, or its
/// diagnostics' messages.
pub fn parse_toml(name: &str, text: &str) -> Result<Campaign, Vec<String>> {
    let read = callscript_compiler::campaign::read(callscript_compiler::span::SourceId(0), text, Shape::of_path(name));
    read.campaign.ok_or_else(|| read.diagnostics.iter().map(|d| format!("[{}] {}", d.code, d.message)).collect())
}

/// The campaign's settings as run, as JSON, kept in the store with the campaign for audit.
pub fn audit_json(c: &Campaign) -> String {
    use callscript_compiler::campaign::values::{clock_text, duration_text};
    let s = &c.schedule;
    let t = &c.telephony;
    // One script as it always was; an A/B campaign's scripts and split as the file writes them.
    let (script, split) = match c.scripts.as_slice() {
        [only] => (serde_json::json!(only.script), None),
        several => (
            serde_json::json!(several.iter().map(|s| &s.script).collect::<Vec<_>>()),
            Some(several.iter().map(|s| s.share).collect::<Vec<_>>()),
        ),
    };
    let mut json = serde_json::json!({
        "task_id": c.task_id,
        "script": script,
        "customers": c.customers,
        "segment": c.segment,
        "jurisdiction": c.jurisdiction,
        "schedule": {
            "start_time": clock_text(s.start_time),
            "end_time": clock_text(s.end_time),
            "timezone": s.timezone_name,
            "days": s.days.iter().map(|d| format!("{d:?}").to_lowercase()[..3].to_string()).collect::<Vec<_>>(),
            "holidays": s.holidays.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "max_concurrent": s.max_concurrent,
            "calls_per_second": s.calls_per_second,
        },
        "retry": { "max_attempts": c.retry.max_attempts, "on": c.retry.on, "backoff": duration_text(c.retry.backoff) },
        "limits": {
            "per_customer_per_day": c.limits.per_customer_per_day,
            "per_customer_per_7_days": c.limits.per_customer_per_7_days,
        },
        "telephony": {
            "kind": if t.kind == TelephonyKind::Sip { "sip" } else { "sim" },
            "gateway": t.gateway.as_ref().map(|g| &g.uri),
            "transport": t.transport.name(),
            "ring_timeout": duration_text(t.ring_timeout),
            "calls_per_second": t.calls_per_second,
            "max_concurrent": t.max_concurrent,
        },
        // How real calls hear the customer: what decides a turn's speech and its emotion (§15).
        "speech": {
            "vad_threshold": as_written(c.speech.vad_threshold),
            "vad_hangover": duration_text(c.speech.vad_hangover),
            "emotion_loudness_db": as_written(c.speech.emotion_loudness_db),
            "emotion_pitch_ratio": as_written(c.speech.emotion_pitch_ratio),
        },
        "transfer": c.transfer,
        "allow": c.allow,
    });
    if let Some(split) = split {
        json["split"] = serde_json::json!(split);
    }
    // Who the segment keeps depends on them (as_of null: the day the list was read).
    if let Some(rfm) = &c.rfm {
        json["rfm"] = serde_json::json!({
            "recency": rfm.recency,
            "frequency": rfm.frequency,
            "monetary": rfm.monetary,
            "as_of": rfm.as_of.map(|d| d.to_string()),
        });
    }
    json.to_string()
}

/// A setting held as f32, as the file wrote it (1.2, not 1.2000000476837158).
fn as_written(value: f32) -> f64 {
    (f64::from(value) * 1e4).round() / 1e4
}

/// Types each name of a JSON task's template from its CSV column: int if every value is an
/// integer, money if every value is a decimal, else text.
pub fn typed_inputs(task: &TaskTemplate, csv_text: &str) -> Vec<(String, &'static str)> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(csv_text.as_bytes());
    let headers: Vec<String> = reader.headers().map(|h| h.iter().map(String::from).collect()).unwrap_or_default();
    let rows: Vec<csv::StringRecord> = reader.records().filter_map(Result::ok).collect();
    task.names()
        .into_iter()
        .map(|name| {
            let ty = match headers.iter().position(|h| *h == name) {
                Some(col) => {
                    let values: Vec<&str> = rows.iter().filter_map(|r| r.get(col)).collect();
                    if !values.is_empty() && values.iter().all(|v| v.parse::<i64>().is_ok()) {
                        "int"
                    } else if !values.is_empty()
                        && values.iter().all(|v| callscript_compiler::value::Money::parse(v).is_some())
                    {
                        "money"
                    } else {
                        "text"
                    }
                }
                None => "text",
            };
            (name, ty)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_inputs_are_typed_from_the_list() {
        let task = TaskTemplate {
            task_id: "T".into(),
            template: "您好{{name}},逾期{{days}}天,欠款{{amount}}元,{{name}}".into(),
            purpose: "service".into(),
            segment_name: None,
        };
        let csv = "phone,name,days,amount\n13800000001,张三,3,1200.50\n13800000002,李四,12,80\n";
        assert_eq!(
            typed_inputs(&task, csv),
            [("name".into(), "text"), ("days".into(), "int"), ("amount".into(), "money")]
        );
    }

    #[test]
    fn the_audit_copy_holds_the_settings_as_run() {
        let c = callscript_compiler::campaign::defaults("T", "a.call");
        let json: serde_json::Value = serde_json::from_str(&audit_json(&c)).unwrap();
        assert_eq!(json["schedule"]["start_time"], "09:00");
        assert_eq!(json["schedule"]["days"][0], "mon");
        assert_eq!(json["retry"]["backoff"], "30m");
        assert_eq!(json["telephony"]["kind"], "sim");
        assert_eq!(json["speech"]["emotion_loudness_db"], 6.0);
        assert_eq!(json["speech"]["emotion_pitch_ratio"].to_string(), "1.2");
        assert_eq!(json["speech"]["vad_hangover"], "600ms");
        assert!(json.get("rfm").is_none());
        let rfm = callscript_compiler::campaign::Rfm {
            recency: Some("last_txn_date".into()),
            frequency: None,
            monetary: Some("txn_amount".into()),
            as_of: callscript_compiler::value::Date::parse("2026-11-24"),
        };
        let json: serde_json::Value = serde_json::from_str(&audit_json(&Campaign { rfm: Some(rfm), ..c })).unwrap();
        assert_eq!(
            json["rfm"],
            serde_json::json!({ "recency": "last_txn_date", "frequency": null, "monetary": "txn_amount", "as_of": "2026-11-24" })
        );
    }

    /// The campaign model decides which gateways are valid; the user agent must dial each one.
    #[test]
    fn every_gateway_the_model_accepts_the_user_agent_dials() {
        for g in ["sip:127.0.0.1:5090", "sip:10.0.0.1", "sip:trunk@10.0.0.1:5060;transport=tcp", "sip:[::1]:5060"] {
            let address = callscript_compiler::campaign::values::gateway(g).unwrap();
            assert_eq!(crate::telephony::sip::gateway_address(g).unwrap().1, address, "{g}");
        }
    }

    #[test]
    fn a_file_that_is_not_utf8_names_its_place() {
        let dir = crate::scratch::scratch("campaign-utf8");
        let path = dir.path().join("c.toml");
        std::fs::write(&path, b"task_id = \"t\"\nscript = \"\xff.call\"\n").unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(err.ends_with("line 2, column 11: not UTF-8 text"), "{err}");
        std::fs::write(&path, "task_id = \"t\"\nscript = \"a.call\"\n[retry]\nbackoff = \"soon\"\n").unwrap();
        match load(&path).unwrap_err() {
            LoadError::Invalid { diagnostics, .. } => assert_eq!(diagnostics[0].code, "E604"),
            other => panic!("{other}"),
        }
    }
}
