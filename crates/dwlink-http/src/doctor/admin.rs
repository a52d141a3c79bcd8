//! `admin.*`: the Power Platform link from the admin API (`crate::services::admin`), and whether
//! Dataverse tells the same story (`RetrieveFinanceAndOperationsIntegrationDetails`), as the
//! plan's `power-platform-link.disagrees` finding compares them.

use super::classify::{failed, Service};
use super::dataverse::Integration;
use super::{run, signin, Check, Ctx, Found, Spec, Status};
use crate::services::admin::{linked_environment, AdminLink};
use dwlink_core::model::desired::EnvironmentType;
use dwlink_core::model::identity::same_host;

fn link_spec() -> Spec {
    Spec::new(
        "admin.power-platform-link",
        "The admin API links at most one environment to this F&O",
        "the admin API's environment list, with at most one environment linked to the F&O environment",
    )
}

fn cross_spec() -> Spec {
    Spec::new(
        "admin.cross-check",
        "The admin API's link agrees with Dataverse's integration",
        "the admin API links F&O to the configured Dataverse exactly when Dataverse says it is integrated with this F&O",
    )
}

/// The link checks, and the link (`Some(None)`: no link) for the cross-check.
pub(crate) async fn link(ctx: &Ctx<'_>) -> (Vec<Check>, Option<Option<AdminLink>>) {
    let (signin, signed_in) = signin::check(ctx, Service::Admin).await;
    if !signed_in {
        return (
            vec![signin, link_spec().skipped("needs signin.admin-api")],
            None,
        );
    }
    let fo_url = &ctx.desired.finance_operations.url;
    let (check, link) = run(link_spec(), ctx.options.timeout, async {
        let link = linked_environment(&ctx.provider.session, &ctx.endpoints.admin, fo_url, None)
            .await
            .map_err(|e| {
                failed(
                    &e,
                    Service::Admin,
                    &ctx.desired.auth.client_id.to_string(),
                    &ctx.options.login_command,
                )
            })?;
        let seen = match &link {
            Some(l) => format!(
                "{} is linked to {} (environment {})",
                host(fo_url),
                l.organization.url,
                l.environment
            ),
            None => format!("no environment is linked to {}", host(fo_url)),
        };
        Ok(Found { seen, value: link })
    })
    .await;
    (vec![signin, check], link)
}

fn host(u: &url::Url) -> &str {
    u.host_str().unwrap_or_default()
}

pub(crate) fn cross_check(
    ctx: &Ctx<'_>,
    link: Option<Option<AdminLink>>,
    integration: Integration,
) -> Check {
    let spec = cross_spec();
    let (Some(link), Some(integration)) = (link, integration) else {
        return spec.skipped("needs admin.power-platform-link and dataverse.fo-integration");
    };
    let fo_url = &ctx.desired.finance_operations.url;
    let declared = &ctx.desired.dataverse.url;
    let admin = match &link {
        Some(l) => format!(
            "the admin API links {} to {}",
            host(fo_url),
            host(&l.organization.url)
        ),
        None => format!("the admin API shows no link for {}", host(fo_url)),
    };
    let dataverse = match &integration {
        Some(i) => format!(
            "{} says it is integrated with {}",
            host(declared),
            host(&i.url)
        ),
        None => format!(
            "{} says it is integrated with no F&O environment",
            host(declared)
        ),
    };
    let seen = format!("{admin}; {dataverse}");
    let (status, fix) = if ctx.desired.finance_operations.environment_type
        == EnvironmentType::CloudHosted
    {
        // Cloud-hosted environments have no Power Platform link to compare.
        (Status::Ok, None)
    } else {
        let admin_says = link
            .as_ref()
            .is_some_and(|l| same_host(&l.organization.url, declared));
        let back_here = integration
            .as_ref()
            .is_some_and(|i| same_host(&i.url, fo_url));
        if admin_says == back_here {
            (Status::Ok, None)
        } else {
            (Status::Differs, Some("check the environment's Power Platform integration in the Power Platform admin center (a link being changed, or a copied environment); plan refuses to choose a reset scenario until both agree".to_string()))
        }
    };
    spec.ended(status, seen, fix, std::time::Duration::ZERO)
}
