//! dwlink: plan and apply Dynamics 365 dual-write links like infrastructure.
//!
//! Data flow (see `shared/style.md`):
//! YAML → [`yaml`] (events → node tree with byte spans) → [`config`] (schema check, typed raw
//! config, semantic validation) → [`model::desired`] · provider reads → live model ·
//! diff → plan → render · apply.
//!
//! The library never prints: commands hand diagnostics and results to [`render::Ui`].

pub mod apply;
pub mod cli;
pub mod config;
pub mod diag;
pub mod emulator;
pub mod import;
pub mod model;
pub mod plan;
pub mod provider;
pub mod render;
pub mod snapshot;
pub mod yaml;
