//! The recording file: always one complete HAR document, so a run killed at any point leaves a
//! file browser tools open. The head and the closing `]}}` are written first; each entry then
//! overwrites the closing with `,{entry}]}}` in one write (O(1) per entry, no rewrite of what
//! is already there).

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::Value;

use crate::diag::Problem;

const TAIL: &[u8] = b"]}}";

struct State {
    file: File,
    entries: usize,
    /// The first write that failed; later entries are dropped rather than written after a hole.
    failed: Option<String>,
}

/// One writer shared by every task of a run (a mutex around the file).
pub struct Recorder {
    path: PathBuf,
    state: Mutex<State>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("path", &self.path)
            .finish()
    }
}

fn cannot(path: &Path, e: impl std::fmt::Display) -> Problem {
    Problem::error(
        "dwlink::record::unwritable",
        format!("cannot write the recording {}: {e}", path.display()),
    )
    .help("pass --record a file in a writable directory")
}

impl Recorder {
    /// Creates (or truncates) `path` as a HAR with no entries yet, readable by the owner only
    /// whatever the umask: a recording shows tenant data.
    pub fn create(path: &Path, creator_version: &str) -> Result<Recorder, Problem> {
        if path.is_dir() {
            return Err(Problem::error(
                "dwlink::record::is_directory",
                format!("--record {} is a directory", path.display()),
            )
            .help(format!(
                "name a file, e.g. `--record {}/dwlink.har`",
                path.display()
            )));
        }
        let mut opts = OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut file = opts.open(path).map_err(|e| cannot(path, e))?;
        // `mode` applies only to a file this call created; an existing one keeps its bits.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(|e| cannot(path, e))?;
        }
        // Written by hand: `entries` must come last, so the file ends with its closing `]}}`.
        let head = format!(
            r#"{{"log":{{"version":"1.2","creator":{{"name":"dwlink","version":{}}},"pages":[],"entries":[]}}}}"#,
            Value::String(creator_version.into())
        );
        file.write_all(head.as_bytes())
            .map_err(|e| cannot(path, e))?;
        Ok(Recorder {
            path: path.to_path_buf(),
            state: Mutex::new(State {
                file,
                entries: 0,
                failed: None,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry. A failure is kept for [`Recorder::finish`], never raised: the run's
    /// requests matter more than their recording.
    pub fn record(&self, entry: &Value) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.failed.is_some() {
            return;
        }
        let mut buf = Vec::with_capacity(256);
        if st.entries > 0 {
            buf.push(b',');
        }
        let Ok(json) = serde_json::to_string(entry) else {
            return;
        };
        // The whole entry passes the scrubber last: a held secret echoed under any name, in any
        // header, body, `$batch` part or URL, is replaced in every form it takes in the JSON.
        buf.extend_from_slice(crate::scrub::text(&json).as_bytes());
        buf.extend_from_slice(TAIL);
        let written = st
            .file
            .seek(SeekFrom::End(-(TAIL.len() as i64)))
            .and_then(|_| st.file.write_all(&buf));
        match written {
            Ok(()) => st.entries += 1,
            Err(e) => st.failed = Some(e.to_string()),
        }
    }

    pub fn entries(&self) -> usize {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).entries
    }

    /// Flushes to disk; the warning to show when some entries could not be written.
    pub fn finish(&self) -> Option<Problem> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.failed.is_none() {
            if let Err(e) = st.file.sync_all() {
                st.failed = Some(e.to_string());
            }
        }
        st.failed.as_ref().map(|e| {
            Problem::warning(
                "dwlink::record::incomplete",
                format!(
                    "the recording {} stops after {} entries: {e}",
                    self.path.display(),
                    st.entries
                ),
            )
            .help("the file is still a valid HAR; free disk space or choose another --record file")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dwlink-har-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn every_prefix_of_a_run_is_a_complete_har() {
        let path = temp("run.har");
        let rec = Recorder::create(&path, "9.9.9").unwrap();
        let empty: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(empty["log"]["entries"], json!([]));
        for i in 0..5 {
            rec.record(&json!({"n": i}));
            let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            assert_eq!(v["log"]["entries"].as_array().unwrap().len(), i + 1);
        }
        // Dropped without `finish`, like a killed run.
        drop(rec);
        let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(v["log"]["version"], "1.2");
        assert_eq!(v["log"]["creator"]["name"], "dwlink");
        assert_eq!(v["log"]["entries"][4]["n"], 4);
    }

    #[cfg(unix)]
    #[test]
    fn the_file_is_private_even_when_it_existed() {
        use std::os::unix::fs::PermissionsExt;
        let path = temp("old.har");
        std::fs::write(&path, b"old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let rec = Recorder::create(&path, "1").unwrap();
        assert!(rec.finish().is_none());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn a_directory_is_refused() {
        let path = temp("d");
        std::fs::create_dir_all(&path).unwrap();
        let e = Recorder::create(&path, "1").unwrap_err();
        assert_eq!(e.code, "dwlink::record::is_directory");
    }
}
