//! Verification: re-derives every hash and index column and reports findings.
//!
//! A finding says what is wrong, where (seq and entry id) and, where it
//! applies, the expected and the found value. One damaged entry gives one
//! finding: after a broken link the walk continues from the stored chain
//! hash, so later entries are judged on their own.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

mod anchor;
pub mod complete;
mod duplicates;
mod indexes;
mod row_check;
mod signed;
#[cfg(test)]
mod within_memory;

pub use crate::finding::{Finding, FindingKind};
pub use signed::{AnchorInfo, anchor_json, verify_signed};

use duplicates::{Duplicates, IdLog};

use crate::archive::{Archive, ArchiveError, Column, Columns, KeyBook, KeyHasher, Scan};
use crate::chain::{self, ArchiveId, Hash, MerkleBuilder};
use crate::checkpoint::Checkpoint;
use crate::job::Job;
use crate::proof;
use crate::record_view::RecordView;
use crate::source::{self, Format, Source};

/// Findings kept in full; beyond this only counts per kind are kept.
pub const MAX_FINDINGS: usize = 10_000;

/// The memory verification may use for what it keeps of every entry (the
/// entry ids, to find repeated ones; the key each SQLite index of the
/// entries table should list it under), whatever the number of entries:
/// past it these go to temporary files in the system's temporary folder.
/// About 24 bytes an entry are kept, so below some 2.5M entries nothing
/// touches the disk.
pub(crate) const VERIFY_MEMORY: usize = 64 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Intact,
    Tampered,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Intact => "intact",
            Status::Tampered => "tampered",
        }
    }
}

/// How the checkpoint compared, when one was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckpointStatus {
    /// The first `size` entries match; `added` entries came after.
    Matches { size: u64, added: u64 },
    /// See the findings.
    Fails,
    /// A filtered export that does not reach the checkpoint's last entry.
    NotCovered,
    /// Every entry of an export carries an inclusion proof that leads to the
    /// root of the checkpoint of `size` entries.
    Proven { size: u64, entries: u64 },
}

#[derive(Clone, Debug)]
pub struct Report {
    pub format: Format,
    pub archive_id: Option<ArchiveId>,
    /// Entries examined.
    pub entries: u64,
    /// Bytes of record text hashed.
    pub record_bytes: u64,
    pub findings: Vec<Finding>,
    /// Counts per kind, including findings beyond [`MAX_FINDINGS`].
    pub counts: Vec<(FindingKind, u64)>,
    pub head: Option<Hash>,
    /// Merkle root over the recomputed leaf hashes.
    pub root: Option<Hash>,
    pub checkpoint: Option<CheckpointStatus>,
    /// Why an export is not proven against a checkpoint although nothing
    /// wrong was found (`None` for archives, and for exports that are proven
    /// or have findings that say why).
    pub not_proven: Option<NotProven>,
    /// The filter a subset is proven to hold every entry of (docs/FORMAT.md §14).
    pub complete: Option<complete::Completeness>,
    /// Why a subset is proven genuine but not complete (`None` for archives,
    /// exports of every entry, and exports proven complete).
    pub not_complete: Option<String>,
    pub elapsed: std::time::Duration,
}

/// Why nothing was proven about an export's entries (docs/FORMAT.md §9, "Not proven").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotProven {
    /// A CSV export without its proof sidecar `OUT.proof.json`.
    NoSidecar,
    /// The export names no checkpoint, and none was given.
    NoCheckpoint,
    /// Its entries carry no inclusion proofs (an export made before proofs).
    NoProofs,
    /// The export holds no entries: there is nothing to prove.
    Empty,
}

impl NotProven {
    pub fn as_str(self) -> &'static str {
        match self {
            NotProven::NoSidecar => "no_sidecar",
            NotProven::NoCheckpoint => "no_checkpoint",
            NotProven::NoProofs => "no_proofs",
            NotProven::Empty => "empty",
        }
    }
}

impl Report {
    /// Adds a finding found outside the walk (a checkpoint signature, say).
    pub fn push_finding(&mut self, f: Finding) {
        match self.counts.iter_mut().find(|(k, _)| *k == f.kind) {
            Some((_, n)) => *n += 1,
            None => {
                self.counts.push((f.kind, 1));
                self.counts.sort();
            }
        }
        if self.findings.len() < MAX_FINDINGS {
            let at = self
                .findings
                .partition_point(|g| (g.seq.unwrap_or(0), g.kind) <= (f.seq.unwrap_or(0), f.kind));
            self.findings.insert(at, f);
        }
    }

    pub fn status(&self) -> Status {
        if self.counts.iter().any(|(k, n)| !k.is_warning() && *n > 0) {
            Status::Tampered
        } else {
            Status::Intact
        }
    }

    /// Were the entries proven against a checkpoint (an archive's or export's
    /// matching it, or every entry of a subset proven by its inclusion proof)
    /// with nothing wrong found?
    pub fn proven(&self) -> bool {
        self.status() == Status::Intact
            && matches!(
                self.checkpoint,
                Some(CheckpointStatus::Matches { .. } | CheckpointStatus::Proven { .. })
            )
    }

    pub fn problems(&self) -> u64 {
        self.counts
            .iter()
            .filter(|(k, _)| !k.is_warning())
            .map(|(_, n)| n)
            .sum()
    }

    pub fn warnings(&self) -> u64 {
        self.counts
            .iter()
            .filter(|(k, _)| k.is_warning())
            .map(|(_, n)| n)
            .sum()
    }
}

/// Why verification could not run at all (exit code 2).
#[derive(Debug)]
pub enum VerifyError {
    Cannot(String),
    Cancelled,
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerifyError::Cannot(m) => f.write_str(m),
            VerifyError::Cancelled => f.write_str("verification cancelled"),
        }
    }
}

impl std::error::Error for VerifyError {}

impl From<ArchiveError> for VerifyError {
    fn from(e: ArchiveError) -> Self {
        VerifyError::Cannot(e.0)
    }
}

#[derive(Clone)]
struct Collector {
    findings: Vec<Finding>,
    counts: HashMap<FindingKind, u64>,
}

impl Collector {
    fn new() -> Self {
        Collector {
            findings: Vec::new(),
            counts: HashMap::new(),
        }
    }

    fn push(&mut self, f: Finding) {
        *self.counts.entry(f.kind).or_default() += 1;
        if self.findings.len() < MAX_FINDINGS {
            self.findings.push(f);
        }
    }

    /// Counts findings beyond those kept (already capped by the caller).
    fn count_more(&mut self, kind: FindingKind, n: u64) {
        if n > 0 {
            *self.counts.entry(kind).or_default() += n;
        }
    }

    fn counts(&self) -> Vec<(FindingKind, u64)> {
        let mut v: Vec<_> = self.counts.iter().map(|(k, n)| (*k, *n)).collect();
        v.sort();
        v
    }
}

/// Verifies an archive or an auditlens export, detected by content.
pub fn verify_file(
    path: &Path,
    checkpoint: Option<&Checkpoint>,
    job: &Job,
) -> Result<Report, VerifyError> {
    let format = source::detect(path).map_err(|e| VerifyError::Cannot(e.0))?;
    match format {
        Format::Archive => verify_archive(&Archive::open(path)?, checkpoint, job),
        f if f.has_chain() => verify_export(path, checkpoint, job),
        f => Err(VerifyError::Cannot(format!(
            "{} is a {f}: it carries no hash chain, so there is nothing to verify. \
             Ingest it into an archive (`auditlens ingest --archive A.sqlite FILE`) to seal it.",
            path.display()
        ))),
    }
}

/// Entries `first..=last` are missing: one finding for the run.
fn missing_finding(first: u64, last: u64) -> Finding {
    let msg = if first == last {
        format!("entry {first} is missing (deleted)")
    } else {
        format!(
            "entries {first}–{last} are missing ({} deleted)",
            last - first + 1
        )
    };
    Finding::new(FindingKind::MissingEntries, Some(first), msg).values(first, last + 1)
}

/// The part of verification that follows the chain in seq order; shared by
/// archives and exports.
struct ChainWalk {
    id: ArchiveId,
    prev_seq: u64,
    prev_chain: Hash,
    /// Contiguous from seq 1 so far (the Merkle root is meaningful).
    contiguous: bool,
    tree: MerkleBuilder,
    last_time: Option<(i64, u64)>,
    /// The entry ids, sorted at the end to find duplicates: far cheaper than
    /// a hash map once the map outgrows the CPU caches.
    ids: IdLog,
    suspects: Vec<Suspect>,
    checkpoint: Option<Checkpoint>,
    checkpoint_matched: Option<bool>,
    /// The chain value the previous entry should have had, when only its
    /// stored chain hash was wrong: the next entry may link from it.
    repaired_prev: Option<Hash>,
    /// Gaps in the seqs (first, last missing), held back until the end: an
    /// export's line moved later fills the gap it left, and is reported as
    /// out of order, not as missing.
    gaps: Vec<(u64, u64)>,
    /// Seqs that came after a larger one (an export's lines out of order).
    late: Vec<u64>,
    /// Broken links held back until the end: a link that points at an entry
    /// which was moved elsewhere is explained by that move.
    pending_breaks: Vec<(Finding, Hash, Hash)>,
    /// The previous entry (an export's) carried no chain hash: nothing links
    /// from it, so this entry's link is not judged (the absence is the finding).
    prev_chain_absent: bool,
    /// This entry carries no chain hash (set before [`Self::step`]).
    chain_absent: bool,
}

/// An entry whose leaf hash did not match its position, kept to detect swaps.
struct Suspect {
    seq: u64,
    record: Vec<u8>,
    stored_leaf: Hash,
    stored_chain: Hash,
    id: Option<String>,
}

impl ChainWalk {
    /// A walk keeping at most about `ids_memory` bytes of entry ids in memory.
    fn new(id: ArchiveId, checkpoint: Option<&Checkpoint>, ids_memory: usize) -> Self {
        ChainWalk {
            id,
            prev_seq: 0,
            prev_chain: chain::genesis(&id),
            contiguous: true,
            tree: MerkleBuilder::new(),
            last_time: None,
            ids: IdLog::new(ids_memory),
            suspects: Vec::new(),
            checkpoint: checkpoint.cloned(),
            checkpoint_matched: None,
            prev_chain_absent: false,
            chain_absent: false,
            repaired_prev: None,
            gaps: Vec::new(),
            late: Vec::new(),
            pending_breaks: Vec::new(),
        }
    }

    /// Checks one entry. `gap_is_finding` is false for filtered exports,
    /// where missing seqs are expected.
    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        out: &mut Collector,
        seq: u64,
        record: &[u8],
        stored_leaf: Hash,
        stored_chain: Hash,
        computed_leaf: Hash,
        entry_id: Option<&str>,
        time_ms: Option<i64>,
        gap_is_finding: bool,
    ) {
        if seq <= self.prev_seq {
            out.push(
                Finding::new(
                    FindingKind::OutOfOrder,
                    Some(seq),
                    format!("seq {seq} comes after seq {}", self.prev_seq),
                )
                .id(entry_id),
            );
            if self.late.len() < MAX_FINDINGS {
                self.late.push(seq);
            }
            return;
        }
        let gap = seq != self.prev_seq + 1;
        if gap {
            self.contiguous = false;
            if gap_is_finding {
                let gap = (self.prev_seq + 1, seq - 1);
                if self.gaps.len() < MAX_FINDINGS {
                    self.gaps.push(gap);
                } else {
                    out.push(missing_finding(gap.0, gap.1));
                }
            }
        }
        // The tree is built over the stored leaf hashes: a changed record is
        // reported as such, while a recomputed (rewritten) leaf changes the root.
        if self.contiguous {
            self.tree.push(stored_leaf);
        }
        let leaf_ok = computed_leaf == stored_leaf;
        let repaired = self.repaired_prev.take();
        let unlinked = gap || self.prev_chain_absent;
        let link_ok = unlinked
            || chain::chain_link(&self.prev_chain, &stored_leaf) == stored_chain
            || repaired.is_some_and(|r| chain::chain_link(&r, &stored_leaf) == stored_chain);
        let leaf_links =
            || !unlinked && chain::chain_link(&self.prev_chain, &computed_leaf) == stored_chain;
        match (leaf_ok, link_ok) {
            (true, true) => {}
            (false, true) => out.push(
                Finding::new(
                    FindingKind::RecordModified,
                    Some(seq),
                    "the record was changed after it was sealed: its hash no longer matches",
                )
                .id(entry_id)
                .values(stored_leaf, computed_leaf),
            ),
            (true, false) => {
                let expected = chain::chain_link(&self.prev_chain, &stored_leaf);
                self.repaired_prev = Some(expected);
                let f = Finding::new(
                    FindingKind::ChainBroken,
                    Some(seq),
                    "the chain hash does not follow from the previous entry (hash column changed, or an \
                     entry before it was removed or inserted)",
                )
                .id(entry_id)
                .values(expected, stored_chain);
                if self.pending_breaks.len() < MAX_FINDINGS {
                    self.pending_breaks.push((f, stored_leaf, stored_chain));
                } else {
                    out.push(f);
                }
            }
            (false, false) if leaf_links() => out.push(
                Finding::new(
                    FindingKind::LeafHashChanged,
                    Some(seq),
                    "the stored leaf hash was changed",
                )
                .id(entry_id)
                .values(computed_leaf, stored_leaf),
            ),
            (false, false) => {
                if self.suspects.len() < 512 {
                    self.suspects.push(Suspect {
                        seq,
                        record: record.to_vec(),
                        stored_leaf,
                        stored_chain,
                        id: entry_id.map(str::to_string),
                    });
                } else {
                    out.push(
                        Finding::new(
                            FindingKind::ForeignEntry,
                            Some(seq),
                            "this entry does not belong at this position (inserted, forged or moved)",
                        )
                        .id(entry_id)
                        .values(stored_leaf, computed_leaf),
                    );
                }
            }
        }
        if let Some(id) = entry_id {
            self.ids.push(id, seq);
        }
        if let Some(t) = time_ms {
            if let Some((prev_t, prev_seq)) = self.last_time
                && t < prev_t
            {
                out.push(
                    Finding::new(
                        FindingKind::TimeBackwards,
                        Some(seq),
                        format!("time runs backwards: earlier than seq {prev_seq}"),
                    )
                    .id(entry_id)
                    .values(
                        format!("≥ {}", crate::time::Timestamp(prev_t)),
                        crate::time::Timestamp(t),
                    ),
                );
            }
            self.last_time = Some((t, seq));
        }
        self.prev_seq = seq;
        self.prev_chain = stored_chain;
        self.prev_chain_absent = std::mem::take(&mut self.chain_absent);
        if let Some(cp) = &self.checkpoint
            && cp.archive_id == self.id
            && self.checkpoint_matched.is_none()
            && seq == cp.size
        {
            let root_ok = !self.contiguous || self.tree.root() == cp.root;
            let matched = root_ok && stored_chain == cp.head;
            self.checkpoint_matched = Some(matched);
            // A left-out head is already `chain_broken`: it does not match, and says no more.
            if !matched && !self.prev_chain_absent {
                out.push(
                    Finding::new(
                        FindingKind::Rewritten,
                        Some(seq),
                        format!(
                            "the first {} entries are not the ones the checkpoint records: history was rewritten",
                            cp.size
                        ),
                    )
                    .values(format!("root {} head {}", b64(&cp.root), cp.head), format!("root {} head {}", b64(&self.tree.root()), stored_chain)),
                );
            }
        }
    }

    /// (first seq, later seq) for every entry whose id was already seen:
    /// as many as can be kept in full, the rest counted. An error: the ids'
    /// temporary file failed.
    fn duplicates(&mut self) -> Result<Duplicates, VerifyError> {
        std::mem::replace(&mut self.ids, IdLog::new(0))
            .duplicates(MAX_FINDINGS)
            .map_err(|e| VerifyError::Cannot(crate::external_sort::temp_failed(&e)))
    }

    /// Resolves suspects into swaps/moves or foreign entries, then checks the checkpoint.
    fn finish(
        mut self,
        out: &mut Collector,
        entries: u64,
        complete: bool,
    ) -> (Option<Hash>, Option<Hash>, Option<CheckpointStatus>) {
        self.late.sort_unstable();
        for (first, last) in std::mem::take(&mut self.gaps) {
            // The seqs of the gap that came later, out of order, are not missing.
            let mut from = first;
            let at = self.late.partition_point(|&s| s < first);
            for &s in self.late[at..].iter().take_while(|&&s| s <= last) {
                if s > from {
                    out.push(missing_finding(from, s - 1));
                }
                from = from.max(s + 1);
            }
            if from <= last {
                out.push(missing_finding(from, last));
            }
        }
        let suspects = std::mem::take(&mut self.suspects);
        for (f, stored_leaf, stored_chain) in std::mem::take(&mut self.pending_breaks) {
            let explained = suspects
                .iter()
                .any(|s| chain::chain_link(&s.stored_chain, &stored_leaf) == stored_chain);
            if !explained {
                out.push(f);
            }
        }
        for a in &suspects {
            let home = suspects.iter().find(|b| {
                b.seq != a.seq && {
                    let moved = chain::leaf_hash(&self.id, b.seq, &a.record);
                    moved == a.stored_leaf || moved == b.stored_leaf
                }
            });
            let f = match home {
                Some(b) => Finding::new(
                    FindingKind::Misplaced,
                    Some(a.seq),
                    format!(
                        "this entry belongs at seq {} (entries swapped or moved)",
                        b.seq
                    ),
                )
                .values(b.seq, a.seq),
                None => Finding::new(
                    FindingKind::ForeignEntry,
                    Some(a.seq),
                    "this entry does not belong at this position (inserted, forged or moved)",
                )
                .values(a.stored_leaf, chain::leaf_hash(&self.id, a.seq, &a.record)),
            };
            out.push(f.id(a.id.as_deref()));
        }
        let head = (self.prev_seq > 0).then_some(self.prev_chain);
        let root = (self.contiguous && complete).then(|| self.tree.root());
        let cp_status = self.checkpoint.as_ref().map(|cp| {
            if cp.archive_id != self.id {
                out.push(
                    Finding::new(FindingKind::WrongArchive, None, "the checkpoint is for another archive")
                        .values(cp.archive_id, self.id),
                );
                return CheckpointStatus::Fails;
            }
            if cp.size == 0 {
                return CheckpointStatus::Matches { size: 0, added: entries };
            }
            match self.checkpoint_matched {
                Some(true) => CheckpointStatus::Matches { size: cp.size, added: self.prev_seq.saturating_sub(cp.size) },
                Some(false) => CheckpointStatus::Fails,
                None => {
                    if !complete {
                        return CheckpointStatus::NotCovered;
                    }
                    {
                        out.push(
                            Finding::new(
                                FindingKind::Truncated,
                                Some(self.prev_seq + 1),
                                format!(
                                    "the checkpoint records {} entries but the archive ends at seq {}: the tail was cut off",
                                    cp.size, self.prev_seq
                                ),
                            )
                            .values(cp.size, self.prev_seq),
                        );
                    }
                    CheckpointStatus::Fails
                }
            }
        });
        (head, root, cp_status)
    }
}

/// A finding for an entry whose id was already stored at `first`. A 64-bit
/// hash collision between different ids is astronomically unlikely, and would
/// only add a finding the person can check by looking at both seqs.
fn duplicate_finding(first: u64, seq: u64, id: Option<&str>) -> Finding {
    let id_text = id.map(|i| format!("{i:?}")).unwrap_or_default();
    Finding::new(
        FindingKind::DuplicateEntry,
        Some(seq),
        format!("entry id {id_text} is also stored at seq {first}"),
    )
    .id(id)
    .values(first, seq)
}

fn b64(h: &Hash) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(h.0)
}

/// Verifies a sealed archive: its schema, every row (hashes, chain, index
/// columns) and its SQLite indexes, all read through the archive's one scan.
pub fn verify_archive(
    archive: &Archive,
    checkpoint: Option<&Checkpoint>,
    job: &Job,
) -> Result<Report, VerifyError> {
    verify_archive_within(archive, checkpoint, job, VERIFY_MEMORY)
}

/// [`verify_archive`] keeping at most about `memory` bytes of what it keeps
/// of every entry (the tests force a tiny budget: the same report).
pub(crate) fn verify_archive_within(
    archive: &Archive,
    checkpoint: Option<&Checkpoint>,
    job: &Job,
    memory: usize,
) -> Result<Report, VerifyError> {
    let started = Instant::now();
    // Verification's own reads go through a streaming reader: a pass over
    // the whole file through the caller's connection (memory-mapped) would
    // leave the whole file resident in this process.
    let reader = archive.streaming_reader()?;
    let mut out = Collector::new();
    if archive.read_through_wal() {
        out.push(Finding::new(
            FindingKind::SchemaAltered,
            None,
            "another program switched the archive to write-ahead logging (WAL), which auditlens \
             never uses: it was read as SQLite reads it, with its -wal file applied, from a copy \
             (the file and the files beside it were not touched)",
        ));
    }
    let archive = &reader;
    let schema = archive.schema()?;
    let checked = indexes::check_schema(&schema, &mut out);
    let unchecked_tables = indexes::tables_with_unchecked_indexes(&schema, &checked);
    // The keys of the entries table's indexes are kept during the scan; the
    // other tables are small and read on their own.
    let (entry_indexes, others): (Vec<_>, Vec<_>) =
        checked.into_iter().partition(|ix| ix.table == "entries");
    let hasher = KeyHasher::default();
    // One share of the memory for the ids, one for each entry index (its
    // book, then its walk), one for the small tables' indexes: all of them
    // are held at once while the indexes are walked.
    let share = memory / (entry_indexes.len() + 2);
    let mut books: Vec<KeyBook> = entry_indexes.iter().map(|_| KeyBook::new(share)).collect();
    let bounds = archive.seq_bounds()?;
    let seqs = bounds.unwrap_or((1, 0));
    // The seq span, not a count: counting the rows would read every page
    // of the table once more before the scan.
    let total = archive.seq_span()?;
    job.start_phase("verifying", total);
    let mut walk = ChainWalk::new(archive.id(), checkpoint, share);
    walk.ids.reserve(total.min(1 << 24) as usize);
    for book in &mut books {
        book.reserve(total.min(1 << 24) as usize);
    }
    let mut entries = 0u64;
    let mut record_bytes = 0u64;
    if bounds.is_some() {
        let k = entry_indexes.len();
        row_check::check_rows(archive, seqs, &entry_indexes, &hasher, job, |chunk| {
            let mut findings = std::mem::take(&mut chunk.findings).into_iter().peekable();
            for (i, row) in chunk.rows.iter().enumerate() {
                walk.step(
                    &mut out,
                    row.seq,
                    chunk.record(row),
                    row.stored_leaf,
                    row.stored_chain,
                    row.computed_leaf,
                    chunk.entry_id(row),
                    row.time_ms,
                    true,
                );
                while let Some((_, f)) = findings.next_if(|(at, _)| *at == i) {
                    out.push(f);
                }
                for (j, book) in books.iter_mut().enumerate() {
                    book.push(row.rowid, chunk.keys[i * k + j])
                        .map_err(|e| VerifyError::Cannot(crate::external_sort::temp_failed(&e)))?;
                }
            }
            entries += chunk.rows.len() as u64;
            record_bytes += chunk.record_bytes;
            job.set_done(entries);
            Ok(())
        })?;
    }
    // Each index walked on its own connection, while this thread checks
    // the small tables' indexes and sorts the entry ids for duplicates.
    let (walked, duplicates) = std::thread::scope(|scope| {
        let entry_walks: Vec<_> = entry_indexes
            .iter()
            .zip(books)
            .map(|(index, book)| {
                let reader = archive.streaming_reader();
                let hasher = &hasher;
                scope.spawn(move || match reader {
                    Ok(r) => indexes::check_index(&r, index, book, hasher, seqs),
                    Err(e) => vec![indexes::unreadable(index, &e.0)],
                })
            })
            .collect();
        let mut walked: Vec<Vec<Finding>> = others
            .iter()
            .map(|index| match archive.table_book(index, &hasher, share) {
                Ok(book) => {
                    indexes::check_index(archive, index, book, &hasher, (i64::MIN, i64::MAX))
                }
                Err(e) => vec![indexes::unreadable(index, &e.0)],
            })
            .collect();
        let duplicates = walk.duplicates();
        walked.extend(entry_walks.into_iter().map(|h| {
            h.join().unwrap_or_else(|_| {
                vec![Finding::new(
                    FindingKind::SqliteIndexMismatch,
                    None,
                    "an index check stopped unexpectedly",
                )]
            })
        }));
        (walked, duplicates)
    });
    let duplicates = duplicates?;
    for f in walked.into_iter().flatten() {
        out.push(f);
    }
    for table in &unchecked_tables {
        for f in indexes::sqlite_check(archive, table) {
            out.push(f);
        }
    }
    for (first, seq) in duplicates.listed {
        let id = (out.findings.len() < MAX_FINDINGS)
            .then(|| stored_entry_id(archive, seq))
            .flatten();
        out.push(duplicate_finding(first, seq, id.as_deref()));
    }
    out.count_more(FindingKind::DuplicateEntry, duplicates.more);
    let (head, root, mut cp) = walk.finish(&mut out, entries, true);
    // A checkpoint with index roots: the index trees are rebuilt from the
    // records (a damaged archive, which cannot give them, is reported above).
    if let Some(c) = checkpoint.filter(|c| c.indexes.is_some() && c.archive_id == archive.id())
        && matches!(cp, Some(CheckpointStatus::Matches { .. }))
    {
        let set = crate::index_tree::index_archive(archive, c.size, job).ok();
        let found = complete::check_index_roots(set, c);
        if !found.is_empty() {
            cp = Some(CheckpointStatus::Fails);
        }
        for f in found {
            out.push(f);
        }
    }
    let mut findings = out.findings.clone();
    findings.sort_by_key(|f| (f.seq.unwrap_or(0), f.kind));
    Ok(Report {
        format: Format::Archive,
        archive_id: Some(archive.id()),
        entries,
        record_bytes,
        counts: out.counts(),
        findings,
        head,
        root,
        checkpoint: cp,
        not_proven: None,
        complete: None,
        not_complete: None,
        elapsed: started.elapsed(),
    })
}

/// The entry id of the record at `seq`, to name it in a finding.
fn stored_entry_id(archive: &Archive, seq: u64) -> Option<String> {
    let mut id = None;
    let scan = Scan::one(Columns::of(&[Column::Record]), seq);
    archive
        .scan::<ArchiveError>(&scan, |r| {
            id = RecordView::parse(r.record())
                .ok()
                .map(|v| v.id.into_owned());
            Ok(())
        })
        .ok()?;
    id
}

/// Verifies an auditlens export (JSON, NDJSON or CSV) without the archive.
///
/// With `checkpoint` given, that checkpoint is the anchor: every entry must
/// be proven against it ([`anchor::Anchor`]); without, the export's own.
pub fn verify_export(
    path: &Path,
    checkpoint: Option<&Checkpoint>,
    job: &Job,
) -> Result<Report, VerifyError> {
    let started = Instant::now();
    let src = Source::open(path).map_err(|e| VerifyError::Cannot(e.0))?;
    let format = src.format;
    let mut out = Collector::new();
    let header_id = src.header.as_ref().map(|h| h.archive_id);
    // CSV exports keep their inclusion proofs and checkpoint in a sidecar file.
    let sidecar = if format == Format::ExportCsv {
        proof::SidecarReader::open_for(path).map_err(VerifyError::Cannot)?
    } else {
        None
    };
    let no_sidecar = format == Format::ExportCsv && sidecar.is_none();
    let named_id = header_id.or(sidecar.as_ref().map(|s| s.archive_id));
    let stated_filter = src
        .header
        .as_ref()
        .and_then(|h| h.filter.as_ref())
        .or_else(|| sidecar.as_ref().and_then(|s| s.filter.as_ref()))
        .and_then(to_serde);
    let mut exported: Vec<complete::Exported> = Vec::new();
    // Every entry of a filtered export must match the filter it states: a
    // filter narrowed after export would misdescribe the file (FORMAT.md §9).
    let entry_filter = match stated_filter.as_ref().map(crate::export::stated_filter) {
        Some(Ok(f)) if !f.is_empty() => Some(f),
        Some(Err(why)) => {
            out.push(Finding::new(FindingKind::OutsideFilter, None, why));
            None
        }
        _ => None,
    };
    let own_cp = src
        .header
        .as_ref()
        .and_then(|h| h.checkpoint.clone())
        .or_else(|| sidecar.as_ref().map(|s| s.checkpoint.checkpoint.clone()));
    let promised = src.header.as_ref().is_some_and(|h| h.proofs);
    // An export of every entry proves itself by its root (the chain walk's checkpoint check).
    let whole =
        src.header.as_ref().is_some_and(|h| h.whole) || sidecar.as_ref().is_some_and(|s| s.whole);
    let anchor = anchor::Anchor::new(checkpoint, own_cp.as_ref(), whole);
    let mut proofs = proof::InclusionCheck::new(anchor.proofs().cloned(), promised, sidecar);
    let cp = anchor.walk().cloned();
    let mut walk: Option<ChainWalk> =
        named_id.map(|id| ChainWalk::new(id, cp.as_ref(), VERIFY_MEMORY));
    // In an export made without a filter, a missing seq is a deleted entry,
    // and a missing tail is `truncated`. A filtered export may end anywhere.
    let unfiltered = whole
        || src
            .header
            .as_ref()
            .and_then(|h| h.filter.as_ref())
            .and_then(|f| f.as_object())
            .is_some_and(|m| m.is_empty());
    // Entries of a subset not proven against a given checkpoint, held until
    // the end: a complete export that reaches the checkpoint proves them by its root.
    let mut unproven: Vec<Finding> = Vec::new();
    let mut unproven_n = 0u64;
    let mut entries = 0u64;
    let mut record_bytes = 0u64;
    let mut record = String::new();
    let mut complete = true;
    // The last entry's chain hash was left out: the export shows no head.
    let mut head_absent = false;
    // An entry without a chain hash after a gap, judged when the next is read.
    let mut absent_unchecked: Option<u64> = None;
    job.start_phase("verifying", 0);
    // Cut and mapped on other threads, taken here in order.
    let mut src = crate::ingest::export_records::ExportRecords::new(src);
    while let Some(r) = src.next_record() {
        if entries.is_multiple_of(4096) {
            job.check().map_err(|_| VerifyError::Cancelled)?;
            job.set_done(entries);
        }
        let rec = match r {
            Ok(rec) => rec,
            Err(e) if e.fatal => {
                complete = false;
                out.push(Finding::new(
                    FindingKind::ExportIncomplete,
                    None,
                    e.to_string(),
                ));
                break;
            }
            Err(e) => {
                out.push(Finding::new(
                    FindingKind::UnreadableRecord,
                    e.chain.as_ref().map(|c| c.seq),
                    e.to_string(),
                ));
                // Its chain fields still say which entry it is: it counts,
                // and the chain links through its stored hashes (its own link
                // and proof are not judged: the record that would tell is
                // unreadable, which is the finding). FORMAT.md §9.
                if let Some(c) = e.chain.as_deref() {
                    let w = walk.get_or_insert_with(|| {
                        ChainWalk::new(
                            named_id.unwrap_or(ArchiveId([0; 16])),
                            cp.as_ref(),
                            VERIFY_MEMORY,
                        )
                    });
                    w.prev_chain_absent = true;
                    w.chain_absent = c.chain_hash.is_none();
                    head_absent = w.chain_absent;
                    w.step(
                        &mut out,
                        c.seq,
                        b"",
                        c.leaf_hash,
                        c.chain_hash.unwrap_or_default(),
                        c.leaf_hash,
                        None,
                        None,
                        unfiltered,
                    );
                    for f in proofs.skip_unreadable(c.seq) {
                        out.push(f);
                    }
                    entries += 1;
                }
                continue;
            }
        };
        let Some(chain_fields) = rec.chain else {
            continue;
        };
        for column in &rec.unguarded {
            out.push(unguarded_finding(&rec, chain_fields.seq, column));
        }
        let id = rec.archive_id.or(named_id).unwrap_or(ArchiveId([0; 16]));
        let w = walk.get_or_insert_with(|| ChainWalk::new(id, cp.as_ref(), VERIFY_MEMORY));
        if id != w.id {
            out.push(
                Finding::new(
                    FindingKind::WrongArchive,
                    Some(chain_fields.seq),
                    "this row names another archive",
                )
                .id(Some(&rec.entry.id))
                .values(w.id, id),
            );
        }
        // The entry is judged as the export's archive's: a row that only
        // names another archive is that one finding, not a gap or a change.
        let id = w.id;
        record.clear();
        rec.entry.to_record().write_canonical(&mut record);
        let computed = chain::leaf_hash(&id, chain_fields.seq, record.as_bytes());
        head_absent = chain_fields.chain_hash.is_none();
        let seq = chain_fields.seq;
        // An entry must carry its chain hash where the export can check it
        // (FORMAT.md §9): seq 1, a neighbour exported, the checkpoint's last.
        // Without a gap the link check itself finds the absence.
        if let Some(s) = absent_unchecked.take()
            && s + 1 == seq
        {
            out.push(chain_absent_finding(s, "the entry after it is exported"));
        }
        if head_absent && seq != w.prev_seq + 1 {
            if cp
                .as_ref()
                .is_some_and(|c| c.size == seq && c.archive_id == w.id)
            {
                out.push(chain_absent_finding(
                    seq,
                    "it is the checkpoint's last entry",
                ));
            } else {
                absent_unchecked = Some(seq);
            }
        }
        w.chain_absent = head_absent;
        w.step(
            &mut out,
            chain_fields.seq,
            record.as_bytes(),
            chain_fields.leaf_hash,
            // A left-out chain hash can link nothing: any check that needs it fails.
            chain_fields.chain_hash.unwrap_or_default(),
            computed,
            Some(&rec.entry.id),
            Some(rec.entry.time.0),
            unfiltered,
        );
        let proven_before = proofs.proven();
        let found = proofs.check(
            chain_fields.seq,
            Some(&rec.entry.id),
            &computed,
            &chain_fields.leaf_hash,
            rec.proof.as_ref(),
        );
        // With a checkpoint given, an entry of a subset whose proof check
        // found nothing wrong must still have been proven against it.
        let proven = proofs.proven() > proven_before && anchor.proofs_on_anchor();
        if anchor.given() && !whole && found.is_empty() && !proven {
            unproven_n += 1;
            if unproven.len() < MAX_FINDINGS {
                let carries = promised || !no_sidecar && format == Format::ExportCsv;
                unproven.push(anchor.unproven_entry(chain_fields.seq, &rec.entry.id, carries));
            }
        }
        for f in found {
            out.push(f);
        }
        if !whole
            && let Some(e) = complete::Exported::of(
                chain_fields.seq,
                computed,
                computed != chain_fields.leaf_hash,
                record.as_bytes(),
            )
        {
            exported.push(e);
        }
        if let Some((selects, is)) = entry_filter.as_ref().and_then(|f| f.mismatch(&rec.entry)) {
            out.push(
                Finding::new(
                    FindingKind::OutsideFilter,
                    Some(chain_fields.seq),
                    "this entry is outside the export's stated filter",
                )
                .id(Some(&rec.entry.id))
                .values(selects, is),
            );
        }
        entries += 1;
        record_bytes += record.len() as u64;
    }
    if let Some(n) = src.footer_count
        && n != entries
    {
        out.push(
            Finding::new(
                FindingKind::ExportIncomplete,
                None,
                format!("the export says it holds {n} entries but {entries} were read"),
            )
            .values(n, entries),
        );
    }
    if let Some(w) = walk.as_mut() {
        let duplicates = w.duplicates()?;
        if !duplicates.listed.is_empty() {
            let ids = export_entry_ids(path, duplicates.listed.iter().map(|d| d.1).collect());
            for (first, seq) in duplicates.listed {
                out.push(duplicate_finding(
                    first,
                    seq,
                    ids.get(&seq).map(String::as_str),
                ));
            }
        }
        out.count_more(FindingKind::DuplicateEntry, duplicates.more);
    }
    let archive_id = walk.as_ref().map(|w| w.id).or(named_id);
    let last_seq = walk.as_ref().map_or(0, |w| w.prev_seq);
    // Contiguous from seq 1: a checkpoint reached was checked by its root,
    // not only by the last entry's chain hash.
    let contiguous = walk.as_ref().is_some_and(|w| w.contiguous);
    let (mut summary, proof_findings) = proofs.finish();
    let claim = src
        .footer_complete
        .take()
        .or_else(|| summary.complete.take())
        .and_then(|c| to_serde(&c));
    let mut completeness: Result<complete::Completeness, String> = Err(
        "it carries no completeness proof: its filter maps to no single index range, it was made \
         before complete exports, or the proof was removed"
            .into(),
    );
    if let (Some(claim), Some(cp)) = (&claim, anchor.proofs()) {
        let mut found = Vec::new();
        completeness =
            complete::check_claim(claim, stated_filter.as_ref(), cp, &exported, &mut found);
        for f in found {
            out.push(f);
        }
    }
    drop(exported);
    for f in proof_findings {
        out.push(f);
    }
    let (mut head, root, mut cp_status) = match walk {
        // Only a complete, unfiltered export can show that a checkpoint's
        // tail is missing: "truncated" compares the last seq present with
        // the checkpoint's size, and a filtered export may stop anywhere.
        Some(w) => {
            let full = complete && w.contiguous && unfiltered;
            w.finish(&mut out, entries, full)
        }
        None => (
            None,
            None,
            cp.as_ref().map(|_| CheckpointStatus::NotCovered),
        ),
    };
    // A complete export that reaches the checkpoint given proves every entry
    // by its root; otherwise each entry had to be proven on its own.
    // A subset that reaches the checkpoint's last entry matches its chain
    // head; that proves the last entry, not the others.
    if !contiguous && matches!(cp_status, Some(CheckpointStatus::Matches { .. })) {
        cp_status = Some(CheckpointStatus::NotCovered);
    }
    let root_proves_all =
        anchor.walk_on_given() && matches!(cp_status, Some(CheckpointStatus::Matches { .. }));
    if !root_proves_all {
        for f in unproven {
            out.push(f);
        }
        out.count_more(
            FindingKind::Unproven,
            unproven_n.saturating_sub(MAX_FINDINGS as u64),
        );
    }
    if let Some(f) = anchor.mismatch(root, head, last_seq) {
        out.push(f);
        cp_status = Some(CheckpointStatus::Fails);
    }
    if head_absent {
        head = None;
    }
    // Every entry proven against the anchor.
    if summary.carried
        && summary.proven == entries
        && entries > 0
        && anchor.proofs_on_anchor()
        && matches!(
            cp_status,
            Some(CheckpointStatus::NotCovered | CheckpointStatus::Matches { .. })
        )
    {
        cp_status = Some(CheckpointStatus::Proven {
            size: summary.size,
            entries,
        });
    }
    let not_proven = match &cp_status {
        Some(CheckpointStatus::Matches { .. } | CheckpointStatus::Proven { .. }) => None,
        _ if no_sidecar => Some(NotProven::NoSidecar),
        None => Some(NotProven::NoCheckpoint),
        Some(_) if entries == 0 => Some(NotProven::Empty),
        Some(_) if !summary.carried && !whole => Some(NotProven::NoProofs),
        Some(_) => None,
    };
    let mut findings = out.findings.clone();
    findings.sort_by_key(|f| (f.seq.unwrap_or(0), f.kind));
    let mut report = Report {
        format,
        archive_id,
        entries,
        record_bytes,
        counts: out.counts(),
        findings,
        head,
        root,
        checkpoint: cp_status,
        not_proven,
        complete: None,
        not_complete: None,
        elapsed: started.elapsed(),
    };
    // Complete only when every entry is proven genuine against the anchor too
    // (an empty export has none to prove: its range proof alone shows that
    // the filter selects nothing).
    if !whole {
        let genuine = report.proven() || (entries == 0 && report.status() == Status::Intact);
        match completeness {
            Ok(c) if genuine => report.complete = Some(c),
            Ok(_) if report.status() != Status::Intact => {
                report.not_complete = Some(
                    "the export does not verify (see the findings), so its completeness proof \
                     proves nothing"
                        .into(),
                )
            }
            Ok(_) => {
                report.not_complete =
                    Some("its entries are not all proven against the checkpoint".into())
            }
            Err(why) => report.not_complete = Some(why),
        }
    }
    Ok(report)
}

/// Our JSON value as a serde one (the completeness check reads serde's).
fn to_serde(j: &crate::json::Json) -> Option<serde_json::Value> {
    serde_json::from_str(&j.to_canonical()).ok()
}

/// An export's entry without the chain hash it must carry (FORMAT.md §7).
fn chain_absent_finding(seq: u64, why: &str) -> Finding {
    Finding::new(
        FindingKind::ChainBroken,
        Some(seq),
        format!("the entry carries no chain hash, which the export must give here: {why}"),
    )
    .values(
        "a chain hash",
        "none (0000000000000000000000000000000000000000000000000000000000000000)",
    )
}

/// A CSV cell that lacks the guard auditlens writes before a formula character.
fn unguarded_finding(rec: &source::SourceRecord, seq: u64, column: &str) -> Finding {
    Finding::new(
        FindingKind::UnguardedCell,
        Some(seq),
        format!(
            "the {column} cell (CSV line {}) starts with a formula character but lacks the ' guard \
             auditlens writes before it: it was edited after export, and a spreadsheet would run it",
            rec.line
        ),
    )
    .id(Some(&rec.entry.id))
}

/// The entry ids of the given seqs in an export, read again to name
/// duplicates (which only tampering produces).
fn export_entry_ids(path: &Path, mut seqs: HashSet<u64>) -> HashMap<u64, String> {
    let mut ids = HashMap::new();
    let Ok(mut src) = Source::open(path) else {
        return ids;
    };
    while let Some(r) = src.next_record() {
        match r {
            Ok(rec) => {
                if let Some(seq) = rec.chain.map(|c| c.seq)
                    && seqs.remove(&seq)
                {
                    ids.insert(seq, rec.entry.id);
                }
            }
            Err(e) if e.fatal => break,
            Err(_) => {}
        }
        if seqs.is_empty() {
            break;
        }
    }
    ids
}

/// The report as one JSON object (`verify --json`, the auditor report).
pub fn report_json(path: &Path, r: &Report) -> serde_json::Value {
    serde_json::json!({
        "file": path.display().to_string(),
        "format": r.format.name(),
        "status": r.status().as_str(),
        "entries": r.entries,
        "archive_id": r.archive_id.map(|i| i.to_string()),
        "head": r.head.map(|h| h.to_hex()),
        "root": r.root.map(|h| h.to_hex()),
        "checkpoint": r.checkpoint.as_ref().map(|c| match c {
            CheckpointStatus::Matches { size, added } => serde_json::json!({"status": "matches", "size": size, "added_since": added}),
            CheckpointStatus::Fails => serde_json::json!({"status": "fails"}),
            CheckpointStatus::NotCovered => serde_json::json!({"status": "not_covered"}),
            CheckpointStatus::Proven { size, entries } => serde_json::json!({"status": "proven", "size": size, "entries": entries}),
        }),
        "proven": r.proven(),
        "not_proven": r.not_proven.map(NotProven::as_str),
        "complete": r.complete.as_ref().map(complete::Completeness::to_json),
        "not_complete": r.not_complete,
        "problems": r.problems(),
        "warnings": r.warnings(),
        "counts": r.counts.iter().map(|(k, n)| (k.as_str().to_string(), serde_json::json!(n))).collect::<serde_json::Map<_, _>>(),
        "findings": r.findings.iter().map(finding_json).collect::<Vec<_>>(),
        "elapsed_ms": r.elapsed.as_millis() as u64,
    })
}

/// One finding as JSON.
pub fn finding_json(f: &Finding) -> serde_json::Value {
    serde_json::json!({
        "kind": f.kind.as_str(),
        "severity": if f.kind.is_warning() { "warning" } else { "tampering" },
        "seq": f.seq,
        "id": f.entry_id,
        "expected": f.expected,
        "found": f.found,
        "message": f.message,
    })
}
