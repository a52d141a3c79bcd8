//! `$metadata` (CSDL XML) for the emulated sets, for generic OData clients that read it first.

use axum::http::StatusCode;

use super::generate::columns;
use super::odata::error::Reply;
use super::table::TableKind;

fn edm_type(kind: TableKind, column: &str) -> &'static str {
    let sample = super::generate::row(kind, &Default::default(), 0);
    match sample.get(column) {
        Some(serde_json::Value::Bool(_)) => "Edm.Boolean",
        Some(serde_json::Value::Number(_)) => "Edm.Int32",
        _ if kind.guid_key() && column == kind.key_columns()[0] => "Edm.Guid",
        _ => "Edm.String",
    }
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

fn document(namespace: &str, sets: &[(TableKind, &str, &str)]) -> Reply {
    let types: String = sets.iter().map(|(k, t, _)| entity_type(*k, t)).collect();
    let container: String = sets
        .iter()
        .map(|(_, t, s)| format!("<EntitySet Name=\"{s}\" EntityType=\"{namespace}.{t}\"/>"))
        .collect();
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
<edmx:Edmx Version=\"4.0\" xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\">\
<edmx:DataServices><Schema Namespace=\"{namespace}\" xmlns=\"http://docs.oasis-open.org/odata/ns/edm\">\
{types}<EntityContainer Name=\"Container\">{container}</EntityContainer></Schema>\
</edmx:DataServices></edmx:Edmx>"
    );
    Reply::raw(StatusCode::OK, "application/xml", xml.into_bytes())
}

pub(crate) fn fo(_root: &str) -> Reply {
    document(
        "Microsoft.Dynamics.DataEntities",
        &[
            (
                TableKind::ProjectConfig,
                "DualWriteProjectConfiguration",
                "DualWriteProjectConfigurations",
            ),
            (
                TableKind::FieldConfig,
                "DualWriteProjectFieldConfiguration",
                "DualWriteProjectFieldConfigurations",
            ),
            (
                TableKind::BusinessEvents,
                "BusinessEventsDefinition",
                "BusinessEventsDefinitions",
            ),
        ],
    )
}

pub(crate) fn dataverse(_root: &str) -> Reply {
    document(
        "Microsoft.Dynamics.CRM",
        &[(
            TableKind::RuntimeConfig,
            "msdyn_dualwriteruntimeconfig",
            "msdyn_dualwriteruntimeconfigs",
        )],
    )
}
