//! Taking in what finished tasks bring back (once per frame, in `App::logic`).
//! Results of work on a document that was closed since are dropped.

use std::path::PathBuf;
use std::sync::Arc;

use auditlens_core::export::ExportReport;
use auditlens_core::note::VerifierKey;
use auditlens_core::patterns::ScanReport;
use auditlens_core::proof::SignedCheckpoint;
use auditlens_core::row_index::{Index, SortKey};
use auditlens_core::verify::AnchorInfo;
use auditlens_core::verify::Report;

use super::{AppState, PREFIX_ROWS, task};
use crate::app::document::{Opened, VerifyState};
use crate::app::query::View;
use crate::app::rows::{Detail, RowText};
use crate::app::tasks::{Finished, Outcome};

/// What a record read brings back: the rows, the selected entry, and the
/// read handle it was lent.
pub struct Read {
    pub(super) archive: auditlens_core::archive::Archive,
    pub(super) rows: Vec<(u64, RowText)>,
    pub(super) detail: Option<Detail>,
}

/// What a finished task brings back, one variant per kind of task.
pub enum TaskResult {
    Read(Outcome<Box<Read>>),
    Opened(Outcome<Opened>),
    Index(Outcome<Arc<Index>>),
    TextIndex(Outcome<Box<crate::app::text_index::Ready>>),
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
    /// A closed document was dropped.
    Closed(Outcome<()>),
    Coverage(Outcome<Arc<auditlens_core::coverage::Coverage>>),
    /// A history, a blast radius or a directory (`investigate.rs`).
    Investigated(Outcome<super::Found>),
    /// Change tickets read, and why their columns were not remembered.
    Tickets(Outcome<Box<(auditlens_core::tickets::ChangeTickets, Option<String>)>>),
    /// The search sidecar's file, checked (see `SidecarCheck`).
    SidecarChecked(
        Outcome<
            Box<
                Result<
                    auditlens_core::archive::search_sidecar::TrustedFile,
                    auditlens_core::archive::search_sidecar::Found,
                >,
            >,
        >,
    ),
    /// The timeline's counts of view `.0.0`, in `.0.1` buckets.
    Timeline(Outcome<((u64, usize), Arc<crate::app::histogram::Histogram>)>),
}

impl AppState {
    /// Takes in what the finished tasks brought (once per frame).
    pub fn on_finished(&mut self, done: Vec<Finished<TaskResult>>) {
        for f in done {
            let current = f.generation == self.generation && self.doc.is_some();
            self.on_result(f.result, current);
        }
    }

    pub(super) fn on_result(&mut self, result: TaskResult, current: bool) {
        use Outcome::{Cancelled, Done, Failed};
        match result {
            // Results of work on a closed document are dropped.
            TaskResult::Opened(_)
            | TaskResult::Read(_)
            | TaskResult::Index(_)
            | TaskResult::TextIndex(_)
            | TaskResult::SidecarChecked(_)
            | TaskResult::Hash(_)
            | TaskResult::Verified(_)
            | TaskResult::View(_)
            | TaskResult::Scanned(_)
            | TaskResult::Checkpoint(_)
            | TaskResult::Tickets(_)
            | TaskResult::Coverage(_)
            | TaskResult::Investigated(_)
            | TaskResult::Timeline(_)
                if !current => {}
            TaskResult::Opened(Done(o)) => {
                if let Some(e) = &o.case_error {
                    self.notice = Some(e.clone());
                }
                if let Some(doc) = &mut self.doc {
                    doc.opened(o);
                }
                // Names remembered beside the archive, if any.
                self.load_directory(None);
                self.start_sidecar_check();
                self.verify_after_index();
                if self.doc.as_ref().is_some_and(|d| d.archive_path.is_none()) {
                    self.start_file_hash();
                }
                self.load_index(Some(PREFIX_ROWS));
            }
            TaskResult::Index(Done(ix)) => {
                let complete = ix.complete;
                if let Some(doc) = &mut self.doc {
                    doc.index = Some(ix);
                }
                self.applied = None;
                if complete {
                    if self.doc.as_ref().is_some_and(|d| d.verify_after_index) {
                        self.start_verify();
                    }
                    self.start_file_hash();
                    self.start_text_index();
                    self.start_patterns();
                    self.start_coverage();
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
            TaskResult::TextIndex(Done(ready)) => {
                let ready = *ready;
                if let Some((path, digest)) = ready.built {
                    self.settings.trust_search_index(path, digest);
                }
                if let Some(n) = ready.notice {
                    self.notice = Some(n);
                }
                if let Some(doc) = &mut self.doc {
                    doc.search = Some(Arc::new(ready.index));
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
            TaskResult::SidecarChecked(outcome) => {
                let Some(doc) = &mut self.doc else { return };
                // Failed or cancelled: the text index checks the file itself.
                doc.sidecar_check = match outcome {
                    Done(found) => Some(crate::app::text_index::SidecarCheck::Done(*found)),
                    Failed(_) | Cancelled => None,
                };
                self.start_text_index();
            }
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
            TaskResult::Tickets(Done(t)) => {
                let (tickets, not_remembered) = *t;
                if let Some(why) = not_remembered {
                    self.notice = Some(why);
                }
                self.tickets_read(tickets);
            }
            TaskResult::Checkpoint(Failed(e))
            | TaskResult::VerifierKey(Failed(e))
            | TaskResult::Tickets(Failed(e)) => self.error = Some(e),
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
            | TaskResult::VerifierKey(Cancelled)
            | TaskResult::Tickets(Cancelled)
            | TaskResult::Closed(Done(()) | Cancelled) => {}
            TaskResult::Closed(Failed(e)) => self.notice = Some(format!("closing: {e}")),
            TaskResult::Coverage(Done(c)) => {
                if let Some(doc) = &mut self.doc {
                    doc.coverage = Some(c);
                }
            }
            TaskResult::Coverage(Failed(e)) => self.notice = Some(format!("coverage: {e}")),
            TaskResult::Coverage(Cancelled) => {}
            TaskResult::Investigated(outcome) => self.on_investigated(outcome),
            TaskResult::Timeline(Done((key, h))) => self.counted_timeline(key, h),
            TaskResult::Timeline(Failed(_) | Cancelled) => {}
        }
    }
}
