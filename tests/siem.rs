//! The ECS mapping of docs/SIEM.md, field by field.

mod common;

use auditlens_core::chain::Hash;
use auditlens_core::json;
use auditlens_core::model::{Actor, ActorType, Entry};
use auditlens_core::siem::ecs_event;
use auditlens_core::time::Timestamp;
use common::*;
use serde_json::{Value, json};

fn full_user_entry() -> Entry {
    let mut e = Entry::new(
        "cabc123",
        Timestamp::parse("2025-03-14T09:21:07.412Z").unwrap(),
        "projectMembership",
        "m-1",
        "update",
    );
    e.updated_at = Some(Timestamp::parse("2025-03-14T09:21:08.000Z").unwrap());
    e.actor = Actor {
        actor_type: Some(ActorType::User),
        user_id: Some("u-1".into()),
        email: Some("ann@x.example".into()),
        org_role: Some("OWNER".into()),
        project_role: Some("ADMIN".into()),
        auth_method: Some("sso".into()),
        ..Actor::default()
    };
    e.resource_name = Some("ann in prod".into());
    e.before =
        Some(json::parse(br#"{"role":"VIEWER","n":123456789012345678901234567890}"#).unwrap());
    e.after = Some(json::parse(br#"{"role":"OWNER","n":1.5}"#).unwrap());
    e.org_id = Some("o-1".into());
    e.org_name = Some("Acme".into());
    e.project_id = Some("p-1".into());
    e.project_name = Some("prod".into());
    e.ip_address = Some("198.51.100.7".into());
    e.user_agent = Some("curl/8".into());
    e.extra
        .insert("newField".into(), json::parse(br#"[1,"two"]"#).unwrap());
    e
}

fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| &v[k])
}

#[test]
fn user_entry_maps_field_by_field() {
    let leaf = Hash([0xab; 32]);
    let v = ecs_event(&full_user_entry(), 42, &leaf);
    let expect: &[(&str, Value)] = &[
        ("ecs.version", json!("8.11.0")),
        ("event.kind", json!("event")),
        ("event.category", json!(["iam"])),
        ("event.type", json!(["change"])),
        ("event.action", json!("projectMembership.update")),
        ("event.outcome", json!("success")),
        ("event.id", json!("cabc123")),
        ("event.sequence", json!(42)),
        ("event.hash", json!("ab".repeat(32))),
        ("event.dataset", json!("abv.audit")),
        ("event.provider", json!("abv")),
        ("user.id", json!("u-1")),
        ("user.email", json!("ann@x.example")),
        ("user.roles", json!(["OWNER", "ADMIN"])),
        ("source.ip", json!("198.51.100.7")),
        ("user_agent.original", json!("curl/8")),
        ("organization.id", json!("o-1")),
        ("organization.name", json!("Acme")),
        ("abv.actor.type", json!("USER")),
        ("abv.actor.org_role", json!("OWNER")),
        ("abv.actor.project_role", json!("ADMIN")),
        ("abv.actor.auth_method", json!("sso")),
        ("abv.project.id", json!("p-1")),
        ("abv.project.name", json!("prod")),
        ("abv.resource.type", json!("projectMembership")),
        ("abv.resource.type_name", json!("Project Membership")),
        ("abv.resource.id", json!("m-1")),
        ("abv.resource.name", json!("ann in prod")),
        ("abv.action", json!("update")),
        // A number beyond 64 bits keeps its exact digits, as text.
        (
            "abv.before",
            json!({"n": "123456789012345678901234567890", "role": "VIEWER"}),
        ),
        ("abv.after", json!({"n": 1.5, "role": "OWNER"})),
        ("abv.updated_at", json!("2025-03-14T09:21:08.000Z")),
        ("abv.extra", json!({"newField": [1, "two"]})),
        (
            "message",
            json!("ann@x.example update Project Membership ann in prod"),
        ),
    ];
    assert_eq!(v["@timestamp"], json!("2025-03-14T09:21:07.412Z"));
    for (path, want) in expect {
        assert_eq!(at(&v, path), want, "{path}");
    }
    assert!(v.get("abv").unwrap()["actor"].get("api_key").is_none());
}

#[test]
fn api_key_entry_maps_the_key_and_leaves_user_out() {
    let mut e = Entry::new(
        "ck",
        Timestamp::parse("2025-03-14T09:21:07.412Z").unwrap(),
        "trace",
        "t-1",
        "delete",
    );
    e.actor = Actor {
        actor_type: Some(ActorType::ApiKey),
        api_key_id: Some("k-1".into()),
        api_key_name: Some("prod-ingest".into()),
        api_key_scope: Some("PROJECT".into()),
        api_key_scope_id: Some("p-1".into()),
        api_key_created_at: Some(Timestamp::parse("2024-12-07T00:00:00.000Z").unwrap()),
        api_key_created_by: Some("u-9".into()),
        ..Actor::default()
    };
    let v = ecs_event(&e, 7, &Hash::default());
    assert_eq!(at(&v, "event.category"), &json!(["configuration"]));
    assert_eq!(at(&v, "event.type"), &json!(["deletion"]));
    assert_eq!(at(&v, "abv.actor.type"), &json!("API_KEY"));
    assert_eq!(at(&v, "abv.actor.api_key.id"), &json!("k-1"));
    assert_eq!(at(&v, "abv.actor.api_key.name"), &json!("prod-ingest"));
    assert_eq!(at(&v, "abv.actor.api_key.scope"), &json!("PROJECT"));
    assert_eq!(at(&v, "abv.actor.api_key.scope_id"), &json!("p-1"));
    assert_eq!(
        at(&v, "abv.actor.api_key.created_at"),
        &json!("2024-12-07T00:00:00.000Z")
    );
    assert_eq!(at(&v, "abv.actor.api_key.created_by"), &json!("u-9"));
    assert!(v.get("user").is_none());
    // Absent fields are left out, not null.
    for absent in ["source", "organization", "user_agent"] {
        assert!(v.get(absent).is_none(), "{absent}");
    }
    assert!(v["abv"].get("project").is_none());
    assert!(v["abv"].get("before").is_none());
    assert_eq!(at(&v, "message"), &json!("prod-ingest delete Trace t-1"));
}

#[test]
fn ecs_export_writes_exactly_the_filtered_entries_with_their_seq_and_leaf_hash() {
    let dir = tempfile::tempdir().unwrap();
    let archive = build_archive(dir.path(), "a", 300);
    let out = dir.path().join("out.ndjson");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_auditlens"))
        .args(["export", "--format", "ecs", "--action", "delete", "-o"])
        .arg(&out)
        .arg(&archive)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let conn = rusqlite::Connection::open(&archive).unwrap();
    let mut want: Vec<(u64, String)> = Vec::new();
    for (i, e) in entries_of(&archive).iter().enumerate() {
        if e.action == "delete" {
            let row = read_row(&conn, i as u64 + 1);
            want.push((i as u64 + 1, auditlens_core::chain::to_hex(&row.leaf)));
        }
    }
    let got: Vec<(u64, String)> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["abv"]["action"], "delete");
            (
                v["event"]["sequence"].as_u64().unwrap(),
                v["event"]["hash"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(!want.is_empty());
    assert_eq!(got, want);
}

/// Names from a directory go into fields of their own; the record's own
/// words stay where they were, and an id the directory does not know stays
/// without a name.
#[test]
fn names_from_a_directory_go_into_their_own_fields() {
    let dir = tempfile::tempdir().unwrap();
    let people = dir.path().join("people.csv");
    std::fs::write(
        &people,
        "kind,id,name,email\nmember,u-1,Ann Example,ann@directory.example\nproject,p-1,Checkout,\n",
    )
    .unwrap();
    let names = auditlens_core::directory::Directory::load(&people).unwrap();
    let e = full_user_entry();
    let v = auditlens_core::siem::ecs_event_named(&e, 42, &Hash::default(), Some(&names));
    assert_eq!(at(&v, "user.full_name"), "Ann Example");
    assert_eq!(at(&v, "abv.directory.actor_name"), "Ann Example");
    assert_eq!(at(&v, "abv.directory.project_name"), "Checkout");
    // The record carries an email: it stays the record's, and no directory email is added.
    assert_eq!(at(&v, "user.email"), "ann@x.example");
    assert!(at(&v, "abv.directory.actor_email").is_null());
    assert_eq!(at(&v, "abv.project.name"), "prod");
    // Near miss: without a directory, or for an id it does not know, no name field at all.
    let plain = ecs_event(&e, 42, &Hash::default());
    assert!(at(&plain, "abv.directory").is_null());
    let mut stranger = e.clone();
    stranger.actor.user_id = Some("u-9".into());
    stranger.actor.email = None;
    let v = auditlens_core::siem::ecs_event_named(&stranger, 42, &Hash::default(), Some(&names));
    assert!(at(&v, "user.full_name").is_null());
    assert!(at(&v, "abv.directory.actor_name").is_null());
    assert!(at(&v, "abv.directory.actor_email").is_null());

    // Through the command line: names in the ECS export; refused for a verifiable export.
    let archive = build_archive(dir.path(), "a", 50);
    let csv = dir.path().join("out.csv");
    let o = run([
        "export",
        "--format",
        "csv",
        "--directory",
        people.to_str().unwrap(),
        "-o",
        csv.to_str().unwrap(),
        archive.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("applies to ECS exports"), "{}", o.stderr);
    assert!(!csv.exists());
}
