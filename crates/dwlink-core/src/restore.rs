//! Putting back rows an earlier apply deleted, from its backup: which rows are missing now (the
//! restore's own plan), and creating exactly those. Rows that exist are left alone, so running a
//! restore twice is harmless.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;

use crate::apply::backup::{Backup, BackupTable};
use crate::apply::steps::Steps;
use crate::diag::Problem;
use crate::link::Link;
use crate::model::desired::Desired;
use crate::model::key_tables;

/// One backed-up table and the rows of it that are gone from the live table.
#[derive(Debug)]
pub struct Missing<'b> {
    pub table: &'b BackupTable,
    /// Borrowed from the backup: a restore holds its rows once, however many are missing.
    pub rows: Vec<&'b Value>,
}

#[derive(Debug)]
pub struct RestorePlan<'b> {
    pub tables: Vec<Missing<'b>>,
}

impl RestorePlan<'_> {
    pub fn rows(&self) -> usize {
        self.tables.iter().map(|t| t.rows.len()).sum()
    }
}

/// What became of one table's missing rows.
#[derive(Debug)]
pub struct TableOutcome<'b> {
    pub table: &'b BackupTable,
    /// Rows that were missing and were to be put back.
    pub missing: usize,
    pub restored: usize,
    /// Why this table's rows did not go back; the other tables were still tried.
    pub problem: Option<Problem>,
}

/// Every table's outcome, in backup order.
#[derive(Debug)]
pub struct RestoreReport<'b> {
    pub tables: Vec<TableOutcome<'b>>,
}

impl RestoreReport<'_> {
    pub fn restored(&self) -> usize {
        self.tables.iter().map(|t| t.restored).sum()
    }

    pub fn failed(&self) -> usize {
        self.tables.iter().filter(|t| t.problem.is_some()).count()
    }
}

/// A backup is only put back into the environment it was taken from.
pub fn check_environment(backup: &Backup, desired: &Desired) -> Result<(), Problem> {
    if backup.header.environment != desired.name {
        return Err(Problem::error(
            "dwlink::restore::environment_mismatch",
            format!(
                "the backup is of {}, the config declares {}",
                backup.header.environment, desired.name
            ),
        )
        .help("pass the config of the environment the backup was taken from"));
    }
    Ok(())
}

/// Reads each backed-up table live and keeps the backup's rows whose key is not there.
pub async fn plan<'b, L: Link>(
    steps: &Steps<L>,
    backup: &'b Backup,
) -> Result<RestorePlan<'b>, Problem> {
    let mut tables = Vec::new();
    for t in &backup.tables {
        let mut present = HashSet::new();
        let mut sink = |row: Value| -> std::io::Result<()> {
            if let Some(k) = steps.row_key(t.service, &t.entity_set, &row) {
                present.insert(k);
            }
            Ok(())
        };
        steps.read_rows(t.service, &t.entity_set, &mut sink).await?;
        let rows = t
            .rows
            .iter()
            .filter(|r| {
                steps
                    .row_key(t.service, &t.entity_set, r)
                    .is_none_or(|k| !present.contains(&k))
            })
            .collect();
        tables.push(Missing { table: t, rows });
    }
    Ok(RestorePlan { tables })
}

/// Creates the missing rows, table by table. A table that fails does not stop the others: each
/// table's rows are independent of the others', and a row put back is a row not lost.
pub async fn execute<'b, L: Link>(steps: &Steps<L>, plan: &RestorePlan<'b>) -> RestoreReport<'b> {
    let mut tables = Vec::new();
    for m in &plan.tables {
        let outcome = match m.rows.is_empty() {
            true => Ok(0),
            false => {
                steps
                    .create_rows(m.table.service, &m.table.entity_set, &m.rows, &|_| {})
                    .await
            }
        };
        let (restored, problem) = match outcome {
            Ok(n) => (n, None),
            Err(p) => (0, Some(p)),
        };
        tables.push(TableOutcome {
            table: m.table,
            missing: m.rows.len(),
            restored,
            problem,
        });
    }
    RestoreReport { tables }
}

/// Rows to put back that sync into another Dataverse organization than the declared one
/// (`ExternalEnvironmentUrl` of project configurations), by that organization's host: a restore
/// of them lets data flow there again.
pub fn foreign_hosts(plan: &RestorePlan<'_>, desired: &Desired) -> BTreeMap<String, usize> {
    let mut hosts = BTreeMap::new();
    let declared = desired.dataverse.url.host_str().unwrap_or_default();
    for m in plan
        .tables
        .iter()
        .filter(|m| m.table.table == key_tables::PROJECT_CONFIGURATION)
    {
        for row in &m.rows {
            let Some(url) = row
                .get(key_tables::EXTERNAL_ENVIRONMENT_URL)
                .and_then(Value::as_str)
                .filter(|u| !u.trim().is_empty())
            else {
                continue;
            };
            let host = match url::Url::parse(url.trim()) {
                Ok(u) => u.host_str().unwrap_or_default().to_ascii_lowercase(),
                Err(_) => url.trim().to_ascii_lowercase(),
            };
            if !host.eq_ignore_ascii_case(declared) {
                *hosts.entry(host).or_insert(0) += 1;
            }
        }
    }
    hosts
}

/// The foreign hosts `allowed` does not name (compared without case).
pub fn unconfirmed_hosts<'h>(
    foreign: &'h BTreeMap<String, usize>,
    allowed: &[String],
) -> Vec<&'h str> {
    foreign
        .keys()
        .filter(|h| !allowed.iter().any(|a| a.trim().eq_ignore_ascii_case(h)))
        .map(String::as_str)
        .collect()
}
