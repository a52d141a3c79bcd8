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

/// Generated row `i`, every column.
pub fn row(kind: TableKind, spec: &GenSpec, i: u32) -> Map<String, Value> {
    project(kind, spec, i, &|_| true)
}

/// Generated row `i` with only the columns `want` names: a page of 10,000 generated rows is the
/// emulator's hottest path, and a `$select` of two columns should not pay for nine.
pub fn project(
    kind: TableKind,
    spec: &GenSpec,
    i: u32,
    want: &dyn Fn(&str) -> bool,
) -> Map<String, Value> {
    let mut m = Map::new();
    let mut put = |k: &str, v: &dyn Fn() -> Value| {
        if want(k) {
            m.insert(k.to_string(), v());
        }
    };
    match kind {
        TableKind::ProjectConfig => {
            let (fo, dv) = entity(i);
            put("ProjectName", &|| project_name(i).into());
            put("InternalEntityName", &|| fo.into());
            put("ExternalEntityName", &|| dv.into());
            put("ExternalEnvironmentURL", &|| spec.target.clone().into());
            put("Status", &|| 1.into());
            put("IsDebugMode", &|| false.into());
            put("ServiceBusConnectionString", &|| {
                format!(
                "Endpoint=sb://dw-emulator-{:x}.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey={}",
                spec.salt & 0xffff, fake_secret(spec, i)).into()
            });
            put("StorageAccountSasConnectionString", &|| {
                format!(
                "BlobEndpoint=https://dwemulator{:x}.blob.core.windows.net/;SharedAccessSignature=sv=2022-11-02&ss=b&srt=co&sp=rwl&sig={}",
                spec.salt & 0xffff, fake_secret(spec, i)).into()
            });
            put("dataAreaId", &|| company(spec, i).into());
        }
        TableKind::FieldConfig => {
            put("ProjectName", &|| project_name(i / 20).into());
            put("InternalFieldName", &|| format!("Field{i:07}").into());
            put("ExternalFieldName", &|| format!("msdyn_field{i:07}").into());
            put("SyncDirection", &|| (i % 3).into());
        }
        TableKind::BusinessEvents => {
            let (fo, _) = entity(i);
            let dw = i < spec.dual_write;
            put("BusinessEventId", &|| format!("BE-{i:07}").into());
            put("Name", &|| {
                if dw {
                    format!("DualWrite {fo} changed").into()
                } else {
                    format!("{fo} business event {i}").into()
                }
            });
            put("EntityName", &|| fo.into());
            put("IsDualWrite", &|| dw.into());
        }
        TableKind::RuntimeConfig => {
            let (fo, dv) = entity(i);
            let id = runtime_id(spec, i);
            put("msdyn_dualwriteruntimeconfigid", &|| id.to_string().into());
            put("msdyn_name", &|| format!("{fo} ({dv}) {i}").into());
            put("msdyn_internalentityname", &|| {
                dv.trim_end_matches('s').into()
            });
            put("msdyn_externalentityname", &|| fo.into());
            put("msdyn_unsecure", &|| {
                json!({
                    "ProjectId": id,
                    "SourceEntityName": fo,
                    "SourceEnvironmentType": "AX",
                    "DestinationEntityName": dv,
                    "DestinationEnvironmentType": "CRM",
                    "EntityMapVersion": "1.0.0.0",
                    "FieldMappings": [],
                })
                .to_string()
                .into()
            });
            put("msdyn_secureconfigorganization", &|| {
                spec.target.clone().into()
            });
            put("statecode", &|| 0.into());
        }
    }
    m
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
