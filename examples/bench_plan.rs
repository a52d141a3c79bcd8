//! Benchmark: `dwlink plan` of a large environment against the emulator with injected latency,
//! reported as a ratio to the critical-path lower bound computed in the same run.
//!
//! Run: `cargo run --release --example bench_plan` (builds the release binary first).
//! Sizes: 500 maps, 500 project rows, 20,000 field rows, 2,000 runtime rows, 25 ms per request.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const LATENCY_MS: u64 = 25;
const MAPS: usize = 500;
const PROJECTS: usize = 500;
const FIELDS: usize = 20_000;
const RUNTIME: usize = 2_000;
const RUNS: usize = 7;
/// Page sizes the client asks for (and the services grant): F&O 10,000, Dataverse 5,000.
const FO_PAGE: usize = 10_000;
const DV_PAGE: usize = 5_000;

fn main() {
    let bin = release_binary();
    let dir = std::env::temp_dir().join(format!("dwlink-bench-plan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let fixture = dir.join("world.yaml");
    let config = dir.join("dwlink.yaml");
    std::fs::write(&fixture, fixture_yaml()).expect("write fixture");
    std::fs::write(&config, CONFIG).expect("write config");

    let mut emu = Command::new(&bin)
        .args([
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--latency-ms",
            &LATENCY_MS.to_string(),
            "--fixture",
        ])
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

    let mut walls = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..RUNS {
        let (wall, kib) = run_plan(&bin, &config, &url, &dir);
        walls.push(wall);
        rss.extend(kib);
    }
    let _ = emu.kill();
    let _ = emu.wait();

    // The longest chain of dependent requests: a token, then each table's pages one after
    // another (a nextLink is only known once its page arrives). Independent chains overlap.
    let fo_chain = 1 + FIELDS.div_ceil(FO_PAGE);
    let dv_chain = 1 + 1 + RUNTIME.div_ceil(DV_PAGE); // token, EntityDefinitions, pages
    let dws_chain = 1 + 1 + 1; // token, connection set, maps
    let chain = fo_chain.max(dv_chain).max(dws_chain);
    let bound_ms = (chain as u64 * LATENCY_MS) as f64;
    walls.sort_by(f64::total_cmp);
    let median = walls[walls.len() / 2];
    println!("plan: {MAPS} maps, {PROJECTS} project rows, {FIELDS} field rows, {RUNTIME} runtime rows, {LATENCY_MS} ms latency");
    println!("  critical path: {chain} requests x {LATENCY_MS} ms = {bound_ms:.0} ms (F&O chain {fo_chain}, Dataverse {dv_chain}, dual-write service {dws_chain})");
    println!("  wall (median of {RUNS}, whole process): {median:.0} ms   ratio to bound: {:.2}x (goal <= 1.5x)", median / bound_ms);
    if let Some(max) = rss.iter().max() {
        println!(
            "  peak RSS: {:.1} MiB (goal <= 64 MiB)",
            *max as f64 / 1024.0
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn run_plan(bin: &Path, config: &Path, url: &str, dir: &Path) -> (f64, Option<u64>) {
    let time_out = dir.join("time.txt");
    let use_time = Path::new("/usr/bin/time").exists();
    let mut cmd = if use_time {
        let mut c = Command::new("/usr/bin/time");
        c.args(["-f", "%M", "-o"]).arg(&time_out).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    cmd.args(["plan", "--quiet", "--json", "-f"])
        .arg(config)
        .args(["--emulator-url", url])
        .env("DWLINK_CLIENT_SECRET", "bench-secret")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let start = Instant::now();
    let status = cmd.status().expect("run dwlink plan");
    let wall = start.elapsed().as_secs_f64() * 1000.0;
    assert!(status.success(), "dwlink plan failed");
    let kib = use_time
        .then(|| std::fs::read_to_string(&time_out).ok())
        .flatten()
        .and_then(|t| t.lines().last()?.trim().parse().ok());
    (wall, kib)
}

fn release_binary() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let ok = Command::new(cargo)
        .args(["build", "--release", "--quiet", "--bin", "dwlink"])
        .status()
        .expect("cargo build");
    assert!(ok.success(), "cargo build --release failed");
    let exe = std::env::current_exe().expect("current exe");
    // target/release/examples/bench_plan → target/release/dwlink
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("dwlink")
}

fn fixture_yaml() -> String {
    let mut maps = String::new();
    for i in 0..MAPS {
        maps.push_str(&format!(
            "        - {{name: Map {i:03} (table{i:03}), state: stopped}}\n"
        ));
    }
    format!(
        r#"finance_operations:
  - url: https://bench.sandbox.operations.dynamics.com
    environment_type: sandbox
    power_platform_link: https://bench.crm.dynamics.com
    dual_write:
      connected_to: https://bench.crm.dynamics.com
      legal_entities: [USMF]
      maps:
{maps}    key_tables:
      DualWriteProjectConfiguration: {{generate: {PROJECTS}}}
      DualWriteProjectFieldConfiguration: {{generate: {FIELDS}}}
      BusinessEventsDefinition: {{generate: 100, dual_write: 50}}
dataverse:
  - url: https://bench.crm.dynamics.com
    organization_id: 4f2a4c1e-8a7e-4a43-9a60-5a3c2c1d9b10
    unique_name: orgbench
    friendly_name: Bench
    runtime_configurations: {{generate: {RUNTIME}, secure_config_organization: Bench}}
clients:
  - {{tenant_id: 72f988bf-0000-0000-0000-000000000000, client_id: 11111111-2222-3333-4444-555555555555, secret: bench-secret}}
"#
    )
}

const CONFIG: &str = r#"apiVersion: dwlink/v1
kind: DualWriteLink
metadata: {name: bench, protected: false}
finance_operations: {url: https://bench.sandbox.operations.dynamics.com, environment_type: sandbox}
dataverse: {url: https://bench.crm.dynamics.com}
link: {legal_entities: [USMF]}
auth:
  tenant_id: 72f988bf-0000-0000-0000-000000000000
  client_id: 11111111-2222-3333-4444-555555555555
  client_secret_env: DWLINK_CLIENT_SECRET
dual_write_service:
  url: https://projectmanagementservice.weu-il107.gateway.prod.island.powerapps.com
  auth: client-credentials
"#;
