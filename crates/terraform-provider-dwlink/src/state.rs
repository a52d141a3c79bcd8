//! The resource's attributes as Terraform sends them: every value may be known, null or unknown
//! (a `dataverse_url` taken from `powerplatform_environment` is unknown until that environment
//! exists).

use serde::{Deserialize, Serialize};
use tf_provider::value::{serde_as_vec, Value};

pub type Text = Value<String>;
pub type Flag = Value<bool>;
pub type Texts = Value<Vec<Text>>;

/// `dwlink_dual_write_link` and `dwlink_restore_cleanup` (the latter adds `restored_from_url` and
/// `trigger`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LinkState {
    pub id: Text,
    pub name: Text,
    pub finance_operations_url: Text,
    pub environment_type: Text,
    pub dataverse_url: Text,
    pub dataverse_organization_id: Text,
    pub protected: Flag,
    pub reset_target: Text,
    pub legal_entities: Value<std::collections::BTreeSet<Text>>,
    #[serde(with = "serde_as_vec")]
    pub reset: Value<ResetBlock>,
    #[serde(with = "serde_as_vec")]
    pub after_reset: Value<AfterResetBlock>,
    pub maps: Value<Vec<Value<MapObject>>>,
    pub dual_write_service_url: Text,
    pub dual_write_service_auth: Text,
    pub scenario: Text,
    pub live_dataverse_url: Text,
    pub findings: Value<Vec<Value<FindingObject>>>,
    pub planned_actions: Texts,
    pub last_backup: Text,
    /// `dwlink_restore_cleanup` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_from_url: Option<Text>,
    /// `dwlink_restore_cleanup` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Text>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResetBlock {
    pub when: Text,
    pub force: Flag,
    pub clear_tables: Flag,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AfterResetBlock {
    pub apply_solutions: Texts,
    pub start_maps: Texts,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapObject {
    pub name: Text,
    pub version: Text,
    pub state: Text,
    pub integration_keys: Texts,
    pub initial_sync: Text,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingObject {
    pub code: Text,
    pub severity: Text,
    pub message: Text,
}

pub fn text(s: impl Into<String>) -> Text {
    Value::Value(s.into())
}

pub fn texts(v: impl IntoIterator<Item = String>) -> Texts {
    Value::Value(v.into_iter().map(text).collect())
}

fn unknown_text(v: &Text) -> bool {
    v.is_unknown()
}

fn unknown_texts(v: &Texts) -> bool {
    v.is_unknown() || v.iter().flatten().any(unknown_text)
}

impl LinkState {
    /// Any declared value still unknown (it depends on a resource not created yet): no plan can
    /// be made from it until it is known.
    pub fn has_unknown(&self) -> bool {
        let plain = [
            &self.name,
            &self.finance_operations_url,
            &self.environment_type,
            &self.dataverse_url,
            &self.dataverse_organization_id,
            &self.reset_target,
            &self.dual_write_service_url,
            &self.dual_write_service_auth,
        ];
        plain.iter().any(|v| unknown_text(v))
            || self.protected.is_unknown()
            || self.legal_entities.is_unknown()
            || self.legal_entities.iter().flatten().any(unknown_text)
            || self.reset.is_unknown()
            || self.reset.iter().any(|r| {
                unknown_text(&r.when) || r.force.is_unknown() || r.clear_tables.is_unknown()
            })
            || self.after_reset.is_unknown()
            || self
                .after_reset
                .iter()
                .any(|a| unknown_texts(&a.apply_solutions) || unknown_texts(&a.start_maps))
            || self.maps.is_unknown()
            || self.maps.iter().flatten().any(|m| {
                m.is_unknown()
                    || m.iter().any(|m| {
                        [&m.name, &m.version, &m.state, &m.initial_sync]
                            .iter()
                            .any(|v| unknown_text(v))
                            || unknown_texts(&m.integration_keys)
                    })
            })
            || self.restored_from_url.as_ref().is_some_and(unknown_text)
            || self.trigger.as_ref().is_some_and(unknown_text)
    }
}
