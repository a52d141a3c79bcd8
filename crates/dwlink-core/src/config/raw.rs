//! The config exactly as written (spec section 2): plain serde types that mirror the YAML and
//! generate the JSON Schema. Fields whose default depends on other fields stay `Option` so
//! validation can tell "omitted" from "written"; [`super::validate`] turns this into the desired
//! model.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A dwlink config: the dual-write link one F&O environment should have.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "dwlink configuration (dwlink/v1)")]
pub struct RawConfig {
    /// Always `dwlink/v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: ApiVersion,
    /// `DualWriteLink` declares a link; `RestoreCleanup` is a one-shot manifest used after a
    /// database restore (it clears the key tables and relinks while evidence of the restore remains).
    pub kind: Kind,
    pub metadata: Metadata,
    pub finance_operations: FinanceOperations,
    /// The Dataverse environment dual-write must be linked to.
    pub dataverse: Dataverse,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<Link>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<Reset>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_reset: Option<AfterReset>,
    /// Dual-write maps declared at a version, with keys and a run state; maps not named here
    /// are left alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maps: Vec<super::maps::MapDecl>,
    pub auth: Auth,
    /// The dual-write management service; it only accepts a signed-in user's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dual_write_service: Option<DualWriteService>,
    /// `RestoreCleanup` only: the environment whose database was copied into this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<RestoredFrom>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ApiVersion {
    #[serde(rename = "dwlink/v1")]
    V1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Kind {
    DualWriteLink,
    RestoreCleanup,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// How plans, prompts and backups name this environment (letters, digits, `-`, `_`, `.`).
    pub name: String,
    /// `true`: every destructive action is refused. Defaults to `true` for production and
    /// `false` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protected: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FinanceOperations {
    /// Base URL of the finance and operations environment (https).
    pub url: String,
    pub environment_type: EnvironmentType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EnvironmentType {
    Production,
    Sandbox,
    CloudHosted,
}

impl EnvironmentType {
    /// As written in configs and printed in views.
    pub fn name(self) -> &'static str {
        match self {
            EnvironmentType::Production => "production",
            EnvironmentType::Sandbox => "sandbox",
            EnvironmentType::CloudHosted => "cloud-hosted",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Dataverse {
    /// Base URL of the Dataverse environment (https).
    pub url: String,
    /// When given, the live organization must have this id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Link {
    /// `power-platform-link` (default; cloud-hosted environments default to
    /// `current-environment`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_target: Option<ResetTarget>,
    /// F&O company codes (1–4 letters or digits). Empty is allowed, with a warning.
    #[serde(default)]
    pub legal_entities: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ResetTarget {
    PowerPlatformLink,
    CurrentEnvironment,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reset {
    /// `never`, `on-mismatch` (default) or `always`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<ResetWhen>,
    /// `true`: running maps are stopped as part of the reset ("Force Reset"). Default `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force: Option<bool>,
    /// Clear the key tables in F&O and Dataverse before relinking. Default `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clear_tables: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ResetWhen {
    Never,
    OnMismatch,
    Always,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AfterReset {
    /// Solutions applied after a reset to bring the maps back.
    #[serde(default)]
    pub apply_solutions: Vec<String>,
    /// Maps started after the solutions are applied.
    #[serde(default)]
    pub start_maps: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// Microsoft Entra tenant id (GUID).
    pub tenant_id: String,
    /// App registration (client) id (GUID).
    pub client_id: String,
    /// Name of the environment variable that holds the client secret. Literal secrets are
    /// rejected.
    pub client_secret_env: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DualWriteService {
    /// Regional gateway of the dual-write management service (https).
    pub url: String,
    /// `device-code` (default) or `client-credentials` (emulator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<DualWriteAuth>,
    /// The public client (GUID) users sign in to the management service with. Default:
    /// `2e49aa60-1bd3-43b6-8ab6-03ada3d9f08b`, the first-party Dynamics Data Integration app the
    /// Data Integrator portal uses. Only `device-code` sign-ins use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DualWriteAuth {
    DeviceCode,
    ClientCredentials,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoredFrom {
    /// Base URL of the F&O environment whose database was copied into this one.
    pub url: String,
}
