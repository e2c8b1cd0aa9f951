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

use sha2::{Digest, Sha256};

use crate::chain::{Hash, MerkleBuilder};
use crate::merkle::Tree;
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

/// Key values interned per index, so that a million entries cost a few
/// bytes each per index rather than a string each.
#[derive(Default)]
struct Interner {
    ids: std::collections::HashMap<String, u32>,
    values: Vec<String>,
}

const NO_KEY: u32 = u32::MAX;

impl Interner {
    fn id(&mut self, v: Option<&str>) -> u32 {
        let Some(v) = v else { return NO_KEY };
        if let Some(&i) = self.ids.get(v) {
            return i;
        }
        let i = self.values.len() as u32;
        self.values.push(v.to_string());
        self.ids.insert(v.to_string(), i);
        i
    }

    fn value(&self, id: u32) -> Option<&str> {
        (id != NO_KEY).then(|| self.values[id as usize].as_str())
    }
}

/// The archive's entries as the index trees see them, fed in seq order
/// from 1 ([`IndexSet::push`]), then sorted ([`IndexSet::finish`]).
#[derive(Default)]
pub struct IndexSet {
    leaves: Vec<Hash>,
    times: Vec<i64>,
    /// Per keyed index (action, actor, resource type, project): each entry's key id.
    keys: [Vec<u32>; 4],
    interned: [Interner; 4],
    /// Per index, the entries (as seq − 1) in index order, once finished.
    order: Vec<Vec<u32>>,
}

impl IndexSet {
    /// Adds the entry at the next seq (1, 2, …) with its leaf hash.
    pub fn push(&mut self, leaf: Hash, v: &RecordView<'_>) {
        self.leaves.push(leaf);
        self.times.push(v.time.0);
        for kind in &INDEXES[1..] {
            let i = kind.slot() - 1;
            let id = self.interned[i].id(kind.key_of(v));
            self.keys[i].push(id);
        }
    }

    /// Number of entries pushed.
    pub fn size(&self) -> u64 {
        self.leaves.len() as u64
    }

    /// Sorts each index: by key (absent first, then by bytes), time, seq.
    pub fn finish(&mut self) {
        let n = self.leaves.len() as u32;
        self.order = INDEXES
            .iter()
            .map(|&kind| {
                let mut o: Vec<u32> = (0..n).collect();
                o.sort_by(|&a, &b| self.cmp_entries(kind, a, b));
                o
            })
            .collect();
    }

    fn key(&self, kind: IndexKind, pos: u32) -> Option<&str> {
        if kind == IndexKind::Time {
            return None;
        }
        let i = kind.slot() - 1;
        self.interned[i].value(self.keys[i][pos as usize])
    }

    fn sort_key(&self, kind: IndexKind, pos: u32) -> (Option<&str>, i64, u32) {
        (self.key(kind, pos), self.times[pos as usize], pos)
    }

    fn cmp_entries(&self, kind: IndexKind, a: u32, b: u32) -> std::cmp::Ordering {
        self.sort_key(kind, a).cmp(&self.sort_key(kind, b))
    }

    /// The leaf at position `i` of `kind`'s tree.
    pub fn leaf(&self, kind: IndexKind, i: u64) -> IndexLeaf {
        let pos = self.order[kind.slot()][i as usize];
        IndexLeaf {
            key: self.key(kind, pos).map(str::to_string),
            time_ms: self.times[pos as usize],
            seq: pos as u64 + 1,
            leaf: self.leaves[pos as usize],
        }
    }

    fn leaf_hashes(&self, kind: IndexKind) -> impl Iterator<Item = Hash> + '_ {
        self.order[kind.slot()].iter().map(move |&pos| {
            index_leaf(
                kind,
                self.key(kind, pos),
                self.times[pos as usize],
                pos as u64 + 1,
                &self.leaves[pos as usize],
            )
        })
    }

    /// The roots of every index tree (after [`Self::finish`]).
    pub fn roots(&self) -> IndexRoots {
        IndexRoots(INDEXES.map(|kind| {
            let mut b = MerkleBuilder::new();
            for h in self.leaf_hashes(kind) {
                b.push(h);
            }
            b.root()
        }))
    }

    /// The whole tree of one index, for range proofs.
    pub fn tree(&self, kind: IndexKind) -> Tree {
        Tree::new(self.leaf_hashes(kind).collect())
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
        let order = &self.order[kind.slot()];
        let lo = order.partition_point(|&p| {
            let (k, t, _) = self.sort_key(kind, p);
            k < key || (k == key && from.is_some_and(|f| t < f))
        });
        let hi = order.partition_point(|&p| {
            let (k, t, _) = self.sort_key(kind, p);
            k < key || (k == key && to.is_none_or(|to| t < to))
        });
        (lo as u64, hi.max(lo) as u64)
    }

    /// The seqs at positions `lo..hi` of `kind`'s tree.
    pub fn seqs(&self, kind: IndexKind, lo: u64, hi: u64) -> impl Iterator<Item = u64> + '_ {
        self.order[kind.slot()][lo as usize..hi as usize]
            .iter()
            .map(|&p| p as u64 + 1)
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
/// records (never from the index columns, which are not trusted).
pub fn index_archive(
    archive: &crate::archive::Archive,
    size: u64,
    job: &crate::job::Job,
) -> Result<IndexSet, crate::archive::ArchiveError> {
    use crate::archive::{ArchiveError, Column, Columns, Scan};
    let mut set = IndexSet::default();
    let cols = Columns::of(&[Column::Record, Column::LeafHash]);
    let scan = Scan::seqs(cols, 1..=size as i64);
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
        set.push(leaf, &v);
        if seq.is_multiple_of(65_536) {
            job.set_done(seq);
        }
        Ok(())
    })?;
    set.finish();
    Ok(set)
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
/// --checkpoint-out` and `ingest` print.
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
        let mut set = IndexSet::default();
        for (i, r) in rows.iter().enumerate() {
            set.push(Hash([i as u8; 32]), &RecordView::parse(r).unwrap());
        }
        set.finish();
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
        let mut set = IndexSet::default();
        for e in chain["entries"].as_array().unwrap() {
            let record = e["canonical"].as_str().unwrap().as_bytes();
            set.push(hex(&e["leaf_hash"]), &RecordView::parse(record).unwrap());
        }
        set.finish();
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
            assert_eq!(set.tree(kind).range_proof(lo, hi), Some(proof));
        }
    }
}
