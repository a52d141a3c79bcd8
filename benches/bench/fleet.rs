//! `dwlink plan` of a fleet: many small environments in one emulator process with injected
//! latency, planned `--parallelism` at a time, against the bound the parallelism implies.

use std::path::Path;

use super::{measure, Measured};

pub(crate) const ENVIRONMENTS: usize = 100;
pub(crate) const PARALLELISM: usize = 16;
const RUNS: usize = 5;

pub(crate) struct FleetResult {
    /// The latency alone: waves of `PARALLELISM` plans, each its critical path.
    pub latency_bound_ms: f64,
    /// The emulator's CPU time per run, shared by the two cores with dwlink: the server's own
    /// work, which no client can make the machine skip.
    pub emulator_cpu_ms: Option<f64>,
    pub cores: usize,
    pub bound_ms: f64,
    pub run: Measured,
}

fn host(i: usize) -> String {
    format!("env{i:03}.sandbox.operations.dynamics.com")
}

fn org(i: usize) -> String {
    format!("org{i:03}.crm.dynamics.com")
}

/// Every environment like the bench's plan world, small: 10 maps, 100 project rows, 200 field
/// rows, 20 runtime rows, one organization each.
fn fixture() -> String {
    let mut fo = String::new();
    let mut dv = String::new();
    for i in 0..ENVIRONMENTS {
        let mut maps = String::new();
        for m in 0..10 {
            maps.push_str(&format!(
                "        - {{name: Map {m:02} (table{m:02}), state: stopped}}\n"
            ));
        }
        fo.push_str(&format!(
            "  - url: https://{h}\n    environment_type: sandbox\n    power_platform_link: https://{o}\n    dual_write:\n      connected_to: https://{o}\n      legal_entities: [USMF]\n      maps:\n{maps}    key_tables:\n      DualWriteProjectConfiguration: {{generate: 100}}\n      DualWriteProjectFieldConfiguration: {{generate: 200}}\n      BusinessEventsDefinition: {{generate: 10, dual_write: 5}}\n",
            h = host(i),
            o = org(i),
        ));
        dv.push_str(&format!(
            "  - url: https://{o}\n    organization_id: {id}\n    unique_name: org{i:03}\n    friendly_name: Org{i:03}\n    runtime_configurations: {{generate: 20, secure_config_organization: Org{i:03}}}\n",
            o = org(i),
            id = uuid::Uuid::from_u128(0x4f2a_4c1e_8a7e_4a43_9a60_0000_0000_0000 + i as u128),
        ));
    }
    format!(
        "finance_operations:\n{fo}dataverse:\n{dv}clients:\n  - {{tenant_id: {t}, client_id: {c}, secret: {s}}}\n",
        t = super::TENANT,
        c = super::CLIENT_ID,
        s = super::SECRET
    )
}

fn config(i: usize) -> String {
    super::CONFIG
        .replace("name: bench,", &format!("name: env{i:03},"))
        .replace("bench.sandbox.operations.dynamics.com", &host(i))
        .replace("bench.crm.dynamics.com", &org(i))
}

pub(crate) fn run(bin: &Path, dir: &Path, latency_ms: u64, chain: usize) -> FleetResult {
    let fixture_path = dir.join("fleet-world.yaml");
    std::fs::write(&fixture_path, fixture()).expect("write fixture");
    let configs = dir.join("fleet");
    std::fs::create_dir_all(&configs).expect("configs dir");
    for i in 0..ENVIRONMENTS {
        std::fs::write(configs.join(format!("env{i:03}.yaml")), config(i)).expect("config");
    }
    let (mut emu, url) = super::emulator_process(bin, &fixture_path, latency_ms);
    let emu_before = super::process_cpu_ms(emu.id());
    let run = measure(RUNS, dir, bin, |cmd| {
        cmd.args(["plan", "--quiet", "--json", "--parallelism"])
            .arg(PARALLELISM.to_string())
            .arg("-f")
            .arg(&configs)
            .args(["--emulator-url", &url])
            .env("DWLINK_CLIENT_SECRET", super::SECRET);
    });
    let emu_after = super::process_cpu_ms(emu.id());
    let _ = emu.kill();
    let _ = emu.wait();
    // Each environment's plan is at least its critical path; PARALLELISM of them at once.
    let waves = ENVIRONMENTS.div_ceil(PARALLELISM);
    let latency_bound_ms = (waves * chain) as f64 * latency_ms as f64;
    let emulator_cpu_ms = emu_before
        .zip(emu_after)
        .map(|(b, a)| (a - b) / RUNS as f64);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu_bound = emulator_cpu_ms.map_or(0.0, |c| c / cores as f64);
    FleetResult {
        latency_bound_ms,
        emulator_cpu_ms,
        cores,
        bound_ms: latency_bound_ms.max(cpu_bound),
        run,
    }
}
