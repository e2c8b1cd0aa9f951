//! The timeline's counts: the shown entries per time bucket and kind of
//! action. Counting is a pass over the whole view (about 5 ns an entry, 55 ms
//! at ten million), so a large view is counted on a worker
//! ([`crate::app::AppState::count_timeline`]) and the panel only draws.

use auditlens_core::job::Job;
use auditlens_core::row_index::Index;

/// What kind of change an action is, for the timeline's colours.
pub fn kind_of(action: &str) -> usize {
    match action {
        "create" => 0,
        "update" | "updateTags" | "setLabel" | "promote" | "transfer" => 1,
        "delete" => 2,
        _ => 3,
    }
}

/// Counts per time bucket and action kind, over the shown entries.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    pub from: i64,
    pub bucket_ms: i64,
    pub counts: Vec<[u32; 4]>,
}

impl Histogram {
    /// Buckets the entries at `positions` over their own time span: the
    /// bucket size follows the range shown, so narrowing the range zooms in.
    pub fn of(ix: &Index, positions: &[u32], buckets: usize) -> Histogram {
        Self::unless_cancelled(ix, positions, buckets, &Job::new()).unwrap_or_default()
    }

    /// [`Histogram::of`], or `None` once `job` is cancelled: a count on a
    /// worker for a view already replaced stops within a few milliseconds.
    pub fn unless_cancelled(
        ix: &Index,
        positions: &[u32],
        buckets: usize,
        job: &Job,
    ) -> Option<Histogram> {
        let kinds: Vec<usize> = (0..ix.actions.len())
            .map(|id| kind_of(ix.actions.get(id as u32).unwrap_or("")))
            .collect();
        let Some((min, max)) = ix.time_bounds(positions) else {
            return Some(Histogram::default());
        };
        let buckets = buckets.max(1);
        let bucket_ms = ((max - min) / buckets as i64 + 1).max(1);
        let mut counts = vec![[0u32; 4]; buckets];
        for part in positions.chunks(1 << 18) {
            if job.is_cancelled() {
                return None;
            }
            for &p in part {
                let (time, action) = (ix.times[p as usize], ix.facet_ids.actions[p as usize]);
                let b = (((time - min) / bucket_ms) as usize).min(buckets - 1);
                counts[b][kinds.get(action as usize).copied().unwrap_or(3)] += 1;
            }
        }
        Some(Histogram {
            from: min,
            bucket_ms,
            counts,
        })
    }
}
