//! The audit-log entry, as the platform describes it ("Log Entry Structure" in
//! its audit-log documentation), and its mapping to the canonical record.
//!
//! Everything optional stays optional: a platform export carries ids but no
//! emails, names, IPs or user agents, and auditlens never invents them.
//! Unknown resource types, actions, roles and actor types are kept verbatim.

use std::collections::BTreeMap;
use std::fmt;

use crate::json::Json;
use crate::time::Timestamp;

/// Who performed the action.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ActorType {
    User,
    ApiKey,
    /// A value a newer platform version may send; kept verbatim.
    Other(String),
}

impl ActorType {
    pub fn parse(s: &str) -> ActorType {
        match s {
            "USER" => ActorType::User,
            "API_KEY" => ActorType::ApiKey,
            other => ActorType::Other(other.to_string()),
        }
    }

    /// The platform's spelling (`USER`, `API_KEY`).
    pub fn as_str(&self) -> &str {
        match self {
            ActorType::User => "USER",
            ActorType::ApiKey => "API_KEY",
            ActorType::Other(s) => s,
        }
    }

    /// A label for people ("User", "API key").
    pub fn display_name(&self) -> &str {
        match self {
            ActorType::User => "User",
            ActorType::ApiKey => "API key",
            ActorType::Other(s) => s,
        }
    }
}

impl fmt::Display for ActorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The actor: a user or an API key. Which fields are set depends on the type
/// and on how rich the source export was.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Actor {
    pub actor_type: Option<ActorType>,
    pub user_id: Option<String>,
    pub email: Option<String>,
    /// The user's organisation role at the time (OWNER, ADMIN, MEMBER, VIEWER, NONE).
    pub org_role: Option<String>,
    /// The user's project role at the time.
    pub project_role: Option<String>,
    pub auth_method: Option<String>,
    pub api_key_id: Option<String>,
    pub api_key_name: Option<String>,
    /// PROJECT or ORGANIZATION.
    pub api_key_scope: Option<String>,
    /// Id of the project or organisation the key is scoped to.
    pub api_key_scope_id: Option<String>,
    pub api_key_created_at: Option<Timestamp>,
    pub api_key_created_by: Option<String>,
}

impl Actor {
    /// The best short label: email, then key name, then user id, then key id.
    pub fn label(&self) -> &str {
        label_of(
            self.actor_type.as_ref().map(ActorType::as_str),
            [
                &self.email,
                &self.user_id,
                &self.api_key_name,
                &self.api_key_id,
            ]
            .map(|v| v.as_deref()),
        )
        .unwrap_or("")
    }

    /// The stable identity used for "everything this actor did": user id or key id.
    pub fn key(&self) -> &str {
        key_of(
            self.actor_type.as_ref().map(ActorType::as_str),
            self.user_id.as_deref(),
            self.api_key_id.as_deref(),
        )
        .unwrap_or("")
    }
}

/// The actor's label from `[email, user_id, api_key_name, api_key_id]`: for an
/// API key its name comes first, for anyone else the email. Shared by the
/// model and the borrowed record view so the index columns agree.
pub(crate) fn label_of<'a>(
    actor_type: Option<&str>,
    [email, user_id, key_name, key_id]: [Option<&'a str>; 4],
) -> Option<&'a str> {
    let order = if actor_type == Some("API_KEY") {
        [key_name, key_id, email, user_id]
    } else {
        [email, user_id, key_name, key_id]
    };
    order.into_iter().flatten().next().filter(|s| !s.is_empty())
}

/// The actor's identity: key id for an API key, user id otherwise, falling back to the other.
pub(crate) fn key_of<'a>(
    actor_type: Option<&str>,
    user_id: Option<&'a str>,
    key_id: Option<&'a str>,
) -> Option<&'a str> {
    let order = if actor_type == Some("API_KEY") {
        [key_id, user_id]
    } else {
        [user_id, key_id]
    };
    order.into_iter().flatten().next().filter(|s| !s.is_empty())
}

/// One audit-log entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    /// When the action happened (the platform's `createdAt`).
    pub time: Timestamp,
    /// The platform's `updatedAt`; differs from `time` only if the row was rewritten.
    pub updated_at: Option<Timestamp>,
    pub actor: Actor,
    /// Internal camelCase name (`prompt`, `apiKey`, …), kept verbatim.
    pub resource_type: String,
    pub resource_id: String,
    pub resource_name: Option<String>,
    /// `create`, `update`, `delete` or a resource-specific action, kept verbatim.
    pub action: String,
    /// State before the action: any JSON value.
    pub before: Option<Json>,
    /// State after the action: any JSON value.
    pub after: Option<Json>,
    pub org_id: Option<String>,
    pub org_name: Option<String>,
    pub project_id: Option<String>,
    pub project_name: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    /// Fields a source carried that this version does not know; kept, hashed, shown.
    pub extra: BTreeMap<String, Json>,
}

impl Entry {
    /// A minimal entry; the other fields start empty.
    pub fn new(
        id: &str,
        time: Timestamp,
        resource_type: &str,
        resource_id: &str,
        action: &str,
    ) -> Entry {
        Entry {
            id: id.to_string(),
            time,
            updated_at: None,
            actor: Actor::default(),
            resource_type: resource_type.to_string(),
            resource_id: resource_id.to_string(),
            resource_name: None,
            action: action.to_string(),
            before: None,
            after: None,
            org_id: None,
            org_name: None,
            project_id: None,
            project_name: None,
            ip_address: None,
            user_agent: None,
            extra: BTreeMap::new(),
        }
    }

    /// The resource's display label: its name when known, else its id.
    pub fn resource_label(&self) -> &str {
        self.resource_name.as_deref().unwrap_or(&self.resource_id)
    }

    /// The canonical record object (see docs/FORMAT.md, "Record").
    pub fn to_record(&self) -> Json {
        let mut m = BTreeMap::new();
        let s = |v: &str| Json::String(v.to_string());
        m.insert("id".into(), s(&self.id));
        m.insert("time".into(), s(&self.time.to_string()));
        if let Some(t) = self.updated_at {
            m.insert("updated_at".into(), s(&t.to_string()));
        }
        let mut a = BTreeMap::new();
        let actor = &self.actor;
        if let Some(t) = &actor.actor_type {
            a.insert("type".into(), s(t.as_str()));
        }
        for (k, v) in [
            ("user_id", &actor.user_id),
            ("email", &actor.email),
            ("org_role", &actor.org_role),
            ("project_role", &actor.project_role),
            ("auth_method", &actor.auth_method),
            ("api_key_id", &actor.api_key_id),
            ("api_key_name", &actor.api_key_name),
            ("api_key_scope", &actor.api_key_scope),
            ("api_key_scope_id", &actor.api_key_scope_id),
            ("api_key_created_by", &actor.api_key_created_by),
        ] {
            if let Some(v) = v {
                a.insert(k.into(), s(v));
            }
        }
        if let Some(t) = actor.api_key_created_at {
            a.insert("api_key_created_at".into(), s(&t.to_string()));
        }
        m.insert("actor".into(), Json::Object(a));
        m.insert("resource_type".into(), s(&self.resource_type));
        m.insert("resource_id".into(), s(&self.resource_id));
        m.insert("action".into(), s(&self.action));
        for (k, v) in [
            ("resource_name", &self.resource_name),
            ("org_id", &self.org_id),
            ("org_name", &self.org_name),
            ("project_id", &self.project_id),
            ("project_name", &self.project_name),
            ("ip_address", &self.ip_address),
            ("user_agent", &self.user_agent),
        ] {
            if let Some(v) = v {
                m.insert(k.into(), s(v));
            }
        }
        if let Some(b) = &self.before {
            m.insert("before".into(), b.clone());
        }
        if let Some(b) = &self.after {
            m.insert("after".into(), b.clone());
        }
        if !self.extra.is_empty() {
            m.insert("extra".into(), Json::Object(self.extra.clone()));
        }
        Json::Object(m)
    }

    /// The nesting depth of [`Entry::to_record`] without building it.
    pub fn record_depth(&self) -> usize {
        let states = [&self.before, &self.after]
            .into_iter()
            .flatten()
            .map(Json::depth);
        let extra = self.extra.values().map(|v| 1 + v.depth());
        // The actor object is one level down.
        1 + states.chain(extra).fold(1, usize::max)
    }

    /// The canonical record bytes: what the chain hashes and the archive stores.
    pub fn canonical_record(&self) -> String {
        self.to_record().to_canonical()
    }

    /// Reads a canonical record object back. Strict: an unknown key or a
    /// wrongly typed field is an error, because a record is auditlens's own format.
    pub fn from_record(record: &Json) -> Result<Entry, String> {
        let Json::Object(m) = record else {
            return Err(format!(
                "a record must be a JSON object, not {}",
                record.kind()
            ));
        };
        let mut r = Fields::new(m, "");
        let id = r.req_str("id")?;
        let time = r.req_time("time")?;
        let updated_at = r.opt_time("updated_at")?;
        let actor_json = r.take("actor").ok_or("record has no \"actor\"")?;
        let Json::Object(am) = actor_json else {
            return Err("\"actor\" must be an object".into());
        };
        let mut ar = Fields::new(am, "actor.");
        let actor = Actor {
            actor_type: ar.opt_str("type")?.map(|t| ActorType::parse(&t)),
            user_id: ar.opt_str("user_id")?,
            email: ar.opt_str("email")?,
            org_role: ar.opt_str("org_role")?,
            project_role: ar.opt_str("project_role")?,
            auth_method: ar.opt_str("auth_method")?,
            api_key_id: ar.opt_str("api_key_id")?,
            api_key_name: ar.opt_str("api_key_name")?,
            api_key_scope: ar.opt_str("api_key_scope")?,
            api_key_scope_id: ar.opt_str("api_key_scope_id")?,
            api_key_created_at: ar.opt_time("api_key_created_at")?,
            api_key_created_by: ar.opt_str("api_key_created_by")?,
        };
        ar.finish()?;
        let entry = Entry {
            id,
            time,
            updated_at,
            actor,
            resource_type: r.req_str("resource_type")?,
            resource_id: r.req_str("resource_id")?,
            resource_name: r.opt_str("resource_name")?,
            action: r.req_str("action")?,
            before: r.take("before").cloned(),
            after: r.take("after").cloned(),
            org_id: r.opt_str("org_id")?,
            org_name: r.opt_str("org_name")?,
            project_id: r.opt_str("project_id")?,
            project_name: r.opt_str("project_name")?,
            ip_address: r.opt_str("ip_address")?,
            user_agent: r.opt_str("user_agent")?,
            extra: match r.take("extra") {
                None => BTreeMap::new(),
                Some(Json::Object(x)) => x.clone(),
                Some(_) => return Err("\"extra\" must be an object".into()),
            },
        };
        r.finish()?;
        Ok(entry)
    }
}

/// Takes fields out of a record object, remembering which were used so that
/// an unknown key can be reported.
struct Fields<'a> {
    map: &'a BTreeMap<String, Json>,
    used: Vec<&'static str>,
    prefix: &'static str,
}

impl<'a> Fields<'a> {
    fn new(map: &'a BTreeMap<String, Json>, prefix: &'static str) -> Self {
        Fields {
            map,
            used: Vec::new(),
            prefix,
        }
    }

    fn take(&mut self, key: &'static str) -> Option<&'a Json> {
        self.used.push(key);
        self.map.get(key)
    }

    fn opt_str(&mut self, key: &'static str) -> Result<Option<String>, String> {
        match self.take(key) {
            None => Ok(None),
            Some(Json::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(format!(
                "\"{}{key}\" must be a string, not {}",
                self.prefix,
                other.kind()
            )),
        }
    }

    fn req_str(&mut self, key: &'static str) -> Result<String, String> {
        self.opt_str(key)?
            .ok_or_else(|| format!("record has no \"{}{key}\"", self.prefix))
    }

    fn opt_time(&mut self, key: &'static str) -> Result<Option<Timestamp>, String> {
        let prefix = self.prefix;
        match self.opt_str(key)? {
            None => Ok(None),
            Some(s) => Timestamp::parse(&s)
                .map(Some)
                .map_err(|e| format!("\"{prefix}{key}\": {e}")),
        }
    }

    fn req_time(&mut self, key: &'static str) -> Result<Timestamp, String> {
        self.opt_time(key)?
            .ok_or_else(|| format!("record has no \"{}{key}\"", self.prefix))
    }

    fn finish(self) -> Result<(), String> {
        match self.map.keys().find(|k| !self.used.contains(&k.as_str())) {
            Some(k) => Err(format!(
                "unknown field \"{}{k}\" in the record",
                self.prefix
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fallbacks docs/FORMAT.md §1 states, example by example.
    #[test]
    fn actor_id_and_label_fall_back_as_the_format_says() {
        let actor = |t: &str, fields: &[(&str, &str)]| {
            let mut a = Actor {
                actor_type: Some(ActorType::parse(t)),
                ..Actor::default()
            };
            for (k, v) in fields {
                let v = Some(v.to_string());
                match *k {
                    "user_id" => a.user_id = v,
                    "email" => a.email = v,
                    "api_key_id" => a.api_key_id = v,
                    "api_key_name" => a.api_key_name = v,
                    _ => unreachable!(),
                }
            }
            a
        };
        let all = [
            ("user_id", "u1"),
            ("email", "e@x"),
            ("api_key_id", "k1"),
            ("api_key_name", "batch"),
        ];
        assert_eq!(
            (actor("USER", &all).key(), actor("USER", &all).label()),
            ("u1", "e@x")
        );
        let key = actor("API_KEY", &all);
        assert_eq!((key.key(), key.label()), ("k1", "batch"));
        // Any type other than API_KEY (even "api_key") is treated as a user.
        let other = actor("api_key", &all);
        assert_eq!((other.key(), other.label()), ("u1", "e@x"));
        // Fallback only past absent fields; an empty first field gives nothing.
        let empty_email = actor("USER", &[("email", ""), ("user_id", "u1")]);
        assert_eq!((empty_email.key(), empty_email.label()), ("u1", ""));
        let only_user = actor("API_KEY", &[("user_id", "u1")]);
        assert_eq!((only_user.key(), only_user.label()), ("u1", "u1"));
        let only_key = actor("USER", &[("api_key_id", "k1")]);
        assert_eq!((only_key.key(), only_key.label()), ("k1", "k1"));
    }
}
