//! Plausible generated rows: row `i` of a table is a pure function of its spec, and its key can
//! be mapped back to `i` so lookups by key need no index.

use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::table::{GenSpec, TableKind};

/// F&O entity / Dataverse table pairs generated rows cycle through.
const ENTITIES: [(&str, &str); 8] = [
    ("Customers V3", "accounts"),
    ("Vendors V2", "msdyn_vendors"),
    ("Released products V2", "msdyn_sharedproductdetails"),
    ("Sales order headers V2", "salesorders"),
    ("Legal entities", "cdm_companies"),
    ("Currencies", "transactioncurrencies"),
    ("Worker", "cdm_workers"),
    ("Sales quotation headers", "quotes"),
];

fn entity(i: u32) -> (&'static str, &'static str) {
    ENTITIES[i as usize % ENTITIES.len()]
}

fn company(spec: &GenSpec, i: u32) -> String {
    if spec.companies.is_empty() {
        "dat".into()
    } else {
        spec.companies[i as usize % spec.companies.len()].to_ascii_lowercase()
    }
}

fn project_name(i: u32) -> String {
    format!("DWP-{i:07}")
}

/// Generated GUIDs: the salt in the high bits, the index in the low 32.
fn runtime_id(spec: &GenSpec, i: u32) -> Uuid {
    Uuid::from_u128(((spec.salt as u128) << 64) | 0xd0a1_0000_0000_0000_u128 | i as u128)
}

fn fake_secret(spec: &GenSpec, i: u32) -> String {
    format!("{:016x}{:08x}EMULATORFAKEKEY=", spec.salt, i)
}

pub fn row(kind: TableKind, spec: &GenSpec, i: u32) -> Map<String, Value> {
    let v = match kind {
        TableKind::ProjectConfig => {
            let (fo, dv) = entity(i);
            json!({
                "ProjectName": project_name(i),
                "InternalEntityName": fo,
                "ExternalEntityName": dv,
                "ExternalEnvironmentURL": spec.target,
                "Status": 1,
                "IsDebugMode": false,
                "ServiceBusConnectionString": format!(
                    "Endpoint=sb://dw-emulator-{:x}.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey={}",
                    spec.salt & 0xffff, fake_secret(spec, i)),
                "StorageAccountSasConnectionString": format!(
                    "BlobEndpoint=https://dwemulator{:x}.blob.core.windows.net/;SharedAccessSignature=sv=2022-11-02&ss=b&srt=co&sp=rwl&sig={}",
                    spec.salt & 0xffff, fake_secret(spec, i)),
                "dataAreaId": company(spec, i),
            })
        }
        TableKind::FieldConfig => json!({
            "ProjectName": project_name(i / 20),
            "InternalFieldName": format!("Field{i:07}"),
            "ExternalFieldName": format!("msdyn_field{i:07}"),
            "SyncDirection": i % 3,
        }),
        TableKind::BusinessEvents => {
            let (fo, _) = entity(i);
            let dw = i < spec.dual_write;
            json!({
                "BusinessEventId": format!("BE-{i:07}"),
                "Name": if dw { format!("DualWrite {fo} changed") } else { format!("{fo} business event {i}") },
                "EntityName": fo,
                "IsDualWrite": dw,
            })
        }
        TableKind::RuntimeConfig => {
            let (fo, dv) = entity(i);
            let id = runtime_id(spec, i);
            let unsecure = json!({
                "ProjectId": id,
                "SourceEntityName": fo,
                "SourceEnvironmentType": "AX",
                "DestinationEntityName": dv,
                "DestinationEnvironmentType": "CRM",
                "EntityMapVersion": "1.0.0.0",
                "FieldMappings": [],
            });
            json!({
                "msdyn_dualwriteruntimeconfigid": id,
                "msdyn_name": format!("{fo} ({dv}) {i}"),
                "msdyn_internalentityname": dv.trim_end_matches('s'),
                "msdyn_externalentityname": fo,
                "msdyn_unsecure": unsecure.to_string(),
                "msdyn_secureconfigorganization": spec.target,
                "statecode": 0,
            })
        }
    };
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The generated index a canonical key names, if it has the generated shape.
pub fn index_of(kind: TableKind, spec: &GenSpec, key: &str) -> Option<u32> {
    let i = match kind {
        TableKind::ProjectConfig => digits(key.strip_prefix("DWP-")?)?,
        TableKind::FieldConfig => {
            let (project, field) = key.split_once('\u{1f}')?;
            let i = digits(field.strip_prefix("Field")?)?;
            if project != project_name(i / 20) {
                return None;
            }
            i
        }
        TableKind::BusinessEvents => digits(key.strip_prefix("BE-")?)?,
        TableKind::RuntimeConfig => {
            let id = Uuid::parse_str(key).ok()?;
            let i = (id.as_u128() & 0xffff_ffff) as u32;
            if runtime_id(spec, i) != id {
                return None;
            }
            i
        }
    };
    Some(i)
}

/// Exactly seven digits, so that `DWP-1` and `DWP-0000001` are not the same row.
fn digits(s: &str) -> Option<u32> {
    if s.len() == 7 && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}
