//! The command-line interface. Each command is a thin shell over `core`.
//!
//! Exit codes: 0 success / intact, 1 tampering found (or ingest conflicts),
//! 2 could not run.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::json;

use auditlens_core::archive::Archive;
use auditlens_core::coverage::{self, CoverageSettings};
use auditlens_core::export::{self, ExportFormat};
use auditlens_core::filter::Filter;
use auditlens_core::ingest::{self, IngestOptions};
use auditlens_core::job::Job;
use auditlens_core::model::ActorType;
use auditlens_core::note::{self, SignerKey, VerifierKey};
use auditlens_core::output::{Destination, Output};
use auditlens_core::proof::{self, SignedCheckpoint};
use auditlens_core::sample::{self, PlatformFormat, Profile, Sample, SampleFile};
use auditlens_core::source::{self, Format, Source};
use auditlens_core::tickets::{self, ChangeTickets};
use auditlens_core::time::Timestamp;
use auditlens_core::verify::{self, Status};
use auditlens_core::{chain, digest, verdict};

#[derive(Parser, Debug)]
#[command(
    name = "auditlens",
    version,
    about = "Open, verify, search and re-export hash-chained audit-log archives",
    long_about = "auditlens opens audit-log archives and platform exports, proves them intact through a hash \
                  chain, and re-exports verifiable subsets.\n\nWith no command (or with just a FILE) it opens \
                  the viewer.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// A file to open in the viewer.
    pub file: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Append platform exports (JSON, JSONL, CSV) or auditlens exports to an archive.
    Ingest(IngestArgs),
    /// Verify an archive or an auditlens export. Exit 0 intact, 1 tampered, 2 could not run.
    Verify(VerifyArgs),
    /// Verify the archive, then print its checkpoint (keep it somewhere else: it anchors the
    /// chain). Exit 0 sealed, 1 tampered (nothing sealed), 2 could not run.
    Checkpoint(CheckpointArgs),
    /// Describe a file: format, entry count, time span, archive id, head hash, SHA-256.
    Info(InfoArgs),
    /// Export the entries matching a filter as JSON, NDJSON or CSV.
    Export(ExportArgs),
    /// Generate realistic sample data (an archive or a platform-style export).
    Sample(SampleArgs),
    /// Create an Ed25519 signing key (KEY, mode 0600) and its verifier key (KEY.pub).
    Keygen(KeygenArgs),
    /// Prove that the archive today extends the archive an old checkpoint described.
    /// Exit 0 consistent, 1 not (or tampered), 2 could not run.
    Consistency(ConsistencyArgs),
    /// Find the patterns to watch: off-hours activity, privilege escalation, API keys created
    /// or used from a new IP, bulk deletes and exports, production and access-control changes.
    Scan(ScanArgs),
    /// Match every production change (a prompt promoted or labelled to a protected label) to
    /// an approved change ticket (CSV or JSON as Jira and ServiceNow export them).
    /// Exit 0 all approved, 1 some unapproved or mismatched, 2 could not run.
    Reconcile(ReconcileArgs),
    /// Write the auditor report: one self-contained HTML file (and a JSON twin) with the file's
    /// SHA-256, verification result, checkpoint and signatures, filter, pattern hits and bookmarks.
    Report(ReportArgs),
    /// Every entry on one resource, oldest first, each before state compared with the previous
    /// after state. Exit 0 the history is continuous, 1 a change the log does not hold, 2 could not run.
    History(HistoryArgs),
    /// Print the RFC 6902 JSON Patch that rolls an update back (applied to its after state it
    /// gives its before state), or with --before the before state itself.
    Rollback(RollbackArgs),
    /// What one identity (user or API key) touched, when, from where, and who touched the same
    /// resources afterwards; --output exports those entries as a verifiable subset.
    BlastRadius(BlastRadiusArgs),
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// The archive to read.
    pub archive: PathBuf,
    /// The resource as TYPE:ID, e.g. prompt:cm1x2y3z4 or "API Key:ck…" (the id may hold colons).
    #[arg(long, value_name = "TYPE:ID")]
    pub resource: String,
    /// Only this project's entries (an id is unique within a project; prompt entries carry the
    /// prompt's name, the same in every project). Without it, every project, each chained on its own.
    #[arg(long, value_name = "PROJECT_ID")]
    pub project: Option<String>,
    /// Print one JSON object with every step.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub directory: DirectoryArgs,
}

#[derive(Args, Debug)]
pub struct RollbackArgs {
    /// The archive to read.
    pub archive: PathBuf,
    /// The entry (seq, as the table and `history` show it) whose change to undo.
    #[arg(long, value_name = "N")]
    pub seq: u64,
    /// Print the entry's before state instead of the patch.
    #[arg(long)]
    pub before: bool,
}

#[derive(Args, Debug)]
pub struct BlastRadiusArgs {
    /// The archive to read.
    pub archive: PathBuf,
    /// The identity: a user id, email, API key id or API key name (case-insensitive).
    #[arg(long, value_name = "ID")]
    pub actor: String,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Export the identity's entries and the later entries by others on the same resources
    /// (the same export as `export`, with inclusion proofs).
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// The export's format.
    #[arg(long, value_enum, default_value = "json", requires = "output")]
    pub format: ExportFormatArg,
    /// Replace an existing file at the output name(s). Never evidence.
    #[arg(long, requires = "output")]
    pub force: bool,
    /// Resources, identities and days listed in the human output.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub limit: usize,
    #[command(flatten)]
    pub directory: DirectoryArgs,
}

/// Names for ids (docs/INVESTIGATE.md): display only, never a change to a record.
#[derive(Args, Debug)]
pub struct DirectoryArgs {
    /// A directory exported from the platform (members, API keys, projects; CSV or JSON).
    /// Without it, the one remembered beside the archive (ARCHIVE.directory.json) if any.
    #[arg(long, value_name = "FILE")]
    pub directory: Option<PathBuf>,
}

impl DirectoryArgs {
    fn load(&self, archive: &Path) -> Result<auditlens_core::directory::Directory, Fail> {
        use auditlens_core::directory::Directory;
        Ok(match &self.directory {
            Some(p) => Directory::load(p)?,
            None => Directory::remembered(archive)?.unwrap_or_default(),
        })
    }
}

/// Approved change tickets (docs/PATTERNS.md, "Change management").
#[derive(Args, Debug)]
pub struct TicketArgs {
    /// Which column holds each field, e.g. --map ticket=Key,start="Planned start",end="Planned end"
    /// (fields: ticket, start, end, project, resource_type, resource_id, actor). Remembered for
    /// files with the same columns; common Jira and ServiceNow names are recognised without it.
    #[arg(long, value_name = "FIELD=COLUMN,…")]
    pub map: Option<String>,
    /// Time zone of ticket times written without one (ServiceNow exports local time).
    #[arg(long, value_name = "OFFSET", default_value = "UTC")]
    pub changes_tz: String,
}

#[derive(Args, Debug)]
pub struct ReconcileArgs {
    /// The archive whose production changes are checked.
    pub archive: PathBuf,
    /// The approved changes: CSV or JSON exported from the ticketing tool.
    #[arg(long, value_name = "FILE")]
    pub changes: PathBuf,
    #[command(flatten)]
    pub tickets: TicketArgs,
    /// Prompt labels whose promotion counts as a production change (repeatable).
    #[arg(long = "protected-label", value_name = "LABEL", default_values_t = ["production".to_string()])]
    pub protected_labels: Vec<String>,
    /// Print one JSON object with every change and its ticket.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ScanArgs {
    /// The archive to scan.
    pub archive: PathBuf,
    /// Print one JSON object with every hit.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub patterns: PatternArgs,
    /// Entries listed per pattern in the human output.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub limit: usize,
}

/// The thresholds of the patterns to watch (docs/PATTERNS.md).
#[derive(Args, Debug)]
pub struct PatternArgs {
    /// Working time zone as a UTC offset (e.g. +01:00, -05:30, UTC).
    #[arg(long, value_name = "OFFSET", default_value = "UTC")]
    pub tz: String,
    /// Working hours, local time, Monday to Friday: START-END in whole hours.
    #[arg(long, value_name = "START-END", default_value = "7-19")]
    pub work_hours: String,
    /// A burst is more than N deletes (or batch exports) by one actor…
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub bulk_count: usize,
    /// …within M minutes.
    #[arg(long, value_name = "M", default_value_t = 10)]
    pub bulk_minutes: u32,
    /// Prompt labels whose promotion counts as a production change (repeatable).
    #[arg(long = "protected-label", value_name = "LABEL", default_values_t = ["production".to_string()])]
    pub protected_labels: Vec<String>,
}

impl PatternArgs {
    fn to_settings(&self) -> Result<auditlens_core::patterns::PatternSettings, Fail> {
        let (start, end) = self
            .work_hours
            .split_once('-')
            .and_then(|(s, e)| Some((s.trim().parse::<u32>().ok()?, e.trim().parse::<u32>().ok()?)))
            .filter(|(s, e)| s < e && *e <= 24)
            .ok_or_else(|| {
                Fail(format!(
                    "--work-hours {:?}: give START-END in whole hours, e.g. 8-18",
                    self.work_hours
                ))
            })?;
        Ok(auditlens_core::patterns::PatternSettings {
            utc_offset_minutes: auditlens_core::patterns::PatternSettings::parse_offset(&self.tz)
                .map_err(Fail)?,
            work_start_hour: start,
            work_end_hour: end,
            bulk_count: self.bulk_count,
            bulk_minutes: self.bulk_minutes.max(1),
            protected_labels: self.protected_labels.clone(),
            tickets: None,
        })
    }
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The archive to report on.
    pub archive: PathBuf,
    /// A checkpoint kept outside the archive (catches a cut-off tail or a rewritten chain).
    #[arg(long, value_name = "CHECKPOINT")]
    pub checkpoint: Option<PathBuf>,
    /// Verifier keys (KEY.pub or the key text) to check the checkpoint's signatures.
    #[arg(long = "key", value_name = "KEY.pub")]
    pub keys: Vec<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub patterns: PatternArgs,
    /// Approved change tickets: adds the change-management section.
    #[arg(long, value_name = "FILE")]
    pub changes: Option<PathBuf>,
    #[command(flatten)]
    pub tickets: TicketArgs,
    /// The HTML report; its JSON twin is written beside it with the extension .json.
    #[arg(short, long, value_name = "report.html")]
    pub output: PathBuf,
    /// Replace an existing file at the output name(s). Never a file this command reads, nor
    /// evidence (an archive, an export, a checkpoint, a key, a case file): those are refused.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct IngestArgs {
    /// The archive to append to (created if absent).
    #[arg(long, value_name = "ARCHIVE.sqlite")]
    pub archive: PathBuf,
    /// Store the good records; write each rejected one, with its reason, to the rejects file.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Where rejected records go (default: ARCHIVE.rejects.jsonl).
    #[arg(long, value_name = "FILE", requires = "skip_invalid")]
    pub rejects: Option<PathBuf>,
    /// Replace an existing rejects file. Never a file this command reads, nor evidence.
    #[arg(long, requires = "skip_invalid")]
    pub force: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Entries appended per transaction (default 200000): an interrupted
    /// ingest keeps every finished transaction, and a re-run resumes after
    /// it. Without it, a single platform JSONL export is appended in one
    /// transaction as it is read.
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
    /// Export files to read; the format is detected from the content.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// An archive (.sqlite) or an auditlens export (JSON, NDJSON, CSV).
    pub file: PathBuf,
    /// A checkpoint kept outside the archive: catches a cut-off tail and a rewritten chain.
    #[arg(long, value_name = "CHECKPOINT")]
    pub checkpoint: Option<PathBuf>,
    /// A verifier key (KEY.pub file or its text; repeatable). The checkpoint (the one given, else the
    /// export's own) must carry a valid signature by one of them; a failing signature rejects.
    #[arg(long = "key", value_name = "KEY.pub")]
    pub keys: Vec<String>,
    /// Print one JSON object with status, entries and findings.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct CheckpointArgs {
    pub archive: PathBuf,
    /// Sign the checkpoint with this key (written by `auditlens keygen`).
    #[arg(long, value_name = "KEY")]
    pub sign: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// The key's name, written on every signature (e.g. archive.example.org/auditor).
    #[arg(long)]
    pub name: String,
    /// Where to write the signing key; the verifier key goes to the same name plus .pub.
    #[arg(short, long, value_name = "KEY")]
    pub output: PathBuf,
    /// Replace existing files at KEY and KEY.pub. Never a key or other evidence: those are refused.
    #[arg(long)]
    pub force: bool,
}

/// Two ways: with ARCHIVE, prove that it extends --old (and write the proof
/// with -o); without, check a saved proof between --old and --new.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    auditlens consistency A.sqlite --old OLD.checkpoint -o PROOF.txt --checkpoint-out NEW.checkpoint\n  \
    auditlens consistency --old OLD.checkpoint --new NEW.checkpoint --proof PROOF.txt --key K.pub")]
pub struct ConsistencyArgs {
    /// The archive. Omit it to check a saved proof between two checkpoints (--new, --proof).
    #[arg(required_unless_present = "new")]
    pub archive: Option<PathBuf>,
    /// The checkpoint taken earlier (kept outside the archive).
    #[arg(long, value_name = "OLD_CHECKPOINT")]
    pub old: PathBuf,
    /// Without an archive: the later checkpoint, which the proof must show extends --old.
    #[arg(
        long,
        value_name = "NEW_CHECKPOINT",
        conflicts_with = "archive",
        requires = "proof"
    )]
    pub new: Option<PathBuf>,
    /// Without an archive: the proof file `consistency ARCHIVE --old OLD -o PROOF` wrote.
    #[arg(long, value_name = "PROOF", requires = "new")]
    pub proof: Option<PathBuf>,
    /// A verifier key the checkpoints must be signed by (repeatable): the old one with an
    /// archive, both without.
    #[arg(long = "key", value_name = "KEY.pub")]
    pub keys: Vec<String>,
    /// With an archive: sign the new checkpoint with this key.
    #[arg(long, value_name = "KEY", conflicts_with = "new")]
    pub sign: Option<PathBuf>,
    /// With an archive: write the consistency proof to this file (docs/FORMAT.md §10).
    #[arg(short, long, value_name = "PROOF", conflicts_with = "new")]
    pub output: Option<PathBuf>,
    /// With an archive: write today's checkpoint (signed with --sign) to this file.
    #[arg(long, value_name = "NEW_CHECKPOINT", conflicts_with = "new")]
    pub checkpoint_out: Option<PathBuf>,
    /// Replace existing files at -o and --checkpoint-out. Never a file this command reads,
    /// nor evidence (an archive, an export, a checkpoint, a key, a case file).
    #[arg(long)]
    pub force: bool,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct InfoArgs {
    pub file: PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ExportFormatArg {
    Json,
    Ndjson,
    Csv,
    /// Elastic Common Schema events, one per line, for a SIEM (not verifiable by auditlens).
    Ecs,
    /// Apache Parquet, one row per entry, for a warehouse (verified there: docs/WAREHOUSE.md).
    Parquet,
}

/// As the platform writes it (`USER`, `API_KEY`) or in lower case.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ActorTypeArg {
    User,
    #[value(name = "api_key", alias = "api-key")]
    ApiKey,
}

#[derive(Args, Debug, Default)]
pub struct FilterArgs {
    /// Entries at or after this time (ISO 8601, UTC if no offset; a date alone is its midnight UTC).
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// Entries before this time (so `--from 2025-03-01 --to 2025-04-01` is March).
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// Project id or name (repeatable).
    #[arg(long = "project", value_name = "P")]
    pub projects: Vec<String>,
    /// Action, e.g. create, update, delete, setLabel (repeatable).
    #[arg(long = "action", value_name = "A")]
    pub actions: Vec<String>,
    /// Resource type, e.g. apiKey or "API Key" (repeatable).
    #[arg(long = "resource-type", value_name = "R")]
    pub resource_types: Vec<String>,
    /// User id, email, API key id or API key name.
    #[arg(long, value_name = "X")]
    pub actor: Option<String>,
    #[arg(long, value_enum, ignore_case = true)]
    pub actor_type: Option<ActorTypeArg>,
    /// Case-insensitive text in ids, names, email, IP, user agent, before/after.
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
}

impl FilterArgs {
    pub fn to_filter(&self) -> Result<Filter, String> {
        let time = |s: &Option<String>, name: &str| -> Result<Option<Timestamp>, String> {
            s.as_deref()
                .map(|t| Timestamp::parse_bound(t).map_err(|e| format!("--{name}: {e}")))
                .transpose()
        };
        Ok(Filter {
            from: time(&self.from, "from")?,
            to: time(&self.to, "to")?,
            projects: self.projects.clone(),
            actions: self.actions.clone(),
            resource_types: self.resource_types.clone(),
            actor: self.actor.clone(),
            actor_type: self.actor_type.map(|t| match t {
                ActorTypeArg::User => ActorType::User,
                ActorTypeArg::ApiKey => ActorType::ApiKey,
            }),
            search: self.search.clone(),
        })
    }
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    pub archive: PathBuf,
    #[arg(long, value_enum)]
    pub format: ExportFormatArg,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Output file (written completely or not at all). CSV proofs go to OUT.proof.json.
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
    /// Sign the export's checkpoint with this key.
    #[arg(long, value_name = "KEY")]
    pub sign: Option<PathBuf>,
    /// Replace an existing file at the output name(s). Never a file this command reads, nor
    /// evidence (an archive, an export, a checkpoint, a key, a case file): those are refused.
    #[arg(long)]
    pub force: bool,
    /// ECS only: names for ids go into each event's `abv.directory` fields (docs/SIEM.md).
    /// The verifiable exports carry the sealed records alone.
    #[command(flatten)]
    pub directory: DirectoryArgs,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SampleFormatArg {
    /// A sealed archive (SQLite).
    Archive,
    /// Platform-style JSON array.
    Json,
    /// Platform-style JSON lines.
    Jsonl,
    /// Platform-style CSV.
    Csv,
}

/// What `auditlens sample` entries look like.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SampleProfileArg {
    /// The richer entry structure: names, emails, IPs, user agents, planted patterns.
    Rich,
    /// Shaped like the platform's real export: its 15 columns, cuids, small states.
    Platform,
}

#[derive(Args, Debug)]
pub struct SampleArgs {
    /// Number of entries.
    #[arg(long, default_value_t = 3000)]
    pub entries: u64,
    /// Seed: the same seed gives the same data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output format (default: from the file extension: .sqlite, .json, .jsonl, .csv).
    #[arg(long, value_enum)]
    pub format: Option<SampleFormatArg>,
    /// What the entries look like.
    #[arg(long, value_enum, default_value = "rich")]
    pub profile: SampleProfileArg,
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Replace an existing file at the output name(s). Never a file this command reads, nor
    /// evidence (an archive, an export, a checkpoint, a key, a case file): those are refused.
    #[arg(long)]
    pub force: bool,
}

/// A failure that means "could not run" (exit 2).
pub struct Fail(pub String);

impl<E: std::fmt::Display> From<E> for Fail {
    fn from(e: E) -> Self {
        Fail(e.to_string())
    }
}

/// Runs a command; returns the exit code.
pub fn run(command: Command) -> i32 {
    // Where the command makes a large file: a run killed there earlier may
    // have left its staging folder, which is worth a word.
    let destination = match &command {
        Command::Ingest(a) => Some(a.archive.clone()),
        Command::Export(a) => Some(a.output.clone()),
        Command::Report(a) => Some(a.output.clone()),
        Command::Sample(a) => Some(a.output.clone()),
        _ => None,
    };
    if let Some(d) = destination {
        note_left_over(&d);
    }
    let result = match command {
        Command::Ingest(a) => cmd_ingest(a),
        Command::Verify(a) => cmd_verify(a),
        Command::Checkpoint(a) => cmd_checkpoint(a),
        Command::Info(a) => cmd_info(a),
        Command::Export(a) => cmd_export(a),
        Command::Sample(a) => cmd_sample(a),
        Command::Keygen(a) => cmd_keygen(a),
        Command::Consistency(a) => cmd_consistency(a),
        Command::Scan(a) => cmd_scan(a),
        Command::Report(a) => cmd_report(a),
        Command::Reconcile(a) => cmd_reconcile(a),
        Command::History(a) => cmd_history(a),
        Command::Rollback(a) => cmd_rollback(a),
        Command::BlastRadius(a) => cmd_blast_radius(a),
    };
    match result {
        Ok(code) => code,
        Err(Fail(msg)) => {
            eprintln!("auditlens: {}", terminal_safe(&msg));
            2
        }
    }
}

/// Names the staging folders that killed runs left beside `destination`
/// (each holds a partial file; ingest's can be as large as the archive).
fn note_left_over(destination: &Path) {
    for l in auditlens_core::output::left_over(destination, auditlens_core::output::LEFT_OVER_AFTER)
    {
        eprintln!(
            "note: {} was left by an interrupted auditlens run ({:.1} MB of partial output, not \
             needed by anything); delete it to free the space",
            shown(&l.folder),
            l.bytes as f64 / 1e6
        );
    }
}

/// Text from a file (ids, fields, messages quoting records, file names) as
/// the terminal shows it: hidden characters that could drive or deceive it
/// (ESC sequences, a carriage return overwriting a line, a newline faking a
/// line of output, bidi overrides reordering an id) come out as their code
/// points, `⟨U+001B⟩`, exactly as the viewer and the report show them.
pub fn terminal_safe(s: &str) -> String {
    auditlens_core::safe_text::escape(s).into_owned()
}

/// Prints a JSON report on one line. serde_json escapes C0 control
/// characters but writes DEL, C1 controls (U+009B is CSI in some terminals)
/// and bidi/invisible characters raw; they can only occur inside strings, so
/// each hidden character ([`auditlens_core::safe_text::is_hidden`]) is written
/// as `\uXXXX` escapes (a surrogate pair above U+FFFF), which mean the same string.
fn print_json(v: &serde_json::Value) {
    println!("{}", json_text_safe(&v.to_string()));
}

/// JSON text with each hidden character written as `\uXXXX` (see [`print_json`]):
/// the same JSON, safe on a terminal.
fn json_text_safe(text: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if auditlens_core::safe_text::is_hidden(c) {
            for unit in c.encode_utf16(&mut [0; 2]) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A path for human output, escaped like file content (names can hold anything).
fn shown(p: &Path) -> String {
    terminal_safe(&p.display().to_string())
}

/// Shows a progress line on stderr while `work` runs, if stderr is a terminal.
fn with_progress<T>(job: &Arc<Job>, work: impl FnOnce() -> T) -> T {
    if !std::io::stderr().is_terminal() {
        return work();
    }
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    std::thread::scope(|s| {
        let watcher_job = job.clone();
        let watcher_done = done.clone();
        s.spawn(move || {
            let mut shown = false;
            while !watcher_done.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                let (phase, d, t) = watcher_job.snapshot();
                let line = if t > 0 {
                    format!("{phase}: {:>3}% ({d}/{t})", d * 100 / t.max(1))
                } else {
                    format!("{phase}: {d}")
                };
                eprint!("\r\x1b[2K{line}");
                shown = true;
            }
            if shown {
                eprint!("\r\x1b[2K");
            }
        });
        let r = work();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        r
    })
}

fn read_checkpoint(path: &Path) -> Result<SignedCheckpoint, Fail> {
    SignedCheckpoint::read(path).map_err(Fail)
}

fn read_signer(path: &Path) -> Result<SignerKey, Fail> {
    let text = note::read_small_file(path).map_err(Fail)?;
    SignerKey::parse(&text).map_err(|e| Fail(format!("{}: {e}", path.display())))
}

/// A verifier key from a file, or given as its text.
fn read_verifier(arg: &str) -> Result<VerifierKey, Fail> {
    let path = Path::new(arg);
    if path.exists() {
        let text = note::read_small_file(path).map_err(Fail)?;
        return VerifierKey::parse(&text).map_err(|e| Fail(format!("{}: {e}", path.display())));
    }
    VerifierKey::parse(arg).map_err(|e| {
        Fail(format!(
            "--key {arg}: no such file, and not a verifier key text either ({e})"
        ))
    })
}

fn cmd_keygen(a: KeygenArgs) -> Result<i32, Fail> {
    let key = SignerKey::generate(&a.name)?;
    let mut pub_path = a.output.as_os_str().to_owned();
    pub_path.push(".pub");
    let pub_path = PathBuf::from(pub_path);
    // Both names are checked before either is written; a key on either is refused.
    let dest = Destination::cli(&a.output, a.force);
    let mut out = Output::reading::<&Path>(&[]);
    let secret = out.add(&dest)?;
    let public = out.add(&dest.side(&pub_path))?;
    out.write_secret(secret, (key.to_text() + "\n").as_bytes())?;
    let verifier = key.verifier().to_text();
    out.write(public, (verifier.clone() + "\n").as_bytes())?;
    out.commit()?;
    println!("{verifier}");
    eprintln!(
        "signing key: {} (keep it secret); verifier key: {} (give it to whoever checks)",
        shown(&a.output),
        shown(&pub_path)
    );
    Ok(0)
}

fn cmd_consistency(a: ConsistencyArgs) -> Result<i32, Fail> {
    let keys = a
        .keys
        .iter()
        .map(|k| read_verifier(k))
        .collect::<Result<Vec<_>, _>>()?;
    match (&a.archive, &a.new, &a.proof) {
        (Some(archive), _, _) => consistency_of_archive(&a, archive, &keys),
        (None, Some(new), Some(proof)) => consistency_offline(&a, new, proof, &keys),
        _ => Err(Fail(
            "give an ARCHIVE, or --new NEW_CHECKPOINT and --proof PROOF to check a saved proof"
                .into(),
        )),
    }
}

/// The findings as JSON objects with their one-line description.
fn findings_json<'a>(
    findings: impl Iterator<Item = &'a verify::Finding>,
) -> Vec<serde_json::Value> {
    findings
        .map(|f| {
            let mut j = verify::finding_json(f);
            j["description"] = verdict::describe(f).into();
            j
        })
        .collect()
}

/// `consistency ARCHIVE --old OLD`: verify the archive against the old
/// checkpoint and prove today's tree extends it. A damaged archive is a
/// finding (exit 1), not a failure to run.
fn consistency_of_archive(
    a: &ConsistencyArgs,
    archive_path: &Path,
    keys: &[VerifierKey],
) -> Result<i32, Fail> {
    if source::detect(archive_path)? != Format::Archive {
        return Err(Fail(format!(
            "{} is not an archive; consistency is proven for archives (to check a saved proof \
             between two checkpoints, give --new and --proof instead)",
            archive_path.display()
        )));
    }
    let old = read_checkpoint(&a.old)?;
    let signer = a.sign.as_deref().map(read_signer).transpose()?;
    // Both outputs are checked (never over an input or evidence) before the work.
    let mut reads = vec![archive_path.to_path_buf(), a.old.clone()];
    reads.extend(a.sign.iter().cloned());
    reads.extend(a.keys.iter().map(PathBuf::from).filter(|p| p.exists()));
    let mut out_files = Output::reading(&reads);
    let proof_slot = a
        .output
        .as_ref()
        .map(|p| out_files.add(&Destination::cli(p, a.force)))
        .transpose()?;
    let cp_slot = a
        .checkpoint_out
        .as_ref()
        .map(|p| out_files.add(&Destination::cli(p, a.force)))
        .transpose()?;
    let archive = Archive::open(archive_path)?;
    let job = Arc::new(Job::new());
    // The whole archive is verified against the old checkpoint (records,
    // chain, prefix), and the consistency proof ties the two tree heads.
    let (report, _) = with_progress(&job, || {
        verify::verify_signed(archive_path, Some(&old), keys, &job)
    })
    .map_err(|e| Fail(verdict::not_run(&e)))?;
    let (c, no_proof) = match proof::consistency(&archive, &old.checkpoint, &job) {
        // The new checkpoint carries the index roots, as `auditlens checkpoint` writes them.
        Ok(mut c) => {
            match auditlens_core::index_tree::with_indexes(&archive, c.new.clone(), &job) {
                Ok((new, _)) => {
                    c.new = new;
                    (Some(c), None)
                }
                Err(e) => (None, Some(e.to_string())),
            }
        }
        // A damaged archive has no tree to prove with; verification said why.
        Err(e) => (None, Some(e.to_string())),
    };
    let mut extra = Vec::new();
    if let Some(c) = &c {
        // Verification already reported what the proof found in its own words.
        extra.extend(c.findings.iter().filter(|f| {
            !report
                .findings
                .iter()
                .any(|g| g.kind == f.kind && g.seq == f.seq)
        }));
    }
    let ok = no_proof.is_none() && extra.is_empty() && report.status() == Status::Intact;
    let problems = report.problems().max(u64::from(!ok))
        + extra.iter().filter(|f| !f.kind.is_warning()).count() as u64;
    let new_text = c
        .as_ref()
        .map(|c| SignedCheckpoint::text(&c.new, signer.as_ref()))
        .transpose()?;
    let proof_file = c.as_ref().and_then(|c| c.proof_file());
    let (old_size, new_size) = (old.checkpoint.size, c.as_ref().map(|c| c.new.size));
    let added = new_size.map_or(0, |n| n.saturating_sub(old_size));
    let verdict_text = verdict::consistency(ok, old_size, added, problems);
    // Outputs only for a proof that holds: a file named PROOF is a proof.
    let mut written = Vec::new();
    if ok {
        if let (Some(slot), Some(p)) = (proof_slot, &proof_file) {
            out_files.write(slot, p.to_text().as_bytes())?;
        }
        if let (Some(slot), Some(t)) = (cp_slot, &new_text) {
            out_files.write(slot, t.as_bytes())?;
        }
        if proof_slot.is_some() || cp_slot.is_some() {
            written = out_files.commit()?;
        }
    }
    if a.json {
        print_json(&json!({
            "archive": archive_path.display().to_string(),
            "status": if ok { "consistent" } else { "inconsistent" },
            "verdict": verdict_text,
            "old_size": old_size,
            "new_size": new_size,
            "added_since": added,
            "proof": proof_file.as_ref().map(|p| p.path.iter().map(|h| h.to_hex()).collect::<Vec<_>>()),
            "proof_text": proof_file.as_ref().map(|p| p.to_text()),
            "new_checkpoint": new_text,
            "written": written.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "error": no_proof,
            "findings": findings_json(report.findings.iter().chain(extra.iter().copied())),
        }));
    } else {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "{}: {}",
            shown(archive_path),
            terminal_safe(&verdict_text)
        );
        for f in report.findings.iter().chain(extra.iter().copied()) {
            print_finding(&mut out, f);
        }
        if let Some(e) = &no_proof {
            let _ = writeln!(out, "no consistency proof: {}", terminal_safe(e));
        }
        if let Some(p) = &proof_file {
            let _ = writeln!(
                out,
                "\nconsistency proof ({} → {} entries; save it with -o PROOF):\n{}",
                p.old_size,
                p.new_size,
                p.to_text()
            );
        }
        if let Some(t) = &new_text {
            let _ = writeln!(out, "checkpoint now (keep it for next time):\n{t}");
        }
        for p in &written {
            let _ = writeln!(out, "wrote {}", shown(p));
        }
        if !ok && (proof_slot.is_some() || cp_slot.is_some()) {
            let _ = writeln!(out, "nothing written: there is no consistency to prove");
        }
    }
    Ok(if ok { 0 } else { 1 })
}

/// `consistency --old OLD --new NEW --proof PROOF`: the check anyone holding
/// the two checkpoints can make, without the archive.
fn consistency_offline(
    a: &ConsistencyArgs,
    new_path: &Path,
    proof_path: &Path,
    keys: &[VerifierKey],
) -> Result<i32, Fail> {
    let old = read_checkpoint(&a.old)?;
    let new = read_checkpoint(new_path)?;
    let proof = proof::ConsistencyProof::read(proof_path).map_err(Fail)?;
    let findings = proof::check_consistency(&old, &new, &proof, keys);
    let ok = findings.is_empty();
    let (o, n) = (&old.checkpoint, &new.checkpoint);
    let added = n.size.saturating_sub(o.size);
    let problems = findings.iter().filter(|f| !f.kind.is_warning()).count() as u64;
    let verdict_text = verdict::checkpoints_consistency(ok, o.size, n.size, problems);
    if a.json {
        print_json(&json!({
            "old": a.old.display().to_string(),
            "new": new_path.display().to_string(),
            "proof_file": proof_path.display().to_string(),
            "status": if ok { "consistent" } else { "inconsistent" },
            "verdict": verdict_text,
            "archive_id": o.archive_id.to_string(),
            "old_size": o.size,
            "new_size": n.size,
            "added_since": added,
            "signatures_checked": !keys.is_empty(),
            "findings": findings_json(findings.iter()),
        }));
    } else {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "{} → {}: {}",
            shown(&a.old),
            shown(new_path),
            terminal_safe(&verdict_text)
        );
        for f in &findings {
            print_finding(&mut out, f);
        }
        if ok && keys.is_empty() {
            let _ = writeln!(
                out,
                "signatures not checked (give --key KEY.pub to check who issued the checkpoints)"
            );
        }
    }
    Ok(if ok { 0 } else { 1 })
}

fn cmd_ingest(a: IngestArgs) -> Result<i32, Fail> {
    let job = Arc::new(Job::new());
    let opts = IngestOptions {
        skip_invalid: a.skip_invalid,
        rejects_path: a.rejects.clone(),
        batch_size: a.batch_size,
        force: a.force,
    };
    let report = with_progress(&job, || ingest::ingest(&a.archive, &a.files, &opts, &job))?;
    // The log checkpoint ingest computed as it appended (the form a whole
    // export carries). The index roots would cost five sorts of the whole
    // archive: `auditlens checkpoint` prints them, for complete subsets.
    let Some(cp) = &report.checkpoint else {
        return Err(Fail("internal error: ingest returned no checkpoint".into()));
    };
    if a.json {
        print_json(&json!({
            "archive": a.archive.display().to_string(),
            "created": report.created,
            "read": report.read,
            "added": report.added,
            "duplicates": report.duplicates,
            "conflicts": report.conflicts.iter().map(|c| json!({"id": c.entry_id, "existing_seq": c.existing_seq, "source": c.source})).collect::<Vec<_>>(),
            "rejected": report.rejected,
            "rejects_file": report.rejects_path.as_ref().map(|p| p.display().to_string()),
            "first_seq": report.first_seq,
            "last_seq": report.last_seq,
            "checkpoint": cp.to_text(),
            "missing_protections": report.missing_protections,
        }));
    } else {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "{} {}: read {}, added {}, already stored {}, conflicting {}{}",
            if report.created {
                "created"
            } else {
                "appended to"
            },
            shown(&a.archive),
            report.read,
            report.added,
            report.duplicates,
            report.conflicts.len(),
            if report.rejected > 0 {
                format!(", rejected {}", report.rejected)
            } else {
                String::new()
            }
        );
        if let (Some(f), Some(l)) = (report.first_seq, report.last_seq) {
            let _ = writeln!(out, "new entries: seq {f}–{l}");
        }
        for c in report.conflicts.iter().take(20) {
            let _ = writeln!(
                out,
                "conflict: entry {} from {} differs from the stored seq {} (kept out, recorded in the archive)",
                terminal_safe(&c.entry_id),
                terminal_safe(&c.source),
                c.existing_seq
            );
        }
        if report.conflicts.len() > 20 {
            let _ = writeln!(out, "… and {} more conflicts", report.conflicts.len() - 20);
        }
        if let Some(p) = &report.rejects_path {
            let _ = writeln!(out, "rejected records and their reasons: {}", shown(p));
        }
        if !report.missing_protections.is_empty() {
            let _ = writeln!(
                out,
                "note: another program removed the archive's {} (which refuse changes to stored \
                 entries); ingest went on all the same, and `auditlens verify` reports it",
                report.missing_protections.join(", ")
            );
        }
        let _ = writeln!(
            out,
            "\ncheckpoint (keep a copy outside the archive; `auditlens checkpoint ARCHIVE` prints \
             one with the index roots that complete subset exports are proven against):\n{}",
            cp.to_text()
        );
    }
    Ok(if report.conflicts.is_empty() { 0 } else { 1 })
}

fn cmd_verify(a: VerifyArgs) -> Result<i32, Fail> {
    let cp = a.checkpoint.as_deref().map(read_checkpoint).transpose()?;
    let keys = a
        .keys
        .iter()
        .map(|k| read_verifier(k))
        .collect::<Result<Vec<_>, _>>()?;
    let format = source::detect(&a.file)?;
    if !format.has_chain() {
        return Err(Fail(format!(
            "{} ({format}): {}",
            a.file.display(),
            verdict::UNSEALED
        )));
    }
    let job = Arc::new(Job::new());
    let (report, anchor) = with_progress(&job, || {
        verify::verify_signed(&a.file, cp.as_ref(), &keys, &job)
    })
    .map_err(|e| Fail(verdict::not_run(&e)))?;
    if a.json {
        let mut j = verify::report_json(&a.file, &report);
        j["signature"] = verify::anchor_json(anchor.as_ref());
        verdict::add_to_json(&mut j, &report, anchor.as_ref());
        print_json(&j);
    } else {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "{}: {}",
            shown(&a.file),
            terminal_safe(&verdict::sentence(&report, anchor.as_ref()))
        );
        if let Some(l) = verify::complete::line(&report, anchor.as_ref()) {
            let _ = writeln!(out, "{}", terminal_safe(&l));
        }
        for f in &report.findings {
            print_finding(&mut out, f);
        }
        let listed = report.findings.len() as u64;
        let total: u64 = report.counts.iter().map(|(_, n)| n).sum();
        if total > listed {
            let _ = writeln!(out, "… {} more findings not listed", total - listed);
        }
        let _ = writeln!(out, "verified in {:.2} s", report.elapsed.as_secs_f64());
    }
    Ok(match report.status() {
        Status::Intact => 0,
        Status::Tampered => 1,
    })
}

fn cmd_checkpoint(a: CheckpointArgs) -> Result<i32, Fail> {
    if source::detect(&a.archive)? != Format::Archive {
        return Err(Fail(format!(
            "{} is not an archive; checkpoints describe archives",
            a.archive.display()
        )));
    }
    let signer = a.sign.as_deref().map(read_signer).transpose()?;
    let archive = Archive::open(&a.archive)?;
    // The index trees are a pass over the table: plain reads keep the file
    // from becoming resident through the memory map.
    archive.read_streaming()?;
    if let Some(code) = refuse_to_seal_tampered(&archive, "no checkpoint written")? {
        return Ok(code);
    }
    let job = Arc::new(Job::new());
    let (cp, _) = auditlens_core::index_tree::checkpoint_with_indexes(&archive, &job)?;
    print!("{}", SignedCheckpoint::text(&cp, signer.as_ref())?);
    Ok(0)
}

/// A checkpoint vouches for what it seals, and so does a signature: a
/// tampered archive is neither sealed nor signed. Verifies `archive` and, when
/// it is tampered, prints why and returns the exit code (1); `what` says what
/// was not done ("no checkpoint written").
fn refuse_to_seal_tampered(archive: &Archive, what: &str) -> Result<Option<i32>, Fail> {
    let job = Arc::new(Job::new());
    let report = with_progress(&job, || verify::verify_archive(archive, None, &job))
        .map_err(|e| Fail(verdict::not_run(&e)))?;
    if report.status() != Status::Tampered {
        return Ok(None);
    }
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "{}: {}\n{what}: it would vouch for the tampered entries",
        shown(archive.path()),
        terminal_safe(&verdict::sentence(&report, None))
    );
    for f in &report.findings {
        print_finding(&mut err, f);
    }
    Ok(Some(1))
}

fn print_finding(out: &mut impl Write, f: &verify::Finding) {
    let _ = writeln!(
        out,
        "{} {}",
        if f.kind.is_warning() {
            "warning"
        } else {
            "FINDING"
        },
        terminal_safe(&verdict::describe(f))
    );
}

/// Prints pretty JSON: hidden characters (only ever inside strings) as
/// `\uXXXX` escapes, so the text is the same JSON and safe on a terminal.
fn print_pretty_json(text: &str) {
    // Line by line: the layout's newlines are not in strings (the writer escapes those).
    for line in text.lines() {
        println!("{}", json_text_safe(line));
    }
}

/// Opens `path` as an archive, or says how to make one.
fn open_archive(path: &Path) -> Result<Archive, Fail> {
    if source::detect(path)? != Format::Archive {
        return Err(Fail(format!(
            "{} is not an archive; ingest it first (`auditlens ingest --archive A.sqlite FILE`)",
            path.display()
        )));
    }
    Ok(Archive::open(path)?)
}

fn cmd_history(a: HistoryArgs) -> Result<i32, Fail> {
    use auditlens_core::history::{self, Link};
    let (rtype, rid) = history::parse_resource(&a.resource).map_err(Fail)?;
    let archive = open_archive(&a.archive)?;
    let dir = a.directory.load(&a.archive)?;
    let job = Arc::new(Job::new());
    let mut h =
        with_progress(&job, || history::history(&archive, &rtype, &rid, &job)).map_err(Fail)?;
    if let Some(p) = &a.project {
        h = h.in_project(Some(p));
    }
    if h.steps.is_empty() {
        return Err(Fail(format!(
            "no entry on {} {}; the type is the internal name (prompt, apiKey) or the display name, \
             the id as the Resource id field shows it",
            terminal_safe(&rtype),
            terminal_safe(&rid)
        )));
    }
    let code = if h.unlogged().next().is_some() { 1 } else { 0 };
    let several_projects = h
        .steps
        .iter()
        .any(|s| s.entry.project_id != h.steps[0].entry.project_id);
    if a.json {
        print_json(&h.to_json());
        return Ok(code);
    }
    println!(
        "{} {}: {} entries, oldest first; {} change(s) not in the log",
        terminal_safe(auditlens_core::catalog::display_name(&h.resource_type)),
        terminal_safe(&h.resource_id),
        h.steps.len(),
        h.unlogged().count()
    );
    for s in &h.steps {
        let e = &s.entry;
        if let Link::Unlogged(d) = &s.link {
            println!(
                "  ! unlogged change before seq {} (previous after state → this before state):",
                s.seq
            );
            for i in d {
                println!("      {}", terminal_safe(&i.text()));
            }
        }
        let who = dir.readable(e.actor.label(), e.actor.key());
        let note = match s.link {
            Link::First if several_projects => "  (first in its project)",
            Link::NotComparable => "  (not comparable with the previous state)",
            _ => "",
        };
        let project = e.project_id.as_deref().unwrap_or("-");
        println!(
            "  seq {:>8}  {}  {}  {}  {}{note}",
            s.seq,
            e.time,
            terminal_safe(&dir.readable(project, project)),
            terminal_safe(&who),
            terminal_safe(&e.action)
        );
        for i in &s.diff {
            println!("      {}", terminal_safe(&i.text()));
        }
    }
    Ok(code)
}

fn cmd_rollback(a: RollbackArgs) -> Result<i32, Fail> {
    use auditlens_core::json_patch;
    let archive = open_archive(&a.archive)?;
    let st = archive
        .entry(a.seq)?
        .ok_or_else(|| Fail(format!("entry {} is not in the archive", a.seq)))?;
    let e = &st.entry;
    if a.before {
        let b = e.before.as_ref().ok_or_else(|| {
            Fail(format!(
                "entry {}: {}",
                a.seq,
                json_patch::NoPatch::NoBefore
            ))
        })?;
        print_pretty_json(&b.to_pretty());
        return Ok(0);
    }
    let patch = json_patch::restore_patch(e.before.as_ref(), e.after.as_ref())
        .map_err(|why| Fail(format!("entry {}: {why}", a.seq)))?;
    // Never print a patch that does not do what it says.
    let check = e
        .after
        .as_ref()
        .map(|after| json_patch::apply(after, &patch));
    if check
        != Some(Ok(e
            .before
            .clone()
            .unwrap_or(auditlens_core::json::Json::Null)))
    {
        return Err(Fail(format!(
            "entry {}: the patch does not restore the before state; please report this",
            a.seq
        )));
    }
    print_pretty_json(&patch.to_pretty());
    Ok(0)
}

fn cmd_blast_radius(a: BlastRadiusArgs) -> Result<i32, Fail> {
    use auditlens_core::blast_radius::blast_radius;
    let archive = open_archive(&a.archive)?;
    let dir = a.directory.load(&a.archive)?;
    let job = Arc::new(Job::new());
    let b = with_progress(&job, || blast_radius(&archive, &a.actor, &job)).map_err(Fail)?;
    if b.seqs.is_empty() {
        return Err(Fail(format!(
            "no entry by {} (a user id, email, API key id or API key name, case-insensitive)",
            terminal_safe(&a.actor)
        )));
    }
    if let Some(out) = &a.output {
        let format = match a.format {
            ExportFormatArg::Json => ExportFormat::Json,
            ExportFormatArg::Ndjson => ExportFormat::Ndjson,
            ExportFormatArg::Csv => ExportFormat::Csv,
            ExportFormatArg::Parquet => ExportFormat::Parquet,
            ExportFormatArg::Ecs => {
                return Err(Fail(
                    "--format ecs: a blast radius exports as json, ndjson, csv or parquet".into(),
                ));
            }
        };
        let subset = b.subset();
        let dest = Destination::cli(out, a.force);
        let r = with_progress(&job, || {
            export::export_with(
                &archive,
                &Filter::default(),
                Some(&subset),
                format,
                &dest,
                None,
                &job,
            )
        })?;
        eprintln!("exported {} entries to {}", r.entries, shown(&r.path));
    }
    let name = |id: &str| dir.name(id).map(str::to_string);
    if a.json {
        print_json(&b.to_json(name));
        return Ok(0);
    }
    let t =
        |o: Option<auditlens_core::time::Timestamp>| o.map(|t| t.to_string()).unwrap_or_default();
    println!(
        "{}: {} entries, {} → {}",
        terminal_safe(&dir.readable(&b.actor, &b.actor)),
        b.seqs.len(),
        t(b.first),
        t(b.last)
    );
    let labels: Vec<&str> = b
        .labels
        .iter()
        .map(String::as_str)
        .filter(|l| !l.eq_ignore_ascii_case(&b.actor))
        .collect();
    if !labels.is_empty() {
        println!("  known as: {}", terminal_safe(&labels.join(", ")));
    }
    println!("\nResources touched, by type:");
    for (ty, r, n) in &b.by_type {
        println!(
            "  {:<28} {r:>6} resources  {n:>7} entries",
            terminal_safe(auditlens_core::catalog::display_name(ty))
        );
    }
    println!("\nMost touched resources:");
    for r in b.resources.iter().take(a.limit) {
        let label = r.name.clone().or_else(|| name(&r.resource_id));
        let label = match label {
            Some(n) => format!("{n} ({})", r.resource_id),
            None => r.resource_id.clone(),
        };
        println!(
            "  {:>6}  {} {}",
            r.entries,
            terminal_safe(&r.resource_type),
            terminal_safe(&label)
        );
    }
    let list = |title: &str, v: &[(String, u64)]| {
        println!("\n{title}:");
        if v.is_empty() {
            println!("  none recorded");
        }
        for (k, n) in v.iter().take(a.limit) {
            println!("  {n:>7}  {}", terminal_safe(k));
        }
    };
    list("IP addresses", &b.ips);
    list("User agents", &b.user_agents);
    let days: Vec<(String, u64)> = b
        .days
        .iter()
        .map(|(d, n)| {
            (
                auditlens_core::time::Timestamp(*d)
                    .to_string()
                    .chars()
                    .take(10)
                    .collect(),
                *n,
            )
        })
        .collect();
    list("Busiest days (UTC)", &{
        let mut d = days.clone();
        d.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        d
    });
    let who: Vec<(String, u64)> = b
        .who_else()
        .into_iter()
        .map(|(k, label, n)| match dir.name(&k) {
            Some(name) => (format!("{name} ({k})"), n),
            None if label != k && !label.is_empty() => (format!("{label} ({k})"), n),
            None => (k, n),
        })
        .collect();
    println!(
        "\nWho touched the same resources afterwards: {} entries by {} identities",
        b.others_after.len(),
        who.len()
    );
    for (k, n) in who.iter().take(a.limit) {
        println!("  {n:>7}  {}", terminal_safe(k));
    }
    if a.output.is_none() {
        println!(
            "\n{} entries in the subset (its own and the later ones); export them with --output FILE",
            b.subset().len()
        );
    }
    Ok(0)
}

fn cmd_scan(a: ScanArgs) -> Result<i32, Fail> {
    use auditlens_core::patterns::{Keep, Pattern, scan_archive};
    let settings = a.patterns.to_settings()?;
    let (start, end) = (settings.work_start_hour, settings.work_end_hour);
    if source::detect(&a.archive)? != Format::Archive {
        return Err(Fail(format!(
            "{} is not an archive; ingest it first (`auditlens ingest --archive A.sqlite FILE`)",
            a.archive.display()
        )));
    }
    let archive = Archive::open(&a.archive)?;
    let job = Arc::new(Job::new());
    // --json lists every hit: they go through a temporary file, not memory.
    let keep = if a.json {
        Keep {
            listed: 0,
            seqs: false,
            all: true,
        }
    } else {
        Keep::listed(a.limit)
    };
    let mut report =
        with_progress(&job, || scan_archive(&archive, &settings, keep, &job)).map_err(Fail)?;
    if a.json {
        let settings = json!({
            "tz": a.patterns.tz,
            "work_hours": [start, end],
            "bulk_count": settings.bulk_count,
            "bulk_minutes": settings.bulk_minutes,
            "protected_labels": settings.protected_labels,
        });
        // One JSON document, written field by field with the hits streamed
        // into it: the bytes serde_json makes of the whole, in bounded memory.
        let mut w = std::io::BufWriter::new(std::io::stdout().lock());
        let mut write = || -> std::io::Result<()> {
            w.write_all(b"{\"archive\":")?;
            serde_json::to_writer(&mut w, &a.archive.display().to_string())?;
            write!(w, ",\"entries\":{}", report.entries)?;
            w.write_all(b",\"settings\":")?;
            serde_json::to_writer(&mut w, &settings)?;
            w.write_all(b",\"patterns\":")?;
            report.write_json(&mut w, |seq| json!({ "seq": seq }))?;
            w.write_all(b",\"authorization\":")?;
            serde_json::to_writer(&mut w, &report.authorization.to_json())?;
            w.write_all(b"}\n")?;
            w.flush()
        };
        write().map_err(|e| Fail(format!("cannot write the scan's hits: {e}")))?;
        return Ok(0);
    }
    println!(
        "{}: {} entries scanned (working hours {start:02}:00–{end:02}:00 {}, Mon–Fri; bursts: more than {} in {} min)",
        a.archive.display(),
        report.entries,
        a.patterns.tz,
        settings.bulk_count,
        settings.bulk_minutes
    );
    for p in Pattern::ALL {
        let count = report.count(p);
        println!("\n{}: {count}", p.title());
        for h in report.listed(p).iter().take(a.limit) {
            let row = auditlens_core::audit_report::entry_summary(&archive, h.seq);
            let field = |k: &str| terminal_safe(row[k].as_str().unwrap_or_default());
            println!(
                "  seq {:>8}  {}  {}  {} {}  — {}",
                h.seq,
                field("time"),
                field("actor"),
                field("action"),
                field("resource_type"),
                terminal_safe(&h.reason)
            );
        }
        if count > a.limit as u64 {
            println!("  … {} more (--json lists all)", count - a.limit as u64);
        }
    }
    let t = &report.authorization;
    println!(
        "\nAuthorization at the time (docs/AUTHORIZATION.md): {} granted by the actor's role, {} not \
         granted, {} cannot judge ({})",
        t.granted,
        t.not_granted,
        t.cannot_judge.values().sum::<u64>(),
        t.cannot_judge
            .iter()
            .map(|(k, n)| format!("{}: {n}", k.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(0)
}

/// Reads a ticket file; a `--map` given is remembered for files with the same columns.
fn load_tickets(path: &Path, a: &TicketArgs) -> Result<Arc<ChangeTickets>, Fail> {
    let map = a
        .map
        .as_deref()
        .map(tickets::parse_map)
        .transpose()
        .map_err(Fail)?;
    let mut layouts = tickets::Layouts::load();
    let opts = tickets::ReadOptions {
        map: map.clone().unwrap_or_default(),
        utc_offset_minutes: auditlens_core::patterns::PatternSettings::parse_offset(&a.changes_tz)
            .map_err(|e| Fail(format!("--changes-tz: {e}")))?,
        layouts: Some(layouts.clone()),
        exact: false,
    };
    let t = ChangeTickets::read(path, &opts).map_err(Fail)?;
    if map.is_some() {
        match layouts.remember(&t) {
            Ok(p) => eprintln!("columns remembered for this layout in {}", shown(&p)),
            Err(e) => eprintln!(
                "auditlens: the columns were not remembered: {}",
                terminal_safe(&e)
            ),
        }
    }
    for why in t.skipped.iter().take(5) {
        eprintln!("{}: skipped {}", shown(path), terminal_safe(why));
    }
    if t.skipped.len() > 5 {
        eprintln!(
            "{}: … {} more rows skipped",
            shown(path),
            t.skipped.len() - 5
        );
    }
    Ok(Arc::new(t))
}

fn cmd_reconcile(a: ReconcileArgs) -> Result<i32, Fail> {
    use auditlens_core::patterns::{Keep, PatternSettings, scan_archive};
    use auditlens_core::reconcile::Status;
    if source::detect(&a.archive)? != Format::Archive {
        return Err(Fail(format!(
            "{} is not an archive; ingest it first (`auditlens ingest --archive A.sqlite FILE`)",
            a.archive.display()
        )));
    }
    let tickets = load_tickets(&a.changes, &a.tickets)?;
    let settings = PatternSettings {
        protected_labels: a.protected_labels.clone(),
        tickets: Some(tickets.clone()),
        ..PatternSettings::default()
    };
    let archive = Archive::open(&a.archive)?;
    let job = Arc::new(Job::new());
    let report = with_progress(&job, || {
        scan_archive(&archive, &settings, Keep::listed(0), &job)
    })
    .map_err(Fail)?;
    let rec = report.reconciliation.unwrap_or_default();
    let code = if rec.all_approved() { 0 } else { 1 };
    let about = |seq| auditlens_core::audit_report::entry_summary(&archive, seq);
    if a.json {
        let mut out = rec.to_json(&tickets, about);
        out["archive"] = a.archive.display().to_string().into();
        print_json(&out);
        return Ok(code);
    }
    println!(
        "{}: {} production changes; {} tickets read from {}",
        shown(&a.archive),
        rec.changes.len(),
        tickets.tickets.len(),
        shown(&a.changes)
    );
    for s in Status::ALL {
        println!("  {:<12} {}", s.as_str(), rec.count(s));
    }
    for c in rec.changes.iter().filter(|c| c.status != Status::Approved) {
        let row = about(c.seq);
        let field = |k: &str| terminal_safe(row[k].as_str().unwrap_or_default());
        println!(
            "{:<10} seq {:>8}  {}  {}  — {}",
            c.status.as_str(),
            c.seq,
            field("time"),
            field("actor"),
            terminal_safe(&c.reason)
        );
    }
    if !rec.unused_tickets.is_empty() {
        println!(
            "tickets with no change seen: {}",
            terminal_safe(&rec.unused_tickets.join(", "))
        );
    }
    Ok(code)
}

fn cmd_report(a: ReportArgs) -> Result<i32, Fail> {
    use auditlens_core::audit_report::{ReportInput, ReportOutput, gather};
    use auditlens_core::case::{CaseFile, case_path};
    let filter = a.filter.to_filter().map_err(Fail)?;
    let mut settings = a.patterns.to_settings()?;
    if let Some(changes) = &a.changes {
        settings.tickets = Some(load_tickets(changes, &a.tickets)?);
    }
    if source::detect(&a.archive)? != Format::Archive {
        return Err(Fail(format!(
            "{} is not an archive; ingest it first (`auditlens ingest --archive A.sqlite FILE`)",
            a.archive.display()
        )));
    }
    let cp = a.checkpoint.as_deref().map(read_checkpoint).transpose()?;
    let keys = a
        .keys
        .iter()
        .map(|k| read_verifier(k))
        .collect::<Result<Vec<_>, _>>()?;
    let id = Archive::open(&a.archive)?.id();
    let case_file = case_path(&a.archive);
    // The report and its twin are checked before the facts are gathered.
    let mut reads = vec![a.archive.clone()];
    reads.extend(a.checkpoint.iter().cloned());
    reads.extend(a.changes.iter().cloned());
    reads.extend(a.keys.iter().map(PathBuf::from).filter(|p| p.exists()));
    let output = ReportOutput::plan(&Destination::cli(&a.output, a.force), &reads)?;
    let (html, twin) = (
        output.html_path().to_path_buf(),
        output.twin_path().to_path_buf(),
    );
    let case = if case_file.exists() {
        Some(CaseFile::load(&case_file, id).map_err(Fail)?)
    } else {
        None
    };
    let job = Arc::new(Job::new());
    let facts = with_progress(&job, || {
        gather(
            &ReportInput {
                archive: &a.archive,
                checkpoint: cp.as_ref(),
                keys: &keys,
                filter: &filter,
                patterns: &settings,
                case: case.as_ref(),
            },
            &job,
        )
    })
    .map_err(Fail)?;
    output.write(&facts)?;
    eprintln!(
        "report: {} (verification: {}); facts for machines: {}",
        shown(&html),
        facts["verification"]["status"].as_str().unwrap_or("?"),
        shown(&twin)
    );
    Ok(0)
}

fn cmd_info(a: InfoArgs) -> Result<i32, Fail> {
    let format = source::detect(&a.file)?;
    let sha =
        digest::file_sha256(&a.file).map_err(|e| Fail(format!("{}: {e}", a.file.display())))?;
    let mut info = serde_json::Map::new();
    info.insert("file".into(), a.file.display().to_string().into());
    info.insert("format".into(), format.name().into());
    info.insert("sha256".into(), sha.into());
    let span = |min: Option<i64>, max: Option<i64>| match (min, max) {
        (Some(a), Some(b)) => {
            json!({"from": Timestamp(a).to_string(), "to": Timestamp(b).to_string()})
        }
        _ => serde_json::Value::Null,
    };
    if format == Format::Archive {
        let archive = Archive::open(&a.file)?;
        // Three passes over the table: plain reads keep the file from
        // becoming resident through the memory map.
        archive.read_streaming()?;
        let cp = archive.checkpoint()?;
        let (min, max) = archive.time_span()?.unzip();
        info.insert("entries".into(), cp.size.into());
        info.insert("archive_id".into(), archive.id().to_string().into());
        info.insert("head".into(), cp.head.to_hex().into());
        info.insert("root".into(), chain::to_hex(&cp.root.0).into());
        info.insert("time_span".into(), span(min, max));
        for (k, v) in archive.meta() {
            if k == "created_at" || k == "format_version" {
                info.insert(k.clone(), v.clone().into());
            }
        }
        let settings = CoverageSettings::default();
        let cov = coverage::of_archive(&archive, &settings, &Job::new()).map_err(Fail)?;
        if a.json {
            info.insert("coverage".into(), cov.to_json(&settings));
        } else {
            let files = cov.runs.iter().map(|r| r.sources.len()).sum::<usize>();
            info.insert(
                "coverage".into(),
                format!(
                    "{files} file(s) in {} ingest run(s); {} run(s) of empty days, {} export gap(s) \
                     (--json lists them)",
                    cov.runs.len(),
                    cov.empty_days.len(),
                    cov.export_gaps.len()
                )
                .into(),
            );
        }
    } else {
        let mut src = Source::open_as(&a.file, format)?;
        let (mut n, mut bad, mut min, mut max) = (0u64, 0u64, None::<i64>, None::<i64>);
        let mut last_head = None;
        while let Some(r) = src.next_record() {
            match r {
                Ok(rec) => {
                    n += 1;
                    let t = rec.entry.time.0;
                    min = Some(min.map_or(t, |m| m.min(t)));
                    max = Some(max.map_or(t, |m| m.max(t)));
                    if let Some(h) = rec.chain.and_then(|c| c.chain_hash) {
                        last_head = Some(h);
                    }
                }
                Err(e) if e.fatal => return Err(Fail(e.to_string())),
                Err(_) => bad += 1,
            }
        }
        info.insert("entries".into(), n.into());
        if bad > 0 {
            info.insert("unreadable_records".into(), bad.into());
        }
        info.insert("time_span".into(), span(min, max));
        if let Some(h) = &src.header {
            info.insert("archive_id".into(), h.archive_id.to_string().into());
            if let Some(cp) = &h.checkpoint {
                info.insert("checkpoint_size".into(), cp.size.into());
            }
        }
        if let Some(h) = last_head {
            info.insert("head".into(), h.to_hex().into());
        }
        info.insert("sealed".into(), format.has_chain().into());
    }
    if a.json {
        print_json(&serde_json::Value::Object(info));
    } else {
        for (k, v) in &info {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Object(m) if k == "time_span" => format!(
                    "{} … {}",
                    m.get("from").and_then(|v| v.as_str()).unwrap_or(""),
                    m.get("to").and_then(|v| v.as_str()).unwrap_or("")
                ),
                serde_json::Value::Null => "—".into(),
                other => other.to_string(),
            };
            println!(
                "{:<18} {}",
                format!("{}:", k.replace('_', " ")),
                terminal_safe(&text)
            );
        }
    }
    Ok(0)
}

fn cmd_export(a: ExportArgs) -> Result<i32, Fail> {
    let filter = a.filter.to_filter().map_err(Fail)?;
    if source::detect(&a.archive)? != Format::Archive {
        return Err(Fail(format!(
            "{} is not an archive; ingest it first (`auditlens ingest --archive A.sqlite {}`)",
            a.archive.display(),
            a.archive.display()
        )));
    }
    if a.directory.directory.is_some() && !matches!(a.format, ExportFormatArg::Ecs) {
        return Err(Fail(
            "--directory applies to ECS exports: a JSON, NDJSON or CSV export carries only the \
             sealed records, so that every cell in it is proven; names are shown by the viewer, \
             the report and `export --format ecs`"
                .into(),
        ));
    }
    let archive = Archive::open(&a.archive)?;
    let format = match a.format {
        ExportFormatArg::Json => ExportFormat::Json,
        ExportFormatArg::Ndjson => ExportFormat::Ndjson,
        ExportFormatArg::Csv => ExportFormat::Csv,
        ExportFormatArg::Parquet => ExportFormat::Parquet,
        ExportFormatArg::Ecs => {
            if a.sign.is_some() {
                return Err(Fail(
                    "--sign applies to auditlens exports; an ECS export carries each entry's leaf \
                     hash (event.hash) but no proofs"
                        .into(),
                ));
            }
            let names = a.directory.load(&a.archive)?;
            let names = (!names.is_empty()).then_some(&names);
            let job = Arc::new(Job::new());
            let dest = Destination::cli(&a.output, a.force);
            let r = with_progress(&job, || {
                auditlens_core::siem::export_ecs(&archive, &filter, None, names, &dest, &job)
            })?;
            eprintln!(
                "exported {} entries to {} (Elastic Common Schema {}, one event per line)",
                r.entries,
                r.path.display(),
                auditlens_core::siem::ECS_VERSION
            );
            return Ok(0);
        }
    };
    let signer = a.sign.as_deref().map(read_signer).transpose()?;
    if signer.is_some()
        && let Some(code) = refuse_to_seal_tampered(&archive, "nothing exported")?
    {
        return Ok(code);
    }
    let job = Arc::new(Job::new());
    let dest = Destination::cli(&a.output, a.force);
    let r = with_progress(&job, || {
        export::export_with(
            &archive,
            &filter,
            None,
            format,
            &dest,
            signer.as_ref(),
            &job,
        )
    })?;
    eprintln!("exported {} entries to {}", r.entries, shown(&r.path));
    match &r.complete {
        Some(what) => eprintln!("proven complete: {}", terminal_safe(what)),
        None if !filter.is_empty() => eprintln!(
            "not proven complete: the filter maps to no single index range (one action, resource \
             type, project id or actor id, or a time range; FORMAT.md §14), so the export proves \
             its entries genuine only"
        ),
        None => {}
    }
    if format == ExportFormat::Csv {
        let what = if filter.is_empty() {
            "checkpoint"
        } else {
            "checkpoint and inclusion proofs"
        };
        eprintln!(
            "{what}: {} (keep it beside the CSV)",
            shown(&proof::sidecar_path(&a.output))
        );
    }
    Ok(0)
}

fn cmd_sample(a: SampleArgs) -> Result<i32, Fail> {
    let ext = a
        .output
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let format = match (a.format, ext.as_str()) {
        (Some(f), _) => f,
        (None, "sqlite" | "db" | "sqlite3") => SampleFormatArg::Archive,
        (None, "json") => SampleFormatArg::Json,
        (None, "jsonl" | "ndjson") => SampleFormatArg::Jsonl,
        (None, "csv") => SampleFormatArg::Csv,
        (None, _) => return Err(Fail("give --format archive|json|jsonl|csv, or an output name ending in .sqlite, .json, .jsonl or .csv".into())),
    };
    let what = match format {
        SampleFormatArg::Json => SampleFile::Platform(PlatformFormat::Json),
        SampleFormatArg::Jsonl => SampleFile::Platform(PlatformFormat::Jsonl),
        SampleFormatArg::Csv => SampleFile::Platform(PlatformFormat::Csv),
        SampleFormatArg::Archive => SampleFile::Archive,
    };
    let profile = match a.profile {
        SampleProfileArg::Rich => Profile::Rich,
        SampleProfileArg::Platform => Profile::Platform,
    };
    let s = Sample::new(a.entries, a.seed).with_profile(profile);
    let job = Arc::new(Job::new());
    let dest = Destination::cli(&a.output, a.force);
    with_progress(&job, || sample::write_file(&s, what, &dest, &job)).map_err(Fail)?;
    eprintln!("wrote {} sample entries to {}", a.entries, shown(&a.output));
    Ok(0)
}
