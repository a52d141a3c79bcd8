//! The commands dwlink tells a user to run: built from the flags of the command that is running,
//! so each one runs as printed (same plan or `-f` config, same `--emulator`/`--emulator-url`,
//! same state directory and `--record`).

use std::ffi::OsStr;
use std::path::Path;

use crate::render::shell::Shell;

use super::live::LiveArgs;

/// A command line as one shell-quoted string.
pub(super) struct Command(Vec<String>);

impl Command {
    pub(super) fn new(words: &[&str]) -> Command {
        Command(words.iter().map(|w| w.to_string()).collect())
    }

    pub(super) fn arg(mut self, a: impl AsRef<OsStr>) -> Command {
        self.0.push(a.as_ref().to_string_lossy().into_owned());
        self
    }

    pub(super) fn flag(self, name: &str, value: impl AsRef<OsStr>) -> Command {
        self.arg(name).arg(value)
    }

    /// `-f FILE` for each config.
    pub(super) fn files<P: AsRef<Path>>(mut self, files: &[P]) -> Command {
        for f in files {
            self = self.flag("-f", f.as_ref());
        }
        self
    }

    /// Where the services are: the emulator flags, as given.
    pub(super) fn live(mut self, live: &LiveArgs) -> Command {
        #[cfg(feature = "emulator")]
        if let Some(f) = &live.emulator {
            self = self.flag("--emulator", f);
        }
        if let Some(u) = &live.emulator_url {
            self = self.flag("--emulator-url", u.as_str());
        }
        self
    }

    /// `--state-dir DIR` unless it is the default.
    pub(super) fn state_dir(self, dir: &Path) -> Command {
        if dir == Path::new(DEFAULT_STATE_DIR) {
            self
        } else {
            self.flag("--state-dir", dir)
        }
    }

    /// `--record FILE` when this run records.
    pub(super) fn record(self, ui: &Shell) -> Command {
        match ui.recording() {
            Some(r) => self.flag("--record", r.path()),
            None => self,
        }
    }
}

pub(super) use dwlink_core::plan::describe::DEFAULT_STATE_DIR;

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let words: Vec<String> = self.0.iter().map(|w| quote(w)).collect();
        f.write_str(&words.join(" "))
    }
}

/// POSIX shell quoting: plain words as they are, anything else in single quotes.
fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_that_need_it_are_quoted() {
        let c = Command::new(&["dwlink", "apply"])
            .arg("my plan.json")
            .flag("--emulator-url", "http://127.0.0.1:9/")
            .arg("it's");
        assert_eq!(
            c.to_string(),
            r"dwlink apply 'my plan.json' --emulator-url http://127.0.0.1:9/ 'it'\''s'"
        );
    }
}
