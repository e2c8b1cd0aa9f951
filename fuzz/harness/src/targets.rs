//! One module per fuzz target, each with `run(data: &[u8])`, which panics
//! when a check fails.

pub mod archive_verify;
pub mod checkpoint_note;
pub mod detect_and_read;
pub mod export_verify;
pub mod json;
pub mod platform_csv;
pub mod platform_json;
