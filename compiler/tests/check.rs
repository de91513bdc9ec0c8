//! Checker semantics that fixtures do not show well: imports, flow through if/else, handler
//! retries, allows. Each test states the codes (and lines) it expects.

use callscript_compiler::check::{MemoryFiles, check, check_source};
use callscript_compiler::source::Source;

/// `CODE@line` of every language diagnostic in the first file, in order (the compliance rules
/// have their own tests in `compliance.rs`).
fn check_codes(src: &str) -> Vec<String> {
    let checked = check_source("main.call", src);
    let source = checked.sources.get(callscript_compiler::span::SourceId(0));
    checked
        .diagnostics
        .iter()
        .filter(|d| !d.code.starts_with("CS"))
        .map(|d| format!("{}@{}", d.code, source.line_col(d.primary.at.span.start).line))
        .collect()
}

/// A script with `body` as its opening and a closing step `bye`.
fn with_opening(body: &str) -> String {
    format!(
        "use std.zh.common\nscript s {{\n  purpose service\n  outcomes {{ done }}\n  opening {{\n{body}\n  }}\n  closing {{\n    step bye {{ say \"再见\"; hangup done }}\n  }}\n}}\n"
    )
}

#[test]
fn if_without_else_does_not_end_a_branch() {
    let src = with_opening(
        "    say \"本次通话将被录音\"\n    ask \"q\" {\n      on yes => { if attempt > 1 { goto bye } }\n      on _ => goto bye\n    }",
    );
    assert_eq!(check_codes(&src), ["E300@8"]);
}

#[test]
fn if_with_else_on_every_arm_ends_a_branch() {
    let src = with_opening(
        "    ask \"q\" {\n      on yes => { if attempt > 1 { goto bye } else if hour < 9 { hangup done } else { retry } }\n      on _ => goto bye\n      on exhausted => goto bye\n    }",
    );
    assert_eq!(check_codes(&src), Vec::<String>::new());
}

#[test]
fn a_guarded_silence_branch_does_not_count() {
    let src = with_opening(
        "    ask \"q\" {\n      on silence if attempt > 1 => goto bye\n      on unknown, yes => goto bye\n    }",
    );
    assert_eq!(check_codes(&src), ["E302@6"]);
}

#[test]
fn objection_handlers_cover_silence_and_a_handler_retry_needs_exhausted() {
    let src = "use std.zh.common\nscript s {\n  purpose service\n  outcomes { done }\n  opening {\n    ask \"q\" {\n      on yes => hangup done\n    }\n  }\n  objection {\n    on silence, unknown => retry\n  }\n}\n";
    assert_eq!(check_codes(src), ["E303@11"]);
    let fixed = src.replace("  objection {\n", "  objection {\n    on exhausted => hangup done\n");
    assert_eq!(check_codes(&fixed), Vec::<String>::new());
}

#[test]
fn goto_section_step_with_suggestion() {
    let src = with_opening("    ask \"q\" {\n      on _ => goto closing.by\n    }");
    let checked = check_source("main.call", &src);
    assert_eq!(checked.diagnostics[0].message, "step `by` is not defined in `closing`; did you mean `bye`?");
}

#[test]
fn a_loop_through_an_ask_is_fine_but_one_without_is_not() {
    let good = with_opening("    ask \"q\" {\n      on yes => goto opening\n      on _ => goto bye\n    }");
    assert_eq!(check_codes(&good), Vec::<String>::new());
    let bad = with_opening("    say \"x\"\n    goto opening");
    assert_eq!(check_codes(&bad), ["E306@7", "W001@10"]);
}

#[test]
fn falling_through_sections_in_order() {
    // opening falls into core, core into closing; closing ends.
    let src = "script s {\n  purpose service\n  outcomes { done }\n  opening { say \"a\" }\n  core { say \"b\" }\n  closing { hangup done }\n}\n";
    assert_eq!(check_codes(src), Vec::<String>::new());
    let off = src.replace("closing { hangup done }", "closing { say \"c\" }");
    assert_eq!(check_codes(&off), ["W004@3", "E301@6"]);
}

#[test]
fn imports_are_relative_and_not_transitive() {
    let mut files = MemoryFiles::default();
    files.0.insert("lib/a.call".into(), "use \"./b.call\"\nintent from_a { phrases \"甲\" }\n".into());
    files.0.insert("lib/b.call".into(), "intent from_b { phrases \"乙\" }\n".into());
    let main = "use \"./lib/a.call\"\nscript s {\n  purpose service\n  outcomes { done }\n  opening {\n    ask \"q\" {\n      on from_a => hangup done\n      on from_b => hangup done\n      on _ => hangup done\n    }\n  }\n}\n";
    let checked = check(vec![Source::new("main.call", main)], &mut files);
    let codes: Vec<&str> = checked.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["E101"], "{:?}", checked.diagnostics);
    assert!(checked.diagnostics[0].message.contains("from_b"));
}

#[test]
fn a_missing_file_is_an_error_at_the_use() {
    let codes = check_codes("use \"./nope.call\"\n");
    assert_eq!(codes, ["E106@1"]);
}

#[test]
fn allow_covers_only_its_construct_and_is_kept_for_audit() {
    let src = with_opening(
        "    say \"本次通话将被录音\"\n    ask \"q\" {\n      on yes => goto bye\n      @allow(W006, \"kept while legal reviews the wording\")\n      on _ => { goto bye; say \"x\" }\n    }\n    say \"y\"",
    );
    let checked = check_source("main.call", &src);
    let codes: Vec<&str> = checked.diagnostics.iter().map(|d| d.code).filter(|c| !c.starts_with("CS")).collect();
    assert_eq!(codes, ["W006"], "the statement after the ask is not covered");
    assert_eq!(checked.allowed.len(), 1);
    assert_eq!(checked.allowed[0].reason, "kept while legal reviews the wording");
}

#[test]
fn types_money_stays_money_and_int_widens() {
    let src = "script s {\n  purpose service\n  input { amount: money, days: int, tail: text }\n  let total: money = amount + days * 2\n  let late: bool = days > 3 and amount >= 100\n  outcomes { done }\n  opening {\n    if late { say \"{{total | money}}{{tail | digits}}{{days | number}}\" }\n    hangup done\n  }\n}\n";
    assert_eq!(check_codes(src), Vec::<String>::new());
    let bad = src.replace("amount + days * 2", "amount / amount");
    assert_eq!(check_codes(&bad), ["E203@4"]);
}

#[test]
fn shadowing_an_import_warns_and_a_local_duplicate_errors() {
    let src = "use std.zh.common\nintent busy { phrases \"真忙\" }\nintent busy { phrases \"很忙\" }\nscript s {\n  purpose service\n  outcomes { done }\n  opening { ask \"q\" { on busy => hangup done\n on _ => hangup done } }\n}\n";
    assert_eq!(check_codes(src), ["W005@2", "E104@3"]);
}

/// In a check of several files, each root's program (lowered for the compliance rules) keeps
/// the text of that root and of what it imports, not of every file of the check, so checking
/// a folder stays linear in its files.
#[test]
fn a_roots_program_keeps_only_the_files_it_reaches() {
    let mut files = MemoryFiles::default();
    files.0.insert("lib/a.call".into(), "use \"./b.call\"\nintent from_a { phrases \"甲\" }\n".into());
    files.0.insert("lib/b.call".into(), "intent from_b { phrases \"乙\" }\n".into());
    let script = |name: &str| {
        format!("script {name} {{\n  purpose service\n  outcomes {{ done }}\n  opening {{\n    hangup done\n  }}\n}}\n")
    };
    let roots = vec![
        Source::new("one.call", format!("use \"./lib/a.call\"\n{}", script("one"))),
        Source::new("two.call", script("two")),
    ];
    let checked = check(roots, &mut files);
    assert_eq!(checked.error_count(), 0, "{:?}", checked.diagnostics);
    let kept = |root: &str| -> Vec<String> {
        let id = checked.sources.find(root).expect("a root");
        let program = callscript_compiler::lower::lower_file(&checked.files, &checked.sources, id, None);
        assert_eq!(program.files.len(), checked.sources.len(), "SourceIds still index the files");
        program.files.iter().filter(|f| !f.text.is_empty()).map(|f| f.name.clone()).collect()
    };
    assert_eq!(kept("one.call"), ["one.call", "lib/a.call", "lib/b.call"]);
    assert_eq!(kept("two.call"), ["two.call"]);
    // `lower` (what `build` writes) is the program the checker lowered: the same files.
    let id = checked.sources.find("one.call").expect("a root");
    let built: Vec<String> = callscript_compiler::lower::lower(&checked, id)
        .files
        .iter()
        .filter(|f| !f.text.is_empty())
        .map(|f| f.name.clone())
        .collect();
    assert_eq!(built, ["one.call", "lib/a.call", "lib/b.call"]);
}

/// A file of intents only (like the stdlib): the phrase lints of §14 still run on it.
fn lint_codes(intents: &str) -> Vec<String> {
    check_codes(intents).into_iter().filter(|c| c.starts_with("W01")).collect()
}

#[test]
fn a_one_character_phrase_is_reported_unless_longer_phrases_claim_its_words() {
    assert_eq!(lint_codes("intent ok { phrases \"行\" }\n"), ["W010@1"]);
    // 帮忙 is the only word listed for 忙; a phrase `帮忙` claims it, so `忙` is fine.
    assert_eq!(lint_codes("intent busy { phrases \"忙\" }\n"), ["W010@1"]);
    assert_eq!(lint_codes("intent busy { phrases \"忙\" }\nintent help { phrases \"帮忙\" }\n"), Vec::<String>::new());
    // Characters outside the table, and two-character phrases, are not reported.
    assert_eq!(lint_codes("intent ok { phrases \"嗯\", \"行啊\" }\n"), Vec::<String>::new());
    // A pattern that can leave one character is.
    assert_eq!(lint_codes("intent ok { phrases \"[那]好\" }\n"), ["W010@1"]);
}

#[test]
fn w010_on_a_top_level_intent_can_be_allowed() {
    let src = "@allow(W010, \"行 alone is the usual answer here\")\nintent ok { phrases \"行\" }\n";
    assert_eq!(check_codes(src), Vec::<String>::new());
}

#[test]
fn regex_like_characters_warn_where_e404_does_not_apply() {
    assert_eq!(lint_codes("intent a { phrases \"已经．＊还\" }\n"), ["W011@1"]);
    assert_eq!(lint_codes("intent a { phrases \"还＄款\", \"a^b\" }\n"), ["W011@1", "W011@1"]);
    // Money, a decimal point and a question mark are not regex syntax.
    assert_eq!(lint_codes("intent a { phrases \"还了$100\", \"1．5万\", \"还了吗？\" }\n"), Vec::<String>::new());
    // ASCII regex syntax is the error E404, not the warning as well.
    assert_eq!(check_codes("intent a { phrases \"已经.*还\" }\n"), ["E404@1"]);
}

#[test]
fn the_same_phrase_in_two_intents_of_one_scope() {
    let src = "intent a { phrases \"还了\" }\nintent b { phrases \"[已经]还了\" }\n";
    assert_eq!(lint_codes(src), ["W012@2"]);
    // Normalisation: punctuation and width do not make phrases different.
    assert_eq!(lint_codes("intent a { phrases \"还了。\" }\nintent b { phrases \"还了\" }\n"), ["W012@2"]);
    // The same phrase twice in one intent is not this warning.
    assert_eq!(lint_codes("intent a { phrases \"还了\", \"还了\" }\n"), Vec::<String>::new());
    // Intents of two scripts never compete.
    let scripts = "script s {\n  outcomes { done }\n  intent a { phrases \"还了\" }\n  opening { ask \"q\" { on a => hangup done\n on _ => hangup done } }\n}\nscript t {\n  outcomes { done }\n  intent b { phrases \"还了\" }\n  opening { ask \"q\" { on b => hangup done\n on _ => hangup done } }\n}\n";
    assert_eq!(lint_codes(scripts), Vec::<String>::new());
}
