//! `dwlink plan` of 500 declared maps with integration keys (the release binary, a separate
//! emulator process with injected latency), against the latency of the map reads' chain when
//! they are sent 52 at a time (the Power Platform's concurrency limit per user).

use std::fmt::Write;
use std::path::Path;

use super::{measure, Measured};

pub(crate) const MAPS: usize = 500;
/// Requests in flight the bound allows.
const IN_FLIGHT: usize = 52;
const RUNS: usize = 5;

pub(crate) struct MapsResult {
    pub latency_ms: u64,
    pub chain: usize,
    pub bound_ms: f64,
    pub run: Measured,
}

/// Token, environment lookup, map listing, then each declared map's keys (`FieldMappings`) and
/// prerequisites: two requests per map, at most [`IN_FLIGHT`] at once.
pub(crate) fn critical_path() -> usize {
    3 + (2 * MAPS).div_ceil(IN_FLIGHT)
}

fn fixture() -> String {
    let mut m = String::new();
    for i in 0..MAPS {
        let _ = writeln!(
            m,
            "        - {{name: Map {i:03} (table{i:03}), state: running, version: 1.0.0.1, versions: [1.0.0.1, 1.0.0.2], integration_keys: [key{i:03}]}}"
        );
    }
    super::fixture_yaml(0, 100, 0, 10).replace("      maps:\n", &format!("      maps:\n{m}"))
}

fn config() -> String {
    let mut c = String::from(super::CONFIG);
    c.push_str("maps:\n");
    for i in 0..MAPS {
        let _ = writeln!(
            c,
            "  - {{name: Map {i:03} (table{i:03}), version: 1.0.0.2, state: running, integration_keys: [key{i:03}, code]}}"
        );
    }
    c
}

pub(crate) fn run(bin: &Path, dir: &Path, latency_ms: u64) -> MapsResult {
    let fixture_path = dir.join("maps-world.yaml");
    let config_path = dir.join("maps.yaml");
    std::fs::write(&fixture_path, fixture()).expect("write fixture");
    std::fs::write(&config_path, config()).expect("write config");
    let (mut emu, url) = super::emulator_process(bin, &fixture_path, latency_ms);
    let run = measure(RUNS, dir, bin, |cmd| {
        cmd.args(["plan", "--quiet", "--json", "-f"])
            .arg(&config_path)
            .args(["--emulator-url", &url])
            .env("DWLINK_CLIENT_SECRET", super::SECRET);
    });
    let _ = emu.kill();
    let _ = emu.wait();
    let chain = critical_path();
    MapsResult {
        latency_ms,
        chain,
        bound_ms: (chain as u64 * latency_ms) as f64,
        run,
    }
}
