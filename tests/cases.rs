//! Fixture cases: every `.call` file (or folder of files) under `tests/cases/ok` and
//! `tests/cases/err` is checked and its rendered diagnostics are compared with a snapshot.

use std::path::{Path, PathBuf};

use callscript_compiler::check::compliance::RULES;
use callscript_compiler::diagnostic::CODES;

/// Checks a file or a folder (a folder with a `campaign.toml` or a `task.json` is that
/// campaign) and renders what a script author would see (no colour).
fn check(path: &Path) -> (String, usize) {
    let campaign = ["campaign.toml", "task.json"].map(|f| path.join(f)).into_iter().find(|p| p.exists());
    let path = campaign.as_deref().unwrap_or(path);
    let (checked, files) = callscript::cli::check_paths(&[path.to_path_buf()]).expect("fixture readable");
    let mut out = callscript::render::human(&checked.diagnostics, &checked.sources, false);
    out.push_str(&callscript::render::summary_line(checked.error_count(), checked.warning_count(), files));
    out.push('\n');
    (out, checked.error_count())
}

fn relative(path: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    path.strip_prefix(root).unwrap_or(path).to_path_buf()
}

fn in_repo_root<T>(f: impl FnOnce() -> T) -> T {
    // Paths in snapshots are relative to the repository, whatever the test's cwd.
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).expect("cd to the repository");
    f()
}

#[test]
fn ok_cases_have_no_errors() {
    in_repo_root(|| {
        insta::glob!("cases/ok/*.call", |path| {
            let (out, errors) = check(&relative(path));
            assert_eq!(errors, 0, "{out}");
            insta::assert_snapshot!(out);
        });
    });
}

#[test]
fn err_cases_render() {
    in_repo_root(|| {
        insta::glob!("cases/err/*.call", |path| {
            let (out, _) = check(&relative(path));
            insta::assert_snapshot!(out);
        });
        // Cases that need several files are folders.
        for entry in std::fs::read_dir("tests/cases/err").expect("cases folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
                let (out, _) = check(&path);
                insta::assert_snapshot!(format!("err_cases_render@{name}"), out);
            }
        }
    });
}

/// Each case is named after the code it shows; that code must be among its findings.
#[test]
fn err_cases_show_their_code() {
    in_repo_root(|| {
        for entry in std::fs::read_dir("tests/cases/err").expect("cases folder") {
            let path = entry.expect("entry").path();
            let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
            let code = name.split('_').next().unwrap_or_default();
            let (out, _) = check(&path);
            assert!(out.contains(&format!("[{code}]")), "{name} does not report {code}:\n{out}");
        }
    });
}

/// Every code has a fixture and a section in docs/diagnostics.md; every compliance rule has a
/// fixture and a section in docs/compliance.md.
#[test]
fn every_code_is_documented_and_has_a_case() {
    in_repo_root(|| {
        let docs = std::fs::read_to_string("docs/diagnostics.md").expect("docs/diagnostics.md");
        let compliance = std::fs::read_to_string("docs/compliance.md").expect("docs/compliance.md");
        let cases: Vec<String> = std::fs::read_dir("tests/cases/err")
            .expect("cases folder")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        for (code, _) in CODES {
            assert!(docs.contains(&format!("## {code}")), "{code} has no `## {code}` section in docs/diagnostics.md");
            assert!(cases.iter().any(|c| c.starts_with(code)), "{code} has no case in tests/cases/err");
        }
        for rule in RULES {
            let code = rule.code;
            assert!(
                compliance.contains(&format!("## {code}")),
                "{code} has no `## {code}` section in docs/compliance.md"
            );
            assert!(cases.iter().any(|c| c.starts_with(code)), "{code} has no case in tests/cases/err");
        }
    });
}

/// The JSON contract of LANGUAGE.md §8 (field names, 1-based character columns, summary).
#[test]
fn json_output_shape() {
    in_repo_root(|| {
        let path = Path::new("tests/cases/err/E202_compare_text_int.call");
        let (checked, files) = callscript::cli::check_paths(&[path.to_path_buf()]).expect("fixture readable");
        let json = callscript::render::json(&checked.diagnostics, &checked.allowed, &checked.sources, files);
        insta::assert_snapshot!(json);
    });
}

/// The shipped examples and the stdlib check clean: no errors and no warnings.
#[test]
fn examples_and_stdlib_check_clean() {
    in_repo_root(|| {
        let (checked, _) =
            callscript::cli::check_paths(&[PathBuf::from("examples"), PathBuf::from("stdlib")]).expect("readable");
        let out = callscript::render::human(&checked.diagnostics, &checked.sources, false);
        assert!(checked.diagnostics.is_empty(), "{out}");
    });
}
