//! Speech output end to end: the loan reminder example's clips and espeak-ng voice the
//! prompts a session plays.

use std::path::Path;
use std::sync::Arc;

use callscript_compiler::check::{MemoryFiles, check};
use callscript_compiler::source::Source;
use callscript_compiler::value::{Money, Value};
use callscript_runtime::campaign;
use callscript_runtime::telephony::speech::{Speaker, tts::Espeak};
use callscript_runtime::vm::{Action, CallContext, Event, Executable, Session};

#[test]
fn the_example_clips_voice_a_call() {
    if Espeak::find("cmn", 160).is_err() {
        // CI installs espeak-ng and sets this: there the test must run, not skip.
        assert!(std::env::var_os("CALLSCRIPT_REQUIRE_ESPEAK").is_none(), "espeak-ng is required");
        eprintln!("espeak-ng is not installed; skipped");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/loan_reminder");
    let mut loaded = campaign::load(&root.join("campaign.toml")).unwrap();
    loaded.campaign.speech.tts = callscript_runtime::campaign::Tts::Clips;
    loaded.campaign.speech.cache = None;
    let text = std::fs::read_to_string(root.join("loan_reminder.call")).unwrap();
    let checked = check(vec![Source::new("loan_reminder.call", text)], &mut MemoryFiles::default());
    let program = callscript_compiler::lower::lower(&checked, checked.files[0].id);
    let exec = Executable::new(program).unwrap();
    let speaker = Speaker::new(&loaded).unwrap();
    let ready = speaker.prepare(&exec.program, &exec.program.scripts[0]).unwrap();
    assert!(ready >= 18, "{ready}");

    let inputs = vec![
        ("customer_name".to_string(), Value::Text("张三".into())),
        ("days_overdue".to_string(), Value::Int(5)),
        ("amount_due".to_string(), Value::Money(Money::from_cents(120_050))),
        ("account_tail".to_string(), Value::Text("8831".into())),
    ];
    let mut session = Session::start(Arc::clone(&exec), "loan_reminder", inputs, CallContext::default()).unwrap();
    let mut event = Event::Done;
    let mut seconds = Vec::new();
    for _ in 0..12 {
        match session.step(std::mem::replace(&mut event, Event::Done)) {
            Action::Play { pieces, .. } => {
                let audio = speaker.speak(&pieces).unwrap();
                seconds.push(audio.len() as f64 / 8_000.0);
            }
            Action::Listen { .. } if seconds.len() < 3 => {
                event = Event::Utterance { text: "是我".into(), emotion: None }
            }
            Action::Listen { .. } => break,
            // The balance lookup fails: the list's amount is read.
            Action::CallAction { .. } => event = Event::ActionResult(Err("no core system here".into())),
            _ => {}
        }
    }
    // The notice, the identity question, the reminder with its amount, the question.
    assert_eq!(seconds.len(), 4, "{seconds:?}");
    assert!(seconds.iter().all(|s| (0.5..15.0).contains(s)), "{seconds:?}");
}
