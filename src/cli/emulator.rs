use std::net::SocketAddr;
use std::path::PathBuf;

use crate::render::shell::Shell;
use dwlink_core::fixture::ResetEffect;
use dwlink_emulator::{self, FaultOptions, Options};

use super::{fail, Exit};

/// Serve the emulated F&O, Dataverse, dual-write management and token services.
///
/// Example: `dwlink emulator --fixture examples/fixtures/quickstart.yaml --listen 127.0.0.1:0`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The world to emulate (default: a built-in sandbox restored from production).
    #[arg(long, value_name = "FILE")]
    fixture: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free one (the printed URL tells which).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// Persist every change to FILE and continue from it on the next start.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Delay every request by N milliseconds.
    #[arg(long, value_name = "N", default_value_t = 0)]
    latency_ms: u64,
    /// Requests per second per client before answering 429 (e.g. `50/s` or `50`).
    #[arg(long, value_name = "N/s", value_parser = parse_rate)]
    rate_limit: Option<u32>,
    /// Probability (0–1) of answering 503.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    fail_rate: f64,
    /// Probability (0–1) of closing the connection without an answer.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    drop_rate: f64,
    /// Seed for the injected faults, to replay them.
    #[arg(long, value_name = "S")]
    seed: Option<u64>,
    /// Execution time of one F&O or Dataverse operation (a `$batch` counts each request): the
    /// request takes that long and it counts against service protection's 1,200 s per 300 s.
    #[arg(long, value_name = "MS")]
    execution_cost_ms: Option<u64>,
    /// Serve HTTPS with a generated certificate; its CA is written as ca.pem.
    #[arg(long)]
    tls: bool,
    /// Where ca.pem goes (default: the --state file's directory).
    #[arg(long, value_name = "DIR")]
    tls_dir: Option<PathBuf>,
    /// Lifetime of issued access tokens, in seconds.
    #[arg(long, value_name = "SECS")]
    token_ttl: Option<u64>,
    /// How long asynchronous management requests stay Waiting, in milliseconds.
    #[arg(long, value_name = "MS")]
    async_ms: Option<u64>,
    /// How long a reset takes before it is answered, in milliseconds (default: --async-ms).
    #[arg(long, value_name = "MS")]
    reset_ms: Option<u64>,
    /// When a reset's effect shows in reads: at the start of --reset-ms, or only at its end.
    #[arg(long, value_name = "WHEN", value_parser = parse_effect)]
    reset_effect: Option<ResetEffect>,
}

fn parse_effect(s: &str) -> Result<ResetEffect, String> {
    match s {
        "start" => Ok(ResetEffect::Start),
        "end" => Ok(ResetEffect::End),
        _ => Err(format!("`{s}` is not `start` or `end`")),
    }
}

fn parse_rate(s: &str) -> Result<u32, String> {
    let n = s.strip_suffix("/s").unwrap_or(s);
    n.parse::<u32>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("`{s}` is not a rate; write e.g. `50/s`"))
}

fn parse_probability(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|p| (0.0..=1.0).contains(p))
        .ok_or_else(|| format!("`{s}` is not a probability between 0 and 1"))
}

pub(super) fn run(args: Args, ui: &mut Shell) -> Exit {
    let fixture = match &args.fixture {
        Some(f) => dwlink_core::fixture::load(f),
        None => dwlink_core::fixture::quickstart(),
    };
    let fixture = match fixture {
        Ok(f) => f,
        Err(problems) => {
            ui.problems(&problems);
            return Exit::Error;
        }
    };
    let options = Options {
        listen: args.listen,
        state: args.state,
        faults: FaultOptions {
            latency_ms: args.latency_ms,
            rate_limit: args.rate_limit,
            fail_rate: args.fail_rate,
            drop_rate: args.drop_rate,
            seed: args.seed,
            cost_ms: args.execution_cost_ms,
            ..FaultOptions::default()
        },
        tls: args.tls,
        tls_dir: args.tls_dir,
        token_ttl_secs: args.token_ttl,
        async_ms: args.async_ms,
        reset_ms: args.reset_ms,
        reset_effect: args.reset_effect,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            ui.problem(&dwlink_core::diag::Problem::error(
                "dwlink_emulator::start",
                format!("cannot start the async runtime: {e}"),
            ));
            return Exit::Error;
        }
    };
    runtime.block_on(async {
        let emu = match dwlink_emulator::spawn(fixture, options).await {
            Ok(e) => e,
            Err(p) => return fail(ui, &p),
        };
        ui.out(&format!("dwlink emulator listening on {}", emu.url()));
        if let Some(_ca) = emu.ca_pem() {
            ui.status("TLS: trust the ca.pem written beside the state file (or in --tls-dir)");
        }
        ui.status("press Ctrl-C to stop");
        let _ = tokio::signal::ctrl_c().await;
        emu.shutdown().await;
        Exit::Ok
    })
}
