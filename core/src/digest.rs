//! The SHA-256 of a whole file, so an auditor can cite exactly which file was examined.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(crate::chain::to_hex(&h.finalize()))
}

/// The SHA-256 of bytes already read (a file read whole), in the same hex form.
pub fn bytes_sha256(bytes: &[u8]) -> String {
    crate::chain::to_hex(&Sha256::digest(bytes))
}
