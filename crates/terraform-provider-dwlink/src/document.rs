//! HCL attributes → a config v1 document, run through dwlink-core's own loader and validator, so
//! a Terraform user gets the codes and help `dwlink validate` gives, pointed at the attribute
//! instead of a YAML line.

use serde_json::{json, Map, Value as Json};
use tf_provider::value::Value;
use tf_provider::{AttributePath, Diagnostic, Diagnostics};

use dwlink_core::config;
use dwlink_core::diag::{Problem, Severity, Source};
use dwlink_core::model::desired::Desired;
use dwlink_core::yaml::{self, Node, NodeKind};

use crate::state::{LinkState, Text};

/// What the provider block contributes to every config: the `auth` section.
#[derive(Debug, Clone)]
pub struct Auth {
    pub tenant_id: String,
    pub client_id: String,
    /// The variable holding the client secret (the config names it; it never holds it).
    pub client_secret_env: String,
}

fn put(map: &mut Map<String, Json>, key: &str, v: &Text) {
    if let Value::Value(s) = v {
        map.insert(key.into(), Json::String(s.clone()));
    }
}

fn put_flag(map: &mut Map<String, Json>, key: &str, v: &Value<bool>) {
    if let Value::Value(b) = v {
        map.insert(key.into(), Json::Bool(*b));
    }
}

fn list(v: &Value<Vec<Text>>) -> Option<Json> {
    match v {
        Value::Value(items) => Some(Json::Array(
            items
                .iter()
                .filter_map(|t| t.as_ref_option().map(|s| Json::String(s.clone())))
                .collect(),
        )),
        _ => None,
    }
}

/// The config v1 document these attributes declare. `kind` is `DualWriteLink` or
/// `RestoreCleanup`.
pub fn document(s: &LinkState, auth: &Auth, kind: &str) -> Json {
    let mut metadata = Map::new();
    put(&mut metadata, "name", &s.name);
    put_flag(&mut metadata, "protected", &s.protected);
    let mut fo = Map::new();
    put(&mut fo, "url", &s.finance_operations_url);
    put(&mut fo, "environment_type", &s.environment_type);
    let mut dataverse = Map::new();
    put(&mut dataverse, "url", &s.dataverse_url);
    put(
        &mut dataverse,
        "organization_id",
        &s.dataverse_organization_id,
    );
    let mut doc = Map::new();
    doc.insert("apiVersion".into(), json!("dwlink/v1"));
    doc.insert("kind".into(), json!(kind));
    doc.insert("metadata".into(), Json::Object(metadata));
    doc.insert("finance_operations".into(), Json::Object(fo));
    doc.insert("dataverse".into(), Json::Object(dataverse));
    let mut link = Map::new();
    put(&mut link, "reset_target", &s.reset_target);
    if let Value::Value(set) = &s.legal_entities {
        let codes = set
            .iter()
            .filter_map(|t| t.as_ref_option().map(|c| Json::String(c.clone())))
            .collect();
        link.insert("legal_entities".into(), Json::Array(codes));
    }
    if !link.is_empty() {
        doc.insert("link".into(), Json::Object(link));
    }
    if let Value::Value(r) = &s.reset {
        let mut reset = Map::new();
        put(&mut reset, "when", &r.when);
        put_flag(&mut reset, "force", &r.force);
        put_flag(&mut reset, "clear_tables", &r.clear_tables);
        doc.insert("reset".into(), Json::Object(reset));
    }
    if let Value::Value(a) = &s.after_reset {
        let mut after = Map::new();
        if let Some(l) = list(&a.apply_solutions) {
            after.insert("apply_solutions".into(), l);
        }
        if let Some(l) = list(&a.start_maps) {
            after.insert("start_maps".into(), l);
        }
        doc.insert("after_reset".into(), Json::Object(after));
    }
    // `maps` goes through as written: the config loader owns its rules (and, before a dwlink
    // that knows `maps`, refuses it with its own diagnostic).
    if let Value::Value(maps) = &s.maps {
        let items = maps
            .iter()
            .filter_map(|m| m.as_ref_option())
            .map(|m| {
                let mut o = Map::new();
                put(&mut o, "name", &m.name);
                put(&mut o, "version", &m.version);
                put(&mut o, "state", &m.state);
                if let Some(l) = list(&m.integration_keys) {
                    o.insert("integration_keys".into(), l);
                }
                put(&mut o, "initial_sync", &m.initial_sync);
                Json::Object(o)
            })
            .collect();
        doc.insert("maps".into(), Json::Array(items));
    }
    doc.insert(
        "auth".into(),
        json!({
            "tenant_id": auth.tenant_id,
            "client_id": auth.client_id,
            "client_secret_env": auth.client_secret_env,
        }),
    );
    if s.dual_write_service_url.is_value() || s.dual_write_service_auth.is_value() {
        let mut dws = Map::new();
        put(&mut dws, "url", &s.dual_write_service_url);
        put(&mut dws, "auth", &s.dual_write_service_auth);
        doc.insert("dual_write_service".into(), Json::Object(dws));
    }
    if let Some(from) = &s.restored_from_url {
        let mut r = Map::new();
        put(&mut r, "url", from);
        doc.insert("restored_from".into(), Json::Object(r));
    }
    Json::Object(doc)
}

/// The loader's verdict on a document: the desired model when valid, and every problem as a
/// Terraform diagnostic at its attribute.
pub struct Checked {
    pub desired: Option<Desired>,
    pub diagnostics: Diagnostics,
}

/// Runs `doc` through `dwlink validate`'s loader. JSON is YAML, so the document is handed over as
/// text and the spans of its problems are mapped back to the attributes they sit in.
pub fn check(doc: &Json, resource: &str) -> Checked {
    let text = serde_json::to_string_pretty(doc).unwrap_or_default();
    let source = Source::new(resource, text);
    let loaded = config::from_source(source.clone());
    let tree = yaml::parse(&source).ok().flatten();
    let mut diagnostics = Diagnostics::default();
    for p in loaded.problems.iter() {
        let path = p
            .labels
            .iter()
            .find(|l| l.primary)
            .zip(tree.as_ref())
            .and_then(|(l, t)| deepest(t, l.span.start, String::new()))
            .map(|config_path| attribute_path(&config_path))
            .unwrap_or_default();
        add(&mut diagnostics, p, path);
    }
    Checked {
        desired: loaded.desired,
        diagnostics,
    }
}

/// A problem as a diagnostic: the summary carries dwlink's code, the detail the help line.
pub fn add(diags: &mut Diagnostics, p: &Problem, path: AttributePath) {
    let summary = format!("{} [{}]", p.message, p.code);
    let detail = p.help.clone().unwrap_or_default();
    let d = Diagnostic::new(summary, detail, path);
    match p.severity {
        Severity::Error => diags.add_error(d),
        Severity::Warning => diags.add_warning(d),
        // Notes (the scenario) are in the `findings` attribute; a diagnostic would be noise.
        Severity::Info => {}
    }
}

/// The config path (`link.legal_entities[1]`) of the innermost node whose key or value holds
/// `offset`.
fn deepest(node: &Node, offset: usize, path: String) -> Option<String> {
    let inside = |r: &std::ops::Range<usize>| r.start <= offset && offset < r.end.max(r.start + 1);
    match &node.kind {
        NodeKind::Map(entries) => {
            for e in entries {
                let child = yaml::join(&path, &e.key);
                if inside(&e.key_span) {
                    return Some(child);
                }
                if inside(&e.value.span) {
                    return deepest(&e.value, offset, child.clone()).or(Some(child));
                }
            }
        }
        NodeKind::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                if inside(&item.span) {
                    let child = format!("{path}[{i}]");
                    return deepest(item, offset, child.clone()).or(Some(child));
                }
            }
        }
        NodeKind::Scalar { .. } => {}
    }
    (!path.is_empty()).then_some(path)
}

/// A config path as the resource's attribute path. Sections the provider block fills (`auth`)
/// and the document's own header have no attribute: they point at the resource.
pub fn attribute_path(config_path: &str) -> AttributePath {
    if config_path == "maps" || config_path.starts_with("maps[") {
        let (field, rest) = split_first(config_path);
        return with_indexes(AttributePath::root(), &field, rest);
    }
    let (head, index_rest) = split_first(config_path);
    let (second, rest) = split_first(index_rest);
    let top = |name: &'static str| AttributePath::new(name);
    // An index into a list of plain values points at the list.
    let field_name = second.split('[').next().unwrap_or_default();
    if head == "reset" || head == "after_reset" {
        if second.is_empty() {
            return AttributePath::new(if head == "reset" {
                "reset"
            } else {
                "after_reset"
            });
        }
        // A block of at most one: Terraform addresses it as the first of a list.
        let block: &'static str = if head == "reset" {
            "reset"
        } else {
            "after_reset"
        };
        return with_indexes(AttributePath::new(block).index(0), &second, rest);
    }
    match (head.as_str(), field_name) {
        ("metadata", "name") => top("name"),
        ("metadata", "protected") => top("protected"),
        ("finance_operations", "url") => top("finance_operations_url"),
        ("finance_operations", "environment_type") => top("environment_type"),
        ("dataverse", "url") => top("dataverse_url"),
        ("dataverse", "organization_id") => top("dataverse_organization_id"),
        ("link", "reset_target") => top("reset_target"),
        // A set has no index to point at.
        ("link", "legal_entities") => top("legal_entities"),
        ("dual_write_service", "url") => top("dual_write_service_url"),
        ("dual_write_service", "auth") => top("dual_write_service_auth"),
        ("restored_from", _) => top("restored_from_url"),
        _ => AttributePath::root(),
    }
}

/// `field[2].name[0]` appended to `base`.
fn with_indexes(mut base: AttributePath, field: &str, rest: &str) -> AttributePath {
    let (name, indexes) = match field.find('[') {
        Some(i) => (&field[..i], &field[i..]),
        None => (field, ""),
    };
    base.add_attribute(name.to_string());
    let mut tail = indexes.to_string();
    if !rest.is_empty() {
        tail.push('.');
        tail.push_str(rest);
    }
    for step in tail.split(['.', '[']).filter(|s| !s.is_empty()) {
        match step.strip_suffix(']').map(str::parse::<i64>) {
            Some(Ok(i)) => {
                base.add_index(i);
            }
            _ => {
                base.add_attribute(step.to_string());
            }
        }
    }
    base
}

/// `a.b.c` → (`a`, `b.c`); `maps[0].name` → (`maps[0]`, `name`).
fn split_first(path: &str) -> (String, &str) {
    match path.find('.') {
        Some(i) => (path[..i].to_string(), &path[i + 1..]),
        None => (path.to_string(), ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tf_provider::AttributePathStep as Step;

    fn steps(p: AttributePath) -> Vec<String> {
        p.steps
            .iter()
            .map(|s| match s {
                Step::Attribute(a) => a.to_string(),
                Step::Index(i) => format!("[{i}]"),
                Step::Key(k) => format!("[{k}]"),
            })
            .collect()
    }

    #[test]
    fn config_paths_map_to_the_attributes_users_wrote() {
        assert_eq!(steps(attribute_path("metadata.name")), ["name"]);
        assert_eq!(
            steps(attribute_path("finance_operations.url")),
            ["finance_operations_url"]
        );
        assert_eq!(
            steps(attribute_path("link.legal_entities[2]")),
            ["legal_entities"]
        );
        assert_eq!(
            steps(attribute_path("reset.when")),
            ["reset", "[0]", "when"]
        );
        assert_eq!(
            steps(attribute_path("after_reset.start_maps[1]")),
            ["after_reset", "[0]", "start_maps", "[1]"]
        );
        assert_eq!(
            steps(attribute_path("maps[3].integration_keys[0]")),
            ["maps", "[3]", "integration_keys", "[0]"]
        );
        assert_eq!(
            steps(attribute_path("dual_write_service.auth")),
            ["dual_write_service_auth"]
        );
        assert!(steps(attribute_path("auth.tenant_id")).is_empty());
    }

    fn auth() -> Auth {
        Auth {
            tenant_id: "72f988bf-0000-0000-0000-000000000000".into(),
            client_id: "11111111-2222-3333-4444-555555555555".into(),
            client_secret_env: "DWLINK_CLIENT_SECRET".into(),
        }
    }

    fn declared() -> LinkState {
        use crate::state::text;
        LinkState {
            name: text("contoso-uat"),
            finance_operations_url: text("https://contoso-uat.sandbox.operations.dynamics.com"),
            environment_type: text("sandbox"),
            dataverse_url: text("https://contoso-uat.crm.dynamics.com"),
            legal_entities: Value::Value([text("USMF")].into_iter().collect()),
            dual_write_service_url: text(
                "https://projectmanagementservice.weu-il107.gateway.prod.island.powerapps.com",
            ),
            ..Default::default()
        }
    }

    #[test]
    fn a_sound_declaration_loads_as_the_cli_would() {
        let checked = check(&document(&declared(), &auth(), "DualWriteLink"), "t");
        assert!(
            checked.diagnostics.errors.is_empty(),
            "{:?}",
            checked.diagnostics.errors
        );
        let d = checked.desired.expect("desired");
        assert_eq!(d.name, "contoso-uat");
        assert_eq!(d.link.legal_entities, ["USMF"]);
    }

    #[test]
    fn problems_carry_the_loader_code_and_the_attribute() {
        let mut s = declared();
        s.environment_type = crate::state::text("staging");
        let checked = check(&document(&s, &auth(), "DualWriteLink"), "t");
        let e = checked.diagnostics.errors.first().expect("an error");
        assert!(e.summary.contains("[dwlink::config::"), "{}", e.summary);
        assert_eq!(steps(e.attribute.clone()), ["environment_type"]);
        assert!(checked.desired.is_none());
    }

    #[test]
    fn maps_pass_to_the_loader_as_config_v1_writes_them() {
        use crate::state::{text, texts, MapObject};
        let mut s = declared();
        s.maps = Value::Value(vec![Value::Value(MapObject {
            name: text("Customers V3 (accounts)"),
            version: text("1.0.0.3"),
            state: text("running"),
            integration_keys: texts(["accountnumber".to_string()]),
            initial_sync: Value::Null,
        })]);
        let doc = document(&s, &auth(), "DualWriteLink");
        assert_eq!(
            doc["maps"],
            serde_json::json!([{
                "name": "Customers V3 (accounts)",
                "version": "1.0.0.3",
                "state": "running",
                "integration_keys": ["accountnumber"],
            }])
        );
    }

    #[test]
    fn unknown_values_are_never_planned() {
        let mut s = declared();
        assert!(!s.has_unknown());
        s.dataverse_url = Value::Unknown;
        assert!(s.has_unknown());
    }
}
