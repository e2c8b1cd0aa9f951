//! Re-checking candidate entries against their records: what the viewer
//! shows for a search, an actor or a project by name is decided here by the
//! core's [`Filter::matches`] on each parsed record, never by an index (the
//! search sidecar only narrows the candidates; it is not trusted).
//!
//! Where the time goes at a million entries, and what this does about it:
//! - reading: one statement per run stepping forward through the table
//!   ([`Archive::for_each_record_among`]), not one point query per hit;
//! - testing: a plain record (ASCII, no escapes) that lacks a needle is
//!   skipped without parsing it; the others are parsed and matched;
//! - many candidates are split in runs over the cores, each on its own
//!   connection; cancelling the job stops every run within a few thousand
//!   records.

use std::path::Path;

use crate::archive::{self, Archive};
use crate::canonical;
use crate::filter::Filter;
use crate::job::Job;
use crate::record_view::RecordView;
use crate::row_index::{Index, open_unmapped};

/// Candidates below this many are re-checked on the calling thread alone.
const PARALLEL_FROM: usize = 20_000;

/// Most runs (threads) of one re-check.
const MAX_RUNS: usize = 4;

/// Records between two looks at the job (progress, cancel).
const CHECK_EVERY: u64 = 2048;

/// Characters for which "absent from the record bytes" proves "absent from
/// the searched fields": no JSON structure, escapes or whitespace but space.
pub(crate) fn byte_test_ok(needle: &str) -> bool {
    !needle.is_empty()
        && needle
            .bytes()
            .all(|b| (b.is_ascii_graphic() || b == b' ') && !b"\"\\{}[]:,".contains(&b))
}

/// Does `hay` hold `needle_lower` (lower-cased), ignoring ASCII case? The
/// first byte is looked for in both cases with `memchr2`.
pub(crate) fn contains_ascii_ci(hay: &[u8], needle_lower: &[u8]) -> bool {
    let Some((&first, rest)) = needle_lower.split_first() else {
        return true;
    };
    let Some(last_start) = hay.len().checked_sub(needle_lower.len()) else {
        return false;
    };
    let upper = first.to_ascii_uppercase();
    let mut from = 0;
    while from <= last_start {
        let Some(i) = memchr::memchr2(first, upper, &hay[from..=last_start]) else {
            return false;
        };
        let at = from + i;
        if hay[at + 1..at + needle_lower.len()]
            .iter()
            .zip(rest)
            .all(|(a, b)| a.to_ascii_lowercase() == *b)
        {
            return true;
        }
        from = at + 1;
    }
    false
}

/// Does the search text of this record ([`crate::filter::search_text`]:
/// the ids, the searched fields, the canonical states) hold `needle_lower`?
/// For a plain record (ASCII, no escapes) that is canonical, each piece of
/// the search text is the record's own bytes: a field's value, a state's
/// JSON as stored. A needle without `\n` lies within one piece.
fn view_holds(v: &RecordView<'_>, needle_lower: &[u8]) -> bool {
    // The pieces of `filter::search_text`: id, resource id, the searched fields.
    let fields = [Some(&v.id), Some(&v.resource_id)]
        .into_iter()
        .chain(crate::filter::searched_fields_of!(v));
    fields
        .flatten()
        .any(|f| contains_ascii_ci(f.as_bytes(), needle_lower))
        || [v.before, v.after]
            .into_iter()
            .flatten()
            .any(|state| contains_ascii_ci(state.as_bytes(), needle_lower))
}

/// The positions among `candidates` (seq order) whose record `f` accepts,
/// in the same order; see [`crate::row_index::refine_with_records`].
pub fn refine(
    index: &Index,
    archive_path: &Path,
    candidates: &[u32],
    f: &Filter,
    job: &Job,
) -> Result<Vec<u32>, String> {
    let runs = if candidates.len() < PARALLEL_FROM {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_RUNS))
    };
    refine_in_runs(index, archive_path, candidates, f, job, runs)
}

/// [`refine`] in `runs` runs of the candidates, each on its own thread and
/// connection.
fn refine_in_runs(
    index: &Index,
    archive_path: &Path,
    candidates: &[u32],
    f: &Filter,
    job: &Job,
    runs: usize,
) -> Result<Vec<u32>, String> {
    job.start_phase("searching", candidates.len() as u64);
    // The reader steps forward: positions in order, each once.
    let sorted;
    let candidates = if candidates.is_sorted_by(|a, b| a < b) {
        candidates
    } else {
        let mut v = candidates.to_vec();
        v.sort_unstable();
        v.dedup();
        sorted = v;
        &sorted[..]
    };
    let end = candidates.partition_point(|&p| (p as usize) < index.len());
    let candidates = &candidates[..end];
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let test = RecordTest::new(f);
    let run = |part: &[u32]| -> Result<Vec<u32>, String> {
        let archive = open_unmapped(archive_path)?;
        check_run(&archive, index, part, &test, job)
    };
    let runs = runs.clamp(1, candidates.len());
    if runs == 1 {
        return run(candidates);
    }
    let parts: Vec<Result<Vec<u32>, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = candidates
            .chunks(candidates.len().div_ceil(runs))
            .map(|part| scope.spawn(move || run(part)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a search thread failed".to_string()))
            })
            .collect()
    });
    let mut out = Vec::with_capacity(candidates.len());
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}

/// One run: reads the records of `part` (ascending positions) in order and
/// keeps those `test` accepts.
fn check_run(
    archive: &Archive,
    index: &Index,
    part: &[u32],
    test: &RecordTest<'_>,
    job: &Job,
) -> Result<Vec<u32>, String> {
    let seqs: Vec<u64> = part.iter().map(|&p| index.seq(p as usize)).collect();
    let mut out = Vec::new();
    let mut k = 0usize;
    let mut done = 0u64;
    archive.for_each_record_among::<String>(&seqs, |seq, bytes| {
        if done.is_multiple_of(CHECK_EVERY) {
            if done > 0 {
                job.add_done(CHECK_EVERY);
            }
            if job.is_cancelled() {
                return Err("cancelled".to_string());
            }
        }
        done += 1;
        while seqs.get(k).is_some_and(|&s| s < seq) {
            k += 1; // not stored
        }
        if seqs.get(k) == Some(&seq) {
            if test.keeps(bytes) {
                out.push(part[k]);
            }
            k += 1;
        }
        Ok(true)
    })?;
    job.add_done(done % CHECK_EVERY);
    Ok(out)
}

/// The test of one record against a filter.
struct RecordTest<'f> {
    f: &'f Filter,
    /// Lower-cased search and actor texts that a plain record must hold.
    needles: Vec<Vec<u8>>,
    /// Lower-cased projects (id or name) of which a plain record must hold one.
    projects: Option<Vec<Vec<u8>>>,
    /// When the filter is a search alone, for an ASCII needle without `\n`:
    /// the lower-cased needle, decided on a canonical plain record's view
    /// ([`view_holds`]) without building the entry or its search text.
    search_only: Option<Vec<u8>>,
}

impl<'f> RecordTest<'f> {
    fn new(f: &'f Filter) -> RecordTest<'f> {
        let needles = [f.search.as_deref(), f.actor.as_deref()]
            .into_iter()
            .flatten()
            .filter(|s| byte_test_ok(s))
            .map(|s| s.to_ascii_lowercase().into_bytes())
            .collect();
        // A plain record holding none of the projects asked for (as id or
        // name) cannot match; picking a project from the list stays fast.
        let projects =
            (!f.projects.is_empty() && f.projects.iter().all(|p| byte_test_ok(p))).then(|| {
                f.projects
                    .iter()
                    .map(|p| p.to_ascii_lowercase().into_bytes())
                    .collect()
            });
        let alone = Filter {
            search: None,
            ..f.clone()
        } == Filter::default();
        let search_only = f
            .search
            .as_deref()
            .filter(|n| alone && !n.is_empty() && n.is_ascii() && !n.contains('\n'))
            .map(|n| n.to_ascii_lowercase().into_bytes());
        RecordTest {
            f,
            needles,
            projects,
            search_only,
        }
    }

    /// Exactly `parse_record(bytes).is_ok_and(|e| f.matches(&e))`. A record
    /// that is plain ASCII without escapes and lacks a needle is refused
    /// without parsing: each byte of its search text is a byte of the record.
    /// For a search alone, a plain record that the verifier's check finds
    /// canonical (and so readable: [`canonical::check`] reads it as an
    /// entry) is decided on its fields and states as stored; any other
    /// record is parsed.
    fn keeps(&self, bytes: &[u8]) -> bool {
        let plain = bytes.is_ascii() && !bytes.contains(&b'\\');
        if plain && self.needles.iter().any(|n| !contains_ascii_ci(bytes, n)) {
            return false;
        }
        if plain
            && self
                .projects
                .as_ref()
                .is_some_and(|ns| ns.iter().all(|n| !contains_ascii_ci(bytes, n)))
        {
            return false;
        }
        if plain && let Some(needle) = &self.search_only {
            let checked = canonical::check(bytes);
            if checked.problem.is_none()
                && let Some(view) = &checked.view
            {
                return view_holds(view, needle);
            }
        }
        archive::parse_record(bytes).is_ok_and(|e| self.f.matches(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Entry;

    fn sample() -> (std::path::PathBuf, Index, Vec<Entry>) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-data/audit-sample.sqlite");
        let ix = Index::load(&path, &Job::new()).unwrap();
        let a = Archive::open(&path).unwrap();
        let entries = (0..ix.len())
            .map(|p| a.entry(ix.seq(p)).unwrap().unwrap().entry)
            .collect();
        (path, ix, entries)
    }

    /// In one run or several, over every entry or a sparse few, unsorted
    /// or out of range, the kept positions are those the core filter
    /// accepts, in order.
    #[test]
    fn keeps_what_the_core_filter_accepts_in_any_runs() {
        let (path, ix, entries) = sample();
        let project = entries.iter().find_map(|e| e.project_name.clone()).unwrap();
        let actor = entries.iter().find_map(|e| e.actor.email.clone()).unwrap();
        let filters = [
            Filter {
                search: Some("Safari".into()),
                ..Filter::default()
            },
            Filter {
                search: Some("sa".into()),
                ..Filter::default()
            },
            Filter {
                search: Some("\"role\":\"admin\"".into()),
                ..Filter::default()
            },
            Filter {
                search: Some("zzz-nothing".into()),
                ..Filter::default()
            },
            Filter {
                actor: Some(actor.to_uppercase()),
                search: Some("2025".into()),
                ..Filter::default()
            },
            Filter {
                projects: vec![project],
                ..Filter::default()
            },
        ];
        let all: Vec<u32> = (0..ix.len() as u32).collect();
        let sparse: Vec<u32> = (0..ix.len() as u32).step_by(37).collect();
        let mut shuffled: Vec<u32> = sparse.iter().rev().copied().collect();
        shuffled.extend([ix.len() as u32, u32::MAX, 5, 5]);
        for f in &filters {
            let want = |c: &[u32]| -> Vec<u32> {
                let mut c = c.to_vec();
                c.sort_unstable();
                c.dedup();
                c.into_iter()
                    .filter(|&p| (p as usize) < ix.len() && f.matches(&entries[p as usize]))
                    .collect()
            };
            for c in [&all, &sparse, &shuffled] {
                for runs in [1, 2, 3] {
                    let got = refine_in_runs(&ix, &path, c, f, &Job::new(), runs).unwrap();
                    assert_eq!(got, want(c), "{f:?} runs {runs}");
                }
            }
            assert!(!want(&all).is_empty() || f.search.as_deref() == Some("zzz-nothing"));
        }
    }

    /// On records as ingest seals them and as a tamperer might store them
    /// (whitespace, keys out of order, an unknown field, a duplicate key,
    /// a broken state, a time that is no time, an escape), for needles cut
    /// from every part of them, the record test says what parsing the
    /// record and the core filter say.
    #[test]
    fn the_record_test_says_what_the_core_filter_says() {
        use crate::sample::{Profile, Sample};
        let rich = Sample::new(120, 5);
        let platform = Sample::new(120, 7).with_profile(Profile::Platform);
        let records: Vec<String> = (0..120)
            .flat_map(|i| [rich.entry(i), platform.entry(i)])
            .map(|e| e.canonical_record())
            .collect();
        let variants = |r: &str| -> Vec<String> {
            vec![
                r.to_string(),
                r.replacen(',', ", ", 1),
                r.replacen('{', "{\"zz\":\"x\",", 1),
                r.replacen("\"id\":", "\"id\":\"dup\",\"id\":", 1),
                r.replacen("\"after\":{", "\"after\":{\"a\":tru,", 1),
                r.replacen("\"time\":\"", "\"time\":\"x", 1),
                r.replacen("\"action\":\"", "\"action\":\"\\u0041", 1),
                r.replacen("\"action\":\"", "\"action\":\"É", 1),
                r.replacen("\"actor\":{", "\"actor\":{\"zz\":\"1\",", 1),
            ]
        };
        let mut decided = 0;
        for (k, r) in records.iter().enumerate() {
            let chars: Vec<char> = r.chars().collect();
            let mut needles: Vec<String> = ["null", "true", "create", "\"id\"", "e"]
                .map(String::from)
                .to_vec();
            for start in (k % 7..chars.len().saturating_sub(9)).step_by(29) {
                needles.push(chars[start..start + 3 + start % 6].iter().collect());
            }
            for v in variants(r) {
                for needle in &needles {
                    let f = Filter {
                        search: Some(needle.to_uppercase()),
                        ..Filter::default()
                    };
                    let want = archive::parse_record(v.as_bytes()).is_ok_and(|e| f.matches(&e));
                    assert_eq!(
                        RecordTest::new(&f).keeps(v.as_bytes()),
                        want,
                        "{needle:?} in {v}"
                    );
                    decided += usize::from(want);
                }
            }
        }
        assert!(decided > 1000, "{decided}");
    }

    /// A cancelled job stops the re-check: an error, not a partial answer
    /// taken for the whole (the next keystroke cancels the search in flight).
    #[test]
    fn a_cancelled_job_stops_every_run() {
        let (path, ix, _) = sample();
        let all: Vec<u32> = (0..ix.len() as u32).collect();
        let f = Filter {
            search: Some("a".into()),
            ..Filter::default()
        };
        let job = Job::new();
        job.cancel();
        for runs in [1, 2] {
            let e = refine_in_runs(&ix, &path, &all, &f, &job, runs).unwrap_err();
            assert_eq!(e, "cancelled");
        }
    }
}
