//! The key tables as the provider reads them: one table of entity sets, key columns and the
//! columns the plan needs, so an inferred name can be corrected in one place.

use crate::model::live::{Service, KEY_TABLES};
use crate::provider::error::{Api, ProviderError};

#[derive(Debug, Clone, Copy)]
pub struct TableDef {
    pub service: Service,
    pub table: &'static str,
    /// Expected OData set; the Dataverse one is resolved through `EntityDefinitions`.
    pub entity_set: &'static str,
    pub keys: &'static [&'static str],
    /// Dataverse primary keys are bare GUIDs in predicates.
    pub guid_key: bool,
    /// Only these rows are dual-write's.
    pub filter: Option<&'static str>,
    /// The column the plan counts rows by, if any.
    pub fact: Option<&'static str>,
}

impl TableDef {
    pub fn api(&self) -> Api {
        match self.service {
            Service::FinanceOperations => Api::FinanceOperations,
            Service::Dataverse => Api::Dataverse,
        }
    }

    /// `$select` for the plan read: keys and the fact column only.
    pub fn plan_select(&self, keys: &[&str]) -> String {
        let mut cols: Vec<&str> = keys.to_vec();
        cols.extend(self.fact);
        cols.join(",")
    }
}

pub const PROJECT_CONFIGURATION: &str = "DualWriteProjectConfiguration";
pub const RUNTIME_CONFIGURATION: &str = "msdyn_dualwriteruntimeconfig";
pub const RUNTIME_PRIMARY_ID: &str = "msdyn_dualwriteruntimeconfigid";
pub const SECURE_CONFIG_ORGANIZATION: &str = "msdyn_secureconfigorganization";

pub const TABLES: [TableDef; 4] = [
    TableDef {
        service: Service::FinanceOperations,
        table: KEY_TABLES[0].1,
        entity_set: KEY_TABLES[0].2,
        keys: &["ProjectName"],
        guid_key: false,
        filter: None,
        fact: Some("ExternalEnvironmentURL"),
    },
    TableDef {
        service: Service::FinanceOperations,
        table: KEY_TABLES[1].1,
        entity_set: KEY_TABLES[1].2,
        keys: &["ProjectName", "InternalFieldName"],
        guid_key: false,
        filter: None,
        fact: None,
    },
    TableDef {
        service: Service::FinanceOperations,
        table: KEY_TABLES[2].1,
        entity_set: KEY_TABLES[2].2,
        keys: &["BusinessEventId"],
        guid_key: false,
        filter: Some("IsDualWrite eq true"),
        fact: None,
    },
    TableDef {
        service: Service::Dataverse,
        table: KEY_TABLES[3].1,
        entity_set: KEY_TABLES[3].2,
        keys: &[RUNTIME_PRIMARY_ID],
        guid_key: true,
        filter: None,
        fact: Some(SECURE_CONFIG_ORGANIZATION),
    },
];

pub fn table_def(table: &str) -> Result<&'static TableDef, ProviderError> {
    TABLES
        .iter()
        .find(|t| t.table == table)
        .ok_or_else(|| ProviderError::Setup {
            message: format!("`{table}` is not a dual-write key table dwlink knows"),
            help: format!(
                "known tables: {}",
                TABLES
                    .iter()
                    .map(|t| t.table)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}
