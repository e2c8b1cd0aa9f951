//! The compact in-memory index of an archive: one small row per entry, loaded
//! by a single SQL scan over the denormalised columns, plus interned strings.
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

use crate::archive::{Archive, Cell, Column, Columns, Scan};
use crate::filter::Filter;
use crate::job::Job;

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

/// One entry in the index (32 bytes). Its seq is in [`Seqs`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Row {
    pub time_ms: i64,
    pub actor: u32,
    pub project: u32,
    pub org: u32,
    pub ip: u32,
    pub action: u16,
    pub resource_type: u16,
    pub actor_type: u8,
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
#[derive(Debug)]
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
    /// In seq order.
    pub rows: Vec<Row>,
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
    /// False for the first page loaded to show something at once
    /// ([`Index::load_prefix`]); filters wait for the complete index.
    pub complete: bool,
    /// Entries in the archive (all of them, even in a prefix): counted once
    /// complete; in a prefix, the span of stored seqs (the same, unless
    /// entries were deleted).
    pub total: u64,
    /// Oldest and newest entry time, computed once (every frame asks).
    span: Option<(i64, i64)>,
    /// Project id → the name in the first entry of that project (the
    /// archive's columns hold only ids; people know projects by name).
    pub project_names: HashMap<String, String>,
}

#[derive(Debug, Default)]
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

/// What [`Index::facets`] returns: the rows that pass every facet, and
/// each facet's counts under the other facets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faceted {
    /// In seq order.
    pub positions: Vec<u32>,
    pub counts: Counts,
}

/// The facet parts of a filter as one table per column: entry `id` says
/// whether the interned value `id` passes. `None`: the filter does not
/// restrict that column. Each test mirrors its part of [`Filter::matches`].
struct FacetTests {
    actions: Option<Vec<bool>>,
    resource_types: Option<Vec<bool>>,
    actor_types: Option<Vec<bool>>,
    /// By project id only: a name needs the record.
    projects: Option<Vec<bool>>,
}

impl FacetTests {
    fn of(ix: &Index, f: &Filter) -> FacetTests {
        let by = |interner: &Interner, list: &[String], test: &dyn Fn(&str, &str) -> bool| {
            (!list.is_empty()).then(|| {
                (0..interner.len() as u32)
                    .map(|i| {
                        interner
                            .get(i)
                            .is_some_and(|v| list.iter().any(|want| test(want, v)))
                    })
                    .collect()
            })
        };
        FacetTests {
            actions: by(&ix.actions, &f.actions, &|w, v| w == v),
            resource_types: by(&ix.resource_types, &f.resource_types, &|w, v| {
                w == v || crate::catalog::display_name(v).eq_ignore_ascii_case(w)
            }),
            actor_types: f.actor_type.as_ref().map(|t| {
                (0..ix.actor_types.len() as u32)
                    .map(|i| ix.actor_types.get(i) == Some(t.as_str()))
                    .collect()
            }),
            projects: by(&ix.projects, &f.projects, &|w, v| w == v),
        }
    }

    fn pass(table: &Option<Vec<bool>>, id: u32) -> bool {
        table.as_ref().is_none_or(|t| t[id as usize])
    }

    fn action(&self, r: &Row) -> bool {
        Self::pass(&self.actions, r.action as u32)
    }

    fn resource_type(&self, r: &Row) -> bool {
        Self::pass(&self.resource_types, r.resource_type as u32)
    }

    fn actor_type(&self, r: &Row) -> bool {
        Self::pass(&self.actor_types, r.actor_type as u32)
    }

    fn project(&self, r: &Row) -> bool {
        Self::pass(&self.projects, r.project)
    }
}

impl Index {
    /// Loads the index with one scan over the archive's indexed columns.
    pub fn load(path: &Path, job: &Job) -> Result<Index, String> {
        let archive = open_unmapped(path)?;
        Self::load_from(&archive, None, job)
    }

    /// The first (or, with `newest`, the last) `limit` entries by seq: a
    /// few milliseconds, so the table shows something while [`Index::load`]
    /// reads the whole archive. `complete` is false unless that was all.
    pub fn load_prefix(path: &Path, limit: u64, newest: bool, job: &Job) -> Result<Index, String> {
        let archive = open_unmapped(path)?;
        Self::load_from(&archive, Some((limit, newest)), job)
    }

    fn load_from(
        archive: &Archive,
        prefix: Option<(u64, bool)>,
        job: &Job,
    ) -> Result<Index, String> {
        // Counted in the table itself; for a prefix, which must show at once,
        // the span of stored seqs (the same unless entries were deleted).
        // The rows read give the exact count below.
        let expected = match prefix {
            None => archive.count()?,
            Some(_) => archive.seq_span()?,
        };
        job.start_phase("loading index", expected);
        let cols = Columns::of(&[
            Column::TimeMs,
            Column::ActorLabel,
            Column::ActorType,
            Column::Action,
            Column::ResourceType,
            Column::ProjectId,
            Column::OrgId,
            Column::IpAddress,
        ]);
        let scan = match prefix {
            None => Scan::all(cols),
            Some((limit, false)) => Scan::all(cols).limit(limit),
            Some((limit, true)) => Scan::all(cols).newest_first().limit(limit),
        };
        let capacity = prefix.map_or(expected, |(l, _)| l.min(expected));
        let mut seqs: Vec<u64> = Vec::with_capacity(capacity as usize);
        let mut ix = Index {
            rows: Vec::with_capacity(capacity as usize),
            actors: Interner::new(),
            actor_types: Interner::new(),
            actions: Interner::new(),
            resource_types: Interner::new(),
            projects: Interner::new(),
            orgs: Interner::new(),
            ips: Interner::new(),
            ..Default::default()
        };
        archive.scan::<String>(&scan, |r| {
            // Borrowed: interning looks up before it copies, so the common
            // case (a value seen before) allocates nothing.
            let text = |c: Column| r.get(c).text();
            seqs.push(r.seq());
            let row = Row {
                time_ms: match r.get(Column::TimeMs) {
                    Cell::Integer(t) => t,
                    _ => 0,
                },
                actor: ix.actors.intern(text(Column::ActorLabel).as_deref()),
                actor_type: ix
                    .actor_types
                    .intern(text(Column::ActorType).as_deref())
                    .min(255) as u8,
                action: ix
                    .actions
                    .intern(text(Column::Action).as_deref())
                    .min(u16::MAX as u32) as u16,
                resource_type: ix
                    .resource_types
                    .intern(text(Column::ResourceType).as_deref())
                    .min(u16::MAX as u32) as u16,
                project: ix.projects.intern(text(Column::ProjectId).as_deref()),
                org: ix.orgs.intern(text(Column::OrgId).as_deref()),
                ip: ix.ips.intern(text(Column::IpAddress).as_deref()),
            };
            ix.rows.push(row);
            if ix.rows.len().is_multiple_of(65536) {
                job.set_done(ix.rows.len() as u64);
                if job.is_cancelled() {
                    return Err("cancelled".into());
                }
            }
            Ok(())
        })?;
        job.set_done(ix.rows.len() as u64);
        let read = ix.rows.len() as u64;
        ix.complete = prefix.is_none_or(|(limit, _)| read < limit);
        ix.total = if ix.complete { read } else { expected };
        if prefix.is_some_and(|(_, newest)| newest) {
            ix.rows.reverse();
            seqs.reverse();
        }
        let first = seqs.first().copied().unwrap_or(1);
        let contiguous = seqs
            .iter()
            .enumerate()
            .all(|(i, &s)| first.checked_add(i as u64) == Some(s));
        ix.seqs = if contiguous {
            Seqs::Contiguous(first)
        } else {
            Seqs::Listed(seqs)
        };
        ix.ranks = Ranks {
            actor: ix.actors.ranks(|s| s.to_lowercase()),
            actor_type: ix.actor_types.ranks(str::to_string),
            action: ix.actions.ranks(str::to_string),
            resource_type: ix
                .resource_types
                .ranks(|s| crate::catalog::display_name(s).to_lowercase()),
            project: ix.projects.ranks(str::to_string),
            org: ix.orgs.ranks(str::to_string),
            ip: ix.ips.ranks(str::to_string),
        };
        ix.span = ix
            .rows
            .iter()
            .map(|r| r.time_ms)
            .min()
            .zip(ix.rows.iter().map(|r| r.time_ms).max());
        if prefix.is_none() {
            ix.project_names = project_names(archive, &ix.projects);
        }
        ix.counts = Counts {
            actor_types: count(
                ix.actor_types.len(),
                ix.rows.iter().map(|r| r.actor_type as u32),
            ),
            actions: count(ix.actions.len(), ix.rows.iter().map(|r| r.action as u32)),
            resource_types: count(
                ix.resource_types.len(),
                ix.rows.iter().map(|r| r.resource_type as u32),
            ),
            projects: count(ix.projects.len(), ix.rows.iter().map(|r| r.project)),
        };
        Ok(ix)
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
        if f.from.is_none()
            && f.to.is_none()
            && f.projects.is_empty()
            && f.actions.is_empty()
            && f.resource_types.is_empty()
            && f.actor_type.is_none()
        {
            // Nothing structured to test (a search alone): every row.
            return (0..self.rows.len() as u32).collect();
        }
        let t = FacetTests::of(self, f);
        let from = f.from.map(|t| t.0);
        let to = f.to.map(|t| t.0);
        self.rows
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                from.is_none_or(|f| r.time_ms >= f)
                    && to.is_none_or(|t| r.time_ms < t)
                    && t.action(r)
                    && t.resource_type(r)
                    && t.actor_type(r)
            })
            .map(|(i, _)| i as u32)
            .collect()
    }

    /// Faceted search over `base`, the positions (in seq order) that pass
    /// the parts of `f` that no facet sets ([`Filter::without_facets`]).
    ///
    /// Returns the rows of `base` that pass every facet of `f` (actor type,
    /// action, resource type, project) and, for each facet, the counts of
    /// its values over the rows that pass every *other* facet: ticking a
    /// value then shows as many rows as its count said, and the other values
    /// of the same facet keep their counts (as faceted search does
    /// everywhere). One pass over `base`, no allocation per row.
    ///
    /// A project is chosen by id or by name ([`Filter::matches`]); the index
    /// holds only the id. `by_name` lists the positions (in seq order) whose
    /// record names a chosen project although their id is not chosen; the
    /// caller finds them with [`Index::project_name_candidates`] and the
    /// records ([`refine_with_records`] with [`Filter::projects_only`]). The
    /// Projects counts are per id.
    pub fn facets(&self, f: &Filter, base: &[u32], by_name: &[u32]) -> Faceted {
        let t = FacetTests::of(self, f);
        let mut counts = Counts {
            actor_types: vec![0; self.actor_types.len()],
            actions: vec![0; self.actions.len()],
            resource_types: vec![0; self.resource_types.len()],
            projects: vec![0; self.projects.len()],
        };
        let mut positions = Vec::new();
        let mut named = by_name.iter().peekable();
        for &p in base {
            let r = &self.rows[p as usize];
            while named.next_if(|&&n| n < p).is_some() {}
            let project = t.project(r) || named.next_if_eq(&&p).is_some();
            let (action, rtype, atype) = (t.action(r), t.resource_type(r), t.actor_type(r));
            let add = |c: &mut u64, pass: bool| *c += u64::from(pass);
            add(
                &mut counts.actor_types[r.actor_type as usize],
                action && rtype && project,
            );
            add(
                &mut counts.actions[r.action as usize],
                atype && rtype && project,
            );
            add(
                &mut counts.resource_types[r.resource_type as usize],
                atype && action && project,
            );
            add(
                &mut counts.projects[r.project as usize],
                atype && action && rtype,
            );
            if atype && action && rtype && project {
                positions.push(p);
            }
        }
        Faceted { positions, counts }
    }

    /// The positions of `base` whose project id is not among `f`'s chosen
    /// projects: only their records can still match by project *name*
    /// (see [`Index::facets`]). Empty when `f` chooses no project.
    pub fn project_name_candidates(&self, f: &Filter, base: &[u32]) -> Vec<u32> {
        if f.projects.is_empty() {
            return Vec::new();
        }
        let t = FacetTests::of(self, f);
        base.iter()
            .copied()
            .filter(|&p| !t.project(&self.rows[p as usize]))
            .collect()
    }

    /// Sorts positions by a column (stable; ties keep seq order).
    /// `resource_rank` (per position) orders the Resource column; without it
    /// that column sorts by seq.
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
        let rows = &self.rows;
        let rk = &self.ranks;
        let k = |p: &u32| -> i64 {
            let r = &rows[*p as usize];
            match key {
                SortKey::Seq => *p as i64,
                SortKey::Time => r.time_ms,
                SortKey::Actor => rk.actor[r.actor as usize] as i64,
                SortKey::ActorType => rk.actor_type[r.actor_type as usize] as i64,
                SortKey::Action => rk.action[r.action as usize] as i64,
                SortKey::ResourceType => rk.resource_type[r.resource_type as usize] as i64,
                SortKey::Resource => resource_rank
                    .and_then(|rr| rr.get(*p as usize))
                    .map_or(*p as i64, |&x| x as i64),
                SortKey::Project => rk.project[r.project as usize] as i64,
                SortKey::Org => rk.org[r.org as usize] as i64,
                SortKey::Ip => rk.ip[r.ip as usize] as i64,
            }
        };
        if key == SortKey::Seq && !descending {
            positions.sort_unstable();
            return;
        }
        positions.sort_by_key(|p| (k(p), *p));
        if descending {
            // Newest/largest first; ties keep seq order.
            positions.sort_by_key(|p| (std::cmp::Reverse(k(p)), *p));
        }
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
        self.rows.capacity() * std::mem::size_of::<Row>()
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

/// The name each project id carries in its first entry (read from the
/// hashed record). One indexed-order scan per project that stops at its
/// first entry; projects without a name are left out.
fn project_names(archive: &Archive, projects: &Interner) -> HashMap<String, String> {
    let mut names = HashMap::new();
    for id in projects.values.iter().flatten() {
        let name = archive
            .first_record_with(Column::ProjectId, id)
            .ok()
            .flatten()
            .and_then(|record| {
                crate::record_view::RecordView::parse(&record)
                    .ok()
                    .and_then(|v| v.project_name.map(|n| n.into_owned()))
            });
        if let Some(n) = name {
            names.insert(id.to_string(), n);
        }
    }
    names
}

/// The archive, read with plain reads: the viewer's whole-archive passes
/// (this index, the text index, a search over the records) would otherwise
/// make every page of the file resident through SQLite's memory map (a
/// 1.4 GB archive held 1.4 GB of file-backed memory after one search), and
/// those pages count in the viewer's resident memory for as long as it runs.
pub fn open_unmapped(path: &Path) -> Result<Archive, String> {
    let archive = Archive::open(path).map_err(|e| e.to_string())?;
    archive.stop_mapping().map_err(|e| e.to_string())?;
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
                .project_name_candidates(&f, &base)
                .into_iter()
                .filter(|&p| f.projects_only().matches(&entries[p as usize]))
                .collect();
            let got = ix.facets(&f, &base, &by_name);
            assert_eq!(got.positions, matching(&f), "{f:?}");
            let facet = |without: Filter, id: &dyn Fn(&Row) -> u32, n: usize| {
                let mut c = vec![0u64; n];
                for p in matching(&without) {
                    c[id(&ix.rows[p as usize]) as usize] += 1;
                }
                c
            };
            let want = Counts {
                actor_types: facet(
                    Filter {
                        actor_type: None,
                        ..f.clone()
                    },
                    &|r| r.actor_type as u32,
                    ix.actor_types.len(),
                ),
                actions: facet(
                    Filter {
                        actions: Vec::new(),
                        ..f.clone()
                    },
                    &|r| r.action as u32,
                    ix.actions.len(),
                ),
                resource_types: facet(
                    Filter {
                        resource_types: Vec::new(),
                        ..f.clone()
                    },
                    &|r| r.resource_type as u32,
                    ix.resource_types.len(),
                ),
                projects: facet(
                    Filter {
                        projects: Vec::new(),
                        ..f.clone()
                    },
                    &|r| r.project,
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
        let got = ix.facets(&staging, &base, &[]);
        assert!(base.len() < ix.len());
        assert_eq!(got.counts.projects.iter().sum::<u64>(), base.len() as u64);
        assert_ne!(got.counts.projects, ix.counts.projects);
    }
}
