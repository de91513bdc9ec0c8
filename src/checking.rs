//! `callscript check`: reads the files (or a campaign and its script), calls the compiler's
//! checker with the jurisdiction's pack, and prints the findings as human text, JSON or SARIF.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use callscript_compiler::bytecode::Program;
use callscript_compiler::campaign::{self, Shape, TaskTemplate};
use callscript_compiler::check::{CheckOptions, Checked, Loader, MemoryFiles, NoFiles, check_with};
use callscript_compiler::source::Source;
use callscript_compiler::span::{FileSpan, SourceId, Span};

use crate::cli::Format;
use crate::error::{CliError, CliResult, Status};
use crate::files::{DiskLoader, collect, display_name, read_source};
use crate::render;

/// Whether a path names a campaign file (TOML, or the seed's JSON task) rather than scripts.
fn is_campaign(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("toml" | "json"))
}

/// Loads and checks `.call` files, or one campaign file with its script, under the pack of
/// `jurisdiction` (a campaign's own wins). Err: the check could not run.
pub fn check_paths(paths: &[PathBuf], jurisdiction: &str) -> Result<(Checked, usize), CliError> {
    if let Some(campaign) = paths.iter().find(|p| is_campaign(p)) {
        if paths.len() > 1 {
            return Err(CliError::Usage(format!("{}: check a campaign file on its own", display_name(campaign))));
        }
        return check_campaign(campaign, jurisdiction);
    }
    let options = CheckOptions::jurisdiction(jurisdiction);
    options.pack().map_err(CliError::Usage)?;
    let files = collect(paths, "call").map_err(CliError::Usage)?;
    let mut roots = Vec::with_capacity(files.len());
    for path in &files {
        let text = read_source(path)?;
        roots.push(Source::new(display_name(path), text));
    }
    let count = roots.len();
    Ok((check_with(roots, &mut DiskLoader, &options), count))
}

/// A campaign: the file is read into the model `run` uses (E600–E605), its script (relative
/// to the campaign file) is checked, then CS009 on the campaign. `Checked::campaign` is the
/// campaign when nothing is in error. Err is a message for "could not run".
pub fn check_campaign(path: &Path, jurisdiction: &str) -> Result<(Checked, usize), CliError> {
    check_campaign_with(path, jurisdiction, None)
}

/// [`check_campaign`], with the customer list a JSON task's inputs are typed from.
pub fn check_campaign_with(
    path: &Path,
    jurisdiction: &str,
    customers: Option<&str>,
) -> Result<(Checked, usize), CliError> {
    let name = display_name(path);
    let text = read_source(path)?;
    let source = Source::new(name.clone(), text);
    let shape = Shape::of_path(&name);
    // The campaign's pack is the one `run` uses: its own `jurisdiction`, else the model's
    // default; an unknown one is the campaign's finding (E604), reported with the rest.
    let options = CheckOptions { jurisdiction: jurisdiction.to_string(), campaign: Some(source.clone()) };
    let at = |span: Span| {
        let lc = source.line_col(span.start);
        format!("{name}:{}:{}", lc.line, lc.column)
    };
    // A campaign with errors is checked on its own: they are all it reports.
    let Some(read) = campaign::read(SourceId(0), &source.text, shape).campaign else {
        return Ok((check_with(Vec::new(), &mut NoFiles, &options), 1));
    };
    if let Some(task) = &read.task {
        return Ok((check_task(&source, task, customers, &options), 1));
    }
    // Each distinct script file is one root, in the order of `Campaign::script_files`.
    let folder = path.parent().unwrap_or(Path::new(""));
    let mut roots: Vec<Source> = Vec::new();
    let mut embedded = MemoryFiles::default();
    let mut any_source = false;
    for (i, file) in read.script_files() {
        let script_span = read.spans.at(&campaign::Campaign::script_key(i));
        let script_path = folder.join(file);
        if file.ends_with(".callc") {
            // A `.callc` is checked from the sources it embeds, `@allow`s included (§9.7).
            let bytes = std::fs::read(&script_path).map_err(CliError::io(format!(
                "{}: cannot read the script {}",
                at(script_span),
                script_path.display()
            )))?;
            let program = load_callc(&script_path, &bytes)?;
            let (root, MemoryFiles(imports)) = embedded_sources(&program);
            roots.extend(root);
            embedded.0.extend(imports);
        } else {
            let script_text = read_source(&script_path)
                .map_err(|e| CliError::Refused(format!("{}: cannot read the script: {e}", at(script_span))))?;
            roots.push(Source::new(display_name(&script_path), script_text));
            any_source = true;
        }
    }
    let count = 1 + roots.len();
    let mut loader = ScriptFiles { embedded, disk: any_source };
    Ok((check_with(roots, &mut loader, &options), count))
}

/// Where the imports of a campaign's scripts come from: a `.callc`'s embedded files, then (when
/// the campaign names a `.call` source) the disk.
struct ScriptFiles {
    embedded: MemoryFiles,
    disk: bool,
}

impl Loader for ScriptFiles {
    fn load(&mut self, importer: &str, path: &str) -> Result<(String, String), String> {
        match self.embedded.load(importer, path) {
            Err(_) if self.disk => DiskLoader.load(importer, path),
            found => found,
        }
    }
}

/// A JSON task: its `script_template` becomes a one-prompt script (inputs typed from the
/// customer list when there is one), checked with the task as its campaign. Findings inside
/// the template (CS001 for a missing recording notice) point into the JSON file's string.
fn check_task(task_file: &Source, task: &TaskTemplate, customers: Option<&str>, options: &CheckOptions) -> Checked {
    // Without a customer list (`check task.json`), every name is text.
    let typed = match customers {
        Some(csv) => callscript_runtime::campaign::typed_inputs(task, csv),
        None => task.names().into_iter().map(|n| (n, "text")).collect(),
    };
    let inputs: Vec<(String, &str)> = typed.iter().map(|(n, t)| (n.clone(), *t)).collect();
    let generated = task.script(&inputs);
    let script_name = format!("{} (script_template)", task_file.name);
    let mut checked = check_with(vec![Source::new(script_name, generated.clone())], &mut NoFiles, options);
    let json_text = &task_file.text;
    let (Some(in_script), Some(in_json), Some(json_id)) =
        (generated.find("say \"").map(|i| i + 5), template_start(json_text), checked.sources.find(&task_file.name))
    else {
        return checked;
    };
    let template_end = in_script + generated[in_script..].find("\"\n").unwrap_or(0);
    // The template is copied verbatim but for escapes of `\` and `"`, which JSON escapes too.
    let map = |offset: usize| -> u32 {
        let chars = generated[in_script..offset.min(template_end)].chars().count();
        let byte = json_text[in_json..].char_indices().nth(chars).map_or(json_text.len() - in_json, |(b, _)| b);
        (in_json + byte) as u32
    };
    for d in &mut checked.diagnostics {
        let (start, end) = (d.primary.at.span.start as usize, d.primary.at.span.end as usize);
        if d.primary.at.file != json_id && start >= in_script.saturating_sub(1) && end <= template_end + 1 {
            d.primary.at = FileSpan::new(json_id, Span { start: map(start.max(in_script)), end: map(end) });
            d.secondary.clear();
        }
    }
    checked.diagnostics.sort_by_key(|d| (d.primary.at.file, d.primary.at.span.start, d.primary.at.span.end));
    checked
}

/// Byte offset of the first character of the `script_template` string in a JSON task.
fn template_start(json: &str) -> Option<usize> {
    let key = json.find("\"script_template\"")?;
    let colon = key + json[key..].find(':')?;
    let quote = colon + json[colon..].find('"')?;
    Some(quote + 1)
}

/// A `.callc` file's program; a damaged or foreign file is an error naming the file.
pub fn load_callc(path: &Path, bytes: &[u8]) -> Result<Program, CliError> {
    Program::from_bytes(bytes).map(|(_, p)| p).map_err(|e| CliError::Refused(format!("{}: {e}", display_name(path))))
}

/// The sources a compiled program embeds: its root file (the first) to check, and a loader
/// that finds its imports among the others by the names they were read under.
pub fn embedded_sources(program: &Program) -> (Vec<Source>, MemoryFiles) {
    let mut files = program.files.iter();
    let roots = files.next().map(|f| Source::new(f.name.clone(), f.text.clone())).into_iter().collect();
    let imports = files.map(|f| (f.name.clone(), f.text.clone())).collect();
    (roots, MemoryFiles(imports))
}

/// Runs `callscript check`: the findings go to standard output in the chosen format.
pub fn run(paths: &[PathBuf], format: Format, jurisdiction: &str) -> CliResult {
    let (checked, files) = check_paths(paths, jurisdiction)?;
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
    let failed = checked.error_count() > 0;
    // The process exits next, and the kernel takes its memory back at once: freeing the tree
    // and programs node by node was 3% of the instructions of a large check.
    std::mem::forget(checked);
    let mut stdout = std::io::stdout().lock();
    // The findings must reach the reader: a write that fails is not a pass.
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(CliError::io("cannot write the findings"))?;
    Ok(Status::failures_if(failed))
}
