//! Human and JSON views, and the one [`shell::Shell`] every command writes through.

pub(crate) mod apply_view;
mod clip;
#[cfg(feature = "emulator")]
pub(crate) mod conformance_view;
pub(crate) mod doctor_view;
pub(crate) mod markdown_view;
pub(crate) mod plan_view;
pub(crate) mod restore_view;
pub(crate) mod shell;
pub(crate) mod status_view;
pub(crate) mod view;
