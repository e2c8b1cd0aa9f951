//! Property tests (proptest) of the three promises the format rests on:
//!
//! 1. the canonical record is one-to-one and reads back exactly
//!    (parse ∘ canonical = identity), whatever the entry holds: any Unicode
//!    (astral, control, bidi), numbers far beyond 2^64 with long fractions and
//!    exponents, every JSON type in before/after/extra, nesting close to
//!    [`json::MAX_DEPTH`];
//! 2. export → ingest is lossless for JSON, NDJSON and CSV, and each export
//!    verifies on its own;
//! 3. one [`Filter`] gives one answer: in memory ([`Filter::matches`]), through
//!    the archive (`Scan::prefilter` + `matches`, as `export` runs it) and through the
//!    viewer's index (`candidates` + `refine_with_records`).
//!
//! Case counts are modest so that the file runs in well under a minute in a
//! debug build; `PROPTEST_CASES=N` raises them for a longer hunt.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use auditlens_core::archive::{self, Archive};
use auditlens_core::export::{ExportFormat, export};
use auditlens_core::filter::Filter;
use auditlens_core::ingest::{IngestOptions, ingest};
use auditlens_core::job::Job;
use auditlens_core::json::{self, Json, MAX_DEPTH};
use auditlens_core::model::{Actor, ActorType, Entry};
use auditlens_core::row_index::{self as index, Index};
use auditlens_core::time::Timestamp;
use auditlens_core::verify::{Status, verify_file};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::select;

/// `PROPTEST_CASES` if set, else `n`.
fn cases(n: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n)
}

// ---------------------------------------------------------------- generators

/// Characters that break naive writers and readers, weighted in among any char.
const NASTY: &[char] = &[
    '\0',
    '\u{1}',
    '\u{8}',
    '\t',
    '\n',
    '\u{b}',
    '\u{c}',
    '\r',
    '\u{1b}',
    '\u{1f}',
    ' ',
    '"',
    '\'',
    ',',
    '/',
    '\\',
    '=',
    '+',
    '-',
    '@',
    '\u{7f}',
    '\u{80}',
    '\u{9f}',
    '\u{a0}',
    '\u{ad}',
    '\u{200b}',
    '\u{200d}',
    '\u{2028}',
    '\u{2029}',
    '\u{202a}',
    '\u{202e}',
    '\u{2066}',
    '\u{2069}',
    '\u{feff}',
    '\u{fffd}',
    '\u{ffff}',
    'é',
    'K',
    '\u{212a}',
    'İ',
    'ß',
    '😀',
    '\u{1f3f3}',
    '\u{10ffff}',
];

fn any_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range('a', 'z'),
        2 => select(NASTY),
        2 => any::<char>(),
    ]
}

/// Any text, including empty, control and astral characters.
fn text() -> impl Strategy<Value = String> {
    vec(any_char(), 0..10).prop_map(|v| v.into_iter().collect())
}

/// A JSON number lexeme: big integers (far beyond 2^64), long fractions,
/// exponents with and without sign, upper and lower case `e`.
fn number() -> impl Strategy<Value = String> {
    "-?(0|[1-9][0-9]{0,45})(\\.[0-9]{1,40})?([eE][+-]?[0-9]{1,6})?"
}

fn leaf() -> impl Strategy<Value = Json> {
    prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        number().prop_map(Json::Number),
        text().prop_map(Json::String),
    ]
}

fn tree() -> impl Strategy<Value = Json> {
    leaf().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Json::Array),
            btree_map(text(), inner, 0..4).prop_map(Json::Object),
        ]
    })
}

/// A value nested `levels` containers deep (arrays and objects as `kinds` says).
fn nest(inner: Json, kinds: &[bool]) -> Json {
    kinds.iter().fold(inner, |v, &is_array| {
        if is_array {
            Json::Array(vec![v])
        } else {
            Json::Object(BTreeMap::from([("k".to_string(), v)]))
        }
    })
}

/// A state nested `max - 8 ..= max` containers deep.
fn deep(max: usize) -> impl Strategy<Value = Json> {
    (leaf(), vec(any::<bool>(), max.saturating_sub(8)..=max)).prop_map(|(l, kinds)| nest(l, &kinds))
}

/// Any JSON value for a state: mostly small trees, sometimes deep ones.
/// `max_depth` is the deepest nesting a state may have.
fn state(max_depth: usize) -> impl Strategy<Value = Json> {
    prop_oneof![8 => tree(), 1 => deep(max_depth)]
}

/// Any time auditlens can write: years 0000 to 9999, to the millisecond.
fn time() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        (-62_167_219_200_000i64..=253_402_300_799_999).prop_map(Timestamp),
        // Around now, where real data lives.
        (1_600_000_000_000i64..1_800_000_000_000).prop_map(Timestamp),
    ]
}

fn actor_type() -> impl Strategy<Value = ActorType> {
    prop_oneof![
        Just(ActorType::User),
        Just(ActorType::ApiKey),
        text().prop_map(|t| ActorType::parse(&t)),
    ]
}

/// Texts drawn from a small pool (so that filters hit) or made up.
fn word(pool: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![3 => select(pool).prop_map(str::to_string), 1 => text()]
}

const IDS: &[&str] = &["u1", "U1", "émile", "ÉMILE", "K", "\u{212a}", "key-1", ""];
const EMAILS: &[&str] = &["a@x.org", "A@X.ORG", "émile@x.org", "=cmd|x", ""];
const PROJECTS: &[&str] = &["p1", "P1", "p2", "support bot", ""];
const ACTIONS: &[&str] = &["create", "Create", "update", "delete", "setLabel", ""];
const RESOURCE_TYPES: &[&str] = &[
    "apiKey",
    "prompt",
    "promptProtectedLabel",
    "membership",
    "API Key",
    "unknownThing",
];

fn opt<S: Strategy>(s: S) -> impl Strategy<Value = Option<S::Value>> {
    proptest::option::weighted(0.6, s)
}

/// Any entry. `max_depth` bounds the nesting of before/after/extra values.
fn entry(max_depth: usize) -> impl Strategy<Value = Entry> {
    let actor = (
        opt(actor_type()),
        (opt(word(IDS)), opt(word(EMAILS)), opt(text()), opt(text())),
        (opt(text()), opt(word(IDS)), opt(word(IDS))),
        (opt(text()), opt(text()), opt(time()), opt(text())),
    )
        .prop_map(
            |(
                actor_type,
                (user_id, email, org_role, project_role),
                (auth_method, api_key_id, api_key_name),
                (api_key_scope, api_key_scope_id, api_key_created_at, api_key_created_by),
            )| Actor {
                actor_type,
                user_id,
                email,
                org_role,
                project_role,
                auth_method,
                api_key_id,
                api_key_name,
                api_key_scope,
                api_key_scope_id,
                api_key_created_at,
                api_key_created_by,
            },
        );
    (
        (text(), time(), opt(time()), actor),
        (word(RESOURCE_TYPES), text(), opt(text()), word(ACTIONS)),
        (
            opt(state(max_depth)),
            opt(state(max_depth)),
            btree_map(text(), state(max_depth - 1), 0..3),
        ),
        (
            opt(text()),
            opt(text()),
            opt(word(PROJECTS)),
            opt(word(PROJECTS)),
        ),
        (opt(text()), opt(text())),
    )
        .prop_map(
            |(
                (id, time, updated_at, actor),
                (resource_type, resource_id, resource_name, action),
                (before, after, extra),
                (org_id, org_name, project_id, project_name),
                (ip_address, user_agent),
            )| Entry {
                id,
                time,
                updated_at,
                actor,
                resource_type,
                resource_id,
                resource_name,
                action,
                before,
                after,
                org_id,
                org_name,
                project_id,
                project_name,
                ip_address,
                user_agent,
                extra,
            },
        )
}

/// The deepest state nesting that every format can carry: a JSON export puts
/// a state three levels down (export object, `entries` array, entry object),
/// and `extra` values one more.
const STATE_DEPTH: usize = MAX_DEPTH - 3;

/// 1..=n entries with distinct ids, as ingest would order them (time, then id).
fn entries(n: usize) -> impl Strategy<Value = Vec<Entry>> {
    vec(entry(STATE_DEPTH), 1..=n).prop_map(|mut v| {
        for (i, e) in v.iter_mut().enumerate() {
            e.id = format!("{i}{}", e.id);
        }
        v.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
        v
    })
}

// ------------------------------------------------------------ archive helpers

/// Writes `entries` as an auditlens NDJSON export (chain fields are
/// placeholders: ingest takes the entries and seals them afresh) and ingests
/// it with the real ingest, so the archive is what a user's would be.
fn archive_of(dir: &Path, name: &str, entries: &[Entry]) -> PathBuf {
    let src = dir.join(format!("{name}.src.ndjson"));
    let mut text = String::from(
        "{\"auditlens_export\":{\"version\":1,\"archive_id\":\"00000000000000000000000000000000\"}}\n",
    );
    let zero = "0".repeat(64);
    for (i, e) in entries.iter().enumerate() {
        let record = e.canonical_record();
        text.push_str(&format!(
            "{{\"seq\":{},\"leaf_hash\":\"{zero}\",{}\n",
            i + 1,
            &record[1..]
        ));
    }
    text.push_str(&format!(
        "{{\"auditlens_export_end\":{{\"count\":{}}}}}\n",
        entries.len()
    ));
    std::fs::write(&src, text).unwrap();
    let path = dir.join(format!("{name}.sqlite"));
    let r = ingest(&path, &[src], &IngestOptions::default(), &Job::new())
        .unwrap_or_else(|e| panic!("ingest of generated entries failed: {e}"));
    assert_eq!(r.added, entries.len() as u64);
    path
}

/// The stored records, in seq order.
fn records(path: &Path) -> Vec<String> {
    let a = Archive::open(path).unwrap();
    let mut records = Vec::new();
    a.for_each_record(|_, r| records.push(String::from_utf8(r.to_vec()).unwrap()))
        .unwrap();
    records
}

// ------------------------------------------------------------------- 1. canonical

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(512)))]

    /// parse ∘ canonical = identity on JSON values, and canonical is a fixed point.
    #[test]
    fn canonical_json_round_trips(v in state(MAX_DEPTH)) {
        let text = v.to_canonical();
        let back = json::parse(text.as_bytes())
            .unwrap_or_else(|e| panic!("canonical text does not parse: {e}\n{text}"));
        prop_assert_eq!(&back, &v);
        prop_assert_eq!(back.to_canonical(), text);
    }

    /// Reading a record and writing it again gives the same entry and the same bytes.
    /// Since `parse_record(canonical(e)) == e` for every e, two entries with the
    /// same record bytes are the same entry: the map is one-to-one.
    #[test]
    fn canonical_record_round_trips(e in entry(STATE_DEPTH)) {
        let record = e.canonical_record();
        let back = archive::parse_record(record.as_bytes())
            .unwrap_or_else(|m| panic!("canonical record does not read back: {m}\n{record}"));
        prop_assert_eq!(&back, &e);
        prop_assert_eq!(back.canonical_record(), record);
    }

    /// Near-collisions (absent vs empty vs null, "1" vs 1 vs 1.0, a field moved
    /// into extra) never share record bytes.
    #[test]
    fn canonical_record_is_injective_on_near_collisions(
        e in entry(8),
        which in 0usize..8,
        t in text(),
    ) {
        let mut f = e.clone();
        match which {
            0 => f.resource_name = match &e.resource_name { None => Some(String::new()), Some(_) => None },
            1 => f.before = match &e.before { None => Some(Json::Null), Some(Json::Null) => None, Some(_) => Some(Json::Null) },
            2 => f.after = Some(match &e.after {
                Some(Json::Number(n)) => Json::String(n.clone()),
                Some(Json::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && !s.starts_with('0') => Json::Number(s.clone()),
                _ => Json::Number("1.0".into()),
            }),
            3 => f.after = Some(Json::Number(match &e.after { Some(Json::Number(n)) if n == "1" => "1.0".into(), _ => "1".into() })),
            4 => { f.extra.insert("org_name".into(), Json::String(t.clone())); }
            5 => f.actor.actor_type = match &e.actor.actor_type { None => Some(ActorType::parse(&t)), Some(_) => None },
            6 => f.id.push_str(&t),
            _ => f.user_agent = Some(format!("{}{t}", e.user_agent.clone().unwrap_or_default())),
        }
        prop_assert_eq!(e == f, e.canonical_record() == f.canonical_record());
    }
}

// ------------------------------------------------------- 2. export → ingest

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(24)))]

    /// Every export format verifies on its own and ingests back to the same
    /// entries, record for record (the new archive's records are byte-identical).
    #[test]
    fn export_then_ingest_is_lossless(es in entries(6)) {
        let dir = tempfile::tempdir().unwrap();
        let a = archive_of(dir.path(), "a", &es);
        let report = verify_file(&a, None, &Job::new()).unwrap();
        prop_assert_eq!(report.status(), Status::Intact, "{:?}", report.findings);
        let want = records(&a);
        prop_assert_eq!(common::entries_of(&a), es.clone());
        let archive = Archive::open(&a).unwrap();
        for format in [ExportFormat::Json, ExportFormat::Ndjson, ExportFormat::Csv] {
            let out = dir.path().join(format!("out.{}", format.extension()));
            let r = export(&archive, &Filter::default(), format, &out, &Job::new())
                .unwrap_or_else(|e| panic!("{format:?} export failed: {e}"));
            prop_assert_eq!(r.entries, es.len() as u64);
            let report = verify_file(&out, None, &Job::new())
                .unwrap_or_else(|e| panic!("{format:?} export does not verify: {e}"));
            prop_assert_eq!(report.status(), Status::Intact, "{:?}: {:?}", format, report.findings);
            let b = dir.path().join(format!("b-{}.sqlite", format.extension()));
            ingest(&b, &[out], &IngestOptions::default(), &Job::new())
                .unwrap_or_else(|e| panic!("{format:?} export does not ingest back: {e}"));
            prop_assert_eq!(&records(&b), &want, "{:?}", format);
        }
    }
}

// ------------------------------------------------------------- 3. one filter

fn filter() -> impl Strategy<Value = Filter> {
    let time = || opt(1_600_000_000_000i64..1_800_000_000_000).prop_map(|t| t.map(Timestamp));
    (
        (time(), time()),
        vec(word(PROJECTS), 0..3),
        vec(word(ACTIONS), 0..3),
        vec(word(RESOURCE_TYPES), 0..3),
        opt(prop_oneof![word(IDS), word(EMAILS)]),
        opt(actor_type()),
        opt(prop_oneof![
            select(
                &[
                    "u1", "é", "É", "k", "\u{212a}", "p", "1", "\"", "a@", "create", ":", " "
                ][..]
            )
            .prop_map(str::to_string),
            text()
        ]),
    )
        .prop_map(
            |((from, to), projects, actions, resource_types, actor, actor_type, search)| Filter {
                from,
                to,
                projects,
                actions,
                resource_types,
                actor,
                actor_type,
                search,
            },
        )
}

/// Entries whose times fall where the filters look.
fn filter_entries() -> impl Strategy<Value = Vec<Entry>> {
    vec((entry(4), 1_600_000_000_000i64..1_800_000_000_000), 1..=12).prop_map(|v| {
        let mut es: Vec<Entry> = v
            .into_iter()
            .enumerate()
            .map(|(i, (mut e, t))| {
                e.id = format!("{i}{}", e.id);
                e.time = Timestamp(t);
                e
            })
            .collect();
        es.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
        es
    })
}

/// The seqs an NDJSON export with `f` holds: the scan's prefilter plus `matches`.
fn exported_seqs(archive: &Archive, f: &Filter, out: &Path) -> Vec<u64> {
    export(archive, f, ExportFormat::Ndjson, out, &Job::new()).unwrap();
    let text = std::fs::read_to_string(out).unwrap();
    text.lines()
        .filter_map(|l| json::parse(l.as_bytes()).ok())
        .filter_map(|j| j.get("seq").and_then(Json::as_str_number))
        .collect()
}

/// The seqs the viewer shows for `f`: its index, then the records where needed.
fn viewer_seqs(ix: &Index, path: &Path, f: &Filter) -> Vec<u64> {
    let mut v = ix.candidates(f);
    if index::needs_records(f) {
        v = index::refine_with_records(ix, path, &v, f, &Job::new()).unwrap();
    }
    v.into_iter().map(|p| ix.seq(p as usize)).collect()
}

trait AsNumber {
    fn as_str_number(&self) -> Option<u64>;
}

impl AsNumber for Json {
    fn as_str_number(&self) -> Option<u64> {
        match self {
            Json::Number(n) => n.parse().ok(),
            _ => None,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(24)))]

    #[test]
    fn one_filter_one_answer_in_memory_sql_and_viewer(
        es in filter_entries(),
        filters in vec(filter(), 12),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = archive_of(dir.path(), "a", &es);
        let archive = Archive::open(&path).unwrap();
        let ix = Index::load(&path, &Job::new()).unwrap();
        for (k, f) in filters.iter().enumerate() {
            let want: Vec<u64> = es
                .iter()
                .enumerate()
                .filter(|(_, e)| f.matches(e))
                .map(|(i, _)| i as u64 + 1)
                .collect();
            let out = dir.path().join(format!("f{k}.ndjson"));
            prop_assert_eq!(&exported_seqs(&archive, f, &out), &want, "export, filter {:?}", f);
            prop_assert_eq!(&viewer_seqs(&ix, &path, f), &want, "viewer, filter {:?}", f);
        }
    }
}

// ------------------------------------- 2b. what ingest accepts, it can give back

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(16)))]

    /// A platform row whose states are nested up to the parser's limit is
    /// either refused at ingest with a clear error, or stored so that the
    /// archive verifies and every export of it reads back: never accepted and
    /// then reported as damaged or unreadable.
    #[test]
    fn deep_states_are_refused_or_kept_readable(
        mut e in entry(4),
        before in deep(MAX_DEPTH),
        extra in deep(MAX_DEPTH - 1),
    ) {
        e.id = format!("id{}", e.id);
        e.before = Some(before);
        e.extra = BTreeMap::from([("x_deep".to_string(), extra)]);
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("rows.jsonl");
        common::write_platform_jsonl(&src, std::slice::from_ref(&e));
        let a = dir.path().join("a.sqlite");
        match ingest(&a, &[src], &IngestOptions::default(), &Job::new()) {
            Err(err) => {
                let msg = err.to_string();
                prop_assert!(msg.contains("nested") && msg.contains("levels"), "{}", msg);
                prop_assert!(!a.exists());
            }
            Ok(_) => {
                let report = verify_file(&a, None, &Job::new()).unwrap();
                prop_assert_eq!(report.status(), Status::Intact, "{:?}", report.findings);
                let archive = Archive::open(&a).unwrap();
                for format in [ExportFormat::Json, ExportFormat::Ndjson, ExportFormat::Csv] {
                    let out = dir.path().join(format!("out.{}", format.extension()));
                    export(&archive, &Filter::default(), format, &out, &Job::new()).unwrap();
                    let b = dir.path().join(format!("b-{}.sqlite", format.extension()));
                    let r = ingest(&b, &[out], &IngestOptions::default(), &Job::new());
                    prop_assert!(r.is_ok(), "{:?}: {}", format, r.unwrap_err());
                    prop_assert_eq!(records(&b), records(&a));
                }
            }
        }
    }
}

// --------------------------------------------------------------- times

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(2048)))]

    /// Every time the readers accept is written in a form that reads back to
    /// the same instant (the record's time must parse at verification).
    #[test]
    fn accepted_times_write_back_canonically(
        s in "[+-]?[0-9]{4,6}-[01][0-9]-[0-3][0-9][T ][0-2][0-9]:[0-5][0-9]:[0-6][0-9](\\.[0-9]{1,9})?(Z|[+-][01][0-9]:[0-5][0-9]|\\+00)?",
    ) {
        if let Ok(t) = Timestamp::parse(&s) {
            let text = t.to_string();
            prop_assert_eq!(text.len(), 24, "{} -> {}", s, text);
            prop_assert_eq!(Timestamp::parse(&text), Ok(t), "{} -> {}", s, text);
        }
    }
}
