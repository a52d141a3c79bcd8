//! The provider's plan of one link against `dwlink plan` of the same config, on the same emulator,
//! measured in one run: `cargo bench -p terraform-provider-dwlink --bench provider_plan`.
//!
//! Both sides are whole processes. For each emulator latency, interleaved, median of `RUNS`:
//! - `dwlink plan -f scenario-2.yaml --emulator-url URL` (the release binary; built here first);
//! - the provider's plan: the provider process of `terraform plan`'s plan walk, from Terraform
//!   starting it to its exit (handshake, configure, refresh, plan, close), read from Terraform's
//!   own trace log; this is what the issue's 1.5x bound is measured on;
//! - the whole `terraform plan` (no trace log), and Terraform alone (`terraform plan` of an empty
//!   configuration), so that what Terraform adds around the provider is visible too.
//!
//! The link is in Terraform's state (imported once), as on every plan after the first.
//! No timing is asserted: the numbers are for people to read.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const FO: &str = "https://contoso-uat.sandbox.operations.dynamics.com";
const GATEWAY: &str =
    "https://projectmanagementservice.weu-il107.gateway.prod.island.powerapps.com";
const RUNS: usize = 7;
const LATENCIES_MS: [u64; 3] = [0, 25, 100];

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The same declaration as examples/scenario-2-organization-mismatch.yaml, in HCL.
fn module(url: &str) -> String {
    format!(
        r#"terraform {{
  required_providers {{
    dwlink = {{ source = "dwlink/dwlink" }}
  }}
}}
provider "dwlink" {{
  tenant_id               = "72f988bf-0000-0000-0000-000000000000"
  client_id               = "11111111-2222-3333-4444-555555555555"
  emulator_url            = "{url}"
  dual_write_service_url  = "{GATEWAY}"
  dual_write_service_auth = "client-credentials"
}}
resource "dwlink_dual_write_link" "uat" {{
  name                      = "contoso-uat"
  protected                 = false
  finance_operations_url    = "{FO}"
  environment_type          = "sandbox"
  dataverse_url             = "https://contoso-uat.crm.dynamics.com"
  dataverse_organization_id = "4f2a4c1e-8a7e-4a43-9a60-5a3c2c1d9b10"
  reset_target              = "power-platform-link"
  legal_entities            = ["USMF"]
  dual_write_service_url    = "{GATEWAY}"
  dual_write_service_auth   = "client-credentials"
  reset {{
    when         = "on-mismatch"
    force        = true
    clear_tables = true
  }}
  after_reset {{
    apply_solutions = ["Dual-write core solution"]
    start_maps      = ["Customers V3 (accounts)"]
  }}
}}
"#
    )
}

struct Terraform {
    bin: String,
    dir: PathBuf,
}

impl Terraform {
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(args)
            .current_dir(&self.dir)
            .env("TF_CLI_CONFIG_FILE", self.dir.join("dev.tfrc"))
            .env("TF_IN_AUTOMATION", "1")
            .env("CHECKPOINT_DISABLE", "1")
            .env("HOME", &self.dir)
            .env_remove("TF_LOG")
            .env_remove("TF_LOG_PATH");
        c
    }

    fn run(&self, mut c: Command) -> Duration {
        let start = Instant::now();
        let out = c.output().expect("terraform");
        let took = start.elapsed();
        assert!(
            out.status.success(),
            "terraform failed in {}: {}",
            self.dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        took
    }

    fn plan(&self) -> Duration {
        self.run(self.command(&["plan", "-no-color", "-input=false"]))
    }

    /// The plan walk's provider process, from its start to its exit, as Terraform logged them.
    fn provider_plan(&self) -> Option<Duration> {
        let log = self.dir.join("trace.log");
        let _ = std::fs::remove_file(&log);
        let mut c = self.command(&["plan", "-no-color", "-input=false"]);
        c.env("TF_LOG", "trace").env("TF_LOG_PATH", &log);
        self.run(c);
        plan_walk_provider(&std::fs::read_to_string(&log).ok()?)
    }
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
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "-p", "dwlink", "--bin", "dwlink"])
        .stdout(Stdio::null())
        .status()
        .expect("cargo build");
    assert!(
        status.success(),
        "cargo build --release --bin dwlink failed"
    );
    provider.parent().expect("target dir").join("dwlink")
}

fn main() {
    let terraform = std::env::var("TERRAFORM").unwrap_or_else(|_| "terraform".into());
    if Command::new(&terraform).arg("version").output().is_err() {
        eprintln!("no terraform on the PATH: nothing to measure");
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let provider = Path::new(env!("CARGO_BIN_EXE_terraform-provider-dwlink"));
    let dwlink = dwlink_binary(provider);
    let config = repo.join("examples/scenario-2-organization-mismatch.yaml");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let fixture = dwlink_core::fixture::load(
        &repo.join("examples/fixtures/scenario-2-organization-mismatch.yaml"),
    )
    .unwrap_or_else(|_| panic!("fixture"));
    std::env::set_var("DWLINK_CLIENT_SECRET", "emulator-secret");
    let tfrc = format!(
        "provider_installation {{\n  dev_overrides {{\n    \"dwlink/dwlink\" = \"{}\"\n  }}\n  direct {{}}\n}}\n",
        provider.parent().expect("dir").display()
    );

    println!("| emulator latency | dwlink plan | provider's plan (plan walk's provider process) | ratio (bound 1.5x) | whole `terraform plan` | ratio | Terraform alone (empty configuration) |");
    println!("|---|---|---|---|---|---|---|");
    for latency in LATENCIES_MS {
        let mut options = dwlink_emulator::Options::default();
        options.faults.latency_ms = latency;
        let emulator = rt
            .block_on(dwlink_emulator::spawn(fixture.clone(), options))
            .expect("emulator");
        let url = emulator.url();
        let work = tempfile::tempdir().expect("tempdir");
        let (link, empty) = (work.path().join("link"), work.path().join("empty"));
        for (dir, main) in [
            (&link, module(&url)),
            (&empty, "terraform {}\n".to_string()),
        ] {
            std::fs::create_dir_all(dir).expect("dir");
            std::fs::write(dir.join("dev.tfrc"), &tfrc).expect("tfrc");
            std::fs::write(dir.join("main.tf"), main).expect("main.tf");
        }
        let (tf_link, tf_empty) = (
            Terraform {
                bin: terraform.clone(),
                dir: link.clone(),
            },
            Terraform {
                bin: terraform.clone(),
                dir: empty,
            },
        );
        tf_link.run(tf_link.command(&[
            "import",
            "-no-color",
            "-input=false",
            "dwlink_dual_write_link.uat",
            FO,
        ]));
        let state_dir = work.path().join("dwlink-state");
        let dwlink_plan = || {
            let start = Instant::now();
            let status = Command::new(&dwlink)
                .args(["plan", "-f"])
                .arg(&config)
                .args(["--emulator-url", &url, "--state-dir"])
                .arg(&state_dir)
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
            p.extend(tf_link.provider_plan());
            t.push(tf_link.plan());
            f.push(tf_empty.plan());
        }
        let d = median(d);
        let t = median(t);
        let f = median(f);
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
