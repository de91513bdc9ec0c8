//! Segments over 10,000,000 customers (CAMPAIGN.md §8): the interpreter (each row's values,
//! then `eval`), the Cranelift JIT, and a hand-written Rust closure over the same columns, for
//! three segments; rows per second, the ratios, and the JIT's compile time per segment.
//!
//! `cargo bench -p callscript-jit --bench segment` (SEGMENT_ROWS=N for another size). Prints the
//! median of a few runs: a custom harness, as one pass over the interpreter takes seconds.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use callscript_compiler::bytecode::{ExprCode, Program, ScriptCode};
use callscript_compiler::check::check_source;
use callscript_compiler::value::{Date, Money, Value};
use callscript_jit::CompiledSegment;
use callscript_runtime::campaign::table::{ColumnData, CustomerTable, TableBuilder};
use callscript_runtime::vm::eval::{Builtins, eval};
use callscript_runtime::vm::{CallContext, Executable, Session};

const SCRIPT: &str = "script bench {
  purpose service
  input { days_overdue: int, amount_due: money, due_date: date, region: text, vip: bool = false }
  outcomes { done }
  opening { say \"本次通话将被录音{{days_overdue}}{{amount_due}}\"; say \"{{due_date}}{{region}}\"; hangup done }
}
";

/// The segments, each with the same condition written by hand over the columns (checked
/// arithmetic like the language's: 2 stands for "the interpreter decides").
const SEGMENTS: [&str; 3] = [
    "days_overdue > 30 and amount_due >= 500.00",
    "due_date < today - 30 or (region == \"north\" and amount_due > 2000.00)",
    "not vip and (days_overdue >= 3 and days_overdue <= 90) and amount_due - 100.00 > 1000.00",
];

const RUNS: usize = 3;

/// Rows through a whole session each (microseconds apiece): enough for a rate.
const SESSION_ROWS: usize = 1_000_000;

fn program() -> Program {
    let checked = check_source("bench.call", SCRIPT);
    assert_eq!(checked.error_count(), 0, "the bench script checks");
    callscript_compiler::lower::lower(&checked, checked.files[0].id)
}

/// A deterministic list: overdue days 0..120, amounts 0.00..9999.99, due dates over the two
/// years around `today`, four regions, one customer in ten a VIP (the others leave it to its
/// default).
fn table(script: &ScriptCode, rows: usize) -> CustomerTable {
    let regions: Vec<Value> = ["north", "south", "east", "west"].iter().map(|r| Value::Text(r.to_string())).collect();
    let first_day = CallContext::default().today.days() - 365;
    let mut builder = TableBuilder::new(script);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for row in 0..rows {
        let days = Value::Int((next() % 120) as i64);
        let amount = Value::Money(Money::from_cents((next() % 1_000_000) as i64));
        let due = Value::Date(Date::from_days(first_day + (next() % 730) as i64).expect("a date"));
        let region = &regions[(next() % 4) as usize];
        let vip = Value::Bool(true);
        let mut inputs = vec![("days_overdue", &days), ("amount_due", &amount), ("due_date", &due), ("region", region)];
        if next() % 10 == 0 {
            inputs.push(("vip", &vip));
        }
        builder.push_row(row + 2, inputs).expect("a row of the script's types");
    }
    builder.finish()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Runs `pass` (which returns how many rows it kept) `RUNS` times: the median and the count.
fn measure(mut pass: impl FnMut() -> usize) -> (Duration, usize) {
    let mut kept = 0;
    let times = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            kept = black_box(pass());
            start.elapsed()
        })
        .collect();
    (median(times), kept)
}

/// The interpreter as a segment runs today: each row's values, then `eval`.
fn interpreted(table: &CustomerTable, condition: &ExprCode, builtins: Builtins) -> usize {
    let mut slots: Vec<Value> = Vec::with_capacity(table.columns().len());
    let mut kept = 0;
    for row in 0..table.rows() {
        slots.clear();
        for column in table.columns() {
            // The bench script's only default: `vip = false`.
            slots.push(table.value(column, row).unwrap_or(Value::Bool(false)));
        }
        if eval(condition, &slots, builtins) == Ok(Value::Bool(true)) {
            kept += 1;
        }
    }
    kept
}

/// The segment as `plan` ran it before the JIT: a session started for each customer (its
/// values, lets and defaults), then `evaluate`; over the first `rows` rows.
fn with_sessions(table: &CustomerTable, exec: &Arc<Executable>, condition: &ExprCode, rows: usize) -> usize {
    (0..rows.min(table.rows()))
        .filter(|&row| {
            let session = Session::start(Arc::clone(exec), "bench", table.row_inputs(row), CallContext::default())
                .expect("the session starts");
            session.evaluate(condition) == Ok(Value::Bool(true))
        })
        .count()
}

/// Verdicts into one buffer (0 drop, 1 keep, 2 interpret), then counted like the others.
fn jit(segment: &CompiledSegment<'_>, out: &mut [u8]) -> usize {
    let done = segment.select_into(0, out);
    out[..done].iter().filter(|&&v| v == 1).count()
}

fn column<'t>(table: &'t CustomerTable, name: &str) -> &'t ColumnData {
    &table.columns().iter().find(|c| c.name == name).expect("a column").data
}

/// The segment `index` written by hand over the columns: verdict bytes like the JIT's.
fn hand_written(table: &CustomerTable, index: usize, today: i64, out: &mut [u8]) -> usize {
    let (ColumnData::Int(days), ColumnData::Money(amount), ColumnData::Date(due), ColumnData::Text(region)) = (
        column(table, "days_overdue"),
        column(table, "amount_due"),
        column(table, "due_date"),
        column(table, "region"),
    ) else {
        panic!("the bench table's columns")
    };
    let vip = table.columns().iter().find(|c| c.name == "vip").expect("vip");
    let ColumnData::Bool(vip_values) = &vip.data else { panic!("vip is a bool") };
    let north = table.texts().id("north").map_or(u32::MAX, |id| id);
    // Iterators over zipped columns: no bounds checks, as a careful hand would write it.
    match index {
        0 => {
            for (verdict, (days, amount)) in out.iter_mut().zip(days.iter().zip(amount)) {
                *verdict = u8::from(*days > 30 && *amount >= 50_000);
            }
        }
        1 => {
            let rows = due.iter().zip(region).zip(amount);
            for (verdict, ((due, region), amount)) in out.iter_mut().zip(rows) {
                *verdict = u8::from(i64::from(*due) < today - 30 || (*region == north && *amount > 200_000));
            }
        }
        _ => {
            let rows = days.iter().zip(amount).zip(vip_values).enumerate();
            for (verdict, (row, ((days, amount), vip_value))) in out.iter_mut().zip(rows) {
                let is_vip = *vip_value != 0 && vip.is_valid(row);
                *verdict = if is_vip || !(3..=90).contains(days) {
                    0
                } else {
                    match amount.checked_sub(10_000) {
                        Some(left) => u8::from(left > 100_000),
                        None => 2,
                    }
                };
            }
        }
    }
    out.iter().filter(|&&v| v == 1).count()
}

fn per_second(rows: usize, time: Duration) -> f64 {
    rows as f64 / time.as_secs_f64()
}

fn main() {
    // `cargo bench` passes `--bench`; a filter or anything else is ignored.
    let rows: usize = std::env::var("SEGMENT_ROWS").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000_000);
    let program = program();
    let script = program.scripts[0].clone();
    let exec = Executable::new(program).expect("an executable");
    let built = Instant::now();
    let table = table(&script, rows);
    println!(
        "segment: {rows} rows, table built in {:.2} s, {} MB of columns",
        built.elapsed().as_secs_f64(),
        table.data_bytes() / 1_000_000
    );
    let builtins = CallContext::default().builtins();
    let mut out = vec![0u8; rows];
    for (index, text) in SEGMENTS.iter().enumerate() {
        let condition = callscript_compiler::lower::compile_condition(text, &script).expect("a valid segment");
        let compile_times: Vec<Duration> = (0..5)
            .map(|_| {
                let start = Instant::now();
                let segment = CompiledSegment::compile(&condition, &script, &table, builtins).expect("compiled");
                let time = start.elapsed();
                drop(segment);
                time
            })
            .collect();
        let compile = median(compile_times);
        let segment = CompiledSegment::compile(&condition, &script, &table, builtins).expect("compiled");
        let (interpreter, kept_interpreted) = measure(|| interpreted(&table, &condition, builtins));
        let session_rows = rows.min(SESSION_ROWS);
        let sessions_start = Instant::now();
        black_box(with_sessions(&table, &exec, &condition, session_rows));
        let sessions = sessions_start.elapsed();
        let (native, kept_native) = measure(|| jit(&segment, &mut out));
        let (by_hand, kept_by_hand) = measure(|| hand_written(&table, index, builtins.today.days(), &mut out));
        assert_eq!((kept_native, kept_by_hand), (kept_interpreted, kept_interpreted), "{text}: the three agree");
        println!("\n`{text}`: keeps {kept_native}");
        println!("  JIT compile      {:>8.3} ms", compile.as_secs_f64() * 1e3);
        for (name, time) in [("interpreter", interpreter), ("JIT", native), ("hand-written", by_hand)] {
            println!(
                "  {name:<16} {:>8.1} ms  {:>7.1} M rows/s",
                time.as_secs_f64() * 1e3,
                per_second(rows, time) / 1e6
            );
        }
        println!(
            "  a session per row {:>8.1} ms  {:>7.1} M rows/s  (first {session_rows} rows, once)",
            sessions.as_secs_f64() * 1e3,
            per_second(session_rows, sessions) / 1e6
        );
        println!(
            "  JIT / interpreter {:.1}x, JIT / hand-written {:.2}x, JIT / a session per row {:.0}x",
            interpreter.as_secs_f64() / native.as_secs_f64(),
            by_hand.as_secs_f64() / native.as_secs_f64(),
            per_second(rows, native) / per_second(session_rows, sessions)
        );
    }
}
