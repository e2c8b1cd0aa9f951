//! The viewer's runtime state: the open document, the filter, the view
//! (which entries, in which order), the selection, and what the person
//! must be told. It changes only in `App::logic`: by the commands the
//! panels gave ([`AppState::apply`]) and by finished background tasks
//! ([`AppState::on_finished`]). Widget state (text being typed, open
//! windows) lives in the panels.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use auditlens_core::case::{CaseFile, Mark, case_path};
use auditlens_core::export::{ExportFormat, ExportReport};
use auditlens_core::filter::Filter;
use auditlens_core::job::Job;
use auditlens_core::note::VerifierKey;
use auditlens_core::patterns::{Pattern, PatternSettings, ScanReport};
use auditlens_core::proof::{self, AnchorInfo, SignedCheckpoint};
use auditlens_core::row_index::{self as index, Counts, Index, SortKey};
use auditlens_core::text_search::SearchIndex;
use auditlens_core::verify::Report;

use crate::app::command::{Command, MarkEdit};
use crate::app::document::{Document, Opened, VerifyState, open_file};
use crate::app::filter_form::FilterForm;
use crate::app::query::{
    self, Base, NeedsRecords, Query, QueryKey, Reads, Restriction, Sources, View,
};
use crate::app::rows::{Detail, RowCache, RowText, entry_json, read_rows};
use crate::app::settings::Settings;
use crate::app::tasks::{Finished, Lifetime, Outcome, Tasks};

/// Entries read first, so the table shows a page before the whole index is in.
const PREFIX_ROWS: u64 = 2_000;
/// The label of the "bookmarked only" restriction.
pub const BOOKMARKED: &str = "Bookmarked entries";

/// Task names (thread names, and how the panels find a task's progress).
pub mod task {
    pub const OPEN: &str = "open";
    pub const INDEX: &str = "index";
    pub const TEXT_INDEX: &str = "text-index";
    pub const HASH: &str = "sha256";
    pub const VERIFY: &str = "verify";
    pub const FILTER: &str = "filter";
    pub const SCAN: &str = "patterns";
    pub const EXPORT: &str = "export";
    pub const REPORT: &str = "report";
    pub const SAVE: &str = "save";
    pub const CASE: &str = "case-notes";
    pub const READ: &str = "read";
    pub const READ_ROWS: &str = "read-rows";
}

/// What a record read brings back: the rows, the selected entry, and the
/// read handle it was lent.
pub struct Read {
    archive: auditlens_core::archive::Archive,
    rows: Vec<(u64, RowText)>,
    detail: Option<Detail>,
}

/// What a finished task brings back, one variant per kind of task.
pub enum TaskResult {
    Read(Outcome<Box<Read>>),
    Opened(Outcome<Opened>),
    Index(Outcome<Arc<Index>>),
    TextIndex(Outcome<Arc<SearchIndex>>),
    Hash(Outcome<String>),
    Verified(Outcome<Box<(Report, Option<AnchorInfo>)>>),
    /// The view computed for view generation `.0`.
    View(Outcome<(u64, View)>),
    Scanned(Outcome<Arc<ScanReport>>),
    Exported(Outcome<ExportReport>),
    Reported(Outcome<PathBuf>),
    SavedSealed(Outcome<PathBuf>),
    Checkpoint(Outcome<SignedCheckpoint>),
    VerifierKey(Outcome<VerifierKey>),
    CaseSaved(Outcome<()>),
}

pub struct AppState {
    pub settings: Settings,
    pub doc: Option<Document>,
    /// The filter as the filter panel shows it.
    pub filter: FilterForm,
    /// What is wrong with a typed time, if anything.
    pub filter_error: Option<String>,
    pub restrict: Option<Restriction>,
    restrict_ids: u64,
    pub pattern_settings: PatternSettings,
    /// Positions (into the index) of the shown rows, in display order.
    pub view: Vec<u32>,
    /// Each facet's counts under the other filters, for the current view
    /// (the index's own counts until the first view is computed).
    pub facets: Option<Counts>,
    /// The query the view was computed (or is being computed) for.
    applied: Option<(u64, QueryKey)>,
    /// The last base (entries passing the filter's non-facet parts).
    base: Option<Base>,
    view_gen: u64,
    pub selected: Option<u64>,
    pub selected_row: Option<usize>,
    /// The last row to scroll into view, numbered so the table scrolls once per request.
    pub scroll_to_row: Option<(u64, usize)>,
    pending_jump: Option<u64>,
    pub rows: RowCache,
    pub detail: Option<Detail>,
    pub error: Option<String>,
    pub notice: Option<String>,
    /// How the last export ended.
    pub last_export: Option<Result<ExportReport, String>>,
    /// Case notes waiting for the running save to end.
    pending_case: Option<(PathBuf, CaseFile)>,
    generation: u64,
    pub tasks: Tasks<TaskResult>,
}

impl AppState {
    pub fn new(settings: Settings) -> Self {
        AppState {
            settings,
            doc: None,
            filter: FilterForm::default(),
            filter_error: None,
            restrict: None,
            restrict_ids: 0,
            pattern_settings: PatternSettings::default(),
            view: Vec::new(),
            facets: None,
            applied: None,
            base: None,
            view_gen: 0,
            selected: None,
            selected_row: None,
            scroll_to_row: None,
            pending_jump: None,
            rows: RowCache::default(),
            detail: None,
            error: None,
            notice: None,
            last_export: None,
            pending_case: None,
            generation: 0,
            tasks: Tasks::default(),
        }
    }

    /// Applies one command (in `App::logic`). Commands that need a dialog
    /// or a window are handled by the viewer before they get here.
    pub fn apply(&mut self, c: Command) {
        match c {
            Command::Open(p) => self.open(p),
            Command::OpenAny(p) => self.open_any(p),
            Command::Verify => self.start_verify(),
            Command::CancelVerify => self.cancel_verify(),
            Command::Export { out, format } => self.start_export(out, format),
            Command::CancelExport => {
                for j in self.tasks.running(task::EXPORT) {
                    j.cancel();
                }
            }
            Command::SetFilter(f) => self.filter = f,
            Command::ClearSearch => self.filter.search.clear(),
            Command::SetTimeRange(Some((from, to))) => self.filter.set_time_range(from, to),
            Command::SetTimeRange(None) => self.filter.clear_time_range(),
            Command::ClearFilters => {
                self.filter = FilterForm::default();
                self.set_restriction(None);
            }
            Command::ShowActor(key) => {
                self.filter = FilterForm {
                    actor: key,
                    ..FilterForm::default()
                };
                self.set_restriction(None);
            }
            Command::TogglePattern(p) => self.toggle_pattern(p),
            Command::ToggleBookmarkedOnly => self.toggle_bookmarked_only(),
            Command::ShowAll => self.set_restriction(None),
            Command::SetPatternSettings(p) => self.set_pattern_settings(p),
            Command::Sort(k) => self.settings.sort_by(k),
            Command::SelectRow(r) => self.select_row(r),
            Command::ClickRow(r) => self.select(r, false),
            Command::SelectSeq(s) => self.select_seq(s),
            Command::Deselect => {
                self.selected = None;
                self.selected_row = None;
            }
            Command::EditMark {
                seq,
                entry_id,
                edit,
            } => self.edit_mark(seq, &entry_id, |m| match edit {
                MarkEdit::Bookmark(on) => m.bookmarked = on,
                MarkEdit::Notes { tags, note } => {
                    m.tags = tags;
                    m.note = note;
                }
            }),
            Command::ToggleTheme => self.settings.dark = !self.settings.dark,
            Command::ToggleLocalTime => self.settings.local_time = !self.settings.local_time,
            Command::DismissError => self.error = None,
            Command::PickOpen
            | Command::PickCheckpoint
            | Command::PickVerifierKey
            | Command::PickSealedArchive
            | Command::PickReport
            | Command::PickExportPath
            | Command::ShowExportWindow
            | Command::ShowOpenPathWindow => {
                debug_assert!(false, "the viewer handles {c:?}");
            }
        }
    }

    /// Spawns a task for the open document.
    fn spawn<T: Send + 'static>(
        &mut self,
        name: &'static str,
        lifetime: Lifetime,
        job: Arc<Job>,
        work: impl FnOnce(&Job) -> Result<T, String> + Send + 'static,
        wrap: fn(Outcome<T>) -> TaskResult,
    ) -> Arc<Job> {
        self.tasks
            .spawn(name, self.generation, lifetime, job, work, wrap)
    }

    /// Opens a file: archive, auditlens export or platform export (by content).
    pub fn open(&mut self, path: PathBuf) {
        self.close();
        self.generation += 1;
        self.settings.remember(&path);
        let job = Arc::new(Job::new());
        self.doc = Some(Document::opening(path.clone(), job.clone()));
        let p = path.clone();
        self.spawn(
            task::OPEN,
            Lifetime::Document,
            job,
            move |job| open_file(&p, job),
            TaskResult::Opened,
        );
        self.spawn(
            task::HASH,
            Lifetime::Document,
            Arc::new(Job::new()),
            move |_| auditlens_core::digest::file_sha256(&path).map_err(|e| e.to_string()),
            TaskResult::Hash,
        );
    }

    pub fn close(&mut self) {
        self.tasks.cancel_generation(self.generation);
        self.doc = None;
        self.base = None;
        self.view.clear();
        self.facets = None;
        self.applied = None;
        self.selected = None;
        self.selected_row = None;
        self.detail = None;
        self.rows.clear();
        self.pending_jump = None;
        self.filter = FilterForm::default();
        self.restrict = None;
    }

    /// (Re)starts verification of the open file, with the loaded checkpoint if any.
    pub fn start_verify(&mut self) {
        let keys = self.settings.keys();
        let Some(doc) = &mut self.doc else { return };
        if doc.unsealed {
            doc.verify = VerifyState::Unsealed;
            return;
        }
        if let VerifyState::Running(j) = &doc.verify {
            j.cancel();
        }
        let path = doc.path.clone();
        let checkpoint = doc.checkpoint.clone();
        let job = self.spawn(
            task::VERIFY,
            Lifetime::Document,
            Arc::new(Job::new()),
            move |job| {
                let r = proof::verify_signed(&path, checkpoint.as_ref(), &keys, job)
                    .map(Box::new)
                    .map_err(|e| e.to_string());
                index::release_free_memory();
                r
            },
            TaskResult::Verified,
        );
        if let Some(doc) = &mut self.doc {
            doc.verify = VerifyState::Running(job);
        }
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

    /// Reads a verifier key (KEY.pub), then verifies again, now checking
    /// the checkpoint's signatures against it.
    pub fn add_verifier_key(&mut self, path: &Path) {
        let p = path.to_path_buf();
        self.spawn(
            task::READ,
            Lifetime::Own,
            Arc::new(Job::new()),
            move |_| {
                std::fs::read_to_string(&p)
                    .map_err(|e| e.to_string())
                    .and_then(|t| VerifierKey::parse(&t).map_err(|e| e.to_string()))
                    .map_err(|e| format!("{} is not a verifier key: {e}", p.display()))
            },
            TaskResult::VerifierKey,
        );
    }

    /// Reads a checkpoint file, then verifies against it.
    pub fn load_checkpoint(&mut self, path: &Path) {
        let p = path.to_path_buf();
        self.spawn(
            task::READ,
            Lifetime::Document,
            Arc::new(Job::new()),
            move |_| {
                std::fs::read_to_string(&p)
                    .map_err(|e| e.to_string())
                    .and_then(|t| SignedCheckpoint::parse(&t))
                    .map_err(|e| format!("{} is not a checkpoint: {e}", p.display()))
            },
            TaskResult::Checkpoint,
        );
    }

    /// Takes in what the finished tasks brought (once per frame).
    pub fn on_finished(&mut self, done: Vec<Finished<TaskResult>>) {
        for f in done {
            let current = f.generation == self.generation && self.doc.is_some();
            self.on_result(f.result, current);
        }
    }

    fn on_result(&mut self, result: TaskResult, current: bool) {
        use Outcome::{Cancelled, Done, Failed};
        match result {
            // Results of work on a closed document are dropped.
            TaskResult::Opened(_)
            | TaskResult::Read(_)
            | TaskResult::Index(_)
            | TaskResult::TextIndex(_)
            | TaskResult::Hash(_)
            | TaskResult::Verified(_)
            | TaskResult::View(_)
            | TaskResult::Scanned(_)
            | TaskResult::Checkpoint(_)
                if !current => {}
            TaskResult::Opened(Done(o)) => {
                if let Some(e) = &o.case_error {
                    self.notice = Some(e.clone());
                }
                if let Some(doc) = &mut self.doc {
                    doc.opened(o);
                }
                self.start_verify();
                self.load_index(Some(PREFIX_ROWS));
            }
            TaskResult::Index(Done(ix)) => {
                let complete = ix.complete;
                if let Some(doc) = &mut self.doc {
                    doc.index = Some(ix);
                }
                self.applied = None;
                if complete {
                    self.start_text_index();
                    self.start_patterns();
                } else {
                    self.load_index(None);
                }
            }
            TaskResult::Read(Done(r)) => {
                let Read {
                    archive,
                    rows,
                    detail,
                } = *r;
                if let Some(doc) = &mut self.doc {
                    doc.archive = Some(archive);
                }
                self.rows.insert(rows);
                if let Some(d) = detail.filter(|d| Some(d.seq) == self.selected) {
                    self.detail = Some(d);
                }
            }
            TaskResult::Read(Failed(e)) => {
                // The archive cannot be opened for reading: say so once.
                if let Some(doc) = &mut self.doc {
                    doc.read_error = Some(e.clone());
                }
                self.error = Some(e);
            }
            TaskResult::Opened(Failed(e)) | TaskResult::Index(Failed(e)) => {
                self.error = Some(e);
                self.close();
            }
            TaskResult::TextIndex(Done(si)) => {
                if let Some(doc) = &mut self.doc {
                    doc.search = Some(si);
                }
                // A search still reading records is redone on the index;
                // the Resource column sorts by the text index's ranks.
                if (self.tasks.is_running(task::FILTER) && !self.filter.search.is_empty())
                    || self.settings.sort == SortKey::Resource
                {
                    self.applied = None;
                }
            }
            TaskResult::TextIndex(Failed(e)) => self.notice = Some(format!("text index: {e}")),
            TaskResult::Hash(Done(hex)) => {
                if let Some(doc) = &mut self.doc {
                    doc.sha256 = Some(hex);
                }
            }
            TaskResult::Hash(Failed(e)) => self.notice = Some(format!("SHA-256: {e}")),
            TaskResult::Verified(outcome) => {
                let Some(doc) = &mut self.doc else { return };
                // A cancelled run that a newer one replaced says nothing.
                let replaced = matches!(&doc.verify, VerifyState::Running(j) if !j.is_cancelled());
                doc.verify = match outcome {
                    Done(done) => {
                        let (r, anchor) = *done;
                        doc.anchor = anchor;
                        doc.finding_seqs = r.findings.iter().filter_map(|f| f.seq).collect();
                        VerifyState::Done(Box::new(r))
                    }
                    Cancelled if replaced => return,
                    Cancelled => VerifyState::Cancelled,
                    Failed(e) => VerifyState::Failed(e),
                };
            }
            TaskResult::View(Done((view_gen, v))) if view_gen == self.view_gen => {
                self.set_view(v);
            }
            TaskResult::View(Failed(e)) => self.error = Some(e),
            TaskResult::Scanned(Done(r)) => {
                if let Some(doc) = &mut self.doc {
                    doc.patterns = Some(r);
                }
            }
            TaskResult::Scanned(Failed(e)) => self.notice = Some(format!("patterns: {e}")),
            TaskResult::Checkpoint(Done(c)) => {
                if let Some(d) = &mut self.doc {
                    d.checkpoint = Some(c);
                }
                self.start_verify();
            }
            TaskResult::VerifierKey(Done(k)) => {
                let text = k.to_text();
                if !self.settings.verifier_keys.contains(&text) {
                    self.settings.verifier_keys.push(text);
                }
                self.notice = Some(format!("verifier key {} added", k.name));
                self.start_verify();
            }
            TaskResult::Checkpoint(Failed(e)) | TaskResult::VerifierKey(Failed(e)) => {
                self.error = Some(e)
            }
            TaskResult::Exported(outcome) => {
                self.last_export = match outcome {
                    Done(r) => Some(Ok(r)),
                    Failed(e) => Some(Err(e)),
                    Cancelled => Some(Err("export cancelled; nothing was written".into())),
                };
            }
            TaskResult::Reported(Done(p)) => {
                self.notice = Some(format!("report written to {}", p.display()))
            }
            TaskResult::Reported(Failed(e)) => self.error = Some(format!("report: {e}")),
            TaskResult::SavedSealed(Done(p)) => {
                self.notice = Some(format!("saved sealed archive {}", p.display()))
            }
            TaskResult::SavedSealed(Failed(e)) => self.error = Some(e),
            TaskResult::CaseSaved(outcome) => {
                if let Failed(e) = outcome {
                    self.error = Some(format!("case notes not saved: {e}"));
                }
                self.save_pending_case();
            }
            // Cancelled work and superseded views: nothing to show.
            TaskResult::Opened(Cancelled)
            | TaskResult::Read(Cancelled)
            | TaskResult::Index(Cancelled)
            | TaskResult::TextIndex(Cancelled)
            | TaskResult::Hash(Cancelled)
            | TaskResult::View(_)
            | TaskResult::Scanned(Cancelled)
            | TaskResult::Reported(Cancelled)
            | TaskResult::SavedSealed(Cancelled)
            | TaskResult::Checkpoint(Cancelled)
            | TaskResult::VerifierKey(Cancelled) => {}
        }
    }

    /// Loads the row index on a worker: with `prefix`, only the first (or,
    /// sorted newest first, the last) entries, to show a page at once.
    fn load_index(&mut self, prefix: Option<u64>) {
        let Some(path) = self.doc.as_ref().and_then(|d| d.archive_path.clone()) else {
            return;
        };
        let newest_first =
            self.settings.sort_desc && matches!(self.settings.sort, SortKey::Seq | SortKey::Time);
        let job = Arc::new(Job::new());
        if let Some(d) = &mut self.doc {
            d.load_job = job.clone();
        }
        self.spawn(
            task::INDEX,
            Lifetime::Document,
            job,
            move |job| {
                let ix = match prefix {
                    Some(n) => Index::load_prefix(&path, n, newest_first, job),
                    None => Index::load(&path, job),
                };
                index::release_free_memory();
                ix.map(Arc::new)
            },
            TaskResult::Index,
        );
    }

    /// Builds the free-text index on a worker thread (after the index).
    fn start_text_index(&mut self) {
        let Some(doc) = &self.doc else { return };
        let (Some(ix), Some(path)) = (doc.index.clone(), doc.archive_path.clone()) else {
            return;
        };
        self.spawn(
            task::TEXT_INDEX,
            Lifetime::Document,
            Arc::new(Job::new()),
            move |job| {
                let si = SearchIndex::build(&path, &ix, job).map(Arc::new);
                index::release_free_memory();
                si
            },
            TaskResult::TextIndex,
        );
    }

    /// Finds the patterns to watch on a worker thread (after the index), with
    /// the core's scanner, as `auditlens scan` does.
    fn start_patterns(&mut self) {
        let settings = self.pattern_settings.clone();
        let Some(path) = self.doc.as_ref().and_then(|d| d.archive_path.clone()) else {
            return;
        };
        self.spawn(
            task::SCAN,
            Lifetime::Document,
            Arc::new(Job::new()),
            move |job| {
                auditlens_core::archive::Archive::open(&path)
                    .map_err(|e| e.0)
                    .and_then(|a| auditlens_core::patterns::scan_archive(&a, &settings, job))
                    .map(Arc::new)
            },
            TaskResult::Scanned,
        );
    }

    /// Is any background work running, or is the view about to be
    /// recomputed (the UI keeps repainting while so)?
    pub fn busy(&self) -> bool {
        self.tasks.any()
    }

    pub fn index(&self) -> Option<&Arc<Index>> {
        self.doc.as_ref().and_then(|d| d.index.as_ref())
    }

    /// The core filter for the current settings.
    pub fn current_filter(&self) -> Filter {
        let newest = self.index().and_then(|i| i.time_span()).map(|(_, max)| max);
        self.filter.to_filter(newest).0
    }

    /// The query for the current filter, sort and restriction.
    fn query(&self) -> Query {
        Query {
            filter: self.current_filter(),
            sort: self.settings.sort,
            descending: self.settings.sort_desc,
            restriction: self.restrict.clone(),
        }
    }

    /// No background work is running and the view reflects the current filter and sort.
    pub fn settled(&self) -> bool {
        let Some(ix) = self.index() else {
            return !self.busy();
        };
        ix.complete
            && !self.busy()
            && self.applied.as_ref() == Some(&(self.generation, self.query().key()))
    }

    /// Recomputes the view when the filter, sort or restriction changed
    /// since the last time: in the frame when that is cheap and reads no
    /// record, else on a worker (the last one is cancelled).
    pub fn refresh_view(&mut self) {
        let Some(ix) = self.index().cloned() else {
            return;
        };
        let newest = ix.time_span().map(|(_, max)| max);
        self.filter_error = self.filter.to_filter(newest).1;
        let q = self.query();
        let key = (self.generation, q.key());
        if self.applied.as_ref() == Some(&key) {
            return;
        }
        self.applied = Some(key);
        for j in self.tasks.running(task::FILTER) {
            j.cancel();
        }
        self.view_gen += 1;
        if !ix.complete {
            // The first page only, unfiltered, until the whole index is in.
            let mut v: Vec<u32> = (0..ix.len() as u32).collect();
            ix.sort(&mut v, q.sort, q.descending, None);
            self.view = v;
            self.after_view_change();
            return;
        }
        let Some(doc) = &self.doc else { return };
        let Some(archive) = doc.archive_path.clone() else {
            return;
        };
        let text = doc.search.clone();
        let src = Sources {
            index: &ix,
            text: text.as_deref(),
            archive: &archive,
        };
        match query::compute(
            &src,
            &q,
            self.base.as_ref(),
            Reads::IndexesOnly,
            &Job::new(),
        ) {
            Ok(Ok(v)) => return self.set_view(v),
            Ok(Err(NeedsRecords)) => {}
            Err(e) => return self.error = Some(e),
        }
        let prior = self.base.clone();
        let view_gen = self.view_gen;
        self.spawn(
            task::FILTER,
            Lifetime::Document,
            Arc::new(Job::new()),
            move |job| {
                let src = Sources {
                    index: &ix,
                    text: text.as_deref(),
                    archive: &archive,
                };
                match query::compute(&src, &q, prior.as_ref(), Reads::Records, job)? {
                    Ok(v) => Ok((view_gen, v)),
                    Err(NeedsRecords) => Err("the view needs the records".into()),
                }
            },
            TaskResult::View,
        );
    }

    fn set_view(&mut self, v: View) {
        self.view = v.rows;
        self.facets = Some(v.facets);
        self.base = Some(v.base);
        self.after_view_change();
    }

    /// Keeps the selection on its entry if still shown, or makes a pending jump.
    fn after_view_change(&mut self) {
        if let Some(seq) = self.pending_jump.take() {
            self.select_seq(seq);
            return;
        }
        self.selected_row = self.selected.and_then(|s| self.row_of_seq(s));
        if self.selected_row.is_none() {
            self.selected = None;
        }
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

    /// Changes the case notes of `seq` and saves the case file beside the
    /// archive (on a worker; a failure is shown).
    pub fn edit_mark(&mut self, seq: u64, entry_id: &str, edit: impl FnOnce(&mut Mark)) {
        let Some(doc) = &mut self.doc else { return };
        if !doc.is_sealed_archive() {
            self.notice =
                Some("case notes need a sealed archive: save this file as one first".to_string());
            return;
        }
        let Some(case) = &mut doc.case else {
            let path = case_path(&doc.path);
            // Read when the archive was opened; absent only if that failed.
            self.error = Some(format!(
                "{} could not be read when the archive was opened, so notes cannot be \
                 saved there; move it aside and open the archive again",
                path.display()
            ));
            return;
        };
        edit(case.mark_mut(seq, entry_id));
        self.save_case();
    }

    /// Saves the case file on a worker, one save at a time: an edit made
    /// while a save runs is saved when it ends (even if the document was
    /// closed meanwhile), so an older state is never renamed into place
    /// after a newer one.
    fn save_case(&mut self) {
        let Some(doc) = &self.doc else { return };
        let Some(case) = doc.case.clone() else { return };
        self.pending_case = Some((case_path(&doc.path), case));
        self.save_pending_case();
    }

    fn save_pending_case(&mut self) {
        if self.tasks.is_running(task::CASE) {
            return;
        }
        let Some((path, case)) = self.pending_case.take() else {
            return;
        };
        self.spawn(
            task::CASE,
            Lifetime::Own,
            Arc::new(Job::new()),
            move |_| case.save(&path),
            TaskResult::CaseSaved,
        );
    }

    /// The case notes of `seq`, if any.
    pub fn mark(&self, seq: u64) -> Option<&Mark> {
        self.doc.as_ref()?.case.as_ref()?.mark(seq)
    }

    /// Writes the auditor report (and its JSON twin) for the open archive,
    /// with the current filter, checkpoint, keys and case notes.
    pub fn start_report(&mut self, out: PathBuf) {
        let Some(doc) = &self.doc else { return };
        if !doc.is_sealed_archive() {
            self.error =
                Some("the report is about a sealed archive: save this file as one first".into());
            return;
        }
        let path = doc.path.clone();
        let checkpoint = doc.checkpoint.clone();
        let case = doc.case.clone();
        let filter = self.current_filter();
        let settings = self.pattern_settings.clone();
        let keys = self.settings.keys();
        self.notice = Some("writing the report…".into());
        self.spawn(
            task::REPORT,
            Lifetime::Own,
            Arc::new(Job::new()),
            move |job| {
                use auditlens_core::audit_report::{ReportInput, gather, to_html};
                let facts = gather(
                    &ReportInput {
                        archive: &path,
                        checkpoint: checkpoint.as_ref(),
                        keys: &keys,
                        filter: &filter,
                        patterns: &settings,
                        case: case.as_ref(),
                    },
                    job,
                )?;
                let twin = out.with_extension("json");
                std::fs::write(&out, to_html(&facts))
                    .and_then(|_| {
                        std::fs::write(
                            &twin,
                            serde_json::to_string_pretty(&facts).unwrap_or_default(),
                        )
                    })
                    .map_err(|e| format!("{}: {e}", out.display()))?;
                Ok(out)
            },
            TaskResult::Reported,
        );
    }

    /// Starts exporting the shown entries with the core exporter.
    pub fn start_export(&mut self, out: PathBuf, format: ExportFormat) {
        let Some(archive_path) = self.doc.as_ref().and_then(|d| d.archive_path.clone()) else {
            return;
        };
        let Some(ix) = self.index().cloned() else {
            return;
        };
        let mut seqs: Vec<u64> = self.view.iter().map(|&p| ix.seq(p as usize)).collect();
        seqs.sort_unstable();
        let filter = self.current_filter();
        self.last_export = None;
        self.spawn(
            task::EXPORT,
            Lifetime::Own,
            Arc::new(Job::new()),
            move |job| {
                let a = auditlens_core::archive::Archive::open(&archive_path).map_err(|e| e.0)?;
                auditlens_core::export::export_seqs(&a, &filter, Some(&seqs), format, &out, job)
                    .map_err(|e| e.to_string())
            },
            TaskResult::Exported,
        );
    }

    /// Copies the temporary archive of an unsealed export to `out`.
    pub fn save_sealed(&mut self, out: &Path) {
        let Some(src) = self.doc.as_ref().and_then(|d| d.archive_path.clone()) else {
            return;
        };
        let out = out.to_path_buf();
        self.spawn(
            task::SAVE,
            Lifetime::Own,
            Arc::new(Job::new()),
            move |_| {
                if out.exists() {
                    return Err(format!(
                        "{} already exists; choose a new file name",
                        out.display()
                    ));
                }
                std::fs::copy(&src, &out).map_err(|e| format!("{}: {e}", out.display()))?;
                Ok(out)
            },
            TaskResult::SavedSealed,
        );
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
        self.select(row, true);
    }

    /// Selects a display row (clamped); `scroll` brings it into view (a
    /// clicked row is in view already).
    fn select(&mut self, row: usize, scroll: bool) {
        if self.view.is_empty() {
            return;
        }
        let row = row.min(self.view.len() - 1);
        self.selected_row = Some(row);
        self.selected = self.seq_at(row);
        if scroll {
            let id = self.scroll_to_row.map_or(1, |(id, _)| id + 1);
            self.scroll_to_row = Some((id, row));
        }
    }

    /// Selects an entry by seq, clearing the filter if it hides the entry.
    pub fn select_seq(&mut self, seq: u64) {
        if let Some(row) = self.row_of_seq(seq) {
            self.select_row(row);
        } else if self.index().is_some_and(|i| !i.complete) {
            // Jump once the whole index is in.
            self.pending_jump = Some(seq);
        } else if self.index().and_then(|i| i.position(seq)).is_some() {
            self.filter = FilterForm::default();
            self.set_restriction(None);
            self.pending_jump = Some(seq);
            self.refresh_view();
        } else {
            self.notice = Some(format!("entry {seq} is not in the archive"));
        }
    }

    /// Reads what the frame will show from the records, on a worker: the
    /// table rows of `seqs` that are not cached and the selected entry in
    /// full. Measured on a million entries, a screenful of rows costs
    /// about a millisecond and more when cold (`benches/viewer.rs`), too
    /// much for a frame. One read at a time, with the document's read
    /// handle lent to it; the table shows "…" until the rows are in.
    pub fn read_shown(&mut self, seqs: &[u64]) {
        if self.selected.is_none() {
            self.detail = None;
        }
        if self.tasks.is_running(task::READ_ROWS) {
            return;
        }
        let entry = self
            .selected
            .filter(|&s| self.detail.as_ref().is_none_or(|d| d.seq != s));
        let rows = self.rows.missing(seqs);
        if rows.is_empty() && entry.is_none() {
            return;
        }
        let Some(doc) = &mut self.doc else { return };
        let Some(path) = doc.archive_path.clone() else {
            return;
        };
        if doc.read_error.is_some() {
            return;
        }
        // Lent to the task; a task that fails loses it and the next opens one.
        let lent = doc.archive.take();
        self.spawn(
            task::READ_ROWS,
            Lifetime::Document,
            Arc::new(Job::new()),
            move |_| {
                let archive = match lent {
                    Some(a) => a,
                    None => auditlens_core::archive::Archive::open(&path).map_err(|e| e.0)?,
                };
                let rows = read_rows(&archive, &rows);
                let detail = entry.map(|seq| Detail::read(&archive, seq));
                Ok(Box::new(Read {
                    archive,
                    rows,
                    detail,
                }))
            },
            TaskResult::Read,
        );
    }

    /// The selected entry as JSON (with seq and hashes), for the clipboard.
    pub fn selected_json(&self) -> Option<String> {
        let d = self
            .detail
            .as_ref()
            .filter(|d| Some(d.seq) == self.selected)?;
        Some(entry_json(d.result.as_ref().ok()?))
    }
}
