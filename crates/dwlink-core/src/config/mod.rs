//! Configs: raw serde+schemars types with spans → validation → the desired model.

pub mod load;
pub mod maps;
pub mod raw;
pub mod schema;
pub mod suggest;
pub mod validate;

use std::path::Path;

use crate::diag::{Problems, Source};
use crate::model::desired::Desired;

pub const DEFAULT_FILE: &str = "dwlink.yaml";

const EMPTY_HELP: &str = "a config starts with `apiVersion: dwlink/v1` and `kind: DualWriteLink`; copy one from examples/ or run `dwlink import`";

/// The outcome of loading one config file: the desired model when it is valid, and every
/// problem found (warnings included).
pub struct Loaded {
    pub source: Option<Source>,
    pub desired: Option<Desired>,
    pub problems: Problems,
}

pub fn load(path: &Path) -> Loaded {
    let source = match load::read_source(path, load::CONFIG_LIMITS) {
        Ok(s) => s,
        Err(p) => {
            return Loaded {
                source: None,
                desired: None,
                problems: p.into(),
            }
        }
    };
    from_source(source)
}

pub fn from_source(source: Source) -> Loaded {
    let parsed = load::parse_typed::<raw::RawConfig>(
        &source,
        schema::config_schema(),
        EMPTY_HELP,
        load::CONFIG_LIMITS,
    );
    let mut problems = parsed.problems;
    if parsed.json.is_object() {
        problems.extend(validate::check(&parsed.json, &parsed.index, &source));
    }
    let desired = match (&parsed.value, problems.has_errors()) {
        (Some(raw), false) => validate::desired(raw),
        _ => None,
    };
    Loaded {
        source: Some(source),
        desired,
        problems: problems.sorted(),
    }
}

#[cfg(test)]
mod tests;
