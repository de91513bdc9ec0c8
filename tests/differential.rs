//! The differential transcript test: one conversation engine, three ways in. Conversations of
//! simulated customers are run the way a sim campaign runs an answered call
//! (`sim::converse`, which `SimTelephony::dial` calls); their replies are then replayed
//! through `callscript simulate --replies` (whose stored-form transcript must be identical)
//! and written as `test` blocks (whose expectations, every prompt in order and the outcome,
//! must pass under `callscript test`). Actions are answered from `sim`-like answers or fail;
//! `simulate` gets the same answers typed (`/ok {…}`, `/failed CAUSE`), tests as `mock`s.

mod support;

use std::fmt::Write as _;
use std::sync::Arc;

use callscript_compiler::campaign::ActionConfig;
use callscript_compiler::campaign::RawSimValue;
use callscript_compiler::check::{MemoryFiles, check};
use callscript_compiler::source::Source;
use callscript_compiler::value::{Money, Value};
use callscript_runtime::telephony::sim::{Actions, Rng, converse_with};
use callscript_runtime::telephony::{CallResult, Disposition, TranscriptLine};
use callscript_runtime::vm::{CallContext, Executable, Session};
use support::{callscript, scratch};

/// An input as `simulate --input` takes it, as a `test` block writes it, and as a value.
struct Input {
    name: &'static str,
    flag: &'static str,
    literal: &'static str,
    value: Value,
}

fn text(name: &'static str, v: &'static str, literal: &'static str) -> Input {
    Input { name, flag: v, literal, value: Value::Text(v.into()) }
}

fn examples() -> Vec<(&'static str, &'static str, Vec<Input>)> {
    vec![
        (
            "examples/loan_reminder/loan_reminder.call",
            "loan_reminder",
            vec![
                text("customer_name", "张三", "\"张三\""),
                Input { name: "days_overdue", flag: "5", literal: "5", value: Value::Int(5) },
                Input {
                    name: "amount_due",
                    flag: "1200.50",
                    literal: "1200.50",
                    value: Value::Money(Money::from_cents(120_050)),
                },
                text("account_tail", "8831", "\"8831\""),
            ],
        ),
        (
            "examples/card_activation/card_activation.call",
            "card_activation",
            vec![
                text("customer_name", "李四", "\"李四\""),
                text("card_tail", "3318", "\"3318\""),
                Input { name: "annual_fee_waived", flag: "false", literal: "false", value: Value::Bool(false) },
                Input {
                    name: "annual_fee",
                    flag: "300",
                    literal: "300.00",
                    value: Value::Money(Money::from_cents(30_000)),
                },
            ],
        ),
        // Captures (§11): scores by voice or key, remarks as text.
        (
            "examples/survey/survey.call",
            "survey",
            vec![
                text("customer_name", "王芳", "\"王芳\""),
                text("service", "账单分期", "\"账单分期\""),
                Input {
                    name: "service_date",
                    flag: "2026-11-20",
                    literal: "2026-11-20",
                    value: Value::Date(callscript_compiler::value::Date::new(2026, 11, 20).unwrap()),
                },
            ],
        ),
    ]
}

/// The actions of the examples as a simulated campaign answers them (a third fail), with each
/// output's value (literal form: JSON strings for `simulate`, literals for `mock`s).
const ACTIONS: &[(&str, &[(&str, &str)])] = &[("balance_lookup", &[("balance", "980.00"), ("due", "2026-11-30")])];

fn actions() -> Actions {
    ACTIONS
        .iter()
        .map(|(name, outputs)| {
            let config = ActionConfig {
                url: "http://127.0.0.1:9/none".into(),
                timeout: None,
                headers: Default::default(),
                sim: outputs.iter().map(|(k, v)| (k.to_string(), RawSimValue::Text(v.to_string()))).collect(),
                fail_rate: 0.33,
            };
            (name.to_string(), config)
        })
        .collect()
}

fn outputs(action: &str) -> &'static [(&'static str, &'static str)] {
    ACTIONS.iter().find(|(name, _)| *name == action).map_or(&[], |(_, outputs)| *outputs)
}

/// A stored reply, read back.
enum Spoken<'a> {
    Silence,
    Keys(&'a str),
    Feeling(&'a str, &'a str),
    Words(&'a str),
}

fn spoken<'a>(text: &'a str, silence: bool, emotion: Option<&'static str>) -> Spoken<'a> {
    match (silence, text.strip_prefix("[dtmf ").and_then(|k| k.strip_suffix(']')), emotion) {
        (true, ..) => Spoken::Silence,
        (_, Some(keys), _) => Spoken::Keys(keys),
        (_, _, Some(e)) => Spoken::Feeling(e, text),
        _ => Spoken::Words(text),
    }
}

/// The replies of a conversation, one per line, as `simulate` reads them.
fn replies_file(result: &CallResult) -> String {
    let mut out = String::new();
    for line in &result.transcript {
        match line {
            TranscriptLine::Reply { text, silence, emotion, .. } => {
                let reply = match spoken(text, *silence, *emotion) {
                    Spoken::Silence => "/silence".to_string(),
                    Spoken::Keys(keys) => format!("/dtmf {keys}"),
                    Spoken::Feeling(e, text) => format!("/{e} {text}"),
                    Spoken::Words(text) => text.to_string(),
                };
                writeln!(out, "{reply}").unwrap();
            }
            TranscriptLine::Action { name, ok: true, .. } => {
                let json: serde_json::Map<String, serde_json::Value> =
                    outputs(name).iter().map(|(k, v)| (k.to_string(), serde_json::Value::from(*v))).collect();
                writeln!(out, "/ok {}", serde_json::Value::Object(json)).unwrap();
            }
            TranscriptLine::Action { ok: false, cause, .. } => {
                writeln!(out, "/failed {}", cause.as_deref().unwrap_or_default()).unwrap();
            }
            _ => {}
        }
    }
    if result.disposition == Disposition::CustomerHangup {
        out.push_str("/hangup\n");
    }
    out
}

fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A `test` block that replays the conversation and expects each prompt, in order, and the end.
fn test_block(name: &str, script: &str, inputs: &[Input], result: &CallResult) -> String {
    let mut out = format!("test {} for {script} {{\n  input {{ ", quoted(name));
    let given: Vec<String> = inputs.iter().map(|i| format!("{}: {}", i.name, i.literal)).collect();
    out.push_str(&given.join(", "));
    out.push_str(" }\n");
    for line in &result.transcript {
        match line {
            TranscriptLine::Prompt { text, .. } => {
                // Masked values (`****`) are not in what was said: expect the longest clear part.
                let clear = text.split('*').max_by_key(|part| part.chars().count()).unwrap_or_default();
                if !clear.is_empty() {
                    writeln!(out, "  expect say {}", quoted(clear)).unwrap();
                }
            }
            TranscriptLine::Reply { text, silence, emotion, .. } => {
                let reply = match spoken(text, *silence, *emotion) {
                    Spoken::Silence => "silence".to_string(),
                    Spoken::Keys(keys) => format!("dtmf {}", quoted(keys)),
                    Spoken::Feeling(e, text) => format!("emotion {e} {}", quoted(text)),
                    Spoken::Words(text) => quoted(text),
                };
                writeln!(out, "  reply {reply}").unwrap();
            }
            // A `do` runs before the statements up to the next reply: its mock goes here.
            TranscriptLine::Action { name, ok: true, .. } => {
                let given: Vec<String> = outputs(name).iter().map(|(k, v)| format!("{k}: {v}")).collect();
                writeln!(out, "  mock {name} ok {{ {} }}", given.join(", ")).unwrap();
            }
            TranscriptLine::Action { name, ok: false, .. } => writeln!(out, "  mock {name} failed").unwrap(),
            TranscriptLine::Sms { text } => {
                let clear = text.split('*').max_by_key(|part| part.chars().count()).unwrap_or_default();
                writeln!(out, "  expect sms {}", quoted(clear)).unwrap();
            }
            // The transcripts compared line by line already hold what was captured and handed over.
            TranscriptLine::Captured { .. } | TranscriptLine::Handover { .. } => {}
        }
    }
    match (&result.outcome, result.disposition) {
        (_, Disposition::CustomerHangup) => out.push_str("  hangup\n"),
        (Some(outcome), _) => writeln!(out, "  expect hangup {outcome}").unwrap(),
        (None, d) => panic!("{name}: a simulated call ended {d:?} without an outcome"),
    }
    out.push_str("}\n");
    out
}

#[test]
fn sim_simulate_and_test_agree_on_every_transcript() {
    let tmp = scratch("differential");
    let dir = tmp.path();
    let root = env!("CARGO_MANIFEST_DIR");
    let mut compared = 0;
    let actions = actions();
    // Both branches of the examples' actions are replayed.
    let (mut answered, mut failed) = (0, 0);
    for (path, script, inputs) in examples() {
        let source = std::fs::read_to_string(format!("{root}/{path}")).unwrap();
        let checked = check(vec![Source::new(path, source.clone())], &mut MemoryFiles::default());
        assert_eq!(checked.error_count(), 0, "{path}: {:?}", checked.diagnostics);
        let program = callscript_compiler::lower::lower(&checked, checked.files[0].id);
        let max_duration_ms = program.script(script).and_then(|s| s.max_duration_ms);
        let exec = Executable::new(program).unwrap();
        let mut tests = source.clone();
        for seed in 0..40u64 {
            let values = inputs.iter().map(|i| (i.name.to_string(), i.value.clone()));
            let session = Session::start(Arc::clone(&exec), script, values, CallContext::default()).unwrap();
            let result = converse_with(session, &mut Rng::new(seed), max_duration_ms, &actions);
            let name = format!("{script} seed {seed}");
            for line in &result.transcript {
                if let TranscriptLine::Action { ok, .. } = line {
                    *if *ok { &mut answered } else { &mut failed } += 1;
                }
            }

            let replies = dir.join(format!("{script}-{seed}.replies"));
            let transcript = dir.join(format!("{script}-{seed}.json"));
            std::fs::write(&replies, replies_file(&result)).unwrap();
            let mut args = vec!["simulate".to_string(), path.to_string()];
            for i in &inputs {
                args.extend(["--input".to_string(), format!("{}={}", i.name, i.flag)]);
            }
            // The scripted customer's `today` (CallContext's default, a test's default too).
            args.extend(["--today".into(), callscript_runtime::vm::DEFAULT_TODAY.to_string()]);
            args.extend(["--replies".into(), replies.display().to_string()]);
            args.extend(["--transcript".into(), transcript.display().to_string()]);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = callscript(&args);
            assert!(out.status.code().is_some_and(|c| c <= 1), "{name}: {}", String::from_utf8_lossy(&out.stderr));
            let simulated: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&transcript).unwrap()).unwrap();
            assert_eq!(
                simulated,
                serde_json::to_value(&result.transcript).unwrap(),
                "{name}: simulate --replies told another conversation\n{}",
                String::from_utf8_lossy(&out.stdout)
            );

            tests.push('\n');
            tests.push_str(&test_block(&name, script, &inputs, &result));
            compared += 1;
        }
        let file = dir.join(format!("{script}.call"));
        std::fs::write(&file, tests).unwrap();
        let out = callscript(&["test", &file.display().to_string()]);
        assert!(
            out.status.success(),
            "{script}: the replayed conversations fail as tests\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(compared, 120);
    assert!(answered > 0 && failed > 0, "{answered} actions answered, {failed} failed");
}
