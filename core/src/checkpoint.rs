//! Checkpoints: the anchor kept outside the archive (docs/FORMAT.md §5).
//!
//! The text follows C2SP tlog-checkpoint: an origin line naming the archive, the
//! tree size, the base64 RFC 6962 Merkle root, then extension lines; auditlens
//! has exactly one, `chain <hex>` with the chain head. A signed note's signature
//! lines may follow a blank line; they are not part of the checkpoint body.
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
use crate::note::{self, quoted};

const ORIGIN_PREFIX: &str = "auditlens.archive/";
const CHAIN_PREFIX: &str = "chain ";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub archive_id: ArchiveId,
    /// Number of entries (the tree size).
    pub size: u64,
    /// RFC 6962 Merkle tree hash over the first `size` leaf hashes.
    pub root: Hash,
    /// Chain hash of entry `size` (the genesis hash when empty).
    pub head: Hash,
}

impl Checkpoint {
    pub fn origin(&self) -> String {
        format!("{ORIGIN_PREFIX}{}", self.archive_id)
    }

    /// The checkpoint body, newline-terminated: the one text of this checkpoint.
    pub fn to_text(&self) -> String {
        format!(
            "{}\n{}\n{}\n{CHAIN_PREFIX}{}\n",
            self.origin(),
            self.size,
            STANDARD.encode(self.root.0),
            self.head
        )
    }

    /// Parses a checkpoint text, signed or not: the body must be exactly the
    /// four lines [`Checkpoint::to_text`] writes. The signature lines after
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
        if let Some(extra) = lines.get(4) {
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
                     knows only `chain` (line 4); upgrade auditlens if a newer one wrote it",
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
        })
    }
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
