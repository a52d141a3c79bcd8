//! Fleets: several configs (files or directories) handled in one run, read concurrently, each
//! with its own plan, and a summary table at the end.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use futures::StreamExt;
use sha2::{Digest, Sha256};

use dwlink_core::model::desired::Desired;
use dwlink_core::plan::Plan;

use super::live::Route;

use crate::render::plan_view::thousands;
use dwlink_core::diag::Problem;

#[derive(Debug, Clone, clap::Args)]
pub struct FleetArgs {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not a shard; write I/N with 1 ≤ I ≤ N, e.g. 2/3");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u64, u64) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if count == 0 || index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// By a hash of the file name, not its position, so adding a config moves no other one to
    /// another job.
    pub fn takes(&self, path: &Path) -> bool {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let digest = Sha256::digest(name.as_bytes());
        let mut head = [0u8; 8];
        head.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(head) % self.count == self.index - 1
    }
}

impl FleetArgs {
    /// One file named directly (or the default): the single-environment views apply.
    pub fn is_single(&self) -> bool {
        self.shard.is_none() && self.files.len() <= 1 && self.files.iter().all(|f| !f.is_dir())
    }

    /// Every config, directories expanded to their `*.yaml`/`*.yml` files, sorted, sharded.
    pub fn resolve(&self) -> Result<Vec<PathBuf>, Problem> {
        let mut out = Vec::new();
        if self.files.is_empty() {
            out.push(PathBuf::from(dwlink_core::config::DEFAULT_FILE));
        }
        for f in &self.files {
            if f.is_dir() {
                let mut found: Vec<PathBuf> = std::fs::read_dir(f)
                    .map_err(|e| {
                        Problem::error("dwlink::fleet::unreadable", format!("{}: {e}", f.display()))
                    })?
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| {
                        p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml")
                    })
                    .collect();
                found.sort();
                if found.is_empty() {
                    return Err(Problem::error(
                        "dwlink::fleet::empty_directory",
                        format!("{} holds no *.yaml config", f.display()),
                    )
                    .help("name the directory that holds the environments' configs"));
                }
                out.extend(found);
            } else {
                out.push(f.clone());
            }
        }
        if let Some(shard) = &self.shard {
            out.retain(|p| shard.takes(p));
        }
        Ok(out)
    }
}

/// One row of the summary table.
#[derive(Debug, Clone)]
pub struct Row {
    pub environment: String,
    pub scenario: String,
    pub actions: usize,
    pub rows: usize,
    pub result: String,
}

impl Row {
    pub fn of(plan: &Plan) -> Row {
        Row {
            environment: plan.environment.name.clone(),
            scenario: format!("{} {}", plan.scenario.number, scenario_id(plan)),
            actions: plan.actions.len(),
            rows: plan.summary.rows_to_delete,
            result: if plan.has_errors() {
                format!("{} error finding(s)", plan.summary.errors)
            } else if plan.has_changes() {
                "changes".into()
            } else {
                "no changes".into()
            },
        }
    }

    pub fn failed(file: &Path, problem: &Problem) -> Row {
        Row {
            environment: file.display().to_string(),
            scenario: "-".into(),
            actions: 0,
            rows: 0,
            result: format!("error: {}", problem.code),
        }
    }
}

fn scenario_id(plan: &Plan) -> String {
    serde_json::to_value(plan.scenario.id)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Read every environment (at most `parallelism` at once) and plan it, in input order. A config
/// that did not load (`None`) or a service that failed is that environment's error only.
pub async fn plan_all(
    route: &Route,
    configs: Vec<(PathBuf, Option<Desired>)>,
    parallelism: usize,
) -> Vec<(PathBuf, Result<Plan, Problem>)> {
    futures::stream::iter(configs)
        .map(|(file, desired)| async move {
            let result = match desired {
                None => Err(Problem::error(
                    "dwlink::fleet::invalid_config",
                    format!("{} is not a valid config (see above)", file.display()),
                )),
                Some(d) => match route.session(&d) {
                    Ok(s) => s.read_live().await.map(|state| Plan::make(&d, &state)),
                    Err(p) => Err(p),
                },
            };
            (file, result)
        })
        .buffered(parallelism.max(1))
        .collect()
        .await
}

pub fn table(rows: &[Row]) -> String {
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
pub fn result_table(rows: &[(String, String)]) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_files() {
        let files: Vec<PathBuf> = (0..50)
            .map(|i| PathBuf::from(format!("env-{i}.yaml")))
            .collect();
        let shards: Vec<Shard> = (1..=3).map(|i| Shard { index: i, count: 3 }).collect();
        for f in &files {
            assert_eq!(shards.iter().filter(|s| s.takes(f)).count(), 1);
        }
        assert!(shards.iter().all(|s| files.iter().any(|f| s.takes(f))));
        assert!("0/3".parse::<Shard>().is_err());
        assert!("4/3".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
        assert_eq!("2/3".parse::<Shard>(), Ok(Shard { index: 2, count: 3 }));
    }
}
