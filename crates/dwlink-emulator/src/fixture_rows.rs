//! Fixture rows in the real services' spelling. The fixture format is a contract, and older
//! fixtures (and `dwlink snapshot`s made against older emulators) spell the F&O project
//! configuration with dwlink's first guesses; the emulator serves only real names, so it maps
//! them here, once, when a world is built.

use serde_json::{Map, Value};

use super::generate::{NO_YES_COLUMNS, PROJECT_STATUS};

/// Old fixture name → the property a real `$metadata` has (ntrtd/d365-agent
/// `asset/client/src/DualWriteProjectConfigurationsApi.ts`).
const RENAMED: [(&str, &str); 2] = [
    ("ExternalEnvironmentURL", "ExternalEnvironmentUrl"),
    (
        "StorageAccountSasConnectionString",
        "StorageAccountSASConnectionString",
    ),
];

/// A `DualWriteProjectConfigurations` row: renamed properties, `Status` and the `NoYes`
/// properties as enum member names (OData JSON sends enums so: UO `data-entities/odata.md`), and
/// no `dataAreaId` (the table is global). Values that fit no member stay as they are, so the
/// emulator serves what the fixture says rather than a guess.
pub(crate) fn project(mut row: Map<String, Value>) -> Map<String, Value> {
    for (old, new) in RENAMED {
        if let Some(v) = row.remove(old) {
            row.entry(new).or_insert(v);
        }
    }
    row.remove("dataAreaId");
    if let Some(v) = row.get_mut("Status") {
        if let Some(name) = v
            .as_i64()
            .and_then(|n| PROJECT_STATUS.iter().find(|(m, _)| *m == n))
            .map(|(_, name)| *name)
        {
            *v = Value::String(name.into());
        }
    }
    for c in NO_YES_COLUMNS {
        if let Some(v) = row.get_mut(c) {
            if let Some(b) = v.as_bool() {
                *v = Value::String(if b { "Yes" } else { "No" }.into());
            }
        }
    }
    row
}

/// dwlink's old emulators served a `msdyn_secureconfigorganization` column that no public source
/// names (real-contract §3); a real `EntityDefinitions` does not list it, so neither does this
/// one, and the column is dropped from the rows it serves.
pub(crate) const UNSERVED_RUNTIME_COLUMN: &str = "msdyn_secureconfigorganization";

pub(crate) fn runtime(mut row: Map<String, Value>) -> Map<String, Value> {
    row.remove(UNSERVED_RUNTIME_COLUMN);
    row
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn old_project_rows_get_the_real_names_and_enums() {
        let row = project(obj(json!({
            "ProjectName": "P", "ExternalEnvironmentURL": "https://x", "Status": 1,
            "IsDebugMode": true, "IsDelete": false, "StorageAccountSasConnectionString": "s",
            "dataAreaId": "usmf"
        })));
        assert_eq!(
            Value::Object(row),
            json!({"ProjectName": "P", "ExternalEnvironmentUrl": "https://x", "Status": "Disabled",
                   "IsDebugMode": "Yes", "IsDelete": "No", "StorageAccountSASConnectionString": "s"})
        );
        // A real name wins over an old one; an unknown status value is left for the test to see.
        let row = project(obj(
            json!({"ExternalEnvironmentURL": "old", "ExternalEnvironmentUrl": "new", "Status": 3}),
        ));
        assert_eq!(
            Value::Object(row),
            json!({"ExternalEnvironmentUrl": "new", "Status": 3})
        );
        let rt = runtime(obj(
            json!({"msdyn_name": "a", "msdyn_secureconfigorganization": "P"}),
        ));
        assert_eq!(Value::Object(rt), json!({"msdyn_name": "a"}));
    }
}
