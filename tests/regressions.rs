//! Inputs that once crashed, hung or mis-formatted (found by fuzzing and by hand; the
//! fuzzers' finds go into `tests/regressions/` as they are). For each: `check` and both
//! renderers finish without a panic, quickly, and `fmt` is a round trip where it formats.

use std::time::{Duration, Instant};

use callscript_compiler::check::check_source;
use callscript_compiler::format::{format, tree_shape};
use callscript_compiler::span::SourceId;
use callscript_compiler::syntax::parse;

/// The stack each case runs on: three quarters of a test thread's 2 MiB, so that a front end
/// whose frames grow (a debug build recursing MAX_DEPTH levels through nested asks) fails
/// here before it overflows a 2 MiB thread of an editor or a test.
const STACK: usize = 1536 * 1024;

#[test]
fn regressions_run_clean() {
    insta::glob!("regressions/*.call", |path| {
        let path = path.to_path_buf();
        let run = std::thread::Builder::new().stack_size(STACK).spawn(move || run_clean(&path));
        run.expect("a thread").join().expect("the case runs clean");
    });
}

fn run_clean(path: &std::path::Path) {
    {
        let bytes = std::fs::read(path).expect("regression input");
        let text = String::from_utf8_lossy(&bytes);
        let start = Instant::now();
        let checked = check_source("case.call", &text);
        let human = callscript::render::human(&checked.diagnostics, &checked.sources, false);
        let json = callscript::render::json(&checked.diagnostics, &checked.allowed, &checked.sources, 1);
        assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok());
        // No line of the rendering echoes a long source line whole.
        let widest = human.lines().map(|l| l.chars().count()).max().unwrap_or(0);
        assert!(widest < 400, "{} renders a line of {widest} characters", path.display());
        if let Ok(formatted) = format(&text) {
            let (before, _) = parse(&text, SourceId(0));
            let (after, errors) = parse(&formatted, SourceId(0));
            assert!(errors.is_empty(), "{}: the formatted text does not parse", path.display());
            assert_eq!(tree_shape(&before), tree_shape(&after), "{}: fmt changed the tree", path.display());
            assert_eq!(
                format(&formatted).ok().as_deref(),
                Some(formatted.as_str()),
                "{}: fmt is not idempotent",
                path.display()
            );
        }
        assert!(start.elapsed() < Duration::from_secs(5), "{} took {:?}", path.display(), start.elapsed());
    }
}
