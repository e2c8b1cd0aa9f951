//! Finding entries whose id was already stored, in bounded memory.
//!
//! Every entry id is kept as a 64-bit keyed hash, in walk order: 8 bytes an
//! entry. The seqs are not kept while they follow one another (only a
//! damaged archive or an export has gaps). At the end the hashes are taken
//! in [`PARTS`] passes, each sorting the (hash, position) pairs of one part
//! of the hash space, so the sort needs 1/`PARTS` of the entries' pairs at a
//! time instead of a second array of them all. Hashes are uniform (SipHash
//! under a key drawn for each run), so no file can make one part large, nor
//! make two different ids collide.

use std::hash::{BuildHasher, RandomState};

/// The hash space is cut into this many parts, sorted one at a time.
const PARTS: u64 = 16;
/// Bits of the hash that choose the part.
const PART_BITS: u32 = PARTS.trailing_zeros();

/// The entry ids seen, in walk order.
pub(super) struct IdLog {
    hasher: RandomState,
    hashes: Vec<u64>,
    /// The seq of the first id; the others follow it one by one…
    first: u64,
    /// …until a gap: then every seq is listed.
    listed: Option<Vec<u64>>,
}

impl IdLog {
    pub fn new() -> Self {
        IdLog {
            hasher: RandomState::new(),
            hashes: Vec::new(),
            first: 0,
            listed: None,
        }
    }

    pub fn reserve(&mut self, n: usize) {
        self.hashes.reserve(n);
    }

    /// Notes the id of the entry at `seq` (seqs must increase).
    pub fn push(&mut self, id: &str, seq: u64) {
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
    }

    fn seq(&self, pos: usize) -> u64 {
        match &self.listed {
            Some(l) => l[pos],
            None => self.first + pos as u64,
        }
    }

    /// (first seq, later seq) for every entry whose id was already seen, in
    /// the order of the first seq's hash; frees the log.
    pub fn duplicates(&mut self) -> Vec<(u64, u64)> {
        let mut pairs = Vec::new();
        let mut part: Vec<(u64, usize)> = Vec::new();
        for p in 0..PARTS {
            part.clear();
            part.extend(
                self.hashes
                    .iter()
                    .enumerate()
                    .filter(|(_, h)| *h >> (64 - PART_BITS) == p)
                    .map(|(i, &h)| (h, i)),
            );
            sort_by_hash(&mut part, 64 - PART_BITS);
            for group in part.chunk_by(|a, b| a.0 == b.0) {
                let first = self.seq(group[0].1);
                pairs.extend(group[1..].iter().map(|&(_, pos)| (first, self.seq(pos))));
            }
        }
        self.hashes = Vec::new();
        self.listed = None;
        pairs
    }
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

    /// The pairs a plain sort of every (hash, seq) pair gives.
    fn reference(log: &IdLog) -> Vec<(u64, u64)> {
        let mut all: Vec<(u64, u64)> = (0..log.hashes.len())
            .map(|i| (log.hashes[i], log.seq(i)))
            .collect();
        all.sort_unstable();
        let mut pairs = Vec::new();
        for group in all.chunk_by(|a, b| a.0 == b.0) {
            pairs.extend(group[1..].iter().map(|&(_, s)| (group[0].1, s)));
        }
        pairs.sort_unstable();
        pairs
    }

    #[test]
    fn finds_every_repeated_id_with_its_first_seq() {
        for (n, gap_at) in [(10u64, None), (150_000, None), (150_000, Some(70_700u64))] {
            let mut log = IdLog::new();
            let mut seq = 1;
            for i in 0..n {
                // Every 1000th entry repeats the id of one 500 entries earlier.
                let id = if i % 1000 == 999 { i - 500 } else { i };
                if Some(i) == gap_at {
                    seq += 5;
                }
                log.push(&format!("id-{id}"), seq);
                seq += 1;
            }
            let want = reference(&log);
            assert_eq!(want.len() as u64, n / 1000);
            let mut got = log.duplicates();
            got.sort_unstable();
            assert_eq!(got, want);
            if let Some(g) = gap_at {
                // A pair across the gap: seqs after it are 5 ahead of the positions.
                assert!(got.iter().any(|&(a, b)| a < g && b > g + 5));
            }
        }
    }
}
