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
use crate::filter::Filter;
use crate::job::Job;
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

/// Does `hay` hold `needle_lower` (ASCII, lower-cased), ignoring ASCII case?
pub(crate) fn contains_ascii_ci(hay: &[u8], needle_lower: &[u8]) -> bool {
    if needle_lower.is_empty() {
        return true;
    }
    if needle_lower.len() > hay.len() {
        return false;
    }
    let first = needle_lower[0];
    let n = needle_lower.len();
    (0..=hay.len() - n).any(|i| {
        hay[i].to_ascii_lowercase() == first
            && hay[i + 1..i + n]
                .iter()
                .zip(&needle_lower[1..])
                .all(|(a, b)| a.to_ascii_lowercase() == *b)
    })
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
        RecordTest {
            f,
            needles,
            projects,
        }
    }

    /// Exactly `parse_record(bytes).is_ok_and(|e| f.matches(&e))`. A record
    /// that is plain ASCII without escapes and lacks a needle is refused
    /// without parsing: each byte of its search text is a byte of the record.
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
