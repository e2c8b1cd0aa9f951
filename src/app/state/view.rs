//! Keeping the view (the shown entries, their order, the facet counts) in
//! step with the filter, sort and restriction.

use std::sync::Arc;

use auditlens_core::job::Job;

use super::{AppState, TaskResult, task};
use crate::app::histogram::Histogram;
use crate::app::query::{self, NeedsRecords, Query, Reads, Sources, View};
use crate::app::tasks::Lifetime;
use crate::app::text_index;

impl AppState {
    /// The query for the current filter, sort and restriction.
    pub(super) fn query(&self) -> Query {
        Query {
            filter: self.current_filter(),
            sort: self.settings.sort,
            descending: self.settings.sort_desc,
            restriction: self.restrict.clone(),
        }
    }

    /// The view shows the current filter and sort (other work may go on).
    pub fn view_current(&self) -> bool {
        self.index().is_some_and(|ix| ix.complete)
            && !self.tasks.is_running(task::FILTER)
            && self.applied.as_ref() == Some(&(self.generation, self.query().key()))
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
        self.search_waits = None;
        for j in self.tasks.running(task::FILTER) {
            j.cancel();
        }
        self.view_gen += 1;
        if !ix.complete {
            // The first page only, unfiltered, until the whole index is in.
            let mut v: Vec<u32> = (0..ix.len() as u32).collect();
            ix.sort(&mut v, q.sort, q.descending, None);
            self.show(v);
            self.after_view_change();
            return;
        }
        let Some(doc) = &self.doc else { return };
        let Some(archive) = doc.archive_path.clone() else {
            return;
        };
        let text = doc.search.clone();
        // A search of one or two characters that no index answers waits
        // for a third: the view is that of the other filters, and says so.
        let mut q = q;
        if let Some(needle) = q.filter.search.as_deref() {
            let mut reads = 0;
            let count = || {
                reads = ix.candidates(&q.filter.without_facets()).len();
                reads
            };
            if text_index::search_waits(text.as_deref(), needle, count, self.short_search_entries) {
                self.search_waits = Some(reads as u64);
                q.filter.search = None;
            }
        }
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

    pub(super) fn set_view(&mut self, v: View) {
        self.show(v.rows);
        self.facets = Some(v.facets);
        self.base = Some(v.base);
        self.after_view_change();
    }

    /// Shows `rows`: the timeline's counts are of another view from now on.
    pub(super) fn show(&mut self, rows: Vec<u32>) {
        self.view = Arc::new(rows);
        self.shown += 1;
    }

    /// The timeline's counts of the view, or while they are counted those
    /// of the last view (none before the first).
    pub fn timeline(&self) -> Option<&Histogram> {
        self.timeline.as_ref().map(|(_, h)| h.as_ref())
    }

    /// Whether the timeline's counts are those of the view shown.
    pub fn timeline_current(&self) -> bool {
        self.timeline
            .as_ref()
            .is_some_and(|((v, _), _)| *v == self.shown)
    }

    /// Counts the view into `buckets` for the timeline, unless done or under
    /// way: in the frame for a small view, else on a worker (the last one's
    /// count is dropped), so a view change at ten million entries costs the
    /// frame nothing.
    pub fn count_timeline(&mut self, buckets: usize) {
        let Some(ix) = self.index().cloned() else {
            return;
        };
        if !ix.complete || self.view.is_empty() {
            return;
        }
        let key = (self.shown, buckets);
        if self.timeline.as_ref().is_some_and(|(k, _)| *k == key)
            || self.timeline_pending == Some(key)
        {
            return;
        }
        // A resize changes only the bucket count, on every frame it lasts:
        // the count under way for this view ends first (its counts are drawn
        // meanwhile), and the frame after it starts the last width's.
        if self
            .timeline_pending
            .is_some_and(|(view, _)| view == self.shown)
            && self.tasks.is_running(task::TIMELINE)
        {
            return;
        }
        for j in self.tasks.running(task::TIMELINE) {
            j.cancel();
        }
        if self.view.len() <= self.timeline_in_frame {
            self.timeline_pending = None;
            let h = Histogram::of(&ix, &self.view, buckets);
            self.timeline = Some((key, Arc::new(h)));
            return;
        }
        self.timeline_pending = Some(key);
        let view = self.view.clone();
        self.spawn(
            task::TIMELINE,
            Lifetime::Document,
            Arc::new(Job::new()),
            move |job| {
                let counted = Histogram::unless_cancelled(&ix, &view, buckets, job);
                counted
                    .map(|h| (key, Arc::new(h)))
                    .ok_or_else(|| "cancelled".to_string())
            },
            TaskResult::Timeline,
        );
    }

    /// Takes in counts from a worker: those of the view shown, or at least
    /// of a later one than those held.
    pub(super) fn counted_timeline(&mut self, key: (u64, usize), h: Arc<Histogram>) {
        if self.timeline_pending == Some(key) {
            self.timeline_pending = None;
        }
        if self.timeline.as_ref().is_none_or(|((v, _), _)| *v <= key.0) && key.0 <= self.shown {
            self.timeline = Some((key, h));
        }
    }

    /// Keeps the selection on its entry if still shown, or makes a pending jump.
    pub(super) fn after_view_change(&mut self) {
        if let Some(seq) = self.pending_jump.take() {
            self.select_seq(seq);
            return;
        }
        self.selected_row = self.selected.and_then(|s| self.row_of_seq(s));
        if self.selected_row.is_none() {
            self.selected = None;
        }
    }
}
