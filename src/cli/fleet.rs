//! The fleet flags every multi-environment command shares, and the fleet tables.

use std::fmt::Write;
use std::path::PathBuf;

use dwlink_core::diag::Problem;
pub(super) use dwlink_core::fleet::Row;
use dwlink_core::fleet::{self, Shard};
use dwlink_core::model::desired::Desired;
use dwlink_core::plan::Plan;

use super::live::Route;

use crate::render::plan_view::thousands;

#[derive(Debug, Clone, clap::Args)]
pub(super) struct FleetArgs {
    /// Config files or directories of them (default: dwlink.yaml). Repeat -f for a fleet.
    #[arg(short = 'f', long = "file", value_name = "FILE|DIR")]
    pub files: Vec<PathBuf>,
    /// How many environments are read at once.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub parallelism: usize,
    /// Only this share of the configs: `--shard 2/3` takes the second of three stable groups
    /// (by file name), so CI jobs split a directory without overlap.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
}

impl FleetArgs {
    /// One file named directly (or the default): the single-environment views apply.
    pub(super) fn is_single(&self) -> bool {
        self.shard.is_none() && self.files.len() <= 1 && self.files.iter().all(|f| !f.is_dir())
    }

    /// Every config, directories expanded to their `*.yaml`/`*.yml` files, sorted, sharded.
    pub(super) fn resolve(&self) -> Result<Vec<PathBuf>, Problem> {
        fleet::resolve(&self.files, self.shard.as_ref())
    }
}

pub(super) fn table(rows: &[Row]) -> String {
    let w = |f: &dyn Fn(&Row) -> usize, title: &str| {
        rows.iter().map(f).max().unwrap_or(0).max(title.len())
    };
    let we = w(&|r| r.environment.len(), "ENVIRONMENT");
    let ws = w(&|r| r.scenario.len(), "SCENARIO");
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<we$}  {:<ws$}  {:>7}  {:>9}  RESULT",
        "ENVIRONMENT", "SCENARIO", "ACTIONS", "ROWS"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:<we$}  {:<ws$}  {:>7}  {:>9}  {}",
            r.environment,
            r.scenario,
            r.actions,
            thousands(r.rows),
            r.result
        );
    }
    out
}

/// Environment and outcome, for runs whose rows have nothing else in common (apply).
pub(super) fn result_table(rows: &[(String, String)]) -> String {
    let we = rows
        .iter()
        .map(|r| r.0.len())
        .max()
        .unwrap_or(0)
        .max("ENVIRONMENT".len());
    let mut out = format!("{:<we$}  RESULT\n", "ENVIRONMENT");
    for (e, r) in rows {
        let _ = writeln!(out, "{e:<we$}  {r}");
    }
    out
}

/// Read and plan every environment through `route` (see [`fleet::plan_all`]).
pub(super) async fn plan_all(
    route: &Route,
    configs: Vec<(PathBuf, Option<Desired>)>,
    parallelism: usize,
) -> Vec<(PathBuf, Result<Plan, Problem>)> {
    fleet::plan_all(|d| route.steps(d), configs, parallelism).await
}
