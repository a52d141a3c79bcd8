//! Running the binary and finding the repository's files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    // The workspace root: examples/ and schemas/ live there, shared by every crate.
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `dwlink ARGS` in `dir`, with colour and the user's environment kept out of the output.
pub fn dwlink(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dwlink"))
        .args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .env("COLUMNS", "100")
        .output()
        .expect("the dwlink binary runs")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn code(o: &Output) -> i32 {
    o.status
        .code()
        .expect("dwlink exits normally, not by a signal")
}

/// A fresh directory for files that cannot be committed (huge, missing, a directory).
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dwlink-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

/// `*.yaml` files of `dir`, sorted so failures and snapshots come in a stable order.
pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

/// Snapshot under `tests/snapshots/<name>.snap`, whatever module asks.
pub fn snapshot(name: &str, text: &str) {
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!(name.to_string(), text);
    });
}

/// The client secret every example fixture accepts.
pub const SECRET: &str = "emulator-secret";

/// `dwlink ARGS` with the examples' client secret exported.
pub fn dwlink_live(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dwlink"))
        .args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .env("DWLINK_CLIENT_SECRET", SECRET)
        .env("COLUMNS", "100")
        .output()
        .expect("the dwlink binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A `dwlink emulator` process with a state file, killed when dropped.
pub struct Emulator {
    child: std::process::Child,
    pub url: String,
}

impl Emulator {
    pub fn start(fixture: &Path, state: &Path) -> Emulator {
        Emulator::with_flags(fixture, state, &[])
    }

    /// With extra `dwlink emulator` flags (faults: `--fail-rate 0.2`, `--rate-limit 20/s`, …).
    pub fn with_flags(fixture: &Path, state: &Path, flags: &[&str]) -> Emulator {
        use std::io::{BufRead, BufReader};
        let mut child = Command::new(env!("CARGO_BIN_EXE_dwlink"))
            .args(["emulator", "--listen", "127.0.0.1:0", "--fixture"])
            .arg(fixture)
            .arg("--state")
            .arg(state)
            .args(flags)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the emulator");
        let out = child.stdout.take().expect("emulator stdout");
        let mut line = String::new();
        BufReader::new(out)
            .read_line(&mut line)
            .expect("emulator prints its address");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"))
            .to_string();
        Emulator { child, url }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
