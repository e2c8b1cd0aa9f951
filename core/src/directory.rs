//! People, API keys and projects by name. The platform's audit-log export
//! carries ids only (cuids), so an investigator loads a directory exported
//! from the platform (members: user id, email, name; API keys: id, name;
//! projects: id, name) and the viewer, the report and the CLI show names
//! beside the ids.
//!
//! Display only: a directory never changes a sealed record, a hash, a
//! filter's meaning or an export's content. It is remembered in a sidecar
//! next to the archive's case file (`ARCHIVE.directory.json`), written
//! through the one output path. Unknown ids stay ids. Names are untrusted
//! text like every other field: whoever shows them escapes them
//! ([`crate::safe_text`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::output::{Destination, Output};

/// The sidecar's suffix: `A.sqlite` → `A.sqlite.directory.json`.
pub const DIRECTORY_SUFFIX: &str = ".directory.json";
/// The sidecar's marker key.
pub const DIRECTORY_KEY: &str = "auditlens_directory";
/// Largest directory file read (a large organisation's members fit many times over).
pub const MAX_DIRECTORY_BYTES: u64 = 64 * 1024 * 1024;

/// A member of the organisation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Member {
    pub email: Option<String>,
    pub name: Option<String>,
}

/// Names by id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Directory {
    pub members: BTreeMap<String, Member>,
    pub api_keys: BTreeMap<String, String>,
    pub projects: BTreeMap<String, String>,
}

/// Where the directory of an archive is remembered.
pub fn sidecar_path(archive: &Path) -> PathBuf {
    let mut p = archive.as_os_str().to_owned();
    p.push(DIRECTORY_SUFFIX);
    PathBuf::from(p)
}

fn nonempty(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A column or key name reduced for matching: `userId`, `user_id`, `User ID` → `userid`.
fn norm(k: &str) -> String {
    k.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Member,
    ApiKey,
    Project,
}

impl Kind {
    fn parse(s: &str) -> Option<Kind> {
        match norm(s).as_str() {
            "member" | "members" | "user" | "users" => Some(Kind::Member),
            "apikey" | "apikeys" | "key" | "keys" => Some(Kind::ApiKey),
            "project" | "projects" => Some(Kind::Project),
            _ => None,
        }
    }
}

impl Directory {
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.api_keys.is_empty() && self.projects.is_empty()
    }

    /// How much it holds, for a status line.
    pub fn summary(&self) -> String {
        format!(
            "{} members, {} API keys, {} projects",
            self.members.len(),
            self.api_keys.len(),
            self.projects.len()
        )
    }

    /// The name of a user, API key or project id; `None` for an unknown id.
    /// A member without a name is known by the email.
    pub fn name(&self, id: &str) -> Option<&str> {
        if let Some(m) = self.members.get(id) {
            return m.name.as_deref().or(m.email.as_deref());
        }
        self.api_keys
            .get(id)
            .or_else(|| self.projects.get(id))
            .map(String::as_str)
    }

    /// The ids of the people and API keys this name (or email) belongs to,
    /// case-insensitive: the filter matches ids, so a typed name is offered
    /// as the id it stands for, never silently turned into it.
    pub fn people_named(&self, name: &str) -> Vec<&str> {
        let name = name.trim();
        if name.is_empty() {
            return Vec::new();
        }
        let is = |v: &Option<String>| v.as_deref().is_some_and(|v| v.eq_ignore_ascii_case(name));
        self.members
            .iter()
            .filter(|(_, m)| is(&m.name) || is(&m.email))
            .map(|(id, _)| id.as_str())
            .chain(
                self.api_keys
                    .iter()
                    .filter(|(_, n)| n.eq_ignore_ascii_case(name))
                    .map(|(id, _)| id.as_str()),
            )
            .collect()
    }

    /// `label` with the directory's name for `id` beside it when the label
    /// is the bare id (an export without emails or key names): "Ada (c30j…)".
    /// Any other label is kept (the record's own words come first).
    pub fn readable(&self, label: &str, id: &str) -> String {
        match self.name(id) {
            Some(n) if label.is_empty() || label == id => format!("{n} ({id})"),
            _ => label.to_string(),
        }
    }

    fn add(&mut self, kind: Kind, id: String, name: Option<String>, email: Option<String>) {
        match kind {
            Kind::Member => {
                let m = self.members.entry(id).or_default();
                m.name = name.or(m.name.take());
                m.email = email.or(m.email.take());
            }
            Kind::ApiKey => {
                if let Some(n) = name {
                    self.api_keys.insert(id, n);
                }
            }
            Kind::Project => {
                if let Some(n) = name {
                    self.projects.insert(id, n);
                }
            }
        }
    }

    /// Reads a directory: JSON (an object with `members`, `apiKeys` and
    /// `projects` lists, or a list of rows) or CSV (one row per member, key
    /// or project; the kind comes from a `kind` column or from the columns'
    /// names). The error says what the file lacks and how to fix it.
    pub fn load(path: &Path) -> Result<Directory, String> {
        let shown = path.display();
        let bytes = crate::small_file::read(path, MAX_DIRECTORY_BYTES).map_err(|e| match e {
            crate::small_file::SmallFileError::Io(e) => format!("{shown}: {e}"),
            crate::small_file::SmallFileError::TooLarge => format!(
                "{shown}: more than a directory of people, keys and projects \
                 ({MAX_DIRECTORY_BYTES} bytes at most); is it the right file?"
            ),
        })?;
        let text = String::from_utf8(bytes)
            .map_err(|_| format!("{shown}: not UTF-8 text; export the directory as CSV or JSON"))?;
        let text = text.trim_start_matches('\u{feff}');
        let d = if text.trim_start().starts_with(['{', '[']) {
            Directory::from_json(text)
        } else {
            Directory::from_csv(text)
        }
        .map_err(|e| format!("{shown}: {e}"))?;
        if d.is_empty() {
            return Err(format!(
                "{shown}: no member, API key or project with an id and a name; \
                 see docs/INVESTIGATE.md for the columns a directory needs"
            ));
        }
        Ok(d)
    }

    fn from_json(text: &str) -> Result<Directory, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        let mut d = Directory::default();
        match &v {
            Value::Object(m) => {
                let mut any = false;
                for (k, list) in m {
                    let Some(kind) = Kind::parse(k) else { continue };
                    let Value::Array(rows) = list else {
                        return Err(format!("\"{k}\" is not a list"));
                    };
                    any = true;
                    for row in rows {
                        d.json_row(Some(kind), row)?;
                    }
                }
                if !any {
                    return Err("no \"members\", \"apiKeys\" or \"projects\" list".into());
                }
            }
            Value::Array(rows) => {
                for row in rows {
                    d.json_row(None, row)?;
                }
            }
            _ => return Err("expected an object or a list".into()),
        }
        Ok(d)
    }

    fn json_row(&mut self, kind: Option<Kind>, row: &Value) -> Result<(), String> {
        let Value::Object(m) = row else {
            return Err("a row that is not an object".into());
        };
        let cells: Vec<(String, Option<String>)> = m
            .iter()
            .map(|(k, v)| {
                let s = match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                };
                (norm(k), s)
            })
            .collect();
        self.row(kind, &cells)
    }

    fn from_csv(text: &str) -> Result<Directory, String> {
        let mut r = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(text.as_bytes());
        let header: Vec<String> = r
            .headers()
            .map_err(|e| format!("not readable as CSV: {e}"))?
            .iter()
            .map(norm)
            .collect();
        let mut d = Directory::default();
        for (i, rec) in r.records().enumerate() {
            let rec = rec.map_err(|e| format!("CSV row {}: {e}", i + 2))?;
            let cells: Vec<(String, Option<String>)> = header
                .iter()
                .cloned()
                .zip(rec.iter().map(|c| Some(c.to_string())))
                .collect();
            d.row(None, &cells)
                .map_err(|e| format!("CSV row {}: {e}", i + 2))?;
        }
        Ok(d)
    }

    /// One row, as (normalised column name, value) pairs.
    fn row(
        &mut self,
        kind: Option<Kind>,
        cells: &[(String, Option<String>)],
    ) -> Result<(), String> {
        let get = |names: &[&str]| {
            names.iter().find_map(|n| {
                cells
                    .iter()
                    .find(|(k, _)| k == n)
                    .and_then(|(_, v)| nonempty(v.as_deref()))
            })
        };
        let has = |n: &str| cells.iter().any(|(k, _)| k == n);
        let kind = match kind.or_else(|| get(&["kind", "type"]).and_then(|k| Kind::parse(&k))) {
            Some(k) => k,
            None if has("userid") || has("email") => Kind::Member,
            None if has("apikeyid") || has("publickey") => Kind::ApiKey,
            None if has("projectid") => Kind::Project,
            None => {
                return Err(
                    "cannot tell a member from an API key or a project: add a \"kind\" column \
                     (member, api_key or project)"
                        .into(),
                );
            }
        };
        let id = match kind {
            Kind::Member => get(&["userid", "id"]),
            Kind::ApiKey => get(&["apikeyid", "id"]),
            Kind::Project => get(&["projectid", "id"]),
        };
        let Some(id) = id else {
            // A row without an id names nobody; it is left out.
            return Ok(());
        };
        let name = match kind {
            Kind::ApiKey => get(&["name", "note", "publickey"]),
            _ => get(&["name", "displayname"]),
        };
        self.add(kind, id, name, get(&["email"]));
        Ok(())
    }

    /// The sidecar's content: readable back by [`Directory::load`].
    pub fn to_json(&self, source: &str) -> Value {
        json!({
            DIRECTORY_KEY: 1,
            "source": source,
            "saved_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "members": self.members.iter().map(|(id, m)| json!({"userId": id, "email": m.email, "name": m.name})).collect::<Vec<_>>(),
            "apiKeys": self.api_keys.iter().map(|(id, n)| json!({"id": id, "name": n})).collect::<Vec<_>>(),
            "projects": self.projects.iter().map(|(id, n)| json!({"id": id, "name": n})).collect::<Vec<_>>(),
        })
    }

    /// Remembers the directory beside `archive` (its sidecar, replaced when
    /// there is one), through the one output path: never over the archive,
    /// its case file or the directory file read.
    pub fn save_beside(&self, archive: &Path, source: &Path) -> Result<PathBuf, String> {
        let path = sidecar_path(archive);
        let fail = |e: String| format!("cannot remember the directory: {e}");
        let text = serde_json::to_string_pretty(&self.to_json(&source.display().to_string()))
            .map_err(|e| fail(e.to_string()))?;
        let mut out = Output::reading(&[archive, source]);
        // The sidecar is this archive's own working file, like the case file.
        let slot = out
            .add(&Destination::cli(&path, true))
            .map_err(|e| fail(e.to_string()))?;
        out.write(slot, text.as_bytes())
            .map_err(|e| fail(e.to_string()))?;
        out.commit().map_err(|e| fail(e.to_string()))?;
        Ok(path)
    }

    /// The directory remembered beside `archive`, if any.
    pub fn remembered(archive: &Path) -> Result<Option<Directory>, String> {
        let path = sidecar_path(archive);
        if !path.exists() {
            return Ok(None);
        }
        Directory::load(&path).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_and_json_agree() {
        let csv = "kind,id,name,email\nmember,u1,Ada Lovelace,ada@example.org\napi_key,k1,ci deploy,\nproject,p1,Checkout,\nmember,,Nobody,\n";
        let d = Directory::from_csv(csv).unwrap();
        let j = Directory::from_json(
            r#"{"members":[{"userId":"u1","email":"ada@example.org","name":"Ada Lovelace"}],
                "apiKeys":[{"id":"k1","note":"ci deploy"}],"projects":[{"id":"p1","name":"Checkout"}]}"#,
        )
        .unwrap();
        assert_eq!(d, j);
        assert_eq!(d.name("u1"), Some("Ada Lovelace"));
        assert_eq!(d.name("k1"), Some("ci deploy"));
        assert_eq!(d.name("p1"), Some("Checkout"));
        // Unknown ids stay ids; a label the record already has is kept.
        assert_eq!(d.name("u2"), None);
        assert_eq!(d.readable("u2", "u2"), "u2");
        assert_eq!(d.readable("u1", "u1"), "Ada Lovelace (u1)");
        assert_eq!(d.readable("ada@corp", "u1"), "ada@corp");
        assert_eq!(d.people_named("ada lovelace"), ["u1"]);
        assert_eq!(d.people_named("CI deploy"), ["k1"]);
        assert!(
            d.people_named("Checkout").is_empty(),
            "a project is not a person"
        );
        // The sidecar reads back as the same directory.
        let back = Directory::from_json(&d.to_json("dir.csv").to_string()).unwrap();
        assert_eq!(back, d);
    }

    #[test]
    fn columns_by_name() {
        let d = Directory::from_csv("userId,email\nu1,a@b\n").unwrap();
        assert_eq!(d.name("u1"), Some("a@b"));
        let d = Directory::from_csv("projectId,name\np9,Ops\n").unwrap();
        assert_eq!(d.name("p9"), Some("Ops"));
        let e = Directory::from_csv("id,name\nx,y\n").unwrap_err();
        assert!(e.contains("\"kind\" column"), "{e}");
        assert!(Directory::from_json("{\"people\":[]}").is_err());
        assert!(Directory::from_json("[1]").is_err());
    }
}
