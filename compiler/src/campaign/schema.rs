//! The campaign file as written: plain serde types with `deny_unknown_fields`, read from TOML
//! or from the seed's JSON task. Every key is optional here; defaults and checks of values are
//! the typed model's job (`super::build`), and where each value stands is `super::spans`'.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCampaign {
    pub task_id: Option<String>,
    pub script: Option<RawScripts>,
    /// Each script's share of the customers, in percent, when `script` names several (A/B).
    pub split: Option<Vec<i64>>,
    pub customers: Option<String>,
    pub segment: Option<String>,
    pub jurisdiction: Option<String>,
    pub schedule: Option<RawSchedule>,
    pub retry: Option<RawRetry>,
    pub limits: Option<RawLimits>,
    pub telephony: Option<RawTelephony>,
    pub transfer: Option<BTreeMap<String, String>>,
    pub speech: Option<RawSpeech>,
    pub recording: Option<RawRecording>,
    pub store: Option<RawStore>,
    pub sim: Option<RawSim>,
    pub allow: Option<BTreeMap<String, String>>,
    /// `[actions.NAME]` (CAMPAIGN.md §5).
    pub actions: Option<BTreeMap<String, RawAction>>,
    pub sms: Option<RawSms>,
    /// `[rfm]`: the list's columns behind the segment's RFM built-ins (CAMPAIGN.md §8).
    pub rfm: Option<RawRfm>,
}

/// `script`: one file, or a list of them for an A/B campaign (with `split`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawScripts {
    One(String),
    Several(Vec<String>),
}

impl<'de> Deserialize<'de> for RawScripts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Scripts;
        impl<'de> Visitor<'de> for Scripts {
            type Value = RawScripts;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a script file in quotes, or a list of them")
            }
            fn visit_str<E: de::Error>(self, file: &str) -> Result<RawScripts, E> {
                Ok(RawScripts::One(file.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawScripts, A::Error> {
                let mut files = Vec::new();
                while let Some(file) = seq.next_element::<String>()? {
                    files.push(file);
                }
                Ok(RawScripts::Several(files))
            }
        }
        deserializer.deserialize_any(Scripts)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAction {
    pub url: Option<String>,
    pub timeout: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
    /// What the simulator answers: an output's value by name, or `fail_rate`.
    pub sim: Option<BTreeMap<String, RawSimValue>>,
}

/// A value of `sim = { … }`: as TOML writes it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum RawSimValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRfm {
    pub recency: Option<String>,
    pub frequency: Option<String>,
    pub monetary: Option<String>,
    pub as_of: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSms {
    pub url: Option<String>,
    pub sender: Option<String>,
    pub timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub timezone: Option<String>,
    pub days: Option<Vec<String>>,
    pub holidays: Option<Vec<String>>,
    pub max_concurrent: Option<i64>,
    pub calls_per_second: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    pub max_attempts: Option<i64>,
    pub on: Option<Vec<String>>,
    pub backoff: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub per_customer_per_day: Option<i64>,
    pub per_customer_per_7_days: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTelephony {
    pub kind: Option<String>,
    pub gateway: Option<String>,
    pub from: Option<String>,
    pub local: Option<String>,
    pub transport: Option<String>,
    pub media_ports: Option<String>,
    pub ring_timeout: Option<String>,
    pub auth_user: Option<String>,
    pub auth_password_env: Option<String>,
    pub asserted_identity: Option<String>,
    pub register: Option<bool>,
    pub calls_per_second: Option<f64>,
    pub max_concurrent: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSpeech {
    pub tts: Option<String>,
    pub asr: Option<String>,
    pub clips: Option<String>,
    pub voice: Option<String>,
    pub rate: Option<i64>,
    pub cache: Option<String>,
    pub vad_threshold: Option<f64>,
    pub vad_hangover: Option<String>,
    pub emotion_loudness_db: Option<f64>,
    pub emotion_pitch_ratio: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecording {
    pub enabled: Option<bool>,
    pub key_file: Option<String>,
    pub dir: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    pub url: Option<String>,
    pub lease: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSim {
    pub seed: Option<u64>,
    pub answer: Option<f64>,
    pub busy: Option<f64>,
    pub no_answer: Option<f64>,
    pub invalid_number: Option<f64>,
    pub talk: Option<String>,
}

/// The seed's JSON task shape (CAMPAIGN.md §1). Its `schedule` takes any key of `[schedule]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTask {
    pub task_id: Option<String>,
    pub customer_segment: Option<String>,
    pub script_template: Option<String>,
    pub purpose: Option<String>,
    pub jurisdiction: Option<String>,
    pub schedule: Option<RawSchedule>,
}
