//! Subcommands and their exit codes: 0 ok, 1 findings or failures, 2 could not run (§9.9).

use std::path::PathBuf;

use callscript_compiler::check::Checked;
use clap::{Parser, Subcommand, ValueEnum};

use crate::error::CliError;
use crate::recording::Source;

#[derive(Parser)]
#[command(name = "callscript", version, about = "Check, test and run bank outbound-call scripts")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
    /// SARIF 2.1.0, for code-scanning tools.
    Sarif,
}

#[derive(Subcommand)]
pub enum DncAction {
    /// Add the numbers of a CSV's `phone` column to the list.
    Import {
        file: PathBuf,
        /// The campaign whose store holds the list.
        #[arg(long)]
        campaign: PathBuf,
    },
    /// Print the list: each number, where it came from and when it was added (UTC).
    List {
        /// The campaign whose store holds the list.
        #[arg(long)]
        campaign: PathBuf,
    },
    /// Write the list as CSV (`phone,source,added_at`), every row or an error.
    Export {
        /// The campaign whose store holds the list.
        #[arg(long)]
        campaign: PathBuf,
        /// Write to a file instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Take numbers off the list (given as arguments, or a CSV's `phone` column); exit 1 when
    /// some were not on it.
    Remove {
        phones: Vec<String>,
        /// A CSV file with a `phone` column.
        #[arg(long, required_unless_present = "phones")]
        file: Option<PathBuf>,
        /// The campaign whose store holds the list.
        #[arg(long)]
        campaign: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum IntentsAction {
    /// Recognise labelled utterances (`text,intent` rows) against a script's intents and score
    /// it: accuracy, macro F1, per-intent precision and recall, the top confusions (§14).
    Eval {
        file: PathBuf,
        /// The CSV of labelled utterances.
        data: PathBuf,
        /// The script whose `confidence` applies (default: the file's first script).
        #[arg(long)]
        script: Option<String>,
        #[arg(long, value_enum, default_value = "human")]
        format: ReportFormat,
    },
    /// Group a campaign's unrecognised replies and stated refusal reasons into clusters, with
    /// counts, samples, proposed phrases and the nearest existing intent (§14).
    Suggest {
        campaign: PathBuf,
        /// Leave out clusters heard fewer times than this.
        #[arg(long, default_value_t = 2)]
        min_count: u64,
        #[arg(long, value_enum, default_value = "human")]
        format: ReportFormat,
    },
}

/// Human table or JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
pub enum ClipsAction {
    /// List the prompt parts the campaign's clips manifest has no clip for (file:line:column
    /// in the script) and the values they cannot read; exit 1 if there are any.
    Check {
        /// The campaign file; its `[speech] clips` names the manifest.
        campaign: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum RecordingAction {
    /// Decrypt one recording to a stereo WAV file (left: our prompts, right: the customer).
    /// Every export, successful or not, is written to the store's audit log.
    Export {
        /// The campaign file: its [recording] key_file and its [store] are used.
        campaign: PathBuf,
        /// The recording of this attempt (an id from `callscript recording list`).
        #[arg(long, required_unless_present = "file", conflicts_with = "file")]
        attempt: Option<i64>,
        /// A recording file (`.csrec`) instead of an attempt.
        file: Option<PathBuf>,
        /// The WAV file to write.
        #[arg(short, long)]
        output: PathBuf,
        /// The key file to use instead of the campaign's key_file.
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// List a campaign's recordings.
    List { campaign: PathBuf },
    /// Create a new random recording key file (64 hexadecimal characters, mode 600).
    Keygen { file: PathBuf },
    /// Print the audit log of recording exports.
    Audit { campaign: PathBuf },
}

#[derive(Subcommand)]
pub enum Command {
    /// Check scripts (files or folders of `.call` files) for errors and compliance findings.
    Check {
        /// Files or folders; every `.call` file below a folder is checked. A `.toml` file is a
        /// campaign: its script is checked, and its schedule and limits too (CS009).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
        /// Rule pack of the jurisdiction (a campaign's own setting wins).
        #[arg(long, default_value = "cn")]
        jurisdiction: String,
    },
    /// Compile a script file to versioned bytecode (`.callc`).
    Build {
        file: PathBuf,
        /// Output file (default: the input with the extension `.callc`).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Rule pack of the jurisdiction, recorded in the `.callc` (a campaign's own setting wins).
        #[arg(long, default_value = "cn")]
        jurisdiction: String,
    },
    /// Print a readable listing of a bytecode file (or of a `.call` file, compiled first).
    Disasm { file: PathBuf },
    /// Run the conversation tests (`test "…" for SCRIPT { … }`) of files or folders.
    Test {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// List the steps and branches no test reached.
        #[arg(long)]
        coverage: bool,
        /// Rule pack of the jurisdiction (a campaign's own setting wins).
        #[arg(long, default_value = "cn")]
        jurisdiction: String,
    },
    /// Talk to a script in the terminal: type the customer's replies (`/dtmf 1`, `/silence`,
    /// `/angry text`, `/hangup`), or pipe them in from a file.
    Simulate {
        file: PathBuf,
        /// The script to run (default: the file's first script).
        #[arg(long)]
        script: Option<String>,
        /// An input value, `name=value` (repeatable).
        #[arg(long = "input", value_name = "NAME=VALUE")]
        inputs: Vec<String>,
        /// Read the replies from this file instead of the terminal (one per line).
        #[arg(long)]
        replies: Option<PathBuf>,
        #[arg(long, default_value_t = 1)]
        attempt: i64,
        #[arg(long, default_value_t = 10)]
        hour: i64,
        /// The customer's local date, the script's `today` (default: this machine's date).
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
        today: Option<callscript_compiler::value::Date>,
        /// Also write the call's transcript as a campaign stores it (JSON, sensitive values
        /// masked) to this file.
        #[arg(long, value_name = "FILE")]
        transcript: Option<PathBuf>,
        /// Rule pack of the jurisdiction (a campaign's own setting wins).
        #[arg(long, default_value = "cn")]
        jurisdiction: String,
    },
    /// Rewrite scripts in the canonical layout (files or folders; `-` reads standard input and
    /// writes standard output).
    Fmt {
        /// Files or folders (default: the current folder); `-` for standard input.
        paths: Vec<PathBuf>,
        /// Change nothing: list the files that would change, and exit 1 if there are any.
        #[arg(long)]
        check: bool,
    },
    /// Recorded prompt clips (`[speech] tts = "clips"`).
    Clips {
        #[command(subcommand)]
        action: ClipsAction,
    },
    /// Learned intents: how well a script understands labelled utterances (§14).
    Intents {
        #[command(subcommand)]
        action: IntentsAction,
    },
    /// Run the language server on standard input and output (editors start it).
    Lsp,
    /// Be one of several workers of a campaign on a shared PostgreSQL store (CAMPAIGN.md §6):
    /// claim due customers, call them, store the results; SIGTERM drains (no new calls, live
    /// calls finish, exit 0).
    Worker {
        /// The campaign file (TOML, or the JSON task shape); its store must be `postgres://`.
        campaign: PathBuf,
        /// The speed of a simulated campaign's shared clock (a number; every worker the same).
        #[arg(long, default_value = "max")]
        speed: String,
        /// Where the shared virtual clock starts when the campaign first runs (UTC).
        #[arg(long)]
        start: Option<String>,
        /// The customer list (for JSON tasks, or to override the campaign's).
        #[arg(long)]
        customers: Option<PathBuf>,
        /// Named segments (`name = "expression"`) for a JSON task's `customer_segment`.
        #[arg(long)]
        segments: Option<PathBuf>,
        /// Join even though the script changed since the campaign started.
        #[arg(long)]
        accept_new_script: bool,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
        /// `on`: leave when every customer is done; `off`: keep waiting for new customers.
        #[arg(long, value_enum, default_value = "on")]
        idle_exit: OnOff,
        /// Serve `/metrics` (Prometheus), `/healthz` and `/readyz` on this address (e.g. 0.0.0.0:9464).
        #[arg(long, value_name = "ADDR")]
        metrics: Option<std::net::SocketAddr>,
    },
    /// Run a campaign (simulated telephony by default), then print its report.
    Run {
        /// The campaign file (TOML, or the JSON task shape).
        campaign: PathBuf,
        /// Clock speed-up for simulated calls: a number, or `max` (the default).
        #[arg(long, default_value = "max")]
        speed: String,
        /// Where the virtual clock starts on the first run (UTC, e.g. 2026-11-24T00:00:00Z).
        #[arg(long)]
        start: Option<String>,
        /// The customer list (for JSON tasks, or to override the campaign's).
        #[arg(long)]
        customers: Option<PathBuf>,
        /// Named segments (`name = "expression"`) for a JSON task's `customer_segment`.
        #[arg(long)]
        segments: Option<PathBuf>,
        /// Resume even though the script changed since the campaign started.
        #[arg(long)]
        accept_new_script: bool,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
    },
    /// How many customers the campaign's segment holds (and each named segment of the list),
    /// without calling anyone; `--explain` adds the plan: columns read, JIT or interpreter.
    Segment {
        /// The campaign file (TOML, or the JSON task shape).
        campaign: PathBuf,
        /// Also the plan: the columns the segment reads, how it runs and what that cost.
        #[arg(long)]
        explain: bool,
        /// The customer list (for JSON tasks, or to override the campaign's).
        #[arg(long)]
        customers: Option<PathBuf>,
        /// Named segments (`name = "expression"`) for a JSON task's `customer_segment`.
        #[arg(long)]
        segments: Option<PathBuf>,
    },
    /// Serve the campaign's web console: the live wallboard, the report, the calls with their
    /// transcripts and recordings (behind an access token). Read-only; until Ctrl-C.
    Serve {
        campaign: PathBuf,
        /// Where to listen (loopback unless told otherwise).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// The recording key for playing recordings (default: the campaign's `key_file`).
        #[arg(long, value_name = "FILE")]
        recording_key: Option<PathBuf>,
    },
    /// Report on a campaign from its store: table, JSON, HTML, or every attempt as CSV. With a
    /// second campaign, or `--by variant`, two reports side by side with their differences.
    Report {
        campaign: PathBuf,
        /// A second campaign to compare with the first (A and B).
        other: Option<PathBuf>,
        /// Compare the two scripts of one A/B campaign (by the script each call ran).
        #[arg(long, value_enum, conflicts_with = "other")]
        by: Option<CompareBy>,
        #[arg(long, default_value = "table", value_parser = ["table", "json", "html"])]
        format: String,
        /// Every attempt as CSV instead of the summary, with a `let.NAME` column per let.
        #[arg(long, conflicts_with_all = ["other", "by"])]
        attempts: bool,
        /// Write to a file instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// The do-not-call list shared by every campaign of a store.
    Dnc {
        #[command(subcommand)]
        action: DncAction,
    },
    /// A campaign's encrypted call recordings: list, export, and the export audit log.
    Recording {
        #[command(subcommand)]
        action: RecordingAction,
    },
}

impl Command {
    /// Whether the command may run for long (a campaign, the console, the language server, an
    /// interactive simulation): the others exit once done, and keep the memory they free
    /// (`allocator.rs`).
    fn stays_up(&self) -> bool {
        matches!(
            self,
            Command::Run { .. }
                | Command::Worker { .. }
                | Command::Serve { .. }
                | Command::Lsp
                | Command::Simulate { .. }
        )
    }
}

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    // Library code reports what it works around through `tracing`; warnings and errors reach
    // stderr (`CALLSCRIPT_LOG=debug` shows more).
    let level = match std::env::var("CALLSCRIPT_LOG").as_deref() {
        Ok("debug") => tracing::Level::DEBUG,
        Ok("info") => tracing::Level::INFO,
        _ => tracing::Level::WARN,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
    if !cli.command.stays_up() {
        crate::allocator::keep_freed_memory();
    }
    let result = match cli.command {
        Command::Check { paths, format, jurisdiction } => crate::checking::run(&paths, format, &jurisdiction),
        Command::Build { file, output, jurisdiction } => crate::commands::build(&file, output, &jurisdiction),
        Command::Disasm { file } => crate::commands::disasm(&file),
        Command::Test { paths, coverage, jurisdiction } => crate::commands::test(&paths, coverage, &jurisdiction),
        Command::Run { campaign, speed, start, customers, segments, accept_new_script, quiet } => run_speed(&speed)
            .and_then(|speed| {
                crate::campaign::run(crate::campaign::RunArgs {
                    campaign,
                    speed,
                    start,
                    customers,
                    segments,
                    accept_new_script,
                    quiet,
                    worker: None,
                })
            }),
        Command::Worker {
            campaign,
            speed,
            start,
            customers,
            segments,
            accept_new_script,
            quiet,
            idle_exit,
            metrics,
        } => run_speed(&speed).and_then(|speed| {
            crate::campaign::run(crate::campaign::RunArgs {
                campaign,
                speed,
                start,
                customers,
                segments,
                accept_new_script,
                quiet,
                worker: Some(crate::campaign::WorkerArgs { idle_exit: idle_exit == OnOff::On, metrics }),
            })
        }),
        Command::Segment { campaign, explain, customers, segments } => {
            crate::campaign::segment_command(&campaign, explain, customers.as_deref(), segments.as_deref())
        }
        Command::Serve { campaign, listen, recording_key } => {
            crate::serve::serve(&campaign, listen, recording_key.as_deref())
        }
        Command::Report { campaign, other, by, format, attempts, output } => {
            crate::campaign::report_command(crate::campaign::ReportArgs {
                campaign: &campaign,
                other: other.as_deref(),
                by_variant: by == Some(CompareBy::Variant),
                format: &format,
                attempts,
                output: output.as_deref(),
            })
        }
        Command::Dnc { action } => match action {
            DncAction::Import { file, campaign } => crate::dnc::import(&file, &campaign),
            DncAction::List { campaign } => crate::dnc::list(&campaign),
            DncAction::Export { campaign, output } => crate::dnc::export(&campaign, output.as_deref()),
            DncAction::Remove { phones, file, campaign } => crate::dnc::remove(&campaign, &phones, file.as_deref()),
        },
        Command::Recording { action } => match action {
            RecordingAction::Export { campaign, attempt, file, output, key } => match (attempt, file) {
                (Some(id), _) => crate::recording::export(&campaign, Source::Attempt(id), &output, key.as_deref()),
                (None, Some(f)) => crate::recording::export(&campaign, Source::File(f), &output, key.as_deref()),
                (None, None) => Err(CliError::Usage("name the recording: --attempt ID or a FILE".into())),
            },
            RecordingAction::List { campaign } => crate::recording::list(&campaign),
            RecordingAction::Keygen { file } => crate::recording::keygen(&file),
            RecordingAction::Audit { campaign } => crate::recording::audit(&campaign),
        },
        Command::Simulate { file, script, inputs, replies, attempt, hour, today, transcript, jurisdiction } => {
            let today = today.unwrap_or_else(crate::commands::local_today);
            crate::commands::simulate(crate::commands::SimulateArgs {
                file: &file,
                script: script.as_deref(),
                inputs: &inputs,
                replies: replies.as_deref(),
                context: callscript_runtime::vm::CallContext { attempt, hour, today },
                transcript: transcript.as_deref(),
                jurisdiction: &jurisdiction,
            })
        }
        Command::Clips { action: ClipsAction::Check { campaign } } => crate::clips::check(&campaign),
        Command::Intents { action: IntentsAction::Eval { file, data, script, format } } => {
            crate::intents::eval(&file, &data, script.as_deref(), format)
        }
        Command::Intents { action: IntentsAction::Suggest { campaign, min_count, format } } => {
            crate::intents::suggest(&campaign, min_count, format)
        }
        Command::Fmt { paths, check } => crate::fmt::run(&paths, check),
        // The language server speaks its own protocol to the end and exits with its own status.
        Command::Lsp => return crate::lsp::run(),
    };
    // Every error of every command is shown here, in one form.
    match result {
        Ok(status) => status.code(),
        Err(e) => {
            crate::error::report(&e);
            e.exit_code()
        }
    }
}

/// What `report --by` compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CompareBy {
    /// The two scripts of an A/B campaign.
    Variant,
}

/// A switch written `on` or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

/// `--speed`: a positive factor, or `max` (None: as fast as possible).
fn run_speed(speed: &str) -> Result<Option<f64>, CliError> {
    match speed {
        "max" => Ok(None),
        n => match n.parse::<f64>() {
            Ok(x) if x > 0.0 && x.is_finite() => Ok(Some(x)),
            _ => Err(CliError::Usage(format!("--speed takes a positive number or `max`, not `{n}`"))),
        },
    }
}

/// Loads and checks `.call` files (or a campaign file) with the `cn` pack; Err is a message for
/// "could not run".
pub fn check_paths(paths: &[PathBuf]) -> Result<(Checked, usize), CliError> {
    crate::checking::check_paths(paths, "cn")
}

/// `--today 2026-11-24`.
fn parse_date(text: &str) -> Result<callscript_compiler::value::Date, String> {
    callscript_compiler::value::Date::parse(text).ok_or_else(|| format!("`{text}` is not a date like 2026-11-24"))
}
