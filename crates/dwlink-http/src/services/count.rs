//! A key table's row count as the service states it: `$count=true` with `$top=0` (OData v4.01
//! Part 2 §5.1.4 and §5.1.3: `@odata.count` is the number of matching rows regardless of `$top`).
//! Dataverse caps `@odata.count` at 5,000 ("Count number of rows", Learn `webapi/query/count-rows`):
//! a count at the cap says nothing.

use serde_json::Value;
use url::Url;

use super::odata::{encode, url_with_query};
use super::tables::{api, TableDef};
use crate::signin::session::Session;
use crate::transport::request::ApiRequest;
use dwlink_core::link::error::ProviderError;
use dwlink_core::model::live::Service;

const DATAVERSE_COUNT_CAP: u64 = 5_000;

pub(crate) async fn count_rows(
    session: &Session,
    base: &Url,
    def: &TableDef,
    entity_set: &str,
) -> Result<Option<usize>, ProviderError> {
    let mut query = Vec::new();
    if def.service == Service::FinanceOperations {
        query.push(("cross-company", "true".to_string()));
    }
    if let Some(f) = def.filter {
        query.push(("$filter", f.to_string()));
    }
    query.push(("$count", "true".to_string()));
    query.push(("$top", "0".to_string()));
    let url = url_with_query(base, &encode(entity_set), &query)?;
    let reply = session
        .send(&ApiRequest::get(api(def), url).odata())
        .await?;
    let body: Value = reply.json_value()?;
    let Some(n) = body.get("@odata.count") else {
        return Ok(None);
    };
    let n = n
        .as_u64()
        .ok_or_else(|| reply.bad("@odata.count is not a non-negative integer"))?;
    if def.service == Service::Dataverse && n >= DATAVERSE_COUNT_CAP {
        return Ok(None);
    }
    Ok(Some(usize::try_from(n).unwrap_or(usize::MAX)))
}
