//! Leaf hashes, the hash chain and the Merkle tree head (docs/FORMAT.md).
//!
//! Every entry gets a leaf hash that binds the archive identity, its sequence
//! number and its canonical record. Leaves are linked in a chain starting at a
//! genesis hash that names the archive, and the same leaves form an RFC 6962
//! Merkle tree whose root a checkpoint records.

use std::fmt;

use sha2::{Digest, Sha256};

/// A SHA-256 output.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }

    pub fn from_hex(s: &str) -> Option<Hash> {
        let bytes = from_hex(s)?;
        Some(Hash(bytes.try_into().ok()?))
    }

    pub fn from_slice(b: &[u8]) -> Option<Hash> {
        Some(Hash(b.try_into().ok()?))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

pub fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 0xf) as usize] as char);
    }
    s
}

pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// An archive's identity: 16 random bytes, written as 32 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ArchiveId(pub [u8; 16]);

impl ArchiveId {
    pub fn random() -> ArchiveId {
        let mut b = [0u8; 16];
        getrandom::fill(&mut b).expect("the operating system has no entropy source");
        ArchiveId(b)
    }

    pub fn parse(s: &str) -> Option<ArchiveId> {
        let b = from_hex(s)?;
        Some(ArchiveId(b.try_into().ok()?))
    }
}

impl fmt::Display for ArchiveId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_hex(&self.0))
    }
}

const LEAF_TAG: &[u8] = b"auditlens-v1 leaf\n";
const GENESIS_TAG: &[u8] = b"auditlens-v1 genesis\n";
const LINK_TAG: &[u8] = b"auditlens-v1 link\n";

/// RFC 6962 leaf hash of one entry:
/// `SHA-256(0x00 ‖ "auditlens-v1 leaf\n" ‖ archive_id ‖ u64be(seq) ‖ record)`.
pub fn leaf_hash(archive: &ArchiveId, seq: u64, record: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(LEAF_TAG);
    h.update(archive.0);
    h.update(seq.to_be_bytes());
    h.update(record);
    Hash(h.finalize().into())
}

/// The chain value before the first entry: `SHA-256(0x02 ‖ "auditlens-v1 genesis\n" ‖ archive_id)`.
pub fn genesis(archive: &ArchiveId) -> Hash {
    let mut h = Sha256::new();
    h.update([0x02]);
    h.update(GENESIS_TAG);
    h.update(archive.0);
    Hash(h.finalize().into())
}

/// One chain step: `SHA-256(0x02 ‖ "auditlens-v1 link\n" ‖ previous ‖ leaf)`.
pub fn chain_link(previous: &Hash, leaf: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x02]);
    h.update(LINK_TAG);
    h.update(previous.0);
    h.update(leaf.0);
    Hash(h.finalize().into())
}

/// RFC 6962 interior node: `SHA-256(0x01 ‖ left ‖ right)`.
pub fn merkle_node(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left.0);
    h.update(right.0);
    Hash(h.finalize().into())
}

/// The RFC 6962 root of an empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Hash(Sha256::digest([]).into())
}

/// Builds the Merkle tree head incrementally, holding O(log n) hashes: the
/// roots of the perfect subtrees of the leaves seen so far (a "compact range").
#[derive(Clone, Debug, Default)]
pub struct MerkleBuilder {
    /// (height, root) of perfect subtrees, largest first.
    stack: Vec<(u32, Hash)>,
    size: u64,
}

impl MerkleBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, leaf: Hash) {
        let mut node = (0u32, leaf);
        while let Some(&(h, left)) = self.stack.last() {
            if h != node.0 {
                break;
            }
            self.stack.pop();
            node = (h + 1, merkle_node(&left, &node.1));
        }
        self.stack.push(node);
        self.size += 1;
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The RFC 6962 Merkle tree hash of all leaves pushed so far.
    pub fn root(&self) -> Hash {
        let mut iter = self.stack.iter().rev();
        let Some(&(_, mut acc)) = iter.next() else {
            return empty_root();
        };
        for (_, left) in iter {
            acc = merkle_node(left, &acc);
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RFC 6962 recursive definition, to check the incremental builder against.
    fn reference_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let mut k = 1;
                while k * 2 < n {
                    k *= 2;
                }
                merkle_node(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    #[test]
    fn builder_matches_recursive_definition() {
        let leaves: Vec<Hash> = (0..40u8)
            .map(|i| Hash(Sha256::digest([i]).into()))
            .collect();
        for n in 0..leaves.len() {
            let mut b = MerkleBuilder::new();
            leaves[..n].iter().for_each(|l| b.push(*l));
            assert_eq!(b.root(), reference_root(&leaves[..n]), "n = {n}");
        }
    }

    #[test]
    fn hex_round_trip() {
        let h = Hash([0xab; 32]);
        assert_eq!(Hash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(Hash::from_hex("zz"), None);
    }
}
