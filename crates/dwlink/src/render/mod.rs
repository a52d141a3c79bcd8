//! Human and JSON views, and the one [`Shell`] every command writes through.

pub mod apply_view;
pub mod plan_view;
pub mod restore_view;
pub mod shell;
pub mod status_view;

pub use shell::Shell;
