//! The viewer's runtime state: the open document, the filter, the view
//! (which entries, in which order), the selection, and what the person
//! must be told. It changes only in `App::logic`: by the commands the
//! panels gave ([`AppState::apply`]) and by finished background tasks
//! ([`AppState::on_finished`]). Widget state (text being typed, open
//! windows) lives in the panels.

mod investigate;
mod results;
mod view;
mod work;

pub use investigate::{Found, Investigation, Pending};
pub use results::{Read, TaskResult};

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use auditlens_core::case::{CaseFile, Mark};
use auditlens_core::export::ExportReport;
use auditlens_core::filter::Filter;
use auditlens_core::job::Job;
use auditlens_core::patterns::{Pattern, PatternSettings};
use auditlens_core::row_index::{Counts, Index};

use crate::app::command::{Command, MarkEdit};
use crate::app::document::{Document, open_file};
use crate::app::filter_form::FilterForm;
use crate::app::histogram::Histogram;
use crate::app::query::{Base, QueryKey, Restriction};
use crate::app::rows::{Detail, RowCache, entry_json};
use crate::app::settings::Settings;
use crate::app::tasks::{Lifetime, Tasks};

/// Entries read first, so the table shows a page before the whole index is in.
const PREFIX_ROWS: u64 = 2_000;
/// Views up to this many entries have their timeline counted in the frame
/// (under a millisecond); larger ones on a worker.
pub const TIMELINE_IN_FRAME: usize = 200_000;
/// The label of the "bookmarked only" restriction.
pub const BOOKMARKED: &str = "Bookmarked entries";

/// Task names (thread names, and how the panels find a task's progress).
pub mod task {
    pub const OPEN: &str = "open";
    pub const INDEX: &str = "index";
    pub const TEXT_INDEX: &str = "text-index";
    pub const SIDECAR_CHECK: &str = "search-index-check";
    pub const HASH: &str = "sha256";
    pub const VERIFY: &str = "verify";
    pub const FILTER: &str = "filter";
    pub const SCAN: &str = "patterns";
    pub const EXPORT: &str = "export";
    pub const REPORT: &str = "report";
    pub const SAVE: &str = "save";
    pub const CASE: &str = "case-notes";
    pub const READ_FILE: &str = "read-file";
    pub const CLOSE: &str = "close";
    pub const READ_ROWS: &str = "read-rows";
    pub const COVERAGE: &str = "coverage";
    pub const INVESTIGATE: &str = "investigate";
    pub const TIMELINE: &str = "timeline";
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
    /// Positions (into the index) of the shown rows, in display order
    /// (shared with the worker that counts the timeline).
    pub view: Arc<Vec<u32>>,
    /// Bumped each time `view` changes.
    shown: u64,
    /// The timeline's counts of a view (`shown`), for a number of buckets.
    timeline: Option<((u64, usize), Arc<Histogram>)>,
    /// The counts a worker is making.
    timeline_pending: Option<(u64, usize)>,
    /// Views up to this many entries are counted in the frame
    /// ([`TIMELINE_IN_FRAME`]; tests lower it).
    pub timeline_in_frame: usize,
    /// Each facet's counts under the other filters, for the current view
    /// (the index's own counts until the first view is computed).
    pub facets: Option<Counts>,
    /// The query the view was computed (or is being computed) for.
    applied: Option<(u64, QueryKey)>,
    /// The last base (entries passing the filter's non-facet parts).
    base: Option<Base>,
    /// The search is too short to run at this size (see
    /// [`crate::app::text_index::search_waits`]): the view leaves it out,
    /// and this many entries wait for a longer one.
    pub search_waits: Option<u64>,
    /// Above this many entries to read, a search of one or two characters
    /// waits ([`crate::app::text_index::SHORT_SEARCH_ENTRIES`]; tests lower it).
    pub short_search_entries: usize,
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
    /// History, blast radius and names (`investigate.rs`).
    pub investigation: Investigation,
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
            view: Arc::default(),
            shown: 0,
            timeline: None,
            timeline_pending: None,
            timeline_in_frame: TIMELINE_IN_FRAME,
            facets: None,
            applied: None,
            base: None,
            search_waits: None,
            short_search_entries: crate::app::text_index::SHORT_SEARCH_ENTRIES,
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
            investigation: Investigation::default(),
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
            Command::Export {
                out,
                format,
                confirmed,
                complete,
            } => self.start_export(out, format, confirmed, complete),
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
            Command::LoadTickets { path, map } => self.load_tickets(&path, map),
            Command::ClearTickets => {
                let settings = PatternSettings {
                    tickets: None,
                    ..self.pattern_settings.clone()
                };
                self.set_pattern_settings(settings);
            }
            Command::ToggleChanges(status) => self.toggle_changes(status),
            Command::ShowHistory {
                label,
                resource_type,
                resource_id,
                project_id,
            } => self.start_history(label, resource_type, resource_id, project_id),
            Command::CloseHistory => self.investigation.history = None,
            Command::ShowBlastRadius(actor) => self.start_blast_radius(actor),
            Command::RestrictTo { label, seqs } => self.restrict_to(label, seqs),
            Command::LoadDirectory(p) => self.load_directory(Some(p)),
            Command::PickTickets
            | Command::PickOpen
            | Command::PickCheckpoint
            | Command::PickVerifierKey
            | Command::PickSealedArchive
            | Command::PickReport
            | Command::PickExportPath
            | Command::ShowExportWindow
            | Command::PickDirectory => {
                debug_assert!(false, "the viewer handles {c:?}");
            }
        }
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
    }

    /// Closes the open file: its tasks are cancelled, and the document is
    /// dropped on a worker (a platform export's temporary archive, possibly
    /// gigabytes, is deleted then: no file I/O in the frame).
    pub fn close(&mut self) {
        self.tasks.cancel_generation(self.generation);
        if let Some(doc) = self.doc.take() {
            self.spawn(
                task::CLOSE,
                Lifetime::Own,
                Arc::new(Job::new()),
                move |_| {
                    drop(doc);
                    Ok(())
                },
                TaskResult::Closed,
            );
        }
        self.base = None;
        self.show(Vec::new());
        self.facets = None;
        self.applied = None;
        self.selected = None;
        self.selected_row = None;
        self.detail = None;
        self.rows.clear();
        self.pending_jump = None;
        self.filter = FilterForm::default();
        self.restrict = None;
        self.investigation = Investigation::default();
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

    /// Is any background task running (the UI keeps repainting while so)?
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

    /// The filter of the rows shown: the current one, without its search
    /// while a short search waits for a third character (the rows are then
    /// those of the other filters). What an export or a report states, so
    /// that it holds the rows the person saw and says which they are.
    pub fn shown_filter(&self) -> Filter {
        let mut f = self.current_filter();
        if self.search_waits.is_some() {
            f.search = None;
        }
        f
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
        let seqs = report.seqs(p).unwrap_or_default().iter().copied().collect();
        self.set_restriction(Some((p.title().to_string(), seqs)));
    }

    /// Reads change tickets on a worker (a picked path may be slow, or a
    /// pipe that never ends: the window stays responsive), then scans again
    /// with them, so that each production change is reconciled (the
    /// "Changes without approval" pattern and the Change tickets panel). A
    /// mapping given is remembered for files with the same columns.
    pub fn load_tickets(&mut self, path: &std::path::Path, map: auditlens_core::tickets::Mapping) {
        use auditlens_core::tickets::{ChangeTickets, Layouts, ReadOptions};
        let path = path.to_path_buf();
        let utc_offset_minutes = self.pattern_settings.utc_offset_minutes;
        self.spawn(
            task::READ_FILE,
            Lifetime::Document,
            Arc::new(Job::new()),
            move |_| {
                let mut layouts = Layouts::load();
                let opts = ReadOptions {
                    map: map.clone(),
                    utc_offset_minutes,
                    layouts: Some(layouts.clone()),
                    exact: !map.is_empty(),
                };
                let t = ChangeTickets::read(&path, &opts)
                    .map_err(|e| format!("change tickets: {e}"))?;
                let not_remembered = (!map.is_empty())
                    .then(|| layouts.remember(&t).err())
                    .flatten()
                    .map(|e| format!("the columns were not remembered: {e}"));
                Ok(Box::new((t, not_remembered)))
            },
            TaskResult::Tickets,
        );
    }

    /// Scans again with the change tickets read.
    pub(super) fn tickets_read(&mut self, t: auditlens_core::tickets::ChangeTickets) {
        let settings = PatternSettings {
            tickets: Some(Arc::new(t)),
            ..self.pattern_settings.clone()
        };
        self.set_pattern_settings(settings);
    }

    /// Shows only the production changes with `status`; again to show everything.
    pub fn toggle_changes(&mut self, status: auditlens_core::reconcile::Status) {
        if self
            .restrict
            .as_ref()
            .is_some_and(|r| r.label == status.title())
        {
            self.set_restriction(None);
            return;
        }
        let Some(rec) = self
            .doc
            .as_ref()
            .and_then(|d| d.patterns.clone())
            .and_then(|p| p.reconciliation.clone())
        else {
            return;
        };
        let seqs = rec
            .changes
            .iter()
            .filter(|c| c.status == status)
            .map(|c| c.seq)
            .collect();
        self.set_restriction(Some((status.title().to_string(), seqs)));
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

    /// The case notes of `seq`, if any.
    pub fn mark(&self, seq: u64) -> Option<&Mark> {
        self.doc.as_ref()?.case.as_ref()?.mark(seq)
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

    /// The selected entry as JSON (with seq and hashes), for the clipboard.
    pub fn selected_json(&self) -> Option<String> {
        let d = self
            .detail
            .as_ref()
            .filter(|d| Some(d.seq) == self.selected)?;
        Some(entry_json(d.result.as_ref().ok()?))
    }
}
