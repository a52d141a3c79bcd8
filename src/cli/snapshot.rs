use std::path::PathBuf;

use crate::render::shell::Shell;
use dwlink_core::snapshot::{self, Header};

use super::live::{self, LiveArgs};
use super::{fail, write_output, Exit};

/// Write the live state as an emulator fixture, rows included and secrets never, to rehearse an
/// apply on a copy.
///
/// Secret-bearing columns (connection strings, SAS, passwords, tokens) are replaced by
/// `redacted-by-dwlink`, and the fixture's one client accepts only the secret
/// `rehearsal-secret`: run the rehearsal with the config's secret variable set to it.
///
/// Example: `dwlink snapshot -f dwlink.yaml --out rehearsal.yaml && DWLINK_CLIENT_SECRET=rehearsal-secret dwlink apply -f dwlink.yaml --emulator rehearsal.yaml`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The config naming the environment and its credentials (default: dwlink.yaml).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Where to write the fixture.
    #[arg(long, value_name = "FIXTURE")]
    out: PathBuf,
    #[command(flatten)]
    live: LiveArgs,
}

pub(super) fn run(args: Args, ui: &mut Shell) -> Exit {
    let Some(desired) = live::load_config(args.file.as_deref(), ui) else {
        return Exit::Error;
    };
    let captured = live::block_on(async {
        let session = live::connect(&args.live, &desired, ui).await?;
        snapshot::capture(&desired, |d| session.provider_for(d)).await
    });
    let captured = match captured {
        Ok(c) => c,
        Err(p) => return fail(ui, &p),
    };
    let fixture = snapshot::to_fixture(&captured, &desired);
    let header = Header {
        taken_at: jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string(),
        config: args.file.as_deref().map_or_else(
            || dwlink_core::config::DEFAULT_FILE.to_string(),
            |f| f.display().to_string(),
        ),
        fixture: args.out.display().to_string(),
    };
    let text = match snapshot::render(&fixture, &captured, &desired, &header) {
        Ok(t) => t,
        Err(p) => return fail(ui, &p),
    };
    // Scrubbed before the check, so a fixture whose scrubbed value no longer loads (a name that
    // began with a held secret, now `[redacted]`) is refused rather than written unusable.
    let text = dwlink_core::scrub::held_values(&text).into_owned();
    if let Err(p) = snapshot::check_loadable(&text) {
        ui.problem(&p);
        return Exit::Error;
    }
    for note in &captured.notes {
        ui.status(&format!("note: {note}"));
    }
    write_output(ui, Some(&args.out), &text, "the snapshot")
}
