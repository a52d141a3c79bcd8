//! `dwlink plan` of a large environment (the release binary, a separate emulator process with
//! injected latency), against the critical-path lower bound.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use super::{measure, Measured};

pub const MAPS: usize = 500;
pub const PROJECTS: usize = 500;
pub const FIELDS: usize = 20_000;
pub const RUNTIME: usize = 2_000;
const RUNS: usize = 7;
/// Page sizes the client asks for (and the services grant): F&O 10,000, Dataverse 5,000.
const FO_PAGE: usize = 10_000;
const DV_PAGE: usize = 5_000;

pub struct PlanResult {
    pub latency_ms: u64,
    pub chain: usize,
    pub bound_ms: f64,
    pub run: Measured,
}

/// The longest chain of dependent requests: a token, then each table's pages one after another
/// (a nextLink is only known once its page arrives). Independent chains overlap.
pub fn critical_path() -> (usize, [usize; 3]) {
    let fo_chain = 1 + FIELDS.div_ceil(FO_PAGE);
    let dv_chain = 1 + 1 + RUNTIME.div_ceil(DV_PAGE); // token, EntityDefinitions, pages
    let dws_chain = 1 + 1 + 1; // token, connection set, maps
    (
        fo_chain.max(dv_chain).max(dws_chain),
        [fo_chain, dv_chain, dws_chain],
    )
}

pub fn run(bin: &Path, dir: &Path, latency_ms: u64) -> PlanResult {
    let fixture = dir.join("plan-world.yaml");
    let config = dir.join("dwlink.yaml");
    std::fs::write(
        &fixture,
        super::fixture_yaml(MAPS, PROJECTS, FIELDS, RUNTIME),
    )
    .expect("write fixture");
    std::fs::write(&config, super::CONFIG).expect("write config");
    let mut emu = Command::new(bin)
        .args(["emulator", "--listen", "127.0.0.1:0", "--latency-ms"])
        .arg(latency_ms.to_string())
        .arg("--fixture")
        .arg(&fixture)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the emulator");
    let mut line = String::new();
    BufReader::new(emu.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("emulator address");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http"))
        .expect("url")
        .to_string();
    let run = measure(RUNS, dir, bin, |cmd| {
        cmd.args(["plan", "--quiet", "--json", "-f"])
            .arg(&config)
            .args(["--emulator-url", &url])
            .env("DWLINK_CLIENT_SECRET", "bench-secret");
    });
    let _ = emu.kill();
    let _ = emu.wait();
    let (chain, _) = critical_path();
    PlanResult {
        latency_ms,
        chain,
        bound_ms: (chain as u64 * latency_ms) as f64,
        run,
    }
}
