//! The formatter's promises (issue: `callscript fmt`): idempotent, the same syntax tree and the
//! same diagnostics after formatting, every comment kept, and files with syntax errors refused.
//! Checked on the examples and every fixture, on random layouts of the examples, and on
//! generated programs.

use callscript_compiler::check::check_source;
use callscript_compiler::format::{format, tree_shape};
use callscript_compiler::span::SourceId;
use callscript_compiler::syntax::lexer::lex;
use callscript_compiler::syntax::parse;
use callscript_compiler::syntax::token::Token;
use proptest::prelude::*;

/// Codes, severities and messages of every diagnostic (positions move when formatting).
fn diagnostics(src: &str) -> Vec<String> {
    check_source("t.call", src)
        .diagnostics
        .iter()
        .map(|d| format!("{} {:?} {}", d.code, d.severity, d.message))
        .collect()
}

fn comments(src: &str) -> Vec<String> {
    let (file, _) = parse(src, SourceId(0));
    file.comments.iter().map(|c| src[c.range()].trim_end().to_string()).collect()
}

/// Formats `src` and checks every promise; returns the output, or None when `src` has syntax
/// errors (then the formatter must refuse with exactly those errors).
fn check_promises(src: &str) -> Option<String> {
    let (before, parse_errors) = parse(src, SourceId(0));
    let out = match format(src) {
        Ok(out) => out,
        Err(errors) => {
            assert!(!parse_errors.is_empty(), "refused a file without syntax errors");
            assert_eq!(errors, parse_errors);
            return None;
        }
    };
    assert!(parse_errors.is_empty(), "formatted a file with syntax errors: {parse_errors:?}");
    let (after, errors) = parse(&out, SourceId(0));
    assert!(errors.is_empty(), "the output does not parse: {errors:?}\n--- input\n{src}\n--- output\n{out}");
    assert_eq!(tree_shape(&before), tree_shape(&after), "tree changed\n--- input\n{src}\n--- output\n{out}");
    assert_eq!(comments(src), comments(&out), "comments changed\n--- output\n{out}");
    assert_eq!(diagnostics(src), diagnostics(&out), "diagnostics changed\n--- output\n{out}");
    let again = format(&out).expect("the output formats");
    assert_eq!(again, out, "not idempotent\n--- input\n{src}");
    assert!(out.is_empty() || out.ends_with('\n') && !out.ends_with("\n\n"), "one newline at the end");
    assert!(!out.lines().any(|l| l.ends_with(' ')), "trailing spaces:\n{out}");
    Some(out)
}

fn call_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).expect("folder").map(|e| e.expect("entry").path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            call_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "call") {
            out.push(path);
        }
    }
}

#[test]
fn examples_stdlib_and_fixtures_keep_their_meaning() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in ["examples", "stdlib", "tests/cases"] {
        call_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 50, "{files:?}");
    let mut formatted = 0;
    for path in &files {
        let src = std::fs::read_to_string(path).expect("readable");
        if check_promises(&src).is_some() {
            formatted += 1;
        }
    }
    assert!(formatted > 40, "only {formatted} of {} files formatted", files.len());
}

const LOAN: &str = include_str!("../../examples/loan_reminder/loan_reminder.call");
const WEALTH: &str = include_str!("../../examples/wealth_marketing/wealth_marketing.call");
const CARD: &str = include_str!("../../examples/card_activation/card_activation.call");

/// A random re-layout of `src` that keeps its meaning: other spaces between tokens, extra
/// blank lines, comments at the ends of lines and on lines of their own.
fn relayout(src: &str, choices: &[u8]) -> String {
    let tokens = lex(src, 0);
    let mut out = String::new();
    let mut prev_end = 0usize;
    for (n, t) in tokens.iter().enumerate() {
        let choice = choices[n % choices.len()];
        let gap = &src[prev_end..t.span.start as usize];
        if !gap.is_empty() {
            out.push_str(match choice % 4 {
                0 => " ",
                1 => "   ",
                2 => "\t",
                _ => gap,
            });
        }
        if t.token == Token::Newline {
            match choice % 7 {
                0 => out.push_str(" // 加的注释"),
                1 => out.push('\n'),
                2 => out.push_str("\n    // own line\n"),
                _ => {}
            }
        }
        out.push_str(&src[t.span.range()]);
        prev_end = t.span.end as usize;
    }
    out
}

// ---- generated programs -----------------------------------------------------------------

fn expr() -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        "[0-9]{1,3}",
        Just("1200.50".to_string()),
        Just("-5".to_string()),
        Just("- 3".to_string()),
        Just("true".to_string()),
        Just("attempt".to_string()),
        Just("hour".to_string()),
        Just("x".to_string()),
        Just("amount".to_string()),
        Just("\"文本\"".to_string()),
        Just("2026-11-24".to_string()),
    ];
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(vec!["+", "-", "*", "/", "%", "==", "<", ">=", "and", "or"]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            inner.clone().prop_map(|a| format!("({a})")),
            inner.clone().prop_map(|a| format!("(\n {a}\n )")),
            inner.clone().prop_map(|a| format!("(1 + // 注释\n {a})")),
            inner.clone().prop_map(|a| format!("not {a}")),
            inner.prop_map(|a| format!("-({a})")),
        ]
    })
    .boxed()
}

/// Entries in braces: on one line, or one per line with comments and blank lines.
fn braces(items: Vec<String>, flat: bool, deco: &[u8], sep: &str) -> String {
    braces_with(items, flat, deco, sep, sep == "; ")
}

/// `allows`: whether `@allow` may stand between the entries (statements, branches, steps).
fn braces_with(items: Vec<String>, flat: bool, deco: &[u8], sep: &str, allows: bool) -> String {
    if flat && !items.is_empty() {
        return format!("{{ {} }}", items.join(sep));
    }
    let mut s = String::from("{");
    if deco[0] == 5 {
        s.push_str(" // 开");
    }
    s.push('\n');
    for (i, item) in items.iter().enumerate() {
        let d = deco[(i + 1) % deco.len()];
        match d {
            2 => s.push_str("  // before\n"),
            3 => s.push_str("\n\n"),
            6 if allows => s.push_str("@allow(W001, \"审计\")\n"),
            _ => {}
        }
        s.push_str("    ");
        s.push_str(item);
        if d == 1 {
            s.push_str("    // after");
        }
        s.push('\n');
    }
    if deco[deco.len() - 1] == 4 {
        s.push_str("  // end\n");
    }
    if deco[deco.len() - 1] == 7 && allows {
        s.push_str("  @allow(W006, \"kept\")\n");
    }
    s.push('}');
    s
}

fn deco() -> BoxedStrategy<Vec<u8>> {
    prop::collection::vec(0u8..9, 1..6).boxed()
}

fn block(stmt: BoxedStrategy<String>) -> BoxedStrategy<String> {
    (prop::collection::vec(stmt, 0..4), any::<bool>(), deco())
        .prop_map(|(items, flat, d)| braces(items, flat, &d, "; "))
        .boxed()
}

fn simple_stmt() -> BoxedStrategy<String> {
    prop_oneof![
        Just("say \"您好,{{ amount | money }}。\"".to_string()),
        Just("say \"不打断\" bargein off".to_string()),
        Just("goto a".to_string()),
        Just("goto core.a".to_string()),
        Just("hangup done".to_string()),
        Just("tag \"t\"".to_string()),
        Just("callback in 2h".to_string()),
        Just("verify".to_string()),
        Just("optout".to_string()),
        Just("resume".to_string()),
        Just("retry".to_string()),
        Just("retry \"再说一次\"".to_string()),
        Just("transfer \"q\" outcome done".to_string()),
        Just("@allow(W006, \"理由\") hangup done".to_string()),
        expr().prop_map(|e| format!("set x = {e}")),
    ]
    .boxed()
}

fn pattern() -> BoxedStrategy<String> {
    prop::sample::select(vec!["yes", "no", "silence", "unknown", "_", "exhausted", "dtmf \"1\"", "emotion angry"])
        .prop_map(str::to_string)
        .boxed()
}

fn branch(stmt: BoxedStrategy<String>) -> BoxedStrategy<String> {
    (
        prop::collection::vec(pattern(), 1..4),
        any::<bool>(),
        prop::option::of(1u8..4),
        prop::option::of(expr()),
        prop_oneof![stmt.clone(), stmt.clone().prop_map(|s| format!("\n        {s}")), block(stmt)],
    )
        .prop_map(|(pats, broken, limit, guard, body)| {
            let mut s = format!("on {}", pats.join(if broken { ",\n   " } else { ", " }));
            if let Some(l) = limit {
                s.push_str(&format!(" limit {l}"));
            }
            if let Some(g) = guard {
                s.push_str(&format!(" if {g}"));
            }
            format!("{s} => {body}")
        })
        .boxed()
}

fn stmt() -> BoxedStrategy<String> {
    simple_stmt()
        .prop_recursive(3, 16, 3, |inner| {
            let inner = inner.boxed();
            prop_oneof![
                inner.clone(),
                (expr(), block(inner.clone()), prop::option::of(block(inner.clone())), any::<bool>()).prop_map(
                    |(c, then, otherwise, newline)| match otherwise {
                        Some(o) => format!("if {c} {then}{}else {o}", if newline { "\n    " } else { " " }),
                        None => format!("if {c} {then}"),
                    }
                ),
                (expr(), block(inner.clone()), block(inner.clone()))
                    .prop_map(|(c, a, b)| format!("if {c} {a} else if not {c} {b}")),
                (
                    prop::option::of(0u8..3),
                    prop::option::of(Just("timeout 5s")),
                    prop::collection::vec(branch(inner), 0..4),
                    any::<bool>(),
                    deco()
                )
                    .prop_map(|(retries, timeout, branches, flat, d)| {
                        let mut s = String::from("ask \"请问?\"");
                        if let Some(t) = timeout {
                            s.push_str(&format!(" {t}"));
                        }
                        if let Some(r) = retries {
                            s.push_str(&format!(" retries {r}"));
                        }
                        format!("{s} {}", braces(branches, flat, &d, "; "))
                    }),
            ]
        })
        .boxed()
}

fn script() -> impl Strategy<Value = String> {
    let inputs = (any::<bool>(), deco()).prop_map(|(flat, d)| {
        let items =
            vec!["x: int = 5".to_string(), "amount: money".to_string(), "name: text sensitive = \"某\"".to_string()];
        format!("input {}", braces(items, flat, &d, ", "))
    });
    let outcomes = (any::<bool>(), deco())
        .prop_map(|(flat, d)| format!("outcomes {}", braces(vec!["done goal".into(), "other".into()], flat, &d, ", ")));
    let intent =
        (prop::collection::vec(prop::sample::select(vec![", ", ",\n      ", "\n      ", "; "]), 2), any::<bool>())
            .prop_map(|(seps, flat)| {
                let phrases = format!("phrases \"是的\"{}\"对\"{}\"(好|行)[的]\"", seps[0], seps[1]);
                if flat && !phrases.contains('\n') {
                    format!("intent yes_too \"标签\" {{ {phrases}; dtmf \"1\" }}")
                } else {
                    format!("intent yes_too \"标签\" {{\n    {phrases}\n    regex \"\\\\d+\"\n  }}")
                }
            });
    let section = |name: &'static str| {
        prop_oneof![
            block(stmt()).prop_map(move |b| format!("{name} {b}")),
            (prop::collection::vec(block(stmt()), 1..3), any::<bool>(), deco()).prop_map(move |(steps, flat, d)| {
                let steps = steps.into_iter().enumerate().map(|(i, b)| format!("step {name}{i} {b}")).collect();
                format!("{name} {}", braces(steps, flat, &d, "; "))
            }),
        ]
    };
    let objection = (prop::collection::vec(branch(stmt()), 0..3), any::<bool>(), deco())
        .prop_map(|(b, flat, d)| format!("objection {}", braces(b, flat, &d, "; ")));
    (
        any::<bool>(),
        inputs,
        outcomes,
        intent,
        section("opening"),
        prop::option::of(section("core")),
        prop::option::of(objection),
        prop::option::of(section("closing")),
        deco(),
    )
        .prop_map(|(allow, inputs, outcomes, intent, opening, core, objection, closing, d)| {
            let mut members = vec![
                "purpose collection".to_string(),
                "listen_timeout 6s".to_string(),
                inputs,
                "let promised: text = \"\"".to_string(),
                outcomes,
                intent,
                opening,
            ];
            members.extend(core);
            members.extend(objection);
            members.extend(closing);
            let allow = if allow { "@allow(W002, \"campaign reads it\")\n" } else { "" };
            format!("use std.zh.common // 常用\n\n{allow}script s \"标题\" {}\n", braces(members, false, &d, ";\n"))
        })
}

fn test_item() -> impl Strategy<Value = String> {
    (any::<bool>(), deco()).prop_map(|(flat, d)| {
        let stmts = vec![
            "input { x: 5, amount: 1200.50, name: \"张三\" }".to_string(),
            "attempt 2".to_string(),
            "hour 10".to_string(),
            "reply \"是我\"".to_string(),
            "reply dtmf \"1\"".to_string(),
            "reply silence".to_string(),
            "reply emotion angry \"你有病吧\"".to_string(),
            "expect say \"您好\"".to_string(),
            "expect step core.a".to_string(),
            "expect tag \"t\"".to_string(),
            "expect transfer \"q\"".to_string(),
            "hangup".to_string(),
            "expect hangup done".to_string(),
        ];
        format!("test \"测试\" for s {}\n", braces_with(stmts, flat, &d, "; ", false))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_layouts_of_the_examples(which in 0usize..3, choices in prop::collection::vec(0u8..40, 1..64)) {
        let src = relayout([LOAN, WEALTH, CARD][which], &choices);
        prop_assert!(check_promises(&src).is_some(), "a re-layout has syntax errors:\n{src}");
    }

    #[test]
    fn generated_programs(script in script(), test in prop::option::of(test_item())) {
        let src = format!("{script}{}", test.unwrap_or_default());
        check_promises(&src);
    }

    #[test]
    fn random_edits_are_formatted_or_refused(at in 0usize..10_000, insert in "[{}\"\n;,()a-z =>@…]{0,4}") {
        let mut src = LOAN.to_string();
        let mut start = at % (src.len() + 1);
        while !src.is_char_boundary(start) {
            start -= 1;
        }
        src.insert_str(start, &insert);
        check_promises(&src);
    }
}
