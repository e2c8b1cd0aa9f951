//! The one background-task runner of the viewer.
//!
//! Long work (open, index load, text index, file hash, verification,
//! filtering, export, report, scan, file reads and saves) runs on a named
//! worker thread with a [`Job`] (the core's progress and cancel handle).
//! Each task's result comes back typed, as an [`Outcome`], through one
//! channel, tagged with the generation of the document it was started for,
//! so that the frame can drop what belongs to a file that was closed. The UI
//! thread collects finished tasks once per frame ([`Tasks::finished`], in
//! `App::logic`); a finished task wakes the UI with a repaint.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use auditlens_core::job::Job;
use eframe::egui;

/// How a task ended.
#[derive(Debug, PartialEq)]
pub enum Outcome<T> {
    Done(T),
    /// The work failed; the message says why, for people.
    Failed(String),
    /// Its job was cancelled (known from the [`Job`], never from a message).
    Cancelled,
}

impl<T> Outcome<T> {
    /// The outcome of work that returned `result` under `job`: once the job
    /// was cancelled, whatever the work returned is [`Outcome::Cancelled`]
    /// (work stopped midway may return a partial answer or an error).
    pub fn of(result: Result<T, String>, job: &Job) -> Outcome<T> {
        match result {
            _ if job.is_cancelled() => Outcome::Cancelled,
            Ok(t) => Outcome::Done(t),
            Err(e) => Outcome::Failed(e),
        }
    }
}

/// Whether closing the document stops a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifetime {
    /// Work on the open document (load, verify, filter…): cancelled when it closes.
    Document,
    /// Work that writes or reads a file the person chose (export, report,
    /// save): it finishes even if another file is opened meanwhile.
    Own,
}

/// A finished task: its result (typed by the caller's `wrap`) and the
/// generation of the document it was started for.
pub struct Finished<M> {
    pub generation: u64,
    pub result: M,
    id: u64,
}

struct Running {
    id: u64,
    name: &'static str,
    generation: u64,
    lifetime: Lifetime,
    job: Arc<Job>,
}

/// Spawns tasks and collects their results. `M` is the type every result
/// is wrapped into (one enum with a variant per kind of task).
pub struct Tasks<M> {
    tx: Sender<Finished<M>>,
    rx: Receiver<Finished<M>>,
    running: Vec<Running>,
    next_id: u64,
    repaint: Option<egui::Context>,
}

impl<M: Send + 'static> Default for Tasks<M> {
    fn default() -> Self {
        let (tx, rx) = channel();
        Tasks {
            tx,
            rx,
            running: Vec::new(),
            next_id: 0,
            repaint: None,
        }
    }
}

impl<M: Send + 'static> Tasks<M> {
    /// Finished tasks request a repaint of this context (the UI thread then
    /// runs a frame and collects them).
    pub fn set_repaint(&mut self, ctx: &egui::Context) {
        if self.repaint.is_none() {
            self.repaint = Some(ctx.clone());
        }
    }

    /// Runs `work` on a worker thread named `name` with `job`, and sends
    /// `wrap(outcome)` back. A panic in `work` becomes [`Outcome::Failed`]
    /// (the UI must never wait forever for a task that died).
    pub fn spawn<T: Send + 'static>(
        &mut self,
        name: &'static str,
        generation: u64,
        lifetime: Lifetime,
        job: Arc<Job>,
        work: impl FnOnce(&Job) -> Result<T, String> + Send + 'static,
        wrap: fn(Outcome<T>) -> M,
    ) -> Arc<Job> {
        self.next_id += 1;
        let id = self.next_id;
        let tx = self.tx.clone();
        let repaint = self.repaint.clone();
        let worker_job = job.clone();
        let run = move || {
            let outcome = match catch_unwind(AssertUnwindSafe(|| work(&worker_job))) {
                Ok(result) => Outcome::of(result, &worker_job),
                Err(panic) => {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    Outcome::Failed(format!("internal error in {name}: {what}"))
                }
            };
            let result = wrap(outcome);
            let _ = tx.send(Finished {
                generation,
                result,
                id,
            });
            if let Some(c) = repaint {
                c.request_repaint();
            }
        };
        if let Err(e) = std::thread::Builder::new().name(name.into()).spawn(run) {
            // No thread: the failure comes back through the same channel.
            let result = wrap(Outcome::Failed(format!("cannot start {name}: {e}")));
            let _ = self.tx.send(Finished {
                generation,
                result,
                id,
            });
        } else {
            self.running.push(Running {
                id,
                name,
                generation,
                lifetime,
                job: job.clone(),
            });
        }
        job
    }

    /// The tasks that finished since the last call (call once per frame).
    pub fn finished(&mut self) -> Vec<Finished<M>> {
        let done: Vec<Finished<M>> = self.rx.try_iter().collect();
        self.running.retain(|r| done.iter().all(|d| d.id != r.id));
        done
    }

    /// Cancels the document-bound tasks of `generation` (the document closes).
    pub fn cancel_generation(&self, generation: u64) {
        for r in &self.running {
            if r.generation == generation && r.lifetime == Lifetime::Document {
                r.job.cancel();
            }
        }
    }

    /// Is any task running?
    pub fn any(&self) -> bool {
        !self.running.is_empty()
    }

    /// The running tasks named `name`, newest last, with their jobs (for
    /// progress bars).
    pub fn running(&self, name: &str) -> impl Iterator<Item = &Arc<Job>> {
        self.running
            .iter()
            .filter(move |r| r.name == name)
            .map(|r| &r.job)
    }

    /// Is a task named `name` running?
    pub fn is_running(&self, name: &str) -> bool {
        self.running(name).next().is_some()
    }
}

/// How long closing the viewer waits for its tasks to stop (each checks its
/// job between small steps; verification at ten million entries stops
/// within a chunk).
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(3);

impl<M> Tasks<M> {
    /// Cancels every task and waits up to `within` for them to end. A task
    /// that writes (an export, the search sidecar) removes its staged file
    /// as it stops; a process that exits under it leaves a hidden folder
    /// with a partial file beside the destination.
    pub fn shutdown(&mut self, within: Duration) {
        for r in &self.running {
            r.job.cancel();
        }
        let deadline = Instant::now() + within;
        while !self.running.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(done) => self.running.retain(|r| r.id != done.id),
                Err(_) => return,
            }
        }
    }
}

impl<M> Drop for Tasks<M> {
    fn drop(&mut self) {
        self.shutdown(SHUTDOWN_WAIT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum Msg {
        Number(Outcome<u32>),
        Text(Outcome<String>),
    }

    fn wait(tasks: &mut Tasks<Msg>, n: usize) -> Vec<Finished<Msg>> {
        let start = Instant::now();
        let mut got = Vec::new();
        while got.len() < n {
            got.extend(tasks.finished());
            assert!(start.elapsed() < Duration::from_secs(20), "tasks hang");
            std::thread::sleep(Duration::from_millis(2));
        }
        got
    }

    #[test]
    fn results_come_back_typed_and_tagged() {
        let mut tasks = Tasks::default();
        tasks.spawn(
            "n",
            7,
            Lifetime::Document,
            Arc::new(Job::new()),
            |_| Ok(42),
            Msg::Number,
        );
        tasks.spawn(
            "t",
            8,
            Lifetime::Own,
            Arc::new(Job::new()),
            |_| Err::<String, _>("no such file".to_string()),
            Msg::Text,
        );
        assert!(tasks.any());
        let mut got = wait(&mut tasks, 2);
        got.sort_by_key(|f| f.generation);
        assert_eq!(got[0].generation, 7);
        assert_eq!(got[0].result, Msg::Number(Outcome::Done(42)));
        assert_eq!(got[1].generation, 8);
        assert_eq!(
            got[1].result,
            Msg::Text(Outcome::Failed("no such file".into()))
        );
        assert!(!tasks.any());
    }

    /// Shutting down cancels every task, of both lifetimes, and waits for
    /// them: an output staged by a task is gone when it returns.
    #[test]
    fn shutdown_waits_for_tasks_to_remove_what_they_staged() {
        use auditlens_core::output::{Destination, Output};
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.sqlite");
        let mut tasks = Tasks::default();
        let (staged_tx, staged_rx) = std::sync::mpsc::channel();
        for lifetime in [Lifetime::Document, Lifetime::Own] {
            let (dest, staged_tx) = (dest.clone(), staged_tx.clone());
            tasks.spawn(
                "write",
                1,
                lifetime,
                Arc::new(Job::new()),
                move |job: &Job| {
                    let mut out = Output::reading::<&std::path::Path>(&[]);
                    let slot = out
                        .add(&Destination::new(dest))
                        .map_err(|e| e.to_string())?;
                    let path = out.staged_path(slot).map_err(|e| e.to_string())?;
                    std::fs::write(&path, b"partial").map_err(|e| e.to_string())?;
                    staged_tx.send(path).unwrap();
                    while !job.is_cancelled() {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Ok(0)
                },
                Msg::Number,
            );
        }
        let staged: Vec<std::path::PathBuf> = (0..2)
            .map(|_| staged_rx.recv_timeout(Duration::from_secs(20)).unwrap())
            .collect();
        assert!(staged.iter().all(|p| p.exists()));
        tasks.shutdown(Duration::from_secs(20));
        assert!(!tasks.any());
        assert!(
            staged
                .iter()
                .all(|p| !p.exists() && !p.parent().unwrap().exists())
        );
        assert!(!dest.exists());
    }

    /// Closing a document cancels its tasks, through the job; a task of its
    /// own lifetime (a save) goes on.
    #[test]
    fn cancelling_a_generation_stops_its_tasks_only() {
        let mut tasks = Tasks::default();
        let looping = |job: &Job| {
            while !job.is_cancelled() {
                std::thread::sleep(Duration::from_millis(1));
            }
            // Work that noticed the cancel may return anything.
            Ok(1)
        };
        let doc = tasks.spawn(
            "load",
            1,
            Lifetime::Document,
            Arc::new(Job::new()),
            looping,
            Msg::Number,
        );
        let other = tasks.spawn(
            "load",
            2,
            Lifetime::Document,
            Arc::new(Job::new()),
            looping,
            Msg::Number,
        );
        let save = tasks.spawn(
            "save",
            1,
            Lifetime::Own,
            Arc::new(Job::new()),
            |_| Ok(5),
            Msg::Number,
        );
        assert_eq!(tasks.running("load").count(), 2);
        tasks.cancel_generation(1);
        assert!(doc.is_cancelled() && !other.is_cancelled() && !save.is_cancelled());
        let got = wait(&mut tasks, 2);
        for f in &got {
            match f.generation {
                1 if f.result == Msg::Number(Outcome::Cancelled) => {}
                1 => assert_eq!(f.result, Msg::Number(Outcome::Done(5))),
                g => panic!("generation {g} finished"),
            }
        }
        assert!(tasks.is_running("load"));
        other.cancel();
        let got = wait(&mut tasks, 1);
        assert_eq!(got[0].result, Msg::Number(Outcome::Cancelled));
        assert!(!tasks.any());
    }

    #[test]
    fn a_panicking_task_fails_instead_of_hanging() {
        let mut tasks = Tasks::default();
        tasks.spawn(
            "boom",
            1,
            Lifetime::Document,
            Arc::new(Job::new()),
            |_| -> Result<u32, String> { panic!("index out of range") },
            Msg::Number,
        );
        let got = wait(&mut tasks, 1);
        assert_eq!(
            got[0].result,
            Msg::Number(Outcome::Failed(
                "internal error in boom: index out of range".into()
            ))
        );
        assert!(!tasks.any());
    }
}
