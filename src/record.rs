//! `--record FILE` for one command run: the file is created when the command first reaches for
//! the services (never for `validate` or `show`), shared by every provider of the run, and
//! summed up when the command ends.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use dwlink_core::diag::Problem;
use dwlink_core::har::writer::Recorder;

#[derive(Debug)]
pub struct Recording {
    path: PathBuf,
    recorder: OnceLock<Arc<Recorder>>,
}

impl Recording {
    pub fn new(path: PathBuf) -> Self {
        Recording {
            path,
            recorder: OnceLock::new(),
        }
    }

    /// The file this run records to.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The run's recorder, creating the file on first use.
    pub fn recorder(&self) -> Result<Arc<Recorder>, Problem> {
        if let Some(r) = self.recorder.get() {
            return Ok(r.clone());
        }
        let created = Arc::new(Recorder::create(&self.path, env!("CARGO_PKG_VERSION"))?);
        Ok(self.recorder.get_or_init(|| created).clone())
    }

    /// What to tell the user when the command is done: where the exchanges went, why some are
    /// missing, or that the command sent nothing (and left FILE as it was).
    pub fn finish(&self) -> Result<String, Problem> {
        let Some(r) = self.recorder.get() else {
            return Ok(format!(
                "Nothing recorded to {}: the command did not talk to the services.",
                self.path.display()
            ));
        };
        match r.finish() {
            Some(problem) => Err(problem),
            None => Ok(format!(
                "Recorded {} HTTP exchange{} to {}.",
                r.entries(),
                if r.entries() == 1 { "" } else { "s" },
                self.path.display()
            )),
        }
    }
}
