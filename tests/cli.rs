//! End-to-end tests of the `callscript` binary: exit codes, output contracts and files.

use std::path::Path;
use std::process::Output;

mod support;
use support::{callscript, scratch};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs the built `callscript` like [`callscript`], with `input` as its standard input.
fn callscript_with_stdin(args: &[&str], input: &str) -> Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_callscript"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut stdin = child.stdin.take().expect("stdin");
    // The binary may stop reading early (the call ended): a broken pipe is not the test's fault.
    let _ = stdin.write_all(input.as_bytes());
    drop(stdin);
    child.wait_with_output().expect("the binary ends")
}

#[test]
fn check_exit_codes() {
    assert_eq!(callscript(&["check", "examples"]).status.code(), Some(0));
    assert_eq!(callscript(&["check", "tests/cases/err/E301_falls_off_end.call"]).status.code(), Some(1));
    let missing = callscript(&["check", "no/such/file.call"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("no/such/file.call"), "{}", stderr(&missing));
    assert_eq!(callscript(&["check", "--format", "yaml", "examples"]).status.code(), Some(2));
}

#[test]
fn check_json_is_one_object() {
    let out = callscript(&["check", "--format", "json", "tests/cases/err/W002_unused_input.call"]);
    assert_eq!(out.status.code(), Some(0), "a warning alone does not fail");
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("valid JSON");
    assert_eq!(v["summary"]["warnings"], 1);
    assert_eq!(v["diagnostics"][0]["code"], "W002");
    assert_eq!(v["diagnostics"][0]["severity"], "warning");
    assert!(v["diagnostics"][0]["help"].is_string());
}

#[test]
fn test_command_runs_the_examples() {
    let out = callscript(&["test", "examples"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let last = text.lines().last().unwrap_or_default();
    let passed: usize = last.split(' ').next().unwrap().parse().unwrap();
    assert!(passed >= 15, "{last}");
    assert_eq!(last, format!("{passed} passed, 0 failed"));
}

#[test]
fn test_command_reports_failures_with_transcripts() {
    let out = callscript(&["test", "tests/cases/conversation"]);
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!(stdout(&out));
}

#[test]
fn test_command_coverage() {
    let out = callscript(&["test", "--coverage", "tests/cases/conversation"]);
    let text = stdout(&out);
    assert!(text.contains("coverage order:"), "{text}");
    insta::assert_snapshot!(
        text.lines()
            .filter(|l| l.starts_with("coverage") || l.starts_with("  not reached"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Coverage counts a flow's steps and ask branches (at their lines) and both branches of a
/// `do`: the one test takes `on ok` and `on yes`, the rest is listed with file:line.
#[test]
fn test_command_coverage_of_flows_and_dos() {
    let out = callscript(&["test", "--coverage", "tests/coverage/flow_and_do.call"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    insta::assert_snapshot!(stdout(&out));
}

#[test]
fn test_command_cannot_run_a_broken_script() {
    let out = callscript(&["test", "tests/cases/err/E301_falls_off_end.call"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("E301"));
}

/// A script whose recording notice is English: clean under the `us` pack, CS001 under `cn`.
const US_SCRIPT: &str = r#"use std.zh.common

script greet "Greeting" {
  purpose service
  outcomes { done, declined }
  opening {
    say "This call may be recorded."
    ask "Is now a good time?" retries 1 {
      on yes => hangup done
      on no => hangup declined
      on silence, unknown => retry
      on exhausted => hangup declined
    }
  }
  objection {
    on emotion angry, complaint => transfer "agent"
  }
}

test "yes ends the call" for greet {
  reply "是"
  expect hangup done
}
"#;

/// A campaign for [`US_SCRIPT`] under `jurisdiction`.
fn us_campaign(dir: &Path, jurisdiction: &str) -> std::path::PathBuf {
    let path = dir.join(format!("campaign_{jurisdiction}.toml"));
    let text = format!(
        "task_id = \"GREET\"\nscript = \"greet.call\"\ncustomers = \"customers.csv\"\njurisdiction = \"{jurisdiction}\"\n\n\
         [schedule]\nstart_time = \"09:00\"\nend_time = \"18:00\"\ntimezone = \"America/New_York\"\n\n\
         [retry]\nmax_attempts = 3\n\n[limits]\nper_customer_per_day = 1\nper_customer_per_7_days = 3\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// `test`, `simulate` and `build` check under `--jurisdiction` like `check` (default `cn`), and
/// a campaign's own jurisdiction wins over the flag.
#[test]
fn test_and_simulate_take_the_jurisdiction() {
    let tmp = scratch("cli-jurisdiction");
    let dir = tmp.path();
    let script = dir.join("greet.call");
    std::fs::write(&script, US_SCRIPT).unwrap();
    let replies = dir.join("replies.txt");
    std::fs::write(&replies, "是\n").unwrap();
    let (script, replies) = (script.to_str().unwrap(), replies.to_str().unwrap());

    for (args, code) in [
        (vec!["check", script], 1),
        (vec!["check", "--jurisdiction", "us", script], 0),
        (vec!["test", script], 2),
        (vec!["test", "--jurisdiction", "cn", script], 2),
        (vec!["test", "--jurisdiction", "us", script], 0),
        (vec!["simulate", script, "--replies", replies], 1),
        (vec!["simulate", "--jurisdiction", "us", script, "--replies", replies], 0),
    ] {
        let out = callscript(&args);
        // `check` prints its findings on standard output, the other commands on standard error.
        let shown = stdout(&out) + &stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{args:?}\n{shown}");
        assert_eq!(shown.contains("[CS001]"), code != 0, "{args:?}: {shown}");
    }
    let tested = callscript(&["test", "--jurisdiction", "us", script]);
    assert!(stdout(&tested).ends_with("1 passed, 0 failed\n"), "{}", stdout(&tested));
    let simulated = callscript(&["simulate", "--jurisdiction", "us", script, "--replies", replies]);
    assert!(stdout(&simulated).contains("call ended: done"), "{}", stdout(&simulated));

    // A campaign's own jurisdiction wins over the flag, for its script's tests and simulation.
    let us = us_campaign(dir, "us");
    let cn = us_campaign(dir, "cn");
    let (us, cn) = (us.to_str().unwrap(), cn.to_str().unwrap());
    for (args, code) in [
        (vec!["test", us], 0),
        (vec!["test", "--jurisdiction", "cn", us], 0),
        (vec!["test", "--jurisdiction", "us", cn], 2),
        (vec!["simulate", us, "--replies", replies], 0),
        (vec!["simulate", "--jurisdiction", "us", cn, "--replies", replies], 1),
    ] {
        let out = callscript(&args);
        assert_eq!(out.status.code(), Some(code), "{args:?}\n{}{}", stdout(&out), stderr(&out));
    }

    // `build` records the pack it checked under; an unknown one cannot run.
    let built = dir.join("greet.callc");
    let out = callscript(&["build", "--jurisdiction", "us", script, "-o", built.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = callscript(&["test", "--jurisdiction", "xx", script]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no compliance pack for the jurisdiction `xx`"), "{}", stderr(&out));
}

#[test]
fn build_then_disasm() {
    let tmp = scratch("cli-build");
    let dir = tmp.path();
    let out_file = dir.join("loan.callc");
    let out = callscript(&["build", "examples/loan_reminder/loan_reminder.call", "-o", out_file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let listing = callscript(&["disasm", out_file.to_str().unwrap()]);
    assert_eq!(listing.status.code(), Some(0));
    insta::assert_snapshot!(stdout(&listing));
}

#[test]
fn damaged_bytecode_is_a_clear_error() {
    let tmp = scratch("cli-damaged");
    let dir = tmp.path();
    let good = dir.join("good.callc");
    assert_eq!(
        callscript(&["build", "examples/card_activation/card_activation.call", "-o", good.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    let bytes = std::fs::read(&good).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not.callc", b"hello".to_vec(), "not a CallScript bytecode file"),
        ("truncated.callc", bytes[..bytes.len() / 2].to_vec(), "damaged"),
        (
            "flipped.callc",
            {
                let mut b = bytes.clone();
                let i = b.len() - 10;
                b[i] ^= 0xff;
                b
            },
            "damaged",
        ),
        (
            "version.callc",
            {
                let mut b = bytes.clone();
                b[8] = 99;
                b
            },
            "format 99",
        ),
    ];
    for (name, content, expected) in cases {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        let out = callscript(&["disasm", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(stderr(&out).contains(expected), "{name}: {}", stderr(&out));
    }
}

#[test]
fn simulate_from_a_replies_file() {
    let tmp = scratch("cli-simulate");
    let dir = tmp.path();
    let replies = dir.join("replies.txt");
    std::fs::write(
        &replies,
        "# a bug report's replies\n是我\n/ok {\"balance\": \"980.00\", \"due\": \"2026-11-30\"}\n/silence\n你们罚息太高了\n我今天下午就还\n先还一千\n对\n",
    )
    .unwrap();
    let out = callscript(&[
        "simulate",
        "examples/loan_reminder/loan_reminder.call",
        "--today",
        "2026-11-24",
        "--input",
        "customer_name=张三",
        "--input",
        "days_overdue=5",
        "--input",
        "amount_due=1200.50",
        "--input",
        "account_tail=8831",
        "--replies",
        replies.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    insta::assert_snapshot!(stdout(&out));
}

/// `simulate` shows which branch each turn took and what it captured; its stored transcript
/// masks a sensitive capture and the answer it came from.
#[test]
fn simulate_shows_branches_and_captures() {
    let tmp = scratch("cli-simulate-capture");
    let dir = tmp.path();
    let replies = dir.join("replies.txt");
    let transcript = dir.join("transcript.json");
    std::fs::write(&replies, "/dtmf 12*8831#\n下周一\n三千五\n对\n").unwrap();
    let out = callscript(&[
        "simulate",
        "tests/cases/conversation/capture.call",
        "--input",
        "name=张三",
        "--input",
        "account_tail=8831",
        "--input",
        "amount_due=3500",
        "--today",
        "2026-11-24",
        "--replies",
        replies.to_str().unwrap(),
        "--transcript",
        transcript.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    insta::assert_snapshot!(stdout(&out));
    let stored = std::fs::read_to_string(&transcript).unwrap();
    assert!(!stored.contains("8831"), "{stored}");
    assert!(stored.contains("\"value\": \"2026-11-30\""), "{stored}");
    assert!(stored.contains("\"value\": \"3500.00\""), "{stored}");
}

/// `simulate` answers a `do` with what is typed (§13): `/ok {JSON}` gives the outputs and takes
/// `on ok` (an answer without every output is refused and typed again), `/failed WHY` takes
/// `on failed`. Replies come from the standard input.
#[test]
fn simulate_answers_actions_from_stdin() {
    let args = [
        "simulate",
        "tests/cases/conversation/actions.call",
        "--input",
        "name=张三",
        "--input",
        "account_tail=8831",
        "--today",
        "2026-11-24",
    ];
    let ok = callscript_with_stdin(
        &args,
        "/ok {\"balance\": 1200.50}\n/ok {\"balance\": 1200.50, \"due\": \"2026-12-01\"}\n好的\n",
    );
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    let failed = callscript_with_stdin(&args, "/failed 系统维护\n");
    assert_eq!(failed.status.code(), Some(0), "{}", stderr(&failed));
    let (ok, failed) = (stdout(&ok), stdout(&failed));
    assert!(ok.contains("(branch `on ok`)") && ok.contains("call ended: promised"), "{ok}");
    assert!(failed.contains("(branch `on failed`)") && failed.contains("call ended: unreachable"), "{failed}");
    insta::assert_snapshot!(format!("## /ok\n{ok}\n## /failed\n{failed}"));
}

#[test]
fn simulate_refuses_a_bad_today() {
    let out = callscript(&["simulate", "tests/cases/conversation/capture.call", "--today", "2026-02-30"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("`2026-02-30` is not a date"), "{}", stderr(&out));
}

#[test]
fn simulate_names_missing_inputs() {
    let out = callscript(&["simulate", "examples/loan_reminder/loan_reminder.call", "--input", "customer_name=张三"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--input days_overdue"), "{}", stderr(&out));
}

#[test]
fn help_lists_the_commands() {
    let out = callscript(&["--help"]);
    insta::assert_snapshot!(stdout(&out));
    assert!(Path::new(env!("CARGO_BIN_EXE_callscript")).exists());
}

/// The seed's JSON task runs as is; its template does not announce recording, so it is
/// refused with CS001 pointing into the JSON string; with the notice it runs.
#[test]
fn seed_json_task_is_checked_and_runs() {
    let tmp = scratch("cli-task");
    let dir = tmp.path();
    let task = dir.join("task.json");
    let json = r#"{ "task_id": "LOAN_REMIND_20231101", "customer_segment": "overdue_3_days",
  "script_template": "您好,{{customer_name}},您的贷款已逾期{{days}}天,请尽快还款至账号{{account}}。",
  "schedule": { "start_time": "09:00", "end_time": "18:00", "max_concurrent": 50 } }"#;
    std::fs::write(&task, json).unwrap();
    let csv = dir.join("customers.csv");
    std::fs::write(&csv, "id,phone,customer_name,days,account,segment\nc1,13800000001,张三,5,6222020000001234,overdue_3_days\nc2,13800000002,李四,1,6222020000005678,overdue_1_day\n").unwrap();
    let args =
        ["run", task.to_str().unwrap(), "--customers", csv.to_str().unwrap(), "-q", "--start", "2026-11-24T00:00:00Z"];
    let refused = callscript(&args);
    assert_eq!(refused.status.code(), Some(1));
    let err = stderr(&refused);
    assert!(err.contains("[CS001]") && err.contains("task.json:2:23"), "{err}");
    std::fs::write(&task, json.replace("您好,{{customer_name}},", "您好,{{customer_name}},本次通话将被录音。"))
        .unwrap();
    let ran = callscript(&args);
    assert_eq!(ran.status.code(), Some(0), "{}", stderr(&ran));
    // Only the customer in the named segment is called.
    assert!(stdout(&ran).contains("1 customers, 1 calls placed"), "{}", stdout(&ran));
}

/// The JSON task is the same campaign as a TOML file: its schedule is read and checked alike
/// (CS009, times, counts, unknown keys, the task id), and nothing is dialled when it is wrong.
#[test]
fn json_task_is_checked_like_toml() {
    let tmp = scratch("cli-task-rules");
    let dir = tmp.path();
    let task = dir.join("task.json");
    let csv = dir.join("customers.csv");
    std::fs::write(&csv, "id,phone,customer_name\nc1,13800000001,张三\n").unwrap();
    let json = |schedule: &str, extra: &str| {
        format!(
            r#"{{ "task_id": "T1", "purpose": "collection"{extra},
  "script_template": "您好,本次通话将被录音。{{{{customer_name}}}},请尽快还款。",
  "schedule": {schedule} }}"#
        )
    };
    let run = |text: &str| {
        std::fs::write(&task, text).unwrap();
        let args = [
            "run",
            task.to_str().unwrap(),
            "--customers",
            csv.to_str().unwrap(),
            "-q",
            "--start",
            "2026-11-24T00:00:00Z",
        ];
        let out = callscript(&args);
        let checked = callscript(&["check", task.to_str().unwrap()]);
        assert_eq!(checked.status.code(), out.status.code(), "check and run agree on {text}");
        (out.status.code(), stderr(&out))
    };
    for (schedule, extra, code) in [
        (r#"{ "start_time": "22:30", "end_time": "23:30" }"#, "", "[CS009]"),
        (r#"{ "start_time": "00:00", "end_time": "23:59" }"#, "", "[CS009]"),
        (r#"{ "start_time": "19:00", "end_time": "18:00" }"#, "", "[E605]"),
        (r#"{ "start_time": "9am", "end_time": "18:00" }"#, "", "[E604]"),
        (r#"{ "start_time": "09:00", "end_time": "18:00", "max_concurrent": 0 }"#, "", "[E604]"),
        (r#"{ "start_time": "09:00", "end_time": "18:00", "colour": "red" }"#, "", "[E601]"),
        (r#"{ "start_time": "09:00", "end_time": "18:00" }"#, r#", "owner": "x""#, "[E601]"),
    ] {
        let (status, err) = run(&json(schedule, extra));
        assert_eq!(status, Some(1), "{schedule} {extra}: {err}");
        assert!(err.contains(code) && err.contains("no call was placed"), "{schedule}: {err}");
    }
    // A quote in the task id never reaches the generated script's source.
    let (status, err) =
        run(&json(r#"{ "start_time": "09:00", "end_time": "18:00" }"#, "").replace("\"T1\"", r#""T\"1""#));
    assert_eq!(status, Some(1), "{err}");
    assert!(err.contains("[E604]") && err.contains("task_id"), "{err}");
    // And inside the pack's limits it runs.
    let (status, err) = run(&json(r#"{ "start_time": "09:00", "end_time": "18:00" }"#, ""));
    assert_eq!(status, Some(0), "{err}");
}

/// `check campaign.toml` refuses exactly what `run` refuses, with a code and the value's place.
#[test]
fn toml_campaign_check_and_run_agree() {
    let tmp = scratch("cli-toml-rules");
    let dir = tmp.path();
    std::fs::copy("examples/loan_reminder/loan_reminder.call", dir.join("loan_reminder.call")).unwrap();
    std::fs::copy("examples/loan_reminder/customers.csv", dir.join("customers.csv")).unwrap();
    let base = std::fs::read_to_string("examples/loan_reminder/campaign.toml").unwrap();
    let campaign = dir.join("campaign.toml");
    for (from, to, code) in [
        ("max_attempts", "max_attemps", "[E601]"),
        ("backoff = \"30m\"", "backoff = \"thirty\"", "[E604]"),
        ("start_time = \"09:00\"", "start_time = \"9 o'clock\"", "[E604]"),
        ("max_concurrent = 50", "max_concurrent = \"many\"", "[E602]"),
    ] {
        assert!(base.contains(from), "the example has `{from}`");
        std::fs::write(&campaign, base.replace(from, to)).unwrap();
        let checked = callscript(&["check", campaign.to_str().unwrap()]);
        let ran = callscript(&["run", campaign.to_str().unwrap(), "-q", "--start", "2026-11-24T00:00:00Z"]);
        assert_eq!(checked.status.code(), Some(1), "{to}: {}", stdout(&checked));
        assert_eq!(ran.status.code(), Some(1), "{to}: {}", stderr(&ran));
        assert!(stdout(&checked).contains(code) && stderr(&ran).contains(code), "{to}");
        assert!(stdout(&checked).contains("campaign.toml:"), "{}", stdout(&checked));
        assert!(!dir.join("campaign.db").exists(), "a refused campaign creates no store");
    }
}

/// `dnc import` names the line of a bad number as an editor shows it, also in a file saved with
/// `\r\n` line ends (the CSV reader's own count is one line short there), and imports nothing.
#[test]
fn dnc_import_names_the_line_of_a_bad_number() {
    let tmp = scratch("cli-dnc");
    let dir = tmp.path();
    for f in ["loan_reminder.call", "customers.csv", "campaign.toml"] {
        std::fs::copy(format!("examples/loan_reminder/{f}"), dir.join(f)).unwrap();
    }
    let list = dir.join("blocked.csv");
    let campaign = dir.join("campaign.toml");
    let import = || callscript(&["dnc", "import", list.to_str().unwrap(), "--campaign", campaign.to_str().unwrap()]);
    std::fs::write(&list, "phone,name\r\n13800000001,a\r\nnot-a-phone,b\r\n13800000003,c\r\n").unwrap();
    let out = import();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("blocked.csv:3:1: `not-a-phone` is not a phone number"), "{err}");
    assert!(err.contains("nothing was imported"), "{err}");
    std::fs::write(&list, "phone\r\n13800000001\r\n13800000002\r\n").unwrap();
    let out = import();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("imported 2 new numbers"), "{}", stdout(&out));
}

/// `dnc list`, `export` and `remove` (CAMPAIGN.md §7) on a store whose list was written with
/// known times: the table, the CSV (to a file and to standard output, the same bytes), removal
/// naming the numbers that were not on the list (exit 1), a bad number (exit 2, nothing
/// removed), and an export to a full disk (an error, not a short file).
#[test]
fn dnc_list_export_and_remove() {
    use callscript_runtime::store::{SqliteStore, Store};
    let tmp = scratch("cli-dnc-list");
    let dir = tmp.path();
    for f in ["loan_reminder.call", "customers.csv", "campaign.toml"] {
        std::fs::copy(format!("examples/loan_reminder/{f}"), dir.join(f)).unwrap();
    }
    let mut store = SqliteStore::open(&dir.join("campaign.db")).unwrap();
    store.dnc_add("+8613800000002", "import", 1_795_000_000_000).unwrap();
    store.dnc_add("+8613800000001", "complaint", 1_795_000_060_000).unwrap();
    store.dnc_add("+8613800000003", "import", 1_795_000_120_000).unwrap();
    drop(store);
    let campaign = dir.join("campaign.toml");
    let dnc = |args: &[&str]| {
        let mut all = vec!["dnc"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--campaign", campaign.to_str().unwrap()]);
        callscript(&all)
    };
    let list = dnc(&["list"]);
    assert_eq!(list.status.code(), Some(0), "{}", stderr(&list));
    insta::assert_snapshot!("dnc_list", stdout(&list));
    let csv = dir.join("dnc.csv");
    let export = dnc(&["export", "-o", csv.to_str().unwrap()]);
    assert_eq!(export.status.code(), Some(0), "{}", stderr(&export));
    let written = std::fs::read_to_string(&csv).unwrap();
    insta::assert_snapshot!("dnc_export", written);
    assert_eq!(stdout(&dnc(&["export"])), written);
    let full = dnc(&["export", "-o", "/dev/full"]);
    assert_eq!(full.status.code(), Some(2));
    assert!(stderr(&full).contains("cannot write /dev/full"), "{}", stderr(&full));

    let removed = dnc(&["remove", "13800000001", "+8613800000009"]);
    assert_eq!(removed.status.code(), Some(1), "one number was not on the list");
    insta::assert_snapshot!("dnc_remove_some_missing", stdout(&removed));
    let bad = dnc(&["remove", "13800000002", "not-a-phone"]);
    assert_eq!(bad.status.code(), Some(2));
    insta::assert_snapshot!("dnc_remove_bad_number", stderr(&bad));
    let file = dir.join("remove.csv");
    std::fs::write(&file, "name,phone\nb,13800000002\nc,13800000003\n").unwrap();
    let removed = dnc(&["remove", "--file", file.to_str().unwrap()]);
    assert_eq!(removed.status.code(), Some(0), "{}", stderr(&removed));
    assert_eq!(stdout(&removed), "removed 2 numbers from the do-not-call list\n");
    assert!(stdout(&dnc(&["list"])).ends_with("0 numbers on the do-not-call list\n"));
}

/// `intents eval` (§14): every labelled utterance against the script's intents in scope,
/// phrases first and the learned model for the rest; a table, and the JSON of the spec.
#[test]
fn intents_eval_scores_a_script_against_labelled_utterances() {
    let args = ["intents", "eval", "tests/cases/conversation/learned.call", "tests/learned/replies.csv"];
    let out = callscript(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    insta::assert_snapshot!("intents_eval_human", stdout(&out));
    let out = callscript(&[args[0], args[1], args[2], args[3], "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    for key in ["total", "accuracy", "macro_f1", "unknown_rate", "per_intent", "confusion"] {
        assert!(report.get(key).is_some(), "no `{key}` in {report}");
    }
    assert_eq!(report["total"], 11);
    assert_eq!(report["per_intent"]["paid_already"]["recall"], 1.0, "{report}");
    // A bad row is named by its line, and nothing is scored.
    let tmp = scratch("cli-intents-eval");
    let dir = tmp.path();
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "text,intent\n已经还了,paid_already\n只有一个字段\n").unwrap();
    let out = callscript(&[args[0], args[1], args[2], bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stderr(&out).contains("bad.csv:3:1"), "{}", stderr(&out));
}

/// `simulate` says when the learned model chose the intent, with its confidence and the words
/// that weighed most; the stored transcript says which intent decided and how.
#[test]
fn simulate_explains_a_learned_intent() {
    let tmp = scratch("cli-simulate-learned");
    let dir = tmp.path();
    let transcript = dir.join("t.json");
    let out = callscript_with_stdin(
        &["simulate", "tests/cases/conversation/learned.call", "--transcript", transcript.to_str().unwrap()],
        "我们已经把这个钱已经存进去了,好好好\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    insta::assert_snapshot!("simulate_learned", stdout(&out));
    let lines: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&transcript).unwrap()).unwrap();
    let reply = lines.as_array().unwrap().iter().find(|l| l["kind"] == "reply").expect("a reply");
    assert_eq!((reply["intent"].as_str(), reply["by"].as_str()), (Some("paid_already"), Some("model")), "{reply}");
    assert!(reply["confidence"].as_f64().is_some_and(|c| (0.4..=1.0).contains(&c)), "{reply}");
}

/// `intents suggest` (§14) groups a campaign's unrecognised replies and the last words of
/// calls that ended without a goal, with counts, samples, shared words and the nearest intent.
#[test]
fn intents_suggest_groups_what_the_script_did_not_understand() {
    let tmp = scratch("cli-intents-suggest");
    let dir = tmp.path();
    for f in ["loan_reminder.call", "customers.csv", "campaign.toml"] {
        std::fs::copy(format!("examples/loan_reminder/{f}"), dir.join(f)).unwrap();
    }
    let campaign = dir.join("campaign.toml");
    let text = std::fs::read_to_string(&campaign).unwrap().replace("enabled = true", "enabled = false");
    std::fs::write(&campaign, text).unwrap();
    let ran = callscript(&["run", campaign.to_str().unwrap(), "-q", "--start", "2026-11-24T00:00:00Z"]);
    assert_eq!(ran.status.code(), Some(0), "{}", stderr(&ran));
    let out = callscript(&["intents", "suggest", campaign.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let report = callscript(&["report", campaign.to_str().unwrap(), "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).expect("JSON");
    // The commonest unrecognised reply of the report leads the first group.
    let (top, count) = (&report["unrecognised"][0][0], report["unrecognised"][0][1].as_u64().unwrap());
    let first = &found["unrecognised"][0];
    assert_eq!(&first["samples"][0], top, "{found}");
    assert!(first["count"].as_u64().unwrap() >= count, "{found}");
    assert!(first["phrases"].as_array().is_some_and(|p| !p.is_empty()), "{found}");
    let refusals = found["refusal_reasons"].as_array().expect("refusal reasons");
    assert!(refusals.iter().any(|c| c["nearest"]["intent"] == "complaint"), "{found}");
    let human = callscript(&["intents", "suggest", campaign.to_str().unwrap()]);
    assert!(stdout(&human).contains("unrecognised replies:"), "{}", stdout(&human));
}

/// An A/B campaign (issue 18) of the loan reminder and a B script: `check` and `run` take both
/// scripts; the plan has each script with its share and its own hash (the hash of its file
/// checked alone), and each stored attempt names its script. A campaign of one script keeps
/// its program's sources hash, as before.
#[test]
fn an_ab_campaign_checks_and_runs_both_scripts() {
    let tmp = scratch("cli-ab");
    let dir = tmp.path();
    for f in ["loan_reminder.call", "customers.csv"] {
        std::fs::copy(format!("examples/loan_reminder/{f}"), dir.join(f)).unwrap();
    }
    let script = std::fs::read_to_string("examples/loan_reminder/loan_reminder.call").unwrap();
    let b = script
        .replace("script loan_reminder \"逾期还款提醒\"", "script loan_reminder_b \"逾期还款提醒(B)\"")
        .replace(" for loan_reminder {", " for loan_reminder_b {")
        .replace("您好,这里是星海银行信用卡中心,本次通话将被录音。", "您好,星海银行信用卡中心来电,本次通话将被录音。");
    std::fs::write(dir.join("loan_reminder_b.call"), b).unwrap();
    let campaign = std::fs::read_to_string("examples/loan_reminder/campaign.toml")
        .unwrap()
        .replace(
            "script = \"loan_reminder.call\"",
            "script = [\"loan_reminder.call\", \"loan_reminder_b.call\"]\nsplit = [40, 60]",
        )
        .replace("enabled = true", "enabled = false");
    let path = dir.join("campaign.toml");
    std::fs::write(&path, campaign).unwrap();
    let checked = callscript(&["check", path.to_str().unwrap()]);
    assert_eq!(checked.status.code(), Some(0), "{}", stdout(&checked));
    assert!(stdout(&checked).contains("in 3 files"), "{}", stdout(&checked));

    let (plan, _) = callscript::campaign::plan(&path, None, None).unwrap();
    let alone = |file: &str| {
        let (checked, _) = callscript::cli::check_paths(&[dir.join(file)]).unwrap();
        checked.root_program().unwrap().own_sources_sha256()
    };
    let variants: Vec<_> =
        plan.variants.iter().map(|v| (v.script.as_str(), v.share, v.script_sha256.clone())).collect();
    assert_eq!(
        variants,
        [("loan_reminder", 40, alone("loan_reminder.call")), ("loan_reminder_b", 60, alone("loan_reminder_b.call"))]
    );

    let ran = callscript(&["run", path.to_str().unwrap(), "-q", "--start", "2026-11-24T00:00:00Z"]);
    assert_eq!(ran.status.code(), Some(0), "{}", stderr(&ran));
    let store = callscript_runtime::store::SqliteStore::open_existing(&dir.join("campaign.db")).unwrap();
    use callscript_runtime::store::Store;
    let rows = store.attempt_rows(&plan.campaign_id).unwrap();
    assert!(!rows.is_empty());
    for r in &rows {
        assert_eq!(r.variant.as_deref(), Some(plan.variant_of(&r.customer_id).script.as_str()), "{}", r.customer_id);
    }
    // The two scripts side by side, from the stored attempts.
    let by_variant = callscript(&["report", path.to_str().unwrap(), "--by", "variant", "--format", "json"]);
    assert_eq!(by_variant.status.code(), Some(0), "{}", stderr(&by_variant));
    let json: serde_json::Value = serde_json::from_str(&stdout(&by_variant)).unwrap();
    let text = json.to_string();
    assert!(text.contains("loan_reminder_b") && text.contains("· loan_reminder\""), "{text}");

    // One script: the hash stored as it always was.
    let (single, _) =
        callscript::campaign::plan(Path::new("examples/loan_reminder/campaign.toml"), None, None).unwrap();
    let program = &single.variants[0].exec.program;
    assert_eq!((single.variants.len(), single.variants[0].share), (1, 100));
    assert_eq!(single.script_sha256(), program.sources_sha256());
}

/// A campaign's segment keeps exactly the customers the interpreter keeps, whether the JIT
/// compiles it (CAMPAIGN.md §8) or leaves it to the interpreter (text concatenation), and a
/// segment that fails on a row names the row with the interpreter's message.
#[test]
fn segments_keep_what_the_interpreter_keeps() {
    use callscript_compiler::value::Value;
    use callscript_runtime::campaign::customers;
    use callscript_runtime::vm::{CallContext, Session};
    let tmp = scratch("cli-segments");
    let dir = tmp.path();
    for f in ["loan_reminder.call", "customers.csv"] {
        std::fs::copy(format!("examples/loan_reminder/{f}"), dir.join(f)).unwrap();
    }
    let base = std::fs::read_to_string("examples/loan_reminder/campaign.toml").unwrap();
    let campaign = dir.join("campaign.toml");
    let with_segment = |segment: &str| {
        let toml = base.replace("segment = \"days_overdue >= 3\"", &format!("segment = {segment:?}"));
        std::fs::write(&campaign, toml).unwrap();
    };
    let csv = std::fs::read_to_string(dir.join("customers.csv")).unwrap();
    for segment in [
        "days_overdue >= 3",
        "days_overdue > 30 and amount_due >= 5000.00",
        "not (amount_due * 3 > 10000.00) or account_tail == \"3936\"",
        "balance == 0.00 and promised_date == today and days_overdue % 7 == 1",
        "customer_name + \"!\" != \"吴晶!\" and days_overdue < 10",
    ] {
        with_segment(segment);
        let (plan, _) = callscript::campaign::plan(&campaign, None, None).unwrap();
        let (exec, script) = (&plan.variants[0].exec, &plan.variants[0].script);
        let code = exec.program.script(script).unwrap();
        let condition = callscript_compiler::lower::compile_condition(segment, code).unwrap();
        let all = customers::load("customers.csv", &csv, code, "cn").unwrap();
        let expected: Vec<&str> = all
            .iter()
            .filter(|c| {
                let session = Session::start(exec.clone(), script, c.inputs.clone(), CallContext::default()).unwrap();
                session.evaluate(&condition) == Ok(Value::Bool(true))
            })
            .map(|c| c.id.as_str())
            .collect();
        let kept: Vec<&str> = (0..plan.customers.len()).map(|i| plan.customers.id(i)).collect();
        assert_eq!(kept, expected, "{segment}");
        assert!(!kept.is_empty() && kept.len() < all.len(), "{segment} keeps some: {}", kept.len());
    }
    // The first customer is 15 days overdue.
    with_segment("amount_due / (days_overdue - 15) > 0.00");
    let err = callscript::campaign::plan(&campaign, None, None).err().unwrap().to_string();
    assert!(err.contains("customers.csv:2: the segment cannot be computed: division by zero"), "{err}");
}

/// `segment`: the list, the segment's customers and, with `--explain`, the plan: what the
/// segment reads and whether it runs as native code or in the interpreter (with why). Times
/// vary, so they are masked in the snapshots.
#[test]
fn segment_counts_customers_and_explains_the_plan() {
    let masked = |o: &Output| {
        assert_eq!(o.status.code(), Some(0), "{}", stderr(o));
        let mut text = stdout(o);
        while let Some(at) = text.find(" ms") {
            let start = text[..at].rfind(|c: char| !(c.is_ascii_digit() || c == '.')).map_or(0, |i| i + 1);
            text.replace_range(start..at + 3, "[time]");
        }
        text
    };
    let jit = callscript(&["segment", "examples/loan_reminder/campaign.toml", "--explain"]);
    insta::assert_snapshot!("segment_jit", masked(&jit));

    // A segment the JIT does not compile (text joined with `+`) runs in the interpreter.
    let tmp = scratch("cli-segment");
    let dir = tmp.path();
    for f in ["loan_reminder.call", "customers.csv"] {
        std::fs::copy(format!("examples/loan_reminder/{f}"), dir.join(f)).unwrap();
    }
    let campaign = std::fs::read_to_string("examples/loan_reminder/campaign.toml").unwrap().replace(
        "segment = \"days_overdue >= 3\"",
        "segment = \"customer_name + \\\"先生\\\" == \\\"王伟先生\\\" or days_overdue > 60\"",
    );
    std::fs::write(dir.join("campaign.toml"), campaign).unwrap();
    let interpreted = callscript(&["segment", dir.join("campaign.toml").to_str().unwrap(), "--explain"]);
    let text = masked(&interpreted).replace(&dir.display().to_string(), "[dir]");
    insta::assert_snapshot!("segment_interpreted", text);

    // A JSON task's named segment, chosen by the list's `segment` column: every value counted.
    let task = dir.join("task.json");
    std::fs::write(&task, r#"{ "task_id": "T", "customer_segment": "overdue_3_days", "script_template": "您好,本次通话将被录音。{{customer_name}},请尽快还款。" }"#).unwrap();
    let csv = dir.join("named.csv");
    std::fs::write(&csv, "id,phone,customer_name,segment\nc1,13800000001,张三,overdue_3_days\nc2,13800000002,李四,overdue_1_day\nc3,13800000003,王五,overdue_3_days\n").unwrap();
    let named = callscript(&["segment", task.to_str().unwrap(), "--customers", csv.to_str().unwrap()]);
    insta::assert_snapshot!("segment_named", masked(&named));
}
