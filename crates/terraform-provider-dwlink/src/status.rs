//! `dwlink_dual_write_status`: the live link, its maps, key-table row counts and findings, as
//! `dwlink status --json` gives them. Read-only.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_provider::schema::Schema;
use tf_provider::value::{serde_as_vec, Value, ValueEmpty};
use tf_provider::{AttributePath, DataSource, Diagnostics};

use dwlink_core::plan::diff::service_name;

use crate::document::{self, add};
use crate::link::{configured, findings, live_dataverse, Shared};
use crate::state::{
    text, texts, AfterResetBlock, FindingObject, Flag, LinkState, ResetBlock, Text, Texts,
};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StatusState {
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
    pub dual_write_service_url: Text,
    pub dual_write_service_auth: Text,
    pub id: Text,
    pub scenario: Text,
    pub live_dataverse_url: Text,
    pub live_legal_entities: Texts,
    pub maps: Value<Vec<Value<LiveMapObject>>>,
    pub key_tables: Value<Vec<Value<TableObject>>>,
    pub findings: Value<Vec<Value<FindingObject>>>,
    pub fingerprint: Text,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LiveMapObject {
    pub name: Text,
    pub state: Text,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TableObject {
    pub service: Text,
    pub table: Text,
    pub rows: Value<i64>,
}

pub struct StatusDataSource {
    pub settings: Shared,
}

impl StatusState {
    fn declaration(&self) -> LinkState {
        LinkState {
            name: self.name.clone(),
            finance_operations_url: self.finance_operations_url.clone(),
            environment_type: self.environment_type.clone(),
            dataverse_url: self.dataverse_url.clone(),
            dataverse_organization_id: self.dataverse_organization_id.clone(),
            protected: self.protected,
            reset_target: self.reset_target.clone(),
            legal_entities: self.legal_entities.clone(),
            reset: self.reset.clone(),
            after_reset: self.after_reset.clone(),
            dual_write_service_url: self.dual_write_service_url.clone(),
            dual_write_service_auth: self.dual_write_service_auth.clone(),
            ..Default::default()
        }
    }
}

#[async_trait]
impl DataSource for StatusDataSource {
    type State<'a> = StatusState;
    type ProviderMetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        Some(crate::schema::status_schema())
    }

    async fn read<'a>(
        &self,
        diags: &mut Diagnostics,
        config: Self::State<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<Self::State<'a>> {
        let settings = configured(&self.settings, diags)?;
        let doc = document::document(&config.declaration(), &settings.auth, "DualWriteLink");
        let checked = document::check(&doc, "dwlink_dual_write_status");
        let failed = !checked.diagnostics.errors.is_empty();
        diags.add_diagnostics(checked.diagnostics);
        if failed {
            return None;
        }
        let desired = checked.desired?;
        let (plan, live) = match settings.plan(&desired).await {
            Ok(r) => r,
            Err(p) => {
                add(diags, &p, AttributePath::root());
                return None;
            }
        };
        let mut state = config;
        state.id = text(live.finance_operations.url.host_str().unwrap_or_default());
        state.scenario = text(plan.scenario.number.to_string());
        state.live_dataverse_url = live_dataverse(&live);
        let conn = live.connection.as_ref();
        state.live_legal_entities =
            texts(conn.map(|c| c.legal_entities.clone()).unwrap_or_default());
        state.maps = Value::Value(
            conn.map(|c| c.maps.as_slice())
                .unwrap_or_default()
                .iter()
                .map(|m| {
                    Value::Value(LiveMapObject {
                        name: text(m.name.clone()),
                        state: text(
                            serde_json::to_value(m.state)
                                .ok()
                                .and_then(|v| v.as_str().map(str::to_string))
                                .unwrap_or_default(),
                        ),
                    })
                })
                .collect(),
        );
        state.key_tables = Value::Value(
            live.key_tables
                .iter()
                .map(|t| {
                    Value::Value(TableObject {
                        service: text(service_name(t.service)),
                        table: text(t.table.clone()),
                        rows: Value::Value(if t.unreadable.is_some() {
                            -1
                        } else {
                            t.rows() as i64
                        }),
                    })
                })
                .collect(),
        );
        state.findings = findings(&plan);
        state.fingerprint = text(live.fingerprint());
        Some(state)
    }
}
