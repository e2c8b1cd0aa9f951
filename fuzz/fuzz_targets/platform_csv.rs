//! The CSV readers forced on any bytes: the platform's CSV export and the
//! auditlens CSV export (header checks, cell decoding, timestamps, JSON cells).
#![no_main]

use auditlens_fuzz::core::source::{Format, Source};
use auditlens_fuzz::{drain, write_input};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = write_input("input.csv", data);
    for format in [Format::PlatformCsv, Format::ExportCsv] {
        if let Ok(mut src) = Source::open_as(&path, format) {
            drain(&mut src, data.len());
        }
    }
});
