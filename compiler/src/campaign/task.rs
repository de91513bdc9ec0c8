//! The seed's JSON task (CAMPAIGN.md §1): read into the same raw campaign as a TOML file, so it
//! is checked exactly like one (schedule, CS009 and all); `script_template` becomes a
//! one-prompt script.

use crate::check::settings::PURPOSES;
use crate::diagnostic::Diagnostic;
use crate::span::{SourceId, Span};

use super::schema::{RawCampaign, RawTask};
use super::{Parsed, Spans};

/// The seed's `script_template`, turned into a one-prompt script once its inputs are typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskTemplate {
    pub task_id: String,
    pub template: String,
    pub purpose: String,
    /// `customer_segment`: a segment name (a CSV `segment` column or a segments file's entry).
    pub segment_name: Option<String>,
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
    /// delivered }`, with the given typed inputs. The task id is checked to hold no quote
    /// ([`super::values::task_id`]), and the template is escaped.
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
}

/// Byte offset in `text` of a 1-based line and column as serde_json counts them.
fn offset(text: &str, line: usize, column: usize) -> usize {
    let start: usize = text.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum();
    text.floor_char_boundary((start + column.saturating_sub(1)).min(text.len()))
}

pub(super) fn parse(file: SourceId, text: &str) -> Result<Parsed, Diagnostic> {
    let at = |e: &serde_json::Error| {
        let o = offset(text, e.line(), e.column());
        Span::new(o, text.ceil_char_boundary(o + 1).min(text.len()))
    };
    // Syntax first, so that a value of the wrong kind is told apart from broken JSON.
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
        let message = e.to_string();
        let message = message.split(" at line ").next().unwrap_or(&message).to_string();
        return Err(Diagnostic::new("E600", file, at(&e), "the task file is not valid JSON")
            .label(message)
            .with_help("see CAMPAIGN.md §1 for the JSON task's form"));
    }
    let task: RawTask = serde_json::from_str(text).map_err(|e| {
        let message = e.to_string();
        let message = message.split(" at line ").next().unwrap_or(&message).to_string();
        let mut span = at(&e);
        // serde_json stands after an unknown key; point at the key itself.
        if let Some(key) = message.strip_prefix("unknown field `").and_then(|r| r.split('`').next()) {
            let quoted = format!("\"{key}\"");
            if let Some(start) = text[..span.end as usize].rfind(&quoted) {
                span = Span::new(start, start + quoted.len());
            }
        }
        super::schema_error(file, span, &message)
    })?;
    let spans = Spans::of_json(text);
    let purpose = task.purpose.clone().unwrap_or_else(|| "service".into());
    if !PURPOSES.contains(&purpose.as_str()) {
        return Err(Diagnostic::new("E604", file, spans.at("purpose"), format!("`{purpose}` is not a purpose"))
            .label("`purpose`")
            .with_help(format!("the purposes are {}", PURPOSES.join(", "))));
    }
    let Some(template) = task.script_template else {
        return Err(Diagnostic::new("E603", file, Span::new(0, 0), "the task has no `script_template`")
            .label("the task starts here")
            .with_help("add \"script_template\": the text the call says, with {{names}} from the customer list"));
    };
    let template = TaskTemplate {
        task_id: task.task_id.clone().unwrap_or_default(),
        template,
        purpose,
        segment_name: task.customer_segment,
    };
    let raw = RawCampaign {
        task_id: task.task_id,
        script: Some(super::schema::RawScripts::One("(generated)".into())),
        jurisdiction: task.jurisdiction,
        schedule: task.schedule,
        ..RawCampaign::default()
    };
    Ok((raw, spans, Some(template)))
}
