//! `callscript intents eval FILE DATA.csv` (LANGUAGE.md §14): the script's intents against
//! labelled utterances, as a table with the top confusions or as JSON.

use std::io::Write as _;
use std::path::Path;

use callscript_runtime::campaign::{InputError, customers};
use std::collections::BTreeMap;

use callscript_runtime::intents::{Cluster, Evaluation, Judge, evaluate, nearest_intent};

use crate::cli::ReportFormat;
use crate::commands::compile_file;
use crate::error::{CliError, CliResult, Status};

/// Reads `text,intent` rows (an optional `text,intent` header first); a bad row is an error at
/// its line, and nothing is scored.
fn read_data(path: &Path) -> Result<Vec<(String, String)>, CliError> {
    let name = crate::files::display_name(path);
    let text = std::fs::read_to_string(path).map_err(CliError::io(format!("{name}: cannot read")))?;
    let starts = customers::line_starts(&text);
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let (mut rows, mut errors) = (Vec::new(), Vec::new());
    for (i, record) in reader.records().enumerate() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                errors.push(InputError::new(&name, e.to_string()));
                break;
            }
        };
        let line = record.position().map_or(0, |p| customers::record_line(&text, &starts, p.byte()));
        let fields: Vec<&str> = record.iter().map(str::trim).collect();
        match fields.as_slice() {
            [t, _] if i == 0 && t.eq_ignore_ascii_case("text") => {}
            [t, intent] if !t.is_empty() && !intent.is_empty() => rows.push((t.to_string(), intent.to_string())),
            _ if fields.iter().all(|f| f.is_empty()) => {}
            _ => errors.push(InputError::at(&name, line, 1, "a row holds an utterance and its intent: `text,intent`")),
        }
    }
    if !errors.is_empty() {
        return Err(CliError::Input { errors, consequence: "nothing was evaluated" });
    }
    Ok(rows)
}

pub fn eval(file: &Path, data: &Path, script: Option<&str>, format: ReportFormat) -> CliResult {
    let (checked, program) = compile_file(file, "cn")?;
    let script = match script {
        Some(name) => program
            .script(name)
            .ok_or_else(|| CliError::Usage(format!("{}: there is no script `{name}`", file.display())))?,
        None => program
            .scripts
            .first()
            .ok_or_else(|| CliError::Usage(format!("{}: the file has no script", file.display())))?,
    };
    let confidence = f32::from(script.confidence_permille) / 1000.0;
    let classifier = program.model.clone().map(callscript_compiler::learn::Classifier::new);
    // A program with a model holds every intent in scope, in the model's order.
    let tables = match &program.model {
        Some(_) => program.intents.clone(),
        None => callscript_compiler::lower::intents_in_scope(&checked, checked.files[0].id),
    };
    let judge = Judge::new(&tables, classifier.as_ref(), confidence).map_err(CliError::Refused)?;
    let rows = read_data(data)?;
    let report = evaluate(&judge, &rows);
    let text = match format {
        ReportFormat::Json => serde_json::to_string_pretty(&report).expect("a report serialises") + "\n",
        ReportFormat::Human => human(&report),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(CliError::io("cannot write the report"))?;
    Ok(Status::Success)
}

fn human(r: &Evaluation) -> String {
    let mut out = format!(
        "{} utterances: accuracy {:.1}%, macro F1 {:.3}, unknown {:.1}%, {} decided by the learned model\n\n",
        r.total,
        r.accuracy * 100.0,
        r.macro_f1,
        r.unknown_rate * 100.0,
        r.by_model
    );
    let width = r.per_intent.keys().map(|k| k.chars().count()).max().unwrap_or(6).max(6);
    out.push_str(&format!("  {:width$}  {:>9} {:>7} {:>6} {:>8}\n", "intent", "precision", "recall", "f1", "support"));
    for (name, s) in &r.per_intent {
        out.push_str(&format!(
            "  {name:width$}  {:>9.3} {:>7.3} {:>6.3} {:>8}\n",
            s.precision, s.recall, s.f1, s.support
        ));
    }
    if !r.confusion.is_empty() {
        out.push_str("\n  top confusions (expected → recognised)\n");
        for c in r.confusion.iter().take(10) {
            out.push_str(&format!("    {:>5}  {} → {}\n", c.count, c.expected, c.got));
        }
    }
    out
}

/// What `intents suggest` found, as `--format json` writes it.
#[derive(serde::Serialize)]
struct Suggestions {
    campaign: String,
    /// Replies that fell to `unknown` or `_`, grouped.
    unrecognised: Vec<Cluster>,
    /// The last words of customers whose call ended without a goal, grouped.
    refusal_reasons: Vec<Cluster>,
}

pub fn suggest(path: &Path, min_count: u64, format: ReportFormat) -> CliResult {
    let loaded = crate::campaign::load_settings(path)?;
    let store = crate::campaign::open_existing_store(&loaded)?;
    let id = &loaded.campaign.task_id;
    let rows = store.attempt_rows(id)?;
    let mut unrecognised: BTreeMap<String, u64> = BTreeMap::new();
    let mut refusals: BTreeMap<String, u64> = BTreeMap::new();
    for r in &rows {
        for u in serde_json::from_str::<Vec<String>>(&r.unrecognised).unwrap_or_default() {
            *unrecognised.entry(u).or_insert(0) += 1;
        }
        let connected = r.disposition == "answered" || r.disposition == "customer_hangup";
        if connected && !r.goal {
            let transcript = store.transcript(id, &r.customer_id, r.attempt)?.unwrap_or_default();
            let lines: Vec<serde_json::Value> = serde_json::from_str(&transcript).unwrap_or_default();
            let last = lines.iter().rev().find_map(|l| {
                (l["kind"] == "reply" && l["silence"] == false)
                    .then(|| l["text"].as_str().unwrap_or_default().to_string())
                    .filter(|t| !t.is_empty() && !t.starts_with("[dtmf") && t != callscript_runtime::telephony::MASKED)
            });
            if let Some(words) = last {
                *refusals.entry(words).or_insert(0) += 1;
            }
        }
    }
    // The script's intents, to name the nearest; without a script that compiles, none.
    let compiled = crate::checking::check_campaign(path, "cn").ok().and_then(|(checked, _)| {
        let program = checked.root_program()?.clone();
        let tables = match &program.model {
            Some(_) => program.intents.clone(),
            None => callscript_compiler::lower::intents_in_scope(&checked, checked.files[0].id),
        };
        Some((tables, program.model.clone().map(callscript_compiler::learn::Classifier::new)))
    });
    let nearest = |members: &[(String, u64)]| {
        compiled.as_ref().and_then(|(tables, model)| nearest_intent(tables, model.as_ref(), members))
    };
    let found = Suggestions {
        campaign: id.clone(),
        unrecognised: callscript_runtime::intents::suggest(&unrecognised, min_count, nearest),
        refusal_reasons: callscript_runtime::intents::suggest(&refusals, min_count, nearest),
    };
    let text = match format {
        ReportFormat::Json => serde_json::to_string_pretty(&found).expect("suggestions serialise") + "\n",
        ReportFormat::Human => {
            let mut out = format!("campaign {}\n", found.campaign);
            for (title, clusters) in
                [("unrecognised replies", &found.unrecognised), ("refusal reasons", &found.refusal_reasons)]
            {
                out.push_str(&format!("\n  {title}: {} groups\n", clusters.len()));
                for c in clusters {
                    out.push_str(&format!("\n  {:>6}  {}\n", c.count, c.samples.join(" / ")));
                    if !c.phrases.is_empty() {
                        let quoted: Vec<String> = c.phrases.iter().map(|p| format!("\"{p}\"")).collect();
                        out.push_str(&format!("          phrases {}\n", quoted.join(", ")));
                    }
                    if let Some(n) = &c.nearest {
                        out.push_str(&format!("          nearest intent: {} ({:.2})\n", n.intent, n.similarity));
                    }
                }
            }
            out
        }
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(CliError::io("cannot write the suggestions"))?;
    Ok(Status::Success)
}
