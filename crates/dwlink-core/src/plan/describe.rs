//! The words of a plan: how each action is described, shared by the plan view, the apply
//! events and the journal so the three never name a step differently.

use super::diff::service_name;
use super::Action;
use crate::config::raw::ResetTarget;

/// Where backups go unless `--state-dir` says otherwise.
pub const DEFAULT_STATE_DIR: &str = ".dwlink";

/// One line for an action, as the plan lists it (`relink to https://… (Power Platform link)`).
pub fn describe(action: &Action) -> String {
    describe_in(action, DEFAULT_STATE_DIR)
}

/// [`describe`] for an apply whose backups and journals live in `state_dir`.
pub fn describe_in(action: &Action, state_dir: &str) -> String {
    match action {
        Action::StopMaps { maps } => format!(
            "{} map{}: {}",
            maps.len(),
            plural(maps.len()),
            maps.join(", ")
        ),
        Action::Backup { tables, rows } => format!(
            "{} row{} from {} table{} to {}/backups/ (before any delete)",
            thousands(*rows),
            plural(*rows),
            tables.len(),
            plural(tables.len()),
            state_dir.trim_end_matches('/')
        ),
        Action::ClearTable {
            service,
            table,
            rows,
            ..
        } => format!(
            "{} {table}: {} row{}",
            service_name(*service),
            thousands(*rows),
            plural(*rows)
        ),
        Action::ResetLink {
            target,
            organization_url,
            force,
            legal_entities,
            ..
        } => format!(
            "relink to {organization_url} ({}{}), {}",
            match target {
                ResetTarget::PowerPlatformLink => "Power Platform link",
                ResetTarget::CurrentEnvironment => "current environment",
            },
            if *force { ", force" } else { "" },
            if legal_entities.is_empty() {
                "no legal entities".to_string()
            } else {
                format!("legal entities {}", in_order(legal_entities))
            }
        ),
        Action::ApplySolutions { solutions } => solutions.join(", "),
        Action::StartMaps { maps, initial_sync } if initial_sync.is_empty() => maps.join(", "),
        Action::StartMaps { maps, initial_sync } => format!(
            "{} (initial sync: {})",
            maps.join(", "),
            initial_sync.join(", ")
        ),
        Action::SwitchMapVersion { map, from, to } => format!(
            "{map}: version {} → {to}",
            from.as_deref().unwrap_or("unknown")
        ),
        Action::SetIntegrationKeys {
            map,
            table,
            from,
            to,
        } => format!(
            "{map}: keys of {table} [{}] → [{}]",
            from.join(", "),
            to.join(", ")
        ),
        Action::RefreshTables { maps }
        | Action::ResumeMaps { maps }
        | Action::PauseMaps { maps } => maps.join(", "),
        Action::Verify => "re-read live state and check it matches the declaration".into(),
    }
}

/// Legal entities as every view prints them: sorted, so the link diff, the actions and the
/// apply's results never list one set in two orders.
pub fn in_order(codes: &[String]) -> String {
    let mut codes: Vec<&str> = codes.iter().map(String::as_str).collect();
    codes.sort_unstable();
    codes.join(", ")
}

/// `12,345`.
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
