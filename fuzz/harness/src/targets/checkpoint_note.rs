//! The checkpoint and proof parsers: checkpoint text, C2SP signed notes,
//! verifier and signer keys, signed checkpoints (and their signature check),
//! an entry's proof fields with the Merkle proof checks they feed, and the
//! CSV proof sidecar read to its end.

use crate::core::chain::Hash;
use crate::core::checkpoint::Checkpoint;
use crate::core::json::{self, Json};
use crate::core::merkle;
use crate::core::note::{Note, SignerKey, VerifierKey};
use crate::core::proof::{
    ConsistencyProof, EntryProof, PROOF_INDEX_KEY, PROOF_PATH_KEY, SidecarReader, SignedCheckpoint,
};
use crate::keys::verifier;
use crate::scratch::write_input;

fn number(j: &Json, k: &str) -> Option<u64> {
    match j.get(k) {
        Some(Json::Number(n)) => n.parse().ok(),
        _ => None,
    }
}

pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let keys = [verifier()];

    if let Ok(c) = Checkpoint::parse(&text) {
        assert_eq!(Checkpoint::parse(&c.to_text()), Ok(c.clone()));
    }
    if let Ok(n) = Note::parse(&text) {
        let _ = n.check(&keys);
        assert_eq!(
            Note::parse(&n.to_text()).ok(),
            Some(n),
            "a note does not round-trip"
        );
    }
    if let Ok(p) = ConsistencyProof::parse(&text) {
        assert_eq!(p.to_text(), text, "a consistency proof has another text");
    }
    if let Ok(k) = VerifierKey::parse(&text) {
        assert_eq!(VerifierKey::parse(&k.to_text()).ok(), Some(k));
    }
    if let Ok(k) = SignerKey::parse(&text) {
        let again = SignerKey::parse(&k.to_text()).expect("a signer key round-trips");
        assert_eq!(again.verifier(), k.verifier());
    }
    if let Ok(sc) = SignedCheckpoint::parse(&text) {
        // One text per checkpoint: what parses is exactly what is written back.
        assert_eq!(sc.note.to_text(), text, "a checkpoint has another text");
        assert!(text.starts_with(&sc.checkpoint.to_text()));
        let _ = sc.signers();
        let (check, findings) = sc.check(&keys, "the fuzzed checkpoint");
        assert_eq!(check.accepted(), findings.is_empty());
    }

    // An entry's proof fields, and the Merkle checks they feed.
    if let Ok(j) = json::parse(data)
        && let Ok(p) = EntryProof::from_json(j.get(PROOF_INDEX_KEY), j.get(PROOF_PATH_KEY))
    {
        let size = number(&j, "size").unwrap_or(p.leaf_index.saturating_add(1));
        let leaf = Hash([1; 32]);
        let _ = merkle::inclusion_proof_len(p.leaf_index, size);
        let _ = merkle::verify_inclusion(p.leaf_index, size, &leaf, &p.path, &Hash([2; 32]));
        let size1 = number(&j, "size1").unwrap_or(p.leaf_index);
        let _ = merkle::consistency_proof_len(size1, size);
        let _ = merkle::verify_consistency(size1, size, &p.path, &leaf, &Hash([2; 32]));
    }

    // The CSV export's proof sidecar.
    let path = write_input("export.csv.proof.json", data);
    if let Ok(mut r) = SidecarReader::open(&path) {
        let mut n = 0usize;
        while r.next_proof().is_some() {
            n += 1;
            assert!(n <= data.len(), "the sidecar reader does not advance");
        }
    }
}
