//! The JIT against the interpreter: random well-typed segments over random rows. Where the
//! interpreter gives true or false the compiled code must give Keep or Drop; where it fails,
//! the compiled code must send the row back to it (Interpret), and nowhere else.

use std::sync::{Arc, LazyLock};

use callscript_compiler::bytecode::{ExprCode, ExprOp, Program, ScriptCode};
use callscript_compiler::check::check_source;
use callscript_compiler::value::{Date, Money, Time, Value};
use callscript_jit::{CompiledSegment, JitError, Verdict};
use callscript_runtime::campaign::table::{CustomerTable, TableBuilder};
use callscript_runtime::vm::eval::Builtins;
use callscript_runtime::vm::{CallContext, Executable, Session};
use proptest::prelude::*;

/// Inputs of every type, some with defaults (a row may leave those empty; `c`'s can overflow,
/// `k`'s is widened), and lets computed from them at the session's start (which can fail:
/// `ratio` divides by `b`).
const SCRIPT: &str = "script s {
  purpose service
  input { a: int, b: int = 7, m: money, n: money = 12.50, d: date, t: text, f: bool = false, h: time, c: int = a * 1000000, k: money = 12 }
  let ratio: int = a / b
  let due: date = d + 30
  let owed: money = m + 1
  outcomes { done }
  opening { say \"本次通话将被录音{{a}}{{b}}{{m}}\"; say \"{{n}}{{d}}{{t}}\"; say \"{{h}}{{ratio}}\"; say \"{{due}}{{owed}}\"; say \"{{c}}{{k}}\"; hangup done }
}
";

fn program() -> Program {
    static PROGRAM: LazyLock<Program> = LazyLock::new(|| {
        let checked = check_source("s.call", SCRIPT);
        assert_eq!(checked.error_count(), 0);
        callscript_compiler::lower::lower(&checked, checked.files[0].id)
    });
    PROGRAM.clone()
}

fn slot(script: &ScriptCode, name: &str) -> u16 {
    script.slots.iter().position(|s| s.name == name).unwrap_or_else(|| panic!("no slot {name}")) as u16
}

fn builtins() -> Builtins {
    CallContext::default().builtins()
}

/// An expression tree, emitted as the lowering emits postfix code.
#[derive(Clone, Debug)]
enum E {
    Leaf(ExprOp),
    Unary(ExprOp, Box<E>),
    Binary(ExprOp, Box<E>, Box<E>),
    /// `and` (true) or `or` (false).
    Logic(bool, Box<E>, Box<E>),
}

fn emit(e: &E, ops: &mut Vec<ExprOp>) {
    match e {
        E::Leaf(op) => ops.push(op.clone()),
        E::Unary(op, x) => {
            emit(x, ops);
            ops.push(op.clone());
        }
        E::Binary(op, l, r) => {
            emit(l, ops);
            emit(r, ops);
            ops.push(op.clone());
        }
        E::Logic(is_and, l, r) => {
            emit(l, ops);
            let at = ops.len();
            ops.push(ExprOp::And(0));
            emit(r, ops);
            let skip = (ops.len() - at - 1) as u32;
            ops[at] = if *is_and { ExprOp::And(skip) } else { ExprOp::Or(skip) };
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Ty {
    Int,
    Money,
    Date,
    Bool,
}

fn load(name: &str) -> E {
    E::Leaf(ExprOp::Load(slot(&program().scripts[0], name)))
}

fn interesting_int() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => -40i64..40,
        1 => Just(0i64),
        1 => Just(i64::MAX),
        1 => Just(i64::MIN),
        1 => i64::MAX - 3..=i64::MAX,
        1 => Just(i64::MAX / 100 + 1),
        1 => Just(-1i64),
        1 => any::<i64>(),
    ]
}

fn interesting_date() -> impl Strategy<Value = Date> {
    let first = Date::new(0, 1, 1).unwrap().days();
    let last = Date::new(9999, 12, 31).unwrap().days();
    prop_oneof![
        4 => 19_000i64..21_000,
        1 => first..first + 40,
        1 => last - 40..=last,
    ]
    .prop_map(|days| Date::from_days(days).unwrap())
}

fn leaf(ty: Ty) -> BoxedStrategy<E> {
    match ty {
        Ty::Int => prop_oneof![
            2 => prop_oneof![Just(load("a")), Just(load("b")), Just(load("ratio")), Just(load("c"))],
            2 => interesting_int().prop_map(|n| E::Leaf(ExprOp::Const(Value::Int(n)))),
            1 => Just(E::Leaf(ExprOp::Attempt)),
            1 => prop_oneof![Just(E::Leaf(ExprOp::Weekday)), Just(E::Leaf(ExprOp::Hour))],
        ]
        .boxed(),
        Ty::Money => prop_oneof![
            2 => prop_oneof![Just(load("m")), Just(load("n")), Just(load("owed")), Just(load("k"))],
            2 => interesting_int().prop_map(|c| E::Leaf(ExprOp::Const(Value::Money(Money::from_cents(c))))),
        ]
        .boxed(),
        Ty::Date => prop_oneof![
            2 => prop_oneof![Just(load("d")), Just(load("due"))],
            1 => interesting_date().prop_map(|d| E::Leaf(ExprOp::Const(Value::Date(d)))),
            1 => Just(E::Leaf(ExprOp::Today)),
        ]
        .boxed(),
        Ty::Bool => prop_oneof![
            Just(load("f")),
            any::<bool>().prop_map(|b| E::Leaf(ExprOp::Const(Value::Bool(b)))),
            // Text equality, with texts the rows hold and one they never do.
            (prop_oneof![Just("north"), Just("south"), Just(""), Just("east")], any::<bool>()).prop_map(|(t, eq)| {
                let op = if eq { ExprOp::Eq } else { ExprOp::Ne };
                E::Binary(op, Box::new(load("t")), Box::new(E::Leaf(ExprOp::Const(Value::Text(t.into())))))
            }),
            (0u8..24, 0u8..60, 0usize..6).prop_map(|(hour, minute, cmp)| {
                let time = Value::Time(Time::new(hour, minute).unwrap());
                E::Binary(comparison(cmp), Box::new(load("h")), Box::new(E::Leaf(ExprOp::Const(time))))
            }),
        ]
        .boxed(),
    }
}

fn comparison(i: usize) -> ExprOp {
    [ExprOp::Eq, ExprOp::Ne, ExprOp::Lt, ExprOp::Le, ExprOp::Gt, ExprOp::Ge][i % 6].clone()
}

fn boxed2(l: E, r: E) -> (Box<E>, Box<E>) {
    (Box::new(l), Box::new(r))
}

/// A well-typed expression of `ty`, at most `depth` operators deep.
fn arb(ty: Ty, depth: u32) -> BoxedStrategy<E> {
    if depth == 0 {
        return leaf(ty);
    }
    let sub = |t| arb(t, depth - 1);
    let arith = |ops: Vec<ExprOp>| proptest::sample::select(ops);
    match ty {
        Ty::Int => prop_oneof![
            2 => leaf(Ty::Int),
            1 => sub(Ty::Int).prop_map(|x| E::Unary(ExprOp::Neg, Box::new(x))),
            3 => (arith(vec![ExprOp::Add, ExprOp::Sub, ExprOp::Mul, ExprOp::Div, ExprOp::Rem]), sub(Ty::Int), sub(Ty::Int))
                .prop_map(|(op, l, r)| { let (l, r) = boxed2(l, r); E::Binary(op, l, r) }),
            1 => (sub(Ty::Date), sub(Ty::Date)).prop_map(|(l, r)| { let (l, r) = boxed2(l, r); E::Binary(ExprOp::Sub, l, r) }),
        ]
        .boxed(),
        Ty::Money => prop_oneof![
            2 => leaf(Ty::Money),
            1 => sub(Ty::Money).prop_map(|x| E::Unary(ExprOp::Neg, Box::new(x))),
            2 => (arith(vec![ExprOp::Add, ExprOp::Sub]), sub(Ty::Money), prop_oneof![sub(Ty::Money), sub(Ty::Int)], any::<bool>())
                .prop_map(|(op, l, r, swap)| { let (l, r) = if swap { boxed2(r, l) } else { boxed2(l, r) }; E::Binary(op, l, r) }),
            1 => (sub(Ty::Money), sub(Ty::Int), any::<bool>())
                .prop_map(|(m, n, swap)| { let (l, r) = if swap { boxed2(n, m) } else { boxed2(m, n) }; E::Binary(ExprOp::Mul, l, r) }),
            1 => (arith(vec![ExprOp::Div, ExprOp::Rem]), sub(Ty::Money), sub(Ty::Int))
                .prop_map(|(op, l, r)| { let (l, r) = boxed2(l, r); E::Binary(op, l, r) }),
        ]
        .boxed(),
        Ty::Date => prop_oneof![
            2 => leaf(Ty::Date),
            2 => (sub(Ty::Date), sub(Ty::Int), 0u8..3).prop_map(|(d, n, how)| {
                match how {
                    0 => E::Binary(ExprOp::Add, Box::new(d), Box::new(n)),
                    1 => E::Binary(ExprOp::Add, Box::new(n), Box::new(d)),
                    _ => E::Binary(ExprOp::Sub, Box::new(d), Box::new(n)),
                }
            }),
        ]
        .boxed(),
        Ty::Bool => prop_oneof![
            2 => leaf(Ty::Bool),
            1 => sub(Ty::Bool).prop_map(|x| E::Unary(ExprOp::Not, Box::new(x))),
            2 => (any::<bool>(), sub(Ty::Bool), sub(Ty::Bool)).prop_map(|(and, l, r)| { let (l, r) = boxed2(l, r); E::Logic(and, l, r) }),
            3 => (0usize..6, prop_oneof![Just(Ty::Int), Just(Ty::Money), Just(Ty::Date)], any::<bool>())
                .prop_flat_map(move |(cmp, ty, mixed)| {
                    // int against money, either way round, or two of one type.
                    let right = if mixed && matches!(ty, Ty::Int) { Ty::Money } else if mixed && matches!(ty, Ty::Money) { Ty::Int } else { ty };
                    (arb(ty, depth - 1), arb(right, depth - 1)).prop_map(move |(l, r)| { let (l, r) = boxed2(l, r); E::Binary(comparison(cmp), l, r) })
                }),
            1 => (sub(Ty::Bool), sub(Ty::Bool), any::<bool>()).prop_map(|(l, r, eq)| {
                let (l, r) = boxed2(l, r);
                E::Binary(if eq { ExprOp::Eq } else { ExprOp::Ne }, l, r)
            }),
        ]
        .boxed(),
    }
}

/// One row: the inputs it gives (the defaulted ones may be left out).
fn arb_row() -> impl Strategy<Value = Vec<(&'static str, Value)>> {
    (
        interesting_int(),
        proptest::option::of(interesting_int()),
        (0i64..2_000_000, proptest::option::of(interesting_int())),
        interesting_date(),
        prop_oneof![Just("north"), Just("south"), Just("")],
        proptest::option::of(any::<bool>()),
        (0u8..24, 0u8..60),
        (proptest::option::of(interesting_int()), proptest::option::of(interesting_int())),
    )
        .prop_map(|(a, b, (m, n), d, t, f, (hour, minute), (c, k))| {
            let mut row = vec![
                ("a", Value::Int(a)),
                ("m", Value::Money(Money::from_cents(m))),
                ("d", Value::Date(d)),
                ("t", Value::Text(t.into())),
                ("h", Value::Time(Time::new(hour, minute).unwrap())),
            ];
            if let Some(b) = b {
                row.push(("b", Value::Int(b)));
            }
            if let Some(n) = n {
                row.push(("n", Value::Money(Money::from_cents(n))));
            }
            if let Some(f) = f {
                row.push(("f", Value::Bool(f)));
            }
            if let Some(c) = c {
                row.push(("c", Value::Int(c)));
            }
            if let Some(k) = k {
                row.push(("k", Value::Money(Money::from_cents(k))));
            }
            row
        })
}

/// The interpreter's answer for a row, as `plan` asks it: start a session, evaluate.
fn interpret(exec: &Arc<Executable>, row: &[(&str, Value)], condition: &ExprCode) -> Result<Value, String> {
    let inputs = row.iter().map(|(name, v)| (name.to_string(), v.clone()));
    let session = Session::start(Arc::clone(exec), "s", inputs, CallContext::default()).map_err(|e| e.to_string())?;
    session.evaluate(condition).map_err(|e| e.0)
}

fn table(script: &ScriptCode, rows: &[Vec<(&'static str, Value)>]) -> CustomerTable {
    let mut builder = TableBuilder::new(script);
    for (i, row) in rows.iter().enumerate() {
        builder.push_row(i + 2, row.iter().map(|(n, v)| (*n, v))).expect("a row of the script's types");
    }
    builder.finish()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn the_jit_agrees_with_the_interpreter(expr in arb(Ty::Bool, 3), rows in proptest::collection::vec(arb_row(), 1..24)) {
        let program = program();
        let script = program.scripts[0].clone();
        let exec = Executable::new(program).unwrap();
        let mut ops = Vec::new();
        emit(&expr, &mut ops);
        let condition = ExprCode { ops, span: Default::default(), sensitive: false };
        let table = table(&script, &rows);
        let segment = CompiledSegment::compile(&condition, &script, &table, builtins());
        let segment = match segment {
            Ok(s) => s,
            Err(e) => return Err(TestCaseError::fail(format!("not compiled: {e}"))),
        };
        let verdicts = segment.select(0..table.rows());
        prop_assert_eq!(verdicts.len(), rows.len());
        // A range of rows gets the verdicts those rows get in the whole table.
        let split = rows.len() / 3;
        prop_assert_eq!(&segment.select(split..rows.len() + 5)[..], &verdicts[split..]);
        for (row, verdict) in rows.iter().zip(verdicts) {
            let reference = interpret(&exec, row, &condition);
            let agrees = matches!(
                (&reference, verdict),
                (Ok(Value::Bool(true)), Verdict::Keep)
                    | (Ok(Value::Bool(false)), Verdict::Drop)
                    | (Err(_), Verdict::Interpret)
            );
            prop_assert!(agrees, "row {:?}: interpreter {:?}, JIT {:?}", row, reference, verdict);
        }
    }
}

fn condition(script: &ScriptCode, text: &str) -> ExprCode {
    callscript_compiler::lower::compile_condition(text, script).expect("a valid segment")
}

#[test]
fn text_concatenation_is_left_to_the_interpreter() {
    let program = program();
    let script = &program.scripts[0];
    let table = table(script, &[]);
    let segment = CompiledSegment::compile(&condition(script, "t + \"x\" == \"northx\""), script, &table, builtins());
    assert!(matches!(segment, Err(JitError::Unsupported(_))));
}

#[test]
fn compiled_segments_of_the_language_select_like_the_interpreter() {
    let program = program();
    let script = program.scripts[0].clone();
    let exec = Executable::new(program).unwrap();
    let day = |s: &str| Value::Date(Date::parse(s).unwrap());
    let rows: Vec<Vec<(&'static str, Value)>> = (0..40)
        .map(|i| {
            vec![
                ("a", Value::Int(i * 3)),
                ("b", Value::Int(i % 5)),
                ("m", Value::Money(Money::from_cents(i * 2_500))),
                ("d", if i % 2 == 0 { day("2025-12-01") } else { day("2026-02-01") }),
                ("t", Value::Text(if i % 3 == 0 { "north" } else { "south" }.into())),
                ("h", Value::Time(Time::new(9, 30).unwrap())),
            ]
        })
        .collect();
    let table = table(&script, &rows);
    for text in [
        "a > 30 and m >= 500.00",
        "d < today - 30 or t == \"north\"",
        "not f and (ratio > 2 or owed > 100)",
        "h >= 09:00 and due > today",
    ] {
        compiled_agrees(&script, &exec, &table, &rows, text);
    }
}

/// `false and …` and `true or …` never run their right side, so its overflow is no error:
/// the compiled code must not fail such a row, however it combines the two sides.
#[test]
fn a_short_circuit_shields_a_failing_right_side() {
    let program = program();
    let script = program.scripts[0].clone();
    let exec = Executable::new(program).unwrap();
    let rows: Vec<Vec<(&'static str, Value)>> = [i64::MAX, 1, i64::MIN, 0]
        .into_iter()
        .map(|a| {
            vec![
                ("a", Value::Int(a)),
                ("m", Value::Money(Money::from_cents(100))),
                ("d", Value::Date(Date::new(2026, 1, 1).unwrap())),
                ("t", Value::Text("north".into())),
                ("h", Value::Time(Time::new(9, 30).unwrap())),
            ]
        })
        .collect();
    let table = table(&script, &rows);
    for text in ["f and a * 2 > 0", "not f or a + 1 > 0", "a < 5 and (f or a - 1 > 0)", "a > 5 or 10 / a > 1"] {
        compiled_agrees(&script, &exec, &table, &rows, text);
    }
}

/// Every row's verdict from the compiled `text` is what the interpreter says of that row.
fn compiled_agrees(
    script: &ScriptCode,
    exec: &Arc<Executable>,
    table: &CustomerTable,
    rows: &[Vec<(&'static str, Value)>],
    text: &str,
) {
    let condition = condition(script, text);
    let segment = CompiledSegment::compile(&condition, script, table, builtins()).expect(text);
    for (row, verdict) in rows.iter().zip(segment.select(0..table.rows())) {
        let expected = match interpret(exec, row, &condition) {
            Ok(Value::Bool(true)) => Verdict::Keep,
            Ok(_) => Verdict::Drop,
            Err(_) => Verdict::Interpret,
        };
        assert_eq!(verdict, expected, "{text} on {row:?}");
    }
}
