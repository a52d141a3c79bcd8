//! Putting back rows an earlier apply deleted, from its backup: which rows are missing now (the
//! restore's own plan), and creating exactly those. Rows that exist are left alone, so running a
//! restore twice is harmless.

use std::collections::HashSet;

use serde_json::Value;

use crate::apply::backup::{Backup, BackupTable};
use crate::apply::steps::Steps;
use crate::diag::Problem;
use crate::link::Link;
use crate::model::desired::Desired;

/// One backed-up table and the rows of it that are gone from the live table.
#[derive(Debug)]
pub struct Missing<'b> {
    pub table: &'b BackupTable,
    pub rows: Vec<Value>,
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

/// A restore that stopped part of the way: `restored` rows are back.
#[derive(Debug)]
pub struct Incomplete {
    pub restored: usize,
    pub problem: Problem,
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
            .cloned()
            .collect();
        tables.push(Missing { table: t, rows });
    }
    Ok(RestorePlan { tables })
}

/// Creates the missing rows, table by table; returns how many were created.
pub async fn execute<L: Link>(
    steps: &Steps<L>,
    plan: &RestorePlan<'_>,
) -> Result<usize, Incomplete> {
    let mut restored = 0;
    for m in &plan.tables {
        match steps
            .create_rows(m.table.service, &m.table.entity_set, &m.rows, &|_| {})
            .await
        {
            Ok(n) => restored += n,
            Err(problem) => return Err(Incomplete { restored, problem }),
        }
    }
    Ok(restored)
}
