//! One key table: generated rows computed on demand from a small spec, plus explicit rows.
//!
//! A million generated rows must fit in far less than a GiB, so they are never stored: row `i`
//! is a pure function of the spec, and a bit per row records which ones were deleted or
//! replaced by an explicit (edited) copy.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::generate::{self, Field};
use super::odata::filter::Expr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum TableKind {
    ProjectConfig,
    FieldConfig,
    BusinessEvents,
    RuntimeConfig,
}

impl TableKind {
    pub(crate) const FO: [TableKind; 3] = [
        TableKind::ProjectConfig,
        TableKind::FieldConfig,
        TableKind::BusinessEvents,
    ];

    /// Whether F&O serves an OData set for the table. Only `DualWriteProjectConfigurations` is
    /// public (real-contract §4, from a client generated from a real `$metadata`); the field
    /// configurations and business events are kept here, seeded by fixtures and cleared by the
    /// reset, but answer 404 as on a real environment.
    pub(crate) fn served(self) -> bool {
        matches!(self, TableKind::ProjectConfig | TableKind::RuntimeConfig)
    }

    /// The set's name where [`TableKind::served`]; the internal name used in messages otherwise.
    pub(crate) fn entity_set(self) -> &'static str {
        match self {
            TableKind::ProjectConfig => "DualWriteProjectConfigurations",
            TableKind::FieldConfig => "DualWriteProjectFieldConfigurations",
            TableKind::BusinessEvents => "BusinessEventsDefinitions",
            TableKind::RuntimeConfig => "msdyn_dualwriteruntimeconfigs",
        }
    }

    pub(crate) fn key_columns(self) -> &'static [&'static str] {
        match self {
            TableKind::ProjectConfig => &["ProjectName"],
            TableKind::FieldConfig => &["ProjectName", "InternalFieldName"],
            TableKind::BusinessEvents => &["BusinessEventId"],
            TableKind::RuntimeConfig => &["msdyn_dualwriteruntimeconfigid"],
        }
    }

    /// Key values compare case-insensitively for GUID keys (Dataverse), exactly otherwise.
    pub(crate) fn guid_key(self) -> bool {
        self == TableKind::RuntimeConfig
    }
}

/// Everything needed to recompute generated row `i`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct GenSpec {
    pub count: u32,
    /// BusinessEventsDefinition: rows `0..dual_write` are dual-write's.
    #[serde(default)]
    pub dual_write: u32,
    /// Project rows' `ExternalEnvironmentUrl`; for runtime rows the organization the fixture
    /// says they were made for, kept but served in no column (no public column holds it).
    #[serde(default)]
    pub target: String,
    /// Company codes generated rows cycle through (`dataAreaId`).
    #[serde(default)]
    pub companies: Vec<String>,
    /// Makes generated GUIDs and secrets differ between environments.
    #[serde(default)]
    pub salt: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Row {
    pub etag: u64,
    pub fields: Map<String, Value>,
}

/// A bit set over generated row indices.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Bits(Vec<u64>);

impl Bits {
    pub(crate) fn get(&self, i: u32) -> bool {
        self.0
            .get(i as usize / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    pub(crate) fn set(&mut self, i: u32) {
        let w = i as usize / 64;
        if self.0.len() <= w {
            self.0.resize(w + 1, 0);
        }
        self.0[w] |= 1 << (i % 64);
    }
}

/// A row as a collection read sees it: stored, or generated row `i` of a table, whose columns
/// are produced one by one as they are written.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RowRef<'a> {
    Stored(&'a Row),
    Generated(&'a Table, u32),
}

impl RowRef<'_> {
    pub(crate) fn etag(&self) -> u64 {
        match self {
            RowRef::Stored(r) => r.etag,
            RowRef::Generated(..) => 1,
        }
    }

    /// Visits the columns `select` names (matched case-insensitively, in that order), or all
    /// of them, with their stored spelling.
    pub(crate) fn for_each<E>(
        &self,
        select: Option<&[String]>,
        mut f: impl FnMut(&str, Field) -> Result<(), E>,
    ) -> Result<(), E> {
        match (self, select) {
            (RowRef::Stored(r), None) => r
                .fields
                .iter()
                .try_for_each(|(k, v)| f(k, Field::Stored(v))),
            (RowRef::Stored(r), Some(cols)) => cols.iter().try_for_each(|c| {
                match r.fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(c)) {
                    Some((k, v)) => f(k, Field::Stored(v)),
                    None => Ok(()),
                }
            }),
            (RowRef::Generated(t, i), None) => generate::columns(t.kind)
                .iter()
                .try_for_each(|c| t.generated_field(*i, c).map_or(Ok(()), |v| f(c, v))),
            (RowRef::Generated(t, i), Some(cols)) => cols.iter().try_for_each(|c| {
                let known = generate::columns(t.kind)
                    .iter()
                    .find(|k| k.eq_ignore_ascii_case(c));
                match known.and_then(|k| Some((*k, t.generated_field(*i, k)?))) {
                    Some((k, v)) => f(k, v),
                    None => Ok(()),
                }
            }),
        }
    }

    /// Whether the row passes `filter`; a generated row builds only the columns it tests.
    pub(crate) fn matches(&self, filter: &Expr, properties: &[&str]) -> bool {
        match self {
            RowRef::Stored(r) => filter.eval(&r.fields),
            RowRef::Generated(t, i) => filter.eval(&generate::project(t.kind, &t.gen, *i, &|c| {
                properties.contains(&c)
            })),
        }
    }
}

/// Where a page stopped: generated rows come first in index order, then explicit rows by key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cursor {
    Gen(u32),
    Key(String),
}

/// A row with that key exists already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exists;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Table {
    pub kind: TableKind,
    pub gen: GenSpec,
    pub gone: Bits,
    pub rows: BTreeMap<String, Row>,
}

impl Table {
    pub(crate) fn new(kind: TableKind, gen: GenSpec) -> Self {
        Table {
            kind,
            gen,
            gone: Bits::default(),
            rows: BTreeMap::new(),
        }
    }

    /// The canonical key of a row, or the name of the missing key column.
    pub(crate) fn key_of(&self, fields: &Map<String, Value>) -> Result<String, String> {
        let mut parts = Vec::new();
        for col in self.kind.key_columns() {
            match fields.get(*col) {
                Some(Value::String(s)) => parts.push(s.clone()),
                Some(Value::Number(n)) => parts.push(n.to_string()),
                _ => return Err((*col).to_string()),
            }
        }
        Ok(self.canonical(&parts))
    }

    pub(crate) fn canonical(&self, parts: &[String]) -> String {
        let joined = parts.join("\u{1f}");
        if self.kind.guid_key() {
            joined.to_ascii_lowercase()
        } else {
            joined
        }
    }

    fn gen_index(&self, key: &str) -> Option<u32> {
        let i = generate::index_of(self.kind, &self.gen, key)?;
        (i < self.gen.count && !self.gone.get(i)).then_some(i)
    }

    /// The ETag of the row with that key, if there is one; a generated row is not built.
    pub(crate) fn etag_of(&self, key: &str) -> Option<u64> {
        match self.rows.get(key) {
            Some(r) => Some(r.etag),
            None => self.gen_index(key).map(|_| 1),
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<Cow<'_, Row>> {
        if let Some(r) = self.rows.get(key) {
            return Some(Cow::Borrowed(r));
        }
        let i = self.gen_index(key)?;
        Some(Cow::Owned(self.generated(i)))
    }

    fn generated(&self, i: u32) -> Row {
        Row {
            etag: 1,
            fields: generate::row(self.kind, &self.gen, i),
        }
    }

    fn generated_field(&self, i: u32, column: &str) -> Option<Field<'static>> {
        generate::field(self.kind, &self.gen, i, column)
    }

    /// Rows after `after`, in cursor order.
    pub(crate) fn iter_from<'a>(
        &'a self,
        after: Option<&Cursor>,
    ) -> Box<dyn Iterator<Item = (Cursor, RowRef<'a>)> + 'a> {
        use std::ops::Bound;
        let (gen_start, key_from): (u32, Bound<String>) = match after {
            None => (0, Bound::Unbounded),
            Some(Cursor::Gen(i)) => (i.saturating_add(1), Bound::Unbounded),
            Some(Cursor::Key(k)) => (self.gen.count, Bound::Excluded(k.clone())),
        };
        let gen = (gen_start..self.gen.count)
            .filter(move |&i| !self.gone.get(i))
            .map(move |i| (Cursor::Gen(i), RowRef::Generated(self, i)));
        let explicit = self
            .rows
            .range((key_from, Bound::Unbounded))
            .map(|(k, r)| (Cursor::Key(k.clone()), RowRef::Stored(r)));
        Box::new(gen.chain(explicit))
    }

    /// Create; `Err(Exists)` when the key is taken.
    pub(crate) fn insert(
        &mut self,
        key: String,
        fields: Map<String, Value>,
    ) -> Result<&Row, Exists> {
        if self.get(&key).is_some() {
            return Err(Exists);
        }
        Ok(self.rows.entry(key).or_insert(Row { etag: 1, fields }))
    }

    /// Merge `patch` into the row; the caller has checked that it exists and its ETag.
    pub(crate) fn update(&mut self, key: &str, patch: Map<String, Value>) -> Option<&Row> {
        if !self.rows.contains_key(key) {
            let i = self.gen_index(key)?;
            let row = self.generated(i);
            self.gone.set(i);
            self.rows.insert(key.to_string(), row);
        }
        let row = self.rows.get_mut(key)?;
        for (k, v) in patch {
            row.fields.insert(k, v);
        }
        row.etag += 1;
        Some(row)
    }

    pub(crate) fn remove(&mut self, key: &str) -> bool {
        if self.rows.remove(key).is_some() {
            return true;
        }
        match self.gen_index(key) {
            Some(i) => {
                self.gone.set(i);
                true
            }
            None => false,
        }
    }

    /// Delete every row; BusinessEventsDefinition keeps the rows that are not dual-write's.
    pub(crate) fn clear_dual_write(&mut self) {
        if self.kind == TableKind::BusinessEvents {
            for i in 0..self.gen.dual_write.min(self.gen.count) {
                self.gone.set(i);
            }
            self.rows
                .retain(|_, r| r.fields.get("IsDualWrite") != Some(&Value::Bool(true)));
        } else {
            self.gen.count = 0;
            self.gone = Bits::default();
            self.rows.clear();
        }
    }
}
