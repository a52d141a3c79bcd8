//! `$metadata` (CSDL XML) for the emulated sets: what a client reads to learn which sets, keys and
//! properties a service really has (UO `data-entities/odata.md`). It lists only what the emulator
//! serves, so a client that trusts it asks for nothing that answers 404 or 400.

use axum::http::StatusCode;

use super::generate::{columns, NO_YES_COLUMNS, PROJECT_STATUS};
use super::odata::error::Reply;
use super::table::TableKind;

const FO_NAMESPACE: &str = "Microsoft.Dynamics.DataEntities";

/// Property types: F&O's as a client generated from a real `$metadata` types them (ntrtd/d365-agent
/// `asset/client/src/DualWriteProjectConfigurationsApi.ts`: enums `NoYes`,
/// `DualWriteProjectStatus`, `DualWriteAsyncMode`, strings otherwise); Dataverse's from the
/// generated sample row.
fn edm_type(kind: TableKind, column: &str) -> String {
    if kind == TableKind::ProjectConfig {
        return match column {
            "Status" => format!("{FO_NAMESPACE}.DualWriteProjectStatus"),
            "AsyncMode" => format!("{FO_NAMESPACE}.DualWriteAsyncMode"),
            c if NO_YES_COLUMNS.contains(&c) => format!("{FO_NAMESPACE}.NoYes"),
            _ => "Edm.String".into(),
        };
    }
    let sample = super::generate::row(kind, &Default::default(), 0);
    match sample.get(column) {
        Some(serde_json::Value::Bool(_)) => "Edm.Boolean",
        Some(serde_json::Value::Number(_)) => "Edm.Int32",
        _ if kind.guid_key() && column == kind.key_columns()[0] => "Edm.Guid",
        _ => "Edm.String",
    }
    .into()
}

fn entity_type(kind: TableKind, name: &str) -> String {
    let keys: String = kind
        .key_columns()
        .iter()
        .map(|k| format!("<PropertyRef Name=\"{k}\"/>"))
        .collect();
    let props: String = columns(kind)
        .iter()
        .map(|c| {
            let nullable = if kind.key_columns().contains(c) {
                " Nullable=\"false\""
            } else {
                ""
            };
            format!(
                "<Property Name=\"{c}\" Type=\"{}\"{nullable}/>",
                edm_type(kind, c)
            )
        })
        .collect();
    format!("<EntityType Name=\"{name}\"><Key>{keys}</Key>{props}</EntityType>")
}

fn enum_type(name: &str, members: &[(i64, &str)]) -> String {
    let members: String = members
        .iter()
        .map(|(v, m)| format!("<Member Name=\"{m}\" Value=\"{v}\"/>"))
        .collect();
    format!("<EnumType Name=\"{name}\">{members}</EnumType>")
}

fn document(namespace: &str, extra_types: &str, sets: &[(TableKind, &str, &str)]) -> Reply {
    let types: String = sets.iter().map(|(k, t, _)| entity_type(*k, t)).collect();
    let container: String = sets
        .iter()
        .map(|(_, t, s)| format!("<EntitySet Name=\"{s}\" EntityType=\"{namespace}.{t}\"/>"))
        .collect();
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
<edmx:Edmx Version=\"4.0\" xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\">\
<edmx:DataServices><Schema Namespace=\"{namespace}\" xmlns=\"http://docs.oasis-open.org/odata/ns/edm\">\
{extra_types}{types}<EntityContainer Name=\"Container\">{container}</EntityContainer></Schema>\
</edmx:DataServices></edmx:Edmx>"
    );
    Reply::raw(StatusCode::OK, "application/xml", xml.into_bytes())
}

/// Only `DualWriteProjectConfigurations`: no public set exists for the field configurations and
/// business events (real-contract §4).
pub(crate) fn fo(_root: &str) -> Reply {
    let enums = [
        enum_type("NoYes", &[(0, "No"), (1, "Yes")]),
        enum_type("DualWriteProjectStatus", &PROJECT_STATUS),
        // Its members: no public evidence, so none are listed.
        enum_type("DualWriteAsyncMode", &[]),
    ]
    .concat();
    document(
        FO_NAMESPACE,
        &enums,
        &[(
            TableKind::ProjectConfig,
            "DualWriteProjectConfiguration",
            "DualWriteProjectConfigurations",
        )],
    )
}

pub(crate) fn dataverse(_root: &str) -> Reply {
    document(
        "Microsoft.Dynamics.CRM",
        "",
        &[(
            TableKind::RuntimeConfig,
            "msdyn_dualwriteruntimeconfig",
            "msdyn_dualwriteruntimeconfigs",
        )],
    )
}
