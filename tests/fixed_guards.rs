//! `if` conditions computed per customer before the calls (issue 19): a condition that reads
//! nothing a call changes (`ScriptCode::fixed_guards`) is compiled with the segment JIT over
//! the list's columns, and calls take its value instead of evaluating it. The interpreter is
//! the reference: wherever the compiled code gives a value, it is the interpreter's, and
//! wherever the interpreter would fail, the compiled code gives none (the call evaluates it and
//! fails as it always did).

mod support;

use std::path::Path;
use std::sync::Arc;

use callscript_compiler::value::Value;
use callscript_runtime::scheduler::Plan;
use callscript_runtime::vm::{CallContext, Session};
use proptest::prelude::*;
use support::{callscript, scratch};

/// Checks every fixed condition of every customer of `plan` against the interpreter; returns
/// (values given, conditions the interpreter could not compute, customers whose session
/// cannot start).
fn agree_with_interpreter(plan: &Plan) -> (usize, usize, usize) {
    let (mut given, mut failing, mut refused) = (0, 0, 0);
    for (v, variant) in plan.variants.iter().enumerate() {
        let code = variant.exec.program.script(&variant.script).unwrap();
        for i in 0..plan.customers.len() {
            let known: Vec<_> = plan.customers.fixed_guards(v, i).collect();
            let Ok(session) = Session::start(
                Arc::clone(&variant.exec),
                &variant.script,
                plan.customers.inputs(i),
                CallContext::default(),
            ) else {
                assert!(known.is_empty(), "customer {i}: a session that cannot start has no fixed condition");
                refused += 1;
                continue;
            };
            for expr in code.fixed_guards() {
                let interpreted = session.evaluate(&code.exprs[expr as usize]);
                match (known.iter().find(|(e, _)| *e == expr), interpreted) {
                    (Some(&(_, value)), Ok(truth)) => {
                        assert_eq!(Value::Bool(value), truth, "customer {i}, condition {expr}");
                        given += 1;
                    }
                    (Some(_), Err(e)) => {
                        panic!("customer {i}, condition {expr}: a value where the interpreter fails ({e:?})")
                    }
                    (None, Err(_)) => failing += 1,
                    (None, Ok(_)) => {}
                }
            }
        }
    }
    (given, failing, refused)
}

#[test]
fn the_examples_fixed_conditions_are_the_interpreters() {
    let mut given = 0;
    for campaign in ["card_activation", "loan_reminder", "survey", "wealth_marketing"] {
        let (plan, _) =
            callscript::campaign::plan(Path::new(&format!("examples/{campaign}/campaign.toml")), None, None).unwrap();
        given += agree_with_interpreter(&plan).0;
    }
    assert!(given > 1000, "the examples' lists fix {given} conditions");
}

#[test]
fn segment_explain_says_how_many_conditions_are_computed_before_the_calls() {
    let out = callscript(&["segment", "--explain", "examples/card_activation/campaign.toml"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("if conditions        2 of 2 computed per customer before the calls (JIT: compiled in"),
        "{text}"
    );
}

const SCRIPT: &str = r#"use std.zh.common
script guards {
  purpose service
  input { amount: money, n: int, d: int = 0, vip: bool = false }
  let big: bool = amount * 2 > 100.50
  let seen: text = ""
  outcomes { done }
  opening {
    say "本次通话将被录音。"
    if big { say "大额" }
    if vip or amount > 1000 { say "贵宾" }
    if n / d > 1 { say "除" }
    if n * n > 5 { say "乘" }
    if n % 7 == d and not vip { say "余" }
    if amount - 0.01 >= n { say "减" }
    ask "请问您怎么称呼?" capture seen {
      on captured => { if seen == "王" { say "好" }; hangup done }
      on _ => hangup done
    }
  }
  objection { on emotion angry, complaint => transfer "desk" }
}
"#;

const CAMPAIGN: &str = r#"task_id = "GUARDS"
script = "guards.call"
customers = "customers.csv"
jurisdiction = "cn"
[schedule]
start_time = "09:00"
end_time = "18:00"
timezone = "Asia/Shanghai"
days = ["mon", "tue", "wed", "thu", "fri"]
max_concurrent = 5
calls_per_second = 1
[retry]
max_attempts = 1
on = ["busy"]
backoff = "1h"
[limits]
per_customer_per_day = 1
per_customer_per_7_days = 2
[telephony]
kind = "sim"
[transfer]
desk = "sip:7200@127.0.0.1:5090"
"#;

/// A cell of the list, often at the edges of its type.
fn int_cell() -> impl Strategy<Value = String> {
    prop_oneof![
        (-20i64..20).prop_map(|n| n.to_string()),
        prop_oneof![Just(i64::MAX), Just(i64::MIN), Just(3_037_000_500), Just(-3_037_000_500)]
            .prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
    ]
}

fn money_cell() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..200_000).prop_map(|c| format!("{}.{:02}", c / 100, c % 100)),
        Just("92233720368547758.07".to_string()),
        (0u64..100).prop_map(|n| n.to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random typed rows (money decimals, overflow, division by zero, missing values) through
    /// the conditions of one script: every value the JIT gives is the interpreter's.
    #[test]
    fn random_rows_get_the_interpreters_values(
        rows in proptest::collection::vec(
            (money_cell(), int_cell(), prop_oneof![Just(String::new()), int_cell()], prop_oneof![Just(""), Just("true"), Just("false")]),
            1..40,
        )
    ) {
        let tmp = scratch("fixed-guards");
        let dir = tmp.path();
        std::fs::write(dir.join("guards.call"), SCRIPT).unwrap();
        std::fs::write(dir.join("campaign.toml"), CAMPAIGN).unwrap();
        let mut csv = String::from("id,phone,amount,n,d,vip\n");
        for (i, (amount, n, d, vip)) in rows.iter().enumerate() {
            csv.push_str(&format!("c{i},{},{amount},{n},{d},{vip}\n", 13_800_000_000u64 + i as u64));
        }
        std::fs::write(dir.join("customers.csv"), csv).unwrap();
        let (plan, _) = callscript::campaign::plan(&dir.join("campaign.toml"), None, None).unwrap();
        let code = plan.variants[0].exec.program.script("guards").unwrap();
        prop_assert_eq!(code.fixed_guards().len(), 6, "every condition but the captured one");
        prop_assert_eq!(plan.customers.fixed_guard_count(), 6, "each compiled");
        let (given, failing, refused) = agree_with_interpreter(&plan);
        prop_assert_eq!(given + failing, 6 * (rows.len() - refused), "every condition of every row is given or fails");
    }
}
