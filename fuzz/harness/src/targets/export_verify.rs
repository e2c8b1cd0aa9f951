//! `auditlens verify --key K EXPORT` on any bytes: detection, the export
//! readers, the chain walk, the inclusion proofs (in the entries, or in the
//! CSV sidecar) and the checkpoint's signature check. Must end in a report or
//! a clean error.
//!
//! Input: the export file, optionally followed by [`SEPARATOR`] and the
//! sidecar (`EXPORT.proof.json`) of a CSV export.

use crate::core::job::Job;
use crate::core::proof;
use crate::keys::verifier;
use crate::scratch::write_input;

/// Splits the input into the export and its CSV proof sidecar.
pub const SEPARATOR: &[u8] = b"\n\0sidecar\0\n";

pub fn run(data: &[u8]) {
    let (export, sidecar) = match data.windows(SEPARATOR.len()).position(|w| w == SEPARATOR) {
        Some(i) => (&data[..i], Some(&data[i + SEPARATOR.len()..])),
        None => (data, None),
    };
    let path = write_input("export", export);
    let sidecar_path = proof::sidecar_path(&path);
    match sidecar {
        Some(s) => std::fs::write(&sidecar_path, s).expect("write the sidecar"),
        None => {
            let _ = std::fs::remove_file(&sidecar_path);
        }
    }
    let keys = [verifier()];
    let job = Job::new();
    if let Ok((report, _)) = auditlens_core::verify::verify_signed(&path, None, &keys, &job) {
        let _ = (report.status(), report.problems(), report.warnings());
    }
}
