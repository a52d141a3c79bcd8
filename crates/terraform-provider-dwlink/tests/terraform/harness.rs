//! A workspace for the real `terraform`: a temporary directory with a CLI config whose
//! `dev_overrides` point at the built provider, and an emulator on 127.0.0.1 in this process.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dwlink_core::apply::executor::Executor;
use dwlink_core::apply::steps::Steps;
use dwlink_core::plan::Plan;
use dwlink_emulator::RunningEmulator;
use dwlink_http::{HttpProvider, ProviderSettings};

pub const TENANT: &str = "72f988bf-0000-0000-0000-000000000000";
pub const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
pub const FO: &str = "https://contoso-uat.sandbox.operations.dynamics.com";
pub const GATEWAY: &str =
    "https://projectmanagementservice.weu-il107.gateway.prod.island.powerapps.com";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `terraform` from the PATH, or `$TERRAFORM`.
pub fn terraform_binary() -> Option<PathBuf> {
    if let Some(t) = std::env::var_os("TERRAFORM") {
        return Some(PathBuf::from(t));
    }
    let ok = Command::new("terraform")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then(|| PathBuf::from("terraform"))
}

pub struct Workspace {
    pub dir: tempfile::TempDir,
    pub terraform: PathBuf,
    pub emulator_url: String,
    // Declared last: the emulator stops after the workspace is gone.
    _emulator: RunningEmulator,
    pub runtime: tokio::runtime::Runtime,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

impl Workspace {
    /// `None` (the test says why and passes) when no `terraform` is installed; `.ci/run`
    /// installs one.
    pub fn start(fixture: &str) -> Option<Workspace> {
        Workspace::start_with(fixture, dwlink_emulator::Options::default())
    }

    pub fn start_with(fixture: &str, options: dwlink_emulator::Options) -> Option<Workspace> {
        let Some(terraform) = terraform_binary() else {
            eprintln!("skipped: no `terraform` on the PATH (.ci/run installs one)");
            return None;
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let fixture = dwlink_core::fixture::load(&repo().join("examples/fixtures").join(fixture))
            .unwrap_or_else(|p| panic!("fixture: {:?}", p.0.first().map(|p| &p.message)));
        let emulator = runtime
            .block_on(dwlink_emulator::spawn(fixture, options))
            .expect("emulator");
        let dir = tempfile::tempdir().expect("tempdir");
        let plugin_dir = Path::new(env!("CARGO_BIN_EXE_terraform-provider-dwlink"))
            .parent()
            .expect("bin dir")
            .to_path_buf();
        std::fs::write(
            dir.path().join("dev.tfrc"),
            format!(
                "provider_installation {{\n  dev_overrides {{\n    \"dwlink/dwlink\" = \"{}\"\n  }}\n  direct {{}}\n}}\n",
                plugin_dir.display()
            ),
        )
        .expect("cli config");
        Some(Workspace {
            dir,
            terraform,
            emulator_url: emulator.url(),
            _emulator: emulator,
            runtime,
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The provider block every test uses, then `resources`.
    pub fn write(&self, resources: &str) {
        let main = format!(
            r#"terraform {{
  required_providers {{
    dwlink = {{ source = "dwlink/dwlink" }}
  }}
}}

provider "dwlink" {{
  tenant_id              = "{TENANT}"
  client_id              = "{CLIENT}"
  emulator_url           = "{}"
  state_dir              = "{}"
  dual_write_service_url  = "{GATEWAY}"
  dual_write_service_auth = "client-credentials"
}}

{resources}
"#,
            self.emulator_url,
            self.path().join(".dwlink").display()
        );
        std::fs::write(self.path().join("main.tf"), main).expect("main.tf");
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.terraform);
        let cli_config = if self.path().join("mirror.tfrc").exists() {
            "mirror.tfrc"
        } else {
            "dev.tfrc"
        };
        c.args(args)
            .current_dir(self.path())
            .env("TF_CLI_CONFIG_FILE", self.path().join(cli_config))
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("CHECKPOINT_DISABLE", "1")
            .env("DWLINK_CLIENT_SECRET", "emulator-secret")
            .env("HOME", self.path())
            .env("XDG_STATE_HOME", self.path().join("state"))
            .env("XDG_CACHE_HOME", self.path().join("cache"))
            // Diagnostics must never carry a backtrace, even with this set.
            .env("RUST_BACKTRACE", "1")
            .env_remove("TF_LOG");
        c
    }

    pub fn tf(&self, args: &[&str]) -> Run {
        let out: Output = self
            .command(args)
            .output()
            .unwrap_or_else(|e| panic!("run terraform {args:?}: {e}"));
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        for frame in [
            "stack backtrace",
            "rust_begin_unwind",
            "backtrace_rs",
            "at /rustc/",
            "tf_provider::",
        ] {
            assert!(
                !run.all().contains(frame),
                "a diagnostic carries a backtrace ({frame}):\n{}",
                run.all()
            );
        }
        run
    }

    /// `terraform plan -detailed-exitcode`: 0 no changes, 2 changes, 1 error.
    pub fn plan(&self) -> Run {
        self.tf(&["plan", "-no-color", "-detailed-exitcode", "-input=false"])
    }

    /// `terraform import ADDRESS ID`.
    pub fn import(&self, address: &str, id: &str) -> Run {
        self.tf(&["import", "-no-color", "-input=false", address, id])
    }

    pub fn apply(&self) -> Run {
        self.tf(&["apply", "-no-color", "-auto-approve", "-input=false"])
    }

    /// `dwlink apply` of `yaml` (a config v1 document) against the emulator, in-process through
    /// the same engine the CLI runs: a change made outside Terraform.
    pub fn dwlink_apply(&self, yaml: &str) {
        let source = dwlink_core::diag::Source::new("outside.yaml", yaml.to_string());
        let loaded = dwlink_core::config::from_source(source);
        let desired = loaded.desired.unwrap_or_else(|| {
            panic!(
                "outside config: {:?}",
                loaded
                    .problems
                    .iter()
                    .map(|p| &p.message)
                    .collect::<Vec<_>>()
            )
        });
        let url = url::Url::parse(&self.emulator_url).expect("url");
        std::env::set_var("DWLINK_CLIENT_SECRET", "emulator-secret");
        let state_dir = self.path().join("outside");
        self.runtime.block_on(async {
            let settings = ProviderSettings::emulator(&url, false, None).expect("settings");
            let steps = Steps::new(
                HttpProvider::new(&desired, settings).expect("provider"),
                desired.clone(),
            );
            let live = steps.read_live().await.expect("read live");
            let plan = Plan::make(&desired, &live);
            assert!(
                !plan.has_errors(),
                "outside plan has errors: {:?}",
                plan.findings
            );
            let cancel = std::sync::atomic::AtomicBool::new(false);
            let on_event = |_| {};
            Executor {
                ops: &steps,
                state_dir: &state_dir,
                cancel: &cancel,
                on_event: &on_event,
            }
            .run(&plan)
            .await
            .expect("outside apply");
        });
    }
}

/// A config v1 document for the scenario-2 environment with `legal_entities`, reset `when`.
pub fn outside_config(legal_entities: &str, when: &str) -> String {
    format!(
        r#"apiVersion: dwlink/v1
kind: DualWriteLink
metadata: {{name: contoso-uat, protected: false}}
finance_operations: {{url: {FO}, environment_type: sandbox}}
dataverse: {{url: "https://contoso-uat.crm.dynamics.com"}}
link: {{reset_target: power-platform-link, legal_entities: [{legal_entities}]}}
reset: {{when: {when}, force: true, clear_tables: true}}
auth: {{tenant_id: {TENANT}, client_id: {CLIENT}, client_secret_env: DWLINK_CLIENT_SECRET}}
dual_write_service: {{url: "{GATEWAY}", auth: client-credentials}}
"#
    )
}

/// `dwlink_dual_write_link.uat` as the scenario-2 example declares it.
pub fn link_hcl(name: &str, legal_entities: &str, protected: bool) -> String {
    format!(
        r#"resource "dwlink_dual_write_link" "uat" {{
  name                      = "{name}"
  finance_operations_url    = "{FO}"
  environment_type          = "sandbox"
  dataverse_url             = "https://contoso-uat.crm.dynamics.com"
  dataverse_organization_id = "4f2a4c1e-8a7e-4a43-9a60-5a3c2c1d9b10"
  protected                 = {protected}
  reset_target              = "power-platform-link"
  legal_entities            = [{legal_entities}]
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
