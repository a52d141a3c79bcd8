//! Durable file writes: the one routine every plan file, snapshot, token cache and emulator state
//! file is written with, so each gets the same crash guarantees.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

/// Who a written file is meant for. Both are written 0600 whatever the umask: a plan names
/// environments and rows, a snapshot or an emulator's state holds a fixture's client secret, and
/// the owner can share a file on purpose (`chmod`) where a default cannot take it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Plans, snapshots, fixtures: meant to be reviewed, shared by their owner if at all.
    Shared,
    /// Tokens and anything else that decides or reveals more than a reviewer should see.
    Private,
}

/// The mode of every file dwlink writes.
pub const FILE_MODE: u32 = 0o600;
/// The mode of every directory dwlink creates.
pub const DIR_MODE: u32 = 0o700;

/// Create `dir` and its missing parents 0700 (whatever the umask); directories that already
/// exist are left as they are (they may be the user's own).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, DIR_MODE);
    b.create(dir)
}

/// Open an existing file for reading without following a symbolic link, refusing anything but
/// a regular file (a FIFO would block, a device never end): for files another process may have
/// planted in a shared directory.
pub fn open_regular(path: &Path, write: bool) -> std::io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.read(true);
    if write {
        opts.write(true).create(true).truncate(false);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(FILE_MODE)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = opts.open(path).map_err(|e| {
        #[cfg(unix)]
        if e.raw_os_error() == Some(libc::ELOOP) {
            return std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "{} is a symbolic link; dwlink does not follow one here",
                    path.display()
                ),
            );
        }
        e
    })?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} is not a regular file", path.display()),
        ));
    }
    Ok(file)
}

/// Read a whole file of at most `max` bytes. A larger one is refused with
/// [`std::io::ErrorKind::FileTooLarge`] after reading `max + 1` bytes, never more, whatever its
/// size said when it was opened (it may grow, or be a pipe); a FIFO, device or directory is
/// refused before it is read (it could block or never end). Symbolic links are followed: these
/// are files the user names.
pub fn read_capped(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let (file, len) = open_capped(path, max)?;
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(too_large(path, max));
    }
    Ok(bytes)
}

/// [`read_capped`]'s checks, for a reader that streams the file (a parser reading from it):
/// the open file and its length, to be read through `take(max + 1)` so that a file grown since
/// reads as truncated instead of without end.
pub fn open_capped(path: &Path, max: u64) -> std::io::Result<(File, u64)> {
    let mut opts = OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut opts, libc::O_NONBLOCK);
    let file = opts.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} is not a regular file", path.display()),
        ));
    }
    if meta.len() > max {
        return Err(too_large(path, max));
    }
    Ok((file, meta.len()))
}

/// Whether `e` is [`read_capped`]'s refusal of a file over its limit.
pub fn is_too_large(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::FileTooLarge
}

fn too_large(path: &Path, max: u64) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::FileTooLarge,
        format!("{} is larger than {}", path.display(), size(max)),
    )
}

/// A byte limit as the README states it.
pub fn size(bytes: u64) -> String {
    if bytes >= 1024 * 1024 && bytes.is_multiple_of(1024 * 1024) {
        format!("{} MiB", bytes / (1024 * 1024))
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// Write to a fresh temporary sibling, fsync it, rename it over `path`, then fsync the directory:
/// a crash leaves the old file or the new one, never half of one, and the rename itself survives
/// a power cut. The temporary file is removed when anything fails.
pub fn write_atomic(path: &Path, bytes: &[u8], access: Access) -> std::io::Result<()> {
    let dir = parent_dir(path);
    let name = path
        .file_name()
        .map_or("file".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let _ = access;
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, FILE_MODE);
    let written = (|| {
        let mut f = opts.open(&tmp)?;
        // The creation mode is masked by the umask, never widened by it; set it outright anyway
        // so the file is 0600 on any system.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(dir)
}

/// Make a directory entry (a create or rename inside `dir`) durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    match File::open(dir) {
        Ok(d) => d.sync_all().or_else(|e| {
            // Some file systems (and Windows) refuse to fsync a directory; the data is synced.
            if e.kind() == std::io::ErrorKind::InvalidInput
                || e.kind() == std::io::ErrorKind::PermissionDenied
            {
                Ok(())
            } else {
                Err(e)
            }
        }),
        Err(_) => Ok(()),
    }
}

/// The directory a relative file name lives in (`.` for a bare name).
pub fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = std::env::temp_dir().join(format!("dwlink-fsutil-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("plan.json");
        write_atomic(&path, b"one", Access::Shared).unwrap();
        write_atomic(&path, b"two", Access::Private).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        fs::remove_dir_all(&dir).unwrap();
    }

    /// The emulator state under `umask 000` was 0666.
    #[cfg(unix)]
    #[test]
    fn every_file_is_0600_whatever_the_umask() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("dwlink-umask-{}", uuid::Uuid::new_v4()));
        // SAFETY: umask only changes this process's creation mask; it is restored below.
        let old = unsafe { libc::umask(0) };
        let made = create_private_dir(&dir.join("a/b"));
        let written = write_atomic(&dir.join("a/b/state.json"), b"{}", Access::Shared);
        unsafe { libc::umask(old) };
        made.unwrap();
        written.unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.join("a/b/state.json")), 0o600);
        assert_eq!(mode(&dir.join("a/b")), 0o700);
        assert_eq!(mode(&dir.join("a")), 0o700);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn open_regular_refuses_links_and_special_files() {
        let dir = std::env::temp_dir().join(format!("dwlink-nofollow-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("target"), b"theirs").unwrap();
        std::os::unix::fs::symlink(dir.join("target"), dir.join("link")).unwrap();
        let e = open_regular(&dir.join("link"), true).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(open_regular(&dir, false).is_err(), "a directory");
        assert!(
            open_regular(Path::new("/dev/null"), false).is_err(),
            "a device"
        );
        assert!(open_regular(&dir.join("target"), true).is_ok());
        assert_eq!(fs::read(dir.join("target")).unwrap(), b"theirs");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn read_capped_refuses_what_is_over_the_limit_or_not_a_file() {
        let dir = std::env::temp_dir().join(format!("dwlink-capped-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("ok"), b"12345").unwrap();
        assert_eq!(read_capped(&dir.join("ok"), 5).unwrap(), b"12345");
        let e = read_capped(&dir.join("ok"), 4).unwrap_err();
        assert!(is_too_large(&e), "{e}");
        assert!(e.to_string().contains("larger than 4 bytes"), "{e}");
        assert!(read_capped(&dir, 10).is_err(), "a directory");
        #[cfg(unix)]
        {
            let fifo = dir.join("fifo");
            let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
            // SAFETY: a plain mkfifo on a path this test owns.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            let e = read_capped(&fifo, 10).unwrap_err();
            assert!(e.to_string().contains("not a regular file"), "{e}");
        }
        assert_eq!(size(64 * 1024 * 1024), "64 MiB");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_write_removes_its_temporary_file() {
        let dir = std::env::temp_dir().join(format!("dwlink-fsutil-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(dir.join("target-is-a-dir")).unwrap();
        fs::write(dir.join("target-is-a-dir/x"), b"").unwrap();
        assert!(write_atomic(&dir.join("target-is-a-dir"), b"x", Access::Shared).is_err());
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
