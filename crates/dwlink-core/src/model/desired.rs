//! The validated config: every default resolved, every URL and GUID parsed. Nothing downstream
//! re-checks what validation already guaranteed.

use serde::{Deserialize, Serialize};
use url::Url;
use uuid::Uuid;

pub use crate::config::maps::MapRunState;
pub use crate::config::raw::{DualWriteAuth, EnvironmentType, Kind, ResetTarget, ResetWhen};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Desired {
    pub kind: Kind,
    pub name: String,
    pub protected: bool,
    pub finance_operations: FinanceOperations,
    pub dataverse: Dataverse,
    pub link: Link,
    pub reset: Reset,
    pub after_reset: AfterReset,
    /// Declared maps, in the config's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maps: Vec<DesiredMap>,
    pub auth: Auth,
    pub dual_write_service: Option<DualWriteService>,
    pub restored_from: Option<Url>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FinanceOperations {
    pub url: Url,
    pub environment_type: EnvironmentType,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dataverse {
    pub url: Url,
    pub organization_id: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Link {
    pub reset_target: ResetTarget,
    /// Upper-cased, as F&O stores company codes.
    pub legal_entities: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reset {
    pub when: ResetWhen,
    pub force: bool,
    pub clear_tables: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AfterReset {
    pub apply_solutions: Vec<String>,
    pub start_maps: Vec<String>,
}

/// A declared map (config `maps[]`), defaults resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredMap {
    pub name: String,
    /// `None`: the version is not managed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<MapVersion>,
    pub state: MapRunState,
    /// `None`: the keys are not managed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_keys: Option<Vec<String>>,
    /// Start with an initial sync (`initial_sync: run`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub initial_sync: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MapVersion {
    Latest,
    Exact(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Auth {
    pub tenant_id: Uuid,
    pub client_id: Uuid,
    /// The *name* of the variable; the secret itself is read only when a token is needed.
    pub client_secret_env: String,
}

/// The first-party "Dynamics Data Integration" app: the public client the Data Integrator portal
/// (and Microsoft's own automation) signs users in to the management service with. Sources:
/// MicrosoftDocs/power-platform `power-platform/admin/apps-to-allow.md` (name and id) and
/// microsoft/Dual-write-automations `DWLibary/TokenRefresh.cs` (the `client_id` it refreshes with).
pub const DATA_INTEGRATION_CLIENT_ID: Uuid =
    Uuid::from_u128(0x2e49aa60_1bd3_43b6_8ab6_03ada3d9f08b);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DualWriteService {
    pub url: Url,
    pub auth: DualWriteAuth,
    /// The public client users sign in with (`dual_write_service.client_id`, default
    /// [`DATA_INTEGRATION_CLIENT_ID`]).
    #[serde(default = "data_integration_client_id")]
    pub client_id: Uuid,
}

fn data_integration_client_id() -> Uuid {
    DATA_INTEGRATION_CLIENT_ID
}

impl Desired {
    /// The client a user signs in to the management service with, also when no
    /// `dual_write_service` is declared yet (`dwlink login` needs no gateway URL).
    pub fn dual_write_client_id(&self) -> Uuid {
        self.dual_write_service
            .as_ref()
            .map_or(DATA_INTEGRATION_CLIENT_ID, |s| s.client_id)
    }
}
