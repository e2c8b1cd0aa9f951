//! Whether a stored record is the canonical record of its entry
//! (docs/FORMAT.md §2–3), and within the limits every export can carry.
//!
//! A matching leaf hash proves that a record's bytes were not changed after
//! they were hashed; it does not prove that they are the bytes ingest would
//! have sealed. Whoever recomputes the hashes (another writer, or a tamperer)
//! can store `\/` for `/`, `\u00e9` for `é`, a time without its milliseconds
//! or an empty `"extra":{}`: the entry reads the same, so two different byte
//! strings would stand for one entry, and auditlens's own export of it would
//! carry other bytes than the archive hashed. Verification therefore checks
//! every record here.
//!
//! The check reads the bytes once and builds nothing: it follows the JSON
//! grammar and, at each place where the canonical writer has a single
//! choice (no whitespace, keys in byte order and once, the escape of each
//! character), checks that this choice was made. It says the same as parsing
//! the record, writing it canonically and comparing the bytes (tested below),
//! at a fraction of the cost, and it names what is wrong.

use std::borrow::Cow;

use crate::json::{self, MAX_RECORD_BYTES, MAX_RECORD_DEPTH};
use crate::record_view::{RecordView, string_stop};

/// What is wrong with a stored record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// Not a record at all: not UTF-8, not JSON, or canonical JSON that does
    /// not read as an entry (an unknown or missing field, a field of the
    /// wrong type, a time that is no time). Finding `unreadable_record`.
    Unreadable(String),
    /// JSON that is not in canonical form, or a record whose fields are not
    /// written as the canonical record writes them, or one over a limit.
    /// Finding `non_canonical_record`.
    NonCanonical(String),
}

/// A stored record as verification sees it.
pub struct Checked<'a> {
    /// The record's fields, when it reads as an entry (even a non-canonical one).
    pub view: Option<RecordView<'a>>,
    /// What is wrong with it; `None` for a canonical record within the limits.
    pub problem: Option<Problem>,
}

/// Reads a stored record and checks that it is canonical and within the
/// limits. Used by ingest for the archive's last entry before it appends,
/// and by search hits; verification calls [`check_into`].
pub fn check(bytes: &[u8]) -> Checked<'_> {
    let mut view = RecordView::default();
    let (read, problem) = check_into(bytes, &mut view);
    Checked {
        view: read.then_some(view),
        problem,
    }
}

/// [`check`], reading the record into `view` (a default one) in place:
/// verification checks every row, and the view is large to move. Returns
/// whether the record reads as an entry (then `view` holds it; otherwise
/// `view` is not to be used) and what is wrong with it.
///
/// The record is read once: in the shape ingest seals, the view reads the
/// keys (known, in order, each once), the top-level and actor strings (no
/// escapes) and the punctuation between them (no whitespace) as the
/// canonical writer writes them, and hands each state and `extra` to the
/// canonical walk, which checks it as it finds where it ends. Any other
/// record is read by the general parser and walked whole.
pub fn check_into<'a>(bytes: &'a [u8], view: &mut RecordView<'a>) -> (bool, Option<Problem>) {
    // The first thing not in canonical form in a state or `extra`, in the
    // record's order.
    let mut form = None;
    let parsed = view.read(bytes, |_, at| {
        // Whitespace before a value is not the sealed shape (the view reads
        // no such record): the general parser says so.
        if is_ws(*bytes.get(at)?) {
            return None;
        }
        let mut c = Check::new(bytes);
        c.i = at;
        // A grammar fault (or one too deep to walk on) ends the fast read:
        // the general parser and the whole-record walk below judge it.
        c.value(1, MAX_RECORD_DEPTH).ok()?;
        if form.is_none() {
            form = c.form;
        }
        Some(c.i)
    });
    if bytes.len() > MAX_RECORD_BYTES {
        let problem = Problem::NonCanonical(format!(
            "the record is {} bytes, more than the {MAX_RECORD_BYTES} a record may have \
             (so that every export of it can be read back)",
            bytes.len()
        ));
        return (parsed.is_ok(), Some(problem));
    }
    let json = match &parsed {
        Ok(true) => form.map_or(Ok(()), |m| Err(Fault::Form(m))),
        // The view found the bytes not to be UTF-8 before it read them.
        Err(m) if std::str::from_utf8(bytes).is_err() => {
            return (false, Some(Problem::Unreadable(m.clone())));
        }
        _ => check_json(bytes, MAX_RECORD_DEPTH),
    };
    let problem = match (json, &parsed) {
        (Err(Fault::Form(m)), _) => Some(Problem::NonCanonical(m)),
        (Err(Fault::Grammar(_)), Err(m)) => Some(Problem::Unreadable(m.clone())),
        (Err(Fault::Grammar(m)), Ok(_)) => Some(Problem::Unreadable(m)),
        (Ok(()), Err(m)) => Some(Problem::Unreadable(m.clone())),
        (Ok(()), Ok(_)) => check_fields(view).err().map(Problem::NonCanonical),
    };
    (parsed.is_ok(), problem)
}

/// [`check`] without the view: `Ok` for a canonical record within the limits.
pub fn check_record(bytes: &[u8]) -> Result<(), Problem> {
    check(bytes).problem.map_or(Ok(()), Err)
}

/// The record carried by an entry of a JSON or NDJSON export (docs/FORMAT.md
/// §9): the entry object as written, with the keys an export puts before the
/// record's (`seq`, `leaf_hash`, `chain_hash`, `leaf_index`, `inclusion`, in
/// that order, each optional) taken out. `None` if `entry` does not start
/// like an entry object. Give the result to [`check_record`]: an exported
/// entry must carry its record as the archive stored it.
pub fn record_in_export_entry(entry: &[u8]) -> Option<Vec<u8>> {
    const LEADING: [&[u8]; 5] = [
        b"\"seq\":",
        b"\"leaf_hash\":",
        b"\"chain_hash\":",
        b"\"leaf_index\":",
        b"\"inclusion\":",
    ];
    let mut c = Check::new(entry);
    if c.b.first() != Some(&b'{') {
        return None;
    }
    c.i = 1;
    for key in LEADING {
        if c.b[c.i..].starts_with(key) {
            c.i += key.len();
            c.value(1, usize::MAX).ok()?;
            if c.b.get(c.i) != Some(&b',') {
                return None;
            }
            c.i += 1;
        }
    }
    let mut record = Vec::with_capacity(entry.len() - c.i + 1);
    record.push(b'{');
    record.extend_from_slice(&entry[c.i..]);
    Some(record)
}

/// The fields of a record that reads as an entry, as the canonical record
/// writes them: each time in `YYYY-MM-DDTHH:MM:SS.mmmZ`, and `extra` only
/// when it holds something.
fn check_fields(v: &RecordView<'_>) -> Result<(), String> {
    let times = [
        ("time", Some(&v.time_text)),
        ("updated_at", v.updated_at.as_ref()),
        (
            "actor.api_key_created_at",
            v.actor.api_key_created_at.as_ref(),
        ),
    ];
    for (name, text) in times {
        if let Some(text) = text
            && !is_canonical_time(text)
        {
            let canonical = crate::time::Timestamp::parse(text)
                .map(|t| format!(" (canonical: {t})"))
                .unwrap_or_default();
            return Err(format!(
                "\"{name}\" {text:?} is not a canonical time{canonical}: a record writes \
                 times as YYYY-MM-DDTHH:MM:SS.mmmZ"
            ));
        }
    }
    if v.extra == Some("{}") {
        return Err("\"extra\" is an empty object: a canonical record omits it".into());
    }
    Ok(())
}

/// Whether `s`, already read as a time, is written `YYYY-MM-DDTHH:MM:SS.mmmZ`.
/// A time in this shape with a second below 60 is read by the canonical
/// parser, whose value writes back as the same text; chrono reads a leap
/// second (`:60`) too, which is why the second is checked.
fn is_canonical_time(s: &str) -> bool {
    crate::time::has_canonical_shape(s.as_bytes()) && s.as_bytes()[17] <= b'5'
}

/// Why bytes are not canonical JSON.
#[derive(Debug, PartialEq, Eq)]
enum Fault {
    /// Not JSON (RFC 8259) at all.
    Grammar(String),
    /// JSON, but not written as the canonical writer writes it.
    Form(String),
}

/// Checks that `bytes` are one JSON value in canonical form, nested at most
/// `max_depth` levels (counted as [`json::Json::depth`] counts them).
/// `bytes` must be UTF-8.
fn check_json(bytes: &[u8], max_depth: usize) -> Result<(), Fault> {
    let mut c = Check::new(bytes);
    c.value(0, max_depth)?;
    if c.at()?.is_some() {
        return Err(c.grammar("data after the value"));
    }
    c.form.map_or(Ok(()), |m| Err(Fault::Form(m)))
}

/// The order of two keys' bytes, as `<[u8]>::cmp` gives it. Keys are short
/// and most pairs differ in their first byte: a loop here costs less than
/// the call to `memcmp` that the slice comparison makes.
#[inline]
fn byte_order(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    match a.iter().zip(b).find(|(x, y)| x != y) {
        Some((x, y)) => x.cmp(y),
        None => a.len().cmp(&b.len()),
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// A walk over JSON text. Grammar errors end it at once; the first thing
/// not in canonical form is kept and the walk goes on, so that text that is
/// not JSON at all is called that, wherever the first non-canonical byte is.
struct Check<'a> {
    b: &'a [u8],
    i: usize,
    form: Option<String>,
}

impl<'a> Check<'a> {
    fn new(b: &'a [u8]) -> Self {
        Check {
            b,
            i: 0,
            form: None,
        }
    }

    #[cold]
    fn grammar(&self, m: &str) -> Fault {
        Fault::Grammar(format!(
            "record is not valid JSON (byte {}: {m})",
            self.i + 1
        ))
    }

    /// Notes the first thing not in canonical form (at the cursor).
    #[cold]
    fn form(&mut self, m: String) {
        if self.form.is_none() {
            self.form = Some(format!("{m} (byte {})", self.i + 1));
        }
    }

    /// The byte at the cursor where the grammar allows whitespace, which the
    /// canonical form never writes (it is skipped and noted).
    #[inline]
    fn at(&mut self) -> Result<Option<u8>, Fault> {
        if self.b.get(self.i).is_some_and(|&b| is_ws(b)) {
            self.form("whitespace outside a string".into());
            while self.b.get(self.i).is_some_and(|&b| is_ws(b)) {
                self.i += 1;
            }
        }
        Ok(self.b.get(self.i).copied())
    }

    fn value(&mut self, depth: usize, max_depth: usize) -> Result<(), Fault> {
        match self.at()? {
            Some(b'{') => self.object(depth + 1, max_depth),
            Some(b'[') => self.array(depth + 1, max_depth),
            Some(b'"') => self.string().map(|_| ()),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            None => Err(self.grammar("the value is cut short")),
            Some(_) => Err(self.grammar("expected a value")),
        }
    }

    /// Deeper than allowed ends the walk (the stack stays small).
    fn deeper(&mut self, depth: usize, max_depth: usize) -> Result<(), Fault> {
        if depth > max_depth {
            self.form = None;
            self.form(format!(
                "nested more than {max_depth} levels deep, the most a record may be"
            ));
            return Err(Fault::Form(self.form.take().unwrap_or_default()));
        }
        Ok(())
    }

    fn object(&mut self, depth: usize, max_depth: usize) -> Result<(), Fault> {
        self.deeper(depth, max_depth)?;
        self.i += 1;
        if self.at()? == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        let mut previous: Option<Key> = None;
        loop {
            if self.at()? != Some(b'"') {
                return Err(self.grammar("expected a key"));
            }
            let key_at = self.i;
            let key = self.string()?;
            if let Some(p) = previous {
                let order = if p.escaped || key.escaped {
                    self.decoded(p).cmp(&self.decoded(key))
                } else {
                    byte_order(&self.b[p.start..p.end], &self.b[key.start..key.end])
                };
                if order != std::cmp::Ordering::Less {
                    let k = String::from_utf8_lossy(&self.b[key.start..key.end]).into_owned();
                    let end = std::mem::replace(&mut self.i, key_at);
                    self.form(if order == std::cmp::Ordering::Equal {
                        format!("key \"{k}\" given twice in an object")
                    } else {
                        format!(
                            "key \"{k}\" out of order (keys go in the order of their UTF-8 bytes)"
                        )
                    });
                    self.i = end;
                }
            }
            previous = Some(key);
            if self.at()? != Some(b':') {
                return Err(self.grammar("expected ':' after a key"));
            }
            self.i += 1;
            self.value(depth, max_depth)?;
            match self.at()? {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(self.grammar("expected ',' or '}' in an object")),
            }
        }
    }

    fn array(&mut self, depth: usize, max_depth: usize) -> Result<(), Fault> {
        self.deeper(depth, max_depth)?;
        self.i += 1;
        if self.at()? == Some(b']') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.value(depth, max_depth)?;
            match self.at()? {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(self.grammar("expected ',' or ']' in an array")),
            }
        }
    }

    /// The key's text, decoded (only for keys with escapes: rare).
    fn decoded(&self, k: Key) -> Cow<'a, [u8]> {
        let quoted = &self.b[k.start - 1..k.end + 1];
        match json::parse(quoted) {
            Ok(json::Json::String(s)) => Cow::Owned(s.into_bytes()),
            _ => Cow::Borrowed(&self.b[k.start..k.end]),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), Fault> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(self.grammar("invalid literal"))
        }
    }

    /// A number: any text of the JSON grammar is canonical (kept verbatim).
    fn number(&mut self) -> Result<(), Fault> {
        let digits = |c: &mut Self| {
            let start = c.i;
            while c.b.get(c.i).is_some_and(u8::is_ascii_digit) {
                c.i += 1;
            }
            c.i > start
        };
        if self.b[self.i] == b'-' {
            self.i += 1;
        }
        match self.b.get(self.i) {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return Err(self.grammar("invalid number")),
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if !digits(self) {
                return Err(self.grammar("invalid number: no digit after '.'"));
            }
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !digits(self) {
                return Err(self.grammar("invalid number: no digit in the exponent"));
            }
        }
        if self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            return Err(self.grammar("invalid number: leading zero"));
        }
        Ok(())
    }

    /// A string at the cursor; its content's bounds and whether it has escapes.
    #[inline]
    fn string(&mut self) -> Result<Key, Fault> {
        self.i += 1;
        let start = self.i;
        let mut escaped = false;
        loop {
            let Some(n) = string_stop(&self.b[self.i..]) else {
                self.i = self.b.len();
                return Err(self.grammar("unterminated string"));
            };
            self.i += n;
            match self.b[self.i] {
                b'"' => {
                    self.i += 1;
                    return Ok(Key {
                        start,
                        end: self.i - 1,
                        escaped,
                    });
                }
                b'\\' => {
                    escaped = true;
                    self.escape()?;
                }
                _ => return Err(self.grammar("unescaped control character in a string")),
            }
        }
    }

    /// An escape at the cursor (a backslash): canonical are `\"`, `\\`, the
    /// five short escapes, and `\u00xx` (lower-case hex) for other control
    /// characters; everything else is written as itself.
    fn escape(&mut self) -> Result<(), Fault> {
        match self.b.get(self.i + 1) {
            Some(b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't') => {}
            Some(b'/') => self.form("escaped '/' as \\/ (canonical: '/' as it is)".into()),
            Some(b'u') => return self.unicode_escape(),
            _ => return Err(self.grammar("invalid escape in a string")),
        }
        self.i += 2;
        Ok(())
    }

    /// A `\uXXXX` escape at the cursor (with its low half, for a surrogate pair).
    fn unicode_escape(&mut self) -> Result<(), Fault> {
        let cp = self.hex4(self.i + 2)?;
        let text = String::from_utf8_lossy(&self.b[self.i..self.i + 6]).into_owned();
        let short = match cp {
            0x08 => Some("\\b"),
            0x09 => Some("\\t"),
            0x0A => Some("\\n"),
            0x0C => Some("\\f"),
            0x0D => Some("\\r"),
            0x22 => Some("\\\""),
            0x5C => Some("\\\\"),
            _ => None,
        };
        let pair = (0xD800..0xDC00).contains(&cp)
            && self.b.get(self.i + 6..self.i + 8) == Some(b"\\u")
            && matches!(self.hex4(self.i + 8), Ok(0xDC00..0xE000));
        if let Some(short) = short {
            self.form(format!("{text} written for {short}"));
        } else if cp < 0x20 {
            if self.b[self.i + 2..self.i + 6]
                .iter()
                .any(u8::is_ascii_uppercase)
            {
                self.form(format!(
                    "{text} has upper-case hex digits (canonical: \\u{cp:04x})"
                ));
            }
        } else if pair {
            let low = self.hex4(self.i + 8)?;
            let c = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            self.form(format!(
                "U+{c:04X} escaped as a surrogate pair {text}\\u{low:04x} \
                 (canonical: the character as UTF-8)"
            ));
            self.i += 6;
        } else if (0xD800..0xE000).contains(&cp) {
            self.form(format!(
                "lone surrogate {text}: not a Unicode character, so no canonical form"
            ));
        } else {
            self.form(format!(
                "U+{cp:04X} escaped as {text} (canonical: the character as UTF-8)"
            ));
        }
        self.i += 6;
        Ok(())
    }

    fn hex4(&self, at: usize) -> Result<u32, Fault> {
        let digits = self
            .b
            .get(at..at + 4)
            .ok_or_else(|| self.grammar("invalid \\u escape"))?;
        digits.iter().try_fold(0u32, |n, &c| {
            let d = (c as char)
                .to_digit(16)
                .ok_or_else(|| self.grammar("invalid \\u escape"))?;
            Ok(n * 16 + d)
        })
    }
}

/// Where a string's content lies, and whether it holds escapes.
#[derive(Clone, Copy)]
struct Key {
    start: usize,
    end: usize,
    escaped: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::Json;
    use crate::sample::Sample;

    /// What the cheap check must agree with: parse, write canonically, compare.
    fn reference(bytes: &[u8]) -> bool {
        json::parse(bytes).is_ok_and(|v| v.to_canonical().as_bytes() == bytes)
    }

    fn form(bytes: &[u8]) -> Option<String> {
        match check_json(bytes, MAX_RECORD_DEPTH) {
            Err(Fault::Form(m)) => Some(m),
            _ => None,
        }
    }

    #[test]
    fn agrees_with_parse_and_write_back() {
        let cases: &[&str] = &[
            r#"{"a":1,"b":[true,false,null],"c":{"d":"e"}}"#,
            r#"{"b":1,"a":2}"#,
            r#"{"a":1,"a":2}"#,
            r#"{"a" :1}"#,
            r#"{"a":1} "#,
            r#"[1, 2]"#,
            r#""\/""#,
            r#""\u00e9""#,
            r#""\u001f""#,
            r#""\u001F""#,
            r#""\u000a""#,
            r#""\n\t\r\b\f\"\\""#,
            r#""\u0022""#,
            r#""\ud83d\ude00""#,
            "\"\u{7f}\u{2028}é😀\"",
            r#"[12345678901234567890123,1.0,-0.5e-7,1.5E+3,0]"#,
            r#"{"\n":1,"A":2}"#,
            r#"{"A":1,"\n":2}"#,
            r#"{"é":1,"z":2}"#,
            r#"{"z":1,"é":2}"#,
            r#"{"":1,"a":{}}"#,
            r#"[]"#,
            r#"{}"#,
        ];
        for c in cases {
            let ours = check_json(c.as_bytes(), MAX_RECORD_DEPTH).is_ok();
            assert_eq!(ours, reference(c.as_bytes()), "{c}");
        }
        // Every sample record is canonical, and so is its record.
        let s = Sample::new(500, 5);
        for i in 0..s.n {
            let rec = s.entry(i).canonical_record();
            assert_eq!(check_record(rec.as_bytes()), Ok(()), "{rec}");
        }
    }

    /// Ours and the reference agree on `bytes` (UTF-8 only: the caller checks
    /// that); whether the bytes are canonical.
    fn agree(bytes: &[u8]) -> bool {
        let ours = check_json(bytes, json::MAX_DEPTH);
        let parsed = json::parse(bytes);
        let reference = parsed
            .as_ref()
            .is_ok_and(|v| v.to_canonical().as_bytes() == bytes);
        assert_eq!(
            ours.is_ok(),
            reference,
            "{:?}: {ours:?}",
            String::from_utf8_lossy(bytes)
        );
        if matches!(ours, Err(Fault::Grammar(_))) {
            assert!(parsed.is_err(), "{:?}", String::from_utf8_lossy(bytes));
        }
        reference
    }

    /// The record check and the entry-level reference agree on `bytes`: a
    /// record is canonical when it reads as an entry whose canonical record
    /// is these bytes, within the limits.
    fn agree_on_record(bytes: &[u8]) {
        let reference = json::parse(bytes)
            .map_err(|e| e.to_string())
            .and_then(|v| crate::model::Entry::from_record(&v))
            .is_ok_and(|e| {
                e.canonical_record().as_bytes() == bytes && e.record_depth() <= MAX_RECORD_DEPTH
            });
        let ours = check(bytes);
        assert_eq!(
            ours.problem.is_none(),
            reference,
            "{:?}: {:?}",
            String::from_utf8_lossy(bytes),
            ours.problem
        );
    }

    /// Sample records with random edits at random places (the bytes where
    /// the grammar or the canonical form has a choice), and every input of
    /// the JSON fuzz corpus: the cheap check says what the reference says.
    #[test]
    fn agrees_with_the_reference_on_edited_records_and_the_fuzz_corpus() {
        const EDITS: &[&str] = &[
            " ",
            "\n",
            "\\",
            "\\/",
            "\\u00e9",
            "\\u001F",
            "\\u001f",
            "\\ud800",
            "\\ud83d\\ude00",
            "\\u000a",
            "\\n",
            "/",
            "\"",
            ",",
            ":",
            "{",
            "}",
            "[",
            "]",
            "0",
            "01",
            "-",
            "1.",
            "1e5",
            "e",
            "E+",
            "\u{1}",
            "é",
            "\"a\":1,",
            "null",
            "tru",
        ];
        let s = Sample::new(300, 9);
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let mut canonical = [0usize; 2];
        for i in 0..s.n {
            let rec = s.entry(i).canonical_record();
            assert!(agree(rec.as_bytes()));
            for round in 0..40 {
                let mut r = rec.clone();
                for _ in 0..1 + next(2) {
                    let mut at = next(r.len() + 1);
                    while !r.is_char_boundary(at) {
                        at -= 1;
                    }
                    match next(3) {
                        0 if at < r.len() => {
                            let end = (at + 1..=r.len()).find(|&e| r.is_char_boundary(e)).unwrap();
                            r.replace_range(at..end, "");
                        }
                        _ => r.insert_str(at, EDITS[next(EDITS.len())]),
                    }
                }
                canonical[usize::from(agree(r.as_bytes()))] += 1;
                if round % 4 == 0 {
                    agree_on_record(r.as_bytes());
                }
            }
        }
        // Both answers, many times over.
        assert!(canonical.iter().all(|&n| n > 1000), "{canonical:?}");
        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/json");
        let mut read = 0;
        for f in std::fs::read_dir(corpus).unwrap() {
            let bytes = std::fs::read(f.unwrap().path()).unwrap();
            if std::str::from_utf8(&bytes).is_ok() {
                agree(&bytes);
                read += 1;
            }
        }
        assert!(read > 100, "{read}");
    }

    /// The check as two walks, as it was before the view and the canonical
    /// walk were fused: the view reads the record, and the canonical walk
    /// then checks all of it.
    fn two_walks(bytes: &[u8]) -> (Option<RecordView<'_>>, Option<Problem>) {
        let parsed = RecordView::parse(bytes);
        if bytes.len() > MAX_RECORD_BYTES {
            let m = format!(
                "the record is {} bytes, more than the {MAX_RECORD_BYTES} a record may have \
                 (so that every export of it can be read back)",
                bytes.len()
            );
            return (parsed.ok(), Some(Problem::NonCanonical(m)));
        }
        if let Err(m) = &parsed
            && std::str::from_utf8(bytes).is_err()
        {
            return (None, Some(Problem::Unreadable(m.clone())));
        }
        let problem = match (check_json(bytes, MAX_RECORD_DEPTH), &parsed) {
            (Err(Fault::Form(m)), _) => Some(Problem::NonCanonical(m)),
            (Err(Fault::Grammar(_)), Err(m)) => Some(Problem::Unreadable(m.clone())),
            (Err(Fault::Grammar(m)), Ok(_)) => Some(Problem::Unreadable(m)),
            (Ok(()), Err(m)) => Some(Problem::Unreadable(m.clone())),
            (Ok(()), Ok(view)) => check_fields(view).err().map(Problem::NonCanonical),
        };
        (parsed.ok(), problem)
    }

    /// `check_into` reads each record once, handing the states and `extra`
    /// to the canonical walk as the view finds them; it must say what the
    /// two walks say (the same view, the same problem, word for word) on
    /// sealed records of both sample profiles, on the tampered records of
    /// the vectors, and on sealed records edited at random places.
    #[test]
    fn one_walk_agrees_with_two() {
        let agree = |bytes: &[u8]| {
            let mut view = RecordView::default();
            let (read, problem) = check_into(bytes, &mut view);
            let (want_view, want_problem) = two_walks(bytes);
            let text = String::from_utf8_lossy(bytes);
            assert_eq!(problem, want_problem, "{text}");
            assert_eq!(read.then_some(view), want_view, "{text}");
            problem.is_none()
        };
        let mut records = Vec::new();
        for s in [
            Sample::new(400, 21),
            Sample::new(400, 22).with_profile(crate::sample::Profile::Platform),
        ] {
            records.extend((0..s.n).map(|i| s.entry(i).canonical_record()));
        }
        for r in &records {
            assert!(agree(r.as_bytes()), "{r}");
        }
        // The vectors: each sealed record, and each record edit of the
        // tamper cases applied to it.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors");
        let read = |name: &str| -> serde_json::Value {
            serde_json::from_slice(&std::fs::read(dir.join(name)).unwrap()).unwrap()
        };
        let sealed: Vec<String> = read("chain-v1.json")["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["canonical"].as_str().unwrap().to_string())
            .collect();
        let mut edits = 0;
        for case in read("findings-v1.json")["cases"].as_array().unwrap() {
            for op in case["tamper"].as_array().unwrap() {
                if op["op"] != "edit_record" {
                    continue;
                }
                let seq = op["seq"].as_u64().unwrap() as usize;
                let find = op["find"].as_str().unwrap();
                let r = &sealed[seq - 1];
                assert!(r.contains(find), "{find} in {r}");
                agree(
                    r.replacen(find, op["replace"].as_str().unwrap(), 1)
                        .as_bytes(),
                );
                edits += 1;
            }
        }
        assert!(edits > 20, "{edits}");
        let mut kinds = [0usize; 2];
        for r in &sealed {
            assert!(agree(r.as_bytes()), "{r}");
        }
        // Random edits in the states and `extra` (where the walks were
        // fused) and anywhere else.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        const EDITS: &[&str] = &[
            " ",
            "\\/",
            "\\u00e9",
            "\\u001F",
            "\\ud83d\\ude00",
            "\\n",
            "\"",
            ",",
            ":",
            "{",
            "}",
            "[",
            "]",
            "01",
            "1.",
            "-",
            "tru",
            "\u{1}",
            "\"a\":1,",
            "\"z\":1,",
            "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
        ];
        for r in records.iter().chain(&sealed) {
            for _ in 0..20 {
                let mut r = r.clone();
                // Most edits inside a state or `extra`.
                let states: Vec<usize> = ["\"after\":", "\"before\":", "\"extra\":"]
                    .iter()
                    .filter_map(|k| r.find(k).map(|at| at + k.len()))
                    .collect();
                let mut at = match states.as_slice() {
                    [] => next(r.len() + 1),
                    s if next(4) > 0 => (s[next(s.len())] + next(40)).min(r.len()),
                    _ => next(r.len() + 1),
                };
                while !r.is_char_boundary(at) {
                    at -= 1;
                }
                r.insert_str(at, EDITS[next(EDITS.len())]);
                kinds[usize::from(agree(r.as_bytes()))] += 1;
            }
        }
        assert!(kinds.iter().all(|&n| n > 100), "{kinds:?}");
    }

    #[test]
    fn key_order_is_the_order_of_the_bytes() {
        let keys: [&[u8]; 9] = [
            b"",
            b"a",
            b"ab",
            b"abc",
            b"abd",
            b"b",
            b"ba",
            b"\xc3\xa9",
            b"z",
        ];
        for a in keys {
            for b in keys {
                assert_eq!(byte_order(a, b), a.cmp(b), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn names_what_is_not_canonical() {
        for (text, says) in [
            (r#""\/""#, "escaped '/'"),
            (r#""\u00e9""#, "U+00E9 escaped as \\u00e9"),
            (r#""\u001F""#, "upper-case hex"),
            (r#""\ud800""#, "lone surrogate \\ud800"),
            (r#""\ud800\u0041""#, "lone surrogate"),
            (r#""\udc00""#, "lone surrogate"),
            (r#""\ud83d\ude00""#, "U+1F600 escaped as a surrogate pair"),
            (r#""\u000a""#, "\\u000a written for \\n"),
            (r#"{"b":1,"a":2}"#, "key \"a\" out of order"),
            (r#"{"a":1,"a":2}"#, "key \"a\" given twice"),
            ("{\"a\":\n1}", "whitespace outside a string"),
            ("[1]\n", "whitespace outside a string"),
        ] {
            let m = form(text.as_bytes()).unwrap_or_else(|| panic!("{text} passed"));
            assert!(m.contains(says), "{text}: {m}");
        }
    }

    #[test]
    fn grammar_errors_are_not_taken_for_forms() {
        for bad in [
            &b"{"[..],
            b"[1,]",
            b"01",
            b"1.",
            b"-",
            b"1e",
            b"\"\x01\"",
            b"tru",
            b"{} x",
            b"\"\\x\"",
            b"\"\\u12\"",
            b"{\"a\"1}",
            b"",
        ] {
            assert!(
                matches!(check_json(bad, 10), Err(Fault::Grammar(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn depth_is_counted_as_json_depth_counts_it() {
        let nested = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        for n in [1, 5, 10] {
            let v = json::parse(nested(n).as_bytes()).unwrap();
            assert_eq!(v.depth(), n);
            assert!(check_json(nested(n).as_bytes(), n).is_ok());
            assert!(matches!(
                check_json(nested(n + 1).as_bytes(), n),
                Err(Fault::Form(m)) if m.contains("nested more than")
            ));
        }
        assert_eq!(json::parse(br#"{"a":[1]}"#).unwrap().depth(), 2);
        // Far deeper than any stack allows: an error, not a crash.
        assert!(check_json("[".repeat(1_000_000).as_bytes(), MAX_RECORD_DEPTH).is_err());
    }

    #[test]
    fn record_fields_in_canonical_form() {
        // A sample entry with a before state (an object): the checks below change it.
        let s = Sample::new(10, 1);
        let rec = (0..s.n)
            .map(|i| s.entry(i).canonical_record())
            .find(|r| r.contains("\"before\":{"))
            .unwrap();
        let time = json::parse(rec.as_bytes()).unwrap();
        let t = time.get("time").and_then(Json::as_str).unwrap().to_string();
        let base = &t[..19];
        for (other, says) in [
            (format!("{base}Z"), "\"time\""),
            (format!("{base}.000+01:00"), "not a canonical time"),
            (format!("{base}.000000Z"), "not a canonical time"),
            (format!("{base}.000z"), "not a canonical time"),
            (t.replace('T', "t"), "not a canonical time"),
            (t.replace('T', " "), "not a canonical time"),
        ] {
            let r = rec.replace(&t, &other);
            match check_record(r.as_bytes()) {
                Err(Problem::NonCanonical(m)) => assert!(m.contains(says), "{other}: {m}"),
                x => panic!("{other}: {x:?}"),
            }
        }
        // The top-level "id" is the last key "id" (states and extra come before it).
        let before_id = |text: &str| {
            let at = rec.rfind("\"id\":").unwrap();
            format!("{}{text}{}", &rec[..at], &rec[at..])
        };
        let r = before_id("\"extra\":{},");
        assert!(
            matches!(check_record(r.as_bytes()), Err(Problem::NonCanonical(m)) if m.contains("\"extra\" is an empty object"))
        );
        let r = format!("{},\"zzz\":1}}", &rec[..rec.len() - 1]);
        assert!(matches!(
            check_record(r.as_bytes()),
            Err(Problem::Unreadable(_))
        ));
        let r = rec.replacen("\"before\":{", "\"before\":{\"0\":01,", 1);
        assert!(matches!(
            check_record(r.as_bytes()),
            Err(Problem::Unreadable(_))
        ));
        assert!(matches!(
            check_record(&[0xff, b'{']),
            Err(Problem::Unreadable(_))
        ));
    }

    #[test]
    fn finds_the_record_in_an_export_entry() {
        let rec = Sample::new(10, 1).entry(3).canonical_record();
        let h = "ab".repeat(32);
        let line = format!(
            "{{\"seq\":4,\"leaf_hash\":\"{h}\",\"chain_hash\":\"{h}\",\"leaf_index\":3,\"inclusion\":[\"{h}\",\"{h}\"],{}",
            &rec[1..]
        );
        assert_eq!(
            record_in_export_entry(line.as_bytes()).as_deref(),
            Some(rec.as_bytes())
        );
        let line = format!("{{\"seq\":4,\"leaf_hash\":\"{h}\",{}", &rec[1..]);
        assert_eq!(
            record_in_export_entry(line.as_bytes()).as_deref(),
            Some(rec.as_bytes())
        );
        assert_eq!(record_in_export_entry(b"[1]"), None);
    }
}
