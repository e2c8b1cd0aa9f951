//! A borrowed, allocation-light view of a stored canonical record.
//!
//! Verification and CSV export touch every record of an archive; building a
//! full [`Entry`](crate::model::Entry) for each (a tree of owned strings
//! and maps) costs far more than hashing it. This view scans the record once:
//! top-level and actor fields become string slices (decoded only when they
//! contain escapes), while `before`, `after` and `extra` stay raw canonical
//! JSON slices whose structure (strings, brackets) is followed but whose
//! grammar is not re-checked: a record whose leaf hash matches is byte for
//! byte what ingest sealed, and ingest only seals canonical JSON; a record
//! whose hash does not match is reported as tampered anyway. The top level and
//! the actor are checked as strictly as `Entry::from_record` checks them, and
//! the derived values are the same (see the tests below).

use std::borrow::Cow;

use crate::json;
use crate::model::{key_of, label_of};
use crate::time::Timestamp;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ActorView<'a> {
    pub actor_type: Option<Cow<'a, str>>,
    pub user_id: Option<Cow<'a, str>>,
    pub email: Option<Cow<'a, str>>,
    pub org_role: Option<Cow<'a, str>>,
    pub project_role: Option<Cow<'a, str>>,
    pub auth_method: Option<Cow<'a, str>>,
    pub api_key_id: Option<Cow<'a, str>>,
    pub api_key_name: Option<Cow<'a, str>>,
    pub api_key_scope: Option<Cow<'a, str>>,
    pub api_key_scope_id: Option<Cow<'a, str>>,
    pub api_key_created_at: Option<Cow<'a, str>>,
    pub api_key_created_by: Option<Cow<'a, str>>,
}

impl ActorView<'_> {
    /// Same rule as `Actor::label`.
    pub fn label(&self) -> Option<&str> {
        label_of(
            self.actor_type.as_deref(),
            [
                &self.email,
                &self.user_id,
                &self.api_key_name,
                &self.api_key_id,
            ]
            .map(|c| c.as_deref()),
        )
    }

    /// Same rule as `Actor::key`.
    pub fn key(&self) -> Option<&str> {
        key_of(
            self.actor_type.as_deref(),
            self.user_id.as_deref(),
            self.api_key_id.as_deref(),
        )
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecordView<'a> {
    pub id: Cow<'a, str>,
    /// The time as written in the record.
    pub time_text: Cow<'a, str>,
    pub time: Timestamp,
    pub updated_at: Option<Cow<'a, str>>,
    pub actor: ActorView<'a>,
    pub resource_type: Cow<'a, str>,
    pub resource_id: Cow<'a, str>,
    pub resource_name: Option<Cow<'a, str>>,
    pub action: Cow<'a, str>,
    /// Raw canonical JSON of the states and the extra object.
    pub before: Option<&'a str>,
    pub after: Option<&'a str>,
    pub extra: Option<&'a str>,
    pub org_id: Option<Cow<'a, str>>,
    pub org_name: Option<Cow<'a, str>>,
    pub project_id: Option<Cow<'a, str>>,
    pub project_name: Option<Cow<'a, str>>,
    pub ip_address: Option<Cow<'a, str>>,
    pub user_agent: Option<Cow<'a, str>>,
}

/// One index column's value as the record says it should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexValue<'a> {
    /// A text column; `None` is SQL NULL.
    Text(Option<&'a str>),
    /// `time_ms`.
    Integer(i64),
}

impl<'a> IndexValue<'a> {
    /// The text of a text column (`None` for NULL and for `time_ms`).
    pub fn text(self) -> Option<&'a str> {
        match self {
            IndexValue::Text(t) => t,
            IndexValue::Integer(_) => None,
        }
    }

    /// The value as SQLite would print it (`None` for NULL).
    pub fn to_text(self) -> Option<String> {
        match self {
            IndexValue::Text(t) => t.map(str::to_string),
            IndexValue::Integer(n) => Some(n.to_string()),
        }
    }
}

/// Index of the first `"`, `\` or control character (< 0x20) in `b`: the
/// bytes that end or interrupt a JSON string. Strings are most of a record's
/// bytes, so this looks at 16 bytes at a time where SSE2 is there (always, on
/// x86-64) and 8 at a time elsewhere.
#[inline]
pub(crate) fn string_stop(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        while i + 16 <= b.len() {
            // SAFETY: SSE2 is part of the x86-64 baseline, and the load reads
            // b[i..i + 16], which the loop condition keeps inside `b`.
            let mask = unsafe {
                let x = _mm_loadu_si128(b.as_ptr().add(i).cast());
                let quote = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'"' as i8));
                let backslash = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'\\' as i8));
                // Unsigned c < 0x20 is c == min(c, 0x1f).
                let control = _mm_cmpeq_epi8(x, _mm_min_epu8(x, _mm_set1_epi8(0x1f)));
                _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control))
            };
            if mask != 0 {
                return Some(i + mask.trailing_zeros() as usize);
            }
            i += 16;
        }
    }
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Bytes below `n` (n <= 0x80) get their high bit set; a false mark can
    // only appear above a true one, so the lowest mark is exact.
    let below = |x: u64, n: u64| x.wrapping_sub(ONES * n) & !x & HIGH;
    while let Some(word) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(word.try_into().unwrap_or_default());
        let marks = below(x ^ (ONES * b'"' as u64), 1)
            | below(x ^ (ONES * b'\\' as u64), 1)
            | below(x, 0x20);
        if marks != 0 {
            return Some(i + (marks.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b[i..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|p| i + p)
}

/// A bit per byte of `b` (at most 16) that is a quote, a backslash, a bracket
/// or a control character: where skipping over a nested value must look.
#[inline]
fn stops_in(b: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if b.len() == 16 {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of the x86-64 baseline, and the load reads
        // the 16 bytes of `b`.
        return unsafe {
            let x = _mm_loadu_si128(b.as_ptr().cast());
            let is = |c: u8| _mm_cmpeq_epi8(x, _mm_set1_epi8(c as i8));
            // '{' | 0x20 == '{' and '[' | 0x20 == '{': one compare for both, and for the closers.
            let folded = _mm_or_si128(x, _mm_set1_epi8(0x20));
            let open = _mm_cmpeq_epi8(folded, _mm_set1_epi8(b'{' as i8));
            let close = _mm_cmpeq_epi8(folded, _mm_set1_epi8(b'}' as i8));
            let control = _mm_cmpeq_epi8(x, _mm_min_epu8(x, _mm_set1_epi8(0x1f)));
            let any = _mm_or_si128(
                _mm_or_si128(is(b'"'), is(b'\\')),
                _mm_or_si128(_mm_or_si128(open, close), control),
            );
            _mm_movemask_epi8(any) as u32
        };
    }
    b.iter().enumerate().fold(0, |m, (i, &c)| {
        let stop = matches!(c, b'"' | b'\\' | b'{' | b'}' | b'[' | b']') || c < 0x20;
        m | (u32::from(stop) << i)
    })
}

/// The bytes that matter when skipping over a nested value.
const STRUCTURAL: [bool; 256] = {
    let mut t = [false; 256];
    t[b'"' as usize] = true;
    t[b'{' as usize] = true;
    t[b'}' as usize] = true;
    t[b'[' as usize] = true;
    t[b']' as usize] = true;
    t
};

/// The `nested` reader of [`RecordView::read`] that checks nothing: it
/// follows the strings and brackets of the value at byte `at` of `text` (objects and arrays
/// without escapes fast, 16 bytes at a time; states are often strings or
/// scalars) and returns where it ends. Every value it ends where the general
/// parser ends it (tested below).
pub(crate) fn skip_nested(text: &str, at: usize) -> Option<usize> {
    let mut s = Scan {
        b: text.as_bytes(),
        text,
        i: at,
    };
    match s.peek() {
        Some(b'{' | b'[') => s.plain_nested()?,
        _ => s.raw_value().ok()?,
    };
    Some(s.i)
}

struct Scan<'a> {
    b: &'a [u8],
    /// The same bytes, checked as UTF-8 once.
    text: &'a str,
    i: usize,
}

impl<'a> Scan<'a> {
    fn err<T>(&self, m: &str) -> Result<T, String> {
        Err(format!(
            "record is not valid JSON (byte {}: {m})",
            self.i + 1
        ))
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline]
    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            self.expected(c)
        }
    }

    #[cold]
    fn expected(&self, c: u8) -> Result<(), String> {
        self.err(&format!("expected '{}'", c as char))
    }

    /// A string at the cursor; borrowed when it has no escapes.
    #[inline]
    fn string(&mut self) -> Result<Cow<'a, str>, String> {
        self.expect(b'"')?;
        let start = self.i;
        let rest = &self.b[start..];
        match string_stop(rest) {
            Some(n) if rest[n] == b'"' => {
                self.i = start + n + 1;
                // Quotes are ASCII, so both ends are character boundaries.
                self.text
                    .get(start..start + n)
                    .map(Cow::Borrowed)
                    .ok_or_else(|| "string is not valid UTF-8".into())
            }
            Some(n) if rest[n] == b'\\' => {
                // Rare: let the strict parser decode it.
                self.i = start - 1;
                let end = self.skip_string_end()?;
                match json::parse(&self.b[start - 1..end]) {
                    Ok(json::Json::String(s)) => Ok(Cow::Owned(s)),
                    _ => self.err("bad string"),
                }
            }
            _ => self.err("unterminated string or control character"),
        }
    }

    /// Whether `key` (its quotes and colon included) is next, after a comma
    /// unless it is the object's first; if so, moves past it.
    #[inline(always)]
    fn key_here(&mut self, first: bool, key: &'static [u8]) -> bool {
        let at = self.i + usize::from(!first);
        let next = self.b.get(at..at + key.len());
        if next == Some(key) && (first || self.b[self.i] == b',') {
            self.i = at + key.len();
            true
        } else {
            false
        }
    }

    /// A string without escapes at the cursor; `None` for anything else.
    #[inline]
    fn plain_string(&mut self) -> Option<&'a str> {
        if self.peek() != Some(b'"') {
            return None;
        }
        let start = self.i + 1;
        let n = string_stop(&self.b[start..])?;
        if self.b[start + n] != b'"' {
            return None;
        }
        self.i = start + n + 1;
        // Quotes are ASCII, so both ends are character boundaries.
        self.text.get(start..start + n)
    }

    /// Skips an object or array at the cursor that has no escapes and no
    /// control characters, returning its text; `None` for anything else
    /// (the general parser then reads it). Strings are most of a state's
    /// bytes, so this looks at 16 bytes at a time and stops only at quotes
    /// and brackets.
    fn plain_nested(&mut self) -> Option<&'a str> {
        let start = self.i;
        if !matches!(self.peek(), Some(b'{' | b'[')) {
            return None;
        }
        let b = self.b;
        let mut depth = 0usize;
        let mut in_string = false;
        let mut block = start;
        while block < b.len() {
            let end = (block + 16).min(b.len());
            let mut marks = stops_in(&b[block..end]);
            while marks != 0 {
                let p = block + marks.trailing_zeros() as usize;
                marks &= marks - 1;
                match (b[p], in_string) {
                    (b'"', _) => in_string = !in_string,
                    (b'{' | b'[', false) => depth += 1,
                    (b'}' | b']', false) => {
                        depth -= 1;
                        if depth == 0 {
                            self.i = p + 1;
                            return self.text.get(start..p + 1);
                        }
                    }
                    (b'{' | b'[' | b'}' | b']', true) => {}
                    _ => return None,
                }
            }
            block = end;
        }
        None
    }

    /// Skips a string starting at the cursor (`"`), returning the index after it.
    fn skip_string_end(&mut self) -> Result<usize, String> {
        self.expect(b'"')?;
        while let Some(n) = self.b.get(self.i..).and_then(string_stop) {
            self.i += n + 1;
            match self.b[self.i - 1] {
                b'"' => return Ok(self.i),
                b'\\' => self.i += 1,
                _ => {
                    self.i -= 1;
                    return self.err("control character in a string");
                }
            }
        }
        self.i = self.b.len();
        self.err("unterminated string")
    }

    /// Skips one value (following strings and brackets); returns its raw text.
    fn raw_value(&mut self) -> Result<&'a str, String> {
        let start = self.i;
        match self.peek() {
            None => return self.err("truncated value"),
            Some(b'"') => {
                self.skip_string_end()?;
            }
            Some(b'{' | b'[') => {
                let mut depth = 0usize;
                loop {
                    // Scalars, commas and colons inside do not change the depth.
                    while self.b.get(self.i).is_some_and(|&c| !STRUCTURAL[c as usize]) {
                        self.i += 1;
                    }
                    match self.peek() {
                        None => return self.err("truncated value"),
                        Some(b'"') => {
                            self.skip_string_end()?;
                        }
                        Some(b'{' | b'[') => {
                            depth += 1;
                            self.i += 1;
                        }
                        _ => {
                            depth -= 1;
                            self.i += 1;
                            if depth == 0 {
                                break;
                            }
                        }
                    }
                }
            }
            Some(_) => {
                // A scalar: runs to the next delimiter.
                while self
                    .peek()
                    .is_some_and(|c| !matches!(c, b',' | b'}' | b']' | b':'))
                {
                    self.i += 1;
                }
                if self.i == start {
                    return self.err("expected a value");
                }
            }
        }
        self.text
            .get(start..self.i)
            .ok_or_else(|| "record is not valid UTF-8".to_string())
    }

    /// Iterates the keys of an object at the cursor.
    fn object(
        &mut self,
        mut field: impl FnMut(&mut Self, &str) -> Result<(), String>,
    ) -> Result<(), String> {
        self.expect(b'{')?;
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        let mut last: Option<Cow<'a, str>> = None;
        loop {
            let k = self.string()?;
            if last.as_ref().is_some_and(|l| l.as_bytes() >= k.as_bytes()) {
                return Err("record keys are not in canonical order (or repeat)".into());
            }
            self.expect(b':')?;
            field(self, &k)?;
            last = Some(k);
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return self.err("expected ',' or '}'"),
            }
        }
    }
}

impl<'a> RecordView<'a> {
    /// The archive's index columns as derived from this record, in the order of
    /// `archive::INDEX_COLUMN_NAMES` (the same values as `IndexColumns::from_entry`).
    pub fn index_columns(&self) -> [IndexValue<'_>; 11] {
        use IndexValue::{Integer, Text};
        [
            Text(Some(self.id.as_ref())),
            Integer(self.time.0),
            Text(self.actor.actor_type.as_deref()),
            Text(self.actor.key()),
            Text(self.actor.label()),
            Text(Some(self.action.as_ref())),
            Text(Some(self.resource_type.as_ref())),
            Text(Some(self.resource_id.as_ref())),
            Text(self.project_id.as_deref()),
            Text(self.org_id.as_deref()),
            Text(self.ip_address.as_deref()),
        ]
    }

    /// Reads a stored record. Errors read like `Entry::from_record`'s.
    #[inline]
    pub fn parse(bytes: &'a [u8]) -> Result<RecordView<'a>, String> {
        // Filled in place: the view is large, and moving it costs.
        let mut v = RecordView::default();
        v.read(bytes, skip_nested)?;
        Ok(v)
    }

    /// Reads a stored record into `self`, a default view (filled in place:
    /// verification reads millions, and the view is large to move).
    /// `nested(text, at)` reads the state or `extra` value that starts at byte `at`
    /// when the record is in the shape ingest seals, and returns where it
    /// ends, or `None` to have the general parser read the record: canonical
    /// checking passes a walk that checks the value's canonical form as it
    /// goes, so that verification reads each record once; [`skip_nested`]
    /// only follows its strings and brackets.
    ///
    /// `Ok(true)`: the record was in the shape ingest seals (see
    /// `read_sealed_shape`), so everything but the states, `extra` and the
    /// times is known to be canonical, and each state and `extra` was given
    /// to `nested`. `Ok(false)`: the general parser read it. On `Err`, `self`
    /// holds part of the record and is not to be used.
    #[inline]
    pub(crate) fn read(
        &mut self,
        bytes: &'a [u8],
        nested: impl FnMut(&'a str, usize) -> Option<usize>,
    ) -> Result<bool, String> {
        let text =
            std::str::from_utf8(bytes).map_err(|_| "record is not valid UTF-8".to_string())?;
        if self.read_sealed_shape(bytes, text, nested).is_some() {
            return Ok(true);
        }
        *self = Self::parse_general(bytes, text)?;
        Ok(false)
    }

    /// Reads into `self` (a default view) the record in the shape ingest
    /// seals (known keys in canonical order, top-level and actor strings
    /// without escapes), without the general parser's per-key work:
    /// verification and CSV export read millions. `None` is not an error, only
    /// "not this shape" (`self` is then partly filled): the general parser
    /// reads the record, or says what is wrong with it. Every record this
    /// accepts, the general parser reads to the same view (tested below).
    /// The states and `extra` are read by `nested` (see [`RecordView::read`]).
    fn read_sealed_shape(
        &mut self,
        bytes: &'a [u8],
        text: &'a str,
        mut nested: impl FnMut(&'a str, usize) -> Option<usize>,
    ) -> Option<()> {
        let mut s = Scan {
            b: bytes,
            text,
            i: 0,
        };
        let v = self;
        s.expect(b'{').ok()?;
        let mut first = true;
        // Each known key, in canonical (byte) order, at most once.
        macro_rules! key {
            ($s:ident, $first:ident, $name:literal) => {
                $s.key_here($first, concat!("\"", $name, "\":").as_bytes())
                    .then(|| $first = false)
                    .is_some()
            };
        }
        if key!(s, first, "action") {
            v.action = Cow::Borrowed(s.plain_string()?);
        }
        if key!(s, first, "actor") {
            s.expect(b'{').ok()?;
            let a = &mut v.actor;
            let mut first = true;
            macro_rules! actor {
                ($name:literal, $field:ident) => {
                    if key!(s, first, $name) {
                        a.$field = Some(Cow::Borrowed(s.plain_string()?));
                    }
                };
            }
            actor!("api_key_created_at", api_key_created_at);
            actor!("api_key_created_by", api_key_created_by);
            actor!("api_key_id", api_key_id);
            actor!("api_key_name", api_key_name);
            actor!("api_key_scope", api_key_scope);
            actor!("api_key_scope_id", api_key_scope_id);
            actor!("auth_method", auth_method);
            actor!("email", email);
            actor!("org_role", org_role);
            actor!("project_role", project_role);
            actor!("type", actor_type);
            actor!("user_id", user_id);
            s.expect(b'}').ok()?;
        } else {
            return None;
        }
        let mut state = |s: &mut Scan<'a>| {
            let start = s.i;
            s.i = nested(text, start)?;
            text.get(start..s.i)
        };
        if key!(s, first, "after") {
            v.after = Some(state(&mut s)?);
        }
        if key!(s, first, "before") {
            v.before = Some(state(&mut s)?);
        }
        if key!(s, first, "extra") {
            if s.peek() != Some(b'{') {
                return None;
            }
            v.extra = Some(state(&mut s)?);
        }
        macro_rules! text {
            ($name:literal, $field:ident) => {
                if key!(s, first, $name) {
                    v.$field = Some(Cow::Borrowed(s.plain_string()?));
                }
            };
        }
        if !key!(s, first, "id") {
            return None;
        }
        v.id = Cow::Borrowed(s.plain_string()?);
        text!("ip_address", ip_address);
        text!("org_id", org_id);
        text!("org_name", org_name);
        text!("project_id", project_id);
        text!("project_name", project_name);
        if !key!(s, first, "resource_id") {
            return None;
        }
        v.resource_id = Cow::Borrowed(s.plain_string()?);
        text!("resource_name", resource_name);
        if !key!(s, first, "resource_type") {
            return None;
        }
        v.resource_type = Cow::Borrowed(s.plain_string()?);
        if !key!(s, first, "time") {
            return None;
        }
        v.time_text = Cow::Borrowed(s.plain_string()?);
        text!("updated_at", updated_at);
        text!("user_agent", user_agent);
        s.expect(b'}').ok()?;
        if s.i != bytes.len() || first {
            return None;
        }
        v.time = Timestamp::parse(&v.time_text).ok()?;
        for t in [&v.updated_at, &v.actor.api_key_created_at]
            .into_iter()
            .flatten()
        {
            Timestamp::parse(t).ok()?;
        }
        Some(())
    }

    /// Reads any record the strict parser reads, with its errors.
    fn parse_general(bytes: &'a [u8], text: &'a str) -> Result<RecordView<'a>, String> {
        let mut s = Scan {
            b: bytes,
            text,
            i: 0,
        };
        let mut v = RecordView::default();
        let (mut has_id, mut has_time, mut has_actor, mut has_rt, mut has_rid, mut has_action) =
            (false, false, false, false, false, false);
        s.object(|s, key| {
            let text = |s: &mut Scan<'a>| -> Result<Cow<'a, str>, String> {
                if s.peek() == Some(b'"') {
                    s.string()
                } else {
                    Err(format!("\"{key}\" must be a string"))
                }
            };
            match key {
                "id" => (v.id, has_id) = (text(s)?, true),
                "time" => (v.time_text, has_time) = (text(s)?, true),
                "updated_at" => v.updated_at = Some(text(s)?),
                "resource_type" => (v.resource_type, has_rt) = (text(s)?, true),
                "resource_id" => (v.resource_id, has_rid) = (text(s)?, true),
                "resource_name" => v.resource_name = Some(text(s)?),
                "action" => (v.action, has_action) = (text(s)?, true),
                "org_id" => v.org_id = Some(text(s)?),
                "org_name" => v.org_name = Some(text(s)?),
                "project_id" => v.project_id = Some(text(s)?),
                "project_name" => v.project_name = Some(text(s)?),
                "ip_address" => v.ip_address = Some(text(s)?),
                "user_agent" => v.user_agent = Some(text(s)?),
                "before" => v.before = Some(s.raw_value()?),
                "after" => v.after = Some(s.raw_value()?),
                "extra" => {
                    if s.peek() != Some(b'{') {
                        return Err("\"extra\" must be an object".into());
                    }
                    v.extra = Some(s.raw_value()?);
                }
                "actor" => {
                    has_actor = true;
                    if s.peek() != Some(b'{') {
                        return Err("\"actor\" must be an object".into());
                    }
                    let a = &mut v.actor;
                    s.object(|s, k| {
                        if s.peek() != Some(b'"') {
                            return Err(format!("\"actor.{k}\" must be a string"));
                        }
                        let val = Some(s.string()?);
                        match k {
                            "type" => a.actor_type = val,
                            "user_id" => a.user_id = val,
                            "email" => a.email = val,
                            "org_role" => a.org_role = val,
                            "project_role" => a.project_role = val,
                            "auth_method" => a.auth_method = val,
                            "api_key_id" => a.api_key_id = val,
                            "api_key_name" => a.api_key_name = val,
                            "api_key_scope" => a.api_key_scope = val,
                            "api_key_scope_id" => a.api_key_scope_id = val,
                            "api_key_created_at" => a.api_key_created_at = val,
                            "api_key_created_by" => a.api_key_created_by = val,
                            other => {
                                return Err(format!(
                                    "unknown field \"actor.{other}\" in the record"
                                ));
                            }
                        }
                        Ok(())
                    })?;
                }
                other => return Err(format!("unknown field \"{other}\" in the record")),
            }
            Ok(())
        })?;
        if s.i != bytes.len() {
            return Err("record is not valid JSON (data after the object)".into());
        }
        for (ok, name) in [
            (has_id, "id"),
            (has_time, "time"),
            (has_actor, "actor"),
            (has_rt, "resource_type"),
            (has_rid, "resource_id"),
            (has_action, "action"),
        ] {
            if !ok {
                return Err(format!("record has no \"{name}\""));
            }
        }
        v.time = Timestamp::parse(&v.time_text).map_err(|e| format!("\"time\": {e}"))?;
        for (name, t) in [
            ("updated_at", &v.updated_at),
            ("actor.api_key_created_at", &v.actor.api_key_created_at),
        ] {
            if let Some(t) = t {
                Timestamp::parse(t).map_err(|e| format!("\"{name}\": {e}"))?;
            }
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::IndexColumns;
    use crate::model::Entry;
    use crate::sample::Sample;

    fn columns(v: &RecordView) -> [Option<String>; 11] {
        let o = |c: &Option<Cow<str>>| c.as_ref().map(|s| s.to_string());
        [
            Some(v.id.to_string()),
            Some(v.time.0.to_string()),
            o(&v.actor.actor_type),
            v.actor.key().map(str::to_string),
            v.actor.label().map(str::to_string),
            Some(v.action.to_string()),
            Some(v.resource_type.to_string()),
            Some(v.resource_id.to_string()),
            o(&v.project_id),
            o(&v.org_id),
            o(&v.ip_address),
        ]
    }

    #[test]
    fn agrees_with_the_full_parser_on_sample_records() {
        let s = Sample::new(2000, 3);
        for i in 0..s.n {
            let e = s.entry(i);
            let rec = e.canonical_record();
            let v = RecordView::parse(rec.as_bytes()).unwrap();
            assert_eq!(
                columns(&v),
                IndexColumns::from_entry(&e).values(),
                "entry {i}"
            );
            let derived: Vec<Option<String>> =
                v.index_columns().iter().map(|c| c.to_text()).collect();
            assert_eq!(
                derived,
                IndexColumns::from_entry(&e).values().to_vec(),
                "entry {i}"
            );
            assert_eq!(
                v.before,
                e.before.as_ref().map(|b| b.to_canonical()).as_deref()
            );
            assert_eq!(
                v.after,
                e.after.as_ref().map(|b| b.to_canonical()).as_deref()
            );
        }
    }

    /// Sample records and variants of them: every one the sealed-shape path
    /// reads, the general parser reads to the same view.
    #[test]
    fn the_sealed_shape_path_reads_what_the_general_parser_reads() {
        let s = Sample::new(3000, 11);
        let (mut fast, mut nested_fast) = (0, 0);
        for i in 0..s.n {
            let rec = s.entry(i).canonical_record();
            let variants = [
                rec.clone(),
                rec.replacen("\"id\":\"", "\"id\":\"\\u0041", 1),
                rec.replacen(",\"ip_address\"", ",\"ip_address\":\"1\",\"ip_address\"", 1),
                rec.replacen("\"actor\":{", "\"actor\":{\"zz\":\"1\",", 1),
                rec.replacen("\"time\":\"", "\"time\":\"x", 1),
                rec.replacen("}", "} ", 1),
                rec.replacen("\"resource_id\"", "\"resource_idx\"", 1),
                format!("{rec} "),
                rec.replacen(
                    "\"id\":",
                    "\"extra\":{\"a\":\"}]\",\"b\":[1,{\"c\":[]}]},\"id\":",
                    1,
                ),
                rec.replacen("\"id\":", "\"extra\":{\"a\":\"\\\"}\"},\"id\":", 1),
                rec.replacen("\"id\":", "\"extra\":{\"a\":\"\t\"},\"id\":", 1),
                rec.replacen("\"id\":", "\"extra\":[],\"id\":", 1),
                rec.replacen("\"id\":", "\"extra\":{\"a\":[[[{}]]]},\"id\":", 1),
                rec.replacen("\"id\":", "\"before\":{\"x\":{\"y\":\"{[\"}},\"id\":", 1),
            ];
            for (k, r) in variants.iter().enumerate() {
                let text = std::str::from_utf8(r.as_bytes()).unwrap();
                let general = RecordView::parse_general(r.as_bytes(), text);
                let mut v = RecordView::default();
                if v.read_sealed_shape(r.as_bytes(), text, skip_nested)
                    .is_some()
                {
                    fast += 1;
                    nested_fast += usize::from(k == 8 || k == 12);
                    assert_eq!(Ok(v), general, "{r}");
                }
            }
            assert!(
                RecordView::default()
                    .read_sealed_shape(rec.as_bytes(), &rec, skip_nested)
                    .is_some(),
                "a sealed record takes the fast path: {rec}"
            );
        }
        assert!(fast >= 3000);
        assert!(
            nested_fast > 1000,
            "brackets inside strings took the fast path"
        );
    }

    #[test]
    fn string_stop_finds_the_first_stop_byte() {
        let naive = |b: &[u8]| b.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20);
        let mut state = 7u64;
        for len in 0..70 {
            for _ in 0..200 {
                let b: Vec<u8> = (0..len)
                    .map(|_| {
                        state = state
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        // Mostly ordinary bytes (ASCII and UTF-8 high bytes), a few stops.
                        match (state >> 33) % 40 {
                            0 => b'"',
                            1 => b'\\',
                            2 => (state >> 40) as u8 % 0x20,
                            3 => 0x80 | (state >> 40) as u8,
                            _ => 0x20 + (state >> 40) as u8 % 0x5f,
                        }
                    })
                    .collect();
                assert_eq!(string_stop(&b), naive(&b), "{b:?}");
            }
        }
    }

    #[test]
    fn truncated_escapes_are_errors_not_panics() {
        for bad in [
            &b"{\"id\":\"\\"[..],
            b"{\"before\":{\"k\\",
            b"{\"before\":\"\\",
            b"{\"before\":[\"a\\",
        ] {
            assert!(RecordView::parse(bad).is_err());
        }
    }

    #[test]
    fn rejects_what_the_full_parser_rejects() {
        let good = Sample::new(10, 1).entry(3).canonical_record();
        let bad = [
            good.replacen("{", "{\"zzz\":1,", 1),
            good.replace("\"action\"", "\"actionX\""),
            good[..good.len() - 1].to_string(),
            good.replacen("\"actor\":{", "\"actor\":{\"type\":1,", 1),
            "{}".to_string(),
        ];
        for b in bad {
            let full = crate::json::parse(b.as_bytes())
                .map_err(|e| e.to_string())
                .and_then(|j| Entry::from_record(&j));
            assert!(full.is_err(), "{b}");
            assert!(RecordView::parse(b.as_bytes()).is_err(), "{b}");
        }
    }
}
