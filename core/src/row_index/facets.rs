//! The facet pass: the rows that pass every facet of a filter, and each
//! facet's counts under the *other* facets, in one pass over the compact
//! facet columns ([`FacetIds`]), split across threads for large inputs.

use std::ops::Range;
use std::sync::OnceLock;

use super::{Counts, FacetIds, Index, Interner};
use crate::filter::Filter;

/// Below this many rows per part a pass is not worth a thread.
const MIN_PART: usize = 1 << 17;
/// Parts at most: the pass reads memory at the rate of a few cores.
const MAX_PARTS: usize = 4;
/// Cells at most in one table of [`Joint`] (8 MB).
const MAX_JOINT_CELLS: usize = 1 << 20;

/// Entries per pair of values of two facet columns, counted once at load.
/// Ticking values of one facet (the usual first tick) then needs no pass
/// for the counts: another facet's count of a value is the sum, over the
/// ticked values, of the entries that have both. Facets are numbered in
/// the order of [`FacetIds`] (actor type, action, resource type, project).
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Joint {
    /// For each pair `x < y`: cell `a * width(y) + b` counts the entries
    /// with value `a` in `x` and `b` in `y`. `None`: too many cells.
    pairs: [[Option<Vec<u64>>; 4]; 4],
    widths: [usize; 4],
}

impl Joint {
    pub(super) fn of(ix: &Index) -> Joint {
        let widths = [
            ix.actor_types.len(),
            ix.actions.len(),
            ix.resource_types.len(),
            ix.projects.len(),
        ];
        let mut pairs: [[Option<Vec<u64>>; 4]; 4] = Default::default();
        let ids = &ix.facet_ids;
        let column = |k: usize, i: usize| match k {
            0 => ids.actor_types[i] as usize,
            1 => ids.actions[i] as usize,
            2 => ids.resource_types[i] as usize,
            _ => ids.projects[i] as usize,
        };
        for x in 0..4 {
            for y in x + 1..4 {
                let cells = widths[x].saturating_mul(widths[y]);
                if cells > MAX_JOINT_CELLS {
                    continue;
                }
                let mut m = vec![0u64; cells];
                for i in 0..ix.len() {
                    m[column(x, i) * widths[y] + column(y, i)] += 1;
                }
                pairs[x][y] = Some(m);
            }
        }
        Joint { pairs, widths }
    }

    /// Facet `y`'s counts over the entries whose value in facet `x` passes
    /// `pass`; `None` if that table was too large to keep.
    fn counts(&self, x: usize, pass: &[bool], y: usize) -> Option<Vec<u64>> {
        let (wx, wy) = (self.widths[x], self.widths[y]);
        let mut out = vec![0u64; wy];
        if x < y {
            let m = self.pairs[x][y].as_ref()?;
            for (a, row) in m.chunks(wy.max(1)).enumerate().take(wx) {
                if pass.get(a) == Some(&true) {
                    out.iter_mut().zip(row).for_each(|(o, n)| *o += n);
                }
            }
        } else {
            let m = self.pairs[y][x].as_ref()?;
            for (b, row) in m.chunks(wx.max(1)).enumerate().take(wy) {
                out[b] = row
                    .iter()
                    .zip(pass)
                    .filter(|(_, p)| **p)
                    .map(|(n, _)| n)
                    .sum();
            }
        }
        Some(out)
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.pairs
            .iter()
            .flatten()
            .flatten()
            .map(|m| m.capacity() * 8)
            .sum()
    }
}

/// The rows a pass goes over.
#[derive(Clone, Copy, Debug)]
pub enum Subset<'a> {
    /// Every row of the index (no list: 4 bytes per entry neither built nor read).
    All,
    /// These positions, ascending (seq order).
    Listed(&'a [u32]),
}

impl Subset<'_> {
    pub fn len(&self, ix: &Index) -> usize {
        match self {
            Subset::All => ix.len(),
            Subset::Listed(v) => v.len(),
        }
    }

    pub fn is_empty(&self, ix: &Index) -> bool {
        self.len(ix) == 0
    }
}

/// What [`Index::facets`] returns: the rows that pass every facet, and
/// each facet's counts under the other facets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faceted {
    /// In seq order.
    pub positions: Vec<u32>,
    pub counts: Counts,
}

/// The facet parts of a filter as one table per column: entry `id` says
/// whether the interned value `id` passes (every entry, when the filter
/// does not restrict that column). Each test mirrors its part of
/// [`Filter::matches`].
pub(super) struct FacetTests {
    actor_types: Vec<bool>,
    actions: Vec<bool>,
    resource_types: Vec<bool>,
    /// By project id only: a name needs the record.
    projects: Vec<bool>,
}

impl FacetTests {
    pub(super) fn of(ix: &Index, f: &Filter) -> FacetTests {
        let by = |interner: &Interner, list: &[String], test: &dyn Fn(&str, &str) -> bool| {
            (0..interner.len() as u32)
                .map(|i| {
                    list.is_empty()
                        || interner
                            .get(i)
                            .is_some_and(|v| list.iter().any(|want| test(want, v)))
                })
                .collect()
        };
        FacetTests {
            actions: by(&ix.actions, &f.actions, &|w, v| w == v),
            resource_types: by(&ix.resource_types, &f.resource_types, &|w, v| {
                w == v || crate::catalog::display_name(v).eq_ignore_ascii_case(w)
            }),
            actor_types: (0..ix.actor_types.len() as u32)
                .map(|i| {
                    f.actor_type
                        .as_ref()
                        .is_none_or(|t| ix.actor_types.get(i) == Some(t.as_str()))
                })
                .collect(),
            projects: by(&ix.projects, &f.projects, &|w, v| w == v),
        }
    }

    pub(super) fn action(&self, id: u16) -> bool {
        self.actions[id as usize]
    }

    pub(super) fn resource_type(&self, id: u16) -> bool {
        self.resource_types[id as usize]
    }

    pub(super) fn actor_type(&self, id: u8) -> bool {
        self.actor_types[id as usize]
    }

    fn project(&self, id: u32) -> bool {
        self.projects[id as usize]
    }
}

/// One part of a pass: `rows` yields, in ascending position order, each
/// row's position and facet ids; `len` is how many.
fn tally(
    ix: &Index,
    t: &FacetTests,
    len: usize,
    rows: impl Iterator<Item = (u32, (u8, u16, u16, u32))>,
    mut named: Named<'_>,
) -> Faceted {
    let mut counts = Counts {
        actor_types: vec![0; ix.actor_types.len()],
        actions: vec![0; ix.actions.len()],
        resource_types: vec![0; ix.resource_types.len()],
        projects: vec![0; ix.projects.len()],
    };
    // Each row is written at `kept`, and kept by advancing `kept`: no
    // branch on whether a row passes (which rows pass follows no pattern).
    // Zeroed pages cost nothing until written; the rest is given back below.
    let mut positions = vec![0u32; len];
    let mut kept = 0usize;
    let (ta, tb, tc, td) = (
        &t.actor_types[..],
        &t.actions[..],
        &t.resource_types[..],
        &t.projects[..],
    );
    let c = &mut counts;
    let (ca, cb, cc, cd) = (
        &mut c.actor_types[..],
        &mut c.actions[..],
        &mut c.resource_types[..],
        &mut c.projects[..],
    );
    let out = &mut positions[..];
    let any_named = !named.list.is_empty();
    for (p, (at, ac, rt, pr)) in rows {
        let (atype, action, rtype) = (ta[at as usize], tb[ac as usize], tc[rt as usize]);
        let project = td[pr as usize] | (any_named && named.contains(p));
        ca[at as usize] += u64::from(action & rtype & project);
        cb[ac as usize] += u64::from(atype & rtype & project);
        cc[rt as usize] += u64::from(atype & action & project);
        cd[pr as usize] += u64::from(atype & action & rtype);
        out[kept] = p;
        kept += usize::from(atype & action & rtype & project);
    }
    positions.truncate(kept);
    positions.shrink_to_fit();
    Faceted { positions, counts }
}

/// The positions whose value in `column` passes.
fn kept<T: Copy>(column: &[T], pass: impl Fn(T) -> bool) -> Vec<u32> {
    // As in `tally`: every position written, the passing ones kept.
    let mut out = vec![0u32; column.len()];
    let mut kept = 0usize;
    for (p, &v) in (0u32..).zip(column) {
        out[kept] = p;
        kept += usize::from(pass(v));
    }
    out.truncate(kept);
    out.shrink_to_fit();
    out
}

/// Walks the sorted list `by_name` along ascending positions.
struct Named<'a> {
    list: &'a [u32],
    at: usize,
}

impl Named<'_> {
    #[inline(always)]
    fn contains(&mut self, p: u32) -> bool {
        while self.list.get(self.at).is_some_and(|&n| n < p) {
            self.at += 1;
        }
        self.list.get(self.at) == Some(&p)
    }
}

impl Index {
    /// Faceted search over `base`, the rows that pass the parts of `f` that
    /// no facet sets ([`Filter::without_facets`]).
    ///
    /// Returns the rows of `base` that pass every facet of `f` (actor type,
    /// action, resource type, project) and, for each facet, the counts of
    /// its values over the rows that pass every *other* facet: ticking a
    /// value then shows as many rows as its count said, and the other values
    /// of the same facet keep their counts (as faceted search does
    /// everywhere). One pass over the facet columns, split into parts run
    /// on threads when `base` is large (counts summed, rows concatenated in
    /// order: the same answer as one part, [`Index::facets_in_parts`]).
    ///
    /// A project is chosen by id or by name ([`Filter::matches`]); the index
    /// holds only the id. `by_name` lists the positions (in seq order) whose
    /// record names a chosen project although their id is not chosen; the
    /// caller finds them with [`Index::project_name_candidates`] and the
    /// records ([`super::refine_with_records`] with [`Filter::projects_only`]).
    /// The Projects counts are per id.
    pub fn facets(&self, f: &Filter, base: Subset<'_>, by_name: &[u32]) -> Faceted {
        if let (Subset::All, []) = (base, by_name)
            && let Some(done) = self.facets_of_all(&FacetTests::of(self, f))
        {
            return done;
        }
        let parts = (base.len(self) / MIN_PART).clamp(1, parallelism().min(MAX_PARTS));
        self.facets_in_parts(f, base, by_name, parts)
    }

    /// [`Index::facets`] over every row when at most one facet restricts
    /// anything: the counts from the load's ([`Index::counts`], [`Joint`]),
    /// the rows from one pass over that facet's column. `None` otherwise.
    fn facets_of_all(&self, t: &FacetTests) -> Option<Faceted> {
        let tables = [
            &t.actor_types[..],
            &t.actions[..],
            &t.resource_types[..],
            &t.projects[..],
        ];
        let restricting: Vec<usize> = (0..4).filter(|&k| tables[k].contains(&false)).collect();
        let all = &self.counts;
        let x = match restricting[..] {
            [] => {
                return Some(Faceted {
                    positions: (0..self.len() as u32).collect(),
                    counts: all.clone(),
                });
            }
            [x] => x,
            _ => return None,
        };
        let others = |y: usize| -> Option<Vec<u64>> {
            if y == x {
                Some(match y {
                    0 => all.actor_types.clone(),
                    1 => all.actions.clone(),
                    2 => all.resource_types.clone(),
                    _ => all.projects.clone(),
                })
            } else {
                self.joint.counts(x, tables[x], y)
            }
        };
        let counts = Counts {
            actor_types: others(0)?,
            actions: others(1)?,
            resource_types: others(2)?,
            projects: others(3)?,
        };
        let pass = tables[x];
        let ids = &self.facet_ids;
        let positions = match x {
            0 => kept(&ids.actor_types, |v| pass[v as usize]),
            1 => kept(&ids.actions, |v| pass[v as usize]),
            2 => kept(&ids.resource_types, |v| pass[v as usize]),
            _ => kept(&ids.projects, |v| pass[v as usize]),
        };
        Some(Faceted { positions, counts })
    }

    /// [`Index::facets`] in `parts` parts (one thread each beyond the first).
    pub fn facets_in_parts(
        &self,
        f: &Filter,
        base: Subset<'_>,
        by_name: &[u32],
        parts: usize,
    ) -> Faceted {
        let t = FacetTests::of(self, f);
        let n = base.len(self);
        let parts = parts.clamp(1, n.max(1));
        // Part i covers base[bounds[i]..bounds[i + 1]].
        let bounds: Vec<usize> = (0..=parts).map(|i| i * n / parts).collect();
        let run = |i: usize| {
            let (lo, hi) = (bounds[i], bounds[i + 1]);
            match base {
                Subset::All => self.pass_range(&t, lo..hi, by_name),
                Subset::Listed(v) => self.pass_list(&t, &v[lo..hi], by_name),
            }
        };
        if parts == 1 {
            return run(0);
        }
        let mut results: Vec<Faceted> = std::thread::scope(|s| {
            let run = &run;
            // A part whose thread cannot start runs here, after the first.
            let others: Vec<Result<_, usize>> = (1..parts)
                .map(|i| {
                    std::thread::Builder::new()
                        .name("facet pass".into())
                        .spawn_scoped(s, move || run(i))
                        .map_err(|_| i)
                })
                .collect();
            let mut all = vec![run(0)];
            all.extend(others.into_iter().map(|h| match h {
                // A panic in a part (none is expected: every index read
                // comes from the index itself) goes on in the caller's
                // thread, whose task reports it.
                Ok(h) => h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
                Err(i) => run(i),
            }));
            all
        });
        let mut out = results.remove(0);
        out.positions
            .reserve_exact(results.iter().map(|r| r.positions.len()).sum());
        for r in results {
            out.positions.extend_from_slice(&r.positions);
            let sum = |a: &mut Vec<u64>, b: &[u64]| a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
            sum(&mut out.counts.actor_types, &r.counts.actor_types);
            sum(&mut out.counts.actions, &r.counts.actions);
            sum(&mut out.counts.resource_types, &r.counts.resource_types);
            sum(&mut out.counts.projects, &r.counts.projects);
        }
        out
    }

    /// The part of `by_name` that falls in `lo..end`.
    fn named_within(by_name: &[u32], lo: u32, end: u32) -> Named<'_> {
        let start = by_name.partition_point(|&n| n < lo);
        let end = by_name.partition_point(|&n| n < end);
        Named {
            list: &by_name[start..end.max(start)],
            at: 0,
        }
    }

    /// The pass over the rows at positions `range`: the columns read in
    /// step, with no position list.
    fn pass_range(&self, t: &FacetTests, range: Range<usize>, by_name: &[u32]) -> Faceted {
        let ids = &self.facet_ids;
        let columns = ids.actor_types[range.clone()]
            .iter()
            .zip(&ids.actions[range.clone()])
            .zip(&ids.resource_types[range.clone()])
            .zip(&ids.projects[range.clone()])
            .map(|(((&at, &ac), &rt), &pr)| (at, ac, rt, pr));
        let rows = (range.start as u32..).zip(columns);
        let named = Self::named_within(by_name, range.start as u32, range.end as u32);
        tally(self, t, range.len(), rows, named)
    }

    /// The pass over the rows at `list` (ascending positions).
    fn pass_list(&self, t: &FacetTests, list: &[u32], by_name: &[u32]) -> Faceted {
        let ids: &FacetIds = &self.facet_ids;
        let rows = list.iter().map(|&p| {
            let i = p as usize;
            let row = (
                ids.actor_types[i],
                ids.actions[i],
                ids.resource_types[i],
                ids.projects[i],
            );
            (p, row)
        });
        let (lo, hi) = (list.first().copied(), list.last().copied());
        let named = Self::named_within(
            by_name,
            lo.unwrap_or(0),
            hi.map_or(0, |h| h.saturating_add(1)),
        );
        tally(self, t, list.len(), rows, named)
    }

    /// The positions of `base` whose project id is not among `f`'s chosen
    /// projects: only their records can still match by project *name*
    /// (see [`Index::facets`]). Empty when `f` chooses no project.
    pub fn project_name_candidates(&self, f: &Filter, base: Subset<'_>) -> Vec<u32> {
        if f.projects.is_empty() {
            return Vec::new();
        }
        let t = FacetTests::of(self, f);
        let projects = &self.facet_ids.projects;
        let chosen = |p: u32| t.project(projects[p as usize]);
        match base {
            Subset::All => (0..self.len() as u32).filter(|&p| !chosen(p)).collect(),
            Subset::Listed(v) => v.iter().copied().filter(|&p| !chosen(p)).collect(),
        }
    }
}

/// Threads the machine offers (asked once: the answer reads cgroup files).
pub(super) fn parallelism() -> usize {
    static N: OnceLock<usize> = OnceLock::new();
    *N.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}
