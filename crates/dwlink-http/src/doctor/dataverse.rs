//! `dataverse.*`: the runtime-configuration table (its entity set and the attributes dwlink
//! uses), the organization's identity and its F&O integration (`crate::services::dataverse`).

use url::Url;

use super::classify::{failed, Service};
use super::{run, signin, Check, Ctx, Failed, Found, Spec};
use crate::services::dataverse::{self as dv, EntitySet, FoIntegration};
use crate::services::odata::{split_page, str_field, Row};
use crate::services::tables::{RUNTIME_CONFIGURATION, RUNTIME_PRIMARY_ID};
use crate::transport::request::ApiRequest;
use dwlink_core::link::error::{Api, ProviderError};
use dwlink_core::model::key_tables::SECURE_CONFIG_ORGANIZATION;

fn table_spec() -> Spec {
    Spec::new(
        "dataverse.runtime-table",
        format!("Dataverse defines the table {RUNTIME_CONFIGURATION}"),
        format!("EntityDefinitions lists {RUNTIME_CONFIGURATION} with its EntitySetName"),
    )
}

fn attributes_spec() -> Spec {
    Spec::new(
        "dataverse.runtime-attributes",
        format!("{RUNTIME_CONFIGURATION} has the primary id dwlink deletes by"),
        "EntityDefinitions(…)/Attributes lists the primary id dwlink reads and deletes by",
    )
}

fn organization_spec(declared: Option<uuid::Uuid>) -> Spec {
    Spec::new(
        "dataverse.organization",
        "Dataverse is the configured organization (RetrieveCurrentOrganization)",
        match declared {
            Some(id) => format!("Detail.OrganizationId {id} (dataverse.organization_id)"),
            None => "a Detail object with an OrganizationId GUID".into(),
        },
    )
}

fn integration_spec() -> Spec {
    Spec::new(
        "dataverse.fo-integration",
        "Dataverse says which F&O it is integrated with (RetrieveFinanceAndOperationsIntegrationDetails)",
        "an absolute Url of the integrated F&O environment, or the documented not-linked error 0x80048d0b",
    )
}

/// The result of the integration check for the cross-check: `None` when it failed.
pub(crate) type Integration = Option<Option<FoIntegration>>;

pub(crate) async fn checks(ctx: &Ctx<'_>) -> (Vec<Check>, Integration) {
    let declared = ctx.desired.dataverse.organization_id;
    let (signin, signed_in) = signin::check(ctx, Service::Dataverse).await;
    if !signed_in {
        let why = "needs signin.dataverse";
        return (
            vec![
                signin,
                table_spec().skipped(why),
                attributes_spec().skipped(why),
                organization_spec(declared).skipped(why),
                integration_spec().skipped(why),
            ],
            None,
        );
    }
    let ((table, attrs), org, (integration, linked)) =
        tokio::join!(runtime(ctx), organization(ctx), integration(ctx));
    (vec![signin, table, attrs, org, integration], linked)
}

fn fail(ctx: &Ctx<'_>, e: &ProviderError) -> Failed {
    failed(
        e,
        Service::Dataverse,
        &ctx.desired.auth.client_id.to_string(),
        &ctx.options.login_command,
    )
}

/// The first page only: a preflight needs no more, and an endless `@odata.nextLink` costs one
/// request.
async fn first_page(ctx: &Ctx<'_>, url: &Url) -> Result<(Vec<Row>, bool), Failed> {
    let reply = ctx
        .provider
        .session
        .send(&ApiRequest::get(Api::Dataverse, url.clone()).odata())
        .await
        .map_err(|e| fail(ctx, &e))?;
    let body = reply.json_value().map_err(|e| fail(ctx, &e))?;
    let (rows, next) = split_page(body).map_err(Failed::differs)?;
    Ok((rows, next.is_some()))
}

async fn runtime(ctx: &Ctx<'_>) -> (Check, Check) {
    let api = &ctx.endpoints.dataverse_api;
    let limit = ctx.options.timeout;
    let (table, set) = run(table_spec(), limit, async {
        let url = dv::runtime_definition_url(api).map_err(|e| fail(ctx, &e))?;
        let (rows, _) = first_page(ctx, &url).await?;
        match dv::runtime_set_of(&rows, &url).map_err(|e| fail(ctx, &e))? {
            Some(set) => Ok(Found {
                seen: format!(
                    "entity set {}, primary id {}",
                    set.name, set.primary_id
                ),
                value: set,
            }),
            None => Err(Failed::differs("no such table").fix(
                "install the dual-write core solution in this Dataverse environment (F&O's dual-write page offers it)",
            )),
        }
    })
    .await;
    let Some(EntitySet { primary_id, .. }) = set else {
        return (
            table,
            attributes_spec().skipped("needs dataverse.runtime-table"),
        );
    };
    let (attrs, _) = run(attributes_spec(), limit, async {
        let url = dv::attributes_url(api, RUNTIME_CONFIGURATION).map_err(|e| fail(ctx, &e))?;
        let (rows, more) = first_page(ctx, &url).await?;
        let names = rows
            .iter()
            .map(|r| str_field(r, "LogicalName").map(str::to_string))
            .collect::<Result<Vec<_>, _>>()
            .map_err(Failed::differs)?;
        let listed = |c: &str| names.iter().any(|n| n == c);
        let more = if more {
            " (first page; more follow)"
        } else {
            ""
        };
        if !listed(&primary_id) {
            return Err(Failed::differs(format!(
                "{} attributes{more}, without {primary_id}",
                names.len()
            )));
        }
        // Used only where listed: its absence is what dwlink expects of public evidence.
        let secure = if listed(SECURE_CONFIG_ORGANIZATION) {
            "listed (dwlink counts rows by it)"
        } else {
            "not listed (dwlink does not count rows by it)"
        };
        Ok(Found::seen(format!(
            "{} attributes{more}, with {primary_id}{}; {SECURE_CONFIG_ORGANIZATION} {secure}",
            names.len(),
            if primary_id == RUNTIME_PRIMARY_ID {
                ""
            } else {
                " (the stated primary id)"
            },
        )))
    })
    .await;
    (table, attrs)
}

async fn organization(ctx: &Ctx<'_>) -> Check {
    let declared = ctx.desired.dataverse.organization_id;
    run(organization_spec(declared), ctx.options.timeout, async {
        let org = dv::organization(&ctx.provider.session, &ctx.endpoints.dataverse_api)
            .await
            .map_err(|e| fail(ctx, &e))?;
        let name = org
            .unique_name
            .as_deref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        let seen = format!("organization {}{name}", org.id);
        match declared {
            Some(want) if want != org.id => Err(Failed::differs(seen).fix(
                "correct `dataverse.organization_id` or `dataverse.url`: they must name the same organization",
            )),
            _ => Ok(Found::seen(seen)),
        }
    })
    .await
    .0
}

async fn integration(ctx: &Ctx<'_>) -> (Check, Integration) {
    run(integration_spec(), ctx.options.timeout, async {
        let found = dv::fo_integration_details(&ctx.provider.session, &ctx.endpoints.dataverse_api)
            .await
            .map_err(|e| fail(ctx, &e))?;
        let seen = match &found {
            Some(i) => format!("integrated with {}", i.url),
            None => "not integrated with any F&O environment (0x80048d0b)".into(),
        };
        Ok(Found { seen, value: found })
    })
    .await
}
