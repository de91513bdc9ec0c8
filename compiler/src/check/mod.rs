//! Checks of a set of files: imports, names, types, flow. Each phase is its own module; this
//! one loads imports (through a [`Loader`] the caller provides, so the compiler stays pure),
//! builds each script's [`scope::ScriptScope`] and runs the phases.

pub mod allow;
pub mod compliance;
pub mod file;
pub mod flow;
pub mod intents;
pub mod outputs;
pub mod phrase_lints;
pub mod scope;
pub mod settings;
pub mod types;

use std::collections::HashMap;

use crate::diagnostic::{Diagnostic, Severity};
use crate::source::{Source, Sources};
use crate::span::{SourceId, Span};
use crate::syntax::ast::{self, Item, UseTarget};

/// Reads files named by `use "path"`. The CLI reads the disk; tests and the LSP use memory.
pub trait Loader {
    /// Returns the imported file's name (as it should be shown to the user) and its text, or a
    /// plain-words reason why it could not be read.
    fn load(&mut self, importer: &str, path: &str) -> Result<(String, String), String>;
}

/// A loader that finds nothing: for single in-memory sources.
pub struct NoFiles;

impl Loader for NoFiles {
    fn load(&mut self, _importer: &str, path: &str) -> Result<(String, String), String> {
        Err(format!("cannot read `{path}` here"))
    }
}

/// A loader over an in-memory map of file names to texts (tests, the LSP's open documents).
#[derive(Default)]
pub struct MemoryFiles(pub HashMap<String, String>);

impl Loader for MemoryFiles {
    fn load(&mut self, importer: &str, path: &str) -> Result<(String, String), String> {
        let name = join_path(importer, path);
        self.0.get(&name).map(|t| (name.clone(), t.clone())).ok_or_else(|| format!("no file `{name}`"))
    }
}

/// Reads the `examples "file.csv"` files of file `id` (§14) through the loader, like imports;
/// each becomes a source of the check, so a bad row is reported where it is.
fn load_examples(
    id: SourceId,
    importer: &str,
    files: &[ParsedFile],
    sources: &mut Sources,
    loader: &mut dyn Loader,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<ExampleRow> {
    let Some(file) = files.iter().find(|f| f.id == id) else { return Vec::new() };
    let mut rows = Vec::new();
    for item in &file.ast.items {
        let Item::Examples(e) = item else { continue };
        match loader.load(importer, &e.path.value) {
            Ok((name, text)) => {
                let csv = match sources.find(&name) {
                    Some(existing) => existing,
                    None => sources.add(Source::new(name, text)),
                };
                rows.extend(intents::read_examples(&sources.get(csv).text, csv, diagnostics));
            }
            Err(reason) => diagnostics.push(
                Diagnostic::new(
                    "E406",
                    id,
                    e.path.span,
                    format!("cannot read the examples `{}`: {reason}", e.path.value),
                )
                .label("this file could not be read")
                .with_help("the path is relative to this file; the file holds `text,intent` rows"),
            ),
        }
    }
    rows
}

/// Resolves `path` relative to the folder of `importer`, lexically (`./`, `../`).
pub fn join_path(importer: &str, path: &str) -> String {
    if path.starts_with('/') {
        return path.to_string();
    }
    let mut parts: Vec<&str> = importer.split('/').collect();
    parts.pop();
    for piece in path.split('/') {
        match piece {
            "." | "" => {}
            ".." => {
                if parts.last().is_some_and(|p| !p.is_empty() && *p != "..") {
                    parts.pop();
                } else {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// One parsed file of the compilation.
pub struct ParsedFile {
    pub id: SourceId,
    pub ast: ast::File,
    /// Files this one imports, in `use` order (None where the import failed).
    pub imports: Vec<Option<SourceId>>,
    /// Given by the caller (not only imported): scripts and tests are checked only here.
    pub is_root: bool,
    /// The rows of its `examples "file.csv"` items (§14), in order.
    pub examples: Vec<ExampleRow>,
}

/// One labelled utterance of an `examples "file.csv"` file (§14).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExampleRow {
    pub text: String,
    pub intent: String,
    /// The row in the CSV file (a source of the check, so diagnostics can point at it).
    pub at: crate::span::FileSpan,
}

/// An `@allow` that suppressed a finding: kept for audit (JSON `allowed`, SARIF suppressions).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Allowed {
    pub code: String,
    /// Where the `@allow` (or a campaign's `[allow]` entry) stands.
    pub file: SourceId,
    pub span: Span,
    pub reason: String,
    /// The finding it suppressed.
    pub finding: Diagnostic,
}

/// Everything `check` found, and the program of each root file without errors.
pub struct Checked {
    pub sources: Sources,
    pub files: Vec<ParsedFile>,
    pub diagnostics: Vec<Diagnostic>,
    pub allowed: Vec<Allowed>,
    /// The pack the compliance rules ran under (None: an unknown jurisdiction).
    pub pack: Option<&'static compliance::Pack>,
    /// Each clean root's lowered program (the one the compliance rules ran on).
    pub programs: Vec<(SourceId, crate::bytecode::Program)>,
    /// The campaign file checked with the scripts, read into the model `run` uses (None: no
    /// campaign, or one with errors).
    pub campaign: Option<crate::campaign::Campaign>,
}

impl Checked {
    pub fn file(&self, id: SourceId) -> Option<&ParsedFile> {
        self.files.iter().find(|f| f.id == id)
    }

    /// The program of a root file that checked without errors.
    pub fn program(&self, root: SourceId) -> Option<&crate::bytecode::Program> {
        self.programs.iter().find(|(id, _)| *id == root).map(|(_, p)| p)
    }

    /// The program of each script of the campaign checked (in `campaign.scripts`' order), once
    /// nothing is in error; empty without a campaign.
    pub fn campaign_programs(&self) -> Vec<Option<&crate::bytecode::Program>> {
        let Some(campaign) = &self.campaign else { return Vec::new() };
        let clean = self.error_count() == 0;
        script_roots(campaign, &self.files)
            .into_iter()
            .map(|root| root.filter(|_| clean).and_then(|r| self.program(r)))
            .collect()
    }

    /// The program of the (first) root file, once nothing is in error: what `build`,
    /// `run` and the tests execute.
    pub fn root_program(&self) -> Option<&crate::bytecode::Program> {
        if self.error_count() > 0 {
            return None;
        }
        self.files.iter().find(|f| f.is_root).and_then(|f| self.program(f.id))
    }

    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Error).count()
    }

    pub fn warning_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Warning).count()
    }

    /// The titles of the intents of every file read (`intent who "询问身份"`), by name, for
    /// reports; an intent without a title is not listed. Where two files give one name
    /// different titles, the first file's wins.
    pub fn intent_titles(&self) -> std::collections::BTreeMap<String, String> {
        let mut titles = std::collections::BTreeMap::new();
        for declared in self.titled() {
            if let Titled::Intent(i) = declared
                && let Some(label) = &i.label
            {
                titles.entry(i.name.name.clone()).or_insert_with(|| label.value.clone());
            }
        }
        titles
    }

    /// The titles of the outcomes of every file read (`promised "承诺还款" goal`), by name, for
    /// reports, as [`Checked::intent_titles`]: untitled outcomes are not listed, and the first
    /// file's title wins.
    pub fn outcome_titles(&self) -> std::collections::BTreeMap<String, String> {
        let mut titles = std::collections::BTreeMap::new();
        for declared in self.titled() {
            if let Titled::Outcomes(block) = declared {
                for o in &block.items {
                    if let Some(title) = &o.title {
                        titles.entry(o.name.name.clone()).or_insert_with(|| title.value.clone());
                    }
                }
            }
        }
        titles
    }

    /// Every intent and outcomes block of every file read, the files' own and the scripts',
    /// in the order they are written.
    fn titled(&self) -> impl Iterator<Item = Titled<'_>> {
        self.files.iter().flat_map(|f| &f.ast.items).flat_map(|item| -> Box<dyn Iterator<Item = Titled<'_>> + '_> {
            match item {
                Item::Intent(i) => Box::new(std::iter::once(Titled::Intent(i))),
                Item::Outcomes(block) => Box::new(std::iter::once(Titled::Outcomes(block))),
                Item::Script(s) => Box::new(s.members.iter().filter_map(|m| match m {
                    ast::Member::Intent(i) => Some(Titled::Intent(i)),
                    ast::Member::Outcomes(block) => Some(Titled::Outcomes(block)),
                    _ => None,
                })),
                _ => Box::new(std::iter::empty()),
            }
        })
    }
}

/// A declaration that may carry a title for reports.
enum Titled<'a> {
    Intent(&'a ast::Intent),
    Outcomes(&'a ast::Outcomes),
}

/// How to check: the compliance pack's jurisdiction, and a campaign file to check with the
/// scripts (CS009).
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// `--jurisdiction`; a campaign's own `jurisdiction` wins (§9.7).
    pub jurisdiction: String,
    /// A campaign file (TOML text); its script is among the roots.
    pub campaign: Option<Source>,
}

impl Default for CheckOptions {
    fn default() -> CheckOptions {
        CheckOptions { jurisdiction: "cn".into(), campaign: None }
    }
}

impl CheckOptions {
    pub fn jurisdiction(jurisdiction: impl Into<String>) -> CheckOptions {
        CheckOptions { jurisdiction: jurisdiction.into(), campaign: None }
    }

    /// The pack that applies: the campaign's jurisdiction, else `jurisdiction`. An unknown
    /// one is an error naming the known packs; callers check this before `check`.
    pub fn pack(&self) -> Result<&'static compliance::Pack, String> {
        // A campaign runs under its own jurisdiction, else the model's default (`cn`); so it is
        // checked under that one too, whatever `--jurisdiction` says.
        let from_campaign = self.campaign.as_ref().map(|c| {
            crate::campaign::jurisdiction(&c.text, crate::campaign::Shape::of_path(&c.name))
                .unwrap_or_else(|| crate::campaign::DEFAULT_JURISDICTION.to_string())
        });
        compliance::pack(from_campaign.as_deref().unwrap_or(&self.jurisdiction))
    }
}

/// Checks `roots` (and what they import) with the `cn` pack. Diagnostics are sorted by file and
/// position.
pub fn check(roots: Vec<Source>, loader: &mut dyn Loader) -> Checked {
    check_with(roots, loader, &CheckOptions::default())
}

/// Checks `roots` (and what they import) and, with `options.campaign`, a campaign file. The
/// compliance rules run on each root file whose language checks found no error; an unknown
/// jurisdiction (see [`CheckOptions::pack`]) skips them.
pub fn check_with(roots: Vec<Source>, loader: &mut dyn Loader, options: &CheckOptions) -> Checked {
    let mut sources = Sources::new();
    let mut files: Vec<ParsedFile> = Vec::new();
    let mut diagnostics = Vec::new();
    let mut queue: Vec<SourceId> = Vec::new();
    for root in roots {
        if let Some(existing) = sources.find(&root.name) {
            if let Some(f) = files.iter_mut().find(|f| f.id == existing) {
                f.is_root = true;
            }
            continue;
        }
        let id = sources.add(root);
        let (ast, diags) = crate::syntax::parse(&sources.get(id).text, id);
        diagnostics.extend(diags);
        files.push(ParsedFile { id, ast, imports: Vec::new(), is_root: true, examples: Vec::new() });
        queue.push(id);
    }
    // Load imports breadth-first; each file is parsed once however often it is imported.
    while let Some(id) = queue.pop() {
        let importer = sources.get(id).name.clone();
        let uses: Vec<ast::Use> = files
            .iter()
            .find(|f| f.id == id)
            .map(|f| {
                f.ast.items.iter().filter_map(|i| if let Item::Use(u) = i { Some(u.clone()) } else { None }).collect()
            })
            .unwrap_or_default();
        let mut imports = Vec::new();
        for u in &uses {
            let loaded = match &u.target {
                UseTarget::Module(parts) => {
                    let path = parts.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(".");
                    match crate::stdlib::module(&path) {
                        Some(text) => Ok((path, text.to_string())),
                        None => {
                            let known = crate::stdlib::MODULES.iter().map(|(p, _)| *p);
                            let mut d = Diagnostic::new("E106", id, u.span, format!("there is no module `{path}`"))
                                .label("unknown module");
                            d = match crate::suggest::closest(&path, known) {
                                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                                None => d.with_help(
                                    "the standard modules are `std.zh.common`; import a file with `use \"./file.call\"`",
                                ),
                            };
                            diagnostics.push(d);
                            Err(())
                        }
                    }
                }
                UseTarget::File(path) => match loader.load(&importer, &path.value) {
                    Ok(found) => Ok(found),
                    Err(reason) => {
                        diagnostics.push(
                            Diagnostic::new("E106", id, path.span, format!("cannot import `{}`: {reason}", path.value))
                                .label("this file could not be read")
                                .with_help("a path in `use` is relative to the file that imports it"),
                        );
                        Err(())
                    }
                },
            };
            let Ok((name, text)) = loaded else {
                imports.push(None);
                continue;
            };
            let target = match sources.find(&name) {
                Some(existing) => existing,
                None => {
                    let new_id = sources.add(Source::new(name, text));
                    let (ast, diags) = crate::syntax::parse(&sources.get(new_id).text, new_id);
                    diagnostics.extend(diags);
                    files.push(ParsedFile {
                        id: new_id,
                        ast,
                        imports: Vec::new(),
                        is_root: false,
                        examples: Vec::new(),
                    });
                    queue.push(new_id);
                    new_id
                }
            };
            imports.push(Some(target));
        }
        let examples = load_examples(id, &importer, &files, &mut sources, loader, &mut diagnostics);
        if let Some(f) = files.iter_mut().find(|f| f.id == id) {
            f.imports = imports;
            f.examples = examples;
        }
    }
    import_cycles(&files, &mut diagnostics);

    let mut allowed = Vec::new();
    let mut programs = Vec::new();
    let pack = options.pack().ok();
    for file in &files {
        intents::check_file_intents(file, &sources, &mut diagnostics);
        intents::check_examples(file, &files, &mut diagnostics);
        file::check_units(file, &files, &mut diagnostics);
    }
    for file in files.iter().filter(|f| f.is_root) {
        let file::FileFindings { mut found, allows } = file::check_file(file, &files, &sources, &diagnostics);
        // Compliance needs the lowered program, so only a file (and its imports) without errors.
        // What the file imports, directly or not: flows see through their own imports (§12).
        let mut reached = vec![file.id];
        let mut i = 0;
        while i < reached.len() {
            let id = reached[i];
            i += 1;
            for import in
                files.iter().find(|f| f.id == id).map(|f| f.imports.as_slice()).unwrap_or(&[]).iter().flatten()
            {
                if !reached.contains(import) {
                    reached.push(*import);
                }
            }
        }
        let in_scope = |d: &Diagnostic| reached.contains(&d.primary.at.file);
        let clean = !found.iter().any(Diagnostic::is_error) && !diagnostics.iter().any(|d| d.is_error() && in_scope(d));
        let mut ran = false;
        if clean {
            let program = crate::lower::lower_file(&files, &sources, file.id, pack);
            // E321 needs the lowered control flow; a file it finds in error has no program.
            let before = found.len();
            for code in &program.scripts {
                outputs::check(code, &mut found);
            }
            if found.len() == before {
                if let Some(pack) = pack {
                    compliance::check_program(&program, pack, &mut found);
                    ran = true;
                }
                programs.push((file.id, program));
            }
        }
        allow::apply_allows(file.id, &allows, found, ran, &mut diagnostics, &mut allowed);
    }
    let campaign = options.campaign.as_ref().and_then(|campaign| {
        run_campaign(campaign, pack, &mut sources, &files, &programs, &mut diagnostics, &mut allowed)
    });
    diagnostics.sort_by_key(|d| (d.primary.at.file, d.primary.at.span.start, d.primary.at.span.end));
    diagnostics.dedup();
    Checked { sources, files, diagnostics, allowed, pack, programs, campaign }
}

/// Compiles `roots` under `options`' pack: the root's program when nothing is in error
/// (compliance findings included), and every diagnostic.
pub fn compile(
    roots: Vec<Source>,
    loader: &mut dyn Loader,
    options: &CheckOptions,
) -> (Option<crate::bytecode::Program>, Vec<Diagnostic>) {
    let checked = check_with(roots, loader, options);
    let program = checked.root_program().cloned();
    (program, checked.diagnostics)
}

/// Reports every `use` that closes a cycle of imports.
fn import_cycles(files: &[ParsedFile], diagnostics: &mut Vec<Diagnostic>) {
    let index: HashMap<SourceId, usize> = files.iter().enumerate().map(|(i, f)| (f.id, i)).collect();
    // 0 = unvisited, 1 = on the stack, 2 = done.
    let mut state = vec![0u8; files.len()];
    fn visit(
        i: usize,
        files: &[ParsedFile],
        index: &HashMap<SourceId, usize>,
        state: &mut [u8],
        diagnostics: &mut Vec<Diagnostic>,
    ) {
        state[i] = 1;
        let uses: Vec<&ast::Use> =
            files[i].ast.items.iter().filter_map(|it| if let Item::Use(u) = it { Some(u) } else { None }).collect();
        for (n, target) in files[i].imports.iter().enumerate() {
            let Some(j) = target.and_then(|t| index.get(&t).copied()) else { continue };
            match state[j] {
                0 => visit(j, files, index, state, diagnostics),
                1 => {
                    if let Some(u) = uses.get(n) {
                        diagnostics.push(
                            Diagnostic::new("E107", files[i].id, u.span, "these imports form a cycle")
                                .label(format!("{} leads back to this file", u.target.display()))
                                .with_help("move the shared intents and outcomes into a third file that both import"),
                        );
                    }
                }
                _ => {}
            }
        }
        state[i] = 2;
    }
    for i in 0..files.len() {
        if state[i] == 0 {
            visit(i, files, &index, &mut state, diagnostics);
        }
    }
}

/// Reads a campaign file into the model `run` uses (E600–E605), then, for each script it runs
/// (the root file's script named after `#`, else its first), CS009 on the campaign for that
/// script's purpose and what the script needs of the campaign. The roots come in the order of
/// the campaign's distinct script files. Several scripts (A/B) must have names of their own
/// (each attempt stores its script's name) and the same inputs (one customer list feeds them).
fn run_campaign(
    campaign: &Source,
    pack: Option<&compliance::Pack>,
    sources: &mut Sources,
    files: &[ParsedFile],
    programs: &[(SourceId, crate::bytecode::Program)],
    diagnostics: &mut Vec<Diagnostic>,
    allowed: &mut Vec<Allowed>,
) -> Option<crate::campaign::Campaign> {
    let id = sources.add(campaign.clone());
    let read = crate::campaign::read(id, &campaign.text, crate::campaign::Shape::of_path(&campaign.name));
    diagnostics.extend(read.diagnostics);
    let parsed = read.campaign?;
    let mut purposes: Vec<String> = Vec::new();
    // (entry as written, its key, its script's code) of each script found, to compare them.
    let mut codes: Vec<(&str, String, &crate::bytecode::ScriptCode)> = Vec::new();
    for (i, (choice, root)) in parsed.scripts.iter().zip(script_roots(&parsed, files)).enumerate() {
        let Some(root) = root else { continue };
        let wanted = choice.name();
        let script = files
            .iter()
            .filter(|f| f.id == root)
            .flat_map(|f| &f.ast.items)
            .filter_map(|i| if let Item::Script(s) = i { Some(s) } else { None })
            .find(|s| wanted.is_none_or(|w| s.name.name == w));
        let purpose = script
            .and_then(|s| {
                s.members.iter().find_map(|m| match m {
                    ast::Member::Setting(set) if set.name.name == "purpose" => match &set.value {
                        ast::SettingValue::Word(w) => Some(w.name.clone()),
                        _ => None,
                    },
                    _ => None,
                })
            })
            .unwrap_or_else(|| "service".into());
        if let Some(pack) = pack
            && !purposes.contains(&purpose)
        {
            compliance::campaign::check(id, &parsed, &purpose, pack, diagnostics, allowed);
        }
        purposes.push(purpose);
        // The actions and messages of the script the campaign runs (CAMPAIGN.md §5).
        let key = crate::campaign::Campaign::script_key(i);
        let code = programs
            .iter()
            .filter(|(p, _)| *p == root)
            .flat_map(|(_, p)| &p.scripts)
            .find(|s| wanted.is_none_or(|w| s.name == w));
        if let Some(code) = code {
            crate::campaign::check_script_needs(id, &parsed, &key, code, diagnostics);
            codes.push((&choice.script, key, code));
        }
    }
    if let Some(((first_entry, _, first), others)) = codes.split_first() {
        for (entry, key, code) in others {
            let at = parsed.spans.at(key);
            variant_fits(id, at, (first_entry, first), (entry, code), diagnostics);
        }
        for (n, (entry, key, code)) in codes.iter().enumerate() {
            if let Some((earlier, _, _)) = codes[..n].iter().find(|(_, _, e)| e.name == code.name) {
                diagnostics.push(
                    Diagnostic::new(
                        "E605",
                        id,
                        parsed.spans.at(key),
                        format!("`{entry}` runs a script named `{}`, as `{earlier}` does", code.name),
                    )
                    .label("a second script of the same name")
                    .with_help(
                        "each attempt stores its script's name to tell the scripts apart: rename one (`script reminder_b …`)",
                    ),
                );
            }
        }
    }
    // The segment over the first script's values (the scripts share their inputs), with the
    // campaign's `[rfm]`: what `run` would refuse, at its place in the file.
    if let (Some(segment), Some((_, _, code))) = (&parsed.segment, codes.first())
        && let Err(found) = crate::segment::compile(segment, code, parsed.rfm.as_ref())
    {
        let value = parsed.spans.at("segment");
        diagnostics
            .extend(found.into_iter().map(|d| crate::segment::in_campaign(d, id, value, &campaign.text, segment)));
    }
    Some(parsed)
}

/// The root file of each script of `campaign`, in its order: the caller gives the roots in the
/// order of [`Campaign::script_files`](crate::campaign::Campaign::script_files).
pub fn script_roots(campaign: &crate::campaign::Campaign, files: &[ParsedFile]) -> Vec<Option<SourceId>> {
    let roots: Vec<SourceId> = files.iter().filter(|f| f.is_root).map(|f| f.id).collect();
    let distinct = campaign.script_files();
    campaign
        .scripts
        .iter()
        .map(|choice| {
            distinct.iter().position(|(_, f)| *f == choice.file()).and_then(|index| roots.get(index).copied())
        })
        .collect()
}

/// A second script of an A/B campaign takes the customers of the first's list: it declares the
/// same inputs, of the same types, each required (no default) in both or in neither.
fn variant_fits(
    file: SourceId,
    at: Span,
    (first_entry, first): (&str, &crate::bytecode::ScriptCode),
    (entry, other): (&str, &crate::bytecode::ScriptCode),
    diagnostics: &mut Vec<Diagnostic>,
) {
    let inputs = |code: &crate::bytecode::ScriptCode| -> Vec<(String, crate::syntax::ast::Type, bool)> {
        code.slots.iter().filter(|s| s.input).map(|s| (s.name.clone(), s.ty, s.init.is_none())).collect()
    };
    let (mine, theirs) = (inputs(first), inputs(other));
    let mut problems = Vec::new();
    for (name, ty, required) in &theirs {
        match mine.iter().find(|(n, _, _)| n == name) {
            None => problems.push(format!("`{entry}` has the input `{name}`, which `{first_entry}` lacks")),
            Some((_, t, _)) if t != ty => {
                problems.push(format!("the input `{name}` is {} in `{entry}` but {} in `{first_entry}`", ty.a(), t.a()))
            }
            Some((_, _, r)) if r != required => {
                let (with, without) = if *required { (first_entry, entry) } else { (entry, first_entry) };
                problems.push(format!("the input `{name}` has a default in `{with}` but none in `{without}`"));
            }
            Some(_) => {}
        }
    }
    for (name, _, _) in &mine {
        if !theirs.iter().any(|(n, _, _)| n == name) {
            problems.push(format!("`{entry}` lacks the input `{name}` of `{first_entry}`"));
        }
    }
    for problem in problems {
        diagnostics.push(
            Diagnostic::new("E605", file, at, format!("the scripts take different inputs: {problem}"))
                .label("this script")
                .with_help("one customer list feeds every script of an A/B campaign: declare the same inputs in each"),
        );
    }
}

/// Checks one in-memory source that imports only stdlib modules.
pub fn check_source(name: &str, text: &str) -> Checked {
    check(vec![Source::new(name, text)], &mut NoFiles)
}

/// Whether `code` names a compliance rule (`CS001`…`CS009`).
pub fn is_compliance_code(code: &str) -> bool {
    compliance::rule(code).is_some()
}
