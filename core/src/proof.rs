//! Proofs that travel (docs/FORMAT.md, "Signed checkpoint" and "Proofs in exports").
//!
//! Ties the Merkle proofs (`merkle`) and signed notes (`note`) to archives,
//! checkpoints and exports:
//!
//! * a [`SignedCheckpoint`] is a checkpoint with its signature lines;
//! * every entry of an export carries an [`EntryProof`] (its leaf index and
//!   inclusion path) against the export's checkpoint, so that a filtered
//!   subset proves each entry without the archive; CSV exports keep the
//!   proofs in a sidecar file `OUT.proof.json` ([`SidecarReader`]);
//! * [`InclusionCheck`] checks those proofs while an export is verified;
//! * [`consistency`] proves that an archive today extends an old checkpoint.

use std::io::BufReader;
use std::path::{Path, PathBuf};

use crate::archive::{Archive, ArchiveError, Column, Columns, Scan};
use crate::chain::{self, ArchiveId, Hash};
use crate::checkpoint::Checkpoint;
use crate::finding::{Finding, FindingKind};
use crate::job::Job;
use crate::json::{self, Json, Parser};
use crate::merkle::{self, ProofError, Tree};
use crate::note::{self, Note, NoteError, SignatureCheck, SignerKey, VerifierKey};

/// Key of an entry's leaf index in JSON and NDJSON exports.
pub const PROOF_INDEX_KEY: &str = "leaf_index";
/// Key of an entry's inclusion path (hex hashes, leaf to root) in exports.
pub const PROOF_PATH_KEY: &str = "inclusion";
/// Value of the export header's `"proofs"` key: every entry carries an RFC 6962 inclusion proof.
pub const PROOFS_KIND: &str = "rfc6962-inclusion";
/// Value of the export header's `"proofs"` key for an export of every entry of
/// its checkpoint: the root rebuilt from all the leaves is the proof, so the
/// entries carry none (an inclusion proof per entry would outweigh the entry).
pub const PROOFS_WHOLE: &str = "rfc6962-root";
/// A CSV export `OUT` keeps its proofs in `OUT` + this suffix.
pub const SIDECAR_SUFFIX: &str = ".proof.json";
/// Header and footer keys of a proof sidecar.
pub const SIDECAR_HEADER_KEY: &str = "auditlens_proof";
pub const SIDECAR_FOOTER_KEY: &str = "auditlens_proof_end";

/// What an export's (or proof sidecar's) `"proofs"` value says it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProofsKind {
    /// Absent or null: an export made before proofs existed.
    None,
    /// `"rfc6962-inclusion"`: every entry carries an inclusion proof.
    Inclusion,
    /// `"rfc6962-root"`: the export holds every entry of its checkpoint.
    Whole,
}

/// Reads a `"proofs"` value. A value this version does not know is refused:
/// a newer format may mean something this verifier cannot check, and
/// reading it as "no proofs" or "some proofs" would give a verdict on a
/// guess.
pub fn proofs_kind(v: Option<&Json>) -> Result<ProofsKind, String> {
    match v {
        None | Some(Json::Null) => Ok(ProofsKind::None),
        Some(Json::String(s)) if s == PROOFS_KIND => Ok(ProofsKind::Inclusion),
        Some(Json::String(s)) if s == PROOFS_WHOLE => Ok(ProofsKind::Whole),
        Some(other) => Err(format!(
            "its \"proofs\" value {} is unknown: this version of auditlens knows \"{PROOFS_KIND}\", \
             \"{PROOFS_WHOLE}\" or none (absent or null); use a newer auditlens",
            other.to_canonical()
        )),
    }
}

/// One entry's inclusion proof: leaf index `seq - 1` and the sibling hashes from leaf to root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryProof {
    pub leaf_index: u64,
    pub path: Vec<Hash>,
}

impl EntryProof {
    /// Reads the `leaf_index` and `inclusion` values of an exported entry.
    pub fn from_json(index: Option<&Json>, path: Option<&Json>) -> Result<EntryProof, String> {
        let leaf_index = match index {
            Some(Json::Number(n)) => n
                .parse::<u64>()
                .map_err(|_| format!("{PROOF_INDEX_KEY:?} must be a non-negative integer"))?,
            _ => return Err(format!("{PROOF_INDEX_KEY:?} is missing or not a number")),
        };
        let Some(Json::Array(items)) = path else {
            return Err(format!(
                "{PROOF_PATH_KEY:?} is missing or not a list of hashes"
            ));
        };
        if items.len() > 64 {
            return Err(format!("{PROOF_PATH_KEY:?} has more than 64 hashes"));
        }
        let path = items
            .iter()
            .map(|h| {
                h.as_str().and_then(Hash::from_hex).ok_or_else(|| {
                    format!("{PROOF_PATH_KEY:?} holds a value that is not 64 hex digits")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(EntryProof { leaf_index, path })
    }

    /// Appends `"leaf_index":N,"inclusion":["…",…]` (no surrounding braces).
    pub fn write_json(&self, out: &mut String) {
        out.push('"');
        out.push_str(PROOF_INDEX_KEY);
        out.push_str("\":");
        out.push_str(&self.leaf_index.to_string());
        out.push_str(",\"");
        out.push_str(PROOF_PATH_KEY);
        out.push_str("\":[");
        for (i, h) in self.path.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('"');
            out.push_str(&h.to_hex());
            out.push('"');
        }
        out.push(']');
    }
}

/// A checkpoint together with its signature lines (a C2SP signed note).
#[derive(Clone, Debug)]
pub struct SignedCheckpoint {
    pub checkpoint: Checkpoint,
    /// The note as read (no signatures for a checkpoint written unsigned).
    pub note: Note,
}

impl SignedCheckpoint {
    /// Reads a checkpoint file or an export's checkpoint text, signed or not,
    /// strictly: its one canonical text and well-formed signature lines, or
    /// the reason it is refused.
    pub fn parse(text: &str) -> Result<SignedCheckpoint, String> {
        let checkpoint = Checkpoint::parse(text)?;
        let note = Note::parse(text).map_err(|e| e.0)?;
        Ok(SignedCheckpoint { checkpoint, note })
    }

    /// Reads a checkpoint file (never more than [`note::MAX_NOTE_BYTES`] + 1
    /// bytes of it, so a huge or endless file is refused, not loaded).
    pub fn read(path: &Path) -> Result<SignedCheckpoint, String> {
        let text = note::read_small_file(path)?;
        SignedCheckpoint::parse(&text)
            .map_err(|m| format!("{}: not a valid checkpoint: {m}", path.display()))
    }

    /// The checkpoint's text, signed by `signer` if one is given.
    pub fn text(checkpoint: &Checkpoint, signer: Option<&SignerKey>) -> Result<String, NoteError> {
        let body = checkpoint.to_text();
        match signer {
            None => Ok(body),
            Some(s) => Ok(Note::sign(&body, s)?.to_text()),
        }
    }

    /// Names on the signature lines (whether or not anyone can check them).
    pub fn signers(&self) -> Vec<String> {
        self.note
            .signatures
            .iter()
            .map(|s| s.name.clone())
            .collect()
    }

    /// Checks the signatures against `keys`; the findings say why the
    /// checkpoint is not accepted (empty when it is). `what` names the
    /// checkpoint in messages ("the checkpoint file", "the export's checkpoint").
    pub fn check(&self, keys: &[VerifierKey], what: &str) -> (SignatureCheck, Vec<Finding>) {
        let note = &self.note;
        let check = note.check(keys);
        let mut out = Vec::new();
        for name in &check.failed {
            out.push(Finding::new(
                FindingKind::SignatureInvalid,
                None,
                format!(
                    "{what}: the signature by {name:?} does not verify: the checkpoint text was changed \
                     after it was signed, or the signature was damaged"
                ),
            ));
        }
        if check.verified.is_empty() && check.failed.is_empty() {
            let given: Vec<String> = keys.iter().map(|k| k.name.clone()).collect();
            let msg = if note.signatures.is_empty() {
                format!(
                    "{what} is not signed, so it cannot be proven to come from {}; sign checkpoints \
                     with `auditlens checkpoint ARCHIVE --sign KEY`",
                    given.join(", ")
                )
            } else {
                format!(
                    "{what} is signed by {} but not by any key given ({})",
                    note.signatures
                        .iter()
                        .map(|s| format!("{:?}", s.name))
                        .collect::<Vec<_>>()
                        .join(", "),
                    given.join(", ")
                )
            };
            out.push(Finding::new(FindingKind::NotSigned, None, msg));
        }
        (check, out)
    }
}

/// The height of the lowest level an archive's tree keeps in memory: n/32
/// hashes (one byte per entry, 10 MB at ten million entries), where the
/// whole tree would take 64 bytes per entry; an inclusion proof reads back
/// at most one block of 64 stored leaf hashes.
const ARCHIVE_TREE_LOW: u32 = 6;

/// The archive's Merkle tree as [`archive_tree`] keeps it: the upper levels
/// in memory, the leaves read back from the archive.
pub type ArchiveTree<'a> = Tree<ArchiveLeaves<'a>>;

/// The leaves of an archive's tree, read back block by block from its
/// `leaf_hash` column (the last block kept: an export asks in seq order).
/// Entries are only ever appended, so the first `size` leaves read back are
/// the ones the tree was built from.
pub struct ArchiveLeaves<'a> {
    archive: &'a Archive,
    block: std::cell::RefCell<Option<(u64, Vec<Hash>)>>,
}

impl merkle::LeafSource for ArchiveLeaves<'_> {
    type Error = ArchiveError;

    fn leaves(&self, lo: u64, hi: u64) -> Result<Vec<Hash>, ArchiveError> {
        let start = lo >> ARCHIVE_TREE_LOW << ARCHIVE_TREE_LOW;
        let mut block = self.block.borrow_mut();
        if block.as_ref().is_none_or(|(s, _)| *s != start) {
            let leaves = self
                .archive
                .leaf_hashes(start + 1..=start + (1 << ARCHIVE_TREE_LOW))?;
            *block = Some((start, leaves));
        }
        let leaves = block
            .as_ref()
            .map(|(_, l)| l.as_slice())
            .unwrap_or_default();
        let (a, b) = ((lo - start) as usize, (hi - start) as usize);
        leaves.get(a..b).map(<[Hash]>::to_vec).ok_or_else(|| {
            ArchiveError(format!(
                "{}: entries {}..{} are missing; run `auditlens verify` on it",
                self.archive.path().display(),
                lo + 1,
                hi
            ))
        })
    }
}

/// The archive's Merkle tree over its stored leaf hashes and the checkpoint
/// of that tree, in one pass and in bounded memory ([`ARCHIVE_TREE_LOW`]).
/// Refuses an archive whose seqs have gaps: proofs by leaf index would not
/// match seqs (`auditlens verify` says what happened).
pub fn archive_tree<'a>(
    archive: &'a Archive,
    job: &Job,
) -> Result<(ArchiveTree<'a>, Checkpoint), ArchiveError> {
    let mut head = chain::genesis(&archive.id());
    let cols = Columns::of(&[Column::LeafHash, Column::ChainHash]);
    let mut cursor = archive.open_scan(&Scan::all(cols))?;
    let mut rows = cursor.rows()?;
    let mut count = 0u64;
    let leaves = std::iter::from_fn(|| {
        let r = match rows.next() {
            Ok(Some(r)) => r,
            Ok(None) => return None,
            Err(e) => return Some(Err(e)),
        };
        let seq = r.rowid();
        if seq != count as i64 + 1 {
            return Some(Err(ArchiveError(format!(
                "{}: entry {} is missing; the archive is damaged, so no proofs can be made \
                 (run `auditlens verify` on it)",
                archive.path().display(),
                count + 1
            ))));
        }
        let leaf = Hash::from_slice(r.get(Column::LeafHash).bytes());
        let link = Hash::from_slice(r.get(Column::ChainHash).bytes());
        let (Some(leaf), Some(link)) = (leaf, link) else {
            return Some(Err(ArchiveError(format!(
                "{}: entry {seq} has a damaged hash column; run `auditlens verify` on it",
                archive.path().display()
            ))));
        };
        head = link;
        count += 1;
        if count.is_multiple_of(65_536) {
            job.set_done(count);
            if job.is_cancelled() {
                return Some(Err(ArchiveError("cancelled".into())));
            }
        }
        Some(Ok(leaf))
    });
    let source = ArchiveLeaves {
        archive,
        block: Default::default(),
    };
    let tree = Tree::build(ARCHIVE_TREE_LOW, leaves, source)?;
    let cp = Checkpoint {
        archive_id: archive.id(),
        size: tree.size(),
        root: tree.try_root()?,
        head,
        indexes: None,
    };
    Ok((tree, cp))
}

/// The proof file name of a CSV export.
pub fn sidecar_path(export: &Path) -> PathBuf {
    let mut s = export.as_os_str().to_owned();
    s.push(SIDECAR_SUFFIX);
    PathBuf::from(s)
}

/// Reads a proof sidecar entry by entry (it may be as large as the export).
pub struct SidecarReader {
    pub path: PathBuf,
    pub archive_id: ArchiveId,
    pub checkpoint: SignedCheckpoint,
    /// The checkpoint text as written.
    pub checkpoint_text: String,
    /// The export holds every entry of the checkpoint ([`PROOFS_WHOLE`]).
    pub whole: bool,
    parser: Parser<BufReader<std::fs::File>>,
    first: bool,
    done: bool,
    pub footer_count: Option<u64>,
    /// The completeness proof in the footer (docs/FORMAT.md §14), if any.
    pub footer_complete: Option<Json>,
    /// The filter the CSV export was made with (as an export header's).
    pub filter: Option<Json>,
}

impl SidecarReader {
    /// Opens the sidecar of a CSV export, `None` if there is none.
    pub fn open_for(export: &Path) -> Result<Option<SidecarReader>, String> {
        let path = sidecar_path(export);
        if !path.exists() {
            return Ok(None);
        }
        SidecarReader::open(&path).map(Some)
    }

    pub fn open(path: &Path) -> Result<SidecarReader, String> {
        let fail = |m: String| format!("{}: {m}", path.display());
        let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
        let mut p = Parser::new(BufReader::new(file));
        let e = |e: json::JsonError| fail(e.to_string());
        p.skip_bom_and_ws().map_err(e)?;
        p.expect(b'{').map_err(e)?;
        let k = p.parse_key().map_err(e)?;
        if k != SIDECAR_HEADER_KEY {
            return Err(fail(format!(
                "not an auditlens proof file (starts with {k:?})"
            )));
        }
        let h = p.parse_value().map_err(e)?;
        if !matches!(h.get("version"), Some(Json::Number(n)) if n == "1") {
            return Err(fail(
                "unsupported proof file version; use a newer auditlens".into(),
            ));
        }
        let archive_id = h
            .get("archive_id")
            .and_then(Json::as_str)
            .and_then(ArchiveId::parse)
            .ok_or_else(|| fail("the proof file has no valid archive_id".into()))?;
        let text = h
            .get("checkpoint")
            .and_then(Json::as_str)
            .ok_or_else(|| fail("the proof file has no checkpoint".into()))?
            .to_string();
        let checkpoint =
            SignedCheckpoint::parse(&text).map_err(|m| fail(format!("its checkpoint: {m}")))?;
        if checkpoint.checkpoint.archive_id != archive_id {
            return Err(fail(format!(
                "its archive_id {archive_id} is not the archive its checkpoint names ({}): the proof \
                 file was edited",
                checkpoint.checkpoint.archive_id
            )));
        }
        let whole = proofs_kind(h.get("proofs"))
            .map_err(|m| fail(format!("the proof file: {m}")))?
            == ProofsKind::Whole;
        p.expect(b',').map_err(e)?;
        let k = p.parse_key().map_err(e)?;
        if k != "entries" {
            return Err(fail(format!("expected \"entries\", found {k:?}")));
        }
        p.expect(b'[').map_err(e)?;
        Ok(SidecarReader {
            path: path.to_path_buf(),
            archive_id,
            checkpoint,
            checkpoint_text: text,
            whole,
            parser: p,
            first: true,
            done: false,
            footer_count: None,
            footer_complete: None,
            filter: h.get("filter").cloned(),
        })
    }

    /// The next (seq, leaf hash, proof); `Err` (then `None`) if the file is malformed from here on.
    pub fn next_proof(&mut self) -> Option<Result<(u64, Hash, EntryProof), String>> {
        if self.done {
            return None;
        }
        let r = self.read();
        if !matches!(r, Some(Ok(_))) {
            self.done = true;
        }
        r
    }

    fn read(&mut self) -> Option<Result<(u64, Hash, EntryProof), String>> {
        let p = &mut self.parser;
        let path = &self.path;
        let line = p.line();
        let fail = |m: String| format!("{} line {line}: {m}", path.display());
        let step = (|| -> Result<Option<Json>, json::JsonError> {
            if p.eat(b']')? {
                return Ok(None);
            }
            if !self.first {
                p.expect(b',')?;
            }
            Ok(Some(p.parse_value()?))
        })();
        self.first = false;
        match step {
            Err(e) => Some(Err(fail(e.to_string()))),
            Ok(None) => {
                // The footer: its count, then the end of the file.
                let end = (|| -> Result<(u64, Option<Json>), String> {
                    let e = |e: json::JsonError| e.to_string();
                    p.expect(b',').map_err(e)?;
                    let k = p.parse_key().map_err(e)?;
                    if k != SIDECAR_FOOTER_KEY {
                        return Err(format!("expected {SIDECAR_FOOTER_KEY:?}, found {k:?}"));
                    }
                    // It lists the entries of the completeness proof.
                    p.set_budget(json::MAX_FOOTER_BYTES);
                    let v = p.parse_value().map_err(e)?;
                    let n = v
                        .get("count")
                        .and_then(|c| match c {
                            Json::Number(n) => n.parse().ok(),
                            _ => None,
                        })
                        .ok_or("malformed end record")?;
                    p.expect(b'}').map_err(e)?;
                    p.skip_ws().map_err(e)?;
                    if p.peek().map_err(e)?.is_some() {
                        return Err("data after the end of the proof file".into());
                    }
                    Ok((n, v.get("complete").cloned()))
                })();
                match end {
                    Ok((n, complete)) => {
                        self.footer_count = Some(n);
                        self.footer_complete = complete;
                        None
                    }
                    Err(m) => Some(Err(fail(format!(
                        "{m} (the proof file was cut short or edited)"
                    )))),
                }
            }
            Ok(Some(v)) => {
                let r = (|| -> Result<(u64, Hash, EntryProof), String> {
                    let seq = match v.get("seq") {
                        Some(Json::Number(n)) => n.parse::<u64>().ok().filter(|s| *s > 0),
                        _ => None,
                    }
                    .ok_or("\"seq\" is missing or not a positive integer")?;
                    let leaf = v
                        .get("leaf_hash")
                        .and_then(Json::as_str)
                        .and_then(Hash::from_hex)
                        .ok_or("\"leaf_hash\" is missing or not 64 hex digits")?;
                    let proof =
                        EntryProof::from_json(v.get(PROOF_INDEX_KEY), v.get(PROOF_PATH_KEY))?;
                    Ok((seq, leaf, proof))
                })();
                Some(r.map_err(fail))
            }
        }
    }
}

/// What the inclusion proofs of an export showed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProofSummary {
    /// The export carries proofs (in its entries or a sidecar).
    pub carried: bool,
    /// Entries whose proof leads to the checkpoint's root.
    pub proven: u64,
    /// The tree size the proofs refer to.
    pub size: u64,
    /// The sidecar footer's completeness proof (CSV exports).
    pub complete: Option<Json>,
}

/// Checks each exported entry's inclusion proof against the checkpoint the
/// export names, while the export is read in order.
pub struct InclusionCheck {
    checkpoint: Option<Checkpoint>,
    /// The export promised a proof for every entry.
    expected: bool,
    sidecar: Option<SidecarReader>,
    /// The sidecar's next proof, read ahead to align it with the rows.
    pending: Option<(u64, Hash, EntryProof)>,
    /// The leaf hash the sidecar names for the entry being checked.
    sidecar_leaf: Option<Hash>,
    sidecar_count: u64,
    summary: ProofSummary,
}

impl InclusionCheck {
    pub fn new(
        checkpoint: Option<Checkpoint>,
        expected: bool,
        sidecar: Option<SidecarReader>,
    ) -> InclusionCheck {
        let carried = expected || sidecar.as_ref().is_some_and(|s| !s.whole);
        InclusionCheck {
            summary: ProofSummary {
                carried,
                proven: 0,
                size: checkpoint.as_ref().map_or(0, |c| c.size),
                complete: None,
            },
            expected: carried,
            checkpoint,
            sidecar,
            pending: None,
            sidecar_leaf: None,
            sidecar_count: 0,
        }
    }

    /// Reads sidecar proofs up to `seq`; proofs for seqs with no row are findings.
    fn sidecar_proof(
        &mut self,
        seq: u64,
        out: &mut Vec<Finding>,
    ) -> Option<Result<EntryProof, String>> {
        loop {
            if self.pending.is_none() {
                let reader = self.sidecar.as_mut()?;
                match reader.next_proof() {
                    None => return None,
                    Some(Err(m)) => {
                        out.push(Finding::new(FindingKind::Unproven, Some(seq), m.clone()));
                        return Some(Err(m));
                    }
                    Some(Ok(p)) => {
                        self.sidecar_count += 1;
                        self.pending = Some(p);
                    }
                }
            }
            let (s, _, _) = self.pending.as_ref().expect("pending proof");
            if *s < seq {
                let (s, _, _) = self.pending.take().expect("pending proof");
                out.push(missing_row(s));
                continue;
            }
            if *s > seq {
                return None;
            }
            let (_, leaf, p) = self.pending.take().expect("pending proof");
            self.sidecar_leaf = Some(leaf);
            return Some(Ok(p));
        }
    }

    /// Checks the entry at `seq` whose record hashes to `computed_leaf`.
    /// `own` is the proof the entry carries itself (JSON, NDJSON).
    pub fn check(
        &mut self,
        seq: u64,
        entry_id: Option<&str>,
        computed_leaf: &Hash,
        stored_leaf: &Hash,
        own: Option<&Result<EntryProof, String>>,
    ) -> Vec<Finding> {
        let mut out = Vec::new();
        self.sidecar_leaf = None;
        let from_sidecar = if self.sidecar.is_some() || self.pending.is_some() {
            self.sidecar_proof(seq, &mut out)
        } else {
            None
        };
        if let Some(l) = self.sidecar_leaf
            && l != *stored_leaf
        {
            let mut f = Finding::new(
                FindingKind::InclusionFailed,
                Some(seq),
                "the proof file names another leaf hash for this entry than the export: one of them was changed",
            );
            f.entry_id = entry_id.map(str::to_string);
            f.expected = Some(l.to_hex());
            f.found = Some(stored_leaf.to_hex());
            out.push(f);
            return out;
        }
        let proof = own.cloned().or(from_sidecar);
        let with_id = |mut f: Finding| {
            f.entry_id = entry_id.map(str::to_string);
            f
        };
        match (proof, &self.checkpoint) {
            (None, _) => {
                if self.expected {
                    out.push(with_id(Finding::new(
                        FindingKind::Unproven,
                        Some(seq),
                        "this entry has no inclusion proof although the export carries one for every \
                         entry (the proof was removed, or the entry added)",
                    )));
                }
            }
            (Some(Err(m)), _) => out.push(with_id(Finding::new(
                FindingKind::Unproven,
                Some(seq),
                format!("its inclusion proof cannot be read: {m}"),
            ))),
            (Some(Ok(_)), None) => out.push(with_id(Finding::new(
                FindingKind::Unproven,
                Some(seq),
                "the export names no checkpoint to prove this entry against",
            ))),
            (Some(Ok(p)), Some(cp)) => {
                if p.leaf_index != seq - 1 {
                    let mut f = Finding::new(
                        FindingKind::InclusionFailed,
                        Some(seq),
                        format!(
                            "its proof is for leaf index {} but entry {seq} is leaf {} (renumbered?)",
                            p.leaf_index,
                            seq - 1
                        ),
                    );
                    f.expected = Some((seq - 1).to_string());
                    f.found = Some(p.leaf_index.to_string());
                    out.push(with_id(f));
                } else {
                    match merkle::verify_inclusion(
                        seq - 1,
                        cp.size,
                        computed_leaf,
                        &p.path,
                        &cp.root,
                    ) {
                        Ok(()) => self.summary.proven += 1,
                        // A record that does not match its own leaf hash is reported by the chain walk.
                        Err(_) if computed_leaf != stored_leaf => {}
                        Err(e) => out.push(with_id(inclusion_failed(seq, cp, &e))),
                    }
                }
            }
        }
        out
    }

    /// Passes over the entry at `seq`, whose record cannot be read: its
    /// proof in the sidecar, if any, is taken as its row's (so it is not
    /// reported as a removed row) and proves nothing. The unreadable record
    /// is the finding.
    pub fn skip_unreadable(&mut self, seq: u64) -> Vec<Finding> {
        let mut out = Vec::new();
        if self.sidecar.is_some() || self.pending.is_some() {
            let _ = self.sidecar_proof(seq, &mut out);
        }
        out
    }

    /// Entries proven so far (to tell, after [`Self::check`], whether that entry was).
    pub fn proven(&self) -> u64 {
        self.summary.proven
    }

    /// Findings for sidecar proofs left over (their rows are missing).
    pub fn finish(mut self) -> (ProofSummary, Vec<Finding>) {
        let mut out = Vec::new();
        if let Some((s, _, _)) = self.pending.take() {
            out.push(missing_row(s));
        }
        if let Some(reader) = self.sidecar.as_mut() {
            while let Some(r) = reader.next_proof() {
                match r {
                    Ok((s, _, _)) => {
                        self.sidecar_count += 1;
                        out.push(missing_row(s));
                    }
                    Err(m) => out.push(Finding::new(FindingKind::Unproven, None, m)),
                }
            }
            if let Some(n) = reader.footer_count
                && n != self.sidecar_count
            {
                let mut f = Finding::new(
                    FindingKind::ExportIncomplete,
                    None,
                    format!(
                        "the proof file says it holds {n} proofs but {} were read",
                        self.sidecar_count
                    ),
                );
                f.expected = Some(n.to_string());
                f.found = Some(self.sidecar_count.to_string());
                out.push(f);
            }
            self.summary.complete = reader.footer_complete.take();
        }
        (self.summary, out)
    }
}

fn missing_row(seq: u64) -> Finding {
    Finding::new(
        FindingKind::ExportIncomplete,
        Some(seq),
        format!("the proof file proves entry {seq} but the export has no row for it (row removed)"),
    )
}

fn inclusion_failed(seq: u64, cp: &Checkpoint, e: &ProofError) -> Finding {
    Finding::new(
        FindingKind::InclusionFailed,
        Some(seq),
        format!(
            "this entry is not proven to be entry {seq} of the checkpoint's {} entries ({e}): the entry, \
             its seq or its proof was changed, or it comes from another archive",
            cp.size
        ),
    )
}

/// The result of proving that an archive extends an old checkpoint.
#[derive(Clone, Debug)]
pub struct Consistency {
    pub old: Checkpoint,
    /// The archive's checkpoint today.
    pub new: Checkpoint,
    /// The RFC 6962 consistency proof from `old.size` to `new.size` leaves.
    pub proof: Vec<Hash>,
    /// Why the archive does not extend the old checkpoint; empty when it does.
    pub findings: Vec<Finding>,
}

/// Proves that the archive today extends the archive `old` described: the
/// consistency proof from the old tree to today's, checked against both roots,
/// and the chain head at the old size.
pub fn consistency(
    archive: &Archive,
    old: &Checkpoint,
    job: &Job,
) -> Result<Consistency, ArchiveError> {
    let (tree, new) = archive_tree(archive, job)?;
    let mut findings = Vec::new();
    let mut proof = Vec::new();
    if old.archive_id != new.archive_id {
        let mut f = Finding::new(
            FindingKind::WrongArchive,
            None,
            "the old checkpoint is for another archive",
        );
        f.expected = Some(old.archive_id.to_string());
        f.found = Some(new.archive_id.to_string());
        findings.push(f);
    } else if old.size > new.size {
        let mut f = Finding::new(
            FindingKind::Truncated,
            Some(new.size + 1),
            format!(
                "the old checkpoint records {} entries but the archive now holds {}: the tail was cut off",
                old.size, new.size
            ),
        );
        f.expected = Some(old.size.to_string());
        f.found = Some(new.size.to_string());
        findings.push(f);
    } else {
        proof = tree
            .try_consistency_proof(old.size, new.size)?
            .unwrap_or_default();
        let chain_ok = old.size == 0 && old.head == chain::genesis(&old.archive_id)
            || old.size > 0 && stored_chain(archive, old.size)? == Some(old.head);
        if let Err(e) = merkle::verify_consistency(old.size, new.size, &proof, &old.root, &new.root)
        {
            let mut f = Finding::new(
                FindingKind::Rewritten,
                Some(old.size),
                format!(
                    "the first {} entries are not the ones the old checkpoint records ({e}): history was rewritten",
                    old.size
                ),
            );
            f.expected = Some(format!("root {}", old.root));
            f.found = tree.try_root_at(old.size)?.map(|r| format!("root {r}"));
            findings.push(f);
        } else if !chain_ok {
            findings.push(Finding::new(
                FindingKind::Rewritten,
                Some(old.size),
                format!(
                    "the chain head at entry {} is not the one the old checkpoint records",
                    old.size
                ),
            ));
        }
    }
    Ok(Consistency {
        old: old.clone(),
        new,
        proof,
        findings,
    })
}

/// The chain hash stored at `seq`, if it is stored and 32 bytes long.
fn stored_chain(archive: &Archive, seq: u64) -> Result<Option<Hash>, ArchiveError> {
    let mut found = None;
    archive.scan::<ArchiveError>(&Scan::one(Columns::of(&[Column::ChainHash]), seq), |r| {
        found = Hash::from_slice(r.get(Column::ChainHash).bytes());
        Ok(())
    })?;
    Ok(found)
}

/// First line of a consistency proof file (docs/FORMAT.md §10).
pub const CONSISTENCY_PROOF_TAG: &str = "auditlens-consistency-proof v1";
/// At most this many hashes in a consistency proof: a proof between two
/// trees of fewer than 2^64 leaves has at most 2 × 64.
const MAX_CONSISTENCY_HASHES: usize = 128;
/// The largest consistency proof file read (the longest one is under 9 kB).
const MAX_PROOF_FILE_BYTES: u64 = 16 * 1024;

/// A consistency proof as a file: which archive, from which size to which,
/// and the RFC 6962 proof. With the two checkpoints it shows, without the
/// archive, that the later one extends the earlier one ([`check_consistency`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsistencyProof {
    pub archive_id: ArchiveId,
    pub old_size: u64,
    pub new_size: u64,
    pub path: Vec<Hash>,
}

impl ConsistencyProof {
    /// The file's one text: the tag, `origin …`, `old M`, `new N`, then one
    /// hash per line in lower-case hex, every line ending in a newline.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{CONSISTENCY_PROOF_TAG}\norigin auditlens.archive/{}\nold {}\nnew {}\n",
            self.archive_id, self.old_size, self.new_size
        );
        for h in &self.path {
            s.push_str(&h.to_hex());
            s.push('\n');
        }
        s
    }

    /// Reads the text [`ConsistencyProof::to_text`] writes, and nothing else:
    /// like checkpoints, a proof file has one text.
    pub fn parse(text: &str) -> Result<ConsistencyProof, String> {
        note::check_chars(text).map_err(|e| e.0)?;
        let lines: Vec<&str> = text.split_terminator('\n').collect();
        if lines.first() != Some(&CONSISTENCY_PROOF_TAG) {
            return Err(format!(
                "this is not an auditlens consistency proof: its first line should be \
                 {CONSISTENCY_PROOF_TAG:?}; write one with `auditlens consistency ARCHIVE --old OLD -o FILE`"
            ));
        }
        let field = |n: usize, key: &str| -> Result<&str, String> {
            lines
                .get(n - 1)
                .and_then(|l| l.strip_prefix(key))
                .and_then(|l| l.strip_prefix(' '))
                .ok_or_else(|| format!("line {n} should be `{key} …`"))
        };
        let origin = field(2, "origin")?;
        let archive_id = origin
            .strip_prefix("auditlens.archive/")
            .and_then(|id| ArchiveId::parse(id).filter(|a| a.to_string() == id))
            .ok_or_else(|| {
                format!("bad origin {origin:?} on line 2 (expected auditlens.archive/ and 32 lower-case hex digits)")
            })?;
        let size = |n: usize, key: &str| -> Result<u64, String> {
            let s = field(n, key)?;
            let canonical = !s.is_empty()
                && s.bytes().all(|b| b.is_ascii_digit())
                && (s == "0" || !s.starts_with('0'));
            s.parse::<u64>().ok().filter(|_| canonical).ok_or_else(|| {
                format!("the size {s:?} on line {n} is not a decimal number without leading zeros")
            })
        };
        let old_size = size(3, "old")?;
        let new_size = size(4, "new")?;
        let hashes = &lines[4.min(lines.len())..];
        if hashes.len() > MAX_CONSISTENCY_HASHES {
            return Err(format!(
                "the proof has {} hashes; a consistency proof has at most {MAX_CONSISTENCY_HASHES}",
                hashes.len()
            ));
        }
        let path = hashes
            .iter()
            .enumerate()
            .map(|(i, h)| {
                Hash::from_hex(h)
                    .filter(|x| x.to_hex() == *h)
                    .ok_or_else(|| format!("line {}: {h:?} is not 64 lower-case hex digits", i + 5))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ConsistencyProof {
            archive_id,
            old_size,
            new_size,
            path,
        })
    }

    /// Reads a proof file (at most 16 kB of it).
    pub fn read(path: &Path) -> Result<ConsistencyProof, String> {
        use std::io::Read;
        let fail = |m: String| format!("{}: {m}", path.display());
        let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
        let mut bytes = Vec::new();
        file.take(MAX_PROOF_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| fail(e.to_string()))?;
        if bytes.len() as u64 > MAX_PROOF_FILE_BYTES {
            return Err(fail(format!(
                "larger than {MAX_PROOF_FILE_BYTES} bytes: not a consistency proof"
            )));
        }
        let text = std::str::from_utf8(&bytes).map_err(|_| fail("not UTF-8 text".into()))?;
        ConsistencyProof::parse(text).map_err(fail)
    }
}

impl Consistency {
    /// The proof as a file, when there is one: two sizes of the same archive.
    pub fn proof_file(&self) -> Option<ConsistencyProof> {
        (self.old.archive_id == self.new.archive_id && self.old.size <= self.new.size).then(|| {
            ConsistencyProof {
                archive_id: self.new.archive_id,
                old_size: self.old.size,
                new_size: self.new.size,
                path: self.proof.clone(),
            }
        })
    }
}

/// Checks, without the archive, that `new` extends `old` by `proof`: both
/// checkpoints name the same archive, the proof is for their archive and
/// sizes, old ≤ new, the proof leads from the old root to the new one (equal
/// sizes: equal roots and chain heads), and, with `keys`, both checkpoints
/// are signed as section 11 asks. The findings say why not; none means
/// consistent. The chain heads of different sizes are not compared: they
/// follow from the leaves, which only the archive holds.
pub fn check_consistency(
    old: &SignedCheckpoint,
    new: &SignedCheckpoint,
    proof: &ConsistencyProof,
    keys: &[VerifierKey],
) -> Vec<Finding> {
    let mut out = Vec::new();
    if !keys.is_empty() {
        out.extend(old.check(keys, "the old checkpoint").1);
        out.extend(new.check(keys, "the new checkpoint").1);
    }
    let (o, n) = (&old.checkpoint, &new.checkpoint);
    let mismatch = |message: String, expected: String, found: String| {
        let mut f = Finding::new(FindingKind::WrongArchive, None, message);
        f.expected = Some(expected);
        f.found = Some(found);
        f
    };
    if o.archive_id != n.archive_id {
        out.push(mismatch(
            "the two checkpoints are of different archives (their origins differ): neither can \
             extend the other"
                .into(),
            o.archive_id.to_string(),
            n.archive_id.to_string(),
        ));
        return out;
    }
    if proof.archive_id != o.archive_id {
        out.push(mismatch(
            "the proof file is for another archive than the two checkpoints".into(),
            o.archive_id.to_string(),
            proof.archive_id.to_string(),
        ));
        return out;
    }
    if o.size > n.size {
        let mut f = Finding::new(
            FindingKind::Truncated,
            Some(n.size + 1),
            format!(
                "the old checkpoint records {} entries, the new one only {}: the new one cannot \
                 extend it (were the two swapped? --old is the earlier one)",
                o.size, n.size
            ),
        );
        f.expected = Some(o.size.to_string());
        f.found = Some(n.size.to_string());
        out.push(f);
        return out;
    }
    if (proof.old_size, proof.new_size) != (o.size, n.size) {
        let mut f = Finding::new(
            FindingKind::Rewritten,
            None,
            "the proof file is for other tree sizes than the two checkpoints: it proves nothing \
             about them",
        );
        f.expected = Some(format!("{} → {}", o.size, n.size));
        f.found = Some(format!("{} → {}", proof.old_size, proof.new_size));
        out.push(f);
        return out;
    }
    if let Err(e) = merkle::verify_consistency(o.size, n.size, &proof.path, &o.root, &n.root) {
        let mut f = Finding::new(
            FindingKind::Rewritten,
            Some(o.size),
            format!(
                "the proof does not lead from the old checkpoint's root to the new one's ({e}): \
                 the first {} entries the new checkpoint covers are not the old ones, or the proof \
                 or a checkpoint was changed",
                o.size
            ),
        );
        f.expected = Some(format!("root {}", n.root));
        out.push(f);
    } else if o.size == n.size && o.head != n.head {
        let mut f = Finding::new(
            FindingKind::Rewritten,
            Some(o.size),
            "the two checkpoints have the same size and root but different chain heads: one was \
             changed",
        );
        f.expected = Some(o.head.to_hex());
        f.found = Some(n.head.to_hex());
        out.push(f);
    }
    out
}
