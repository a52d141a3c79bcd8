//! The provider's plan of one link against `dwlink plan` of the same config, on the same emulator,
//! measured in one run: `cargo bench -p terraform-provider-dwlink --bench provider_plan`.
//!
//! Both sides are whole processes. For each emulator latency, interleaved, median of `RUNS`:
//! - `dwlink plan -f scenario-2.yaml --emulator-url URL` (the release binary; built here first);
//! - the provider's plan: the provider process of `terraform plan`'s plan walk, from Terraform
//!   starting it to its exit (handshake, configure, refresh, plan, close), read from Terraform's
//!   own trace log; this is what the 1.5x bound is measured on;
//! - the whole `terraform plan` (no trace log), and Terraform alone (`terraform plan` of an empty
//!   configuration), so that what Terraform adds around the provider is visible too.
//!
//! The link is in Terraform's state (imported once), as on every plan after the first.
//! No timing is asserted: the numbers are for people to read.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// The end-to-end tests' workspace: emulator, `dev_overrides`, provider block, the scenario-2 link.
#[allow(dead_code)]
#[path = "../tests/terraform/harness.rs"]
mod harness;

use harness::{link_hcl, Workspace, FO};

const RUNS: usize = 7;
const LATENCIES_MS: [u64; 3] = [0, 25, 100];

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn timed(mut c: Command) -> Duration {
    let start = Instant::now();
    let out = c.output().expect("terraform");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn plan(ws: &Workspace) -> Duration {
    timed(ws.command(&["plan", "-no-color", "-input=false"]))
}

/// The plan walk's provider process, from its start to its exit, as Terraform logged them.
fn provider_plan(ws: &Workspace) -> Option<Duration> {
    let log = ws.path().join("trace.log");
    let _ = std::fs::remove_file(&log);
    let mut c = ws.command(&["plan", "-no-color", "-input=false"]);
    c.env("TF_LOG", "trace").env("TF_LOG_PATH", &log);
    timed(c);
    plan_walk_provider(&std::fs::read_to_string(&log).ok()?)
}

/// Milliseconds into the day of a Terraform log line (`2026-12-03T11:48:47.523Z [DEBUG] ...`).
fn stamp(line: &str) -> Option<i64> {
    let time = line.get(11..23)?;
    let mut parts = time.split([':', '.']);
    let mut field = || parts.next()?.parse::<i64>().ok();
    let (h, m, s, milli) = (field()?, field()?, field()?, field()?);
    Some(((h * 60 + m) * 60 + s) * 1000 + milli)
}

fn plan_walk_provider(log: &str) -> Option<Duration> {
    let (mut started, mut current): (Option<i64>, Option<String>) = (None, None);
    let mut planner: Option<(String, i64)> = None;
    for line in log.lines() {
        if let Some(pid) = line
            .split("plugin started: ")
            .nth(1)
            .and_then(|r| r.split("pid=").nth(1))
        {
            started = stamp(line);
            current = Some(pid.trim().to_string());
        } else if line.contains("GRPCProvider.v6: PlanResourceChange") {
            planner = planner.or(current.clone().zip(started));
        } else if let Some((pid, from)) = &planner {
            let exited = line.contains("plugin process exited")
                && line.split("id=").nth(1).map(str::trim) == Some(pid.as_str());
            if exited {
                let took = stamp(line)? - from;
                return Some(Duration::from_millis(took.rem_euclid(86_400_000) as u64));
            }
        }
    }
    None
}

/// `dwlink` as users run it: the release binary, next to the provider's.
fn dwlink_binary(provider: &Path) -> PathBuf {
    let mut build = Command::new(env!("CARGO"));
    build.args(["build", "--release", "-p", "dwlink", "--bin", "dwlink"]);
    // Cargo runs a bench with its package's variables, and ring's build script reruns when
    // CARGO_MANIFEST_DIR changes: passed on, they rebuilt TLS and all above it on every run.
    const USER_SET: [&str; 10] = [
        "CARGO_HOME",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_",
        "CARGO_PROFILE_",
        "CARGO_NET_",
        "CARGO_REGISTRIES_",
        "CARGO_REGISTRY_",
        "CARGO_HTTP_",
        "CARGO_TERM_",
        "CARGO_INCREMENTAL",
    ];
    for (key, _) in std::env::vars_os() {
        let set_by_cargo = key
            .to_str()
            .is_some_and(|k| k.starts_with("CARGO_") && !USER_SET.iter().any(|u| k.starts_with(u)));
        if set_by_cargo {
            build.env_remove(&key);
        }
    }
    let status = build.stdout(Stdio::null()).status().expect("cargo build");
    assert!(
        status.success(),
        "cargo build --release --bin dwlink failed"
    );
    provider.parent().expect("target dir").join("dwlink")
}

fn main() {
    let provider = Path::new(env!("CARGO_BIN_EXE_terraform-provider-dwlink"));
    let dwlink = dwlink_binary(provider);
    let config = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/scenario-2-organization-mismatch.yaml");

    println!("| emulator latency | dwlink plan | provider's plan (plan walk's provider process) | ratio (bound 1.5x) | whole `terraform plan` | ratio | Terraform alone (empty configuration) |");
    println!("|---|---|---|---|---|---|---|");
    for latency in LATENCIES_MS {
        let mut options = dwlink_emulator::Options::default();
        options.faults.latency_ms = latency;
        let fixture = "scenario-2-organization-mismatch.yaml";
        let (Some(link), Some(empty)) = (
            Workspace::start_with(fixture, options),
            Workspace::start(fixture),
        ) else {
            eprintln!("no terraform: nothing to measure");
            return;
        };
        // The same declaration as the YAML example, in Terraform's state as after a first apply.
        link.write(&link_hcl("contoso-uat", "\"USMF\"", false));
        let import = link.import("dwlink_dual_write_link.uat", FO);
        assert_eq!(import.code, 0, "{}", import.all());
        std::fs::write(empty.path().join("main.tf"), "terraform {}\n").expect("main.tf");

        let state_dir = link.path().join("dwlink-state");
        let dwlink_plan = || {
            let start = Instant::now();
            let status = Command::new(&dwlink)
                .args(["plan", "-f"])
                .arg(&config)
                .args(["--emulator-url", &link.emulator_url, "--state-dir"])
                .arg(&state_dir)
                .env("DWLINK_CLIENT_SECRET", "emulator-secret")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("dwlink plan");
            let took = start.elapsed();
            // 0: nothing to do; 2: changes planned (scenario 2 plans a reset).
            assert!(
                matches!(status.code(), Some(0 | 2)),
                "dwlink plan: {status}"
            );
            took
        };
        let (mut d, mut p, mut t, mut f) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..RUNS {
            d.push(dwlink_plan());
            p.extend(provider_plan(&link));
            t.push(plan(&link));
            f.push(plan(&empty));
        }
        let (d, t, f) = (median(d), median(t), median(f));
        let provider = if p.is_empty() {
            "n/a (no plan walk in the trace) | n/a".to_string()
        } else {
            let p = median(p);
            format!("{:.0} ms | {:.2}x", ms(p), ms(p) / ms(d))
        };
        println!(
            "| {latency} ms | {:.0} ms | {provider} | {:.0} ms | {:.2}x | {:.0} ms |",
            ms(d),
            ms(t),
            ms(t) / ms(d),
            ms(f)
        );
    }
}
