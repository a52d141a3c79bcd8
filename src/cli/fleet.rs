//! The fleet flags every multi-environment command shares, and the fleet tables.

use std::collections::HashMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

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

/// The fleet's plan table: one row per config file, the file named (configs of one environment
/// differ only there).
pub(super) fn table(rows: &[(PathBuf, Row)]) -> String {
    let files: Vec<String> = rows.iter().map(|(f, _)| f.display().to_string()).collect();
    let w = |f: &dyn Fn(&Row) -> usize, title: &str| {
        rows.iter()
            .map(|(_, r)| f(r))
            .max()
            .unwrap_or(0)
            .max(title.len())
    };
    let we = w(&|r| r.environment.len(), "ENVIRONMENT");
    let ws = w(&|r| r.scenario.len(), "SCENARIO");
    let wf = files
        .iter()
        .map(String::len)
        .max()
        .unwrap_or(0)
        .max("FILE".len());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<we$}  {:<wf$}  {:<ws$}  {:>7}  {:>9}  RESULT",
        "ENVIRONMENT", "FILE", "SCENARIO", "ACTIONS", "ROWS"
    );
    for ((_, r), file) in rows.iter().zip(&files) {
        let _ = writeln!(
            out,
            "{:<we$}  {file:<wf$}  {:<ws$}  {:>7}  {:>9}  {}",
            r.environment,
            r.scenario,
            thousands(r.actions),
            thousands(r.rows),
            r.result
        );
    }
    out
}

/// How one environment of a fleet apply ended: `applied`, `nothing to do`, `refused`, `failed`.
pub(super) struct Outcome {
    pub environment: String,
    pub file: String,
    pub result: String,
}

/// The fleet apply's last word, per environment.
pub(super) fn result_table(rows: &[Outcome]) -> String {
    let we = rows
        .iter()
        .map(|r| r.environment.len())
        .max()
        .unwrap_or(0)
        .max("ENVIRONMENT".len());
    let wf = rows
        .iter()
        .map(|r| r.file.len())
        .max()
        .unwrap_or(0)
        .max("FILE".len());
    let mut out = format!("{:<we$}  {:<wf$}  RESULT\n", "ENVIRONMENT", "FILE");
    for r in rows {
        let _ = writeln!(out, "{:<we$}  {:<wf$}  {}", r.environment, r.file, r.result);
    }
    out
}

/// Where `dwlink plan --out DIR` saves each config's plan: `DIR/<config file name>.plan`, so
/// configs of one environment never overwrite each other's plans. Two configs whose names
/// would give one file (`a/uat.yaml`, `b/uat.yml`) are refused before anything is read.
pub(super) fn plan_files(dir: &Path, files: &[PathBuf]) -> Result<Vec<PathBuf>, Problem> {
    let mut seen: HashMap<PathBuf, &Path> = HashMap::new();
    let mut out = Vec::with_capacity(files.len());
    for file in files {
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "dwlink".into());
        let target = dir.join(format!("{stem}.plan"));
        if let Some(other) = seen.insert(target.clone(), file) {
            return Err(Problem::error(
                "dwlink::fleet::plan_file_clash",
                format!(
                    "{} and {} would both be saved as {}",
                    other.display(),
                    file.display(),
                    target.display()
                ),
            )
            .help("rename one of the config files, or plan them in runs with different --out directories"));
        }
        out.push(target);
    }
    Ok(out)
}

/// A fleet apply takes each environment once: two configs naming one F&O environment are
/// refused, naming both files.
pub(super) fn one_config_per_environment(
    configs: &[(PathBuf, Option<Desired>)],
) -> Result<(), Problem> {
    let mut seen: HashMap<String, &Path> = HashMap::new();
    for (file, desired) in configs {
        let Some(d) = desired else { continue };
        let url = &d.finance_operations.url;
        let key = format!(
            "{}:{}",
            url.host_str()
                .unwrap_or_default()
                .trim_end_matches('.')
                .to_ascii_lowercase(),
            url.port_or_known_default().unwrap_or_default()
        );
        if let Some(other) = seen.insert(key, file) {
            return Err(Problem::error(
                "dwlink::fleet::duplicate_environment",
                format!(
                    "{} and {} both declare the environment at {} ({}): a fleet applies each environment once",
                    other.display(),
                    file.display(),
                    url.as_str().trim_end_matches('/'),
                    d.name
                ),
            )
            .help("keep one config per environment in the fleet (move the others out of the directory), or apply one of them with `dwlink apply -f FILE`"));
        }
    }
    Ok(())
}

/// Read and plan every environment through `route` (see [`fleet::plan_all`]).
pub(super) async fn plan_all(
    route: &Route,
    configs: Vec<(PathBuf, Option<Desired>)>,
    parallelism: usize,
) -> Vec<(PathBuf, Result<Plan, Problem>)> {
    fleet::plan_all(|d| route.steps(d), configs, parallelism).await
}
