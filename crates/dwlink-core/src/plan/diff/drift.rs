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
    /// The legal entities of a linked connection when they are not the declared ones.
    pub legal_entities: Option<LegalEntities>,
}

/// Company codes, upper-case and sorted on both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LegalEntities {
    pub live: Vec<String>,
    pub declared: Vec<String>,
}

impl Drift {
    /// Whether the link itself differs: what `reset.when: on-mismatch` resets for. Legal
    /// entities are left out: a reset clears the key tables and brings every map back stopped,
    /// which is too much to pay for a different choice of companies, and F&O's dual-write page
    /// can add a company without one.
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
        legal_entities: legal_entities(desired, live),
        secure_column,
        runtime_beside_foreign,
    }
}

/// Only a linked connection has legal entities to compare: an unlinked one gets them from the
/// reset that links it.
fn legal_entities(desired: &Desired, live: &LiveState) -> Option<LegalEntities> {
    let conn = live
        .connection
        .as_ref()
        .filter(|c| c.organization.is_some())?;
    let codes = |v: &[String]| {
        let mut v: Vec<String> = v.iter().map(|l| l.to_uppercase()).collect();
        v.sort();
        v.dedup();
        v
    };
    let live = codes(&conn.legal_entities);
    let declared = codes(&desired.link.legal_entities);
    (live != declared).then_some(LegalEntities { live, declared })
}
