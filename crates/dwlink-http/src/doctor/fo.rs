//! `fo.*`: F&O's `$metadata`, and each key-table set in it with the key and properties dwlink
//! uses (`crate::services::fo`, `crate::services::tables`). Sets with no public OData set are expected absent.

use super::classify::{failed, Service};
use super::{run, signin, Check, Ctx, Failed, Found, Spec};
use crate::services::metadata::Metadata;
use crate::services::tables::{TableDef, TABLES};
use dwlink_core::model::key_tables::{BUSINESS_EVENTS, FIELD_CONFIGURATION};
use dwlink_core::model::live::Service as Side;

/// No public source shows an OData set for these (README "Where each fact comes from"): dwlink
/// leaves them to the service's own reset.
const NO_PUBLIC_SET: [&str; 2] = [FIELD_CONFIGURATION, BUSINESS_EVENTS];

fn set_id(def: &TableDef) -> &'static str {
    match def.table {
        FIELD_CONFIGURATION => "fo.set.field-configuration",
        BUSINESS_EVENTS => "fo.set.business-events",
        _ => "fo.set.project-configuration",
    }
}

/// The properties a read names: the keys, the counted column and the `$filter`'s property.
fn used_properties(def: &TableDef) -> Vec<&'static str> {
    let mut p: Vec<&str> = def.keys.to_vec();
    p.extend(def.fact);
    p.extend(def.filter.and_then(|f| f.split_whitespace().next()));
    p
}

fn set_spec(def: &TableDef) -> Spec {
    // The title says what `ok` means: for a table with no public set, that it is *not* listed.
    let title = if NO_PUBLIC_SET.contains(&def.table) {
        format!(
            "F&O lists no set {} ({}), as expected: the reset clears it",
            def.entity_set, def.table
        )
    } else {
        format!(
            "F&O lists the set {} ({}) with the keys and properties dwlink uses",
            def.entity_set, def.table
        )
    };
    let expected = if NO_PUBLIC_SET.contains(&def.table) {
        format!(
            "not listed (no public OData set; the reset clears {})",
            def.table
        )
    } else {
        format!(
            "listed with key ({}) and properties {}",
            def.keys.join(", "),
            used_properties(def).join(", ")
        )
    };
    Spec::new(set_id(def), title, expected)
}

fn metadata_spec() -> Spec {
    Spec::new(
        "fo.metadata",
        "F&O answers its $metadata",
        "GET /data/$metadata answers a CSDL (edmx) document",
    )
}

fn fo_tables() -> impl Iterator<Item = &'static TableDef> {
    TABLES
        .iter()
        .filter(|t| t.service == Side::FinanceOperations)
}

pub(crate) async fn checks(ctx: &Ctx<'_>) -> Vec<Check> {
    let (signin, signed_in) = signin::check(ctx, Service::FinanceOperations).await;
    let mut out = vec![signin];
    if !signed_in {
        let why = "needs signin.finance-operations";
        out.push(metadata_spec().skipped(why));
        out.extend(fo_tables().map(|d| set_spec(d).skipped(why)));
        return out;
    }
    let client_id = ctx.desired.auth.client_id.to_string();
    let login = &ctx.options.login_command;
    let (check, metadata) = run(metadata_spec(), ctx.options.timeout, async {
        let fail = |e: &_| failed(e, Service::FinanceOperations, &client_id, login);
        let reply = ctx
            .provider
            .session
            .send(
                &crate::services::fo::metadata_request(&ctx.endpoints.fo_data)
                    .map_err(|e| fail(&e))?,
            )
            .await
            .map_err(|e| fail(&e))?;
        let m = Metadata::parse(&reply.body).map_err(|d| {
            Failed::differs(format!(
                "{d}; HTTP {}, content-type `{}`, starts with `{}`",
                reply.status,
                crate::transport::client::content_type(&reply.headers),
                crate::transport::reply::preview(&reply.body)
            ))
        })?;
        Ok(Found {
            seen: format!(
                "a CSDL document with {} keyed entity set{}",
                m.set_count(),
                dwlink_core::plan::describe::plural(m.set_count())
            ),
            value: m,
        })
    })
    .await;
    out.push(check);
    for def in fo_tables() {
        let spec = set_spec(def);
        out.push(match &metadata {
            None => spec.skipped("needs fo.metadata"),
            Some(m) => {
                run(spec, ctx.options.timeout, async { set_check(m, def) })
                    .await
                    .0
            }
        });
    }
    out
}

fn set_check(metadata: &Metadata, def: &TableDef) -> Result<Found<()>, Failed> {
    let set = metadata.set(def.entity_set);
    if NO_PUBLIC_SET.contains(&def.table) {
        return match set {
            None => Ok(Found::seen("not listed")),
            Some(s) => Err(Failed::differs(format!(
                "listed, with key ({}): good news, but no public source describes this set",
                s.keys.join(", ")
            ))
            .fix(format!(
                "please report this environment's $metadata entry for {} (docs/http-contract.md has no evidence for it); dwlink reads and clears it only by the key $metadata states",
                def.entity_set
            ))),
        };
    }
    let Some(set) = set else {
        return Err(Failed::differs("not listed").fix(format!(
            "dwlink cannot read or clear {} here; the reset still clears it. Please report this environment's $metadata",
            def.table
        )));
    };
    if set
        .keys
        .iter()
        .map(String::as_str)
        .ne(def.keys.iter().copied())
    {
        return Err(Failed::differs(format!(
            "listed with key ({})",
            set.keys.join(", ")
        ))
        .fix("dwlink deletes rows only by the key it knows; please report this environment's $metadata for this set"));
    }
    let missing: Vec<&str> = used_properties(def)
        .into_iter()
        .filter(|p| !set.properties.contains(*p))
        .collect();
    if !missing.is_empty() {
        return Err(Failed::differs(format!(
            "listed with key ({}), without properties {}",
            set.keys.join(", "),
            missing.join(", ")
        )));
    }
    Ok(Found::seen(format!(
        "listed with key ({}) and properties {}",
        set.keys.join(", "),
        used_properties(def).join(", ")
    )))
}
