//! `dwlink validate` of a shipped example: what a user (or an editor on save) waits for.

use std::path::Path;

use super::{measure, Measured};

const RUNS: usize = 51;

pub(crate) fn run(bin: &Path, dir: &Path, example: &Path) -> Measured {
    measure(RUNS, dir, bin, |cmd| {
        cmd.arg("validate").arg("-f").arg(example);
    })
}
