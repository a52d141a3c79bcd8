//! The request bodies the management service takes, read as strictly as a typed server reads
//! them: a member it does not know, a missing one or one of the wrong type is a 400, so a
//! client that sends the invented shapes of an earlier dwlink fails here as it would there.

use axum::http::StatusCode;
use serde_json::{Map, Value};

use super::super::odata::error::{bad_request, Reply};

pub(crate) fn json_body(body: &[u8], content_type: &str) -> Result<Map<String, Value>, Reply> {
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/json")
    {
        return Err(Reply::error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!("expected Content-Type application/json, got `{content_type}`"),
        ));
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(bad_request("the body must be a JSON object")),
        Err(e) => Err(bad_request(format!("the body is not valid JSON: {e}"))),
    }
}

/// Refuses members outside `allowed`.
pub(crate) fn only(obj: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), Reply> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(bad_request(format!(
            "{what} has no member `{k}` (it takes {})",
            allowed.join(", ")
        ))),
        None => Ok(()),
    }
}

pub(crate) fn text<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    what: &str,
) -> Result<&'a str, Reply> {
    match obj.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(_) => Err(bad_request(format!(
            "{what}: `{key}` must be a non-empty string"
        ))),
        None => Err(bad_request(format!("{what}: `{key}` is required"))),
    }
}

pub(crate) fn objects<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    what: &str,
) -> Result<Vec<&'a Map<String, Value>>, Reply> {
    match obj.get(key) {
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_object()
                    .ok_or_else(|| bad_request(format!("{what}: every `{key}` item is an object")))
            })
            .collect(),
        Some(_) => Err(bad_request(format!("{what}: `{key}` must be an array"))),
        None => Err(bad_request(format!("{what}: `{key}` is required"))),
    }
}

/// One `details` item of `POST Start` (DWA `DWLibary/Struct/MapsHelper.cs`
/// `MapStartStopActionDetail`).
pub(crate) struct StartDetail {
    pub tid: String,
    pub pid: Option<String>,
    pub cid: String,
}

/// `POST {api}Start`: `{"action", "details":[{tid, pid?, cid, parameters?}]}`.
/// Also the first detail's `parameters.skipInitialSync`, when given.
#[allow(clippy::type_complexity)]
pub(crate) fn start(
    body: &Map<String, Value>,
) -> Result<(String, Vec<StartDetail>, Option<bool>), Reply> {
    const WHAT: &str = "the Start body";
    only(body, &["action", "details"], WHAT)?;
    let action = text(body, "action", WHAT)?.to_string();
    let mut details = Vec::new();
    let mut skip_initial_sync = None;
    for d in objects(body, "details", WHAT)? {
        only(d, &["tid", "pid", "cid", "parameters"], "a Start detail")?;
        if let Some(p) = d.get("parameters") {
            parameters(p)?;
            if details.is_empty() {
                skip_initial_sync = p.get("skipInitialSync").and_then(Value::as_bool);
            }
        }
        details.push(StartDetail {
            tid: text(d, "tid", "a Start detail")?.to_string(),
            pid: match d.get("pid") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(_) => return Err(bad_request("a Start detail: `pid` must be a string")),
            },
            cid: text(d, "cid", "a Start detail")?.to_string(),
        });
    }
    if details.is_empty() {
        return Err(bad_request("the Start body names no map in `details`"));
    }
    Ok((action, details, skip_initial_sync))
}

/// DWA `MapStartStopActionParameters` and `MapCatchUpParameter`.
fn parameters(p: &Value) -> Result<(), Reply> {
    let Some(p) = p.as_object() else {
        return Err(bad_request("`parameters` must be an object"));
    };
    only(
        p,
        &[
            "skipInitialSync",
            "conflictResolution",
            "dualWriteSkipCatchUpSyncParameters",
        ],
        "the Start parameters",
    )?;
    if let Some(v) = p.get("skipInitialSync") {
        if !v.is_boolean() {
            return Err(bad_request("`skipInitialSync` must be true or false"));
        }
    }
    if let Some(c) = p.get("conflictResolution") {
        let c = c
            .as_object()
            .ok_or_else(|| bad_request("`conflictResolution` must be an object"))?;
        only(c, &["master", "option"], "conflictResolution")?;
        let master = text(c, "master", "conflictResolution")?;
        if master != "CRM" && master != "AX" {
            return Err(bad_request(format!(
                "conflictResolution.master is CRM or AX (DWA `DataMaster`), not `{master}`"
            )));
        }
    }
    Ok(())
}

/// `POST {api}SolutionAware/{cid}/RestoreTemplates`: `{"action":"2","solutions":[{"criteria":
/// {"uniquename"}}]}`, one solution per request (DWA `DWSolutionEngine.cs`).
pub(crate) fn restore_templates(body: &Map<String, Value>) -> Result<String, Reply> {
    const WHAT: &str = "the RestoreTemplates body";
    only(body, &["action", "solutions"], WHAT)?;
    let action = text(body, "action", WHAT)?;
    if action != "2" {
        return Err(bad_request(format!(
            "{WHAT}: action `{action}` is not emulated (2 applies a solution)"
        )));
    }
    let solutions = objects(body, "solutions", WHAT)?;
    let [one] = solutions.as_slice() else {
        return Err(bad_request(format!(
            "{WHAT}: exactly one solution per request ({} given)",
            solutions.len()
        )));
    };
    only(one, &["criteria"], "a solution")?;
    let criteria = one
        .get("criteria")
        .and_then(Value::as_object)
        .ok_or_else(|| bad_request("a solution: `criteria` must be an object"))?;
    only(criteria, &["uniquename"], "criteria")?;
    Ok(text(criteria, "uniquename", "criteria")?.to_string())
}

/// One `environments` entry of the reset body (DWA `ResetLinkPayload.cs` `ResetLinkEnvironment`).
pub(crate) struct ResetEnvironment {
    pub target_type: String,
    pub name: String,
    /// The Power Platform environment (`powerAppsEnvironment` of the connection set's entry).
    pub id: Option<String>,
    pub direct_url: Option<String>,
}

/// The reset body (DWA `DWLibary/Struct/ResetLinkPayload.cs`).
pub(crate) struct ResetBody {
    pub power_apps_environment_name: Option<String>,
    pub environments: Vec<ResetEnvironment>,
    pub legal_entities: Vec<String>,
}

/// A member DWA leaves out when null (`NullValueHandling.Ignore`): absent, or a non-empty string.
fn optional_text(obj: &Map<String, Value>, key: &str, what: &str) -> Result<Option<String>, Reply> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => text(obj, key, what).map(|s| Some(s.to_string())),
    }
}

pub(crate) fn reset(body: &Map<String, Value>) -> Result<ResetBody, Reply> {
    const WHAT: &str = "the Reset body";
    only(
        body,
        &["powerAppsEnvironmentName", "environments", "legalEntities"],
        WHAT,
    )?;
    let mut environments = Vec::new();
    for e in objects(body, "environments", WHAT)? {
        only(
            e,
            &[
                "targetType",
                "name",
                "displayName",
                "id",
                "isDevInstance",
                "directUrl",
            ],
            "a Reset environment",
        )?;
        environments.push(ResetEnvironment {
            target_type: text(e, "targetType", "a Reset environment")?.to_string(),
            name: text(e, "name", "a Reset environment")?.to_string(),
            id: optional_text(e, "id", "a Reset environment")?,
            direct_url: optional_text(e, "directUrl", "a Reset environment")?,
        });
    }
    let legal_entities = match body.get("legalEntities") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => {
            let mut out: Vec<String> = Vec::new();
            for e in a {
                let code = e.as_str().unwrap_or_default();
                if code.is_empty()
                    || code.len() > 4
                    || !code.bytes().all(|b| b.is_ascii_alphanumeric())
                {
                    return Err(bad_request(format!(
                        "`{e}` is not a legal-entity code (1–4 letters or digits)"
                    )));
                }
                let code = code.to_ascii_uppercase();
                if !out.contains(&code) {
                    out.push(code);
                }
            }
            out
        }
        Some(_) => {
            return Err(bad_request(
                "`legalEntities` must be a list of company codes",
            ))
        }
    };
    Ok(ResetBody {
        power_apps_environment_name: optional_text(body, "powerAppsEnvironmentName", WHAT)?,
        environments,
        legal_entities,
    })
}
