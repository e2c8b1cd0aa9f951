//! Runs the test vectors of docs/FORMAT.md: platform row → canonical record →
//! leaf hash → chain hash → Merkle root → checkpoint.
//!
//! `tests/vectors/chain-v1.json` pins the format: if this test fails, the
//! canonical form or the hashing changed, and every existing archive would
//! stop verifying. Regenerate only for a new format version
//! (`UPDATE_VECTORS=1 cargo test --test vectors`).

use std::path::Path;

use auditlens_core::chain::{self, ArchiveId, MerkleBuilder};
use auditlens_core::checkpoint::Checkpoint;
use auditlens_core::json::{self, Json};
use auditlens_core::model::Entry;
use auditlens_core::source::platform_entry;

const ARCHIVE_ID: &str = "00112233445566778899aabbccddeeff";

fn compute() -> serde_json::Value {
    let rows = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/platform-rows.jsonl"),
    )
    .unwrap();
    let id = ArchiveId::parse(ARCHIVE_ID).unwrap();
    let mut prev = chain::genesis(&id);
    let mut tree = MerkleBuilder::new();
    let mut entries = Vec::new();
    for (i, line) in rows.lines().enumerate() {
        let seq = i as u64 + 1;
        let row = json::parse(line.as_bytes()).unwrap();
        let entry = platform_entry(row.as_object().unwrap()).unwrap();
        let canonical = entry.canonical_record();
        let leaf = chain::leaf_hash(&id, seq, canonical.as_bytes());
        let link = chain::chain_link(&prev, &leaf);
        tree.push(leaf);
        prev = link;
        entries.push(serde_json::json!({
            "seq": seq,
            "input": line,
            "canonical": canonical,
            "leaf_hash": leaf.to_hex(),
            "chain_hash": link.to_hex(),
        }));
    }
    let cp = Checkpoint {
        archive_id: id,
        size: tree.size(),
        root: tree.root(),
        head: prev,
        indexes: None,
    };
    serde_json::json!({
        "archive_id": ARCHIVE_ID,
        "genesis": chain::genesis(&id).to_hex(),
        "entries": entries,
        "merkle_root": tree.root().to_hex(),
        "checkpoint": cp.to_text(),
    })
}

#[test]
fn format_v1_vectors() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/chain-v1.json");
    let computed = compute();
    if std::env::var_os("UPDATE_VECTORS").is_some() {
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&computed).unwrap() + "\n",
        )
        .unwrap();
    }
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let (se, ce) = (
        stored["entries"].as_array().unwrap(),
        computed["entries"].as_array().unwrap(),
    );
    assert_eq!(se.len(), ce.len());
    for (s, c) in se.iter().zip(ce) {
        for k in ["input", "canonical", "leaf_hash", "chain_hash"] {
            assert_eq!(s[k], c[k], "entry {} field {k}", s["seq"]);
        }
    }
    assert_eq!(stored, computed);
}

#[test]
fn canonical_records_parse_back_to_the_same_entry() {
    let stored: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/chain-v1.json"),
        )
        .unwrap(),
    )
    .unwrap();
    for e in stored["entries"].as_array().unwrap() {
        let canonical = e["canonical"].as_str().unwrap();
        let parsed: Json = json::parse(canonical.as_bytes()).unwrap();
        let entry = Entry::from_record(&parsed).unwrap();
        assert_eq!(entry.canonical_record(), canonical);
    }
}

#[test]
fn checkpoint_text_parses() {
    let stored: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/chain-v1.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let cp = Checkpoint::parse(stored["checkpoint"].as_str().unwrap()).unwrap();
    assert_eq!(cp.size, 5);
    assert_eq!(cp.root.to_hex(), stored["merkle_root"].as_str().unwrap());
}

// ---------------------------------------------------------------- proofs and signed checkpoints

use auditlens_core::merkle::{self, Tree};
use auditlens_core::note::{Note, SignerKey, VerifierKey};
use auditlens_core::proof::{EntryProof, SignedCheckpoint};

/// The test key's seed: bytes 0x00..0x1f. Never use a key with a known seed for real checkpoints.
const SEED_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const KEY_NAME: &str = "auditlens-test.example";

fn proofs_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/proofs-v1.json")
}

/// Proof vectors over the five entries of chain-v1.json.
fn compute_proofs() -> serde_json::Value {
    let chain = compute();
    let entries = chain["entries"].as_array().unwrap();
    let leaves: Vec<chain::Hash> = entries
        .iter()
        .map(|e| chain::Hash::from_hex(e["leaf_hash"].as_str().unwrap()).unwrap())
        .collect();
    let tree = Tree::new(leaves);
    let n = tree.size();
    let roots: Vec<String> = (0..=n).map(|s| tree.root_at(s).unwrap().to_hex()).collect();
    let inclusion: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "leaf_index": i,
                "tree_size": n,
                "leaf_hash": tree.leaf(i).unwrap().to_hex(),
                "path": tree.inclusion_proof(i, n).unwrap().iter().map(|h| h.to_hex()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let consistency: Vec<serde_json::Value> = (1..n)
        .map(|m| {
            serde_json::json!({
                "size1": m,
                "size2": n,
                "path": tree.consistency_proof(m, n).unwrap().iter().map(|h| h.to_hex()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let seed: [u8; 32] = chain::from_hex(SEED_HEX).unwrap().try_into().unwrap();
    let key = SignerKey::from_seed(KEY_NAME, &seed).unwrap();
    let cp = Checkpoint::parse(chain["checkpoint"].as_str().unwrap()).unwrap();
    let signed = SignedCheckpoint::text(&cp, Some(&key)).unwrap();
    // An exported entry (seq 2) as a JSON/NDJSON export writes it, proof included.
    let e = &entries[1];
    let mut line = format!(
        "{{\"seq\":2,\"leaf_hash\":\"{}\",",
        e["leaf_hash"].as_str().unwrap()
    );
    EntryProof {
        leaf_index: 1,
        path: tree.inclusion_proof(1, n).unwrap(),
    }
    .write_json(&mut line);
    line.push(',');
    line.push_str(&e["canonical"].as_str().unwrap()[1..]);
    serde_json::json!({
        "about": "RFC 6962 proofs over the leaves of chain-v1.json, and a C2SP signed checkpoint (docs/FORMAT.md sections 5, 10, 11)",
        "archive_id": ARCHIVE_ID,
        "roots": roots,
        "inclusion": inclusion,
        "consistency": consistency,
        "key": {
            "name": KEY_NAME,
            "seed": SEED_HEX,
            "key_id": chain::to_hex(&key.verifier().id),
            "verifier_key": key.verifier().to_text(),
            "private_key": key.to_text(),
        },
        "signed_checkpoint": signed,
        "export_entry": line,
    })
}

#[test]
fn proof_vectors() {
    let computed = compute_proofs();
    if std::env::var_os("UPDATE_VECTORS").is_some() {
        std::fs::write(
            proofs_path(),
            serde_json::to_string_pretty(&computed).unwrap() + "\n",
        )
        .unwrap();
    }
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(proofs_path()).unwrap()).unwrap();
    assert_eq!(stored, computed);
}

/// The stored vectors verify with the verifying code (not only the proving code).
#[test]
fn stored_proof_vectors_verify() {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(proofs_path()).unwrap()).unwrap();
    let h = |s: &serde_json::Value| chain::Hash::from_hex(s.as_str().unwrap()).unwrap();
    let hs = |a: &serde_json::Value| a.as_array().unwrap().iter().map(h).collect::<Vec<_>>();
    let roots = hs(&v["roots"]);
    for p in v["inclusion"].as_array().unwrap() {
        let (i, n) = (
            p["leaf_index"].as_u64().unwrap(),
            p["tree_size"].as_u64().unwrap(),
        );
        merkle::verify_inclusion(
            i,
            n,
            &h(&p["leaf_hash"]),
            &hs(&p["path"]),
            &roots[n as usize],
        )
        .unwrap();
    }
    for p in v["consistency"].as_array().unwrap() {
        let (a, b) = (p["size1"].as_u64().unwrap(), p["size2"].as_u64().unwrap());
        merkle::verify_consistency(
            a,
            b,
            &hs(&p["path"]),
            &roots[a as usize],
            &roots[b as usize],
        )
        .unwrap();
    }
    let key = VerifierKey::parse(v["key"]["verifier_key"].as_str().unwrap()).unwrap();
    let note = Note::parse(v["signed_checkpoint"].as_str().unwrap()).unwrap();
    assert!(note.check(&[key]).accepted());
    let cp = SignedCheckpoint::parse(v["signed_checkpoint"].as_str().unwrap()).unwrap();
    assert_eq!(cp.checkpoint.root, roots[5]);
    assert!(SignerKey::parse(v["key"]["private_key"].as_str().unwrap()).is_ok());
}
