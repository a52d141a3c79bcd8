//! The JSON Schema generated from the raw types, and the structural check that reports every
//! schema violation at once with a span (serde alone would stop at the first).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};

use schemars::JsonSchema;
use serde_json::Value;

use crate::diag::{Problem, Problems, Source};
use crate::yaml::SpanIndex;

use super::suggest::did_you_mean;

/// The schema as `dwlink schema` prints it, with a stable `$id` for editors. Draft-07: editors'
/// YAML support knows it best, and its meta-schema compiles in half the time and memory of
/// 2020-12's, which every `validate` and `plan` pays before anything else.
pub fn schema_json<T: JsonSchema>() -> Value {
    let mut schema = schemars::generate::SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value();
    if let Value::Object(m) = &mut schema {
        m.insert(
            "$id".into(),
            Value::from("https://dwlink.dev/schemas/dwlink.schema.json"),
        );
    }
    schema
}

pub fn config_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(schema_json::<super::raw::RawConfig>)
}

/// The schema editors get (`dwlink schema`, schemas/dwlink.schema.json): the structural one plus
/// the patterns of the rules `validate` enforces by value, so an editor underlines what
/// `validate` would report. dwlink's own check keeps the structural schema: the semantic rules
/// (config/validate.rs) report these with better words, and once.
pub fn published_schema() -> Value {
    let mut schema = config_schema().clone();
    collapse_null(&mut schema);
    let defs = &mut schema["definitions"];
    for (def, prop, pattern) in PATTERNS {
        let target = &mut defs[def]["properties"][prop];
        let target = if target["type"] == "array" {
            &mut target["items"]
        } else {
            target
        };
        if let Value::Object(m) = target {
            m.insert("pattern".into(), Value::from(pattern));
        }
    }
    defs["Link"]["properties"]["legal_entities"]["maxItems"] =
        Value::from(super::validate::MAX_LEGAL_ENTITIES);
    schema["properties"]["maps"]["maxItems"] = Value::from(super::maps::MAX_MAPS);
    schema
}

/// Base URL: `https://host[:port]`, or plain http only to loopback; no path, query, fragment or
/// credentials (config/validate.rs `url`).
const URL: &str =
    r"^(https://[^/?#@\s:]+(:[0-9]+)?|http://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]+)?)/?$";
const GUID: &str = r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$";

const PATTERNS: [(&str, &str, &str); 11] = [
    ("Metadata", "name", r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"),
    ("FinanceOperations", "url", URL),
    ("Dataverse", "url", URL),
    ("Dataverse", "organization_id", GUID),
    ("Link", "legal_entities", r"^[A-Za-z0-9]{1,4}$"),
    ("Auth", "tenant_id", GUID),
    ("Auth", "client_id", GUID),
    ("Auth", "client_secret_env", r"^[A-Za-z_][A-Za-z0-9_]*$"),
    ("DualWriteService", "url", URL),
    ("DualWriteService", "client_id", GUID),
    ("RestoredFrom", "url", URL),
];

/// `Option<T>` fields are optional keys, not nullable values: an editor should say
/// "`sometimes` is not one of never, on-mismatch, always", not "is not of type 'null'".
fn collapse_null(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Array(types)) = m.get("type") {
                let kept: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
                if kept.len() == 1 {
                    m.insert("type".into(), kept[0].clone());
                }
            }
            if let Some(Value::Array(any)) = m.get("anyOf") {
                let kept: Vec<Value> = any
                    .iter()
                    .filter(|s| s.get("type").is_none_or(|t| t != "null"))
                    .cloned()
                    .collect();
                if kept.len() == 1 {
                    m.remove("anyOf");
                    if let Value::Object(inner) = &kept[0] {
                        for (k, v) in inner {
                            m.insert(k.clone(), v.clone());
                        }
                    }
                }
            }
            m.values_mut().for_each(collapse_null);
        }
        Value::Array(a) => a.iter_mut().for_each(collapse_null),
        _ => {}
    }
}

pub fn config_schema_text() -> String {
    let mut s = serde_json::to_string_pretty(&published_schema()).unwrap_or_default();
    s.push('\n');
    s
}

/// A compiled validator and the address of the schema it was built from.
type Compiled = (usize, Arc<jsonschema::Validator>);

/// Compiling a validator (which also checks the schema against its meta-schema) costs more than
/// validating a config; `validate a.yaml b.yaml …` compiles each schema once per process. Only
/// `'static` schemas are accepted so the address is a sound cache key.
fn compiled(schema: &'static Value) -> Result<Arc<jsonschema::Validator>, String> {
    static CACHE: OnceLock<Mutex<Vec<Compiled>>> = OnceLock::new();
    let key = schema as *const Value as usize;
    let cache = CACHE.get_or_init(Mutex::default);
    let mut cache = cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, v)) = cache.iter().find(|(k, _)| *k == key) {
        return Ok(v.clone());
    }
    let v = Arc::new(jsonschema::validator_for(schema).map_err(|e| e.to_string())?);
    cache.push((key, v.clone()));
    Ok(v)
}

/// Check `value` against `schema`, turning each violation into a spanned problem.
pub fn check(
    schema: &'static Value,
    value: &Value,
    index: &SpanIndex,
    source: &Source,
) -> Problems {
    let mut out = Problems::default();
    if !value.is_object() {
        out.push(
            Problem::error(
                "dwlink::config::not_a_mapping",
                format!(
                    "the file must hold a mapping of keys, found {}",
                    type_name(value)
                ),
            )
            .in_source(source)
            .at(
                index.value(""),
                "expected `apiVersion: dwlink/v1`, `kind: …` and so on",
            )
            .help("start from an example in examples/ or run `dwlink import` to write one"),
        );
        return out;
    }
    let validator = match compiled(schema) {
        Ok(v) => v,
        Err(e) => {
            out.push(Problem::error(
                "dwlink::internal::schema",
                format!("the built-in schema does not compile: {e}"),
            ));
            return out;
        }
    };
    for err in validator.iter_errors(value) {
        let path = pointer_to_path(&err.instance_path().to_string());
        out.extend(problems_for(
            schema,
            err.kind(),
            &err.to_string(),
            &path,
            value,
            index,
            source,
        ));
    }
    dedup(out)
}

/// One problem per value: an enum given a mapping fails both `type` and `enum`, and `anyOf`
/// branches can repeat an error; the user needs to hear it once, as the type error.
/// Sets, not scans: a generated file can produce 40,000 problems.
fn dedup(problems: Problems) -> Problems {
    let primary = |p: &Problem| p.labels.iter().find(|l| l.primary).map(|l| l.span.clone());
    let typed: HashSet<_> = problems
        .iter()
        .filter(|p| p.code == "dwlink::config::wrong_type")
        .filter_map(primary)
        .collect();
    let mut seen = HashSet::new();
    let mut out = Problems::default();
    for p in problems.0 {
        let span = primary(&p);
        let value_error = matches!(
            p.code,
            "dwlink::config::invalid_value" | "dwlink::config::api_version"
        );
        if value_error && span.as_ref().is_some_and(|s| typed.contains(s)) {
            continue;
        }
        if seen.insert((p.code, p.message.clone(), span)) {
            out.push(p);
        }
    }
    out
}

fn problems_for(
    schema: &Value,
    kind: &jsonschema::error::ValidationErrorKind,
    message: &str,
    path: &str,
    root: &Value,
    index: &SpanIndex,
    source: &Source,
) -> Problems {
    use jsonschema::error::ValidationErrorKind as K;
    let mut out = Problems::default();
    let shown = if path.is_empty() {
        "the top level"
    } else {
        path
    };
    match kind {
        K::AdditionalProperties { unexpected } => {
            let known = property_names(schema, path);
            for key in unexpected {
                let child = crate::yaml::join(path, key);
                out.push(unknown_key(key, &child, shown, &known, index, source));
            }
        }
        K::Required { property } => {
            let key = property.as_str().unwrap_or_default();
            // Point at the mapping that lacks the key: its own key when nested, the first
            // line of the document at the top level (not offset 0, which may be a comment).
            let span = if path.is_empty() {
                let start = index.value("").start;
                start..start
            } else {
                index.key(path)
            };
            out.push(
                Problem::error(
                    "dwlink::config::missing_key",
                    format!("`{}` is required", crate::yaml::join(path, key)),
                )
                .in_source(source)
                .at(span, format!("`{key}` is missing here"))
                .help(format!(
                    "add `{key}:`; see the config reference in README.md"
                )),
            );
        }
        K::Type { kind } => {
            let found = lookup(root, path).map_or("nothing", type_name);
            let expected = format!("{kind:?}").to_lowercase();
            out.push(
                Problem::error(
                    "dwlink::config::wrong_type",
                    format!(
                        "`{path}` must be {}, found {found}",
                        expected_phrase(&expected)
                    ),
                )
                .in_source(source)
                .at(
                    index.value(path),
                    format!("expected {}", expected_phrase(&expected)),
                )
                .help(type_help(&expected)),
            );
        }
        K::Enum { options }
        | K::Constant {
            expected_value: options,
        } => {
            let allowed: Vec<String> = match &**options {
                Value::Array(a) => a
                    .iter()
                    .filter_map(|v| v.as_str())
                    .map(str::to_string)
                    .collect(),
                Value::String(s) => vec![s.clone()],
                _ => Vec::new(),
            };
            let found = lookup(root, path)
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .unwrap_or_default();
            let (code, what) = if path == "apiVersion" {
                (
                    "dwlink::config::api_version",
                    "this dwlink reads `apiVersion: dwlink/v1`",
                )
            } else {
                ("dwlink::config::invalid_value", "")
            };
            let list = allowed
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let mut help = match (
                &allowed[..],
                did_you_mean(&found, allowed.iter().map(String::as_str)),
            ) {
                ([only], _) => format!("write `{only}`"),
                (_, Some(s)) => format!("did you mean `{s}`? Allowed: {list}"),
                (_, None) => format!("allowed values: {list}"),
            };
            if !what.is_empty() {
                help = format!("{what}; {help}");
            }
            out.push(
                Problem::error(code, format!("`{found}` is not a valid value for `{path}`"))
                    .in_source(source)
                    .at(index.value(path), "not allowed here")
                    .help(help),
            );
        }
        // Option<T> fields are `anyOf [T, null]`: report what T says, not the anyOf wrapper.
        K::AnyOf { context } | K::OneOfNotValid { context } => {
            let best = context
                .iter()
                .filter(|errs| !errs.iter().any(|e| matches!(e.kind(), K::Type { kind } if format!("{kind:?}") == "Single(Null)")))
                .min_by_key(|errs| errs.len());
            match best {
                Some(errs) => {
                    for e in errs {
                        let p = pointer_to_path(&e.instance_path().to_string());
                        out.extend(problems_for(
                            schema,
                            e.kind(),
                            &e.to_string(),
                            &p,
                            root,
                            index,
                            source,
                        ));
                    }
                }
                None => out.push(generic(
                    shown,
                    "does not match the schema",
                    path,
                    index,
                    source,
                )),
            }
        }
        _ => out.push(generic(shown, message, path, index, source)),
    }
    out
}

fn generic(shown: &str, msg: &str, path: &str, index: &SpanIndex, source: &Source) -> Problem {
    Problem::error("dwlink::config::schema", format!("{shown}: {msg}"))
        .in_source(source)
        .at(index.value(path), "here")
        .help("compare with the config reference in README.md or `dwlink schema`")
}

fn unknown_key(
    key: &str,
    child: &str,
    shown: &str,
    known: &[String],
    index: &SpanIndex,
    source: &Source,
) -> Problem {
    let span = index.key(child);
    if is_secret_key(key) {
        return Problem::error(
            "dwlink::config::literal_secret",
            format!("`{child}` holds a secret in the config file"),
        )
        .in_source(source)
        .at(span, "secrets never go into a config file")
        .help("put the secret in an environment variable and name it with `auth.client_secret_env: DWLINK_CLIENT_SECRET`");
    }
    let help = match did_you_mean(key, known.iter().map(String::as_str)) {
        Some(s) => format!("did you mean `{s}`?"),
        None if known.is_empty() => "remove this key".to_string(),
        None => format!(
            "remove it; keys allowed in {shown}: {}",
            known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Problem::error(
        "dwlink::config::unknown_key",
        format!("unknown key `{key}` in {shown}"),
    )
    .in_source(source)
    .at(span, "unknown key")
    .help(help)
}

fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["secret", "password", "token"]
        .iter()
        .any(|s| k.contains(s))
        && !k.ends_with("_env")
}

fn expected_phrase(kind: &str) -> String {
    let words: Vec<&str> = [
        ("object", "a mapping"),
        ("array", "a list"),
        ("string", "a string"),
        ("boolean", "`true` or `false`"),
        ("integer", "a whole number"),
        ("number", "a number"),
    ]
    .iter()
    .filter(|(k, _)| kind.contains(k))
    .map(|(_, w)| *w)
    .collect();
    if words.is_empty() {
        kind.to_string()
    } else {
        words.join(" or ")
    }
}

fn type_help(kind: &str) -> String {
    if kind.contains("array") {
        "write a list, e.g. `[USMF, DEMF]` or one `- item` per line".into()
    } else if kind.contains("boolean") {
        "write `true` or `false` without quotes".into()
    } else if kind.contains("string") {
        "write a single value; quote it if it looks like a number or boolean".into()
    } else if kind.contains("object") {
        "write nested `key: value` lines indented under this key".into()
    } else {
        "see the config reference in README.md".into()
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn lookup<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = root;
    for seg in segments(path) {
        cur = match seg {
            Seg::Key(k) => cur.get(k)?,
            Seg::Index(i) => cur.get(i)?,
        };
    }
    Some(cur)
}

enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

fn segments(path: &str) -> Vec<Seg<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        if !key.is_empty() {
            out.push(Seg::Key(key));
        }
        for idx in rest.split('[') {
            if let Ok(i) = idx.trim_end_matches(']').parse() {
                out.push(Seg::Index(i));
            }
        }
    }
    out
}

/// `/link/legal_entities/2` → `link.legal_entities[2]`.
pub fn pointer_to_path(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else {
            out = crate::yaml::join(&out, &seg);
        }
    }
    out
}

/// The keys the schema allows in the mapping at `path`, for "did you mean".
fn property_names(schema: &Value, path: &str) -> Vec<String> {
    let mut node = schema;
    for seg in segments(path) {
        node = resolve(schema, node);
        node = match seg {
            Seg::Key(k) => match node.get("properties").and_then(|p| p.get(k)) {
                Some(n) => n,
                None => return Vec::new(),
            },
            Seg::Index(_) => match node.get("items") {
                Some(n) => n,
                None => return Vec::new(),
            },
        };
    }
    let node = resolve(schema, node);
    node.get("properties")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// Follow `$ref` (a pointer into the schema, alone or as the only `allOf` branch) and the
/// non-null branch of `anyOf`.
fn resolve<'a>(root: &'a Value, mut node: &'a Value) -> &'a Value {
    for _ in 0..8 {
        if let Some(r) = node.get("$ref").and_then(Value::as_str) {
            match r.strip_prefix('#').and_then(|p| root.pointer(p)) {
                Some(n) => node = n,
                None => return node,
            }
        } else if let Some([only]) = node
            .get("allOf")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            node = only;
        } else if let Some(alts) = node.get("anyOf").and_then(Value::as_array) {
            match alts
                .iter()
                .find(|a| a.get("type") != Some(&Value::from("null")))
            {
                Some(n) => node = n,
                None => return node,
            }
        } else {
            return node;
        }
    }
    node
}
