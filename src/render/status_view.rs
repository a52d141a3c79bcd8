//! The human view of live state (`dwlink status`): read-only, no judgement beyond the findings.

use std::fmt::Write;

use dwlink_core::model::live::LiveState;
use dwlink_core::plan::diff::{classify, service_name};
use dwlink_core::plan::Plan;

use super::plan_view::thousands;
use super::shell::{paint, Style};

pub(crate) fn render(live: &LiveState, plan: &Plan, color: bool) -> String {
    let mut out = String::new();
    let fo = &live.finance_operations;
    let scenario = classify(live);
    let _ = writeln!(
        out,
        "{} {} ({})",
        paint(color, Style::Bold, "Finance and operations:"),
        fo.url.as_str().trim_end_matches('/'),
        fo.environment_type.name()
    );
    let _ = writeln!(
        out,
        "  Power Platform link:   {}",
        fo.power_platform_link
            .as_ref()
            .map_or("(blank)".to_string(), org)
    );
    match &live.connection {
        Some(c) => {
            let _ = writeln!(
                out,
                "  Dual-write connection: {} (connection set {})",
                c.organization
                    .as_ref()
                    .map_or("(unlinked)".to_string(), org),
                c.name
            );
            let _ = writeln!(
                out,
                "  Legal entities:        {}",
                if c.legal_entities.is_empty() {
                    "(none)".into()
                } else {
                    c.legal_entities.join(", ")
                }
            );
            let _ = writeln!(out, "  Maps:                  {}", c.maps.len());
            for m in dwlink_core::model::map_status::maps(live, &plan.desired) {
                let state = m.state.service_name();
                let state = if m.state.is_active() {
                    paint(color, Style::Warn, state)
                } else {
                    state.to_string()
                };
                let version = m
                    .version
                    .as_deref()
                    .map_or(String::new(), |v| format!(" {v}"));
                let keys = match &m.integration_keys {
                    Some(k) if !k.is_empty() => format!(" keys [{}]", k.join(", ")),
                    _ => String::new(),
                };
                let declared = match &m.declared {
                    Some(d) => {
                        let v = match &d.version {
                            Some(dwlink_core::model::desired::MapVersion::Exact(v)) => {
                                format!(" {v}")
                            }
                            Some(dwlink_core::model::desired::MapVersion::Latest) => {
                                " latest".into()
                            }
                            None => String::new(),
                        };
                        format!("  (declared: {}{v})", d.state.name())
                    }
                    None => String::new(),
                };
                let _ = writeln!(out, "    {:<40} {state}{version}{keys}{declared}", m.name);
            }
        }
        None => {
            let _ = writeln!(out, "  Dual-write connection: (none)");
        }
    }
    let dv = &live.dataverse;
    let _ = writeln!(
        out,
        "{} {} — organization {}{}",
        paint(color, Style::Bold, "Dataverse:"),
        dv.url.as_str().trim_end_matches('/'),
        dv.organization_id,
        dv.friendly_name
            .as_ref()
            .map_or(String::new(), |n| format!(" ({n})"))
    );
    let _ = writeln!(out, "{}", paint(color, Style::Bold, "Key tables:"));
    for t in &live.key_tables {
        let Some(rows) = t.count() else {
            let note = t.unreadable.map_or("", |u| u.note());
            let _ = writeln!(
                out,
                "  {:<19} {:<36} {note}",
                service_name(t.service),
                t.table
            );
            continue;
        };
        let _ = writeln!(
            out,
            "  {:<19} {:<36} {:>9} rows",
            service_name(t.service),
            t.table,
            thousands(rows)
        );
        for (u, n) in &t.external_urls {
            let _ = writeln!(out, "      {:>9} → {u}", thousands(*n));
        }
        for (o, n) in &t.secure_config_organizations {
            let _ = writeln!(
                out,
                "      {:>9} SecureConfig organization {o}",
                thousands(*n)
            );
        }
    }
    let _ = writeln!(out, "Scenario {}: {}", scenario.number(), scenario.title());
    out.push_str(&super::plan_view::findings_worded(
        plan,
        color,
        without_a_plan,
    ));
    let _ = writeln!(out, "Fingerprint: {}", live.fingerprint());
    out
}

fn org(o: &dwlink_core::model::live::OrgRef) -> String {
    match o.organization_id {
        Some(id) => format!("{} ({id})", o.url.as_str().trim_end_matches('/')),
        None => o.url.as_str().trim_end_matches('/').to_string(),
    }
}

/// Findings are a plan's words; `status` made no plan the user saw, so "this plan clears them"
/// would name one that does not exist. Said of the plan `dwlink plan` would make instead.
fn without_a_plan(text: &str) -> String {
    text.replace("nothing in this plan", "nothing in a plan of this config")
        .replace("this plan", "a plan of this config")
}
