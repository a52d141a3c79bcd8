//! Saved plans (`plan --out`): versioned JSON, written atomically, read defensively.

use std::fs;
use std::path::Path;

use crate::diag::Problem;

use super::{Plan, FORMAT_VERSION};

/// A plan file is small; anything much larger is not one.
const MAX_PLAN_BYTES: u64 = 64 * 1024 * 1024;

pub fn write(path: &Path, plan: &Plan) -> Result<(), Problem> {
    let text = serde_json::to_string_pretty(plan).map_err(|e| {
        Problem::error(
            "dwlink::plan::write",
            format!("cannot serialize the plan: {e}"),
        )
    })?;
    write_atomic(path, text.as_bytes()).map_err(|e| {
        Problem::error(
            "dwlink::plan::write",
            format!("cannot write the plan to {}: {e}", path.display()),
        )
        .help("check that the directory exists and is writable")
    })
}

/// A plan is written atomically (see [`crate::fsutil::write_atomic`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    crate::fsutil::write_atomic(path, bytes, crate::fsutil::Access::Shared)
}

pub fn read(path: &Path) -> Result<Plan, Problem> {
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
    let bytes = fs::read(path)
        .map_err(|e| Problem::error("dwlink::plan::unreadable", format!("{shown}: {e}")))?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
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
    serde_json::from_value(value).map_err(|e| {
        Problem::error(
            "dwlink::plan::not_a_plan",
            format!("{shown} is not a valid plan: {e}"),
        )
        .help("the file was edited or truncated; make a new plan with `dwlink plan --out PLAN`")
    })
}
