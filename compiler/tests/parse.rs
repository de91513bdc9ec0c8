//! Parser behaviour: recovery, every construct, and invariants under random input.

use callscript_compiler::check::check_source;
use callscript_compiler::span::SourceId;
use callscript_compiler::syntax::ast::*;
use callscript_compiler::syntax::parse;
use proptest::prelude::*;

const SPEC_EXAMPLE: &str = include_str!("../../examples/loan_reminder/loan_reminder.call");

/// Codes and 1-based lines of every diagnostic of `src`.
fn codes(src: &str) -> Vec<(String, usize)> {
    let checked = check_source("t.call", src);
    let source = checked.sources.get(SourceId(0));
    checked
        .diagnostics
        .iter()
        .filter(|d| d.primary.at.file == SourceId(0))
        .map(|d| (d.code.to_string(), source.line_col(d.primary.at.span.start).line))
        .collect()
}

fn script(src: &str) -> Script {
    let (file, diags) = parse(src, SourceId(0));
    assert!(diags.is_empty(), "{diags:#?}");
    file.items.into_iter().find_map(|i| if let Item::Script(s) = i { Some(s) } else { None }).expect("a script")
}

#[test]
fn the_examples_parse_without_diagnostics() {
    let (file, diags) = parse(SPEC_EXAMPLE, SourceId(0));
    assert!(diags.is_empty(), "{diags:#?}");
    assert!(file.items.iter().any(|i| matches!(i, Item::Test(_))));
    assert!(!file.comments.is_empty(), "comments are kept for the formatter");
}

#[test]
fn interpolation_spans_point_into_the_file() {
    let src = "script s { purpose service\n opening { say \"您好{{ amount | money }}元\"; hangup x } }";
    let s = script(src);
    let Member::Section(section) = &s.members[1] else { panic!() };
    let StmtKind::Say { prompt, .. } = &section.body[0].kind else { panic!() };
    let Segment::Interp { expr, filter, .. } = &prompt.segments[1] else { panic!() };
    assert_eq!(&src[expr.span.range()], "amount");
    assert_eq!(&src[filter.as_ref().unwrap().span.range()], "money");
}

#[test]
fn ask_options_in_any_order_and_guards_and_limits() {
    let src = r#"script s {
  purpose service
  opening {
    ask "q" bargein off retries 2 timeout 8s {
      on yes if attempt > 1 => goto core
      on dtmf "1", emotion happy => hangup x
      on silence, unknown, _ => retry "again"
      on exhausted => hangup x
    }
  }
  objection {
    on busy limit 3 => { callback in 2h; hangup x }
  }
}"#;
    let s = script(src);
    let Member::Section(opening) = &s.members[1] else { panic!() };
    let StmtKind::Ask(ask) = &opening.body[0].kind else { panic!() };
    assert!(ask.bargein_off);
    assert_eq!(ask.retries.unwrap().value, 2);
    assert_eq!(ask.timeout.unwrap().millis, 8_000);
    assert_eq!(ask.branches.len(), 4);
    assert!(ask.branches[0].guard.is_some());
    assert_eq!(ask.branches[1].patterns.len(), 2);
    let Member::Section(objection) = &s.members[2] else { panic!() };
    assert_eq!(objection.handlers[0].limit.unwrap().value, 3);
}

#[test]
fn newlines_are_insignificant_after_commas_arrows_and_before_else() {
    let src = r#"script s {
  purpose service
  input { a: int, b: money = 5
          c: text sensitive }
  opening {
    if (a >
        1) {
      say "x"
    }
    else if a == 0 { say "y" }
    else { say "z" }
    ask "q" {
      on yes,
         no =>
        hangup x
      on _ => hangup x
    }
  }
}"#;
    script(src);
}

#[test]
fn phrase_lists_continue_over_newlines_and_semicolons() {
    let (file, diags) = parse("intent a {\n  phrases \"x\", \"y\"\n    \"z\"; \"w\"\n  dtmf \"1\"\n}", SourceId(0));
    assert!(diags.is_empty(), "{diags:#?}");
    let Item::Intent(intent) = &file.items[0] else { panic!() };
    assert_eq!(intent.clauses[0].values.len(), 4);
    assert_eq!(intent.clauses[1].kind, ClauseKind::Dtmf);
}

#[test]
fn expressions_have_precedence() {
    let (file, diags) = parse("script s { let v: bool = not 1 + 2 * 3 > 4 and true or false }", SourceId(0));
    assert!(diags.is_empty());
    let Item::Script(s) = &file.items[0] else { panic!() };
    let Member::Let(l) = &s.members[0] else { panic!() };
    // ((not ((1 + (2 * 3)) > 4)) and true) or false
    let ExprKind::Binary(BinaryOp::Or, lhs, _) = &l.value.kind else { panic!("{:?}", l.value.kind) };
    let ExprKind::Binary(BinaryOp::And, not, _) = &lhs.kind else { panic!() };
    let ExprKind::Unary(UnaryOp::Not, cmp) = &not.kind else { panic!() };
    let ExprKind::Binary(BinaryOp::Gt, sum, _) = &cmp.kind else { panic!() };
    let ExprKind::Binary(BinaryOp::Add, _, product) = &sum.kind else { panic!() };
    assert!(matches!(product.kind, ExprKind::Binary(BinaryOp::Mul, ..)));
}

#[test]
fn twenty_independent_syntax_errors_are_all_reported() {
    let mut src = String::from(
        "use std.zh.common\nscript s \"t\" {\n  purpose service\n  outcomes { done }\n  opening {\n    say \"本次通话将被录音\"\n",
    );
    for i in 0..20 {
        // Each line is broken in its own way; recovery must resume at the next line.
        let broken = match i % 5 {
            0 => "say 本次".to_string(),
            1 => "goto".to_string(),
            2 => "tag \"x\" \"y\"".to_string(),
            3 => "callback 2h".to_string(),
            _ => "say \"a\" $".to_string(),
        };
        src.push_str(&format!("    {broken}\n"));
    }
    src.push_str("    hangup done\n  }\n}\n");
    let found = codes(&src);
    let lines: Vec<usize> = found.iter().filter(|(c, _)| c.starts_with("E0")).map(|(_, l)| *l).collect();
    assert_eq!(lines, (7..27).collect::<Vec<_>>(), "{found:?}");
}

#[test]
fn a_missing_brace_is_reported_at_the_open_brace() {
    let found = codes("script s {\n  purpose service\n  opening {\n    say \"x\"\n");
    assert!(found.contains(&("E001".to_string(), 3)) || found.contains(&("E001".to_string(), 1)), "{found:?}");
}

fn arbitrary_edit() -> impl Strategy<Value = (usize, usize, String)> {
    let pieces = prop_oneof![
        Just("{".to_string()),
        Just("}".to_string()),
        Just("\"".to_string()),
        Just("{{".to_string()),
        Just("on".to_string()),
        Just("=>".to_string()),
        Just("\n".to_string()),
        Just("…".to_string()),
        Just("@allow(".to_string()),
        "[a-z_ ]{0,6}",
        "\\PC{0,4}",
    ];
    (0usize..10_000, 0usize..20, pieces)
}

fn spans_are_inside(src: &str) {
    let checked = check_source("t.call", src);
    for d in &checked.diagnostics {
        let text = &checked.sources.get(d.primary.at.file).text;
        for label in std::iter::once(&d.primary).chain(&d.secondary) {
            let span = label.at.span;
            let text = &checked.sources.get(label.at.file).text;
            assert!(span.start <= span.end && span.end as usize <= text.len(), "{d:?}");
            assert!(text.is_char_boundary(span.start as usize) && text.is_char_boundary(span.end as usize), "{d:?}");
        }
        let _ = text;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_arbitrary_text(src in "\\PC{0,200}") {
        spans_are_inside(&src);
    }

    #[test]
    fn never_panics_on_random_edits_of_the_examples(edits in proptest::collection::vec(arbitrary_edit(), 1..6)) {
        let mut src = SPEC_EXAMPLE.to_string();
        for (at, remove, insert) in edits {
            let mut start = at % (src.len() + 1);
            while !src.is_char_boundary(start) { start -= 1; }
            let mut end = (start + remove).min(src.len());
            while !src.is_char_boundary(end) { end -= 1; }
            src.replace_range(start..end, &insert);
        }
        spans_are_inside(&src);
    }
}
