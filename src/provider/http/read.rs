//! `LiveProvider::read`: the three services read concurrently, each table's pages in sequence.

use std::collections::BTreeMap;

use serde_json::Value;
use url::Url;

use super::dataverse::{self, EntitySet};
use super::odata::{key_predicate, read_all, Row};
use super::tables::{TableDef, TABLES};
use super::{dws, fo, Endpoints, HttpProvider};
use crate::model::desired::Desired;
use crate::model::live::{
    KeyTable, LiveConnection, LiveDataverse, LiveFinanceOperations, LiveState,
};
use crate::provider::error::{Api, ProviderError};
use crate::provider::secret::redact_url;
use crate::provider::{BoxFut, LiveProvider};

impl LiveProvider for HttpProvider {
    fn read<'a>(&'a self, desired: &'a Desired) -> BoxFut<'a, LiveState> {
        Box::pin(self.read_live(desired))
    }
}

impl HttpProvider {
    async fn read_live(&self, desired: &Desired) -> Result<LiveState, ProviderError> {
        let ep = Endpoints::of(desired)?;
        let [projects, fields, events, runtime] = &TABLES;
        let (link, org, t0, t1, t2, t3) = tokio::try_join!(
            self.read_link(&ep, desired),
            dataverse::organization(&self.session, &ep.dataverse_api, self.settings.paging),
            self.read_fo_table(&ep, projects),
            self.read_fo_table(&ep, fields),
            self.read_fo_table(&ep, events),
            self.read_runtime_table(&ep, runtime),
        )?;
        let (finance_operations, connection) = link;
        Ok(LiveState {
            finance_operations,
            connection,
            dataverse: LiveDataverse {
                url: desired.dataverse.url.clone(),
                organization_id: org.id,
                unique_name: org.unique_name,
                friendly_name: org.friendly_name,
            },
            key_tables: vec![t0, t1, t2, t3],
        })
    }

    /// The F&O facts only the management service knows (type, Power Platform link) and the
    /// connection itself.
    async fn read_link(
        &self,
        ep: &Endpoints,
        desired: &Desired,
    ) -> Result<(LiveFinanceOperations, Option<LiveConnection>), ProviderError> {
        let base = ep.dws()?;
        let fo_url = desired.finance_operations.url.clone();
        let Some(set) = dws::find_connection_set(&self.session, base, &fo_url).await? else {
            // Never linked: nothing says otherwise, so the configured type stands.
            let fo = LiveFinanceOperations {
                url: fo_url,
                environment_type: desired.finance_operations.environment_type,
                power_platform_link: None,
            };
            return Ok((fo, None));
        };
        let shown = redact_url(base);
        let bad = |d: String| {
            ProviderError::bad_reply(
                Api::DualWrite,
                shown.clone(),
                format!("connection set `{}`: {d}", set.name),
            )
        };
        let ax = set
            .environment("AX")
            .ok_or_else(|| bad("no AX (finance and operations) environment".into()))?;
        let type_name = ax.environment_type.as_deref().unwrap_or("");
        let environment_type = dws::environment_type(type_name)
            .ok_or_else(|| bad(format!("unknown environmentType `{type_name}`")))?;
        let power_platform_link = match &ax.power_platform_link {
            Some(l) => {
                Some(dws::org_ref(&l.direct_url, l.organization_id.as_deref()).map_err(bad)?)
            }
            None => None,
        };
        let organization = match set.environment("CRM") {
            Some(crm) => {
                let url = crm
                    .direct_url
                    .as_deref()
                    .ok_or_else(|| bad("CRM entry without directUrl".into()))?;
                Some(dws::org_ref(url, crm.id.as_deref()).map_err(bad)?)
            }
            None => None,
        };
        let maps = dws::maps(&self.session, base, &set.id).await?;
        let connection = LiveConnection {
            id: set.id.clone(),
            name: set.name.clone(),
            organization,
            legal_entities: set.legal_entities(),
            maps,
        };
        let fo = LiveFinanceOperations {
            url: fo_url,
            environment_type,
            power_platform_link,
        };
        Ok((fo, Some(connection)))
    }

    async fn read_fo_table(
        &self,
        ep: &Endpoints,
        def: &TableDef,
    ) -> Result<KeyTable, ProviderError> {
        let url = fo::collection_url(
            &ep.fo_data,
            def.entity_set,
            def,
            Some(def.plan_select(def.keys)),
        )?;
        let rows = read_all(
            &self.session,
            Api::FinanceOperations,
            url.clone(),
            self.settings.paging_for(Api::FinanceOperations),
        )
        .await?;
        key_table(def, def.entity_set, def.keys, &rows)
            .map_err(|d| ProviderError::bad_reply(def.api(), redact_url(&url), d))
    }

    async fn read_runtime_table(
        &self,
        ep: &Endpoints,
        def: &TableDef,
    ) -> Result<KeyTable, ProviderError> {
        let Some(EntitySet { name, primary_id }) =
            dataverse::runtime_entity_set(&self.session, &ep.dataverse_api).await?
        else {
            return key_table(def, def.entity_set, def.keys, &[])
                .map_err(|d| ProviderError::bad_reply(def.api(), "", d));
        };
        let keys = [primary_id.as_str()];
        let url =
            dataverse::collection_url(&ep.dataverse_api, &name, Some(def.plan_select(&keys)))?;
        let rows = read_all(
            &self.session,
            Api::Dataverse,
            url.clone(),
            self.settings.paging,
        )
        .await?;
        key_table(def, &name, &keys, &rows)
            .map_err(|d| ProviderError::bad_reply(def.api(), redact_url(&url), d))
    }
}

/// Keys and counted facts of one table; a row without a usable key is a bad reply, because a
/// row we cannot name is a row we could neither back up nor delete.
pub fn key_table(
    def: &TableDef,
    entity_set: &str,
    keys: &[&str],
    rows: &[Row],
) -> Result<KeyTable, String> {
    let mut table = KeyTable {
        service: def.service,
        table: def.table.to_string(),
        entity_set: entity_set.to_string(),
        keys: Vec::with_capacity(rows.len()),
        external_urls: BTreeMap::new(),
        secure_config_organizations: BTreeMap::new(),
    };
    for (i, row) in rows.iter().enumerate() {
        let key = key_predicate(row, keys, def.guid_key).ok_or_else(|| {
            format!(
                "row {i} of {entity_set} has no usable key ({})",
                keys.join(", ")
            )
        })?;
        table.keys.push(key);
        let Some(fact) = def.fact else { continue };
        let value = match row.get(fact) {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            _ => continue,
        };
        if fact == "ExternalEnvironmentURL" {
            *table
                .external_urls
                .entry(normalize_url(&value))
                .or_default() += 1;
        } else {
            *table.secure_config_organizations.entry(value).or_default() += 1;
        }
    }
    table.keys.sort();
    Ok(table)
}

/// URLs as `Url` prints them (lower-case host, trailing `/`), so they compare with config URLs.
pub fn normalize_url(s: &str) -> String {
    Url::parse(s)
        .map(|u| u.to_string())
        .unwrap_or_else(|_| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_tables_count_facts_and_sort_keys() {
        let rows: Vec<Row> = [
            json!({"ProjectName":"b","ExternalEnvironmentURL":"https://Org.example"}),
            json!({"ProjectName":"a","ExternalEnvironmentURL":"https://org.example/"}),
            json!({"ProjectName":"c","ExternalEnvironmentURL":null}),
        ]
        .into_iter()
        .map(|v| v.as_object().unwrap().clone())
        .collect();
        let t = key_table(
            &TABLES[0],
            "DualWriteProjectConfigurations",
            TABLES[0].keys,
            &rows,
        )
        .unwrap();
        assert_eq!(t.keys, ["('a')", "('b')", "('c')"]);
        assert_eq!(t.external_urls.get("https://org.example/"), Some(&2));
        let bad = vec![json!({"X":1}).as_object().unwrap().clone()];
        assert!(key_table(&TABLES[0], "S", TABLES[0].keys, &bad).is_err());
    }
}
