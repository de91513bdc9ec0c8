//! `callscript fmt`: the canonical layout of the fixtures in `tests/cases/fmt` and of the
//! examples (insta snapshots), and the command itself on a copy of every example and fixture:
//! files rewritten in place keep their diagnostics and comments, a second run changes nothing,
//! `--check` lists what would change, `-` filters standard input, syntax errors refuse.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use callscript_compiler::format::format;

#[path = "support/scratch.rs"]
mod scratch;
use scratch::scratch;

fn callscript(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_callscript"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("folder");
    for entry in std::fs::read_dir(from).expect("readable") {
        let path = entry.expect("entry").path();
        let target = to.join(path.file_name().expect("name"));
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("copy");
        }
    }
}

#[test]
fn layout() {
    insta::glob!("cases/fmt/*.call", |path| {
        let src = std::fs::read_to_string(path).expect("fixture");
        let out = format(&src).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
        assert_eq!(format(&out).expect("formats again"), out, "not idempotent");
        insta::assert_snapshot!(out);
    });
}

#[test]
fn layout_of_the_examples() {
    insta::glob!("../examples", "*/*.call", |path| {
        let src = std::fs::read_to_string(path).expect("example");
        insta::assert_snapshot!(format(&src).expect("examples format"));
    });
}

/// Codes and messages of `callscript check` on a folder (positions move when formatting).
fn findings(dir: &Path) -> Vec<String> {
    let (checked, _) = callscript::cli::check_paths(&[dir.to_path_buf()]).expect("readable");
    checked
        .diagnostics
        .iter()
        .map(|d| format!("{} {} {}", checked.sources.get(d.primary.at.file).name, d.code, d.message))
        .collect()
}

fn comments(dir: &Path) -> Vec<String> {
    let files = callscript::files::collect(&[dir.to_path_buf()], "call").expect("files");
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable");
        let (ast, _) = callscript_compiler::syntax::parse(&text, callscript_compiler::span::SourceId(0));
        out.extend(ast.comments.iter().map(|c| text[c.range()].trim_end().to_string()));
    }
    out
}

#[test]
fn formatting_every_example_and_fixture_keeps_its_meaning() {
    let tmp = scratch("fmt-all");
    let dir = tmp.path();
    for part in ["examples", "stdlib", "tests/cases"] {
        copy_tree(&repo().join(part), &dir.join(part));
    }
    // Each unit (a file, or a folder for multi-file cases) is checked on its own, before and after.
    let mut units: Vec<PathBuf> = Vec::new();
    for part in
        ["examples", "stdlib", "tests/cases/ok", "tests/cases/err", "tests/cases/fmt", "tests/cases/conversation"]
    {
        for entry in std::fs::read_dir(dir.join(part)).expect("folder") {
            units.push(entry.expect("entry").path());
        }
    }
    units.sort();
    let before: Vec<(Vec<String>, Vec<String>)> = units.iter().map(|u| (findings(u), comments(u))).collect();

    let first = callscript(&["fmt", "."], dir);
    // Fixtures with syntax errors are refused (exit 1) with their errors, and left as they were.
    assert_eq!(first.status.code(), Some(1), "{}", String::from_utf8_lossy(&first.stderr));
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(stderr.contains("E002") && stderr.contains("not formatted"), "{stderr}");
    let unterminated = "tests/cases/err/E002_unterminated_string.call";
    assert_eq!(
        std::fs::read_to_string(dir.join(unterminated)).unwrap(),
        std::fs::read_to_string(repo().join(unterminated)).unwrap()
    );
    // The shipped examples are kept in the canonical layout: formatting leaves them as they are.
    let loan = "examples/loan_reminder/loan_reminder.call";
    assert_eq!(std::fs::read_to_string(dir.join(loan)).unwrap(), std::fs::read_to_string(repo().join(loan)).unwrap());

    for (unit, (findings_before, comments_before)) in units.iter().zip(&before) {
        assert_eq!(&findings(unit), findings_before, "findings changed in {}", unit.display());
        assert_eq!(&comments(unit), comments_before, "comments changed in {}", unit.display());
    }
    // A second run changes nothing: `--check` lists no file.
    let second = callscript(&["fmt", "--check", "."], dir);
    assert_eq!(String::from_utf8_lossy(&second.stdout), "", "a second run would change these");
}

#[test]
fn check_lists_files_and_changes_nothing() {
    let tmp = scratch("fmt-check");
    let dir = tmp.path();
    let messy = "script s{purpose service\nopening{hangup done}}\n";
    std::fs::write(dir.join("messy.call"), messy).unwrap();
    std::fs::write(dir.join("clean.call"), format(messy).unwrap()).unwrap();
    let out = callscript(&["fmt", "--check", "."], dir);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "./messy.call\n");
    assert_eq!(std::fs::read_to_string(dir.join("messy.call")).unwrap(), messy);
    assert_eq!(callscript(&["fmt", "messy.call"], dir).status.code(), Some(0));
    assert_eq!(callscript(&["fmt", "--check", "messy.call", "clean.call"], dir).status.code(), Some(0));
    assert_eq!(callscript(&["fmt", "missing.call"], dir).status.code(), Some(2));
}

/// Runs `callscript ARGS` with `input` on its standard input, written from a thread of its own
/// (a command that stops reading early must not block the test); the output, and whether the
/// whole input was written.
fn with_stdin(args: &[&str], input: Vec<u8>) -> (Output, std::io::Result<()>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_callscript"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        stdin.write_all(&input)
    });
    let out = child.wait_with_output().expect("output");
    (out, writer.join().expect("writer"))
}

#[test]
fn stdin_to_stdout_and_syntax_errors() {
    let run = |args: &[&str], input: &str| {
        let (out, written) = with_stdin(args, input.as_bytes().to_vec());
        written.expect("write");
        out
    };
    let out = run(&["fmt", "-"], "script s{purpose service // 目的\n}\n");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "script s {\n  purpose service // 目的\n}\n");
    let out = run(&["fmt", "--check", "-"], "script s{purpose service}\n");
    assert_eq!(out.status.code(), Some(1));
    let out = run(&["fmt", "-"], "script s {\n  opening { say \"没有结束 }\n}\n");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[E002]") && stderr.contains("<stdin>:2:"), "{stderr}");
}

/// `fmt -` reads standard input with a file's limits: more than 64 MiB is refused once the
/// limit is passed (the rest is never read), and bad UTF-8 is reported at its line and column;
/// both are "could not run" (exit 2) with a message naming `<stdin>`, and nothing on stdout.
#[test]
fn stdin_over_the_limit_or_not_utf8_is_refused() {
    // The command stops reading at the limit: the rest of the write fails, which is fine.
    let run = |input: Vec<u8>| with_stdin(&["fmt", "-"], input).0;
    // 65 MiB of a valid script: a comment line, repeated.
    let line = "// 注释 comment that fills the input\n";
    let big = line.repeat((65 << 20) / line.len() + 1).into_bytes();
    assert!(big.len() > 65 << 20);
    let out = run(big);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr, "error: <stdin>: standard input is larger than 64 MiB\n");

    let out = run(b"script s {\n  purpose service\n  // \xe6\xb3\xa8\xff\n}\n".to_vec());
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr, "error: <stdin>:3:7: standard input is not valid UTF-8 (byte 0xff)\n");
}

/// Formatting in place replaces the file in one rename (a crash or a full disk cannot leave it
/// half written): no temporary file is left, the permissions stay, and through a symlink the
/// file it points at is formatted while the link stays a link.
#[cfg(unix)]
#[test]
fn in_place_keeps_permissions_and_links() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = scratch("fmt-in-place");
    let dir = tmp.path();
    let messy = "script s{purpose service\nopening{hangup done}}\n";
    std::fs::write(dir.join("real.call"), messy).unwrap();
    std::fs::set_permissions(dir.join("real.call"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::symlink("real.call", dir.join("link.call")).unwrap();
    let out = callscript(&["fmt", "link.call"], dir);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(dir.join("real.call")).unwrap(), format(messy).unwrap());
    assert!(std::fs::symlink_metadata(dir.join("link.call")).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::metadata(dir.join("real.call")).unwrap().permissions().mode() & 0o777, 0o640);
    let mut left: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    assert_eq!(left, ["link.call", "real.call"]);
}
