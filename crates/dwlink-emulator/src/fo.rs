//! F&O OData (`/data/`): the key-table entity sets F&O really serves, of one environment chosen
//! by Host. Only `DualWriteProjectConfigurations` has a public set (real-contract §4); the field
//! configurations and business events are kept in the world but answer 404, as there.

use serde_json::json;

use super::odata::error::{not_found, Reply};
use super::odata::{read_table, split_segment, write_table, Req};
use super::store::World;
use super::table::TableKind;

/// F&O pages up to 10,000 rows when asked; the default stays 5,000.
pub(crate) const MAX_PAGE: usize = 10_000;

/// The environment a request is for: by exact Host (see [`super::hosts`]).
pub(crate) fn pick(world: &World, host: &str) -> Result<usize, Reply> {
    super::hosts::pick(
        world.fo.iter().map(|e| e.host.as_str()),
        host,
        "finance and operations environment",
    )
}

fn table_index(set: &str) -> Option<usize> {
    TableKind::FO
        .iter()
        .position(|k| k.served() && k.entity_set() == set)
}

fn served_sets() -> impl Iterator<Item = &'static str> {
    TableKind::FO
        .into_iter()
        .filter(|k| k.served())
        .map(TableKind::entity_set)
}

fn unknown_set(set: &str) -> Reply {
    not_found(format!(
        "Resource not found for the segment '{set}'; this F&O emulator serves {}",
        served_sets().collect::<Vec<_>>().join(", ")
    ))
}

pub(crate) fn read(world: &World, host: &str, req: &Req) -> Reply {
    let env = match pick(world, host) {
        Ok(i) => &world.fo[i],
        Err(r) => return r,
    };
    let (set, key) = match split_segment(req.path) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if set.is_empty() {
        let sets: Vec<_> = served_sets()
            .map(|s| json!({"name": s, "kind": "EntitySet", "url": s}))
            .collect();
        return Reply::ok(
            json!({"@odata.context": format!("{}/$metadata", req.root), "value": sets}),
        );
    }
    if set == "$metadata" {
        return super::metadata::fo(req.root);
    }
    match table_index(set) {
        Some(t) => read_table(&env.tables[t], req, key, MAX_PAGE),
        None => unknown_set(set),
    }
}

pub(crate) fn write(world: &mut World, host: &str, req: &Req) -> (Reply, bool) {
    let env = match pick(world, host) {
        Ok(i) => &mut world.fo[i],
        Err(r) => return (r, false),
    };
    let (set, key) = match split_segment(req.path) {
        Ok(s) => s,
        Err(r) => return (r, false),
    };
    match table_index(set) {
        Some(t) => write_table(&mut env.tables[t], req, key),
        None => (unknown_set(set), false),
    }
}
