//! A recording read one entry at a time: `conformance` checks the whole file first (every entry
//! within its limits, at most [`MAX_ENTRIES`] of them, HAR 1.2) and replays it on a second pass,
//! so the memory it takes is the largest entry's, not the file's (up to 256 MiB, which parsed
//! whole cost about twice that). Only a file that fails the check is read whole, once, to point
//! a caret at what is wrong ([`super::read::parse`]).

use std::fmt;
use std::io::{BufReader, Read};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::read::{MAX_ENTRIES, MAX_FILE_BYTES};
use super::Entry;
use crate::diag::Problem;

/// A recording that passed every check of [`super::read::load`], to be read again entry by
/// entry with [`HarFile::for_each`].
#[derive(Debug, Clone)]
pub struct HarFile {
    path: PathBuf,
    entries: usize,
}

/// Why a pass stopped early.
enum Stop {
    /// The consumer asked to stop (the replay ended on an error of its own).
    Asked,
    /// The file broke a rule; the text says which, for a file changed since it was checked.
    Rule(String),
}

const STOPPED: &str = "dwlink: stopped";

impl HarFile {
    /// Check the recording at `path` without holding it: every entry is read, checked and
    /// dropped in turn.
    pub fn open(path: &Path) -> Result<HarFile, Problem> {
        let mut count = 0usize;
        let checked = pass(path, &mut |e: Entry| {
            count += 1;
            match super::limits::over(&e) {
                Some((_, what, _)) => Err(Stop::Rule(what)),
                None => Ok(ControlFlow::Continue(())),
            }
        });
        match checked {
            Ok(()) => Ok(HarFile {
                path: path.to_path_buf(),
                entries: count,
            }),
            // The precise diagnostic, with its caret, from the whole text: an error path only.
            Err(why) => Err(match super::read::load(path) {
                Err(p) => p,
                Ok(_) => Problem::error(
                    "dwlink::har::bad_entry",
                    format!("{} cannot be read entry by entry: {why}", path.display()),
                )
                .help("pass a file written by `dwlink … --record FILE` or saved from a browser's network tab"),
            }),
        }
    }

    /// How many entries the file held when it was checked.
    pub fn entries(&self) -> usize {
        self.entries
    }

    /// Hand every entry to `each`, in order, one at a time, until it returns `Break`. An error
    /// means the file changed since [`HarFile::open`] checked it.
    pub fn for_each(&self, mut each: impl FnMut(Entry) -> ControlFlow<()>) -> Result<(), Problem> {
        let path = &self.path;
        let read = pass(path, &mut |e: Entry| {
            if super::limits::over(&e).is_some() {
                return Err(Stop::Rule("an entry over its limits".into()));
            }
            Ok(each(e))
        });
        read.map_err(|why| {
            Problem::error(
                "dwlink::har::changed",
                format!("{} changed while it was replayed: {why}", path.display()),
            )
            .help("replay a recording no other program is writing")
        })
    }
}

type Each<'a> = dyn FnMut(Entry) -> Result<ControlFlow<()>, Stop> + 'a;

/// One pass over the file: `Ok` when it is a HAR 1.2 whose every entry `each` took.
fn pass(path: &Path, each: &mut Each<'_>) -> Result<(), String> {
    let (file, _) = crate::fsutil::open_capped(path, MAX_FILE_BYTES).map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(file.take(MAX_FILE_BYTES + 1));
    skip_bom(&mut reader).map_err(|e| e.to_string())?;
    let mut stop = None;
    let mut version = None;
    let mut de = serde_json::Deserializer::from_reader(reader);
    let root = Root {
        each,
        stop: &mut stop,
        version: &mut version,
    };
    let read = de.deserialize_map(root).and_then(|()| de.end());
    match (read, stop) {
        (_, Some(Stop::Asked)) => Ok(()),
        (_, Some(Stop::Rule(why))) => Err(why),
        (Err(e), None) => Err(e.to_string()),
        (Ok(()), None) if version.as_deref() == Some("1.2") => Ok(()),
        (Ok(()), None) => Err("not a HAR 1.2 document".into()),
    }
}

/// HAR 1.2: "tools support and ignore a BOM".
fn skip_bom<R: Read>(reader: &mut BufReader<R>) -> std::io::Result<()> {
    use std::io::BufRead;
    let head = reader.fill_buf()?;
    if head.starts_with("\u{feff}".as_bytes()) {
        reader.consume(3);
    }
    Ok(())
}

struct Root<'a, 'b> {
    each: &'a mut Each<'b>,
    stop: &'a mut Option<Stop>,
    version: &'a mut Option<String>,
}

impl<'de> Visitor<'de> for Root<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a HAR document")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut log = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "log" && !log {
                log = true;
                map.next_value_seed(LogSeed {
                    each: &mut *self.each,
                    stop: &mut *self.stop,
                    version: &mut *self.version,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if !log {
            return Err(de::Error::custom("no `log` object"));
        }
        Ok(())
    }
}

struct LogSeed<'a, 'b> {
    each: &'a mut Each<'b>,
    stop: &'a mut Option<Stop>,
    version: &'a mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for LogSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for LogSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the `log` object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut entries = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "version" => *self.version = Some(map.next_value::<String>()?),
                "entries" if !entries => {
                    entries = true;
                    map.next_value_seed(EntriesSeed {
                        each: &mut *self.each,
                        stop: &mut *self.stop,
                    })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !entries {
            return Err(de::Error::custom("no `log.entries` list"));
        }
        Ok(())
    }
}

struct EntriesSeed<'a, 'b> {
    each: &'a mut Each<'b>,
    stop: &'a mut Option<Stop>,
}

impl<'de> DeserializeSeed<'de> for EntriesSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EntriesSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the `entries` list")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut n = 0usize;
        loop {
            // Counted before the next one is built: one past the limit is never parsed.
            if n == MAX_ENTRIES {
                if seq.next_element::<IgnoredAny>()?.is_some() {
                    *self.stop = Some(Stop::Rule(format!("more than {MAX_ENTRIES} entries")));
                    return Err(de::Error::custom(STOPPED));
                }
                return Ok(());
            }
            let Some(entry) = seq.next_element::<Entry>()? else {
                return Ok(());
            };
            n += 1;
            match (self.each)(entry) {
                Ok(ControlFlow::Continue(())) => {}
                Ok(ControlFlow::Break(())) => {
                    *self.stop = Some(Stop::Asked);
                    return Err(de::Error::custom(STOPPED));
                }
                Err(stop) => {
                    *self.stop = Some(stop);
                    return Err(de::Error::custom(STOPPED));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dwlink-harstream-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    const ENTRY: &str =
        r#"{"request":{"method":"GET","url":"https://a/"},"response":{"status":200}}"#;

    #[test]
    fn entries_come_one_at_a_time_in_order_and_stop_when_asked() {
        let text = format!(
            "\u{feff}{{\"log\":{{\"entries\":[{ENTRY},{}],\"version\":\"1.2\"}}}}",
            ENTRY.replace("https://a/", "https://b/")
        );
        let p = file("t.har", &text);
        let har = HarFile::open(&p).unwrap();
        assert_eq!(har.entries(), 2);
        let mut urls = Vec::new();
        har.for_each(|e| {
            urls.push(e.request.url);
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(urls, ["https://a/", "https://b/"]);
        let mut seen = 0;
        har.for_each(|_| {
            seen += 1;
            ControlFlow::Break(())
        })
        .unwrap();
        assert_eq!(seen, 1);
    }

    #[test]
    fn a_bad_file_gets_the_whole_read_diagnostic() {
        for (text, code) in [
            ("{\"log\": {\"version\": 1.2,, }}", "dwlink::har::not_json"),
            (
                "{\"log\": {\"version\": \"1.2\", \"entries\": [",
                "dwlink::har::truncated",
            ),
            (
                "{\"log\": {\"version\": \"1.1\", \"entries\": []}}",
                "dwlink::har::not_har",
            ),
            ("{\"log\": {\"version\": \"1.2\"}}", "dwlink::har::not_har"),
            (
                "{\"log\": {\"version\": \"1.2\", \"entries\": [{\"request\": 5}]}}",
                "dwlink::har::bad_entry",
            ),
        ] {
            let p = HarFile::open(&file("t.har", text)).unwrap_err();
            assert_eq!(p.code, code, "{text}");
        }
        let entries = vec!["{}"; MAX_ENTRIES + 1].join(",");
        let p = HarFile::open(&file(
            "t.har",
            &format!("{{\"log\": {{\"version\": \"1.2\", \"entries\": [{entries}]}}}}"),
        ))
        .unwrap_err();
        assert_eq!(p.code, "dwlink::har::too_large");
    }
}
