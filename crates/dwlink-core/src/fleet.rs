//! Fleets: several configs (files or directories of them) handled in one run — which files,
//! which CI shard takes which, and every environment read and planned concurrently.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use futures::StreamExt;
use sha2::{Digest, Sha256};

use crate::apply::steps::Steps;
use crate::diag::Problem;
use crate::link::Link;
use crate::model::desired::Desired;
use crate::plan::Plan;

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

/// Every config, directories expanded to their `*.yaml`/`*.yml` files, sorted, sharded.
/// Every config, directories expanded to their `*.yaml`/`*.yml` files, sorted, sharded.
pub fn resolve(files: &[PathBuf], shard: Option<&Shard>) -> Result<Vec<PathBuf>, Problem> {
    let mut out = Vec::new();
    if files.is_empty() {
        out.push(PathBuf::from(crate::config::DEFAULT_FILE));
    }
    for f in files {
        if f.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(f)
                .map_err(|e| {
                    Problem::error("dwlink::fleet::unreadable", format!("{}: {e}", f.display()))
                })?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
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
    if let Some(shard) = shard {
        out.retain(|p| shard.takes(p));
    }
    Ok(out)
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
pub async fn plan_all<L, F>(
    connect: F,
    configs: Vec<(PathBuf, Option<Desired>)>,
    parallelism: usize,
) -> Vec<(PathBuf, Result<Plan, Problem>)>
where
    L: Link,
    F: Fn(&Desired) -> Result<Steps<L>, Problem>,
{
    let connect = &connect;
    futures::stream::iter(configs)
        .map(|(file, desired)| async move {
            let result = match desired {
                None => Err(Problem::error(
                    "dwlink::fleet::invalid_config",
                    format!("{} is not a valid config (see above)", file.display()),
                )),
                Some(d) => match connect(&d) {
                    Ok(s) => crate::plan::busy::read_and_plan(&s, &d).await,
                    Err(p) => Err(p),
                },
            };
            (file, result)
        })
        .buffered(parallelism.max(1))
        .collect()
        .await
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
