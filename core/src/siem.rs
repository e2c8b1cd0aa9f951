//! SIEM-ready export: one Elastic Common Schema (ECS 8.11) event per line.
//!
//! Our own exports carry the full model and the proofs; a SIEM wants its own
//! schema. ECS is what Elastic ingests as is and what Splunk and Datadog map
//! readily. Fields ECS has no place for go under the custom `abv.*`
//! namespace, so nothing of the entry is lost; `event.hash` carries the leaf
//! hash and `event.sequence` the seq, so every event can be traced back to the
//! sealed archive. The field-by-field mapping is docs/SIEM.md.

use std::io::{BufWriter, Write};

use serde_json::{Map, Value, json};

use crate::archive::{self, Archive, Column, Columns, Scan};
use crate::catalog;
use crate::chain::Hash;
use crate::directory::Directory;
use crate::export::{ExportError, ExportReport};
use crate::filter::Filter;
use crate::job::Job;
use crate::json::Json;
use crate::model::{ActorType, Entry};
use crate::output::{Destination, Output};

pub const ECS_VERSION: &str = "8.11.0";

/// Resource types whose changes are about who may do what (ECS category `iam`).
const IAM_RESOURCES: [&str; 4] = [
    "orgMembership",
    "projectMembership",
    "membershipInvitation",
    "apiKey",
];

/// ECS `event.type` for an action.
fn event_type(action: &str) -> &'static str {
    match action {
        "create" => "creation",
        "delete" => "deletion",
        "update" | "updateTags" | "setLabel" | "promote" | "transfer" => "change",
        _ => "info",
    }
}

/// The ECS event for one entry.
pub fn ecs_event(e: &Entry, seq: u64, leaf: &Hash) -> Value {
    ecs_event_named(e, seq, leaf, None)
}

/// The ECS event for one entry, with the names a directory gives for its
/// ids (docs/INVESTIGATE.md) under `abv.directory` and in `user.full_name`:
/// fields of their own, so that a SIEM never takes a display name for the
/// sealed record's words (`user.email`, `abv.project.name` stay the record's).
pub fn ecs_event_named(e: &Entry, seq: u64, leaf: &Hash, names: Option<&Directory>) -> Value {
    let mut event = ecs_event_fields(e, seq, leaf);
    if let (Some(names), Value::Object(m)) = (names, &mut event) {
        let a = &e.actor;
        let actor = match a.actor_type {
            Some(ActorType::ApiKey) => a.api_key_id.as_deref(),
            _ => a.user_id.as_deref(),
        };
        if let Some(name) = actor.and_then(|id| names.name(id)) {
            insert_path(m, "abv.directory.actor_name", name.into());
            if a.actor_type != Some(ActorType::ApiKey) {
                insert_path(m, "user.full_name", name.into());
            }
        }
        let email = a
            .user_id
            .as_deref()
            .and_then(|id| names.members.get(id))
            .and_then(|member| member.email.as_deref());
        if let (None, Some(email)) = (&a.email, email) {
            insert_path(m, "abv.directory.actor_email", email.into());
        }
        if let Some(name) = e.project_id.as_deref().and_then(|id| names.name(id)) {
            insert_path(m, "abv.directory.project_name", name.into());
        }
    }
    event
}

fn ecs_event_fields(e: &Entry, seq: u64, leaf: &Hash) -> Value {
    let mut m = Map::new();
    let mut put = |path: &str, v: Value| {
        if !v.is_null() {
            insert_path(&mut m, path, v);
        }
    };
    let opt = |s: &Option<String>| s.as_ref().map_or(Value::Null, |s| Value::from(s.as_str()));
    put("@timestamp", e.time.to_string().into());
    put("ecs.version", ECS_VERSION.into());
    put("event.kind", "event".into());
    let category = if IAM_RESOURCES.contains(&e.resource_type.as_str()) {
        "iam"
    } else {
        "configuration"
    };
    put("event.category", json!([category]));
    put("event.type", json!([event_type(&e.action)]));
    put(
        "event.action",
        format!("{}.{}", e.resource_type, e.action).into(),
    );
    put("event.outcome", "success".into());
    put("event.id", e.id.as_str().into());
    put("event.sequence", seq.into());
    put("event.hash", leaf.to_hex().into());
    put("event.dataset", "abv.audit".into());
    put("event.provider", "abv".into());
    let a = &e.actor;
    put(
        "abv.actor.type",
        a.actor_type
            .as_ref()
            .map_or(Value::Null, |t| t.as_str().into()),
    );
    match a.actor_type {
        Some(ActorType::ApiKey) => {
            put("abv.actor.api_key.id", opt(&a.api_key_id));
            put("abv.actor.api_key.name", opt(&a.api_key_name));
            put("abv.actor.api_key.scope", opt(&a.api_key_scope));
            put("abv.actor.api_key.scope_id", opt(&a.api_key_scope_id));
            put(
                "abv.actor.api_key.created_at",
                a.api_key_created_at
                    .map_or(Value::Null, |t| t.to_string().into()),
            );
            put("abv.actor.api_key.created_by", opt(&a.api_key_created_by));
        }
        _ => {
            put("user.id", opt(&a.user_id));
            put("user.email", opt(&a.email));
            let mut roles: Vec<&str> = [&a.org_role, &a.project_role]
                .into_iter()
                .flatten()
                .map(String::as_str)
                .collect();
            roles.dedup();
            if !roles.is_empty() {
                put("user.roles", json!(roles));
            }
            put("abv.actor.org_role", opt(&a.org_role));
            put("abv.actor.project_role", opt(&a.project_role));
            put("abv.actor.auth_method", opt(&a.auth_method));
        }
    }
    put("source.ip", opt(&e.ip_address));
    put("user_agent.original", opt(&e.user_agent));
    put("organization.id", opt(&e.org_id));
    put("organization.name", opt(&e.org_name));
    put("abv.project.id", opt(&e.project_id));
    put("abv.project.name", opt(&e.project_name));
    put("abv.resource.type", e.resource_type.as_str().into());
    put(
        "abv.resource.type_name",
        catalog::display_name(&e.resource_type).into(),
    );
    put("abv.resource.id", e.resource_id.as_str().into());
    put("abv.resource.name", opt(&e.resource_name));
    put("abv.action", e.action.as_str().into());
    let state = |j: &Option<Json>| j.as_ref().map_or(Value::Null, to_value);
    put("abv.before", state(&e.before));
    put("abv.after", state(&e.after));
    put(
        "abv.updated_at",
        e.updated_at.map_or(Value::Null, |t| t.to_string().into()),
    );
    if !e.extra.is_empty() {
        let extra: Map<String, Value> = e
            .extra
            .iter()
            .map(|(k, v)| (k.clone(), to_value(v)))
            .collect();
        put("abv.extra", Value::Object(extra));
    }
    put(
        "message",
        format!(
            "{} {} {} {}",
            a.label(),
            e.action,
            catalog::display_name(&e.resource_type),
            e.resource_label()
        )
        .into(),
    );
    Value::Object(m)
}

/// A state as a JSON value for the SIEM. A number that a 64-bit integer or a
/// double cannot hold exactly is written as its exact text (a string) rather
/// than rounded: evidence is not altered on its way out.
fn to_value(j: &Json) -> Value {
    match j {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(text) => {
            let exact = |v: &Value| v.to_string().as_str() == text.as_str();
            [
                text.parse::<i64>().ok().map(Value::from),
                text.parse::<u64>().ok().map(Value::from),
                text.parse::<f64>()
                    .ok()
                    .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number)),
            ]
            .into_iter()
            .flatten()
            .find(exact)
            .unwrap_or_else(|| Value::String(text.clone()))
        }
        Json::String(s) => Value::String(s.clone()),
        Json::Array(items) => Value::Array(items.iter().map(to_value).collect()),
        Json::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), to_value(v))).collect()),
    }
}

/// Sets `a.b.c` in nested objects.
fn insert_path(m: &mut Map<String, Value>, path: &str, v: Value) {
    match path.split_once('.') {
        Some((head, rest)) if head != "@timestamp" => {
            let child = m
                .entry(head.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(c) = child {
                insert_path(c, rest, v);
            }
        }
        _ => {
            m.insert(path.to_string(), v);
        }
    }
}

/// Writes the entries matching `filter` (and `only`, when given) as ECS
/// NDJSON, through the one output path (never over evidence or the archive).
pub fn export_ecs(
    archive: &Archive,
    filter: &Filter,
    only: Option<&[u64]>,
    names: Option<&Directory>,
    out: &Destination,
    job: &Job,
) -> Result<ExportReport, ExportError> {
    let mut output = Output::reading(&[archive.path()]);
    let slot = output.add(out)?;
    let file = output.create(slot)?;
    let out = out.path.as_path();
    let io = |e: std::io::Error| ExportError::Io(format!("{}: {e}", out.display()));
    let mut w = BufWriter::with_capacity(1 << 20, file);
    archive.read_streaming()?;
    let only: Option<std::collections::HashSet<u64>> = only.map(|s| s.iter().copied().collect());
    let scan = Scan::all(Columns::of(&[Column::Record, Column::LeafHash])).prefilter(filter);
    let mut cursor = archive.open_scan(&scan)?;
    let mut rows = cursor.rows()?;
    job.start_phase("exporting", archive.seq_span()?);
    let (mut seen, mut count) = (0u64, 0u64);
    while let Some(r) = rows.next()? {
        seen += 1;
        if seen.is_multiple_of(4096) {
            job.check().map_err(|_| ExportError::Cancelled)?;
            job.set_done(seen);
        }
        let seq = r.seq();
        if only.as_ref().is_some_and(|s| !s.contains(&seq)) {
            continue;
        }
        let e = archive::parse_record(r.record())
            .map_err(|m| ExportError::Io(format!("entry {seq}: {m}; run `auditlens verify`")))?;
        if !filter.matches(&e) {
            continue;
        }
        let leaf = r.leaf_hash();
        serde_json::to_writer(&mut w, &ecs_event_named(&e, seq, &leaf, names))
            .map_err(|e| io(e.into()))?;
        w.write_all(b"\n").map_err(io)?;
        count += 1;
    }
    w.flush().map_err(io)?;
    drop(w);
    job.check().map_err(|_| ExportError::Cancelled)?;
    output.commit()?;
    Ok(ExportReport {
        entries: count,
        path: out.to_path_buf(),
        complete: None,
    })
}
