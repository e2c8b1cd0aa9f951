//! The test key that signs the seed exports and checkpoints (`fuzz/seed.sh`
//! signs with the same file, and `fuzz/seeds/archive.checkpoint` is signed by
//! it). Its seed is 32 bytes of 7: it guards nothing.

use std::sync::OnceLock;

use crate::core::note::{SignerKey, VerifierKey};

pub fn signer() -> &'static SignerKey {
    static KEY: OnceLock<SignerKey> = OnceLock::new();
    KEY.get_or_init(|| SignerKey::parse(include_str!("../../seeds/fuzz.key")).expect("fuzz.key"))
}

/// The verifier key of [`signer`].
pub fn verifier() -> VerifierKey {
    signer().verifier()
}
