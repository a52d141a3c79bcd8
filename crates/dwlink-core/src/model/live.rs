//! What the services say now: the live side of the diff.
//!
//! Rows are kept as identities and the facts the plan reasons about (counts, the Dataverse URL
//! each configuration row syncs to, the organization each runtime row was made for), not whole
//! rows: a backup re-reads full rows at apply time, guarded by the fingerprint.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;
use uuid::Uuid;

use crate::config::raw::EnvironmentType;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveState {
    pub finance_operations: LiveFinanceOperations,
    /// `None`: dual-write has no connection set for this F&O environment.
    pub connection: Option<LiveConnection>,
    pub dataverse: LiveDataverse,
    /// One entry per key table, F&O tables first, in [`crate::model::key_tables::KEY_TABLES`] order.
    pub key_tables: Vec<KeyTable>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveFinanceOperations {
    pub url: Url,
    pub environment_type: EnvironmentType,
    /// The Power Platform integration's Dataverse environment; `None` when blank (scenario 3)
    /// and always for cloud-hosted environments.
    pub power_platform_link: Option<OrgRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgRef {
    pub url: Url,
    pub organization_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveConnection {
    pub id: String,
    pub name: String,
    /// The Dataverse organization dual-write is connected to now; `None` when unlinked.
    pub organization: Option<OrgRef>,
    /// Upper-case company codes, sorted.
    pub legal_entities: Vec<String>,
    /// Sorted by name.
    pub maps: Vec<LiveMap>,
    /// What makes the current organization unknowable from the connection set; `None` when its
    /// one Dataverse entry's `directUrl` and `powerAppsEnvironment` agree (or the latter says
    /// nothing dwlink can check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doubt: Option<ConnectionDoubt>,
}

/// Why dwlink does not take the connection set's word for the current organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum ConnectionDoubt {
    /// Several Dataverse (CRM/CDS) entries, by their keys in the set. DWA takes the first in
    /// JSON order (`DWCommonEngine.cs` 127–153); dwlink does not guess, so
    /// [`LiveConnection::organization`] is `None`.
    SeveralDataverse { entries: Vec<String> },
    /// The Dataverse entry's `directUrl` names one organization, while the Power Platform
    /// environment its `powerAppsEnvironment` names is, per the admin API, another.
    OrganizationDisagrees {
        direct_url: Url,
        power_apps_environment: String,
        environment_url: Url,
    },
    /// The set lists no finance and operations (AX) entry: no reset request can name it.
    NoFinanceOperations,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveMap {
    pub id: String,
    pub name: String,
    pub state: MapState,
    /// The active version (`detail.template.version`), four-part; `None` when not shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The versions the service offers (`detail.templates[]`), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    /// The map's Dataverse table (`rightEntity.name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// The integration key fields of the map's Dataverse table; `None`: not read (only
    /// declared maps' keys are read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_keys: Option<Vec<String>>,
    /// Names of the maps that must run before this one; `None`: not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prerequisites: Option<Vec<String>>,
    /// When a paused map's pause completed (RFC 3339), when the listing shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_since: Option<String>,
}

impl LiveMap {
    /// A map as a listing without versions shows it.
    pub fn new(id: impl Into<String>, name: impl Into<String>, state: MapState) -> Self {
        LiveMap {
            id: id.into(),
            name: name.into(),
            state,
            version: None,
            versions: Vec::new(),
            table: None,
            integration_keys: None,
            prerequisites: None,
            paused_since: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MapState {
    Running,
    Stopped,
    NotRunning,
    Paused,
    InitialSync,
    CatchUp,
    Error,
}

impl MapState {
    /// States in which the map moves data, so a reset without force must refuse.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            MapState::Running | MapState::InitialSync | MapState::CatchUp
        )
    }

    /// The management service's spelling (`Running`, `InitialSync`, …).
    pub fn service_name(self) -> &'static str {
        match self {
            MapState::Running => "Running",
            MapState::Stopped => "Stopped",
            MapState::NotRunning => "NotRunning",
            MapState::Paused => "Paused",
            MapState::InitialSync => "InitialSync",
            MapState::CatchUp => "CatchUp",
            MapState::Error => "Error",
        }
    }

    pub fn from_service_name(s: &str) -> Option<Self> {
        Some(match s {
            "Running" => MapState::Running,
            "Stopped" => MapState::Stopped,
            "NotRunning" => MapState::NotRunning,
            "Paused" => MapState::Paused,
            "InitialSync" => MapState::InitialSync,
            "CatchUp" => MapState::CatchUp,
            "Error" => MapState::Error,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveDataverse {
    pub url: Url,
    pub organization_id: Uuid,
    pub unique_name: Option<String>,
    pub friendly_name: Option<String>,
    /// The F&O environment this organization says it is integrated with: the cross-check of
    /// the admin API's Power Platform link from the other side.
    #[serde(
        default,
        skip_serializing_if = "FinanceOperationsIntegration::is_unknown"
    )]
    pub integration: FinanceOperationsIntegration,
}

/// What Dataverse's `RetrieveFinanceAndOperationsIntegrationDetails` says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum FinanceOperationsIntegration {
    /// Not asked (snapshots, fakes, older plans).
    #[default]
    Unknown,
    NotLinked,
    Linked {
        url: Url,
    },
}

impl FinanceOperationsIntegration {
    pub fn is_unknown(&self) -> bool {
        matches!(self, FinanceOperationsIntegration::Unknown)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Service {
    FinanceOperations,
    Dataverse,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyTable {
    pub service: Service,
    /// Table name as documented (`DualWriteProjectConfiguration`, `msdyn_dualwriteruntimeconfig`).
    pub table: String,
    /// OData entity set the rows were read from; empty when the service has none for the table.
    pub entity_set: String,
    /// Keys of the rows dual-write owns (for BusinessEventsDefinition only its dual-write rows),
    /// as OData key predicates (`('Customers V3')`, `(ProjectName='x',InternalFieldName='y')`),
    /// sorted. Empty when the table is [`KeyTable::unreadable`].
    pub keys: Vec<String>,
    /// Rows per Dataverse URL they sync to (`ExternalEnvironmentUrl`), for project configurations.
    pub external_urls: BTreeMap<String, usize>,
    /// Rows per organization named in their SecureConfig, for runtime configurations, when the
    /// service has a column that says it ([`KeyTable::fact_column`]).
    pub secure_config_organizations: BTreeMap<String, usize>,
    /// The column the counts above were read from, as the service's metadata lists it; `None`
    /// when the service has no such column, so the counts say nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fact_column: Option<String>,
    /// Why dwlink could not read this table's rows; `None` when [`KeyTable::keys`] are all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<Unreadable>,
}

/// Why a key table's rows are not readable through the service's API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unreadable {
    /// The service's metadata lists no entity set for the table (F&O's
    /// DualWriteProjectFieldConfiguration and BusinessEventsDefinition: real-contract §4). The
    /// management service's reset clears it server-side (UO `data-entities/dual-write/reset.md`).
    NoODataSet,
    /// The set exists but has no column that marks dual-write's rows (BusinessEventsDefinition's
    /// table columns mark none: real-contract §4), so dwlink cannot tell which rows are its.
    NoDualWriteMarker,
}

impl Unreadable {
    /// How plans and status show the table instead of a row count.
    pub fn note(self) -> &'static str {
        match self {
            Unreadable::NoODataSet => "cleared by the service's reset; rows not readable here",
            Unreadable::NoDualWriteMarker => {
                "cleared by the service's reset; dual-write's rows cannot be told apart here"
            }
        }
    }
}

impl KeyTable {
    /// Rows dwlink read; 0 for an unreadable table, whose count is [`KeyTable::count`]'s `None`.
    pub fn rows(&self) -> usize {
        self.keys.len()
    }

    /// The row count, `None` when the rows cannot be read (never a 0 that means "unknown").
    pub fn count(&self) -> Option<usize> {
        self.unreadable.is_none().then_some(self.keys.len())
    }

    /// A table whose rows cannot be read, with nothing counted.
    pub fn unreadable(service: Service, table: &str, why: Unreadable) -> KeyTable {
        KeyTable {
            service,
            table: table.to_string(),
            entity_set: String::new(),
            keys: Vec::new(),
            external_urls: BTreeMap::new(),
            secure_config_organizations: BTreeMap::new(),
            fact_column: None,
            unreadable: Some(why),
        }
    }

    /// The table with its counts but without its keys.
    pub fn without_keys(&self) -> KeyTable {
        KeyTable {
            service: self.service,
            table: self.table.clone(),
            entity_set: self.entity_set.clone(),
            keys: Vec::new(),
            external_urls: self.external_urls.clone(),
            secure_config_organizations: self.secure_config_organizations.clone(),
            fact_column: self.fact_column.clone(),
            unreadable: self.unreadable,
        }
    }
}

struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LiveState {
    /// A stable hash of everything a plan is made from; `apply PLAN` refuses when it moved.
    pub fn fingerprint(&self) -> String {
        // Everything but the keys as JSON, then each table's keys as length-prefixed bytes:
        // escaping 100,000 keys as JSON would cost more than hashing them.
        let mut hasher = HashWriter(Sha256::new());
        let _ = serde_json::to_writer(&mut hasher, &self.without_keys());
        for t in &self.key_tables {
            hasher.0.update((t.keys.len() as u64).to_le_bytes());
            for k in &t.keys {
                hasher.0.update((k.len() as u64).to_le_bytes());
                hasher.0.update(k.as_bytes());
            }
        }
        let digest = hasher.0.finalize();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }

    /// The state with its tables' keys left out: what later steps look up (connection, map ids,
    /// table names), cheap to keep and copy whatever the tables' size.
    pub fn without_keys(&self) -> LiveState {
        LiveState {
            finance_operations: self.finance_operations.clone(),
            connection: self.connection.clone(),
            dataverse: self.dataverse.clone(),
            key_tables: self.key_tables.iter().map(KeyTable::without_keys).collect(),
        }
    }

    pub fn table(&self, table: &str) -> Option<&KeyTable> {
        self.key_tables.iter().find(|t| t.table == table)
    }
}
