//! The fixture: the YAML seed of an emulated world (spec section 5), read like a config so a bad
//! fixture gets the same spanned diagnostics.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::config::load::{parse_typed, read_source, source_from_bytes, Limits};
use crate::config::schema::schema_json;
use crate::diag::{Problem, Problems};

/// Fixtures may carry explicit rows (a `dwlink snapshot`), so they get far more room than a config.
/// Snapshots carry every key-table row, so fixtures may be large.
pub const FIXTURE_LIMITS: Limits = Limits {
    max_bytes: 256 * 1024 * 1024,
    max_nodes: 5_000_000,
    max_expanded: crate::yaml::MAX_EXPANDED,
};

/// The built-in world: a sandbox restored from production (scenario 2 with a foreign link).
pub const QUICKSTART: &str = include_str!("../../../examples/fixtures/quickstart.yaml");

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    #[serde(default)]
    pub finance_operations: Vec<FoFixture>,
    #[serde(default)]
    pub dataverse: Vec<DataverseFixture>,
    /// Confidential clients the token endpoint accepts (client credentials).
    #[serde(default)]
    pub clients: Vec<ClientFixture>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faults: Option<FaultsFixture>,
    /// Lifetime of issued access tokens (default 3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ttl_secs: Option<u64>,
    /// How long asynchronous management requests stay `Waiting` (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub async_ms: Option<u64>,
    /// How long a reset takes: its POST is answered this many ms after it arrives (default
    /// `async_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_ms: Option<u64>,
    /// When a reset's effect shows in reads: from the `start` of its `reset_ms` (default) or only
    /// at its `end`, when it is answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_effect: Option<ResetEffect>,
    /// The management service's logical URL (only used for the TLS certificate's names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dual_write_service_url: Option<String>,
    /// The signed-in user of the management service (device code, portal refresh tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in: Option<SignInFixture>,
}

/// How the emulated Entra ID signs a user in to the management service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInFixture {
    /// `preferred_username` of the user's id tokens (default `emulated.user@contoso.example`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `tid` of the user's id tokens (default: the first client's tenant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// A refresh token the emulator accepts as if captured from the Data Integrator portal: a
    /// single-page-app token, redeemed only cross-origin (for `dwlink login --refresh-token-stdin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portal_refresh_token: Option<String>,
    /// Lifetime of single-page-app refresh tokens, counted from the first one (default 86400:
    /// Entra's fixed 24 hours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spa_refresh_ttl_secs: Option<u64>,
    /// Lifetime of other refresh tokens (default 7776000: Entra's 90 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_ttl_secs: Option<u64>,
    /// `true`: the device-code endpoint refuses the Dynamics Data Integration app the way Entra
    /// refuses a client not enabled for public-client flows (AADSTS7000218). Whether the real
    /// app allows device code has no public evidence; this lets the refusal be rehearsed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refuse_device_code: bool,
}

/// When an emulated reset's effect is visible.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ResetEffect {
    /// From the moment the POST arrives (the answer comes `reset_ms` later).
    #[default]
    Start,
    /// Only when the POST is answered, `reset_ms` after it arrived.
    End,
}

/// How the map listing writes `detail.state`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MapStateShape {
    /// A numeric string (`"4"`), as in every public example.
    #[default]
    String,
    /// A JSON number (`4`).
    Number,
    /// `null` for every map (DWA reads it as 0, None). Spelled `json-null`: a YAML `null` would
    /// mean "not set".
    #[serde(rename = "json-null")]
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EnvType {
    Production,
    Sandbox,
    CloudHosted,
}

impl EnvType {
    pub fn service_name(self) -> &'static str {
        match self {
            EnvType::Production => "Production",
            EnvType::Sandbox => "Sandbox",
            EnvType::CloudHosted => "CloudHosted",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FoFixture {
    pub url: String,
    pub environment_type: EnvType,
    /// `null`: no Power Platform integration (scenario 3; always so for cloud-hosted).
    #[serde(default)]
    pub power_platform_link: Option<String>,
    /// `null`: dual-write has never been set up for this environment.
    #[serde(default)]
    pub dual_write: Option<DualWriteFixture>,
    #[serde(default)]
    pub key_tables: KeyTablesFixture,
    /// The admin API also lists the initial Power Platform environment of this F&O
    /// environment: linked to it, without a Dataverse (`linkedEnvironmentMetadata`). Meant with
    /// `power_platform_link: null` (scenario 3).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub initial_power_platform_environment: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DualWriteFixture {
    #[serde(default)]
    pub connected_to: Option<String>,
    #[serde(default)]
    pub legal_entities: Vec<String>,
    #[serde(default)]
    pub maps: Vec<MapFixture>,
    /// Solutions Apply Solution can bring back; default: one "Dual-write core solution" holding
    /// the maps above (or a standard set when there are none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solutions: Option<Vec<SolutionFixture>>,
    /// Maps whose Start request ends in `Error` (an initial sync that fails), to rehearse how
    /// a failed asynchronous request is reported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failing_maps: Vec<String>,
    /// The connection set's own `name` member, when the service prints another name than the
    /// environment lookup's `cname` (only `cname` reads the set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_name: Option<String>,
    /// The organization whose Power Platform environment the CRM entry's `powerAppsEnvironment`
    /// names (default: `connected_to`'s): another one makes `directUrl` and it disagree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_apps_environment_of: Option<String>,
    /// More Dataverse (CRM) entries in the connection set, by organization URL.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_dataverse: Vec<String>,
    /// A connection set without its finance and operations (AX) entry: a shape no reset body
    /// can be built from, so dwlink must refuse it in the plan.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub without_finance_operations_entry: bool,
    /// How the map listing writes each map's `state`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map_state_shape: Option<MapStateShape>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MapFixture {
    pub name: String,
    pub state: MapStateFixture,
    /// The active version (default: the newest of `versions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The versions offered (default: `[version]`, or `[1.0.0.0]`). A reset puts the map back
    /// on the oldest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    /// The integration key fields of the map's Dataverse table (default: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub integration_keys: Vec<String>,
    /// The map's Dataverse table (default: the name's parentheses, `accounts` for
    /// `Customers V3 (accounts)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataverse_table: Option<String>,
    /// Maps that must run before this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prerequisites: Vec<String>,
    /// Starting the map on this version ends in Error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fails_on_version: Option<String>,
}

impl MapFixture {
    /// A map with a name and a state and every other key at its default.
    pub fn named(name: impl Into<String>, state: MapStateFixture) -> Self {
        MapFixture {
            name: name.into(),
            state,
            version: None,
            versions: Vec::new(),
            integration_keys: Vec::new(),
            dataverse_table: None,
            prerequisites: Vec::new(),
            fails_on_version: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MapStateFixture {
    Running,
    Stopped,
    NotRunning,
    Paused,
    InitialSync,
    CatchUp,
    Error,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SolutionFixture {
    pub name: String,
    pub maps: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyTablesFixture {
    #[serde(rename = "DualWriteProjectConfiguration", default)]
    pub project_configuration: Option<TableFixture>,
    #[serde(rename = "DualWriteProjectFieldConfiguration", default)]
    pub project_field_configuration: Option<TableFixture>,
    #[serde(rename = "BusinessEventsDefinition", default)]
    pub business_events_definition: Option<TableFixture>,
}

/// Rows of a key table: a count to generate, explicit rows, or both.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TableFixture {
    #[serde(default)]
    pub generate: u32,
    /// BusinessEventsDefinition only: how many of the generated rows are dual-write's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dual_write: Option<u32>,
    /// Rows as the OData set returns them (column names of docs/http-contract.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<Map<String, Value>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataverseFixture {
    pub url: String,
    #[schemars(with = "String")]
    pub organization_id: Uuid,
    #[serde(default)]
    pub unique_name: Option<String>,
    #[serde(default)]
    pub friendly_name: Option<String>,
    #[serde(default)]
    pub runtime_configurations: RuntimeFixture,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuntimeFixture {
    #[serde(default)]
    pub generate: u32,
    /// The organization generated rows name in their SecureConfig (default: this one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secure_config_organization: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<Map<String, Value>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientFixture {
    pub tenant_id: String,
    pub client_id: String,
    pub secret: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultsFixture {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Requests per second per client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<u32>,
    /// Probability (0–1) of a 503.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_rate: Option<f64>,
    /// Probability (0–1) that the connection is closed without an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Service protection per user and service; unset members keep the documented limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_protection: Option<ServiceProtectionFixture>,
}

/// Dataverse's documented service protection (powerapps-docs
/// `developer/data-platform/api-limits.md`): these are its defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceProtectionFixture {
    /// Sliding window (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_secs: Option<u64>,
    /// Requests per window (default 6,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u32>,
    /// Combined execution time per window (default 1,200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_secs: Option<u64>,
    /// Requests at once (default 52).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrent: Option<u32>,
    /// Execution time of one operation, which a request also takes (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_ms: Option<u64>,
}

const EMPTY_HELP: &str = "a fixture lists `finance_operations:`, `dataverse:` and `clients:`; see examples/fixtures/quickstart.yaml";

pub fn load(path: &Path) -> Result<Fixture, Problems> {
    let source = read_source(path, FIXTURE_LIMITS)?;
    parse(&source)
}

pub fn parse_str(name: &str, text: &str) -> Result<Fixture, Problems> {
    let source = source_from_bytes(name, text.as_bytes().to_vec(), FIXTURE_LIMITS)?;
    parse(&source)
}

pub fn quickstart() -> Result<Fixture, Problems> {
    parse_str("quickstart.yaml (built in)", QUICKSTART)
}

fn parse(source: &crate::diag::Source) -> Result<Fixture, Problems> {
    // The schema check caches compiled validators by address, so the schema lives for good.
    static SCHEMA: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    let schema = SCHEMA.get_or_init(schema_json::<Fixture>);
    let parsed = parse_typed::<Fixture>(source, schema, EMPTY_HELP, FIXTURE_LIMITS);
    if parsed.problems.has_errors() {
        return Err(parsed.problems);
    }
    let fixture = parsed.value.ok_or_else(|| {
        Problems::from(Problem::error(
            "dwlink::fixture::invalid",
            format!("{} is not a fixture", source.name()),
        ))
    })?;
    let mut problems = Problems::default();
    check(&fixture, &mut |path, msg| {
        problems.push(
            Problem::error("dwlink::fixture::invalid", msg)
                .in_source(source)
                .at(parsed.index.value(path), "here"),
        )
    });
    if problems.has_errors() {
        Err(problems)
    } else {
        Ok(fixture)
    }
}

/// Rules the schema cannot say: URLs that parse, no host twice.
fn check(f: &Fixture, report: &mut dyn FnMut(&str, String)) {
    let mut hosts = std::collections::HashSet::new();
    let url_ok = |path: String, url: &str, report: &mut dyn FnMut(&str, String)| match host_of(url)
    {
        Some(h) => Some(h),
        None => {
            report(&path, format!("`{url}` is not an absolute http(s) URL"));
            None
        }
    };
    for (i, fo) in f.finance_operations.iter().enumerate() {
        if let Some(h) = url_ok(format!("finance_operations[{i}].url"), &fo.url, report) {
            if !hosts.insert(h.clone()) {
                report(
                    &format!("finance_operations[{i}].url"),
                    format!("host {h} is listed twice"),
                );
            }
        }
        if let Some(pp) = &fo.power_platform_link {
            url_ok(
                format!("finance_operations[{i}].power_platform_link"),
                pp,
                report,
            );
        }
        if let Some(c) = fo.dual_write.as_ref().and_then(|d| d.connected_to.as_ref()) {
            url_ok(
                format!("finance_operations[{i}].dual_write.connected_to"),
                c,
                report,
            );
        }
    }
    for (i, dv) in f.dataverse.iter().enumerate() {
        if let Some(h) = url_ok(format!("dataverse[{i}].url"), &dv.url, report) {
            if !hosts.insert(h.clone()) {
                report(
                    &format!("dataverse[{i}].url"),
                    format!("host {h} is listed twice"),
                );
            }
        }
    }
    if let Some(faults) = &f.faults {
        for (name, p) in [
            ("fail_rate", faults.fail_rate),
            ("drop_rate", faults.drop_rate),
        ] {
            if p.is_some_and(|p| !(0.0..=1.0).contains(&p)) {
                report(
                    &format!("faults.{name}"),
                    format!("`{name}` is a probability between 0 and 1"),
                );
            }
        }
    }
}

/// Host of an absolute http(s) URL, without port, normalized as environments are compared
/// ([`crate::model::identity::host_name`]: lower case, no trailing dot).
pub fn host_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    if !matches!(u.scheme(), "http" | "https") {
        return None;
    }
    crate::model::identity::host_name(&u)
}
