//! Saved plans (`plan --out`): versioned JSON, written atomically, read defensively.

use std::fs;
use std::path::Path;

use crate::diag::Problem;

use super::{Plan, FORMAT_VERSION};

/// A plan file is small; anything much larger is not one.
const MAX_PLAN_BYTES: u64 = 64 * 1024 * 1024;

/// Write `plan` to `path`, signed when `DWLINK_PLAN_KEY` is set ([`super::signature`]).
pub fn write(path: &Path, plan: &Plan) -> Result<(), Problem> {
    let key = super::signature::Key::from_env()?;
    let mut text = serde_json::to_string_pretty(plan).map_err(|e| {
        Problem::error(
            "dwlink::plan::write",
            format!("cannot serialize the plan: {e}"),
        )
    })?;
    // Findings quote what the services said; one that echoed a secret dwlink holds must not
    // carry it into a file. Signed after, so the signature covers the bytes on disk.
    if let std::borrow::Cow::Owned(scrubbed) = crate::scrub::json_text(&text) {
        text = scrubbed;
    }
    if let Some(key) = &key {
        text = super::signature::sign(&text, key);
    }
    write_atomic(path, text.as_bytes()).map_err(|e| {
        Problem::error(
            "dwlink::plan::write",
            format!("cannot write the plan to {}: {e}", path.display()),
        )
        .help("check that the directory exists and is writable")
    })
}

/// A plan is written atomically (see [`crate::fsutil::write_atomic`]) and readable by its owner
/// only: it decides what an apply may do and names the environment's rows. Snapshots and imported
/// configs are written the same way.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    crate::fsutil::write_atomic(path, bytes, crate::fsutil::Access::Private)
}

/// Steps this dwlink does not plan: named before serde's "unknown variant" would, since that
/// message says nothing of what to do. `link-legal-entities` came from an earlier dwlink that
/// called a management-service route which does not exist; the reset sets legal entities now.
fn unknown_steps(value: &serde_json::Value) -> Result<(), Problem> {
    let Some(actions) = value.get("actions").and_then(|a| a.as_array()) else {
        return Ok(());
    };
    let known = |k: &str| super::ActionKind::ALL.iter().any(|a| a.name() == k);
    let mut unknown: Vec<&str> = actions
        .iter()
        .filter_map(|a| a.get("kind").and_then(|k| k.as_str()))
        .filter(|k| !known(k))
        .collect();
    unknown.dedup();
    let mut message = match unknown.as_slice() {
        [] => return Ok(()),
        [one] => format!("has a `{one}` step, which this dwlink does not plan or apply"),
        many => format!(
            "has steps this dwlink does not plan or apply: `{}`",
            many.join("`, `")
        ),
    };
    let mut help =
        "plan again with this dwlink: `dwlink plan --out PLAN`, then apply that plan".to_string();
    if unknown.contains(&"link-legal-entities") {
        message.push_str(
            ": legal entities can only be set by a reset (the reset-link step carries them)",
        );
        help.push_str(
            "; a legal-entity difference without a reset is reported as `legal-entities.differ`",
        );
    }
    Err(Problem::error("dwlink::plan::unknown_step", message).help(help))
}

pub fn read(path: &Path) -> Result<Plan, Problem> {
    let bytes = read_bytes(path)?;
    parse(path, &bytes)
}

/// The bytes of a plan file, bounded, for [`parse`] (and a signature check before it).
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, Problem> {
    let shown = path.display();
    let meta = fs::metadata(path).map_err(|e| {
        Problem::error("dwlink::plan::unreadable", format!("{shown}: {e}"))
            .help("pass a file written by `dwlink plan --out PLAN`")
    })?;
    if meta.is_dir() || meta.len() > MAX_PLAN_BYTES {
        return Err(Problem::error(
            "dwlink::plan::not_a_plan",
            format!("{shown} is not a plan file"),
        )
        .help("pass a file written by `dwlink plan --out PLAN`"));
    }
    // Bounded again while reading: the file may have grown since, or be a pipe.
    crate::fsutil::read_capped(path, MAX_PLAN_BYTES).map_err(|e| {
        if crate::fsutil::is_too_large(&e) || e.kind() == std::io::ErrorKind::InvalidInput {
            Problem::error(
                "dwlink::plan::not_a_plan",
                format!("{shown} is not a plan file: {e}"),
            )
            .help("pass a file written by `dwlink plan --out PLAN`")
        } else {
            Problem::error("dwlink::plan::unreadable", format!("{shown}: {e}"))
        }
    })
}

/// A plan from the bytes of the file at `path` (named in messages).
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Plan, Problem> {
    let shown = path.display();
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        Problem::error(
            "dwlink::plan::not_a_plan",
            format!("{shown} is not a plan file: {e}"),
        )
        .help("pass a file written by `dwlink plan --out PLAN`")
    })?;
    match value.get("format_version").and_then(|v| v.as_str()) {
        Some(FORMAT_VERSION) => {}
        Some(other) => {
            return Err(Problem::error(
                "dwlink::plan::format_version",
                format!(
                    "{shown} has plan format {other}; this dwlink reads format {FORMAT_VERSION}"
                ),
            )
            .help("make a new plan with this dwlink: `dwlink plan --out PLAN`"))
        }
        None => {
            return Err(Problem::error(
                "dwlink::plan::not_a_plan",
                format!("{shown} has no `format_version`: not a dwlink plan"),
            )
            .help("pass a file written by `dwlink plan --out PLAN`"))
        }
    }
    unknown_steps(&value).map_err(|p| Problem {
        message: format!("{shown} {}", p.message),
        ..p
    })?;
    serde_json::from_value(value).map_err(|e| {
        Problem::error(
            "dwlink::plan::not_a_plan",
            format!("{shown} is not a valid plan: {e}"),
        )
        .help("the file was edited or truncated; make a new plan with `dwlink plan --out PLAN`")
    })
}
