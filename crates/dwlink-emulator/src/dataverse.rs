//! Dataverse Web API (`/api/data/v9.2/`): WhoAmI, RetrieveCurrentOrganization,
//! RetrieveFinanceAndOperationsIntegrationDetails, organizations, EntityDefinitions (and the
//! runtime table's Attributes) and the runtime-configuration table of one organization, chosen
//! by Host.

use serde_json::{json, Map, Value};

use super::odata::error::{bad_request, not_found, Reply};
use super::odata::query::{check_columns, entity, parse_key, parse_query, PageRequest};
use super::odata::{read_table, split_segment, write_table, Req, DEFAULT_PAGE};
use super::store::{name_uuid, Org, World};
use super::table::{Cursor, Row, RowRef};

pub(crate) const MAX_PAGE: usize = 5_000;

/// The organization a request is for: by exact Host (see [`super::hosts`]).
pub(crate) fn pick(world: &World, host: &str) -> Result<usize, Reply> {
    super::hosts::pick(
        world.orgs.iter().map(|o| o.host.as_str()),
        host,
        "Dataverse organization",
    )
}

const RUNTIME_SET: &str = "msdyn_dualwriteruntimeconfigs";

/// Tables EntityDefinitions knows: logical name, entity set, primary id.
const ENTITIES: [(&str, &str, &str); 5] = [
    (
        "msdyn_dualwriteruntimeconfig",
        RUNTIME_SET,
        "msdyn_dualwriteruntimeconfigid",
    ),
    (
        "msdyn_dualwriteentitymap",
        "msdyn_dualwriteentitymaps",
        "msdyn_dualwriteentitymapid",
    ),
    ("cdm_company", "cdm_companies", "cdm_companyid"),
    ("account", "accounts", "accountid"),
    ("organization", "organizations", "organizationid"),
];
const ENTITY_COLUMNS: [&str; 5] = [
    "LogicalName",
    "EntitySetName",
    "PrimaryIdAttribute",
    "MetadataId",
    "SchemaName",
];

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn entity_rows() -> Vec<Row> {
    ENTITIES
        .iter()
        .map(|(logical, set, id)| Row {
            etag: 1,
            fields: object(json!({
                "LogicalName": logical,
                "EntitySetName": set,
                "PrimaryIdAttribute": id,
                "MetadataId": name_uuid("entity", logical),
                "SchemaName": logical,
            })),
        })
        .collect()
}

/// `organization` rows: `uniquename` is not one of its columns (powerapps-docs
/// `developer/data-platform/reference/entities/organization.md`), so `$select=uniquename` is 400;
/// the unique name comes from `RetrieveCurrentOrganization`.
const ORG_COLUMNS: [&str; 2] = ["organizationid", "name"];

fn org_rows(org: &Org) -> Vec<Row> {
    vec![Row {
        etag: 1,
        fields: object(json!({
            "organizationid": org.organization_id,
            "name": org.friendly_name,
        })),
    }]
}

/// A small fixed list served with the same paging and query options as a table.
fn list(rows: &[Row], columns: &[&str], req: &Req, set: &str) -> Reply {
    let q = match parse_query(req.query) {
        Ok(q) => q,
        Err(r) => return r,
    };
    if let Err(r) = check_columns(&q, columns) {
        return r;
    }
    let self_url = format!("{}/{set}", req.root);
    let context = format!("{}/$metadata#{set}", req.root);
    let page = PageRequest {
        self_url: &self_url,
        context: &context,
        prefer: req.header("prefer"),
        accept: req.header("accept"),
        max_page: MAX_PAGE,
        default_page: DEFAULT_PAGE,
    };
    query::page(&q, &page, &|after| {
        let start = match after {
            Some(Cursor::Gen(i)) => *i as usize + 1,
            _ => 0,
        };
        Box::new(
            rows.iter()
                .enumerate()
                .skip(start)
                .map(|(i, r)| (Cursor::Gen(i as u32), RowRef::Stored(r))),
        )
    })
}

use super::odata::query;

pub(crate) fn read(world: &World, host: &str, req: &Req) -> Reply {
    let org = match pick(world, host) {
        Ok(i) => &world.orgs[i],
        Err(r) => return r,
    };
    if let Some((head, nav)) = req.path.trim_end_matches('/').split_once(")/") {
        return navigation(head, nav, req);
    }
    let (set, key) = match split_segment(req.path) {
        Ok(s) => s,
        Err(r) => return r,
    };
    match (set, key) {
        ("RetrieveCurrentOrganization", Some(args)) => {
            super::dataverse_functions::current_organization(world, org, args, req)
        }
        ("RetrieveFinanceAndOperationsIntegrationDetails", None | Some("")) => {
            super::dataverse_functions::fo_integration(world, org, req)
        }
        ("WhoAmI", _) => Reply::ok(json!({
            "@odata.context": format!("{}/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse", req.root),
            "BusinessUnitId": name_uuid("business-unit", &org.host),
            "UserId": name_uuid("user", &org.host),
            "OrganizationId": org.organization_id,
        })),
        ("organizations", None) => list(&org_rows(org), &ORG_COLUMNS, req, set),
        ("EntityDefinitions", None) => list(&entity_rows(), &ENTITY_COLUMNS, req, set),
        ("EntityDefinitions", Some(inner)) => entity_definition(inner, req),
        (RUNTIME_SET, _) => read_table(&org.runtime, req, key, MAX_PAGE),
        ("$metadata", None) => super::metadata::dataverse(req.root),
        ("", None) => Reply::ok(
            json!({"@odata.context": format!("{}/$metadata", req.root), "value": [
                {"name": RUNTIME_SET, "kind": "EntitySet", "url": RUNTIME_SET},
                {"name": "EntityDefinitions", "kind": "EntitySet", "url": "EntityDefinitions"},
                {"name": "organizations", "kind": "EntitySet", "url": "organizations"},
            ]}),
        ),
        _ => not_found(format!("Resource not found for the segment '{set}'")),
    }
}

/// `EntityDefinitions(LogicalName='…')/Attributes`; any other navigation is 404.
fn navigation(head: &str, nav: &str, req: &Req) -> Reply {
    let inner = head.strip_prefix("EntityDefinitions(");
    let logical = inner.and_then(|inner| match parse_key(inner).ok()?.as_slice() {
        [(Some(n), v)] if n == "LogicalName" => Some(v.clone()),
        _ => None,
    });
    match (logical, nav) {
        (Some(name), "Attributes") => super::dataverse_functions::attributes(&name, req),
        (Some(_), _) => not_found(format!("Resource not found for the segment '{nav}'")),
        (None, _) => not_found(format!("Resource not found for the segment '{head})'")),
    }
}

fn entity_definition(inner: &str, req: &Req) -> Reply {
    let q = match parse_query(req.query) {
        Ok(q) => q,
        Err(r) => return r,
    };
    if let Err(r) = check_columns(&q, &ENTITY_COLUMNS) {
        return r;
    }
    let parsed = match parse_key(inner) {
        Ok(p) => p,
        Err(m) => return bad_request(format!("invalid key ({inner}): {m}")),
    };
    let rows = entity_rows();
    let found = match parsed.as_slice() {
        [(Some(n), v)] if n == "LogicalName" => rows
            .iter()
            .find(|r| r.fields.get("LogicalName") == Some(&Value::String(v.clone()))),
        [(None, v)] => rows.iter().find(|r| {
            r.fields
                .get("MetadataId")
                .and_then(Value::as_str)
                .is_some_and(|m| m.eq_ignore_ascii_case(v))
        }),
        _ => {
            return bad_request(format!(
                "invalid key ({inner}): use (LogicalName='…') or (MetadataId)"
            ))
        }
    };
    match found {
        Some(r) => {
            let mut e = entity(r, q.select.as_deref());
            if let Value::Object(m) = &mut e {
                m.insert(
                    "@odata.context".into(),
                    Value::String(format!("{}/$metadata#EntityDefinitions/$entity", req.root)),
                );
            }
            Reply::ok(e)
        }
        None => not_found(format!("Could not find an entity with key ({inner})")),
    }
}

pub(crate) fn write(world: &mut World, host: &str, req: &Req) -> (Reply, bool) {
    let org = match pick(world, host) {
        Ok(i) => &mut world.orgs[i],
        Err(r) => return (r, false),
    };
    let (set, key) = match split_segment(req.path) {
        Ok(s) => s,
        Err(r) => return (r, false),
    };
    if set == RUNTIME_SET {
        write_table(&mut org.runtime, req, key)
    } else if matches!(
        set,
        "WhoAmI"
            | "organizations"
            | "EntityDefinitions"
            | "RetrieveCurrentOrganization"
            | "RetrieveFinanceAndOperationsIntegrationDetails"
    ) {
        (
            Reply::error(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                format!("{} is not allowed on {set} in the emulator", req.method),
            ),
            false,
        )
    } else {
        (
            not_found(format!("Resource not found for the segment '{set}'")),
            false,
        )
    }
}
