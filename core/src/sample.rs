//! A realistic sample-data generator (`auditlens sample`).
//!
//! Entry `i` is a pure function of `(seed, i, n)`, so files of any size are
//! written in any order without holding entries in memory, and the same seed
//! gives the same bytes on every machine. A small SplitMix64 generator is
//! used instead of the `rand` crate because `rand` does not promise the same
//! stream across versions, and sample files are committed.
//!
//! The data covers every resource/action pair of the platform's table, two
//! organisations with several projects, users and API keys, platform-shaped
//! before/after states, IPs and user agents, weeks of business-hours activity,
//! and a few planted patterns an investigator should find: off-hours admin
//! changes, a burst of deletes, a role escalation, and a new API key used from
//! an IP never seen before.
//!
//! A real log records what the platform allowed, so each action is given to
//! a user whose recorded role grants it by the platform's rules
//! ([`authorization`]); otherwise the authorization pattern would flood a
//! new user with false alarms. The only actions a role does not grant are
//! the two planted ones (the rich profile's self-escalation and a viewer's
//! batch export), so that pattern has something true to show.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;

use crate::authorization::{self, Scope};
use crate::catalog::RESOURCES;
use crate::ingest::{self, IngestOptions};
use crate::job::Job;
use crate::json::{Json, write_canonical_string};
use crate::model::{Actor, ActorType, Entry};
use crate::output::{Destination, Output};
use crate::source::{PLATFORM_COLUMNS, PLATFORM_RICH_COLUMNS};
use crate::time::Timestamp;

/// SplitMix64: the same seed gives the same draws on every run (the
/// ingest tests draw their inputs with it too).
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    fn new(seed: u64, i: u64, salt: u64) -> Rng {
        let mut r = Rng(seed
            ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ salt.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next();
        r
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn cuid(r: &mut Rng) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut s = String::with_capacity(25);
    s.push('c');
    for _ in 0..24 {
        s.push(ALPHABET[r.below(36) as usize] as char);
    }
    s
}

/// A cuid (v1) as the platform makes them: `c`, the creation time in
/// milliseconds (8 base-36 digits), a counter (4), a host fingerprint (4)
/// and 8 random digits. Ids made later sort later, as in real exports.
fn cuid_v1(time_ms: i64, counter: u64, r: &mut Rng) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut s = String::with_capacity(25);
    s.push('c');
    let digits = |mut v: u64, width: usize, s: &mut String| {
        let mut buf = [b'0'; 8];
        for d in buf[..width].iter_mut().rev() {
            *d = ALPHABET[(v % 36) as usize];
            v /= 36;
        }
        s.push_str(std::str::from_utf8(&buf[..width]).unwrap_or("0"));
    };
    digits(time_ms.max(0) as u64, 8, &mut s);
    digits(counter, 4, &mut s);
    let host = 1 + r.below(6);
    digits(host * 46_649, 4, &mut s);
    for _ in 0..8 {
        s.push(ALPHABET[r.below(36) as usize] as char);
    }
    s
}

/// People, keys and projects of the platform profile's organisation.
const PLATFORM_USERS: u64 = 400;
/// The platform profile's users by role, as consecutive ranges of user
/// numbers (their ids are random): a few owners, some admins, mostly members
/// and a quarter viewers, as in a busy organisation.
const PLATFORM_ROLES: [(&str, u64); 4] = [
    ("OWNER", 4),
    ("ADMIN", 20),
    ("MEMBER", 276),
    ("VIEWER", 100),
];
const PLATFORM_KEYS: u64 = 40;
const PLATFORM_PROJECTS: u64 = 12;

/// The resource types that are not in a project (their rows have no
/// project id).
const PLATFORM_ORG_LEVEL: &[&str] = &[
    "organization",
    "orgMembership",
    "membershipInvitation",
    "project",
];

/// The platform profile's mix: (resource type, weight, actions). Day-to-day
/// work (scores, dataset items, traces, annotation queues) dominates;
/// administration is rare. Includes internal types beyond the documented
/// table and a billing action string, as real exports do.
const PLATFORM_MIX: &[(&str, u64, &[&str])] = &[
    (
        "score",
        200,
        &["create", "create", "create", "create", "update", "delete"],
    ),
    (
        "datasetItem",
        160,
        &["create", "create", "create", "update", "delete"],
    ),
    (
        "trace",
        240,
        &["bookmark", "bookmark", "publish", "updateTags", "delete"],
    ),
    (
        "annotationQueueItem",
        120,
        &["create", "complete", "complete", "delete"],
    ),
    ("comment", 80, &["create", "create", "delete"]),
    (
        "prompt",
        20,
        &[
            "create",
            "update",
            "setLabel",
            "updateTags",
            "delete",
            "promote",
        ],
    ),
    ("session", 30, &["bookmark", "publish"]),
    ("dataset", 25, &["create", "update", "delete"]),
    ("datasetRun", 10, &["delete"]),
    ("datasetRunItem", 15, &["create"]),
    ("observation", 20, &["update"]),
    ("scoreConfig", 15, &["create", "update"]),
    ("job", 15, &["create", "update", "delete"]),
    ("evalTemplate", 8, &["create"]),
    ("annotationQueue", 10, &["create", "update", "delete"]),
    ("annotationQueueAssignment", 8, &["create", "delete"]),
    ("projectMembership", 10, &["create", "update", "delete"]),
    ("orgMembership", 5, &["create", "update", "delete"]),
    ("membershipInvitation", 5, &["create", "delete"]),
    ("apiKey", 6, &["create", "update", "delete"]),
    ("llmApiKey", 3, &["create", "delete"]),
    ("promptProtectedLabel", 2, &["create"]),
    ("model", 5, &["create", "update", "delete"]),
    ("batchExport", 6, &["create"]),
    ("batchAction", 5, &["create", "delete"]),
    ("dashboard", 4, &["create", "update", "delete"]),
    ("dashboardWidget", 5, &["create", "update", "delete"]),
    ("automation", 3, &["create", "update", "delete"]),
    ("llmTool", 2, &["create", "update"]),
    ("llmSchema", 2, &["create", "update"]),
    ("project", 2, &["create", "update", "transfer"]),
    ("organization", 1, &["update", "BillingService.changePlan"]),
];

fn pick_weighted(
    r: &mut Rng,
    mix: &'static [(&'static str, u64, &'static [&'static str])],
) -> (&'static str, &'static [&'static str]) {
    let total: u64 = mix.iter().map(|(_, w, _)| w).sum();
    let mut x = r.below(total);
    for (t, w, a) in mix {
        if x < *w {
            return (t, a);
        }
        x -= w;
    }
    (mix[0].0, mix[0].2)
}

/// Whether a user with these recorded roles may do `action` on `rtype` by
/// the platform's rules (any one of the scopes the action needs, each judged
/// at its own level, as [`authorization::Judge`] does); `None` when the rule
/// is not known, so that anyone may act. A prompt's `setLabel` and `promote`
/// always set `production` here ([`states`]), a protected label.
fn role_grants(
    org_role: &str,
    project_role: Option<&str>,
    rtype: &str,
    action: &str,
) -> Option<bool> {
    let protected = rtype == "prompt" && matches!(action, "setLabel" | "promote");
    let scopes = authorization::required(rtype, action, project_role.is_some(), protected)?;
    Some(scopes.into_iter().any(|scope| {
        let role = match scope {
            Scope::Org(_) => Some(org_role),
            Scope::Project(_) => project_role,
        };
        role.is_some_and(|role| authorization::grants(role, scope) == Some(true))
    }))
}

/// A platform-profile user whose role grants `action` on `rtype`, uniformly
/// among those users (anyone when no rule is known), and that role.
fn platform_user(r: &mut Rng, rtype: &str, action: &str, in_project: bool) -> (u64, &'static str) {
    let grants = |role: &str, in_project: bool| {
        role_grants(role, in_project.then_some(role), rtype, action).unwrap_or(true)
    };
    let users = |in_project: bool| -> u64 {
        PLATFORM_ROLES
            .iter()
            .filter(|(role, _)| grants(role, in_project))
            .map(|(_, n)| n)
            .sum()
    };
    // As in `pick_user`: an organisation-level entry that needs a project
    // scope goes to those whose role grants that scope.
    let in_project = in_project || users(false) == 0;
    let allowed = |role: &str| grants(role, in_project);
    let total = users(in_project);
    // Every action has a role that grants it (OWNER grants every scope); should
    // a rule ever grant none, anyone acts and the judge says so.
    let everyone = total == 0;
    let mut x = r.below(if everyone { PLATFORM_USERS } else { total });
    let mut first = 0;
    for (role, n) in PLATFORM_ROLES {
        if everyone || allowed(role) {
            if x < n {
                return (first + x, role);
            }
            x -= n;
        }
        first += n;
    }
    (0, PLATFORM_ROLES[0].0)
}

const _: () = {
    let mut total = 0;
    let mut i = 0;
    while i < PLATFORM_ROLES.len() {
        total += PLATFORM_ROLES[i].1;
        i += 1;
    }
    assert!(total == PLATFORM_USERS);
};

struct Org {
    id: &'static str,
    name: &'static str,
    projects: &'static [(&'static str, &'static str)],
}

const ORGS: [Org; 2] = [
    Org {
        id: "clorgacme0000000000000001",
        name: "Acme Corp",
        projects: &[
            ("clprjacmeprod00000000001", "support-bot-prod"),
            ("clprjacmestag00000000002", "support-bot-staging"),
            ("clprjacmeeval00000000003", "evals"),
        ],
    },
    Org {
        id: "clorgglobex000000000000002",
        name: "Globex",
        projects: &[
            ("clprjglobexrag0000000004", "rag-search"),
            ("clprjglobexsum0000000005", "summarizer"),
        ],
    },
];

/// (user id, email, org index, org role, usual IP, auth method)
const USERS: [(&str, &str, usize, &str, &str, &str); 10] = [
    (
        "cluseralice00000000000001",
        "alice@acme.example",
        0,
        "OWNER",
        "198.51.100.10",
        "sso",
    ),
    (
        "cluserbob0000000000000002",
        "bob@acme.example",
        0,
        "ADMIN",
        "198.51.100.11",
        "sso",
    ),
    (
        "clusercarol00000000000003",
        "carol@acme.example",
        0,
        "MEMBER",
        "198.51.100.12",
        "password",
    ),
    (
        "cluserdave000000000000004",
        "dave@acme.example",
        0,
        "MEMBER",
        "198.51.100.13",
        "sso",
    ),
    (
        "clusererin000000000000005",
        "erin@acme.example",
        0,
        "VIEWER",
        "198.51.100.14",
        "google",
    ),
    (
        "cluserfrank0000000000006",
        "frank@globex.example",
        1,
        "OWNER",
        "192.0.2.20",
        "github",
    ),
    (
        "clusergrace00000000000007",
        "grace@globex.example",
        1,
        "ADMIN",
        "192.0.2.21",
        "password",
    ),
    (
        "cluserheidi00000000000008",
        "heidi@globex.example",
        1,
        "MEMBER",
        "192.0.2.22",
        "sso",
    ),
    (
        "cluserivan000000000000009",
        "ivan@globex.example",
        1,
        "MEMBER",
        "192.0.2.23",
        "google",
    ),
    (
        "cluserjudy000000000000010",
        "judy@globex.example",
        1,
        "VIEWER",
        "192.0.2.24",
        "password",
    ),
];

/// Project roles that differ from the user's organisation role: (user
/// index, project index in the user's organisation, role). dave and ivan
/// each run one project.
const PROJECT_ROLES: [(usize, usize, &str); 2] = [(3, 0, "ADMIN"), (8, 1, "ADMIN")];

/// The role user `u` has in project `project` of their organisation.
fn project_role(u: usize, project: usize) -> &'static str {
    PROJECT_ROLES
        .iter()
        .find(|(pu, pp, _)| (*pu, *pp) == (u, project))
        .map_or(USERS[u].3, |(_, _, role)| role)
}

/// A user of organisation `org` whose roles grant `action` on `rtype` in
/// project `project` (or at the organisation's level), uniformly among
/// them; anyone of the organisation when no rule is known. An
/// organisation-level entry that needs a project scope (a project's update
/// or delete) records no project role: it goes to those whose project role
/// grants it, as the platform checked (the judge cannot judge it).
fn pick_user(
    r: &mut Rng,
    org: usize,
    project: usize,
    rtype: &str,
    action: &str,
    in_project: bool,
) -> usize {
    let members: Vec<usize> = (0..USERS.len()).filter(|u| USERS[*u].2 == org).collect();
    let granted = |in_project: bool| -> Vec<usize> {
        members
            .iter()
            .copied()
            .filter(|u| {
                let project_role = in_project.then(|| project_role(*u, project));
                role_grants(USERS[*u].3, project_role, rtype, action).unwrap_or(true)
            })
            .collect()
    };
    let mut chosen = granted(in_project);
    if chosen.is_empty() {
        chosen = granted(true);
    }
    *r.pick(if chosen.is_empty() { &members } else { &chosen })
}

/// (key id, name, org index, project index, creator user index, server IP)
const KEYS: [(&str, &str, usize, usize, usize, &str); 5] = [
    (
        "clkeyacmeprod000000000001",
        "prod-ingest",
        0,
        0,
        0,
        "203.0.113.5",
    ),
    (
        "clkeyacmeci00000000000002",
        "ci-evals",
        0,
        2,
        1,
        "203.0.113.6",
    ),
    (
        "clkeyacmestag00000000003",
        "staging-worker",
        0,
        1,
        1,
        "203.0.113.7",
    ),
    (
        "clkeyglobexrag0000000004",
        "rag-backend",
        1,
        0,
        5,
        "203.0.113.8",
    ),
    (
        "clkeyglobexsum0000000005",
        "summarizer-batch",
        1,
        1,
        6,
        "203.0.113.9",
    ),
];

/// The key planted for the "new key used from a new IP" pattern.
const ROGUE_KEY: (&str, &str) = ("clkeyacmerogue0000000006", "temp-debug");
const ROGUE_IP: &str = "185.220.101.47";

const USER_AGENTS: [&str; 4] = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
];

/// Monday 2025-01-06 00:00 UTC.
const START_MS: i64 = 1_736_121_600_000;
const DAY_MS: i64 = 86_400_000;
const MINUTE_MS: i64 = 60_000;

/// The generator for `n` entries with `seed`.
pub struct Sample {
    pub n: u64,
    pub seed: u64,
    /// Business days covered.
    days: u64,
    pub profile: Profile,
}

/// What the generated entries look like.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Profile {
    /// The seed's richer "log entry structure": names, emails, IPs, user
    /// agents, two small organisations and planted patterns to find (the
    /// bundled sample). Canonical records average about 870 bytes.
    #[default]
    Rich,
    /// Shaped like the platform's real export (as read from the source of
    /// the project it derives from): only its 15 columns (no names, emails, IPs or user agents), ids as time-ordered
    /// cuids (v1: `c` + time + counter + fingerprint + random), hundreds of
    /// users and keys, small states, and the resource types and actions in
    /// the mix a busy project logs. Canonical records average about 550
    /// bytes, so figures measured per byte are not flattered by large rows.
    Platform,
}

/// Where planted patterns sit, as fractions of n.
const BURST_AT: f64 = 0.62;
const BURST_LEN: u64 = 40;
const ESCALATION_AT: f64 = 0.45;
const VIEWER_EXPORT_AT: f64 = 0.55;
const OFF_HOURS_AT: [f64; 3] = [0.30, 0.31, 0.70];
const ROGUE_CREATE_AT: f64 = 0.80;
const ROGUE_USES: u64 = 12;

impl Sample {
    pub fn new(n: u64, seed: u64) -> Sample {
        let days = (n / 1500).clamp(10, 400);
        Sample {
            n,
            seed,
            days,
            profile: Profile::Rich,
        }
    }

    /// The same generator with entries shaped by `profile`.
    pub fn with_profile(mut self, profile: Profile) -> Sample {
        self.profile = profile;
        self
    }

    fn at(&self, f: f64) -> u64 {
        ((self.n as f64) * f) as u64
    }

    /// Business-hours time of entry `i`: weekdays 08:00–18:00 UTC, increasing with `i`.
    fn base_time(&self, i: u64) -> i64 {
        let minutes_per_day = 600i64;
        let total = self.days as i64 * minutes_per_day;
        let pos_ms =
            ((i as f64 + 0.5) / self.n.max(1) as f64 * total as f64 * MINUTE_MS as f64) as i64;
        let day = pos_ms / (minutes_per_day * MINUTE_MS);
        let within = pos_ms % (minutes_per_day * MINUTE_MS);
        let week = day / 5;
        let weekday = day % 5;
        START_MS + (week * 7 + weekday) * DAY_MS + 8 * 60 * MINUTE_MS + within
    }

    /// Entry `i` (0 = oldest).
    pub fn entry(&self, i: u64) -> Entry {
        match self.profile {
            Profile::Rich => self.rich_entry(i),
            Profile::Platform => self.platform_entry(i),
        }
    }

    /// The platform profile's entry `i`: the export's 15 columns only.
    fn platform_entry(&self, i: u64) -> Entry {
        let mut r = Rng::new(self.seed, i, 2);
        let time = Timestamp(self.base_time(i));
        let (rtype, actions) = pick_weighted(&mut r, PLATFORM_MIX);
        let action = *r.pick(actions);
        let org_level = PLATFORM_ORG_LEVEL.contains(&rtype);
        let project = self.fixed_id(2, r.below(PLATFORM_PROJECTS));
        let org = self.fixed_id(1, 0);
        // Keys act on project resources; people on everything.
        let mut actor = if !org_level && r.chance(30) {
            Actor {
                actor_type: Some(ActorType::ApiKey),
                api_key_id: Some(self.fixed_id(4, r.below(PLATFORM_KEYS))),
                // Some agent keys also carry the user who made them.
                user_id: r
                    .chance(15)
                    .then(|| self.fixed_id(3, r.below(PLATFORM_USERS))),
                ..Actor::default()
            }
        } else {
            let (user, role) = platform_user(&mut r, rtype, action, !org_level);
            Actor {
                actor_type: Some(ActorType::User),
                user_id: Some(self.fixed_id(3, user)),
                org_role: Some(role.into()),
                project_role: (!org_level).then(|| role.into()),
                ..Actor::default()
            }
        };
        let (resource_id, _, before, after) =
            states(&mut r, rtype, action, None, &project, &org, time, &actor);
        let id = cuid_v1(time.0, i, &mut r);
        let mut e = Entry::new(&id, time, rtype, &resource_id, action);
        e.updated_at = Some(time);
        e.org_id = Some(org);
        e.project_id = (!org_level).then_some(project);
        if actor.actor_type == Some(ActorType::ApiKey) {
            actor.org_role = None;
        }
        e.actor = actor;
        e.before = before;
        e.after = after;
        e
    }

    /// The `k`th fixed id of a kind (organisation, project, user, key):
    /// the same in every entry of this seed.
    fn fixed_id(&self, kind: u64, k: u64) -> String {
        cuid(&mut Rng::new(self.seed, k, 100 + kind))
    }

    /// The rich profile's entry `i`.
    fn rich_entry(&self, i: u64) -> Entry {
        let mut r = Rng::new(self.seed, i, 1);
        let mut time = self.base_time(i);
        let burst_start = self.at(BURST_AT);
        let rogue_at = self.at(ROGUE_CREATE_AT);
        let planted = if self.n < 200 {
            None
        } else if (burst_start..burst_start + BURST_LEN).contains(&i) {
            time = self.base_time(burst_start) + (i - burst_start) as i64 * 7_000;
            Some("burst")
        } else if i == self.at(ESCALATION_AT) {
            Some("escalation")
        } else if i == self.at(VIEWER_EXPORT_AT) {
            Some("viewer_export")
        } else if OFF_HOURS_AT.iter().any(|f| self.at(*f) == i) {
            Some("offhours")
        } else if i == rogue_at {
            Some("rogue_create")
        } else if i > rogue_at && i <= rogue_at + ROGUE_USES {
            Some("rogue_use")
        } else {
            None
        };

        // Who, where and what. A key acts in its own project; a planted
        // pattern has its own actor and project; anyone else is a user of
        // the organisation whose role there grants the action.
        let use_key = planted == Some("rogue_use") || (planted.is_none() && r.chance(35));
        let key = use_key.then(|| r.pick(&KEYS));
        // (user, project): dave deletes in the project he runs; carol, a
        // MEMBER, makes herself OWNER of it; erin, a VIEWER, exports from
        // evals (the two actions no role of theirs grants); bob administers.
        let planted_user = match planted {
            Some("burst") => Some((3, 0)),
            Some("escalation") => Some((2, 0)),
            Some("viewer_export") => Some((4, 2)),
            Some("offhours" | "rogue_create") => Some((1, 0)),
            _ => None,
        };
        let (org_ix, project_ix) = match (key, planted_user) {
            _ if planted == Some("rogue_use") => (0, 0),
            (Some(k), _) => (k.2, k.3),
            (None, Some((u, p))) => (USERS[u].2, p),
            (None, None) => {
                let org = r.below(ORGS.len() as u64) as usize;
                (org, r.below(ORGS[org].projects.len() as u64) as usize)
            }
        };
        let org = &ORGS[org_ix];
        let (project_id, project_name) = org.projects[project_ix];
        let (rtype, action) = match planted {
            Some("burst") => ("trace", "delete"),
            Some("escalation") => ("projectMembership", "update"),
            Some("viewer_export") => ("batchExport", "create"),
            Some("offhours") => ("orgMembership", "update"),
            Some("rogue_create") => ("apiKey", "create"),
            Some("rogue_use") => (*r.pick(&["prompt", "dataset", "datasetItem"]), "update"),
            _ => {
                let (t, _, actions) = pick_resource(&mut r, use_key);
                (t, *r.pick(actions))
            }
        };
        let org_level = matches!(
            rtype,
            "organization"
                | "orgMembership"
                | "membershipInvitation"
                | "project"
                | "stripeCheckoutSession"
        );

        let (actor, ip, ua) = if let Some(k) = key {
            let (id, name, ip) = if planted == Some("rogue_use") {
                (ROGUE_KEY.0, ROGUE_KEY.1, ROGUE_IP)
            } else {
                (k.0, k.1, k.5)
            };
            let creator = USERS[k.4].0;
            let actor = Actor {
                actor_type: Some(ActorType::ApiKey),
                api_key_id: Some(id.into()),
                api_key_name: Some(name.into()),
                api_key_scope: Some("PROJECT".into()),
                api_key_scope_id: Some(project_id.into()),
                api_key_created_at: Some(Timestamp(START_MS - 30 * DAY_MS)),
                api_key_created_by: Some(creator.into()),
                ..Actor::default()
            };
            (
                actor,
                ip.to_string(),
                "abv-python/2.14.1 httpx/0.27".to_string(),
            )
        } else {
            let u = match planted_user {
                Some((u, _)) => u,
                None => pick_user(&mut r, org_ix, project_ix, rtype, action, !org_level),
            };
            let user = &USERS[u];
            let actor = Actor {
                actor_type: Some(ActorType::User),
                user_id: Some(user.0.into()),
                email: Some(user.1.into()),
                org_role: Some(user.3.into()),
                project_role: (!org_level).then(|| project_role(u, project_ix).into()),
                auth_method: Some(user.5.into()),
                ..Actor::default()
            };
            let ua = USER_AGENTS[(user.0.len() + user.1.len()) % USER_AGENTS.len()].to_string();
            (actor, user.4.to_string(), ua)
        };
        if planted == Some("offhours") {
            // Saturday 02:00-03:00 UTC of the same week.
            let week_start = START_MS + ((time - START_MS) / (7 * DAY_MS)) * 7 * DAY_MS;
            time = week_start + 5 * DAY_MS + 2 * 60 * MINUTE_MS + r.below(60) as i64 * MINUTE_MS;
        }
        let id = cuid(&mut r);
        let time = Timestamp(time);
        let (resource_id, resource_name, before, after) = states(
            &mut r, rtype, action, planted, project_id, org.id, time, &actor,
        );
        let mut e = Entry::new(&id, time, rtype, &resource_id, action);
        e.updated_at = Some(time);
        if org_level {
            e.project_id = None;
            e.project_name = None;
        } else {
            e.project_id = Some(project_id.into());
            e.project_name = Some(project_name.into());
        }
        e.actor = actor;
        e.resource_name = resource_name;
        e.before = before;
        e.after = after;
        e.org_id = Some(org.id.into());
        e.org_name = Some(org.name.into());
        e.ip_address = Some(ip);
        e.user_agent = Some(ua);
        e
    }
}

fn pick_resource(
    r: &mut Rng,
    by_key: bool,
) -> (&'static str, &'static str, &'static [&'static str]) {
    // Weighted: day-to-day resources often, administration rarely.
    let weight = |t: &str| -> u64 {
        match t {
            "trace" | "score" | "datasetItem" | "comment" | "annotationQueueItem" => 30,
            "prompt" | "dataset" | "session" | "scoreConfig" | "job" => 10,
            // A project key manages neither people nor keys.
            "organization"
            | "stripeCheckoutSession"
            | "project"
            | "orgMembership"
            | "membershipInvitation"
            | "projectMembership"
            | "apiKey" => {
                if by_key {
                    0
                } else {
                    2
                }
            }
            _ => 3,
        }
    };
    let total: u64 = RESOURCES.iter().map(|(t, _, _)| weight(t)).sum();
    let mut x = r.below(total);
    for (t, d, a) in RESOURCES {
        let w = weight(t);
        if x < w {
            return (t, d, a);
        }
        x -= w;
    }
    let (t, d, a) = RESOURCES[0];
    (t, d, a)
}

fn obj(pairs: Vec<(&str, Json)>) -> Json {
    Json::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect::<BTreeMap<_, _>>(),
    )
}

fn s(v: &str) -> Json {
    Json::String(v.to_string())
}

fn num(v: i64) -> Json {
    Json::Number(v.to_string())
}

/// A routine membership change: (role before, role after).
const ROUTINE_ROLE_CHANGES: [(&str, &str); 3] = [
    ("VIEWER", "MEMBER"),
    ("MEMBER", "VIEWER"),
    ("ADMIN", "MEMBER"),
];

#[allow(clippy::too_many_arguments)]
fn states(
    r: &mut Rng,
    rtype: &str,
    action: &str,
    planted: Option<&str>,
    project_id: &str,
    org_id: &str,
    time: Timestamp,
    actor: &Actor,
) -> (String, Option<String>, Option<Json>, Option<Json>) {
    let rid = cuid(r);
    let ts = s(&time.to_string());
    let created = s(&Timestamp(time.0 - (r.below(60) as i64 + 1) * DAY_MS).to_string());
    let by = actor
        .user_id
        .clone()
        .or(actor.api_key_id.clone())
        .unwrap_or_default();
    match rtype {
        "prompt" => {
            let names = [
                "support-answer",
                "triage-classifier",
                "summarize-ticket",
                "rag-answer",
                "tone-check",
            ];
            let name = *r.pick(&names);
            let version = 1 + ((time.0 - START_MS) / (3 * DAY_MS)) + r.below(3) as i64;
            let labels = |prod: bool| {
                let mut l = vec![s("latest")];
                if prod {
                    l.insert(0, s("production"));
                }
                Json::Array(l)
            };
            let state = |v: i64, prod: bool, temp: &str| {
                obj(vec![
                    ("id", s(&format!("{rid}{v}"))),
                    ("createdAt", created.clone()),
                    ("updatedAt", ts.clone()),
                    ("projectId", s(project_id)),
                    ("createdBy", s(&by)),
                    ("name", s(name)),
                    ("version", num(v)),
                    ("type", s("chat")),
                    ("isActive", Json::Bool(true)),
                    (
                        "prompt",
                        Json::Array(vec![
                            obj(vec![
                                ("role", s("system")),
                                (
                                    "content",
                                    s("You are a helpful support agent for {{product}}."),
                                ),
                            ]),
                            obj(vec![("role", s("user")), ("content", s("{{question}}"))]),
                        ]),
                    ),
                    (
                        "config",
                        obj(vec![
                            ("model", s("gpt-4o-mini")),
                            ("temperature", Json::Number(temp.into())),
                        ]),
                    ),
                    ("tags", Json::Array(vec![s("support")])),
                    ("labels", labels(prod)),
                    (
                        "commitMessage",
                        if v % 2 == 0 {
                            s("tighten tone")
                        } else {
                            Json::Null
                        },
                    ),
                ])
            };
            let (b, a) = match action {
                "create" => (None, Some(state(version, false, "0.2"))),
                "delete" => (Some(state(version, false, "0.2")), None),
                "updateTags" => (
                    Some(Json::Array(vec![s("support")])),
                    Some(Json::Array(vec![s("support"), s("v2")])),
                ),
                "setLabel" | "promote" => (
                    Some(state(version, false, "0.2")),
                    Some(state(version, true, "0.2")),
                ),
                _ => (
                    Some(state(version, false, "0.2")),
                    Some(state(version, false, "0.7")),
                ),
            };
            (format!("{name}:{version}"), Some(name.to_string()), b, a)
        }
        "promptProtectedLabel" => (rid, Some("production".into()), None, Some(s("production"))),
        "trace" | "session" => match action {
            "bookmark" | "publish" => (rid, None, None, Some(Json::Bool(true))),
            "updateTags" => (
                rid,
                None,
                Some(Json::Array(vec![s("triage")])),
                Some(Json::Array(vec![s("triage"), s("escalated")])),
            ),
            _ => (
                rid.clone(),
                None,
                Some(obj(vec![
                    ("id", s(&rid)),
                    ("name", s("chat-completion")),
                    ("projectId", s(project_id)),
                    ("timestamp", ts),
                ])),
                None,
            ),
        },
        "projectMembership" | "orgMembership" => {
            // Routine membership changes concern newcomers (the people the
            // invitations name), not the users whose roles the entries record.
            let newcomer = format!("clusernewhire{:012}", r.below(90));
            let user = newcomer.as_str();
            let (user, (from, to)) = match planted {
                // The actor makes themself owner.
                Some("escalation") => (by.as_str(), ("MEMBER", "OWNER")),
                Some("offhours") => (user, ("MEMBER", "ADMIN")),
                // Routine changes go both ways, and newcomers join as
                // members or viewers.
                _ => (user, *r.pick(&ROUTINE_ROLE_CHANGES)),
            };
            let state = |role: &str| {
                let mut m = vec![
                    ("userId", s(user)),
                    ("role", s(role)),
                    ("createdAt", created.clone()),
                    ("updatedAt", ts.clone()),
                ];
                if rtype == "projectMembership" {
                    m.push(("orgMembershipId", s(&format!("om{}", &rid[2..]))));
                    m.push(("projectId", s(project_id)));
                } else {
                    m.push(("id", s(&rid)));
                    m.push(("orgId", s(org_id)));
                }
                obj(m)
            };
            let rid_out = if rtype == "projectMembership" {
                format!("{project_id}--{user}")
            } else {
                rid.clone()
            };
            match action {
                "create" => (rid_out, None, None, Some(state(to))),
                "delete" => (rid_out, None, Some(state(from)), None),
                _ => (rid_out, None, Some(state(from)), Some(state(to))),
            }
        }
        "membershipInvitation" => {
            let st = obj(vec![
                ("id", s(&rid)),
                ("email", s(&format!("new.hire{}@acme.example", r.below(90)))),
                ("orgId", s(org_id)),
                ("orgRole", s("MEMBER")),
                ("projectId", Json::Null),
                ("projectRole", Json::Null),
                ("invitedByUserId", s(&by)),
                ("createdAt", ts.clone()),
                ("updatedAt", ts),
            ]);
            if action == "delete" {
                (rid, None, Some(st), None)
            } else {
                (rid, None, None, Some(st))
            }
        }
        "apiKey" => {
            let (id, note) = if planted == Some("rogue_create") {
                (ROGUE_KEY.0.to_string(), ROGUE_KEY.1)
            } else {
                (rid, "automation")
            };
            (id, Some(note.to_string()), None, None)
        }
        "llmApiKey" => {
            let st = obj(vec![
                ("id", s(&rid)),
                ("provider", s("openai")),
                ("adapter", s("openai")),
                ("displaySecretKey", s("...x9Qa")),
                ("secretKey", s("enc:v1:9f2c1e0b7a...")),
                ("extraHeaders", Json::Null),
                ("projectId", s(project_id)),
                ("createdAt", created),
            ]);
            if action == "delete" {
                (rid, Some("openai".into()), Some(st), None)
            } else {
                (rid, Some("openai".into()), None, Some(st))
            }
        }
        "score" | "scoreConfig" | "dataset" | "datasetItem" | "model" | "job"
        | "annotationQueue" => {
            let name = format!("{rtype}-{}", r.below(40));
            let state = |v: i64| {
                obj(vec![
                    ("id", s(&rid)),
                    ("name", s(&name)),
                    ("projectId", s(project_id)),
                    ("value", num(v)),
                    (
                        "metadata",
                        obj(vec![
                            ("source", s("ui")),
                            ("flags", Json::Array(vec![Json::Bool(v % 2 == 0)])),
                        ]),
                    ),
                    ("createdAt", created.clone()),
                    ("updatedAt", ts.clone()),
                ])
            };
            let v = r.below(100) as i64;
            match action {
                "create" => (rid.clone(), Some(name.clone()), None, Some(state(v))),
                "delete" => (rid.clone(), Some(name.clone()), Some(state(v)), None),
                _ => (
                    rid.clone(),
                    Some(name.clone()),
                    Some(state(v)),
                    Some(state(v + 1 + r.below(5) as i64)),
                ),
            }
        }
        _ => {
            let st = obj(vec![
                ("id", s(&rid)),
                ("projectId", s(project_id)),
                ("createdAt", created),
                ("updatedAt", ts),
            ]);
            match action {
                "delete" => (rid, None, Some(st), None),
                "create" | "complete" => (rid, None, None, Some(st)),
                _ => (rid, None, None, None),
            }
        }
    }
}

/// The platform export formats the generator writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlatformFormat {
    Json,
    Jsonl,
    Csv,
}

/// The platform row of an entry: the 15 standard columns, then the richer
/// "log entry structure" fields where present. `None` is the platform's null.
pub fn platform_row(e: &Entry) -> Vec<(&'static str, Option<String>)> {
    let a = &e.actor;
    let state = |j: &Option<Json>| j.as_ref().map(Json::to_canonical);
    let mut row: Vec<(&'static str, Option<String>)> = vec![
        ("id", Some(e.id.clone())),
        ("createdAt", Some(e.time.to_string())),
        ("updatedAt", e.updated_at.map(|t| t.to_string())),
        (
            "type",
            a.actor_type.as_ref().map(|t| t.as_str().to_string()),
        ),
        ("apiKeyId", a.api_key_id.clone()),
        ("userId", a.user_id.clone()),
        ("orgId", e.org_id.clone()),
        ("userOrgRole", a.org_role.clone()),
        ("projectId", e.project_id.clone()),
        ("userProjectRole", a.project_role.clone()),
        ("resourceType", Some(e.resource_type.clone())),
        ("resourceId", Some(e.resource_id.clone())),
        ("action", Some(e.action.clone())),
        ("before", state(&e.before)),
        ("after", state(&e.after)),
    ];
    debug_assert_eq!(
        row.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        PLATFORM_COLUMNS
    );
    let rich = [
        a.email.clone(),
        a.auth_method.clone(),
        a.api_key_name.clone(),
        a.api_key_scope.clone(),
        a.api_key_scope_id.clone(),
        a.api_key_created_at.map(|t| t.to_string()),
        a.api_key_created_by.clone(),
        e.org_name.clone(),
        e.project_name.clone(),
        e.resource_name.clone(),
        e.ip_address.clone(),
        e.user_agent.clone(),
    ];
    row.extend(PLATFORM_RICH_COLUMNS.iter().copied().zip(rich));
    row
}

/// Writes entries in the platform's export shape, newest first like the platform.
pub fn write_platform<W: Write>(sample: &Sample, format: PlatformFormat, out: W) -> io::Result<()> {
    let mut w = io::BufWriter::with_capacity(1 << 20, out);
    let mut line = String::new();
    // The platform profile has the real export's columns only.
    let width = match sample.profile {
        Profile::Rich => PLATFORM_COLUMNS.len() + PLATFORM_RICH_COLUMNS.len(),
        Profile::Platform => PLATFORM_COLUMNS.len(),
    };
    match format {
        PlatformFormat::Csv => {
            let mut c = csv::WriterBuilder::new()
                .quote_style(csv::QuoteStyle::Always)
                .from_writer(w);
            let header: Vec<&str> = PLATFORM_COLUMNS
                .iter()
                .chain(PLATFORM_RICH_COLUMNS.iter())
                .copied()
                .take(width)
                .collect();
            c.write_record(&header)?;
            for i in (0..sample.n).rev() {
                let row = platform_row(&sample.entry(i));
                c.write_record(
                    row.iter()
                        .take(width)
                        .map(|(_, v)| v.as_deref().unwrap_or("")),
                )?;
            }
            c.flush()?;
            return Ok(());
        }
        PlatformFormat::Json => w.write_all(b"[")?,
        PlatformFormat::Jsonl => {}
    }
    for (k, i) in (0..sample.n).rev().enumerate() {
        line.clear();
        if format == PlatformFormat::Json {
            line.push_str(if k == 0 { "\n" } else { ",\n" });
        }
        line.push('{');
        for (j, (key, v)) in platform_row(&sample.entry(i))
            .iter()
            .take(width)
            .enumerate()
        {
            if j > 0 {
                line.push(',');
            }
            write_canonical_string(key, &mut line);
            line.push(':');
            match v {
                Some(v) => write_canonical_string(v, &mut line),
                None => line.push_str("null"),
            }
        }
        line.push('}');
        if format == PlatformFormat::Jsonl {
            line.push('\n');
        }
        w.write_all(line.as_bytes())?;
    }
    if format == PlatformFormat::Json {
        w.write_all(b"\n]\n")?;
    }
    w.flush()
}

/// What `auditlens sample` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleFile {
    /// A sealed archive, made by ingesting the platform JSONL form like real data.
    Archive,
    Platform(PlatformFormat),
}

/// Writes `sample` to `out` through the one output path: never over
/// evidence, over anything else only when the user agreed, and staged so
/// that a failure leaves nothing at `out`.
pub fn write_file(
    sample: &Sample,
    what: SampleFile,
    out: &Destination,
    job: &Job,
) -> Result<(), String> {
    let mut output = Output::reading::<&Path>(&[]);
    let slot = output.add(out).map_err(|e| e.to_string())?;
    let failed = |e: io::Error| format!("cannot write {}: {e}", out.path.display());
    match what {
        SampleFile::Platform(format) => {
            let file = output.create(slot).map_err(|e| e.to_string())?;
            write_platform(sample, format, file).map_err(failed)?;
        }
        SampleFile::Archive => {
            let staged = output.staged_path(slot).map_err(|e| e.to_string())?;
            let folder = staged.parent().unwrap_or(Path::new("."));
            // The JSONL form is scratch, in the output's own staging folder.
            let scratch = tempfile::Builder::new()
                .suffix(".jsonl")
                .tempfile_in(folder)
                .map_err(failed)?;
            write_platform(sample, PlatformFormat::Jsonl, scratch.as_file()).map_err(failed)?;
            let files = [scratch.path().to_path_buf()];
            ingest::ingest(&staged, &files, &IngestOptions::default(), job)
                .map_err(|e| e.to_string())?;
        }
    }
    output.commit().map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::is_documented;

    #[test]
    fn platform_profile_is_shaped_like_the_real_export() {
        let s = Sample::new(5000, 3).with_profile(Profile::Platform);
        let entries: Vec<Entry> = (0..s.n).map(|i| s.entry(i)).collect();
        let sizes: u64 = entries
            .iter()
            .map(|e| e.canonical_record().len() as u64)
            .sum();
        let mean = sizes / s.n;
        assert!((500..=600).contains(&mean), "mean record {mean} B");
        for e in &entries {
            // cuids, and nothing the real export does not carry.
            assert!(e.id.len() == 25 && e.id.starts_with('c'), "{}", e.id);
            assert_eq!((&e.ip_address, &e.user_agent), (&None, &None));
            assert_eq!((&e.actor.email, &e.actor.api_key_name), (&None, &None));
            assert_eq!(
                (&e.org_name, &e.project_name, &e.resource_name),
                (&None, &None, &None)
            );
            assert!(e.org_id.is_some());
        }
        // Ids made later sort later (cuid v1), and none repeats.
        assert!(entries.windows(2).all(|w| w[0].id < w[1].id));
        let types: std::collections::HashSet<_> =
            entries.iter().map(|e| e.resource_type.as_str()).collect();
        assert!(types.len() >= 25, "{} resource types", types.len());
        assert!(types.contains("annotationQueueAssignment"));
        let keys = entries
            .iter()
            .filter(|e| e.actor.actor_type == Some(ActorType::ApiKey))
            .count();
        assert!((1000..2000).contains(&keys), "{keys} API-key rows");

        // The export has the platform's 15 columns, and reads back as the same entries.
        let mut jsonl = Vec::new();
        write_platform(&s, PlatformFormat::Jsonl, &mut jsonl).unwrap();
        let first = jsonl.split(|b| *b == b'\n').next().unwrap();
        let row = crate::json::parse(first).unwrap();
        let Json::Object(m) = row else {
            panic!("not an object")
        };
        assert_eq!(m.len(), PLATFORM_COLUMNS.len());
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.jsonl");
        std::fs::write(&input, &jsonl).unwrap();
        let archive = dir.path().join("a.sqlite");
        let rep =
            ingest::ingest(&archive, &[input], &IngestOptions::default(), &Job::new()).unwrap();
        assert_eq!(rep.added, s.n);
        let a = crate::archive::Archive::open(&archive).unwrap();
        let mut stored = Vec::new();
        a.for_each_record(|_, r| stored.push(r.to_vec())).unwrap();
        let want: Vec<Vec<u8>> = entries
            .iter()
            .map(|e| e.canonical_record().into_bytes())
            .collect();
        assert_eq!(stored, want);
    }

    /// The judgements of the platform's rules on every entry, as the scan
    /// makes them (a production label is protected): (seq, reason) of each
    /// entry not granted, and how many were granted.
    fn judged(s: &Sample) -> (Vec<(u64, String)>, u64) {
        let settings = crate::patterns::PatternSettings::default();
        let mut judge = authorization::Judge::default();
        let (mut refused, mut granted) = (Vec::new(), 0);
        for i in 0..s.n {
            let record = s.entry(i).canonical_record();
            let view = crate::record_view::RecordView::parse(record.as_bytes()).unwrap();
            let protected = crate::patterns::production_change(&view, &settings).is_some();
            match judge.observe(&view, protected) {
                authorization::Judgement::NotGranted(why) => refused.push((i, why)),
                authorization::Judgement::Granted => granted += 1,
                authorization::Judgement::CannotJudge(_) => {}
            }
        }
        (refused, granted)
    }

    #[test]
    fn actors_have_a_role_that_grants_the_action_but_the_planted_two() {
        let s = Sample::new(3000, 1);
        let (refused, granted) = judged(&s);
        let reasons: Vec<&str> = refused.iter().map(|(_, why)| why.as_str()).collect();
        assert_eq!(
            reasons,
            [
                "projectMembership update: MEMBER (recorded organisation role) does not grant \
                 organizationMembers:CUD; nor MEMBER (recorded project role) does not grant \
                 projectMembers:CUD",
                "batchExport create: VIEWER (recorded project role) does not grant batchExports:create",
            ]
        );
        let at: Vec<u64> = refused.iter().map(|(i, _)| *i).collect();
        assert_eq!(at, [s.at(ESCALATION_AT), s.at(VIEWER_EXPORT_AT)]);
        assert_eq!(
            s.entry(at[0]).actor.email.as_deref(),
            Some("carol@acme.example")
        );
        assert_eq!(
            s.entry(at[1]).actor.email.as_deref(),
            Some("erin@acme.example")
        );
        // Users still do most of the work, by every role that may.
        assert!(granted > 1500, "{granted} granted");
        let roles: std::collections::HashSet<_> = (0..s.n)
            .filter_map(|i| s.entry(i).actor.project_role)
            .collect();
        assert_eq!(roles.len(), 4, "{roles:?}");

        // The platform profile has no planted pattern: nothing is refused.
        let p = Sample::new(5000, 3).with_profile(Profile::Platform);
        let (refused, granted) = judged(&p);
        assert_eq!(refused, []);
        assert!(granted > 2500, "{granted} granted");
    }

    #[test]
    fn deterministic_and_covers_the_table() {
        let s = Sample::new(3000, 7);
        assert_eq!(s.entry(17), Sample::new(3000, 7).entry(17));
        assert_ne!(s.entry(17), Sample::new(3000, 8).entry(17));
        let entries: Vec<Entry> = (0..s.n).map(|i| s.entry(i)).collect();
        for (t, _, actions) in RESOURCES {
            for a in *actions {
                assert!(
                    entries
                        .iter()
                        .any(|e| e.resource_type == *t && e.action == *a),
                    "{t}/{a} missing"
                );
            }
        }
        assert!(
            entries
                .iter()
                .all(|e| is_documented(&e.resource_type, &e.action))
        );
        let ids: std::collections::HashSet<_> = entries.iter().map(|e| e.id.clone()).collect();
        assert_eq!(ids.len(), entries.len());
    }
}
