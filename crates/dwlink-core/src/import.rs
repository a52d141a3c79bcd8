//! `dwlink import`: the config that declares the live link as a reset would make it.
//!
//! Reading is async (one or two live reads); building the [`RawConfig`] and rendering its YAML
//! are pure, so the round trip "import, then plan against the same state" is testable without a
//! clock or a network.

use url::Url;

use crate::config::raw::{
    ApiVersion, Auth, Dataverse, DualWriteService, EnvironmentType, FinanceOperations, Kind, Link,
    Metadata, RawConfig, Reset, ResetTarget, ResetWhen,
};
use crate::config::validate;
use crate::diag::{Problem, Severity};
use crate::link::Link as LiveLink;
use crate::model::desired::Desired;
use crate::model::identity::{same_host, same_organization};
use crate::model::live::{LiveState, OrgRef};
use crate::plan::diff::diff;
use crate::plan::FindingCode;

/// Where editors find the schema: next to the file, written by `dwlink schema`. An imported file
/// can land anywhere, so a path into this repository would be wrong for most users.
pub const SCHEMA_MODELINE: &str = "# yaml-language-server: $schema=dwlink.schema.json";

/// The organization the imported config declares: the one a reset would link dual-write to.
/// That is the Power Platform link's (reset.md: a reset relinks to it), the current one only on
/// cloud-hosted environments (no Power Platform integration) or where the link is blank. A
/// restored sandbox still connected to production's organization is declared with its own
/// Power Platform link, so its plan shows the cleanup instead of "No changes".
pub fn declared_organization(live: &LiveState) -> Option<&OrgRef> {
    let current = live
        .connection
        .as_ref()
        .and_then(|c| c.organization.as_ref());
    match reset_target(live) {
        ResetTarget::PowerPlatformLink => live.finance_operations.power_platform_link.as_ref(),
        ResetTarget::CurrentEnvironment => current,
    }
}

/// The target a reset of the imported config uses: the Power Platform link wherever there is
/// one; the current organization on cloud-hosted environments and where the link is blank
/// (scenario 3), the only target left there.
pub fn reset_target(live: &LiveState) -> ResetTarget {
    let fo = &live.finance_operations;
    if fo.environment_type == EnvironmentType::CloudHosted {
        return ResetTarget::CurrentEnvironment;
    }
    match &fo.power_platform_link {
        Some(_) => ResetTarget::PowerPlatformLink,
        None => ResetTarget::CurrentEnvironment,
    }
}

/// What the live connection showed instead of the declared organization, as a comment line.
fn shown_instead(live: &LiveState) -> Option<String> {
    let declared = declared_organization(live)?;
    let current = live
        .connection
        .as_ref()
        .and_then(|c| c.organization.as_ref());
    match current {
        Some(c) if same_organization(c, declared) => None,
        Some(c) => Some(format!(
            "live: dual-write is connected to {} now; this file declares {}, the Power Platform link a reset links to: a plan will reset to it",
            url_text(&c.url),
            url_text(&declared.url)
        )),
        None => None,
    }
}

/// A metadata name from the F&O host's first label (`contoso-uat` of
/// `contoso-uat.sandbox.operations.dynamics.com`), for when no config names the environment.
pub fn derive_name(fo: &Url) -> String {
    let label = fo
        .host_str()
        .and_then(|h| h.split('.').next())
        .unwrap_or("");
    let name: String = label
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    if name.is_empty() {
        "imported".into()
    } else {
        name.to_ascii_lowercase()
    }
}

/// Reads the live state as the imported config will see it: when dual-write is connected to
/// another organization than the connection config names, that organization is read too (its
/// id and runtime-configuration rows are part of what the import declares). Returns the
/// connection config actually used for the final read.
pub async fn read<P, F>(desired: &Desired, connect: F) -> Result<(Desired, LiveState), Problem>
where
    P: LiveLink,
    F: Fn(&Desired) -> Result<P, Problem>,
{
    let (used, live) = read_link(desired, &connect).await?;
    // Keys and prerequisites are read only for declared maps: a second read declares them all.
    let unread = live
        .connection
        .iter()
        .flat_map(|c| c.maps.iter())
        .any(|m| m.integration_keys.is_none());
    if !unread {
        return Ok((used, live));
    }
    let mut every = used.clone();
    every.maps = live
        .connection
        .iter()
        .flat_map(|c| c.maps.iter())
        .map(|m| crate::model::desired::DesiredMap {
            name: m.name.clone(),
            version: None,
            state: crate::config::maps::MapRunState::Running,
            integration_keys: None,
            initial_sync: false,
        })
        .collect();
    let live = connect(&every)?.read(&every).await?;
    Ok((used, live))
}

async fn read_link<P, F>(desired: &Desired, connect: &F) -> Result<(Desired, LiveState), Problem>
where
    P: LiveLink,
    F: Fn(&Desired) -> Result<P, Problem>,
{
    let live = connect(desired)?.read(desired).await?;
    let Some(org) = declared_organization(&live) else {
        return Ok((desired.clone(), live));
    };
    if same_host(&org.url, &desired.dataverse.url) {
        return Ok((desired.clone(), live));
    }
    let mut other = desired.clone();
    other.dataverse.url = org.url.clone();
    other.dataverse.organization_id = None;
    let live = connect(&other)?.read(&other).await.map_err(|e| {
        let shown = url_text(&other.dataverse.url);
        Problem::error(e.code(), format!("{e} (reading {shown}, the organization dual-write is connected to)"))
            .help(format!("import reads {shown} with the credentials of the -f config; give the app registration access to it, or import after relinking"))
    })?;
    Ok((other, live))
}

/// The config that declares `live`, and notes for what a plan would still do.
#[derive(Debug, Clone)]
pub struct Imported {
    pub config: RawConfig,
    /// Why a plan against the same live state is not empty (drift by definition: rows syncing
    /// elsewhere, SecureConfig naming another organization, no link), one line each.
    pub notes: Vec<String>,
}

/// `connection` is the config import read with: its name, credentials and management-service
/// settings are copied, everything else comes from `live`.
pub fn build(connection: &Desired, live: &LiveState) -> Imported {
    let fo = &live.finance_operations;
    let name = if connection.name.is_empty() {
        derive_name(&fo.url)
    } else {
        connection.name.clone()
    };
    let config = RawConfig {
        api_version: ApiVersion::V1,
        kind: Kind::DualWriteLink,
        metadata: Metadata {
            name,
            protected: Some(fo.environment_type == EnvironmentType::Production),
        },
        finance_operations: FinanceOperations {
            url: url_text(&fo.url),
            environment_type: fo.environment_type,
        },
        dataverse: Dataverse {
            url: url_text(&live.dataverse.url),
            organization_id: Some(live.dataverse.organization_id.to_string()),
        },
        link: Some(Link {
            reset_target: Some(reset_target(live)),
            legal_entities: live
                .connection
                .as_ref()
                .map(|c| c.legal_entities.clone())
                .unwrap_or_default(),
        }),
        reset: Some(Reset {
            when: Some(ResetWhen::OnMismatch),
            force: Some(false),
            clear_tables: Some(true),
        }),
        after_reset: None,
        maps: declared_maps(live),
        auth: Auth {
            tenant_id: connection.auth.tenant_id.to_string(),
            client_id: connection.auth.client_id.to_string(),
            client_secret_env: connection.auth.client_secret_env.clone(),
        },
        dual_write_service: connection
            .dual_write_service
            .as_ref()
            .map(|s| DualWriteService {
                url: url_text(&s.url),
                auth: Some(s.auth),
                client_id: (s.client_id != crate::model::desired::DATA_INTEGRATION_CLIENT_ID)
                    .then(|| s.client_id.to_string()),
            }),
        restored_from: None,
    };
    let notes = notes(&config, live);
    Imported { config, notes }
}

/// Every live map at its exact version, with its keys and run state: what a plan then keeps.
fn declared_maps(live: &LiveState) -> Vec<crate::config::maps::MapDecl> {
    use crate::config::maps::{MapDecl, MapRunState};
    use crate::model::live::MapState;
    live.connection
        .iter()
        .flat_map(|c| c.maps.iter())
        .map(|m| MapDecl {
            name: m.name.clone(),
            version: m.version.clone(),
            state: Some(match m.state {
                s if s.is_active() => MapRunState::Running,
                MapState::Paused => MapRunState::Paused,
                _ => MapRunState::Stopped,
            }),
            integration_keys: m.integration_keys.clone().filter(|k| !k.is_empty()),
            initial_sync: None,
        })
        .collect()
}

/// What a plan made from the imported config would still do, from the same diff `plan` runs.
fn notes(config: &RawConfig, live: &LiveState) -> Vec<String> {
    let Some(desired) = validate::desired(config) else {
        return vec![
            "the imported config could not be resolved; run `dwlink validate` on it".into(),
        ];
    };
    let decision = diff(&desired, live);
    let mut notes: Vec<String> = shown_instead(live).into_iter().collect();
    let linked = live
        .connection
        .as_ref()
        .is_some_and(|c| c.organization.is_some());
    if !linked {
        notes.push(
            "dual-write is not linked to any organization: a plan will reset to link it".into(),
        );
    }
    let has = |code: FindingCode| decision.findings.iter().any(|f| f.code == code);
    if has(FindingCode::RestoreForeignLink) {
        notes.push("live state has rows syncing to another organization: a plan will reset".into());
    }
    if has(FindingCode::SecureConfigOrganizationMismatch) {
        notes.push("runtime-configuration rows name another organization in their SecureConfig: a plan will reset".into());
    }
    if notes.len() == usize::from(shown_instead(live).is_some()) && !decision.actions.is_empty() {
        let kinds: Vec<&str> = decision.actions.iter().map(|a| a.kind().name()).collect();
        notes.push(format!(
            "a plan against this live state is not empty: {}",
            kinds.join(", ")
        ));
    }
    for f in decision
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
    {
        notes.push(format!(
            "a plan will stop with an error: {} ({})",
            f.message, f.help
        ));
    }
    notes
}

/// Where and when the import happened, for the header comment.
#[derive(Debug, Clone)]
pub struct Header {
    /// UTC timestamp (RFC 3339).
    pub imported_at: String,
    /// The connection config import read with.
    pub connection_config: String,
}

/// The YAML text: modeline first (editors only look there), then the header and notes as
/// comments, then the config.
pub fn render(imported: &Imported, header: &Header) -> Result<String, Problem> {
    let body = serde_saphyr::to_string(&imported.config).map_err(|e| {
        Problem::error(
            "dwlink::import::render",
            format!("cannot write the config as YAML: {e}"),
        )
    })?;
    let mut out = String::new();
    out.push_str(SCHEMA_MODELINE);
    out.push('\n');
    out.push_str(&format!(
        "# Imported by dwlink {} at {}\n# from {}\n# with the credentials of {}.\n",
        env!("CARGO_PKG_VERSION"),
        header.imported_at,
        imported.config.finance_operations.url,
        header.connection_config
    ));
    out.push_str("# It declares the link as a reset would make it: the Power Platform link's organization\n# (the current one on cloud-hosted environments or where the link is blank).\n");
    out.push_str("# Write the schema next to it with `dwlink schema > dwlink.schema.json`.\n");
    for note in &imported.notes {
        out.push_str(&format!("# {note}\n"));
    }
    out.push_str(&body);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

/// A URL as a person writes it: no trailing `/` when there is no path.
pub fn url_text(u: &Url) -> String {
    let s = u.as_str();
    if u.path() == "/" && u.query().is_none() && u.fragment().is_none() {
        s.trim_end_matches('/').to_string()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests;
