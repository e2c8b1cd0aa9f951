//! Authorization at the time: whether the actor's role, as the log itself
//! records it, granted the action.
//!
//! The role model is the open-source platform's (Langfuse's
//! `organizationRoleAccessRights` and `projectRoleAccessRights`, read at
//! commit [`SOURCE_COMMIT`]); docs/AUTHORIZATION.md lists the tables and
//! which scope each logged resource/action needs. The actor's role comes from
//! the entry (`userOrgRole`, `userProjectRole`), else from the membership
//! entries seen earlier in the archive. Whatever is not known (an API key,
//! which carries no role; an unlisted resource or action; an unrecorded or
//! unknown role) is **cannot judge**, never "allowed".

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use crate::json;
use crate::record_view::RecordView;

/// The Langfuse commit the tables below were read from.
pub const SOURCE_COMMIT: &str = "62751446149b702b419a9292ddfc2280cdf74b8c";

/// The roles, lowest first.
pub const ROLES: [&str; 5] = ["NONE", "VIEWER", "MEMBER", "ADMIN", "OWNER"];

/// `organizationRoleAccessRights` (web/src/features/rbac/constants/organizationAccessRights.ts).
pub const ORG_RIGHTS: [(&str, &[&str]); 5] = [
    (
        "OWNER",
        &[
            "projects:create",
            "projects:transfer_org",
            "organization:CRUD_apiKeys",
            "organization:update",
            "organization:delete",
            "organizationMembers:CUD",
            "organizationMembers:read",
            "langfuseCloudBilling:CRUD",
            "auditLogs:read",
        ],
    ),
    (
        "ADMIN",
        &[
            "projects:create",
            "projects:transfer_org",
            "organization:update",
            "organizationMembers:CUD",
            "organizationMembers:read",
            "auditLogs:read",
        ],
    ),
    ("MEMBER", &["organizationMembers:read"]),
    ("VIEWER", &[]),
    ("NONE", &[]),
];

/// The write scopes of `projectRoleAccessRights`
/// (packages/shared/src/features/rbac/projectAccessRights.ts) that logged
/// actions need; the `:read` scopes guard nothing the log records.
pub const PROJECT_RIGHTS: [(&str, &[&str]); 5] = [
    ("OWNER", &OWNER_PROJECT),
    ("ADMIN", &ADMIN_PROJECT),
    (
        "MEMBER",
        &[
            "objects:publish",
            "objects:bookmark",
            "objects:tag",
            "scores:CUD",
            "scoreConfigs:CUD",
            "datasets:CUD",
            "prompts:CUD",
            "evalTemplate:CUD",
            "evalJob:CUD",
            "evalDefaultModel:CUD",
            "llmSchemas:CUD",
            "llmTools:CUD",
            "playground:execute",
            "batchExports:create",
            "comments:CUD",
            "annotationQueues:CUD",
            "promptExperiments:CUD",
            "dashboards:CUD",
            "TableViewPresets:CUD",
            "alerts:CUD",
        ],
    ),
    ("VIEWER", &[]),
    ("NONE", &[]),
];

const ADMIN_PROJECT: [&str; 32] = [
    "project:update",
    "projectMembers:CUD",
    "apiKeys:CUD",
    "integrations:CRUD",
    "objects:publish",
    "objects:bookmark",
    "objects:tag",
    "traces:delete",
    "scores:CUD",
    "scoreConfigs:CUD",
    "datasets:CUD",
    "prompts:CUD",
    "promptProtectedLabels:CUD",
    "models:CUD",
    "evalTemplate:CUD",
    "evalJob:CUD",
    "evalDefaultModel:CUD",
    "llmApiKeys:create",
    "llmApiKeys:update",
    "llmApiKeys:delete",
    "llmSchemas:CUD",
    "llmTools:CUD",
    "playground:execute",
    "batchExports:create",
    "comments:CUD",
    "annotationQueues:CUD",
    "annotationQueueAssignments:CUD",
    "promptExperiments:CUD",
    "dashboards:CUD",
    "TableViewPresets:CUD",
    "automations:CUD",
    "alerts:CUD",
];

/// OWNER has ADMIN's project scopes and `project:delete`.
const OWNER_PROJECT: [&str; 33] = {
    let mut all = [""; 33];
    let mut i = 0;
    while i < ADMIN_PROJECT.len() {
        all[i] = ADMIN_PROJECT[i];
        i += 1;
    }
    all[32] = "project:delete";
    all
};

/// A scope an action needs, at the organisation or the project level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Org(&'static str),
    Project(&'static str),
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::Org(s) | Scope::Project(s) => s,
        }
    }
}

/// Which scope each logged resource type and action needs (any one of the
/// alternatives grants it). Read from the platform's routers; see
/// docs/AUTHORIZATION.md.
const RULES: &[(&str, &[&str], &[Scope])] = &[
    ("trace", &["delete"], &[Scope::Project("traces:delete")]),
    (
        "trace",
        &["bookmark"],
        &[Scope::Project("objects:bookmark")],
    ),
    ("trace", &["publish"], &[Scope::Project("objects:publish")]),
    ("trace", &["updateTags"], &[Scope::Project("objects:tag")]),
    (
        "session",
        &["bookmark"],
        &[Scope::Project("objects:bookmark")],
    ),
    (
        "session",
        &["publish"],
        &[Scope::Project("objects:publish")],
    ),
    ("score", CUD, &[Scope::Project("scores:CUD")]),
    ("scoreConfig", CUD, &[Scope::Project("scoreConfigs:CUD")]),
    ("dataset", CUD, &[Scope::Project("datasets:CUD")]),
    ("datasetItem", CUD, &[Scope::Project("datasets:CUD")]),
    ("datasetRun", CUD, &[Scope::Project("datasets:CUD")]),
    ("datasetRunItem", CUD, &[Scope::Project("datasets:CUD")]),
    ("comment", CUD, &[Scope::Project("comments:CUD")]),
    (
        "prompt",
        &[
            "create",
            "update",
            "delete",
            "updateTags",
            "setLabel",
            "promote",
        ],
        &[Scope::Project("prompts:CUD")],
    ),
    (
        "promptProtectedLabel",
        CUD,
        &[Scope::Project("promptProtectedLabels:CUD")],
    ),
    ("evalTemplate", CUD, &[Scope::Project("evalTemplate:CUD")]),
    ("job", CUD, &[Scope::Project("evalJob:CUD")]),
    (
        "annotationQueue",
        CUD,
        &[Scope::Project("annotationQueues:CUD")],
    ),
    (
        "annotationQueueItem",
        &["create", "update", "delete", "complete"],
        &[Scope::Project("annotationQueues:CUD")],
    ),
    (
        "annotationQueueAssignment",
        CUD,
        &[Scope::Project("annotationQueueAssignments:CUD")],
    ),
    ("project", &["create"], &[Scope::Org("projects:create")]),
    ("project", &["update"], &[Scope::Project("project:update")]),
    ("project", &["delete"], &[Scope::Project("project:delete")]),
    (
        "project",
        &["transfer"],
        &[Scope::Org("projects:transfer_org")],
    ),
    (
        "organization",
        &["update"],
        &[Scope::Org("organization:update")],
    ),
    (
        "organization",
        &["delete"],
        &[Scope::Org("organization:delete")],
    ),
    (
        "orgMembership",
        CUD,
        &[Scope::Org("organizationMembers:CUD")],
    ),
    (
        "projectMembership",
        CUD,
        &[
            Scope::Org("organizationMembers:CUD"),
            Scope::Project("projectMembers:CUD"),
        ],
    ),
    (
        "membershipInvitation",
        CUD,
        &[
            Scope::Org("organizationMembers:CUD"),
            Scope::Project("projectMembers:CUD"),
        ],
    ),
    (
        "llmApiKey",
        &["create"],
        &[Scope::Project("llmApiKeys:create")],
    ),
    (
        "llmApiKey",
        &["update"],
        &[Scope::Project("llmApiKeys:update")],
    ),
    (
        "llmApiKey",
        &["delete"],
        &[Scope::Project("llmApiKeys:delete")],
    ),
    ("llmTool", CUD, &[Scope::Project("llmTools:CUD")]),
    ("llmSchema", CUD, &[Scope::Project("llmSchemas:CUD")]),
    ("model", CUD, &[Scope::Project("models:CUD")]),
    (
        "batchExport",
        &["create"],
        &[Scope::Project("batchExports:create")],
    ),
    (
        "blobStorageIntegration",
        CUD,
        &[Scope::Project("integrations:CRUD")],
    ),
    (
        "posthogIntegration",
        CUD,
        &[Scope::Project("integrations:CRUD")],
    ),
    (
        "mixpanelIntegration",
        CUD,
        &[Scope::Project("integrations:CRUD")],
    ),
    ("dashboard", CUD, &[Scope::Project("dashboards:CUD")]),
    ("dashboardWidget", CUD, &[Scope::Project("dashboards:CUD")]),
    ("automation", CUD, &[Scope::Project("automations:CUD")]),
];

const CUD: &[&str] = &["create", "update", "delete"];

/// The scopes that may grant `action` on `resource_type` (any one does):
/// `None` when the platform's rule is not known. API keys are managed at
/// the project level when the entry names a project, else at the
/// organisation's; a prompt labelled with a protected label needs
/// `promptProtectedLabels:CUD`.
pub fn required(
    resource_type: &str,
    action: &str,
    in_project: bool,
    protected_label: bool,
) -> Option<Vec<Scope>> {
    if resource_type == "apiKey" && CUD.contains(&action) {
        return Some(vec![if in_project {
            Scope::Project("apiKeys:CUD")
        } else {
            Scope::Org("organization:CRUD_apiKeys")
        }]);
    }
    if resource_type == "prompt" && matches!(action, "setLabel" | "promote") && protected_label {
        return Some(vec![Scope::Project("promptProtectedLabels:CUD")]);
    }
    RULES
        .iter()
        .find(|(rt, actions, _)| *rt == resource_type && actions.contains(&action))
        .map(|(_, _, scopes)| scopes.to_vec())
}

/// Whether `role` grants `scope`; `None` for a role the platform does not have.
pub fn grants(role: &str, scope: Scope) -> Option<bool> {
    let table: &[(&str, &[&str])] = match scope {
        Scope::Org(_) => &ORG_RIGHTS,
        Scope::Project(_) => &PROJECT_RIGHTS,
    };
    table
        .iter()
        .find(|(r, _)| r.eq_ignore_ascii_case(role))
        .map(|(_, scopes)| scopes.contains(&scope.name()))
}

/// Why an entry could not be judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unknown {
    /// An API key acted: keys carry a scope, not a role.
    ApiKey,
    /// No user is named.
    NoActor,
    /// The platform's rule for this resource type and action is not known.
    NoRule,
    /// The role that decides was neither recorded nor seen granted.
    RoleNotRecorded,
    /// A role the platform does not have.
    UnknownRole,
}

impl Unknown {
    pub fn as_str(self) -> &'static str {
        match self {
            Unknown::ApiKey => "api_key",
            Unknown::NoActor => "no_actor",
            Unknown::NoRule => "no_rule",
            Unknown::RoleNotRecorded => "role_not_recorded",
            Unknown::UnknownRole => "unknown_role",
        }
    }
}

/// The judgement of one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Judgement {
    Granted,
    /// The recorded role did not grant the action; the reason names both.
    NotGranted(String),
    CannotJudge(Unknown),
}

/// Counts over an archive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub granted: u64,
    pub not_granted: u64,
    pub cannot_judge: BTreeMap<Unknown, u64>,
}

impl Tally {
    pub fn add(&mut self, j: &Judgement) {
        match j {
            Judgement::Granted => self.granted += 1,
            Judgement::NotGranted(_) => self.not_granted += 1,
            Judgement::CannotJudge(u) => *self.cannot_judge.entry(*u).or_default() += 1,
        }
    }

    pub fn to_json(&self) -> Value {
        let unknown: serde_json::Map<String, Value> = self
            .cannot_judge
            .iter()
            .map(|(k, n)| (k.as_str().to_string(), (*n).into()))
            .collect();
        json!({
            "source": format!("langfuse/langfuse@{SOURCE_COMMIT}"),
            "granted": self.granted,
            "not_granted": self.not_granted,
            "cannot_judge": self.cannot_judge.values().sum::<u64>(),
            "cannot_judge_by_reason": unknown,
        })
    }
}

/// A role found for the actor, and where it came from.
struct Role {
    name: String,
    whence: &'static str,
}

/// Judges entries in seq order, following the membership entries so that
/// an entry without recorded roles is judged by the last role the log gave
/// the user.
#[derive(Default)]
pub struct Judge {
    /// (org, user) → role.
    org: HashMap<(String, String), String>,
    /// (project, user) → the project membership's role, or `None` when it
    /// was removed (the organisation role then applies).
    project: HashMap<(String, String), Option<String>>,
}

fn field(state: Option<&str>, key: &str) -> Option<String> {
    let j = json::parse(state?.as_bytes()).ok()?;
    j.get(key)?.as_str().map(str::to_string)
}

impl Judge {
    /// Judges `e`, then learns from it if it is a membership change.
    pub fn observe(&mut self, e: &RecordView<'_>, protected_label: bool) -> Judgement {
        let j = self.judge(e, protected_label);
        self.learn(e);
        j
    }

    fn org_role(&self, e: &RecordView<'_>, user: &str) -> Option<Role> {
        if let Some(r) = e.actor.org_role.as_deref().filter(|r| !r.is_empty()) {
            return Some(Role {
                name: r.to_ascii_uppercase(),
                whence: "recorded organisation role",
            });
        }
        let org = e.org_id.as_deref()?;
        self.org
            .get(&(org.to_string(), user.to_string()))
            .map(|r| Role {
                name: r.clone(),
                whence: "organisation role from the last membership entry",
            })
    }

    fn project_role(&self, e: &RecordView<'_>, user: &str) -> Option<Role> {
        if let Some(r) = e.actor.project_role.as_deref().filter(|r| !r.is_empty()) {
            return Some(Role {
                name: r.to_ascii_uppercase(),
                whence: "recorded project role",
            });
        }
        let project = e.project_id.as_deref()?;
        match self.project.get(&(project.to_string(), user.to_string()))? {
            Some(r) => Some(Role {
                name: r.clone(),
                whence: "project role from the last membership entry",
            }),
            // No project membership: the platform falls back to the organisation role.
            None => self.org_role(e, user),
        }
    }

    fn judge(&self, e: &RecordView<'_>, protected_label: bool) -> Judgement {
        if e.actor.actor_type.as_deref() == Some("API_KEY") {
            return Judgement::CannotJudge(Unknown::ApiKey);
        }
        let Some(user) = e.actor.user_id.as_deref().filter(|u| !u.is_empty()) else {
            return Judgement::CannotJudge(Unknown::NoActor);
        };
        let in_project = e.project_id.as_deref().is_some_and(|p| !p.is_empty());
        let Some(scopes) = required(&e.resource_type, &e.action, in_project, protected_label)
        else {
            return Judgement::CannotJudge(Unknown::NoRule);
        };
        let mut refusals = Vec::new();
        let mut unknown = None;
        for scope in scopes {
            let role = match scope {
                Scope::Org(_) => self.org_role(e, user),
                Scope::Project(_) if in_project => self.project_role(e, user),
                Scope::Project(_) => None,
            };
            let Some(role) = role else {
                unknown.get_or_insert(Unknown::RoleNotRecorded);
                continue;
            };
            match grants(&role.name, scope) {
                Some(true) => return Judgement::Granted,
                Some(false) => refusals.push(format!(
                    "{} ({}) does not grant {}",
                    role.name,
                    role.whence,
                    scope.name()
                )),
                None => unknown = Some(Unknown::UnknownRole),
            }
        }
        match unknown {
            Some(u) => Judgement::CannotJudge(u),
            None => Judgement::NotGranted(format!(
                "{} {}: {}",
                e.resource_type,
                e.action,
                refusals.join("; nor ")
            )),
        }
    }

    fn learn(&mut self, e: &RecordView<'_>) {
        let rt = e.resource_type.as_ref();
        if !matches!(rt, "orgMembership" | "projectMembership") {
            return;
        }
        let state = e.after.or(e.before);
        let Some(user) = field(state, "userId") else {
            return;
        };
        let role = field(e.after, "role")
            .map(|r| r.to_ascii_uppercase())
            .filter(|r| e.action != "delete" && r != "NONE");
        if rt == "orgMembership" {
            let Some(org) =
                field(state, "orgId").or_else(|| e.org_id.as_deref().map(str::to_string))
            else {
                return;
            };
            match role {
                Some(r) => self.org.insert((org, user), r),
                None => self.org.insert((org, user), "NONE".into()),
            };
        } else {
            let Some(project) =
                field(state, "projectId").or_else(|| e.project_id.as_deref().map(str::to_string))
            else {
                return;
            };
            self.project.insert((project, user), role);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_agree_with_the_platform_on_known_cases() {
        assert_eq!(
            grants("VIEWER", Scope::Project("traces:delete")),
            Some(false)
        );
        assert_eq!(grants("MEMBER", Scope::Project("apiKeys:CUD")), Some(false));
        assert_eq!(grants("ADMIN", Scope::Project("apiKeys:CUD")), Some(true));
        assert_eq!(
            grants("ADMIN", Scope::Project("project:delete")),
            Some(false)
        );
        assert_eq!(
            grants("OWNER", Scope::Project("project:delete")),
            Some(true)
        );
        assert_eq!(
            grants("ADMIN", Scope::Org("organization:delete")),
            Some(false)
        );
        assert_eq!(
            grants("owner", Scope::Org("organization:delete")),
            Some(true)
        );
        assert_eq!(grants("SUPERUSER", Scope::Org("organization:delete")), None);
        assert!(OWNER_PROJECT.iter().all(|s| !s.is_empty()));
    }
}
