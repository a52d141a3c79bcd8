//! A saved plan is data dwlink re-derives, never instructions it obeys. Before `apply PLAN` acts,
//! the file's identifiers are checked before any of them reaches a path, its `desired` must be a
//! declaration the config validator itself produces, and a plan made now from that declaration
//! and the live state must be the file, member for member (only its id and creation time are the
//! file's own). The plan that runs is the one made now.

use serde_json::Value;

use crate::config::load::{self, CONFIG_LIMITS};
use crate::config::raw::{self, RawConfig};
use crate::diag::{Problem, Source};
use crate::model::desired::{Desired, DATA_INTEGRATION_CLIENT_ID};
use crate::model::live::LiveState;

use super::Plan;

pub const TAMPERED: &str = "dwlink::plan::tampered";

const HELP: &str = "make a new plan from the config (`dwlink plan -f CONFIG --out PLAN`), review it, and apply that file unedited";

fn tampered(message: impl Into<String>) -> Problem {
    Problem::error(TAMPERED, message).help(HELP)
}

/// What in a plan file names a file or directory, checked before anything is opened: the plan id
/// names the journal, the environment name the backup and the lock.
pub fn identifiers(plan: &Plan) -> Result<(), Problem> {
    let canonical = uuid::Uuid::parse_str(&plan.plan_id)
        .ok()
        .map(|u| u.hyphenated().to_string());
    if canonical.as_deref() != Some(plan.plan_id.as_str()) {
        return Err(tampered(format!(
            "the plan's `plan_id` {:?} is not an id dwlink writes (a lower-case UUID); nothing was read or changed",
            clip(&plan.plan_id)
        )));
    }
    declaration(&plan.desired)?;
    if plan.environment.name != plan.desired.name {
        return Err(tampered(format!(
            "the plan names environment {:?} but its declaration {:?}",
            clip(&plan.environment.name),
            clip(&plan.desired.name)
        )));
    }
    Ok(())
}

/// The file's declaration must be one the config validator produces: written back as a config
/// and validated again, it comes out unchanged. This rejects a name that is a path
/// (`../../x`), a malformed legal entity and every other value no config could hold.
pub fn declaration(desired: &Desired) -> Result<(), Problem> {
    let reject = |why: String| {
        tampered(format!(
            "the plan's declaration (`desired`) is not one a valid config gives: {why}"
        ))
    };
    let text = serde_saphyr::to_string(&as_config(desired))
        .map_err(|e| reject(format!("it cannot be written as a config: {e}")))?;
    let source =
        load::source_from_bytes("the plan's declaration", text.into_bytes(), CONFIG_LIMITS)
            .map_err(|p| reject(p.message))?;
    let loaded = crate::config::from_source(source);
    let Some(again) = loaded.desired else {
        let first = loaded
            .problems
            .iter()
            .find(|p| p.is_error())
            .map_or_else(|| "it does not validate".to_string(), |p| p.message.clone());
        return Err(reject(first));
    };
    if to_value(&again) != to_value(desired) {
        return Err(reject(
            "validating it again changes it (a value no config resolves to)".into(),
        ));
    }
    Ok(())
}

/// The config that resolves to `desired`, every default written out.
pub fn as_config(d: &Desired) -> RawConfig {
    let url = |u: &url::Url| u.as_str().trim_end_matches('/').to_string();
    RawConfig {
        api_version: raw::ApiVersion::V1,
        kind: d.kind,
        metadata: raw::Metadata {
            name: d.name.clone(),
            protected: Some(d.protected),
        },
        finance_operations: raw::FinanceOperations {
            url: url(&d.finance_operations.url),
            environment_type: d.finance_operations.environment_type,
        },
        dataverse: raw::Dataverse {
            url: url(&d.dataverse.url),
            organization_id: d.dataverse.organization_id.map(|u| u.to_string()),
        },
        link: Some(raw::Link {
            reset_target: Some(d.link.reset_target),
            legal_entities: d.link.legal_entities.clone(),
        }),
        reset: Some(raw::Reset {
            when: Some(d.reset.when),
            force: Some(d.reset.force),
            clear_tables: Some(d.reset.clear_tables),
        }),
        after_reset: Some(raw::AfterReset {
            apply_solutions: d.after_reset.apply_solutions.clone(),
            start_maps: d.after_reset.start_maps.clone(),
        }),
        maps: d
            .maps
            .iter()
            .map(|m| crate::config::maps::MapDecl {
                name: m.name.clone(),
                version: m.version.as_ref().map(|v| match v {
                    crate::model::desired::MapVersion::Latest => "latest".to_string(),
                    crate::model::desired::MapVersion::Exact(x) => x.clone(),
                }),
                state: Some(m.state),
                integration_keys: m.integration_keys.clone(),
                initial_sync: Some(if m.initial_sync {
                    crate::config::maps::InitialSync::Run
                } else {
                    crate::config::maps::InitialSync::Skip
                }),
            })
            .collect(),
        auth: raw::Auth {
            tenant_id: d.auth.tenant_id.to_string(),
            client_id: d.auth.client_id.to_string(),
            client_secret_env: d.auth.client_secret_env.clone(),
        },
        dual_write_service: d
            .dual_write_service
            .as_ref()
            .map(|s| raw::DualWriteService {
                url: url(&s.url),
                auth: Some(s.auth),
                client_id: (s.client_id != DATA_INTEGRATION_CLIENT_ID)
                    .then(|| s.client_id.to_string()),
            }),
        restored_from: d
            .restored_from
            .as_ref()
            .map(|u| raw::RestoredFrom { url: url(u) }),
    }
}

/// With `-f CONFIG`, the plan must have been made from exactly that config.
pub fn same_declaration(plan: &Plan, config: &Desired) -> Result<(), Problem> {
    if to_value(&plan.desired) == to_value(config) {
        return Ok(());
    }
    let plan_side = to_value(&plan.desired);
    let config_side = to_value(config);
    let differing = differing_members(&plan_side, &config_side);
    Err(Problem::error(
        "dwlink::apply::config_mismatch",
        format!(
            "the plan was made from another declaration than this config (they differ in {})",
            differing.join(", ")
        ),
    )
    .help("apply a plan made from this config (`dwlink plan -f CONFIG --out PLAN`), or drop -f"))
}

/// The plan dwlink makes now from `desired` and `live`, which must be `saved` itself. The caller
/// has checked the live fingerprint first, so a difference here is an edit of the file (or a
/// plan of another dwlink build), never a live change.
pub fn rederive(saved: &Plan, desired: &Desired, live: &LiveState) -> Result<Plan, Problem> {
    rederive_in(saved, desired, live, None)
}

/// [`rederive`], with the refusal's caret in `file` (the plan file's text) when given.
pub fn rederive_in(
    saved: &Plan,
    desired: &Desired,
    live: &LiveState,
    file: Option<&Source>,
) -> Result<Plan, Problem> {
    let mut fresh = Plan::make(desired, live);
    fresh.plan_id = saved.plan_id.clone();
    fresh.created_at = saved.created_at.clone();
    let file_source = file;
    // The file was scrubbed of the secrets dwlink holds when written ([`super::planfile`]);
    // the plan made now is compared as it would have been written.
    let mut now = to_value(&fresh);
    crate::scrub::json_value(&mut now);
    let file = to_value(saved);
    if now == file {
        return Ok(fresh);
    }
    let mut what = differing_members(&file, &now);
    let first = what.first().map(|m| m.trim_matches('`').to_string());
    let mut action = None;
    if let (Some(a), Some(b)) = (file["actions"].as_array(), now["actions"].as_array()) {
        action = a
            .iter()
            .zip(b)
            .position(|(x, y)| x != y)
            .or((a.len() != b.len()).then_some(a.len().min(b.len()).saturating_sub(1)));
        if a.len() != b.len() {
            what.push(format!(
                "the file lists {} actions, dwlink plans {}",
                a.len(),
                b.len()
            ));
        } else if let Some(i) = a.iter().zip(b).position(|(x, y)| x != y) {
            what.push(format!(
                "action {} is `{}` in the file, `{}` in dwlink's plan",
                i + 1,
                a[i]["kind"].as_str().unwrap_or("?"),
                b[i]["kind"].as_str().unwrap_or("?")
            ));
        }
    }
    let problem = tampered(format!(
        "the plan file is not the plan dwlink makes from its declaration and the live state ({}); nothing was changed",
        what.join("; ")
    ));
    let member = if file["actions"] != now["actions"] {
        Some("actions".to_string())
    } else {
        first
    };
    Err(point(problem, file_source, member.as_deref(), action))
}

/// The caret at `member` of the plan file (and at its `action`-th action), when found.
fn point(
    problem: Problem,
    file: Option<&Source>,
    member: Option<&str>,
    action: Option<usize>,
) -> Problem {
    let (Some(src), Some(member)) = (file, member) else {
        return problem;
    };
    let Some(mut span) = locate(src.text(), member) else {
        return problem;
    };
    let mut label = format!("`{member}` differs from dwlink's plan");
    if let (Some(i), "actions") = (action, member) {
        let from = span.end;
        if let Some(at) = src.text()[from..]
            .match_indices("\"kind\"")
            .nth(i)
            .map(|(at, _)| from + at)
        {
            span = at..at + "\"kind\"".len();
            label = format!("action {} differs from dwlink's plan", i + 1);
        }
    }
    problem.in_source(src).at(span, label)
}

/// The byte range of the top-level key `member` in a plan file's text (pretty JSON as dwlink
/// writes it; otherwise the first occurrence of the key).
pub fn locate(text: &str, member: &str) -> Option<std::ops::Range<usize>> {
    let key = format!("\"{member}\"");
    let at = text
        .find(&format!("\n  {key}:"))
        .map(|i| i + 3)
        .or_else(|| text.find(&format!("{key}:")))?;
    Some(at..at + key.len())
}

/// The SHA-256 of a plan's JSON: the journal of an apply records it, so that `apply PLAN` run
/// again after an interruption knows the file is the one that apply was made from (the plan a
/// saved file re-derives to serializes exactly as the file parsed). Taken over the plan as it is
/// written, with held secrets scrubbed, so the plan made now and the file agree.
pub fn digest(plan: &Plan) -> String {
    use sha2::{Digest, Sha256};
    let mut value = to_value(plan);
    crate::scrub::json_value(&mut value);
    let bytes = serde_json::to_vec(&value).unwrap_or_default();
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn differing_members(a: &Value, b: &Value) -> Vec<String> {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return vec!["its shape".into()];
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("`{k}`"))
        .collect()
}

/// A value from a hostile file shown in a message: bounded, so it cannot flood the terminal.
fn clip(s: &str) -> String {
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests;
