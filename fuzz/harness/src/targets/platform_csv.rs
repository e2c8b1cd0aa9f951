//! The CSV readers forced on any bytes: the platform's CSV export and the
//! auditlens CSV export (header checks, cell decoding, timestamps, JSON cells).

use crate::checks::drain;
use crate::core::source::{Format, Source};
use crate::scratch::write_input;

pub fn run(data: &[u8]) {
    let path = write_input("input.csv", data);
    for format in [Format::PlatformCsv, Format::ExportCsv] {
        if let Ok(mut src) = Source::open_as(&path, format) {
            drain(&mut src, data.len());
        }
    }
}
