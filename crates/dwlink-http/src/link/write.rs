//! The changes apply makes, through the same session, client and retries as the reads.

use futures::StreamExt;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;
use url::Url;

use crate::services::dws::{self, BodyTarget, RequestState};
use crate::services::odata::{encode, url_with_query, Pages};
use crate::services::tables::{table_def, TableDef};
use crate::services::typed::{CheckedPages, Columns};
use crate::services::{admin, dataverse, fo};
use crate::transport::batch::{self, BatchItem, BatchOp};
use crate::transport::client::content_type;
use crate::transport::reply::error_message;
use crate::transport::request::ApiRequest;
use crate::HttpProvider;
use dwlink_core::link::error::ProviderError;
use dwlink_core::link::secret::redact_url;
use dwlink_core::link::{
    BoxFut, DeleteReport, Link, MapRequest, RequestId, ResetOptions, Row, RowPages, Solution,
    TableRef,
};
use dwlink_core::model::desired::{Desired, ResetTarget};
use dwlink_core::model::live::{LiveConnection, LiveMap, LiveState, Service};

impl RowPages for Pages<'_> {
    fn next_page(&mut self) -> BoxFut<'_, Option<Vec<Row>>> {
        Box::pin(Pages::next_page(self))
    }
}

/// The services' most requests in one `$batch` (Dataverse documents 1,000; F&O's OData takes
/// the same); a larger change set would be refused whole.
pub(crate) const MAX_BATCH: usize = 1000;

/// One row's URL in a change set: the service base (a parsed URL ending in `/`), the encoded
/// entity set and key predicate, and F&O's `cross-company=true`, concatenated: the URL
/// `fo::entity_url` and `url_with_query` build, without parsing it again for each of 1,000 rows.
pub(crate) fn change_set_url(
    base: &Url,
    service: Service,
    entity_set: &str,
    predicate: &str,
) -> String {
    let query = match service {
        Service::FinanceOperations => "?cross-company=true",
        Service::Dataverse => "",
    };
    format!("{base}{}{}{query}", encode(entity_set), encode(predicate))
}

impl HttpProvider {
    fn confirm(&self) -> dws::Confirm {
        dws::Confirm {
            window: self.settings.confirm_window,
            poll: self.settings.poll_interval,
        }
    }

    fn reset_confirm(&self) -> dws::Confirm {
        dws::Confirm {
            window: self.settings.reset_window,
            poll: self.settings.poll_interval,
        }
    }

    fn service_base(&self, service: Service) -> &Url {
        match service {
            Service::FinanceOperations => &self.endpoints.fo_data,
            Service::Dataverse => &self.endpoints.dataverse_api,
        }
    }

    fn batch_size(&self, service: Service) -> usize {
        match service {
            Service::FinanceOperations => self.settings.fo_batch_size.min(MAX_BATCH),
            Service::Dataverse => self.settings.dataverse_batch_size.min(MAX_BATCH),
        }
        .max(1)
    }

    fn pages(&self, table: &TableRef) -> Result<Pages<'_>, ProviderError> {
        let def = table_def(&table.table)?;
        let base = self.service_base(def.service);
        let url = match def.service {
            Service::FinanceOperations => fo::collection_url(base, &table.entity_set, def, None)?,
            Service::Dataverse => dataverse::collection_url(base, &table.entity_set, None)?,
        };
        Ok(Pages::new(
            &self.session,
            crate::services::tables::api(def),
            url,
            self.settings.paging_for(crate::services::tables::api(def)),
        ))
    }

    /// F&O rows are deleted or created only in a set `$metadata` states, with the key it states.
    async fn check_fo_set(&self, def: &TableDef, entity_set: &str) -> Result<(), ProviderError> {
        if def.service != Service::FinanceOperations {
            return Ok(());
        }
        let metadata = self.fo_metadata().await?;
        match fo::stated_set(&metadata, def, entity_set)? {
            Some(_) => Ok(()),
            None => Err(ProviderError::Setup {
                message: format!(
                    "{} has no OData set {entity_set} ($metadata lists none), so dwlink cannot change its rows",
                    def.table
                ),
                help: "the dual-write reset clears this table on the service's side".into(),
            }),
        }
    }

    async fn read_rows_impl(&self, table: &TableRef) -> Result<Vec<Row>, ProviderError> {
        let def = table_def(&table.table)?;
        self.check_fo_set(def, &table.entity_set).await?;
        let mut pages = self.pages(table)?;
        let mut all = Vec::new();
        while let Some(rows) = pages.next_page().await? {
            all.extend(rows);
        }
        Ok(all)
    }

    /// Sends one change set; `Ok(None)` when it committed, `Ok(Some(failure))` when the service
    /// refused it (nothing of it stays).
    async fn send_change_set(
        &self,
        def: &TableDef,
        ops: &[BatchOp],
        idempotent: bool,
    ) -> Result<Option<SetFailure>, ProviderError> {
        let batch_url = url_with_query(self.service_base(def.service), "$batch", &[])?;
        let (ct, body) = batch::build_change_set(ops, uuid::Uuid::new_v4());
        let req = ApiRequest::post(crate::services::tables::api(def), batch_url)
            .odata()
            .raw(ct, body)
            .header("Accept", "multipart/mixed")
            .idempotent(idempotent);
        let reply = self.session.send(&req).await?;
        let items =
            batch::parse(content_type(&reply.headers), &reply.body).map_err(|d| reply.bad(d))?;
        let [item] = items.as_slice() else {
            return Err(reply.bad(format!(
                "{} parts in the answer to one change set",
                items.len()
            )));
        };
        if let Some(f) = batch::failure(item) {
            let (code, message) = error_message(&Default::default(), f.body.as_bytes(), false);
            let message = code.map(|c| format!("{c}: {message}")).unwrap_or(message);
            // `build_change_set` numbers the requests 1..=n; anything else names none of ours.
            let failed = f
                .content_id
                .as_deref()
                .and_then(|id| id.trim().parse::<usize>().ok())
                .filter(|n| (1..=ops.len()).contains(n))
                .map(|n| n - 1);
            return Ok(Some(SetFailure {
                status: f.status,
                message,
                failed,
            }));
        }
        if let BatchItem::ChangeSet(rs) = item {
            if rs.len() != ops.len() {
                return Err(reply.bad(format!(
                    "{} answers for a change set of {} requests",
                    rs.len(),
                    ops.len()
                )));
            }
        }
        Ok(None)
    }

    async fn delete_rows_impl(
        &self,
        table: &TableRef,
        keys: &[String],
    ) -> Result<DeleteReport, ProviderError> {
        let def = table_def(&table.table)?;
        self.check_fo_set(def, &table.entity_set).await?;
        let mut report = DeleteReport::default();
        // Several change sets in flight: the cost tracks round trips / concurrency, and the
        // client's semaphore and 429 handling keep it inside the service's budget.
        let size = self.batch_size(def.service).max(1);
        // Indexes, not slices: a closure over borrowed chunks trips the Send bound of the boxed
        // future (higher-ranked lifetimes).
        let mut results = futures::stream::iter(0..keys.len().div_ceil(size))
            .map(|i| {
                let chunk = &keys[i * size..((i + 1) * size).min(keys.len())];
                self.delete_chunk(def, table, chunk)
            })
            .buffer_unordered(self.settings.batch_concurrency.max(1));
        while let Some(r) = results.next().await {
            let r = r?;
            report.deleted += r.deleted;
            report.already_gone += r.already_gone;
        }
        Ok(report)
    }

    async fn delete_chunk(
        &self,
        def: &TableDef,
        table: &TableRef,
        chunk: &[String],
    ) -> Result<DeleteReport, ProviderError> {
        let mut report = DeleteReport::default();
        // A change set is atomic: one key already gone (an earlier, interrupted run) fails the
        // whole set with 404 and deletes none of it. The failing key is counted gone and the
        // others go again as a new set, so each gone key costs one more request, not one
        // request per remaining row.
        let mut pending: Vec<Vec<&String>> = vec![chunk.iter().collect()];
        while let Some(keys) = pending.pop() {
            if keys.is_empty() {
                continue;
            }
            let ops: Vec<BatchOp> = keys
                .iter()
                .map(|k| BatchOp {
                    method: Method::DELETE,
                    url: change_set_url(
                        self.service_base(def.service),
                        def.service,
                        &table.entity_set,
                        k,
                    ),
                    body: None,
                })
                .collect();
            // Deleting a change set twice either deletes it or finds rows gone: safe to retry.
            match self.send_change_set(def, &ops, true).await? {
                None => report.deleted += keys.len(),
                Some(f) if f.status == 404 => match (keys.len(), f.failed) {
                    (1, _) => report.already_gone += 1,
                    (_, Some(i)) => {
                        report.already_gone += 1;
                        let mut rest = keys;
                        rest.remove(i);
                        pending.push(rest);
                    }
                    // The answer does not say which request failed: halve the set until the
                    // gone keys are sets of their own (log2(size) more requests per gone key).
                    (n, None) => {
                        let (a, b) = keys.split_at(n / 2);
                        pending.push(b.to_vec());
                        pending.push(a.to_vec());
                    }
                },
                Some(f) => {
                    return Err(ProviderError::BatchFailed {
                        api: crate::services::tables::api(def),
                        url: redact_url(self.service_base(def.service)),
                        status: f.status,
                        message: f.message,
                        keys: keys.into_iter().cloned().collect(),
                    })
                }
            }
        }
        Ok(report)
    }

    async fn create_rows_impl(
        &self,
        table: &TableRef,
        rows: &[&Row],
    ) -> Result<usize, ProviderError> {
        let def = table_def(&table.table)?;
        self.check_fo_set(def, &table.entity_set).await?;
        let set_url = url_with_query(
            self.service_base(def.service),
            &encode(&table.entity_set),
            &[],
        )?;
        let mut created = 0;
        for chunk in rows.chunks(self.batch_size(def.service)) {
            let ops: Vec<BatchOp> = chunk
                .iter()
                .map(|r| BatchOp {
                    method: Method::POST,
                    url: set_url.to_string(),
                    body: Some(Value::Object(writable(r))),
                })
                .collect();
            if let Some(SetFailure {
                status, message, ..
            }) = self.send_change_set(def, &ops, false).await?
            {
                let keys = chunk
                    .iter()
                    .map(|r| {
                        crate::services::odata::key_predicate(r, def.keys, def.guid_key)
                            .unwrap_or_else(|| "(no key)".into())
                    })
                    .collect();
                return Err(ProviderError::BatchFailed {
                    api: crate::services::tables::api(def),
                    url: redact_url(&set_url),
                    status,
                    message,
                    keys,
                });
            }
            created += chunk.len();
        }
        Ok(created)
    }

    async fn wait_impl(&self, request: &RequestId, timeout: Duration) -> Result<(), ProviderError> {
        let base = self.endpoints.dws()?;
        let started = Instant::now();
        let mut interval = self.settings.poll_interval;
        if request.id.starts_with(dws::CONFIRMED_BY_READ) {
            return Ok(());
        }
        loop {
            match dws::status(&self.session, base, &request.id).await? {
                RequestState::Completed => return Ok(()),
                RequestState::Error(message) => {
                    return Err(ProviderError::RequestFailed {
                        request_id: request.id.clone(),
                        what: request.what.clone(),
                        message,
                    })
                }
                RequestState::Waiting => {}
            }
            let waited = started.elapsed();
            if waited >= timeout {
                return Err(ProviderError::RequestTimedOut {
                    request_id: request.id.clone(),
                    what: request.what.clone(),
                    waited,
                    state: "Waiting".into(),
                });
            }
            tokio::time::sleep(interval.min(timeout - waited)).await;
            interval = (interval * 2).min(self.settings.max_poll_interval);
        }
    }
}

impl HttpProvider {
    async fn map_impl(
        &self,
        connection_id: &str,
        map_id: &str,
        map_name: &str,
        start: bool,
    ) -> Result<RequestId, ProviderError> {
        let verb = if start { "start" } else { "stop" };
        dws::map_action(
            &self.session,
            self.endpoints.dws()?,
            self.confirm(),
            connection_id,
            map_id,
            start,
            format!("{verb} map {map_name}"),
        )
        .await
    }

    /// The reset, its body naming the declared target (`dws::reset_body`): the Power Platform
    /// link's environment, read afresh from the admin API, or the current one. The connection
    /// set is read by the lookup's `cname` (DWA `DWCommonEngine.cs` 366), as every read is.
    async fn reset_impl(
        &self,
        connection: &LiveConnection,
        options: &ResetOptions,
    ) -> Result<RequestId, ProviderError> {
        let gw = self.endpoints.dws()?;
        let (set, _) = dws::connection_set(&self.session, gw, &connection.name).await?;
        let cloud_hosted = set.finance_operations().is_some_and(|e| e.is_dev_instance);
        let current = set
            .dataverse()
            .and_then(|e| e.direct_url.as_deref())
            .and_then(dws::host_of);
        let linked = if cloud_hosted {
            None
        } else {
            // Read afresh, never from a fleet's shared list: the reset acts on what is true now.
            admin::linked_environment(
                &self.session,
                &self.endpoints.admin,
                &self.endpoints.fo,
                None,
            )
            .await?
        };
        let (target, org_host) = match (options.target, cloud_hosted, &linked) {
            // Scenario 4: the reset refreshes the connection as it is.
            (_, true, _) => (BodyTarget::Current, current),
            (ResetTarget::PowerPlatformLink, false, Some(l)) => (
                BodyTarget::PowerPlatformLink(l),
                dws::host_of(l.organization.url.as_str()),
            ),
            (ResetTarget::PowerPlatformLink, false, None) => {
                return Err(ProviderError::Setup {
                    message: "the environment has no Power Platform integration: a reset cannot proceed (scenario 3)".into(),
                    help: "set the Power Platform integration to the current Dataverse environment first (Power Platform admin center), then plan again".into(),
                })
            }
            (ResetTarget::CurrentEnvironment, false, _) => (BodyTarget::Current, current),
        };
        dws::reset(
            &self.session,
            gw,
            self.reset_confirm(),
            (&connection.id, &connection.name, &set),
            dws::ResetAsk {
                target,
                force: options.force,
                legal_entities: &options.legal_entities,
                org_host,
            },
        )
        .await
    }
}

/// Why the service refused a change set.
struct SetFailure {
    status: u16,
    message: String,
    /// Index of the request the answer names as the one that failed, when it names one.
    failed: Option<usize>,
}

/// A backed-up row as a create body: OData annotations (`@odata.etag`, …) are the service's.
fn writable(row: &Row) -> Row {
    row.iter()
        .filter(|(k, _)| !k.contains('@'))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

impl Link for HttpProvider {
    fn read<'a>(&'a self, desired: &'a Desired) -> BoxFut<'a, LiveState> {
        Box::pin(self.read_live(desired))
    }

    fn row_key(&self, table: &TableRef, row: &Row) -> Option<String> {
        let def = dwlink_core::model::key_tables::by_table(&table.table).or_else(|| {
            dwlink_core::model::key_tables::by_entity_set(table.service, &table.entity_set)
        })?;
        crate::services::odata::key_predicate(row, def.keys, def.guid_key)
    }

    fn stop_map<'a>(
        &'a self,
        connection_id: &'a str,
        map_id: &'a str,
        map_name: &'a str,
    ) -> BoxFut<'a, RequestId> {
        Box::pin(self.map_impl(connection_id, map_id, map_name, false))
    }

    fn start_map<'a>(
        &'a self,
        connection_id: &'a str,
        map_id: &'a str,
        map_name: &'a str,
    ) -> BoxFut<'a, RequestId> {
        Box::pin(self.map_impl(connection_id, map_id, map_name, true))
    }

    fn requests_in_flight<'a>(
        &'a self,
        connection: &'a LiveConnection,
    ) -> BoxFut<'a, Vec<RequestId>> {
        Box::pin(async move {
            dws::requests_in_flight(&self.session, self.endpoints.dws()?, connection).await
        })
    }

    fn requests_seen_by_read(&self, connection: &LiveConnection) -> Option<Vec<RequestId>> {
        self.requests_seen(&connection.id)
    }

    fn wait_for_request<'a>(&'a self, request: &'a RequestId, timeout: Duration) -> BoxFut<'a, ()> {
        Box::pin(self.wait_impl(request, timeout))
    }

    fn read_rows<'a>(&'a self, table: &'a TableRef) -> BoxFut<'a, Vec<Row>> {
        Box::pin(self.read_rows_impl(table))
    }

    fn read_pages<'a>(
        &'a self,
        table: &'a TableRef,
    ) -> Result<Box<dyn RowPages + 'a>, ProviderError> {
        // Every row a backup or a restore reads is held to the stated types of its key and fact
        // columns before anyone sees it.
        let def = table_def(&table.table)?;
        let metadata = match def.service {
            Service::FinanceOperations => self.fo_metadata.get().cloned(),
            Service::Dataverse => None,
        };
        let columns = Columns::of(def, def.keys, metadata.as_deref(), &table.entity_set);
        let url = redact_url(self.service_base(def.service));
        Ok(Box::new(CheckedPages {
            inner: Box::new(self.pages(table)?),
            columns,
            set: table.entity_set.clone(),
            api: crate::services::tables::api(def),
            url: format!("{}{}", url, table.entity_set),
            rows: 0,
        }))
    }

    fn count_rows<'a>(&'a self, table: &'a TableRef) -> BoxFut<'a, Option<usize>> {
        Box::pin(async move {
            let def = table_def(&table.table)?;
            crate::services::count::count_rows(
                &self.session,
                self.service_base(def.service),
                def,
                &table.entity_set,
            )
            .await
        })
    }

    fn delete_rows<'a>(
        &'a self,
        table: &'a TableRef,
        keys: &'a [String],
    ) -> BoxFut<'a, DeleteReport> {
        Box::pin(self.delete_rows_impl(table, keys))
    }

    fn create_rows<'a>(&'a self, table: &'a TableRef, rows: &'a [&'a Row]) -> BoxFut<'a, usize> {
        Box::pin(self.create_rows_impl(table, rows))
    }

    fn reset<'a>(
        &'a self,
        connection: &'a LiveConnection,
        options: &'a ResetOptions,
    ) -> BoxFut<'a, RequestId> {
        Box::pin(self.reset_impl(connection, options))
    }

    fn list_solutions<'a>(&'a self, connection_id: &'a str) -> BoxFut<'a, Vec<Solution>> {
        Box::pin(async move {
            dws::solutions(&self.session, self.endpoints.dws()?, connection_id).await
        })
    }

    fn map_request<'a>(
        &'a self,
        connection: &'a LiveConnection,
        maps: &'a [LiveMap],
        request: MapRequest,
    ) -> BoxFut<'a, RequestId> {
        Box::pin(async move {
            dws::maps::request(
                &self.session,
                self.endpoints.dws()?,
                &connection.id,
                maps,
                request,
            )
            .await
        })
    }

    fn switch_map_version<'a>(
        &'a self,
        connection: &'a LiveConnection,
        map: &'a LiveMap,
        version: &'a str,
    ) -> BoxFut<'a, ()> {
        Box::pin(async move {
            dws::maps::switch_version(
                &self.session,
                self.endpoints.dws()?,
                &connection.id,
                map,
                version,
                self.settings.poll_interval,
            )
            .await
        })
    }

    fn set_integration_keys<'a>(
        &'a self,
        connection: &'a LiveConnection,
        map: &'a LiveMap,
        keys: &'a [String],
    ) -> BoxFut<'a, ()> {
        Box::pin(async move {
            dws::maps::set_keys(&self.session, self.endpoints.dws()?, connection, map, keys).await
        })
    }

    fn refresh_tables<'a>(
        &'a self,
        connection: &'a LiveConnection,
        map: &'a LiveMap,
    ) -> BoxFut<'a, ()> {
        Box::pin(async move {
            dws::maps::refresh(&self.session, self.endpoints.dws()?, &connection.id, map).await
        })
    }

    fn apply_solution<'a>(
        &'a self,
        connection: &'a LiveConnection,
        solution: &'a str,
    ) -> BoxFut<'a, RequestId> {
        Box::pin(async move {
            dws::apply_solution(
                &self.session,
                self.endpoints.dws()?,
                dws::Confirm {
                    window: self.settings.solution_window,
                    poll: self.settings.poll_interval,
                },
                &connection.id,
                &connection.name,
                solution,
            )
            .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_set_urls_are_the_joined_urls() {
        let fo_base = Url::parse("https://env.example/data/").unwrap();
        let dv_base = Url::parse("https://org.example/api/data/v9.2/").unwrap();
        for key in [
            "('Customers V3')",
            "(ProjectName='a''b/c?d#e%f',InternalFieldName='é')",
        ] {
            assert_eq!(
                change_set_url(
                    &fo_base,
                    Service::FinanceOperations,
                    "DualWriteProjectConfigurations",
                    key
                ),
                fo::entity_url(&fo_base, "DualWriteProjectConfigurations", key)
                    .unwrap()
                    .as_str()
            );
        }
        let key = "(4f2a4c1e-8a7e-4a43-9a60-5a3c2c1d9b10)";
        let joined = url_with_query(
            &dv_base,
            &format!("{}{}", encode("msdyn_dualwriteruntimeconfigs"), encode(key)),
            &[],
        )
        .unwrap();
        assert_eq!(
            change_set_url(
                &dv_base,
                Service::Dataverse,
                "msdyn_dualwriteruntimeconfigs",
                key
            ),
            joined.as_str()
        );
    }
}
