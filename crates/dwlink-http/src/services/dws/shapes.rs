//! The management service's reply shapes, as Microsoft's own client reads them
//! (microsoft/Dual-write-automations, "DWA" below), and the one place their codes become
//! dwlink's states. Unknown members are ignored (the service sends many more); a member dwlink
//! relies on that is missing or of the wrong type is a bad reply, never a default.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use dwlink_core::model::live::MapState;

/// One item of `GET {api}Environments?targetType=AX&identifier=<host>` (DWA
/// `DWLibary/Struct/DWEnvironment.cs`, read in `DWLibary/DWEnvCalls.cs`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct EnvironmentEntry {
    pub cid: String,
    pub cname: String,
}

/// `GET {gateway}api/ConnectionSet/{cname}` (DWA `DWLibary/Struct/DWConnectionSet.cs`,
/// read in `DWLibary/Engines/DWCommonEngine.cs` `getConnectionSet`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConnectionSet {
    /// Required, as DWA takes a set without one for a failed read (`getConnectionSet` retries);
    /// later calls name the set by the lookup's `cid`, as DWA does.
    #[allow(dead_code)]
    pub id: String,
    pub name: String,
    /// Keyed by environment name (a `Dictionary<string, DWConnSetEnvironment>` in DWA).
    #[serde(default)]
    pub environments: BTreeMap<String, SetEnvironment>,
    #[serde(default)]
    pub dual_write_detail: Option<DualWriteDetail>,
}

/// DWA `DWConnSetEnvironment`; the members the reset body repeats (DWA
/// `DWLibary/Engines/ResetLinkEngine.cs` `mapEnvToResetLinkEnv`) and the URL dwlink compares.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SetEnvironment {
    #[serde(default)]
    pub name: Option<String>,
    pub target_type: String,
    #[serde(default)]
    pub environment_display_name: Option<String>,
    #[serde(default)]
    pub power_apps_environment: Option<String>,
    #[serde(default)]
    pub direct_url: Option<String>,
    #[serde(default)]
    pub is_dev_instance: bool,
}

impl SetEnvironment {
    /// DWA `getConnectionSetEnvironment`: the Dataverse side is `CRM` or a type containing `CDS`.
    pub(crate) fn is_dataverse(&self) -> bool {
        self.target_type == "CRM" || self.target_type.contains("CDS")
    }

    pub(crate) fn is_finance_operations(&self) -> bool {
        self.target_type == "AX"
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DualWriteDetail {
    #[serde(default)]
    pub legal_entity_mappings: Option<LegalEntityMappings>,
    /// Checked entry by entry where it is read (`requests_listed`).
    #[serde(default)]
    pub solution_aware_requests: Option<Value>,
}

/// DWA `LegalEntityMappings`: `left`/`right` are the two environments the mapping joins; the
/// reset body takes the distinct `left.name`s (DWA `ResetLinkEngine.cs`
/// `getAddCurrentLegalEntities`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LegalEntityMappings {
    #[serde(default)]
    pub left_environment: Option<String>,
    #[serde(default)]
    pub mappings: Vec<LegalEntityMapping>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct LegalEntityMapping {
    pub left: Side,
    #[serde(default)]
    pub right: Option<Side>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Side {
    pub name: String,
}

impl ConnectionSet {
    pub(crate) fn finance_operations(&self) -> Option<&SetEnvironment> {
        self.environments
            .values()
            .find(|e| e.is_finance_operations())
    }

    /// The Dataverse entry, when there is exactly one. DWA takes the first CRM/CDS entry in JSON
    /// order (`DWCommonEngine.cs` 127–153); dwlink does not guess: with several,
    /// [`ConnectionSet::several_dataverse`] names them and this is `None`.
    pub(crate) fn dataverse(&self) -> Option<&SetEnvironment> {
        let mut all = self.environments.values().filter(|e| e.is_dataverse());
        let one = all.next()?;
        all.next().is_none().then_some(one)
    }

    /// The keys of the Dataverse (CRM/CDS) entries when there are more than one.
    pub(crate) fn several_dataverse(&self) -> Option<Vec<String>> {
        let names: Vec<String> = self
            .environments
            .iter()
            .filter(|(_, e)| e.is_dataverse())
            .map(|(k, _)| k.clone())
            .collect();
        (names.len() > 1).then_some(names)
    }

    /// The F&O legal entities of the mappings, upper case, sorted, distinct. `left` is the F&O
    /// side as DWA reads it, unless `leftEnvironment` names the Dataverse entry.
    pub(crate) fn legal_entities(&self) -> Vec<String> {
        let Some(m) = self
            .dual_write_detail
            .as_ref()
            .and_then(|d| d.legal_entity_mappings.as_ref())
        else {
            return Vec::new();
        };
        let left_is_dataverse = m.left_environment.as_deref().is_some_and(|l| {
            self.environments
                .get(l)
                .is_some_and(SetEnvironment::is_dataverse)
        });
        let mut les: Vec<String> = m
            .mappings
            .iter()
            .filter_map(|x| {
                if left_is_dataverse {
                    x.right.as_ref()
                } else {
                    Some(&x.left)
                }
            })
            .map(|s| s.name.trim().to_ascii_uppercase())
            .filter(|s| !s.is_empty())
            .collect();
        les.sort();
        les.dedup();
        les
    }
}

/// One item of `GET {api}Entities?targetType=AX&cid=` and of `GET {api}Status/{id}` (DWA
/// `DWLibary/Struct/DWMaps.cs` `DWMap`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct MapEntry {
    pub detail: MapDetail,
    /// The Dataverse side; its `name` is the table (DWA `DWMaps.cs` `DWMapRightEntity`).
    #[serde(default, rename = "rightEntity")]
    pub right_entity: Option<EntitySide>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct EntitySide {
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MapDetail {
    /// The map's name as DWA's configuration names maps (`detail.tName`).
    #[serde(rename = "tName")]
    pub t_name: String,
    #[serde(default)]
    pub tid: Option<String>,
    /// The project of an initialised map; none before (DWA `checkAddInitMaps`).
    #[serde(default)]
    pub pid: Option<String>,
    /// A numeric string in every public example; read as DWA reads it (below).
    #[serde(default = "state_none", deserialize_with = "state_as_dwa_reads_it")]
    pub state: String,
    #[serde(default)]
    pub template: Option<Template>,
    #[serde(default)]
    pub last_requests: Option<Value>,
    /// The versions offered (DWA `DWMaps.cs` `DWMapDetail.templates`).
    #[serde(default)]
    pub templates: Option<Vec<Template>>,
}

/// DWA `DWMaps.cs` `DWMapTemplate`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Template {
    pub id: String,
    #[serde(default)]
    pub version: Option<TemplateVersion>,
}

/// DWA `DWMaps.cs` `DWMapVersion`.
#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) struct TemplateVersion {
    #[serde(default)]
    pub major: u32,
    #[serde(default)]
    pub minor: u32,
    #[serde(default)]
    pub build: u32,
    #[serde(default)]
    pub revision: u32,
}

impl TemplateVersion {
    pub(crate) fn text(self) -> String {
        format!(
            "{}.{}.{}.{}",
            self.major, self.minor, self.build, self.revision
        )
    }
}

impl MapDetail {
    /// The template id the Start body names as `tid` (DWA `startStopMap` sends
    /// `map.detail.template.id`).
    pub(crate) fn template_id(&self) -> Option<&str> {
        self.template
            .as_ref()
            .map(|t| t.id.as_str())
            .or(self.tid.as_deref())
            .filter(|s| !s.is_empty())
    }
}

/// DWA `DWLibary/DWEnums.cs` `MapStatus`: `0` None, `1` Stopped, `2` InitialSync, `3` CatchUp,
/// `4` Running, `5` Paused, `6` NotRunning. `0` (a map not yet initialised) reads as not
/// running. No code marks a map in error; `None` for any other code.
pub(crate) fn map_state(code: &str) -> Option<MapState> {
    Some(match code.trim() {
        "0" | "6" => MapState::NotRunning,
        "1" => MapState::Stopped,
        "2" => MapState::InitialSync,
        "3" => MapState::CatchUp,
        "4" => MapState::Running,
        "5" => MapState::Paused,
        _ => return None,
    })
}

/// DWA `DWLibary/Struct/DWMaps.cs` 73–85: `state` is a C# string whose setter runs
/// `Convert.ToInt16(value)`. Newtonsoft gives that setter a JSON number as its decimal text and
/// a JSON null as null, which `Convert.ToInt16` reads as 0 (`None`); a missing member leaves it
/// unset (0 as well). So a null, missing or integer `state` lists like its code; any other
/// type is a bad reply, as DWA's conversion would throw.
fn state_none() -> String {
    "0".into()
}

fn state_as_dwa_reads_it<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    use serde::de::Error;
    match Value::deserialize(d)? {
        Value::Null => Ok("0".into()),
        Value::String(s) => Ok(s),
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        other => Err(D::Error::custom(format!(
            "`state` must be a numeric string, got {other}"
        ))),
    }
}

/// The Start body's `action` codes (DWA `DWLibary/Engines/DWMapEngine.cs` `startStopMap`).
pub(crate) const ACTION_START: &str = "1";
pub(crate) const ACTION_STOP: &str = "4";

/// A map request's `action` code in words, for messages.
pub(crate) fn map_verb(action: &str) -> &str {
    match action {
        "1" => "start",
        "4" => "stop",
        "5" => "pause",
        "6" => "resume",
        "8" => "initial sync of",
        other => other,
    }
}

/// DWA `DWEnums.cs` `RequestStatus`, the `state` of `lastRequests[]`, `solutionAwareRequests[]`
/// and a solution request's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestStatus {
    Waiting,
    Completed,
    Error,
}

pub(crate) fn request_status(code: &str) -> Option<RequestStatus> {
    Some(match code.trim() {
        "1" => RequestStatus::Waiting,
        "2" => RequestStatus::Completed,
        "3" => RequestStatus::Error,
        _ => return None,
    })
}

/// One solution of `GET {api}SolutionAware/{cid}/Solutions/` (DWA
/// `DWLibary/Struct/SolutionList.cs`; DWA keeps `uniquename` only).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SolutionEntry {
    pub uniquename: String,
}

/// `GET {api}SolutionAware/{cid}/Status/{id}` (DWA `DWLibary/Engines/DWSolutionEngine.cs`
/// `checkSolutionApplied`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SolutionStatus {
    pub state: String,
    #[serde(default)]
    pub result: Option<SolutionResult>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SolutionResult {
    #[serde(default)]
    pub message: Option<String>,
}
