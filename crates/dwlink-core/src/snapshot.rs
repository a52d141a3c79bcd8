//! `dwlink snapshot`: the live state as an emulator fixture, rows included and secrets never, so
//! a plan or an apply can be rehearsed on a copy (`--emulator FIXTURE`).
//!
//! [`capture`] reads (async, through any [`Link`]); [`to_fixture`], [`redact`] and
//! [`render`] are pure.

use url::Url;
use uuid::Uuid;

use crate::diag::Problem;
use crate::fixture::{
    ClientFixture, DataverseFixture, DualWriteFixture, EnvType, Fixture, FoFixture,
    KeyTablesFixture, MapFixture, MapStateFixture, RuntimeFixture, SolutionFixture, TableFixture,
};
use crate::import::url_text;
use crate::link::{Link, Row, Solution, TableRef};
use crate::model::desired::{Desired, EnvironmentType};
use crate::model::identity::same_host;
use crate::model::live::{ConnectionDoubt, LiveState, MapState, OrgRef, Service};

/// What secret-bearing columns hold in a snapshot.
pub const REDACTED: &str = "redacted-by-dwlink";
/// The only client secret a snapshot's emulator accepts: never the user's.
pub const REHEARSAL_SECRET: &str = "rehearsal-secret";

/// Column-name fragments that mark a credential (connection strings, SAS URLs, passwords,
/// tokens). Matched case-insensitively, so an unknown column errs on the side of redaction.
const SECRET_MARKERS: [&str; 5] = ["connectionstring", "secret", "password", "token", "sas"];

pub fn is_secret_column(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_MARKERS.iter().any(|m| lower.contains(m))
}

/// A row as a fixture may hold it: no OData annotations (they describe a read, and the emulator
/// makes its own), secret-bearing values replaced.
pub fn redact(mut row: Row) -> Row {
    row.retain(|k, _| !k.starts_with('@'));
    for (k, v) in row.iter_mut() {
        if is_secret_column(k) && !v.is_null() {
            *v = serde_json::Value::String(REDACTED.into());
        }
    }
    row
}

/// One Dataverse organization as read.
#[derive(Debug, Clone)]
pub struct CapturedOrg {
    pub url: Url,
    pub organization_id: Uuid,
    pub unique_name: Option<String>,
    pub friendly_name: Option<String>,
    /// Redacted runtime-configuration rows.
    pub runtime_rows: Vec<Row>,
}

/// Everything a fixture is made from.
#[derive(Debug, Clone)]
pub struct Captured {
    pub live: LiveState,
    /// Redacted rows of the F&O key tables, by table name (`DualWriteProjectConfiguration`, …).
    pub fo_rows: Vec<(String, Vec<Row>)>,
    /// The connection config's organization first, then the connected and Power Platform link
    /// organizations when they are others.
    pub orgs: Vec<CapturedOrg>,
    pub solutions: Option<Vec<Solution>>,
    /// What could not be copied, for the header.
    pub notes: Vec<String>,
}

/// Reads the live state of `desired` with all rows, plus the other organizations the link names
/// (best effort: one the credentials cannot read is noted, not fatal, because the plan of the
/// connection config never reads it).
pub async fn capture<P, F>(desired: &Desired, connect: F) -> Result<Captured, Problem>
where
    P: Link,
    F: Fn(&Desired) -> Result<P, Problem>,
{
    let primary = connect(desired)?;
    let live = primary.read(desired).await?;
    let mut fo_rows = Vec::new();
    let mut runtime_rows = Vec::new();
    // A table the service gives no set for is left out: its rows cannot be read, so the
    // snapshot cannot hold them (the reset clears them on the service's side).
    for t in live.key_tables.iter().filter(|t| t.unreadable.is_none()) {
        let rows: Vec<Row> = primary
            .read_rows(&TableRef::from(t))
            .await?
            .into_iter()
            .map(redact)
            .collect();
        match t.service {
            Service::FinanceOperations => fo_rows.push((t.table.clone(), rows)),
            Service::Dataverse => runtime_rows = rows,
        }
    }
    let solutions = match &live.connection {
        Some(c) => Some(primary.list_solutions(&c.id).await?),
        None => None,
    };
    let mut orgs = vec![CapturedOrg {
        url: live.dataverse.url.clone(),
        organization_id: live.dataverse.organization_id,
        unique_name: live.dataverse.unique_name.clone(),
        friendly_name: live.dataverse.friendly_name.clone(),
        runtime_rows,
    }];
    let mut notes = Vec::new();
    let linked = live
        .connection
        .as_ref()
        .and_then(|c| c.organization.clone());
    let others = linked
        .into_iter()
        .chain(live.finance_operations.power_platform_link.clone());
    for other in others {
        if orgs.iter().any(|o| same_host(&o.url, &other.url)) {
            continue;
        }
        match read_org(desired, &other, &connect).await {
            Ok(org)
                if orgs
                    .iter()
                    .any(|o| o.organization_id == org.organization_id) =>
            {
                notes.push(format!(
                    "{} answered as an organization already copied; left out",
                    url_text(&other.url)
                ))
            }
            Ok(org) => orgs.push(org),
            Err(p) => {
                notes.push(
                    format!(
                        "{} could not be read ({}); ",
                        url_text(&other.url),
                        p.message
                    ) + if other.organization_id.is_some() {
                        "copied without runtime-configuration rows"
                    } else {
                        "left out"
                    },
                );
                if let Some(id) = other.organization_id {
                    orgs.push(CapturedOrg {
                        url: other.url.clone(),
                        organization_id: id,
                        unique_name: None,
                        friendly_name: None,
                        runtime_rows: Vec::new(),
                    });
                }
            }
        }
    }
    Ok(Captured {
        live,
        fo_rows,
        orgs,
        solutions,
        notes,
    })
}

async fn read_org<P, F>(
    desired: &Desired,
    org: &OrgRef,
    connect: &F,
) -> Result<CapturedOrg, Problem>
where
    P: Link,
    F: Fn(&Desired) -> Result<P, Problem>,
{
    let mut other = desired.clone();
    other.dataverse.url = org.url.clone();
    other.dataverse.organization_id = None;
    let provider = connect(&other)?;
    let live = provider.read(&other).await?;
    let mut runtime_rows = Vec::new();
    for t in live
        .key_tables
        .iter()
        .filter(|t| t.service == Service::Dataverse)
    {
        runtime_rows = provider
            .read_rows(&TableRef::from(t))
            .await?
            .into_iter()
            .map(redact)
            .collect();
    }
    Ok(CapturedOrg {
        url: live.dataverse.url,
        organization_id: live.dataverse.organization_id,
        unique_name: live.dataverse.unique_name,
        friendly_name: live.dataverse.friendly_name,
        runtime_rows,
    })
}

fn env_type(t: EnvironmentType) -> EnvType {
    match t {
        EnvironmentType::Production => EnvType::Production,
        EnvironmentType::Sandbox => EnvType::Sandbox,
        EnvironmentType::CloudHosted => EnvType::CloudHosted,
    }
}

fn map_state(s: MapState) -> MapStateFixture {
    match s {
        MapState::Running => MapStateFixture::Running,
        MapState::Stopped => MapStateFixture::Stopped,
        MapState::NotRunning => MapStateFixture::NotRunning,
        MapState::Paused => MapStateFixture::Paused,
        MapState::InitialSync => MapStateFixture::InitialSync,
        MapState::CatchUp => MapStateFixture::CatchUp,
        MapState::Error => MapStateFixture::Error,
    }
}

fn rows_of(captured: &Captured, table: &str) -> Option<TableFixture> {
    let rows = captured.fo_rows.iter().find(|(t, _)| t == table)?.1.clone();
    Some(TableFixture {
        generate: 0,
        dual_write: None,
        rows,
    })
}

/// The fixture: every count is explicit rows (nothing generated), the one client is the
/// rehearsal client of `desired`'s app registration.
pub fn to_fixture(captured: &Captured, desired: &Desired) -> Fixture {
    let live = &captured.live;
    let fo = &live.finance_operations;
    let dual_write = live.connection.as_ref().map(|c| DualWriteFixture {
        connected_to: c.organization.as_ref().map(|o| url_text(&o.url)),
        legal_entities: c.legal_entities.clone(),
        maps: c
            .maps
            .iter()
            .map(|m| MapFixture {
                version: m.version.clone(),
                versions: m.versions.clone(),
                integration_keys: m.integration_keys.clone().unwrap_or_default(),
                dataverse_table: m.table.clone(),
                prerequisites: m.prerequisites.clone().unwrap_or_default(),
                ..MapFixture::named(m.name.clone(), map_state(m.state))
            })
            .collect(),
        solutions: captured.solutions.as_ref().map(|s| {
            // The management service does not list a solution's maps (DWA `SolutionList.cs`):
            // when none is known, the first solution brings back the maps the connection has
            // now, so a rehearsal's Apply Solution restores what is there.
            let unknown = s.iter().all(|s| s.maps.is_empty());
            s.iter()
                .enumerate()
                .map(|(i, s)| SolutionFixture {
                    name: s.name.clone(),
                    maps: if unknown && i == 0 {
                        c.maps.iter().map(|m| m.name.clone()).collect()
                    } else {
                        s.maps.clone()
                    },
                })
                .collect()
        }),
        failing_maps: Vec::new(),
        set_name: None,
        power_apps_environment_of: None,
        extra_dataverse: Vec::new(),
        without_finance_operations_entry: c.doubt == Some(ConnectionDoubt::NoFinanceOperations),
        map_state_shape: None,
    });
    Fixture {
        finance_operations: vec![FoFixture {
            url: url_text(&fo.url),
            environment_type: env_type(fo.environment_type),
            power_platform_link: fo.power_platform_link.as_ref().map(|p| url_text(&p.url)),
            dual_write,
            key_tables: KeyTablesFixture {
                project_configuration: rows_of(captured, "DualWriteProjectConfiguration"),
                project_field_configuration: rows_of(
                    captured,
                    "DualWriteProjectFieldConfiguration",
                ),
                business_events_definition: rows_of(captured, "BusinessEventsDefinition"),
            },
            initial_power_platform_environment: false,
        }],
        dataverse: captured
            .orgs
            .iter()
            .map(|o| DataverseFixture {
                url: url_text(&o.url),
                organization_id: o.organization_id,
                unique_name: o.unique_name.clone(),
                friendly_name: o.friendly_name.clone(),
                runtime_configurations: RuntimeFixture {
                    generate: 0,
                    secure_config_organization: None,
                    rows: o.runtime_rows.clone(),
                },
            })
            .collect(),
        clients: vec![ClientFixture {
            tenant_id: desired.auth.tenant_id.to_string(),
            client_id: desired.auth.client_id.to_string(),
            secret: REHEARSAL_SECRET.into(),
        }],
        faults: None,
        token_ttl_secs: None,
        async_ms: None,
        reset_ms: None,
        reset_effect: None,
        dual_write_service_url: desired
            .dual_write_service
            .as_ref()
            .map(|s| url_text(&s.url)),
        sign_in: None,
    }
}

/// Where and when the snapshot was taken, for the header.
#[derive(Debug, Clone)]
pub struct Header {
    pub taken_at: String,
    /// The config the snapshot was read with (and that rehearses on it).
    pub config: String,
    /// The fixture's own path, for the rehearsal command line.
    pub fixture: String,
}

pub fn render(
    fixture: &Fixture,
    captured: &Captured,
    desired: &Desired,
    header: &Header,
) -> Result<String, Problem> {
    let body = serde_saphyr::to_string(fixture).map_err(|e| {
        Problem::error(
            "dwlink::snapshot::render",
            format!("cannot write the fixture as YAML: {e}"),
        )
    })?;
    let env = &desired.auth.client_secret_env;
    let mut out = format!(
        "# dwlink snapshot of {} taken at {} (dwlink {}).\n\
         # An emulator fixture: rehearse on this copy without touching the real services:\n\
         #   {env}={REHEARSAL_SECRET} dwlink apply -f {} --emulator {}\n\
         # No secret is copied: secret-bearing columns read `{REDACTED}`, and the emulator accepts\n\
         # only the client secret `{REHEARSAL_SECRET}` (run with {env}={REHEARSAL_SECRET}).\n",
        url_text(&captured.live.finance_operations.url),
        header.taken_at,
        env!("CARGO_PKG_VERSION"),
        header.config,
        header.fixture,
    );
    // Say what the file holds, not what a snapshot could hold: a table F&O serves no set for
    // is `null` here, and a header claiming its rows were copied would be a lie.
    let events_copied = fixture
        .finance_operations
        .first()
        .and_then(|f| f.key_tables.business_events_definition.as_ref())
        .is_some();
    out.push_str(if events_copied {
        "# Only dual-write's BusinessEventsDefinition rows are copied.\n"
    } else {
        "# BusinessEventsDefinition is `null`: F&O serves no OData set for it, so no row could be copied.\n"
    });
    for note in &captured.notes {
        out.push_str(&format!("# note: {note}\n"));
    }
    out.push_str(&body);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

/// The written fixture must load in the emulator as it is: parse it back with the emulator's own
/// loader, so a snapshot too large for its bounds (or a value the serializer wrote ambiguously)
/// fails here, before a rehearsal silently runs on something else.
pub fn check_loadable(text: &str) -> Result<(), Problem> {
    match crate::fixture::parse_str("snapshot", text) {
        Ok(_) => Ok(()),
        Err(problems) => {
            let first = problems
                .0
                .into_iter()
                .next()
                .map_or_else(String::new, |p| p.message);
            Err(Problem::error(
                "dwlink::snapshot::unloadable",
                format!("the snapshot would not load in the emulator: {first}"),
            )
            .help("nothing was written; the emulator reads at most 200,000 YAML values, so very large key tables cannot be rehearsed yet"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_columns_are_redacted_and_annotations_dropped() {
        let row = json!({
            "@odata.etag": "W/\"1\"", "ProjectName": "p", "ServiceBusConnectionString": "Endpoint=sb://x;SharedAccessKey=k",
            "StorageAccountSasConnectionString": "https://a.blob?sig=s", "ApiToken": "t", "Status": 1,
            "ClientSecret": null,
        });
        let row = redact(row.as_object().unwrap().clone());
        assert!(!row.contains_key("@odata.etag"));
        assert_eq!(row["ServiceBusConnectionString"], REDACTED);
        assert_eq!(row["StorageAccountSasConnectionString"], REDACTED);
        assert_eq!(row["ApiToken"], REDACTED);
        assert_eq!(row["ProjectName"], "p");
        assert_eq!(row["Status"], 1);
        assert!(row["ClientSecret"].is_null());
        assert!(!is_secret_column("ExternalEnvironmentURL") && is_secret_column("UserPassword"));
    }

    #[test]
    fn an_unloadable_fixture_is_refused_before_writing() {
        assert!(check_loadable("finance_operations: []\n").is_ok());
        let p = check_loadable("finance_operations: 3\n").unwrap_err();
        assert_eq!(p.code, "dwlink::snapshot::unloadable");
    }
}
