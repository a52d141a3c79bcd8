//! JSON shapes and their differences: which keys an object has, which type each value is, and
//! which members of an enum were seen. Arrays compare by the union shape of their elements, so a
//! recording with 120 rows and a replay with 119 compare alike; values compare only where they
//! are enum members.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value;

use super::redact::REDACTED;
use crate::model::key_tables::PROJECT_NO_YES_PROPERTIES;
use crate::snapshot::REDACTED as SNAPSHOT_REDACTED;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl Kind {
    fn of(v: &Value) -> Kind {
        match v {
            Value::Null => Kind::Null,
            Value::Bool(_) => Kind::Bool,
            Value::Number(_) => Kind::Number,
            Value::String(_) => Kind::String,
            Value::Array(_) => Kind::Array,
            Value::Object(_) => Kind::Object,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool => "bool",
            Kind::Number => "number",
            Kind::String => "string",
            Kind::Array => "array",
            Kind::Object => "object",
        }
    }
}

/// Members whose string values are enum members in the services dwlink reads, so a value the
/// emulator never serves is a difference: the F&O project configuration's `Status` and its
/// `NoYes` properties ([`PROJECT_NO_YES_PROPERTIES`], served as member names), and the management
/// service's numeric-string `state`/`status`/`action` and `targetType` (DWA `DWEnums.cs`). Any
/// other string compares by type only: names, ids and timestamps differ between any two worlds.
pub const ENUM_KEYS: [&str; 5] = ["Status", "state", "status", "action", "targetType"];

pub fn is_enum_key(key: &str) -> bool {
    ENUM_KEYS.contains(&key) || PROJECT_NO_YES_PROPERTIES.contains(&key)
}

fn is_redacted(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s == REDACTED || s == SNAPSHOT_REDACTED || s.contains(REDACTED))
}

/// The union of the values seen at one place of a document.
#[derive(Debug, Clone, Default)]
struct Shape {
    kinds: BTreeSet<Kind>,
    /// Object members, over every object seen here.
    fields: BTreeMap<String, Shape>,
    /// Array elements, over every array seen here; `None` when every array was empty.
    items: Option<Box<Shape>>,
    /// String values, kept only under an [`is_enum_key`] member.
    members: BTreeSet<String>,
    /// Only redacted values were seen: matches anything.
    redacted: bool,
}

impl Shape {
    fn add(&mut self, v: &Value, enum_key: bool) {
        if is_redacted(v) {
            if self.kinds.is_empty() {
                self.redacted = true;
            }
            return;
        }
        self.redacted = false;
        self.kinds.insert(Kind::of(v));
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    let is_enum = is_enum_key(k);
                    self.fields
                        .entry(k.clone())
                        .or_default()
                        .add(child, is_enum);
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.items
                        .get_or_insert_with(Box::default)
                        .add(item, enum_key);
                }
            }
            Value::String(s) if enum_key => {
                self.members.insert(s.clone());
            }
            _ => {}
        }
    }

    fn of(v: &Value) -> Shape {
        let mut s = Shape::default();
        s.add(v, false);
        s
    }

    fn kinds(&self) -> String {
        self.kinds
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join("|")
    }
}

/// One difference: where (`$.value[].Status`), and what each side has there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub path: String,
    pub recorded: String,
    pub emulator: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: recorded {}, emulator {}",
            self.path, self.recorded, self.emulator
        )
    }
}

/// A member name as a path step: `.name`, or `["odd name"]` when it is not an identifier.
pub fn step(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '@' | '$'))
        && !key.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        format!("{path}.{key}")
    } else {
        format!("{path}[{}]", Value::String(key.into()))
    }
}

/// Every difference between the recorded document and the emulator's, in document order.
pub fn compare(recorded: &Value, emulator: &Value) -> Vec<Difference> {
    compare_at_most(recorded, emulator, usize::MAX).0
}

/// The first `max` differences, and how many there are in all: a reply of two million members
/// must not become two million lines.
pub fn compare_at_most(recorded: &Value, emulator: &Value, max: usize) -> (Vec<Difference>, usize) {
    let mut out = Found {
        kept: Vec::new(),
        total: 0,
        max,
    };
    diff("$", &Shape::of(recorded), &Shape::of(emulator), &mut out);
    (out.kept, out.total)
}

struct Found {
    kept: Vec<Difference>,
    total: usize,
    max: usize,
}

impl Found {
    fn push(&mut self, d: Difference) {
        self.total += 1;
        if self.kept.len() < self.max {
            self.kept.push(d);
        }
    }
}

static EMPTY: BTreeMap<String, Shape> = BTreeMap::new();

fn diff(path: &str, rec: &Shape, emu: &Shape, out: &mut Found) {
    if rec.redacted || emu.redacted {
        return;
    }
    if rec.kinds != emu.kinds {
        out.push(Difference {
            path: path.into(),
            recorded: rec.kinds(),
            emulator: emu.kinds(),
        });
    }
    // Members and elements compare where both sides had an object (an array): a type difference
    // already says the rest.
    let both = |k: Kind| rec.kinds.contains(&k) && emu.kinds.contains(&k);
    let fields = if both(Kind::Object) {
        (&rec.fields, &emu.fields)
    } else {
        (&EMPTY, &EMPTY)
    };
    for (k, r) in fields.0 {
        let at = step(path, k);
        match fields.1.get(k) {
            Some(e) => diff(&at, r, e, out),
            None => out.push(Difference {
                path: at,
                recorded: format!("present ({})", r.kinds_or_redacted()),
                emulator: "missing".into(),
            }),
        }
    }
    for (k, e) in fields.1 {
        if !fields.0.contains_key(k) {
            out.push(Difference {
                path: step(path, k),
                recorded: "missing".into(),
                emulator: format!("present ({})", e.kinds_or_redacted()),
            });
        }
    }
    if let (Some(r), Some(e), true) = (&rec.items, &emu.items, both(Kind::Array)) {
        diff(&format!("{path}[]"), r, e, out);
    }
    let only = |a: &BTreeSet<String>, b: &BTreeSet<String>| {
        a.difference(b)
            .map(|m| Value::String(m.clone()).to_string())
            .collect::<Vec<_>>()
    };
    let (r_only, e_only) = (
        only(&rec.members, &emu.members),
        only(&emu.members, &rec.members),
    );
    if !r_only.is_empty() || !e_only.is_empty() {
        let side = |v: Vec<String>| {
            if v.is_empty() {
                "no other member".to_string()
            } else {
                format!("member {}", v.join(", "))
            }
        };
        out.push(Difference {
            path: path.into(),
            recorded: side(r_only),
            emulator: side(e_only),
        });
    }
}

impl Shape {
    fn kinds_or_redacted(&self) -> String {
        if self.redacted {
            "redacted".into()
        } else {
            self.kinds()
        }
    }
}

fn is_guid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Ids the service generated: GUID strings at the same place of both documents (objects by
/// member, arrays by position when both have as many elements) that differ, recorded → replayed.
/// A replay sends later requests with these substituted, so a polled request id or a created
/// row's id names what the emulator made, not what the recorded service made.
pub fn generated_ids(recorded: &Value, emulator: &Value, into: &mut BTreeMap<String, String>) {
    match (recorded, emulator) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                if let Some(w) = b.get(k) {
                    generated_ids(v, w, into);
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (v, w) in a.iter().zip(b) {
                generated_ids(v, w, into);
            }
        }
        (Value::String(a), Value::String(b)) if a != b && is_guid(a) && is_guid(b) => {
            into.entry(a.clone()).or_insert_with(|| b.clone());
            // An id also travels without its hyphens inside other names (a map's project
            // name, which `Refresh` takes in its path).
            into.entry(a.replace('-', ""))
                .or_insert_with(|| b.replace('-', ""));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lines(a: Value, b: Value) -> Vec<String> {
        compare(&a, &b).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn same_shape_different_values_and_counts_is_no_difference() {
        let a = json!({"value": [{"Name": "a", "N": 1}, {"Name": "b", "N": 2}], "@odata.nextLink": "x"});
        let b = json!({"value": [{"Name": "z", "N": 9}], "@odata.nextLink": "y"});
        assert!(lines(a, b).is_empty());
    }

    #[test]
    fn types_keys_and_arrays_are_reported_with_their_path() {
        let a = json!({"value": [{"ExternalEnvironmentUrl": "https://x", "Gone": 1, "odd key": true}], "o": {"a": 1}});
        let b = json!({"value": [{"ExternalEnvironmentUrl": 5, "New": null, "odd key": true}], "o": [1]});
        assert_eq!(
            lines(a, b),
            vec![
                "$.o: recorded object, emulator array",
                "$.value[].ExternalEnvironmentUrl: recorded string, emulator number",
                "$.value[].Gone: recorded present (number), emulator missing",
                "$.value[].New: recorded missing, emulator present (null)",
            ]
        );
    }

    #[test]
    fn generated_ids_pair_up_by_place() {
        let a = json!({"requestId": "067cdabd-cea8-4223-b687-27238f3de127", "same": "00000000-0000-0000-0000-000000000001", "n": ["x"]});
        let b = json!({"requestId": "3b1233d0-2eb0-47e1-b69e-980542644a8f", "same": "00000000-0000-0000-0000-000000000001", "n": ["y"]});
        let mut ids = BTreeMap::new();
        generated_ids(&a, &b, &mut ids);
        assert_eq!(ids.len(), 2);
        assert_eq!(
            ids["067cdabd-cea8-4223-b687-27238f3de127"],
            "3b1233d0-2eb0-47e1-b69e-980542644a8f"
        );
        // Also without hyphens, as a project name carries it.
        assert_eq!(
            ids["067cdabdcea84223b68727238f3de127"],
            "3b1233d02eb047e1b69e980542644a8f"
        );
    }

    #[test]
    fn enum_members_and_redacted_values() {
        let a = json!({"value": [{"Status": "Enabled", "Key": "[redacted]", "Name": "a"}]});
        let b = json!({"value": [{"Status": "Disabled", "Key": {"k": 1}, "Name": "b"}]});
        assert_eq!(
            lines(a, b),
            vec!["$.value[].Status: recorded member \"Enabled\", emulator member \"Disabled\""]
        );
        assert_eq!(step("$", "a b"), "$[\"a b\"]");
        assert_eq!(step("$", "@odata.context"), "$[\"@odata.context\"]");
    }
}
