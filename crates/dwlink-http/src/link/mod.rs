//! The production `Link`: the live read and the changes, built from the services.

pub(crate) mod read;
pub(crate) mod write;
