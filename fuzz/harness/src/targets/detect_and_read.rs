//! Content-based format detection, then the detected reader to the end of
//! the file: any bytes end in records or errors, never a panic or a hang, and
//! every accepted entry reads back from the record ingest would seal.

use crate::checks::drain;
use crate::core::source::{Format, Source, detect};
use crate::scratch::write_input;

pub fn run(data: &[u8]) {
    let path = write_input("input", data);
    let Ok(format) = detect(&path) else { return };
    if format == Format::Archive {
        // SQLite files: the archive_verify target.
        return;
    }
    if let Ok(mut src) = Source::open_as(&path, format) {
        assert_eq!(src.format, format);
        drain(&mut src, data.len());
    }
}
