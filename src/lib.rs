//! The `dwlink` command line: clap arguments resolved once into settings, one file per command
//! that turns them into a call to `dwlink-core` and hands the result to a view; all output goes
//! through one [`render::shell::Shell`] (the shell), which tests build over an in-memory writer.

pub mod cli;
pub(crate) mod record;
pub(crate) mod render;
