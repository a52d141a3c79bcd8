//! The performance harness: one run prints the whole table the README quotes.
//!
//! Run: `cargo bench --bench bench` (builds the release binary first; about a minute).
//! - clear: 20,000 F&O + 2,000 Dataverse rows at 25 ms latency and a budget of 20 requests/s
//!   per client (Dataverse's 6,000 per 5 minutes, averaged), against its lower bound; the naive
//!   one-DELETE-per-row client as baseline; the clear from 1,000 to 100,000 rows;
//! - plan: 500 maps, 20,000 field rows, 2,000 runtime rows at 25 ms, against the critical path;
//! - validate: median wall and peak RSS of the release binary.
//!
//! No timing is asserted anywhere: the numbers are for people to read.

mod clear;
mod fleet;
mod maps;
mod plan;
mod validate;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clear::World;

const LATENCY_MS: u64 = 25;
/// The identities `CONFIG` and `fixture_yaml` spell out, for code that talks to the emulator
/// itself.
pub const TENANT: &str = "72f988bf-0000-0000-0000-000000000000";
pub const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
pub const SECRET: &str = "bench-secret";
pub const FO_HOST: &str = "bench.sandbox.operations.dynamics.com";
const RATE: u32 = 20;
/// Execution time per operation for the service-protection clear (whole milliseconds: the
/// emulator's knob).
const PROTECTION_COST_MS: u64 = 1;
/// The naive client is measured on this many rows (same 10:1 F&O:Dataverse mix) and
/// extrapolated linearly: at 20 requests/s, 22,000 single DELETEs would take 18 minutes.
const NAIVE_FO: usize = 100;
const NAIVE_DV: usize = 10;
const SCALE: [usize; 5] = [1_000, 10_000, 25_000, 50_000, 100_000];

pub struct Measured {
    pub median_ms: f64,
    pub peak_rss_kib: Option<u64>,
    /// User + system time of one run (median), where `/usr/bin/time` can tell.
    pub cpu_ms: Option<f64>,
}

/// User + system time a process has used so far, from `/proc` (Linux), in milliseconds.
pub fn process_cpu_ms(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at state, field 3.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let hz = 100.0; // USER_HZ, fixed at 100 on Linux for /proc
    Some(ticks * 1000.0 / hz)
}

fn main() {
    // `DWLINK_BENCH=clear` runs only the in-process clear (no release binary needed);
    // `DWLINK_BENCH=process` only the measurements of the release binary (plan, validate).
    let only = std::env::var("DWLINK_BENCH").unwrap_or_default();
    let only_clear = only == "clear";
    let dir = std::env::temp_dir().join(format!("dwlink-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    std::fs::write(dir.join("dwlink.yaml"), CONFIG).expect("config");
    // SAFETY: set before any thread of this process exists; the in-process provider reads it.
    unsafe { std::env::set_var("DWLINK_CLIENT_SECRET", SECRET) };
    let desired = dwlink_core::config::from_source(
        dwlink_core::config::load::source_from_bytes(
            "dwlink.yaml",
            CONFIG.as_bytes().to_vec(),
            dwlink_core::config::load::CONFIG_LIMITS,
        )
        .expect("config"),
    )
    .desired
    .expect("valid config");
    let rt = tokio::runtime::Runtime::new().expect("runtime");

    println!("machine: {} x {}", cpus(), cpu_model());
    println!();
    println!("| measurement | result | bound or baseline | ratio | goal |");
    println!("|---|---|---|---|---|");
    if only == "maps" {
        maps_row(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    if only == "process" {
        processes(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }

    let world = World {
        fo_rows: 20_000,
        dv_rows: 2_000,
        latency_ms: LATENCY_MS,
        rate: RATE,
        cost_ms: 0,
    };
    let wall = median(
        (0..3)
            .map(|_| rt.block_on(clear::dwlink(world, &desired)))
            .collect(),
    );
    let bound = world.bound(clear::MAX_PER_BATCH);
    println!(
        "| clear 20,000 F&O project rows + 2,000 Dataverse rows, {LATENCY_MS} ms, {RATE} req/s | {} ({} requests) | lower bound {} | {:.2}x | <= 1.25x |",
        ms(wall),
        world.requests(clear::MAX_PER_BATCH),
        ms(bound),
        secs(wall) / secs(bound),
    );

    // The same clear under service protection alone: no per-second budget, execution time per
    // operation (a change set of 1,000 deletes runs 1 s).
    let protected = World {
        rate: 0,
        cost_ms: PROTECTION_COST_MS,
        ..world
    };
    let wall_p = median(
        (0..3)
            .map(|_| rt.block_on(clear::dwlink(protected, &desired)))
            .collect(),
    );
    let bound_p = protected.bound(clear::MAX_PER_BATCH);
    println!(
        "| clear 20,000 F&O + 2,000 Dataverse rows, {LATENCY_MS} ms, service protection ({PROTECTION_COST_MS} ms per operation, 52 at once) | {} | lower bound {} | {:.2}x | <= 1.2x |",
        ms(wall_p),
        ms(bound_p),
        secs(wall_p) / secs(bound_p),
    );

    let small = World {
        fo_rows: NAIVE_FO,
        dv_rows: NAIVE_DV,
        ..world
    };
    let in_flight = dwlink_http::ProviderSettings::direct(false, None).batch_concurrency;
    let naive_small = rt.block_on(clear::naive(small, &desired, in_flight));
    let factor = (world.fo_rows + world.dv_rows) as f64 / (NAIVE_FO + NAIVE_DV) as f64;
    let naive = naive_small.mul_f64(factor);
    println!(
        "| naive clear, one DELETE per row, {in_flight} in flight | {} (measured {} for {} rows, x{factor:.0}) | dwlink {} | {:.0}x faster | >= 50x |",
        ms(naive),
        ms(naive_small),
        NAIVE_FO + NAIVE_DV,
        ms(wall),
        secs(naive) / secs(wall),
    );

    if !only_clear {
        processes(&dir);
    }
    scale(&rt, &desired, world);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The plan of 500 declared maps with keys.
fn maps_row(dir: &Path) {
    let bin = release_binary();
    let m = maps::run(&bin, dir, LATENCY_MS);
    println!(
        "| plan {} declared maps with keys, {} ms (median of 5) | {:.0} ms, {} | map reads' chain {} x {} ms ({} in flight) = {:.0} ms | {:.2}x | <= 1.3x, <= 64 MiB |",
        maps::MAPS, m.latency_ms, m.run.median_ms, rss(m.run.peak_rss_kib), m.chain, m.latency_ms, 52,
        m.bound_ms, m.run.median_ms / m.bound_ms,
    );
}

/// The measurements that run the release binary as a user would.
fn processes(dir: &Path) {
    maps_row(dir);
    let bin = release_binary();
    let p = plan::run(&bin, dir, LATENCY_MS);
    println!(
        "| plan {} maps, {} project rows, {} runtime rows, {} ms (median of 7) | {:.0} ms | max(critical path {} x {} ms = {:.0} ms, emulator floor {:.0} ms) = {:.0} ms | {:.2}x | <= 1.3x |",
        plan::MAPS, plan::PROJECTS, plan::RUNTIME, p.latency_ms,
        p.run.median_ms, p.chain, p.latency_ms, p.chain_ms, p.floor_ms, p.bound_ms,
        p.run.median_ms / p.bound_ms,
    );
    println!(
        "| plan against the critical path's latency alone | {:.0} ms | {:.0} ms | {:.2}x | |",
        p.run.median_ms,
        p.chain_ms,
        p.run.median_ms / p.chain_ms,
    );
    println!(
        "| plan peak RSS | {} | | | <= 64 MiB |",
        rss(p.run.peak_rss_kib)
    );
    let f = fleet::run(&bin, dir, LATENCY_MS, p.chain);
    let opt_ms = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.0} ms"));
    println!(
        "| plan a fleet of {} environments, --parallelism {}, {} ms (median of 5) | {:.0} ms, {} | max({} waves x critical path {} x {} ms = {:.0} ms, emulator CPU {} / {} cores) = {:.0} ms | {:.2}x | <= 1.3x, <= 128 MiB |",
        fleet::ENVIRONMENTS, fleet::PARALLELISM, LATENCY_MS, f.run.median_ms, rss(f.run.peak_rss_kib),
        fleet::ENVIRONMENTS.div_ceil(fleet::PARALLELISM), p.chain, LATENCY_MS, f.latency_bound_ms,
        opt_ms(f.emulator_cpu_ms), f.cores, f.bound_ms,
        f.run.median_ms / f.bound_ms,
    );
    println!(
        "| fleet against the latency alone | {:.0} ms | {:.0} ms | {:.2}x | |",
        f.run.median_ms,
        f.latency_bound_ms,
        f.run.median_ms / f.latency_bound_ms,
    );
    println!(
        "| fleet: dwlink's own CPU per run (user + system) | {} ({} per environment) | | | |",
        opt_ms(f.run.cpu_ms),
        opt_ms(f.run.cpu_ms.map(|c| c / fleet::ENVIRONMENTS as f64)),
    );
    println!(
        "| plan: dwlink's own CPU (user + system) | {} | | | |",
        opt_ms(p.run.cpu_ms),
    );

    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scenario-1-same-organization.yaml");
    let v = validate::run(&bin, dir, &example);
    println!(
        "| validate examples/scenario-1-same-organization.yaml (median of 51) | {:.1} ms, {} | | | <= 10 ms, <= 10 MiB |",
        v.median_ms,
        rss(v.peak_rss_kib)
    );
}

/// The clear from 1,000 to 100,000 rows, and its slope against the bound's.
fn scale(
    rt: &tokio::runtime::Runtime,
    desired: &dwlink_core::model::desired::Desired,
    world: World,
) {
    println!();
    println!(
        "clear, F&O rows only, {LATENCY_MS} ms, {RATE} req/s, change sets of {}:",
        clear::MAX_PER_BATCH
    );
    println!();
    println!("| rows | requests | lower bound | wall | ratio |");
    println!("|---|---|---|---|---|");
    let mut points = Vec::new();
    for n in SCALE {
        let w = World {
            fo_rows: n,
            dv_rows: 0,
            ..world
        };
        let wall = rt.block_on(clear::dwlink(w, desired));
        let bound = w.bound(clear::MAX_PER_BATCH);
        println!(
            "| {n} | {} | {} | {} | {:.2}x |",
            w.requests(clear::MAX_PER_BATCH),
            ms(bound),
            ms(wall),
            secs(wall) / secs(bound)
        );
        points.push((n as f64, secs(wall), secs(bound)));
    }
    let slope_wall = slope(points.iter().map(|p| (p.0, p.1)));
    let slope_bound = slope(points.iter().map(|p| (p.0, p.2)));
    println!();
    println!(
        "least-squares slope: {:.1} ms per 1,000 rows (bound's: {:.1} ms per 1,000 rows; ratio {:.2})",
        slope_wall * 1e6,
        slope_bound * 1e6,
        slope_wall / slope_bound
    );
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn rss(kib: Option<u64>) -> String {
    kib.map_or("n/a (no /usr/bin/time)".into(), |k| {
        format!("{:.1} MiB", k as f64 / 1024.0)
    })
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn slope(points: impl Iterator<Item = (f64, f64)>) -> f64 {
    let p: Vec<(f64, f64)> = points.collect();
    let n = p.len() as f64;
    let (mx, my) = (
        p.iter().map(|q| q.0).sum::<f64>() / n,
        p.iter().map(|q| q.1).sum::<f64>() / n,
    );
    let num: f64 = p.iter().map(|q| (q.0 - mx) * (q.1 - my)).sum();
    let den: f64 = p.iter().map(|q| (q.0 - mx).powi(2)).sum();
    num / den
}

/// Runs the release binary `runs` times: median wall, and the largest peak RSS that
/// `/usr/bin/time -f %M` reports (when it exists).
pub fn measure(runs: usize, dir: &Path, bin: &Path, args: impl Fn(&mut Command)) -> Measured {
    let time_out = dir.join("time.txt");
    let use_time = Path::new("/usr/bin/time").exists();
    let mut walls = Vec::new();
    let mut peak = None;
    let mut cpus = Vec::new();
    for _ in 0..runs {
        let mut cmd = if use_time {
            let mut c = Command::new("/usr/bin/time");
            c.args(["-f", "%M %U %S", "-o"]).arg(&time_out).arg(bin);
            c
        } else {
            Command::new(bin)
        };
        args(&mut cmd);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let start = Instant::now();
        let status = cmd.status().expect("run dwlink");
        walls.push(start.elapsed());
        assert!(status.success(), "{cmd:?} failed");
        let last = use_time
            .then(|| std::fs::read_to_string(&time_out).ok())
            .flatten()
            .and_then(|t| t.lines().last().map(str::to_string))
            .unwrap_or_default();
        let mut fields = last.split_whitespace();
        let kib: Option<u64> = fields.next().and_then(|f| f.parse().ok());
        let cpu: Option<f64> = fields
            .map(|f| f.parse::<f64>().ok())
            .sum::<Option<f64>>()
            .map(|s| s * 1000.0);
        peak = peak.max(kib);
        cpus.extend(cpu);
    }
    cpus.sort_by(f64::total_cmp);
    Measured {
        median_ms: secs(median(walls)) * 1000.0,
        peak_rss_kib: peak,
        cpu_ms: cpus.get(cpus.len() / 2).copied(),
    }
}

/// `dwlink emulator` as a process of its own with injected latency, and the URL it serves.
pub fn emulator_process(
    bin: &Path,
    fixture: &Path,
    latency_ms: u64,
) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    let mut emu = Command::new(bin)
        .args(["emulator", "--listen", "127.0.0.1:0", "--latency-ms"])
        .arg(latency_ms.to_string())
        .arg("--fixture")
        .arg(fixture)
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
    (emu, url)
}

fn release_binary() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let ok = Command::new(cargo)
        .args(["build", "--release", "--quiet", "--bin", "dwlink"])
        .status()
        .expect("cargo build");
    assert!(ok.success(), "cargo build --release failed");
    let exe = std::env::current_exe().expect("current exe");
    // target/release/deps/bench-<hash> → target/release/dwlink
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("dwlink")
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

pub fn fixture_yaml(maps: usize, projects: usize, fields: usize, runtime: usize) -> String {
    let mut m = String::new();
    for i in 0..maps {
        m.push_str(&format!(
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
{m}    key_tables:
      DualWriteProjectConfiguration: {{generate: {projects}}}
      DualWriteProjectFieldConfiguration: {{generate: {fields}}}
      BusinessEventsDefinition: {{generate: 100, dual_write: 50}}
dataverse:
  - url: https://bench.crm.dynamics.com
    organization_id: 4f2a4c1e-8a7e-4a43-9a60-5a3c2c1d9b10
    unique_name: orgbench
    friendly_name: Bench
    runtime_configurations: {{generate: {runtime}, secure_config_organization: Bench}}
clients:
  - {{tenant_id: 72f988bf-0000-0000-0000-000000000000, client_id: 11111111-2222-3333-4444-555555555555, secret: bench-secret}}
"#
    )
}

pub const CONFIG: &str = r#"apiVersion: dwlink/v1
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
