//! Runs the test vectors of docs/FORMAT.md: platform row → canonical record →
//! leaf hash → chain hash → Merkle root → checkpoint.
//!
//! `tests/vectors/chain-v1.json` pins the format: if this test fails, the
//! canonical form or the hashing changed, and every existing archive would
//! stop verifying. Regenerate only for a new format version
//! (`UPDATE_VECTORS=1 cargo test --test vectors`).

use std::path::Path;

use auditlens::core::chain::{self, ArchiveId, MerkleBuilder};
use auditlens::core::checkpoint::Checkpoint;
use auditlens::core::json::{self, Json};
use auditlens::core::model::Entry;
use auditlens::core::source::platform_entry;

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
