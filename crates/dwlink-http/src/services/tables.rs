//! The key tables as the HTTP provider addresses them: core's registry plus the API each lives
//! behind.

use dwlink_core::link::error::{Api, ProviderError};
use dwlink_core::model::key_tables::{self, KEY_TABLES};
use dwlink_core::model::live::Service;

pub(crate) use dwlink_core::model::key_tables::{
    KeyTableDef as TableDef, KEY_TABLES as TABLES, RUNTIME_CONFIGURATION, RUNTIME_PRIMARY_ID,
};

pub(crate) fn api(def: &TableDef) -> Api {
    match def.service {
        Service::FinanceOperations => Api::FinanceOperations,
        Service::Dataverse => Api::Dataverse,
    }
}

pub(crate) fn table_def(table: &str) -> Result<&'static TableDef, ProviderError> {
    key_tables::by_table(table).ok_or_else(|| ProviderError::Setup {
        message: format!("`{table}` is not a dual-write key table dwlink knows"),
        help: format!(
            "known tables: {}",
            KEY_TABLES
                .iter()
                .map(|t| t.table)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}
