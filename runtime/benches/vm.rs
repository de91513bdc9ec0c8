//! Turns per second through the VM, recognition and captures included, on the loan reminder (goal ≥ 1M
//! turns/s on one core); the recogniser alone on the same utterances is the baseline
//! measured in the same run. Also prints the bytes of a parked session.

use std::sync::Arc;

use callscript_compiler::check::{MemoryFiles, check};
use callscript_compiler::source::Source;
use callscript_compiler::value::{Money, Value};
use callscript_runtime::vm::{Action, CallContext, Event, Executable, Session};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[path = "support/call.rs"]
mod support;

const LOAN: &str = include_str!("../../examples/loan_reminder/loan_reminder.call");
const REPLIES: &[&str] = &["对,是我", "你们罚息太高了", "利率太高", "我明天下午就还", "先还一千", "对"];

fn exec() -> Arc<Executable> {
    let checked = check(vec![Source::new("loan_reminder.call", LOAN)], &mut MemoryFiles::default());
    assert_eq!(checked.error_count(), 0);
    Executable::new(callscript_compiler::lower::lower(&checked, checked.files[0].id)).unwrap()
}

fn inputs() -> Vec<(String, Value)> {
    vec![
        ("customer_name".into(), Value::Text("张三".into())),
        ("days_overdue".into(), Value::Int(5)),
        ("amount_due".into(), Value::Money(Money::from_cents(120_050))),
        ("account_tail".into(), Value::Text("8831".into())),
    ]
}

/// One call: start, then each reply is one turn; returns the number of turns.
fn call(exec: &Arc<Executable>) -> usize {
    support::call(exec, "loan_reminder", inputs(), REPLIES)
}

fn bench(c: &mut Criterion) {
    let exec = exec();
    let turns = call(&exec) as u64;
    assert_eq!(turns, REPLIES.len() as u64);
    let mut group = c.benchmark_group("vm");
    group.throughput(Throughput::Elements(turns));
    group.bench_function("loan_reminder_call", |b| b.iter(|| call(&exec)));
    let candidates: Vec<u32> = (0..exec.program.intents.len() as u32).collect();
    group.bench_function("recogniser_only", |b| {
        b.iter(|| REPLIES.iter().filter_map(|r| exec.recogniser.best(r, &candidates)).count())
    });
    group.finish();

    let mut session = Session::start(Arc::clone(&exec), "loan_reminder", inputs(), CallContext::default()).unwrap();
    while !matches!(session.step(Event::Done), Action::Listen { .. }) {}
    println!("parked session: {} bytes (program shared)", session.owned_bytes());
}

criterion_group!(benches, bench);
criterion_main!(benches);
