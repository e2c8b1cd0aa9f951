//! Loading the index: one scan over the archive's index columns, each
//! text value interned.
//!
//! The scan is CPU-bound (SQLite stepping through every page, then the
//! interning), so a large archive is read in parts at once: the seq span cut
//! into one range per core, each read on its own connection by its own
//! thread into its own place in the index's columns, with interners of its
//! own. The parts are then joined: each later part's values interned into
//! the first part's interners in the order the part first saw them, which
//! gives every value the id a single scan in seq order gives it, and its
//! ids re-mapped through a table (no hash per row). The single scan
//! ([`Index::load_in_parts`] with one part) stays: it loads prefixes, small
//! archives and whatever the parts cannot place, and tests hold the parts
//! to it.

use std::collections::HashMap;
use std::path::Path;

use super::{FacetIds, Index, Interner, Ranks, Row, Seqs, facets::parallelism, open_unmapped};
use crate::archive::{self, Archive, ArchiveError, Cell, Column, Columns, Scan};
use crate::job::Job;

/// The columns the index reads.
const COLUMNS: Columns = Columns::of(&[
    Column::TimeMs,
    Column::ActorLabel,
    Column::ActorType,
    Column::Action,
    Column::ResourceType,
    Column::ProjectId,
    Column::OrgId,
    Column::IpAddress,
]);

/// Rows between two progress reports (and checks for cancellation); in
/// tests, few enough that a small archive shows both.
#[cfg(not(test))]
const REPORT_EVERY: usize = 1 << 16;
#[cfg(test)]
const REPORT_EVERY: usize = 1 << 8;
/// Seqs at least in each part: below that a thread and a connection cost
/// more than they save.
const MIN_PART_SEQS: u64 = 1 << 17;
/// Parts at most (each holds a connection and interners of its own).
const MAX_PARTS: usize = 8;
/// Bytes of the file that every stored entry takes at least (its record
/// and its two hashes take more): a seq span wider than the file could
/// hold at this size has gaps so large that the columns are not laid out
/// by seq; the single scan loads such an archive.
const MIN_ENTRY_BYTES: u64 = 128;

impl Index {
    /// Loads the index with one scan over the archive's indexed columns,
    /// in parts at once on a large archive (one per core).
    pub fn load(path: &Path, job: &Job) -> Result<Index, String> {
        let archive = open_unmapped(path)?;
        let span = archive.seq_span()?;
        let parts = parallelism()
            .min(MAX_PARTS)
            .min((span / MIN_PART_SEQS).min(MAX_PARTS as u64) as usize);
        load_from(&archive, parts, job)
    }

    /// [`Index::load`] in `parts` parts (one thread each beyond the first;
    /// fewer if the archive has fewer seqs): the same index whatever the
    /// number. One part is the single scan.
    pub fn load_in_parts(path: &Path, parts: usize, job: &Job) -> Result<Index, String> {
        let archive = open_unmapped(path)?;
        load_from(&archive, parts, job)
    }

    /// The first (or, with `newest`, the last) `limit` entries by seq: a
    /// few milliseconds, so the table shows something while [`Index::load`]
    /// reads the whole archive. `complete` is false unless that was all.
    pub fn load_prefix(path: &Path, limit: u64, newest: bool, job: &Job) -> Result<Index, String> {
        let archive = open_unmapped(path)?;
        load_one(&archive, Some((limit, newest)), job)
    }
}

fn load_from(archive: &Archive, parts: usize, job: &Job) -> Result<Index, String> {
    if parts < 2 {
        return load_one(archive, None, job);
    }
    match load_split(archive, parts, job)? {
        Some(ix) => Ok(ix),
        None => load_one(archive, None, job),
    }
}

/// The interners of the text columns, and how a row's cells become ids.
struct Interners {
    actors: Interner,
    actor_types: Interner,
    actions: Interner,
    resource_types: Interner,
    projects: Interner,
    orgs: Interner,
    ips: Interner,
}

/// One entry in the index's form.
struct Ids {
    seq: u64,
    time: i64,
    actor_type: u8,
    action: u16,
    resource_type: u16,
    project: u32,
    row: Row,
}

impl Interners {
    fn new() -> Self {
        Interners {
            actors: Interner::new(),
            actor_types: Interner::new(),
            actions: Interner::new(),
            resource_types: Interner::new(),
            projects: Interner::new(),
            orgs: Interner::new(),
            ips: Interner::new(),
        }
    }

    /// The ids of a row's values (interned if new). A column that is not
    /// text reads as SQLite prints it; a time that is not an integer as 0.
    /// Facet ids beyond their column's width are kept at its largest.
    fn ids(&mut self, r: &archive::Row<'_>) -> Ids {
        // Borrowed: interning looks up before it copies, so the common
        // case (a value seen before) allocates nothing.
        let text = |c: Column| r.get(c).text();
        Ids {
            seq: r.seq(),
            time: match r.get(Column::TimeMs) {
                Cell::Integer(t) => t,
                _ => 0,
            },
            actor_type: self
                .actor_types
                .intern(text(Column::ActorType).as_deref())
                .min(u8::MAX as u32) as u8,
            action: self
                .actions
                .intern(text(Column::Action).as_deref())
                .min(u16::MAX as u32) as u16,
            resource_type: self
                .resource_types
                .intern(text(Column::ResourceType).as_deref())
                .min(u16::MAX as u32) as u16,
            project: self.projects.intern(text(Column::ProjectId).as_deref()),
            row: Row {
                actor: self.actors.intern(text(Column::ActorLabel).as_deref()),
                org: self.orgs.intern(text(Column::OrgId).as_deref()),
                ip: self.ips.intern(text(Column::IpAddress).as_deref()),
            },
        }
    }

    /// Whether every id fits its facet column: past that width ids are
    /// clamped, and a clamped id of a later part cannot be re-mapped.
    fn fit(&self) -> bool {
        self.actor_types.len() <= u8::MAX as usize + 1
            && self.actions.len() <= u16::MAX as usize + 1
            && self.resource_types.len() <= u16::MAX as usize + 1
    }

    /// Moves the interned strings into `ix`, whose ids are theirs.
    fn install(self, ix: &mut Index) {
        ix.actors = self.actors;
        ix.actor_types = self.actor_types;
        ix.actions = self.actions;
        ix.resource_types = self.resource_types;
        ix.projects = self.projects;
        ix.orgs = self.orgs;
        ix.ips = self.ips;
    }
}

/// The single scan: every entry, or a prefix of `limit` entries from the
/// oldest (or the newest).
fn load_one(archive: &Archive, prefix: Option<(u64, bool)>, job: &Job) -> Result<Index, String> {
    // Counted in the table itself; for a prefix, which must show at once,
    // the span of stored seqs (the same unless entries were deleted).
    // The rows read give the exact count below.
    let expected = match prefix {
        None => archive.count()?,
        Some(_) => archive.seq_span()?,
    };
    job.start_phase("loading index", expected);
    let scan = match prefix {
        None => Scan::all(COLUMNS),
        Some((limit, false)) => Scan::all(COLUMNS).limit(limit),
        Some((limit, true)) => Scan::all(COLUMNS).newest_first().limit(limit),
    };
    let capacity = prefix.map_or(expected, |(l, _)| l.min(expected)) as usize;
    let mut seqs: Vec<u64> = Vec::with_capacity(capacity);
    let mut interners = Interners::new();
    let mut ix = Index {
        rows: Vec::with_capacity(capacity),
        times: Vec::with_capacity(capacity),
        facet_ids: FacetIds {
            actor_types: Vec::with_capacity(capacity),
            actions: Vec::with_capacity(capacity),
            resource_types: Vec::with_capacity(capacity),
            projects: Vec::with_capacity(capacity),
        },
        ..Default::default()
    };
    archive.scan::<String>(&scan, |r| {
        let id = interners.ids(r);
        seqs.push(id.seq);
        ix.times.push(id.time);
        let ids = &mut ix.facet_ids;
        ids.actor_types.push(id.actor_type);
        ids.actions.push(id.action);
        ids.resource_types.push(id.resource_type);
        ids.projects.push(id.project);
        ix.rows.push(id.row);
        if ix.rows.len().is_multiple_of(REPORT_EVERY) {
            job.set_done(ix.rows.len() as u64);
            if job.is_cancelled() {
                return Err("cancelled".into());
            }
        }
        Ok(())
    })?;
    interners.install(&mut ix);
    job.set_done(ix.rows.len() as u64);
    let read = ix.rows.len() as u64;
    ix.complete = prefix.is_none_or(|(limit, _)| read < limit);
    ix.total = if ix.complete { read } else { expected };
    if prefix.is_some_and(|(_, newest)| newest) {
        ix.rows.reverse();
        ix.times.reverse();
        let ids = &mut ix.facet_ids;
        ids.actor_types.reverse();
        ids.actions.reverse();
        ids.resource_types.reverse();
        ids.projects.reverse();
        seqs.reverse();
    }
    finish(ix, seqs, archive, prefix.is_none())
}

/// What a load computes once its columns are read in seq order: the seqs'
/// form, the ranks, the time span, the project names (`whole`: not for a
/// prefix) and the facet counts.
fn finish(mut ix: Index, seqs: Vec<u64>, archive: &Archive, whole: bool) -> Result<Index, String> {
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
        .times
        .iter()
        .min()
        .copied()
        .zip(ix.times.iter().max().copied());
    ix.times_ascending = ix.times.is_sorted();
    if whole {
        ix.project_names = project_names(archive, &ix.projects);
    }
    ix.count_facets();
    Ok(ix)
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

/// The index's columns, or a part of them: where one part's rows go.
struct Slots<'a> {
    seqs: &'a mut [u64],
    times: &'a mut [i64],
    actor_types: &'a mut [u8],
    actions: &'a mut [u16],
    resource_types: &'a mut [u16],
    projects: &'a mut [u32],
    rows: &'a mut [Row],
}

impl<'a> Slots<'a> {
    fn of(ix: &'a mut Index, seqs: &'a mut [u64]) -> Self {
        let ids = &mut ix.facet_ids;
        Slots {
            seqs,
            times: &mut ix.times,
            actor_types: &mut ids.actor_types,
            actions: &mut ids.actions,
            resource_types: &mut ids.resource_types,
            projects: &mut ids.projects,
            rows: &mut ix.rows,
        }
    }

    /// The first `n` slots, and the rest.
    fn split(self, n: usize) -> (Slots<'a>, Slots<'a>) {
        let (a0, a1) = self.seqs.split_at_mut(n);
        let (b0, b1) = self.times.split_at_mut(n);
        let (c0, c1) = self.actor_types.split_at_mut(n);
        let (d0, d1) = self.actions.split_at_mut(n);
        let (e0, e1) = self.resource_types.split_at_mut(n);
        let (f0, f1) = self.projects.split_at_mut(n);
        let (g0, g1) = self.rows.split_at_mut(n);
        (
            Slots {
                seqs: a0,
                times: b0,
                actor_types: c0,
                actions: d0,
                resource_types: e0,
                projects: f0,
                rows: g0,
            },
            Slots {
                seqs: a1,
                times: b1,
                actor_types: c1,
                actions: d1,
                resource_types: e1,
                projects: f1,
                rows: g1,
            },
        )
    }

    fn put(&mut self, i: usize, id: Ids) {
        self.seqs[i] = id.seq;
        self.times[i] = id.time;
        self.actor_types[i] = id.actor_type;
        self.actions[i] = id.action;
        self.resource_types[i] = id.resource_type;
        self.projects[i] = id.project;
        self.rows[i] = id.row;
    }
}

/// Why a part stopped.
enum Stop {
    Failed(String),
    /// The single scan loads the archive instead: the part's rows did not
    /// fit the place its seqs gave it (only if the archive changed while
    /// read), or its thread could not start.
    ToSingleScan,
}

impl From<ArchiveError> for Stop {
    fn from(e: ArchiveError) -> Self {
        Stop::Failed(e.to_string())
    }
}

/// What a part read: its first `read` slots, with ids of its own interners.
struct Part {
    interners: Interners,
    read: usize,
}

/// Reads the rows with a seq in `lo..=hi` into `slots` (as many as those
/// seqs, so enough: seqs are unique).
fn read_part(
    archive: &Archive,
    (lo, hi): (i64, i64),
    mut slots: Slots<'_>,
    job: &Job,
) -> Result<Part, Stop> {
    let mut interners = Interners::new();
    let mut read = 0usize;
    archive.scan::<Stop>(&Scan::seqs(COLUMNS, lo..=hi), |r| {
        if read == slots.rows.len() {
            return Err(Stop::ToSingleScan);
        }
        slots.put(read, interners.ids(r));
        read += 1;
        if read.is_multiple_of(REPORT_EVERY) {
            job.add_done(REPORT_EVERY as u64);
            if job.is_cancelled() {
                return Err(Stop::Failed("cancelled".into()));
            }
        }
        Ok(())
    })?;
    Ok(Part { interners, read })
}

/// The whole archive read in `parts` parts at once: part `k` reads the
/// `k`-th range of the seq span into the columns as if no seq were
/// missing (each column is laid out by seq before it is read); missing
/// seqs leave holes, closed after. `None` if the seqs or the values do not
/// allow it (a span the file cannot hold, more distinct values than a facet
/// column holds): the caller loads with the single scan.
fn load_split(archive: &Archive, parts: usize, job: &Job) -> Result<Option<Index>, String> {
    let Some((first, last)) = archive.seq_bounds()? else {
        return Ok(None);
    };
    // At most i64::MAX + 1 seqs; the file bounds it far below.
    let span = (last as i128 - first as i128 + 1) as u64;
    let file = std::fs::metadata(archive.path()).map_or(0, |m| m.len());
    if span > file / MIN_ENTRY_BYTES || span > u32::MAX as u64 {
        return Ok(None);
    }
    let parts = parts.min(span as usize).max(1);
    // The span when no seq is missing: then the count of rows.
    job.start_phase("loading index", span);
    let n = span as usize;
    // Part k's seqs: first + bounds[k] ..= first + bounds[k + 1] - 1.
    let bounds: Vec<usize> = (0..=parts).map(|k| k * n / parts).collect();
    let range = |k: usize| {
        (
            (first as i128 + bounds[k] as i128) as i64,
            (first as i128 + bounds[k + 1] as i128 - 1) as i64,
        )
    };
    // Zeroed columns cost no memory until written (every slot is, unless
    // seqs are missing).
    let mut ix = Index {
        rows: vec![Row::default(); n],
        times: vec![0; n],
        facet_ids: FacetIds {
            actor_types: vec![0; n],
            actions: vec![0; n],
            resource_types: vec![0; n],
            projects: vec![0; n],
        },
        ..Default::default()
    };
    let mut seqs = vec![0u64; n];
    // A connection serves one thread: each later part reads through its own.
    let readers = (1..parts)
        .map(|_| archive.streaming_reader())
        .collect::<Result<Vec<_>, _>>()?;
    let results: Vec<Result<Part, Stop>> = {
        let (own, mut rest) = Slots::of(&mut ix, &mut seqs).split(bounds[1]);
        let mut slots = Vec::with_capacity(parts - 1);
        for k in 1..parts {
            let (mine, others) = rest.split(bounds[k + 1] - bounds[k]);
            slots.push(mine);
            rest = others;
        }
        std::thread::scope(|s| {
            let handles: Vec<_> = readers
                .into_iter()
                .zip(slots)
                .enumerate()
                .map(|(i, (reader, mine))| {
                    std::thread::Builder::new()
                        .name("index load".into())
                        .spawn_scoped(s, move || read_part(&reader, range(i + 1), mine, job))
                })
                .collect();
            let mut all = vec![read_part(archive, range(0), own, job)];
            all.extend(handles.into_iter().map(|h| match h {
                // A panic in a part (none is expected: every slot written
                // is within its part) goes on in the caller's thread, whose
                // task reports it.
                Ok(h) => h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
                // A thread that could not start: the single scan instead.
                Err(_) => Err(Stop::ToSingleScan),
            }));
            all
        })
    };
    let mut read: Vec<Part> = Vec::with_capacity(parts);
    let mut to_single_scan = false;
    for r in results {
        match r {
            Ok(p) => read.push(p),
            Err(Stop::Failed(e)) => return Err(e),
            Err(Stop::ToSingleScan) => to_single_scan = true,
        }
    }
    if to_single_scan || !read.iter().skip(1).all(|p| p.interners.fit()) {
        return Ok(None);
    }
    let mut read = read.into_iter();
    let Some(Part {
        mut interners,
        read: mut total,
    }) = read.next()
    else {
        return Ok(None);
    };
    for (k, part) in (1..).zip(read) {
        interners.take_ids_of(&mut ix, bounds[k]..bounds[k] + part.read, &part.interners);
        if total < bounds[k] {
            close_hole(&mut ix, &mut seqs, bounds[k]..bounds[k] + part.read, total);
        }
        total += part.read;
    }
    if total < n {
        truncate(&mut ix, &mut seqs, total);
    }
    job.set_done(total as u64);
    interners.install(&mut ix);
    ix.complete = true;
    ix.total = total as u64;
    finish(ix, seqs, archive, true).map(Some)
}

impl Interners {
    /// Joins a later part: interns its values here in its id order (the
    /// order it first saw them, so each new value gets the id a single scan
    /// gives it) and re-maps the ids in its slots `at` to these.
    fn take_ids_of(&mut self, ix: &mut Index, at: std::ops::Range<usize>, part: &Interners) {
        let map = |to: &mut Interner, from: &Interner| -> Vec<u32> {
            from.values
                .iter()
                .map(|v| to.intern(v.as_deref()))
                .collect()
        };
        let actor_types = map(&mut self.actor_types, &part.actor_types);
        let actions = map(&mut self.actions, &part.actions);
        let resource_types = map(&mut self.resource_types, &part.resource_types);
        let projects = map(&mut self.projects, &part.projects);
        let actors = map(&mut self.actors, &part.actors);
        let orgs = map(&mut self.orgs, &part.orgs);
        let ips = map(&mut self.ips, &part.ips);
        let ids = &mut ix.facet_ids;
        for v in &mut ids.actor_types[at.clone()] {
            *v = actor_types[*v as usize].min(u8::MAX as u32) as u8;
        }
        for v in &mut ids.actions[at.clone()] {
            *v = actions[*v as usize].min(u16::MAX as u32) as u16;
        }
        for v in &mut ids.resource_types[at.clone()] {
            *v = resource_types[*v as usize].min(u16::MAX as u32) as u16;
        }
        for v in &mut ids.projects[at.clone()] {
            *v = projects[*v as usize];
        }
        for r in &mut ix.rows[at] {
            *r = Row {
                actor: actors[r.actor as usize],
                org: orgs[r.org as usize],
                ip: ips[r.ip as usize],
            };
        }
    }
}

/// Moves the rows at `from` down to start at `to` (missing seqs before them
/// left a hole).
fn close_hole(ix: &mut Index, seqs: &mut [u64], from: std::ops::Range<usize>, to: usize) {
    let ids = &mut ix.facet_ids;
    seqs.copy_within(from.clone(), to);
    ix.times.copy_within(from.clone(), to);
    ids.actor_types.copy_within(from.clone(), to);
    ids.actions.copy_within(from.clone(), to);
    ids.resource_types.copy_within(from.clone(), to);
    ids.projects.copy_within(from.clone(), to);
    ix.rows.copy_within(from, to);
}

/// Keeps the first `n` rows, and gives back the room for the others.
fn truncate(ix: &mut Index, seqs: &mut Vec<u64>, n: usize) {
    fn cut<T>(v: &mut Vec<T>, n: usize) {
        v.truncate(n);
        v.shrink_to_fit();
    }
    let ids = &mut ix.facet_ids;
    cut(seqs, n);
    cut(&mut ix.times, n);
    cut(&mut ids.actor_types, n);
    cut(&mut ids.actions, n);
    cut(&mut ids.resource_types, n);
    cut(&mut ids.projects, n);
    cut(&mut ix.rows, n);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Destination;
    use crate::sample::{Sample, SampleFile, write_file};

    /// Asserts that two indexes hold the same rows, ids, strings, ranks,
    /// counts and names.
    fn assert_same(got: &Index, want: &Index, what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: rows");
        assert!(got.rows == want.rows, "{what}: actor, org, ip ids");
        assert!(got.times == want.times, "{what}: times");
        assert!(got.facet_ids == want.facet_ids, "{what}: facet ids");
        assert_eq!(got.seqs, want.seqs, "{what}: seqs");
        for (a, b, name) in [
            (&got.actors, &want.actors, "actors"),
            (&got.actor_types, &want.actor_types, "actor types"),
            (&got.actions, &want.actions, "actions"),
            (&got.resource_types, &want.resource_types, "resource types"),
            (&got.projects, &want.projects, "projects"),
            (&got.orgs, &want.orgs, "orgs"),
            (&got.ips, &want.ips, "ips"),
        ] {
            assert_eq!(a.values, b.values, "{what}: {name}");
            for (i, v) in a.values.iter().enumerate() {
                // The lookup agrees with the values: a later intern finds them.
                if let Some(v) = v {
                    assert_eq!(a.lookup.get(v), Some(&(i as u32)), "{what}: {name} lookup");
                }
            }
            assert_eq!(a.lookup.len(), b.lookup.len(), "{what}: {name} lookup");
        }
        assert_eq!(got.ranks, want.ranks, "{what}: ranks");
        assert_eq!(got.counts, want.counts, "{what}: counts");
        assert_eq!(got.joint, want.joint, "{what}: pair counts");
        assert_eq!(got.complete, want.complete, "{what}: complete");
        assert_eq!(got.total, want.total, "{what}: total");
        assert_eq!(got.span, want.span, "{what}: time span");
        assert_eq!(
            got.times_ascending, want.times_ascending,
            "{what}: ascending"
        );
        assert_eq!(
            got.project_names, want.project_names,
            "{what}: project names"
        );
    }

    /// A copy of the sample archive (3,000 entries), changed by `sql` with
    /// the append-only triggers dropped, as an attacker would.
    fn tampered(dir: &Path, name: &str, sql: &str) -> std::path::PathBuf {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-data/audit-sample.sqlite");
        let path = dir.join(name);
        std::fs::copy(src, &path).unwrap();
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "DROP TRIGGER entries_no_update; DROP TRIGGER entries_no_delete; {sql}"
        ))
        .unwrap();
        path
    }

    /// Loads `path` in `parts` parts; `None` if the parts could not place
    /// its rows (the single scan then loads it).
    fn split(path: &Path, parts: usize) -> Option<Index> {
        let archive = open_unmapped(path).unwrap();
        load_split(&archive, parts, &Job::new()).unwrap()
    }

    fn single(path: &Path) -> Index {
        Index::load_in_parts(path, 1, &Job::new()).unwrap()
    }

    /// On the sealed sample and on tampered copies whose seqs leave gaps
    /// (at the ends, inside a part, a whole part) or go negative, and whose
    /// columns hold NULLs or values of the wrong type, the parts give the
    /// single scan's index, for any number of parts.
    #[test]
    fn the_parts_load_what_the_single_scan_loads() {
        let dir = tempfile::tempdir().unwrap();
        let sealed =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-data/audit-sample.sqlite");
        let cases = [
            ("sealed", sealed.clone()),
            (
                "gaps",
                tampered(
                    dir.path(),
                    "gaps.sqlite",
                    "DELETE FROM entries WHERE seq IN (1, 2, 5, 750, 751, 1499, 3000);
                     DELETE FROM entries WHERE seq BETWEEN 1001 AND 1600;",
                ),
            ),
            (
                "negative",
                tampered(
                    dir.path(),
                    "negative.sqlite",
                    "UPDATE entries SET seq = -7 WHERE seq = 1;
                     UPDATE entries SET seq = -900 WHERE seq = 2;
                     UPDATE entries SET seq = 0 WHERE seq = 3;",
                ),
            ),
            (
                "cells",
                tampered(
                    dir.path(),
                    "cells.sqlite",
                    "UPDATE entries SET actor_type = NULL WHERE seq % 7 = 0;
                     UPDATE entries SET project_id = NULL, org_id = NULL WHERE seq % 11 = 0;
                     UPDATE entries SET action = 42 WHERE seq % 13 = 0;
                     UPDATE entries SET resource_type = x'ff00fe' WHERE seq % 17 = 0;
                     UPDATE entries SET time_ms = 'soon' WHERE seq % 19 = 0;
                     UPDATE entries SET time_ms = 2.5 WHERE seq = 2000;
                     UPDATE entries SET ip_address = 1.5 WHERE seq % 23 = 0;
                     UPDATE entries SET actor_label = x'c3' WHERE seq % 29 = 0;
                     UPDATE entries SET actor_label = 'only-late-' || (seq % 5) WHERE seq > 2500;",
                ),
            ),
        ];
        for (what, path) in &cases {
            let want = single(path);
            assert!(want.len() > 2000, "{what}");
            for parts in [2, 3, 4, 7] {
                let got = split(path, parts).unwrap_or_else(|| panic!("{what}: {parts} parts"));
                assert_same(&got, &want, &format!("{what}, {parts} parts"));
                let got = Index::load_in_parts(path, parts, &Job::new()).unwrap();
                assert_same(&got, &want, &format!("{what}, {parts} parts, public"));
            }
            assert_same(&Index::load(path, &Job::new()).unwrap(), &want, what);
        }
        // The cases do what they say.
        let gaps = single(&cases[1].1);
        // 1499 is in both lists.
        assert_eq!(gaps.len(), 3000 - 6 - 600);
        assert!(matches!(gaps.seqs, Seqs::Listed(_)));
        assert_eq!(single(&cases[2].1).seq(0), 0);
        assert!(single(&cases[3].1).actors.values.len() > single(&sealed).actors.values.len());
    }

    /// Seqs too far apart for the file, or more distinct values in a later
    /// part than its facet column can number: the parts give way, and the
    /// single scan loads the same index as before.
    #[test]
    fn what_the_parts_cannot_place_is_loaded_by_the_single_scan() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (
                "huge seq",
                tampered(
                    dir.path(),
                    "huge.sqlite",
                    "UPDATE entries SET seq = 9000000000000000000 WHERE seq = 3000;",
                ),
            ),
            (
                "lowest seq",
                tampered(
                    dir.path(),
                    "lowest.sqlite",
                    "UPDATE entries SET seq = -9223372036854775808 WHERE seq = 1;",
                ),
            ),
            (
                "actor types",
                tampered(
                    dir.path(),
                    "types.sqlite",
                    "UPDATE entries SET actor_type = 'type-' || seq WHERE seq > 1200;",
                ),
            ),
        ];
        for (what, path) in &cases {
            assert!(split(path, 2).is_none(), "{what}");
            let want = single(path);
            assert_eq!(want.len(), 3000, "{what}");
            assert_same(
                &Index::load_in_parts(path, 2, &Job::new()).unwrap(),
                &want,
                what,
            );
        }
        // Past 255 actor types the ids stay at the largest, as before.
        let types = single(&cases[2].1);
        assert!(types.actor_types.len() > 1000);
        assert_eq!(types.facet_ids.actor_types.iter().max(), Some(&255));
        // In the first part alone, distinct values need no re-mapping.
        assert!(split(&cases[2].1, 1).is_some());
    }

    /// The parts report progress up to the number of entries, and stop
    /// when the job is cancelled, as the single scan does.
    #[test]
    fn the_parts_report_progress_and_stop_when_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.sqlite");
        let n = 9 * REPORT_EVERY as u64 + 5;
        write_file(
            &Sample::new(n, 3),
            SampleFile::Archive,
            &Destination::new(&path),
            &Job::new(),
        )
        .unwrap();
        let job = Job::new();
        let ix = Index::load_in_parts(&path, 2, &job).unwrap();
        assert_eq!(ix.len() as u64, n);
        assert_eq!(job.snapshot(), ("loading index".to_string(), n, n));
        assert_same(&ix, &single(&path), "sample");
        for parts in [1, 2] {
            let job = Job::new();
            job.cancel();
            let got = Index::load_in_parts(&path, parts, &job);
            assert_eq!(got.err().as_deref(), Some("cancelled"), "{parts} parts");
        }
    }
}
