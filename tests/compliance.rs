//! End-to-end tests of the compliance output: SARIF validated against the official SARIF 2.1.0
//! schema, the witness in JSON, campaigns and jurisdictions on the command line.

mod support;
use support::{callscript, scratch};

fn json(args: &[&str]) -> serde_json::Value {
    let out = callscript(args);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn sarif_validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemas/sarif-schema-2.1.0.json"))
        .expect("the schema is committed");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("the schema is JSON");
    jsonschema::validator_for(&schema).expect("the schema compiles")
}

#[test]
fn sarif_is_valid_against_the_official_schema() {
    let validator = sarif_validator();
    // The schema does reject what is not SARIF.
    assert!(!validator.is_valid(&serde_json::json!({ "version": "2.1.0" })));
    assert!(!validator.is_valid(&serde_json::json!({ "version": "2.1.0", "runs": [{ "results": [] }] })));
    for args in [
        &["check", "--format", "sarif", "tests/cases/err/CS002_handler_from_unverified_ask.call"][..],
        &["check", "--format", "sarif", "tests/cases/ok/allowed_long_prompt.call"],
        &["check", "--format", "sarif", "tests/cases/err/CS009_campaign_window/campaign.toml"],
        &["check", "--format", "sarif", "tests/cases/err"],
        &["check", "--format", "sarif", "examples"],
    ] {
        let log = json(args);
        let errors: Vec<String> =
            validator.iter_errors(&log).map(|e| format!("{e} at {}", e.instance_path())).collect();
        assert!(errors.is_empty(), "{args:?}: {errors:#?}");
    }
}

#[test]
fn sarif_has_rules_code_flows_and_suppressions() {
    let log = json(&["check", "--format", "sarif", "tests/cases/err/CS002_handler_from_unverified_ask.call"]);
    let run = &log["runs"][0];
    assert_eq!(log["version"], "2.1.0");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let cs002 = rules.iter().find(|r| r["id"] == "CS002").expect("CS002 is a rule");
    assert!(cs002["fullDescription"]["text"].as_str().unwrap().contains("verify"));
    assert!(cs002["help"]["text"].as_str().unwrap().contains("docs/compliance.md"));
    let result = &run["results"][0];
    assert_eq!(result["ruleId"], "CS002");
    assert_eq!(result["level"], "error");
    assert_eq!(rules[result["ruleIndex"].as_u64().unwrap() as usize]["id"], "CS002");
    let flow = result["codeFlows"][0]["threadFlows"][0]["locations"].as_array().unwrap();
    let texts: Vec<&str> = flow.iter().map(|l| l["location"]["message"]["text"].as_str().unwrap()).collect();
    assert_eq!(texts[0], "1. the call starts here");
    assert_eq!(texts[1], "2. this question waits for an answer");
    assert!(texts[2].starts_with("3. the objection handler for `busy` interrupts"), "{texts:?}");
    assert!(texts[3].contains("before `verify`"), "the finding closes the flow: {texts:?}");

    let allowed = json(&["check", "--format", "sarif", "tests/cases/ok/allowed_long_prompt.call"]);
    let result = &allowed["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "CS008");
    assert_eq!(result["suppressions"][0]["kind"], "inSource");
    assert_eq!(result["suppressions"][0]["justification"], "the contract clause must be read in full");
}

#[test]
fn json_lists_the_witness_in_order_and_allowed_findings() {
    let v = json(&["check", "--format", "json", "tests/cases/err/CS002_verify_on_one_branch.call"]);
    let d = &v["diagnostics"][0];
    assert_eq!(d["code"], "CS002");
    assert_eq!(d["severity"], "error");
    let lines: Vec<u64> = d["related"].as_array().unwrap().iter().map(|r| r["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, [9, 13, 17], "start, the `no` branch, the step");
    assert!(d["related"][2]["message"].as_str().unwrap().ends_with("reached from here without `verify`"));

    let v = json(&["check", "--format", "json", "tests/cases/ok/allowed_long_prompt.call"]);
    assert_eq!(v["summary"]["errors"], 0);
    assert_eq!(v["allowed"][0]["code"], "CS008");
    assert_eq!(v["allowed"][0]["line"], 11);
}

#[test]
fn jurisdictions_select_packs_and_an_unknown_one_cannot_run() {
    let unknown = callscript(&["check", "--jurisdiction", "mars", "examples"]);
    assert_eq!(unknown.status.code(), Some(2));
    let err = String::from_utf8_lossy(&unknown.stderr);
    assert!(err.contains("`mars`") && err.contains("`cn`, `us`"), "{err}");
    // The Chinese recording notice is not the US one.
    let us = json(&["check", "--format", "json", "--jurisdiction", "us", "tests/cases/ok/minimal.call"]);
    let codes: Vec<&str> = us["diagnostics"].as_array().unwrap().iter().map(|d| d["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["CS001"]);
}

#[test]
fn campaigns_are_checked_with_their_script() {
    let out = callscript(&["check", "examples/loan_reminder/campaign.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 errors, 0 warnings in 2 files"));
    let out = callscript(&["check", "tests/cases/err/CS009_campaign_window/campaign.toml"]);
    assert_eq!(out.status.code(), Some(1));

    let dir = scratch("compliance-campaign");
    let bad = dir.path().join("campaign.toml");
    std::fs::write(&bad, "script = \"x.call\"\n[schedule]\nstart_time = 9\n").unwrap();
    // Problems of the campaign file are findings (exit 1) with codes and places, as in a script.
    let out = callscript(&["check", "--format", "json", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &v["diagnostics"][0];
    assert_eq!(
        (d["code"].as_str(), d["line"].as_u64(), d["column"].as_u64()),
        (Some("E602"), Some(3), Some(14)),
        "{v}"
    );
    std::fs::write(&bad, "task_id = \"t\"\nscript = \"x.call\"\njurisdiction = \"eu\"\n").unwrap();
    let v = json(&["check", "--format", "json", bad.to_str().unwrap()]);
    let d = &v["diagnostics"][0];
    assert_eq!(
        (d["code"].as_str(), d["line"].as_u64(), d["column"].as_u64()),
        (Some("E604"), Some(3), Some(16)),
        "{v}"
    );
    assert!(d["message"].as_str().unwrap().contains("`eu`"), "{v}");
}

/// What the loan reminder needs of its campaign besides the schedule: its balance lookup and
/// the SMS gateway (CAMPAIGN.md §5).
const BACKENDS: &str = "\n[actions.balance_lookup]\nurl = \"http://127.0.0.1:9300/balance\"\n\
    sim = { balance = \"900.00\", due = \"2026-11-30\" }\n\n[sms]\nurl = \"http://127.0.0.1:9400/sms\"\n";

/// A fresh folder (removed with the guard) holding `loan.callc` (built from the loan reminder
/// example) and a one-row `customers.csv` for it.
fn callc_campaign_dir(name: &str) -> tempfile::TempDir {
    let tmp = scratch(&format!("callc-{name}"));
    let dir = tmp.path();
    let callc = dir.join("loan.callc");
    let built = callscript(&["build", "examples/loan_reminder/loan_reminder.call", "-o", callc.to_str().unwrap()]);
    assert_eq!(built.status.code(), Some(0), "{}", String::from_utf8_lossy(&built.stderr));
    std::fs::write(
        dir.join("customers.csv"),
        "id,phone,customer_name,days_overdue,amount_due,account_tail,timezone\n\
         L1,13800000001,张三,15,4031.49,3936,Asia/Shanghai\n",
    )
    .unwrap();
    tmp
}

/// A campaign whose script is a compiled `.callc` is checked like one naming the source: its
/// embedded sources go through CS001–CS009 and CS009 runs on the campaign, before any call.
#[test]
fn a_callc_campaign_outside_the_window_is_refused_before_any_call() {
    let tmp = callc_campaign_dir("campaign");
    let dir = tmp.path();
    let campaign = |start: &str, end: &str| {
        format!(
            "task_id = \"CALLC\"\nscript = \"loan.callc\"\ncustomers = \"customers.csv\"\njurisdiction = \"cn\"\n\n\
             [schedule]\nstart_time = \"{start}\"\nend_time = \"{end}\"\n\n[retry]\nmax_attempts = 3\n\n\
             [limits]\nper_customer_per_day = 1\nper_customer_per_7_days = 3\n{BACKENDS}"
        )
    };
    let toml = dir.join("campaign.toml");
    let store = dir.join("campaign.db");
    let shown = |out: &std::process::Output| {
        String::from_utf8_lossy(&out.stderr).replace(&format!("{}/", dir.display()), "<dir>/")
    };
    std::fs::write(&toml, campaign("07:00", "23:00")).unwrap();
    let run = ["run", toml.to_str().unwrap(), "-q", "--start", "2026-11-24T00:00:00Z"];

    let refused = callscript(&run);
    assert_eq!(refused.status.code(), Some(1), "{}", shown(&refused));
    assert!(!store.exists(), "no store is created, so no call was placed");
    insta::assert_snapshot!("callc_campaign_refused_by_run", shown(&refused));

    let checked = callscript(&["check", "--format", "json", toml.to_str().unwrap()]);
    assert_eq!(checked.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&checked.stdout).unwrap();
    let found: Vec<(String, u64, u64)> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["code"].as_str().unwrap().to_string(), d["line"].as_u64().unwrap(), d["column"].as_u64().unwrap()))
        .collect();
    assert_eq!(found, [("CS009".to_string(), 7, 14), ("CS009".to_string(), 8, 12)], "{v}");

    // Inside the pack's window the same bytecode runs.
    std::fs::write(&toml, campaign("09:00", "18:00")).unwrap();
    let ran = callscript(&run);
    assert_eq!(ran.status.code(), Some(0), "{}", shown(&ran));
}

/// A `.callc` whose bytecode is not what its embedded sources compile to is refused.
#[test]
fn a_callc_that_does_not_match_its_sources_is_refused() {
    use callscript_compiler::bytecode::Program;
    let tmp = callc_campaign_dir("forged");
    let dir = tmp.path();
    let callc = dir.join("loan.callc");
    // A program whose recording notice barge-in may cut, with the sources left as they were.
    let (_, mut program) = Program::from_bytes(&std::fs::read(&callc).unwrap()).unwrap();
    for prompt in &mut program.scripts[0].prompts {
        prompt.no_bargein = false;
    }
    std::fs::write(&callc, program.to_bytes()).unwrap();
    let toml = dir.join("campaign.toml");
    std::fs::write(
        &toml,
        "task_id = \"CALLC\"\nscript = \"loan.callc\"\ncustomers = \"customers.csv\"\n\n[schedule]\n\
         start_time = \"09:00\"\nend_time = \"18:00\"\n\n[retry]\nmax_attempts = 3\n\n[limits]\n\
         per_customer_per_day = 1\nper_customer_per_7_days = 3\n"
            .to_string()
            + BACKENDS,
    )
    .unwrap();
    let out = callscript(&["run", toml.to_str().unwrap(), "-q", "--start", "2026-11-24T00:00:00Z"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr).replace(&format!("{}/", dir.display()), "<dir>/");
    insta::assert_snapshot!("callc_not_from_its_sources", err);
    assert!(!dir.join("campaign.db").exists());
}
