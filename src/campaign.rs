//! `callscript run` and `report`: loads a campaign (its script, checked like
//! `callscript check`; its customers; its segment), then hands a plan to the runtime.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use callscript_compiler::bytecode::Program;
use callscript_compiler::source::Source;
use callscript_compiler::value::Value;
use callscript_jit::Verdict;
use callscript_runtime::campaign::customers;
use callscript_runtime::campaign::list::CustomerList;
use callscript_runtime::campaign::table::CustomerTable;
use callscript_runtime::campaign::{self, Loaded, TelephonyKind};
use callscript_runtime::metrics::{self, Metrics};
use callscript_runtime::report;
use callscript_runtime::scheduler::worker::{self, WorkerOptions};
use callscript_runtime::scheduler::{
    self, Clock, PacedClock, Plan, Progress, RunOptions, Variant, VirtualClock, WaitReason, WallClock,
};
use callscript_runtime::store::queue::Pace;
use callscript_runtime::store::{PostgresStore, SqliteStore, Store};
use callscript_runtime::telephony::Telephony;
use callscript_runtime::telephony::recording::Recorder;
use callscript_runtime::telephony::sim::SimTelephony;
use callscript_runtime::telephony::sip::call::{Services, Speech};
use callscript_runtime::telephony::sip::{SipConfig, SipTelephony};
use callscript_runtime::vm::{CallContext, Executable, Session};

use crate::error::{CliError, CliResult, Status};

/// `file:line:column` of a setting's value in the campaign file (its table, or the file's
/// start, when it is not written), for errors found after the campaign was read.
pub(crate) fn setting_place(loaded: &Loaded, key: &str) -> String {
    let text = std::fs::read_to_string(&loaded.path).unwrap_or_default();
    let at = Source::new("", text).line_col(loaded.campaign.spans.at(key).start);
    format!("{}:{}:{}", crate::files::display_name(&loaded.path), at.line, at.column)
}

/// Loads a campaign's settings (no compliance check: `report`, `dnc`, `recording`, `clips`).
pub(crate) fn load_settings(path: &Path) -> Result<Loaded, CliError> {
    Ok(campaign::load(path)?)
}

/// A campaign checked exactly like `callscript check CAMPAIGN` (its settings, its scripts,
/// compliance and CS009), with each script to run (in the campaign's order: one, or several
/// for A/B) as its program and the script's name in it; errors are printed.
pub(crate) fn checked_campaign(
    path: &Path,
    customers_csv: Option<&str>,
) -> Result<(Loaded, Vec<(Program, String)>), CliError> {
    let (checked, _) = crate::checking::check_campaign_with(path, "cn", customers_csv)?;
    if checked.error_count() > 0 {
        return Err(CliError::findings(checked, 1, Some("no call was placed: the campaign or its script has errors")));
    }
    let Some(campaign) = checked.campaign.clone() else {
        return Err(CliError::Refused(format!("{}: the campaign's script holds nothing to run", path.display())));
    };
    let loaded = Loaded::new(campaign, path);
    let mut scripts = Vec::new();
    for (choice, program) in loaded.campaign.scripts.iter().zip(checked.campaign_programs()) {
        let Some(program) = program.cloned() else {
            return Err(CliError::Refused(format!(
                "{}: the campaign's script `{}` holds nothing to run",
                path.display(),
                choice.script
            )));
        };
        let name = pick_script(&program, choice.name())?;
        if choice.file().ends_with(".callc") {
            stored_matches(&loaded.resolve(choice.file()), &program)?;
        }
        scripts.push((program, name));
    }
    Ok((loaded, scripts))
}

/// The program that runs from a `.callc` is the one just checked, lowered again from its
/// embedded sources under the campaign's pack. Built under that same pack, the stored bytecode
/// must be exactly that program; anything else was not compiled from those sources.
fn stored_matches(path: &Path, checked: &Program) -> Result<(), CliError> {
    let bytes = std::fs::read(path).map_err(CliError::io(format!("cannot read the script {}", path.display())))?;
    let stored = crate::checking::load_callc(path, &bytes)?;
    if stored.jurisdiction == checked.jurisdiction && stored != *checked {
        return Err(CliError::Refused(format!(
            "{}: this bytecode is not what its embedded sources compile to; rebuild it with `callscript build`",
            path.display()
        )));
    }
    Ok(())
}

fn pick_script(program: &Program, chosen: Option<&str>) -> Result<String, CliError> {
    match chosen {
        Some(name) if program.script(name).is_some() => Ok(name.to_string()),
        Some(name) => Err(CliError::Refused(format!("there is no script `{name}` in the campaign's script file"))),
        None => program
            .scripts
            .first()
            .map(|s| s.name.clone())
            .ok_or_else(|| CliError::Refused("the campaign's script file holds no script".into())),
    }
}

/// Loads everything a run needs: the checked campaign and program, customers, segment.
pub fn plan(
    path: &Path,
    customers_override: Option<&Path>,
    segments: Option<&Path>,
) -> Result<(Plan, Loaded), CliError> {
    planned(path, customers_override, segments).map(|(plan, loaded, _)| (plan, loaded))
}

/// How the customer list was cut down to the campaign's segment (`callscript segment`).
#[derive(Debug)]
pub struct SegmentPlan {
    /// Customers in the list, and per value of its `segment` column (when it has one).
    pub listed: usize,
    pub by_column: std::collections::BTreeMap<String, usize>,
    /// The expression and where it was written, with what it reads and how it ran.
    pub expression: Option<(String, String)>,
    pub reads: Vec<String>,
    pub engine: Option<SegmentEngine>,
    /// A named segment of a JSON task chosen by the list's `segment` column.
    pub named: Option<String>,
    /// The RFM grid of the whole list and the day recency counts to, with `[rfm]`.
    pub rfm: Option<(callscript_runtime::campaign::rfm::Grid, callscript_compiler::value::Date)>,
    /// The CSV's size and the whole list's in columns (CAMPAIGN.md §8: within 2× the CSV).
    pub csv_bytes: usize,
    pub list_bytes: usize,
    /// The scripts' `if` conditions computed per customer before the calls.
    pub guards: FixedGuards,
}

/// How the scripts' fixed `if` conditions (`ScriptCode::fixed_guards`) were computed per
/// customer.
#[derive(Debug, Default)]
pub struct FixedGuards {
    /// Conditions that read nothing a call changes, over all scripts, and those compiled.
    pub fixed: usize,
    pub compiled: usize,
    pub compile: std::time::Duration,
    pub run: std::time::Duration,
    /// Why a condition was left to the calls (the first reason).
    pub refused: Option<String>,
}

/// How a segment expression ran over the list.
#[derive(Debug)]
pub enum SegmentEngine {
    /// Compiled with Cranelift; `interpreted` rows were left to the interpreter.
    Jit { compile: std::time::Duration, run: std::time::Duration, interpreted: usize },
    /// Every row through the interpreter, and why the JIT did not compile it.
    Interpreter { why: String, run: std::time::Duration },
}

/// [`plan`], and how the segment was applied.
fn planned(
    path: &Path,
    customers_override: Option<&Path>,
    segments: Option<&Path>,
) -> Result<(Plan, Loaded, SegmentPlan), CliError> {
    // A JSON task's inputs are its template's names, typed from the customer list.
    let csv_for_types = match customers_override {
        Some(csv) if path.extension().and_then(|e| e.to_str()) == Some("json") => {
            Some(std::fs::read_to_string(csv).unwrap_or_default())
        }
        _ => None,
    };
    let (loaded, scripts) = checked_campaign(path, csv_for_types.as_deref())?;
    let split = loaded.campaign.is_split();
    let mut variants = Vec::with_capacity(scripts.len());
    for ((program, script), choice) in scripts.into_iter().zip(&loaded.campaign.scripts) {
        let exec = Executable::new(program).map_err(|e| CliError::Refused(e.to_string()))?;
        variants.push(match split {
            false => Variant::only(exec, script),
            true => Variant::shared(exec, script, choice.share),
        });
    }
    // The scripts of an A/B campaign take the same inputs (checked): the first reads the list.
    let (exec, script) = (&variants[0].exec, &variants[0].script);
    let code = exec.program.script(script).expect("picked script exists");
    let csv_path = match (customers_override, &loaded.campaign.customers) {
        (Some(p), _) => p.to_path_buf(),
        (None, Some(c)) => loaded.resolve(c),
        (None, None) => {
            return Err(CliError::Usage(format!(
                "{}: the campaign names no `customers` file (or pass --customers)",
                path.display()
            )));
        }
    };
    let csv_name = crate::files::display_name(&csv_path);
    let csv_bytes = std::fs::read(&csv_path).map_err(CliError::io(format!("{csv_name}: cannot read")))?;
    let no_call = |errors| CliError::Input { errors, consequence: "no call was placed" };
    let csv_text = customers::decode(&csv_name, csv_bytes).map_err(|e| no_call(vec![e]))?;
    let mut list =
        CustomerList::load_csv(&csv_name, &csv_text, code, &loaded.campaign.jurisdiction).map_err(no_call)?;
    let measures = crate::rfm::measures(&loaded, &csv_name, &csv_text)?;
    let csv_size = csv_text.len();
    drop(csv_text);
    let mut explained = SegmentPlan {
        listed: list.len(),
        by_column: std::collections::BTreeMap::new(),
        expression: None,
        reads: Vec::new(),
        engine: None,
        named: None,
        rfm: measures.as_ref().map(|m| (callscript_runtime::campaign::rfm::grid(m), m.as_of)),
        csv_bytes: csv_size,
        list_bytes: list.data_bytes(),
        guards: FixedGuards::default(),
    };
    for i in 0..list.len() {
        if let Some(s) = list.segment(i) {
            match explained.by_column.get_mut(s) {
                Some(n) => *n += 1,
                None => _ = explained.by_column.insert(s.to_string(), 1),
            }
        }
    }
    // The segment: an expression of the script language, or a named segment (JSON tasks).
    let segment_name = loaded.campaign.task.as_ref().and_then(|t| t.segment_name.clone());
    let segment_expr = match (&loaded.campaign.segment, &segment_name, segments) {
        (Some(e), _, _) => {
            // Point segment errors at the `segment = …` value in the campaign file.
            Some((e.clone(), setting_place(&loaded, "segment")))
        }
        (None, Some(name), Some(file)) => {
            let text = crate::files::read_source(file)?;
            let table: toml::Table = toml::from_str(&text).map_err(|e| {
                let at = Source::new("", text.clone()).line_col(e.span().map_or(0, |r| r.start as u32));
                CliError::Refused(format!("{}:{}:{}: {}", file.display(), at.line, at.column, e.message()))
            })?;
            match table.get(name).and_then(|v| v.as_str()) {
                Some(e) => Some((e.to_string(), crate::files::display_name(file))),
                None => return Err(CliError::Refused(format!("{}: there is no segment `{name}`", file.display()))),
            }
        }
        (None, Some(name), None) => {
            if !list.has_segments() {
                return Err(CliError::Usage(format!(
                    "the task names segment `{name}`, but the customers have no `segment` column (or pass --segments FILE)"
                )));
            }
            let keep: Vec<bool> = (0..list.len()).map(|i| list.segment(i) == Some(name.as_str())).collect();
            list.retain(&keep);
            explained.named = Some(name.clone());
            None
        }
        (None, None, _) => None,
    };
    if let Some((expr, origin)) = segment_expr {
        let segment =
            callscript_compiler::segment::compile(&expr, code, loaded.campaign.rfm.as_ref()).map_err(|diags| {
                let lines: Vec<String> =
                    diags.iter().map(|d| format!("{origin}: segment `{expr}`: [{}] {}", d.code, d.message)).collect();
                CliError::Refused(lines.join("\n"))
            })?;
        explained.reads = reads(&segment);
        // RFM values and quantiles: columns of a copy of the table, inputs of a copy of the script.
        let (exec, derived) = crate::rfm::with_derived(&segment, measures.as_ref(), exec, &list, &csv_name)?;
        // A segment's `today` is the day recency counts to: `[rfm] as_of`, else today in the
        // campaign's zone (not a call's day: no call is placed yet).
        let context = CallContext { today: crate::rfm::as_of(&loaded), ..CallContext::default() };
        let engine = select_segment(&segment, &exec, script, context, &mut list, derived.as_ref(), &csv_name)?;
        explained.engine = Some(engine);
        explained.expression = Some((expr, origin));
    }
    explained.guards = fix_guards(&variants, &mut list);
    let allowed = serde_json::to_string(&loaded.campaign.allow).unwrap_or_else(|_| "{}".into());
    let plan = Plan {
        campaign_id: loaded.campaign.task_id.clone(),
        settings: loaded.campaign.clone(),
        variants,
        customers: list,
        allowed,
        list: csv_path.file_name().map_or_else(|| csv_name.to_string(), |n| n.to_string_lossy().into_owned()),
    };
    Ok((plan, loaded, explained))
}

/// What a segment expression reads: the script's values and the built-ins, in the order first
/// read, each with its type.
fn reads(segment: &callscript_compiler::segment::Segment) -> Vec<String> {
    use callscript_compiler::bytecode::ExprOp;
    let mut names: Vec<String> = Vec::new();
    for op in &segment.code.ops {
        let name = match op {
            ExprOp::Load(slot) => match segment.script.slots.get(usize::from(*slot)) {
                Some(s) => {
                    let kind = match (segment.derived_at(*slot), s.input) {
                        (Some(_), _) => "derived over the whole list",
                        (None, true) => "input",
                        (None, false) => "let",
                    };
                    format!("{} ({} {kind})", s.name, s.ty.name())
                }
                None => continue,
            },
            ExprOp::Attempt => "attempt (int)".into(),
            ExprOp::Hour => "hour (int)".into(),
            ExprOp::Today => "today (date)".into(),
            ExprOp::Weekday => "weekday (int)".into(),
            _ => continue,
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// `callscript segment CAMPAIGN [--explain]`: the list, the segment's customers, and the plan.
pub fn segment_command(
    path: &Path,
    explain: bool,
    customers_override: Option<&Path>,
    segments: Option<&Path>,
) -> CliResult {
    let (plan, _, s) = planned(path, customers_override, segments)?;
    let share = |n: usize| if s.listed == 0 { 0.0 } else { n as f64 * 100.0 / s.listed as f64 };
    let mut out = String::new();
    let line = |out: &mut String, label: &str, value: String| out.push_str(&format!("  {label:<22} {value}\n"));
    out.push_str(&format!("campaign {} · {}\n", plan.campaign_id, plan.list));
    line(&mut out, "customers listed", s.listed.to_string());
    if !s.by_column.is_empty() {
        out.push_str("  by the list's `segment` column\n");
        for (name, n) in &s.by_column {
            out.push_str(&format!("    {name:<20} {n:>9}  {:.1}%\n", share(*n)));
        }
    }
    match (&s.expression, &s.named) {
        (Some((expr, origin)), _) => line(&mut out, "segment", format!("{expr}   ({origin})")),
        (None, Some(name)) => line(&mut out, "segment", format!("`{name}` of the list's `segment` column")),
        (None, None) => line(&mut out, "segment", "none: every customer".into()),
    }
    let kept = plan.customers.len();
    line(&mut out, "in the segment", format!("{kept}  {:.1}%", share(kept)));
    if let (true, Some((grid, as_of))) = (explain, &s.rfm) {
        out.push_str(&crate::rfm::render_grid(grid, *as_of));
    }
    if explain {
        out.push_str("  plan\n");
        let mb = |bytes: usize| bytes as f64 / 1e6;
        let held = format!(
            "{:.2} MB in columns, {:.2}× the CSV's {:.2} MB",
            mb(s.list_bytes),
            s.list_bytes as f64 / s.csv_bytes.max(1) as f64,
            mb(s.csv_bytes)
        );
        line(&mut out, "  list held", held);
        if !s.reads.is_empty() {
            line(&mut out, "  reads", s.reads.join(", "));
        }
        let ms = |d: &std::time::Duration| format!("{:.2} ms", d.as_secs_f64() * 1000.0);
        match &s.engine {
            Some(SegmentEngine::Jit { compile, run, interpreted }) => {
                line(&mut out, "  runs as", "native code (Cranelift JIT) over the list's columns".into());
                line(&mut out, "  compiled in", ms(compile));
                line(&mut out, "  selected in", format!("{} (the whole list)", ms(run)));
                line(
                    &mut out,
                    "  interpreted rows",
                    format!("{interpreted} (rows that fail or lack a value: the interpreter decides)"),
                );
            }
            Some(SegmentEngine::Interpreter { why, run }) => {
                line(&mut out, "  runs as", "the interpreter, row by row".into());
                line(&mut out, "  because", why.clone());
                line(&mut out, "  selected in", format!("{} (the whole list)", ms(run)));
            }
            None => line(&mut out, "  runs as", "nothing to evaluate".into()),
        }
        let g = &s.guards;
        if g.fixed > 0 {
            line(
                &mut out,
                "  if conditions",
                format!(
                    "{} of {} computed per customer before the calls (JIT: compiled in {}, ran in {})",
                    g.compiled,
                    g.fixed,
                    ms(&g.compile),
                    ms(&g.run)
                ),
            );
            if let Some(why) = &g.refused {
                line(&mut out, "  left to the calls", why.clone());
            }
        }
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes()).and_then(|()| stdout.flush()).map_err(CliError::io("cannot write the segment"))?;
    Ok(Status::Success)
}

/// Computes each script's fixed `if` conditions (they read nothing a call changes) for every
/// customer with the segment JIT over the list's columns, so that calls take the value instead
/// of evaluating the condition. A condition the JIT does not compile, and a customer whose
/// value the compiled code leaves to the interpreter, are evaluated by the calls as always.
fn fix_guards(variants: &[Variant], list: &mut CustomerList) -> FixedGuards {
    let mut done = FixedGuards::default();
    for (v, variant) in variants.iter().enumerate() {
        let Some(code) = variant.exec.program.script(&variant.script) else { continue };
        // The table's columns are the first script's inputs; a variant that numbers its
        // inputs otherwise would read the wrong column, so its conditions stay interpreted.
        let same_layout =
            list.table().columns().iter().all(|c| {
                code.slots.get(usize::from(c.slot)).is_some_and(|s| s.input && s.name == c.name && s.ty == c.ty)
            });
        let guards = code.fixed_guards();
        done.fixed += guards.len();
        if !same_layout {
            done.refused.get_or_insert_with(|| format!("script `{}` orders its inputs otherwise", variant.script));
            continue;
        }
        for expr in guards {
            let values = match guard_values(&code.exprs[expr as usize], code, list.table(), &mut done) {
                Ok(values) => values,
                Err(e) => {
                    done.refused.get_or_insert_with(|| e.to_string());
                    continue;
                }
            };
            if list.fix_guard(v, expr, values).is_ok() {
                done.compiled += 1;
            }
        }
    }
    done
}

/// A condition's value for every row of `table`: None where the compiled code leaves the row
/// to the interpreter.
fn guard_values(
    condition: &callscript_compiler::bytecode::ExprCode,
    code: &callscript_compiler::bytecode::ScriptCode,
    table: &CustomerTable,
    done: &mut FixedGuards,
) -> Result<Vec<Option<bool>>, callscript_jit::JitError> {
    let compiling = std::time::Instant::now();
    let compiled = callscript_jit::CompiledSegment::compile(condition, code, table, CallContext::default().builtins())?;
    done.compile += compiling.elapsed();
    let running = std::time::Instant::now();
    let values = compiled
        .select(0..table.rows())
        .into_iter()
        .map(|verdict| match verdict {
            Verdict::Keep => Some(true),
            Verdict::Drop => Some(false),
            Verdict::Interpret => None,
        })
        .collect();
    done.run += running.elapsed();
    Ok(values)
}

/// Keeps the customers in the segment, in list order. The segment runs as native code over the
/// list's columns when the JIT compiles it (CAMPAIGN.md §8); the interpreter decides each row
/// the compiled code leaves to it (one that fails, or reads a value the row lacks) and every
/// row when the JIT does not compile the segment, so what is kept and every error message are
/// the interpreter's. `derived`: the list's table with the segment's RFM and quantile columns,
/// when it reads some (`rfm::with_derived`).
fn select_segment(
    segment: &callscript_compiler::segment::Segment,
    exec: &Arc<Executable>,
    script: &str,
    context: CallContext,
    list: &mut CustomerList,
    derived: Option<&CustomerTable>,
    csv_name: &str,
) -> Result<SegmentEngine, CliError> {
    let started = std::time::Instant::now();
    let (condition, code) = (&segment.code, &segment.script);
    let table = derived.unwrap_or(list.table());
    let interpret = |i: usize| -> Result<bool, CliError> {
        let line = table.line(i).unwrap_or(0);
        let session = Session::start(Arc::clone(exec), script, table.row_inputs(i), context)
            .map_err(|e| CliError::Refused(format!("{csv_name}:{line}: {e}")))?;
        match session.evaluate(condition) {
            Ok(value) => Ok(value == Value::Bool(true)),
            Err(e) => Err(CliError::Refused(format!("{csv_name}:{line}: the segment cannot be computed: {}", e.0))),
        }
    };
    let mut compile = None;
    let compiling = std::time::Instant::now();
    let verdicts = callscript_jit::CompiledSegment::compile(condition, code, table, context.builtins())
        .map(|segment| {
            compile = Some(compiling.elapsed());
            segment.select(0..table.rows())
        })
        .map_err(|e| e.to_string());
    let (verdicts, why) = match verdicts {
        Ok(verdicts) => (verdicts, None),
        Err(reason) => {
            tracing::debug!(%reason, "the segment is interpreted");
            (vec![Verdict::Interpret; list.len()], Some(reason))
        }
    };
    let interpreted = verdicts.iter().filter(|v| **v == Verdict::Interpret).count();
    let mut keep = Vec::with_capacity(verdicts.len());
    for (i, verdict) in verdicts.into_iter().enumerate() {
        keep.push(match verdict {
            Verdict::Keep => true,
            Verdict::Drop => false,
            Verdict::Interpret => interpret(i)?,
        });
    }
    list.retain(&keep);
    let run = started.elapsed();
    let engine = match (compile, why) {
        (Some(compile), None) => SegmentEngine::Jit { compile, run, interpreted },
        (_, why) => SegmentEngine::Interpreter { why: why.unwrap_or_default(), run },
    };
    Ok(engine)
}

/// The store of a campaign, opened (created when it does not exist yet).
pub(crate) fn open_store(loaded: &Loaded) -> Result<Box<dyn Store + Send>, CliError> {
    match loaded.campaign.store.sqlite_path() {
        Some(_) => Ok(Box::new(open_store_with(loaded, SqliteStore::open)?)),
        None => Ok(Box::new(open_shared(loaded)?)),
    }
}

/// The store of a campaign that must exist already (`report`): nothing is created.
pub(crate) fn open_existing_store(loaded: &Loaded) -> Result<Box<dyn Store + Send>, CliError> {
    match loaded.campaign.store.sqlite_path() {
        Some(_) => Ok(Box::new(open_store_with(loaded, SqliteStore::open_existing)?)),
        None => Ok(Box::new(open_shared(loaded)?)),
    }
}

/// A campaign's shared store (`postgres://`, CAMPAIGN.md §6).
fn open_shared(loaded: &Loaded) -> Result<PostgresStore, CliError> {
    PostgresStore::connect(&loaded.campaign.store.url)
        .map_err(|source| CliError::CampaignStore { campaign: loaded.path.display().to_string(), source })
}

fn open_store_with(
    loaded: &Loaded,
    open: fn(&Path) -> Result<SqliteStore, callscript_runtime::store::StoreError>,
) -> Result<SqliteStore, CliError> {
    let url = &loaded.campaign.store.url;
    let Some(path) = loaded.campaign.store.sqlite_path() else {
        return Err(CliError::Refused(format!("{}: store `{url}` is not an sqlite:// store", loaded.path.display())));
    };
    open(&loaded.resolve(path))
        .map_err(|source| CliError::CampaignStore { campaign: loaded.path.display().to_string(), source })
}

fn clock_text(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default()
}

pub struct RunArgs {
    pub campaign: PathBuf,
    pub speed: Option<f64>,
    pub start: Option<String>,
    pub customers: Option<PathBuf>,
    pub segments: Option<PathBuf>,
    pub accept_new_script: bool,
    pub quiet: bool,
    /// `callscript worker`: one of several workers on a shared store; no report at the end.
    pub worker: Option<WorkerArgs>,
}

/// What only `callscript worker` takes.
pub struct WorkerArgs {
    /// Leave when every customer is done (else keep waiting for new ones).
    pub idle_exit: bool,
    /// `--metrics ADDR`: serve `/metrics`, `/healthz` and `/readyz` there.
    pub metrics: Option<std::net::SocketAddr>,
}

/// Sets the returned flag on Ctrl-C or SIGTERM: stop placing calls, let live calls finish, and
/// leave the store ready to resume (a worker drains, then exits 0). Installed before the
/// campaign loads, so a signal meanwhile is not fatal either.
fn stop_on_signals() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        rt.block_on(async {
            let terminate = async {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                () = terminate => {}
            }
            flag.store(true, Ordering::Relaxed);
        });
    });
    stop
}

pub fn run(args: RunArgs) -> CliResult {
    let stop = stop_on_signals();
    let (plan, loaded) = plan(&args.campaign, args.customers.as_deref(), args.segments.as_deref())?;
    if loaded.campaign.store.sqlite_path().is_none() {
        return run_shared(args, stop, plan, loaded);
    }
    if args.worker.is_some() {
        return Err(CliError::Refused(format!(
            "{}: `callscript worker` shares a campaign through a PostgreSQL store; set [store] url = \"postgres://user@host/db\" (CAMPAIGN.md §6), or use `callscript run` for one process",
            setting_place(&loaded, "store.url")
        )));
    }
    let mut store = open_store(&loaded)?;
    let start_ms = start_moment(args.start.as_deref())?;
    let mut telephony = telephony_for(&args.campaign, &loaded, &plan)?;
    let bar = progress_bar(args.quiet, plan.customers.len());
    let mut on_progress = progress_line(&bar, args.quiet);
    // Real calls run on the wall clock; simulated ones on virtual time (paced by --speed).
    let mut clock: Box<dyn Clock> = match (telephony.realtime(), args.speed) {
        (true, _) => Box::new(WallClock),
        (false, Some(speed)) => Box::new(PacedClock::new(start_ms, speed)),
        (false, None) => Box::new(VirtualClock::new(start_ms)),
    };
    let started = std::time::Instant::now();
    let options = RunOptions { clock: clock.as_mut(), stop, on_progress: Some(&mut on_progress) };
    let summary = scheduler::run(&plan, store.as_mut(), telephony.as_mut(), args.accept_new_script, options);
    bar.finish_and_clear();
    let summary = summary?;
    let clock_kind = if loaded.campaign.telephony.kind == TelephonyKind::Sim { "virtual" } else { "wall" };
    print_summary(&plan, &summary, started, clock_kind);
    print_report(&plan, store.as_ref())
}

/// `run` or `worker` on a shared store: this process is one worker of the campaign.
fn run_shared(args: RunArgs, stop: Arc<AtomicBool>, plan: Plan, loaded: Loaded) -> CliResult {
    let simulated = loaded.campaign.telephony.kind == TelephonyKind::Sim;
    if simulated && args.speed.is_none() {
        return Err(CliError::Usage(
            "workers share a simulated campaign's clock at a fixed speed: pass --speed N (e.g. --speed 600)".into(),
        ));
    }
    // Served before the store is reached, so /readyz says "not ready" while it is.
    let metrics = Arc::new(Metrics::new(&plan.campaign_id));
    let _server = match args.worker.as_ref().and_then(|w| w.metrics) {
        Some(addr) => Some(metrics::serve(addr, Arc::clone(&metrics)).map_err(|e| CliError::Refused(e.to_string()))?),
        None => None,
    };
    let mut store = open_shared(&loaded)?;
    let start_ms = start_moment(args.start.as_deref())?;
    let mut telephony = telephony_with(&args.campaign, &loaded, &plan, Some(&metrics))?;
    let speed = if telephony.realtime() { 0.0 } else { args.speed.unwrap_or(1.0) };
    let bar = progress_bar(args.quiet, plan.customers.len());
    let mut on_progress = progress_line(&bar, args.quiet);
    let now = jiff::Timestamp::now().as_millisecond();
    let options = WorkerOptions {
        pace: Pace { epoch_wall_ms: now, epoch_clock_ms: start_ms, speed },
        lease_ms: loaded.campaign.store.lease.as_millis().clamp(1, i64::MAX as i128) as i64,
        stop,
        idle_exit: args.worker.as_ref().is_none_or(|w| w.idle_exit),
        accept_new_script: args.accept_new_script,
        on_progress: Some(&mut on_progress),
        metrics: Some(Arc::clone(&metrics)),
    };
    let started = std::time::Instant::now();
    let summary = worker::work(&plan, &mut store, telephony.as_mut(), options);
    bar.finish_and_clear();
    let summary = summary?;
    let clock_kind = if speed > 0.0 { "shared virtual" } else { "wall" };
    print_summary(&plan, &summary, started, clock_kind);
    if args.worker.is_some() {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "{}",
            if summary.finished { "every customer is done: this worker leaves" } else { "drained: this worker leaves" }
        );
        return Ok(Status::Success);
    }
    print_report(&plan, &store)
}

/// `--start`: where a campaign's virtual clock starts on its first run (default: now).
fn start_moment(start: Option<&str>) -> Result<i64, CliError> {
    match start {
        Some(s) => s
            .parse::<jiff::Timestamp>()
            .map(|t| t.as_millisecond())
            .map_err(|e| CliError::Usage(format!("--start `{s}`: {e} (write e.g. 2026-11-24T00:00:00Z)"))),
        None => Ok(jiff::Timestamp::now().as_millisecond()),
    }
}

fn telephony_for(file: &Path, loaded: &Loaded, plan: &Plan) -> Result<Box<dyn Telephony>, CliError> {
    telephony_with(file, loaded, plan, None)
}

/// The campaign's telephony, timing VM turns into `metrics` when given.
fn telephony_with(
    file: &Path,
    loaded: &Loaded,
    plan: &Plan,
    metrics: Option<&Arc<Metrics>>,
) -> Result<Box<dyn Telephony>, CliError> {
    Ok(match loaded.campaign.telephony.kind {
        TelephonyKind::Sip => Box::new(start_sip(file, loaded, plan, metrics.cloned())?),
        TelephonyKind::Sim => {
            let ring_timeout = loaded.campaign.telephony.ring_timeout.as_millis().clamp(0, u64::MAX as i128) as u64;
            let sim = SimTelephony::new(loaded.campaign.sim.clone(), ring_timeout)
                .with_actions(loaded.campaign.actions.clone());
            Box::new(match metrics {
                Some(m) => sim.with_metrics(Arc::clone(m)),
                None => sim,
            })
        }
    })
}

fn progress_bar(quiet: bool, customers: usize) -> indicatif::ProgressBar {
    if quiet || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return indicatif::ProgressBar::hidden();
    }
    let b = indicatif::ProgressBar::new(customers as u64);
    b.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed_precise}]")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    b
}

/// The progress line, and each wait announced once (also without a terminal, a service's
/// log, unless `--quiet`).
fn progress_line(bar: &indicatif::ProgressBar, quiet: bool) -> impl FnMut(&Progress) + '_ {
    let mut announced = None;
    move |p: &Progress| {
        let waiting = p.waiting.map(|w| {
            let what = match w.reason {
                WaitReason::Window => "outside the call window; it opens",
                WaitReason::Retry => "every open customer waits; the next call is due",
            };
            format!("{what} at {}", clock_text(w.until_ms))
        });
        if waiting != announced {
            if let Some(text) = &waiting
                && !quiet
            {
                bar.suspend(|| eprintln!("info: {text}"));
            }
            announced = waiting.clone();
        }
        bar.set_message(format!(
            "placed {} · live {} · answered {} · done {} · clock {}{}",
            p.placed,
            p.live,
            p.answered,
            p.ended,
            clock_text(p.clock_ms),
            waiting.map(|w| format!(" · {w}")).unwrap_or_default()
        ));
        bar.tick();
    }
}

fn print_summary(plan: &Plan, summary: &scheduler::Summary, started: std::time::Instant, clock_kind: &str) {
    let p = summary.progress;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "campaign {}: {} customers, {} calls placed ({} answered) in {:.2} s; {clock_kind} clock at {}",
        plan.campaign_id,
        p.customers,
        p.placed,
        p.answered,
        started.elapsed().as_secs_f64(),
        clock_text(p.clock_ms)
    );
    if summary.recovered > 0 {
        let _ = writeln!(
            out,
            "recovered {} calls that were live when the last run stopped (recorded as failed/interrupted)",
            summary.recovered
        );
    }
    if summary.stopped {
        let _ = writeln!(out, "stopped: live calls finished; run again to resume");
    }
}

fn print_report(plan: &Plan, store: &dyn Store) -> CliResult {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out);
    let mut builder = report::ReportBuilder::default();
    builder.add_counts(&store.attempt_counts(&plan.campaign_id)?);
    let steps = plan_steps(plan.variants.iter().map(|v| (&v.exec.program, v.script.as_str())));
    let _ = write!(out, "{}", report::table(&builder.finish(&plan.campaign_id, &steps)));
    Ok(Status::Success)
}

/// The steps of the campaign's scripts in flow order: the first script's, then those of the
/// others that it lacks.
fn plan_steps<'p>(scripts: impl IntoIterator<Item = (&'p Program, &'p str)>) -> Vec<String> {
    let mut steps: Vec<String> = Vec::new();
    for (program, script) in scripts {
        for step in program.script(script).map(|s| s.steps.as_slice()).unwrap_or_default() {
            let path = step.path();
            if !steps.contains(&path) {
                steps.push(path);
            }
        }
    }
    steps
}

/// `callscript report`: what to report on and how.
pub struct ReportArgs<'a> {
    pub campaign: &'a Path,
    /// A second campaign: the two side by side.
    pub other: Option<&'a Path>,
    /// The two scripts of one A/B campaign side by side.
    pub by_variant: bool,
    pub format: &'a str,
    /// Every attempt as CSV.
    pub attempts: bool,
    pub output: Option<&'a Path>,
}

/// A campaign's store, with what its script says about its attempts.
struct Stored {
    id: String,
    store: Box<dyn Store>,
    /// The script's steps in flow order (empty when the script no longer compiles).
    steps: Vec<String>,
    titles: report::labels::ScriptTitles,
}

impl Stored {
    /// Streams the campaign's attempts through `f`, then warns of attempts in a state this
    /// callscript does not know.
    fn each_attempt(&self, f: &mut dyn FnMut(callscript_runtime::store::AttemptRow)) -> Result<(), CliError> {
        let mut unknown = 0u64;
        self.store.each_attempt(&self.id, &mut |r| {
            unknown += u64::from(r.state != "ended");
            f(r)
        })?;
        warn_unknown_states(unknown);
        Ok(())
    }

    /// The campaign's report, from the store's grouped attempts.
    fn report(&self) -> Result<report::Report, CliError> {
        let counts = self.store.attempt_counts(&self.id)?;
        warn_unknown_states(counts.unknown_states);
        let mut builder = report::ReportBuilder::default();
        builder.add_counts(&counts);
        Ok(builder.finish(&self.id, &self.steps).with_titles(&self.titles))
    }
}

fn warn_unknown_states(unknown: u64) {
    if unknown > 0 {
        eprintln!(
            "warning: {unknown} attempts are in a state this callscript does not know; they are reported with their stored disposition (or `unknown`)"
        );
    }
}

/// Opens a campaign's store, and reads its script's steps and titles.
fn stored(path: &Path) -> Result<Stored, CliError> {
    let loaded = load_settings(path)?;
    let store = open_existing_store(&loaded)?;
    let id = loaded.campaign.task_id.clone();
    if store.campaign(&id)?.is_none() {
        return Err(CliError::Refused(format!(
            "{}: campaign `{id}` has never run: its store holds no attempt of it",
            path.display()
        )));
    }
    let (steps, titles) = script_labels(path, &loaded);
    Ok(Stored { id, store, steps, titles })
}

/// The script's steps in flow order and the titles of its intents and outcomes, for reports: when the script
/// still compiles; else none (steps are then shown in the order the calls reached them).
pub(crate) fn script_labels(path: &Path, loaded: &Loaded) -> (Vec<String>, report::labels::ScriptTitles) {
    match crate::checking::check_campaign(path, "cn") {
        Ok((checked, _)) => (
            {
                let scripts: Vec<(&Program, String)> = loaded
                    .campaign
                    .scripts
                    .iter()
                    .zip(checked.campaign_programs())
                    .filter_map(|(choice, p)| p.and_then(|p| pick_script(p, choice.name()).ok().map(|n| (p, n))))
                    .collect();
                plan_steps(scripts.iter().map(|(p, n)| (*p, n.as_str())))
            },
            report::labels::ScriptTitles { intents: checked.intent_titles(), outcomes: checked.outcome_titles() },
        ),
        Err(_) => Default::default(),
    }
}

pub fn report_command(args: ReportArgs) -> CliResult {
    let a = stored(args.campaign)?;
    if args.attempts {
        return export_attempts(&a, args.output);
    }
    let text = if let Some(other) = args.other {
        let b = stored(other)?;
        render_comparison(&report::compare(a.report()?, b.report()?), args.format)
    } else if args.by_variant {
        render_comparison(&by_variant(args.campaign, &a)?, args.format)
    } else {
        let r = a.report()?;
        match args.format {
            "json" => report::json(&r) + "\n",
            "html" => report::html(&r),
            _ => report::table(&r),
        }
    };
    write_output(args.output, "the report", &mut |out| Ok(out.write_all(text.as_bytes())?))
}

/// Every attempt as CSV, streamed: a first pass over the store finds the columns, a second
/// writes the rows, so no attempt is held.
fn export_attempts(s: &Stored, output: Option<&Path>) -> CliResult {
    let mut columns = report::CsvColumns::default();
    s.each_attempt(&mut |r| columns.add(&r))?;
    let mut written = Ok(());
    write_output(output, "the attempts", &mut |out| {
        let mut csv = report::AttemptsCsv::new(out, std::mem::take(&mut columns)).map_err(std::io::Error::from)?;
        s.store.each_attempt(&s.id, &mut |r| {
            if written.is_ok() {
                written = csv.write(&r);
            }
        })?;
        std::mem::replace(&mut written, Ok(())).map_err(std::io::Error::from)?;
        csv.finish()?;
        Ok(())
    })
}

/// What stops an output being written: the output itself, or the store it is read from.
#[derive(Debug, thiserror::Error)]
enum WriteFailure {
    #[error(transparent)]
    Output(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] callscript_runtime::store::StoreError),
}

/// Writes to `output` (a file, synced) or standard output. Every byte checked: a full disk or a
/// closed pipe is an error, not a truncated success.
fn write_output(
    output: Option<&Path>,
    what: &str,
    write: &mut dyn FnMut(&mut dyn Write) -> Result<(), WriteFailure>,
) -> CliResult {
    let failed = |e: WriteFailure, place: String| match e {
        WriteFailure::Output(io) => CliError::io(place)(io),
        WriteFailure::Store(store) => CliError::Store(store),
    };
    match output {
        Some(file) => {
            let place = format!("cannot write {}", file.display());
            let f = std::fs::File::create(file).map_err(CliError::io(place.clone()))?;
            let mut buffered = std::io::BufWriter::new(f);
            write(&mut buffered).map_err(|e| failed(e, place.clone()))?;
            let f = buffered.into_inner().map_err(|e| CliError::io(place.clone())(e.into_error()))?;
            f.sync_all().map_err(CliError::io(place))?;
        }
        None => {
            let place = format!("cannot write {what}");
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            write(&mut out).map_err(|e| failed(e, place.clone()))?;
            out.flush().map_err(CliError::io(place))?;
        }
    }
    Ok(Status::Success)
}

fn render_comparison(c: &report::Comparison, format: &str) -> String {
    match format {
        "json" => report::json_comparison(c) + "\n",
        "html" => report::html_comparison(c),
        _ => report::table_comparison(c),
    }
}

/// The two scripts of an A/B campaign side by side, by the script each attempt ran (attempts
/// stored before the store kept it are `unknown`). Each side's funnel has its own script's
/// steps, in the order its calls reached them.
fn by_variant(path: &Path, s: &Stored) -> Result<report::Comparison, CliError> {
    let mut variants: std::collections::BTreeMap<String, report::ReportBuilder> = Default::default();
    s.each_attempt(&mut |r| {
        let v = r.variant.clone().unwrap_or_else(|| report::labels::UNKNOWN.to_string());
        variants.entry(v).or_default().add(&r);
    })?;
    let names: Vec<String> = variants.keys().cloned().collect();
    let sides: Vec<report::Report> = variants
        .into_iter()
        .map(|(v, builder)| builder.finish(&format!("{} · {v}", s.id), &[]).with_titles(&s.titles))
        .collect();
    let Ok([a, b]) = <[report::Report; 2]>::try_from(sides) else {
        return Err(CliError::Refused(format!(
            "{}: --by variant compares the two scripts of an A/B campaign, but its attempts ran {} ({})",
            path.display(),
            names.len(),
            names.join(", ")
        )));
    };
    Ok(report::compare(a, b))
}

/// Starts the SIP user agent for a `kind = "sip"` campaign.
fn start_sip(
    file: &Path,
    loaded: &campaign::Loaded,
    plan: &scheduler::Plan,
    metrics: Option<Arc<Metrics>>,
) -> Result<SipTelephony, CliError> {
    let name = crate::files::display_name(file);
    // A setting's error is shown where the setting is written.
    let at_setting = |e: &dyn std::fmt::Display, setting: Option<&str>| match setting {
        Some(key) => CliError::Refused(format!(
            "{}: {e}\nno call was placed",
            setting_place(loaded, &format!("telephony.{key}"))
        )),
        None => CliError::Refused(format!("{name}: {e}\nno call was placed")),
    };
    let config = SipConfig::from_campaign(&loaded.campaign).map_err(|e| at_setting(&e, e.setting()))?;
    let mut scripts = Vec::with_capacity(plan.variants.len());
    for v in &plan.variants {
        let program = &v.exec.program;
        let script = program
            .script(&v.script)
            .ok_or_else(|| at_setting(&"the campaign's script is not in its program", None))?;
        scripts.push((program, script));
    }
    let speech = Speech::from_campaign(loaded, &scripts).map_err(|e| at_setting(&e, None))?;
    // The key is checked (and the folder made) before any call is placed.
    let recorder = Recorder::for_campaign(loaded).map_err(|e| at_setting(&e, None))?;
    let backends = Arc::new(callscript_runtime::actions::Backends::from_campaign(&loaded.campaign));
    SipTelephony::start(config, Services { speech: Arc::new(speech), recorder, backends, metrics })
        .map_err(|e| at_setting(&e, e.setting()))
}
