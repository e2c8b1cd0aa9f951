//! RFC 6902 JSON Patch: the change an update made, turned around, so that an
//! investigator can roll a resource back ("review before/after states … and
//! roll back if needed", the platform guide's use case).
//!
//! [`restore_patch`] builds the patch that, applied to an update's after
//! state, gives its before state; [`apply`] applies a patch (add, remove,
//! replace, move, copy, test), so the patch offered is checked before anyone
//! copies it. Paths are RFC 6901 JSON Pointers: `~` is written `~0` and `/`
//! is written `~1` inside a key.
//!
//! Nothing here touches a record: the patch is text for the clipboard or
//! standard output, to be applied to the live system by its owner.

use std::collections::BTreeMap;

use crate::json::Json;

/// One key or index as a JSON Pointer reference token (RFC 6901, section 3).
pub fn escape_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// A JSON Pointer's reference tokens, unescaped (`""` is the whole document).
pub fn parse_pointer(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(format!("JSON Pointer {pointer:?} must start with \"/\""));
    };
    rest.split('/')
        .map(|t| {
            // "~" must be followed by 0 or 1 (RFC 6901, section 3).
            let mut out = String::with_capacity(t.len());
            let mut chars = t.chars();
            while let Some(c) = chars.next() {
                if c == '~' {
                    match chars.next() {
                        Some('0') => out.push('~'),
                        Some('1') => out.push('/'),
                        _ => {
                            return Err(format!(
                                "JSON Pointer {pointer:?}: \"~\" not followed by 0 or 1"
                            ));
                        }
                    }
                } else {
                    out.push(c);
                }
            }
            Ok(out)
        })
        .collect()
}

fn op(name: &str, path: &str, value: Option<&Json>) -> Json {
    let mut m = BTreeMap::new();
    m.insert("op".to_string(), Json::String(name.to_string()));
    m.insert("path".to_string(), Json::String(path.to_string()));
    if let Some(v) = value {
        m.insert("value".to_string(), v.clone());
    }
    Json::Object(m)
}

/// Why no restoring patch can be given for an entry's states.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoPatch {
    /// No before state: the action created the resource (or the platform
    /// stored `false`, `0` or `""` as null); undoing it is deleting it.
    NoBefore,
    /// No after state: the action deleted the resource; the before state is
    /// what to recreate.
    NoAfter,
}

impl std::fmt::Display for NoPatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NoPatch::NoBefore => {
                "the entry has no before state (a create, or a value the platform stored as null): \
                 there is nothing to patch back to"
            }
            NoPatch::NoAfter => {
                "the entry has no after state (a delete): copy the before state to recreate the resource"
            }
        })
    }
}

/// The patch that turns `after` back into `before`: a JSON array of
/// operations. Objects are compared key by key and arrays index by index;
/// an array that grew loses its tail from the end, one that shrank gets its
/// items back in order, so every path is valid when its operation runs.
pub fn restore_patch(before: Option<&Json>, after: Option<&Json>) -> Result<Json, NoPatch> {
    let before = before.ok_or(NoPatch::NoBefore)?;
    let after = after.ok_or(NoPatch::NoAfter)?;
    let mut ops = Vec::new();
    walk("", after, before, &mut ops);
    Ok(Json::Array(ops))
}

/// Operations that turn `from` into `to` at `path`.
fn walk(path: &str, from: &Json, to: &Json, ops: &mut Vec<Json>) {
    match (from, to) {
        (Json::Object(a), Json::Object(b)) => {
            for (k, v) in a {
                let p = format!("{path}/{}", escape_token(k));
                match b.get(k) {
                    Some(w) => walk(&p, v, w, ops),
                    None => ops.push(op("remove", &p, None)),
                }
            }
            for (k, w) in b {
                if !a.contains_key(k) {
                    ops.push(op("add", &format!("{path}/{}", escape_token(k)), Some(w)));
                }
            }
        }
        (Json::Array(a), Json::Array(b)) => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                walk(&format!("{path}/{i}"), v, w, ops);
            }
            for i in (b.len()..a.len()).rev() {
                ops.push(op("remove", &format!("{path}/{i}"), None));
            }
            for (i, w) in b.iter().enumerate().skip(a.len()) {
                ops.push(op("add", &format!("{path}/{i}"), Some(w)));
            }
        }
        (a, b) if a == b => {}
        (_, b) => ops.push(op("replace", path, Some(b))),
    }
}

/// Applies an RFC 6902 patch to `doc`. The whole patch applies or none of
/// it does (RFC 6902, section 5): the result is a new value.
pub fn apply(doc: &Json, patch: &Json) -> Result<Json, String> {
    let Json::Array(ops) = patch else {
        return Err(format!(
            "a JSON Patch is an array of operations, not {}",
            patch.kind()
        ));
    };
    let mut doc = doc.clone();
    for (n, o) in ops.iter().enumerate() {
        apply_one(&mut doc, o).map_err(|e| format!("operation {n}: {e}"))?;
    }
    Ok(doc)
}

fn apply_one(doc: &mut Json, o: &Json) -> Result<(), String> {
    let field = |k: &str| o.get(k).ok_or_else(|| format!("no \"{k}\""));
    let text = |k: &str| {
        field(k)?
            .as_str()
            .ok_or_else(|| format!("\"{k}\" is not a string"))
    };
    let name = text("op")?;
    let path = parse_pointer(text("path")?)?;
    match name {
        "add" => add(doc, &path, field("value")?.clone()),
        "remove" => remove(doc, &path).map(drop),
        "replace" => {
            let v = field("value")?.clone();
            *target(doc, &path)? = v;
            Ok(())
        }
        "move" => {
            let from = parse_pointer(text("from")?)?;
            if path.len() > from.len() && path[..from.len()] == from[..] {
                return Err("cannot move a value into itself".into());
            }
            let v = remove(doc, &from)?;
            add(doc, &path, v)
        }
        "copy" => {
            let v = target(doc, &parse_pointer(text("from")?)?)?.clone();
            add(doc, &path, v)
        }
        "test" => {
            if *target(doc, &path)? == *field("value")? {
                Ok(())
            } else {
                Err("test failed: the value differs".into())
            }
        }
        other => Err(format!("unknown operation {other:?}")),
    }
}

/// An array index token: digits without a leading zero (RFC 6901, section 4).
fn index(token: &str, len: usize, allow_end: bool) -> Result<usize, String> {
    let ok = !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_digit())
        && (token == "0" || !token.starts_with('0'));
    let i = if ok {
        token.parse::<usize>().ok()
    } else {
        None
    };
    match i {
        Some(i) if i < len || (allow_end && i == len) => Ok(i),
        _ if allow_end && token == "-" => Ok(len),
        _ => Err(format!(
            "array index {token:?} is out of range (length {len})"
        )),
    }
}

fn target<'a>(doc: &'a mut Json, path: &[String]) -> Result<&'a mut Json, String> {
    let mut cur = doc;
    for t in path {
        cur = match cur {
            Json::Object(m) => m.get_mut(t).ok_or_else(|| format!("no member {t:?}"))?,
            Json::Array(a) => {
                let i = index(t, a.len(), false)?;
                &mut a[i]
            }
            other => return Err(format!("{t:?} is inside {}", other.kind())),
        };
    }
    Ok(cur)
}

fn add(doc: &mut Json, path: &[String], v: Json) -> Result<(), String> {
    let Some((last, parent)) = path.split_last() else {
        *doc = v;
        return Ok(());
    };
    match target(doc, parent)? {
        Json::Object(m) => {
            m.insert(last.clone(), v);
            Ok(())
        }
        Json::Array(a) => {
            let i = index(last, a.len(), true)?;
            a.insert(i, v);
            Ok(())
        }
        other => Err(format!("cannot add {last:?} to {}", other.kind())),
    }
}

fn remove(doc: &mut Json, path: &[String]) -> Result<Json, String> {
    let Some((last, parent)) = path.split_last() else {
        return Err("cannot remove the whole document".into());
    };
    match target(doc, parent)? {
        Json::Object(m) => m.remove(last).ok_or_else(|| format!("no member {last:?}")),
        Json::Array(a) => {
            let i = index(last, a.len(), false)?;
            Ok(a.remove(i))
        }
        other => Err(format!("cannot remove {last:?} from {}", other.kind())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(s: &str) -> Json {
        crate::json::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn pointer_escaping() {
        assert_eq!(escape_token("a/b~c"), "a~1b~0c");
        assert_eq!(parse_pointer("/a~1b~0c/0").unwrap(), vec!["a/b~c", "0"]);
        // "~01" is "~1" unescaped once, never "/".
        assert_eq!(parse_pointer("/~01").unwrap(), vec!["~1"]);
        assert!(parse_pointer("/a~2").is_err());
        assert!(parse_pointer("a").is_err());
    }

    /// The examples of RFC 6902, appendix A, that this applier must agree with.
    #[test]
    fn rfc_6902_examples() {
        let cases = [
            (
                r#"{"foo":"bar"}"#,
                r#"[{"op":"add","path":"/baz","value":"qux"}]"#,
                r#"{"baz":"qux","foo":"bar"}"#,
            ),
            (
                r#"{"foo":["bar","baz"]}"#,
                r#"[{"op":"add","path":"/foo/1","value":"qux"}]"#,
                r#"{"foo":["bar","qux","baz"]}"#,
            ),
            (
                r#"{"baz":"qux","foo":"bar"}"#,
                r#"[{"op":"remove","path":"/baz"}]"#,
                r#"{"foo":"bar"}"#,
            ),
            (
                r#"{"foo":["bar","qux","baz"]}"#,
                r#"[{"op":"remove","path":"/foo/1"}]"#,
                r#"{"foo":["bar","baz"]}"#,
            ),
            (
                r#"{"baz":"qux","foo":"bar"}"#,
                r#"[{"op":"replace","path":"/baz","value":"boo"}]"#,
                r#"{"baz":"boo","foo":"bar"}"#,
            ),
            (
                r#"{"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}"#,
                r#"[{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]"#,
                r#"{"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}"#,
            ),
            (
                r#"{"foo":["all","grass","cows","eat"]}"#,
                r#"[{"op":"move","from":"/foo/1","path":"/foo/3"}]"#,
                r#"{"foo":["all","cows","eat","grass"]}"#,
            ),
            (
                r#"{"foo":["bar"]}"#,
                r#"[{"op":"add","path":"/foo/-","value":["abc","def"]}]"#,
                r#"{"foo":["bar",["abc","def"]]}"#,
            ),
            (
                r#"{"/":9,"~1":10}"#,
                r#"[{"op":"test","path":"/~01","value":10}]"#,
                r#"{"/":9,"~1":10}"#,
            ),
        ];
        for (doc, patch, want) in cases {
            assert_eq!(apply(&j(doc), &j(patch)), Ok(j(want)), "{patch}");
        }
        // Errors leave nothing half-applied, and say which operation failed.
        let e = apply(
            &j(r#"{"foo":"bar"}"#),
            &j(r#"[{"op":"add","path":"/baz/bat","value":"qux"}]"#),
        );
        assert!(e.unwrap_err().starts_with("operation 0:"));
        assert!(
            apply(
                &j(r#"{"baz":"qux"}"#),
                &j(r#"[{"op":"test","path":"/baz","value":"bar"}]"#)
            )
            .is_err()
        );
        assert!(apply(&j(r#"[1]"#), &j(r#"[{"op":"remove","path":"/01"}]"#)).is_err());
        assert!(apply(&j("{}"), &j(r#"{"op":"add"}"#)).is_err());
    }

    #[test]
    fn restore_a_prompt_update() {
        let before = j(r#"{"a/b":1,"labels":["production","latest"],"n":{"x":1},"t":"old"}"#);
        let after = j(r#"{"a/b":2,"labels":["latest"],"n":[1],"new~":true,"t":"old"}"#);
        let p = restore_patch(Some(&before), Some(&after)).unwrap();
        assert_eq!(
            p.to_canonical(),
            r#"[{"op":"replace","path":"/a~1b","value":1},{"op":"replace","path":"/labels/0","value":"production"},{"op":"add","path":"/labels/1","value":"latest"},{"op":"replace","path":"/n","value":{"x":1}},{"op":"remove","path":"/new~0"}]"#
        );
        assert_eq!(apply(&after, &p), Ok(before.clone()));
        // Equal states: an empty patch.
        assert_eq!(
            restore_patch(Some(&before), Some(&before)),
            Ok(Json::Array(vec![]))
        );
        // A scalar state is replaced whole.
        let p = restore_patch(Some(&j("true")), Some(&j(r#""x""#))).unwrap();
        assert_eq!(
            p.to_canonical(),
            r#"[{"op":"replace","path":"","value":true}]"#
        );
        assert_eq!(restore_patch(None, Some(&before)), Err(NoPatch::NoBefore));
        assert_eq!(restore_patch(Some(&before), None), Err(NoPatch::NoAfter));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Keys from a small set, so that two states share many of them,
        /// including the ones JSON Pointer escapes (`/`, `~`, `~1`) and "".
        fn key() -> impl Strategy<Value = String> {
            prop::sample::select(vec!["a", "b", "a/b", "~", "~1", "/", "", "0", "-"])
                .prop_map(str::to_string)
        }

        fn state() -> impl Strategy<Value = Json> {
            let leaf = prop_oneof![
                Just(Json::Null),
                any::<bool>().prop_map(Json::Bool),
                (-3i64..3).prop_map(|n| Json::Number(n.to_string())),
                prop::sample::select(vec!["x", "y", "~0", "a/b"])
                    .prop_map(|s| Json::String(s.into())),
            ];
            leaf.prop_recursive(4, 48, 5, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..5).prop_map(Json::Array),
                    prop::collection::btree_map(key(), inner, 0..5).prop_map(Json::Object),
                ]
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            /// Applying the restoring patch to the after state gives the before state.
            #[test]
            fn patch_restores_before(before in state(), after in state()) {
                let p = restore_patch(Some(&before), Some(&after)).unwrap();
                prop_assert_eq!(apply(&after, &p), Ok(before.clone()));
            }

            /// Objects on both sides (the usual update): the patch never
            /// replaces the whole state, only what changed.
            #[test]
            fn object_patch_is_local(
                before in prop::collection::btree_map(key(), state(), 0..6),
                after in prop::collection::btree_map(key(), state(), 0..6),
            ) {
                let (b, a) = (Json::Object(before), Json::Object(after));
                let p = restore_patch(Some(&b), Some(&a)).unwrap();
                let Json::Array(ops) = &p else { unreachable!() };
                prop_assert!(ops.iter().all(|o| o.get("path") != Some(&Json::String(String::new()))));
                prop_assert_eq!(ops.is_empty(), a == b);
                prop_assert_eq!(apply(&a, &p), Ok(b));
            }
        }
    }
}
