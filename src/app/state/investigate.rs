//! The investigation workflows of the viewer: a resource's history (from
//! the detail pane), a credential's blast radius (from the actor summary),
//! and the directory that puts names beside ids. Each runs on a worker
//! through the one task runner and computes nothing of its own: the core's
//! `history`, `blast_radius` and `directory` do.

use std::path::PathBuf;
use std::sync::Arc;

use auditlens_core::blast_radius::BlastRadius;
use auditlens_core::directory::Directory;
use auditlens_core::history::History;
use auditlens_core::job::Job;

use super::{AppState, TaskResult, task};
use crate::app::tasks::{Lifetime, Outcome};

/// Work that was asked for: running, done or failed.
pub enum Pending<T> {
    Running,
    Done(Arc<T>),
    Failed(String),
}

impl<T> Pending<T> {
    fn of(r: Result<T, String>) -> Pending<T> {
        match r {
            Ok(v) => Pending::Done(Arc::new(v)),
            Err(e) => Pending::Failed(e),
        }
    }

    pub fn done(&self) -> Option<&Arc<T>> {
        match self {
            Pending::Done(t) => Some(t),
            _ => None,
        }
    }
}

/// What the investigation panels show.
#[derive(Default)]
pub struct Investigation {
    /// The history asked for from the detail pane: (resource label, result).
    pub history: Option<(String, Pending<History>)>,
    /// The blast radius asked for from the actor summary: (actor, result).
    pub blast: Option<(String, Pending<BlastRadius>)>,
    /// Names for ids (display only), remembered beside the archive.
    pub directory: Option<Arc<Directory>>,
}

impl Investigation {
    /// `label` with the directory's name beside a bare `id` (unknown ids stay ids).
    pub fn readable(&self, label: &str, id: &str) -> String {
        match &self.directory {
            Some(d) => d.readable(label, id),
            None => label.to_string(),
        }
    }
}

/// What an investigation task brings back.
/// History and blast radius carry their own failure, so that one failing
/// never marks the other.
pub enum Found {
    History(Result<History, String>),
    Blast(String, Result<BlastRadius, String>),
    /// A directory; `Some(path)` when it was just loaded from that file and
    /// remembered beside the archive, `None` when read from the sidecar.
    Directory(Directory, Option<PathBuf>),
    /// No directory was remembered beside the archive.
    NoDirectory,
}

impl AppState {
    fn archive_path(&self) -> Option<PathBuf> {
        self.doc.as_ref().and_then(|d| d.archive_path.clone())
    }

    /// The history of a resource: its type and id within its project.
    pub fn start_history(
        &mut self,
        label: String,
        resource_type: String,
        resource_id: String,
        project_id: Option<String>,
    ) {
        let Some(path) = self.archive_path() else {
            return;
        };
        self.investigation.history = Some((label, Pending::Running));
        self.spawn(
            task::INVESTIGATE,
            Lifetime::Document,
            Arc::new(Job::new()),
            move |job| {
                let a = match auditlens_core::archive::Archive::open(&path) {
                    Ok(a) => a,
                    Err(e) => return Ok(Found::History(Err(e.0))),
                };
                let h = auditlens_core::history::history(&a, &resource_type, &resource_id, job);
                // The resource of the selected entry: its project's entries.
                Ok(Found::History(
                    h.map(|h| h.in_project(project_id.as_deref())),
                ))
            },
            TaskResult::Investigated,
        );
    }

    /// The blast radius of `actor` (a user id, email, key id or key name).
    pub fn start_blast_radius(&mut self, actor: String) {
        let Some(path) = self.archive_path() else {
            return;
        };
        self.investigation.blast = Some((actor.clone(), Pending::Running));
        self.spawn(
            task::INVESTIGATE,
            Lifetime::Document,
            Arc::new(Job::new()),
            move |job| {
                let r = auditlens_core::archive::Archive::open(&path)
                    .map_err(|e| e.0)
                    .and_then(|a| auditlens_core::blast_radius::blast_radius(&a, &actor, job));
                Ok(Found::Blast(actor, r))
            },
            TaskResult::Investigated,
        );
    }

    /// Loads a directory from `file` and remembers it beside the archive
    /// (`file: None`: the one remembered already, if any).
    pub fn load_directory(&mut self, file: Option<PathBuf>) {
        let Some(doc) = &self.doc else { return };
        // The sidecar sits beside the file opened (the archive, or the export
        // whose temporary archive is shown), like the case file.
        let beside = doc.path.clone();
        let sealed = doc.is_sealed_archive();
        self.spawn(
            task::INVESTIGATE,
            Lifetime::Document,
            Arc::new(Job::new()),
            move |_| match file {
                Some(f) => {
                    let d = Directory::load(&f)?;
                    // Only a sealed archive has a place for side files; an
                    // export's names last as long as the window.
                    // The sidecar itself, picked again, is loaded as it is.
                    let own = auditlens_core::directory::sidecar_path(&beside);
                    if sealed && std::fs::canonicalize(&f).ok() != std::fs::canonicalize(&own).ok()
                    {
                        d.save_beside(&beside, &f)?;
                    }
                    Ok(Found::Directory(d, Some(f)))
                }
                None => Ok(match Directory::remembered(&beside)? {
                    Some(d) => Found::Directory(d, None),
                    None => Found::NoDirectory,
                }),
            },
            TaskResult::Investigated,
        );
    }

    /// Shows only `seqs` (a blast radius's subset), under `label`: the
    /// filter is cleared, as the subset holds other actors' entries too.
    pub fn restrict_to(&mut self, label: String, seqs: Vec<u64>) {
        self.filter = crate::app::filter_form::FilterForm::default();
        self.set_restriction(Some((label, seqs.into_iter().collect())));
    }

    pub(super) fn on_investigated(&mut self, outcome: Outcome<Found>) {
        let inv = &mut self.investigation;
        match outcome {
            Outcome::Done(Found::History(r)) => {
                if let Some((_, p)) = &mut inv.history {
                    *p = Pending::of(r);
                }
            }
            Outcome::Done(Found::Blast(actor, r)) => {
                // A result for an actor no longer asked about is dropped.
                if let Some((asked, p)) = &mut inv.blast
                    && *asked == actor
                {
                    *p = Pending::of(r);
                }
            }
            Outcome::Done(Found::Directory(d, from)) => {
                if let Some(f) = from {
                    self.notice = Some(format!(
                        "names loaded from {}: {} (display only; the records are unchanged)",
                        f.display(),
                        d.summary()
                    ));
                }
                inv.directory = Some(Arc::new(d));
            }
            Outcome::Done(Found::NoDirectory) | Outcome::Cancelled => {}
            Outcome::Failed(e) => self.error = Some(format!("directory: {e}")),
        }
    }
}
