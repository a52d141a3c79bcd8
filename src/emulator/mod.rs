//! The emulated services.
