//! `--state FILE`: the whole world written atomically after every committed change (temp file,
//! fsync, rename, fsync of the directory), so a crash leaves the old or the new state, never half.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::store::World;
use dwlink_core::diag::Problem;

/// `/2`: F&O project rows in the real property names (a `/1` world spells them as old fixtures).
const FORMAT: &str = "dwlink-emulator-state/2";

#[derive(Serialize, Deserialize)]
struct StateFile {
    format: String,
    world: World,
}

#[derive(Debug, Clone)]
pub(crate) struct Persist {
    pub path: PathBuf,
}

impl Persist {
    pub(crate) fn save(&self, world: &World) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(&StateFile {
            format: FORMAT.into(),
            world: world.clone(),
        })
        .map_err(std::io::Error::other)?;
        dwlink_core::fsutil::write_atomic(&self.path, &bytes, dwlink_core::fsutil::Access::Private)
    }

    /// The saved world, `None` when there is no state file yet.
    pub(crate) fn load(&self) -> Result<Option<World>, Problem> {
        let bytes = match fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(unreadable(&self.path, &e.to_string())),
        };
        let state: StateFile =
            serde_json::from_slice(&bytes).map_err(|e| unreadable(&self.path, &e.to_string()))?;
        if state.format != FORMAT {
            return Err(unreadable(
                &self.path,
                &format!("format `{}` is not {FORMAT}", state.format),
            ));
        }
        Ok(Some(state.world))
    }
}

fn unreadable(path: &Path, why: &str) -> Problem {
    Problem::error(
        "dwlink::emulator::state",
        format!("cannot read emulator state {}: {why}", path.display()),
    )
    .help("delete the state file to start again from the fixture")
}
