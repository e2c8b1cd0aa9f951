//! Proof benchmark: Merkle root over N leaves (time and peak memory), the
//! in-memory tree exports use for proofs, inclusion-proof verification rate,
//! consistency proof, and signed-checkpoint verification time.
//!
//!     cargo bench --bench proofs                          # 1,000,000 leaves
//!     AUDITLENS_BENCH_LEAVES=100000 cargo bench --bench proofs
//!
//! Leaves are SHA-256 hashes of a counter, generated on the fly so that the
//! root's memory is the builder's own. Peak memory is the process's VmHWM
//! (Linux), read before and after each step.

use std::hint::black_box;
use std::time::{Duration, Instant};

use auditlens_core::chain::{ArchiveId, Hash, MerkleBuilder};
use auditlens_core::checkpoint::Checkpoint;
use auditlens_core::merkle::{self, Tree};
use auditlens_core::note::SignerKey;
use auditlens_core::proof::SignedCheckpoint;
use sha2::{Digest, Sha256};

fn leaf(i: u64) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(i.to_be_bytes());
    Hash(h.finalize().into())
}

/// Peak resident memory of this process so far, in bytes (Linux only).
fn peak_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn mb(b: Option<u64>) -> String {
    b.map_or("n/a".into(), |b| format!("{:.1} MB", b as f64 / 1e6))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n: u64 = std::env::var("AUDITLENS_BENCH_LEAVES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    println!("leaves: {n}");

    // Root, streaming (what ingest, verify and `checkpoint` do): O(log n) memory.
    let before = peak_bytes();
    let mut times = Vec::new();
    let mut root = Hash::default();
    for _ in 0..3 {
        let t = Instant::now();
        let mut b = MerkleBuilder::new();
        for i in 0..n {
            b.push(leaf(i));
        }
        root = b.root();
        times.push(t.elapsed());
    }
    let t = median(times);
    let after = peak_bytes();
    println!(
        "merkle root (streaming, incl. hashing the {n} leaves): {:.3} s, {:.2} M leaves/s; peak memory {} → {} (+{})",
        t.as_secs_f64(),
        n as f64 / t.as_secs_f64() / 1e6,
        mb(before),
        mb(after),
        mb(after.zip(before).map(|(a, b)| a.saturating_sub(b)))
    );

    // Leaf hashing alone, to separate the tree's share.
    let t0 = Instant::now();
    let mut x = 0u8;
    for i in 0..n {
        x ^= black_box(leaf(i)).0[0];
    }
    black_box(x);
    let hashing = t0.elapsed();
    println!(
        "  of which leaf hashing: {:.3} s; tree nodes: {:.3} s",
        hashing.as_secs_f64(),
        t.as_secs_f64() - hashing.as_secs_f64()
    );

    // The in-memory tree an export builds to write proofs.
    let leaves: Vec<Hash> = (0..n).map(leaf).collect();
    let before = peak_bytes();
    let t0 = Instant::now();
    let tree = Tree::new(leaves);
    let build = t0.elapsed();
    let after = peak_bytes();
    assert_eq!(tree.root(), root);
    println!(
        "tree for proofs (export): built in {:.3} s; peak memory +{}",
        build.as_secs_f64(),
        mb(after.zip(before).map(|(a, b)| a.saturating_sub(b)))
    );

    // Inclusion proofs: generation and verification rate over spread-out indexes.
    let k = 100_000u64.min(n);
    let step = (n / k).max(1);
    let t0 = Instant::now();
    let proofs: Vec<(u64, Vec<Hash>)> = (0..k)
        .map(|j| {
            let i = (j * step + j % 7) % n;
            (i, tree.inclusion_proof(i, n).unwrap())
        })
        .collect();
    let gen_t = t0.elapsed();
    let t0 = Instant::now();
    for (i, p) in &proofs {
        merkle::verify_inclusion(*i, n, &tree.leaf(*i).unwrap(), p, &root).unwrap();
    }
    let ver_t = t0.elapsed();
    println!(
        "inclusion proofs ({} hashes each): {:.0} generated/s, {:.0} verified/s ({:.1} µs each)",
        proofs[0].1.len(),
        k as f64 / gen_t.as_secs_f64(),
        k as f64 / ver_t.as_secs_f64(),
        ver_t.as_secs_f64() * 1e6 / k as f64
    );

    // Consistency proof from the first 60 % to all leaves.
    let m = n * 3 / 5;
    let t0 = Instant::now();
    let p = tree.consistency_proof(m, n).unwrap();
    let old_root = tree.root_at(m).unwrap();
    merkle::verify_consistency(m, n, &p, &old_root, &root).unwrap();
    println!(
        "consistency proof {m} → {n}: {} hashes, generated and verified in {:.1} ms (incl. the old root)",
        p.len(),
        t0.elapsed().as_secs_f64() * 1e3
    );

    // Signed checkpoint: parse the note and the checkpoint, check the Ed25519 signature.
    let key = SignerKey::from_seed("bench.example/auditor", &[7; 32]).unwrap();
    let cp = Checkpoint {
        archive_id: ArchiveId([1; 16]),
        size: n,
        root,
        head: Hash([2; 32]),
        indexes: None,
    };
    let text = SignedCheckpoint::text(&cp, Some(&key)).unwrap();
    let keys = [key.verifier()];
    let runs = 2_000;
    let t0 = Instant::now();
    for _ in 0..runs {
        let s = SignedCheckpoint::parse(black_box(&text)).unwrap();
        let (check, findings) = s.check(&keys, "bench");
        assert!(check.accepted() && findings.is_empty());
    }
    let per = t0.elapsed() / runs;
    println!(
        "signed checkpoint verification (parse + Ed25519): {:.1} µs each",
        per.as_secs_f64() * 1e6
    );
}
