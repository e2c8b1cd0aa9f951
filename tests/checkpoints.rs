//! Checkpoints through the CLI (issue 12): every lenient form of a checkpoint
//! is refused (exit 2, with the reason) by every command that reads one;
//! `consistency` says 1 for a damaged archive; a saved consistency proof is
//! checked between two checkpoints without the archive.

mod common;

use std::path::{Path, PathBuf};

use common::{Out, build_archive, ingest_files, open_for_tampering, run, write_sample};

use auditlens_core::sample::PlatformFormat;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn json_of(o: &Out) -> serde_json::Value {
    serde_json::from_str(o.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", o.stdout))
}

/// `auditlens checkpoint ARCHIVE [--sign KEY]` written to `DIR/NAME`.
fn save_checkpoint(archive: &Path, key: Option<&Path>, out: PathBuf) -> PathBuf {
    let mut a = vec!["checkpoint", s(archive)];
    if let Some(k) = key {
        a.extend(["--sign", s(k)]);
    }
    let o = run(a);
    assert_eq!(o.code, 0, "{}", o.stderr);
    std::fs::write(&out, o.stdout).unwrap();
    out
}

fn keygen(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let key = dir.join(name);
    let o = run(["keygen", "--name", name, "-o", s(&key)]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    (key.clone(), dir.join(format!("{name}.pub")))
}

/// The lenient forms the issue lists (and the others DECISIONS12 names), made
/// from a genuine checkpoint text, each with the reason auditlens must give.
fn lenient_forms(good: &str) -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let lines: Vec<&str> = good.lines().collect();
    let with = |i: usize, line: &str| {
        let mut l = lines.clone();
        l[i] = line;
        (l.join("\n") + "\n").into_bytes()
    };
    let size = lines[1];
    let chain = lines[3];
    let zeros = format!("0{size}");
    let plus = format!("+{size}");
    let upper = format!("chain {}", chain["chain ".len()..].to_uppercase());
    let root_unpadded = lines[2].trim_end_matches('=').to_string();
    let trailing = format!("{chain} ");
    vec![
        (
            "CRLF",
            good.replace('\n', "\r\n").into_bytes(),
            "carriage return",
        ),
        (
            "no final newline",
            good.trim_end_matches('\n').as_bytes().to_vec(),
            "does not end with a newline",
        ),
        ("size with leading zeros", with(1, &zeros), "leading zero"),
        ("size with +", with(1, &plus), "not a decimal number"),
        (
            "upper-case chain hex",
            with(3, &upper),
            "not 64 lower-case hex digits",
        ),
        (
            "two chain lines",
            format!("{good}chain {}\n", "0".repeat(64)).into_bytes(),
            "second `chain` line",
        ),
        (
            "empty line in the body",
            good.replacen('\n', "\n\n", 1).into_bytes(),
            "line 2 is empty",
        ),
        (
            "root without padding",
            with(2, &root_unpadded),
            "not canonical base64",
        ),
        ("trailing space", with(3, &trailing), "ends with a space"),
        (
            "not UTF-8",
            [good.as_bytes(), b"\xff\n"].concat(),
            "not UTF-8",
        ),
        (
            "blank line, no signature",
            format!("{good}\n").into_bytes(),
            "no signature line after",
        ),
    ]
}

#[test]
fn every_lenient_checkpoint_is_refused_with_its_reason_by_every_command() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let archive = build_archive(dir, "a", 12);
    let good = save_checkpoint(&archive, None, dir.join("good.checkpoint"));
    let good_text = std::fs::read_to_string(&good).unwrap();
    // The canonical text is accepted.
    let o = run(["verify", s(&archive), "--checkpoint", s(&good)]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let proof = dir.join("proof.txt");
    let o = run([
        "consistency",
        s(&archive),
        "--old",
        s(&good),
        "-o",
        s(&proof),
    ]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let report = dir.join("report.html");
    for (name, bytes, reason) in lenient_forms(&good_text) {
        let bad = dir.join("bad.checkpoint");
        std::fs::write(&bad, &bytes).unwrap();
        let commands: Vec<Vec<&str>> = vec![
            vec!["verify", s(&archive), "--checkpoint", s(&bad)],
            vec!["verify", s(&archive), "--checkpoint", s(&bad), "--json"],
            vec!["consistency", s(&archive), "--old", s(&bad)],
            vec![
                "consistency",
                "--old",
                s(&bad),
                "--new",
                s(&good),
                "--proof",
                s(&proof),
            ],
            vec![
                "consistency",
                "--old",
                s(&good),
                "--new",
                s(&bad),
                "--proof",
                s(&proof),
            ],
            vec![
                "report",
                s(&archive),
                "--checkpoint",
                s(&bad),
                "-o",
                s(&report),
            ],
        ];
        for c in commands {
            let o = run(&c);
            assert_eq!(o.code, 2, "{name}: {c:?} accepted it: {}", o.stdout);
            assert!(
                o.stderr.contains(reason) && o.stderr.contains("bad.checkpoint"),
                "{name}: {c:?} says {:?}, not {reason:?}",
                o.stderr
            );
        }
        assert!(!report.exists(), "{name}: a report was written");
    }
}

#[test]
fn consistency_says_1_for_a_damaged_archive_and_2_only_when_it_cannot_run() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let archive = build_archive(dir, "a", 20);
    let old = save_checkpoint(&archive, None, dir.join("old.checkpoint"));
    let o = run(["consistency", s(&archive), "--old", s(&old)]);
    assert_eq!(o.code, 0, "{}", o.stdout);
    // An entry deleted in the middle: no tree to prove with, but that is
    // tampering (1), as `--help` says, not "could not run" (2).
    let conn = open_for_tampering(&archive);
    conn.execute("DELETE FROM entries WHERE seq = 7", [])
        .unwrap();
    drop(conn);
    let proof = dir.join("proof.txt");
    let o = run([
        "consistency",
        s(&archive),
        "--old",
        s(&old),
        "-o",
        s(&proof),
    ]);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains("NOT CONSISTENT") && o.stdout.contains("missing_entries at seq 7"),
        "{}",
        o.stdout
    );
    assert!(!proof.exists(), "no proof is written for a damaged archive");
    let j = json_of(&run([
        "consistency",
        s(&archive),
        "--old",
        s(&old),
        "--json",
    ]));
    assert_eq!(j["status"], "inconsistent");
    assert!(
        j["error"].as_str().unwrap().contains("entry 7 is missing"),
        "{j}"
    );
    // A damaged hash column: 1 as well.
    let b = build_archive(dir, "b", 10);
    let b_old = save_checkpoint(&b, None, dir.join("b.checkpoint"));
    let conn = open_for_tampering(&b);
    conn.execute("UPDATE entries SET leaf_hash = x'00' WHERE seq = 3", [])
        .unwrap();
    drop(conn);
    let o = run(["consistency", s(&b), "--old", s(&b_old)]);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    // Could not run: 2.
    let o = run(["consistency", s(&archive), "--old", s(&dir.join("none"))]);
    assert_eq!(o.code, 2);
    let o = run(["consistency", s(&dir.join("none.sqlite")), "--old", s(&old)]);
    assert_eq!(o.code, 2);
    let o = run(["consistency", s(&old), "--old", s(&old)]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("old.checkpoint: not a format"),
        "{}",
        o.stderr
    );
}

/// An archive of 15 entries with an old checkpoint at 15, grown to 25, and
/// the proof and new checkpoint `consistency -o` wrote, signed by `key`.
struct Grown {
    archive: PathBuf,
    old: PathBuf,
    new: PathBuf,
    proof: PathBuf,
    key_pub: PathBuf,
}

fn grown(dir: &Path) -> Grown {
    let (key, key_pub) = keygen(dir, "archivist");
    let archive = build_archive(dir, "a", 15);
    let old = save_checkpoint(&archive, Some(&key), dir.join("old.checkpoint"));
    let more = dir.join("more.jsonl");
    write_sample(&more, 10, 99, PlatformFormat::Jsonl);
    assert_eq!(ingest_files(&archive, &[more]).added, 10);
    let (proof, new) = (dir.join("proof.txt"), dir.join("new.checkpoint"));
    let o = run([
        "consistency",
        s(&archive),
        "--old",
        s(&old),
        "--key",
        s(&key_pub),
        "--sign",
        s(&key),
        "-o",
        s(&proof),
        "--checkpoint-out",
        s(&new),
    ]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    Grown {
        archive,
        old,
        new,
        proof,
        key_pub,
    }
}

fn offline(old: &Path, new: &Path, proof: &Path, key: Option<&Path>) -> Out {
    let mut a = vec![
        "consistency",
        "--old",
        s(old),
        "--new",
        s(new),
        "--proof",
        s(proof),
        "--json",
    ];
    if let Some(k) = key {
        a.extend(["--key", s(k)]);
    }
    run(a)
}

fn kinds(j: &serde_json::Value) -> Vec<String> {
    j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_saved_proof_is_checked_between_two_checkpoints_without_the_archive() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let g = grown(dir);
    // The proof file is exactly the text FORMAT.md §10 specifies.
    let text = std::fs::read_to_string(&g.proof).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "auditlens-consistency-proof v1");
    assert!(lines[1].starts_with("origin auditlens.archive/"));
    assert_eq!(&lines[2..4], ["old 15", "new 25"]);
    assert!(lines.len() > 4 && lines[4..].iter().all(|l| l.len() == 64));
    // Good proof, signatures checked: 0. The archive is not needed.
    std::fs::remove_file(&g.archive).unwrap();
    let o = offline(&g.old, &g.new, &g.proof, Some(&g.key_pub));
    assert_eq!(o.code, 0, "{}", o.stdout);
    let j = json_of(&o);
    assert_eq!(j["status"], "consistent");
    assert_eq!(
        (j["old_size"].as_u64(), j["new_size"].as_u64()),
        (Some(15), Some(25))
    );
    assert_eq!(j["signatures_checked"], true);
    let o = run([
        "consistency",
        "--old",
        s(&g.old),
        "--new",
        s(&g.new),
        "--proof",
        s(&g.proof),
    ]);
    assert_eq!(o.code, 0);
    assert!(
        o.stdout
            .contains("CONSISTENT: the new checkpoint (25 entries)"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("signatures not checked"), "{}", o.stdout);

    // A wrong proof (one hash changed): 1, rewritten.
    let wrong = dir.join("wrong.txt");
    let last = lines.last().unwrap();
    let flipped = format!(
        "{}{}",
        if last.starts_with('0') { '1' } else { '0' },
        &last[1..]
    );
    std::fs::write(&wrong, text.replace(last, &flipped)).unwrap();
    let o = offline(&g.old, &g.new, &wrong, None);
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert_eq!(kinds(&json_of(&o)), ["rewritten"]);
    // A proof for other sizes than the checkpoints': 1.
    let other = dir.join("other.txt");
    std::fs::write(&other, text.replace("old 15", "old 14")).unwrap();
    let o = offline(&g.old, &g.new, &other, None);
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert!(o.stdout.contains("other tree sizes"), "{}", o.stdout);

    // Swapped checkpoints: 1, and the message says so.
    let o = offline(&g.new, &g.old, &g.proof, None);
    assert_eq!(o.code, 1, "{}", o.stdout);
    let j = json_of(&o);
    assert_eq!(kinds(&j), ["truncated"]);
    assert!(
        j["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("swapped")
    );

    // Checkpoints of different archives: 1, wrong_archive.
    let b = build_archive(dir, "b", 25);
    let b_cp = save_checkpoint(&b, None, dir.join("b.checkpoint"));
    let o = offline(&g.old, &b_cp, &g.proof, None);
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert_eq!(kinds(&json_of(&o)), ["wrong_archive"]);

    // A bad signature on the new checkpoint: 1 with the key, bad_signature.
    let signed = std::fs::read_to_string(&g.new).unwrap();
    let sig_line = signed.lines().last().unwrap();
    let b64 = sig_line.rsplit(' ').next().unwrap();
    let mut chars: Vec<char> = b64.chars().collect();
    chars[10] = if chars[10] == 'A' { 'B' } else { 'A' };
    let forged: String = chars.into_iter().collect();
    let bad_sig = dir.join("bad-sig.checkpoint");
    std::fs::write(&bad_sig, signed.replace(b64, &forged)).unwrap();
    let o = offline(&g.old, &bad_sig, &g.proof, Some(&g.key_pub));
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert_eq!(kinds(&json_of(&o)), ["bad_signature"]);
    // An unsigned checkpoint where keys are given: not proven, 1.
    let unsigned = dir.join("unsigned.checkpoint");
    std::fs::write(
        &unsigned,
        signed.split("\n\n").next().unwrap().to_string() + "\n",
    )
    .unwrap();
    let o = offline(&g.old, &unsigned, &g.proof, Some(&g.key_pub));
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert_eq!(kinds(&json_of(&o)), ["not_signed"]);
    // Without keys, the unsigned copy is the same checkpoint: consistent.
    assert_eq!(offline(&g.old, &unsigned, &g.proof, None).code, 0);

    // A proof file that is not the one text: refused, 2.
    for (name, bad, reason) in [
        (
            "leading zero",
            text.replace("old 15", "old 015"),
            "leading zeros",
        ),
        ("CRLF", text.replace('\n', "\r\n"), "carriage return"),
        (
            "upper-case hex",
            text.replace(last, &last.to_uppercase()),
            "lower-case hex",
        ),
        (
            "not a proof",
            "hello\n".to_string(),
            "not an auditlens consistency proof",
        ),
    ] {
        let p = dir.join("bad-proof.txt");
        std::fs::write(&p, bad).unwrap();
        let o = offline(&g.old, &g.new, &p, None);
        assert_eq!(o.code, 2, "{name}: {}", o.stdout);
        assert!(o.stderr.contains(reason), "{name}: {}", o.stderr);
    }
    // Missing pieces: clap says what is needed (2).
    let o = run(["consistency", "--old", s(&g.old), "--new", s(&g.new)]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("--proof"), "{}", o.stderr);
}
