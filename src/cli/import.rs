use std::path::PathBuf;

use crate::render::shell::Shell;
use dwlink_core::import::{self, Header};

use super::live::{self, LiveArgs};
use super::{fail, write_output, Exit};

/// Print a config (YAML) that declares the live link as a reset would make it (the Power Platform
/// link's organization; a comment says where dual-write is connected now when that differs).
///
/// Reading live state needs credentials, so `-f` names a connection config: its F&O
/// environment, Dataverse organization, `auth` and `dual_write_service` say where to read and
/// how. The imported config copies `auth`, `dual_write_service` and `metadata.name` from it;
/// everything else comes from live state. Planning the imported config against the same live
/// state gives an empty plan, unless the live state drifts by definition (rows syncing to another
/// organization, SecureConfig naming another one): then a comment at the top says so.
///
/// Example: `dwlink import -f dwlink.yaml --out contoso-uat.yaml`
/// Example (no tenant needed): `DWLINK_CLIENT_SECRET=emulator-secret dwlink import -f examples/scenario-2-organization-mismatch.yaml --emulator examples/fixtures/scenario-2-organization-mismatch.yaml`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The connection config: which environment to read and with which credentials (default:
    /// dwlink.yaml).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Write the config to PATH instead of printing it.
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    #[command(flatten)]
    live: LiveArgs,
}

pub(super) fn run(args: Args, ui: &mut Shell) -> Exit {
    let Some(desired) = live::load_config(args.file.as_deref(), ui) else {
        return Exit::Error;
    };
    let read = live::block_on(async {
        let session = live::connect(&args.live, &desired, ui).await?;
        import::read(&desired, |d| session.provider_for(d)).await
    });
    let (connection, state) = match read {
        Ok(r) => r,
        Err(p) => return fail(ui, &p),
    };
    let imported = import::build(&connection, &state);
    let header = Header {
        imported_at: jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string(),
        connection_config: args.file.as_deref().map_or_else(
            || dwlink_core::config::DEFAULT_FILE.to_string(),
            |f| f.display().to_string(),
        ),
    };
    let text = match import::render(&imported, &header) {
        Ok(t) => t,
        Err(p) => return fail(ui, &p),
    };
    for note in &imported.notes {
        ui.status(&format!("note: {note}"));
    }
    write_output(ui, args.out.as_deref(), &text, "the imported config")
}
