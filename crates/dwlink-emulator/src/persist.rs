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
        // It holds the fixture's client secrets: the owner's only (write_atomic makes every file
        // 0600 whatever the umask).
        dwlink_core::fsutil::write_atomic(&self.path, &bytes, dwlink_core::fsutil::Access::Private)
    }

    /// The saved world, `None` when there is no state file yet.
    pub(crate) fn load(&self) -> Result<Option<World>, Problem> {
        let meta = match fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(unreadable(&self.path, &e.to_string())),
        };
        // The same bound as a fixture's: the state is the fixture's world plus what ran on it.
        let max = dwlink_core::fixture::FIXTURE_LIMITS.max_bytes;
        if !meta.is_file() || meta.len() > max {
            return Err(unreadable(
                &self.path,
                &format!("not a regular file of at most {} MiB", max / (1024 * 1024)),
            ));
        }
        let bytes = dwlink_core::fsutil::read_capped(&self.path, max)
            .map_err(|e| unreadable(&self.path, &e.to_string()))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The state file was 0666 under `umask 000` and held the fixture's client secret.
    #[cfg(unix)]
    #[test]
    fn the_state_file_is_the_owners_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("dwlink-state-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).unwrap();
        let p = Persist {
            path: dir.join("state.json"),
        };
        let fixture = dwlink_core::fixture::quickstart().unwrap();
        p.save(&World::from_fixture(&fixture)).unwrap();
        let mode = fs::metadata(&p.path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(p.load().unwrap().is_some());
        fs::remove_dir_all(&dir).unwrap();
    }
}
