//! Campaign files (CAMPAIGN.md §1): the TOML form and the seed's JSON task shape, loaded with
//! every problem reported at once as `file:line:column: message`.

pub mod customers;
pub mod schedule;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    pub task_id: String,
    /// A `.call` source (compiled on load) or a `.callc`; `file.call#NAME` picks a script.
    pub script: String,
    pub customers: Option<String>,
    pub segment: Option<String>,
    #[serde(default = "default_jurisdiction")]
    pub jurisdiction: String,
    #[serde(default)]
    pub schedule: Schedule,
    #[serde(default)]
    pub retry: Retry,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub telephony: Telephony,
    #[serde(default)]
    pub transfer: BTreeMap<String, String>,
    #[serde(default)]
    pub speech: Speech,
    #[serde(default)]
    pub recording: Recording,
    #[serde(default)]
    pub store: Store,
    #[serde(default)]
    pub sim: Sim,
    /// `[allow] CS009 = "reason"`: findings allowed for the whole campaign, with the reason kept.
    #[serde(default)]
    pub allow: BTreeMap<String, String>,
}

fn default_jurisdiction() -> String {
    "cn".into()
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Schedule {
    pub start_time: String,
    pub end_time: String,
    pub timezone: String,
    pub days: Vec<String>,
    pub holidays: Vec<String>,
    pub max_concurrent: u32,
    pub calls_per_second: f64,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            start_time: "09:00".into(),
            end_time: "18:00".into(),
            timezone: "Asia/Shanghai".into(),
            days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map(String::from).to_vec(),
            holidays: Vec::new(),
            max_concurrent: 50,
            calls_per_second: 5.0,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Retry {
    pub max_attempts: u32,
    pub on: Vec<String>,
    pub backoff: String,
}

impl Default for Retry {
    fn default() -> Self {
        Retry { max_attempts: 3, on: ["busy", "no_answer", "failed"].map(String::from).to_vec(), backoff: "30m".into() }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub per_customer_per_day: u32,
    pub per_customer_per_7_days: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { per_customer_per_day: 1, per_customer_per_7_days: 3 }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Telephony {
    pub kind: String,
    pub gateway: Option<String>,
    pub from: Option<String>,
    pub local: Option<String>,
    pub transport: Option<String>,
    pub ring_timeout: String,
    pub auth_user: Option<String>,
    pub auth_password_env: Option<String>,
    /// P-Asserted-Identity for trunks that want the caller id asserted.
    pub asserted_identity: Option<String>,
    /// REGISTER with the gateway before calling.
    pub register: bool,
    /// The trunk's own limits, applied before an INVITE leaves (the schedule's apply too).
    pub calls_per_second: Option<f64>,
    pub max_concurrent: Option<u32>,
}

impl Default for Telephony {
    fn default() -> Self {
        Telephony {
            kind: "sim".into(),
            gateway: None,
            from: None,
            local: None,
            transport: None,
            ring_timeout: "30s".into(),
            auth_user: None,
            auth_password_env: None,
            asserted_identity: None,
            register: false,
            calls_per_second: None,
            max_concurrent: None,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Speech {
    /// `text` (no audio: simulated calls), `espeak` (espeak-ng), `clips` (recorded clips,
    /// espeak-ng for the rest).
    pub tts: String,
    pub asr: String,
    /// The clips manifest (`tts = "clips"`), relative to the campaign file.
    pub clips: Option<String>,
    /// The espeak-ng voice.
    pub voice: String,
    /// The espeak-ng speaking rate, in words per minute.
    pub rate: u32,
    /// A folder keeping the audio of written prompt text across runs.
    pub cache: Option<String>,
    /// The VAD (real calls): the level at which a frame is speech, in dBFS. Raise it on noisy
    /// lines (background noise then does not cut prompts); lower it for quiet speakers.
    pub vad_threshold: f32,
    /// The silence that ends an utterance. Longer lets customers pause mid-sentence without
    /// being cut off; shorter answers faster.
    pub vad_hangover: String,
}

impl Default for Speech {
    fn default() -> Self {
        Speech {
            tts: "text".into(),
            asr: "text".into(),
            clips: None,
            voice: "cmn".into(),
            rate: 160,
            cache: None,
            vad_threshold: -35.0,
            vad_hangover: "600ms".into(),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Recording {
    pub enabled: bool,
    pub key_file: Option<String>,
    pub dir: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Store {
    pub url: String,
}

impl Default for Store {
    fn default() -> Self {
        Store { url: "sqlite://campaign.db".into() }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Sim {
    pub seed: u64,
    pub answer: f64,
    pub busy: f64,
    pub no_answer: f64,
    pub invalid_number: f64,
    pub talk: String,
}

impl Default for Sim {
    fn default() -> Self {
        Sim { seed: 42, answer: 0.70, busy: 0.10, no_answer: 0.12, invalid_number: 0.03, talk: "persona".into() }
    }
}

/// Parses a duration such as `30m`, `2h`, `45s`, `500ms`, `1d` into milliseconds.
pub fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let factor = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(factor)
}

/// A loaded campaign: the file's settings and the folder its relative paths start from.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub campaign: Campaign,
    pub path: PathBuf,
    pub dir: PathBuf,
    /// For the JSON task shape: the generated one-prompt script source.
    pub generated_script: Option<String>,
    /// For the JSON task shape: the segment name (`customer_segment`).
    pub segment_name: Option<String>,
    /// For the JSON task shape: the template the script is generated from.
    pub task: Option<TaskTemplate>,
}

impl Loaded {
    /// A path from the campaign file, relative to the campaign's folder.
    pub fn resolve(&self, relative: &str) -> PathBuf {
        let p = Path::new(relative);
        if p.is_absolute() { p.to_path_buf() } else { self.dir.join(p) }
    }
}

/// Loads a campaign TOML file (or the seed's JSON task shape when the file ends in `.json`).
pub fn load(path: &Path) -> Result<Loaded, Vec<InputError>> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| vec![InputError::new(&name, format!("cannot read: {e}"))])?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    if path.extension().and_then(|e| e.to_str()) == Some("json") {
        return load_task_json(&name, &text, path, dir);
    }
    let campaign = parse_toml(&name, &text)?;
    let loaded =
        Loaded { campaign, path: path.to_path_buf(), dir, generated_script: None, segment_name: None, task: None };
    validate(&name, &text, &loaded.campaign).map(|()| loaded)
}

/// Parses the TOML text, pointing errors at their line and column.
pub fn parse_toml(name: &str, text: &str) -> Result<Campaign, Vec<InputError>> {
    toml::from_str::<Campaign>(text).map_err(|e| {
        let message = e.message().to_string();
        match e.span() {
            Some(span) => {
                let (line, column) = line_col(text, span.start);
                vec![InputError::at(name, line, column, message)]
            }
            None => vec![InputError::new(name, message)],
        }
    })
}

/// Where a key's value stands in the TOML text, for errors about its value.
pub fn locate(text: &str, key: &str) -> (usize, usize) {
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            let col = line.len() - trimmed.len() + key.len() + rest.find('=').unwrap_or(0) + 2;
            let value_col = line[..col.min(line.len())].chars().count() + 1;
            return (i + 1, value_col);
        }
    }
    (1, 1)
}

/// Checks values the types cannot: times, zones, durations, shares.
fn validate(name: &str, text: &str, c: &Campaign) -> Result<(), Vec<InputError>> {
    let mut errors = Vec::new();
    let mut bad = |key: &str, message: String| {
        let (line, column) = locate(text, key);
        errors.push(InputError::at(name, line, column, message));
    };
    for key in ["start_time", "end_time"] {
        let value = if key == "start_time" { &c.schedule.start_time } else { &c.schedule.end_time };
        if schedule::parse_clock(value).is_none() {
            bad(key, format!("`{value}` is not a time of day; write it as HH:MM, e.g. \"09:00\""));
        }
    }
    if let (Some(s), Some(e)) =
        (schedule::parse_clock(&c.schedule.start_time), schedule::parse_clock(&c.schedule.end_time))
        && s >= e
    {
        bad(
            "end_time",
            format!("the call window ends ({}) before it starts ({})", c.schedule.end_time, c.schedule.start_time),
        );
    }
    if jiff::tz::TimeZone::get(&c.schedule.timezone).is_err() {
        bad(
            "timezone",
            format!("`{}` is not a time zone; use an IANA name such as \"Asia/Shanghai\"", c.schedule.timezone),
        );
    }
    for day in &c.schedule.days {
        if schedule::parse_weekday(day).is_none() {
            bad("days", format!("`{day}` is not a day; use mon, tue, wed, thu, fri, sat, sun"));
        }
    }
    for h in &c.schedule.holidays {
        if jiff::civil::Date::strptime("%Y-%m-%d", h).is_err() {
            bad("holidays", format!("`{h}` is not a date; write it as 2026-10-01"));
        }
    }
    if c.schedule.max_concurrent == 0 {
        bad("max_concurrent", "max_concurrent must be at least 1".into());
    }
    if !(c.schedule.calls_per_second > 0.0 && c.schedule.calls_per_second.is_finite()) {
        bad("calls_per_second", "calls_per_second must be a positive number".into());
    }
    if parse_duration(&c.retry.backoff).is_none() {
        bad("backoff", format!("`{}` is not a duration; write e.g. \"30m\" or \"2h\"", c.retry.backoff));
    }
    if parse_duration(&c.telephony.ring_timeout).is_none() {
        bad("ring_timeout", format!("`{}` is not a duration; write e.g. \"30s\"", c.telephony.ring_timeout));
    }
    const RETRYABLE: &[&str] = &["busy", "no_answer", "failed", "rejected", "customer_hangup", "invalid_number"];
    for on in &c.retry.on {
        if !RETRYABLE.contains(&on.as_str()) {
            bad("on", format!("`{on}` is not a disposition to retry; use {}", RETRYABLE.join(", ")));
        }
    }
    if c.limits.per_customer_per_day == 0 {
        bad("per_customer_per_day", "per_customer_per_day must be at least 1 (0 would place no call)".into());
    }
    if c.limits.per_customer_per_7_days == 0 {
        bad("per_customer_per_7_days", "per_customer_per_7_days must be at least 1 (0 would place no call)".into());
    }
    if c.retry.max_attempts == 0 {
        bad("max_attempts", "max_attempts must be at least 1".into());
    }
    if !["sim", "sip"].contains(&c.telephony.kind.as_str()) {
        bad("kind", format!("telephony kind `{}` is unknown; use \"sim\" or \"sip\"", c.telephony.kind));
    }
    let t = &c.telephony;
    if t.kind == "sip" {
        match &t.gateway {
            None => bad("kind", "kind = \"sip\" needs a gateway, e.g. gateway = \"sip:10.0.0.1:5060\"".into()),
            Some(g) if crate::sip::gateway_address(g).is_err() => bad(
                "gateway",
                format!("gateway `{g}` must be a SIP URI with an IP address, e.g. \"sip:10.0.0.1:5060\""),
            ),
            Some(_) => {}
        }
    }
    if let Some(transport) = &t.transport
        && !["udp", "tcp"].contains(&transport.as_str())
    {
        bad("transport", format!("transport `{transport}` is not supported; use \"udp\" or \"tcp\""));
    }
    if t.auth_user.is_some() != t.auth_password_env.is_some() {
        let key = if t.auth_user.is_some() { "auth_user" } else { "auth_password_env" };
        bad(key, "auth_user and auth_password_env go together (the password is read from that variable)".into());
    }
    if let Some(local) = &t.local
        && local.parse::<std::net::SocketAddr>().is_err()
    {
        bad("local", format!("local `{local}` must be ip:port, e.g. \"0.0.0.0:5070\" (port 0 picks a free one)"));
    }
    if !(-90.0..=0.0).contains(&c.speech.vad_threshold) {
        bad(
            "vad_threshold",
            format!("vad_threshold {} is out of range; use -90 to 0 dBFS (default -35)", c.speech.vad_threshold),
        );
    }
    match parse_duration(&c.speech.vad_hangover) {
        Some(ms) if (100..=5_000).contains(&ms) => {}
        _ => bad(
            "vad_hangover",
            format!("vad_hangover `{}` must be a duration from 100ms to 5s (default \"600ms\")", c.speech.vad_hangover),
        ),
    }
    if t.max_concurrent == Some(0) {
        bad("max_concurrent", "the trunk's max_concurrent must be at least 1".into());
    }
    if !["text", "espeak", "clips"].contains(&c.speech.tts.as_str()) {
        bad("tts", format!("tts `{}` is unknown; use \"text\", \"espeak\" or \"clips\"", c.speech.tts));
    } else if c.speech.tts == "clips" && c.speech.clips.is_none() {
        bad("tts", "tts = \"clips\" needs a manifest: add clips = \"clips/manifest.toml\" under [speech]".into());
    }
    if !(80..=450).contains(&c.speech.rate) {
        bad("rate", format!("speech rate {} is out of range; use 80 to 450 words per minute", c.speech.rate));
    }
    let s = &c.sim;
    let shares = [s.answer, s.busy, s.no_answer, s.invalid_number];
    if shares.iter().any(|x| !(0.0..=1.0).contains(x)) || shares.iter().sum::<f64>() > 1.0 + 1e-9 {
        bad("answer", "the [sim] shares must each be between 0 and 1 and add up to at most 1".into());
    }
    // The key file itself is checked when the run starts (`recording::Recorder::for_campaign`).
    if c.recording.enabled {
        if c.recording.key_file.is_none() {
            bad(
                "enabled",
                "[recording] is enabled but names no key_file; add key_file = \"keys/recording.key\" \
                 (32 bytes or 64 hexadecimal characters, mode 600)"
                    .into(),
            );
        }
        if c.recording.dir.is_none() {
            bad("enabled", "[recording] is enabled but names no dir; add dir = \"recordings\"".into());
        }
    }
    if !c.store.url.starts_with("sqlite://") && !c.store.url.starts_with("postgres://") {
        bad("url", format!("store url `{}` must start with sqlite:// or postgres://", c.store.url));
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

/// The seed's JSON task shape (CAMPAIGN.md §1): `script_template` becomes a one-prompt script.
fn load_task_json(name: &str, text: &str, path: &Path, dir: PathBuf) -> Result<Loaded, Vec<InputError>> {
    #[derive(Deserialize)]
    struct TaskSchedule {
        start_time: Option<String>,
        end_time: Option<String>,
        max_concurrent: Option<u32>,
    }
    #[derive(Deserialize)]
    struct Task {
        task_id: String,
        customer_segment: Option<String>,
        script_template: String,
        purpose: Option<String>,
        schedule: Option<TaskSchedule>,
    }
    let task: Task = serde_json::from_str(text).map_err(|e| {
        vec![InputError::at(
            name,
            e.line(),
            e.column(),
            e.to_string().split(" at line").next().unwrap_or("").to_string(),
        )]
    })?;
    let mut campaign = parse_toml(name, &format!("task_id = {:?}\nscript = \"(generated)\"\n", task.task_id))?;
    if let Some(s) = task.schedule {
        if let Some(v) = s.start_time {
            campaign.schedule.start_time = v;
        }
        if let Some(v) = s.end_time {
            campaign.schedule.end_time = v;
        }
        if let Some(v) = s.max_concurrent {
            campaign.schedule.max_concurrent = v;
        }
    }
    let purpose = task.purpose.unwrap_or_else(|| "service".into());
    let template = TaskTemplate { task_id: task.task_id, template: task.script_template, purpose };
    Ok(Loaded {
        generated_script: Some(template.script(&[])),
        campaign,
        path: path.to_path_buf(),
        dir,
        segment_name: task.customer_segment,
        task: Some(template),
    })
}

/// The seed's `script_template`, turned into a one-prompt script once its inputs are typed.
#[derive(Clone, Debug)]
pub struct TaskTemplate {
    pub task_id: String,
    pub template: String,
    pub purpose: String,
}

impl TaskTemplate {
    /// The `{{names}}` the template interpolates, in order of first use.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        let mut rest = self.template.as_str();
        while let Some(open) = rest.find("{{") {
            let Some(close) = rest[open..].find("}}") else { break };
            let inner = rest[open + 2..open + close].split('|').next().unwrap_or("").trim().to_string();
            if !inner.is_empty() && !names.contains(&inner) {
                names.push(inner);
            }
            rest = &rest[open + close + 2..];
        }
        names
    }

    /// The script: `purpose`, one goal outcome `delivered`, `opening { say TEMPLATE; hangup
    /// delivered }`, with the given typed inputs.
    pub fn script(&self, inputs: &[(String, &str)]) -> String {
        let escaped = self.template.replace('\\', "\\\\").replace('"', "\\\"");
        let inputs: Vec<String> = inputs.iter().map(|(n, t)| format!("{n}: {t}")).collect();
        format!(
            "script task \"{}\" {{\n  purpose {}\n  input {{ {} }}\n  outcomes {{ delivered goal }}\n  opening {{\n    say \"{escaped}\"\n    hangup delivered\n  }}\n}}\n",
            self.task_id,
            self.purpose,
            inputs.join(", ")
        )
    }

    /// Types each name from its CSV column: int if every value is an integer, money if every
    /// value is a decimal, else text.
    pub fn typed_inputs(&self, csv_text: &str) -> Vec<(String, &'static str)> {
        let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(csv_text.as_bytes());
        let headers: Vec<String> = reader.headers().map(|h| h.iter().map(String::from).collect()).unwrap_or_default();
        let rows: Vec<csv::StringRecord> = reader.records().filter_map(Result::ok).collect();
        self.names()
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_errors_name_line_and_column() {
        let text = "task_id = \"t\"\nscript = \"a.call\"\n[schedule]\nmax_concurrent = \"lots\"\n";
        let err = parse_toml("c.toml", text).unwrap_err();
        assert_eq!((err[0].line, err[0].column), (Some(4), Some(18)), "{}", err[0]);
        let text = "task_id = \"t\"\nscript = \"a.call\"\n[schedule]\nstart_time = \"9am\"\ntimezone = \"Mars/Base\"\n";
        let campaign = parse_toml("c.toml", text).unwrap();
        let errs = validate("c.toml", text, &campaign).unwrap_err();
        let shown: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(shown.len(), 2, "{shown:?}");
        assert!(shown[0].starts_with("c.toml:4:14: `9am` is not a time of day"), "{shown:?}");
        assert!(shown[1].starts_with("c.toml:5:12: `Mars/Base` is not a time zone"), "{shown:?}");
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = parse_toml("c.toml", "task_id = \"t\"\nscript = \"a\"\n[retry]\nmax_attemps = 3\n").unwrap_err();
        assert_eq!(err[0].line, Some(4));
        assert!(err[0].message.contains("max_attemps"), "{}", err[0].message);
    }

    #[test]
    fn speech_settings_are_checked() {
        let text = "task_id = \"t\"\nscript = \"a.call\"\n[speech]\ntts = \"clips\"\nrate = 20\n";
        let campaign = parse_toml("c.toml", text).unwrap();
        let shown: Vec<String> =
            validate("c.toml", text, &campaign).unwrap_err().iter().map(|e| e.to_string()).collect();
        assert_eq!(
            shown,
            [
                "c.toml:4:7: tts = \"clips\" needs a manifest: add clips = \"clips/manifest.toml\" under [speech]",
                "c.toml:5:8: speech rate 20 is out of range; use 80 to 450 words per minute"
            ]
        );
        let text = "task_id = \"t\"\nscript = \"a.call\"\n[speech]\ntts = \"festival\"\n";
        let campaign = parse_toml("c.toml", text).unwrap();
        assert!(validate("c.toml", text, &campaign).unwrap_err()[0].message.starts_with("tts `festival` is unknown"));
    }

    #[test]
    fn enabled_recording_needs_a_key_file_and_a_folder() {
        let text = "task_id = \"t\"\nscript = \"a.call\"\n[recording]\nenabled = true\n";
        let campaign = parse_toml("c.toml", text).unwrap();
        let shown: Vec<String> =
            validate("c.toml", text, &campaign).unwrap_err().iter().map(|e| e.to_string()).collect();
        assert_eq!(shown.len(), 2, "{shown:?}");
        assert!(shown[0].starts_with("c.toml:4:11: [recording] is enabled but names no key_file"), "{shown:?}");
        assert!(shown[1].starts_with("c.toml:4:11: [recording] is enabled but names no dir"), "{shown:?}");
        let text = format!("{text}key_file = \"k.key\"\ndir = \"rec\"\n");
        let campaign = parse_toml("c.toml", &text).unwrap();
        assert!(validate("c.toml", &text, &campaign).is_ok());
    }

    #[test]
    fn sip_settings_are_checked_where_they_are_written() {
        let text = "task_id = \"t\"\nscript = \"a.call\"\n[telephony]\nkind = \"sip\"\ntransport = \"sctp\"\nauth_user = \"bank\"\n";
        let campaign = parse_toml("c.toml", text).unwrap();
        let shown: Vec<String> =
            validate("c.toml", text, &campaign).unwrap_err().iter().map(|e| e.to_string()).collect();
        assert_eq!(
            shown,
            [
                "c.toml:4:8: kind = \"sip\" needs a gateway, e.g. gateway = \"sip:10.0.0.1:5060\"",
                "c.toml:5:13: transport `sctp` is not supported; use \"udp\" or \"tcp\"",
                "c.toml:6:13: auth_user and auth_password_env go together (the password is read from that variable)",
            ]
        );
        for (gateway, ok) in [
            ("sip:127.0.0.1:5090", true),
            ("sip:10.0.0.1", true),
            ("sip:trunk@10.0.0.1:5060;transport=tcp", true),
            ("sip:[::1]:5060", true),
            ("sip:carrier.example.com", false),
            ("10.0.0.1:5060", false),
        ] {
            assert_eq!(crate::sip::gateway_address(gateway).is_ok(), ok, "{gateway}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30m"), Some(1_800_000));
        assert_eq!(parse_duration("2h"), Some(7_200_000));
        assert_eq!(parse_duration("500ms"), Some(500));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("5x"), None);
    }
}
