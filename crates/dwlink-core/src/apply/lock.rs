//! One apply (or restore) per environment at a time on this machine: an exclusive lock per F&O
//! host in the user's state directory, so two working directories exclude each other too.
//!
//! The lock is an OS file lock ([`File::try_lock`]: `flock` on Unix, `LockFileEx` on Windows)
//! on `<dir>/<host>.lock`, held by an open file for as long as the [`EnvironmentLock`] lives. The
//! operating system drops it when the process ends however it ends (exit, panic, Ctrl-C,
//! `kill -9`), so a lock is never stale: a file left behind by a dead process is simply locked
//! again by the next one, and two processes racing for it cannot both win, because taking it is
//! one atomic system call on the same file. The lock file itself is never removed (removing it
//! would let a late opener lock an unlinked file while a third process locks a new one).
//!
//! Who holds the lock is written to `<host>.holder` (atomically, by rename) right after taking it,
//! for the refusal message only: on Windows a locked file cannot be read by others.
//!
//! Directory: `DWLINK_LOCK_DIR` if set, else `$XDG_STATE_HOME/dwlink/locks`, else
//! `%LOCALAPPDATA%\dwlink\locks` on Windows, else `~/.local/state/dwlink/locks`.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use super::guard::Refusal;
use crate::diag::Problem;
use crate::fsutil::{write_atomic, Access};
use crate::model::identity::host_key;

/// Overrides where the locks are kept (tests; machines whose home is not local).
pub const LOCK_DIR_ENV: &str = "DWLINK_LOCK_DIR";

/// Who holds an environment's lock, as the holder wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    /// The machine's name.
    pub host: String,
    /// When the lock was taken (UTC, RFC 3339).
    pub started_at: String,
    /// `dwlink apply`, `dwlink restore`.
    pub command: String,
    pub environment: String,
    pub working_dir: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` of {}, pid {} on host {}, since {}, in {}",
            self.command, self.environment, self.pid, self.host, self.started_at, self.working_dir
        )
    }
}

#[derive(Debug)]
pub enum LockError {
    /// Another process holds the lock (exit 3).
    Busy(Refusal),
    /// The lock could not be taken at all: no state directory, a file system without locks.
    Unavailable(Problem),
}

impl LockError {
    pub fn to_problem(&self) -> Problem {
        match self {
            LockError::Busy(r) => r.to_problem(),
            LockError::Unavailable(p) => p.clone(),
        }
    }
}

/// The held lock of one environment; dropping it releases it.
#[derive(Debug)]
pub struct EnvironmentLock {
    // Holds the OS lock while open.
    _file: File,
    path: PathBuf,
    holder_path: PathBuf,
    holder: Holder,
}

impl EnvironmentLock {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn holder(&self) -> &Holder {
        &self.holder
    }
}

impl Drop for EnvironmentLock {
    fn drop(&mut self) {
        // Tidy only; the OS lock goes with the file. A holder file left by a killed process is
        // overwritten by the next holder.
        let _ = std::fs::remove_file(&self.holder_path);
    }
}

fn unavailable(message: String) -> LockError {
    LockError::Unavailable(
        Problem::error("dwlink::apply::lock", message).help(format!(
            "point {LOCK_DIR_ENV} at a writable directory on a local file system that every dwlink of this machine uses; nothing was changed"
        )),
    )
}

/// Where the locks are kept (see the module documentation).
pub fn default_dir() -> Result<PathBuf, LockError> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(d) = var(LOCK_DIR_ENV) {
        return Ok(d);
    }
    // The XDG base directory specification ignores relative values.
    if let Some(d) = var("XDG_STATE_HOME").filter(|d| d.is_absolute()) {
        return Ok(d.join("dwlink").join("locks"));
    }
    #[cfg(windows)]
    if let Some(d) = var("LOCALAPPDATA") {
        return Ok(d.join("dwlink").join("locks"));
    }
    if let Some(home) = var("HOME") {
        return Ok(home
            .join(".local")
            .join("state")
            .join("dwlink")
            .join("locks"));
    }
    Err(unavailable(format!(
        "no state directory for the apply lock: none of {LOCK_DIR_ENV}, XDG_STATE_HOME or HOME is set"
    )))
}

/// The lock file's name for an F&O URL: its normalized host (the port too when it is not the
/// scheme's default), so every spelling of one environment's URL takes the same lock.
pub fn file_stem(fo_url: &Url) -> String {
    let (host, port) = host_key(fo_url).unwrap_or_else(|| (fo_url.as_str().to_string(), None));
    let mut stem: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let default = match fo_url.scheme() {
        "http" => Some(80),
        _ => Some(443),
    };
    if port.is_some() && port != default {
        stem.push_str(&format!("_{}", port.unwrap_or_default()));
    }
    stem
}

/// Take the lock of the environment at `fo_url` in [`default_dir`].
pub fn acquire(
    fo_url: &Url,
    environment: &str,
    command: &str,
) -> Result<EnvironmentLock, LockError> {
    acquire_in(&default_dir()?, fo_url, environment, command)
}

/// Take the lock of the environment at `fo_url` in `dir`, or say who holds it.
pub fn acquire_in(
    dir: &Path,
    fo_url: &Url,
    environment: &str,
    command: &str,
) -> Result<EnvironmentLock, LockError> {
    create_dir(dir).map_err(|e| {
        unavailable(format!(
            "cannot create the lock directory {}: {e}",
            dir.display()
        ))
    })?;
    let stem = file_stem(fo_url);
    let path = dir.join(format!("{stem}.lock"));
    let holder_path = dir.join(format!("{stem}.holder"));
    // Not through a symbolic link, and only a regular file: in a shared lock directory another
    // user could plant a link to a file of ours (the open would create or lock it).
    let file = crate::fsutil::open_regular(&path, true)
        .map_err(|e| unavailable(format!("cannot open the lock file {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(LockError::Busy(Refusal::Busy {
                environment: environment.to_string(),
                holder: read_holder(&holder_path).map(Box::new),
                lock: path.display().to_string(),
            }))
        }
        Err(TryLockError::Error(e)) => {
            return Err(unavailable(format!("cannot lock {}: {e}", path.display())))
        }
    }
    let holder = Holder {
        pid: std::process::id(),
        host: machine_name(),
        started_at: now(),
        command: format!("dwlink {command}"),
        environment: environment.to_string(),
        working_dir: std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_else(|_| "?".into()),
    };
    let text = serde_json::to_string_pretty(&holder).unwrap_or_default();
    let text = crate::scrub::json_text(&text).into_owned().into_bytes();
    // The lock is ours whether or not the note about it can be written.
    let _ = write_atomic(&holder_path, &text, Access::Private);
    Ok(EnvironmentLock {
        _file: file,
        path,
        holder_path,
        holder,
    })
}

/// Another live dwlink of this machine that holds the lock of the environment at `fo_url`, and
/// the lock file: what an apply started now would be refused for, as `dwlink plan` foresees it.
/// Read-only but for a shared peek, taken only when the holder's note names a live process of
/// this machine (so a plan does not contend with an apply for an unheld lock).
pub fn held_elsewhere(fo_url: &Url) -> Option<(Holder, PathBuf)> {
    let dir = default_dir().ok()?;
    let stem = file_stem(fo_url);
    let holder = read_note(&dir.join(format!("{stem}.holder")))
        .and_then(|b| serde_json::from_slice::<Holder>(&b).ok())?;
    if holder.pid == std::process::id() || pid_alive(&holder) != Some(true) {
        return None;
    }
    let path = dir.join(format!("{stem}.lock"));
    let file = crate::fsutil::open_regular(&path, false).ok()?;
    match file.try_lock_shared() {
        Err(TryLockError::WouldBlock) => Some((holder, path)),
        _ => None,
    }
}

fn create_dir(dir: &Path) -> std::io::Result<()> {
    crate::fsutil::create_private_dir(dir)
}

/// The holder's note. It is written just after the lock is taken, so a refused process may look
/// in between: it waits a moment (up to 2 s: the note is written and synced to disk, which a
/// loaded machine makes slow) for a note of a live holder before saying it does not know.
fn read_holder(path: &Path) -> Option<Holder> {
    let mut last = None;
    for _ in 0..100 {
        let note = read_note(path).and_then(|b| serde_json::from_slice::<Holder>(&b).ok());
        match note {
            Some(h) if pid_alive(&h) != Some(false) => return Some(h),
            other => last = other.or(last),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // A note of a process that is gone: whoever holds the lock now has not written theirs yet.
    last.filter(|h| pid_alive(h) != Some(false))
}

/// The holder note's bytes: a regular file, not followed through a link, at most 64 KiB.
fn read_note(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let file = crate::fsutil::open_regular(path, false).ok()?;
    let mut bytes = Vec::new();
    file.take(64 * 1024).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

/// Whether the note's process is alive, where this host can tell (`/proc`); `None` otherwise.
fn pid_alive(holder: &Holder) -> Option<bool> {
    if holder.host != machine_name() {
        return None;
    }
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return None;
    }
    Some(proc.join(holder.pid.to_string()).exists())
}

fn machine_name() -> String {
    let from_file = |p: &str| {
        crate::fsutil::read_capped(std::path::Path::new(p), 256)
            .ok()
            .map(|b| String::from_utf8_lossy(&b).trim().to_string())
            .filter(|s| !s.is_empty())
    };
    from_file("/proc/sys/kernel/hostname")
        .or_else(|| from_file("/etc/hostname"))
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

fn now() -> String {
    let t = jiff::Timestamp::now();
    jiff::Timestamp::from_second(t.as_second())
        .unwrap_or(t)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn every_spelling_of_a_host_takes_the_same_lock() {
        let stem = file_stem(&u("https://contoso-uat.sandbox.operations.dynamics.com"));
        assert_eq!(stem, "contoso-uat.sandbox.operations.dynamics.com");
        for other in [
            "https://CONTOSO-UAT.sandbox.operations.dynamics.com./",
            "https://contoso-uat.sandbox.operations.dynamics.com:443/data",
        ] {
            assert_eq!(file_stem(&u(other)), stem, "{other}");
        }
        assert_eq!(
            file_stem(&u(
                "https://contoso-uat.sandbox.operations.dynamics.com:8443"
            )),
            "contoso-uat.sandbox.operations.dynamics.com_8443"
        );
        assert_eq!(file_stem(&u("http://[::1]:9000")), "___1__9000");
    }

    /// The planted symlink: the lock file's open followed it.
    #[cfg(unix)]
    #[test]
    fn a_planted_link_or_special_file_is_refused_and_its_target_untouched() {
        let dir = std::env::temp_dir().join(format!("dwlink-lock-link-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = u("https://contoso-uat.sandbox.operations.dynamics.com");
        let stem = file_stem(&url);
        let victim = dir.join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        std::os::unix::fs::symlink(&victim, dir.join(format!("{stem}.lock"))).unwrap();
        let e = acquire_in(&dir, &url, "contoso-uat", "apply").unwrap_err();
        assert!(e.to_problem().message.contains("symbolic link"), "{e:?}");
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        std::fs::remove_file(dir.join(format!("{stem}.lock"))).unwrap();
        std::fs::create_dir(dir.join(format!("{stem}.lock"))).unwrap();
        let e = acquire_in(&dir, &url, "contoso-uat", "apply").unwrap_err();
        assert!(
            e.to_problem().message.contains("cannot open the lock file"),
            "{e:?}"
        );
        std::fs::remove_dir(dir.join(format!("{stem}.lock"))).unwrap();
        // A planted holder note is not followed either.
        std::os::unix::fs::symlink("/dev/zero", dir.join(format!("{stem}.holder"))).unwrap();
        assert!(read_note(&dir.join(format!("{stem}.holder"))).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
