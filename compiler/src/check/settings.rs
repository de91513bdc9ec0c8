//! Script settings (LANGUAGE.md §3): which names there are, each read once, with its kind of
//! value checked and defaults applied.

use rustc_hash::FxHashMap as HashMap;

use crate::diagnostic::Diagnostic;
use crate::span::{SourceId, Span};
use crate::suggest::closest;
use crate::syntax::ast::*;

/// The settings of §3 with defaults applied.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub purpose: Option<String>,
    pub product: Option<String>,
    pub locale: String,
    pub max_duration_ms: Option<u64>,
    pub listen_timeout_ms: u64,
    /// §11: how long after the last key a `digits` entry is complete.
    pub digit_timeout_ms: u64,
    pub voice: Option<String>,
    /// `bargein off` (§12): every prompt of the script is uninterruptible.
    pub bargein_off: bool,
    /// §14: the least probability at which the learned model's intent decides a turn.
    pub confidence: f32,
}

/// §14's default `confidence`.
pub const DEFAULT_CONFIDENCE: f32 = 0.5;

/// §11's default `digit_timeout`.
pub const DEFAULT_DIGIT_TIMEOUT_MS: u64 = 3_000;

pub const PURPOSES: &[&str] = &["collection", "marketing", "service", "verification"];
pub const PRODUCTS: &[&str] = &["investment", "insurance", "deposit", "loan", "card"];
/// The script settings, as §3, §11 and §12 list them (also what the editor completes).
pub const SETTINGS: &[&str] = &[
    "purpose",
    "product",
    "locale",
    "max_duration",
    "listen_timeout",
    "digit_timeout",
    "voice",
    "bargein",
    "confidence",
];

/// Reads one setting into `settings`: an unknown name, a second setting of one name or a
/// value of the wrong kind is E111.
pub fn read<'a>(
    id: SourceId,
    setting: &'a Setting,
    seen: &mut HashMap<&'a str, Span>,
    settings: &mut Settings,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let name = setting.name.name.as_str();
    if !SETTINGS.contains(&name) {
        let mut d = Diagnostic::new("E111", id, setting.name.span, format!("`{name}` is not a script setting"))
            .label("unknown setting");
        d = match closest(name, SETTINGS.iter().copied()) {
            Some(s) => d.with_help(format!("did you mean `{s}`?")),
            None => d.with_help(
                "the settings are `purpose`, `product`, `locale`, `max_duration`, `listen_timeout`, `digit_timeout`, `voice`, `bargein` and `confidence`",
            ),
        };
        diagnostics.push(d);
        return;
    }
    if let Some(prev) = seen.insert(name, setting.name.span) {
        diagnostics.push(
            Diagnostic::new("E111", id, setting.name.span, format!("`{name}` is set twice"))
                .label("second setting")
                .with_secondary(id, prev, "first set here"),
        );
        return;
    }
    apply(id, setting, settings, diagnostics);
}

fn apply(id: SourceId, setting: &Setting, settings: &mut Settings, diagnostics: &mut Vec<Diagnostic>) {
    let name = setting.name.name.as_str();
    let bad = |expected: &str| {
        Diagnostic::new("E111", id, setting.span, format!("`{name}` takes {expected}")).label("wrong kind of value")
    };
    match (name, &setting.value) {
        (_, SettingValue::Missing) => {}
        ("purpose" | "product", SettingValue::Word(word)) => {
            let list = if name == "purpose" { PURPOSES } else { PRODUCTS };
            if list.contains(&word.name.as_str()) {
                if name == "purpose" {
                    settings.purpose = Some(word.name.clone());
                } else {
                    settings.product = Some(word.name.clone());
                }
            } else {
                let mut d = Diagnostic::new("E111", id, word.span, format!("`{}` is not a {name}", word.name))
                    .label(format!("unknown {name}"));
                d = match closest(&word.name, list.iter().copied()) {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None => d.with_help(format!(
                        "the choices are {}",
                        list.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")
                    )),
                };
                if name == "purpose" {
                    settings.purpose = Some(word.name.clone());
                }
                diagnostics.push(d);
            }
        }
        ("purpose" | "product", _) => diagnostics.push(bad("a word such as `collection`")),
        ("bargein", SettingValue::Word(w)) if w.name == "off" || w.name == "on" => {
            settings.bargein_off = w.name == "off"
        }
        ("bargein", _) => diagnostics.push(bad("`off` (`bargein off`: no prompt of the script can be interrupted)")),
        ("locale", SettingValue::Str(s)) => match crate::filters::Locale::from_tag(&s.value) {
            Some(locale) => settings.locale = locale.tag().to_owned(),
            None => diagnostics.push(unsupported_locale(id, s)),
        },
        ("voice", SettingValue::Str(s)) => settings.voice = Some(s.value.clone()),
        ("locale" | "voice", _) => diagnostics.push(bad("a string in quotes")),
        ("max_duration", SettingValue::Duration(d)) => settings.max_duration_ms = Some(d.millis),
        ("listen_timeout", SettingValue::Duration(d)) => settings.listen_timeout_ms = d.millis,
        ("digit_timeout", SettingValue::Duration(d)) => settings.digit_timeout_ms = d.millis,
        ("confidence", SettingValue::Number { value, .. }) if (0.0..=1.0).contains(value) => {
            settings.confidence = *value as f32
        }
        ("confidence", _) => diagnostics.push(bad("a number from 0 to 1, such as `0.6` (§14)")),
        _ => diagnostics.push(bad("a duration such as `3m` or `6s`")),
    }
}

/// E111 for a `locale` the prompt filters have no readings for: its values would be read in
/// the wrong language.
fn unsupported_locale(id: SourceId, tag: &StrLit) -> Diagnostic {
    let locales = crate::filters::LOCALES;
    let mut d =
        Diagnostic::new("E111", id, tag.span, format!("`{}` is not a locale CallScript can read values in", tag.value))
            .label("no readings for this locale");
    let list = locales.iter().map(|l| format!("`{l}`")).collect::<Vec<_>>().join(" and ");
    d = match closest(&tag.value, locales.iter().copied()) {
        Some(l) => d.with_help(format!(
            "did you mean `{l}`? The locales with readings of `money`, `number`, `date` and `digits` are {list}"
        )),
        None => d.with_help(format!("the locales with readings of `money`, `number`, `date` and `digits` are {list}")),
    };
    d
}
