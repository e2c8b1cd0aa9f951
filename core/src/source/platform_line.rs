//! The fast path of ingest for a platform JSONL line: the line is read once,
//! straight into its canonical record, without a [`Json`](crate::json::Json)
//! tree, an [`Entry`](crate::model::Entry) or a string per field.
//!
//! It reads the shape the platform writes (its 15 columns, each at most
//! once, holding a string or null; canonical times; states that
//! [`json::write_canonical_plain`] reads) and answers `None` at anything
//! else. `None` is never a verdict: the general path (`json::parse`,
//! `platform_entry`, `Entry::to_record`) then reads the line and accepts or
//! rejects it with its reason. Where this answers, it writes the bytes the
//! general path writes (the tests below hold it to that, line by line).
//!
//! A platform CSV row, once the csv crate has read its cells, takes the same
//! way (`canonical_csv_record`): an empty cell is `null`, any other is text;
//! its general path is `platform_csv_entry`.

use std::borrow::Cow;

use crate::json::{self, Json, PlainScratch};
use crate::time::Timestamp;

/// Longest line taken on the fast path; a longer one goes the general way.
const MAX_FAST_LINE: usize = 1 << 20;

/// The platform's columns, in [`super::PLATFORM_COLUMNS`] order.
const ID: usize = 0;
const CREATED_AT: usize = 1;
const UPDATED_AT: usize = 2;
const TYPE: usize = 3;
const API_KEY_ID: usize = 4;
const USER_ID: usize = 5;
const ORG_ID: usize = 6;
const USER_ORG_ROLE: usize = 7;
const PROJECT_ID: usize = 8;
const USER_PROJECT_ROLE: usize = 9;
const RESOURCE_TYPE: usize = 10;
const RESOURCE_ID: usize = 11;
const ACTION: usize = 12;
const BEFORE: usize = 13;
const AFTER: usize = 14;

/// Reusable buffers, so that a line costs no allocation but its id.
#[derive(Debug, Default)]
pub(super) struct LineScratch {
    plain: PlainScratch,
    state: String,
}

/// A field as the line holds it: absent, `null`, or a string (the range of
/// its body in the line, and whether it holds escapes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Absent,
    Null,
    Text(usize, usize, bool),
}

/// Writes the canonical record of the platform row on `line` (one JSONL
/// line, its byte order mark already removed) to `out`; its time and id.
/// `None`, with `out` as it was, when the line is not in the plain shape.
pub(super) fn canonical_record(
    line: &[u8],
    out: &mut String,
    scratch: &mut LineScratch,
) -> Option<(Timestamp, String)> {
    let start = out.len();
    let r = write(line, out, scratch);
    if r.is_none() {
        out.truncate(start);
    }
    r
}

/// Writes the canonical record of a platform CSV row to `out`, as
/// [`canonical_record`] writes that of a JSONL line: `cells` holds the text
/// of each of the platform's columns (in [`super::PLATFORM_COLUMNS`] order),
/// `None` for an empty cell or a column the file lacks; the row has no other
/// non-empty cell. Its time and id; `None`, with `out` as it was, when the
/// row is not in the plain shape.
pub(super) fn canonical_csv_record(
    cells: &[Option<&str>; 15],
    out: &mut String,
    scratch: &mut LineScratch,
) -> Option<(Timestamp, String)> {
    if cells.iter().flatten().map(|c| c.len()).sum::<usize>() > MAX_FAST_LINE {
        return None;
    }
    let start = out.len();
    let r = write_cells(&cells.map(|c| c.map(Cell::Plain)), out, scratch);
    if r.is_none() {
        out.truncate(start);
    }
    r
}

/// A column's text as the row holds it.
#[derive(Clone, Copy)]
enum Cell<'a> {
    /// The text as it stands: a JSON string without escapes, a CSV cell.
    Plain(&'a str),
    /// A JSON string with escapes, quotes included.
    Escaped(&'a str),
}

fn write(line: &[u8], out: &mut String, scratch: &mut LineScratch) -> Option<(Timestamp, String)> {
    if line.len() > MAX_FAST_LINE {
        return None;
    }
    let text = std::str::from_utf8(line).ok()?;
    let fields = read_fields(text)?;
    let cells = fields.map(|f| match f {
        Field::Absent | Field::Null => None,
        Field::Text(a, b, false) => Some(Cell::Plain(&text[a..b])),
        Field::Text(a, b, true) => Some(Cell::Escaped(&text[a - 1..b + 1])),
    });
    write_cells(&cells, out, scratch)
}

/// Writes the canonical record of the row whose platform columns hold
/// `cells` (`None`: absent or null).
fn write_cells(
    cells: &[Option<Cell<'_>>; 15],
    out: &mut String,
    scratch: &mut LineScratch,
) -> Option<(Timestamp, String)> {
    let get = |i: usize| -> Option<Option<Cow<'_, str>>> {
        match cells[i] {
            None => Some(None),
            Some(Cell::Plain(s)) => Some(Some(Cow::Borrowed(s))),
            Some(Cell::Escaped(quoted)) => decode(quoted).map(|s| Some(Cow::Owned(s))),
        }
    };
    let id = get(ID)?.filter(|s| !s.is_empty())?;
    let created = get(CREATED_AT)??;
    let time = Timestamp::parse_canonical(&created)?;
    let updated = get(UPDATED_AT)?;
    if let Some(u) = &updated {
        Timestamp::parse_canonical(u)?;
    }
    let resource_type = get(RESOURCE_TYPE)?;
    let action = get(ACTION)?;
    let (resource_type, action) = (resource_type?, action?);
    let resource_id = get(RESOURCE_ID)?.unwrap_or_default();

    // The record's keys in byte order, as `Entry::to_record` has them.
    let string = |out: &mut String, key: &str, v: &str| {
        out.push('"');
        out.push_str(key);
        out.push_str("\":");
        json::write_canonical_string(v, out);
    };
    out.push('{');
    string(out, "action", &action);
    out.push_str(",\"actor\":{");
    let mut first = true;
    for (key, i) in [
        ("api_key_id", API_KEY_ID),
        ("org_role", USER_ORG_ROLE),
        ("project_role", USER_PROJECT_ROLE),
        ("type", TYPE),
        ("user_id", USER_ID),
    ] {
        if let Some(v) = get(i)? {
            if !first {
                out.push(',');
            }
            first = false;
            string(out, key, &v);
        }
    }
    out.push('}');
    for (key, i) in [("after", AFTER), ("before", BEFORE)] {
        if let Some(cell) = cells[i] {
            out.push_str(",\"");
            out.push_str(key);
            out.push_str("\":");
            let state = match cell {
                Cell::Plain(s) => s,
                Cell::Escaped(quoted) => {
                    scratch.state.clear();
                    let body = &quoted[1..quoted.len() - 1];
                    if json::unescape_plain(body, &mut scratch.state).is_none() {
                        scratch.state = decode(quoted)?;
                    }
                    scratch.state.as_str()
                }
            };
            json::write_canonical_plain(state, out, &mut scratch.plain)?;
        }
    }
    out.push(',');
    string(out, "id", &id);
    for (key, i) in [("org_id", ORG_ID), ("project_id", PROJECT_ID)] {
        if let Some(v) = get(i)? {
            out.push(',');
            string(out, key, &v);
        }
    }
    out.push(',');
    string(out, "resource_id", &resource_id);
    out.push(',');
    string(out, "resource_type", &resource_type);
    // Canonical times are written as they stand (`Timestamp`'s display of a
    // time read by `parse_canonical` is the same text).
    out.push(',');
    string(out, "time", &created);
    if let Some(u) = &updated {
        out.push(',');
        string(out, "updated_at", u);
    }
    out.push('}');
    Some((time, id.into_owned()))
}

/// A JSON string with escapes other than the plain ones (`\u`), decoded by
/// the general parser: `quoted` is the string with its quotes.
fn decode(quoted: &str) -> Option<String> {
    match json::parse(quoted.as_bytes()) {
        Ok(Json::String(s)) => Some(s),
        _ => None,
    }
}

/// The line's fields: one object of known keys (each at most once, each
/// without escapes), each holding a string or null, and nothing after it.
fn read_fields(text: &str) -> Option<[Field; 15]> {
    let s = text.as_bytes();
    let mut i = 0;
    let ws = |i: &mut usize| {
        while matches!(s.get(*i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            *i += 1;
        }
    };
    // A string at `"`: its body's range and whether it holds escapes.
    let string = |i: &mut usize| -> Option<(usize, usize, bool)> {
        let (start, end, escaped) = json::string_at(s, *i)?;
        *i = end + 1;
        Some((start, end, escaped))
    };
    let mut fields = [Field::Absent; 15];
    let mut next = 0;
    ws(&mut i);
    if s.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    loop {
        ws(&mut i);
        if s.get(i) != Some(&b'"') {
            return None;
        }
        let (ka, kb, escaped) = string(&mut i)?;
        if escaped {
            return None;
        }
        // The platform writes the columns in this order: the next one is
        // tried first.
        let key = &s[ka..kb];
        let k = match super::PLATFORM_COLUMNS.get(next) {
            Some(c) if c.as_bytes() == key => next,
            _ => super::PLATFORM_COLUMNS
                .iter()
                .position(|c| c.as_bytes() == key)?,
        };
        next = k + 1;
        if fields[k] != Field::Absent {
            return None;
        }
        ws(&mut i);
        if s.get(i) != Some(&b':') {
            return None;
        }
        i += 1;
        ws(&mut i);
        fields[k] = match s.get(i)? {
            b'"' => {
                let (a, b, escaped) = string(&mut i)?;
                Field::Text(a, b, escaped)
            }
            b'n' if s[i..].starts_with(b"null") => {
                i += 4;
                Field::Null
            }
            _ => return None,
        };
        ws(&mut i);
        match s.get(i)? {
            b',' => i += 1,
            b'}' => {
                i += 1;
                break;
            }
            _ => return None,
        }
    }
    ws(&mut i);
    (i == s.len()).then_some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{PlatformFormat, Profile, Sample, write_platform};

    /// What the general path makes of a line: the canonical record, or `None`
    /// where it refuses the line (or the entry is too deep).
    fn general(line: &[u8]) -> Option<String> {
        let Ok(Json::Object(m)) = json::parse(line) else {
            return None;
        };
        let entry = super::super::platform_entry(&m).ok()?;
        (entry.record_depth() <= json::MAX_RECORD_DEPTH).then(|| entry.canonical_record())
    }

    /// Where the fast path answers, it answers what the general path writes,
    /// with its time and id; where the general path refuses, it does not answer.
    fn agree(line: &[u8]) -> bool {
        let mut out = String::from("kept");
        let fast = canonical_record(line, &mut out, &mut LineScratch::default());
        let want = general(line);
        let answered = fast.is_some();
        match fast {
            None => assert_eq!(out, "kept", "{}", String::from_utf8_lossy(line)),
            Some((time, id)) => {
                let record = out.strip_prefix("kept").unwrap();
                assert_eq!(
                    Some(record),
                    want.as_deref(),
                    "{}",
                    String::from_utf8_lossy(line)
                );
                let e = crate::model::Entry::from_record(&json::parse(record.as_bytes()).unwrap())
                    .unwrap();
                assert_eq!((time, id), (e.time, e.id));
            }
        }
        answered
    }

    /// Every line of the platform-shaped sample goes the fast way, and agrees.
    #[test]
    fn sample_lines_take_the_fast_path_and_agree() {
        for profile in [Profile::Platform, Profile::Rich] {
            let mut file = Vec::new();
            write_platform(
                &Sample::new(3000, 7).with_profile(profile),
                PlatformFormat::Jsonl,
                &mut file,
            )
            .unwrap();
            let lines: Vec<&[u8]> = file.split_inclusive(|&b| b == b'\n').collect();
            let fast = lines.iter().filter(|l| agree(l)).count();
            if profile == Profile::Platform {
                assert_eq!(fast, lines.len());
            }
        }
    }

    /// Unusual lines: some still go the fast way, the rest go the general way
    /// (which accepts or refuses them), and none is written differently.
    #[test]
    fn unusual_lines_agree_or_go_the_general_way() {
        let base = r#""id":"c1","createdAt":"2025-03-14T09:21:07.412Z","resourceType":"prompt","action":"create""#;
        let with = |extra: &str| format!("{{{base}{extra}}}");
        let fast = [
            with(""),
            with(r#","after":"{\"b\":1,\"a\":[true,null,-0.5e+7,\"x\\\\y\"]}""#),
            with(r#","before":"\"production\"","after":"true""#),
            with(r#","after":" { \"z\" : { \"y\":2 , \"x\" : [ ] } , \"a\":{} } ""#),
            with(r#","after":"{\"text\":\"line\\nnext\\t\\\"q\\\" \\/ \\b\\f\\r\"}""#),
            with(
                r#","userId":"u\"1","apiKeyId":"k","type":"API_KEY","updatedAt":"2025-03-14T09:21:08.000Z""#,
            ),
            with(
                r#","resourceId":null,"orgId":"o","projectId":"p","userOrgRole":"ADMIN","userProjectRole":"VIEWER""#,
            ),
            with(r#","after":"{\"é\":\"ü\",\"e\":\"\u007f\"}""#),
            // `\u` escapes in a field or around a state: decoded by the parser.
            with(r#","userId":"\u00e9""#),
            with(r#","after":"\u0022x\u0022""#),
            format!("  {{ {} }} \r\n", base.replace(',', " , ")),
        ];
        for line in &fast {
            assert!(agree(line.as_bytes()), "not on the fast path: {line}");
        }
        let general_way = [
            // A `\u` escape inside a state: left to the parser.
            with(r#","after":"{\"a\":\"\\u00e9\"}""#),
            // Keys and values it does not read.
            with(r#","userEmail":"a@b""#),
            with(r#","custom":1"#),
            with(r#","userId":5"#),
            with(r#","after":{"a":1}"#),
            format!(r#"{{"i\u0064":"c1",{}}}"#, &base[10..]),
            // Times it does not write as they stand.
            with(r#","updatedAt":"2025-03-14 09:21:08Z""#).replace("09:21:07.412Z", "09:21:07Z"),
            // Refused by the general path too.
            with(r#","id":"c2""#),
            with(r#","after":"{\"a\":1,\"a\":2}""#),
            with(r#","after":"{\"a\":01}""#),
            with(r#","after":"{\"a\":1.}""#),
            with(r#","after":"[1,]""#),
            with(r#","after":"""#),
            with(r#","after":"{} x""#),
            with(r#","after":"\"\\x\"""#),
            with(r#","updatedAt":"yesterday""#),
            with("").replace("\"c1\"", "\"\""),
            with("").replace("\"prompt\"", "null"),
            with(","),
            format!("{} x", with("")),
            format!("[{}]", with("")),
            with(r#","after":"{\"a\":\"tab	here\"}""#),
            with(&format!(
                r#","after":"{}1{}""#,
                "[".repeat(40),
                "]".repeat(40)
            )),
            with(&format!(
                r#","after":"{}1{}""#,
                "[".repeat(130),
                "]".repeat(130)
            )),
        ];
        for line in &general_way {
            assert!(!agree(line.as_bytes()), "on the fast path: {line}");
        }
        let mut bad_utf8 = with("").into_bytes();
        bad_utf8[8] = 0xff;
        assert!(!agree(&bad_utf8));
    }

    /// A platform CSV row: where the fast path answers, it writes what the
    /// general path (`platform_csv_entry`) writes, with its time and id.
    fn csv_agree(row: &[&str]) -> bool {
        let columns: Vec<String> = super::super::PLATFORM_COLUMNS
            .iter()
            .map(|c| c.to_string())
            .collect();
        let cells = csv::StringRecord::from(row.to_vec());
        let mut plain = [None; 15];
        for (i, v) in row.iter().enumerate() {
            plain[i] = Some(*v).filter(|v| !v.is_empty());
        }
        let mut out = String::from("kept");
        let fast = canonical_csv_record(&plain, &mut out, &mut LineScratch::default());
        let want = super::super::platform_csv_entry(&columns, &cells)
            .ok()
            .filter(|e| e.record_depth() <= json::MAX_RECORD_DEPTH);
        match fast {
            None => {
                assert_eq!(out, "kept", "{row:?}");
                false
            }
            Some((time, id)) => {
                let want = want.unwrap_or_else(|| panic!("refused: {row:?}"));
                assert_eq!(out.strip_prefix("kept"), Some(&*want.canonical_record()));
                assert_eq!((time, id), (want.time, want.id));
                true
            }
        }
    }

    /// Every row of the platform-shaped CSV sample goes the fast way, and
    /// agrees; unusual rows agree or go the general way.
    #[test]
    fn csv_rows_agree_or_go_the_general_way() {
        let mut file = Vec::new();
        write_platform(
            &Sample::new(3000, 7).with_profile(Profile::Platform),
            PlatformFormat::Csv,
            &mut file,
        )
        .unwrap();
        let mut rdr = csv::Reader::from_reader(&file[..]);
        assert_eq!(
            rdr.headers().unwrap(),
            super::super::PLATFORM_COLUMNS.to_vec()
        );
        let mut rows = 0;
        for r in rdr.records() {
            let r = r.unwrap();
            assert!(csv_agree(&r.iter().collect::<Vec<_>>()));
            rows += 1;
        }
        assert_eq!(rows, 3000);
        fn row<'a>(edit: &[(usize, &'a str)]) -> Vec<&'a str> {
            let mut r = vec![""; 15];
            r[ID] = "c1";
            r[CREATED_AT] = "2025-03-14T09:21:07.412Z";
            r[RESOURCE_TYPE] = "prompt";
            r[ACTION] = "create";
            for (i, v) in edit {
                r[*i] = v;
            }
            r
        }
        for r in [
            row(&[]),
            row(&[(USER_ID, "u\"1, \\ \u{7f}é"), (TYPE, "API_KEY")]),
            row(&[(AFTER, "{\"b\":1,\"a\":[true,null,-0.5e+7,\"x\\\\y\"]}")]),
            row(&[
                (BEFORE, " { \"z\" : { \"y\":2 } } "),
                (AFTER, "\"production\""),
            ]),
            row(&[(AFTER, "{\"text\":\"line\\nnext\"}\r\n")]),
            row(&[(UPDATED_AT, "2025-03-14T09:21:08.000Z")]),
        ] {
            assert!(csv_agree(&r), "not on the fast path: {r:?}");
        }
        let deep = format!("{}1{}", "[".repeat(130), "]".repeat(130));
        for r in [
            row(&[(AFTER, "{\"a\":\"\\u00e9\"}")]),
            row(&[(ID, "")]),
            row(&[(ACTION, "")]),
            row(&[(UPDATED_AT, "2025-03-14 09:21:08Z")]),
            row(&[(AFTER, "{\"a\":1,\"a\":2}")]),
            row(&[(AFTER, "[1,]")]),
            row(&[(AFTER, "{} x")]),
            row(&[(AFTER, " ")]),
            row(&[(AFTER, &deep)]),
        ] {
            assert!(!csv_agree(&r), "on the fast path: {r:?}");
        }
    }

    /// Every line of the fuzz corpora of the JSON readers: the fast path
    /// writes what the general path writes, or leaves the line to it.
    #[test]
    fn fuzz_corpus_lines_agree() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
        let mut lines = 0;
        for dir in [
            "corpus/platform_json",
            "corpus/json",
            "corpus/detect_and_read",
        ] {
            let Ok(rd) = std::fs::read_dir(root.join(dir)) else {
                continue;
            };
            for f in rd.flatten() {
                let data = std::fs::read(f.path()).unwrap();
                for line in data.split_inclusive(|&b| b == b'\n') {
                    agree(line);
                    lines += 1;
                }
            }
        }
        assert!(
            lines > 100,
            "the fuzz corpora were not found ({lines} lines)"
        );
    }
}
