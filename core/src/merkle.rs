//! RFC 6962 / RFC 9162 Merkle tree proofs over the archive's leaf hashes
//! (docs/FORMAT.md, "Merkle tree" and "Proofs").
//!
//! A checkpoint records the root of the tree over the first n leaves. An
//! **inclusion proof** shows that one leaf is at a given index of that tree,
//! so a filtered export can prove each entry without the archive. A
//! **consistency proof** shows that the tree of size m is a prefix of the tree
//! of size n, so a newer checkpoint provably extends an older one.
//!
//! Leaves are the archive's leaf hashes, which already carry RFC 6962's
//! `0x00` prefix (`chain::leaf_hash`); interior nodes are `chain::merkle_node`.
//! Verification follows RFC 9162 sections 2.1.3.2 and 2.1.4.2 literally.

use crate::chain::{Hash, empty_root, merkle_node};

/// Why a proof did not verify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProofError {
    /// The index or sizes cannot describe a leaf or a prefix of the tree.
    BadPosition(String),
    /// The proof has the wrong number of hashes for the index and size.
    WrongLength { expected: usize, found: usize },
    /// The proof leads to another root.
    RootMismatch { computed: Hash },
}

impl std::fmt::Display for ProofError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProofError::BadPosition(m) => f.write_str(m),
            ProofError::WrongLength { expected, found } => write!(
                f,
                "the proof has {found} hashes where {expected} are needed"
            ),
            ProofError::RootMismatch { computed } => write!(
                f,
                "the proof leads to root {computed}, not the checkpoint's root"
            ),
        }
    }
}

impl std::error::Error for ProofError {}

/// Number of hashes in the inclusion proof of `index` in a tree of `size`
/// leaves (RFC 9162's loop runs exactly this often on a valid proof).
pub fn inclusion_proof_len(index: u64, size: u64) -> usize {
    if index >= size {
        return 0;
    }
    let (mut fnode, mut snode, mut n) = (index, size - 1, 0);
    while snode > 0 {
        // A left child on the right border has no sibling at this level: climb past it.
        if fnode & 1 == 0 && fnode == snode {
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        }
        fnode >>= 1;
        snode >>= 1;
        n += 1;
    }
    n
}

/// The root an inclusion proof leads to (RFC 9162, 2.1.3.2), or why it cannot lead anywhere.
pub fn root_from_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
) -> Result<Hash, ProofError> {
    if index >= size {
        return Err(ProofError::BadPosition(format!(
            "leaf index {index} is outside a tree of {size} leaves"
        )));
    }
    let expected = inclusion_proof_len(index, size);
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            expected,
            found: proof.len(),
        });
    }
    let (mut fnode, mut snode, mut r) = (index, size - 1, *leaf);
    for p in proof {
        if fnode & 1 == 1 || fnode == snode {
            r = merkle_node(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = merkle_node(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    debug_assert_eq!(snode, 0);
    Ok(r)
}

/// Checks that `leaf` is leaf number `index` (0-based) of the tree of `size` leaves with `root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    let computed = root_from_inclusion(index, size, leaf, proof)?;
    if computed == *root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch { computed })
    }
}

/// Checks that the tree of `size1` leaves with `root1` is a prefix of the tree
/// of `size2` leaves with `root2` (RFC 9162, 2.1.4.2).
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    proof: &[Hash],
    root1: &Hash,
    root2: &Hash,
) -> Result<(), ProofError> {
    if size1 > size2 {
        return Err(ProofError::BadPosition(format!(
            "the old tree ({size1} leaves) is larger than the new one ({size2}): entries were removed"
        )));
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength {
                expected: 0,
                found: proof.len(),
            });
        }
        return if root1 == root2 {
            Ok(())
        } else {
            Err(ProofError::RootMismatch { computed: *root1 })
        };
    }
    if size1 == 0 {
        // Every tree extends the empty tree; the proof is empty.
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(ProofError::WrongLength {
                expected: 0,
                found: proof.len(),
            })
        };
    }
    let expected = consistency_proof_len(size1, size2);
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            expected,
            found: proof.len(),
        });
    }
    // When size1 is a power of two, the old root itself is the first node of the path.
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if size1.is_power_of_two() {
        path.push(*root1);
    }
    path.extend_from_slice(proof);
    let (mut fnode, mut snode) = (size1 - 1, size2 - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if snode == 0 {
            return Err(ProofError::WrongLength {
                expected,
                found: proof.len(),
            });
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = merkle_node(c, &fr);
            sr = merkle_node(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = merkle_node(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::WrongLength {
            expected,
            found: proof.len(),
        });
    }
    if fr != *root1 {
        return Err(ProofError::RootMismatch { computed: fr });
    }
    if sr != *root2 {
        return Err(ProofError::RootMismatch { computed: sr });
    }
    Ok(())
}

/// Number of hashes in a consistency proof from `size1` to `size2` leaves.
pub fn consistency_proof_len(size1: u64, size2: u64) -> usize {
    if size1 == 0 || size1 >= size2 {
        return 0;
    }
    // SUBPROOF of RFC 6962, counted instead of computed.
    fn count(m: u64, n: u64, complete: bool) -> usize {
        if m == n {
            return usize::from(!complete);
        }
        let k = split(n);
        if m <= k {
            count(m, k, complete) + 1
        } else {
            count(m - k, n - k, false) + 1
        }
    }
    count(size1, size2, true)
}

/// The largest power of two smaller than `n` (n ≥ 2): where RFC 6962 splits a tree.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// Where a tree that keeps only its upper levels ([`Tree::build`]) reads
/// the leaves of a lower subtree back: the archive's `leaf_hash` column, or
/// a sorted file of index leaves. A request never crosses a block of
/// `2^low` leaves aligned to a multiple of it, so a source that reads whole
/// blocks and keeps the last one serves a proof with one read.
pub trait LeafSource {
    type Error;
    /// The leaves `lo..hi` (`hi − lo ≤ 2^low`, in one aligned block).
    fn leaves(&self, lo: u64, hi: u64) -> Result<Vec<Hash>, Self::Error>;
}

/// Every leaf in memory ([`Tree::new`]): the tree never asks its source.
#[derive(Clone, Copy, Debug, Default)]
pub struct Resident;

impl LeafSource for Resident {
    type Error = std::convert::Infallible;
    fn leaves(&self, _: u64, _: u64) -> Result<Vec<Hash>, Self::Error> {
        Ok(Vec::new())
    }
}

/// A Merkle tree: the levels of perfect subtrees from height `low` up, so
/// that each proof costs O(log² n) hashing, and the leaves below read back
/// from its [`LeafSource`] when a proof needs them. [`Tree::new`] keeps
/// every level (about 2n hashes: 64 MB per million leaves); a tree built
/// with `low = 6` keeps n/32 hashes (1 byte per leaf) and reads at most 64
/// leaves per proof. The tree *root* alone needs only `chain::MerkleBuilder`.
#[derive(Clone, Debug)]
pub struct Tree<S = Resident> {
    /// The height of `levels[0]`.
    low: u32,
    /// `levels[h - low][i]` is the root of the perfect subtree of height h
    /// over leaves `i·2^h .. (i+1)·2^h`.
    levels: Vec<Vec<Hash>>,
    size: u64,
    /// The leaves after the last whole block of `2^low` (fewer than `2^low`).
    tail: Vec<Hash>,
    /// Roots of the ranges `lo..size` on the tree's right border that are not
    /// perfect subtrees (at most one per level), so that proofs in the full
    /// tree cost O(log n) lookups instead of recomputing them each time.
    border: std::collections::HashMap<u64, Hash>,
    source: S,
}

impl Tree {
    /// The tree over `leaves`, every level in memory.
    pub fn new(leaves: Vec<Hash>) -> Tree {
        let built = Tree::build(
            0,
            leaves.into_iter().map(Ok::<_, std::convert::Infallible>),
            Resident,
        );
        match built {
            Ok(t) => t,
            Err(never) => match never {},
        }
    }

    /// The inclusion proof of leaf `index` in the tree of the first `size`
    /// leaves (RFC 6962 PATH), or `None` if `index ≥ size` or `size` is larger than the tree.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Option<Vec<Hash>> {
        match self.try_inclusion_proof(index, size) {
            Ok(p) => p,
            Err(never) => match never {},
        }
    }

    /// The consistency proof from the tree of `size1` leaves to the tree of
    /// `size2` leaves (RFC 6962 PROOF), or `None` unless `size1 ≤ size2 ≤` the tree's size.
    pub fn consistency_proof(&self, size1: u64, size2: u64) -> Option<Vec<Hash>> {
        match self.try_consistency_proof(size1, size2) {
            Ok(p) => p,
            Err(never) => match never {},
        }
    }

    /// The range proof of leaves `lo..hi` (`lo < hi ≤` the tree's size).
    pub fn range_proof(&self, lo: u64, hi: u64) -> Option<Vec<Hash>> {
        match self.try_range_proof(lo, hi) {
            Ok(p) => p,
            Err(never) => match never {},
        }
    }

    /// The root of the whole tree.
    pub fn root(&self) -> Hash {
        match self.try_root() {
            Ok(r) => r,
            Err(never) => match never {},
        }
    }

    /// The root of the tree over the first `size` leaves (`size` ≤ the tree's size).
    pub fn root_at(&self, size: u64) -> Option<Hash> {
        match self.try_root_at(size) {
            Ok(p) => p,
            Err(never) => match never {},
        }
    }
}

impl<S: LeafSource> Tree<S> {
    /// Builds the tree in one pass over `leaves`, keeping the levels from
    /// height `low` up and the last `size mod 2^low` leaves; the other
    /// leaves are read back from `source` when a proof needs them, so
    /// `source` must give the same leaves as `leaves` did.
    pub fn build<E>(
        low: u32,
        leaves: impl IntoIterator<Item = Result<Hash, E>>,
        source: S,
    ) -> Result<Tree<S>, E> {
        let block = 1usize << low;
        let mut bottom = Vec::new();
        let mut tail = Vec::with_capacity(block);
        let mut size = 0u64;
        for leaf in leaves {
            tail.push(leaf?);
            size += 1;
            if tail.len() == block {
                bottom.push(mth(&tail));
                tail.clear();
            }
        }
        let mut levels = vec![bottom];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let below = levels.last().expect("a level");
            let up: Vec<Hash> = below
                .chunks_exact(2)
                .map(|p| merkle_node(&p[0], &p[1]))
                .collect();
            levels.push(up);
        }
        let mut tree = Tree {
            low,
            levels,
            size,
            tail,
            border: Default::default(),
            source,
        };
        // Bottom-up along the right border, so each root uses the one below
        // it. These ranges split into whole blocks and the tail, so no leaf
        // is read back.
        let n = size;
        let mut starts = Vec::new();
        let mut lo = 0;
        while n - lo > 1 && !((n - lo).is_power_of_two() && lo.is_multiple_of(n - lo)) {
            starts.push(lo);
            lo += split(n - lo);
        }
        let no_reads = |_, _| Err(());
        for lo in starts.into_iter().rev() {
            if let Ok(root) = tree.node(lo, n, &no_reads) {
                tree.border.insert(lo, root);
            }
        }
        Ok(tree)
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Where the tree reads its lower leaves back.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The same tree reading its lower leaves from `source` (which must
    /// give the same leaves): for a source made while the tree was built.
    pub fn with_source<T: LeafSource>(self, source: T) -> Tree<T> {
        Tree {
            low: self.low,
            levels: self.levels,
            size: self.size,
            tail: self.tail,
            border: self.border,
            source,
        }
    }

    /// Leaf `index`, or `None` outside the tree or when its source cannot
    /// read it.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        (index < self.size)
            .then(|| self.range_root(index, index + 1).ok())
            .flatten()
    }

    /// The root of the whole tree (read from the levels, the border and
    /// the tail: the source is not asked).
    pub fn try_root(&self) -> Result<Hash, S::Error> {
        self.range_root(0, self.size)
    }

    /// The root of the tree over the first `size` leaves, `None` when
    /// `size` is larger than the tree.
    pub fn try_root_at(&self, size: u64) -> Result<Option<Hash>, S::Error> {
        if size > self.size {
            return Ok(None);
        }
        self.range_root(0, size).map(Some)
    }

    /// MTH(D[lo:hi]) for a range that is a subtree of the RFC 6962 split
    /// (its start is aligned to the largest power of two not above its length).
    fn range_root(&self, lo: u64, hi: u64) -> Result<Hash, S::Error> {
        self.node(lo, hi, &|lo, hi| self.source.leaves(lo, hi))
    }

    /// [`Self::range_root`] with `read` for the leaves below the levels kept.
    fn node<E>(
        &self,
        lo: u64,
        hi: u64,
        read: &impl Fn(u64, u64) -> Result<Vec<Hash>, E>,
    ) -> Result<Hash, E> {
        let n = hi - lo;
        if n == 0 {
            return Ok(empty_root());
        }
        if n.is_power_of_two() && lo.is_multiple_of(n) {
            let h = n.trailing_zeros();
            if h >= self.low {
                return Ok(self.levels[(h - self.low) as usize][(lo >> h) as usize]);
            }
            let tail_start = self.size - self.tail.len() as u64;
            if lo >= tail_start {
                return Ok(mth(
                    &self.tail[(lo - tail_start) as usize..(hi - tail_start) as usize]
                ));
            }
            return Ok(mth(&read(lo, hi)?));
        }
        if hi == self.size
            && let Some(h) = self.border.get(&lo)
        {
            return Ok(*h);
        }
        let k = split(n);
        Ok(merkle_node(
            &self.node(lo, lo + k, read)?,
            &self.node(lo + k, hi, read)?,
        ))
    }

    /// [`Tree::inclusion_proof`], for a tree that reads leaves back.
    pub fn try_inclusion_proof(
        &self,
        index: u64,
        size: u64,
    ) -> Result<Option<Vec<Hash>>, S::Error> {
        if index >= size || size > self.size {
            return Ok(None);
        }
        let mut out = Vec::new();
        self.path(index, 0, size, &mut out)?;
        Ok(Some(out))
    }

    fn path(&self, m: u64, lo: u64, hi: u64, out: &mut Vec<Hash>) -> Result<(), S::Error> {
        let n = hi - lo;
        if n <= 1 {
            return Ok(());
        }
        let k = split(n);
        if m < k {
            self.path(m, lo, lo + k, out)?;
            out.push(self.range_root(lo + k, hi)?);
        } else {
            self.path(m - k, lo + k, hi, out)?;
            out.push(self.range_root(lo, lo + k)?);
        }
        Ok(())
    }

    /// [`Tree::consistency_proof`], for a tree that reads leaves back.
    pub fn try_consistency_proof(
        &self,
        size1: u64,
        size2: u64,
    ) -> Result<Option<Vec<Hash>>, S::Error> {
        if size1 > size2 || size2 > self.size {
            return Ok(None);
        }
        let mut out = Vec::new();
        if size1 > 0 && size1 < size2 {
            self.subproof(size1, 0, size2, true, &mut out)?;
        }
        Ok(Some(out))
    }

    fn subproof(
        &self,
        m: u64,
        lo: u64,
        hi: u64,
        complete: bool,
        out: &mut Vec<Hash>,
    ) -> Result<(), S::Error> {
        let n = hi - lo;
        if m == n {
            if !complete {
                out.push(self.range_root(lo, hi)?);
            }
            return Ok(());
        }
        let k = split(n);
        if m <= k {
            self.subproof(m, lo, lo + k, complete, out)?;
            out.push(self.range_root(lo + k, hi)?);
        } else {
            self.subproof(m - k, lo + k, hi, false, out)?;
            out.push(self.range_root(lo, lo + k)?);
        }
        Ok(())
    }
}

/// A range proof (docs/FORMAT.md §14): the hashes that, with the leaves
/// `lo..hi` of a tree of `size` leaves, give its root. `RANGE(lo, hi, D[a:b])`
/// is empty when `a..b` lies inside `lo..hi`, `MTH(D[a:b])` when it lies
/// outside, and otherwise `RANGE(.., D[a:a+k]) ‖ RANGE(.., D[a+k:b])` with `k`
/// the RFC 6962 split. One proof for a run of leaves costs at most about
/// 2·log₂(size) hashes, where one inclusion proof per leaf would cost that for each.
impl<S: LeafSource> Tree<S> {
    /// [`Tree::range_proof`], for a tree that reads leaves back.
    pub fn try_range_proof(&self, lo: u64, hi: u64) -> Result<Option<Vec<Hash>>, S::Error> {
        if lo >= hi || hi > self.size {
            return Ok(None);
        }
        let mut out = Vec::new();
        self.range_path(lo, hi, 0, self.size, &mut out)?;
        Ok(Some(out))
    }

    fn range_path(
        &self,
        lo: u64,
        hi: u64,
        a: u64,
        b: u64,
        out: &mut Vec<Hash>,
    ) -> Result<(), S::Error> {
        if hi <= a || lo >= b {
            out.push(self.range_root(a, b)?);
        } else if lo <= a && b <= hi {
        } else {
            let k = split(b - a);
            self.range_path(lo, hi, a, a + k, out)?;
            self.range_path(lo, hi, a + k, b, out)?;
        }
        Ok(())
    }
}

/// The root that the leaves `run` at positions `lo..lo + run.len()` of a
/// tree of `size` leaves and their range proof lead to.
pub fn root_from_range(
    size: u64,
    lo: u64,
    run: &[Hash],
    proof: &[Hash],
) -> Result<Hash, ProofError> {
    let hi = lo + run.len() as u64;
    if run.is_empty() || hi > size {
        return Err(ProofError::BadPosition(format!(
            "leaves {lo}..{hi} are not a non-empty run of a tree of {size} leaves"
        )));
    }
    let mut next = proof.iter();
    let mut used = 0usize;
    let root = range_root_of(lo, hi, 0, size, run, &mut next, &mut used);
    match root {
        Some(r) if used == proof.len() => Ok(r),
        _ => Err(ProofError::WrongLength {
            expected: range_proof_len(lo, hi, 0, size),
            found: proof.len(),
        }),
    }
}

fn range_root_of<'a>(
    lo: u64,
    hi: u64,
    a: u64,
    b: u64,
    run: &[Hash],
    next: &mut impl Iterator<Item = &'a Hash>,
    used: &mut usize,
) -> Option<Hash> {
    if hi <= a || lo >= b {
        *used += 1;
        next.next().copied()
    } else if lo <= a && b <= hi {
        Some(mth(&run[(a - lo) as usize..(b - lo) as usize]))
    } else {
        let k = split(b - a);
        let l = range_root_of(lo, hi, a, a + k, run, next, used)?;
        let r = range_root_of(lo, hi, a + k, b, run, next, used)?;
        Some(merkle_node(&l, &r))
    }
}

fn range_proof_len(lo: u64, hi: u64, a: u64, b: u64) -> usize {
    if hi <= a || lo >= b {
        1
    } else if lo <= a && b <= hi {
        0
    } else {
        let k = split(b - a);
        range_proof_len(lo, hi, a, a + k) + range_proof_len(lo, hi, a + k, b)
    }
}

/// MTH over leaf hashes (RFC 6962), computed recursively.
pub fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n as u64) as usize;
            merkle_node(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

#[cfg(test)]
mod tests {
    //! Known answers from transparency-dev/merkle (testonly/constants.go and
    //! proof/verify_test.go): the RFC 6962 roots of trees over the eight leaf
    //! inputs "", 00, 10, 2021, 3031, 40414243, 5051525354555657,
    //! 606162636465666768696a6b6c6d6e6f, and proofs over those trees. The
    //! tamper variants follow that file's corruptInclusionProof and
    //! corruptConsistencyProof: every one must fail. (A proof does not pin
    //! the tree size by itself: some proofs for size n also fit n + 1 with the
    //! same root. The size is bound to the root by the checkpoint and its
    //! signature, so "size + 1" is not a proof-level tamper variant.)

    use super::*;
    use crate::chain::MerkleBuilder;
    use sha2::{Digest, Sha256};

    const LEAF_INPUTS: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];

    /// RFC 6962 roots for sizes 0..=8.
    const ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    /// (leaf number, 1-based as in the source; tree size; proof).
    const INCLUSION: [(u64, u64, &[&str]); 5] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            3,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            2,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];

    const CONSISTENCY: [(u64, u64, &[&str]); 5] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            6,
            7,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];

    /// `abacaba…` from the source: a hash that is no node of these trees.
    const SOME_HASH: &str = "abacaba000000000000000000000000000000000000000000060061e00123456";

    fn h(s: &str) -> Hash {
        Hash::from_hex(s).unwrap()
    }

    fn hs(v: &[&str]) -> Vec<Hash> {
        v.iter().map(|s| h(s)).collect()
    }

    /// RFC 6962 leaf hash of raw data (auditlens's own leaves carry more context).
    fn rfc_leaf(data_hex: &str) -> Hash {
        let mut d = Sha256::new();
        d.update([0u8]);
        d.update(crate::chain::from_hex(data_hex).unwrap());
        Hash(d.finalize().into())
    }

    fn leaves() -> Vec<Hash> {
        LEAF_INPUTS.iter().map(|d| rfc_leaf(d)).collect()
    }

    /// (description, index or size1, size or size2, root or root1, leaf or root2, proof).
    type Probe = (&'static str, u64, u64, Hash, Hash, Vec<Hash>);

    fn flip(p: &[Hash], i: usize, mask: u8) -> Vec<Hash> {
        let mut v = p.to_vec();
        v[i].0[0] ^= mask;
        v
    }

    #[test]
    fn roots_of_0_to_8_leaves_match_known_answers() {
        let l = leaves();
        let tree = Tree::new(l.clone());
        for (n, want) in ROOTS.iter().enumerate() {
            let mut b = MerkleBuilder::new();
            l[..n].iter().for_each(|x| b.push(*x));
            assert_eq!(b.root(), h(want), "builder, size {n}");
            assert_eq!(tree.root_at(n as u64), Some(h(want)), "tree, size {n}");
            assert_eq!(Tree::new(l[..n].to_vec()).root(), h(want), "size {n}");
        }
    }

    #[test]
    fn inclusion_proofs_match_known_answers_and_verify() {
        let tree = Tree::new(leaves());
        for (leaf, size, proof) in INCLUSION {
            let proof = hs(proof);
            let index = leaf - 1;
            assert_eq!(tree.inclusion_proof(index, size), Some(proof.clone()));
            let root = h(ROOTS[size as usize]);
            let leaf_hash = tree.leaf(index).unwrap();
            verify_inclusion(index, size, &leaf_hash, &proof, &root).unwrap();
        }
    }

    #[test]
    fn consistency_proofs_match_known_answers_and_verify() {
        let tree = Tree::new(leaves());
        for (s1, s2, proof) in CONSISTENCY {
            let proof = hs(proof);
            assert_eq!(tree.consistency_proof(s1, s2), Some(proof.clone()));
            assert_eq!(consistency_proof_len(s1, s2), proof.len());
            verify_consistency(
                s1,
                s2,
                &proof,
                &h(ROOTS[s1 as usize]),
                &h(ROOTS[s2 as usize]),
            )
            .unwrap();
        }
    }

    /// Every index of every size up to 8, and every pair of sizes, round trip.
    #[test]
    fn all_generated_proofs_verify() {
        let tree = Tree::new(leaves());
        for size in 1..=8u64 {
            let root = h(ROOTS[size as usize]);
            for index in 0..size {
                let p = tree.inclusion_proof(index, size).unwrap();
                assert_eq!(p.len(), inclusion_proof_len(index, size));
                verify_inclusion(index, size, &tree.leaf(index).unwrap(), &p, &root).unwrap();
            }
            for s1 in 0..=size {
                let p = tree.consistency_proof(s1, size).unwrap();
                verify_consistency(s1, size, &p, &h(ROOTS[s1 as usize]), &root)
                    .unwrap_or_else(|e| panic!("{s1} → {size}: {e}"));
            }
        }
        assert_eq!(tree.inclusion_proof(8, 8), None);
        assert_eq!(tree.inclusion_proof(0, 9), None);
        assert_eq!(tree.consistency_proof(5, 4), None);
    }

    #[test]
    fn every_tampered_inclusion_proof_fails() {
        let tree = Tree::new(leaves());
        let some = h(SOME_HASH);
        let empty = h(ROOTS[0]);
        let mut checked = 0;
        for (leaf, size, proof) in INCLUSION {
            let proof = hs(proof);
            let index = leaf - 1;
            let root = h(ROOTS[size as usize]);
            let lh = tree.leaf(index).unwrap();
            let mut probes: Vec<Probe> = vec![
                (
                    "index - 1",
                    index.wrapping_sub(1),
                    size,
                    root,
                    lh,
                    proof.clone(),
                ),
                ("index + 1", index + 1, size, root, lh, proof.clone()),
                ("index ^ 2", index ^ 2, size, root, lh, proof.clone()),
                ("size * 2", index, size * 2, root, lh, proof.clone()),
                ("size / 2", index, size / 2, root, lh, proof.clone()),
                ("wrong leaf", index, size, root, some, proof.clone()),
                ("empty root", index, size, empty, lh, proof.clone()),
                ("random root", index, size, some, lh, proof.clone()),
                (
                    "trailing garbage",
                    index,
                    size,
                    root,
                    lh,
                    [&proof[..], &[Hash::default()]].concat(),
                ),
                (
                    "trailing root",
                    index,
                    size,
                    root,
                    lh,
                    [&proof[..], &[root]].concat(),
                ),
                (
                    "preceding garbage",
                    index,
                    size,
                    root,
                    lh,
                    [&[Hash::default()], &proof[..]].concat(),
                ),
                (
                    "preceding root",
                    index,
                    size,
                    root,
                    lh,
                    [&[root], &proof[..]].concat(),
                ),
            ];
            for i in 0..proof.len() {
                probes.push((
                    "flipped bit 3 in a proof hash",
                    index,
                    size,
                    root,
                    lh,
                    flip(&proof, i, 8),
                ));
                for bit in 0..8 {
                    probes.push(("flipped bit in last byte", index, size, root, lh, {
                        let mut v = proof.clone();
                        v[i].0[31] ^= 1 << bit;
                        v
                    }));
                }
            }
            if !proof.is_empty() {
                probes.push((
                    "removed component",
                    index,
                    size,
                    root,
                    lh,
                    proof[..proof.len() - 1].to_vec(),
                ));
            }
            if proof.len() > 1 {
                let mut v = vec![proof[0], some];
                v.extend_from_slice(&proof[1..]);
                probes.push(("inserted component", index, size, root, lh, v));
            }
            for (desc, i, s, r, l, p) in probes {
                assert!(
                    verify_inclusion(i, s, &l, &p, &r).is_err(),
                    "{desc} verified (leaf {leaf}, size {size})"
                );
                checked += 1;
            }
        }
        assert!(checked > 100);
    }

    #[test]
    fn every_tampered_consistency_proof_fails() {
        let some = h(SOME_HASH);
        let mut checked = 0;
        for (s1, s2, proof) in CONSISTENCY {
            let proof = hs(proof);
            if proof.is_empty() {
                continue;
            }
            let (r1, r2) = (h(ROOTS[s1 as usize]), h(ROOTS[s2 as usize]));
            let mut probes: Vec<Probe> = vec![
                ("size1 - 1", s1 - 1, s2, r1, r2, proof.clone()),
                ("size1 + 1", s1 + 1, s2, r1, r2, proof.clone()),
                ("size1 ^ 2", s1 ^ 2, s2, r1, r2, proof.clone()),
                ("size2 * 2", s1, s2 * 2, r1, r2, proof.clone()),
                ("size2 / 2", s1, s2 / 2, r1, r2, proof.clone()),
                ("wrong root1", s1, s2, some, r2, proof.clone()),
                ("wrong root2", s1, s2, r1, some, proof.clone()),
                ("swapped roots", s1, s2, r2, r1, proof.clone()),
                ("empty proof", s1, s2, r1, r2, vec![]),
                (
                    "trailing garbage",
                    s1,
                    s2,
                    r1,
                    r2,
                    [&proof[..], &[Hash::default()]].concat(),
                ),
                (
                    "trailing root1",
                    s1,
                    s2,
                    r1,
                    r2,
                    [&proof[..], &[r1]].concat(),
                ),
                (
                    "trailing root2",
                    s1,
                    s2,
                    r1,
                    r2,
                    [&proof[..], &[r2]].concat(),
                ),
                (
                    "preceding garbage",
                    s1,
                    s2,
                    r1,
                    r2,
                    [&[Hash::default()], &proof[..]].concat(),
                ),
                (
                    "preceding root1",
                    s1,
                    s2,
                    r1,
                    r2,
                    [&[r1], &proof[..]].concat(),
                ),
                (
                    "preceding root2",
                    s1,
                    s2,
                    r1,
                    r2,
                    [&[r2], &proof[..]].concat(),
                ),
                (
                    "preceding proof[0]",
                    s1,
                    s2,
                    r1,
                    r2,
                    [&[proof[0]], &proof[..]].concat(),
                ),
                (
                    "truncated proof",
                    s1,
                    s2,
                    r1,
                    r2,
                    proof[..proof.len() - 1].to_vec(),
                ),
                ("reversed sizes", s2, s1, r2, r1, proof.clone()),
            ];
            for i in 0..proof.len() {
                probes.push((
                    "flipped bit 4 in a proof hash",
                    s1,
                    s2,
                    r1,
                    r2,
                    flip(&proof, i, 16),
                ));
                for byte in [0usize, 13, 31] {
                    let mut v = proof.clone();
                    v[i].0[byte] ^= 0x80;
                    probes.push(("flipped high bit", s1, s2, r1, r2, v));
                }
            }
            for (desc, a, b, x, y, p) in probes {
                assert!(
                    verify_consistency(a, b, &p, &x, &y).is_err(),
                    "{desc} verified ({s1} → {s2})"
                );
                checked += 1;
            }
        }
        assert!(checked > 80);
    }

    /// The edge cases of transparency-dev's TestVerifyConsistency.
    #[test]
    fn consistency_edge_cases() {
        let (a, b) = (Hash([1; 32]), Hash([2; 32]));
        let empty = empty_root();
        assert!(verify_consistency(0, 0, &[], &a, &b).is_err());
        assert!(verify_consistency(1, 1, &[], &a, &b).is_err());
        assert!(verify_consistency(0, 0, &[], &a, &a).is_ok());
        assert!(verify_consistency(0, 1, &[], &a, &b).is_ok());
        assert!(verify_consistency(1, 1, &[], &b, &b).is_ok());
        assert!(verify_consistency(1, 0, &[], &a, &b).is_err());
        assert!(verify_consistency(2, 1, &[], &a, &b).is_err());
        assert!(verify_consistency(1, 2, &[], &a, &b).is_err());
        assert!(verify_consistency(0, 0, &[empty], &empty, &empty).is_err());
        assert!(verify_consistency(0, 1, &[empty], &empty, &empty).is_err());
        assert!(verify_consistency(1, 1, &[empty], &empty, &empty).is_err());
    }

    /// transparency-dev's TestVerifyInclusion edge cases and the single-entry tree.
    #[test]
    fn inclusion_edge_cases() {
        let some = h(SOME_HASH);
        let empty = empty_root();
        for (i, s) in [(0, 0), (0, 1), (1, 0), (2, 1)] {
            assert!(
                verify_inclusion(i, s, &some, &[], &empty).is_err(),
                "{i} {s}"
            );
        }
        let one = rfc_leaf("64617461");
        assert!(verify_inclusion(0, 1, &one, &[], &one).is_ok());
        assert!(verify_inclusion(0, 1, &one, &[], &some).is_err());
        assert!(verify_inclusion(0, 1, &some, &[], &one).is_err());
        assert!(verify_inclusion(u64::MAX, u64::MAX, &one, &[], &one).is_err());
        assert!(verify_consistency(u64::MAX - 1, u64::MAX, &[one], &one, &one).is_err());
    }

    /// Larger trees: proofs from the in-memory tree verify against the
    /// incremental builder's root, for every index and many size pairs.
    #[test]
    fn proofs_agree_with_the_incremental_root_up_to_70_leaves() {
        let l: Vec<Hash> = (0..70u32)
            .map(|i| rfc_leaf(&crate::chain::to_hex(&i.to_be_bytes())))
            .collect();
        let tree = Tree::new(l.clone());
        let mut roots = vec![empty_root()];
        let mut b = MerkleBuilder::new();
        for x in &l {
            b.push(*x);
            roots.push(b.root());
        }
        for size in 1..=70u64 {
            assert_eq!(tree.root_at(size), Some(roots[size as usize]));
            for index in 0..size {
                let p = tree.inclusion_proof(index, size).unwrap();
                verify_inclusion(index, size, &l[index as usize], &p, &roots[size as usize])
                    .unwrap();
                if index + 1 < size {
                    assert!(
                        verify_inclusion(
                            index + 1,
                            size,
                            &l[index as usize],
                            &p,
                            &roots[size as usize]
                        )
                        .is_err()
                    );
                }
            }
            for s1 in (0..=size).step_by(3) {
                let p = tree.consistency_proof(s1, size).unwrap();
                assert_eq!(p.len(), consistency_proof_len(s1, size));
                verify_consistency(s1, size, &p, &roots[s1 as usize], &roots[size as usize])
                    .unwrap();
                if s1 > 0 && s1 < size {
                    assert!(
                        verify_consistency(
                            s1,
                            size,
                            &p,
                            &roots[s1 as usize - 1],
                            &roots[size as usize]
                        )
                        .is_err()
                    );
                }
            }
        }
    }
    /// Every run of every tree up to 20 leaves: the range proof leads to the
    /// root, and a changed leaf, a dropped or extra hash, or a shifted
    /// position does not.
    /// Leaves read back from a vector, counting the reads, refusing a
    /// request that crosses an aligned block (the trait's promise).
    struct Counted {
        leaves: Vec<Hash>,
        low: u32,
        reads: std::cell::Cell<usize>,
    }

    impl LeafSource for Counted {
        type Error = String;
        fn leaves(&self, lo: u64, hi: u64) -> Result<Vec<Hash>, String> {
            self.reads.set(self.reads.get() + 1);
            if lo >> self.low != (hi - 1) >> self.low || hi - lo > 1 << self.low {
                return Err(format!("{lo}..{hi} crosses a block"));
            }
            Ok(self.leaves[lo as usize..hi as usize].to_vec())
        }
    }

    /// A tree that keeps only its upper levels gives the very proofs of the
    /// whole tree, for every size, index and lowest level kept; its root
    /// reads no leaf back, and a proof reads within one block.
    #[test]
    fn a_tree_without_its_lower_levels_gives_the_same_proofs() {
        let l: Vec<Hash> = (0..70u32)
            .map(|i| rfc_leaf(&crate::chain::to_hex(&i.to_be_bytes())))
            .collect();
        for n in [0usize, 1, 2, 3, 7, 8, 9, 31, 32, 33, 64, 65, 70] {
            let whole = Tree::new(l[..n].to_vec());
            for low in [1u32, 2, 3, 5] {
                let source = Counted {
                    leaves: l[..n].to_vec(),
                    low,
                    reads: Default::default(),
                };
                let sparse =
                    Tree::build(low, l[..n].iter().map(|h| Ok::<_, String>(*h)), source).unwrap();
                assert_eq!(sparse.try_root(), Ok(whole.root()), "n {n} low {low}");
                assert_eq!(sparse.source.reads.get(), 0, "the root reads nothing back");
                let n = n as u64;
                for size in 0..=n {
                    assert_eq!(sparse.try_root_at(size), Ok(whole.root_at(size)));
                    for i in 0..=size {
                        assert_eq!(
                            sparse.try_inclusion_proof(i, size),
                            Ok(whole.inclusion_proof(i, size)),
                            "n {n} low {low} index {i} size {size}"
                        );
                        assert_eq!(
                            sparse.try_consistency_proof(i, size),
                            Ok(whole.consistency_proof(i, size))
                        );
                    }
                }
                for lo in 0..n {
                    for hi in lo + 1..=n {
                        assert_eq!(
                            sparse.try_range_proof(lo, hi),
                            Ok(whole.range_proof(lo, hi))
                        );
                    }
                }
                assert_eq!(
                    sparse.leaf(n.saturating_sub(1)),
                    whole.leaf(n.saturating_sub(1))
                );
            }
        }
    }

    #[test]
    fn range_proofs_lead_to_the_root_and_only_there() {
        for n in 1..=20u64 {
            let leaves: Vec<Hash> = (0..n).map(|i| Hash([i as u8 + 1; 32])).collect();
            let tree = Tree::new(leaves.clone());
            for lo in 0..n {
                for hi in lo + 1..=n {
                    let p = tree.range_proof(lo, hi).unwrap();
                    let run = &leaves[lo as usize..hi as usize];
                    assert_eq!(
                        root_from_range(n, lo, run, &p),
                        Ok(tree.root()),
                        "{n} {lo}..{hi}"
                    );
                    let mut bad = run.to_vec();
                    bad[0] = Hash([0xee; 32]);
                    assert_ne!(root_from_range(n, lo, &bad, &p), Ok(tree.root()));
                    let mut longer = p.clone();
                    longer.push(Hash([0; 32]));
                    assert!(root_from_range(n, lo, run, &longer).is_err());
                    if !p.is_empty() {
                        assert!(root_from_range(n, lo, run, &p[1..]).is_err());
                    }
                    if hi < n {
                        assert_ne!(root_from_range(n, lo + 1, run, &p), Ok(tree.root()));
                    }
                }
            }
        }
    }
}
