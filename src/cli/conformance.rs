use std::path::PathBuf;

use crate::render::conformance_view;
use crate::render::shell::Shell;
use dwlink_core::diag::Problem;
use dwlink_core::link::secret::Secret;
use dwlink_http::replay::{Credential, Replayer};

use super::live;
use super::{fail, Exit};

/// Replay a recording against the emulator and report every difference in status and JSON
/// shape (keys, value types, enum members): a recording from a real tenant becomes a fix list,
/// and once the emulator is fixed, a regression test (tests/contract/).
///
/// Example: `dwlink conformance first-contact.har --emulator snapshot.yaml`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The recording: a HAR 1.2 file from `--record FILE` (or a browser's "Save all as HAR").
    #[arg(value_name = "HAR")]
    har: PathBuf,
    /// Seed a fresh in-process emulator from FIXTURE, e.g. a `dwlink snapshot` taken next to
    /// the recording (default: the built-in quickstart world).
    #[arg(long, value_name = "FIXTURE")]
    emulator: Option<PathBuf>,
    /// Print JSON: `{"differences": […], "skipped": […], "summary": {…}}`.
    #[arg(long)]
    json: bool,
    /// Keep every recorded pause between requests (each at most 2 s); by default they add up to
    /// at most 10 s in all.
    #[arg(long)]
    keep_pauses: bool,
}

pub(super) fn run(args: Args, ui: &mut Shell) -> Exit {
    let har = match dwlink_core::har::stream::HarFile::open(&args.har) {
        Ok(h) => h,
        Err(p) => return fail(ui, &p),
    };
    let fixture = match &args.emulator {
        Some(f) => live::load_fixture(f),
        None => dwlink_core::fixture::quickstart().map_err(|p| {
            p.0.into_iter().next().unwrap_or_else(|| {
                Problem::error("dwlink::fixture", "the built-in fixture does not load")
            })
        }),
    };
    let mut fixture = match fixture {
        Ok(f) => f,
        Err(p) => return fail(ui, &p),
    };
    // Injected faults would make the replay differ by chance, not by contract.
    fixture.faults = None;
    let credentials: Vec<Credential> = fixture
        .clients
        .iter()
        .map(|c| Credential {
            tenant_id: c.tenant_id.clone(),
            client_id: c.client_id.clone(),
            secret: Secret::held(c.secret.clone()),
        })
        .collect();
    let results = live::block_on(async {
        let emu = dwlink_emulator::spawn(fixture, dwlink_emulator::Options::default()).await?;
        let url = url::Url::parse(&emu.url()).map_err(|e| {
            Problem::error(
                "dwlink::internal::emulator",
                format!("emulator address: {e}"),
            )
        })?;
        let mut replayer = Replayer::new(&url, credentials)
            .map_err(|e| e.to_problem())?
            .keep_pauses(args.keep_pauses);
        let out = replayer.replay_file(&har).await.map_err(|e| e.to_problem());
        emu.shutdown().await;
        out
    });
    let results = match results {
        Ok(r) => r,
        Err(p) => return fail(ui, &p),
    };
    let differs = conformance_view::show(ui, &results, args.json);
    if differs {
        Exit::Error
    } else {
        Exit::Ok
    }
}
