//! The free-text search index: answers [`Filter::search`] for every entry in
//! tens of milliseconds without keeping a copy of the record text.
//!
//! The core defines free text as a case-insensitive substring of
//! [`search_text`]: fifteen fields joined by `\n`, then the canonical JSON of
//! `before` and `after`, lower-cased. A needle without `"` and `\n` cannot
//! cross a field boundary, nor a string quote in a state, so it matches that
//! text exactly when it matches one *token*: a field value, the escaped
//! content of one JSON string (key or value), or one run of JSON between two
//! strings (`:10},`, `:[true],`). So the index keeps, per entry, which tokens
//! it has, and a query is answered by matching the (far fewer) distinct tokens
//! once and then one linear pass over the entries.
//!
//! Memory (bytes per entry, the viewer's budget is 150 with the rest of it):
//! - distinct tokens are stored once, lower-cased, in one arena;
//! - tokens that repeat across entries (actor, project, user agent, keys, small
//!   values) are grouped per entry into three sets (fields, before, after),
//!   and equal sets are stored once (hash-consing): one `u32` per set per entry;
//! - the entry id and the resource id, unique per entry, live in two
//!   fixed-width byte columns (no offsets, no pointers);
//! - canonical timestamps (`2025-01-06T08:00:07.200z`), nearly unique too, are
//!   kept as milliseconds in one sorted table and formatted back when a query
//!   could match one (only digits, `-:.tz`).
//!
//! Needles with `"` or `\n` are not answered here ([`supports`]); the viewer
//! then scans the records with the core filter as before.
//!
//! [`Filter::search`]: crate::filter::Filter::search
//! [`search_text`]: crate::filter::search_text

use std::collections::HashMap;
use std::path::Path;

use memchr::memmem;

use crate::archive::{self, Column, Columns, Scan};
use crate::job::Job;
use crate::model::Entry;
use crate::row_index::Index;

const TAG_SHIFT: u32 = 30;
const TAG_DICT: u32 = 0;
const TAG_SET: u32 = 1;
const TAG_TIME: u32 = 2;
const PAYLOAD: u32 = (1 << TAG_SHIFT) - 1;
/// Ids longer than this go to the dictionary instead of a fixed-width column.
/// (Every slot is as wide as the longest id that fits: UUIDs and cuids do.)
const MAX_ID_WIDTH: usize = 40;

/// Can the index answer this (already lower-cased) needle exactly?
pub fn supports(needle: &str) -> bool {
    !needle.is_empty() && !needle.contains(['"', '\n'])
}

/// Per-entry ids in fixed-width slots, each ending with at least one `\n`
/// (never in a needle, so no match spans two slots).
#[derive(Debug, Default)]
struct IdColumn {
    width: usize,
    bytes: Vec<u8>,
}

impl IdColumn {
    /// Packs variable-length ids (`arena[starts[i]..starts[i+1]]`) into slots.
    fn pack(arena: &[u8], starts: &[u32]) -> IdColumn {
        let n = starts.len().saturating_sub(1);
        let longest = starts
            .windows(2)
            .map(|w| (w[1] - w[0]) as usize)
            .max()
            .unwrap_or(0);
        let width = longest + 1;
        let mut bytes = vec![b'\n'; n * width];
        for i in 0..n {
            let s = &arena[starts[i] as usize..starts[i + 1] as usize];
            bytes[i * width..i * width + s.len()].copy_from_slice(s);
        }
        IdColumn { width, bytes }
    }

    /// Sets the bit of every entry whose id contains the needle.
    fn mark(&self, finder: &memmem::Finder, bits: &mut [u64]) {
        if self.width == 0 {
            return;
        }
        let mut at = 0;
        while let Some(p) = finder.find(&self.bytes[at..]) {
            let entry = (at + p) / self.width;
            bits[entry / 64] |= 1 << (entry % 64);
            at = (entry + 1) * self.width;
            if at >= self.bytes.len() {
                break;
            }
        }
    }
}

/// The free-text index of one archive; positions are those of [`Index::rows`].
#[derive(Debug, Default)]
pub struct SearchIndex {
    /// Distinct lower-cased tokens, each followed by `\n`.
    dict: Vec<u8>,
    /// Start of each token in `dict`, plus the end.
    dict_starts: Vec<u32>,
    /// Distinct token sets (dictionary ids), flat, with starts plus the end.
    set_items: Vec<u32>,
    set_starts: Vec<u32>,
    /// Distinct canonical timestamps (ms), sorted.
    times: Vec<i64>,
    /// Per entry: tagged references (set, timestamp or dictionary token),
    /// flat, with the number of each entry's references in `ref_counts` (one
    /// byte, not a 4-byte offset: queries walk the entries in order).
    refs: Vec<u32>,
    ref_counts: Vec<u8>,
    ids: IdColumn,
    resource_ids: IdColumn,
    /// Per entry: rank of the Resource column (name, else id; case-insensitive).
    pub resource_rank: Vec<u32>,
}

/// Builds the index: the distinct-value tables are only needed while building.
struct Builder {
    ix: SearchIndex,
    dict_lookup: HashMap<Box<str>, u32>,
    set_lookup: HashMap<Box<[u32]>, u32>,
    time_lookup: HashMap<i64, u32>,
    /// Timestamp table in first-seen order; sorted at the end.
    times: Vec<i64>,
    id_arena: Vec<u8>,
    id_starts: Vec<u32>,
    rid_arena: Vec<u8>,
    rid_starts: Vec<u32>,
    /// Per entry: the dictionary id of the resource name (or of a long
    /// resource id), or `u32::MAX`: the id in `rid_arena`.
    resource_name: Vec<u32>,
    // Scratch buffers reused across entries.
    canon: String,
    lower: String,
    set: Vec<u32>,
    entry_refs: Vec<u32>,
}

fn lower_into(s: &str, out: &mut String) {
    out.clear();
    if s.is_ascii() {
        out.push_str(s);
        out.make_ascii_lowercase();
    } else {
        out.push_str(&s.to_lowercase());
    }
}

impl Builder {
    fn new(n: usize) -> Builder {
        let mut b = Builder {
            ix: SearchIndex::default(),
            dict_lookup: HashMap::new(),
            set_lookup: HashMap::new(),
            time_lookup: HashMap::new(),
            times: Vec::new(),
            id_arena: Vec::with_capacity(n * 26),
            id_starts: Vec::with_capacity(n + 1),
            rid_arena: Vec::with_capacity(n * 26),
            rid_starts: Vec::with_capacity(n + 1),
            resource_name: Vec::with_capacity(n),
            canon: String::new(),
            lower: String::new(),
            set: Vec::new(),
            entry_refs: Vec::new(),
        };
        b.ix.dict_starts.push(0);
        b.ix.set_starts.push(0);
        b.ix.ref_counts.reserve(n);
        b.id_starts.push(0);
        b.rid_starts.push(0);
        b
    }

    /// Dictionary id of an already lower-cased token.
    fn token(&mut self, lower: &str) -> u32 {
        if let Some(&id) = self.dict_lookup.get(lower) {
            return id;
        }
        let id = self.dict_lookup.len() as u32;
        self.ix.dict.extend_from_slice(lower.as_bytes());
        self.ix.dict.push(b'\n');
        self.ix.dict_starts.push(self.ix.dict.len() as u32);
        self.dict_lookup.insert(lower.into(), id);
        id
    }

    /// Stores `self.set` (sorted, deduplicated) once and returns its reference.
    fn intern_set(&mut self) -> u32 {
        self.set.sort_unstable();
        self.set.dedup();
        if let Some(&id) = self.set_lookup.get(self.set.as_slice()) {
            return (TAG_SET << TAG_SHIFT) | id;
        }
        let id = self.set_lookup.len() as u32;
        self.ix.set_items.extend_from_slice(&self.set);
        self.ix.set_starts.push(self.ix.set_items.len() as u32);
        self.set_lookup.insert(self.set.as_slice().into(), id);
        (TAG_SET << TAG_SHIFT) | id
    }

    fn time(&mut self, ms: i64) -> u32 {
        let next = self.times.len() as u32;
        let id = *self.time_lookup.entry(ms).or_insert(next);
        if id == next {
            self.times.push(ms);
        }
        (TAG_TIME << TAG_SHIFT) | id
    }

    /// Adds one entry (the next position). `None` (an unreadable record) gets
    /// no tokens and so never matches, as in the core filter.
    fn add(&mut self, e: Option<&Entry>) {
        self.entry_refs.clear();
        let Some(e) = e else {
            self.resource_name.push(u32::MAX);
            self.id_starts.push(self.id_arena.len() as u32);
            self.rid_starts.push(self.rid_arena.len() as u32);
            self.ix.ref_counts.push(0);
            return;
        };
        // The two per-entry ids.
        let mut id_lower = String::new();
        let mut rid_lower = String::new();
        lower_into(&e.id, &mut id_lower);
        lower_into(&e.resource_id, &mut rid_lower);
        let mut rid_token = None;
        for (v, rid) in [(&id_lower, false), (&rid_lower, true)] {
            if v.len() > MAX_ID_WIDTH || v.contains('\n') {
                let t = self.token_owned(v);
                self.entry_refs.push(t);
                if rid {
                    rid_token = Some(t & PAYLOAD);
                }
            } else if rid {
                self.rid_arena.extend_from_slice(v.as_bytes());
            } else {
                self.id_arena.extend_from_slice(v.as_bytes());
            }
        }
        self.id_starts.push(self.id_arena.len() as u32);
        self.rid_starts.push(self.rid_arena.len() as u32);
        // The other fields, in one set.
        self.set.clear();
        let name = e.resource_name.as_ref().map(|v| {
            let mut lower = std::mem::take(&mut self.lower);
            lower_into(v, &mut lower);
            let t = self.token(&lower);
            self.lower = lower;
            t
        });
        self.resource_name
            .push(name.or(rid_token).unwrap_or(u32::MAX));
        for v in crate::filter::searched_fields(e).into_iter().flatten() {
            let mut lower = std::mem::take(&mut self.lower);
            lower_into(v, &mut lower);
            let t = self.token(&lower);
            self.set.push(t);
            self.lower = lower;
        }
        let r = self.intern_set();
        self.entry_refs.push(r);
        // Each state: its tokens in one set; ids and timestamps apart.
        for state in [&e.before, &e.after].into_iter().flatten() {
            let mut canon = std::mem::take(&mut self.canon);
            canon.clear();
            state.write_canonical(&mut canon);
            self.set.clear();
            for_each_token(&canon, |tok, is_string| {
                let mut lower = std::mem::take(&mut self.lower);
                lower_into(tok, &mut lower);
                if is_string && (lower == id_lower || lower == rid_lower) {
                    // Already searched through the id columns.
                } else if let Some(ms) = is_string.then(|| parse_canonical_time(&lower)).flatten() {
                    let t = self.time(ms);
                    self.entry_refs.push(t);
                } else {
                    let t = self.token(&lower);
                    self.set.push(t);
                }
                self.lower = lower;
            });
            self.canon = canon;
            let r = self.intern_set();
            self.entry_refs.push(r);
        }
        self.entry_refs.sort_unstable();
        self.entry_refs.dedup();
        if self.entry_refs.len() > u8::MAX as usize {
            // Too many distinct timestamps for a one-byte count: they join
            // one more set as ordinary tokens (same text, same matches).
            let times: Vec<u32> = self
                .entry_refs
                .iter()
                .copied()
                .filter(|r| r >> TAG_SHIFT == TAG_TIME)
                .collect();
            self.entry_refs.retain(|r| r >> TAG_SHIFT != TAG_TIME);
            self.set.clear();
            let mut buf = [0u8; 24];
            for r in times {
                format_time(self.times[(r & PAYLOAD) as usize], &mut buf);
                let t = self.token(std::str::from_utf8(&buf).unwrap_or_default());
                self.set.push(t);
            }
            let r = self.intern_set();
            self.entry_refs.push(r);
            self.entry_refs.sort_unstable();
        }
        self.ix.refs.extend_from_slice(&self.entry_refs);
        self.ix.ref_counts.push(self.entry_refs.len() as u8);
    }

    fn token_owned(&mut self, v: &str) -> u32 {
        (TAG_DICT << TAG_SHIFT) | self.token(v)
    }

    fn finish(mut self) -> SearchIndex {
        // Sort the timestamp table and renumber the references.
        let mut order: Vec<u32> = (0..self.times.len() as u32).collect();
        order.sort_unstable_by_key(|&i| self.times[i as usize]);
        let mut new_id = vec![0u32; order.len()];
        for (rank, &old) in order.iter().enumerate() {
            new_id[old as usize] = rank as u32;
        }
        self.ix.times = order.iter().map(|&i| self.times[i as usize]).collect();
        for r in &mut self.ix.refs {
            if *r >> TAG_SHIFT == TAG_TIME {
                *r = (TAG_TIME << TAG_SHIFT) | new_id[(*r & PAYLOAD) as usize];
            }
        }
        self.ix.ids = IdColumn::pack(&self.id_arena, &self.id_starts);
        self.ix.resource_ids = IdColumn::pack(&self.rid_arena, &self.rid_starts);
        // Resource column order: the lower-cased label, then position.
        let (dict, starts) = (&self.ix.dict, &self.ix.dict_starts);
        let (rid_arena, rid_starts) = (&self.rid_arena, &self.rid_starts);
        let label = |p: usize| -> &[u8] {
            match self.resource_name.get(p) {
                Some(&t) if t != u32::MAX => {
                    &dict[starts[t as usize] as usize..starts[t as usize + 1] as usize - 1]
                }
                _ => &rid_arena[rid_starts[p] as usize..rid_starts[p + 1] as usize],
            }
        };
        let n = self.resource_name.len();
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_by(|&a, &b| label(a as usize).cmp(label(b as usize)).then(a.cmp(&b)));
        let mut rank = vec![0u32; n];
        let mut r = 0u32;
        for (k, &p) in order.iter().enumerate() {
            if k > 0 && label(order[k - 1] as usize) != label(p as usize) {
                r += 1;
            }
            rank[p as usize] = r;
        }
        self.ix.resource_rank = rank;
        let mut ix = self.ix;
        ix.dict.shrink_to_fit();
        ix.dict_starts.shrink_to_fit();
        ix.set_items.shrink_to_fit();
        ix.set_starts.shrink_to_fit();
        ix.refs.shrink_to_fit();
        ix.ref_counts.shrink_to_fit();
        ix
    }
}

/// Calls `f(token, is_string)` for each token of a canonical JSON text: the
/// escaped content of each string, and each run between strings.
fn for_each_token(canon: &str, mut f: impl FnMut(&str, bool)) {
    let b = canon.as_bytes();
    let mut i = 0;
    let mut start = 0;
    while i < b.len() {
        if b[i] == b'"' {
            if i > start {
                f(&canon[start..i], false);
            }
            let s = i + 1;
            let mut j = s;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            let j = j.min(b.len());
            f(&canon[s..j], true);
            i = j + 1;
            start = i;
        } else {
            i += 1;
        }
    }
    if start < b.len() {
        f(&canon[start..], false);
    }
}

/// Milliseconds of a lower-cased `yyyy-mm-ddThh:mm:ss.mmmz` that
/// [`format_time`] writes back byte for byte; `None` for anything else.
fn parse_canonical_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 24 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        b[r].iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + (c - b'0') as i64)
        })
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se, ms) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..23)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 59 {
        return None;
    }
    let t = days_from_civil(y, mo, d) * 86_400_000 + ((h * 60 + mi) * 60 + se) * 1000 + ms;
    let mut buf = [0u8; 24];
    format_time(t, &mut buf);
    (buf == b[..]).then_some(t)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Writes `yyyy-mm-ddThh:mm:ss.mmmz` (lower case, as the search sees it).
/// Years outside 0..=9999 write something [`parse_canonical_time`] never accepts.
fn format_time(ms: i64, out: &mut [u8; 24]) {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let put = |out: &mut [u8; 24], at: usize, v: i64, n: usize| {
        let mut v = v;
        for k in (0..n).rev() {
            out[at + k] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    if !(0..=9999).contains(&y) {
        *out = [b'?'; 24];
        return;
    }
    put(out, 0, y, 4);
    out[4] = b'-';
    put(out, 5, m, 2);
    out[7] = b'-';
    put(out, 8, d, 2);
    out[10] = b't';
    put(out, 11, rem / 3_600_000, 2);
    out[13] = b':';
    put(out, 14, rem / 60_000 % 60, 2);
    out[16] = b':';
    put(out, 17, rem / 1000 % 60, 2);
    out[19] = b'.';
    put(out, 20, rem % 1000, 3);
    out[23] = b'z';
}

fn bit(bits: &[u64], i: usize) -> bool {
    bits[i / 64] & (1 << (i % 64)) != 0
}

impl SearchIndex {
    /// Builds the index with one scan over the records, in `index` order.
    pub fn build(path: &Path, index: &Index, job: &Job) -> Result<SearchIndex, String> {
        let archive = crate::row_index::open_unmapped(path)?;
        let n = index.len();
        job.start_phase("indexing text", n as u64);
        let mut b = Builder::new(n);
        let mut pos = 0usize;
        archive.scan::<String>(&Scan::all(Columns::of(&[Column::Record])), |r| {
            let seq = r.seq();
            // Positions without a record here (cannot happen on a read-only
            // file, but stay aligned if it does) get no tokens.
            while pos < n && index.seq(pos) < seq {
                b.add(None);
                pos += 1;
            }
            if pos >= n || index.seq(pos) != seq {
                return Ok(());
            }
            let entry = r
                .get(Column::Record)
                .as_bytes()
                .and_then(|t| archive::parse_record(t).ok());
            b.add(entry.as_ref());
            pos += 1;
            if pos.is_multiple_of(16384) {
                job.set_done(pos as u64);
                if job.is_cancelled() {
                    return Err("cancelled".into());
                }
            }
            Ok(())
        })?;
        while pos < n {
            b.add(None);
            pos += 1;
        }
        job.set_done(n as u64);
        Ok(b.finish())
    }

    pub fn len(&self) -> usize {
        self.ref_counts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The positions among `candidates` (kept in their order) whose search
    /// text contains `needle`, which must be lower-cased and [`supports`]ed.
    pub fn filter(&self, needle: &str, candidates: &[u32]) -> Vec<u32> {
        let finder = memmem::Finder::new(needle.as_bytes());
        // Distinct tokens that contain the needle.
        let ntok = self.dict_starts.len().saturating_sub(1);
        let mut tok = vec![0u64; ntok.div_ceil(64)];
        let mut at = 0usize;
        while let Some(p) = finder.find(&self.dict[at..]) {
            let p = at + p;
            let t = self.dict_starts.partition_point(|&s| s as usize <= p) - 1;
            tok[t / 64] |= 1 << (t % 64);
            at = self.dict_starts[t + 1] as usize;
            if at >= self.dict.len() {
                break;
            }
        }
        let n = self.len();
        // Few candidates (a narrowed search, a facet): decide sets,
        // timestamps and ids only for the entries that need them.
        let sparse = candidates.len().saturating_mul(8) < n;
        let nset = self.set_starts.len().saturating_sub(1);
        let set_hit = |s: usize| {
            self.set_items[self.set_starts[s] as usize..self.set_starts[s + 1] as usize]
                .iter()
                .any(|&t| bit(&tok, t as usize))
        };
        // Memo per set / timestamp: 0 unknown, 1 no, 2 yes.
        let mut sets: Vec<u8> = if sparse {
            vec![0; nset]
        } else {
            (0..nset).map(|s| 1 + set_hit(s) as u8).collect()
        };
        let mut times: Vec<u8> = if sparse {
            vec![0; self.times.len()]
        } else {
            let bits = self.match_times(needle, &finder);
            (0..self.times.len())
                .map(|i| 1 + bit(&bits, i) as u8)
                .collect()
        };
        let time_chars = needle.bytes().all(|c| b"0123456789-:.tz".contains(&c));
        let id_hit = |col: &IdColumn, p: usize| {
            col.width > 0
                && finder
                    .find(&col.bytes[p * col.width..(p + 1) * col.width])
                    .is_some()
        };
        // First the references (cheap, and most entries match there for
        // short needles), in position order; the cursor restarts should
        // the candidates ever go back.
        let (mut at_pos, mut at_ref) = (0usize, 0usize);
        let mut hit = vec![false; candidates.len()];
        let mut pending = 0usize;
        let mut buf = [0u8; 24];
        for (k, &p) in candidates.iter().enumerate() {
            let p = p as usize;
            if p >= n {
                continue;
            }
            if p < at_pos {
                (at_pos, at_ref) = (0, 0);
            }
            while at_pos < p {
                at_ref += self.ref_counts[at_pos] as usize;
                at_pos += 1;
            }
            let by_refs = self.refs[at_ref..at_ref + self.ref_counts[p] as usize]
                .iter()
                .any(|&r| {
                    let v = (r & PAYLOAD) as usize;
                    match r >> TAG_SHIFT {
                        TAG_SET => {
                            if sets[v] == 0 {
                                sets[v] = 1 + set_hit(v) as u8;
                            }
                            sets[v] == 2
                        }
                        TAG_TIME => {
                            if times[v] == 0 {
                                let yes = time_chars && {
                                    format_time(self.times[v], &mut buf);
                                    finder.find(&buf).is_some()
                                };
                                times[v] = 1 + yes as u8;
                            }
                            times[v] == 2
                        }
                        _ => bit(&tok, v),
                    }
                });
            hit[k] = by_refs;
            pending += !by_refs as usize;
        }
        // Then the ids of the rest: slot by slot when few are left, else one
        // scan of each whole column.
        let rest = candidates
            .iter()
            .zip(hit.iter_mut())
            .filter(|(p, h)| !**h && (**p as usize) < n);
        if pending.saturating_mul(4) < n {
            for (&p, h) in rest {
                let p = p as usize;
                *h = id_hit(&self.ids, p) || id_hit(&self.resource_ids, p);
            }
        } else {
            let mut ids = vec![0u64; n.div_ceil(64)];
            self.ids.mark(&finder, &mut ids);
            self.resource_ids.mark(&finder, &mut ids);
            for (&p, h) in rest {
                *h = bit(&ids, p as usize);
            }
        }
        candidates
            .iter()
            .zip(hit)
            .filter_map(|(&p, h)| h.then_some(p))
            .collect()
    }

    /// Bits of the timestamps whose text contains the needle. Only needles
    /// made of timestamp characters can match. A needle of digits only lies
    /// within one digit group (year, month, … milliseconds): it is checked
    /// once per distinct day and through tables of the 2- and 3-digit groups,
    /// without formatting each timestamp.
    fn match_times(&self, needle: &str, finder: &memmem::Finder) -> Vec<u64> {
        let mut bits = vec![0u64; self.times.len().div_ceil(64)];
        let nb = needle.as_bytes();
        if !nb.iter().all(|c| b"0123456789-:.tz".contains(c)) {
            return bits;
        }
        let set = |bits: &mut [u64], i: usize| bits[i / 64] |= 1 << (i % 64);
        let mut buf = [0u8; 24];
        let mut day = i64::MIN;
        let mut day_hit = false;
        if nb.iter().all(u8::is_ascii_digit) {
            if nb.len() > 4 {
                // Longer than any digit group.
                return bits;
            }
            let group = |v: usize, w: usize| -> bool {
                let mut s = [0u8; 3];
                let mut v = v;
                for k in (0..w).rev() {
                    s[k] = b'0' + (v % 10) as u8;
                    v /= 10;
                }
                memmem::find(&s[..w], nb).is_some()
            };
            let two: Vec<bool> = (0..100).map(|v| group(v, 2)).collect();
            let three: Vec<bool> = (0..1000).map(|v| group(v, 3)).collect();
            for (i, &t) in self.times.iter().enumerate() {
                let d = t.div_euclid(86_400_000);
                if d != day {
                    day = d;
                    format_time(t, &mut buf);
                    // Year, month and day: the first ten bytes.
                    day_hit = memmem::find(&buf[..10], nb).is_some();
                }
                let rem = t.rem_euclid(86_400_000) as usize;
                let hit = day_hit
                    || two[rem / 3_600_000]
                    || two[rem / 60_000 % 60]
                    || two[rem / 1000 % 60]
                    || three[rem % 1000];
                if hit {
                    set(&mut bits, i);
                }
            }
            return bits;
        }
        for (i, &t) in self.times.iter().enumerate() {
            format_time(t, &mut buf);
            if finder.find(&buf).is_some() {
                set(&mut bits, i);
            }
        }
        bits
    }

    /// Table sizes, for the probe and the benchmark.
    pub fn describe(&self) -> String {
        format!(
            "{} distinct tokens ({} bytes), {} token sets ({} items), {} timestamps, \
             {} refs, id columns {}+{} bytes wide",
            self.dict_starts.len().saturating_sub(1),
            self.dict.len(),
            self.set_starts.len().saturating_sub(1),
            self.set_items.len(),
            self.times.len(),
            self.refs.len(),
            self.ids.width,
            self.resource_ids.width,
        )
    }

    /// Heap bytes held (for the memory figure).
    pub fn heap_bytes(&self) -> usize {
        self.dict.capacity()
            + 4 * (self.dict_starts.capacity()
                + self.set_items.capacity()
                + self.set_starts.capacity()
                + self.refs.capacity())
            + self.ref_counts.capacity()
            + 8 * self.times.capacity()
            + self.ids.bytes.capacity()
            + 4 * self.resource_rank.capacity()
            + self.resource_ids.bytes.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_of_canonical_json() {
        let mut got = Vec::new();
        for_each_token(r#"{"a":1,"b\"c":[true,"x"],"d":{}}"#, |t, s| {
            got.push((t.to_string(), s))
        });
        let want: Vec<(String, bool)> = [
            ("{", false),
            ("a", true),
            (":1,", false),
            ("b\\\"c", true),
            (":[true,", false),
            ("x", true),
            ("],", false),
            ("d", true),
            (":{}}", false),
        ]
        .iter()
        .map(|(t, s)| (t.to_string(), *s))
        .collect();
        assert_eq!(got, want);
        let mut got = Vec::new();
        for_each_token("12.5e3", |t, s| got.push((t.to_string(), s)));
        assert_eq!(got, vec![("12.5e3".to_string(), false)]);
    }

    #[test]
    fn canonical_times_round_trip() {
        for s in [
            "2025-01-06t08:00:07.200z",
            "1970-01-01t00:00:00.000z",
            "2000-02-29t23:59:59.999z",
            "1969-12-31t23:59:59.999z",
        ] {
            let ms = parse_canonical_time(s).unwrap();
            let mut buf = [0u8; 24];
            format_time(ms, &mut buf);
            assert_eq!(&buf[..], s.as_bytes());
            let core = crate::time::Timestamp(ms).to_string().to_lowercase();
            assert_eq!(core, s);
        }
        for s in [
            "2025-02-30t08:00:07.200z",
            "2025-01-06t24:00:07.200z",
            "2025-01-06 08:00:07.200z",
            "2025-01-06t08:00:07.2000",
        ] {
            assert_eq!(parse_canonical_time(s), None, "{s}");
        }
    }
}
