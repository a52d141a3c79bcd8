//! `terraform import dwlink_dual_write_link.X <F&O URL>`: the attributes `dwlink import` would
//! write, read from live state.

use tf_provider::value::Value;
use url::Url;

use dwlink_core::config::raw::{EnvironmentType, RawConfig};
use dwlink_core::diag::Problem;
use dwlink_core::import;

use crate::document;
use crate::engine::Settings;
use crate::state::{text, texts, AfterResetBlock, LinkState, ResetBlock};

fn bad_id(id: &str, why: &str) -> Problem {
    Problem::error(
        "dwlink::import::id",
        format!("`{id}` is not an F&O environment URL: {why}"),
    )
    .help("import by the environment's base URL, e.g. `terraform import dwlink_dual_write_link.uat https://contoso-uat.sandbox.operations.dynamics.com`")
}

/// The type the host says: sandboxes are `*.sandbox.operations.*`, cloud-hosted ones
/// `*.cloudax.*`; production and sandbox look alike to every service dwlink reads, so the host is
/// all there is (an inference; the imported `environment_type` is worth a look).
fn type_of(url: &Url) -> EnvironmentType {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    if host.contains(".sandbox.") {
        EnvironmentType::Sandbox
    } else if host.contains(".cloudax.") {
        EnvironmentType::CloudHosted
    } else {
        EnvironmentType::Production
    }
}

pub async fn import(settings: &Settings, id: &str) -> Result<LinkState, Problem> {
    let fo = Url::parse(id.trim()).map_err(|e| bad_id(id, &e.to_string()))?;
    if fo.host_str().is_none() {
        return Err(bad_id(id, "it has no host"));
    }
    let Some(gateway) = &settings.import_gateway else {
        return Err(Problem::error(
            "dwlink::import::gateway",
            "importing needs the regional dual-write management-service gateway, which no API tells",
        )
        .help("set `dual_write_service_url` (and `dual_write_service_auth` if not device-code) in the provider \"dwlink\" block, then import again"));
    };
    let mut connection = LinkState {
        name: text(import::derive_name(&fo)),
        finance_operations_url: text(import::url_text(&fo)),
        environment_type: text(type_of(&fo).name()),
        // Replaced by the Power Platform link's organization below; the admin API needs none.
        dataverse_url: text("https://dataverse.invalid"),
        dual_write_service_url: text(gateway.0.clone()),
        dual_write_service_auth: gateway.1.clone().map_or(Value::Null, text),
        ..Default::default()
    };
    let desired = |s: &LinkState| -> Result<_, Problem> {
        let doc = document::document(s, &settings.auth, "DualWriteLink");
        let checked = document::check(&doc, "terraform import");
        checked.desired.ok_or_else(|| {
            Problem::error(
                "dwlink::import::config",
                "the provider block does not make a valid connection config",
            )
            .help("check tenant_id, client_id and dual_write_service_url in the provider block")
        })
    };
    let first = desired(&connection)?;
    let linked = settings
        .http(&first)?
        .power_platform_link(&first.finance_operations.url)
        .await
        .map_err(|e| e.to_problem())?;
    let Some(org) = linked else {
        return Err(Problem::error(
            "dwlink::import::no_link",
            format!("{} has no Power Platform link: there is no organization to import from", import::url_text(&fo)),
        )
        .help("declare the resource with the dataverse_url it should link to and run `terraform apply` instead"));
    };
    connection.dataverse_url = text(import::url_text(&org.url));
    let declared = desired(&connection)?;
    let (used, live) = import::read(&declared, |d| settings.http(d)).await?;
    Ok(from_config(&import::build(&used, &live).config, &fo))
}

fn from_config(c: &RawConfig, fo: &Url) -> LinkState {
    let link = c.link.clone().unwrap_or_default();
    let reset = c.reset.clone().unwrap_or_default();
    LinkState {
        id: text(fo.host_str().unwrap_or_default()),
        name: text(c.metadata.name.clone()),
        finance_operations_url: text(c.finance_operations.url.clone()),
        environment_type: text(c.finance_operations.environment_type.name()),
        dataverse_url: text(c.dataverse.url.clone()),
        dataverse_organization_id: c
            .dataverse
            .organization_id
            .clone()
            .map_or(Value::Null, text),
        protected: c.metadata.protected.map_or(Value::Null, Value::Value),
        reset_target: link.reset_target.map_or(Value::Null, |t| {
            text(
                serde_json::to_value(t)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
            )
        }),
        legal_entities: Value::Value(link.legal_entities.into_iter().map(text).collect()),
        reset: Value::Value(ResetBlock {
            when: reset.when.map_or(Value::Null, |w| {
                text(
                    serde_json::to_value(w)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                )
            }),
            force: reset.force.map_or(Value::Null, Value::Value),
            clear_tables: reset.clear_tables.map_or(Value::Null, Value::Value),
        }),
        after_reset: match &c.after_reset {
            Some(a) => Value::Value(AfterResetBlock {
                apply_solutions: texts(a.apply_solutions.clone()),
                start_maps: texts(a.start_maps.clone()),
            }),
            None => Value::Null,
        },
        dual_write_service_url: c
            .dual_write_service
            .as_ref()
            .map_or(Value::Null, |d| text(d.url.clone())),
        dual_write_service_auth: c.dual_write_service.as_ref().and_then(|d| d.auth).map_or(
            Value::Null,
            |a| {
                text(
                    serde_json::to_value(a)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                )
            },
        ),
        planned_actions: Value::Value(Vec::new()),
        ..Default::default()
    }
}
