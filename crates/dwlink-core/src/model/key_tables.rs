//! The registry of dual-write key tables: the one place that names each table, its OData set, its
//! key columns, which of its rows are dual-write's and the column the plan counts rows by.
//! Readers, writers, backups, plans and fixtures all look tables up here.
//!
//! Sources: the table names are those of Microsoft's "Reset dual-write" page (dynamics365
//! unified-operations `data-entities/dual-write/reset.md`). Set names, keys and columns here are
//! *candidates*: the HTTP link reads a set only when the service's own metadata (F&O
//! `$metadata`, Dataverse `EntityDefinitions`) lists it, with the key it states.
//! `DualWriteProjectConfigurations`, its key `ProjectName` and `ExternalEnvironmentUrl` come
//! from a client generated from a real `$metadata` (ntrtd/d365-agent
//! `asset/client/src/DualWriteProjectConfigurationsApi.ts`); no public OData set is known for the
//! field configurations and business events (their names below are dwlink's, used only if a
//! `$metadata` ever lists them), and no public source names a SecureConfig-organization column.
//! docs/http-contract.md lists each name with what is known of it.

use super::live::Service;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyTableDef {
    pub service: Service,
    pub table: &'static str,
    /// Candidate OData set; F&O sets are looked up in `$metadata`, the Dataverse one is resolved
    /// through `EntityDefinitions` at read time.
    pub entity_set: &'static str,
    pub keys: &'static [&'static str],
    /// Dataverse primary keys are bare GUIDs in predicates.
    pub guid_key: bool,
    /// Only these rows are dual-write's (an OData `$filter`).
    pub filter: Option<&'static str>,
    /// The column the plan counts rows by, if any, when the service lists it.
    pub fact: Option<&'static str>,
    /// A public source shows this set on real environments, so the plan reads its rows while
    /// `$metadata` is still on its way, and keeps them only if `$metadata` states the set as read.
    pub known_public: bool,
}

pub const PROJECT_CONFIGURATION: &str = "DualWriteProjectConfiguration";
pub const FIELD_CONFIGURATION: &str = "DualWriteProjectFieldConfiguration";
pub const BUSINESS_EVENTS: &str = "BusinessEventsDefinition";
pub const RUNTIME_CONFIGURATION: &str = "msdyn_dualwriteruntimeconfig";
pub const RUNTIME_PRIMARY_ID: &str = "msdyn_dualwriteruntimeconfigid";
/// dwlink's name for a column naming the organization a runtime row was made for. No public
/// source names such a column (real-contract §3): it is counted only when `EntityDefinitions`
/// lists it among the table's attributes, never assumed.
pub const SECURE_CONFIG_ORGANIZATION: &str = "msdyn_secureconfigorganization";
/// The Dataverse URL a project configuration syncs to (ntrtd/d365-agent
/// `DualWriteProjectConfigurationsApi.ts`, generated from a real `$metadata`).
pub const EXTERNAL_ENVIRONMENT_URL: &str = "ExternalEnvironmentUrl";

/// DualWriteProjectConfigurations properties of the enum type `NoYes`, sent as member names
/// (`No`/`Yes`) (ntrtd/d365-agent `asset/client/src/DualWriteProjectConfigurationsApi.ts`,
/// generated from a real `$metadata`). The emulator serves them so; `conformance` compares their
/// members.
pub const PROJECT_NO_YES_PROPERTIES: [&str; 6] = [
    "DisablePerfEnhancements",
    "EnableBatchLookup",
    "EnableCache",
    "EnableFailureReconciliation",
    "IsDebugMode",
    "IsDelete",
];

/// In the order plans list them: F&O tables first.
pub const KEY_TABLES: [KeyTableDef; 4] = [
    KeyTableDef {
        service: Service::FinanceOperations,
        table: PROJECT_CONFIGURATION,
        entity_set: "DualWriteProjectConfigurations",
        keys: &["ProjectName"],
        guid_key: false,
        filter: None,
        fact: Some(EXTERNAL_ENVIRONMENT_URL),
        known_public: true,
    },
    KeyTableDef {
        service: Service::FinanceOperations,
        table: FIELD_CONFIGURATION,
        entity_set: "DualWriteProjectFieldConfigurations",
        keys: &["ProjectName", "InternalFieldName"],
        guid_key: false,
        filter: None,
        fact: None,
        known_public: false,
    },
    KeyTableDef {
        service: Service::FinanceOperations,
        table: BUSINESS_EVENTS,
        entity_set: "BusinessEventsDefinitions",
        keys: &["BusinessEventId"],
        guid_key: false,
        filter: Some("IsDualWrite eq true"),
        fact: None,
        known_public: false,
    },
    KeyTableDef {
        service: Service::Dataverse,
        table: RUNTIME_CONFIGURATION,
        entity_set: "msdyn_dualwriteruntimeconfigs",
        keys: &[RUNTIME_PRIMARY_ID],
        guid_key: true,
        filter: None,
        fact: Some(SECURE_CONFIG_ORGANIZATION),
        known_public: false,
    },
];

/// The registered table of this name.
pub fn by_table(table: &str) -> Option<&'static KeyTableDef> {
    KEY_TABLES.iter().find(|t| t.table == table)
}

/// The registered table a service reads from this entity set. Dataverse sets are resolved at run
/// time, so any `msdyn_` set of Dataverse is taken for the runtime-configuration table.
pub fn by_entity_set(service: Service, entity_set: &str) -> Option<&'static KeyTableDef> {
    KEY_TABLES
        .iter()
        .find(|t| t.service == service && t.entity_set == entity_set)
        .or_else(|| {
            KEY_TABLES.iter().find(|t| {
                t.service == Service::Dataverse
                    && service == Service::Dataverse
                    && entity_set.starts_with("msdyn_")
            })
        })
}
