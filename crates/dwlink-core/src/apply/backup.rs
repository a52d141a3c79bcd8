//! Backups: every row a plan deletes, written and fsynced before the first delete.
//!
//! The file is streamed table by table and row by row, so a backup of a million rows never sits
//! in memory. It keeps secret-bearing columns (so `restore` is exact) and is therefore created
//! with mode 0600 and never overwritten.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::diag::Problem;
use crate::model::live::Service;

pub const BACKUP_FORMAT: &str = "1";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupHeader {
    pub format_version: String,
    pub dwlink_version: String,
    pub plan_id: String,
    pub created_at: String,
    pub environment: String,
    pub finance_operations_url: String,
    pub dataverse_url: String,
    /// Says in the file itself why it must be guarded.
    pub note: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupTable {
    pub service: Service,
    pub table: String,
    pub entity_set: String,
    /// Every column as read, secrets included.
    pub rows: Vec<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Backup {
    #[serde(flatten)]
    pub header: BackupHeader,
    pub tables: Vec<BackupTable>,
}

impl Backup {
    pub fn rows(&self) -> usize {
        self.tables.iter().map(|t| t.rows.len()).sum()
    }
}

pub struct BackupWriter {
    out: BufWriter<File>,
    /// Where the rows are streamed; renamed to `path` only once complete and on disk, so a
    /// crash mid-backup never leaves a file that looks like a backup.
    partial: PathBuf,
    path: PathBuf,
    tables: usize,
    rows_in_table: usize,
    rows: usize,
}

pub fn file_name(env: &str, now: &jiff::Timestamp) -> String {
    format!("{env}-{}.json", now.strftime("%Y%m%dT%H%M%S%.3fZ"))
}

impl BackupWriter {
    /// Stream into `dir/name.partial`, created exclusively with mode 0600; [`Self::finish`]
    /// makes it `dir/name` (an existing backup is never overwritten).
    pub fn create(dir: &Path, name: &str, header: &BackupHeader) -> std::io::Result<Self> {
        super::journal::private_dir(dir)?;
        let path = dir.join(name);
        if path.exists() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists", path.display()),
            ));
        }
        let partial = dir.join(format!("{name}.partial"));
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts.open(&partial)?;
        super::journal::private_file(&file)?;
        let mut out = BufWriter::new(file);
        // The metadata is scrubbed like every file dwlink writes; the rows are not (restore puts
        // them back exactly, which is why the file is the owner's only).
        let head = serde_json::to_string(header)?;
        let head = crate::scrub::json_text(&head).into_owned();
        // Re-open the header object so tables can be streamed into it.
        let head = head.strip_suffix('}').unwrap_or(&head);
        write!(out, "{head},\"tables\":[")?;
        Ok(BackupWriter {
            out,
            partial,
            path,
            tables: 0,
            rows_in_table: 0,
            rows: 0,
        })
    }

    pub fn begin_table(
        &mut self,
        service: Service,
        table: &str,
        entity_set: &str,
    ) -> std::io::Result<()> {
        if self.tables > 0 {
            self.out.write_all(b"]},")?;
        }
        self.tables += 1;
        self.rows_in_table = 0;
        write!(
            self.out,
            "\n{{\"service\":{},\"table\":{},\"entity_set\":{},\"rows\":[",
            serde_json::to_string(&service)?,
            crate::scrub::json_text(&serde_json::to_string(table)?),
            crate::scrub::json_text(&serde_json::to_string(entity_set)?)
        )
    }

    pub fn row(&mut self, row: &Value) -> std::io::Result<()> {
        if self.rows_in_table > 0 {
            self.out.write_all(b",")?;
        }
        self.out.write_all(b"\n")?;
        serde_json::to_writer(&mut self.out, row)?;
        self.rows_in_table += 1;
        self.rows += 1;
        Ok(())
    }

    /// Close the document and make it durable: file and directory entry both reach the disk
    /// before any delete is sent.
    pub fn finish(mut self) -> std::io::Result<(PathBuf, usize)> {
        if self.tables > 0 {
            self.out.write_all(b"]}")?;
        }
        self.out.write_all(b"\n]}\n")?;
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        // A hard link fails instead of replacing an existing file, unlike rename; rename only
        // where the file system has no hard links.
        match fs::hard_link(&self.partial, &self.path) {
            Ok(()) => fs::remove_file(&self.partial)?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(e),
            Err(_) => fs::rename(&self.partial, &self.path)?,
        }
        crate::fsutil::sync_dir(crate::fsutil::parent_dir(&self.path))?;
        Ok((self.path, self.rows))
    }
}

/// The largest backup `restore` reads. A reset's backup holds the key tables' rows (about 1 KiB
/// and 25 values each, 40 bytes a value; the examples' 132 rows are 150 KiB), so this is about
/// 65,000 rows. Restore holds a whole backup in memory: both limits bound it, the values because
/// a parsed value can cost sixty times its bytes. The value limit leaves room for every backup of
/// dwlink's within the byte limit (64 MiB of such rows is 1.7 million values): with 1,000,000, a
/// 55,000-row backup that apply wrote (55 MB) was refused by restore.
pub const MAX_BACKUP_BYTES: u64 = 64 * 1024 * 1024;
pub const MAX_BACKUP_VALUES: usize = 2_000_000;

pub fn read(path: &Path) -> Result<Backup, Problem> {
    let shown = path.display();
    let bytes = crate::fsutil::read_capped(path, MAX_BACKUP_BYTES).map_err(|e| {
        if crate::fsutil::is_too_large(&e) {
            Problem::error(
                "dwlink::backup::too_large",
                format!(
                    "{shown} is larger than {}, the most `restore` reads",
                    crate::fsutil::size(MAX_BACKUP_BYTES)
                ),
            )
            .help("pass a backup written by `dwlink apply` (.dwlink/backups/); a reset's backup of the key tables is far smaller")
        } else {
            Problem::error("dwlink::backup::unreadable", format!("{shown}: {e}"))
                .help("pass a file from .dwlink/backups/")
        }
    })?;
    let values = crate::json_size::values(&bytes);
    if values > MAX_BACKUP_VALUES {
        return Err(Problem::error(
            "dwlink::backup::too_large",
            format!(
                "{shown} holds about {values} JSON values; `restore` reads backups of at most {MAX_BACKUP_VALUES}"
            ),
        )
        .help("pass a backup written by `dwlink apply` (.dwlink/backups/); a reset's backup of the key tables holds far fewer"));
    }
    let backup: Backup = serde_json::from_slice(&bytes).map_err(|e| {
        Problem::error(
            "dwlink::backup::invalid",
            format!("{shown} is not a complete dwlink backup: {e}"),
        )
        .help("a backup is written completely before any delete; a truncated one means that apply deleted nothing")
    })?;
    if backup.header.format_version != BACKUP_FORMAT {
        return Err(Problem::error(
            "dwlink::backup::format_version",
            format!(
                "{shown} has backup format {}; this dwlink reads format {BACKUP_FORMAT}",
                backup.header.format_version
            ),
        )
        .help("restore it with the dwlink version that wrote it"));
    }
    Ok(backup)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(finance_operations_url: &str, note: &str) -> BackupHeader {
        BackupHeader {
            format_version: BACKUP_FORMAT.into(),
            dwlink_version: "0".into(),
            plan_id: "p".into(),
            created_at: "t".into(),
            environment: "uat".into(),
            finance_operations_url: finance_operations_url.into(),
            dataverse_url: "https://dv".into(),
            note: note.into(),
        }
    }

    /// The metadata is scrubbed of held secrets; the rows keep every byte (restore is exact).
    #[test]
    fn metadata_is_scrubbed_and_rows_are_kept_exactly() {
        let secret = "backup-held-Secret~0001";
        crate::scrub::hold(secret);
        let dir = std::env::temp_dir().join(format!("dwlink-backup-{}", uuid::Uuid::new_v4()));
        let header = header(
            &format!("https://fo/?t={secret}"),
            &format!("echoed {secret}"),
        );
        let mut w = BackupWriter::create(&dir, "b.json", &header).unwrap();
        w.begin_table(Service::Dataverse, &format!("T {secret}"), "Ts")
            .unwrap();
        w.row(&serde_json::json!({"ConnectionString": secret}))
            .unwrap();
        let (path, _) = w.finish().unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.matches(secret).count(), 1, "only the row's: {text}");
        let b = read(&path).unwrap();
        assert_eq!(b.tables[0].rows[0]["ConnectionString"], secret);
        assert_eq!(b.header.note, "echoed [redacted]");
        assert_eq!(b.tables[0].table, "T [redacted]");
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn streamed_backup_reads_back_and_is_private() {
        let dir = std::env::temp_dir().join(format!("dwlink-backup-{}", uuid::Uuid::new_v4()));
        let header = header("https://fo", "secrets");
        let mut w = BackupWriter::create(&dir, "b.json", &header).unwrap();
        w.begin_table(Service::FinanceOperations, "T1", "T1s")
            .unwrap();
        w.row(&serde_json::json!({"a": 1})).unwrap();
        w.row(&serde_json::json!({"a": 2})).unwrap();
        w.begin_table(Service::Dataverse, "T2", "T2s").unwrap();
        w.begin_table(Service::Dataverse, "T3", "T3s").unwrap();
        w.row(&serde_json::json!({"b": "x"})).unwrap();
        assert!(dir.join("b.json.partial").exists() && !dir.join("b.json").exists());
        let (path, rows) = w.finish().unwrap();
        assert_eq!(rows, 3);
        assert!(!dir.join("b.json.partial").exists());
        let b = read(&path).unwrap();
        assert_eq!(b.rows(), 3);
        assert_eq!(b.tables.len(), 3);
        assert_eq!(b.tables[1].rows.len(), 0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert!(
            BackupWriter::create(&dir, "b.json", &header).is_err(),
            "never overwrite"
        );
        // Over the limit: refused by its size, before a byte is parsed.
        let big = dir.join("big.json");
        let f = File::create(&big).unwrap();
        f.set_len(MAX_BACKUP_BYTES + 1).unwrap();
        let e = read(&big).unwrap_err();
        assert_eq!(e.code, "dwlink::backup::too_large", "{}", e.message);
        let _ = fs::remove_dir_all(dir);
    }
}
