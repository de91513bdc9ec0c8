//! The campaign model (CAMPAIGN.md §1): a campaign file, TOML or the seed's JSON task, read
//! once into a typed [`Campaign`]. `callscript check` and `callscript run` both read it here,
//! so a file `check` accepts is one `run` accepts. Pure: text in, a campaign and coded
//! diagnostics (E600–E605) out; CS009 then runs on the typed campaign
//! ([`crate::check::compliance::campaign`]).
//!
//! Three steps: the text parses (E600); it fits the schema, with no unknown key and every
//! value of its kind (E601, E602); every value means something and the settings agree with one
//! another (E603–E605). All problems of the last step are reported together.

mod schema;
pub mod spans;
mod task;
pub mod values;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use jiff::SignedDuration;
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;

use crate::diagnostic::Diagnostic;
use crate::span::{SourceId, Span};
pub use schema::{RawCampaign, RawSchedule, RawScripts};
pub use spans::Spans;
pub use task::TaskTemplate;
pub use values::Asr;

/// The two shapes a campaign file comes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `campaign.toml`, CAMPAIGN.md §1.
    Toml,
    /// The seed's JSON task (`task.json`): `script_template` becomes the script.
    Task,
}

impl Shape {
    /// The shape a file name implies: `.json` is the seed's task, anything else TOML.
    pub fn of_path(name: &str) -> Shape {
        if name.ends_with(".json") { Shape::Task } else { Shape::Toml }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Campaign {
    pub task_id: String,
    /// The scripts it runs, each with its share of the customers: one script (share 100), or
    /// several for an A/B campaign (`script = ["a.call", "b.call"]`, `split = [50, 50]`).
    /// Never empty in a campaign read without errors.
    pub scripts: Vec<ScriptChoice>,
    pub customers: Option<String>,
    pub segment: Option<String>,
    pub jurisdiction: String,
    pub schedule: Schedule,
    pub retry: Retry,
    pub limits: Limits,
    pub telephony: Telephony,
    /// Queue name (as in `transfer "queue"`) → SIP URI.
    pub transfer: BTreeMap<String, String>,
    pub speech: Speech,
    pub recording: Recording,
    pub store: Store,
    pub sim: Sim,
    /// `[allow] CS009 = "reason"`: findings allowed for the whole campaign, reason kept.
    pub allow: BTreeMap<String, String>,
    /// `[actions.NAME]`: where each action of the script is called (CAMPAIGN.md §5).
    pub actions: BTreeMap<String, ActionConfig>,
    /// `[sms]`: the text-message gateway, when the script sends messages.
    pub sms: Option<SmsConfig>,
    /// `[rfm]`: the customer list's columns behind the segment's RFM built-ins.
    pub rfm: Option<Rfm>,
    /// For the JSON task shape: the template the script is generated from.
    pub task: Option<TaskTemplate>,
    /// Where each value is written, for diagnostics about it.
    pub spans: Spans,
}

impl Campaign {
    /// Several scripts share the customers (A/B).
    pub fn is_split(&self) -> bool {
        self.scripts.len() > 1
    }

    /// The distinct script files, each with the index of its first entry, in the campaign's
    /// order: one root file each (`a.call#one` and `a.call#two` share one).
    pub fn script_files(&self) -> Vec<(usize, &str)> {
        let mut files: Vec<(usize, &str)> = Vec::new();
        for (i, choice) in self.scripts.iter().enumerate() {
            if !files.iter().any(|(_, f)| *f == choice.file()) {
                files.push((i, choice.file()));
            }
        }
        files
    }

    /// The key of the `i`th script's entry in the file, for diagnostics about it (`script.1`;
    /// a single `script = "…"` falls back to `script`).
    pub fn script_key(i: usize) -> String {
        format!("script.{i}")
    }
}

/// One script of a campaign (CAMPAIGN.md §1): `file.call`, `file.call#NAME` or a compiled
/// `.callc` (for a JSON task, `(generated)`), and the share of the customers it calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptChoice {
    /// As written, relative to the campaign file.
    pub script: String,
    /// Percent of the customers, 1–100; the shares of a campaign add up to 100.
    pub share: u32,
}

impl ScriptChoice {
    /// The script's file, without `#NAME`.
    pub fn file(&self) -> &str {
        self.script.split_once('#').map_or(self.script.as_str(), |(file, _)| file)
    }

    /// The script chosen with `#NAME`, if any.
    pub fn name(&self) -> Option<&str> {
        self.script.split_once('#').map(|(_, name)| name)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    /// A call may start at `start_time <= t < end_time`, local time; `24:00` is [`Time::MAX`].
    pub start_time: Time,
    pub end_time: Time,
    pub timezone: TimeZone,
    /// The zone's IANA name, as written.
    pub timezone_name: String,
    pub days: Vec<Weekday>,
    pub holidays: Vec<Date>,
    pub max_concurrent: u32,
    pub calls_per_second: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Retry {
    pub max_attempts: u32,
    /// Dispositions retried, by name (`busy`, `no_answer`, …).
    pub on: Vec<String>,
    pub backoff: SignedDuration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    pub per_customer_per_day: u32,
    pub per_customer_per_7_days: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TelephonyKind {
    Sim,
    Sip,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// How real calls get their RTP ports (`media_ports`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MediaPorts {
    /// A socket of its own per call: works with any gateway.
    #[default]
    PerCall,
    /// One socket per media worker, calls told apart by the far end's media address: for
    /// trunks and SBCs that give each call its own (CAMPAIGN.md §8, docs/campaigns.md).
    Shared,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

/// Where INVITEs go: the URI as written and the address it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gateway {
    pub uri: String,
    pub address: SocketAddr,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Telephony {
    pub kind: TelephonyKind,
    /// Set whenever `kind` is [`TelephonyKind::Sip`].
    pub gateway: Option<Gateway>,
    pub from: Option<String>,
    pub local: Option<SocketAddr>,
    pub transport: Transport,
    pub media_ports: MediaPorts,
    pub ring_timeout: SignedDuration,
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tts {
    /// No audio: simulated calls.
    Text,
    /// espeak-ng.
    Espeak,
    /// Recorded clips, espeak-ng for the rest.
    Clips,
}

/// `[speech] emotion_loudness_db` when not written.
pub const DEFAULT_EMOTION_LOUDNESS_DB: f32 = 6.0;

/// `[speech] emotion_pitch_ratio` when not written.
pub const DEFAULT_EMOTION_PITCH_RATIO: f32 = 1.2;

#[derive(Clone, Debug, PartialEq)]
pub struct Speech {
    pub tts: Tts,
    pub asr: Asr,
    /// The clips manifest (`tts = "clips"`), relative to the campaign file.
    pub clips: Option<String>,
    /// The espeak-ng voice.
    pub voice: String,
    /// The espeak-ng speaking rate, in words per minute.
    pub rate: u32,
    /// A folder keeping the audio of written prompt text across runs.
    pub cache: Option<String>,
    /// The VAD (real calls): the level at which a frame is speech, in dBFS.
    pub vad_threshold: f32,
    /// The silence that ends an utterance.
    pub vad_hangover: SignedDuration,
    /// Emotion on real calls (LANGUAGE.md §15): an utterance this many dB louder than the
    /// customer's earlier speech, and `emotion_pitch_ratio` times higher, is angry.
    pub emotion_loudness_db: f32,
    /// The pitch over the customer's earlier speech that, with the loudness, is angry.
    pub emotion_pitch_ratio: f32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recording {
    pub enabled: bool,
    pub key_file: Option<String>,
    pub dir: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Store {
    /// `sqlite://PATH` or `postgres://…`.
    pub url: String,
    /// How long a worker's claim on its live calls lasts without a heartbeat (CAMPAIGN.md §6):
    /// after it, another worker records them `failed`/`interrupted`.
    pub lease: SignedDuration,
}

impl Store {
    /// The SQLite file, relative to the campaign's folder, when the store is SQLite.
    pub fn sqlite_path(&self) -> Option<&str> {
        self.url.strip_prefix("sqlite://")
    }
}

/// The simulated network and customers (telephony kind `sim`).
#[derive(Clone, Debug, PartialEq)]
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

/// `[actions.NAME]` (CAMPAIGN.md §5): an HTTP POST of JSON to `url`.
#[derive(Clone, Debug, PartialEq)]
pub struct ActionConfig {
    pub url: String,
    /// The campaign's timeout; the script's `timeout` wins when shorter.
    pub timeout: Option<SignedDuration>,
    /// Request headers; a value `env:NAME` is read from the environment when the run starts.
    pub headers: BTreeMap<String, String>,
    /// What the simulator answers: outputs by name (checked against the script's types), and
    /// the share of calls that fail instead.
    pub sim: BTreeMap<String, schema::RawSimValue>,
    pub fail_rate: f64,
}

/// `[rfm]` (CAMPAIGN.md §8): which columns of the customer list hold each customer's last
/// transaction date, transaction count and amount. The columns need not be script inputs; the
/// list is read for them when a segment (or `segment --explain`) uses them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rfm {
    /// A date column (`yyyy-mm-dd`): `recency_days` counts the days from it to `as_of`.
    pub recency: Option<String>,
    /// A whole-number column (at least 0): `frequency`.
    pub frequency: Option<String>,
    /// An amount column (`1200.50`): `monetary`.
    pub monetary: Option<String>,
    /// The day `recency_days` counts to; None: the day the list is read, in the campaign's zone.
    pub as_of: Option<crate::value::Date>,
}

impl Rfm {
    /// The key (`recency`, `frequency`, `monetary`) and column of each declared measure.
    pub fn columns(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [("recency", &self.recency), ("frequency", &self.frequency), ("monetary", &self.monetary)]
            .into_iter()
            .filter_map(|(key, column)| Some((key, column.as_deref()?)))
    }
}

/// Columns of the customer list with a meaning of their own: an `[rfm]` measure cannot be one.
pub const RESERVED_COLUMNS: &[&str] = &["phone", "id", "timezone", "segment"];

/// `[sms]`: the gateway that sends text messages (POST `{"to", "text", "campaign",
/// "customer_id", "attempt"}`).
#[derive(Clone, Debug, PartialEq)]
pub struct SmsConfig {
    pub url: String,
    pub sender: Option<String>,
    pub timeout: SignedDuration,
}

impl schema::RawSimValue {
    /// The value in a literal form the runtime reads by type (`1200.50`, `2026-12-01`).
    pub fn text(&self) -> String {
        match self {
            schema::RawSimValue::Bool(b) => b.to_string(),
            schema::RawSimValue::Int(n) => n.to_string(),
            schema::RawSimValue::Float(x) => x.to_string(),
            schema::RawSimValue::Text(t) => t.clone(),
        }
    }
}

pub use schema::RawSimValue;

/// What the script needs of the campaign (CAMPAIGN.md §5): every action it calls has an
/// `[actions.NAME]`, messages need `[sms]`, and `sim` answers name the action's outputs with
/// values of their types (a simulated campaign needs an answer for every output unless the
/// action always fails). E603 for what is missing, E604 for what is wrong.
/// `key` is the script's entry in the file (`script`, or `script.1` in an A/B campaign).
pub fn check_script_needs(
    file: SourceId,
    campaign: &Campaign,
    key: &str,
    code: &crate::bytecode::ScriptCode,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let spans = &campaign.spans;
    let missing = |message: String, help: String| {
        Diagnostic::new("E603", file, spans.at(key), message).label("the script is named here").with_help(help)
    };
    let mut called: Vec<&str> = code.dos.iter().map(|d| code.actions[d.action as usize].name.as_str()).collect();
    called.sort();
    called.dedup();
    for name in called {
        let Some(config) = campaign.actions.get(name) else {
            diagnostics.push(missing(
                format!("the script calls the action `{name}`, which the campaign does not configure"),
                format!(
                    "add `[actions.{name}]` with `url = \"http://…\"` (and `sim = {{ … }}` for a simulated campaign)"
                ),
            ));
            continue;
        };
        let Some(action) = code.actions.iter().find(|a| a.name == name) else { continue };
        for (key, value) in &config.sim {
            let path = format!("actions.{name}.sim.{key}");
            let Some((_, ty, _)) = action.outputs.iter().find(|(o, _, _)| o == key) else {
                let outputs: Vec<String> = action.outputs.iter().map(|(o, _, _)| format!("`{o}`")).collect();
                diagnostics.push(
                    Diagnostic::new(
                        "E604",
                        file,
                        spans.at(&path),
                        format!("the action `{name}` has no output `{key}`"),
                    )
                    .label(format!("`{key}`"))
                    .with_help(format!("its outputs are {} (and `fail_rate`)", outputs.join(", "))),
                );
                continue;
            };
            if crate::value::Value::read_literal(*ty, &value.text()).is_none() {
                diagnostics.push(
                    Diagnostic::new(
                        "E604",
                        file,
                        spans.at(&path),
                        format!("`{}` is not {} for the output `{key}` of `{name}`", value.text(), ty.a()),
                    )
                    .label(format!("`{key}`")),
                );
            }
        }
        let simulated = campaign.telephony.kind == TelephonyKind::Sim;
        if simulated && config.fail_rate < 1.0 {
            let unanswered: Vec<String> = action
                .outputs
                .iter()
                .filter(|(o, _, _)| !config.sim.contains_key(o))
                .map(|(o, _, _)| format!("`{o}`"))
                .collect();
            if !unanswered.is_empty() {
                diagnostics.push(
                    Diagnostic::new(
                        "E603",
                        file,
                        spans.at(&format!("actions.{name}")),
                        format!("the simulator has no answer for {} of `{name}`", unanswered.join(", ")),
                    )
                    .label(format!("[actions.{name}]"))
                    .with_help("give every output in `sim = { … }`, or `sim = { fail_rate = 1.0 }` to fail every call"),
                );
            }
        }
    }
    let sends = code.code.iter().any(|i| matches!(i, crate::bytecode::Instruction::Sms(_)));
    if sends && campaign.sms.is_none() {
        diagnostics.push(missing(
            "the script sends text messages, but the campaign has no `[sms]` gateway".into(),
            "add `[sms]` with `url = \"http://…\"`".into(),
        ));
    }
}

/// The jurisdiction of a campaign that names none.
pub const DEFAULT_JURISDICTION: &str = "cn";

/// Dispositions a campaign may retry.
pub const RETRYABLE: &[&str] = &["busy", "no_answer", "failed", "rejected", "customer_hangup", "invalid_number"];

/// A campaign file read: the campaign when it has no error, and every diagnostic.
#[derive(Debug)]
pub struct Read {
    pub campaign: Option<Campaign>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Reads a campaign file's text. Never panics; every problem is a diagnostic in `file`.
pub fn read(file: SourceId, text: &str, shape: Shape) -> Read {
    let parsed = match shape {
        Shape::Toml => parse_toml(file, text),
        Shape::Task => task::parse(file, text),
    };
    match parsed {
        Err(d) => Read { campaign: None, diagnostics: vec![d] },
        Ok((raw, spans, template)) => {
            let mut builder = Builder { file, spans: &spans, diagnostics: Vec::new() };
            let campaign = builder.campaign(raw, template.is_some());
            let diagnostics = builder.diagnostics;
            let ok = !diagnostics.iter().any(Diagnostic::is_error);
            let campaign = ok.then(|| Campaign { task: template, spans, ..campaign });
            Read { campaign, diagnostics }
        }
    }
}

/// The jurisdiction a campaign file asks for, if it says (read even when other values are
/// wrong, so that the script is checked under the right pack).
pub fn jurisdiction(text: &str, shape: Shape) -> Option<String> {
    match shape {
        Shape::Toml => toml::from_str::<toml::Table>(text).ok()?.get("jurisdiction")?.as_str().map(String::from),
        Shape::Task => {
            serde_json::from_str::<serde_json::Value>(text).ok()?.get("jurisdiction")?.as_str().map(String::from)
        }
    }
}

/// A campaign with every default: what a file holding only `task_id` and `script` means.
pub fn defaults(task_id: &str, script: &str) -> Campaign {
    let raw = RawCampaign {
        task_id: Some(task_id.into()),
        script: Some(RawScripts::One(script.into())),
        ..RawCampaign::default()
    };
    let spans = Spans::default();
    let mut builder = Builder { file: SourceId(0), spans: &spans, diagnostics: Vec::new() };
    builder.campaign(raw, false)
}

type Parsed = (RawCampaign, Spans, Option<TaskTemplate>);

fn parse_toml(file: SourceId, text: &str) -> Result<Parsed, Diagnostic> {
    let document = toml::de::DeTable::parse(text).map_err(|e| {
        let span = e.span().map_or(Span::new(0, 0), |r| Span::new(r.start, r.end));
        Diagnostic::new("E600", file, span, "the campaign file is not valid TOML")
            .label(e.message().trim().to_string())
            .with_help("see CAMPAIGN.md §1 for the campaign file's form")
    })?;
    let spans = Spans::of_toml(document.get_ref());
    let raw: RawCampaign = toml::from_str(text).map_err(|e| {
        let span = e.span().map_or(Span::new(0, 0), |r| Span::new(r.start, r.end));
        schema_error(file, span, e.message())
    })?;
    Ok((raw, spans, None))
}

/// A value the schema refuses: an unknown key (E601, with the nearest known one) or a value
/// of the wrong kind (E602).
fn schema_error(file: SourceId, span: Span, message: &str) -> Diagnostic {
    let message = message.trim();
    // serde's wording: "unknown field `max_attemps`, expected one of `max_attempts`, `on`".
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let names: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
        let key = names.first().copied().unwrap_or("");
        let known = names.get(1..).unwrap_or(&[]);
        let help = match crate::suggest::closest(key, known.iter().copied()) {
            Some(near) => format!("did you mean `{near}`?"),
            None if known.is_empty() => "this table takes no keys".to_string(),
            None => {
                format!("the keys here are {}", known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "))
            }
        };
        return Diagnostic::new("E601", file, span, format!("unknown key `{key}` in the campaign file"))
            .label("not a campaign setting")
            .with_help(help);
    }
    let (what, expected) = match message.split_once(", expected ") {
        Some((what, expected)) => (what.to_string(), Some(expected.to_string())),
        None => (message.to_string(), None),
    };
    let what = what.strip_prefix("invalid type: ").map_or(what.clone(), |w| format!("this value is {w}"));
    let d = Diagnostic::new("E602", file, span, format!("a campaign value of the wrong kind: {what}"));
    match expected {
        Some(expected) => d.label(format!("expected {}", plain_type(&expected))),
        None => d.label("wrong kind of value"),
    }
}

/// serde's type names in a script author's words.
fn plain_type(expected: &str) -> String {
    match expected {
        "i64" | "u64" | "u32" | "i32" => "a whole number".into(),
        "f64" | "f32" => "a number".into(),
        "a boolean" | "bool" => "true or false".into(),
        "a string" => "a string in quotes".into(),
        other => other.to_string(),
    }
}

/// Turns a raw campaign into the typed one, reporting every value that means nothing.
struct Builder<'s> {
    file: SourceId,
    spans: &'s Spans,
    diagnostics: Vec<Diagnostic>,
}

impl Builder<'_> {
    fn invalid(&mut self, path: &str, message: String) {
        let key = path.rsplit('.').find(|p| p.parse::<usize>().is_err()).unwrap_or(path);
        let label = if self.spans.has(path) { format!("`{key}`") } else { format!("`{key}` is not set here") };
        self.diagnostics.push(Diagnostic::new("E604", self.file, self.spans.at(path), message).label(label));
    }

    fn conflict(&mut self, path: &str, message: String, help: &str) {
        self.diagnostics
            .push(Diagnostic::new("E605", self.file, self.spans.at(path), message).label("here").with_help(help));
    }

    fn missing(&mut self, path: &str, message: &str, help: &str) {
        self.diagnostics.push(
            Diagnostic::new("E603", self.file, self.spans.at(path), message.to_string())
                .label("the campaign file starts here")
                .with_help(help),
        );
    }

    /// A value read by `parse`, or `default` (reporting the problem) when it means nothing.
    fn value<T, R>(&mut self, path: &str, raw: Option<R>, default: T, parse: impl FnOnce(R) -> Result<T, String>) -> T {
        match raw.map(parse) {
            Some(Ok(v)) => v,
            Some(Err(message)) => {
                self.invalid(path, message);
                default
            }
            None => default,
        }
    }

    /// A whole number in `range`.
    fn count(&mut self, path: &str, raw: Option<i64>, default: u32, min: u32, why: &str) -> u32 {
        self.value(path, raw, default, |n| {
            u32::try_from(n).ok().filter(|n| *n >= min).ok_or_else(|| {
                let key = path.rsplit('.').next().unwrap_or(path);
                format!("{key} must be at least {min}{why}, not {n}")
            })
        })
    }

    fn campaign(&mut self, raw: RawCampaign, generated: bool) -> Campaign {
        let task_id = match raw.task_id {
            Some(id) => self.value("task_id", Some(id), String::new(), |id| values::task_id(&id)),
            None => {
                self.missing(
                    "task_id",
                    "the campaign names no `task_id`",
                    "add `task_id = \"LOAN_REMIND_20261124\"`: it names the campaign in the store and reports",
                );
                String::new()
            }
        };
        let scripts = self.scripts(raw.script, raw.split, generated);
        let jurisdiction = raw.jurisdiction.unwrap_or_else(|| DEFAULT_JURISDICTION.into());
        if let Err(message) = crate::check::compliance::pack(&jurisdiction) {
            self.invalid("jurisdiction", message);
        }
        let schedule = self.schedule(raw.schedule.unwrap_or_default());
        let retry = self.retry(raw.retry.unwrap_or_default());
        let limits = raw.limits.unwrap_or_default();
        let limits = Limits {
            per_customer_per_day: self.count(
                "limits.per_customer_per_day",
                limits.per_customer_per_day,
                1,
                1,
                " (0 would place no call)",
            ),
            per_customer_per_7_days: self.count(
                "limits.per_customer_per_7_days",
                limits.per_customer_per_7_days,
                3,
                1,
                " (0 would place no call)",
            ),
        };
        let telephony = self.telephony(raw.telephony.unwrap_or_default());
        let speech = self.speech(raw.speech.unwrap_or_default());
        let recording = raw.recording.unwrap_or_default();
        let recording =
            Recording { enabled: recording.enabled.unwrap_or(false), key_file: recording.key_file, dir: recording.dir };
        if recording.enabled {
            // The key file itself is read when the run starts (its mode and length).
            if recording.key_file.is_none() {
                self.conflict(
                    "recording.enabled",
                    "[recording] is enabled but names no key_file".into(),
                    "add key_file = \"keys/recording.key\" (32 bytes or 64 hexadecimal characters, mode 600)",
                );
            }
            if recording.dir.is_none() {
                self.conflict(
                    "recording.enabled",
                    "[recording] is enabled but names no dir".into(),
                    "add dir = \"recordings\"",
                );
            }
        }
        let raw_store = raw.store.unwrap_or_default();
        let lease = self.value("store.lease", raw_store.lease, SignedDuration::from_secs(30), |l| {
            let lease = values::duration(&l, SignedDuration::from_secs(1))?;
            // A worker beats every few seconds; a shorter lease would take over live workers.
            if lease < SignedDuration::from_secs(3) || lease > SignedDuration::from_secs(3600) {
                return Err(format!("lease `{l}` must be between 3s and 1h"));
            }
            Ok(lease)
        });
        let store = Store { url: raw_store.url.unwrap_or_else(|| "sqlite://campaign.db".into()), lease };
        if !store.url.starts_with("sqlite://") && !store.url.starts_with("postgres://") {
            self.invalid("store.url", format!("store url `{}` must start with sqlite:// or postgres://", store.url));
        } else if store.sqlite_path() == Some("") {
            self.invalid("store.url", "the store url names no file; write e.g. \"sqlite://campaign.db\"".into());
        }
        let sim = self.sim(raw.sim.unwrap_or_default());
        let allow = raw.allow.unwrap_or_default();
        let actions = raw
            .actions
            .unwrap_or_default()
            .into_iter()
            .map(|(name, raw)| {
                let config = self.action(&name, raw);
                (name, config)
            })
            .collect();
        let sms = raw.sms.map(|raw| self.sms(raw));
        let rfm = raw.rfm.map(|raw| self.rfm(raw));
        Campaign {
            task_id,
            scripts,
            customers: raw.customers,
            segment: raw.segment,
            jurisdiction,
            schedule,
            retry,
            limits,
            telephony,
            transfer: raw.transfer.unwrap_or_default(),
            speech,
            recording,
            store,
            sim,
            allow,
            actions,
            sms,
            rfm,
            task: None,
            spans: Spans::default(),
        }
    }

    /// `script` (one file, or several with `split` for A/B) into the scripts and their shares.
    fn scripts(&mut self, raw: Option<RawScripts>, mut split: Option<Vec<i64>>, generated: bool) -> Vec<ScriptChoice> {
        let files = match raw {
            None => {
                self.missing(
                    "script",
                    "the campaign names no `script`",
                    "add `script = \"loan_reminder.call\"` (a `.call` source or a `.callc`)",
                );
                return Vec::new();
            }
            Some(RawScripts::One(file)) if generated => return vec![ScriptChoice { script: file, share: 100 }],
            Some(RawScripts::One(file)) => {
                if split.take().is_some() {
                    self.conflict(
                        "split",
                        "`split` shares the customers between scripts, but `script` names one".into(),
                        "name each script in a list, `script = [\"a.call\", \"b.call\"]`, or remove `split`",
                    );
                }
                vec![(file, "script".to_string())]
            }
            Some(RawScripts::Several(files)) => {
                if files.is_empty() {
                    self.invalid("script", "`script` is an empty list: name the script the campaign runs".into());
                }
                files.into_iter().enumerate().map(|(i, file)| (file, Campaign::script_key(i))).collect()
            }
        };
        for (i, (file, key)) in files.iter().enumerate() {
            let path = file.split_once('#').map_or(file.as_str(), |(f, _)| f);
            if !path.ends_with(".call") && !path.ends_with(".callc") {
                self.invalid(
                    key,
                    format!(
                        "the script must be a `.call` source or a `.callc` built by `callscript build`, not `{file}`"
                    ),
                );
            }
            if files[..i].iter().any(|(earlier, _)| earlier == file) {
                self.conflict(
                    key,
                    format!("`{file}` is named twice"),
                    "each script of an A/B campaign is a different script; its share goes in `split`",
                );
            }
        }
        let shares = match split {
            None if files.len() > 1 => {
                self.diagnostics.push(
                    Diagnostic::new(
                        "E603",
                        self.file,
                        self.spans.at("script"),
                        format!("the campaign names {} scripts but no `split`", files.len()),
                    )
                    .label("several scripts")
                    .with_help(format!(
                        "add `split = [{}]`: each script's share of the customers in percent, adding up to 100",
                        vec!["50"; files.len()].join(", ")
                    )),
                );
                vec![0; files.len()]
            }
            None => vec![100; files.len()],
            Some(split) => {
                if split.len() != files.len() {
                    self.conflict(
                        "split",
                        format!("`split` has {} shares for {} scripts", split.len(), files.len()),
                        "give one share per script, in the order of `script`",
                    );
                }
                let shares: Vec<u32> = split
                    .iter()
                    .enumerate()
                    .map(|(i, &share)| {
                        self.value(&format!("split.{i}"), Some(share), 0, |share| match share {
                            0 => Err(format!(
                                "a share of 0 never calls {}; remove the script instead",
                                files.get(i).map_or("this script".to_string(), |(f, _)| format!("`{f}`"))
                            )),
                            1..=100 => Ok(share as u32),
                            _ => Err(format!("a share is a percentage of the customers, 1 to 100, not {share}")),
                        })
                    })
                    .collect();
                let total: i64 = split.iter().sum();
                if split.len() == files.len() && shares.iter().all(|s| *s > 0) && total != 100 {
                    self.conflict(
                        "split",
                        format!("the shares of `split` add up to {total}, not 100"),
                        "each share is a percentage of the customers: together they take every customer",
                    );
                }
                shares
            }
        };
        files.into_iter().zip(shares).map(|((script, _), share)| ScriptChoice { script, share }).collect()
    }

    /// An HTTP(S) URL with a host, as written.
    fn url(&mut self, path: &str, raw: Option<String>, what: &str) -> String {
        match raw {
            None => {
                self.missing(path, &format!("{what} names no `url`"), "add `url = \"http://127.0.0.1:9300/…\"`");
                String::new()
            }
            Some(url) => self.value(path, Some(url), String::new(), |url| values::http_url(&url).map(|()| url)),
        }
    }

    fn action(&mut self, name: &str, raw: schema::RawAction) -> ActionConfig {
        let at = |key: &str| format!("actions.{name}.{key}");
        let url = self.url(&at("url"), raw.url, &format!("[actions.{name}]"));
        let timeout = raw.timeout.map(|t| {
            self.value(&at("timeout"), Some(t), SignedDuration::from_secs(3), |t| {
                values::duration(&t, SignedDuration::from_millis(1))
            })
        });
        let headers = raw.headers.unwrap_or_default();
        for (key, value) in &headers {
            if let Some(var) = value.strip_prefix("env:")
                && (var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            {
                self.invalid(
                    &at(&format!("headers.{key}")),
                    format!("`{value}` does not name an environment variable"),
                );
            }
        }
        let mut sim = raw.sim.unwrap_or_default();
        let fail_rate = match sim.remove("fail_rate") {
            None => 0.0,
            Some(v) => {
                let x = match v {
                    schema::RawSimValue::Float(x) => Some(x),
                    schema::RawSimValue::Int(n) => Some(n as f64),
                    _ => None,
                };
                self.value(&at("sim.fail_rate"), Some(x), 0.0, |x| match x {
                    Some(x) if (0.0..=1.0).contains(&x) => Ok(x),
                    _ => Err(format!("`fail_rate` must be a share between 0 and 1, not {}", v.text())),
                })
            }
        };
        ActionConfig { url, timeout, headers, sim, fail_rate }
    }

    fn rfm(&mut self, raw: schema::RawRfm) -> Rfm {
        let as_of = self.value("rfm.as_of", raw.as_of, None, |d| {
            crate::value::Date::parse(d.trim())
                .map(Some)
                .ok_or_else(|| format!("`{d}` is not a date; write it as yyyy-mm-dd, e.g. \"2026-12-01\""))
        });
        let rfm = Rfm { recency: raw.recency, frequency: raw.frequency, monetary: raw.monetary, as_of };
        let mut named: Vec<(&str, &str)> = Vec::new();
        for (key, column) in rfm.columns() {
            let path = format!("rfm.{key}");
            if column.trim().is_empty() {
                self.invalid(&path, format!("[rfm] {key} names no column"));
            } else if RESERVED_COLUMNS.contains(&column) {
                self.invalid(&path, format!("[rfm] {key} cannot be the list's `{column}` column"));
            } else if let Some((first, _)) = named.iter().find(|(_, c)| *c == column) {
                // One column cannot be two measures: its quintiles would score one thing twice.
                self.conflict(
                    &path,
                    format!("[rfm] {key} names the column `{column}`, which {first} names too"),
                    "each of recency, frequency and monetary is a column of its own",
                );
            }
            named.push((key, column));
        }
        if named.is_empty() {
            self.diagnostics.push(
                Diagnostic::new("E603", self.file, self.spans.at("rfm"), "[rfm] names no column")
                    .label("[rfm]")
                    .with_help("name the list's columns: recency = \"last_txn_date\", frequency = \"txn_count\", monetary = \"txn_amount\""),
            );
        }
        rfm
    }

    fn sms(&mut self, raw: schema::RawSms) -> SmsConfig {
        let url = self.url("sms.url", raw.url, "[sms]");
        let timeout = self.value("sms.timeout", raw.timeout, SignedDuration::from_secs(5), |t| {
            values::duration(&t, SignedDuration::from_millis(1))
        });
        SmsConfig { url, sender: raw.sender, timeout }
    }

    fn schedule(&mut self, raw: RawSchedule) -> Schedule {
        let start_time =
            self.value("schedule.start_time", raw.start_time, Time::constant(9, 0, 0, 0), |t| values::clock(&t, false));
        let end_time =
            self.value("schedule.end_time", raw.end_time, Time::constant(18, 0, 0, 0), |t| values::clock(&t, true));
        if start_time >= end_time {
            self.conflict(
                "schedule.end_time",
                format!(
                    "the call window ends ({}) before it starts ({})",
                    values::clock_text(end_time),
                    values::clock_text(start_time)
                ),
                "a window is one stretch of a day: end_time is later than start_time (a window across midnight is two campaigns)",
            );
        }
        let timezone_name = raw.timezone.clone().unwrap_or_else(|| "Asia/Shanghai".into());
        let timezone = self.value("schedule.timezone", raw.timezone, TimeZone::UTC, |z| values::zone(&z));
        let all_days = || {
            [
                Weekday::Monday,
                Weekday::Tuesday,
                Weekday::Wednesday,
                Weekday::Thursday,
                Weekday::Friday,
                Weekday::Saturday,
                Weekday::Sunday,
            ]
            .to_vec()
        };
        let days = match raw.days {
            None => all_days(),
            Some(days) => {
                let mut out = Vec::new();
                for (i, day) in days.iter().enumerate() {
                    if let Some(d) =
                        self.value(&format!("schedule.days.{i}"), Some(day), None, |d| values::weekday(d).map(Some))
                    {
                        out.push(d);
                    }
                }
                if days.is_empty() {
                    self.invalid("schedule.days", "`days` is empty: no call would ever be placed".into());
                }
                out
            }
        };
        let mut holidays = Vec::new();
        for (i, h) in raw.holidays.unwrap_or_default().iter().enumerate() {
            if let Some(d) = self.value(&format!("schedule.holidays.{i}"), Some(h), None, |h| values::date(h).map(Some))
            {
                holidays.push(d);
            }
        }
        let max_concurrent = self.count("schedule.max_concurrent", raw.max_concurrent, 50, 1, "");
        let calls_per_second = self.value("schedule.calls_per_second", raw.calls_per_second, 5.0, |c| {
            if c > 0.0 && c.is_finite() {
                Ok(c)
            } else {
                Err(format!("calls_per_second must be a positive number, not {c}"))
            }
        });
        Schedule { start_time, end_time, timezone, timezone_name, days, holidays, max_concurrent, calls_per_second }
    }

    fn retry(&mut self, raw: schema::RawRetry) -> Retry {
        let max_attempts = self.count("retry.max_attempts", raw.max_attempts, 3, 1, "");
        let on = raw.on.unwrap_or_else(|| ["busy", "no_answer", "failed"].map(String::from).to_vec());
        for (i, d) in on.iter().enumerate() {
            if !RETRYABLE.contains(&d.as_str()) {
                self.invalid(
                    &format!("retry.on.{i}"),
                    format!("`{d}` is not a disposition to retry; use {}", RETRYABLE.join(", ")),
                );
            }
        }
        let backoff = self.value("retry.backoff", raw.backoff, SignedDuration::from_mins(30), |b| {
            values::duration(&b, SignedDuration::ZERO)
        });
        Retry { max_attempts, on, backoff }
    }

    fn telephony(&mut self, raw: schema::RawTelephony) -> Telephony {
        let kind = self.value("telephony.kind", raw.kind, TelephonyKind::Sim, |k| match k.as_str() {
            "sim" => Ok(TelephonyKind::Sim),
            "sip" => Ok(TelephonyKind::Sip),
            _ => Err(format!("telephony kind `{k}` is unknown; use \"sim\" or \"sip\"")),
        });
        let gateway = match raw.gateway {
            Some(uri) => self.value("telephony.gateway", Some(uri), None, |uri| {
                values::gateway(&uri).map(|address| Some(Gateway { uri, address }))
            }),
            None => {
                if kind == TelephonyKind::Sip {
                    self.conflict(
                        "telephony.kind",
                        "kind = \"sip\" needs a gateway".into(),
                        "add gateway = \"sip:10.0.0.1:5060\" under [telephony]: where INVITEs go",
                    );
                }
                None
            }
        };
        let transport = self.value("telephony.transport", raw.transport, Transport::Udp, |t| match t.as_str() {
            "udp" => Ok(Transport::Udp),
            "tcp" => Ok(Transport::Tcp),
            _ => Err(format!("transport `{t}` is not supported; use \"udp\" or \"tcp\"")),
        });
        let media_ports =
            self.value("telephony.media_ports", raw.media_ports, MediaPorts::PerCall, |m| match m.as_str() {
                "per_call" => Ok(MediaPorts::PerCall),
                "shared" => Ok(MediaPorts::Shared),
                _ => Err(format!("media_ports `{m}` is not one of \"per_call\" or \"shared\"")),
            });
        let local = self.value("telephony.local", raw.local, None, |l| {
            l.parse::<SocketAddr>()
                .map(Some)
                .map_err(|_| format!("local `{l}` must be ip:port, e.g. \"0.0.0.0:5070\" (port 0 picks a free one)"))
        });
        let ring_timeout = self.value("telephony.ring_timeout", raw.ring_timeout, SignedDuration::from_secs(30), |r| {
            values::duration(&r, SignedDuration::from_secs(1))
        });
        if raw.auth_user.is_some() != raw.auth_password_env.is_some() {
            let key = if raw.auth_user.is_some() { "telephony.auth_user" } else { "telephony.auth_password_env" };
            self.conflict(
                key,
                "auth_user and auth_password_env go together".into(),
                "the digest password is read from the environment variable auth_password_env names",
            );
        }
        let calls_per_second = self.value("telephony.calls_per_second", raw.calls_per_second, None, |c| {
            if c > 0.0 && c.is_finite() {
                Ok(Some(c))
            } else {
                Err(format!("the trunk's calls_per_second must be a positive number, not {c}"))
            }
        });
        let max_concurrent = raw.max_concurrent.map(|n| self.count("telephony.max_concurrent", Some(n), 1, 1, ""));
        Telephony {
            kind,
            gateway,
            from: raw.from,
            local,
            transport,
            media_ports,
            ring_timeout,
            auth_user: raw.auth_user,
            auth_password_env: raw.auth_password_env,
            asserted_identity: raw.asserted_identity,
            register: raw.register.unwrap_or(false),
            calls_per_second,
            max_concurrent,
        }
    }

    fn speech(&mut self, raw: schema::RawSpeech) -> Speech {
        let tts = self.value("speech.tts", raw.tts, Tts::Text, |t| match t.as_str() {
            "text" => Ok(Tts::Text),
            "espeak" => Ok(Tts::Espeak),
            "clips" => Ok(Tts::Clips),
            _ => Err(format!("tts `{t}` is unknown; use \"text\", \"espeak\" or \"clips\"")),
        });
        if tts == Tts::Clips && raw.clips.is_none() {
            self.conflict(
                "speech.tts",
                "tts = \"clips\" needs a manifest".into(),
                "add clips = \"clips/manifest.toml\" under [speech]",
            );
        }
        let asr = self.value("speech.asr", raw.asr, Asr::Text, |a| values::asr(&a));
        let rate = self.value("speech.rate", raw.rate, 160, |r| {
            u32::try_from(r)
                .ok()
                .filter(|r| (80..=450).contains(r))
                .ok_or_else(|| format!("speech rate {r} is out of range; use 80 to 450 words per minute"))
        });
        let vad_threshold = self.value("speech.vad_threshold", raw.vad_threshold, -35.0, |v| {
            if (-90.0..=0.0).contains(&v) {
                Ok(v as f32)
            } else {
                Err(format!("vad_threshold {v} is out of range; use -90 to 0 dBFS (default -35)"))
            }
        });
        let vad_hangover = self.value("speech.vad_hangover", raw.vad_hangover, SignedDuration::from_millis(600), |h| {
            values::duration(&h, SignedDuration::ZERO).and_then(|d| {
                if (SignedDuration::from_millis(100)..=SignedDuration::from_secs(5)).contains(&d) {
                    Ok(d)
                } else {
                    Err(format!("vad_hangover `{h}` must be a duration from 100ms to 5s (default \"600ms\")"))
                }
            })
        });
        let emotion_loudness_db =
            self.value("speech.emotion_loudness_db", raw.emotion_loudness_db, DEFAULT_EMOTION_LOUDNESS_DB, |v| {
                if (1.0..=40.0).contains(&v) {
                    Ok(v as f32)
                } else {
                    Err(format!(
                        "emotion_loudness_db {v} is out of range; use 1 to 40 dB louder than the customer's earlier speech (default {DEFAULT_EMOTION_LOUDNESS_DB})"
                    ))
                }
            });
        let emotion_pitch_ratio =
            self.value("speech.emotion_pitch_ratio", raw.emotion_pitch_ratio, DEFAULT_EMOTION_PITCH_RATIO, |v| {
                if v > 1.0 && v <= 4.0 {
                    Ok(v as f32)
                } else {
                    Err(format!(
                        "emotion_pitch_ratio {v} is out of range; use a ratio above 1 and at most 4 over the customer's earlier pitch (default {DEFAULT_EMOTION_PITCH_RATIO})"
                    ))
                }
            });
        Speech {
            emotion_loudness_db,
            emotion_pitch_ratio,
            tts,
            asr,
            clips: raw.clips,
            voice: raw.voice.unwrap_or_else(|| "cmn".into()),
            rate,
            cache: raw.cache,
            vad_threshold,
            vad_hangover,
        }
    }

    fn sim(&mut self, raw: schema::RawSim) -> Sim {
        let d = Sim::default();
        let seed = raw.seed.unwrap_or(d.seed);
        let mut share = |key: &str, raw: Option<f64>, default: f64| {
            self.value(&format!("sim.{key}"), raw, default, |x| {
                if (0.0..=1.0).contains(&x) {
                    Ok(x)
                } else {
                    Err(format!("the share `{key} = {x}` must be between 0 and 1"))
                }
            })
        };
        let answer = share("answer", raw.answer, d.answer);
        let busy = share("busy", raw.busy, d.busy);
        let no_answer = share("no_answer", raw.no_answer, d.no_answer);
        let invalid_number = share("invalid_number", raw.invalid_number, d.invalid_number);
        if answer + busy + no_answer + invalid_number > 1.0 + 1e-9 {
            self.conflict(
                "sim",
                "the [sim] shares add up to more than 1".into(),
                "answer, busy, no_answer and invalid_number are shares of the attempts; the rest fail",
            );
        }
        let talk = self.value("sim.talk", raw.talk, d.talk, |t| {
            if t == "persona" {
                Ok(t)
            } else {
                Err(format!("talk `{t}` is unknown; the simulator's customers talk as \"persona\""))
            }
        });
        Sim { seed, answer, busy, no_answer, invalid_number, talk }
    }
}

#[cfg(test)]
mod tests;
