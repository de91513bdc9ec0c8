//! `callscript check`: reads the files (or a campaign and its script), calls the compiler's
//! checker with the jurisdiction's pack, and prints the findings as human text, JSON or SARIF.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use callscript_compiler::bytecode::Program;
use callscript_compiler::check::compliance::campaign::CampaignFile;
use callscript_compiler::check::{CheckOptions, Checked, MemoryFiles, check_with};
use callscript_compiler::source::Source;

use crate::cli::Format;
use crate::files::{DiskLoader, collect, display_name, read_source};
use crate::render;

/// Whether a path names a campaign file rather than scripts.
fn is_campaign(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()) == Some("toml")
}

/// Loads and checks `.call` files, or one campaign file with its script, under the pack of
/// `jurisdiction` (a campaign's own wins). Err is a message for "could not run".
pub fn check_paths(paths: &[PathBuf], jurisdiction: &str) -> Result<(Checked, usize), String> {
    if let Some(campaign) = paths.iter().find(|p| is_campaign(p)) {
        if paths.len() > 1 {
            return Err(format!("{}: check a campaign file on its own", display_name(campaign)));
        }
        return check_campaign(campaign, jurisdiction);
    }
    let options = CheckOptions::jurisdiction(jurisdiction);
    options.pack()?;
    let files = collect(paths, "call")?;
    let mut roots = Vec::with_capacity(files.len());
    for path in &files {
        let text = read_source(path).map_err(|e| e.to_string())?;
        roots.push(Source::new(display_name(path), text));
    }
    let count = roots.len();
    Ok((check_with(roots, &mut DiskLoader, &options), count))
}

/// A campaign: its script (relative to the campaign file) is checked, then CS009 on the
/// campaign itself. Errors in the TOML are reported as `file:line:column: message`.
pub fn check_campaign(path: &Path, jurisdiction: &str) -> Result<(Checked, usize), String> {
    let name = display_name(path);
    let text = read_source(path).map_err(|e| e.to_string())?;
    let source = Source::new(name.clone(), text);
    let at = |span: Option<callscript_compiler::span::Span>| {
        let lc = source.line_col(span.map_or(0, |s| s.start));
        format!("{name}:{}:{}", lc.line, lc.column)
    };
    let campaign = CampaignFile::parse(&source.text).map_err(|e| format!("{}: {}", at(e.span), e.message))?;
    let Some((script, _)) = campaign.script() else {
        return Err(format!("{}: the campaign names no `script`", at(None)));
    };
    let script_span = campaign.script.as_ref().map(|s| {
        let r = s.span();
        callscript_compiler::span::Span::new(r.start, r.end)
    });
    let compiled = script.ends_with(".callc");
    if !compiled && !script.ends_with(".call") {
        return Err(format!(
            "{}: the script must be a `.call` source or a `.callc` built by `callscript build`, not `{script}`",
            at(script_span)
        ));
    }
    let options = CheckOptions { jurisdiction: jurisdiction.to_string(), campaign: Some(source.clone()) };
    if let Err(message) = options.pack() {
        let span = campaign.jurisdiction.as_ref().map(|j| {
            let r = j.span();
            callscript_compiler::span::Span::new(r.start, r.end)
        });
        return Err(format!("{}: {message}", at(span)));
    }
    let script_path = path.parent().unwrap_or(Path::new("")).join(script);
    let cannot_read =
        |e: std::io::Error| format!("{}: cannot read the script {}: {e}", at(script_span), script_path.display());
    if compiled {
        // A `.callc` is checked from the sources it embeds, `@allow`s included (§9.7).
        let bytes = std::fs::read(&script_path).map_err(cannot_read)?;
        let program = load_callc(&script_path, &bytes)?;
        let (roots, mut loader) = embedded_sources(&program);
        let count = 1 + roots.len();
        return Ok((check_with(roots, &mut loader, &options), count));
    }
    let script_text =
        read_source(&script_path).map_err(|e| format!("{}: cannot read the script: {e}", at(script_span)))?;
    let roots = vec![Source::new(display_name(&script_path), script_text)];
    Ok((check_with(roots, &mut DiskLoader, &options), 2))
}

/// A `.callc` file's program; a damaged or foreign file is an error naming the file.
pub fn load_callc(path: &Path, bytes: &[u8]) -> Result<Program, String> {
    Program::from_bytes(bytes).map(|(_, p)| p).map_err(|e| format!("{}: {e}", display_name(path)))
}

/// The sources a compiled program embeds: its root file (the first) to check, and a loader
/// that finds its imports among the others by the names they were read under.
pub fn embedded_sources(program: &Program) -> (Vec<Source>, MemoryFiles) {
    let mut files = program.files.iter();
    let roots = files.next().map(|f| Source::new(f.name.clone(), f.text.clone())).into_iter().collect();
    let imports = files.map(|f| (f.name.clone(), f.text.clone())).collect();
    (roots, MemoryFiles(imports))
}

/// Runs `callscript check` and returns the exit code.
pub fn run(paths: &[PathBuf], format: Format, jurisdiction: &str) -> i32 {
    let (checked, files) = match check_paths(paths, jurisdiction) {
        Ok(x) => x,
        Err(message) => {
            // Nothing is left to tell if standard error cannot be written either.
            let _ = writeln!(std::io::stderr(), "error: {message}");
            return 2;
        }
    };
    let mut text = match format {
        Format::Human => {
            let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            let mut text = render::human(&checked.diagnostics, &checked.sources, color);
            text.push_str(&render::summary_line(checked.error_count(), checked.warning_count(), files));
            text
        }
        Format::Json => render::json(&checked.diagnostics, &checked.allowed, &checked.sources, files),
        Format::Sarif => render::sarif(&checked.diagnostics, &checked.allowed, &checked.sources),
    };
    text.push('\n');
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        // The findings did not reach the reader: that is not a pass.
        let _ = writeln!(std::io::stderr(), "error: cannot write the findings: {e}");
        return 2;
    }
    i32::from(checked.error_count() > 0)
}
