//! The strict JSON parser every reader and the record store rely on.
//!
//! Checks: no panic, hang or blow-up on any bytes; the streaming parser gives
//! the same answer whatever its buffer size; canonical form parses back to the
//! same value and is stable; a value that is a record passes [`check_entry`].

use crate::checks::check_entry;
use crate::core::json::{self, Json, Parser};
use crate::core::model::Entry;
use crate::core::record_view::RecordView;

fn parse_streaming(data: &[u8], buffer: usize) -> Result<Json, json::JsonError> {
    let mut p = Parser::with_buffer_size(data, buffer);
    let v = p.parse_value()?;
    p.skip_ws()?;
    if p.peek()?.is_some() {
        return Err(p.error("unexpected data after the JSON value"));
    }
    Ok(v)
}

pub fn run(data: &[u8]) {
    let whole = json::parse(data);
    // A buffer of 1 to 7 bytes puts refills inside every token.
    let buffer = data.len() % 7 + 1;
    let streamed = parse_streaming(data, buffer);
    match (&whole, &streamed) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "buffer size {buffer} changes the value"),
        (Err(_), Err(_)) => {}
        _ => panic!("buffer size {buffer} changes the outcome: {whole:?} vs {streamed:?}"),
    }
    let Ok(v) = whole else { return };
    assert!(v.depth() <= json::MAX_DEPTH);
    let canonical = v.to_canonical();
    let back = json::parse(canonical.as_bytes())
        .unwrap_or_else(|e| panic!("canonical form does not parse: {e}\n{canonical}"));
    assert_eq!(back, v, "canonical form parses to another value");
    assert_eq!(
        back.to_canonical(),
        canonical,
        "canonical form is not stable"
    );
    let pretty = v.to_pretty();
    assert_eq!(
        json::parse(pretty.as_bytes()).ok().as_ref(),
        Some(&v),
        "pretty form parses to another value"
    );
    // A record: it reads back from its sealed form, and the allocation-light
    // view agrees with the full parser.
    if let Ok(e) = Entry::from_record(&v) {
        check_entry(&e);
    }
    let _ = RecordView::parse(data);
}
