//! Each live map beside its declaration, for `status`: what the human view lists and what
//! `status --json` gives as `maps[]`. Maps the config does not declare are listed too, with
//! `declared: null`: dwlink leaves them alone.

use serde::Serialize;

use super::desired::{Desired, DesiredMap};
use super::live::{LiveState, MapState};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MapStatus {
    pub name: String,
    pub state: MapState,
    pub version: Option<String>,
    pub versions: Vec<String>,
    /// `null` when not read (only declared maps' keys are read).
    pub integration_keys: Option<Vec<String>>,
    /// The declaration of this map, `null` when the config does not declare it.
    pub declared: Option<DesiredMap>,
}

pub fn maps(live: &LiveState, desired: &Desired) -> Vec<MapStatus> {
    live.connection
        .iter()
        .flat_map(|c| c.maps.iter())
        .map(|m| MapStatus {
            name: m.name.clone(),
            state: m.state,
            version: m.version.clone(),
            versions: m.versions.clone(),
            integration_keys: m.integration_keys.clone(),
            declared: desired
                .maps
                .iter()
                .find(|d| d.name.eq_ignore_ascii_case(&m.name))
                .cloned(),
        })
        .collect()
}
