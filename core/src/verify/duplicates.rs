//! Finding entries whose id was already stored, in bounded memory.
//!
//! Every entry id is kept as a 64-bit keyed hash, in walk order: 8 bytes an
//! entry. The seqs are not kept while they follow one another (only a
//! damaged archive or an export has gaps). The hashes are taken in [`PARTS`]
//! passes, each sorting the (hash, position) pairs of one part of the hash
//! space, so the sort needs 1/`PARTS` of the entries' pairs at a time
//! instead of a second array of them all; the parts one after the other give
//! every (hash, seq) in order, and equal hashes are adjacent.
//!
//! Memory is bounded whatever the number of entries: once the hashes held
//! reach the log's byte budget, they are sorted so and written out as one
//! run of an [`ExternalSort`] (a temporary file in the system's temporary
//! folder), and at the end the runs are merged. Below the budget nothing
//! touches the disk. Hashes are uniform (SipHash under a key drawn for each
//! run), so no file can make one part large, nor make two different ids
//! collide.

use std::hash::{BuildHasher, RandomState};
use std::io;

use crate::external_sort::{ExternalSort, RunReader, Spill};

/// The hash space is cut into this many parts, sorted one at a time.
const PARTS: u64 = 16;
/// Bits of the hash that choose the part.
const PART_BITS: u32 = PARTS.trailing_zeros();

/// One entry id as sorted: its keyed hash, then its seq.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct IdSeq(u64, u64);

impl Spill for IdSeq {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_le_bytes());
        out.extend_from_slice(&self.1.to_le_bytes());
    }

    fn decode(r: &mut RunReader) -> io::Result<Option<IdSeq>> {
        let mut b = [0u8; 16];
        if !r.take(&mut b)? {
            return Ok(None);
        }
        let (h, s) = b.split_at(8);
        Ok(Some(IdSeq(
            u64::from_le_bytes(h.try_into().map_err(io::Error::other)?),
            u64::from_le_bytes(s.try_into().map_err(io::Error::other)?),
        )))
    }
}

/// The entry ids seen, in walk order.
pub(super) struct IdLog {
    hasher: RandomState,
    hashes: Vec<u64>,
    /// The seq of the first id held; the others follow it one by one…
    first: u64,
    /// …until a gap: then every seq held is listed.
    listed: Option<Vec<u64>>,
    /// The bytes of hashes and seqs held before they are written out as a run.
    memory: usize,
    /// The runs written out (none below the budget).
    runs: ExternalSort<IdSeq>,
    spilled: bool,
    /// Writing a run failed: the check cannot be completed (said at the end).
    failed: Option<io::Error>,
}

/// The entries whose id was already seen, as (first seq, later seq), in the
/// order of the ids' hashes: the first ones in full, the rest counted.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Duplicates {
    pub listed: Vec<(u64, u64)>,
    pub more: u64,
}

impl IdLog {
    /// A log that holds at most about `memory` bytes of ids.
    pub fn new(memory: usize) -> Self {
        IdLog {
            hasher: RandomState::new(),
            hashes: Vec::new(),
            first: 0,
            listed: None,
            memory,
            runs: ExternalSort::new(1, None),
            spilled: false,
            failed: None,
        }
    }

    /// Makes room for `n` ids, within the budget.
    pub fn reserve(&mut self, n: usize) {
        self.hashes.reserve(n.min(self.memory / 8));
    }

    /// Notes the id of the entry at `seq` (seqs must increase).
    pub fn push(&mut self, id: &str, seq: u64) {
        if self.failed.is_some() {
            return;
        }
        let n = self.hashes.len();
        if n == 0 {
            self.first = seq;
        } else if self.listed.is_none() && Some(seq) != self.first.checked_add(n as u64) {
            self.listed = Some((0..n as u64).map(|i| self.first + i).collect());
        }
        if let Some(l) = self.listed.as_mut() {
            l.push(seq);
        }
        self.hashes.push(self.hasher.hash_one(id));
        let held = 8 * (self.hashes.len() + self.listed.as_ref().map_or(0, Vec::len));
        if held >= self.memory
            && let Err(e) = self.spill()
        {
            self.failed = Some(e);
        }
    }

    /// Writes the ids held out as one sorted run, and forgets them.
    fn spill(&mut self) -> io::Result<()> {
        let IdLog {
            hashes,
            first,
            listed,
            runs,
            ..
        } = self;
        runs.push_run(sorted(hashes, *first, listed.as_deref()))?;
        hashes.clear();
        *listed = None;
        self.spilled = true;
        Ok(())
    }

    /// The entries whose id was already seen, with the seq of the id's
    /// first entry; at most `keep` listed. An error: a run could not be
    /// written or read back.
    pub fn duplicates(mut self, keep: usize) -> io::Result<Duplicates> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        if !self.spilled {
            return pairs(
                sorted(&self.hashes, self.first, self.listed.as_deref()).map(Ok),
                keep,
            );
        }
        self.spill()?;
        self.hashes = Vec::new();
        pairs(self.runs.finish()?, keep)
    }
}

/// Every (hash, seq) of the ids held, in order: part by part.
fn sorted<'a>(
    hashes: &'a [u64],
    first: u64,
    listed: Option<&'a [u64]>,
) -> impl Iterator<Item = IdSeq> + 'a {
    let seq = move |pos: usize| match listed {
        Some(l) => l[pos],
        None => first + pos as u64,
    };
    (0..PARTS).flat_map(move |p| {
        let mut part: Vec<(u64, usize)> = hashes
            .iter()
            .enumerate()
            .filter(|(_, h)| *h >> (64 - PART_BITS) == p)
            .map(|(i, &h)| (h, i))
            .collect();
        sort_by_hash(&mut part, 64 - PART_BITS);
        part.into_iter().map(move |(h, pos)| IdSeq(h, seq(pos)))
    })
}

/// The (first seq, later seq) pairs of ids sorted by (hash, seq): each id
/// after the first of its hash is a duplicate of that first one.
fn pairs(ids: impl Iterator<Item = io::Result<IdSeq>>, keep: usize) -> io::Result<Duplicates> {
    let mut out = Duplicates::default();
    let mut group: Option<IdSeq> = None;
    for id in ids {
        let id = id?;
        match group {
            Some(g) if g.0 == id.0 => {
                if out.listed.len() < keep {
                    out.listed.push((g.1, id.1));
                } else {
                    out.more += 1;
                }
            }
            _ => group = Some(id),
        }
    }
    Ok(out)
}

/// Sorts (hash, position) pairs in place, when the bits of the hashes above
/// `below` are the same in all of them. The hashes are uniform, so one
/// counting pass on the next 16 bits and one pass that swaps each pair into
/// its bucket (an American flag sort) leave buckets of a few pairs to sort:
/// linear time for the millions of ids of a large archive, where a comparison
/// sort was the longest serial step left after the parallel read.
fn sort_by_hash(ids: &mut [(u64, usize)], below: u32) {
    const BITS: u32 = 16;
    if ids.len() < 1 << BITS || below < BITS {
        ids.sort_unstable();
        return;
    }
    let bucket = |h: u64| ((h >> (below - BITS)) & ((1 << BITS) - 1)) as usize;
    let mut start = vec![0usize; (1 << BITS) + 1];
    for &(h, _) in ids.iter() {
        start[bucket(h) + 1] += 1;
    }
    for i in 1..start.len() {
        start[i] += start[i - 1];
    }
    // `next[b]`: the first place of bucket `b` not yet holding one of its pairs.
    let mut next = start[..1 << BITS].to_vec();
    for b in 0..1 << BITS {
        while next[b] < start[b + 1] {
            // Carry the pair found here to its bucket, taking the one there
            // on, until a pair of this bucket comes back.
            let mut carried = ids[next[b]];
            loop {
                let home = bucket(carried.0);
                if home == b {
                    break;
                }
                std::mem::swap(&mut carried, &mut ids[next[home]]);
                next[home] += 1;
            }
            ids[next[b]] = carried;
            next[b] += 1;
        }
    }
    for w in start.windows(2) {
        ids[w[0]..w[1]].sort_unstable();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_by_hash_sorts_like_a_comparison_sort() {
        let hasher = RandomState::new();
        for n in [0usize, 5, 70_000, 200_000] {
            // Some repeated hashes, as duplicate ids give.
            let mut ids: Vec<(u64, usize)> = (0..n)
                .map(|i| (hasher.hash_one(i % (n / 2 + 1)), n - i))
                .collect();
            let mut want = ids.clone();
            want.sort_unstable();
            sort_by_hash(&mut ids, 64);
            assert_eq!(ids, want);
        }
    }

    /// The (first seq, later seq) pairs, found by the ids themselves.
    fn reference(ids: &[(String, u64)]) -> Vec<(u64, u64)> {
        let mut first = std::collections::HashMap::new();
        let mut pairs = Vec::new();
        for (id, seq) in ids {
            match first.get(id) {
                Some(&f) => pairs.push((f, *seq)),
                None => {
                    first.insert(id, *seq);
                }
            }
        }
        pairs.sort_unstable();
        pairs
    }

    /// Ids where every 1000th repeats one 500 entries earlier (and, with
    /// `gap_at`, the seqs jump by 5 there), as (id, seq).
    fn ids(n: u64, gap_at: Option<u64>) -> Vec<(String, u64)> {
        let mut seq = 1;
        (0..n)
            .map(|i| {
                let id = if i % 1000 == 999 { i - 500 } else { i };
                if Some(i) == gap_at {
                    seq += 5;
                }
                seq += 1;
                (format!("id-{id}"), seq - 1)
            })
            .collect()
    }

    fn log(ids: &[(String, u64)], memory: usize, hasher: &RandomState) -> IdLog {
        let mut log = IdLog::new(memory);
        log.hasher = hasher.clone();
        for (id, seq) in ids {
            log.push(id, *seq);
        }
        log
    }

    #[test]
    fn finds_every_repeated_id_with_its_first_seq() {
        for (n, gap_at) in [(10u64, None), (150_000, None), (150_000, Some(70_700u64))] {
            let ids = ids(n, gap_at);
            let want = reference(&ids);
            assert_eq!(want.len() as u64, n / 1000);
            let d = log(&ids, 1 << 30, &RandomState::new())
                .duplicates(usize::MAX)
                .unwrap();
            assert_eq!(d.more, 0);
            let mut got = d.listed;
            got.sort_unstable();
            assert_eq!(got, want);
            if let Some(g) = gap_at {
                // A pair across the gap: seqs after it are 5 ahead of the positions.
                assert!(got.iter().any(|&(a, b)| a < g && b > g + 5));
            }
        }
    }

    #[test]
    fn spilled_runs_give_the_same_pairs_in_the_same_order() {
        let ids = ids(20_000, Some(7_777));
        let hasher = RandomState::new();
        for keep in [usize::MAX, 5] {
            let whole = log(&ids, 1 << 30, &hasher).duplicates(keep).unwrap();
            assert_eq!(whole.listed.len() as u64 + whole.more, 20);
            // Runs of 1000 ids, of 3, and of one id each (16 bytes: a hash and a listed seq).
            for memory in [8_000, 24, 1] {
                let spilled = log(&ids, memory, &hasher);
                assert!(spilled.spilled);
                assert_eq!(spilled.duplicates(keep).unwrap(), whole, "memory {memory}");
            }
        }
    }
}
