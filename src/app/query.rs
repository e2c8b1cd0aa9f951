//! Plans and computes the view: which entries the filter shows, in which
//! order, and the facet counts beside it. Pure functions over the core's
//! row index, text index and (where only a record can decide) the records;
//! the state runs them in the frame when they are cheap and read no record,
//! else on a worker.
//!
//! The plan, in faceted-search terms:
//! 1. the *base*: the entries that pass the parts of the filter no facet
//!    list sets (time, actor, free text), from the row index, the text index
//!    and, for what those cannot answer, the records. A base is kept: when
//!    only a facet changes, or the search text only grows, the next plan
//!    starts from it;
//! 2. the restriction (a pattern's hits, the bookmarks) on top;
//! 3. the core's facet pass ([`Index::facets`]): the rows that pass every
//!    facet, and each facet's counts under the other filters;
//! 4. the sort.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use auditlens_core::filter::Filter;
use auditlens_core::job::Job;
use auditlens_core::row_index::{self as index, Counts, Index, SortKey, Subset};
use auditlens_core::text_search as search;

use crate::app::text_index::TextIndex;

/// Above this many rows the view is always computed on a worker.
pub const SYNC_LIMIT: usize = 200_000;

/// Shows only some entries (a pattern's hits, the bookmarks) on top of the filter.
#[derive(Clone, Debug)]
pub struct Restriction {
    pub label: String,
    pub seqs: Arc<HashSet<u64>>,
    /// Tells restrictions apart when deciding whether the view is current.
    pub id: u64,
}

/// Everything the view depends on.
#[derive(Clone, Debug)]
pub struct Query {
    pub filter: Filter,
    pub sort: SortKey,
    pub descending: bool,
    pub restriction: Option<Restriction>,
}

/// What tells two queries apart: filter, sort, direction, restriction id.
pub type QueryKey = (Filter, SortKey, bool, Option<u64>);

impl Query {
    /// Identifies the query (the restriction by its id).
    pub fn key(&self) -> QueryKey {
        (
            self.filter.clone(),
            self.sort,
            self.descending,
            self.restriction.as_ref().map(|r| r.id),
        )
    }
}

/// The entries passing a filter's non-facet parts ([`Filter::without_facets`]),
/// in position order, before any restriction.
#[derive(Clone, Debug, PartialEq)]
pub struct Base {
    pub filter: Filter,
    /// `None`: every entry (the filter has no non-facet part), with no list
    /// kept (4 bytes per entry, and no copy to make for each facet tick).
    pub positions: Option<Arc<Vec<u32>>>,
}

impl Base {
    pub fn subset(&self) -> Subset<'_> {
        match &self.positions {
            None => Subset::All,
            Some(v) => Subset::Listed(v),
        }
    }
}

/// A computed view.
#[derive(Clone, Debug, PartialEq)]
pub struct View {
    /// Positions (into the index) of the shown rows, in display order.
    pub rows: Vec<u32>,
    /// Each facet's counts under the other filters.
    pub facets: Counts,
    /// What the next query may start from.
    pub base: Base,
}

/// Where record reads are allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reads {
    /// On a worker: read records where the indexes cannot decide.
    Records,
    /// In the frame: give up ([`NeedsRecords`]) instead of reading.
    IndexesOnly,
}

/// The query needs the records (or is too large for the frame): run it on a worker.
#[derive(Debug, PartialEq, Eq)]
pub struct NeedsRecords;

/// The inputs of a computation, shared with a worker.
pub struct Sources<'a> {
    pub index: &'a Index,
    pub text: Option<&'a TextIndex>,
    /// The archive read for display (records for what the indexes cannot decide).
    pub archive: &'a Path,
}

/// Computes the view for `q`, starting from `prior` when it helps.
pub fn compute(
    src: &Sources<'_>,
    q: &Query,
    prior: Option<&Base>,
    reads: Reads,
    job: &Job,
) -> Result<Result<View, NeedsRecords>, String> {
    let ix = src.index;
    if reads == Reads::IndexesOnly && ix.len() > SYNC_LIMIT {
        return Ok(Err(NeedsRecords));
    }
    let f = &q.filter;
    let base = match base(src, &f.without_facets(), prior, reads, job)? {
        Ok(b) => b,
        Err(n) => return Ok(Err(n)),
    };
    let restricted = q
        .restriction
        .as_ref()
        .map(|r| restrict(ix, base.subset(), r));
    let shown = match &restricted {
        Some(v) => Subset::Listed(v),
        None => base.subset(),
    };
    let by_name = match project_names(src, f, shown, reads, job)? {
        Ok(v) => v,
        Err(n) => return Ok(Err(n)),
    };
    let faceted = ix.facets(f, shown, &by_name);
    let mut rows = faceted.positions;
    ix.sort(
        &mut rows,
        q.sort,
        q.descending,
        src.text.map(|t| t.resource_rank()),
    );
    Ok(Ok(View {
        rows,
        facets: faceted.counts,
        base,
    }))
}

/// The positions of `shown` whose entry is among the restriction's, in
/// position order: each restricted entry looked up in `shown` when there
/// are few of them, else one merge of the two sorted lists.
fn restrict(ix: &Index, shown: Subset<'_>, r: &Restriction) -> Vec<u32> {
    let mut wanted: Vec<u32> = r.seqs.iter().filter_map(|&s| ix.position(s)).collect();
    wanted.sort_unstable();
    let Subset::Listed(shown) = shown else {
        return wanted;
    };
    if wanted.len().saturating_mul(16) < shown.len() {
        wanted.retain(|p| shown.binary_search(p).is_ok());
        return wanted;
    }
    let mut w = wanted.iter().peekable();
    shown
        .iter()
        .copied()
        .filter(|&p| {
            while w.next_if(|&&x| x < p).is_some() {}
            w.next_if_eq(&&p).is_some()
        })
        .collect()
}

/// The positions passing `relaxed` (a filter without facets).
fn base(
    src: &Sources<'_>,
    relaxed: &Filter,
    prior: Option<&Base>,
    reads: Reads,
    job: &Job,
) -> Result<Result<Base, NeedsRecords>, String> {
    let (ix, text) = (src.index, src.text);
    if let Some(p) = prior.filter(|p| &p.filter == relaxed) {
        return Ok(Ok(p.clone()));
    }
    let done = |positions: Vec<u32>| {
        Ok(Ok(Base {
            filter: relaxed.clone(),
            positions: Some(Arc::new(positions)),
        }))
    };
    if relaxed.is_empty() {
        return Ok(Ok(Base {
            filter: relaxed.clone(),
            positions: None,
        }));
    }
    let needle = indexed_needle(relaxed).filter(|q| text.is_some_and(|t| t.supports(q)));
    // When only the search text grew, the prior base already passed the rest.
    let narrowed = prior.filter(|p| needle.is_some() && narrows(&p.filter, relaxed));
    let (mut v, mut rest) = match narrowed {
        Some(p) => (
            match &p.positions {
                Some(v) => v.as_ref().clone(),
                None => (0..ix.len() as u32).collect(),
            },
            Filter {
                search: relaxed.search.clone(),
                ..Filter::default()
            },
        ),
        None => (ix.candidates(relaxed), relaxed.clone()),
    };
    if let (Some(t), Some(q)) = (text, &needle) {
        if !t.exact() && reads == Reads::IndexesOnly {
            // The sidecar only narrows: its hits need their records.
            return Ok(Err(NeedsRecords));
        }
        v = t.filter(ix, q, &v)?;
        if t.exact() {
            rest.search = None;
        }
    }
    if !index::needs_records(&rest) {
        return done(v);
    }
    if reads == Reads::IndexesOnly {
        return Ok(Err(NeedsRecords));
    }
    done(index::refine_with_records(ix, src.archive, &v, &rest, job)?)
}

/// The positions among `shown` whose record names a chosen project
/// although their project id is not chosen (see [`Index::facets`]). The
/// text index, when it can, rules out the records that do not hold the
/// name at all; only the rest are read.
fn project_names(
    src: &Sources<'_>,
    f: &Filter,
    shown: Subset<'_>,
    reads: Reads,
    job: &Job,
) -> Result<Result<Vec<u32>, NeedsRecords>, String> {
    let mut candidates = src.index.project_name_candidates(f, shown);
    let needles: Option<Vec<String>> = f
        .projects
        .iter()
        .map(|p| Some(p.to_lowercase()).filter(|n| search::supports(n)))
        .collect();
    if let (Some(TextIndex::Memory(t)), Some(needles)) = (src.text, needles) {
        let mut hits: Vec<u32> = needles
            .iter()
            .flat_map(|n| t.filter(n, &candidates))
            .collect();
        hits.sort_unstable();
        hits.dedup();
        candidates = hits;
    }
    if candidates.is_empty() {
        return Ok(Ok(Vec::new()));
    }
    if reads == Reads::IndexesOnly {
        return Ok(Err(NeedsRecords));
    }
    let only = f.projects_only();
    Ok(Ok(index::refine_with_records(
        src.index,
        src.archive,
        &candidates,
        &only,
        job,
    )?))
}

/// Does every entry that `new` accepts pass `old` too, because only the
/// search text grew (the old needle is inside the new one)?
fn narrows(old: &Filter, new: &Filter) -> bool {
    let (Some(o), Some(n)) = (old.search.as_deref(), new.search.as_deref()) else {
        return false;
    };
    let same_rest = Filter {
        search: None,
        ..old.clone()
    } == Filter {
        search: None,
        ..new.clone()
    };
    same_rest && indexed_needle(new).is_some() && n.to_lowercase().contains(&o.to_lowercase())
}

/// The lower-cased needle, when the text index can answer it.
fn indexed_needle(f: &Filter) -> Option<String> {
    let q = f.search.as_deref()?.to_lowercase();
    search::supports(&q).then_some(q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use auditlens_core::archive::Archive;
    use auditlens_core::archive::search_sidecar::{self, Found, Head, Sidecar};

    fn sample() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/audit-sample.sqlite")
    }

    /// Every plan (from scratch, narrowed from a prior base, reused base,
    /// with the in-memory text index, with the search sidecar, with neither)
    /// shows exactly what `Filter::matches` accepts.
    #[test]
    fn every_plan_shows_what_the_filter_accepts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.sqlite");
        std::fs::copy(sample(), &path).unwrap();
        let ix = Index::load(&path, &Job::new()).unwrap();
        let memory = TextIndex::Memory(
            auditlens_core::text_search::SearchIndex::build(&path, &ix, &Job::new()).unwrap(),
        );
        let sidecar = TextIndex::Sidecar(sidecar_of(&path, &ix));
        let a = Archive::open(&path).unwrap();
        let entries: Vec<_> = (0..ix.len())
            .map(|p| a.entry(ix.seq(p)).unwrap().unwrap().entry)
            .collect();
        let project = entries.iter().find_map(|e| e.project_name.clone()).unwrap();
        let queries = [
            Filter {
                search: Some("Safari".into()),
                ..Filter::default()
            },
            Filter {
                search: Some("Safari/605".into()),
                actions: vec!["create".into()],
                ..Filter::default()
            },
            Filter {
                search: Some("Safari/605".into()),
                ..Filter::default()
            },
            // A project by its name: only the records can tell.
            Filter {
                projects: vec![project],
                ..Filter::default()
            },
            Filter {
                search: Some("\"role\"".into()),
                ..Filter::default()
            },
            // Two characters: no trigram; the records decide.
            Filter {
                search: Some("ro".into()),
                ..Filter::default()
            },
        ];
        for text in [Some(&memory), Some(&sidecar), None] {
            let src = Sources {
                index: &ix,
                text,
                archive: &path,
            };
            let mut prior: Option<Base> = None;
            for f in &queries {
                let q = Query {
                    filter: f.clone(),
                    sort: SortKey::Resource,
                    descending: false,
                    restriction: None,
                };
                let v = compute(&src, &q, prior.as_ref(), Reads::Records, &Job::new())
                    .unwrap()
                    .unwrap();
                let mut want: Vec<u32> = (0..ix.len() as u32)
                    .filter(|&p| f.matches(&entries[p as usize]))
                    .collect();
                ix.sort(&mut want, q.sort, false, text.map(|t| t.resource_rank()));
                assert_eq!(v.rows, want, "{f:?} text index {text:?}");
                assert!(!want.is_empty(), "{f:?}");
                prior = Some(v.base);
            }
        }
        assert_eq!(memory.resource_rank(), sidecar.resource_rank());
    }

    /// The sidecar of the archive at `path`, built and opened as the viewer does.
    fn sidecar_of(path: &Path, ix: &Index) -> Sidecar {
        let dest = search_sidecar::path_for(path);
        let digest = search_sidecar::build(path, &dest, ix, &Job::new()).unwrap();
        let head = Head::of(&Archive::open(path).unwrap()).unwrap();
        match Sidecar::open(&dest, &head, Some(&digest), ix.len()) {
            Found::Usable(s) => *s,
            other => panic!("{other:?}"),
        }
    }

    /// A sidecar that claims hits it does not have (here: every entry holds
    /// "safari") adds nothing: each hit is re-checked against its record.
    #[test]
    fn a_sidecar_claiming_extra_hits_adds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.sqlite");
        std::fs::copy(sample(), &path).unwrap();
        let ix = Index::load(&path, &Job::new()).unwrap();
        let dest = search_sidecar::path_for(&path);
        search_sidecar::build(&path, &dest, &ix, &Job::new()).unwrap();
        let rw = rusqlite::Connection::open(&dest).unwrap();
        let every: Vec<u64> = (0..ix.len()).map(|p| ix.seq(p)).collect();
        rw.execute("DELETE FROM postings", []).unwrap();
        for gram in ["saf", "afa", "far", "ari"] {
            rw.execute(
                "INSERT INTO postings VALUES (?1, 0, ?2)",
                rusqlite::params![gram, search_sidecar::encode_seqs(&every)],
            )
            .unwrap();
        }
        drop(rw);
        // Trusted anyway, as if the viewer had built it so.
        let digest = auditlens_core::digest::file_sha256(&dest).unwrap();
        let head = Head::of(&Archive::open(&path).unwrap()).unwrap();
        let Found::Usable(s) = Sidecar::open(&dest, &head, Some(&digest), ix.len()) else {
            panic!("not usable");
        };
        let text = TextIndex::Sidecar(*s);
        let a = Archive::open(&path).unwrap();
        let f = Filter {
            search: Some("safari".into()),
            ..Filter::default()
        };
        let want: Vec<u32> = (0..ix.len() as u32)
            .filter(|&p| f.matches(&a.entry(ix.seq(p as usize)).unwrap().unwrap().entry))
            .collect();
        assert!(!want.contains(&0) && !want.is_empty());
        let src = Sources {
            index: &ix,
            text: Some(&text),
            archive: &path,
        };
        let q = Query {
            filter: f,
            sort: SortKey::Seq,
            descending: false,
            restriction: None,
        };
        let v = compute(&src, &q, None, Reads::Records, &Job::new())
            .unwrap()
            .unwrap();
        assert_eq!(v.rows, want);
        // In the frame, the sidecar's hits are never shown unchecked.
        assert_eq!(
            compute(&src, &q, None, Reads::IndexesOnly, &Job::new()).unwrap(),
            Err(NeedsRecords)
        );
    }

    /// A restriction (few entries, or most of them: two ways to intersect)
    /// shows its entries that pass the filter, over every entry (no base
    /// list) and over a base list; an empty filter keeps no base list.
    #[test]
    fn a_restriction_shows_its_entries_that_pass() {
        let path = sample();
        let ix = Index::load(&path, &Job::new()).unwrap();
        let a = Archive::open(&path).unwrap();
        let entries: Vec<_> = (0..ix.len())
            .map(|p| a.entry(ix.seq(p)).unwrap().unwrap().entry)
            .collect();
        let src = Sources {
            index: &ix,
            text: None,
            archive: &path,
        };
        let n = ix.len() as u64;
        let few: HashSet<u64> = (0..n).step_by(97).map(|p| ix.seq(p as usize)).collect();
        let most: HashSet<u64> = (0..n)
            .filter(|p| p % 5 != 0)
            .map(|p| ix.seq(p as usize))
            .collect();
        let (min, max) = ix.time_span().unwrap();
        let filters = [
            Filter::default(),
            Filter {
                actions: vec!["update".into()],
                ..Filter::default()
            },
            Filter {
                from: Some(auditlens_core::time::Timestamp(min + (max - min) / 3)),
                actions: vec!["create".into(), "update".into()],
                ..Filter::default()
            },
        ];
        for (id, seqs) in [few, most].into_iter().enumerate() {
            let seqs = Arc::new(seqs);
            for f in &filters {
                let q = Query {
                    filter: f.clone(),
                    sort: SortKey::Seq,
                    descending: true,
                    restriction: Some(Restriction {
                        label: "test".into(),
                        seqs: seqs.clone(),
                        id: id as u64,
                    }),
                };
                let v = compute(&src, &q, None, Reads::Records, &Job::new())
                    .unwrap()
                    .unwrap();
                let mut want: Vec<u32> = (0..ix.len() as u32)
                    .filter(|&p| {
                        seqs.contains(&ix.seq(p as usize)) && f.matches(&entries[p as usize])
                    })
                    .collect();
                want.reverse();
                assert!(!want.is_empty(), "{f:?}");
                assert_eq!(v.rows, want, "{f:?} restriction {id}");
                assert_eq!(v.base.positions.is_none(), f.without_facets().is_empty());
            }
        }
    }

    /// In the frame, a query that would read records says so instead.
    #[test]
    fn the_frame_never_reads_records() {
        let path = sample();
        let ix = Index::load(&path, &Job::new()).unwrap();
        let src = Sources {
            index: &ix,
            text: None,
            archive: Path::new("/nonexistent/never-read.sqlite"),
        };
        let q = |f: Filter| Query {
            filter: f,
            sort: SortKey::Time,
            descending: true,
            restriction: None,
        };
        let search = q(Filter {
            search: Some("alice".into()),
            ..Filter::default()
        });
        assert_eq!(
            compute(&src, &search, None, Reads::IndexesOnly, &Job::new()).unwrap(),
            Err(NeedsRecords)
        );
        let facet = q(Filter {
            actions: vec!["delete".into()],
            ..Filter::default()
        });
        let v = compute(&src, &facet, None, Reads::IndexesOnly, &Job::new())
            .unwrap()
            .unwrap();
        assert_eq!(v.rows.len() as u64, {
            let id = (0..ix.actions.len() as u32)
                .find(|&i| ix.actions.get(i) == Some("delete"))
                .unwrap();
            ix.counts.actions[id as usize]
        });
    }
}
