//! Sorting the shown rows by a column. Every pass of the index returns rows
//! in seq order, so the sort starts from there and keeps it among ties:
//! by seq, nothing to do (or a reversal); by time, usually nothing either
//! (times follow seq order in a log written as things happened); by any
//! other column, a counting sort on the column's ranks (a few passes, no
//! comparison with two indirect loads per step).

use std::cmp::Reverse;

use super::{Index, SortKey};

impl Index {
    /// Sorts positions by a column, ascending or descending; ties keep seq
    /// order either way. `resource_rank` (per position) orders the Resource
    /// column; without it that column sorts by seq.
    pub fn sort(
        &self,
        positions: &mut [u32],
        key: SortKey,
        descending: bool,
        resource_rank: Option<&[u32]>,
    ) {
        let key = match (key, resource_rank) {
            (SortKey::Resource, None) => SortKey::Seq,
            (k, _) => k,
        };
        // Seq order first (a no-op on what the passes return): the sorts
        // below keep it among ties.
        if !positions.is_sorted() {
            positions.sort_unstable();
        }
        let rk = &self.ranks;
        let rows = &self.rows;
        let ids = &self.facet_ids;
        let by_rank = |positions: &mut [u32], rank: &dyn Fn(usize) -> u32| {
            counting_sort(positions, rank, descending)
        };
        match key {
            SortKey::Seq => {
                if descending {
                    positions.reverse();
                }
            }
            SortKey::Time if self.times_ascending => {
                if descending {
                    reverse_keeping_ties(positions, |p| self.times[p as usize]);
                }
            }
            SortKey::Time => {
                let mut keyed: Vec<(i64, u32)> = positions
                    .iter()
                    .map(|&p| {
                        let t = self.times[p as usize];
                        // `!t` orders times newest first, exactly.
                        (if descending { !t } else { t }, p)
                    })
                    .collect();
                keyed.sort_unstable();
                for (slot, (_, p)) in positions.iter_mut().zip(keyed) {
                    *slot = p;
                }
            }
            SortKey::Actor => by_rank(positions, &|p| rk.actor[rows[p].actor as usize]),
            SortKey::ActorType => {
                by_rank(positions, &|p| rk.actor_type[ids.actor_types[p] as usize])
            }
            SortKey::Action => by_rank(positions, &|p| rk.action[ids.actions[p] as usize]),
            SortKey::ResourceType => by_rank(positions, &|p| {
                rk.resource_type[ids.resource_types[p] as usize]
            }),
            SortKey::Resource => by_rank(positions, &|p| {
                resource_rank
                    .and_then(|rr| rr.get(p))
                    .copied()
                    .unwrap_or(p as u32)
            }),
            SortKey::Project => by_rank(positions, &|p| rk.project[ids.projects[p] as usize]),
            SortKey::Org => by_rank(positions, &|p| rk.org[rows[p].org as usize]),
            SortKey::Ip => by_rank(positions, &|p| rk.ip[rows[p].ip as usize]),
        }
    }
}

/// Reverses `positions` (sorted ascending by `key`, ties in seq order)
/// into descending order with ties still in seq order: the whole list
/// reversed, then each run of equal keys reversed back.
fn reverse_keeping_ties(positions: &mut [u32], key: impl Fn(u32) -> i64) {
    positions.reverse();
    let mut start = 0;
    while start < positions.len() {
        let k = key(positions[start]);
        let mut end = start + 1;
        while end < positions.len() && key(positions[end]) == k {
            end += 1;
        }
        positions[start..end].reverse();
        start = end;
    }
}

/// Stable sort of `positions` (in seq order) by `rank(position)`: counts
/// per rank, then each position placed after the ones before it (so ties
/// keep seq order). Ranks are small (an interned column's ranks) or at most
/// the number of entries (the Resource column's): the count table is as
/// long as the largest rank; beyond that a comparison sort does.
fn counting_sort(positions: &mut [u32], rank: &dyn Fn(usize) -> u32, descending: bool) {
    let ranks: Vec<u32> = positions.iter().map(|&p| rank(p as usize)).collect();
    let Some(&max) = ranks.iter().max() else {
        return;
    };
    let buckets = max as usize + 1;
    if buckets > positions.len().max(1 << 16).saturating_mul(4) {
        let mut keyed: Vec<(u32, u32)> = ranks.into_iter().zip(positions.iter().copied()).collect();
        if descending {
            keyed.sort_unstable_by_key(|&(r, p)| (Reverse(r), p));
        } else {
            keyed.sort_unstable();
        }
        for (slot, (_, p)) in positions.iter_mut().zip(keyed) {
            *slot = p;
        }
        return;
    }
    // start[r]: where the first position of rank r goes.
    let mut start = vec![0usize; buckets];
    for &r in &ranks {
        start[r as usize] += 1;
    }
    let mut next = 0;
    let order: Box<dyn Iterator<Item = usize>> = if descending {
        Box::new((0..buckets).rev())
    } else {
        Box::new(0..buckets)
    };
    for r in order {
        let n = start[r];
        start[r] = next;
        next += n;
    }
    let mut out = vec![0u32; positions.len()];
    for (&p, &r) in positions.iter().zip(&ranks) {
        let slot = &mut start[r as usize];
        out[*slot] = p;
        *slot += 1;
    }
    positions.copy_from_slice(&out);
}
