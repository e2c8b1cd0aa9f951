//! What the viewer remembers between runs (eframe persists it), kept apart
//! from the runtime state: recent files, theme, time zone, sort and the
//! verifier keys.

use std::path::PathBuf;

use auditlens_core::note::VerifierKey;
use auditlens_core::row_index::SortKey;

/// The key under which eframe stores [`Settings`].
pub const SETTINGS_KEY: &str = "auditlens-settings";

/// How many recent files the Recent menu keeps.
const RECENT_FILES: usize = 10;

/// How many search sidecars the viewer remembers (and so trusts).
const SEARCH_INDEXES: usize = 32;

/// Settings kept between runs.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Settings {
    pub recent: Vec<PathBuf>,
    pub dark: bool,
    pub local_time: bool,
    pub sort: SortKey,
    pub sort_desc: bool,
    /// Verifier keys (the text of `auditlens keygen`'s KEY.pub) that
    /// checkpoint signatures are checked against.
    pub verifier_keys: Vec<String>,
    /// The search sidecars this viewer built (path, SHA-256 of the file),
    /// newest first: a sidecar is used only while it is that very file, so
    /// one edited or put there by someone else can hide no entry.
    pub search_indexes: Vec<(PathBuf, String)>,
}

impl Settings {
    /// The verifier keys that still parse (a hand-edited setting may not).
    pub fn keys(&self) -> Vec<VerifierKey> {
        self.verifier_keys
            .iter()
            .filter_map(|k| VerifierKey::parse(k).ok())
            .collect()
    }

    /// Puts `path` first in the recent files.
    pub fn remember(&mut self, path: &std::path::Path) {
        self.recent.retain(|p| p != path);
        self.recent.insert(0, path.to_path_buf());
        self.recent.truncate(RECENT_FILES);
    }

    /// The SHA-256 of the search sidecar this viewer built at `path`, if any.
    pub fn trusted_search_index(&self, path: &std::path::Path) -> Option<String> {
        self.search_indexes
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, d)| d.clone())
    }

    /// Remembers the search sidecar just built at `path` (the last few).
    pub fn trust_search_index(&mut self, path: PathBuf, digest: String) {
        self.search_indexes.retain(|(p, _)| *p != path);
        self.search_indexes.insert(0, (path, digest));
        self.search_indexes.truncate(SEARCH_INDEXES);
    }

    /// A click on a column header: that column, ascending; again, descending.
    pub fn sort_by(&mut self, key: SortKey) {
        if self.sort == key {
            self.sort_desc = !self.sort_desc;
        } else {
            self.sort = key;
            self.sort_desc = false;
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            recent: Vec::new(),
            dark: true,
            local_time: false,
            sort: SortKey::Seq,
            sort_desc: false,
            verifier_keys: Vec::new(),
            search_indexes: Vec::new(),
        }
    }
}
