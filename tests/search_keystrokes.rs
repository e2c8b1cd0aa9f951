//! Keystrokes in Search, driven through egui_kittest: a search too short
//! for the search sidecar waits for a third character and says so (the
//! rows shown are those of the other filters, never a stale answer), and a
//! keystroke cancels the search in flight.

mod common;

use std::path::{Path, PathBuf};

use auditlens::app::egui;
use auditlens::app::rows::read_entry;
use auditlens::app::state::task;
use auditlens::app::text_index::TextIndex;
use auditlens::app::{NoDialogs, Viewer};
use auditlens_core::filter::Filter;
use common::viewer::wait_for;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

/// A copy of the sample archive (3,000 entries) in `dir`: the viewer
/// writes its search sidecar beside it.
fn sample_copy(dir: &Path) -> PathBuf {
    let path = dir.join("audit-sample.sqlite");
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-data/audit-sample.sqlite");
    std::fs::copy(src, &path).unwrap();
    path
}

/// The entries (by seq) that the core filter accepts for `search`.
fn matching(archive: &Path, search: &str) -> Vec<u64> {
    let a = auditlens_core::archive::Archive::open(archive).unwrap();
    let f = Filter {
        search: Some(search.into()),
        ..Filter::default()
    };
    (1..=a.count().unwrap())
        .filter(|&s| f.matches(&read_entry(&a, s).unwrap().entry))
        .collect()
}

fn shown(h: &Harness<'_, Viewer>) -> Vec<u64> {
    let s = &h.state().state;
    let ix = s.index().unwrap();
    let mut v: Vec<u64> = s.view.iter().map(|&p| ix.seq(p as usize)).collect();
    v.sort_unstable();
    v
}

/// Opened, the search sidecar built and everything settled.
fn opened(archive: &Path) -> Harness<'static, Viewer> {
    let mut h = common::viewer::open(archive.to_path_buf(), egui::vec2(1400.0, 900.0), NoDialogs);
    wait_for(&mut h, "open with the search sidecar", |v| {
        v.state.index().is_some_and(|i| i.complete)
            && v.state
                .doc
                .as_ref()
                .is_some_and(|d| matches!(d.search.as_deref(), Some(TextIndex::Sidecar(_))))
            && !v.state.busy()
            && v.state.settled()
    });
    h
}

#[test]
fn a_short_search_waits_for_a_third_character_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let archive = sample_copy(dir.path());
    let mut h = opened(&archive);
    // As on a large archive: more entries than a short search may read.
    h.state_mut().state.short_search_entries = 1_000;
    let search = || egui::accesskit::Role::TextInput;
    h.get_by_role_and_label(search(), "Search").click();
    h.run_steps(2);
    h.get_by_role_and_label(search(), "Search").type_text("sa");
    wait_for(&mut h, "two characters", |v| {
        v.state.filter.search == "sa" && v.state.settled()
    });
    assert_eq!(h.state().state.search_waits, Some(3_000));
    // Every entry (the other filters pass them all), and the words saying
    // that the search is not applied, beside the count and under the box.
    assert_eq!(h.state().state.view.len(), 3_000);
    h.get_by_label("Type 3 or more characters to search 3,000 entries");
    h.get_by_label_contains("search not applied");
    assert!(!h.state().state.tasks.is_running(task::FILTER));

    // The third character searches.
    h.get_by_role_and_label(search(), "Search").type_text("f");
    wait_for(&mut h, "three characters", |v| {
        v.state.filter.search == "saf" && v.state.settled()
    });
    assert_eq!(h.state().state.search_waits, None);
    let want = matching(&archive, "saf");
    assert!(!want.is_empty() && want.len() < 3_000, "{}", want.len());
    assert_eq!(shown(&h), want);
    assert!(h.query_by_label_contains("search not applied").is_none());

    // Back to two: waiting again, not the rows of "saf".
    h.key_press(egui::Key::Backspace);
    wait_for(&mut h, "back to two", |v| {
        v.state.filter.search == "sa" && v.state.settled()
    });
    assert_eq!(h.state().state.search_waits, Some(3_000));
    assert_eq!(h.state().state.view.len(), 3_000);

    // Under the limit, a short search reads the records.
    h.state_mut().state.short_search_entries = 100_000;
    h.state_mut().state.filter.search = "ro".into();
    wait_for(&mut h, "short search under the limit", |v| {
        v.state.filter.search == "ro" && v.state.settled()
    });
    assert_eq!(h.state().state.search_waits, None);
    assert_eq!(shown(&h), matching(&archive, "ro"));
}

#[test]
fn a_keystroke_cancels_the_search_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let archive = sample_copy(dir.path());
    let mut h = opened(&archive);
    // A search the sidecar narrows and the records decide: on a worker.
    h.state_mut().state.filter.search = "Safari".into();
    h.state_mut().state.refresh_view();
    let first = h
        .state()
        .state
        .tasks
        .running(task::FILTER)
        .next()
        .cloned()
        .expect("the search runs on a worker");
    assert!(!first.is_cancelled());
    // The next keystroke, before that search has been taken in.
    h.state_mut().state.filter.search = "Safari/605".into();
    h.state_mut().state.refresh_view();
    assert!(first.is_cancelled(), "the search in flight goes on");
    wait_for(&mut h, "the second search", |v| {
        v.state.filter.search == "Safari/605" && v.state.settled()
    });
    let want = matching(&archive, "Safari/605");
    assert!(!want.is_empty());
    assert_eq!(shown(&h), want);
}
