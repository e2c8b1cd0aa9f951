//! Application state and the background jobs that feed it.
//!
//! Workers (open/ingest, index load, file hash, verification, filtering,
//! export) run on their own threads, each with its own `Archive` handle, and
//! report through one channel. Every message carries the generation of the
//! document it belongs to, so results for a file that was closed are dropped.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use eframe::egui;

use auditlens_core::archive::{Archive, StoredEntry};
use auditlens_core::case::{CaseFile, Mark, case_path};
use auditlens_core::diff::{self, DiffItem};
use auditlens_core::export::{ExportFormat, ExportReport};
use auditlens_core::filter::Filter;
use auditlens_core::job::Job;
use auditlens_core::model::{ActorType, Entry};
use auditlens_core::note::VerifierKey;
use auditlens_core::output::{Destination, Output};
use auditlens_core::patterns::{Pattern, PatternSettings, ScanReport};
use auditlens_core::proof::SignedCheckpoint;
use auditlens_core::row_index::{self as index, Index, SortKey};
use auditlens_core::source::{self, Format};
use auditlens_core::text_search::{self as search, SearchIndex};
use auditlens_core::time::Timestamp;
use auditlens_core::verify::Report;
use auditlens_core::verify::{self, AnchorInfo};

/// Above this many rows, structured filtering runs on a worker thread.
const SYNC_FILTER_LIMIT: usize = 200_000;
/// Entries read first, so the table shows a page before the whole index is in.
const PREFIX_ROWS: u64 = 2_000;
const ROW_CACHE_LIMIT: usize = 20_000;
/// The label of the "bookmarked only" restriction.
pub const BOOKMARKED: &str = "Bookmarked entries";

/// Keeps the positions whose seq the restriction allows.
fn restrict(ix: &Index, v: &mut Vec<u32>, r: Option<&Restriction>) {
    if let Some(r) = r {
        v.retain(|&p| r.seqs.contains(&ix.seq(p as usize)));
    }
}

/// Settings kept between runs.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Settings {
    pub recent: Vec<PathBuf>,
    pub dark: bool,
    pub local_time: bool,
    pub sort: SortKey,
    pub sort_desc: bool,
    /// Verifier keys (the text of `auditlens keygen`'s KEY.pub) that
    /// checkpoint signatures are checked against.
    pub verifier_keys: Vec<String>,
}

impl Settings {
    /// The verifier keys that still parse (a hand-edited setting may not).
    pub fn keys(&self) -> Vec<VerifierKey> {
        self.verifier_keys
            .iter()
            .filter_map(|k| VerifierKey::parse(k).ok())
            .collect()
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            recent: Vec::new(),
            dark: true,
            local_time: false,
            sort: SortKey::Seq,
            sort_desc: false,
            verifier_keys: Vec::new(),
        }
    }
}

/// File pickers, behind a trait so tests can bypass the system dialog.
pub trait FileDialogs {
    fn pick_open(&mut self) -> Option<PathBuf>;
    fn pick_save(&mut self, default_name: &str) -> Option<PathBuf>;
}

/// The system dialogs (rfd). Without a desktop portal they return `None` and
/// the viewer offers a path field instead.
pub struct SystemDialogs;

impl FileDialogs for SystemDialogs {
    fn pick_open(&mut self) -> Option<PathBuf> {
        rfd::FileDialog::new()
            .add_filter(
                "Archives and exports",
                &["sqlite", "db", "json", "jsonl", "ndjson", "csv"],
            )
            .add_filter("All files", &["*"])
            .pick_file()
    }
    fn pick_save(&mut self, default_name: &str) -> Option<PathBuf> {
        rfd::FileDialog::new()
            .set_file_name(default_name)
            .save_file()
    }
}

/// Dialogs that never answer: the path fields are used instead (tests).
pub struct NoDialogs;

impl FileDialogs for NoDialogs {
    fn pick_open(&mut self) -> Option<PathBuf> {
        None
    }
    fn pick_save(&mut self, _: &str) -> Option<PathBuf> {
        None
    }
}

pub enum VerifyState {
    Running(Arc<Job>),
    Done(Box<Report>),
    Failed(String),
    Cancelled,
    /// A raw platform export: nothing to verify.
    Unsealed,
}

pub struct Document {
    /// The file the person opened.
    pub path: PathBuf,
    pub format: Option<Format>,
    /// The archive read for display (the file itself, or a temporary archive).
    pub archive_path: Option<PathBuf>,
    pub unsealed: bool,
    _temp: Option<tempfile::TempDir>,
    pub archive: Option<Archive>,
    pub index: Option<Arc<Index>>,
    pub load_job: Arc<Job>,
    /// The free-text index, built after `index`; searches scan records until then.
    pub search: Option<Arc<SearchIndex>>,
    pub search_job: Option<Arc<Job>>,
    pub sha256: Option<String>,
    pub verify: VerifyState,
    pub verify_started: Option<Instant>,
    pub checkpoint: Option<SignedCheckpoint>,
    /// The checkpoint the last verification was anchored to (loaded, or the export's own).
    pub anchor: Option<AnchorInfo>,
    pub finding_seqs: HashSet<u64>,
    /// Entries showing the patterns to watch, found after the index.
    pub patterns: Option<Arc<ScanReport>>,
    /// Bookmarks, tags and notes, kept beside the archive (sealed archives only).
    pub case: Option<CaseFile>,
    pub open_time: Instant,
    pub first_frame: Option<Duration>,
}

impl Document {
    /// The whole index is loaded (filters, sorting and export work).
    pub fn index_complete(&self) -> bool {
        self.index.as_ref().is_some_and(|i| i.complete)
    }
}

enum Msg {
    Opened {
        generation: u64,
        archive_path: PathBuf,
        temp: Option<tempfile::TempDir>,
        format: Format,
        unsealed: bool,
    },
    Index {
        generation: u64,
        result: Result<Arc<Index>, String>,
    },
    Sha {
        generation: u64,
        hex: String,
    },
    Search {
        generation: u64,
        result: Result<Arc<SearchIndex>, String>,
    },
    Verified {
        generation: u64,
        result: Result<Box<(Report, Option<AnchorInfo>)>, auditlens_core::verify::VerifyError>,
    },
    View {
        generation: u64,
        view_gen: u64,
        /// The view (display order) and the same positions in position order.
        result: Result<(Vec<u32>, Arc<Vec<u32>>), String>,
        filter: Filter,
    },
    Exported {
        result: Result<ExportReport, String>,
    },
    Patterns {
        generation: u64,
        result: Result<Arc<ScanReport>, String>,
    },
    Reported {
        result: Result<PathBuf, String>,
    },
    Failed {
        generation: u64,
        message: String,
    },
}

/// Which time range the filter shows, relative to the newest entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimePreset {
    All,
    Day,
    Week,
    Month,
    Custom,
}

impl TimePreset {
    pub fn label(self) -> &'static str {
        match self {
            TimePreset::All => "All",
            TimePreset::Day => "Last 24 h",
            TimePreset::Week => "Last 7 days",
            TimePreset::Month => "Last 30 days",
            TimePreset::Custom => "Custom",
        }
    }
}

/// What the filter panel edits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterUi {
    pub search: String,
    pub actor: String,
    pub preset: TimePreset,
    pub from: String,
    pub to: String,
    pub projects: BTreeSet<String>,
    pub actions: BTreeSet<String>,
    pub resource_types: BTreeSet<String>,
    pub actor_type: Option<String>,
}

impl Default for FilterUi {
    fn default() -> Self {
        FilterUi {
            search: String::new(),
            actor: String::new(),
            preset: TimePreset::All,
            from: String::new(),
            to: String::new(),
            projects: BTreeSet::new(),
            actions: BTreeSet::new(),
            resource_types: BTreeSet::new(),
            actor_type: None,
        }
    }
}

impl FilterUi {
    /// The core filter these settings stand for; `newest` is the archive's newest entry time.
    pub fn to_filter(&self, newest: Option<i64>) -> (Filter, Option<String>) {
        let mut f = Filter::default();
        let mut err = None;
        let day = 86_400_000i64;
        let back = match self.preset {
            TimePreset::Day => Some(day),
            TimePreset::Week => Some(7 * day),
            TimePreset::Month => Some(30 * day),
            _ => None,
        };
        if let (Some(back), Some(newest)) = (back, newest) {
            // The newest entry itself is included: the range ends just after it.
            f.from = Some(Timestamp(newest + 1 - back));
            f.to = Some(Timestamp(newest + 1));
        }
        if self.preset == TimePreset::Custom {
            for (text, slot) in [(&self.from, &mut f.from), (&self.to, &mut f.to)] {
                if !text.trim().is_empty() {
                    match Timestamp::parse(text) {
                        Ok(t) => *slot = Some(t),
                        Err(e) => err = Some(e),
                    }
                }
            }
        }
        f.projects = self.projects.iter().cloned().collect();
        f.actions = self.actions.iter().cloned().collect();
        f.resource_types = self.resource_types.iter().cloned().collect();
        f.actor_type = self.actor_type.as_deref().map(ActorType::parse);
        let actor = self.actor.trim();
        f.actor = (!actor.is_empty()).then(|| actor.to_string());
        f.search = (!self.search.is_empty()).then(|| self.search.clone());
        (f, err)
    }
}

/// Text of one table row, taken from the hashed record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowText {
    pub time_ms: i64,
    pub actor: String,
    pub actor_type: String,
    pub action: String,
    pub resource_type: String,
    pub resource: String,
    pub project: String,
    pub org: String,
    pub ip: String,
}

impl RowText {
    /// Every cell with hidden characters escaped and long values cut.
    fn safe(mut self) -> RowText {
        use auditlens_core::safe_text::{CELL_CHARS, shown};
        for f in [
            &mut self.actor,
            &mut self.actor_type,
            &mut self.action,
            &mut self.resource_type,
            &mut self.resource,
            &mut self.project,
            &mut self.org,
            &mut self.ip,
        ] {
            if let std::borrow::Cow::Owned(o) = shown(f, CELL_CHARS) {
                *f = o;
            }
        }
        self
    }

    fn from_entry(e: &Entry) -> RowText {
        RowText {
            time_ms: e.time.0,
            actor: e.actor.label().to_string(),
            actor_type: e
                .actor
                .actor_type
                .as_ref()
                .map(|t| t.display_name().to_string())
                .unwrap_or_default(),
            action: e.action.clone(),
            resource_type: auditlens_core::catalog::display_name(&e.resource_type).to_string(),
            resource: e.resource_label().to_string(),
            project: e
                .project_name
                .clone()
                .or_else(|| e.project_id.clone())
                .unwrap_or_default(),
            org: e
                .org_name
                .clone()
                .or_else(|| e.org_id.clone())
                .unwrap_or_default(),
            ip: e.ip_address.clone().unwrap_or_default(),
        }
    }

    /// From the borrowed view of the stored record: the same values as
    /// [`RowText::from_entry`] without building the before/after trees
    /// (a page of rows is read on most scrolling frames).
    fn from_view(v: &auditlens_core::record_view::RecordView<'_>) -> RowText {
        RowText {
            time_ms: v.time.0,
            actor: v.actor.label().unwrap_or_default().to_string(),
            actor_type: v
                .actor
                .actor_type
                .as_deref()
                .map(|t| ActorType::parse(t).display_name().to_string())
                .unwrap_or_default(),
            action: v.action.to_string(),
            resource_type: auditlens_core::catalog::display_name(&v.resource_type).to_string(),
            resource: v
                .resource_name
                .as_deref()
                .unwrap_or(&v.resource_id)
                .to_string(),
            project: v
                .project_name
                .as_deref()
                .or(v.project_id.as_deref())
                .unwrap_or_default()
                .to_string(),
            org: v
                .org_name
                .as_deref()
                .or(v.org_id.as_deref())
                .unwrap_or_default()
                .to_string(),
            ip: v.ip_address.as_deref().unwrap_or_default().to_string(),
        }
    }

    fn unreadable(message: &str) -> RowText {
        RowText {
            time_ms: 0,
            actor: String::new(),
            actor_type: String::new(),
            action: format!("unreadable record: {message}"),
            resource_type: String::new(),
            resource: String::new(),
            project: String::new(),
            org: String::new(),
            ip: String::new(),
        }
    }
}

/// The selected entry, read in full.
pub struct Detail {
    pub seq: u64,
    pub result: Result<StoredEntry, String>,
    pub diff: Vec<DiffItem>,
}

#[derive(Default)]
pub struct ExportUi {
    pub open: bool,
    pub path: String,
    /// The path the save dialog returned: the dialog asked before returning
    /// an existing file, so that one may be replaced. A typed path may not.
    pub dialog_path: Option<String>,
    pub format: Option<ExportFormat>,
    pub job: Option<Arc<Job>>,
    pub result: Option<Result<ExportReport, String>>,
}

/// Shows only some entries (a pattern's hits, the bookmarks) on top of the filter.
#[derive(Clone, Debug)]
pub struct Restriction {
    pub label: String,
    pub seqs: Arc<HashSet<u64>>,
    /// Tells restrictions apart when deciding whether the view is current.
    pub id: u64,
}

pub struct AppState {
    pub settings: Settings,
    pub note_draft: Option<crate::app::investigate::NoteDraft>,
    pub pattern_form: Option<crate::app::investigate::PatternForm>,
    pub restrict: Option<Restriction>,
    restrict_ids: u64,
    pub pattern_settings: PatternSettings,
    pub doc: Option<Document>,
    pub filter: FilterUi,
    /// The filter and sort the current view was computed for.
    applied: Option<(Filter, SortKey, bool, u64, Option<u64>)>,
    /// The last computed result (positions in position order) and its
    /// filter: a search that only extends its text searches within it.
    narrow_base: Option<(Filter, Arc<Vec<u32>>)>,
    pub filter_error: Option<String>,
    /// Positions (into the index) of the shown rows, in display order.
    pub view: Vec<u32>,
    pub view_job: Option<Arc<Job>>,
    view_gen: u64,
    pub selected: Option<u64>,
    pub selected_row: Option<usize>,
    pub scroll_to_row: Option<usize>,
    pending_jump: Option<u64>,
    pub rows: HashMap<u64, RowText>,
    pub detail: Option<Detail>,
    pub error: Option<String>,
    pub export: ExportUi,
    pub open_ui: Option<String>,
    pub notice: Option<String>,
    pub focus_search: bool,
    pub dialogs: Box<dyn FileDialogs>,
    pub ctx: Option<egui::Context>,
    generation: u64,
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) {
    let _ = std::thread::Builder::new().name(name.into()).spawn(f);
}

impl AppState {
    pub fn new(settings: Settings, dialogs: Box<dyn FileDialogs>) -> Self {
        let (tx, rx) = channel();
        AppState {
            settings,
            doc: None,
            filter: FilterUi::default(),
            applied: None,
            restrict: None,
            restrict_ids: 0,
            note_draft: None,
            pattern_form: None,
            pattern_settings: PatternSettings::default(),
            narrow_base: None,
            filter_error: None,
            view: Vec::new(),
            view_job: None,
            view_gen: 0,
            selected: None,
            selected_row: None,
            scroll_to_row: None,
            pending_jump: None,
            rows: HashMap::new(),
            detail: None,
            error: None,
            export: ExportUi::default(),
            open_ui: None,
            notice: None,
            focus_search: false,
            dialogs,
            ctx: None,
            generation: 0,
            tx,
            rx,
        }
    }

    fn sender(&self) -> (Sender<Msg>, Option<egui::Context>) {
        (self.tx.clone(), self.ctx.clone())
    }

    /// Opens a file: archive, auditlens export or platform export (by content).
    pub fn open(&mut self, path: PathBuf) {
        self.close();
        self.generation += 1;
        let generation = self.generation;
        let job = Arc::new(Job::new());
        self.settings.recent.retain(|p| p != &path);
        self.settings.recent.insert(0, path.clone());
        self.settings.recent.truncate(10);
        self.doc = Some(Document {
            path: path.clone(),
            format: None,
            archive_path: None,
            unsealed: false,
            _temp: None,
            archive: None,
            index: None,
            load_job: job.clone(),
            search: None,
            search_job: None,
            sha256: None,
            verify: VerifyState::Running(Arc::new(Job::new())),
            verify_started: None,
            checkpoint: None,
            anchor: None,
            finding_seqs: HashSet::new(),
            patterns: None,
            case: None,
            open_time: Instant::now(),
            first_frame: None,
        });
        let newest_first =
            self.settings.sort_desc && matches!(self.settings.sort, SortKey::Seq | SortKey::Time);
        let (tx, ctx) = self.sender();
        spawn("open", move || {
            let wake = || {
                if let Some(c) = &ctx {
                    c.request_repaint()
                }
            };
            let fail = |message: String| {
                let _ = tx.send(Msg::Failed {
                    generation,
                    message,
                });
                wake();
            };
            let format = match source::detect(&path) {
                Ok(f) => f,
                Err(e) => return fail(e.0),
            };
            let (archive_path, temp) = if format == Format::Archive {
                if let Err(e) = Archive::open(&path) {
                    return fail(e.0);
                }
                (path.clone(), None)
            } else {
                job.start_phase("reading export", 0);
                let dir = match tempfile::Builder::new().prefix("auditlens-view").tempdir() {
                    Ok(d) => d,
                    Err(e) => return fail(format!("cannot create a temporary directory: {e}")),
                };
                let archive_path = dir.path().join("unsealed.sqlite");
                let opts = auditlens_core::ingest::IngestOptions::default();
                if let Err(e) = auditlens_core::ingest::ingest(
                    &archive_path,
                    std::slice::from_ref(&path),
                    &opts,
                    &job,
                ) {
                    return fail(format!("{}: {e}", path.display()));
                }
                (archive_path, Some(dir))
            };
            let _ = tx.send(Msg::Opened {
                generation,
                archive_path: archive_path.clone(),
                temp,
                format,
                unsealed: !format.has_chain(),
            });
            wake();
            // A first page at once, then the whole index (and filters).
            match Index::load_prefix(&archive_path, PREFIX_ROWS, newest_first, &job) {
                Ok(ix) if ix.complete => {
                    let result = Ok(Arc::new(ix));
                    let _ = tx.send(Msg::Index { generation, result });
                    return wake();
                }
                Ok(ix) => {
                    let result = Ok(Arc::new(ix));
                    let _ = tx.send(Msg::Index { generation, result });
                    wake();
                }
                Err(e) => return fail(e),
            }
            if job.is_cancelled() {
                return;
            }
            let result = Index::load(&archive_path, &job).map(Arc::new);
            index::release_free_memory();
            let _ = tx.send(Msg::Index { generation, result });
            wake();
        });
        let (tx, ctx) = self.sender();
        let p = self
            .doc
            .as_ref()
            .map(|d| d.path.clone())
            .unwrap_or_default();
        spawn("sha256", move || {
            if let Ok(hex) = auditlens_core::digest::file_sha256(&p) {
                let _ = tx.send(Msg::Sha { generation, hex });
                if let Some(c) = ctx {
                    c.request_repaint()
                }
            }
        });
    }

    pub fn close(&mut self) {
        if let Some(d) = &self.doc {
            d.load_job.cancel();
            if let Some(j) = &d.search_job {
                j.cancel();
            }
            if let VerifyState::Running(j) = &d.verify {
                j.cancel();
            }
        }
        if let Some(j) = &self.view_job {
            j.cancel();
        }
        self.doc = None;
        self.narrow_base = None;
        self.view.clear();
        self.view_job = None;
        self.applied = None;
        self.selected = None;
        self.selected_row = None;
        self.detail = None;
        self.rows.clear();
        self.pending_jump = None;
        self.filter = FilterUi::default();
    }

    /// (Re)starts verification of the open file, with the loaded checkpoint if any.
    pub fn start_verify(&mut self) {
        let generation = self.generation;
        let (tx, ctx) = self.sender();
        let Some(doc) = &mut self.doc else { return };
        if doc.unsealed {
            doc.verify = VerifyState::Unsealed;
            return;
        }
        if let VerifyState::Running(j) = &doc.verify {
            j.cancel();
        }
        let job = Arc::new(Job::new());
        doc.verify = VerifyState::Running(job.clone());
        doc.verify_started = Some(Instant::now());
        let path = doc.path.clone();
        let checkpoint = doc.checkpoint.clone();
        let keys = self.settings.keys();
        spawn("verify", move || {
            let result =
                verify::verify_signed(&path, checkpoint.as_ref(), &keys, &job).map(Box::new);
            index::release_free_memory();
            let _ = tx.send(Msg::Verified { generation, result });
            if let Some(c) = ctx {
                c.request_repaint()
            }
        });
    }

    pub fn cancel_verify(&mut self) {
        if let Some(doc) = &mut self.doc
            && let VerifyState::Running(j) = &doc.verify
        {
            j.cancel();
        }
    }

    /// Opens what a dropped or typed path is: a checkpoint or a verifier key
    /// for the open file, or else a file to open.
    pub fn open_any(&mut self, path: PathBuf) {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        match ext.as_str() {
            "checkpoint" | "txt" if self.doc.is_some() => self.load_checkpoint(&path),
            "pub" => self.add_verifier_key(&path),
            _ => self.open(path),
        }
    }

    /// Adds a verifier key (KEY.pub) and verifies again, now checking the
    /// checkpoint's signatures against it.
    pub fn add_verifier_key(&mut self, path: &Path) {
        let key = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| VerifierKey::parse(&t).map_err(|e| e.to_string()));
        match key {
            Ok(k) => {
                let text = k.to_text();
                if !self.settings.verifier_keys.contains(&text) {
                    self.settings.verifier_keys.push(text);
                }
                self.notice = Some(format!("verifier key {} added", k.name));
                self.start_verify();
            }
            Err(e) => self.error = Some(format!("{} is not a verifier key: {e}", path.display())),
        }
    }

    /// Reads a checkpoint file and verifies against it.
    pub fn load_checkpoint(&mut self, path: &Path) {
        match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| SignedCheckpoint::parse(&t))
        {
            Ok(c) => {
                if let Some(d) = &mut self.doc {
                    d.checkpoint = Some(c);
                }
                self.start_verify();
            }
            Err(e) => self.error = Some(format!("{} is not a checkpoint: {e}", path.display())),
        }
    }

    /// Handles what the workers sent. Called once per frame.
    pub fn poll(&mut self) {
        while let Ok(msg) = self.rx.try_recv() {
            match msg {
                Msg::Opened {
                    generation,
                    archive_path,
                    temp,
                    format,
                    unsealed,
                } if generation == self.generation => {
                    if let Some(doc) = &mut self.doc {
                        doc.format = Some(format);
                        doc.unsealed = unsealed;
                        doc._temp = temp;
                        match Archive::open(&archive_path) {
                            Ok(a) => {
                                if !unsealed && format == Format::Archive {
                                    match CaseFile::load(&case_path(&doc.path), a.id()) {
                                        Ok(c) => doc.case = Some(c),
                                        Err(e) => self.notice = Some(e),
                                    }
                                }
                                doc.archive = Some(a)
                            }
                            Err(e) => self.error = Some(e.0),
                        }
                        doc.archive_path = Some(archive_path);
                    }
                    self.start_verify();
                }
                Msg::Index { generation, result } if generation == self.generation => {
                    match result {
                        Ok(ix) => {
                            let complete = ix.complete;
                            if let Some(doc) = &mut self.doc {
                                doc.index = Some(ix);
                            }
                            self.applied = None;
                            if complete {
                                self.start_search_index();
                                self.start_patterns();
                            }
                        }
                        Err(e) => self.fail(e),
                    }
                }
                Msg::Search { generation, result } if generation == self.generation => {
                    if let Some(doc) = &mut self.doc {
                        doc.search_job = None;
                        match result {
                            Ok(si) => {
                                doc.search = Some(si);
                                // A search still scanning records is redone on the index.
                                if (self.view_job.is_some() && !self.filter.search.is_empty())
                                    || self.settings.sort == SortKey::Resource
                                {
                                    self.applied = None;
                                }
                            }
                            Err(e) if e == "cancelled" => {}
                            Err(e) => self.notice = Some(format!("text index: {e}")),
                        }
                    }
                }
                Msg::Patterns { generation, result } if generation == self.generation => {
                    match result {
                        Ok(r) => {
                            if let Some(doc) = &mut self.doc {
                                doc.patterns = Some(r);
                            }
                        }
                        Err(e) => self.notice = Some(format!("patterns: {e}")),
                    }
                }
                Msg::Reported { result } => match result {
                    Ok(p) => self.notice = Some(format!("report written to {}", p.display())),
                    Err(e) => self.error = Some(format!("report: {e}")),
                },
                Msg::Sha { generation, hex } if generation == self.generation => {
                    if let Some(doc) = &mut self.doc {
                        doc.sha256 = Some(hex);
                    }
                }
                Msg::Verified { generation, result } if generation == self.generation => {
                    if let Some(doc) = &mut self.doc {
                        doc.verify = match result {
                            Ok(done) => {
                                let (r, anchor) = *done;
                                doc.anchor = anchor;
                                doc.finding_seqs =
                                    r.findings.iter().filter_map(|f| f.seq).collect();
                                VerifyState::Done(Box::new(r))
                            }
                            Err(auditlens_core::verify::VerifyError::Cancelled) => {
                                VerifyState::Cancelled
                            }
                            Err(e) => VerifyState::Failed(e.to_string()),
                        };
                    }
                }
                Msg::View {
                    generation,
                    view_gen,
                    result,
                    filter,
                } if generation == self.generation && view_gen == self.view_gen => {
                    self.view_job = None;
                    match result {
                        Ok((v, base)) => {
                            self.narrow_base = Some((filter, base));
                            self.set_view(v)
                        }
                        Err(e) if e == "cancelled" => {}
                        Err(e) => self.error = Some(e),
                    }
                }
                Msg::Exported { result } => {
                    self.export.job = None;
                    self.export.result = Some(result);
                }
                Msg::Failed {
                    generation,
                    message,
                } if generation == self.generation => self.fail(message),
                _ => {}
            }
        }
    }

    fn fail(&mut self, message: String) {
        if message != "cancelled" {
            self.error = Some(message);
        }
        self.close();
    }

    /// Is any background work running (the UI keeps repainting while so)?
    pub fn busy(&self) -> bool {
        self.view_job.is_some()
            || self.export.job.is_some()
            || self.doc.as_ref().is_some_and(|d| d.search_job.is_some())
            || self
                .doc
                .as_ref()
                .is_some_and(|d| !d.index_complete() || matches!(d.verify, VerifyState::Running(_)))
    }

    pub fn index(&self) -> Option<&Arc<Index>> {
        self.doc.as_ref().and_then(|d| d.index.as_ref())
    }

    /// The core filter for the current settings.
    pub fn current_filter(&self) -> Filter {
        let newest = self.index().and_then(|i| i.time_span()).map(|(_, max)| max);
        self.filter.to_filter(newest).0
    }

    /// No background work is running and the view reflects the current filter and sort.
    pub fn settled(&self) -> bool {
        let Some(ix) = self.index() else {
            return !self.busy();
        };
        if !ix.complete {
            return false;
        }
        let newest = ix.time_span().map(|(_, max)| max);
        let (f, _) = self.filter.to_filter(newest);
        let key = (
            f,
            self.settings.sort,
            self.settings.sort_desc,
            self.generation,
            self.restrict.as_ref().map(|r| r.id),
        );
        !self.busy() && self.applied.as_ref() == Some(&key)
    }

    /// Recomputes the view when the filter or sort changed since the last time.
    pub fn refresh_view(&mut self) {
        let Some(ix) = self.index().cloned() else {
            return;
        };
        let newest = ix.time_span().map(|(_, max)| max);
        let (f, err) = self.filter.to_filter(newest);
        self.filter_error = err;
        let key = (
            f.clone(),
            self.settings.sort,
            self.settings.sort_desc,
            self.generation,
            self.restrict.as_ref().map(|r| r.id),
        );
        if self.applied.as_ref() == Some(&key) {
            return;
        }
        self.applied = Some(key);
        if let Some(j) = self.view_job.take() {
            j.cancel();
        }
        self.view_gen += 1;
        let (sort, desc) = (self.settings.sort, self.settings.sort_desc);
        if !ix.complete {
            // The first page only, unfiltered, until the whole index is in.
            let mut v: Vec<u32> = (0..ix.len() as u32).collect();
            ix.sort(&mut v, sort, desc, None);
            self.set_view(v);
            return;
        }
        let text = self.doc.as_ref().and_then(|d| d.search.clone());
        let base = self
            .narrow_base
            .as_ref()
            .filter(|(old, _)| text.is_some() && narrows(old, &f))
            .map(|(_, b)| b.clone());
        if !index::needs_records(&without_indexed_search(&f, text.is_some()))
            && ix.len() <= SYNC_FILTER_LIMIT
        {
            let mut v = filter_indexed(&ix, text.as_deref(), &f, base.as_deref());
            self.narrow_base = Some((f.clone(), Arc::new(v.clone())));
            restrict(&ix, &mut v, self.restrict.as_ref());
            ix.sort(
                &mut v,
                sort,
                desc,
                text.as_ref().map(|t| &t.resource_rank[..]),
            );
            self.set_view(v);
            return;
        }
        let Some(archive_path) = self.doc.as_ref().and_then(|d| d.archive_path.clone()) else {
            return;
        };
        let job = Arc::new(Job::new());
        self.view_job = Some(job.clone());
        let (generation, view_gen) = (self.generation, self.view_gen);
        let (tx, ctx) = self.sender();
        let restriction = self.restrict.clone();
        spawn("filter", move || {
            let mut v = filter_indexed(&ix, text.as_deref(), &f, base.as_deref());
            let rest = without_indexed_search(&f, text.is_some());
            let result = if index::needs_records(&rest) {
                index::refine_with_records(&ix, &archive_path, &v, &rest, &job)
            } else {
                Ok(std::mem::take(&mut v))
            };
            let result = result.map(|v| {
                let base = Arc::new(v.clone());
                let mut v = v;
                restrict(&ix, &mut v, restriction.as_ref());
                ix.sort(
                    &mut v,
                    sort,
                    desc,
                    text.as_ref().map(|t| &t.resource_rank[..]),
                );
                (v, base)
            });
            let _ = tx.send(Msg::View {
                generation,
                view_gen,
                result,
                filter: f,
            });
            if let Some(c) = ctx {
                c.request_repaint()
            }
        });
    }

    /// Looks for the patterns again, with new thresholds.
    pub fn set_pattern_settings(&mut self, settings: PatternSettings) {
        self.pattern_settings = settings;
        if self
            .restrict
            .as_ref()
            .is_some_and(|r| r.label != BOOKMARKED)
        {
            self.set_restriction(None);
        }
        if let Some(doc) = &mut self.doc {
            doc.patterns = None;
        }
        if self.index().is_some_and(|ix| ix.complete) {
            self.start_patterns();
        }
    }

    /// Finds the patterns to watch on a worker thread (after the index), with
    /// the core's scanner, as `auditlens scan` does.
    fn start_patterns(&mut self) {
        let generation = self.generation;
        let (tx, ctx) = self.sender();
        let settings = self.pattern_settings.clone();
        let Some(path) = self.doc.as_ref().and_then(|d| d.archive_path.clone()) else {
            return;
        };
        spawn("patterns", move || {
            let job = Job::new();
            let result = Archive::open(&path)
                .map_err(|e| e.0)
                .and_then(|a| auditlens_core::patterns::scan_archive(&a, &settings, &job))
                .map(Arc::new);
            let _ = tx.send(Msg::Patterns { generation, result });
            if let Some(c) = ctx {
                c.request_repaint()
            }
        });
    }

    /// Shows only `seqs` (on top of the filter), or everything again with `None`.
    pub fn set_restriction(&mut self, r: Option<(String, HashSet<u64>)>) {
        self.restrict = r.map(|(label, seqs)| {
            self.restrict_ids += 1;
            Restriction {
                label,
                seqs: Arc::new(seqs),
                id: self.restrict_ids,
            }
        });
    }

    /// Shows only the hits of `p`; again to show everything.
    pub fn toggle_pattern(&mut self, p: Pattern) {
        if self.restrict.as_ref().is_some_and(|r| r.label == p.title()) {
            self.set_restriction(None);
            return;
        }
        let Some(report) = self.doc.as_ref().and_then(|d| d.patterns.clone()) else {
            return;
        };
        let seqs = report.hits_of(p).iter().map(|h| h.seq).collect();
        self.set_restriction(Some((p.title().to_string(), seqs)));
    }

    /// Shows only the bookmarked entries; again to show everything.
    pub fn toggle_bookmarked_only(&mut self) {
        if self
            .restrict
            .as_ref()
            .is_some_and(|r| r.label == BOOKMARKED)
        {
            self.set_restriction(None);
            return;
        }
        let seqs = self
            .doc
            .as_ref()
            .and_then(|d| d.case.as_ref())
            .map(|c| c.bookmarked().map(|(s, _)| s).collect())
            .unwrap_or_default();
        self.set_restriction(Some((BOOKMARKED.to_string(), seqs)));
    }

    /// Changes the case notes of `seq` and saves the case file beside the archive.
    pub fn edit_mark(&mut self, seq: u64, entry_id: &str, edit: impl FnOnce(&mut Mark)) {
        let Some(doc) = &mut self.doc else { return };
        if doc.unsealed || doc.format != Some(Format::Archive) {
            self.notice =
                Some("case notes need a sealed archive: save this file as one first".to_string());
            return;
        }
        let Some(archive) = &doc.archive else { return };
        let path = case_path(&doc.path);
        if doc.case.is_none() {
            match CaseFile::load(&path, archive.id()) {
                Ok(c) => doc.case = Some(c),
                Err(e) => {
                    self.error = Some(e);
                    return;
                }
            }
        }
        let Some(case) = &mut doc.case else { return };
        edit(case.mark_mut(seq, entry_id));
        if let Err(e) = case.save(&path) {
            self.error = Some(e);
        }
    }

    /// The case notes of `seq`, if any.
    pub fn mark(&self, seq: u64) -> Option<&Mark> {
        self.doc.as_ref()?.case.as_ref()?.mark(seq)
    }

    /// Writes the auditor report (and its JSON twin) for the open archive,
    /// with the current filter, checkpoint, keys and case notes. Both files
    /// are checked before anything is gathered; an existing file is replaced
    /// only when the save dialog chose it (`from_dialog`), never evidence.
    pub fn start_report(&mut self, out: PathBuf, from_dialog: bool) {
        use auditlens_core::audit_report::{ReportInput, ReportOutput, gather};
        let Some(doc) = &self.doc else { return };
        if doc.unsealed || doc.format != Some(Format::Archive) {
            self.error =
                Some("the report is about a sealed archive: save this file as one first".into());
            return;
        }
        let path = doc.path.clone();
        let output = match ReportOutput::plan(
            &Destination::viewer(out, from_dialog),
            std::slice::from_ref(&path),
        ) {
            Ok(o) => o,
            Err(e) => {
                self.error = Some(format!("report: {e}"));
                return;
            }
        };
        let checkpoint = doc.checkpoint.clone();
        let case = doc.case.clone();
        let filter = self.current_filter();
        let settings = self.pattern_settings.clone();
        let keys = self.settings.keys();
        let (tx, ctx) = self.sender();
        self.notice = Some("writing the report…".into());
        spawn("report", move || {
            let out = output.html_path().to_path_buf();
            let result = gather(
                &ReportInput {
                    archive: &path,
                    checkpoint: checkpoint.as_ref(),
                    keys: &keys,
                    filter: &filter,
                    patterns: &settings,
                    case: case.as_ref(),
                },
                &Job::new(),
            )
            .and_then(|facts| output.write(&facts).map_err(|e| e.to_string()))
            .map(|()| out);
            let _ = tx.send(Msg::Reported { result });
            if let Some(c) = ctx {
                c.request_repaint()
            }
        });
    }

    /// Builds the free-text index on a worker thread (after the index).
    fn start_search_index(&mut self) {
        let generation = self.generation;
        let (tx, ctx) = self.sender();
        let Some(doc) = &mut self.doc else { return };
        let (Some(ix), Some(path)) = (doc.index.clone(), doc.archive_path.clone()) else {
            return;
        };
        let job = Arc::new(Job::new());
        doc.search_job = Some(job.clone());
        spawn("text-index", move || {
            let result = SearchIndex::build(&path, &ix, &job).map(Arc::new);
            index::release_free_memory();
            let _ = tx.send(Msg::Search { generation, result });
            if let Some(c) = ctx {
                c.request_repaint()
            }
        });
    }

    fn set_view(&mut self, v: Vec<u32>) {
        self.view = v;
        if let Some(seq) = self.pending_jump.take() {
            self.select_seq(seq);
            return;
        }
        self.selected_row = self.selected.and_then(|s| self.row_of_seq(s));
        if self.selected_row.is_none() {
            self.selected = None;
            self.detail = None;
        }
    }

    pub fn seq_at(&self, row: usize) -> Option<u64> {
        let ix = self.index()?;
        self.view.get(row).map(|&p| ix.seq(p as usize))
    }

    pub fn row_of_seq(&self, seq: u64) -> Option<usize> {
        let ix = self.index()?;
        let pos = ix.position(seq)?;
        self.view.iter().position(|&p| p == pos)
    }

    /// Selects a display row (clamped) and scrolls it into view.
    pub fn select_row(&mut self, row: usize) {
        if self.view.is_empty() {
            return;
        }
        let row = row.min(self.view.len() - 1);
        self.selected_row = Some(row);
        self.selected = self.seq_at(row);
        self.scroll_to_row = Some(row);
    }

    /// Selects an entry by seq, clearing the filter if it hides the entry.
    pub fn select_seq(&mut self, seq: u64) {
        if let Some(row) = self.row_of_seq(seq) {
            self.select_row(row);
        } else if self.index().is_some_and(|i| !i.complete) {
            // Jump once the whole index is in.
            self.pending_jump = Some(seq);
        } else if self.index().and_then(|i| i.position(seq)).is_some() {
            self.filter = FilterUi::default();
            self.pending_jump = Some(seq);
            self.applied = None;
            self.refresh_view();
        } else {
            self.notice = Some(format!("entry {seq} is not in the archive"));
        }
    }

    /// Makes sure the rows for these display positions are in the cache
    /// (one indexed point query for all that are missing).
    pub fn fetch_rows(&mut self, range: std::ops::Range<usize>) {
        let Some(ix) = self.index().cloned() else {
            return;
        };
        let missing: Vec<u64> = self.view
            [range.start.min(self.view.len())..range.end.min(self.view.len())]
            .iter()
            .map(|&p| ix.seq(p as usize))
            .filter(|s| !self.rows.contains_key(s))
            .collect();
        if missing.is_empty() {
            return;
        }
        if self.rows.len() > ROW_CACHE_LIMIT {
            self.rows.clear();
        }
        let Some(archive) = self.doc.as_ref().and_then(|d| d.archive.as_ref()) else {
            return;
        };
        let mut got = Vec::new();
        let result = archive.for_each_record_at(&missing, |seq, t| {
            let text = match auditlens_core::record_view::RecordView::parse(t) {
                Ok(v) => RowText::from_view(&v),
                // The full parser words the error for people.
                Err(_) => match auditlens_core::archive::parse_record(t) {
                    Ok(e) => RowText::from_entry(&e),
                    Err(m) => RowText::unreadable(&m),
                },
            };
            got.push((seq, text.safe()));
        });
        let result = result.map(|()| got);
        match result {
            Ok(got) => {
                for s in &missing {
                    self.rows
                        .entry(*s)
                        .or_insert_with(|| RowText::unreadable("missing"));
                }
                for (s, t) in got {
                    self.rows.insert(s, t);
                }
            }
            Err(e) => self.error = Some(format!("reading rows: {e}")),
        }
    }

    /// The selected entry, read in full (cached while the selection stays).
    pub fn detail(&mut self) -> Option<&Detail> {
        let seq = self.selected?;
        if self.detail.as_ref().is_none_or(|d| d.seq != seq) {
            let archive = self.doc.as_ref()?.archive.as_ref()?;
            let result = read_entry(archive, seq);
            let diff = match &result {
                Ok(s) if s.entry.before.is_some() && s.entry.after.is_some() => {
                    diff::diff(s.entry.before.as_ref(), s.entry.after.as_ref())
                }
                _ => Vec::new(),
            };
            self.detail = Some(Detail { seq, result, diff });
        }
        self.detail.as_ref()
    }

    /// The selected entry as JSON (with seq and hashes), for the clipboard.
    pub fn selected_json(&mut self) -> Option<String> {
        let d = self.detail()?;
        let s = d.result.as_ref().ok()?;
        Some(entry_json(s))
    }

    /// Starts exporting the shown entries with the core exporter.
    pub fn start_export(&mut self, out: PathBuf, format: ExportFormat) {
        let Some(archive_path) = self.doc.as_ref().and_then(|d| d.archive_path.clone()) else {
            return;
        };
        let Some(ix) = self.index().cloned() else {
            return;
        };
        if let Err(e) = format.check_name(&out) {
            self.export.result = Some(Err(e));
            return;
        }
        let confirmed = self.export.dialog_path.as_deref().map(Path::new) == Some(out.as_path());
        let dest = Destination::viewer(out, confirmed);
        let mut seqs: Vec<u64> = self.view.iter().map(|&p| ix.seq(p as usize)).collect();
        seqs.sort_unstable();
        let filter = self.current_filter();
        let job = Arc::new(Job::new());
        self.export.job = Some(job.clone());
        self.export.result = None;
        let (tx, ctx) = self.sender();
        spawn("export", move || {
            let result = Archive::open(&archive_path).map_err(|e| e.0).and_then(|a| {
                auditlens_core::export::export_with(
                    &a,
                    &filter,
                    Some(&seqs),
                    format,
                    &dest,
                    None,
                    &job,
                )
                .map_err(|e| e.to_string())
            });
            let _ = tx.send(Msg::Exported { result });
            if let Some(c) = ctx {
                c.request_repaint()
            }
        });
    }

    /// Copies the temporary archive of an unsealed export to `out`, which
    /// the save dialog chose (it asked before returning an existing file).
    pub fn save_sealed(&mut self, out: &Path) {
        let Some(doc) = &self.doc else { return };
        let Some(src) = doc.archive_path.clone() else {
            return;
        };
        let copy = || -> Result<(), String> {
            let mut output = Output::reading(&[src.as_path(), doc.path.as_path()]);
            let slot = output
                .add(&Destination::viewer(out, true))
                .map_err(|e| e.to_string())?;
            let mut to = output.create(slot).map_err(|e| e.to_string())?;
            std::fs::File::open(&src)
                .and_then(|mut from| std::io::copy(&mut from, &mut to))
                .map_err(|e| format!("{}: {e}", out.display()))?;
            output.commit().map(|_| ()).map_err(|e| e.to_string())
        };
        match copy() {
            Ok(()) => self.notice = Some(format!("saved sealed archive {}", out.display())),
            Err(e) => self.error = Some(e),
        }
    }
}

/// Does every entry that `new` accepts pass `old` too, because only the
/// search text grew (the old needle is inside the new one)?
fn narrows(old: &Filter, new: &Filter) -> bool {
    let (Some(o), Some(n)) = (old.search.as_deref(), new.search.as_deref()) else {
        return false;
    };
    let same_rest = Filter {
        search: None,
        ..old.clone()
    } == Filter {
        search: None,
        ..new.clone()
    };
    same_rest && indexed_needle(new).is_some() && n.to_lowercase().contains(&o.to_lowercase())
}

/// The lower-cased needle, when the text index can answer it.
fn indexed_needle(f: &Filter) -> Option<String> {
    let q = f.search.as_deref()?.to_lowercase();
    search::supports(&q).then_some(q)
}

/// What is left for the records to decide once the text index answered the search.
fn without_indexed_search(f: &Filter, have_text_index: bool) -> Filter {
    let mut rest = f.clone();
    if have_text_index && indexed_needle(f).is_some() {
        rest.search = None;
    }
    rest
}

/// Positions passing the structured filter and, when the text index is
/// there and can answer it, the free-text search.
/// `base`, when given, is the (position-ordered) result of a filter that
/// [`narrows`] says contains every entry `f` accepts.
fn filter_indexed(
    ix: &Index,
    text: Option<&SearchIndex>,
    f: &Filter,
    base: Option<&Vec<u32>>,
) -> Vec<u32> {
    if let (Some(t), Some(q), Some(b)) = (text, indexed_needle(f), base) {
        return t.filter(&q, b);
    }
    let v = ix.candidates(f);
    match (text, indexed_needle(f)) {
        (Some(t), Some(q)) => t.filter(&q, &v),
        _ => v,
    }
}

/// Reads one stored entry by seq, with an error worded for the status line.
pub fn read_entry(archive: &Archive, seq: u64) -> Result<StoredEntry, String> {
    archive
        .entry(seq)
        .map_err(|e| e.0)?
        .ok_or_else(|| format!("entry {seq} is not in the archive"))
}

/// The entry as pretty JSON: seq, hashes and the record.
pub fn entry_json(s: &StoredEntry) -> String {
    use auditlens_core::json::Json;
    let mut m = std::collections::BTreeMap::new();
    m.insert("seq".to_string(), Json::Number(s.seq.to_string()));
    m.insert("leaf_hash".to_string(), Json::String(s.leaf_hash.to_hex()));
    m.insert(
        "chain_hash".to_string(),
        Json::String(s.chain_hash.to_hex()),
    );
    m.insert("record".to_string(), s.entry.to_record());
    Json::Object(m).to_pretty()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table's fast path (borrowed view) shows what the full parse shows.
    #[test]
    fn row_text_from_view_matches_entry() {
        for name in ["audit-sample.sqlite", "tampered.sqlite"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("sample-data")
                .join(name);
            let a = Archive::open(&path).unwrap();
            let mut n = 0;
            a.for_each_record(|_, bytes| {
                if let (Ok(v), Ok(e)) = (
                    auditlens_core::record_view::RecordView::parse(bytes),
                    auditlens_core::archive::parse_record(bytes),
                ) {
                    assert_eq!(RowText::from_view(&v), RowText::from_entry(&e));
                    n += 1;
                }
            })
            .unwrap();
            assert!(n > 1000, "{n}");
        }
    }
}
