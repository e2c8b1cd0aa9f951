//! Index trees: Merkle trees over the archive's entries sorted by the keys
//! users filter on (docs/FORMAT.md §14).
//!
//! The log tree (§4) proves that an entry is in the archive; it cannot prove
//! that an export left nothing out, because a filter's matches are scattered
//! over the seq order. Sorted by (key, time, seq), the matches of a filter
//! such as "action = delete between t1 and t2" are one contiguous run of
//! leaves, and a run with its two neighbours just outside it (or the tree's
//! edge) proves that no other leaf lies in the range: a verifiable
//! log-backed map in the manner of Crosby and Wallach's authenticated
//! dictionaries. The checkpoint carries each index's root (§5), so the
//! signature covers them, and `verify ARCHIVE --checkpoint C` rebuilds them
//! from the records, so a signer who lied in an index is caught by anyone
//! holding the archive.

use std::cell::RefCell;
use std::io::{self, BufWriter, Write};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::chain::{Hash, MerkleBuilder};
use crate::external_sort::{ExternalSort, RunReader, Spill};
use crate::merkle::{LeafSource, Resident, Tree};
use crate::record_view::RecordView;

/// The indexes, in the order their lines appear in a checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IndexKind {
    /// (time, seq): every entry, no key.
    Time,
    /// (action, time, seq).
    Action,
    /// (actor, time, seq): the user id, or the API key id for API keys.
    Actor,
    /// (resource type, time, seq), by internal name.
    ResourceType,
    /// (project id, time, seq); org-level entries have no project.
    Project,
}

pub const INDEXES: [IndexKind; 5] = [
    IndexKind::Time,
    IndexKind::Action,
    IndexKind::Actor,
    IndexKind::ResourceType,
    IndexKind::Project,
];

impl IndexKind {
    /// The name in checkpoints, proofs and the leaf's domain tag.
    pub fn name(self) -> &'static str {
        match self {
            IndexKind::Time => "time",
            IndexKind::Action => "action",
            IndexKind::Actor => "actor",
            IndexKind::ResourceType => "resource_type",
            IndexKind::Project => "project",
        }
    }

    pub fn from_name(s: &str) -> Option<IndexKind> {
        INDEXES.into_iter().find(|k| k.name() == s)
    }

    /// The words for people: "action", "resource type", …
    pub fn label(self) -> &'static str {
        match self {
            IndexKind::ResourceType => "resource type",
            k => k.name(),
        }
    }

    fn slot(self) -> usize {
        self as usize
    }

    /// The entry's key in this index (`None`: no key, which sorts first).
    pub fn key_of<'a>(self, v: &'a RecordView<'_>) -> Option<&'a str> {
        match self {
            IndexKind::Time => None,
            IndexKind::Action => Some(&v.action),
            IndexKind::Actor => v.actor.key(),
            IndexKind::ResourceType => Some(&v.resource_type),
            IndexKind::Project => v.project_id.as_deref(),
        }
    }
}

/// The time as 8 bytes whose order is the order of the times (the sign bit flipped).
fn time_bytes(time_ms: i64) -> [u8; 8] {
    ((time_ms as u64) ^ (1 << 63)).to_be_bytes()
}

/// The leaf of an index tree (§14):
/// `SHA-256(0x00 ‖ "auditlens-v1 index " ‖ name ‖ "\n" ‖ key ‖ time ‖ u64be(seq) ‖ leaf_hash)`
/// with `key` = `0x00` when absent, `0x01 ‖ u32be(len) ‖ bytes` when present,
/// and `time` = `u64be(time_ms + 2^63)`.
pub fn index_leaf(kind: IndexKind, key: Option<&str>, time_ms: i64, seq: u64, leaf: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(b"auditlens-v1 index ");
    h.update(kind.name().as_bytes());
    h.update(b"\n");
    match key {
        None => h.update([0x00]),
        Some(k) => {
            h.update([0x01]);
            h.update((k.len() as u32).to_be_bytes());
            h.update(k.as_bytes());
        }
    }
    h.update(time_bytes(time_ms));
    h.update(seq.to_be_bytes());
    h.update(leaf.0);
    Hash(h.finalize().into())
}

/// The roots of the five index trees, in [`INDEXES`] order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexRoots(pub [Hash; 5]);

impl IndexRoots {
    pub fn get(&self, kind: IndexKind) -> Hash {
        self.0[kind.slot()]
    }
}

/// Entries each index sort holds in memory before it spills a sorted run
/// (about 100 bytes each with its key: five sorts of 64k entries are about
/// 35 MB, whatever the archive's size).
const RUN_LEN: usize = 1 << 16;

/// The lowest level a kept index tree holds in memory: n/128 hashes; a
/// range proof reads back one block of 256 sorted entries per edge.
const KEPT_TREE_LOW: u32 = 8;

/// One entry as an index sorts it: by key (absent first, then by bytes),
/// time, seq; with its log leaf hash, from which its index leaf is made.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Sortable {
    key: Option<Box<str>>,
    time_ms: i64,
    seq: u64,
    leaf: Hash,
}

impl Sortable {
    fn index_leaf(&self, kind: IndexKind) -> Hash {
        index_leaf(
            kind,
            self.key.as_deref(),
            self.time_ms,
            self.seq,
            &self.leaf,
        )
    }

    fn sort_key(&self) -> (Option<&str>, i64, u64) {
        (self.key.as_deref(), self.time_ms, self.seq)
    }
}

impl Spill for Sortable {
    fn encode(&self, out: &mut Vec<u8>) {
        match &self.key {
            None => out.push(0),
            Some(k) => {
                out.push(1);
                out.extend_from_slice(&(k.len() as u32).to_le_bytes());
                out.extend_from_slice(k.as_bytes());
            }
        }
        out.extend_from_slice(&self.time_ms.to_le_bytes());
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.leaf.0);
    }

    fn decode(r: &mut RunReader) -> io::Result<Option<Sortable>> {
        let mut tag = [0u8; 1];
        if !r.take(&mut tag)? {
            return Ok(None);
        }
        let key = match tag[0] {
            0 => None,
            1 => {
                let mut len = [0u8; 4];
                r.take_all(&mut len)?;
                let mut k = vec![0u8; u32::from_le_bytes(len) as usize];
                r.take_all(&mut k)?;
                let k = String::from_utf8(k)
                    .map_err(|_| io::Error::other("a sorted index key is not UTF-8"))?;
                Some(k.into_boxed_str())
            }
            _ => return Err(io::Error::other("a sorted index record is damaged")),
        };
        let mut fixed = [0u8; 48];
        r.take_all(&mut fixed)?;
        let word = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&fixed[at..at + 8]);
            b
        };
        let mut leaf = [0u8; 32];
        leaf.copy_from_slice(&fixed[16..]);
        Ok(Some(Sortable {
            key,
            time_ms: i64::from_le_bytes(word(0)),
            seq: u64::from_le_bytes(word(8)),
            leaf: Hash(leaf),
        }))
    }
}

/// Makes the index trees of an archive's entries, fed in seq order from 1
/// ([`IndexBuilder::push`]), in bounded memory: each index is an
/// [`ExternalSort`] whose runs spill to the temporary folder.
pub struct IndexBuilder {
    sorts: [ExternalSort<Sortable>; 5],
    size: u64,
}

impl Default for IndexBuilder {
    fn default() -> Self {
        IndexBuilder::with_run_len(RUN_LEN)
    }
}

impl IndexBuilder {
    fn with_run_len(run_len: usize) -> IndexBuilder {
        IndexBuilder {
            sorts: INDEXES.map(|_| ExternalSort::new(run_len, None)),
            size: 0,
        }
    }

    /// Adds the entry at the next seq (1, 2, …) with its leaf hash.
    pub fn push(&mut self, leaf: Hash, v: &RecordView<'_>) -> io::Result<()> {
        self.size += 1;
        for kind in INDEXES {
            self.sorts[kind.slot()].push(Sortable {
                key: kind.key_of(v).map(Box::from),
                time_ms: v.time.0,
                seq: self.size,
                leaf,
            })?;
        }
        Ok(())
    }

    /// Number of entries pushed.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Sorts each index and makes its root; the indexes in `keep` are also
    /// written out in their order (to a temporary file) with the upper
    /// levels of their tree, for [`IndexSet::range`] and range proofs.
    pub fn finish(self, keep: &[IndexKind]) -> io::Result<IndexSet> {
        let mut roots = [Hash::default(); 5];
        let mut kept = Vec::new();
        for (kind, sort) in INDEXES.into_iter().zip(self.sorts) {
            let sorted = sort.finish()?;
            if !keep.contains(&kind) {
                let mut b = MerkleBuilder::new();
                for r in sorted {
                    b.push(r?.index_leaf(kind));
                }
                roots[kind.slot()] = b.root();
                continue;
            }
            let file = crate::external_sort::temp_file(None)?;
            let mut w = BufWriter::with_capacity(1 << 20, file.try_clone()?);
            let (mut written, mut count) = (0u64, 0u64);
            let mut offsets = Vec::new();
            let mut bytes = Vec::new();
            let leaves = sorted.map(|r| {
                let r = r?;
                if count.is_multiple_of(1 << KEPT_TREE_LOW) {
                    offsets.push(written);
                }
                bytes.clear();
                r.encode(&mut bytes);
                w.write_all(&bytes)?;
                written += bytes.len() as u64;
                count += 1;
                Ok::<_, io::Error>(r.index_leaf(kind))
            });
            let tree = Tree::build(KEPT_TREE_LOW, leaves, Resident)?;
            w.flush()?;
            drop(w);
            offsets.push(written);
            roots[kind.slot()] = tree.try_root().unwrap_or_else(|never| match never {});
            let source = SortedLeaves {
                kind,
                file: Arc::new(file),
                offsets,
                block: Default::default(),
            };
            kept.push((kind, tree.with_source(source)));
        }
        Ok(IndexSet {
            size: self.size,
            roots: IndexRoots(roots),
            kept,
            failure: Default::default(),
        })
    }
}

/// One kept index in its order, in a temporary file, read back a block of
/// `2^KEPT_TREE_LOW` entries at a time (the last block kept).
pub struct SortedLeaves {
    kind: IndexKind,
    file: Arc<std::fs::File>,
    /// Where each block starts in the file, and its end.
    offsets: Vec<u64>,
    block: RefCell<Option<(u64, Vec<Sortable>)>>,
}

impl SortedLeaves {
    /// Calls `f` with entry `i` of the index's order.
    fn with<R>(&self, i: u64, f: impl FnOnce(&Sortable) -> R) -> io::Result<R> {
        let b = i >> KEPT_TREE_LOW;
        let mut cache = self.block.borrow_mut();
        if cache.as_ref().is_none_or(|(at, _)| *at != b) {
            let (Some(&start), Some(&end)) = (
                self.offsets.get(b as usize),
                self.offsets.get(b as usize + 1),
            ) else {
                return Err(io::Error::other(format!(
                    "entry {i} is outside the sorted index"
                )));
            };
            let mut r = RunReader::new(self.file.clone(), start, end);
            let mut block = Vec::with_capacity(1 << KEPT_TREE_LOW);
            while let Some(s) = Sortable::decode(&mut r)? {
                block.push(s);
            }
            *cache = Some((b, block));
        }
        let block = cache
            .as_ref()
            .map(|(_, v)| v.as_slice())
            .unwrap_or_default();
        let at = (i - (b << KEPT_TREE_LOW)) as usize;
        block
            .get(at)
            .map(f)
            .ok_or_else(|| io::Error::other(format!("entry {i} is outside the sorted index")))
    }
}

impl LeafSource for SortedLeaves {
    type Error = io::Error;

    fn leaves(&self, lo: u64, hi: u64) -> io::Result<Vec<Hash>> {
        (lo..hi)
            .map(|i| self.with(i, |s| s.index_leaf(self.kind)))
            .collect()
    }
}

/// The index trees of an archive's first `size` entries: the five roots,
/// and for the indexes kept when it was made ([`IndexBuilder::finish`]),
/// their order (ranges, leaves, seqs) and range proofs.
///
/// The accessors of a kept index read a temporary file; should a read fail
/// (or an index not kept be asked for), they give an empty answer and the
/// error is kept for [`IndexSet::failure`], which the export checks before
/// it writes a completeness proof from those answers.
pub struct IndexSet {
    size: u64,
    roots: IndexRoots,
    kept: Vec<(IndexKind, Tree<SortedLeaves>)>,
    failure: RefCell<Option<String>>,
}

impl IndexSet {
    /// Number of entries indexed.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The roots of every index tree.
    pub fn roots(&self) -> IndexRoots {
        self.roots
    }

    /// Why an answer of this set was empty: a read of a kept index failed,
    /// or an index not kept was asked for.
    pub fn failure(&self) -> Option<String> {
        self.failure.borrow().clone()
    }

    fn fail(&self, why: String) {
        self.failure.borrow_mut().get_or_insert(why);
    }

    fn kept(&self, kind: IndexKind) -> Option<&Tree<SortedLeaves>> {
        let tree = self.kept.iter().find(|(k, _)| *k == kind).map(|(_, t)| t);
        if tree.is_none() {
            self.fail(format!("the {} index was not kept", kind.name()));
        }
        tree
    }

    fn read<R>(&self, kind: IndexKind, i: u64, f: impl FnOnce(&Sortable) -> R) -> Option<R> {
        match self.kept(kind)?.source().with(i, f) {
            Ok(r) => Some(r),
            Err(e) => {
                self.fail(format!(
                    "cannot read the sorted {} index back: {e}",
                    kind.name()
                ));
                None
            }
        }
    }

    /// The leaf at position `i` of `kind`'s tree.
    pub fn leaf(&self, kind: IndexKind, i: u64) -> IndexLeaf {
        self.read(kind, i, |s| IndexLeaf {
            key: s.key.as_deref().map(str::to_string),
            time_ms: s.time_ms,
            seq: s.seq,
            leaf: s.leaf,
        })
        .unwrap_or(IndexLeaf {
            key: None,
            time_ms: 0,
            seq: 0,
            leaf: Hash::default(),
        })
    }

    /// A kept index's tree, for range proofs.
    pub fn tree(&self, kind: IndexKind) -> KeptTree<'_> {
        KeptTree { set: self, kind }
    }

    /// The positions `lo..hi` of the leaves of `kind`'s tree whose key is
    /// `key` and whose time is in `from..to` (either end open when `None`).
    pub fn range(
        &self,
        kind: IndexKind,
        key: Option<&str>,
        from: Option<i64>,
        to: Option<i64>,
    ) -> (u64, u64) {
        let lo = self.partition_point(kind, |(k, t, _)| {
            k < key || (k == key && from.is_some_and(|f| t < f))
        });
        let hi = self.partition_point(kind, |(k, t, _)| {
            k < key || (k == key && to.is_none_or(|to| t < to))
        });
        (lo, hi.max(lo))
    }

    /// The first position whose entry `before` is false for (all entries
    /// it is true for come first).
    fn partition_point(
        &self,
        kind: IndexKind,
        before: impl Fn((Option<&str>, i64, u64)) -> bool,
    ) -> u64 {
        let (mut lo, mut hi) = (0, self.size);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.read(kind, mid, |s| before(s.sort_key())) {
                Some(true) => lo = mid + 1,
                Some(false) => hi = mid,
                None => return 0,
            }
        }
        lo
    }

    /// The seqs at positions `lo..hi` of `kind`'s tree.
    pub fn seqs(&self, kind: IndexKind, lo: u64, hi: u64) -> impl Iterator<Item = u64> + '_ {
        (lo..hi).map_while(move |i| self.read(kind, i, |s| s.seq))
    }
}

/// A kept index tree as [`IndexSet::tree`] lends it.
pub struct KeptTree<'a> {
    set: &'a IndexSet,
    kind: IndexKind,
}

impl KeptTree<'_> {
    /// The range proof of leaves `lo..hi` (`lo < hi ≤` the tree's size);
    /// `None` also when the sorted index cannot be read back (the set's
    /// [`IndexSet::failure`] says why).
    pub fn range_proof(&self, lo: u64, hi: u64) -> Option<Vec<Hash>> {
        match self.set.kept(self.kind)?.try_range_proof(lo, hi) {
            Ok(p) => p,
            Err(e) => {
                self.set.fail(format!(
                    "cannot read the sorted {} index back: {e}",
                    self.kind.name()
                ));
                None
            }
        }
    }
}

/// One leaf of an index tree, as a range proof carries its neighbours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexLeaf {
    pub key: Option<String>,
    pub time_ms: i64,
    pub seq: u64,
    pub leaf: Hash,
}

impl IndexLeaf {
    pub fn hash(&self, kind: IndexKind) -> Hash {
        index_leaf(
            kind,
            self.key.as_deref(),
            self.time_ms,
            self.seq,
            &self.leaf,
        )
    }

    /// Its place in the index's order.
    pub fn sort_key(&self) -> (Option<&str>, i64, u64) {
        (self.key.as_deref(), self.time_ms, self.seq)
    }
}

/// Builds the index set of an archive's first `size` entries from their
/// records (never from the index columns, which are not trusted): the five
/// roots only, for checkpoints and `verify --checkpoint`.
pub fn index_archive(
    archive: &crate::archive::Archive,
    size: u64,
    job: &crate::job::Job,
) -> Result<IndexSet, crate::archive::ArchiveError> {
    index_archive_keeping(archive, size, job, &[])
}

/// [`index_archive`], keeping the indexes `keep` in their order for range
/// proofs (an export keeps those its filter maps to).
pub fn index_archive_keeping(
    archive: &crate::archive::Archive,
    size: u64,
    job: &crate::job::Job,
    keep: &[IndexKind],
) -> Result<IndexSet, crate::archive::ArchiveError> {
    use crate::archive::{ArchiveError, Column, Columns, Scan};
    let mut set = IndexBuilder::default();
    let cols = Columns::of(&[Column::Record, Column::LeafHash]);
    let scan = Scan::seqs(cols, 1..=size as i64);
    let spill_error = |e: io::Error| {
        ArchiveError(format!(
            "cannot sort the index trees in the temporary folder {} ({e}); set TMPDIR to a \
             folder with room for about 400 bytes per entry",
            std::env::temp_dir().display()
        ))
    };
    job.start_phase("indexing", size);
    archive.scan::<ArchiveError>(&scan, |r| {
        let seq = r.seq();
        let damaged = |what: &str| {
            ArchiveError(format!(
                "{}: entry {seq} {what}; the archive is damaged, so no index roots can be made \
                 (run `auditlens verify` on it)",
                archive.path().display()
            ))
        };
        if seq != set.size() + 1 {
            return Err(damaged("is not where it belongs"));
        }
        let v = RecordView::parse(r.record()).map_err(|_| damaged("has an unreadable record"))?;
        let leaf = Hash::from_slice(r.get(Column::LeafHash).bytes())
            .ok_or_else(|| damaged("has a damaged leaf hash"))?;
        set.push(leaf, &v).map_err(spill_error)?;
        if seq.is_multiple_of(65_536) {
            job.set_done(seq);
        }
        Ok(())
    })?;
    set.finish(keep).map_err(spill_error)
}

/// The archive's checkpoint with its index roots: what `auditlens
/// checkpoint` prints and an export carries.
pub fn checkpoint_with_indexes(
    archive: &crate::archive::Archive,
    job: &crate::job::Job,
) -> Result<(crate::checkpoint::Checkpoint, IndexSet), crate::archive::ArchiveError> {
    with_indexes(archive, archive.checkpoint()?, job)
}

/// `cp` (a checkpoint of `archive`: its first `cp.size` entries) with the
/// index roots of those entries added: for the checkpoints `consistency
/// --checkpoint-out` and `ingest` print. The set holds the roots only.
pub fn with_indexes(
    archive: &crate::archive::Archive,
    mut cp: crate::checkpoint::Checkpoint,
    job: &crate::job::Job,
) -> Result<(crate::checkpoint::Checkpoint, IndexSet), crate::archive::ArchiveError> {
    let set = index_archive(archive, cp.size, job)?;
    if set.size() != cp.size {
        return Err(crate::archive::ArchiveError(format!(
            "{}: the archive changed while its index roots were computed; run the command again",
            archive.path().display()
        )));
    }
    cp.indexes = Some(set.roots());
    Ok((cp, set))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(action: &str, time: &str, project: Option<&str>) -> Vec<u8> {
        let p = project.map_or(String::new(), |p| format!(",\"project_id\":\"{p}\""));
        format!(
            "{{\"action\":\"{action}\",\"actor\":{{\"type\":\"USER\",\"user_id\":\"u1\"}},\"id\":\"e\"{p},\"resource_id\":\"r\",\"resource_type\":\"prompt\",\"time\":\"{time}\"}}"
        )
        .into_bytes()
    }

    #[test]
    fn ranges_are_contiguous_and_absent_keys_sort_first() {
        let rows = [
            view("delete", "2025-01-02T00:00:00.000Z", Some("p1")),
            view("create", "2025-01-01T00:00:00.000Z", None),
            view("delete", "2025-01-01T00:00:00.000Z", None),
            view("delete", "2025-01-03T00:00:00.000Z", Some("p1")),
        ];
        // Runs of one entry: every index is merged from spilled runs.
        let mut b = IndexBuilder::with_run_len(1);
        for (i, r) in rows.iter().enumerate() {
            b.push(Hash([i as u8; 32]), &RecordView::parse(r).unwrap())
                .unwrap();
        }
        let set = b.finish(&INDEXES).unwrap();
        let seqs = |k, lo, hi| set.seqs(k, lo, hi).collect::<Vec<_>>();
        let (lo, hi) = set.range(IndexKind::Action, Some("delete"), None, None);
        assert_eq!(seqs(IndexKind::Action, lo, hi), vec![3, 1, 4]);
        let day2 = crate::time::Timestamp::parse("2025-01-02T00:00:00.000Z")
            .unwrap()
            .0;
        let (lo, hi) = set.range(IndexKind::Action, Some("delete"), Some(day2), None);
        assert_eq!(seqs(IndexKind::Action, lo, hi), vec![1, 4]);
        assert_eq!(set.leaf(IndexKind::Project, 0).key, None);
        assert_eq!(set.leaf(IndexKind::Project, 2).key.as_deref(), Some("p1"));
        let (lo, hi) = set.range(IndexKind::Action, Some("nothing"), None, None);
        assert_eq!((lo, hi), (4, 4));
        assert_ne!(
            set.roots().get(IndexKind::Time),
            set.roots().get(IndexKind::Action)
        );
    }

    /// Past one block of the kept trees' lowest level: the leaves come back
    /// in (key, time, seq) order, ranges bound their key, and range proofs
    /// (read back from the sorted file) are those of the whole tree.
    #[test]
    fn kept_indexes_read_back_from_disk_match_the_whole_tree() {
        let actions = ["create", "delete", "update"];
        let mut b = IndexBuilder::with_run_len(97);
        let n = 700u64;
        for i in 0..n {
            let day = 1 + (i * 7919 % 28);
            let time = format!("2025-01-{day:02}T00:00:00.000Z");
            let project = (i % 5 != 0).then(|| format!("p{}", i % 3));
            let r = view(actions[(i % 3) as usize], &time, project.as_deref());
            b.push(Hash([(i % 251) as u8; 32]), &RecordView::parse(&r).unwrap())
                .unwrap();
        }
        let set = b.finish(&[IndexKind::Action, IndexKind::Project]).unwrap();
        for kind in [IndexKind::Action, IndexKind::Project] {
            let leaves: Vec<IndexLeaf> = (0..n).map(|i| set.leaf(kind, i)).collect();
            assert!(leaves.windows(2).all(|w| w[0].sort_key() < w[1].sort_key()));
            let whole = Tree::new(leaves.iter().map(|l| l.hash(kind)).collect());
            assert_eq!(whole.root(), set.roots().get(kind));
            for (lo, hi) in [
                (0, 1),
                (3, 300),
                (255, 257),
                (256, 512),
                (600, 700),
                (0, 700),
            ] {
                assert_eq!(
                    set.tree(kind).range_proof(lo, hi),
                    whole.range_proof(lo, hi)
                );
            }
        }
        let (lo, hi) = set.range(IndexKind::Action, Some("delete"), None, None);
        let seqs: Vec<u64> = set.seqs(IndexKind::Action, lo, hi).collect();
        assert_eq!(seqs.len() as u64, n / 3);
        assert!(seqs.iter().all(|s| (s - 1) % 3 == 1));
        assert_eq!(set.failure(), None);
        // An index not kept answers nothing, and says so.
        assert_eq!(set.range(IndexKind::Actor, Some("u1"), None, None), (0, 0));
        assert!(set.failure().is_some_and(|f| f.contains("actor")));
    }

    /// tests/vectors/complete-v1.json, written from check.py's reading of
    /// FORMAT.md §14: the index trees of chain-v1's entries (leaf hashes,
    /// order, roots) and range proofs to those roots.
    #[test]
    fn complete_vectors_agree() {
        use serde_json::Value;
        let chain: Value =
            serde_json::from_str(include_str!("../../tests/vectors/chain-v1.json")).unwrap();
        let doc: Value =
            serde_json::from_str(include_str!("../../tests/vectors/complete-v1.json")).unwrap();
        let hex = |v: &Value| Hash::from_hex(v.as_str().unwrap()).unwrap();
        let records: Vec<(Hash, &str)> = chain["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (hex(&e["leaf_hash"]), e["canonical"].as_str().unwrap()))
            .collect();
        // In memory, and spilled in runs of two: the same set.
        let build = |run_len| {
            let mut b = IndexBuilder::with_run_len(run_len);
            for (leaf, record) in &records {
                b.push(*leaf, &RecordView::parse(record.as_bytes()).unwrap())
                    .unwrap();
            }
            b.finish(&INDEXES).unwrap()
        };
        let set = build(RUN_LEN);
        let spilled = build(2);
        assert_eq!(spilled.roots(), set.roots());
        let cp = crate::checkpoint::Checkpoint::parse(doc["checkpoint"].as_str().unwrap()).unwrap();
        let roots = cp
            .indexes
            .expect("the vector checkpoint carries index roots");
        assert_eq!(set.roots(), roots);
        for kind in INDEXES {
            let v = &doc["indexes"][kind.name()];
            assert_eq!(hex(&v["root"]), roots.get(kind), "{}", kind.name());
            for (i, l) in v["leaves"].as_array().unwrap().iter().enumerate() {
                let mine = set.leaf(kind, i as u64);
                assert_eq!(
                    mine.key.as_deref(),
                    l["key"].as_str(),
                    "{} {i}",
                    kind.name()
                );
                assert_eq!(mine.time_ms, l["time_ms"].as_i64().unwrap());
                assert_eq!(mine.seq, l["seq"].as_u64().unwrap());
                assert_eq!(mine.leaf, hex(&l["leaf_hash"]));
                assert_eq!(
                    mine.hash(kind),
                    hex(&l["index_leaf"]),
                    "{} {i}",
                    kind.name()
                );
            }
        }
        let proofs = doc["range_proofs"].as_array().unwrap();
        assert!(proofs.len() >= 5);
        for p in proofs {
            let c = &p["complete"];
            let kind = IndexKind::from_name(c["index"].as_str().unwrap()).unwrap();
            let (pos, n) = (c["position"].as_u64().unwrap(), c["size"].as_u64().unwrap());
            let left = !c["left"].is_null();
            let count = c["entries"].as_array().unwrap().len() as u64;
            let lo = pos - u64::from(left);
            let hi = pos + count + u64::from(!c["right"].is_null());
            let run: Vec<Hash> = (lo..hi).map(|i| set.leaf(kind, i).hash(kind)).collect();
            let proof: Vec<Hash> = c["proof"].as_array().unwrap().iter().map(hex).collect();
            assert_eq!(
                crate::merkle::root_from_range(n, lo, &run, &proof).ok(),
                Some(roots.get(kind)),
                "{}",
                p["filter"]
            );
            assert_eq!(set.tree(kind).range_proof(lo, hi), Some(proof.clone()));
            assert_eq!(spilled.tree(kind).range_proof(lo, hi), Some(proof));
        }
        assert_eq!(set.failure(), None);
    }
}
