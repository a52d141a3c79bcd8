//! dwlink's engine, without a terminal and without a network.
//!
//! What flows through it: YAML → [`yaml`] (events → node tree with byte spans) → [`config`]
//! (schema check, typed raw config, semantic validation) → [`model::desired`]. Live state is read
//! through the one [`link::Link`] trait into [`model::live`]; [`plan`] diffs the two into ordered
//! actions and findings; [`apply`] guards, backs up, journals and executes a plan through the same
//! trait; [`restore`], [`import`] and [`snapshot`] are the other uses of a link.
//!
//! Nothing here prints: problems are [`diag::Problem`] values and progress is
//! [`apply::executor::StepEvent`] data; the CLI renders both.

pub mod apply;
pub mod config;
pub mod diag;
pub mod fixture;
pub mod fleet;
pub mod fsutil;
pub mod har;
pub mod import;
pub mod json_size;
pub mod link;
pub mod model;
pub mod panic_report;
pub mod plan;
pub mod restore;
pub mod scrub;
pub mod snapshot;
pub mod yaml;
