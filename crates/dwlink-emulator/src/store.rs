//! The emulated world: every F&O environment, Dataverse organization and dual-write connection,
//! as one serialisable value (so persistence is "write it all atomically").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::table::{GenSpec, Table, TableKind};
use dwlink_core::fixture::{
    host_of, ClientFixture, EnvType, Fixture, MapStateFixture, MapStateShape, ResetEffect,
    SolutionFixture, TableFixture,
};
use dwlink_core::model::live::MapState;

pub(crate) const DEFAULT_TOKEN_TTL: u64 = 3600;
/// Long enough that the first status poll sees the request still waiting (the client polls at once,
/// then after 50 ms), short enough that an apply of several requests takes well under a second.
pub(crate) const DEFAULT_ASYNC_MS: u64 = 40;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct World {
    pub fo: Vec<FoEnv>,
    pub orgs: Vec<Org>,
    pub clients: Vec<ClientFixture>,
    pub requests: BTreeMap<String, AsyncRequest>,
    pub token_ttl_secs: u64,
    pub async_ms: u64,
    pub dws_host: Option<String>,
    /// How long a reset takes (`None`: `async_ms`).
    #[serde(default)]
    pub reset_ms: Option<u64>,
    /// When a reset's effect shows: at once, or only when it is answered.
    #[serde(default)]
    pub reset_effect: ResetEffect,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FoEnv {
    pub url: String,
    pub host: String,
    pub env_type: EnvType,
    pub power_platform_link: Option<String>,
    pub connection: Option<Connection>,
    /// In [`TableKind::FO`] order.
    pub tables: Vec<Table>,
    /// The admin API lists this environment's initial Power Platform environment (linked, no
    /// Dataverse).
    #[serde(default)]
    pub initial_environment: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Connection {
    pub id: Uuid,
    pub name: String,
    pub connected_to: Option<String>,
    pub legal_entities: Vec<String>,
    pub maps: Vec<DwMap>,
    pub solutions: Vec<SolutionFixture>,
    /// Map names whose Start ends in `Error`.
    #[serde(default)]
    pub failing_maps: Vec<String>,
    /// The set's own `name` member when it differs from the lookup's `cname` (`name` above).
    #[serde(default)]
    pub set_name: Option<String>,
    /// The organization (URL) whose Power Platform environment the CRM entry names.
    #[serde(default)]
    pub power_apps_environment_of: Option<String>,
    /// More CRM entries, by organization URL.
    #[serde(default)]
    pub extra_dataverse: Vec<String>,
    /// The set is served without its AX entry (fixture `without_finance_operations_entry`).
    #[serde(default)]
    pub without_finance_operations_entry: bool,
    #[serde(default)]
    pub map_state_shape: MapStateShape,
    /// What the service knows of each map by name, whatever a reset removed: versions offered,
    /// table, prerequisites ([`super::dws::maps`]).
    #[serde(default)]
    pub catalog: BTreeMap<String, super::dws::maps::MapSpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DwMap {
    pub id: Uuid,
    pub name: String,
    pub state: MapState,
    /// The active version; `None`: the catalog's default (oldest) one.
    #[serde(default)]
    pub version: Option<String>,
    /// The integration key fields of the map's Dataverse table.
    #[serde(default)]
    pub keys: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Org {
    pub url: String,
    pub host: String,
    pub organization_id: Uuid,
    pub unique_name: String,
    pub friendly_name: String,
    pub runtime: Table,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum RequestState {
    Waiting,
    Completed,
    Error,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AsyncRequest {
    pub id: String,
    pub state: RequestState,
    pub message: String,
    pub action: Action,
    /// When it was asked and last changed (RFC 3339), as `lastRequests[]` show them (DWA
    /// `DWMaps.cs` `DWMapLastRequest.createdOn`/`modifiedOn`).
    #[serde(default)]
    pub created_on: String,
    #[serde(default)]
    pub modified_on: String,
}

/// What an asynchronous management request does when it completes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Action {
    SetMapState {
        connection: Uuid,
        map: Uuid,
        state: MapState,
    },
    ApplySolution {
        connection: Uuid,
        solution: String,
    },
    /// Pause, resume, or start (with or without initial sync) several maps in one request.
    SetMapStates {
        connection: Uuid,
        maps: Vec<Uuid>,
        state: MapState,
        action: String,
    },
    /// `SolutionAware/{cid}/SwitchActive/{templateId}`.
    SwitchVersion {
        connection: Uuid,
        map: Uuid,
        version: String,
    },
}

impl Action {
    pub(crate) fn connection(&self) -> Uuid {
        match self {
            Action::SetMapState { connection, .. }
            | Action::ApplySolution { connection, .. }
            | Action::SetMapStates { connection, .. }
            | Action::SwitchVersion { connection, .. } => *connection,
        }
    }

    /// The maps a map request concerns (none for a solution).
    pub(crate) fn maps(&self) -> Vec<Uuid> {
        match self {
            Action::SetMapState { map, .. } | Action::SwitchVersion { map, .. } => vec![*map],
            Action::SetMapStates { maps, .. } => maps.clone(),
            Action::ApplySolution { .. } => Vec::new(),
        }
    }
}

/// Stable ids derived from names, so a fixture always yields the same world.
pub(crate) fn name_uuid(namespace: &str, name: &str) -> Uuid {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(format!("{namespace}\0{name}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    uuid::Builder::from_random_bytes(b).into_uuid()
}

fn salt(s: &str) -> u64 {
    name_uuid("salt", s).as_u64_pair().0
}

const DEFAULT_MAPS: [&str; 4] = [
    "Customers V3 (accounts)",
    "Vendors V2 (msdyn_vendors)",
    "Released products V2 (msdyn_sharedproductdetails)",
    "Legal entities (cdm_companies)",
];

fn map_state(s: MapStateFixture) -> MapState {
    match s {
        MapStateFixture::Running => MapState::Running,
        MapStateFixture::Stopped => MapState::Stopped,
        MapStateFixture::NotRunning => MapState::NotRunning,
        MapStateFixture::Paused => MapState::Paused,
        MapStateFixture::InitialSync => MapState::InitialSync,
        MapStateFixture::CatchUp => MapState::CatchUp,
        MapStateFixture::Error => MapState::Error,
    }
}

pub(crate) fn new_map(connection: Uuid, name: &str, state: MapState) -> DwMap {
    DwMap {
        id: name_uuid(&connection.to_string(), name),
        name: name.to_string(),
        state,
        version: None,
        keys: Vec::new(),
    }
}

impl World {
    pub(crate) fn from_fixture(f: &Fixture) -> World {
        let mut fo = Vec::new();
        for e in &f.finance_operations {
            let host = host_of(&e.url).unwrap_or_default();
            let url = format!("https://{host}");
            let dw = e.dual_write.as_ref();
            let companies = dw.map(|d| d.legal_entities.clone()).unwrap_or_default();
            let target = dw
                .and_then(|d| d.connected_to.as_deref())
                .map(normalize_url)
                .unwrap_or_default();
            let spec = |t: &Option<TableFixture>, kind: TableKind| {
                let t = t.clone().unwrap_or_default();
                let mut table = Table::new(
                    kind,
                    GenSpec {
                        count: t.generate,
                        dual_write: t.dual_write.unwrap_or(t.generate),
                        target: target.clone(),
                        companies: companies.clone(),
                        salt: salt(&host),
                    },
                );
                for r in t.rows {
                    let r = match kind {
                        TableKind::ProjectConfig => super::fixture_rows::project(r),
                        _ => r,
                    };
                    if let Ok(k) = table.key_of(&r) {
                        let _ = table.insert(k, r);
                    }
                }
                table
            };
            let k = &e.key_tables;
            let tables = vec![
                spec(&k.project_configuration, TableKind::ProjectConfig),
                spec(&k.project_field_configuration, TableKind::FieldConfig),
                spec(&k.business_events_definition, TableKind::BusinessEvents),
            ];
            let connection = dw.map(|d| {
                let id = name_uuid("connection-set", &host);
                let solutions = d.solutions.clone().unwrap_or_else(|| {
                    let maps: Vec<String> = if d.maps.is_empty() {
                        DEFAULT_MAPS.iter().map(|s| s.to_string()).collect()
                    } else {
                        d.maps.iter().map(|m| m.name.clone()).collect()
                    };
                    vec![SolutionFixture {
                        name: "Dual-write core solution".into(),
                        maps,
                    }]
                });
                Connection {
                    id,
                    catalog: super::dws::maps::catalog(&d.maps),
                    failing_maps: d.failing_maps.clone(),
                    name: format!("dw-{}", host.split('.').next().unwrap_or(&host)),
                    connected_to: d.connected_to.as_deref().map(normalize_url),
                    legal_entities: d
                        .legal_entities
                        .iter()
                        .map(|l| l.to_ascii_uppercase())
                        .collect(),
                    maps: d
                        .maps
                        .iter()
                        .map(|m| {
                            super::dws::maps::from_fixture(
                                new_map(id, &m.name, map_state(m.state)),
                                m,
                            )
                        })
                        .collect(),
                    solutions,
                    set_name: d.set_name.clone(),
                    power_apps_environment_of: d
                        .power_apps_environment_of
                        .as_deref()
                        .map(normalize_url),
                    extra_dataverse: d.extra_dataverse.iter().map(|u| normalize_url(u)).collect(),
                    without_finance_operations_entry: d.without_finance_operations_entry,
                    map_state_shape: d.map_state_shape.unwrap_or_default(),
                }
            });
            fo.push(FoEnv {
                url,
                host,
                env_type: e.environment_type,
                power_platform_link: e.power_platform_link.as_deref().map(normalize_url),
                connection,
                tables,
                initial_environment: e.initial_power_platform_environment,
            });
        }
        let orgs = f
            .dataverse
            .iter()
            .map(|d| {
                let host = host_of(&d.url).unwrap_or_default();
                let unique = d
                    .unique_name
                    .clone()
                    .unwrap_or_else(|| host.split('.').next().unwrap_or(&host).to_string());
                let friendly = d.friendly_name.clone().unwrap_or_else(|| unique.clone());
                let rc = &d.runtime_configurations;
                let mut runtime = Table::new(
                    TableKind::RuntimeConfig,
                    GenSpec {
                        count: rc.generate,
                        dual_write: rc.generate,
                        target: rc
                            .secure_config_organization
                            .clone()
                            .unwrap_or_else(|| friendly.clone()),
                        companies: Vec::new(),
                        salt: salt(&host),
                    },
                );
                for r in &rc.rows {
                    let r = super::fixture_rows::runtime(r.clone());
                    if let Ok(k) = runtime.key_of(&r) {
                        let _ = runtime.insert(k, r);
                    }
                }
                Org {
                    url: format!("https://{host}"),
                    host,
                    organization_id: d.organization_id,
                    unique_name: unique,
                    friendly_name: friendly,
                    runtime,
                }
            })
            .collect();
        World {
            fo,
            orgs,
            clients: f.clients.clone(),
            requests: BTreeMap::new(),
            token_ttl_secs: f.token_ttl_secs.unwrap_or(DEFAULT_TOKEN_TTL),
            async_ms: f.async_ms.unwrap_or(DEFAULT_ASYNC_MS),
            dws_host: f.dual_write_service_url.as_deref().and_then(host_of),
            reset_ms: f.reset_ms,
            reset_effect: f.reset_effect.unwrap_or_default(),
        }
    }

    pub(crate) fn org_by_url(&self, url: &str) -> Option<&Org> {
        let host = host_of(url)?;
        self.orgs.iter().find(|o| o.host == host)
    }

    pub(crate) fn org_by_url_mut(&mut self, url: &str) -> Option<&mut Org> {
        let host = host_of(url)?;
        self.orgs.iter_mut().find(|o| o.host == host)
    }

    pub(crate) fn connection_env(&self, id_or_name: &str) -> Option<usize> {
        self.fo.iter().position(|e| {
            e.connection.as_ref().is_some_and(|c| {
                c.name.eq_ignore_ascii_case(id_or_name)
                    || c.id.to_string().eq_ignore_ascii_case(id_or_name)
            })
        })
    }

    /// Every host the world answers for (for the TLS certificate).
    pub(crate) fn hosts(&self) -> Vec<String> {
        let mut h: Vec<String> = self.fo.iter().map(|e| e.host.clone()).collect();
        h.extend(self.orgs.iter().map(|o| o.host.clone()));
        h.extend(self.dws_host.clone());
        // The admin API's public-cloud host (dwlink-http `admin::ADMIN_API`).
        h.push("api.bap.microsoft.com".into());
        h
    }
}

/// `https://host` (lower case, no path or trailing slash) so URLs compare as the services do.
pub(crate) fn normalize_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => match u.host_str() {
            Some(h) => {
                let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
                format!("{}://{}{port}", u.scheme(), h.to_ascii_lowercase())
            }
            None => url.to_string(),
        },
        Err(_) => url.trim_end_matches('/').to_string(),
    }
}
