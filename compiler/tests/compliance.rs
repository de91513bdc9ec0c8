//! Compliance semantics through the checker's API, each test a script and the `CODE@line`s it
//! must produce (the fixtures in `tests/cases` show the rendered output).

use callscript_compiler::check::{CheckOptions, NoFiles, check_with};
use callscript_compiler::source::Source;

fn codes_with(src: &str, jurisdiction: &str) -> Vec<String> {
    let checked =
        check_with(vec![Source::new("main.call", src)], &mut NoFiles, &CheckOptions::jurisdiction(jurisdiction));
    let source = checked.sources.get(callscript_compiler::span::SourceId(0));
    // The template leaves inputs and outcomes unused: only compliance, errors and W007 count.
    checked
        .diagnostics
        .iter()
        .filter(|d| !d.code.starts_with('W') || d.code == "W007")
        .map(|d| format!("{}@{}", d.code, source.line_col(d.primary.at.span.start).line))
        .collect()
}

fn codes(src: &str) -> Vec<String> {
    codes_with(src, "cn")
}

/// A service script: the given opening, `core` and `objection` bodies.
fn script(purpose: &str, opening: &str, core: &str, objection: &str) -> String {
    format!(
        "use std.zh.common\nscript s {{\n  purpose {purpose}\n  input {{ tail: text sensitive }}\n  outcomes {{ done, won goal, out }}\n  opening {{\n{opening}\n  }}\n  core {{\n{core}\n  }}\n  objection {{\n    on emotion angry, complaint => transfer \"senior\"\n{objection}\n  }}\n}}\n"
    )
}

const GREET: &str = "    say \"您好,本次通话将被录音。\"\n    ask \"是本人吗?\" {\n      on yes => { verify; goto core }\n      on _ => hangup done\n    }";

#[test]
fn a_handler_only_after_verify_may_read_sensitive_values() {
    // The handler can interrupt the opening ask too, which is before `verify`.
    let handler = "    on busy => { say \"尾号{{tail}}\"; hangup done }";
    let src = script("service", GREET, "    ask \"还款吗?\" { on _ => hangup done }", handler);
    assert_eq!(codes(&src), ["CS002@18"]);
    // Without that ask, every ask the handler can interrupt is after `verify`.
    let opening = "    say \"您好,本次通话将被录音。\"\n    verify\n    goto core";
    let src = script("service", opening, "    ask \"还款吗?\" { on _ => hangup done }", handler);
    assert_eq!(codes(&src), Vec::<String>::new());
}

#[test]
fn retry_and_goto_loops_reach_a_fixed_point() {
    let core = "    step a {\n      say \"尾号{{tail}}\"\n      ask \"q\" retries 3 {\n        on yes => goto b\n        on silence, unknown => retry\n        on exhausted => hangup done\n      }\n    }\n    step b { ask \"r\" { on yes => goto a\n on _ => hangup done } }";
    assert_eq!(codes(&script("service", GREET, core, "")), Vec::<String>::new());
    let unverified = GREET.replace("{ verify; goto core }", "goto core");
    assert_eq!(codes(&script("service", &unverified, core, "")), ["CS002@15"]);
}

#[test]
fn the_us_pack_has_its_own_wording_and_phrases() {
    let opening = "    say \"This call may be monitored or recorded.\"\n    ask \"Is this John?\" {\n      on yes => { verify; goto core }\n      on _ => hangup done\n    }";
    let core = "    say \"We will pursue your account. Pay now or we will sue you.\"\n    hangup done";
    assert_eq!(codes_with(&script("collection", opening, core, ""), "us"), ["CS004@14"]);
    assert_eq!(codes_with(&script("collection", opening, core, ""), "cn"), ["CS001@7"]);
}

#[test]
fn an_unknown_jurisdiction_runs_no_rule() {
    assert!(CheckOptions::jurisdiction("mars").pack().is_err());
    let src = script("service", "    say \"您好\"\n    hangup done", "    hangup done", "");
    assert_eq!(codes_with(&src, "mars"), Vec::<String>::new());
    assert_eq!(codes(&src), ["CS001@7"]);
}

#[test]
fn a_language_error_stops_compliance_and_its_allows_are_not_judged() {
    let src = script(
        "service",
        "    @allow(CS008, \"legal text\")\n    say \"您好\"\n    goto nowhere",
        "    hangup done",
        "",
    );
    assert_eq!(codes(&src), ["E100@9"]);
}

#[test]
fn cs008_reads_a_bounded_amount_at_its_bound() {
    // 100 characters of text and an amount: read at money's extreme it is too long to speak in
    // 30 s; bounded by `max 99999.99` (九万九千九百九十九元九角九分, 14) it fits.
    let text = "请".repeat(100);
    let src = |bound: &str| {
        format!(
            "use std.zh.common\nscript s {{\n  purpose service\n  outcomes {{ done }}\n  let amount: money{bound} = 0\n  opening {{\n    say \"您好,本次通话将被录音。\"\n    say \"{text}{{{{amount | money}}}}\"\n    hangup done\n  }}\n  objection {{ on emotion angry, complaint => transfer \"senior\" }}\n}}\n"
        )
    };
    assert_eq!(codes(&src("")), ["CS008@8"]);
    assert_eq!(codes(&src(" max 99999.99")), Vec::<String>::new());
    assert_eq!(codes(&src(" min 0 max 99999999999.99")), ["CS008@8"]);
}

/// CS006's message and labels for a wealth offer whose warning prompt is `warning`.
fn risk_finding(warning: &str, jurisdiction: &str) -> (String, Vec<String>) {
    let notice = if jurisdiction == "cn" { "您好,本次通话将被录音。" } else { "This call may be recorded." };
    let src = format!(
        "use std.zh.common\nscript s {{\n  purpose marketing\n  product investment\n  outcomes {{ won goal, out }}\n  opening {{\n    say \"{notice}\"\n    say \"{warning}\"\n    ask \"q\" {{\n      on yes => hangup won\n      on optout => {{ optout; hangup out }}\n      on _ => hangup out\n    }}\n  }}\n  objection {{ on emotion angry, complaint => transfer \"senior\" }}\n}}\n"
    );
    let checked = check_with(
        vec![Source::new("main.call", src.clone())],
        &mut NoFiles,
        &CheckOptions::jurisdiction(jurisdiction),
    );
    let found: Vec<_> = checked.diagnostics.iter().filter(|d| d.code == "CS006").collect();
    assert_eq!(found.len(), 1, "{warning}: {:?}", checked.diagnostics);
    let labels = found[0].secondary.iter().map(|l| format!("{} {}", &src[l.at.span.range()], l.message)).collect();
    (found[0].message.clone(), labels)
}

#[test]
fn a_near_miss_of_the_risk_disclosure_names_the_characters() {
    let (message, labels) = risk_finding("理财非存款,产品有风险,投资需谨慎。", "cn");
    assert!(message.ends_with("it is written 投资需谨慎 where the pack has 投资须谨慎 (需 ≠ 须)"), "{message}");
    assert_eq!(labels, ["需 the pack has 须 here"]);
    // Two parts off by one character each.
    let (message, labels) = risk_finding("理财非存款,产品由风险,投资需谨慎。", "cn");
    assert!(
        message.contains("产品由风险 where the pack has 产品有风险 (由 ≠ 有); it is written 投资需谨慎"),
        "{message}"
    );
    assert_eq!(labels, ["由 the pack has 有 here", "需 the pack has 须 here"]);
    // Latin text keeps its layout and case.
    let us = "Not FDIC insurad, not a deposit, subject to investment risk.";
    let (message, labels) = risk_finding(us, "us");
    assert!(
        message.ends_with("it is written Not FDIC insurad where the pack has Not FDIC insured (a ≠ e)"),
        "{message}"
    );
    assert_eq!(labels, ["a the pack has e here"]);
    // Characters whose lower case is longer than they are (İ) are no trouble.
    let (message, _) = risk_finding("NOT FDİC INSURED, NOT A DEPOSİT, INVESTMENT RİSK", "us");
    assert!(message.starts_with("the goal outcome `won` can be reached before the risk disclosure"), "{message}");
    // Other wording, or a part left out, is not a near miss: the finding says only what is missing.
    for far in ["理财非存款,产品有风险,投资要小心。", "理财非存款,投资需谨慎。", "投资有风险。"]
    {
        let (message, labels) = risk_finding(far, "cn");
        assert_eq!(message, "the goal outcome `won` can be reached before the risk disclosure", "{far}");
        assert!(labels.is_empty(), "{far}: {labels:?}");
    }
}

// ---- flows (§12): each flow is analysed once, its findings name the call site ------------

/// The findings of a source: `CODE@line` and the witness as `line: message` (line numbers
/// 1-based).
fn findings(src: &str) -> Vec<(String, Vec<String>)> {
    let checked = check_with(vec![Source::new("main.call", src)], &mut NoFiles, &CheckOptions::jurisdiction("cn"));
    let source = checked.sources.get(callscript_compiler::span::SourceId(0));
    let line = |at: u32| source.line_col(at).line;
    checked
        .diagnostics
        .iter()
        .filter(|d| !d.code.starts_with('W'))
        .map(|d| {
            let path = d.path.iter().map(|l| format!("{}: {}", line(l.at.span.start), l.message)).collect();
            (format!("{}@{}", d.code, line(d.primary.at.span.start)), path)
        })
        .collect()
}

const NOTICE: &str = "say \"您好,本次通话将被录音。\"";

#[test]
fn a_sensitive_value_in_a_flow_is_found_through_the_unverified_call_only() {
    let src = format!(
        "use std.zh.common\nflow read (t: text) {{\n  say \"尾号{{{{t}}}}\"\n}}\nscript s {{\n  purpose service\n  input {{ tail: text sensitive }}\n  outcomes {{ done }}\n  opening {{\n    {NOTICE}\n    call read(tail)\n    verify\n    call read(tail)\n    hangup done\n  }}\n  objection {{ on emotion angry, complaint => transfer \"senior\" }}\n}}\n"
    );
    let found = findings(&src);
    assert_eq!(found.len(), 1, "{found:#?}");
    let (at, path) = &found[0];
    assert_eq!(at, "CS002@3");
    assert_eq!(
        path,
        &[
            "9: 1. the call starts here",
            "11: 2. this call runs flow `read`",
            "2: 3. then step `read`; reached from here without `verify`",
        ]
    );
    // Called only after `verify`, it is clean.
    let verified = src.replace("    call read(tail)\n    verify\n", "    verify\n");
    assert_eq!(findings(&verified), []);
}

#[test]
fn a_recording_notice_in_a_flow_counts_on_the_paths_that_call_it() {
    let src = |other: &str| {
        format!(
            "use std.zh.common\nflow notice () {{\n  {NOTICE}\n}}\nscript s {{\n  purpose service\n  input {{ vip: bool }}\n  outcomes {{ done }}\n  opening {{\n    if vip {{\n      call notice()\n    }}{other}\n    say \"请问您是本人吗?\"\n    hangup done\n  }}\n  objection {{ on emotion angry, complaint => transfer \"senior\" }}\n}}\n"
        )
    };
    let found = findings(&src(""));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].0, "CS001@13");
    assert_eq!(
        found[0].1,
        [
            "9: 1. the call starts here",
            "10: 2. this condition does not hold; reached from here with no prompt before it"
        ]
    );
    assert_eq!(findings(&src(" else {\n      call notice()\n    }")), []);
}

#[test]
fn a_flow_returns_to_the_code_after_each_of_its_calls() {
    // The flow's question lets an angry customer `return`: after the first call a person is
    // reached, after the second the call hangs up. The question is checked in every context.
    let src = |second: &str| {
        format!(
            "use std.zh.common\nflow hold () {{\n  ask \"还有其他问题吗?\" {{\n    on emotion angry, complaint => return\n    on _ => return\n  }}\n}}\nscript s {{\n  purpose service\n  outcomes {{ done }}\n  opening {{\n    {NOTICE}\n    ask \"需要人工吗?\" {{\n      on yes => {{ call hold(); transfer \"senior\" }}\n      on no => {{ call hold(); {second} }}\n      on _ => hangup done\n    }}\n  }}\n  objection {{ on emotion angry, complaint => transfer \"senior\" }}\n}}\n"
        )
    };
    let found = findings(&src("hangup done"));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].0, "CS007@3");
    assert_eq!(findings(&src("transfer \"senior\"")), []);
}

#[test]
fn handlers_interrupt_asks_of_nested_flows_with_their_state() {
    // `inner`'s question can be interrupted before `verify` (through the first call of
    // `outer`), so the handler's reading is a finding, whose witness runs through both calls.
    let src = |first: &str| {
        format!(
            "use std.zh.common\nflow inner () {{\n  ask \"内层问题?\" {{\n    on yes => return\n    on _ => return\n  }}\n}}\nflow outer () {{\n  say \"外层\"\n  call inner()\n}}\nscript s {{\n  purpose service\n  input {{ tail: text sensitive }}\n  outcomes {{ done }}\n  opening {{\n    {NOTICE}\n{first}\n    verify\n    call outer()\n    hangup done\n  }}\n  objection {{\n    on emotion angry, complaint => transfer \"senior\"\n    on busy => {{ say \"尾号{{{{tail}}}}\"; hangup done }}\n  }}\n}}\n"
        )
    };
    let found = findings(&src("    call outer()"));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].0, "CS002@25");
    assert_eq!(
        found[0].1,
        [
            "16: 1. the call starts here",
            "18: 2. this call runs flow `outer`",
            "8: 3. then step `outer`",
            "10: 4. this call runs flow `inner`",
            "2: 5. then step `inner`",
            "3: 6. this question waits for an answer",
            "25: 7. the objection handler for `busy` interrupts; reached from here without `verify`",
        ]
    );
    assert_eq!(findings(&src("")), []);
}

#[test]
fn an_opt_out_run_by_a_flow_counts_for_the_handler_that_calls_it() {
    let src = |body: &str| {
        format!(
            "use std.zh.common\nflow record () {{\n  {body}\n}}\nscript s {{\n  purpose marketing\n  outcomes {{ out }}\n  opening {{\n    {NOTICE}\n    ask \"了解一下吗?\" {{ on _ => hangup out }}\n  }}\n  objection {{\n    on emotion angry, complaint => transfer \"senior\"\n    on optout => {{ call record(); hangup out }}\n  }}\n}}\n"
        )
    };
    assert_eq!(findings(&src("optout")), []);
    let found = findings(&src("say \"好的\""));
    assert_eq!(found.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(), ["CS005@10"], "{found:#?}");
}

#[test]
fn a_message_after_a_flow_follows_an_opt_out_only_where_that_call_does() {
    // `note` runs after the opt-out and before the message, but at different calls: returning
    // from the first does not lead to the message.
    let src = |after_optout: &str| {
        format!(
            "use std.zh.common\nflow note () {{\n  say \"好的\"\n}}\nscript s {{\n  purpose service\n  outcomes {{ done, out }}\n  opening {{\n    {NOTICE}\n    ask \"现在方便吗?\" {{\n      on optout => {{ optout; call note(); {after_optout}hangup out }}\n      on yes => {{ call note(); sms \"【星海银行】还款提醒\"; hangup done }}\n      on _ => hangup done\n    }}\n  }}\n  objection {{ on emotion angry, complaint => transfer \"senior\" }}\n}}\n"
        )
    };
    assert_eq!(findings(&src("")), []);
    let found = findings(&src("sms \"【星海银行】再见\"; "));
    assert_eq!(found.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(), ["CS010@11"], "{found:#?}");
}

#[test]
fn a_handlers_goto_leaves_every_flow() {
    // The flow's question can be interrupted by `on busy`, whose `goto` leaves the flow (and
    // the `verify` after its call) behind.
    let src = format!(
        "use std.zh.common\nflow confirm () {{\n  ask \"是本人吗?\" {{\n    on yes => return\n    on _ => return\n  }}\n}}\nscript s {{\n  purpose service\n  input {{ tail: text sensitive }}\n  outcomes {{ done }}\n  opening {{\n    {NOTICE}\n    call confirm()\n    verify\n    goto core\n  }}\n  core {{\n    say \"尾号{{{{tail}}}}\"\n    hangup done\n  }}\n  objection {{\n    on emotion angry, complaint => transfer \"senior\"\n    on busy => goto core\n  }}\n}}\n"
    );
    let found = findings(&src);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].0, "CS002@19");
    assert_eq!(
        found[0].1,
        [
            "12: 1. the call starts here",
            "14: 2. this call runs flow `confirm`",
            "2: 3. then step `confirm`",
            "3: 4. this question waits for an answer",
            "24: 5. the objection handler for `busy` interrupts",
            "18: 6. then step `core`; reached from here without `verify`",
        ]
    );
}
