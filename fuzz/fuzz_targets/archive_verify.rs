//! `auditlens verify --checkpoint CP --key K ARCHIVE` on an archive whose
//! file bytes were damaged: it must end in findings or a clean error, never a
//! panic, hang or allocation blow-up; the undamaged archive is intact; and
//! verification reading the b-tree pages itself agrees with reading through
//! SQL (`core::verify::page_scan`).
//!
//! A whole-file input would rarely get past SQLite's header, so the input is
//! a list of patches on a small valid archive built once per process (40
//! sample entries ingested with the library):
//! byte 0 = flags (bit 0: give the checkpoint, bit 1: give the verifier key,
//! bit 2: cut the file at the offset in bytes 1..4), then 4-byte patches
//! (24-bit little-endian offset, modulo the file length, and the byte to put there).
#![no_main]

use std::sync::OnceLock;

use auditlens_fuzz::core::archive::Archive;
use auditlens_fuzz::core::ingest::{IngestOptions, ingest};
use auditlens_fuzz::core::job::Job;
use auditlens_fuzz::core::proof::{self, SignedCheckpoint};
use auditlens_fuzz::core::sample::{PlatformFormat, Sample, write_platform};
use auditlens_fuzz::core::verify::{RowReader, Status, verify_archive_reading};
use auditlens_fuzz::{scratch_dir, signer, verifier, write_input};
use libfuzzer_sys::fuzz_target;

struct Base {
    bytes: Vec<u8>,
    checkpoint: SignedCheckpoint,
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let dir = scratch_dir();
        let jsonl = dir.join("base.jsonl");
        let f = std::fs::File::create(&jsonl).expect("create the sample");
        write_platform(&Sample::new(40, 1), PlatformFormat::Jsonl, f).expect("write the sample");
        let archive = dir.join("base.sqlite");
        let _ = std::fs::remove_file(&archive);
        ingest(&archive, &[jsonl], &IngestOptions::default(), &Job::new()).expect("ingest");
        let cp = Archive::open(&archive)
            .and_then(|a| a.checkpoint())
            .expect("checkpoint");
        let text = SignedCheckpoint::text(&cp, Some(signer())).expect("sign");
        Base {
            bytes: std::fs::read(&archive).expect("read the archive"),
            checkpoint: SignedCheckpoint::parse(&text).expect("parse the checkpoint"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let base = base();
    let mut bytes = base.bytes.clone();
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
    let path = write_input("archive.sqlite", &bytes);
    let checkpoint = (flags & 1 != 0).then_some(&base.checkpoint);
    let keys = if flags & 2 != 0 {
        vec![verifier()]
    } else {
        vec![]
    };
    let job = Job::new();
    let result = proof::verify_signed(&path, checkpoint, &keys, &job);
    // Read from its b-tree pages or through SQL: the page reader never gives a
    // kinder answer than SQLite. (Where both find damage, the two reports may
    // still differ in kind: see fuzz/RESULTS.md.)
    if let Ok(a) = Archive::open(&path) {
        let cp = checkpoint.map(|c| &c.checkpoint);
        let pages = verify_archive_reading(&a, cp, &job, RowReader::Pages);
        if let Ok(p) = &pages
            && p.status() == Status::Intact
        {
            let s = verify_archive_reading(&a, cp, &job, RowReader::Sql)
                .expect("SQL reads what the page reader calls intact");
            assert_eq!(p.findings, s.findings);
            assert_eq!(
                (p.entries, p.record_bytes, p.head, p.root),
                (s.entries, s.record_bytes, s.head, s.root)
            );
        }
    }
    // Undamaged, and not asked to check signatures without a checkpoint
    // (which is a `not_signed` finding): intact, with no finding.
    if bytes == base.bytes && (checkpoint.is_some() || keys.is_empty()) {
        let (report, _) = result.expect("the undamaged archive verifies");
        assert_eq!(report.status(), Status::Intact, "{:?}", report.findings);
        assert!(report.findings.is_empty(), "{:?}", report.findings);
    }
});
