//! Drift: what makes the live link differ from the declaration — connected elsewhere, F&O rows
//! syncing to another organization, runtime rows naming another SecureConfig organization (only
//! where the service has a column that says so), or runtime rows beside F&O rows made for
//! another organization.

use std::collections::BTreeMap;

use crate::model::desired::Desired;
use crate::model::identity::{same_host, same_host_str};
use crate::model::key_tables::{PROJECT_CONFIGURATION, RUNTIME_CONFIGURATION};
use crate::model::live::LiveState;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Drift {
    /// Dual-write is connected to another organization than the declared one, or to none.
    pub linked_elsewhere: bool,
    /// Project-configuration rows per foreign Dataverse URL they sync to.
    pub foreign: BTreeMap<String, usize>,
    /// Runtime-configuration rows per SecureConfig organization that is not this one, with the
    /// column that names it; empty when the service has no such column.
    pub secure_mismatch: BTreeMap<String, usize>,
    pub secure_column: Option<String>,
    /// Runtime-configuration rows whose organization no column shows, while F&O rows sync to
    /// another organization (`foreign`): the only evidence that they too were made elsewhere.
    pub runtime_beside_foreign: usize,
}

impl Drift {
    pub(super) fn any(&self) -> bool {
        self.linked_elsewhere || !self.foreign.is_empty() || !self.secure_mismatch.is_empty()
    }
}

pub(super) fn drift(desired: &Desired, live: &LiveState) -> Drift {
    let declared = &desired.dataverse.url;
    let linked_elsewhere = match live
        .connection
        .as_ref()
        .and_then(|c| c.organization.as_ref())
    {
        Some(c) => !same_host(&c.url, declared),
        None => true,
    };
    let foreign: BTreeMap<String, usize> = live
        .table(PROJECT_CONFIGURATION)
        .map(|t| {
            t.external_urls
                .iter()
                .filter(|(u, _)| !same_host_str(declared, u))
                .map(|(u, n)| (u.clone(), *n))
                .collect()
        })
        .unwrap_or_default();
    // The organization is known by three names; a SecureConfig naming any of them is its own.
    let org_names: Vec<String> = [
        live.dataverse.unique_name.clone(),
        live.dataverse.friendly_name.clone(),
        Some(live.dataverse.organization_id.to_string()),
    ]
    .into_iter()
    .flatten()
    .map(|s| s.to_lowercase())
    .collect();
    let runtime = live.table(RUNTIME_CONFIGURATION);
    let secure_column = runtime.and_then(|t| t.fact_column.clone());
    let secure_mismatch: BTreeMap<String, usize> = runtime
        .filter(|_| secure_column.is_some())
        .map(|t| {
            t.secure_config_organizations
                .iter()
                .filter(|(o, _)| !org_names.contains(&o.to_lowercase()))
                .map(|(o, n)| (o.clone(), *n))
                .collect()
        })
        .unwrap_or_default();
    let runtime_beside_foreign = match runtime {
        Some(t) if secure_column.is_none() && !foreign.is_empty() => t.rows(),
        _ => 0,
    };
    Drift {
        linked_elsewhere,
        foreign,
        secure_mismatch,
        secure_column,
        runtime_beside_foreign,
    }
}
