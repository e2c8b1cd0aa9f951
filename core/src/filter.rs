//! The one filter used by the CLI's export and the viewer.
//!
//! [`Filter::matches`] is the definition. Readers of an archive may first
//! skip rows by its index columns (`archive::Scan::prefilter`, the viewer's
//! row index), which never excludes a row that `matches` would accept.

use crate::model::{ActorType, Entry};
use crate::time::Timestamp;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Entries at or after this time.
    pub from: Option<Timestamp>,
    /// Entries strictly before this time.
    pub to: Option<Timestamp>,
    /// Project ids or names (any of them).
    pub projects: Vec<String>,
    /// Actions (any of them), e.g. `create`, `setLabel`.
    pub actions: Vec<String>,
    /// Resource types by internal name (`apiKey`) or display name ("API Key").
    pub resource_types: Vec<String>,
    /// A user id, email, API key id or API key name (case-insensitive, exact).
    pub actor: Option<String>,
    pub actor_type: Option<ActorType>,
    /// Case-insensitive text searched in ids, names, email, IP, user agent,
    /// action, resource type and the before/after states.
    pub search: Option<String>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    /// The parts that no facet list sets (time, actor, free text). Faceted
    /// search counts each facet's values over the entries that pass these
    /// and every *other* facet ([`crate::row_index::Index::facets`]).
    pub fn without_facets(&self) -> Filter {
        Filter {
            projects: Vec::new(),
            actions: Vec::new(),
            resource_types: Vec::new(),
            actor_type: None,
            ..self.clone()
        }
    }

    /// Only the project part: what decides, record by record, whether an
    /// entry belongs to one of the chosen projects (by id or by name).
    pub fn projects_only(&self) -> Filter {
        Filter {
            projects: self.projects.clone(),
            ..Filter::default()
        }
    }

    pub fn matches(&self, e: &Entry) -> bool {
        self.mismatch(e).is_none()
    }

    /// The first part of the filter that `e` fails, as (what the part
    /// selects, the entry's value), e.g. ("action in delete", "create"); `None`
    /// when it matches. The verifier names it in an `outside_filter` finding.
    pub fn mismatch(&self, e: &Entry) -> Option<(String, String)> {
        let shown = |v: Option<&String>| v.map_or_else(|| "none".to_string(), String::clone);
        let list = |label: &str, v: &[String]| format!("{label} in {}", v.join(", "));
        if self.from.is_some_and(|f| e.time < f) || self.to.is_some_and(|t| e.time >= t) {
            let from = self.from.map_or_else(String::new, |t| format!("from {t}"));
            let to = self.to.map_or_else(String::new, |t| format!(" to {t}"));
            return Some((format!("time {}", (from + &to).trim()), e.time.to_string()));
        }
        if !self.projects.is_empty()
            && !self
                .projects
                .iter()
                .any(|p| e.project_id.as_deref() == Some(p) || e.project_name.as_deref() == Some(p))
        {
            return Some((
                list("project", &self.projects),
                shown(e.project_id.as_ref()),
            ));
        }
        if !self.actions.is_empty() && !self.actions.contains(&e.action) {
            return Some((list("action", &self.actions), e.action.clone()));
        }
        if !self.resource_types.is_empty()
            && !self.resource_types.iter().any(|r| {
                *r == e.resource_type
                    || crate::catalog::display_name(&e.resource_type).eq_ignore_ascii_case(r)
            })
        {
            return Some((
                list("resource type", &self.resource_types),
                e.resource_type.clone(),
            ));
        }
        if let Some(t) = &self.actor_type
            && e.actor.actor_type.as_ref() != Some(t)
        {
            let is = e.actor.actor_type.as_ref().map(|t| t.as_str().to_string());
            return Some((format!("actor type = {}", t.as_str()), shown(is.as_ref())));
        }
        if let Some(actor) = &self.actor {
            let a = &e.actor;
            let hit = [&a.user_id, &a.email, &a.api_key_id, &a.api_key_name]
                .into_iter()
                .flatten()
                .any(|v| v.to_lowercase() == actor.to_lowercase());
            if !hit {
                let is = a.user_id.as_ref().or(a.api_key_id.as_ref());
                return Some((format!("actor = {actor}"), shown(is)));
            }
        }
        if let Some(text) = &self.search
            && !text.is_empty()
            && !search_text(e).contains(&text.to_lowercase())
        {
            return Some((format!("search {text:?}"), "no match".into()));
        }
        None
    }
}

/// The fields free-text search looks in besides the entry and resource ids
/// and the states, of anything with an entry's field names: an [`Entry`]
/// ([`searched_fields`]) or a record as stored
/// ([`crate::record_view::RecordView`], which `hit_check` matches without
/// building the entry). One list, so the two cannot drift apart.
macro_rules! searched_fields_of {
    ($e:expr) => {{
        let e = $e;
        let a = &e.actor;
        [
            e.resource_name.as_ref(),
            Some(&e.resource_type),
            Some(&e.action),
            a.user_id.as_ref(),
            a.email.as_ref(),
            a.api_key_id.as_ref(),
            a.api_key_name.as_ref(),
            e.org_id.as_ref(),
            e.org_name.as_ref(),
            e.project_id.as_ref(),
            e.project_name.as_ref(),
            e.ip_address.as_ref(),
            e.user_agent.as_ref(),
        ]
    }};
}
pub(crate) use searched_fields_of;

/// The fields free-text search looks in besides the entry and resource ids
/// and the states; the viewer's text index takes the same list.
pub fn searched_fields(e: &Entry) -> [Option<&String>; 13] {
    searched_fields_of!(e)
}

/// The lower-cased text that free-text search looks in.
pub fn search_text(e: &Entry) -> String {
    let mut s = String::with_capacity(256);
    for v in [Some(&e.id), Some(&e.resource_id)]
        .into_iter()
        .chain(searched_fields(e))
        .flatten()
    {
        s.push_str(v);
        s.push('\n');
    }
    for state in [&e.before, &e.after].into_iter().flatten() {
        state.write_canonical(&mut s);
        s.push('\n');
    }
    s.to_lowercase()
}
