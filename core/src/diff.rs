//! Structural diff of two JSON states (before/after of an update), and the
//! line layout used to show each side with changed paths highlighted.

use std::collections::BTreeSet;

use crate::json::Json;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Changed,
    Added,
    Removed,
}

/// One difference: `path: old → new`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiffItem {
    pub path: String,
    pub change: Change,
    pub old: Option<String>,
    pub new: Option<String>,
}

impl DiffItem {
    pub fn text(&self) -> String {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(absent)".into());
        format!("{}: {} → {}", self.path, show(&self.old), show(&self.new))
    }
}

fn key_path(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    let part = if plain {
        key.to_string()
    } else {
        Json::String(key.to_string()).to_canonical()
    };
    if parent.is_empty() {
        part
    } else {
        format!("{parent}.{part}")
    }
}

fn index_path(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// A short one-line form of a value for the change list.
pub fn short(v: &Json) -> String {
    let s = v.to_canonical();
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(79).collect::<String>())
    } else {
        s
    }
}

/// Differences between `before` and `after`. Objects are compared key by key
/// and arrays index by index, recursively; the root path is shown as `(value)`.
pub fn diff(before: Option<&Json>, after: Option<&Json>) -> Vec<DiffItem> {
    let mut out = Vec::new();
    walk("", before, after, &mut out);
    for d in &mut out {
        if d.path.is_empty() {
            d.path = "(value)".into();
        }
    }
    out
}

fn walk(path: &str, a: Option<&Json>, b: Option<&Json>, out: &mut Vec<DiffItem>) {
    match (a, b) {
        (None, None) => {}
        (Some(a), None) => out.push(DiffItem {
            path: path.into(),
            change: Change::Removed,
            old: Some(short(a)),
            new: None,
        }),
        (None, Some(b)) => out.push(DiffItem {
            path: path.into(),
            change: Change::Added,
            old: None,
            new: Some(short(b)),
        }),
        (Some(Json::Object(x)), Some(Json::Object(y))) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                walk(&key_path(path, k), x.get(k), y.get(k), out);
            }
        }
        (Some(Json::Array(x)), Some(Json::Array(y))) => {
            for i in 0..x.len().max(y.len()) {
                walk(&index_path(path, i), x.get(i), y.get(i), out);
            }
        }
        (Some(a), Some(b)) => {
            if a != b {
                out.push(DiffItem {
                    path: path.into(),
                    change: Change::Changed,
                    old: Some(short(a)),
                    new: Some(short(b)),
                })
            }
        }
    }
}

/// One displayed line of a pretty-printed state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub text: String,
    pub mark: Option<Change>,
}

/// Lays out `v` as indented lines, marking the lines of the paths in `diff`
/// (and everything under an added or removed path). `side_before` picks
/// which changes concern this side.
pub fn lines(v: &Json, diff: &[DiffItem], side_before: bool) -> Vec<Line> {
    let mut out = Vec::new();
    let marks: Vec<(&str, Change)> = diff
        .iter()
        .filter(|d| match d.change {
            Change::Changed => true,
            Change::Removed => side_before,
            Change::Added => !side_before,
        })
        .map(|d| {
            (
                if d.path == "(value)" {
                    ""
                } else {
                    d.path.as_str()
                },
                d.change,
            )
        })
        .collect();
    layout(v, "", None, 0, None, &marks, &mut out, true);
    out
}

#[allow(clippy::too_many_arguments)]
fn layout(
    v: &Json,
    path: &str,
    key: Option<&str>,
    indent: usize,
    inherited: Option<Change>,
    marks: &[(&str, Change)],
    out: &mut Vec<Line>,
    last: bool,
) {
    let mark = inherited.or_else(|| marks.iter().find(|(p, _)| *p == path).map(|(_, c)| *c));
    // A changed container (e.g. object → array) marks everything under it.
    let pad = "  ".repeat(indent);
    let prefix = match key {
        Some(k) => format!("{pad}{}: ", Json::String(k.to_string()).to_canonical()),
        None => pad.clone(),
    };
    let comma = if last { "" } else { "," };
    match v {
        Json::Object(m) if !m.is_empty() => {
            out.push(Line {
                text: format!("{prefix}{{"),
                mark,
            });
            let n = m.len();
            for (i, (k, child)) in m.iter().enumerate() {
                layout(
                    child,
                    &key_path(path, k),
                    Some(k),
                    indent + 1,
                    mark,
                    marks,
                    out,
                    i + 1 == n,
                );
            }
            out.push(Line {
                text: format!("{pad}}}{comma}"),
                mark,
            });
        }
        Json::Array(items) if !items.is_empty() => {
            out.push(Line {
                text: format!("{prefix}["),
                mark,
            });
            let n = items.len();
            for (i, child) in items.iter().enumerate() {
                layout(
                    child,
                    &index_path(path, i),
                    None,
                    indent + 1,
                    mark,
                    marks,
                    out,
                    i + 1 == n,
                );
            }
            out.push(Line {
                text: format!("{pad}]{comma}"),
                mark,
            });
        }
        scalar => out.push(Line {
            text: format!("{prefix}{}{comma}", scalar.to_canonical()),
            mark,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(s: &str) -> Json {
        crate::json::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn nested_changes() {
        let a = j(r#"{"name":"p","config":{"temp":0.2,"tags":["a","b"]},"gone":1}"#);
        let b = j(r#"{"name":"p","config":{"temp":0.7,"tags":["a","c","d"]},"new":true}"#);
        let d: Vec<String> = diff(Some(&a), Some(&b))
            .iter()
            .map(DiffItem::text)
            .collect();
        assert_eq!(
            d,
            vec![
                "config.tags[1]: \"b\" → \"c\"",
                "config.tags[2]: (absent) → \"d\"",
                "config.temp: 0.2 → 0.7",
                "gone: 1 → (absent)",
                "new: (absent) → true",
            ]
        );
    }

    #[test]
    fn scalars() {
        let d = diff(Some(&j("true")), Some(&j(r#""production""#)));
        assert_eq!(d[0].text(), "(value): true → \"production\"");
        let l = lines(&j(r#"["a","b"]"#), &[], true);
        assert_eq!(l.len(), 4);
        let l = lines(&j("true"), &d, true);
        assert_eq!(
            l,
            vec![Line {
                text: "true".into(),
                mark: Some(Change::Changed)
            }]
        );
    }
}
