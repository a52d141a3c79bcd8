//! Desired and live models of a dual-write link.

pub mod desired;
pub mod live;
