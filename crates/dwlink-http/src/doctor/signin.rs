//! `signin.*`: a token for each audience dwlink calls, the way every other command gets it
//! (client credentials of the `auth` app; a signed-in user for the management service).

use super::classify::{failed, Service};
use super::{run, Check, Ctx, Found, Spec, DEVICE_CODE_LIMIT};
use crate::signin::auth::Grant;
use dwlink_core::link::error::Api;

fn id(service: Service) -> &'static str {
    match service {
        Service::FinanceOperations => "signin.finance-operations",
        Service::Dataverse => "signin.dataverse",
        Service::Admin => "signin.admin-api",
        Service::ManagementService => "signin.management-service",
    }
}

/// The check's spec, also for reporting it skipped.
pub(crate) fn spec(service: Service) -> Spec {
    Spec::new(
        id(service),
        format!("Sign-in to {} issues a token", service.name()),
        "a token",
    )
}

/// The sign-in check; `true` when a token came.
pub(crate) async fn check(ctx: &Ctx<'_>, service: Service) -> (Check, bool) {
    let ep = ctx.endpoints;
    let (api, url) = match service {
        Service::FinanceOperations => (Api::FinanceOperations, ep.fo_data.clone()),
        Service::Dataverse => (Api::Dataverse, ep.dataverse_api.clone()),
        Service::Admin => (Api::PowerPlatformAdmin, ep.admin.clone()),
        Service::ManagementService => match &ep.dws {
            Some(gw) => (Api::DualWrite, gw.root.clone()),
            None => {
                let mut c = spec(service).skipped("the config has no dual_write_service.url");
                c.fix = Some("add `dual_write_service: {url: https://projectmanagementservice.<region>.gateway.prod.island.powerapps.com}` (the host F&O's dual-write page calls)".into());
                return (c, false);
            }
        },
    };
    let session = &ctx.provider.session;
    let (scope, grant) = session.scope_for(api, &url);
    let client_id = ctx.desired.auth.client_id.to_string();
    let (how, limit) = match grant {
        Grant::ClientCredentials => (
            format!("client credentials of the app {client_id} (auth.client_id)"),
            ctx.options.timeout,
        ),
        Grant::DeviceCode => {
            let interactive = ctx.provider.settings.device_code.interactive;
            let limit = if interactive {
                DEVICE_CODE_LIMIT.max(ctx.options.timeout)
            } else {
                ctx.options.timeout
            };
            (
                "a signed-in user (cached by `dwlink login`, refreshed silently)".to_string(),
                limit,
            )
        }
    };
    let mut s = spec(service);
    s.expected = format!("a token for {scope}, by {how}");
    let login = &ctx.options.login_command;
    let (check, value) = run(s, limit, async {
        session
            .auth
            .token(&scope, grant)
            .await
            .map(|_| Found::seen("a token was issued"))
            .map_err(|e| failed(&e, service, &client_id, login))
    })
    .await;
    (check, value.is_some())
}
