//! Helpers shared by the fuzz targets: a per-process scratch directory for
//! the inputs (the readers take paths), a fixed signing key, and the checks
//! every record a reader accepts must pass.
//!
//! `core` is auditlens's core library (`auditlens-core`), without the GUI.

pub use auditlens_core as core;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::core::archive::{IndexColumns, parse_record};
use crate::core::model::Entry;
use crate::core::note::{SignerKey, VerifierKey};
use crate::core::record_view::RecordView;
use crate::core::source::Source;

static SCRATCH: OnceLock<PathBuf> = OnceLock::new();

extern "C" fn remove_scratch() {
    if let Some(d) = SCRATCH.get() {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// This process's scratch directory (in /dev/shm when there is one, so the
/// inputs written on every iteration never touch the disk). Removed at exit.
pub fn scratch_dir() -> &'static Path {
    SCRATCH.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("auditlens-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the fuzz scratch directory");
        // SAFETY: registers a plain `extern "C" fn` that only removes a directory.
        unsafe {
            libc::atexit(remove_scratch);
        }
        dir
    })
}

/// Writes `data` to `name` in the scratch directory (the same path on every
/// iteration) and returns its path.
pub fn write_input(name: &str, data: &[u8]) -> PathBuf {
    let path = scratch_dir().join(name);
    std::fs::write(&path, data).expect("write the fuzz input");
    path
}

/// The key that signs the seed exports and checkpoints (`seed.sh` signs with
/// the same file). A test key: its seed is 32 bytes of 7.
pub fn signer() -> &'static SignerKey {
    static KEY: OnceLock<SignerKey> = OnceLock::new();
    KEY.get_or_init(|| SignerKey::parse(include_str!("../seeds/fuzz.key")).expect("fuzz.key"))
}

/// The verifier key of [`signer`].
pub fn verifier() -> VerifierKey {
    signer().verifier()
}

/// Reads every record of `src` to the end, checking each accepted entry with
/// [`check_entry`]. Every record consumes input, so a reader that yields more
/// items than the input has bytes is stuck: that is a failure, not a slow input.
pub fn drain(src: &mut Source, input_len: usize) -> usize {
    let mut n = 0usize;
    while let Some(r) = src.next_record() {
        n += 1;
        assert!(
            n <= input_len + 2,
            "the reader yielded {n} records from {input_len} bytes: it does not advance"
        );
        if let Ok(rec) = r {
            check_entry(&rec.entry);
        }
    }
    assert!(
        src.next_record().is_none(),
        "a finished reader yielded again"
    );
    n
}

/// What ingest seals for an accepted entry must read back: the canonical
/// record parses to the same entry, and the record view (which ingest and
/// verify use for the index columns) derives the same columns as the entry.
pub fn check_entry(e: &Entry) {
    let rec = e.canonical_record();
    let back = parse_record(rec.as_bytes())
        .unwrap_or_else(|m| panic!("an accepted entry's record does not read back: {m}\n{rec}"));
    assert_eq!(&back, e, "the record reads back as another entry: {rec}");
    assert_eq!(back.canonical_record(), rec, "canonical form is not stable");
    let view = RecordView::parse(rec.as_bytes())
        .unwrap_or_else(|m| panic!("the record view rejects an accepted record: {m}\n{rec}"));
    let derived: Vec<Option<String>> = view.index_columns().iter().map(|c| c.to_text()).collect();
    assert_eq!(
        derived,
        IndexColumns::from_entry(e).values().to_vec(),
        "the record view derives other index columns than the entry: {rec}"
    );
    assert_eq!(
        view.before,
        e.before.as_ref().map(|b| b.to_canonical()).as_deref()
    );
    assert_eq!(
        view.after,
        e.after.as_ref().map(|b| b.to_canonical()).as_deref()
    );
}
