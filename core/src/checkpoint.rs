//! Checkpoints: the anchor kept outside the archive (docs/FORMAT.md §5).
//!
//! The text follows C2SP tlog-checkpoint: an origin line naming the archive, the
//! tree size, the base64 RFC 6962 Merkle root, then extension lines: `chain <hex>`
//! with the chain head, and, from the version with complete exports, one
//! `index <name> <base64 root>` line per index tree in a fixed order
//! (`index_tree`, docs/FORMAT.md §14). A signed note's signature lines may
//! follow a blank line; they are not part of the checkpoint body.
//!
//! Parsing is strict: a checkpoint has exactly one text, the one [`Checkpoint::to_text`]
//! writes. Every other form (CRLF, no final newline, `020000`, upper-case hex,
//! a second `chain` line, trailing spaces, …) is refused with the reason, as
//! Go's `sumdb/tlog` refuses a non-canonical tree size: two texts for one
//! checkpoint would let an edited file pass for the signed one, and a lenient
//! reader disagrees with every strict one.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::chain::{ArchiveId, Hash};
use crate::index_tree::{INDEXES, IndexRoots};
use crate::note::{self, quoted};

const ORIGIN_PREFIX: &str = "auditlens.archive/";
const CHAIN_PREFIX: &str = "chain ";
const INDEX_PREFIX: &str = "index ";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub archive_id: ArchiveId,
    /// Number of entries (the tree size).
    pub size: u64,
    /// RFC 6962 Merkle tree hash over the first `size` leaf hashes.
    pub root: Hash,
    /// Chain hash of entry `size` (the genesis hash when empty).
    pub head: Hash,
    /// The roots of the index trees over the same entries; `None` in
    /// checkpoints made before complete exports (they prove what they did).
    pub indexes: Option<IndexRoots>,
}

impl Checkpoint {
    pub fn origin(&self) -> String {
        format!("{ORIGIN_PREFIX}{}", self.archive_id)
    }

    /// The checkpoint body, newline-terminated: the one text of this checkpoint.
    pub fn to_text(&self) -> String {
        let mut t = format!(
            "{}\n{}\n{}\n{CHAIN_PREFIX}{}\n",
            self.origin(),
            self.size,
            STANDARD.encode(self.root.0),
            self.head
        );
        if let Some(ix) = &self.indexes {
            for kind in INDEXES {
                t.push_str(&format!(
                    "{INDEX_PREFIX}{} {}\n",
                    kind.name(),
                    STANDARD.encode(ix.get(kind).0)
                ));
            }
        }
        t
    }

    /// Do the two describe the same entries (archive, size, root, chain
    /// head), and the same index trees where both carry them? An old
    /// checkpoint without index roots still anchors what it proved before.
    pub fn same_log(&self, other: &Checkpoint) -> bool {
        self.archive_id == other.archive_id
            && self.size == other.size
            && self.root == other.root
            && self.head == other.head
            && match (&self.indexes, &other.indexes) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }

    /// Parses a checkpoint text, signed or not: the body must be exactly the
    /// four lines [`Checkpoint::to_text`] writes, or those and the five
    /// `index` lines. The signature lines after
    /// the blank line are not read here (`proof::SignedCheckpoint` reads them).
    pub fn parse(text: &str) -> Result<Checkpoint, String> {
        note::check_chars(text).map_err(|e| e.0)?;
        let signed_at = text.find("\n\n");
        let body = &text[..signed_at.map_or(text.len(), |i| i + 1)];
        let lines: Vec<&str> = body.split_terminator('\n').collect();
        let origin = lines.first().copied().unwrap_or("");
        if !origin.is_empty() && !origin.starts_with(ORIGIN_PREFIX) {
            return Err(not_auditlens());
        }
        for (i, line) in lines.iter().enumerate() {
            if line.is_empty() {
                return Err(empty_line(i + 1));
            }
            if line.ends_with(' ') {
                return Err(format!("line {} ends with a space", i + 1));
            }
        }
        let indexes = if lines.len() > 4 && lines[3].starts_with(CHAIN_PREFIX) {
            Some(parse_index_lines(&lines[4..])?)
        } else {
            None
        };
        if let Some(extra) = lines.get(4).filter(|_| indexes.is_none()) {
            return Err(if !lines[3].starts_with(CHAIN_PREFIX) {
                format!(
                    "line 4 {} should be `chain ` and the chain head in hex; \
                     no extension line comes before it",
                    quoted(lines[3])
                )
            } else if extra.starts_with(CHAIN_PREFIX) {
                "a second `chain` line (line 5): a checkpoint has exactly one".to_string()
            } else {
                format!(
                    "line 5 {} is an unknown extension line: this version of auditlens \
                     knows only `chain` (line 4) and the `index` lines; upgrade auditlens if \
                     a newer one wrote it",
                    quoted(extra)
                )
            });
        }
        if lines.len() < 4 && signed_at.is_some() {
            return Err(empty_line(lines.len() + 1));
        }
        let id = origin
            .strip_prefix(ORIGIN_PREFIX)
            .ok_or_else(not_auditlens)?;
        let archive_id = ArchiveId::parse(id)
            .filter(|a| a.to_string() == id)
            .ok_or_else(|| {
                format!(
                    "bad archive id {} in the origin line (expected 32 lower-case hex digits)",
                    quoted(id)
                )
            })?;
        let size_line = lines
            .get(1)
            .ok_or("the checkpoint ends after line 1; the tree size should follow")?;
        let size = parse_size(size_line)?;
        let root_line = lines
            .get(2)
            .ok_or("the checkpoint ends after line 2; the root hash should follow")?;
        let root = STANDARD
            .decode(root_line)
            .ok()
            .and_then(|b| Hash::from_slice(&b))
            .filter(|h| STANDARD.encode(h.0) == *root_line)
            .ok_or_else(|| {
                format!(
                    "the root hash {} on line 3 is not canonical base64 of 32 bytes",
                    quoted(root_line)
                )
            })?;
        let chain_line = lines
            .get(3)
            .ok_or("the checkpoint has no `chain` line (line 4) with the chain head")?;
        let hex = chain_line.strip_prefix(CHAIN_PREFIX).ok_or_else(|| {
            format!(
                "line 4 {} should be `chain ` and the chain head in hex",
                quoted(chain_line)
            )
        })?;
        let head = Hash::from_hex(hex)
            .filter(|h| h.to_hex() == hex)
            .ok_or_else(|| {
                format!(
                    "the chain hash {} on line 4 is not 64 lower-case hex digits",
                    quoted(hex)
                )
            })?;
        Ok(Checkpoint {
            archive_id,
            size,
            root,
            head,
            indexes,
        })
    }
}

/// The lines after `chain`: exactly one `index <name> <base64 root>` per
/// index tree, in the order of [`INDEXES`], or the text is refused.
fn parse_index_lines(lines: &[&str]) -> Result<IndexRoots, String> {
    let mut roots = [Hash::default(); 5];
    for (i, kind) in INDEXES.into_iter().enumerate() {
        let n = i + 5;
        let Some(line) = lines.get(i) else {
            return Err(format!(
                "the checkpoint ends after line {}; the `index {}` line should follow \
                 (a checkpoint has all five index lines or none)",
                n - 1,
                kind.name()
            ));
        };
        let Some(rest) = line.strip_prefix(INDEX_PREFIX) else {
            return Err(if line.starts_with(CHAIN_PREFIX) {
                format!("a second `chain` line (line {n}): a checkpoint has exactly one")
            } else {
                format!(
                    "line {n} {} is an unknown extension line: this version of auditlens \
                     knows only `chain` and the `index` lines (line {n} should be `index {}`); \
                     upgrade auditlens if a newer one wrote it",
                    quoted(line),
                    kind.name()
                )
            });
        };
        let (name, b64) = rest.split_once(' ').unwrap_or((rest, ""));
        if name != kind.name() {
            return Err(format!(
                "line {n} {} should be `index {}`: the index lines come in the order {}",
                quoted(line),
                kind.name(),
                INDEXES.map(|k| k.name()).join(", ")
            ));
        }
        roots[i] = STANDARD
            .decode(b64)
            .ok()
            .and_then(|b| Hash::from_slice(&b))
            .filter(|h| STANDARD.encode(h.0) == b64)
            .ok_or_else(|| {
                format!(
                    "the {} index root {} on line {n} is not canonical base64 of 32 bytes",
                    kind.name(),
                    quoted(b64)
                )
            })?;
    }
    if let Some(extra) = lines.get(5) {
        return Err(if extra.starts_with(CHAIN_PREFIX) {
            "a second `chain` line (line 10): a checkpoint has exactly one".to_string()
        } else {
            format!(
                "line 10 {} is an unknown extension line: this version of auditlens knows only \
                 `chain` and the five `index` lines; upgrade auditlens if a newer one wrote it",
                quoted(extra)
            )
        });
    }
    Ok(IndexRoots(roots))
}

fn not_auditlens() -> String {
    format!(
        "this is not an auditlens checkpoint: its first line should start with \
         {ORIGIN_PREFIX:?}; create one with `auditlens checkpoint ARCHIVE > FILE`"
    )
}

fn empty_line(n: usize) -> String {
    format!("line {n} is empty: a checkpoint has no empty lines before its signatures")
}

/// The tree size as C2SP writes it: ASCII decimal, no sign, no leading zero.
fn parse_size(s: &str) -> Result<u64, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "the tree size {} on line 2 is not a decimal number",
            quoted(s)
        ));
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err(format!(
            "the tree size {} on line 2 has a leading zero",
            quoted(s)
        ));
    }
    s.parse()
        .map_err(|_| format!("the tree size {} on line 2 is too large", quoted(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip() {
        let c = Checkpoint {
            archive_id: ArchiveId([7; 16]),
            size: 42,
            root: Hash([1; 32]),
            head: Hash([2; 32]),
            indexes: None,
        };
        let t = c.to_text();
        assert!(t.starts_with("auditlens.archive/07070707"));
        assert_eq!(Checkpoint::parse(&t).unwrap(), c);
        assert_eq!(
            Checkpoint::parse(&format!("{t}\n— signer AAAA\n")).unwrap(),
            c
        );
        assert!(
            Checkpoint::parse("example.com/log\n1\nAAAA\n")
                .unwrap_err()
                .contains("not an auditlens checkpoint")
        );
        assert!(Checkpoint::parse(&t.replace("\n42\n", "\nx\n")).is_err());
    }

    /// The index lines: all five in order round-trip; one missing, out of
    /// order, repeated, non-canonical or followed by another line is refused.
    #[test]
    fn index_lines_are_read_strictly() {
        let mut c = Checkpoint {
            archive_id: ArchiveId([7; 16]),
            size: 42,
            root: Hash([1; 32]),
            head: Hash([2; 32]),
            indexes: Some(IndexRoots([3, 4, 5, 6, 7].map(|b| Hash([b; 32])))),
        };
        let t = c.to_text();
        assert_eq!(t.lines().count(), 9);
        assert!(t.contains("\nindex time "));
        assert_eq!(Checkpoint::parse(&t).unwrap(), c);
        let lines: Vec<&str> = t.lines().collect();
        let join = |ls: &[&str]| ls.iter().map(|l| format!("{l}\n")).collect::<String>();
        let refused = |text: String, why: &str| {
            let e = Checkpoint::parse(&text).unwrap_err();
            assert!(e.contains(why), "{e}");
        };
        refused(join(&lines[..8]), "`index project` line should follow");
        let mut swapped = lines.clone();
        swapped.swap(5, 6);
        refused(join(&swapped), "should be `index action`");
        refused(format!("{t}index time AAAA\n"), "line 10");
        refused(
            t.replace("AwM=\nindex action", "AwN=\nindex action"),
            "not canonical base64",
        );
        refused(
            t.replace("\nindex time ", "\nindex  time "),
            "should be `index time`",
        );
        let old = Checkpoint {
            indexes: None,
            ..c.clone()
        };
        assert!(old.same_log(&c) && c.same_log(&old));
        let other = c.clone();
        c.indexes = Some(IndexRoots([Hash([9; 32]); 5]));
        assert!(!other.same_log(&c));
    }

    /// tests/vectors/checkpoints-v1.json, shared with the independent Python
    /// verifier: every accepted form parses (and is the one canonical text,
    /// signatures aside), every refused one fails with its reason.
    #[test]
    fn checkpoint_vectors_agree() {
        let raw = include_str!("../../tests/vectors/checkpoints-v1.json");
        let vectors: serde_json::Value = serde_json::from_str(raw).unwrap();
        let vectors = vectors.as_array().unwrap();
        assert!(vectors.len() > 50);
        for v in vectors {
            let name = v["name"].as_str().unwrap();
            let text = v["text"].as_str().unwrap();
            let parsed = crate::proof::SignedCheckpoint::parse(text);
            if v["valid"].as_bool().unwrap() {
                let p = parsed.unwrap_or_else(|e| panic!("{name}: refused: {e}"));
                assert!(text.starts_with(&p.checkpoint.to_text()), "{name}");
                assert_eq!(p.note.to_text(), text, "{name}");
            } else {
                let reason = v["reason"].as_str().unwrap();
                let e = parsed.err().unwrap_or_else(|| panic!("{name}: accepted"));
                assert!(e.contains(reason), "{name}: {e:?} lacks {reason:?}");
            }
        }
    }
}
