//! `auditlens verify --checkpoint CP --key K ARCHIVE` on an archive whose
//! file bytes were damaged.
//!
//! A whole-file input would rarely get past SQLite's header, so the input is
//! a list of patches on a small valid archive, `fuzz/seeds/archive.sqlite`
//! (40 sample entries, committed so that an input means the same damage on
//! every machine and in every run; `archive.checkpoint` is its checkpoint,
//! signed with the test key):
//! byte 0 = flags (bit 0: give the checkpoint, bit 1: give the verifier key,
//! bit 2: cut the file at the offset in bytes 1..4), then 4-byte patches
//! (24-bit little-endian offset, modulo the file length, and the byte to put
//! there).
//!
//! Checks, in [`judge`]:
//! - verification ends in a report or a clean error, never a panic or a hang;
//! - the undamaged archive is intact, without a finding (given the
//!   checkpoint, or no key: a key without a checkpoint is rightly `not_signed`);
//! - given the checkpoint, an archive in which a byte of a stored record, leaf
//!   hash or chain hash was changed or cut off is never intact, and an intact
//!   report says the checkpoint matches all 40 entries.
//!
//! Why the third holds exactly: with the checkpoint, "intact" means that the
//! stored leaf hashes of seqs 1–40 give the checkpoint's Merkle root, that
//! every record hashes to its stored leaf, and that every chain hash links to
//! the checkpoint's head; so verification read the original 40 records and
//! 80 hashes. [`Base::hashed`] holds only the byte ranges of the file that
//! are the *only* copy of such a record or hash, so once one of them changes,
//! the original value is nowhere in the file for a reader to find. A value
//! found twice is left out: in this file, the 9 of seqs 1–3, whose first
//! copies stayed behind as unused bytes when the table's first leaf split. (A reader could only piece a record together
//! from fragments through an overflow chain that SQLite would follow; these
//! records are each stored whole on one page.)

use std::ops::Range;
use std::sync::OnceLock;

use crate::core::archive::Archive;
use crate::core::job::Job;
use crate::core::proof::SignedCheckpoint;
use crate::core::verify::{CheckpointStatus, Report, Status, VerifyError};
use crate::keys::verifier;
use crate::scratch::write_input;

/// The undamaged archive, its checkpoint, and where its hashed values are.
pub struct Base {
    pub bytes: &'static [u8],
    pub checkpoint: SignedCheckpoint,
    /// Byte ranges of the file that hold the only copy of a stored record, leaf
    /// hash or chain hash (sorted, disjoint).
    pub hashed: Vec<Range<usize>>,
}

/// The base archive, read once per process.
pub fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let bytes: &'static [u8] = include_bytes!("../../../seeds/archive.sqlite");
        let checkpoint = SignedCheckpoint::parse(include_str!("../../../seeds/archive.checkpoint"))
            .expect("fuzz/seeds/archive.checkpoint parses");
        let path = write_input("base.sqlite", bytes);
        let archive = Archive::open(&path).expect("fuzz/seeds/archive.sqlite opens");
        let mut values: Vec<Vec<u8>> = Vec::new();
        archive
            .for_each_record(|_, record| values.push(record.to_vec()))
            .expect("read the base archive's records");
        for seq in 1..=archive.count().expect("count the base archive's entries") {
            let e = archive
                .entry(seq)
                .expect("read a base entry")
                .expect("the base archive has seqs 1..=count");
            values.push(e.leaf_hash.0.to_vec());
            values.push(e.chain_hash.0.to_vec());
        }
        drop(archive);
        let mut hashed: Vec<Range<usize>> = values
            .iter()
            .filter_map(|v| {
                let mut at = memchr::memmem::find_iter(bytes, v);
                match (at.next(), at.next()) {
                    (Some(i), None) => Some(i..i + v.len()),
                    _ => None,
                }
            })
            .collect();
        hashed.sort_by_key(|r| r.start);
        Base {
            bytes,
            checkpoint,
            hashed,
        }
    })
}

/// What an input asks for: which of checkpoint and key to give, and the file.
pub struct Damage {
    pub with_checkpoint: bool,
    pub with_key: bool,
    pub bytes: Vec<u8>,
}

impl Damage {
    /// Applies the input's patches and cut to `base` (see the module docs).
    pub fn of(data: &[u8], base: &[u8]) -> Damage {
        let mut bytes = base.to_vec();
        let flags = data.first().copied().unwrap_or(3);
        let rest = data.get(1..).unwrap_or(&[]);
        let (cut, patches) = if flags & 4 != 0 && rest.len() >= 3 {
            let at = u32::from_le_bytes([rest[0], rest[1], rest[2], 0]) as usize;
            (Some(at % (bytes.len() + 1)), &rest[3..])
        } else {
            (None, rest)
        };
        for p in patches.chunks_exact(4) {
            let at = u32::from_le_bytes([p[0], p[1], p[2], 0]) as usize % bytes.len();
            bytes[at] = p[3];
        }
        if let Some(cut) = cut {
            bytes.truncate(cut);
        }
        Damage {
            with_checkpoint: flags & 1 != 0,
            with_key: flags & 2 != 0,
            bytes,
        }
    }
}

pub fn run(data: &[u8]) {
    let base = base();
    let damage = Damage::of(data, base.bytes);
    let path = write_input("archive.sqlite", &damage.bytes);
    let checkpoint = damage.with_checkpoint.then_some(&base.checkpoint);
    let keys = if damage.with_key {
        vec![verifier()]
    } else {
        vec![]
    };
    let result = auditlens_core::verify::verify_signed(&path, checkpoint, &keys, &Job::new())
        .map(|(r, _)| r);
    judge(base, &damage, &result);
}

/// Panics if `result`, the verification of `damage`, breaks a check of the
/// module docs.
pub fn judge(base: &Base, damage: &Damage, result: &Result<Report, VerifyError>) {
    let bytes = &damage.bytes;
    if bytes == base.bytes && (damage.with_checkpoint || !damage.with_key) {
        let report = match result {
            Ok(r) => r,
            Err(e) => panic!("the undamaged archive does not verify: {e}"),
        };
        assert_eq!(report.status(), Status::Intact, "{:?}", report.findings);
        assert!(report.findings.is_empty(), "{:?}", report.findings);
    }
    let Ok(report) = result else { return };
    if !damage.with_checkpoint || report.status() != Status::Intact {
        return;
    }
    let size = base.checkpoint.checkpoint.size;
    assert!(
        matches!(report.checkpoint, Some(CheckpointStatus::Matches { size: s, .. }) if s == size),
        "intact, but the checkpoint does not match its {size} entries: {:?}",
        report.checkpoint
    );
    if let Some(at) = base
        .hashed
        .iter()
        .flat_map(Range::clone)
        .find(|&i| bytes.get(i) != Some(&base.bytes[i]))
    {
        panic!(
            "byte {at} of a stored record or hash was {}, yet verification with the \
             checkpoint says intact",
            match bytes.get(at) {
                Some(b) => format!("changed from {:#04x} to {b:#04x}", base.bytes[at]),
                None => "cut off".to_string(),
            }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::verify::FindingKind;

    fn verify(damage: &Damage) -> Result<Report, VerifyError> {
        let path = write_input("test.sqlite", &damage.bytes);
        let cp = damage.with_checkpoint.then_some(&base().checkpoint);
        auditlens_core::verify::verify_signed(&path, cp, &[], &Job::new()).map(|(r, _)| r)
    }

    /// A patch input (flags 1: the checkpoint, no key) setting byte `at` to `b`.
    fn patch(at: usize, b: u8) -> Vec<u8> {
        let o = (at as u32).to_le_bytes();
        vec![1, o[0], o[1], o[2], b]
    }

    #[test]
    fn every_record_and_hash_of_the_base_is_located_once() {
        let b = base();
        assert_eq!(b.checkpoint.checkpoint.size, 40);
        // 40 records, 40 leaf hashes and 40 chain hashes, less the 9 of seqs
        // 1–3: their first copies stayed behind, as unused bytes, in the page
        // that became the table's root when the first leaf split.
        assert_eq!(b.hashed.len(), 120 - 9);
        assert!(b.hashed.windows(2).all(|w| w[0].end <= w[1].start));
    }

    #[test]
    fn a_changed_byte_in_each_located_range_is_found_where_it_was_made() {
        let b = base();
        for r in &b.hashed {
            let mid = r.start + r.len() / 2;
            let damage = Damage::of(&patch(mid, b.bytes[mid] ^ 0x01), b.bytes);
            let report = verify(&damage).expect("one changed byte still opens");
            assert_eq!(report.status(), Status::Tampered, "byte {mid}");
            assert!(
                report.findings.iter().any(|f| matches!(
                    f.kind,
                    FindingKind::RecordModified
                        | FindingKind::LeafHashChanged
                        | FindingKind::ChainBroken
                        | FindingKind::UnreadableRecord
                        | FindingKind::IndexMismatch
                )),
                "byte {mid}: {:?}",
                report.findings
            );
        }
    }

    #[test]
    #[should_panic(expected = "yet verification with the checkpoint says intact")]
    fn judge_refuses_an_intact_verdict_on_a_changed_record() {
        let b = base();
        let at = b.hashed[0].start + 1;
        let damage = Damage::of(&patch(at, b.bytes[at] ^ 0x01), b.bytes);
        // The verdict on the undamaged file, as a reader that missed the change would give.
        let intact = verify(&Damage::of(&[1], b.bytes));
        judge(b, &damage, &intact);
    }

    #[test]
    fn an_input_reads_as_flags_cut_and_patches() {
        let b = base();
        let len = b.bytes.len();
        // No input: checkpoint and key, the file as it is.
        let d = Damage::of(&[], b.bytes);
        assert!(d.with_checkpoint && d.with_key && d.bytes == b.bytes);
        // Bit 2: cut at 0x003000; then one patch whose offset wraps around the length.
        let far = (len + 10) as u32;
        let o = far.to_le_bytes();
        let d = Damage::of(
            &[0x04, 0x00, 0x30, 0x00, o[0], o[1], o[2], 0xab, 0x99],
            b.bytes,
        );
        assert!(!d.with_checkpoint && !d.with_key);
        assert_eq!(d.bytes.len(), 0x3000);
        assert_eq!(d.bytes[10], 0xab);
        assert_eq!(d.bytes[..10], b.bytes[..10]);
        assert_eq!(d.bytes[11..], b.bytes[11..0x3000]);
        // Without bit 2 the same bytes are patches only (the trailing 0x99 is ignored).
        let d = Damage::of(&[0x01, o[0], o[1], o[2], 0xab, 0x99], b.bytes);
        assert_eq!(d.bytes.len(), len);
        assert_eq!(d.bytes[10], 0xab);
    }
}
