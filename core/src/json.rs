//! A strict JSON reader and the canonical JSON writer.
//!
//! serde_json is not used for anything that is hashed because it folds duplicate
//! object keys (the last one wins) and rounds integers above 2^53 unless a
//! crate-wide feature is switched on. Either would let two different source
//! records produce the same canonical bytes. This module:
//!
//! * rejects duplicate keys, lone surrogates, invalid UTF-8 and trailing garbage;
//! * keeps every number as the exact text it was written with;
//! * bounds nesting depth and the size of a single value, so hostile input ends
//!   in an error instead of a stack overflow or an allocation blow-up;
//! * streams: [`Parser`] reads from any `io::Read`, one value at a time, and
//!   knows the line it is on for error messages.

use crate::record_view::string_stop;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;

/// Deepest nesting accepted in a record. Real platform states are a handful of
/// levels deep; 128 leaves ample room while keeping recursion safe.
pub const MAX_DEPTH: usize = 128;

/// Deepest nesting accepted in an entry's record. A JSON export holds each
/// record two levels down (the export object, its `entries` array), and it
/// must read back within [`MAX_DEPTH`]; without this bound ingest would accept
/// a state (parsed on its own from a platform row's text) that no export of
/// it could carry.
pub const MAX_RECORD_DEPTH: usize = MAX_DEPTH - 2;

/// Largest single JSON value (one entry, or one before/after state) accepted,
/// and longest line, by every reader of auditlens.
pub const MAX_VALUE_BYTES: usize = 16 * 1024 * 1024;
/// The most an export's end line (or its proof file's end record) may
/// take: it lists the entries its completeness proof covers, about 90 bytes
/// each, so an export of a few hundred thousand entries passes 16 MiB.
pub const MAX_FOOTER_BYTES: usize = 1 << 30;

/// Room an export needs around one record, at most. The longest is a JSON or
/// NDJSON entry line: `{"seq":` and 20 digits, the leaf and chain hashes with
/// their keys, `"leaf_index":` and 20 digits, an inclusion path of 64 hashes
/// (a tree of 2^64 leaves) and the newline, about 4.5 KB; a CSV row adds the
/// archive id, seq, hashes and a guard byte per cell to the record's text.
pub const EXPORT_FRAMING_BYTES: usize = 8 * 1024;

/// Largest canonical record ingest accepts (16,769,024 bytes): every export
/// line that carries it then stays within [`MAX_VALUE_BYTES`], so whatever
/// auditlens stores, its own exports read back. Without this bound a record
/// just under 16 MiB was accepted and its export lines were not.
pub const MAX_RECORD_BYTES: usize = MAX_VALUE_BYTES - EXPORT_FRAMING_BYTES;

/// A JSON value as auditlens stores it. Objects keep their keys sorted by
/// UTF-8 bytes (the canonical order) and never hold a key twice; numbers keep
/// their original lexeme.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Json {
    Null,
    Bool(bool),
    /// The number exactly as written (validated against the JSON grammar).
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(BTreeMap<String, Json>),
}

impl Json {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&BTreeMap<String, Json>> {
        match self {
            Json::Object(m) => Some(m),
            _ => None,
        }
    }

    /// Looks up `key` if this is an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.as_object().and_then(|m| m.get(key))
    }

    /// Levels of nesting: 0 for a scalar, 1 for `[]` or `[1]`, 2 for `[[1]]`.
    pub fn depth(&self) -> usize {
        match self {
            Json::Array(items) => 1 + items.iter().map(Json::depth).max().unwrap_or(0),
            Json::Object(map) => 1 + map.values().map(Json::depth).max().unwrap_or(0),
            _ => 0,
        }
    }

    /// A short name of the value's type for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }

    /// The canonical bytes of this value: no whitespace, keys in byte order,
    /// minimal string escapes, numbers verbatim. See docs/FORMAT.md.
    pub fn to_canonical(&self) -> String {
        let mut out = String::new();
        self.write_canonical(&mut out);
        out
    }

    pub fn write_canonical(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(true) => out.push_str("true"),
            Json::Bool(false) => out.push_str("false"),
            Json::Number(n) => out.push_str(n),
            Json::String(s) => write_canonical_string(s, out),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_canonical(out);
                }
                out.push(']');
            }
            Json::Object(map) => {
                out.push('{');
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_canonical_string(k, out);
                    out.push(':');
                    v.write_canonical(out);
                }
                out.push('}');
            }
        }
    }

    /// Indented text for people (detail pane, copy buttons). Same escaping as
    /// the canonical form, so what is shown is what was hashed.
    pub fn to_pretty(&self) -> String {
        let mut out = String::new();
        self.write_pretty(&mut out, 0);
        out
    }

    fn write_pretty(&self, out: &mut String, indent: usize) {
        match self {
            Json::Array(items) if !items.is_empty() => {
                out.push_str("[\n");
                for (i, item) in items.iter().enumerate() {
                    push_indent(out, indent + 1);
                    item.write_pretty(out, indent + 1);
                    if i + 1 < items.len() {
                        out.push(',');
                    }
                    out.push('\n');
                }
                push_indent(out, indent);
                out.push(']');
            }
            Json::Object(map) if !map.is_empty() => {
                out.push_str("{\n");
                for (i, (k, v)) in map.iter().enumerate() {
                    push_indent(out, indent + 1);
                    write_canonical_string(k, out);
                    out.push_str(": ");
                    v.write_pretty(out, indent + 1);
                    if i + 1 < map.len() {
                        out.push(',');
                    }
                    out.push('\n');
                }
                push_indent(out, indent);
                out.push('}');
            }
            other => other.write_canonical(out),
        }
    }
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_canonical())
    }
}

fn push_indent(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push_str("  ");
    }
}

/// Writes `s` as a JSON string: `"` and `\` escaped, the short escapes for
/// \b \f \n \r \t, `\u00XX` (lower-case hex) for other control characters,
/// everything else as raw UTF-8.
pub fn write_canonical_string(s: &str, out: &mut String) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    // Only the bytes `string_stop` stops at are escaped; it finds them many
    // bytes at a time.
    while let Some(n) = string_stop(&bytes[start..]) {
        let i = start + n;
        let b = bytes[i];
        let esc: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0x08 => Some("\\b"),
            0x0c => Some("\\f"),
            _ => None,
        };
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 0xf) as usize] as char);
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Reusable buffers of [`write_canonical_plain`].
#[derive(Debug, Default)]
pub struct PlainScratch {
    /// Members of the objects being read (a stack: an inner object's
    /// members sit above its parent's and are gone when it closes).
    members: Vec<Member>,
    /// An object's members while they are put in key order.
    copy: String,
    /// A string's decoded text.
    text: String,
}

/// One object member: its key (a range of the input) and where its
/// `"key":value` was written (a range of the output).
#[derive(Debug, Clone, Copy)]
struct Member {
    key: (usize, usize),
    at: usize,
    end: usize,
}

/// Deepest nesting [`write_canonical_plain`] reads itself; deeper text goes
/// to the general parser (which applies [`MAX_DEPTH`]).
const PLAIN_DEPTH: usize = 32;

/// Writes the canonical form of the JSON text `text` to `out` without
/// building a [`Json`] tree: the fast path of ingest, which canonicalises
/// every entry's states. It reads the plain JSON states are made of and
/// answers `None` (leaving `out` as it was) at anything else: a `\u` escape,
/// an escaped key, nesting past 32 levels, a duplicate key, or any text the
/// grammar refuses. The caller then takes the general path ([`parse`] and
/// [`Json::write_canonical`]), which accepts or rejects it with its reason;
/// so this never decides what is valid, and where it answers, it answers
/// exactly what the general path writes (tested against it below).
pub fn write_canonical_plain(
    text: &str,
    out: &mut String,
    scratch: &mut PlainScratch,
) -> Option<()> {
    let start = out.len();
    scratch.members.clear();
    let mut p = Plain {
        s: text.as_bytes(),
        text,
        i: 0,
    };
    p.ws();
    let done = p.value(out, scratch, 0).and_then(|()| {
        p.ws();
        (p.i == p.s.len()).then_some(())
    });
    if done.is_none() {
        out.truncate(start);
    }
    done
}

/// Decodes the JSON string body `raw` (between its quotes) into `out` when
/// its escapes are the two-character ones; `None` at a `\u` escape or
/// anything else (the general parser decides those).
pub fn unescape_plain(raw: &str, out: &mut String) -> Option<()> {
    let b = raw.as_bytes();
    let (mut start, mut i) = (0, 0);
    // `string_stop` finds the backslashes many bytes at a time; it stops at
    // `"` and control characters too, which are copied as they stand.
    while let Some(n) = string_stop(&b[i..]) {
        let at = i + n;
        if b[at] != b'\\' {
            i = at + 1;
            continue;
        }
        out.push_str(&raw[start..at]);
        let c = match b.get(at + 1)? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            _ => return None,
        };
        out.push(c);
        start = at + 2;
        i = start;
    }
    out.push_str(&raw[start..]);
    Some(())
}

/// The JSON string whose opening quote is at `s[quote]`: the range of its
/// body (between its quotes) and whether it holds escapes (each `\\` and the
/// byte after it are passed over). `None` at a raw control character or the
/// end of `s`. The stop bytes are found many at a time ([`string_stop`]).
pub(crate) fn string_at(s: &[u8], quote: usize) -> Option<(usize, usize, bool)> {
    let start = quote + 1;
    let mut i = start;
    let mut escaped = false;
    loop {
        i += string_stop(s.get(i..)?)?;
        match s[i] {
            b'"' => return Some((start, i, escaped)),
            b'\\' => {
                escaped = true;
                i += 2;
            }
            _ => return None,
        }
    }
}

/// The reader of [`write_canonical_plain`]: a position in the text.
struct Plain<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

impl Plain<'_> {
    fn ws(&mut self) {
        while matches!(self.s.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn next(&mut self) -> Option<u8> {
        let b = *self.s.get(self.i)?;
        self.i += 1;
        Some(b)
    }

    /// A value (no whitespace before it), written canonically.
    fn value(&mut self, out: &mut String, sc: &mut PlainScratch, depth: usize) -> Option<()> {
        match *self.s.get(self.i)? {
            b'{' if depth < PLAIN_DEPTH => self.object(out, sc, depth),
            b'[' if depth < PLAIN_DEPTH => {
                self.i += 1;
                out.push('[');
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    out.push(']');
                    return Some(());
                }
                loop {
                    self.value(out, sc, depth + 1)?;
                    self.ws();
                    match self.next()? {
                        b',' => {
                            out.push(',');
                            self.ws();
                        }
                        b']' => {
                            out.push(']');
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'"' => {
                let (a, b, escaped) = self.string()?;
                if escaped {
                    sc.text.clear();
                    unescape_plain(&self.text[a..b], &mut sc.text)?;
                    write_canonical_string(&sc.text, out);
                } else {
                    out.push('"');
                    out.push_str(&self.text[a..b]);
                    out.push('"');
                }
                Some(())
            }
            b't' => self.literal("true", out),
            b'f' => self.literal("false", out),
            b'n' => self.literal("null", out),
            b'-' | b'0'..=b'9' => self.number(out),
            _ => None,
        }
    }

    /// An object, its members written in key order.
    fn object(&mut self, out: &mut String, sc: &mut PlainScratch, depth: usize) -> Option<()> {
        self.i += 1;
        out.push('{');
        self.ws();
        if self.s.get(self.i) == Some(&b'}') {
            self.i += 1;
            out.push('}');
            return Some(());
        }
        let base = sc.members.len();
        let body = out.len();
        loop {
            if self.s.get(self.i) != Some(&b'"') {
                return None;
            }
            let (ka, kb, escaped) = self.string()?;
            if escaped {
                return None;
            }
            self.ws();
            if self.next()? != b':' {
                return None;
            }
            self.ws();
            let at = out.len();
            out.push('"');
            out.push_str(&self.text[ka..kb]);
            out.push_str("\":");
            self.value(out, sc, depth + 1)?;
            sc.members.push(Member {
                key: (ka, kb),
                at,
                end: out.len(),
            });
            self.ws();
            match self.next()? {
                b',' => {
                    out.push(',');
                    self.ws();
                }
                b'}' => break,
                _ => return None,
            }
        }
        let text = self.text;
        let key = |m: &Member| &text.as_bytes()[m.key.0..m.key.1];
        let members = &mut sc.members[base..];
        if !members.windows(2).all(|w| key(&w[0]) < key(&w[1])) {
            members.sort_unstable_by(|a, b| key(a).cmp(key(b)));
            if members.windows(2).any(|w| key(&w[0]) == key(&w[1])) {
                return None;
            }
            sc.copy.clear();
            sc.copy.push_str(&out[body..]);
            out.truncate(body);
            for (n, m) in members.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                out.push_str(&sc.copy[m.at - body..m.end - body]);
            }
        }
        sc.members.truncate(base);
        out.push('}');
        Some(())
    }

    /// A string at `"`: the range of its body, and whether it holds escapes.
    /// `None` at a raw control character or the end of the text.
    fn string(&mut self) -> Option<(usize, usize, bool)> {
        let (start, end, escaped) = string_at(self.s, self.i)?;
        self.i = end + 1;
        Some((start, end, escaped))
    }

    fn literal(&mut self, word: &str, out: &mut String) -> Option<()> {
        if !self.s[self.i..].starts_with(word.as_bytes()) {
            return None;
        }
        self.i += word.len();
        out.push_str(word);
        Some(())
    }

    /// A number as the grammar has it (`-? (0 | [1-9][0-9]*) (.[0-9]+)?
    /// ([eE][+-]?[0-9]+)?`), written as it stands.
    fn number(&mut self, out: &mut String) -> Option<()> {
        let start = self.i;
        let digits = |p: &mut Self| {
            let from = p.i;
            while matches!(p.s.get(p.i), Some(b'0'..=b'9')) {
                p.i += 1;
            }
            (p.i > from).then_some(())
        };
        if self.s.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match self.s.get(self.i)? {
            b'0' => self.i += 1,
            b'1'..=b'9' => digits(self)?,
            _ => return None,
        }
        if self.s.get(self.i) == Some(&b'.') {
            self.i += 1;
            digits(self)?;
        }
        if matches!(self.s.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.s.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            digits(self)?;
        }
        if matches!(self.s.get(self.i), Some(b'0'..=b'9')) {
            return None;
        }
        out.push_str(&self.text[start..self.i]);
        Some(())
    }
}

/// Why a JSON text was rejected, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError {
    pub message: String,
    /// 1-based line of the offending byte.
    pub line: u64,
    /// 1-based column (in bytes) of the offending byte.
    pub column: u64,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for JsonError {}

/// Parses one complete JSON text; anything but whitespace after it is an error.
pub fn parse(text: &[u8]) -> Result<Json, JsonError> {
    parse_within(text, MAX_VALUE_BYTES)
}

/// [`parse`] of a value that may take up to `budget` bytes.
pub fn parse_within(text: &[u8], budget: usize) -> Result<Json, JsonError> {
    // A buffer the size of the text: one read fills it, and small values
    // (most records) do not pay for a 64 KiB buffer.
    let mut p = Parser::with_buffer_size(text, text.len().clamp(16, 64 * 1024));
    p.set_budget(budget);
    let v = p.parse_value()?;
    p.skip_ws()?;
    if p.peek()?.is_some() {
        return Err(p.error("unexpected data after the JSON value"));
    }
    Ok(v)
}

/// A streaming JSON reader over any byte source.
pub struct Parser<R> {
    src: R,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    eof: bool,
    line: u64,
    column: u64,
    /// Bytes consumed since [`Parser::start_value`]; bounds one value's size.
    value_bytes: usize,
    /// The most one value may take ([`MAX_VALUE_BYTES`] unless set).
    budget: usize,
    io_error: Option<String>,
}

impl<R: Read> Parser<R> {
    pub fn new(src: R) -> Self {
        Self::with_buffer_size(src, 64 * 1024)
    }

    pub fn with_buffer_size(src: R, size: usize) -> Self {
        Parser {
            src,
            buf: vec![0; size.max(1)],
            pos: 0,
            len: 0,
            eof: false,
            line: 1,
            column: 1,
            value_bytes: 0,
            budget: MAX_VALUE_BYTES,
            io_error: None,
        }
    }

    /// Lets each value take up to `bytes` (an export's end line lists the
    /// entries of its completeness proof, far more than one entry holds).
    pub fn set_budget(&mut self, bytes: usize) {
        self.budget = bytes;
    }

    pub fn line(&self) -> u64 {
        self.line
    }

    /// The source it reads from (past what it has buffered).
    pub fn source_mut(&mut self) -> &mut R {
        &mut self.src
    }

    pub fn error(&self, message: impl Into<String>) -> JsonError {
        JsonError {
            message: message.into(),
            line: self.line,
            column: self.column,
        }
    }

    fn fill(&mut self) -> Result<(), JsonError> {
        if self.pos < self.len || self.eof {
            return Ok(());
        }
        loop {
            match self.src.read(&mut self.buf) {
                Ok(0) => {
                    self.eof = true;
                    self.pos = 0;
                    self.len = 0;
                    return Ok(());
                }
                Ok(n) => {
                    self.pos = 0;
                    self.len = n;
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.io_error = Some(e.to_string());
                    return Err(self.error(format!("read error: {e}")));
                }
            }
        }
    }

    /// The next byte without consuming it; `None` at end of input.
    #[inline]
    pub fn peek(&mut self) -> Result<Option<u8>, JsonError> {
        if self.pos >= self.len {
            self.fill()?;
            if self.pos >= self.len {
                return Ok(None);
            }
        }
        Ok(Some(self.buf[self.pos]))
    }

    #[inline]
    fn bump(&mut self) -> Result<Option<u8>, JsonError> {
        let b = self.peek()?;
        if let Some(b) = b {
            self.pos += 1;
            self.value_bytes += 1;
            if b == b'\n' {
                self.line += 1;
                self.column = 1;
            } else {
                self.column += 1;
            }
            if self.value_bytes > self.budget {
                return Err(self.too_large());
            }
        }
        Ok(b)
    }

    #[cold]
    fn too_large(&self) -> JsonError {
        self.error(format!(
            "value is larger than {} MiB, the most auditlens accepts for one entry",
            self.budget / (1024 * 1024)
        ))
    }

    fn expect_byte(&mut self, want: u8) -> Result<(), JsonError> {
        match self.bump()? {
            Some(b) if b == want => Ok(()),
            Some(b) => Err(self.error(format!(
                "expected '{}' but found {}",
                want as char,
                describe_byte(b)
            ))),
            None => Err(self.error(format!("expected '{}' but the input ended", want as char))),
        }
    }

    /// Skips JSON whitespace.
    pub fn skip_ws(&mut self) -> Result<(), JsonError> {
        while let Some(b) = self.peek()? {
            if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                self.bump()?;
            } else {
                break;
            }
        }
        Ok(())
    }

    /// Skips whitespace and, at the very start of input, a UTF-8 byte order mark.
    pub fn skip_bom_and_ws(&mut self) -> Result<(), JsonError> {
        if self.peek()? == Some(0xEF) {
            for want in [0xEF, 0xBB, 0xBF] {
                if self.bump()? != Some(want) {
                    return Err(self.error("invalid byte at the start of the file"));
                }
            }
            self.column = 1;
        }
        self.skip_ws()
    }

    /// Consumes `b` if it is next (after whitespace); tells whether it was.
    pub fn eat(&mut self, b: u8) -> Result<bool, JsonError> {
        self.skip_ws()?;
        if self.peek()? == Some(b) {
            self.bump()?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// Consumes `b` after whitespace or fails with a message naming it.
    pub fn expect(&mut self, b: u8) -> Result<(), JsonError> {
        self.skip_ws()?;
        self.expect_byte(b)
    }

    /// Parses the next value (after whitespace), resetting the per-value size budget.
    pub fn parse_value(&mut self) -> Result<Json, JsonError> {
        self.value_bytes = 0;
        self.skip_ws()?;
        self.value(0)
    }

    /// Steps to the next element of an array whose `[` is read (past the
    /// `,` unless it is the `first`): the line it starts on, or `None` once
    /// the closing `]` is read.
    pub fn next_element(&mut self, first: bool) -> Result<Option<u64>, JsonError> {
        if self.eat(b']')? {
            return Ok(None);
        }
        if !first {
            self.expect(b',')?;
        }
        self.skip_ws()?;
        Ok(Some(self.line()))
    }

    /// Copies the next value (after whitespace) to `out` as its bytes stand,
    /// finding its end by its strings and brackets alone: its grammar is for
    /// whoever reads it. A platform JSON array is thus cut into entries that
    /// several threads read, as the lines of a JSONL file are. Resets the
    /// per-value size budget, like [`Parser::parse_value`].
    pub fn raw_value(&mut self, out: &mut Vec<u8>) -> Result<(), JsonError> {
        self.value_bytes = 0;
        self.skip_ws()?;
        let truncated = |p: &Self| p.error("unexpected end of input; the JSON is truncated");
        let first = self.peek()?.ok_or_else(|| truncated(self))?;
        if !matches!(first, b'{' | b'[' | b'"') {
            // A number or literal (or a stray byte) runs to a delimiter.
            let start = out.len();
            while let Some(b) = self.peek()? {
                if matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r') {
                    break;
                }
                self.bump()?;
                out.push(b);
            }
            if out.len() == start {
                return Err(self.error(format!(
                    "expected a value but found {}",
                    describe_byte(first)
                )));
            }
            return Ok(());
        }
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        loop {
            if in_string && !escaped {
                // The run of a string's plain bytes, copied at once.
                let window = &self.buf[self.pos..self.len];
                let mut n = memchr::memchr2(b'"', b'\\', window).unwrap_or(window.len());
                // A control byte ends the run: the parser refuses it (below).
                if window[..n].iter().fold(false, |c, &b| c | (b < 0x20)) {
                    n = window[..n].iter().position(|&b| b < 0x20).unwrap_or(n);
                }
                if n > 0 {
                    out.extend_from_slice(&window[..n]);
                    self.advance(n)?;
                    continue;
                }
            }
            // A string is checked as `parse_string` checks it, so that a bad
            // one stops the value where, and as, the parser would: its
            // escapes, its control bytes, its end.
            let b = match self.bump()? {
                Some(b) => b,
                None if in_string => {
                    return Err(self.error("unexpected end of input inside a string"));
                }
                None => return Err(truncated(self)),
            };
            out.push(b);
            if in_string {
                if escaped {
                    escaped = false;
                    match b {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        b'u' => {
                            self.unicode_escape(Some(out))?;
                        }
                        _ => return Err(invalid_escape(self, b)),
                    }
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                    if depth == 0 {
                        return Ok(());
                    }
                } else if b < 0x20 {
                    return Err(unescaped_control(self, b));
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
    }

    /// Consumes the next `n` buffered bytes, as `n` calls of `bump` would.
    fn advance(&mut self, n: usize) -> Result<(), JsonError> {
        let span = &self.buf[self.pos..self.pos + n];
        match memchr::memrchr(b'\n', span) {
            Some(last) => {
                self.line += memchr::memchr_iter(b'\n', span).count() as u64;
                self.column = (n - last) as u64;
            }
            None => self.column += n as u64,
        }
        self.pos += n;
        self.value_bytes += n;
        if self.value_bytes > self.budget {
            return Err(self.too_large());
        }
        Ok(())
    }

    /// Parses an object key (a string) followed by ':'.
    pub fn parse_key(&mut self) -> Result<String, JsonError> {
        self.skip_ws()?;
        match self.peek()? {
            Some(b'"') => {}
            Some(b) => {
                return Err(self.error(format!("expected a key but found {}", describe_byte(b))));
            }
            None => return Err(self.error("expected a key but the input ended")),
        }
        let k = self.string()?;
        self.expect(b':')?;
        Ok(k)
    }

    /// A value whose enclosing arrays and objects are `depth` levels deep.
    fn value(&mut self, depth: usize) -> Result<Json, JsonError> {
        // An array or object here makes the whole value depth + 1 deep
        // (counted as [`Json::depth`] counts); an empty one too.
        if depth >= MAX_DEPTH && matches!(self.peek()?, Some(b'{' | b'[')) {
            return Err(self.error(format!("nested more than {MAX_DEPTH} levels deep")));
        }
        match self.peek()? {
            None => Err(self.error("unexpected end of input; the JSON is truncated")),
            Some(b'{') => {
                self.bump()?;
                let mut map = BTreeMap::new();
                self.skip_ws()?;
                if self.peek()? == Some(b'}') {
                    self.bump()?;
                    return Ok(Json::Object(map));
                }
                loop {
                    self.skip_ws()?;
                    let (line, column) = (self.line, self.column);
                    let key = self.parse_key()?;
                    self.skip_ws()?;
                    let v = self.value(depth + 1)?;
                    if map.contains_key(&key) {
                        return Err(JsonError {
                            message: format!("duplicate key {key:?} in an object"),
                            line,
                            column,
                        });
                    }
                    map.insert(key, v);
                    self.skip_ws()?;
                    match self.bump()? {
                        Some(b',') => continue,
                        Some(b'}') => return Ok(Json::Object(map)),
                        Some(b) => {
                            return Err(self.error(format!(
                                "expected ',' or '}}' in an object but found {}",
                                describe_byte(b)
                            )));
                        }
                        None => return Err(self.error("unexpected end of input inside an object")),
                    }
                }
            }
            Some(b'[') => {
                self.bump()?;
                let mut items = Vec::new();
                self.skip_ws()?;
                if self.peek()? == Some(b']') {
                    self.bump()?;
                    return Ok(Json::Array(items));
                }
                loop {
                    self.skip_ws()?;
                    items.push(self.value(depth + 1)?);
                    self.skip_ws()?;
                    match self.bump()? {
                        Some(b',') => continue,
                        Some(b']') => return Ok(Json::Array(items)),
                        Some(b) => {
                            return Err(self.error(format!(
                                "expected ',' or ']' in an array but found {}",
                                describe_byte(b)
                            )));
                        }
                        None => return Err(self.error("unexpected end of input inside an array")),
                    }
                }
            }
            Some(b'"') => Ok(Json::String(self.string()?)),
            Some(b't') => self.literal(b"true", Json::Bool(true)),
            Some(b'f') => self.literal(b"false", Json::Bool(false)),
            Some(b'n') => self.literal(b"null", Json::Null),
            Some(b'-' | b'0'..=b'9') => Ok(Json::Number(self.number()?)),
            Some(b) => Err(self.error(format!(
                "expected a JSON value but found {}",
                describe_byte(b)
            ))),
        }
    }

    fn literal(&mut self, word: &[u8], v: Json) -> Result<Json, JsonError> {
        for &w in word {
            if self.bump()? != Some(w) {
                return Err(self.error(format!(
                    "invalid literal; expected '{}'",
                    String::from_utf8_lossy(word)
                )));
            }
        }
        Ok(v)
    }

    fn number(&mut self) -> Result<String, JsonError> {
        let mut s = String::new();
        if self.peek()? == Some(b'-') {
            s.push('-');
            self.bump()?;
        }
        match self.peek()? {
            Some(b'0') => {
                s.push('0');
                self.bump()?;
            }
            Some(b'1'..=b'9') => self.digits(&mut s)?,
            _ => return Err(self.error("invalid number: expected a digit")),
        }
        if self.peek()? == Some(b'.') {
            s.push('.');
            self.bump()?;
            if !matches!(self.peek()?, Some(b'0'..=b'9')) {
                return Err(self.error("invalid number: expected a digit after '.'"));
            }
            self.digits(&mut s)?;
        }
        if matches!(self.peek()?, Some(b'e' | b'E')) {
            s.push(self.bump()?.unwrap_or(b'e') as char);
            if let Some(sign @ (b'+' | b'-')) = self.peek()? {
                s.push(sign as char);
                self.bump()?;
            }
            if !matches!(self.peek()?, Some(b'0'..=b'9')) {
                return Err(self.error("invalid number: expected a digit in the exponent"));
            }
            self.digits(&mut s)?;
        }
        if matches!(self.peek()?, Some(b'0'..=b'9')) {
            return Err(self.error("invalid number: leading zero"));
        }
        Ok(s)
    }

    fn digits(&mut self, s: &mut String) -> Result<(), JsonError> {
        while let Some(b @ b'0'..=b'9') = self.peek()? {
            s.push(b as char);
            self.bump()?;
        }
        Ok(())
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.expect_byte(b'"')?;
        let mut bytes: Vec<u8> = Vec::new();
        loop {
            // Fast path: copy a run of plain bytes straight from the buffer.
            if self.pos < self.len {
                let run = self.buf[self.pos..self.len]
                    .iter()
                    .position(|&b| b == b'"' || b == b'\\' || b < 0x20 || b == b'\n')
                    .unwrap_or(self.len - self.pos);
                if run > 0 {
                    bytes.extend_from_slice(&self.buf[self.pos..self.pos + run]);
                    self.pos += run;
                    self.column += run as u64;
                    self.value_bytes += run;
                    if self.value_bytes > self.budget {
                        return Err(self.too_large());
                    }
                    continue;
                }
            }
            match self.bump()? {
                None => return Err(self.error("unexpected end of input inside a string")),
                Some(b'"') => break,
                Some(b'\\') => {
                    let e = self.bump()?;
                    let c = match e {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => self.unicode_escape(None)?,
                        Some(b) => return Err(invalid_escape(self, b)),
                        None => return Err(self.error("unexpected end of input inside a string")),
                    };
                    let mut tmp = [0u8; 4];
                    bytes.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                }
                Some(b) if b < 0x20 => return Err(unescaped_control(self, b)),
                Some(b) => bytes.push(b),
            }
        }
        String::from_utf8(bytes).map_err(|_| self.error("string is not valid UTF-8"))
    }

    /// Four hex digits, each also added to `raw` when given.
    fn hex4(&mut self, mut raw: Option<&mut Vec<u8>>) -> Result<u32, JsonError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let b = self.bump()?;
            if let (Some(raw), Some(b)) = (raw.as_deref_mut(), b) {
                raw.push(b);
            }
            let d = match b {
                Some(b @ b'0'..=b'9') => b - b'0',
                Some(b @ b'a'..=b'f') => b - b'a' + 10,
                Some(b @ b'A'..=b'F') => b - b'A' + 10,
                _ => return Err(self.error("invalid \\u escape: expected 4 hex digits")),
            };
            v = v * 16 + d as u32;
        }
        Ok(v)
    }

    /// The character of a `\\u` escape, after the `u`; its bytes as they
    /// stand also added to `raw` when given (`raw_value`).
    fn unicode_escape(&mut self, mut raw: Option<&mut Vec<u8>>) -> Result<char, JsonError> {
        let hi = self.hex4(raw.as_deref_mut())?;
        let code = if (0xD800..0xDC00).contains(&hi) {
            let mut next = || -> Result<Option<u8>, JsonError> {
                let b = self.bump()?;
                if let (Some(raw), Some(b)) = (raw.as_deref_mut(), b) {
                    raw.push(b);
                }
                Ok(b)
            };
            if next()? != Some(b'\\') || next()? != Some(b'u') {
                return Err(self.error("lone surrogate in a \\u escape (not valid Unicode)"));
            }
            let lo = self.hex4(raw)?;
            if !(0xDC00..0xE000).contains(&lo) {
                return Err(self.error("lone surrogate in a \\u escape (not valid Unicode)"));
            }
            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
        } else if (0xDC00..0xE000).contains(&hi) {
            return Err(self.error("lone surrogate in a \\u escape (not valid Unicode)"));
        } else {
            hi
        };
        char::from_u32(code).ok_or_else(|| self.error("invalid \\u escape"))
    }
}

fn invalid_escape<R: Read>(p: &Parser<R>, b: u8) -> JsonError {
    p.error(format!(
        "invalid escape '\\{}' in a string",
        describe_byte(b)
    ))
}

fn unescaped_control<R: Read>(p: &Parser<R>, b: u8) -> JsonError {
    p.error(format!("unescaped control character 0x{b:02x} in a string"))
}

fn describe_byte(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("'{}'", b as char)
    } else {
        format!("byte 0x{b:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_big_numbers_exactly() {
        let v = parse(b"[12345678901234567890123, 1.0, -0.5e-7, 0]").unwrap();
        assert_eq!(v.to_canonical(), "[12345678901234567890123,1.0,-0.5e-7,0]");
    }

    #[test]
    fn rejects_duplicate_keys() {
        let e = parse(br#"{"a":1,"b":2,"a":3}"#).unwrap_err();
        assert!(e.message.contains("duplicate key \"a\""), "{e}");
    }

    #[test]
    fn sorts_keys_and_escapes_minimally() {
        let v = parse("{\"b\":\"\\u00e9\\n\\u0001/\",\"a\":[true,null]}".as_bytes()).unwrap();
        assert_eq!(
            v.to_canonical(),
            "{\"a\":[true,null],\"b\":\"é\\n\\u0001/\"}"
        );
        assert_eq!(parse(v.to_canonical().as_bytes()).unwrap(), v);
    }

    #[test]
    fn surrogates() {
        assert_eq!(
            parse(br#""\ud83d\ude00""#).unwrap(),
            Json::String("😀".into())
        );
        assert!(parse(br#""\ud83d""#).is_err());
        assert!(parse(br#""\ude00x""#).is_err());
    }

    #[test]
    fn rejects_bad_input_with_position() {
        for bad in [
            &b"{"[..],
            b"[1,]",
            b"01",
            b"1.",
            b"\"\x01\"",
            b"tru",
            b"{} x",
            b"\"\xff\"",
            b"",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let e = parse(b"{\n  \"a\": x}").unwrap_err();
        assert_eq!((e.line, e.column), (2, 8));
    }

    /// The longest framing an export writes around a record fits the room kept for it.
    #[test]
    fn export_framing_fits_its_room() {
        let hash = format!("\"{}\"", "f".repeat(64));
        let path = vec![hash.clone(); 64].join(",");
        let framing = format!(
            "{{\"seq\":{max},\"leaf_hash\":{hash},\"chain_hash\":{hash},\"leaf_index\":{max},\"inclusion\":[{path}],\n",
            max = u64::MAX
        );
        assert!(framing.len() < EXPORT_FRAMING_BYTES, "{}", framing.len());
        assert_eq!(MAX_RECORD_BYTES, 16_769_024);
    }

    /// The limit is on [`Json::depth`], whether the innermost value is a scalar or empty.
    #[test]
    fn depth_limit_counts_as_depth_does() {
        for inner in ["1", ""] {
            let nested = |n: usize| format!("{}{inner}{}", "[".repeat(n), "]".repeat(n));
            assert_eq!(
                parse(nested(MAX_DEPTH).as_bytes()).unwrap().depth(),
                MAX_DEPTH
            );
            let e = parse(nested(MAX_DEPTH + 1).as_bytes()).unwrap_err();
            assert!(e.message.contains("nested more than 128"), "{e}");
        }
        assert_eq!(parse(br#"{"a":[1]}"#).unwrap().depth(), 2);
    }

    /// The fast path writes what the general path writes, or leaves the
    /// text to it; it never accepts a text the general path refuses.
    #[test]
    fn plain_canonical_agrees_with_the_parser() {
        let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        let (d32, d33, d129) = (deep(32), deep(33), deep(129));
        let fast = [
            "{}",
            "[]",
            " {\"b\" : [1, -0.5E+7, 0, 1e5, true, false, null] , \"a\":{\"d\":\"x\",\"c\":\"y\"} } ",
            "\"production\"",
            "true",
            "-12345678901234567890123.25",
            "{\"t\":\"a\\\"b\\\\c\\/d\\n\\t\\r\\b\\f\"}",
            "{\"é\":\"ü\",\"e\":\"\u{7f}\",\"\":\"\"}",
            "[{\"z\":[{\"y\":1,\"x\":2}],\"w\":{}}]",
            d32.as_str(),
        ];
        let general = [
            // Left to the parser, which accepts them.
            "{\"a\":\"\\u00e9\"}",
            "{\"\\u0061\":1}",
            d33.as_str(),
            // Refused by the parser too.
            "{\"a\":1,\"a\":2}",
            "{\"b\":1,\"a\":2,\"b\":3}",
            "01",
            "1.",
            "1e",
            "-",
            "[1,]",
            "{\"a\" 1}",
            "{,}",
            "tru",
            "nul",
            "",
            "  ",
            "{} x",
            "\"\\x\"",
            "\"a\u{1}b\"",
            "\"open",
            d129.as_str(),
        ];
        let mut sc = PlainScratch::default();
        for (text, want_fast) in fast
            .iter()
            .map(|t| (t, true))
            .chain(general.iter().map(|t| (t, false)))
        {
            let mut out = String::from(">");
            let got = write_canonical_plain(text, &mut out, &mut sc);
            assert_eq!(got.is_some(), want_fast, "{text:?}");
            match got {
                Some(()) => assert_eq!(
                    &out[1..],
                    parse(text.as_bytes()).unwrap().to_canonical(),
                    "{text:?}"
                ),
                None => assert_eq!(out, ">", "{text:?}"),
            }
        }
    }

    /// The string scanners, which find their stop bytes many at a time,
    /// answer what a byte-by-byte reading answers, wherever the stops fall
    /// (before, across and after 8- and 16-byte blocks).
    #[test]
    fn string_scanners_agree_with_a_byte_by_byte_reading() {
        fn string_at_naive(s: &[u8], quote: usize) -> Option<(usize, usize, bool)> {
            let (start, mut i, mut escaped) = (quote + 1, quote + 1, false);
            loop {
                match *s.get(i)? {
                    b'"' => return Some((start, i, escaped)),
                    b'\\' => {
                        escaped = true;
                        i += 2;
                    }
                    0..=0x1f => return None,
                    _ => i += 1,
                }
            }
        }
        fn unescape_naive(raw: &str) -> Option<String> {
            let (mut out, mut chars) = (String::new(), raw.chars());
            while let Some(c) = chars.next() {
                out.push(if c != '\\' {
                    c
                } else {
                    match chars.next()? {
                        c @ ('"' | '\\' | '/') => c,
                        'b' => '\u{8}',
                        'f' => '\u{c}',
                        'n' => '\n',
                        'r' => '\r',
                        't' => '\t',
                        _ => return None,
                    }
                });
            }
            Some(out)
        }
        fn escape_naive(s: &str) -> String {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    '\u{8}' => out.push_str("\\b"),
                    '\u{c}' => out.push_str("\\f"),
                    c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        let pieces = [
            "a", "\"", "\\", "\\\"", "\\n", "\\u", "\n", "\u{1}", "é", "/", "\u{7f}",
        ];
        let mut rng = crate::sample::Rng(7);
        for _ in 0..20_000 {
            let len = (rng.next() % 48) as usize;
            let mut text = String::new();
            for _ in 0..len {
                // Mostly plain bytes, so that runs cross the blocks.
                let p = rng.next() as usize % (pieces.len() * 3);
                text.push_str(pieces.get(p).copied().unwrap_or("x"));
            }
            let b = text.as_bytes();
            for quote in [0, 1, b.len() / 2] {
                assert_eq!(
                    string_at(b, quote),
                    string_at_naive(b, quote),
                    "{text:?} at {quote}"
                );
            }
            let mut out = String::from(">");
            let got = unescape_plain(&text, &mut out).map(|()| out[1..].to_string());
            assert_eq!(got, unescape_naive(&text), "{text:?}");
            let mut out = String::new();
            write_canonical_string(&text, &mut out);
            assert_eq!(out, escape_naive(&text), "{text:?}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        let e = parse(deep.as_bytes()).unwrap_err();
        assert!(e.message.contains("nested more than"));
    }
}
