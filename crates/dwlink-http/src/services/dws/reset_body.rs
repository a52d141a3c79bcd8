//! The reset's body for the declared target (DWA `DWLibary/Struct/ResetLinkPayload.cs`, filled by
//! `DWLibary/Engines/ResetLinkEngine.cs` 118–146).
//!
//! DWA always names the connection set's *current* CRM entry (`buildEnvironments`: the CRM entry,
//! the AX entry, and the CRM entry's `powerAppsEnvironment` as `powerAppsEnvironmentName`).
//! Microsoft's reset page (UO `data-entities/dual-write/reset.md`, 2023) offers two targets,
//! "Power Platform Link Dataverse Environment" and "Current Dataverse Environment"; the body is
//! the only part of the request that names a Dataverse environment, so dwlink infers that it
//! selects the target: for `power-platform-link` it names the Power Platform link's environment
//! (admin API `name`, `instanceUrl`, `uniqueName`). **Inference, no public evidence**: plans of
//! a reset whose target is not the current organization say so (`reset.body-inferred`), and so
//! does `dwlink doctor`.

use serde_json::{json, Map, Value};

use super::actions::host_of;
use super::shapes::{ConnectionSet, SetEnvironment};
use crate::services::admin::AdminLink;

/// Which Dataverse environment the body names.
#[derive(Debug, Clone, Copy)]
pub(crate) enum BodyTarget<'a> {
    /// The connection set's CRM entry as read, exactly as DWA sends it.
    Current,
    /// The Power Platform link's environment as the admin API lists it.
    PowerPlatformLink(&'a AdminLink),
}

/// An entry of the body's `environments` (DWA `ResetLinkPayload.cs` `ResetLinkEnvironment`,
/// filled by `ResetLinkEngine.cs` 135–146 `mapEnvToResetLinkEnv`); absent members are left out
/// as DWA leaves out nulls (`NullValueHandling.Ignore`, `ResetLinkEngine.cs` 64).
fn entry(e: &SetEnvironment) -> Value {
    let mut m = Map::new();
    m.insert("targetType".into(), json!(e.target_type));
    let mut put = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            m.insert(k.into(), json!(v));
        }
    };
    put("name", &e.name);
    put("displayName", &e.environment_display_name);
    put("id", &e.power_apps_environment);
    put("directUrl", &e.direct_url);
    m.insert("isDevInstance".into(), json!(e.is_dev_instance));
    Value::Object(m)
}

/// The CRM entry of the Power Platform link's environment, in the shape of a connection set's
/// entry: `name` the organization's unique name, `id` the environment's `name`, `directUrl` its
/// `instanceUrl` without the trailing slash (as connection sets print it). Inferred (above).
fn linked_entry(l: &AdminLink) -> SetEnvironment {
    SetEnvironment {
        name: l.unique_name.clone(),
        target_type: "CRM".into(),
        environment_display_name: l.display_name.clone(),
        power_apps_environment: Some(l.environment.clone()),
        direct_url: Some(
            l.organization
                .url
                .as_str()
                .trim_end_matches('/')
                .to_string(),
        ),
        is_dev_instance: false,
    }
}

/// Whether the current CRM entry already is the Power Platform link's environment: then the body
/// is DWA's own, byte for byte.
fn is_linked(current: &SetEnvironment, l: &AdminLink) -> bool {
    let same_org =
        current.direct_url.as_deref().and_then(host_of) == host_of(l.organization.url.as_str());
    let same_env = current
        .power_apps_environment
        .as_deref()
        .is_none_or(|p| p.trim().eq_ignore_ascii_case(l.environment.trim()));
    same_org && same_env
}

/// DWA `ResetLinkEngine.cs` `buildEnvironments` (118–133): the Dataverse entry, then the F&O
/// entry, and the Dataverse entry's `id` as `powerAppsEnvironmentName`; `legalEntities` as asked.
pub(crate) fn reset_body(
    set: &ConnectionSet,
    target: BodyTarget<'_>,
    legal_entities: &[String],
) -> Result<Value, String> {
    if let Some(names) = set.several_dataverse() {
        return Err(format!(
            "the connection set has several Dataverse environments ({}): dwlink does not guess which one the reset names",
            names.join(", ")
        ));
    }
    let ax = set
        .finance_operations()
        .ok_or("the connection set has no finance and operations (AX) environment")?;
    let current = set.dataverse();
    let crm = match (target, current) {
        (BodyTarget::PowerPlatformLink(l), Some(c)) if is_linked(c, l) => c.clone(),
        (BodyTarget::PowerPlatformLink(l), _) => linked_entry(l),
        (BodyTarget::Current, Some(c)) => c.clone(),
        (BodyTarget::Current, None) => {
            return Err("the connection set has no Dataverse (CRM) environment to keep".into())
        }
    };
    let mut body = Map::new();
    if let Some(p) = &crm.power_apps_environment {
        body.insert("powerAppsEnvironmentName".into(), json!(p));
    }
    body.insert("environments".into(), json!([entry(&crm), entry(ax)]));
    body.insert("legalEntities".into(), json!(legal_entities));
    Ok(Value::Object(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dwlink_core::model::live::OrgRef;

    fn set() -> ConnectionSet {
        serde_json::from_value(json!({
            "id": "c1", "name": "cs",
            "environments": {
                "contoso-uat.sandbox.operations.dynamics.com": {"name": "contoso-uat.sandbox.operations.dynamics.com",
                    "targetType": "AX", "environmentDisplayName": "UAT", "isDevInstance": false,
                    "directUrl": "https://contoso-uat.sandbox.operations.dynamics.com"},
                "org1.crm.dynamics.com": {"name": "org1", "targetType": "CRM",
                    "environmentDisplayName": "Org one", "powerAppsEnvironment": "e1",
                    "directUrl": "https://org1.crm.dynamics.com"}
            }
        }))
        .unwrap()
    }

    fn link(host: &str, env: &str) -> AdminLink {
        AdminLink {
            environment: env.into(),
            production: false,
            organization: OrgRef {
                url: url::Url::parse(&format!("https://{host}/")).unwrap(),
                organization_id: None,
            },
            unique_name: Some("unq2".into()),
            display_name: Some("Org two".into()),
        }
    }

    #[test]
    fn the_current_target_is_dwas_body() {
        let body = reset_body(&set(), BodyTarget::Current, &["USMF".into()]).unwrap();
        assert_eq!(body["powerAppsEnvironmentName"], "e1");
        assert_eq!(body["environments"][0]["name"], "org1");
        assert_eq!(body["environments"][0]["id"], "e1");
        assert_eq!(body["environments"][1]["targetType"], "AX");
        assert_eq!(body["legalEntities"], json!(["USMF"]));
    }

    #[test]
    fn the_power_platform_link_names_its_own_environment() {
        let l = link("org2.crm.dynamics.com", "e2");
        let body = reset_body(&set(), BodyTarget::PowerPlatformLink(&l), &[]).unwrap();
        assert_eq!(body["powerAppsEnvironmentName"], "e2");
        let crm = &body["environments"][0];
        assert_eq!(crm["targetType"], "CRM");
        assert_eq!(crm["name"], "unq2");
        assert_eq!(crm["id"], "e2");
        assert_eq!(crm["displayName"], "Org two");
        assert_eq!(crm["directUrl"], "https://org2.crm.dynamics.com");
        assert_eq!(crm["isDevInstance"], false);
        // The link is the current organization: DWA's body exactly.
        let same = link("ORG1.crm.dynamics.com", "E1");
        assert_eq!(
            reset_body(&set(), BodyTarget::PowerPlatformLink(&same), &[]).unwrap(),
            reset_body(&set(), BodyTarget::Current, &[]).unwrap()
        );
    }

    #[test]
    fn several_dataverse_entries_are_not_guessed_between() {
        let mut s = set();
        let mut other = s.environments["org1.crm.dynamics.com"].clone();
        other.name = Some("org3".into());
        s.environments.insert("org3.crm.dynamics.com".into(), other);
        let e = reset_body(&s, BodyTarget::Current, &[]).unwrap_err();
        assert!(
            e.contains("org1.crm.dynamics.com, org3.crm.dynamics.com"),
            "{e}"
        );
    }
}
