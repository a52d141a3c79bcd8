//! A provider plan of one link against `dwlink`'s own plan of the same config, on the same
//! emulator (25 ms per request), measured in one run: `cargo bench -p terraform-provider-dwlink`.
//!
//! `terraform plan` = Terraform's startup, the provider's start, validation, one refresh (the
//! live read) and the plan (made from the live state the refresh kept). The dwlink side is the
//! engine `dwlink plan` runs (route, live read, `Plan::make`) in-process, without the CLI's own
//! process start: a lower bound of `dwlink plan`, so the ratio printed is an upper bound.
//! No timing is asserted: the numbers are for people to read (the issue's bound: 1.5x).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const FO: &str = "https://contoso-uat.sandbox.operations.dynamics.com";
const GATEWAY: &str =
    "https://projectmanagementservice.weu-il107.gateway.prod.island.powerapps.com";
const RUNS: usize = 5;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let terraform = std::env::var("TERRAFORM").unwrap_or_else(|_| "terraform".into());
    if Command::new(&terraform).arg("version").output().is_err() {
        eprintln!("no terraform on the PATH: nothing to measure");
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let fixture = dwlink_core::fixture::load(
        &repo.join("examples/fixtures/scenario-2-organization-mismatch.yaml"),
    )
    .unwrap_or_else(|_| panic!("fixture"));
    let mut options = dwlink_emulator::Options::default();
    options.faults.latency_ms = 25;
    let emulator = rt
        .block_on(dwlink_emulator::spawn(fixture, options))
        .expect("emulator");
    let url = emulator.url();
    std::env::set_var("DWLINK_CLIENT_SECRET", "emulator-secret");

    // dwlink's plan, in-process.
    let config =
        std::fs::read_to_string(repo.join("examples/scenario-2-organization-mismatch.yaml"))
            .expect("config");
    let desired = dwlink_core::config::from_source(dwlink_core::diag::Source::new("c", config))
        .desired
        .expect("valid config");
    let emulator_url = url::Url::parse(&url).expect("url");
    let dwlink: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            rt.block_on(async {
                let settings = dwlink_http::ProviderSettings::emulator(&emulator_url, false, None)
                    .expect("settings");
                let steps = dwlink_core::apply::steps::Steps::new(
                    dwlink_http::HttpProvider::new(&desired, settings).expect("provider"),
                    desired.clone(),
                );
                let live = steps.read_live().await.expect("live");
                dwlink_core::plan::Plan::make(&desired, &live)
            });
            start.elapsed()
        })
        .collect();

    // The provider's plan, through terraform.
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = Path::new(env!("CARGO_BIN_EXE_terraform-provider-dwlink"));
    std::fs::write(
        dir.path().join("dev.tfrc"),
        format!(
            "provider_installation {{\n  dev_overrides {{\n    \"dwlink/dwlink\" = \"{}\"\n  }}\n  direct {{}}\n}}\n",
            bin.parent().expect("dir").display()
        ),
    )
    .expect("tfrc");
    std::fs::write(
        dir.path().join("main.tf"),
        format!(
            r#"terraform {{
  required_providers {{
    dwlink = {{ source = "dwlink/dwlink" }}
  }}
}}
provider "dwlink" {{
  tenant_id    = "72f988bf-0000-0000-0000-000000000000"
  client_id    = "11111111-2222-3333-4444-555555555555"
  emulator_url = "{url}"
}}
resource "dwlink_dual_write_link" "uat" {{
  name                   = "contoso-uat"
  finance_operations_url = "{FO}"
  environment_type       = "sandbox"
  dataverse_url          = "https://contoso-uat.crm.dynamics.com"
  reset_target           = "power-platform-link"
  legal_entities         = ["USMF"]
  dual_write_service_url = "{GATEWAY}"
  dual_write_service_auth = "client-credentials"
  reset {{
    force = true
  }}
}}
"#
        ),
    )
    .expect("main.tf");
    let provider: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let out = Command::new(&terraform)
                .args(["plan", "-no-color", "-input=false"])
                .current_dir(dir.path())
                .env("TF_CLI_CONFIG_FILE", dir.path().join("dev.tfrc"))
                .env("TF_IN_AUTOMATION", "1")
                .env("CHECKPOINT_DISABLE", "1")
                .env("HOME", dir.path())
                .output()
                .expect("terraform plan");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            start.elapsed()
        })
        .collect();
    let (d, p) = (median(dwlink), median(provider));
    println!("| provider plan, one link, 25 ms per request (median of {RUNS}) | `terraform plan` {:.0} ms | dwlink engine plan {:.0} ms | {:.2}x (bound 1.5x) |",
        p.as_secs_f64() * 1000.0,
        d.as_secs_f64() * 1000.0,
        p.as_secs_f64() / d.as_secs_f64());
}
