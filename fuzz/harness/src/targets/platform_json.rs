//! The JSON readers forced on any bytes: the platform's JSON array and JSONL
//! exports, and the auditlens JSON and NDJSON exports (headers, footers,
//! stringified before/after states, proof fields).

use crate::checks::drain;
use crate::core::source::{Format, Source};
use crate::scratch::write_input;

pub fn run(data: &[u8]) {
    let path = write_input("input.json", data);
    for format in [
        Format::PlatformJson,
        Format::PlatformJsonl,
        Format::ExportJson,
        Format::ExportNdjson,
    ] {
        if let Ok(mut src) = Source::open_as(&path, format) {
            drain(&mut src, data.len());
        }
    }
}
