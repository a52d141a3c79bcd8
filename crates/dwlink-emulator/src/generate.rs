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

fn project_name(i: u32) -> String {
    Code::new("DWP-", i).as_str().to_string()
}

/// `prefix` then `n` in at least seven digits (`DWP-0000042`), the shape of generated keys,
/// formatted on the stack: pages of 10,000 rows write two of these per row.
pub(crate) struct Code {
    buf: [u8; 32],
    len: usize,
}

impl Code {
    pub(crate) fn new(prefix: &str, n: u32) -> Code {
        let mut buf = [0u8; 32];
        // Prefixes are short literals; a u32 has at most ten digits.
        let p = prefix.len().min(buf.len() - 10);
        buf[..p].copy_from_slice(&prefix.as_bytes()[..p]);
        let mut digits = [b'0'; 10];
        let (mut n, mut used) = (n, 0);
        while n > 0 {
            digits[9 - used] = b'0' + (n % 10) as u8;
            n /= 10;
            used += 1;
        }
        let width = used.max(7);
        buf[p..p + width].copy_from_slice(&digits[10 - width..]);
        Code {
            buf,
            len: p + width,
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII digits follow a prefix cut at a byte count; a multi-byte prefix cut short
        // would show as empty rather than panic.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

/// A column's value as the emulator writes it: generated keys need no allocation.
#[derive(Debug)]
pub(crate) enum Field<'a> {
    Coded(&'static str, u32),
    Owned(Value),
    Stored(&'a Value),
}

impl Field<'_> {
    pub(crate) fn into_value(self) -> Value {
        match self {
            Field::Coded(prefix, n) => Code::new(prefix, n).as_str().into(),
            Field::Owned(v) => v,
            Field::Stored(v) => v.clone(),
        }
    }
}

impl serde::Serialize for Field<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Coded(prefix, n) => s.serialize_str(Code::new(prefix, *n).as_str()),
            Field::Owned(v) => v.serialize(s),
            Field::Stored(v) => v.serialize(s),
        }
    }
}

/// Generated GUIDs: the salt in the high bits, the index in the low 32.
fn runtime_id(spec: &GenSpec, i: u32) -> Uuid {
    Uuid::from_u128(((spec.salt as u128) << 64) | 0xd0a1_0000_0000_0000_u128 | i as u128)
}

fn fake_secret(spec: &GenSpec, i: u32) -> String {
    format!("{:016x}{:08x}EMULATORFAKEKEY=", spec.salt, i)
}

pub(crate) const PROJECT_COLUMNS: [&str; 23] = [
    "AsyncMode",
    "DisablePerfEnhancements",
    "DualWriteAlertSettings",
    "DualWriteAutoPauseThresholdSetting",
    "EnableBatchLookup",
    "EnableCache",
    "EnableFailureReconciliation",
    "ExternalEntityName",
    "ExternalEnvironmentUrl",
    "ExternalLogicalEntityName",
    "ExternalLookupUrls",
    "FieldMap",
    "IntegrationKey",
    "InternalEntityName",
    "IsDebugMode",
    "IsDelete",
    "PartitionMap",
    "ProjectName",
    "QueryFilterExpression",
    "ServiceBusConnectionString",
    "Status",
    "StorageAccountSASConnectionString",
    "SyncExecutionId",
];

/// Project properties of enum type `NoYes`, sent as member names (core's registry).
pub(crate) use dwlink_core::model::key_tables::PROJECT_NO_YES_PROPERTIES as NO_YES_COLUMNS;

/// `DualWriteProjectStatus` members by value (ntrtd/d365-agent `DualWriteProjectStatus.ts`).
pub(crate) const PROJECT_STATUS: [(i64, &str); 3] =
    [(0, "Enabled"), (1, "Disabled"), (4, "Queueing")];

/// The columns of a generated row, in the order a stored row's map keeps them (byte order),
/// so a generated and a stored row serialize alike.
pub(crate) fn columns(kind: TableKind) -> &'static [&'static str] {
    match kind {
        // The properties of a real `$metadata` (ntrtd/d365-agent
        // `asset/client/src/DualWriteProjectConfigurationsApi.ts`); no `dataAreaId`: the table
        // is global.
        TableKind::ProjectConfig => &PROJECT_COLUMNS,
        TableKind::FieldConfig => &[
            "ExternalFieldName",
            "InternalFieldName",
            "ProjectName",
            "SyncDirection",
        ],
        TableKind::BusinessEvents => &["BusinessEventId", "EntityName", "IsDualWrite", "Name"],
        TableKind::RuntimeConfig => &[
            "msdyn_dualwriteruntimeconfigid",
            "msdyn_externalentityname",
            "msdyn_internalentityname",
            "msdyn_name",
            "msdyn_status",
            "msdyn_unsecure",
            "statecode",
        ],
    }
}

/// Generated row `i`, every column.
pub(crate) fn row(kind: TableKind, spec: &GenSpec, i: u32) -> Map<String, Value> {
    project(kind, spec, i, &|_| true)
}

/// Generated row `i` with only the columns `want` names.
pub(crate) fn project(
    kind: TableKind,
    spec: &GenSpec,
    i: u32,
    want: &dyn Fn(&str) -> bool,
) -> Map<String, Value> {
    columns(kind)
        .iter()
        .filter(|c| want(c))
        .filter_map(|c| Some((c.to_string(), field(kind, spec, i, c)?.into_value())))
        .collect()
}

/// One column of generated row `i` (`name` as [`columns`] spells it). Pages of 10,000
/// generated rows are the emulator's hottest path: they are written column by column from
/// here, never built as maps.
pub(crate) fn field(kind: TableKind, spec: &GenSpec, i: u32, name: &str) -> Option<Field<'static>> {
    let (fo, dv) = entity(i);
    let v: Value = match (kind, name) {
        (TableKind::ProjectConfig, "ProjectName") => return Some(Field::Coded("DWP-", i)),
        (TableKind::ProjectConfig, "InternalEntityName") => fo.into(),
        (TableKind::ProjectConfig, "ExternalEntityName") => dv.into(),
        (TableKind::ProjectConfig, "ExternalLogicalEntityName") => dv.into(),
        (TableKind::ProjectConfig, "ExternalEnvironmentUrl") => spec.target.clone().into(),
        (TableKind::ProjectConfig, "Status") => "Enabled".into(),
        // `DualWriteAsyncMode`'s members: no public evidence, so no value.
        (TableKind::ProjectConfig, "AsyncMode") => Value::Null,
        (TableKind::ProjectConfig, c) if NO_YES_COLUMNS.contains(&c) => "No".into(),
        (TableKind::ProjectConfig, c) if PROJECT_COLUMNS.contains(&c) && !is_set_below(c) => {
            "".into()
        }
        (TableKind::ProjectConfig, "ServiceBusConnectionString") => format!(
            "Endpoint=sb://dw-emulator-{:x}.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey={}",
            spec.salt & 0xffff, fake_secret(spec, i)).into(),
        (TableKind::ProjectConfig, "StorageAccountSASConnectionString") => format!(
            "BlobEndpoint=https://dwemulator{:x}.blob.core.windows.net/;SharedAccessSignature=sv=2022-11-02&ss=b&srt=co&sp=rwl&sig={}",
            spec.salt & 0xffff, fake_secret(spec, i)).into(),
        (TableKind::FieldConfig, "ProjectName") => return Some(Field::Coded("DWP-", i / 20)),
        (TableKind::FieldConfig, "InternalFieldName") => return Some(Field::Coded("Field", i)),
        (TableKind::FieldConfig, "ExternalFieldName") => {
            return Some(Field::Coded("msdyn_field", i))
        }
        (TableKind::FieldConfig, "SyncDirection") => (i % 3).into(),
        (TableKind::BusinessEvents, "BusinessEventId") => return Some(Field::Coded("BE-", i)),
        (TableKind::BusinessEvents, "Name") if i < spec.dual_write => {
            format!("DualWrite {fo} changed").into()
        }
        (TableKind::BusinessEvents, "Name") => format!("{fo} business event {i}").into(),
        (TableKind::BusinessEvents, "EntityName") => fo.into(),
        (TableKind::BusinessEvents, "IsDualWrite") => (i < spec.dual_write).into(),
        (TableKind::RuntimeConfig, "msdyn_dualwriteruntimeconfigid") => {
            runtime_id(spec, i).to_string().into()
        }
        (TableKind::RuntimeConfig, "msdyn_name") => format!("{fo} ({dv}) {i}").into(),
        (TableKind::RuntimeConfig, "msdyn_internalentityname") => {
            dv.trim_end_matches('s').into()
        }
        (TableKind::RuntimeConfig, "msdyn_externalentityname") => fo.into(),
        (TableKind::RuntimeConfig, "msdyn_unsecure") => json!({
            "ProjectId": runtime_id(spec, i),
            "SourceEntityName": fo,
            "SourceEnvironmentType": "AX",
            "DestinationEntityName": dv,
            "DestinationEnvironmentType": "CRM",
            "EntityMapVersion": "1.0.0.0",
            "FieldMappings": [],
        })
        .to_string()
        .into(),
        (TableKind::RuntimeConfig, "statecode") => 0.into(),
        // Its values: no public evidence.
        (TableKind::RuntimeConfig, "msdyn_status") => Value::Null,
        _ => return None,
    };
    Some(Field::Owned(v))
}

/// Project columns with a value of their own in [`field`] (the others are empty strings).
fn is_set_below(column: &str) -> bool {
    matches!(
        column,
        "ServiceBusConnectionString" | "StorageAccountSASConnectionString"
    )
}

/// The generated index a canonical key names, if it has the generated shape.
pub(crate) fn index_of(kind: TableKind, spec: &GenSpec, key: &str) -> Option<u32> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_pad_to_seven_digits_and_grow_past_them() {
        let code = |p, n| Code::new(p, n).as_str().to_string();
        assert_eq!(code("DWP-", 0), "DWP-0000000");
        assert_eq!(code("Field", 4_207), "Field0004207");
        assert_eq!(code("BE-", u32::MAX), "BE-4294967295");
        assert_eq!(code("", 12_345_678), "12345678");
        for n in [0, 7, 99_999, 1_234_567, 9_999_999, 10_000_000, u32::MAX] {
            assert_eq!(code("msdyn_field", n), format!("msdyn_field{n:07}"));
        }
    }

    #[test]
    fn every_listed_column_is_generated_in_map_order() {
        for kind in [TableKind::RuntimeConfig].into_iter().chain(TableKind::FO) {
            let cols = columns(kind);
            assert!(
                cols.windows(2).all(|w| w[0] < w[1]),
                "{kind:?} not in order"
            );
            let spec = GenSpec {
                count: 1,
                ..GenSpec::default()
            };
            let row = row(kind, &spec, 0);
            assert_eq!(row.keys().collect::<Vec<_>>(), cols, "{kind:?}");
        }
    }
}
