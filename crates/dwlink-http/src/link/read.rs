//! `Link::read`: the three services read concurrently, each table's pages in sequence.

use std::collections::BTreeMap;
use std::sync::Arc;

use url::Url;

use crate::services::dataverse::{self, EntitySet};
use crate::services::metadata::Metadata;
use crate::services::odata::{for_each_picked_row, predicate, Paging};
use crate::services::picked::Cell;
use crate::services::tables::{TableDef, TABLES};
use crate::services::typed::{seen_cell, wrong, Shape};
use crate::services::{admin, dws, fo};
use crate::signin::session::Session;
use crate::transport::task::Task;
use crate::{Endpoints, HttpProvider};
use dwlink_core::link::error::{Api, ProviderError};
use dwlink_core::link::secret::redact_url;
use dwlink_core::link::RequestId;
use dwlink_core::model::desired::{Desired, EnvironmentType};
use dwlink_core::model::key_tables::EXTERNAL_ENVIRONMENT_URL;
use dwlink_core::model::live::{
    ConnectionDoubt, FinanceOperationsIntegration, KeyTable, LiveConnection, LiveDataverse,
    LiveFinanceOperations, LiveState, OrgRef, Unreadable,
};
impl HttpProvider {
    /// [`dwlink_core::link::Link::read`]: the three services read concurrently.
    pub(crate) async fn read_live(&self, desired: &Desired) -> Result<LiveState, ProviderError> {
        let ep = Endpoints::of(desired)?;
        // Each key table is read by a task of its own: their pages are parsed on both cores,
        // and parsing a big table's page never holds up another table's next request.
        let fo_paging = self.settings.paging_for(Api::FinanceOperations);
        let [projects, fields, events, runtime] = &TABLES;
        let fo_url = || redact_url(&ep.fo_data);
        let dv_url = || redact_url(&ep.dataverse_api);
        let fo = Api::FinanceOperations;
        // Which F&O sets exist is learnt once per run, before any of them is read; the other
        // services are read meanwhile.
        let fo_tables = async {
            // A set public sources show is read as dwlink knows it while `$metadata` is on its
            // way (one round trip off the plan's longest chain); the rows count only if
            // `$metadata` then states the set exactly as read, otherwise they are dropped and
            // the set is read as stated.
            let early = |def: &'static TableDef| {
                def.known_public.then(|| {
                    let (session, data) = (self.session.clone(), ep.fo_data.clone());
                    Task::spawn(read_fo_table_as_known(session, data, def, fo_paging))
                })
            };
            let early_projects = early(projects);
            let metadata = self.fo_metadata().await?;
            let fo_table = |def: &'static TableDef, early: Option<Task<KeyTable>>| {
                let (session, data) = (self.session.clone(), ep.fo_data.clone());
                let read_as_known = early.filter(|_| fo::read_as_known(&metadata, def));
                match read_as_known {
                    Some(task) => task,
                    None => Task::spawn(read_fo_table(
                        session,
                        data,
                        def,
                        metadata.clone(),
                        fo_paging,
                    )),
                }
            };
            let (t0, t1, t2) = (
                fo_table(projects, early_projects),
                fo_table(fields, None),
                fo_table(events, None),
            );
            tokio::try_join!(
                t0.join(fo, fo_url),
                t1.join(fo, fo_url),
                t2.join(fo, fo_url)
            )
        };
        let t3 = Task::spawn(read_runtime_table(
            self.session.clone(),
            ep.dataverse_api.clone(),
            runtime,
            self.settings.paging,
        ));
        let (link, org, integration, (t0, t1, t2), t3) = tokio::try_join!(
            self.read_link(&ep, desired),
            dataverse::organization(&self.session, &ep.dataverse_api),
            dataverse::fo_integration_details(&self.session, &ep.dataverse_api),
            fo_tables,
            t3.join(Api::Dataverse, dv_url),
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
                integration: match integration {
                    Some(i) => FinanceOperationsIntegration::Linked { url: i.url },
                    None => FinanceOperationsIntegration::NotLinked,
                },
            },
            key_tables: vec![t0, t1, t2, t3],
        })
    }

    fn remember_requests(&self, seen: Option<(String, Vec<RequestId>)>) {
        *self.seen_requests.lock().unwrap_or_else(|p| p.into_inner()) = seen;
    }

    /// The requests in flight the last live read's replies listed for connection set `cid`.
    pub(crate) fn requests_seen(&self, cid: &str) -> Option<Vec<RequestId>> {
        match &*self.seen_requests.lock().unwrap_or_else(|p| p.into_inner()) {
            Some((seen_cid, requests)) if seen_cid == cid => Some(requests.clone()),
            _ => None,
        }
    }

    /// The environment's `$metadata`, read on first use and kept for the rest of the run.
    pub(crate) async fn fo_metadata(&self) -> Result<Arc<Metadata>, ProviderError> {
        self.fo_metadata
            .get_or_try_init(|| async {
                fo::metadata(&self.session, &self.endpoints.fo_data)
                    .await
                    .map(Arc::new)
            })
            .await
            .cloned()
    }

    /// The F&O facts the services know (cloud-hosted or not, the Power Platform link) and the
    /// connection itself: the management service and the admin API are asked at once.
    async fn read_link(
        &self,
        ep: &Endpoints,
        desired: &Desired,
    ) -> Result<(LiveFinanceOperations, Option<LiveConnection>), ProviderError> {
        self.remember_requests(None);
        let gw = ep.dws()?;
        let fo_url = desired.finance_operations.url.clone();
        let (entry, admin_list) = tokio::try_join!(
            dws::find_environment(&self.session, gw, &fo_url),
            admin::admin_list(
                &self.session,
                &ep.admin,
                self.settings
                    .shared_admin_list
                    .as_ref()
                    .map(|c| (c, (desired.auth.tenant_id, desired.auth.client_id))),
            ),
        )?;
        let linked = admin::link_of(&admin_list, &fo_url)?;
        // The admin API's word that this is production outranks a declaration, which may come
        // from an edited plan file.
        let production = linked.as_ref().is_some_and(|l| l.production);
        let power_platform_link = linked.map(|l| l.organization);
        let declared = match desired.finance_operations.environment_type {
            _ if production => EnvironmentType::Production,
            t => t,
        };
        let Some(entry) = entry else {
            // Never linked. Cloud-hosted environments are not in the admin API's list, so a
            // declared cloud-hosted environment that the list shows linked is not one.
            let environment_type = match (declared, &power_platform_link) {
                (EnvironmentType::CloudHosted, Some(_)) => EnvironmentType::Sandbox,
                (t, _) => t,
            };
            let fo = LiveFinanceOperations {
                url: fo_url,
                environment_type,
                power_platform_link,
            };
            return Ok((fo, None));
        };
        // The lookup already names the set's id, which is all the map list needs: the set and
        // its maps are read at once.
        // Declared maps' keys and prerequisites are read with the set, after the listing.
        let maps = async {
            let (mut maps, entries) = dws::maps_and_entries(&self.session, gw, &entry.cid).await?;
            dws::maps::declared_details(
                &self.session,
                gw,
                &entry.cid,
                &entries,
                &mut maps,
                &desired.maps,
            )
            .await?;
            Ok::<_, ProviderError>((maps, entries))
        };
        let ((set, _), (maps, entries)) =
            tokio::try_join!(dws::connection_set(&self.session, gw, &entry.cname), maps,)?;
        // The same replies list the requests still in flight: a plan that would destroy asks for
        // them, and need not read both lists again. A list dwlink does not understand is left
        // for that second read to report.
        let seen = dws::entities_url(gw, &entry.cid).and_then(|at| {
            dws::requests_listed_in(gw, &entry.cid, &entry.cname, &entries, &at, &set)
        });
        self.remember_requests(seen.ok().map(|r| (entry.cid.clone(), r)));
        let shown = redact_url(&gw.root);
        let bad = |d: String| {
            ProviderError::bad_reply(
                Api::DualWrite,
                shown.clone(),
                format!("connection set `{}`: {d}", set.name),
            )
        };
        // Without an AX entry the set cannot say whether this is a cloud-hosted environment:
        // the declared type stands, and the plan reports the set (`connection.no-finance-operations`).
        let environment_type = match set.finance_operations() {
            Some(ax) => live_type(declared, ax.is_dev_instance),
            None => declared,
        };
        let (organization, doubt) = current_organization(&set, &admin_list, &bad)?;
        let connection = LiveConnection {
            // DWA names the set by the lookup's `cid` in every later call (Entities, Start,
            // SolutionAware, Reset), never by the set's own `id`, and reads the set by the
            // lookup's `cname` (`DWCommonEngine.cs` 366), never by the `name` it prints.
            id: entry.cid.clone(),
            name: entry.cname.clone(),
            organization,
            legal_entities: set.legal_entities(),
            maps,
            doubt,
        };
        let power_platform_link = match environment_type {
            EnvironmentType::CloudHosted => None,
            _ => power_platform_link,
        };
        let fo = LiveFinanceOperations {
            url: fo_url,
            environment_type,
            power_platform_link,
        };
        Ok((fo, Some(connection)))
    }
}

/// The organization dual-write is connected to now: the one Dataverse entry's `directUrl`
/// (which DWA never reads: dwlink's choice, so it is checked), cross-checked with the Power
/// Platform environment the entry's `powerAppsEnvironment` names, as the admin API lists it.
/// Several Dataverse entries, or the two disagreeing: a [`ConnectionDoubt`] the plan reports as
/// an error, and with several no organization at all (no guess).
fn current_organization(
    set: &dws::shapes::ConnectionSet,
    admin_list: &admin::AdminList,
    bad: &dyn Fn(String) -> ProviderError,
) -> Result<(Option<OrgRef>, Option<ConnectionDoubt>), ProviderError> {
    if let Some(entries) = set.several_dataverse() {
        return Ok((None, Some(ConnectionDoubt::SeveralDataverse { entries })));
    }
    // The reset body names the AX entry (DWA `ResetLinkEngine.cs` `buildEnvironments`); a set
    // without one is reported, not met at apply time.
    if set.finance_operations().is_none() {
        let current = current_organization_of(set, admin_list, bad)?.0;
        return Ok((current, Some(ConnectionDoubt::NoFinanceOperations)));
    }
    current_organization_of(set, admin_list, bad)
}

/// [`current_organization`] once the set has one AX entry and at most one Dataverse entry.
fn current_organization_of(
    set: &dws::shapes::ConnectionSet,
    admin_list: &admin::AdminList,
    bad: &dyn Fn(String) -> ProviderError,
) -> Result<(Option<OrgRef>, Option<ConnectionDoubt>), ProviderError> {
    let Some(crm) = set.dataverse() else {
        return Ok((None, None));
    };
    let url = crm
        .direct_url
        .as_deref()
        .ok_or_else(|| bad("the CRM environment has no directUrl".into()))?;
    let url = Url::parse(url).map_err(|e| bad(format!("directUrl `{url}` is not a URL: {e}")))?;
    // The entry's `powerAppsEnvironment` is the Power Platform environment's id, not the
    // organization's: the organization is known by its URL, which the admin API confirms.
    let doubt = match crm.power_apps_environment.as_deref() {
        Some(env) => match admin_list.organization_of(env)? {
            Some(listed) if !dwlink_core::model::identity::same_host(&listed, &url) => {
                Some(ConnectionDoubt::OrganizationDisagrees {
                    direct_url: url.clone(),
                    power_apps_environment: env.to_string(),
                    environment_url: listed,
                })
            }
            _ => None,
        },
        None => None,
    };
    let organization = OrgRef {
        url,
        organization_id: None,
    };
    Ok((Some(organization), doubt))
}

/// Cloud-hosted is what the connection set's F&O entry says (`isDevInstance`, DWA
/// `DWConnectionSet.cs`; that it marks cloud-hosted environments is inferred). Production and
/// sandbox look alike to every service dwlink reads, so the declared one stands.
fn live_type(declared: EnvironmentType, dev_instance: bool) -> EnvironmentType {
    match (dev_instance, declared) {
        (true, _) => EnvironmentType::CloudHosted,
        (false, EnvironmentType::CloudHosted) => EnvironmentType::Sandbox,
        (false, t) => t,
    }
}

/// A table `$metadata` lists no set for is not read and not counted: the reset clears it.
async fn read_fo_table(
    session: Session,
    data: Url,
    def: &'static TableDef,
    metadata: Arc<Metadata>,
    paging: Paging,
) -> Result<KeyTable, ProviderError> {
    let Some(set) = fo::stated_set(&metadata, def, def.entity_set)? else {
        return Ok(KeyTable::unreadable(
            def.service,
            def.table,
            Unreadable::NoODataSet,
        ));
    };
    if !fo::filter_fits(def, set) {
        return Ok(KeyTable::unreadable(
            def.service,
            def.table,
            Unreadable::NoDualWriteMarker,
        ));
    }
    let fact = def.fact.filter(|f| set.properties.contains(*f));
    let url = fo::collection_url(&data, def.entity_set, def, Some(select(def.keys, fact)))?;
    count_table(&session, def, def.entity_set, def.keys, fact, url, paging).await
}

/// The table read by the set, key and fact column dwlink knows, before `$metadata` confirms them.
async fn read_fo_table_as_known(
    session: Session,
    data: Url,
    def: &'static TableDef,
    paging: Paging,
) -> Result<KeyTable, ProviderError> {
    let url = fo::collection_url(&data, def.entity_set, def, Some(select(def.keys, def.fact)))?;
    count_table(
        &session,
        def,
        def.entity_set,
        def.keys,
        def.fact,
        url,
        paging,
    )
    .await
}

async fn read_runtime_table(
    session: Session,
    api: Url,
    def: &'static TableDef,
    paging: Paging,
) -> Result<KeyTable, ProviderError> {
    // The table's set and its columns are asked for at once (both are named by the logical
    // name): one round trip instead of two on the plan's longest chain.
    let attributes = async {
        match def.fact {
            Some(_) => dataverse::attributes(&session, &api, def.table)
                .await
                .map(Some),
            None => Ok(None),
        }
    };
    let (set, attributes) = tokio::join!(dataverse::runtime_entity_set(&session, &api), attributes);
    let Some(EntitySet { name, primary_id }) = set? else {
        // No such table (dual-write's solutions are not installed): its Attributes answer 404,
        // which says nothing more.
        return Ok(KeyCounter::new(def, def.entity_set, def.keys, None).finish());
    };
    // A column naming the rows' organization is counted only where the table really has it.
    let fact = match (def.fact, attributes?) {
        (Some(f), Some(columns)) => columns.contains(f).then_some(f),
        _ => None,
    };
    let keys = [primary_id.as_str()];
    let url = dataverse::collection_url(&api, &name, Some(select(&keys, fact)))?;
    count_table(&session, def, &name, &keys, fact, url, paging).await
}

/// `$select` for the plan read: keys and the fact column only.
fn select(keys: &[&str], fact: Option<&str>) -> String {
    let mut cols = keys.to_vec();
    cols.extend(fact);
    cols.join(",")
}

/// Pages of keys and the fact column, counted as they arrive: the plan never holds a table's
/// rows, only their key predicates.
async fn count_table(
    session: &Session,
    def: &TableDef,
    entity_set: &str,
    keys: &[&str],
    fact: Option<&'static str>,
    url: Url,
    paging: Paging,
) -> Result<KeyTable, ProviderError> {
    let mut columns = keys.to_vec();
    columns.extend(fact);
    let mut counter = KeyCounter::new(def, entity_set, keys, fact);
    for_each_picked_row(
        session,
        crate::services::tables::api(def),
        url,
        paging,
        &columns,
        &mut |cells| counter.add(cells),
    )
    .await?;
    Ok(counter.finish())
}

/// Keys and counted facts of one table, page by page. A row without a usable key is a bad
/// reply, because a row we cannot name is a row we could neither back up nor delete.
pub(crate) struct KeyCounter<'k> {
    table: KeyTable,
    keys: &'k [&'k str],
    guid: bool,
    fact: Option<&'static str>,
    /// Each URL as the services wrote it, normalized once: a table's rows name a handful of
    /// organizations, and parsing a URL per row was a fifth of a large plan's CPU.
    normalized: std::collections::HashMap<String, String>,
}

impl<'k> KeyCounter<'k> {
    /// `fact`: the counted column, only when the service lists it.
    pub(crate) fn new(
        def: &TableDef,
        entity_set: &str,
        keys: &'k [&'k str],
        fact: Option<&'static str>,
    ) -> Self {
        KeyCounter {
            table: KeyTable {
                service: def.service,
                table: def.table.to_string(),
                entity_set: entity_set.to_string(),
                keys: Vec::new(),
                external_urls: BTreeMap::new(),
                secure_config_organizations: BTreeMap::new(),
                fact_column: fact.map(str::to_string),
                unreadable: None,
            },
            keys,
            guid: def.guid_key,
            fact,
            normalized: Default::default(),
        }
    }

    /// A row's cells: `keys` then the fact column, as `for_each_picked_row` hands them over.
    pub(crate) fn add(&mut self, cells: &[Option<Cell<'_>>]) -> Result<(), String> {
        let t = &mut self.table;
        let key = predicate(self.keys, cells, self.guid).ok_or_else(|| {
            format!(
                "row {} of {} has no usable key ({})",
                t.keys.len(),
                t.entity_set,
                self.keys.join(", ")
            )
        })?;
        // Every column dwlink reads here is stated as a string (keys: GUIDs on Dataverse); a
        // cell of another type is a bad reply, never a value to count around.
        let key_shape = if self.guid { Shape::Guid } else { Shape::Text };
        for (k, cell) in self.keys.iter().zip(cells) {
            if let Some(c) = cell.as_ref().filter(|c| !key_shape.fits_cell(c)) {
                return Err(wrong(
                    t.keys.len(),
                    &t.entity_set,
                    k,
                    seen_cell(c),
                    key_shape,
                ));
            }
        }
        t.keys.push(key);
        let fact_value = cells.get(self.keys.len()).and_then(Option::as_ref);
        if let (Some(fact), Some(c)) = (self.fact, fact_value) {
            if !matches!(c, Cell::Null) && !Shape::Text.fits_cell(c) {
                return Err(wrong(
                    t.keys.len() - 1,
                    &t.entity_set,
                    fact,
                    seen_cell(c),
                    Shape::Text,
                ));
            }
        }
        let (Some(fact), Some(Cell::Str(value))) = (self.fact, fact_value) else {
            return Ok(());
        };
        let value = value.trim();
        if value.is_empty() {
            return Ok(());
        }
        if fact == EXTERNAL_ENVIRONMENT_URL {
            let url = match self.normalized.get(value) {
                Some(u) => u,
                None => self
                    .normalized
                    .entry(value.to_string())
                    .or_insert_with(|| normalize_url(value)),
            };
            match t.external_urls.get_mut(url) {
                Some(n) => *n += 1,
                None => {
                    t.external_urls.insert(url.clone(), 1);
                }
            }
        } else if let Some(n) = t.secure_config_organizations.get_mut(value) {
            *n += 1;
        } else {
            t.secure_config_organizations.insert(value.to_string(), 1);
        }
        Ok(())
    }

    pub(crate) fn finish(mut self) -> KeyTable {
        self.table.keys.sort_unstable();
        self.table
    }
}

/// URLs as `Url` prints them (lower-case host, trailing `/`), so they compare with config URLs.
pub(crate) fn normalize_url(s: &str) -> String {
    Url::parse(s)
        .map(|u| u.to_string())
        .unwrap_or_else(|_| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_tables_count_facts_and_sort_keys() {
        let c = |v: &'static str| Some(Cell::Str(v.into()));
        let mut t = KeyCounter::new(
            &TABLES[0],
            "DualWriteProjectConfigurations",
            TABLES[0].keys,
            TABLES[0].fact,
        );
        t.add(&[c("b"), c("https://Org.example")]).unwrap();
        t.add(&[c("a"), c("https://org.example/")]).unwrap();
        t.add(&[c("c"), Some(Cell::Null)]).unwrap();
        t.add(&[c("d"), None]).unwrap();
        let t = t.finish();
        assert_eq!(t.keys, ["('a')", "('b')", "('c')", "('d')"]);
        assert_eq!(t.external_urls.get("https://org.example/"), Some(&2));
        let mut bad = KeyCounter::new(&TABLES[0], "S", TABLES[0].keys, None);
        bad.add(&[c("a"), None]).unwrap();
        let e = bad.add(&[Some(Cell::Nested), None]).unwrap_err();
        assert!(e.contains("row 1 of S"), "{e}");
    }
}
