//! Starting the background work of the open document and of the person's
//! saves: each through the one task runner, with a typed result.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use auditlens_core::archive::search_sidecar;
use auditlens_core::case::{Mark, case_path};
use auditlens_core::export::ExportFormat;
use auditlens_core::job::Job;
use auditlens_core::note::{self, VerifierKey};
use auditlens_core::output::{Destination, Output};
use auditlens_core::proof::SignedCheckpoint;
use auditlens_core::row_index::{self as index, Index, SortKey};

use super::{AppState, Read, TaskResult, task};
use crate::app::document::VerifyState;
use crate::app::rows::{Detail, read_rows};
use crate::app::tasks::{Lifetime, Outcome};
use crate::app::text_index;

impl AppState {
    /// Spawns a task for the open document.
    pub(super) fn spawn<T: Send + 'static>(
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

    /// Verification of an archive waits for its row index: both read the
    /// whole file on every core, and the table, its filters and search are
    /// what a person waits for. At ten million entries the index took 38 s
    /// beside verification and the file's hash, 8 s alone; verification
    /// then takes its 24 s.
    pub(super) fn verify_after_index(&mut self) {
        let Some(doc) = &mut self.doc else { return };
        if doc.unsealed || doc.archive_path.is_none() {
            return self.start_verify();
        }
        let waiting = Arc::new(Job::new());
        waiting.start_phase("after the table's index", 0);
        doc.verify = VerifyState::Running(waiting);
        doc.verify_after_index = true;
    }

    /// Hashes the opened file (SHA-256, for the status bar): for an archive,
    /// once its row index is complete, for the reason verification waits.
    pub(super) fn start_file_hash(&mut self) {
        let Some(doc) = &self.doc else { return };
        if doc.sha256.is_some() || self.tasks.is_running(task::HASH) {
            return;
        }
        let path = doc.path.clone();
        self.spawn(
            task::HASH,
            Lifetime::Document,
            Arc::new(Job::new()),
            move |_| auditlens_core::digest::file_sha256(&path).map_err(|e| e.to_string()),
            TaskResult::Hash,
        );
    }

    /// (Re)starts verification of the open file, with the loaded checkpoint if any.
    pub fn start_verify(&mut self) {
        let keys = self.settings.keys();
        let Some(doc) = &mut self.doc else { return };
        doc.verify_after_index = false;
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
                let r =
                    auditlens_core::verify::verify_signed(&path, checkpoint.as_ref(), &keys, job)
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
            if doc.verify_after_index {
                // Not started: nothing will report the cancel.
                doc.verify_after_index = false;
                doc.verify = VerifyState::Cancelled;
            }
        }
    }

    /// Reads a verifier key (KEY.pub), then verifies again, now checking
    /// the checkpoint's signatures against it.
    pub fn add_verifier_key(&mut self, path: &Path) {
        self.read_file(
            path,
            "a verifier key",
            Lifetime::Own,
            |t| VerifierKey::parse(t).map_err(|e| e.to_string()),
            TaskResult::VerifierKey,
        );
    }

    /// Reads a checkpoint file, then verifies against it.
    pub fn load_checkpoint(&mut self, path: &Path) {
        self.read_file(
            path,
            "a checkpoint",
            Lifetime::Document,
            SignedCheckpoint::parse,
            TaskResult::Checkpoint,
        );
    }

    /// Reads a small text file the person picked and parses it, on a worker
    /// (a picked path may be slow, or a pipe that never ends: the window
    /// stays responsive).
    fn read_file<T: Send + 'static>(
        &mut self,
        path: &Path,
        what: &'static str,
        lifetime: Lifetime,
        parse: fn(&str) -> Result<T, String>,
        wrap: fn(Outcome<T>) -> TaskResult,
    ) {
        let p = path.to_path_buf();
        self.spawn(
            task::READ_FILE,
            lifetime,
            Arc::new(Job::new()),
            move |_| {
                // Bounded: a huge or endless file is refused, not loaded.
                let text = note::read_small_file(&p)?;
                parse(&text).map_err(|e| format!("{} is not {what}: {e}", p.display()))
            },
            wrap,
        );
    }

    /// Loads the row index on a worker: with `prefix`, only the first (or,
    /// sorted newest first, the last) entries, to show a page at once.
    pub(super) fn load_index(&mut self, prefix: Option<u64>) {
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

    /// Checks the search sidecar's file on a worker (opens it and hashes
    /// it: about a second at a million entries), from the document's open,
    /// so that it is done by the time the row index is.
    pub(super) fn start_sidecar_check(&mut self) {
        let Some(doc) = &mut self.doc else { return };
        if !doc.is_sealed_archive() {
            return;
        }
        let path = search_sidecar::path_for(&doc.path);
        let trusted = self.settings.trusted_search_index(&path);
        doc.sidecar_check = Some(text_index::SidecarCheck::Running);
        self.spawn(
            task::SIDECAR_CHECK,
            Lifetime::Document,
            Arc::new(Job::new()),
            move |_| {
                Ok(Box::new(search_sidecar::TrustedFile::open(
                    &path,
                    trusted.as_deref(),
                )))
            },
            TaskResult::SidecarChecked,
        );
    }

    /// Finds or builds the free-text index on a worker thread (after the
    /// index, and after the sidecar's file check if one runs): the search
    /// sidecar beside a sealed archive, else in memory.
    pub(super) fn start_text_index(&mut self) {
        let Some(doc) = &mut self.doc else { return };
        if !doc.index_complete() || doc.search.is_some() || self.tasks.is_running(task::TEXT_INDEX)
        {
            return;
        }
        let checked = match doc.sidecar_check.take() {
            Some(text_index::SidecarCheck::Running) => {
                // Started again when the check is done.
                doc.sidecar_check = Some(text_index::SidecarCheck::Running);
                return;
            }
            Some(text_index::SidecarCheck::Done(found)) => Some(found),
            None => None,
        };
        let (Some(ix), Some(path)) = (doc.index.clone(), doc.archive_path.clone()) else {
            return;
        };
        let sidecar = doc
            .is_sealed_archive()
            .then(|| search_sidecar::path_for(&doc.path));
        let trusted = sidecar
            .as_deref()
            .and_then(|p| self.settings.trusted_search_index(p));
        self.spawn(
            task::TEXT_INDEX,
            Lifetime::Document,
            Arc::new(Job::new()),
            move |job| {
                let ready = text_index::find_or_build(
                    &path,
                    sidecar.as_deref(),
                    trusted.as_deref(),
                    checked,
                    &ix,
                    job,
                )
                .map(Box::new);
                index::release_free_memory();
                ready
            },
            TaskResult::TextIndex,
        );
    }

    /// Finds the patterns to watch on a worker thread (after the index), with
    /// the core's scanner, as `auditlens scan` does.
    pub(super) fn start_patterns(&mut self) {
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
                    .and_then(|a| {
                        // The panel counts each pattern and shows its entries:
                        // every hit's seq in memory (8 bytes a hit), no reasons.
                        let keep = auditlens_core::patterns::Keep {
                            listed: 0,
                            seqs: true,
                            all: false,
                        };
                        auditlens_core::patterns::scan_archive(&a, &settings, keep, job)
                    })
                    .map(Arc::new)
            },
            TaskResult::Scanned,
        );
    }

    /// Reads which files went into the archive and where it has holes, on a
    /// worker (after the index), with the core's coverage, as `info` does.
    pub(super) fn start_coverage(&mut self) {
        let Some(path) = self
            .doc
            .as_ref()
            .filter(|d| d.is_sealed_archive())
            .and_then(|d| d.archive_path.clone())
        else {
            return;
        };
        self.spawn(
            task::COVERAGE,
            Lifetime::Document,
            Arc::new(Job::new()),
            move |job| {
                use auditlens_core::coverage::{self, CoverageSettings};
                index::open_unmapped(&path)
                    .and_then(|a| coverage::of_archive(&a, &CoverageSettings::default(), job))
                    .map(Arc::new)
            },
            TaskResult::Coverage,
        );
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
    pub(super) fn save_case(&mut self) {
        let Some(doc) = &self.doc else { return };
        let Some(case) = doc.case.clone() else { return };
        self.pending_case = Some((case_path(&doc.path), case));
        self.save_pending_case();
    }

    pub(super) fn save_pending_case(&mut self) {
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

    /// Writes the auditor report (and its JSON twin) for the open archive,
    /// with the current filter, checkpoint, keys and case notes. Both files
    /// are checked before anything is gathered; an existing file is replaced
    /// only when the save dialog chose it (`from_dialog`), never evidence.
    pub fn start_report(&mut self, out: PathBuf, from_dialog: bool) {
        use auditlens_core::audit_report::{ReportInput, ReportOutput, gather};
        let Some(doc) = &self.doc else { return };
        if !doc.is_sealed_archive() {
            self.error =
                Some("the report is about a sealed archive: save this file as one first".into());
            return;
        }
        let path = doc.path.clone();
        // The change tickets are read too: the report may not replace them.
        let mut reads = vec![path.clone()];
        reads.extend(
            self.pattern_settings
                .tickets
                .as_ref()
                .map(|t| PathBuf::from(&t.file)),
        );
        let output = match ReportOutput::plan(&Destination::viewer(out, from_dialog), &reads) {
            Ok(o) => o,
            Err(e) => {
                self.error = Some(format!("report: {e}"));
                return;
            }
        };
        let checkpoint = doc.checkpoint.clone();
        let case = doc.case.clone();
        let filter = self.shown_filter();
        let settings = self.pattern_settings.clone();
        let keys = self.settings.keys();
        self.notice = Some("writing the report…".into());
        self.spawn(
            task::REPORT,
            Lifetime::Own,
            Arc::new(Job::new()),
            move |job| {
                let out = output.html_path().to_path_buf();
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
                output.write(&facts).map_err(|e| e.to_string())?;
                Ok(out)
            },
            TaskResult::Reported,
        );
    }

    /// Starts exporting the shown entries with the core exporter. The name
    /// must fit the format; an existing file is replaced only when the save
    /// dialog chose it (`confirmed`: it asked first), never evidence.
    /// Whether an export of the rows shown can prove it is complete: what it
    /// would be proven complete for, or why not (docs/FORMAT.md §14). Rows
    /// restricted by hand (a pattern, bookmarks) are no filter's range.
    pub fn completeness_offer(&self) -> Result<String, String> {
        if let Some(r) = &self.restrict {
            return Err(format!(
                "the rows are restricted to {}: rows picked one by one are proven genuine, not complete",
                r.label
            ));
        }
        let filter = auditlens_core::export::filter_json(&self.shown_filter());
        let ranges = auditlens_core::verify::complete::ranges_for(&filter)
            .map_err(|why| format!("the filter cannot be proven complete: {why}"))?;
        Ok(ranges
            .iter()
            .map(|r| r.describe())
            .collect::<Vec<_>>()
            .join(", or "))
    }

    pub fn start_export(
        &mut self,
        out: PathBuf,
        format: ExportFormat,
        confirmed: bool,
        complete: bool,
    ) {
        let Some(archive_path) = self.doc.as_ref().and_then(|d| d.archive_path.clone()) else {
            return;
        };
        let Some(ix) = self.index().cloned() else {
            return;
        };
        if let Err(e) = format.check_name(&out) {
            self.last_export = Some(Err(e));
            return;
        }
        let dest = Destination::viewer(out, confirmed);
        let mut seqs: Vec<u64> = self.view.iter().map(|&p| ix.seq(p as usize)).collect();
        seqs.sort_unstable();
        let filter = self.shown_filter();
        // A complete export is the filter's, not a list of rows: the same
        // entries (the view is the filter's when nothing restricts it), with
        // the range proof that shows none is missing.
        let by_filter = complete && self.completeness_offer().is_ok();
        self.last_export = None;
        self.spawn(
            task::EXPORT,
            Lifetime::Own,
            Arc::new(Job::new()),
            move |job| {
                let a = auditlens_core::archive::Archive::open(&archive_path).map_err(|e| e.0)?;
                auditlens_core::export::export_with(
                    &a,
                    &filter,
                    (!by_filter).then_some(seqs.as_slice()),
                    format,
                    &dest,
                    None,
                    job,
                )
                .map_err(|e| e.to_string())
            },
            TaskResult::Exported,
        );
    }

    /// Copies the temporary archive of an unsealed export to `out`, which
    /// the save dialog chose (it asked before returning an existing file);
    /// through the one output path, so evidence is never replaced.
    pub fn save_sealed(&mut self, out: &Path) {
        let Some(doc) = &self.doc else { return };
        let Some(src) = doc.archive_path.clone() else {
            return;
        };
        let source = doc.path.clone();
        let out = out.to_path_buf();
        self.spawn(
            task::SAVE,
            Lifetime::Own,
            Arc::new(Job::new()),
            move |_| {
                let mut output = Output::reading(&[src.as_path(), source.as_path()]);
                let slot = output
                    .add(&Destination::viewer(&out, true))
                    .map_err(|e| e.to_string())?;
                let mut to = output.create(slot).map_err(|e| e.to_string())?;
                std::fs::File::open(&src)
                    .and_then(|mut from| std::io::copy(&mut from, &mut to))
                    .map_err(|e| format!("{}: {e}", out.display()))?;
                drop(to);
                output.commit().map_err(|e| e.to_string())?;
                Ok(out)
            },
            TaskResult::SavedSealed,
        );
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
                    None => index::open_unmapped(&path)?,
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
}
