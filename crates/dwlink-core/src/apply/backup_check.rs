//! What a backup read must prove before anything is deleted or reset.
//!
//! The service's reset clears every key table (UO `data-entities/dual-write/reset.md`), so a row
//! the backup missed is lost for good. The backup therefore holds itself to the live read the
//! plan was made from (or checked fresh against): every key that read counted must be in the
//! backup, no key twice. A short, empty or mistyped read (a wrong type yields another key, or
//! none) stops the apply before the first delete and before the reset.
//!
//! Tolerance: rows added since that read are backed up too (the reset would clear them as well)
//! and reported apart; they never make up for a missing key, and a table holding any is
//! re-counted by the service ([`recount`]) so a read cut short among them is caught.

use std::collections::HashSet;

use crate::diag::Problem;

/// At most this many missing or repeated keys are named in a refusal.
const SHOWN: usize = 3;

/// One table's backup read, key by key, against the keys the plan's read counted.
pub struct TableCheck {
    table: String,
    /// Sorted, as [`crate::model::live::KeyTable::keys`].
    planned: Vec<String>,
    seen: HashSet<String>,
    rows: usize,
    repeated: Vec<String>,
    repeats: usize,
}

/// A table whose backup read holds every planned key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableVerdict {
    pub rows: usize,
    /// Rows the plan's read did not show (added since): backed up all the same.
    pub added_since: usize,
}

impl TableCheck {
    pub fn new(table: &str, planned: Vec<String>) -> Self {
        TableCheck {
            table: table.to_string(),
            planned,
            seen: HashSet::new(),
            rows: 0,
            repeated: Vec::new(),
            repeats: 0,
        }
    }

    /// One backed-up row's key.
    pub fn key(&mut self, key: &str) {
        self.rows += 1;
        if !self.seen.insert(key.to_string()) {
            self.repeats += 1;
            if self.repeated.len() < SHOWN {
                self.repeated.push(key.to_string());
            }
        }
    }

    pub fn verdict(&self) -> Result<TableVerdict, Problem> {
        let planned = self.planned.len();
        let missing: Vec<&String> = self
            .planned
            .iter()
            .filter(|k| !self.seen.contains(*k))
            .collect();
        if !missing.is_empty() {
            let shown: Vec<&str> = missing.iter().take(SHOWN).map(|k| k.as_str()).collect();
            let what = if self.rows == 0 {
                format!(
                    "the backup read of {} returned no rows, but the plan counted {planned}",
                    self.table
                )
            } else {
                format!(
                    "the backup read of {} returned {} rows, but {} of the {planned} the plan counted are not among them (e.g. {})",
                    self.table,
                    self.rows,
                    missing.len(),
                    shown.join(", ")
                )
            };
            return Err(refusal(what));
        }
        if self.repeats > 0 {
            return Err(refusal(format!(
                "the backup read of {} returned {} rows, {} of them repeating a key ({}): the reply cannot be a faithful copy of the table",
                self.table,
                self.rows,
                self.repeats,
                self.repeated.join(", ")
            )));
        }
        Ok(TableVerdict {
            rows: self.rows,
            added_since: self.rows - planned,
        })
    }
}

/// Rows added since the plan's read are tolerated only while the service's own count
/// (`$count`, asked then) is no more than what the backup read returned: a read cut short among
/// new rows would otherwise pass.
pub fn recount(table: &str, verdict: &TableVerdict, counted: Option<usize>) -> Result<(), Problem> {
    match counted {
        Some(n) if n > verdict.rows => Err(refusal(format!(
            "the backup read of {table} returned {} rows ({} of them added since the plan), but the service counts {n}",
            verdict.rows, verdict.added_since
        ))),
        _ => Ok(()),
    }
}

/// Every refusal of an unproven backup: nothing was deleted and the link was not reset.
fn refusal(what: String) -> Problem {
    Problem::error(
        "dwlink::apply::backup_unproven",
        format!("{what}; nothing was deleted and the link was not reset"),
    )
    .help("a short, empty or mistyped reply (a permissions problem, a proxy, a service fault) would lose rows to the reset: check access to the table, then run the apply again; `dwlink status` shows what the services return now")
}

/// A destructive step reached without a backup written in this apply.
pub fn missing_backup(step: &str, rows: usize) -> Problem {
    Problem::error(
        "dwlink::apply::no_backup",
        format!(
            "{step} would remove {rows} rows, but no backup of them was written in this apply; nothing was deleted and the link was not reset"
        ),
    )
    .help("apply a plan made by `dwlink plan` (its backup step comes before every delete and the reset), or run `dwlink apply -f CONFIG`")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(planned: &[&str], read: &[&str]) -> Result<TableVerdict, Problem> {
        let mut c = TableCheck::new("T", planned.iter().map(|s| s.to_string()).collect());
        read.iter().for_each(|k| c.key(k));
        c.verdict()
    }

    #[test]
    fn every_planned_key_once_passes_and_rows_added_since_are_counted_apart() {
        assert_eq!(
            check(&["a", "b"], &["b", "a"]).unwrap(),
            TableVerdict {
                rows: 2,
                added_since: 0
            }
        );
        assert_eq!(check(&["a"], &["a", "new"]).unwrap().added_since, 1);
        assert_eq!(check(&[], &[]).unwrap().rows, 0);
    }

    #[test]
    fn short_empty_repeated_and_foreign_reads_are_refused_with_the_numbers() {
        let e = check(&["a", "b", "c", "d"], &["a", "b"]).unwrap_err();
        assert_eq!(e.code, "dwlink::apply::backup_unproven");
        assert!(
            e.message.contains("returned 2 rows, but 2 of the 4"),
            "{}",
            e.message
        );
        let e = check(&["a", "b"], &[]).unwrap_err();
        assert!(
            e.message
                .contains("returned no rows, but the plan counted 2"),
            "{}",
            e.message
        );
        let e = check(&["a", "b"], &["a", "a", "b"]).unwrap_err();
        assert!(e.message.contains("1 of them repeating"), "{}", e.message);
        let v = check(&["a"], &["a", "new"]).unwrap();
        assert!(recount("T", &v, Some(2)).is_ok() && recount("T", &v, None).is_ok());
        let e = recount("T", &v, Some(5)).unwrap_err();
        assert!(
            e.message.contains("but the service counts 5"),
            "{}",
            e.message
        );
        // A key of another type is another key: ('1') is not (1).
        let e = check(&["('1')"], &["(1)"]).unwrap_err();
        assert!(e.message.contains("e.g. ('1')"), "{}", e.message);
    }
}
