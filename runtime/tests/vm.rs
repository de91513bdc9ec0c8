//! VM invariants: on every example, random event sequences never panic and always end in a
//! hangup or transfer with a declared outcome (or a customer hang-up) within the step budget.

use std::sync::Arc;

use callscript_compiler::bytecode::{Emotion, Program};
use callscript_compiler::check::{Checked, MemoryFiles, check};
use callscript_compiler::source::Source;
use callscript_compiler::value::{Date, Money, Value};
use callscript_runtime::vm::{Action, CallContext, EndReason, Event, Executable, Session};
use proptest::prelude::*;

const EXAMPLES: &[(&str, &str)] = &[
    ("loan_reminder.call", include_str!("../../examples/loan_reminder/loan_reminder.call")),
    ("card_activation.call", include_str!("../../examples/card_activation/card_activation.call")),
    ("wealth_marketing.call", include_str!("../../examples/wealth_marketing/wealth_marketing.call")),
];

fn compile(name: &str, text: &str) -> Program {
    let checked: Checked = check(vec![Source::new(name, text)], &mut MemoryFiles::default());
    assert_eq!(checked.error_count(), 0, "{:?}", checked.diagnostics);
    callscript_compiler::lower::lower(&checked, checked.files[0].id)
}

/// Plausible values for every input of a script.
fn inputs(program: &Program, script: usize) -> Vec<(String, Value)> {
    program.scripts[script].slots.iter().filter(|s| s.input).map(|s| (s.name.clone(), sample(s.ty))).collect()
}

/// A value of each type, as the tests' customers and systems give them.
fn sample(ty: callscript_compiler::syntax::ast::Type) -> Value {
    use callscript_compiler::syntax::ast::Type;
    match ty {
        Type::Text => Value::Text("8831".into()),
        Type::Int => Value::Int(3),
        Type::Money => Value::Money(Money::from_cents(120_050)),
        Type::Bool => Value::Bool(true),
        Type::Date => Value::Date(Date::parse("2026-11-24").unwrap()),
        Type::Time => Value::Time(callscript_compiler::value::Time::new(15, 30).unwrap()),
    }
}

/// The bank's system answering `action` (§13): every output, or a failure.
fn action_answer(exec: &Executable, action: &str, ok: bool) -> Event {
    if !ok {
        return Event::ActionResult(Err("the system is down".into()));
    }
    let code = exec.program.scripts.iter().flat_map(|s| &s.actions).find(|a| a.name == action).unwrap();
    Event::ActionResult(Ok(code.outputs.iter().map(|(name, ty, _)| (name.clone(), sample(*ty))).collect()))
}

const UTTERANCES: &[&str] = &[
    "是我",
    "不是",
    "不是我",
    "我今天下午就还",
    "利率太高了",
    "我在开会",
    "你们烦不烦",
    "我要投诉",
    "不要再给我打电话了",
    "你是谁",
    "再说一遍",
    "嗯",
    "",
    "好的好的",
    "我已经还了",
    "我没钱",
    "什么产品",
    "可以",
    "不需要",
    "ＯＫ",
];

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        4 => (0..UTTERANCES.len()).prop_map(|i| Event::Utterance { text: UTTERANCES[i].into(), emotion: None }),
        1 => (0..UTTERANCES.len(), 0..4usize).prop_map(|(i, e)| Event::Utterance {
            text: UTTERANCES[i].into(),
            emotion: Some([Emotion::Angry, Emotion::Upset, Emotion::Neutral, Emotion::Happy][e]),
        }),
        1 => "[0-9*#]{1,2}".prop_map(Event::Dtmf),
        2 => Just(Event::Silence),
        3 => Just(Event::Done),
        1 => Just(Event::CustomerHangup),
        1 => Just(Event::MaxDuration),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_events_always_end_properly(which in 0..EXAMPLES.len(), events in proptest::collection::vec(event(), 0..60)) {
        let (name, text) = EXAMPLES[which];
        let program = compile(name, text);
        let inputs = inputs(&program, 0);
        let script_name = program.scripts[0].name.clone();
        let exec = Executable::new(program).unwrap();
        let mut session = Session::start(Arc::clone(&exec), &script_name, inputs, CallContext::default()).unwrap();
        let script = &exec.program.scripts[0];
        let mut events = events.into_iter();
        let mut pending = Event::Done;
        let mut finished = None;
        let mut actions = 0;
        for _ in 0..10_000 {
            let action = session.step(std::mem::replace(&mut pending, Event::Done));
            match &action {
                Action::CallAction { action, .. } => {
                    // The bank's system answers every other call.
                    actions += 1;
                    pending = action_answer(&exec, action, actions % 2 == 1);
                }
                Action::Listen { .. } => {
                    // Out of scripted events: the customer stays silent.
                    pending = events.next().unwrap_or(Event::Silence);
                }
                Action::Hangup { outcome } | Action::Transfer { outcome, .. } => {
                    prop_assert!((*outcome as usize) < script.outcomes.len());
                    finished = Some(action.clone());
                    break;
                }
                Action::End(EndReason::CustomerHangup) => {
                    finished = Some(action.clone());
                    break;
                }
                Action::End(EndReason::Failed { message, .. }) => {
                    prop_assert!(false, "the call failed: {message}");
                }
                _ => {
                    // Play/record acknowledgements; sometimes the customer barges in.
                    if let Some(e) = events.next()
                        && !matches!(e, Event::CustomerHangup | Event::MaxDuration)
                    {
                        pending = e;
                    }
                }
            }
        }
        prop_assert!(finished.is_some(), "the call never ended");
        prop_assert!(session.is_over());
        // An ended session keeps answering without panicking.
        let _ = session.step(Event::Silence);
    }
}

#[test]
fn a_parked_session_is_small() {
    let program = compile(EXAMPLES[0].0, EXAMPLES[0].1);
    let inputs = inputs(&program, 0);
    let exec = Executable::new(program).unwrap();
    let mut session = Session::start(Arc::clone(&exec), "loan_reminder", inputs, CallContext::default()).unwrap();
    while !matches!(session.step(Event::Done), Action::Listen { .. }) {}
    let total = session.owned_bytes();
    assert!(total <= 1024, "a parked session takes {total} bytes");
}

#[test]
fn play_pieces_split_the_text_into_written_text_and_values() {
    use callscript_compiler::bytecode::Filter;
    use callscript_runtime::vm::{PieceKind, SpeechPiece};
    let program = compile(EXAMPLES[0].0, EXAMPLES[0].1);
    let inputs = inputs(&program, 0);
    let exec = Executable::new(program).unwrap();
    let mut session = Session::start(Arc::clone(&exec), "loan_reminder", inputs, CallContext::default()).unwrap();
    let mut plays = Vec::new();
    let mut event = Event::Done;
    for _ in 0..20 {
        match session.step(std::mem::replace(&mut event, Event::Done)) {
            Action::Play { text, pieces, .. } => {
                let joined: String = pieces.iter().map(|p| p.text.as_str()).collect();
                assert_eq!(joined, text);
                plays.push(pieces);
            }
            Action::Listen { .. } if plays.len() < 3 => {
                event = Event::Utterance { text: "是我".into(), emotion: None }
            }
            Action::Listen { .. } => break,
            Action::CallAction { action, .. } => event = action_answer(&exec, &action, true),
            _ => {}
        }
    }
    let remind = plays.iter().find(|p| p.iter().any(|s| s.kind == PieceKind::Value(Some(Filter::Money)))).unwrap();
    let piece = |text: &str, kind| SpeechPiece { text: text.into(), kind };
    assert_eq!(
        remind,
        &vec![
            piece("您尾号", PieceKind::Static),
            piece("八八三幺", PieceKind::Value(Some(Filter::Digits))),
            piece("的贷款已逾期", PieceKind::Static),
            piece("3", PieceKind::Value(None)),
            piece("天,应还金额", PieceKind::Static),
            piece("一千二百元五角", PieceKind::Value(Some(Filter::Money))),
            piece("。", PieceKind::Static),
        ]
    );
}

/// A call waiting for an action still hears the customer: a key pressed meanwhile answers
/// the next question, and the action's latency is the time it took (§13).
#[test]
fn keys_pressed_while_an_action_runs_answer_the_next_question() {
    use callscript_runtime::call::{Command, Input};
    let program = compile(
        "act.call",
        r#"use std.zh.common
action lookup {
  input { ref: text }
  output { balance: money }
}
script act "动作时按键" {
  purpose service
  outcomes { confirmed goal, other }
  opening {
    say "您好，这里是星海银行，本次通话将被录音。"
    do lookup(ref = "LN-1") timeout 2s {
      on ok => goto core
      on failed => hangup other
    }
  }
  core {
    ask "确认请按1。" {
      on dtmf "1" => hangup confirmed
      on silence, unknown => hangup other
    }
  }
  objection { on emotion angry, complaint => transfer "agents" }
}
"#,
    );
    let mut driver = started(program, "act");
    assert!(matches!(driver.poll_command(), Some(Command::Play { .. })));
    driver.handle(3_000, Input::PromptFinished);
    assert!(matches!(driver.poll_command(), Some(Command::CallAction { ref action, .. }) if action == "lookup"));
    driver.handle(3_400, Input::Key('1'));
    let balance = Value::Money(Money::from_cents(120_050));
    driver.handle(3_900, Input::ActionResult(Ok(vec![("balance".into(), balance)])));
    while let Some(command) = driver.poll_command() {
        if matches!(command, Command::Play { .. }) {
            driver.handle(6_000, Input::PromptFinished);
        }
    }
    assert!(driver.is_over());
    let result = driver.result();
    assert_eq!(result.outcome.as_deref(), Some("confirmed"), "{result:?}");
    assert_eq!((result.actions[0].ok, result.actions[0].latency_ms), (true, 900));
}

/// A `do` says which branch the action's answer took (§13): `ok` for an answer with every
/// output of its type, `failed` for a failure and for an answer of the wrong shape.
#[test]
fn a_do_tells_the_branch_its_answer_takes() {
    let text = r#"use std.zh.common
action lookup {
  input { tail: text }
  output { balance: money }
}
script s {
  purpose service
  input { tail: text }
  outcomes { paid, failed_lookup }
  opening {
    say "您好,本次通话将被录音。"
    do lookup(tail = tail) {
      on ok => hangup paid
      on failed => hangup failed_lookup
    }
  }
}
"#;
    let program = compile("do.call", text);
    let exec = Executable::new(program).unwrap();
    let script = &exec.program.scripts[0];
    let ended_with = |answer: Result<Vec<(String, Value)>, String>| {
        let inputs = vec![("tail".to_string(), Value::Text("8831".into()))];
        let mut session = Session::start(Arc::clone(&exec), "s", inputs, CallContext::default()).unwrap();
        let mut event = Event::Done;
        let mut seen = Vec::new();
        for _ in 0..20 {
            match session.step(std::mem::replace(&mut event, Event::Done)) {
                Action::CallAction { .. } => event = Event::ActionResult(answer.clone()),
                Action::DoBranch { call, ok } => seen.push((call, ok)),
                Action::Hangup { outcome } => return (seen, script.outcomes[outcome as usize].name.clone()),
                _ => {}
            }
        }
        panic!("the call did not end");
    };
    let balance = vec![("balance".to_string(), Value::Money(Money::from_cents(120_050)))];
    assert_eq!(ended_with(Ok(balance)), (vec![(0, true)], "paid".to_string()));
    assert_eq!(ended_with(Err("timeout".into())), (vec![(0, false)], "failed_lookup".to_string()));
    let mistyped = vec![("balance".to_string(), Value::Text("many".into()))];
    assert_eq!(ended_with(Ok(mistyped)), (vec![(0, false)], "failed_lookup".to_string()));
}

/// An answer the VM cannot read into the outputs is kept as a failure with its cause, not as
/// `ok`: the transcript and the store agree with the branch taken.
#[test]
fn a_mistyped_answer_is_a_failed_call_in_the_log() {
    use callscript_runtime::call::{Command, Input};
    let program = compile(
        "do.call",
        r#"use std.zh.common
action lookup {
  output { balance: money }
}
script s {
  purpose service
  outcomes { paid, failed_lookup }
  opening {
    say "您好,本次通话将被录音。"
    do lookup() {
      on ok => hangup paid
      on failed => hangup failed_lookup
    }
  }
}
"#,
    );
    let mut driver = started(program, "s");
    while let Some(command) = driver.poll_command() {
        match command {
            Command::Play { .. } => driver.handle(2_000, Input::PromptFinished),
            Command::CallAction { .. } => {
                let mistyped = vec![("balance".to_string(), Value::Text("many".into()))];
                driver.handle(2_300, Input::ActionResult(Ok(mistyped)));
            }
            _ => {}
        }
    }
    let result = driver.result();
    assert_eq!(result.outcome.as_deref(), Some("failed_lookup"));
    assert!(!result.actions[0].ok, "{:?}", result.actions);
    assert_eq!(result.actions[0].cause.as_deref(), Some("the answer does not hold every output with its type"));
}

/// Emotion on real calls (§15): a shout the recogniser made no words of still answers, and
/// reaches `on emotion angry`; the transcript says why it was angry, masking nothing here.
#[test]
fn an_angry_voice_without_words_reaches_the_angry_branch_and_the_transcript_says_why() {
    use callscript_runtime::call::{Command, EmotionCause, HeardEmotion, Input};
    let program = compile(
        "angry.call",
        r#"use std.zh.common
script s "怒" {
  purpose service
  outcomes { calm goal, escalated }
  opening {
    say "您好，这里是星海银行，本次通话将被录音。"
    ask "请问是本人吗?" retries 2 {
      on emotion angry => transfer "agents" outcome escalated
      on yes => hangup calm
      on silence, unknown => retry
      on exhausted => hangup calm
    }
  }
  objection { on emotion angry, complaint => transfer "agents" }
}
"#,
    );
    let mut driver = started(program, "s");
    let mut now = 0;
    let mut heard = vec![
        // Neither words nor feeling: not an answer, the call keeps listening.
        Input::Heard { text: String::new(), emotion: None },
        Input::Heard {
            text: String::new(),
            emotion: Some(HeardEmotion {
                emotion: Emotion::Angry,
                why: vec![EmotionCause::Voice("voice +9.5 dB, pitch ×1.42 over the first utterance".into())],
            }),
        },
    ]
    .into_iter();
    while !driver.is_over() {
        let Some(command) = driver.poll_command() else {
            now += 500;
            let input = heard.next().expect("the call ends before the customer runs out of words");
            driver.handle(now, input);
            continue;
        };
        now += 100;
        match command {
            Command::Play { .. } => driver.handle(now, Input::PromptFinished),
            Command::Transfer { .. } => driver.handle(now, Input::TransferResult(Ok(()))),
            _ => {}
        }
    }
    let result = driver.result();
    assert_eq!(result.outcome.as_deref(), Some("escalated"), "{result:?}");
    let lines = serde_json::to_value(&result.transcript).unwrap();
    let replies: Vec<&serde_json::Value> = lines.as_array().unwrap().iter().filter(|l| l["kind"] == "reply").collect();
    assert_eq!(
        replies,
        [&serde_json::json!({
            "kind": "reply",
            "text": "",
            "silence": false,
            "emotion": "angry",
            "emotion_why": "voice +9.5 dB, pitch ×1.42 over the first utterance",
        })]
    );
}

/// A customer who barges into the question with a long answer is still talking when the
/// listen starts: its silence timer waits for the utterance to end instead of hearing silence.
#[test]
fn a_long_answer_that_barged_in_is_not_cut_by_the_listen_timeout() {
    use callscript_runtime::call::{Command, Input};
    let program = compile(
        "long.call",
        r#"use std.zh.common
script s "长" {
  purpose service
  listen_timeout 2s
  outcomes { agreed goal, quiet }
  opening {
    say "您好，这里是星海银行，本次通话将被录音。"
    ask "请问您现在方便吗？" {
      on yes => hangup agreed
      on silence, unknown => hangup quiet
    }
  }
  objection { on emotion angry, complaint => transfer "agents" }
}
"#,
    );
    let mut driver = started(program, "s");
    assert!(matches!(driver.poll_command(), Some(Command::Play { .. })));
    driver.handle(4_000, Input::PromptFinished);
    assert!(matches!(driver.poll_command(), Some(Command::Play { .. })));
    driver.handle(4_500, Input::SpeechStarted);
    assert_eq!(driver.poll_command(), Some(Command::StopPlaying));
    assert!(matches!(driver.poll_command(), Some(Command::Listen { .. })));
    // Past the 2 s listen timeout, the customer still talking.
    driver.handle(7_500, Input::Tick);
    assert!(!driver.is_over(), "heard as silence while the customer talked");
    driver.handle(8_000, Input::Heard { text: "方便的,你说吧".into(), emotion: None });
    assert!(driver.is_over());
    assert_eq!(driver.result().outcome.as_deref(), Some("agreed"));
}

/// A call of `script` (no inputs) answered at 0 ms: its driver, the first prompt queued.
fn started(program: Program, script: &str) -> callscript_runtime::call::CallDriver {
    let exec = Executable::new(program).unwrap();
    let session = Session::start(Arc::clone(&exec), script, Vec::new(), CallContext::default()).unwrap();
    let mut driver = callscript_runtime::call::CallDriver::new(session, None);
    driver.start(0);
    driver
}

/// A condition computed before the call (`Session::fix_guards`) is taken as given, not
/// evaluated; one not given is evaluated as always.
#[test]
fn a_fixed_condition_is_taken_as_given() {
    let text = r#"use std.zh.common
script s {
  purpose service
  input { vip: bool }
  outcomes { done }
  opening {
    say "本次通话将被录音。"
    if vip { say "贵宾您好" } else { say "您好" }
    hangup done
  }
}
"#;
    let program = compile("s.call", text);
    let guard = program.scripts[0].fixed_guards()[0];
    let exec = Executable::new(program).unwrap();
    let second_prompt = |fixed: Option<bool>| {
        let inputs = vec![("vip".to_string(), Value::Bool(true))];
        let mut session = Session::start(Arc::clone(&exec), "s", inputs, CallContext::default()).unwrap();
        session.fix_guards(fixed.map(|v| (guard, v)));
        let mut plays = Vec::new();
        for _ in 0..10 {
            match session.step(Event::Done) {
                Action::Play { text, .. } => plays.push(text),
                Action::Hangup { .. } => break,
                _ => {}
            }
        }
        plays[1].clone()
    };
    assert_eq!(second_prompt(None), "贵宾您好");
    assert_eq!(second_prompt(Some(true)), "贵宾您好");
    // Only a wrong value given shows that the value is taken rather than evaluated.
    assert_eq!(second_prompt(Some(false)), "您好");
}
