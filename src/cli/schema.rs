use crate::render::shell::Shell;
use dwlink_core::config::schema::config_schema_text;

use super::Exit;

/// Print the JSON Schema of the config (the same as schemas/dwlink.schema.json).
///
/// Example: `dwlink schema > dwlink.schema.json`
#[derive(Debug, clap::Args)]
pub struct Args {}

pub(super) fn run(_args: Args, ui: &mut Shell) -> Exit {
    ui.out(&config_schema_text());
    Exit::Ok
}
