//! Running dwlink (in-process through an in-memory shell, or as a process where a test needs a
//! real terminal, signals or crash hooks) and finding the repository's files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

pub(crate) fn root() -> PathBuf {
    // The repository root is this package's own: examples/ and schemas/ live there.
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What a run printed and how it ended, whether it ran in-process or as a process.
pub(crate) trait Ran {
    fn code(&self) -> i32;
    fn stdout(&self) -> String;
    fn stderr(&self) -> String;
}

impl Ran for Output {
    fn code(&self) -> i32 {
        self.status
            .code()
            .expect("dwlink exits normally, not by a signal")
    }
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// A run of `dwlink::cli::run_with`: the same code path as the binary, through an in-memory shell.
pub(crate) struct InProcess {
    code: i32,
    out: Vec<u8>,
    err: Vec<u8>,
}

impl Ran for InProcess {
    fn code(&self) -> i32 {
        self.code
    }
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out).into_owned()
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.err).into_owned()
    }
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The working directory is the process's: in-process runs take turns setting it. Everything
/// else in the tests uses absolute paths.
static CWD: Mutex<()> = Mutex::new(());

/// `dwlink ARGS` in `dir`, in-process, with the examples' client secret exported.
pub(crate) fn dwlink(dir: &Path, args: &[&str]) -> InProcess {
    static SECRET_ONCE: std::sync::Once = std::sync::Once::new();
    // Every in-process run uses the same secret, so setting it once races with nothing. The same
    // goes for the environment locks: in-process runs take turns (below), and every process a
    // test starts is given a lock directory of its own test's.
    SECRET_ONCE.call_once(|| {
        std::env::set_var("DWLINK_CLIENT_SECRET", SECRET);
        let locks = std::env::temp_dir().join(format!("dwlink-test-locks-{}", std::process::id()));
        std::env::set_var("DWLINK_LOCK_DIR", locks);
    });
    let (out, err) = (Buffer::default(), Buffer::default());
    let code = {
        let _turn = CWD.lock().unwrap_or_else(|p| p.into_inner());
        let back = std::env::current_dir().expect("a working directory");
        std::env::set_current_dir(dir).expect("enter the test directory");
        let argv = std::iter::once("dwlink").chain(args.iter().copied());
        let code = dwlink::cli::run_with(argv, out.clone(), err.clone());
        std::env::set_current_dir(back).expect("leave the test directory");
        code as i32
    };
    let take = |b: Buffer| std::mem::take(&mut *b.0.lock().unwrap());
    InProcess {
        code,
        out: take(out),
        err: take(err),
    }
}

pub(crate) fn stderr(o: &impl Ran) -> String {
    o.stderr()
}

pub(crate) fn code(o: &impl Ran) -> i32 {
    o.code()
}

/// A fresh directory for files that cannot be committed (huge, missing, a directory).
pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dwlink-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

/// `*.yaml` files of `dir`, sorted so failures and snapshots come in a stable order.
pub(crate) fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

/// Snapshot under `tests/snapshots/<name>.snap`, whatever module asks.
pub(crate) fn snapshot(name: &str, text: &str) {
    let text = without_ports(text);
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!(name.to_string(), text);
    });
}

/// `http://127.0.0.1:41234` → `http://127.0.0.1:<port>`: an in-process emulator listens on a
/// port of its own each run, and plans say where they were read.
pub(crate) fn without_ports(text: &str) -> String {
    const HOST: &str = "127.0.0.1:";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(HOST) {
        let (head, tail) = rest.split_at(at + HOST.len());
        out.push_str(head);
        let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
        out.push_str(if digits > 0 { "<port>" } else { "" });
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out
}

/// The client secret every example fixture accepts.
pub(crate) const SECRET: &str = "emulator-secret";

/// `dwlink ARGS` against live services (the emulator), in-process like [`dwlink`].
pub(crate) fn dwlink_live(dir: &Path, args: &[&str]) -> InProcess {
    dwlink(dir, args)
}

pub(crate) fn stdout(o: &impl Ran) -> String {
    o.stdout()
}

/// A `dwlink emulator` process with a state file, killed when dropped.
pub(crate) struct Emulator {
    child: std::process::Child,
    pub url: String,
}

impl Emulator {
    pub(crate) fn start(fixture: &Path, state: &Path) -> Emulator {
        Emulator::with_flags(fixture, state, &[])
    }

    /// With extra `dwlink emulator` flags (faults: `--fail-rate 0.2`, `--rate-limit 20/s`, …).
    pub(crate) fn with_flags(fixture: &Path, state: &Path, flags: &[&str]) -> Emulator {
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
