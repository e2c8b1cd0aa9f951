//! The filter as the person sets it in the filter panel: text as typed,
//! the time preset, the facet values ticked. [`FilterForm::to_filter`]
//! turns it into the core's [`Filter`].

use std::collections::BTreeSet;

use auditlens_core::filter::Filter;
use auditlens_core::model::ActorType;
use auditlens_core::time::Timestamp;

/// Which time range the filter shows, relative to the newest entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimePreset {
    All,
    Day,
    Week,
    Month,
    Custom,
}

impl TimePreset {
    pub const ALL: [TimePreset; 5] = [
        TimePreset::All,
        TimePreset::Day,
        TimePreset::Week,
        TimePreset::Month,
        TimePreset::Custom,
    ];

    pub fn label(self) -> &'static str {
        match self {
            TimePreset::All => "All",
            TimePreset::Day => "Last 24 h",
            TimePreset::Week => "Last 7 days",
            TimePreset::Month => "Last 30 days",
            TimePreset::Custom => "Custom",
        }
    }
}

/// What the filter panel edits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterForm {
    pub search: String,
    pub actor: String,
    pub preset: TimePreset,
    pub from: String,
    pub to: String,
    pub projects: BTreeSet<String>,
    pub actions: BTreeSet<String>,
    pub resource_types: BTreeSet<String>,
    pub actor_type: Option<String>,
}

impl Default for FilterForm {
    fn default() -> Self {
        FilterForm {
            search: String::new(),
            actor: String::new(),
            preset: TimePreset::All,
            from: String::new(),
            to: String::new(),
            projects: BTreeSet::new(),
            actions: BTreeSet::new(),
            resource_types: BTreeSet::new(),
            actor_type: None,
        }
    }
}

impl FilterForm {
    /// The core filter these settings stand for, and what is wrong with a
    /// typed time if anything; `newest` is the archive's newest entry time.
    pub fn to_filter(&self, newest: Option<i64>) -> (Filter, Option<String>) {
        let mut f = Filter::default();
        let mut err = None;
        let day = 86_400_000i64;
        let back = match self.preset {
            TimePreset::Day => Some(day),
            TimePreset::Week => Some(7 * day),
            TimePreset::Month => Some(30 * day),
            _ => None,
        };
        if let (Some(back), Some(newest)) = (back, newest) {
            // The newest entry itself is included: the range ends just after it.
            f.from = Some(Timestamp(newest + 1 - back));
            f.to = Some(Timestamp(newest + 1));
        }
        if self.preset == TimePreset::Custom {
            for (text, slot) in [(&self.from, &mut f.from), (&self.to, &mut f.to)] {
                if !text.trim().is_empty() {
                    match Timestamp::parse_bound(text) {
                        Ok(t) => *slot = Some(t),
                        Err(e) => err = Some(e),
                    }
                }
            }
        }
        f.projects = self.projects.iter().cloned().collect();
        f.actions = self.actions.iter().cloned().collect();
        f.resource_types = self.resource_types.iter().cloned().collect();
        f.actor_type = self.actor_type.as_deref().map(ActorType::parse);
        let actor = self.actor.trim();
        f.actor = (!actor.is_empty()).then(|| actor.to_string());
        f.search = (!self.search.is_empty()).then(|| self.search.clone());
        (f, err)
    }

    /// A custom time range `[from, to)`, as the timeline sets it.
    pub fn set_time_range(&mut self, from: i64, to: i64) {
        self.preset = TimePreset::Custom;
        self.from = Timestamp(from).to_string();
        self.to = Timestamp(to).to_string();
    }

    /// Every time again.
    pub fn clear_time_range(&mut self) {
        self.preset = TimePreset::All;
        self.from.clear();
        self.to.clear();
    }
}
