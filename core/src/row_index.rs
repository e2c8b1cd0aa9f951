//! The compact in-memory index of an archive: a few small columns per entry
//! (ids of interned strings), loaded by a single SQL scan over the
//! denormalised columns, plus the interned strings.
//!
//! The index answers the structured parts of a [`Filter`] (time, action,
//! resource type, actor type) and sorting. Parts that need the hashed record
//! (free text, actor, and project, which may be given by name while the index
//! holds only project ids) are decided by the core's [`Filter::matches`] on
//! the parsed record, in [`refine_with_records`].
//!
//! The index also counts the facet values the viewer lists beside the
//! table, each facet under every *other* active filter ([`Index::facets`]).

use std::collections::HashMap;
use std::path::Path;

use crate::archive::Archive;
use crate::filter::Filter;
use crate::job::Job;

mod facets;
mod load;
mod order;

pub use facets::{Faceted, Subset};

/// Strings seen in one column, each stored once. Id 0 is "absent" (SQL NULL).
#[derive(Default, Debug)]
pub struct Interner {
    pub values: Vec<Option<Box<str>>>,
    lookup: HashMap<Box<str>, u32>,
}

impl Interner {
    fn new() -> Self {
        Interner {
            values: vec![None],
            lookup: HashMap::new(),
        }
    }

    fn intern(&mut self, s: Option<&str>) -> u32 {
        let Some(s) = s else { return 0 };
        if let Some(&id) = self.lookup.get(s) {
            return id;
        }
        let id = self.values.len() as u32;
        self.values.push(Some(s.into()));
        self.lookup.insert(s.into(), id);
        id
    }

    pub fn get(&self, id: u32) -> Option<&str> {
        self.values.get(id as usize).and_then(|v| v.as_deref())
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.len() <= 1
    }

    /// Rank of each id in sorted string order (absent first).
    fn ranks(&self, key: impl Fn(&str) -> String) -> Vec<u32> {
        let mut ids: Vec<u32> = (0..self.values.len() as u32).collect();
        ids.sort_by_cached_key(|&i| self.get(i).map(&key));
        let mut rank = vec![0u32; ids.len()];
        for (r, &i) in ids.iter().enumerate() {
            rank[i as usize] = r as u32;
        }
        rank
    }
}

/// The columns of an entry that no facet lists (12 bytes); its time and
/// facet values are in their own columns ([`Index::times`],
/// [`Index::facet_ids`]), its seq in [`Seqs`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Row {
    pub actor: u32,
    pub org: u32,
    pub ip: u32,
}

/// The facet columns, one value per entry in seq order, kept apart from the
/// rest of the row: the facet pass, run on every tick of a facet, reads 9
/// bytes per entry instead of a whole row.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FacetIds {
    pub actor_types: Vec<u8>,
    pub actions: Vec<u16>,
    pub resource_types: Vec<u16>,
    pub projects: Vec<u32>,
}

/// Sortable columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SortKey {
    Seq,
    Time,
    Actor,
    ActorType,
    Action,
    ResourceType,
    /// Resource name, else id; ranks come from the text index.
    Resource,
    Project,
    Org,
    Ip,
}

/// The seq of each row. Archives number entries 1, 2, 3, … so usually a
/// start is all it takes (8 bytes per entry saved); any gap keeps a list.
#[derive(Debug, PartialEq, Eq)]
pub enum Seqs {
    Contiguous(u64),
    Listed(Vec<u64>),
}

impl Default for Seqs {
    fn default() -> Self {
        Seqs::Contiguous(1)
    }
}

#[derive(Debug, Default)]
pub struct Index {
    /// In seq order, as every column below.
    pub rows: Vec<Row>,
    /// Entry times (ms since the epoch).
    pub times: Vec<i64>,
    pub facet_ids: FacetIds,
    pub seqs: Seqs,
    pub actors: Interner,
    pub actor_types: Interner,
    pub actions: Interner,
    pub resource_types: Interner,
    pub projects: Interner,
    pub orgs: Interner,
    pub ips: Interner,
    ranks: Ranks,
    /// Counts per interned id, over all rows.
    pub counts: Counts,
    /// Counts per pair of values of two facets, over all rows.
    joint: facets::Joint,
    /// False for the first page loaded to show something at once
    /// ([`Index::load_prefix`]); filters wait for the complete index.
    pub complete: bool,
    /// Entries in the archive (all of them, even in a prefix): counted once
    /// complete; in a prefix, the span of stored seqs (the same, unless
    /// entries were deleted).
    pub total: u64,
    /// Oldest and newest entry time, computed once (every frame asks).
    span: Option<(i64, i64)>,
    /// Times never decrease in seq order (checked once at load; true of a
    /// log written as things happened): a time range is then a range of
    /// positions, and rows in seq order are in time order.
    times_ascending: bool,
    /// Project id → the name in the first entry of that project (the
    /// archive's columns hold only ids; people know projects by name).
    pub project_names: HashMap<String, String>,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Ranks {
    actor: Vec<u32>,
    actor_type: Vec<u32>,
    action: Vec<u32>,
    resource_type: Vec<u32>,
    project: Vec<u32>,
    org: Vec<u32>,
    ip: Vec<u32>,
}

/// Entries per interned id of each facet column (index = the id).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub actor_types: Vec<u64>,
    pub actions: Vec<u64>,
    pub resource_types: Vec<u64>,
    pub projects: Vec<u64>,
}

fn count(n: usize, ids: impl Iterator<Item = u32>) -> Vec<u64> {
    let mut c = vec![0u64; n];
    for i in ids {
        c[i as usize] += 1;
    }
    c
}

impl Index {
    /// Counts each facet's values, alone and in pairs, over all rows.
    fn count_facets(&mut self) {
        let ids = &self.facet_ids;
        self.counts = Counts {
            actor_types: count(
                self.actor_types.len(),
                ids.actor_types.iter().map(|&i| i as u32),
            ),
            actions: count(self.actions.len(), ids.actions.iter().map(|&i| i as u32)),
            resource_types: count(
                self.resource_types.len(),
                ids.resource_types.iter().map(|&i| i as u32),
            ),
            projects: count(self.projects.len(), ids.projects.iter().copied()),
        };
        self.joint = facets::Joint::of(self);
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn time_span(&self) -> Option<(i64, i64)> {
        self.span
    }

    /// The oldest and newest time among `positions` (in any order): one
    /// pass over the times, or, when times follow seq order, over the
    /// positions alone (no load per entry).
    pub fn time_bounds(&self, positions: &[u32]) -> Option<(i64, i64)> {
        let t = &self.times;
        if self.times_ascending {
            let lo = positions.iter().min()?;
            let hi = positions.iter().max()?;
            return Some((t[*lo as usize], t[*hi as usize]));
        }
        positions.iter().fold(None, |acc, &p| {
            let x = t[p as usize];
            Some(acc.map_or((x, x), |(lo, hi): (i64, i64)| (lo.min(x), hi.max(x))))
        })
    }

    /// The seq of the row at `pos` (which must be in range).
    pub fn seq(&self, pos: usize) -> u64 {
        match &self.seqs {
            Seqs::Contiguous(first) => first + pos as u64,
            Seqs::Listed(v) => v[pos],
        }
    }

    /// Position of a seq in `rows` (rows are in seq order).
    pub fn position(&self, seq: u64) -> Option<u32> {
        match &self.seqs {
            Seqs::Contiguous(first) => seq
                .checked_sub(*first)
                .filter(|&p| p < self.rows.len() as u64)
                .map(|p| p as u32),
            Seqs::Listed(v) => v.binary_search(&seq).ok().map(|p| p as u32),
        }
    }

    /// Positions of the rows that the structured part of `f` accepts, in seq
    /// order. Each predicate mirrors the corresponding test in
    /// [`Filter::matches`]; see [`needs_records`] for the parts it leaves out.
    pub fn candidates(&self, f: &Filter) -> Vec<u32> {
        let (from, to) = (f.from.map(|t| t.0), f.to.map(|t| t.0));
        // Times in seq order: the time range is a range of positions.
        let range = if self.times_ascending {
            let start = from.map_or(0, |f| self.times.partition_point(|&t| t < f));
            let end = to.map_or(self.len(), |e| self.times.partition_point(|&t| t < e));
            start..end.max(start)
        } else {
            0..self.len()
        };
        let timed = (from.is_some() || to.is_some()) && !self.times_ascending;
        if !timed && f.actions.is_empty() && f.resource_types.is_empty() && f.actor_type.is_none() {
            // Nothing left to test (a search alone, or only times): the range.
            return (range.start as u32..range.end as u32).collect();
        }
        let t = facets::FacetTests::of(self, f);
        let ids = &self.facet_ids;
        range
            .filter(|&i| {
                let time = self.times[i];
                from.is_none_or(|f| time >= f)
                    && to.is_none_or(|t| time < t)
                    && t.action(ids.actions[i])
                    && t.resource_type(ids.resource_types[i])
                    && t.actor_type(ids.actor_types[i])
            })
            .map(|i| i as u32)
            .collect()
    }

    /// Approximate heap bytes used (for the memory figure).
    pub fn heap_bytes(&self) -> usize {
        let interned = |i: &Interner| {
            i.values
                .iter()
                .map(|v| v.as_ref().map_or(0, |s| 2 * s.len() + 48))
                .sum::<usize>()
                + i.values.len() * 24
        };
        let ids = &self.facet_ids;
        self.rows.capacity() * std::mem::size_of::<Row>()
            + self.times.capacity() * 8
            + ids.actor_types.capacity()
            + ids.actions.capacity() * 2
            + ids.resource_types.capacity() * 2
            + ids.projects.capacity() * 4
            + self.joint.heap_bytes()
            + match &self.seqs {
                Seqs::Contiguous(_) => 0,
                Seqs::Listed(v) => v.capacity() * 8,
            }
            + [
                &self.actors,
                &self.actor_types,
                &self.actions,
                &self.resource_types,
                &self.projects,
                &self.orgs,
                &self.ips,
            ]
            .into_iter()
            .map(interned)
            .sum::<usize>()
    }
}

/// The archive, read with plain reads: the viewer's whole-archive passes
/// (this index, the text index, a search over the records) would otherwise
/// make every page of the file resident through SQLite's memory map (a
/// 1.4 GB archive held 1.4 GB of file-backed memory after one search), and
/// those pages count in the viewer's resident memory for as long as it runs.
pub fn open_unmapped(path: &Path) -> Result<Archive, String> {
    let archive = Archive::open(path).map_err(|e| e.to_string())?;
    archive.read_streaming().map_err(|e| e.to_string())?;
    Ok(archive)
}

/// Does this filter have parts that only the record can decide? A project
/// matches by id or by name, and the index holds only the id.
pub fn needs_records(f: &Filter) -> bool {
    f.actor.is_some()
        || f.search.as_deref().is_some_and(|s| !s.is_empty())
        || !f.projects.is_empty()
}

/// Keeps the candidates whose parsed record the core's [`Filter::matches`]
/// accepts: positions in seq order in, the kept ones in the same order out.
/// Unreadable records never match. How the records are read and tested
/// fast is [`crate::hit_check`]'s business.
pub fn refine_with_records(
    index: &Index,
    archive_path: &Path,
    candidates: &[u32],
    f: &Filter,
    job: &Job,
) -> Result<Vec<u32>, String> {
    crate::hit_check::refine(index, archive_path, candidates, f, job)
}

/// Returns freed heap to the OS. Building the indexes allocates large
/// temporary tables (hash maps, arenas) on worker threads; glibc keeps such
/// memory in its arenas, which would count against the viewer's resident
/// memory for as long as the file is open.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ActorType, Entry};

    fn sample() -> (Index, Vec<Entry>) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-data/audit-sample.sqlite");
        let ix = Index::load(&path, &Job::new()).unwrap();
        let a = Archive::open(&path).unwrap();
        let entries = (0..ix.len())
            .map(|p| a.entry(ix.seq(p)).unwrap().unwrap().entry)
            .collect();
        (ix, entries)
    }

    /// The facet pass against the definition: the rows are those that
    /// `Filter::matches` accepts, and each facet's count of a value is the
    /// number of entries with that value that pass the filter without that
    /// facet's own part.
    #[test]
    fn facet_counts_follow_the_other_filters() {
        let (ix, entries) = sample();
        let prod = entries
            .iter()
            .find_map(|e| e.project_id.clone().zip(e.project_name.clone()))
            .unwrap();
        let filters = [
            Filter::default(),
            Filter {
                search: Some("staging".into()),
                ..Filter::default()
            },
            Filter {
                actions: vec!["create".into(), "delete".into()],
                resource_types: vec!["prompt".into(), "API Key".into()],
                ..Filter::default()
            },
            Filter {
                projects: vec![prod.0.clone()],
                actor_type: Some(ActorType::User),
                search: Some("staging".into()),
                ..Filter::default()
            },
            // By name: only the records can tell.
            Filter {
                projects: vec![prod.1.clone()],
                actions: vec!["update".into()],
                ..Filter::default()
            },
        ];
        let matching = |f: &Filter| -> Vec<u32> {
            (0..ix.len() as u32)
                .filter(|&p| f.matches(&entries[p as usize]))
                .collect()
        };
        for f in filters {
            let base = matching(&f.without_facets());
            let by_name: Vec<u32> = ix
                .project_name_candidates(&f, Subset::Listed(&base))
                .into_iter()
                .filter(|&p| f.projects_only().matches(&entries[p as usize]))
                .collect();
            let got = ix.facets(&f, Subset::Listed(&base), &by_name);
            assert_eq!(got.positions, matching(&f), "{f:?}");
            let facet = |without: Filter, id: &dyn Fn(usize) -> u32, n: usize| {
                let mut c = vec![0u64; n];
                for p in matching(&without) {
                    c[id(p as usize) as usize] += 1;
                }
                c
            };
            let ids = &ix.facet_ids;
            let want = Counts {
                actor_types: facet(
                    Filter {
                        actor_type: None,
                        ..f.clone()
                    },
                    &|p| ids.actor_types[p] as u32,
                    ix.actor_types.len(),
                ),
                actions: facet(
                    Filter {
                        actions: Vec::new(),
                        ..f.clone()
                    },
                    &|p| ids.actions[p] as u32,
                    ix.actions.len(),
                ),
                resource_types: facet(
                    Filter {
                        resource_types: Vec::new(),
                        ..f.clone()
                    },
                    &|p| ids.resource_types[p] as u32,
                    ix.resource_types.len(),
                ),
                projects: facet(
                    Filter {
                        projects: Vec::new(),
                        ..f.clone()
                    },
                    &|p| ids.projects[p],
                    ix.projects.len(),
                ),
            };
            assert_eq!(got.counts, want, "{f:?}");
            if f.is_empty() {
                assert_eq!(got.counts, ix.counts);
            }
        }
        // The search alone narrows the other facets' counts.
        let staging = Filter {
            search: Some("staging".into()),
            ..Filter::default()
        };
        let base = matching(&staging);
        let got = ix.facets(&staging, Subset::Listed(&base), &[]);
        assert!(base.len() < ix.len());
        assert_eq!(got.counts.projects.iter().sum::<u64>(), base.len() as u64);
        assert_ne!(got.counts.projects, ix.counts.projects);
    }

    /// A random index of `n` rows (xorshift from `seed`): few values per
    /// facet column so that filters pick some rows and not others; times in
    /// seq order or not, with ties either way.
    fn random_index(n: usize, seed: u64, ascending: bool) -> Index {
        let mut x = seed | 1;
        let mut next = move |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        let interner = |prefix: &str, k: usize| {
            let mut i = Interner::new();
            for v in 0..k {
                i.intern(Some(&format!("{prefix}{v}")));
            }
            i
        };
        let mut ix = Index {
            actors: interner("actor", 9),
            actor_types: interner("t", 3),
            actions: interner("a", 7),
            resource_types: interner("r", 5),
            projects: interner("p", 6),
            orgs: interner("o", 4),
            ips: interner("ip", 11),
            complete: true,
            total: n as u64,
            ..Default::default()
        };
        let mut t = 1_000i64;
        for _ in 0..n {
            // Id 0 ("absent") included.
            ix.facet_ids.actor_types.push(next(4) as u8);
            ix.facet_ids.actions.push(next(8) as u16);
            ix.facet_ids.resource_types.push(next(6) as u16);
            ix.facet_ids.projects.push(next(7) as u32);
            ix.rows.push(Row {
                actor: next(10) as u32,
                org: next(5) as u32,
                ip: next(12) as u32,
            });
            t = if ascending {
                t + next(3) as i64
            } else {
                next(50) as i64
            };
            ix.times.push(t);
        }
        ix.times_ascending = ix.times.is_sorted();
        ix.count_facets();
        ix.ranks = Ranks {
            actor: ix.actors.ranks(|s| s.to_lowercase()),
            actor_type: ix.actor_types.ranks(str::to_string),
            action: ix.actions.ranks(str::to_string),
            resource_type: ix.resource_types.ranks(str::to_string),
            project: ix.projects.ranks(str::to_string),
            org: ix.orgs.ranks(str::to_string),
            ip: ix.ips.ranks(str::to_string),
        };
        ix
    }

    /// The facet pass written out plainly, from the filter's lists and the
    /// interned strings: the definition the fast pass must equal.
    fn plain_facets(ix: &Index, f: &Filter, base: &[u32], by_name: &[u32]) -> Faceted {
        let ids = &ix.facet_ids;
        let any = |list: &[String], v: Option<&str>| {
            list.is_empty() || v.is_some_and(|v| list.iter().any(|w| w == v))
        };
        let pass = |p: usize| {
            [
                f.actor_type.as_ref().is_none_or(|t| {
                    ix.actor_types.get(ids.actor_types[p] as u32) == Some(t.as_str())
                }),
                any(&f.actions, ix.actions.get(ids.actions[p] as u32)),
                any(
                    &f.resource_types,
                    ix.resource_types.get(ids.resource_types[p] as u32),
                ),
                any(&f.projects, ix.projects.get(ids.projects[p])) || by_name.contains(&(p as u32)),
            ]
        };
        let mut c = Counts {
            actor_types: vec![0; ix.actor_types.len()],
            actions: vec![0; ix.actions.len()],
            resource_types: vec![0; ix.resource_types.len()],
            projects: vec![0; ix.projects.len()],
        };
        let mut positions = Vec::new();
        for &p in base {
            let i = p as usize;
            let ok = pass(i);
            let others = |skip: usize| (0..4).filter(|&k| k != skip).all(|k| ok[k]);
            c.actor_types[ids.actor_types[i] as usize] += u64::from(others(0));
            c.actions[ids.actions[i] as usize] += u64::from(others(1));
            c.resource_types[ids.resource_types[i] as usize] += u64::from(others(2));
            c.projects[ids.projects[i] as usize] += u64::from(others(3));
            if ok.iter().all(|&b| b) {
                positions.push(p);
            }
        }
        Faceted {
            positions,
            counts: c,
        }
    }

    /// The compact pass, in one part or split across threads, over every
    /// row or a list, equals the plain definition on random indexes.
    #[test]
    fn the_split_compact_pass_equals_the_plain_one() {
        use crate::model::ActorType;
        let filters = [
            Filter::default(),
            Filter {
                actions: vec!["a1".into()],
                ..Filter::default()
            },
            Filter {
                actions: vec!["a1".into(), "a4".into()],
                resource_types: vec!["r2".into()],
                ..Filter::default()
            },
            Filter {
                actions: vec!["a0".into()],
                resource_types: vec!["r1".into(), "r3".into()],
                projects: vec!["p2".into(), "p5".into()],
                ..Filter::default()
            },
            Filter {
                actor_type: Some(ActorType::User),
                projects: vec!["p0".into()],
                ..Filter::default()
            },
            Filter {
                projects: vec!["p2".into(), "p3".into()],
                ..Filter::default()
            },
            Filter {
                actor_type: Some(ActorType::ApiKey),
                ..Filter::default()
            },
            // Values no row has.
            Filter {
                actions: vec!["nothing".into()],
                projects: vec!["none".into()],
                ..Filter::default()
            },
        ];
        for (seed, n) in [(1u64, 0usize), (2, 1), (3, 17), (4, 1000), (5, 4099)] {
            let mut ix = random_index(n, seed, seed % 2 == 0);
            // One actor type named as the filter spells it.
            ix.actor_types = {
                let mut i = Interner::new();
                for v in ["USER", "API_KEY", "SYSTEM"] {
                    i.intern(Some(v));
                }
                i
            };
            ix.count_facets();
            let all: Vec<u32> = (0..n as u32).collect();
            let some: Vec<u32> = all.iter().copied().filter(|p| p % 3 != 1).collect();
            // Records that name a chosen project by name (any rows will do).
            let named: Vec<u32> = all.iter().copied().filter(|p| p % 5 == 2).collect();
            for f in &filters {
                let by_name: &[u32] = if f.projects.is_empty() { &[] } else { &named };
                let by_name_some: Vec<u32> = by_name
                    .iter()
                    .copied()
                    .filter(|p| some.binary_search(p).is_ok())
                    .collect();
                let want_all = plain_facets(&ix, f, &all, by_name);
                let want_some = plain_facets(&ix, f, &some, &by_name_some);
                if n >= 1000 {
                    // Each filter but the last picks some rows, not all.
                    let picked = want_all.positions.len();
                    assert!(f.is_empty() || picked < n, "{f:?}");
                    assert_eq!(picked == 0, f.actions == ["nothing"], "{f:?}");
                }
                for parts in 1..=4 {
                    let got = ix.facets_in_parts(f, Subset::All, by_name, parts);
                    assert_eq!(got, want_all, "{f:?} n {n} parts {parts} all");
                    let got = ix.facets_in_parts(f, Subset::Listed(&all), by_name, parts);
                    assert_eq!(got, want_all, "{f:?} n {n} parts {parts} listed");
                    let got = ix.facets_in_parts(f, Subset::Listed(&some), &by_name_some, parts);
                    assert_eq!(got, want_some, "{f:?} n {n} parts {parts} some");
                }
                assert_eq!(ix.facets(f, Subset::All, by_name), want_all);
                // No record named a project: the counts of a single ticked
                // facet come from the load's pair counts.
                let plain = plain_facets(&ix, f, &all, &[]);
                assert_eq!(ix.facets(f, Subset::All, &[]), plain, "{f:?} n {n}");
            }
        }
    }

    /// Every sort equals a plain stable sort of the seq-ordered rows by the
    /// column's rank (descending: by the reversed rank), so ties keep seq
    /// order both ways; with times in seq order or not.
    #[test]
    fn sorts_equal_a_stable_sort_with_ties_in_seq_order() {
        use std::cmp::Reverse;
        let keys = [
            SortKey::Seq,
            SortKey::Time,
            SortKey::Actor,
            SortKey::ActorType,
            SortKey::Action,
            SortKey::ResourceType,
            SortKey::Resource,
            SortKey::Project,
            SortKey::Org,
            SortKey::Ip,
        ];
        for (seed, ascending) in [(7u64, true), (8, false), (9, true)] {
            let ix = random_index(3000, seed, ascending);
            assert_eq!(ix.times_ascending, ascending);
            let ids = &ix.facet_ids;
            // A rank per position for the Resource column, with ties; a
            // short one leaves the last positions to sort by seq.
            let resource: Vec<u32> = (0..2990u32).map(|p| (p * 7919) % 40).collect();
            // Every other row, shuffled: the sort starts from seq order itself.
            let mut shown: Vec<u32> = (0..3000u32).filter(|p| p % 2 == 0).collect();
            shown.reverse();
            shown.swap(3, 400);
            let rk = &ix.ranks;
            for key in keys {
                let k = |p: u32| -> i64 {
                    let i = p as usize;
                    match key {
                        SortKey::Seq => p as i64,
                        SortKey::Time => ix.times[i],
                        SortKey::Actor => rk.actor[ix.rows[i].actor as usize] as i64,
                        SortKey::ActorType => rk.actor_type[ids.actor_types[i] as usize] as i64,
                        SortKey::Action => rk.action[ids.actions[i] as usize] as i64,
                        SortKey::ResourceType => {
                            rk.resource_type[ids.resource_types[i] as usize] as i64
                        }
                        SortKey::Resource => resource.get(i).map_or(p as i64, |&r| r as i64),
                        SortKey::Project => rk.project[ids.projects[i] as usize] as i64,
                        SortKey::Org => rk.org[ix.rows[i].org as usize] as i64,
                        SortKey::Ip => rk.ip[ix.rows[i].ip as usize] as i64,
                    }
                };
                for descending in [false, true] {
                    let mut want = shown.clone();
                    want.sort_unstable();
                    if descending {
                        want.sort_by_key(|&p| Reverse(k(p)));
                    } else {
                        want.sort_by_key(|&p| k(p));
                    }
                    let mut got = shown.clone();
                    ix.sort(&mut got, key, descending, Some(&resource));
                    assert_eq!(got, want, "{key:?} descending {descending} seed {seed}");
                }
            }
            // Resource without ranks sorts by seq.
            let mut got = shown.clone();
            ix.sort(&mut got, SortKey::Resource, true, None);
            let mut want = shown.clone();
            want.sort_unstable_by_key(|&p| Reverse(p));
            assert_eq!(got, want);
        }
    }

    /// The structured filter picks what its predicates say, whether times
    /// follow seq order (a range of positions found by bisection) or not;
    /// and the time bounds of a list are its oldest and newest time.
    #[test]
    fn candidates_and_time_bounds_follow_the_times() {
        for (seed, ascending) in [(11u64, true), (12, false)] {
            let ix = random_index(2000, seed, ascending);
            let (min, max) = (
                *ix.times.iter().min().unwrap(),
                *ix.times.iter().max().unwrap(),
            );
            for (from, to, actions) in [
                (None, None, vec![]),
                (Some(min + 10), None, vec![]),
                (None, Some(max - 10), vec!["a2".to_string()]),
                (Some(min + 5), Some(min + 30), vec![]),
                (Some(max + 1), None, vec![]),
                (Some(min + 30), Some(min + 5), vec!["a1".to_string()]),
            ] {
                let f = Filter {
                    from: from.map(crate::time::Timestamp),
                    to: to.map(crate::time::Timestamp),
                    actions: actions.clone(),
                    ..Filter::default()
                };
                let want: Vec<u32> = (0..ix.len() as u32)
                    .filter(|&p| {
                        let t = ix.times[p as usize];
                        let a = ix.actions.get(ix.facet_ids.actions[p as usize] as u32);
                        from.is_none_or(|f| t >= f)
                            && to.is_none_or(|e| t < e)
                            && (actions.is_empty()
                                || a.is_some_and(|a| actions.iter().any(|w| w == a)))
                    })
                    .collect();
                assert_eq!(ix.candidates(&f), want, "{f:?} ascending {ascending}");
            }
            let some: Vec<u32> = vec![1500, 3, 999, 1200];
            let times: Vec<i64> = some.iter().map(|&p| ix.times[p as usize]).collect();
            assert_eq!(
                ix.time_bounds(&some),
                Some((*times.iter().min().unwrap(), *times.iter().max().unwrap()))
            );
            assert_eq!(ix.time_bounds(&[]), None);
        }
    }
}
