//! Checkpoints: the anchor kept outside the archive (docs/FORMAT.md).
//!
//! The text follows C2SP tlog-checkpoint: an origin line naming the archive, the
//! tree size, the base64 RFC 6962 Merkle root, then extension lines; auditlens
//! adds `chain <hex>` with the chain head. A signed note's signature lines may
//! follow a blank line; they are not part of the checkpoint body.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::chain::{ArchiveId, Hash};

const ORIGIN_PREFIX: &str = "auditlens.archive/";

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

    /// The checkpoint body, newline-terminated.
    pub fn to_text(&self) -> String {
        format!(
            "{}\n{}\n{}\nchain {}\n",
            self.origin(),
            self.size,
            STANDARD.encode(self.root.0),
            self.head
        )
    }

    /// Parses a checkpoint body (signature lines after a blank line are ignored here).
    pub fn parse(text: &str) -> Result<Checkpoint, String> {
        let body = text.split("\n\n").next().unwrap_or("");
        let mut lines = body.lines();
        let origin = lines.next().unwrap_or("").trim_end_matches('\r');
        let id = origin.strip_prefix(ORIGIN_PREFIX).ok_or_else(|| {
            format!(
                "this is not an auditlens checkpoint: its first line should start with \
                 {ORIGIN_PREFIX:?}; create one with `auditlens checkpoint ARCHIVE > FILE`"
            )
        })?;
        let archive_id = ArchiveId::parse(id)
            .ok_or_else(|| format!("bad archive id {id:?} in the origin line"))?;
        let size_line = lines
            .next()
            .ok_or("the checkpoint ends before its size line")?;
        let size: u64 = size_line
            .trim()
            .parse()
            .map_err(|_| format!("bad tree size {size_line:?} on line 2"))?;
        let root_line = lines
            .next()
            .ok_or("the checkpoint ends before its root hash line")?;
        let root = STANDARD
            .decode(root_line.trim())
            .ok()
            .and_then(|b| Hash::from_slice(&b))
            .ok_or_else(|| {
                format!("bad root hash {root_line:?} on line 3 (expected base64 of 32 bytes)")
            })?;
        let mut head = None;
        for line in lines {
            if let Some(h) = line.trim().strip_prefix("chain ") {
                head =
                    Some(Hash::from_hex(h.trim()).ok_or_else(|| format!("bad chain head {h:?}"))?);
            }
        }
        let head = head.ok_or("the checkpoint has no `chain` line with the chain head")?;
        Ok(Checkpoint {
            archive_id,
            size,
            root,
            head,
        })
    }
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
}
